// Micro-benchmarks of the proxy's per-request pure logic (no I/O): what every forwarded request
// pays on the worker thread before and after the network. Run by `make bench` (bench/run), results
// in docs/benchmarks.md. Inputs are realistic heads: a browser fetching a hashed asset of the
// client (12 fields, cookies, Sec-Fetch-*) and the minimal head wrk sends.
#include "config/config.hpp"
#include "core/origin.hpp"
#include "http/gate.hpp"
#include "http/request_head.hpp"
#include "http/rewrite.hpp"
#include "http/target.hpp"
#include "registry/node_table.hpp"

#include <benchmark/benchmark.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

namespace {

using namespace bcp;

constexpr std::string_view browser_head =
    "GET /bbb-01/html5client/app-1a2b3c4d.js HTTP/1.1\r\n"
    "Host: bbb-proxy.example.com\r\n"
    "User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Safari/537.36\r\n"
    "Accept: */*\r\n"
    "Accept-Language: en-US,en;q=0.9,de;q=0.8\r\n"
    "Accept-Encoding: gzip, deflate, br\r\n"
    "Referer: "
    "https://bbb-proxy.example.com/bbb-01/html5client/join?sessionToken=abcdef0123456789\r\n"
    "Connection: keep-alive\r\n"
    "Cookie: JSESSIONID=0123456789ABCDEF0123456789ABCDEF; bbb_pref=dark\r\n"
    "Sec-Fetch-Dest: script\r\n"
    "Sec-Fetch-Mode: no-cors\r\n"
    "Sec-Fetch-Site: same-origin\r\n"
    "If-None-Match: \"1a2b3c4d\"\r\n"
    "\r\n";

constexpr std::string_view wrk_head =
    "GET /bbb-01/html5client/logo-1a2b3c4d.svg HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n\r\n";

constexpr std::string_view websocket_head =
    "GET /bbb-01/html5client/ws HTTP/1.1\r\n"
    "Host: bbb-proxy.example.com\r\n"
    "Connection: Upgrade\r\n"
    "Upgrade: websocket\r\n"
    "Sec-WebSocket-Version: 13\r\n"
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    "Origin: https://bbb-proxy.example.com\r\n"
    "\r\n";

void must(bool ok, const char* what) {
    if (!ok) {
        std::fprintf(stderr, "bcp_micro: setup failed: %s\n", what);
        std::abort();
    }
}

// --- request gate: parse the head, then inspect it -------------------------------------------

void parse_only(benchmark::State& state, std::string_view raw) {
    http::request_head head;
    const http::head_limits limits;
    for (auto _ : state) {
        head.clear();
        auto r = http::parse_request_head(raw, limits, head);
        benchmark::DoNotOptimize(r);
        benchmark::DoNotOptimize(head.fields.data());
    }
    state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * raw.size()));
}

void parse_and_gate(benchmark::State& state, std::string_view raw) {
    http::request_head head;
    const http::head_limits limits;
    const http::gate_options options{{"bbb-proxy.example.com", "127.0.0.1"}};
    for (auto _ : state) {
        head.clear();
        auto r = http::parse_request_head(raw, limits, head);
        auto g = http::inspect(head, options);
        benchmark::DoNotOptimize(r);
        benchmark::DoNotOptimize(g);
    }
    head.clear();
    must(http::parse_request_head(raw, limits, head).state == http::parse_state::complete, "parse");
    must(http::inspect(head, options).status == 0, "gate");
    state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * raw.size()));
}

BENCHMARK_CAPTURE(parse_only, browser_asset, browser_head);
BENCHMARK_CAPTURE(parse_only, wrk_minimal, wrk_head);
BENCHMARK_CAPTURE(parse_and_gate, browser_asset, browser_head);
BENCHMARK_CAPTURE(parse_and_gate, wrk_minimal, wrk_head);
BENCHMARK_CAPTURE(parse_and_gate, websocket_upgrade, websocket_head);

// --- target validation -------------------------------------------------------------------------

void target(benchmark::State& state, std::string_view t) {
    for (auto _ : state) {
        auto c = http::check_target(t);
        benchmark::DoNotOptimize(c);
    }
    must(http::check_target(t).status == 0, "target");
    state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * t.size()));
}

BENCHMARK_CAPTURE(target, asset, std::string_view("/bbb-01/html5client/app-1a2b3c4d.js"));
BENCHMARK_CAPTURE(target, locale_query,
                  std::string_view("/bbb-01/html5client/locale?locale=pt-BR&init=true"));
