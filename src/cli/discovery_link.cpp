#include "cli/discovery_link.hpp"

#include "core/log.hpp"
#include "net/tls.hpp"

namespace bcp::cli {

struct discovery_link::source {
    config::scalelite_discovery options;
    std::shared_ptr<boost::asio::ssl::context> tls;  // for rediss:// and an https:// API
    std::unique_ptr<discovery::scalelite_poller> poller;
};

namespace {

bool same_options(const config::scalelite_discovery& a, const config::scalelite_discovery& b) {
    // Everything but the section's place in the file.
    return a.redis == b.redis && a.api == b.api && a.namespace_prefix == b.namespace_prefix &&
           a.interval == b.interval && a.removal_grace == b.removal_grace &&
           a.snapshot == b.snapshot && a.ids == b.ids;
}

}  // namespace

std::shared_ptr<boost::asio::ssl::context> source_tls(const config::proxy_config& cfg,
                                                      discovery::source_options& options,
                                                      std::string& error) {
    const auto& d = cfg.discovery.scalelite;
    if (!d || !config::uses_tls(*d)) {
        return nullptr;
    }
    auto ctx = net::make_client_context(cfg.upstream.verify, cfg.upstream.ca_file);
    if (!ctx.context) {
        error = ctx.error;
        return nullptr;
    }
    options.tls = ctx.context.get();
    options.verify = cfg.upstream.verify;
    return std::move(ctx.context);
}

discovery_link::discovery_link() = default;

discovery_link::~discovery_link() {
    stop();
}

void discovery_link::on_change(std::function<void()> request_reload) {
    std::lock_guard lock(mutex_);
    request_reload_ = std::move(request_reload);
    // The first poll may have found servers between start() and now: that change is not lost.
    if (request_reload_ && missed_change_) {
        missed_change_ = false;
        request_reload_();
    }
}

void discovery_link::amend(config::proxy_config& cfg) {
    const auto& wanted = cfg.discovery.scalelite;
    if (!wanted) {
        if (current_) {
            log::get("discovery")->info("discovery removed from the configuration; polling stops");
            std::unique_ptr<source> old;
            {
                std::lock_guard lock(source_mutex_);
                old = std::move(current_);
            }
            old->poller->stop();
        }
        return;
    }
    if (!current_ || !same_options(current_->options, *wanted)) {
        if (current_) {
            log::get("discovery")
                ->info("discovery.scalelite changed; polling {} from now on", wanted->describe());
        }
        auto next = std::make_unique<source>();
        next->options = *wanted;
        discovery::poller_options o;
        o.source = *wanted;
        std::string tls_error;
        next->tls = source_tls(cfg, o.connection, tls_error);
        if (!tls_error.empty()) {
            log::get("discovery")->error("{}: {}", wanted->describe(), tls_error);
        }
        next->poller = std::make_unique<discovery::scalelite_poller>(
            std::move(o), [this](const std::vector<discovery::discovered_node>&) {
                std::lock_guard lock(mutex_);
                if (request_reload_) {
                    request_reload_();
                } else {
                    missed_change_ = true;
                }
            });
        std::unique_ptr<source> old;
        {
            std::lock_guard lock(source_mutex_);
            old = std::move(current_);
            current_ = std::move(next);
        }
        if (old) {
            old->poller->stop();  // joins its thread; its last change request may still come
        }
        if (started_) {
            current_->poller->start();
        }
    }
    const auto public_origin = cfg.public_origin.to_string();
    for (const auto& found : current_->poller->nodes()) {
        if (cfg.find_node(found.id) != nullptr) {
            if (logged_conflicts_.insert(found.id).second) {
                log::get("discovery")
                    ->warn(
                        "Scalelite server {} ({}) has the id of a configured node: the configured "
                        "node is served",
                        found.id, found.url);
            }
            continue;
        }
        if (found.url == public_origin) {
            continue;  // the proxy itself: every request would loop
        }
        config::node n;
        n.id = found.id;
        n.url = found.url;
        n.upstream = found.upstream;
        n.mounts = {"html5client"};
        n.health = cfg.health;
        n.post = cfg.post;
        n.source = "scalelite";
        n.where = {"scalelite:" + found.scalelite_id, 0, 0};
        cfg.nodes.push_back(std::move(n));
    }
}

void discovery_link::start() {
    started_ = true;
    if (current_) {
        current_->poller->start();
    }
}

void discovery_link::stop() {
    {
        std::lock_guard lock(mutex_);
        request_reload_ = nullptr;
        missed_change_ = false;
    }
    if (current_) {
        current_->poller->stop();
    }
}

std::optional<discovery::poller_state> discovery_link::state() const {
    std::lock_guard lock(source_mutex_);
    if (!current_) {
        return std::nullopt;
    }
    return current_->poller->state();
}

std::size_t discovery_link::node_count() const {
    std::lock_guard lock(source_mutex_);
    return current_ ? current_->poller->nodes().size() : 0;
}

}  // namespace bcp::cli
