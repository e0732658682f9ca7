// `discovery test`: reads the configuration's discovery source once and prints the node table it
// would add to the configured nodes, with the reason for every record it skips (issue 17). Read
// only: it writes no snapshot and does not touch a running proxy.
#include "cli/commands.hpp"
#include "cli/discovery_link.hpp"
#include "config/config.hpp"
#include "core/coroutine_warnings.hpp"
#include "discovery/api_source.hpp"
#include "discovery/poller.hpp"

#include <fmt/format.h>

#include <iostream>

namespace bcp::cli {
namespace {

int run_discovery_test(const std::string& config_path) {
    const auto loaded = config::load_file(config_path);
    if (!loaded.ok()) {
        for (const auto& d : loaded.diagnostics) {
            std::cerr << d.to_string() << "\n";
        }
        return 1;
    }
    const auto& cfg = *loaded.config;
    if (!cfg.discovery.scalelite) {
        std::cerr << config_path << ": no discovery section (discovery.scalelite) to test\n";
        return 2;
    }
    const auto& d = *cfg.discovery.scalelite;
    discovery::source_options o;
    std::string tls_error;
    const auto tls = cli::source_tls(cfg, o, tls_error);
    if (!tls_error.empty()) {
        std::cerr << d.describe() << ": " << tls_error << "\n";
        return 1;
    }
    asio::io_context io;
    discovery::source_error error;
    std::optional<discovery::derivation> found;
    asio::co_spawn(
        io,
        [&]() -> awaitable<void> {
            if (d.api) {
                found = co_await discovery::read_api(*d.api, o, d.ids, error);
                co_return;
            }
            auto c = co_await discovery::redis_connection::open(*d.redis, o, error);
            if (c) {
                found = co_await discovery::read_registry(*c, d.namespace_prefix, d.ids, error);
            }
        },
        asio::detached);
    io.run();
    if (d.api) {
        std::cout << "Scalelite's server API at " << d.describe() << "\n";
    } else {
        std::cout << "Scalelite at " << d.describe() << ", namespace " << d.namespace_prefix
                  << "\n";
    }
    if (!found) {
        std::cout << "  cannot read it: " << error.message << "\n";
        return 1;
    }
    std::cout << fmt::format("  {} node(s) served, {} record(s) skipped\n", found->nodes.size(),
                             found->skipped.size());
    for (const auto& n : found->nodes) {
        const bool shadowed = cfg.find_node(n.id) != nullptr;
        std::cout << fmt::format("  {:<20} {:<40} server {} ({}{}){}\n", n.id, n.url,
                                 n.scalelite_id, n.state.empty() ? "no state" : n.state,
                                 n.online ? ", online" : ", offline",
                                 shadowed ? "  [configured node of this id wins]" : "");
    }
    for (const auto& s : found->skipped) {
        std::cout << fmt::format("  skipped server {}: {}\n", s.scalelite_id, s.reason);
    }
    return 0;
}

}  // namespace

void register_discovery_command(CLI::App& app, int& exit_code) {
    auto* discovery = app.add_subcommand("discovery", "Work with the configured discovery source");
    discovery->require_subcommand(1);
    auto* test = discovery->add_subcommand(
        "test",
        "Read the discovery source once and print the nodes it would add, and why any "
        "record is skipped");
    static std::string config_path = "/etc/bbb-cluster-proxy/config.yaml";
    test->add_option("-c,--config", config_path, "Configuration file")->capture_default_str();
    test->callback([&exit_code] { exit_code = run_discovery_test(config_path); });
}

}  // namespace bcp::cli
