// The simulated BBB node, driven over real loopback sockets by Beast clients. The node runs on its
// own io_context thread(s); each client operation runs on a client io_context with a deadline.

#include "demo/fake_node.hpp"
#include "support/test_ca.hpp"

#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/use_future.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <functional>
#include <future>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
namespace ssl = boost::asio::ssl;
using bcp::awaitable;
using bcp::tcp;
using bcp::use_nothrow;
using bcp::demo::fake_node;
using bcp::demo::node_options;
using namespace std::chrono_literals;

constexpr auto io_deadline = 10s;
using response = http::response<http::string_body>;
using request = http::request<http::string_body>;

/// Polls `done` until it holds or the deadline passes.
bool eventually(const std::function<bool()>& done, std::chrono::milliseconds deadline = 10s) {
    const auto until = std::chrono::steady_clock::now() + deadline;
    while (!done()) {
        if (std::chrono::steady_clock::now() > until) {
            return false;
        }
        std::this_thread::sleep_for(1ms);
    }
    return true;
}

/// A fake_node served by `threads` threads running its io_context.
class running_node {
  public:
    explicit running_node(node_options options, int threads = 1) : node_(ioc_, std::move(options)) {
        node_.start();
        for (int i = 0; i < threads; ++i) {
            threads_.emplace_back([this] { ioc_.run(); });
        }
    }
    ~running_node() { stop(); }
    running_node(const running_node&) = delete;
    running_node& operator=(const running_node&) = delete;

    /// stop(), then expect the io_context to run out of work (every connection closed).
    void stop() {
        if (threads_.empty()) {
            return;
        }
        node_.stop();
        const bool drained = eventually([this] { return ioc_.stopped(); });
        EXPECT_TRUE(drained) << "connections still open after stop()";
        if (!drained) {
            ioc_.stop();
        }
        for (auto& t : threads_) {
            t.join();
        }
        threads_.clear();
    }

    fake_node& operator*() { return node_; }
    fake_node* operator->() { return &node_; }

  private:
    asio::io_context ioc_;
    fake_node node_;
    std::vector<std::thread> threads_;
};

node_options test_options(std::string id = "bbb-01") {
    node_options o;
    o.id = std::move(id);
    o.test_endpoints = true;
    return o;
}

/// Runs one client coroutine to completion on a fresh io_context, with a deadline.
template <class T>
T run_client(awaitable<T> op) {
    asio::io_context ioc;
    auto future = asio::co_spawn(ioc, std::move(op), asio::use_future);
    ioc.run_for(2 * io_deadline);
    if (future.wait_for(0s) != std::future_status::ready) {
        throw std::runtime_error("client did not finish in time");
    }
    return future.get();
}

void throw_if(bcp::error_code ec) {
    if (ec) {
        throw boost::system::system_error(ec);
    }
}

awaitable<beast::tcp_stream> connect(std::uint16_t port) {
    beast::tcp_stream s(co_await asio::this_coro::executor);
    s.expires_after(io_deadline);
    auto [ec] = co_await s.async_connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port),
                                         use_nothrow);
    throw_if(ec);
    co_return s;
}

request make_request(std::string target, http::verb method = http::verb::get,
                     unsigned version = 11) {
    request req{method, target, version};
    req.set(http::field::host, "127.0.0.1");
    req.set(http::field::user_agent, "demo_test");
    return req;
}

template <class Stream>
awaitable<response> exchange(Stream& stream, beast::flat_buffer& buffer, request req) {
    beast::get_lowest_layer(stream).expires_after(io_deadline);
    req.prepare_payload();
    auto [write_ec, w] = co_await http::async_write(stream, req, use_nothrow);
    throw_if(write_ec);
    http::response_parser<http::string_body> parser;
    parser.header_limit(1 << 20);
    parser.body_limit(64 << 20);
    parser.skip(req.method() == http::verb::head);
    auto [read_ec, r] = co_await http::async_read(stream, buffer, parser, use_nothrow);
    throw_if(read_ec);
    co_return parser.release();
}

/// One request on a new connection.
response fetch(std::uint16_t port, request req) {
    return run_client([](std::uint16_t p, request r) -> awaitable<response> {
        auto stream = co_await connect(p);
        beast::flat_buffer buffer;
        co_return co_await exchange(stream, buffer, std::move(r));
    }(port, std::move(req)));
}

response get(std::uint16_t port, std::string target) {
    return fetch(port, make_request(std::move(target)));
}

/// Reads until the peer closes: returns everything received.
awaitable<std::string> read_to_eof(beast::tcp_stream& stream) {
    std::string all;
    std::array<char, 65536> chunk{};
    for (;;) {
        auto [ec, n] = co_await stream.async_read_some(asio::buffer(chunk), use_nothrow);
        all.append(chunk.data(), n);
        if (ec == asio::error::eof) {
            co_return all;
        }
        throw_if(ec);
    }
}

/// Sends `raw` on a new connection and returns everything received until the node closes.
std::string raw_exchange(std::uint16_t port, std::string raw) {
    return run_client([](std::uint16_t p, std::string bytes) -> awaitable<std::string> {
        auto stream = co_await connect(p);
        auto [ec, n] = co_await asio::async_write(stream, asio::buffer(bytes), use_nothrow);
        throw_if(ec);
        co_return co_await read_to_eof(stream);
    }(port, std::move(raw)));
}

