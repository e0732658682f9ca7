#include "cache/dictionary.hpp"

#include "cache/codec.hpp"
#include "cache/encoding.hpp"
#include "cache/store.hpp"
#include "core/text.hpp"
#include "http/request_head.hpp"

#include <zstd.h>

#include <algorithm>
#include <limits>
#include <memory>
#include <span>

namespace bcp::cache {
namespace {

using http::iequals;

const auto trim = http::trim_ows;

bool is_digit(char c) {
    return c >= '0' && c <= '9';
}
bool is_lower(char c) {
    return c >= 'a' && c <= 'z';
}
bool is_upper(char c) {
    return c >= 'A' && c <= 'Z';
}
bool is_alnum(char c) {
    return is_digit(c) || is_lower(c) || is_upper(c);
}

// ---- Offers ------------------------------------------------------------------------------------

std::string_view extension_of(std::string_view path) {
    path = path.substr(0, path.find_first_of("?#"));
    const auto slash = path.rfind('/');
    const std::string_view name = slash == std::string_view::npos ? path : path.substr(slash + 1);
    const auto dot = name.rfind('.');
    return dot == std::string_view::npos ? std::string_view{} : name.substr(dot + 1);
}

bool offered_extension(std::string_view path) {
    const std::string_view ext = extension_of(path);
    static constexpr std::array<std::string_view, 8> offered{"js",   "mjs", "css", "wasm",
                                                             "json", "map", "ttf", "otf"};
    return std::any_of(offered.begin(), offered.end(),
                       [&](std::string_view e) { return iequals(ext, e); });
}

bool offered_type(std::string_view type) {
    static constexpr std::array<std::string_view, 16> offered{
        "text/javascript",
        "application/javascript",
        "application/x-javascript",
        "application/ecmascript",
        "text/ecmascript",
        "text/css",
        "application/wasm",
        "application/json",
        "font/ttf",
        "font/otf",
        "font/sfnt",
        "application/x-font-ttf",
        "application/x-font-truetype",
        "application/x-font-opentype",
        "application/font-sfnt",
        "application/font-ttf",
    };
    if (std::any_of(offered.begin(), offered.end(),
                    [&](std::string_view t) { return iequals(type, t); })) {
        return true;
    }
    // Structured syntax suffix +json (RFC 6839): application/manifest+json, application/ld+json.
    constexpr std::string_view app = "application/";
    constexpr std::string_view json = "+json";
    if (type.size() > app.size() + json.size() && iequals(type.substr(0, app.size()), app)) {
        return iequals(type.substr(type.size() - json.size()), json);
    }
    return false;
}

// ---- Patterns ----------------------------------------------------------------------------------

// RFC 3986 pchar without pct-encoded: unreserved, sub-delims, ':' and '@'. None of them is
// percent-encoded by the URL Pattern standard's pathname canonicalization, so the pattern's
// fixed text is the path's text.
bool allowed_in_segment(char c) {
    if (is_alnum(c)) {
        return true;
    }
    constexpr std::string_view others = "._~!$&'()+,;=:@-";
    return others.find(c) != std::string_view::npos;
}

// URL pattern syntax among the allowed characters: ':' starts a named group, '(' a regexp group
// (which RFC 9842 §2.1.1 forbids), '+' is a modifier. Each is escaped to stay fixed text.
void append_literal(std::string& out, std::string_view s) {
    for (const char c : s) {
        if (c == ':' || c == '(' || c == ')' || c == '+') {
            out.push_back('\\');
        }
        out.push_back(c);
    }
}

bool is_hex_one_case(std::string_view w) {
    bool lower = false;
    bool upper = false;
    for (const char c : w) {
        if (c >= 'a' && c <= 'f') {
            lower = true;
        } else if (c >= 'A' && c <= 'F') {
            upper = true;
        } else if (!is_digit(c)) {
            return false;
        }
    }
    return !(lower && upper);
}

int char_class(char c) {
    return is_digit(c) ? 0 : is_lower(c) ? 1 : 2;
}

// Random text mixes classes and has short runs; words and CamelCase names have long runs of
// lower case ("ServiceWorker": "ervice").
bool is_mixed_hash(std::string_view w) {
    constexpr std::size_t max_run = 5;
    std::array<bool, 3> seen{};
    std::size_t run = 0;
    int previous = -1;
    for (const char c : w) {
        const int k = char_class(c);
        seen[static_cast<std::size_t>(k)] = true;
        run = k == previous ? run + 1 : 1;
        previous = k;
        if (run > max_run) {
            return false;
        }
    }
    return std::count(seen.begin(), seen.end(), true) >= 2;
}

bool is_all_digits(std::string_view w) {
    return !w.empty() && std::all_of(w.begin(), w.end(), is_digit);
}

constexpr std::size_t min_hash_size = 8;
constexpr std::size_t min_build_number_size = 6;

bool is_hash_or_build_number(std::string_view w) {
    if (is_all_digits(w)) {
        return w.size() >= min_build_number_size;
    }
    return w.size() >= min_hash_size && (is_hex_one_case(w) || is_mixed_hash(w));
}

// The length of a version at the start of `s` ("2.7.3", "v1.10": a number, then one or more
// ".number"), or 0. Words are maximal runs, so what follows is never a letter or digit.
std::size_t version_size(std::string_view s) {
    std::size_t i = 0;
    if (i < s.size() && (s[i] == 'v' || s[i] == 'V')) {
        ++i;
    }
    const auto digits_from = [&](std::size_t at) {
        std::size_t n = 0;
        while (at + n < s.size() && is_digit(s[at + n])) {
            ++n;
        }
        return n;
    };
    std::size_t n = digits_from(i);
    if (n == 0) {
        return 0;
    }
    i += n;
    std::size_t parts = 1;
    while (i + 1 < s.size() && s[i] == '.' && (n = digits_from(i + 1)) > 0) {
        i += 1 + n;
        ++parts;
    }
    if (parts < 2 || (i < s.size() && is_alnum(s[i]))) {
        return 0;  // one number, or "1.2rc": not a version by itself
    }
    return i;
}

// The file name with its hashes, build numbers and versions turned into '*'. `wild_only` is set
// when no letter or digit is left outside the wildcards.
std::string file_pattern(std::string_view name, bool& wild_only) {
    // The extension: after the last '.', when that is not the name's first character and what
    // follows is not only digits (the end of a version, as in "2.7.3").
    const auto dot = name.rfind('.');
    const bool has_extension = dot != std::string_view::npos && dot > 0 && dot + 1 < name.size() &&
                               !is_all_digits(name.substr(dot + 1));
    const std::string_view stem = has_extension ? name.substr(0, dot) : name;
    std::string out;
    wild_only = true;
    std::size_t i = 0;
    while (i < stem.size()) {
        if (!is_alnum(stem[i])) {
            append_literal(out, stem.substr(i, 1));
            ++i;
            continue;
        }
        if (const std::size_t v = version_size(stem.substr(i)); v > 0) {
            out.push_back('*');
            i += v;
            continue;
        }
        std::size_t end = i;
        while (end < stem.size() && is_alnum(stem[end])) {
            ++end;
        }
        const std::string_view word = stem.substr(i, end - i);
        if (is_hash_or_build_number(word)) {
            out.push_back('*');
        } else {
            append_literal(out, word);
            wild_only = false;
        }
        i = end;
    }
    if (has_extension) {
        append_literal(out, name.substr(dot));
        wild_only = false;
    }
    return out;
}

// ---- Byte sequences ----------------------------------------------------------------------------

int base64_value(char c) {
    if (is_upper(c)) {
        return c - 'A';
    }
    if (is_lower(c)) {
        return c - 'a' + 26;
    }
    if (is_digit(c)) {
        return c - '0' + 52;
    }
    if (c == '+') {
        return 62;
    }
    if (c == '/') {
        return 63;
    }
    return -1;
}

// ---- dcz ---------------------------------------------------------------------------------------

constexpr std::array<std::uint8_t, 8> dcz_magic{0x5e, 0x2a, 0x4d, 0x18, 0x20, 0x00, 0x00, 0x00};

// RFC 8878 §3.1.1.1.2: the smallest window, 1 KiB (ZSTD_WINDOWLOG_MIN, outside the stable API).
constexpr int min_window_log = 10;
constexpr int max_level = 19;
constexpr int max_hash_log = 20;
constexpr int max_chain_log = 22;

// Output grows by at most this much per decoding step.

int floor_log2(std::uint64_t n) {
    int log = 0;
    while (n > 1) {
        n >>= 1;
        ++log;
    }
    return log;
}

int ceil_log2(std::uint64_t n) {
    const int log = floor_log2(n);
    return (std::uint64_t{1} << log) < n ? log + 1 : log;
}

bool set_param(ZSTD_CCtx* c, ZSTD_cParameter p, int value) {
    return !ZSTD_isError(ZSTD_CCtx_setParameter(c, p, value));
}

}  // namespace

bool offers_dictionary(std::string_view path, std::string_view content_type) {
    const std::string_view type = trim(content_type.substr(0, content_type.find(';')));
    // nginx's mime.types knows no .map and older ones no .mjs or .wasm: they come as
    // application/octet-stream, where the extension is the better witness.
    if (type.empty() || iequals(type, "application/octet-stream")) {
        return offered_extension(path);
    }
    return offered_type(type);
}

std::optional<dictionary_offer> dictionary_pattern(std::string_view path) {
    if (path.empty() || path.front() != '/') {
        return std::nullopt;
    }
    std::string_view rest = path.substr(1);
    std::string match = "/*";
    std::size_t segments = 0;
    std::string_view last;
    while (true) {
        const auto slash = rest.find('/');
        const std::string_view segment = rest.substr(0, slash);
        if (segment.empty() || segment == "." || segment == ".." ||
            !std::all_of(segment.begin(), segment.end(), allowed_in_segment)) {
            return std::nullopt;
        }
        ++segments;
        if (slash == std::string_view::npos) {
            last = segment;
            break;
        }
        if (segments > 1) {
            match.push_back('/');
            append_literal(match, segment);
        }
        rest.remove_prefix(slash + 1);
    }
    if (segments < 3) {
        return std::nullopt;
    }
    bool wild_only = false;
    const std::string name = file_pattern(last, wild_only);
    if (wild_only) {
        return std::nullopt;
    }
    match.push_back('/');
    match += name;

    sha256 h;
    h.update(match.data(), match.size());
    const digest d = h.finish();
    dictionary_offer o;
    o.id = bcp::to_hex(std::span<const std::uint8_t>(d.data(), 8));
    o.match = std::move(match);
    return o;
}

std::string use_as_dictionary_value(const dictionary_offer& o) {
    std::string out;
    out.reserve(o.match.size() + o.id.size() + 20);
    const auto append_sf_string = [&](std::string_view s) {
        out.push_back('"');
        for (const char c : s) {
            if (c < 0x20 || c > 0x7e) {
                continue;
            }
            if (c == '"' || c == '\\') {
                out.push_back('\\');
            }
            out.push_back(c);
        }
        out.push_back('"');
    };
    out += "match=";
    append_sf_string(o.match);
    out += ", id=";
    append_sf_string(o.id);
    return out;
}

std::optional<std::array<std::uint8_t, 32>> parse_available_dictionary(std::string_view value) {
    value = trim(value);
    // sf-binary = ":" *(base64) ":" and nothing after it.
    if (value.size() < 2 || value.front() != ':' || value.back() != ':') {
        return std::nullopt;
    }
    std::string_view b64 = value.substr(1, value.size() - 2);
    if (b64.find(':') != std::string_view::npos) {
        return std::nullopt;
    }
    // Padding is optional (RFC 8941 §4.2.7), but when present it completes the last quantum.
    std::size_t pad = 0;
    while (!b64.empty() && b64.back() == '=' && pad < 2) {
        b64.remove_suffix(1);
        ++pad;
    }
    if (pad > 0 && (b64.size() + pad) % 4 != 0) {
        return std::nullopt;
    }
    // 32 bytes are 43 characters: 42 carry 31.5 bytes, the 43rd two more bits plus two pad bits
    // (which may be non-zero: RFC 8941 §4.2.7 asks parsers not to fail on them).
    std::array<std::uint8_t, 32> out{};
    if (b64.size() != 43) {
        return std::nullopt;
    }
    std::uint32_t acc = 0;
    int bits = 0;
    std::size_t n = 0;
    for (const char c : b64) {
        const int v = base64_value(c);
        if (v < 0) {
            return std::nullopt;  // outside the alphabet, '=' inside included
        }
        acc = (acc << 6) | static_cast<std::uint32_t>(v);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[n++] = static_cast<std::uint8_t>(acc >> bits);
            acc &= (std::uint32_t{1} << bits) - 1;
        }
    }
    return out;
}

