// RFC 9111 rules as tables: storability, freshness, age, stale-if-error, conditionals.
#include "cache/policy.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace bcp::cache {
namespace {

constexpr std::time_t t0 = 1'700'000'000;  // Tue, 14 Nov 2023 22:13:20 GMT
constexpr std::int64_t cap = 86'400;

response_facts facts(std::vector<std::pair<std::string, std::string>> fields,
                     unsigned status = 200) {
    static std::vector<std::pair<std::string, std::string>> keep;  // views must outlive facts_from
    keep = std::move(fields);
    std::vector<header_field> hf;
    for (const auto& [n, v] : keep) {
        hf.push_back({n, v});
    }
    return facts_from(status, hf, t0);
}

TEST(CacheControl, ParsesDirectivesCaseInsensitively) {
    const auto cc = parse_cache_control(
        "Public, MAX-AGE=60, s-maxage=\"30\", must-revalidate, stale-if-error=120, immutable");
    EXPECT_TRUE(cc.is_public);
    EXPECT_TRUE(cc.must_revalidate);
    EXPECT_TRUE(cc.immutable);
    EXPECT_EQ(cc.max_age, 60);
    EXPECT_EQ(cc.s_maxage, 30);
    EXPECT_EQ(cc.stale_if_error, 120);
    EXPECT_FALSE(cc.no_store);
}

TEST(CacheControl, QuotedCommasStayInOneDirective) {
    const auto cc = parse_cache_control("private=\"Set-Cookie, X-Foo\", max-age=5");
    EXPECT_TRUE(cc.is_private);
    EXPECT_EQ(cc.max_age, 5);
}

TEST(CacheControl, MalformedAndDuplicateMaxAgeAreConservative) {
    EXPECT_EQ(parse_cache_control("max-age=abc").max_age, 0);
    EXPECT_EQ(parse_cache_control("max-age=60, max-age=10").max_age, 10);
    EXPECT_EQ(parse_cache_control("max-age=99999999999999").max_age, std::int64_t{1} << 31);
}

TEST(CacheControl, NoTransform) {
    EXPECT_TRUE(parse_cache_control("max-age=60, No-Transform").no_transform);
    EXPECT_TRUE(parse_cache_control("no-transform").no_transform);
    EXPECT_FALSE(parse_cache_control("public, max-age=60").no_transform);
    EXPECT_FALSE(parse_cache_control("no-transformation").no_transform);
}

TEST(HttpDate, ImfFixdateOnly) {
    EXPECT_EQ(parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT"), 784111777);
    EXPECT_FALSE(parse_http_date("Sunday, 06-Nov-94 08:49:37 GMT"));
    EXPECT_FALSE(parse_http_date("Sun Nov  6 08:49:37 1994"));
    EXPECT_FALSE(parse_http_date("Sun, 06 Nov 1994 25:49:37 GMT"));
    EXPECT_FALSE(parse_http_date("0"));
}

struct storable_case {
    const char* name;
    request_facts req;
    std::vector<std::pair<std::string, std::string>> fields;
    unsigned status;
    verdict expected;
};

TEST(Storable, Table) {
    request_facts plain;
    request_facts head_req;
    head_req.get = false;
    request_facts cookie;
    cookie.cookie = true;
    request_facts auth;
    auth.authorization = true;
    request_facts range;
    range.range = true;
    request_facts nostore_req;
    nostore_req.no_store = true;
    const std::pair<std::string, std::string> len{"Content-Length", "10"};
    const std::vector<storable_case> cases{
        {"max-age", plain, {{"Cache-Control", "max-age=60"}, len}, 200, verdict::store},
        {"immutable asset",
         plain,
         {{"Cache-Control", "public, max-age=31536000, immutable"}, len},
         200,
         verdict::store},
        {"HEAD is not stored",
         head_req,
         {{"Cache-Control", "max-age=60"}, len},
         200,
         verdict::not_get},
        {"Range bypasses", range, {{"Cache-Control", "max-age=60"}, len}, 200, verdict::bypass},
        {"request no-store",
         nostore_req,
         {{"Cache-Control", "max-age=60"}, len},
         200,
         verdict::bypass},
        {"404 not stored", plain, {{"Cache-Control", "max-age=60"}, len}, 404, verdict::status},
        {"206 not stored", plain, {{"Cache-Control", "max-age=60"}, len}, 206, verdict::status},
        {"no-store",
         plain,
         {{"Cache-Control", "no-store, max-age=60"}, len},
         200,
         verdict::no_store},
        {"private",
         plain,
         {{"Cache-Control", "private, max-age=60"}, len},
         200,
         verdict::is_private},
        {"Set-Cookie",
         plain,
         {{"Cache-Control", "public, max-age=60"}, {"Set-Cookie", "a=b"}, len},
         200,
         verdict::set_cookie},
        {"Vary star",
         plain,
         {{"Cache-Control", "max-age=60"}, {"Vary", "Accept, *"}, len},
         200,
         verdict::vary_star},
        {"cookie request, not public",
         cookie,
         {{"Cache-Control", "max-age=60"}, len},
         200,
         verdict::credentials},
        {"cookie request, public",
         cookie,
         {{"Cache-Control", "public, max-age=60"}, len},
         200,
         verdict::store},
        {"authorization, s-maxage",
         auth,
         {{"Cache-Control", "s-maxage=60"}, len},
         200,
         verdict::store},
        {"authorization, must-revalidate only",
         auth,
         {{"Cache-Control", "must-revalidate, max-age=60"}, len},
         200,
         verdict::credentials},
        {"no-cache with ETag is stored (validated each time)",
         plain,
         {{"Cache-Control", "no-cache"}, {"ETag", "\"x\""}, len},
         200,
         verdict::store},
        {"nothing at all", plain, {len}, 200, verdict::useless},
        {"only Last-Modified (heuristic or revalidation)",
         plain,
         {{"Last-Modified", "Sun, 06 Nov 1994 08:49:37 GMT"}, len},
         200,
         verdict::store},
        {"max-age=0 without validator",
         plain,
         {{"Cache-Control", "max-age=0"}, len},
         200,
         verdict::useless},
        {"no Content-Length (chunked or close-delimited)",
         plain,
         {{"Cache-Control", "max-age=60"}},
         200,
         verdict::store},
        {"too large",
         plain,
         {{"Cache-Control", "max-age=60"}, {"Content-Length", "1001"}},
         200,
         verdict::too_large},
    };
    for (const auto& c : cases) {
        const auto f = facts(c.fields, c.status);
        EXPECT_EQ(storable(c.req, f, 1000, cap), c.expected)
            << c.name << ": got " << to_string(storable(c.req, f, 1000, cap));
    }
}

struct freshness_case {
    const char* name;
    std::vector<std::pair<std::string, std::string>> fields;
    std::int64_t lifetime;
};

TEST(Freshness, LifetimeTable) {
    const std::string date = "Tue, 14 Nov 2023 22:13:20 GMT";  // t0
    const std::vector<freshness_case> cases{
        {"s-maxage wins over max-age", {{"Cache-Control", "max-age=60, s-maxage=30"}}, 30},
        {"max-age wins over Expires",
         {{"Cache-Control", "max-age=60"},
          {"Date", date},
          {"Expires", "Tue, 14 Nov 2023 23:13:20 GMT"}},
         60},
        {"Expires minus Date",
         {{"Date", date}, {"Expires", "Tue, 14 Nov 2023 23:13:20 GMT"}},
         3600},
        {"Expires in the past", {{"Date", date}, {"Expires", "Tue, 14 Nov 2023 21:13:20 GMT"}}, 0},
        {"invalid Expires means expired", {{"Date", date}, {"Expires", "0"}}, 0},
        {"heuristic: 10% of Date - Last-Modified",
         {{"Date", date}, {"Last-Modified", "Tue, 14 Nov 2023 12:13:20 GMT"}},
         3600},
        {"heuristic capped",
         {{"Date", date}, {"Last-Modified", "Sun, 06 Nov 1994 08:49:37 GMT"}},
         cap},
        {"no heuristic when Expires present (even invalid)",
         {{"Date", date}, {"Expires", "x"}, {"Last-Modified", "Tue, 14 Nov 2023 12:13:20 GMT"}},
         0},
        {"no heuristic without Last-Modified", {{"Date", date}}, 0},
        {"missing Date reads as response time", {{"Expires", "Tue, 14 Nov 2023 22:14:20 GMT"}}, 60},
    };
    for (const auto& c : cases) {
        EXPECT_EQ(freshness_lifetime(facts(c.fields), cap), c.lifetime) << c.name;
    }
}

// A POST on a configured path (post.cached): stored unless the node forbids it, for the node's
// explicit lifetime or else the configured validity; credentials and heuristics play no part.
TEST(PostCache, StorableAndLifetime) {
    constexpr std::int64_t day = 86'400;
    const std::string date = "Tue, 14 Nov 2023 22:13:20 GMT";  // t0
    const struct {
        const char* name;
        std::vector<std::pair<std::string, std::string>> fields;
        unsigned status;
        verdict v;
        std::int64_t lifetime;
    } cases[] = {
        {"Meteor's answer: no caching fields", {{"Content-Type", "application/json"}}, 200,
         verdict::store, day},
        {"explicit max-age wins", {{"Cache-Control", "max-age=60"}}, 200, verdict::store, 60},
        {"s-maxage wins", {{"Cache-Control", "max-age=60, s-maxage=30"}}, 200, verdict::store, 30},
        {"Expires", {{"Date", date}, {"Expires", "Tue, 14 Nov 2023 23:13:20 GMT"}}, 200,
         verdict::store, 3600},
        {"no heuristic from Last-Modified",
         {{"Date", date}, {"Last-Modified", "Tue, 14 Nov 2023 12:13:20 GMT"}}, 200, verdict::store,
         day},
        {"max-age=0 is useless", {{"Cache-Control", "max-age=0"}}, 200, verdict::useless, 0},
        {"expired Expires is useless", {{"Date", date}, {"Expires", "0"}}, 200, verdict::useless,
         0},
        {"no-store", {{"Cache-Control", "no-store"}}, 200, verdict::no_store, day},
        {"no-cache: a POST cannot be revalidated", {{"Cache-Control", "no-cache"}}, 200,
         verdict::no_store, day},
        {"private", {{"Cache-Control", "private"}}, 200, verdict::is_private, day},
        {"Set-Cookie", {{"Set-Cookie", "a=b"}}, 200, verdict::set_cookie, day},
        {"Vary: *", {{"Vary", "*"}}, 200, verdict::vary_star, day},
        {"400 (bad body)", {}, 400, verdict::status, day},
        {"500", {}, 500, verdict::status, day},
        {"too large", {{"Content-Length", "2000"}}, 200, verdict::too_large, day},
    };
    for (const auto& c : cases) {
        const auto f = facts(c.fields, c.status);
        EXPECT_EQ(post_storable(f, 1000, day), c.v) << c.name;
        EXPECT_EQ(post_freshness_lifetime(f, day), c.lifetime) << c.name;
    }
}

TEST(Freshness, CorrectedInitialAge) {
    // Age header plus the request's round trip, or the apparent age, whichever is larger.
    auto f = facts({{"Age", "100"}, {"Date", "Tue, 14 Nov 2023 22:13:20 GMT"}});
    EXPECT_EQ(corrected_initial_age(f, t0 - 2, t0), 102);
    f = facts({{"Date", "Tue, 14 Nov 2023 22:12:20 GMT"}});  // 60 s before t0
    EXPECT_EQ(corrected_initial_age(f, t0, t0), 60);
    f = facts({{"Date", "Tue, 14 Nov 2023 22:14:20 GMT"}});  // node clock ahead: no negative age
    EXPECT_EQ(corrected_initial_age(f, t0, t0), 0);
}

TEST(StaleIfError, BoundsAndProhibitions) {
    EXPECT_TRUE(may_serve_stale_on_error(parse_cache_control("max-age=1"), 299, 300));
    EXPECT_FALSE(may_serve_stale_on_error(parse_cache_control("max-age=1"), 301, 300));
    EXPECT_TRUE(may_serve_stale_on_error(parse_cache_control("stale-if-error=600"), 500, 300));
    EXPECT_FALSE(may_serve_stale_on_error(parse_cache_control("stale-if-error=10"), 11, 300));
    EXPECT_FALSE(may_serve_stale_on_error(parse_cache_control("must-revalidate"), 1, 300));
    EXPECT_FALSE(may_serve_stale_on_error(parse_cache_control("proxy-revalidate"), 1, 300));
    EXPECT_FALSE(may_serve_stale_on_error(parse_cache_control("s-maxage=5"), 1, 300));
    EXPECT_FALSE(may_serve_stale_on_error(parse_cache_control("no-cache"), 0, 300));
}

TEST(Conditional, IfNoneMatchAndIfModifiedSince) {
    const std::string etag = "\"abc\"";
    EXPECT_TRUE(not_modified("\"abc\"", true, {}, etag, std::nullopt));
    EXPECT_TRUE(not_modified("W/\"abc\"", true, {}, etag, std::nullopt));  // weak comparison
    EXPECT_TRUE(not_modified("\"x\", \"abc\"", true, {}, etag, std::nullopt));
    EXPECT_TRUE(not_modified("*", true, {}, etag, std::nullopt));
    EXPECT_FALSE(not_modified("\"x\"", true, {}, etag, std::nullopt));
    // If-None-Match present: If-Modified-Since is ignored.
    EXPECT_FALSE(not_modified("\"x\"", true, "Tue, 14 Nov 2023 22:13:20 GMT", etag, t0));
    EXPECT_TRUE(not_modified({}, false, "Tue, 14 Nov 2023 22:13:20 GMT", etag, t0));
    EXPECT_FALSE(not_modified({}, false, "Tue, 14 Nov 2023 22:13:19 GMT", etag, t0));
    EXPECT_FALSE(not_modified({}, false, "garbage", etag, t0));
    EXPECT_FALSE(not_modified({}, false, {}, etag, t0));
}

TEST(Vary, NamesLowerCasedAndContentEncodingImpliesAcceptEncoding) {
    EXPECT_EQ(
        vary_names({{"Vary", "Accept-Encoding, Accept-Language"}, {"vary", "accept-encoding"}}),
        (std::vector<std::string>{"accept-encoding", "accept-language"}));
    EXPECT_EQ(vary_names({{"Content-Encoding", "gzip"}}),
              (std::vector<std::string>{"accept-encoding"}));
    EXPECT_TRUE(vary_names({{"Content-Encoding", "identity"}}).empty());
}

// RFC 9213 §2.1: CDN-Cache-Control is a Structured Fields Dictionary, read strictly.
struct targeted_case {
    const char* value;
    bool valid;
};

TEST(TargetedCacheControl, ValidAndInvalidFieldValues) {
    const std::vector<targeted_case> cases{
        {"max-age=600", true},
        {"max-age=600, no-cache, private=\"Set-Cookie, X-Foo\"", true},
        {"public;x=1, max-age=60;y;z=\"w\"", true},  // parameters are ignored
        {"none", true},                              // unknown directive: valid, nothing set
        {"  no-store ,\tmax-age=5", true},
        {"ext=(a \"b\" 1.5);p, max-age=5", true},  // unknown members may hold any SF value
        {"ext=:aGVsbG8=:, ext2=?0, ext3=-1.25, ext4=tok/en:x", true},
        {"", false},
        {"   ", false},
        {"Max-Age=60", false},                // keys are lower case
        {"max-age=1.5", false},               // a Decimal where an Integer is implied
        {"max-age=-1", false},                // delta-seconds is not negative
        {"max-age=\"60\"", false},            // a String where an Integer is implied
        {"max-age=sixty", false},             // a Token
        {"no-store=?0", false},               // flags are Boolean true
        {"no-store=1", false},                // ...not an Integer
        {"public=\"yes\"", false},            // only no-cache and private take a String
        {"max-age=(1 2)", false},             // an Inner List
        {"max-age=60,", false},               // trailing comma
        {"max-age=60,,public", false},        // empty member
        {"max-age=60 public", false},         // missing comma
        {"max-age=60;", false},               // parameter without a key
        {"max-age=1234567890123456", false},  // over 15 digits
        {"private=\"unterminated", false},
        {"private=\"bad\\escape\"", false},
        {"ext=?2, max-age=5", false},  // an invalid member invalidates the whole field
        {"ext=:not base64!:", false},
    };
    for (const auto& c : cases) {
        EXPECT_EQ(parse_targeted_cache_control(c.value).has_value(), c.valid) << c.value;
    }
}

TEST(TargetedCacheControl, DirectiveValues) {
    auto cc = parse_targeted_cache_control(
        "public, s-maxage=30, must-revalidate, proxy-revalidate, immutable, no-transform, "
        "stale-if-error=99999999999999, no-cache=\"X-Foo\", private");
    ASSERT_TRUE(cc);
    EXPECT_TRUE(cc->is_public);
    EXPECT_EQ(cc->s_maxage, 30);
    EXPECT_TRUE(cc->must_revalidate);
    EXPECT_TRUE(cc->proxy_revalidate);
    EXPECT_TRUE(cc->immutable);
    EXPECT_TRUE(cc->no_transform);
    EXPECT_EQ(cc->stale_if_error, std::int64_t{1} << 31);  // RFC 9111 §1.2.2 cap
    EXPECT_TRUE(cc->no_cache);
    EXPECT_TRUE(cc->is_private);
    EXPECT_FALSE(cc->no_store);
    EXPECT_FALSE(cc->max_age);
    // A repeated key keeps its last value (RFC 8941 §4.2.2), unlike Cache-Control's smallest.
    cc = parse_targeted_cache_control("max-age=10, max-age=600");
    ASSERT_TRUE(cc);
    EXPECT_EQ(cc->max_age, 600);
    // An invalid value that a later member overwrites is gone before it is looked at.
    cc = parse_targeted_cache_control("max-age=1.5, max-age=60");
    ASSERT_TRUE(cc);
    EXPECT_EQ(cc->max_age, 60);
}

struct targeted_freshness_case {
    const char* name;
    std::vector<std::pair<std::string, std::string>> fields;
    bool targeted;
    std::int64_t lifetime;
};

TEST(TargetedCacheControl, PrecedenceOverCacheControlAndExpires) {
    const std::string date = "Tue, 14 Nov 2023 22:13:20 GMT";           // t0
    const std::string in_an_hour = "Tue, 14 Nov 2023 23:13:20 GMT";     // t0 + 3600
    const std::string ten_hours_ago = "Tue, 14 Nov 2023 12:13:20 GMT";  // heuristic: 3600
    const std::vector<targeted_freshness_case> cases{
        {"CDN max-age longer than Cache-Control's",
         {{"Cache-Control", "public, max-age=60"}, {"CDN-Cache-Control", "max-age=86400"}},
         true,
         86400},
        {"CDN max-age shorter than Cache-Control's",
         {{"Cache-Control", "max-age=86400"}, {"CDN-Cache-Control", "max-age=60"}},
         true,
         60},
        {"Cache-Control s-maxage is ignored too (RFC 9213 §3.1)",
         {{"Cache-Control", "max-age=60, s-maxage=120"}, {"CDN-Cache-Control", "max-age=600"}},
         true,
         600},
        {"s-maxage inside CDN-Cache-Control applies to this shared cache",
         {{"CDN-Cache-Control", "max-age=600, s-maxage=30"}},
         true,
         30},
        {"field name is case-insensitive",
         {{"cdn-cache-control", "max-age=600"}, {"Cache-Control", "max-age=60"}},
         true,
         600},
        {"several field lines are one Dictionary",
         {{"CDN-Cache-Control", "public"}, {"CDN-Cache-Control", "max-age=600"}},
         true,
         600},
        {"Expires is ignored when the targeted field wins",
         {{"Date", date}, {"Expires", in_an_hour}, {"CDN-Cache-Control", "public"}},
         true,
         0},
        {"...so is an invalid Expires: heuristic freshness applies",
         {{"Date", date},
          {"Expires", "0"},
          {"Last-Modified", ten_hours_ago},
          {"CDN-Cache-Control", "public"}},
         true,
         3600},
        {"invalid CDN field: Cache-Control is used",
         {{"Cache-Control", "max-age=60"}, {"CDN-Cache-Control", "max-age=1.5"}},
         false,
         60},
        {"invalid CDN field: Expires is used",
         {{"Date", date}, {"Expires", in_an_hour}, {"CDN-Cache-Control", "Max-Age=600"}},
         false,
         3600},
        {"empty CDN field: Cache-Control is used",
         {{"Cache-Control", "max-age=60"}, {"CDN-Cache-Control", ""}},
         false,
         60},
        {"no CDN field", {{"Cache-Control", "max-age=60"}}, false, 60},
    };
    for (const auto& c : cases) {
        const auto f = facts(c.fields);
        EXPECT_EQ(f.targeted, c.targeted) << c.name;
        EXPECT_EQ(freshness_lifetime(f, cap), c.lifetime) << c.name;
        if (c.targeted) {
            EXPECT_FALSE(f.has_expires) << c.name;
        }
    }
}

TEST(TargetedCacheControl, StorableTable) {
    request_facts plain;
    request_facts cookie;
    cookie.cookie = true;
    const std::pair<std::string, std::string> len{"Content-Length", "10"};
    const std::vector<storable_case> cases{
        {"CDN no-store beats Cache-Control max-age",
         plain,
         {{"Cache-Control", "public, max-age=600"}, {"CDN-Cache-Control", "no-store"}, len},
         200,
         verdict::no_store},
        {"CDN private beats Cache-Control public",
         plain,
         {{"Cache-Control", "public, max-age=600"}, {"CDN-Cache-Control", "private"}, len},
         200,
         verdict::is_private},
        {"Cache-Control no-store, CDN max-age: stored (RFC 9213 §3.1)",
         plain,
         {{"Cache-Control", "no-store"}, {"CDN-Cache-Control", "max-age=600"}, len},
         200,
         verdict::store},
        {"invalid CDN field: Cache-Control no-store applies",
         plain,
         {{"Cache-Control", "no-store"}, {"CDN-Cache-Control", "max-age=600,"}, len},
         200,
         verdict::no_store},
        {"CDN max-age=0 without validator",
         plain,
         {{"Cache-Control", "max-age=600"}, {"CDN-Cache-Control", "max-age=0"}, len},
         200,
         verdict::useless},
        {"cookie request: CDN public authorises",
         cookie,
         {{"Cache-Control", "max-age=600"}, {"CDN-Cache-Control", "public, max-age=600"}, len},
         200,
         verdict::store},
        {"cookie request: Cache-Control public is ignored",
         cookie,
         {{"Cache-Control", "public, max-age=600"}, {"CDN-Cache-Control", "max-age=600"}, len},
         200,
         verdict::credentials},
        {"Set-Cookie is never stored, whatever CDN-Cache-Control says",
         plain,
         {{"CDN-Cache-Control", "public, max-age=600"}, {"Set-Cookie", "a=b"}, len},
         200,
         verdict::set_cookie},
    };
    for (const auto& c : cases) {
        const auto f = facts(c.fields, c.status);
        EXPECT_EQ(storable(c.req, f, 1000, cap), c.expected)
            << c.name << ": got " << to_string(storable(c.req, f, 1000, cap));
    }
}

TEST(TargetedCacheControl, StaleIfErrorAndNoTransform) {
    // must-revalidate in CDN-Cache-Control forbids stale-if-error; Cache-Control's permission is
    // not looked at.
    auto f = facts({{"Cache-Control", "max-age=60, stale-if-error=600"},
                    {"CDN-Cache-Control", "max-age=60, must-revalidate"}});
    EXPECT_FALSE(may_serve_stale_on_error(f.cc, 1, 300));
    f = facts({{"Cache-Control", "max-age=60, must-revalidate"},
               {"CDN-Cache-Control", "max-age=60, stale-if-error=600"}});
    EXPECT_TRUE(may_serve_stale_on_error(f.cc, 500, 300));
    // Cache-Control's no-transform binds every proxy (RFC 9110 §7.7), targeted field or not.
    f = facts({{"Cache-Control", "max-age=60, no-transform"}, {"CDN-Cache-Control", "max-age=60"}});
    EXPECT_TRUE(f.targeted);
    EXPECT_TRUE(f.cc.no_transform);
}

}  // namespace
}  // namespace bcp::cache
