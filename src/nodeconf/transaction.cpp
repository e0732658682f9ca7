#include "nodeconf/transaction.hpp"

#include "core/text.hpp"

#include <fcntl.h>
#include <openssl/evp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <random>

namespace bcp::nodeconf {
namespace {

using json = nlohmann::ordered_json;

std::string errno_text(const std::string& what, const std::string& path) {
    return what + " " + path + ": " + std::strerror(errno);
}

std::string temp_name(const std::string& path) {
    static std::mt19937_64 rng{std::random_device{}()};
    const auto slash = path.rfind('/');
    return path.substr(0, slash + 1) + ".bcp-tmp-" + std::to_string(rng() % 1000000000) + "-" +
           path.substr(slash + 1);
}

std::string manifest_path() {
    return std::string(paths::state_dir) + "/manifest.json";
}
std::string backup_path(const std::string& name) {
    return std::string(paths::state_dir) + "/backups/" + name;
}

const char* kind_name(entry_kind k) {
    return k == entry_kind::file ? "file" : k == entry_kind::symlink ? "symlink" : "absent";
}

json to_json(const manifest& m) {
    json j;
    j["format"] = 1;
    j["node_id"] = m.node_id;
    j["proxy_url"] = m.proxy_url;
    j["node_url"] = m.node_url;
    j["bbb_version"] = m.bbb_version;
    j["created_dirs"] = m.created_dirs;
    j["entries"] = json::array();
    for (const auto& e : m.entries) {
        json je;
        je["path"] = e.path;
        je["before"] = kind_name(e.before);
        if (e.before == entry_kind::file) {
            je["backup"] = e.backup;
            je["mode"] = e.mode;
            je["uid"] = e.uid;
            je["gid"] = e.gid;
        }
        if (e.before == entry_kind::symlink) {
            je["link_target"] = e.link_target;
        }
        je["after_sha256"] = e.after_sha256 ? json(*e.after_sha256) : json(nullptr);
        j["entries"].push_back(std::move(je));
    }
    return j;
}

manifest from_json(const json& j) {
    manifest m;
    m.node_id = j.value("node_id", "");
    m.proxy_url = j.value("proxy_url", "");
    m.node_url = j.value("node_url", "");
    m.bbb_version = j.value("bbb_version", "");
    m.created_dirs = j.value("created_dirs", std::vector<std::string>{});
    for (const auto& je : j.at("entries")) {
        manifest_entry e;
        e.path = je.at("path").get<std::string>();
        const std::string before = je.at("before").get<std::string>();
        e.before = before == "file"      ? entry_kind::file
                   : before == "symlink" ? entry_kind::symlink
                                         : entry_kind::absent;
        e.backup = je.value("backup", "");
        e.link_target = je.value("link_target", "");
        e.mode = je.value("mode", 0644u);
        e.uid = je.value("uid", 0u);
        e.gid = je.value("gid", 0u);
        if (je.contains("after_sha256") && je["after_sha256"].is_string()) {
            e.after_sha256 = je["after_sha256"].get<std::string>();
        }
        m.entries.push_back(std::move(e));
    }
    return m;
}

// Undo log: what to put back if a later step fails.
struct undo_step {
    std::string host_path;
    file_state before;    // absent / file / symlink
    bool is_dir = false;  // a directory we created
};

class undo_log {
  public:
    undo_log(file_ops& ops) : ops_(ops) {}
    void wrote(std::string host_path, file_state before) {
        steps_.push_back({std::move(host_path), std::move(before), false});
    }
    void made_dir(std::string host_path) { steps_.push_back({std::move(host_path), {}, true}); }
    void roll_back() {
        for (auto it = steps_.rbegin(); it != steps_.rend(); ++it) {
            // Best effort: a failing undo step must not stop the others.
            std::optional<std::string> ignored;
            if (it->is_dir) {
                ignored = ops_.remove_dir(it->host_path);
            } else if (it->before.kind == entry_kind::absent) {
                ignored = ops_.remove(it->host_path);
            } else if (it->before.kind == entry_kind::symlink) {
                ignored = ops_.write_symlink(it->host_path, it->before.link_target);
            } else {
                ignored = ops_.write_file(it->host_path, it->before.content, it->before.mode, true,
                                          it->before.uid, it->before.gid);
            }
        }
        steps_.clear();
    }

