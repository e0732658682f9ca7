#pragma once
// Read access to a node's files under a root directory ("/" on a real node, a fixture tree in
// tests, an image being built). Node paths are absolute ("/etc/bigbluebutton/…"); host paths are
// root + node path. Nothing here writes: writes go through transaction.hpp.

#include <sys/types.h>

#include <string>
#include <string_view>
#include <vector>

namespace bcp::nodeconf {

enum class entry_kind { absent, file, symlink, directory, other, unreadable };

struct file_state {
    entry_kind kind = entry_kind::absent;
    std::string content;      ///< for files (symlinks: the content of the target, if readable)
    std::string link_target;  ///< for symlinks, as stored
    mode_t mode = 0644;
    uid_t uid = 0;
    gid_t gid = 0;
    std::string error;  ///< for unreadable: strerror
};

class node_fs {
  public:
    explicit node_fs(std::string root);

    const std::string& root() const { return root_; }
    /// root + node path, without a doubled slash.
    std::string host_path(std::string_view node_path) const;

    /// lstat + read. Never throws; unreadable files come back as entry_kind::unreadable.
    file_state read(std::string_view node_path) const;

    /// Names (not paths) of the regular files and symlinks in `dir` ending in `suffix`, sorted
    /// byte-wise like glob(3) in the C locale (nginx's include order).
    std::vector<std::string> list(std::string_view dir, std::string_view suffix) const;

  private:
    std::string root_;
};

}  // namespace bcp::nodeconf
