// `demo-node`: one simulated BBB node (demo/fake_node) in a process of its own. The browser tests
// (tests/e2e) run each node this way so they can kill one while the proxy and the other keep
// going; `demo` runs two nodes (bbb-01 static, bbb-02 meteor) and the proxy in one process instead.
//
// Once listening it writes {"id":…,"origin":"http://127.0.0.1:PORT","port":PORT} (plus "stats"
// with --stats-port) to --ready-file (temporary file, then rename: a reader never sees half of
// it), and runs until SIGINT or SIGTERM (exit 0).
//
// --client static|meteor picks the HTML5 client the node imitates (demo::client_kind): static
// (default) is the BBB 3.0-like client, meteor is BBB 2.x's Meteor app, which adds
// POST /<id>/<mount>/__meteor__/dynamic-import/fetch, POST /<id>/<mount>/feedback and a dynamic
// import on the index page (#lazy-status; the contract is in demo/fake_node.hpp).
//
// --client-version N serves version N of the client (demo::select_client_version): from 2 on
// the app bundle differs by one module, as after an upgrade (compression dictionaries, issue 18).
//
// --stats-port P opens a second, loopback-only listener that answers a GET (any path) with the
// node's counters as JSON, {"requests":…,"websockets":…,"connections":…,"active_connections":…,
// "dynamic_imports":…,"feedbacks":…} (the last two: POSTs to the meteor endpoints), and closes. It
// is separate from the node's own port so that asking does not change what is asked about (a stats
// request on the node's port would count as a request and a connection).
#include "cli/commands.hpp"

#include "core/asio.hpp"
#include "core/log.hpp"
#include "demo/fake_node.hpp"
#include "net/tls.hpp"

#include <fmt/format.h>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>

