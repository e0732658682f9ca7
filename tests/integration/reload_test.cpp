// Reload, node health and certificate re-reading, run against the real binary as operators run
// it: `serve` with a pid file, SIGHUP through `bbb-cluster-proxy reload`, nodes that stop and
// come back, certificates swapped under load.
#include "child.hpp"
#include "harness.hpp"
#include "support/test_ca.hpp"

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <boost/asio/connect.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/beast/websocket.hpp>
#include <nlohmann/json.hpp>

#include <sys/wait.h>
#include <unistd.h>
#include <atomic>
#include <csignal>
#include <fstream>

namespace bcp::test {
namespace {

namespace fs = std::filesystem;
namespace asio = boost::asio;

std::string slurp(const fs::path& p) {
    std::ifstream in(p);
    return {std::istreambuf_iterator<char>(in), {}};
}

// Written whole and renamed into place, as provisioning tools and certbot do.
void put_file(const fs::path& p, const std::string& text) {
    const auto tmp = p.string() + ".tmp";
    std::ofstream(tmp) << text;
    fs::rename(tmp, p);
}

pid_t spawn(const std::vector<std::string>& args, const fs::path& out, const fs::path& err) {
    std::vector<std::string> all{BCP_BINARY};
    all.insert(all.end(), args.begin(), args.end());
    return spawn_child(all, out, err);
}

// `bbb-cluster-proxy serve` in the background, stopped with SIGTERM at the end of the test.
class daemon {
  public:
    daemon(const fs::path& dir, const fs::path& config) : dir_(dir) {
        pid_ = spawn({"serve", "--config", config.string(), "--ready-file", ready().string(),
                      "--pid-file", pid_file().string()},
                     dir / "serve.out", dir / "serve.err");
        if (pid_ <= 0 || !eventually([&] { return fs::exists(ready()); }, 30s)) {
            ADD_FAILURE() << "serve did not start:\n" << log();
            return;
        }
        const auto j = nlohmann::json::parse(slurp(ready()));
        for (const auto& addr : j["listen"]) {
            const auto text = addr.get<std::string>();
            ports_.push_back(
                static_cast<std::uint16_t>(std::stoi(text.substr(text.rfind(':') + 1))));
        }
    }
    ~daemon() {
        if (pid_ > 0) {
            ::kill(pid_, SIGTERM);
            int status = 0;
            waitpid(pid_, &status, 0);
            EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << log();
            EXPECT_FALSE(fs::exists(pid_file())) << "the pid file is removed on exit";
        }
    }
    bool ok() const { return !ports_.empty(); }
    std::uint16_t port(std::size_t i = 0) const { return ports_.at(i); }
    fs::path pid_file() const { return dir_ / "proxy.pid"; }
    fs::path ready() const { return dir_ / "ready.json"; }
    std::string log() const { return slurp(dir_ / "serve.err"); }

    child_result reload(const std::vector<std::string>& args = {}) const {
        std::vector<std::string> a{BCP_BINARY, "reload"};
        if (args.empty()) {
            a.insert(a.end(), {"--pid-file", pid_file().string()});
        }
        a.insert(a.end(), args.begin(), args.end());
        return run_child(a, dir_);
    }

