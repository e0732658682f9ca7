#include "config/config.hpp"
#include "config/values.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

namespace bcp::config {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

// Joins lines with '\n' so a test can read line numbers off the list (line = index + 1).
std::string lines(std::initializer_list<std::string_view> list) {
    std::string out;
    for (const std::string_view line : list) {
        out.append(line).append("\n");
    }
    return out;
}

// The smallest valid document; tests append sections from line 7 on.
const std::string minimal = lines({
    "public_url: https://proxy.example.com",  // 1
    "listen:",                                // 2
    "  - address: \"0.0.0.0:80\"",            // 3
    "nodes:",                                 // 4
    "  - id: bbb-01",                         // 5
    "    url: https://bbb-01.example.com",    // 6
});

load_result load(std::string_view yaml) {
    return load_string(yaml, "test.yaml", "/etc/bcp", false);
}

std::string dump(const load_result& r) {
    std::string out;
    for (const diagnostic& d : r.diagnostics) {
        out += "\n  " + d.to_string();
    }
    return out.empty() ? " (no diagnostics)" : out;
}

// What one diagnostic must say: its key, position and a part of its message.
struct expected_diagnostic {
    std::string key;
    int line;
    int column;
    std::string message_part;
};

void expect_diagnostic(const diagnostic& d, const expected_diagnostic& e) {
    EXPECT_EQ(d.where.file, "test.yaml");
    EXPECT_EQ(d.key, e.key);
    EXPECT_EQ(d.where.line, e.line) << d.to_string();
    EXPECT_EQ(d.where.column, e.column) << d.to_string();
    EXPECT_NE(d.message.find(e.message_part), std::string::npos)
        << "message: " << d.message << "\nexpected to contain: " << e.message_part;
}

void expect_only(const load_result& r, const expected_diagnostic& e) {
    EXPECT_FALSE(r.ok());
    ASSERT_EQ(r.diagnostics.size(), 1u) << dump(r);
    expect_diagnostic(r.diagnostics.front(), e);
}

// A fresh directory under the system temp dir, removed with the test.
class temp_dir {
  public:
    temp_dir() {
        std::string pattern = (fs::temp_directory_path() / "bcp-config-test-XXXXXX").string();
        path_ = ::mkdtemp(pattern.data());
    }
    ~temp_dir() {
        std::error_code ec;
        fs::remove_all(path_, ec);
    }
    const fs::path& path() const { return path_; }
    fs::path write(const std::string& name, const std::string& text) const {
        const fs::path file = path_ / name;
        fs::create_directories(file.parent_path());
        std::ofstream(file) << text;
        return file;
    }

