#pragma once
// A simulated BBB node: what a BBB server looks like after `bbb-cluster-proxy node apply`.
// Used by `demo`, the integration and browser tests, and bench/ (one node for all, DESIGN.md §3b).
//
// It listens on its own loopback port (its own origin) and serves, for its id and each mount:
//   GET /<id>/<mount>/  (also index.html, join)
//        index page (no-cache, ETag) loading the hashed assets by relative URL; its script shows
//        which node served it, opens a WebSocket to the node's own origin (/ws), and has a
//        getUserMedia button. DOM ids (a contract for browser tests): #node-id, #served-origin,
//        #node-origin, #ws-status (connecting → open after an echo round-trip | error; closed if
//        it closes later), #media-button, #media-status (idle | requesting | granted | error name;
//        NotSupportedError without navigator.mediaDevices), #permission-status (microphone
//        permission state, follows changes), #assets-ok (no → yes once the app and vendor bundles
//        ran; window.BBB_APP is set by the app bundle)
//   GET /<id>/<mount>/<name>-<hash>.<ext>   immutable hashed assets (client_assets()); 304 on a
//        matching If-None-Match (or If-Modified-Since without it)
//   GET /<id>/<mount>/guestWait        guest lobby page: #guest-status "waiting", #guest-locale
//                                      filled from ./locale?locale=en
//   GET /<id>/<mount>/locale?locale=xx JSON {"locale":"xx","messages":{...}} (xx sanitized)
//   GET /<mount>/locale?…              301 to /<id>/<mount>/locale?… (the BBB nginx rule)
//   GET /<id>/<mount>                  301 to /<id>/<mount>/
//   GET /                              200 "BBB node <id>" page linking the mounts
//   upgrade /ws, /<id>/<mount>/ws[/…]  WebSocket echo (text and binary); a plain GET there: 426
// With options.test_endpoints, also under /<id>/<mount>/_test/: see fake_node_test_endpoints.cpp.
// Everything else: 404; other methods than GET/HEAD on the paths above: 405. An Upgrade header on
// any other path is ignored (answered like a plain GET, as nginx serving files does). Keep-alive
// follows HTTP/1.1 rules (Connection: close and HTTP/1.0 honoured). Every request and connection
// is counted (tests assert on the counters).
//
// options.client picks which BBB client the node imitates. client_kind::static_client (the
// default) is the BBB 3.0-like client above (no POST endpoint outside /_test/). client_kind::meteor
// is BBB 2.x's Meteor app: everything above, plus, for each mount,
//   POST /<id>/<mount>/__meteor__/dynamic-import/fetch
//        Meteor's lazy module loader. The body (any Content-Type, at most 1 MiB, else 413) is a
//        JSON tree of module paths, e.g. {"node_modules":{"lazy":{"panel.js":1}}}; the answer is
//        200 application/json, Access-Control-Allow-Origin: *, no Cache-Control, with the same
//        tree where each known leaf is that module's source (a string
//        "function(require,exports,module){...}") and unknown ones are left out. Known modules:
//        node_modules/lazy/panel.js and node_modules/lazy/chart.js; each sets exports.node to
//        the node id and exports.name to "panel" / "chart". Not JSON, or not an object: 400.
//        Other methods: 405 (Allow: POST).
//   POST /<id>/<mount>/feedback        the logout rating form: 200 application/json
//                                      {"status":"ok"}, Cache-Control: no-store (the body, at most
//                                      1 MiB, is ignored); other methods: 405 (Allow: POST)
//   and the index page has #lazy-status: "pending", then, once the assets ran, the page POSTs
//   {"node_modules":{"lazy":{"panel.js":1}}} to location.origin + "/<id>/<mount>" (Meteor's
//   ROOT_URL with a dynamic origin, from window.__meteor_runtime_config__.ROOT_URL_PATH_PREFIX)
//   + "/__meteor__/dynamic-import/fetch", evaluates the returned source as Meteor does, and shows
//   "loaded <exports.node>" (e.g. "loaded bbb-02"), or "error <HTTP status or message>".
//   POSTs to these two paths are counted in dynamic_imports and feedbacks. The page sends no
//   Content-Security-Policy in either mode (its inline scripts, and Meteor's eval, would need
//   'unsafe-inline' and 'unsafe-eval', as BBB 2.x's own client does).
//
// Threads: the io_context may be run by any number of threads; each connection runs on its own
// strand, the acceptor on another, and the shared state is immutable or atomic. The io_context
// must outlive the fake_node.

