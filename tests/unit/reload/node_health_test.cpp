// The node health state machine: thresholds, passive marking, recovery.
#include "health/node_health.hpp"

#include <gtest/gtest.h>

namespace bcp::health {
namespace {

using namespace std::chrono_literals;

config::health_options options(std::chrono::milliseconds interval = 5s) {
    config::health_options o;
    o.enabled = true;
    o.interval = interval;
    o.healthy_threshold = 2;
    o.unhealthy_threshold = 3;
    o.retry_after = 10s;
    return o;
}

TEST(NodeHealth, StartsHealthyAndNeedsConsecutiveFailuresToGoDown) {
    node_health h("bbb-01", options());
    const auto t = steady::now();
    EXPECT_TRUE(h.admits(t));
    EXPECT_EQ(h.check_failed("refused", t), change::none);
    EXPECT_EQ(h.check_failed("refused", t), change::none);
    EXPECT_EQ(h.check_passed(t), change::none);  // the run is broken
    EXPECT_EQ(h.check_failed("refused", t), change::none);
    EXPECT_EQ(h.check_failed("refused", t), change::none);
    EXPECT_TRUE(h.admits(t));
    EXPECT_EQ(h.check_failed("timed out", t), change::became_unhealthy);
    EXPECT_FALSE(h.admits(t));
    EXPECT_FALSE(h.admits(t + 1h));  // with active checks only checks bring it back
    const auto s = h.snapshot();
    EXPECT_FALSE(s.healthy);
    EXPECT_EQ(s.last_error, "timed out");
    EXPECT_EQ(s.consecutive_failures, 3u);
    EXPECT_EQ(s.checks, 6u);
    EXPECT_EQ(s.failed_checks, 5u);
    EXPECT_TRUE(s.last_check.has_value());
}

TEST(NodeHealth, RecoversAfterHealthyThresholdPassedChecks) {
    node_health h("bbb-01", options());
    for (int i = 0; i < 3; ++i) {
        h.check_failed("down");
    }
    ASSERT_FALSE(h.healthy());
    EXPECT_EQ(h.check_passed(), change::none);
    EXPECT_FALSE(h.admits());
    h.check_failed("flap");
    EXPECT_EQ(h.check_passed(), change::none);  // the count starts over
    EXPECT_EQ(h.check_passed(), change::became_healthy);
    EXPECT_TRUE(h.admits());
    EXPECT_EQ(h.snapshot().transitions, 2u);
    EXPECT_EQ(h.snapshot().consecutive_failures, 0u);
}

TEST(NodeHealth, PassiveFailuresMarkAndSuccessfulConnectsReset) {
    node_health h("bbb-01", options());
    h.connect_failed("refused");
    h.connect_failed("refused");
    h.connect_succeeded();
    EXPECT_EQ(h.snapshot().consecutive_failures, 0u);
    h.connect_failed("refused");
    h.connect_failed("refused");
    EXPECT_EQ(h.connect_failed("refused"), change::became_unhealthy);
    EXPECT_EQ(h.snapshot().passive_failures, 5u);
    h.connect_succeeded();  // a request that was already past admits(): no recovery from that
    EXPECT_FALSE(h.healthy());
}

TEST(NodeHealth, WithoutActiveChecksAPassiveMarkLastsRetryAfter) {
    node_health h("bbb-01", options(0ms));
    const auto t = steady::now();
    for (int i = 0; i < 3; ++i) {
        h.connect_failed("refused", t);
    }
    EXPECT_FALSE(h.admits(t + 9s));
    EXPECT_TRUE(h.admits(t + 10s));
    EXPECT_TRUE(h.healthy());
    EXPECT_EQ(h.snapshot().consecutive_failures, 0u);
}

TEST(NodeHealth, DisabledOrPassiveOffNeverMarks) {
    node_health off("a", config::health_options{});
    for (int i = 0; i < 10; ++i) {
        EXPECT_EQ(off.connect_failed("refused"), change::none);
    }
    EXPECT_TRUE(off.admits());
    auto o = options();
    o.passive = false;
    node_health active_only("b", o);
    for (int i = 0; i < 10; ++i) {
        active_only.connect_failed("refused");
    }
    EXPECT_TRUE(active_only.admits());
}

TEST(NodeHealth, SwitchingHealthOffOnReloadReadmitsTheNode) {
    node_health h("bbb-01", options());
    for (int i = 0; i < 3; ++i) {
        h.check_failed("down");
    }
    ASSERT_FALSE(h.admits());
    h.set_options(config::health_options{});
    EXPECT_TRUE(h.admits());
}

}  // namespace
}  // namespace bcp::health
