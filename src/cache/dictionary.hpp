#pragma once
// Compression Dictionary Transport (RFC 9842) as pure functions, no I/O: which stored client
// assets are offered as dictionaries and with which URL pattern (Use-As-Dictionary), the hash a
// request names (Available-Dictionary), whether it accepts "dcz", and the dcz coding itself
// (libzstd with the dictionary as raw content). Every function may run on any thread at once.
//
// Section numbers are RFC 9842's: §2.1 Use-As-Dictionary (§2.1.1 match, §2.1.3 id), §2.2
// Available-Dictionary, §5 Dictionary-Compressed Zstandard, §6.1 Accept-Encoding.

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace bcp::cache {

/// A response's offer as a dictionary (RFC 9842 §2.1): the `match` URL pattern and a stable `id`.
struct dictionary_offer {
    std::string match;
    std::string id;
};

/// Whether a response of media type `content_type` (a Content-Type value, parameters allowed,
/// case-insensitive) to `path` (the query, if any, is ignored) is offered as a dictionary: the
/// assets that change a little from one client version to the next, so that the old version
/// makes a good dictionary for the new one. JavaScript (scripts, modules, workers), CSS,
/// WebAssembly, JSON (source maps, locales, manifests: application/json and +json types) and
/// uncompressed fonts (TTF, OTF). By type first; for application/octet-stream or an empty type by
/// the path's extension (.js .mjs .css .wasm .json .map .ttf .otf). Never HTML (the pages are
/// per node and small), never WOFF/WOFF2 (compressed inside, so a delta between two versions
/// finds next to nothing: the same reason cache::compressible skips them), images or media.
bool offers_dictionary(std::string_view path, std::string_view content_type);

/// The offer for a proxied client asset at `path` (the request target's path, no query; e.g.
/// "/bbb-01/html5client/app.3f9a1c2b.js" gives match "/*/html5client/app.*.js"), so that the
/// pattern matches the same file on every node and in the next client version:
///
/// - The first segment (the node id) becomes `*`. Other directory segments are kept literally.
/// - In the file name (the last segment), apart from its extension (from the last '.', unless
///   only digits follow it), every build number or content hash becomes `*`. The name is read as
///   words (runs of ASCII letters and digits) between separators (everything else, kept literally).
///   A word is a hash when it has at least 8 characters and is hex in one letter case ("3f9a1c2b",
///   Meteor's 40-hex names, webpack's [contenthash]), or mixes at least two of lower case, upper
///   case and digits with no run of more than 5 from one class ("a1B2c3D4e5", "DiwrgTda", esbuild's
///   "5KQZQ3FJ"; not "ServiceWorker", "polyfills2023"). A word of 6 or more digits is a build
///   number. Versions, two or more numbers joined by '.' with an optional leading 'v'
///   ("2.7.3", "v1.10"), become one `*`: they change on every upgrade. Shorter numbers ("en-2",
///   webpack's numeric chunk ids "123.js") and plain words stay, so "sip.js", "bundle.js" and
///   "en.json" keep their names. Hashes cut by '-' or '_' (some base64url hashes) are not seen.
/// - URL pattern syntax among the allowed characters (':' '(' ')' '+') is escaped with '\'.
///
/// nullopt when the path does not start with '/', has fewer than 3 segments, an empty, "." or
/// ".." segment, a character outside [A-Za-z0-9._~!$&'()+,;=:@-] and '/' (so no '*', '?', '#',
/// '{', '}', '\\', '%', space or non-ASCII: nothing that needs percent-encoding or a pattern
/// escape beyond the four above), or when the file name would be nothing but wildcards and
/// separators with no extension (it would match every file in its directory).
///
/// The pattern is path-only. The URL Pattern standard fills protocol, host and port from the
/// dictionary's URL (the base URL, RFC 9842 §2.1.1) but not the search and hash, since the
/// pathname is given ("process a URLPatternInit": the base URL's query is inherited only when
/// none of protocol, hostname, port and pathname is given), and "create" sets every component
/// still missing to "*": the pattern matches any query and fragment.
///
/// `id` is the first 16 hex digits of SHA-256 of `match`: the same pattern always gives the same
/// id, and the id is no secret (the client echoes it in Dictionary-ID, §2.3).
std::optional<dictionary_offer> dictionary_pattern(std::string_view path);

/// The Use-As-Dictionary field value, an RFC 8941 Dictionary: `match="…", id="…"` with '"' and
/// '\\' escaped by '\\' (sf-string). "type" is left at its default, raw. Bytes outside printable
/// ASCII (0x20 to 0x7E) cannot appear in an sf-string and are left out; dictionary_pattern()
/// never produces any.
std::string use_as_dictionary_value(const dictionary_offer& o);

/// The SHA-256 named by an Available-Dictionary field value (RFC 9842 §2.2): an RFC 8941 Byte
/// Sequence ":base64:", with optional SP/HTAB around it. Parsed as RFC 8941 §4.2.7 says: only
/// A-Z a-z 0-9 '+' '/' and '=' between the colons, '=' only as the final padding; missing
/// padding and non-zero pad bits are accepted (the RFC says parsers SHOULD NOT fail on them).
/// nullopt unless the bytes are exactly 32, or with anything after the closing colon (parameters
/// included: none is defined, and a client never sends any; the request then gets no dcz).
std::optional<std::array<std::uint8_t, 32>> parse_available_dictionary(std::string_view value);

/// SHA-256 of `bytes`: the dictionary's hash, as Available-Dictionary names it.
std::array<std::uint8_t, 32> dictionary_hash(std::string_view bytes);

/// Whether an Accept-Encoding value (every field line joined with ", ") gives "dcz" a weight
/// above 0, by cache::negotiate()'s reading of members (cache::listed_weight). Only an explicit
/// "dcz" counts, never "*": RFC 9842 §6.1 has a client list the dictionary codings only when it
/// has a matching dictionary and chooses to use it, so "*" (which also comes from clients that
/// know nothing of dictionaries) says nothing about dcz.
bool accepts_dcz(std::string_view accept_encoding);

/// Dictionaries and targets larger than this are not dcz-compressed.
inline constexpr std::size_t dcz_max_input = std::size_t{16} << 20;

/// The dcz header: a zstd skippable frame (magic 0x184D2A5E, size 32, little-endian) holding the
/// dictionary's SHA-256 (RFC 9842 §5).
inline constexpr std::size_t dcz_header_size = 40;

/// The zstd level deltas are made at (compression threads, once per pair: ratio over speed).
inline constexpr int dcz_level = 19;

/// The largest window a client that accepts dcz must support for a dictionary of
/// `dictionary_size` bytes (RFC 9842 §5): 8 MiB or 1.25 times the dictionary, whichever is
/// greater, at most 128 MiB.
std::uint64_t dcz_max_window(std::size_t dictionary_size);

/// Dictionary-compressed zstd ("dcz", RFC 9842 §5): the 40-byte header, then one zstd frame of
/// `target` compressed with `dictionary` as raw content (RFC 8878 §5), with the content size in
/// the frame header and a checksum.
///
/// Window: the smallest power of two, at least 1 KiB, that holds `target`, but never more than
/// dcz_max_window(dictionary.size()). Zstd keeps the whole dictionary reachable for as long as
/// the output is within the window (RFC 8878 §5; RFC 9842 §5 says the same), so a window that
/// holds the target gives a full delta; covering the dictionary as well would buy nothing. A
/// target that fits is written as a single-segment frame, whose window is its content size.
///
/// `level` is clamped to 1 to 19 (20 to 22 need windows the RFC does not grant). Memory: the
/// match finder's tables are capped at hashLog 20 and chainLog 22 (4 + 16 MiB; libzstd's level
/// 19 would take 16 + 64 MiB for 16 MiB inputs), so a compression needs about 21 MiB at most
/// (ZSTD_sizeof_CCtx at level 19 with 16 MiB inputs), less for smaller inputs or lower levels.
/// Below a few MiB of dictionary plus target the caps cost nothing; at 16 MiB the delta can
/// come out a few times larger than uncapped (still a small fraction of the target).
///
/// `dictionary_sha256`: the dictionary's SHA-256 when the caller has it (a stored body's hash),
/// so it is not computed again; nullptr: computed here.
///
/// nullopt when the dictionary or the target is larger than dcz_max_input, or the library fails.
std::optional<std::string> compress_dcz(
    std::string_view dictionary, std::string_view target, int level = dcz_level,
    const std::array<std::uint8_t, 32>* dictionary_sha256 = nullptr);

/// Decoding, for tests and diagnostics: checks that the 40-byte header names
/// dictionary_hash(dictionary), then decodes exactly one zstd frame with the dictionary as raw
/// content. nullopt on a header or hash mismatch, anything but one complete valid frame after
/// the header (a skippable frame, a second frame or trailing bytes included), a window over
/// dcz_max_window(dictionary.size()) rounded down to a power of two, or output over
/// `max_output`.
std::optional<std::string> decompress_dcz(std::string_view dictionary, std::string_view in,
                                          std::size_t max_output);

}  // namespace bcp::cache
