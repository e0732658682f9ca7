#pragma once
// Line-oriented editor for block-style YAML override files (/etc/bigbluebutton/bbb-html5.yml,
// bbb-graphql-middleware.yml). yaml-cpp cannot keep comments or layout, so this editor works on
// lines: it finds `key:` lines by indentation, rewrites the one scalar it is asked to change
// (keeping its quote style and any trailing comment) and inserts missing keys, creating nested
// maps as needed. Everything else is re-emitted byte for byte.
//
// It accepts only the part of YAML it models, and refuses any other file with the line and what
// is not supported, before it edits (see "What the editor accepts" in yaml_block.cpp): block maps
// of plain or quoted name keys, one-line scalar or flow values, `|`/`>` block scalars, block lists,
// comments, one `---`. Refused, for instance: values over several lines, anchors, aliases, tags,
// a second document, tabs, control characters, duplicate keys. On the path, a flow collection, a
// block scalar or a list where a map or a single value is needed is refused too. The result is
// parsed with yaml-cpp (validate()) before anyone writes it.

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
