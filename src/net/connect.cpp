#include "net/connect.hpp"

#include "core/coroutine_warnings.hpp"
#include "core/error.hpp"
#include "net/listener.hpp"
#include "net/watchdog.hpp"

#include <boost/asio/connect.hpp>

namespace bcp::net {

awaitable<connect_outcome> connect_tcp(const std::string& host, std::uint16_t port,
                                       std::chrono::milliseconds timeout) {
    auto executor = co_await asio::this_coro::executor;
    tcp::resolver resolver(executor);
    tcp::socket socket(executor);
    watchdog dog(executor, [&] {
        resolver.cancel();
        error_code ignored;
        socket.close(ignored);
    });
    dog.arm(timeout);
    connect_outcome out;
    const std::string where = host + ":" + std::to_string(port);
    error_code literal_ec;
    const auto literal = asio::ip::make_address(host, literal_ec);
    if (!literal_ec) {
        // An IP literal needs no resolver (Asio's runs getaddrinfo on a thread of its own: a
        // hand-off and a wake-up per connection).
        auto [cec] = co_await socket.async_connect(tcp::endpoint(literal, port), use_nothrow);
        if (cec) {
            out.ec = cec;
            out.message = "cannot connect to " + where + ": " + cec.message();
        }
    } else if (auto [rec, endpoints] =
                   co_await resolver.async_resolve(host, std::to_string(port), use_nothrow);
               rec) {
        out.ec = rec;
        out.message = "cannot resolve " + host + ": " + rec.message();
    } else {
        auto [cec, ep] = co_await asio::async_connect(socket, endpoints, use_nothrow);
        if (cec) {
            out.ec = cec;
            out.message = "cannot connect to " + where + ": " + cec.message();
        }
    }
    if (dog.fired()) {
        out.ec = make_error_code(errc::timeout);
        out.message = "connecting to " + where + " timed out";
    }
    if (!out.ec) {
        dog.disarm();
        tune_socket(socket);
        out.socket.emplace(std::move(socket));
    }
    co_return out;
}

}  // namespace bcp::net
