// Routing and reply building for the simulated BBB node: pure functions of the node state and
// the request, no I/O (the session in fake_node_session.cpp writes what these return).

#include "demo/client_assets.hpp"
#include "demo/fake_node_impl.hpp"

#include <array>
#include <charconv>
#include <cstdio>
#include <ctime>

namespace bcp::demo::detail {
namespace {

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

}  // namespace

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
        } else if (node.options.client == client_kind::meteor &&
                   rest == "/__meteor__/dynamic-import/fetch") {
            r.kind = route_kind::dynamic_import;
        } else if (node.options.client == client_kind::meteor && rest == "/feedback") {
            r.kind = route_kind::feedback;
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

std::uint64_t body_limit_of(const route& r) {
    return r.kind == route_kind::dynamic_import || r.kind == route_kind::feedback
               ? meteor_body_limit
               : body_limit;
}

reply make_reply(const node_state& node, const request& req, const route& r,
                 std::string_view query) {
    if (r.kind == route_kind::dynamic_import || r.kind == route_kind::feedback) {
        if (req.method() != http::verb::post) {
            auto rep = text_reply(http::status::method_not_allowed, "405 Method Not Allowed\n");
            rep.fields.set(http::field::allow, "POST");
            return rep;
        }
        return r.kind == route_kind::dynamic_import ? dynamic_import_reply(node, req)
                                                    : feedback_reply();
    }
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
        case route_kind::dynamic_import:  // answered above
        case route_kind::feedback:
        case route_kind::not_found:
            break;
    }
    return text_reply(http::status::not_found, "404 Not Found\n");
}

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

}  // namespace bcp::demo::detail
