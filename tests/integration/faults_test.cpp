// Fault injection: nodes that refuse, reset, send garbage or oversized heads, stall, truncate,
// close pooled connections, present the wrong certificate or restart. The client gets the right
// answer, the proxy stays healthy, and after 10,000 such events the real binary's open fds and
// RSS are back at their baseline (docs/security.md "Failing nodes").
#include "harness.hpp"
#include "proxy_process.hpp"
#include "support/test_ca.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <thread>

namespace bcp::test {
namespace {

const std::string t = "/bbb-01/html5client/_test/";

// What the client sees when the node fails after the response head: the head, fewer body bytes
// than announced, then the connection closes.
::testing::AssertionResult truncated(client& c, std::size_t announced) {
    std::string got;
    if (!c.closed_within(5s, &got)) {
        return ::testing::AssertionFailure() << "connection not closed";
    }
    const auto end = got.find("\r\n\r\n");
    if (got.rfind("HTTP/1.1 200", 0) != 0 || end == std::string::npos) {
        return ::testing::AssertionFailure() << "no 200 head: " << got.substr(0, 200);
    }
    if (got.size() - end - 4 >= announced) {
        return ::testing::AssertionFailure() << "the body completed";
    }
    return ::testing::AssertionSuccess();
}

TEST(ProxyFaults, EachFaultGetsItsAnswerAndTheNextRequestSucceeds) {
    node_set nodes({"bbb-01"});
    const std::string down =
        "  - id: bbb-down\n    url: \"http://127.0.0.1:" + std::to_string(closed_port()) + "\"\n";
    proxy_instance proxy(proxy_yaml(
        nodes, down + "timeouts:\n  upstream_response: 300ms\n  upstream_read: 300ms\n"));
    ASSERT_TRUE(proxy.ok());
    auto healthy = [&] {
        auto r = http_get(proxy.port(), t + "bytes?n=100");
        return r && r->result_int() == 200u && r->body().size() == 100u;
    };
    struct fault {
        const char* target;
        unsigned status;  // 0: truncated body
    };
    for (const fault& f : {fault{"/bbb-down/html5client/", 502}, fault{"reset", 502},
                           fault{"garbage", 502}, fault{"big-header", 502}, fault{"stall", 504},
                           fault{"stall-body?n=100000", 0}, fault{"reset-body?n=100000", 0}}) {
        SCOPED_TRACE(f.target);
        const std::string target = f.target[0] == '/' ? f.target : t + f.target;
        client c(proxy.port());
        c.send("GET " + target + " HTTP/1.1\r\nHost: p\r\n\r\n");
        if (f.status != 0) {
            auto r = c.read(false, 5s);
            ASSERT_TRUE(r) << c.last_error();
            EXPECT_EQ(r->result_int(), f.status);
            EXPECT_EQ((*r)[boost::beast::http::field::cache_control], "no-store");
            EXPECT_TRUE(c.closed_within(2s));
        } else {
            EXPECT_TRUE(truncated(c, 100000));
        }
        EXPECT_TRUE(healthy()) << "the next request fails";
    }
    const auto c = proxy.server().counters();
    EXPECT_EQ(c.upstream_timeouts, 2u);  // stall, stall-body
    EXPECT_EQ(c.upstream_errors, 5u);
}

// Regression: a node that sent a response head and then failed before any body byte left the
// client with a connection closed without an answer (the head waits to go out with the first body
// bytes). It gets a 502 (reset) or 504 (stall) instead.
TEST(ProxyFaults, NodeFailingRightAfterTheHeadIsStillAnAnswer) {
    node_set nodes({"bbb-01"});
    proxy_instance proxy(proxy_yaml(nodes, "timeouts:\n  upstream_read: 300ms\n"));
    ASSERT_TRUE(proxy.ok());
    for (const auto& [target, status] :
         {std::pair{"reset-body?n=1", 502u}, std::pair{"stall-body?n=1", 504u}}) {
        SCOPED_TRACE(target);
        client c(proxy.port());
        c.send("GET " + t + target + " HTTP/1.1\r\nHost: p\r\n\r\n");
        auto r = c.read(false, 5s);
        ASSERT_TRUE(r) << c.last_error();
        EXPECT_EQ(r->result_int(), status);
        EXPECT_TRUE(c.closed_within(2s));
        auto next = http_get(proxy.port(), t + "bytes?n=100");
        ASSERT_TRUE(next);
        EXPECT_EQ(next->result_int(), 200u);
    }
    const auto c = proxy.server().counters();
    EXPECT_EQ(c.upstream_errors, 1u);
    EXPECT_EQ(c.upstream_timeouts, 1u);
}

// A node closes a pooled connection as the proxy reuses it (drop-next makes the race certain):
// the GET is retried once on a fresh connection, invisibly to the client.
TEST(ProxyFaults, PooledConnectionClosedByTheNodeIsRetriedOnce) {
    node_set nodes({"bbb-01"});
    proxy_instance proxy(proxy_yaml(nodes, "workers: 1\n"));
    ASSERT_TRUE(proxy.ok());
    client c(proxy.port());
    auto first = c.get(t + "drop-next");
    ASSERT_TRUE(first) << c.last_error();
    EXPECT_EQ(first->body(), "drop-next\n");
    auto second = c.get(t + "bytes?n=5000");
    ASSERT_TRUE(second) << c.last_error();
    EXPECT_EQ(second->result_int(), 200u);
    EXPECT_EQ(second->body().size(), 5000u);
    const auto s = proxy.server().counters();
    EXPECT_EQ(s.upstream_retries, 1u);
    EXPECT_EQ(s.upstream_errors, 0u);
    EXPECT_EQ(nodes[0].counters().requests.load(), 3u);  // drop-next, the dropped one, the retry
    EXPECT_EQ(nodes[0].counters().connections.load(), 2u);
    // Only once: when the fresh connection fails too, the client gets 502 and no third try.
    auto third = c.get(t + "reset");
    ASSERT_TRUE(third);
    EXPECT_EQ(third->result_int(), 502u);
}

// The same over TLS: an https node that drops a pooled connection without close_notify (a plain
// TCP close, as a node's process does when it exits) reads as a truncated stream, which is a
// stale connection as well: retried, not answered 502.
TEST(ProxyFaults, PooledTlsConnectionClosedWithoutCloseNotifyIsRetried) {
    temp_dir dir{"bcp-faults"};
    test_ca ca = test_ca::create();
    auto leaf = ca.issue({"localhost"}, {"127.0.0.1"});
    auto ctx = make_server_context(leaf);
    auto files = write_pem_files(dir.path() / "ca", ca, leaf);
    node_set nodes({"bbb-01"}, &ctx);
    proxy_instance proxy(proxy_yaml(
        nodes, "workers: 1\nupstream:\n  ca_file: \"" + files.ca_cert.string() + "\"\n"));
    ASSERT_TRUE(proxy.ok());
    client c(proxy.port());
    auto first = c.get(t + "drop-next");
    ASSERT_TRUE(first) << c.last_error();
    ASSERT_EQ(first->result_int(), 200u);
    auto second = c.get(t + "bytes?n=5000");
    ASSERT_TRUE(second) << c.last_error();
    EXPECT_EQ(second->result_int(), 200u);
    EXPECT_EQ(second->body().size(), 5000u);
    EXPECT_EQ(proxy.server().counters().upstream_retries, 1u);
    EXPECT_EQ(proxy.server().counters().upstream_errors, 0u);
}

// Regression: the retry used to take the next pooled connection, which the node may have closed
// as well (a node restart leaves all of them dead), and the client got a 502. Two pooled
// connections both close on their next request here: the retry must connect afresh.
TEST(ProxyFaults, RetryAfterAStalePooledConnectionConnectsAfresh) {
    node_set nodes({"bbb-01"});
    proxy_instance proxy(proxy_yaml(nodes, "workers: 1\n"));
    ASSERT_TRUE(proxy.ok());
    {
        // Two at once (the node answers after 300 ms): two node connections, both pooled after.
        client a(proxy.port());
        client b(proxy.port());
        a.send("GET " + t + "drop-next?ms=300 HTTP/1.1\r\nHost: p\r\n\r\n");
        b.send("GET " + t + "drop-next?ms=300 HTTP/1.1\r\nHost: p\r\n\r\n");
        for (client* c : {&a, &b}) {
            auto r = c->read();
            ASSERT_TRUE(r) << c->last_error();
            ASSERT_EQ(r->body(), "drop-next\n");
        }
    }
    ASSERT_EQ(nodes[0].counters().connections.load(), 2u);
    auto r = http_get(proxy.port(), t + "bytes?n=5000");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->result_int(), 200u);
    EXPECT_EQ(r->body().size(), 5000u);
    const auto s = proxy.server().counters();
    EXPECT_EQ(s.upstream_retries, 1u);
    EXPECT_EQ(s.upstream_errors, 0u);
    EXPECT_EQ(nodes[0].counters().connections.load(), 3u) << "the retry opened a new connection";
}

// A simulated node on its own thread that can be stopped and started again on the same port.
class restartable_node {
  public:
    restartable_node() {
        options_.id = "bbb-01";
        options_.test_endpoints = true;
        start();
        const std::string o = node_->origin();
        options_.port = static_cast<std::uint16_t>(std::stoi(o.substr(o.rfind(':') + 1)));
    }
    ~restartable_node() { stop(); }
    std::string origin() const { return "http://127.0.0.1:" + std::to_string(options_.port); }
    /// A proxy configuration with this node as bbb-01, one worker.
    std::string proxy_yaml() const {
        return "public_url: \"https://proxy.example.com\"\nlisten:\n"
               "  - address: \"127.0.0.1:0\"\nnodes:\n  - id: bbb-01\n    url: \"" +
               origin() + "\"\nworkers: 1\n";
    }
    void start() {
        ioc_ = std::make_unique<asio::io_context>(1);
        node_ = std::make_unique<demo::fake_node>(*ioc_, options_);
        node_->start();
        thread_ = std::thread([this] { ioc_->run(); });
    }
    void stop() {
        if (!node_) {
            return;
        }
        node_->stop();
        thread_.join();
        node_.reset();
    }

