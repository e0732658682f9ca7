#include "http/request_head.hpp"

#include <algorithm>

namespace bcp::http {
namespace {

constexpr std::string_view crlf = "\r\n";

parse_result invalid(unsigned status, std::string_view reason) {
    return {parse_state::invalid, status, reason};
}

// Request-target bytes: the gate validates the path strictly later; here we only refuse what can
// never appear in a request line (controls, space, DEL, non-ASCII).
bool is_target_byte(unsigned char c) {
    return c > 0x20 && c < 0x7f;
}

std::string_view trim_ows(std::string_view v) {
    while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) {
        v.remove_prefix(1);
    }
    while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) {
        v.remove_suffix(1);
    }
    return v;
}

parse_result parse_request_line(std::string_view line, const head_limits& limits,
                                request_head& out) {
    const auto sp1 = line.find(' ');
    if (sp1 == std::string_view::npos || sp1 == 0) {
        return invalid(400, "malformed request line");
    }
    out.method = line.substr(0, sp1);
    if (!std::all_of(out.method.begin(), out.method.end(), is_tchar)) {
        return invalid(400, "invalid method");
    }
    const auto sp2 = line.find(' ', sp1 + 1);
    if (sp2 == std::string_view::npos) {
        return invalid(400, "malformed request line");
    }
    out.target = line.substr(sp1 + 1, sp2 - sp1 - 1);
    if (out.target.empty()) {
        return invalid(400, "malformed request line");
    }
    if (out.target.size() > limits.max_target) {
        return invalid(414, "request target too long");
    }
    if (!std::all_of(out.target.begin(), out.target.end(),
                     [](char c) { return is_target_byte(static_cast<unsigned char>(c)); })) {
        return invalid(400, "invalid byte in request target");
    }
    const std::string_view version = line.substr(sp2 + 1);
    if (version == "HTTP/1.1") {
        out.version = 11;
    } else if (version == "HTTP/1.0") {
        out.version = 10;
    } else if (version.size() == 8 && version.substr(0, 5) == "HTTP/" && version[6] == '.' &&
               version[5] >= '0' && version[5] <= '9' && version[7] >= '0' && version[7] <= '9') {
        return invalid(505, "HTTP version not supported");
    } else {
        return invalid(400, "malformed request line");
    }
    return {parse_state::complete, 0, {}};
}

parse_result parse_field_line(std::string_view line, request_head& out) {
    if (line.front() == ' ' || line.front() == '\t') {
        // RFC 9112 §5.2: obs-fold. Beast would silently unfold it; we refuse.
        return invalid(400, "obsolete line folding in header");
    }
    const auto colon = line.find(':');
    if (colon == std::string_view::npos || colon == 0) {
        return invalid(400, "malformed header line");
    }
    const std::string_view name = line.substr(0, colon);
    // RFC 9112 §5.1: no whitespace between field name and colon; the name is a token.
    if (!std::all_of(name.begin(), name.end(), is_tchar)) {
        return invalid(400, "invalid header name");
    }
    const std::string_view value = line.substr(colon + 1);
    if (!std::all_of(value.begin(), value.end(),
                     [](char c) { return is_field_value_byte(static_cast<unsigned char>(c)); })) {
        return invalid(400, "invalid byte in header value");
    }
    out.fields.push_back({name, trim_ows(value)});
    return {parse_state::complete, 0, {}};
}

}  // namespace

std::string_view request_head::find(std::string_view name) const {
    for (const auto& f : fields) {
        if (iequals(f.name, name)) {
            return f.value;
        }
    }
    return {};
}

std::size_t request_head::count(std::string_view name) const {
    return static_cast<std::size_t>(std::count_if(
        fields.begin(), fields.end(), [&](const field& f) { return iequals(f.name, name); }));
}

void request_head::clear() {
    method = {};
    target = {};
    version = 11;
    fields.clear();
    size = 0;
}

parse_result parse_request_head(std::string_view raw, const head_limits& limits,
                                request_head& out) {
    out.clear();
    // RFC 9112 §2.2: a server SHOULD ignore at least one empty line received before the
    // request-line (some clients send CRLF after a previous message).
    std::size_t pos = 0;
    while (raw.substr(pos, 2) == crlf && pos < 8) {
        pos += 2;
    }
    bool first = true;
    while (true) {
        const std::string_view rest = raw.substr(pos);
        const auto nl = rest.find('\n');
        const auto cr = rest.find('\r');
        // A CR must be followed by LF and an LF preceded by CR; anything else is a bare CR or LF,
        // which we refuse rather than guess at (RFC 9112 §2.2 allows refusing).
        if (cr != std::string_view::npos && cr + 1 < rest.size() && rest[cr + 1] != '\n') {
            return invalid(400, "bare CR in request head");
        }
        if (nl != std::string_view::npos && (nl == 0 || rest[nl - 1] != '\r')) {
            return invalid(400, "bare LF in request head");
        }
        if (nl == std::string_view::npos) {
            // Fail fast on what can never become a request line, e.g. a TLS ClientHello on a
            // plain port: waiting for a line end would only hold the connection until the
            // deadline.
            if (first) {
                const std::string_view method = rest.substr(0, rest.find(' '));
                if (!std::all_of(method.begin(), method.end(), is_tchar) &&
                    method.find('\r') == std::string_view::npos) {
                    return invalid(400, "invalid method");
                }
            }
            if (raw.size() >= limits.max_bytes) {
                return first && rest.size() > limits.max_target
                           ? invalid(414, "request target too long")
                           : invalid(431, "request head too large");
            }
            return {parse_state::need_more, 0, {}};
        }
        if (pos + nl + 1 > limits.max_bytes) {
            return invalid(431, "request head too large");
        }
        const std::string_view line = rest.substr(0, nl - 1);
        pos += nl + 1;
        if (first) {
            if (auto r = parse_request_line(line, limits, out); r.state == parse_state::invalid) {
                return r;
            }
            first = false;
            continue;
        }
        if (line.empty()) {
            out.size = pos;
            return {parse_state::complete, 0, {}};
        }
        if (out.fields.size() >= limits.max_fields) {
            return invalid(431, "too many header fields");
        }
        if (auto r = parse_field_line(line, out); r.state == parse_state::invalid) {
            return r;
        }
    }
}

}  // namespace bcp::http
