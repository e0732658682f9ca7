// The test endpoints of the simulated BBB node (options.test_endpoints), all under
// /<id>/<mount>/_test/; any method is accepted there (no 405), and the integration tests of the
// proxy rely on these exact behaviours:
//   echo-headers     200 application/json {"method","target","version","headers":[[name,value]…]}
//                    (headers in received order, names spelled as received)
//   bytes?n=N        200, Content-Length N, byte i = 'a' + i % 26 (n absent: 1024)
//   chunked?n=N      200, Transfer-Encoding: chunked, the same N bytes in up to 4 chunks
//   eof?n=N          200 HTTP/1.1 with neither Content-Length nor chunked (and no Connection:
//                    close either): N bytes, then the node closes (close-delimited body)
//   stall            reads the request, never answers; the socket stays open until the client
//                    closes it or stop()
//   stall-body?n=N   head with Content-Length N, the first N/2 bytes, then as `stall`
//   redirect         302 Location: <origin>/<id>/<mount>/target?x=1
//   redirect-out     302 Location: <origin>/bigbluebutton/api
//   close            200 "closing\n" with Connection: close, then a graceful close
//   hop              200 with Connection: keep-alive, X-Hop / X-Hop: secret / Keep-Alive: timeout=5
//                    / X-End: kept / Proxy-Connection: keep-alive
//   reset            reads the request, then closes with SO_LINGER 0 (RST)
//   reset-body?n=N   head with Content-Length N, the first N/2 bytes, then a reset (RST)
//   drop-next[?ms=M] 200 "drop-next\n" keep-alive (after M ms, default 0); the next request on
//                    this connection is read (and counted), then the connection is closed without
//                    an answer (a node closing an idle keep-alive connection just as the proxy
//                    reuses it)
//   garbage          writes "NOT HTTP AT ALL\r\n\r\n" and closes
//   big-header       200 with X-Big: 100 KiB of 'x' (written raw: beast::http::fields, and so
//                    any Beast parser, cannot hold a field over 64 KiB)
//   set-cookie       200 with two Set-Cookie headers (bcp_session=… Path=/<id>/<mount>/ and
//                    bcp_pref=… Path=/)
//   slow?n=N&ms=M    200, Content-Length N, body in 10 pieces with M ms between them
//   no-ws            403 to a WebSocket upgrade (and to a plain GET)
//   bad-accept       upgrade answered 101 with a wrong Sec-WebSocket-Accept (raw bytes), then
//                    every byte received is echoed back raw; a plain GET gets 426
//   cacheable?n=N    200, Content-Length N, a cacheable pattern body for the cache tests:
//                    cc=<Cache-Control> (default "public, max-age=60"; '+' reads as a space),
//                    etag=0 (no ETag; default ETag "c<n>-<v>"), v=<tag> (part of the ETag),
//                    lm=1 (Last-Modified), vary=1 (Vary: Accept-Encoding; a request accepting
//                    gzip gets the pattern upper-cased and Content-Encoding: gzip), cookie=1
//                    (Set-Cookie), status=S (answer S instead of 200, same headers), ms=M (body in
//                    10 pieces M ms apart, identity only), cut=head|half (reset the connection
//                    right after the head, or after half the body). If-None-Match /
//                    If-Modified-Since give 304.
// Unknown names under _test/ are 404. n is at most 1 GiB and ms at most 60000 (400 otherwise).

#include "core/coroutine_warnings.hpp"
#include "demo/client_assets.hpp"
#include "demo/fake_node_impl.hpp"

#include <boost/asio/write.hpp>
#include <boost/beast/http/chunk_encode.hpp>
#include <boost/beast/websocket/rfc6455.hpp>

#include <algorithm>
#include <chrono>

