#pragma once
// Child processes for the integration tests: the real binary (or any program) started with only
// stdio inherited. The test process's own sockets (fake nodes' listeners; asio does not set
// O_CLOEXEC) must not live on in the child, or a stopped node's port stays taken by the child.

#include <sys/types.h>

#include <filesystem>
#include <string>
#include <vector>

namespace bcp::test {

/// Starts `args[0]` with `args`. stdout and stderr go to the files `out` and `err` (created or
/// truncated) when given, else to this process's. `env` entries ("NAME=value") are added to this
/// process's environment, replacing a variable of the same name. Returns the pid, or -1.
pid_t spawn_child(const std::vector<std::string>& args, const std::filesystem::path& out = {},
                  const std::filesystem::path& err = {}, const std::vector<std::string>& env = {});

/// Waits for `pid`; its exit code, or -1 when a signal ended it.
int wait_child(pid_t pid);

struct child_result {
    int exit_code = -1;  ///< -1: not started, or ended by a signal
    std::string out;
    std::string err;
};

/// Runs `args` to completion with stdout and stderr captured in files under `dir`.
child_result run_child(const std::vector<std::string>& args, const std::filesystem::path& dir,
                       const std::vector<std::string>& env = {});

}  // namespace bcp::test
