#pragma once
// One deadline per connection direction, cheap to move: arm() only stores a time point (and
// touches the timer only when the new deadline is earlier than the one it waits for). When the
// deadline passes, the watchdog calls its action once (typically: close the socket, which makes
// the pending read or write complete with an error) and records that it fired.
//
// Usage: run() must be co_awaited alongside the work it guards, e.g.
//   co_await (work() || dog.run());
// run() never returns on its own; it ends when cancelled (when work() completes).

#include "core/asio.hpp"

#include <chrono>
#include <functional>

namespace bcp::net {

class watchdog {
  public:
    using clock = std::chrono::steady_clock;

    watchdog(asio::any_io_executor executor, std::function<void()> on_expire)
        : timer_(std::move(executor)), on_expire_(std::move(on_expire)) {
        timer_.expires_at(clock::time_point::max());
    }

    /// Fire `timeout` from now (replacing any earlier arming).
    void arm(clock::duration timeout) { arm_at(clock::now() + timeout); }
    void arm_at(clock::time_point deadline) {
        deadline_ = deadline;
        if (deadline_ < timer_.expiry()) {
            timer_.expires_at(deadline_);  // wakes run() so it waits for the earlier time
        }
    }
    void disarm() { deadline_ = clock::time_point::max(); }

    /// True once the action ran (until reset()).
    bool fired() const { return fired_; }
    void reset() { fired_ = false; }

    awaitable<void> run() {
        while (true) {
            auto [ec] = co_await timer_.async_wait(use_nothrow);
            if (ec && ec != asio::error::operation_aborted) {
                co_return;
            }
            if (ec == asio::error::operation_aborted) {
                // Either re-armed earlier (loop and wait again) or cancelled by the caller.
                auto state = co_await asio::this_coro::cancellation_state;
                if (state.cancelled() != asio::cancellation_type::none) {
                    co_return;
                }
            }
            if (clock::now() >= deadline_) {
                deadline_ = clock::time_point::max();
                fired_ = true;
                on_expire_();
            }
            timer_.expires_at(deadline_);
        }
    }

  private:
    asio::steady_timer timer_;
    clock::time_point deadline_ = clock::time_point::max();
    std::function<void()> on_expire_;
    bool fired_ = false;
};

}  // namespace bcp::net
