#pragma once
// Subcommand registration. main.cpp builds the CLI11 app and calls each register_* function; the
// callbacks store their process exit status in `exit_code`.

#include <CLI/CLI.hpp>

namespace bcp::cli {

void register_serve_commands(CLI::App& app, int& exit_code);        // serve, check, demo
void register_node_commands(CLI::App& app, int& exit_code);         // node plan|apply|check|revert
void register_nginx_config_command(CLI::App& app, int& exit_code);  // nginx-config
void register_demo_node_command(CLI::App& app, int& exit_code);     // demo-node
void register_reload_command(CLI::App& app, int& exit_code);        // reload
void register_cache_command(CLI::App& app, int& exit_code);         // cache purge
void register_discovery_command(CLI::App& app, int& exit_code);     // discovery test

}  // namespace bcp::cli
