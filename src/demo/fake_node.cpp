// The simulated BBB node. Layout of this file: node state and connection registry, pure routing
// and reply building, then the per-connection session coroutine (templated on plain or TLS
// stream), then the fake_node facade.
//
// Test endpoints (options.test_endpoints), all under /<id>/<mount>/_test/; any method is accepted
// there (no 405), and the integration tests of the proxy rely on these exact behaviours:
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

#include "demo/fake_node.hpp"

#include "core/log.hpp"
#include "demo/client_assets.hpp"

#include <boost/asio/ip/address.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/stream_traits.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>

#include <algorithm>
#include <array>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <exception>
#include <mutex>
#include <optional>
#include <unordered_map>
#include <utility>

namespace bcp::demo {
namespace {

namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
namespace ssl = boost::asio::ssl;

using request = http::request<http::string_body>;
using plain_stream = beast::tcp_stream;
using tls_stream = beast::ssl_stream<beast::tcp_stream>;

constexpr std::string_view server_name = "bbb-fake-node";
constexpr std::string_view last_modified = "Mon, 01 Jan 2024 00:00:00 GMT";
constexpr std::string_view immutable_cache = "public, max-age=31536000, immutable";
// Below 64 KiB on purpose: beast::http::fields cannot store a field longer than that and would
// throw instead of failing the parse.
constexpr std::uint32_t header_limit = 60 * 1024;
constexpr std::uint64_t body_limit = 16 * 1024 * 1024;
constexpr std::uint64_t max_test_bytes = std::uint64_t{1} << 30;
constexpr std::uint64_t max_test_ms = 60'000;
constexpr std::size_t ws_message_limit = 16 * 1024 * 1024;
// How long a closing connection waits for the peer (TLS close_notify, or the lingering drain
// that keeps close() from turning unread input into an RST that destroys our last response).
constexpr auto close_grace = std::chrono::seconds(2);

std::shared_ptr<spdlog::logger> logger() {
    static const auto l = log::get("demo");
    return l;
}

// ---------------------------------------------------------------------------------------------
// Node state and the registry of open connections
// ---------------------------------------------------------------------------------------------

/// What stop() needs to reach one open connection. Every member is touched only on `strand`.
struct connection {
    explicit connection(const asio::any_io_executor& ex) : strand(ex), timer(ex) {}

    asio::any_io_executor strand;
    tcp::socket* socket = nullptr;  ///< the session's socket while the session runs
    asio::steady_timer timer;       ///< waits of the slow endpoint; stop() cancels it

    void close() {
        error_code ec;
        timer.cancel();
        if (socket != nullptr) {
            socket->close(ec);
        }
    }
};

struct page {
    std::string body;
    std::string etag;
};

struct mount_pages {
    std::string mount;
    page index;
    page guest;
};

/// Everything a session reads (immutable after construction) plus the connection registry.
struct node_state {
    node_state(asio::io_context& io, node_options opts)
        : ioc(io), options(std::move(opts)), acceptor(asio::make_strand(io)) {
        const auto address = asio::ip::make_address(options.bind_address);
        const tcp::endpoint endpoint(address, options.port);
        acceptor.open(endpoint.protocol());
        acceptor.set_option(asio::socket_base::reuse_address(true));
        acceptor.bind(endpoint);
        acceptor.listen(asio::socket_base::max_listen_connections);
        port = acceptor.local_endpoint().port();

        std::string host;
        if (address.is_unspecified()) {
            host = address.is_v4() ? "127.0.0.1" : "[::1]";
        } else if (address.is_v6()) {
            host = "[" + address.to_string() + "]";
        } else {
            host = address.to_string();
        }
        origin = std::string(options.tls != nullptr ? "https" : "http") + "://" + host + ":" +
                 std::to_string(port);

        for (const auto& mount : options.mounts) {
            mount_pages p;
            p.mount = mount;
            p.index.body = render_index_html(options.id, origin, mount);
            p.index.etag = "\"" + hash8(p.index.body) + "\"";
            p.guest.body = render_guest_html(options.id, mount);
            p.guest.etag = "\"" + hash8(p.guest.body) + "\"";
            pages.push_back(std::move(p));
        }
        root_page = render_root_html(options.id, options.mounts);
    }

