#include "child.hpp"

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>

#include <fstream>
#include <iterator>
#include <string_view>

extern char** environ;

namespace bcp::test {
namespace {

std::string_view name_of(std::string_view entry) {
    return entry.substr(0, entry.find('='));
}

std::string slurp(const std::filesystem::path& p) {
    std::ifstream in(p);
    return {std::istreambuf_iterator<char>(in), {}};
}

}  // namespace

pid_t spawn_child(const std::vector<std::string>& args, const std::filesystem::path& out,
                  const std::filesystem::path& err, const std::vector<std::string>& env) {
    if (args.empty()) {
        return -1;
    }
    std::vector<std::string> arg_text = args;
    std::vector<char*> argv;
    for (auto& a : arg_text) {
        argv.push_back(a.data());
    }
    argv.push_back(nullptr);
    std::vector<std::string> env_text = env;
    for (char** e = environ; *e != nullptr; ++e) {
        bool replaced = false;
        for (const auto& mine : env) {
            replaced = replaced || name_of(mine) == name_of(*e);
        }
        if (!replaced) {
            env_text.emplace_back(*e);
        }
    }
    std::vector<char*> envp;
    for (auto& e : env_text) {
        envp.push_back(e.data());
    }
    envp.push_back(nullptr);

    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addclosefrom_np(&fa, 3);  // only stdio (see child.hpp)
    if (!out.empty()) {
        posix_spawn_file_actions_addopen(&fa, 1, out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    }
    if (!err.empty()) {
        posix_spawn_file_actions_addopen(&fa, 2, err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    }
    pid_t pid = -1;
    const int rc = posix_spawn(&pid, argv[0], &fa, nullptr, argv.data(), envp.data());
    posix_spawn_file_actions_destroy(&fa);
    return rc == 0 ? pid : -1;
}

int wait_child(pid_t pid) {
    int status = 0;
    if (waitpid(pid, &status, 0) != pid) {
        return -1;
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

child_result run_child(const std::vector<std::string>& args, const std::filesystem::path& dir,
                       const std::vector<std::string>& env) {
    const auto out = dir / "child.out";
    const auto err = dir / "child.err";
    child_result r;
    const pid_t pid = spawn_child(args, out, err, env);
    if (pid <= 0) {
        return r;
    }
    r.exit_code = wait_child(pid);
    r.out = slurp(out);
    r.err = slurp(err);
    return r;
}

}  // namespace bcp::test
