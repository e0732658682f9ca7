#pragma once
// The server side of one HTTP/2 connection (issue 16), without I/O: bytes from the client go in
// (receive), bytes for the client come out (take_output), and the owner answers the requests that
// come up (respond, send_data). nghttp2 (Debian's libnghttp2) does the framing, HPACK and flow
// control; this class owns the policy: which streams become requests (http::map_h2_request, then
// the same gate as HTTP/1.1), and the limits that hold under attack:
//   - concurrent streams (SETTINGS_MAX_CONCURRENT_STREAMS; nghttp2 refuses the excess);
//   - the header list of a stream (SETTINGS_MAX_HEADER_LIST_SIZE, enforced here while decoding:
//     an HPACK bomb stops being stored at the limit and becomes a 431);
//   - request-header bytes held by streams that have no response yet (a new stream past the
//     budget is refused with REFUSED_STREAM), and request-body bytes still arriving, per
//     connection and for all connections of a worker together (the stream whose DATA would pass
//     either budget is refused the same way);
//   - CONTINUATION frames per header block (nghttp2's limit; CVE-2024-27316 family);
//   - streams the client resets, per second (rapid reset, CVE-2023-44487), and control frames
//     (PING, SETTINGS, PRIORITY, RST_STREAM, WINDOW_UPDATE) per second: token buckets; past
//     them the connection ends with GOAWAY ENHANCE_YOUR_CALM;
//   - request bodies: at most what the owner allows for the stream's method and :path (the POST
//     exception's limit for that path, at most `max_body`), asked at its first DATA; past it a
//     413, and where no body is allowed the request is handed out at once, for the gate to
//     refuse, instead of being held until it ends. Within a bounded flow-control window; the
//     response to a stream may end before its request does (the stream is then reset with
//     NO_ERROR, RFC 9113 §8.1).
// Requests are handed out after each receive() call, not from inside nghttp2's callbacks: a
// stream opened and reset in the same read never becomes a request.
//
// Not thread-safe: one connection lives on one worker thread.

