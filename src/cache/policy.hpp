#pragma once
// RFC 9111 (HTTP caching) as pure functions for a shared cache: what may be stored, how long it
// stays fresh, how old it is, whether a stale copy may still be used, and how a client's
// conditional request is answered from a stored response. No I/O, no clocks: callers pass the
// times in (seconds since the epoch), so every rule is table-testable.

#include <cstdint>
#include <ctime>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace bcp::cache {

/// The directives of a Cache-Control field value (RFC 9111 §5.2) that a shared cache acts on.
/// Unknown directives are ignored (§5.2.3); a malformed delta-seconds argument makes the
/// directive count as present with value 0 (the conservative reading of §1.2.2).
struct cache_control {
    bool no_store = false;
    bool no_cache = false;  ///< response: store, but validate before every use
    bool is_private = false;
    bool is_public = false;
    bool must_revalidate = false;
    bool proxy_revalidate = false;
    bool immutable = false;
    bool no_transform = false;  ///< §5.2.2.6: an intermediary must not re-encode the content
    std::optional<std::int64_t> max_age;
    std::optional<std::int64_t> s_maxage;
    std::optional<std::int64_t> stale_if_error;  ///< RFC 5861 §4
};

/// Parses one Cache-Control value, or several joined with ','. Never fails.
cache_control parse_cache_control(std::string_view value);

/// Parses a targeted cache-control field value (RFC 9213 §2.1; here CDN-Cache-Control, §3), or
/// several field lines joined with ", ". It is a Structured Fields Dictionary (RFC 8941 §3.2), so
/// unlike Cache-Control it is read strictly: nullopt (the field is to be ignored, §2.1) when it is
/// empty or not a valid Dictionary, or when a directive this cache acts on has a value of another
/// type than the one its definition implies (a Boolean flag, a String for the field list of
/// no-cache/private, a non-negative Integer for max-age, s-maxage, stale-if-error). A repeated
/// directive takes its last value (RFC 8941 §4.2.2); parameters and unknown directives are
/// ignored.
std::optional<cache_control> parse_targeted_cache_control(std::string_view value);

/// An HTTP-date (RFC 9110 §5.6.7) in the preferred IMF-fixdate form, or nullopt. The obsolete
/// RFC 850 and asctime forms are refused too: an invalid Expires then means "already expired"
/// (RFC 9111 §5.3), the safe direction.
std::optional<std::time_t> parse_http_date(std::string_view text);

/// One response header field as received (name case as sent).
struct header_field {
    std::string_view name;
    std::string_view value;
};

/// Extracts the response facts from its fields. A missing or invalid Date reads as
/// `response_time` (RFC 9110 §6.6.1: the recipient's receive time). The proxy is a CDN cache in
/// the sense of RFC 9213 §3 (its target list is [CDN-Cache-Control]): a valid, non-empty
/// CDN-Cache-Control replaces Cache-Control and Expires for storage and freshness (§2.2); the
/// fields themselves are still relayed to the client unchanged.
struct response_facts;
response_facts facts_from(unsigned status, const std::vector<header_field>& fields,
                          std::time_t response_time);

/// The request headers the response's Vary nominates, lower case, each once. A response with
/// Content-Encoding but without Vary: Accept-Encoding is treated as if it had it: otherwise a node
/// that forgot gzip_vary would have gzip bytes served to clients that cannot decode them.
std::vector<std::string> vary_names(const std::vector<header_field>& fields);

/// The request facts that decide whether the cache may take part at all.
struct request_facts {
    bool get = true;             ///< GET (a HEAD is answered from stored GET responses)
    bool authorization = false;  ///< Authorization present
    bool cookie = false;         ///< Cookie present
    bool no_store = false;       ///< request Cache-Control: no-store
    bool range = false;          ///< Range present (partial responses are not cached)
};

/// The response facts storage and freshness depend on, extracted once from the head.
struct response_facts {
    unsigned status = 200;
    cache_control cc;       ///< from CDN-Cache-Control when `targeted`, else from Cache-Control
    bool targeted = false;  ///< RFC 9213: CDN-Cache-Control was used; Cache-Control and Expires
                            ///< were ignored (except Cache-Control's no-transform, see facts_from)
    bool set_cookie = false;
    bool vary_star = false;  ///< Vary: * (RFC 9111 §4.1: never matches a later request)
    std::optional<std::time_t> date;
    bool has_expires = false;
    std::optional<std::time_t> expires;  ///< nullopt with has_expires: invalid = expired
    std::optional<std::time_t> last_modified;
    bool has_etag = false;
    std::int64_t age = 0;  ///< the node's Age header (0 when absent or invalid)
    std::optional<std::uint64_t> content_length;
};

