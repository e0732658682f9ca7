#pragma once
// A simulated BBB node: what a BBB server looks like after `bbb-cluster-proxy node apply`.
// Used by `demo`, the integration and browser tests, and bench/ (one node for all, DESIGN.md §3b).
//
// It listens on its own loopback port (its own origin) and serves, for its id and each mount:
//   GET /<id>/<mount>/                 index page (no-cache) loading hashed assets; its script shows
//                                      which node served it, opens a WebSocket to the node's own
//                                      origin (/ws), and has a getUserMedia button
//   GET /<id>/<mount>/<hash>.js|.css   immutable hashed assets, one JS bundle ~2.5 MB; identical
//                                      bytes on every node (same "BBB version")
//   GET /<id>/<mount>/guestWait        guest lobby page, fetches ./locale
//   GET /<id>/<mount>/locale?…         JSON locale stub
//   GET /html5client/locale?…          301 to /<id>/html5client/locale?… (the nginx rule)
//   GET /ws  (+ any upgrade under /<id>/<mount>/ws)   WebSocket echo
// With options.test_endpoints, also under /<id>/<mount>/_test/: see fake_node.cpp.
// Everything else: 404. Every request and connection is counted (tests assert on the counters).

#include "core/asio.hpp"

#include <boost/asio/ssl/context.hpp>

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace bcp::demo {

struct node_options {
    std::string id = "bbb-01";
    std::vector<std::string> mounts{"html5client"};
    std::string bind_address = "127.0.0.1";
    std::uint16_t port = 0;                 ///< 0 = ephemeral
    boost::asio::ssl::context* tls = nullptr;  ///< serve HTTPS/WSS with this context when set
    bool test_endpoints = false;            ///< enable /_test/ behaviours for the test suites
};

struct node_counters {
    std::atomic<std::uint64_t> connections{0};  ///< TCP connections accepted
    std::atomic<std::uint64_t> requests{0};     ///< HTTP requests read (any path, any method)
    std::atomic<std::uint64_t> websockets{0};   ///< WebSocket sessions accepted
    std::atomic<std::uint64_t> active_connections{0};
};

/// The assets of the fake client, identical for every node.
struct asset {
    std::string path;          ///< relative to the mount, e.g. "app-1a2b3c4d.js"
    std::string content_type;
    std::string body;
};
const std::vector<asset>& client_assets();

class fake_node {
public:
    /// Binds immediately (so port() is known); serves once start() is called. Throws
    /// boost::system::system_error if the bind fails.
    fake_node(boost::asio::io_context& ioc, node_options options);
    ~fake_node();
    fake_node(const fake_node&) = delete;
    fake_node& operator=(const fake_node&) = delete;

    /// Starts accepting on the io_context given to the constructor.
    void start();
    /// Stops accepting and closes every open connection. Safe to call from any thread.
    void stop();

    std::uint16_t port() const;
    /// "http://127.0.0.1:PORT" (https with TLS): the node's own origin.
    std::string origin() const;
    const node_options& options() const;
    node_counters& counters();

private:
    struct impl;
    std::shared_ptr<impl> impl_;
};

}  // namespace bcp::demo
