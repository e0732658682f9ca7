#pragma once
// Reload plumbing between `serve` and `bbb-cluster-proxy reload` (docs/architecture.md "Reload").
// The daemon writes its pid file and, next to it, "<pid file>.reload": a JSON status of the last
// reload attempt (generation, ok, summary, errors, warnings), rewritten atomically after every
// attempt (generation 0 = the start-up config). `reload` sends SIGHUP and waits for a newer
// generation, so it can print the daemon's own diagnostics and exit non-zero on a refusal.

#include "core/sd_notify.hpp"
#include "proxy/server.hpp"

#include <functional>
#include <string>

namespace bcp::cli {

/// "<pid_file>.reload"
std::string reload_status_path(const std::string& pid_file);

/// Writes "<pid>\n" atomically. False with `error` naming the file on failure.
bool write_pid_file(const std::string& path, std::string& error);

/// Re-reads the configuration file and applies it to `srv`: the one place a reload starts and
/// ends (SIGHUP and any other trigger go through here). Tells systemd RELOADING=1 before and
/// READY=1 after (also after a refusal: the old configuration is serving). Logs the outcome, sets
/// the log level from the new file unless `level_override` is set, and publishes the status next
/// to `pid_file` (when not empty).
/// `amend`, when given, completes a loaded configuration before it is applied (discovery adds
/// the nodes it found: cli/discovery_link.hpp).
proxy::reload_result reload_from_file(proxy::server& srv, const std::string& config_path,
                                      const std::string& level_override,
                                      const std::string& pid_file, const sd::notifier& notify,
                                      const std::function<void(config::proxy_config&)>& amend = {});

/// Publishes the start-up state (generation 0) next to `pid_file`.
void publish_started(const std::string& pid_file, const proxy::server& srv);

}  // namespace bcp::cli
