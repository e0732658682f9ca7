#pragma once
// Editor for small JSON settings files (/etc/bigbluebutton/etherpad.json). Other keys and their
// order are kept (nlohmann::ordered_json); the indentation (2 or 4 spaces, or tabs) and the final
// newline of the input are reused. A file that already holds the value is returned unchanged,
// byte for byte.

#include "nodeconf/problem.hpp"

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace bcp::nodeconf::json_file {

/// The string array under top-level `key`, or nullopt when absent or not an array of strings.
expected<std::optional<std::vector<std::string>>> get_strings(std::string_view text,
                                                              std::string_view key);

/// Sets top-level `key` to the array `values`. Empty input counts as `{}`.
expected<std::string> set_strings(std::string_view text, std::string_view key,
                                  const std::vector<std::string>& values);

}  // namespace bcp::nodeconf::json_file
