#include "http/request_head.hpp"

#include <gtest/gtest.h>

#include <string>

namespace bcp::http {
namespace {

struct parse_case {
    const char* name;
    std::string raw;
    parse_state state;
    unsigned status;
};

parse_result parse(const std::string& raw, request_head& head, head_limits limits = {}) {
    return parse_request_head(raw, limits, head);
}

TEST(RequestHead, ParsesSimpleGet) {
    request_head h;
    const std::string raw =
        "GET /bbb-01/html5client/ HTTP/1.1\r\nHost: proxy.example.com\r\nAccept:  */* \r\n\r\nrest";
    const auto r = parse(raw, h);
    ASSERT_EQ(r.state, parse_state::complete);
    EXPECT_EQ(h.method, "GET");
    EXPECT_EQ(h.target, "/bbb-01/html5client/");
    EXPECT_EQ(h.version, 11u);
    ASSERT_EQ(h.fields.size(), 2u);
    EXPECT_EQ(h.fields[1].name, "Accept");
    EXPECT_EQ(h.fields[1].value, "*/*");
    EXPECT_EQ(h.size, raw.size() - 4);
    EXPECT_EQ(h.find("HOST"), "proxy.example.com");
    EXPECT_EQ(h.count("host"), 1u);
    EXPECT_EQ(h.find("missing").data(), nullptr);
}

TEST(RequestHead, NeedsMoreUntilEmptyLine) {
    request_head h;
    EXPECT_EQ(parse("GET / HTTP/1.1\r\nHost: a\r\n", h).state, parse_state::need_more);
    EXPECT_EQ(parse("GET / HTTP/1.1\r\nHost: a\r\n\r", h).state, parse_state::need_more);
    EXPECT_EQ(parse("GET / HTTP/1.1\r\nHost: a\r\n\r\n", h).state, parse_state::complete);
    EXPECT_EQ(parse("", h).state, parse_state::need_more);
}

TEST(RequestHead, SkipsLeadingEmptyLines) {
    request_head h;
    const std::string raw = "\r\n\r\nGET / HTTP/1.0\r\n\r\n";
    ASSERT_EQ(parse(raw, h).state, parse_state::complete);
    EXPECT_EQ(h.version, 10u);
    EXPECT_EQ(h.size, raw.size());
}

TEST(RequestHead, RejectsMalformedHeads) {
    const parse_case cases[] = {
        {"obs-fold", "GET / HTTP/1.1\r\nHost: a\r\nX-A: b\r\n  c\r\n\r\n", parse_state::invalid,
         400},
        {"obs-fold tab", "GET / HTTP/1.1\r\nHost: a\r\n\tX: c\r\n\r\n", parse_state::invalid, 400},
        {"bare LF", "GET / HTTP/1.1\nHost: a\n\n", parse_state::invalid, 400},
        {"bare LF in header", "GET / HTTP/1.1\r\nHost: a\nX: b\r\n\r\n", parse_state::invalid, 400},
        {"bare CR", "GET / HTTP/1.1\r\nHost: a\rX: b\r\n\r\n", parse_state::invalid, 400},
        {"space before colon", "GET / HTTP/1.1\r\nHost : a\r\n\r\n", parse_state::invalid, 400},
        {"no colon", "GET / HTTP/1.1\r\nHost a\r\n\r\n", parse_state::invalid, 400},
        {"empty name", "GET / HTTP/1.1\r\n: a\r\n\r\n", parse_state::invalid, 400},
        {"NUL in value", std::string("GET / HTTP/1.1\r\nX: a\0b\r\n\r\n", 26), parse_state::invalid,
         400},
        {"DEL in value", "GET / HTTP/1.1\r\nX: a\x7f\r\n\r\n", parse_state::invalid, 400},
        {"two spaces", "GET  / HTTP/1.1\r\n\r\n", parse_state::invalid, 400},
        {"no version", "GET /\r\n\r\n", parse_state::invalid, 400},
        {"lower version", "GET / http/1.1\r\n\r\n", parse_state::invalid, 400},
        {"HTTP/2.0", "GET / HTTP/2.0\r\n\r\n", parse_state::invalid, 505},
        {"HTTP/0.9 style", "GET /\r\n", parse_state::invalid, 400},
        {"space in target", "GET /a b HTTP/1.1\r\n\r\n", parse_state::invalid, 400},
        {"tab in target", "GET /a\tb HTTP/1.1\r\n\r\n", parse_state::invalid, 400},
        {"utf8 in target", "GET /\xc3\xa9 HTTP/1.1\r\n\r\n", parse_state::invalid, 400},
        {"method with slash", "G/ET / HTTP/1.1\r\n\r\n", parse_state::invalid, 400},
        {"trailing junk after version", "GET / HTTP/1.1 x\r\n\r\n", parse_state::invalid, 400},
        {"name with space", "GET / HTTP/1.1\r\nX Y: a\r\n\r\n", parse_state::invalid, 400},
    };
    for (const auto& c : cases) {
        request_head h;
        const auto r = parse(c.raw, h);
        EXPECT_EQ(r.state, c.state) << c.name;
        EXPECT_EQ(r.status, c.status) << c.name;
        EXPECT_FALSE(r.reason.empty()) << c.name;
    }
}

TEST(RequestHead, RejectsBinaryBeforeTheLineEnds) {
    request_head h;
    const auto r = parse(std::string("\x16\x03\x01\x02\x00\x01", 6), h);
    EXPECT_EQ(r.state, parse_state::invalid);
    EXPECT_EQ(r.status, 400u);
    EXPECT_EQ(parse("GE", h).state, parse_state::need_more);
    EXPECT_EQ(parse("GET /bbb-01/html5cl", h).state, parse_state::need_more);
}

TEST(RequestHead, EnforcesLimits) {
    head_limits limits;
    limits.max_bytes = 200;
    limits.max_fields = 3;
    limits.max_target = 50;
    request_head h;
    EXPECT_EQ(parse("GET / HTTP/1.1\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n", h, limits).state,
              parse_state::complete);
    auto r = parse("GET / HTTP/1.1\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\n\r\n", h, limits);
    EXPECT_EQ(r.status, 431u);
    r = parse("GET /" + std::string(60, 'a') + " HTTP/1.1\r\n\r\n", h, limits);
    EXPECT_EQ(r.status, 414u);
    r = parse("GET / HTTP/1.1\r\nX: " + std::string(300, 'a'), h, limits);
    EXPECT_EQ(r.status, 431u);
    // A request line still arriving that is already longer than any allowed head.
    r = parse("GET /" + std::string(300, 'a'), h, limits);
    EXPECT_EQ(r.status, 414u);
}

TEST(RequestHead, ListTokens) {
    std::vector<std::string> tokens;
    for_each_list_token(" close ,, Upgrade,\tkeep-alive ",
                        [&](std::string_view t) { tokens.emplace_back(t); });
    EXPECT_EQ(tokens, (std::vector<std::string>{"close", "Upgrade", "keep-alive"}));
}

}  // namespace
}  // namespace bcp::http
