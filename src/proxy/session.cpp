#include "proxy/session.hpp"

#include "core/coroutine_warnings.hpp"
#include "core/log.hpp"
#include "http/gate.hpp"
#include "http/local_reply.hpp"
#include "http/rewrite.hpp"
#include "net/drain_read.hpp"
#include "net/listener.hpp"
#include "proxy/cache_step.hpp"
#include "proxy/exchange.hpp"
#include "proxy/h2_frontend.hpp"
#include "proxy/health_checker.hpp"

#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>

#include <sys/socket.h>

#include <array>
#include <cerrno>
#include <cstdio>
#include <optional>
#include <span>

namespace bcp::proxy {
namespace bhttp = boost::beast::http;
using namespace boost::asio::experimental::awaitable_operators;

const registry::post_rule* post_rule_of(const registry::node_entry& node,
                                        const http::target_check& t) {
    // "/<first>/<second>/<rest>": the rule is for <rest> exactly.
    const std::size_t prefix = 1 + t.first.size() + 1 + t.second.size() + 1;
    if (t.second.empty() || t.path.size() <= prefix) {
        return nullptr;
    }
    return node.find_post(t.second, t.path.substr(prefix));
}

http::post_allowance post_allowance_of(const registry::node_table& table, std::string_view method,
                                       std::string_view target) {
    if (method != "POST") {
        return {};
    }
    const auto t = http::check_target(target);
    if (t.status != 0) {
        return {};
    }
    const auto* node = table.find(t.first);
    if (node == nullptr || post_rule_of(*node, t) == nullptr) {
        return {};
    }
    return {true, node->post_max_body};
}

namespace {

constexpr std::size_t read_chunk = 4096;        // client head reads
constexpr std::size_t idle_read = 512;          // the read an idle keep-alive connection waits in
constexpr std::size_t fields_reserved = 16;     // request head fields (a browser sends ~12)
constexpr std::size_t scratch_reserved = 1000;  // a request or response head we build (one
                                                // block of glibc's thread cache: at most 1,016)
constexpr auto long_idle = std::chrono::seconds(1);  // a gap between requests that makes the
                                                     // next idle wait bufferless (run())
constexpr std::size_t tunnel_chunk = 16 * 1024;      // per direction

// An error on a pooled connection before the node sent anything means the node closed it while
// it was idle: before the pool's idle watch was put on it (upstream::pool::watch), or racing it.
// The request was not processed: retrying once on a fresh connection is safe for GET/HEAD (RFC
// 9110 §9.2.2).
bool is_stale_connection_error(const error_code& ec) {
    return ec == bhttp::error::end_of_stream || ec == asio::error::connection_reset ||
           ec == asio::error::broken_pipe || ec == asio::error::eof ||
           ec == asio::ssl::error::stream_truncated;  // an https node's close without close_notify
}

constexpr int max_early_hints = 4;  // 103s relayed per response; each is bounded by the head limit

// RFC 8297: the 103 Early Hints a client gets from a node's 103, with the node's Link fields and
// nothing else (hop-by-hop fields and whatever else the node put in its interim head stay
// behind). Empty when there is no Link to relay. Field values come from Beast's parser, which
// refuses CR and LF in them (as for the final response head, http::build_response_head).
std::string early_hints_head(const http::node_fields& fields) {
    std::string out;
    for (const auto& f : fields) {
        if (!http::iequals(f.name_string(), "link") || f.value().empty()) {
            continue;
        }
        if (out.empty()) {
            out = "HTTP/1.1 103 Early Hints\r\n";
        }
        out.append("Link: ").append(f.value()).append("\r\n");
    }
    if (!out.empty()) {
        out.append("\r\n");
    }
    return out;
}

}  // namespace

session::session(worker_env& env, tcp::socket socket, boost::asio::ssl::context* tls)
    : env_(env),
      settings_(env.config),
      client_(tls ? net::stream(std::move(socket), *tls) : net::stream(std::move(socket))),
      client_dog_(client_.get_executor(), [this] { client_.close(); }),
      tls_(tls != nullptr) {
    error_code ec;
    const auto remote = client_.socket().remote_endpoint(ec);
    peer_ = ec ? "unknown" : remote.address().to_string();
    record_.client = peer_;
    if (!ec) {
        peer_key_ = ip_key::from(remote.address());
    }
    self_ = env_.sessions.insert(env_.sessions.end(), this);
    observe::bump(env_.counters->connections_active);
}

session::session(worker_env& env, net::stream client, const std::string& peer, const ip_key& key)
    : env_(env),
      settings_(env.config),
      client_(std::move(client)),
      client_dog_(client_.get_executor(), [this] { client_.close(); }),
      peer_(peer),
      peer_key_(key),
      tls_(true),  // the client's connection is TLS (X-Forwarded-Proto: https)
      h2_stream_(true) {
    record_.client = peer_;
    self_ = env_.sessions.insert(env_.sessions.end(), this);
}

session::~session() {
    env_.sessions.erase(self_);
    if (!h2_stream_) {
        env_.counters->connections_active.fetch_sub(1, std::memory_order_relaxed);
        env_.open_connections->fetch_sub(1, std::memory_order_relaxed);
    }
}

void session::log_failure(std::exception_ptr e) {
    if (!e) {
        return;
    }
    try {
        std::rethrow_exception(e);
    } catch (const std::exception& ex) {
        log::get("proxy")->error("session failed: {}", ex.what());
    }
}

void session::close_if_idle() {
    if (h2_) {
        h2_->drain();  // GOAWAY: running streams finish, the connection ends after them
    } else if (idle_) {
        client_.close();
    }
}

void session::abort() {
    client_.close();
    if (active_upstream_ != nullptr) {
        active_upstream_->stream.close();
    }
}

awaitable<void> session::run(std::unique_ptr<session> self) {
    // One coroutine frame for the connection's life (an idle connection holds this frame, the
    // pending read's state and the session: docs/benchmarks.md, "Round 4").
    session& s = *self;
    bool open = true;
    if (!s.h2_stream_) {
        net::tune_socket(s.client_.socket());
    }
    if (s.client_.is_tls()) {
        s.client_dog_.arm(s.settings_->timeout.client_head);
        auto [ec] = co_await s.client_.async_handshake(net::stream::role::server, use_nothrow);
        open = !ec;  // scanners, old clients, timeouts: nothing to answer
        if (open && h2_frontend::negotiated(s.client_)) {
            co_await h2_frontend::serve(s);
            open = false;
        }
    }
    bool first = true;
    while (open) {
        if (!first && s.in_.size() == 0 && !s.client_.is_tls() && !s.h2_stream_ &&
            s.bufferless_idle_) {
            // Between requests on a plain connection that was last idle for long (or never):
            // wait for readability here, so that it holds no read buffer and no read_head frame
            // while idle (finding 6). The wait costs an epoll_ctl that the buffered read in
            // read_head does not (about 7 % of cache-hit requests/s when paid on every request:
            // docs/benchmarks.md, "Round 4"), so busy connections keep reading there.
            s.client_dog_.arm(s.settings_->timeout.client_idle);
            s.idle_ = true;
            auto step = s.read_idle();
            while (step == idle_step::wait) {
                auto [ec] =
                    co_await s.client_.socket().async_wait(tcp::socket::wait_read, use_nothrow);
                if (ec) {
                    if (s.client_dog_.fired()) {
                        observe::bump(s.env_.counters->client_timeouts);
                        s.env_.counters->refusals.bump(observe::refusal::idle_timeout);
                    }
                    step = idle_step::closed;
                    break;
                }
                step = s.read_idle();  // readable: bytes (or EOF) are there
            }
            if (step == idle_step::closed) {
                break;
            }
        }
        if (!co_await s.read_head(first)) {
            s.finish_request();
            break;
        }
        first = false;
        // Long gaps between requests predict long idle waits: the next wait is bufferless
        // after one (and after the first request).
        s.bufferless_idle_ = s.record_.start - s.last_request_ >= long_idle;
        s.last_request_ = s.record_.start;
        const bool keep = co_await s.handle_request();
        s.finish_request();
        s.in_.consume(s.head_.size + s.body_buffered_);
        s.head_.clear();
        s.release_body();
        s.head_deadline_ = {};
        if (!keep || s.env_.draining) {
            break;
        }
    }
    // TLS: end with close_notify (RFC 8446 §6.1) so clients can tell a complete response
    // stream from a truncated one. Bounded: a peer that never answers costs one second.
    if (s.client_.is_tls() && s.client_.socket().is_open()) {
        s.client_dog_.arm(std::chrono::seconds(1));
        co_await s.client_.async_shutdown(use_nothrow);
    }
    s.client_.close();
}

// A plain keep-alive connection between requests: reads what is there without waiting (into
// in_; read_head then usually finds the whole head without another read). When nothing is
// there, the connection goes idle holding no buffers (in_, scratch_ and the field list are
// released) and the caller queues a readiness wait, in the same turn of the event loop as this
// read, so no readiness event can fall between the two: bytes that arrived while no read was
// pending are picked up here.
session::idle_step session::read_idle() {
    const auto room = in_.prepare(idle_read);
    ssize_t n = 0;
    do {
        n = ::recv(client_.socket().native_handle(), room.data(), room.size(), MSG_DONTWAIT);
    } while (n < 0 && errno == EINTR);
    if (n > 0) {
        in_.commit(static_cast<std::size_t>(n));
        idle_ = false;
        arm_head_deadline();  // from the first byte (slowloris)
        return idle_step::ready;
    }
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        in_.shrink_to_fit();  // empty: frees the buffer
        std::string().swap(scratch_);
        std::vector<http::field>().swap(head_.fields);
        return idle_step::wait;
    }
    return idle_step::closed;  // the client closed the connection (or it failed) while idle
}

