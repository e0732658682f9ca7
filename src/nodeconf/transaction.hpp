#pragma once
// Writing a computed plan to the node, all or nothing, and undoing it later.
//
// apply: backups of every original go to <root>/var/lib/bbb-cluster-proxy/backups/, the manifest
// (manifest.json beside them) records each file's original state (absent, regular file with mode
// and owner, or symlink with its target) and a SHA-256 of what we wrote. Then every file is
// written atomically (temporary file in the same directory, fsync, owner and mode copied, rename).
// If any step fails, everything done so far is rolled back, the manifest included: the tree is as
// before. Repeated applies keep the first original of each file, so revert always returns to the
// state before the tool ever ran.
//
// revert: restores every original byte for byte (symlinks as symlinks), removes created files and
// directories, then the state directory. A file changed since the last apply (package upgrade,
// hand edit) is left alone and reported.

#include "nodeconf/node_fs.hpp"
#include "nodeconf/pipeline.hpp"
#include "nodeconf/problem.hpp"

#include <sys/types.h>

#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace bcp::nodeconf {

/// The file operations apply and revert use, on host paths. Virtual so tests can inject a
/// failure at any step (root ignores permission bits, so chmod cannot simulate one).
class file_ops {
  public:
    virtual ~file_ops() = default;
    /// Writes `content` to a temporary file beside `path` and renames it over `path`.
    /// `owner` = false leaves the new file owned by the caller.
    [[nodiscard]] virtual std::optional<std::string> write_file(const std::string& path,
                                                                const std::string& content,
                                                                mode_t mode, bool owner, uid_t uid,
                                                                gid_t gid);
    [[nodiscard]] virtual std::optional<std::string> write_symlink(const std::string& path,
                                                                   const std::string& target);
    [[nodiscard]] virtual std::optional<std::string> remove(const std::string& path);
    [[nodiscard]] virtual std::optional<std::string> make_dir(const std::string& path);
    [[nodiscard]] virtual std::optional<std::string> remove_dir(const std::string& path);
};

struct manifest_entry {
    std::string path;                        ///< node path
    entry_kind before = entry_kind::absent;  ///< absent, file or symlink
    std::string backup;                      ///< file name under backups/ (files)
    std::string link_target;                 ///< symlinks
    mode_t mode = 0644;
    uid_t uid = 0;
    gid_t gid = 0;
    std::optional<std::string> after_sha256;  ///< nullopt: we deleted the file
};

struct manifest {
    std::string node_id;
    std::string proxy_url;
    std::string node_url;
    std::string bbb_version;
    std::vector<std::string> created_dirs;  ///< node paths, parents first
    std::vector<manifest_entry> entries;
};

/// The manifest of the last apply under this root, nullopt when there is none.
expected<std::optional<manifest>> load_manifest(const node_fs& fs);

/// Files whose current content differs from what the last apply wrote.
std::set<std::string> changed_since_apply(const node_fs& fs, const manifest& m);

std::string sha256_hex(const std::string& data);

struct apply_report {
    std::vector<std::string> written;  ///< node paths written or deleted
    bool changed = false;
};

/// Writes `c.changes` as one transaction (see the file comment). On failure returns the problem
/// after rolling back; the tree is then unchanged.
expected<apply_report> apply_changes(const node_fs& fs, const computation& c,
                                     const std::optional<manifest>& previous, file_ops& ops);

struct revert_report {
    std::vector<std::string> restored;
    std::vector<std::string> left_alone;  ///< changed since apply; with the reason
    bool had_manifest = false;
};

expected<revert_report> revert_changes(const node_fs& fs, file_ops& ops);

}  // namespace bcp::nodeconf
