// The `limits:` section against the real server: per-IP connection cap and request rate (429 +
// Retry-After), graceful refusal at the global cap, and every refusal counted by reason. Clients
// bind distinct loopback addresses (127.0.0.x) so an abuser's limits never touch the others.
#include "harness.hpp"

#include <gtest/gtest.h>

namespace bcp::test {
namespace {

using observe::refusal;

const std::string ok_path = "/bbb-01/html5client/_test/bytes?n=1";

TEST(ProxyLimitsPerIp, ConnectionCapAnswers429AndSparesOtherAddresses) {
    node_set nodes({"bbb-01"});
    proxy_instance proxy(proxy_yaml(nodes, "limits:\n  max_connections_per_ip: 3\n"));
    ASSERT_TRUE(proxy.ok());
    std::vector<std::unique_ptr<client>> held;
    for (int i = 0; i < 3; ++i) {
        held.push_back(std::make_unique<client>(proxy.port(), nullptr, "localhost", "127.0.0.5"));
        auto r = held.back()->get(ok_path);
        ASSERT_TRUE(r) << held.back()->last_error();
        EXPECT_EQ(r->result_int(), 200u);
    }
    // The fourth sends its request at once: the refusal must still be readable (no reset).
    for (int attempt = 0; attempt < 5; ++attempt) {
        client over(proxy.port(), nullptr, "localhost", "127.0.0.5");
        auto r = over.get(ok_path);
        ASSERT_TRUE(r) << over.last_error();
        EXPECT_EQ(r->result_int(), 429u);
        EXPECT_EQ((*r)["Retry-After"], "1");
        EXPECT_NE(r->body().find("Too many requests"), std::string::npos);
        EXPECT_TRUE(over.closed_within(2s));
    }
    client other(proxy.port(), nullptr, "localhost", "127.0.0.6");
    auto r = other.get(ok_path);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->result_int(), 200u) << "another address is not affected";

    held.pop_back();  // one closes: its slot is free again
    // Until the proxy has seen that close, a new connection is still over the cap: count those
    // refusals too (under load the first try can come before the close is handled).
    std::uint64_t refused_while_closing = 0;
    EXPECT_TRUE(eventually([&] {
        client again(proxy.port(), nullptr, "localhost", "127.0.0.5");
        auto a = again.get(ok_path);
        if (a && a->result_int() == 429u) {
            ++refused_while_closing;
        }
        return a && a->result_int() == 200u;
    }));
    const auto t = proxy.server().counters();
    EXPECT_EQ(t.refused(refusal::ip_connection_cap), 5u + refused_while_closing);
    EXPECT_EQ(nodes.total_requests(), 5u) << "refused connections never reach a node";
}

TEST(ProxyLimitsPerIp, RequestRateAnswers429WithRetryAfter) {
    node_set nodes({"bbb-01"});
    proxy_instance proxy(proxy_yaml(
        nodes, "limits:\n  requests_per_second_per_ip: 2\n  request_burst_per_ip: 10\n"));
    ASSERT_TRUE(proxy.ok());
    client c(proxy.port(), nullptr, "localhost", "127.0.0.7");
    for (int i = 0; i < 10; ++i) {
        auto r = c.get(ok_path);
        ASSERT_TRUE(r) << i << ": " << c.last_error();
        ASSERT_EQ(r->result_int(), 200u) << i;
    }
    auto r = c.get(ok_path);
    ASSERT_TRUE(r) << c.last_error();
    EXPECT_EQ(r->result_int(), 429u);
    EXPECT_EQ((*r)["Retry-After"], "1");  // 2/s: the next token is 0.5 s away, rounded up
    EXPECT_EQ((*r)[boost::beast::http::field::cache_control], "no-store");
    EXPECT_TRUE(c.closed_within(2s)) << "a flooding connection is closed";
    EXPECT_EQ(nodes.total_requests(), 10u);

    // Another address has its own bucket; the flooder's refills at the configured rate.
    auto other = http_get(proxy.port(), ok_path);
    ASSERT_TRUE(other);
    EXPECT_EQ(other->result_int(), 200u);
    std::this_thread::sleep_for(1100ms);
    client later(proxy.port(), nullptr, "localhost", "127.0.0.7");
    auto again = later.get(ok_path);
    ASSERT_TRUE(again);
    EXPECT_EQ(again->result_int(), 200u);
    EXPECT_EQ(proxy.server().counters().refused(refusal::ip_rate), 1u);
}

TEST(ProxyLimitsPerIp, RefusedRequestsCostTokensToo) {
    node_set nodes({"bbb-01"});
    proxy_instance proxy(
        proxy_yaml(nodes, "limits:\n  requests_per_second_per_ip: 1\n  request_burst_per_ip: 3\n"));
    ASSERT_TRUE(proxy.ok());
    for (int i = 0; i < 3; ++i) {
        client c(proxy.port(), nullptr, "localhost", "127.0.0.9");
        auto r = c.get("/bbb-01/html5client/%2e%2e/");
        ASSERT_TRUE(r);
        EXPECT_EQ(r->result_int(), 400u);
    }
    client c(proxy.port(), nullptr, "localhost", "127.0.0.9");
    auto r = c.get(ok_path);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->result_int(), 429u);
    EXPECT_EQ(nodes.total_requests(), 0u);
}

