#include "proxy/cache_step.hpp"

#include "http/rewrite.hpp"
#include "proxy/exchange.hpp"

#include <boost/asio/write.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/read.hpp>

#include <array>
#include <charconv>
#include <chrono>
#include <cstring>

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

std::vector<std::string_view> connection_tokens(const bhttp::fields& fields) {
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

std::vector<cache::header_field> view_of(const bhttp::fields& fields) {
    std::vector<cache::header_field> out;
    for (const auto& f : fields) {
        out.push_back({f.name_string(), f.value()});
    }
    return out;
}

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

bool cache_step::not_modified(const cache::entry& e) const {
    const auto inm = s_.head_.find("if-none-match");
    return cache::not_modified(inm, inm.data() != nullptr, s_.head_.find("if-modified-since"),
                               e.etag, e.last_modified);
}

// Without snprintf: it was an eighth of the instructions of a cache hit (docs/benchmarks.md,
// "Round 4").
std::string_view cache_step::tail(const cache::entry* e, label l, char* buf,
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

void cache_step::answering(unsigned status, label l) {
    s_.env_.counters->count_status(status);
    s_.record_.status = status;
    s_.record_.cache.assign(label_text(static_cast<int>(l)));
}

void cache_step::sent_body(std::size_t n) {
    observe::bump(s_.env_.counters->bytes_to_clients, n);
    s_.record_.bytes += n;
}

awaitable<bool> cache_step::run() {
    const auto& h = s_.head_;
    std::string request_cc;
    for (const auto& f : h.fields) {
        if (http::iequals(f.name, "cache-control")) {
            request_cc.append(f.value).push_back(',');
        }
    }
    const bool no_store = !request_cc.empty() && cache::parse_cache_control(request_cc).no_store;
    if (x_.gate.websocket || no_store || h.find("range").data() != nullptr) {
        counters_.bypass.fetch_add(1, std::memory_order_relaxed);
        co_return co_await s_.forward(x_);
    }
    credentials_ = h.find("authorization").data() != nullptr || h.find("cookie").data() != nullptr;
    key_.reserve(x_.node->id.size() + 1 + h.target.size());
    key_.append(x_.node->id).append(" ").append(h.target);

    const auto now = std::time(nullptr);
    auto e = cache_.entries().find(key_, h);
    if (e && credentials_ && !e->explicitly_public) {
        e = nullptr;  // §3.5: not for requests with credentials; they fetch (and may store) anew
    }
    if (e && e->fresh(now)) {
        counters_.hits.fetch_add(1, std::memory_order_relaxed);
        co_return co_await serve_entry(*e, label::hit);
    }
    if (x_.gate.head_method) {
        counters_.bypass.fetch_add(1, std::memory_order_relaxed);
        co_return co_await s_.forward(x_);
    }

    // Requests that could be served by the same response coalesce: same key, and the same
    // values of the headers the stored response varies on (Accept-Encoding when nothing is
    // stored yet: the one Vary header static files have).
    std::string flight_key = key_;
    const auto add_value = [&](std::string_view name) {
        flight_key.append("\n").append(name).append(":");
        flight_key.append(cache::vary_value(h, name).value_or("\x01"));
    };
    if (e) {
        for (const auto& v : e->vary) {
            add_value(v.name);
        }
    } else {
        add_value("accept-encoding");
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
    if (v.s == st::complete && v.result && !v.fill) {
        // A revalidation refreshed the entry (304): serve it like a hit.
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
    const auto meta = v.meta;
    const auto fill = v.fill;
    if ((credentials_ && !meta->explicitly_public) || !meta->matches(s_.head_)) {
        fallback = true;
        co_return false;
    }
    const bool keep = keep_alive();
    std::array<char, 128> tail_buf;
    const auto t = tail(nullptr, l, tail_buf.data(), tail_buf.size());
    if (not_modified(*meta)) {
        answering(304, l);
        const std::array<asio::const_buffer, 2> parts{asio::buffer(meta->head_304),
                                                      asio::buffer(t)};
        co_return co_await send(parts) && keep;
    }
    answering(200, l);
    bool head_sent = false;
    std::size_t sent = 0;
    while (true) {
        if (v.filled > sent || !head_sent) {
            const std::size_t n = v.filled - sent;
            const std::array<asio::const_buffer, 3> parts{
                head_sent ? asio::const_buffer() : asio::buffer(meta->head),
                head_sent ? asio::const_buffer() : asio::buffer(t),
                asio::buffer(fill->bytes.get() + sent, n)};
            if (!co_await send(parts)) {
                co_return false;
            }
            head_sent = true;
            sent += n;
            sent_body(n);
            counters_.bytes_served.fetch_add(n, std::memory_order_relaxed);
        }
        if (sent == meta->length) {
            co_return keep;
        }
        if (v.s != st::streaming && v.s != st::complete) {
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
    std::array<char, 128> tail_buf;
    const auto t = tail(&e, l, tail_buf.data(), tail_buf.size());
    if (not_modified(e)) {
        answering(304, l);
        const std::array<asio::const_buffer, 2> parts{asio::buffer(e.head_304), asio::buffer(t)};
        co_return co_await send(parts) && keep;
    }
    answering(200, l);
    const std::size_t n = x_.gate.head_method ? 0 : e.length;
    // One gather write: precomputed head, the per-response tail, the shared body (no copies).
    const std::array<asio::const_buffer, 3> parts{asio::buffer(e.head), asio::buffer(t),
                                                  asio::buffer(e.content->bytes.get(), n)};
    const bool ok = co_await send(parts);
    if (ok) {
        sent_body(n);
        counters_.bytes_served.fetch_add(n, std::memory_order_relaxed);
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
    if (stale) {
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
        const auto verdict = cache::storable(rq, facts, o.store.max_object, o.heuristic_max);
        if (verdict != cache::verdict::store || !x.parser->content_length()) {
            lead.get().fail(cache::flight::state::uncacheable);
            lead.close();
            counters_.bypass.fetch_add(1, std::memory_order_relaxed);
            keep = co_await s_.relay_response(x);
            co_return;
        }
        counters_.misses.fetch_add(1, std::memory_order_relaxed);
        keep = co_await fill(lead, request_time);
    };
    co_await work();
    if (x_.up) {
        x_.up->dog.disarm();
    }
    s_.active_upstream_ = nullptr;
    s_.relay_.release();  // as forward(): relay_response may have taken the relay buffer
    co_return keep;
}

awaitable<bool> cache_step::fill(cache::leadership& lead, std::time_t request_time) {
    auto& x = x_;
    auto& p = *x.parser;
    const auto meta = make_entry(request_time, std::time(nullptr));
    const std::size_t len = meta->length;
    auto b = std::make_shared<cache::body>(len);
    char* const dst = b->bytes.get();
    lead.get().stream(meta, b);
    // The leader's own client is served like any waiter, concurrently with the fill: a slow
    // client of the leader never slows the fill down for the others.
    auto self = lead.get().join(s_.client_.get_executor());

    auto fill_loop = [&]() -> awaitable<void> {
        cache::sha256 hash;
        std::size_t filled = 0;
        bool ok = true;
        while (!p.is_done()) {
            p.get().body().data = dst + filled;
            p.get().body().size = len - filled;
            x.up->dog.arm(s_.settings_->timeout.upstream_read);
            // read_some: each arrival is published at once, so waiters stream while it fills.
            auto [ec, n] =
                co_await bhttp::async_read_some(x.up->stream, x.up->buffer, p, use_nothrow);
            if (ec == bhttp::error::need_buffer) {
                ec = {};
            }
            const std::size_t got = (len - filled) - p.get().body().size;
            if (got != 0) {
                hash.update(dst + filled, got);
                filled += got;
                counters_.bytes_from_nodes.fetch_add(got, std::memory_order_relaxed);
                lead.get().progress(filled);
            }
            if (ec) {
                ok = false;
                break;
            }
        }
        x.up->dog.disarm();
        if (!ok || !p.is_done() || filled != len) {
            // A truncated body is never stored; waiters close their clients' connections.
            x.up->stream.close();
            observe::bump(x.up->dog.fired() ? s_.env_.counters->upstream_timeouts
                                            : s_.env_.counters->upstream_errors);
            lead.get().fail(cache::flight::state::failed);
            co_return;
        }
        b->hash = hash.finish();
        auto e = std::make_shared<cache::entry>(*meta);
        e->content = b;
        auto published = cache_.entries().insert(std::move(e));
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

std::shared_ptr<cache::entry> cache_step::make_entry(std::time_t request_time,
                                                     std::time_t response_time) {
    const auto& res = x_.parser->get();
    auto e = std::make_shared<cache::entry>();
    e->key = key_;
    e->node_id = x_.node->id;
    e->length = *x_.parser->content_length();
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
    std::vector<cache::header_field> hf;
    for (const auto& [n, v] : e->fields) {
        hf.push_back({n, v});
    }
    for (const auto& name : cache::vary_names(hf)) {
        e->vary.push_back({name, cache::vary_value(s_.head_, name)});
    }
    finish_entry(*e, age, request_time, response_time);
    return e;
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
        updates.emplace_back(std::string(name), std::string(f.value()));
    }
    for (const auto& [name, value] : updates) {
        std::erase_if(e->fields, [&](const auto& f) { return http::iequals(f.first, name); });
    }
    e->fields.insert(e->fields.end(), updates.begin(), updates.end());
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
    e.lifetime = cache::freshness_lifetime(facts, cache_.options().heuristic_max);
    e.initial_age = cache::corrected_initial_age(facts, request_time, response_time);
    e.response_time = response_time;
    e.last_modified = facts.last_modified;
    e.explicitly_public = facts.cc.is_public || facts.cc.s_maxage.has_value();
    e.etag.clear();
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

void cache_step::build_heads(cache::entry& e) {
    const auto& s = *s_.settings_;
    bhttp::fields fields;
    for (const auto& [n, v] : e.fields) {
        fields.insert(n, v);
    }
    http::response_context rc;
    rc.node_origin = x_.node->origin_text;
    rc.public_origin = s.public_origin;
    rc.node_id = x_.node->id;
    rc.mounts = x_.node->mounts;
    rc.body = http::framing::content_length;
    rc.content_length = e.length;
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
