// SECURITY.md's catalogue against the real server: every hostile request gets its status, the
// refusal is counted by reason, and nothing reaches a node (the simulated nodes count every
// request and connection they receive). One table; docs/security.md records its size.
#include "harness.hpp"

#include <gtest/gtest.h>

#include <map>

namespace bcp::test {
namespace {

struct hostile {
    std::string group;
    std::string name;
    std::string raw;
    unsigned status;
};

const std::string key = "dGhlIHNhbXBsZSBub25jZQ==";
const std::string host_line = "Host: proxy.example.com\r\n";
const std::string mount = "/bbb-01/html5client/";

std::string get(const std::string& target, const std::string& extra = {}) {
    return "GET " + target + " HTTP/1.1\r\n" + host_line + extra + "\r\n";
}
std::string line(const std::string& request_line, const std::string& extra = {}) {
    return request_line + "\r\n" + host_line + extra + "\r\n";
}
std::string ws(const std::string& extra) {
    return get(mount + "ws", extra);
}
std::string repeat_headers(int n, std::size_t value_size = 1) {
    std::string out;
    for (int i = 0; i < n; ++i) {
        out += "X-" + std::to_string(i) + ": " + std::string(value_size, 'v') + "\r\n";
    }
    return out;
}

// `other_node` is "127.0.0.1:PORT" of a real node: Host must never route (SECURITY.md).
std::vector<hostile> catalogue(const std::string& other_node) {
    std::vector<hostile> t;
    std::string group;
    auto add = [&](std::string name, std::string raw, unsigned status) {
        t.push_back({group, std::move(name), std::move(raw), status});
    };
    const std::string p = mount;
    const std::string nul(1, '\0');

    group = "smuggling";  // no request body is ever accepted, in any spelling
    add("CL body", get(p, "Content-Length: 5\r\n") + "hello", 400);
    add("CL 1 without body", get(p, "Content-Length: 1\r\n"), 400);
    add("CL smuggles a request",
        get(p, "Content-Length: 44\r\n") + "GET /bbb-01/html5client/x HTTP/1.1\r\nHost: a\r\n\r\n",
        400);
    add("CL empty", get(p, "Content-Length:\r\n"), 400);
    add("CL signed +0", get(p, "Content-Length: +0\r\n"), 400);
    add("CL signed -0", get(p, "Content-Length: -0\r\n"), 400);
    add("CL negative", get(p, "Content-Length: -1\r\n"), 400);
    add("CL hex", get(p, "Content-Length: 0x00\r\n"), 400);
    add("CL leading zero", get(p, "Content-Length: 00\r\n"), 400);
    add("CL decimal point", get(p, "Content-Length: 0.0\r\n"), 400);
    add("CL exponent", get(p, "Content-Length: 0e1\r\n"), 400);
    add("CL list", get(p, "Content-Length: 0, 0\r\n"), 400);
    add("CL list differing", get(p, "Content-Length: 0, 5\r\n"), 400);
    add("CL 2^32", get(p, "Content-Length: 4294967296\r\n"), 400);
    add("CL fullwidth zero", get(p, "Content-Length: \xef\xbc\x90\r\n"), 400);
    add("CL NUL after", get(p, "Content-Length: 0" + nul + "\r\n"), 400);
    add("CL duplicate", get(p, "Content-Length: 0\r\nContent-Length: 0\r\n"), 400);
    add("CL duplicate differing", get(p, "Content-Length: 0\r\nContent-Length: 7\r\n"), 400);
    add("CL lower-case duplicate", get(p, "Content-Length: 0\r\ncontent-length: 3\r\n"), 400);
    add("CL space before colon", get(p, "Content-Length : 0\r\n"), 400);
    add("CL tab before colon", get(p, "Content-Length\t: 0\r\n"), 400);
    add("CL underscore", get(p, "Content_Length: 5\r\n") + "hello", 400);
    add("CL in HTTP/1.0", "GET " + p + " HTTP/1.0\r\nContent-Length: 5\r\n\r\nhello", 400);
    add("TE chunked", get(p, "Transfer-Encoding: chunked\r\n") + "0\r\n\r\n", 400);
    add("TE Chunked", get(p, "Transfer-Encoding: Chunked\r\n") + "0\r\n\r\n", 400);
    add("TE CHUNKED", get(p, "Transfer-Encoding: CHUNKED\r\n") + "0\r\n\r\n", 400);
    add("TE name upper-case", get(p, "TRANSFER-ENCODING: chunked\r\n") + "0\r\n\r\n", 400);
    add("TE name lower-case", get(p, "transfer-encoding: chunked\r\n") + "0\r\n\r\n", 400);
    add("TE chunked, gzip", get(p, "Transfer-Encoding: chunked, gzip\r\n"), 400);
    add("TE gzip, chunked", get(p, "Transfer-Encoding: gzip, chunked\r\n") + "0\r\n\r\n", 400);
    add("TE gzip + CL", get(p, "Transfer-Encoding: gzip\r\nContent-Length: 3\r\n") + "abc", 400);
    add("TE identity", get(p, "Transfer-Encoding: identity\r\n"), 400);
    add("TE empty", get(p, "Transfer-Encoding:\r\n"), 400);
    add("TE comma only", get(p, "Transfer-Encoding: ,\r\n"), 400);
    add("TE xchunked", get(p, "Transfer-Encoding: xchunked\r\n"), 400);
    add("TE quoted", get(p, "Transfer-Encoding: \"chunked\"\r\n"), 400);
    add("TE tab value", get(p, "Transfer-Encoding:\tchunked\r\n") + "0\r\n\r\n", 400);
    add("TE vertical tab",
        get(p,
            "Transfer-Encoding: \x0b"
            "chunked\r\n"),
        400);
    add("TE form feed",
        get(p,
            "Transfer-Encoding: \x0c"
            "chunked\r\n"),
        400);
    add("TE NUL", get(p, "Transfer-Encoding: chunked" + nul + "\r\n"), 400);
    add("TE twice", get(p, "Transfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n"), 400);
    add("TE underscore", get(p, "Transfer_Encoding: chunked\r\n") + "0\r\n\r\n", 400);
    add("TE space before colon", get(p, "Transfer-Encoding : chunked\r\n"), 400);
    add("TE name then colon line", get(p, "Transfer-Encoding\r\n: chunked\r\n"), 400);
    add("TE obs-fold value", get(p, "Transfer-Encoding: gzip\r\n chunked\r\n") + "0\r\n\r\n", 400);
    add("TE folded after other", get(p, "X-A: 1\r\n Transfer-Encoding: chunked\r\n"), 400);
    add("TE as first header, leading space",
        "GET " + p + " HTTP/1.1\r\n Transfer-Encoding: chunked\r\n" + host_line + "\r\n", 400);
    add("CL + TE", get(p, "Content-Length: 4\r\nTransfer-Encoding: chunked\r\n") + "0\r\n\r\n",
        400);
    add("TE + CL", get(p, "Transfer-Encoding: chunked\r\nContent-Length: 4\r\n") + "0\r\n\r\n",
        400);
    add("CL 0 + TE", get(p, "Content-Length: 0\r\nTransfer-Encoding: chunked\r\n"), 400);
    add("TE smuggles a request",
        get(p, "Transfer-Encoding: chunked\r\n") +
            "0\r\n\r\nGET /bbb-01/html5client/x HTTP/1.1\r\nHost: a\r\n\r\n",
        400);
    add("TE in HTTP/1.0", "GET " + p + " HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        400);
    add("TE chunked HEAD",
        "HEAD " + p + " HTTP/1.1\r\n" + host_line + "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        400);
    add("TE underscore lower-case", get(p, "transfer_encoding: chunked\r\n") + "0\r\n\r\n", 400);
    add("CL underscore lower-case", get(p, "content_length: 5\r\n") + "hello", 400);
    add("CL underscore zero", get(p, "Content_Length: 0\r\n"), 400);

    group = "header bytes";  // RFC 9112 field syntax; no guessing at what a node would read
    add("obs-fold", get(p, "X-A: 1\r\n\tcontinued\r\n"), 400);
    add("obs-fold space", get(p, "X-A: 1\r\n  continued\r\n"), 400);
    add("NUL in value", get(p, "X-A: a" + nul + "b\r\n"), 400);
    add("NUL in name", get(p, "X-" + nul + "A: b\r\n"), 400);
    add("bare CR in value", get(p, "X-A: a\rb\r\n"), 400);
    add("bare CR before CRLF", get(p, "X-A: a\r\r\n"), 400);
    add("bare LF in value", get(p, "X-A: a\nb: c\r\n"), 400);
    add("bare LF line ends", "GET " + p + " HTTP/1.1\n" + "Host: proxy.example.com\n\n", 400);
    add("bare LF after request line", "GET " + p + " HTTP/1.1\n" + host_line + "\r\n", 400);
    add("bare LF end of head", "GET " + p + " HTTP/1.1\r\n" + host_line + "\n", 400);
    add("DEL in value",
        get(p,
            "X-A: a\x7f"
            "b\r\n"),
        400);
    add("escape in value", get(p, "X-A: a\x1b[31m\r\n"), 400);
    add("backspace in value", get(p, "X-A: a\x08\r\n"), 400);
    add("space in name", get(p, "X A: b\r\n"), 400);
    add("empty name", get(p, ": b\r\n"), 400);
    add("no colon", get(p, "X-A b\r\n"), 400);
    add("non-ASCII name", get(p, "X-\xc3\xa9: b\r\n"), 400);
    add("quote in name", get(p, "X-\"A\": b\r\n"), 400);
    add("slash in name", get(p, "X/A: b\r\n"), 400);
    add("five leading empty lines", "\r\n\r\n\r\n\r\n\r\n" + get(p), 400);

    group = "request line";
    add("leading space", " " + get(p), 400);
    add("double space", line("GET  " + p + " HTTP/1.1"), 400);
    add("tab separators", line("GET\t" + p + "\tHTTP/1.1"), 400);
    add("space in target", line("GET " + p + "a b HTTP/1.1"), 400);
    add("trailing space", line("GET " + p + " HTTP/1.1 "), 400);
    add("no version", line("GET " + p), 400);
    add("lower-case version", line("GET " + p + " http/1.1"), 400);
    add("version HTTP/1", line("GET " + p + " HTTP/1"), 400);
    add("version HTTP/1.10", line("GET " + p + " HTTP/1.10"), 400);
    add("version HTTP/11.1", line("GET " + p + " HTTP/11.1"), 400);
    add("HTTP/0.9", line("GET " + p + " HTTP/0.9"), 505);
    add("HTTP/1.2", line("GET " + p + " HTTP/1.2"), 505);
    add("HTTP/2.0", line("GET " + p + " HTTP/2.0"), 505);
    add("HTTP/3.0", line("GET " + p + " HTTP/3.0"), 505);
    add("HTTP/2 preface", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 505);
    add("NUL in target", line("GET " + p + nul + " HTTP/1.1"), 400);
    add("raw UTF-8 in target", line("GET " + p + "\xc3\xa9 HTTP/1.1"), 400);
    add("raw overlong dot in target", line("GET " + p + "\xc0\xae\xc0\xae/ HTTP/1.1"), 400);
    add("DEL in target", line("GET " + p + "\x7f HTTP/1.1"), 400);
    add("TLS hello on plain port", std::string("\x16\x03\x01\x02\x00\x01\x00", 7), 400);
    add("binary garbage line", "\x16\x03\x01\x02\x05\x01\xfc\x03\x03\r\n\r\n", 400);
    add("SSH banner", "SSH-2.0-OpenSSH_9.2\r\n\r\n", 400);

    group = "methods";  // GET and HEAD only (SECURITY.md)
    for (const char* m :
         {"POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "PROPFIND", "MKCOL", "MOVE", "COPY",
          "LOCK", "BREW", "M-SEARCH", "get", "Get", "head", "GETS", "G"}) {
        add(std::string("method ") + m, line(std::string(m) + " " + p + " HTTP/1.1"), 405);
    }
    add("POST with CL 0", line("POST " + p + " HTTP/1.1", "Content-Length: 0\r\n"), 405);
    add("CONNECT authority", line("CONNECT bbb-01.example.com:443 HTTP/1.1"), 405);
    add("OPTIONS asterisk", line("OPTIONS * HTTP/1.1"), 405);
    add("method with slash", line("G/ET " + p + " HTTP/1.1"), 400);
    add("method with NUL", line("GE" + nul + "T " + p + " HTTP/1.1"), 400);

    group = "path escapes";  // validate, don't normalize
    for (const char* target : {
             "/bbb-01/html5client/%2e%2e/%2e%2e/admin",
             "/bbb-01/html5client/%2E%2E/%2E%2E/admin",
             "/bbb-01/html5client/.%2e/admin",
             "/bbb-01/html5client/%2e./admin",
             "/bbb-01/html5client/%2e/x",
             "/bbb-01%2fhtml5client/x",
             "/bbb-01%2Fhtml5client/x",
             "/bbb-01/html5client/..%2f..%2fsecret",
             "/bbb-01/html5client/..%2F..%2Fsecret",
             "/bbb-01/html5client/%2e%2e%2f%2e%2e%2fsecret",
             "/bbb-01/html5client/..%5c..%5cadmin",
             "/bbb-01/html5client/%5C",
             "/bbb-01/html5client/..\\..\\admin",
             "/bbb-01\\html5client/",
             "/bbb-01/html5client/../../admin",
             "/bbb-01/html5client/x/../../../etc/passwd",
             "/bbb-01/html5client/..",
             "/bbb-01/html5client/.",
             "/bbb-01/./html5client/",
             "/bbb-01/../bbb-02/html5client/",
             "/../bbb-01/html5client/",
             "/..",
             "/.",
             "//bbb-01/html5client/",
             "///etc/passwd",
             "/bbb-01//html5client/",
             "/bbb-01/html5client//etc/passwd",
             "/bbb-01/html5client/%00",
             "/bbb-01/html5client/x%00.js",
             "/bbb-01/html5client/%0d%0aSet-Cookie:%20a=1",
             "/bbb-01/html5client/%0a",
             "/bbb-01/html5client/%09",
             "/bbb-01/html5client/%1f",
             "/bbb-01/html5client/%7f",
             "/bbb-01/html5client/%252e%252e/%252e%252e/admin",
             "/bbb-01/html5client/%25",
             "/bbb-01/html5client/%zz",
             "/bbb-01/html5client/%4",
             "/bbb-01/html5client/%",
             "/bbb-01/html5client/%G0",
             "/bbb-01/html5client/%u002e%u002e/",
             "/bbb-01/html5client/%%32%65",
             "/bbb-01/html5client/%c0%ae%c0%ae/admin",
             "/bbb-01/html5client/%c0%af",
             "/bbb-01/html5client/%e0%80%ae",
             "/bbb-01/html5client/%f0%80%80%ae",
             "/bbb-01/html5client/%ed%a0%80",
             "/bbb-01/html5client/%f4%90%80%80",
             "/bbb-01/html5client/%ff",
             "/bbb-01/html5client/%c3",
             "/bbb-01/html5client/%80",
             "/bbb-01/html5client/..;/admin",
             "/bbb-01/html5client/.;/x",
             "/bbb-01/html5client/..%3b/admin",
             "/bbb-01/html5client/;/../admin",
             "/bbb-01/html5client/#frag",
             "/bbb-01/html5client/x#/../admin",
             "/bbb-01/html5client/<script>",
             "/bbb-01/html5client/\"x\"",
             "/bbb-01/html5client/a{b}",
             "/bbb-01/html5client/a|b",
             "/bbb-01/html5client/a^b",
             "/bbb-01/html5client/a`b",
             "/bbb-01/html5client/[x]",
             "/bbb-01/html5client/x?a=%00",
             "/bbb-01/html5client/x?a=%5c",
             "/bbb-01/html5client/x?a=%zz",
             "/bbb-01/html5client/x?a=%",
             "/bbb-01/html5client/x?a=\\",
             "/bbb-01/html5client/x?a=<b>",
             "/bbb-01/html5client/x?a=1#frag",
             "/bbb-01/html5client/..%2f?next=%2f",
         }) {
        add(target, get(target), 400);
    }

    group = "routing misses";  // answered 404 locally; the connection may stay open
    for (const char* target : {
             "/BBB-01/html5client/",
             "/bbb-01/HTML5CLIENT/",
             "/bbb-01/Html5client/",
             "/bbb-01/html5Client/",
             "/%62bb-01/html5client/",
             "/bbb%2d01/html5client/",
             "/bbb-01;x=1/html5client/",
             "/bbb-01;/html5client/",
             "/bbb-01/html5client;a=b/",
             "/bbb-01%3b/html5client/",
             "/bbb-01:443/html5client/",
             "/bbb-01@evil/html5client/",
             "/bbb-99/html5client/",
             "/bbb-01/bigbluebutton/api/create",
             "/bbb-01/",
             "/bbb-01",
             "/",
             "/html5client/",
             "/bbb-01/html5client.evil/",
             "/bbb-01/html5client~/",
         }) {
        add(target, get(target), 404);
    }

    group = "target forms";  // origin-form only
    for (const char* target : {
             "http://evil.example/bbb-01/html5client/",
             "https://evil.example/bbb-01/html5client/",
             "HTTP://evil.example/bbb-01/html5client/",
             "http://127.0.0.1/bbb-01/html5client/",
             "http://proxy.example.com/bbb-01/html5client/",
             "ws://evil.example/bbb-01/html5client/ws",
             "file:///etc/passwd",
             "bbb-01/html5client/",
             "bbb-01.example.com:443",
             "[::1]:443",
             "*",
             "*/bbb-01/html5client/",
             "?x=1",
         }) {
        add(std::string("target ") + target, get(target), 400);
    }
    add("absolute-form to another node", get("http://" + other_node + "/bbb-01/html5client/"), 400);

    group = "Host";  // exactly one valid Host, one of server_names; never used for routing
    add("no Host", "GET " + p + " HTTP/1.1\r\n\r\n", 400);
    add("two Hosts", get(p, "Host: evil.example\r\n"), 400);
    add("two Hosts same", get(p, host_line), 400);
    add("Host lower-case twice", get(p, "host: proxy.example.com\r\n"), 400);
    for (const char* value :
         {"", "a@evil.example", "user:pass@evil.example", "evil.example/x", "evil.example?x",
          "evil.example#x", "evil.example:", "evil.example:x", "evil.example:123456", "[::1",
          "[zz]:80", "evil example", "http://evil.example", "evil\\x", "a,b", "\xc3\xa9vil.example",
          "evil.example:80:80", ":80"}) {
        add(std::string("Host '") + value + "'",
            "GET " + p + " HTTP/1.1\r\nHost: " + value + "\r\n\r\n", 400);
    }
    for (const std::string& value :
         {std::string("evil.example"), std::string("bbb-01.example.com"), other_node,
          std::string("127.0.0.1"), std::string("proxy.example.com.evil.example"),
          std::string("[::1]:443"), std::string("localhost")}) {
        add("Host '" + value + "' (not a server name)",
            "GET " + p + " HTTP/1.1\r\nHost: " + value + "\r\n\r\n", 421);
    }

    group = "Connection";  // a client may not nominate framing or routing fields
    add("Connection: Host", get(p, "Connection: Host\r\n"), 400);
    add("Connection: host", get(p, "Connection: host\r\n"), 400);
    add("Connection: close, HOST", get(p, "Connection: close, HOST\r\n"), 400);
    add("Connection: Content-Length", get(p, "Connection: close, Content-Length\r\n"), 400);
    add("Connection: Transfer-Encoding", get(p, "Connection: Transfer-Encoding\r\n"), 400);
    add("Connection: keep-alive,transfer-encoding",
        get(p, "Connection: keep-alive,transfer-encoding\r\n"), 400);
    add("second Connection names Host", get(p, "Connection: close\r\nConnection: Host\r\n"), 400);

    group = "sizes";  // limits.max_header_bytes (16 KiB), limits.max_headers (100), 8 KiB target
    add("oversize header", get(p, "X-Big: " + std::string(20000, 'a') + "\r\n"), 431);
    add("oversize header name", get(p, std::string(17000, 'X') + ": a\r\n"), 431);
    add("many medium headers", get(p, repeat_headers(40, 500)), 431);
    add("101 headers", get(p, repeat_headers(101)), 431);
    add("150 headers", get(p, repeat_headers(150)), 431);
    add("1000 empty-valued headers", get(p, repeat_headers(1000, 0)), 431);
    add("unterminated oversize head", "GET " + p + " HTTP/1.1\r\n" + repeat_headers(2000), 431);
    add("long target", get(p + std::string(9000, 'a')), 414);
    add("long query", get(p + "?" + std::string(9000, 'a')), 414);
    add("long target unterminated", "GET " + p + std::string(20000, 'a'), 414);

    group = "WebSocket";  // only a complete, valid handshake is forwarded
    const std::string up = "Upgrade: websocket\r\nConnection: Upgrade\r\n";
    const std::string ver = "Sec-WebSocket-Version: 13\r\n";
    const std::string k = "Sec-WebSocket-Key: " + key + "\r\n";
    add("ws without key", ws(up + ver), 400);
    add("ws without version", ws(up + k), 400);
    add("ws version 12", ws(up + "Sec-WebSocket-Version: 12\r\n" + k), 400);
    add("ws version 8", ws(up + "Sec-WebSocket-Version: 8\r\n" + k), 400);
    add("ws two versions", ws(up + ver + ver + k), 400);
    add("ws key too short", ws(up + ver + "Sec-WebSocket-Key: abc==\r\n"), 400);
    add("ws key not base64", ws(up + ver + "Sec-WebSocket-Key: !!!!!!!!!!!!!!!!!!!!!!==\r\n"), 400);
    add("ws two keys", ws(up + ver + k + k), 400);
    add("ws without Connection: upgrade", ws("Upgrade: websocket\r\n" + ver + k), 400);
    add("ws two Upgrade headers", ws(up + "Upgrade: websocket\r\n" + ver + k), 400);
    add("ws over HTTP/1.0", "GET " + p + "ws HTTP/1.0\r\n" + host_line + up + ver + k + "\r\n",
        400);
    add("ws over HEAD", "HEAD " + p + "ws HTTP/1.1\r\n" + host_line + up + ver + k + "\r\n", 400);
    add("ws over POST", "POST " + p + "ws HTTP/1.1\r\n" + host_line + up + ver + k + "\r\n", 405);
    return t;
}

TEST(SecurityCatalogue, EveryEntryIsAnsweredCountedAndNothingReachesANode) {
    node_set nodes({"bbb-01", "bbb-02"});
    const std::string other = nodes[1].origin().substr(std::string("http://").size());
    proxy_instance proxy(proxy_yaml(nodes, "server_names: [proxy.example.com]\n"));
    ASSERT_TRUE(proxy.ok());
    const auto entries = catalogue(other);
    ASSERT_GE(entries.size(), 150u);
    std::map<std::string, int> per_group;
    std::uint64_t refusals = 0;
    std::uint64_t misses = 0;
    for (const auto& e : entries) {
        SCOPED_TRACE(e.group + ": " + e.name);
        ++per_group[e.group];
        client c(proxy.port());
        ASSERT_TRUE(c.connected());
        c.send(e.raw);
        auto r = c.read(e.raw.rfind("HEAD ", 0) == 0, 3s);
        ASSERT_TRUE(r) << c.last_error();
        EXPECT_EQ(r->result_int(), e.status);
        EXPECT_EQ((*r)[boost::beast::http::field::cache_control], "no-store");
        if (e.status == 404) {
            ++misses;
        } else {
            ++refusals;
            // Refusals close the connection (SECURITY.md: close after any framing error).
            EXPECT_TRUE(c.closed_within(2s));
        }
        EXPECT_EQ(nodes.total_requests(), 0u) << "reached a node";
        // Each entry is counted once: as a refusal (by reason) or as a routing miss.
        EXPECT_TRUE(eventually(
            [&] {
                const auto now = proxy.server().counters();
                return now.rejected == refusals && now.not_found == misses;
            },
            1s))
            << "rejected " << proxy.server().counters().rejected << ", not found "
            << proxy.server().counters().not_found;
    }
    EXPECT_EQ(nodes.total_connections(), 0u);
    for (const auto& [g, n] : per_group) {
        std::printf("catalogue group %-16s %3d entries\n", g.c_str(), n);
    }
    std::printf("catalogue total %zu entries\n", entries.size());

    // Every refusal is counted under its reason; routing misses are not refusals.
    const auto t = proxy.server().counters();
    std::uint64_t counted = 0;
    for (auto n : t.refusals) {
        counted += n;
    }
    EXPECT_EQ(counted, refusals);
    EXPECT_EQ(t.rejected, refusals);
    EXPECT_EQ(t.not_found, misses);
    EXPECT_GT(t.refused(observe::refusal::bad_request), 0u);
    EXPECT_GT(t.refused(observe::refusal::method), 0u);
    EXPECT_GT(t.refused(observe::refusal::header_too_large), 0u);
    EXPECT_GT(t.refused(observe::refusal::target_too_long), 0u);
    EXPECT_GT(t.refused(observe::refusal::misdirected), 0u);
    EXPECT_GT(t.refused(observe::refusal::version), 0u);
}

// The raw target reaches the node unchanged: the gate validates it and never rewrites it.
std::string echoed_target(std::uint16_t port, const std::string& target) {
    auto r = http_get(port, target);
    return r && r->result_int() == 200
               ? r->body()
               : std::string("status ") + (r ? std::to_string(r->result_int()) : "-");
}

// docs/security.md "Encoded slashes in the query": allowed in the query, never in the path.
TEST(SecurityCatalogue, EncodedSlashesAndDotsAreAllowedInTheQueryOnly) {
    node_set nodes({"bbb-01"});
    proxy_instance proxy(proxy_yaml(nodes));
    ASSERT_TRUE(proxy.ok());
    const std::string q = "?logoutURL=https%3A%2F%2Fexample.com%2Fbye%2F..%2Fx&v=%2e%2E";
    const std::string body =
        echoed_target(proxy.port(), "/bbb-01/html5client/_test/echo-headers" + q);
    std::string json_q = q;  // JSON escapes '&' as \u0026
    json_q.replace(json_q.find('&'), 1, "\\u0026");
    EXPECT_NE(body.find("\"target\":\"/bbb-01/html5client/_test/echo-headers" + json_q + "\""),
              std::string::npos)
        << body;
    EXPECT_EQ(nodes.total_requests(), 1u);
    // The same escapes in the path are refused, and so are %5C and %00 in the query.
    for (const char* bad : {"/bbb-01/html5client/_test%2Fecho-headers?x=%2F",
                            "/bbb-01/html5client/_test/%2e%2e/echo-headers?x=1",
                            "/bbb-01/html5client/_test/echo-headers?x=%5C",
                            "/bbb-01/html5client/_test/echo-headers?x=%00"}) {
        auto r = http_get(proxy.port(), bad);
        ASSERT_TRUE(r) << bad;
        EXPECT_EQ(r->result_int(), 400u) << bad;
    }
    EXPECT_EQ(nodes.total_requests(), 1u);
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

// Host naming another node's address never changes the route: the path's node id decides, and
// the node gets its own Host, not the client's.
TEST(SecurityCatalogue, HostNeverRoutes) {
    node_set nodes({"bbb-01", "bbb-02"});
    proxy_instance proxy(proxy_yaml(nodes));
    ASSERT_TRUE(proxy.ok());
    const std::string other = nodes[1].origin().substr(std::string("http://").size());
    client c(proxy.port());
    c.send("GET /bbb-01/html5client/_test/echo-headers HTTP/1.1\r\nHost: " + other + "\r\n\r\n");
    auto r = c.read();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->result_int(), 200u);
    EXPECT_EQ(nodes[0].counters().requests.load(), 1u);
    EXPECT_EQ(nodes[1].counters().requests.load(), 0u);
    EXPECT_EQ(nodes[1].counters().connections.load(), 0u);
    const std::string own = nodes[0].origin().substr(std::string("http://").size());
    EXPECT_NE(r->body().find("[\"Host\",\"" + own + "\"]"), std::string::npos) << r->body();
}

TEST(SecurityCatalogue, ClientCannotStripOurForwardedHeaders) {
    node_set nodes({"bbb-01"});
    proxy_instance proxy(proxy_yaml(nodes));
    ASSERT_TRUE(proxy.ok());
    auto r = http_get(proxy.port(), "/bbb-01/html5client/_test/echo-headers",
                      "Connection: X-Forwarded-For, X-Forwarded-Proto, X-Forwarded-Host, Via\r\n"
                      "X-Forwarded-For: 10.0.0.1\r\nForwarded: for=10.0.0.2\r\n"
                      "X-Forwarded-Host: evil.example\r\nVia: 1.1 evil.example\r\n");
    ASSERT_TRUE(r);
    EXPECT_NE(r->body().find("[\"X-Forwarded-For\",\"127.0.0.1\"]"), std::string::npos)
        << r->body();
    EXPECT_EQ(r->body().find("10.0.0.1"), std::string::npos);
    EXPECT_EQ(r->body().find("10.0.0.2"), std::string::npos);
    EXPECT_EQ(r->body().find("evil.example"), std::string::npos);
    EXPECT_NE(r->body().find("[\"X-Forwarded-Proto\",\"http\"]"), std::string::npos);
    // No Via at all: not the client's, and not ours (docs/security.md "Via").
    EXPECT_EQ(r->body().find("\"Via\""), std::string::npos);
}

// h2c smuggling: an Upgrade other than websocket is hop-by-hop and never reaches the node.
TEST(SecurityCatalogue, H2cUpgradeIsStripped) {
    node_set nodes({"bbb-01"});
    proxy_instance proxy(proxy_yaml(nodes));
    ASSERT_TRUE(proxy.ok());
    auto r = http_get(proxy.port(), "/bbb-01/html5client/_test/echo-headers",
                      "Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n"
                      "Connection: Upgrade, HTTP2-Settings\r\n");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->result_int(), 200u);
    EXPECT_EQ(r->body().find("h2c"), std::string::npos) << r->body();
    EXPECT_EQ(r->body().find("HTTP2-Settings"), std::string::npos) << r->body();
}

}  // namespace
}  // namespace bcp::test
