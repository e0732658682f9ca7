#pragma once
// What both ways to Scalelite's registry (its Redis, its server API) share: how to connect, and
// why a read failed (for the poller's state and metrics; `message` for the log, in an operator's
// words, never with a password or secret).

#include "core/asio.hpp"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

namespace boost::asio::ssl {
class context;
}
namespace bcp::net {
class stream;
}

namespace bcp::discovery {

struct source_options {
    std::chrono::milliseconds connect_timeout{2'000};  ///< TCP connect, TLS handshake, AUTH+SELECT
    std::chrono::milliseconds read_timeout{
        2'000};                                ///< a pipeline or an API call: sent to last byte
    boost::asio::ssl::context* tls = nullptr;  ///< client context for rediss:// and https://
    bool verify = true;                        ///< verify the server certificate and name
    std::size_t max_reply_bytes = 64u << 20;   ///< per pipeline or answer; more is an error
};

struct source_error {
    enum class kind {
        none,
        connect,   ///< DNS, TCP or TLS
        timeout,   ///< a deadline passed
        auth,      ///< the password or the API checksum was refused
        protocol,  ///< the bytes were not Redis's protocol, or not HTTP/JSON as expected
        io,        ///< the connection broke
        reply      ///< a well-formed answer that is an error (WRONGTYPE, an HTTP error status)
    } what = kind::none;
    std::string message;
    explicit operator bool() const { return what != kind::none; }
};

/// Connects to host:port and, with `tls`, performs the TLS handshake (SNI; the certificate and
/// name verified unless options.verify is false), all within options.connect_timeout. nullptr with
/// `error` set on failure; `where` (a redacted URL) leads the message.
awaitable<std::unique_ptr<net::stream>> open_stream(const std::string& host, std::uint16_t port,
                                                    bool tls, const source_options& options,
                                                    const std::string& where, source_error& error);

}  // namespace bcp::discovery
