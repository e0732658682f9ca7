#include "harness.hpp"

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <boost/asio/connect.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>

#include <cstdlib>

namespace bcp::test {
namespace asio = boost::asio;
namespace bhttp = boost::beast::http;

node_set::node_set(std::vector<std::string> ids, asio::ssl::context* tls,
                   demo::client_kind client) {
    for (const auto& id : ids) {
        demo::node_options o;
        o.id = id;
        o.test_endpoints = true;
        o.tls = tls;
        o.client = client;
        nodes_.push_back(std::make_unique<demo::fake_node>(ioc_, o));
        nodes_.back()->start();
    }
    thread_ = std::thread([this] { ioc_.run(); });
}

node_set::~node_set() {
    for (auto& n : nodes_) {
        n->stop();
    }
    thread_.join();
}

std::uint64_t node_set::total_requests() const {
    std::uint64_t n = 0;
    for (const auto& node : nodes_) {
        n += node->counters().requests.load();
    }
    return n;
}

std::uint64_t node_set::total_connections() const {
    std::uint64_t n = 0;
    for (const auto& node : nodes_) {
        n += node->counters().connections.load();
    }
    return n;
}

std::string proxy_yaml(node_set& nodes, const std::string& extra, bool tls_listener,
                       const std::string& cert, const std::string& key) {
    std::string y = "public_url: \"https://proxy.example.com\"\nlisten:\n";
    if (tls_listener) {
        y += fmt::format(
            "  - address: \"127.0.0.1:0\"\n    tls: {{ certificate: \"{}\", private_key: \"{}\" "
            "}}\n",
            cert, key);
    } else {
        y += "  - address: \"127.0.0.1:0\"\n";
    }
    y += "nodes:\n";
    for (std::size_t i = 0; i < nodes.size(); ++i) {
        y += fmt::format("  - id: {}\n    url: \"{}\"\n", nodes[i].options().id, nodes[i].origin());
    }
    return y + extra;
}

proxy_instance::proxy_instance(const std::string& yaml) {
    auto loaded = config::load_string(yaml, "<test>");
    for (const auto& d : loaded.diagnostics) {
        ADD_FAILURE() << d.to_string() << "\n" << yaml;
    }
    if (!loaded.ok()) {
        return;
    }
    config_ = *loaded.config;
    // BCP_TEST_WORKERS (e.g. 4 in `make test-tsan`) gives every proxy that does not pin its worker
    // count that many threads, so the sanitizers see cross-worker traffic.
    if (const char* w = std::getenv("BCP_TEST_WORKERS"); w != nullptr && config_->workers == 0) {
        config_->workers = static_cast<unsigned>(std::strtoul(w, nullptr, 10));
    }
    std::string error;
    server_ = proxy::server::create(*config_, error);
    if (!server_) {
        ADD_FAILURE() << "server::create: " << error;
        return;
    }
    server_->start();
}

proxy_instance::~proxy_instance() {
    if (server_) {
        server_->stop();
        server_->wait();
    }
}

std::uint16_t proxy_instance::port(std::size_t listener) const {
    return server_->endpoints().at(listener).port();
}

struct client::impl {
    asio::io_context ioc{1};
    asio::ip::tcp::socket socket{ioc};
    std::unique_ptr<asio::ssl::stream<asio::ip::tcp::socket&>> tls;
    boost::beast::flat_buffer buffer;

    // Runs the pending async operation for at most `timeout`; cancels it on expiry.
    bool run_for(std::chrono::milliseconds timeout, const bool& done) {
        ioc.restart();
        ioc.run_for(timeout);
        if (!done) {
            boost::system::error_code ignored;
            socket.cancel(ignored);
            ioc.restart();
            ioc.run_for(1s);
            return false;
        }
        return true;
    }

