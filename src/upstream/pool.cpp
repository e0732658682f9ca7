#include "upstream/pool.hpp"

#include "net/connect.hpp"
#include "net/listener.hpp"
#include "net/tls.hpp"
#include "net/watchdog.hpp"

#include <boost/asio/connect.hpp>

#include <algorithm>

namespace bcp::upstream {
pool::pool(asio::any_io_executor executor, pool_options options)
    : executor_(std::move(executor)), options_(options) {}

std::unique_ptr<connection> pool::take(const std::string& pool_key) {
    auto it = idle_.find(pool_key);
    if (it == idle_.end()) {
        return nullptr;
    }
    auto& list = it->second;
    const auto now = std::chrono::steady_clock::now();
    // Most recently returned first: it is the least likely to have been closed by the node.
    while (!list.empty()) {
        auto c = std::move(list.back());
        list.pop_back();
        --stats_.idle;
        if (c->watched) {
            error_code ignored;
            c->stream.socket().cancel(ignored);  // ends the readability watch (operation_aborted)
            c->watched = false;
        }
        if (now - c->idle_since < options_.idle_timeout && c->buffer.size() == 0) {
            ++stats_.reuses;
            return c;
        }
        ++stats_.stale;
        c->stream.close();
    }
    return nullptr;
}

void pool::give_back(const std::string& pool_key, std::unique_ptr<connection> c) {
    if (options_.max_idle_per_node == 0 || c->buffer.size() != 0) {
        c->stream.close();
        return;
    }
    // Kept even past max_idle_per_node: it was in use a moment ago, and the load that needed it
    // may need it again at once (expire_idle trims what stays idle past one tick).
    auto& list = idle_[pool_key];
    c->dog.disarm();
    if (c->buffer.capacity() > read_buffer_kept) {
        c->buffer.shrink_to_fit();
    }
    if (SSL* ssl = c->stream.native_handle()) {
        remember_session(pool_key, ssl);
    }
    c->idle_since = std::chrono::steady_clock::now();
    c->idle_id = ++next_idle_id_;
    list.push_back(std::move(c));  // watched from the next expire_idle() on, if still idle
    ++stats_.idle;
}

// The node's latest resumable TLS session, offered by the next connection to it. Taken when a
// connection goes idle: by then a TLS 1.3 node's session tickets (sent after the handshake) have
// been read with the response.
void pool::remember_session(const std::string& pool_key, SSL* ssl) {
    SSL_SESSION* current = SSL_get0_session(ssl);
    if (current == nullptr || SSL_SESSION_is_resumable(current) != 1) {
        return;
    }
    auto& slot = sessions_[pool_key];
    if (slot.get() != current) {
        SSL_SESSION_up_ref(current);
        slot.reset(current);
    }
}

// A pooled connection has no request outstanding, so the node has nothing to tell us: readable
// bytes or EOF mean it closed (or sent junk, or a TLS close_notify). Either way it is unusable:
// the watch drops it, so take() does not lend it. The watch is a one-byte read on the socket,
// queued with the reactor: Asio tries it once (a recv that finds nothing) and then waits for
// readiness with no further system call; take() cancels it, which is no system call either.
//
// It is put on a connection at the first housekeeping tick (expire_idle, once a second) that
// finds it idle, not when it is given back: under load a connection is lent again within
// microseconds, and a watch per request cost a recv, an operation and a cancelled completion each
// time (docs/benchmarks.md "Lazy idle watch"). A node that closes a connection during its first
// second in the pool is found out by the request sent on it, which is then retried once on a new
// connection (session::send_upstream; every request a pooled connection carries may be retried).
void pool::watch(idle_list& list, connection& c) {
    c.stream.socket().async_read_some(
        asio::buffer(&c.probe, 1),
        [this, &list, raw = &c, id = c.idle_id](const error_code& ec, std::size_t) {
            if (ec == asio::error::operation_aborted) {
                return;  // taken, or closed by expire_idle/clear
            }
            // Still idle in this pool (and not lent and returned since)? Compare addresses only:
            // raw may point to a connection that no longer exists.
            const auto it = std::find_if(list.begin(), list.end(), [&](const auto& p) {
                return p.get() == raw && p->idle_id == id;
            });
            if (it == list.end()) {
                return;
            }
            (*it)->stream.close();
            list.erase(it);
            --stats_.idle;
            ++stats_.stale;
        });
}

awaitable<pool::connect_result> pool::connect(const target& t) {
    connect_result out;
    auto work = [&]() -> awaitable<void> {
        auto tcp_conn = co_await net::connect_tcp(t.host, t.port, options_.connect_timeout);
        if (!tcp_conn.socket) {
            out.ec = tcp_conn.ec;
            out.message = std::move(tcp_conn.message);
            co_return;
        }
        if (!t.tls) {
            out.conn = std::make_unique<connection>(net::stream(std::move(*tcp_conn.socket)));
            co_return;
        }
        if (options_.tls == nullptr) {
            out.ec = errc::unsupported;
            out.message = "no TLS client context for https node " + t.host;
            co_return;
        }
        auto conn =
            std::make_unique<connection>(net::stream(std::move(*tcp_conn.socket), *options_.tls));
        SSL* ssl = conn->stream.native_handle();
        if (!net::prepare_client(ssl, t.host, options_.verify)) {
            out.ec = errc::upstream_failed;
            out.message = "cannot set TLS server name " + t.host;
            co_return;
        }
        auto* raw = conn.get();
        net::watchdog tls_dog(executor_, [raw] { raw->stream.close(); });
        tls_dog.arm(options_.connect_timeout);
        if (const auto it = sessions_.find(t.pool_key); it != sessions_.end()) {
            SSL_set_session(ssl, it->second.get());  // resumption: an abbreviated handshake
        }
        auto [hec] = co_await raw->stream.async_handshake(net::stream::role::client, use_nothrow);
        if (hec) {
            out.ec = tls_dog.fired() ? error_code(errc::timeout) : hec;
            out.message = "TLS handshake with " + t.host + ":" + std::to_string(t.port) +
                          " failed: " + (tls_dog.fired() ? "timed out" : hec.message());
            co_return;
        }
        out.conn = std::move(conn);
    };
    co_await work();
    if (out.conn) {
        ++stats_.connects;
    } else {
        ++stats_.connect_errors;
        if (!out.ec) {
            out.ec = errc::upstream_failed;
        }
    }
    co_return out;
}

void pool::expire_idle(std::chrono::steady_clock::time_point now) {
    for (auto it = idle_.begin(); it != idle_.end();) {
        auto& list = it->second;  // kept when empty: watches point to it
        // Oldest first: past the idle timeout, and past max_idle_per_node those that were not
        // lent again within a tick (a burst's connections stay for its next burst).
        while (!list.empty() && (now - list.front()->idle_since >= options_.idle_timeout ||
                                 (list.size() > options_.max_idle_per_node &&
                                  now - list.front()->idle_since >= excess_grace))) {
            list.front()->stream.close();
            list.pop_front();
            --stats_.idle;
            ++stats_.stale;
        }
        // Newest last: the unwatched ones are at the back.
        for (auto c = list.rbegin(); c != list.rend() && !(*c)->watched; ++c) {
            (*c)->watched = true;
            watch(list, **c);
        }
        ++it;
    }
}

void pool::clear() {
    for (auto& [key, list] : idle_) {
        for (auto& c : list) {
            c->stream.close();
        }
        list.clear();
    }
    stats_.idle = 0;
}

std::unordered_map<std::string, std::size_t> pool::idle_counts() const {
    std::unordered_map<std::string, std::size_t> out;
    for (const auto& [key, list] : idle_) {
        if (!list.empty()) {
            out.emplace(key, list.size());
        }
    }
    return out;
}

}  // namespace bcp::upstream
