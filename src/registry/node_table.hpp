#pragma once
// The node table: which node ids exist and where each one is. Requests read an immutable snapshot
// (shared_ptr<const node_table>); a reload builds a new table and hands it to every worker, so a
// request in flight keeps the table it started with.

#include "config/config.hpp"
#include "core/origin.hpp"
#include "health/node_health.hpp"

#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace bcp::registry {

/// A path below a node's mounts that accepts POST (docs/security.md "POST").
struct post_rule {
    std::string path;     ///< below the mount, without a leading '/': "feedback"
    bool cached = false;  ///< answers are stored by the cache, keyed by the body's hash
};

struct node_entry {
    std::string id;
    origin upstream;
    std::string origin_text;  ///< upstream.to_string(): for Location rewriting
    std::string authority;    ///< upstream.authority(): the Host header we send
    std::vector<std::string> mounts;
    std::string source;  ///< where the node came from: "static" or "scalelite"
    /// Identifies "the same node at the same address": upstream pools are keyed by it, so a node
    /// whose URL changes on reload never reuses connections to its old address.
    std::string pool_key;
    /// Never null. Shared with the health checker; kept across reloads while pool_key stays.
    std::shared_ptr<health::node_health> health;
    std::vector<post_rule> post;      ///< empty: every POST to the node is refused (405)
    std::uint64_t post_max_body = 0;  ///< larger POST bodies: 413
    std::chrono::milliseconds post_cache_validity{0};  ///< of a cached POST answer without one

    bool has_mount(std::string_view mount) const;
    /// The POST rule for /<id>/<mount>/<rest> (the path without its query), or nullptr when
    /// POST is not accepted there.
    const post_rule* find_post(std::string_view mount, std::string_view rest) const;
};

class node_table {
  public:
    node_table() = default;
    explicit node_table(const std::vector<config::node>& nodes);
    /// A reload's table: nodes with the same pool_key as in `previous` keep its health state.
    node_table(const std::vector<config::node>& nodes, const node_table* previous);

    /// Exact, case-sensitive match; nullptr when unknown.
    const node_entry* find(std::string_view id) const;
    const std::vector<node_entry>& nodes() const { return nodes_; }

  private:
    std::vector<node_entry> nodes_;  // sorted by id
};

/// Holds the current snapshot for the control plane (reload, health checker, admin figures).
/// Workers do not read it per request: each keeps its own copy in its worker_env, replaced on its
/// own thread by the reload. A mutex rather than std::atomic<std::shared_ptr>: libstdc++ 12's
/// atomic load releases its internal lock with relaxed order, which ThreadSanitizer reports (and
/// the C++ model does not promise) as a race between the reader's copy and the writer's release.
class table_holder {
  public:
    explicit table_holder(std::shared_ptr<const node_table> initial)
        : current_(std::move(initial)) {}
    std::shared_ptr<const node_table> get() const {
        std::lock_guard lock(mutex_);
        return current_;
    }
    void set(std::shared_ptr<const node_table> next) {
        std::lock_guard lock(mutex_);
        current_.swap(next);
    }

  private:
    mutable std::mutex mutex_;
    std::shared_ptr<const node_table> current_;
};

}  // namespace bcp::registry
