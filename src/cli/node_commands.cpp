// `node plan|apply|check|revert` and `nginx-config`: flag parsing only; the work is in
// src/nodeconf/ (commands.hpp, proxy_nginx.hpp).
#include "cli/commands.hpp"

#include "config/config.hpp"
#include "nodeconf/commands.hpp"
#include "nodeconf/proxy_nginx.hpp"

#include <iostream>
#include <memory>

namespace bcp::cli {
namespace {

struct node_flags {
    nodeconf::request request;
    std::string node_url;
    std::string node_id;
    std::string bbb_version;
    bool restart = false;
    bool live = false;

    nodeconf::request to_request() const {
        nodeconf::request r = request;
        if (!node_url.empty()) {
            r.node_url = node_url;
        }
        if (!node_id.empty()) {
            r.node_id = node_id;
        }
        if (!bbb_version.empty()) {
            r.bbb_version = bbb_version;
        }
        return r;
    }
};

void add_target_flags(CLI::App* sub, node_flags& f) {
    sub->add_option("--proxy-url", f.request.proxy_url,
                    "The proxy's public origin, e.g. https://bbb-proxy.example.com")
        ->required();
    sub->add_option(
        "--node-id", f.node_id,
        "This node's path segment on the proxy (default: first label of the node host)");
    sub->add_option("--node-url", f.node_url,
                    "This node's own origin (default: https://<this machine's FQDN>)");
    sub->add_option("--bbb-version", f.bbb_version,
                    "BBB version (2.4, 2.5, 2.6, 2.7, 3.0, 3.0.28 …); default: detected");
    sub->add_option("--root", f.request.root, "Treat DIR as / (fixture trees, image building)")
        ->default_val("/");
}

}  // namespace

void register_node_commands(CLI::App& app, int& exit_code) {
    auto* node = app.add_subcommand(
        "node", "Configure, check and revert this BigBlueButton node for the cluster proxy");
    node->require_subcommand(1);
    auto env = [] {
        return nodeconf::command_env{std::cout, std::cerr, nodeconf::dpkg_query, nullptr, {}};
    };

    auto plan_flags = std::make_shared<node_flags>();
    auto* plan = node->add_subcommand("plan", "Show the changes apply would make (writes nothing)");
    add_target_flags(plan, *plan_flags);
    plan->callback([plan_flags, &exit_code, env] {
        auto e = env();
        exit_code = nodeconf::run_plan(plan_flags->to_request(), e);
    });

    auto apply_flags = std::make_shared<node_flags>();
    auto* apply = node->add_subcommand("apply", "Configure the node (all or nothing, revertible)");
    add_target_flags(apply, *apply_flags);
    apply->add_flag("--restart", apply_flags->restart,
                    "Run systemctl daemon-reload and bbb-conf --restart afterwards (root / only)");
    apply->callback([apply_flags, &exit_code, env] {
        auto e = env();
        exit_code = nodeconf::run_apply(apply_flags->to_request(), apply_flags->restart, e);
    });

    auto check_flags = std::make_shared<node_flags>();
    auto* check = node->add_subcommand("check", "Check every item; exit 1 if one fails");
    add_target_flags(check, *check_flags);
    check->add_flag("--live", check_flags->live,
                    "Also probe over HTTPS: node page, proxy page, bbb-web CORS, compression, "
                    "Meteor's dynamic-import POST (2.x)");
    check->callback([check_flags, &exit_code, env] {
        auto e = env();
        exit_code = nodeconf::run_check(check_flags->to_request(), check_flags->live, e);
    });

    auto revert_root = std::make_shared<std::string>("/");
    auto* revert = node->add_subcommand("revert", "Restore every file the last applies changed");
    revert->add_option("--root", *revert_root, "Treat DIR as /")->default_val("/");
    revert->callback([revert_root, &exit_code, env] {
        auto e = env();
        exit_code = nodeconf::run_revert(*revert_root, e);
    });
}

void register_nginx_config_command(CLI::App& app, int& exit_code) {
    auto path = std::make_shared<std::string>("/etc/bbb-cluster-proxy/config.yaml");
    auto* cmd = app.add_subcommand(
        "nginx-config", "Print the proxy as an nginx configuration (for operators keeping nginx)");
    cmd->add_option("--config", *path, "The proxy's YAML configuration")->default_val(*path);
    cmd->callback([path, &exit_code] {
        const auto loaded = config::load_file(*path);
        if (!loaded.ok()) {
            for (const auto& d : loaded.diagnostics) {
                std::cerr << "error: " << d.to_string() << "\n";
            }
            exit_code = 2;
            return;
        }
        std::cout << nodeconf::proxy_nginx_config(*loaded.config);
        exit_code = 0;
    });
}

}  // namespace bcp::cli