// Reads until a complete, valid head is at the front of in_. Answers invalid heads itself.
// Returns false when the connection should close.
awaitable<bool> session::read_head(bool first) {
    const auto& s = *settings_;
    bool waiting_for_first_byte = in_.size() == 0;
    if (waiting_for_first_byte && in_.capacity() > idle_read) {
        in_.shrink_to_fit();  // idle connections hold a small buffer only (finding 6)
    }
    if (waiting_for_first_byte && !first) {
        client_dog_.arm(s.timeout.client_idle);
        idle_ = true;
    } else if (!waiting_for_first_byte && head_deadline_ != net::watchdog::clock::time_point{}) {
        client_dog_.arm_at(head_deadline_);  // read_idle() got the first bytes and armed it
    } else {
        arm_head_deadline();  // a new connection, or a pipelined request already buffered
    }
    while (true) {
        if (in_.size() != 0) {
            const std::string_view raw(static_cast<const char*>(in_.data().data()), in_.size());
            if (head_.fields.capacity() == 0 && !tls_) {
                // Plain connections release it when idle: one allocation, not one per doubling.
                head_.fields.reserve(fields_reserved);
            }
            const auto pr = http::parse_request_head(raw, s.head, head_);
            if (pr.state == http::parse_state::complete) {
                // The head deadline is over; the node's own deadlines run from here, and the
                // next client write arms the send deadline (a node slower than client_head to
                // answer must not cost the client its connection).
                client_dog_.disarm();
                idle_ = false;
                record_.begin();
                record_.method.assign(head_.method);
                record_.path.assign(head_.target.substr(0, head_.target.find('?')));
                record_.version = h2_stream_ ? 20 : head_.version;
                observe::bump(env_.counters->requests);
                co_return true;
            }
            if (pr.state == http::parse_state::invalid) {
                idle_ = false;
                record_.begin();
                observe::bump(env_.counters->rejected);
                env_.counters->refusals.bump_status(pr.status);
                co_await reply(pr.status, false);
                co_return false;
            }
        }
        // While idle, a small read waits (most request heads fit; a longer one continues into a
        // grown buffer at once).
        const std::size_t chunk = waiting_for_first_byte && !first ? idle_read : read_chunk;
        const std::size_t room = std::min(chunk, s.head.max_bytes - in_.size());
        // Plain connections read with net::async_drain_read, which spares the speculative recv()
        // before each next request (TCP_INQ comes from the listener: net::open_listener).
        auto [ec, n] =
            tls_ ? co_await client_.async_read_some(in_.prepare(room), use_nothrow)
                 : co_await net::async_drain_read(client_.socket(), in_.prepare(room), use_nothrow);
        in_.commit(n);
        if (ec) {
            if (client_dog_.fired()) {
                observe::bump(env_.counters->client_timeouts);
                env_.counters->refusals.bump(waiting_for_first_byte && !first
                                                 ? observe::refusal::idle_timeout
                                                 : observe::refusal::head_timeout);
            }
            co_return false;
        }
        if (waiting_for_first_byte && n > 0) {
            // The idle wait is over; the head deadline runs from the first byte (slowloris).
            waiting_for_first_byte = false;
            idle_ = false;
            arm_head_deadline();
        }
    }
}

