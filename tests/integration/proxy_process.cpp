#include "proxy_process.hpp"

#include "child.hpp"

#include <gtest/gtest.h>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

namespace bcp::test {
namespace {

std::string slurp(const std::filesystem::path& p) {
    std::ifstream in(p);
    return {std::istreambuf_iterator<char>(in), {}};
}

}  // namespace

proxy_process::proxy_process(const std::string& yaml, std::vector<std::string> env) {
    const auto cfg = dir_.path() / "config.yaml";
    const auto ready = dir_.path() / "ready.json";
    std::ofstream(cfg) << yaml;
    pid_ =
        spawn_child({BCP_BINARY, "serve", "--config", cfg.string(), "--ready-file", ready.string()},
                    {}, dir_.path() / "stderr", env);
    if (pid_ <= 0) {
        ADD_FAILURE() << "could not start " << BCP_BINARY;
        pid_ = -1;
        return;
    }
    const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (std::chrono::steady_clock::now() < end) {
        if (std::filesystem::exists(ready)) {
            // {"listen":["127.0.0.1:PORT"]} or {"listen":[…],"admin":"127.0.0.1:PORT"}
            const std::string text = slurp(ready);
            const auto colon = text.find(':', text.find("127.0.0.1"));
            port_ = static_cast<std::uint16_t>(std::stoi(text.substr(colon + 1)));
            if (const auto admin = text.find("\"admin\":\""); admin != std::string::npos) {
                const auto admin_colon = text.find(':', admin + 9);
                admin_port_ = static_cast<std::uint16_t>(std::stoi(text.substr(admin_colon + 1)));
            }
            return;
        }
        int status = 0;
        if (waitpid(pid_, &status, WNOHANG) == pid_) {
            exited_ = true;
            ADD_FAILURE() << "the proxy exited before it was ready:\n" << log();
            return;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    ADD_FAILURE() << "the proxy did not get ready within 20 s:\n" << log();
}

proxy_process::~proxy_process() {
    if (pid_ > 0 && !exited_) {
        ::kill(pid_, SIGKILL);
        int status = 0;
        waitpid(pid_, &status, 0);
    }
}

std::size_t proxy_process::open_fds() const {
    std::size_t n = 0;
    std::error_code ec;
    for (auto it = std::filesystem::directory_iterator("/proc/" + std::to_string(pid_) + "/fd", ec);
         !ec && it != std::filesystem::directory_iterator(); it.increment(ec)) {
        ++n;
    }
    return n;
}

std::size_t proxy_process::rss_kib() const {
    std::istringstream in(slurp("/proc/" + std::to_string(pid_) + "/status"));
    std::string line;
    while (std::getline(in, line)) {
        if (line.rfind("VmRSS:", 0) == 0) {
            return std::stoul(line.substr(6));
        }
    }
    return 0;
}

void proxy_process::signal(int sig) const {
    ::kill(pid_, sig);
}

int proxy_process::wait_exit(std::chrono::milliseconds timeout) {
    const auto end = std::chrono::steady_clock::now() + timeout;
    while (true) {
        int status = 0;
        if (waitpid(pid_, &status, WNOHANG) == pid_) {
            exited_ = true;
            return WIFEXITED(status) ? WEXITSTATUS(status) : -2;
        }
        if (std::chrono::steady_clock::now() >= end) {
            return -1;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
}

std::string proxy_process::log() const {
    return slurp(dir_.path() / "stderr");
}

}  // namespace bcp::test
