#pragma once
// The proxy configuration: YAML in, plain immutable structs out. This module is the only user of
// yaml-cpp. Loading never throws; it returns every diagnostic it found, each with file:line:col.
// The key reference is docs/config-reference.md (keep it and this file in step).

#include "config/redis_url.hpp"
#include "config/scalelite_api.hpp"
#include "core/origin.hpp"

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace bcp::config {

using std::chrono::milliseconds;

/// Where a value came from, for diagnostics. line/column are 1-based; 0 = unknown.
struct location {
    std::string file;
    int line = 0;
    int column = 0;
};

struct tls_files {
    std::string certificate;  ///< PEM chain, leaf first
    std::string private_key;  ///< PEM key
};

struct listener {
    std::string address;     ///< as written: "0.0.0.0:443", "[::]:443", "127.0.0.1:0"
    std::string host;        ///< the IP literal, no brackets ("0.0.0.0", "::")
    std::uint16_t port = 0;  ///< 0 = ephemeral (tests)
    std::optional<tls_files> tls;
    location where;
};

/// Node health checking (docs/config-reference.md "health"). Off unless a `health:` section exists
/// at the top level or on the node.
struct health_options {
    bool enabled = false;
    milliseconds interval{5'000};  ///< between active checks; 0 = passive marking only
    milliseconds timeout{2'000};   ///< one check: connect, request, response head
    std::string path;              ///< checked path; empty = the node's client root /<id>/<mount>/
    unsigned healthy_threshold = 2;    ///< consecutive passed checks that make a node healthy
    unsigned unhealthy_threshold = 3;  ///< consecutive failures (checks, connects) that take it out
    bool passive = true;               ///< failed connects from requests count as failures
    milliseconds retry_after{10'000};  ///< Retry-After of the 503 page; without active checks,
                                       ///< also how long a passively marked node stays out
};

/// The one exception to "GET and HEAD only" (docs/security.md "POST"): the POSTs a BBB 2.x
/// (Meteor) client makes to its own origin. Top-level `post:`, with per-node overrides.
struct post_options {
    /// Exact paths below each of a node's mounts ("feedback" = /<id>/<mount>/feedback) that
    /// accept POST. Empty: no POST at all.
    std::vector<std::string> paths{"__meteor__/dynamic-import/fetch", "feedback"};
    std::uint64_t max_body_size = 64 * 1024;  ///< Content-Length above this: 413
    /// Of `paths`, those whose answers the cache stores, keyed by the body's hash (a path not in
    /// `paths` is never posted to, so it is never cached either).
    std::vector<std::string> cached{"__meteor__/dynamic-import/fetch"};
    /// A cached POST answer's lifetime when the node gives none (BBB's own nginx: 24 h).
    milliseconds cache_validity{86'400'000};

    bool operator==(const post_options&) const = default;
};

struct node {
    std::string id;                   ///< first path segment on the proxy, [A-Za-z0-9._-]+
    std::string url;                  ///< as written, e.g. "https://bbb-01.example.com"
    origin upstream;                  ///< parsed url
    std::vector<std::string> mounts;  ///< second path segments served, default {"html5client"}
    health_options health;            ///< the top-level health section with this node's overrides
    post_options post;                ///< the top-level post section with this node's overrides
    std::string source = "static";    ///< "static" (the file, nodes_dir) or "scalelite"
    location where;
};

struct upstream_options {
    bool verify = true;                   ///< verify node certificates (chain + host name)
    std::string ca_file;                  ///< empty = the system trust store
    std::size_t max_idle_per_node = 256;  ///< idle keep-alive connections kept per worker and node
};

struct timeouts {
    milliseconds client_head{10'000};        ///< first byte of a request to the end of its head
    milliseconds client_idle{15'000};        ///< keep-alive wait for the next request
    milliseconds client_send{60'000};        ///< a write to the client may stall this long
    milliseconds upstream_connect{5'000};    ///< TCP connect + TLS handshake to a node
    milliseconds upstream_response{30'000};  ///< request sent to response head received
    milliseconds upstream_read{60'000};      ///< gap between two body reads from a node
    milliseconds upstream_idle{30'000};      ///< pooled connection unused this long is closed
    milliseconds tunnel_idle{600'000};       ///< WebSocket tunnel with no traffic either way
    milliseconds shutdown{10'000};           ///< graceful drain before connections are cut
};

struct limits {
    std::size_t max_connections = 20'000;            ///< client connections, all workers together
    std::size_t max_header_bytes = 16'384;           ///< request line + headers
    std::size_t max_headers = 100;                   ///< header fields in one request
    std::size_t max_response_header_bytes = 65'536;  ///< response head from a node

    // Per client address (IPv6: per /64); 0 = no limit. See docs/security.md "Limits".
    std::size_t max_connections_per_ip = 1'000;    ///< open connections from one address
    std::size_t requests_per_second_per_ip = 200;  ///< token bucket refill rate
    std::size_t request_burst_per_ip = 2'000;      ///< token bucket size
};

/// HTTP/2 to browsers on TLS listeners (`http2:`, issue 16): per-connection limits.
struct http2_options {
    bool enabled = true;                             ///< offer h2 by ALPN on TLS listeners
    std::size_t max_concurrent_streams = 100;        ///< SETTINGS_MAX_CONCURRENT_STREAMS
    std::size_t max_pending_header_bytes = 262'144;  ///< request headers without a response yet
    std::size_t max_pending_body_bytes = 2'097'152;  ///< request bodies still arriving
    /// The same for all HTTP/2 connections of one worker together: per-connection budgets
    /// multiply with connections (1,000 per address); this one does not.
    std::size_t max_pending_body_bytes_per_worker = 67'108'864;
    std::size_t max_continuations = 8;    ///< CONTINUATION frames per header block
    std::size_t resets_per_second = 100;  ///< client RST_STREAM, sustained
    std::size_t reset_burst = 400;
    std::size_t control_frames_per_second = 200;  ///< PING, SETTINGS, PRIORITY, RST, WINDOW_UPDATE
    std::size_t control_frame_burst = 1'000;
};

/// The admin listener (`admin:`): /metrics, /healthz, /nodes, the status page.
struct admin_options {
    std::string address;     ///< as written, e.g. "127.0.0.1:9090"
    std::string host;        ///< IP literal, no brackets
    std::uint16_t port = 0;  ///< 0 = ephemeral (tests)
    std::string token_file;  ///< absolute path; empty = no bearer token required
    location where;
};

/// The access log (`access_log:`); absent = off.
struct access_log_options {
    std::string format = "plain";  ///< "plain" or "json"
    std::string path = "stderr";   ///< "stderr" or an absolute file path
};

/// The asset cache (docs/config-reference.md "cache"; design in docs/architecture.md).
struct cache_options {
    bool enabled = false;
    std::uint64_t max_size = 512ull << 20;        ///< memory for bodies and entries
    std::uint64_t max_object_size = 64ull << 20;  ///< larger responses are not stored
    bool x_cache_header = true;                   ///< add X-Cache: HIT|MISS|STALE|REVALIDATED
    milliseconds coalesce_wait{5'000};            ///< waiter's bound for the leader's response head
    milliseconds stale_if_error{300'000};    ///< serve stale on node errors this long (default)
    milliseconds heuristic_max{86'400'000};  ///< cap of the RFC 9111 §4.2.2 heuristic
    bool compress = true;                    ///< make br/zstd/gzip variants of stored bodies
    unsigned compress_workers = 1;           ///< threads compressing (off the event loops)
    unsigned compress_queue = 64;            ///< bodies waiting; more are served uncompressed
    /// Compression dictionaries (RFC 9842): offer stored client assets as dictionaries and answer
    /// with dcz deltas against the ones clients hold (needs `compress`).
    bool dictionaries = true;
    unsigned max_deltas_per_asset = 4;             ///< dcz deltas kept per stored body
    std::uint64_t max_delta_memory = 64ull << 20;  ///< all deltas together (part of max_size)
    /// Dictionary bodies kept after their entries are gone (purge after an upgrade).
    std::uint64_t dictionary_retention = 64ull << 20;
    location where;
};

/// Nodes from Scalelite's server registry in Redis (docs/config-reference.md "discovery").
/// Scalelite's registry, read from its Redis (`redis_url`) or its server API (`api_url` +
/// `api_secret`): exactly one of the two is set.
struct scalelite_discovery {
    std::optional<redis_url> redis;    ///< `redis_url` (it may hold a password: log redacted())
    std::optional<scalelite_api> api;  ///< `api_url`, `api_secret`, `api_checksum`
    std::string namespace_prefix = "scalelite";
    milliseconds interval{5'000};             ///< poll period
    milliseconds removal_grace{15 * 60'000};  ///< a server gone from `servers` is kept this long
    std::string snapshot = "/var/lib/bbb-cluster-proxy/scalelite-nodes.json";  ///< "" = none
    std::map<std::string, std::string> ids;  ///< Scalelite id or URL host → node id
    location where;

    /// The source for logs and messages, without a password or secret:
    /// "redis://:***@10.0.0.5:6379/0" or "https://lb.example.com/scalelite/api".
    std::string describe() const { return api ? api->url() : redis ? redis->redacted() : ""; }
};

/// Whether the source is reached over TLS (rediss://, or an https:// API), verified like nodes.
inline bool uses_tls(const scalelite_discovery& d) {
    return (d.redis && d.redis->tls) || (d.api && d.api->server.tls());
}

struct discovery_options {
    std::optional<scalelite_discovery> scalelite;
};

struct proxy_config {
    std::string source;  ///< the file it was loaded from ("<string>" for load_string)
    std::string public_url;
    origin public_origin;                   ///< parsed public_url
    std::vector<std::string> server_names;  ///< if non-empty, Host must be one of these (else 421)
    std::vector<listener> listen;
    std::vector<node> nodes;  ///< the `nodes:` list first, then the nodes_dir files by name
    /// Absolute path of `nodes_dir:` (one YAML file per node, watched while serving); empty = none.
    std::string nodes_dir;
    upstream_options upstream;
    timeouts timeout;
    limits limit;
    http2_options http2;
    cache_options cache;
    unsigned workers = 0;  ///< 0 = one per core
    std::string log_level = "info";
    health_options health;  ///< the top-level health section (each node has its resolved copy)
    post_options post;      ///< the top-level post section (each node has its resolved copy)
    std::string pid_file;   ///< absolute path; empty = none (`serve --pid-file` overrides)
    std::optional<admin_options> admin;            ///< absent = no admin listener
    std::optional<access_log_options> access_log;  ///< absent = no access log
    discovery_options discovery;                   ///< where else nodes come from

    /// The node with this id, or nullptr.
    const node* find_node(std::string_view id) const;
};

struct diagnostic {
    location where;
    std::string key;      ///< dotted path, e.g. "nodes[1].url"
    std::string message;  ///< what is wrong and, where possible, how to fix it
    /// "file:line:col: key: message" (line/col omitted when unknown)
    std::string to_string() const;
};

struct load_result {
    std::optional<proxy_config> config;  ///< set only when diagnostics is empty
    std::vector<diagnostic> diagnostics;
    bool ok() const { return config.has_value(); }
};

/// Whether a file in nodes_dir is read as a node: "<name>.yaml" or "<name>.yml", not hidden (so
/// editors' and provisioning tools' temporary files are not read half-written).
bool is_node_file_name(std::string_view name);

/// Reads and validates a config file. Relative TLS/CA paths are resolved against the file's
/// directory. Never throws.
load_result load_file(const std::string& path);

/// Same, from text (tests, `demo`). `source_name` is used in diagnostics and `base_dir` resolves
/// relative paths. `check_files` = false skips the existence checks of certificate/key/CA files.
load_result load_string(std::string_view yaml, std::string source_name = "<string>",
                        std::string base_dir = ".", bool check_files = true);

}  // namespace bcp::config
