#include "cache/policy.hpp"

#include <algorithm>
#include <array>
#include <limits>

namespace bcp::cache {
namespace {

char lower(char c) {
    return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c;
}

bool iequals(std::string_view a, std::string_view b) {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(),
                                              [](char x, char y) { return lower(x) == lower(y); });
}

std::string_view trim(std::string_view v) {
    while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) {
        v.remove_prefix(1);
    }
    while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) {
        v.remove_suffix(1);
    }
    return v;
}

// RFC 9111 §1.2.2: delta-seconds; values beyond 2^31 are read as 2^31. Quoted values are accepted
// for max-age and friends (§5.2: senders SHOULD NOT quote, recipients may see it).
std::int64_t delta_seconds(std::string_view v) {
    if (v.size() >= 2 && v.front() == '"' && v.back() == '"') {
        v = v.substr(1, v.size() - 2);
    }
    if (v.empty()) {
        return 0;
    }
    std::int64_t n = 0;
    for (const char c : v) {
        if (c < '0' || c > '9') {
            return 0;
        }
        n = std::min<std::int64_t>(n * 10 + (c - '0'), std::int64_t{1} << 31);
    }
    return n;
}

int two_digits(std::string_view s, std::size_t at) {
    const char a = s[at];
    const char b = s[at + 1];
    if (a < '0' || a > '9' || b < '0' || b > '9') {
        return -1;
    }
    return (a - '0') * 10 + (b - '0');
}

}  // namespace

cache_control parse_cache_control(std::string_view value) {
    cache_control cc;
    while (!value.empty()) {
        // Split on commas outside quoted strings (private="Set-Cookie, X" is one directive).
        std::size_t end = 0;
        bool quoted = false;
        for (; end < value.size(); ++end) {
            if (value[end] == '"') {
                quoted = !quoted;
            } else if (value[end] == ',' && !quoted) {
                break;
            }
        }
        const std::string_view item = trim(value.substr(0, end));
        value.remove_prefix(std::min(end + 1, value.size()));
        if (item.empty()) {
            continue;
        }
        const auto eq = item.find('=');
        const std::string_view name = trim(item.substr(0, eq));
        const std::string_view arg =
            eq == std::string_view::npos ? std::string_view{} : trim(item.substr(eq + 1));
        if (iequals(name, "no-store")) {
            cc.no_store = true;
        } else if (iequals(name, "no-cache")) {
            // The qualified form (no-cache="field") is read as unqualified: stricter, allowed
            // by §5.2.2.4.
            cc.no_cache = true;
        } else if (iequals(name, "private")) {
            cc.is_private = true;
        } else if (iequals(name, "public")) {
            cc.is_public = true;
        } else if (iequals(name, "must-revalidate")) {
            cc.must_revalidate = true;
        } else if (iequals(name, "proxy-revalidate")) {
            cc.proxy_revalidate = true;
        } else if (iequals(name, "immutable")) {
            cc.immutable = true;
        } else if (iequals(name, "max-age")) {
            // §4.2.1: with duplicates, the cache should consider the response stale; taking the
            // smallest value is the closest safe reading.
            const auto v = delta_seconds(arg);
            cc.max_age = cc.max_age ? std::min(*cc.max_age, v) : v;
        } else if (iequals(name, "s-maxage")) {
            const auto v = delta_seconds(arg);
            cc.s_maxage = cc.s_maxage ? std::min(*cc.s_maxage, v) : v;
        } else if (iequals(name, "stale-if-error")) {
            const auto v = delta_seconds(arg);
            cc.stale_if_error = cc.stale_if_error ? std::min(*cc.stale_if_error, v) : v;
        }
    }
    return cc;
}

