#pragma once
// Re-framing in both directions (SECURITY.md "Headers", DESIGN.md §2 steps 5–6). Heads are built
// from parsed fields into a caller-owned string (reused across requests: no per-request
// allocation once it has grown).

#include "http/gate.hpp"
#include "http/request_head.hpp"

#include <boost/beast/http/fields.hpp>

#include <cstdint>
#include <memory_resource>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace bcp::http {

struct forward_context {
    std::string_view upstream_authority;  ///< the node's "host[:port]": our Host header
    std::string_view client_address;      ///< peer IP, for X-Forwarded-For
    bool client_tls = false;              ///< X-Forwarded-Proto https/http
    std::string_view public_authority;    ///< X-Forwarded-Host when the client sent no Host
    /// Cache fills: drop the client's If-None-Match/If-Modified-Since/If-Match/
    /// If-Unmodified-Since/If-Range (the cache wants the full response and answers the client's
    /// conditions itself).
    bool drop_conditionals = false;
    std::string_view extra_fields;  ///< complete "Name: value\r\n" lines appended (validators)
    /// Our Accept-Encoding for the node, replacing the client's ("gzip" when the client takes
    /// gzip; empty = none, i.e. identity): the node may only use a coding the proxy can decode
    /// for its cache (docs/node-setup.md "Compression").
    std::string_view accept_encoding;
    /// The length of the request body that follows (an allowed POST): sent as our own
    /// Content-Length. Without one, the request has no body and no Content-Length.
    std::optional<std::uint64_t> content_length;
};

/// Writes the request for the node into `out` (cleared first): request line with the validated raw
/// target, our Host, the client's end-to-end fields minus hop-by-hop ones, minus those the client
/// nominated in Connection, minus client X-Forwarded-*/Forwarded/X-Real-IP/Via/Expect/
/// Accept-Encoding; then ours: X-Forwarded-For/Proto/Host, Accept-Encoding, and for a WebSocket
/// upgrade Connection/Upgrade. No Via: nginx does not compress a request that carries one
/// (gzip_proxied off, as on every BBB node), see docs/security.md "Via".
void build_upstream_request(const request_head& head, const gate_result& gate,
                            const forward_context& ctx, std::string& out);

/// How the body of a response is delimited towards the client.
enum class framing {
    none,  ///< no body (HEAD, 1xx, 204, 304) — Content-Length copied if the node sent it
    content_length,  ///< Content-Length: n
    chunked,         ///< Transfer-Encoding: chunked (HTTP/1.1 clients, unknown length)
    close,           ///< delimited by closing the connection (HTTP/1.0 clients, unknown length)
};

struct response_context {
    std::string_view node_origin;    ///< "https://bbb-01.example.com" (lower case, no slash)
    std::string_view public_origin;  ///< "https://proxy.example.com"
    std::string_view node_id;
    std::span<const std::string> mounts;
    framing body = framing::content_length;
    std::uint64_t content_length = 0;  ///< with framing::content_length
    bool keep_alive = true;            ///< false: add Connection: close
    bool upgrade = false;              ///< a 101 to a WebSocket: keep Upgrade, Connection: upgrade
};

/// A node's response fields as the proxy parses them: in the exchange's arena
/// (proxy/exchange.hpp), not one allocation per field.
using node_fields = boost::beast::http::basic_fields<std::pmr::polymorphic_allocator<char>>;

/// Writes the client's response head into `out` (cleared first). Upstream framing and hop-by-hop
/// fields (and those named in the node's Connection) are dropped; Location is rewritten from the
/// node's origin to the public origin when it points under one of the node's mounts.
void build_response_head(unsigned status, std::string_view reason, const node_fields& fields,
                         const response_context& ctx, std::string& out);

/// The Location rewrite alone: returns the rewritten value, or `value` unchanged.
std::string rewrite_location(std::string_view value, const response_context& ctx);

}  // namespace bcp::http
