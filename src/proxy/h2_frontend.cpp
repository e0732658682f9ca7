#include "proxy/h2_frontend.hpp"

#include "core/coroutine_warnings.hpp"
#include "core/log.hpp"
#include "http/local_reply.hpp"
#include "http/request_head.hpp"
#include "http/response_reader.hpp"
#include "net/stream.hpp"
#include "net/watchdog.hpp"
#include "proxy/session.hpp"

#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>

#include <nghttp2/nghttp2.h>
#include <openssl/ssl.h>

#include <algorithm>
#include <cstring>
#include <iterator>
#include <optional>

namespace bcp::proxy {
using namespace boost::asio::experimental::awaitable_operators;

namespace {

constexpr std::size_t client_read = 16 * 1024;   // one TLS record
constexpr std::size_t output_batch = 64 * 1024;  // frames per write to the client

// The HTTP/1.1 request an HTTP/1.1 client would have sent for the stream: its validated head
// (map_h2_request: no CR/LF/NUL, token names, one Host from :authority), no Content-Length of the
// client's but ours for a body, and Connection: close (one request per stream session). Written
// straight into the stream session's input buffer, sized first: one allocation, and the session
// finds its request there without reading from the stream.
void write_http11_request(const h2::request& r, boost::beast::flat_buffer& out) {
    const auto forwarded = [](const http::field& f) {
        return !http::iequals(f.name, "content-length") && !http::iequals(f.name, "connection");
    };
    // A refused body (h2::request::body_refused) is announced one byte longer than what is
    // there: the gate refuses the request for having a body, and if it ever did not (the node
    // table changed in between), the session would find the body short and end the stream
    // instead of forwarding part of it.
    const bool length = !r.body.empty() || r.head.method == "POST" || r.body_refused;
    const std::string body_length =
        length ? std::to_string(r.body.size() + (r.body_refused ? 1 : 0)) : std::string();
    constexpr std::string_view version = " HTTP/1.1\r\n";
    constexpr std::string_view close = "connection: close\r\n\r\n";
    constexpr std::string_view content_length = "content-length: ";
    std::size_t size = r.head.method.size() + 1 + r.head.target.size() + version.size() +
                       close.size() + r.body.size();
    for (const auto& f : r.head.fields) {
        size += forwarded(f) ? f.name.size() + 2 + f.value.size() + 2 : 0;
    }
    size += length ? content_length.size() + body_length.size() + 2 : 0;
    char* at = static_cast<char*>(out.prepare(size).data());
    const auto put = [&](std::string_view v) {
        std::memcpy(at, v.data(), v.size());
        at += v.size();
    };
    put(r.head.method);
    put(" ");
    put(r.head.target);
    put(version);
    for (const auto& f : r.head.fields) {
        if (forwarded(f)) {
            put(f.name);
            put(": ");
            put(f.value);
            put("\r\n");
        }
    }
    if (length) {
        put(content_length);
        put(body_length);
        put("\r\n");
    }
    put(close);
    put(r.body);
    out.commit(size);
}

observe::refusal refusal_of(h2::refusal r) {
    switch (r) {
        case h2::refusal::rapid_reset:
            return observe::refusal::h2_rapid_reset;
        case h2::refusal::control_flood:
            return observe::refusal::h2_control_flood;
        case h2::refusal::continuation_flood:
            return observe::refusal::h2_continuation_flood;
        case h2::refusal::protocol:
        case h2::refusal::none:
            break;
    }
    return observe::refusal::h2_protocol;
}

}  // namespace

// One stream as the stream session's client: it reads the request, and what it writes (an
// HTTP/1.1 response) becomes the stream's HEADERS and DATA.
class h2_frontend::pipe : public net::memory_end,
                          private http::response_reader::events,
                          public std::enable_shared_from_this<pipe> {
  public:
    pipe(h2_frontend& owner, std::int32_t id, bool head_method)
        : owner_(&owner), id_(id), ex_(owner.s_.client_.get_executor()), reader_(head_method) {}

    // The request is in the stream session's buffer from the start (write_http11_request);
    // there is nothing more to read.
    void read_some(asio::mutable_buffer, handler h) override {
        complete(
            std::move(h),
            closed_ ? error_code(asio::error::operation_aborted) : error_code(asio::error::eof), 0);
    }

    void write_some(std::span<const asio::const_buffer> buffers, handler h) override {
        if (closed_ || owner_ == nullptr) {
            return complete(std::move(h), asio::error::operation_aborted, 0);
        }
        if (owner_->conn_->buffered_total() >= owner_->s_.settings_->http2.output_cap) {
            // The connection holds its whole share for a client that does not read fast enough:
            // this write waits, untaken, until the writer has sent some (resume()). The caller
            // keeps the bytes until its handler runs; their places are copied.
            parked_count_ = std::min(buffers.size(), parked_.size());
            std::copy_n(buffers.begin(), parked_count_, parked_.begin());
            parked_write_ = std::move(h);
            owner_->waiting_.push_back(id_);
            return;
        }
        write_now(buffers, std::move(h));
    }

    /// The connection has room again: the parked write goes on (and may wait again).
    void resume() {
        if (parked_write_ && !closed_ && owner_ != nullptr) {
            auto h = std::move(*parked_write_);
            parked_write_.reset();
            write_now(std::span(parked_.data(), parked_count_), std::move(h));
        }
    }

    // The stream session is done with its client: a response not complete by now is reset.
    void close() override {
        if (closed_) {
            return;
        }
        closed_ = true;
        auto self = shared_from_this();
        if (owner_ != nullptr) {
            if (!reader_.done()) {
                owner_->conn_->reset(id_, NGHTTP2_INTERNAL_ERROR);
            }
            owner_->pipes_.erase(id_);
            owner_->wake();
        }
        abort_pending();
    }

    /// The client reset the stream, or the connection ended: stop.
    void cancelled() {
        closed_ = true;
        owner_ = nullptr;
        abort_pending();
    }

    void writable() {
        if (pending_write_) {
            complete(std::move(*pending_write_), {}, pending_bytes_);
            pending_write_.reset();
        }
    }

    /// Response bytes (HTTP/1.1) into HEADERS and DATA. False when they are not a response.
    bool feed(std::string_view bytes) { return reader_.feed(bytes, *this); }

  private:
    void write_now(std::span<const asio::const_buffer> buffers, handler h) {
        // At most a watermark per hand-over, whatever the writer's completion condition (Asio's
        // own write loop offers 64 KiB at most): a large body enters the stream's buffer piece by
        // piece, as the client takes it.
        const std::size_t watermark = owner_->s_.settings_->http2.output_watermark;
        std::size_t n = 0;
        for (const auto& b : buffers) {
            const std::size_t take = std::min(b.size(), std::max<std::size_t>(watermark, 1) - n);
            if (!feed({static_cast<const char*>(b.data()), take})) {
                return complete(std::move(h), asio::error::connection_reset, 0);
            }
            n += take;
            if (n >= watermark) {
                break;
            }
        }
        owner_->wake();
        if (owner_->conn_->buffered(id_) >= watermark) {
            pending_write_ = std::move(h);  // completed by writable(), cancelled(), close()
            pending_bytes_ = n;
            return;
        }
        complete(std::move(h), {}, n);
    }

    void head(unsigned status, std::span<const http::field_view> fields, bool informational,
              bool end) override {
        if (informational) {
            owner_->conn_->inform(id_, status, fields);
            return;
        }
        owner_->conn_->respond(id_, status, fields, end);
    }

    void data(std::string_view bytes, bool end) override {
        if (!bytes.empty() || end) {
            owner_->conn_->send_data(id_, bytes, end);
        }
    }

    void complete(handler h, error_code ec, std::size_t n) {
        asio::post(ex_, [h = std::move(h), ec, n]() mutable { std::move(h)(ec, n); });
    }

    void abort_pending() {
        for (auto* w : {&pending_write_, &parked_write_}) {
            if (*w) {
                complete(std::move(**w), asio::error::operation_aborted, 0);
                w->reset();
            }
        }
    }

    h2_frontend* owner_;
    std::int32_t id_;
    asio::any_io_executor ex_;
    http::response_reader reader_;
    bool closed_ = false;
    std::optional<handler> pending_write_;
    std::size_t pending_bytes_ = 0;
    std::optional<handler> parked_write_;  ///< waiting for room on the connection
    std::array<asio::const_buffer, net::memory_end::max_gather> parked_;
    std::size_t parked_count_ = 0;
};

bool h2_frontend::negotiated(net::stream& client) {
    const unsigned char* alpn = nullptr;
    unsigned int len = 0;
    if (client.native_handle() == nullptr) {
        return false;
    }
    SSL_get0_alpn_selected(client.native_handle(), &alpn, &len);
    return len == 2 && alpn[0] == 'h' && alpn[1] == '2';
}

h2_frontend::h2_frontend(session& owner)
    : s_(owner), wake_(owner.client_.get_executor(), asio::steady_timer::time_point::max()) {
    h2::connection::handlers h;
    h.on_request = [this](h2::request&& r) { start(std::move(r)); };
    h.on_cancel = [this](std::int32_t id) {
        if (const auto it = pipes_.find(id); it != pipes_.end()) {
            auto p = it->second;
            pipes_.erase(it);
            p->cancelled();
        }
    };
    h.on_writable = [this](std::int32_t id) {
        if (const auto it = pipes_.find(id); it != pipes_.end()) {
            it->second->writable();
        }
    };
    // Only an allowed POST has a body, up to its path's limit: any other body makes the gate
    // refuse the request (405, 400), which then happens at its first DATA, as over HTTP/1.1.
    h.body_limit = [this](std::string_view method, std::string_view path) -> std::size_t {
        const auto post = post_allowance_of(*s_.env_.table, method, path);
        return post.allowed ? static_cast<std::size_t>(post.max_body) : 0;
    };
    conn_ = std::make_unique<h2::connection>(s_.settings_->http2, std::move(h),
                                             &s_.env_.h2_pending_body_bytes);
}

h2_frontend::~h2_frontend() {
    for (auto& [id, p] : pipes_) {
        p->cancelled();
    }
}

void h2_frontend::resume_waiting() {
    while (!waiting_.empty() && conn_->buffered_total() < s_.settings_->http2.output_cap) {
        const auto id = waiting_.front();
        waiting_.pop_front();
        if (const auto it = pipes_.find(id); it != pipes_.end()) {
            const auto p = it->second;  // resume() may end the stream
            p->resume();
        }
    }
}

void h2_frontend::wake() {
    dirty_ = true;
    wake_.cancel();
}

void h2_frontend::drain() {
    if (!draining_) {
        draining_ = true;
        conn_->shutdown();
        wake();
    }
}

void h2_frontend::count_refusals() {
    auto& refusals = s_.env_.counters->refusals;
    const auto& c = conn_->counters();
    refusals.bump(observe::refusal::h2_malformed, c.malformed);
    refusals.bump(observe::refusal::h2_refused_stream, c.refused_pending);
    if (conn_->why() != h2::refusal::none) {
        refusals.bump(refusal_of(conn_->why()));
        log::get("proxy")->info("HTTP/2 connection from {} ended: {}", s_.peer_,
                                h2::to_string(conn_->why()));
    }
}

void h2_frontend::start(h2::request&& r) {
    auto& env = s_.env_;
    const bool head = r.head.method == "HEAD";
    if (r.status != 0) {
        // Refused before the gate (431, 413, 414, 400): our page, as over HTTP/1.1.
        observe::bump(env.counters->rejected);
        env.counters->refusals.bump_status(r.status);
        env.counters->count_status(r.status);
        auto p = std::make_shared<pipe>(*this, r.stream, head);
        pipes_[r.stream] = p;
        http::local_reply_options o;
        o.head_method = head;
        p->feed(http::make_local_reply(r.status, o));
        p->close();
        return;
    }
    auto p = std::make_shared<pipe>(*this, r.stream, head);
    pipes_[r.stream] = p;
    auto stream_session = std::make_unique<session>(env, net::stream(s_.client_.get_executor(), p),
                                                    s_.peer_, s_.peer_key_);
    write_http11_request(r, stream_session->in_);
    asio::co_spawn(s_.client_.get_executor(), session::run(std::move(stream_session)),
                   session::log_failure);
}

awaitable<void> h2_frontend::read_loop() {
    // The read buffer exists only while streams run or bytes are there: an idle connection waits
    // for readability without it (16 KiB less per idle connection; docs/benchmarks.md "HTTP/2").
    std::unique_ptr<char[]> buffer;
    const auto& timeouts = s_.settings_->timeout;
    SSL* ssl = s_.client_.native_handle();
    bool head_deadline = false;  // the armed deadline is a request's, not the idle one
    const auto end_reading = [&] {
        if (s_.client_dog_.fired()) {
            observe::bump(s_.env_.counters->client_timeouts);
            s_.env_.counters->refusals.bump(head_deadline ? observe::refusal::head_timeout
                                                          : observe::refusal::idle_timeout);
        }
        reading_done_ = true;
    };
    while (!reading_done_) {
        if (conn_->open_streams() == 0) {
            head_deadline = false;
            s_.client_dog_.arm(timeouts.client_idle);  // nothing running: an idle connection
            if (SSL_has_pending(ssl) == 0) {
                buffer.reset();
                auto [wec] =
                    co_await s_.client_.socket().async_wait(tcp::socket::wait_read, use_nothrow);
                if (wec) {
                    end_reading();
                    break;
                }
            }
        } else if (const auto oldest = conn_->oldest_incomplete()) {
            // A request still arriving has the head deadline from its first frame, as over
            // HTTP/1.1 (slowloris: a header block or a body that never ends holds nothing long).
            head_deadline = true;
            s_.client_dog_.arm_at(*oldest + timeouts.client_head);
        } else {
            head_deadline = false;
            s_.client_dog_.disarm();  // the streams' sessions keep their own deadlines
        }
        if (!buffer) {
            buffer = std::make_unique<char[]>(client_read);
        }
        auto [ec, n] = co_await s_.client_.async_read_some(asio::buffer(buffer.get(), client_read),
                                                           use_nothrow);
        if (n != 0 && !conn_->receive({buffer.get(), n})) {
            reading_done_ = true;  // refused: the GOAWAY goes out, then the connection closes
        }
        if (ec) {
            end_reading();
        }
        wake();
    }
    s_.client_dog_.disarm();
    wake();
}

awaitable<void> h2_frontend::write_loop() {
    net::watchdog send_dog(s_.client_.get_executor(), [this] { s_.client_.close(); });
    std::string out;
    while (true) {
        out.clear();
        conn_->take_output(out, output_batch);
        resume_waiting();
        if (!out.empty()) {
            send_dog.arm(s_.settings_->timeout.client_send);
            auto [ec, n] = co_await asio::async_write(s_.client_, asio::buffer(out), use_nothrow);
            send_dog.disarm();
            if (ec) {
                if (send_dog.fired()) {
                    s_.env_.counters->refusals.bump(observe::refusal::send_timeout);
                }
                break;
            }
            continue;
        }
        if (reading_done_ || (!conn_->wants_read() && !conn_->wants_write())) {
            break;
        }
        if (conn_->open_streams() == 0) {
            s_.client_dog_.arm(s_.settings_->timeout.client_idle);  // all answered: idle now
            std::string().swap(out);  // an idle connection holds no output buffer
        }
        if (!dirty_) {
            co_await wake_.async_wait(use_nothrow);
            // Woken by the first bytes of something (a stream's HEADERS, say): let what is
            // already queued on this thread run first, so the write that follows carries the
            // rest too (its DATA, other streams' frames) rather than one TLS record each.
            co_await asio::post(s_.client_.get_executor(), asio::use_awaitable);
        }
        dirty_ = false;
    }
    reading_done_ = true;
    s_.client_.close();  // ends the read loop too
}

awaitable<void> h2_frontend::serve(session& owner) {
    owner.h2_ = std::make_unique<h2_frontend>(owner);
    auto& f = *owner.h2_;
    co_await (f.read_loop() && f.write_loop());
    f.count_refusals();
    owner.h2_.reset();  // the streams still running end at their next step
}

}  // namespace bcp::proxy
