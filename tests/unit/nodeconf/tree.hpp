#pragma once
// Test helpers: fixture trees (a fake / per BBB version) copied into temp dirs, byte-exact tree
// snapshots (symlinks and modes included), and the node commands run with captured output.

#include "nodeconf/commands.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <sstream>
#include <string>

namespace nodeconf_test {

namespace fs = std::filesystem;

inline fs::path data_dir() {
    return fs::path(BCP_SOURCE_DIR) / "tests/data/nodeconf";
}

class temp_dir {
  public:
    temp_dir() {
        std::random_device rd;
        path_ = fs::temp_directory_path() /
                ("bcp-nodeconf-" + std::to_string(::getpid()) + "-" + std::to_string(rd()));
        fs::create_directories(path_);
    }
    ~temp_dir() {
        std::error_code ec;
        fs::remove_all(path_, ec);
    }
    temp_dir(const temp_dir&) = delete;
    temp_dir& operator=(const temp_dir&) = delete;
    const fs::path& path() const { return path_; }
    std::string str() const { return path_.string(); }

  private:
    fs::path path_;
};

/// A copy of tests/data/nodeconf/<version> (symlinks copied as symlinks).
inline void copy_fixture(const std::string& version, const fs::path& to) {
    fs::copy(data_dir() / version, to,
             fs::copy_options::recursive | fs::copy_options::copy_symlinks);
}

/// Every entry under `root`: "dir", "link -> target" or "file 0644\n<content>".
inline std::map<std::string, std::string> snapshot(const fs::path& root) {
    std::map<std::string, std::string> out;
    for (auto it = fs::recursive_directory_iterator(root); it != fs::recursive_directory_iterator();
         ++it) {
        const auto rel = fs::relative(it->path(), root).string();
        struct stat st {};
        ::lstat(it->path().c_str(), &st);
        if (S_ISLNK(st.st_mode)) {
            out[rel] = "link -> " + fs::read_symlink(it->path()).string();
        } else if (S_ISDIR(st.st_mode)) {
            out[rel] = "dir";
        } else {
            std::ifstream in(it->path(), std::ios::binary);
            std::ostringstream buf;
            buf << in.rdbuf();
            char mode[8];
            std::snprintf(mode, sizeof mode, "%04o", st.st_mode & 07777);
            out[rel] =
                std::string("file ") + mode + " " + std::to_string(st.st_uid) + "\n" + buf.str();
        }
    }
    return out;
}

inline std::string read(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    std::ostringstream buf;
    buf << in.rdbuf();
    return buf.str();
}

inline void write(const fs::path& p, const std::string& content) {
    fs::create_directories(p.parent_path());
    std::ofstream(p, std::ios::binary) << content;
}

struct outcome {
    int code = 0;
    std::string out;
    std::string err;
};

/// Never asks dpkg: tests must not depend on the machine's packages.
inline std::optional<std::string> no_packages(const std::string&) {
    return std::nullopt;
}

inline bcp::nodeconf::request make_request(const fs::path& root,
                                           std::string proxy = "https://bbb-proxy.example.com",
                                           std::string id = "bbb-01",
                                           std::string node = "https://bbb-01.example.com") {
    bcp::nodeconf::request r;
    r.proxy_url = std::move(proxy);
    r.node_id = std::move(id);
    r.node_url = std::move(node);
    r.root = root.string();
    return r;
}

template <class F>
outcome run(F&& f, bcp::nodeconf::file_ops* ops = nullptr) {
    std::ostringstream out;
    std::ostringstream err;
    bcp::nodeconf::command_env env{out, err, no_packages, ops, {}};
    outcome o;
    o.code = f(env);
    o.out = out.str();
    o.err = err.str();
    return o;
}

inline outcome plan(const bcp::nodeconf::request& r) {
    return run([&](auto& env) { return bcp::nodeconf::run_plan(r, env); });
}
inline outcome apply(const bcp::nodeconf::request& r, bcp::nodeconf::file_ops* ops = nullptr) {
    return run([&](auto& env) { return bcp::nodeconf::run_apply(r, false, env); }, ops);
}
inline outcome check(const bcp::nodeconf::request& r) {
    return run([&](auto& env) { return bcp::nodeconf::run_check(r, false, env); });
}
inline outcome revert(const fs::path& root, bcp::nodeconf::file_ops* ops = nullptr) {
    return run([&](auto& env) { return bcp::nodeconf::run_revert(root.string(), env); }, ops);
}

inline const char* const versions[] = {"2.4", "2.5", "2.6", "2.7", "3.0"};

}  // namespace nodeconf_test
