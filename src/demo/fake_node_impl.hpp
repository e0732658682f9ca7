#pragma once
// Internals of the simulated BBB node (fake_node.hpp), shared by its translation units only;
// nothing outside src/demo/ includes this header.
//
// The node spans several files because as one file it took 435 s of CPU and 6.5 GB to compile
// under ASan+UBSan (-O1 -g), the longest step of CI. The session was a template over the plain and
// the TLS stream, so every Beast composed operation it used (HTTP read and write, WebSocket
// accept/read/write/close) was instantiated twice, and on the TLS side the whole chain below it
// (ssl_stream, flat_stream, the TLS engine's io_op, tcp_stream) once more for each of those
// operations' handler types: 7,700 functions, 61% of them TLS instantiations. Now the session sees
// one stream type, conn_stream, which hands each read and write to the concrete stream with a
// type-erased handler: the Beast algorithms are instantiated once, and the stream layers below
// them once per operation kind (3,500 functions, ~140 s of CPU over five files, none above 1.4 GB).
// Files:
//   fake_node.cpp                  node state, accept loop, the two conn_stream implementations
//                                  (plain, TLS), the fake_node facade
//   fake_node_routes.cpp           routing and reply building (pure: no I/O)
//   fake_node_meteor.cpp           the replies of the Meteor (BBB 2.x) POST endpoints (pure; the
//                                  only user of nlohmann-json here)
//   fake_node_session.cpp          the per-connection read loop and reply writing
//   fake_node_test_endpoints.cpp   the /_test/ endpoints that need the stream (documented there)
//   fake_node_websocket.cpp        the WebSocket echo and the bad-accept endpoint

#include "core/asio.hpp"
#include "demo/fake_node.hpp"

#include <boost/asio/any_completion_handler.hpp>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/bind_executor.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/role.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/fields.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/container/small_vector.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <vector>

namespace bcp::demo::detail {

namespace beast = boost::beast;
namespace http = beast::http;

using request = http::request<http::string_body>;

inline constexpr std::string_view server_name = "bbb-fake-node";
inline constexpr std::string_view last_modified = "Mon, 01 Jan 2024 00:00:00 GMT";
inline constexpr std::string_view immutable_cache = "public, max-age=31536000, immutable";
// Below 64 KiB on purpose: beast::http::fields cannot store a field longer than that and would
// throw instead of failing the parse.
inline constexpr std::uint32_t header_limit = 60 * 1024;
inline constexpr std::uint64_t body_limit = 16 * 1024 * 1024;
// The Meteor POST endpoints take a small JSON tree or form: a body larger than this is refused
// with 413 before it is read (Content-Length) or as soon as it grows past it (chunked).
inline constexpr std::uint64_t meteor_body_limit = 1024 * 1024;
inline constexpr std::uint64_t max_test_bytes = std::uint64_t{1} << 30;
inline constexpr std::uint64_t max_test_ms = 60'000;
inline constexpr std::size_t ws_message_limit = 16 * 1024 * 1024;
// How long a closing connection waits for the peer (TLS close_notify, or the lingering drain
// that keeps close() from turning unread input into an RST that destroys our last response).
inline constexpr auto close_grace = std::chrono::seconds(2);

// ---------------------------------------------------------------------------------------------
// Node state and the registry of open connections (fake_node.cpp)
// ---------------------------------------------------------------------------------------------

/// What stop() needs to reach one open connection. Every member is touched only on `strand`.
struct connection {
    explicit connection(const asio::any_io_executor& ex) : strand(ex), timer(ex) {}

    asio::any_io_executor strand;
    tcp::socket* socket = nullptr;  ///< the session's socket while the session runs
    asio::steady_timer timer;       ///< waits of the slow endpoint; stop() cancels it

