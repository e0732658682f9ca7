#include "admin/endpoints.hpp"

#include "config/values.hpp"
#include "observe/prometheus.hpp"

#include <nlohmann/json.hpp>

#include <cmath>
#include <limits>
#include <set>

namespace bcp::admin {
namespace {

using observe::label;

// Everything one answer is made from, read once so that /metrics and the page agree.
struct gathered {
    proxy::totals totals;
    observe::stats_snapshot stats;
    std::map<std::string, std::size_t> idle;
    std::shared_ptr<const registry::node_table> table;
    std::map<std::string, node_health_view> health;
    std::optional<cache_view> cache;
    std::set<std::string> node_ids;  ///< configured now, or seen since start (never "-")
    bool draining = false;
    double uptime = 0;
};

gathered gather(const sources& s) {
    gathered g;
    g.totals = s.proxy->counters();
    g.stats = s.proxy->stats();
    g.idle = s.proxy->idle_connections(s.worker_wait);
    g.table = s.proxy->nodes();
    g.draining = s.proxy->draining();
    g.uptime = std::chrono::duration<double>(std::chrono::system_clock::now() - s.started).count();
    if (s.health) {
        for (auto& h : s.health()) {
            g.health.emplace(h.node_id, std::move(h));
        }
    }
    if (s.cache) {
        g.cache = s.cache();
    }
    for (const auto& n : g.table->nodes()) {
        g.node_ids.insert(n.id);
    }
    for (const auto& [id, t] : g.stats.nodes) {
        if (id != observe::no_node) {
            g.node_ids.insert(id);
        }
    }
    return g;
}

const observe::node_totals& totals_of(const gathered& g, std::string_view id) {
    static const observe::node_totals none;
    const auto it = g.stats.nodes.find(id);
    return it == g.stats.nodes.end() ? none : it->second;
}

std::string status_class(unsigned code) {
    if (code < 100 || code > 599) {
        return "other";
    }
    return std::to_string(code / 100) + "xx";
}

double unix_seconds(std::chrono::system_clock::time_point t) {
    return std::chrono::duration<double>(t.time_since_epoch()).count();
}

response json_response(std::string body) {
    response r;
    r.content_type = "application/json";
    r.body = std::move(body);
    return r;
}

bool wants_json(const request& r) {
    return r.query_param("format") == "json" ||
           r.header("accept").find("application/json") != std::string_view::npos;
}

}  // namespace

double quantile(const observe::histogram_totals& h, double q) {
    if (h.count == 0) {
        return std::numeric_limits<double>::quiet_NaN();
    }
    const double rank = q * static_cast<double>(h.count);
    std::uint64_t cumulative = 0;
    for (std::size_t i = 0; i < h.counts.size(); ++i) {
        const std::uint64_t before = cumulative;
        cumulative += h.counts[i];
        if (static_cast<double>(cumulative) >= rank && h.counts[i] != 0) {
            if (i == observe::latency_buckets.size()) {
                return observe::latency_buckets.back();  // +Inf bucket: the highest finite bound
            }
            const double lower = i == 0 ? 0.0 : observe::latency_buckets[i - 1];
            const double upper = observe::latency_buckets[i];
            const double within =
                (rank - static_cast<double>(before)) / static_cast<double>(h.counts[i]);
            return lower + (upper - lower) * within;
        }
    }
    return observe::latency_buckets.back();
}

std::string metrics_text(const sources& s) {
    const gathered g = gather(s);
    const auto& t = g.totals;
    observe::exposition e;
    const auto u64 = [](auto v) { return static_cast<std::uint64_t>(v); };

    e.family("bcp_build_info", "gauge", "Always 1; the version label is the running release.");
    e.sample("bcp_build_info", {{"version", BCP_VERSION}}, u64(1));
    e.family("bcp_start_time_seconds", "gauge", "Start time of the process, Unix seconds.");
    e.sample("bcp_start_time_seconds", {}, unix_seconds(s.started));
    e.family("bcp_draining", "gauge", "1 while the proxy drains for shutdown, else 0.");
    e.sample("bcp_draining", {}, u64(g.draining ? 1 : 0));
    e.family("bcp_workers", "gauge", "Worker threads serving connections.");
    e.sample("bcp_workers", {}, u64(s.proxy->worker_count()));
    e.family("bcp_nodes", "gauge", "Nodes in the configuration in effect.");
    e.sample("bcp_nodes", {}, u64(g.table->nodes().size()));

    e.family("bcp_connections_accepted_total", "counter", "Client connections accepted.");
    e.sample("bcp_connections_accepted_total", {}, t.connections_accepted);
    e.family("bcp_connections_active", "gauge", "Client connections open now.");
    e.sample("bcp_connections_active", {}, t.connections_active);
    e.family("bcp_client_timeouts_total", "counter",
             "Client connections closed by a head, idle or send deadline.");
    e.sample("bcp_client_timeouts_total", {}, t.client_timeouts);
    e.family("bcp_refusals_total", "counter",
             "Connections and requests refused before reaching a node, by reason.");
    for (std::size_t r = 0; r < observe::refusal_names.size(); ++r) {
        e.sample("bcp_refusals_total", {{"reason", observe::refusal_names[r]}}, t.refusals[r]);
    }

    e.family("bcp_requests_total", "counter",
             "Responses sent, by node (\"-\" = answered before routing) and status code.");
    for (const auto& [id, nt] : g.stats.nodes) {
        for (const auto& [code, n] : nt.responses) {
            const std::string c = std::to_string(code);
            e.sample("bcp_requests_total",
                     {{"node", id}, {"code", c}, {"class", status_class(code)}}, n);
        }
    }
    e.family("bcp_response_bytes_total", "counter",
             "Response body bytes sent to clients, by node (tunnel bytes excluded).");
    for (const auto& id : g.node_ids) {
        e.sample("bcp_response_bytes_total", {{"node", id}}, totals_of(g, id).response_bytes);
    }
    e.family("bcp_request_duration_seconds", "histogram",
             "From the complete request head to the last response byte written, by node "
             "(WebSocket tunnels excluded).");
    for (const auto& id : g.node_ids) {
        e.histogram("bcp_request_duration_seconds", {{"node", id}}, totals_of(g, id).duration);
    }
    e.family("bcp_upstream_first_byte_seconds", "histogram",
             "From the start of the node exchange (connect included) to the node's response "
             "head, by node.");
    for (const auto& id : g.node_ids) {
        e.histogram("bcp_upstream_first_byte_seconds", {{"node", id}}, totals_of(g, id).ttfb);
    }

    e.family("bcp_upstream_connect_errors_total", "counter",
             "Failed connects to a node (refused, unreachable, TLS, timeout), by node.");
    for (const auto& id : g.node_ids) {
        e.sample("bcp_upstream_connect_errors_total", {{"node", id}},
                 totals_of(g, id).connect_errors);
    }
    e.family("bcp_upstream_idle_connections", "gauge",
             "Idle keep-alive connections to a node, all workers together.");
    for (const auto& [id, n] : g.idle) {
        e.sample("bcp_upstream_idle_connections", {{"node", id}}, u64(n));
    }
    e.family("bcp_upstream_connections_opened_total", "counter", "New connections to nodes.");
    e.sample("bcp_upstream_connections_opened_total", {}, t.upstream_connects);
    e.family("bcp_upstream_reuses_total", "counter",
             "Requests sent on a pooled keep-alive connection.");
    e.sample("bcp_upstream_reuses_total", {}, t.upstream_reuses);
    e.family("bcp_upstream_retries_total", "counter",
             "Requests retried once on a fresh connection after a stale pooled one.");
    e.sample("bcp_upstream_retries_total", {}, t.upstream_retries);
    e.family("bcp_upstream_failures_total", "counter",
             "Node exchanges that failed: kind=error (502 or cut body), kind=timeout (504 or "
             "stalled body).");
    e.sample("bcp_upstream_failures_total", {{"kind", "error"}}, t.upstream_errors);
    e.sample("bcp_upstream_failures_total", {{"kind", "timeout"}}, t.upstream_timeouts);

    e.family("bcp_tunnels_active", "gauge", "WebSocket tunnels open now, by node.");
    for (const auto& id : g.node_ids) {
        e.sample("bcp_tunnels_active", {{"node", id}}, totals_of(g, id).tunnels_active);
    }
    e.family("bcp_tunnels_opened_total", "counter", "WebSocket tunnels opened, by node.");
    for (const auto& id : g.node_ids) {
        e.sample("bcp_tunnels_opened_total", {{"node", id}}, totals_of(g, id).tunnels_opened);
    }
    e.family("bcp_tunnel_bytes_total", "counter",
             "Bytes relayed through WebSocket tunnels, by node and direction.");
    for (const auto& id : g.node_ids) {
        const auto& nt = totals_of(g, id);
        e.sample("bcp_tunnel_bytes_total", {{"node", id}, {"direction", "to_client"}},
                 nt.tunnel_bytes_to_client);
        e.sample("bcp_tunnel_bytes_total", {{"node", id}, {"direction", "to_node"}},
                 nt.tunnel_bytes_to_node);
    }

    if (const auto* log = s.proxy->access_log()) {
        e.family("bcp_access_log_lines_total", "counter", "Access log lines written.");
        e.sample("bcp_access_log_lines_total", {}, log->lines_written());
        e.family("bcp_access_log_dropped_lines_total", "counter",
                 "Access log lines dropped (writer too far behind, or a write failed).");
        e.sample("bcp_access_log_dropped_lines_total", {}, log->lines_dropped());
    }

    if (s.health) {
        e.family("bcp_node_healthy", "gauge",
                 "1 when the node takes new requests, 0 when health checks took it out.");
        for (const auto& [id, h] : g.health) {
            e.sample("bcp_node_healthy", {{"node", id}}, u64(h.healthy ? 1 : 0));
        }
        e.family("bcp_node_health_checks_total", "counter", "Active health checks, by result.");
        for (const auto& [id, h] : g.health) {
            if (h.enabled) {
                e.sample("bcp_node_health_checks_total", {{"node", id}, {"result", "ok"}},
                         h.checks - std::min(h.checks, h.failed_checks));
                e.sample("bcp_node_health_checks_total", {{"node", id}, {"result", "failed"}},
                         h.failed_checks);
            }
        }
        e.family("bcp_node_health_transitions_total", "counter",
                 "Changes between healthy and unhealthy.");
        for (const auto& [id, h] : g.health) {
            e.sample("bcp_node_health_transitions_total", {{"node", id}}, h.transitions);
        }
    }

    if (const auto d = s.discovery ? s.discovery() : std::nullopt) {
        e.family("bcp_discovery_up", "gauge",
                 "1 when the last poll of the discovery source succeeded.");
        e.sample("bcp_discovery_up", {{"source", d->source}}, std::uint64_t{d->up ? 1u : 0u});
        e.family("bcp_discovery_last_success_timestamp_seconds", "gauge",
                 "When a poll last succeeded (0: never since start).");
        e.sample("bcp_discovery_last_success_timestamp_seconds", {{"source", d->source}},
                 d->last_success);
        e.family("bcp_discovery_polls_total", "counter", "Polls of the discovery source.");
        e.sample("bcp_discovery_polls_total", {{"source", d->source}}, d->polls);
        e.family("bcp_discovery_errors_total", "counter",
                 "Polls that failed (the last good table stays in service).");
        e.sample("bcp_discovery_errors_total", {{"source", d->source}}, d->errors);
        e.family("bcp_discovery_skipped_records", "gauge",
                 "Records of the last successful poll that are not served (see the log).");
        e.sample("bcp_discovery_skipped_records", {{"source", d->source}}, d->skipped);
        e.family("bcp_discovery_nodes", "gauge", "Nodes the source adds to the configured ones.");
        e.sample("bcp_discovery_nodes", {{"source", d->source}}, d->nodes);
    }

    if (g.cache) {
        const auto& c = *g.cache;
        e.family("bcp_cache_requests_total", "counter", "Cacheable lookups, by result.");
        e.sample("bcp_cache_requests_total", {{"result", "hit"}}, c.hits);
        e.sample("bcp_cache_requests_total", {{"result", "miss"}}, c.misses);
        e.sample("bcp_cache_requests_total", {{"result", "coalesced"}}, c.coalesced);
        e.sample("bcp_cache_requests_total", {{"result", "revalidated"}}, c.revalidations);
        e.sample("bcp_cache_requests_total", {{"result", "stale"}}, c.stale);
        e.sample("bcp_cache_requests_total", {{"result", "bypass"}}, c.bypass);
        e.family("bcp_cache_bytes_served_total", "counter", "Body bytes sent from the cache.");
        e.sample("bcp_cache_bytes_served_total", {}, c.bytes_served);
        e.family("bcp_cache_bytes_from_nodes_total", "counter",
                 "Body bytes fetched from nodes to fill the cache.");
        e.sample("bcp_cache_bytes_from_nodes_total", {}, c.bytes_from_nodes);
        e.family("bcp_cache_entries", "gauge", "Responses stored.");
        e.sample("bcp_cache_entries", {}, c.entries);
        e.family("bcp_cache_memory_bytes", "gauge", "Memory charged to the cache.");
        e.sample("bcp_cache_memory_bytes", {}, c.memory);
        e.family("bcp_cache_max_bytes", "gauge", "The cache's memory limit.");
        e.sample("bcp_cache_max_bytes", {}, c.max_size);
        e.family("bcp_cache_evictions_total", "counter", "Entries evicted for space.");
        e.sample("bcp_cache_evictions_total", {}, c.evictions);
        e.family("bcp_cache_purged_total", "counter", "Entries removed by a purge.");
        e.sample("bcp_cache_purged_total", {}, c.purged);

        // Content codings (docs/metrics.md): one sample per coding, from `first` on (the
        // compressor makes no identity).
        const auto per_coding = [&](const char* name, const char* help, cache::coding first,
                                    auto value) {
            e.family(name, "counter", help);
            for (auto i = static_cast<std::size_t>(first); i < cache::coding_count; ++i) {
                e.sample(name, {{"coding", cache::to_token(static_cast<cache::coding>(i))}},
                         value(i));
            }
        };
        const auto all = cache::coding::identity;
        const auto encoded = cache::coding::gzip;
        per_coding("bcp_cache_encoded_bytes_total",
                   "Body bytes sent from the cache, by content coding.", all,
                   [&](std::size_t i) { return c.coding_bytes[i]; });
        per_coding("bcp_cache_encoded_identity_bytes_total",
                   "Identity bytes those responses stand for (their ratio to "
                   "bcp_cache_encoded_bytes_total is the compression ratio clients see).",
                   all, [&](std::size_t i) { return c.coding_identity_bytes[i]; });
        per_coding("bcp_cache_encoded_responses_total",
                   "Responses served from stored entries, by content coding.", all,
                   [&](std::size_t i) { return c.coding_responses[i]; });
        const auto& z = c.compression;
        per_coding("bcp_cache_compressions_total", "Variants compressed, by coding.", encoded,
                   [&](std::size_t i) { return z.runs[i]; });
        per_coding("bcp_cache_compression_input_bytes_total",
                   "Identity bytes compressed, by coding.", encoded,
                   [&](std::size_t i) { return z.bytes_in[i]; });
        per_coding("bcp_cache_compression_output_bytes_total",
                   "Compressed bytes produced, by coding.", encoded,
                   [&](std::size_t i) { return z.bytes_out[i]; });
        per_coding("bcp_cache_compression_cpu_seconds_total",
                   "CPU time of the compression threads, by coding.", encoded,
                   [&](std::size_t i) { return static_cast<double>(z.cpu_ns[i]) / 1e9; });
        e.family("bcp_cache_compression_queued", "gauge", "Bodies waiting to be compressed.");
        e.sample("bcp_cache_compression_queued", {}, z.queued);
        e.family("bcp_cache_compression_skipped_total", "counter",
                 "Variants not made or not kept, by reason.");
        e.sample("bcp_cache_compression_skipped_total", {{"reason", "queue_full"}}, z.skipped_full);
        e.sample("bcp_cache_compression_skipped_total", {{"reason", "no_gain"}}, z.no_gain);
        e.sample("bcp_cache_compression_skipped_total", {{"reason", "failed"}}, z.failed);
        e.family("bcp_cache_variant_bytes", "gauge",
                 "Memory of encoded variants (part of bcp_cache_memory_bytes).");
        e.sample("bcp_cache_variant_bytes", {}, c.variant_bytes);

        // Compression dictionaries (RFC 9842): the deltas sent are the dcz samples above.
        e.family("bcp_cache_dictionary_requests_total", "counter",
                 "Requests naming a dictionary (Available-Dictionary, dcz accepted) for an asset "
                 "that may be sent as a delta, by result: delta (one was stored), pending (the "
                 "dictionary is stored, its delta is being made or was not kept), unknown (not "
                 "stored or not offered as a dictionary: ignored).");
        const auto misses = c.dictionary_unknown + c.dictionary_pending;
        e.sample("bcp_cache_dictionary_requests_total", {{"result", "delta"}},
                 c.dictionary_requests > misses ? c.dictionary_requests - misses : 0);
        e.sample("bcp_cache_dictionary_requests_total", {{"result", "pending"}},
                 c.dictionary_pending);
        e.sample("bcp_cache_dictionary_requests_total", {{"result", "unknown"}},
                 c.dictionary_unknown);
        e.family("bcp_cache_dictionary_saved_bytes_total", "counter",
                 "Bytes dcz responses saved against the coding each client would have got "
                 "otherwise.");
        e.sample("bcp_cache_dictionary_saved_bytes_total", {}, c.dcz_saved_bytes);
        e.family("bcp_cache_dictionary_deltas", "gauge", "Dictionary deltas stored.");
        e.sample("bcp_cache_dictionary_deltas", {}, c.deltas);
        e.family("bcp_cache_dictionary_delta_bytes", "gauge",
                 "Memory of dictionary deltas (part of bcp_cache_memory_bytes).");
        e.sample("bcp_cache_dictionary_delta_bytes", {}, c.delta_bytes);
        e.family("bcp_cache_dictionary_retired_bytes", "gauge",
                 "Memory of dictionary bodies kept after their entries went (purge, eviction), "
                 "for clients that still hold them (part of bcp_cache_memory_bytes).");
        e.sample("bcp_cache_dictionary_retired_bytes", {}, c.retired_bytes);
        e.family("bcp_cache_dictionary_retired", "gauge", "Those bodies.");
        e.sample("bcp_cache_dictionary_retired", {}, c.retired);
        e.family("bcp_cache_dictionary_deltas_refused_total", "counter",
                 "Deltas made but not kept: max_deltas_per_asset or max_delta_memory.");
        e.sample("bcp_cache_dictionary_deltas_refused_total", {}, z.delta_refused);
        e.family("bcp_cache_decode_faults_total", "counter",
                 "Node gzip bodies that did not decode within bounds (relayed, not stored).");
        e.sample("bcp_cache_decode_faults_total", {}, c.decode_faults);
    }
    return e.text();
}

std::string status_json(const sources& s, bool nodes_only) {
    using nlohmann::json;
    const gathered g = gather(s);
    const auto number_or_null = [](double v) -> json {
        return std::isnan(v) ? json(nullptr) : json(v);
    };
    json nodes = json::array();
    for (const auto& id : g.node_ids) {
        const auto& nt = totals_of(g, id);
        const auto* entry = g.table->find(id);
        json n;
        n["id"] = id;
        n["configured"] = entry != nullptr;
        n["origin"] = entry ? json(entry->origin_text) : json(nullptr);
        n["mounts"] = entry ? json(entry->mounts) : json::array();
        n["source"] = entry ? json(entry->source) : json(nullptr);
        if (const auto h = g.health.find(id); h != g.health.end()) {
            const auto& hv = h->second;
            n["health"] = {
                {"enabled", hv.enabled},
                {"healthy", hv.healthy},
                {"last_error", hv.last_error},
                {"last_check", hv.last_check ? json(unix_seconds(*hv.last_check)) : json(nullptr)},
                {"checks", hv.checks},
                {"failed_checks", hv.failed_checks},
                {"transitions", hv.transitions}};
        } else {
            n["health"] = nullptr;
        }
        n["requests"] = nt.requests;
        n["responses"] = {{"1xx", nt.responses_between(100, 200)},
                          {"2xx", nt.responses_between(200, 300)},
                          {"3xx", nt.responses_between(300, 400)},
                          {"4xx", nt.responses_between(400, 500)},
                          {"5xx", nt.responses_between(500, 600)}};
        n["bytes"] = nt.response_bytes;
        n["connect_errors"] = nt.connect_errors;
        n["tunnels_active"] = nt.tunnels_active;
        n["tunnels_opened"] = nt.tunnels_opened;
        const auto idle = g.idle.find(id);
        n["idle_connections"] = idle == g.idle.end() ? 0 : idle->second;
        n["latency"] = {{"p50", number_or_null(quantile(nt.duration, 0.5))},
                        {"p95", number_or_null(quantile(nt.duration, 0.95))},
                        {"upstream_p50", number_or_null(quantile(nt.ttfb, 0.5))}};
        nodes.push_back(std::move(n));
    }
    if (nodes_only) {
        return nodes.dump(2) + "\n";
    }
    const auto& t = g.totals;
    const auto& unrouted = totals_of(g, observe::no_node);
    json refusals = json::object();
    for (std::size_t r = 0; r < observe::refusal_names.size(); ++r) {
        if (t.refusals[r] != 0) {
            refusals[std::string(observe::refusal_names[r])] = t.refusals[r];
        }
    }
    std::uint64_t requests = 0, bytes = 0;
    json classes = {{"1xx", 0}, {"2xx", 0}, {"3xx", 0}, {"4xx", 0}, {"5xx", 0}};
    for (const auto& [id, nt] : g.stats.nodes) {
        requests += nt.requests;
        bytes += nt.response_bytes;
        for (unsigned c = 1; c <= 5; ++c) {
            classes[std::to_string(c) + "xx"] =
                classes[std::to_string(c) + "xx"].get<std::uint64_t>() +
                nt.responses_between(c * 100, c * 100 + 100);
        }
    }
    json out;
    out["version"] = BCP_VERSION;
    out["time"] = unix_seconds(std::chrono::system_clock::now());
    out["uptime_seconds"] = g.uptime;
    out["status"] = g.draining ? "draining" : "ok";
    out["workers"] = s.proxy->worker_count();
    out["totals"] = {{"requests", requests},
                     {"responses", classes},
                     {"unrouted", unrouted.requests},
                     {"bytes", bytes},
                     {"connections_active", t.connections_active},
                     {"connections_accepted", t.connections_accepted},
                     {"tunnels_active", t.tunnels_active},
                     {"upstream_failures", t.upstream_errors + t.upstream_timeouts},
                     {"refusals", refusals}};
    out["nodes"] = std::move(nodes);
    if (const auto d = s.discovery ? s.discovery() : std::nullopt) {
        out["discovery"] = {
            {"source", d->source},
            {"via", d->via},
            {"where", d->where},
            {"up", d->up},
            {"last_success", d->last_success != 0 ? json(d->last_success) : json(nullptr)},
            {"polls", d->polls},
            {"errors", d->errors},
            {"last_error", d->last_error},
            {"skipped", d->skipped},
            {"nodes", d->nodes},
            {"from_snapshot", d->from_snapshot}};
    } else {
        out["discovery"] = nullptr;
    }
    if (g.cache) {
        const auto& c = *g.cache;
        constexpr auto dcz = static_cast<std::size_t>(cache::coding::dcz);
        out["cache"] = {{"hits", c.hits},
                        {"misses", c.misses},
                        {"coalesced", c.coalesced},
                        {"revalidations", c.revalidations},
                        {"stale", c.stale},
                        {"bypass", c.bypass},
                        {"bytes_served", c.bytes_served},
                        {"bytes_from_nodes", c.bytes_from_nodes},
                        {"entries", c.entries},
                        {"memory", c.memory},
                        {"max_size", c.max_size},
                        {"evictions", c.evictions},
                        {"variant_bytes", c.variant_bytes},
                        {"compression_queued", c.compression.queued},
                        {"dictionaries",
                         {{"requests", c.dictionary_requests},
                          {"unknown", c.dictionary_unknown},
                          {"pending", c.dictionary_pending},
                          {"deltas_sent", c.coding_responses[dcz]},
                          {"saved_bytes", c.dcz_saved_bytes},
                          {"deltas", c.deltas},
                          {"delta_bytes", c.delta_bytes}}}};
        auto& encoded = out["cache"]["encoded_bytes"];
        for (std::size_t i = 0; i < cache::coding_count; ++i) {
            encoded[std::string(cache::to_token(static_cast<cache::coding>(i)))] =
                c.coding_bytes[i];
        }
    } else {
        out["cache"] = nullptr;
    }
    out["health_checks"] = static_cast<bool>(s.health);
    return out.dump() + "\n";
}

void register_endpoints(listener& l, std::shared_ptr<const sources> s) {
    l.handle("GET", "/metrics", [s](const request&) {
        response r;
        r.content_type = "text/plain; version=0.0.4; charset=utf-8";
        r.body = metrics_text(*s);
        return r;
    });
    l.handle("GET", "/healthz", [s](const request& req) {
        const bool draining = s->proxy->draining();
        response r;
        r.status = draining ? 503 : 200;
        if (wants_json(req)) {
            nlohmann::json j = {
                {"status", draining ? "draining" : "ok"},
                {"version", BCP_VERSION},
                {"nodes", s->proxy->nodes()->nodes().size()},
                {"uptime_seconds",
                 std::chrono::duration<double>(std::chrono::system_clock::now() - s->started)
                     .count()}};
            r.content_type = "application/json";
            r.body = j.dump() + "\n";
        } else {
            r.body = draining ? "draining\n" : "ok\n";
        }
        return r;
    });
    l.handle("GET", "/nodes", [s](const request&) { return json_response(status_json(*s, true)); });
    l.handle("GET", "/status.json", [s](const request&) { return json_response(status_json(*s)); });
    const auto page = [](const request&) {
        response r;
        r.content_type = "text/html; charset=utf-8";
        r.body = std::string(status_page_html());
        // Everything is inline; the page may only talk to its own origin.
        r.headers.emplace_back("Content-Security-Policy",
                               "default-src 'none'; style-src 'unsafe-inline'; script-src "
                               "'unsafe-inline'; connect-src 'self'; img-src data:; "
                               "frame-ancestors 'none'; base-uri 'none'; form-action 'none'");
        r.headers.emplace_back("Referrer-Policy", "no-referrer");
        return r;
    };
    l.handle("GET", "/", page);
    l.handle("GET", "/status", page);
    if (s->purge_cache) {
        l.handle("POST", "/cache/purge", [s](const request& req) {
            const std::string_view node = req.query_param("node");
            if (!node.empty() && !config::is_path_segment(node)) {
                response r;
                r.status = 400;
                r.body = "node: not a node id\n";
                return r;
            }
            const auto purged = s->purge_cache(node);
            if (!purged) {
                response r;
                r.status = 409;
                r.body = "the cache is off (cache.enabled: false)\n";
                return r;
            }
            return json_response(nlohmann::json{{"purged", *purged},
                                                {"node", node.empty() ? nlohmann::json(nullptr)
                                                                      : nlohmann::json(node)}}
                                     .dump() +
                                 "\n");
        });
    }
}

}  // namespace bcp::admin
