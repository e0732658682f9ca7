// The downstream listener's protocol and cipher policy (net/tls.cpp, docs/security.md "TLS"):
// TLS 1.0/1.1 and weak TLS 1.2 suites (CBC, SHA-1 MACs, NULL, no forward secrecy) are refused;
// TLS 1.2 ECDHE+AEAD and TLS 1.3 are accepted. Plain OpenSSL client contexts, one handshake each.
#include "harness.hpp"
#include "support/test_ca.hpp"

#include <gtest/gtest.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

namespace bcp::test {
namespace {

struct handshake {
    bool ok = false;
    std::string version;
    std::string cipher;
};

// One blocking handshake (2 s socket timeouts) with the given protocol range and suites.
handshake try_handshake(std::uint16_t port, int min_version, int max_version,
                        const char* tls12_ciphers, const char* tls13_suites) {
    handshake h;
    SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
    SSL_CTX_set_security_level(ctx, 0);  // let the client offer what a weak client would
    SSL_CTX_set_min_proto_version(ctx, min_version);
    SSL_CTX_set_max_proto_version(ctx, max_version);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, nullptr);
    if (tls12_ciphers != nullptr && SSL_CTX_set_cipher_list(ctx, tls12_ciphers) != 1) {
        ADD_FAILURE() << "client cannot use " << tls12_ciphers;
    }
    if (tls13_suites != nullptr && SSL_CTX_set_ciphersuites(ctx, tls13_suites) != 1) {
        ADD_FAILURE() << "client cannot use " << tls13_suites;
    }
    client c(port);  // TCP only; the handshake is done by hand below
    const int fd = c.socket().native_handle();
    timeval tv{2, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    SSL* ssl = SSL_new(ctx);
    SSL_set_fd(ssl, fd);
    SSL_set_tlsext_host_name(ssl, "localhost");
    if (SSL_connect(ssl) == 1) {
        h.ok = true;
        h.version = SSL_get_version(ssl);
        h.cipher = SSL_get_cipher_name(ssl);
        const std::string req =
            "GET /bbb-01/html5client/ HTTP/1.1\r\nHost: localhost\r\n"
            "Connection: close\r\n\r\n";
        SSL_write(ssl, req.data(), static_cast<int>(req.size()));
        char buf[64] = {};
        const int n = SSL_read(ssl, buf, sizeof buf - 1);
        if (n <= 0 || std::string(buf).rfind("HTTP/1.1 200", 0) != 0) {
            ADD_FAILURE() << "no response over " << h.version << " " << h.cipher;
        }
    }
    ERR_clear_error();
    SSL_free(ssl);
    SSL_CTX_free(ctx);
    return h;
}

class TlsPolicy : public ::testing::Test {
  protected:
    temp_dir dir{"bcp-tls-policy"};
    test_ca ca = test_ca::create();
    test_ca::leaf leaf = ca.issue({"localhost"}, {"127.0.0.1"});
    pem_files files = write_pem_files(dir.path() / "proxy", ca, leaf);
    node_set nodes{{"bbb-01"}};
    proxy_instance proxy{proxy_yaml(nodes, {}, true, files.cert.string(), files.key.string())};
};

TEST_F(TlsPolicy, OldProtocolVersionsAreRefused) {
    ASSERT_TRUE(proxy.ok());
    EXPECT_FALSE(
        try_handshake(proxy.port(), TLS1_VERSION, TLS1_VERSION, "ALL:@SECLEVEL=0", nullptr).ok)
        << "TLS 1.0";
    EXPECT_FALSE(
        try_handshake(proxy.port(), TLS1_1_VERSION, TLS1_1_VERSION, "ALL:@SECLEVEL=0", nullptr).ok)
        << "TLS 1.1";
    EXPECT_EQ(nodes.total_requests(), 0u);
}

TEST_F(TlsPolicy, WeakTls12SuitesAreRefused) {
    ASSERT_TRUE(proxy.ok());
    for (const char* suite :
         {"ECDHE-ECDSA-AES128-SHA", "ECDHE-ECDSA-AES256-SHA", "ECDHE-ECDSA-AES128-SHA256",
          "ECDHE-ECDSA-AES256-SHA384", "ECDHE-ECDSA-NULL-SHA", "ECDHE-ECDSA-CAMELLIA128-SHA256",
          "AES128-GCM-SHA256", "AES256-SHA", "DES-CBC3-SHA", "AECDH-AES128-SHA",
          "ECDHE-ECDSA-ARIA128-GCM-SHA256"}) {
        const std::string list = std::string(suite) + ":@SECLEVEL=0";
        SSL_CTX* probe = SSL_CTX_new(TLS_client_method());
        const bool known = SSL_CTX_set_cipher_list(probe, list.c_str()) == 1;
        SSL_CTX_free(probe);
        ERR_clear_error();
        if (!known) {
            continue;  // not even built into this OpenSSL: cannot be negotiated either
        }
        auto h = try_handshake(proxy.port(), TLS1_2_VERSION, TLS1_2_VERSION, list.c_str(), nullptr);
        EXPECT_FALSE(h.ok) << suite << " was accepted (" << h.cipher << ")";
    }
}

TEST_F(TlsPolicy, Tls12EcdheAeadSuitesAreAccepted) {
    ASSERT_TRUE(proxy.ok());
    for (const char* suite : {"ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-ECDSA-AES256-GCM-SHA384",
                              "ECDHE-ECDSA-CHACHA20-POLY1305"}) {
        auto h = try_handshake(proxy.port(), TLS1_2_VERSION, TLS1_2_VERSION, suite, nullptr);
        EXPECT_TRUE(h.ok) << suite;
        EXPECT_EQ(h.version, "TLSv1.2") << suite;
        EXPECT_EQ(h.cipher, suite);
    }
}

TEST_F(TlsPolicy, Tls13IsAcceptedAndPreferred) {
    ASSERT_TRUE(proxy.ok());
    for (const char* suite :
         {"TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256"}) {
        auto h = try_handshake(proxy.port(), TLS1_3_VERSION, TLS1_3_VERSION, nullptr, suite);
        EXPECT_TRUE(h.ok) << suite;
        EXPECT_EQ(h.version, "TLSv1.3") << suite;
        EXPECT_EQ(h.cipher, suite);
    }
    // A client offering everything from TLS 1.0 up ends with TLS 1.3.
    auto h = try_handshake(proxy.port(), TLS1_VERSION, 0, "ALL:@SECLEVEL=0", nullptr);
    EXPECT_TRUE(h.ok);
    EXPECT_EQ(h.version, "TLSv1.3");
}

}  // namespace
}  // namespace bcp::test
