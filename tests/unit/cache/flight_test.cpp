// Coalescing across io_contexts: waiters on other threads are woken on their own executor.
#include "cache/flight.hpp"

#include <gtest/gtest.h>

#include <cstring>
#include <thread>

namespace bcp::cache {
namespace {

using namespace std::chrono_literals;

TEST(FlightTable, FirstLeadsOthersJoinUntilFinished) {
    flight_table t;
    bool leader = false;
    auto a = t.lead_or_join("k", leader);
    EXPECT_TRUE(leader);
    auto b = t.lead_or_join("k", leader);
    EXPECT_FALSE(leader);
    EXPECT_EQ(a, b);
    t.finish(a);
    auto c = t.lead_or_join("k", leader);
    EXPECT_TRUE(leader);
    EXPECT_NE(a, c);
}

TEST(FlightTable, LeadershipFailsTheFlightWhenTheLeaderLeaves) {
    flight_table t;
    bool leader = false;
    auto f = t.lead_or_join("k", leader);
    { leadership l(t, f); }
    EXPECT_EQ(f->peek().s, flight::state::failed);
    EXPECT_EQ(t.open(), 0u);
}

TEST(Flight, WaiterOnAnotherThreadStreamsWhileItFills) {
    auto f = std::make_shared<flight>("k");
    asio::io_context waiter_ioc(1);
    std::string received;
    bool done = false;
    std::vector<std::size_t> progress_seen;
    asio::co_spawn(
        waiter_ioc,
        [&]() -> awaitable<void> {
            auto w = f->join(co_await asio::this_coro::executor);
            bool head = false;
            std::size_t have = 0;
            while (true) {
                auto v = co_await f->next(*w, head, have, std::chrono::steady_clock::now() + 5s);
                if (v.timed_out || v.s == flight::state::failed) {
                    co_return;
                }
                head = head || v.meta != nullptr;
                if (v.filled > have) {
                    received.append(v.fill->bytes.get() + have, v.filled - have);
                    have = v.filled;
                    progress_seen.push_back(have);
                }
                if (v.s == flight::state::complete) {
                    done = true;
                    co_return;
                }
            }
        },
        asio::detached);
    std::thread t([&] { waiter_ioc.run(); });

    auto meta = std::make_shared<entry>();
    meta->length = 6;
    auto b = std::make_shared<body>(6);
    // Give the waiter time to block first; the test passes either way, but this way the wake-up
    // path (post to the waiter's executor) is what delivers the news.
    std::this_thread::sleep_for(20ms);
    f->stream(meta, b);
    std::memcpy(b->bytes.get(), "abc", 3);
    f->progress(3);
    std::this_thread::sleep_for(20ms);
    std::memcpy(b->bytes.get() + 3, "def", 3);
    f->progress(6);
    f->complete(meta);
    t.join();
    EXPECT_TRUE(done);
    EXPECT_EQ(received, "abcdef");
    EXPECT_GE(progress_seen.size(), 1u);
}

TEST(Flight, WaitEndsAtTheDeadlineWithoutNews) {
    auto f = std::make_shared<flight>("k");
    asio::io_context ioc(1);
    bool timed_out = false;
    asio::co_spawn(
        ioc,
        [&]() -> awaitable<void> {
            auto w = f->join(co_await asio::this_coro::executor);
            auto v = co_await f->next(*w, false, 0, std::chrono::steady_clock::now() + 30ms);
            timed_out = v.timed_out && v.s == flight::state::pending;
        },
        asio::detached);
    ioc.run();
    EXPECT_TRUE(timed_out);
}

}  // namespace
}  // namespace bcp::cache
