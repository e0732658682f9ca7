#pragma once
// A small nginx configuration reader/editor for BBB's nginx snippets. It tokenizes like nginx
// (words, '…' and "…" strings, `${var}`, comments, `;`, `{`, `}`), builds the directive tree,
// and edits by splicing new text into the original at token offsets: everything not edited is
// re-emitted byte for byte.
//
// Location forms: prefix (`/a`), exact (`= /a`, `=/a`), regex (`~ re`, `~* re`, `~re`, `~*re`),
// prefix-no-regex (`^~ /a`) and named (`@name`, never touched).

#include "nodeconf/problem.hpp"

#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace bcp::nodeconf::nginx {

struct token {
    std::string raw;    ///< as written (quotes included)
    std::string value;  ///< quotes removed, \" \' \\ unescaped
    std::size_t begin = 0;
    std::size_t end = 0;
    int line = 0;
    char quote = 0;  ///< '\'' or '"' for quoted tokens
};

struct directive {
    std::vector<token> words;  ///< name followed by its arguments
    bool block = false;
    std::vector<directive> children;
    std::size_t begin = 0;  ///< offset of the name
    std::size_t end = 0;    ///< offset after the terminating ';' or '}'
    int line = 0;

    const std::string& name() const { return words.front().value; }
};

struct config {
    std::vector<directive> top;
};

/// Parses a snippet (the contents of a server block or of a file included into one).
/// Unbalanced braces, a missing ';' or an unterminated string are reported with their line.
expected<config> parse(std::string_view text);

enum class location_form { prefix, exact, prefix_no_regex, regex, regex_caseless, named };

struct location_info {
    location_form form = location_form::prefix;
    std::string path;  ///< the path, regex or name, without the modifier
    int line = 0;
};

/// Every location of the snippet, nested ones included, in file order.
expected<std::vector<location_info>> locations(std::string_view text);

struct prefix_result {
    std::string text;
    std::vector<std::string> notes;  ///< deliberate non-changes, for plan/check output
};

/// Puts `/node_id` in front of every location except named ones. A path that already carries a
/// node prefix (`/<seg>/html5client…`, or `/<id>/…` for `node_id` or an id in `old_ids`) gets it
/// replaced, so re-applying never stacks prefixes. Regex locations get the prefix after `^`
/// (after a leading `(?i)` group too). A regex without `^` is left as is (it matches anywhere, so
/// it still matches the prefixed paths) and reported in `notes`; a `^` not followed by `/` is
/// refused.
expected<prefix_result> prefix_locations(std::string_view text, std::string_view node_id,
                                         const std::vector<std::string>& old_ids = {});

/// The value of the last top-level `set $name value;`, or nullopt.
expected<std::optional<std::string>> get_variable(std::string_view text, std::string_view name);

/// Sets every top-level `set $name …;` to `value` (single-quoted unless the old value used double
/// quotes), or appends `set $name 'value';` when there is none.
expected<std::string> set_variable(std::string_view text, std::string_view name,
                                   std::string_view value);

/// Replaces each top-level `include <file>;` for which `resolve` returns text by that text
/// (comment lines mark where it came from). Returns the text with includes expanded.
expected<std::string> inline_includes(
    std::string_view text,
    const std::function<std::optional<std::string>(const std::string&)>& resolve);

/// The paths of every top-level include directive.
expected<std::vector<std::string>> includes(std::string_view text);

/// Replaces each top-level `include` whose path `expand` maps to a list with one include per
/// list element (used to turn `include …/*.nginx;` into an explicit list).
expected<std::string> expand_includes(
    std::string_view text,
    const std::function<std::optional<std::vector<std::string>>(const std::string&)>& expand);

// Marked sections in files we generate: "# BEGIN bbb-cluster-proxy: <name>" … "# END …".

/// The content of section `name`, or nullopt.
std::optional<std::string> get_section(std::string_view text, std::string_view name);
/// Replaces the content of section `name`, or appends the section (after a blank line).
std::string upsert_section(std::string_view text, std::string_view name, std::string_view content);

}  // namespace bcp::nodeconf::nginx
