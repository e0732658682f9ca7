#pragma once
// The Redis URL of a discovery source (`discovery.scalelite.redis_url`): its syntax is the
// configuration's to check (with the file's positions), its use the discovery module's.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace bcp::config {

/// Where Redis is: `redis://[[user]:password@]host[:port][/database]`, or `rediss://` for TLS.
struct redis_url {
    std::string host;  ///< reg-name or IP literal (IPv6 without brackets)
    std::uint16_t port = 6379;
    bool tls = false;
    std::string user;      ///< ACL user; empty = the default user
    std::string password;  ///< empty = no AUTH
    unsigned database = 0;

    bool operator==(const redis_url&) const = default;
    /// The URL for logs and messages, the password replaced by "***".
    std::string redacted() const;
};

struct redis_url_parse {
    std::optional<redis_url> value;
    std::string message;  ///< what is wrong, in an operator's words (never the password)
};
redis_url_parse parse_redis_url(std::string_view text);

}  // namespace bcp::config
