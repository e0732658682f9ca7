#pragma once
// Graceful refusal of a connection the proxy will not serve (connection caps): the answer is
// written before the request is read (it fits the empty send buffer of a fresh socket), the
// write side is shut, and whatever the client sends is read and dropped for a short while.
// Closing at once instead would make the kernel answer the client's request with a reset, which
// can destroy the reply before the browser reads it. TLS connections are closed without a
// handshake (the handshake would be the expensive part an attacker wants us to do).

#include "core/asio.hpp"

#include <chrono>
#include <cstddef>
#include <string>

namespace bcp::proxy {

struct refusal_budget {
    std::size_t lingering = 0;        ///< refused sockets still being drained on this worker
    std::size_t max_lingering = 256;  ///< beyond this, refused sockets are closed at once
};

/// Writes `reply` (if not empty) to a fresh plain socket and closes it gracefully within
/// `linger`. Runs on the socket's executor; `budget` belongs to the same worker.
void refuse_connection(tcp::socket socket, std::string reply, refusal_budget& budget,
                       std::chrono::milliseconds linger = std::chrono::milliseconds(1000));

}  // namespace bcp::proxy
