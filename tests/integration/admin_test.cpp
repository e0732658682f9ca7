// The admin listener and the access log, on the real binary over loopback: every endpoint, bearer
// tokens, metric values after known traffic, access log lines in both formats, SIGUSR1 reopen,
// /healthz while draining.
#include "child.hpp"
#include "harness.hpp"
#include "support/test_ca.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/websocket.hpp>

#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <csignal>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

namespace bcp::test {
namespace {

std::string slurp(const std::filesystem::path& p) {
    std::ifstream in(p);
    return {std::istreambuf_iterator<char>(in), {}};
}

void write_file(const std::filesystem::path& p, const std::string& text) {
    std::ofstream(p) << text;
}

std::uint16_t port_of(const std::string& address) {
    return static_cast<std::uint16_t>(std::stoi(address.substr(address.rfind(':') + 1)));
}

// `bbb-cluster-proxy serve` as a child process; stopped (SIGTERM, then SIGKILL) when destroyed.
class running_proxy {
  public:
    running_proxy(const temp_dir& dir, const std::string& yaml) : dir_(dir.path()) {
        const auto cfg = dir_ / "proxy.yaml";
        write_file(cfg, yaml);
        const auto ready = dir_ / "ready.json";
        std::filesystem::remove(ready);
        pid_ = spawn_child(
            {BCP_BINARY, "serve", "--config", cfg.string(), "--ready-file", ready.string()}, {},
            dir_ / "stderr.txt");
        if (pid_ <= 0) {
            return;
        }
        const bool up =
            eventually([&] { return std::filesystem::exists(ready) || exited_now(); }, 30s);
        if (!up || exited_) {
            return;
        }
        const auto j = nlohmann::json::parse(slurp(ready));
        port_ = port_of(j["listen"][0].get<std::string>());
        if (j.contains("admin")) {
            admin_port_ = port_of(j["admin"].get<std::string>());
        }
        ready_ = true;
    }
    ~running_proxy() {
        if (pid_ > 0 && !exited_) {
            stop(SIGTERM);
        }
    }

    bool ready() const { return ready_; }
    std::uint16_t port() const { return port_; }
    std::uint16_t admin_port() const { return admin_port_; }
    pid_t pid() const { return pid_; }
    std::string stderr_text() const { return slurp(dir_ / "stderr.txt"); }
    int exit_code() const { return exit_code_; }

    bool exited_now() {
        if (exited_ || pid_ <= 0) {
            return true;
        }
        int status = 0;
        if (waitpid(pid_, &status, WNOHANG) == pid_) {
            exited_ = true;
            exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
        }
        return exited_;
    }
    /// Signals the process and waits for it to exit (SIGKILL after 15 s); its exit code.
    int stop(int sig) {
        if (pid_ <= 0 || exited_now()) {
            return exit_code_;
        }
        kill(pid_, sig);
        if (!eventually([&] { return exited_now(); }, 15s)) {
            kill(pid_, SIGKILL);
            eventually([&] { return exited_now(); }, 5s);
            ADD_FAILURE() << "serve did not exit after signal " << sig;
        }
        return exit_code_;
    }