    asio::io_context& ioc;
    const node_options options;
    tcp::acceptor acceptor;  ///< used only on its own strand (acceptor.get_executor())
    std::uint16_t port = 0;
    std::string origin;
    std::vector<mount_pages> pages;  ///< same order as options.mounts
    std::string root_page;
    node_counters counters;

    std::mutex mutex;  ///< guards the members below
    std::unordered_map<std::uint64_t, std::shared_ptr<connection>> connections;
    std::uint64_t next_connection_id = 0;
    bool started = false;
    bool stopped = false;

    bool is_stopped() {
        std::lock_guard lock(mutex);
        return stopped;
    }
};

/// Registers a connection for stop() while a session runs; runs on the connection's strand.
class registration {
  public:
    registration(node_state& node, std::shared_ptr<connection> conn, tcp::socket& socket)
        : node_(node), conn_(std::move(conn)) {
        std::lock_guard lock(node_.mutex);
        if (node_.stopped) {
            return;
        }
        id_ = ++node_.next_connection_id;
        conn_->socket = &socket;
        node_.connections.emplace(id_, conn_);
    }
    ~registration() {
        conn_->socket = nullptr;  // a close() posted by stop() may still run after this
        std::lock_guard lock(node_.mutex);
        node_.connections.erase(id_);
    }
    registration(const registration&) = delete;
    registration& operator=(const registration&) = delete;

    /// False when stop() came first: the session must end at once.
    bool active() const { return id_ != 0; }
    std::uint64_t id() const { return id_; }

  private:
    node_state& node_;
    std::shared_ptr<connection> conn_;
    std::uint64_t id_ = 0;
};

// ---------------------------------------------------------------------------------------------
// Routing and replies (pure: no I/O)
// ---------------------------------------------------------------------------------------------

enum class route_kind {
    not_found,
    root,
    ws,
    locale_redirect,  ///< /<mount>/locale → /<id>/<mount>/locale (the BBB nginx rule)
    slash_redirect,   ///< /<id>/<mount> → /<id>/<mount>/
    index,
    guest,
    locale,
    asset,
    test,
};

struct route {
    route_kind kind = route_kind::not_found;
    const mount_pages* mount = nullptr;
    const asset* file = nullptr;
    std::string_view test_name;
};

std::pair<std::string_view, std::string_view> split_target(std::string_view target) {
    const auto q = target.find('?');
    if (q == std::string_view::npos) {
        return {target, {}};
    }
    return {target.substr(0, q), target.substr(q + 1)};
}

std::optional<std::string_view> query_param(std::string_view query, std::string_view name) {
    while (!query.empty()) {
        const auto amp = query.find('&');
        const auto pair = query.substr(0, amp);
        const auto eq = pair.find('=');
        if (pair.substr(0, eq) == name) {
            return eq == std::string_view::npos ? std::string_view{} : pair.substr(eq + 1);
        }
        if (amp == std::string_view::npos) {
            break;
        }
        query.remove_prefix(amp + 1);
    }
    return std::nullopt;
}

/// The numeric query parameter `name`: `fallback` when absent, nullopt when malformed or > max.
std::optional<std::uint64_t> number_param(std::string_view query, std::string_view name,
                                          std::uint64_t fallback, std::uint64_t max) {
    const auto text = query_param(query, name);
    if (!text) {
        return fallback;
    }
    std::uint64_t value = 0;
    const auto* end = text->data() + text->size();
    const auto [ptr, ec] = std::from_chars(text->data(), end, value);
    if (ec != std::errc{} || ptr != end || text->empty() || value > max) {
        return std::nullopt;
    }
    return value;
}

route resolve(const node_state& node, std::string_view path) {
    route r;
    if (path == "/") {
        r.kind = route_kind::root;
        return r;
    }
    if (path == "/ws") {
        r.kind = route_kind::ws;
        return r;
    }
    for (const auto& m : node.pages) {
        if (path == "/" + m.mount + "/locale") {
            r.kind = route_kind::locale_redirect;
            r.mount = &m;
            return r;
        }
    }
    const std::string id_prefix = "/" + node.options.id + "/";
    if (!path.starts_with(id_prefix)) {
        return r;
    }
    const auto after_id = path.substr(id_prefix.size());
    for (const auto& m : node.pages) {
        if (!after_id.starts_with(m.mount)) {
            continue;
        }
        const auto rest = after_id.substr(m.mount.size());
        if (!rest.empty() && rest.front() != '/') {
            continue;
        }
        r.mount = &m;
        if (rest.empty()) {
            r.kind = route_kind::slash_redirect;
        } else if (rest == "/" || rest == "/index.html" || rest == "/join") {
            r.kind = route_kind::index;
        } else if (rest == "/guestWait") {
            r.kind = route_kind::guest;
        } else if (rest == "/locale") {
            r.kind = route_kind::locale;
        } else if (rest == "/ws" || rest.starts_with("/ws/")) {
            r.kind = route_kind::ws;
        } else if (node.options.test_endpoints && rest.starts_with("/_test/")) {
            r.kind = route_kind::test;
            r.test_name = rest.substr(std::string_view("/_test/").size());
        } else {
            for (const auto& a : client_assets()) {
                if (rest.substr(1) == a.path) {
                    r.kind = route_kind::asset;
                    r.file = &a;
                }
            }
        }
        return r;
    }
    return r;
}

/// A prepared response. The body is either `owned` or borrowed from immutable bytes (node pages
/// or client_assets()) that outlive the session, so big assets are written without a copy.
struct reply {
    http::status status = http::status::ok;
    http::fields fields;
    std::string owned;
    const std::string* shared = nullptr;
    bool close = false;  ///< close the connection after this reply

