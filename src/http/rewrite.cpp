#include "http/rewrite.hpp"

#include <boost/container/small_vector.hpp>

#include <cstring>

namespace bcp::http {
namespace {

using token_list = boost::container::small_vector<std::string_view, 8>;

// Fields a client may not pass through: either hop-by-hop, or ones we generate ourselves and a
// client must not be able to spoof (we have no trusted proxies in front of us yet).
bool is_client_field_dropped(std::string_view name) {
    return is_hop_by_hop(name) || iequals(name, "host") || iequals(name, "content-length") ||
           iequals(name, "x-forwarded-for") || iequals(name, "x-forwarded-proto") ||
           iequals(name, "x-forwarded-host") || iequals(name, "x-forwarded-port") ||
           iequals(name, "forwarded") || iequals(name, "x-real-ip") || iequals(name, "via") ||
           iequals(name, "expect") || iequals(name, "proxy-authorization") ||
           iequals(name, "accept-encoding");
}

bool named_in(const token_list& tokens, std::string_view name) {
    for (auto t : tokens) {
        if (iequals(t, name)) {
            return true;
        }
    }
    return false;
}

void append_field(std::string& out, std::string_view name, std::string_view value) {
    // One size check and four copies (a head is a dozen of these; `out` is reserved ahead).
    const std::size_t at = out.size();
    out.resize(at + name.size() + 2 + value.size() + 2);
    char* p = out.data() + at;
    std::memcpy(p, name.data(), name.size());
    p += name.size();
    std::memcpy(p, ": ", 2);
    p += 2;
    std::memcpy(p, value.data(), value.size());
    p += value.size();
    std::memcpy(p, "\r\n", 2);
}

}  // namespace

void build_upstream_request(const request_head& head, const gate_result& gate,
                            const forward_context& ctx, std::string& out) {
    out.clear();
    token_list nominated;
    for (const auto& f : head.fields) {
        if (iequals(f.name, "connection")) {
            for_each_list_token(f.value, [&](std::string_view t) { nominated.push_back(t); });
        }
    }

    out.append(head.method);
    out.push_back(' ');
    out.append(head.target);
    out.append(" HTTP/1.1\r\n");
    append_field(out, "Host", ctx.upstream_authority);
    // The client's set is filtered first, then ours is added, so a client cannot remove a field
    // we generate by naming it in Connection (SECURITY.md).
    for (const auto& f : head.fields) {
        if (is_client_field_dropped(f.name) || named_in(nominated, f.name)) {
            continue;
        }
        if (ctx.drop_conditionals &&
            (iequals(f.name, "if-none-match") || iequals(f.name, "if-modified-since") ||
             iequals(f.name, "if-match") || iequals(f.name, "if-unmodified-since") ||
             iequals(f.name, "if-range"))) {
            continue;
        }
        append_field(out, f.name, f.value);
    }
    append_field(out, "X-Forwarded-For", ctx.client_address);
    append_field(out, "X-Forwarded-Proto", ctx.client_tls ? "https" : "http");
    append_field(out, "X-Forwarded-Host", gate.host.empty() ? ctx.public_authority : gate.host);
    // No Via (RFC 9110 §7.6.3 asks for one): with it, a node's nginx sends us every file
    // uncompressed (gzip_proxied is off on BBB nodes). docs/security.md "Via" says why that is
    // the better trade; X-Forwarded-* already tell the node a proxy is in front.
    if (!ctx.accept_encoding.empty()) {
        append_field(out, "Accept-Encoding", ctx.accept_encoding);
    }
    if (ctx.content_length) {
        append_field(out, "Content-Length", std::to_string(*ctx.content_length));
    }
    if (gate.websocket) {
        append_field(out, "Connection", "Upgrade");
        append_field(out, "Upgrade", "websocket");
    }
    out.append(ctx.extra_fields);
    out.append("\r\n");
}

std::string rewrite_location(std::string_view value, const response_context& ctx) {
    // Like nginx's `proxy_redirect default`, but per mount: only an absolute URL on the node's own
    // origin and under /<id>/<mount>/ becomes the same path on the public origin. Everything else
    // (relative URLs, other hosts, /bigbluebutton/ on the node) is left as the node sent it.
    if (value.size() <= ctx.node_origin.size() ||
        !iequals(value.substr(0, ctx.node_origin.size()), ctx.node_origin)) {
        return std::string(value);
    }
    const std::string_view path = value.substr(ctx.node_origin.size());
    for (const auto& mount : ctx.mounts) {
        const std::size_t prefix_len = 1 + ctx.node_id.size() + 1 + mount.size();
        if (path.size() < prefix_len || path[0] != '/' ||
            path.substr(1, ctx.node_id.size()) != ctx.node_id ||
            path[1 + ctx.node_id.size()] != '/' ||
            path.substr(2 + ctx.node_id.size(), mount.size()) != mount) {
            continue;
        }
        if (path.size() > prefix_len && path[prefix_len] != '/' && path[prefix_len] != '?' &&
            path[prefix_len] != '#') {
            continue;  // "/bbb-01/html5clientx" is not under the mount
        }
        std::string out(ctx.public_origin);
        out.append(path);
        return out;
    }
    return std::string(value);
}

void build_response_head(unsigned status, std::string_view reason, const node_fields& fields,
                         const response_context& ctx, std::string& out) {
    out.clear();
    token_list nominated;
    for (const auto& f : fields) {
        if (f.name() == boost::beast::http::field::connection) {
            for_each_list_token(f.value(), [&](std::string_view t) { nominated.push_back(t); });
        }
    }
    out.append("HTTP/1.1 ");
    out.append(std::to_string(status));
    out.push_back(' ');
    out.append(reason.empty() ? std::string_view("Status") : reason);
    out.append("\r\n");
    using boost::beast::http::field;
    for (const auto& f : fields) {
        const std::string_view name = f.name_string();
        if (is_hop_by_hop(f.name()) || (!nominated.empty() && named_in(nominated, name))) {
            continue;
        }
        if (f.name() == field::content_length && ctx.body != framing::none) {
            continue;  // re-framed below
        }
        if (f.name() == field::location) {
            append_field(out, name, rewrite_location(f.value(), ctx));
            continue;
        }
        append_field(out, name, f.value());
    }
    switch (ctx.body) {
        case framing::none:
            break;
        case framing::content_length:
            append_field(out, "Content-Length", std::to_string(ctx.content_length));
            break;
        case framing::chunked:
            append_field(out, "Transfer-Encoding", "chunked");
            break;
        case framing::close:
            break;
    }
    if (ctx.upgrade) {
        append_field(out, "Connection", "upgrade");
        append_field(out, "Upgrade", "websocket");
    } else if (!ctx.keep_alive || ctx.body == framing::close) {
        append_field(out, "Connection", "close");
    }
    out.append("\r\n");
}

}  // namespace bcp::http
