#include "observe/node_stats.hpp"

#include <algorithm>

namespace bcp::observe {

void histogram::observe(std::chrono::microseconds d) {
    const double seconds = static_cast<double>(d.count()) / 1e6;
    const auto it = std::lower_bound(latency_buckets.begin(), latency_buckets.end(), seconds);
    const auto index = static_cast<std::size_t>(it - latency_buckets.begin());
    counts[index].fetch_add(1, std::memory_order_relaxed);
    sum_us.fetch_add(static_cast<std::uint64_t>(std::max<std::int64_t>(0, d.count())),
                     std::memory_order_relaxed);
}

void histogram_totals::add(const histogram& h) {
    for (std::size_t i = 0; i < counts.size(); ++i) {
        const auto n = h.counts[i].load(std::memory_order_relaxed);
        counts[i] += n;
        count += n;
    }
    sum_seconds += static_cast<double>(h.sum_us.load(std::memory_order_relaxed)) / 1e6;
}

std::uint64_t node_totals::responses_between(unsigned from, unsigned to) const {
    std::uint64_t n = 0;
    for (auto it = responses.lower_bound(from); it != responses.end() && it->first < to; ++it) {
        n += it->second;
    }
    return n;
}

void stats_snapshot::add(const worker_stats& w) {
    const auto get = [](const auto& a) { return a.load(std::memory_order_relaxed); };
    w.nodes.for_each([&](std::string_view id, const node_stats& s) {
        auto it = nodes.find(id);
        if (it == nodes.end()) {
            it = nodes.emplace(std::string(id), node_totals{}).first;
        }
        node_totals& t = it->second;
        for (unsigned code = 0; code < node_stats::max_status; ++code) {
            if (const auto n = get(s.responses[code]); n != 0) {
                t.responses[code] += n;
                t.requests += n;
            }
        }
        t.response_bytes += get(s.response_bytes);
        t.connect_errors += get(s.connect_errors);
        t.tunnels_opened += get(s.tunnels_opened);
        t.tunnels_active += get(s.tunnels_active);
        t.tunnel_bytes_to_client += get(s.tunnel_bytes_to_client);
        t.tunnel_bytes_to_node += get(s.tunnel_bytes_to_node);
        t.duration.add(s.duration);
        t.ttfb.add(s.ttfb);
    });
}

}  // namespace bcp::observe
