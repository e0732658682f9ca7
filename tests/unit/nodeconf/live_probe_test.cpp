// `node check --live` against a local fake HTTPS server (a node and a proxy on 127.0.0.1 with a
// throw-away certificate): cheap, deterministic, no network.
#include "tree.hpp"

#include "core/asio.hpp"
#include "core/coroutine_warnings.hpp"
#include "nodeconf/live_probe.hpp"

#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

#include <gtest/gtest.h>

#include <functional>
#include <mutex>
#include <thread>

using namespace nodeconf_test;
namespace nc = bcp::nodeconf;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = boost::asio::ssl;

namespace {

using handler =
    std::function<http::response<http::string_body>(const http::request<http::string_body>&)>;

// One-thread HTTPS server answering each request with `respond`.
class fake_https {
  public:
    fake_https(const fs::path& cert, const fs::path& key, handler respond)
        : respond_(std::move(respond)) {
        tls_.use_certificate_chain_file(cert.string());
        tls_.use_private_key_file(key.string(), ssl::context::pem);
        const bcp::tcp::endpoint ep(bcp::asio::ip::make_address("127.0.0.1"), 0);
        acceptor_.open(ep.protocol());
        acceptor_.bind(ep);
        acceptor_.listen();
        bcp::asio::co_spawn(io_, accept_loop(), bcp::asio::detached);
        thread_ = std::thread([this] { io_.run(); });
    }
    ~fake_https() {
        io_.stop();
        thread_.join();
    }
    std::uint16_t port() const { return acceptor_.local_endpoint().port(); }

  private:
    bcp::awaitable<void> accept_loop() {
        for (;;) {
            auto [ec, socket] = co_await acceptor_.async_accept(bcp::use_nothrow);
            if (ec) {
                co_return;
            }
            bcp::asio::co_spawn(io_, serve(std::move(socket)), bcp::asio::detached);
        }
    }
    bcp::awaitable<void> serve(bcp::tcp::socket socket) {
        beast::ssl_stream<beast::tcp_stream> stream(std::move(socket), tls_);
        auto [hec] = co_await stream.async_handshake(ssl::stream_base::server, bcp::use_nothrow);
        if (hec) {
            co_return;
        }
        beast::flat_buffer buffer;
        http::request<http::string_body> req;
        auto [rec, rn] = co_await http::async_read(stream, buffer, req, bcp::use_nothrow);
        (void)rn;
        if (rec) {
            co_return;
        }
        auto res = respond_(req);
        res.keep_alive(false);
        res.prepare_payload();
        auto [wec, wn] = co_await http::async_write(stream, res, bcp::use_nothrow);
        (void)wec;
        (void)wn;
    }

    handler respond_;
    bcp::asio::io_context io_;
    ssl::context tls_{ssl::context::tls_server};
    bcp::tcp::acceptor acceptor_{io_};
    std::thread thread_;
};

http::response<http::string_body> bbb_node(const http::request<http::string_body>& req, bool cors,
                                           bool compress = true) {
    http::response<http::string_body> res{http::status::not_found, 11};
    const std::string target(req.target());
    if (target == "/bbb-01/html5client/") {
        res.result(http::status::ok);
        res.body() =
            "<html><head><base href=\"/bbb-01/html5client/\">"
            "<script src=\"https://cdn.example/x.js\"></script>"
            "<script src=\"./app.4f2e.js?v=31\"></script></head></html>";
    } else if (target == "/bbb-01/html5client/app.4f2e.js?v=31") {
        res.result(http::status::ok);
        res.body() = std::string(4000, 'x');
        // What a browser gets from a proxy that compresses (the body stays fake).
        if (compress && req[http::field::accept_encoding].find("br") != std::string::npos) {
            res.set(http::field::content_encoding, "br");
        }
    } else if (target == "/bigbluebutton/api") {
        res.result(http::status::ok);
        res.body() = "<response><returncode>SUCCESS</returncode></response>";
        if (cors && req[http::field::origin] != "") {
            res.set(http::field::access_control_allow_origin, req[http::field::origin]);
        }
    }
    return res;
}

struct certificate {
    temp_dir dir;
    fs::path cert = dir.path() / "cert.pem";
    fs::path key = dir.path() / "key.pem";
    bool ok = false;
    certificate() {
        const std::string cmd =
            "openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=127.0.0.1 -addext "
            "subjectAltName=IP:127.0.0.1 -keyout " +
            key.string() + " -out " + cert.string() + " >/dev/null 2>&1";
        ok = std::system(cmd.c_str()) == 0;
    }
};

nc::settings probe_settings(std::uint16_t node_port, std::uint16_t proxy_port) {
    nc::settings s;
    s.node = *bcp::parse_origin("https://127.0.0.1:" + std::to_string(node_port)).value;
    s.proxy = *bcp::parse_origin("https://127.0.0.1:" + std::to_string(proxy_port)).value;
    s.node_id = "bbb-01";
    return s;
}

}  // namespace

