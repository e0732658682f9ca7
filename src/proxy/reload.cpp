#include "proxy/reload.hpp"

#include <algorithm>
#include <map>

namespace bcp::proxy {
namespace {

std::string listeners_text(const std::vector<config::listener>& listen) {
    std::string out;
    for (const auto& l : listen) {
        out += (out.empty() ? "" : ", ") + l.address + (l.tls ? " (tls)" : "");
    }
    return out;
}

// Same sockets: the same addresses in the same order, each with or without TLS as before.
// Certificate and key paths may differ: they are re-read on every reload.
bool same_sockets(const std::vector<config::listener>& a, const std::vector<config::listener>& b) {
    return std::equal(a.begin(), a.end(), b.begin(), b.end(), [](const auto& x, const auto& y) {
        return x.address == y.address && x.tls.has_value() == y.tls.has_value();
    });
}

bool same_health(const config::health_options& a, const config::health_options& b) {
    return a.enabled == b.enabled && a.interval == b.interval && a.timeout == b.timeout &&
           a.path == b.path && a.healthy_threshold == b.healthy_threshold &&
           a.unhealthy_threshold == b.unhealthy_threshold && a.passive == b.passive &&
           a.retry_after == b.retry_after;
}

bool same_node(const config::node& a, const config::node& b) {
    return a.url == b.url && a.mounts == b.mounts && same_health(a.health, b.health) &&
           a.post == b.post;
}

std::string ms_text(std::chrono::milliseconds d) {
    return std::to_string(d.count()) + "ms";
}

}  // namespace

reload_plan plan_reload(const config::proxy_config& running, const config::proxy_config& next) {
    reload_plan plan;
    plan.effective = next;
    auto& eff = plan.effective;
    const auto keep = [&](std::string key, const std::string& from, const std::string& to) {
        plan.restart_only.push_back(key + ": changed from " + from + " to " + to +
                                    "; this needs a restart, keeping " + from);
    };

    if (!same_sockets(running.listen, next.listen)) {
        keep("listen", "[" + listeners_text(running.listen) + "]",
             "[" + listeners_text(next.listen) + "]");
        eff.listen = running.listen;
    }
    if (running.workers != next.workers) {
        keep("workers", std::to_string(running.workers), std::to_string(next.workers));
        eff.workers = running.workers;
    }
    if (running.upstream.verify != next.upstream.verify) {
        keep("upstream.verify", running.upstream.verify ? "true" : "false",
             next.upstream.verify ? "true" : "false");
    }
    if (running.upstream.ca_file != next.upstream.ca_file) {
        keep("upstream.ca_file", "'" + running.upstream.ca_file + "'",
             "'" + next.upstream.ca_file + "'");
    }
    if (running.upstream.max_idle_per_node != next.upstream.max_idle_per_node) {
        keep("upstream.max_idle_per_node", std::to_string(running.upstream.max_idle_per_node),
             std::to_string(next.upstream.max_idle_per_node));
    }
    eff.upstream = running.upstream;
    if (running.timeout.upstream_connect != next.timeout.upstream_connect) {
        keep("timeouts.upstream_connect", ms_text(running.timeout.upstream_connect),
             ms_text(next.timeout.upstream_connect));
        eff.timeout.upstream_connect = running.timeout.upstream_connect;
    }
    if (running.timeout.upstream_idle != next.timeout.upstream_idle) {
        keep("timeouts.upstream_idle", ms_text(running.timeout.upstream_idle),
             ms_text(next.timeout.upstream_idle));
        eff.timeout.upstream_idle = running.timeout.upstream_idle;
    }
    // The per-address table is sized and tuned once (proxy/ip_limits.hpp); the global cap, the
    // header caps and the deadlines are read per connection and follow the reload.
    const auto keep_limit = [&](const char* key, std::size_t config::limits::*field) {
        if (running.limit.*field != next.limit.*field) {
            keep(std::string("limits.") + key, std::to_string(running.limit.*field),
                 std::to_string(next.limit.*field));
            eff.limit.*field = running.limit.*field;
        }
    };
    keep_limit("max_connections_per_ip", &config::limits::max_connections_per_ip);
    keep_limit("requests_per_second_per_ip", &config::limits::requests_per_second_per_ip);
    keep_limit("request_burst_per_ip", &config::limits::request_burst_per_ip);
    // The admin listener and the access log are opened once, at start.
    const auto admin_text = [](const std::optional<config::admin_options>& a) {
        return a ? "{address: " + a->address + ", token_file: '" + a->token_file + "'}"
                 : std::string("none");
    };
    if (admin_text(running.admin) != admin_text(next.admin)) {
        keep("admin", admin_text(running.admin), admin_text(next.admin));
        eff.admin = running.admin;
    }
    const auto log_text = [](const std::optional<config::access_log_options>& l) {
        return l ? "{format: " + l->format + ", path: " + l->path + "}" : std::string("none");
    };
    if (log_text(running.access_log) != log_text(next.access_log)) {
        keep("access_log", log_text(running.access_log), log_text(next.access_log));
        eff.access_log = running.access_log;
    }
    // The cache (store, flights, compressor) is made once, at start, from these settings.
    const auto cache_text = [](const config::cache_options& c) {
        if (!c.enabled) {
            return std::string("{enabled: false}");
        }
        return "{max_size: " + std::to_string(c.max_size) +
               ", max_object_size: " + std::to_string(c.max_object_size) +
               ", x_cache_header: " + (c.x_cache_header ? "true" : "false") +
               ", coalesce_wait: " + ms_text(c.coalesce_wait) +
               ", stale_if_error: " + ms_text(c.stale_if_error) +
               ", heuristic_max: " + ms_text(c.heuristic_max) +
               ", compress: " + (c.compress ? "true" : "false") +
               ", compress_workers: " + std::to_string(c.compress_workers) +
               ", compress_queue: " + std::to_string(c.compress_queue) +
               ", dictionaries: " + (c.dictionaries ? "true" : "false") +
               ", max_deltas_per_asset: " + std::to_string(c.max_deltas_per_asset) +
               ", max_delta_memory: " + std::to_string(c.max_delta_memory) +
               ", dictionary_retention: " + std::to_string(c.dictionary_retention) + "}";
    };
    if (cache_text(running.cache) != cache_text(next.cache)) {
        keep("cache", cache_text(running.cache), cache_text(next.cache));
        eff.cache = running.cache;
    }
    if (running.pid_file != next.pid_file) {
        keep("pid_file", "'" + running.pid_file + "'", "'" + next.pid_file + "'");
        eff.pid_file = running.pid_file;
    }

    std::map<std::string, const config::node*> before;
    for (const auto& n : running.nodes) {
        before.emplace(n.id, &n);
    }
    for (const auto& n : next.nodes) {
        const auto it = before.find(n.id);
        if (it == before.end()) {
            plan.added.push_back(n.id);
            continue;
        }
        if (!same_node(*it->second, n)) {
            plan.changed.push_back(n.id);
        }
        before.erase(it);
    }
    for (const auto& [id, n] : before) {
        plan.removed.push_back(id);
    }
    std::sort(plan.added.begin(), plan.added.end());
    std::sort(plan.changed.begin(), plan.changed.end());
    return plan;
}

}  // namespace bcp::proxy
