#pragma once
// A byte stream that is either plain TCP or TLS over TCP, decided at run time. It models Asio's
// AsyncReadStream/AsyncWriteStream, so Beast's algorithms and asio::async_write work on it and the
// proxy has one session implementation for both kinds of listener and of node.

#include "core/asio.hpp"

#include <boost/asio/ssl/stream.hpp>

#include <optional>
#include <utility>

namespace bcp::net {

namespace ssl = boost::asio::ssl;

class stream {
  public:
    using executor_type = asio::any_io_executor;
    using tls_stream = ssl::stream<tcp::socket>;

    /// A plain TCP stream.
    explicit stream(tcp::socket socket) : plain_(std::move(socket)) {}
    /// A TLS stream over `socket`; the caller performs the handshake (tls()->async_handshake).
    stream(tcp::socket socket, ssl::context& context)
        : plain_(socket.get_executor()), tls_(std::in_place, std::move(socket), context) {}

    executor_type get_executor() { return socket().get_executor(); }
    tcp::socket& socket() { return tls_ ? tls_->next_layer() : plain_; }
    bool is_tls() const { return tls_.has_value(); }
    tls_stream* tls() { return tls_ ? &*tls_ : nullptr; }

    /// Closes the socket, ignoring errors. Pending operations complete with operation_aborted.
    void close() {
        error_code ignored;
        socket().shutdown(tcp::socket::shutdown_both, ignored);
        socket().close(ignored);
    }

    template <class MutableBufferSequence, class Token>
    auto async_read_some(const MutableBufferSequence& buffers, Token&& token) {
        return asio::async_initiate<Token, void(error_code, std::size_t)>(
            [this](auto handler, const MutableBufferSequence& b) {
                if (tls_) {
                    tls_->async_read_some(b, std::move(handler));
                } else {
                    plain_.async_read_some(b, std::move(handler));
                }
            },
            token, buffers);
    }

    template <class ConstBufferSequence, class Token>
    auto async_write_some(const ConstBufferSequence& buffers, Token&& token) {
        return asio::async_initiate<Token, void(error_code, std::size_t)>(
            [this](auto handler, const ConstBufferSequence& b) {
                if (tls_) {
                    tls_->async_write_some(b, std::move(handler));
                } else {
                    plain_.async_write_some(b, std::move(handler));
                }
            },
            token, buffers);
    }

  private:
    tcp::socket plain_;  // the socket when plain; an unused, closed socket when TLS
    std::optional<tls_stream> tls_;
};

}  // namespace bcp::net
