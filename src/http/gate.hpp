#pragma once
// The request gate: decides, from a parsed head alone, whether a request may be forwarded.
// "Reject, don't normalize" (SECURITY.md): only body-less GET/HEAD (or a WebSocket upgrade GET)
// with one valid Host and a strictly valid origin-form target passes; and, the one exception, a
// POST to a path the node table allows it on, with a small body of a JSON or text type announced
// by one Content-Length (docs/security.md "POST").

#include "http/request_head.hpp"
#include "http/target.hpp"

#include <boost/beast/http/field.hpp>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace bcp::http {

struct gate_options {
    /// When non-empty, the Host (without port) must be one of these, else 421. Lower case.
    std::vector<std::string> server_names;
};

/// What the node table says about a POST's target (asked only for POST): whether its path is on
/// the node's allowlist, and the body limit there.
struct post_allowance {
    bool allowed = false;
    std::uint64_t max_body = 0;
};

struct gate_result {
    unsigned status = 0;           ///< 0 = forward; otherwise answer with this status
    std::string_view reason;       ///< static text for the log and error page when refused
    bool head_method = false;      ///< HEAD: the response has no body
    bool websocket = false;        ///< a valid WebSocket upgrade request
    bool keep_alive = true;        ///< the client allows another request on this connection
    bool post = false;             ///< an allowed POST: body_length bytes follow the head
    bool expect_continue = false;  ///< POST with Expect: 100-continue
    std::uint64_t body_length = 0;
    std::string_view host;  ///< the Host value (may be empty for HTTP/1.0)
    target_check target;    ///< path, query, first and second segment
};

/// Inspects a complete request head. Never throws; views point into `head`'s buffer. `post` is
/// the allowance for the target when the method is POST (405 without one).
gate_result inspect(const request_head& head, const gate_options& options,
                    const post_allowance& post = {});

/// Whether a Content-Type value is one a POST may carry: application/json or text/plain, with
/// any parameters (RFC 9110 §8.3.1: type and subtype are case-insensitive).
bool is_post_media_type(std::string_view content_type);

/// True when `name` is a hop-by-hop field (RFC 9110 §7.6.1) that a proxy never forwards.
bool is_hop_by_hop(std::string_view name);
/// The same set by the code Beast's parser gives a field name (a node's response fields): no
/// string comparison.
bool is_hop_by_hop(boost::beast::http::field f);

/// RFC 6455 §4.2.2: base64(SHA-1(key + GUID)).
std::string websocket_accept(std::string_view key);

}  // namespace bcp::http
