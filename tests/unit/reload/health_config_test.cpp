// The health and pid_file keys of the configuration.
#include "config/config.hpp"

#include <gtest/gtest.h>

namespace bcp::config {
namespace {

using namespace std::chrono_literals;

load_result load(const std::string& extra, const std::string& node_extra = {}) {
    return load_string(
        "public_url: https://proxy.example.com\n"
        "listen:\n  - address: 127.0.0.1:8080\n"
        "nodes:\n  - id: a\n    url: http://a.example\n" +
            node_extra + "  - id: b\n    url: http://b.example\n" + extra,
        "proxy.yaml", ".", false);
}

TEST(HealthConfig, OffWithoutASection) {
    auto r = load("");
    ASSERT_TRUE(r.ok());
    EXPECT_FALSE(r.config->nodes[0].health.enabled);
    EXPECT_TRUE(r.config->pid_file.empty());
}

TEST(HealthConfig, TopLevelWithPerNodeOverrides) {
    auto r = load(
        "health:\n  interval: 2s\n  timeout: 500ms\n  path: /status\n"
        "  healthy_threshold: 1\n  unhealthy_threshold: 4\n  passive: false\n"
        "  retry_after: 30s\npid_file: /run/bcp.pid\n",
        "    health: {interval: 0s, path: /a/html5client/}\n");
    ASSERT_TRUE(r.ok()) << r.diagnostics[0].to_string();
    const auto& a = r.config->nodes[0].health;
    const auto& b = r.config->nodes[1].health;
    EXPECT_TRUE(a.enabled && b.enabled);
    EXPECT_EQ(a.interval, 0ms);
    EXPECT_EQ(a.path, "/a/html5client/");
    EXPECT_EQ(a.timeout, 500ms);  // inherited
    EXPECT_EQ(b.interval, 2s);
    EXPECT_EQ(b.path, "/status");
    EXPECT_EQ(b.healthy_threshold, 1u);
    EXPECT_EQ(b.unhealthy_threshold, 4u);
    EXPECT_FALSE(b.passive);
    EXPECT_EQ(b.retry_after, 30s);
    EXPECT_EQ(r.config->pid_file, "/run/bcp.pid");
}

TEST(HealthConfig, PerNodeSectionAloneEnablesThatNode) {
    auto r = load("", "    health: {}\n");
    ASSERT_TRUE(r.ok());
    EXPECT_TRUE(r.config->nodes[0].health.enabled);
    EXPECT_EQ(r.config->nodes[0].health.interval, 5s);
    EXPECT_FALSE(r.config->nodes[1].health.enabled);
}

TEST(HealthConfig, BadValuesNameTheirPlace) {
    auto r = load(
        "health:\n  timeout: 0s\n  path: status\n  unhealthy_threshold: 0\n"
        "  intervall: 1s\npid_file: run/bcp.pid\n");
    ASSERT_FALSE(r.ok());
    std::string all;
    for (const auto& d : r.diagnostics) {
        all += d.to_string() + "\n";
    }
    EXPECT_NE(all.find("proxy.yaml:10:12: health.timeout:"), std::string::npos) << all;
    EXPECT_NE(all.find("proxy.yaml:11:9: health.path: 'status' is not a request path"),
              std::string::npos)
        << all;
    EXPECT_NE(all.find("proxy.yaml:12:24: health.unhealthy_threshold:"), std::string::npos) << all;
    EXPECT_NE(all.find("proxy.yaml:13:3: health.intervall:"), std::string::npos) << all;
    EXPECT_NE(all.find("proxy.yaml:14:11: pid_file: 'run/bcp.pid' is not an absolute path"),
              std::string::npos)
        << all;
}

}  // namespace
}  // namespace bcp::config
