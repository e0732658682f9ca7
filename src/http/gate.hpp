#pragma once
// The request gate: decides, from a parsed head alone, whether a request may be forwarded.
// "Reject, don't normalize" (SECURITY.md): only body-less GET/HEAD (or a WebSocket upgrade GET)
// with one valid Host and a strictly valid origin-form target passes.

#include "http/request_head.hpp"
#include "http/target.hpp"

#include <string>
#include <string_view>
#include <vector>

namespace bcp::http {

struct gate_options {
    /// When non-empty, the Host (without port) must be one of these, else 421. Lower case.
    std::vector<std::string> server_names;
};

struct gate_result {
    unsigned status = 0;       ///< 0 = forward; otherwise answer with this status
    std::string_view reason;   ///< static text for the log and error page when refused
    bool head_method = false;  ///< HEAD: the response has no body
    bool websocket = false;    ///< a valid WebSocket upgrade request
    bool keep_alive = true;    ///< the client allows another request on this connection
    std::string_view host;     ///< the Host value (may be empty for HTTP/1.0)
    target_check target;       ///< path, query, first and second segment
};

/// Inspects a complete request head. Never throws; views point into `head`'s buffer.
gate_result inspect(const request_head& head, const gate_options& options);

/// True when `name` is a hop-by-hop field (RFC 9110 §7.6.1) that a proxy never forwards.
bool is_hop_by_hop(std::string_view name);

/// RFC 6455 §4.2.2: base64(SHA-1(key + GUID)).
std::string websocket_accept(std::string_view key);

}  // namespace bcp::http
