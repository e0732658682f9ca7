// The real proxy server on 127.0.0.1:0 in front of simulated nodes: the data path end to end.
#include "harness.hpp"

#include <gtest/gtest.h>
#include <boost/asio/connect.hpp>
#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/websocket.hpp>
#include <nlohmann/json.hpp>

namespace bcp::test {
namespace {

std::string pattern(std::size_t n) {
    std::string s(n, '\0');
    for (std::size_t i = 0; i < n; ++i) {
        s[i] = static_cast<char>('a' + i % 26);
    }
    return s;
}

struct two_nodes {
    node_set nodes{{"bbb-01", "bbb-02"}};
};

TEST(ProxyServe, IndexAndAssetsAreByteExact) {
    node_set nodes({"bbb-01", "bbb-02"});
    proxy_instance proxy(proxy_yaml(nodes));
    ASSERT_TRUE(proxy.ok());
    for (const char* id : {"bbb-01", "bbb-02"}) {
        auto index = http_get(proxy.port(), std::string("/") + id + "/html5client/");
        ASSERT_TRUE(index);
        EXPECT_EQ(index->result_int(), 200u);
        EXPECT_NE(index->body().find(id), std::string::npos);
        for (const auto& a : demo::client_assets()) {
            auto r = http_get(proxy.port(), std::string("/") + id + "/html5client/" + a.path);
            ASSERT_TRUE(r) << a.path;
            EXPECT_EQ(r->result_int(), 200u) << a.path;
            EXPECT_TRUE(r->body() == a.body) << a.path << " differs (" << r->body().size() << " vs "
                                             << a.body.size() << " bytes)";
            EXPECT_EQ((*r)[boost::beast::http::field::content_type], a.content_type);
            EXPECT_EQ((*r)[boost::beast::http::field::etag], a.etag);
        }
    }
    EXPECT_EQ(nodes[0].counters().requests.load(), 1 + demo::client_assets().size());
}

TEST(ProxyServe, OneKilobyteAndMultiMegabyteBodies) {
    node_set nodes({"bbb-01"});
    proxy_instance proxy(proxy_yaml(nodes));
    ASSERT_TRUE(proxy.ok());
    for (std::size_t n : {std::size_t{0}, std::size_t{1024}, std::size_t{3 * 1024 * 1024 + 7}}) {
        auto r = http_get(proxy.port(), "/bbb-01/html5client/_test/bytes?n=" + std::to_string(n));
        ASSERT_TRUE(r);
        EXPECT_EQ(r->result_int(), 200u);
        EXPECT_EQ(r->body().size(), n);
        EXPECT_TRUE(r->body() == pattern(n));
        EXPECT_EQ((*r)[boost::beast::http::field::content_length], std::to_string(n));
    }
}

TEST(ProxyServe, HeadGetsHeadersWithoutBody) {
    node_set nodes({"bbb-01"});
    proxy_instance proxy(proxy_yaml(nodes));
    ASSERT_TRUE(proxy.ok());
    client c(proxy.port());
    auto r = c.get("/bbb-01/html5client/_test/bytes?n=5000", {}, "HEAD");
    ASSERT_TRUE(r) << c.last_error();
    EXPECT_EQ(r->result_int(), 200u);
    EXPECT_EQ((*r)[boost::beast::http::field::content_length], "5000");
    EXPECT_TRUE(r->body().empty());
    // The connection is still usable: the HEAD response carried no body bytes.
    auto r2 = c.get("/bbb-01/html5client/_test/bytes?n=10");
    ASSERT_TRUE(r2) << c.last_error();
    EXPECT_EQ(r2->body(), pattern(10));
}

TEST(ProxyServe, ChunkedAndCloseDelimitedBodiesAreReframed) {
    node_set nodes({"bbb-01"});
    proxy_instance proxy(proxy_yaml(nodes));
    ASSERT_TRUE(proxy.ok());
    client c(proxy.port());
    for (const char* ep : {"chunked", "eof", "chunked"}) {
        auto r = c.get(std::string("/bbb-01/html5client/_test/") + ep + "?n=100000");
        ASSERT_TRUE(r) << ep << ": " << c.last_error();
        EXPECT_EQ(r->result_int(), 200u);
        EXPECT_TRUE(r->body() == pattern(100000)) << ep;
        EXPECT_TRUE(r->chunked()) << ep << ": unknown length goes chunked to HTTP/1.1 clients";
    }
    // HTTP/1.0 clients cannot take chunked: the body is delimited by closing the connection.
    client old(proxy.port());
    old.send("GET /bbb-01/html5client/_test/chunked?n=5000 HTTP/1.0\r\n\r\n");
    const std::string raw = old.read_all(5s);
    EXPECT_EQ(raw.rfind("HTTP/1.1 200", 0), 0u) << raw.substr(0, 200);
    EXPECT_NE(raw.find("Connection: close\r\n"), std::string::npos);
    EXPECT_EQ(raw.find("Transfer-Encoding"), std::string::npos);
    EXPECT_EQ(raw.substr(raw.find("\r\n\r\n") + 4), pattern(5000));
}

TEST(ProxyServe, UnknownNodeOrMountIs404AndNothingIsForwarded) {
    node_set nodes({"bbb-01"});
    proxy_instance proxy(proxy_yaml(nodes));
    ASSERT_TRUE(proxy.ok());
    client c(proxy.port());
    for (const char* t : {"/bbb-02/html5client/", "/BBB-01/html5client/", "/bbb-01/HTML5CLIENT/",
                          "/bbb-01/bigbluebutton/api", "/bbb-01", "/", "/favicon.ico",
                          "/html5client/locale?locale=en", "/bbb-01/html5client.evil/"}) {
        auto r = c.get(t);
        ASSERT_TRUE(r) << t << ": " << c.last_error();
        EXPECT_EQ(r->result_int(), 404u) << t;
        EXPECT_TRUE(r->keep_alive()) << "a routing miss keeps the connection: " << t;
    }
    EXPECT_EQ(nodes.total_requests(), 0u);
}

TEST(ProxyServe, PostIs405WithAllow) {
    node_set nodes({"bbb-01"});
    proxy_instance proxy(proxy_yaml(nodes));
    ASSERT_TRUE(proxy.ok());
    client c(proxy.port());
    c.send("POST /bbb-01/html5client/ HTTP/1.1\r\nHost: p\r\nContent-Length: 0\r\n\r\n");
    auto r = c.read();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->result_int(), 405u);
    EXPECT_EQ((*r)[boost::beast::http::field::allow], "GET, HEAD");
    EXPECT_TRUE(c.closed_within(2s));
    EXPECT_EQ(nodes.total_requests(), 0u);
}

TEST(ProxyServe, RequestHeadersAreRewritten) {
    node_set nodes({"bbb-01"});
    proxy_instance proxy(proxy_yaml(nodes));
    ASSERT_TRUE(proxy.ok());
    client c(proxy.port());
    auto r = c.get(
        "/bbb-01/html5client/_test/echo-headers?q=1",
        "Accept-Language: de\r\nX-Forwarded-For: 6.6.6.6\r\nConnection: keep-alive, X-Drop\r\n"
        "X-Drop: 1\r\nKeep-Alive: 300\r\nTE: trailers\r\nCookie: a=b\r\n");
    ASSERT_TRUE(r) << c.last_error();
    ASSERT_EQ(r->result_int(), 200u);
    const auto j = nlohmann::json::parse(r->body());
    EXPECT_EQ(j["method"], "GET");
    EXPECT_EQ(j["target"], "/bbb-01/html5client/_test/echo-headers?q=1");
    std::map<std::string, std::vector<std::string>> h;
    for (const auto& pair : j["headers"]) {
        h[pair[0].get<std::string>()].push_back(pair[1].get<std::string>());
    }
    EXPECT_EQ(h["Host"], std::vector<std::string>{nodes[0].origin().substr(7)});
    EXPECT_EQ(h["X-Forwarded-For"], std::vector<std::string>{"127.0.0.1"});
    EXPECT_EQ(h["X-Forwarded-Proto"], std::vector<std::string>{"http"});
    EXPECT_EQ(h["X-Forwarded-Host"], std::vector<std::string>{"localhost"});
    EXPECT_EQ(h["Accept-Language"], std::vector<std::string>{"de"});
    EXPECT_EQ(h["Cookie"], std::vector<std::string>{"a=b"});
    for (const char* gone : {"X-Drop", "Keep-Alive", "TE", "Connection"}) {
        EXPECT_EQ(h.count(gone), 0u) << gone;
    }
}

TEST(ProxyServe, ResponseHopByHopHeadersAreStripped) {
    node_set nodes({"bbb-01"});
    proxy_instance proxy(proxy_yaml(nodes));
    ASSERT_TRUE(proxy.ok());
    auto r = http_get(proxy.port(), "/bbb-01/html5client/_test/hop");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->count("X-Hop"), 0u);
    EXPECT_EQ(r->count("Keep-Alive"), 0u);
    EXPECT_EQ(r->count("Proxy-Connection"), 0u);
    EXPECT_EQ((*r)["X-End"], "kept");
}

