#pragma once
// A small Redis client for node discovery (issue 17: Scalelite keeps its server registry in
// Redis). hiredis 0.14 (Debian) does the protocol: its command formatter and its reply reader.
// Its blocking socket code is not used (and it has no TLS): the bytes travel over our own
// net::stream on an Asio executor, plain or TLS (rediss://, verified like nodes), with a deadline
// on every step. Off the workers' event loops: the caller runs it on an executor of its own.
//
// A connection sends each batch of commands in one write and reads as many replies (a pipeline:
// one round trip for SMEMBERS and the HGETALL of every server, not one wait per server).

#include "config/redis_url.hpp"
#include "core/asio.hpp"
#include "discovery/source.hpp"

#include <boost/asio/ssl/context.hpp>

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace bcp::net {
class stream;
}

namespace bcp::discovery {

using redis_url = config::redis_url;
using config::parse_redis_url;

/// One reply (RESP2), as a value.
struct redis_reply {
    enum class kind { string, status, error, integer, nil, array };
    kind type = kind::nil;
    std::string text;  ///< string, status or error
    long long integer = 0;
    std::vector<redis_reply> elements;  ///< array
};

/// One command in the protocol's form (hiredis's formatter; arguments are binary-safe).
std::string format_command(std::span<const std::string> argv);

/// Incremental reply parser (hiredis's reader): feed bytes as they come, take complete replies.
class reply_reader {
  public:
    reply_reader();
    ~reply_reader();
    reply_reader(const reply_reader&) = delete;
    reply_reader& operator=(const reply_reader&) = delete;

    /// False when the reader cannot take the bytes (out of memory).
    bool feed(std::string_view bytes);
    /// The next complete reply; nullopt while none is complete, or with `error` set when the
    /// bytes are not the Redis protocol (the connection is then unusable).
    std::optional<redis_reply> next(std::string& error);

  private:
    void* reader_;  // redisReader*
};

class redis_connection {
  public:
    ~redis_connection();
    redis_connection(const redis_connection&) = delete;
    redis_connection& operator=(const redis_connection&) = delete;

    /// Connects, authenticates (AUTH password, or AUTH user password) and selects the database.
    /// nullptr with `error` set on failure.
    static awaitable<std::unique_ptr<redis_connection>> open(const redis_url& url,
                                                             const source_options& options,
                                                             source_error& error);

    /// Sends every command in one write and reads one reply per command, in order. An error
    /// reply (e.g. WRONGTYPE) is a reply, not a failure; nullopt with `error` set when the
    /// connection failed, timed out or broke the protocol (it is closed then).
    awaitable<std::optional<std::vector<redis_reply>>> pipeline(
        std::span<const std::vector<std::string>> commands, source_error& error);

    bool is_open() const;
    void close();

  private:
    redis_connection(std::unique_ptr<net::stream> stream, const source_options& options);
    std::unique_ptr<net::stream> stream_;
    source_options options_;
    reply_reader reader_;
};

}  // namespace bcp::discovery
