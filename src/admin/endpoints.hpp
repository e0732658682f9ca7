#pragma once
// The admin listener's built-in endpoints (docs/metrics.md, docs/config-reference.md `admin`):
//   GET /metrics      Prometheus text format
//   GET /healthz      200 "ok" while serving, 503 "draining" after stop; JSON with ?format=json
//                     or Accept: application/json
//   GET /nodes        JSON list of the nodes with their figures
//   GET /status.json  everything the status page shows (polled by it)
//   GET / , /status   the status page (one self-contained HTML page)
//   POST /cache/purge[?node=ID]  drops every cached response, or one node's (JSON answer)
// Figures come from the proxy server; node health and cache figures from optional providers
// (set by whoever owns them; absent = the metrics and page leave them out).

#include "admin/listener.hpp"
#include "cache/cache.hpp"
#include "health/node_health.hpp"
#include "observe/node_stats.hpp"
#include "proxy/server.hpp"

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace bcp::admin {

/// One node's health as the admin endpoints show it (the health checker's snapshot).
using node_health_view = health::status;

/// Cache figures (the cache's stats()).
using cache_view = cache::snapshot;

/// A discovery source's figures (issue 17), for /metrics and /status.json.
struct discovery_view {
    std::string source;             ///< "scalelite"
    std::string via;                ///< "redis" or "api" (Scalelite's server API)
    std::string where;              ///< the source's URL, without password or secret
    bool up = false;                ///< the last poll succeeded
    std::int64_t last_success = 0;  ///< seconds since the epoch; 0 = never
    std::uint64_t polls = 0;
    std::uint64_t errors = 0;
    std::uint64_t skipped = 0;  ///< records of the last successful poll that are not served
    std::uint64_t nodes = 0;    ///< nodes it adds now
    std::string last_error;
    bool from_snapshot = false;
};

struct sources {
    proxy::server* proxy = nullptr;                            ///< required; outlives the listener
    std::function<std::vector<node_health_view>()> health;     ///< optional
    std::function<std::optional<cache_view>()> cache;          ///< optional
    std::function<std::optional<discovery_view>()> discovery;  ///< optional
    /// Drops all cached entries (empty id) or one node's; the count, or nullopt when the cache
    /// is off. Optional: without it there is no POST /cache/purge.
    std::function<std::optional<std::size_t>(std::string_view node_id)> purge_cache;
    std::chrono::system_clock::time_point started = std::chrono::system_clock::now();
    /// How long /metrics waits for the workers' pool figures.
    std::chrono::milliseconds worker_wait{250};
};

/// Registers the endpoints above on `l`; `s` is kept alive by the handlers.
void register_endpoints(listener& l, std::shared_ptr<const sources> s);

/// The /metrics body.
std::string metrics_text(const sources& s);
/// The /status.json body (and /nodes, which is its "nodes" member).
std::string status_json(const sources& s, bool nodes_only = false);

/// The q-quantile (0..1) of a histogram, interpolated within its bucket like Prometheus's
/// histogram_quantile(); NaN when empty.
double quantile(const observe::histogram_totals& h, double q);

/// The status page (status_page.cpp).
std::string_view status_page_html();

}  // namespace bcp::admin
