// HTTP/2 to browsers (issue 16), with the real binary over TLS on loopback: curl --http2 and
// nghttp (Debian's nghttp2-client) fetch byte-exact bodies, many streams at once, through the
// same cache as HTTP/1.1; every attack of the issue, written frame by frame by h2_client.py
// (Debian's python3-h2, hyperframe, hpack), ends as it should and leaves the proxy serving a
// normal client, without a burst of node requests; SIGTERM sends GOAWAY and a running stream
// finishes.
#include "child.hpp"
#include "harness.hpp"
#include "proxy_process.hpp"
#include "raw_node.hpp"
#include "support/test_ca.hpp"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <sys/wait.h>

#include <csignal>
#include <fstream>
#include <set>
#include <string>
#include <thread>

namespace bcp::test {
namespace {

using json = nlohmann::json;

constexpr const char* python = "/usr/bin/python3";  // Debian's, with python3-h2

struct h2_setup {
    temp_dir dir{"bcp-h2"};
    test_ca ca = test_ca::create();
    test_ca::leaf leaf = ca.issue({"localhost"}, {"127.0.0.1"});
    pem_files files = write_pem_files(dir.path(), ca, leaf);
    node_set nodes{{"bbb-01", "bbb-02"}};

    std::string yaml(const std::string& extra = {}) {
        return proxy_yaml(nodes,
                          "cache: {enabled: true}\nadmin: {address: \"127.0.0.1:0\"}\n" + extra,
                          true, files.cert.string(), files.key.string());
    }
    std::string ca_file() const { return files.ca_cert.string(); }

    child_result curl(std::uint16_t port, const std::string& path, const std::string& version,
                      const std::string& out) {
        return run_child(
            {"/usr/bin/curl", "-sS", "--max-time", "20", "--cacert", ca_file(), version,
             "--compressed", "-o", (dir.path() / out).string(), "-w",
             "%{http_version} %{http_code}", "https://localhost:" + std::to_string(port) + path},
            dir.path());
    }