  private:
    file_ops& ops_;
    std::vector<undo_step> steps_;
};

// Creates the missing directories above node path `path` (parents first).
std::optional<std::string> ensure_dirs(const node_fs& fs, const std::string& node_dir,
                                       file_ops& ops, undo_log& undo,
                                       std::vector<std::string>& created) {
    std::vector<std::string> missing;
    for (std::filesystem::path p = node_dir; p != p.root_path() && !p.empty();
         p = p.parent_path()) {
        const auto st = fs.read(p.string());
        if (st.kind == entry_kind::directory) {
            break;
        }
        if (st.kind == entry_kind::symlink) {
            break;  // a symlinked directory is an operator's choice; writing through it is fine
        }
        missing.push_back(p.string());
    }
    for (auto it = missing.rbegin(); it != missing.rend(); ++it) {
        if (auto err = ops.make_dir(fs.host_path(*it))) {
            return err;
        }
        undo.made_dir(fs.host_path(*it));
        created.push_back(*it);
    }
    return std::nullopt;
}

std::string dirname(const std::string& path) {
    return path.substr(0, path.rfind('/'));
}

}  // namespace

std::optional<std::string> file_ops::write_file(const std::string& path, const std::string& content,
                                                mode_t mode, bool owner, uid_t uid, gid_t gid) {
    const std::string tmp = temp_name(path);
    const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        return errno_text("cannot create", tmp);
    }
    std::size_t done = 0;
    while (done < content.size()) {
        const auto n = ::write(fd, content.data() + done, content.size() - done);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            const auto err = errno_text("cannot write", tmp);
            ::close(fd);
            ::unlink(tmp.c_str());
            return err;
        }
        done += static_cast<std::size_t>(n);
    }
    // Owner first: chown clears set-id bits, so the mode goes last.
    if ((owner && ::fchown(fd, uid, gid) != 0) || ::fchmod(fd, mode) != 0 || ::fsync(fd) != 0) {
        const auto err = errno_text("cannot set owner/mode of", tmp);
        ::close(fd);
        ::unlink(tmp.c_str());
        return err;
    }
    ::close(fd);
    if (::rename(tmp.c_str(), path.c_str()) != 0) {
        const auto err = errno_text("cannot rename onto", path);
        ::unlink(tmp.c_str());
        return err;
    }
    return std::nullopt;
}

std::optional<std::string> file_ops::write_symlink(const std::string& path,
                                                   const std::string& target) {
    const std::string tmp = temp_name(path);
    if (::symlink(target.c_str(), tmp.c_str()) != 0) {
        return errno_text("cannot create symlink", tmp);
    }
    if (::rename(tmp.c_str(), path.c_str()) != 0) {
        const auto err = errno_text("cannot rename onto", path);
        ::unlink(tmp.c_str());
        return err;
    }
    return std::nullopt;
}

std::optional<std::string> file_ops::remove(const std::string& path) {
    if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
        return errno_text("cannot remove", path);
    }
    return std::nullopt;
}

std::optional<std::string> file_ops::make_dir(const std::string& path) {
    if (::mkdir(path.c_str(), 0755) != 0) {
        return errno_text("cannot create directory", path);
    }
    return std::nullopt;
}

std::optional<std::string> file_ops::remove_dir(const std::string& path) {
    if (::rmdir(path.c_str()) != 0 && errno != ENOENT) {
        return errno_text("cannot remove directory", path);
    }
    return std::nullopt;
}

std::string sha256_hex(const std::string& data) {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    EVP_Digest(data.data(), data.size(), md, &len, EVP_sha256(), nullptr);
    return to_hex({md, len});
}