std::array<std::uint8_t, 32> dictionary_hash(std::string_view bytes) {
    sha256 h;
    h.update(bytes.data(), bytes.size());
    return h.finish();
}

bool accepts_dcz(std::string_view accept_encoding) {
    return listed_weight(accept_encoding, "dcz").value_or(0) > 0;
}

std::uint64_t dcz_max_window(std::size_t dictionary_size) {
    constexpr std::uint64_t floor = std::uint64_t{8} << 20;
    constexpr std::uint64_t ceiling = std::uint64_t{128} << 20;
    const std::uint64_t d = dictionary_size;
    return std::clamp(d + d / 4, floor, ceiling);
}

std::optional<std::string> compress_dcz(std::string_view dictionary, std::string_view target,
                                        int level,
                                        const std::array<std::uint8_t, 32>* dictionary_sha256) {
    if (dictionary.size() > dcz_max_input || target.size() > dcz_max_input) {
        return std::nullopt;
    }
    // libzstd takes a prefix whose memory overlaps the input as part of the input's own history
    // and drops it: the same stored body as its own dictionary (a node hop) compressed with no
    // dictionary at all (186 KB instead of 233 bytes for a 2.5 MB bundle). Such a dictionary is
    // copied first.
    std::string copy;
    const auto* const d0 = dictionary.data();
    const auto* const t0 = target.data();
    if (!dictionary.empty() && !target.empty() && d0 < t0 + target.size() &&
        t0 < d0 + dictionary.size()) {
        copy.assign(dictionary);
        dictionary = copy;
    }
    // RFC 9842 §5: a client must decode windows up to max(8 MB, 1.25 × dictionary), at most
    // 128 MB, and the window "MUST be lower than this limit" — read as not above it, since the
    // same paragraph has clients decode a window of 8 MB itself. libzstd writes powers of two
    // (or, single-segment, the content size, which is below the window it chose).
    const int window_log = std::clamp(ceil_log2(target.size()), min_window_log,
                                      floor_log2(dcz_max_window(dictionary.size())));
    const std::unique_ptr<ZSTD_CCtx, decltype(&ZSTD_freeCCtx)> cctx(ZSTD_createCCtx(),
                                                                    &ZSTD_freeCCtx);
    // Memory: libzstd 1.5's tables for large inputs reach hashLog 23 and chainLog 24 (level 19:
    // 4 bytes × (2^22 + 2^24), 80 MiB). From the levels whose tables exceed the caps (hashLog:
    // 9 and up, chainLog: 15 and up) explicit values replace them; lower levels keep their own,
    // smaller ones, so no level is made slower. libzstd still lowers them for small inputs.
    ZSTD_CCtx* const c = cctx.get();
    level = std::clamp(level, 1, max_level);
    if (!c || !set_param(c, ZSTD_c_compressionLevel, level) ||
        !set_param(c, ZSTD_c_windowLog, window_log) ||
        (level >= 9 && !set_param(c, ZSTD_c_hashLog, max_hash_log)) ||
        (level >= 15 && !set_param(c, ZSTD_c_chainLog, max_chain_log)) ||
        !set_param(c, ZSTD_c_contentSizeFlag, 1) || !set_param(c, ZSTD_c_checksumFlag, 1) ||
        // A prefix is raw content (ZSTD_dct_rawContent), whatever its first bytes: a dictionary
        // starting with zstd's dictionary magic is not read as a formatted dictionary.
        ZSTD_isError(ZSTD_CCtx_refPrefix(c, dictionary.data(), dictionary.size()))) {
        return std::nullopt;
    }
    const std::size_t bound = ZSTD_compressBound(target.size());
    if (ZSTD_isError(bound)) {
        return std::nullopt;
    }
    std::string out(dcz_header_size + bound, '\0');
    std::copy(dcz_magic.begin(), dcz_magic.end(), out.begin());
    const auto hash =
        dictionary_sha256 != nullptr ? *dictionary_sha256 : dictionary_hash(dictionary);
    std::copy(hash.begin(), hash.end(), out.begin() + dcz_magic.size());
    const std::size_t n =
        ZSTD_compress2(c, out.data() + dcz_header_size, bound, target.data(), target.size());
    if (ZSTD_isError(n)) {
        return std::nullopt;
    }
    out.resize(dcz_header_size + n);
    return out;
}

