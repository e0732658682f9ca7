#include "http/target.hpp"

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
bool is_pchar(char c) {
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

target_check refuse(std::string_view reason) {
    target_check r;
    r.status = 400;
    r.reason = reason;
    return r;
}

// Percent-escapes that decode to bytes a server could act on as path structure or string
// terminators: '/', '\', '.', NUL. We refuse them anywhere in the target (also in the query:
// SECURITY.md treats the raw target as one unit, and no BBB client URL needs them).
bool is_dangerous_escape(int byte) {
    return byte == '/' || byte == '\\' || byte == '.' || byte == 0;
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

    for (std::size_t i = 0; i < target.size(); ++i) {
        const char c = target[i];
        const bool in_query = qmark != std::string_view::npos && i > qmark;
        if (c == '%') {
            if (i + 2 >= target.size() || !is_hex(target[i + 1]) || !is_hex(target[i + 2])) {
                return refuse("malformed percent-encoding");
            }
            const int byte = hex_value(target[i + 1]) * 16 + hex_value(target[i + 2]);
            if (is_dangerous_escape(byte)) {
                return refuse("encoded slash, backslash, dot or NUL");
            }
            // In the path, a decoded '?' or '#' can end the path for a server that decodes
            // before splitting ("/a/..%3F" read as "/a/.." + query: found by the fuzzer).
            if (!in_query && (byte == '?' || byte == '#')) {
                return refuse("encoded '?' or '#' in path");
            }
            i += 2;
            continue;
        }
        if (is_pchar(c) || c == '/') {
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
        if (segment == "." || segment == "..") {
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
