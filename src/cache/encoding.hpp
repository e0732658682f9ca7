#pragma once
// Content codings for the asset cache as pure functions (no I/O): which coding a client gets
// (RFC 9110 §12.5.3), which responses are worth compressing, and the entity tag of each encoded
// variant. The compressors themselves live in cache/codec.hpp.

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace bcp::cache {

/// The content codings the cache can store and send (RFC 9110 §8.4.1, RFC 7932, RFC 8878).
/// The values index per-variant arrays and `available` masks.
/// dcz (RFC 9842) is a delta against a dictionary the client holds: never negotiated here, never a
/// body variant; cache/dictionary.hpp and the hit path choose it, and it has its figures here.
enum class coding : std::uint8_t { identity = 0, gzip = 1, br = 2, zstd = 3, dcz = 4 };
inline constexpr std::size_t coding_count = 5;

/// The registered token: "identity", "gzip", "br", "zstd", "dcz".
std::string_view to_token(coding c);

/// The coding a token names, case-insensitively; "x-gzip" is gzip (RFC 9110 §8.4.1.3). Unknown
/// tokens (deflate, compress, dcb, …) give nullopt.
std::optional<coding> coding_from_token(std::string_view t);

/// Bit for `available` masks.
constexpr unsigned bit(coding c) {
    return 1u << static_cast<unsigned>(c);
}

/// RFC 9110 §12.5.3 negotiation. `accept_encoding` is every Accept-Encoding field line of the
/// request joined with ", "; `present` says whether the request had the field at all.
/// `available` is the mask of codings the server can send now; identity is always available,
/// whether or not its bit is set.
///
/// - No field: identity (the RFC allows any coding; an old client or a script is safest so).
/// - Empty field value: identity only.
/// - Weights: qvalue grammar only (0, 0.x with up to 3 decimals, 1, 1.0 to 1.000). A member with
///   an invalid weight or any parameter other than one "q" is ignored. A coding listed twice gets
///   the lower of its weights.
/// - "*" gives its weight to every coding not listed explicitly, identity included.
/// - identity is acceptable unless "identity;q=0", or "*;q=0" without an identity entry. When
///   neither identity nor "*" is listed, identity ranks below every listed coding with q > 0.
/// - Highest weight wins; ties go br > zstd > gzip > identity.
/// - When no available coding is acceptable, identity anyway: a server may disregard the
///   preference rather than answer 406 (RFC 9110 §12.1), and a 406 for an asset helps no one.
/// - Unknown codings (deflate, compress, dcb, dcz, …) are ignored. Work is linear in the input.
coding negotiate(std::string_view accept_encoding, bool present, unsigned available);

/// Whether the field gives coding `c` a weight above 0, by the rules above (an absent field
/// accepts identity only, matching negotiate()'s choice). Used to decide whether to ask a node
/// for gzip.
bool accepts(std::string_view accept_encoding, bool present, coding c);

/// The weight, in thousandths (0 to 1000), that `accept_encoding` gives the content coding
/// `token` (compared case-insensitively) by naming it, read member by member as negotiate() reads
/// them (a member with an invalid weight or another parameter is ignored; a coding named twice
/// gets the lower weight); nullopt when no readable member names it. "*" is not consulted: this
/// is for codings a client has to ask for by name, like dcz (cache/dictionary.hpp).
std::optional<int> listed_weight(std::string_view accept_encoding, std::string_view token);

/// Whether a response of media type `content_type` (a Content-Type value, parameters allowed,
/// case-insensitive) to the request path `path` (the query, if any, is ignored) is worth
/// compressing: text, scripts, JSON, XML, SVG, WebAssembly and uncompressed font formats are;
/// images other than SVG, audio, video, WOFF/WOFF2 and archives are not. For
/// application/octet-stream or an empty type the path's extension decides (.js .mjs .css .map
/// .json .wasm .svg .txt .html .htm .xml .ttf .otf .eot .webmanifest). Other types are not
/// compressed.
bool compressible(std::string_view content_type, std::string_view path);

/// A strong entity tag for variant `c` of a body whose identity bytes have SHA-256
/// `identity_hash`: the first 16 bytes in lower-case hex, then "-<token>" unless identity, in
/// double quotes (e.g. "\"0123…ef-br\""). Stable and distinct per coding: RFC 9110 §8.8.3 wants
/// a different strong tag for each representation, content coding included.
std::string variant_etag(const std::array<std::uint8_t, 32>& identity_hash, coding c);

}  // namespace bcp::cache
