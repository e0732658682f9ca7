#pragma once
// Request coalescing: concurrent misses (or revalidations) for one key make one upstream request.
// The first request for a key becomes the leader of a `flight`; later ones join it as waiters and
// are served from it — streamed from the fill buffer while the leader is still receiving the
// body, not after.
//
// Workers have one io_context each, so a waiter may sit on another thread than the leader. The
// leader never touches a waiter's objects: it marks the flight under the flight's mutex and posts
// a wake-up to each waiting waiter's own executor, where the waiter's timer is cancelled. A waiter
// waits with a deadline (its timer expires) and then decides for itself (direct fetch, or close).

#include "cache/fill_buffer.hpp"
#include "cache/store.hpp"
#include "core/asio.hpp"

#include <array>
#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

namespace bcp::cache {

class flight {
  public:
    enum class state {
        pending,    ///< the leader is waiting for the node's response head
        streaming,  ///< head known (meta), body arriving in `fill`
        /// The fill ended: every byte is in `fill` (`filled` is final), and `result` is the
        /// published entry (nullptr when the body was complete but not storable, e.g. a node's
        /// gzip that did not decode: streaming readers still finish it). Without a fill, a 304
        /// refreshed `result`.
        complete,
        failed,       ///< the node failed; waiters decide (stale-if-error, direct fetch, close)
        uncacheable,  ///< the response may not be shared: waiters fetch for themselves
    };

    /// What a waiter sees. `fill` bytes [0, filled) may be read without the lock.
    struct view {
        state s = state::pending;
        /// streaming: the node's response as it arrives (head, validators; no content). Its
        /// length is 0 when the node did not announce one: the end is `complete`.
        std::shared_ptr<const entry> meta;
        std::shared_ptr<const fill_buffer> fill;  ///< streaming/complete: the node's bytes
        std::size_t filled = 0;
        std::shared_ptr<const entry> result;  ///< complete: the published entry
        bool timed_out = false;               ///< the wait's deadline passed with nothing new
    };

    /// A waiter's handle; the timer lives on the waiter's executor.
    class waiter {
      public:
        explicit waiter(asio::any_io_executor ex) : timer_(std::move(ex)) {}

      private:
        friend class flight;
        asio::steady_timer timer_;
    };

    explicit flight(std::string key) : key_(std::move(key)) {}
    const std::string& key() const { return key_; }

    // Leader side (any one thread).
    void stream(std::shared_ptr<const entry> meta, std::shared_ptr<const fill_buffer> fill);
    void progress(std::size_t filled);
    void complete(std::shared_ptr<const entry> result);
    void fail(state s);  ///< failed or uncacheable; idempotent once finished

    // Waiter side.
    std::shared_ptr<waiter> join(asio::any_io_executor ex);
    /// Returns as soon as there is news for a waiter that has seen the head (or not) and consumed
    /// `have` bytes: the flight finished, the head arrived, or more bytes were filled. Otherwise at
    /// `deadline`, with view.timed_out set.
    awaitable<view> next(waiter& w, bool head_seen, std::size_t have,
                         std::chrono::steady_clock::time_point deadline);
    view peek() const;

  private:
    struct waiter_rec {
        std::weak_ptr<waiter> w;
        const waiter* id = nullptr;  ///< identity only, never dereferenced
        asio::any_io_executor ex;
        bool waiting = false;
    };
    void wake_locked(std::vector<waiter_rec>& out);
    void wake(std::vector<waiter_rec>& woken);

    const std::string key_;
    mutable std::mutex mu_;
    state state_ = state::pending;
    std::shared_ptr<const entry> meta_;
    std::shared_ptr<const fill_buffer> fill_;
    std::size_t filled_ = 0;
    std::shared_ptr<const entry> result_;
    std::vector<waiter_rec> waiters_;
};

/// Open flights by key, sharded like the store. A leader must call finish() (use `leadership`).
class flight_table {
  public:
    /// The open flight for `key`, or a new one with `leader` set true.
    std::shared_ptr<flight> lead_or_join(const std::string& key, bool& leader);
    /// Removes the flight (only if it is still the open one for its key).
    void finish(const std::shared_ptr<flight>& f);
    std::size_t open() const;

  private:
    struct shard {
        mutable std::mutex mu;
        std::unordered_map<std::string, std::shared_ptr<flight>> open;
    };
    shard& shard_for(const std::string& key);
    std::array<shard, 16> shards_;
};

/// RAII for a leader: if the leader leaves without completing (error, exception, client gone
/// before the node answered), the flight fails so waiters stop waiting, and it leaves the table.
class leadership {
  public:
    leadership(flight_table& table, std::shared_ptr<flight> f) : table_(table), f_(std::move(f)) {}
    ~leadership() {
        if (f_) {
            f_->fail(flight::state::failed);
            table_.finish(f_);
        }
    }
    leadership(const leadership&) = delete;
    leadership& operator=(const leadership&) = delete;
    flight& get() { return *f_; }
    /// Closes the flight to new joiners (a fresh entry now serves them from the store).
    void close() {
        if (f_) {
            table_.finish(f_);
        }
    }

  private:
    flight_table& table_;
    std::shared_ptr<flight> f_;
};

}  // namespace bcp::cache
