#pragma once
// HTTP/2 to browsers (issue 16): a TLS connection whose client chose `h2` by ALPN is served here
// instead of by the session's HTTP/1.1 loop. h2::connection does the protocol and its limits;
// each stream that becomes a request is served by a session of its own (the second session
// constructor) over an in-process stream (net::memory_end): the HTTP/1.1 request an HTTP/1.1
// client would have sent for the same header block is put in the session's input buffer, and the
// session answers it exactly as it answers an HTTP/1.1 client — gate, routing, cache, coalescing,
// compressed variants, 304s, 103s, local pages, per-IP limits, deadlines, access log — so both
// protocols share one request path. Its HTTP/1.1 response is read back here
// (http::response_reader) and sent as HEADERS and DATA frames. Writes into a stream wait while that
// stream holds output_watermark bytes for the client, or all streams together output_cap, so a
// client that does not read holds a bounded buffer per stream and per connection, and the
// stream's session drops it at its send deadline (docs/architecture.md "HTTP/2").

#include "core/asio.hpp"
#include "h2/connection.hpp"

#include <boost/asio/steady_timer.hpp>

#include <cstdint>
#include <deque>
#include <map>
#include <memory>

namespace bcp::net {
class stream;
}

namespace bcp::proxy {

class session;

class h2_frontend {
  public:
    /// Whether the TLS handshake on `client` selected h2.
    static bool negotiated(net::stream& client);
    /// Serves the connection of `owner` (handshake done, h2 selected) until it ends.
    static awaitable<void> serve(session& owner);

    explicit h2_frontend(session& owner);
    ~h2_frontend();
    h2_frontend(const h2_frontend&) = delete;
    h2_frontend& operator=(const h2_frontend&) = delete;

    /// Graceful end (reload, shutdown): GOAWAY; running streams finish. Idempotent.
    void drain();

  private:
    class pipe;
    friend class pipe;

    awaitable<void> read_loop();
    awaitable<void> write_loop();
    void wake();
    /// Lets parked writes go on while the connection has room (h2::limits::output_cap).
    void resume_waiting();
    void start(h2::request&& r);
    void count_refusals();  ///< once, when the connection has ended

    session& s_;
    std::unique_ptr<h2::connection> conn_;
    std::map<std::int32_t, std::shared_ptr<pipe>> pipes_;
    std::deque<std::int32_t> waiting_;  ///< streams whose write waits for room, oldest first
    asio::steady_timer wake_;
    bool dirty_ = false;         ///< output may be ready: the writer looks before it waits
    bool reading_done_ = false;  ///< the client closed or failed, or the connection is refused
    bool draining_ = false;
};

}  // namespace bcp::proxy
