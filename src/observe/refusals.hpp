#pragma once
// Why the proxy refused or cut a client (docs/security.md "Limits"): one counter per reason,
// part of each worker's observe::counters. `refusal_names` are the label values for /metrics.

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace bcp::observe {

enum class refusal : std::size_t {
    connection_cap,     ///< limits.max_connections reached (503 on plain HTTP, else closed)
    ip_connection_cap,  ///< limits.max_connections_per_ip reached (429 on plain HTTP)
    ip_rate,            ///< limits.requests_per_second_per_ip bucket empty (429 + Retry-After)
    bad_request,        ///< 400: malformed head, smuggling shape, bad target or Host
    method,             ///< 405
    target_too_long,    ///< 414
    misdirected,        ///< 421: Host not in server_names
    header_too_large,   ///< 431: limits.max_header_bytes or limits.max_headers
    version,            ///< 505
    head_timeout,       ///< timeouts.client_head (slowloris, or no request after connect)
    idle_timeout,       ///< timeouts.client_idle on a keep-alive connection
    send_timeout,       ///< timeouts.client_send (client stopped reading)
    tunnel_idle,        ///< timeouts.tunnel_idle closed a WebSocket tunnel
    length_required,    ///< 411: an allowed POST without Content-Length
    body_too_large,     ///< 413: an allowed POST's body over post.max_body_size
    media_type,         ///< 415: an allowed POST's body is not JSON or text
    expectation,        ///< 417: an Expect other than 100-continue
    body_timeout,       ///< an allowed POST's body not complete within timeouts.client_head
    h2_malformed,       ///< HTTP/2: a malformed header block (RST_STREAM PROTOCOL_ERROR)
    h2_refused_stream,  ///< HTTP/2: request headers over the connection's budget (REFUSED_STREAM)
    h2_rapid_reset,     ///< HTTP/2: client resets over the rate (GOAWAY ENHANCE_YOUR_CALM)
    h2_control_flood,   ///< HTTP/2: control frames over the rate (GOAWAY ENHANCE_YOUR_CALM)
    h2_continuation_flood,  ///< HTTP/2: CONTINUATION frames over the limit per header block
    h2_protocol,            ///< HTTP/2: a connection error (bad frame, preface, flow control)
    count_
};

inline constexpr std::array<std::string_view, static_cast<std::size_t>(refusal::count_)>
    refusal_names{"connection_cap",
                  "ip_connection_cap",
                  "ip_rate",
                  "bad_request",
                  "method",
                  "target_too_long",
                  "misdirected",
                  "header_too_large",
                  "version",
                  "head_timeout",
                  "idle_timeout",
                  "send_timeout",
                  "tunnel_idle",
                  "length_required",
                  "body_too_large",
                  "media_type",
                  "expectation",
                  "body_timeout",
                  "h2_malformed",
                  "h2_refused_stream",
                  "h2_rapid_reset",
                  "h2_control_flood",
                  "h2_continuation_flood",
                  "h2_protocol"};

struct refusal_counters {
    std::array<std::atomic<std::uint64_t>, static_cast<std::size_t>(refusal::count_)> by_reason{};

    void bump(refusal r, std::uint64_t n = 1) {
        by_reason[static_cast<std::size_t>(r)].fetch_add(n, std::memory_order_relaxed);
    }
    std::uint64_t get(refusal r) const {
        return by_reason[static_cast<std::size_t>(r)].load(std::memory_order_relaxed);
    }
    /// The reason for a refusal status the proxy answers itself (4xx/505), or count_.
    static refusal for_status(unsigned status) {
        switch (status) {
            case 400:
                return refusal::bad_request;
            case 405:
                return refusal::method;
            case 411:
                return refusal::length_required;
            case 413:
                return refusal::body_too_large;
            case 414:
                return refusal::target_too_long;
            case 415:
                return refusal::media_type;
            case 417:
                return refusal::expectation;
            case 421:
                return refusal::misdirected;
            case 429:
                return refusal::ip_rate;
            case 431:
                return refusal::header_too_large;
            case 505:
                return refusal::version;
            default:
                return refusal::count_;
        }
    }
    void bump_status(unsigned status) {
        if (const refusal r = for_status(status); r != refusal::count_) {
            bump(r);
        }
    }
};

}  // namespace bcp::observe
