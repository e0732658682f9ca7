#include "nodeconf/commands.hpp"

#include "nodeconf/live_probe.hpp"

#include <spawn.h>
#include <sys/wait.h>

#include <ostream>

extern char** environ;

namespace bcp::nodeconf {
namespace {

constexpr int exit_failed_check = 1;
constexpr int exit_error = 2;

int report(command_env& env, const problem& p) {
    env.err << "error: " << p.to_string() << "\n";
    return exit_error;
}

struct prepared {
    node_fs fs;
    settings s;
    std::optional<manifest> previous;
    computation c;
};

// read → compute, shared by plan, apply and check.
expected<prepared> prepare(const request& r, command_env& env) {
    node_fs fs(r.root);
    if (fs.read("/").kind != entry_kind::directory) {
        return problem{r.root, 0, "--root is not a directory"};
    }
    auto s = resolve(r, fs, env.query);
    if (!s) {
        return s.error();
    }
    auto previous = load_manifest(fs);
    if (!previous) {
        return previous.error();
    }
    std::vector<std::string> old_ids;
    if (*previous && !(*previous)->node_id.empty()) {
        old_ids.push_back((*previous)->node_id);
    }
    auto c = compute(fs, *s, old_ids);
    if (!c) {
        return c.error();
    }
    return prepared{std::move(fs), std::move(*s), std::move(*previous), std::move(*c)};
}

void print_restarts(const computation& c, std::ostream& out) {
    out << "Services to restart:";
    if (c.restarts.empty()) {
        out << " none";
    }
    for (const auto& svc : c.restarts) {
        out << " " << svc;
    }
    out << "\nsystemctl daemon-reload: " << (c.daemon_reload ? "needed" : "not needed") << "\n";
}

}  // namespace

int run_process(const std::vector<std::string>& argv) {
    std::vector<char*> args;
    for (const auto& a : argv) {
        args.push_back(const_cast<char*>(a.c_str()));
    }
    args.push_back(nullptr);
    pid_t pid = 0;
    if (::posix_spawnp(&pid, args[0], nullptr, nullptr, args.data(), environ) != 0) {
        return 127;
    }
    int status = 0;
    if (::waitpid(pid, &status, 0) < 0) {
        return 127;
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

std::string apply_command_line(const request& r, const settings& s) {
    std::string out = "bbb-cluster-proxy node apply --proxy-url " + s.proxy.to_string() +
                      " --node-id " + s.node_id + " --node-url " + s.node.to_string();
    if (r.bbb_version) {
        out += " --bbb-version " + *r.bbb_version;
    }
    if (r.root != "/") {
        out += " --root " + r.root;
    }
    return out;
}

int run_plan(const request& r, command_env& env) {
    auto p = prepare(r, env);
    if (!p) {
        return report(env, p.error());
    }
    env.out << render_plan(p->c);
    return 0;
}

int run_apply(const request& r, bool restart, command_env& env) {
    auto p = prepare(r, env);
    if (!p) {
        return report(env, p.error());
    }
    const computation& c = p->c;
    env.out << "Apply for " << describe(c.input) << "\n";
    file_ops real;
    file_ops& ops = env.ops != nullptr ? *env.ops : real;
    auto done = apply_changes(p->fs, c, p->previous, ops);
    if (!done) {
        return report(env, done.error());
    }
    if (!done->changed) {
        env.out << "No changes: the node is already configured.\n";
        return 0;
    }
    for (const auto& ch : c.changes) {
        env.out << (ch.remove                              ? "  deleted "
                    : ch.before.kind == entry_kind::absent ? "  created "
                                                           : "  changed ")
                << ch.path << "\n";
    }
    env.out << "Backups and manifest: " << p->fs.host_path(paths::state_dir)
            << " (undo with `bbb-cluster-proxy node revert`)\n";
    for (const auto& n : c.notes) {
        env.out << "Note: " << n << "\n";
    }
    print_restarts(c, env.out);
    if (!restart) {
        env.out << "Restart with: " << (c.daemon_reload ? "systemctl daemon-reload && " : "")
                << "bbb-conf --restart (or pass --restart)\n";
        return 0;
    }
    if (p->fs.root() != "/") {
        env.out << "--restart ignored: --root is not / (nothing runs on another root)\n";
        return 0;
    }
    auto run = env.run ? env.run : run_process;
    if (c.daemon_reload && run({"systemctl", "daemon-reload"}) != 0) {
        env.err << "error: systemctl daemon-reload failed (the files are written)\n";
        return exit_error;
    }
    if (run({"bbb-conf", "--restart"}) != 0) {
        env.err << "error: bbb-conf --restart failed (the files are written)\n";
        return exit_error;
    }
    env.out << "Restarted (bbb-conf --restart).\n";
    return 0;
}

int run_check(const request& r, bool live, command_env& env) {
    auto p = prepare(r, env);
    if (!p) {
        return report(env, p.error());
    }
    std::set<std::string> changed;
    if (p->previous) {
        changed = changed_since_apply(p->fs, *p->previous);
    }
    env.out << render_check(p->c, changed, apply_command_line(r, p->s));
    bool ok = std::all_of(p->c.items.begin(), p->c.items.end(),
                          [](const item_status& i) { return i.ok; });
    if (live) {
        env.out << "\nLive probes:\n";
        for (const auto& probe : live_probe(p->s, std::chrono::seconds(10))) {
            env.out << (probe.ok ? "✓ " : "✗ ") << probe.name << ": " << probe.detail << "\n";
            if (!probe.ok) {
                env.out << "    fix: " << probe.fix << "\n";
                ok = false;
            }
        }
    }
    return ok ? 0 : exit_failed_check;
}

int run_revert(const std::string& root, command_env& env) {
    node_fs fs(root);
    file_ops real;
    file_ops& ops = env.ops != nullptr ? *env.ops : real;
    auto done = revert_changes(fs, ops);
    if (!done) {
        return report(env, done.error());
    }
    if (!done->had_manifest) {
        env.out << "Nothing to revert: no manifest at " << fs.host_path(paths::state_dir)
                << "/manifest.json\n";
        return 0;
    }
    for (const auto& path : done->restored) {
        env.out << "  restored " << path << "\n";
    }
    for (const auto& path : done->left_alone) {
        env.out << "  left alone " << path << "\n";
    }
    env.out << "Reverted " << done->restored.size() << " file(s). Restart with: systemctl "
            << "daemon-reload && bbb-conf --restart\n";
    return done->left_alone.empty() ? 0 : exit_error;
}

}  // namespace bcp::nodeconf
