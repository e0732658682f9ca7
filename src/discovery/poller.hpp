#pragma once
// The Scalelite poller (issue 17): on a thread of its own (never a worker's loop), every
// `interval` it reads Scalelite's registry — from Redis, SMEMBERS of `<namespace>:servers` then
// every server's HGETALL in one pipeline; or from the server API, one getServers call
// (api_source.hpp) — turns the records into nodes (scalelite.hpp), and
// feeds the tracker (tracker.hpp), which decides what is served. When the table changes it is
// written to the snapshot file and handed to `on_change` (on the poller's thread). A failure keeps
// the last good table, is logged once per change of state, and is retried with backoff.

#include "config/config.hpp"
#include "discovery/redis.hpp"
#include "discovery/scalelite.hpp"
#include "discovery/tracker.hpp"

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace bcp::discovery {

struct poller_options {
    config::scalelite_discovery source;  ///< Redis or the server API, and how to poll
    source_options connection;
    std::chrono::milliseconds max_backoff{60'000};  ///< between retries after failures
};

/// One read of Scalelite's registry on an open connection: SMEMBERS, then every HGETALL in one
/// pipeline, derived into nodes. nullopt with `error` when Redis failed or `servers` is not a set.
awaitable<std::optional<derivation>> read_registry(redis_connection& connection,
                                                   const std::string& namespace_prefix,
                                                   const std::map<std::string, std::string>& ids,
                                                   source_error& error);

/// What /metrics and the status page show about the source.
struct poller_state {
    bool up = false;                ///< the last poll succeeded
    std::int64_t last_success = 0;  ///< seconds since the epoch; 0 = never
    std::uint64_t polls = 0;
    std::uint64_t errors = 0;
    std::string last_error;               ///< the last failure's message ("" after a success)
    std::vector<skipped_record> skipped;  ///< of the last successful poll
    bool from_snapshot = false;           ///< serving the snapshot, no poll has succeeded yet
    std::string via;                      ///< "redis" or "api"
    std::string where;                    ///< the source's URL, without password or secret
};

class scalelite_poller {
  public:
    using change_handler = std::function<void(const std::vector<discovered_node>&)>;

    /// Loads the snapshot (when configured and present), so nodes() answers before the first
    /// poll. Does not start polling.
    scalelite_poller(poller_options options, change_handler on_change);
    ~scalelite_poller();
    scalelite_poller(const scalelite_poller&) = delete;
    scalelite_poller& operator=(const scalelite_poller&) = delete;

    /// Starts the thread; the first poll runs at once.
    void start();
    /// Stops polling and joins the thread (idempotent).
    void stop();

    /// The table to serve now (thread-safe).
    std::vector<discovered_node> nodes() const;
    poller_state state() const;

  private:
    struct impl;
    std::unique_ptr<impl> impl_;
};

}  // namespace bcp::discovery
