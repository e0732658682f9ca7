// The CLI wiring of `node …` and `nginx-config`: exact flag names, exit codes.
#include "tree.hpp"

#include "cli/commands.hpp"

#include <gtest/gtest.h>

using namespace nodeconf_test;

namespace {

struct cli_result {
    int code = -1;
    std::string out;
    std::string err;
};

cli_result run_cli(std::vector<std::string> args) {
    CLI::App app{"test", "bbb-cluster-proxy"};
    app.require_subcommand(1);
    int exit_code = 0;
    bcp::cli::register_node_commands(app, exit_code);
    bcp::cli::register_nginx_config_command(app, exit_code);
    args.insert(args.begin(), "bbb-cluster-proxy");
    std::vector<char*> argv;
    for (auto& a : args) {
        argv.push_back(a.data());
    }
    cli_result r;
    testing::internal::CaptureStdout();
    testing::internal::CaptureStderr();
    try {
        app.parse(static_cast<int>(argv.size()), argv.data());
        r.code = exit_code;
    } catch (const CLI::ParseError& e) {
        r.code = e.get_exit_code() == 0 ? 0 : 109;
    }
    r.out = testing::internal::GetCapturedStdout();
    r.err = testing::internal::GetCapturedStderr();
    return r;
}

}  // namespace

TEST(NodeCli, RunsEverySubcommandWithTheDocumentedFlags) {
    temp_dir tmp;
    copy_fixture("2.7", tmp.path());
    const std::vector<std::string> target = {
        "--proxy-url", "https://bbb-proxy.example.com", "--node-id", "bbb-01",
        "--node-url",  "https://bbb-01.example.com",    "--root",    tmp.str()};
    auto with = [&](std::vector<std::string> head) {
        head.insert(head.end(), target.begin(), target.end());
        return head;
    };
    const auto before = snapshot(tmp.path());
    EXPECT_EQ(run_cli(with({"node", "plan"})).code, 0);
    EXPECT_EQ(snapshot(tmp.path()), before);
    EXPECT_EQ(run_cli(with({"node", "check"})).code, 1);
    const auto applied = run_cli(with({"node", "apply", "--restart"}));
    EXPECT_EQ(applied.code, 0) << applied.err;
    EXPECT_NE(applied.out.find("--restart ignored"), std::string::npos);
    EXPECT_EQ(run_cli(with({"node", "check", "--bbb-version", "2.7"})).code, 0);
    EXPECT_EQ(run_cli({"node", "revert", "--root", tmp.str()}).code, 0);
    EXPECT_EQ(snapshot(tmp.path()), before);
}

TEST(NodeCli, RequiresTheProxyUrl) {
    EXPECT_NE(run_cli({"node", "plan", "--root", "/nonexistent"}).code, 0);
}

TEST(NodeCli, ReportsBadInputWithExitTwo) {
    const auto r = run_cli({"node", "plan", "--proxy-url", "https://p.example.com/", "--node-url",
                            "https://n.example.com", "--root", (data_dir() / "2.7").string()});
    EXPECT_EQ(r.code, 2);
    EXPECT_NE(r.err.find("trailing slash"), std::string::npos) << r.err;
}

TEST(NginxConfigCli, ReportsAMissingConfigFile) {
    const auto r = run_cli({"nginx-config", "--config", "/nonexistent/proxy.yaml"});
    EXPECT_EQ(r.code, 2);
    EXPECT_NE(r.err.find("error: "), std::string::npos);
}