    std::string_view body() const {
        return shared != nullptr ? std::string_view(*shared) : std::string_view(owned);
    }
};

reply text_reply(http::status status, std::string text) {
    reply r;
    r.status = status;
    r.fields.set(http::field::content_type, "text/plain; charset=utf-8");
    r.owned = std::move(text);
    return r;
}

reply redirect_reply(http::status status, std::string location) {
    auto r = text_reply(status, "Moved to " + location + "\n");
    r.fields.set(http::field::location, location);
    return r;
}

/// RFC 9110 §13.1.2: weak comparison, "*" matches any current representation.
bool etag_matches(std::string_view if_none_match, std::string_view etag) {
    while (!if_none_match.empty()) {
        const auto comma = if_none_match.find(',');
        auto item = if_none_match.substr(0, comma);
        while (!item.empty() && (item.front() == ' ' || item.front() == '\t')) {
            item.remove_prefix(1);
        }
        while (!item.empty() && (item.back() == ' ' || item.back() == '\t')) {
            item.remove_suffix(1);
        }
        if (item.starts_with("W/")) {
            item.remove_prefix(2);
        }
        if (item == "*" || item == etag) {
            return true;
        }
        if (comma == std::string_view::npos) {
            break;
        }
        if_none_match.remove_prefix(comma + 1);
    }
    return false;
}

reply page_reply(const request& req, const page& p) {
    reply r;
    r.fields.set(http::field::cache_control, "no-cache");
    r.fields.set(http::field::etag, p.etag);
    if (etag_matches(req[http::field::if_none_match], p.etag)) {
        r.status = http::status::not_modified;
        return r;
    }
    r.fields.set(http::field::content_type, "text/html; charset=utf-8");
    r.shared = &p.body;
    return r;
}

reply asset_reply(const request& req, const asset& a) {
    reply r;
    r.fields.set(http::field::cache_control, immutable_cache);
    r.fields.set(http::field::etag, a.etag);
    r.fields.set(http::field::last_modified, last_modified);
    const auto inm = req[http::field::if_none_match];
    // RFC 9110 §13.2.2: If-Modified-Since is ignored when If-None-Match is present.
    const bool not_modified = req.count(http::field::if_none_match) != 0
                                  ? etag_matches(inm, a.etag)
                                  : req[http::field::if_modified_since] == last_modified;
    if (not_modified) {
        r.status = http::status::not_modified;
        return r;
    }
    r.fields.set(http::field::content_type, a.content_type);
    r.shared = &a.body;
    return r;
}

std::string sanitize_locale(std::string_view query) {
    std::string out;
    for (const char c : query_param(query, "locale").value_or("")) {
        const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                        (c >= '0' && c <= '9') || c == '-' || c == '_';
        if (!ok || out.size() == 16) {
            break;
        }
        out += c;
    }
    return out.empty() ? "en" : out;
}

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

/// Replies for every route that needs no special I/O (all but WebSocket and most test routes).
reply make_reply(const node_state& node, const request& req, const route& r,
                 std::string_view query) {
    const bool get_or_head = req.method() == http::verb::get || req.method() == http::verb::head;
    if (r.kind != route_kind::not_found && !get_or_head) {
        auto rep = text_reply(http::status::method_not_allowed, "405 Method Not Allowed\n");
        rep.fields.set(http::field::allow, "GET, HEAD");
        return rep;
    }
    const auto mount_base =
        r.mount != nullptr ? "/" + node.options.id + "/" + r.mount->mount : std::string();
    switch (r.kind) {
        case route_kind::root: {
            reply rep;
            rep.fields.set(http::field::content_type, "text/html; charset=utf-8");
            rep.fields.set(http::field::cache_control, "no-cache");
            rep.shared = &node.root_page;
            return rep;
        }
        case route_kind::ws: {
            auto rep = text_reply(http::status::upgrade_required, "WebSocket endpoint\n");
            rep.fields.set(http::field::upgrade, "websocket");
            return rep;
        }
        case route_kind::locale_redirect:
            // nginx: return 301 /NODE$request_uri;
            return redirect_reply(http::status::moved_permanently,
                                  "/" + node.options.id + std::string(req.target()));
        case route_kind::slash_redirect:
            return redirect_reply(
                http::status::moved_permanently,
                mount_base + "/" + (query.empty() ? "" : "?" + std::string(query)));
        case route_kind::index:
            return page_reply(req, r.mount->index);
        case route_kind::guest:
            return page_reply(req, r.mount->guest);
        case route_kind::locale: {
            reply rep;
            rep.fields.set(http::field::content_type, "application/json");
            rep.fields.set(http::field::cache_control, "no-cache");
            rep.owned = render_locale_json(sanitize_locale(query));
            return rep;
        }
        case route_kind::asset:
            return asset_reply(req, *r.file);
        case route_kind::test:
        case route_kind::not_found:
            break;
    }
    return text_reply(http::status::not_found, "404 Not Found\n");
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

/// Current time as an IMF-fixdate (RFC 9110 §5.6.7), formatted at most once per second and thread.
std::string http_date() {
    thread_local std::time_t cached = -1;
    thread_local std::array<char, 40> text{};
    const auto now = std::time(nullptr);
    if (now != cached) {
        std::tm tm{};
        gmtime_r(&now, &tm);
        static constexpr std::array<const char*, 7> days{"Sun", "Mon", "Tue", "Wed",
                                                         "Thu", "Fri", "Sat"};
        static constexpr std::array<const char*, 12> months{
            "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
        std::snprintf(text.data(), text.size(), "%s, %02d %s %04d %02d:%02d:%02d GMT",
                      days[static_cast<std::size_t>(tm.tm_wday)], tm.tm_mday,
                      months[static_cast<std::size_t>(tm.tm_mon)], tm.tm_year + 1900, tm.tm_hour,
                      tm.tm_min, tm.tm_sec);
        cached = now;
    }
    return text.data();
}

/// The pattern the byte-producing test endpoints send: byte i = 'a' + i % 26. Its length is a
/// multiple of 26 so any window of the infinite sequence is a slice starting at offset % 26.
const std::string& pattern_bytes() {
    static const std::string bytes = [] {
        std::string s(26 * 2520, '\0');
        for (std::size_t i = 0; i < s.size(); ++i) {
            s[i] = static_cast<char>('a' + i % 26);
        }
        return s;
    }();
    return bytes;
}

tcp::socket& lowest_socket(plain_stream& s) {
    return s.socket();
}
tcp::socket& lowest_socket(tls_stream& s) {
    return beast::get_lowest_layer(s).socket();
}

/// Ends a connection whose last response is written: FIN first, then drain what the peer still
/// sends until it closes (or close_grace passes), so the kernel does not answer unread input
/// with an RST that could destroy the response in flight.
awaitable<void> close_gracefully(plain_stream& s) {
    error_code ec;
    s.socket().shutdown(tcp::socket::shutdown_send, ec);
    if (!ec) {
        s.expires_after(close_grace);
        std::array<char, 4096> sink{};
        for (;;) {
            auto [read_ec, n] = co_await s.async_read_some(asio::buffer(sink), use_nothrow);
            if (read_ec) {
                break;
            }
        }
    }
    s.socket().close(ec);
}

/// TLS: send close_notify (so a close-delimited body ends cleanly) and wait briefly for the
/// peer's.
awaitable<void> close_gracefully(tls_stream& s) {
    beast::get_lowest_layer(s).expires_after(close_grace);
    co_await s.async_shutdown(use_nothrow);
    error_code ec;
    beast::get_lowest_layer(s).socket().close(ec);
}

// ---------------------------------------------------------------------------------------------
// One connection
// ---------------------------------------------------------------------------------------------

/// What a handler wants the read loop to do next.
enum class next_step {
    read_next,  ///< keep-alive: read the next request
    close,      ///< graceful close
    abort,      ///< drop the connection now (peer gone, or the endpoint already closed it)
};

struct request_info {
    http::verb method = http::verb::get;
    unsigned version = 11;
    bool keep_alive = false;
};

/// The HTTP/WebSocket session of one connection. Lives in the frame of run_connection() and
/// runs on the connection's strand; `stream` belongs to that frame too.
template <class Stream>
class session {
  public:
    session(std::shared_ptr<node_state> node, connection& conn, Stream& stream)
        : node_(std::move(node)), conn_(conn), stream_(stream) {}

    awaitable<void> run() {
        for (;;) {
            const auto step = co_await serve_one();
            if (step == next_step::close) {
                co_await close_gracefully(stream_);
            }
            if (step != next_step::read_next) {
                co_return;
            }
        }
    }

  private:
    awaitable<next_step> serve_one() {
        http::request_parser<http::string_body> parser;
        parser.header_limit(header_limit);
        parser.body_limit(body_limit);
        if (const auto ec = co_await read_head(parser)) {
            co_return co_await on_read_error(ec);
        }
        node_->counters.requests.fetch_add(1, std::memory_order_relaxed);
        if (drop_next_) {
            error_code ec;
            lowest_socket(stream_).close(ec);
            co_return next_step::abort;
        }
        if (websocket::is_upgrade(parser.get())) {
            auto req = parser.release();
            co_return co_await on_upgrade(req);
        }
        if (!parser.is_done()) {
            auto [body_ec, m] = co_await http::async_read(stream_, buffer_, parser, use_nothrow);
            if (body_ec) {
                co_return co_await on_read_error(body_ec);
            }
        }
        auto req = parser.release();
        co_return co_await on_request(req);
    }

    /// Like http::async_read_header, but keeps the raw head in raw_head_ (for echo-headers).
    awaitable<error_code> read_head(http::request_parser<http::string_body>& parser) {
        raw_head_.clear();
        for (;;) {
            if (buffer_.size() > 0) {
                error_code ec;
                const auto used = parser.put(buffer_.data(), ec);
                raw_head_.append(static_cast<const char*>(buffer_.data().data()), used);
                buffer_.consume(used);
                if (ec && ec != http::error::need_more) {
                    co_return ec;
                }
                if (!ec && parser.is_header_done()) {
                    co_return ec;
                }
                if (!ec && used > 0 && buffer_.size() > 0) {
                    continue;  // the parser took one piece; more is buffered
                }
            }
            auto [ec, n] =
                co_await stream_.async_read_some(buffer_.prepare(16 * 1024), use_nothrow);
            if (ec) {
                co_return ec == asio::error::eof ? error_code(http::error::end_of_stream) : ec;
            }
            buffer_.commit(n);
        }
    }

    awaitable<next_step> on_read_error(error_code ec) {
        if (ec.category() != http::make_error_code(http::error::bad_target).category() ||
            ec == http::error::end_of_stream || ec == http::error::partial_message) {
            co_return next_step::abort;  // the peer closed or the connection broke
        }
        auto status = http::status::bad_request;
        if (ec == http::error::header_limit) {
            status = http::status::request_header_fields_too_large;
        } else if (ec == http::error::body_limit) {
            status = http::status::payload_too_large;
        }
        auto rep = text_reply(status, std::string(http::obsolete_reason(status)) + "\n");
        rep.close = true;
        co_return co_await write_reply(request_info{}, rep);
    }

    static request_info info(const request& req) {
        return {req.method(), req.version(), req.keep_alive()};
    }

    awaitable<next_step> on_request(const request& req) {
        const auto [path, query] = split_target(req.target());
        const auto r = resolve(*node_, path);
        if (r.kind == route_kind::test) {
            co_return co_await on_test(req, r, query);
        }
        auto rep = make_reply(*node_, req, r, query);
        co_return co_await write_reply(info(req), rep);
    }

    awaitable<next_step> on_upgrade(const request& req) {
        const auto [path, query] = split_target(req.target());
        const auto r = resolve(*node_, path);
        if (r.kind == route_kind::ws) {
            co_await websocket_echo(req);
            co_return next_step::abort;
        }
        if (r.kind == route_kind::test && r.test_name == "bad-accept") {
            co_await bad_accept_echo();
            co_return next_step::abort;
        }
        // Like nginx serving a static file: the Upgrade header is ignored elsewhere.
        co_return co_await on_request(req);
    }

    template <class Message>
    static void decorate(Message& res) {
        res.version(11);
        res.set(http::field::server, server_name);
        res.set(http::field::date, http_date());
    }

    /// Writes `rep` as the answer to a request described by `req`.
    awaitable<next_step> write_reply(const request_info& req, reply& rep) {
        const bool keep = req.keep_alive && !rep.close;
        const auto code = static_cast<unsigned>(rep.status);
        const bool bodiless_status = code == 304 || code == 204 || code < 200;
        const auto body = rep.body();
        error_code ec;
        if (req.method == http::verb::head || bodiless_status) {
            http::response<http::empty_body> res;
            fill(res, rep, req, keep);
            if (!bodiless_status) {
                res.content_length(body.size());  // HEAD: the length a GET would get
            }
            std::tie(ec, std::ignore) = co_await http::async_write(stream_, res, use_nothrow);
        } else {
            http::response<http::span_body<const char>> res;
            fill(res, rep, req, keep);
            res.body() = {body.data(), body.size()};
            res.content_length(body.size());
            std::tie(ec, std::ignore) = co_await http::async_write(stream_, res, use_nothrow);
        }
        if (ec) {
            co_return next_step::abort;
        }
        co_return keep ? next_step::read_next : next_step::close;
    }

    template <class Message>
    void fill(Message& res, const reply& rep, const request_info& req, bool keep) {
        res.result(rep.status);
        decorate(res);
        for (const auto& f : rep.fields) {
            res.insert(f.name_string(), f.value());
        }
        if (!keep) {
            res.keep_alive(false);
        } else if (req.version < 11) {
            res.set(http::field::connection, "keep-alive");  // HTTP/1.0 needs it spelled out
        }
    }

    /// Writes only a response head (the caller writes the body, if any, raw).
    awaitable<bool> write_head(http::response<http::empty_body>& res) {
        decorate(res);
        http::response_serializer<http::empty_body> sr{res};
        auto [ec, n] = co_await http::async_write_header(stream_, sr, use_nothrow);
        co_return !ec;
    }

    /// Writes bytes [offset, offset + n) of the pattern sequence.
    awaitable<bool> write_pattern(std::uint64_t offset, std::uint64_t n) {
        const auto& bytes = pattern_bytes();
        std::size_t pos = static_cast<std::size_t>(offset % 26);
        while (n > 0) {
            const auto len =
                static_cast<std::size_t>(std::min<std::uint64_t>(n, bytes.size() - pos));
            auto [ec, written] = co_await asio::async_write(
                stream_, asio::buffer(bytes.data() + pos, len), use_nothrow);
            if (ec) {
                co_return false;
            }
            n -= len;
            pos = (pos + len) % 26;
        }
        co_return true;
    }

    awaitable<bool> write_raw(std::string_view bytes) {
        auto [ec, n] = co_await asio::async_write(stream_, asio::buffer(bytes), use_nothrow);
        co_return !ec;
    }

    /// Closes with SO_LINGER 0: the peer sees a reset (RST), not an orderly end.
    void reset_connection() {
        error_code ec;
        auto& socket = lowest_socket(stream_);
        socket.set_option(asio::socket_base::linger(true, 0), ec);
        socket.close(ec);
    }

    /// Keeps the connection open without answering until the peer closes it or stop().
    awaitable<void> wait_for_close() {
        std::array<char, 4096> sink{};
        for (;;) {
            auto [ec, n] = co_await stream_.async_read_some(asio::buffer(sink), use_nothrow);
            if (ec) {
                co_return;
            }
        }
    }

    awaitable<next_step> on_test(const request& req, const route& r, std::string_view query) {
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

    awaitable<next_step> on_cacheable(const request& req, std::string_view query) {
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
        const bool gzip =
            vary && req[http::field::accept_encoding].find("gzip") != std::string::npos;
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
        const bool not_modified = has_inm
                                      ? etag_matches(req[http::field::if_none_match], etag)
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
                auto [ec, w] =
                    co_await asio::async_write(stream_, asio::buffer(upper), use_nothrow);
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

    /// The chunked body: 4 chunks (fewer when n < 4; chunks are capped at ~64 KiB, so a large n
    /// gives more), each written separately, then the last-chunk.
    awaitable<bool> write_chunks(std::uint64_t n) {
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

    awaitable<bool> write_slowly(std::uint64_t n, std::uint64_t ms) {
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

    awaitable<void> websocket_echo(const request& req) {
        websocket::stream<Stream&> ws(stream_);
        ws.set_option(websocket::stream_base::decorator(
            [](websocket::response_type& res) { res.set(http::field::server, server_name); }));
        ws.read_message_max(ws_message_limit);
        auto [ec] = co_await ws.async_accept(req, use_nothrow);
        if (ec) {
            co_return;
        }
        node_->counters.websockets.fetch_add(1, std::memory_order_relaxed);
        beast::flat_buffer message;
        for (;;) {
            auto [read_ec, n] = co_await ws.async_read(message, use_nothrow);
            if (read_ec) {
                co_return;  // closed by the peer (Beast answered the close frame) or broken
            }
            ws.text(ws.got_text());
            auto [write_ec, m] = co_await ws.async_write(message.data(), use_nothrow);
            if (write_ec) {
                co_return;
            }
            message.consume(message.size());
        }
    }

    /// A 101 that no client may accept (the accept value is not base64(SHA-1(key + GUID)) for
    /// any key), then a raw byte echo: a proxy must not tunnel this.
    awaitable<void> bad_accept_echo() {
        const bool ok = co_await write_raw(
            "HTTP/1.1 101 Switching Protocols\r\n"
            "Upgrade: websocket\r\n"
            "Connection: Upgrade\r\n"
            "Sec-WebSocket-Accept: AAAAAAAAAAAAAAAAAAAAAAAAAAA=\r\n"
            "\r\n");
        if (!ok) {
            co_return;
        }
        std::array<char, 4096> chunk{};
        for (;;) {
            if (buffer_.size() > 0) {  // bytes that arrived right behind the request head
                auto [ec, n] = co_await asio::async_write(stream_, buffer_.data(), use_nothrow);
                if (ec) {
                    co_return;
                }
                buffer_.consume(buffer_.size());
            }
            auto [ec, n] = co_await stream_.async_read_some(asio::buffer(chunk), use_nothrow);
            if (ec) {
                co_return;
            }
            auto [write_ec, m] =
                co_await asio::async_write(stream_, asio::buffer(chunk.data(), n), use_nothrow);
            if (write_ec) {
                co_return;
            }
        }
    }

    std::shared_ptr<node_state> node_;
    connection& conn_;
    Stream& stream_;
    beast::flat_buffer buffer_;
    std::string raw_head_;    ///< the current request's head as received
    bool drop_next_ = false;  ///< drop-next: close on the next request without answering
};

/// Decrements active_connections however the session frame ends.
struct active_guard {
    node_counters& counters;
    ~active_guard() { counters.active_connections.fetch_sub(1, std::memory_order_relaxed); }
};

awaitable<void> run_connection(std::shared_ptr<node_state> node, tcp::socket socket) {
    active_guard active{node->counters};
    auto conn = std::make_shared<connection>(socket.get_executor());
    if (node->options.tls != nullptr) {
        tls_stream stream(std::move(socket), *node->options.tls);
        registration reg(*node, conn, lowest_socket(stream));
        if (!reg.active()) {
            co_return;
        }
        auto [ec] = co_await stream.async_handshake(ssl::stream_base::server, use_nothrow);
        if (ec) {
            logger()->debug("[c{}] TLS handshake failed: {}", reg.id(), ec.message());
            co_return;
        }
        session<tls_stream> s(node, *conn, stream);
        co_await s.run();
    } else {
        plain_stream stream(std::move(socket));
        registration reg(*node, conn, lowest_socket(stream));
        if (!reg.active()) {
            co_return;
        }
        session<plain_stream> s(node, *conn, stream);
        co_await s.run();
    }
}

void log_session_failure(std::exception_ptr e) {
    if (!e) {
        return;
    }
    try {
        std::rethrow_exception(e);
    } catch (const std::exception& ex) {
        logger()->error("session failed: {}", ex.what());
    } catch (...) {
        logger()->error("session failed: unknown exception");
    }
}

awaitable<void> accept_loop(std::shared_ptr<node_state> node) {
    for (;;) {
        auto [ec, socket] = co_await node->acceptor.async_accept(
            asio::any_io_executor(asio::make_strand(node->ioc)), use_nothrow);
        if (ec) {
            if (ec == asio::error::operation_aborted || !node->acceptor.is_open() ||
                node->is_stopped()) {
                co_return;
            }
            // EMFILE and friends: back off instead of spinning.
            logger()->debug("accept failed: {}", ec.message());
            asio::steady_timer pause(node->acceptor.get_executor(), std::chrono::milliseconds(50));
            co_await pause.async_wait(use_nothrow);
            continue;
        }
        node->counters.connections.fetch_add(1, std::memory_order_relaxed);
        node->counters.active_connections.fetch_add(1, std::memory_order_relaxed);
        error_code ignored;
        socket.set_option(tcp::no_delay(true), ignored);
        auto executor = socket.get_executor();
        asio::co_spawn(executor, run_connection(node, std::move(socket)), log_session_failure);
    }
}

}  // namespace

struct fake_node::impl : node_state {
    using node_state::node_state;
};

fake_node::fake_node(asio::io_context& ioc, node_options options)
    : impl_(std::make_shared<impl>(ioc, std::move(options))) {
    (void)client_assets();  // build the shared assets now rather than inside the first request
}

fake_node::~fake_node() {
    stop();
}

void fake_node::start() {
    {
        std::lock_guard lock(impl_->mutex);
        if (impl_->started || impl_->stopped) {
            return;
        }
        impl_->started = true;
    }
    std::shared_ptr<node_state> node = impl_;
    asio::co_spawn(impl_->acceptor.get_executor(), accept_loop(node), log_session_failure);
}

void fake_node::stop() {
    std::vector<std::shared_ptr<connection>> open;
    {
        std::lock_guard lock(impl_->mutex);
        if (impl_->stopped) {
            return;
        }
        impl_->stopped = true;
        for (const auto& [id, conn] : impl_->connections) {
            open.push_back(conn);
        }
    }
    std::shared_ptr<node_state> node = impl_;
    asio::post(impl_->acceptor.get_executor(), [node] {
        error_code ignored;
        node->acceptor.close(ignored);
    });
    for (auto& conn : open) {
        asio::post(conn->strand, [conn] { conn->close(); });
    }
}

std::uint16_t fake_node::port() const {
    return impl_->port;
}

std::string fake_node::origin() const {
    return impl_->origin;
}

const node_options& fake_node::options() const {
    return impl_->options;
}

node_counters& fake_node::counters() {
    return impl_->counters;
}

}  // namespace bcp::demo
