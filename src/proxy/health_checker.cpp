#include "proxy/health_checker.hpp"

#include "core/log.hpp"
#include "net/watchdog.hpp"
#include "upstream/pool.hpp"

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>

#include <map>
#include <thread>

namespace bcp::proxy {
namespace bhttp = boost::beast::http;

namespace {

// One node being watched; lives on the checker thread only.
struct watch {
    explicit watch(asio::any_io_executor ex) : timer(std::move(ex)) {}
    std::shared_ptr<const registry::node_table> table;  // keeps *entry alive
    const registry::node_entry* entry = nullptr;
    asio::steady_timer timer;
    bool stopped = false;
};

std::string check_path(const registry::node_entry& e, const config::health_options& o) {
    if (!o.path.empty()) {
        return o.path;
    }
    return "/" + e.id + "/" + (e.mounts.empty() ? std::string("html5client") : e.mounts.front()) +
           "/";
}

}  // namespace

struct health_checker::impl {
    asio::io_context ioc{1};
    asio::executor_work_guard<asio::io_context::executor_type> guard{ioc.get_executor()};
    std::thread thread;
    boost::asio::ssl::context* tls;
    bool verify;
    std::map<std::string, std::shared_ptr<watch>> watches;  // by pool_key

    void follow(std::shared_ptr<const registry::node_table> table);
    awaitable<void> run(std::shared_ptr<watch> w);
    awaitable<std::string> check_once(const registry::node_entry& e,
                                      const config::health_options& o);
};

health_checker::health_checker(boost::asio::ssl::context* tls, bool verify)
    : impl_(std::make_unique<impl>()) {
    impl_->tls = tls;
    impl_->verify = verify;
}

health_checker::~health_checker() {
    stop();
}

void health_checker::start(std::shared_ptr<const registry::node_table> table) {
    update(std::move(table));
    impl_->thread = std::thread([m = impl_.get()] { m->ioc.run(); });
}

void health_checker::update(std::shared_ptr<const registry::node_table> table) {
    asio::post(impl_->ioc,
               [m = impl_.get(), t = std::move(table)]() mutable { m->follow(std::move(t)); });
}

void health_checker::stop() {
    impl_->ioc.stop();
    if (impl_->thread.joinable()) {
        impl_->thread.join();
    }
}

void health_checker::impl::follow(std::shared_ptr<const registry::node_table> table) {
    std::map<std::string, std::shared_ptr<watch>> next;
    for (const auto& e : table->nodes()) {
        auto it = watches.find(e.pool_key);
        std::shared_ptr<watch> w;
        if (it != watches.end()) {
            w = it->second;
            watches.erase(it);
            w->timer.cancel();  // settings may have changed: check again now
        } else {
            w = std::make_shared<watch>(ioc.get_executor());
            asio::co_spawn(ioc, run(w), asio::detached);
        }
        w->table = table;
        w->entry = &e;
        next.emplace(e.pool_key, std::move(w));
    }
    for (auto& [key, w] : watches) {  // nodes that are gone (or moved to another url)
        w->stopped = true;
        w->timer.cancel();
    }
    watches = std::move(next);
}

awaitable<void> health_checker::impl::run(std::shared_ptr<watch> w) {
    // The first check of a new node waits for follow() to have filled in the entry.
    co_await asio::post(ioc, asio::use_awaitable);
    while (!w->stopped) {
        const auto table = w->table;  // the entry stays valid across the check
        const auto& e = *w->entry;
        const auto options = e.health->options();
        if (!options.enabled || options.interval.count() == 0) {
            w->timer.expires_at(asio::steady_timer::time_point::max());
            co_await w->timer.async_wait(use_nothrow);
            continue;
        }
        const std::string failure = co_await check_once(e, options);
        if (w->stopped) {
            break;
        }
        if (failure.empty()) {
            log_health_change(*e.health, e.health->check_passed(), {});
        } else {
            log::get("health")->debug("node {}: check failed: {}", e.id, failure);
            log_health_change(*e.health, e.health->check_failed(failure), failure);
        }
        w->timer.expires_after(options.interval);
        co_await w->timer.async_wait(use_nothrow);
    }
}

// Empty when the check passed, otherwise what failed.
awaitable<std::string> health_checker::impl::check_once(const registry::node_entry& e,
                                                        const config::health_options& o) {
    upstream::pool_options po;
    po.max_idle_per_node = 0;
    po.connect_timeout = o.timeout;
    po.tls = tls;
    po.verify = verify;
    upstream::pool connector(ioc.get_executor(), po);
    const auto started = std::chrono::steady_clock::now();
    const upstream::target t{e.pool_key, e.upstream.host, e.upstream.port, e.upstream.tls()};
    auto c = co_await connector.connect(t);
    if (!c.conn) {
        co_return c.message;
    }
    auto& conn = *c.conn;
    net::watchdog dog(ioc.get_executor(), [&conn] { conn.stream.close(); });
    dog.arm_at(started + o.timeout);
    const std::string path = check_path(e, o);
    const std::string request = "GET " + path + " HTTP/1.1\r\nHost: " + e.authority +
                                "\r\nUser-Agent: bbb-cluster-proxy health check\r\n"
                                "Connection: close\r\n\r\n";
    std::string failure;
    // The watchdog closes the stream at the deadline, which ends the pending operation.
    auto work = [&]() -> awaitable<void> {
        auto [wec, wn] =
            co_await asio::async_write(conn.stream, asio::buffer(request), use_nothrow);
        if (wec) {
            failure = "sending the check request failed: " + wec.message();
            co_return;
        }
        bhttp::response_parser<bhttp::empty_body> parser;
        parser.skip(true);
        auto [rec, rn] =
            co_await bhttp::async_read_header(conn.stream, conn.buffer, parser, use_nothrow);
        if (rec) {
            failure = "reading the response to GET " + path + " failed: " + rec.message();
            co_return;
        }
        const unsigned status = parser.get().result_int();
        if (status < 200 || status >= 400) {
            failure = "GET " + path + " answered " + std::to_string(status);
        }
    };
    co_await work();
    dog.disarm();
    conn.stream.close();
    if (dog.fired()) {
        failure =
            "no response to GET " + path + " within " + std::to_string(o.timeout.count()) + "ms";
    }
    co_return failure;
}

void log_health_change(const health::node_health& node, health::change what,
                       const std::string& why) {
    if (what == health::change::became_unhealthy) {
        log::get("health")->warn("node {} is unhealthy: {}; new requests get a 503 page",
                                 node.node_id(), why);
    } else if (what == health::change::became_healthy) {
        log::get("health")->info("node {} is healthy again", node.node_id());
    }
}

}  // namespace bcp::proxy
