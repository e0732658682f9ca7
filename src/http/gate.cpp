#include "http/gate.hpp"

#include "core/text.hpp"

#include <openssl/evp.h>
#include <openssl/sha.h>

#include <algorithm>
#include <array>
#include <string>

namespace bcp::http {
namespace {

gate_result refuse(unsigned status, std::string_view reason) {
    gate_result r;
    r.status = status;
    r.reason = reason;
    r.keep_alive = false;
    return r;
}

bool is_digit(char c) {
    return c >= '0' && c <= '9';
}

// RFC 9110 §7.2 Host = uri-host [ ":" port ]. We accept a reg-name or IPv4 (letters, digits,
// '-', '.', '_') or a bracketed IPv6 literal, and an optional all-digit port.
bool valid_host(std::string_view host, std::string_view& name_out) {
    if (host.empty()) {
        return false;
    }
    std::string_view name = host;
    std::string_view port;
    if (host.front() == '[') {
        const auto close = host.find(']');
        if (close == std::string_view::npos) {
            return false;
        }
        name = host.substr(1, close - 1);
        if (name.empty() ||
            name.find_first_not_of("0123456789abcdefABCDEF:.") != std::string_view::npos) {
            return false;
        }
        const auto rest = host.substr(close + 1);
        if (!rest.empty()) {
            if (rest.front() != ':') {
                return false;
            }
            port = rest.substr(1);
            if (port.empty()) {
                return false;
            }
        }
    } else {
        const auto colon = host.find(':');
        name = host.substr(0, colon);
        if (colon != std::string_view::npos) {
            port = host.substr(colon + 1);
            if (port.empty()) {
                return false;
            }
        }
        if (name.empty()) {
            return false;
        }
        for (char c : name) {
            const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || is_digit(c) ||
                            c == '-' || c == '.' || c == '_';
            if (!ok) {
                return false;
            }
        }
    }
    if (port.size() > 5) {
        return false;
    }
    for (char c : port) {
        if (!is_digit(c)) {
            return false;
        }
    }
    name_out = name;
    return true;
}

bool host_allowed(std::string_view name, const std::vector<std::string>& server_names) {
    if (server_names.empty()) {
        return true;
    }
    for (const auto& allowed : server_names) {
        if (iequals(name, allowed)) {
            return true;
        }
    }
    return false;
}

// RFC 6455 §4.1: the key is base64 of 16 random bytes: 22 base64 characters and "==".
bool valid_websocket_key(std::string_view key) {
    if (key.size() != 24 || key.substr(22) != "==") {
        return false;
    }
    for (char c : key.substr(0, 22)) {
        const bool ok =
            (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || is_digit(c) || c == '+' || c == '/';
        if (!ok) {
            return false;
        }
    }
    return true;
}

bool is_known_method(std::string_view m) {
    static constexpr std::array known{"POST",    "PUT",     "DELETE", "PATCH",
                                      "OPTIONS", "CONNECT", "TRACE",  "PROPFIND"};
    for (const char* k : known) {
        if (m == k) {
            return true;
        }
    }
    return false;
}

// "Transfer_Encoding", "Content_Length": some servers (CGI-style environments, several
// frameworks) read '_' as '-', so a node could see a framing field we did not.
bool reads_as_framing_field(std::string_view name) {
    if (name.find('_') == std::string_view::npos) {
        return false;
    }
    std::string dashed(name);
    std::replace(dashed.begin(), dashed.end(), '_', '-');
    return iequals(dashed, "transfer-encoding") || iequals(dashed, "content-length");
}

}  // namespace

bool is_hop_by_hop(std::string_view name) {
    // string_views, not const char*: no strlen per comparison.
    static constexpr std::array<std::string_view, 7> hop{
        "connection", "keep-alive",        "proxy-connection", "te",
        "trailer",    "transfer-encoding", "upgrade"};
    for (const auto h : hop) {
        if (iequals(name, h)) {
            return true;
        }
    }
    return false;
}

bool is_hop_by_hop(boost::beast::http::field f) {
    using boost::beast::http::field;
    switch (f) {
        case field::connection:
        case field::keep_alive:
        case field::proxy_connection:
        case field::te:
        case field::trailer:
        case field::transfer_encoding:
        case field::upgrade:
            return true;
        default:
            return false;
    }
}

bool is_post_media_type(std::string_view content_type) {
    const auto type = trim_ows(content_type.substr(0, content_type.find(';')));
    return iequals(type, "application/json") || iequals(type, "text/plain");
}

namespace {

// The body of an allowed POST: one Content-Length of plain digits, never Transfer-Encoding (so no
// CL/TE smuggling shape exists here either), a JSON or text type, and an Expect we can honour.
gate_result inspect_post_body(const request_head& head, const post_allowance& post) {
    gate_result r;
    if (head.count("transfer-encoding") != 0) {
        return refuse(400, "Transfer-Encoding not accepted; send the body with Content-Length");
    }
    const std::size_t content_lengths = head.count("content-length");
    if (content_lengths > 1) {
        return refuse(400, "duplicate Content-Length");
    }
    if (content_lengths == 0) {
        return refuse(411, "POST without Content-Length");
    }
    constexpr std::size_t max_digits = 18;  // far above any limit
    std::uint64_t n = 0;
    if (!parse_decimal(head.find("content-length"), n, max_digits)) {
        return refuse(400, "invalid Content-Length");
    }
    if (n > post.max_body) {
        return refuse(413, "request body larger than post.max_body_size");
    }
    if (head.count("content-type") != 1 || !is_post_media_type(head.find("content-type"))) {
        return refuse(415, "POST body is not application/json or text/plain");
    }
    if (const std::size_t expects = head.count("expect"); expects != 0) {
        // RFC 9110 §10.1.1: 100-continue is the only expectation defined.
        if (expects != 1 || !iequals(head.find("expect"), "100-continue")) {
            return refuse(417, "unsupported Expect");
        }
        r.expect_continue = head.version == 11;
    }
    r.post = true;
    r.body_length = n;
    return r;
}

}  // namespace

gate_result inspect(const request_head& head, const gate_options& options,
                    const post_allowance& post) {
    const bool get = head.method == "GET";
    const bool head_method = head.method == "HEAD";
    const bool post_method = head.method == "POST";
    if ((!get && !head_method && !post_method) || (post_method && !post.allowed)) {
        // Method names are case-sensitive (RFC 9110 §9.1): "get" is an unknown method.
        return refuse(405, is_known_method(head.method) ? "method not allowed" : "unknown method");
    }

    gate_result body;
    if (post_method) {
        body = inspect_post_body(head, post);
        if (body.status != 0) {
            return body;
        }
    } else {
        // No other request bodies, ever: this also defuses every CL/TE smuggling shape
        // (SECURITY.md).
        if (head.count("transfer-encoding") != 0) {
            return refuse(400, "request body not accepted (Transfer-Encoding)");
        }
        const std::size_t content_lengths = head.count("content-length");
        if (content_lengths > 1) {
            return refuse(400, "duplicate Content-Length");
        }
        if (content_lengths == 1 && head.find("content-length") != "0") {
            return refuse(400, "request body not accepted (Content-Length)");
        }
    }

    for (const auto& f : head.fields) {
        if (reads_as_framing_field(f.name)) {
            return refuse(400, "header name with '_' that reads as a framing field");
        }
    }

    const std::size_t hosts = head.count("host");
    if (hosts > 1) {
        return refuse(400, "more than one Host");
    }
    if (hosts == 0 && head.version == 11) {
        return refuse(400, "missing Host");  // RFC 9112 §3.2
    }
    std::string_view host_name;
    const std::string_view host = head.find("host");
    if (hosts == 1 && !valid_host(host, host_name)) {
        return refuse(400, "invalid Host");
    }
    if (hosts == 1 && !host_allowed(host_name, options.server_names)) {
        return refuse(421, "Host is not a name of this proxy");
    }

    gate_result r;
    r.target = check_target(head.target);
    if (r.target.status != 0) {
        return refuse(r.target.status, r.target.reason);
    }
    r.head_method = head_method;
    r.host = host;
    r.post = body.post;
    r.body_length = body.body_length;
    r.expect_continue = body.expect_continue;

    // Connection options: a client may not nominate framing or routing fields for removal.
    bool close = false;
    bool keep_alive_token = false;
    bool upgrade_token = false;
    bool bad_token = false;
    for (const auto& f : head.fields) {
        if (!iequals(f.name, "connection")) {
            continue;
        }
        for_each_list_token(f.value, [&](std::string_view token) {
            if (iequals(token, "close")) {
                close = true;
            } else if (iequals(token, "keep-alive")) {
                keep_alive_token = true;
            } else if (iequals(token, "upgrade")) {
                upgrade_token = true;
            } else if (iequals(token, "host") || iequals(token, "content-length") ||
                       iequals(token, "transfer-encoding")) {
                bad_token = true;
            }
        });
    }
    if (bad_token) {
        return refuse(400, "Connection names a framing or routing header");
    }
    r.keep_alive = !close && (head.version == 11 || keep_alive_token);

    // WebSocket (RFC 6455 §4.1). An Upgrade to anything else is ignored: Upgrade is hop-by-hop
    // and gets stripped, so the node sees a plain GET.
    bool websocket_upgrade = false;
    if (head.count("upgrade") != 0) {
        for_each_list_token(head.find("upgrade"), [&](std::string_view token) {
            if (iequals(token, "websocket")) {
                websocket_upgrade = true;
            }
        });
    }
    if (websocket_upgrade) {
        if (!get || head.version != 11 || head.count("upgrade") != 1) {
            return refuse(400, "invalid WebSocket upgrade");
        }
        if (!upgrade_token) {
            return refuse(400, "WebSocket upgrade without Connection: upgrade");
        }
        if (head.count("sec-websocket-version") != 1 ||
            head.find("sec-websocket-version") != "13") {
            return refuse(400, "unsupported Sec-WebSocket-Version");
        }
        if (head.count("sec-websocket-key") != 1 ||
            !valid_websocket_key(head.find("sec-websocket-key"))) {
            return refuse(400, "invalid Sec-WebSocket-Key");
        }
        r.websocket = true;
    }
    return r;
}

std::string websocket_accept(std::string_view key) {
    static constexpr std::string_view guid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
    std::string input(key);
    input += guid;
    std::array<unsigned char, SHA_DIGEST_LENGTH> digest{};
    SHA1(reinterpret_cast<const unsigned char*>(input.data()), input.size(), digest.data());
    std::array<unsigned char, 4 * ((SHA_DIGEST_LENGTH + 2) / 3) + 1> encoded{};
    const int n = EVP_EncodeBlock(encoded.data(), digest.data(), SHA_DIGEST_LENGTH);
    return std::string(reinterpret_cast<const char*>(encoded.data()), static_cast<std::size_t>(n));
}

}  // namespace bcp::http
