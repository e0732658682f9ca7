#pragma once
// Compression off the event loops (DESIGN.md §9: compression belongs to the cache). A stored body
// of a compressible type gets its br, zstd and gzip variants made once, by a small pool of
// threads, and attached to the body (content-addressed: one compression per distinct body, so per
// BBB version, not per node). Until a variant is attached the hit path serves the best one there
// is; identity is always a valid answer, so a full queue drops work instead of growing.
//
// The same threads make dictionary deltas (RFC 9842 dcz, cache/dictionary.hpp): a stored body
// compressed against another stored body that a client holds, once per (dictionary, body) pair.
//
// The threads are named "bcp-compress" and run at nice 10 (background_nice).
// Thread-safe. The store must outlive the compressor.

#include "cache/encoding.hpp"
#include "cache/store.hpp"

#include <array>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_set>
#include <vector>

namespace bcp::cache {

struct compressor_options {
    unsigned workers = 1;        ///< 0 = compression off (nothing is ever queued)
    std::size_t queue = 64;      ///< bodies waiting; beyond this a request is skipped
    std::size_t min_size = 256;  ///< smaller bodies are not worth a variant
    double max_ratio = 0.95;     ///< a variant is kept only if at most this × identity
};

/// The compressor threads' nice value (Linux: per thread): below the workers' priority.
inline constexpr int background_nice = 10;

/// Figures for /metrics (each read atomically).
struct compressor_stats {
    std::array<std::uint64_t, coding_count> runs{};       ///< compressions made, per coding
    std::array<std::uint64_t, coding_count> bytes_in{};   ///< identity bytes compressed
    std::array<std::uint64_t, coding_count> bytes_out{};  ///< their encoded size
    std::array<std::uint64_t, coding_count> cpu_ns{};     ///< thread CPU time spent
    std::uint64_t queued = 0;                             ///< bodies waiting now
    std::uint64_t skipped_full = 0;                       ///< requests dropped: the queue was full
    std::uint64_t no_gain = 0;  ///< variants not kept: not smaller than max_ratio × identity
    std::uint64_t failed = 0;   ///< library failures
    /// Dictionary deltas made but not kept: the store's delta bounds (the deltas made are the
    /// coding::dcz figures above).
    std::uint64_t delta_refused = 0;
};

class compressor {
  public:
    compressor(store& s, compressor_options o);
    ~compressor();
    compressor(const compressor&) = delete;
    compressor& operator=(const compressor&) = delete;

    /// Asks for the variants in `wanted` (a cache::bit mask; identity ignored) of stored body
    /// `b`, once per body (later calls for the same body are no-ops). `text` selects brotli's
    /// text mode. Returns false when nothing was queued (off, too small, asked before, or the
    /// queue is full — counted).
    bool request(const std::shared_ptr<const body>& b, unsigned wanted, bool text);

    /// Asks for `target` as a dcz delta against `dictionary` (both stored bodies), once per pair
    /// (a pair asked before is not asked again, whether its delta was kept or not; the memory of
    /// asked pairs is bounded). Deltas go ahead of variant work in the queue. False when nothing
    /// was queued.
    bool request_delta(const std::shared_ptr<const body>& target,
                       const std::shared_ptr<const body>& dictionary);

    compressor_stats stats() const;
    const compressor_options& options() const { return options_; }

    /// Stops the threads (queued work is dropped); idempotent.
    void stop();

  private:
    struct job {
        std::shared_ptr<const body> b;
        unsigned wanted = 0;
        bool text = true;
        std::shared_ptr<const body> dictionary;  ///< set: a delta job
    };
    bool enqueue(job j, bool first = false);  ///< first: ahead of the queue (deltas)
    void run();
    void make(const job& j);
    void make_delta(const job& j);

    store& store_;
    compressor_options options_;
    mutable std::mutex mu_;
    std::condition_variable cv_;
    std::deque<job> queue_;
    std::unordered_set<std::string> deltas_asked_;  ///< dictionary hash + target hash
    bool stopping_ = false;
    std::vector<std::thread> threads_;

    using counter = std::atomic<std::uint64_t>;
    std::array<counter, coding_count> runs_{};
    std::array<counter, coding_count> bytes_in_{};
    std::array<counter, coding_count> bytes_out_{};
    std::array<counter, coding_count> cpu_ns_{};
    counter skipped_full_{0};
    counter no_gain_{0};
    counter failed_{0};
    counter delta_refused_{0};
};

}  // namespace bcp::cache
