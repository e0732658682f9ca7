#pragma once
// Active node health checks (docs/architecture.md "Node health"): one thread with its own event
// loop runs, for every node with a health section and a non-zero interval, a GET of the node's
// client root (or health.path) every interval, and feeds the result into the node's
// health::node_health. A check passes on a 2xx or 3xx response head within the timeout.
// update() follows reloads: removed nodes stop being checked, added ones start at once.

#include "health/node_health.hpp"
#include "registry/node_table.hpp"

#include <boost/asio/ssl/context.hpp>

#include <memory>

namespace bcp::proxy {

class health_checker {
  public:
    /// `tls` (for https nodes) must outlive the checker.
    health_checker(boost::asio::ssl::context* tls, bool verify);
    ~health_checker();
    health_checker(const health_checker&) = delete;
    health_checker& operator=(const health_checker&) = delete;

    /// Starts the thread. Call once.
    void start(std::shared_ptr<const registry::node_table> table);
    /// Follows a new node table (any thread).
    void update(std::shared_ptr<const registry::node_table> table);
    /// Stops checking and joins the thread (idempotent).
    void stop();

  private:
    struct impl;
    std::unique_ptr<impl> impl_;
};

/// Logs a state change of a node ("node bbb-01 is unhealthy: ..."); `why` is the last failure.
void log_health_change(const health::node_health& node, health::change what,
                       const std::string& why);

}  // namespace bcp::proxy
