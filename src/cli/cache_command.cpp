// cache purge: asks the running proxy, through its admin listener, to drop cached responses (all,
// or one node's after that node's BBB upgrade). The admin address and token come from the
// configuration file, or from --admin/--token-file.
#include "admin/listener.hpp"
#include "cli/commands.hpp"
#include "config/config.hpp"
#include "config/values.hpp"
#include "core/asio.hpp"

#include <fmt/format.h>
#include <boost/asio/connect.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <nlohmann/json.hpp>

#include <sys/socket.h>
#include <sys/time.h>

#include <iostream>

namespace bcp::cli {
namespace {

struct admin_target {
    std::string host;
    std::uint16_t port = 0;
    std::string token;
};

// Where to send the request: --admin wins, else the config file's admin section. Errors name the
// file, key or option and return false.
bool find_admin(const std::string& config_path, const std::string& admin_option,
                const std::string& token_option, admin_target& out) {
    std::string token_file = token_option;
    if (!admin_option.empty()) {
        const auto addr = config::parse_listen_address(admin_option);
        if (!addr.ok()) {
            std::cerr << "cache purge: --admin: " << addr.message << "\n";
            return false;
        }
        out.host = addr.value->host;
        out.port = addr.value->port;
    } else {
        auto loaded = config::load_file(config_path);
        if (!loaded.ok()) {
            for (const auto& d : loaded.diagnostics) {
                std::cerr << d.to_string() << "\n";
            }
            return false;
        }
        const auto& admin = loaded.config->admin;
        if (!admin) {
            std::cerr << "cache purge: " << config_path
                      << " has no admin section; the running proxy can only be reached through "
                         "its admin listener (add `admin: {address: \"127.0.0.1:9090\"}`, "
                         "restart, or pass --admin HOST:PORT)\n";
            return false;
        }
        if (admin->port == 0) {
            std::cerr << "cache purge: " << config_path << ": admin.address " << admin->address
                      << " has port 0 (any free port): pass the port the proxy logged, --admin "
                         "HOST:PORT\n";
            return false;
        }
        out.host = admin->host;
        out.port = admin->port;
        if (token_file.empty()) {
            token_file = admin->token_file;
        }
    }
    if (out.host == "0.0.0.0") {
        out.host = "127.0.0.1";  // a wildcard listener is reachable on loopback
    } else if (out.host == "::") {
        out.host = "::1";
    }
    if (!token_file.empty()) {
        std::string error;
        auto token = admin::read_token_file(token_file, error);
        if (!token) {
            std::cerr << "cache purge: " << error << "\n";
            return false;
        }
        out.token = std::move(*token);
    }
    return true;
}

int run_purge(const std::string& config_path, const std::string& node,
              const std::string& admin_option, const std::string& token_option, double timeout) {
    if (!node.empty() && !config::is_path_segment(node)) {
        std::cerr << "cache purge: --node: '" << node << "' is not a node id\n";
        return 2;
    }
    admin_target t;
    if (!find_admin(config_path, admin_option, token_option, t)) {
        return 1;
    }
    const std::string where = fmt::format(
        "{}:{}", t.host.find(':') != std::string::npos ? "[" + t.host + "]" : t.host, t.port);
    try {
        asio::io_context ioc;
        tcp::socket socket(ioc);
        const tcp::endpoint ep(asio::ip::make_address(t.host), t.port);
        // Blocking I/O with a deadline (on Linux SO_SNDTIMEO bounds connect() too): the admin
        // thread answers a purge in milliseconds, an unreachable address must not hang.
        socket.open(ep.protocol());
        timeval tv{};
        tv.tv_sec = static_cast<time_t>(timeout);
        tv.tv_usec = static_cast<suseconds_t>((timeout - static_cast<double>(tv.tv_sec)) * 1e6);
        ::setsockopt(socket.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        ::setsockopt(socket.native_handle(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
        socket.connect(ep);
        std::string request = "POST /cache/purge" + (node.empty() ? "" : "?node=" + node) +
                              " HTTP/1.1\r\nHost: " + where +
                              "\r\nContent-Length: 0\r\nConnection: close\r\n";
        if (!t.token.empty()) {
            request += "Authorization: Bearer " + t.token + "\r\n";
        }
        request += "\r\n";
        asio::write(socket, asio::buffer(request));
        boost::beast::flat_buffer buffer;
        boost::beast::http::response<boost::beast::http::string_body> res;
        boost::beast::http::read(socket, buffer, res);
        if (res.result_int() != 200) {
            std::cerr << "cache purge: the proxy at " << where << " answered " << res.result_int()
                      << ": " << res.body();
            if (res.result_int() == 404) {
                std::cerr << "(is this proxy older than `cache purge`?)\n";
            }
            return 1;
        }
        const auto j = nlohmann::json::parse(res.body());
        const auto purged = j.at("purged").get<std::uint64_t>();
        if (node.empty()) {
            std::cout << fmt::format("purged {} cached response{}\n", purged,
                                     purged == 1 ? "" : "s");
        } else {
            std::cout << fmt::format("purged {} cached response{} of node {}\n", purged,
                                     purged == 1 ? "" : "s", node);
        }
        return 0;
    } catch (const std::exception& e) {
        std::cerr << "cache purge: admin listener " << where << ": " << e.what() << "\n";
        return 1;
    }
}

}  // namespace

void register_cache_command(CLI::App& app, int& exit_code) {
    auto* cache = app.add_subcommand("cache", "Work with the running proxy's asset cache");
    cache->require_subcommand(1);
    auto* purge = cache->add_subcommand(
        "purge", "Drop cached responses: all, or one node's (after that node's BBB upgrade)");
    static std::string config_path = "/etc/bbb-cluster-proxy/config.yaml";
    static std::string node;
    static std::string admin_address;
    static std::string token_file;
    static double timeout = 10;
    purge->add_option("-c,--config", config_path, "Configuration file (names the admin listener)")
        ->capture_default_str();
    purge->add_option("--node", node, "Only this node's entries");
    purge->add_option("--admin", admin_address,
                      "Admin listener HOST:PORT (instead of the config's admin.address)");
    purge->add_option("--token-file", token_file,
                      "Bearer token file (instead of the config's admin.token_file)");
    purge->add_option("--timeout", timeout, "Seconds to wait for the proxy's answer")
        ->capture_default_str()
        ->check(CLI::Range(0.1, 600.0));
    purge->callback([&exit_code] {
        exit_code = run_purge(config_path, node, admin_address, token_file, timeout);
    });
}

}  // namespace bcp::cli
