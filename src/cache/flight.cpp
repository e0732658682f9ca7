#include "cache/flight.hpp"

#include <boost/asio/post.hpp>

namespace bcp::cache {

void flight::wake_locked(std::vector<waiter_rec>& out) {
    // Expired waiters (gone without waiting for the end) are dropped here.
    std::erase_if(waiters_, [](const waiter_rec& r) { return r.w.expired(); });
    for (auto& r : waiters_) {
        if (r.waiting) {
            r.waiting = false;
            out.push_back(r);
        }
    }
}

void flight::wake(std::vector<waiter_rec>& woken) {
    // The timer belongs to the waiter's io_context: cancel it there, never from this thread. The
    // weak_ptr makes a waiter that left meanwhile a no-op.
    for (auto& r : woken) {
        asio::post(r.ex, [w = std::move(r.w)] {
            if (auto p = w.lock()) {
                p->timer_.cancel();
            }
        });
    }
}

void flight::stream(std::shared_ptr<const entry> meta, std::shared_ptr<const fill_buffer> fill) {
    std::vector<waiter_rec> woken;
    {
        std::lock_guard lock(mu_);
        if (state_ != state::pending) {
            return;
        }
        meta_ = std::move(meta);
        fill_ = std::move(fill);
        state_ = state::streaming;
        wake_locked(woken);
    }
    wake(woken);
}

void flight::progress(std::size_t filled) {
    std::vector<waiter_rec> woken;
    {
        std::lock_guard lock(mu_);
        filled_ = filled;
        wake_locked(woken);
    }
    wake(woken);
}

void flight::complete(std::shared_ptr<const entry> result) {
    std::vector<waiter_rec> woken;
    {
        std::lock_guard lock(mu_);
        if (state_ != state::pending && state_ != state::streaming) {
            return;
        }
        result_ = std::move(result);  // filled_ is final: the leader published it before
        state_ = state::complete;
        wake_locked(woken);
    }
    wake(woken);
}

void flight::fail(state s) {
    std::vector<waiter_rec> woken;
    {
        std::lock_guard lock(mu_);
        if (state_ != state::pending && state_ != state::streaming) {
            return;
        }
        state_ = s;
        wake_locked(woken);
    }
    wake(woken);
}

std::shared_ptr<flight::waiter> flight::join(asio::any_io_executor ex) {
    auto w = std::make_shared<waiter>(ex);
    std::lock_guard lock(mu_);
    waiters_.push_back({w, w.get(), std::move(ex), false});
    return w;
}

flight::view flight::peek() const {
    std::lock_guard lock(mu_);
    return {state_, meta_, fill_, filled_, result_, false};
}

awaitable<flight::view> flight::next(waiter& w, bool head_seen, std::size_t have,
                                     std::chrono::steady_clock::time_point deadline) {
    while (true) {
        {
            std::lock_guard lock(mu_);
            const bool open = state_ == state::pending || state_ == state::streaming;
            const bool news = !open || filled_ > have || (state_ == state::streaming && !head_seen);
            if (news || std::chrono::steady_clock::now() >= deadline) {
                co_return view{state_, meta_, fill_, filled_, result_, !news};
            }
            for (auto& r : waiters_) {
                if (r.id == &w) {
                    r.waiting = true;
                    break;
                }
            }
            // Armed under the lock, awaited after it: a wake-up posted by the leader runs on our
            // executor, so it cannot run before this coroutine suspends in async_wait below.
            w.timer_.expires_at(deadline);
        }
        co_await w.timer_.async_wait(use_nothrow);
    }
}

flight_table::shard& flight_table::shard_for(const std::string& key) {
    return shards_[std::hash<std::string>{}(key) % shards_.size()];
}

std::shared_ptr<flight> flight_table::lead_or_join(const std::string& key, bool& leader) {
    auto& s = shard_for(key);
    std::lock_guard lock(s.mu);
    auto [it, inserted] = s.open.try_emplace(key);
    if (inserted) {
        it->second = std::make_shared<flight>(key);
    }
    leader = inserted;
    return it->second;
}

void flight_table::finish(const std::shared_ptr<flight>& f) {
    auto& s = shard_for(f->key());
    std::lock_guard lock(s.mu);
    const auto it = s.open.find(f->key());
    if (it != s.open.end() && it->second == f) {
        s.open.erase(it);
    }
}

std::size_t flight_table::open() const {
    std::size_t n = 0;
    for (const auto& s : shards_) {
        std::lock_guard lock(s.mu);
        n += s.open.size();
    }
    return n;
}

}  // namespace bcp::cache
