#include "http/rewrite.hpp"

#include <gtest/gtest.h>

#include <boost/beast/http/fields.hpp>

#include <array>
#include <string>

namespace bcp::http {
namespace {

forward_context ctx() {
    forward_context c;
    c.upstream_authority = "bbb-01.example.com";
    c.client_address = "203.0.113.7";
    c.client_tls = true;
    c.public_authority = "proxy.example.com";
    return c;
}

std::string rewrite_request(const std::string& raw) {
    request_head h;
    EXPECT_EQ(parse_request_head(raw, {}, h).state, parse_state::complete);
    const auto g = inspect(h, {});
    EXPECT_EQ(g.status, 0u) << g.reason;
    std::string out;
    build_upstream_request(h, g, ctx(), out);
    return out;
}

TEST(UpstreamRequest, ReframesWithOurHeaders) {
    const auto out = rewrite_request(
        "GET /bbb-01/html5client/x?y=1 HTTP/1.1\r\nHost: proxy.example.com\r\nAccept: */*\r\n"
        "Cookie: a=b\r\nConnection: keep-alive\r\nKeep-Alive: timeout=5\r\nTE: trailers\r\n"
        "X-Forwarded-For: 1.2.3.4\r\nForwarded: for=1.2.3.4\r\nX-Real-IP: 1.2.3.4\r\n"
        "X-Forwarded-Host: evil\r\nX-Forwarded-Proto: http\r\nProxy-Connection: x\r\n"
        "Expect: 100-continue\r\nVia: 1.1 elsewhere\r\nAccept-Encoding: gzip, br, zstd\r\n\r\n");
    EXPECT_EQ(out,
              "GET /bbb-01/html5client/x?y=1 HTTP/1.1\r\n"
              "Host: bbb-01.example.com\r\n"
              "Accept: */*\r\n"
              "Cookie: a=b\r\n"
              "X-Forwarded-For: 203.0.113.7\r\n"
              "X-Forwarded-Proto: https\r\n"
              "X-Forwarded-Host: proxy.example.com\r\n"
              "\r\n");
}

// The node sees our Accept-Encoding, never the client's (the cache decodes only gzip), and no Via
// (nginx's gzip_proxied is off on BBB nodes: with Via it would send everything uncompressed).
TEST(UpstreamRequest, AcceptEncodingIsOursAndThereIsNoVia) {
    const std::string raw =
        "GET /bbb-01/html5client/a.js HTTP/1.1\r\nHost: p\r\n"
        "Accept-Encoding: gzip, deflate, br, zstd\r\n\r\n";
    request_head h;
    ASSERT_EQ(parse_request_head(raw, {}, h).state, parse_state::complete);
    const auto g = inspect(h, {});
    auto c = ctx();
    c.accept_encoding = "gzip";
    std::string out;
    build_upstream_request(h, g, c, out);
    EXPECT_NE(out.find("Accept-Encoding: gzip\r\n"), std::string::npos) << out;
    EXPECT_EQ(out.find("deflate"), std::string::npos) << out;
    EXPECT_EQ(out.find("Via"), std::string::npos) << out;
    c.accept_encoding = {};
    build_upstream_request(h, g, c, out);
    EXPECT_EQ(out.find("Accept-Encoding"), std::string::npos) << out;
}

TEST(UpstreamRequest, ConnectionNominatedFieldsAreDroppedButOursStay) {
    const auto out = rewrite_request(
        "GET / HTTP/1.1\r\nHost: p\r\nConnection: X-Secret, X-Forwarded-For, Via\r\n"
        "X-Secret: 1\r\nX-Kept: 2\r\n\r\n");
    EXPECT_EQ(out.find("X-Secret"), std::string::npos);
    EXPECT_NE(out.find("X-Kept: 2\r\n"), std::string::npos);
    EXPECT_NE(out.find("X-Forwarded-For: 203.0.113.7\r\n"), std::string::npos);
    EXPECT_EQ(out.find("Connection"), std::string::npos);
}

TEST(UpstreamRequest, WebSocketUpgradeKeepsHandshakeFields) {
    const auto out = rewrite_request(
        "GET /bbb-01/html5client/ws HTTP/1.1\r\nHost: p\r\nUpgrade: websocket\r\n"
        "Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Protocol: chat\r\n"
        "Origin: https://proxy.example.com\r\n\r\n");
    EXPECT_NE(out.find("Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"), std::string::npos);
    EXPECT_NE(out.find("Sec-WebSocket-Protocol: chat\r\n"), std::string::npos);
    EXPECT_NE(out.find("Origin: https://proxy.example.com\r\n"), std::string::npos);
    EXPECT_NE(out.find("Connection: Upgrade\r\nUpgrade: websocket\r\n\r\n"), std::string::npos);
}

const std::array<std::string, 1> mounts{"html5client"};

response_context rctx() {
    response_context r;
    r.node_origin = "https://bbb-01.example.com";
    r.public_origin = "https://proxy.example.com";
    r.node_id = "bbb-01";
    r.mounts = mounts;
    return r;
}

TEST(Location, RewritesOnlyUnderTheNodesMounts) {
    const auto r = rctx();
    EXPECT_EQ(rewrite_location("https://bbb-01.example.com/bbb-01/html5client/join?x=1", r),
              "https://proxy.example.com/bbb-01/html5client/join?x=1");
    EXPECT_EQ(rewrite_location("https://BBB-01.example.com/bbb-01/html5client", r),
              "https://proxy.example.com/bbb-01/html5client");
    EXPECT_EQ(rewrite_location("https://bbb-01.example.com/bbb-01/html5client?x", r),
              "https://proxy.example.com/bbb-01/html5client?x");
    // Unchanged: other paths on the node, other hosts, other ports, relative, look-alikes.
    for (const char* v : {"https://bbb-01.example.com/bigbluebutton/api",
                          "https://bbb-01.example.com/bbb-02/html5client/",
                          "https://bbb-01.example.com/bbb-01/html5clientx/",
                          "https://bbb-01.example.com:8443/bbb-01/html5client/",
                          "https://bbb-01.example.com.evil/bbb-01/html5client/",
                          "http://bbb-01.example.com/bbb-01/html5client/",
                          "/bbb-01/html5client/locale", "https://bbb-01.example.com"}) {
        EXPECT_EQ(rewrite_location(v, r), v) << v;
    }
}

TEST(ResponseHead, StripsHopByHopAndReframes) {
    node_fields f;
    f.insert("Content-Type", "text/html");
    f.insert("Connection", "keep-alive, X-Hop");
    f.insert("X-Hop", "secret");
    f.insert("Keep-Alive", "timeout=5");
    f.insert("Transfer-Encoding", "chunked");
    f.insert("Content-Length", "99");
    f.insert("Location", "https://bbb-01.example.com/bbb-01/html5client/x");
    f.insert("Set-Cookie", "a=1");
    f.insert("Set-Cookie", "b=2");
    auto r = rctx();
    r.body = framing::chunked;
    std::string out;
    build_response_head(302, "Found", f, r, out);
    EXPECT_EQ(out,
              "HTTP/1.1 302 Found\r\n"
              "Content-Type: text/html\r\n"
              "Location: https://proxy.example.com/bbb-01/html5client/x\r\n"
              "Set-Cookie: a=1\r\n"
              "Set-Cookie: b=2\r\n"
              "Transfer-Encoding: chunked\r\n"
              "\r\n");
    r.body = framing::content_length;
    r.content_length = 42;
    r.keep_alive = false;
    build_response_head(200, "OK", f, r, out);
    EXPECT_NE(out.find("Content-Length: 42\r\nConnection: close\r\n\r\n"), std::string::npos);
    EXPECT_EQ(out.find("99"), std::string::npos);
    // HEAD: the node's Content-Length describes the body a GET would get; it is kept.
    r.body = framing::none;
    r.keep_alive = true;
    build_response_head(200, "OK", f, r, out);
    EXPECT_NE(out.find("Content-Length: 99\r\n"), std::string::npos);
    EXPECT_EQ(out.find("Transfer-Encoding"), std::string::npos);
}

// Field names are case-insensitive (RFC 9110 §5.1): every hop-by-hop field and every name the
// head builder treats specially is recognised whatever its case.
TEST(ResponseHead, RecognisesFieldNamesInAnyCase) {
    node_fields f;
    f.insert("PROXY-CONNECTION", "keep-alive");
    f.insert("keep-alive", "timeout=5");
    f.insert("TE", "trailers");
    f.insert("trailer", "X-Checksum");
    f.insert("UPGRADE", "h2c");
    f.insert("transfer-ENCODING", "chunked");
    f.insert("CONNECTION", "x-HOP");
    f.insert("X-Hop", "secret");
    f.insert("content-LENGTH", "99");
    f.insert("LOCATION", "https://bbb-01.example.com/bbb-01/html5client/x");
    f.insert("X-Kept", "yes");
    auto r = rctx();
    r.body = framing::content_length;
    r.content_length = 7;
    std::string out;
    build_response_head(302, "Found", f, r, out);
    EXPECT_EQ(out,
              "HTTP/1.1 302 Found\r\n"
              "LOCATION: https://proxy.example.com/bbb-01/html5client/x\r\n"
              "X-Kept: yes\r\n"
              "Content-Length: 7\r\n"
              "\r\n");
}

TEST(ResponseHead, SwitchingProtocols) {
    node_fields f;
    f.insert("Upgrade", "websocket");
    f.insert("Connection", "Upgrade");
    f.insert("Sec-WebSocket-Accept", "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    auto r = rctx();
    r.body = framing::none;
    r.upgrade = true;
    std::string out;
    build_response_head(101, "Switching Protocols", f, r, out);
    EXPECT_EQ(out,
              "HTTP/1.1 101 Switching Protocols\r\n"
              "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
              "Connection: upgrade\r\nUpgrade: websocket\r\n\r\n");
}

}  // namespace
}  // namespace bcp::http