TEST(ProxyServe, LocationIsRewrittenUnderTheMountOnly) {
    node_set nodes({"bbb-01"});
    proxy_instance proxy(proxy_yaml(nodes));
    ASSERT_TRUE(proxy.ok());
    auto r = http_get(proxy.port(), "/bbb-01/html5client/_test/redirect");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->result_int(), 302u);
    EXPECT_EQ((*r)[boost::beast::http::field::location],
              "https://proxy.example.com/bbb-01/html5client/target?x=1");
    r = http_get(proxy.port(), "/bbb-01/html5client/_test/redirect-out");
    ASSERT_TRUE(r);
    EXPECT_EQ((*r)[boost::beast::http::field::location], nodes[0].origin() + "/bigbluebutton/api");
}

TEST(ProxyServe, KeepAliveReusesUpstreamConnections) {
    node_set nodes({"bbb-01"});
    proxy_instance proxy(proxy_yaml(nodes, "workers: 1\n"));
    ASSERT_TRUE(proxy.ok());
    for (int conn = 0; conn < 10; ++conn) {
        client c(proxy.port());
        for (int i = 0; i < 20; ++i) {
            auto r = c.get("/bbb-01/html5client/_test/bytes?n=100");
            ASSERT_TRUE(r) << c.last_error();
            ASSERT_EQ(r->result_int(), 200u);
            ASSERT_TRUE(r->keep_alive());
        }
    }
    EXPECT_EQ(nodes[0].counters().requests.load(), 200u);
    EXPECT_EQ(nodes[0].counters().connections.load(), 1u)
        << "sequential requests share one connection";
    EXPECT_EQ(proxy.server().counters().upstream_reuses, 199u);
}

