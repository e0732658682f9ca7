// Request path targets: the head parser + gate + upstream re-serialization, and the target
// validator (SECURITY.md "validate, don't normalize").
#include "entries.hpp"
#include "http/gate.hpp"
#include "http/request_head.hpp"
#include "http/response_reader.hpp"
#include "http/rewrite.hpp"
#include "http/target.hpp"

#include <array>
#include <cstdint>
#include <string>
#include <vector>

namespace bcp::fuzz {
namespace {

bool has_control(std::string_view v) {
    return v.find_first_of(std::string_view("\r\n\0", 3)) != std::string_view::npos;
}

bool is_ows(char c) {
    return c == ' ' || c == '\t';
}

// Invariants of a parsed head, whatever the gate decides.
void check_head(const http::request_head& head, std::string_view raw) {
    expect(head.size > 0 && head.size <= raw.size(), "head size within the input");
    expect(raw.substr(0, head.size).ends_with("\r\n\r\n") ||
               raw.substr(0, head.size).ends_with("\r\n"),
           "head ends with CRLF");
    expect(!head.method.empty() && !head.target.empty(), "method and target present");
    expect(head.version == 10 || head.version == 11, "version 1.0 or 1.1");
    for (const auto& f : head.fields) {
        expect(!f.name.empty(), "field name not empty");
        for (char c : f.name) {
            expect(http::is_tchar(c), "field name is a token", f.name);
        }
        expect(!has_control(f.value), "no CR/LF/NUL in a parsed field value", f.value);
        expect(f.value.empty() || (!is_ows(f.value.front()) && !is_ows(f.value.back())),
               "field value trimmed", f.value);
    }
}

// The request we send to a node: complete, one Host (ours), no hop-by-hop or spoofable field
// from the client, a target that passes check_target, and the gate passes it again.
void check_upstream(const http::request_head& client, const http::gate_result& gate,
                    const http::forward_context& ctx, const std::string& wire) {
    http::head_limits big;
    big.max_bytes = 1 << 20;
    big.max_fields = 1 << 12;
    big.max_target = 1 << 16;
    http::request_head up;
    const auto r = http::parse_request_head(wire, big, up);
    expect(r.state == http::parse_state::complete, "upstream request parses", wire);
    if (r.state != http::parse_state::complete) {
        return;
    }
    expect(up.size == wire.size(), "upstream request is exactly one head", wire);
    expect(up.method == client.method && up.target == client.target, "method and target kept");
    expect(up.version == 11, "upstream request is HTTP/1.1");
    expect(http::check_target(up.target).status == 0, "upstream target passes check_target",
           up.target);
    expect(up.count("host") == 1 && up.find("host") == ctx.upstream_authority, "exactly our Host",
           wire);
    expect(up.count("x-forwarded-for") == 1 && up.find("x-forwarded-for") == ctx.client_address,
           "exactly our X-Forwarded-For", wire);
    expect(up.count("x-forwarded-proto") == 1 && up.count("x-forwarded-host") == 1,
           "exactly one X-Forwarded-Proto/-Host", wire);
    // No Via (docs/security.md "Via"), and the node sees our Accept-Encoding or none.
    expect(up.count("via") == 0, "no Via", wire);
    expect(up.count("accept-encoding") == (ctx.accept_encoding.empty() ? 0u : 1u) &&
               (ctx.accept_encoding.empty() || up.find("accept-encoding") == ctx.accept_encoding),
           "exactly our Accept-Encoding", wire);
    for (const char* name :
         {"transfer-encoding", "te", "trailer", "keep-alive", "proxy-connection", "forwarded",
          "x-real-ip", "expect", "proxy-authorization", "x-forwarded-port"}) {
        expect(up.count(name) == 0, "dropped field forwarded", name);
    }
    // A body's length is ours (an allowed POST), never the client's field.
    if (gate.post) {
        expect(up.count("content-length") == 1 &&
                   up.find("content-length") == std::to_string(gate.body_length),
               "exactly our Content-Length on a POST", wire);
    } else {
        expect(up.count("content-length") == 0, "no Content-Length without a body", wire);
    }
    if (gate.websocket) {
        expect(up.count("connection") == 1 && up.find("connection") == "Upgrade" &&
                   up.count("upgrade") == 1 && up.find("upgrade") == "websocket",
               "WebSocket upgrade carries exactly our Connection/Upgrade", wire);
    } else {
        expect(up.count("connection") == 0 && up.count("upgrade") == 0,
               "no Connection/Upgrade on a plain request", wire);
    }
    for (const auto& f : up.fields) {
        expect(!has_control(f.value), "no CR/LF/NUL in an upstream field value", f.value);
    }
    // A field the client nominated in Connection is gone, unless it is one we generate.
    static constexpr std::array ours{
        "host",       "x-forwarded-for", "x-forwarded-proto", "x-forwarded-host", "accept-encoding",
        "connection", "upgrade"};
    for (const auto& f : client.fields) {
        if (!http::iequals(f.name, "connection")) {
            continue;
        }
        http::for_each_list_token(f.value, [&](std::string_view token) {
            for (const char* o : ours) {
                if (http::iequals(token, o)) {
                    return;
                }
            }
            expect(up.count(token) == 0, "field nominated in Connection forwarded", token);
        });
    }
    // What we send must itself pass the gate, with the same WebSocket decision.
    const auto again = http::inspect(up, {}, {gate.post, gate.body_length});
    expect(again.status == 0, "upstream request passes the gate", again.reason);
    expect(again.websocket == gate.websocket, "WebSocket decision stable");
}

}  // namespace

// Raw bytes → parse_request_head → inspect → build_upstream_request.
void request_gate(const std::uint8_t* data, std::size_t size) {
    const std::string_view raw(reinterpret_cast<const char*>(data), size);
    http::head_limits limits;
    limits.max_bytes = 4096;
    limits.max_fields = 32;
    limits.max_target = 1024;
    http::request_head head;
    const auto parsed = http::parse_request_head(raw, limits, head);
    if (parsed.state == http::parse_state::invalid) {
        expect(parsed.status == 400 || parsed.status == 414 || parsed.status == 431 ||
                   parsed.status == 505,
               "parser refuses with 400/414/431/505");
        expect(!parsed.reason.empty(), "parser refusal has a reason");
        return;
    }
    if (parsed.state == http::parse_state::need_more) {
        expect(raw.size() < limits.max_bytes, "need_more only below the head limit");
        return;
    }
    check_head(head, raw);

    // Reading in pieces must not change the verdict: every shorter prefix still needs more, and
    // the head alone parses to the same result.
    for (std::size_t cut : {head.size - 1, head.size / 2, head.size / 3, std::size_t{1}}) {
        if (cut == 0 || cut >= head.size) {
            continue;
        }
        http::request_head partial;
        const auto p = http::parse_request_head(raw.substr(0, cut), limits, partial);
        expect(p.state == http::parse_state::need_more, "a prefix of a valid head needs more",
               raw.substr(0, cut));
    }
    http::request_head alone;
    const auto a = http::parse_request_head(raw.substr(0, head.size), limits, alone);
    expect(a.state == http::parse_state::complete && alone.size == head.size &&
               alone.fields.size() == head.fields.size(),
           "the head alone parses the same");

    http::gate_options open;
    http::gate_options named;
    named.server_names = {"proxy.example.com", "bbb.example.org"};
    // Without and with the POST allowance the node table gives its allowlisted paths.
    const http::post_allowance no_post;
    const http::post_allowance post{true, 1024};
    for (const auto& [options, allowance] :
         {std::pair{&open, &no_post}, std::pair{&named, &no_post}, std::pair{&open, &post}}) {
        const auto gate = http::inspect(head, *options, *allowance);
        if (gate.status != 0) {
            expect(gate.status == 400 || gate.status == 405 || gate.status == 414 ||
                       gate.status == 421 || gate.status == 411 || gate.status == 413 ||
                       gate.status == 415 || gate.status == 417,
                   "gate refuses with 400/405/411/413/414/415/417/421");
            expect(!gate.reason.empty() && !gate.keep_alive, "refusal has a reason and closes");
            continue;
        }
        expect(head.count("host") <= 1 && head.count("transfer-encoding") == 0,
               "at most one Host, no Transfer-Encoding");
        if (head.method == "POST") {
            expect(allowance->allowed && gate.post, "POST passes only where it is allowed");
            // 1*DIGIT (RFC 9110 §8.6), leading zeros included: "08" is 8.
            const auto cl = head.find("content-length");
            std::uint64_t value = 0;
            bool digits = !cl.empty() && cl.size() <= 18;
            for (const char c : cl) {
                digits = digits && c >= '0' && c <= '9';
                value = value * 10 + static_cast<std::uint64_t>(c - '0');
            }
            expect(head.count("content-length") == 1 && digits && value == gate.body_length &&
                       gate.body_length <= allowance->max_body,
                   "a POST body has one plain Content-Length within the limit");
            expect(head.count("content-type") == 1 &&
                       http::is_post_media_type(head.find("content-type")),
                   "a POST body is JSON or text");
        } else {
            expect(head.method == "GET" || head.method == "HEAD", "only GET/HEAD (and POST) pass");
            expect(!gate.post, "no body but a POST's");
            expect(head.count("content-length") == 0 || head.find("content-length") == "0",
                   "no request body");
        }
        expect(http::check_target(head.target).status == 0, "target passes check_target");
        http::forward_context ctx{"10.0.0.5:8443", "192.0.2.7", true, "proxy.example.com"};
        // The proxy replaces a client's Accept-Encoding with its own (gzip or none).
        if (head.count("accept-encoding") != 0) {
            ctx.accept_encoding = "gzip";
        }
        if (gate.post) {
            ctx.content_length = gate.body_length;
        }
        std::string wire;
        http::build_upstream_request(head, gate, ctx, wire);
        check_upstream(head, gate, ctx, wire);
    }
}

namespace {

bool is_hex(char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

int hex(char c) {
    return c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10;
}

}  // namespace

// check_target alone: an accepted target can never be read as another path by a node that
// decodes or normalizes it.
void target_validator(const std::uint8_t* data, std::size_t size) {
    const std::string_view t(reinterpret_cast<const char*>(data), size);
    const auto r = http::check_target(t);
    if (r.status != 0) {
        expect(r.status == 400 && !r.reason.empty(), "refusal is a 400 with a reason");
        return;
    }
    expect(!t.empty() && t.front() == '/', "origin-form", t);
    for (char c : t) {
        const auto u = static_cast<unsigned char>(c);
        expect(u > 0x20 && u < 0x7f && c != '\\' && c != '#', "only visible ASCII, no \\ or #", t);
    }
    // Percent-decode the whole target: well-formed escapes only; none in the path may decode to
    // '/', '\\', '.', NUL, '?' or '#', none in the query to '\\' or NUL.
    const auto qmark = t.find('?');
    std::string decoded;
    for (std::size_t i = 0; i < t.size(); ++i) {
        if (t[i] != '%') {
            decoded += t[i];
            continue;
        }
        expect(i + 2 < t.size() && is_hex(t[i + 1]) && is_hex(t[i + 2]),
               "well-formed percent-encoding", t);
        if (i + 2 >= t.size()) {
            return;
        }
        const char byte = static_cast<char>(hex(t[i + 1]) * 16 + hex(t[i + 2]));
        const bool in_query = qmark != std::string_view::npos && i > qmark;
        expect(byte != '\\' && byte != '\0', "no encoded backslash or NUL", t);
        expect(in_query || (byte != '/' && byte != '.' && byte != '?' && byte != '#'),
               "no encoded slash, dot, '?' or '#' in the path", t);
        decoded += byte;
        i += 2;
    }
    // The path (decoded or not) has no empty inner segment and no dot segment.
    const auto q = qmark;
    expect(r.path == t.substr(0, q), "path is the part before '?'");
    expect(q == std::string_view::npos ? r.query.empty() : r.query == t.substr(q + 1),
           "query is the part after '?'");
    const std::string_view dpath = std::string_view(decoded).substr(0, decoded.find('?'));
    std::size_t index = 0;
    std::string_view rest = dpath.substr(1);
    while (true) {
        const auto slash = rest.find('/');
        const auto segment = rest.substr(0, slash);
        expect(segment != "." && segment != "..", "no dot segment", t);
        expect(!segment.empty() || slash == std::string_view::npos, "no empty inner segment", t);
        if (slash == std::string_view::npos) {
            break;
        }
        rest.remove_prefix(slash + 1);
        ++index;
    }
    // first/second are the raw first two segments.
    std::string_view raw_rest = r.path.substr(1);
    const auto s1 = raw_rest.find('/');
    expect(r.first == raw_rest.substr(0, s1), "first segment", t);
    if (s1 != std::string_view::npos) {
        const auto after = raw_rest.substr(s1 + 1);
        expect(r.second == after.substr(0, after.find('/')), "second segment", t);
    } else {
        expect(r.second.empty(), "no second segment", t);
    }
}

namespace {

// What a response_reader reported, in order; body pieces joined (their split depends on the
// feeding).
struct reader_record final : http::response_reader::events {
    std::vector<std::string> heads;  // "status|informational|end|name:value|..."
    std::string body;
    bool after_final_head = false;
    int ends = 0;
    std::string length;    // the final head's Content-Length value, if it has one
    bool chunked = false;  // the final head has a Transfer-Encoding
    unsigned status = 0;   // the final head's

