// The WebSocket endpoints of the simulated BBB node: the echo on /ws and /<id>/<mount>/ws[/…], and
// the deliberately broken handshake of _test/bad-accept.

#include "demo/fake_node_impl.hpp"

#include "core/coroutine_warnings.hpp"

#include <boost/asio/write.hpp>
#include <boost/beast/websocket/stream.hpp>

#include <array>

namespace bcp::demo::detail {

namespace websocket = beast::websocket;

awaitable<void> session::websocket_echo(const request& req) {
    websocket::stream<conn_stream&> ws(stream_);
    ws.set_option(websocket::stream_base::decorator(
        [](websocket::response_type& res) { res.set(http::field::server, server_name); }));
    ws.read_message_max(ws_message_limit);
    auto [ec] = co_await ws.async_accept(req, use_nothrow);
    if (ec) {
        co_return;
    }
    node_->counters.websockets.fetch_add(1, std::memory_order_relaxed);
    beast::flat_buffer message;
    for (;;) {
        auto [read_ec, n] = co_await ws.async_read(message, use_nothrow);
        if (read_ec) {
            co_return;  // closed by the peer (Beast answered the close frame) or broken
        }
        ws.text(ws.got_text());
        auto [write_ec, m] = co_await ws.async_write(message.data(), use_nothrow);
        if (write_ec) {
            co_return;
        }
        message.consume(message.size());
    }
}

awaitable<void> session::bad_accept_echo() {
    const bool ok = co_await write_raw(
        "HTTP/1.1 101 Switching Protocols\r\n"
        "Upgrade: websocket\r\n"
        "Connection: Upgrade\r\n"
        "Sec-WebSocket-Accept: AAAAAAAAAAAAAAAAAAAAAAAAAAA=\r\n"
        "\r\n");
    if (!ok) {
        co_return;
    }
    std::array<char, 4096> chunk{};
    for (;;) {
        if (buffer_.size() > 0) {  // bytes that arrived right behind the request head
            auto [ec, n] = co_await asio::async_write(stream_, buffer_.data(), use_nothrow);
            if (ec) {
                co_return;
            }
            buffer_.consume(buffer_.size());
        }
        auto [ec, n] = co_await stream_.async_read_some(asio::buffer(chunk), use_nothrow);
        if (ec) {
            co_return;
        }
        auto [write_ec, m] =
            co_await asio::async_write(stream_, asio::buffer(chunk.data(), n), use_nothrow);
        if (write_ec) {
            co_return;
        }
    }
}

}  // namespace bcp::demo::detail
