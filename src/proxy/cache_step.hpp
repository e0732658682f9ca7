#pragma once
// The cache-aware step between routing and forwarding (DESIGN.md §2 step 4). For one routed
// request it decides: answer from a fresh entry (HIT), join an open flight for the key (served
// from another request's fill, streamed while it fills), or lead a fill (MISS) / revalidation
// (REVALIDATED on 304, STALE when the node fails within the stale-if-error bound). Requests and
// responses the cache may not handle go through session::forward unchanged.
//
// Lives in the session's coroutine frame for one request; uses the session's client stream,
// upstream exchange and helpers (it is a friend of session).

#include "cache/cache.hpp"
#include "core/asio.hpp"
#include "proxy/session.hpp"

#include <ctime>
#include <memory>
#include <string>
#include <string_view>

namespace bcp::proxy {

class cache_step {
  public:
    cache_step(session& s, session::exchange& x);
    /// Serves the request; returns whether the client connection stays open (as forward()).
    awaitable<bool> run();

  private:
    enum class label { hit, miss, stale, revalidated };

    awaitable<bool> lead(cache::leadership& lead, std::shared_ptr<const cache::entry> stale);
    awaitable<bool> wait_on(std::shared_ptr<cache::flight> f,
                            std::shared_ptr<const cache::entry> stale);
    /// Serves the client from a flight (as waiter or as the leader's own client). `fallback`
    /// is set when nothing was sent and the caller should fetch directly.
    awaitable<bool> stream_from(cache::flight& f, cache::flight::waiter& w, label l,
                                bool& fallback);
    awaitable<bool> fill(cache::leadership& lead, std::time_t request_time);
    template <class Buffers>
    awaitable<bool> send(const Buffers& buffers);
    awaitable<bool> serve_entry(const cache::entry& e, label l);
    awaitable<bool> stale_or_fail(const std::shared_ptr<const cache::entry>& stale,
                                  unsigned status);
    std::shared_ptr<cache::entry> make_entry(std::time_t request_time, std::time_t response_time);
    std::shared_ptr<cache::entry> refreshed(const cache::entry& old, std::time_t request_time,
                                            std::time_t response_time);
    /// Freshness, validators and heads from e.fields (+ the node's Age, not stored).
    void finish_entry(cache::entry& e, std::string_view age, std::time_t request_time,
                      std::time_t response_time);
    void build_heads(cache::entry& e);
    bool keep_alive() const;
    bool not_modified(const cache::entry& e) const;
    std::string_view tail(const cache::entry* e, label l, char* buf, std::size_t cap) const;
    void release_upstream();
    /// Counts a response the cache answers and records it for the access log and /metrics.
    void answering(unsigned status, label l);
    void sent_body(std::size_t n);

    session& s_;
    session::exchange& x_;
    cache::shared_cache& cache_;
    cache::worker_counters& counters_;
    std::string key_;
    bool credentials_ = false;
};

}  // namespace bcp::proxy
