#include "cache/compressor.hpp"

#include "cache/codec.hpp"
#include "cache/dictionary.hpp"
#include "core/log.hpp"

#include <pthread.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>

namespace bcp::cache {
namespace {

std::uint64_t thread_cpu_ns() {
    timespec ts{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000'000u +
           static_cast<std::uint64_t>(ts.tv_nsec);
}

// The order variants are made in: zstd first (close to br's size at a fraction of its time, and
// every current browser takes it), then br (smallest), then gzip (for the rest).
constexpr std::array<coding, 3> order{coding::zstd, coding::br, coding::gzip};

}  // namespace

compressor::compressor(store& s, compressor_options o) : store_(s), options_(o) {
    for (unsigned i = 0; i < options_.workers; ++i) {
        threads_.emplace_back([this] { run(); });
    }
}

compressor::~compressor() {
    stop();
}

void compressor::stop() {
    {
        std::lock_guard lock(mu_);
        stopping_ = true;
        queue_.clear();
    }
    cv_.notify_all();
    for (auto& t : threads_) {
        if (t.joinable()) {
            t.join();
        }
    }
}

bool compressor::request(const std::shared_ptr<const body>& b, unsigned wanted, bool text) {
    wanted &= ~bit(coding::identity);
    if (threads_.empty() || wanted == 0 || b->size < options_.min_size) {
        return false;
    }
    if (b->compression_requested.exchange(true, std::memory_order_acq_rel)) {
        return false;
    }
    // Identity (or the node's gzip) stays a valid answer; a later fill of the same body does not
    // ask again, so with a full queue this body keeps what it has until it is evicted.
    return enqueue({b, wanted, text, nullptr});
}

bool compressor::request_delta(const std::shared_ptr<const body>& target,
                               const std::shared_ptr<const body>& dictionary) {
    // Over 16 MiB: no delta (the compressor's memory stays bounded). A target holding all the
    // deltas it may keep gets no more work: what a client can make us compute is bounded per body.
    if (threads_.empty() || target->size > dcz_max_input || dictionary->size > dcz_max_input ||
        target->delta_count() >= store_.options().max_deltas_per_body ||
        target->find_delta(dictionary->hash) != nullptr) {
        return false;
    }
    std::string pair(reinterpret_cast<const char*>(dictionary->hash.data()),
                     dictionary->hash.size());
    pair.append(reinterpret_cast<const char*>(target->hash.data()), target->hash.size());
    {
        std::lock_guard lock(mu_);
        if (deltas_asked_.contains(pair)) {
            return false;
        }
        if (deltas_asked_.size() >= 16 * 1024) {
            deltas_asked_.clear();  // bounded: a pair forgotten here is at worst made again
        }
        deltas_asked_.insert(std::move(pair));
    }
    // Ahead of variant work: the client asking would otherwise download the whole file, and a
    // delta against a similar file costs a fraction of a br variant (docs/benchmarks.md).
    return enqueue({target, 0, true, dictionary}, true);
}

bool compressor::enqueue(job j, bool first) {
    {
        std::lock_guard lock(mu_);
        if (stopping_) {
            return false;
        }
        if (queue_.size() >= options_.queue) {
            skipped_full_.fetch_add(1, std::memory_order_relaxed);
            return false;
        }
        if (first) {
            queue_.push_front(std::move(j));
        } else {
            queue_.push_back(std::move(j));
        }
    }
    cv_.notify_one();
    return true;
}

void compressor::run() {
    // Background work: named for top -H and ps, and below the event loops' priority, so a cold
    // join storm's requests win the CPU over making br (which may take seconds per bundle).
    pthread_setname_np(pthread_self(), "bcp-compress");
    errno = 0;
    if (setpriority(PRIO_PROCESS, static_cast<id_t>(gettid()), background_nice) != 0) {
        log::get("cache")->debug("compressor thread: setpriority: {}", std::strerror(errno));
    }
    while (true) {
        job j;
        {
            std::unique_lock lock(mu_);
            cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
            if (stopping_) {
                return;
            }
            j = std::move(queue_.front());
            queue_.pop_front();
        }
        try {
            if (j.dictionary) {
                make_delta(j);
            } else {
                make(j);
            }
        } catch (const std::exception& e) {
            // bad_alloc for a huge body, say: the body keeps the variants it has.
            failed_.fetch_add(1, std::memory_order_relaxed);
            log::get("cache")->warn("compression failed: {}", e.what());
        }
    }
}

void compressor::make(const job& j) {
    const auto in = j.b->view();
    for (const coding c : order) {
        if ((j.wanted & bit(c)) == 0 || j.b->variant(c) != nullptr) {
            continue;
        }
        {
            std::lock_guard lock(mu_);
            if (stopping_) {
                return;
            }
        }
        const auto i = static_cast<std::size_t>(c);
        const auto start = thread_cpu_ns();
        auto out = compress(c, in, j.text);
        cpu_ns_[i].fetch_add(thread_cpu_ns() - start, std::memory_order_relaxed);
        if (!out) {
            failed_.fetch_add(1, std::memory_order_relaxed);
            continue;
        }
        runs_[i].fetch_add(1, std::memory_order_relaxed);
        bytes_in_[i].fetch_add(in.size(), std::memory_order_relaxed);
        bytes_out_[i].fetch_add(out->size(), std::memory_order_relaxed);
        if (static_cast<double>(out->size()) >
            options_.max_ratio * static_cast<double>(in.size())) {
            no_gain_.fetch_add(1, std::memory_order_relaxed);
            continue;
        }
        if (!store_.attach_variant(j.b, c, std::move(*out))) {
            // Evicted meanwhile (or the coding arrived another way): the rest is wasted too.
            if (!j.b->variant(c)) {
                return;
            }
        }
    }
}

void compressor::make_delta(const job& j) {
    if (j.b->find_delta(j.dictionary->hash) != nullptr) {
        return;
    }
    constexpr auto i = static_cast<std::size_t>(coding::dcz);
    const auto start = thread_cpu_ns();
    // The stored body's hash is its SHA-256: not computed again for the dcz header.
    auto out = compress_dcz(j.dictionary->view(), j.b->view(), dcz_level, &j.dictionary->hash);
    cpu_ns_[i].fetch_add(thread_cpu_ns() - start, std::memory_order_relaxed);
    if (!out) {
        failed_.fetch_add(1, std::memory_order_relaxed);
        return;
    }
    runs_[i].fetch_add(1, std::memory_order_relaxed);
    bytes_in_[i].fetch_add(j.b->size, std::memory_order_relaxed);
    bytes_out_[i].fetch_add(out->size(), std::memory_order_relaxed);
    if (!store_.attach_delta(j.b, {j.dictionary->hash, std::move(*out)})) {
        delta_refused_.fetch_add(1, std::memory_order_relaxed);
    }
}

compressor_stats compressor::stats() const {
    compressor_stats s;
    for (std::size_t i = 0; i < coding_count; ++i) {
        s.runs[i] = runs_[i].load(std::memory_order_relaxed);
        s.bytes_in[i] = bytes_in_[i].load(std::memory_order_relaxed);
        s.bytes_out[i] = bytes_out_[i].load(std::memory_order_relaxed);
        s.cpu_ns[i] = cpu_ns_[i].load(std::memory_order_relaxed);
    }
    {
        std::lock_guard lock(mu_);
        s.queued = queue_.size();
    }
    s.skipped_full = skipped_full_.load(std::memory_order_relaxed);
    s.no_gain = no_gain_.load(std::memory_order_relaxed);
    s.failed = failed_.load(std::memory_order_relaxed);
    s.delta_refused = delta_refused_.load(std::memory_order_relaxed);
    return s;
}

}  // namespace bcp::cache