awaitable<bool> session::write_client(std::string_view bytes) {
    client_dog_.arm(settings_->timeout.client_send);
    auto [ec, n] = co_await asio::async_write(client_, asio::buffer(bytes), use_nothrow);
    client_dog_.disarm();
    if (ec && client_dog_.fired()) {
        env_.counters->refusals.bump(observe::refusal::send_timeout);
    }
    co_return !ec;
}

awaitable<bool> session::reply(unsigned status, bool keep_alive, std::string_view node_id,
                               std::string_view extra_headers) {
    env_.counters->count_status(status);
    record_.status = status;
    http::local_reply_options o;
    o.head_method = head_.method == "HEAD";
    o.close = !keep_alive;
    o.node_id = node_id;
    o.extra_headers = extra_headers;
    const std::string bytes = http::make_local_reply(status, o);
    const bool ok = co_await write_client(bytes);
    co_return ok&& keep_alive;
}

void session::arm_head_deadline() {
    head_deadline_ = net::watchdog::clock::now() + settings_->timeout.client_head;
    client_dog_.arm_at(head_deadline_);
}

// The body follows the head on the connection: what came with the head is in in_ (consumed with
// the head when the request ends), the rest is read straight into body_, exactly as much as
// announced, so a pipelined next request stays on the socket for read_head. The head's deadline
// covers the body too: a slow body is a slow request (slowloris).
awaitable<bool> session::read_body(const http::gate_result& gate) {
    const auto length = static_cast<std::size_t>(gate.body_length);
    const std::size_t buffered = std::min(in_.size() - head_.size, length);
    const auto* start = static_cast<const char*>(in_.data().data()) + head_.size;
    body_.assign(start, buffered);
    body_buffered_ = buffered;
    if (buffered == length) {
        co_return true;
    }
    // RFC 9110 §10.1.1: a client that expects 100-continue may wait for it before sending.
    if (gate.expect_continue && !co_await write_client("HTTP/1.1 100 Continue\r\n\r\n")) {
        co_return false;
    }
    body_.resize(length);
    client_dog_.arm_at(head_deadline_);
    auto [ec, n] = co_await asio::async_read(
        client_, asio::buffer(body_.data() + buffered, length - buffered), use_nothrow);
    client_dog_.disarm();
    if (ec) {
        if (client_dog_.fired()) {
            observe::bump(env_.counters->client_timeouts);
            env_.counters->refusals.bump(observe::refusal::body_timeout);
        }
        co_return false;
    }
    co_return true;
}

