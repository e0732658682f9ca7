#pragma once
// An HTTP/2 request's header block as the request head the HTTP/1.1 path validates (issue 16:
// "one gate for both protocols"). RFC 9113 §8.2–8.3 makes some header blocks malformed: those
// are a stream error (RST_STREAM PROTOCOL_ERROR, §8.1.1) and never become a request. Everything
// else becomes a request_head that http::inspect() then judges exactly as it judges HTTP/1.1
// (method, target, Host, server_names), so an HTTP/2 client can send a node nothing an HTTP/1.1
// client could not: what is malformed in HTTP/2 is the set of things an HTTP/1.1 request built
// from it could smuggle (connection-specific fields, CR/LF/NUL, a second authority).

#include "http/request_head.hpp"

#include <span>
#include <string>
#include <string_view>

namespace bcp::http {

/// One field of a request's header block, HPACK-decoded, in the order received. Pseudo-header
/// fields keep their ':'.
struct h2_field {
    std::string_view name;
    std::string_view value;
};

struct h2_mapping {
    /// The header block is malformed (RFC 9113 §8.1.1): reset the stream with PROTOCOL_ERROR,
    /// answer nothing, forward nothing.
    bool malformed = false;
    /// Not malformed but refused before the gate (431: limits; 414: target; 400: a scheme other
    /// than https): answer this status. 0 with malformed false: `out` is the request to inspect.
    unsigned status = 0;
    std::string_view reason;  ///< static text for the log (and the page of a refusal)
};

/// RFC 9113 §8.2.2: fields that only mean something to an HTTP/1.1 connection (connection,
/// keep-alive, proxy-connection, transfer-encoding, upgrade); `name` in lower case.
bool is_connection_specific(std::string_view name);

/// Maps a stream's header block to `out` (cleared first): method and target from :method and
/// :path, version 11 (HTTP/2 has HTTP/1.1's semantics: one Host is required), a Host from
/// :authority (or the client's host field, which must then name the same authority), the other
/// fields in their order with every cookie crumb joined into one Cookie (§8.2.3) and `te`
/// dropped. The views in `out` point into `fields` and `storage`, which must outlive it and stay
/// unchanged. `limits` as for HTTP/1.1 heads: the header list's size (RFC 9113 §6.5.2: names +
/// values + 32 per field) against max_bytes, fields against max_fields, :path against
/// max_target.
h2_mapping map_h2_request(std::span<const h2_field> fields, const head_limits& limits,
                          std::string& storage, request_head& out);

}  // namespace bcp::http
