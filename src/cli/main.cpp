// bbb-cluster-proxy: one binary, subcommands (DESIGN.md §1). Kept tiny: each command lives in its
// own file under src/cli/.
#include "cli/commands.hpp"

#include <CLI/CLI.hpp>

#include <iostream>

int main(int argc, char** argv) {
    CLI::App app{"bbb-cluster-proxy: one origin for the HTML5 client of every BigBlueButton node",
                 "bbb-cluster-proxy"};
    app.set_version_flag("--version", std::string("bbb-cluster-proxy ") + BCP_VERSION);
    app.require_subcommand(1);
    int exit_code = 0;
    bcp::cli::register_serve_commands(app, exit_code);
    bcp::cli::register_node_commands(app, exit_code);
    bcp::cli::register_nginx_config_command(app, exit_code);
    bcp::cli::register_demo_node_command(app, exit_code);
    bcp::cli::register_reload_command(app, exit_code);
    bcp::cli::register_cache_command(app, exit_code);
    bcp::cli::register_discovery_command(app, exit_code);
    app.add_subcommand("version", "Print the version")->callback([] {
        std::cout << "bbb-cluster-proxy " << BCP_VERSION << "\n";
    });
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        return app.exit(e);
    }
    return exit_code;
}
