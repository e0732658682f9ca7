// The real binary following Scalelite's server API (discovery.scalelite.api_url, issue 17): a fake
// Scalelite answers getServers as its Api::ServersController does, checks the checksum as its
// ApiHelper does (the digest of "getServers" + LOADBALANCER_SECRET; the expected value here is
// coreutils' sha256sum of that text, not our code's), and lists simulated nodes.
#include "child.hpp"
#include "discovery/api_source.hpp"
#include "discovery/poller.hpp"
#include "harness.hpp"
#include "proxy_process.hpp"
#include "raw_node.hpp"
#include "support/test_ca.hpp"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <mutex>
#include <string>
#include <thread>

namespace bcp::test {
namespace {

// sha256sum of "getServerss3cret".
constexpr const char* good_target =
    "/scalelite/api/getServers?checksum="
    "f2313c34f982507b01e1a7c9cba7c168df056676ec257bf3ad3f85105fcb1461";

class fake_scalelite {
  public:
    fake_scalelite()
        : server_(
              [this](const std::string& target, const std::string&) { return answer(target); }) {}

    std::uint16_t port() const { return server_.port(); }
    std::string api_url() const {
        return "http://127.0.0.1:" + std::to_string(port()) + "/scalelite/api";
    }
    /// Registers a server as Scalelite's getServers shows it.
    void add(const std::string& id, std::uint16_t node_port, const std::string& state = "enabled") {
        std::lock_guard lock(mutex_);
        servers_[id] = {
            {"id", id},
            {"url", "http://127.0.0.1:" + std::to_string(node_port) + "/bigbluebutton/api"},
            {"secret", "x"},
            {"tag", ""},
            {"bbb_version", "3.0.4"},
            {"state", state},
            {"load", "unavailable"},
            {"load_multiplier", 1.0},
            {"online", "online"}};
    }
    void remove(const std::string& id) {
        std::lock_guard lock(mutex_);
        servers_.erase(id);
    }
    void add_raw(const std::string& id, nlohmann::json record) {
        std::lock_guard lock(mutex_);
        servers_[id] = std::move(record);
    }
    /// Answer 503 to everything (Scalelite down behind its nginx).
    void fail(bool on) {
        std::lock_guard lock(mutex_);
        failing_ = on;
    }
    std::size_t calls() const { return server_.requests_for(good_target); }

  private:
    static reply http(int status, const std::string& type, const std::string& body) {
        return {"HTTP/1.1 " + std::to_string(status) + " X\r\nContent-Type: " + type +
                    "\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body,
                false};
    }
    reply answer(const std::string& target) {
        std::lock_guard lock(mutex_);
        if (failing_) {
            return http(503, "text/html", "<html>503 Service Temporarily Unavailable</html>");
        }
        if (target.rfind("/scalelite/api/getServers?", 0) != 0) {
            return http(404, "text/html", "not found");
        }
        if (target != good_target) {
            return http(200, "application/xml",
                        "<?xml version=\"1.0\"?>\n<response><returncode>FAILED</returncode>"
                        "<messageKey>checksumError</messageKey><message>Checksums do not "
                        "match</message></response>");
        }
        if (servers_.empty()) {
            return http(404, "application/json", R"({"error":"No servers are configured"})");
        }
        auto list = nlohmann::json::array();
        for (const auto& [id, s] : servers_) {
            list.push_back(s);
        }
        return http(200, "application/json", list.dump());
    }

    mutable std::mutex mutex_;
    std::map<std::string, nlohmann::json> servers_;
    bool failing_ = false;
    raw_node server_;
};

struct api_setup {
    node_set nodes{{"bbb-01", "bbb-02"}};
    temp_dir dir{"bcp-scalelite-api"};
    fake_scalelite scalelite;