void session::release_body() {
    body_buffered_ = 0;
    if (body_.capacity() != 0) {
        std::string().swap(body_);
    }
}

awaitable<bool> session::handle_request() {
    // Every request costs a token, refused ones included: a flood of bad requests is a flood.
    if (const unsigned wait = env_.per_ip->take_request(peer_key_); wait != 0) {
        observe::bump(env_.counters->rejected);
        env_.counters->refusals.bump(observe::refusal::ip_rate);
        const std::string retry = "Retry-After: " + std::to_string(wait) + "\r\n";
        co_return co_await reply(429, false, {}, retry);
    }
    exchange x;
    x.table = env_.table;
    x.gate = http::inspect(head_, settings_->gate,
                           post_allowance_of(*x.table, head_.method, head_.target));
    if (x.gate.status != 0) {
        observe::bump(env_.counters->rejected);
        env_.counters->refusals.bump_status(x.gate.status);
        const std::string_view allow = x.gate.status == 405 ? "Allow: GET, HEAD\r\n" : "";
        co_return co_await reply(x.gate.status, false, {}, allow);
    }
    if (x.gate.post && !co_await read_body(x.gate)) {
        co_return false;  // the client did not send its body in time (or failed)
    }
    x.node = x.table->find(x.gate.target.first);
    if (x.node == nullptr || !x.node->has_mount(x.gate.target.second)) {
        // Routing miss: a legitimate client may still send good requests on this connection.
        observe::bump(env_.counters->not_found);
        co_return co_await reply(404, x.gate.keep_alive && !x.gate.websocket);
    }
    record_.node = x.node->id;
    if (x.gate.post) {
        x.post = post_rule_of(*x.node, x.gate.target);  // never null: the gate asked the same
    }
    if (!x.node->health->admits()) {
        // Marked unhealthy: answer at once instead of letting the browser wait for a timeout.
        observe::bump(env_.counters->node_unavailable);
        const auto ms = x.node->health->options().retry_after.count();
        const std::string retry =
            "Retry-After: " + std::to_string(std::max<long long>(1, (ms + 999) / 1000)) + "\r\n";
        co_return co_await reply(503, x.gate.keep_alive && !x.gate.websocket, x.node->id, retry);
    }
    if (env_.cache != nullptr) {
        co_return co_await through_cache(x);
    }
    co_return co_await forward(x);
}

