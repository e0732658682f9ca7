#pragma once
// Integration-test harness: simulated nodes on their own thread, the real proxy server on
// 127.0.0.1:0 in this process, and small clients that never block forever (every read has a
// deadline; a test that would hang fails instead).

#include "config/config.hpp"
#include "demo/fake_node.hpp"
#include "proxy/server.hpp"

#include <boost/asio/ssl/context.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace bcp::test {

using namespace std::chrono_literals;
using response = boost::beast::http::response<boost::beast::http::string_body>;

/// Simulated BBB nodes (test endpoints on), served by one background thread.
class node_set {
  public:
    explicit node_set(std::vector<std::string> ids, boost::asio::ssl::context* tls = nullptr,
                      demo::client_kind client = demo::client_kind::static_client);
    ~node_set();
    demo::fake_node& operator[](std::size_t i) { return *nodes_[i]; }
    std::size_t size() const { return nodes_.size(); }
    /// Requests received by all nodes together.
    std::uint64_t total_requests() const;
    std::uint64_t total_connections() const;

  private:
    boost::asio::io_context ioc_{1};
    std::vector<std::unique_ptr<demo::fake_node>> nodes_;
    std::thread thread_;
};

/// YAML for a proxy on 127.0.0.1:0 in front of `nodes`; `extra` is appended verbatim (timeouts,
/// limits, more nodes...).
std::string proxy_yaml(node_set& nodes, const std::string& extra = {}, bool tls_listener = false,
                       const std::string& cert = {}, const std::string& key = {});

/// The proxy server running in this process. Fails the test (and leaves ok() false) if the
/// config does not load or the server cannot start.
class proxy_instance {
  public:
    explicit proxy_instance(const std::string& yaml);
    ~proxy_instance();
    bool ok() const { return server_ != nullptr; }
    std::uint16_t port(std::size_t listener = 0) const;
    proxy::server& server() { return *server_; }
    const config::proxy_config& config() const { return *config_; }

  private:
    std::optional<config::proxy_config> config_;
    std::unique_ptr<proxy::server> server_;
};

/// One client connection (plain, or TLS when `tls` is given) with deadline-bounded operations.
class client {
  public:
    /// `source`: bind to this local address first (127.0.0.2, ...: another client IP for the
    /// per-IP limits).
    explicit client(std::uint16_t port, boost::asio::ssl::context* tls = nullptr,
                    const std::string& sni = "localhost", const std::string& source = {});
    ~client();
    bool connected() const { return connected_; }

    void send(const std::string& bytes);
    /// Reads one response. nullopt on timeout, close or parse error (see last_error()).
    std::optional<response> read(bool head_request = false, std::chrono::milliseconds timeout = 5s);
    /// GET (or HEAD) with Host: localhost, then read().
    std::optional<response> get(const std::string& target, const std::string& headers = {},
                                const std::string& method = "GET");
    /// True when the server closes the connection (EOF or reset) within `timeout`; the bytes
    /// received until then go to `received`.
    bool closed_within(std::chrono::milliseconds timeout, std::string* received = nullptr);
    /// Raw bytes until close or timeout.
    std::string read_all(std::chrono::milliseconds timeout);
    std::string last_error() const { return error_; }
    boost::asio::ip::tcp::socket& socket();

  private:
    bool drain(std::chrono::milliseconds timeout, std::string& out);

    struct impl;
    std::unique_ptr<impl> impl_;
    bool connected_ = false;
    std::string error_;
};

/// A one-shot request on a new connection.
std::optional<response> http_get(std::uint16_t port, const std::string& target,
                                 const std::string& headers = {});

/// The value of the /metrics sample `name` (with its labels, as printed) on the admin listener at
/// `admin_port`; ~0 when the listener does not answer or the sample is missing.
std::uint64_t metric(std::uint16_t admin_port, const std::string& name);

/// A port on 127.0.0.1 that nothing listens on (bound, then closed).
std::uint16_t closed_port();

/// Polls `pred` every few milliseconds until it is true or `timeout` passes.
template <class Pred>
bool eventually(Pred pred, std::chrono::milliseconds timeout = 5s) {
    const auto end = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < end) {
        if (pred()) {
            return true;
        }
        std::this_thread::sleep_for(2ms);
    }
    return pred();
}

}  // namespace bcp::test