TEST(ProxyServe, ConnectionCloseFromNodeIsNotPooled) {
    node_set nodes({"bbb-01"});
    proxy_instance proxy(proxy_yaml(nodes, "workers: 1\n"));
    ASSERT_TRUE(proxy.ok());
    client c(proxy.port());
    for (int i = 0; i < 3; ++i) {
        auto r = c.get("/bbb-01/html5client/_test/close");
        ASSERT_TRUE(r) << c.last_error();
        EXPECT_EQ(r->result_int(), 200u);
        EXPECT_TRUE(r->keep_alive()) << "the node closing does not close the client connection";
    }
    EXPECT_EQ(nodes[0].counters().connections.load(), 3u);
}

TEST(ProxyServe, PipelinedRequestsAreAnsweredInOrder) {
    node_set nodes({"bbb-01"});
    proxy_instance proxy(proxy_yaml(nodes));
    ASSERT_TRUE(proxy.ok());
    client c(proxy.port());
    c.send(
        "GET /bbb-01/html5client/_test/bytes?n=3 HTTP/1.1\r\nHost: p\r\n\r\n"
        "GET /bbb-01/html5client/_test/bytes?n=5 HTTP/1.1\r\nHost: p\r\n\r\n");
    auto a = c.read();
    auto b = c.read();
    ASSERT_TRUE(a && b) << c.last_error();
    EXPECT_EQ(a->body(), "abc");
    EXPECT_EQ(b->body(), "abcde");
}