// Sends the request upstream on a pooled or new connection and reads the response head into
// x.parser. Retries once on a fresh connection when a pooled one turns out to be stale. Answers
// the client itself (502/504) and returns false on failure.
awaitable<bool> session::send_upstream(exchange& x) {
    const auto& s = *settings_;
    const auto& node = *x.node;
    http::forward_context fc;
    fc.upstream_authority = node.authority;
    fc.client_address = peer_;
    fc.client_tls = tls_;
    fc.public_authority = s.public_authority;
    fc.drop_conditionals = x.cache_fetch;
    fc.extra_fields = x.extra_fields;
    // gzip or nothing, whatever else the client takes: the cache decodes only gzip, and a node's
    // nginx (BBB's gzip settings) produces nothing else (docs/node-setup.md "Compression").
    if (!x.upstream_gzip) {
        std::string joined;
        bool present = false;
        const auto ae = accept_encoding_of(head_, joined, present);
        x.upstream_gzip = !x.gate.websocket && cache::accepts(ae, present, cache::coding::gzip);
    }
    if (*x.upstream_gzip) {
        fc.accept_encoding = "gzip";
    }
    if (x.gate.post) {
        fc.content_length = body_.size();  // ours: the client's was checked, then dropped
    }
    // A POST that is not a read (anything but a cached path, e.g. feedback) is never sent on a
    // pooled connection: a pooled connection may turn out closed by the node, and only a request
    // that may be repeated can then be retried (RFC 9110 §9.2.2).
    const bool retryable = !x.gate.post || (x.post != nullptr && x.post->cached);
    if (scratch_.capacity() < scratch_reserved && (!tls_ || h2_stream_)) {
        // Plain connections release it while idle, a stream session ends with its request: one
        // allocation, no regrowth. (An idle HTTP/1.1 TLS connection keeps it: grown, not 1 KiB.)
        scratch_.reserve(scratch_reserved);
    }
    http::build_upstream_request(head_, x.gate, fc, scratch_);
    const auto upstream_start = std::chrono::steady_clock::now();

    for (int attempt = 0; attempt < 2; ++attempt) {
        // The retry always connects afresh: the pool may hold more connections the node closed.
        x.up = attempt == 0 && retryable ? env_.pool->take(node.pool_key) : nullptr;
        x.pooled = x.up != nullptr;
        if (!x.up) {
            const upstream::target t{node.pool_key, node.upstream.host, node.upstream.port,
                                     node.upstream.tls()};
            auto c = co_await env_.pool->connect(t);
            if (!c.conn) {
                const bool timeout = c.ec == errc::timeout;
                observe::bump(env_.stats->nodes.get(node.id).connect_errors);
                observe::bump(timeout ? env_.counters->upstream_timeouts
                                      : env_.counters->upstream_errors);
                log::get("proxy")->debug("node {}: {}", node.id, c.message);
                log_health_change(*node.health, node.health->connect_failed(c.message), c.message);
                if (x.cache_fetch) {
                    x.failed_status = timeout ? 504 : 502;  // the cache step answers
                    co_return false;
                }
                co_await reply(timeout ? 504 : 502, false, node.id);
                co_return false;
            }
            node.health->connect_succeeded();
            x.up = std::move(c.conn);
        }
        active_upstream_ = x.up.get();
        x.up->requests++;
        // Room for a response head and a small body in one read (Beast reads up to the capacity).
        if (x.up->buffer.capacity() < upstream::pool::read_buffer_kept) {
            x.up->buffer.reserve(upstream::pool::read_buffer_kept);
        }

        x.up->dog.reset();
        x.up->dog.arm(s.timeout.upstream_response);
        const std::array<asio::const_buffer, 2> request{asio::buffer(scratch_),
                                                        asio::buffer(body_)};
        auto [wec, wn] = co_await asio::async_write(x.up->stream, request, use_nothrow);
        if (!wec) {
            x.new_parser(static_cast<std::uint32_t>(s.max_response_header_bytes),
                         x.gate.head_method);
            error_code rec;
            // Interim 1xx responses (other than 101) are consumed here: nothing we forward waits
            // for 100-continue. A 103 is relayed as its Link fields (early_hints_head) to clients
            // that may receive 1xx (RFC 9110 §15.2: not HTTP/1.0), a few per response; not before
            // a WebSocket 101. A write failure stops the hints only: a cache fill goes on for its
            // other clients, and otherwise the response write fails next.
            bool relay_hints = head_.version == 11 && !x.gate.websocket;
            int hints = 0;
            bool interim = false;  // the node answered something: the request is not retried
            while (true) {
                auto [ec, n] = co_await bhttp::async_read_header(x.up->stream, x.up->buffer,
                                                                 *x.parser, use_nothrow);
                rec = ec;
                if (ec) {
                    break;
                }
                const unsigned st = x.parser->get().result_int();
                if (st >= 100 && st < 200 && st != 101) {
                    interim = true;
                    if (st == 103 && relay_hints && hints < max_early_hints) {
                        const std::string hint = early_hints_head(x.parser->get());
                        if (!hint.empty()) {
                            ++hints;
                            relay_hints = co_await write_client(hint);
                        }
                    }
                    x.new_parser(static_cast<std::uint32_t>(s.max_response_header_bytes),
                                 x.gate.head_method);
                    continue;
                }
                break;
            }
            if (!rec) {
                record_.upstream = std::chrono::duration_cast<std::chrono::microseconds>(
                    std::chrono::steady_clock::now() - upstream_start);
                co_return true;
            }
            wec = rec;
            if (x.parser->got_some() || interim) {
                wec = bhttp::error::partial_message;
            }
        }
        const bool timed_out = x.up->dog.fired();
        x.up->stream.close();
        x.up.reset();
        active_upstream_ = nullptr;
        if (!timed_out && x.pooled && attempt == 0 && is_stale_connection_error(wec)) {
            observe::bump(env_.counters->upstream_retries);
            continue;
        }
        observe::bump(timed_out ? env_.counters->upstream_timeouts
                                : env_.counters->upstream_errors);
        log::get("proxy")->debug("node {}: {}", node.id,
                                 timed_out ? std::string("response timed out") : wec.message());
        if (x.cache_fetch) {
            x.failed_status = timed_out ? 504 : 502;  // the cache step answers
            co_return false;
        }
        co_await reply(timed_out ? 504 : 502, false, node.id);
        co_return false;
    }
    co_return false;  // unreachable: the second attempt always returns
}

