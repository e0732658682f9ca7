#include "http/gate.hpp"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

namespace bcp::http {
namespace {

constexpr const char* key = "dGhlIHNhbXBsZSBub25jZQ==";

struct gate_case {
    const char* name;
    std::string raw;
    unsigned status;  // 0 = forwarded
};

// The head and the gate result are views into the raw bytes: keep all three together.
struct gated {
    std::string raw;
    request_head head;
    gate_result result;
};

gate_result run_gate(std::string raw, std::unique_ptr<gated>& keep, const gate_options& o = {},
                     const post_allowance& post = {}) {
    keep = std::make_unique<gated>();
    keep->raw = std::move(raw);
    const auto pr = parse_request_head(keep->raw, {}, keep->head);
    EXPECT_EQ(pr.state, parse_state::complete) << keep->raw;
    keep->result = inspect(keep->head, o, post);
    return keep->result;
}

std::string req(const std::string& first_line, const std::string& headers) {
    return first_line + "\r\n" + headers + "\r\n";
}

TEST(Gate, ForwardsPlainGetAndHead) {
    std::unique_ptr<gated> h;
    auto g = run_gate(req("GET /bbb-01/html5client/ HTTP/1.1", "Host: p.example.com\r\n"), h);
    EXPECT_EQ(g.status, 0u);
    EXPECT_TRUE(g.keep_alive);
    EXPECT_FALSE(g.head_method);
    EXPECT_EQ(g.host, "p.example.com");
    EXPECT_EQ(g.target.first, "bbb-01");
    EXPECT_EQ(g.target.second, "html5client");
    g = run_gate(req("HEAD /bbb-01/html5client/ HTTP/1.1", "Host: p\r\nContent-Length: 0\r\n"), h);
    EXPECT_EQ(g.status, 0u);
    EXPECT_TRUE(g.head_method);
}

TEST(Gate, KeepAliveRules) {
    std::unique_ptr<gated> h;
    EXPECT_FALSE(run_gate(req("GET / HTTP/1.1", "Host: p\r\nConnection: close\r\n"), h).keep_alive);
    EXPECT_FALSE(run_gate(req("GET / HTTP/1.0", ""), h).keep_alive);
    EXPECT_TRUE(run_gate(req("GET / HTTP/1.0", "Connection: keep-alive\r\n"), h).keep_alive);
    EXPECT_FALSE(run_gate(req("GET / HTTP/1.1", "Host: p\r\nConnection: keep-alive, CLOSE\r\n"), h)
                     .keep_alive);
}

// The catalogue of SECURITY.md: smuggling shapes, methods, Host abuse, Connection tricks,
// WebSocket validation. Each entry names the status the gate must answer.
TEST(Gate, Catalogue) {
    const std::string ws = std::string("Host: p\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n") +
                           "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: " + key + "\r\n";
    const gate_case cases[] = {
        // methods
        {"POST", req("POST /bbb-01/html5client/ HTTP/1.1", "Host: p\r\n"), 405},
        {"PUT", req("PUT /bbb-01/html5client/ HTTP/1.1", "Host: p\r\n"), 405},
        {"DELETE", req("DELETE /bbb-01/html5client/ HTTP/1.1", "Host: p\r\n"), 405},
        {"OPTIONS", req("OPTIONS /bbb-01/html5client/ HTTP/1.1", "Host: p\r\n"), 405},
        {"TRACE", req("TRACE / HTTP/1.1", "Host: p\r\n"), 405},
        {"CONNECT", req("CONNECT p:443 HTTP/1.1", "Host: p\r\n"), 405},
        {"lower-case get", req("get / HTTP/1.1", "Host: p\r\n"), 405},
        {"unknown method", req("BREW / HTTP/1.1", "Host: p\r\n"), 405},
        // bodies and smuggling shapes
        {"CL 5", req("GET / HTTP/1.1", "Host: p\r\nContent-Length: 5\r\n"), 400},
        {"CL 00", req("GET / HTTP/1.1", "Host: p\r\nContent-Length: 00\r\n"), 400},
        {"CL +0", req("GET / HTTP/1.1", "Host: p\r\nContent-Length: +0\r\n"), 400},
        {"CL -1", req("GET / HTTP/1.1", "Host: p\r\nContent-Length: -1\r\n"), 400},
        {"CL hex", req("GET / HTTP/1.1", "Host: p\r\nContent-Length: 0x0\r\n"), 400},
        {"CL list", req("GET / HTTP/1.1", "Host: p\r\nContent-Length: 0, 0\r\n"), 400},
        {"CL empty", req("GET / HTTP/1.1", "Host: p\r\nContent-Length:\r\n"), 400},
        {"two CL", req("GET / HTTP/1.1", "Host: p\r\nContent-Length: 0\r\nContent-Length: 0\r\n"),
         400},
        {"TE chunked", req("GET / HTTP/1.1", "Host: p\r\nTransfer-Encoding: chunked\r\n"), 400},
        {"TE gzip + CL",
         req("GET / HTTP/1.1", "Host: p\r\nTransfer-Encoding: gzip\r\nContent-Length: 0\r\n"), 400},
        {"TE chunked, gzip",
         req("GET / HTTP/1.1", "Host: p\r\nTransfer-Encoding: chunked, gzip\r\n"), 400},
        {"TE in 1.0", req("GET / HTTP/1.0", "Transfer-Encoding: chunked\r\n"), 400},
        {"TE empty", req("GET / HTTP/1.1", "Host: p\r\nTransfer-Encoding:\r\n"), 400},
        {"TE case", req("GET / HTTP/1.1", "Host: p\r\ntransfer-encoding: CHUNKED\r\n"), 400},
        // Host
        {"no Host 1.1", req("GET / HTTP/1.1", ""), 400},
        {"two Hosts", req("GET / HTTP/1.1", "Host: p\r\nHost: q\r\n"), 400},
        {"empty Host", req("GET / HTTP/1.1", "Host:\r\n"), 400},
        {"Host userinfo", req("GET / HTTP/1.1", "Host: user@p\r\n"), 400},
        {"Host path", req("GET / HTTP/1.1", "Host: p/x\r\n"), 400},
        {"Host bad port", req("GET / HTTP/1.1", "Host: p:8x\r\n"), 400},
        {"Host empty port", req("GET / HTTP/1.1", "Host: p:\r\n"), 400},
        {"Host space", req("GET / HTTP/1.1", "Host: p q\r\n"), 400},
        {"Host bad v6", req("GET / HTTP/1.1", "Host: [zz]\r\n"), 400},
        {"Host v6 ok", req("GET / HTTP/1.1", "Host: [::1]:8080\r\n"), 0},
        {"Host port ok", req("GET / HTTP/1.1", "Host: p:443\r\n"), 0},
        {"no Host 1.0 ok", req("GET / HTTP/1.0", ""), 0},
        // targets
        {"absolute-form", req("GET http://evil/x HTTP/1.1", "Host: p\r\n"), 400},
        {"authority-form", req("GET p:443 HTTP/1.1", "Host: p\r\n"), 400},
        {"asterisk", req("GET * HTTP/1.1", "Host: p\r\n"), 400},
        {"encoded dots", req("GET /bbb-01/html5client/%2e%2e/%2e%2e/admin HTTP/1.1", "Host: p\r\n"),
         400},
        {"encoded slash", req("GET /bbb-01%2fhtml5client/x HTTP/1.1", "Host: p\r\n"), 400},
        {"double slash", req("GET //bbb-01/html5client/ HTTP/1.1", "Host: p\r\n"), 400},
        // Connection nominating framing/routing headers
        {"Connection: host", req("GET / HTTP/1.1", "Host: p\r\nConnection: host\r\n"), 400},
        {"Connection: content-length",
         req("GET / HTTP/1.1", "Host: p\r\nConnection: Content-Length\r\n"), 400},
        {"Connection: te",
         req("GET / HTTP/1.1", "Host: p\r\nConnection: close, transfer-encoding\r\n"), 400},
        {"Connection: x-forwarded-for ok",
         req("GET / HTTP/1.1", "Host: p\r\nConnection: X-Forwarded-For\r\n"), 0},
        // WebSocket
        {"ws ok", req("GET /bbb-01/html5client/ws HTTP/1.1", ws), 0},
        {"ws HEAD", req("HEAD /bbb-01/html5client/ws HTTP/1.1", ws), 400},
        {"ws 1.0", req("GET /ws HTTP/1.0", ws), 400},
        {"ws no connection upgrade",
         req("GET /ws HTTP/1.1",
             std::string("Host: p\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n"
                         "Sec-WebSocket-Key: ") +
                 key + "\r\n"),
         400},
        {"ws version 8",
         req("GET /ws HTTP/1.1",
             std::string("Host: p\r\nUpgrade: websocket\r\nConnection: upgrade\r\n"
                         "Sec-WebSocket-Version: 8\r\nSec-WebSocket-Key: ") +
                 key + "\r\n"),
         400},
        {"ws bad key",
         req("GET /ws HTTP/1.1",
             "Host: p\r\nUpgrade: websocket\r\nConnection: upgrade\r\n"
             "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: short\r\n"),
         400},
        {"ws two keys", req("GET /ws HTTP/1.1", ws + "Sec-WebSocket-Key: " + key + "\r\n"), 400},
        {"upgrade h2c ignored",
         req("GET / HTTP/1.1", "Host: p\r\nUpgrade: h2c\r\nConnection: Upgrade\r\n"), 0},
    };
    for (const auto& c : cases) {
        std::unique_ptr<gated> h;
        const auto g = run_gate(c.raw, h);
        EXPECT_EQ(g.status, c.status) << c.name << " (" << g.reason << ")";
        if (c.status != 0) {
            EXPECT_FALSE(g.keep_alive) << c.name;
            EXPECT_FALSE(g.reason.empty()) << c.name;
        }
    }
}

TEST(Gate, WebSocketFlag) {
    std::unique_ptr<gated> h;
    const auto g = run_gate(
        req("GET /bbb-01/html5client/ws HTTP/1.1",
            std::string("Host: p\r\nUpgrade: WebSocket\r\nConnection: keep-alive, Upgrade\r\n"
                        "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: ") +
                key + "\r\n"),
        h);
    EXPECT_EQ(g.status, 0u);
    EXPECT_TRUE(g.websocket);
}

TEST(Gate, ServerNames) {
    gate_options o;
    o.server_names = {"proxy.example.com"};
    std::unique_ptr<gated> h;
    EXPECT_EQ(run_gate(req("GET / HTTP/1.1", "Host: proxy.example.com\r\n"), h, o).status, 0u);
    EXPECT_EQ(run_gate(req("GET / HTTP/1.1", "Host: PROXY.example.com:443\r\n"), h, o).status, 0u);
    EXPECT_EQ(run_gate(req("GET / HTTP/1.1", "Host: bbb-01.example.com\r\n"), h, o).status, 421u);
    EXPECT_EQ(run_gate(req("GET / HTTP/1.1", "Host: 127.0.0.1\r\n"), h, o).status, 421u);
}

TEST(Gate, HopByHop) {
    for (const char* n : {"Connection", "keep-alive", "Proxy-Connection", "TE", "Trailer",
                          "Transfer-Encoding", "UPGRADE"}) {
        EXPECT_TRUE(is_hop_by_hop(n)) << n;
    }
    EXPECT_FALSE(is_hop_by_hop("Cookie"));
    EXPECT_FALSE(is_hop_by_hop("Sec-WebSocket-Key"));
}

// The overload for a node's response fields (by Beast's field code) names the same set.
TEST(Gate, HopByHopByFieldCodeIsTheSameSet) {
    using boost::beast::http::field;
    int hop = 0;
    for (int i = 1; i <= static_cast<int>(field::xref); ++i) {
        const auto f = static_cast<field>(i);
        const std::string_view name = boost::beast::http::to_string(f);
        EXPECT_EQ(is_hop_by_hop(f), is_hop_by_hop(name)) << name;
        hop += is_hop_by_hop(f) ? 1 : 0;
    }
    EXPECT_EQ(hop, 7);
    EXPECT_FALSE(is_hop_by_hop(field::unknown));
}

TEST(Gate, WebSocketAcceptMatchesRfc6455Example) {
    EXPECT_EQ(websocket_accept(key), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
}

// The one exception to GET/HEAD (docs/security.md "POST"): the node table's allowance decides
// whether a POST may pass at all; then its body must be announced by exactly one plain
// Content-Length within the limit, with a JSON or text type.
TEST(GatePost, RefusedWithoutAnAllowanceWhateverItsFraming) {
    std::unique_ptr<gated> h;
    const std::string line = "POST /bbb-01/html5client/feedback HTTP/1.1";
    for (const std::string& headers :
         {std::string("Host: p\r\nContent-Length: 2\r\nContent-Type: application/json\r\n"),
          std::string("Host: p\r\nTransfer-Encoding: chunked\r\n"), std::string("Host: p\r\n"),
          std::string("Host: p\r\nContent-Length: 999999999\r\n")}) {
        EXPECT_EQ(run_gate(req(line, headers), h).status, 405u) << headers;
    }
}

TEST(GatePost, AllowedPostCarriesItsBodyLength) {
    std::unique_ptr<gated> h;
    const post_allowance allowed{true, 65'536};
    auto g = run_gate(req("POST /bbb-01/html5client/__meteor__/dynamic-import/fetch HTTP/1.1",
                          "Host: p\r\nContent-Length: 42\r\n"
                          "Content-Type: text/plain;charset=UTF-8\r\n"),
                      h, {}, allowed);
    EXPECT_EQ(g.status, 0u) << g.reason;
    EXPECT_TRUE(g.post);
    EXPECT_EQ(g.body_length, 42u);
    EXPECT_FALSE(g.expect_continue);
    EXPECT_TRUE(g.keep_alive);
    EXPECT_FALSE(g.head_method);
    EXPECT_EQ(g.target.second, "html5client");
    // GET stays body-less even where POST is allowed.
    g = run_gate(
        req("GET /bbb-01/html5client/feedback HTTP/1.1", "Host: p\r\nContent-Length: 2\r\n"), h, {},
        allowed);
    EXPECT_EQ(g.status, 400u);
    EXPECT_FALSE(g.post);
}

TEST(GatePost, FramingAndTypeRules) {
    const post_allowance allowed{true, 1024};
    const std::string line = "POST /bbb-01/html5client/feedback HTTP/1.1";
    const std::string json = "Content-Type: application/json\r\n";
    const std::vector<gate_case> cases{
        {"exact limit", req(line, "Host: p\r\nContent-Length: 1024\r\n" + json), 0},
        {"empty body", req(line, "Host: p\r\nContent-Length: 0\r\n" + json), 0},
        {"json with charset",
         req(line,
             "Host: p\r\nContent-Length: 2\r\nContent-Type: Application/JSON ; charset=utf-8\r\n"),
         0},
        {"one over the limit", req(line, "Host: p\r\nContent-Length: 1025\r\n" + json), 413},
        {"huge length", req(line, "Host: p\r\nContent-Length: 99999999999999999\r\n" + json), 413},
        {"length beyond 18 digits",
         req(line, "Host: p\r\nContent-Length: 9999999999999999999999\r\n" + json), 400},
        {"no length", req(line, "Host: p\r\n" + json), 411},
        {"chunked", req(line, "Host: p\r\nTransfer-Encoding: chunked\r\n" + json), 400},
        {"CL and TE",
         req(line, "Host: p\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n" + json), 400},
        {"TE identity",
         req(line, "Host: p\r\nContent-Length: 2\r\nTransfer-Encoding: identity\r\n" + json), 400},
        {"two lengths", req(line, "Host: p\r\nContent-Length: 2\r\nContent-Length: 2\r\n" + json),
         400},
        {"length list", req(line, "Host: p\r\nContent-Length: 2, 2\r\n" + json), 400},
        {"signed length", req(line, "Host: p\r\nContent-Length: +2\r\n" + json), 400},
        {"hex length", req(line, "Host: p\r\nContent-Length: 0x2\r\n" + json), 400},
        {"underscore TE",
         req(line, "Host: p\r\nContent-Length: 2\r\nTransfer_Encoding: chunked\r\n" + json), 400},
        {"no type", req(line, "Host: p\r\nContent-Length: 2\r\n"), 415},
        {"form type",
         req(line,
             "Host: p\r\nContent-Length: 2\r\nContent-Type: application/x-www-form-urlencoded\r\n"),
         415},
        {"multipart",
         req(line,
             "Host: p\r\nContent-Length: 2\r\nContent-Type: multipart/form-data; boundary=x\r\n"),
         415},
        {"json prefix trick",
         req(line, "Host: p\r\nContent-Length: 2\r\nContent-Type: application/jsonx\r\n"), 415},
        {"two types", req(line, "Host: p\r\nContent-Length: 2\r\n" + json + json), 415},
        {"expect continue",
         req(line, "Host: p\r\nContent-Length: 2\r\nExpect: 100-continue\r\n" + json), 0},
        {"other expectation",
         req(line, "Host: p\r\nContent-Length: 2\r\nExpect: 200-ok\r\n" + json), 417},
        {"websocket over POST",
         req(line,
             "Host: p\r\nContent-Length: 0\r\nConnection: Upgrade\r\nUpgrade: "
             "websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: " +
                 std::string(key) + "\r\n" + json),
         400},
        {"connection names length",
         req(line, "Host: p\r\nContent-Length: 2\r\nConnection: content-length\r\n" + json), 400},
        {"bad host", req(line, "Host: a b\r\nContent-Length: 2\r\n" + json), 400},
        {"lower-case method",
         req("post /bbb-01/html5client/feedback HTTP/1.1",
             "Host: p\r\nContent-Length: 2\r\n" + json),
         405},
    };
    for (const auto& c : cases) {
        std::unique_ptr<gated> h;
        const auto g = run_gate(c.raw, h, {}, allowed);
        EXPECT_EQ(g.status, c.status) << c.name << ": " << g.reason;
        if (c.status != 0) {
            EXPECT_FALSE(g.keep_alive) << c.name;  // the body was not read: the connection ends
            EXPECT_FALSE(g.post) << c.name;
        }
    }
}

TEST(GatePost, ExpectContinueOnlyForHttp11) {
    std::unique_ptr<gated> h;
    const post_allowance allowed{true, 1024};
    const std::string fields =
        "Host: p\r\nContent-Length: 2\r\nExpect: 100-Continue\r\nContent-Type: text/plain\r\n";
    EXPECT_TRUE(run_gate(req("POST /a/b/c HTTP/1.1", fields), h, {}, allowed).expect_continue);
    // HTTP/1.0 clients cannot take a 1xx (RFC 9110 §15.2): the body is simply read.
    const auto g = run_gate(req("POST /a/b/c HTTP/1.0", fields), h, {}, allowed);
    EXPECT_EQ(g.status, 0u);
    EXPECT_FALSE(g.expect_continue);
}

TEST(GatePost, MediaTypes) {
    EXPECT_TRUE(is_post_media_type("application/json"));
    EXPECT_TRUE(is_post_media_type("text/plain;charset=UTF-8"));
    EXPECT_TRUE(is_post_media_type(" TEXT/PLAIN "));
    EXPECT_FALSE(is_post_media_type(""));
    EXPECT_FALSE(is_post_media_type("text/html"));
    EXPECT_FALSE(is_post_media_type("application/json-patch+json"));
    EXPECT_FALSE(is_post_media_type("text/plain, application/json"));
}

}  // namespace
}  // namespace bcp::http
