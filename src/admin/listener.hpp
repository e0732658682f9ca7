#pragma once
// The admin listener (docs/config-reference.md `admin`): a small HTTP/1.1 server on its own
// thread and io_context, so nothing it does (a slow scrape, a blocking handler such as a reload)
// ever runs on a worker. Handlers are registered by method and exact path before start(); the
// built-in ones (/metrics, /healthz, /nodes, the status page) are in endpoints.hpp, others (cache
// purge, reload) are added by whoever owns the action.
//
// With a token, every request must carry `Authorization: Bearer <token>` (compared in constant
// time); anything else gets 401 before routing.

#include "core/asio.hpp"

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

namespace bcp::admin {

/// What a handler sees of a request. Views are valid during the handler call only.
struct request {
    std::string_view method;
    std::string_view path;   ///< without the query
    std::string_view query;  ///< after '?', empty if none
    std::string_view body;
    /// A header value (case-insensitive name), empty when absent.
    std::function<std::string_view(std::string_view name)> header;

    /// The value of `name` in the query ("a=1&b=2"), empty when absent. No percent-decoding.
    std::string_view query_param(std::string_view name) const;
};

struct response {
    unsigned status = 200;
    std::string content_type = "text/plain; charset=utf-8";
    std::string body;
    std::vector<std::pair<std::string, std::string>> headers;  ///< extra headers
};

using handler = std::function<response(const request&)>;

struct listener_options {
    std::string host = "127.0.0.1";
    std::uint16_t port = 0;
    std::string token;  ///< empty = no authentication
};

class listener {
  public:
    /// Binds the address (nothing served until start()). nullptr and `error` naming the address
    /// when binding fails.
    static std::unique_ptr<listener> create(const listener_options& o, std::string& error);
    ~listener();  ///< stop()
    listener(const listener&) = delete;
    listener& operator=(const listener&) = delete;

    /// Registers `h` for `method` + exact `path` ("GET" handlers also answer HEAD). Call before
    /// start(); a later registration for the same pair replaces the earlier one.
    void handle(std::string method, std::string path, handler h);
    /// Serves on a thread of its own.
    void start();
    /// Closes the listener and every connection, joins the thread; idempotent.
    void stop();
    tcp::endpoint endpoint() const;

    /// The answer for one request (authentication, routing, 404/405); public for unit tests.
    response dispatch(const request& r) const;

  private:
    listener() = default;
    awaitable<void> accept_loop();
    awaitable<void> serve(tcp::socket socket);

    listener_options options_;
    asio::io_context ioc_{1};
    std::unique_ptr<tcp::acceptor> acceptor_;
    std::map<std::pair<std::string, std::string>, handler> handlers_;
    std::thread thread_;
    std::size_t connections_ = 0;  // admin thread only
};

/// Reads a bearer token file: the first line, surrounding whitespace removed. nullopt and `error`
/// ("admin.token_file: <path>: ...") when unreadable or empty.
std::optional<std::string> read_token_file(const std::string& path, std::string& error);

/// Whether an Authorization header value is "Bearer <token>" (scheme case-insensitive), in time
/// independent of where the token differs (both sides are hashed, then compared in constant time).
bool bearer_matches(std::string_view authorization, std::string_view token);

}  // namespace bcp::admin