    std::string yaml(const std::string& secret = "s3cret") {
        return "public_url: \"https://proxy.example.com\"\nlisten:\n  - address: \"127.0.0.1:0\"\n"
               "admin: {address: \"127.0.0.1:0\"}\n"
               "discovery:\n  scalelite:\n    api_url: \"" +
               scalelite.api_url() + "\"\n    api_secret: \"" + secret +
               "\"\n    interval: 200ms\n    removal_grace: 1s\n    snapshot: \"" +
               (dir.path() / "scalelite-nodes.json").string() + "\"\n";
    }
};

int status_of(std::uint16_t port, const std::string& node) {
    const auto r = http_get(port, "/" + node + "/html5client/");
    return r ? r->result_int() : -1;
}

nlohmann::json discovery_of(std::uint16_t admin_port) {
    const auto r = http_get(admin_port, "/status.json");
    if (!r) {
        return nullptr;
    }
    const auto j = nlohmann::json::parse(r->body(), nullptr, false);
    return j.is_object() && j.contains("discovery") ? j["discovery"] : nlohmann::json();
}

TEST(ScaleliteApiDiscovery, TheProxyFollowsTheServerApi) {
    api_setup s;
    s.scalelite.add("bbb-01", s.nodes[0].port());
    s.scalelite.add_raw("broken", {{"id", "broken"}, {"url", 42}});
    proxy_process p(s.yaml());
    ASSERT_TRUE(p.ok()) << p.log();
    EXPECT_TRUE(eventually([&] { return status_of(p.port(), "bbb-01") == 200; }, 5s)) << p.log();
    EXPECT_EQ(status_of(p.port(), "bbb-02"), 404);
    auto d = discovery_of(p.admin_port());
    EXPECT_EQ(d["via"], "api") << d.dump();
    EXPECT_EQ(d["where"], s.scalelite.api_url());
    EXPECT_EQ(d["up"], true);
    EXPECT_EQ(d["skipped"], 1);
    EXPECT_NE(p.log().find("Scalelite server broken is not served: url is not a string"),
              std::string::npos)
        << p.log();

    // Added, cordoned: served within an interval or two.
    s.scalelite.add("bbb-02", s.nodes[1].port(), "cordoned");
    EXPECT_TRUE(eventually([&] { return status_of(p.port(), "bbb-02") == 200; }, 3s));
    // Removed: routed for the grace (1 s), then gone.
    s.scalelite.remove("bbb-01");
    std::this_thread::sleep_for(400ms);
    EXPECT_EQ(status_of(p.port(), "bbb-01"), 200);
    EXPECT_TRUE(eventually([&] { return status_of(p.port(), "bbb-01") == 404; }, 3s));

    // Scalelite down: the table stays, the state says so.
    s.scalelite.fail(true);
    EXPECT_TRUE(eventually([&] { return discovery_of(p.admin_port())["up"] == false; }, 3s));
    d = discovery_of(p.admin_port());
    EXPECT_NE(d["last_error"].get<std::string>().find("answered HTTP 503"), std::string::npos)
        << d.dump();
    std::this_thread::sleep_for(500ms);
    EXPECT_EQ(status_of(p.port(), "bbb-02"), 200);
    s.scalelite.fail(false);
    EXPECT_TRUE(eventually([&] { return discovery_of(p.admin_port())["up"] == true; }, 3s));

    // An empty registry (Scalelite's 404 "No servers are configured") is believed on the second
    // read, and then the grace applies.
    s.scalelite.remove("bbb-02");
    s.scalelite.remove("broken");
    std::this_thread::sleep_for(600ms);
    EXPECT_EQ(status_of(p.port(), "bbb-02"), 200);
    EXPECT_TRUE(eventually([&] { return status_of(p.port(), "bbb-02") == 404; }, 4s));
    EXPECT_EQ(discovery_of(p.admin_port())["nodes"], 0);
}

TEST(ScaleliteApiDiscovery, AWrongSecretIsClearAndTheSnapshotServesAtStart) {
    api_setup s;
    s.scalelite.add("bbb-01", s.nodes[0].port());
    {
        proxy_process p(s.yaml());
        ASSERT_TRUE(p.ok()) << p.log();
        ASSERT_TRUE(eventually([&] { return status_of(p.port(), "bbb-01") == 200; }, 5s));
    }
    // Restarted with a wrong secret: Scalelite refuses every call, the snapshot serves.
    proxy_process p(s.yaml("not-the-secret"));
    ASSERT_TRUE(p.ok()) << p.log();
    EXPECT_EQ(status_of(p.port(), "bbb-01"), 200) << p.log();
    EXPECT_TRUE(eventually(
        [&] { return p.log().find("Scalelite refused the checksum") != std::string::npos; }, 3s))
        << p.log();
    EXPECT_EQ(p.log().find("not-the-secret"), std::string::npos) << p.log();
    const auto d = discovery_of(p.admin_port());
    EXPECT_EQ(d["up"], false) << d.dump();
    EXPECT_EQ(d["from_snapshot"], true);
    EXPECT_EQ(status_of(p.port(), "bbb-01"), 200);
}

TEST(ScaleliteApiDiscovery, DiscoveryTestReadsTheApiOnce) {
    api_setup s;
    s.scalelite.add("bbb-01", s.nodes[0].port(), "disabled");
    s.scalelite.add_raw("odd", {{"id", "odd"}, {"url", "https://x.example.com/"}});
    const auto cfg = (s.dir.path() / "proxy.yaml").string();
    {
        std::ofstream out(cfg);
        out << s.yaml();
    }
    auto r = run_child({BCP_BINARY, "discovery", "test", "--config", cfg}, s.dir.path());
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_NE(r.out.find("Scalelite's server API at " + s.scalelite.api_url()), std::string::npos)
        << r.out;
    EXPECT_NE(r.out.find("1 node(s) served, 1 record(s) skipped"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("server bbb-01 (disabled, online)"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("skipped server odd: url 'https://x.example.com/' does not end in"),
              std::string::npos)
        << r.out;
    EXPECT_EQ(r.out.find("s3cret"), std::string::npos) << r.out;
    EXPECT_EQ(s.scalelite.calls(), 1u);
    EXPECT_FALSE(std::filesystem::exists(s.dir.path() / "scalelite-nodes.json"));

    // `check` validates the section without reading the source, and says where nodes come from.
    r = run_child({BCP_BINARY, "check", "--config", cfg}, s.dir.path());
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_NE(r.out.find("OK (0 node(s), 1 listener(s), more nodes from Scalelite's server API "
                         "at " +
                         s.scalelite.api_url()),
              std::string::npos)
        << r.out;
    EXPECT_EQ(s.scalelite.calls(), 1u);

    s.scalelite.fail(true);
    r = run_child({BCP_BINARY, "discovery", "test", "--config", cfg}, s.dir.path());
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_NE(r.out.find("cannot read it: " + s.scalelite.api_url() + ": answered HTTP 503"),
              std::string::npos)
        << r.out;
}

// A Scalelite that accepts and never answers: stopping the poller (reload, shutdown) ends the
// call at once instead of waiting out its read deadline.
TEST(ScaleliteApiDiscovery, StoppingThePollerEndsACallInFlight) {
    raw_node silent([](const std::string&, const std::string&) {
        std::this_thread::sleep_for(3s);  // holds the poll until long after stop()
        return reply{"HTTP/1.1 503 X\r\nContent-Length: 0\r\n\r\n"};
    });
    discovery::poller_options o;
    auto parsed = config::parse_scalelite_api_url(
        "http://127.0.0.1:" + std::to_string(silent.port()) + "/scalelite/api");
    ASSERT_TRUE(parsed.value) << parsed.message;
    o.source.api = *parsed.value;
    o.source.api->secret = "s3cret";
    o.source.snapshot = "";
    o.connection.read_timeout = 10s;
    discovery::scalelite_poller poller(o, {});
    poller.start();
    ASSERT_TRUE(eventually([&] { return silent.requests_for(good_target) == 1; }, 3s));
    const auto start = std::chrono::steady_clock::now();
    poller.stop();
    EXPECT_LT(std::chrono::steady_clock::now() - start, 500ms);
}

// https:// is verified like nodes. A TLS simulated node stands in for Scalelite's nginx: it is no
// Scalelite, so a verified call gets its 404 page (an HTTP answer: the TLS leg worked); with
// another CA the handshake is refused and said so.
TEST(ScaleliteApiDiscovery, HttpsIsVerifiedLikeNodes) {
    temp_dir dir("bcp-api-tls");
    const auto ca = test_ca::create();
    const auto leaf = ca.issue({"localhost"}, {"127.0.0.1"});
    auto server_ctx = make_server_context(leaf);
    node_set tls_nodes({"lb"}, &server_ctx);
    auto trusted = make_client_context(ca);
    const auto other = test_ca::create();
    auto untrusted = make_client_context(other);
    auto parsed = config::parse_scalelite_api_url(
        "https://localhost:" + std::to_string(tls_nodes[0].port()) + "/scalelite/api");
    ASSERT_TRUE(parsed.value) << parsed.message;
    auto api = *parsed.value;
    api.secret = "s3cret";
    const auto call = [&](boost::asio::ssl::context& ctx) {
        discovery::source_options o;
        o.tls = &ctx;
        discovery::source_error error;
        boost::asio::io_context io;
        boost::asio::co_spawn(
            io, [&]() -> awaitable<void> { co_await discovery::read_api(api, o, {}, error); },
            boost::asio::detached);
        io.run();
        return error;
    };
    auto error = call(trusted);
    EXPECT_EQ(error.what, discovery::source_error::kind::reply) << error.message;
    EXPECT_NE(error.message.find("answered HTTP 404"), std::string::npos) << error.message;
    error = call(untrusted);
    EXPECT_EQ(error.what, discovery::source_error::kind::connect) << error.message;
    EXPECT_NE(error.message.find("TLS handshake failed"), std::string::npos) << error.message;
}

}  // namespace
}  // namespace bcp::test
