#pragma once
// One client connection, from accept to close (DESIGN.md §2). A session lives on one worker
// thread; everything it touches (pool, counters) belongs to that worker.

#include "cache/cache.hpp"
#include "core/asio.hpp"
#include "net/relay_buffer.hpp"
#include "net/stream.hpp"
#include "net/watchdog.hpp"
#include "observe/access_log.hpp"
#include "observe/counters.hpp"
#include "observe/node_stats.hpp"
#include "observe/request_record.hpp"
#include "proxy/ip_limits.hpp"
#include "proxy/settings.hpp"
#include "registry/node_table.hpp"
#include "upstream/pool.hpp"

#include <boost/beast/core/flat_buffer.hpp>

#include <exception>
#include <list>
#include <memory>
#include <string>

namespace bcp::proxy {

class session;
class cache_step;
class h2_frontend;

/// The POST rule of `node` for a validated target routed to it, or nullptr.
const registry::post_rule* post_rule_of(const registry::node_entry& node,
                                        const http::target_check& t);
/// Whether the node table allows a request body for `method` and `target` (only a POST, only on a
/// POST rule's path), and its limit there: what the gate is given, and what an HTTP/2 stream asks
/// at its first body bytes.
http::post_allowance post_allowance_of(const registry::node_table& table, std::string_view method,
                                       std::string_view target);

/// Per-worker state shared by its sessions. Owned by the worker; outlives every session.
struct worker_env {
    std::shared_ptr<const settings> config;  ///< replaced on reload (new sessions see the new one)
    /// This worker's node table: replaced on reload, on this thread; each request copies it.
    std::shared_ptr<const registry::node_table> table;
    upstream::pool* pool = nullptr;
    observe::counters* counters = nullptr;
    observe::worker_stats* stats = nullptr;            ///< per-node figures (this worker's)
    observe::access_log_buffer* access_log = nullptr;  ///< this worker's lines (may be disabled)
    std::atomic<std::size_t>* open_connections = nullptr;  ///< all workers together
    ip_limits* per_ip = nullptr;                           ///< all workers together
    cache::shared_cache* cache = nullptr;                  ///< nullptr when the cache is off
    cache::worker_counters* cache_counters = nullptr;      ///< this worker's slot
    /// Request-body bytes still arriving on all of this worker's HTTP/2 connections
    /// (http2.max_pending_body_bytes_per_worker).
    std::size_t h2_pending_body_bytes = 0;
    std::list<session*> sessions;  ///< live sessions, for drain and hard stop
    bool draining = false;
};

class session {
  public:
    /// `tls` is the listener's server context, or nullptr for plain HTTP.
    session(worker_env& env, tcp::socket socket, boost::asio::ssl::context* tls);
    /// One HTTP/2 stream of a TLS connection from `peer` (proxy/h2_frontend): `client` is an
    /// in-process stream carrying one HTTP/1.1 request and its response. Not counted as a
    /// connection; its request is counted and rate-limited as any other.
    session(worker_env& env, net::stream client, const std::string& peer, const ip_key& key);
    ~session();
    session(const session&) = delete;
    session& operator=(const session&) = delete;

    /// Serves the connection until it closes, then destroys the session. Never throws for
    /// peer-caused conditions.
    static awaitable<void> run(std::unique_ptr<session> self);
    /// The completion handler for co_spawn(run(...)): logs what escaped a session, if anything.
    static void log_failure(std::exception_ptr e);

    /// Drain: close now if waiting for a request, otherwise after the current response.
    void close_if_idle();
    /// Hard stop: close the client and any upstream/tunnel connection now.
    void abort();
    /// Keeps the client's per-IP connection count until the session ends.
    void hold(ip_connection counted) { ip_connection_ = std::move(counted); }

  private:
    friend class cache_step;   // the cache-aware step between routing and forward (cache_step.cpp)
    friend class h2_frontend;  // serves a connection that chose HTTP/2 (h2_frontend.cpp)
    struct exchange;
    enum class idle_step { ready, wait, closed };
    idle_step read_idle();
    awaitable<bool> read_head(bool first);
    awaitable<bool> handle_request();
    /// Arms the client's deadline for a request head (and an allowed POST's body) from now.
    void arm_head_deadline();
    /// Reads an allowed POST's body into body_ within the head's deadline. False: close.
    awaitable<bool> read_body(const http::gate_result& gate);
    void release_body();
    awaitable<bool> write_client(std::string_view bytes);
    awaitable<bool> reply(unsigned status, bool keep_alive, std::string_view node_id = {},
                          std::string_view extra_headers = {});
    awaitable<bool> forward(exchange& x);
    /// The cache step for a routed request (cache_step.cpp); forward() when it bypasses.
    awaitable<bool> through_cache(exchange& x);
    awaitable<bool> send_upstream(exchange& x);
    awaitable<bool> relay_response(exchange& x);
    awaitable<bool> relay_body(exchange& x, bool& complete);
    awaitable<bool> deliver(exchange& x, std::string_view body);
    awaitable<void> tunnel(exchange& x);
    /// Counts the finished request per node and writes its access log line.
    void finish_request();

    worker_env& env_;
    std::shared_ptr<const settings> settings_;
    net::stream client_;
    net::watchdog client_dog_;
    net::relay_buffer relay_;  ///< held during a response only
    boost::beast::flat_buffer in_;
    http::request_head head_;
    std::string scratch_;
    std::string body_;               ///< an allowed POST's body (docs/security.md "POST")
    std::size_t body_buffered_ = 0;  ///< how much of it came with the head, in in_
    net::watchdog::clock::time_point head_deadline_{};  ///< {} = not armed for this request
    std::string peer_;
    observe::request_record record_;  ///< the request being served (see request_record.hpp)
    ip_key peer_key_;
    ip_connection ip_connection_;
    upstream::connection* active_upstream_ = nullptr;  ///< for abort()
    std::list<session*>::iterator self_;
    bool idle_ = false;
    bool bufferless_idle_ = true;  ///< wait for the next request without a buffer (run())
    std::chrono::steady_clock::time_point last_request_{};  ///< when the last one began
    bool tls_ = false;
    bool h2_stream_ = false;           ///< serves one HTTP/2 stream (the second constructor)
    std::unique_ptr<h2_frontend> h2_;  ///< the connection chose HTTP/2 (ALPN)
};

}  // namespace bcp::proxy