awaitable<bool> session::forward(exchange& x) {
    bool keep = false;
    if (co_await send_upstream(x)) {
        keep = co_await relay_response(x);
    }
    if (x.up) {
        x.up->dog.disarm();
    }
    active_upstream_ = nullptr;
    relay_.release();
    co_return keep;
}

// Relays the response whose head is in x.parser. Returns whether the client connection stays open.
awaitable<bool> session::relay_response(exchange& x) {
    const auto& s = *settings_;
    auto& p = *x.parser;
    const auto& res = p.get();
    const unsigned status = res.result_int();
    x.status = status;

    http::response_context rc;
    rc.node_origin = x.node->origin_text;
    rc.public_origin = s.public_origin;
    rc.node_id = x.node->id;
    rc.mounts = x.node->mounts;

    if (status == 101) {
        // A 101 is only acceptable as the answer to a valid WebSocket upgrade we forwarded, with
        // the accept value for the client's key (SECURITY.md "WebSocket").
        bool upgrade_ok = false;
        http::for_each_list_token(res[bhttp::field::upgrade], [&](std::string_view t) {
            upgrade_ok = upgrade_ok || http::iequals(t, "websocket");
        });
        const bool accept_ok =
            x.gate.websocket && res[bhttp::field::sec_websocket_accept] ==
                                    http::websocket_accept(head_.find("sec-websocket-key"));
        if (!upgrade_ok || !accept_ok) {
            x.up->stream.close();
            observe::bump(env_.counters->upstream_errors);
            co_await reply(502, false, x.node->id);
            co_return false;
        }
        rc.body = http::framing::none;
        rc.upgrade = true;
        http::build_response_head(status, res.reason(), res.base(), rc, scratch_);
        env_.counters->count_status(status);
        record_.status = status;
        if (!co_await write_client(scratch_)) {
            co_return false;
        }
        co_await tunnel(x);
        co_return false;
    }

    const bool no_body = x.gate.head_method || status == 204 || status == 304;
    http::framing framing;
    if (no_body) {
        framing = http::framing::none;
    } else if (p.content_length()) {
        framing = http::framing::content_length;
        rc.content_length = *p.content_length();
    } else if (head_.version == 11) {
        framing = http::framing::chunked;
    } else {
        framing = http::framing::close;
    }
    rc.body = framing;
    // After a WebSocket attempt that the node refused, the client connection is not reused: it
    // announced an upgrade and may not expect an ordinary response stream to continue.
    const bool keep_client = x.gate.keep_alive && !x.gate.websocket && head_.version == 11 &&
                             framing != http::framing::close && !env_.draining;
    rc.keep_alive = keep_client;
    http::build_response_head(status, res.reason(), res.base(), rc, scratch_);
    x.framing = framing;
    if (!no_body) {
        const auto ce = res[bhttp::field::content_encoding];
        record_.encoding.assign(ce.empty() ? std::string_view("identity") : std::string_view(ce));
    }
    x.pending_head = scratch_;  // goes out with the first body bytes, in one write

    bool complete = p.is_done();
    if (!complete && !co_await relay_body(x, complete)) {
        if (!x.pending_head.empty()) {
            // The node failed before the client got any of the response: it still gets a
            // 502/504 rather than a connection closed without an answer.
            x.pending_head = {};
            co_await reply(x.up->dog.fired() ? 504 : 502, false, x.node->id);
            co_return false;
        }
        env_.counters->count_status(status);
        record_.status = status;
        co_return false;
    }
    env_.counters->count_status(status);
    record_.status = status;
    if (!x.pending_head.empty() && !co_await deliver(x, {})) {
        co_return false;
    }
    if (framing == http::framing::chunked && !co_await write_client("0\r\n\r\n")) {
        co_return false;
    }

    // Back to the pool only after a cleanly delimited response with nothing left over.
    if (complete && p.keep_alive() && !x.gate.websocket && x.up->buffer.size() == 0 &&
        !p.need_eof()) {
        active_upstream_ = nullptr;
        env_.pool->give_back(x.node->pool_key, std::move(x.up));
    } else {
        x.up->stream.close();
    }
    co_return keep_client;
}

