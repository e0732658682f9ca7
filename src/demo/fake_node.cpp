// The simulated BBB node: node state and connection registry, the accept loop, the plain and TLS
// streams behind conn_stream, and the fake_node facade. Why the node spans several files:
// fake_node_impl.hpp.

#include "demo/fake_node.hpp"

#include "core/coroutine_warnings.hpp"
#include "core/log.hpp"
#include "demo/client_assets.hpp"
#include "demo/fake_node_impl.hpp"

#include <boost/asio/ip/address.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core/stream_traits.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <boost/beast/websocket/ssl.hpp>
#include <boost/beast/websocket/teardown.hpp>

#include <array>
#include <exception>

namespace bcp::demo {
namespace detail {
namespace {

namespace ssl = boost::asio::ssl;

using plain_stream = beast::tcp_stream;
using tls_stream = beast::ssl_stream<beast::tcp_stream>;

std::shared_ptr<spdlog::logger> logger() {
    static const auto l = log::get("demo");
    return l;
}

/// Registers a connection for stop() while a session runs; runs on the connection's strand.
class registration {
  public:
    registration(node_state& node, std::shared_ptr<connection> conn, tcp::socket& socket)
        : node_(node), conn_(std::move(conn)) {
        std::lock_guard lock(node_.mutex);
        if (node_.stopped) {
            return;
        }
        id_ = ++node_.next_connection_id;
        conn_->socket = &socket;
        node_.connections.emplace(id_, conn_);
    }
    ~registration() {
        conn_->socket = nullptr;  // a close() posted by stop() may still run after this
        std::lock_guard lock(node_.mutex);
        node_.connections.erase(id_);
    }
    registration(const registration&) = delete;
    registration& operator=(const registration&) = delete;

    /// False when stop() came first: the session must end at once.
    bool active() const { return id_ != 0; }
    std::uint64_t id() const { return id_; }

  private:
    node_state& node_;
    std::shared_ptr<connection> conn_;
    std::uint64_t id_ = 0;
};

// ---------------------------------------------------------------------------------------------
// The two streams behind conn_stream. Every operation goes straight to the Beast stream, so the
// bytes and the order of system calls are those of a session templated on that stream.
// ---------------------------------------------------------------------------------------------

// What both streams do alike: reads, writes and the WebSocket teardown go to the Beast stream.
template <class Stream>
class stream_conn : public conn_stream {
  public:
    template <class... Args>
    explicit stream_conn(const asio::any_io_executor& executor, Args&&... args)
        : conn_stream(executor), stream_(std::forward<Args>(args)...) {}

    void start_teardown(beast::role_type role, teardown_handler handler) override {
        using beast::websocket::async_teardown;
        async_teardown(role, stream_, std::move(handler));
    }

  protected:
    Stream stream_;

  private:
    void read_some(const mutable_buffers& buffers, io_handler handler) override {
        stream_.async_read_some(buffers, std::move(handler));
    }
    void write_some(const const_buffers& buffers, io_handler handler) override {
        stream_.async_write_some(buffers, std::move(handler));
    }
};

class plain_conn final : public stream_conn<plain_stream> {
  public:
    explicit plain_conn(tcp::socket socket)
        : stream_conn(socket.get_executor(), std::move(socket)) {}

    tcp::socket& socket() override { return stream_.socket(); }

    void close() override { stream_.close(); }

    /// FIN first, then drain what the peer still sends until it closes (or close_grace passes),
    /// so the kernel does not answer unread input with an RST that could destroy the response in
    /// flight.
    awaitable<void> close_gracefully() override {
        error_code ec;
        stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
        if (!ec) {
            stream_.expires_after(close_grace);
            std::array<char, 4096> sink{};
            for (;;) {
                auto [read_ec, n] =
                    co_await stream_.async_read_some(asio::buffer(sink), use_nothrow);
                if (read_ec) {
                    break;
                }
            }
        }
        stream_.socket().close(ec);
    }
};

class tls_conn final : public stream_conn<tls_stream> {
  public:
    tls_conn(tcp::socket socket, ssl::context& context)
        : stream_conn(socket.get_executor(), std::move(socket), context) {}

    tcp::socket& socket() override { return beast::get_lowest_layer(stream_).socket(); }

    void close() override { beast::get_lowest_layer(stream_).close(); }

    awaitable<error_code> handshake() {
        auto [ec] = co_await stream_.async_handshake(ssl::stream_base::server, use_nothrow);
        co_return ec;
    }

