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
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace bcp::proxy {

class cache_step {
  public:
    cache_step(session& s, session::exchange& x);
    /// Serves the request; returns whether the client connection stays open (as forward()).
    awaitable<bool> run();

  private:
    enum class label { hit, miss, stale, revalidated };
    /// How a fill stores the node's body: as identity (sent so, or the gzip we asked for, decoded
    /// once), from which every coding is served; or opaque, as the node coded it.
    enum class fill_mode { identity, decode, opaque };
    /// What a response's tail says about its body.
    struct body_framing {
        std::string_view content_encoding;  ///< empty: none (or already in the head)
        std::optional<std::uint64_t> length;
        bool chunked = false;  ///< without a length: chunked (else close-delimited)
    };

    awaitable<bool> lead(cache::leadership& lead, std::shared_ptr<const cache::entry> stale);
    awaitable<bool> wait_on(std::shared_ptr<cache::flight> f,
                            std::shared_ptr<const cache::entry> stale);
    /// Serves the client from a flight (as waiter or as the leader's own client). `fallback`
    /// is set when nothing was sent and the caller should fetch directly.
    awaitable<bool> stream_from(cache::flight& f, cache::flight::waiter& w, label l,
                                bool& fallback);
    awaitable<bool> fill(cache::leadership& lead, std::time_t request_time, fill_mode mode);
    template <class Buffers>
    awaitable<bool> send(const Buffers& buffers);
    awaitable<bool> serve_entry(const cache::entry& e, label l);
    awaitable<bool> stale_or_fail(const std::shared_ptr<const cache::entry>& stale,
                                  unsigned status);
    /// The fill's streaming meta: the node's response as it came (its coding, its ETag).
    std::shared_ptr<cache::entry> make_entry(std::time_t request_time, std::time_t response_time,
                                             fill_mode mode);
    /// The entry a completed fill publishes: `meta` with the identity body (or the opaque one).
    std::shared_ptr<cache::entry> stored_entry(const cache::entry& meta,
                                               std::shared_ptr<cache::body> b, fill_mode mode);
    /// Vary names `token` in `fields` (a Vary field added, or the token appended to one).
    static void ensure_vary(std::vector<std::pair<std::string, std::string>>& fields,
                            std::string_view token);
    /// Offers the response as a compression dictionary (RFC 9842): Use-As-Dictionary with the
    /// pattern of its path, and Vary: Available-Dictionary. Only for client assets
    /// (cache::offers_dictionary) of GET requests, never with Set-Cookie.
    void offer_dictionary(cache::entry& e, bool set_cookie) const;
    /// The delta of `e` for the dictionary this request names, if one is stored (else the delta
    /// is asked of the compressor, and nullptr: the request gets another coding).
    std::shared_ptr<const cache::delta> delta_for(const cache::entry& e);
    std::shared_ptr<cache::entry> refreshed(const cache::entry& old, std::time_t request_time,
                                            std::time_t response_time);
    /// Freshness, validators and heads from e.fields (+ the node's Age, not stored).
    void finish_entry(cache::entry& e, std::string_view age, std::time_t request_time,
                      std::time_t response_time);
    void build_heads(cache::entry& e);
    /// post.cache_validity of the node, in seconds.
    std::int64_t post_validity() const;
    bool keep_alive() const;
    /// Whether the client's conditionals match `etag` (the representation it would get) or
    /// e's Last-Modified.
    bool not_modified(std::string_view etag, const cache::entry& e) const;
    std::string_view tail(const cache::entry* e, label l, const body_framing& f, char* buf,
                          std::size_t cap) const;
    void release_upstream();
    /// Counts a response the cache answers and records it for the access log and /metrics.
    void answering(unsigned status, label l, cache::coding c);
    void sent_body(std::size_t n);
    /// Counts cache-served body bytes in coding c standing for `identity` identity bytes.
    void sent_coded(cache::coding c, std::size_t n, std::size_t identity);

    session& s_;
    session::exchange& x_;
    cache::shared_cache& cache_;
    cache::worker_counters& counters_;
    std::string key_;
    bool credentials_ = false;
    std::string_view accept_encoding_;  ///< the request's, every field line (RFC 9110 §5.3)
    bool accept_encoding_present_ = false;
    std::string accept_joined_;  ///< backs accept_encoding_ when it had several lines
    bool no_transform_ = false;  ///< request Cache-Control: no-transform
    bool post_ = false;          ///< a POST on a cached path: keyed by its body, never revalidated
};

}  // namespace bcp::proxy
