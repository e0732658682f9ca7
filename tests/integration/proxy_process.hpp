#pragma once
// The real bbb-cluster-proxy binary as a child process (`serve --config F --ready-file R`), for
// tests that need its own pid: signals (SIGTERM), exit status, and /proc figures (open fds, RSS)
// that the test process itself would otherwise blur.

#include "support/test_ca.hpp"

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <string>

namespace bcp::test {

class proxy_process {
  public:
    /// Writes `yaml` to a temporary config and starts the binary; ok() once it wrote its ready
    /// file (within 20 s). `env` entries ("NAME=value") are added to the environment.
    explicit proxy_process(const std::string& yaml, std::vector<std::string> env = {});
    /// Sends SIGKILL if it still runs.
    ~proxy_process();
    bool ok() const { return port_ != 0; }
    std::uint16_t port() const { return port_; }
    /// The admin listener's port when the config has one (else 0).
    std::uint16_t admin_port() const { return admin_port_; }
    pid_t pid() const { return pid_; }

    /// Entries in /proc/PID/fd.
    std::size_t open_fds() const;
    /// VmRSS from /proc/PID/status, in KiB.
    std::size_t rss_kib() const;
    /// Sends `sig`.
    void signal(int sig) const;
    /// Waits up to `timeout` for the exit; returns the exit code, or -1 (still running: killed)
    /// or -2 (killed by a signal).
    int wait_exit(std::chrono::milliseconds timeout);
    /// The configuration file it was started with (rewrite it, then signal(SIGHUP) to reload).
    std::string config_path() const { return (dir_.path() / "config.yaml").string(); }
    /// The child's stderr so far.
    std::string log() const;

  private:
    temp_dir dir_{"bcp-proc"};
    pid_t pid_ = -1;
    std::uint16_t port_ = 0;
    std::uint16_t admin_port_ = 0;
    bool exited_ = false;
};

}  // namespace bcp::test
