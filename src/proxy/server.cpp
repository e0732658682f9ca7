#include "proxy/server.hpp"

#include "core/log.hpp"
#include "http/local_reply.hpp"
#include "net/listener.hpp"
#include "net/tls.hpp"
#include "observe/counters.hpp"
#include "proxy/health_checker.hpp"
#include "proxy/ip_limits.hpp"
#include "proxy/refuse.hpp"
#include "proxy/session.hpp"
#include "upstream/pool.hpp"

#include <boost/asio/post.hpp>

#include <condition_variable>
#include <mutex>
#include <set>
#include <thread>

namespace bcp::proxy {
namespace ssl = boost::asio::ssl;

namespace {

cache::cache_options cache_options_from(const config::cache_options& c) {
    cache::cache_options o;
    o.store.max_size = c.max_size;
    o.store.max_object = c.max_object_size;
    o.x_cache_header = c.x_cache_header;
    o.coalesce_wait = c.coalesce_wait;
    o.stale_if_error = std::chrono::duration_cast<std::chrono::seconds>(c.stale_if_error).count();
    o.heuristic_max = std::chrono::duration_cast<std::chrono::seconds>(c.heuristic_max).count();
    o.compression.workers = c.compress ? c.compress_workers : 0;
    o.compression.queue = c.compress_queue;
    o.dictionaries = c.dictionaries && c.compress;
    o.store.max_deltas_per_body = c.max_deltas_per_asset;
    o.store.max_delta_memory = c.max_delta_memory;
    o.store.retired_dictionary_memory = o.dictionaries ? c.dictionary_retention : 0;
    return o;
}

}  // namespace

struct server::worker {
    worker(const upstream::pool_options& po, observe::access_log* log)
        : ioc(1), tick(ioc), pool(ioc.get_executor(), po), log_buffer(log) {}

    asio::io_context ioc;
    asio::steady_timer tick;               // housekeeping
    std::vector<tcp::acceptor> acceptors;  // one per listener, same order as config
    upstream::pool pool;
    observe::counters counters;
    observe::worker_stats stats;
    observe::access_log_buffer log_buffer;
    refusal_budget refusing;
    worker_env env;
    std::vector<ssl::context*> tls;   // per listener, current certificate (null = plain)
    std::set<std::string> pool_keys;  // after a reload: the nodes idle connections may be kept for
    std::thread thread;
    bool stopping = false;
};

struct server::impl {
    mutable std::mutex config_mutex;  // guards config; serializes reloads
    config::proxy_config config;
    std::shared_ptr<const settings> settings_;
    std::unique_ptr<registry::table_holder> tables;
    std::vector<std::shared_ptr<ssl::context>> listener_tls;  // per listener, null = plain
    // Certificates replaced by reloads: connections made with them may still be open.
    std::vector<std::shared_ptr<ssl::context>> retired_tls;
    std::shared_ptr<ssl::context> client_tls;
    std::unique_ptr<observe::access_log> access_log;  // outlives the workers that feed it
    std::unique_ptr<ip_limits> per_ip;  // before workers: sessions release their counts into it
    std::unique_ptr<health_checker> checker;
    std::vector<std::unique_ptr<worker>> workers;
    std::vector<tcp::endpoint> endpoints;
    std::atomic<std::size_t> open_connections{0};
    std::atomic<bool> stop_requested{false};
    std::unique_ptr<cache::shared_cache> cache;  // null when cache.enabled is false

