#include "core/origin.hpp"

#include "core/text.hpp"

#include <algorithm>
#include <cctype>

namespace bcp {
namespace {

origin_parse fail(std::string message) {
    return {errc::invalid_argument, std::move(message)};
}

bool is_reg_name_char(char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.' || c == '_';
}

}  // namespace

std::string origin::authority() const {
    std::string out = host.find(':') != std::string::npos ? "[" + host + "]" : host;
    const std::uint16_t default_port = tls() ? 443 : 80;
    if (port != default_port) {
        out += ':' + std::to_string(port);
    }
    return out;
}

std::string origin::to_string() const {
    return scheme + "://" + authority();
}

origin_parse parse_origin(std::string_view text) {
    const auto sep = text.find("://");
    if (sep == std::string_view::npos) {
        return fail("'" + std::string(text) + "' is not a URL; expected scheme://host[:port]");
    }
    origin o;
    o.scheme = ascii_lower(text.substr(0, sep));
    if (o.scheme != "http" && o.scheme != "https") {
        return fail("scheme '" + o.scheme + "' is not http or https");
    }
    std::string_view rest = text.substr(sep + 3);
    const auto path_at = rest.find_first_of("/?#");
    if (path_at != std::string_view::npos) {
        const char c = rest[path_at];
        std::string what = c == '/' ? (rest.substr(path_at) == "/" ? "a trailing slash" : "a path")
                           : c == '?' ? "a query"
                                      : "a fragment";
        return fail("'" + std::string(text) + "' has " + what +
                    "; give only scheme://host[:port] (no path, no trailing slash)");
    }
    if (rest.find('@') != std::string_view::npos) {
        return fail("'" + std::string(text) +
                    "' has user information; give only scheme://host[:port]");
    }
    std::string_view host;
    std::string_view port;
    if (!rest.empty() && rest.front() == '[') {
        const auto close = rest.find(']');
        if (close == std::string_view::npos) {
            return fail("'" + std::string(text) + "' has an unterminated IPv6 literal");
        }
        host = rest.substr(1, close - 1);
        auto after = rest.substr(close + 1);
        if (!after.empty()) {
            if (after.front() != ':') {
                return fail("'" + std::string(text) + "' has junk after the IPv6 literal");
            }
            port = after.substr(1);
        }
        if (host.empty() ||
            host.find_first_not_of("0123456789abcdefABCDEF:.") != std::string_view::npos) {
            return fail("'" + std::string(text) + "' has an invalid IPv6 literal");
        }
    } else {
        const auto colon = rest.find(':');
        host = rest.substr(0, colon);
        if (colon != std::string_view::npos) {
            port = rest.substr(colon + 1);
        }
        if (host.empty()) {
            return fail("'" + std::string(text) + "' has no host");
        }
        if (!std::all_of(host.begin(), host.end(), is_reg_name_char) || host.front() == '.' ||
            host.front() == '-' || host.find("..") != std::string_view::npos) {
            return fail("'" + std::string(text) + "' has an invalid host name '" +
                        std::string(host) + "'");
        }
    }
    o.host = ascii_lower(host);
    if (rest.find(':') != std::string_view::npos && port.empty() && rest.front() != '[') {
        return fail("'" + std::string(text) + "' has an empty port");
    }
    if (!port.empty()) {
        if (port.size() > 5 ||
            !std::all_of(port.begin(), port.end(), [](char c) { return c >= '0' && c <= '9'; })) {
            return fail("'" + std::string(text) + "' has an invalid port '" + std::string(port) +
                        "'");
        }
        const unsigned long value = std::stoul(std::string(port));
        if (value == 0 || value > 65535) {
            return fail("'" + std::string(text) + "' has a port out of range");
        }
        o.port = static_cast<std::uint16_t>(value);
        o.explicit_port = true;
    } else {
        o.port = o.tls() ? 443 : 80;
    }
    return {std::move(o), {}};
}

}  // namespace bcp