    void close() {
        error_code ec;
        timer.cancel();
        if (socket != nullptr) {
            socket->close(ec);
        }
    }
};

struct page {
    std::string body;
    std::string etag;
};

struct mount_pages {
    std::string mount;
    page index;
    page guest;
};

/// Everything a session reads (immutable after construction) plus the connection registry.
struct node_state {
    /// Binds and listens; throws boost::system::system_error on failure.
    node_state(asio::io_context& io, node_options opts);

    asio::io_context& ioc;
    const node_options options;
    tcp::acceptor acceptor;  ///< used only on its own strand (acceptor.get_executor())
    std::uint16_t port = 0;
    std::string origin;
    std::vector<mount_pages> pages;  ///< same order as options.mounts
    std::string root_page;
    node_counters counters;

    std::mutex mutex;  ///< guards the members below
    std::unordered_map<std::uint64_t, std::shared_ptr<connection>> connections;
    std::uint64_t next_connection_id = 0;
    bool started = false;
    bool stopped = false;

    bool is_stopped() {
        std::lock_guard lock(mutex);
        return stopped;
    }
};

/// Starts accepting connections on node.acceptor's strand.
void start_accepting(std::shared_ptr<node_state> node);

// ---------------------------------------------------------------------------------------------
// Routing and replies (fake_node_routes.cpp; pure: no I/O)
// ---------------------------------------------------------------------------------------------

enum class route_kind {
    not_found,
    root,
    ws,
    locale_redirect,  ///< /<mount>/locale → /<id>/<mount>/locale (the BBB nginx rule)
    slash_redirect,   ///< /<id>/<mount> → /<id>/<mount>/
    index,
    guest,
    locale,
    asset,
    test,
    dynamic_import,  ///< meteor client: POST …/__meteor__/dynamic-import/fetch
    feedback,        ///< meteor client: POST …/feedback
};

struct route {
    route_kind kind = route_kind::not_found;
    const mount_pages* mount = nullptr;
    const asset* file = nullptr;
    std::string_view test_name;
};

/// A prepared response. The body is either `owned` or borrowed from immutable bytes (node pages
/// or client_assets()) that outlive the session, so big assets are written without a copy.
struct reply {
    http::status status = http::status::ok;
    http::fields fields;
    std::string owned;
    const std::string* shared = nullptr;
    bool close = false;  ///< close the connection after this reply

    std::string_view body() const {
        return shared != nullptr ? std::string_view(*shared) : std::string_view(owned);
    }
};

/// Path and query of a request target (the query without its '?').
std::pair<std::string_view, std::string_view> split_target(std::string_view target);
/// The value of the first `name` parameter of `query`; empty when it has no '='.
std::optional<std::string_view> query_param(std::string_view query, std::string_view name);
/// The numeric query parameter `name`: `fallback` when absent, nullopt when malformed or > max.
std::optional<std::uint64_t> number_param(std::string_view query, std::string_view name,
                                          std::uint64_t fallback, std::uint64_t max);
/// The route of `path`; the returned pointers refer into `node` and client_assets().
route resolve(const node_state& node, std::string_view path);

reply text_reply(http::status status, std::string text);
reply redirect_reply(http::status status, std::string location);
/// RFC 9110 §13.1.2: weak comparison, "*" matches any current representation.
bool etag_matches(std::string_view if_none_match, std::string_view etag);

/// Replies for every route that needs no special I/O (all but WebSocket and most test routes).
reply make_reply(const node_state& node, const request& req, const route& r,
                 std::string_view query);

/// The largest request body `r` accepts (meteor_body_limit on the Meteor POST endpoints).
std::uint64_t body_limit_of(const route& r);
/// The Meteor endpoints' replies (fake_node_meteor.cpp), for a POST of `req` (body read).
reply dynamic_import_reply(const node_state& node, const request& req);
reply feedback_reply();

/// Current time as an IMF-fixdate (RFC 9110 §5.6.7), formatted at most once per second and thread.
std::string http_date();
/// The pattern the byte-producing test endpoints send: byte i = 'a' + i % 26. Its length is a
/// multiple of 26 so any window of the infinite sequence is a slice starting at offset % 26.
const std::string& pattern_bytes();

// ---------------------------------------------------------------------------------------------
// The connection's stream (implementations in fake_node.cpp)
// ---------------------------------------------------------------------------------------------

/// The byte stream of one connection, plain or TLS, as one type: models AsyncReadStream and
/// AsyncWriteStream, so the session (and Beast's algorithms inside it) is compiled once. Each
/// read_some/write_some is handed to the concrete beast::tcp_stream or beast::ssl_stream with the
/// complete buffer sequence (copied: Beast's flat_stream under ssl_stream coalesces small
/// buffers, so passing fewer would change the TLS records written) and the handler type-erased;
/// the concrete stream does exactly what it did when the session was templated on it.
///
/// Lives in the frame of the connection coroutine; at most one read and one write outstanding.
class conn_stream {
  public:
    using executor_type = asio::any_io_executor;
    /// A type-erased handler, bound to the executor the original handler is associated with: Asio
    /// 1.81's any_completion_executor cannot be required to be blocking.never, which asio::post
    /// (and so Beast's TCP teardown) needs.
    template <class Signature>
    using erased_handler =
        asio::executor_binder<asio::any_completion_handler<Signature>, asio::any_io_executor>;
    using io_handler = erased_handler<void(error_code, std::size_t)>;
    using teardown_handler = erased_handler<void(error_code)>;