expected<std::optional<manifest>> load_manifest(const node_fs& fs) {
    const auto st = fs.read(manifest_path());
    if (st.kind == entry_kind::absent) {
        return std::optional<manifest>();
    }
    if (st.kind != entry_kind::file) {
        return problem{manifest_path(), 0, "cannot be read"};
    }
    try {
        return std::optional<manifest>(from_json(json::parse(st.content)));
    } catch (const json::exception& e) {
        return problem{manifest_path(), 0, std::string("is damaged: ") + e.what()};
    }
}

std::set<std::string> changed_since_apply(const node_fs& fs, const manifest& m) {
    std::set<std::string> out;
    for (const auto& e : m.entries) {
        const auto st = fs.read(e.path);
        const bool now_file = st.kind == entry_kind::file;
        if (e.after_sha256 ? (!now_file || sha256_hex(st.content) != *e.after_sha256)
                           : st.kind != entry_kind::absent) {
            out.insert(e.path);
        }
    }
    return out;
}

expected<apply_report> apply_changes(const node_fs& fs, const computation& c,
                                     const std::optional<manifest>& previous, file_ops& ops) {
    apply_report report;
    if (c.changes.empty()) {
        return report;
    }
    manifest m = previous.value_or(manifest{});
    m.node_id = c.input.node_id;
    m.proxy_url = c.input.proxy.to_string();
    m.node_url = c.input.node.to_string();
    m.bbb_version = c.input.version.version.text;
    const auto old_manifest = fs.read(manifest_path());

    undo_log undo(ops);
    auto fail = [&](const std::string& message) -> expected<apply_report> {
        undo.roll_back();
        return problem{{}, 0, message + "; nothing was changed (rolled back)"};
    };

    // 1. State directory and backups of originals not yet backed up.
    std::vector<std::string> created;
    if (auto err =
            ensure_dirs(fs, std::string(paths::state_dir) + "/backups", ops, undo, created)) {
        return fail(*err);
    }
    std::size_t next_backup = m.entries.size() + 1;
    for (const auto& ch : c.changes) {
        auto it = std::find_if(m.entries.begin(), m.entries.end(),
                               [&](const manifest_entry& e) { return e.path == ch.path; });
        // A file changed since our last write (package upgrade) has a new original; a file we
        // created stays "absent before" whatever happened to it since.
        const bool keep_original =
            it != m.entries.end() && (it->before == entry_kind::absent ||
                                      (it->after_sha256 && ch.before.kind == entry_kind::file &&
                                       sha256_hex(ch.before.content) == *it->after_sha256));
        if (keep_original) {
            continue;
        }
        manifest_entry e;
        e.path = ch.path;
        e.before = ch.before.kind == entry_kind::symlink ? entry_kind::symlink
                   : ch.before.kind == entry_kind::file  ? entry_kind::file
                                                         : entry_kind::absent;
        e.link_target = ch.before.link_target;
        e.mode = ch.before.mode;
        e.uid = ch.before.uid;
        e.gid = ch.before.gid;
        if (e.before == entry_kind::file) {
            e.backup = std::to_string(next_backup++);
            const std::string host = fs.host_path(backup_path(e.backup));
            if (auto err = ops.write_file(host, ch.before.content, 0600, false, 0, 0)) {
                return fail(*err);
            }
            undo.wrote(host, file_state{});
        }
        if (it != m.entries.end()) {
            *it = std::move(e);
        } else {
            m.entries.push_back(std::move(e));
        }
    }
    for (auto& e : m.entries) {
        for (const auto& ch : c.changes) {
            if (ch.path == e.path) {
                e.after_sha256 = ch.remove ? std::nullopt : std::optional(sha256_hex(ch.after));
            }
        }
    }

    // 2. Directories the changes need (drop-in directories), recorded for revert.
    for (const auto& ch : c.changes) {
        if (!ch.remove) {
            if (auto err = ensure_dirs(fs, dirname(ch.path), ops, undo, created)) {
                return fail(*err);
            }
        }
    }
    m.created_dirs.insert(m.created_dirs.end(), created.begin(), created.end());

    // 3. The manifest, before the files: a crash after this point can still be reverted.
    const std::string mhost = fs.host_path(manifest_path());
    if (auto err = ops.write_file(mhost, to_json(m).dump(2) + "\n", 0600, false, 0, 0)) {
        return fail(*err);
    }
    undo.wrote(mhost, old_manifest.kind == entry_kind::file ? old_manifest : file_state{});

    // 4. The files.
    for (const auto& ch : c.changes) {
        const std::string host = fs.host_path(ch.path);
        std::optional<std::string> err;
        if (ch.remove) {
            err = ops.remove(host);
        } else if (ch.before.kind == entry_kind::file) {
            err =
                ops.write_file(host, ch.after, ch.before.mode, true, ch.before.uid, ch.before.gid);
        } else {
            // New files and files replacing a symlink: world-readable, owned by us (root).
            err = ops.write_file(host, ch.after, 0644, false, 0, 0);
        }
        if (err) {
            return fail(*err);
        }
        undo.wrote(host, ch.before);
        report.written.push_back(ch.path);
    }
    report.changed = true;
    return report;
}

