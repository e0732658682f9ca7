#include "http/local_reply.hpp"

#include <fmt/format.h>

namespace bcp::http {
namespace {

std::string_view explanation(unsigned status) {
    switch (status) {
        case 400:
            return "The request was malformed or not allowed through this proxy.";
        case 404:
            return "There is no BigBlueButton client at this address. Check the link you were "
                   "given, or join the meeting again from its invitation.";
        case 405:
            return "This proxy only serves the BigBlueButton client (GET and HEAD requests, and "
                   "POST to the few addresses its client posts to).";
        case 411:
            return "The request body must be sent with a Content-Length.";
        case 413:
            return "The request body is too large.";
        case 414:
            return "The requested address is too long.";
        case 415:
            return "The request body must be JSON or text.";
        case 417:
            return "The request's expectation cannot be met.";
        case 421:
            return "This proxy does not serve that host name.";
        case 429:
            return "Too many requests. Please wait a moment and try again.";
        case 431:
            return "The request headers are too large.";
        case 502:
            return "The BigBlueButton server for this meeting cannot be reached right now. "
                   "Please try again in a moment.";
        case 503:
            return "The proxy is busy or the BigBlueButton server is unavailable. "
                   "Please try again in a moment.";
        case 504:
            return "The BigBlueButton server for this meeting did not answer in time. "
                   "Please try again in a moment.";
        case 505:
            return "This HTTP version is not supported.";
        default:
            return "The request could not be completed.";
    }
}

// Node ids are [A-Za-z0-9._-] (validated in config), so they need no HTML escaping; we still
// refuse to print anything else rather than trust that invariant here.
bool is_safe_id(std::string_view id) {
    for (char c : id) {
        const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                        (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
        if (!ok) {
            return false;
        }
    }
    return true;
}

}  // namespace

std::string_view reason_phrase(unsigned status) {
    switch (status) {
        case 200:
            return "OK";
        case 301:
            return "Moved Permanently";
        case 304:
            return "Not Modified";
        case 400:
            return "Bad Request";
        case 403:
            return "Forbidden";
        case 404:
            return "Not Found";
        case 405:
            return "Method Not Allowed";
        case 408:
            return "Request Timeout";
        case 411:
            return "Length Required";
        case 413:
            return "Content Too Large";
        case 414:
            return "URI Too Long";
        case 415:
            return "Unsupported Media Type";
        case 417:
            return "Expectation Failed";
        case 421:
            return "Misdirected Request";
        case 429:
            return "Too Many Requests";
        case 431:
            return "Request Header Fields Too Large";
        case 500:
            return "Internal Server Error";
        case 502:
            return "Bad Gateway";
        case 503:
            return "Service Unavailable";
        case 504:
            return "Gateway Timeout";
        case 505:
            return "HTTP Version Not Supported";
        default:
            return "Error";
    }
}

std::string make_local_reply(unsigned status, const local_reply_options& options) {
    const std::string_view reason = reason_phrase(status);
    std::string node_line;
    if (!options.node_id.empty() && is_safe_id(options.node_id) && status >= 500) {
        node_line = fmt::format("<p class=\"node\">Server: {}</p>", options.node_id);
    }
    const std::string body = fmt::format(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        "<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">"
        "<title>{0} {1}</title><style>"
        "body{{font-family:system-ui,sans-serif;background:#06172a;color:#f3f6f9;display:flex;"
        "align-items:center;justify-content:center;min-height:100vh;margin:0}}"
        "main{{max-width:34rem;padding:2rem;background:#0f2a45;border-radius:12px}}"
        "h1{{font-size:1.4rem;margin-top:0}}.node{{color:#9fb3c8;font-size:.9rem}}"
        "</style></head><body><main id=\"proxy-error\" data-status=\"{0}\"><h1>{0} {1}</h1>"
        "<p>{2}</p>{3}</main></body></html>\n",
        status, reason, explanation(status), node_line);
    std::string out = fmt::format(
        "HTTP/1.1 {} {}\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {}\r\n"
        "Cache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\n{}{}\r\n",
        status, reason, body.size(), options.extra_headers,
        options.close ? "Connection: close\r\n" : "");
    if (!options.head_method) {
        out += body;
    }
    return out;
}

}  // namespace bcp::http
