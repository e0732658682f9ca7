// TLS on both sides with a CA made by the test: client → proxy (TLS listener) → node (https).
#include "harness.hpp"
#include "support/test_ca.hpp"

#include <gtest/gtest.h>
#include <openssl/ssl.h>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>

#include <span>

namespace bcp::test {
namespace {

struct tls_setup {
    temp_dir dir{"bcp-tls"};
    test_ca ca = test_ca::create();
    test_ca::leaf node_leaf = ca.issue({"localhost"}, {"127.0.0.1"});
    test_ca::leaf proxy_leaf = ca.issue({"localhost", "proxy.example.com"}, {"127.0.0.1"});
    pem_files node_files = write_pem_files(dir.path() / "node", ca, node_leaf);
    pem_files proxy_files = write_pem_files(dir.path() / "proxy", ca, proxy_leaf);
    boost::asio::ssl::context node_ctx = make_server_context(node_leaf);
    boost::asio::ssl::context client_ctx = make_client_context(ca);
};

std::string tls_yaml(tls_setup& t, node_set& nodes, const std::string& upstream) {
    return proxy_yaml(nodes, upstream, true, t.proxy_files.cert.string(),
                      t.proxy_files.key.string());
}

TEST(ProxyTls, BothSidesWithVerification) {
    tls_setup t;
    node_set nodes({"bbb-01"}, &t.node_ctx);
    ASSERT_EQ(nodes[0].origin().rfind("https://127.0.0.1:", 0), 0u);
    proxy_instance proxy(
        tls_yaml(t, nodes, "upstream:\n  ca_file: \"" + t.proxy_files.ca_cert.string() + "\"\n"));
    ASSERT_TRUE(proxy.ok());
    client c(proxy.port(), &t.client_ctx, "localhost");
    ASSERT_TRUE(c.connected()) << c.last_error();
    for (int i = 0; i < 3; ++i) {
        auto r = c.get("/bbb-01/html5client/_test/echo-headers");
        ASSERT_TRUE(r) << c.last_error();
        EXPECT_EQ(r->result_int(), 200u);
        EXPECT_NE(r->body().find("[\"X-Forwarded-Proto\",\"https\"]"), std::string::npos);
    }
    auto big = c.get("/bbb-01/html5client/_test/bytes?n=2600000");
    ASSERT_TRUE(big) << c.last_error();
    EXPECT_EQ(big->body().size(), 2600000u);
    EXPECT_EQ(nodes[0].counters().connections.load(), 1u) << "TLS upstream connection reused";
}

TEST(ProxyTls, NodeWithUntrustedCertificateIs502) {
    tls_setup t;
    node_set nodes({"bbb-01"}, &t.node_ctx);
    // No ca_file: the system store does not know the test CA, so verification must fail.
    proxy_instance proxy(tls_yaml(t, nodes, ""));
    ASSERT_TRUE(proxy.ok());
    client c(proxy.port(), &t.client_ctx, "localhost");
    ASSERT_TRUE(c.connected()) << c.last_error();
    auto r = c.get("/bbb-01/html5client/");
    ASSERT_TRUE(r) << c.last_error();
    EXPECT_EQ(r->result_int(), 502u);
    EXPECT_EQ(nodes[0].counters().requests.load(), 0u);
}

TEST(ProxyTls, NodeWithWrongHostNameIs502) {
    tls_setup t;
    // A certificate valid for another name only: the chain is trusted, the name is not.
    auto wrong = t.ca.issue({"other.example.com"});
    auto wrong_ctx = make_server_context(wrong);
    node_set nodes({"bbb-01"}, &wrong_ctx);
    proxy_instance proxy(
        tls_yaml(t, nodes, "upstream:\n  ca_file: \"" + t.proxy_files.ca_cert.string() + "\"\n"));
    ASSERT_TRUE(proxy.ok());
    client c(proxy.port(), &t.client_ctx, "localhost");
    auto r = c.get("/bbb-01/html5client/");
    ASSERT_TRUE(r) << c.last_error();
    EXPECT_EQ(r->result_int(), 502u);
}

TEST(ProxyTls, WebSocketOverTlsBothSides) {
    tls_setup t;
    node_set nodes({"bbb-01"}, &t.node_ctx);
    proxy_instance proxy(
        tls_yaml(t, nodes, "upstream:\n  ca_file: \"" + t.proxy_files.ca_cert.string() + "\"\n"));
    ASSERT_TRUE(proxy.ok());
    namespace ws = boost::beast::websocket;
    boost::asio::io_context ioc;
    ws::stream<boost::asio::ssl::stream<boost::asio::ip::tcp::socket>> s(ioc, t.client_ctx);
    boost::beast::get_lowest_layer(s).connect(
        {boost::asio::ip::make_address("127.0.0.1"), proxy.port()});
    SSL_set_tlsext_host_name(s.next_layer().native_handle(), "localhost");
    s.next_layer().set_verify_callback(boost::asio::ssl::host_name_verification("localhost"));
    s.next_layer().handshake(boost::asio::ssl::stream_base::client);
    s.handshake("localhost", "/bbb-01/html5client/ws");
    s.write(boost::asio::buffer(std::string("over tls")));
    boost::beast::flat_buffer buf;
    s.read(buf);
    EXPECT_EQ(boost::beast::buffers_to_string(buf.data()), "over tls");
    s.close(ws::close_code::normal);
}

// ALPN: h2 first when the client offers it (issue 16), http/1.1 for a client that offers only
// that, and http/1.1 to everyone with `http2: {enabled: false}`.
std::string alpn_chosen(std::uint16_t port, std::span<const unsigned char> offer) {
    boost::asio::ssl::context alpn(boost::asio::ssl::context::tls_client);
    alpn.set_verify_mode(boost::asio::ssl::verify_none);
    SSL_CTX_set_alpn_protos(alpn.native_handle(), offer.data(),
                            static_cast<unsigned>(offer.size()));
    boost::asio::io_context ioc;
    boost::asio::ssl::stream<boost::asio::ip::tcp::socket> s(ioc, alpn);
    s.next_layer().connect({boost::asio::ip::make_address("127.0.0.1"), port});
    s.handshake(boost::asio::ssl::stream_base::client);
    const unsigned char* chosen = nullptr;
    unsigned int len = 0;
    SSL_get0_alpn_selected(s.native_handle(), &chosen, &len);
    EXPECT_GE(SSL_version(s.native_handle()), TLS1_2_VERSION);
    return std::string(reinterpret_cast<const char*>(chosen), len);
}

TEST(ProxyTls, ListenerRefusesOldProtocolsAndOffersH2ThenHttp11) {
    tls_setup t;
    node_set nodes({"bbb-01"}, &t.node_ctx);
    proxy_instance proxy(tls_yaml(t, nodes, ""));
    ASSERT_TRUE(proxy.ok());
    {
        boost::asio::ssl::context old(boost::asio::ssl::context::tls_client);
        SSL_CTX_set_min_proto_version(old.native_handle(), TLS1_VERSION);
        SSL_CTX_set_max_proto_version(old.native_handle(), TLS1_1_VERSION);
        SSL_CTX_set_security_level(old.native_handle(), 0);
        old.set_verify_mode(boost::asio::ssl::verify_none);
        client c(proxy.port(), &old, "localhost");
        EXPECT_FALSE(c.connected()) << "TLS 1.1 must be refused";
    }
    static const unsigned char both[] = {8, 'h', 't', 't', 'p', '/', '1', '.', '1', 2, 'h', '2'};
    static const unsigned char http11[] = {8, 'h', 't', 't', 'p', '/', '1', '.', '1'};
    EXPECT_EQ(alpn_chosen(proxy.port(), both), "h2");  // ours is the order that counts
    EXPECT_EQ(alpn_chosen(proxy.port(), http11), "http/1.1");

    proxy_instance off(tls_yaml(t, nodes, "http2: {enabled: false}\n"));
    ASSERT_TRUE(off.ok());
    EXPECT_EQ(alpn_chosen(off.port(), both), "http/1.1");
}

}  // namespace
}  // namespace bcp::test