// Encoded '/' is refused anywhere, the query included (SECURITY.md), so no encoded URL here.
BENCHMARK_CAPTURE(target, long_percent_encoded,
                  std::string_view("/bbb-01/html5client/join?sessionToken=0a1b2c3d4e5f6a7b&"
                                   "meetingID=c2a4e5f6b7a8d9e0&userName=J%C3%BCrgen%20M%C3%BCller&"
                                   "locale=de-DE&redirect=true&avatar=%F0%9F%99%82"));

// --- routing -------------------------------------------------------------------------------------

std::vector<config::node> make_nodes(int n) {
    std::vector<config::node> nodes;
    for (int i = 1; i <= n; ++i) {
        config::node node;
        char id[32];
        std::snprintf(id, sizeof id, "bbb-%02d", i);
        node.id = id;
        node.url = std::string("https://") + id + ".example.com";
        auto parsed = parse_origin(node.url);
        must(parsed.value.has_value(), "origin");
        node.upstream = *parsed.value;
        node.mounts = {"html5client", "learning-dashboard"};
        nodes.push_back(std::move(node));
    }
    return nodes;
}

void route(benchmark::State& state) {
    const registry::node_table table(make_nodes(static_cast<int>(state.range(0))));
    // The last id in sort order (deepest binary search) and its second mount (longest scan).
    char id[32];
    std::snprintf(id, sizeof id, "bbb-%02d", static_cast<int>(state.range(0)));
    const std::string key = id;
    const std::string_view mount = "learning-dashboard";
    must(table.find(key) != nullptr, "find");
    for (auto _ : state) {
        const auto* e = table.find(key);
        bool ok = e != nullptr && e->has_mount(mount);
        benchmark::DoNotOptimize(ok);
    }
}
BENCHMARK(route)->Arg(2)->Arg(10)->Arg(100);

void route_unknown(benchmark::State& state) {
    const registry::node_table table(make_nodes(static_cast<int>(state.range(0))));
    const std::string key = "bbb-zz";
    for (auto _ : state) {
        const auto* e = table.find(key);
        benchmark::DoNotOptimize(e);
    }
}
BENCHMARK(route_unknown)->Arg(10);

// --- header rewrite
// --------------------------------------------------------------------------------

void rewrite(benchmark::State& state, std::string_view raw) {
    http::request_head head;
    must(http::parse_request_head(raw, {}, head).state == http::parse_state::complete, "parse");
    const auto gate = http::inspect(head, {});
    must(gate.status == 0, "gate");
    http::forward_context ctx;
    ctx.upstream_authority = "bbb-01.example.com";
    ctx.client_address = "203.0.113.7";
    ctx.client_tls = true;
    ctx.public_authority = "bbb-proxy.example.com";
    std::string out;  // reused, as in the session
    for (auto _ : state) {
        http::build_upstream_request(head, gate, ctx, out);
        benchmark::DoNotOptimize(out.data());
    }
    state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * out.size()));
}
BENCHMARK_CAPTURE(rewrite, browser_asset, browser_head);
BENCHMARK_CAPTURE(rewrite, wrk_minimal, wrk_head);
BENCHMARK_CAPTURE(rewrite, websocket_upgrade, websocket_head);

// --- everything a request pays before the upstream write
// ------------------------------------------

void full_request_path(benchmark::State& state, std::string_view raw) {
    const registry::node_table table(make_nodes(10));
    http::request_head head;
    const http::head_limits limits;
    const http::gate_options options;
    http::forward_context ctx;
    ctx.client_address = "203.0.113.7";
    ctx.public_authority = "bbb-proxy.example.com";
    std::string out;
    for (auto _ : state) {
        head.clear();
        auto r = http::parse_request_head(raw, limits, head);
        auto g = http::inspect(head, options);
        const auto* node = table.find(g.target.first);
        if (r.state != http::parse_state::complete || g.status != 0 || node == nullptr ||
            !node->has_mount(g.target.second)) {
            state.SkipWithError("request refused");
            break;
        }
        ctx.upstream_authority = node->authority;
        http::build_upstream_request(head, g, ctx, out);
        benchmark::DoNotOptimize(out.data());
    }
}
BENCHMARK_CAPTURE(full_request_path, browser_asset, browser_head);
BENCHMARK_CAPTURE(full_request_path, wrk_minimal, wrk_head);

}  // namespace

BENCHMARK_MAIN();
