// The real nginx is the judge of syntax: the node's snippets after apply, loaded the way each
// BBB version's site loads them, and the output of `nginx-config`, must pass `nginx -t`.
#include "tree.hpp"

#include "config/config.hpp"
#include "nodeconf/nginx_conf.hpp"
#include "nodeconf/proxy_nginx.hpp"

#include <gtest/gtest.h>

#include <cstdio>
#include <functional>

using namespace nodeconf_test;
namespace nc = bcp::nodeconf;

namespace {

constexpr const char* nginx_binary = "/usr/sbin/nginx";

struct command_result {
    int status = -1;
    std::string output;
};

command_result shell(const std::string& cmd) {
    command_result r;
    FILE* p = ::popen((cmd + " 2>&1").c_str(), "r");
    if (p == nullptr) {
        return r;
    }
    char buf[512];
    while (std::fgets(buf, sizeof buf, p) != nullptr) {
        r.output += buf;
    }
    r.status = ::pclose(p);
    return r;
}

// nginx -t on a wrapper whose http block holds `http_body`; everything lives in `dir`.
command_result nginx_test(const fs::path& dir, const std::string& http_body) {
    const std::string conf = "pid " + (dir / "nginx.pid").string() +
                             ";\nerror_log stderr;\nevents { worker_connections 64; }\nhttp {\n"
                             "    access_log off;\n    client_body_temp_path " +
                             (dir / "body").string() + ";\n    proxy_temp_path " +
                             (dir / "proxy").string() + ";\n" + http_body + "}\n";
    write(dir / "nginx.conf", conf);
    return shell(std::string(nginx_binary) + " -t -p " + dir.string() + " -e stderr -c " +
                 (dir / "nginx.conf").string());
}

// Absolute BBB paths in the snippets point into the fixture tree instead of the real /.
void relocate(const fs::path& root) {
    for (const auto& dir : {root / "etc/bigbluebutton/nginx", root / "usr/share/bigbluebutton"}) {
        if (!fs::exists(dir)) {
            continue;
        }
        for (const auto& e : fs::recursive_directory_iterator(dir)) {
            if (!e.is_regular_file() || fs::is_symlink(e.symlink_status())) {
                continue;
            }
            std::string text = read(e.path());
            for (const std::string from :
                 {"include /usr/share/bigbluebutton/", "include /etc/bigbluebutton/"}) {
                const std::string to = "include " + root.string() + from.substr(8);
                for (auto at = text.find(from); at != std::string::npos;
                     at = text.find(from, at + to.size())) {
                    text.replace(at, from.size(), to);
                }
            }
            write(e.path(), text);
        }
    }
}

// Every file nginx loads from `patterns`, following includes.
std::vector<fs::path> loaded_files(const std::vector<std::string>& patterns) {
    std::vector<fs::path> out;
    std::function<void(const std::string&)> visit = [&](const std::string& pattern) {
        std::vector<fs::path> matches;
        const auto star = pattern.find('*');
        if (star == std::string::npos) {
            matches.emplace_back(pattern);
        } else {
            const fs::path dir = fs::path(pattern).parent_path();
            const std::string suffix = pattern.substr(star + 1);
            for (const auto& e : fs::directory_iterator(dir)) {
                const auto name = e.path().string();
                if (name.size() > suffix.size() &&
                    name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0) {
                    matches.push_back(e.path());
                }
            }
            std::sort(matches.begin(), matches.end());
        }
        for (const auto& m : matches) {
            out.push_back(m);
            auto inc = nc::nginx::includes(read(m));
            ASSERT_TRUE(inc.ok()) << m;
            for (const auto& i : *inc) {
                visit(i);
            }
        }
    };
    for (const auto& p : patterns) {
        visit(p);
    }
    return out;
}

}  // namespace

class NodeNginx : public ::testing::TestWithParam<std::string> {};

