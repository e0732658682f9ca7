// The daemon's side of reload, and the `reload` subcommand (the client side).
#include "cli/reload_control.hpp"

#include "cli/commands.hpp"
#include "config/config.hpp"
#include "core/atomic_file.hpp"
#include "core/log.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <thread>

namespace bcp::cli {
namespace {

std::atomic<std::uint64_t> reload_generation{0};

void publish(const std::string& pid_file, const proxy::reload_result& r) {
    if (pid_file.empty()) {
        return;
    }
    const nlohmann::json j{
        {"generation", r.generation}, {"pid", ::getpid()},  {"ok", r.ok},
        {"summary", r.summary},       {"errors", r.errors}, {"warnings", r.warnings}};
    std::string error;
    if (!write_file_atomically(reload_status_path(pid_file), j.dump() + "\n", error)) {
        log::get("proxy")->error("reload status: {}", error);
    }
}

std::optional<nlohmann::json> read_status(const std::string& path) {
    std::ifstream in(path);
    if (!in) {
        return std::nullopt;
    }
    auto j = nlohmann::json::parse(in, nullptr, false);
    if (j.is_discarded() || !j.is_object() || !j.contains("generation")) {
        return std::nullopt;
    }
    return j;
}

std::optional<pid_t> read_pid(const std::string& path, std::string& error) {
    std::ifstream in(path);
    if (!in) {
        error = path + ": cannot read the pid file: " + std::strerror(errno) +
                " (is bbb-cluster-proxy serve running with this pid file?)";
        return std::nullopt;
    }
    long pid = 0;
    if (!(in >> pid) || pid <= 1) {
        error = path + ": does not contain a process id";
        return std::nullopt;
    }
    return static_cast<pid_t>(pid);
}

int run_reload(const std::string& config_path, std::string pid_file, double timeout_seconds) {
    if (pid_file.empty()) {
        // The config names the pid file; an invalid config would be refused by the daemon
        // anyway, so say why right here.
        auto loaded = config::load_file(config_path);
        if (!loaded.ok()) {
            for (const auto& d : loaded.diagnostics) {
                std::cerr << d.to_string() << "\n";
            }
            std::cerr << "reload: " << config_path << " has " << loaded.diagnostics.size()
                      << " error(s); the running proxy was not asked to reload\n";
            return 1;
        }
        pid_file = loaded.config->pid_file;
        if (pid_file.empty()) {
            std::cerr << "reload: " << config_path
                      << " has no pid_file; give --pid-file (the one serve was started with) or "
                         "set pid_file in the configuration\n";
            return 2;
        }
    }
    std::string error;
    const auto pid = read_pid(pid_file, error);
    if (!pid) {
        std::cerr << "reload: " << error << "\n";
        return 1;
    }
    const std::string status_path = reload_status_path(pid_file);
    const auto before = read_status(status_path);
    const std::uint64_t seen = before ? before->value("generation", std::uint64_t{0}) : 0;
    if (::kill(*pid, SIGHUP) != 0) {
        std::cerr << "reload: cannot signal process " << *pid << " (from " << pid_file
                  << "): " << std::strerror(errno) << "\n";
        return 1;
    }
    const auto deadline = std::chrono::steady_clock::now() +
                          std::chrono::milliseconds(static_cast<long>(timeout_seconds * 1000));
    while (std::chrono::steady_clock::now() < deadline) {
        const auto now = read_status(status_path);
        if (now && now->value("generation", std::uint64_t{0}) > seen &&
            now->value("pid", 0L) == *pid) {
            const bool ok = now->value("ok", false);
            for (const auto& e : now->value("errors", std::vector<std::string>{})) {
                std::cerr << e << "\n";
            }
            for (const auto& w : now->value("warnings", std::vector<std::string>{})) {
                std::cerr << "warning: " << w << "\n";
            }
            (ok ? std::cout : std::cerr) << now->value("summary", std::string{}) << "\n";
            return ok ? 0 : 1;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    std::cerr << "reload: sent SIGHUP to process " << *pid << " but it reported no result in "
              << status_path << " within " << timeout_seconds << "s; see its log\n";
    return 1;
}

}  // namespace

std::string reload_status_path(const std::string& pid_file) {
    return pid_file + ".reload";
}

bool write_pid_file(const std::string& path, std::string& error) {
    return write_file_atomically(path, std::to_string(::getpid()) + "\n", error);
}

void publish_started(const std::string& pid_file, const proxy::server& srv) {
    proxy::reload_result r;
    r.ok = true;
    r.generation = reload_generation.load();
    r.summary = fmt::format("started: {} node(s)", srv.current_config().nodes.size());
    publish(pid_file, r);
}

proxy::reload_result reload_from_file(proxy::server& srv, const std::string& config_path,
                                      const std::string& level_override,
                                      const std::string& pid_file, const sd::notifier& notify,
                                      const std::function<void(config::proxy_config&)>& amend) {
    notify.reloading("reloading " + config_path);
    const auto logger = log::get("proxy");
    logger->info("reloading {}", config_path);
    proxy::reload_result r;
    auto loaded = config::load_file(config_path);
    if (!loaded.ok()) {
        for (const auto& d : loaded.diagnostics) {
            r.errors.push_back(d.to_string());
        }
        r.summary = fmt::format(
            "reload refused: {} error(s) in {}; the running configuration stays in effect",
            loaded.diagnostics.size(), config_path);
    } else {
        if (amend) {
            amend(*loaded.config);
        }
        r = srv.reload(*loaded.config);
        if (r.ok && level_override.empty() && !log::set_level(loaded.config->log_level)) {
            r.warnings.push_back("log_level: cannot set " + loaded.config->log_level);
        }
    }
    r.generation = ++reload_generation;
    for (const auto& e : r.errors) {
        logger->error("reload: {}", e);
    }
    for (const auto& w : r.warnings) {
        logger->warn("reload: {}", w);
    }
    if (r.ok) {
        logger->info("{} (generation {})", r.summary, r.generation);
    } else {
        logger->error("{} (generation {})", r.summary, r.generation);
    }
    publish(pid_file, r);
    notify.ready(r.summary);
    return r;
}

void register_reload_command(CLI::App& app, int& exit_code) {
    auto* cmd = app.add_subcommand(
        "reload", "Ask the running proxy to re-read its configuration and print the outcome");
    static std::string config_path = "/etc/bbb-cluster-proxy/config.yaml";
    static std::string pid_file;
    static double timeout = 15;
    cmd->add_option("-c,--config", config_path, "Configuration file (names pid_file)")
        ->capture_default_str();
    cmd->add_option("--pid-file", pid_file, "Pid file of the running proxy (overrides pid_file)");
    cmd->add_option("--timeout", timeout, "Seconds to wait for the proxy's answer")
        ->capture_default_str();
    cmd->callback([&exit_code] { exit_code = run_reload(config_path, pid_file, timeout); });
}

}  // namespace bcp::cli