    explicit conn_stream(executor_type executor) : executor_(std::move(executor)) {}
    virtual ~conn_stream() = default;
    conn_stream(const conn_stream&) = delete;
    conn_stream& operator=(const conn_stream&) = delete;

    executor_type get_executor() const { return executor_; }

    template <class MutableBufferSequence, class Token>
    auto async_read_some(const MutableBufferSequence& buffers, Token&& token) {
        return asio::async_initiate<Token, void(error_code, std::size_t)>(
            [this](auto handler, const MutableBufferSequence& b) {
                read_some(
                    mutable_buffers(asio::buffer_sequence_begin(b), asio::buffer_sequence_end(b)),
                    erase<void(error_code, std::size_t)>(std::move(handler)));
            },
            token, buffers);
    }

    template <class ConstBufferSequence, class Token>
    auto async_write_some(const ConstBufferSequence& buffers, Token&& token) {
        return asio::async_initiate<Token, void(error_code, std::size_t)>(
            [this](auto handler, const ConstBufferSequence& b) {
                write_some(
                    const_buffers(asio::buffer_sequence_begin(b), asio::buffer_sequence_end(b)),
                    erase<void(error_code, std::size_t)>(std::move(handler)));
            },
            token, buffers);
    }

    /// The TCP socket under any TLS layer (for linger, close, the stop() registry).
    virtual tcp::socket& socket() = 0;
    /// Closes the lowest layer at once: what Beast's WebSocket does on a failure.
    virtual void close() = 0;
    /// Ends a connection whose last response is written (see the implementations).
    virtual awaitable<void> close_gracefully() = 0;
    /// Beast's WebSocket teardown of the concrete stream (TCP: FIN, drain; TLS: close_notify).
    virtual void start_teardown(beast::role_type role, teardown_handler handler) = 0;

    /// `handler` type-erased (any_completion_handler forwards its cancellation slot; the binder
    /// keeps its associated executor, falling back to this stream's).
    template <class Signature, class Handler>
    erased_handler<Signature> erase(Handler handler) const {
        asio::any_io_executor ex = asio::get_associated_executor(handler, executor_);
        return asio::bind_executor(std::move(ex),
                                   asio::any_completion_handler<Signature>(std::move(handler)));
    }

  protected:
    // Inline room for the usual sequences (a response head is ~15 buffers); longer ones spill to
    // the heap rather than being cut.
    using mutable_buffers = boost::container::small_vector<asio::mutable_buffer, 16>;
    using const_buffers = boost::container::small_vector<asio::const_buffer, 16>;