TEST(LiveProbe, PassesAgainstAWorkingNodeAndProxy) {
    certificate c;
    ASSERT_TRUE(c.ok);
    fake_https node(c.cert, c.key, [](const auto& req) { return bbb_node(req, true); });
    fake_https proxy(c.cert, c.key, [](const auto& req) { return bbb_node(req, true); });
    const auto results = nc::live_probe(probe_settings(node.port(), proxy.port()),
                                        std::chrono::seconds(5), c.cert.string());
    ASSERT_EQ(results.size(), 5u);
    for (const auto& r : results) {
        EXPECT_TRUE(r.ok) << r.name << ": " << r.detail;
    }
    EXPECT_NE(results[2].name.find("/bbb-01/html5client/app.4f2e.js?v=31"), std::string::npos)
        << results[2].name;
    EXPECT_NE(results[2].detail.find("Content-Encoding: br"), std::string::npos);
    // No version known and no __meteor_runtime_config__ in the page: not a Meteor client.
    EXPECT_TRUE(results[4].skipped) << results[4].detail;
    EXPECT_NE(results[4].detail.find("not Meteor's"), std::string::npos) << results[4].detail;
}

TEST(LiveProbe, ReportsAProxyThatSendsTheClientUncompressed) {
    certificate c;
    ASSERT_TRUE(c.ok);
    fake_https node(c.cert, c.key, [](const auto& req) { return bbb_node(req, true); });
    fake_https proxy(c.cert, c.key, [](const auto& req) { return bbb_node(req, true, false); });
    const auto results = nc::live_probe(probe_settings(node.port(), proxy.port()),
                                        std::chrono::seconds(5), c.cert.string());
    ASSERT_EQ(results.size(), 5u);
    EXPECT_TRUE(results[1].ok) << results[1].detail;
    EXPECT_FALSE(results[2].ok);
    EXPECT_NE(results[2].detail.find("no Content-Encoding"), std::string::npos)
        << results[2].detail;
    EXPECT_NE(results[2].fix.find("cache.enabled"), std::string::npos);
    EXPECT_TRUE(results[3].ok) << results[3].detail;
}

TEST(LiveProbe, FailsWithoutCorsAndWithAnUnknownCertificate) {
    certificate c;
    ASSERT_TRUE(c.ok);
    fake_https node(c.cert, c.key, [](const auto& req) { return bbb_node(req, false); });
    fake_https proxy(c.cert, c.key, [](const auto& req) {
        http::response<http::string_body> res{http::status::not_found, 11};
        (void)req;
        return res;
    });
    const auto results = nc::live_probe(probe_settings(node.port(), proxy.port()),
                                        std::chrono::seconds(5), c.cert.string());
    ASSERT_EQ(results.size(), 5u);
    EXPECT_TRUE(results[0].ok) << results[0].detail;
    EXPECT_FALSE(results[1].ok);
    EXPECT_NE(results[1].detail.find("404"), std::string::npos);
    EXPECT_FALSE(results[2].ok);  // the page did not come: its asset is the page itself, 404
    EXPECT_FALSE(results[3].ok);
    EXPECT_NE(results[3].detail.find("no Access-Control-Allow-Origin"), std::string::npos);

    // The system trust store does not know the throw-away CA: the TLS handshake must fail.
    const auto untrusted = nc::https_get(probe_settings(node.port(), proxy.port()).node,
                                         "/bbb-01/html5client/", {}, std::chrono::seconds(5));
    EXPECT_FALSE(untrusted.ok());
}

// --- probe 5: the Meteor dynamic import (BBB 2.x) -----------------------------------------------