namespace bcp::demo::detail {
namespace {

namespace websocket = beast::websocket;

/// The header fields of a raw request head, in received order and spelled as received
/// (basic_fields would group repeated names). The head has already been accepted by the parser.
std::vector<std::pair<std::string_view, std::string_view>> raw_fields(std::string_view head) {
    std::vector<std::pair<std::string_view, std::string_view>> fields;
    while (head.starts_with("\r\n")) {
        head.remove_prefix(2);
    }
    auto eol = head.find("\r\n");
    head.remove_prefix(eol == std::string_view::npos ? head.size() : eol + 2);  // request line
    const auto trim = [](std::string_view v) {
        while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) {
            v.remove_prefix(1);
        }
        while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) {
            v.remove_suffix(1);
        }
        return v;
    };
    while (!head.empty()) {
        eol = head.find("\r\n");
        const auto line = head.substr(0, eol);
        head.remove_prefix(eol == std::string_view::npos ? head.size() : eol + 2);
        const auto colon = line.find(':');
        if (line.empty() || colon == std::string_view::npos) {
            break;
        }
        fields.emplace_back(line.substr(0, colon), trim(line.substr(colon + 1)));
    }
    return fields;
}

std::string echo_headers_json(const request& req, std::string_view raw_head) {
    std::string json = "{\"method\":" + json_quote(req.method_string()) +
                       ",\"target\":" + json_quote(req.target()) + ",\"version\":\"" +
                       std::to_string(req.version() / 10) + "." +
                       std::to_string(req.version() % 10) + "\",\"headers\":[";
    bool first = true;
    for (const auto& [name, value] : raw_fields(raw_head)) {
        json += first ? "[" : ",[";
        first = false;
        json += json_quote(name);
        json += ',';
        json += json_quote(value);
        json += ']';
    }
    json += "]}";
    return json;
}

/// Test endpoints answered with an ordinary reply; nullopt when the endpoint needs the stream.
std::optional<reply> simple_test_reply(const node_state& node, const request& req,
                                       std::string_view raw_head, std::string_view name,
                                       const mount_pages& mount) {
    const auto base = node.origin + "/" + node.options.id + "/" + mount.mount;
    if (name == "echo-headers") {
        reply rep;
        rep.fields.set(http::field::content_type, "application/json");
        rep.fields.set(http::field::cache_control, "no-store");
        rep.owned = echo_headers_json(req, raw_head);
        return rep;
    }
    if (name == "redirect") {
        return redirect_reply(http::status::found, base + "/target?x=1");
    }
    if (name == "redirect-out") {
        return redirect_reply(http::status::found, node.origin + "/bigbluebutton/api");
    }
    if (name == "close") {
        auto rep = text_reply(http::status::ok, "closing\n");
        rep.close = true;
        return rep;
    }
    if (name == "hop") {
        auto rep = text_reply(http::status::ok, "hop-by-hop headers\n");
        rep.fields.set(http::field::connection, "keep-alive, X-Hop");
        rep.fields.set("X-Hop", "secret");
        rep.fields.set(http::field::keep_alive, "timeout=5");
        rep.fields.set("X-End", "kept");
        rep.fields.set(http::field::proxy_connection, "keep-alive");
        return rep;
    }
    if (name == "set-cookie") {
        auto rep = text_reply(http::status::ok, "cookies set\n");
        rep.fields.insert(http::field::set_cookie, "bcp_session=abc123; Path=/" + node.options.id +
                                                       "/" + mount.mount +
                                                       "/; HttpOnly; SameSite=Lax");
        rep.fields.insert(http::field::set_cookie, "bcp_pref=dark; Path=/; Max-Age=3600");
        return rep;
    }
    if (name == "no-ws") {
        return text_reply(http::status::forbidden, "WebSocket refused\n");
    }
    if (name == "bad-accept" && !websocket::is_upgrade(req)) {
        return text_reply(http::status::upgrade_required, "upgrade expected\n");
    }
    return std::nullopt;
}

}  // namespace