std::optional<std::string> decompress_dcz(std::string_view dictionary, std::string_view in,
                                          std::size_t max_output) {
    if (in.size() < dcz_header_size ||
        !std::equal(dcz_magic.begin(), dcz_magic.end(), in.begin(),
                    [](std::uint8_t a, char b) { return a == static_cast<std::uint8_t>(b); })) {
        return std::nullopt;
    }
    const auto hash = dictionary_hash(dictionary);
    if (!std::equal(hash.begin(), hash.end(), in.begin() + dcz_magic.size(),
                    [](std::uint8_t a, char b) { return a == static_cast<std::uint8_t>(b); })) {
        return std::nullopt;
    }
    in.remove_prefix(dcz_header_size);
    // A data frame, not a skippable one (which would decode to nothing): zstd's magic number.
    constexpr std::array<std::uint8_t, 4> frame_magic{0x28, 0xb5, 0x2f, 0xfd};
    if (in.size() < frame_magic.size() ||
        !std::equal(frame_magic.begin(), frame_magic.end(), in.begin(),
                    [](std::uint8_t a, char b) { return a == static_cast<std::uint8_t>(b); })) {
        return std::nullopt;
    }
    return decompress_zstd_with_prefix(in, max_output, dictionary,
                                       floor_log2(dcz_max_window(dictionary.size())));
}

}  // namespace bcp::cache
