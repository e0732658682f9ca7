#pragma once
// Per-client-address limits (docs/security.md "Limits"): a cap on open connections and a token
// bucket for requests, shared by all workers. Memory is fixed: a table of `shards` x
// `slots_per_shard` entries allocated once; an address is looked up in a small window of slots
// (hash-seeded per process), and a full window evicts the least recently seen address that holds
// no connection (its bucket restarts full: the only leniency, and only under table pressure).
// Each shard has its own mutex, so workers contend only when two addresses hash to one shard.
// IPv6 clients are keyed by their /64 (one subscriber usually owns a whole /64).

#include "core/asio.hpp"

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <utility>

namespace bcp::proxy {

/// A client address as the limiter keys it: IPv4 as v4-mapped IPv6, IPv6 masked to /64.
struct ip_key {
    std::array<std::uint8_t, 16> bytes{};
    static ip_key from(const asio::ip::address& a);
    bool operator==(const ip_key&) const = default;
};

class ip_limits;

/// One counted connection; releases its slot when destroyed. Empty (counts nothing) when the
/// connection cap is off or the address could not be tracked.
class ip_connection {
  public:
    ip_connection() = default;
    ip_connection(ip_limits* owner, const ip_key& key) : owner_(owner), key_(key) {}
    ip_connection(ip_connection&& o) noexcept : owner_(o.owner_), key_(o.key_) {
        o.owner_ = nullptr;
    }
    ip_connection& operator=(ip_connection&& o) noexcept;
    ip_connection(const ip_connection&) = delete;
    ip_connection& operator=(const ip_connection&) = delete;
    ~ip_connection() { release(); }

  private:
    void release();
    ip_limits* owner_ = nullptr;
    ip_key key_;
};

class ip_limits {
  public:
    using clock = std::chrono::steady_clock;
    struct options {
        std::size_t max_connections = 0;  ///< per address; 0 = no cap
        double rate = 0;                  ///< requests per second per address; 0 = no limit
        double burst = 1;                 ///< bucket size (requests allowed at once)
    };
    static constexpr std::size_t shards = 64;
    static constexpr std::size_t slots_per_shard = 1024;
    static constexpr std::size_t window = 8;

    explicit ip_limits(const options& o);
    ~ip_limits();
    ip_limits(const ip_limits&) = delete;
    ip_limits& operator=(const ip_limits&) = delete;

    bool enabled() const { return slots_ != nullptr; }

    /// Counts a new connection from `key`. false = over the cap (refuse it).
    bool try_connect(const ip_key& key, ip_connection& out);
    /// Takes one request token. Returns 0 when allowed, else the whole seconds until a token is
    /// available again (for Retry-After, at least 1).
    unsigned take_request(const ip_key& key, clock::time_point now = clock::now());

    /// Addresses that could not get a slot (every slot in their window holds connections):
    /// served without per-IP limits, counted here.
    std::uint64_t untracked() const { return untracked_.load(std::memory_order_relaxed); }
    /// Entries evicted to make room for a new address.
    std::uint64_t evictions() const { return evictions_.load(std::memory_order_relaxed); }
    /// Open connections the table holds for `key` (tests).
    std::size_t connections(const ip_key& key);

  private:
    friend class ip_connection;
    struct slot;
    struct shard;
    void disconnect(const ip_key& key);
    std::pair<shard*, std::size_t> locate(const ip_key& key) const;
    slot* find(std::size_t base, const ip_key& key);
    slot* find_or_insert(std::size_t base, const ip_key& key, std::int64_t now_ms);
    bool is_free(const slot& s, std::int64_t now_ms) const;

    options options_;
    std::uint64_t seed_ = 0;
    std::unique_ptr<shard[]> shards_;
    std::unique_ptr<slot[]> slots_;
    std::atomic<std::uint64_t> untracked_{0};
    std::atomic<std::uint64_t> evictions_{0};
};

}  // namespace bcp::proxy
