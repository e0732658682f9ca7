#pragma once
// A byte stream that is either plain TCP or TLS over TCP, decided at run time. It models Asio's
// AsyncReadStream/AsyncWriteStream, so Beast's algorithms and asio::async_write work on it and the
// proxy has one session implementation for both kinds of listener and of node. A third kind has
// no socket: an in-process stream to a memory_end (an HTTP/2 stream served by that session).
//
// TLS runs OpenSSL directly on the socket (a socket BIO, non-blocking): an operation calls
// SSL_read/SSL_write/SSL_do_handshake and, on SSL_ERROR_WANT_READ/WRITE, waits for the socket to
// become readable/writable through the reactor and tries again. There is no memory-BIO engine in
// between (asio::ssl::stream keeps 4 x 17 KiB of its own buffers per connection for that), and
// with SSL_MODE_RELEASE_BUFFERS an idle TLS connection holds only OpenSSL's SSL object
// (docs/architecture.md "TLS streams", docs/benchmarks.md finding 7).
//
// Rules: one read and one write may be outstanding at once (OpenSSL allows SSL_read and SSL_write
// to interleave on a non-blocking connection); a retried operation repeats the same call with the
// same buffer, as OpenSSL requires. After close() every operation fails with bad_descriptor and
// OpenSSL is never called again (its descriptor number may already belong to another socket).

#include "core/asio.hpp"
#include "net/socket_bio.hpp"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <boost/asio/any_completion_handler.hpp>
#include <boost/asio/compose.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/error.hpp>

#include <algorithm>
#include <array>
#include <cerrno>
#include <memory>
#include <span>
#include <utility>

namespace bcp::net {

namespace ssl = boost::asio::ssl;

/// The other end of an in-process stream: an HTTP/2 stream seen by the HTTP/1.1 request path as
/// a connection (proxy/h2_frontend). Operations complete through the handler, never from inside
/// the initiating call; after close() they complete with operation_aborted.
class memory_end {
  public:
    using handler = asio::any_completion_handler<void(error_code, std::size_t)>;
    virtual ~memory_end() = default;
    virtual void read_some(asio::mutable_buffer buffer, handler h) = 0;
    /// Takes bytes from the start of `buffers` (a gathered write: up to max_gather of them).
    virtual void write_some(std::span<const asio::const_buffer> buffers, handler h) = 0;
    static constexpr std::size_t max_gather = 8;
    virtual void close() = 0;
};

class stream {
  public:
    using executor_type = asio::any_io_executor;
    enum class role { client, server };

    /// A plain TCP stream.
    explicit stream(tcp::socket socket) : socket_(std::move(socket)) {}
    /// A TLS stream over `socket`; the caller performs the handshake (async_handshake).
    stream(tcp::socket socket, ssl::context& context)
        : socket_(std::move(socket)), ssl_(SSL_new(context.native_handle())) {
        if (!ssl_) {
            throw std::bad_alloc();
        }
        SSL_set_mode(ssl_.get(), SSL_MODE_ENABLE_PARTIAL_WRITE |
                                     SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                                     SSL_MODE_RELEASE_BUFFERS);
        // One read() per socket read, not a 5-byte record header and then the record.
        SSL_set_read_ahead(ssl_.get(), 1);
        error_code ignored;
        socket_.non_blocking(true, ignored);
        BIO* bio = new_socket_bio(static_cast<int>(socket_.native_handle()));
        if (bio == nullptr) {
            throw std::bad_alloc();
        }
        SSL_set_bio(ssl_.get(), bio, bio);  // the SSL owns the BIO, the socket owns the fd
    }

    /// An in-process stream to `end` (no socket: socket() is never open).
    stream(const asio::any_io_executor& executor, std::shared_ptr<memory_end> end)
        : socket_(executor), memory_(std::move(end)) {}

    executor_type get_executor() { return socket_.get_executor(); }
    tcp::socket& socket() { return socket_; }
    bool is_tls() const { return ssl_ != nullptr; }
    bool is_memory() const { return memory_ != nullptr; }
    /// The OpenSSL connection (nullptr for plain streams): SNI, verification, session resumption.
    SSL* native_handle() { return ssl_.get(); }

