#pragma once
// Editor for KEY=value environment files (/etc/default/bbb-web,
// /etc/bigbluebutton/bbb-graphql-server.env): changes one variable, keeps every other line,
// comments and order, and the quote style of the value it rewrites. New variables are appended as
// KEY="value".

#include <optional>
#include <string>
#include <string_view>

namespace bcp::nodeconf::env_file {

/// The value of the last assignment of `key` (quotes removed), or nullopt.
std::optional<std::string> get(std::string_view text, std::string_view key);

/// Sets `key`: rewrites the value of its last assignment or appends KEY="value".
std::string set(std::string_view text, std::string_view key, std::string_view value);

/// Removes every assignment of `key`.
std::string remove(std::string_view text, std::string_view key);

}  // namespace bcp::nodeconf::env_file
