#pragma once
// The asset cache as the proxy sees it: the shared store, the open flights, and the counters for
// /metrics. One instance per server, shared by all workers; each worker writes only its own
// counters slot.

#include "cache/compressor.hpp"
#include "cache/flight.hpp"
#include "cache/store.hpp"

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

namespace bcp::cache {

/// What the proxy needs besides the store options (mapped from config by proxy/).
struct cache_options {
    store_options store;
    bool x_cache_header = true;
    std::chrono::milliseconds coalesce_wait{5'000};
    std::int64_t stale_if_error = 300;  ///< seconds, when the response names no bound itself
    std::int64_t heuristic_max = 86'400;
    compressor_options compression;
    /// Decoding a node's gzip: a decoded/encoded ratio above this (once past 64 KiB decoded) is
    /// a decompression bomb (a node fault: relayed, never stored).
    std::size_t max_decode_ratio = 100;
    /// Compression dictionaries (RFC 9842, cache/dictionary.hpp): Use-As-Dictionary on stored
    /// client assets, dcz deltas for requests naming a stored body as their dictionary.
    bool dictionaries = true;
};

/// Per-worker counters (written by one thread, read by any: relaxed atomics, own cache line).
struct alignas(64) worker_counters {
    using counter = std::atomic<std::uint64_t>;
    counter hits{0};           ///< answered from a fresh entry (incl. 304 to conditional requests)
    counter misses{0};         ///< a node request was made to fill the cache (leaders)
    counter coalesced{0};      ///< served from another request's fill (waiters)
    counter revalidations{0};  ///< stale entry confirmed by a node's 304
    counter stale{0};          ///< stale entry served because the node failed
    counter bypass{0};         ///< request or response not cacheable, relayed as before
    counter bytes_from_nodes{0};  ///< body bytes received by fills
    counter bytes_served{0};      ///< body bytes sent from the cache (hits and waiters)
    /// Per content coding served from the cache: body bytes sent, and the identity bytes they
    /// stand for (their ratio is the compression ratio clients see).
    std::array<counter, coding_count> coding_bytes{};
    std::array<counter, coding_count> coding_identity_bytes{};
    std::array<counter, coding_count> coding_responses{};
    counter decode_faults{0};  ///< node gzip bodies that did not decode within bounds
    // Compression dictionaries: requests that named one (Available-Dictionary, dcz accepted, on
    // an asset that may be sent as a delta), and of those: a dictionary we do not hold (ignored),
    // and a known one whose delta was not made yet (served another coding; the delta queued).
    // The deltas sent are coding_responses[dcz]; dcz_saved_bytes is what they saved against
    // the coding the client would have got otherwise.
    counter dictionary_requests{0};
    counter dictionary_unknown{0};
    counter dictionary_pending{0};
    counter dcz_saved_bytes{0};
};

/// One consistent-enough snapshot for /metrics.
struct snapshot {
    std::uint64_t hits = 0, misses = 0, coalesced = 0, revalidations = 0, stale = 0, bypass = 0;
    std::uint64_t bytes_from_nodes = 0, bytes_served = 0, decode_faults = 0;
    std::uint64_t dictionary_requests = 0, dictionary_unknown = 0, dictionary_pending = 0,
                  dcz_saved_bytes = 0, deltas = 0, delta_bytes = 0, retired = 0, retired_bytes = 0;
    std::array<std::uint64_t, coding_count> coding_bytes{}, coding_identity_bytes{},
        coding_responses{};
    std::uint64_t variant_bytes = 0;
    compressor_stats compression;
    std::uint64_t entries = 0, bodies = 0, memory = 0, max_size = 0, evictions = 0,
                  deduplicated = 0, purged = 0, flights_open = 0;
};

class shared_cache {
  public:
    shared_cache(cache_options options, unsigned workers)
        : options_(options),
          store_(options.store),
          compressor_(store_, options.compression),
          counters_(workers) {}

    const cache_options& options() const { return options_; }
    cache::store& entries() { return store_; }
    flight_table& flights() { return flights_; }
    cache::compressor& compression() { return compressor_; }
    worker_counters& counters(unsigned worker) { return counters_[worker]; }
    snapshot stats() const;

    /// Keys whose last fill grew past max_object_size without announcing its length (a fill
    /// cannot know in advance): relayed without the cache for `oversize_memory`, instead of
    /// being buffered and cut again.
    bool oversize(const std::string& key);
    void mark_oversize(const std::string& key);
    static constexpr std::chrono::minutes oversize_memory{10};

  private:
    cache_options options_;
    cache::store store_;
    cache::compressor compressor_;  // after store_: stopped (joined) before the store goes
    flight_table flights_;
    std::vector<worker_counters> counters_;
    std::mutex oversize_mu_;
    std::unordered_map<std::string, std::chrono::steady_clock::time_point> oversize_;
};

inline bool shared_cache::oversize(const std::string& key) {
    std::lock_guard lock(oversize_mu_);
    if (oversize_.empty()) {
        return false;
    }
    const auto it = oversize_.find(key);
    if (it == oversize_.end()) {
        return false;
    }
    if (std::chrono::steady_clock::now() - it->second > oversize_memory) {
        oversize_.erase(it);
        return false;
    }
    return true;
}

inline void shared_cache::mark_oversize(const std::string& key) {
    std::lock_guard lock(oversize_mu_);
    if (oversize_.size() >= 1024) {
        oversize_.clear();  // bounded: forgetting only costs one more cut fill per key
    }
    oversize_[key] = std::chrono::steady_clock::now();
}

inline snapshot shared_cache::stats() const {
    snapshot s;
    for (const auto& c : counters_) {
        const auto get = [](const worker_counters::counter& a) {
            return a.load(std::memory_order_relaxed);
        };
        s.hits += get(c.hits);
        s.misses += get(c.misses);
        s.coalesced += get(c.coalesced);
        s.revalidations += get(c.revalidations);
        s.stale += get(c.stale);
        s.bypass += get(c.bypass);
        s.bytes_from_nodes += get(c.bytes_from_nodes);
        s.bytes_served += get(c.bytes_served);
        s.decode_faults += get(c.decode_faults);
        s.dictionary_requests += get(c.dictionary_requests);
        s.dictionary_unknown += get(c.dictionary_unknown);
        s.dictionary_pending += get(c.dictionary_pending);
        s.dcz_saved_bytes += get(c.dcz_saved_bytes);
        for (std::size_t i = 0; i < coding_count; ++i) {
            s.coding_bytes[i] += get(c.coding_bytes[i]);
            s.coding_identity_bytes[i] += get(c.coding_identity_bytes[i]);
            s.coding_responses[i] += get(c.coding_responses[i]);
        }
    }
    const auto st = store_.stats();
    s.entries = st.entries;
    s.bodies = st.bodies;
    s.memory = st.memory;
    s.max_size = store_.options().max_size;
    s.evictions = st.evictions;
    s.deduplicated = st.deduplicated;
    s.purged = st.purged;
    s.deltas = st.deltas;
    s.delta_bytes = st.delta_bytes;
    s.retired = st.retired;
    s.retired_bytes = st.retired_bytes;
    s.flights_open = flights_.open();
    s.variant_bytes = st.variant_bytes;
    s.compression = compressor_.stats();
    return s;
}

}  // namespace bcp::cache