TEST(ProxyServe, WebSocketEchoThroughTheTunnel) {
    node_set nodes({"bbb-01"});
    proxy_instance proxy(proxy_yaml(nodes));
    ASSERT_TRUE(proxy.ok());
    namespace ws = boost::beast::websocket;
    boost::asio::io_context ioc;
    ws::stream<boost::asio::ip::tcp::socket> s(ioc);
    s.next_layer().connect({boost::asio::ip::make_address("127.0.0.1"), proxy.port()});
    ws::response_type res;
    s.handshake(res, "localhost", "/bbb-01/html5client/ws");
    EXPECT_EQ(res.result_int(), 101u);
    for (const std::string& msg :
         std::vector<std::string>{"hello", std::string(200000, 'x'), "bye"}) {
        s.write(boost::asio::buffer(msg));
        boost::beast::flat_buffer buf;
        s.read(buf);
        EXPECT_EQ(boost::beast::buffers_to_string(buf.data()), msg);
    }
    EXPECT_EQ(nodes[0].counters().websockets.load(), 1u);
    EXPECT_TRUE(eventually([&] { return proxy.server().counters().tunnels_active == 1; }));
    s.close(ws::close_code::normal);
    EXPECT_TRUE(eventually([&] { return proxy.server().counters().tunnels_active == 0; }));
    EXPECT_EQ(proxy.server().counters().tunnels_opened, 1u);
}

TEST(ProxyServe, RefusedUpgradeIsRelayedNotTunnelled) {
    node_set nodes({"bbb-01"});
    proxy_instance proxy(proxy_yaml(nodes));
    ASSERT_TRUE(proxy.ok());
    const std::string upgrade =
        "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n";
    client c(proxy.port());
    auto r = c.get("/bbb-01/html5client/_test/no-ws", upgrade);
    ASSERT_TRUE(r) << c.last_error();
    EXPECT_EQ(r->result_int(), 403u);
    EXPECT_TRUE(c.closed_within(2s));

    // A 101 with the wrong Sec-WebSocket-Accept is not a valid upgrade: 502, no tunnel.
    client d(proxy.port());
    auto r2 = d.get("/bbb-01/html5client/_test/bad-accept", upgrade);
    ASSERT_TRUE(r2) << d.last_error();
    EXPECT_EQ(r2->result_int(), 502u);
    EXPECT_TRUE(d.closed_within(2s));
    EXPECT_EQ(proxy.server().counters().tunnels_opened, 0u);
}

TEST(ProxyFailure, NodeDownIs502Quickly) {
    node_set nodes({"bbb-01"});
    const std::string extra =
        "  - id: bbb-down\n    url: \"http://127.0.0.1:" + std::to_string(closed_port()) + "\"\n";
    proxy_instance proxy(proxy_yaml(nodes, extra));
    ASSERT_TRUE(proxy.ok());
    const auto start = std::chrono::steady_clock::now();
    auto r = http_get(proxy.port(), "/bbb-down/html5client/");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->result_int(), 502u);
    EXPECT_LT(std::chrono::steady_clock::now() - start, 1s);
    EXPECT_NE(r->body().find("bbb-down"), std::string::npos);
    // The other node is unaffected.
    auto ok = http_get(proxy.port(), "/bbb-01/html5client/");
    ASSERT_TRUE(ok);
    EXPECT_EQ(ok->result_int(), 200u);
}

TEST(ProxyFailure, StallingNodeIs504AtTheDeadline) {
    node_set nodes({"bbb-01"});
    proxy_instance proxy(proxy_yaml(nodes, "timeouts:\n  upstream_response: 400ms\n"));
    ASSERT_TRUE(proxy.ok());
    const auto start = std::chrono::steady_clock::now();
    auto r = http_get(proxy.port(), "/bbb-01/html5client/_test/stall");
    const auto took = std::chrono::steady_clock::now() - start;
    ASSERT_TRUE(r);
    EXPECT_EQ(r->result_int(), 504u);
    EXPECT_GE(took, 390ms);
    EXPECT_LT(took, 3s);
    EXPECT_EQ(proxy.server().counters().upstream_timeouts, 1u);
}

