#pragma once
// Upstream connections to nodes: one pool per worker thread (never shared, so no locks), keyed by
// node (registry::node_entry::pool_key). A connection is either lent out (owned by one request)
// or idle in the pool. Rules (SECURITY.md "Reuse and framing"): one request in flight per
// connection; a connection goes back only after a cleanly delimited response; an idle connection
// that the node closed is dropped as soon as it becomes readable (a wait is pending on every idle
// socket; no probe per request).

#include "core/asio.hpp"
#include "core/error.hpp"
#include "net/stream.hpp"
#include "net/watchdog.hpp"

#include <boost/beast/core/flat_buffer.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <unordered_map>

namespace bcp::upstream {

struct connection {
    explicit connection(net::stream s)
        : stream(std::move(s)), dog(stream.get_executor(), [this] { stream.close(); }) {}
    net::stream stream;
    /// The deadline of the exchange using this connection (send, response head, body reads):
    /// closes the stream when it passes. Here rather than in the client session, so that idle
    /// client connections hold no upstream watchdog (docs/benchmarks.md, "Round 4").
    net::watchdog dog;
    boost::beast::flat_buffer buffer;  ///< bytes read from the node, not yet consumed
    std::chrono::steady_clock::time_point idle_since;
    std::uint64_t requests = 0;  ///< requests sent on this connection so far
    std::uint64_t idle_id = 0;   ///< which stay in the pool a readability watch belongs to
    bool watched = false;        ///< the idle watch is pending (pool::watch, from expire_idle)
    char probe = 0;              ///< target of the idle watch's one-byte read
};

struct pool_options {
    /// Idle connections kept per node beyond a tick (more stay until then); 0: none at all.
    std::size_t max_idle_per_node = 256;
    std::chrono::milliseconds idle_timeout{30'000};
    std::chrono::milliseconds connect_timeout{5'000};
    boost::asio::ssl::context* tls = nullptr;  ///< for https nodes; must outlive the pool
    bool verify = true;
};

struct target {
    const std::string& pool_key;
    const std::string& host;  ///< DNS name or IP literal
    std::uint16_t port;
    bool tls;
};

/// Written by the owning worker only; atomics so that reporting may read them from any thread.
struct pool_stats {
    std::atomic<std::uint64_t> connects{0};        ///< new connections established
    std::atomic<std::uint64_t> connect_errors{0};  ///< failed connects (incl. TLS, timeouts)
    std::atomic<std::uint64_t> reuses{0};          ///< requests sent on a pooled connection
    std::atomic<std::uint64_t> stale{0};           ///< pooled connections found closed/expired
    std::atomic<std::size_t> idle{0};              ///< connections idle right now
};

class pool {
  public:
    pool(asio::any_io_executor executor, pool_options options);

    /// An idle, still-open connection to this node, or nullptr.
    std::unique_ptr<connection> take(const std::string& pool_key);

    /// Returns a connection whose last response was cleanly delimited (closed instead when
    /// max_idle_per_node is 0). More than max_idle_per_node may be idle until expire_idle.
    void give_back(const std::string& pool_key, std::unique_ptr<connection> c);

    /// Opens a new connection (resolve, connect, TLS handshake with SNI and verification) within
    /// the connect timeout. errc::timeout when it expired, errc::upstream_failed otherwise; the
    /// message names the failing step.
    struct connect_result {
        std::unique_ptr<connection> conn;
        error_code ec;
        std::string message;
    };
    awaitable<connect_result> connect(const target& t);

    /// Bytes kept in an idle connection's read buffer: room for a response head and a small body
    /// in one read. A larger buffer (grown by a chunked body) is freed when it goes idle.
    static constexpr std::size_t read_buffer_kept = 8 * 1024;

    /// Called once a second by the worker: closes idle connections older than the idle
    /// timeout, closes the oldest past max_idle_per_node of those idle for excess_grace, and puts
    /// a readability watch on those idle since the previous call (see watch()).
    void expire_idle(std::chrono::steady_clock::time_point now = std::chrono::steady_clock::now());
    /// How long connections past max_idle_per_node stay idle before they are closed: a load with
    /// more requests in flight than that keeps its connections (no close and reconnect per
    /// burst), and what it leaves idle goes at the next tick or the one after.
    static constexpr std::chrono::milliseconds excess_grace{1'000};
    /// Closes every idle connection (shutdown, reload).
    void clear();
    /// Closes the idle connections of the nodes for which `keep(pool_key)` is false (reload).
    template <class Keep>
    void retain(const Keep& keep) {
        for (auto& [key, list] : idle_) {  // lists stay (empty): idle watches point to them
            if (keep(key)) {
                continue;
            }
            for (auto& c : list) {
                c->stream.close();
                --stats_.idle;
            }
            list.clear();
        }
    }

    const pool_stats& stats() const { return stats_; }
    /// Idle connections per pool key (owner thread only: the server asks each worker).
    std::unordered_map<std::string, std::size_t> idle_counts() const;

  private:
    using idle_list = std::deque<std::unique_ptr<connection>>;
    void watch(idle_list& list, connection& c);
    void remember_session(const std::string& pool_key, SSL* ssl);

    struct session_deleter {
        void operator()(SSL_SESSION* s) const { SSL_SESSION_free(s); }
    };

    asio::any_io_executor executor_;
    pool_options options_;
    // Entries are never erased (their number is bounded by the nodes), so readability watches can
    // hold a pointer to their list.
    std::unordered_map<std::string, idle_list> idle_;
    std::uint64_t next_idle_id_ = 0;
    std::unordered_map<std::string, std::unique_ptr<SSL_SESSION, session_deleter>> sessions_;
    pool_stats stats_;
};

}  // namespace bcp::upstream