    void head(unsigned status_code, std::span<const http::field_view> fields, bool informational,
              bool end) override {
        expect(ends == 0, "no head after the end");
        expect(!after_final_head, "no head after the final head");
        expect(status_code >= 100 && status_code <= 999 && status_code != 101,
               "a status of three digits, not 101");
        expect(!informational || status_code < 200, "only a 1xx is informational");
        expect(!informational || !end, "a 1xx does not end the response");
        std::string h =
            std::to_string(status_code) + (informational ? "|1" : "|0") + (end ? "|1" : "|0");
        for (const auto& f : fields) {
            expect(!f.name.empty(), "field name not empty");
            for (const char c : f.name) {
                expect(http::is_tchar(c), "field name is a token", f.name);
            }
            for (const char c : f.value) {
                expect(http::is_field_value_byte(static_cast<unsigned char>(c)),
                       "field value bytes only", f.value);
            }
            expect(f.value.empty() || (!is_ows(f.value.front()) && !is_ows(f.value.back())),
                   "field value trimmed", f.value);
            h.append("|").append(f.name).append(":").append(f.value);
            if (!informational && http::iequals(f.name, "content-length")) {
                length = f.value;
            }
            chunked = chunked || (!informational && http::iequals(f.name, "transfer-encoding"));
        }
        heads.push_back(std::move(h));
        after_final_head = !informational;
        status = informational ? status : status_code;
        ends += end ? 1 : 0;
    }
    void data(std::string_view bytes, bool end) override {
        expect(ends == 0, "no data after the end");
        expect(after_final_head, "body bytes only after the final head");
        body.append(bytes);
        ends += end ? 1 : 0;
    }
};

}  // namespace

// http::response_reader (the HTTP/2 stream's response, read back): the input after its first
// byte, fed whole and in pieces of 1 + (first byte % 16) bytes (bit 7: a HEAD request). Both
// feedings report the same heads, body and end, and fail at the same point; events obey the
// order head* (1xx), final head, data*, and at most one end; a body delimited by
// Content-Length has exactly that many bytes once ended.
void response_reader(const std::uint8_t* data, std::size_t size) {
    if (size == 0) {
        return;
    }
    const bool head_method = (data[0] & 0x80) != 0;
    const std::size_t step = 1 + (data[0] % 16);
    const std::string_view in(reinterpret_cast<const char*>(data) + 1, size - 1);
    http::response_reader whole(head_method, 4096);
    reader_record a;
    const bool ok_whole = whole.feed(in, a);
    http::response_reader pieces(head_method, 4096);
    reader_record b;
    bool ok_pieces = true;
    for (std::size_t i = 0; i < in.size() && ok_pieces; i += step) {
        ok_pieces = pieces.feed(in.substr(i, step), b);
    }
    expect(ok_whole == ok_pieces, "the split does not change the verdict", in);
    expect(whole.done() == pieces.done(), "the split does not change the end", in);
    expect(a.ends <= 1 && b.ends <= 1, "at most one end");
    expect(whole.done() == (a.ends == 1), "done() is the end reported");
    if (ok_whole) {
        expect(a.heads == b.heads, "the split does not change the heads", in);
        expect(a.body == b.body, "the split does not change the body", in);
    }
    if (whole.done() && !head_method && a.status != 204 && a.status != 304 && !a.chunked &&
        !a.length.empty() && a.length.size() < 10 &&
        a.length.find_first_not_of("0123456789") == std::string::npos) {
        // A Content-Length the reader accepted is exactly the body it handed out.
        expect(a.body.size() == std::stoull(a.length), "Content-Length bytes of body", in);
    }
}

}  // namespace bcp::fuzz