  private:
    fs::path path_;
};

// ---------------------------------------------------------------------------------------------
// diagnostic::to_string and find_node

TEST(Diagnostic, FormatsFileLineColumnKeyMessage) {
    const diagnostic d{{"/etc/x.yaml", 3, 7}, "nodes[1].url", "has a path"};
    EXPECT_EQ(d.to_string(), "/etc/x.yaml:3:7: nodes[1].url: has a path");
}

TEST(Diagnostic, OmitsUnknownPositionAndEmptyKey) {
    EXPECT_EQ((diagnostic{{"x.yaml", 0, 0}, "", "cannot read"}).to_string(), "x.yaml: cannot read");
    EXPECT_EQ((diagnostic{{"x.yaml", 4, 0}, "k", "m"}).to_string(), "x.yaml:4: k: m");
    EXPECT_EQ((diagnostic{{"x.yaml", 0, 0}, "k", "m"}).to_string(), "x.yaml: k: m");
}

TEST(ProxyConfig, FindsNodeById) {
    const auto r = load(minimal + lines({"  - id: bbb-02", "    url: https://bbb-02.example.com"}));
    ASSERT_TRUE(r.ok()) << dump(r);
    const node* n = r.config->find_node("bbb-02");
    ASSERT_NE(n, nullptr);
    EXPECT_EQ(n->url, "https://bbb-02.example.com");
    EXPECT_EQ(r.config->find_node("bbb-03"), nullptr);
    EXPECT_EQ(r.config->find_node("BBB-01"), nullptr);  // ids are path segments: case matters
}

// ---------------------------------------------------------------------------------------------
// Valid documents

TEST(ConfigLoad, MinimalConfigGetsDefaults) {
    const auto r = load(minimal);
    ASSERT_TRUE(r.ok()) << dump(r);
    const proxy_config& c = *r.config;
    EXPECT_EQ(c.source, "test.yaml");
    EXPECT_EQ(c.public_url, "https://proxy.example.com");
    EXPECT_EQ(c.public_origin.to_string(), "https://proxy.example.com");
    EXPECT_TRUE(c.server_names.empty());
    ASSERT_EQ(c.listen.size(), 1u);
    EXPECT_EQ(c.listen[0].address, "0.0.0.0:80");
    EXPECT_EQ(c.listen[0].host, "0.0.0.0");
    EXPECT_EQ(c.listen[0].port, 80);
    EXPECT_FALSE(c.listen[0].tls.has_value());
    EXPECT_EQ(c.listen[0].where.line, 3);
    EXPECT_EQ(c.listen[0].where.column, 5);
    ASSERT_EQ(c.nodes.size(), 1u);
    EXPECT_EQ(c.nodes[0].id, "bbb-01");
    EXPECT_EQ(c.nodes[0].upstream.host, "bbb-01.example.com");
    EXPECT_EQ(c.nodes[0].upstream.port, 443);
    EXPECT_EQ(c.nodes[0].mounts, std::vector<std::string>{"html5client"});
    EXPECT_EQ(c.nodes[0].where.line, 5);
    EXPECT_TRUE(c.upstream.verify);
    EXPECT_EQ(c.upstream.ca_file, "");
    EXPECT_EQ(c.upstream.max_idle_per_node, 256u);
    EXPECT_EQ(c.timeout.client_head, 10s);
    EXPECT_EQ(c.timeout.client_idle, 15s);
    EXPECT_EQ(c.timeout.client_send, 60s);
    EXPECT_EQ(c.timeout.upstream_connect, 5s);
    EXPECT_EQ(c.timeout.upstream_response, 30s);
    EXPECT_EQ(c.timeout.upstream_read, 60s);
    EXPECT_EQ(c.timeout.upstream_idle, 30s);
    EXPECT_EQ(c.timeout.tunnel_idle, 10min);
    EXPECT_EQ(c.timeout.shutdown, 10s);
    EXPECT_EQ(c.limit.max_connections, 20'000u);
    EXPECT_EQ(c.limit.max_header_bytes, 16'384u);
    EXPECT_EQ(c.limit.max_headers, 100u);
    EXPECT_EQ(c.limit.max_response_header_bytes, 65'536u);
    EXPECT_EQ(c.workers, 0u);
    EXPECT_EQ(c.log_level, "info");
}

TEST(ConfigLoad, ReadsEveryKey) {
    const auto r = load(lines({
        "public_url: \"https://Proxy.Example.com:8443\"",
        "server_names: [Proxy.Example.com, \"[::1]\", 127.0.0.1]",
        "listen:",
        "  - address: \"[::]:8443\"",
        "    tls: {certificate: tls/cert.pem, private_key: /keys/key.pem}",
        "  - address: 127.0.0.1:0",
        "nodes:",
        "  - {id: bbb-01, url: \"http://10.0.0.1:8080\", mounts: [html5client, "
        "learning-dashboard]}",
        "upstream:",
        "  verify: FALSE",
        "  ca_file: ca.pem",
        "  max_idle_per_node: 0",
        "timeouts:",
        "  client_head: 250ms",
        "  client_idle: 1",
        "  client_send: 2m",
        "  upstream_connect: 1h",
        "  upstream_response: 7s",
        "  upstream_read: 8s",
        "  upstream_idle: 9s",
        "  tunnel_idle: 24h",
        "  shutdown: 0",
        "limits:",
        "  max_connections: 5",
        "  max_header_bytes: 1048576",
        "  max_headers: 1",
        "  max_response_header_bytes: 4096",
        "workers: 1024",
        "log_level: critical",
    }));
    ASSERT_TRUE(r.ok()) << dump(r);
    const proxy_config& c = *r.config;
    EXPECT_EQ(c.public_url, "https://Proxy.Example.com:8443");
    EXPECT_EQ(c.public_origin.authority(), "proxy.example.com:8443");
    EXPECT_EQ(c.server_names,
              (std::vector<std::string>{"proxy.example.com", "[::1]", "127.0.0.1"}));
    ASSERT_EQ(c.listen.size(), 2u);
    EXPECT_EQ(c.listen[0].host, "::");
    EXPECT_EQ(c.listen[0].port, 8443);
    ASSERT_TRUE(c.listen[0].tls.has_value());
    EXPECT_EQ(c.listen[0].tls->certificate, "/etc/bcp/tls/cert.pem");
    EXPECT_EQ(c.listen[0].tls->private_key, "/keys/key.pem");
    EXPECT_EQ(c.listen[1].port, 0);
    ASSERT_EQ(c.nodes.size(), 1u);
    EXPECT_EQ(c.nodes[0].upstream.to_string(), "http://10.0.0.1:8080");
    EXPECT_EQ(c.nodes[0].mounts, (std::vector<std::string>{"html5client", "learning-dashboard"}));
    EXPECT_FALSE(c.upstream.verify);
    EXPECT_EQ(c.upstream.ca_file, "/etc/bcp/ca.pem");
    EXPECT_EQ(c.upstream.max_idle_per_node, 0u);
    EXPECT_EQ(c.timeout.client_head, 250ms);
    EXPECT_EQ(c.timeout.client_idle, 1s);
    EXPECT_EQ(c.timeout.client_send, 2min);
    EXPECT_EQ(c.timeout.upstream_connect, 1h);
    EXPECT_EQ(c.timeout.upstream_response, 7s);
    EXPECT_EQ(c.timeout.upstream_read, 8s);
    EXPECT_EQ(c.timeout.upstream_idle, 9s);
    EXPECT_EQ(c.timeout.tunnel_idle, 24h);
    EXPECT_EQ(c.timeout.shutdown, 0ms);
    EXPECT_EQ(c.limit.max_connections, 5u);
    EXPECT_EQ(c.limit.max_header_bytes, 1'048'576u);
    EXPECT_EQ(c.limit.max_headers, 1u);
    EXPECT_EQ(c.limit.max_response_header_bytes, 4096u);
    EXPECT_EQ(c.workers, 1024u);
    EXPECT_EQ(c.log_level, "critical");
}

TEST(ConfigLoad, CacheCompressionKeys) {
    const auto defaults = load(minimal + "cache:\n  enabled: true\n");
    ASSERT_TRUE(defaults.ok()) << dump(defaults);
    EXPECT_TRUE(defaults.config->cache.compress);
    EXPECT_EQ(defaults.config->cache.compress_workers, 1u);
    EXPECT_EQ(defaults.config->cache.compress_queue, 64u);

    const auto set = load(minimal + lines({"cache:",                    // 7
                                           "  enabled: true",           // 8
                                           "  compress: false",         // 9
                                           "  compress_workers: 2",     // 10
                                           "  compress_queue: 500"}));  // 11
    ASSERT_TRUE(set.ok()) << dump(set);
    EXPECT_FALSE(set.config->cache.compress);
    EXPECT_EQ(set.config->cache.compress_workers, 2u);
    EXPECT_EQ(set.config->cache.compress_queue, 500u);

    expect_only(load(minimal + lines({"cache:", "  compress_workers: 0"})),
                {"cache.compress_workers", 8, 21, ""});
    expect_only(load(minimal + lines({"cache:", "  compress: sometimes"})),
                {"cache.compress", 8, 13, ""});
}

TEST(ConfigLoad, CacheDictionaryKeys) {
    const auto defaults = load(minimal + "cache:\n  enabled: true\n");
    ASSERT_TRUE(defaults.ok()) << dump(defaults);
    EXPECT_TRUE(defaults.config->cache.dictionaries);
    EXPECT_EQ(defaults.config->cache.max_deltas_per_asset, 4u);
    EXPECT_EQ(defaults.config->cache.max_delta_memory, 64ull << 20);
    EXPECT_EQ(defaults.config->cache.dictionary_retention, 64ull << 20);

    const auto set = load(minimal + lines({"cache:",                        // 7
                                           "  enabled: true",               // 8
                                           "  dictionaries: false",         // 9
                                           "  max_deltas_per_asset: 2",     // 10
                                           "  max_delta_memory: 8MiB",      // 11
                                           "  dictionary_retention: 0"}));  // 12
    ASSERT_TRUE(set.ok()) << dump(set);
    EXPECT_FALSE(set.config->cache.dictionaries);
    EXPECT_EQ(set.config->cache.max_deltas_per_asset, 2u);
    EXPECT_EQ(set.config->cache.max_delta_memory, 8ull << 20);
    EXPECT_EQ(set.config->cache.dictionary_retention, 0u);

    expect_only(load(minimal + lines({"cache:", "  max_deltas_per_asset: 0"})),
                {"cache.max_deltas_per_asset", 8, 25, ""});
    expect_only(load(minimal + lines({"cache:", "  max_deltas_per_asset: 65"})),
                {"cache.max_deltas_per_asset", 8, 25, ""});
    expect_only(load(minimal + lines({"cache:", "  max_delta_memory: 0"})),
                {"cache.max_delta_memory", 8, 21, "must be more than 0 bytes"});
    expect_only(load(minimal + lines({"cache:", "  dictionary_retention: lots"})),
                {"cache.dictionary_retention", 8, 25, ""});
}

TEST(ConfigLoad, EmptySectionsMeanDefaults) {
    // "timeouts:" with every entry commented out is common when editing an example.
    const auto r = load(minimal + lines({"upstream:", "timeouts:", "limits:", "server_names:"}));
    ASSERT_TRUE(r.ok()) << dump(r);
    EXPECT_EQ(r.config->timeout.client_head, 10s);
    EXPECT_TRUE(r.config->upstream.verify);
    EXPECT_TRUE(r.config->server_names.empty());
}

TEST(ConfigLoad, AcceptsEveryLogLevel) {
    for (const char* level : {"trace", "debug", "info", "warn", "error", "critical", "off"}) {
        SCOPED_TRACE(level);
        const auto r = load(minimal + "log_level: " + level + "\n");
        ASSERT_TRUE(r.ok()) << dump(r);
        EXPECT_EQ(r.config->log_level, level);
    }
}

// ---------------------------------------------------------------------------------------------
// Document-level errors

TEST(ConfigLoad, ReportsYamlSyntaxErrorWithPosition) {
    expect_only(load(lines({"public_url: https://proxy.example.com", "listen: [", "nodes: []"})),
                {"", 4, 1, "YAML syntax error: end of sequence flow not found"});
    expect_only(load(lines({"nodes:", "  - id: a", "   url: b"})),
                {"", 3, 4, "YAML syntax error: end of sequence not found; check the indentation"});
}

TEST(ConfigLoad, RejectsTopLevelThatIsNotAMap) {
    const expected_diagnostic cases[] = {
        {"", 1, 1, "the top level must be a map of 'key: value' entries"},
        {"", 1, 1, "not a single value"},
        {"", 0, 0, "the configuration is empty"},
        {"", 0, 0, "the configuration is empty"},
    };
    const std::string documents[] = {"- public_url: x\n", "just text\n", "", "# only a comment\n"};
    for (std::size_t i = 0; i < std::size(cases); ++i) {
        SCOPED_TRACE(documents[i]);
        expect_only(load(documents[i]), cases[i]);
    }
    expect_only(load("- a\n"), {"", 1, 1, "not a list"});
}

TEST(ConfigLoad, RejectsSecondDocument) {
    expect_only(load(minimal + "---\nworkers: 1\n"), {"", 8, 1, "a second YAML document"});
}

TEST(ConfigLoad, DocumentLevelMessagesReadInFull) {
    // The same steps read each nodes_dir file (NodesDir.DocumentLevelErrorsNameTheNodeFile...).
    const auto second = load(minimal + "---\nworkers: 1\n");
    ASSERT_EQ(second.diagnostics.size(), 1u) << dump(second);
    EXPECT_EQ(second.diagnostics[0].to_string(),
              "test.yaml:8:1: a second YAML document starts here ('---'); put the whole "
              "configuration in one document");
    const auto empty = load("");
    ASSERT_EQ(empty.diagnostics.size(), 1u) << dump(empty);
    EXPECT_EQ(empty.diagnostics[0].to_string(),
              "test.yaml: the configuration is empty; it needs at least public_url, listen and "
              "nodes (see examples/minimal.yaml)");
}

TEST(ConfigLoad, RejectsDuplicateKey) {
    expect_only(load(minimal + "public_url: https://other.example.com\n"),
                {"public_url", 7, 1, "duplicate key 'public_url' (first on line 1)"});
}

// ---------------------------------------------------------------------------------------------
// Unknown keys, wrong types, missing keys

struct document_case {
    std::string name;
    std::string yaml;
    expected_diagnostic expected;
};

TEST(ConfigLoad, RejectsUnknownKeysWithSuggestion) {
    const document_case cases[] = {
        {"top level",
         minimal + "tiemouts: {}\n",
         {"tiemouts", 7, 1, "unknown key 'tiemouts'; did you mean 'timeouts'?"}},
        {"dash for underscore",
         minimal + "log-level: info\n",
         {"log-level", 7, 1, "did you mean 'log_level'?"}},
        {"letter case", minimal + "Workers: 2\n", {"Workers", 7, 1, "did you mean 'workers'?"}},
        {"upstream",
         minimal + "upstream:\n  verfy: true\n",
         {"upstream.verfy", 8, 3, "did you mean 'verify'?"}},
        {"timeouts",
         minimal + "timeouts:\n  client_haed: 5s\n",
         {"timeouts.client_haed", 8, 3, "did you mean 'client_head'?"}},
        {"limits",
         minimal + "limits:\n  max_conections: 5\n",
         {"limits.max_conections", 8, 3, "did you mean 'max_connections'?"}},
        {"node", minimal + "    mount: [x]\n", {"nodes[0].mount", 7, 5, "did you mean 'mounts'?"}},
        {"listener",
         lines({"public_url: https://proxy.example.com", "listen:", "  - address: \"0.0.0.0:80\"",
                "    tsl: {}", "nodes: [{id: a, url: \"http://a.example.com\"}]"}),
         {"listen[0].tsl", 4, 5, "did you mean 'tls'?"}},
        {"tls",
         lines({"public_url: https://proxy.example.com", "listen:", "  - address: \"0.0.0.0:443\"",
                "    tls:", "      certificate: c.pem", "      private_key: k.pem",
                "      private-key: k.pem",
                "nodes:", "  - {id: a, url: \"http://a.example.com\"}"}),
         {"listen[0].tls.private-key", 7, 7, "did you mean 'private_key'?"}},
    };
    for (const auto& c : cases) {
        SCOPED_TRACE(c.name);
        expect_only(load(c.yaml), c.expected);
    }
}

TEST(ConfigLoad, ListsAllowedKeysWhenNothingIsClose) {
    expect_only(load(minimal + "upstream:\n  pool: 5\n"),
                {"upstream.pool", 8, 3,
                 "unknown key 'pool'; the keys allowed here are verify, ca_file, "
                 "max_idle_per_node"});
}

TEST(ConfigLoad, RejectsWrongTypes) {
    const document_case cases[] = {
        {"list for integer",
         minimal + "workers: [1]\n",
         {"workers", 7, 10, "must be a whole number from 0 to 1024, not a list"}},
        {"map for string",
         minimal + "log_level: {a: 1}\n",
         {"log_level", 7, 12, "must be a log level such as info, not a map"}},
        {"empty scalar", minimal + "log_level:\n", {"log_level", 7, 1, "has no value"}},
        {"scalar for map",
         minimal + "timeouts: 10s\n",
         {"timeouts", 7, 11, "must be a map of 'key: value' entries, not the value '10s'"}},
        {"scalar for list",
         minimal + "server_names: proxy.example.com\n",
         {"server_names", 7, 15, "must be a list of host names"}},
        {"map for list",
         lines({"public_url: https://p.example", "listen: [{address: \"0.0.0.0:80\"}]",
                "nodes: {id: x}"}),
         {"nodes", 3, 8, "must be a list of nodes ('- ' items or [a, b]), not a map"}},
        {"yes for boolean",
         minimal + "upstream:\n  verify: yes\n",
         {"upstream.verify", 8, 11, "'yes' is not a boolean; write true or false"}},
        {"number for boolean",
         minimal + "upstream:\n  verify: 1\n",
         {"upstream.verify", 8, 11, "is not a boolean"}},
        {"negative",
         minimal + "upstream:\n  max_idle_per_node: -1\n",
         {"upstream.max_idle_per_node", 8, 22, "'-1' is negative; give a whole number from 0 to"}},
        {"fraction",
         minimal + "limits:\n  max_headers: 1.5\n",
         {"limits.max_headers", 8, 16, "'1.5' is not a whole number"}},
        {"unit suffix",
         minimal + "limits:\n  max_header_bytes: 16k\n",
         {"limits.max_header_bytes", 8, 21, "'16k' is not a whole number"}},
        {"zero bytes",
         minimal + "limits:\n  max_header_bytes: 0\n",
         {"limits.max_header_bytes", 8, 21, "out of range; give a whole number from 1 to 1048576"}},
        {"zero connections",
         minimal + "limits:\n  max_connections: 0\n",
         {"limits.max_connections", 8, 20, "out of range"}},
        {"zero headers",
         minimal + "limits:\n  max_headers: 0\n",
         {"limits.max_headers", 8, 16, "out of range"}},
        {"zero response head",
         minimal + "limits:\n  max_response_header_bytes: 0\n",
         {"limits.max_response_header_bytes", 8, 30, "out of range"}},
        {"huge",
         minimal + "limits:\n  max_connections: 99999999999999999999999\n",
         {"limits.max_connections", 8, 20, "out of range"}},
        {"tiny h2 body budget",
         minimal + "http2:\n  max_pending_body_bytes: 512\n",
         {"http2.max_pending_body_bytes", 8, 27,
          "'512' is out of range; give a whole number from 1024 to 1073741824"}},
        {"h2 body budget per worker too large",
         minimal + "http2:\n  max_pending_body_bytes_per_worker: 20000000000\n",
         {"http2.max_pending_body_bytes_per_worker", 8, 38,
          "'20000000000' is out of range; give a whole number from 1024 to 17179869184"}},
        {"too many workers",
         minimal + "workers: 1025\n",
         {"workers", 7, 10, "'1025' is out of range; give a whole number from 0 to 1024"}},
        {"negative workers", minimal + "workers: -1\n", {"workers", 7, 10, "is negative"}},
        {"list key", minimal + "[a]: 1\n", {"", 7, 1, "a key must be a plain name, not a list"}},
        {"unknown log level",
         minimal + "log_level: verbose\n",
         {"log_level", 7, 12, "'verbose' is not a log level; use one of trace, debug, info"}},
        {"log level case", minimal + "log_level: INFO\n", {"log_level", 7, 12, "not a log level"}},
    };
    for (const auto& c : cases) {
        SCOPED_TRACE(c.name);
        const auto r = load(c.yaml);
        ASSERT_FALSE(r.diagnostics.empty());
        expect_diagnostic(r.diagnostics.back(), c.expected);
    }
}

TEST(ConfigLoad, RejectsMissingRequiredKeys) {
    const document_case cases[] = {
        {"public_url",
         lines({"listen: [{address: \"0.0.0.0:80\"}]",
                "nodes: [{id: a, url: \"http://a.example\"}]"}),
         {"public_url", 1, 1, "missing required key 'public_url'; add the origin browsers use"}},
        {"listen",
         lines({"public_url: https://p.example", "nodes: [{id: a, url: \"http://a.example\"}]"}),
         {"listen", 1, 1, "missing required key 'listen'"}},
        {"nodes",
         lines({"public_url: https://p.example", "listen: [{address: \"0.0.0.0:80\"}]"}),
         {"nodes", 1, 1, "missing required key 'nodes'"}},
        {"node id",
         lines({"public_url: https://p.example", "listen: [{address: \"0.0.0.0:80\"}]",
                "nodes:", "  - url: http://a.example"}),
         {"nodes[0].id", 4, 5, "missing required key 'id'; give the node's name"}},
        {"node url",
         lines({"public_url: https://p.example", "listen: [{address: \"0.0.0.0:80\"}]",
                "nodes:", "  - id: a"}),
         {"nodes[0].url", 4, 5, "missing required key 'url'"}},
        {"listen address",
         lines({"public_url: https://p.example", "listen:", "  - tls: {}",
                "nodes: [{id: a, url: \"http://a.example\"}]"}),
         // tls: {} also lacks certificate and private_key; those come first (column 10).
         {"listen[0].address", 3, 5, "missing required key 'address'"}},
    };
    for (const auto& c : cases) {
        SCOPED_TRACE(c.name);
        const auto r = load(c.yaml);
        ASSERT_FALSE(r.diagnostics.empty());
        const auto it = std::find_if(r.diagnostics.begin(), r.diagnostics.end(),
                                     [&](const diagnostic& d) { return d.key == c.expected.key; });
        ASSERT_NE(it, r.diagnostics.end()) << dump(r);
        expect_diagnostic(*it, c.expected);
    }
}

TEST(ConfigLoad, RejectsTlsWithoutCertificateOrKey) {
    const std::string head =
        lines({"public_url: https://proxy.example.com", "listen:", "  - address: \"0.0.0.0:443\""});
    const std::string tail = lines({"nodes: [{id: a, url: \"https://a.example.com\"}]"});
    expect_only(load(head + "    tls: {certificate: /c.pem}\n" + tail),
                {"listen[0].tls.private_key", 4, 10, "missing required key 'private_key'"});
    expect_only(load(head + "    tls: {private_key: /k.pem}\n" + tail),
                {"listen[0].tls.certificate", 4, 10, "missing required key 'certificate'"});
    // "tls:" with nothing after it is not plain HTTP by accident: both keys are reported.
    const auto r = load(head + "    tls:\n" + tail);
    ASSERT_EQ(r.diagnostics.size(), 2u) << dump(r);
    expect_diagnostic(r.diagnostics[0], {"listen[0].tls.certificate", 4, 5, "missing"});
    expect_diagnostic(r.diagnostics[1], {"listen[0].tls.private_key", 4, 5, "missing"});
    expect_only(load(head + "    tls: true\n" + tail), {"listen[0].tls", 4, 10, "must be a map"});
}

TEST(ConfigLoad, RejectsEmptyListenAndNodes) {
    expect_only(load(lines({"public_url: https://p.example", "listen: []",
                            "nodes: [{id: a, url: \"http://a.example\"}]"})),
                {"listen", 2, 9, "is empty; add at least one listener"});
    expect_only(load(lines({"public_url: https://p.example", "listen: [{address: \"0.0.0.0:80\"}]",
                            "nodes:"})),
                {"nodes", 3, 1, "is empty; add at least one BBB node"});
}

// ---------------------------------------------------------------------------------------------
// Nodes

TEST(ConfigLoad, RejectsDuplicateNodeIds) {
    expect_only(load(minimal + lines({"  - id: bbb-02", "    url: https://bbb-02.example.com",
                                      "  - id: bbb-01", "    url: https://bbb-03.example.com"})),
                {"nodes[2].id", 9, 9, "duplicate node id 'bbb-01' (first on line 5)"});
}

TEST(ConfigLoad, ChecksNodeIds) {
    struct id_case {
        std::string id;
        bool valid;
    };
    const id_case cases[] = {
        {"bbb-01", true},      {"a.b_c-D9", true},  {"...", true},    {"01", true},
        {"\"bbb 01\"", false}, {"bbb/01", false},   {"\".\"", false}, {"\"..\"", false},
        {"\"\"", false},       {"bbb%2f01", false}, {"bbb?x", false}, {"bbü", false},
    };
    for (const auto& c : cases) {
        SCOPED_TRACE(c.id);
        const auto r =
            load(lines({"public_url: https://p.example", "listen: [{address: \"0.0.0.0:80\"}]",
                        "nodes:", "  - url: http://a.example", "    id: " + c.id}));
        if (c.valid) {
            EXPECT_TRUE(r.ok()) << dump(r);
        } else {
            expect_only(r, {"nodes[0].id", 5, 9, "is not a valid node id; use only letters"});
        }
    }
}

TEST(ConfigLoad, ChecksMounts) {
    struct mount_case {
        std::string mounts;
        expected_diagnostic expected;  // key empty = valid
    };
    const mount_case cases[] = {
        {"[html5client, learning-dashboard]", {}},
        {"[]", {"nodes[0].mounts", 7, 13, "is empty, so the node would serve nothing"}},
        {"[html5client, html5client]",
         {"nodes[0].mounts[1]", 7, 27, "duplicate mount 'html5client'; list it once"}},
        {"[\"a b\"]", {"nodes[0].mounts[0]", 7, 14, "'a b' is not a valid mount name"}},
        {"[\"..\"]", {"nodes[0].mounts[0]", 7, 14, "is not a valid mount name"}},
        {"[\"\"]", {"nodes[0].mounts[0]", 7, 14, "is not a valid mount name"}},
        {"[{a: b}]", {"nodes[0].mounts[0]", 7, 14, "must be a mount name such as html5client"}},
        {"html5client", {"nodes[0].mounts", 7, 13, "must be a list of mount names"}},
    };
    for (const auto& c : cases) {
        SCOPED_TRACE(c.mounts);
        const auto r = load(minimal + "    mounts: " + c.mounts + "\n");
        if (c.expected.key.empty()) {
            ASSERT_TRUE(r.ok()) << dump(r);
            EXPECT_EQ(r.config->nodes[0].mounts,
                      (std::vector<std::string>{"html5client", "learning-dashboard"}));
        } else {
            expect_only(r, c.expected);
        }
    }
}

TEST(ConfigLoad, RejectsUrlsThatAreNotOrigins) {
    const std::string bad_urls[] = {
        "https://bbb-01.example.com/",
        "https://bbb-01.example.com/bigbluebutton",
        "bbb-01.example.com",
        "ftp://bbb-01.example.com",
        "https://user@bbb-01.example.com",
        "https://bbb-01.example.com:99999",
        "https://bbb-01.example.com?x=1",
    };
    for (const auto& url : bad_urls) {
        SCOPED_TRACE(url);
        const std::string expected = parse_origin(url).message;
        ASSERT_FALSE(expected.empty());
        // As a node url (line 6, value at column 10) ...
        auto yaml = minimal;
        yaml.replace(yaml.find("https://bbb-01.example.com"), 26, url);
        expect_only(load(yaml), {"nodes[0].url", 6, 10, expected});
        // ... and as public_url (line 1, value at column 13).
        yaml = minimal;
        yaml.replace(yaml.find("https://proxy.example.com"), 25, url);
        expect_only(load(yaml), {"public_url", 1, 13, expected});
    }
}

TEST(ConfigLoad, AcceptsHttpPublicUrl) {
    auto yaml = minimal;
    yaml.replace(0, 37, "public_url: http://proxy.example.com");
    const auto r = load(yaml);
    ASSERT_TRUE(r.ok()) << dump(r);
    EXPECT_FALSE(r.config->public_origin.tls());
}

TEST(ConfigLoad, RejectsNodeThatIsTheProxyItself) {
    expect_only(load(minimal + lines({"  - id: self", "    url: https://PROXY.example.com:443"})),
                {"nodes[1].url", 8, 10, "is the proxy's own public_url"});
}

// ---------------------------------------------------------------------------------------------
// server_names

TEST(ConfigLoad, ChecksServerNames) {
    const document_case cases[] = {
        {"url",
         minimal + "server_names: [proxy.example.com, \"https://proxy.example.com\"]\n",
         {"server_names[1]", 7, 35, "is a URL, not a host name"}},
        {"port",
         minimal + "server_names: [proxy.example.com, \"proxy.example.com:443\"]\n",
         {"server_names[1]", 7, 35, "is not a valid host name"}},
        {"wildcard",
         minimal + "server_names: [proxy.example.com, \"*.example.com\"]\n",
         {"server_names[1]", 7, 35, "is not a valid host name"}},
        {"without public host",
         minimal + "server_names: [www.example.com]\n",
         {"server_names", 7, 15, "does not include 'proxy.example.com', the host of public_url"}},
    };
    for (const auto& c : cases) {
        SCOPED_TRACE(c.name);
        expect_only(load(c.yaml), c.expected);
    }
}

// ---------------------------------------------------------------------------------------------
// listen

TEST(ListenAddress, ParsesIpLiteralsAndPorts) {
    struct ok_case {
        std::string text;
        std::string host;
        std::uint16_t port;
    };
    const ok_case cases[] = {
        {"0.0.0.0:443", "0.0.0.0", 443},
        {"127.0.0.1:0", "127.0.0.1", 0},
        {"[::]:443", "::", 443},
        {"[::1]:8080", "::1", 8080},
        {"[2001:db8::1]:65535", "2001:db8::1", 65535},
    };
    for (const auto& c : cases) {
        SCOPED_TRACE(c.text);
        const auto parsed = parse_listen_address(c.text);
        ASSERT_TRUE(parsed.ok()) << parsed.message;
        EXPECT_EQ(parsed.value->host, c.host);
        EXPECT_EQ(parsed.value->port, c.port);
    }
    EXPECT_EQ(parse_listen_address("[0:0::0]:443").value->canonical, "[::]:443");
}

TEST(ListenAddress, RejectsAnythingElse) {
    struct bad_case {
        std::string text;
        std::string message_part;
    };
    const bad_case cases[] = {
        {"localhost:80", "'localhost' is not an IPv4 address"},
        {"bbb.example.com:443", "host names are not resolved"},
        {"0.0.0.0", "has no port"},
        {"0.0.0.0:", "has no port"},
        {":443", "has no host"},
        {"443", "write 0.0.0.0:443 for every IPv4 address or [::]:443"},
        {"0.0.0.0:65536", "the port must be a number from 0 to 65535"},
        {"0.0.0.0:-1", "invalid port '-1'"},
        {"0.0.0.0:http", "invalid port 'http'"},
        {"::1:80", "IPv6 address without brackets"},
        {"[::1]", "has no port after ']'"},
        {"[::1]80", "has no port after ']'"},
        {"[::1:80", "unterminated '['"},
        {"[0.0.0.0]:80", "invalid IPv6 address"},
        {"[fe80::1%eth0]:80", "invalid IPv6 address"},
        {"256.0.0.1:80", "is not an IPv4 address"},
        {"1.2.3:80", "is not an IPv4 address"},
        {"", "the address is empty"},
    };
    for (const auto& c : cases) {
        SCOPED_TRACE(c.text);
        const auto parsed = parse_listen_address(c.text);
        EXPECT_FALSE(parsed.ok());
        EXPECT_NE(parsed.message.find(c.message_part), std::string::npos) << parsed.message;
    }
}

TEST(ConfigLoad, RejectsBadListenAddressAtItsPosition) {
    auto yaml = minimal;
    yaml.replace(yaml.find("\"0.0.0.0:80\""), 12, "localhost:80");
    expect_only(load(yaml), {"listen[0].address", 3, 14, "not an IPv4 address"});
}

TEST(ConfigLoad, ReadsIpv6Listener) {
    auto yaml = minimal;
    yaml.replace(yaml.find("\"0.0.0.0:80\""), 12, "\"[::]:443\"");
    const auto r = load(yaml);
    ASSERT_TRUE(r.ok()) << dump(r);
    EXPECT_EQ(r.config->listen[0].address, "[::]:443");
    EXPECT_EQ(r.config->listen[0].host, "::");
    EXPECT_EQ(r.config->listen[0].port, 443);
}

TEST(ConfigLoad, RejectsDuplicateListenAddresses) {
    const std::string nodes = "nodes: [{id: a, url: \"http://a.example\"}]\n";
    expect_only(
        load(lines({"public_url: https://p.example", "listen:", "  - address: \"0.0.0.0:80\"",
                    "  - address: \"0.0.0.0:80\"", "    tls: {certificate: c, private_key: k}"}) +
             nodes),
        {"listen[1].address", 4, 14, "duplicate listen address '0.0.0.0:80' (first on line 3)"});
    // The same address written two ways is still the same socket.
    expect_only(load(lines({"public_url: https://p.example", "listen:", "  - address: \"[::]:443\"",
                            "  - address: \"[0:0::0]:443\""}) +
                     nodes),
                {"listen[1].address", 4, 14, "duplicate listen address '[0:0::0]:443'"});
}

TEST(ConfigLoad, AllowsSeveralEphemeralListeners) {
    const auto r =
        load(lines({"public_url: http://127.0.0.1", "listen:", "  - address: 127.0.0.1:0",
                    "  - address: 127.0.0.1:0", "    tls: {certificate: c.pem, private_key: k.pem}",
                    "nodes: [{id: a, url: \"http://127.0.0.1:9001\"}]"}));
    ASSERT_TRUE(r.ok()) << dump(r);
    EXPECT_EQ(r.config->listen.size(), 2u);
}

// ---------------------------------------------------------------------------------------------
// Files: TLS certificate and key, CA bundle

TEST(ConfigLoad, ResolvesRelativeTlsPathsAgainstBaseDir) {
    temp_dir dir;
    dir.write("tls/cert.pem", "cert");
    dir.write("key.pem", "key");
    dir.write("ca.pem", "ca");
    const auto r = load_string(
        lines({"public_url: https://proxy.example.com", "listen:", "  - address: \"0.0.0.0:443\"",
               "    tls: {certificate: tls/cert.pem, private_key: ./tls/../key.pem}",
               "nodes: [{id: a, url: \"https://a.example.com\"}]", "upstream: {ca_file: ca.pem}"}),
        "test.yaml", dir.path().string(), true);
    ASSERT_TRUE(r.ok()) << dump(r);
    EXPECT_EQ(r.config->listen[0].tls->certificate, (dir.path() / "tls/cert.pem").string());
    EXPECT_EQ(r.config->listen[0].tls->private_key, (dir.path() / "key.pem").string());
    EXPECT_EQ(r.config->upstream.ca_file, (dir.path() / "ca.pem").string());
}

TEST(ConfigLoad, RejectsMissingOrUnreadableFiles) {
    temp_dir dir;
    dir.write("cert.pem", "cert");
    fs::create_directories(dir.path() / "key.pem");
    const auto r = load_string(
        lines({"public_url: https://proxy.example.com", "listen:", "  - address: \"0.0.0.0:443\"",
               "    tls:", "      certificate: cert.pem", "      private_key: key.pem",
               "nodes: [{id: a, url: \"https://a.example.com\"}]",
               "upstream:", "  ca_file: /nonexistent/ca.pem"}),
        "test.yaml", dir.path().string(), true);
    ASSERT_EQ(r.diagnostics.size(), 2u) << dump(r);
    expect_diagnostic(r.diagnostics[0],
                      {"listen[0].tls.private_key", 6, 20,
                       "cannot read the private key file '" + (dir.path() / "key.pem").string() +
                           "': it is a directory"});
    EXPECT_NE(r.diagnostics[0].message.find("relative paths are resolved against"),
              std::string::npos);
    expect_diagnostic(r.diagnostics[1],
                      {"upstream.ca_file", 9, 12,
                       "cannot read the CA bundle file '/nonexistent/ca.pem': No such file or "
                       "directory"});
}

TEST(ConfigLoad, SkipsFileChecksWhenAskedButStillResolves) {
    const auto r = load_string(
        lines({"public_url: https://p.example", "listen:", "  - address: \"0.0.0.0:443\"",
               "    tls: {certificate: c.pem, private_key: /k.pem}",
               "nodes: [{id: a, url: \"http://a.example\"}]"}),
        "test.yaml", "/srv/bcp", false);
    ASSERT_TRUE(r.ok()) << dump(r);
    EXPECT_EQ(r.config->listen[0].tls->certificate, "/srv/bcp/c.pem");
    EXPECT_EQ(r.config->listen[0].tls->private_key, "/k.pem");
}

TEST(ConfigLoad, RejectsEmptyFilePath) {
    expect_only(load(minimal + "upstream: {ca_file: \"\"}\n"),
                {"upstream.ca_file", 7, 21, "is empty; give the path of the CA bundle file"});
}

TEST(ConfigLoadFile, ResolvesRelativePathsAgainstTheFilesDirectory) {
    temp_dir dir;
    dir.write("etc/cert.pem", "cert");
    dir.write("etc/key.pem", "key");
    const fs::path file = dir.write(
        "etc/config.yaml",
        lines({"public_url: https://proxy.example.com", "listen:", "  - address: \"0.0.0.0:443\"",
               "    tls: {certificate: cert.pem, private_key: key.pem}",
               "nodes: [{id: a, url: \"https://a.example.com\"}]"}));
    const auto r = load_file(file.string());
    ASSERT_TRUE(r.ok()) << dump(r);
    EXPECT_EQ(r.config->source, file.string());
    EXPECT_EQ(r.config->listen[0].tls->certificate, (dir.path() / "etc/cert.pem").string());
}

TEST(ConfigLoadFile, NamesTheFileInDiagnostics) {
    temp_dir dir;
    const fs::path file = dir.write("bad.yaml", minimal + "workers: many\n");
    const auto r = load_file(file.string());
    ASSERT_EQ(r.diagnostics.size(), 1u) << dump(r);
    EXPECT_EQ(r.diagnostics[0].to_string(),
              file.string() +
                  ":7:10: workers: 'many' is not a whole number; give a whole number from 0 to "
                  "1024 (plain digits, no units or separators)");
}

TEST(ConfigLoadFile, ReportsFileThatCannotBeRead) {
    temp_dir dir;
    const std::string missing = (dir.path() / "missing.yaml").string();
    auto r = load_file(missing);
    EXPECT_FALSE(r.ok());
    ASSERT_EQ(r.diagnostics.size(), 1u);
    EXPECT_EQ(r.diagnostics[0].to_string(),
              missing + ": cannot read the configuration file: No such file or directory");
    r = load_file(dir.path().string());
    ASSERT_EQ(r.diagnostics.size(), 1u);
    EXPECT_EQ(r.diagnostics[0].to_string(),
              dir.path().string() + ": cannot read the configuration file: Is a directory");
}

// ---------------------------------------------------------------------------------------------
// Durations

TEST(Duration, ParsesEveryUnit) {
    struct duration_case {
        std::string text;
        std::chrono::milliseconds value;
    };
    const duration_case cases[] = {
        {"250ms", 250ms}, {"10s", 10s}, {"2m", 2min},   {"1h", 1h},     {"10", 10s},  {"0", 0ms},
        {"0ms", 0ms},     {"24h", 24h}, {"1440m", 24h}, {"86400", 24h}, {"007s", 7s},
    };
    for (const auto& c : cases) {
        SCOPED_TRACE(c.text);
        const auto parsed = parse_duration(c.text);
        ASSERT_TRUE(parsed.ok()) << parsed.message;
        EXPECT_EQ(*parsed.value, c.value);
    }
}

TEST(Duration, RejectsOtherForms) {
    for (const std::string text :
         {"", "s", "10x", "1.5s", "-1s", "10 s", " 10s", "1m30s", "10S", "10sec", "1d", "+5s"}) {
        SCOPED_TRACE(text);
        const auto parsed = parse_duration(text);
        EXPECT_FALSE(parsed.ok());
        EXPECT_EQ(parsed.message, "'" + text +
                                      "' is not a duration; write a whole number with a unit: "
                                      "250ms, 10s, 2m or 1h (a bare number means seconds)");
    }
    for (const std::string text :
         {"25h", "86401", "1441m", "86400001ms", "99999999999999999999h"}) {
        SCOPED_TRACE(text);
        const auto parsed = parse_duration(text);
        EXPECT_FALSE(parsed.ok());
        EXPECT_NE(parsed.message.find("longer than 24h"), std::string::npos) << parsed.message;
    }
}

TEST(ConfigLoad, RejectsBadTimeouts) {
    const document_case cases[] = {
        {"syntax",
         minimal + "timeouts:\n  client_head: 10 seconds\n",
         {"timeouts.client_head", 8, 16, "'10 seconds' is not a duration; write a whole number"}},
        {"zero",
         minimal + "timeouts:\n  upstream_connect: 0s\n",
         {"timeouts.upstream_connect", 8, 21, "a timeout of 0 would expire at once"}},
        {"too long",
         minimal + "timeouts:\n  tunnel_idle: 2d\n",
         {"timeouts.tunnel_idle", 8, 16, "is not a duration"}},
        {"map",
         minimal + "timeouts:\n  shutdown: {s: 1}\n",
         {"timeouts.shutdown", 8, 13,
          "must be a duration such as 250ms, 10s, 2m or 1h, not a map"}},
    };
    for (const auto& c : cases) {
        SCOPED_TRACE(c.name);
        expect_only(load(c.yaml), c.expected);
    }
}

// ---------------------------------------------------------------------------------------------
// Everything at once

TEST(ConfigLoad, ReportsEveryDiagnosticInSourceOrder) {
    const auto r = load(lines({
        "public_url: https://proxy.example.com/",  // 1: trailing slash
        "listen:",                                 // 2
        "  - address: \"0.0.0.0:80\"",             // 3
        "  - adress: \"0.0.0.0:81\"",              // 4: typo, so address is missing too
        "nodes:",                                  // 5
        "  - id: bbb-01",                          // 6
        "    url: https://bbb-01.example.com",     // 7
        "  - id: bbb-01",                          // 8: duplicate
        "    url: bbb-02.example.com",             // 9: not a URL
        "timeouts:",                               // 10
        "  client_head: soon",                     // 11
        "workers: 2000",                           // 12
        "log_level: loud",                         // 13
    }));
    EXPECT_FALSE(r.ok());
    const expected_diagnostic expected[] = {
        {"public_url", 1, 13, "has a trailing slash"},
        {"listen[1].adress", 4, 5, "did you mean 'address'?"},
        {"listen[1].address", 4, 5, "missing required key 'address'"},
        {"nodes[1].id", 8, 9, "duplicate node id 'bbb-01' (first on line 6)"},
        {"nodes[1].url", 9, 10, "is not a URL"},
        {"timeouts.client_head", 11, 16, "'soon' is not a duration"},
        {"workers", 12, 10, "out of range"},
        {"log_level", 13, 12, "'loud' is not a log level"},
    };
    ASSERT_EQ(r.diagnostics.size(), std::size(expected)) << dump(r);
    for (std::size_t i = 0; i < std::size(expected); ++i) {
        SCOPED_TRACE(i);
        expect_diagnostic(r.diagnostics[i], expected[i]);
    }
}

TEST(ConfigLoad, NeverThrows) {
    // Inputs that make yaml-cpp throw in various places; each must come back as a diagnostic.
    for (const std::string& text :
         {std::string("{"), std::string("a: \"\\x\""), std::string("\t- x"), std::string(300, '['),
          std::string("&a [*a]"), std::string("? [a]\n: b\n")}) {
        SCOPED_TRACE(text);
        load_result r;
        EXPECT_NO_THROW(r = load(text));
        EXPECT_FALSE(r.ok());
        EXPECT_FALSE(r.diagnostics.empty());
    }
}

// ---------------------------------------------------------------------------------------------
// Suggestions

TEST(EditDistance, CountsEditsAndTranspositions) {
    struct distance_case {
        std::string a;
        std::string b;
        std::size_t distance;
    };
    const distance_case cases[] = {
        {"", "", 0},
        {"abc", "abc", 0},
        {"", "abc", 3},
        {"tiemouts", "timeouts", 1},
        {"verfy", "verify", 1},
        {"nodes", "node", 1},
        {"listen", "lisen", 1},
        {"workers", "wrkres", 2},
        {"abc", "xyz", 3},
    };
    for (const auto& c : cases) {
        SCOPED_TRACE(c.a + " / " + c.b);
        EXPECT_EQ(edit_distance(c.a, c.b), c.distance);
        EXPECT_EQ(edit_distance(c.b, c.a), c.distance);
    }
}

TEST(SuggestKey, SuggestsOnlyCloseKeys) {
    const std::string_view allowed[] = {"id", "url", "mounts"};
    EXPECT_EQ(suggest_key("ur", allowed), "url");
    EXPECT_EQ(suggest_key("URL", allowed), "url");
    EXPECT_EQ(suggest_key("mount", allowed), "mounts");
    EXPECT_EQ(suggest_key("x", allowed), "");  // two edits from "id", but that is all of it
    EXPECT_EQ(suggest_key("address", allowed), "");
}

// ---------------------------------------------------------------------------------------------
// nodes_dir: one YAML file per node

// A config file in a fresh directory, with a nodes.d beside it.
struct dir_setup {
    temp_dir dir;
    fs::path config;
    fs::path nodes;

    explicit dir_setup(const std::string& main_text) {
        config = dir.write("config.yaml", main_text);
        nodes = dir.path() / "nodes.d";
        fs::create_directories(nodes);
    }
    fs::path node(const std::string& name, const std::string& text) const {
        return dir.write("nodes.d/" + name, text);
    }
};

const std::string head_only = lines({
    "public_url: https://proxy.example.com",  // 1
    "listen:",                                // 2
    "  - address: \"0.0.0.0:80\"",            // 3
});

std::vector<std::string> ids_of(const proxy_config& c) {
    std::vector<std::string> out;
    for (const node& n : c.nodes) {
        out.push_back(n.id);
    }
    return out;
}

TEST(NodesDir, EveryYamlFileIsANodeNamedAfterItsFileInNameOrder) {
    dir_setup s(head_only + "nodes_dir: nodes.d/\n");
    s.node("bbb-02.yaml", "url: https://bbb-02.example.com\n");
    s.node("bbb-01.yml", "url: https://bbb-01.example.com\nmounts: [html5client, playback]\n");
    s.node("other-name.yaml", "id: bbb-03\nurl: https://bbb-03.example.com\n");
    // Not read: hidden (a tool's temporary file), other suffixes, editor backups.
    s.node(".bbb-09.yaml", "url: ::broken\n");
    s.node("bbb-08.yaml.tmp", "url: ::broken\n");
    s.node("bbb-07.yaml~", "url: ::broken\n");
    s.node("README", "not yaml: [\n");
    const auto r = load_file(s.config.string());
    ASSERT_TRUE(r.ok()) << dump(r);
    EXPECT_EQ(r.config->nodes_dir, (s.dir.path() / "nodes.d").string());
    EXPECT_EQ(ids_of(*r.config), (std::vector<std::string>{"bbb-01", "bbb-02", "bbb-03"}));
    const node& first = r.config->nodes[0];
    EXPECT_EQ(first.mounts, (std::vector<std::string>{"html5client", "playback"}));
    EXPECT_EQ(first.where.file, (s.nodes / "bbb-01.yml").string());
    EXPECT_EQ(first.where.line, 1);
    EXPECT_EQ(r.config->nodes[2].upstream.host, "bbb-03.example.com");
}

TEST(NodesDir, ListedNodesComeFirstAndTheTopLevelHealthAppliesToFileNodes) {
    dir_setup s(minimal + lines({"nodes_dir: nodes.d", "health:", "  interval: 7s"}));
    s.node("bbb-00.yaml",
           lines({"url: https://bbb-00.example.com", "health:", "  unhealthy_threshold: 9"}));
    const auto r = load_file(s.config.string());
    ASSERT_TRUE(r.ok()) << dump(r);
    ASSERT_EQ(ids_of(*r.config), (std::vector<std::string>{"bbb-01", "bbb-00"}));
    const node& file_node = r.config->nodes[1];
    EXPECT_TRUE(file_node.health.enabled);
    EXPECT_EQ(file_node.health.interval, 7s);
    EXPECT_EQ(file_node.health.unhealthy_threshold, 9u);
    EXPECT_EQ(r.config->nodes[0].health.unhealthy_threshold, 3u);
}

TEST(NodesDir, AnEmptyDirectoryIsAValidConfigWithoutNodes) {
    // Provisioning tools may start from nothing, or remove the last node.
    dir_setup s(head_only + "nodes_dir: nodes.d\n");
    const auto r = load_file(s.config.string());
    ASSERT_TRUE(r.ok()) << dump(r);
    EXPECT_TRUE(r.config->nodes.empty());
    // An empty list beside it is fine too.
    dir_setup t(head_only + "nodes: []\nnodes_dir: nodes.d\n");
    EXPECT_TRUE(load_file(t.config.string()).ok());
}

TEST(NodesDir, WithoutNodesOrNodesDirTheMessageNamesBoth) {
    const auto r = load(head_only);
    ASSERT_EQ(r.diagnostics.size(), 1u) << dump(r);
    EXPECT_EQ(r.diagnostics[0].key, "nodes");
    EXPECT_NE(r.diagnostics[0].message.find("nodes_dir"), std::string::npos) << dump(r);
}

TEST(NodesDir, AMissingDirectoryIsNamedAtTheKey) {
    dir_setup s(head_only + "nodes_dir: /nonexistent/bcp-nodes.d\n");
    const auto r = load_file(s.config.string());
    ASSERT_EQ(r.diagnostics.size(), 1u) << dump(r);
    const diagnostic& d = r.diagnostics[0];
    EXPECT_EQ(d.where.file, s.config.string());
    EXPECT_EQ(d.where.line, 4);
    EXPECT_EQ(d.key, "nodes_dir");
    EXPECT_NE(d.message.find("mkdir -p /nonexistent/bcp-nodes.d"), std::string::npos) << dump(r);
}

TEST(NodesDir, AFileInsteadOfADirectoryIsRefused) {
    dir_setup s(head_only + "nodes_dir: config.yaml\n");
    const auto r = load_file(s.config.string());
    ASSERT_EQ(r.diagnostics.size(), 1u) << dump(r);
    EXPECT_NE(r.diagnostics[0].message.find("is not a directory"), std::string::npos) << dump(r);
}

TEST(NodesDir, ErrorsInANodeFileNameTheFileLineAndKey) {
    dir_setup s(head_only + "nodes_dir: nodes.d\n");
    const auto bad = s.node("bbb-01.yaml", lines({"url: https://bbb-01.example.com/path",  // 1
                                                  "mount: [html5client]"}));               // 2
    s.node("bbb-02.yaml", "url: https://bbb-02.example.com\n");
    const auto r = load_file(s.config.string());
    ASSERT_EQ(r.diagnostics.size(), 2u) << dump(r);
    EXPECT_EQ(r.diagnostics[0].where.file, bad.string());
    EXPECT_EQ(r.diagnostics[0].where.line, 1);
    EXPECT_EQ(r.diagnostics[0].where.column, 6);
    EXPECT_EQ(r.diagnostics[0].key, "url");
    EXPECT_EQ(r.diagnostics[1].where.line, 2);
    EXPECT_NE(r.diagnostics[1].message.find("did you mean 'mounts'"), std::string::npos) << dump(r);
}

TEST(NodesDir, ADuplicateIdNamesWhereItWasFirst) {
    dir_setup s(minimal + "nodes_dir: nodes.d\n");
    const auto same_name = s.node("bbb-01.yaml", "url: https://other.example.com\n");
    const auto same_id = s.node("x.yaml", "id: bbb-01\nurl: https://x.example.com\n");
    const auto r = load_file(s.config.string());
    ASSERT_EQ(r.diagnostics.size(), 2u) << dump(r);
    const std::string first = "first in " + s.config.string() + ":5";
    EXPECT_EQ(r.diagnostics[0].where.file, same_name.string());
    EXPECT_NE(r.diagnostics[0].message.find(first), std::string::npos) << dump(r);
    EXPECT_EQ(r.diagnostics[1].where.file, same_id.string());
    EXPECT_EQ(r.diagnostics[1].key, "id");
    EXPECT_EQ(r.diagnostics[1].where.line, 1);
    EXPECT_NE(r.diagnostics[1].message.find(first), std::string::npos) << dump(r);
}

TEST(NodesDir, BrokenFilesAreReportedNotSkipped) {
    dir_setup s(head_only + "nodes_dir: nodes.d\n");
    s.node("a.yaml", "url: [https://a.example.com\n");      // YAML syntax
    s.node("b.yaml", "- url: https://b.example.com\n");     // a list, not a map
    s.node("c.yaml", "");                                   // empty
    s.node("d.yaml", "url: https://d.example.com\n---\n");  // two documents
    s.node("e e.yaml", "url: https://e.example.com\n");     // no id, name is no id
    s.node("f.yaml", "id: bbb-f\n");                        // no url
    fs::create_directories(s.nodes / "g.yaml");             // a directory
    s.node("h.yaml", ",\n");                                // yaml-cpp would loop (yaml_guard)
    const auto r = load_file(s.config.string());
    ASSERT_FALSE(r.ok());
    std::vector<std::string> files;
    for (const diagnostic& d : r.diagnostics) {
        files.push_back(fs::path(d.where.file).filename().string());
    }
    EXPECT_EQ(files, (std::vector<std::string>{"a.yaml", "b.yaml", "c.yaml", "d.yaml", "e e.yaml",
                                               "f.yaml", "g.yaml", "h.yaml"}))
        << dump(r);
    const auto message_of = [&](const std::string& name) {
        const auto i = std::find(files.begin(), files.end(), name) - files.begin();
        return r.diagnostics[static_cast<std::size_t>(i)].message;
    };
    EXPECT_NE(message_of("a.yaml").find("YAML syntax error"), std::string::npos);
    EXPECT_NE(message_of("b.yaml").find("must be a map"), std::string::npos);
    EXPECT_NE(message_of("c.yaml").find("must be a map"), std::string::npos);
    EXPECT_NE(message_of("d.yaml").find("second YAML document"), std::string::npos);
    EXPECT_NE(message_of("e e.yaml").find("rename the file"), std::string::npos);
    EXPECT_NE(message_of("f.yaml").find("missing required key 'url'"), std::string::npos);
    EXPECT_NE(message_of("g.yaml").find("is a directory"), std::string::npos);
    // A file name that is no id is fine when the file gives the id.
    fs::remove_all(s.nodes);
    fs::create_directories(s.nodes);
    s.node("e e.yaml", "id: bbb-e\nurl: https://e.example.com\n");
    const auto fixed = load_file(s.config.string());
    ASSERT_TRUE(fixed.ok()) << dump(fixed);
    EXPECT_EQ(ids_of(*fixed.config), std::vector<std::string>{"bbb-e"});
}

TEST(NodesDir, DocumentLevelErrorsNameTheNodeFileLineAndColumn) {
    struct file_case {
        std::string name;
        std::string text;
        int line;
        int column;
        std::string message;
    };
    const std::string not_a_map =
        "a node file must be a map with the node's url (and optionally id, mounts, health, "
        "post), "
        "e.g. url: \"https://bbb-01.example.com\"";
    const file_case cases[] = {
        {"syntax error", lines({"url: https://bbb-01.example.com", "mounts: [html5client"}), 3, 1,
         "YAML syntax error: end of sequence flow not found; check the indentation and quoting "
         "here and on the line before"},
        {"second document",
         lines({"url: https://bbb-01.example.com", "---", "url: https://bbb-02.example.com"}), 3, 1,
         "a second YAML document starts here ('---'); a node file holds one node"},
        {"refused by yaml_guard", lines({"url: https://bbb-01.example.com", "---", ", [x"}), 3, 1,
         "a ',' outside [ ] or { } cannot start a value; quote the text that holds it "
         "(yaml-cpp 0.7.0 would read this file forever)"},
        {"empty", "", 0, 0, not_a_map},
        {"only a comment", "# url: https://bbb-01.example.com\n", 0, 0, not_a_map},
    };
    for (const file_case& c : cases) {
        SCOPED_TRACE(c.name);
        dir_setup s(head_only + "nodes_dir: nodes.d\n");
        const auto file = s.node("bbb-01.yaml", c.text);
        const auto r = load_file(s.config.string());
        ASSERT_EQ(r.diagnostics.size(), 1u) << dump(r);
        const diagnostic& d = r.diagnostics[0];
        EXPECT_EQ(d.where.file, file.string());
        EXPECT_EQ(d.where.line, c.line) << d.to_string();
        EXPECT_EQ(d.where.column, c.column) << d.to_string();
        EXPECT_EQ(d.key, "");
        EXPECT_EQ(d.message, c.message);
    }
}

TEST(NodesDir, TheMainFilesDiagnosticsComeFirst) {
    dir_setup s(head_only + "nodes_dir: nodes.d\nworkers: many\n");
    s.node("a.yaml", "url: ftp://a.example.com\n");
    const auto r = load_file(s.config.string());
    ASSERT_EQ(r.diagnostics.size(), 2u) << dump(r);
    EXPECT_EQ(r.diagnostics[0].where.file, s.config.string());
    EXPECT_EQ(r.diagnostics[0].key, "workers");
    EXPECT_EQ(r.diagnostics[1].where.file, (s.nodes / "a.yaml").string());
}

TEST(NodesDir, ANodeFileThatIsThePublicUrlIsRefused) {
    dir_setup s(head_only + "nodes_dir: nodes.d\n");
    const auto file = s.node("loop.yaml", "url: https://proxy.example.com\n");
    const auto r = load_file(s.config.string());
    ASSERT_EQ(r.diagnostics.size(), 1u) << dump(r);
    EXPECT_EQ(r.diagnostics[0].where.file, file.string());
    EXPECT_EQ(r.diagnostics[0].key, "url");
    EXPECT_NE(r.diagnostics[0].message.find("public_url"), std::string::npos);
}

TEST(NodesDir, WhichFileNamesAreNodes) {
    EXPECT_TRUE(is_node_file_name("bbb-01.yaml"));
    EXPECT_TRUE(is_node_file_name("bbb-01.yml"));
    EXPECT_TRUE(is_node_file_name("a.b.yaml"));
    EXPECT_FALSE(is_node_file_name(".yaml"));
    EXPECT_FALSE(is_node_file_name(".bbb-01.yaml"));
    EXPECT_FALSE(is_node_file_name("bbb-01.yaml~"));
    EXPECT_FALSE(is_node_file_name("bbb-01.yaml.swp"));
    EXPECT_FALSE(is_node_file_name("bbb-01.YAML"));
    EXPECT_FALSE(is_node_file_name("bbb-01.json"));
    EXPECT_FALSE(is_node_file_name(""));
}

// ---------------------------------------------------------------------------------------------
// Shipped examples

TEST(ConfigExamples, EveryExampleLoadsWithoutDiagnostics) {
    const fs::path examples = fs::path(BCP_SOURCE_DIR) / "examples";
    std::size_t count = 0;
    for (const auto& entry : fs::directory_iterator(examples)) {
        if (entry.path().extension() != ".yaml") {
            continue;
        }
        SCOPED_TRACE(entry.path().string());
        std::ifstream in(entry.path());
        std::stringstream text;
        text << in.rdbuf();
        const auto r = load_string(text.str(), entry.path().string(),
                                   entry.path().parent_path().string(), false);
        EXPECT_TRUE(r.ok()) << dump(r);
        ++count;
    }
    EXPECT_GE(count, 3u);
}

// The POST exception (docs/config-reference.md "post"): defaults, the global section, per-node
// overrides of single keys, and the paths' syntax.
TEST(Post, DefaultsAreTheMeteorPaths) {
    const auto r = load(minimal);
    ASSERT_TRUE(r.ok()) << dump(r);
    const auto& p = r.config->nodes[0].post;
    EXPECT_EQ(p.paths, (std::vector<std::string>{"__meteor__/dynamic-import/fetch", "feedback"}));
    EXPECT_EQ(p.cached, (std::vector<std::string>{"__meteor__/dynamic-import/fetch"}));
    EXPECT_EQ(p.max_body_size, 65'536u);
    EXPECT_EQ(p.cache_validity, 24h);
}

TEST(Post, GlobalSectionAndNodeOverrides) {
    const auto r = load(lines({
        "public_url: https://proxy.example.com",
        "listen:",
        "  - address: \"0.0.0.0:80\"",
        "post:",
        "  paths: [feedback, a/b-c/d_e.f]",
        "  max_body_size: 8KiB",
        "  cache_validity: 1h",
        "nodes:",
        "  - id: bbb-01",
        "    url: https://bbb-01.example.com",
        "  - id: bbb-02",
        "    url: https://bbb-02.example.com",
        "    post:",
        "      paths: []",
        "  - id: bbb-03",
        "    url: https://bbb-03.example.com",
        "    post: {max_body_size: 1MiB, cached: [feedback]}",
    }));
    ASSERT_TRUE(r.ok()) << dump(r);
    const auto& n = r.config->nodes;
    EXPECT_EQ(n[0].post.paths, (std::vector<std::string>{"feedback", "a/b-c/d_e.f"}));
    EXPECT_EQ(n[0].post.max_body_size, 8192u);
    EXPECT_EQ(n[0].post.cache_validity, 1h);
    EXPECT_EQ(n[0].post.cached, (std::vector<std::string>{"__meteor__/dynamic-import/fetch"}));
    EXPECT_TRUE(n[1].post.paths.empty());  // [] turns the exception off for this node
    EXPECT_EQ(n[1].post.max_body_size, 8192u);
    EXPECT_EQ(n[2].post.paths, n[0].post.paths);
    EXPECT_EQ(n[2].post.max_body_size, 1u << 20);
    EXPECT_EQ(n[2].post.cached, (std::vector<std::string>{"feedback"}));
}

TEST(Post, NodesDirFilesMayOverrideToo) {
    dir_setup s(minimal + lines({"nodes_dir: nodes.d", "post:", "  paths: [feedback]"}));
    s.node("bbb-00.yaml", lines({"url: https://bbb-00.example.com", "post:", "  paths: []"}));
    const auto r = load_file(s.config.string());
    ASSERT_TRUE(r.ok()) << dump(r);
    EXPECT_EQ(r.config->nodes[0].post.paths, (std::vector<std::string>{"feedback"}));
    EXPECT_TRUE(r.config->nodes[1].post.paths.empty());
}

TEST(Post, BadValuesNameTheirPlace) {
    const auto with = [](std::string_view section) { return minimal + std::string(section); };
    expect_only(load(with("post:\n  paths: [/feedback]\n")),
                {"post.paths[0]", 8, 11, "without a leading '/'"});
    expect_only(load(with("post:\n  paths: [\"a//b\"]\n")),
                {"post.paths[0]", 8, 11, "is not a path below a mount"});
    expect_only(load(with("post:\n  paths: [\"a/../b\"]\n")),
                {"post.paths[0]", 8, 11, "is not a path below a mount"});
    expect_only(load(with("post:\n  paths: [\"fetch?x=1\"]\n")),
                {"post.paths[0]", 8, 11, "is not a path below a mount"});
    expect_only(load(with("post:\n  paths: [\"a/*\"]\n")),
                {"post.paths[0]", 8, 11, "is not a path below a mount"});
    expect_only(load(with("post:\n  paths: [feedback, feedback]\n")),
                {"post.paths[1]", 8, 21, "duplicate path 'feedback'"});
    expect_only(load(with("post:\n  paths: feedback\n")), {"post.paths", 8, 10, "list"});
    expect_only(load(with("post:\n  max_body_size: 2MiB\n")),
                {"post.max_body_size", 8, 18, "is more than 1MiB"});
    expect_only(load(with("post:\n  max_body_size: lots\n")), {"post.max_body_size", 8, 18, ""});
    expect_only(load(with("post:\n  cache_validity: 0s\n")), {"post.cache_validity", 8, 19, ""});
    expect_only(load(with("post:\n  path: [feedback]\n")), {"post.path", 8, 3, "paths"});
}

// discovery.scalelite (issue 17): the keys, their defaults, nodes optional, and errors with places.
TEST(Discovery, ScaleliteSectionWithoutNodes) {
    const auto r = load(lines({
        "public_url: https://proxy.example.com",
        "listen:",
        "  - address: \"0.0.0.0:80\"",
        "discovery:",
        "  scalelite:",
        "    redis_url: \"rediss://reader:p%40ss@10.0.0.5:6380/2\"",
        "    namespace: sl",
        "    interval: 2s",
        "    removal_grace: 0s",
        "    snapshot: state/nodes.json",
        "    ids: {uuid-1: room-1, bbb-09.example.com: ninth}",
    }));
    ASSERT_TRUE(r.ok()) << dump(r);
    ASSERT_TRUE(r.config->discovery.scalelite);
    const auto& d = *r.config->discovery.scalelite;
    EXPECT_TRUE(r.config->nodes.empty());
    EXPECT_TRUE(d.redis->tls);
    EXPECT_EQ(d.redis->user, "reader");
    EXPECT_EQ(d.redis->password, "p@ss");
    EXPECT_EQ(d.redis->port, 6380);
    EXPECT_EQ(d.redis->database, 2u);
    EXPECT_EQ(d.namespace_prefix, "sl");
    EXPECT_EQ(d.interval, 2s);
    EXPECT_EQ(d.removal_grace, 0s);
    EXPECT_EQ(d.snapshot, "/etc/bcp/state/nodes.json");
    EXPECT_EQ(d.ids.at("uuid-1"), "room-1");
    EXPECT_EQ(d.ids.at("bbb-09.example.com"), "ninth");

    const auto defaults = load(minimal + "discovery:\n  scalelite: {redis_url: \"redis://r\"}\n");
    ASSERT_TRUE(defaults.ok()) << dump(defaults);
    const auto& dd = *defaults.config->discovery.scalelite;
    EXPECT_EQ(dd.namespace_prefix, "scalelite");
    EXPECT_EQ(dd.interval, 5s);
    EXPECT_EQ(dd.removal_grace, 15min);
    EXPECT_EQ(dd.snapshot, "/var/lib/bbb-cluster-proxy/scalelite-nodes.json");
    EXPECT_EQ(defaults.config->nodes.size(), 1u);  // static nodes and discovery together
}

TEST(Discovery, BadValuesNameTheirPlaceAndNeverThePassword) {
    const auto with = [](std::string_view section) { return minimal + std::string(section); };
    expect_only(load(with("discovery:\n  scalelite: {namespace: x}\n")),
                {"discovery.scalelite", 8, 14, "has no source; give redis_url"});
    const auto bad =
        load(with("discovery:\n  scalelite:\n    redis_url: \"redis://:hunter2@h:99999\"\n"));
    expect_only(bad, {"discovery.scalelite.redis_url", 9, 16, "invalid port"});
    EXPECT_EQ(bad.diagnostics.front().to_string().find("hunter2"), std::string::npos);
    expect_only(load(with("discovery:\n  scalelite:\n    redis_url: \"http://h\"\n")),
                {"discovery.scalelite.redis_url", 9, 16, "is not a Redis URL"});
    expect_only(
        load(with("discovery:\n  scalelite:\n    redis_url: \"redis://h\"\n    interval: 10ms\n")),
        {"discovery.scalelite.interval", 10, 15, "shorter than 100ms"});
    expect_only(
        load(with(
            "discovery:\n  scalelite:\n    redis_url: \"redis://h\"\n    namespace: \"a b\"\n")),
        {"discovery.scalelite.namespace", 10, 16, "is not a key prefix"});
    expect_only(
        load(with(
            "discovery:\n  scalelite:\n    redis_url: \"redis://h\"\n    ids: {x: \"../y\"}\n")),
        {"discovery.scalelite.ids.x", 10, 14, "is not a valid node id"});
    expect_only(
        load(with("discovery:\n  scalelite:\n    redis_url: \"redis://h\"\n    ids: [a]\n")),
        {"discovery.scalelite.ids", 10, 10, "must be a map"});
    // A misspelt source: the unknown key (with the suggestion) and the missing one.
    const auto typo = load(with("discovery:\n  scalelit: {}\n"));
    ASSERT_EQ(typo.diagnostics.size(), 2u) << dump(typo);
    expect_diagnostic(typo.diagnostics[0],
                      {"discovery.scalelit", 8, 3, "did you mean 'scalelite'"});
}

// The second source: Scalelite's server API (api_url + api_secret), instead of its Redis.
TEST(Discovery, ScaleliteServerApiSource) {
    const auto with = [](std::string_view section) { return minimal + std::string(section); };
    const auto r =
        load(with("discovery:\n  scalelite:\n"
                  "    api_url: \"https://LB.example.com:8443/scalelite/api/\"\n"
                  "    api_secret: \"s3cret\"\n    api_checksum: sha512\n"));
    ASSERT_TRUE(r.ok()) << dump(r);
    const auto& d = *r.config->discovery.scalelite;
    EXPECT_FALSE(d.redis);
    ASSERT_TRUE(d.api);
    EXPECT_EQ(d.api->server.to_string(), "https://lb.example.com:8443");
    EXPECT_EQ(d.api->path, "/scalelite/api");
    EXPECT_EQ(d.api->secret, "s3cret");
    EXPECT_EQ(d.api->digest, checksum_digest::sha512);
    EXPECT_EQ(d.describe(), "https://lb.example.com:8443/scalelite/api");  // never the secret
    EXPECT_TRUE(uses_tls(d));

    // The origin alone means Scalelite's own path; the call's URL is accepted too.
    const auto bare =
        load(with("discovery:\n  scalelite: {api_url: \"http://10.0.0.9\", "
                  "api_secret: x}\n"));
    ASSERT_TRUE(bare.ok()) << dump(bare);
    EXPECT_EQ(bare.config->discovery.scalelite->api->url(), "http://10.0.0.9/scalelite/api");
    EXPECT_EQ(bare.config->discovery.scalelite->api->digest, checksum_digest::sha256);
    EXPECT_FALSE(uses_tls(*bare.config->discovery.scalelite));
    const auto call =
        load(with("discovery:\n  scalelite: {api_url: "
                  "\"https://lb/sl/scalelite/api/getServers\", api_secret: x}\n"));
    ASSERT_TRUE(call.ok()) << dump(call);
    EXPECT_EQ(call.config->discovery.scalelite->api->path, "/sl/scalelite/api");

    expect_only(load(with("discovery:\n  scalelite: {api_url: \"https://lb\"}\n")),
                {"discovery.scalelite", 8, 14, "has api_url but no api_secret"});
    expect_only(load(with("discovery:\n  scalelite: {redis_url: \"redis://r\", api_url: "
                          "\"https://lb\", api_secret: x}\n")),
                {"discovery.scalelite", 8, 14, "has both redis_url and api_url"});
    expect_only(load(with("discovery:\n  scalelite: {redis_url: \"redis://r\", api_secret: x}\n")),
                {"discovery.scalelite", 8, 14, "without api_url"});
    expect_only(load(with("discovery:\n  scalelite:\n    api_url: \"ftp://lb\"\n"
                          "    api_secret: x\n")),
                {"discovery.scalelite.api_url", 9, 14, "ftp"});
    expect_only(load(with("discovery:\n  scalelite:\n    api_url: \"https://lb/api?x=1\"\n"
                          "    api_secret: x\n")),
                {"discovery.scalelite.api_url", 9, 14, "has a query"});
    expect_only(load(with("discovery:\n  scalelite:\n    api_url: \"https://lb/a b\"\n"
                          "    api_secret: x\n")),
                {"discovery.scalelite.api_url", 9, 14, "not plain segments"});
    expect_only(load(with("discovery:\n  scalelite:\n    api_url: \"https://lb\"\n"
                          "    api_secret: \"\"\n")),
                {"discovery.scalelite.api_secret", 10, 17, "is empty"});
    expect_only(load(with("discovery:\n  scalelite:\n    api_url: \"https://lb\"\n"
                          "    api_secret: x\n    api_checksum: md5\n")),
                {"discovery.scalelite.api_checksum", 11, 19, "not a checksum digest"});
}

}  // namespace
}  // namespace bcp::config