    template <class Op>
    void with_stream(Op op) {
        if (tls) {
            op(*tls);
        } else {
            op(socket);
        }
    }
};

client::client(std::uint16_t port, asio::ssl::context* tls, const std::string& sni,
               const std::string& source)
    : impl_(std::make_unique<impl>()) {
    boost::system::error_code ec;
    if (!source.empty()) {
        impl_->socket.open(asio::ip::tcp::v4());
        impl_->socket.bind({asio::ip::make_address(source), 0}, ec);
        if (ec) {
            error_ = "bind " + source + ": " + ec.message();
            return;
        }
    }
    impl_->socket.connect({asio::ip::make_address("127.0.0.1"), port}, ec);
    if (ec) {
        error_ = "connect: " + ec.message();
        return;
    }
    impl_->socket.set_option(asio::ip::tcp::no_delay(true));
    if (tls) {
        impl_->tls =
            std::make_unique<asio::ssl::stream<asio::ip::tcp::socket&>>(impl_->socket, *tls);
        SSL_set_tlsext_host_name(impl_->tls->native_handle(), sni.c_str());
        impl_->tls->set_verify_callback(asio::ssl::host_name_verification(sni));
        bool done = false;
        impl_->tls->async_handshake(asio::ssl::stream_base::client,
                                    [&](boost::system::error_code e) {
                                        ec = e;
                                        done = true;
                                    });
        if (!impl_->run_for(5s, done) || ec) {
            error_ = "TLS handshake: " + (ec ? ec.message() : std::string("timeout"));
            return;
        }
    }
    connected_ = true;
}

client::~client() = default;

asio::ip::tcp::socket& client::socket() {
    return impl_->socket;
}

void client::send(const std::string& bytes) {
    bool done = false;
    boost::system::error_code ec;
    impl_->with_stream([&](auto& s) {
        asio::async_write(s, asio::buffer(bytes), [&](boost::system::error_code e, std::size_t) {
            ec = e;
            done = true;
        });
    });
    if (!impl_->run_for(5s, done) || ec) {
        error_ = "send: " + (ec ? ec.message() : std::string("timeout"));
    }
}

std::optional<response> client::read(bool head_request, std::chrono::milliseconds timeout) {
    bhttp::response_parser<bhttp::string_body> parser;
    parser.body_limit(256 * 1024 * 1024);
    parser.header_limit(1024 * 1024);
    if (head_request) {
        parser.skip(true);
    }
    bool done = false;
    boost::system::error_code ec;
    impl_->with_stream([&](auto& s) {
        bhttp::async_read(s, impl_->buffer, parser, [&](boost::system::error_code e, std::size_t) {
            ec = e;
            done = true;
        });
    });
    if (!impl_->run_for(timeout, done)) {
        error_ = "read: timeout";
        return std::nullopt;
    }
    if (ec) {
        error_ = "read: " + ec.message();
        return std::nullopt;
    }
    return parser.release();
}

std::optional<response> client::get(const std::string& target, const std::string& headers,
                                    const std::string& method) {
    send(method + " " + target + " HTTP/1.1\r\nHost: localhost\r\n" + headers + "\r\n");
    return read(method == "HEAD");
}

// Reads raw bytes (after anything already buffered) until the peer closes or `timeout` passes.
// Returns whether the peer closed.
bool client::drain(std::chrono::milliseconds timeout, std::string& out) {
    out.assign(static_cast<const char*>(impl_->buffer.data().data()), impl_->buffer.size());
    impl_->buffer.consume(impl_->buffer.size());
    const auto end = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < end) {
        char buf[16384];
        bool done = false;
        boost::system::error_code ec;
        std::size_t n = 0;
        impl_->with_stream([&](auto& s) {
            s.async_read_some(asio::buffer(buf), [&](boost::system::error_code e, std::size_t k) {
                ec = e;
                n = k;
                done = true;
            });
        });
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            end - std::chrono::steady_clock::now());
        if (!impl_->run_for(std::max(left, 1ms), done)) {
            return false;
        }
        out.append(buf, n);
        if (ec) {
            return true;
        }
    }
    return false;
}

std::string client::read_all(std::chrono::milliseconds timeout) {
    std::string out;
    drain(timeout, out);
    return out;
}

bool client::closed_within(std::chrono::milliseconds timeout, std::string* received) {
    std::string out;
    const bool closed = drain(timeout, out);
    if (received) {
        *received = std::move(out);
    }
    return closed;
}

std::uint64_t metric(std::uint16_t admin_port, const std::string& name) {
    const auto r = http_get(admin_port, "/metrics");
    if (!r) {
        return ~0ull;
    }
    const std::string& body = r->body();
    const auto at = body.find("\n" + name + " ");
    return at == std::string::npos ? ~0ull : std::stoull(body.substr(at + name.size() + 2));
}

std::optional<response> http_get(std::uint16_t port, const std::string& target,
                                 const std::string& headers) {
    client c(port);
    if (!c.connected()) {
        return std::nullopt;
    }
    return c.get(target, headers);
}

std::uint16_t closed_port() {
    asio::io_context ioc;
    asio::ip::tcp::acceptor a(ioc, {asio::ip::make_address("127.0.0.1"), 0});
    return a.local_endpoint().port();
}

}  // namespace bcp::test
