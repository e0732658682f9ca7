#include "cache/policy.hpp"

#include "http/request_head.hpp"

#include <algorithm>
#include <array>
#include <limits>

namespace bcp::cache {
namespace {

using http::iequals;
const auto trim = http::trim_ows;

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
        } else if (iequals(name, "no-transform")) {
            cc.no_transform = true;
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

namespace {

// RFC 8941 §4.2, as much of it as a targeted cache-control field needs: member values are
// classified (only an Integer is kept as a number), parameters and inner lists are checked and
// dropped. Each function consumes from `in` and returns false on a parse error.
enum class sf_kind { boolean_true, boolean_false, integer, decimal, string, token, bytes, list };

struct sf_value {
    sf_kind kind = sf_kind::boolean_true;
    std::int64_t integer = 0;
};

bool is_digit(char c) {
    return c >= '0' && c <= '9';
}

bool is_alpha(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

// RFC 9110 §5.6.2 tchar.
bool is_tchar(char c) {
    return is_alpha(c) || is_digit(c) ||
           std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

bool eat(std::string_view& in, char c) {
    if (!in.empty() && in.front() == c) {
        in.remove_prefix(1);
        return true;
    }
    return false;
}

void skip_sp(std::string_view& in) {
    while (eat(in, ' ')) {
    }
}

// §4.2.3.3
bool sf_key(std::string_view& in, std::string_view& key) {
    const auto key_char = [](char c) {
        return (c >= 'a' && c <= 'z') || is_digit(c) || c == '_' || c == '-' || c == '.' ||
               c == '*';
    };
    if (in.empty() || !((in[0] >= 'a' && in[0] <= 'z') || in[0] == '*')) {
        return false;
    }
    std::size_t n = 1;
    while (n < in.size() && key_char(in[n])) {
        ++n;
    }
    key = in.substr(0, n);
    in.remove_prefix(n);
    return true;
}

// §4.2.4: at most 15 integer digits; a Decimal has at most 12 before and 1 to 3 after the dot.
bool sf_number(std::string_view& in, sf_value& v) {
    const bool negative = eat(in, '-');
    if (in.empty() || !is_digit(in[0])) {
        return false;
    }
    std::size_t len = 0;
    std::size_t dot = std::string_view::npos;
    std::int64_t n = 0;
    for (; len < in.size(); ++len) {
        const char c = in[len];
        if (is_digit(c)) {
            if (dot == std::string_view::npos) {
                n = n * 10 + (c - '0');  // ≤ 15 digits: no overflow
            }
        } else if (c == '.' && dot == std::string_view::npos) {
            if (len > 12) {
                return false;
            }
            dot = len;
        } else {
            break;
        }
        if (dot == std::string_view::npos ? len + 1 > 15 : len + 1 > 16) {
            return false;
        }
    }
    if (dot == std::string_view::npos) {
        v.kind = sf_kind::integer;
        v.integer = negative ? -n : n;
    } else {
        const std::size_t fraction = len - dot - 1;
        if (fraction == 0 || fraction > 3) {
            return false;
        }
        v.kind = sf_kind::decimal;
    }
    in.remove_prefix(len);
    return true;
}

// §4.2.5: printable ASCII; only \" and \\ are escapes.
bool sf_string(std::string_view& in) {
    in.remove_prefix(1);  // the opening quote
    while (!in.empty()) {
        const char c = in.front();
        in.remove_prefix(1);
        if (c == '\\') {
            if (in.empty() || (in.front() != '"' && in.front() != '\\')) {
                return false;
            }
            in.remove_prefix(1);
        } else if (c == '"') {
            return true;
        } else if (c < 0x20 || c > 0x7e) {
            return false;
        }
    }
    return false;
}

// §4.2.6
void sf_token(std::string_view& in) {
    std::size_t n = 1;  // the first character was checked by the caller
    while (n < in.size() && (is_tchar(in[n]) || in[n] == ':' || in[n] == '/')) {
        ++n;
    }
    in.remove_prefix(n);
}

// §4.2.7
bool sf_bytes(std::string_view& in) {
    const auto end = in.find(':', 1);
    if (end == std::string_view::npos) {
        return false;
    }
    for (const char c : in.substr(1, end - 1)) {
        if (!is_alpha(c) && !is_digit(c) && c != '+' && c != '/' && c != '=') {
            return false;
        }
    }
    in.remove_prefix(end + 1);
    return true;
}

// §4.2.3.1
bool sf_bare_item(std::string_view& in, sf_value& v) {
    if (in.empty()) {
        return false;
    }
    const char c = in.front();
    if (c == '-' || is_digit(c)) {
        return sf_number(in, v);
    }
    if (c == '"') {
        v.kind = sf_kind::string;
        return sf_string(in);
    }
    if (c == '*' || is_alpha(c)) {
        v.kind = sf_kind::token;
        sf_token(in);
        return true;
    }
    if (c == ':') {
        v.kind = sf_kind::bytes;
        return sf_bytes(in);
    }
    if (c == '?') {
        in.remove_prefix(1);
        if (eat(in, '1')) {
            v.kind = sf_kind::boolean_true;
            return true;
        }
        v.kind = sf_kind::boolean_false;
        return eat(in, '0');
    }
    return false;
}

// §4.2.3.2: parsed for validity; RFC 9213 §2.1 has parameters on directives ignored.
bool sf_parameters(std::string_view& in) {
    while (eat(in, ';')) {
        skip_sp(in);
        std::string_view key;
        if (!sf_key(in, key)) {
            return false;
        }
        sf_value ignored;
        if (eat(in, '=') && !sf_bare_item(in, ignored)) {
            return false;
        }
    }
    return true;
}

// §4.2.1.1 and §4.2.1.2: an Item or an Inner List (classified as `list`).
bool sf_member_value(std::string_view& in, sf_value& v) {
    if (!eat(in, '(')) {
        return sf_bare_item(in, v) && sf_parameters(in);
    }
    v.kind = sf_kind::list;
    while (true) {
        skip_sp(in);
        if (eat(in, ')')) {
            return sf_parameters(in);
        }
        sf_value item;
        if (!sf_bare_item(in, item) || !sf_parameters(in)) {
            return false;
        }
        if (in.empty() || (in.front() != ' ' && in.front() != ')')) {
            return false;
        }
    }
}

// The response directives this cache acts on (RFC 9213 §2.2: at least max-age, must-revalidate,
// no-store, no-cache and private; the others because Cache-Control has them here too).
enum targeted_directive : std::size_t {
    td_no_store,
    td_no_cache,
    td_private,
    td_public,
    td_must_revalidate,
    td_proxy_revalidate,
    td_immutable,
    td_no_transform,
    td_max_age,
    td_s_maxage,
    td_stale_if_error,
    td_count
};
constexpr std::array<std::string_view, td_count> targeted_names{
    "no-store",  "no-cache",     "private", "public",   "must-revalidate", "proxy-revalidate",
    "immutable", "no-transform", "max-age", "s-maxage", "stale-if-error"};

}  // namespace

std::optional<cache_control> parse_targeted_cache_control(std::string_view value) {
    // §4.2.2 (Dictionary), after §4.2's leading-space rule. Only the last value of each directive
    // we act on is kept: a repeated key overwrites the earlier member.
    std::array<std::optional<sf_value>, td_count> last;
    skip_sp(value);
    if (value.empty()) {
        return std::nullopt;  // RFC 9213 §2.1: an empty field is ignored
    }
    while (!value.empty()) {
        std::string_view key;
        if (!sf_key(value, key)) {
            return std::nullopt;
        }
        sf_value v;
        if (eat(value, '=') ? !sf_member_value(value, v) : !sf_parameters(value)) {
            return std::nullopt;
        }
        const auto known = std::find(targeted_names.begin(), targeted_names.end(), key);
        if (known != targeted_names.end()) {
            last[static_cast<std::size_t>(known - targeted_names.begin())] = v;
        }
        while (eat(value, ' ') || eat(value, '\t')) {
        }
        if (value.empty()) {
            break;
        }
        if (!eat(value, ',')) {
            return std::nullopt;
        }
        while (eat(value, ' ') || eat(value, '\t')) {
        }
        if (value.empty()) {
            return std::nullopt;  // a trailing comma
        }
    }
    // RFC 9213 §2.1: values that violate a directive's inferred type are not consumed. We do not
    // consume the field at all then (Cache-Control applies, §2.2): guessing what `no-store=?0` or
    // `max-age=1.5` meant would make this cache differ from the others in front of the node.
    cache_control cc;
    const auto flag = [&](targeted_directive d, bool& out) {
        if (!last[d]) {
            return true;
        }
        const auto k = last[d]->kind;
        // no-cache and private may carry a field-name list (a String); like parse_cache_control,
        // the qualified form counts as the unqualified one (stricter).
        const bool fields_ok = d == td_no_cache || d == td_private;
        out = k == sf_kind::boolean_true || (fields_ok && k == sf_kind::string);
        return out;
    };
    const auto seconds = [&](targeted_directive d, std::optional<std::int64_t>& out) {
        if (!last[d]) {
            return true;
        }
        if (last[d]->kind != sf_kind::integer || last[d]->integer < 0) {
            return false;
        }
        out = std::min<std::int64_t>(last[d]->integer, std::int64_t{1} << 31);  // RFC 9111 §1.2.2
        return true;
    };
    const bool valid = flag(td_no_store, cc.no_store) && flag(td_no_cache, cc.no_cache) &&
                       flag(td_private, cc.is_private) && flag(td_public, cc.is_public) &&
                       flag(td_must_revalidate, cc.must_revalidate) &&
                       flag(td_proxy_revalidate, cc.proxy_revalidate) &&
                       flag(td_immutable, cc.immutable) && flag(td_no_transform, cc.no_transform) &&
                       seconds(td_max_age, cc.max_age) && seconds(td_s_maxage, cc.s_maxage) &&
                       seconds(td_stale_if_error, cc.stale_if_error);
    if (!valid) {
        return std::nullopt;
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
    std::string cdn_joined;
    for (const auto& h : fields) {
        if (iequals(h.name, "cache-control")) {
            if (!cc_joined.empty()) {
                cc_joined += ',';
            }
            cc_joined.append(h.value);
        } else if (iequals(h.name, "cdn-cache-control")) {
            // RFC 8941 §4.2: field lines are combined with ", " before parsing.
            if (const auto v = trim(h.value); !v.empty()) {
                if (!cdn_joined.empty()) {
                    cdn_joined += ", ";
                }
                cdn_joined.append(v);
            }
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
    // RFC 9213 §2.2: a valid, non-empty CDN-Cache-Control decides alone; Cache-Control and
    // Expires are ignored (an invalid one falls back to them). Cache-Control's no-transform still
    // binds us: it is RFC 9110 §7.7's rule for every proxy, not a caching policy.
    if (auto targeted = parse_targeted_cache_control(cdn_joined)) {
        targeted->no_transform = targeted->no_transform || f.cc.no_transform;
        f.cc = *targeted;
        f.targeted = true;
        f.has_expires = false;
        f.expires.reset();
    }
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
                    c = (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c;
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
        case verdict::too_large:
            return "larger than max_object_size";
    }
    return "?";
}

namespace {

// What the response alone forbids a shared cache to store (RFC 9111 §3), for GET and POST alike.
verdict refused_by_response(const response_facts& res) {
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
    return verdict::store;
}

}  // namespace

verdict storable(const request_facts& req, const response_facts& res, std::uint64_t max_object,
                 std::int64_t heuristic_cap) {
    if (!req.get) {
        return verdict::not_get;
    }
    if (req.range || req.no_store) {
        return verdict::bypass;
    }
    if (const auto v = refused_by_response(res); v != verdict::store) {
        return v;
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
    // Without a Content-Length (chunked or close-delimited) the body is stored too; the fill
    // stops storing it if it grows past max_object.
    if (res.content_length && *res.content_length > max_object) {
        return verdict::too_large;
    }
    return verdict::store;
}

verdict post_storable(const response_facts& res, std::uint64_t max_object, std::int64_t validity) {
    if (const auto v = refused_by_response(res); v != verdict::store) {
        return v;
    }
    if (res.cc.no_cache) {
        return verdict::no_store;  // it would have to be revalidated, and a POST cannot be
    }
    if (post_freshness_lifetime(res, validity) <= 0) {
        return verdict::useless;
    }
    if (res.content_length && *res.content_length > max_object) {
        return verdict::too_large;
    }
    return verdict::store;
}

std::int64_t post_freshness_lifetime(const response_facts& res, std::int64_t validity) {
    if (res.cc.s_maxage || res.cc.max_age || res.has_expires) {
        return freshness_lifetime(res, 0);
    }
    return validity;
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