  private:
    fs::path dir_;
    pid_t pid_ = -1;
    std::vector<std::uint16_t> ports_;
};

struct node_ref {
    std::string id;
    std::string url;
    std::string extra;  // more keys of the node, indented by four spaces
};

std::string config_yaml(const std::vector<node_ref>& nodes, const std::string& extra = {}) {
    std::string y =
        "public_url: \"https://proxy.example.com\"\nlisten:\n  - address: \"127.0.0.1:0\"\n"
        "workers: 2\nnodes:\n";
    for (const auto& n : nodes) {
        y += fmt::format("  - id: {}\n    url: \"{}\"\n{}", n.id, n.url, n.extra);
    }
    return y + extra;
}

using clock = std::chrono::steady_clock;

// The status of a GET on a new connection; 0 when there was no response.
unsigned status_of(std::uint16_t port, const std::string& target) {
    auto r = http_get(port, target);
    return r ? r->result_int() : 0u;
}

TEST(Reload, AddsRemovesAndChangesNodesWhileResponsesAndTunnelsFinish) {
    temp_dir dir;
    // Two simulated servers answer for bbb-02: the reload moves the node from one to the other.
    node_set nodes({"bbb-01", "bbb-02", "bbb-02", "bbb-03"});
    const auto cfg = dir.path() / "proxy.yaml";
    put_file(cfg, config_yaml({{"bbb-01", nodes[0].origin()}, {"bbb-02", nodes[1].origin()}}));
    daemon proxy(dir.path(), cfg);
    ASSERT_TRUE(proxy.ok());

    // In flight across the reload: a slow response from the node being removed...
    client slow(proxy.port());
    slow.send(
        "GET /bbb-01/html5client/_test/slow?n=200000&ms=400 HTTP/1.1\r\nHost: localhost\r\n\r\n");
    ASSERT_TRUE(eventually([&] { return nodes[0].counters().requests.load() == 1; }));
    // ... a WebSocket tunnel to the node being moved, and an idle pooled connection to it.
    namespace ws = boost::beast::websocket;
    asio::io_context ioc;
    ws::stream<tcp::socket> tunnel(ioc);
    tunnel.next_layer().connect({asio::ip::make_address("127.0.0.1"), proxy.port()});
    tunnel.handshake("localhost", "/bbb-02/html5client/ws");
    boost::beast::flat_buffer buf;
    tunnel.write(asio::buffer(std::string("before")));
    tunnel.read(buf);
    EXPECT_EQ(boost::beast::buffers_to_string(buf.data()), "before");
    auto pooled = http_get(proxy.port(), "/bbb-02/html5client/");
    ASSERT_TRUE(pooled);
    EXPECT_EQ(pooled->result_int(), 200u);
    EXPECT_EQ(nodes[1].counters().active_connections.load(), 2u);  // tunnel + idle in the pool

    put_file(cfg, config_yaml({{"bbb-02", nodes[2].origin()}, {"bbb-03", nodes[3].origin()}}));
    const auto r = proxy.reload();
    EXPECT_EQ(r.exit_code, 0) << r.err << proxy.log();
    EXPECT_NE(r.out.find("reloaded: 2 node(s) (1 added, 1 removed, 1 changed)"), std::string::npos)
        << r.out;
    EXPECT_NE(proxy.log().find("added bbb-03; removed bbb-01; changed bbb-02"), std::string::npos)
        << proxy.log();

    // New requests see the new table.
    EXPECT_EQ(status_of(proxy.port(), "/bbb-01/html5client/"), 404u);
    EXPECT_EQ(status_of(proxy.port(), "/bbb-03/html5client/"), 200u);
    EXPECT_EQ(status_of(proxy.port(), "/bbb-02/html5client/"), 200u);
    EXPECT_EQ(nodes[2].counters().requests.load(), 1u);
    EXPECT_EQ(nodes[1].counters().requests.load(), 2u);  // the upgrade and the pooled GET only

    // What was in flight finishes on the old nodes.
    tunnel.write(asio::buffer(std::string("after")));
    buf.clear();
    tunnel.read(buf);
    EXPECT_EQ(boost::beast::buffers_to_string(buf.data()), "after");
    auto done = slow.read(false, 20s);
    ASSERT_TRUE(done) << slow.last_error();
    EXPECT_EQ(done->result_int(), 200u);
    EXPECT_EQ(done->body().size(), 200000u);
    tunnel.close(ws::close_code::normal);

    // Idle connections to the removed node and to the old address are closed.
    EXPECT_TRUE(eventually([&] { return nodes[0].counters().active_connections.load() == 0; }, 5s));
    EXPECT_TRUE(eventually([&] { return nodes[1].counters().active_connections.load() == 0; }, 5s));
}

TEST(Reload, InvalidConfigIsRefusedWithDiagnosticsAndTheOldOneServes) {
    temp_dir dir;
    node_set nodes({"bbb-01", "bbb-02"});
    const auto cfg = dir.path() / "proxy.yaml";
    const std::string pid_line = "pid_file: \"" + (dir.path() / "proxy.pid").string() + "\"\n";
    put_file(cfg, config_yaml({{"bbb-01", nodes[0].origin()}}, pid_line));
    daemon proxy(dir.path(), cfg);
    ASSERT_TRUE(proxy.ok());

    put_file(cfg, config_yaml({{"bbb-01", nodes[0].origin()}, {"bbb-02", "ftp://bbb-02"}},
                              pid_line + "wokers: 2\n"));
    auto r = proxy.reload();
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_NE(r.err.find(cfg.string() + ":9:10: nodes[1].url:"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find(cfg.string() + ":11:1: wokers:"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("reload refused: 2 error(s)"), std::string::npos) << r.err;
    EXPECT_NE(proxy.log().find(cfg.string() + ":11:1: wokers:"), std::string::npos) << proxy.log();
    EXPECT_EQ(status_of(proxy.port(), "/bbb-01/html5client/"), 200u);
    EXPECT_EQ(status_of(proxy.port(), "/bbb-02/html5client/"), 404u);

    // `reload -c` reads the pid file from the config, and checks the file before signalling.
    auto early = proxy.reload({"-c", cfg.string()});
    EXPECT_EQ(early.exit_code, 1);
    EXPECT_NE(early.err.find("the running proxy was not asked to reload"), std::string::npos)
        << early.err;

    // Fixed, with a setting that needs a restart: applied, with a warning for that setting.
    put_file(cfg, config_yaml({{"bbb-01", nodes[0].origin()}, {"bbb-02", nodes[1].origin()}},
                              pid_line + "timeouts: {upstream_connect: 2s}\n"));
    r = proxy.reload({"-c", cfg.string()});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_NE(r.err.find("warning: timeouts.upstream_connect: changed from 5000ms to 2000ms; "
                         "this needs a restart, keeping 5000ms"),
              std::string::npos)
        << r.err;
    EXPECT_EQ(status_of(proxy.port(), "/bbb-02/html5client/"), 200u);
}

// Provisioning by files: no SIGHUP, no `reload`; the proxy watches nodes_dir.
TEST(Reload, NodesDirFilesAddChangeAndRemoveNodesWithoutARestart) {
    temp_dir dir;
    node_set nodes({"bbb-01", "bbb-02", "bbb-02"});
    const auto nodes_dir = dir.path() / "nodes.d";
    fs::create_directories(nodes_dir);
    const auto node_file = [&](const std::string& id) { return nodes_dir / (id + ".yaml"); };
    put_file(node_file("bbb-01"), "url: \"" + nodes[0].origin() + "\"\n");
    const auto cfg = dir.path() / "proxy.yaml";
    put_file(cfg, config_yaml({}, "nodes_dir: nodes.d\n"));
    daemon proxy(dir.path(), cfg);
    ASSERT_TRUE(proxy.ok());
    EXPECT_EQ(status_of(proxy.port(), "/bbb-01/html5client/"), 200u);
    EXPECT_EQ(status_of(proxy.port(), "/bbb-02/html5client/"), 404u);
    EXPECT_NE(proxy.log().find("nodes_dir: watching " + nodes_dir.string()), std::string::npos)
        << proxy.log();
    const auto generation = [&] {
        const auto text = slurp(proxy.pid_file().string() + ".reload");
        const auto j = nlohmann::json::parse(text, nullptr, false);
        return j.is_object() ? j.value("generation", 0) : -1;
    };
    EXPECT_EQ(generation(), 0);

    // Added by dropping a file (written beside it and renamed, as put_file does).
    put_file(node_file("bbb-02"), "url: \"" + nodes[1].origin() + "\"\n");
    EXPECT_TRUE(
        eventually([&] { return status_of(proxy.port(), "/bbb-02/html5client/") == 200; }, 10s))
        << proxy.log();
    EXPECT_NE(proxy.log().find("nodes_dir: bbb-02.yaml added; reloading"), std::string::npos)
        << proxy.log();
    // The status file is written just after the new table is in use: wait for it. One reload
    // for one file: the broken file below must then make generation 2, not 3.
    EXPECT_TRUE(eventually([&] { return generation() == 1; }, 5s)) << generation();

    // A broken file is refused with its place; everything keeps serving.
    put_file(node_file("bbb-03"), "url: \"ftp://bbb-03\"\n");
    const std::string diagnostic = node_file("bbb-03").string() + ":1:6: url:";
    EXPECT_TRUE(eventually([&] { return proxy.log().find(diagnostic) != std::string::npos; }, 10s))
        << proxy.log();
    EXPECT_TRUE(eventually([&] { return generation() == 2; }, 5s));
    EXPECT_NE(slurp(proxy.pid_file().string() + ".reload").find(diagnostic), std::string::npos);
    EXPECT_EQ(status_of(proxy.port(), "/bbb-01/html5client/"), 200u);
    EXPECT_EQ(status_of(proxy.port(), "/bbb-02/html5client/"), 200u);

    // Removed while a response from it is in flight: the response finishes, new requests get 404.
    client slow(proxy.port());
    slow.send(
        "GET /bbb-01/html5client/_test/slow?n=100000&ms=400 HTTP/1.1\r\nHost: localhost\r\n\r\n");
    // bbb-01 has answered two requests so far: the slow one is the third (waiting for "2" passed
    // at once and failed when the slow request was faster than the first look).
    ASSERT_TRUE(eventually([&] { return nodes[0].counters().requests.load() == 3; }))
        << nodes[0].counters().requests.load() << " requests\n"
        << proxy.log();
    fs::remove(node_file("bbb-03"));
    fs::remove(node_file("bbb-01"));
    EXPECT_TRUE(
        eventually([&] { return status_of(proxy.port(), "/bbb-01/html5client/") == 404; }, 10s))
        << proxy.log();
    auto done = slow.read(false, 20s);
    ASSERT_TRUE(done) << slow.last_error();
    EXPECT_EQ(done->result_int(), 200u);
    EXPECT_EQ(done->body().size(), 100000u);

    // Changed in place: bbb-02 moves to another server.
    const auto before = nodes[2].counters().requests.load();
    put_file(node_file("bbb-02"), "url: \"" + nodes[2].origin() + "\"\n");
    EXPECT_TRUE(eventually(
        [&] {
            return status_of(proxy.port(), "/bbb-02/html5client/") == 200 &&
                   nodes[2].counters().requests.load() > before;
        },
        10s))
        << proxy.log();
    // The outcome is logged just after the new table is in use.
    EXPECT_TRUE(
        eventually([&] { return proxy.log().find("changed bbb-02") != std::string::npos; }, 5s))
        << proxy.log();
}

// A node on a fixed port that can be stopped and started again.
class restartable_node {
  public:
    explicit restartable_node(std::string id) : id_(std::move(id)) {
        start();
        thread_ = std::thread([this] { ioc_.run(); });
    }
    ~restartable_node() {
        stop();
        guard_.reset();
        thread_.join();
    }
    void start() {
        demo::node_options o;
        o.id = id_;
        o.port = port_;
        node_ = std::make_unique<demo::fake_node>(ioc_, o);
        port_ = node_->port();
        node_->start();
    }
    void stop() {
        if (node_) {
            node_->stop();
        }
    }
    /// start() on the same port once the stopped node has released it (stop() is asynchronous).
    bool restart() {
        node_.reset();  // the old node's sockets go with it
        return eventually(
            [&] {
                try {
                    start();
                    return true;
                } catch (const boost::system::system_error&) {
                    return false;
                }
            },
            5s);
    }
    std::string origin() const { return "http://127.0.0.1:" + std::to_string(port_); }

  private:
    std::string id_;
    std::uint16_t port_ = 0;
    asio::io_context ioc_{1};
    asio::executor_work_guard<asio::io_context::executor_type> guard_{ioc_.get_executor()};
    std::unique_ptr<demo::fake_node> node_;
    std::thread thread_;
};

TEST(Health, DeadNodeGetsA503PageFastAndRecoversWhenItComesBack) {
    temp_dir dir;
    restartable_node node("bbb-01");
    node_set others({"bbb-02"});
    const auto cfg = dir.path() / "proxy.yaml";
    put_file(cfg, config_yaml({{"bbb-01", node.origin()}, {"bbb-02", others[0].origin()}},
                              "health:\n  interval: 100ms\n  timeout: 300ms\n"
                              "  healthy_threshold: 2\n  unhealthy_threshold: 2\n"
                              "  retry_after: 7s\n"));
    daemon proxy(dir.path(), cfg);
    ASSERT_TRUE(proxy.ok());
    EXPECT_EQ(status_of(proxy.port(), "/bbb-01/html5client/"), 200u);

    node.stop();
    std::optional<response> page;
    ASSERT_TRUE(eventually(
        [&] {
            page = http_get(proxy.port(), "/bbb-01/html5client/");
            return page && page->result_int() == 503u;
        },
        5s))
        << proxy.log();
    const auto start = clock::now();
    auto again = http_get(proxy.port(), "/bbb-01/html5client/join");
    EXPECT_LT(clock::now() - start, 250ms);
    ASSERT_TRUE(again);
    EXPECT_EQ(again->result_int(), 503u);
    EXPECT_EQ((*page)["Retry-After"], "7");
    EXPECT_NE(page->body().find("bbb-01"), std::string::npos) << page->body();
    // The change is logged just after the node is marked: wait for the line, not only the state.
    const auto logged = [&](const std::string& line) {
        return eventually([&] { return proxy.log().find(line) != std::string::npos; }, 5s);
    };
    EXPECT_TRUE(logged("node bbb-01 is unhealthy")) << proxy.log();
    EXPECT_EQ(status_of(proxy.port(), "/bbb-02/html5client/"), 200u);

    ASSERT_TRUE(node.restart());
    EXPECT_TRUE(
        eventually([&] { return status_of(proxy.port(), "/bbb-01/html5client/") == 200u; }, 5s))
        << proxy.log();
    EXPECT_TRUE(logged("node bbb-01 is healthy again")) << proxy.log();
}

TEST(Health, PassiveMarkingAfterConnectFailuresWithoutActiveChecks) {
    temp_dir dir;
    node_set nodes({"bbb-01"});
    const auto cfg = dir.path() / "proxy.yaml";
    const std::string down = "http://127.0.0.1:" + std::to_string(closed_port());
    put_file(cfg, config_yaml({{"bbb-01", nodes[0].origin()},
                               {"bbb-down", down,
                                "    health: {interval: 0s, unhealthy_threshold: 2, "
                                "retry_after: 1s}\n"}}));
    daemon proxy(dir.path(), cfg);
    ASSERT_TRUE(proxy.ok());
    const auto status = [&] { return status_of(proxy.port(), "/bbb-down/html5client/"); };
    EXPECT_EQ(status(), 502u);
    EXPECT_EQ(status(), 502u);
    EXPECT_EQ(status(), 503u);  // two failed connects took it out
    EXPECT_EQ(status(), 503u);
    EXPECT_NE(proxy.log().find("node bbb-down is unhealthy: cannot connect"), std::string::npos)
        << proxy.log();
    std::this_thread::sleep_for(1100ms);
    EXPECT_EQ(status(), 502u);  // retry_after passed: requests try the node again
    // A node without a health section is never marked.
    EXPECT_EQ(status_of(proxy.port(), "/bbb-01/html5client/"), 200u);
}

// The DER bytes of a PEM certificate.
std::string der_of(const std::string& pem) {
    BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
    X509* x = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr);
    BIO_free(bio);
    unsigned char* out = nullptr;
    const int n = i2d_X509(x, &out);
    std::string der(reinterpret_cast<char*>(out), static_cast<std::size_t>(n));
    OPENSSL_free(out);
    X509_free(x);
    return der;
}

// One HTTPS request on a new connection; the certificate the proxy presented (DER), or empty
// when the handshake or the request failed.
std::string tls_get_certificate(std::uint16_t port, asio::ssl::context& ctx) {
    asio::io_context ioc;
    asio::ssl::stream<tcp::socket> s(ioc, ctx);
    error_code ec;
    s.next_layer().connect({asio::ip::make_address("127.0.0.1"), port}, ec);
    SSL_set_tlsext_host_name(s.native_handle(), "localhost");
    s.set_verify_callback(asio::ssl::host_name_verification("localhost"));
    if (ec || (s.handshake(asio::ssl::stream_base::client, ec), ec)) {
        return {};
    }
    X509* peer = SSL_get1_peer_certificate(s.native_handle());
    unsigned char* out = nullptr;
    const int n = i2d_X509(peer, &out);
    std::string der(reinterpret_cast<char*>(out), static_cast<std::size_t>(n));
    OPENSSL_free(out);
    X509_free(peer);
    namespace bhttp = boost::beast::http;
    bhttp::request<bhttp::empty_body> req{bhttp::verb::get, "/bbb-01/html5client/", 11};
    req.set(bhttp::field::host, "localhost");
    req.set(bhttp::field::connection, "close");
    bhttp::write(s, req, ec);
    boost::beast::flat_buffer buf;
    response res;
    bhttp::read(s, buf, res, ec);
    return !ec && res.result_int() == 200 ? der : std::string{};
}

TEST(Reload, CertificateSwapUnderLoadKeepsEveryConnectionWorking) {
    temp_dir dir;
    auto ca = test_ca::create();
    const auto a = ca.issue({"localhost"}, {"127.0.0.1"});
    const auto b = ca.issue({"localhost"}, {"127.0.0.1"});
    const auto live = dir.path() / "live";
    fs::create_directories(live);
    put_file(live / "cert.pem", a.cert_pem);
    put_file(live / "key.pem", a.key_pem);
    node_set nodes({"bbb-01"});
    const auto cfg = dir.path() / "proxy.yaml";
    put_file(cfg, proxy_yaml(nodes, "workers: 2\n", true, (live / "cert.pem").string(),
                             (live / "key.pem").string()));
    daemon proxy(dir.path(), cfg);
    ASSERT_TRUE(proxy.ok());

    const std::string der_a = der_of(a.cert_pem), der_b = der_of(b.cert_pem);
    std::atomic<bool> stop{false};
    std::atomic<int> failures{0}, with_a{0}, with_b{0};
    std::vector<std::thread> load;
    for (int i = 0; i < 3; ++i) {
        load.emplace_back([&] {
            // A client context per thread: OpenSSL's client session cache in one shared context
            // is read without its lock during handshakes (a TSan report in libcrypto).
            auto own = make_client_context(ca);
            while (!stop) {
                const auto der = tls_get_certificate(proxy.port(), own);
                ++(der == der_a ? with_a : der == der_b ? with_b : failures);
            }
        });
    }
    ASSERT_TRUE(eventually([&] { return with_a.load() > 20; }, 20s));

    // certbot's deploy hook: new files in place, then reload.
    put_file(live / "key.pem", b.key_pem);
    put_file(live / "cert.pem", b.cert_pem);
    const auto r = proxy.reload();
    EXPECT_EQ(r.exit_code, 0) << r.err << proxy.log();
    ASSERT_TRUE(eventually([&] { return with_b.load() > 20; }, 20s));
    const int a_after_swap = with_a.load();
    // The new certificate's context offers h2 as the first one did (issue 16).
    put_file(dir.path() / "ca.pem", ca.ca_cert_pem);
    const auto h2 = run_child(
        {"/usr/bin/curl", "-sS", "--max-time", "20", "--cacert", (dir.path() / "ca.pem").string(),
         "--http2", "-o", "/dev/null", "-w", "%{http_version} %{http_code}",
         "https://localhost:" + std::to_string(proxy.port()) + "/bbb-01/html5client/"},
        dir.path());
    EXPECT_EQ(h2.out, "2 200") << h2.err;

    // A broken certificate is refused; the proxy keeps presenting the last good one.
    put_file(live / "cert.pem", "-----BEGIN CERTIFICATE-----\nbroken\n-----END CERTIFICATE-----\n");
    const auto bad = proxy.reload();
    EXPECT_EQ(bad.exit_code, 1);
    EXPECT_NE(bad.err.find((live / "cert.pem").string() + ": cannot load certificate chain"),
              std::string::npos)
        << bad.err;
    EXPECT_NE(bad.err.find("keeping the running certificate"), std::string::npos) << bad.err;
    const int b_before = with_b.load();
    EXPECT_TRUE(eventually([&] { return with_b.load() > b_before + 20; }, 20s));

    stop = true;
    for (auto& t : load) {
        t.join();
    }
    EXPECT_EQ(failures.load(), 0);
    // Handshakes that started before the reload may finish with A just after it; none later.
    EXPECT_LE(with_a.load() - a_after_swap, 0);
}

}  // namespace
}  // namespace bcp::test