TEST(ProxyFailure, NodeStallingMidBodyClosesTheClient) {
    node_set nodes({"bbb-01"});
    proxy_instance proxy(proxy_yaml(nodes, "timeouts:\n  upstream_read: 300ms\n"));
    ASSERT_TRUE(proxy.ok());
    client c(proxy.port());
    c.send("GET /bbb-01/html5client/_test/stall-body?n=10000 HTTP/1.1\r\nHost: p\r\n\r\n");
    std::string got;
    EXPECT_TRUE(c.closed_within(3s, &got));
    EXPECT_NE(got.find("Content-Length: 10000"), std::string::npos);
    EXPECT_LT(got.size() - got.find("\r\n\r\n") - 4, 10000u) << "never pretend the body completed";
}

TEST(ProxyFailure, NodeResetAndGarbageAre502) {
    node_set nodes({"bbb-01"});
    proxy_instance proxy(proxy_yaml(nodes));
    ASSERT_TRUE(proxy.ok());
    for (const char* ep : {"reset", "garbage", "big-header"}) {
        auto r = http_get(proxy.port(), std::string("/bbb-01/html5client/_test/") + ep);
        ASSERT_TRUE(r) << ep;
        EXPECT_EQ(r->result_int(), 502u) << ep;
    }
    auto ok = http_get(proxy.port(), "/bbb-01/html5client/");
    ASSERT_TRUE(ok);
    EXPECT_EQ(ok->result_int(), 200u);
}

TEST(ProxyLimits, SlowlorisHeadIsClosedAtTheDeadline) {
    node_set nodes({"bbb-01"});
    proxy_instance proxy(proxy_yaml(nodes, "timeouts:\n  client_head: 300ms\n"));
    ASSERT_TRUE(proxy.ok());
    client c(proxy.port());
    const auto start = std::chrono::steady_clock::now();
    c.send("GET /bbb-01/html5client/ HTTP/1.1\r\nHost: p\r\n");
    std::string got;
    EXPECT_TRUE(c.closed_within(3s, &got));
    const auto took = std::chrono::steady_clock::now() - start;
    EXPECT_GE(took, 290ms);
    EXPECT_LT(took, 2s);
    EXPECT_TRUE(got.empty()) << got;
    EXPECT_EQ(nodes.total_requests(), 0u);
}

TEST(ProxyLimits, TricklingBytesDoNotExtendTheHeadDeadline) {
    node_set nodes({"bbb-01"});
    proxy_instance proxy(proxy_yaml(nodes, "timeouts:\n  client_head: 300ms\n"));
    ASSERT_TRUE(proxy.ok());
    client c(proxy.port());
    const auto start = std::chrono::steady_clock::now();
    bool closed = false;
    for (int i = 0; i < 20 && !closed; ++i) {
        c.send("X");
        closed = c.closed_within(50ms);
    }
    EXPECT_TRUE(closed || c.closed_within(1s));
    EXPECT_LT(std::chrono::steady_clock::now() - start, 1500ms);
}

TEST(ProxyLimits, IdleKeepAliveConnectionIsClosed) {
    node_set nodes({"bbb-01"});
    proxy_instance proxy(proxy_yaml(nodes, "timeouts:\n  client_idle: 300ms\n"));
    ASSERT_TRUE(proxy.ok());
    client c(proxy.port());
    auto r = c.get("/bbb-01/html5client/_test/bytes?n=1");
    ASSERT_TRUE(r);
    EXPECT_TRUE(c.closed_within(3s));
}

