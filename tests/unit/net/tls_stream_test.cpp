// net::stream over TLS (OpenSSL on the socket through our BIO) against itself on loopback, and
// the upstream pool's TLS session resumption.

#include "net/stream.hpp"
#include "net/tls.hpp"
#include "support/test_ca.hpp"
#include "upstream/pool.hpp"

#include <gtest/gtest.h>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>

#include <chrono>
#include <string>
#include <string_view>
#include <vector>

namespace bcp::net {
namespace {

using namespace std::chrono_literals;
using namespace boost::asio::experimental::awaitable_operators;

struct tls_files {
    test::temp_dir dir{"bcp-net-test"};
    test::test_ca ca = test::test_ca::create();
    test::test_ca::leaf leaf = ca.issue({"localhost"}, {"127.0.0.1"});
    test::pem_files files = test::write_pem_files(dir.path(), ca, leaf);
    std::shared_ptr<ssl::context> server = make_server_context(files.cert, files.key).context;
    std::shared_ptr<ssl::context> client = make_client_context(true, files.ca_cert).context;
};

// Runs `body` as a coroutine on a fresh io_context with a hard time limit; rethrows its failure.
template <class F>
void run(asio::io_context& ioc, F body) {
    bool done = false;
    std::exception_ptr failure;
    asio::co_spawn(ioc, body(), [&](std::exception_ptr e) {
        failure = e;
        done = true;
    });
    ioc.run_for(20s);
    ASSERT_TRUE(done) << "timed out";
    if (failure) {
        std::rethrow_exception(failure);
    }
}

tcp::acceptor loopback_acceptor(asio::io_context& ioc) {
    return tcp::acceptor(ioc, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
}

awaitable<stream> connect_client(tls_files& t, std::uint16_t port, const std::string& name) {
    tcp::socket s(co_await asio::this_coro::executor);
    co_await s.async_connect({asio::ip::make_address("127.0.0.1"), port}, asio::use_awaitable);
    stream c(std::move(s), *t.client);
    EXPECT_TRUE(prepare_client(c.native_handle(), name, true));
    co_return c;
}

TEST(TlsStream, FullDuplexTransferAndCloseNotifyBothWays) {
    tls_files t;
    asio::io_context ioc;
    auto acceptor = loopback_acceptor(ioc);
    const auto port = acceptor.local_endpoint().port();
    constexpr std::size_t total = 3 * 1024 * 1024 + 17;

    auto server = [&]() -> awaitable<void> {
        stream s(co_await acceptor.async_accept(asio::use_awaitable), *t.server);
        auto [hec] = co_await s.async_handshake(stream::role::server, use_nothrow);
        EXPECT_FALSE(hec) << hec.message();
        std::vector<char> buf(16 * 1024);
        while (true) {  // echo until the client's close_notify
            auto [ec, n] = co_await s.async_read_some(asio::buffer(buf), use_nothrow);
            if (ec) {
                EXPECT_EQ(ec, asio::error::eof) << "a clean end, not " << ec.message();
                break;
            }
            co_await asio::async_write(s, asio::buffer(buf.data(), n), asio::use_awaitable);
        }
        auto [sec] = co_await s.async_shutdown(use_nothrow);
        EXPECT_FALSE(sec) << sec.message();
    };
    auto client = [&]() -> awaitable<void> {
        stream c = co_await connect_client(t, port, "localhost");
        auto [hec] = co_await c.async_handshake(stream::role::client, use_nothrow);
        EXPECT_FALSE(hec) << hec.message();
        std::string out(total, '\0');
        for (std::size_t i = 0; i < total; ++i) {
            out[i] = static_cast<char>('a' + i % 26);
        }
        std::string in(total, '\0');
        // Writing and reading at once on one TLS stream (as a WebSocket tunnel does).
        auto writer = [&]() -> awaitable<void> {
            co_await asio::async_write(c, asio::buffer(out), asio::use_awaitable);
        };
        auto reader = [&]() -> awaitable<void> {
            co_await asio::async_read(c, asio::buffer(in), asio::use_awaitable);
        };
        co_await (writer() && reader());
        EXPECT_TRUE(in == out) << "echoed bytes differ";
        auto [sec] = co_await c.async_shutdown(use_nothrow);  // returns once the server's came
        EXPECT_FALSE(sec) << sec.message();
    };
    run(ioc, [&]() -> awaitable<void> { co_await (server() && client()); });
}

// Application data records a reading SSL received (TLS 1.3: the inner content type is 23).
void count_app_records(int write_p, int, int content_type, const void* buf, std::size_t len, SSL*,
                       void* arg) {
    if (write_p == 0 && content_type == SSL3_RT_INNER_CONTENT_TYPE && len == 1 &&
        *static_cast<const unsigned char*>(buf) == SSL3_RT_APPLICATION_DATA) {
        ++*static_cast<int*>(arg);
    }
}

// A gathered write whose first buffer is smaller than a record (a response head, then its body)
// leaves in as few records as its bytes need, not one record (and one system call) per buffer.
TEST(TlsStream, GatheredWriteFillsRecordsAcrossBuffers) {
    tls_files t;
    asio::io_context ioc;
    auto acceptor = loopback_acceptor(ioc);
    const auto port = acceptor.local_endpoint().port();
    auto pattern = [](std::size_t n, char from) {
        std::string out(n, '\0');
        for (std::size_t i = 0; i < n; ++i) {
            out[i] = static_cast<char>(from + i % 23);
        }
        return out;
    };
    const std::string head = pattern(300, 'A'), small = pattern(1000, 'a'),
                      large = pattern(40 * 1024, 'b');
    struct load {
        std::vector<std::string_view> pieces;
        // At most: what its bytes need (whole records), plus one where a large buffer goes as it
        // is (OpenSSL may end a write before a record is full). One record per buffer was 2, 2,
        // 5 and 4.
        int max_records;
    };
    const std::vector<load> loads = {
        {{head, small}, 1},
        {{head, std::string_view(), small}, 1},
        {{head, small, large}, 4},  // the first 16 KiB staged, then the rest of `large`
        {{large, head}, 4},         // a large first buffer goes as it is
        {{head}, 1},
    };
    int records = 0;
    std::vector<std::string> received(loads.size());

    auto server = [&]() -> awaitable<void> {
        stream s(co_await acceptor.async_accept(asio::use_awaitable), *t.server);
        SSL_set_msg_callback(s.native_handle(), count_app_records);
        SSL_set_msg_callback_arg(s.native_handle(), &records);
        auto [hec] = co_await s.async_handshake(stream::role::server, use_nothrow);
        EXPECT_FALSE(hec) << hec.message();
        for (std::size_t i = 0; i < loads.size(); ++i) {
            std::size_t total = 0;
            for (auto p : loads[i].pieces) {
                total += p.size();
            }
            records = 0;
            received[i].resize(total);
            co_await asio::async_read(s, asio::buffer(received[i]), asio::use_awaitable);
            EXPECT_LE(records, loads[i].max_records) << "load " << i;
            co_await asio::async_write(s, asio::buffer("k", 1), asio::use_awaitable);  // next
        }
    };
    auto client = [&]() -> awaitable<void> {
        stream c = co_await connect_client(t, port, "localhost");
        auto [hec] = co_await c.async_handshake(stream::role::client, use_nothrow);
        EXPECT_FALSE(hec) << hec.message();
        for (const auto& l : loads) {
            std::vector<asio::const_buffer> gather;
            for (auto p : l.pieces) {
                gather.push_back(asio::buffer(p.data(), p.size()));
            }
            co_await asio::async_write(c, gather, asio::use_awaitable);
            char ack = 0;
            co_await asio::async_read(c, asio::buffer(&ack, 1), asio::use_awaitable);
        }
    };
    run(ioc, [&]() -> awaitable<void> { co_await (server() && client()); });
    for (std::size_t i = 0; i < loads.size(); ++i) {
        std::string expected;
        for (auto p : loads[i].pieces) {
            expected.append(p);
        }
        EXPECT_TRUE(received[i] == expected) << "load " << i << ": the bytes differ";
    }
}

TEST(TlsStream, WrongHostNameFailsTheHandshake) {
    tls_files t;
    asio::io_context ioc;
    auto acceptor = loopback_acceptor(ioc);
    const auto port = acceptor.local_endpoint().port();
    auto server = [&]() -> awaitable<void> {
        stream s(co_await acceptor.async_accept(asio::use_awaitable), *t.server);
        co_await s.async_handshake(stream::role::server, use_nothrow);
    };
    auto client = [&]() -> awaitable<void> {
        stream c = co_await connect_client(t, port, "other.example.com");
        auto [hec] = co_await c.async_handshake(stream::role::client, use_nothrow);
        EXPECT_TRUE(hec) << "a certificate for localhost must not pass for other.example.com";
        c.close();
    };
    run(ioc, [&]() -> awaitable<void> { co_await (server() && client()); });
}

TEST(TlsStream, WritingToAResetPeerIsAnErrorNotSigpipe) {
    tls_files t;
    asio::io_context ioc;
    auto acceptor = loopback_acceptor(ioc);
    const auto port = acceptor.local_endpoint().port();
    auto server = [&]() -> awaitable<void> {
        stream s(co_await acceptor.async_accept(asio::use_awaitable), *t.server);
        co_await s.async_handshake(stream::role::server, use_nothrow);
        s.socket().set_option(asio::socket_base::linger(true, 0));
        s.socket().close();  // RST
    };
    auto client = [&]() -> awaitable<void> {
        stream c = co_await connect_client(t, port, "localhost");
        auto [hec] = co_await c.async_handshake(stream::role::client, use_nothrow);
        EXPECT_FALSE(hec) << hec.message();
        asio::steady_timer pause(co_await asio::this_coro::executor, 50ms);
        co_await pause.async_wait(asio::use_awaitable);
        const std::string chunk(64 * 1024, 'x');
        error_code ec;
        for (int i = 0; i < 100 && !ec; ++i) {  // the first writes may still be accepted
            std::tie(ec, std::ignore) =
                co_await asio::async_write(c, asio::buffer(chunk), use_nothrow);
        }
        EXPECT_TRUE(ec) << "writes to a reset connection must fail";
        // Still here: SIGPIPE would have ended the process.
        c.close();
        std::tie(ec, std::ignore) = co_await c.async_write_some(asio::buffer(chunk), use_nothrow);
        EXPECT_EQ(ec, asio::error::bad_descriptor) << "no OpenSSL call after close()";
    };
    run(ioc, [&]() -> awaitable<void> { co_await (server() && client()); });
}

TEST(UpstreamPool, SecondTlsConnectionToANodeResumesTheSession) {
    tls_files t;
    asio::io_context ioc;
    auto acceptor = loopback_acceptor(ioc);
    const auto port = acceptor.local_endpoint().port();
    upstream::pool_options po;
    po.tls = t.client.get();
    po.verify = true;
    upstream::pool pool(ioc.get_executor(), po);
    const std::string key = "node", host = "localhost";
    std::vector<bool> resumed_on_server;

    auto server = [&]() -> awaitable<void> {
        std::vector<stream> kept;
        for (int i = 0; i < 2; ++i) {
            stream s(co_await acceptor.async_accept(asio::use_awaitable), *t.server);
            auto [hec] = co_await s.async_handshake(stream::role::server, use_nothrow);
            EXPECT_FALSE(hec) << hec.message();
            resumed_on_server.push_back(SSL_session_reused(s.native_handle()) == 1);
            co_await asio::async_write(s, asio::buffer("x", 1), asio::use_awaitable);
            kept.push_back(std::move(s));
        }
    };
    auto client = [&]() -> awaitable<void> {
        for (int i = 0; i < 2; ++i) {
            auto r = co_await pool.connect({key, host, port, true});
            EXPECT_TRUE(r.conn) << r.message;
            if (!r.conn) {
                co_return;
            }
            char byte = 0;  // reading the response also reads a TLS 1.3 node's session tickets
            co_await asio::async_read(r.conn->stream, asio::buffer(&byte, 1), asio::use_awaitable);
            EXPECT_EQ(byte, 'x');
            EXPECT_EQ(SSL_session_reused(r.conn->stream.native_handle()) == 1, i == 1);
            pool.give_back(key, std::move(r.conn));  // connect() below still opens a new one
        }
    };
    run(ioc, [&]() -> awaitable<void> { co_await (server() && client()); });
    ASSERT_EQ(resumed_on_server.size(), 2u);
    EXPECT_FALSE(resumed_on_server[0]);
    EXPECT_TRUE(resumed_on_server[1]) << "the second connection offered the first one's session";
}

// max_idle_per_node bounds what stays idle past a tick, not what a burst gives back: a load with
// more requests in flight than that keeps its connections from one burst to the next, and what
// is left idle is closed (oldest first) at the first housekeeping tick a second on. 0 keeps none.
TEST(UpstreamPool, IdleConnectionsPastTheCapAreClosedOnlyAfterATick) {
    for (const std::size_t cap : {std::size_t{2}, std::size_t{0}}) {
        asio::io_context ioc;
        auto acceptor = loopback_acceptor(ioc);
        const auto port = acceptor.local_endpoint().port();
        upstream::pool_options po;
        po.max_idle_per_node = cap;
        upstream::pool pool(ioc.get_executor(), po);
        const std::string key = "node", host = "127.0.0.1";
        constexpr std::size_t burst = 5;
        std::vector<tcp::socket> accepted;
        auto server = [&]() -> awaitable<void> {
            for (std::size_t i = 0; i < burst; ++i) {
                accepted.push_back(co_await acceptor.async_accept(asio::use_awaitable));
            }
        };
        auto client = [&]() -> awaitable<void> {
            std::vector<std::unique_ptr<upstream::connection>> lent;
            for (std::size_t i = 0; i < burst; ++i) {
                auto r = co_await pool.connect({key, host, port, false});
                EXPECT_TRUE(r.conn) << r.message;
                lent.push_back(std::move(r.conn));
            }
            for (auto& c : lent) {
                pool.give_back(key, std::move(c));
            }
        };
        run(ioc, [&]() -> awaitable<void> { co_await (server() && client()); });
        const auto now = std::chrono::steady_clock::now();
        EXPECT_EQ(pool.stats().idle.load(), cap == 0 ? 0 : burst) << "cap " << cap;
        pool.expire_idle(now + 500ms);  // the burst's next requests may come: all kept
        EXPECT_EQ(pool.stats().idle.load(), cap == 0 ? 0 : burst) << "cap " << cap;
        pool.expire_idle(now + upstream::pool::excess_grace + 100ms);
        EXPECT_EQ(pool.stats().idle.load(), cap) << "cap " << cap;
        std::size_t lendable = 0;
        while (pool.take(key)) {
            ++lendable;
        }
        EXPECT_EQ(lendable, cap) << "cap " << cap;
    }
}

}  // namespace
}  // namespace bcp::net
