// The schema of the proxy configuration: which keys each map allows, what each value must look
// like, and the checks that span sections. The generic YAML reading lives in reader.cpp, the value
// syntaxes in values.cpp. docs/config-reference.md describes the same rules for operators.

#include "config/config.hpp"

#include "config/reader.hpp"
#include "config/values.hpp"
#include "config/yaml_guard.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <filesystem>
#include <map>
#include <set>
#include <system_error>

namespace bcp::config {
namespace {

namespace fs = std::filesystem;

constexpr bool required = true;
constexpr bool optional_key = false;

std::string in_quotes(std::string_view s) {
    return "'" + std::string(s) + "'";
}

struct duration_key {
    std::string_view name;
    milliseconds timeouts::*member;
    bool zero_allowed;
};

constexpr std::array<duration_key, 9> duration_keys{{
    {"client_head", &timeouts::client_head, false},
    {"client_idle", &timeouts::client_idle, false},
    {"client_send", &timeouts::client_send, false},
    {"upstream_connect", &timeouts::upstream_connect, false},
    {"upstream_response", &timeouts::upstream_response, false},
    {"upstream_read", &timeouts::upstream_read, false},
    {"upstream_idle", &timeouts::upstream_idle, false},
    {"tunnel_idle", &timeouts::tunnel_idle, false},
    {"shutdown", &timeouts::shutdown, true},  // 0 = cut connections without draining
}};

struct limit_key {
    std::string_view name;
    std::size_t limits::*member;
    std::uint64_t min;
    std::uint64_t max;
};

// Zero would refuse every connection or request, so each limit starts at 1. The maxima only catch
// typos (an extra digit or two); they are far above anything a BBB front end needs.
// The per-IP limits may be 0 (off): behind a load balancer every client has the same address.
constexpr std::array<limit_key, 7> limit_keys{{
    {"max_connections", &limits::max_connections, 1, 10'000'000},
    {"max_header_bytes", &limits::max_header_bytes, 1, 1'048'576},
    {"max_headers", &limits::max_headers, 1, 10'000},
    {"max_response_header_bytes", &limits::max_response_header_bytes, 1, 1'048'576},
    {"max_connections_per_ip", &limits::max_connections_per_ip, 0, 10'000'000},
    {"requests_per_second_per_ip", &limits::requests_per_second_per_ip, 0, 10'000'000},
    {"request_burst_per_ip", &limits::request_burst_per_ip, 1, 10'000'000},
}};

struct http2_key {
    std::string_view name;
    std::size_t http2_options::*member;
    std::uint64_t min, max;
};

// As for limits: at least 1 (0 would refuse every stream), maxima against typos only.
constexpr std::array<http2_key, 9> http2_keys{{
    {"max_concurrent_streams", &http2_options::max_concurrent_streams, 1, 10'000},
    {"max_pending_header_bytes", &http2_options::max_pending_header_bytes, 1'024, 64u << 20},
    {"max_pending_body_bytes", &http2_options::max_pending_body_bytes, 1'024, 1u << 30},
    {"max_pending_body_bytes_per_worker", &http2_options::max_pending_body_bytes_per_worker, 1'024,
     std::uint64_t{1} << 34},
    {"max_continuations", &http2_options::max_continuations, 1, 1'000},
    {"resets_per_second", &http2_options::resets_per_second, 1, 1'000'000},
    {"reset_burst", &http2_options::reset_burst, 1, 1'000'000},
    {"control_frames_per_second", &http2_options::control_frames_per_second, 1, 1'000'000},
    {"control_frame_burst", &http2_options::control_frame_burst, 1, 1'000'000},
}};

constexpr std::uint64_t max_workers = 1024;
constexpr std::uint64_t max_idle_per_node_limit = 10'000;

constexpr std::array<std::string_view, 7> log_levels{"trace", "debug",    "info", "warn",
                                                     "error", "critical", "off"};

const std::vector<std::string> default_mounts{"html5client"};

constexpr std::uint64_t max_threshold = 100;

// A health: section as written (top level or on a node); unset keys keep the value below them.
struct health_override {
    std::optional<milliseconds> interval, timeout, retry_after;
    std::optional<std::string> path;
    std::optional<std::uint64_t> healthy_threshold, unhealthy_threshold;
    std::optional<bool> passive;

    void apply(health_options& h) const {
        h.enabled = true;
        h.interval = interval.value_or(h.interval);
        h.timeout = timeout.value_or(h.timeout);
        h.retry_after = retry_after.value_or(h.retry_after);
        h.path = path.value_or(h.path);
        h.healthy_threshold =
            static_cast<unsigned>(healthy_threshold.value_or(h.healthy_threshold));
        h.unhealthy_threshold =
            static_cast<unsigned>(unhealthy_threshold.value_or(h.unhealthy_threshold));
        h.passive = passive.value_or(h.passive);
    }
};

// A post: section as written (top level or on a node); unset keys keep the value below them.
struct post_override {
    std::optional<std::vector<std::string>> paths, cached;
    std::optional<std::uint64_t> max_body_size;
    std::optional<milliseconds> cache_validity;

    void apply(post_options& p) const {
        p.paths = paths.value_or(p.paths);
        p.cached = cached.value_or(p.cached);
        p.max_body_size = max_body_size.value_or(p.max_body_size);
        p.cache_validity = cache_validity.value_or(p.cache_validity);
    }
};

// A request body is held in memory until it is complete: 64 KiB is BBB's need, 1 MiB a ceiling
// that a typo cannot pass.
constexpr std::uint64_t max_post_body = 1ull << 20;

// The host as it appears in a Host header: IPv6 literals in brackets.
std::string header_host(const origin& o) {
    return o.host.find(':') != std::string::npos ? "[" + o.host + "]" : o.host;
}

std::optional<std::string> read_file_text(const std::string& path, std::string& reason);
location mark_location(const std::string& source, const YAML::Mark& mark);

std::string yaml_syntax_message(const YAML::Exception& e) {
    return "YAML syntax error: " + e.msg +
           "; check the indentation and quoting here and on the line before";
}

// The document-level steps of every YAML text we read (the configuration file and each nodes_dir
// file), with positions in the reader's current source: refuses what yaml-cpp cannot load
// (yaml_guard.hpp), reports a syntax error, a second document ("a second YAML document starts
// here ('---'); " + `second_document_hint`) and an empty text (`empty_message`, without a line).
// Returns the first document's root, or nullopt when there is none to read.
std::optional<YAML::Node> load_one_document(reader& r, std::string_view text,
                                            std::string_view second_document_hint,
                                            std::string_view empty_message) {
    const std::string& source = r.source();
    // yaml-cpp would load some texts forever (config/yaml_guard.hpp): refuse them first.
    if (const auto refused = check_loadable(text)) {
        r.error({source, refused->line, refused->column}, "", refused->message);
        return std::nullopt;
    }
    std::vector<YAML::Node> documents;
    try {
        documents = YAML::LoadAll(std::string(text));
    } catch (const YAML::Exception& e) {
        // A syntax error stops yaml-cpp, so this is the only diagnostic it can give us.
        r.error(mark_location(source, e.mark), "", yaml_syntax_message(e));
        return std::nullopt;
    }
    if (documents.empty()) {
        r.error({source, 0, 0}, "", std::string(empty_message));
        return std::nullopt;
    }
    if (documents.size() > 1) {
        r.error(r.locate(documents[1]), "",
                "a second YAML document starts here ('---'); " + std::string(second_document_hint));
    }
    return documents.front();
}

// Makes the reader name another file until the end of the scope, however the scope is left.
class source_switch {
  public:
    source_switch(reader& r, std::string source)
        : r_(r), previous_(r.switch_source(std::move(source))) {}
    ~source_switch() { r_.switch_source(std::move(previous_)); }
    source_switch(const source_switch&) = delete;
    source_switch& operator=(const source_switch&) = delete;

  private:
    reader& r_;
    std::string previous_;
};

// Walks one document into a proxy_config. Checks that need two sections (public_url against nodes
// and server_names) run after the walk, from positions remembered on the way.
class loader {
  public:
    loader(reader& r, proxy_config& cfg) : r_(r), cfg_(cfg) {}

    void load(const YAML::Node& root) {
        const place top{"", r_.locate(root)};
        if (root.IsNull()) {
            r_.error(top,
                     "the configuration is empty; it needs at least public_url, listen and "
                     "nodes (see examples/minimal.yaml)");
            return;
        }
        if (!root.IsMap()) {
            r_.error(top,
                     "the top level must be a map of 'key: value' entries (public_url, "
                     "listen, nodes, ...), not a " +
                         std::string(root.IsSequence() ? "list" : "single value"));
            return;
        }
        read_root(root, top);
        read_nodes_dir();
        resolve_health();
        check_nodes_against_public_url();
        check_server_names();
    }

  private:
    void read_root(const YAML::Node& root, const place& top) {
        // With a nodes_dir, the nodes may all come from there.
        nodes_dir_given_ = static_cast<bool>(root["nodes_dir"]);
        discovery_given_ = static_cast<bool>(root["discovery"]);
        const reader::field fields[] = {
            {"public_url", required, [this](auto& v, auto& at) { read_public_url(v, at); },
             "add the origin browsers use, e.g. public_url: https://bbb-proxy.example.com"},
            {"server_names", optional_key, [this](auto& v, auto& at) { read_server_names(v, at); }},
            {"listen", required, [this](auto& v, auto& at) { read_listeners(v, at); },
             "add at least one listener, e.g. listen: [{address: \"0.0.0.0:80\"}]"},
            {"nodes", !nodes_dir_given_ && !discovery_given_,
             [this](auto& v, auto& at) { read_nodes(v, at); },
             "add at least one BBB node with an id and a url (or a nodes_dir with one file per "
             "node, or a discovery source)"},
            {"nodes_dir", optional_key, [this](auto& v, auto& at) { read_nodes_dir_key(v, at); }},
            {"upstream", optional_key, [this](auto& v, auto& at) { read_upstream(v, at); }},
            {"timeouts", optional_key, [this](auto& v, auto& at) { read_timeouts(v, at); }},
            {"limits", optional_key, [this](auto& v, auto& at) { read_limits(v, at); }},
            {"http2", optional_key, [this](auto& v, auto& at) { read_http2(v, at); }},
            {"cache", optional_key, [this](auto& v, auto& at) { read_cache(v, at); }},
            {"workers", optional_key, [this](auto& v, auto& at) { read_workers(v, at); }},
            {"log_level", optional_key, [this](auto& v, auto& at) { read_log_level(v, at); }},
            {"admin", optional_key, [this](auto& v, auto& at) { read_admin(v, at); }},
            {"access_log", optional_key, [this](auto& v, auto& at) { read_access_log(v, at); }},
            {"health", optional_key,
             [this](auto& v, auto& at) { global_health_ = read_health(v, at); }},
            {"pid_file", optional_key, [this](auto& v, auto& at) { read_pid_file(v, at); }},
            {"post", optional_key, [this](auto& v, auto& at) { global_post_ = read_post(v, at); }},
            {"discovery", optional_key, [this](auto& v, auto& at) { read_discovery(v, at); }},
        };
        r_.read_map(root, top, fields);
    }

    void read_discovery(const YAML::Node& value, const place& at) {
        const reader::field fields[] = {
            {"scalelite", required, [this](auto& v, auto& a) { read_scalelite(v, a); },
             "add the source, e.g. scalelite: {redis_url: \"redis://:PASSWORD@10.0.0.5:6379/0\"}"},
        };
        r_.read_map(value, at, fields);
    }

    void read_scalelite(const YAML::Node& value, const place& at) {
        scalelite_discovery d;
        d.where = at.where;
        bool url_ok = true;  // no redis_url or api_url given is reported below
        std::optional<std::string> secret;
        std::optional<checksum_digest> api_digest;  // api_checksum, in whichever order
        // A URL key: its text parsed by `parse` into `target`, or an error at its place.
        const auto read_url = [&](const YAML::Node& v, const place& a, std::string_view hint,
                                  auto parse, auto& target) {
            const auto text = r_.scalar(v, a, hint);
            auto parsed = text ? parse(*text) : decltype(parse(*text)){};
            if (text && !parsed.value) {
                r_.error(a, std::move(parsed.message));
            }
            if (!parsed.value) {
                url_ok = false;
                return;
            }
            target = std::move(*parsed.value);
        };
        const reader::field fields[] = {
            {"redis_url", optional_key,
             [&](auto& v, auto& a) {
                 read_url(v, a, "redis://[:password@]host[:port][/database]", parse_redis_url,
                          d.redis);
             }},
            {"api_url", optional_key,
             [&](auto& v, auto& a) {
                 read_url(v, a, "Scalelite's server API, e.g. https://lb.example.com/scalelite/api",
                          parse_scalelite_api_url, d.api);
             }},
            {"api_secret", optional_key,
             [&](auto& v, auto& a) {
                 secret = r_.scalar(v, a, "Scalelite's LOADBALANCER_SECRET");
                 if (secret && secret->empty()) {
                     r_.error(a, "is empty; give Scalelite's LOADBALANCER_SECRET");
                 }
                 url_ok = url_ok && secret && !secret->empty();
             }},
            {"api_checksum", optional_key,
             [&](auto& v, auto& a) {
                 const auto text = r_.scalar(v, a, "sha1, sha256 or sha512");
                 const auto digest = text ? parse_checksum_digest(*text) : std::nullopt;
                 if (text && !digest) {
                     r_.error(a, in_quotes(*text) +
                                     " is not a checksum digest Scalelite accepts; give sha256 "
                                     "(the default), sha512 or sha1");
                 }
                 if (!digest) {
                     url_ok = false;
                 } else {
                     api_digest = *digest;
                 }
             }},
            {"namespace", optional_key,
             [&](auto& v, auto& a) {
                 const auto text = r_.scalar(v, a, "Scalelite's REDIS_NAMESPACE, e.g. scalelite");
                 if (text &&
                     (text->empty() || text->find_first_of(" \t\r\n*?[]") != std::string::npos)) {
                     r_.error(a, in_quotes(*text) +
                                     " is not a key prefix; give Scalelite's REDIS_NAMESPACE "
                                     "(default scalelite)");
                 } else if (text) {
                     d.namespace_prefix = *text;
                 }
             }},
            {"interval", optional_key,
             [&](auto& v, auto& a) {
                 const auto ms = r_.duration(v, a, false);
                 if (ms && *ms < std::chrono::milliseconds(100)) {
                     r_.error(a,
                              "is shorter than 100ms; Scalelite itself rewrites its records "
                              "every 60s (5s is plenty)");
                 } else {
                     store(ms, d.interval);
                 }
             }},
            {"removal_grace", optional_key,
             [&](auto& v, auto& a) { store(r_.duration(v, a, true), d.removal_grace); }},
            {"snapshot", optional_key,
             [&](auto& v, auto& a) {
                 const auto text = r_.scalar(v, a, "a file path, or \"\" for none");
                 if (text) {
                     d.snapshot = text->empty() ? std::string() : r_.resolve(*text);
                 }
             }},
            {"ids", optional_key, [&](auto& v, auto& a) { read_discovery_ids(v, a, d); }},
        };
        const bool read = r_.read_map(value, at, fields);
        if (d.api) {
            d.api->digest = api_digest.value_or(d.api->digest);
            d.api->secret = secret.value_or(std::string());
        }
        if (d.redis && d.api) {
            r_.error(at,
                     "has both redis_url and api_url; they are two ways to the same registry, "
                     "give one (redis_url when the proxy can reach Scalelite's Redis)");
            url_ok = false;
        } else if (!d.redis && !d.api && url_ok) {
            r_.error(at,
                     "has no source; give redis_url (Scalelite's Redis, e.g. "
                     "\"redis://:PASSWORD@10.0.0.5:6379/0\") or api_url and api_secret "
                     "(Scalelite's server API)");
            url_ok = false;
        } else if (d.api && !secret) {
            r_.error(at, "has api_url but no api_secret; give Scalelite's LOADBALANCER_SECRET");
            url_ok = false;
        } else if (d.redis && (secret || api_digest)) {
            r_.error(at,
                     "has api_secret or api_checksum without api_url; they belong to "
                     "Scalelite's server API");
            url_ok = false;
        }
        if (read && url_ok) {
            cfg_.discovery.scalelite = std::move(d);
        }
    }

    // Scalelite id or URL host → node id: a map whose keys are data, not schema.
    void read_discovery_ids(const YAML::Node& value, const place& at, scalelite_discovery& d) {
        if (value.IsNull()) {
            return;
        }
        if (!value.IsMap()) {
            r_.error(at,
                     "must be a map from a Scalelite server id or URL host to a node id, e.g. "
                     "ids: {bbb-01.example.com: bbb-01}");
            return;
        }
        for (const auto& entry : value) {
            const std::string key = entry.first.IsScalar() ? entry.first.Scalar() : "";
            const place item{at.child_path(key), r_.locate(entry.second)};
            const auto id = r_.scalar(entry.second, item, "a node id such as bbb-01");
            if (!id) {
                continue;
            }
            if (key.empty()) {
                r_.error(item, "the key must be a Scalelite server id or a URL host");
            } else if (!is_path_segment(*id)) {
                r_.error(item, in_quotes(*id) +
                                   " is not a valid node id; use only letters, digits, '.', '_' "
                                   "and '-'");
            } else {
                d.ids[key] = *id;
            }
        }
    }

    post_override read_post(const YAML::Node& value, const place& at) {
        post_override p;
        const reader::field fields[] = {
            {"paths", optional_key, [&](auto& v, auto& a) { p.paths = read_post_paths(v, a); }},
            {"cached", optional_key, [&](auto& v, auto& a) { p.cached = read_post_paths(v, a); }},
            {"max_body_size", optional_key,
             [&](auto& v, auto& a) { p.max_body_size = read_body_size(v, a); }},
            {"cache_validity", optional_key,
             [&](auto& v, auto& a) { p.cache_validity = r_.duration(v, a, false); }},
        };
        r_.read_map(value, at, fields);
        return p;
    }

    // Paths below a mount, exactly as the client posts to them: literal segments joined by '/',
    // without a leading '/' (the mount is in front), query or wildcard. An empty list is allowed.
    std::optional<std::vector<std::string>> read_post_paths(const YAML::Node& value,
                                                            const place& at) {
        std::vector<std::string> out;  // [] turns the exception off
        bool ok = true;
        const auto count = r_.read_list(
            value, at, "paths below a mount", [&](const YAML::Node& item, const place& item_at) {
                const auto text = r_.scalar(item, item_at, "a path such as feedback");
                if (!text) {
                    ok = false;
                    return;
                }
                if (!is_mount_relative_path(*text)) {
                    ok = false;
                    r_.error(
                        item_at,
                        in_quotes(*text) +
                            " is not a path below a mount; give literal segments of letters, "
                            "digits, '.', '_' and '-' joined by '/', without a leading '/', e.g. "
                            "__meteor__/dynamic-import/fetch");
                } else if (std::find(out.begin(), out.end(), *text) != out.end()) {
                    ok = false;
                    r_.error(item_at, "duplicate path " + in_quotes(*text) + "; list it once");
                } else {
                    out.push_back(*text);
                }
            });
        if (!ok || !count) {
            return std::nullopt;
        }
        return out;
    }

    static bool is_mount_relative_path(std::string_view text) {
        if (text.empty()) {
            return false;
        }
        std::size_t start = 0;
        while (true) {
            const auto slash = text.find('/', start);
            if (!is_path_segment(text.substr(start, slash - start))) {
                return false;
            }
            if (slash == std::string_view::npos) {
                return true;
            }
            start = slash + 1;
        }
    }

    std::optional<std::uint64_t> read_body_size(const YAML::Node& value, const place& at) {
        const auto text = r_.scalar(value, at, "a size such as 64KiB");
        if (!text) {
            return std::nullopt;
        }
        auto parsed = parse_size(*text);
        if (!parsed.ok()) {
            r_.error(at, std::move(parsed.message));
            return std::nullopt;
        }
        if (*parsed.value > max_post_body) {
            r_.error(at,
                     "is more than 1MiB; request bodies are held in memory until complete, "
                     "and BBB's POSTs are a few KiB (the default is 64KiB)");
            return std::nullopt;
        }
        return *parsed.value;
    }

    health_override read_health(const YAML::Node& value, const place& at) {
        health_override h;
        const reader::field fields[] = {
            {"interval", optional_key,
             [&](auto& v, auto& a) { h.interval = r_.duration(v, a, true); }},
            {"timeout", optional_key,
             [&](auto& v, auto& a) { h.timeout = r_.duration(v, a, false); }},
            {"retry_after", optional_key,
             [&](auto& v, auto& a) { h.retry_after = r_.duration(v, a, false); }},
            {"path", optional_key, [&](auto& v, auto& a) { h.path = read_health_path(v, a); }},
            {"healthy_threshold", optional_key,
             [&](auto& v, auto& a) {
                 h.healthy_threshold = r_.whole_number(v, a, 1, max_threshold);
             }},
            {"unhealthy_threshold", optional_key,
             [&](auto& v, auto& a) {
                 h.unhealthy_threshold = r_.whole_number(v, a, 1, max_threshold);
             }},
            {"passive", optional_key, [&](auto& v, auto& a) { h.passive = r_.boolean(v, a); }},
        };
        r_.read_map(value, at, fields);
        return h;
    }

    std::optional<std::string> read_health_path(const YAML::Node& value, const place& at) {
        auto text = r_.scalar(value, at, "a path such as /bbb-01/html5client/");
        if (text &&
            (!text->starts_with('/') || text->find_first_of(" \t\r\n\"#") != std::string::npos)) {
            r_.error(at, in_quotes(*text) +
                             " is not a request path; give an absolute path without spaces, e.g. "
                             "/bbb-01/html5client/");
            return std::nullopt;
        }
        return text;
    }

    void read_pid_file(const YAML::Node& value, const place& at) {
        const auto text =
            r_.scalar(value, at, "an absolute path such as /run/bbb-cluster-proxy.pid");
        if (!text) {
            return;
        }
        if (!text->starts_with('/')) {
            r_.error(at, in_quotes(*text) +
                             " is not an absolute path; give one such as "
                             "/run/bbb-cluster-proxy/bbb-cluster-proxy.pid");
            return;
        }
        cfg_.pid_file = *text;
    }

    // Each node gets the top-level health and post sections with its own keys on top.
    void resolve_health() {
        if (global_health_) {
            global_health_->apply(cfg_.health);
        }
        if (global_post_) {
            global_post_->apply(cfg_.post);
        }
        for (std::size_t i = 0; i < cfg_.nodes.size(); ++i) {
            cfg_.nodes[i].health = cfg_.health;
            if (node_health_[i]) {
                node_health_[i]->apply(cfg_.nodes[i].health);
            }
            cfg_.nodes[i].post = cfg_.post;
            if (node_post_[i]) {
                node_post_[i]->apply(cfg_.nodes[i].post);
            }
        }
    }

    void read_public_url(const YAML::Node& value, const place& at) {
        if (auto url = r_.origin_url(value, at, "https://bbb-proxy.example.com")) {
            cfg_.public_url = std::move(url->text);
            cfg_.public_origin = std::move(url->value);
            public_url_at_ = at;
        }
    }

    void read_server_names(const YAML::Node& value, const place& at) {
        server_names_at_ = at;
        r_.read_list(value, at, "host names", [this](const YAML::Node& item, const place& item_at) {
            const auto text = r_.scalar(item, item_at, "a host name such as bbb-proxy.example.com");
            if (!text) {
                return;
            }
            auto parsed = parse_server_name(*text);
            if (!parsed.ok()) {
                r_.error(item_at, std::move(parsed.message));
                return;
            }
            cfg_.server_names.push_back(std::move(*parsed.value));
        });
    }

    void read_listeners(const YAML::Node& value, const place& at) {
        const auto count = r_.read_list(
            value, at, "listeners",
            [this](const YAML::Node& item, const place& item_at) { read_listener(item, item_at); });
        if (count == 0u) {
            r_.error(at, "is empty; add at least one listener, e.g. - address: \"0.0.0.0:80\"");
        }
    }

    void read_listener(const YAML::Node& value, const place& at) {
        listener l;
        l.where = at.where;
        const reader::field fields[] = {
            {"address", required, [&](auto& v, auto& a) { read_listen_address(v, a, l); },
             "give the IP address and port to listen on, e.g. address: \"0.0.0.0:443\""},
            {"tls", optional_key, [&](auto& v, auto& a) { read_tls(v, a, l); }},
        };
        if (r_.read_map(value, at, fields)) {
            cfg_.listen.push_back(std::move(l));
        }
    }

    void read_listen_address(const YAML::Node& value, const place& at, listener& l) {
        const auto text = r_.scalar(value, at, "host:port such as \"0.0.0.0:443\" or \"[::]:443\"");
        if (!text) {
            return;
        }
        auto parsed = parse_listen_address(*text);
        if (!parsed.ok()) {
            r_.error(at, std::move(parsed.message));
            return;
        }
        l.address = *text;
        l.host = parsed.value->host;
        l.port = parsed.value->port;
        // Port 0 asks the kernel for a fresh port each time, so two of them never collide (tests
        // use one TLS and one plain listener that way).
        if (l.port == 0) {
            return;
        }
        const auto [first, inserted] = listen_line_.emplace(parsed.value->canonical, at.where.line);
        if (!inserted) {
            // With SO_REUSEPORT both binds would succeed and silently share the connections.
            r_.error(at, "duplicate listen address " + in_quotes(*text) + " (first on line " +
                             std::to_string(first->second) +
                             "); list each address once, with or without tls");
        }
    }

    void read_tls(const YAML::Node& value, const place& at, listener& l) {
        tls_files files;
        const reader::field fields[] = {
            {"certificate", required,
             [&](auto& v, auto& a) { store(r_.file(v, a, "certificate"), files.certificate); },
             "give the PEM certificate chain (leaf first), e.g. certificate: "
             "/etc/bbb-cluster-proxy/cert.pem; remove tls for plain HTTP"},
            {"private_key", required,
             [&](auto& v, auto& a) { store(r_.file(v, a, "private key"), files.private_key); },
             "give the PEM private key, e.g. private_key: /etc/bbb-cluster-proxy/key.pem"},
        };
        if (r_.read_map(value, at, fields)) {
            l.tls = std::move(files);
        }
    }

    void read_nodes(const YAML::Node& value, const place& at) {
        const auto count = r_.read_list(
            value, at, "nodes",
            [this](const YAML::Node& item, const place& item_at) { read_node(item, item_at); });
        if (count == 0u && !nodes_dir_given_ && !discovery_given_) {
            r_.error(at,
                     "is empty; add at least one BBB node, e.g. - {id: bbb-01, url: "
                     "\"https://bbb-01.example.com\"}");
        }
    }

    // One node: an item of `nodes:`, or a whole nodes_dir file (then `file_id`, the file's name
    // without .yaml, is the id unless the file gives one).
    void read_node(const YAML::Node& value, const place& at,
                   const std::optional<std::string>& file_id = std::nullopt) {
        node n;
        n.where = at.where;
        n.mounts = default_mounts;
        location url_where;
        std::optional<health_override> health;
        std::optional<post_override> post;
        const reader::field fields[] = {
            {"id", !file_id, [&](auto& v, auto& a) { read_node_id(v, a, n); },
             "give the node's name, the first path segment of its URLs, e.g. id: bbb-01"},
            {"url", required,
             [&](auto& v, auto& a) {
                 url_where = a.where;
                 read_node_url(v, a, n);
             },
             "give the node's origin, e.g. url: \"https://bbb-01.example.com\""},
            {"mounts", optional_key, [&](auto& v, auto& a) { read_mounts(v, a, n); }},
            {"health", optional_key, [&](auto& v, auto& a) { health = read_health(v, a); }},
            {"post", optional_key, [&](auto& v, auto& a) { post = read_post(v, a); }},
        };
        if (!r_.read_map(value, at, fields)) {
            return;
        }
        if (file_id && !value["id"]) {
            set_node_id(*file_id, at, n);
        }
        node_url_key_.push_back(at.child_path("url"));
        cfg_.nodes.push_back(std::move(n));
        node_url_where_.push_back(url_where);
        node_health_.push_back(std::move(health));
        node_post_.push_back(std::move(post));
    }

    void read_node_id(const YAML::Node& value, const place& at, node& n) {
        const auto text = r_.scalar(value, at, "a node id such as bbb-01");
        if (!text) {
            return;
        }
        if (!is_path_segment(*text)) {
            r_.error(at, in_quotes(*text) +
                             " is not a valid node id; use only letters, digits, '.', '_' and "
                             "'-' (and not '.' or '..' alone): the id is the first path segment "
                             "of the node's URLs on the proxy, e.g. /bbb-01/html5client/");
            return;
        }
        set_node_id(*text, at, n);
    }

    void set_node_id(const std::string& id, const place& at, node& n) {
        n.id = id;
        const auto [first, inserted] = node_id_where_.emplace(id, at.where);
        if (inserted) {
            return;
        }
        const location& f = first->second;
        const std::string where = f.file == at.where.file
                                      ? "first on line " + std::to_string(f.line)
                                      : "first in " + f.file + ":" + std::to_string(f.line);
        r_.error(at, "duplicate node id " + in_quotes(id) + " (" + where +
                         "); every node needs its own id");
    }

    void read_nodes_dir_key(const YAML::Node& value, const place& at) {
        const auto text =
            r_.scalar(value, at, "a directory such as /etc/bbb-cluster-proxy/nodes.d");
        if (!text) {
            return;
        }
        if (text->empty()) {
            r_.error(at, "is empty; give a directory such as /etc/bbb-cluster-proxy/nodes.d");
            return;
        }
        cfg_.nodes_dir = r_.resolve(*text);
        while (cfg_.nodes_dir.size() > 1 && cfg_.nodes_dir.ends_with('/')) {
            cfg_.nodes_dir.pop_back();
        }
        nodes_dir_at_ = at;
    }

    // Every node file of nodes_dir, by name, after the `nodes:` list.
    void read_nodes_dir() {
        if (!nodes_dir_at_) {
            return;
        }
        const std::string& dir = cfg_.nodes_dir;
        std::error_code ec;
        if (!fs::is_directory(dir, ec)) {
            r_.error(*nodes_dir_at_,
                     ec ? "cannot use " + dir + ": " + ec.message() +
                              "; create the directory (mkdir -p " + dir + ") or remove nodes_dir"
                        : dir +
                              " is not a directory; give the directory that holds one "
                              "<node-id>.yaml file per node");
            return;
        }
        std::vector<fs::path> files;
        fs::directory_iterator it(dir, ec);
        for (; !ec && it != fs::directory_iterator(); it.increment(ec)) {
            if (is_node_file_name(it->path().filename().string())) {
                files.push_back(it->path());
            }
        }
        if (ec) {
            r_.error(*nodes_dir_at_, "cannot list " + dir + ": " + ec.message());
            return;
        }
        std::sort(files.begin(), files.end());
        for (const fs::path& file : files) {
            read_node_file(file);
        }
    }

    void read_node_file(const fs::path& path) {
        const std::string file = path.string();
        std::error_code ec;
        if (fs::is_directory(path, ec)) {
            r_.error({file, 0, 0}, "",
                     "is a directory; nodes_dir holds one file per node (rename or move it)");
            return;
        }
        std::string reason;
        const auto text = read_file_text(file, reason);
        if (!text) {
            r_.error({file, 0, 0}, "", "cannot read the node file: " + reason);
            return;
        }
        std::string stem = path.stem().string();
        const std::string not_a_map =
            "a node file must be a map with the node's url (and optionally id, mounts, health, "
            "post), "
            "e.g. url: \"https://" +
            stem + ".example.com\"";
        const source_switch in_file(r_, file);
        const auto root = load_one_document(r_, *text, "a node file holds one node", not_a_map);
        if (!root) {
            return;
        }
        if (!root->IsMap()) {
            r_.error(r_.locate(*root), "", not_a_map);
        } else if (!(*root)["id"] && !is_path_segment(stem)) {
            r_.error(r_.locate(*root), "id",
                     "the file name " + in_quotes(path.filename().string()) +
                         " does not make a valid node id; rename the file to <node-id>.yaml "
                         "(letters, digits, '.', '_', '-') or add an id key");
        } else {
            read_node(*root, place{"", r_.locate(*root)}, std::move(stem));
        }
    }

    void read_node_url(const YAML::Node& value, const place& at, node& n) {
        if (auto url = r_.origin_url(value, at, "https://bbb-01.example.com")) {
            n.url = std::move(url->text);
            n.upstream = std::move(url->value);
        }
    }

    void read_mounts(const YAML::Node& value, const place& at, node& n) {
        n.mounts.clear();
        std::set<std::string> seen;
        const auto count = r_.read_list(
            value, at, "mount names", [&](const YAML::Node& item, const place& item_at) {
                const auto text = r_.scalar(item, item_at, "a mount name such as html5client");
                if (!text) {
                    return;
                }
                if (!is_path_segment(*text)) {
                    r_.error(item_at, in_quotes(*text) +
                                          " is not a valid mount name; use only letters, digits, "
                                          "'.', '_' and '-' (and not '.' or '..' alone)");
                } else if (!seen.insert(*text).second) {
                    r_.error(item_at, "duplicate mount " + in_quotes(*text) + "; list it once");
                } else {
                    n.mounts.push_back(*text);
                }
            });
        if (count == 0u) {
            r_.error(at,
                     "is empty, so the node would serve nothing; list at least one mount, or "
                     "remove the key for the default [html5client]");
        }
    }

    void read_upstream(const YAML::Node& value, const place& at) {
        upstream_options& u = cfg_.upstream;
        const reader::field fields[] = {
            {"verify", optional_key, [&](auto& v, auto& a) { store(r_.boolean(v, a), u.verify); }},
            {"ca_file", optional_key,
             [&](auto& v, auto& a) { store(r_.file(v, a, "CA bundle"), u.ca_file); }},
            {"max_idle_per_node", optional_key,
             [&](auto& v, auto& a) {
                 store(r_.whole_number(v, a, 0, max_idle_per_node_limit), u.max_idle_per_node);
             }},
        };
        r_.read_map(value, at, fields);
    }

    void read_timeouts(const YAML::Node& value, const place& at) {
        std::vector<reader::field> fields;
        for (const duration_key& key : duration_keys) {
            fields.push_back({key.name, optional_key, [this, key](auto& v, auto& a) {
                                  store(r_.duration(v, a, key.zero_allowed),
                                        cfg_.timeout.*key.member);
                              }});
        }
        r_.read_map(value, at, fields);
    }

    void read_limits(const YAML::Node& value, const place& at) {
        std::vector<reader::field> fields;
        for (const limit_key& key : limit_keys) {
            fields.push_back({key.name, optional_key, [this, key](auto& v, auto& a) {
                                  store(r_.whole_number(v, a, key.min, key.max),
                                        cfg_.limit.*key.member);
                              }});
        }
        r_.read_map(value, at, fields);
    }

    void read_http2(const YAML::Node& value, const place& at) {
        std::vector<reader::field> fields;
        fields.push_back({"enabled", optional_key, [this](auto& v, auto& a) {
                              store(r_.boolean(v, a), cfg_.http2.enabled);
                          }});
        for (const http2_key& key : http2_keys) {
            fields.push_back({key.name, optional_key, [this, key](auto& v, auto& a) {
                                  store(r_.whole_number(v, a, key.min, key.max),
                                        cfg_.http2.*key.member);
                              }});
        }
        r_.read_map(value, at, fields);
    }

    void read_size(const YAML::Node& value, const place& at, std::uint64_t& target,
                   bool zero_allowed = false) {
        const auto text = r_.scalar(value, at, "a size such as 512MiB");
        if (!text) {
            return;
        }
        auto parsed = parse_size(*text);
        if (!parsed.ok()) {
            r_.error(at, std::move(parsed.message));
            return;
        }
        if (*parsed.value == 0 && !zero_allowed) {
            r_.error(at,
                     "must be more than 0 bytes; set cache.enabled: false to turn the cache off");
            return;
        }
        target = *parsed.value;
    }

    void read_cache(const YAML::Node& value, const place& at) {
        cache_options& c = cfg_.cache;
        c.where = at.where;
        std::optional<place> object_at;
        const reader::field fields[] = {
            {"enabled", optional_key,
             [&](auto& v, auto& a) { store(r_.boolean(v, a), c.enabled); }},
            {"max_size", optional_key, [&](auto& v, auto& a) { read_size(v, a, c.max_size); }},
            {"max_object_size", optional_key,
             [&](auto& v, auto& a) {
                 object_at = a;
                 read_size(v, a, c.max_object_size);
             }},
            {"x_cache_header", optional_key,
             [&](auto& v, auto& a) { store(r_.boolean(v, a), c.x_cache_header); }},
            {"coalesce_wait", optional_key,
             [&](auto& v, auto& a) { store(r_.duration(v, a, false), c.coalesce_wait); }},
            {"stale_if_error", optional_key,
             [&](auto& v, auto& a) { store(r_.duration(v, a, true), c.stale_if_error); }},
            {"heuristic_max", optional_key,
             [&](auto& v, auto& a) { store(r_.duration(v, a, true), c.heuristic_max); }},
            {"compress", optional_key,
             [&](auto& v, auto& a) { store(r_.boolean(v, a), c.compress); }},
            {"compress_workers", optional_key,
             [&](auto& v, auto& a) { store(r_.whole_number(v, a, 1, 64), c.compress_workers); }},
            {"compress_queue", optional_key,
             [&](auto& v, auto& a) { store(r_.whole_number(v, a, 1, 100'000), c.compress_queue); }},
            {"dictionaries", optional_key,
             [&](auto& v, auto& a) { store(r_.boolean(v, a), c.dictionaries); }},
            {"max_deltas_per_asset", optional_key,
             [&](auto& v, auto& a) {
                 store(r_.whole_number(v, a, 1, 64), c.max_deltas_per_asset);
             }},
            {"max_delta_memory", optional_key,
             [&](auto& v, auto& a) { read_size(v, a, c.max_delta_memory); }},
            {"dictionary_retention", optional_key,
             [&](auto& v, auto& a) { read_size(v, a, c.dictionary_retention, true); }},
        };
        r_.read_map(value, at, fields);
        if (c.max_object_size > c.max_size) {
            if (object_at) {
                r_.error(*object_at, "is larger than cache.max_size; lower it or raise max_size");
            } else {
                // The default (64MiB) meets a small max_size: follow it down.
                c.max_object_size = c.max_size;
            }
        }
    }

    void read_workers(const YAML::Node& value, const place& at) {
        store(r_.whole_number(value, at, 0, max_workers), cfg_.workers);
    }

    void read_log_level(const YAML::Node& value, const place& at) {
        const auto text = r_.scalar(value, at, "a log level such as info");
        if (!text) {
            return;
        }
        if (std::find(log_levels.begin(), log_levels.end(), *text) == log_levels.end()) {
            r_.error(at, in_quotes(*text) +
                             " is not a log level; use one of trace, debug, info, warn, error, "
                             "critical, off");
            return;
        }
        cfg_.log_level = *text;
    }

    void read_admin(const YAML::Node& value, const place& at) {
        admin_options a;
        a.where = at.where;
        const reader::field fields[] = {
            {"address", required,
             [&](auto& v, auto& p) {
                 const auto text = r_.scalar(v, p, "host:port such as \"127.0.0.1:9090\"");
                 if (!text) {
                     return;
                 }
                 auto parsed = parse_listen_address(*text);
                 if (!parsed.ok()) {
                     r_.error(p, std::move(parsed.message));
                     return;
                 }
                 a.address = *text;
                 a.host = parsed.value->host;
                 a.port = parsed.value->port;
             },
             "give the address of the admin listener, e.g. address: \"127.0.0.1:9090\""},
            {"token_file", optional_key, [&](auto& v, auto& p) { read_token_file(v, p, a); }},
        };
        if (r_.read_map(value, at, fields)) {
            cfg_.admin = std::move(a);
        }
    }

    // The token is read again when the admin listener starts; checking it here lets `check`
    // report an empty file with its place.
    void read_token_file(const YAML::Node& value, const place& at, admin_options& a) {
        const auto path = r_.file(value, at, "admin token file");
        if (!path) {
            return;
        }
        a.token_file = *path;
        if (!r_.checks_files()) {
            return;
        }
        std::string reason;
        const auto text = read_file_text(*path, reason);
        if (!text) {
            r_.error(at, "cannot read " + *path + ": " + reason);
        } else if (text->find_first_not_of(" \t\r\n") == std::string::npos) {
            r_.error(at, *path +
                             " is empty; put the bearer token in it (e.g. openssl rand -hex 32 > " +
                             *path + ") or remove token_file");
        }
    }

    void read_access_log(const YAML::Node& value, const place& at) {
        access_log_options o;
        const reader::field fields[] = {
            {"format", optional_key,
             [&](auto& v, auto& p) {
                 const auto text = r_.scalar(v, p, "plain or json");
                 if (!text) {
                     return;
                 }
                 if (*text != "plain" && *text != "json") {
                     r_.error(p, in_quotes(*text) + " is not a log format; use plain or json");
                     return;
                 }
                 o.format = *text;
             }},
            {"path", optional_key,
             [&](auto& v, auto& p) {
                 const auto text = r_.scalar(v, p, "stderr or a file path");
                 if (!text) {
                     return;
                 }
                 if (text->empty()) {
                     r_.error(p, "is empty; use stderr or a file path");
                     return;
                 }
                 o.path = *text == "stderr" ? *text : r_.resolve(*text);
             }},
        };
        if (r_.read_map(value, at, fields)) {
            cfg_.access_log = std::move(o);
        }
    }

    // A node whose url is the proxy itself would make every request loop until the connection
    // limit is reached.
    void check_nodes_against_public_url() {
        if (!public_url_at_) {
            return;
        }
        for (std::size_t i = 0; i < cfg_.nodes.size(); ++i) {
            const node& n = cfg_.nodes[i];
            if (!n.url.empty() && n.upstream.to_string() == cfg_.public_origin.to_string()) {
                r_.error(node_url_where_[i], node_url_key_[i],
                         "is the proxy's own public_url, so requests would loop back into the "
                         "proxy; give the node's own origin");
            }
        }
    }

    // Browsers send public_url's host; leaving it out would answer 421 to every real request.
    void check_server_names() {
        if (!public_url_at_ || !server_names_at_ || cfg_.server_names.empty()) {
            return;
        }
        const std::string host = header_host(cfg_.public_origin);
        if (std::find(cfg_.server_names.begin(), cfg_.server_names.end(), host) ==
            cfg_.server_names.end()) {
            r_.error(*server_names_at_, "does not include " + in_quotes(host) +
                                            ", the host of public_url, so browsers would get "
                                            "421 for every request; add it");
        }
    }

    template <class T, class U>
    static void store(const std::optional<U>& value, T& target) {
        if (value) {
            target = static_cast<T>(*value);
        }
    }

    reader& r_;
    proxy_config& cfg_;
    std::optional<place> public_url_at_;
    std::optional<place> server_names_at_;
    std::vector<location> node_url_where_;                     // parallel to cfg_.nodes
    std::vector<std::string> node_url_key_;                    // parallel to cfg_.nodes
    std::vector<std::optional<health_override>> node_health_;  // parallel to cfg_.nodes
    std::optional<health_override> global_health_;
    std::vector<std::optional<post_override>> node_post_;  // parallel to cfg_.nodes
    std::optional<post_override> global_post_;
    std::map<std::string, location> node_id_where_;  // node id -> its first use
    bool nodes_dir_given_ = false;
    bool discovery_given_ = false;
    std::optional<place> nodes_dir_at_;
    std::map<std::string, int> listen_line_;  // canonical address -> line of its first use
};

// Reads a whole file; on failure returns nullopt and sets `reason` in the OS's words.
std::optional<std::string> read_file_text(const std::string& path, std::string& reason) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        reason = std::generic_category().message(errno);
        return std::nullopt;
    }
    std::string text;
    char buffer[65536];
    for (;;) {
        const ssize_t n = ::read(fd, buffer, sizeof buffer);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            // A directory opens fine and fails here with EISDIR.
            reason = std::generic_category().message(errno);
            ::close(fd);
            return std::nullopt;
        }
        if (n == 0) {
            break;
        }
        text.append(buffer, static_cast<std::size_t>(n));
    }
    ::close(fd);
    return text;
}

location mark_location(const std::string& source, const YAML::Mark& mark) {
    if (mark.is_null() || mark.line < 0) {
        return {source, 0, 0};
    }
    return {source, mark.line + 1, mark.column + 1};
}

}  // namespace

bool is_node_file_name(std::string_view name) {
    if (name.empty() || name.front() == '.') {
        return false;
    }
    for (const std::string_view suffix : {std::string_view(".yaml"), std::string_view(".yml")}) {
        if (name.size() > suffix.size() && name.ends_with(suffix)) {
            return true;
        }
    }
    return false;
}

const node* proxy_config::find_node(std::string_view id) const {
    const auto it =
        std::find_if(nodes.begin(), nodes.end(), [&](const node& n) { return n.id == id; });
    return it == nodes.end() ? nullptr : &*it;
}

std::string diagnostic::to_string() const {
    std::string out = where.file;
    if (where.line > 0) {
        out += ":" + std::to_string(where.line);
        if (where.column > 0) {
            out += ":" + std::to_string(where.column);
        }
    }
    if (!out.empty()) {
        out += ": ";
    }
    if (!key.empty()) {
        out += key + ": ";
    }
    return out + message;
}

load_result load_file(const std::string& path) {
    std::string reason;
    const auto text = read_file_text(path, reason);
    if (!text) {
        return {std::nullopt,
                {{{path, 0, 0}, "", "cannot read the configuration file: " + reason}}};
    }
    // Absolute, so messages about relative TLS paths name the real directory, not ".".
    std::error_code ec;
    const auto parent = std::filesystem::path(path).parent_path();
    auto base_dir = std::filesystem::absolute(parent.empty() ? "." : parent, ec).lexically_normal();
    if (ec) {
        base_dir = parent.empty() ? "." : parent;
    }
    std::string base = base_dir.string();
    if (base.size() > 1 && base.ends_with('/')) {
        base.pop_back();
    }
    return load_string(*text, path, base, true);
}

load_result load_string(std::string_view yaml, std::string source_name, std::string base_dir,
                        bool check_files) {
    reader r(source_name, std::move(base_dir), check_files);
    proxy_config cfg;
    cfg.source = source_name;
    try {
        if (const auto root = load_one_document(
                r, yaml, "put the whole configuration in one document",
                "the configuration is empty; it needs at least public_url, listen and nodes "
                "(see examples/minimal.yaml)")) {
            loader(r, cfg).load(*root);
        }
    } catch (const std::exception& e) {
        r.error({source_name, 0, 0}, "",
                std::string("internal error while reading the configuration: ") + e.what());
    }
    load_result out;
    out.diagnostics = r.take_diagnostics();
    if (out.diagnostics.empty()) {
        out.config = std::move(cfg);
    }
    return out;
}

}  // namespace bcp::config
