#include "net/relay_buffer.hpp"

#include <gtest/gtest.h>

#include <cstring>
#include <thread>

namespace bcp::net {
namespace {

TEST(RelayBuffer, BlocksAreReusedFromThisThreadsFreeList) {
    char* first = nullptr;
    {
        relay_buffer a;
        first = a.data();
        ASSERT_NE(first, nullptr);
        std::memset(first, 'x', relay_buffer::size());  // the whole block is writable
        EXPECT_EQ(a.data(), first) << "stable while held";
    }
    relay_buffer b;
    EXPECT_EQ(b.data(), first) << "the released block comes back instead of a new allocation";
    relay_buffer c;
    EXPECT_NE(c.data(), first) << "a block is never handed out twice";
    b.release();
    c.release();
    relay_buffer d;
    EXPECT_TRUE(d.data() == first || d.data() != nullptr);
}

TEST(RelayBuffer, MovedBufferKeepsItsBlockAndOtherThreadsHaveTheirOwn) {
    relay_buffer a;
    char* block = a.data();
    relay_buffer b(std::move(a));
    EXPECT_EQ(b.data(), block);
    b.release();
    char* other = nullptr;
    std::thread([&] {
        relay_buffer t;
        other = t.data();
    }).join();
    EXPECT_NE(other, nullptr);
    relay_buffer again;
    EXPECT_EQ(again.data(), block) << "this thread's list was not touched by the other thread";
}

}  // namespace
}  // namespace bcp::net
