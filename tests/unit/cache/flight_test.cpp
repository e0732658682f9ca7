// Coalescing across io_contexts: waiters on other threads are woken on their own executor.
#include "cache/flight.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <string>
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
                    v.fill->for_each(have, v.filled,
                                     [&](std::string_view piece) { received.append(piece); });
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
    meta->sized = false;  // chunked: the end is the flight's completion
    // Unknown length: room up to a limit, and the bytes cross a segment boundary.
    auto b = std::make_shared<fill_buffer>(1 << 20);
    const auto write = [&](std::string_view text) {
        while (!text.empty()) {
            const auto space = b->next_space();
            const std::size_t n = std::min(space.size(), text.size());
            std::memcpy(space.data(), text.data(), n);
            b->commit(n);
            text.remove_prefix(n);
        }
    };
    std::string expected = "abc" + std::string(fill_buffer::segment_size, 'x') + "def";
    // Give the waiter time to block first; the test passes either way, but this way the wake-up
    // path (post to the waiter's executor) is what delivers the news.
    std::this_thread::sleep_for(20ms);
    f->stream(meta, b);
    write("abc");
    f->progress(b->size());
    std::this_thread::sleep_for(20ms);
    write(std::string_view(expected).substr(3));
    f->progress(b->size());
    f->complete(meta);
    t.join();
    EXPECT_TRUE(done);
    EXPECT_EQ(received, expected);
    EXPECT_GE(progress_seen.size(), 1u);
}

TEST(FillBuffer, SegmentsNeverMoveAndStopAtCapacity) {
    fill_buffer b(fill_buffer::segment_size + 10);
    auto first = b.next_space();
    ASSERT_EQ(first.size(), fill_buffer::segment_size);
    std::memset(first.data(), 'a', first.size());
    b.commit(first.size());
    auto second = b.next_space();
    ASSERT_EQ(second.size(), 10u);  // the last segment is only as large as the capacity needs
    std::memset(second.data(), 'b', 4);
    b.commit(4);
    std::string all;
    b.for_each(0, b.size(), [&](std::string_view piece) { all.append(piece); });
    EXPECT_EQ(all, std::string(fill_buffer::segment_size, 'a') + "bbbb");
    // Appending writes after what is there, never moving it.
    EXPECT_EQ(b.next_space().data(), second.data() + 4);
    b.commit(6);
    EXPECT_TRUE(b.next_space().empty());  // full: the fill reports the overflow
    std::string copy(b.size(), '\0');
    b.copy_to(copy.data(), copy.size());
    EXPECT_EQ(copy.substr(fill_buffer::segment_size, 4), "bbbb");
}

TEST(FillBuffer, ZeroCapacityIsFullAtOnce) {
    fill_buffer b(0);
    EXPECT_TRUE(b.next_space().empty());
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