enum class verdict {
    store,
    not_get,      ///< only GET responses are stored
    bypass,       ///< request Range or Cache-Control: no-store
    status,       ///< only 200 is stored
    no_store,     ///< response no-store
    is_private,   ///< response private (a shared cache must not store it, §3)
    set_cookie,   ///< never shared: it would hand one client's session to others
    vary_star,    ///< Vary: *
    credentials,  ///< request had Authorization/Cookie and the response is not explicitly public
    useless,      ///< neither fresh for a while nor revalidatable: storing gains nothing
    too_large,    ///< Content-Length over the per-object limit
};
std::string_view to_string(verdict v);

/// RFC 9111 §3 for a shared cache, narrowed to what this proxy stores: 200 responses to GET whose
/// Content-Length, if they have one, is at most `max_object` (any framing is stored).
/// `heuristic_cap` as in freshness_lifetime().
verdict storable(const request_facts& req, const response_facts& res, std::uint64_t max_object,
                 std::int64_t heuristic_cap);

/// The answer to a POST on a path the configuration caches (post.cached; docs/architecture.md
/// "Cached POSTs"). RFC 9111 §4 reuses a POST response only for a later GET; here the operator
/// declares the path a read whose answer depends on its target and body alone (as BBB's own nginx
/// does for Meteor's dynamic-import endpoint), so it is stored under a key with the body's hash
/// unless the node forbids it: only 200, not no-store, private, no-cache (a POST cannot be
/// revalidated), Set-Cookie or Vary: *, and not larger than `max_object`. Request credentials do
/// not matter: the answer is shared by configuration. `validity` as in post_freshness_lifetime();
/// an answer with no lifetime is useless (it cannot be revalidated).
verdict post_storable(const response_facts& res, std::uint64_t max_object, std::int64_t validity);
/// Its lifetime: the node's explicit one (s-maxage, max-age, Expires), else `validity` seconds
/// (post.cache_validity).
std::int64_t post_freshness_lifetime(const response_facts& res, std::int64_t validity);

/// §4.2.1 for a shared cache: s-maxage, then max-age, then Expires − Date, then the §4.2.2
/// heuristic (10 % of Date − Last-Modified, at most `heuristic_cap` seconds) only when there is
/// no explicit expiration at all. Seconds; 0 means stale on arrival.
std::int64_t freshness_lifetime(const response_facts& res, std::int64_t heuristic_cap);

/// §4.2.3: the age of the response when it was received, from Age, Date and the request/response
/// times (`request_time` when the request was sent, `response_time` when the head arrived).
std::int64_t corrected_initial_age(const response_facts& res, std::time_t request_time,
                                   std::time_t response_time);

/// §4.2.4 and RFC 5861: whether a stale response may be served because the node failed, `stale_for`
/// seconds after it went stale. The response's own stale-if-error wins over `default_bound`;
/// no-cache, must-revalidate, proxy-revalidate and s-maxage forbid it.
bool may_serve_stale_on_error(const cache_control& cc, std::int64_t stale_for,
                              std::int64_t default_bound);

/// §4.2.4: a stale response may be served without revalidation only on error (above); this
/// tells whether a stored response must be validated before use even while fresh (no-cache).
inline bool needs_validation_always(const cache_control& cc) {
    return cc.no_cache;
}

/// RFC 9110 §13.1.2 weak comparison of an If-None-Match list (or "*") with an entity tag.
bool if_none_match_matches(std::string_view if_none_match, std::string_view etag);

/// RFC 9110 §13.2.2 steps 3–4 for a GET/HEAD answered from a stored 200: true when the client
/// gets 304. If-None-Match wins over If-Modified-Since; an invalid date is ignored.
bool not_modified(std::string_view if_none_match, bool has_if_none_match,
                  std::string_view if_modified_since, std::string_view etag,
                  std::optional<std::time_t> last_modified);

}  // namespace bcp::cache
