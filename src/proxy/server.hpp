#pragma once
// The proxy server: share-nothing workers (DESIGN.md §4). Each worker thread has its own
// io_context, its own SO_REUSEPORT acceptor per listener, its own upstream pool and counters.
// Shared between workers: the node table snapshot and the immutable settings.

#include "config/config.hpp"
#include "core/asio.hpp"
#include "observe/access_log.hpp"
#include "observe/node_stats.hpp"
#include "registry/node_table.hpp"

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace bcp::proxy {

/// Totals over all workers (see observe/counters.hpp for the meaning of each).
struct totals {
    std::uint64_t connections_accepted = 0, connections_refused = 0, connections_active = 0;
    std::uint64_t requests = 0, responses_2xx = 0, responses_3xx = 0, responses_4xx = 0,
                  responses_5xx = 0, rejected = 0, not_found = 0;
    std::uint64_t upstream_errors = 0, upstream_timeouts = 0, upstream_retries = 0,
                  upstream_connects = 0, upstream_reuses = 0;
    std::uint64_t client_timeouts = 0, tunnels_opened = 0, tunnels_active = 0, bytes_to_clients = 0;
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

  private:
    server();
    struct worker;
    struct impl;
    std::unique_ptr<impl> impl_;
};

}  // namespace bcp::proxy
