#include "observe/node_stats.hpp"
#include "observe/counters.hpp"

#include <gtest/gtest.h>

#include <thread>

namespace bcp::observe {
namespace {

TEST(NodeStats, SnapshotSumsWorkersByNodeId) {
    worker_stats a, b;
    a.nodes.get("bbb-01").count_response(200);
    a.nodes.get("bbb-01").count_response(200);
    a.nodes.get("bbb-01").count_response(404);
    b.nodes.get("bbb-01").count_response(502);
    b.nodes.get("bbb-02").count_response(101);
    b.nodes.get("bbb-02").count_response(999);  // out of range: filed under 0
    bump(a.nodes.get("bbb-01").response_bytes, 10);
    bump(b.nodes.get("bbb-01").response_bytes, 5);

    stats_snapshot s;
    s.add(a);
    s.add(b);
    ASSERT_EQ(s.nodes.size(), 2u);
    const auto& n1 = s.nodes.at("bbb-01");
    EXPECT_EQ(n1.requests, 4u);
    EXPECT_EQ(n1.responses.at(200), 2u);
    EXPECT_EQ(n1.responses.at(502), 1u);
    EXPECT_EQ(n1.responses_between(200, 300), 2u);
    EXPECT_EQ(n1.responses_between(400, 600), 2u);
    EXPECT_EQ(n1.response_bytes, 15u);
    EXPECT_EQ(s.nodes.at("bbb-02").responses.at(0), 1u);
}

TEST(NodeStats, ReaderIteratesWhileOwnerInserts) {
    worker_stats w;
    std::atomic<bool> done{false};
    std::thread owner([&] {
        for (int i = 0; i < 2000; ++i) {
            w.nodes.get("node-" + std::to_string(i % 300)).count_response(200);
        }
        done = true;
    });
    std::uint64_t last = 0;
    while (!done) {
        stats_snapshot s;
        s.add(w);
        std::uint64_t total = 0;
        for (const auto& [id, t] : s.nodes) {
            total += t.requests;
        }
        EXPECT_GE(total, last);
        last = total;
    }
    owner.join();
    stats_snapshot s;
    s.add(w);
    EXPECT_EQ(s.nodes.size(), 300u);
}

}  // namespace
}  // namespace bcp::observe
