#pragma once
// An outgoing TCP connection: resolve and connect under one deadline. Used for nodes
// (upstream::pool) and for Redis (discovery); TLS, when wanted, is the caller's next step.

#include "core/asio.hpp"

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

namespace bcp::net {

struct connect_outcome {
    std::optional<tcp::socket> socket;  ///< connected, TCP_NODELAY set; empty on failure
    error_code ec;                      ///< errc::timeout when the deadline passed
    std::string message;  ///< "cannot resolve HOST: ...", "cannot connect to HOST:PORT: ...",
                          ///< "connecting to HOST:PORT timed out"
};

/// Resolves `host` and connects to the first address that accepts, within `timeout`, on the
/// calling coroutine's executor (an io_context's).
awaitable<connect_outcome> connect_tcp(const std::string& host, std::uint16_t port,
                                       std::chrono::milliseconds timeout);

}  // namespace bcp::net
