#pragma once
// Request-target validation (SECURITY.md "validate, don't normalize"). The proxy forwards the raw
// target unchanged, so it must be sure the node will interpret it exactly as the router did:
// anything that a server might decode or normalize into another path is refused.

#include <string_view>

namespace bcp::http {

struct target_check {
    unsigned status = 0;      ///< 0 = valid; otherwise 400
    std::string_view reason;  ///< static text when invalid
    std::string_view path;    ///< the part before '?'
    std::string_view query;   ///< the part after '?', without it (empty if none)
    std::string_view first;   ///< first path segment (node id candidate), may be empty
    std::string_view second;  ///< second path segment (mount candidate), may be empty
};

/// Validates an origin-form target. Refuses absolute-form, authority-form and '*', encoded
/// slashes/backslashes/dots/NUL in the path (encoded backslash/NUL in the query too), malformed
/// percent-encoding, '.' and '..' segments, empty segments ("//"), '\\', '#', control bytes and
/// bytes >= 0x80.
target_check check_target(std::string_view target);

}  // namespace bcp::http