    /// Closes the socket, ignoring errors. Pending operations complete with operation_aborted.
    void close() {
        if (memory_) {
            memory_->close();
            return;
        }
        error_code ignored;
        socket_.shutdown(tcp::socket::shutdown_both, ignored);
        socket_.close(ignored);
    }

    template <class MutableBufferSequence, class Token>
    auto async_read_some(const MutableBufferSequence& buffers, Token&& token) {
        return asio::async_initiate<Token, void(error_code, std::size_t)>(
            [this](auto handler, const MutableBufferSequence& b) {
                if (memory_) {
                    memory_->read_some(first_buffer<asio::mutable_buffer>(b), std::move(handler));
                } else if (ssl_) {
                    asio::async_compose<decltype(handler), void(error_code, std::size_t)>(
                        op<true>{this, kind::read, first_buffer<asio::mutable_buffer>(b)}, handler,
                        socket_);
                } else {
                    socket_.async_read_some(b, std::move(handler));
                }
            },
            token, buffers);
    }

    template <class ConstBufferSequence, class Token>
    auto async_write_some(const ConstBufferSequence& buffers, Token&& token) {
        return asio::async_initiate<Token, void(error_code, std::size_t)>(
            [this](auto handler, const ConstBufferSequence& b) {
                if (memory_) {
                    // All the pieces at once (a response head and its body): one hand-over.
                    std::array<asio::const_buffer, memory_end::max_gather> pieces;
                    std::size_t count = 0;
                    for (auto it = asio::buffer_sequence_begin(b);
                         it != asio::buffer_sequence_end(b) && count != pieces.size(); ++it) {
                        pieces[count++] = asio::const_buffer(*it);
                    }
                    memory_->write_some(std::span(pieces.data(), count), std::move(handler));
                } else if (ssl_) {
                    op<true> o{this, kind::write, {}};
                    o.buffer = tls_write_buffer(b, o.staged);
                    asio::async_compose<decltype(handler), void(error_code, std::size_t)>(
                        std::move(o), handler, socket_);
                } else {
                    socket_.async_write_some(b, std::move(handler));
                }
            },
            token, buffers);
    }

    /// TLS handshake (completion: void(error_code)).
    template <class Token>
    auto async_handshake(role r, Token&& token) {
        if (r == role::server) {
            SSL_set_accept_state(ssl_.get());
        } else {
            SSL_set_connect_state(ssl_.get());
        }
        return asio::async_compose<Token, void(error_code)>(op<false>{this, kind::handshake, {}},
                                                            token, socket_);
    }

    /// Sends close_notify (RFC 8446 §6.1) and waits for the peer's (completion: void(error_code)).
    /// Closing the socket right after ours would reset a peer that answers with its own.
    template <class Token>
    auto async_shutdown(Token&& token) {
        return asio::async_compose<Token, void(error_code)>(op<false>{this, kind::shutdown, {}},
                                                            token, socket_);
    }

  private:
    enum class kind { read, write, handshake, shutdown };

    struct ssl_deleter {
        void operator()(SSL* s) const { SSL_free(s); }
    };

    template <class Buffer, class Sequence>
    static Buffer first_buffer(const Sequence& buffers) {
        for (auto it = asio::buffer_sequence_begin(buffers);
             it != asio::buffer_sequence_end(buffers); ++it) {
            Buffer b(*it);
            if (b.size() != 0) {
                return b;
            }
        }
        return Buffer();
    }

    /// What one SSL_write of a gathered write takes: the first non-empty buffer, or, when it is
    /// smaller than a TLS record and more follow (a response head and its body), the leading
    /// bytes of the sequence up to one record, copied into `staged`: one record and one system
    /// call instead of one per buffer. The caller's write loop sends the rest.
    template <class Sequence>
    static asio::mutable_buffer tls_write_buffer(const Sequence& buffers,
                                                 std::unique_ptr<char[]>& staged) {
        const auto first = first_buffer<asio::const_buffer>(buffers);
        const std::size_t total = std::min(asio::buffer_size(buffers), tls_record);
        if (first.size() >= tls_record || total == first.size()) {
            return {const_cast<void*>(first.data()), first.size()};
        }
        staged = std::make_unique_for_overwrite<char[]>(total);
        return {staged.get(), asio::buffer_copy(asio::buffer(staged.get(), total), buffers)};
    }
    static constexpr std::size_t tls_record = 16 * 1024;  // the largest TLS plaintext record