namespace {

constexpr auto import_target = "/bbb-01/html5client/__meteor__/dynamic-import/fetch";

nc::bbb_version bbb(int major, int minor) {
    return {major, minor, std::nullopt, std::to_string(major) + "." + std::to_string(minor)};
}

// The POSTs a fake server received (it answers on its own thread).
struct post_log {
    struct entry {
        std::string target, content_type, content_length, body;
    };
    std::mutex mutex;
    std::vector<entry> posts;

    void record(const http::request<http::string_body>& req) {
        const std::lock_guard lock(mutex);
        posts.push_back({std::string(req.target()), std::string(req[http::field::content_type]),
                         std::string(req[http::field::content_length]), req.body()});
    }
    std::vector<entry> taken() {
        const std::lock_guard lock(mutex);
        return posts;
    }
};

// A BBB 2.x node (or a proxy in front of one): bbb_node() plus a Meteor page and the dynamic-import
// endpoint, which answers POSTs with `import_status` (and an empty tree on 200).
http::response<http::string_body> meteor_node(const http::request<http::string_body>& req,
                                              post_log& log, bool meteor_page = true,
                                              http::status import_status = http::status::ok) {
    if (req.method() == http::verb::post) {
        log.record(req);
        http::response<http::string_body> res{http::status::not_found, 11};
        if (req.target() == import_target) {
            res.result(import_status);
            res.set(http::field::content_type, "application/json");
            res.body() = import_status == http::status::ok ? "{}" : "";
        }
        return res;
    }
    auto res = bbb_node(req, true);
    if (meteor_page && req.target() == "/bbb-01/html5client/") {
        res.body() +=
            "<script>__meteor_runtime_config__={\"ROOT_URL_PATH_PREFIX\":\"/bbb-01/html5client\"}"
            "</script>";
    }
    return res;
}

}  // namespace

TEST(LiveProbe, TellsAMeteorClientByVersionThenByPage) {
    const std::string meteor_page = "<script>__meteor_runtime_config__={}</script>";
    EXPECT_TRUE(nc::meteor_client(bbb(2, 7), ""));
    EXPECT_TRUE(nc::meteor_client(bbb(2, 4), "<html></html>"));  // the version decides
    EXPECT_FALSE(nc::meteor_client(bbb(3, 0), meteor_page));
    EXPECT_TRUE(nc::meteor_client({}, meteor_page));  // unknown version: the page decides
    EXPECT_FALSE(nc::meteor_client({}, "<html></html>"));
    EXPECT_FALSE(nc::meteor_client({}, ""));
}

TEST(LiveProbe, JudgesTheDynamicImportAnswer) {
    const auto judge = [](int status) {
        return nc::judge_dynamic_import(nc::http_response{status, {}, "{}"}, import_target);
    };
    const auto ok = judge(200);
    EXPECT_TRUE(ok.ok);
    EXPECT_FALSE(ok.skipped);
    EXPECT_NE(ok.name.find(import_target), std::string::npos) << ok.name;
    EXPECT_EQ(ok.detail, "HTTP 200 (2 bytes)");
    EXPECT_TRUE(judge(204).ok);

    const auto refused = judge(405);
    EXPECT_FALSE(refused.ok);
    EXPECT_NE(refused.detail.find("405"), std::string::npos) << refused.detail;
    EXPECT_NE(refused.fix.find("the proxy refuses POST there: add __meteor__/dynamic-import/fetch "
                               "to post.paths (docs/config-reference.md \"post\")"),
              std::string::npos)
        << refused.fix;

    for (const int status : {301, 400, 404, 411, 413, 415, 500, 502}) {
        const auto r = judge(status);
        EXPECT_FALSE(r.ok) << status;
        EXPECT_NE(r.detail.find(std::to_string(status)), std::string::npos) << r.detail;
        EXPECT_FALSE(r.fix.empty()) << status;
        EXPECT_EQ(r.fix.find("add __meteor__"), std::string::npos) << status << ": " << r.fix;
    }
    EXPECT_NE(judge(415).detail.find("Unsupported Media Type"), std::string::npos);
    EXPECT_NE(judge(413).fix.find("post.max_body_size"), std::string::npos);

    const auto down = nc::judge_dynamic_import(
        nc::problem{{}, 0, "https://proxy/x: connect: Connection refused"}, import_target);
    EXPECT_FALSE(down.ok);
    EXPECT_NE(down.detail.find("Connection refused"), std::string::npos) << down.detail;
}

