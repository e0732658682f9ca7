#include "nodeconf/node_fs.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace bcp::nodeconf {

node_fs::node_fs(std::string root) : root_(std::move(root)) {
    while (root_.size() > 1 && root_.back() == '/') {
        root_.pop_back();
    }
    if (root_.empty()) {
        root_ = "/";
    }
}

std::string node_fs::host_path(std::string_view node_path) const {
    if (root_ == "/") {
        return std::string(node_path);
    }
    return root_ + std::string(node_path);
}

file_state node_fs::read(std::string_view node_path) const {
    file_state s;
    const std::string path = host_path(node_path);
    struct stat st {};
    if (::lstat(path.c_str(), &st) != 0) {
        if (errno == ENOENT || errno == ENOTDIR) {
            s.kind = entry_kind::absent;
        } else {
            s.kind = entry_kind::unreadable;
            s.error = std::strerror(errno);
        }
        return s;
    }
    s.mode = st.st_mode & 07777;
    s.uid = st.st_uid;
    s.gid = st.st_gid;
    if (S_ISDIR(st.st_mode)) {
        s.kind = entry_kind::directory;
        return s;
    }
    if (S_ISLNK(st.st_mode)) {
        s.kind = entry_kind::symlink;
        std::string target(4096, '\0');
        const auto n = ::readlink(path.c_str(), target.data(), target.size());
        target.resize(n > 0 ? static_cast<std::size_t>(n) : 0);
        s.link_target = target;
        // The target's content is read relative to the root for absolute links, so a fixture
        // tree's links resolve inside the tree.
        std::string resolved = !target.empty() && target.front() == '/'
                                   ? host_path(target)
                                   : (std::filesystem::path(path).parent_path() / target).string();
        std::ifstream in(resolved, std::ios::binary);
        if (in) {
            std::ostringstream buf;
            buf << in.rdbuf();
            s.content = buf.str();
        }
        return s;
    }
    if (!S_ISREG(st.st_mode)) {
        s.kind = entry_kind::other;
        return s;
    }
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        s.kind = entry_kind::unreadable;
        s.error = std::strerror(errno);
        return s;
    }
    std::ostringstream buf;
    buf << in.rdbuf();
    s.kind = entry_kind::file;
    s.content = buf.str();
    return s;
}

std::vector<std::string> node_fs::list(std::string_view dir, std::string_view suffix) const {
    std::vector<std::string> out;
    std::error_code ec;
    for (const auto& e : std::filesystem::directory_iterator(host_path(dir), ec)) {
        const std::string name = e.path().filename().string();
        const bool match = name.size() > suffix.size() &&
                           name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0;
        std::error_code ec2;
        const auto st = e.symlink_status(ec2);
        if (match && (std::filesystem::is_regular_file(st) || std::filesystem::is_symlink(st))) {
            out.push_back(name);
        }
    }
    std::sort(out.begin(), out.end());
    return out;
}

}  // namespace bcp::nodeconf
