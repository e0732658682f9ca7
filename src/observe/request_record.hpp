#pragma once
// What the proxy knows about one request when it is done: the access log line and the per-node
// metrics are both made from it. The session fills one record per request (and one per WebSocket
// tunnel, logged when the tunnel closes). Other modules add their own fields here (the cache sets
// `cache`); keep every field cheap to fill, the record exists whether or not the log is on.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace bcp::observe {

struct request_record {
    std::chrono::system_clock::time_point time;   ///< the request head was complete
    std::chrono::steady_clock::time_point start;  ///< same instant, for durations
    std::string_view client;                      ///< client IP (owned by the session)
    std::string node;                             ///< node id; empty = not routed ("-")
    std::string method;                           ///< as received; empty for unparsable heads
    std::string path;                             ///< target without the query (tokens live there)
    unsigned version = 11;                        ///< 10, 11 or 20 (HTTP/2)
    unsigned status = 0;                          ///< status sent; 0 = none sent
    std::uint64_t bytes = 0;                      ///< response body bytes sent to the client
    std::chrono::microseconds duration{0};        ///< start to the last byte sent
    std::optional<std::chrono::microseconds> upstream;  ///< start to the node's response head
    std::string cache = "-";     ///< cache outcome (HIT, MISS, ...), "-" = none
    std::string encoding = "-";  ///< content coding sent (identity, gzip, br, zstd), "-" = none
    bool tunnel = false;         ///< a WebSocket tunnel followed the 101
    std::chrono::microseconds tunnel_duration{0};
    std::uint64_t tunnel_bytes_to_client = 0;
    std::uint64_t tunnel_bytes_to_node = 0;
    bool started = false;  ///< a request head (valid or not) was read

    /// Resets for the next request on the same connection, keeping string capacity.
    void reset() {
        node.clear();
        method.clear();
        path.clear();
        version = 11;
        status = 0;
        bytes = 0;
        duration = {};
        upstream.reset();
        cache = "-";
        encoding = "-";
        tunnel = false;
        tunnel_duration = {};
        tunnel_bytes_to_client = tunnel_bytes_to_node = 0;
        started = false;
    }

    /// Marks the start of a request (now).
    void begin() {
        time = std::chrono::system_clock::now();
        start = std::chrono::steady_clock::now();
        started = true;
    }

    std::chrono::microseconds since_start() const {
        return std::chrono::duration_cast<std::chrono::microseconds>(
            std::chrono::steady_clock::now() - start);
    }
};

}  // namespace bcp::observe
