#pragma once
// The `node plan|apply|check|revert` commands as library functions (the CLI only parses flags
// and calls these), so tests run them on fixture trees with captured output.
// Exit codes: 0 success, 1 `check` found a failing item, 2 bad input or a failed write.

#include "nodeconf/pipeline.hpp"
#include "nodeconf/transaction.hpp"

#include <functional>
#include <iosfwd>
#include <string>
#include <vector>

namespace bcp::nodeconf {

struct command_env {
    std::ostream& out;
    std::ostream& err;
    package_query query = dpkg_query;
    file_ops* ops = nullptr;  ///< null: the real file operations
    /// Runs a system command (systemctl daemon-reload, bbb-conf --restart); returns its status.
    std::function<int(const std::vector<std::string>&)> run;
};

int run_plan(const request& r, command_env& env);
int run_apply(const request& r, bool restart, command_env& env);
int run_check(const request& r, bool live, command_env& env);
int run_revert(const std::string& root, command_env& env);

/// The `node apply …` command line that reproduces `r` (shown by check as the fix).
std::string apply_command_line(const request& r, const settings& s);

/// Runs argv without a shell, waits, returns the exit status (127 if it cannot start).
int run_process(const std::vector<std::string>& argv);

}  // namespace bcp::nodeconf
