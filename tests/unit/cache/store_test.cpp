// The shared store: variants, content-addressed bodies, the memory bound under churn, purge.
#include "cache/store.hpp"
#include "entries.hpp"

#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <thread>
#include <vector>

namespace bcp::cache {
namespace {

using test::make;

struct request_buffer {
    std::string raw;
    http::request_head head;
    explicit request_buffer(std::string fields) : raw("GET / HTTP/1.1\r\n" + fields + "\r\n") {
        http::parse_request_head(raw, {}, head);
    }
};

TEST(CacheStore, FindsByKeyAndVaryValues) {
    store s({});
    s.insert(make("n /a", "n", "gzip-bytes", {{"accept-encoding", "gzip"}}));
    s.insert(make("n /a", "n", "plain-bytes", {{"accept-encoding", std::nullopt}}));
    request_buffer gzip("Accept-Encoding: gzip\r\n");
    request_buffer none("Host: x\r\n");
    request_buffer br("Accept-Encoding: br\r\n");
    ASSERT_TRUE(s.find("n /a", gzip.head));
    EXPECT_EQ(s.find("n /a", gzip.head)->content->view(), "gzip-bytes");
    ASSERT_TRUE(s.find("n /a", none.head));
    EXPECT_EQ(s.find("n /a", none.head)->content->view(), "plain-bytes");
    EXPECT_FALSE(s.find("n /a", br.head));
    EXPECT_FALSE(s.find("n /b", gzip.head));
    EXPECT_EQ(s.stats().entries, 2u);
}

TEST(CacheStore, IdenticalBodiesAreStoredOnce) {
    store s({});
    const std::string bundle(100'000, 'x');
    s.insert(make("bbb-01 /app.js", "bbb-01", bundle));
    s.insert(make("bbb-02 /app.js", "bbb-02", bundle));
    request_buffer r("Host: x\r\n");
    const auto a = s.find("bbb-01 /app.js", r.head);
    const auto b = s.find("bbb-02 /app.js", r.head);
    ASSERT_TRUE(a && b);
    EXPECT_EQ(a->content.get(), b->content.get());
    const auto st = s.stats();
    EXPECT_EQ(st.entries, 2u);
    EXPECT_EQ(st.bodies, 1u);
    EXPECT_EQ(st.deduplicated, 1u);
    EXPECT_LT(st.memory, 2 * bundle.size());
    EXPECT_GE(st.memory, bundle.size());
}

TEST(CacheStore, DictionaryDeltasAreFoundBoundedAndReleasedWithTheirBody) {
    store_options o;
    o.max_deltas_per_body = 2;
    o.max_delta_memory = 10'000;
    store s(o);
    const auto v1 = s.insert(make("bbb-01 /app-1.js", "bbb-01", std::string(5000, 'a')));
    const auto v2 = s.insert(make("bbb-01 /app-2.js", "bbb-01", std::string(5000, 'b')));
    const auto v3 = s.insert(make("bbb-01 /app-3.js", "bbb-01", std::string(5000, 'c')));
    // Dictionaries are found by the SHA-256 a client names, only among stored bodies.
    EXPECT_EQ(s.find_body(v1->content->hash), v1->content);
    digest unknown{};
    unknown[0] = 1;
    EXPECT_EQ(s.find_body(unknown), nullptr);

    const auto before = s.stats().memory;
    const auto& target = v3->content;
    ASSERT_TRUE(s.attach_delta(target, {v1->content->hash, std::string(100, 'd')}));
    EXPECT_FALSE(s.attach_delta(target, {v1->content->hash, std::string(100, 'd')}));  // once
    ASSERT_TRUE(s.attach_delta(target, {v2->content->hash, std::string(200, 'd')}));
    EXPECT_FALSE(s.attach_delta(target, {unknown, std::string(50, 'd')}));          // per-body cap
    EXPECT_FALSE(s.attach_delta(v2->content, {unknown, std::string(9'800, 'd')}));  // memory cap
    EXPECT_EQ(target->find_delta(v1->content->hash)->bytes.size(), 100u);
    EXPECT_EQ(target->find_delta(v2->content->hash)->bytes.size(), 200u);
    EXPECT_EQ(target->find_delta(unknown), nullptr);
    auto st = s.stats();
    EXPECT_EQ(st.deltas, 2u);
    EXPECT_EQ(st.delta_bytes, 300u);
    EXPECT_EQ(st.memory, before + 300);

    const auto held = target->find_delta(v1->content->hash);
    EXPECT_EQ(s.purge(), 3u);
    st = s.stats();
    EXPECT_EQ(st.deltas, 0u);
    EXPECT_EQ(st.delta_bytes, 0u);
    EXPECT_EQ(st.memory, 0u);
    EXPECT_EQ(held->bytes, std::string(100, 'd'));  // a sender's delta outlives the purge
    EXPECT_FALSE(s.attach_delta(target, {v1->content->hash, "x"}));  // no longer stored
}

TEST(CacheStore, DictionaryBodiesOutliveTheirEntriesWithinTheirBudget) {
    store_options o;
    o.retired_dictionary_memory = 12'000;
    o.max_size = 40'000;
    store s(o);
    request_buffer r("Host: x\r\n");
    const auto dict = [&](const std::string& key, char c) {
        auto e = make(key, key.substr(0, key.find(' ')), std::string(5000, c));
        e->dictionary = true;
        return s.insert(e);
    };
    const auto v1 = dict("bbb-01 /app-1.js", 'a');
    const auto plain = s.insert(make("bbb-01 /page.html", "bbb-01", std::string(5000, 'h')));
    const auto hash = v1->content->hash;
    const auto before = s.stats().memory;
    // The node is upgraded and purged: its old client stays findable as a dictionary, charged.
    EXPECT_EQ(s.purge("bbb-01"), 2u);
    EXPECT_EQ(s.find("bbb-01 /app-1.js", r.head), nullptr);
    EXPECT_EQ(s.find_body(hash), v1->content);
    EXPECT_EQ(s.find_body(plain->content->hash), nullptr);  // not a dictionary: gone
    auto st = s.stats();
    EXPECT_EQ(st.retired, 1u);
    EXPECT_EQ(st.retired_bytes, 5000u);
    EXPECT_LT(st.memory, before);
    EXPECT_GE(st.memory, 5000u);
    // No variant or delta is attached to a body no entry serves.
    EXPECT_FALSE(s.attach_variant(v1->content, coding::br, "x"));
    // The same bytes stored again revive it (and it is no longer retired).
    const auto again = dict("bbb-02 /app-1.js", 'a');
    EXPECT_EQ(again->content, v1->content);
    EXPECT_EQ(s.stats().retired, 0u);
    EXPECT_EQ(s.purge("bbb-02"), 1u);
    EXPECT_EQ(s.stats().retired, 1u);
    // The budget: the oldest retired bodies go first.
    EXPECT_EQ(s.purge(), 0u);  // a full purge drops them too
    EXPECT_EQ(s.find_body(hash), nullptr);
    EXPECT_EQ(s.stats().memory, 0u);
    for (char c : {'b', 'c', 'd'}) {
        dict(std::string("bbb-01 /lib-") + c + ".js", c);
    }
    s.purge("bbb-01");
    st = s.stats();
    EXPECT_EQ(st.retired, 2u);  // 3 × 5000 > 12000: one went
    EXPECT_EQ(st.retired_bytes, 10'000u);
    int findable = 0;
    for (char c : {'b', 'c', 'd'}) {
        findable += s.find_body(make("x", "x", std::string(5000, c))->content->hash) ? 1 : 0;
    }
    EXPECT_EQ(findable, 2);
    // Memory pressure drops retired bodies before any entry.
    const auto keep = s.insert(make("bbb-02 /big", "bbb-02", std::string(33'000, 'z')));
    EXPECT_NE(s.find("bbb-02 /big", r.head), nullptr);
    st = s.stats();
    EXPECT_LE(st.memory, o.max_size);
    EXPECT_LT(st.retired, 2u);
}

TEST(CacheStore, EvictingDictionaryEntriesFreesTheirBodies) {
    // Retention is for purged entries a client may still name, not a reason to keep evicted
    // bodies: under memory pressure an evicted dictionary's body goes too, and only as many
    // entries are evicted as the bound needs.
    store_options o;
    o.max_size = 50'000;
    o.retired_dictionary_memory = 40'000;
    store s(o);
    request_buffer r("Host: x\r\n");
    for (int i = 0; i < 20; ++i) {
        auto e = make("n /lib-" + std::to_string(i) + ".js", "n", std::string(4'000, 'a' + i));
        e->dictionary = true;
        s.insert(e);
    }
    const auto st = s.stats();
    EXPECT_LE(st.memory, o.max_size);
    EXPECT_GE(st.entries, 9u) << "entries evicted beyond what the bound needs";
    EXPECT_NE(s.find("n /lib-19.js", r.head), nullptr);
}

TEST(CacheStore, ReplacingAnEntryReleasesItsMemory) {
    store s({});
    s.insert(make("n /a", "n", std::string(5000, 'a')));
    const auto before = s.stats().memory;
    s.insert(make("n /a", "n", std::string(5000, 'b')));
    EXPECT_EQ(s.stats().entries, 1u);
    EXPECT_EQ(s.stats().bodies, 1u);
    EXPECT_EQ(s.stats().memory, before);
}

TEST(CacheStore, MemoryBoundHoldsUnderChurnFromManyThreads) {
    store_options o;
    o.max_size = 1 << 20;
    o.max_object = 64 << 10;
    store s(o);
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
        threads.emplace_back([&s, t] {
            for (int i = 0; i < 400; ++i) {
                const std::string key = "n /" + std::to_string(t) + "/" + std::to_string(i);
                s.insert(make(key, "n", std::string(20'000 + i, static_cast<char>('a' + t))));
                EXPECT_LE(s.stats().memory, (1u << 20) + 4 * 30'000u);
            }
        });
    }
    for (auto& th : threads) {
        th.join();
    }
    const auto st = s.stats();
    EXPECT_LE(st.memory, 1u << 20)
        << st.entries << " entries, " << st.bodies << " bodies, " << st.evictions << " evictions";
    EXPECT_GT(st.evictions, 1000u);
    EXPECT_GT(st.entries, 10u);
}

TEST(CacheStore, EvictionPrefersEntriesWithoutRecentHits) {
    store_options o;
    o.max_size = 100'000;
    store s(o);
    request_buffer r("Host: x\r\n");
    s.insert(make("n /hot", "n", std::string(20'000, 'h')));
    for (int i = 0; i < 50; ++i) {
        ASSERT_TRUE(s.find("n /hot", r.head));  // used again and again
        s.insert(
            make("n /cold" + std::to_string(i), "n", std::string(20'000, static_cast<char>(i))));
    }
    EXPECT_TRUE(s.find("n /hot", r.head));
    EXPECT_FALSE(s.find("n /cold0", r.head));
    EXPECT_LE(s.stats().memory, 100'000u);
}

TEST(CacheStore, PurgeAllOrOneNode) {
    store s({});
    s.insert(make("a /1", "a", "one"));
    s.insert(make("a /2", "a", "two"));
    s.insert(make("b /1", "b", "three"));
    request_buffer r("Host: x\r\n");
    EXPECT_EQ(s.purge("a"), 2u);
    EXPECT_FALSE(s.find("a /1", r.head));
    EXPECT_TRUE(s.find("b /1", r.head));
    EXPECT_EQ(s.purge(), 1u);
    EXPECT_EQ(s.stats().entries, 0u);
    EXPECT_EQ(s.stats().memory, 0u);
    EXPECT_EQ(s.stats().bodies, 0u);
}

TEST(CacheStore, EntriesStayValidForHoldersAfterEviction) {
    store s({});
    request_buffer r("Host: x\r\n");
    s.insert(make("n /a", "n", "still here"));
    const auto held = s.find("n /a", r.head);
    s.purge();
    ASSERT_TRUE(held);
    EXPECT_EQ(held->content->view(), "still here");
}

}  // namespace
}  // namespace bcp::cache