  private:
    demo::node_options options_;
    std::unique_ptr<asio::io_context> ioc_;
    std::unique_ptr<demo::fake_node> node_;
    std::thread thread_;
};

// A node that restarts (same address, new process) leaves dead connections in the pool: they are
// never lent (or retried away), clients get 502 only while it is down, and the first request
// after the restart succeeds.
TEST(ProxyFaults, NodeRestartOnTheSameAddressIsPickedUp) {
    restartable_node node;
    proxy_instance proxy(node.proxy_yaml());
    ASSERT_TRUE(proxy.ok());
    auto status = [&](client& c) {
        auto r = c.get(t + "bytes?n=10");
        return r ? r->result_int() : 0u;
    };
    client c(proxy.port());
    ASSERT_EQ(status(c), 200u);  // one pooled connection now

    node.stop();
    node.start();
    EXPECT_EQ(status(c), 200u) << "restarted under a pooled connection";

    node.stop();
    EXPECT_EQ(status(c), 502u) << "node down";
    node.start();
    for (int i = 0; i < 3; ++i) {
        client again(proxy.port());
        EXPECT_EQ(status(again), 200u) << i;
    }
}

// The pool watches a connection from the first housekeeping tick (once a second) that finds it
// idle: a node that closes a connection which has sat in the pool that long is seen at once, and
// the connection is never lent (no retry). Closed sooner, it is found out by the request sent on
// it and retried once (the test above, and PooledConnectionClosedByTheNodeIsRetriedOnce).
TEST(ProxyFaults, IdlePooledConnectionClosedByTheNodeLeavesThePoolUnlent) {
    restartable_node node;
    proxy_instance proxy(node.proxy_yaml());
    ASSERT_TRUE(proxy.ok());
    client c(proxy.port());
    auto r = c.get(t + "bytes?n=10");
    ASSERT_TRUE(r) << c.last_error();
    ASSERT_EQ(r->result_int(), 200u);                               // one pooled connection now
    std::this_thread::sleep_for(std::chrono::milliseconds(2'200));  // two ticks: watched
    node.stop();                                                    // closes it
    node.start();
    std::this_thread::sleep_for(std::chrono::milliseconds(300));  // the watch sees the close
    r = c.get(t + "bytes?n=10");
    ASSERT_TRUE(r) << c.last_error();
    EXPECT_EQ(r->result_int(), 200u);
    EXPECT_EQ(proxy.server().counters().upstream_retries, 0u) << "the closed connection was lent";
}

TEST(ProxyFaults, WrongNodeCertificateIs502AndOtherNodesStayUp) {
    temp_dir dir{"bcp-faults"};
    test_ca ca = test_ca::create();
    auto wrong = ca.issue({"other.example.com"});
    auto wrong_ctx = make_server_context(wrong);
    auto right = ca.issue({"localhost"}, {"127.0.0.1"});
    auto right_ctx = make_server_context(right);
    auto files = write_pem_files(dir.path() / "ca", ca, right);
    node_set bad({"bbb-01"}, &wrong_ctx);
    node_set good({"bbb-02"}, &right_ctx);
    std::string yaml =
        proxy_yaml(bad, "  - id: bbb-02\n    url: \"" + good[0].origin() +
                            "\"\nupstream:\n  ca_file: \"" + files.ca_cert.string() + "\"\n");
    proxy_instance proxy(yaml);
    ASSERT_TRUE(proxy.ok());
    auto status_of = [&](const std::string& target) {
        auto r = http_get(proxy.port(), target);
        return r ? r->result_int() : 0u;
    };
    for (int i = 0; i < 3; ++i) {
        EXPECT_EQ(status_of("/bbb-01/html5client/"), 502u) << i;
        EXPECT_EQ(status_of("/bbb-02/html5client/"), 200u) << i;
    }
    EXPECT_EQ(bad.total_requests(), 0u) << "nothing is sent to an unverified node";
}

// The number of fault events of the soak: BCP_FAULT_EVENTS, default 10,000.
int fault_events() {
    const char* v = std::getenv("BCP_FAULT_EVENTS");
    return v != nullptr && std::atoi(v) > 0 ? std::atoi(v) : 10'000;
}

// 10,000 fault events against the real binary; fds and RSS compared after the pools' idle expiry.
TEST(ProxyFaults, TenThousandFaultsLeaveFdsAndRssAtBaseline) {
    const int events = fault_events();
    node_set nodes({"bbb-01"});
    const std::string down =
        "  - id: bbb-down\n    url: \"http://127.0.0.1:" + std::to_string(closed_port()) + "\"\n";
    proxy_process proxy(
        proxy_yaml(nodes, down + "timeouts:\n  upstream_response: 500ms\n  upstream_read: 500ms\n"
                                 "  upstream_idle: 200ms\nworkers: 2\nlog_level: error\n"
                                 "limits:\n  requests_per_second_per_ip: 0\n"),
        {"ASAN_OPTIONS=detect_leaks=1:quarantine_size_mb=8"});
    ASSERT_TRUE(proxy.ok());

    // One event: a fault of the given kind, checked for its answer.
    auto event = [&](int kind) -> ::testing::AssertionResult {
        client c(proxy.port());
        auto expect = [&](const std::string& target, unsigned status) {
            c.send("GET " + target + " HTTP/1.1\r\nHost: p\r\n\r\n");
            auto r = c.read(false, 5s);
            if (!r || r->result_int() != status) {
                return ::testing::AssertionFailure()
                       << target << ": " << (r ? std::to_string(r->result_int()) : c.last_error());
            }
            return ::testing::AssertionSuccess();
        };
        switch (kind) {
            case 0:
                return expect("/bbb-down/html5client/", 502);
            case 1:
                return expect(t + "reset", 502);
            case 2:
                return expect(t + "garbage", 502);
            case 3:
                return expect(t + "big-header", 502);
            case 4: {
                c.send("GET " + t + "reset-body?n=50000 HTTP/1.1\r\nHost: p\r\n\r\n");
                return truncated(c, 50000);
            }
            case 5: {
                if (auto r = expect(t + "drop-next", 200); !r) {
                    return r;
                }
                return expect(t + "bytes?n=3000", 200);  // retried on a fresh connection
            }
            case 6:
                return expect(t + "stall", 504);
            default: {
                c.send("GET " + t + "stall-body?n=4000 HTTP/1.1\r\nHost: p\r\n\r\n");
                return truncated(c, 4000);
            }
        }
    };
    // `n` events: kinds 0-5 in rotation on four threads; meanwhile six more threads run the
    // stalls (kinds 6 and 7, which only wait for the deadline) until those are done. Returns the
    // failures; `total` gets the number of events including the stalls.
    auto run = [&](int n, int& total) {
        std::atomic<int> failures{0}, stalls{0};
        std::atomic<bool> done{false};
        auto check = [&](int kind, int i) {
            if (auto r = event(kind); !r && failures.fetch_add(1) < 5) {
                ADD_FAILURE() << "event " << i << " (kind " << kind << "): " << r.message();
            }
        };
        std::vector<std::thread> pool;
        for (int k = 0; k < 4; ++k) {
            pool.emplace_back([&, k] {
                for (int i = k; i < n; i += 4) {
                    check(i % 6, i);
                }
            });
        }
        std::vector<std::thread> stallers;
        for (int k = 0; k < 6; ++k) {
            stallers.emplace_back([&, k] {
                for (int i = 0; !done; ++i) {
                    check(6 + (k + i) % 2, n + stalls.fetch_add(1));
                }
            });
        }
        for (auto& th : pool) {
            th.join();
        }
        done = true;
        for (auto& th : stallers) {
            th.join();
        }
        total = n + stalls.load();
        return failures.load();
    };
    auto settle = [&] { std::this_thread::sleep_for(2500ms); };  // pooled connections expire

    int total = 0;
    ASSERT_EQ(run(500, total), 0);  // warm-up: allocator arenas, pools, TLS-free code paths
    settle();
    const std::size_t fds0 = proxy.open_fds();
    const std::size_t rss0 = proxy.rss_kib();
    const auto start = std::chrono::steady_clock::now();
    EXPECT_EQ(run(events, total), 0);
    const auto took = std::chrono::duration<double>(std::chrono::steady_clock::now() - start);
    settle();
    std::size_t fds1 = proxy.open_fds();
    EXPECT_TRUE(eventually([&] { return (fds1 = proxy.open_fds()) <= fds0; }, 5s))
        << "fds " << fds0 << " -> " << fds1;
    const std::size_t rss1 = proxy.rss_kib();
    // Tolerance: 8 MiB (allocator caches, ASan's quarantine is capped at 8 MiB above). Over
    // 10,000 events, anything kept per event beyond about 800 bytes exceeds it.
    const std::size_t tolerance = 8 * 1024;
    EXPECT_LE(rss1, rss0 + tolerance) << "RSS " << rss0 << " KiB -> " << rss1 << " KiB";
    std::printf("%d fault events in %.1f s: fds %zu -> %zu, RSS %zu KiB -> %zu KiB\n", total,
                took.count(), fds0, fds1, rss0, rss1);
    auto r = http_get(proxy.port(), t + "bytes?n=100");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->result_int(), 200u);
    proxy.signal(SIGTERM);
    EXPECT_EQ(proxy.wait_exit(10s), 0) << proxy.log();
}

}  // namespace
}  // namespace bcp::test