TEST(ProxyLimitsPerIp, ZeroTurnsThePerIpLimitsOff) {
    node_set nodes({"bbb-01"});
    proxy_instance proxy(
        proxy_yaml(nodes,
                   "limits:\n  max_connections_per_ip: 0\n  requests_per_second_per_ip: 0\n"
                   "  request_burst_per_ip: 1\n"));
    ASSERT_TRUE(proxy.ok());
    std::vector<std::unique_ptr<client>> many;
    for (int i = 0; i < 20; ++i) {
        many.push_back(std::make_unique<client>(proxy.port()));
        for (int k = 0; k < 5; ++k) {
            auto r = many.back()->get(ok_path);
            ASSERT_TRUE(r);
            ASSERT_EQ(r->result_int(), 200u);
        }
    }
    EXPECT_EQ(nodes.total_requests(), 100u);
}

// At the global cap a plain-HTTP client that already sent its request still reads the 503: the
// proxy shuts its write side and drains instead of closing into a reset.
TEST(ProxyLimitsGlobal, ConnectionCapRefusalIsGraceful) {
    node_set nodes({"bbb-01"});
    proxy_instance proxy(proxy_yaml(nodes, "limits:\n  max_connections: 2\n"));
    ASSERT_TRUE(proxy.ok());
    client a(proxy.port());
    client b(proxy.port());
    ASSERT_TRUE(a.get(ok_path));
    ASSERT_TRUE(b.get(ok_path));
    for (int i = 0; i < 20; ++i) {
        client c(proxy.port(), nullptr, "localhost", "127.0.0.10");
        c.send("GET " + ok_path + " HTTP/1.1\r\nHost: p\r\nX-Pad: " + std::string(2000, 'p') +
               "\r\n\r\n");
        auto r = c.read(false, 3s);
        ASSERT_TRUE(r) << i << ": " << c.last_error();
        EXPECT_EQ(r->result_int(), 503u);
        EXPECT_TRUE(c.closed_within(3s));
    }
    const auto t = proxy.server().counters();
    EXPECT_EQ(t.connections_refused, 20u);
    EXPECT_EQ(t.refused(refusal::connection_cap), 20u);
    EXPECT_EQ(nodes.total_requests(), 2u);
    auto r = a.get(ok_path);  // the served connections are unaffected
    ASSERT_TRUE(r);
    EXPECT_EQ(r->result_int(), 200u);
}

TEST(ProxyLimitsCounters, DeadlinesAreCountedByReason) {
    node_set nodes({"bbb-01"});
    proxy_instance proxy(
        proxy_yaml(nodes, "timeouts:\n  client_head: 200ms\n  client_idle: 200ms\n"));
    ASSERT_TRUE(proxy.ok());
    client slow(proxy.port());
    slow.send("GET /bbb-01/html5client/ HTTP/1.1\r\n");
    client idle(proxy.port());
    ASSERT_TRUE(idle.get(ok_path));
    client silent(proxy.port());
    EXPECT_TRUE(slow.closed_within(3s));
    EXPECT_TRUE(idle.closed_within(3s));
    EXPECT_TRUE(silent.closed_within(3s));
    ASSERT_TRUE(eventually([&] {
        const auto t = proxy.server().counters();
        return t.refused(refusal::head_timeout) == 2 && t.refused(refusal::idle_timeout) == 1;
    })) << "head "
        << proxy.server().counters().refused(refusal::head_timeout) << ", idle "
        << proxy.server().counters().refused(refusal::idle_timeout);
}

TEST(ProxyLimitsConfig, KeysAreValidatedWithTheirPlace) {
    auto ok = config::load_string(
        "public_url: https://p.example.com\nlisten: [{address: \"127.0.0.1:0\"}]\n"
        "nodes: [{id: bbb-01, url: \"http://127.0.0.1:1\"}]\n"
        "limits:\n  max_connections_per_ip: 0\n  requests_per_second_per_ip: 50\n"
        "  request_burst_per_ip: 100\n",
        "<t>");
    ASSERT_TRUE(ok.ok());
    EXPECT_EQ(ok.config->limit.max_connections_per_ip, 0u);
    EXPECT_EQ(ok.config->limit.requests_per_second_per_ip, 50u);
    EXPECT_EQ(ok.config->limit.request_burst_per_ip, 100u);
    auto bad = config::load_string(
        "public_url: https://p.example.com\nlisten: [{address: \"127.0.0.1:0\"}]\n"
        "nodes: [{id: bbb-01, url: \"http://127.0.0.1:1\"}]\n"
        "limits:\n  request_burst_per_ip: 0\n  requests_per_secnd_per_ip: 5\n",
        "<t>");
    ASSERT_FALSE(bad.ok());
    ASSERT_EQ(bad.diagnostics.size(), 2u);
    EXPECT_EQ(bad.diagnostics[0].to_string().rfind("<t>:5:", 0), 0u)
        << bad.diagnostics[0].to_string();
    EXPECT_NE(bad.diagnostics[0].to_string().find("limits.request_burst_per_ip"), std::string::npos)
        << bad.diagnostics[0].to_string();
    EXPECT_NE(bad.diagnostics[1].to_string().find("did you mean 'requests_per_second_per_ip'"),
              std::string::npos)
        << bad.diagnostics[1].to_string();
    config::limits defaults;
    EXPECT_EQ(defaults.max_connections_per_ip, 1000u);
    EXPECT_EQ(defaults.requests_per_second_per_ip, 200u);
    EXPECT_EQ(defaults.request_burst_per_ip, 2000u);
}

}  // namespace
}  // namespace bcp::test
