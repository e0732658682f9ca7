// Per-IP limits (proxy/ip_limits.hpp): connection cap, token bucket, bounded table.
#include "proxy/ip_limits.hpp"

#include <gtest/gtest.h>

#include <thread>
#include <vector>

namespace bcp::proxy {
namespace {

using namespace std::chrono_literals;

ip_key v4(const char* text) {
    return ip_key::from(asio::ip::make_address(text));
}

TEST(IpKey, V4MappedEqualsV4AndV6IsKeyedByItsSlash64) {
    EXPECT_EQ(v4("192.0.2.7"), v4("::ffff:192.0.2.7"));
    EXPECT_NE(v4("192.0.2.7"), v4("192.0.2.8"));
    EXPECT_EQ(v4("2001:db8:1:2::1"), v4("2001:db8:1:2:ffff:ffff:ffff:ffff"));
    EXPECT_NE(v4("2001:db8:1:2::1"), v4("2001:db8:1:3::1"));
}

TEST(IpLimits, BothOffAllocatesNothingAndAllowsEverything) {
    ip_limits l({0, 0, 1});
    EXPECT_FALSE(l.enabled());
    ip_connection c;
    for (int i = 0; i < 10'000; ++i) {
        EXPECT_TRUE(l.try_connect(v4("192.0.2.1"), c));
        EXPECT_EQ(l.take_request(v4("192.0.2.1")), 0u);
    }
}

TEST(IpLimits, ConnectionCapPerAddressAndReleaseOnDestruction) {
    ip_limits l({3, 0, 1});
    std::vector<ip_connection> held(3);
    for (auto& c : held) {
        ASSERT_TRUE(l.try_connect(v4("192.0.2.1"), c));
    }
    ip_connection extra;
    EXPECT_FALSE(l.try_connect(v4("192.0.2.1"), extra));
    EXPECT_TRUE(l.try_connect(v4("192.0.2.2"), extra)) << "another address is not affected";
    EXPECT_EQ(l.connections(v4("192.0.2.1")), 3u);
    held.pop_back();
    EXPECT_EQ(l.connections(v4("192.0.2.1")), 2u);
    ip_connection again;
    EXPECT_TRUE(l.try_connect(v4("192.0.2.1"), again));
    ip_connection moved = std::move(again);
    EXPECT_EQ(l.connections(v4("192.0.2.1")), 3u) << "a move does not release";
    held.clear();
    moved = ip_connection();
    EXPECT_EQ(l.connections(v4("192.0.2.1")), 0u);
}

TEST(IpLimits, TokenBucketBurstThenRateWithRetryAfter) {
    ip_limits l({0, 10, 5});  // 10 requests/s, burst 5
    const auto t0 = ip_limits::clock::now();
    for (int i = 0; i < 5; ++i) {
        EXPECT_EQ(l.take_request(v4("192.0.2.1"), t0), 0u) << i;
    }
    EXPECT_EQ(l.take_request(v4("192.0.2.1"), t0), 1u);  // empty: one token in 0.1 s -> 1 s
    EXPECT_EQ(l.take_request(v4("192.0.2.2"), t0), 0u) << "another address has its own bucket";
    EXPECT_EQ(l.take_request(v4("192.0.2.1"), t0 + 100ms), 0u);  // refilled one
    EXPECT_NE(l.take_request(v4("192.0.2.1"), t0 + 100ms), 0u);
    for (int i = 0; i < 5; ++i) {  // after a long pause the bucket is full again, not fuller
        EXPECT_EQ(l.take_request(v4("192.0.2.1"), t0 + 60s), 0u) << i;
    }
    EXPECT_NE(l.take_request(v4("192.0.2.1"), t0 + 60s), 0u);
}

TEST(IpLimits, SlowRateGivesLongerRetryAfter) {
    ip_limits l({0, 1, 1});
    const auto t0 = ip_limits::clock::now();
    EXPECT_EQ(l.take_request(v4("192.0.2.1"), t0), 0u);
    EXPECT_EQ(l.take_request(v4("192.0.2.1"), t0), 1u);
    ip_limits slow({0, 1, 1});
    EXPECT_EQ(slow.take_request(v4("192.0.2.1"), t0), 0u);
    EXPECT_EQ(slow.take_request(v4("192.0.2.1"), t0 + 500ms), 1u);
}

// A flood of distinct addresses (e.g. IPv6 /64s) cannot grow memory: the table is fixed, and
// addresses holding connections keep their entries (their caps still apply).
TEST(IpLimits, TableIsBoundedAndKeepsAddressesWithConnections) {
    ip_limits l({2, 1, 1});
    std::vector<ip_connection> held(2);
    ASSERT_TRUE(l.try_connect(v4("192.0.2.1"), held[0]));
    ASSERT_TRUE(l.try_connect(v4("192.0.2.1"), held[1]));
    const auto t0 = ip_limits::clock::now();
    for (std::uint32_t i = 0; i < 300'000; ++i) {
        asio::ip::address_v6::bytes_type b{};
        b[0] = 0x20;
        b[1] = 0x01;
        b[4] = static_cast<unsigned char>(i >> 16);
        b[5] = static_cast<unsigned char>(i >> 8);
        b[6] = static_cast<unsigned char>(i);
        l.take_request(ip_key::from(asio::ip::address_v6(b)), t0);
    }
    EXPECT_GT(l.evictions(), 0u);
    EXPECT_EQ(l.connections(v4("192.0.2.1")), 2u);
    ip_connection extra;
    EXPECT_FALSE(l.try_connect(v4("192.0.2.1"), extra)) << "the cap survived the flood";
}

TEST(IpLimits, ConcurrentWorkersKeepCountsExact) {
    ip_limits l({1'000'000, 0, 1});
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
        threads.emplace_back([&] {
            for (int i = 0; i < 20'000; ++i) {
                ip_connection c;
                ASSERT_TRUE(l.try_connect(v4("192.0.2.1"), c));
            }
        });
    }
    std::vector<ip_connection> held(100);
    for (auto& c : held) {
        ASSERT_TRUE(l.try_connect(v4("192.0.2.1"), c));
    }
    for (auto& t : threads) {
        t.join();
    }
    EXPECT_EQ(l.connections(v4("192.0.2.1")), 100u);
}

}  // namespace
}  // namespace bcp::proxy