#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <fstream>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace bcp::cli {
namespace {

namespace beast = boost::beast;
namespace http = beast::http;

constexpr auto stats_deadline = std::chrono::seconds(5);

struct demo_node_flags {
    std::string id = "bbb-01";
    std::uint16_t port = 0;
    std::vector<std::string> mounts{"html5client"};
    std::string tls_cert;
    std::string tls_key;
    std::string ready_file;
    std::string client = "static";
    unsigned client_version = 1;
    std::uint16_t stats_port = 0;
    bool stats = false;  ///< --stats-port was given (0 = ephemeral)
};

/// The same rule as node ids and mounts in the proxy's configuration: one literal path segment.
bool is_segment(std::string_view s) {
    if (s.empty() || s == "." || s == "..") {
        return false;
    }
    for (const char c : s) {
        const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                        (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
        if (!ok) {
            return false;
        }
    }
    return true;
}

std::string counters_json(const demo::node_counters& c) {
    constexpr auto relaxed = std::memory_order_relaxed;
    return fmt::format(
        R"({{"requests":{},"websockets":{},"connections":{},"active_connections":{},)"
        R"("dynamic_imports":{},"feedbacks":{}}})"
        "\n",
        c.requests.load(relaxed), c.websockets.load(relaxed), c.connections.load(relaxed),
        c.active_connections.load(relaxed), c.dynamic_imports.load(relaxed),
        c.feedbacks.load(relaxed));
}

/// One stats exchange: read a request, answer the counters (405 to anything but GET), close.
awaitable<void> answer_stats(tcp::socket socket, const demo::node_counters& counters) {
    beast::tcp_stream stream(std::move(socket));
    stream.expires_after(stats_deadline);
    beast::flat_buffer buffer;
    http::request<http::empty_body> req;
    auto [read_ec, n] = co_await http::async_read(stream, buffer, req, use_nothrow);
    if (read_ec) {
        co_return;
    }
    http::response<http::string_body> res;
    res.version(11);
    res.set(http::field::server, "bbb-fake-node-stats");
    res.set(http::field::cache_control, "no-store");
    if (req.method() == http::verb::get) {
        res.result(http::status::ok);
        res.set(http::field::content_type, "application/json");
        res.body() = counters_json(counters);
    } else {
        res.result(http::status::method_not_allowed);
        res.set(http::field::allow, "GET");
        res.set(http::field::content_type, "text/plain; charset=utf-8");
        res.body() = "405 Method Not Allowed\n";
    }
    res.keep_alive(false);
    res.prepare_payload();
    co_await http::async_write(stream, res, use_nothrow);
    error_code ignored;
    stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
}

awaitable<void> stats_accept_loop(tcp::acceptor& acceptor, const demo::node_counters& counters) {
    for (;;) {
        auto [ec, socket] = co_await acceptor.async_accept(use_nothrow);
        if (ec) {
            if (ec == asio::error::operation_aborted || !acceptor.is_open()) {
                co_return;
            }
            // EMFILE and friends: back off instead of spinning.
            asio::steady_timer pause(acceptor.get_executor(), std::chrono::milliseconds(50));
            co_await pause.async_wait(use_nothrow);
            continue;
        }
        asio::co_spawn(acceptor.get_executor(), answer_stats(std::move(socket), counters),
                       asio::detached);
    }
}

/// Writes `text` to `path` through a temporary file and a rename.
bool write_atomically(const std::string& path, const std::string& text) {
    const std::string tmp = path + ".tmp";
    {
        std::ofstream out(tmp, std::ios::trunc);
        out << text;
        out.close();
        if (!out) {
            return false;
        }
    }
    return std::rename(tmp.c_str(), path.c_str()) == 0;
}

int run_demo_node(const demo_node_flags& f) {
    if (!is_segment(f.id)) {
        std::cerr << "demo-node: --id '" << f.id
                  << "' must be letters, digits, '.', '_' or '-' (not '.' or '..')\n";
        return 2;
    }
    for (const auto& m : f.mounts) {
        if (!is_segment(m)) {
            std::cerr << "demo-node: --mount '" << m
                      << "' must be letters, digits, '.', '_' or '-' (not '.' or '..')\n";
            return 2;
        }
    }
    demo::client_kind client = demo::client_kind::static_client;
    if (f.client == "meteor") {
        client = demo::client_kind::meteor;
    } else if (f.client != "static") {
        std::cerr << "demo-node: --client '" << f.client << "' must be 'static' or 'meteor'\n";
        return 2;
    }
    if (f.client_version < 1 || f.client_version > 1000) {
        std::cerr << "demo-node: --client-version must be from 1 to 1000\n";
        return 2;
    }
    demo::select_client_version(f.client_version);
    if (f.tls_cert.empty() != f.tls_key.empty()) {
        std::cerr << "demo-node: --tls-cert and --tls-key go together\n";
        return 2;
    }
    std::shared_ptr<asio::ssl::context> tls;
    if (!f.tls_cert.empty()) {
        auto r = net::make_server_context(f.tls_cert, f.tls_key);
        if (!r.context) {
            std::cerr << "demo-node: " << r.error << "\n";
            return 1;
        }
        tls = std::move(r.context);
    }

    asio::io_context ioc(1);
    demo::node_options options;
    options.id = f.id;
    options.mounts = f.mounts;
    options.port = f.port;
    options.tls = tls.get();
    options.client = client;
    std::optional<demo::fake_node> node;
    tcp::acceptor stats(ioc);
    try {
        node.emplace(ioc, options);
        if (f.stats) {
            const tcp::endpoint ep(asio::ip::make_address_v4("127.0.0.1"), f.stats_port);
            stats.open(ep.protocol());
            stats.set_option(asio::socket_base::reuse_address(true));
            stats.bind(ep);
            stats.listen();
        }
    } catch (const boost::system::system_error& e) {
        std::cerr << "demo-node: cannot listen: " << e.what() << "\n";
        return 1;
    }

    asio::signal_set signals(ioc, SIGINT, SIGTERM);
    signals.async_wait([&](const error_code& ec, int sig) {
        if (ec) {
            return;
        }
        log::get("demo")->info("signal {}: stopping", sig);
        node->stop();
        error_code ignored;
        stats.close(ignored);
    });
    node->start();
    std::string stats_url;
    if (f.stats) {
        stats_url = fmt::format("http://127.0.0.1:{}/", stats.local_endpoint().port());
        asio::co_spawn(ioc, stats_accept_loop(stats, node->counters()), asio::detached);
    }

    log::get("demo")->info("node {} listening on {}{}{}", f.id, node->origin(),
                           client == demo::client_kind::meteor ? " (meteor client)" : "",
                           f.stats ? " (stats on " + stats_url + ")" : std::string());
    if (!f.ready_file.empty()) {
        // The id is a checked path segment: no JSON escaping needed.
        std::string json = fmt::format(R"({{"id":"{}","origin":"{}","port":{})", f.id,
                                       node->origin(), node->port());
        if (f.stats) {
            json += fmt::format(R"(,"stats":"{}")", stats_url);
        }
        json += "}\n";
        if (!write_atomically(f.ready_file, json)) {
            std::cerr << "demo-node: cannot write " << f.ready_file << "\n";
            return 1;
        }
    }
    ioc.run();  // returns once the signal handler has stopped the node and every session ended
    return 0;
}

}  // namespace

void register_demo_node_command(CLI::App& app, int& exit_code) {
    auto flags = std::make_shared<demo_node_flags>();
    auto* cmd = app.add_subcommand(
        "demo-node", "Run one simulated BBB node until SIGINT/SIGTERM (for tests and demos)");
    cmd->add_option("--id", flags->id, "Node id: the first path segment it serves")
        ->capture_default_str();
    cmd->add_option("-p,--port", flags->port, "Port on 127.0.0.1 (0 = any free port)")
        ->capture_default_str();
    cmd->add_option("--mount", flags->mounts, "Mount served under /<id>/ (repeatable)")
        ->capture_default_str();
    cmd->add_option("--client-version", flags->client_version,
                    "Client version served: from 2 on the app bundle has one more module (a "
                    "simulated upgrade) and a new hashed name");
    cmd->add_option("--tls-cert", flags->tls_cert, "PEM certificate chain: serve HTTPS/WSS");
    cmd->add_option("--tls-key", flags->tls_key, "PEM private key for --tls-cert");
    cmd->add_option("--client", flags->client,
                    "HTML5 client to imitate: static (BBB 3.0-like) or meteor (BBB 2.x, with "
                    "Meteor's dynamic-import and feedback POSTs)")
        ->capture_default_str();
    cmd->add_option("--ready-file", flags->ready_file,
                    "Write {\"origin\",\"port\"} as JSON to this file once listening");
    auto* stats = cmd->add_option("--stats-port", flags->stats_port,
                                  "Serve the node's counters as JSON on this 127.0.0.1 port "
                                  "(0 = any free port; its URL goes into the ready file)");
    cmd->callback([flags, stats, &exit_code] {
        flags->stats = stats->count() > 0;
        exit_code = run_demo_node(*flags);
    });
}

}  // namespace bcp::cli