awaitable<next_step> session::on_test(const request& req, const route& r, std::string_view query) {
    const auto name = r.test_name;
    if (auto rep = simple_test_reply(*node_, req, raw_head_, name, *r.mount)) {
        co_return co_await write_reply(info(req), *rep);
    }
    if (name == "cacheable") {
        co_return co_await on_cacheable(req, query);
    }
    const bool head = req.method() == http::verb::head;
    const bool keep = req.keep_alive();

    if (name == "drop-next") {
        const auto ms = number_param(query, "ms", 0, max_test_ms);
        if (ms && *ms > 0) {
            conn_.timer.expires_after(std::chrono::milliseconds(*ms));
            if (auto [ec] = co_await conn_.timer.async_wait(use_nothrow); ec) {
                co_return next_step::abort;  // stop() cancelled the wait
            }
        }
        auto rep = text_reply(http::status::ok, "drop-next\n");
        drop_next_ = true;
        co_return co_await write_reply(info(req), rep);
    }
    if (name == "bytes" || name == "chunked" || name == "eof" || name == "stall-body" ||
        name == "reset-body" || name == "slow") {
        const auto n = number_param(query, "n", 1024, max_test_bytes);
        const auto ms = number_param(query, "ms", 100, max_test_ms);
        if (!n || !ms) {
            auto rep = text_reply(http::status::bad_request, "bad n or ms\n");
            co_return co_await write_reply(info(req), rep);
        }
        http::response<http::empty_body> res{http::status::ok, 11};
        res.set(http::field::content_type, "application/octet-stream");
        res.set(http::field::cache_control, "no-store");
        if (name == "chunked") {
            res.chunked(true);
        } else if (name != "eof") {
            res.content_length(*n);
        }
        if (!keep && name != "eof") {
            res.keep_alive(false);
        }
        if (!co_await write_head(res)) {
            co_return next_step::abort;
        }
        if (name == "stall-body" || name == "reset-body") {
            if (!head && !co_await write_pattern(0, *n / 2)) {
                co_return next_step::abort;
            }
            if (name == "reset-body") {
                reset_connection();
                co_return next_step::abort;
            }
            co_await wait_for_close();
            co_return next_step::abort;
        }
        if (head) {
            co_return name == "eof" || !keep ? next_step::close : next_step::read_next;
        }
        bool ok = true;
        if (name == "chunked") {
            ok = co_await write_chunks(*n);
        } else if (name == "slow") {
            ok = co_await write_slowly(*n, *ms);
        } else {
            ok = co_await write_pattern(0, *n);
        }
        if (!ok) {
            co_return next_step::abort;
        }
        co_return name == "eof" || !keep ? next_step::close : next_step::read_next;
    }
    if (name == "stall") {
        co_await wait_for_close();
        co_return next_step::abort;
    }
    if (name == "reset") {
        reset_connection();
        co_return next_step::abort;
    }
    if (name == "big-header") {
        // Written raw: basic_fields cannot hold a 100 KiB field.
        std::string raw = "HTTP/1.1 200 OK\r\nServer: " + std::string(server_name) +
                          "\r\nDate: " + http_date() +
                          "\r\nContent-Type: text/plain; charset=utf-8\r\n"
                          "Content-Length: 11\r\nX-Big: " +
                          std::string(100 * 1024, 'x') + "\r\n";
        if (!keep) {
            raw += "Connection: close\r\n";
        } else if (req.version() < 11) {
            raw += "Connection: keep-alive\r\n";
        }
        raw += "\r\n";
        if (!head) {
            raw += "big header\n";
        }
        if (!co_await write_raw(raw)) {
            co_return next_step::abort;
        }
        co_return keep ? next_step::read_next : next_step::close;
    }
    if (name == "garbage") {
        if (!co_await write_raw("NOT HTTP AT ALL\r\n\r\n")) {
            co_return next_step::abort;
        }
        co_return next_step::close;
    }
    auto rep = text_reply(http::status::not_found, "404 Not Found\n");
    co_return co_await write_reply(info(req), rep);
}

