// The asset cache end to end: the real proxy server on 127.0.0.1:0 in front of simulated nodes,
// with cache.enabled. Node request counters prove what reached the nodes.
#include "harness.hpp"

#include <gtest/gtest.h>

#include <algorithm>

namespace bcp::test {
namespace {

namespace bhttp = boost::beast::http;

std::string pattern(std::size_t n, char base = 'a') {
    std::string s(n, '\0');
    for (std::size_t i = 0; i < n; ++i) {
        s[i] = static_cast<char>(base + i % 26);
    }
    return s;
}

std::string cache_yaml(node_set& nodes, const std::string& cache_extra = {},
                       const std::string& extra = {}) {
    return proxy_yaml(nodes, extra + "cache:\n  enabled: true\n" + cache_extra);
}

std::string x_cache(const std::optional<response>& r) {
    return r ? std::string((*r)["X-Cache"]) : "<no response>";
}

const demo::asset& app_bundle() {
    const auto& all = demo::client_assets();
    return *std::max_element(all.begin(), all.end(), [](const auto& a, const auto& b) {
        return a.body.size() < b.body.size();
    });
}

TEST(CacheServe, SecondRequestIsAHitAndHeadIsServedFromIt) {
    node_set nodes({"bbb-01"});
    proxy_instance proxy(cache_yaml(nodes));
    ASSERT_TRUE(proxy.ok());
    const std::string url = "/bbb-01/html5client/_test/cacheable?n=1000";
    auto first = http_get(proxy.port(), url);
    ASSERT_TRUE(first);
    EXPECT_EQ(first->result_int(), 200u);
    EXPECT_EQ(x_cache(first), "MISS");
    EXPECT_TRUE(first->body() == pattern(1000));
    client c(proxy.port());
    auto second = c.get(url);
    ASSERT_TRUE(second) << c.last_error();
    EXPECT_EQ(x_cache(second), "HIT");
    EXPECT_TRUE(second->body() == pattern(1000));
    EXPECT_EQ((*second)[bhttp::field::content_length], "1000");
    EXPECT_FALSE((*second)[bhttp::field::age].empty());
    EXPECT_EQ((*second)[bhttp::field::cache_control], "public, max-age=60");
    auto head = c.get(url, {}, "HEAD");
    ASSERT_TRUE(head) << c.last_error();
    EXPECT_EQ(x_cache(head), "HIT");
    EXPECT_EQ((*head)[bhttp::field::content_length], "1000");
    EXPECT_TRUE(head->body().empty());
    // Keep-alive still works after the HEAD.
    auto third = c.get(url);
    ASSERT_TRUE(third) << c.last_error();
    EXPECT_EQ(x_cache(third), "HIT");
    EXPECT_EQ(nodes[0].counters().requests.load(), 1u);
    const auto st = proxy.server().cache_stats();
    ASSERT_TRUE(st);
    EXPECT_EQ(st->misses, 1u);
    EXPECT_EQ(st->hits, 3u);
    EXPECT_EQ(st->entries, 1u);
    EXPECT_EQ(st->bytes_from_nodes, 1000u);
    // Counted once the write completed, which may be just after the client read the bytes.
    EXPECT_TRUE(eventually([&] { return proxy.server().cache_stats()->bytes_served == 3000u; }))
        << proxy.server().cache_stats()->bytes_served;
}

TEST(CacheServe, XCacheHeaderCanBeSwitchedOff) {
    node_set nodes({"bbb-01"});
    proxy_instance proxy(cache_yaml(nodes, "  x_cache_header: false\n"));
    ASSERT_TRUE(proxy.ok());
    const std::string url = "/bbb-01/html5client/_test/cacheable?n=10";
    ASSERT_TRUE(http_get(proxy.port(), url));
    auto r = http_get(proxy.port(), url);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->count("X-Cache"), 0u);
    EXPECT_EQ(nodes[0].counters().requests.load(), 1u);
}

TEST(CacheCoalescing, HundredConcurrentColdRequestsMakeOneNodeRequest) {
    node_set nodes({"bbb-01"});
    proxy_instance proxy(cache_yaml(nodes));
    ASSERT_TRUE(proxy.ok());
    const auto& asset = app_bundle();
    ASSERT_GE(asset.body.size(), 2'000'000u);
    const std::string request = "GET /bbb-01/html5client/" + asset.path +
                                " HTTP/1.1\r\nHost: localhost\r\nAccept-Encoding: gzip\r\n\r\n";
    std::vector<std::unique_ptr<client>> clients;
    for (int i = 0; i < 100; ++i) {
        clients.push_back(std::make_unique<client>(proxy.port()));
        ASSERT_TRUE(clients.back()->connected());
    }
    for (auto& c : clients) {
        c->send(request);
    }
    int exact = 0;
    for (auto& c : clients) {
        auto r = c->read(false, 20s);
        ASSERT_TRUE(r) << c->last_error();
        EXPECT_EQ(r->result_int(), 200u);
        exact += r->body() == asset.body ? 1 : 0;
    }
    EXPECT_EQ(exact, 100);
    EXPECT_EQ(nodes[0].counters().requests.load(), 1u);
    const auto st = proxy.server().cache_stats();
    EXPECT_EQ(st->misses, 1u);
    EXPECT_EQ(st->hits + st->coalesced, 99u);
    EXPECT_EQ(st->bytes_from_nodes, asset.body.size());
}

TEST(CacheCoalescing, WaitersAreStreamedWhileTheFillIsRunning) {
    node_set nodes({"bbb-01"});
    proxy_instance proxy(cache_yaml(nodes));
    ASSERT_TRUE(proxy.ok());
    // 10 pieces 150 ms apart: the fill takes ~1.4 s.
    const std::string url = "/bbb-01/html5client/_test/cacheable?n=100000&ms=150";
    const std::string request = "GET " + url + " HTTP/1.1\r\nHost: localhost\r\n\r\n";
    client leader(proxy.port());
    leader.send(request);
    ASSERT_TRUE(eventually([&] { return nodes[0].counters().requests.load() == 1; }));
    client waiter(proxy.port());
    waiter.send(request);
    // Within 500 ms the waiter has the head and part of the body, long before the fill ends.
    const std::string early = waiter.read_all(500ms);
    EXPECT_NE(early.find("200 OK"), std::string::npos);
    EXPECT_NE(early.find("X-Cache: HIT"), std::string::npos);
    const auto body_at = early.find("\r\n\r\n");
    ASSERT_NE(body_at, std::string::npos);
    const std::size_t early_body = early.size() - body_at - 4;
    EXPECT_GT(early_body, 0u);
    EXPECT_LT(early_body, 100'000u);
    auto lr = leader.read(false, 10s);
    ASSERT_TRUE(lr) << leader.last_error();
    EXPECT_TRUE(lr->body() == pattern(100'000));
    EXPECT_EQ(x_cache(lr), "MISS");
    const std::string rest = waiter.read_all(3s);
    EXPECT_EQ(early_body + rest.size(), 100'000u);
    EXPECT_TRUE(early.substr(body_at + 4) + rest == pattern(100'000));
    EXPECT_EQ(nodes[0].counters().requests.load(), 1u);
}

// A node coding the proxy may not transform (no-transform; the fake node's "gzip" is not even
// gzip) is stored as the node sent it, one entry per Accept-Encoding (tests/integration/
// encoding_test.cpp covers the codings the proxy negotiates itself).
TEST(CacheVary, OpaqueCodingsAreKeptApartPerAcceptEncoding) {
    node_set nodes({"bbb-01"});
    proxy_instance proxy(cache_yaml(nodes));
    ASSERT_TRUE(proxy.ok());
    const std::string url =
        "/bbb-01/html5client/_test/cacheable?n=300&vary=1&cc=public,max-age=60,no-transform";
    client c(proxy.port());
    for (int round = 0; round < 2; ++round) {
        auto gz = c.get(url, "Accept-Encoding: gzip, deflate\r\n");
        ASSERT_TRUE(gz) << c.last_error();
        EXPECT_TRUE(gz->body() == pattern(300, 'A'));
        EXPECT_EQ((*gz)[bhttp::field::content_encoding], "gzip");
        auto plain = c.get(url);
        ASSERT_TRUE(plain) << c.last_error();
        EXPECT_TRUE(plain->body() == pattern(300));
        EXPECT_EQ(plain->count(bhttp::field::content_encoding), 0u);
        EXPECT_EQ(x_cache(gz), round == 0 ? "MISS" : "HIT");
        EXPECT_EQ(x_cache(plain), round == 0 ? "MISS" : "HIT");
    }
    EXPECT_EQ(nodes[0].counters().requests.load(), 2u);
}

TEST(CacheStorability, SetCookieResponsesAreNeverStored) {
    node_set nodes({"bbb-01"});
    proxy_instance proxy(cache_yaml(nodes));
    ASSERT_TRUE(proxy.ok());
    const std::string url = "/bbb-01/html5client/_test/cacheable?n=50&cookie=1";
    for (int i = 0; i < 3; ++i) {
        auto r = http_get(proxy.port(), url);
        ASSERT_TRUE(r);
        EXPECT_EQ((*r)[bhttp::field::set_cookie], "bcp_cache_test=1; Path=/");
        EXPECT_NE(x_cache(r), "HIT");
    }
    EXPECT_EQ(nodes[0].counters().requests.load(), 3u);
    EXPECT_EQ(proxy.server().cache_stats()->entries, 0u);
}

TEST(CacheStorability, PrivateNoStoreAndCookieRequestsWithoutPublicAreNotShared) {
    node_set nodes({"bbb-01"});
    proxy_instance proxy(cache_yaml(nodes));
    ASSERT_TRUE(proxy.ok());
    for (const std::string cc : {"private,max-age=60", "no-store", "max-age=60"}) {
        const std::string url = "/bbb-01/html5client/_test/cacheable?n=10&cc=" + cc;
        const auto before = nodes[0].counters().requests.load();
        for (int i = 0; i < 2; ++i) {
            auto r = http_get(proxy.port(), url, "Cookie: session=1\r\n");
            ASSERT_TRUE(r) << cc;
            EXPECT_EQ(r->result_int(), 200u);
        }
        EXPECT_EQ(nodes[0].counters().requests.load(), before + 2) << cc;
    }
    // Explicitly public: shared even for requests with cookies.
    const std::string url = "/bbb-01/html5client/_test/cacheable?n=10&cc=public,max-age=60";
    ASSERT_TRUE(http_get(proxy.port(), url, "Cookie: session=1\r\n"));
    auto r = http_get(proxy.port(), url, "Cookie: session=2\r\n");
    EXPECT_EQ(x_cache(r), "HIT");
}

TEST(CacheRevalidation, StaleEntryIsRevalidatedWith304) {
    node_set nodes({"bbb-01"});
    proxy_instance proxy(cache_yaml(nodes));
    ASSERT_TRUE(proxy.ok());
    const std::string url = "/bbb-01/html5client/_test/cacheable?n=2000&cc=max-age=0";
    auto first = http_get(proxy.port(), url);
    EXPECT_EQ(x_cache(first), "MISS");
    auto second = http_get(proxy.port(), url);
    ASSERT_TRUE(second);
    EXPECT_EQ(x_cache(second), "REVALIDATED");
    EXPECT_EQ(second->result_int(), 200u);
    EXPECT_TRUE(second->body() == pattern(2000));
    EXPECT_EQ(nodes[0].counters().requests.load(), 2u);
    const auto st = proxy.server().cache_stats();
    EXPECT_EQ(st->revalidations, 1u);
    EXPECT_EQ(st->bytes_from_nodes, 2000u);  // the 304 carried no body
}

TEST(CacheRevalidation, ClientConditionalRequestsGet304FromTheCache) {
    node_set nodes({"bbb-01"});
    proxy_instance proxy(cache_yaml(nodes));
    ASSERT_TRUE(proxy.ok());
    const std::string url = "/bbb-01/html5client/_test/cacheable?n=500&lm=1";
    auto first = http_get(proxy.port(), url);
    ASSERT_TRUE(first);
    const std::string etag((*first)[bhttp::field::etag]);
    ASSERT_FALSE(etag.empty());
    client c(proxy.port());
    auto r = c.get(url, "If-None-Match: " + etag + "\r\n");
    ASSERT_TRUE(r) << c.last_error();
    EXPECT_EQ(r->result_int(), 304u);
    EXPECT_EQ(x_cache(r), "HIT");
    EXPECT_EQ((*r)[bhttp::field::etag], etag);
    EXPECT_TRUE(r->body().empty());
    auto ims = c.get(url, "If-Modified-Since: Mon, 01 Jan 2024 00:00:00 GMT\r\n");
    ASSERT_TRUE(ims) << c.last_error();
    EXPECT_EQ(ims->result_int(), 304u);
    auto other = c.get(url, "If-None-Match: \"other\"\r\n");
    ASSERT_TRUE(other) << c.last_error();
    EXPECT_EQ(other->result_int(), 200u);
    EXPECT_EQ(other->body().size(), 500u);
    EXPECT_EQ(nodes[0].counters().requests.load(), 1u);
}

TEST(CacheStaleIfError, StaleEntryIsServedWhenTheNodeIsDown) {
    node_set nodes({"bbb-01"});
    proxy_instance proxy(cache_yaml(nodes));
    ASSERT_TRUE(proxy.ok());
    const std::string ok_url = "/bbb-01/html5client/_test/cacheable?n=100&cc=max-age=0";
    const std::string strict_url =
        "/bbb-01/html5client/_test/cacheable?n=100&cc=max-age=0,must-revalidate";
    ASSERT_EQ(x_cache(http_get(proxy.port(), ok_url)), "MISS");
    ASSERT_EQ(x_cache(http_get(proxy.port(), strict_url)), "MISS");
    nodes[0].stop();
    auto stale = http_get(proxy.port(), ok_url);
    ASSERT_TRUE(stale);
    EXPECT_EQ(stale->result_int(), 200u);
    EXPECT_EQ(x_cache(stale), "STALE");
    EXPECT_TRUE(stale->body() == pattern(100));
    auto strict = http_get(proxy.port(), strict_url);
    ASSERT_TRUE(strict);
    EXPECT_EQ(strict->result_int(), 502u);  // must-revalidate forbids serving it stale
    EXPECT_EQ(proxy.server().cache_stats()->stale, 1u);
}

TEST(CacheStaleIfError, NodeErrorStatusWithinTheBoundServesStale) {
    node_set nodes({"bbb-01"});
    proxy_instance proxy(cache_yaml(nodes, "  stale_if_error: 0s\n"));
    ASSERT_TRUE(proxy.ok());
    // The response's own stale-if-error grants 60 s although the configured default is 0.
    const std::string url =
        "/bbb-01/html5client/_test/cacheable?n=10&cc=max-age=0,stale-if-error=60";
    ASSERT_EQ(x_cache(http_get(proxy.port(), url)), "MISS");
    nodes[0].stop();
    EXPECT_EQ(x_cache(http_get(proxy.port(), url)), "STALE");
    const std::string no_bound = "/bbb-01/html5client/_test/cacheable?n=10&cc=max-age=0&v=2";
    auto r = http_get(proxy.port(), no_bound);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->result_int(), 502u);
}

TEST(CachePurge, AllOrOneNode) {
    node_set nodes({"bbb-01", "bbb-02"});
    proxy_instance proxy(cache_yaml(nodes));
    ASSERT_TRUE(proxy.ok());
    for (const char* id : {"bbb-01", "bbb-02"}) {
        ASSERT_EQ(x_cache(http_get(proxy.port(),
                                   std::string("/") + id + "/html5client/_test/cacheable?n=10")),
                  "MISS");
    }
    EXPECT_EQ(proxy.server().purge_cache("bbb-01"), 1u);
    EXPECT_EQ(x_cache(http_get(proxy.port(), "/bbb-01/html5client/_test/cacheable?n=10")), "MISS");
    EXPECT_EQ(x_cache(http_get(proxy.port(), "/bbb-02/html5client/_test/cacheable?n=10")), "HIT");
    EXPECT_EQ(proxy.server().purge_cache(), 2u);
    EXPECT_EQ(proxy.server().cache_stats()->entries, 0u);
}

TEST(CacheMemory, BoundHoldsUnderChurn) {
    node_set nodes({"bbb-01"});
    proxy_instance proxy(cache_yaml(nodes, "  max_size: 1MiB\n  max_object_size: 256KiB\n"));
    ASSERT_TRUE(proxy.ok());
    client c(proxy.port());
    for (int i = 0; i < 120; ++i) {
        auto r = c.get("/bbb-01/html5client/_test/cacheable?n=" + std::to_string(40'000 + i));
        ASSERT_TRUE(r) << c.last_error();
        ASSERT_EQ(r->body().size(), 40'000u + i);
        EXPECT_LE(proxy.server().cache_stats()->memory, 1u << 20);
    }
    const auto st = proxy.server().cache_stats();
    EXPECT_GT(st->evictions, 80u);
    EXPECT_GT(st->entries, 10u);
    EXPECT_LE(st->memory, 1u << 20);
    // Too large for max_object_size: relayed, never stored.
    auto big = c.get("/bbb-01/html5client/_test/cacheable?n=300000");
    ASSERT_TRUE(big) << c.last_error();
    EXPECT_EQ(big->body().size(), 300'000u);
    EXPECT_NE(x_cache(big), "MISS");
}

TEST(CacheDedup, TwoNodesWithIdenticalBytesAreStoredOnce) {
    node_set nodes({"bbb-01", "bbb-02"});
    proxy_instance proxy(cache_yaml(nodes));
    ASSERT_TRUE(proxy.ok());
    const auto& asset = app_bundle();
    for (const char* id : {"bbb-01", "bbb-02"}) {
        auto r = http_get(proxy.port(), std::string("/") + id + "/html5client/" + asset.path);
        ASSERT_TRUE(r);
        EXPECT_TRUE(r->body() == asset.body);
    }
    const auto st = proxy.server().cache_stats();
    EXPECT_EQ(st->entries, 2u);
    EXPECT_EQ(st->bodies, 1u);
    EXPECT_EQ(st->deduplicated, 1u);
    EXPECT_LT(st->memory, asset.body.size() + 64 * 1024);
    // Each node's entry answers for its own node.
    for (const char* id : {"bbb-01", "bbb-02"}) {
        auto r = http_get(proxy.port(), std::string("/") + id + "/html5client/" + asset.path);
        EXPECT_EQ(x_cache(r), "HIT");
    }
}

TEST(CacheTruncation, TruncatedBodyIsNeverStoredAndTheClientIsClosed) {
    node_set nodes({"bbb-01"});
    proxy_instance proxy(cache_yaml(nodes, {}, "timeouts:\n  upstream_read: 300ms\n"));
    ASSERT_TRUE(proxy.ok());
    // The second piece comes after 2 s: the proxy's read deadline cuts the body.
    const std::string url = "/bbb-01/html5client/_test/cacheable?n=10000&ms=2000";
    client c(proxy.port());
    c.send("GET " + url + " HTTP/1.1\r\nHost: localhost\r\n\r\n");
    std::string received;
    EXPECT_TRUE(c.closed_within(5s, &received));
    EXPECT_NE(received.find("200 OK"), std::string::npos);
    EXPECT_LT(received.size() - received.find("\r\n\r\n") - 4, 10'000u);
    const auto st = proxy.server().cache_stats();
    EXPECT_EQ(st->entries, 0u);
    EXPECT_EQ(st->memory, 0u);
}

// A node that fails during the fill (right after its head, or halfway through the body) while
// requests are coalesced on it: every client gets an answer it cannot mistake for the asset (an
// error status, or a connection closed short of Content-Length), nothing is stored, and the
// next request fills the entry.
TEST(CacheFaults, NodeFailingDuringTheFillLeavesNoEntryAndNoClientHanging) {
    node_set nodes({"bbb-01"});
    proxy_instance proxy(cache_yaml(nodes));
    ASSERT_TRUE(proxy.ok());
    for (const std::string cut : {"head", "half"}) {
        SCOPED_TRACE(cut);
        const std::string url = "/bbb-01/html5client/_test/cacheable?n=50000&v=" + cut;
        const std::string request =
            "GET " + url + "&cut=" + cut + " HTTP/1.1\r\nHost: localhost\r\n\r\n";
        const auto entries_before = proxy.server().cache_stats()->entries;
        std::vector<std::unique_ptr<client>> clients;
        for (int i = 0; i < 8; ++i) {
            clients.push_back(std::make_unique<client>(proxy.port()));
            clients.back()->send(request);
        }
        for (auto& c : clients) {
            std::string received;
            ASSERT_TRUE(c->closed_within(10s, &received)) << "a client was left hanging";
            const auto head_end = received.find("\r\n\r\n");
            ASSERT_NE(head_end, std::string::npos) << "no answer at all: " << received;
            if (received.starts_with("HTTP/1.1 200")) {
                EXPECT_LT(received.size() - head_end - 4, 50'000u)
                    << "a complete body from a node that failed";
            } else {
                EXPECT_TRUE(received.starts_with("HTTP/1.1 502")) << received.substr(0, head_end);
            }
        }
        EXPECT_EQ(proxy.server().cache_stats()->entries, entries_before);
        // Without the fault the same key (cut is part of the query, so a new key) fills.
        const std::string good = "/bbb-01/html5client/_test/cacheable?n=50000&v=" + cut;
        auto r = http_get(proxy.port(), good);
        ASSERT_TRUE(r);
        EXPECT_EQ(r->result_int(), 200u);
        EXPECT_TRUE(r->body() == pattern(50'000));
        auto again = http_get(proxy.port(), good);
        ASSERT_TRUE(again);
        EXPECT_EQ(x_cache(again), "HIT");
    }
    auto next = http_get(proxy.port(), "/bbb-01/html5client/_test/bytes?n=100");
    ASSERT_TRUE(next);
    EXPECT_EQ(next->result_int(), 200u);
}

}  // namespace
}  // namespace bcp::test
