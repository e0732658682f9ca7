#include "http/target.hpp"

#include <array>

namespace bcp::http {
namespace {

bool is_hex(char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

int hex_value(char c) {
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    return (c | 0x20) - 'a' + 10;
}

// RFC 3986 pchar minus '%' (handled separately): unreserved / sub-delims / ":" / "@".
constexpr bool is_pchar(char c) {
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) {
        return true;
    }
    switch (c) {
        case '-':
        case '.':
        case '_':
        case '~':  // unreserved
        case '!':
        case '$':
        case '&':
        case '\'':
        case '(':
        case ')':  // sub-delims
        case '*':
        case '+':
        case ',':
        case ';':
        case '=':
        case ':':
        case '@':
            return true;
        default:
            return false;
    }
}

// The same predicate as a table, plus '/': one load per character of every request target.
constexpr std::array<bool, 256> path_chars = [] {
    std::array<bool, 256> t{};
    for (int c = 0; c < 256; ++c) {
        t[static_cast<std::size_t>(c)] = is_pchar(static_cast<char>(c)) || c == '/';
    }
    return t;
}();

bool is_path_char(char c) {
    return path_chars[static_cast<unsigned char>(c)];
}

target_check refuse(std::string_view reason) {
    target_check r;
    r.status = 400;
    r.reason = reason;
    return r;
}

// Percent-escapes that decode to bytes a server could act on as path structure or string
// terminators: '/', '\', '.', NUL. In the path they are always refused. In the query, '/' and
// '.' may be encoded: the query is never routed on or normalized (here or by nginx on the node),
// and the same characters are allowed there unencoded anyway, so refusing "%2F" protected nothing
// and broke URL-valued parameters (`?redirect=https%3A%2F%2F...`). '\' and NUL stay refused in
// the query too (docs/security.md, "Encoded slashes in the query").
bool is_dangerous_escape(int byte, bool in_query) {
    if (in_query) {
        return byte == '\\' || byte == 0;
    }
    return byte == '/' || byte == '\\' || byte == '.' || byte == 0;
}

// Escapes that are refused in the path only: encoded control bytes (a node that decodes the path
// into a header or log line would let "%0d%0a" inject lines) and an encoded '%' (double encoding:
// "%252e" is "%2e" after one decoding, "." after two).
bool is_dangerous_path_escape(int byte) {
    return byte < 0x20 || byte == 0x7f || byte == '%';
}

// Escaped bytes >= 0x80 in the path must form valid UTF-8 (RFC 3629): no overlong forms such as
// "%c0%ae" (an overlong '.'), no surrogates, nothing above U+10FFFF, no truncated sequences.
class utf8_check {
  public:
    bool feed(unsigned char b) {
        if (need_ == 0) {
            if (b < 0x80) {
                return true;
            }
            lo_ = 0x80;
            hi_ = 0xbf;
            if (b >= 0xc2 && b <= 0xdf) {
                need_ = 1;
            } else if (b >= 0xe0 && b <= 0xef) {
                need_ = 2;
                lo_ = b == 0xe0 ? 0xa0 : 0x80;
                hi_ = b == 0xed ? 0x9f : 0xbf;
            } else if (b >= 0xf0 && b <= 0xf4) {
                need_ = 3;
                lo_ = b == 0xf0 ? 0x90 : 0x80;
                hi_ = b == 0xf4 ? 0x8f : 0xbf;
            } else {
                return false;
            }
            return true;
        }
        if (b < lo_ || b > hi_) {
            return false;
        }
        --need_;
        lo_ = 0x80;
        hi_ = 0xbf;
        return true;
    }
    bool complete() const { return need_ == 0; }

  private:
    int need_ = 0;
    unsigned char lo_ = 0x80;
    unsigned char hi_ = 0xbf;
};

// A segment that some server reads as '.' or '..': the plain ones, and those followed by a path
// parameter or an escape ("..;", ".;x", "..%3b"), which Java servlet containers strip to "..".
bool is_dot_segment(std::string_view segment) {
    std::size_t dots = 0;
    while (dots < segment.size() && dots < 3 && segment[dots] == '.') {
        ++dots;
    }
    if (dots == 0 || dots > 2) {
        return false;
    }
    return dots == segment.size() || segment[dots] == ';' || segment[dots] == '%';
}

}  // namespace

target_check check_target(std::string_view target) {
    if (target.empty() || target.front() != '/') {
        return refuse(target == "*" ? "asterisk-form target" : "target is not origin-form");
    }
    target_check r;
    const auto qmark = target.find('?');
    r.path = target.substr(0, qmark);
    r.query = qmark == std::string_view::npos ? std::string_view{} : target.substr(qmark + 1);

    utf8_check utf8;
    for (std::size_t i = 0; i < target.size(); ++i) {
        const char c = target[i];
        const bool in_query = qmark != std::string_view::npos && i > qmark;
        if (c == '%') {
            if (i + 2 >= target.size() || !is_hex(target[i + 1]) || !is_hex(target[i + 2])) {
                return refuse("malformed percent-encoding");
            }
            const int byte = hex_value(target[i + 1]) * 16 + hex_value(target[i + 2]);
            if (is_dangerous_escape(byte, in_query)) {
                return refuse("encoded slash, backslash, dot or NUL");
            }
            // In the path, a decoded '?' or '#' can end the path for a server that decodes
            // before splitting ("/a/..%3F" read as "/a/.." + query: found by the fuzzer).
            if (!in_query && (byte == '?' || byte == '#')) {
                return refuse("encoded '?' or '#' in path");
            }
            if (!in_query && is_dangerous_path_escape(byte)) {
                return refuse("encoded control byte or '%' in path");
            }
            if (!in_query && !utf8.feed(static_cast<unsigned char>(byte))) {
                return refuse("invalid UTF-8 in encoded path");
            }
            i += 2;
            continue;
        }
        if (!in_query && !utf8.complete()) {
            return refuse("invalid UTF-8 in encoded path");
        }
        if (is_path_char(c)) {
            continue;
        }
        if (in_query && c == '?') {
            continue;
        }
        if (c == '?' && i == qmark) {
            continue;
        }
        if (c == '\\') {
            return refuse("backslash in target");
        }
        if (c == '#') {
            return refuse("fragment in target");
        }
        return refuse("invalid character in target");
    }

    if (!utf8.complete()) {
        return refuse("invalid UTF-8 in encoded path");
    }

    // Segment rules on the path: no empty segment except a final one ("/a/b/"), no '.' or '..'.
    std::string_view rest = r.path.substr(1);
    int index = 0;
    while (true) {
        const auto slash = rest.find('/');
        const std::string_view segment = rest.substr(0, slash);
        const bool last = slash == std::string_view::npos;
        if (segment.empty() && !last) {
            return refuse("empty path segment");
        }
        if (is_dot_segment(segment)) {
            return refuse("dot segment in path");
        }
        if (index == 0) {
            r.first = segment;
        } else if (index == 1) {
            r.second = segment;
        }
        if (last) {
            break;
        }
        rest.remove_prefix(slash + 1);
        ++index;
    }
    return r;
}

}  // namespace bcp::http