    virtual void read_some(const mutable_buffers& buffers, io_handler handler) = 0;
    virtual void write_some(const const_buffers& buffers, io_handler handler) = 0;

  private:
    executor_type executor_;
};

// Customisation points Beast's WebSocket stream finds by argument-dependent lookup.
inline void beast_close_socket(conn_stream& stream) {
    stream.close();
}

template <class TeardownHandler>
void async_teardown(beast::role_type role, conn_stream& stream, TeardownHandler&& handler) {
    stream.start_teardown(role, stream.erase<void(error_code)>(std::decay_t<TeardownHandler>(
                                    std::forward<TeardownHandler>(handler))));
}

// ---------------------------------------------------------------------------------------------
// One connection (fake_node_session.cpp, fake_node_test_endpoints.cpp, fake_node_websocket.cpp)
// ---------------------------------------------------------------------------------------------

/// What a handler wants the read loop to do next.
enum class next_step {
    read_next,  ///< keep-alive: read the next request
    close,      ///< graceful close
    abort,      ///< drop the connection now (peer gone, or the endpoint already closed it)
};

struct request_info {
    http::verb method = http::verb::get;
    unsigned version = 11;
    bool keep_alive = false;
};

/// The HTTP/WebSocket session of one connection. Lives in the frame of the connection coroutine
/// and runs on the connection's strand; `stream` belongs to that frame too.
class session {
  public:
    session(std::shared_ptr<node_state> node, connection& conn, conn_stream& stream)
        : node_(std::move(node)), conn_(conn), stream_(stream) {}

    awaitable<void> run();

  private:
    // fake_node_session.cpp
    awaitable<next_step> serve_one();
    /// Like http::async_read_header, but keeps the raw head in raw_head_ (for echo-headers).
    awaitable<error_code> read_head(http::request_parser<http::string_body>& parser);
    awaitable<next_step> on_read_error(error_code ec);
    static request_info info(const request& req) {
        return {req.method(), req.version(), req.keep_alive()};
    }
    awaitable<next_step> on_request(const request& req);
    awaitable<next_step> on_upgrade(const request& req);
    /// Writes `rep` as the answer to a request described by `req`.
    awaitable<next_step> write_reply(const request_info& req, reply& rep);
    /// Writes only a response head (the caller writes the body, if any, raw).
    awaitable<bool> write_head(http::response<http::empty_body>& res);
    /// Writes bytes [offset, offset + n) of the pattern sequence.
    awaitable<bool> write_pattern(std::uint64_t offset, std::uint64_t n);
    awaitable<bool> write_raw(std::string_view bytes);
    /// Closes with SO_LINGER 0: the peer sees a reset (RST), not an orderly end.
    void reset_connection();
    /// Keeps the connection open without answering until the peer closes it or stop().
    awaitable<void> wait_for_close();

    // fake_node_test_endpoints.cpp
    awaitable<next_step> on_test(const request& req, const route& r, std::string_view query);
    awaitable<next_step> on_cacheable(const request& req, std::string_view query);
    /// The chunked body: 4 chunks (fewer when n < 4; chunks are capped at ~64 KiB, so a large n
    /// gives more), each written separately, then the last-chunk.
    awaitable<bool> write_chunks(std::uint64_t n);
    awaitable<bool> write_slowly(std::uint64_t n, std::uint64_t ms);

    // fake_node_websocket.cpp
    awaitable<void> websocket_echo(const request& req);
    /// A 101 that no client may accept (the accept value is not base64(SHA-1(key + GUID)) for
    /// any key), then a raw byte echo: a proxy must not tunnel this.
    awaitable<void> bad_accept_echo();

    std::shared_ptr<node_state> node_;
    connection& conn_;
    conn_stream& stream_;
    beast::flat_buffer buffer_;
    std::string raw_head_;    ///< the current request's head as received
    bool drop_next_ = false;  ///< drop-next: close on the next request without answering
};

}  // namespace bcp::demo::detail