    /// Sends close_notify (so a close-delimited body ends cleanly) and waits briefly for the
    /// peer's.
    awaitable<void> close_gracefully() override {
        beast::get_lowest_layer(stream_).expires_after(close_grace);
        co_await stream_.async_shutdown(use_nothrow);
        error_code ec;
        beast::get_lowest_layer(stream_).socket().close(ec);
    }
};

// ---------------------------------------------------------------------------------------------
// Connections and the accept loop
// ---------------------------------------------------------------------------------------------

/// Decrements active_connections however the session frame ends.
struct active_guard {
    node_counters& counters;
    ~active_guard() { counters.active_connections.fetch_sub(1, std::memory_order_relaxed); }
};

awaitable<void> run_connection(std::shared_ptr<node_state> node, tcp::socket socket) {
    active_guard active{node->counters};
    auto conn = std::make_shared<connection>(socket.get_executor());
    if (node->options.tls != nullptr) {
        tls_conn stream(std::move(socket), *node->options.tls);
        registration reg(*node, conn, stream.socket());
        if (!reg.active()) {
            co_return;
        }
        if (const auto ec = co_await stream.handshake()) {
            logger()->debug("[c{}] TLS handshake failed: {}", reg.id(), ec.message());
            co_return;
        }
        session s(node, *conn, stream);
        co_await s.run();
    } else {
        plain_conn stream(std::move(socket));
        registration reg(*node, conn, stream.socket());
        if (!reg.active()) {
            co_return;
        }
        session s(node, *conn, stream);
        co_await s.run();
    }
}

void log_session_failure(std::exception_ptr e) {
    if (!e) {
        return;
    }
    try {
        std::rethrow_exception(e);
    } catch (const std::exception& ex) {
        logger()->error("session failed: {}", ex.what());
    } catch (...) {
        logger()->error("session failed: unknown exception");
    }
}

awaitable<void> accept_loop(std::shared_ptr<node_state> node) {
    for (;;) {
        auto [ec, socket] = co_await node->acceptor.async_accept(
            asio::any_io_executor(asio::make_strand(node->ioc)), use_nothrow);
        if (ec) {
            if (ec == asio::error::operation_aborted || !node->acceptor.is_open() ||
                node->is_stopped()) {
                co_return;
            }
            // EMFILE and friends: back off instead of spinning.
            logger()->debug("accept failed: {}", ec.message());
            asio::steady_timer pause(node->acceptor.get_executor(), std::chrono::milliseconds(50));
            co_await pause.async_wait(use_nothrow);
            continue;
        }
        node->counters.connections.fetch_add(1, std::memory_order_relaxed);
        node->counters.active_connections.fetch_add(1, std::memory_order_relaxed);
        error_code ignored;
        socket.set_option(tcp::no_delay(true), ignored);
        auto executor = socket.get_executor();
        asio::co_spawn(executor, run_connection(node, std::move(socket)), log_session_failure);
    }
}

}  // namespace

node_state::node_state(asio::io_context& io, node_options opts)
    : ioc(io), options(std::move(opts)), acceptor(asio::make_strand(io)) {
    const auto address = asio::ip::make_address(options.bind_address);
    const tcp::endpoint endpoint(address, options.port);
    acceptor.open(endpoint.protocol());
    acceptor.set_option(asio::socket_base::reuse_address(true));
    acceptor.bind(endpoint);
    acceptor.listen(asio::socket_base::max_listen_connections);
    port = acceptor.local_endpoint().port();

    std::string host;
    if (address.is_unspecified()) {
        host = address.is_v4() ? "127.0.0.1" : "[::1]";
    } else if (address.is_v6()) {
        host = "[" + address.to_string() + "]";
    } else {
        host = address.to_string();
    }
    origin = std::string(options.tls != nullptr ? "https" : "http") + "://" + host + ":" +
             std::to_string(port);

    for (const auto& mount : options.mounts) {
        mount_pages p;
        p.mount = mount;
        p.index.body = render_index_html(options.id, origin, mount, options.client);
        p.index.etag = "\"" + hash8(p.index.body) + "\"";
        p.guest.body = render_guest_html(options.id, mount);
        p.guest.etag = "\"" + hash8(p.guest.body) + "\"";
        pages.push_back(std::move(p));
    }
    root_page = render_root_html(options.id, options.mounts);
}

void start_accepting(std::shared_ptr<node_state> node) {
    auto executor = node->acceptor.get_executor();
    asio::co_spawn(executor, accept_loop(std::move(node)), log_session_failure);
}

}  // namespace detail

struct fake_node::impl : detail::node_state {
    using node_state::node_state;
};

fake_node::fake_node(asio::io_context& ioc, node_options options)
    : impl_(std::make_shared<impl>(ioc, std::move(options))) {
    (void)client_assets();  // build the shared assets now rather than inside the first request
}

fake_node::~fake_node() {
    stop();
}

void fake_node::start() {
    {
        std::lock_guard lock(impl_->mutex);
        if (impl_->started || impl_->stopped) {
            return;
        }
        impl_->started = true;
    }
    detail::start_accepting(impl_);
}

void fake_node::stop() {
    std::vector<std::shared_ptr<detail::connection>> open;
    {
        std::lock_guard lock(impl_->mutex);
        if (impl_->stopped) {
            return;
        }
        impl_->stopped = true;
        for (const auto& [id, conn] : impl_->connections) {
            open.push_back(conn);
        }
    }
    std::shared_ptr<detail::node_state> node = impl_;
    asio::post(impl_->acceptor.get_executor(), [node] {
        error_code ignored;
        node->acceptor.close(ignored);
    });
    for (auto& conn : open) {
        asio::post(conn->strand, [conn] { conn->close(); });
    }
}

std::uint16_t fake_node::port() const {
    return impl_->port;
}

std::string fake_node::origin() const {
    return impl_->origin;
}

const node_options& fake_node::options() const {
    return impl_->options;
}

node_counters& fake_node::counters() {
    return impl_->counters;
}

}  // namespace bcp::demo
