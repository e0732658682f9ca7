#pragma once
// The health of one node (docs/architecture.md "Node health"): a small state machine fed by the
// active checker (check_passed / check_failed) and by requests (connect_failed / connect_succeeded,
// "passive" marking). Thread-safe: the checker thread and every worker use the same object. The
// request path asks admits() first: one atomic load while the node is healthy.
//
// Rules: a node starts healthy (a new node serves at once). `unhealthy_threshold` consecutive
// failures take it out; with active checks, `healthy_threshold` consecutive passed checks bring it
// back. Without active checks (interval 0) a passively marked node is admitted again after
// `retry_after`. A node without a health section is always admitted and never marked.

#include "config/config.hpp"

#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>

namespace bcp::health {

using steady = std::chrono::steady_clock;

/// What the admin endpoints show for one node (a copy; safe to keep).
struct status {
    std::string node_id;
    bool enabled = false;  ///< the node has a health section
    bool healthy = true;
    std::optional<std::chrono::system_clock::time_point> last_check;  ///< last active check
    std::string last_error;  ///< last failure (check or connect), empty if none yet
    unsigned consecutive_failures = 0;
    unsigned consecutive_successes = 0;
    std::uint64_t checks = 0;  ///< active checks run
    std::uint64_t failed_checks = 0;
    std::uint64_t passive_failures = 0;  ///< failed connects reported by requests
    std::uint64_t transitions = 0;       ///< healthy <-> unhealthy changes
};

/// Returned by the recording functions: whether the node changed state (for the log line).
enum class change { none, became_unhealthy, became_healthy };

class node_health {
  public:
    node_health(std::string node_id, config::health_options options);

    /// Replaces the thresholds and check settings (reload); the current state is kept.
    void set_options(config::health_options options);
    config::health_options options() const;

    /// Whether a new request may go to the node now. Lock-free while healthy.
    bool admits(steady::time_point now = steady::now());
    bool healthy() const { return healthy_.load(std::memory_order_acquire); }

    change check_passed(steady::time_point now = steady::now());
    change check_failed(std::string error, steady::time_point now = steady::now());
    /// A request could not connect (or the connect timed out). Ignored when passive is off.
    change connect_failed(std::string error, steady::time_point now = steady::now());
    /// A request connected: ends a run of passive failures. Lock-free when there was none.
    void connect_succeeded();

    status snapshot() const;
    const std::string& node_id() const { return id_; }

  private:
    change fail(std::string error, steady::time_point now);  // mutex held

    const std::string id_;
    std::atomic<bool> healthy_{true};
    std::atomic<unsigned> failures_{0};  // consecutive; written under mutex_, read lock-free
    mutable std::mutex mutex_;
    config::health_options options_;
    status status_;
    steady::time_point out_until_{};  // passive-only mode: admitted again from here
};

}  // namespace bcp::health
