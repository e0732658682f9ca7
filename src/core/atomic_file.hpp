#pragma once
// Writing a small state file so that a reader, or a restart after a crash, sees the old content or
// the new one, never half of one: a temporary file in the same directory, fsync, rename. Used for
// the reload status next to the pid file and for discovery's snapshot.

#include <string>

namespace bcp {

/// Writes `text` to `path` atomically. False with `error` (naming the file) on failure; the
/// temporary file is removed then.
bool write_file_atomically(const std::string& path, const std::string& text, std::string& error);

}  // namespace bcp