    // One TLS operation: call OpenSSL; on WANT_READ/WANT_WRITE wait for the socket and call again
    // with the same arguments. A result available at once is posted, never delivered from inside
    // the initiating call.
    template <bool WithBytes>
    struct op {
        stream* self;
        kind what;
        asio::mutable_buffer buffer;
        enum { starting, waiting, finished } state = starting;
        error_code result;
        std::size_t bytes = 0;
        std::unique_ptr<char[]> staged;  ///< owns `buffer` when a gather was coalesced

        template <class Self>
        void operator()(Self& s, error_code wait_ec = {}) {
            if (state == finished) {
                return done(s, result, bytes);
            }
            if (wait_ec) {
                return done(s, wait_ec, 0);
            }
            if (!self->socket_.is_open()) {
                return finish(s, asio::error::bad_descriptor, 0);
            }
            if ((what == kind::read || what == kind::write) && buffer.size() == 0) {
                return finish(s, {}, 0);
            }
            SSL* ssl = self->ssl_.get();
            // SSL_get_error needs an empty error queue before the call. It almost always is
            // (translate() empties it): peeking is cheaper than clearing all its slots.
            if (ERR_peek_error() != 0) {
                ERR_clear_error();
            }
            int r = 0;
            std::size_t n = 0;
            switch (what) {
                case kind::read:
                    r = SSL_read_ex(ssl, buffer.data(), buffer.size(), &n);
                    break;
                case kind::write:
                    r = SSL_write_ex(ssl, buffer.data(), buffer.size(), &n);
                    break;
                case kind::handshake:
                    r = SSL_do_handshake(ssl);
                    break;
                case kind::shutdown:
                    r = SSL_shutdown(ssl);
                    if (r == 0) {
                        r = SSL_shutdown(ssl);  // ours is sent: now read the peer's
                    }
                    break;
            }
            if (r == 1) {
                return finish(s, {}, n);
            }
            const int err = SSL_get_error(ssl, r);
            if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) {
                state = waiting;
                self->socket_.async_wait(
                    err == SSL_ERROR_WANT_READ ? tcp::socket::wait_read : tcp::socket::wait_write,
                    std::move(s));
                return;
            }
            finish(s, translate(err), 0);
        }

        template <class Self>
        void finish(Self& s, error_code ec, std::size_t n) {
            if (state == starting) {
                state = finished;
                result = ec;
                bytes = n;
                asio::post(std::move(s));
                return;
            }
            done(s, ec, n);
        }

        template <class Self>
        static void done(Self& s, error_code ec, std::size_t n) {
            if constexpr (WithBytes) {
                s.complete(ec, n);
            } else {
                s.complete(ec);
            }
        }

        static error_code translate(int err) {
            const unsigned long e = ERR_peek_last_error();
            if (err == SSL_ERROR_ZERO_RETURN) {
                return asio::error::eof;  // close_notify: a clean end
            }
            if (err == SSL_ERROR_SYSCALL && e == 0) {
                const int sys = errno;
                return sys != 0 ? error_code(sys, asio::error::get_system_category())
                                : error_code(ssl::error::stream_truncated);
            }
            if (ERR_GET_REASON(e) == SSL_R_UNEXPECTED_EOF_WHILE_READING) {
                ERR_clear_error();
                return ssl::error::stream_truncated;  // EOF without close_notify
            }
            ERR_clear_error();
            return error_code(static_cast<int>(e), asio::error::get_ssl_category());
        }
    };

    tcp::socket socket_;
    std::unique_ptr<SSL, ssl_deleter> ssl_;
    std::shared_ptr<memory_end> memory_;
};

}  // namespace bcp::net
