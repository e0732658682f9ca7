#pragma once
// The proxy server: share-nothing workers (DESIGN.md §4). Each worker thread has its own
// io_context, its own SO_REUSEPORT acceptor per listener, its own upstream pool and counters.
// Shared between workers: the node table snapshot and the immutable settings.

#include "cache/cache.hpp"
#include "config/config.hpp"
#include "core/asio.hpp"
#include "health/node_health.hpp"
#include "observe/access_log.hpp"
#include "observe/node_stats.hpp"
#include "observe/refusals.hpp"
#include "proxy/reload.hpp"
#include "registry/node_table.hpp"

#include <array>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace bcp::proxy {

/// Totals over all workers (see observe/counters.hpp for the meaning of each).
struct totals {
    std::uint64_t connections_accepted = 0, connections_refused = 0, connections_active = 0;
    std::uint64_t requests = 0, responses_2xx = 0, responses_3xx = 0, responses_4xx = 0,
                  responses_5xx = 0, rejected = 0, not_found = 0;
    std::uint64_t upstream_errors = 0, upstream_timeouts = 0, upstream_retries = 0,
                  upstream_connects = 0, upstream_reuses = 0, node_unavailable = 0;
    std::uint64_t client_timeouts = 0, tunnels_opened = 0, tunnels_active = 0, bytes_to_clients = 0;
    /// Refused or cut clients by reason, indexed by observe::refusal (names: refusal_names).
    std::array<std::uint64_t, observe::refusal_names.size()> refusals{};
    std::uint64_t refused(observe::refusal r) const {
        return refusals[static_cast<std::size_t>(r)];
    }
};

class server {
  public:
    /// Builds everything that can fail (TLS contexts, listening sockets) before anything serves.
    /// Returns nullptr and sets `error` (naming the file or address) on failure.
    static std::unique_ptr<server> create(const config::proxy_config& config, std::string& error);
    ~server();
    server(const server&) = delete;
    server& operator=(const server&) = delete;

    /// Starts the worker threads. Call once.
    void start();
    /// Graceful stop (any thread, idempotent): stop accepting, close idle connections, let
    /// in-flight responses finish, cut what is left after `timeouts.shutdown`.
    void stop();
    /// Blocks until every worker has exited.
    void wait();

    /// Applies a new configuration (any thread; reloads are serialized): new requests see the new
    /// nodes and settings, requests and tunnels in flight finish on the old ones, idle connections
    /// to removed or moved nodes are closed, TLS certificates are re-read. Settings that need a
    /// restart keep their running value (warnings). Refused as a whole, with nothing changed,
    /// when a certificate or key cannot be loaded.
    reload_result reload(const config::proxy_config& next);
    /// The configuration in effect (a copy; any thread).
    config::proxy_config current_config() const;
    /// Health of every node in the current table, sorted by id (any thread).
    std::vector<health::status> node_health() const;

    /// The bound address of each listener, in config order (ports resolved when 0 was asked).
    std::vector<tcp::endpoint> endpoints() const;
    /// Counter totals over all workers; safe from any thread.
    totals counters() const;
    unsigned worker_count() const;

    /// Per-node and per-refusal-reason figures summed over all workers; any thread.
    observe::stats_snapshot stats() const;
    /// Idle upstream connections by node id, summed over workers. Asks every worker on its own
    /// thread and waits at most `wait` for the answers (a worker that does not answer in time,
    /// or has stopped, is left out); call from a thread that is not a worker.
    std::map<std::string, std::size_t> idle_connections(std::chrono::milliseconds wait) const;
    /// The node table requests are routed with right now.
    std::shared_ptr<const registry::node_table> nodes() const;
    /// True once stop() was called (draining, then stopped).
    bool draining() const;
    /// The access log, or nullptr when it is off.
    observe::access_log* access_log() const;
    /// The asset cache's figures (for /metrics), or nullopt when the cache is off. Any thread.
    std::optional<cache::snapshot> cache_stats() const;
    /// Drops every cached entry (node_id empty) or one node's; returns how many, or nullopt when
    /// the cache is off. Any thread.
    std::optional<std::size_t> purge_cache(std::string_view node_id = {});

  private:
    server();
    struct worker;
    struct impl;
    std::unique_ptr<impl> impl_;
};

}  // namespace bcp::proxy