// Between requests a plain keep-alive connection waits for readability holding no buffer
// (docs/benchmarks.md, "Round 4"): what arrives while it waits, in one piece or several, and
// pipelined requests are all read and answered in order.
TEST(ProxyServe, IdleKeepAliveConnectionAnswersWhatArrivesLater) {
    node_set nodes({"bbb-01"});
    proxy_instance proxy(proxy_yaml(nodes));
    ASSERT_TRUE(proxy.ok());
    client c(proxy.port());
    ASSERT_TRUE(c.get("/bbb-01/html5client/_test/bytes?n=10"));
    std::this_thread::sleep_for(100ms);  // the connection is idle now
    c.send(
        "GET /bbb-01/html5client/_test/bytes?n=3 HTTP/1.1\r\nHost: p\r\n\r\n"
        "GET /bbb-01/html5client/_test/bytes?n=5 HTTP/1.1\r\nHost: p\r\n\r\n");
    auto a = c.read();
    ASSERT_TRUE(a) << c.last_error();
    EXPECT_EQ(a->body(), pattern(3));
    auto b = c.read();
    ASSERT_TRUE(b) << c.last_error();
    EXPECT_EQ(b->body(), pattern(5));

    std::this_thread::sleep_for(100ms);
    c.send("G");  // one byte wakes the idle connection; the rest follows later
    std::this_thread::sleep_for(50ms);
    c.send("ET /bbb-01/html5client/_test/bytes?n=7 HTTP/1.1\r\n");
    std::this_thread::sleep_for(50ms);
    c.send("Host: p\r\n\r\n");
    auto d = c.read();
    ASSERT_TRUE(d) << c.last_error();
    EXPECT_EQ(d->body(), pattern(7));

    std::this_thread::sleep_for(100ms);
    // Longer than the first read after the idle wait (512 bytes).
    c.send("GET /bbb-01/html5client/_test/bytes?n=9 HTTP/1.1\r\nHost: p\r\nX-Filler: " +
           std::string(3000, 'x') + "\r\n\r\n");
    auto e = c.read();
    ASSERT_TRUE(e) << c.last_error();
    EXPECT_EQ(e->body(), pattern(9));
    EXPECT_EQ(nodes[0].counters().requests.load(), 5u);
}

TEST(ProxyServe, IdleConnectionClosedByTheClientEndsItsSession) {
    node_set nodes({"bbb-01"});
    proxy_instance proxy(proxy_yaml(nodes));
    ASSERT_TRUE(proxy.ok());
    {
        client c(proxy.port());
        ASSERT_TRUE(c.get("/bbb-01/html5client/_test/bytes?n=1"));
        std::this_thread::sleep_for(100ms);
        EXPECT_EQ(proxy.server().counters().connections_active, 1u);
    }
    EXPECT_TRUE(eventually([&] { return proxy.server().counters().connections_active == 0; }));
}

TEST(ProxyLimits, ConnectionCapRefusesWith503) {
    node_set nodes({"bbb-01"});
    proxy_instance proxy(proxy_yaml(nodes, "limits:\n  max_connections: 2\n"));
    ASSERT_TRUE(proxy.ok());
    client a(proxy.port());
    client b(proxy.port());
    ASSERT_TRUE(a.get("/bbb-01/html5client/_test/bytes?n=1"));
    ASSERT_TRUE(b.get("/bbb-01/html5client/_test/bytes?n=1"));
    client c(proxy.port());
    auto r = c.read(false, 3s);
    ASSERT_TRUE(r) << c.last_error();
    EXPECT_EQ(r->result_int(), 503u);
    EXPECT_EQ(proxy.server().counters().connections_refused, 1u);
}

TEST(ProxyLifecycle, StopWaitsForInflightResponses) {
    node_set nodes({"bbb-01"});
    auto proxy = std::make_unique<proxy_instance>(proxy_yaml(nodes, "timeouts:\n  shutdown: 5s\n"));
    ASSERT_TRUE(proxy->ok());
    client idle(proxy->port());
    ASSERT_TRUE(idle.get("/bbb-01/html5client/_test/bytes?n=1"));
    client busy(proxy->port());
    busy.send("GET /bbb-01/html5client/_test/slow?n=1000&ms=50 HTTP/1.1\r\nHost: p\r\n\r\n");
    ASSERT_TRUE(eventually([&] { return nodes[0].counters().requests.load() == 2; }));
    std::thread stopper([&] { proxy.reset(); });
    auto r = busy.read(false, 5s);
    ASSERT_TRUE(r) << busy.last_error();
    EXPECT_EQ(r->body(), pattern(1000)) << "an in-flight response finishes during drain";
    EXPECT_TRUE(busy.closed_within(2s)) << "and then its connection closes";
    EXPECT_TRUE(idle.closed_within(2s)) << "idle connections are closed at once";
    stopper.join();
}

}  // namespace
}  // namespace bcp::test
