#pragma once
// A strict HTTP/1.x request-head parser working on the raw bytes (RFC 9112 §2–§5).
//
// We parse heads ourselves instead of using Beast's request parser because the gate must see
// what was actually sent: Beast silently unfolds obs-fold, accepts bare LF, and tolerates
// smuggling shapes (SECURITY.md). Parsing never allocates per byte: the result holds views into
// the caller's buffer, which must outlive the request_head.

#include <array>
#include <cstddef>
#include <string_view>
#include <vector>

namespace bcp::http {

struct field {
    std::string_view name;   ///< as sent (case preserved)
    std::string_view value;  ///< leading/trailing whitespace removed
};

struct request_head {
    std::string_view method;
    std::string_view target;
    unsigned version = 11;      ///< 10 for HTTP/1.0, 11 for HTTP/1.1
    std::vector<field> fields;  ///< in the order received
    std::size_t size = 0;  ///< bytes consumed, including leading empty lines and the final CRLF

    /// The value of the first field with this name (case-insensitive), or an empty view with
    /// data() == nullptr when absent.
    std::string_view find(std::string_view name) const;
    /// How many field lines carry this name (case-insensitive).
    std::size_t count(std::string_view name) const;
    void clear();
};

struct head_limits {
    std::size_t max_bytes = 16'384;  ///< whole head; more → 431
    std::size_t max_fields = 100;    ///< field lines; more → 431
    std::size_t max_target = 8'192;  ///< request-target; longer → 414
};

enum class parse_state { complete, need_more, invalid };

struct parse_result {
    parse_state state = parse_state::need_more;
    unsigned status = 0;      ///< with invalid: the status to answer (400, 414, 431, 505)
    std::string_view reason;  ///< with invalid: a short static explanation (logs, error page)
};

/// Parses the request head at the start of `raw` into `out`. Returns need_more while no complete
/// head has arrived and nothing seen so far is invalid; invalid as soon as the bytes can no longer
/// become a valid head (bare CR/LF, oversize, ...). `out` is meaningful only with complete.
parse_result parse_request_head(std::string_view raw, const head_limits& limits, request_head& out);

namespace detail {
// Byte classes as a table: these run for every byte of every head, in both directions.
inline constexpr unsigned char tchar_class = 1;
inline constexpr unsigned char value_class = 2;
inline constexpr auto byte_classes = [] {
    std::array<unsigned char, 256> t{};
    for (unsigned c = 0; c < 256; ++c) {
        const bool alnum =
            (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
        if (alnum || std::string_view("!#$%&'*+-.^_`|~").find(static_cast<char>(c)) !=
                         std::string_view::npos) {
            t[c] |= tchar_class;
        }
        if (c == '\t' || c == ' ' || (c > 0x20 && c != 0x7f)) {
            t[c] |= value_class;
        }
    }
    return t;
}();
}  // namespace detail

/// RFC 9110 §5.6.2 tchar.
inline bool is_tchar(char c) {
    return (detail::byte_classes[static_cast<unsigned char>(c)] & detail::tchar_class) != 0;
}
/// Field-value bytes (RFC 9110 §5.5): VCHAR, obs-text, SP, HTAB. Everything else (NUL, bare CR/LF,
/// other controls, DEL) makes a request invalid.
inline bool is_field_value_byte(unsigned char c) {
    return (detail::byte_classes[c] & detail::value_class) != 0;
}
/// ASCII case-insensitive equality. Inline: called for every field of every request and
/// response, mostly with names of another length (docs/benchmarks.md, "Round 4").
inline bool iequals(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) {
        return false;
    }
    const auto lower = [](char c) {
        return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c;
    };
    for (std::size_t i = 0; i < a.size(); ++i) {
        if (lower(a[i]) != lower(b[i])) {
            return false;
        }
    }
    return true;
}

/// `v` without leading and trailing optional whitespace (SP / HTAB, RFC 9110 §5.6.3).
inline std::string_view trim_ows(std::string_view v) {
    while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) {
        v.remove_prefix(1);
    }
    while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) {
        v.remove_suffix(1);
    }
    return v;
}

/// Calls `fn(token)` for each non-empty element of a comma-separated list value (RFC 9110 §5.6.1),
/// whitespace trimmed.
template <class Fn>
void for_each_list_token(std::string_view value, Fn&& fn) {
    while (!value.empty()) {
        const auto comma = value.find(',');
        std::string_view token = value.substr(0, comma);
        while (!token.empty() && (token.front() == ' ' || token.front() == '\t')) {
            token.remove_prefix(1);
        }
        while (!token.empty() && (token.back() == ' ' || token.back() == '\t')) {
            token.remove_suffix(1);
        }
        if (!token.empty()) {
            fn(token);
        }
        if (comma == std::string_view::npos) {
            break;
        }
        value.remove_prefix(comma + 1);
    }
}

}  // namespace bcp::http
