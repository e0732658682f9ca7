// `serve` under a fake systemd: a datagram socket bound in a temp dir (or in the abstract
// namespace) is passed as $NOTIFY_SOCKET to the real binary, and the test reads what systemd would
// read: READY=1 only once the port accepts connections, RELOADING=1/READY=1 around a reload,
// STOPPING=1 on SIGTERM.
#include "child.hpp"
#include "core/sd_notify.hpp"
#include "harness.hpp"
#include "support/test_ca.hpp"

#include <gtest/gtest.h>

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>
#include <csignal>
#include <cstring>
#include <fstream>
#include <random>

namespace bcp::test {
namespace {

// The service manager's end: an AF_UNIX datagram socket bound to `name` ("@…" = abstract).
class fake_systemd {
  public:
    explicit fake_systemd(const std::string& name) : name_(name) {
        sockaddr_un a{};
        a.sun_family = AF_UNIX;
        std::memcpy(a.sun_path, name.data(), name.size());
        socklen_t len = offsetof(sockaddr_un, sun_path) + name.size() + 1;
        if (name[0] == '@') {
            a.sun_path[0] = '\0';
            --len;
        }
        fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        bound_ = ::bind(fd_, reinterpret_cast<sockaddr*>(&a), len) == 0;
    }
    ~fake_systemd() { ::close(fd_); }
    bool bound() const { return bound_; }
    const std::string& name() const { return name_; }

    /// The next notification, or "" when none arrives within `timeout`.
    std::string next(std::chrono::milliseconds timeout = 30s) {
        pollfd p{fd_, POLLIN, 0};
        if (::poll(&p, 1, static_cast<int>(timeout.count())) != 1) {
            return {};
        }
        char buf[4096];
        const auto n = ::recv(fd_, buf, sizeof buf, 0);
        return n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : std::string();
    }