#include "http/h2_request.hpp"
#include "http/response_reader.hpp"

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace bcp::h2 {

struct limits {
    std::uint32_t max_concurrent_streams = 100;
    std::uint32_t header_table_size = 4'096;  ///< our HPACK decoder's dynamic table
    http::head_limits head;  ///< per stream: header list (431), fields, :path (414)
    std::size_t max_pending_header_bytes = 256 * 1024;  ///< all streams without a response yet
    std::size_t max_pending_body_bytes = 2 << 20;  ///< request bodies of all streams still arriving
    /// The same for all connections that share a worker's count (the constructor's
    /// `worker_pending_body`): budgets per connection multiply with connections, this one does not.
    std::size_t max_worker_pending_body_bytes = std::size_t{64} << 20;
    std::size_t max_continuations = 8;  ///< CONTINUATION frames per header block
    double resets_per_second = 100;     ///< client RST_STREAM, sustained
    double reset_burst = 400;
    double control_frames_per_second = 200;  ///< PING, SETTINGS, PRIORITY, RST, WINDOW_UPDATE
    double control_frame_burst = 1'000;
    std::uint32_t initial_window = 64 * 1024;  ///< per stream, for request bodies
    std::size_t max_body = 1 << 20;            ///< request body bytes per stream; more → 413
    std::size_t output_watermark = 64 * 1024;  ///< per stream: buffered response bytes before
                                               ///< the producer waits (on_writable)
    /// All streams together: past it no stream's producer adds output until the client has
    /// taken some (the owner's policy, see buffered_total()). 100 streams of a client that does
    /// not read would otherwise hold 100 watermarks.
    std::size_t output_cap = 1 << 20;
};

/// Why the connection ended on our side, for /metrics; none while it runs or for a clean end.
enum class refusal {
    none,
    protocol,            ///< a connection error nghttp2 found (bad frame, bad preface, ...)
    rapid_reset,         ///< too many client resets per second
    control_flood,       ///< too many control frames per second
    continuation_flood,  ///< too many CONTINUATION frames in a header block
};
std::string_view to_string(refusal r);

/// A stream that became a request: the head (views into `storage`/`fields`, which the request
/// owns) and its body. `status` non-zero: refused before the gate (400, 413, 414, 431), answer it.
struct request {
    std::int32_t stream = 0;
    http::request_head head;
    unsigned status = 0;
    std::string_view reason;
    std::string body;
    /// Handed out at its first body bytes because no body is allowed for it (handlers::body_limit
    /// said 0): `body` is empty, and more was sent. Nothing may forward it; the gate refuses it.
    bool body_refused = false;
    /// Storage the head points into; kept stable by living on the heap with the request.
    struct storage_t {
        std::string block;  ///< the decoded names and values, one after another
        std::vector<http::h2_field> fields;
        std::string joined;
    };
    std::unique_ptr<storage_t> storage;
};

/// Counters of what was refused on streams (the connection goes on): for /metrics.
struct stream_counters {
    std::uint64_t malformed = 0;        ///< RST_STREAM PROTOCOL_ERROR (RFC 9113 §8.1.1)
    std::uint64_t refused_pending = 0;  ///< REFUSED_STREAM: header budget of the connection
    std::uint64_t client_resets = 0;    ///< RST_STREAM from the client
};

/// A response field for respond()/inform(): views, used only during the call; the name in any
/// case (lower-cased on the way out).
using header = http::field_view;

class connection {
  public:
    struct handlers {
        /// A request to answer (respond + send_data), or to refuse with its `status`.
        std::function<void(request&&)> on_request;
        /// The client reset a stream whose request was handed out and whose response is not
        /// complete: stop producing for it.
        std::function<void(std::int32_t stream)> on_cancel;
        /// A stream's buffered output fell below the watermark: more may be sent.
        std::function<void(std::int32_t stream)> on_writable;
        /// The most body bytes a request with this :method and :path may send (capped at
        /// limits::max_body; 0: none at all), asked at a stream's first DATA. Unset: max_body.
        std::function<std::size_t(std::string_view method, std::string_view path)> body_limit;
    };

    /// `worker_pending_body`, when given, is the count of request-body bytes still arriving that
    /// this connection shares with the others of its worker (one thread); it must outlive them.
    connection(const limits& l, handlers h, std::size_t* worker_pending_body = nullptr);
    ~connection();
    connection(const connection&) = delete;
    connection& operator=(const connection&) = delete;

    /// Feeds bytes read from the client and hands out the requests completed by them. False when
    /// the connection is to end: flush take_output() (it may hold a GOAWAY), then close.
    bool receive(std::string_view bytes);

    /// Appends bytes for the client to `out` (frames nghttp2 has ready, data of streams with
    /// output and window) until it holds `max` or more (at most one DATA frame, 16 KiB, past
    /// `max`). Nothing appended when nothing can be sent now.
    void take_output(std::string& out, std::size_t max = 256 * 1024);

    /// Whether the connection still reads and whether it has something to send; both false: done.
    bool wants_read() const;
    bool wants_write() const;

    /// Starts the response of `stream`: `:status` and the fields (connection-specific ones are
    /// dropped, names lower-cased). `end` with no body to follow. False when the stream is gone.
    bool respond(std::int32_t stream, unsigned status, std::span<const header> fields, bool end);
    /// A 1xx response (103 Early Hints) before the final one.
    bool inform(std::int32_t stream, unsigned status, std::span<const header> fields);
    /// Appends body bytes to the stream's output (`last` ends the stream). False when gone.
    bool send_data(std::int32_t stream, std::string_view bytes, bool last);
    /// Bytes of the stream's response not yet handed to take_output (0 when gone).
    std::size_t buffered(std::int32_t stream) const;
    /// The same for all streams together.
    std::size_t buffered_total() const { return buffered_total_; }
    /// Resets a stream (e.g. the node failed mid-body).
    void reset(std::int32_t stream, std::uint32_t error_code);

    /// Graceful end: GOAWAY NO_ERROR naming the last stream that was processed; open streams
    /// finish, new ones are refused. wants_read()/wants_write() go false when they are done.
    void shutdown();

    refusal why() const { return why_; }
    const stream_counters& counters() const { return counters_; }
    /// Streams open now (requests handed out and not finished, or still arriving).
    std::size_t open_streams() const;
    /// When the oldest request still arriving (header block or body incomplete) began; nullopt
    /// when none is. The owner holds such a request to the head deadline, as over HTTP/1.1.
    std::optional<std::chrono::steady_clock::time_point> oldest_incomplete() const;

  private:
    struct stream_state;
    struct callbacks;
    friend struct callbacks;

    /// A token bucket: `rate` per second, at most `burst`.
    struct bucket {
        double tokens;
        std::chrono::steady_clock::time_point last;
        bool take(double rate, double burst);
    };

    void fail(refusal r, std::uint32_t error_code);
    void finish_request(std::int32_t id, stream_state& s);
    void release_header_budget(stream_state& s);
    /// What handlers::body_limit says of the stream's :method and :path, at most max_body.
    std::size_t body_limit_of(const stream_state& s) const;
    /// The stream's body, out of it and out of pending_body_bytes_.
    std::string take_body(stream_state& s);

    limits limits_;
    handlers handlers_;
    void* session_ = nullptr;  // nghttp2_session*
    std::map<std::int32_t, std::unique_ptr<stream_state>> streams_;
    std::vector<request> ready_;  ///< completed during the current receive()
    std::size_t pending_header_bytes_ = 0;
    std::size_t pending_body_bytes_ = 0;          ///< bodies of streams not handed out yet
    std::size_t* worker_pending_body_ = nullptr;  ///< the worker's sum of pending_body_bytes_
    std::size_t buffered_total_ = 0;              ///< response bytes of all streams not taken yet
    bucket resets_;
    bucket control_;
    std::string* sink_ = nullptr;  ///< take_output's `out` while it runs (callbacks::send_data)
    std::size_t sink_max_ = 0;
    std::vector<std::int32_t> writable_;  ///< streams to tell on_writable after take_output
    refusal why_ = refusal::none;
    stream_counters counters_;
};

}  // namespace bcp::h2