    json client(std::uint16_t port, const std::vector<std::string>& args) {
        std::vector<std::string> argv{python,   BCP_SOURCE_DIR "/tests/integration/h2_client.py",
                                      "--port", std::to_string(port),
                                      "--ca",   ca_file()};
        argv.insert(argv.end(), args.begin(), args.end());
        const auto r = run_child(argv, dir.path());
        EXPECT_EQ(r.exit_code, 0) << r.err;
        const auto j = json::parse(r.out, nullptr, false);
        EXPECT_FALSE(j.is_discarded()) << r.out << r.err;
        return j;
    }
};

std::string slurp(const std::filesystem::path& p) {
    std::ifstream in(p, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), {}};
}

std::string metrics_of(std::uint16_t admin_port) {
    const auto r = http_get(admin_port, "/metrics");
    return r ? r->body() : std::string();
}

bool has_sample(const std::string& metrics, const std::string& name_labels, std::uint64_t min) {
    const auto at = metrics.find("\n" + name_labels + " ");
    if (at == std::string::npos) {
        return false;
    }
    return std::stoull(metrics.substr(at + name_labels.size() + 2)) >= min;
}

// A normal client after an attack: the page over h2, within the usual time.
void expect_serving(h2_setup& s, std::uint16_t port) {
    const auto start = std::chrono::steady_clock::now();
    const auto r = s.curl(port, "/bbb-02/html5client/", "--http2", "after.html");
    EXPECT_EQ(r.out, "2 200") << r.err;
    EXPECT_LT(std::chrono::steady_clock::now() - start, 2s);
}

TEST(Http2, CurlAndNghttpGetByteExactBodiesThroughTheSameCache) {
    h2_setup s;
    proxy_process p(s.yaml());
    ASSERT_TRUE(p.ok()) << p.log();
    // The same bytes over HTTP/1.1 and h2, identity and decoded br/gzip alike.
    for (const std::string path :
         {"/bbb-01/html5client/", "/bbb-01/html5client/_test/bytes?n=300000",
          "/bbb-02/html5client/_test/chunked?n=70000"}) {
        auto one = s.curl(p.port(), path, "--http1.1", "one.out");
        auto two = s.curl(p.port(), path, "--http2", "two.out");
        EXPECT_EQ(one.out, "1.1 200") << one.err;
        EXPECT_EQ(two.out, "2 200") << two.err;
        const auto a = slurp(s.dir.path() / "one.out");
        EXPECT_FALSE(a.empty());
        EXPECT_EQ(a, slurp(s.dir.path() / "two.out")) << path;
    }
    // 100 streams at once on one connection (the client's page and its assets, many times).
    const auto j = s.client(p.port(), {"get", "/bbb-01/html5client/_test/bytes?n=50000", "100"});
    ASSERT_EQ(j["alpn"], "h2") << j.dump();
    ASSERT_EQ(j["streams"].size(), 100u);
    std::set<std::string> digests;
    for (const auto& st : j["streams"]) {
        EXPECT_EQ(st["status"], 200);
        EXPECT_EQ(st["length"], 50000);
        digests.insert(st["sha256"].get<std::string>());
    }
    EXPECT_EQ(digests.size(), 1u);
    // nghttp: the page and every asset it names, all 200.
    const auto n =
        run_child({"/usr/bin/nghttp", "-nasy",
                   "https://localhost:" + std::to_string(p.port()) + "/bbb-01/html5client/"},
                  s.dir.path());
    EXPECT_EQ(n.exit_code, 0) << n.err;
    EXPECT_NE(n.out.find("/bbb-01/html5client/app-"), std::string::npos) << n.out;
    EXPECT_EQ(n.out.find(" 502 "), std::string::npos) << n.out;
    // The access log and /metrics see HTTP/2 requests as requests.
    const auto m = metrics_of(p.admin_port());
    EXPECT_TRUE(has_sample(m, R"(bcp_requests_total{node="bbb-01",code="200",class="2xx"})", 100))
        << m;
}

// The HTTP/1.1 path's features reach h2 streams: the br variant, 304 for a validator, local
// error pages, and the per-address request rate counting streams as requests.
TEST(Http2, VariantsConditionalsErrorPagesAndTheRateLimitApplyToStreams) {
    h2_setup s;
    proxy_process p(s.yaml());
    ASSERT_TRUE(p.ok()) << p.log();
    const std::string base = "https://localhost:" + std::to_string(p.port());
    const auto headers_of = [&](const std::vector<std::string>& extra, const std::string& path) {
        std::vector<std::string> argv{"/usr/bin/curl", "-sS",       "--max-time", "20",
                                      "--cacert",      s.ca_file(), "--http2",    "-o",
                                      "/dev/null",     "-D",        "-"};
        argv.insert(argv.end(), extra.begin(), extra.end());
        argv.push_back(base + path);
        const auto r = run_child(argv, s.dir.path());
        return r.out + r.err;
    };
    // The client's style sheet, named in its page.
    const auto page = s.curl(p.port(), "/bbb-01/html5client/", "--http2", "page.html");
    ASSERT_EQ(page.out, "2 200") << page.err;
    const auto html = slurp(s.dir.path() / "page.html");
    const auto at = html.find("style-");  // small: its br variant is ready at once
    ASSERT_NE(at, std::string::npos) << html;
    const std::string sheet = "/bbb-01/html5client/" + html.substr(at, html.find('"', at) - at);
    headers_of({}, sheet);  // fills the cache
    std::string h;
    EXPECT_TRUE(eventually(
        [&] {
            h = headers_of({"-H", "Accept-Encoding: br"}, sheet);
            return h.find("content-encoding: br") != std::string::npos;
        },
        5s))
        << h;
    EXPECT_EQ(h.rfind("HTTP/2 200", 0), 0u) << h;
    const auto etag_at = h.find("etag: ");
    ASSERT_NE(etag_at, std::string::npos) << h;
    const auto etag = h.substr(etag_at + 6, h.find('\r', etag_at) - etag_at - 6);
    h = headers_of({"-H", "Accept-Encoding: br", "-H", "If-None-Match: " + etag}, sheet);
    EXPECT_EQ(h.rfind("HTTP/2 304", 0), 0u) << h;
    h = headers_of({}, "/nope/html5client/");
    EXPECT_EQ(h.rfind("HTTP/2 404", 0), 0u) << h;
    EXPECT_EQ(h.find("connection:"), std::string::npos) << h;  // no HTTP/1.1 field leaks through
    // 40 streams at once against a burst of 30: the rest are 429.
    proxy_process limited_proxy(
        s.yaml("limits: {requests_per_second_per_ip: 1, request_burst_per_ip: 30}\n"));
    ASSERT_TRUE(limited_proxy.ok()) << limited_proxy.log();
    const auto j = s.client(limited_proxy.port(), {"get", "/bbb-02/html5client/", "40"});
    int ok = 0, limited = 0;
    for (const auto& st : j["streams"]) {
        ok += st["status"] == 200 ? 1 : 0;
        limited += st["status"] == 429 ? 1 : 0;
    }
    EXPECT_GE(limited, 9) << j.dump();
    EXPECT_EQ(ok + limited, 40) << j.dump();
}

// The POST exception over h2, as a BBB 2.x client's browser sends it on the page's connection:
// Meteor's dynamic imports reach the node with their body byte for byte and are cached by body;
// feedback is passed every time; any other POST is 405 and never reaches a node.
TEST(Http2, AllowedPostsCarryTheirBodiesAndOtherPostsAre405) {
    h2_setup s;
    node_set meteor({"bbb-01"}, nullptr, demo::client_kind::meteor);
    proxy_process p(proxy_yaml(meteor,
                               "cache: {enabled: true}\nadmin: {address: \"127.0.0.1:0\"}\n", true,
                               s.files.cert.string(), s.files.key.string()));
    ASSERT_TRUE(p.ok()) << p.log();
    const std::string base =
        "https://localhost:" + std::to_string(p.port()) + "/bbb-01/html5client/";
    const auto post = [&](const std::string& path, const std::string& body,
                          const std::string& type) {
        std::ofstream(s.dir.path() / "body.in", std::ios::binary) << body;
        return run_child({"/usr/bin/curl", "-sS", "--max-time", "20", "--cacert", s.ca_file(),
                          "--http2", "--path-as-is", "-D", (s.dir.path() / "head.out").string(),
                          "-o", (s.dir.path() / "post.out").string(), "-w",
                          "%{http_version} %{http_code}", "-H", "Content-Type: " + type,
                          "--data-binary", "@" + (s.dir.path() / "body.in").string(), base + path},
                         s.dir.path());
    };
    const std::string panel = R"({"node_modules":{"lazy":{"panel.js":1}}})";
    const auto& imports = meteor[0].counters().dynamic_imports;

    auto r = post("__meteor__/dynamic-import/fetch", panel, "text/plain;charset=UTF-8");
    EXPECT_EQ(r.out, "2 200") << r.err;
    const auto first = slurp(s.dir.path() / "post.out");
    EXPECT_NE(first.find(R"(exports.node=\"bbb-01\")"), std::string::npos) << first;
    EXPECT_NE(first.find("panel"), std::string::npos) << first;  // the node read our body
    EXPECT_NE(slurp(s.dir.path() / "head.out").find("x-cache: MISS"), std::string::npos);
    EXPECT_EQ(imports.load(), 1u);
    // The same body again: from the cache, the same bytes.
    r = post("__meteor__/dynamic-import/fetch", panel, "application/json");
    EXPECT_EQ(r.out, "2 200") << r.err;
    EXPECT_EQ(slurp(s.dir.path() / "post.out"), first);
    EXPECT_NE(slurp(s.dir.path() / "head.out").find("x-cache: HIT"), std::string::npos)
        << slurp(s.dir.path() / "head.out");
    EXPECT_EQ(imports.load(), 1u);
    // Feedback: passed each time.
    for (int i = 0; i < 2; ++i) {
        r = post("feedback", R"({"rating":5})", "application/json");
        EXPECT_EQ(r.out, "2 200") << r.err;
    }
    EXPECT_EQ(meteor[0].counters().feedbacks.load(), 2u);
    // Anything else: 405 from the proxy, and the node never sees it.
    const auto seen = meteor.total_requests();
    for (const std::string path : {"feedback/", "x/../feedback", "sockjs/info", ""}) {
        r = post(path, "x=1", "application/x-www-form-urlencoded");
        EXPECT_EQ(r.out, "2 405") << path << ": " << r.err;
    }
    EXPECT_EQ(meteor.total_requests(), seen);
}

// A body is judged at its first bytes, not when it ends (this client never ends it): where no
// body is allowed the gate answers as over HTTP/1.1 (405 for a POST without a POST rule, 400 for
// a GET with a body), an allowed POST's body past its path's limit is a 413, and one within its
// limit waits for its end. No node sees any of them.
TEST(Http2, ABodyIsJudgedAtItsFirstBytesNotWhenItEnds) {
    h2_setup s;
    proxy_process p(s.yaml("post: {max_body_size: 1KiB}\n"));
    ASSERT_TRUE(p.ok()) << p.log();
    const auto open_body = [&](const std::string& method, const std::string& path,
                               const std::string& size) {
        return s.client(p.port(), {"--hold", "1.5", "open-body", method, path, size});
    };
    auto j = open_body("POST", "/bbb-01/html5client/sockjs/info", "1000");
    EXPECT_EQ(j["status"], 405) << j.dump();
    EXPECT_EQ(j["reset"], 0) << j.dump();  // NO_ERROR: the client may stop sending (§8.1)
    EXPECT_LT(j["after"].get<double>(), 1.0) << j.dump();
    j = open_body("GET", "/bbb-01/html5client/", "100");
    EXPECT_EQ(j["status"], 400) << j.dump();
    j = open_body("POST", "/bbb-01/html5client/feedback", "2000");
    EXPECT_EQ(j["status"], 413) << j.dump();
    j = open_body("POST", "/bbb-01/html5client/feedback", "500");
    EXPECT_TRUE(j["status"].is_null()) << j.dump();
    EXPECT_TRUE(j["reset"].is_null()) << j.dump();
    EXPECT_EQ(s.nodes.total_requests(), 0u);
    expect_serving(s, p.port());
}

// A node's 103 Early Hints reaches an h2 client as an informational HEADERS frame with the Link
// fields only, before the response.
TEST(Http2, EarlyHintsFromANodeReachH2Clients) {
    h2_setup s;
    raw_node node([](const std::string& target, const std::string&) {
        const std::string ok =
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok";
        if (target == "/bbb-01/html5client/hints") {
            return reply{
                "HTTP/1.1 103 Early Hints\r\nLink: </x.css>; rel=preload; as=style\r\n"
                "X-Node-Secret: 1\r\n\r\n" +
                ok};
        }
        return reply{ok};
    });
    proxy_process p(
        "public_url: \"https://proxy.example.com\"\nlisten:\n  - address: "
        "\"127.0.0.1:0\"\n    tls: {certificate: \"" +
        s.files.cert.string() + "\", private_key: \"" + s.files.key.string() +
        "\"}\nnodes:\n  - id: bbb-01\n    url: \"http://127.0.0.1:" + std::to_string(node.port()) +
        "\"\n");
    ASSERT_TRUE(p.ok()) << p.log();
    const auto r =
        run_child({"/usr/bin/curl", "-sS", "--max-time", "20", "--cacert", s.ca_file(), "--http2",
                   "-D", "-", "-o", "/dev/null",
                   "https://localhost:" + std::to_string(p.port()) + "/bbb-01/html5client/hints"},
                  s.dir.path());
    const auto hint = r.out.find("HTTP/2 103");
    const auto link = r.out.find("link: </x.css>; rel=preload; as=style");
    const auto final = r.out.find("HTTP/2 200");
    ASSERT_NE(hint, std::string::npos) << r.out << r.err;
    EXPECT_LT(hint, link) << r.out;
    EXPECT_LT(link, final) << r.out;
    EXPECT_NE(final, std::string::npos) << r.out;
    EXPECT_EQ(r.out.find("x-node-secret"), std::string::npos) << r.out;
}

TEST(Http2, WithoutH2AlpnTheConnectionIsHttp11) {
    h2_setup s;
    proxy_process p(s.yaml("http2: {enabled: false}\n"));
    ASSERT_TRUE(p.ok()) << p.log();
    const auto r = s.curl(p.port(), "/bbb-01/html5client/", "--http2", "x.out");
    EXPECT_EQ(r.out, "1.1 200") << r.err;
}

TEST(Http2, RapidResetEndsTheConnectionWithoutABurstOfNodeRequests) {
    h2_setup s;
    proxy_process p(s.yaml());
    ASSERT_TRUE(p.ok()) << p.log();
    const auto before = s.nodes.total_requests();
    const auto j = s.client(p.port(), {"rapid-reset", "2000"});
    EXPECT_EQ(j["goaway_error"], 11) << j.dump();  // ENHANCE_YOUR_CALM
    std::this_thread::sleep_for(300ms);
    // Streams reset in the read that opened them never become node requests; the rest are
    // bounded by the reset burst (400).
    EXPECT_LE(s.nodes.total_requests() - before, 401u);
    expect_serving(s, p.port());
    EXPECT_TRUE(has_sample(metrics_of(p.admin_port()),
                           R"(bcp_refusals_total{reason="h2_rapid_reset"})", 1));
}

TEST(Http2, FloodsAndBombsAreRefusedAndTheProxyKeepsServing) {
    h2_setup s;
    proxy_process p(s.yaml());
    ASSERT_TRUE(p.ok()) << p.log();
    auto j = s.client(p.port(), {"ping-flood", "20000"});
    EXPECT_EQ(j["goaway_error"], 11) << j.dump();
    EXPECT_LE(j["pings"].get<int>(), 1'001);
    j = s.client(p.port(), {"continuation-flood", "200"});
    EXPECT_EQ(j["goaway_error"], 11) << j.dump();
    j = s.client(p.port(), {"hpack-bomb", "2000"});
    EXPECT_EQ(j["status"], 431) << j.dump();
    j = s.client(p.port(), {"malformed"});
    EXPECT_EQ(j["resets"].size(), 6u) << j.dump();
    for (const auto& [id, code] : j["resets"].items()) {
        EXPECT_EQ(code, 1) << id;  // PROTOCOL_ERROR
    }
    EXPECT_EQ(j["header_frames"], 0);  // none of them was answered, none reached a node
    expect_serving(s, p.port());
    const auto m = metrics_of(p.admin_port());
    EXPECT_TRUE(has_sample(m, R"(bcp_refusals_total{reason="h2_control_flood"})", 1)) << m;
    EXPECT_TRUE(has_sample(m, R"(bcp_refusals_total{reason="h2_continuation_flood"})", 1)) << m;
    EXPECT_TRUE(has_sample(m, R"(bcp_refusals_total{reason="header_too_large"})", 1)) << m;
    EXPECT_TRUE(has_sample(m, R"(bcp_refusals_total{reason="h2_malformed"})", 6)) << m;
}

// One client floods 40 bodies of 200 KB at once under `http2` settings whose binding budget is
// 1 MiB: at least 30 streams are refused (REFUSED_STREAM), no more than the budget and a stream
// window is held, no node sees any of it, and the proxy goes on serving.
void expect_bodies_bounded_to_1mib(const std::string& http2) {
    h2_setup s;
    // Each path's own limit at its largest, so that only the budgets refuse.
    proxy_process p(s.yaml("http2: " + http2 + "\npost: {max_body_size: 1MiB}\n"));
    ASSERT_TRUE(p.ok()) << p.log();
    const auto j =
        s.client(p.port(), {"body-flood", "/bbb-01/html5client/feedback", "40", "200000"});
    int refused = 0;
    for (const auto& [id, code] : j["resets"].items()) {
        EXPECT_EQ(code, 7) << id << " " << j.dump();  // REFUSED_STREAM
        ++refused;
    }
    EXPECT_GE(refused, 30) << j.dump();
    EXPECT_LE(j["bytes_sent_on_open_streams"].get<std::int64_t>(), 1'048'576 + 64 * 1'024)
        << j.dump();
    EXPECT_EQ(s.nodes.total_requests(), 0u);
    expect_serving(s, p.port());
    EXPECT_TRUE(has_sample(metrics_of(p.admin_port()),
                           R"(bcp_refusals_total{reason="h2_refused_stream"})", 30));
}

// Forty streams each sending a 200 KB body at once and never ending it (flow control obeyed):
// without a budget the proxy would hold 8 MB for this one connection until the head deadline.
// With `max_pending_body_bytes` it holds about that much, refuses the other streams
// (REFUSED_STREAM, h2_refused_stream), and none of the bodies reaches a node.
TEST(Http2, ManyBodiesArrivingAtOnceAreBudgetedPerConnection) {
    expect_bodies_bounded_to_1mib("{max_pending_body_bytes: 1048576}");
}

// The worker's budget binds although the connection's would allow 4 MiB (that it is shared by
// the worker's connections: H2Connection.BodiesStillArrivingAreAlsoBudgetedPerWorker).
TEST(Http2, BodiesArrivingOnAllConnectionsOfAWorkerAreBudgetedTogether) {
    expect_bodies_bounded_to_1mib(
        "{max_pending_body_bytes: 4194304, max_pending_body_bytes_per_worker: 1048576}");
}

// Eight clients fetch a 5 MB `path` with a zero window and never read: the proxy keeps serving
// others, and holds bounded buffers for them, not 40 MB.
void expect_zero_window_holders_bounded(h2_setup& s, proxy_process& p, const std::string& path) {
    const auto rss_before = p.rss_kib();
    std::vector<std::thread> holders;
    for (int i = 0; i < 8; ++i) {
        holders.emplace_back([&] { s.client(p.port(), {"--hold", "3", "zero-window", path}); });
    }
    std::this_thread::sleep_for(1s);
    expect_serving(s, p.port());
    for (auto& t : holders) {
        t.join();
    }
    EXPECT_LT(p.rss_kib(), rss_before + 16 * 1024) << rss_before;
}

// Pass-through first, then cache hits, whose body is one buffer of the hit's gathered write: it
// reaches the stream a piece at a time (Asio's write loop hands over at most 64 KiB per step, and
// the stream takes at most output_watermark), not 5 MB per stream into its buffer.
TEST(Http2, AClientThatNeverOpensItsWindowHoldsLittleAndOthersAreServed) {
#if defined(__SANITIZE_THREAD__)
    GTEST_SKIP() << "ThreadSanitizer's shadow memory makes RSS no measure of buffers";
#endif
    h2_setup s;
    proxy_process p(s.yaml("timeouts: {client_send: 1s}\n"));
    ASSERT_TRUE(p.ok()) << p.log();
    expect_zero_window_holders_bounded(s, p, "/bbb-01/html5client/_test/bytes?n=5000000");

    const std::string path = "/bbb-01/html5client/_test/cacheable?n=5000000&cc=public,+max-age=600";
    const auto fill = s.client(p.port(), {"get", path, "1"});
    ASSERT_EQ(fill["streams"].at(0)["length"], 5000000) << fill.dump();
    const auto hits = [&] {
        const auto m = metrics_of(p.admin_port());
        const auto at = m.find("bcp_cache_requests_total{result=\"hit\"} ");
        return at == std::string::npos ? 0ull : std::stoull(m.substr(at + 39));
    };
    ASSERT_TRUE(eventually(
        [&] {
            const auto c = s.curl(p.port(), path, "--http2", "hit.out");
            return c.out == "2 200" && slurp(s.dir.path() / "hit.out").size() == 5000000 &&
                   hits() >= 1;
        },
        5s));
    const auto hits_before = hits();
    expect_zero_window_holders_bounded(s, p, path);
    EXPECT_GE(hits(), hits_before + 8) << "the holders were served from the cache";

    // One such client on 100 streams of one connection: the connection's output cap (1 MiB),
    // not 100 streams' buffers (up to two watermarks each), is what it holds. Measured under
    // ASan: 4.9 MB with the cap (the streams' sessions included), 27 MB without.
    const auto rss_before = p.rss_kib();
    std::thread holder([&] { s.client(p.port(), {"--hold", "3", "zero-window", path, "100"}); });
    ASSERT_TRUE(eventually([&] { return hits() >= hits_before + 8 + 100; }, 5s)) << hits();
    std::this_thread::sleep_for(500ms);
    const auto held = p.rss_kib() - rss_before;
    expect_serving(s, p.port());
    holder.join();
    EXPECT_LT(held, 10 * 1024) << "KiB held for one connection";
}

// Slowloris over h2: a request that never finishes arriving holds the connection no longer than
// the head deadline, as over HTTP/1.1.
TEST(Http2, ARequestThatNeverFinishesArrivingMeetsTheHeadDeadline) {
    h2_setup s;
    proxy_process p(s.yaml("timeouts: {client_head: 1s}\n"));
    ASSERT_TRUE(p.ok()) << p.log();
    const auto j = s.client(p.port(), {"--hold", "6", "stall", "/bbb-01/html5client/feedback"});
    EXPECT_LT(j["closed_after"].get<double>(), 3.0) << j.dump();
    EXPECT_GE(j["closed_after"].get<double>(), 0.9) << j.dump();
    EXPECT_TRUE(
        has_sample(metrics_of(p.admin_port()), R"(bcp_refusals_total{reason="head_timeout"})", 1));
    expect_serving(s, p.port());
}

TEST(Http2, SigtermSendsGoawayAndARunningStreamFinishes) {
    h2_setup s;
    proxy_process p(s.yaml());
    ASSERT_TRUE(p.ok()) << p.log();
    // A slow response (20 pieces, 100 ms apart); SIGTERM arrives while it runs.
    const auto out = s.dir.path() / "drain.out";
    const pid_t drain = spawn_child({python, BCP_SOURCE_DIR "/tests/integration/h2_client.py",
                                     "--port", std::to_string(p.port()), "--ca", s.ca_file(),
                                     "drain", "/bbb-01/html5client/_test/slow?n=20000&ms=100"},
                                    out, s.dir.path() / "drain.err");
    ASSERT_GT(drain, 0);
    ASSERT_TRUE(eventually([&] { return slurp(out).find("sent") != std::string::npos; }, 5s));
    std::this_thread::sleep_for(300ms);
    p.signal(SIGTERM);
    EXPECT_EQ(wait_child(drain), 0) << slurp(s.dir.path() / "drain.err");
    const auto text = slurp(out);
    const auto j = json::parse(text.substr(text.find('\n') + 1), nullptr, false);
    ASSERT_FALSE(j.is_discarded()) << text;
    EXPECT_EQ(j["length"], 20000) << j.dump();
    EXPECT_EQ(j["ended"], true);
    ASSERT_TRUE(j["goaway"].is_object()) << j.dump();
    EXPECT_EQ(j["goaway"]["error"], 0);
    EXPECT_EQ(j["goaway"]["last_stream"], 1);
    EXPECT_EQ(p.wait_exit(10s), 0);
}

}  // namespace
}  // namespace bcp::test