TEST(LiveProbe, PostsTheDynamicImportOfAMeteorClientThroughTheProxy) {
    certificate c;
    ASSERT_TRUE(c.ok);
    post_log node_log, proxy_log;
    fake_https node(c.cert, c.key, [&](const auto& req) { return meteor_node(req, node_log); });
    fake_https proxy(c.cert, c.key, [&](const auto& req) { return meteor_node(req, proxy_log); });
    const auto results = nc::live_probe(probe_settings(node.port(), proxy.port()),
                                        std::chrono::seconds(5), c.cert.string());
    ASSERT_EQ(results.size(), 5u);
    for (const auto& r : results) {
        EXPECT_TRUE(r.ok) << r.name << ": " << r.detail;
    }
    EXPECT_FALSE(results[4].skipped);
    EXPECT_EQ(results[4].detail, "HTTP 200 (2 bytes)");
    // What Meteor's client sends, to the proxy only.
    const auto posts = proxy_log.taken();
    ASSERT_EQ(posts.size(), 1u);
    EXPECT_EQ(posts[0].target, import_target);
    EXPECT_EQ(posts[0].content_type, "text/plain;charset=UTF-8");
    EXPECT_EQ(posts[0].content_length, "2");
    EXPECT_EQ(posts[0].body, "{}");
    EXPECT_TRUE(node_log.taken().empty());
}

TEST(LiveProbe, NamesTheFixWhenTheProxyRefusesTheDynamicImport) {
    certificate c;
    ASSERT_TRUE(c.ok);
    post_log node_log, proxy_log;
    fake_https node(c.cert, c.key, [&](const auto& req) { return meteor_node(req, node_log); });
    // A proxy without __meteor__/dynamic-import/fetch in post.paths; the page is not Meteor's, so
    // only the version (2.7) says this is a Meteor client.
    fake_https proxy(c.cert, c.key, [&](const auto& req) {
        return meteor_node(req, proxy_log, false, http::status::method_not_allowed);
    });
    auto s = probe_settings(node.port(), proxy.port());
    s.version.version = bbb(2, 7);
    auto node_page =
        nc::https_get(s.node, "/bbb-01/html5client/", {}, std::chrono::seconds(5), c.cert.string());
    ASSERT_TRUE(node_page.ok());
    // The node's page is Meteor's and the proxy's is not: probe 2 fails, probe 5 still runs.
    const auto results = nc::live_probe(s, std::chrono::seconds(5), c.cert.string());
    ASSERT_EQ(results.size(), 5u);
    EXPECT_FALSE(results[4].ok);
    EXPECT_FALSE(results[4].skipped);
    EXPECT_NE(results[4].detail.find("HTTP 405"), std::string::npos) << results[4].detail;
    EXPECT_NE(results[4].fix.find("add __meteor__/dynamic-import/fetch to post.paths"),
              std::string::npos)
        << results[4].fix;
    EXPECT_EQ(proxy_log.taken().size(), 1u);
}

TEST(LiveProbe, SkipsTheDynamicImportOnBbb30) {
    certificate c;
    ASSERT_TRUE(c.ok);
    post_log node_log, proxy_log;
    // Even a page that looks like Meteor's: the detected version wins.
    fake_https node(c.cert, c.key, [&](const auto& req) { return meteor_node(req, node_log); });
    fake_https proxy(c.cert, c.key, [&](const auto& req) { return meteor_node(req, proxy_log); });
    auto s = probe_settings(node.port(), proxy.port());
    s.version.version = bbb(3, 0);
    const auto results = nc::live_probe(s, std::chrono::seconds(5), c.cert.string());
    ASSERT_EQ(results.size(), 5u);
    EXPECT_TRUE(results[4].ok);
    EXPECT_TRUE(results[4].skipped);
    EXPECT_NE(results[4].detail.find("skipped: BBB 3.0 has no Meteor client"), std::string::npos)
        << results[4].detail;
    EXPECT_TRUE(proxy_log.taken().empty());
    EXPECT_TRUE(node_log.taken().empty());
}
