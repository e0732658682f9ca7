#pragma once
// Scalelite's server API as a discovery source (`discovery.scalelite.api_url` + `api_secret`), for
// clusters whose Redis the proxy cannot reach (issue 17). Like redis_url.hpp: the syntax is the
// configuration's to check, its use the discovery module's.

#include "core/origin.hpp"

#include <optional>
#include <string>
#include <string_view>

namespace bcp::config {

/// The checksum digests Scalelite accepts (its LOADBALANCER_CHECKSUM_ALGORITHM).
enum class checksum_digest { sha1, sha256, sha512 };

std::string_view to_string(checksum_digest d);
std::optional<checksum_digest> parse_checksum_digest(std::string_view text);

struct scalelite_api {
    origin server;                                     ///< Scalelite's origin
    std::string path = "/scalelite/api";               ///< the API's base path, no trailing '/'
    std::string secret;                                ///< LOADBALANCER_SECRET: never logged
    checksum_digest digest = checksum_digest::sha256;  ///< `api_checksum`

    bool operator==(const scalelite_api&) const = default;
    /// "https://lb.example.com/scalelite/api": no secret in it, fit for logs.
    std::string url() const;
};

struct scalelite_api_url_parse {
    std::optional<scalelite_api> value;  ///< the secret is left empty
    std::string message;                 ///< what is wrong, in an operator's words
};

/// `http(s)://host[:port][/base/path]`: the path of Scalelite's server API. An empty path (or
/// "/") means Scalelite's own `/scalelite/api`; a trailing `/getServers` or '/' is dropped, so the
/// URL of the call itself is accepted too. No query, fragment or userinfo.
scalelite_api_url_parse parse_scalelite_api_url(std::string_view text);

}  // namespace bcp::config
