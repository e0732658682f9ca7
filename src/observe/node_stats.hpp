#pragma once
// Per-node and per-reason figures for /metrics (docs/metrics.md). Each worker owns one
// `worker_stats`, written only by its own thread with relaxed atomics (no lock, no shared cache
// line on the hot path); a scrape sums every worker's figures into a `stats_snapshot`. Node
// figures are keyed by node id, so they survive reloads that add or remove nodes; requests that
// reached no node are filed under `no_node` ("-").

#include "observe/keyed.hpp"

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>

namespace bcp::observe {

/// The node label of requests answered before routing (gate refusals, unknown node or mount).
inline constexpr std::string_view no_node = "-";

/// Upper bounds (seconds) of the latency histogram buckets; +Inf is implicit.
inline constexpr std::array<double, 15> latency_buckets{
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0};

/// A Prometheus histogram with fixed buckets; observe() from the owner thread only.
struct histogram {
    std::array<std::atomic<std::uint64_t>, latency_buckets.size() + 1> counts{};  // last = +Inf
    std::atomic<std::uint64_t> sum_us{0};

    void observe(std::chrono::microseconds d);
};

/// Plain (non-atomic) sum of histograms: cumulative counts per bucket, as exposed.
struct histogram_totals {
    std::array<std::uint64_t, latency_buckets.size() + 1> counts{};  ///< not cumulative
    std::uint64_t count = 0;
    double sum_seconds = 0;

    void add(const histogram& h);
};

/// One node's figures on one worker.
struct node_stats {
    static constexpr unsigned max_status = 600;
    std::array<std::atomic<std::uint64_t>, max_status> responses{};  ///< by status code
    std::atomic<std::uint64_t> response_bytes{0};  ///< body bytes relayed to clients
    std::atomic<std::uint64_t> connect_errors{0};  ///< failed connects (incl. timeouts, TLS)
    std::atomic<std::uint64_t> tunnels_opened{0};
    std::atomic<std::int64_t> tunnels_active{0};
    std::atomic<std::uint64_t> tunnel_bytes_to_client{0};
    std::atomic<std::uint64_t> tunnel_bytes_to_node{0};
    histogram duration;  ///< request head complete -> last response byte written (no tunnels)
    histogram ttfb;      ///< start of the upstream exchange (incl. connect) -> response head

    void count_response(unsigned status) {
        responses[status < max_status ? status : 0].fetch_add(1, std::memory_order_relaxed);
    }
};

/// Everything a worker counts by label.
struct worker_stats {
    keyed<node_stats> nodes;  ///< refusals are counted by reason in observe::counters
};

/// One node's figures summed over all workers.
struct node_totals {
    std::map<unsigned, std::uint64_t> responses;  ///< status code -> count (non-zero only)
    std::uint64_t requests = 0;                   ///< sum of responses
    std::uint64_t response_bytes = 0;
    std::uint64_t connect_errors = 0;
    std::uint64_t tunnels_opened = 0;
    std::int64_t tunnels_active = 0;
    std::uint64_t tunnel_bytes_to_client = 0;
    std::uint64_t tunnel_bytes_to_node = 0;
    histogram_totals duration;
    histogram_totals ttfb;

    /// Responses whose status is in [from, to).
    std::uint64_t responses_between(unsigned from, unsigned to) const;
};

struct stats_snapshot {
    std::map<std::string, node_totals, std::less<>> nodes;  ///< by node id (and no_node)

    /// Adds one worker's figures.
    void add(const worker_stats& w);
};

}  // namespace bcp::observe