std::string pattern(std::size_t n) {
    std::string s(n, '\0');
    for (std::size_t i = 0; i < n; ++i) {
        s[i] = static_cast<char>('a' + i % 26);
    }
    return s;
}

const bcp::demo::asset& find_asset(std::string_view prefix) {
    const auto& assets = bcp::demo::client_assets();
    const auto it = std::find_if(assets.begin(), assets.end(),
                                 [&](const auto& a) { return a.path.starts_with(prefix); });
    if (it == assets.end()) {
        throw std::runtime_error("no asset " + std::string(prefix));
    }
    return *it;
}

const std::string mount = "/bbb-01/html5client/";

// ---------------------------------------------------------------------------------------------

TEST(FakeNodeAssets, BundleIsTwoToThreeMegabytes) {
    const auto& app = find_asset("app-");
    EXPECT_GE(app.body.size(), 2'000'000u);
    EXPECT_LE(app.body.size(), 3'000'000u);
    EXPECT_EQ(app.content_type, "application/javascript; charset=utf-8");
    EXPECT_NE(app.body.find("window.BBB_APP"), std::string::npos);
    EXPECT_NE(app.body.find("assets-ok"), std::string::npos);
    // app-<8 hex>.js, hash of the bytes, also the ETag
    EXPECT_EQ(app.path.size(), std::string("app-12345678.js").size());
    EXPECT_EQ(app.etag, "\"" + app.path.substr(4, 8) + "\"");
    EXPECT_EQ(find_asset("vendor-").path.size(), std::string("vendor-12345678.js").size());
    EXPECT_LT(find_asset("vendor-").body.size(), 16'000u);
    EXPECT_EQ(find_asset("style-").content_type, "text/css; charset=utf-8");
    EXPECT_EQ(find_asset("logo-").content_type, "image/svg+xml");
}

TEST(FakeNode, IndexNamesNodeAndHashedAssets) {
    running_node node(test_options());
    const auto res = get(node->port(), mount);
    EXPECT_EQ(res.result(), http::status::ok);
    EXPECT_EQ(res[http::field::content_type], "text/html; charset=utf-8");
    EXPECT_EQ(res[http::field::cache_control], "no-cache");
    EXPECT_FALSE(res[http::field::etag].empty());
    const auto& page = res.body();
    EXPECT_NE(page.find("bbb-01"), std::string::npos);
    EXPECT_NE(page.find("window.BBB_NODE={\"id\":\"bbb-01\",\"origin\":\"" + node->origin() +
                        "\",\"mount\":\"html5client\"}"),
              std::string::npos);
    for (const auto& a : bcp::demo::client_assets()) {
        EXPECT_NE(page.find("\"./" + a.path + "\""), std::string::npos) << a.path;
    }
    for (const auto* id : {"node-id", "served-origin", "ws-status", "media-button", "media-status",
                           "permission-status", "assets-ok"}) {
        EXPECT_NE(page.find("id=\"" + std::string(id) + "\""), std::string::npos) << id;
    }
    EXPECT_EQ(page.find("http://"), page.find(node->origin()))
        << "the only absolute URL is the node's own origin";
    EXPECT_EQ(node->origin(), "http://127.0.0.1:" + std::to_string(node->port()));
}

TEST(FakeNode, AssetsAreIdenticalAcrossNodes) {
    running_node one(test_options("bbb-01"));
    running_node two(test_options("bbb-02"));
    const auto index_one = get(one->port(), "/bbb-01/html5client/");
    const auto index_two = get(two->port(), "/bbb-02/html5client/");
    EXPECT_NE(index_one.body(), index_two.body());
    EXPECT_NE(index_one[http::field::etag], index_two[http::field::etag]);
    for (const auto& a : bcp::demo::client_assets()) {
        const auto from_one = get(one->port(), "/bbb-01/html5client/" + a.path);
        const auto from_two = get(two->port(), "/bbb-02/html5client/" + a.path);
        ASSERT_EQ(from_one.result(), http::status::ok) << a.path;
        ASSERT_EQ(from_two.result(), http::status::ok) << a.path;
        EXPECT_TRUE(from_one.body() == from_two.body()) << a.path;
        EXPECT_TRUE(from_one.body() == a.body) << a.path;
        EXPECT_EQ(from_one[http::field::content_type], a.content_type);
        EXPECT_EQ(from_one[http::field::cache_control], "public, max-age=31536000, immutable");
        EXPECT_EQ(from_one[http::field::etag], a.etag);
        EXPECT_EQ(from_one[http::field::last_modified], "Mon, 01 Jan 2024 00:00:00 GMT");
        EXPECT_EQ(from_one[http::field::content_length], std::to_string(a.body.size()));
    }
}

TEST(FakeNode, MatchingETagGives304) {
    running_node node(test_options());
    const auto& app = find_asset("app-");
    auto req = make_request(mount + app.path);
    req.set(http::field::if_none_match, "\"00000000\", W/" + app.etag);
    auto res = fetch(node->port(), req);
    EXPECT_EQ(res.result(), http::status::not_modified);
    EXPECT_EQ(res[http::field::etag], app.etag);
    EXPECT_TRUE(res.body().empty());

    req.set(http::field::if_none_match, "\"00000000\"");
    EXPECT_EQ(fetch(node->port(), req).result(), http::status::ok);

    const auto index = get(node->port(), mount);
    auto again = make_request(mount);
    again.set(http::field::if_none_match, index[http::field::etag]);
    EXPECT_EQ(fetch(node->port(), again).result(), http::status::not_modified);

    auto since = make_request(mount + app.path);
    since.set(http::field::if_modified_since, "Mon, 01 Jan 2024 00:00:00 GMT");
    EXPECT_EQ(fetch(node->port(), since).result(), http::status::not_modified);
}

TEST(FakeNode, HeadSendsHeadersWithoutBody) {
    running_node node(test_options());
    const auto& app = find_asset("app-");
    // Two HEADs on one connection: the second would be garbage if the first had sent a body.
    const auto [first, second] = run_client(
        [](std::uint16_t port, std::string target) -> awaitable<std::pair<response, response>> {
            auto stream = co_await connect(port);
            beast::flat_buffer buffer;
            auto a = co_await exchange(stream, buffer, make_request(target, http::verb::head));
            auto b = co_await exchange(stream, buffer, make_request(target, http::verb::head));
            co_return std::pair{std::move(a), std::move(b)};
        }(node->port(), mount + app.path));
    for (const auto* res : {&first, &second}) {
        EXPECT_EQ(res->result(), http::status::ok);
        EXPECT_EQ((*res)[http::field::content_length], std::to_string(app.body.size()));
        EXPECT_EQ((*res)[http::field::etag], app.etag);
        EXPECT_TRUE(res->body().empty());
    }
}

TEST(FakeNode, KeepAliveServesTwoRequestsOnOneConnection) {
    running_node node(test_options());
    const auto statuses = run_client([](std::uint16_t port) -> awaitable<std::vector<unsigned>> {
        auto stream = co_await connect(port);
        beast::flat_buffer buffer;
        std::vector<unsigned> out;
        out.push_back((co_await exchange(stream, buffer, make_request(mount))).result_int());
        out.push_back(
            (co_await exchange(stream, buffer, make_request(mount + "guestWait"))).result_int());
        co_return out;
    }(node->port()));
    EXPECT_EQ(statuses, (std::vector<unsigned>{200, 200}));
    EXPECT_TRUE(eventually([&] { return node->counters().active_connections == 0; }));
    EXPECT_EQ(node->counters().connections, 1u);
    EXPECT_EQ(node->counters().requests, 2u);
}

TEST(FakeNode, HonoursConnectionCloseAndHttp10) {
    running_node node(test_options());
    const auto close = raw_exchange(node->port(), "GET " + mount +
                                                      "locale HTTP/1.1\r\nHost: x\r\n"
                                                      "Connection: close\r\n\r\n");
    EXPECT_TRUE(close.starts_with("HTTP/1.1 200 OK\r\n"));
    EXPECT_NE(close.find("Connection: close\r\n"), std::string::npos);

    const auto http10 = raw_exchange(node->port(), "GET " + mount + "locale HTTP/1.0\r\n\r\n");
    EXPECT_TRUE(http10.starts_with("HTTP/1.1 200 OK\r\n"));
    EXPECT_NE(http10.find("\"locale\":\"en\""), std::string::npos);

    // HTTP/1.0 with keep-alive: answered with an explicit Connection: keep-alive.
    const auto res = fetch(node->port(), [] {
        auto r = make_request(mount + "locale", http::verb::get, 10);
        r.set(http::field::connection, "keep-alive");
        return r;
    }());
    EXPECT_EQ(res[http::field::connection], "keep-alive");
}

TEST(FakeNode, WebSocketEchoesTextAndBinary) {
    running_node node(test_options());
    for (const std::string target : {"/ws", "/bbb-01/html5client/ws"}) {
        const auto echoed = run_client(
            [](std::uint16_t port, std::string t) -> awaitable<std::vector<std::string>> {
                websocket::stream<beast::tcp_stream> ws(co_await connect(port));
                auto [ec] = co_await ws.async_handshake("127.0.0.1", t, use_nothrow);
                throw_if(ec);
                std::vector<std::string> out;
                beast::flat_buffer buffer;
                for (const bool text : {true, false}) {
                    ws.text(text);
                    auto [wec, w] = co_await ws.async_write(
                        asio::buffer(std::string(text ? "hello" : "\x01\x02\x03")), use_nothrow);
                    throw_if(wec);
                    auto [rec, r] = co_await ws.async_read(buffer, use_nothrow);
                    throw_if(rec);
                    out.push_back(std::string(ws.got_text() ? "text:" : "binary:") +
                                  beast::buffers_to_string(buffer.data()));
                    buffer.consume(buffer.size());
                }
                auto [cec] = co_await ws.async_close(websocket::close_code::normal, use_nothrow);
                throw_if(cec);
                co_return out;
            }(node->port(), target));
        EXPECT_EQ(echoed, (std::vector<std::string>{"text:hello", "binary:\x01\x02\x03"}));
    }
    EXPECT_EQ(node->counters().websockets, 2u);
    EXPECT_EQ(node->counters().requests, 2u);
}

TEST(FakeNode, LocaleRedirectKeepsQuery) {
    running_node node(test_options());
    const auto res = get(node->port(), "/html5client/locale?locale=de&x=1");
    EXPECT_EQ(res.result(), http::status::moved_permanently);
    EXPECT_EQ(res[http::field::location], "/bbb-01/html5client/locale?locale=de&x=1");

    const auto locale = get(node->port(), "/bbb-01/html5client/locale?locale=de");
    EXPECT_EQ(locale.result(), http::status::ok);
    EXPECT_EQ(locale[http::field::content_type], "application/json");
    EXPECT_NE(locale.body().find("\"locale\":\"de\""), std::string::npos);
    EXPECT_NE(
        locale.body().find("\"app.guest.waiting\":\"Waiting for a moderator to approve you\""),
        std::string::npos);

    const auto slash = get(node->port(), "/bbb-01/html5client?a=b");
    EXPECT_EQ(slash.result(), http::status::moved_permanently);
    EXPECT_EQ(slash[http::field::location], "/bbb-01/html5client/?a=b");
}

TEST(FakeNode, GuestPageLoadsRelativeLocale) {
    running_node node(test_options());
    const auto res = get(node->port(), mount + "guestWait");
    EXPECT_EQ(res.result(), http::status::ok);
    EXPECT_NE(res.body().find("id=\"guest-status\""), std::string::npos);
    EXPECT_NE(res.body().find(">waiting<"), std::string::npos);
    EXPECT_NE(res.body().find("id=\"guest-locale\""), std::string::npos);
    EXPECT_NE(res.body().find("\"./locale?locale=en\""), std::string::npos);
}

TEST(FakeNode, UnknownIs404AndOtherMethodsAre405) {
    running_node node(test_options());
    EXPECT_EQ(get(node->port(), "/nope").result(), http::status::not_found);
    EXPECT_EQ(get(node->port(), "/bbb-02/html5client/").result(), http::status::not_found);
    EXPECT_EQ(get(node->port(), mount + "app-00000000.js").result(), http::status::not_found);
    EXPECT_EQ(get(node->port(), mount + "_test/nope").result(), http::status::not_found);
    const auto root = get(node->port(), "/");
    EXPECT_EQ(root.result(), http::status::ok);
    EXPECT_NE(root.body().find("BBB node bbb-01"), std::string::npos);

    auto post = make_request(mount, http::verb::post);
    post.body() = "x=1";
    const auto res = fetch(node->port(), post);
    EXPECT_EQ(res.result(), http::status::method_not_allowed);
    EXPECT_EQ(res[http::field::allow], "GET, HEAD");

    running_node plain(node_options{});  // no test endpoints
    EXPECT_EQ(get(plain->port(), mount + "_test/echo-headers").result(), http::status::not_found);
}

TEST(FakeNodeTestEndpoints, EchoHeadersInReceivedOrder) {
    running_node node(test_options());
    // Raw bytes: a Beast client would group the repeated X-First fields.
    const auto raw = raw_exchange(node->port(), "POST " + mount +
                                                    "_test/echo-headers?a=1 HTTP/1.1\r\n"
                                                    "Host: x\r\n"
                                                    "X-First: 1\r\n"
                                                    "x-MiXed:   Two \"quoted\"  \r\n"
                                                    "X-First: again\r\n"
                                                    "Content-Length: 7\r\n"
                                                    "Connection: close\r\n\r\npayload");
    EXPECT_TRUE(raw.starts_with("HTTP/1.1 200 OK\r\n"));
    EXPECT_NE(raw.find("Content-Type: application/json\r\n"), std::string::npos);
    EXPECT_EQ(raw.substr(raw.find("\r\n\r\n") + 4),
              "{\"method\":\"POST\",\"target\":\"/bbb-01/html5client/_test/echo-headers?a=1\","
              "\"version\":\"1.1\",\"headers\":[[\"Host\",\"x\"],[\"X-First\",\"1\"],"
              "[\"x-MiXed\",\"Two \\\"quoted\\\"\"],[\"X-First\",\"again\"],"
              "[\"Content-Length\",\"7\"],[\"Connection\",\"close\"]]}");

    const auto res = get(node->port(), mount + "_test/echo-headers");
    EXPECT_NE(res.body().find("\"version\":\"1.1\",\"headers\":[[\"Host\",\"127.0.0.1\"],"
                              "[\"User-Agent\",\"demo_test\"]]"),
              std::string::npos)
        << res.body();
}

TEST(FakeNodeTestEndpoints, BytesChunkedAndSlowBodies) {
    running_node node(test_options());
    const auto bytes = get(node->port(), mount + "_test/bytes?n=1000");
    EXPECT_EQ(bytes[http::field::content_length], "1000");
    EXPECT_EQ(bytes.body(), pattern(1000));
    EXPECT_EQ(get(node->port(), mount + "_test/bytes?n=x").result(), http::status::bad_request);

    const auto slow = get(node->port(), mount + "_test/slow?n=1005&ms=5");
    EXPECT_EQ(slow.body(), pattern(1005));

    const auto [chunks,
                res] = run_client([](std::uint16_t port) -> awaitable<std::pair<int, response>> {
        auto stream = co_await connect(port);
        auto req = make_request(mount + "_test/chunked?n=100003");
        auto [wec, w] = co_await http::async_write(stream, req, use_nothrow);
        throw_if(wec);
        int count = 0;
        http::response_parser<http::string_body> parser;
        auto on_chunk = [&count](std::uint64_t, beast::string_view, bcp::error_code&) { ++count; };
        parser.on_chunk_header(on_chunk);
        beast::flat_buffer buffer;
        auto [rec, r] = co_await http::async_read(stream, buffer, parser, use_nothrow);
        throw_if(rec);
        co_return std::pair{count, parser.release()};
    }(node->port()));
    EXPECT_TRUE(res.chunked());
    EXPECT_EQ(res.count(http::field::content_length), 0u);
    EXPECT_EQ(res.body(), pattern(100003));
    EXPECT_EQ(chunks, 5) << "4 data chunks and the last-chunk";
}

TEST(FakeNodeTestEndpoints, EofBodyIsCloseDelimited) {
    running_node node(test_options());
    const auto raw =
        raw_exchange(node->port(), "GET " + mount + "_test/eof?n=777 HTTP/1.1\r\nHost: x\r\n\r\n");
    const auto head_end = raw.find("\r\n\r\n");
    ASSERT_NE(head_end, std::string::npos);
    const auto head = raw.substr(0, head_end + 2);
    EXPECT_TRUE(head.starts_with("HTTP/1.1 200 OK\r\n"));
    EXPECT_EQ(head.find("Content-Length"), std::string::npos);
    EXPECT_EQ(head.find("Transfer-Encoding"), std::string::npos);
    EXPECT_EQ(raw.substr(head_end + 4), pattern(777));
}

TEST(FakeNodeTestEndpoints, ConnectionEndings) {
    running_node node(test_options());
    const auto close =
        raw_exchange(node->port(), "GET " + mount + "_test/close HTTP/1.1\r\nHost: x\r\n\r\n");
    EXPECT_TRUE(close.starts_with("HTTP/1.1 200 OK\r\n"));
    EXPECT_NE(close.find("Connection: close\r\n"), std::string::npos);

    EXPECT_EQ(
        raw_exchange(node->port(), "GET " + mount + "_test/garbage HTTP/1.1\r\nHost: x\r\n\r\n"),
        "NOT HTTP AT ALL\r\n\r\n");

    EXPECT_THROW(
        raw_exchange(node->port(), "GET " + mount + "_test/reset HTTP/1.1\r\nHost: x\r\n\r\n"),
        boost::system::system_error);
}

TEST(FakeNodeTestEndpoints, HeadersRedirectsAndCookies) {
    running_node node(test_options());
    const auto hop = get(node->port(), mount + "_test/hop");
    EXPECT_EQ(hop[http::field::connection], "keep-alive, X-Hop");
    EXPECT_EQ(hop["X-Hop"], "secret");
    EXPECT_EQ(hop[http::field::keep_alive], "timeout=5");
    EXPECT_EQ(hop["X-End"], "kept");
    EXPECT_EQ(hop[http::field::proxy_connection], "keep-alive");

    const auto redirect = get(node->port(), mount + "_test/redirect");
    EXPECT_EQ(redirect.result(), http::status::found);
    EXPECT_EQ(redirect[http::field::location], node->origin() + mount + "target?x=1");
    const auto out = get(node->port(), mount + "_test/redirect-out");
    EXPECT_EQ(out[http::field::location], node->origin() + "/bigbluebutton/api");

    const auto cookies = get(node->port(), mount + "_test/set-cookie");
    EXPECT_EQ(cookies.count(http::field::set_cookie), 2u);

    const auto big = raw_exchange(
        node->port(),
        "GET " + mount + "_test/big-header HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    EXPECT_NE(big.find("\r\nX-Big: " + std::string(100 * 1024, 'x') + "\r\n"), std::string::npos);
    EXPECT_TRUE(big.ends_with("\r\n\r\nbig header\n"));
}

TEST(FakeNodeTestEndpoints, WebSocketRefusals) {
    running_node node(test_options());
    const auto handshake = [&](std::string target) {
        return run_client([](std::uint16_t port,
                             std::string t) -> awaitable<std::pair<bcp::error_code, unsigned>> {
            websocket::stream<beast::tcp_stream> ws(co_await connect(port));
            websocket::response_type res;
            auto [ec] = co_await ws.async_handshake(res, "127.0.0.1", t, use_nothrow);
            co_return std::pair{ec, res.result_int()};
        }(node->port(), std::move(target)));
    };
    const auto [refused_ec, refused] = handshake(mount + "_test/no-ws");
    EXPECT_EQ(refused, 403u);
    EXPECT_EQ(refused_ec, websocket::error::upgrade_declined);
    const auto [bad_ec, bad] = handshake(mount + "_test/bad-accept");
    EXPECT_EQ(bad, 101u);
    EXPECT_EQ(bad_ec, websocket::error::bad_sec_accept);
    EXPECT_EQ(node->counters().websockets, 0u);
}

TEST(FakeNode, StopClosesStalledConnections) {
    running_node node(test_options());
    auto client = std::async(std::launch::async, [port = node->port()] {
        return run_client(
            [](std::uint16_t p) -> awaitable<std::pair<bcp::error_code, std::size_t>> {
                auto stream = co_await connect(p);
                auto req = make_request(mount + "_test/stall-body?n=1000");
                auto [wec, w] = co_await http::async_write(stream, req, use_nothrow);
                throw_if(wec);
                http::response_parser<http::string_body> parser;
                beast::flat_buffer buffer;
                auto [hec, h] =
                    co_await http::async_read_header(stream, buffer, parser, use_nothrow);
                throw_if(hec);
                const auto length = parser.content_length().value_or(0);
                auto [ec, n] = co_await http::async_read(stream, buffer, parser, use_nothrow);
                co_return std::pair{ec, static_cast<std::size_t>(length)};
            }(port));
    });
    auto stall = std::async(std::launch::async, [port = node->port()] {
        return raw_exchange(port, "GET " + mount + "_test/stall HTTP/1.1\r\nHost: x\r\n\r\n");
    });
    ASSERT_TRUE(eventually([&] { return node->counters().requests == 2; }));
    node.stop();  // fails the test if a connection stays open
    const auto [ec, length] = client.get();
    EXPECT_EQ(length, 1000u);
    EXPECT_TRUE(ec) << "the body must not complete";
    EXPECT_EQ(stall.get(), "");
}

TEST(FakeNode, ServesConcurrentClientsOnSeveralThreads) {
    running_node node(test_options(), 2);
    std::vector<std::future<std::size_t>> clients;
    for (int i = 0; i < 6; ++i) {
        clients.push_back(std::async(std::launch::async, [port = node->port()] {
            return run_client([](std::uint16_t p) -> awaitable<std::size_t> {
                auto stream = co_await connect(p);
                beast::flat_buffer buffer;
                std::size_t total = 0;
                for (int r = 0; r < 3; ++r) {
                    total += (co_await exchange(stream, buffer,
                                                make_request(mount + find_asset("app-").path)))
                                 .body()
                                 .size();
                }
                co_return total;
            }(port));
        }));
    }
    for (auto& c : clients) {
        EXPECT_EQ(c.get(), 3 * find_asset("app-").body.size());
    }
    EXPECT_EQ(node->counters().connections, 6u);
    EXPECT_EQ(node->counters().requests, 18u);
}

TEST(FakeNode, ServesHttpsAndWss) {
    const auto ca = bcp::test::test_ca::create();
    const auto leaf = ca.issue({"localhost"}, {"127.0.0.1"});
    auto server_tls = bcp::test::make_server_context(leaf);
    auto client_tls = bcp::test::make_client_context(ca);
    auto options = test_options();
    options.tls = &server_tls;
    running_node node(options);
    EXPECT_EQ(node->origin(), "https://127.0.0.1:" + std::to_string(node->port()));

    using tls_stream = beast::ssl_stream<beast::tcp_stream>;
    const auto tls_connect = [&client_tls](std::uint16_t port) -> awaitable<tls_stream> {
        tls_stream stream(co_await connect(port), client_tls);
        stream.set_verify_callback(ssl::host_name_verification("127.0.0.1"));
        auto [ec] = co_await stream.async_handshake(ssl::stream_base::client, use_nothrow);
        throw_if(ec);
        co_return stream;
    };
    const auto [index, echoed] = run_client(
        [](std::uint16_t port, auto connect_tls) -> awaitable<std::pair<response, std::string>> {
            auto stream = co_await connect_tls(port);
            beast::flat_buffer buffer;
            auto res = co_await exchange(stream, buffer, make_request(mount));
            websocket::stream<tls_stream> ws(co_await connect_tls(port));
            auto [hec] = co_await ws.async_handshake("127.0.0.1", "/ws", use_nothrow);
            throw_if(hec);
            auto [wec, w] =
                co_await ws.async_write(asio::buffer(std::string("over tls")), use_nothrow);
            throw_if(wec);
            beast::flat_buffer message;
            auto [rec, r] = co_await ws.async_read(message, use_nothrow);
            throw_if(rec);
            co_return std::pair{std::move(res), beast::buffers_to_string(message.data())};
        }(node->port(), tls_connect));
    EXPECT_EQ(index.result(), http::status::ok);
    EXPECT_NE(index.body().find("\"origin\":\"" + node->origin() + "\""), std::string::npos);
    EXPECT_EQ(echoed, "over tls");
    EXPECT_EQ(node->counters().websockets, 1u);
}

// ---------------------------------------------------------------------------------------------
// The BBB 2.x (Meteor) client mode

node_options meteor_options(std::string id = "bbb-02") {
    node_options o;
    o.id = std::move(id);
    o.client = bcp::demo::client_kind::meteor;
    return o;
}

const std::string import_path = "/__meteor__/dynamic-import/fetch";

/// A POST as the browser sends Meteor's fetch(url, {method: "POST", body: JSON.stringify(tree)}).
request make_post(std::string target, std::string body) {
    auto req = make_request(std::move(target), http::verb::post);
    req.set(http::field::content_type, "text/plain;charset=UTF-8");
    req.body() = std::move(body);
    return req;
}

TEST(FakeNodeMeteor, DynamicImportAnswersKnownModulesOnly) {
    running_node node(meteor_options());
    const std::string base = "/bbb-02/html5client";
    const auto res =
        fetch(node->port(),
              make_post(base + import_path,
                        R"({"node_modules":{"lazy":{"panel.js":1,"chart.js":1,"nope.js":1},)"
                        R"("other":{"x.js":1}},"imports":{"ui":{"a.jsx":1}}})"));
    ASSERT_EQ(res.result(), http::status::ok);
    EXPECT_EQ(res[http::field::content_type], "application/json");
    EXPECT_EQ(res[http::field::access_control_allow_origin], "*");
    EXPECT_EQ(res.count(http::field::cache_control), 0u);
    EXPECT_EQ(res[http::field::content_length], std::to_string(res.body().size()));

    const auto tree = nlohmann::json::parse(res.body());
    // Unknown modules (and the directories left empty without them) are omitted.
    ASSERT_EQ(tree.size(), 1u) << tree.dump();
    ASSERT_EQ(tree.at("node_modules").size(), 1u) << tree.dump();
    const auto& lazy = tree.at("node_modules").at("lazy");
    ASSERT_EQ(lazy.size(), 2u) << tree.dump();
    const auto panel = lazy.at("panel.js").get<std::string>();
    const auto chart = lazy.at("chart.js").get<std::string>();
    EXPECT_TRUE(panel.starts_with("function(require,exports,module){")) << panel;
    EXPECT_TRUE(panel.ends_with("}")) << panel;
    EXPECT_NE(panel.find(R"(exports.node="bbb-02")"), std::string::npos) << panel;
    EXPECT_NE(panel.find(R"(exports.name="panel")"), std::string::npos) << panel;
    EXPECT_NE(chart.find(R"(exports.name="chart")"), std::string::npos) << chart;

    // Only what was asked for: one module, and nothing at all for an empty tree.
    const auto one = fetch(
        node->port(), make_post(base + import_path, R"({"node_modules":{"lazy":{"chart.js":1}}})"));
    EXPECT_EQ(nlohmann::json::parse(one.body()).at("node_modules").at("lazy").size(), 1u);
    EXPECT_EQ(fetch(node->port(), make_post(base + import_path, "{}")).body(), "{}");
    // A directory where a module was expected is not a module request.
    EXPECT_EQ(fetch(node->port(),
                    make_post(base + import_path, R"({"node_modules":{"lazy":{"panel.js":{}}}})"))
                  .body(),
              "{}");
    EXPECT_EQ(node->counters().dynamic_imports, 4u);
    EXPECT_EQ(node->counters().feedbacks, 0u);
}

TEST(FakeNodeMeteor, DynamicImportRefusals) {
    running_node node(meteor_options());
    const std::string target = "/bbb-02/html5client" + import_path;
    EXPECT_EQ(fetch(node->port(), make_post(target, "{\"node_modules\":")).result(),
              http::status::bad_request);
    EXPECT_EQ(fetch(node->port(), make_post(target, "")).result(), http::status::bad_request);
    EXPECT_EQ(fetch(node->port(), make_post(target, "[1]")).result(), http::status::bad_request);
    EXPECT_EQ(fetch(node->port(), make_post(target, std::string(2000, '[') + "1")).result(),
              http::status::bad_request);

    const auto get_res = get(node->port(), target);
    EXPECT_EQ(get_res.result(), http::status::method_not_allowed);
    EXPECT_EQ(get_res[http::field::allow], "POST");
    EXPECT_EQ(fetch(node->port(), make_request(target, http::verb::put)).result(),
              http::status::method_not_allowed);

    // Over 1 MiB: refused from the Content-Length, before the body is read.
    const auto big = fetch(node->port(), make_post(target, std::string((1 << 20) + 1, ' ')));
    EXPECT_EQ(big.result(), http::status::payload_too_large);
    // Exactly 1 MiB is read (and is valid JSON: an empty object padded with spaces).
    auto padded = std::string((1 << 20) - 2, ' ') + "{}";
    EXPECT_EQ(fetch(node->port(), make_post(target, std::move(padded))).result(), http::status::ok);

    // Every POST counts, whatever its answer; the GET and PUT do not.
    EXPECT_EQ(node->counters().dynamic_imports, 6u);
    EXPECT_EQ(node->counters().requests, 8u);
}

TEST(FakeNodeMeteor, FeedbackAnswersOk) {
    running_node node(meteor_options());
    const std::string target = "/bbb-02/html5client/feedback";
    auto req = make_post(target, R"({"rating":5,"comment":"fine"})");
    req.set(http::field::content_type, "application/json");
    const auto res = fetch(node->port(), req);
    EXPECT_EQ(res.result(), http::status::ok);
    EXPECT_EQ(res[http::field::content_type], "application/json");
    EXPECT_EQ(res[http::field::cache_control], "no-store");
    EXPECT_EQ(res.body(), R"({"status":"ok"})");
    EXPECT_EQ(fetch(node->port(), make_post(target, "not json either")).result(), http::status::ok);
    const auto get_res = get(node->port(), target);
    EXPECT_EQ(get_res.result(), http::status::method_not_allowed);
    EXPECT_EQ(get_res[http::field::allow], "POST");
    EXPECT_EQ(node->counters().feedbacks, 2u);
    EXPECT_EQ(node->counters().dynamic_imports, 0u);
}

TEST(FakeNodeMeteor, EndpointsExistUnderEveryMountOnly) {
    auto options = meteor_options();
    options.mounts = {"html5client", "html5client-next"};
    running_node node(options);
    EXPECT_EQ(
        fetch(node->port(), make_post("/bbb-02/html5client-next" + import_path, "{}")).result(),
        http::status::ok);
    EXPECT_EQ(fetch(node->port(), make_post("/bbb-02/html5client-next/feedback", "{}")).result(),
              http::status::ok);
    // Not outside a mount, not for another node id, not below the endpoint.
    EXPECT_EQ(fetch(node->port(), make_post(import_path, "{}")).result(), http::status::not_found);
    EXPECT_EQ(fetch(node->port(), make_post("/bbb-01/html5client" + import_path, "{}")).result(),
              http::status::not_found);
    EXPECT_EQ(
        fetch(node->port(), make_post("/bbb-02/html5client" + import_path + "/x", "{}")).result(),
        http::status::not_found);
    EXPECT_EQ(node->counters().dynamic_imports, 1u);
    EXPECT_EQ(node->counters().feedbacks, 1u);
}

TEST(FakeNodeMeteor, StaticClientRefusesTheMeteorPosts) {
    running_node node(node_options{});  // bbb-01, static client (the default)
    EXPECT_EQ(node->options().client, bcp::demo::client_kind::static_client);
    for (const auto* path : {"/__meteor__/dynamic-import/fetch", "/feedback"}) {
        const auto res =
            fetch(node->port(), make_post(mount.substr(0, mount.size() - 1) + path, "{}"));
        EXPECT_EQ(res.result(), http::status::not_found) << path;
    }
    EXPECT_EQ(node->counters().dynamic_imports, 0u);
    EXPECT_EQ(node->counters().feedbacks, 0u);
}

TEST(FakeNodeMeteor, IndexLoadsALazyModuleOnlyInMeteorMode) {
    running_node meteor(meteor_options());
    running_node plain(node_options{});
    const auto page = get(meteor->port(), "/bbb-02/html5client/");
    ASSERT_EQ(page.result(), http::status::ok);
    const auto& html = page.body();
    EXPECT_NE(html.find(R"(<span id="lazy-status" class="status">pending</span>)"),
              std::string::npos);
    EXPECT_NE(html.find(R"(window.__meteor_runtime_config__={"ROOT_URL_PATH_PREFIX":)"
                        R"("/bbb-02/html5client"})"),
              std::string::npos);
    EXPECT_NE(html.find(R"("/__meteor__/dynamic-import/fetch")"), std::string::npos);
    EXPECT_NE(html.find(R"(JSON.stringify({ node_modules: { lazy: { "panel.js": 1 } } }))"),
              std::string::npos);
    EXPECT_NE(html.find(R"js((0, eval)("(" + source + ")")(require, module.exports, module))js"),
              std::string::npos);
    EXPECT_EQ(html.find("headers"), std::string::npos) << "Meteor's fetch sets no header";
    // The ids the browser tests use are all still there.
    for (const auto* id : {"node-id", "served-origin", "node-origin", "ws-status", "media-button",
                           "media-status", "permission-status", "assets-ok"}) {
        EXPECT_NE(html.find("id=\"" + std::string(id) + "\""), std::string::npos) << id;
    }
    EXPECT_EQ(page.count("Content-Security-Policy"), 0u);

    const auto static_page = get(plain->port(), mount);
    EXPECT_EQ(static_page.body().find("lazy-status"), std::string::npos);
    EXPECT_EQ(static_page.body().find("__meteor"), std::string::npos);
}

TEST(TestCa, WritesPemFilesThatLoad) {
    const auto ca = bcp::test::test_ca::create();
    const auto leaf = ca.issue({"localhost", "bbb-01.test"}, {"127.0.0.1", "::1"});
    EXPECT_TRUE(leaf.cert_pem.starts_with("-----BEGIN CERTIFICATE-----"));
    EXPECT_TRUE(leaf.key_pem.starts_with("-----BEGIN PRIVATE KEY-----"));
    bcp::test::temp_dir dir;
    const auto files = bcp::test::write_pem_files(dir.path(), ca, leaf);
    ssl::context ctx(ssl::context::tls_server);
    EXPECT_NO_THROW(ctx.use_certificate_chain_file(files.cert.string()));
    EXPECT_NO_THROW(ctx.use_private_key_file(files.key.string(), ssl::context::pem));
    EXPECT_NO_THROW(ctx.load_verify_file(files.ca_cert.string()));
    EXPECT_EQ(std::filesystem::status(files.key).permissions() & std::filesystem::perms::group_read,
              std::filesystem::perms::none);
}

}  // namespace
