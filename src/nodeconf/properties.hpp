#pragma once
// Java .properties editor (bbb-web.properties). Contract shared by every editor: parse, change
// only what is asked, re-emit everything else byte for byte (emit(parse(x)) == x).
//
// Understands what java.util.Properties understands: '#'/'!' comments, blank lines, `key=value`,
// `key: value` and `key value` separators, backslash escapes (\uXXXX, \t, \=, \:, ...), and
// logical lines continued with a trailing backslash. `${…}` placeholders are plain text to us
// (Spring expands them later); a set value is written literally.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace bcp::nodeconf::properties {

struct entry {
    std::string
        raw;       ///< exact bytes: every physical line of the logical line, terminators included
    int line = 0;  ///< 1-based first physical line
    bool is_pair = false;  ///< false for blank and comment lines
    std::string key;       ///< decoded key
    std::string value;     ///< decoded value
    /// Raw bytes before the value on the first physical line (indent, key, separator) when the
    /// value starts there; a rewrite keeps them so `serviceEnabled = true` keeps its spacing.
    std::optional<std::string> prefix_raw;
    std::string eol;  ///< terminator of the last physical line ("" at end of file without one)
};

struct document {
    std::vector<entry> entries;
};

/// Never fails: every byte sequence is some properties file.
document parse(std::string_view text);
std::string emit(const document& doc);

/// The effective value of `key` (the last occurrence wins, as in java.util.Properties).
std::optional<std::string> get(const document& doc, std::string_view key);

/// Sets `key`: rewrites the value of its last occurrence (keeping indentation, key spelling and
/// separator) or appends `key=value` at the end. No-op when the value is already equal.
void set(document& doc, std::string_view key, std::string_view value);

/// Removes every occurrence of `key`. Returns whether anything was removed.
bool remove(document& doc, std::string_view key);

/// Escapes a value for the right-hand side of a properties line.
std::string escape_value(std::string_view value);

}  // namespace bcp::nodeconf::properties
