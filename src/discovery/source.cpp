#include "discovery/source.hpp"

#include "core/coroutine_warnings.hpp"
#include "core/error.hpp"
#include "net/connect.hpp"
#include "net/stream.hpp"
#include "net/tls.hpp"
#include "net/watchdog.hpp"

namespace bcp::discovery {

awaitable<std::unique_ptr<net::stream>> open_stream(const std::string& host, std::uint16_t port,
                                                    bool tls, const source_options& options,
                                                    const std::string& where, source_error& error) {
    auto ex = co_await asio::this_coro::executor;
    auto tcp_conn = co_await net::connect_tcp(host, port, options.connect_timeout);
    if (!tcp_conn.socket) {
        error = {tcp_conn.ec == errc::timeout ? source_error::kind::timeout
                                              : source_error::kind::connect,
                 where + ": " + tcp_conn.message};
        co_return nullptr;
    }
    if (!tls) {
        co_return std::make_unique<net::stream>(std::move(*tcp_conn.socket));
    }
    if (options.tls == nullptr) {
        error = {source_error::kind::connect, where + ": no TLS client context"};
        co_return nullptr;
    }
    auto stream = std::make_unique<net::stream>(std::move(*tcp_conn.socket), *options.tls);
    if (!net::prepare_client(stream->native_handle(), host, options.verify)) {
        error = {source_error::kind::connect, where + ": cannot set the TLS server name"};
        co_return nullptr;
    }
    net::watchdog tls_dog(ex, [&] { stream->close(); });
    tls_dog.arm(options.connect_timeout);
    auto [hec] = co_await stream->async_handshake(net::stream::role::client, use_nothrow);
    if (hec) {
        error = {tls_dog.fired() ? source_error::kind::timeout : source_error::kind::connect,
                 where + ": TLS handshake failed: " +
                     (tls_dog.fired() ? std::string("timed out") : hec.message())};
        co_return nullptr;
    }
    co_return stream;
}

}  // namespace bcp::discovery
