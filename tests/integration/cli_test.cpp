// The real binary as operators run it: check's exit codes and messages, serve until SIGTERM.
#include "child.hpp"
#include "harness.hpp"
#include "support/test_ca.hpp"

#include <gtest/gtest.h>

#include <sys/wait.h>
#include <unistd.h>
#include <csignal>
#include <fstream>

namespace bcp::test {
namespace {

using run_result = child_result;

std::string slurp(const std::filesystem::path& p) {
    std::ifstream in(p);
    return {std::istreambuf_iterator<char>(in), {}};
}

// Runs the binary to completion with stdout/stderr captured in files.
run_result run(const std::vector<std::string>& args, const temp_dir& dir) {
    std::vector<std::string> all{BCP_BINARY};
    all.insert(all.end(), args.begin(), args.end());
    return run_child(all, dir.path());
}

void write_file(const std::filesystem::path& p, const std::string& text) {
    std::ofstream(p) << text;
}

TEST(CliCheck, ValidConfigExitsZero) {
    temp_dir dir;
    write_file(dir.path() / "ok.yaml",
               "public_url: https://proxy.example.com\nlisten:\n  - address: 127.0.0.1:8443\n"
               "nodes:\n  - id: bbb-01\n    url: https://bbb-01.example.com\n");
    auto r = run({"check", "--config", (dir.path() / "ok.yaml").string()}, dir);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_NE(r.out.find("OK (1 node(s), 1 listener(s))"), std::string::npos) << r.out;
}

TEST(CliCheck, EveryDiagnosticWithFileLineColumnAndExitOne) {
    temp_dir dir;
    const auto path = (dir.path() / "bad.yaml").string();
    write_file(path,
               "public_url: https://proxy.example.com/\n"
               "listen:\n  - address: 127.0.0.1:8443\n"
               "nodes:\n"
               "  - id: bbb-01\n    url: https://bbb-01.example.com/x\n"
               "  - id: bbb-01\n    url: https://bbb-02.example.com\n"
               "wokers: 2\n");
    auto r = run({"check", "--config", path}, dir);
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_NE(r.err.find(path + ":1:13: public_url:"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find(path + ":6:10: nodes[0].url:"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find(path + ":7:9: nodes[1].id: duplicate node id"), std::string::npos)
        << r.err;
    EXPECT_NE(r.err.find(path + ":9:1: wokers:"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("did you mean 'workers'"), std::string::npos) << r.err;
}

TEST(CliCheck, MissingFileAndMismatchedKey) {
    temp_dir dir;
    auto r = run({"check", "--config", (dir.path() / "nope.yaml").string()}, dir);
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_NE(r.err.find("nope.yaml"), std::string::npos) << r.err;

    auto ca = test_ca::create();
    auto a = ca.issue({"localhost"});
    auto b = ca.issue({"localhost"});
    auto fa = write_pem_files(dir.path() / "a", ca, a);
    auto fb = write_pem_files(dir.path() / "b", ca, b);
    const auto path = (dir.path() / "tls.yaml").string();
    write_file(path,
               "public_url: https://proxy.example.com\nlisten:\n  - address: 127.0.0.1:8443\n"
               "    tls: { certificate: " +
                   fa.cert.string() + ", private_key: " + fb.key.string() +
                   " }\nnodes:\n  - id: bbb-01\n    url: https://bbb-01.example.com\n");
    r = run({"check", "--config", path}, dir);
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_NE(r.err.find("does not match"), std::string::npos) << r.err;
}

TEST(CliServe, ServesUntilSigtermThenExitsZero) {
    temp_dir dir;
    node_set nodes({"bbb-01"});
    const auto cfg = dir.path() / "proxy.yaml";
    write_file(cfg, proxy_yaml(nodes));
    const auto ready = dir.path() / "ready.json";
    std::string bin = BCP_BINARY;
    std::vector<std::string> args{bin,          "serve",        "--config",
                                  cfg.string(), "--ready-file", ready.string()};
    const pid_t pid = spawn_child(args);
    ASSERT_GT(pid, 0);
    const bool up = eventually([&] { return std::filesystem::exists(ready); }, 20s);
    if (up) {
        const std::string text = slurp(ready);
        const auto colon = text.rfind(':');
        const auto port = static_cast<std::uint16_t>(std::stoi(text.substr(colon + 1)));
        auto r = http_get(port, "/bbb-01/html5client/");
        ASSERT_TRUE(r);
        EXPECT_EQ(r->result_int(), 200u);
        EXPECT_NE(r->body().find("bbb-01"), std::string::npos);
    }
    kill(pid, SIGTERM);
    int status = 0;
    waitpid(pid, &status, 0);
    ASSERT_TRUE(up) << "serve did not become ready";
    EXPECT_TRUE(WIFEXITED(status));
    EXPECT_EQ(WEXITSTATUS(status), 0);
}

TEST(CliServe, BadConfigExitsOneWithoutServing) {
    temp_dir dir;
    const auto cfg = dir.path() / "proxy.yaml";
    write_file(cfg, "public_url: nope\n");
    auto r = run({"serve", "--config", cfg.string()}, dir);
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_NE(r.err.find("proxy.yaml:1:"), std::string::npos) << r.err;
}

TEST(CliVersion, PrintsVersion) {
    temp_dir dir;
    auto r = run({"--version"}, dir);
    EXPECT_EQ(r.exit_code, 0);
    EXPECT_NE(r.out.find("bbb-cluster-proxy 0."), std::string::npos) << r.out;
}

}  // namespace
}  // namespace bcp::test