TEST_P(NodeNginx, AppliedSnippetsPassNginxTestWithEveryHtml5LocationPrefixed) {
    if (!fs::exists(nginx_binary)) {
        GTEST_SKIP() << nginx_binary << " missing";
    }
    temp_dir tmp;
    const fs::path root = tmp.path() / "root";
    copy_fixture(GetParam(), root);
    auto req = make_request(root);
    ASSERT_EQ(apply(req).code, 0);
    relocate(root);

    // How each version's site file includes the snippets (BBB-NODES.md, "site includes").
    std::vector<std::string> includes;
    if (GetParam() == "2.5") {
        includes.push_back((root / "usr/share/bigbluebutton/nginx/*.nginx").string());
    }
    includes.push_back((root / "etc/bigbluebutton/nginx/*.nginx").string());
    std::string site = "    proxy_cache_path " + (tmp.path() / "cache").string() +
                       " keys_zone=html5cache:1m;\n"
                       "    upstream poolhtml5servers { server 127.0.0.1:4100; }\n"
                       "    server {\n        listen 127.0.0.1:18080;\n";
    for (const auto& i : includes) {
        site += "        include " + i + ";\n";
    }
    site += "    }\n";
    const auto r = nginx_test(tmp.path(), site);
    EXPECT_EQ(r.status, 0) << r.output;

    int named = 0;
    int prefixed = 0;
    for (const auto& file : loaded_files(includes)) {
        auto locs = nc::nginx::locations(read(file));
        ASSERT_TRUE(locs.ok()) << file;
        for (const auto& l : *locs) {
            if (l.form == nc::nginx::location_form::named) {
                EXPECT_EQ(l.path, "@html5client") << file;
                ++named;
                continue;
            }
            if (l.path.find("html5client") == std::string::npos) {
                continue;
            }
            const bool redirect = l.path == "/html5client/locale";
            const bool ok = redirect || l.path.rfind("/bbb-01/html5client", 0) == 0 ||
                            l.path.rfind("^/bbb-01/html5client", 0) == 0 ||
                            l.path.rfind("(?i)^/bbb-01/html5client", 0) == 0;
            EXPECT_TRUE(ok) << file << ":" << l.line << " " << l.path;
            prefixed += redirect ? 0 : 1;
        }
    }
    EXPECT_EQ(named, GetParam() == "3.0" ? 0 : 1);  // 3.0's static client has no @html5client
    EXPECT_GE(prefixed, 3);
}

INSTANTIATE_TEST_SUITE_P(Versions, NodeNginx, ::testing::Values("2.4", "2.5", "2.6", "2.7", "3.0"),
                         [](const auto& info) {
                             std::string n = "v" + info.param;
                             n.erase(std::remove(n.begin(), n.end(), '.'), n.end());
                             return n;
                         });

TEST(NodeNginx, UntouchedFixturesPassNginxTestToo) {
    // Guards the fixtures themselves: they must be valid nginx before we edit them.
    if (!fs::exists(nginx_binary)) {
        GTEST_SKIP() << nginx_binary << " missing";
    }
    temp_dir tmp;
    const fs::path root = tmp.path() / "root";
    copy_fixture("2.7", root);
    // The symlink points at the real /; make it a relocated file for this check.
    fs::remove(root / "etc/bigbluebutton/nginx/include_default.nginx");
    fs::copy_file(root / "usr/share/bigbluebutton/include_default.nginx",
                  root / "etc/bigbluebutton/nginx/include_default.nginx");
    relocate(root);
    const auto r = nginx_test(
        tmp.path(), "    proxy_cache_path " + (tmp.path() / "cache").string() +
                        " keys_zone=html5cache:1m;\n    upstream poolhtml5servers { server "
                        "127.0.0.1:4100; }\n    server {\n        listen 127.0.0.1:18080;\n"
                        "        include " +
                        (root / "etc/bigbluebutton/nginx/*.nginx").string() + ";\n    }\n");
    EXPECT_EQ(r.status, 0) << r.output;
}

namespace {

bcp::config::proxy_config sample_config(const fs::path& dir) {
    bcp::config::proxy_config cfg;
    cfg.source = "proxy.yaml";
    cfg.public_url = "https://bbb-proxy.example.com";
    cfg.public_origin = *bcp::parse_origin(cfg.public_url).value;
    bcp::config::listener tls;
    tls.address = "127.0.0.1:18443";
    tls.host = "127.0.0.1";
    tls.port = 18443;
    tls.tls = bcp::config::tls_files{(dir / "cert.pem").string(), (dir / "key.pem").string()};
    bcp::config::listener plain;
    plain.address = "[::1]:18081";
    plain.host = "::1";
    plain.port = 18081;
    cfg.listen = {tls, plain};
    auto node = [](std::string id, std::string url, std::vector<std::string> mounts) {
        bcp::config::node n;
        n.id = std::move(id);
        n.url = std::move(url);
        n.upstream = *bcp::parse_origin(n.url).value;
        n.mounts = std::move(mounts);
        return n;
    };
    cfg.nodes = {node("bbb-01", "https://127.0.0.1:8443", {"html5client"}),
                 node("bbb-02", "https://localhost:9443", {"html5client", "learning-dashboard"})};
    return cfg;
}

}  // namespace