// Relays the body of the response whose head is in x.parser, chunk by chunk through deliver().
// Sets `complete` when the node's body ended cleanly. Returns false when the client connection
// must close (the node or the client failed mid-body).
awaitable<bool> session::relay_body(exchange& x, bool& complete) {
    const auto& s = *settings_;
    auto& p = *x.parser;
    auto& up = *x.up;
    const auto fail_upstream = [&] {
        // The node failed mid-body: the client already has our head (or will get a truncated
        // response), so the only honest signal left is to close without a clean end (SECURITY.md).
        up.stream.close();
        observe::bump(up.dog.fired() ? env_.counters->upstream_timeouts
                                     : env_.counters->upstream_errors);
    };

    if (const auto length = p.content_length()) {
        // Content-Length: no parser on the body. First the bytes that came with the head, then
        // reads straight into the relay buffer (finding 1: no copy, full-size reads).
        std::uint64_t left = *length;
        const std::size_t first =
            static_cast<std::size_t>(std::min<std::uint64_t>(left, up.buffer.size()));
        if (first != 0) {
            if (!co_await deliver(x, {static_cast<const char*>(up.buffer.data().data()), first})) {
                co_return false;
            }
            up.buffer.consume(first);
            left -= first;
        }
        while (left != 0) {
            up.dog.arm(s.timeout.upstream_read);
            // The read asks for the whole buffer even near the end, so what is there comes in
            // one read. Bytes beyond the declared length are junk: the connection is not reused.
            char* buf = relay_.data();
            auto [ec, n] = co_await up.stream.async_read_some(
                asio::buffer(buf, net::relay_buffer::size()), use_nothrow);
            if (n != 0) {
                const std::size_t use = static_cast<std::size_t>(std::min<std::uint64_t>(left, n));
                if (!co_await deliver(x, {buf, use})) {
                    co_return false;
                }
                left -= use;
                if (n > use) {
                    // More than Content-Length: the client has its response; the connection is
                    // not reused (complete stays false).
                    up.dog.disarm();
                    up.stream.close();
                    co_return true;
                }
            }
            if (ec && left != 0) {
                fail_upstream();
                co_return false;
            }
        }
        up.dog.disarm();
        complete = true;
        co_return true;
    }

    // Chunked or delimited by the node closing: Beast parses the framing into the relay buffer.
    if (up.buffer.capacity() < net::relay_buffer::size()) {
        up.buffer.reserve(net::relay_buffer::size());
    }
    char* buf = relay_.data();
    while (!p.is_done()) {
        p.get().body().data = buf;
        p.get().body().size = net::relay_buffer::size();
        up.dog.arm(s.timeout.upstream_read);
        auto [ec, n] = co_await bhttp::async_read(up.stream, up.buffer, p, use_nothrow);
        if (ec == bhttp::error::need_buffer) {
            ec = {};
        }
        const std::size_t got = net::relay_buffer::size() - p.get().body().size;
        if (got != 0 && !co_await deliver(x, {buf, got})) {
            co_return false;
        }
        if (ec) {
            fail_upstream();
            co_return false;
        }
    }
    up.dog.disarm();
    complete = true;
    co_return true;
}

// Every byte of a response body passes through here on its way to the client, in order
// (x.pending_head, if not yet sent, goes first in the same write; `body` empty = the head
// alone). A tee of the body (e.g. a cache fill) belongs here. Returns false when the client
// failed; the node's connection is then closed (the rest of this body is unwanted).
awaitable<bool> session::deliver(exchange& x, std::string_view body) {
    std::array<asio::const_buffer, 4> parts;
    std::size_t count = 0;
    if (!x.pending_head.empty()) {
        parts[count++] = asio::buffer(x.pending_head);
        x.pending_head = {};
    }
    char size_line[24];
    if (!body.empty()) {
        if (x.framing == http::framing::chunked) {
            const int len = std::snprintf(size_line, sizeof size_line, "%zx\r\n", body.size());
            parts[count++] = asio::buffer(size_line, static_cast<std::size_t>(len));
            parts[count++] = asio::buffer(body);
            parts[count++] = asio::buffer("\r\n", 2);
        } else {
            parts[count++] = asio::buffer(body);
        }
    }
    client_dog_.arm(settings_->timeout.client_send);
    auto [ec, n] = co_await asio::async_write(
        client_, std::span<const asio::const_buffer>(parts.data(), count), use_nothrow);
    client_dog_.disarm();
    if (ec) {
        x.up->stream.close();
        co_return false;
    }
    observe::bump(env_.counters->bytes_to_clients, body.size());
    record_.bytes += body.size();
    co_return true;
}

