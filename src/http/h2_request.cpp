#include "http/h2_request.hpp"

#include <array>

namespace bcp::http {
namespace {

h2_mapping malformed(std::string_view reason) {
    return {true, 0, reason};
}

h2_mapping refused(unsigned status, std::string_view reason) {
    return {false, status, reason};
}

// §8.2.1: a field name is a token of lower-case characters (and ':' for pseudo-header fields,
// handled by the caller).
bool valid_name(std::string_view name) {
    if (name.empty()) {
        return false;
    }
    for (const char c : name) {
        if (!is_tchar(c) || (c >= 'A' && c <= 'Z')) {
            return false;
        }
    }
    return true;
}

// §8.2.1: no NUL, CR or LF anywhere, no leading or trailing whitespace; and, as for HTTP/1.1
// (RFC 9110 §5.5), no other control byte or DEL.
bool valid_value(std::string_view value) {
    if (!value.empty() && (value.front() == ' ' || value.front() == '\t' || value.back() == ' ' ||
                           value.back() == '\t')) {
        return false;
    }
    for (const char c : value) {
        if (!is_field_value_byte(static_cast<unsigned char>(c))) {
            return false;
        }
    }
    return true;
}

struct pseudo {
    std::string_view method, scheme, authority, path;
    bool has_method = false, has_scheme = false, has_authority = false, has_path = false;
};

// One pseudo-header field (§8.3.1). False: the block is malformed (`why` says how).
bool take_pseudo(const h2_field& f, pseudo& p, std::string_view& why) {
    const auto take = [&](std::string_view& value, bool& seen) {
        if (seen) {
            why = "repeated pseudo-header field";
            return false;
        }
        seen = true;
        value = f.value;
        return true;
    };
    if (f.name == ":method") {
        return take(p.method, p.has_method);
    }
    if (f.name == ":scheme") {
        return take(p.scheme, p.has_scheme);
    }
    if (f.name == ":authority") {
        return take(p.authority, p.has_authority);
    }
    if (f.name == ":path") {
        return take(p.path, p.has_path);
    }
    // :protocol needs SETTINGS_ENABLE_CONNECT_PROTOCOL (RFC 8441), which is not offered; :status
    // is a response's.
    why = "unknown pseudo-header field";
    return false;
}

}  // namespace

// An HTTP/2 request that carries one could make the HTTP/1.1 request we build for the node mean
// something else; a response must not carry one either.
bool is_connection_specific(std::string_view name) {
    static constexpr std::array<std::string_view, 5> names{
        "connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade"};
    for (const auto n : names) {
        if (name == n) {  // names are lower case here, or the block is already malformed
            return true;
        }
    }
    return false;
}

h2_mapping map_h2_request(std::span<const h2_field> fields, const head_limits& limits,
                          std::string& storage, request_head& out) {
    out.clear();
    storage.clear();
    constexpr std::size_t field_overhead = 32;  // RFC 9113 §6.5.2 (RFC 7541 §4.1)
    std::size_t list_size = 0;
    std::size_t regular = 0;
    std::size_t cookie_bytes = 0;
    std::size_t cookies = 0;
    pseudo p;
    std::string_view host;
    bool has_host = false;
    bool regular_seen = false;
    for (const auto& f : fields) {
        list_size += f.name.size() + f.value.size() + field_overhead;
        if (!valid_value(f.value)) {
            return malformed("CR, LF, NUL, a control byte or surrounding whitespace in a field");
        }
        if (!f.name.empty() && f.name.front() == ':') {
            if (regular_seen) {
                return malformed("pseudo-header field after a regular field");
            }
            std::string_view why;
            if (!take_pseudo(f, p, why)) {
                return malformed(why);
            }
            continue;
        }
        regular_seen = true;
        ++regular;
        if (!valid_name(f.name)) {
            return malformed("field name not a lower-case token");
        }
        if (is_connection_specific(f.name)) {
            return malformed("connection-specific field");
        }
        if (f.name == "te" && !iequals(f.value, "trailers")) {
            return malformed("te other than trailers");
        }
        if (f.name == "host") {
            if (has_host) {
                return malformed("more than one host field");
            }
            has_host = true;
            host = f.value;
        }
        if (f.name == "cookie") {
            ++cookies;
            cookie_bytes += f.value.size() + 2;
        }
    }
    if (!p.has_method || !p.has_scheme || !p.has_path) {
        return malformed("missing :method, :scheme or :path");
    }
    if (p.method == "CONNECT") {
        return malformed("CONNECT");  // no tunnels but WebSockets, and those stay on HTTP/1.1
    }
    if (p.path.empty() || p.path.front() != '/') {
        return malformed(":path does not start with '/'");
    }
    if (p.has_authority && p.authority.find('@') != std::string_view::npos) {
        return malformed(":authority with userinfo");  // §8.3.1
    }
    if (p.has_authority && has_host && !iequals(p.authority, host)) {
        return malformed("host differs from :authority");  // §8.3.1
    }
    if (list_size > limits.max_bytes || regular > limits.max_fields) {
        return refused(431, "request header list too large");
    }
    if (p.path.size() > limits.max_target) {
        return refused(414, "request target too long");
    }
    if (p.scheme != "https") {
        return refused(400, "scheme other than https");  // HTTP/2 is offered on TLS only
    }

    out.method = p.method;
    out.target = p.path;
    out.version = 11;
    out.fields.reserve(regular + 1);
    if (p.has_authority && !has_host) {
        out.fields.push_back({"host", p.authority});
    }
    // Cookie crumbs (§8.2.3) become one field, joined with "; ", where the first one was.
    if (cookies > 1) {
        storage.reserve(cookie_bytes);
    }
    bool cookie_placed = false;
    for (const auto& f : fields) {
        if (f.name.front() == ':' || f.name == "te") {
            continue;
        }
        if (f.name == "cookie" && cookies > 1) {
            storage.append(storage.empty() ? "" : "; ").append(f.value);
            if (!cookie_placed) {
                out.fields.push_back({"cookie", {}});  // the value is set once it is complete
                cookie_placed = true;
            }
            continue;
        }
        out.fields.push_back({f.name, f.value});
    }
    if (cookie_placed) {
        for (auto& f : out.fields) {
            if (f.name == "cookie") {
                f.value = storage;
            }
        }
    }
    return {};
}

}  // namespace bcp::http
