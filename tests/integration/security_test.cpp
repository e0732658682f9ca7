// SECURITY.md's catalogue against the real server: every hostile request gets its status and
// reaches no node (the simulated nodes count every request they receive).
#include "harness.hpp"

#include <gtest/gtest.h>

namespace bcp::test {
namespace {

struct hostile {
    const char* name;
    std::string raw;
    unsigned status;
};

const std::string key = "dGhlIHNhbXBsZSBub25jZQ==";

std::vector<hostile> catalogue() {
    const std::string h = "Host: proxy.example.com\r\n";
    const std::string p = "/bbb-01/html5client/";
    auto get = [&](const std::string& target, const std::string& extra = {}) {
        return "GET " + target + " HTTP/1.1\r\n" + h + extra + "\r\n";
    };
    return {
        // smuggling shapes: no body is ever accepted
        {"CL body", get(p, "Content-Length: 5\r\n") + "hello", 400},
        {"TE chunked", get(p, "Transfer-Encoding: chunked\r\n") + "0\r\n\r\n", 400},
        {"TE gzip + CL", get(p, "Transfer-Encoding: gzip\r\nContent-Length: 3\r\n") + "abc", 400},
        {"TE chunked, gzip", get(p, "Transfer-Encoding: chunked, gzip\r\n"), 400},
        {"CL + TE", get(p, "Content-Length: 4\r\nTransfer-Encoding: chunked\r\n") + "0\r\n\r\n",
         400},
        {"TE + CL", get(p, "Transfer-Encoding: chunked\r\nContent-Length: 4\r\n") + "0\r\n\r\n",
         400},
        {"duplicate CL", get(p, "Content-Length: 0\r\nContent-Length: 0\r\n"), 400},
        {"CL signed", get(p, "Content-Length: +0\r\n"), 400},
        {"CL hex", get(p, "Content-Length: 0x00\r\n"), 400},
        {"TE HTTP/1.0", "GET " + p + " HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
         400},
        {"TE obs-fold", get(p, "X-A: 1\r\n Transfer-Encoding: chunked\r\n"), 400},
        {"obs-fold", get(p, "X-A: 1\r\n\tcontinued\r\n"), 400},
        {"space before colon", get(p, "Transfer-Encoding : chunked\r\n"), 400},
        {"NUL in value", get(p, std::string("X-A: a\0b\r\n", 10)), 400},
        {"bare CR", get(p, "X-A: a\rb\r\n"), 400},
        {"bare LF line", "GET " + p + " HTTP/1.1\n" + h + "\n", 400},
        // methods
        {"POST", "POST " + p + " HTTP/1.1\r\n" + h + "Content-Length: 0\r\n\r\n", 405},
        {"PUT", "PUT " + p + " HTTP/1.1\r\n" + h + "\r\n", 405},
        {"OPTIONS", "OPTIONS " + p + " HTTP/1.1\r\n" + h + "\r\n", 405},
        {"TRACE", "TRACE " + p + " HTTP/1.1\r\n" + h + "\r\n", 405},
        {"CONNECT", "CONNECT bbb-01.example.com:443 HTTP/1.1\r\n" + h + "\r\n", 405},
        {"lower-case get", "get " + p + " HTTP/1.1\r\n" + h + "\r\n", 405},
        // path escapes (SECURITY.md vectors)
        {"encoded dot dot", get("/bbb-01/html5client/%2e%2e/%2e%2e/admin"), 400},
        {"encoded slash in id", get("/bbb-01%2fhtml5client/x"), 400},
        {"dotdot encoded slash", get("/bbb-01/html5client/..%2f..%2fsecret"), 400},
        {"leading double slash", get("//bbb-01/html5client/"), 400},
        {"encoded NUL", get("/bbb-01/html5client/%00"), 400},
        {"bad escape", get("/bbb-01/html5client/%zz"), 400},
        {"truncated escape", get("/bbb-01/html5client/%4"), 400},
        {"backslash", get("/bbb-01/html5client/..\\..\\admin"), 400},
        {"encoded backslash", get("/bbb-01/html5client/%5c..%5cadmin"), 400},
        {"plain dot dot", get("/bbb-01/html5client/../../admin"), 400},
        {"dot segment", get("/bbb-01/./html5client/"), 400},
        {"empty segment", get("/bbb-01//html5client/"), 400},
        {"fragment", get("/bbb-01/html5client/#x"), 400},
        {"upper-case id", get("/BBB-01/html5client/"), 404},
        {"upper-case mount", get("/bbb-01/HTML5CLIENT/"), 404},
        {"semicolon in id", get("/bbb-01;x=1/html5client/"), 404},
        {"id with port", get("/bbb-01:443/html5client/"), 404},
        {"encoded id char", get("/bbb%2d01/html5client/"), 404},
        {"unknown node", get("/bbb-99/html5client/"), 404},
        {"other path on node", get("/bbb-01/bigbluebutton/api/create"), 404},
        // target forms
        {"absolute-form", get("http://evil.example/bbb-01/html5client/"), 400},
        {"absolute-form to node", get("http://127.0.0.1/bbb-01/html5client/"), 400},
        {"authority-form", get("bbb-01.example.com:443"), 400},
        {"asterisk", get("*"), 400},
        // Host abuse
        {"no Host", "GET " + p + " HTTP/1.1\r\n\r\n", 400},
        {"two Hosts", "GET " + p + " HTTP/1.1\r\n" + h + "Host: evil.example\r\n\r\n", 400},
        {"Host userinfo", "GET " + p + " HTTP/1.1\r\nHost: a@evil.example\r\n\r\n", 400},
        {"Host with path", "GET " + p + " HTTP/1.1\r\nHost: evil.example/x\r\n\r\n", 400},
        // Connection nominating what we must keep
        {"Connection: Host", get(p, "Connection: Host\r\n"), 400},
        {"Connection: Content-Length", get(p, "Connection: close, Content-Length\r\n"), 400},
        {"Connection: Transfer-Encoding", get(p, "Connection: Transfer-Encoding\r\n"), 400},
        // WebSocket handshakes that are not valid
        {"ws without key",
         get(p + "ws",
             "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"),
         400},
        {"ws version 12",
         get(p + "ws",
             "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 12\r\n"
             "Sec-WebSocket-Key: " +
                 key + "\r\n"),
         400},
        {"ws over HEAD",
         "HEAD " + p + "ws HTTP/1.1\r\n" + h +
             "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
             "Sec-WebSocket-Key: " +
             key + "\r\n\r\n",
         400},
        // versions and sizes
        {"HTTP/2.0 line", "GET " + p + " HTTP/2.0\r\n" + h + "\r\n", 505},
        {"HTTP/1.2 line", "GET " + p + " HTTP/1.2\r\n" + h + "\r\n", 505},
        {"TLS hello on plain port", std::string("\x16\x03\x01\x02\x00\x01\x00", 7), 400},
        {"binary garbage line", "\x16\x03\x01\x02\x05\x01\xfc\x03\x03\r\n\r\n", 400},
        {"oversize header", get(p, "X-Big: " + std::string(20000, 'a') + "\r\n"), 431},
        {"too many headers",
         [&] {
             std::string extra;
             for (int i = 0; i < 150; ++i) {
                 extra += "X-" + std::to_string(i) + ": 1\r\n";
             }
             return get(p, extra);
         }(),
         431},
        {"long target", get(p + std::string(9000, 'a')), 414},
    };
}

TEST(SecurityCatalogue, EveryEntryIsAnsweredAndNothingReachesANode) {
    node_set nodes({"bbb-01", "bbb-02"});
    proxy_instance proxy(proxy_yaml(nodes));
    ASSERT_TRUE(proxy.ok());
    const auto entries = catalogue();
    ASSERT_GE(entries.size(), 60u);
    for (const auto& e : entries) {
        client c(proxy.port());
        ASSERT_TRUE(c.connected());
        c.send(e.raw);
        auto r = c.read(e.raw.rfind("HEAD ", 0) == 0, 3s);
        ASSERT_TRUE(r) << e.name << ": " << c.last_error();
        EXPECT_EQ(r->result_int(), e.status) << e.name;
        if (e.status != 404) {
            // Refusals close the connection (SECURITY.md: close after any framing error).
            EXPECT_TRUE(c.closed_within(2s)) << e.name;
        }
        EXPECT_EQ(nodes.total_requests(), 0u) << e.name << " reached a node";
    }
    EXPECT_EQ(nodes.total_connections(), 0u);
}

TEST(SecurityCatalogue, ServerNamesAnswer421) {
    node_set nodes({"bbb-01"});
    proxy_instance proxy(proxy_yaml(nodes, "server_names: [proxy.example.com]\n"));
    ASSERT_TRUE(proxy.ok());
    client c(proxy.port());
    c.send("GET /bbb-01/html5client/ HTTP/1.1\r\nHost: bbb-01.example.com\r\n\r\n");
    auto r = c.read();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->result_int(), 421u);
    client ok(proxy.port());
    ok.send("GET /bbb-01/html5client/ HTTP/1.1\r\nHost: proxy.example.com\r\n\r\n");
    r = ok.read();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->result_int(), 200u);
    EXPECT_EQ(nodes.total_requests(), 1u);
}

TEST(SecurityCatalogue, ClientCannotStripOurForwardedHeaders) {
    node_set nodes({"bbb-01"});
    proxy_instance proxy(proxy_yaml(nodes));
    ASSERT_TRUE(proxy.ok());
    auto r = http_get(proxy.port(), "/bbb-01/html5client/_test/echo-headers",
                      "Connection: X-Forwarded-For, X-Forwarded-Proto, Via\r\n"
                      "X-Forwarded-For: 10.0.0.1\r\n");
    ASSERT_TRUE(r);
    EXPECT_NE(r->body().find("[\"X-Forwarded-For\",\"127.0.0.1\"]"), std::string::npos)
        << r->body();
    EXPECT_EQ(r->body().find("10.0.0.1"), std::string::npos);
    EXPECT_NE(r->body().find("[\"X-Forwarded-Proto\",\"http\"]"), std::string::npos);
}

}  // namespace
}  // namespace bcp::test