  private:
    std::string name_;
    int fd_ = -1;
    bool bound_ = false;
};

// `serve --config cfg` with NOTIFY_SOCKET=notify added to this process's environment, stderr to
// `err`. Returns the pid (0 on failure).
pid_t spawn_serve(const std::filesystem::path& cfg, const std::string& notify,
                  const std::filesystem::path& err,
                  const std::vector<std::string>& extra_args = {}) {
    std::vector<std::string> args{BCP_BINARY, "serve", "--config", cfg.string()};
    args.insert(args.end(), extra_args.begin(), extra_args.end());
    const pid_t pid = spawn_child(args, {}, err, {"NOTIFY_SOCKET=" + notify});
    return pid > 0 ? pid : 0;
}

int stop_and_wait(pid_t pid) {
    kill(pid, SIGTERM);
    int status = 0;
    waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

std::string slurp(const std::filesystem::path& p) {
    std::ifstream in(p);
    return {std::istreambuf_iterator<char>(in), {}};
}

// The port in "STATUS=listening on 127.0.0.1:PORT".
std::uint16_t status_port(const std::string& msg) {
    const auto at = msg.find("STATUS=listening on 127.0.0.1:");
    if (at == std::string::npos) {
        return 0;
    }
    return static_cast<std::uint16_t>(std::stoi(msg.substr(at + 30)));
}

// READY=1 with the bound address, a request served right after it, STOPPING=1 on SIGTERM, exit 0.
void ready_then_stopping(fake_systemd& systemd, const temp_dir& dir) {
    ASSERT_TRUE(systemd.bound()) << systemd.name() << ": " << std::strerror(errno);
    node_set nodes({"bbb-01"});
    const auto cfg = dir.path() / "proxy.yaml";
    std::ofstream(cfg) << proxy_yaml(nodes);
    const auto err = dir.path() / "stderr";
    const pid_t pid = spawn_serve(cfg, systemd.name(), err);
    ASSERT_NE(pid, 0);

    const std::string ready = systemd.next();
    const auto port = status_port(ready);
    // systemd starts dependent units on READY=1: the listener must accept at that moment, with
    // no retry or wait on our side.
    std::optional<response> r;
    if (port != 0) {
        r = http_get(port, "/bbb-01/html5client/");
    }
    if (ready.rfind("READY=1\n", 0) != 0 || port == 0) {
        stop_and_wait(pid);
        FAIL() << "expected READY=1 with the address, got '" << ready << "'\n" << slurp(err);
    }
    ASSERT_TRUE(r);
    EXPECT_EQ(r->result_int(), 200u);

    kill(pid, SIGTERM);
    const std::string stopping = systemd.next();
    int status = 0;
    waitpid(pid, &status, 0);
    EXPECT_EQ(stopping, "STOPPING=1\nSTATUS=stopping (signal 15)\n");
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << slurp(err);
    EXPECT_EQ(systemd.next(200ms), "") << "nothing after STOPPING=1";
}

std::string unique_suffix() {
    std::random_device rd;
    return std::to_string(::getpid()) + "-" + std::to_string(rd());
}

TEST(ServeNotify, ReadyWhenListeningAndStoppingOnSigtermPathSocket) {
    temp_dir dir;
    fake_systemd systemd((dir.path() / "notify").string());
    ready_then_stopping(systemd, dir);
}

TEST(ServeNotify, ReadyWhenListeningAndStoppingOnSigtermAbstractSocket) {
    temp_dir dir;
    fake_systemd systemd("@bcp-notify-" + unique_suffix());
    ready_then_stopping(systemd, dir);
}

// SIGHUP (systemctl reload): RELOADING=1 with the monotonic time, then READY=1 with the outcome,
// for an applied reload and for a refused one; the proxy serves throughout.
TEST(ServeNotify, ReloadingThenReadyAroundSighup) {
    temp_dir dir;
    fake_systemd systemd((dir.path() / "notify").string());
    ASSERT_TRUE(systemd.bound());
    node_set nodes({"bbb-01", "bbb-02"});
    const auto cfg = dir.path() / "proxy.yaml";
    // Only bbb-01 at first.
    std::ofstream(cfg) << "public_url: \"https://proxy.example.com\"\n"
                       << "listen:\n  - address: \"127.0.0.1:0\"\n"
                       << "nodes:\n  - id: bbb-01\n    url: \"" << nodes[0].origin() << "\"\n";
    const auto err = dir.path() / "stderr";
    const pid_t pid = spawn_serve(cfg, systemd.name(), err);
    ASSERT_NE(pid, 0);
    const std::string ready = systemd.next();
    const auto port = status_port(ready);
    if (port == 0) {
        stop_and_wait(pid);
        FAIL() << "no READY=1: '" << ready << "'\n" << slurp(err);
    }

    // Applied: now with bbb-02 as well.
    std::ofstream(cfg) << proxy_yaml(nodes);
    const auto before = sd::monotonic_usec();
    kill(pid, SIGHUP);
    const std::string reloading = systemd.next();
    const std::string reloaded = systemd.next();
    const auto r = http_get(port, "/bbb-02/html5client/");

    // Refused: the old configuration keeps serving.
    std::ofstream(cfg) << "public_url: nope\n";
    kill(pid, SIGHUP);
    const std::string reloading2 = systemd.next();
    const std::string refused = systemd.next();
    const auto r2 = http_get(port, "/bbb-02/html5client/");
    EXPECT_EQ(stop_and_wait(pid), 0);

    ASSERT_EQ(reloading.rfind("RELOADING=1\nMONOTONIC_USEC=", 0), 0u) << reloading << slurp(err);
    const auto usec = std::stoull(reloading.substr(27));
    EXPECT_GE(usec, before);
    EXPECT_LE(usec, sd::monotonic_usec());
    EXPECT_EQ(reloaded.rfind("READY=1\nSTATUS=", 0), 0u) << reloaded;
    EXPECT_NE(reloaded.find("added bbb-02"), std::string::npos) << reloaded;
    ASSERT_TRUE(r);
    EXPECT_EQ(r->result_int(), 200u);
    EXPECT_EQ(reloading2.rfind("RELOADING=1\n", 0), 0u) << reloading2;
    EXPECT_EQ(refused.rfind("READY=1\nSTATUS=reload refused", 0), 0u) << refused;
    ASSERT_TRUE(r2);
    EXPECT_EQ(r2->result_int(), 200u);
}

TEST(ServeNotify, UnusableNotifySocketIsLoggedAndServingGoesOn) {
    temp_dir dir;
    node_set nodes({"bbb-01"});
    const auto cfg = dir.path() / "proxy.yaml";
    std::ofstream(cfg) << proxy_yaml(nodes);
    const auto err = dir.path() / "stderr";
    const auto ready = dir.path() / "ready.json";
    const pid_t pid = spawn_serve(cfg, "relative/notify", err, {"--ready-file", ready.string()});
    ASSERT_NE(pid, 0);
    const bool up = eventually([&] { return std::filesystem::exists(ready); }, 30s);
    EXPECT_EQ(stop_and_wait(pid), 0);
    EXPECT_TRUE(up) << slurp(err);
    EXPECT_NE(slurp(err).find("systemd notification disabled: NOTIFY_SOCKET 'relative/notify'"),
              std::string::npos)
        << slurp(err);
}

TEST(ServeNotify, BadConfigSendsNoReady) {
    temp_dir dir;
    fake_systemd systemd((dir.path() / "notify").string());
    ASSERT_TRUE(systemd.bound());
    const auto cfg = dir.path() / "bad.yaml";
    std::ofstream(cfg) << "public_url: nope\n";
    const pid_t pid = spawn_serve(cfg, systemd.name(), dir.path() / "stderr");
    ASSERT_NE(pid, 0);
    int status = 0;
    waitpid(pid, &status, 0);
    EXPECT_TRUE(WIFEXITED(status));
    EXPECT_EQ(WEXITSTATUS(status), 1);
    EXPECT_EQ(systemd.next(100ms), "");
}

}  // namespace
}  // namespace bcp::test
