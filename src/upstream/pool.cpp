#include "upstream/pool.hpp"

#include "net/listener.hpp"
#include "net/tls.hpp"
#include "net/watchdog.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>

#include <sys/socket.h>
#include <cerrno>

namespace bcp::upstream {
namespace {

// A pooled connection has no request outstanding, so the node has nothing to tell us: readable
// bytes or EOF mean it closed (or sent junk, or a TLS close_notify). Either way it is unusable.
bool still_open(tcp::socket& socket) {
    char byte;
    const ssize_t n = ::recv(socket.native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
    return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
}

}  // namespace

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
        if (now - c->idle_since < options_.idle_timeout && c->buffer.size() == 0 &&
            still_open(c->stream.socket())) {
            ++stats_.reuses;
            return c;
        }
        ++stats_.stale;
        c->stream.close();
    }
    return nullptr;
}

void pool::give_back(const std::string& pool_key, std::unique_ptr<connection> c) {
    auto& list = idle_[pool_key];
    if (list.size() >= options_.max_idle_per_node || c->buffer.size() != 0) {
        c->stream.close();
        return;
    }
    c->buffer.shrink_to_fit();
    c->idle_since = std::chrono::steady_clock::now();
    list.push_back(std::move(c));
    ++stats_.idle;
}

awaitable<pool::connect_result> pool::connect(const target& t) {
    using namespace boost::asio::experimental::awaitable_operators;
    tcp::resolver resolver(executor_);
    tcp::socket socket(executor_);
    net::watchdog dog(executor_, [&] {
        resolver.cancel();
        error_code ignored;
        socket.close(ignored);
    });
    dog.arm(options_.connect_timeout);

    connect_result out;
    auto work = [&]() -> awaitable<void> {
        auto [rec, endpoints] =
            co_await resolver.async_resolve(t.host, std::to_string(t.port), use_nothrow);
        if (rec) {
            out.ec = rec;
            out.message = "cannot resolve " + t.host + ": " + rec.message();
            co_return;
        }
        auto [cec, ep] = co_await asio::async_connect(socket, endpoints, use_nothrow);
        if (cec) {
            out.ec = cec;
            out.message =
                "cannot connect to " + t.host + ":" + std::to_string(t.port) + ": " + cec.message();
            co_return;
        }
        net::tune_socket(socket);
        if (!t.tls) {
            out.conn = std::make_unique<connection>(net::stream(std::move(socket)));
            co_return;
        }
        if (options_.tls == nullptr) {
            out.ec = errc::unsupported;
            out.message = "no TLS client context for https node " + t.host;
            co_return;
        }
        auto conn = std::make_unique<connection>(net::stream(std::move(socket), *options_.tls));
        if (!net::prepare_client(*conn->stream.tls(), t.host, options_.verify)) {
            out.ec = errc::upstream_failed;
            out.message = "cannot set TLS server name " + t.host;
            co_return;
        }
        // The socket moved into the stream: from here on tls_dog guards the handshake.
        dog.disarm();
        auto* raw = conn.get();
        net::watchdog tls_dog(executor_, [raw] { raw->stream.close(); });
        tls_dog.arm(options_.connect_timeout);
        auto handshake = [&]() -> awaitable<error_code> {
            auto [hec] = co_await raw->stream.tls()->async_handshake(
                boost::asio::ssl::stream_base::client, use_nothrow);
            co_return hec;
        };
        auto r = co_await (handshake() || tls_dog.run());
        const error_code hec = std::get<0>(r);
        if (hec) {
            out.ec = tls_dog.fired() ? error_code(errc::timeout) : hec;
            out.message = "TLS handshake with " + t.host + ":" + std::to_string(t.port) +
                          " failed: " + (tls_dog.fired() ? "timed out" : hec.message());
            co_return;
        }
        out.conn = std::move(conn);
    };
    co_await (work() || dog.run());
    if (dog.fired() && !out.conn) {
        out.ec = errc::timeout;
        out.message = "connecting to " + t.host + ":" + std::to_string(t.port) + " timed out";
    }
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

void pool::expire_idle() {
    const auto now = std::chrono::steady_clock::now();
    for (auto it = idle_.begin(); it != idle_.end();) {
        auto& list = it->second;
        while (!list.empty() && now - list.front()->idle_since >= options_.idle_timeout) {
            list.front()->stream.close();
            list.pop_front();
            --stats_.idle;
            ++stats_.stale;
        }
        it = list.empty() ? idle_.erase(it) : std::next(it);
    }
}

void pool::clear() {
    for (auto& [key, list] : idle_) {
        for (auto& c : list) {
            c->stream.close();
        }
    }
    idle_.clear();
    stats_.idle = 0;
}

}  // namespace bcp::upstream