awaitable<void> session::tunnel(exchange& x) {
    const auto& s = *settings_;
    observe::bump(env_.counters->tunnels_opened);
    observe::bump(env_.counters->tunnels_active);
    auto& node_stats = env_.stats->nodes.get(x.node->id);
    observe::bump(node_stats.tunnels_opened);
    node_stats.tunnels_active.fetch_add(1, std::memory_order_relaxed);
    record_.tunnel = true;
    const auto tunnel_start = std::chrono::steady_clock::now();
    auto& up = *x.up;
    net::watchdog idle_dog(client_.get_executor(), [&] {
        client_.close();
        up.stream.close();
    });
    client_dog_.disarm();
    up.dog.disarm();
    idle_dog.arm(s.timeout.tunnel_idle);

    // Bytes that arrived behind the heads belong to the tunnel.
    const std::size_t client_extra = in_.size() - head_.size;
    bool ok = true;
    if (client_extra != 0) {
        const auto* start = static_cast<const char*>(in_.data().data()) + head_.size;
        auto [ec, n] =
            co_await asio::async_write(up.stream, asio::buffer(start, client_extra), use_nothrow);
        ok = !ec;
        in_.consume(client_extra);
    }
    if (ok && up.buffer.size() != 0) {
        auto [ec, n] = co_await asio::async_write(client_, up.buffer.data(), use_nothrow);
        ok = !ec;
        up.buffer.consume(up.buffer.size());
    }

    // One pump per direction; when either side ends, both sockets close so the other pump ends
    // too (no reliance on per-operation cancellation support of the TLS stream).
    auto pump = [&](net::stream& from, net::stream& to, std::atomic<std::uint64_t>& node_bytes,
                    std::uint64_t& record_bytes) -> awaitable<void> {
        auto buf = std::make_unique<char[]>(tunnel_chunk);
        while (true) {
            auto [rec, n] =
                co_await from.async_read_some(asio::buffer(buf.get(), tunnel_chunk), use_nothrow);
            if (n != 0) {
                idle_dog.arm(s.timeout.tunnel_idle);
                auto [wec, wn] =
                    co_await asio::async_write(to, asio::buffer(buf.get(), n), use_nothrow);
                if (wec) {
                    break;
                }
                observe::bump(node_bytes, n);
                record_bytes += n;
            }
            if (rec) {
                break;
            }
        }
        // The other pump is blocked in a read: the node side can simply close; the client side is
        // only cancelled, so run() can still end a TLS connection with close_notify.
        up.stream.close();
        error_code ignored;
        client_.socket().cancel(ignored);
    };
    if (ok) {
        co_await (pump(client_, up.stream, node_stats.tunnel_bytes_to_node,
                       record_.tunnel_bytes_to_node) &&
                  pump(up.stream, client_, node_stats.tunnel_bytes_to_client,
                       record_.tunnel_bytes_to_client));
    }
    up.stream.close();
    if (idle_dog.fired()) {
        env_.counters->refusals.bump(observe::refusal::tunnel_idle);
    }
    env_.counters->tunnels_active.fetch_sub(1, std::memory_order_relaxed);
    node_stats.tunnels_active.fetch_sub(1, std::memory_order_relaxed);
    record_.tunnel_duration = std::chrono::duration_cast<std::chrono::microseconds>(
        std::chrono::steady_clock::now() - tunnel_start);
}

void session::finish_request() {
    if (!record_.started) {
        return;
    }
    record_.duration = record_.since_start();
    auto& stats = env_.stats->nodes.get(record_.node.empty() ? observe::no_node : record_.node);
    if (record_.status != 0) {
        stats.count_response(record_.status);
        if (!record_.tunnel) {
            stats.duration.observe(record_.duration);
        }
    }
    observe::bump(stats.response_bytes, record_.bytes);
    if (record_.upstream) {
        stats.ttfb.observe(*record_.upstream);
    }
    env_.access_log->append(record_);
    record_.reset();
}

}  // namespace bcp::proxy
