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
        {"no Content-Length", plain, {{"Cache-Control", "max-age=60"}}, 200, verdict::no_length},
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

}  // namespace
}  // namespace bcp::cache
