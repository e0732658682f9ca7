// An HTTP/2 header block as the request head the gate judges (issue 16): every malformed case of
// RFC 9113 §8.2–8.3 is a stream error, everything else reaches the same gate as HTTP/1.1.
#include "http/h2_request.hpp"
#include "http/gate.hpp"
#include "http/rewrite.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace bcp::http {
namespace {

using block = std::vector<std::pair<std::string, std::string>>;

// Keeps the block, the storage and the head together: the head's views point into both.
struct mapped {
    std::vector<std::pair<std::string, std::string>> fields;
    std::vector<h2_field> views;
    std::string storage;
    request_head head;
    h2_mapping result;
};

mapped map(block fields, const head_limits& limits = {}) {
    mapped m;
    m.fields = std::move(fields);
    for (const auto& [n, v] : m.fields) {
        m.views.push_back({n, v});
    }
    m.result = map_h2_request(m.views, limits, m.storage, m.head);
    return m;
}

// What Chromium sends for a script of the client.
block browser(block extra = {}) {
    block b{{":method", "GET"},
            {":authority", "proxy.example.com"},
            {":scheme", "https"},
            {":path", "/bbb-01/html5client/app.js?v=1"},
            {"accept-encoding", "gzip, deflate, br, zstd"},
            {"user-agent", "Mozilla/5.0"}};
    b.insert(b.end(), extra.begin(), extra.end());
    return b;
}

TEST(H2Request, ABrowserRequestBecomesTheHeadTheGateKnows) {
    auto m = map(browser({{"cookie", "a=1"}, {"te", "trailers"}, {"cookie", "b=2"}}));
    ASSERT_FALSE(m.result.malformed) << m.result.reason;
    ASSERT_EQ(m.result.status, 0u) << m.result.reason;
    EXPECT_EQ(m.head.method, "GET");
    EXPECT_EQ(m.head.target, "/bbb-01/html5client/app.js?v=1");
    EXPECT_EQ(m.head.version, 11u);
    EXPECT_EQ(m.head.find("host"), "proxy.example.com");
    EXPECT_EQ(m.head.count("host"), 1u);
    // Cookie crumbs joined where the first one was (RFC 9113 §8.2.3); te: trailers dropped.
    ASSERT_EQ(m.head.fields.size(), 4u);
    EXPECT_EQ(m.head.fields[0].name, "host");
    EXPECT_EQ(m.head.fields[1].name, "accept-encoding");
    EXPECT_EQ(m.head.fields[3].name, "cookie");
    EXPECT_EQ(m.head.find("cookie"), "a=1; b=2");
    EXPECT_EQ(m.head.count("te"), 0u);
    gate_options o;
    o.server_names = {"proxy.example.com"};
    const auto g = inspect(m.head, o);
    EXPECT_EQ(g.status, 0u) << g.reason;
    EXPECT_EQ(g.target.first, "bbb-01");
}

TEST(H2Request, AHostFieldNamingTheSameAuthorityIsKept) {
    auto m = map(browser({{"host", "Proxy.Example.com"}}));
    ASSERT_FALSE(m.result.malformed) << m.result.reason;
    EXPECT_EQ(m.head.count("host"), 1u);
    EXPECT_EQ(m.head.find("host"), "Proxy.Example.com");
    // Without :authority the host field is the authority (§8.3.1).
    auto h = map({{":method", "GET"}, {":scheme", "https"}, {":path", "/"}, {"host", "p"}});
    ASSERT_FALSE(h.result.malformed) << h.result.reason;
    EXPECT_EQ(h.head.find("host"), "p");
    // Neither: no Host, which the gate refuses as for HTTP/1.1.
    auto none = map({{":method", "GET"}, {":scheme", "https"}, {":path", "/"}});
    ASSERT_FALSE(none.result.malformed);
    EXPECT_EQ(inspect(none.head, {}).status, 400u);
}

TEST(H2Request, MalformedBlocksAreStreamErrors) {
    const struct {
        const char* name;
        block fields;
    } cases[] = {
        {"upper-case name", browser({{"X-Custom", "1"}})},
        {"connection", browser({{"connection", "close"}})},
        {"keep-alive", browser({{"keep-alive", "timeout=5"}})},
        {"proxy-connection", browser({{"proxy-connection", "keep-alive"}})},
        {"transfer-encoding", browser({{"transfer-encoding", "chunked"}})},
        {"upgrade", browser({{"upgrade", "websocket"}})},
        {"te gzip", browser({{"te", "gzip"}})},
        {"te trailers and more", browser({{"te", "trailers, deflate"}})},
        {"pseudo after regular",
         {{":method", "GET"}, {":scheme", "https"}, {"accept", "*/*"}, {":path", "/"}}},
        {"repeated :path", browser({{":path", "/other"}})},
        {"repeated :method first",
         {{":method", "GET"}, {":method", "GET"}, {":scheme", "https"}, {":path", "/"}}},
        {"missing :method", {{":scheme", "https"}, {":path", "/"}, {":authority", "p"}}},
        {"missing :scheme", {{":method", "GET"}, {":path", "/"}, {":authority", "p"}}},
        {"missing :path", {{":method", "GET"}, {":scheme", "https"}, {":authority", "p"}}},
        {"empty :path", {{":method", "GET"}, {":scheme", "https"}, {":path", ""}}},
        {"asterisk :path", {{":method", "OPTIONS"}, {":scheme", "https"}, {":path", "*"}}},
        {"absolute :path", {{":method", "GET"}, {":scheme", "https"}, {":path", "https://evil/x"}}},
        {":protocol (extended CONNECT is not offered)", browser({{":protocol", "websocket"}})},
        {":status in a request", browser({{":status", "200"}})},
        {"unknown pseudo", browser({{":foo", "1"}})},
        {"CONNECT", {{":method", "CONNECT"}, {":authority", "node:443"}}},
        {"CONNECT with path",
         {{":method", "CONNECT"}, {":scheme", "https"}, {":path", "/"}, {":authority", "p"}}},
        {"CRLF in a value (downgrade smuggling)",
         browser({{"x-a", "1\r\nTransfer-Encoding: chunked"}})},
        {"LF in a value", browser({{"x-a", "1\nx-b: 2"}})},
        {"NUL in a value", browser({{"x-a", std::string("1\0"
                                                        "2",
                                                        3)}})},
        {"CR in :path", {{":method", "GET"}, {":scheme", "https"}, {":path", "/a\r\nHost: x"}}},
        {"CRLF in :method",
         {{":method", "GET / HTTP/1.1\r\nX:"}, {":scheme", "https"}, {":path", "/"}}},
        {"leading space in a value", browser({{"x-a", " 1"}})},
        {"trailing tab in a value", browser({{"x-a", "1\t"}})},
        {"DEL in a value", browser({{"x-a", "1\x7f"}})},
        {"space in a name", browser({{"x a", "1"}})},
        {"colon inside a name", browser({{"x:a", "1"}})},
        {"empty name", browser({{"", "1"}})},
        {"NUL in a name", browser({{std::string("x\0a", 3), "1"}})},
        {"host differs from :authority", browser({{"host", "evil.example.com"}})},
        {"two host fields",
         {{":method", "GET"}, {":scheme", "https"}, {":path", "/"}, {"host", "p"}, {"host", "p"}}},
        {"userinfo in :authority",
         {{":method", "GET"},
          {":scheme", "https"},
          {":path", "/"},
          {":authority", "user@proxy.example.com"}}},
    };
    for (const auto& c : cases) {
        const auto m = map(c.fields);
        EXPECT_TRUE(m.result.malformed) << c.name;
        EXPECT_FALSE(m.result.reason.empty()) << c.name;
    }
}

TEST(H2Request, LimitsAndSchemeAreRefusalsWithAStatus) {
    head_limits small;
    small.max_bytes = 400;
    small.max_fields = 8;
    small.max_target = 64;
    auto big = map(browser({{"x-big", std::string(300, 'a')}}), small);
    EXPECT_FALSE(big.result.malformed);
    EXPECT_EQ(big.result.status, 431u);
    block many = browser();
    for (int i = 0; i < 7; ++i) {
        many.push_back({"x-" + std::to_string(i), "1"});
    }
    EXPECT_EQ(map(many, small).result.status, 431u);
    auto long_path = map(
        {{":method", "GET"}, {":scheme", "https"}, {":path", "/" + std::string(64, 'a')}}, small);
    EXPECT_EQ(long_path.result.status, 414u);
    auto http = map({{":method", "GET"}, {":scheme", "http"}, {":path", "/"}});
    EXPECT_FALSE(http.result.malformed);
    EXPECT_EQ(http.result.status, 400u);
}

// What passes the mapping meets the same gate as HTTP/1.1: methods, bodies, targets, Host names.
TEST(H2Request, TheGateJudgesTheMappedHeadAsForHttp11) {
    gate_options o;
    o.server_names = {"proxy.example.com"};
    const struct {
        const char* name;
        block fields;
        unsigned status;
    } cases[] = {
        {"POST without an allowance",
         {{":method", "POST"},
          {":scheme", "https"},
          {":path", "/bbb-01/html5client/feedback"},
          {":authority", "proxy.example.com"}},
         405},
        {"lower-case method",
         {{":method", "get"},
          {":scheme", "https"},
          {":path", "/"},
          {":authority", "proxy.example.com"}},
         405},
        {"a body announced", browser({{"content-length", "5"}}), 400},
        {"dot segment",
         {{":method", "GET"},
          {":scheme", "https"},
          {":path", "/a/../b"},
          {":authority", "proxy.example.com"}},
         400},
        {"encoded slash",
         {{":method", "GET"},
          {":scheme", "https"},
          {":path", "/a%2fb"},
          {":authority", "proxy.example.com"}},
         400},
        {"another host name",
         {{":method", "GET"},
          {":scheme", "https"},
          {":path", "/"},
          {":authority", "other.example.com"}},
         421},
        {"framing field spelled with _", browser({{"transfer_encoding", "chunked"}}), 400},
        {"HEAD",
         {{":method", "HEAD"},
          {":scheme", "https"},
          {":path", "/"},
          {":authority", "proxy.example.com"}},
         0},
    };
    for (const auto& c : cases) {
        const auto m = map(c.fields);
        ASSERT_FALSE(m.result.malformed) << c.name << ": " << m.result.reason;
        ASSERT_EQ(m.result.status, 0u) << c.name;
        EXPECT_EQ(inspect(m.head, o).status, c.status) << c.name;
    }
}

// The HTTP/1.1 request built for the node from a mapped head is one well-formed head with our
// Host: nothing the client sent can add a line to it.
TEST(H2Request, TheNodeRequestCarriesNothingSmuggled) {
    auto m = map(browser(
        {{"cookie", "a=1"}, {"cookie", "b=2"}, {"x-forwarded-for", "1.2.3.4"}, {"accept", "*/*"}}));
    ASSERT_FALSE(m.result.malformed);
    const auto g = inspect(m.head, {});
    ASSERT_EQ(g.status, 0u) << g.reason;
    forward_context ctx{"10.0.0.5:443", "192.0.2.7", true, "proxy.example.com"};
    std::string wire;
    build_upstream_request(m.head, g, ctx, wire);
    request_head up;
    const auto r = parse_request_head(wire, {}, up);
    ASSERT_EQ(r.state, parse_state::complete) << wire;
    EXPECT_EQ(up.size, wire.size());
    EXPECT_EQ(up.method, "GET");
    EXPECT_EQ(up.target, "/bbb-01/html5client/app.js?v=1");
    EXPECT_EQ(up.find("host"), "10.0.0.5:443");
    EXPECT_EQ(up.find("cookie"), "a=1; b=2");
    EXPECT_EQ(up.find("x-forwarded-for"), "192.0.2.7");
    EXPECT_EQ(up.find("x-forwarded-host"), "proxy.example.com");
    EXPECT_EQ(up.count("te"), 0u);
}

}  // namespace
}  // namespace bcp::http
