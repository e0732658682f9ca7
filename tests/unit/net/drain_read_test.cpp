// net::async_drain_read: a read that tells the reactor when the socket is drained. What must hold
// whatever the reactor skips: every byte, FIN and error that arrives is still delivered, whether
// it came before the read started, while it was queued, or between two reads.

#include "net/drain_read.hpp"
#include "net/listener.hpp"

#include <gtest/gtest.h>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>

#include <chrono>
#include <list>
#include <optional>
#include <string>

namespace bcp::net {
namespace {

using namespace std::chrono_literals;

struct result {
    error_code ec;
    std::string data;
};

// A connected pair over loopback: `ours` (drain reads on) and `peer` (plain, used synchronously).
class DrainRead : public ::testing::Test {
  protected:
    void SetUp() override {
        tcp::acceptor acceptor(ioc, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
        peer.connect(acceptor.local_endpoint());
        acceptor.accept(ours);
        ASSERT_TRUE(enable_drain_reads(ours));
    }

    // Starts one drain read of up to `size` bytes; `out` is set when it completes.
    void start_read(std::optional<result>& out, std::size_t size = 64) {
        buffers.emplace_back(size, '\0');
        auto& buf = buffers.back();
        async_drain_read(ours, asio::buffer(buf), [&out, &buf](error_code ec, std::size_t n) {
            out = result{ec, buf.substr(0, n)};
        });
    }

    // Runs the loop until `out` is set or `limit` passes.
    void run_until(const std::optional<result>& out, std::chrono::milliseconds limit = 2s) {
        const auto end = std::chrono::steady_clock::now() + limit;
        ioc.restart();
        while (!out && std::chrono::steady_clock::now() < end) {
            ioc.run_for(5ms);
            ioc.restart();
        }
    }

    // One complete read: the bytes, or the error.
    result read(std::size_t size = 64) {
        std::optional<result> r;
        start_read(r, size);
        run_until(r);
        EXPECT_TRUE(r) << "the read did not complete";
        return r.value_or(result{asio::error::timed_out, {}});
    }

    // Starts a read, lets it wait, does `act`, and returns how the read completed.
    template <class Act>
    result pending_read_then(Act act) {
        std::optional<result> r;
        start_read(r);
        ioc.run_for(10ms);
        ioc.restart();
        EXPECT_FALSE(r) << "the read completed before anything happened";
        act();
        run_until(r);
        EXPECT_TRUE(r) << "the read did not complete";
        return r.value_or(result{asio::error::timed_out, {}});
    }

    void send(const std::string& s) { asio::write(peer, asio::buffer(s)); }

    // Runs the event loop for `d` with a timer as its only work, so readiness events that are
    // pending for `ours` are handled while no read is pending (run_for alone would return at once).
    void spin(std::chrono::milliseconds d) {
        asio::steady_timer t(ioc, d);
        t.async_wait([](error_code) {});
        ioc.restart();
        ioc.run();
        ioc.restart();
    }

    asio::io_context ioc;
    tcp::socket ours{ioc};
    tcp::socket peer{ioc};
    std::list<std::string> buffers;
};

TEST_F(DrainRead, ReadsWhatIsAlreadyThere) {
    send("hello");
    const auto r = read();
    EXPECT_FALSE(r.ec);
    EXPECT_EQ(r.data, "hello");
}

TEST_F(DrainRead, WaitsForDataThatComesLater) {
    std::optional<result> r;
    start_read(r);
    ioc.run_for(30ms);  // queued, nothing there yet
    ioc.restart();
    EXPECT_FALSE(r);
    send("later");
    run_until(r);
    ASSERT_TRUE(r);
    EXPECT_FALSE(r->ec);
    EXPECT_EQ(r->data, "later");
}

// The case the operation exists for: a short read that drained the socket, then the next read
// starts without a speculative recv and must still be woken by the next request.
TEST_F(DrainRead, AfterADrainingReadTheNextDataStillWakesTheNextRead) {
    for (int i = 0; i < 20; ++i) {
        const std::string request = "request " + std::to_string(i);
        send(request);
        const auto r = read();
        ASSERT_FALSE(r.ec) << r.ec.message();
        EXPECT_EQ(r.data, request);
    }
}

// Data that arrives while no read is pending (its readiness event finds no operation) is read by
// the next read at once, whether or not the loop ran in between.
TEST_F(DrainRead, DataArrivingBetweenReadsIsRead) {
    send("one");
    EXPECT_EQ(read().data, "one");  // short: drained
    send("two");
    spin(20ms);  // the readiness event is handled with no read pending
    EXPECT_EQ(read().data, "two");
    send("three");  // and without the loop running in between
    EXPECT_EQ(read().data, "three");
}

// A full buffer is not "drained": the rest is read at once by the next read.
TEST_F(DrainRead, AFullBufferLeavesTheRestForTheNextRead) {
    send("0123456789");
    EXPECT_EQ(read(4).data, "0123");
    EXPECT_EQ(read(4).data, "4567");
    EXPECT_EQ(read(4).data, "89");
}

// The kernel's queue hint counts a received FIN, so a FIN that came with the data is not lost
// behind a "drained" report: the next read sees the end of the stream without new events.
TEST_F(DrainRead, AFinBehindTheDataIsStillRead) {
    send("last words");
    peer.shutdown(tcp::socket::shutdown_send);
    // Both have arrived, and their readiness event is consumed, before the first read: nothing
    // will wake a read that waits for more.
    spin(20ms);
    const auto r = read();
    EXPECT_FALSE(r.ec);
    EXPECT_EQ(r.data, "last words");
    const auto end = read();
    EXPECT_EQ(end.ec, asio::error::eof);
}

TEST_F(DrainRead, APeerThatClosesGivesEndOfStream) {
    EXPECT_EQ(pending_read_then([&] { peer.close(); }).ec, asio::error::eof);
}

// A reset queued behind the data is not in the hint (docs: src/net/drain_read.hpp): the read after
// the data may wait, but the write that follows reports it, which is how the proxy's client
// connections meet it (a response is written after every request read).
TEST_F(DrainRead, AResetBehindTheDataIsSeenByTheNextWrite) {
    send("request");
    peer.set_option(asio::socket_base::linger(true, 0));
    peer.close();  // RST
    spin(20ms);
    const auto r = read();
    EXPECT_FALSE(r.ec);
    EXPECT_EQ(r.data, "request");
    error_code wec;
    const std::string response(1000, 'x');
    for (int i = 0; i < 3 && !wec; ++i) {
        asio::write(ours, asio::buffer(response), wec);
    }
    EXPECT_TRUE(wec == asio::error::connection_reset || wec == asio::error::broken_pipe)
        << wec.message();
}

TEST_F(DrainRead, CloseAbortsAPendingRead) {
    EXPECT_EQ(pending_read_then([&] { ours.close(); }).ec, asio::error::operation_aborted);
}

TEST_F(DrainRead, PerOperationCancellationAbortsAPendingRead) {
    asio::cancellation_signal signal;
    std::optional<result> r;
    std::string buf(64, '\0');
    async_drain_read(ours, asio::buffer(buf),
                     asio::bind_cancellation_slot(signal.slot(), [&](error_code ec, std::size_t) {
                         r = result{ec, {}};
                     }));
    ioc.run_for(10ms);
    ioc.restart();
    EXPECT_FALSE(r);
    signal.emit(asio::cancellation_type::terminal);
    run_until(r);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->ec, asio::error::operation_aborted);
    // The socket stays usable.
    send("after");
    EXPECT_EQ(read().data, "after");
}

TEST_F(DrainRead, EmptyBufferAndClosedSocketAnswerLikeAsio) {
    std::optional<result> r;
    start_read(r, 0);
    run_until(r);
    ASSERT_TRUE(r);
    EXPECT_FALSE(r->ec);
    EXPECT_EQ(r->data, "");
    ours.close();
    const auto closed = read();
    EXPECT_EQ(closed.ec, asio::error::bad_descriptor);
}

// The proxy sets the option once, on its listeners: connections accepted from them carry it
// (no setsockopt per connection).
TEST(DrainReadListener, AcceptedConnectionsInheritTheHintFromOpenListener) {
    asio::io_context ioc;
    std::string error;
    auto acceptor =
        open_listener(ioc, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0), error);
    ASSERT_TRUE(acceptor.is_open()) << error;
    tcp::socket peer(ioc);
    tcp::socket ours(ioc);
    peer.connect(acceptor.local_endpoint());
    acceptor.accept(ours);
    int value = 0;
    socklen_t len = sizeof value;
    ASSERT_EQ(::getsockopt(ours.native_handle(), SOL_TCP, TCP_INQ, &value, &len), 0);
    EXPECT_EQ(value, 1);
}

// Without TCP_INQ the operation never reports "drained" and reads like async_read_some.
TEST(DrainReadWithoutHint, ReadsLikeAsyncReadSome) {
    asio::io_context ioc;
    tcp::acceptor acceptor(ioc, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    tcp::socket peer(ioc);
    tcp::socket ours(ioc);
    peer.connect(acceptor.local_endpoint());
    acceptor.accept(ours);
    for (const std::string msg : {"a", "bc", "def"}) {
        asio::write(peer, asio::buffer(msg));
        std::string buf(16, '\0');
        std::optional<std::string> got;
        async_drain_read(ours, asio::buffer(buf), [&](error_code ec, std::size_t n) {
            got = ec ? "error" : buf.substr(0, n);
        });
        ioc.restart();
        ioc.run_for(1s);
        EXPECT_EQ(got, msg);
    }
}

}  // namespace
}  // namespace bcp::net
