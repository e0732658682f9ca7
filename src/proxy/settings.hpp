#pragma once
// What a session needs from the configuration, in the data path's own terms (http/, net/ and
// upstream/ never see YAML; DESIGN.md §3).

#include "config/config.hpp"
#include "h2/connection.hpp"
#include "http/gate.hpp"
#include "http/request_head.hpp"

#include <chrono>
#include <string>

namespace bcp::proxy {

struct settings {
    http::gate_options gate;
    http::head_limits head;
    config::timeouts timeout;
    std::size_t max_connections = 0;
    std::size_t max_response_header_bytes = 0;
    std::string public_origin;     ///< "https://proxy.example.com"
    std::string public_authority;  ///< "proxy.example.com"
    h2::limits http2;              ///< per HTTP/2 connection (issue 16)

    static settings from(const config::proxy_config& c);
};

inline settings settings::from(const config::proxy_config& c) {
    settings s;
    s.gate.server_names = c.server_names;
    s.head.max_bytes = c.limit.max_header_bytes;
    s.head.max_fields = c.limit.max_headers;
    s.head.max_target = std::min<std::size_t>(8'192, c.limit.max_header_bytes);
    s.timeout = c.timeout;
    s.max_connections = c.limit.max_connections;
    s.max_response_header_bytes = c.limit.max_response_header_bytes;
    s.public_origin = c.public_origin.to_string();
    s.public_authority = c.public_origin.authority();
    s.http2.head = s.head;
    s.http2.max_concurrent_streams = static_cast<std::uint32_t>(c.http2.max_concurrent_streams);
    s.http2.max_pending_header_bytes = c.http2.max_pending_header_bytes;
    s.http2.max_pending_body_bytes = c.http2.max_pending_body_bytes;
    s.http2.max_worker_pending_body_bytes = c.http2.max_pending_body_bytes_per_worker;
    s.http2.max_continuations = c.http2.max_continuations;
    s.http2.resets_per_second = static_cast<double>(c.http2.resets_per_second);
    s.http2.reset_burst = static_cast<double>(c.http2.reset_burst);
    s.http2.control_frames_per_second = static_cast<double>(c.http2.control_frames_per_second);
    s.http2.control_frame_burst = static_cast<double>(c.http2.control_frame_burst);
    // The POST exception's ceiling (config allows no more); each path's own post.max_body_size
    // applies at a stream's first DATA (h2_frontend's body_limit) and again at the gate.
    s.http2.max_body = 1u << 20;
    return s;
}

}  // namespace bcp::proxy
