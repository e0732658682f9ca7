#include "admin/listener.hpp"

#include "core/coroutine_warnings.hpp"
#include "core/log.hpp"
#include "net/listener.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <boost/asio/post.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>

#include <array>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

namespace bcp::admin {
namespace bhttp = boost::beast::http;

namespace {

constexpr std::size_t max_connections = 64;  // an admin port needs few; more is abuse
constexpr std::uint32_t max_header_bytes = 16 * 1024;
constexpr std::uint64_t max_body_bytes = 64 * 1024;
constexpr auto read_timeout = std::chrono::seconds(10);

bool iequals(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) {
        return false;
    }
    for (std::size_t i = 0; i < a.size(); ++i) {
        if (std::tolower(static_cast<unsigned char>(a[i])) !=
            std::tolower(static_cast<unsigned char>(b[i]))) {
            return false;
        }
    }
    return true;
}

std::array<unsigned char, 32> sha256(std::string_view s) {
    std::array<unsigned char, 32> out{};
    unsigned int len = 0;
    EVP_Digest(s.data(), s.size(), out.data(), &len, EVP_sha256(), nullptr);
    return out;
}

std::string_view trim(std::string_view s) {
    const auto first = s.find_first_not_of(" \t\r\n");
    if (first == std::string_view::npos) {
        return {};
    }
    const auto last = s.find_last_not_of(" \t\r\n");
    return s.substr(first, last - first + 1);
}

response plain(unsigned status, std::string body) {
    response r;
    r.status = status;
    r.body = std::move(body);
    return r;
}

}  // namespace

std::string_view request::query_param(std::string_view name) const {
    std::string_view q = query;
    while (!q.empty()) {
        const auto amp = q.find('&');
        const std::string_view pair = q.substr(0, amp);
        const auto eq = pair.find('=');
        if (pair.substr(0, eq) == name) {
            return eq == std::string_view::npos ? std::string_view("", 0) : pair.substr(eq + 1);
        }
        if (amp == std::string_view::npos) {
            break;
        }
        q.remove_prefix(amp + 1);
    }
    return {};
}

std::optional<std::string> read_token_file(const std::string& path, std::string& error) {
    std::ifstream in(path);
    if (!in) {
        error = "admin.token_file: cannot read " + path + ": " + std::strerror(errno);
        return std::nullopt;
    }
    std::stringstream ss;
    ss << in.rdbuf();
    const std::string text = ss.str();
    const std::string_view first_line = std::string_view(text).substr(0, text.find('\n'));
    const auto token = trim(first_line);
    if (token.empty()) {
        error = "admin.token_file: " + path + " is empty; put the bearer token on its first line";
        return std::nullopt;
    }
    return std::string(token);
}

bool bearer_matches(std::string_view authorization, std::string_view token) {
    authorization = trim(authorization);
    constexpr std::string_view scheme = "bearer ";
    if (authorization.size() < scheme.size() ||
        !iequals(authorization.substr(0, scheme.size()), scheme)) {
        // Still hash and compare, so a missing scheme takes as long as a wrong token.
        const auto a = sha256(authorization);
        const auto b = sha256(token);
        [[maybe_unused]] const int ignored = CRYPTO_memcmp(a.data(), b.data(), a.size());
        return false;
    }
    const auto given = trim(authorization.substr(scheme.size()));
    const auto a = sha256(given);
    const auto b = sha256(token);
    return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0 && !token.empty();
}

std::unique_ptr<listener> listener::create(const listener_options& o, std::string& error) {
    std::unique_ptr<listener> l(new listener());
    l->options_ = o;
    error_code ec;
    const auto address = asio::ip::make_address(o.host, ec);
    if (ec) {
        error = "admin.address: invalid address " + o.host;
        return nullptr;
    }
    l->acceptor_ = std::make_unique<tcp::acceptor>(l->ioc_);
    const tcp::endpoint ep(address, o.port);
    l->acceptor_->open(ep.protocol(), ec);
    if (!ec) {
        l->acceptor_->set_option(asio::socket_base::reuse_address(true), ec);
    }
    if (!ec) {
        l->acceptor_->bind(ep, ec);
    }
    if (!ec) {
        l->acceptor_->listen(asio::socket_base::max_listen_connections, ec);
    }
    if (ec) {
        error = "admin.address: cannot listen on " + o.host + ":" + std::to_string(o.port) + ": " +
                ec.message();
        return nullptr;
    }
    return l;
}

listener::~listener() {
    stop();
}

void listener::handle(std::string method, std::string path, handler h) {
    handlers_[{std::move(method), std::move(path)}] = std::move(h);
}

void listener::start() {
    asio::co_spawn(ioc_, accept_loop(), asio::detached);
    thread_ = std::thread([this] { ioc_.run(); });
}

void listener::stop() {
    if (!thread_.joinable()) {
        return;
    }
    asio::post(ioc_, [this] {
        error_code ignored;
        acceptor_->close(ignored);
        ioc_.stop();
    });
    thread_.join();
}

