// plan_reload: which nodes a reload adds, removes and changes, and which settings it keeps.
#include "proxy/reload.hpp"

#include <gtest/gtest.h>

namespace bcp::proxy {
namespace {

config::proxy_config load(const std::string& nodes, const std::string& extra = {}) {
    auto r = config::load_string(
        "public_url: https://proxy.example.com\n"
        "listen:\n  - address: 127.0.0.1:8080\n"
        "nodes:\n" +
            nodes + extra,
        "<test>", ".", false);
    EXPECT_TRUE(r.ok()) << (r.diagnostics.empty() ? "" : r.diagnostics[0].to_string());
    return r.ok() ? *r.config : config::proxy_config{};
}

using ids = std::vector<std::string>;

TEST(ReloadPlan, AddedRemovedAndChangedNodes) {
    const auto before = load(
        "  - {id: a, url: http://a.example}\n"
        "  - {id: b, url: http://b.example}\n"
        "  - {id: c, url: http://c.example}\n"
        "  - {id: d, url: http://d.example}\n");
    const auto after = load(
        "  - {id: e, url: http://e.example}\n"
        "  - {id: a, url: http://a.example}\n"
        "  - {id: b, url: http://b2.example}\n"
        "  - {id: c, url: http://c.example, mounts: [html5client, x]}\n");
    const auto plan = plan_reload(before, after);
    EXPECT_EQ(plan.added, ids{"e"});
    EXPECT_EQ(plan.removed, ids{"d"});
    EXPECT_EQ(plan.changed, (ids{"b", "c"}));
    EXPECT_TRUE(plan.restart_only.empty());
    EXPECT_EQ(plan.effective.nodes.size(), 4u);
}

TEST(ReloadPlan, HealthSettingsCountAsAChange) {
    const auto before = load("  - {id: a, url: http://a.example}\n");
    const auto after = load("  - {id: a, url: http://a.example, health: {interval: 1s}}\n");
    EXPECT_EQ(plan_reload(before, after).changed, ids{"a"});
    EXPECT_TRUE(plan_reload(after, after).changed.empty());
}

TEST(ReloadPlan, RestartOnlySettingsKeepTheirRunningValue) {
    const std::string nodes = "  - {id: a, url: http://a.example}\n";
    const auto before = load(nodes, "workers: 2\n");
    auto after = load(nodes,
                      "workers: 4\nupstream: {max_idle_per_node: 3, verify: false}\n"
                      "timeouts: {upstream_idle: 5s, client_idle: 3s}\n"
                      "limits: {max_connections: 10, max_connections_per_ip: 7}\n"
                      "admin: {address: 127.0.0.1:9091}\naccess_log: {format: json}\n");
    after.listen[0].address = "127.0.0.1:9090";
    const auto plan = plan_reload(before, after);
    ASSERT_EQ(plan.restart_only.size(), 8u);
    EXPECT_EQ(plan.restart_only[0],
              "listen: changed from [127.0.0.1:8080] to [127.0.0.1:9090]; this needs a restart, "
              "keeping [127.0.0.1:8080]");
    EXPECT_EQ(plan.restart_only[1],
              "workers: changed from 2 to 4; this needs a restart, keeping 2");
    EXPECT_EQ(plan.effective.workers, 2u);
    EXPECT_EQ(plan.effective.listen[0].address, "127.0.0.1:8080");
    EXPECT_TRUE(plan.effective.upstream.verify);
    EXPECT_EQ(plan.effective.upstream.max_idle_per_node, 256u);
    EXPECT_EQ(plan.effective.timeout.upstream_idle, std::chrono::seconds(30));
    EXPECT_EQ(plan.restart_only[5],
              "limits.max_connections_per_ip: changed from 1000 to 7; this needs a restart, "
              "keeping 1000");
    EXPECT_EQ(plan.effective.limit.max_connections_per_ip, 1000u);
    EXPECT_EQ(plan.restart_only[6],
              "admin: changed from none to {address: 127.0.0.1:9091, token_file: ''}; this needs a "
              "restart, keeping none");
    EXPECT_FALSE(plan.effective.admin.has_value());
    EXPECT_EQ(plan.restart_only[7],
              "access_log: changed from none to {format: json, path: stderr}; this needs a "
              "restart, keeping none");
    EXPECT_FALSE(plan.effective.access_log.has_value());
    // Everything else applies.
    EXPECT_EQ(plan.effective.timeout.client_idle, std::chrono::seconds(3));
    EXPECT_EQ(plan.effective.limit.max_connections, 10u);
}

TEST(ReloadPlan, CacheSettingsNeedARestart) {
    const std::string nodes = "  - {id: a, url: http://a.example}\n";
    const auto before = load(nodes, "cache: {enabled: true}\n");
    EXPECT_TRUE(plan_reload(before, load(nodes, "cache: {enabled: true}\n")).restart_only.empty());
    const auto plan = plan_reload(before, load(nodes, "cache: {enabled: true, compress: false}\n"));
    ASSERT_EQ(plan.restart_only.size(), 1u);
    EXPECT_TRUE(plan.restart_only[0].starts_with("cache: changed from {max_size: "))
        << plan.restart_only[0];
    EXPECT_NE(plan.restart_only[0].find("compress: false"), std::string::npos);
    EXPECT_TRUE(plan.effective.cache.compress);
    const auto off = plan_reload(before, load(nodes));
    ASSERT_EQ(off.restart_only.size(), 1u);
    EXPECT_NE(off.restart_only[0].find("to {enabled: false}"), std::string::npos);
    EXPECT_TRUE(off.effective.cache.enabled);
    // The dictionary settings too (the store and compressor are made with them).
    const auto dict =
        plan_reload(before, load(nodes, "cache: {enabled: true, max_deltas_per_asset: 2}\n"));
    ASSERT_EQ(dict.restart_only.size(), 1u);
    EXPECT_NE(dict.restart_only[0].find("max_deltas_per_asset: 2,"), std::string::npos);
    EXPECT_EQ(dict.effective.cache.max_deltas_per_asset, 4u);
}

TEST(ReloadPlan, NewCertificatePathsOnTheSameListenerApply) {
    const std::string nodes = "  - {id: a, url: http://a.example}\n";
    auto before = load(nodes);
    auto after = load(nodes);
    before.listen[0].tls = config::tls_files{"/old/cert.pem", "/old/key.pem"};
    after.listen[0].tls = config::tls_files{"/new/cert.pem", "/new/key.pem"};
    const auto plan = plan_reload(before, after);
    EXPECT_TRUE(plan.restart_only.empty());
    EXPECT_EQ(plan.effective.listen[0].tls->certificate, "/new/cert.pem");
    // Turning TLS off on a socket needs a restart.
    after.listen[0].tls.reset();
    const auto off = plan_reload(before, after);
    ASSERT_EQ(off.restart_only.size(), 1u);
    EXPECT_TRUE(off.effective.listen[0].tls.has_value());
}

}  // namespace
}  // namespace bcp::proxy