#include "core/asio.hpp"

#include <boost/asio/ssl/context.hpp>

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace bcp::demo {

/// The HTML5 client the node imitates.
enum class client_kind {
    static_client,  ///< BBB 3.0-like: static files only, no POST endpoints (the default)
    meteor,         ///< BBB 2.x: the Meteor app's dynamic-import and feedback POST endpoints
};

struct node_options {
    std::string id = "bbb-01";
    std::vector<std::string> mounts{"html5client"};
    std::string bind_address = "127.0.0.1";
    std::uint16_t port = 0;                    ///< 0 = ephemeral
    boost::asio::ssl::context* tls = nullptr;  ///< serve HTTPS/WSS with this context when set
    bool test_endpoints = false;               ///< enable /_test/ behaviours for the test suites
    client_kind client = client_kind::static_client;
};

struct node_counters {
    std::atomic<std::uint64_t> connections{0};  ///< TCP connections accepted
    std::atomic<std::uint64_t> requests{0};     ///< HTTP requests read (any path, any method)
    std::atomic<std::uint64_t> websockets{0};   ///< WebSocket sessions accepted
    std::atomic<std::uint64_t> active_connections{0};
    /// POSTs to /<id>/<mount>/__meteor__/dynamic-import/fetch and /<id>/<mount>/feedback
    /// (meteor client only; counted whatever the answer, including 400 and 413).
    std::atomic<std::uint64_t> dynamic_imports{0};
    std::atomic<std::uint64_t> feedbacks{0};
};

/// The assets of the fake client, identical for every node and every process: app-<h>.js (~2.5 MB),
/// vendor-<h>.js, style-<h>.css, logo-<h>.svg (h = FNV-1a 32 of the bytes, 8 hex digits). Built
/// on first use, immutable afterwards; responses reference these bytes without copying.
struct asset {
    std::string path;  ///< relative to the mount, e.g. "app-1a2b3c4d.js"
    std::string content_type;
    std::string body;
    std::string etag;  ///< quoted hash of body, e.g. "\"1a2b3c4d\"" (same hash as in path)
};
const std::vector<asset>& client_assets();

/// The client version this process's nodes serve (1 by default; `demo-node --client-version`).
/// From 2 on, the app bundle has one more module in its middle (an upgrade that changed one
/// library) and so another hash in its name; the other assets are the same. Call before the
/// first client_assets(): they are built once per process.
void select_client_version(unsigned version);

class fake_node {
  public:
    /// Binds immediately (so port() is known); serves once start() is called. Throws
    /// boost::system::system_error if the bind fails.
    fake_node(boost::asio::io_context& ioc, node_options options);
    ~fake_node();
    fake_node(const fake_node&) = delete;
    fake_node& operator=(const fake_node&) = delete;

    /// Starts accepting on the io_context given to the constructor. No effect after stop().
    void start();
    /// Stops accepting and closes every open connection (posted to their strands, so it returns
    /// at once; the io_context runs out of this node's work shortly after). Idempotent, safe to
    /// call from any thread; the destructor calls it.
    void stop();

    std::uint16_t port() const;
    /// "http://127.0.0.1:PORT" (https with TLS): the node's own origin. A wildcard bind address
    /// gives the loopback address of its family; IPv6 in brackets.
    std::string origin() const;
    const node_options& options() const;
    node_counters& counters();

  private:
    struct impl;
    std::shared_ptr<impl> impl_;
};

}  // namespace bcp::demo
