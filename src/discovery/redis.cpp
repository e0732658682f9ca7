#include "discovery/redis.hpp"

#include "core/coroutine_warnings.hpp"
#include "net/connect.hpp"
#include "net/stream.hpp"
#include "net/tls.hpp"
#include "net/watchdog.hpp"

#include <hiredis/hiredis.h>
#include <boost/asio/write.hpp>

#include <array>
#include <charconv>

namespace bcp::discovery {
namespace {

redis_reply convert(const redisReply& r) {
    redis_reply out;
    switch (r.type) {
        case REDIS_REPLY_STRING:
            out.type = redis_reply::kind::string;
            out.text.assign(r.str, r.len);
            break;
        case REDIS_REPLY_STATUS:
            out.type = redis_reply::kind::status;
            out.text.assign(r.str, r.len);
            break;
        case REDIS_REPLY_ERROR:
            out.type = redis_reply::kind::error;
            out.text.assign(r.str, r.len);
            break;
        case REDIS_REPLY_INTEGER:
            out.type = redis_reply::kind::integer;
            out.integer = r.integer;
            break;
        case REDIS_REPLY_ARRAY:
            out.type = redis_reply::kind::array;
            out.elements.reserve(r.elements);
            for (std::size_t i = 0; i < r.elements; ++i) {
                out.elements.push_back(convert(*r.element[i]));
            }
            break;
        default:
            out.type = redis_reply::kind::nil;
            break;
    }
    return out;
}

constexpr std::size_t read_chunk = 16 * 1024;

}  // namespace

std::string format_command(std::span<const std::string> argv) {
    std::vector<const char*> args;
    std::vector<std::size_t> lengths;
    args.reserve(argv.size());
    lengths.reserve(argv.size());
    for (const auto& a : argv) {
        args.push_back(a.data());
        lengths.push_back(a.size());
    }
    char* command = nullptr;
    const int n = redisFormatCommandArgv(&command, static_cast<int>(args.size()), args.data(),
                                         lengths.data());
    if (n < 0 || command == nullptr) {
        throw std::bad_alloc();
    }
    std::string out(command, static_cast<std::size_t>(n));
    redisFreeCommand(command);
    return out;
}

reply_reader::reply_reader() : reader_(redisReaderCreate()) {
    if (reader_ == nullptr) {
        throw std::bad_alloc();
    }
}

reply_reader::~reply_reader() {
    redisReaderFree(static_cast<redisReader*>(reader_));
}

bool reply_reader::feed(std::string_view bytes) {
    return redisReaderFeed(static_cast<redisReader*>(reader_), bytes.data(), bytes.size()) ==
           REDIS_OK;
}

std::optional<redis_reply> reply_reader::next(std::string& error) {
    auto* r = static_cast<redisReader*>(reader_);
    void* raw = nullptr;
    if (redisReaderGetReply(r, &raw) != REDIS_OK) {
        error = r->errstr[0] != '\0' ? std::string(r->errstr) : "protocol error";
        return std::nullopt;
    }
    if (raw == nullptr) {
        return std::nullopt;
    }
    const std::unique_ptr<redisReply, void (*)(void*)> reply(static_cast<redisReply*>(raw),
                                                             freeReplyObject);
    return convert(*reply);
}

redis_connection::redis_connection(std::unique_ptr<net::stream> stream,
                                   const source_options& options)
    : stream_(std::move(stream)), options_(options) {}

redis_connection::~redis_connection() = default;

bool redis_connection::is_open() const {
    return stream_ && stream_->socket().is_open();
}

void redis_connection::close() {
    if (stream_) {
        stream_->close();
    }
}

awaitable<std::unique_ptr<redis_connection>> redis_connection::open(const redis_url& url,
                                                                    const source_options& options,
                                                                    source_error& error) {
    const std::string where = url.redacted();
    auto stream = co_await open_stream(url.host, url.port, url.tls, options, where, error);
    if (!stream) {
        co_return nullptr;
    }
    std::unique_ptr<redis_connection> conn(new redis_connection(std::move(stream), options));

    std::vector<std::vector<std::string>> hello;
    if (!url.password.empty()) {
        hello.push_back(url.user.empty()
                            ? std::vector<std::string>{"AUTH", url.password}
                            : std::vector<std::string>{"AUTH", url.user, url.password});
    }
    if (url.database != 0) {
        hello.push_back({"SELECT", std::to_string(url.database)});
    }
    if (hello.empty()) {
        co_return conn;
    }
    auto replies = co_await conn->pipeline(hello, error);
    if (!replies) {
        error.message = where + ": " + error.message;
        co_return nullptr;
    }
    for (std::size_t i = 0; i < replies->size(); ++i) {
        const auto& r = (*replies)[i];
        if (r.type == redis_reply::kind::error) {
            const bool auth = hello[i][0] == "AUTH";
            error = {auth ? source_error::kind::auth : source_error::kind::reply,
                     where + ": " + hello[i][0] + " refused: " + r.text +
                         (auth ? " (check the user and password in the URL)"
                               : " (check the database number)")};
            conn->close();
            co_return nullptr;
        }
    }
    co_return conn;
}

awaitable<std::optional<std::vector<redis_reply>>> redis_connection::pipeline(
    std::span<const std::vector<std::string>> commands, source_error& error) {
    std::string out;
    for (const auto& c : commands) {
        out += format_command(c);
    }
    auto ex = co_await asio::this_coro::executor;
    net::watchdog dog(ex, [this] { stream_->close(); });
    dog.arm(options_.read_timeout);
    const auto failed = [&](source_error::kind k, std::string message) {
        error = {dog.fired() ? source_error::kind::timeout : k,
                 dog.fired()
                     ? "no answer within " + std::to_string(options_.read_timeout.count()) + " ms"
                     : std::move(message)};
        stream_->close();
    };
    auto [wec, wn] = co_await asio::async_write(*stream_, asio::buffer(out), use_nothrow);
    if (wec) {
        failed(source_error::kind::io, "cannot send: " + wec.message());
        co_return std::nullopt;
    }
    std::vector<redis_reply> replies;
    replies.reserve(commands.size());
    std::array<char, read_chunk> buffer;
    std::size_t received = 0;
    std::string why;
    while (replies.size() < commands.size()) {
        if (auto r = reader_.next(why)) {
            replies.push_back(std::move(*r));
            continue;
        }
        if (!why.empty()) {
            failed(source_error::kind::protocol, "not the Redis protocol: " + why);
            co_return std::nullopt;
        }
        auto [rec, n] = co_await stream_->async_read_some(
            asio::buffer(buffer.data(), buffer.size()), use_nothrow);
        received += n;
        if (received > options_.max_reply_bytes) {
            failed(source_error::kind::protocol,
                   "replies larger than " + std::to_string(options_.max_reply_bytes) + " bytes");
            co_return std::nullopt;
        }
        if (n != 0 && !reader_.feed({buffer.data(), n})) {
            failed(source_error::kind::protocol, "out of memory reading replies");
            co_return std::nullopt;
        }
        if (rec && n == 0) {
            failed(source_error::kind::io, rec == asio::error::eof
                                               ? "the server closed the connection"
                                               : "read failed: " + rec.message());
            co_return std::nullopt;
        }
    }
    co_return replies;
}

}  // namespace bcp::discovery
