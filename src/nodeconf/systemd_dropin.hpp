#pragma once
// Editor for systemd unit drop-ins (/etc/systemd/system/<unit>.d/cluster.conf). It edits single
// variables inside `Environment=` lines of one section, keeping other assignments on the same
// line, other keys, comments, sections and order. Values with spaces or quotes are written as
// `Environment="VAR=value"` (systemd's quoting).

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace bcp::nodeconf::dropin {

/// The value `var` gets in `section` (the last assignment wins, as in systemd).
std::optional<std::string> get_env(std::string_view text, std::string_view section,
                                   std::string_view var);

/// Sets `var` in every `Environment=` line of `section` that assigns it, or appends
/// `Environment=VAR=value` at the end of the section (creating `[section]` when missing).
std::string set_env(std::string_view text, std::string_view section, std::string_view var,
                    std::string_view value);

/// Removes the assignments of `var` from `section`; a line left without assignments goes too.
std::string remove_env(std::string_view text, std::string_view section, std::string_view var);

/// Whether the drop-in assigns any of `vars` in `section`.
bool assigns_any(std::string_view text, std::string_view section,
                 const std::vector<std::string>& vars);

}  // namespace bcp::nodeconf::dropin
