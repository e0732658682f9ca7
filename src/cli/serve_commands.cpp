// serve, check and demo.
#include "admin/endpoints.hpp"
#include "admin/listener.hpp"
#include "cli/commands.hpp"
#include "cli/discovery_link.hpp"
#include "cli/reload_control.hpp"
#include "config/config.hpp"
#include "core/dir_watch.hpp"
#include "core/log.hpp"
#include "core/sd_notify.hpp"
#include "demo/fake_node.hpp"
#include "net/tls.hpp"
#include "proxy/server.hpp"

#include <fmt/format.h>
#include <boost/asio/signal_set.hpp>

#include <csignal>
#include <fstream>
#include <iostream>
#include <thread>

namespace bcp::cli {
namespace {

constexpr const char* default_config = "/etc/bbb-cluster-proxy/config.yaml";

void print_diagnostics(const config::load_result& r) {
    for (const auto& d : r.diagnostics) {
        std::cerr << d.to_string() << "\n";
    }
}

std::string endpoint_text(const tcp::endpoint& ep) {
    return ep.address().is_v6() ? fmt::format("[{}]:{}", ep.address().to_string(), ep.port())
                                : fmt::format("{}:{}", ep.address().to_string(), ep.port());
}

// SIGUSR1 (logrotate's postrotate): reopen the access log file, again and again.
void reopen_on_sigusr1(asio::signal_set& set, proxy::server& srv) {
    set.async_wait([&](const error_code& ec, int) {
        if (ec) {
            return;
        }
        if (auto* log = srv.access_log()) {
            log->reopen();
        }
        reopen_on_sigusr1(set, srv);
    });
}

// Keeps `watcher` on the nodes_dir of the configuration in effect (after start and after every
// reload: the directory may have changed, or come back after it was removed).
void watch_nodes_dir(dir_watcher& watcher, const proxy::server& srv) {
    const std::string dir = srv.current_config().nodes_dir;
    const std::string before = watcher.directory();
    std::string error;
    if (!watcher.watch(dir, error)) {
        log::get("proxy")->error("nodes_dir: {}; node files are read on SIGHUP only", error);
    } else if (!dir.empty() && dir != before) {
        log::get("proxy")->info("nodes_dir: watching {} for node files", dir);
    }
}

// Blocks until SIGINT or SIGTERM, then stops the server gracefully and waits for it. `notify`
// tells systemd (Type=notify) that the service is stopping. With `on_reload`, SIGHUP and changes
// in nodes_dir call it (on the signal thread, one reload at a time). `on_ready` runs once the
// signals are handled:
// announce the process (pid file, READY=1) only from there, so an early SIGHUP cannot hit the
// default action, which ends the process.
void serve_until_signal(proxy::server& srv, const sd::notifier& notify = sd::notifier(),
                        const std::function<void()>& on_reload = {},
                        const std::function<void()>& on_ready = {},
                        discovery_link* discovery = nullptr) {
    asio::io_context signals_ioc(1);
    asio::signal_set usr1(signals_ioc, SIGUSR1);
    reopen_on_sigusr1(usr1, srv);
    asio::signal_set signals(signals_ioc, SIGINT, SIGTERM);
    std::unique_ptr<dir_watcher> nodes_watch;
    const auto reload = [&] {
        on_reload();
        watch_nodes_dir(*nodes_watch, srv);
    };
    if (on_reload) {
        signals.add(SIGHUP);
        nodes_watch = std::make_unique<dir_watcher>(
            signals_ioc, dir_watcher::options{.relevant = config::is_node_file_name},
            [&](const std::string& what) {
                log::get("proxy")->info("nodes_dir: {}; reloading", what);
                reload();
            });
        watch_nodes_dir(*nodes_watch, srv);
    }
    std::function<void(const error_code&, int)> handle = [&](const error_code& ec, int sig) {
        if (ec) {
            return;
        }
        if (sig == SIGHUP) {
            reload();
            signals.async_wait(handle);
            return;
        }
        log::get("proxy")->info("signal {}: stopping gracefully", sig);
        notify.stopping(fmt::format("stopping (signal {})", sig));
        srv.stop();
    };
    signals.async_wait(handle);
    if (discovery != nullptr && on_reload) {
        // A change in Scalelite is a reload like SIGHUP, on this thread, one at a time.
        discovery->on_change([&] {
            asio::post(signals_ioc, [&] {
                log::get("discovery")->info("Scalelite's servers changed; reloading");
                reload();
            });
        });
    }
    if (on_ready) {
        on_ready();
    }
    std::thread waiter([&] { signals_ioc.run(); });
    srv.wait();
    if (discovery != nullptr) {
        discovery->stop();  // no more reload requests for the io_context that is about to go
    }
    usr1.cancel();
    signals_ioc.stop();
    waiter.join();
    nodes_watch.reset();
}

// The admin listener with the built-in endpoints, bound but not started; nullptr when the config
// has none, or on error (then `error` names the key).
std::unique_ptr<admin::listener> start_admin(const config::proxy_config& cfg, proxy::server& srv,
                                             std::string& error,
                                             const discovery_link* discovery = nullptr) {
    if (!cfg.admin) {
        return nullptr;
    }
    admin::listener_options o;
    o.host = cfg.admin->host;
    o.port = cfg.admin->port;
    if (!cfg.admin->token_file.empty()) {
        auto token = admin::read_token_file(cfg.admin->token_file, error);
        if (!token) {
            return nullptr;
        }
        o.token = std::move(*token);
    }
    auto l = admin::listener::create(o, error);
    if (!l) {
        return nullptr;
    }
    auto s = std::make_shared<admin::sources>();
    s->proxy = &srv;
    s->health = [&srv] { return srv.node_health(); };
    s->cache = [&srv] { return srv.cache_stats(); };
    s->purge_cache = [&srv](std::string_view node) { return srv.purge_cache(node); };
    if (discovery != nullptr) {
        s->discovery = [discovery]() -> std::optional<admin::discovery_view> {
            const auto st = discovery->state();
            if (!st) {
                return std::nullopt;
            }
            admin::discovery_view v;
            v.source = "scalelite";
            v.via = st->via;
            v.where = st->where;
            v.up = st->up;
            v.last_success = st->last_success;
            v.polls = st->polls;
            v.errors = st->errors;
            v.skipped = st->skipped.size();
            v.nodes = discovery->node_count();
            v.last_error = st->last_error;
            v.from_snapshot = st->from_snapshot;
            return v;
        };
    }
    admin::register_endpoints(*l, s);
    return l;
}

int run_serve(const std::string& path, const std::string& ready_file, const std::string& level,
              std::string pid_file) {
    // Read (and unset) $NOTIFY_SOCKET while this is the only thread.
    std::string notify_error;
    const auto notify = sd::notifier::from_environment(notify_error);
    if (!notify_error.empty()) {
        log::get("proxy")->warn("systemd notification disabled: {}", notify_error);
    }
    auto loaded = config::load_file(path);
    if (!loaded.ok()) {
        print_diagnostics(loaded);
        return 1;
    }
    // Nodes from a discovery source join the configured ones (its snapshot, until it answers).
    discovery_link discovery;
    discovery.amend(*loaded.config);
    const auto& cfg = *loaded.config;
    if (!log::set_level(level.empty() ? cfg.log_level : level)) {
        std::cerr << "unknown log level '" << level << "'\n";
        return 2;
    }
    std::string error;
    auto srv = proxy::server::create(cfg, error);
    if (!srv) {
        std::cerr << "bbb-cluster-proxy: " << error << "\n";
        return 1;
    }
    auto admin_listener = start_admin(cfg, *srv, error, &discovery);
    if (cfg.admin && !admin_listener) {
        std::cerr << "bbb-cluster-proxy: " << error << "\n";
        return 1;
    }
    srv->start();
    discovery.start();
    if (admin_listener) {
        admin_listener->start();
        log::get("admin")->info("admin listener on http://{}",
                                endpoint_text(admin_listener->endpoint()));
    }
    auto eps = srv->endpoints();
    std::string list;
    for (std::size_t i = 0; i < eps.size(); ++i) {
        const bool tls = cfg.listen[i].tls.has_value();
        log::get("proxy")->info("listening on {}://{} ({} workers, {} nodes)",
                                tls ? "https" : "http", endpoint_text(eps[i]), srv->worker_count(),
                                cfg.nodes.size());
        list += fmt::format("{}\"{}\"", i ? "," : "", endpoint_text(eps[i]));
    }
    if (pid_file.empty()) {
        pid_file = cfg.pid_file;
    }
    bool pid_written = false;
    const auto on_ready = [&] {
        if (!pid_file.empty()) {
            std::string pid_error;
            pid_written = write_pid_file(pid_file, pid_error);
            if (!pid_written) {
                log::get("proxy")->error("pid file: {}; `reload` will not find this process",
                                         pid_error);
            }
            publish_started(pid_file, *srv);
        }
        if (!ready_file.empty()) {
            // Written after every listener is bound, then renamed: a reader never sees half a
            // file.
            const std::string tmp = ready_file + ".tmp";
            std::string admin_field;
            if (admin_listener) {
                admin_field =
                    fmt::format(",\"admin\":\"{}\"", endpoint_text(admin_listener->endpoint()));
            }
            std::ofstream(tmp) << "{\"listen\":[" << list << "]" << admin_field << "}\n";
            std::rename(tmp.c_str(), ready_file.c_str());
        }
        std::string notify_send_error;
        std::string status = "listening on";
        for (const auto& ep : eps) {
            status += " " + endpoint_text(ep);
        }
        if (!notify.send(sd::ready_message(status), &notify_send_error)) {
            log::get("proxy")->warn("systemd notification failed: {}", notify_send_error);
        }
    };
    const auto on_reload = [&] {
        reload_from_file(*srv, path, level, pid_file, notify,
                         [&](config::proxy_config& next) { discovery.amend(next); });
    };
    serve_until_signal(*srv, notify, on_reload, on_ready, &discovery);
    if (!pid_file.empty()) {
        if (pid_written) {
            std::remove(pid_file.c_str());
        }
        std::remove(reload_status_path(pid_file).c_str());
    }
    if (admin_listener) {
        admin_listener->stop();
    }
    log::get("proxy")->info("stopped");
    return 0;
}

int run_check(const std::string& path) {
    auto loaded = config::load_file(path);
    if (!loaded.ok()) {
        print_diagnostics(loaded);
        std::cerr << path << ": " << loaded.diagnostics.size() << " error(s)\n";
        return 1;
    }
    // Loading the TLS material catches what YAML validation cannot: unreadable PEM, a key that
    // does not match its certificate.
    int errors = 0;
    for (const auto& l : loaded.config->listen) {
        if (l.tls) {
            auto r = net::make_server_context(l.tls->certificate, l.tls->private_key);
            if (!r.context) {
                std::cerr << fmt::format("{}:{}:{}: listen: {}\n", l.where.file, l.where.line,
                                         l.where.column, r.error);
                ++errors;
            }
        }
    }
    if (errors) {
        return 1;
    }
    const auto& d = loaded.config->discovery.scalelite;
    std::cout << fmt::format(
        "{}: OK ({} node(s), {} listener(s){})\n", path, loaded.config->nodes.size(),
        loaded.config->listen.size(),
        !d ? std::string()
           : fmt::format(", more nodes from Scalelite's {} at {}: `discovery test` reads it",
                         d->api ? "server API" : "Redis", d->describe()));
    return 0;
}

int run_demo(std::uint16_t port) {
    asio::io_context nodes_ioc(1);
    demo::node_options a;
    a.id = "bbb-01";
    demo::node_options b;
    b.id = "bbb-02";
    // One node of each generation, as in a cluster mid-upgrade: bbb-01 serves the BBB 3.0-like
    // static client, bbb-02 BBB 2.x's Meteor client, whose page POSTs a dynamic import to its
    // ROOT_URL (through the proxy when opened there).
    b.client = demo::client_kind::meteor;
    demo::fake_node node1(nodes_ioc, a);
    demo::fake_node node2(nodes_ioc, b);
    node1.start();
    node2.start();
    std::thread nodes_thread([&] { nodes_ioc.run(); });

    const std::string yaml = fmt::format(
        "public_url: \"http://127.0.0.1:{0}\"\n"
        "listen:\n  - address: \"127.0.0.1:{0}\"\n"
        "nodes:\n"
        "  - id: bbb-01\n    url: \"{1}\"\n"
        "  - id: bbb-02\n    url: \"{2}\"\n"
        "cache:\n  enabled: true\n"  // as operators run it: stored once, compressed once
        "workers: 2\n",
        port, node1.origin(), node2.origin());
    auto loaded = config::load_string(yaml, "<demo>");
    int rc = 0;
    std::string error;
    std::unique_ptr<proxy::server> srv;
    if (!loaded.ok()) {
        print_diagnostics(loaded);
        rc = 1;
    } else if (!(srv = proxy::server::create(*loaded.config, error))) {
        std::cerr << "bbb-cluster-proxy demo: " << error << "\n";
        rc = 1;
    }
    if (srv) {
        srv->start();
        const auto proxy_origin =
            fmt::format("http://127.0.0.1:{}", srv->endpoints().front().port());
        std::cout
            << "bbb-cluster-proxy demo: the proxy in front of two simulated BBB nodes\n\n"
            << "  bbb-01 runs the BBB 3.0 (static) client, bbb-02 the BBB 2.x (Meteor) client,\n"
            << "  whose page loads a module by POST (\"Lazy module\" shows the outcome).\n\n"
            << "  through the proxy (one origin, one permission prompt):\n"
            << "    bbb-01  " << proxy_origin << "/bbb-01/html5client/  (3.0, static)\n"
            << "    bbb-02  " << proxy_origin << "/bbb-02/html5client/  (2.x, Meteor)\n\n"
            << "  the nodes directly (each its own origin, asks again):\n"
            << "    bbb-01  " << node1.origin() << "/bbb-01/html5client/\n"
            << "    bbb-02  " << node2.origin() << "/bbb-02/html5client/\n\n"
            << "Open both proxy URLs, press \"Share microphone and camera\" on one, allow, then "
               "on the other: no second prompt.\nCtrl-C to stop.\n"
            << std::flush;
        serve_until_signal(*srv);
    }
    node1.stop();
    node2.stop();
    nodes_thread.join();
    return rc;
}

}  // namespace

void register_serve_commands(CLI::App& app, int& exit_code) {
    auto* serve = app.add_subcommand("serve", "Run the proxy");
    static std::string config_path = default_config;
    static std::string ready_file;
    static std::string level;
    static std::string pid_file;
    serve->add_option("-c,--config", config_path, "Configuration file")->capture_default_str();
    serve->add_option("--pid-file", pid_file,
                      "Write the process id here (overrides pid_file; `reload` reads it)");
    serve->add_option("--ready-file", ready_file,
                      "Write the bound addresses as JSON to this file once listening");
    serve->add_option("--log-level", level, "Override log_level (trace, debug, info, warn, error)");
    serve->callback(
        [&exit_code] { exit_code = run_serve(config_path, ready_file, level, pid_file); });

    auto* check = app.add_subcommand("check", "Validate a configuration file and exit");
    static std::string check_path = default_config;
    check->add_option("-c,--config", check_path, "Configuration file")->capture_default_str();
    check->callback([&exit_code] { exit_code = run_check(check_path); });

    auto* demo_cmd = app.add_subcommand("demo", "The proxy in front of two simulated BBB nodes");
    static std::uint16_t port = 8080;
    demo_cmd->add_option("-p,--port", port, "Proxy port on 127.0.0.1")->capture_default_str();
    demo_cmd->callback([&exit_code] { exit_code = run_demo(port); });
}

}  // namespace bcp::cli
