// Graceful shutdown of the real binary on SIGTERM (docs/security.md "Shutdown"): it stops
// accepting at once, closes idle connections, lets started responses finish byte-exact, ends
// WebSocket tunnels at timeouts.shutdown, and exits 0 within the deadline plus a small margin.
#include "harness.hpp"
#include "proxy_process.hpp"

#include <gtest/gtest.h>

#include <csignal>

namespace bcp::test {
namespace {

std::string pattern_of(std::size_t n) {
    std::string s(n, 'a');
    for (std::size_t i = 0; i < n; ++i) {
        s[i] = static_cast<char>('a' + i % 26);
    }
    return s;
}

TEST(ProxyShutdown, SigtermDrainsThenExitsZero) {
    node_set nodes({"bbb-01"});
    proxy_process proxy(proxy_yaml(nodes, "timeouts:\n  shutdown: 3s\nworkers: 2\n"));
    ASSERT_TRUE(proxy.ok());

    client idle(proxy.port());
    ASSERT_TRUE(idle.get("/bbb-01/html5client/_test/bytes?n=1"));

    client tunnel(proxy.port());
    tunnel.send(
        "GET /bbb-01/html5client/ws HTTP/1.1\r\nHost: p\r\nUpgrade: websocket\r\n"
        "Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n");
    auto up = tunnel.read(true, 5s);
    ASSERT_TRUE(up) << tunnel.last_error();
    ASSERT_EQ(up->result_int(), 101u);

    // A slow response (about 1.4 s) whose head has arrived when SIGTERM is sent.
    constexpr std::size_t n = 300'000;
    client busy(proxy.port());
    busy.send("GET /bbb-01/html5client/_test/slow?n=" + std::to_string(n) +
              "&ms=150 HTTP/1.1\r\nHost: p\r\n\r\n");
    std::string first;
    ASSERT_FALSE(busy.closed_within(100ms, &first));
    ASSERT_EQ(first.rfind("HTTP/1.1 200", 0), 0u) << first;

    const auto sigterm = std::chrono::steady_clock::now();
    proxy.signal(SIGTERM);

    // New connections are refused once the listeners are closed.
    EXPECT_TRUE(eventually([&] { return !client(proxy.port()).connected(); }, 1s))
        << "still accepting after SIGTERM";
    EXPECT_TRUE(idle.closed_within(1s)) << "idle keep-alive connections close at once";

    std::string rest;
    EXPECT_TRUE(busy.closed_within(5s, &rest)) << "closes after its response";
    const std::string all = first + rest;
    const auto body_at = all.find("\r\n\r\n");
    ASSERT_NE(body_at, std::string::npos);
    EXPECT_EQ(all.substr(body_at + 4), pattern_of(n)) << "the started response is byte-exact";
    EXPECT_LT(std::chrono::steady_clock::now() - sigterm, 3s) << "it did not wait for the deadline";

    // The tunnel lives until the deadline, then is cut; the process exits 0.
    EXPECT_TRUE(tunnel.closed_within(5s));
    const auto tunnel_end = std::chrono::steady_clock::now() - sigterm;
    EXPECT_GE(tunnel_end, 2900ms) << "tunnel cut before the deadline";
    const int code = proxy.wait_exit(3s);
    const auto exit_after = std::chrono::steady_clock::now() - sigterm;
    EXPECT_EQ(code, 0) << proxy.log();
    EXPECT_LT(exit_after, 5s) << "deadline 3 s + 2 s margin";
    std::printf("SIGTERM: tunnel cut after %lld ms, exit after %lld ms\n",
                static_cast<long long>(
                    std::chrono::duration_cast<std::chrono::milliseconds>(tunnel_end).count()),
                static_cast<long long>(
                    std::chrono::duration_cast<std::chrono::milliseconds>(exit_after).count()));
}

TEST(ProxyShutdown, ResponseLongerThanTheDeadlineIsCutAndTheExitIsStillZero) {
    node_set nodes({"bbb-01"});
    proxy_process proxy(proxy_yaml(nodes, "timeouts:\n  shutdown: 500ms\n"));
    ASSERT_TRUE(proxy.ok());
    client busy(proxy.port());
    busy.send("GET /bbb-01/html5client/_test/slow?n=100000&ms=500 HTTP/1.1\r\nHost: p\r\n\r\n");
    std::string first;
    ASSERT_FALSE(busy.closed_within(100ms, &first));
    ASSERT_EQ(first.rfind("HTTP/1.1 200", 0), 0u);
    const auto sigterm = std::chrono::steady_clock::now();
    proxy.signal(SIGTERM);
    std::string rest;
    EXPECT_TRUE(busy.closed_within(3s, &rest));
    EXPECT_LT((first + rest).size() - (first + rest).find("\r\n\r\n") - 4, 100000u)
        << "cut, never completed";
    EXPECT_EQ(proxy.wait_exit(3s), 0) << proxy.log();
    EXPECT_LT(std::chrono::steady_clock::now() - sigterm, 2500ms);
}

}  // namespace
}  // namespace bcp::test