TEST(ProxyNginxConfig, HasOneExactPrefixLocationPerNodeAndMount) {
    temp_dir tmp;
    const std::string text = nc::proxy_nginx_config(sample_config(tmp.path()));
    EXPECT_NE(text.find("    location /bbb-01/html5client/ {\n"), std::string::npos);
    EXPECT_NE(text.find("    location /bbb-02/learning-dashboard/ {\n"), std::string::npos);
    EXPECT_EQ(text.find("location ~"), std::string::npos);
    EXPECT_NE(text.find("upstream bcp_node_bbb-02 {\n    server localhost:9443;\n    keepalive"),
              std::string::npos);
    EXPECT_NE(text.find("proxy_ssl_verify on;"), std::string::npos);
    EXPECT_NE(text.find("proxy_ssl_server_name on;"), std::string::npos);
    EXPECT_NE(text.find("proxy_ssl_trusted_certificate /etc/ssl/certs/ca-certificates.crt;"),
              std::string::npos);
    EXPECT_NE(text.find("map $http_upgrade $connection_upgrade"), std::string::npos);
    EXPECT_NE(text.find("proxy_set_header X-Forwarded-For"), std::string::npos);
    EXPECT_NE(text.find("location / {\n        return 404;"), std::string::npos);
    EXPECT_NE(text.find("listen [::1]:18081;"), std::string::npos);
}

TEST(ProxyNginxConfig, UsesTheConfiguredCaFile) {
    temp_dir tmp;
    auto cfg = sample_config(tmp.path());
    cfg.upstream.ca_file = "/etc/bbb-cluster-proxy/nodes-ca.pem";
    EXPECT_NE(nc::proxy_nginx_config(cfg).find(
                  "proxy_ssl_trusted_certificate /etc/bbb-cluster-proxy/nodes-ca.pem;"),
              std::string::npos);
}

TEST(ProxyNginxConfig, PassesNginxTest) {
    if (!fs::exists(nginx_binary)) {
        GTEST_SKIP() << nginx_binary << " missing";
    }
    temp_dir tmp;
    const auto cert = shell(
        "openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=bbb-proxy.example.com "
        "-keyout " +
        (tmp.path() / "key.pem").string() + " -out " + (tmp.path() / "cert.pem").string());
    ASSERT_EQ(cert.status, 0) << cert.output;
    write(tmp.path() / "proxy.conf", nc::proxy_nginx_config(sample_config(tmp.path())));
    const auto r =
        nginx_test(tmp.path(), "    include " + (tmp.path() / "proxy.conf").string() + ";\n");
    EXPECT_EQ(r.status, 0) << r.output;
}

TEST(ProxyNginxConfig, ReadsTheSameYamlAsServe) {
    // The shipped example, through the real loader (file checks off: its certificates are not
    // here).
    const std::string yaml = read(fs::path(BCP_SOURCE_DIR) / "examples/config.yaml");
    const auto loaded = bcp::config::load_string(yaml, "config.yaml", ".", false);
    ASSERT_TRUE(loaded.ok()) << (loaded.diagnostics.empty() ? ""
                                                            : loaded.diagnostics[0].to_string());
    const std::string text = nc::proxy_nginx_config(*loaded.config);
    EXPECT_NE(text.find("location /bbb-01/html5client/ {"), std::string::npos) << text;
    EXPECT_NE(text.find("location /bbb-02/html5client/ {"), std::string::npos);
    EXPECT_NE(text.find("server bbb-02.example.com:443;"), std::string::npos);
    // tls/fullchain.pem, resolved against the directory of the file.
    EXPECT_NE(text.find("/tls/fullchain.pem;"), std::string::npos) << text;
    EXPECT_NE(text.find("server_name bbb-proxy.example.com;"), std::string::npos);
}
