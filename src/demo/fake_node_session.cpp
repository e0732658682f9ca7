// The per-connection session of the simulated BBB node: the request read loop, the replies of
// ordinary routes and the response writing the test endpoints build on.

#include "demo/fake_node_impl.hpp"

#include "core/coroutine_warnings.hpp"

#include <boost/asio/write.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/serializer.hpp>
#include <boost/beast/http/span_body.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/beast/websocket/rfc6455.hpp>

#include <algorithm>
#include <array>
#include <tuple>

namespace bcp::demo::detail {
namespace {

namespace websocket = beast::websocket;

template <class Message>
void decorate(Message& res) {
    res.version(11);
    res.set(http::field::server, server_name);
    res.set(http::field::date, http_date());
}

template <class Message>
void fill(Message& res, const reply& rep, const request_info& req, bool keep) {
    res.result(rep.status);
    decorate(res);
    for (const auto& f : rep.fields) {
        res.insert(f.name_string(), f.value());
    }
    if (!keep) {
        res.keep_alive(false);
    } else if (req.version < 11) {
        res.set(http::field::connection, "keep-alive");  // HTTP/1.0 needs it spelled out
    }
}

}  // namespace

awaitable<void> session::run() {
    for (;;) {
        const auto step = co_await serve_one();
        if (step == next_step::close) {
            co_await stream_.close_gracefully();
        }
        if (step != next_step::read_next) {
            co_return;
        }
    }
}

awaitable<next_step> session::serve_one() {
    http::request_parser<http::string_body> parser;
    parser.header_limit(header_limit);
    parser.body_limit(body_limit);
    if (const auto ec = co_await read_head(parser)) {
        co_return co_await on_read_error(ec);
    }
    node_->counters.requests.fetch_add(1, std::memory_order_relaxed);
    if (drop_next_) {
        error_code ec;
        stream_.socket().close(ec);
        co_return next_step::abort;
    }
    if (websocket::is_upgrade(parser.get())) {
        auto req = parser.release();
        co_return co_await on_upgrade(req);
    }
    const auto r = resolve(*node_, split_target(parser.get().target()).first);
    if (parser.get().method() == http::verb::post) {
        if (r.kind == route_kind::dynamic_import) {
            node_->counters.dynamic_imports.fetch_add(1, std::memory_order_relaxed);
        } else if (r.kind == route_kind::feedback) {
            node_->counters.feedbacks.fetch_add(1, std::memory_order_relaxed);
        }
    }
    if (!parser.is_done()) {
        // The parser already compared a Content-Length with the node-wide limit while reading the
        // head; a route's own, lower limit is checked here, before any of the body is read. For
        // a chunked body the parser counts down what is left of the limit set now.
        const auto limit = body_limit_of(r);
        if (const auto length = parser.content_length(); length && *length > limit) {
            co_return co_await on_read_error(http::error::body_limit);
        }
        parser.body_limit(limit);
        auto [body_ec, m] = co_await http::async_read(stream_, buffer_, parser, use_nothrow);
        if (body_ec) {
            co_return co_await on_read_error(body_ec);
        }
    }
    auto req = parser.release();
    co_return co_await on_request(req);
}

awaitable<error_code> session::read_head(http::request_parser<http::string_body>& parser) {
    raw_head_.clear();
    for (;;) {
        if (buffer_.size() > 0) {
            error_code ec;
            const auto used = parser.put(buffer_.data(), ec);
            raw_head_.append(static_cast<const char*>(buffer_.data().data()), used);
            buffer_.consume(used);
            if (ec && ec != http::error::need_more) {
                co_return ec;
            }
            if (!ec && parser.is_header_done()) {
                co_return ec;
            }
            if (!ec && used > 0 && buffer_.size() > 0) {
                continue;  // the parser took one piece; more is buffered
            }
        }
        auto [ec, n] = co_await stream_.async_read_some(buffer_.prepare(16 * 1024), use_nothrow);
        if (ec) {
            co_return ec == asio::error::eof ? error_code(http::error::end_of_stream) : ec;
        }
        buffer_.commit(n);
    }
}

awaitable<next_step> session::on_read_error(error_code ec) {
    if (ec.category() != http::make_error_code(http::error::bad_target).category() ||
        ec == http::error::end_of_stream || ec == http::error::partial_message) {
        co_return next_step::abort;  // the peer closed or the connection broke
    }
    auto status = http::status::bad_request;
    if (ec == http::error::header_limit) {
        status = http::status::request_header_fields_too_large;
    } else if (ec == http::error::body_limit) {
        status = http::status::payload_too_large;
    }
    auto rep = text_reply(status, std::string(http::obsolete_reason(status)) + "\n");
    rep.close = true;
    co_return co_await write_reply(request_info{}, rep);
}

awaitable<next_step> session::on_request(const request& req) {
    const auto [path, query] = split_target(req.target());
    const auto r = resolve(*node_, path);
    if (r.kind == route_kind::test) {
        co_return co_await on_test(req, r, query);
    }
    auto rep = make_reply(*node_, req, r, query);
    co_return co_await write_reply(info(req), rep);
}

awaitable<next_step> session::on_upgrade(const request& req) {
    const auto [path, query] = split_target(req.target());
    const auto r = resolve(*node_, path);
    if (r.kind == route_kind::ws) {
        co_await websocket_echo(req);
        co_return next_step::abort;
    }
    if (r.kind == route_kind::test && r.test_name == "bad-accept") {
        co_await bad_accept_echo();
        co_return next_step::abort;
    }
    // Like nginx serving a static file: the Upgrade header is ignored elsewhere.
    co_return co_await on_request(req);
}

awaitable<next_step> session::write_reply(const request_info& req, reply& rep) {
    const bool keep = req.keep_alive && !rep.close;
    const auto code = static_cast<unsigned>(rep.status);
    const bool bodiless_status = code == 304 || code == 204 || code < 200;
    const auto body = rep.body();
    error_code ec;
    if (req.method == http::verb::head || bodiless_status) {
        http::response<http::empty_body> res;
        fill(res, rep, req, keep);
        if (!bodiless_status) {
            res.content_length(body.size());  // HEAD: the length a GET would get
        }
        std::tie(ec, std::ignore) = co_await http::async_write(stream_, res, use_nothrow);
    } else {
        http::response<http::span_body<const char>> res;
        fill(res, rep, req, keep);
        res.body() = {body.data(), body.size()};
        res.content_length(body.size());
        std::tie(ec, std::ignore) = co_await http::async_write(stream_, res, use_nothrow);
    }
    if (ec) {
        co_return next_step::abort;
    }
    co_return keep ? next_step::read_next : next_step::close;
}

awaitable<bool> session::write_head(http::response<http::empty_body>& res) {
    decorate(res);
    http::response_serializer<http::empty_body> sr{res};
    auto [ec, n] = co_await http::async_write_header(stream_, sr, use_nothrow);
    co_return !ec;
}

awaitable<bool> session::write_pattern(std::uint64_t offset, std::uint64_t n) {
    const auto& bytes = pattern_bytes();
    std::size_t pos = static_cast<std::size_t>(offset % 26);
    while (n > 0) {
        const auto len = static_cast<std::size_t>(std::min<std::uint64_t>(n, bytes.size() - pos));
        auto [ec, written] =
            co_await asio::async_write(stream_, asio::buffer(bytes.data() + pos, len), use_nothrow);
        if (ec) {
            co_return false;
        }
        n -= len;
        pos = (pos + len) % 26;
    }
    co_return true;
}

awaitable<bool> session::write_raw(std::string_view bytes) {
    auto [ec, n] = co_await asio::async_write(stream_, asio::buffer(bytes), use_nothrow);
    co_return !ec;
}

void session::reset_connection() {
    error_code ec;
    auto& socket = stream_.socket();
    socket.set_option(asio::socket_base::linger(true, 0), ec);
    socket.close(ec);
}

awaitable<void> session::wait_for_close() {
    std::array<char, 4096> sink{};
    for (;;) {
        auto [ec, n] = co_await stream_.async_read_some(asio::buffer(sink), use_nothrow);
        if (ec) {
            co_return;
        }
    }
}

}  // namespace bcp::demo::detail