  private:
    std::filesystem::path dir_;
    pid_t pid_ = -1;
    bool ready_ = false;
    bool exited_ = false;
    int exit_code_ = -1;
    std::uint16_t port_ = 0;
    std::uint16_t admin_port_ = 0;
};

std::optional<response> admin_get(std::uint16_t port, const std::string& target,
                                  const std::string& headers = {},
                                  const std::string& method = "GET") {
    client c(port);
    return c.get(target, headers, method);
}

// The value of one exact series ("name{labels}") in a /metrics body; NaN when absent.
double sample(const std::string& metrics, const std::string& series) {
    std::istringstream in(metrics);
    std::string line;
    while (std::getline(in, line)) {
        if (line.size() > series.size() && line.compare(0, series.size(), series) == 0 &&
            line[series.size()] == ' ') {
            return std::stod(line.substr(series.size() + 1));
        }
    }
    return std::nan("");
}

// Checks the exposition format: each sample belongs to a family announced by # HELP and # TYPE
// before it, and each family is announced once.
void expect_well_formed(const std::string& metrics) {
    std::istringstream in(metrics);
    std::string line;
    std::map<std::string, std::string> types;
    std::set<std::string> helped;
    std::string current;
    while (std::getline(in, line)) {
        ASSERT_FALSE(line.empty()) << "empty line in exposition";
        if (line.rfind("# HELP ", 0) == 0) {
            const auto name = line.substr(7, line.find(' ', 7) - 7);
            EXPECT_TRUE(helped.insert(name).second) << "HELP twice for " << name;
            current = name;
            continue;
        }
        if (line.rfind("# TYPE ", 0) == 0) {
            const auto rest = line.substr(7);
            const auto name = rest.substr(0, rest.find(' '));
            const auto type = rest.substr(rest.find(' ') + 1);
            EXPECT_EQ(name, current) << "TYPE without HELP: " << line;
            EXPECT_TRUE(type == "counter" || type == "gauge" || type == "histogram") << line;
            EXPECT_TRUE(types.emplace(name, type).second) << "TYPE twice for " << name;
            continue;
        }
        const auto name = line.substr(0, line.find_first_of("{ "));
        std::string family = name;
        for (const std::string suffix : {"_bucket", "_sum", "_count"}) {
            if (name.size() > suffix.size() && name.ends_with(suffix) &&
                types.count(name.substr(0, name.size() - suffix.size())) != 0 &&
                types[name.substr(0, name.size() - suffix.size())] == "histogram") {
                family = name.substr(0, name.size() - suffix.size());
            }
        }
        EXPECT_EQ(family, current) << "sample outside its family: " << line;
        EXPECT_TRUE(name.rfind("bcp_", 0) == 0) << line;
        const auto value = line.substr(line.rfind(' ') + 1);
        EXPECT_FALSE(value.empty()) << line;
    }
}

// One message through a WebSocket tunnel of bbb-01 (the node echoes it), then a normal close.
std::string websocket_echo(std::uint16_t port, const std::string& message) {
    namespace ws = boost::beast::websocket;
    boost::asio::io_context ioc;
    ws::stream<boost::asio::ip::tcp::socket> s(ioc);
    s.next_layer().connect({boost::asio::ip::make_address("127.0.0.1"), port});
    s.handshake("localhost", "/bbb-01/html5client/ws");
    s.write(boost::asio::buffer(message));
    boost::beast::flat_buffer buf;
    s.read(buf);
    s.close(ws::close_code::normal);
    return boost::beast::buffers_to_string(buf.data());
}

// The proxy did not get ready, exited 1, and its message names `key`.
void expect_refused_to_start(running_proxy& p, std::string_view key) {
    EXPECT_FALSE(p.ready());
    EXPECT_TRUE(eventually([&] { return p.exited_now(); }, 10s));
    EXPECT_EQ(p.exit_code(), 1);
    EXPECT_NE(p.stderr_text().find(key), std::string::npos) << p.stderr_text();
}

std::string admin_yaml(node_set& nodes, const std::string& admin_extra = {},
                       const std::string& extra = {}) {
    return proxy_yaml(nodes,
                      extra + "workers: 2\nadmin:\n  address: \"127.0.0.1:0\"\n" + admin_extra);
}

TEST(AdminEndpoints, HealthzNodesStatusPageAndErrors) {
    temp_dir dir;
    node_set nodes({"bbb-01", "bbb-02"});
    running_proxy p(dir, admin_yaml(nodes));
    ASSERT_TRUE(p.ready()) << p.stderr_text();
    ASSERT_NE(p.admin_port(), 0);

    auto h = admin_get(p.admin_port(), "/healthz");
    ASSERT_TRUE(h);
    EXPECT_EQ(h->result_int(), 200u);
    EXPECT_EQ(h->body(), "ok\n");
    EXPECT_EQ((*h)[boost::beast::http::field::content_type], "text/plain; charset=utf-8");

    for (const auto& [target, headers] : std::vector<std::pair<std::string, std::string>>{
             {"/healthz?format=json", ""}, {"/healthz", "Accept: application/json\r\n"}}) {
        auto hj = admin_get(p.admin_port(), target, headers);
        ASSERT_TRUE(hj);
        EXPECT_EQ(hj->result_int(), 200u);
        const auto j = nlohmann::json::parse(hj->body());
        EXPECT_EQ(j["status"], "ok");
        EXPECT_EQ(j["nodes"], 2);
    }

    auto n = admin_get(p.admin_port(), "/nodes");
    ASSERT_TRUE(n);
    EXPECT_EQ(n->result_int(), 200u);
    EXPECT_EQ((*n)[boost::beast::http::field::content_type], "application/json");
    const auto list = nlohmann::json::parse(n->body());
    ASSERT_EQ(list.size(), 2u);
    EXPECT_EQ(list[0]["id"], "bbb-01");
    EXPECT_EQ(list[0]["origin"], nodes[0].origin());
    EXPECT_EQ(list[0]["mounts"], nlohmann::json::array({"html5client"}));
    EXPECT_EQ(list[1]["id"], "bbb-02");
    EXPECT_TRUE(list[0]["configured"].get<bool>());

    for (const std::string target : {"/", "/status"}) {
        auto page = admin_get(p.admin_port(), target);
        ASSERT_TRUE(page);
        EXPECT_EQ(page->result_int(), 200u);
        EXPECT_EQ((*page)[boost::beast::http::field::content_type], "text/html; charset=utf-8");
        EXPECT_NE(page->body().find("<svg"), std::string::npos);
        EXPECT_EQ(page->body().find("http://"), page->body().find("http://www.w3.org/2000/svg"))
            << "the page must not load anything from elsewhere";
        EXPECT_NE(std::string((*page)["Content-Security-Policy"]).find("default-src 'none'"),
                  std::string::npos);
    }
    auto st = admin_get(p.admin_port(), "/status.json");
    ASSERT_TRUE(st);
    const auto sj = nlohmann::json::parse(st->body());
    EXPECT_EQ(sj["status"], "ok");
    EXPECT_EQ(sj["nodes"].size(), 2u);

    auto missing = admin_get(p.admin_port(), "/nope");
    ASSERT_TRUE(missing);
    EXPECT_EQ(missing->result_int(), 404u);
    auto post = admin_get(p.admin_port(), "/metrics", {}, "POST");
    ASSERT_TRUE(post);
    EXPECT_EQ(post->result_int(), 405u);
    EXPECT_EQ((*post)[boost::beast::http::field::allow], "GET, HEAD");
    auto head = admin_get(p.admin_port(), "/healthz", {}, "HEAD");
    ASSERT_TRUE(head);
    EXPECT_EQ(head->result_int(), 200u);

    // The data path does not serve admin endpoints.
    auto via_proxy = http_get(p.port(), "/metrics");
    ASSERT_TRUE(via_proxy);
    EXPECT_EQ(via_proxy->result_int(), 404u);
    EXPECT_EQ(p.stop(SIGTERM), 0) << p.stderr_text();
}

TEST(AdminMetrics, FiguresMatchKnownTraffic) {
    temp_dir dir;
    node_set nodes({"bbb-01", "bbb-02"});
    const std::string down =
        "  - id: bbb-down\n    url: \"http://127.0.0.1:" + std::to_string(closed_port()) + "\"\n";
    running_proxy p(dir, admin_yaml(nodes, {}, down));
    ASSERT_TRUE(p.ready()) << p.stderr_text();

    // One WebSocket tunnel, closed before the scrape. First: an upgrade may take a pooled
    // connection for its tunnel (and close it after), so after the requests below it could leave
    // bbb-01 without an idle connection when all of them ran on the tunnel's worker.
    EXPECT_EQ(websocket_echo(p.port(), "hello"), "hello");

    std::uint64_t bytes_01 = 0;
    for (int i = 0; i < 5; ++i) {
        auto r = http_get(p.port(), "/bbb-01/html5client/_test/bytes?n=" + std::to_string(100 + i));
        ASSERT_TRUE(r);
        ASSERT_EQ(r->result_int(), 200u);
        bytes_01 += r->body().size();
    }
    for (int i = 0; i < 3; ++i) {
        auto r = http_get(p.port(), "/bbb-02/html5client/_test/redirect");
        ASSERT_TRUE(r);
        ASSERT_EQ(r->result_int(), 302u);
    }
    for (int i = 0; i < 2; ++i) {
        auto r = http_get(p.port(), "/unknown-node/html5client/");
        ASSERT_TRUE(r);
        ASSERT_EQ(r->result_int(), 404u);
    }
    auto bad = http_get(p.port(), "/bbb-01/html5client/%2e%2e/secret");
    ASSERT_TRUE(bad);
    ASSERT_EQ(bad->result_int(), 400u);
    auto gone = http_get(p.port(), "/bbb-down/html5client/");
    ASSERT_TRUE(gone);
    ASSERT_EQ(gone->result_int(), 502u);

    std::string m;
    // The tunnel's close is counted when the proxy sees it: poll for it, never sleep.
    ASSERT_TRUE(eventually(
        [&] {
            auto r = admin_get(p.admin_port(), "/metrics");
            m = r ? r->body() : "";
            // A connection goes back to the pool just after its response reached the client.
            // A request is counted once its response is written: the 502 may be read first.
            return sample(m, "bcp_tunnels_active{node=\"bbb-01\"}") == 0 &&
                   sample(m, R"(bcp_requests_total{node="bbb-down",code="502",class="5xx"})") ==
                       1 &&
                   sample(m, "bcp_tunnels_opened_total{node=\"bbb-01\"}") == 1 &&
                   sample(m, R"(bcp_upstream_idle_connections{node="bbb-01"})") >= 1;
        },
        10s))
        << m;
    expect_well_formed(m);
    EXPECT_EQ(sample(m, R"(bcp_requests_total{node="bbb-01",code="200",class="2xx"})"), 5) << m;
    EXPECT_EQ(sample(m, R"(bcp_requests_total{node="bbb-01",code="101",class="1xx"})"), 1);
    EXPECT_EQ(sample(m, R"(bcp_requests_total{node="bbb-02",code="302",class="3xx"})"), 3);
    EXPECT_EQ(sample(m, R"(bcp_requests_total{node="-",code="404",class="4xx"})"), 2);
    EXPECT_EQ(sample(m, R"(bcp_requests_total{node="-",code="400",class="4xx"})"), 1);
    EXPECT_EQ(sample(m, R"(bcp_requests_total{node="bbb-down",code="502",class="5xx"})"), 1);
    EXPECT_EQ(sample(m, R"(bcp_refusals_total{reason="bad_request"})"), 1);
    EXPECT_EQ(sample(m, R"(bcp_upstream_connect_errors_total{node="bbb-down"})"), 1);
    EXPECT_EQ(sample(m, R"(bcp_upstream_connect_errors_total{node="bbb-01"})"), 0);
    EXPECT_EQ(sample(m, R"(bcp_response_bytes_total{node="bbb-01"})"),
              static_cast<double>(bytes_01));
    EXPECT_EQ(sample(m, R"(bcp_request_duration_seconds_count{node="bbb-01"})"), 5);
    EXPECT_EQ(sample(m, R"(bcp_request_duration_seconds_bucket{node="bbb-01",le="+Inf"})"), 5);
    EXPECT_GT(sample(m, R"(bcp_request_duration_seconds_sum{node="bbb-01"})"), 0);
    EXPECT_EQ(sample(m, R"(bcp_upstream_first_byte_seconds_count{node="bbb-01"})"), 6);
    EXPECT_EQ(sample(m, R"(bcp_upstream_first_byte_seconds_count{node="bbb-02"})"), 3);
    EXPECT_EQ(sample(m, R"(bcp_tunnel_bytes_total{node="bbb-01",direction="to_node"})") > 5, true);
    // Idle keep-alive connections: the pooled ones to bbb-01/bbb-02, none to the dead node.
    EXPECT_GE(sample(m, R"(bcp_upstream_idle_connections{node="bbb-01"})"), 1);
    EXPECT_EQ(sample(m, R"(bcp_upstream_idle_connections{node="bbb-down"})"), 0);
    EXPECT_EQ(sample(m, "bcp_workers"), 2);
    EXPECT_EQ(sample(m, "bcp_nodes"), 3);
    EXPECT_EQ(sample(m, "bcp_draining"), 0);
    EXPECT_EQ(sample(m, R"(bcp_build_info{version=")" BCP_VERSION R"("})"), 1);
    EXPECT_EQ(sample(m, "bcp_connections_accepted_total"), 13);
    // No access log configured: its families are absent.
    EXPECT_EQ(m.find("bcp_access_log"), std::string::npos);

    // /nodes agrees with /metrics.
    auto n = admin_get(p.admin_port(), "/nodes");
    ASSERT_TRUE(n);
    const auto list = nlohmann::json::parse(n->body());
    ASSERT_EQ(list.size(), 3u);
    EXPECT_EQ(list[0]["id"], "bbb-01");
    EXPECT_EQ(list[0]["requests"], 6);
    EXPECT_EQ(list[0]["responses"]["2xx"], 5);
    EXPECT_EQ(list[0]["bytes"], bytes_01);
    EXPECT_EQ(list[1]["id"], "bbb-02");
    EXPECT_EQ(list[1]["responses"]["3xx"], 3);
    EXPECT_EQ(list[2]["id"], "bbb-down");
    EXPECT_EQ(list[2]["connect_errors"], 1);
}

TEST(AdminToken, EveryRequestNeedsTheBearerToken) {
    temp_dir dir;
    node_set nodes({"bbb-01"});
    const auto token_file = dir.path() / "admin.token";
    write_file(token_file, "s3cret-token-0123456789\n");
    running_proxy p(dir, admin_yaml(nodes, "  token_file: " + token_file.string() + "\n"));
    ASSERT_TRUE(p.ready()) << p.stderr_text();
    for (const std::string target : {"/metrics", "/healthz", "/nodes", "/", "/nope"}) {
        auto none = admin_get(p.admin_port(), target);
        ASSERT_TRUE(none);
        EXPECT_EQ(none->result_int(), 401u) << target;
        EXPECT_EQ((*none)[boost::beast::http::field::www_authenticate],
                  "Bearer realm=\"bbb-cluster-proxy admin\"");
        for (const std::string wrong :
             {"Bearer s3cret-token-012345678", "Bearer s3cret-token-01234567890",
              "Basic s3cret-token-0123456789", "s3cret-token-0123456789", "Bearer "}) {
            auto bad = admin_get(p.admin_port(), target, "Authorization: " + wrong + "\r\n");
            ASSERT_TRUE(bad);
            EXPECT_EQ(bad->result_int(), 401u) << target << " with " << wrong;
        }
    }
    auto ok =
        admin_get(p.admin_port(), "/healthz", "Authorization: Bearer s3cret-token-0123456789\r\n");
    ASSERT_TRUE(ok);
    EXPECT_EQ(ok->result_int(), 200u);
    auto ok2 =
        admin_get(p.admin_port(), "/metrics", "Authorization: bearer s3cret-token-0123456789\r\n");
    ASSERT_TRUE(ok2);
    EXPECT_EQ(ok2->result_int(), 200u);
    EXPECT_NE(ok2->body().find("bcp_requests_total"), std::string::npos);
}

TEST(AdminToken, EmptyOrUnreadableTokenFileRefusesToStart) {
    temp_dir dir;
    node_set nodes({"bbb-01"});
    const auto empty = dir.path() / "empty.token";
    write_file(empty, "  \n");
    running_proxy p(dir, admin_yaml(nodes, "  token_file: " + empty.string() + "\n"));
    expect_refused_to_start(p, "admin.token_file");
    EXPECT_NE(p.stderr_text().find("is empty"), std::string::npos) << p.stderr_text();

    temp_dir dir2;
    const auto missing = dir2.path() / "missing.token";
    running_proxy q(dir2, admin_yaml(nodes, "  token_file: " + missing.string() + "\n"));
    expect_refused_to_start(q, "admin.token_file");
}

// Node health from the health checker reaches /metrics and /nodes: a node on a closed port is
// taken out by the active checks, a live one stays in.
TEST(AdminMetrics, NodeHealthFromTheChecks) {
    temp_dir dir;
    node_set nodes({"bbb-01"});
    const std::string down =
        "  - id: bbb-down\n    url: \"http://127.0.0.1:" + std::to_string(closed_port()) + "\"\n";
    running_proxy p(dir, admin_yaml(nodes, {},
                                    down + "health: {interval: 100ms, timeout: 300ms, "
                                           "unhealthy_threshold: 2}\n"));
    ASSERT_TRUE(p.ready()) << p.stderr_text();
    std::string m;
    ASSERT_TRUE(eventually(
        [&] {
            auto r = admin_get(p.admin_port(), "/metrics");
            m = r ? r->body() : "";
            return sample(m, R"(bcp_node_healthy{node="bbb-down"})") == 0;
        },
        5s))
        << m;
    EXPECT_EQ(sample(m, R"(bcp_node_healthy{node="bbb-01"})"), 1) << m;
    EXPECT_GE(sample(m, R"(bcp_node_health_checks_total{node="bbb-down",result="failed"})"), 2);
    EXPECT_GE(sample(m, R"(bcp_node_health_checks_total{node="bbb-01",result="ok"})"), 1);
    EXPECT_EQ(sample(m, R"(bcp_node_health_transitions_total{node="bbb-down"})"), 1);
    auto n = admin_get(p.admin_port(), "/nodes");
    ASSERT_TRUE(n);
    bool seen = false;
    for (const auto& node : nlohmann::json::parse(n->body())) {
        if (node["id"] == "bbb-down") {
            seen = true;
            EXPECT_EQ(node["health"]["healthy"], false) << node.dump();
            EXPECT_NE(node["health"]["last_error"].get<std::string>(), "") << node.dump();
        }
    }
    EXPECT_TRUE(seen) << n->body();
    // Requests for it get the 503 page at once.
    auto page = http_get(p.port(), "/bbb-down/html5client/");
    ASSERT_TRUE(page);
    EXPECT_EQ(page->result_int(), 503u);
}

TEST(AdminHealthz, Answers503WhileDraining) {
    temp_dir dir;
    node_set nodes({"bbb-01"});
    running_proxy p(dir, admin_yaml(nodes, {}, "timeouts:\n  shutdown: 4s\n"));
    ASSERT_TRUE(p.ready()) << p.stderr_text();
    // A request the node never answers keeps the proxy draining after SIGTERM.
    client stalled(p.port());
    stalled.send("GET /bbb-01/html5client/_test/stall HTTP/1.1\r\nHost: localhost\r\n\r\n");
    ASSERT_TRUE(eventually([&] {
        auto r = admin_get(p.admin_port(), "/metrics");
        return r && sample(r->body(), "bcp_connections_active") == 1;
    }));
    kill(p.pid(), SIGTERM);
    std::optional<response> h;
    ASSERT_TRUE(eventually([&] {
        h = admin_get(p.admin_port(), "/healthz");
        return h && h->result_int() == 503u;
    }));
    EXPECT_EQ(h->body(), "draining\n");
    auto hj = admin_get(p.admin_port(), "/healthz?format=json");
    ASSERT_TRUE(hj);
    EXPECT_EQ(nlohmann::json::parse(hj->body())["status"], "draining");
    auto m = admin_get(p.admin_port(), "/metrics");
    ASSERT_TRUE(m);
    EXPECT_EQ(sample(m->body(), "bcp_draining"), 1);
    stalled.socket().close();
    EXPECT_EQ(p.stop(SIGTERM), 0);
}

std::vector<std::string> split_spaces(const std::string& line) {
    std::vector<std::string> out;
    std::istringstream in(line);
    std::string word;
    while (in >> word) {
        out.push_back(word);
    }
    return out;
}

bool all_digits(std::string_view s) {
    return !s.empty() && s.find_first_not_of("0123456789") == std::string_view::npos;
}

// "0.123": whole seconds, a dot, exactly three digits.
bool is_seconds(std::string_view s) {
    const auto dot = s.find('.');
    return dot != std::string_view::npos && all_digits(s.substr(0, dot)) && s.size() - dot == 4 &&
           all_digits(s.substr(dot + 1));
}

// "2026-11-27T17:55:31.123Z"
bool is_log_time(std::string_view s) {
    return s.size() == 24 && s[4] == '-' && s[7] == '-' && s[10] == 'T' && s[13] == ':' &&
           s[16] == ':' && s[19] == '.' && s[23] == 'Z' && all_digits(s.substr(0, 4)) &&
           all_digits(s.substr(20, 3));
}

std::vector<std::string> lines_of(const std::filesystem::path& p) {
    std::vector<std::string> out;
    std::ifstream in(p);
    std::string line;
    while (std::getline(in, line)) {
        out.push_back(line);
    }
    return out;
}

TEST(AccessLog, PlainLinesForRequestsAndTunnels) {
    temp_dir dir;
    node_set nodes({"bbb-01"});
    const auto log = dir.path() / "access.log";
    // One worker: lines from different workers reach the file in no defined order.
    running_proxy p(dir,
                    proxy_yaml(nodes, "workers: 1\naccess_log:\n  path: " + log.string() + "\n"));
    ASSERT_TRUE(p.ready()) << p.stderr_text();
    auto r = http_get(p.port(), "/bbb-01/html5client/_test/bytes?n=321&sessionToken=secret");
    ASSERT_TRUE(r);
    auto nf = http_get(p.port(), "/nope/html5client/");
    ASSERT_TRUE(nf);
    EXPECT_EQ(websocket_echo(p.port(), "0123456789"), "0123456789");
    std::vector<std::string> lines;
    ASSERT_TRUE(eventually([&] { return (lines = lines_of(log)).size() == 3; }, 10s))
        << lines.size();
    // time client node "method path protocol" status bytes duration upstream cache encoding
    // [tunnel...]
    const auto f0 = split_spaces(lines[0]);
    ASSERT_EQ(f0.size(), 12u) << lines[0];
    EXPECT_TRUE(is_log_time(f0[0])) << lines[0];
    EXPECT_EQ(f0[1], "127.0.0.1");
    EXPECT_EQ(f0[2], "bbb-01");
    EXPECT_EQ(f0[3], "\"GET");
    EXPECT_EQ(f0[4], "/bbb-01/html5client/_test/bytes") << "the query (tokens) is not logged";
    EXPECT_EQ(f0[5], "HTTP/1.1\"");
    EXPECT_EQ(f0[6], "200");
    EXPECT_EQ(f0[7], "321");
    EXPECT_TRUE(is_seconds(f0[8])) << lines[0];
    EXPECT_TRUE(is_seconds(f0[9])) << lines[0];
    EXPECT_EQ(f0[10], "-");
    EXPECT_EQ(f0[11], "identity");  // the node's body went out as it was, uncompressed
    EXPECT_EQ(lines[0].find("secret"), std::string::npos);

    const auto f1 = split_spaces(lines[1]);
    ASSERT_EQ(f1.size(), 12u) << lines[1];
    EXPECT_EQ(f1[2], "-");
    EXPECT_EQ(f1[6], "404");
    EXPECT_EQ(f1[9], "-");
    EXPECT_EQ(f1[11], "-");

    const auto f2 = split_spaces(lines[2]);
    ASSERT_EQ(f2.size(), 15u) << lines[2];
    EXPECT_EQ(f2[4], "/bbb-01/html5client/ws");
    EXPECT_EQ(f2[6], "101");
    ASSERT_TRUE(f2[12].starts_with("tunnel=")) << lines[2];
    EXPECT_TRUE(is_seconds(f2[12].substr(7))) << lines[2];
    EXPECT_TRUE(f2[13].starts_with("to_client=")) << lines[2];
    EXPECT_EQ(f2[14], "to_node=" + std::to_string(std::stoi(f2[14].substr(8))));
    EXPECT_GE(std::stoi(f2[14].substr(8)), 10) << "the 10-byte message went to the node";
    EXPECT_EQ(p.stop(SIGTERM), 0);
}

TEST(AccessLog, JsonLinesAndSigusr1Reopen) {
    temp_dir dir;
    node_set nodes({"bbb-01"});
    const auto log = dir.path() / "access.json";
    running_proxy p(
        dir, proxy_yaml(nodes, "access_log:\n  format: json\n  path: " + log.string() + "\n"));
    ASSERT_TRUE(p.ready()) << p.stderr_text();
    ASSERT_TRUE(http_get(p.port(), "/bbb-01/html5client/_test/bytes?n=10"));
    ASSERT_TRUE(http_get(p.port(), "/bbb-01/html5client/_test/bytes?n=20"));
    std::vector<std::string> lines;
    ASSERT_TRUE(eventually([&] { return (lines = lines_of(log)).size() == 2; }, 10s));
    for (std::size_t i = 0; i < 2; ++i) {
        const auto j = nlohmann::json::parse(lines[i]);
        EXPECT_EQ(j["client"], "127.0.0.1");
        EXPECT_EQ(j["node"], "bbb-01");
        EXPECT_EQ(j["method"], "GET");
        EXPECT_EQ(j["path"], "/bbb-01/html5client/_test/bytes");
        EXPECT_EQ(j["protocol"], "HTTP/1.1");
        EXPECT_EQ(j["status"], 200);
        EXPECT_TRUE(j["bytes"] == 10 || j["bytes"] == 20) << lines[i];
        EXPECT_TRUE(j["duration"].is_number());
        EXPECT_TRUE(j["upstream_time"].is_number());
        EXPECT_LE(j["upstream_time"].get<double>(), j["duration"].get<double>());
        EXPECT_EQ(j["cache"], "-");
        EXPECT_EQ(j["encoding"], "identity");
        EXPECT_TRUE(j["time"].get<std::string>().ends_with("Z"));
        EXPECT_FALSE(j.contains("tunnel"));
    }

    // logrotate: rename, SIGUSR1, new lines go to a new file at the configured path.
    const auto rotated = dir.path() / "access.json.1";
    std::filesystem::rename(log, rotated);
    kill(p.pid(), SIGUSR1);
    // The reopen happens on the writer thread: new requests until the new file has a line.
    ASSERT_TRUE(eventually(
        [&] {
            EXPECT_TRUE(http_get(p.port(), "/bbb-01/html5client/_test/bytes?n=30"));
            return std::filesystem::exists(log) && !lines_of(log).empty();
        },
        10s));
    const auto fresh = lines_of(log);
    EXPECT_EQ(nlohmann::json::parse(fresh.back())["bytes"], 30);
    const auto old = lines_of(rotated);
    ASSERT_GE(old.size(), 2u);
    for (const auto& l : old) {
        EXPECT_TRUE(nlohmann::json::accept(l)) << l;
    }
    EXPECT_EQ(p.stop(SIGTERM), 0);
    EXPECT_EQ(p.stderr_text().find("access_log"), std::string::npos) << p.stderr_text();
}

TEST(AccessLog, UnwritablePathRefusesToStart) {
    temp_dir dir;
    node_set nodes({"bbb-01"});
    running_proxy p(dir,
                    proxy_yaml(nodes, "access_log:\n  path: " +
                                          (dir.path() / "no-such-dir" / "a.log").string() + "\n"));
    expect_refused_to_start(p, "access_log.path");
}

// The cache seen by an operator: its figures in /metrics, its outcome in the access log, and
// `bbb-cluster-proxy cache purge` (all, or one node) through the admin listener.
TEST(AdminCache, MetricsAccessLogAndPurgeCommand) {
    temp_dir dir;
    node_set nodes({"bbb-01", "bbb-02"});
    const auto log = dir.path() / "access.log";
    const auto token = dir.path() / "admin.token";
    write_file(token, "purge-secret\n");
    // A fixed admin port (just free), so that `cache purge` finds it in the file.
    const auto admin_port = closed_port();
    running_proxy p(dir,
                    proxy_yaml(nodes, "admin: {address: \"127.0.0.1:" + std::to_string(admin_port) +
                                          "\", token_file: " + token.string() +
                                          "}\ncache: {enabled: true}\n"
                                          "access_log: {format: json, path: " +
                                          log.string() + "}\n"));
    ASSERT_TRUE(p.ready()) << p.stderr_text();
    ASSERT_EQ(p.admin_port(), admin_port);
    const auto get = [&](const std::string& node) {
        auto r = http_get(p.port(), "/" + node + "/html5client/_test/cacheable?n=700");
        return r ? std::string((*r)["X-Cache"]) : std::string("<none>");
    };
    EXPECT_EQ(get("bbb-01"), "MISS");
    EXPECT_EQ(get("bbb-01"), "HIT");
    EXPECT_EQ(get("bbb-02"), "MISS");
    const auto metrics = [&] {
        auto r = admin_get(p.admin_port(), "/metrics", "Authorization: Bearer purge-secret\r\n");
        return r ? r->body() : std::string();
    };
    std::string m;
    // Bytes are counted once each write completed, which may be just after the client read them.
    EXPECT_TRUE(eventually([&] {
        m = metrics();
        return sample(m, "bcp_cache_bytes_served_total") == 2100;
    })) << m;
    expect_well_formed(m);
    EXPECT_EQ(sample(m, R"(bcp_cache_requests_total{result="hit"})"), 1) << m;
    EXPECT_EQ(sample(m, R"(bcp_cache_requests_total{result="miss"})"), 2) << m;
    EXPECT_EQ(sample(m, "bcp_cache_entries"), 2) << m;

    std::vector<std::string> outcomes;
    ASSERT_TRUE(eventually(
        [&] {
            outcomes.clear();
            for (const auto& l : lines_of(log)) {
                const auto j = nlohmann::json::parse(l);
                outcomes.push_back(j["node"].get<std::string>() + " " +
                                   j["cache"].get<std::string>() + " " +
                                   std::to_string(j["bytes"].get<int>()));
            }
            return outcomes.size() == 3;
        },
        5s));
    std::sort(outcomes.begin(), outcomes.end());
    EXPECT_EQ(outcomes,
              (std::vector<std::string>{"bbb-01 HIT 700", "bbb-01 MISS 700", "bbb-02 MISS 700"}));

    const auto cfg = (dir.path() / "proxy.yaml").string();
    auto one =
        run_child({BCP_BINARY, "cache", "purge", "--config", cfg, "--node", "bbb-01"}, dir.path());
    EXPECT_EQ(one.exit_code, 0) << one.err;
    EXPECT_EQ(one.out, "purged 1 cached response of node bbb-01\n");
    EXPECT_EQ(get("bbb-02"), "HIT");
    EXPECT_EQ(get("bbb-01"), "MISS");
    auto all = run_child({BCP_BINARY, "cache", "purge", "--config", cfg}, dir.path());
    EXPECT_EQ(all.exit_code, 0) << all.err;
    EXPECT_EQ(all.out, "purged 2 cached responses\n");
    m = metrics();
    EXPECT_EQ(sample(m, "bcp_cache_entries"), 0) << m;
    EXPECT_EQ(sample(m, "bcp_cache_purged_total"), 3) << m;
    EXPECT_EQ(get("bbb-02"), "MISS");

    auto bad =
        run_child({BCP_BINARY, "cache", "purge", "--config", cfg, "--node", "../x"}, dir.path());
    EXPECT_EQ(bad.exit_code, 2);
    EXPECT_NE(bad.err.find("--node"), std::string::npos) << bad.err;
    EXPECT_EQ(p.stop(SIGTERM), 0);
}

TEST(AdminCache, PurgeCommandExplainsWhatIsMissing) {
    temp_dir dir;
    node_set nodes({"bbb-01"});
    {
        // The cache is off: the proxy says so.
        running_proxy p(dir, admin_yaml(nodes));
        ASSERT_TRUE(p.ready()) << p.stderr_text();
        // The file says port 0 (any free port): the command cannot know which one.
        const auto cfg = (dir.path() / "proxy.yaml").string();
        auto any = run_child({BCP_BINARY, "cache", "purge", "-c", cfg}, dir.path());
        EXPECT_EQ(any.exit_code, 1);
        EXPECT_NE(any.err.find("port 0"), std::string::npos) << any.err;
        auto r = run_child({BCP_BINARY, "cache", "purge", "-c", cfg, "--admin",
                            "127.0.0.1:" + std::to_string(p.admin_port())},
                           dir.path());
        EXPECT_EQ(r.exit_code, 1);
        EXPECT_NE(r.err.find("answered 409"), std::string::npos) << r.err;
        EXPECT_NE(r.err.find("cache.enabled"), std::string::npos) << r.err;
        EXPECT_EQ(p.stop(SIGTERM), 0);
    }
    // No admin section: nothing to talk to, and the message says how to add one.
    const auto cfg = dir.path() / "plain.yaml";
    write_file(cfg, proxy_yaml(nodes, "cache: {enabled: true}\n"));
    auto r = run_child({BCP_BINARY, "cache", "purge", "-c", cfg.string()}, dir.path());
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_NE(r.err.find("has no admin section"), std::string::npos) << r.err;
    // Nobody listening at --admin.
    auto gone = run_child(
        {BCP_BINARY, "cache", "purge", "--admin", "127.0.0.1:" + std::to_string(closed_port())},
        dir.path());
    EXPECT_EQ(gone.exit_code, 1);
    EXPECT_NE(gone.err.find("admin listener 127.0.0.1:"), std::string::npos) << gone.err;
}

}  // namespace
}  // namespace bcp::test