std::optional<std::time_t> parse_http_date(std::string_view t) {
    // IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT" (29 bytes).
    if (t.size() != 29 || t[3] != ',' || t[4] != ' ' || t[7] != ' ' || t[11] != ' ' ||
        t[16] != ' ' || t[19] != ':' || t[22] != ':' || t.substr(25) != " GMT") {
        return std::nullopt;
    }
    static constexpr std::array<std::string_view, 7> days{"Sun", "Mon", "Tue", "Wed",
                                                          "Thu", "Fri", "Sat"};
    static constexpr std::array<std::string_view, 12> months{
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    if (std::find(days.begin(), days.end(), t.substr(0, 3)) == days.end()) {
        return std::nullopt;
    }
    const auto month = std::find(months.begin(), months.end(), t.substr(8, 3));
    if (month == months.end()) {
        return std::nullopt;
    }
    const int day = two_digits(t, 5);
    const int y1 = two_digits(t, 12);
    const int y2 = two_digits(t, 14);
    const int hour = two_digits(t, 17);
    const int minute = two_digits(t, 20);
    const int second = two_digits(t, 23);
    if (day < 1 || day > 31 || y1 < 0 || y2 < 0 || hour < 0 || hour > 23 || minute < 0 ||
        minute > 59 || second < 0 || second > 60) {
        return std::nullopt;
    }
    std::tm tm{};
    tm.tm_year = y1 * 100 + y2 - 1900;
    tm.tm_mon = static_cast<int>(month - months.begin());
    tm.tm_mday = day;
    tm.tm_hour = hour;
    tm.tm_min = minute;
    tm.tm_sec = second;
    const std::time_t v = timegm(&tm);
    if (v == static_cast<std::time_t>(-1)) {
        return std::nullopt;
    }
    return v;
}

response_facts facts_from(unsigned status, const std::vector<header_field>& fields,
                          std::time_t response_time) {
    response_facts f;
    f.status = status;
    std::string cc_joined;
    for (const auto& h : fields) {
        if (iequals(h.name, "cache-control")) {
            if (!cc_joined.empty()) {
                cc_joined += ',';
            }
            cc_joined.append(h.value);
        } else if (iequals(h.name, "set-cookie")) {
            f.set_cookie = true;
        } else if (iequals(h.name, "vary")) {
            std::string_view v = h.value;
            while (!v.empty()) {
                const auto comma = v.find(',');
                if (trim(v.substr(0, comma)) == "*") {
                    f.vary_star = true;
                }
                if (comma == std::string_view::npos) {
                    break;
                }
                v.remove_prefix(comma + 1);
            }
        } else if (iequals(h.name, "date")) {
            f.date = parse_http_date(trim(h.value));
        } else if (iequals(h.name, "expires")) {
            f.has_expires = true;
            f.expires = parse_http_date(trim(h.value));
        } else if (iequals(h.name, "last-modified")) {
            f.last_modified = parse_http_date(trim(h.value));
        } else if (iequals(h.name, "etag")) {
            f.has_etag = !trim(h.value).empty();
        } else if (iequals(h.name, "age")) {
            f.age = delta_seconds(trim(h.value));
        } else if (iequals(h.name, "content-length")) {
            const auto v = trim(h.value);
            std::uint64_t n = 0;
            bool ok = !v.empty() && v.size() <= 18;
            for (const char c : v) {
                ok = ok && c >= '0' && c <= '9';
                n = n * 10 + static_cast<std::uint64_t>(c - '0');
            }
            if (ok) {
                f.content_length = n;
            }
        }
    }
    f.cc = parse_cache_control(cc_joined);
    if (!f.date) {
        f.date = response_time;
    }
    return f;
}

std::vector<std::string> vary_names(const std::vector<header_field>& fields) {
    std::vector<std::string> names;
    bool encoded = false;
    for (const auto& h : fields) {
        if (iequals(h.name, "content-encoding") && !iequals(trim(h.value), "identity")) {
            encoded = true;
        }
        if (!iequals(h.name, "vary")) {
            continue;
        }
        std::string_view v = h.value;
        while (!v.empty()) {
            const auto comma = v.find(',');
            const auto item = trim(v.substr(0, comma));
            if (!item.empty() && item != "*") {
                std::string name(item);
                for (auto& c : name) {
                    c = lower(c);
                }
                if (std::find(names.begin(), names.end(), name) == names.end()) {
                    names.push_back(std::move(name));
                }
            }
            if (comma == std::string_view::npos) {
                break;
            }
            v.remove_prefix(comma + 1);
        }
    }
    if (encoded && std::find(names.begin(), names.end(), "accept-encoding") == names.end()) {
        names.emplace_back("accept-encoding");
    }
    return names;
}

std::string_view to_string(verdict v) {
    switch (v) {
        case verdict::store:
            return "store";
        case verdict::not_get:
            return "not GET";
        case verdict::bypass:
            return "request bypasses the cache";
        case verdict::status:
            return "status not 200";
        case verdict::no_store:
            return "no-store";
        case verdict::is_private:
            return "private";
        case verdict::set_cookie:
            return "Set-Cookie";
        case verdict::vary_star:
            return "Vary: *";
        case verdict::credentials:
            return "credentials without public";
        case verdict::useless:
            return "no freshness and no validator";
        case verdict::no_length:
            return "no Content-Length";
        case verdict::too_large:
            return "larger than max_object_size";
    }
    return "?";
}

verdict storable(const request_facts& req, const response_facts& res, std::uint64_t max_object,
                 std::int64_t heuristic_cap) {
    if (!req.get) {
        return verdict::not_get;
    }
    if (req.range || req.no_store) {
        return verdict::bypass;
    }
    if (res.status != 200) {
        return verdict::status;
    }
    if (res.cc.no_store) {
        return verdict::no_store;
    }
    if (res.cc.is_private) {
        return verdict::is_private;
    }
    if (res.set_cookie) {
        return verdict::set_cookie;
    }
    if (res.vary_star) {
        return verdict::vary_star;
    }
    // §3.5 lets public, s-maxage or must-revalidate authorise storing a response to a request
    // with Authorization; we ask for an explicit shared-cache permission (public or s-maxage),
    // and treat Cookie the same: cookies on the proxy's origin may select per-user content.
    if ((req.authorization || req.cookie) && !res.cc.is_public && !res.cc.s_maxage) {
        return verdict::credentials;
    }
    if (freshness_lifetime(res, heuristic_cap) <= 0 && !res.has_etag && !res.last_modified) {
        return verdict::useless;
    }
    if (!res.content_length) {
        return verdict::no_length;
    }
    if (*res.content_length > max_object) {
        return verdict::too_large;
    }
    return verdict::store;
}

std::int64_t freshness_lifetime(const response_facts& res, std::int64_t heuristic_cap) {
    if (res.cc.s_maxage) {
        return *res.cc.s_maxage;
    }
    if (res.cc.max_age) {
        return *res.cc.max_age;
    }
    if (res.has_expires) {
        // §5.3: an invalid Expires (or a missing Date, read as the response time by the caller
        // filling `date`) means already expired.
        if (!res.expires || !res.date) {
            return 0;
        }
        return std::max<std::int64_t>(0, *res.expires - *res.date);
    }
    // §4.2.2: heuristics only without explicit expiration; 200 is heuristically cacheable.
    // §4.2.2 suggests 10 % of the time since Last-Modified.
    if (res.last_modified && res.date && *res.date > *res.last_modified) {
        return std::min<std::int64_t>(heuristic_cap, (*res.date - *res.last_modified) / 10);
    }
    return 0;
}

std::int64_t corrected_initial_age(const response_facts& res, std::time_t request_time,
                                   std::time_t response_time) {
    const std::int64_t apparent_age =
        res.date ? std::max<std::int64_t>(0, response_time - *res.date) : 0;
    const std::int64_t response_delay = std::max<std::int64_t>(0, response_time - request_time);
    const std::int64_t corrected_age_value = res.age + response_delay;
    return std::max(apparent_age, corrected_age_value);
}

bool may_serve_stale_on_error(const cache_control& cc, std::int64_t stale_for,
                              std::int64_t default_bound) {
    if (cc.no_cache || cc.must_revalidate || cc.proxy_revalidate || cc.s_maxage) {
        return false;
    }
    const std::int64_t bound = cc.stale_if_error ? *cc.stale_if_error : default_bound;
    return stale_for <= bound;
}

bool if_none_match_matches(std::string_view if_none_match, std::string_view etag) {
    if (etag.empty()) {
        return false;
    }
    const auto opaque = [](std::string_view t) {
        t = trim(t);
        if (t.size() >= 2 && t[0] == 'W' && t[1] == '/') {
            t.remove_prefix(2);
        }
        return t;
    };
    const std::string_view mine = opaque(etag);
    while (!if_none_match.empty()) {
        const auto comma = if_none_match.find(',');
        const std::string_view item = trim(if_none_match.substr(0, comma));
        if (item == "*" || (!item.empty() && opaque(item) == mine)) {
            return true;
        }
        if (comma == std::string_view::npos) {
            break;
        }
        if_none_match.remove_prefix(comma + 1);
    }
    return false;
}

bool not_modified(std::string_view if_none_match, bool has_if_none_match,
                  std::string_view if_modified_since, std::string_view etag,
                  std::optional<std::time_t> last_modified) {
    if (has_if_none_match) {
        return if_none_match_matches(if_none_match, etag);
    }
    if (if_modified_since.empty() || !last_modified) {
        return false;
    }
    const auto since = parse_http_date(trim(if_modified_since));
    return since && *last_modified <= *since;
}

}  // namespace bcp::cache
