#pragma once
// Line-oriented editor for block-style YAML override files (/etc/bigbluebutton/bbb-html5.yml,
// bbb-graphql-middleware.yml). yaml-cpp cannot keep comments or layout, so this editor works on
// lines: it finds `key:` lines by indentation, rewrites the one scalar it is asked to change
// (keeping its quote style and any trailing comment) and inserts missing keys, creating nested
// maps as needed. Everything else is re-emitted byte for byte.
//
// It refuses (with file:line) what it cannot edit safely: the target or one of its parents
// written as a flow collection (`public: {app: …}`), a block scalar (`|`, `>`), anchors, aliases,
// tags, a sequence where a map is expected, tab indentation. The result is parsed with yaml-cpp
// (validate()) before anyone writes it.

#include "nodeconf/problem.hpp"

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace bcp::nodeconf::yaml_block {

/// "public.app.basename" → {"public", "app", "basename"}.
std::vector<std::string> split_path(std::string_view dotted);

/// The scalar at `path`, decoded (quotes removed), or nullopt when a key on the path is missing.
expected<std::optional<std::string>> get(std::string_view text,
                                         const std::vector<std::string>& path);

/// Sets the scalar at `path` to `value`. Returns `text` unchanged when it already holds it.
expected<std::string> set(std::string_view text, const std::vector<std::string>& path,
                          std::string_view value);

/// Parses `text` with yaml-cpp and, when `path` is given, checks that it reads back `value`.
/// A syntax error is reported with its line.
std::optional<problem> validate(std::string_view text, const std::vector<std::string>& path = {},
                                std::string_view value = {});

}  // namespace bcp::nodeconf::yaml_block