expected<revert_report> revert_changes(const node_fs& fs, file_ops& ops) {
    revert_report report;
    auto loaded = load_manifest(fs);
    if (!loaded) {
        return loaded.error();
    }
    if (!loaded->has_value()) {
        return report;
    }
    report.had_manifest = true;
    const manifest& m = **loaded;
    const auto changed = changed_since_apply(fs, m);
    for (auto it = m.entries.rbegin(); it != m.entries.rend(); ++it) {
        const manifest_entry& e = *it;
        if (changed.count(e.path) != 0) {
            report.left_alone.push_back(
                e.path + " (changed since the last apply; restore it from " +
                (e.before == entry_kind::file ? std::string(backup_path(e.backup))
                                              : std::string("its package")) +
                " by hand if needed)");
            continue;
        }
        const std::string host = fs.host_path(e.path);
        std::optional<std::string> err;
        switch (e.before) {
            case entry_kind::absent:
                err = ops.remove(host);
                break;
            case entry_kind::symlink:
                err = ops.write_symlink(host, e.link_target);
                break;
            default: {
                const auto backup = fs.read(backup_path(e.backup));
                if (backup.kind != entry_kind::file) {
                    return problem{backup_path(e.backup), 0,
                                   "backup missing; cannot restore " + e.path};
                }
                if (fs.read(e.path).kind == entry_kind::absent) {
                    // We deleted it: its directory may have gone too.
                    std::vector<std::string> ignored;
                    undo_log no_undo(ops);
                    if (auto derr = ensure_dirs(fs, dirname(e.path), ops, no_undo, ignored)) {
                        return problem{e.path, 0, *derr};
                    }
                }
                err = ops.write_file(host, backup.content, e.mode, true, e.uid, e.gid);
            }
        }
        if (err) {
            return problem{e.path, 0, *err + " (revert stopped; run it again after fixing)"};
        }
        report.restored.push_back(e.path);
    }
    // The state directory goes, then the directories apply created (deepest first). A directory
    // that is not empty (someone put a file there) stays.
    for (const auto& e : m.entries) {
        if (e.before == entry_kind::file && changed.count(e.path) == 0) {
            (void)ops.remove(fs.host_path(backup_path(e.backup)));
        }
    }
    if (report.left_alone.empty()) {
        (void)ops.remove(fs.host_path(manifest_path()));
        std::error_code ec;
        std::filesystem::remove(fs.host_path(std::string(paths::state_dir) + "/backups"), ec);
        std::filesystem::remove(fs.host_path(paths::state_dir), ec);
        for (auto it = m.created_dirs.rbegin(); it != m.created_dirs.rend(); ++it) {
            std::filesystem::remove(fs.host_path(*it), ec);
        }
    }
    return report;
}

}  // namespace bcp::nodeconf
