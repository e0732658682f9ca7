#include "config/redis_url.hpp"

#include "core/text.hpp"

#include <charconv>

namespace bcp::config {
namespace {

// Userinfo may carry any byte percent-encoded (a password with '@' or ':').
std::optional<std::string> percent_decode(std::string_view in) {
    std::string out;
    for (std::size_t i = 0; i < in.size(); ++i) {
        if (in[i] != '%') {
            out.push_back(in[i]);
            continue;
        }
        if (i + 2 >= in.size()) {
            return std::nullopt;
        }
        const int hi = hex_value(in[i + 1]);
        const int lo = hex_value(in[i + 2]);
        if (hi < 0 || lo < 0) {
            return std::nullopt;
        }
        out.push_back(static_cast<char>(hi * 16 + lo));
        i += 2;
    }
    return out;
}

redis_url_parse fail(std::string message) {
    return {std::nullopt, std::move(message)};
}

}  // namespace

std::string redis_url::redacted() const {
    std::string out = tls ? "rediss://" : "redis://";
    if (!user.empty() || !password.empty()) {
        out += user;
        out += password.empty() ? "@" : ":***@";
    }
    out += host.find(':') != std::string::npos ? "[" + host + "]" : host;
    out += ":" + std::to_string(port) + "/" + std::to_string(database);
    return out;
}

redis_url_parse parse_redis_url(std::string_view text) {
    redis_url u;
    std::string_view rest;
    if (text.starts_with("redis://")) {
        rest = text.substr(8);
    } else if (text.starts_with("rediss://")) {
        rest = text.substr(9);
        u.tls = true;
    } else {
        return fail(
            "is not a Redis URL; give redis://[:password@]host[:port][/database] (or "
            "rediss:// for TLS)");
    }
    if (rest.find_first_of("?#") != std::string_view::npos) {
        return fail("has a query or fragment; give redis://[:password@]host[:port][/database]");
    }
    const auto slash = rest.find('/');
    std::string_view authority = rest.substr(0, slash);
    if (slash != std::string_view::npos) {
        const auto db = rest.substr(slash + 1);
        unsigned value = 0;
        const auto [end, ec] = std::from_chars(db.data(), db.data() + db.size(), value);
        if (db.empty() || ec != std::errc() || end != db.data() + db.size() || value > 100'000) {
            return fail("has a path other than a database number (/0, /1, ...)");
        }
        u.database = value;
    }
    if (const auto at = authority.rfind('@'); at != std::string_view::npos) {
        const auto userinfo = authority.substr(0, at);
        authority = authority.substr(at + 1);
        const auto colon = userinfo.find(':');
        if (colon == std::string_view::npos) {
            return fail("has a user without a password; give user:password@ or :password@");
        }
        auto user = percent_decode(userinfo.substr(0, colon));
        auto password = percent_decode(userinfo.substr(colon + 1));
        if (!user || !password) {
            return fail("has an invalid %-escape in its user or password");
        }
        u.user = std::move(*user);
        u.password = std::move(*password);
    }
    std::string_view host = authority;
    std::string_view port;
    if (authority.starts_with('[')) {
        const auto close = authority.find(']');
        if (close == std::string_view::npos) {
            return fail("has an unclosed '[' in its host");
        }
        host = authority.substr(1, close - 1);
        const auto after = authority.substr(close + 1);
        if (!after.empty() && !after.starts_with(':')) {
            return fail("has something after the IPv6 address that is not a port");
        }
        port = after.empty() ? after : after.substr(1);
    } else if (authority.find(':') != authority.rfind(':')) {
        return fail("has an invalid host (put an IPv6 address in brackets)");
    } else if (const auto colon = authority.find(':'); colon != std::string_view::npos) {
        host = authority.substr(0, colon);
        port = authority.substr(colon + 1);
    }
    if (host.empty()) {
        return fail("has no host");
    }
    for (const char c : host) {
        const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                        (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' || c == ':';
        if (!ok) {
            return fail("has an invalid host");
        }
    }
    u.host = std::string(host);
    if (authority.find('[') == std::string_view::npos && u.host.find(':') != std::string::npos) {
        return fail("has an invalid host (put an IPv6 address in brackets)");
    }
    if (!port.empty() || authority.ends_with(':')) {
        unsigned value = 0;
        const auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
        if (port.empty() || ec != std::errc() || end != port.data() + port.size() || value == 0 ||
            value > 65535) {
            return fail("has an invalid port");
        }
        u.port = static_cast<std::uint16_t>(value);
    }
    return {std::move(u), {}};
}

}  // namespace bcp::config
