#include "proxy/refuse.hpp"

#include <boost/asio/experimental/awaitable_operators.hpp>

#include <array>

namespace bcp::proxy {
using namespace boost::asio::experimental::awaitable_operators;

namespace {

awaitable<void> linger_then_close(tcp::socket socket, refusal_budget& budget,
                                  std::chrono::milliseconds linger) {
    asio::steady_timer timer(socket.get_executor(), linger);
    auto drain = [&]() -> awaitable<void> {
        std::array<char, 4096> sink{};
        std::size_t total = 0;
        while (total < 64 * 1024) {
            auto [ec, n] = co_await socket.async_read_some(asio::buffer(sink), use_nothrow);
            total += n;
            if (ec) {
                co_return;
            }
        }
    };
    co_await (drain() || timer.async_wait(use_nothrow));
    error_code ignored;
    socket.close(ignored);
    --budget.lingering;
}

}  // namespace

void refuse_connection(tcp::socket socket, std::string reply, refusal_budget& budget,
                       std::chrono::milliseconds linger) {
    error_code ignored;
    if (!reply.empty()) {
        socket.non_blocking(true, ignored);
        socket.write_some(asio::buffer(reply), ignored);
    }
    if (reply.empty() || budget.lingering >= budget.max_lingering) {
        socket.close(ignored);
        return;
    }
    socket.shutdown(tcp::socket::shutdown_send, ignored);
    ++budget.lingering;
    auto executor = socket.get_executor();
    asio::co_spawn(executor, linger_then_close(std::move(socket), budget, linger), asio::detached);
}

}  // namespace bcp::proxy