    awaitable<void> accept_loop(worker& w, std::size_t listener);
    awaitable<void> housekeeping(worker& w);
    awaitable<void> drain(worker& w);
};

server::server() : impl_(std::make_unique<impl>()) {}

server::~server() {
    stop();
    wait();
    if (impl_->checker) {
        impl_->checker->stop();
    }
}

std::unique_ptr<server> server::create(const config::proxy_config& cfg, std::string& error) {
    std::unique_ptr<server> srv(new server());
    auto& m = *srv->impl_;
    m.config = cfg;
    m.settings_ = std::make_shared<const settings>(settings::from(cfg));
    m.tables = std::make_unique<registry::table_holder>(
        std::make_shared<const registry::node_table>(cfg.nodes));

    for (const auto& l : cfg.listen) {
        if (!l.tls) {
            m.listener_tls.push_back(nullptr);
            continue;
        }
        auto r =
            net::make_server_context(l.tls->certificate, l.tls->private_key, cfg.http2.enabled);
        if (!r.context) {
            error = l.address + ": " + r.error;
            return nullptr;
        }
        m.listener_tls.push_back(r.context);
    }
    auto client = net::make_client_context(cfg.upstream.verify, cfg.upstream.ca_file);
    if (!client.context) {
        error = "upstream: " + client.error;
        return nullptr;
    }
    m.client_tls = client.context;
    m.per_ip = std::make_unique<ip_limits>(ip_limits::options{
        cfg.limit.max_connections_per_ip, static_cast<double>(cfg.limit.requests_per_second_per_ip),
        static_cast<double>(cfg.limit.request_burst_per_ip)});

    if (cfg.access_log) {
        observe::access_log_options lo;
        lo.format = cfg.access_log->format == "json" ? observe::log_format::json
                                                     : observe::log_format::plain;
        lo.path = cfg.access_log->path;
        m.access_log = observe::access_log::open(lo, error);
        if (!m.access_log) {
            return nullptr;
        }
    }

    upstream::pool_options po;
    po.max_idle_per_node = cfg.upstream.max_idle_per_node;
    po.idle_timeout = cfg.timeout.upstream_idle;
    po.connect_timeout = cfg.timeout.upstream_connect;
    po.tls = m.client_tls.get();
    po.verify = cfg.upstream.verify;

    const unsigned n =
        cfg.workers != 0 ? cfg.workers : std::max(1u, std::thread::hardware_concurrency());
    if (cfg.cache.enabled) {
        m.cache = std::make_unique<cache::shared_cache>(cache_options_from(cfg.cache), n);
    }
    for (unsigned i = 0; i < n; ++i) {
        auto w = std::make_unique<worker>(po, m.access_log.get());
        w->env.config = m.settings_;
        w->env.table = m.tables->get();
        w->env.pool = &w->pool;
        w->env.counters = &w->counters;
        w->env.stats = &w->stats;
        w->env.access_log = &w->log_buffer;
        w->env.open_connections = &m.open_connections;
        if (m.cache) {
            w->env.cache = m.cache.get();
            w->env.cache_counters = &m.cache->counters(i);
        }
        for (const auto& ctx : m.listener_tls) {
            w->tls.push_back(ctx.get());
        }
        w->env.per_ip = m.per_ip.get();
        m.workers.push_back(std::move(w));
    }

    // Port 0 means "any free port": the first worker's bind picks it, the others join that port.
    for (const auto& l : cfg.listen) {
        error_code ec;
        const auto address = asio::ip::make_address(l.host, ec);
        if (ec) {
            error = l.address + ": invalid address";
            return nullptr;
        }
        tcp::endpoint ep(address, l.port);
        for (auto& w : m.workers) {
            auto acceptor = net::open_listener(w->ioc, ep, error);
            if (!acceptor.is_open()) {
                return nullptr;
            }
            ep = acceptor.local_endpoint();
            w->acceptors.push_back(std::move(acceptor));
        }
        m.endpoints.push_back(ep);
    }
    m.checker = std::make_unique<health_checker>(m.client_tls.get(), cfg.upstream.verify);
    return srv;
}

void server::start() {
    auto& m = *impl_;
    for (auto& wp : m.workers) {
        worker& w = *wp;
        for (std::size_t i = 0; i < w.acceptors.size(); ++i) {
            asio::co_spawn(w.ioc, m.accept_loop(w, i), asio::detached);
        }
        asio::co_spawn(w.ioc, m.housekeeping(w), asio::detached);
        w.thread = std::thread([&w] { w.ioc.run(); });
    }
    m.checker->start(m.tables->get());
}

void server::stop() {
    auto& m = *impl_;
    if (m.stop_requested.exchange(true)) {
        return;
    }
    for (auto& wp : m.workers) {
        worker& w = *wp;
        asio::co_spawn(w.ioc, m.drain(w), asio::detached);
    }
}

void server::wait() {
    for (auto& w : impl_->workers) {
        if (w->thread.joinable()) {
            w->thread.join();
        }
    }
}

std::vector<tcp::endpoint> server::endpoints() const {
    return impl_->endpoints;
}

unsigned server::worker_count() const {
    return static_cast<unsigned>(impl_->workers.size());
}

reload_result server::reload(const config::proxy_config& next) {
    auto& m = *impl_;
    std::lock_guard lock(m.config_mutex);
    reload_result out;
    reload_plan plan = plan_reload(m.config, next);
    const auto& eff = plan.effective;

    // Everything that can fail comes first, so a refused reload changes nothing.
    std::vector<std::shared_ptr<ssl::context>> tls;
    for (const auto& l : eff.listen) {
        if (!l.tls) {
            tls.push_back(nullptr);
            continue;
        }
        auto r =
            net::make_server_context(l.tls->certificate, l.tls->private_key, eff.http2.enabled);
        if (!r.context) {
            out.errors.push_back(l.address + ": " + r.error + "; keeping the running certificate");
            continue;
        }
        tls.push_back(r.context);
    }
    if (!out.errors.empty()) {
        out.summary = "reload refused: the running configuration stays in effect";
        return out;
    }

    auto next_settings = std::make_shared<const settings>(settings::from(eff));
    const auto before = m.tables->get();
    auto table = std::make_shared<const registry::node_table>(eff.nodes, before.get());
    m.tables->set(table);
    std::set<std::string> keys;
    for (const auto& e : table->nodes()) {
        keys.insert(e.pool_key);
    }
    for (auto& wp : m.workers) {
        worker& w = *wp;
        std::vector<ssl::context*> raw;
        for (const auto& ctx : tls) {
            raw.push_back(ctx.get());
        }
        asio::post(w.ioc, [&w, next_settings, table, raw = std::move(raw), keys] {
            w.env.config = next_settings;
            w.env.table = table;
            w.tls = raw;
            // Idle connections to nodes that are gone or moved close now; those lent out right
            // now come back under their old key after their request, and housekeeping closes them.
            w.pool.retain([&keys](const std::string& key) { return keys.count(key) != 0; });
            w.pool_keys = keys;
        });
    }
    m.checker->update(table);
    for (auto& ctx : m.listener_tls) {
        if (ctx) {
            m.retired_tls.push_back(std::move(ctx));
        }
    }
    m.listener_tls = std::move(tls);
    m.settings_ = next_settings;
    m.config = eff;

    out.ok = true;
    out.warnings = std::move(plan.restart_only);
    out.summary = "reloaded: " + std::to_string(eff.nodes.size()) + " node(s) (" +
                  std::to_string(plan.added.size()) + " added, " +
                  std::to_string(plan.removed.size()) + " removed, " +
                  std::to_string(plan.changed.size()) + " changed)";
    const auto list = [](const std::vector<std::string>& ids) {
        std::string s;
        for (const auto& id : ids) {
            s += (s.empty() ? "" : ", ") + id;
        }
        return s;
    };
    if (!plan.added.empty()) {
        out.summary += "; added " + list(plan.added);
    }
    if (!plan.removed.empty()) {
        out.summary += "; removed " + list(plan.removed);
    }
    if (!plan.changed.empty()) {
        out.summary += "; changed " + list(plan.changed);
    }
    return out;
}

config::proxy_config server::current_config() const {
    std::lock_guard lock(impl_->config_mutex);
    return impl_->config;
}

std::vector<health::status> server::node_health() const {
    std::vector<health::status> out;
    const auto table = impl_->tables->get();
    for (const auto& e : table->nodes()) {
        out.push_back(e.health->snapshot());
    }
    return out;
}

totals server::counters() const {
    totals t;
    const auto get = [](const std::atomic<std::uint64_t>& a) {
        return a.load(std::memory_order_relaxed);
    };
    for (const auto& w : impl_->workers) {
        const auto& c = w->counters;
        t.connections_accepted += get(c.connections_accepted);
        t.connections_refused += get(c.connections_refused);
        t.connections_active += get(c.connections_active);
        t.requests += get(c.requests);
        t.responses_2xx += get(c.responses_2xx);
        t.responses_3xx += get(c.responses_3xx);
        t.responses_4xx += get(c.responses_4xx);
        t.responses_5xx += get(c.responses_5xx);
        t.rejected += get(c.rejected);
        t.not_found += get(c.not_found);
        t.upstream_errors += get(c.upstream_errors);
        t.upstream_timeouts += get(c.upstream_timeouts);
        t.upstream_retries += get(c.upstream_retries);
        t.node_unavailable += get(c.node_unavailable);
        t.client_timeouts += get(c.client_timeouts);
        t.tunnels_opened += get(c.tunnels_opened);
        t.tunnels_active += get(c.tunnels_active);
        t.bytes_to_clients += get(c.bytes_to_clients);
        t.upstream_connects += get(w->pool.stats().connects);
        t.upstream_reuses += get(w->pool.stats().reuses);
        for (std::size_t i = 0; i < t.refusals.size(); ++i) {
            t.refusals[i] += get(c.refusals.by_reason[i]);
        }
    }
    return t;
}

std::optional<cache::snapshot> server::cache_stats() const {
    if (!impl_->cache) {
        return std::nullopt;
    }
    return impl_->cache->stats();
}

std::optional<std::size_t> server::purge_cache(std::string_view node_id) {
    if (!impl_->cache) {
        return std::nullopt;
    }
    return impl_->cache->entries().purge(node_id);
}

observe::stats_snapshot server::stats() const {
    observe::stats_snapshot s;
    for (const auto& w : impl_->workers) {
        s.add(w->stats);
    }
    return s;
}

std::map<std::string, std::size_t> server::idle_connections(std::chrono::milliseconds wait) const {
    // Each worker counts its own pool on its own thread; the answers meet in `shared`, which
    // outlives this call if a worker answers late.
    struct answers {
        std::mutex mutex;
        std::condition_variable done;
        std::size_t pending = 0;
        std::unordered_map<std::string, std::size_t> by_key;
    };
    auto shared = std::make_shared<answers>();
    shared->pending = impl_->workers.size();
    for (const auto& wp : impl_->workers) {
        asio::post(wp->ioc, [shared, &pool = wp->pool] {
            const auto counts = pool.idle_counts();
            std::lock_guard lock(shared->mutex);
            for (const auto& [key, n] : counts) {
                shared->by_key[key] += n;
            }
            --shared->pending;
            shared->done.notify_all();
        });
    }
    std::unique_lock lock(shared->mutex);
    shared->done.wait_for(lock, wait, [&] { return shared->pending == 0; });
    std::map<std::string, std::size_t> out;
    for (const auto& n : impl_->tables->get()->nodes()) {
        const auto it = shared->by_key.find(n.pool_key);
        out[n.id] = it == shared->by_key.end() ? 0 : it->second;
    }
    return out;
}

std::shared_ptr<const registry::node_table> server::nodes() const {
    return impl_->tables->get();
}

bool server::draining() const {
    return impl_->stop_requested.load();
}

observe::access_log* server::access_log() const {
    return impl_->access_log.get();
}

awaitable<void> server::impl::accept_loop(worker& w, std::size_t listener) {
    tcp::acceptor& acceptor = w.acceptors[listener];
    while (true) {
        auto [ec, socket] = co_await acceptor.async_accept(use_nothrow);
        if (ec) {
            if (!acceptor.is_open() || ec == asio::error::operation_aborted) {
                co_return;
            }
            // Out of file descriptors or similar: back off instead of spinning on accept.
            log::get("proxy")->warn("accept failed: {}", ec.message());
            asio::steady_timer pause(w.ioc, std::chrono::milliseconds(50));
            co_await pause.async_wait(use_nothrow);
            continue;
        }
        observe::bump(w.counters.connections_accepted);
        // Read per connection: a reload may have replaced the certificate or the limit.
        ssl::context* tls = w.tls[listener];
        const std::size_t cap = w.env.config->max_connections;
        if (open_connections.fetch_add(1, std::memory_order_relaxed) >= cap) {
            open_connections.fetch_sub(1, std::memory_order_relaxed);
            observe::bump(w.counters.connections_refused);
            w.counters.refusals.bump(observe::refusal::connection_cap);
            refuse_connection(std::move(socket),
                              tls == nullptr ? http::make_local_reply(503, {}) : std::string(),
                              w.refusing);
            continue;
        }
        ip_connection counted;
        error_code peer_ec;
        const auto peer = socket.remote_endpoint(peer_ec);
        if (!peer_ec && !per_ip->try_connect(ip_key::from(peer.address()), counted)) {
            open_connections.fetch_sub(1, std::memory_order_relaxed);
            observe::bump(w.counters.connections_refused);
            w.counters.refusals.bump(observe::refusal::ip_connection_cap);
            http::local_reply_options o;
            o.extra_headers = "Retry-After: 1\r\n";
            refuse_connection(std::move(socket),
                              tls == nullptr ? http::make_local_reply(429, o) : std::string(),
                              w.refusing);
            continue;
        }
        auto s = std::make_unique<session>(w.env, std::move(socket), tls);
        s->hold(std::move(counted));
        asio::co_spawn(w.ioc, session::run(std::move(s)), session::log_failure);
    }
}

awaitable<void> server::impl::housekeeping(worker& w) {
    while (!w.stopping) {
        w.tick.expires_after(std::chrono::seconds(1));
        co_await w.tick.async_wait(use_nothrow);
        w.pool.expire_idle();
        w.log_buffer.flush();
        if (!w.pool_keys.empty()) {
            // Connections lent out during a reload come back under their old key: close them.
            w.pool.retain([&w](const std::string& key) { return w.pool_keys.count(key) != 0; });
        }
    }
}

awaitable<void> server::impl::drain(worker& w) {
    for (auto& a : w.acceptors) {
        error_code ignored;
        a.close(ignored);
    }
    w.env.draining = true;
    for (auto* s : w.env.sessions) {
        s->close_if_idle();
    }
    const auto deadline = std::chrono::steady_clock::now() + w.env.config->timeout.shutdown;
    asio::steady_timer timer(w.ioc);
    while (!w.env.sessions.empty()) {
        if (std::chrono::steady_clock::now() >= deadline) {
            // Copy: abort() makes sessions finish, which erases them from the list.
            const std::vector<session*> left(w.env.sessions.begin(), w.env.sessions.end());
            for (auto* s : left) {
                s->abort();
            }
        } else {
            for (auto* s : w.env.sessions) {
                s->close_if_idle();
            }
        }
        timer.expires_after(std::chrono::milliseconds(20));
        co_await timer.async_wait(use_nothrow);
    }
    w.pool.clear();
    w.log_buffer.flush();
    w.stopping = true;
    w.tick.cancel();
}

}  // namespace bcp::proxy