awaitable<next_step> session::on_cacheable(const request& req, std::string_view query) {
    const auto n = number_param(query, "n", 1024, max_test_bytes);
    const auto ms = number_param(query, "ms", 0, max_test_ms);
    const auto status = number_param(query, "status", 200, 599);
    if (!n || !ms || !status || *status < 200) {
        auto rep = text_reply(http::status::bad_request, "bad n, ms or status\n");
        co_return co_await write_reply(info(req), rep);
    }
    std::string cc(query_param(query, "cc").value_or("public, max-age=60"));
    std::replace(cc.begin(), cc.end(), '+', ' ');
    const bool vary = query_param(query, "vary") == "1";
    const bool gzip = vary && req[http::field::accept_encoding].find("gzip") != std::string::npos;
    const std::string etag = "\"c" + std::to_string(*n) + "-" +
                             std::string(query_param(query, "v").value_or("")) +
                             (gzip ? "-gz" : "") + "\"";
    http::response<http::empty_body> res{static_cast<http::status>(*status), 11};
    res.set(http::field::cache_control, cc);
    if (query_param(query, "etag") != "0") {
        res.set(http::field::etag, etag);
    }
    const bool lm = query_param(query, "lm") == "1";
    if (lm) {
        res.set(http::field::last_modified, last_modified);
    }
    if (vary) {
        res.set(http::field::vary, "Accept-Encoding");
    }
    if (gzip) {
        res.set(http::field::content_encoding, "gzip");
    }
    if (query_param(query, "cookie") == "1") {
        res.set(http::field::set_cookie, "bcp_cache_test=1; Path=/");
    }
    res.set(http::field::content_type, "application/octet-stream");
    const bool has_inm = req.count(http::field::if_none_match) != 0;
    const bool not_modified = has_inm ? etag_matches(req[http::field::if_none_match], etag)
                                      : lm && req[http::field::if_modified_since] == last_modified;
    const bool keep = req.keep_alive();
    if (!keep) {
        res.keep_alive(false);
    }
    if (not_modified && *status == 200) {
        res.result(http::status::not_modified);
        if (!co_await write_head(res)) {
            co_return next_step::abort;
        }
        co_return keep ? next_step::read_next : next_step::close;
    }
    res.content_length(*n);
    if (!co_await write_head(res)) {
        co_return next_step::abort;
    }
    const auto cut = query_param(query, "cut");
    if (cut == "head" || cut == "half") {
        if (cut == "half") {
            co_await write_pattern(0, *n / 2);
        }
        reset_connection();
        co_return next_step::abort;
    }
    if (req.method() != http::verb::head) {
        bool ok = true;
        if (*ms != 0) {
            ok = co_await write_slowly(*n, *ms);
        } else if (gzip) {
            std::string upper(static_cast<std::size_t>(*n), '\0');
            for (std::size_t i = 0; i < upper.size(); ++i) {
                upper[i] = static_cast<char>('A' + i % 26);
            }
            auto [ec, w] = co_await asio::async_write(stream_, asio::buffer(upper), use_nothrow);
            ok = !ec;
        } else {
            ok = co_await write_pattern(0, *n);
        }
        if (!ok) {
            co_return next_step::abort;
        }
    }
    co_return keep ? next_step::read_next : next_step::close;
}

awaitable<bool> session::write_chunks(std::uint64_t n) {
    const auto& bytes = pattern_bytes();
    const std::uint64_t chunk = std::clamp<std::uint64_t>((n + 3) / 4, 1, 26 * 2520 - 26);
    std::uint64_t sent = 0;
    while (sent < n) {
        const auto len = static_cast<std::size_t>(std::min(chunk, n - sent));
        const auto pos = static_cast<std::size_t>(sent % 26);
        auto [ec, w] = co_await asio::async_write(
            stream_, http::make_chunk(asio::buffer(bytes.data() + pos, len)), use_nothrow);
        if (ec) {
            co_return false;
        }
        sent += len;
    }
    auto [ec, w] = co_await asio::async_write(stream_, http::make_chunk_last(), use_nothrow);
    co_return !ec;
}

awaitable<bool> session::write_slowly(std::uint64_t n, std::uint64_t ms) {
    constexpr std::uint64_t pieces = 10;
    std::uint64_t sent = 0;
    for (std::uint64_t i = 0; i < pieces; ++i) {
        if (i > 0) {
            conn_.timer.expires_after(std::chrono::milliseconds(ms));
            auto [ec] = co_await conn_.timer.async_wait(use_nothrow);
            if (ec) {
                co_return false;  // stop() cancelled the wait
            }
        }
        const auto len = i + 1 == pieces ? n - sent : n / pieces;
        if (len > 0 && !co_await write_pattern(sent, len)) {
            co_return false;
        }
        sent += len;
    }
    co_return true;
}

}  // namespace bcp::demo::detail
