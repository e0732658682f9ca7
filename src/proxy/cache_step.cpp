#include "proxy/cache_step.hpp"

#include "cache/codec.hpp"
#include "cache/dictionary.hpp"
#include "cache/encoding.hpp"
#include "core/coroutine_warnings.hpp"
#include "core/log.hpp"
#include "core/text.hpp"
#include "http/rewrite.hpp"
#include "proxy/exchange.hpp"

#include <boost/asio/write.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/read.hpp>

#include <array>
#include <charconv>
#include <chrono>
#include <cstring>
#include <span>

namespace bcp::proxy {
namespace bhttp = boost::beast::http;
using namespace boost::asio::experimental::awaitable_operators;

namespace {

using clock = std::chrono::steady_clock;

std::string_view label_text(int l) {
    static constexpr std::array<std::string_view, 4> names{"HIT", "MISS", "STALE", "REVALIDATED"};
    return names[static_cast<std::size_t>(l)];
}

// Fields named in RFC 9110 §15.4.5 that a 304 carries when the 200 would.
bool is_304_field(std::string_view name) {
    return http::iequals(name, "cache-control") || http::iequals(name, "content-location") ||
           http::iequals(name, "date") || http::iequals(name, "etag") ||
           http::iequals(name, "expires") || http::iequals(name, "vary") ||
           http::iequals(name, "last-modified");
}

// Response fields never stored: framing and hop-by-hop ones (re-generated per response), Age
// (we generate our own, §5.1), Set-Cookie (never shared; such responses are not stored, and a
// 304 carrying one must not plant it in the entry either).
bool is_unstored_field(std::string_view name) {
    return http::is_hop_by_hop(name) || http::iequals(name, "age") ||
           http::iequals(name, "content-length") || http::iequals(name, "set-cookie");
}

std::vector<std::string_view> connection_tokens(const http::node_fields& fields) {
    std::vector<std::string_view> out;
    for (const auto& f : fields) {
        if (http::iequals(f.name_string(), "connection")) {
            http::for_each_list_token(f.value(), [&](std::string_view t) { out.push_back(t); });
        }
    }
    return out;
}

bool nominated(const std::vector<std::string_view>& tokens, std::string_view name) {
    for (auto t : tokens) {
        if (http::iequals(t, name)) {
            return true;
        }
    }
    return false;
}

std::vector<cache::header_field> view_of(const http::node_fields& fields) {
    std::vector<cache::header_field> out;
    for (const auto& f : fields) {
        out.push_back({f.name_string(), f.value()});
    }
    return out;
}

const auto trim = http::trim_ows;

// The node's content coding: "" for none (identity), else the field value as sent (several
// codings stay one opaque value: the cache does not unstack them).
std::string_view content_coding(const http::node_fields& fields) {
    const auto it = fields.find(bhttp::field::content_encoding);
    if (it == fields.end()) {
        return {};
    }
    const auto v = trim(it->value());
    return http::iequals(v, "identity") ? std::string_view{} : v;
}

std::string_view field_value(const std::vector<std::pair<std::string, std::string>>& fields,
                             std::string_view name) {
    for (const auto& [n, v] : fields) {
        if (http::iequals(n, name)) {
            return v;
        }
    }
    return {};
}

// A gather list for [from, upto) of a fill, with room for a head before and framing around it:
// max_write spans at most max_write / segment_size + 1 segments, plus head, tail, chunk size
// line and chunk end.
constexpr std::size_t max_write = 1 << 20;  // per write: bounded gather lists, fair to others
struct gather {
    std::array<asio::const_buffer, max_write / cache::fill_buffer::segment_size + 5> parts;
    std::size_t count = 0;
    void push_back(asio::const_buffer b) { parts[count++] = b; }
    std::span<const asio::const_buffer> view() const { return {parts.data(), count}; }
};

}  // namespace

awaitable<bool> session::through_cache(exchange& x) {
    cache_step step(*this, x);
    co_return co_await step.run();
}

cache_step::cache_step(session& s, session::exchange& x)
    : s_(s), x_(x), cache_(*s.env_.cache), counters_(*s.env_.cache_counters) {}

template <class Buffers>
awaitable<bool> cache_step::send(const Buffers& buffers) {
    s_.client_dog_.arm(s_.settings_->timeout.client_send);
    auto [ec, n] = co_await asio::async_write(s_.client_, buffers, use_nothrow);
    s_.client_dog_.disarm();
    co_return !ec;
}

bool cache_step::keep_alive() const {
    return x_.gate.keep_alive && s_.head_.version == 11 && !s_.env_.draining;
}

bool cache_step::not_modified(std::string_view etag, const cache::entry& e) const {
    if (post_) {
        return false;  // RFC 9110 §13.2.1: conditionals are evaluated for GET and HEAD only here
    }
    const auto inm = s_.head_.find("if-none-match");
    return cache::not_modified(inm, inm.data() != nullptr, s_.head_.find("if-modified-since"), etag,
                               e.last_modified);
}

// Without snprintf: it was an eighth of the instructions of a cache hit (docs/benchmarks.md,
// "Round 4").
std::string_view cache_step::tail(const cache::entry* e, label l, const body_framing& f, char* buf,
                                  std::size_t cap) const {
    const long long age = e != nullptr ? e->age(std::time(nullptr)) : 0;
    char* out = buf;
    char* const end = buf + cap;
    const auto put = [&](std::string_view text) {
        const std::size_t n =
            std::min<std::size_t>(text.size(), static_cast<std::size_t>(end - out));
        std::memcpy(out, text.data(), n);
        out += n;
    };
    if (!f.content_encoding.empty()) {
        put("Content-Encoding: ");
        put(f.content_encoding);
        put("\r\n");
    }
    if (f.length) {
        put("Content-Length: ");
        out = std::to_chars(out, end, *f.length).ptr;
        put("\r\n");
    } else if (f.chunked) {
        put("Transfer-Encoding: chunked\r\n");
    }
    put("Age: ");
    out = std::to_chars(out, end, age).ptr;
    put("\r\n");
    if (cache_.options().x_cache_header) {
        put("X-Cache: ");
        put(label_text(static_cast<int>(l)));
        put("\r\n");
    }
    if (!keep_alive()) {
        put("Connection: close\r\n");
    }
    put("\r\n");  // the end of the head
    return {buf, static_cast<std::size_t>(out - buf)};
}

void cache_step::answering(unsigned status, label l, cache::coding c) {
    s_.env_.counters->count_status(status);
    s_.record_.status = status;
    s_.record_.cache.assign(label_text(static_cast<int>(l)));
    s_.record_.encoding.assign(cache::to_token(c));
}

void cache_step::sent_body(std::size_t n) {
    observe::bump(s_.env_.counters->bytes_to_clients, n);
    s_.record_.bytes += n;
}

void cache_step::sent_coded(cache::coding c, std::size_t n, std::size_t identity) {
    const auto i = static_cast<std::size_t>(c);
    counters_.bytes_served.fetch_add(n, std::memory_order_relaxed);
    counters_.coding_bytes[i].fetch_add(n, std::memory_order_relaxed);
    counters_.coding_identity_bytes[i].fetch_add(identity, std::memory_order_relaxed);
}

awaitable<bool> cache_step::run() {
    const auto& h = s_.head_;
    std::string request_cc;
    for (const auto& f : h.fields) {
        if (http::iequals(f.name, "cache-control")) {
            request_cc.append(f.value).push_back(',');
        }
    }
    const auto rcc =
        request_cc.empty() ? cache::cache_control{} : cache::parse_cache_control(request_cc);
    const bool no_store = rcc.no_store;
    no_transform_ = rcc.no_transform;
    if (x_.gate.post && !x_.post->cached) {
        co_return co_await s_.forward(x_);  // a POST that is not a read (feedback): never stored
    }
    post_ = x_.gate.post;
    if (x_.gate.websocket || no_store || h.find("range").data() != nullptr) {
        counters_.bypass.fetch_add(1, std::memory_order_relaxed);
        co_return co_await s_.forward(x_);
    }
    accept_encoding_ = accept_encoding_of(h, accept_joined_, accept_encoding_present_);
    key_.reserve(x_.node->id.size() + 1 + h.target.size());
    key_.append(x_.node->id).append(" ").append(h.target);
    if (post_) {
        // The body selects the answer: its hash is part of the key (a GET key has no second
        // space after the target's start, which is always '/').
        cache::sha256 hash;
        hash.update(s_.body_.data(), s_.body_.size());
        key_.append(" POST ").append(cache::to_hex(hash.finish()));
    } else {
        credentials_ =
            h.find("authorization").data() != nullptr || h.find("cookie").data() != nullptr;
    }

    const auto now = std::time(nullptr);
    auto e = cache_.entries().find(key_, h);
    if (e && credentials_ && !e->explicitly_public) {
        e = nullptr;  // §3.5: not for requests with credentials; they fetch (and may store) anew
    }
    if (e && e->fresh(now)) {
        counters_.hits.fetch_add(1, std::memory_order_relaxed);
        co_return co_await serve_entry(*e, label::hit);
    }
    if (x_.gate.head_method || cache_.oversize(key_)) {
        counters_.bypass.fetch_add(1, std::memory_order_relaxed);
        co_return co_await s_.forward(x_);
    }

    // Requests that could be served by the same response coalesce: same key, the same coding
    // asked of the node (gzip or none: a waiter is streamed the node's bytes as they come), and
    // the same values of the other headers the stored response varies on. Decided here, off the
    // hit path, and reused by send_upstream.
    x_.upstream_gzip =
        cache::accepts(accept_encoding_, accept_encoding_present_, cache::coding::gzip);
    std::string flight_key = key_;
    flight_key.append(*x_.upstream_gzip ? "\n~gzip" : "\n~identity");
    if (e) {
        for (const auto& v : e->vary) {
            flight_key.append("\n").append(v.name).append(":");
            flight_key.append(cache::vary_value(h, v.name).value_or("\x01"));
        }
    }
    bool leader = false;
    auto f = cache_.flights().lead_or_join(flight_key, leader);
    if (!leader) {
        co_return co_await wait_on(std::move(f), std::move(e));
    }
    cache::leadership lead(cache_.flights(), std::move(f));
    if (!e) {
        // A flight for this key may have published its entry between our lookup and now.
        auto again = cache_.entries().find(key_, h);
        if (again && (!credentials_ || again->explicitly_public) && again->fresh(now)) {
            lead.get().complete(again);
            lead.close();
            counters_.hits.fetch_add(1, std::memory_order_relaxed);
            co_return co_await serve_entry(*again, label::hit);
        }
    }
    co_return co_await this->lead(lead, std::move(e));
}

awaitable<bool> cache_step::wait_on(std::shared_ptr<cache::flight> f,
                                    std::shared_ptr<const cache::entry> stale) {
    auto w = f->join(s_.client_.get_executor());
    bool fallback = false;
    const bool keep = co_await stream_from(*f, *w, label::hit, fallback);
    if (!fallback) {
        counters_.coalesced.fetch_add(1, std::memory_order_relaxed);
        co_return keep;
    }
    const auto v = f->peek();
    const auto now = std::time(nullptr);
    if (v.s == cache::flight::state::failed && stale &&
        cache::may_serve_stale_on_error(stale->cc, stale->stale_for(now),
                                        cache_.options().stale_if_error)) {
        counters_.stale.fetch_add(1, std::memory_order_relaxed);
        co_return co_await serve_entry(*stale, label::stale);
    }
    // The flight could not serve this request (not shareable, failed, too slow): fetch directly.
    counters_.bypass.fetch_add(1, std::memory_order_relaxed);
    co_return co_await s_.forward(x_);
}

awaitable<bool> cache_step::stream_from(cache::flight& f, cache::flight::waiter& w, label l,
                                        bool& fallback) {
    const auto& timeouts = s_.settings_->timeout;
    auto v = co_await f.next(w, false, 0, clock::now() + cache_.options().coalesce_wait);
    using st = cache::flight::state;
    if (v.s == st::complete && v.result) {
        // Published (a fill that ended, or a stale entry refreshed by a 304): served like a hit,
        // in the coding this client negotiates.
        if ((credentials_ && !v.result->explicitly_public) || !v.result->matches(s_.head_)) {
            fallback = true;
            co_return false;
        }
        co_return co_await serve_entry(*v.result, l);
    }
    if ((v.s != st::streaming && v.s != st::complete) || !v.meta || !v.fill) {
        fallback = true;
        co_return false;
    }
    // The node's response as it arrives: its own head fields (Content-Encoding and ETag
    // included), our framing: its Content-Length when it sent one, else chunked (HTTP/1.1) or
    // the end of the connection (HTTP/1.0, where keep_alive() is false anyway).
    const auto meta = v.meta;
    const auto fill = v.fill;
    if ((credentials_ && !meta->explicitly_public) || !meta->matches(s_.head_)) {
        fallback = true;
        co_return false;
    }
    const auto raw_coding =
        cache::coding_from_token(trim(field_value(meta->fields, "content-encoding")))
            .value_or(cache::coding::identity);
    const bool keep = keep_alive();
    std::array<char, 256> tail_buf;
    if (not_modified(meta->etag, *meta)) {
        answering(304, l, raw_coding);
        const auto t = tail(meta.get(), l, {}, tail_buf.data(), tail_buf.size());
        const std::array<asio::const_buffer, 2> parts{asio::buffer(meta->head_304),
                                                      asio::buffer(t)};
        co_return co_await send(parts) && keep;
    }
    body_framing bf;
    if (meta->sized) {
        bf.length = meta->length;
    } else {
        bf.chunked = s_.head_.version == 11;
    }
    const auto t = tail(meta.get(), l, bf, tail_buf.data(), tail_buf.size());
    answering(200, l, raw_coding);
    bool head_sent = false;
    std::size_t sent = 0;
    while (true) {
        if (v.filled > sent || !head_sent) {
            const std::size_t upto = std::min(v.filled, sent + max_write);
            const std::size_t n = upto - sent;
            gather parts;
            if (!head_sent) {
                parts.push_back(asio::buffer(meta->head));
                parts.push_back(asio::buffer(t));
            }
            std::array<char, 24> size_line;
            if (bf.chunked && n != 0) {
                char* e = std::to_chars(size_line.data(), size_line.data() + 16, n, 16).ptr;
                *e++ = '\r';
                *e++ = '\n';
                parts.push_back(
                    asio::buffer(size_line.data(), static_cast<std::size_t>(e - size_line.data())));
            }
            fill->for_each(sent, upto, [&](std::string_view piece) {
                parts.push_back(asio::buffer(piece.data(), piece.size()));
            });
            if (bf.chunked && n != 0) {
                parts.push_back(asio::buffer("\r\n", 2));
            }
            if (!co_await send(parts.view())) {
                co_return false;
            }
            head_sent = true;
            sent = upto;
            sent_body(n);
            // The identity size a node's gzip stands for is not known while it streams.
            sent_coded(raw_coding, n, raw_coding == cache::coding::identity ? n : 0);
            continue;  // anything left of what was published goes out before waiting again
        }
        if (meta->sized && sent == meta->length) {
            co_return keep;
        }
        if (v.s == st::complete) {
            // The fill ended (stored or not): every byte is published.
            if (bf.chunked && !co_await send(asio::buffer("0\r\n\r\n", 5))) {
                co_return false;
            }
            co_return keep && (meta->sized || bf.chunked);
        }
        if (v.s != st::streaming) {
            // The node failed mid-body: the client has our head, so closing without a clean end
            // is the only honest signal (as in relay_response).
            co_return false;
        }
        v = co_await f.next(w, true, sent,
                            clock::now() + timeouts.upstream_read + std::chrono::seconds(1));
        if (v.timed_out) {
            co_return false;
        }
    }
}

awaitable<bool> cache_step::serve_entry(const cache::entry& e, label l) {
    const bool keep = keep_alive();
    auto c = cache::coding::identity;
    std::string_view bytes = e.content->view();
    if (e.encodable && !credentials_) {
        // No compressed answers to requests with credentials (BREACH-style secrets). A request
        // with no-transform (RFC 9110 §7.7) may only get the coding the node itself sent.
        const unsigned offered =
            no_transform_ ? cache::bit(e.node_etag_coding) : e.content->available();
        c = cache::negotiate(accept_encoding_, accept_encoding_present_,
                             offered & e.content->available());
        if (const auto* v = e.content->variant(c)) {
            bytes = *v;
        } else {
            c = cache::coding::identity;
        }
    } else if (!e.encodable) {
        // Opaque: the body is in the node's coding (for the figures; its head says so already).
        c = cache::coding_from_token(trim(field_value(e.fields, "content-encoding")))
                .value_or(cache::coding::identity);
    }
    // A delta against the dictionary the client holds, when it is smaller than that coding.
    std::string dcz_etag;
    const auto delta = delta_for(e);
    std::size_t dcz_saved = 0;
    if (delta && delta->bytes.size() < bytes.size()) {
        dcz_saved = bytes.size() - delta->bytes.size();
        c = cache::coding::dcz;
        bytes = delta->bytes;
        // Its own validator: the identity one with the coding and the dictionary's hash.
        const auto& identity = e.etags[0];
        dcz_etag.assign(identity, 0, identity.size() - 1).append("-dcz-");
        dcz_etag.append(to_hex(std::span<const std::uint8_t>(delta->dictionary.data(), 4)));
        dcz_etag.push_back('"');
    }
    const auto ci = static_cast<std::size_t>(c);
    // An encodable entry's head has no ETag: the chosen coding's goes after it.
    std::string_view etag = c == cache::coding::dcz ? std::string_view(dcz_etag)
                            : e.encodable           ? std::string_view(e.etags[ci])
                                                    : e.etag;
    bool matched = not_modified(etag, e);
    if (!matched && e.encodable && c == e.node_etag_coding && !e.etag.empty() &&
        not_modified(e.etag, e)) {
        // The node's ETag, which a fill's first answer carried, names these same bytes: the 304
        // carries it back, so the client's stored response is the one it updates (RFC 9111
        // §4.3.4 matches by strong validator).
        matched = true;
        etag = e.etag;
    }
    const bool etag_line = e.encodable && !etag.empty();
    const asio::const_buffer etag_name =
        etag_line ? asio::buffer("ETag: ", 6) : asio::const_buffer();
    const asio::const_buffer etag_end = etag_line ? asio::buffer("\r\n", 2) : asio::const_buffer();
    std::array<char, 256> tail_buf;
    if (matched) {
        answering(304, l, c);
        const auto t = tail(&e, l, {}, tail_buf.data(), tail_buf.size());
        const std::array<asio::const_buffer, 5> parts{asio::buffer(e.head_304), etag_name,
                                                      asio::buffer(etag_line ? etag : ""), etag_end,
                                                      asio::buffer(t)};
        co_return co_await send(parts) && keep;
    }
    answering(200, l, c);
    body_framing bf;
    bf.length = bytes.size();
    if (e.encodable && c != cache::coding::identity) {
        bf.content_encoding = cache::to_token(c);
    }
    const auto t = tail(&e, l, bf, tail_buf.data(), tail_buf.size());
    const std::size_t n = x_.gate.head_method ? 0 : bytes.size();
    // One gather write: precomputed head, the per-response tail, the shared body (no copies).
    const std::array<asio::const_buffer, 6> parts{asio::buffer(e.head),
                                                  etag_name,
                                                  asio::buffer(etag_line ? etag : ""),
                                                  etag_end,
                                                  asio::buffer(t),
                                                  asio::buffer(bytes.data(), n)};
    const bool ok = co_await send(parts);
    if (ok) {
        sent_body(n);
        // An opaque entry in a node's coding stands for an identity size we do not know.
        const bool known = e.encodable || c == cache::coding::identity;
        sent_coded(c, n, x_.gate.head_method || !known ? 0 : e.length);
        counters_.coding_responses[ci].fetch_add(1, std::memory_order_relaxed);
        if (n != 0) {
            counters_.dcz_saved_bytes.fetch_add(dcz_saved, std::memory_order_relaxed);
        }
    }
    co_return ok&& keep;
}

awaitable<bool> cache_step::stale_or_fail(const std::shared_ptr<const cache::entry>& stale,
                                          unsigned status) {
    const auto now = std::time(nullptr);
    if (stale && cache::may_serve_stale_on_error(stale->cc, stale->stale_for(now),
                                                 cache_.options().stale_if_error)) {
        counters_.stale.fetch_add(1, std::memory_order_relaxed);
        co_return co_await serve_entry(*stale, label::stale);
    }
    co_return co_await s_.reply(status, false, x_.node->id);
}

void cache_step::release_upstream() {
    auto& p = *x_.parser;
    if (p.is_done() && p.keep_alive() && x_.up->buffer.size() == 0 && !p.need_eof()) {
        s_.active_upstream_ = nullptr;
        s_.env_.pool->give_back(x_.node->pool_key, std::move(x_.up));
    } else {
        x_.up->stream.close();
    }
}

awaitable<bool> cache_step::lead(cache::leadership& lead,
                                 std::shared_ptr<const cache::entry> stale) {
    auto& x = x_;
    x.cache_fetch = true;
    if (stale && !post_) {  // a POST is not revalidated: a stale answer is fetched anew
        // §4.3.1: validate with what the stored response carries.
        if (!stale->etag.empty()) {
            x.extra_fields.append("If-None-Match: ").append(stale->etag).append("\r\n");
        }
        if (!stale->last_modified_text.empty()) {
            x.extra_fields.append("If-Modified-Since: ")
                .append(stale->last_modified_text)
                .append("\r\n");
        }
    }
    const auto request_time = std::time(nullptr);
    bool keep = false;
    auto work = [&]() -> awaitable<void> {
        if (!co_await s_.send_upstream(x)) {
            lead.get().fail(cache::flight::state::failed);
            keep = co_await stale_or_fail(stale, x.failed_status != 0 ? x.failed_status : 502);
            co_return;
        }
        const auto response_time = std::time(nullptr);
        const auto& res = x.parser->get();
        const unsigned status = res.result_int();
        if (stale && status == 304) {
            auto published =
                cache_.entries().insert(refreshed(*stale, request_time, response_time));
            lead.get().complete(published);
            lead.close();
            release_upstream();
            counters_.revalidations.fetch_add(1, std::memory_order_relaxed);
            keep = co_await serve_entry(*published, label::revalidated);
            co_return;
        }
        const auto now = std::time(nullptr);
        if (stale && status >= 500 &&
            cache::may_serve_stale_on_error(stale->cc, stale->stale_for(now),
                                            cache_.options().stale_if_error)) {
            x.up->stream.close();  // its body is not wanted
            lead.get().fail(cache::flight::state::failed);
            counters_.stale.fetch_add(1, std::memory_order_relaxed);
            keep = co_await serve_entry(*stale, label::stale);
            co_return;
        }
        cache::request_facts rq;
        rq.authorization = s_.head_.find("authorization").data() != nullptr;
        rq.cookie = s_.head_.find("cookie").data() != nullptr;
        const auto facts = cache::facts_from(status, view_of(res.base()), response_time);
        const auto& o = cache_.options();
        const auto verdict = post_
                                 ? cache::post_storable(facts, o.store.max_object, post_validity())
                                 : cache::storable(rq, facts, o.store.max_object, o.heuristic_max);
        if (verdict != cache::verdict::store) {
            lead.get().fail(cache::flight::state::uncacheable);
            lead.close();
            counters_.bypass.fetch_add(1, std::memory_order_relaxed);
            keep = co_await s_.relay_response(x);
            co_return;
        }
        // How the body is stored: the identity bytes, from which any coding can be served (the
        // node sent identity, or the gzip we asked for: decoded once); otherwise as the node sent
        // it, opaque, varied on Accept-Encoding as before. no-transform forbids changing the
        // coding (RFC 9110 §7.7, RFC 9111 §5.2.2.6).
        const bool no_transform = facts.cc.no_transform;  // Cache-Control's, even when targeted
        const auto coding = content_coding(res.base());
        fill_mode mode = fill_mode::opaque;
        if (!no_transform && coding.empty()) {
            mode = fill_mode::identity;
        } else if (!no_transform && *x.upstream_gzip &&
                   (http::iequals(coding, "gzip") || http::iequals(coding, "x-gzip"))) {
            mode = fill_mode::decode;
        }
        counters_.misses.fetch_add(1, std::memory_order_relaxed);
        keep = co_await fill(lead, request_time, mode);
    };
    co_await work();
    if (x_.up) {
        x_.up->dog.disarm();
    }
    s_.active_upstream_ = nullptr;
    s_.relay_.release();  // as forward(): relay_response may have taken the relay buffer
    co_return keep;
}

awaitable<bool> cache_step::fill(cache::leadership& lead, std::time_t request_time,
                                 fill_mode mode) {
    auto& x = x_;
    auto& p = *x.parser;
    const auto meta = make_entry(request_time, std::time(nullptr), mode);
    const std::uint64_t max = cache_.options().store.max_object;
    const auto announced = p.content_length();
    // A sized body gets exactly its size (storable() checked it against max_object); any other
    // framing may use up to max_object, and a body that outgrows it is not stored.
    auto buf = std::make_shared<cache::fill_buffer>(
        static_cast<std::size_t>(announced ? *announced : max));
    lead.get().stream(meta, buf);
    // The leader's own client is served like any waiter, concurrently with the fill: a slow
    // client of the leader never slows the fill down for the others.
    auto self = lead.get().join(s_.client_.get_executor());

    auto fill_loop = [&]() -> awaitable<void> {
        cache::sha256 hash;  // of the identity bytes
        std::optional<cache::gzip_decoder> decoder;
        if (mode == fill_mode::decode) {
            decoder.emplace(static_cast<std::size_t>(max), cache_.options().max_decode_ratio);
        }
        bool decodes = true;
        const auto decode_fault = [&](cache::gzip_decoder::status st) {
            decodes = false;
            counters_.decode_faults.fetch_add(1, std::memory_order_relaxed);
            const char* why = st == cache::gzip_decoder::status::bomb ? "a decompression bomb"
                              : st == cache::gzip_decoder::status::too_large
                                  ? "larger than max_object_size decoded"
                                  : "not valid gzip";
            // The path without the query: queries may carry session tokens (as the access log).
            log::get("cache")->warn("node {}: {}: gzip body is {}; relayed, not stored", x.node->id,
                                    s_.record_.path, why);
        };
        bool ok = true;
        bool overflow = false;
        while (!p.is_done()) {
            const auto space = buf->next_space();
            if (space.empty()) {
                overflow = true;
                break;
            }
            p.get().body().data = space.data();
            p.get().body().size = space.size();
            x.up->dog.arm(s_.settings_->timeout.upstream_read);
            // read_some: each arrival is published at once, so waiters stream while it fills.
            auto [ec, n] =
                co_await bhttp::async_read_some(x.up->stream, x.up->buffer, p, use_nothrow);
            if (ec == bhttp::error::need_buffer) {
                ec = {};
            }
            const std::size_t got = space.size() - p.get().body().size;
            if (got != 0) {
                const std::string_view piece(space.data(), got);
                if (!decoder) {
                    hash.update(piece.data(), piece.size());
                } else if (decodes) {
                    const auto st = decoder->feed(piece);
                    if (st != cache::gzip_decoder::status::more &&
                        st != cache::gzip_decoder::status::done) {
                        decode_fault(st);
                    }
                }
                buf->commit(got);
                counters_.bytes_from_nodes.fetch_add(got, std::memory_order_relaxed);
                lead.get().progress(buf->size());
            }
            if (ec) {
                ok = false;
                break;
            }
        }
        x.up->dog.disarm();
        if (overflow) {
            // Larger than max_object_size without having said so: readers are cut (they may
            // retry), and the key is relayed without the cache for a while.
            x.up->stream.close();
            cache_.mark_oversize(key_);
            log::get("cache")->info("node {}: {}: body over max_object_size; not cached for {} min",
                                    x.node->id, s_.record_.path,
                                    cache::shared_cache::oversize_memory.count());
            lead.get().fail(cache::flight::state::failed);
            co_return;
        }
        if (!ok || !p.is_done() || (announced && buf->size() != *announced)) {
            // A truncated body is never stored; waiters close their clients' connections.
            x.up->stream.close();
            observe::bump(x.up->dog.fired() ? s_.env_.counters->upstream_timeouts
                                            : s_.env_.counters->upstream_errors);
            lead.get().fail(cache::flight::state::failed);
            co_return;
        }
        if (decoder && decodes) {
            if (const auto st = decoder->finish(); st != cache::gzip_decoder::status::done) {
                decode_fault(st);
            }
        }
        if (decoder && !decodes) {
            // The node's bytes were complete: every reader gets them as they are (a browser
            // decodes or refuses them itself); nothing is stored.
            lead.get().complete(nullptr);
            lead.close();
            release_upstream();
            co_return;
        }
        std::shared_ptr<cache::body> b;
        if (decoder) {
            const auto& out = decoder->output();
            b = std::make_shared<cache::body>(out.size());
            std::memcpy(b->bytes.get(), out.data(), out.size());
            hash.update(out.data(), out.size());
        } else {
            b = std::make_shared<cache::body>(buf->size());
            buf->copy_to(b->bytes.get(), buf->size());
        }
        b->hash = hash.finish();
        auto published = cache_.entries().insert(stored_entry(*meta, std::move(b), mode));
        if (decoder && published->encodable) {
            // The node's gzip is the gzip variant (variants are never replaced, so the compressor
            // skips gzip for this body): available at once, and what the node's ETag names.
            std::string raw(buf->size(), '\0');
            buf->copy_to(raw.data(), raw.size());
            cache_.entries().attach_variant(published->content, cache::coding::gzip,
                                            std::move(raw));
        }
        if (published->compress) {
            cache_.compression().request(published->content,
                                         cache::bit(cache::coding::br) |
                                             cache::bit(cache::coding::zstd) |
                                             cache::bit(cache::coding::gzip),
                                         published->text);
        }
        lead.get().complete(std::move(published));
        lead.close();
        release_upstream();
    };
    bool keep = false;
    auto serve = [&]() -> awaitable<void> {
        bool fallback = false;
        keep = co_await stream_from(lead.get(), *self, label::miss, fallback);
    };
    co_await (fill_loop() && serve());
    co_return keep;
}

// The fill's streaming meta: the node's response as it came (its coding, its ETag), with the
// length only when the node announced one.
std::shared_ptr<cache::entry> cache_step::make_entry(std::time_t request_time,
                                                     std::time_t response_time, fill_mode mode) {
    const auto& res = x_.parser->get();
    auto e = std::make_shared<cache::entry>();
    e->key = key_;
    e->node_id = x_.node->id;
    const auto announced = x_.parser->content_length();
    e->sized = announced.has_value();
    e->length = announced.value_or(0);
    const auto tokens = connection_tokens(res.base());
    std::string_view age;
    for (const auto& f : res) {
        const auto name = f.name_string();
        if (http::iequals(name, "age")) {
            age = f.value();
        }
        if (is_unstored_field(name) || nominated(tokens, name)) {
            continue;
        }
        e->fields.emplace_back(std::string(name), std::string(f.value()));
    }
    if (mode != fill_mode::opaque) {
        // The same URL is served in other codings from the entry: say so from the first answer.
        ensure_vary(e->fields, "Accept-Encoding");
    }
    std::vector<cache::header_field> hf;
    for (const auto& [n, v] : e->fields) {
        hf.push_back({n, v});
    }
    for (const auto& name : cache::vary_names(hf)) {
        // Accept-Encoding is matched by the flight key (the coding asked of the node).
        if (name != "accept-encoding") {
            e->vary.push_back({name, cache::vary_value(s_.head_, name)});
        }
    }
    if (mode != fill_mode::opaque) {
        offer_dictionary(*e, res.find(bhttp::field::set_cookie) != res.end());
    }
    finish_entry(*e, age, request_time, response_time);
    return e;
}

void cache_step::offer_dictionary(cache::entry& e, bool set_cookie) const {
    if (!cache_.options().dictionaries || post_ || set_cookie) {
        return;
    }
    const std::string_view target = s_.head_.target;
    const auto path = target.substr(0, target.find('?'));
    if (!cache::offers_dictionary(path, field_value(e.fields, "content-type"))) {
        return;
    }
    const auto offer = cache::dictionary_pattern(path);
    if (!offer) {
        return;
    }
    std::erase_if(e.fields,
                  [](const auto& f) { return http::iequals(f.first, "use-as-dictionary"); });
    e.fields.emplace_back("Use-As-Dictionary", cache::use_as_dictionary_value(*offer));
    // A dcz answer depends on the dictionary the request names (RFC 9842 §6.2).
    ensure_vary(e.fields, "Available-Dictionary");
    e.dictionary = true;
}

std::shared_ptr<const cache::delta> cache_step::delta_for(const cache::entry& e) {
    if (!e.dictionary || !e.encodable || credentials_ || no_transform_ || post_ ||
        !cache_.options().dictionaries || !accept_encoding_present_) {
        return nullptr;
    }
    const auto named = s_.head_.find("available-dictionary");
    if (named.data() == nullptr || !cache::accepts_dcz(accept_encoding_)) {
        return nullptr;
    }
    const auto hash = cache::parse_available_dictionary(named);
    if (!hash) {
        return nullptr;
    }
    counters_.dictionary_requests.fetch_add(1, std::memory_order_relaxed);
    // Only a body we store and offered as a dictionary can be one: a hash we do not hold is
    // ignored, never fetched, and a stored page or image is no dictionary.
    const auto dictionary = cache_.entries().find_body(*hash);
    if (!dictionary || !dictionary->offered.load(std::memory_order_relaxed)) {
        counters_.dictionary_unknown.fetch_add(1, std::memory_order_relaxed);
        return nullptr;
    }
    if (auto d = e.content->find_delta(*hash)) {
        return d;
    }
    counters_.dictionary_pending.fetch_add(1, std::memory_order_relaxed);
    cache_.compression().request_delta(e.content, dictionary);
    return nullptr;
}

std::shared_ptr<cache::entry> cache_step::stored_entry(const cache::entry& meta,
                                                       std::shared_ptr<cache::body> b,
                                                       fill_mode mode) {
    auto e = std::make_shared<cache::entry>(meta);
    e->length = b->size;
    e->sized = true;
    std::vector<cache::header_field> hf;
    for (const auto& [n, v] : e->fields) {
        hf.push_back({n, v});
    }
    const auto names = cache::vary_names(hf);
    e->vary.clear();
    for (const auto& name : names) {
        // An encodable entry is negotiated per request: Accept-Encoding and the dictionary a
        // client names (dcz) select no entry.
        if (mode == fill_mode::opaque ||
            (name != "accept-encoding" && name != "available-dictionary")) {
            e->vary.push_back({name, cache::vary_value(s_.head_, name)});
        }
    }
    if (mode != fill_mode::opaque) {
        // Stored as identity, served in whatever coding each client negotiates (make_entry put
        // Vary: Accept-Encoding in the fields already).
        e->encodable = true;
        std::erase_if(e->fields, [](const auto& f) {
            return http::iequals(f.first, "content-encoding") || http::iequals(f.first, "etag");
        });
        const auto type = field_value(e->fields, "content-type");
        const auto path = std::string_view(s_.head_.target);
        e->compress = cache::compressible(type, path);
        e->text = type.find("wasm") == std::string_view::npos &&
                  type.find("font") == std::string_view::npos;
        for (std::size_t i = 0; i < cache::coding_count; ++i) {
            e->etags[i] = cache::variant_etag(b->hash, static_cast<cache::coding>(i));
        }
        e->node_etag_coding =
            mode == fill_mode::decode ? cache::coding::gzip : cache::coding::identity;
    }
    e->content = std::move(b);
    build_heads(*e);
    return e;
}

void cache_step::ensure_vary(std::vector<std::pair<std::string, std::string>>& fields,
                             std::string_view token) {
    for (const auto& [n, v] : fields) {
        if (!http::iequals(n, "vary")) {
            continue;
        }
        bool found = false;
        http::for_each_list_token(
            v, [&](std::string_view t) { found = found || http::iequals(t, token) || t == "*"; });
        if (found) {
            return;
        }
    }
    for (auto& [n, v] : fields) {
        if (http::iequals(n, "vary")) {
            v.append(", ").append(token);
            return;
        }
    }
    fields.emplace_back("Vary", std::string(token));
}

std::shared_ptr<cache::entry> cache_step::refreshed(const cache::entry& old,
                                                    std::time_t request_time,
                                                    std::time_t response_time) {
    // §4.3.4: the stored fields are updated with those of the 304 (framing fields excluded).
    const auto& res = x_.parser->get();
    auto e = std::make_shared<cache::entry>(old);
    const auto tokens = connection_tokens(res.base());
    std::string_view age;
    std::vector<std::pair<std::string, std::string>> updates;
    for (const auto& f : res) {
        const auto name = f.name_string();
        if (http::iequals(name, "age")) {
            age = f.value();
        }
        if (is_unstored_field(name) || nominated(tokens, name) ||
            http::iequals(name, "content-encoding") || http::iequals(name, "content-type")) {
            continue;
        }
        if (e->encodable && http::iequals(name, "etag")) {
            e->etag = std::string(f.value());  // the node's validator; clients see ours
            continue;
        }
        updates.emplace_back(std::string(name), std::string(f.value()));
    }
    for (const auto& [name, value] : updates) {
        std::erase_if(e->fields, [&](const auto& f) { return http::iequals(f.first, name); });
    }
    e->fields.insert(e->fields.end(), updates.begin(), updates.end());
    if (e->encodable) {
        ensure_vary(e->fields, "Accept-Encoding");
    }
    if (e->dictionary) {
        ensure_vary(e->fields, "Available-Dictionary");
    }
    finish_entry(*e, age, request_time, response_time);
    return e;
}

void cache_step::finish_entry(cache::entry& e, std::string_view age, std::time_t request_time,
                              std::time_t response_time) {
    std::vector<cache::header_field> hf;
    for (const auto& [n, v] : e.fields) {
        hf.push_back({n, v});
    }
    if (!age.empty()) {
        hf.push_back({"Age", age});
    }
    const auto facts = cache::facts_from(200, hf, response_time);
    e.cc = facts.cc;
    e.lifetime = post_ ? cache::post_freshness_lifetime(facts, post_validity())
                       : cache::freshness_lifetime(facts, cache_.options().heuristic_max);
    e.initial_age = cache::corrected_initial_age(facts, request_time, response_time);
    e.response_time = response_time;
    e.last_modified = facts.last_modified;
    // A cached POST's answer is shared by configuration (post.cached).
    e.explicitly_public = post_ || facts.cc.is_public || facts.cc.s_maxage.has_value();
    if (!e.encodable) {
        e.etag.clear();  // an encodable entry keeps the node's ETag outside its fields
    }
    e.last_modified_text.clear();
    for (const auto& [n, v] : e.fields) {
        if (http::iequals(n, "etag")) {
            e.etag = v;
        } else if (http::iequals(n, "last-modified")) {
            e.last_modified_text = v;
        }
    }
    build_heads(e);
}

std::int64_t cache_step::post_validity() const {
    return std::chrono::duration_cast<std::chrono::seconds>(x_.node->post_cache_validity).count();
}

void cache_step::build_heads(cache::entry& e) {
    const auto& s = *s_.settings_;
    http::node_fields fields;
    for (const auto& [n, v] : e.fields) {
        fields.insert(n, v);
    }
    http::response_context rc;
    rc.node_origin = x_.node->origin_text;
    rc.public_origin = s.public_origin;
    rc.node_id = x_.node->id;
    rc.mounts = x_.node->mounts;
    rc.body = http::framing::none;  // the framing goes in each response's tail
    rc.keep_alive = true;
    http::build_response_head(200, "OK", fields, rc, e.head);
    e.head.resize(e.head.size() - 2);  // the final CRLF comes after the per-response tail
    e.head_304 = "HTTP/1.1 304 Not Modified\r\n";
    for (const auto& [n, v] : e.fields) {
        if (is_304_field(n)) {
            e.head_304.append(n).append(": ").append(v).append("\r\n");
        }
    }
}

}  // namespace bcp::proxy