tcp::endpoint listener::endpoint() const {
    error_code ec;
    return acceptor_->local_endpoint(ec);
}

response listener::dispatch(const request& r) const {
    if (!options_.token.empty() && !bearer_matches(r.header("authorization"), options_.token)) {
        auto res = plain(401, "401 Unauthorized: send Authorization: Bearer <token>\n");
        res.headers.emplace_back("WWW-Authenticate", "Bearer realm=\"bbb-cluster-proxy admin\"");
        return res;
    }
    const std::string_view method = r.method == "HEAD" ? std::string_view("GET") : r.method;
    const auto it = handlers_.find({std::string(method), std::string(r.path)});
    if (it != handlers_.end()) {
        return it->second(r);
    }
    std::string allow;
    for (const auto& [key, h] : handlers_) {
        if (key.second == r.path) {
            allow += (allow.empty() ? "" : ", ") + key.first;
            if (key.first == "GET") {
                allow += ", HEAD";
            }
        }
    }
    if (!allow.empty()) {
        auto res = plain(405, "405 Method Not Allowed\n");
        res.headers.emplace_back("Allow", allow);
        return res;
    }
    return plain(404, "404 Not Found\n");
}

awaitable<void> listener::accept_loop() {
    while (true) {
        auto [ec, socket] = co_await acceptor_->async_accept(use_nothrow);
        if (ec) {
            if (!acceptor_->is_open() || ec == asio::error::operation_aborted) {
                co_return;
            }
            asio::steady_timer pause(ioc_, std::chrono::milliseconds(50));
            co_await pause.async_wait(use_nothrow);
            continue;
        }
        if (connections_ >= max_connections) {
            error_code ignored;
            socket.close(ignored);
            continue;
        }
        asio::co_spawn(ioc_, serve(std::move(socket)), [](std::exception_ptr e) {
            if (e) {
                try {
                    std::rethrow_exception(e);
                } catch (const std::exception& ex) {
                    log::get("admin")->error("admin connection failed: {}", ex.what());
                }
            }
        });
    }
}

awaitable<void> listener::serve(tcp::socket socket) {
    ++connections_;
    struct guard {
        std::size_t& n;
        ~guard() { --n; }
    } g{connections_};
    boost::beast::tcp_stream stream(std::move(socket));
    boost::beast::flat_buffer buffer;
    while (true) {
        bhttp::request_parser<bhttp::string_body> parser;
        parser.header_limit(max_header_bytes);
        parser.body_limit(max_body_bytes);
        stream.expires_after(read_timeout);
        auto [ec, n] = co_await bhttp::async_read(stream, buffer, parser, use_nothrow);
        if (ec) {
            // A malformed or oversized request gets a 400; a closed or timed-out one nothing.
            const bool malformed =
                ec.category() == bhttp::make_error_code(bhttp::error::bad_method).category() &&
                ec != bhttp::error::end_of_stream && ec != bhttp::error::partial_message;
            if (malformed) {
                bhttp::response<bhttp::string_body> bad{bhttp::status::bad_request, 11};
                bad.set(bhttp::field::content_type, "text/plain; charset=utf-8");
                bad.set(bhttp::field::connection, "close");
                bad.body() = "400 Bad Request\n";
                bad.prepare_payload();
                stream.expires_after(read_timeout);
                co_await bhttp::async_write(stream, bad, use_nothrow);
            }
            co_return;
        }
        const auto& req = parser.get();
        const std::string_view target = req.target();
        const auto q = target.find('?');
        request r;
        r.method = req.method_string();
        r.path = target.substr(0, q);
        r.query = q == std::string_view::npos ? std::string_view() : target.substr(q + 1);
        r.body = req.body();
        r.header = [&req](std::string_view name) -> std::string_view { return req[name]; };

        response out;
        try {
            out = dispatch(r);
        } catch (const std::exception& e) {
            log::get("admin")->error("admin {} {}: {}", r.method, r.path, e.what());
            out = plain(500, "500 Internal Server Error\n");
        }
        bhttp::response<bhttp::string_body> res{static_cast<bhttp::status>(out.status),
                                                req.version()};
        res.set(bhttp::field::content_type, out.content_type);
        res.set(bhttp::field::cache_control, "no-store");
        res.set("X-Content-Type-Options", "nosniff");
        for (const auto& [name, value] : out.headers) {
            res.set(name, value);
        }
        const std::size_t body_size = out.body.size();
        res.body() = std::move(out.body);
        res.keep_alive(req.keep_alive());
        res.prepare_payload();
        if (req.method() == bhttp::verb::head) {
            // The length of the GET answer, no body (RFC 9110 §9.3.2).
            res.body().clear();
            res.set(bhttp::field::content_length, std::to_string(body_size));
        }
        stream.expires_after(read_timeout);
        auto [wec, wn] = co_await bhttp::async_write(stream, res, use_nothrow);
        if (wec || !res.keep_alive()) {
            error_code ignored;
            stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
            co_return;
        }
    }
}

}  // namespace bcp::admin
