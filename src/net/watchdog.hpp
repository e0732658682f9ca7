#pragma once
// One deadline per connection direction, cheap to re-arm: arm() only stores a time point and
// touches the timer only when the new deadline is earlier than the one it waits for (or when no
// wait is pending). When the deadline passes, the watchdog calls its action once (typically:
// close the socket, which makes the pending read or write complete with an error) and records
// that it fired.
//
// The watchdog runs on its own: its timer's completion handler checks the deadline, so nothing
// has to be co_awaited beside the work it guards (no coroutine or parallel group per request;
// docs/benchmarks.md, finding 5). It must be created, armed and destroyed on its executor's
// thread. Destroying it stops the action from ever running, even if the timer already expired and
// its handler is queued: the handler shares the timer and action with the watchdog and finds the
// action gone.

#include "core/asio.hpp"

#include <chrono>
#include <functional>
#include <memory>
#include <stdexcept>

namespace bcp::net {

class watchdog {
  public:
    using clock = std::chrono::steady_clock;

    /// `executor`: an io_context's (every worker, socket and test here has one).
    watchdog(const asio::any_io_executor& executor, std::function<void()> on_expire)
        : state_(std::make_shared<state>(executor, std::move(on_expire))) {}
    ~watchdog() {
        state_->on_expire = nullptr;
        state_->timer.cancel();
    }
    watchdog(const watchdog&) = delete;
    watchdog& operator=(const watchdog&) = delete;

    /// Fire `timeout` from now (replacing any earlier arming).
    void arm(clock::duration timeout) { arm_at(clock::now() + timeout); }
    void arm_at(clock::time_point deadline) {
        auto& s = *state_;
        s.deadline = deadline;
        if (!s.waiting || deadline < s.timer.expiry()) {
            s.timer.expires_at(deadline);  // a pending wait completes as superseded
            wait(state_);
        }
    }
    /// No deadline. A pending timer wait stays: when it completes it finds nothing to do, so an
    /// arm/disarm per operation costs no timer operation.
    void disarm() { state_->deadline = clock::time_point::max(); }

    /// True once the action ran (until reset()).
    bool fired() const { return state_->fired; }
    void reset() { state_->fired = false; }

  private:
    // The timer holds the io_context's own executor (8 bytes) rather than an any_io_executor
    // (56): every connection keeps a watchdog state (docs/benchmarks.md, "Round 4").
    using timer_type = asio::basic_waitable_timer<clock, asio::wait_traits<clock>,
                                                  asio::io_context::executor_type>;
    static asio::io_context::executor_type io_executor(const asio::any_io_executor& executor) {
        if (const auto* io = executor.target<asio::io_context::executor_type>()) {
            return *io;
        }
        throw std::invalid_argument("net::watchdog: not an io_context executor");
    }

    struct state {
        state(const asio::any_io_executor& executor, std::function<void()> action)
            : timer(io_executor(executor)), on_expire(std::move(action)) {}
        timer_type timer;
        std::function<void()> on_expire;  ///< empty once the watchdog is gone
        clock::time_point deadline = clock::time_point::max();
        unsigned generation = 0;  ///< identifies the latest wait; older ones are superseded
        bool waiting = false;
        bool fired = false;
    };

    static void wait(const std::shared_ptr<state>& s) {
        const unsigned generation = ++s->generation;
        s->waiting = true;
        s->timer.async_wait([s, generation](const error_code& ec) {
            if (generation != s->generation || !s->on_expire) {
                return;  // superseded by an earlier deadline, or the watchdog is gone
            }
            s->waiting = false;
            if (ec && ec != asio::error::operation_aborted) {
                return;
            }
            if (s->deadline == clock::time_point::max()) {
                return;  // disarmed: the next arm() starts a new wait
            }
            if (clock::now() >= s->deadline) {
                s->deadline = clock::time_point::max();
                s->fired = true;
                s->on_expire();  // may destroy the watchdog's owner; s keeps the state alive
                return;
            }
            s->timer.expires_at(s->deadline);  // re-armed later while waiting
            wait(s);
        });
    }

    std::shared_ptr<state> state_;
};

}  // namespace bcp::net
