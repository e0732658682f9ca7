#pragma once
// Listening sockets. Every worker gets its own acceptor on the same address (SO_REUSEPORT), so
// the kernel spreads connections over the workers and none is handed between threads.

#include "core/asio.hpp"

#include <string>

namespace bcp::net {

/// Opens, binds and listens on `endpoint` with SO_REUSEADDR and SO_REUSEPORT, and TCP_INQ (best
/// effort), which accepted connections inherit, for net::async_drain_read. On failure returns a
/// closed acceptor and sets `error` (naming the address).
tcp::acceptor open_listener(asio::io_context& ioc, const tcp::endpoint& endpoint,
                            std::string& error);

/// Sets TCP_NODELAY; errors are ignored (a failed setsockopt does not make a connection unusable).
void tune_socket(tcp::socket& socket);

}  // namespace bcp::net
