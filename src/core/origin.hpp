#pragma once
// A web origin ("https://host[:port]"), the one shape every URL in the configuration and on the
// node-configurator command line must have. Parsing is strict: no path (not even "/"), no query,
// no fragment, no userinfo, scheme http or https only.

#include "core/error.hpp"

#include <cstdint>
#include <string>
#include <string_view>

namespace bcp {

struct origin {
    std::string scheme;  ///< "http" or "https", lower case
    std::string host;    ///< lower-cased reg-name, IPv4 literal, or IPv6 literal without brackets
    std::uint16_t port = 0;  ///< explicit or the scheme default
    bool explicit_port = false;

    bool operator==(const origin&) const = default;
    bool tls() const { return scheme == "https"; }
    /// "host" or "host:port" (port only when not the scheme default); IPv6 in brackets. This is
    /// the value for a Host header or an nginx server name.
    std::string authority() const;
    /// "scheme://authority", no trailing slash: byte-comparable with a browser's Origin header.
    std::string to_string() const;
};

/// Parses `text` as an origin. On failure the error message (second) says what is wrong in words
/// an operator understands ("has a path '/x'; give only scheme://host[:port]").
struct origin_parse {
    result<origin> value;
    std::string message;
};
origin_parse parse_origin(std::string_view text);

}  // namespace bcp
