// net::watchdog: a deadline that closes something once, re-armed cheaply, safe to destroy with its
// timer's completion still queued.

#include "net/watchdog.hpp"

#include <gtest/gtest.h>
#include <boost/asio/strand.hpp>

#include <chrono>
#include <memory>
#include <optional>
#include <thread>

namespace bcp::net {
namespace {

using namespace std::chrono_literals;

TEST(Watchdog, FiresOnceAfterTheDeadline) {
    asio::io_context ioc;
    int fired = 0;
    std::chrono::steady_clock::time_point when;
    watchdog dog(ioc.get_executor(), [&] {
        ++fired;
        when = std::chrono::steady_clock::now();
    });
    const auto start = std::chrono::steady_clock::now();  // before arm(): the deadline is later
    dog.arm(20ms);
    ioc.run_for(300ms);
    EXPECT_EQ(fired, 1);
    EXPECT_TRUE(dog.fired());
    EXPECT_GE(when - start, 20ms);
    dog.reset();
    EXPECT_FALSE(dog.fired());
}

// The timer keeps the io_context's own executor (smaller than any_io_executor): anything else
// is refused at construction, not misused later.
TEST(Watchdog, WorksOnASocketsExecutorAndRefusesOtherExecutors) {
    asio::io_context ioc;
    tcp::socket socket(ioc);
    int fired = 0;
    watchdog dog(socket.get_executor(), [&] { ++fired; });
    dog.arm(10ms);
    ioc.run_for(200ms);
    EXPECT_EQ(fired, 1);
    EXPECT_THROW(watchdog(asio::make_strand(ioc), [] {}), std::invalid_argument);
}

TEST(Watchdog, RearmingLaterPostponesAndDisarmPrevents) {
    asio::io_context ioc;
    int fired = 0;
    watchdog dog(ioc.get_executor(), [&] { ++fired; });
    dog.arm(30ms);
    asio::steady_timer t(ioc);
    // At 15 ms: push the deadline to 100 ms from then. At 60 ms it must not have fired yet.
    t.expires_after(15ms);
    t.async_wait([&](error_code) {
        dog.arm(100ms);
        t.expires_after(45ms);
        t.async_wait([&](error_code) {
            EXPECT_EQ(fired, 0) << "the original 30 ms deadline was replaced";
            dog.disarm();
        });
    });
    ioc.run_for(400ms);
    EXPECT_EQ(fired, 0) << "disarmed before the postponed deadline";
    EXPECT_FALSE(dog.fired());
}

TEST(Watchdog, EarlierDeadlineWinsWhileWaiting) {
    asio::io_context ioc;
    std::chrono::steady_clock::time_point when;
    watchdog dog(ioc.get_executor(), [&] { when = std::chrono::steady_clock::now(); });
    const auto start = std::chrono::steady_clock::now();
    dog.arm(10s);
    dog.arm(20ms);
    ioc.run_for(500ms);
    ASSERT_TRUE(dog.fired());
    EXPECT_LT(when - start, 400ms);
}

TEST(Watchdog, DestroyedWatchdogNeverActsEvenWithItsTimerExpired) {
    asio::io_context ioc;
    bool acted = false;
    std::optional<watchdog> dog;
    dog.emplace(ioc.get_executor(), [&] { acted = true; });
    dog->arm(1ms);
    std::this_thread::sleep_for(20ms);  // expired; its completion runs only when ioc runs
    dog.reset();                        // the owner goes first (ASan: no use after free)
    ioc.run_for(100ms);
    EXPECT_FALSE(acted);
}

TEST(Watchdog, ActionMayDestroyTheOwner) {
    asio::io_context ioc;
    bool ran = false;
    std::unique_ptr<watchdog> dog;
    dog = std::make_unique<watchdog>(ioc.get_executor(), [&] {
        ran = true;
        dog.reset();  // the session that owns it ends inside the action
    });
    dog->arm(1ms);
    ioc.run_for(200ms);
    EXPECT_TRUE(ran);
    EXPECT_EQ(dog, nullptr);
}

}  // namespace
}  // namespace bcp::net
