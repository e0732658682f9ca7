#include "nodeconf/yaml_block.hpp"

#include "config/yaml_guard.hpp"
#include "nodeconf/text.hpp"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <map>

namespace bcp::nodeconf::yaml_block {
namespace {

// trivia: blank, comment, document marker or directive; text: a line of a block scalar's text.
enum class kind { trivia, key, sequence_item, text, other };

// What a key line's value is (set by the structure check, read by get/set).
enum class holds { nothing, scalar, flow, block_scalar, map, list };

// One physical line, classified. For `key` lines, `value_raw` is the text after "key:" up to an
// optional comment, and `tail` is what follows the value (spaces and comment), kept on rewrite.
struct yline {
    kind k = kind::trivia;
    int indent = 0;
    std::string key;
    bool quoted_key = false;
    std::size_t value_at = 0;  ///< offset of the value in body (after ':' and spaces)
    std::string value_raw;     ///< the value text, quotes included, comment excluded
    std::string tail;          ///< spaces + comment after the value
    bool open_quote = false;   ///< a quoted value that does not end on this line
    holds value = holds::nothing;
};

// Offset of a " #" comment start in a plain or quoted value (npos if none).
std::size_t value_end(std::string_view s) {
    if (s.empty()) {
        return 0;
    }
    if (s.front() == '\'') {
        for (std::size_t i = 1; i < s.size(); ++i) {
            if (s[i] == '\'') {
                if (i + 1 < s.size() && s[i + 1] == '\'') {
                    ++i;
                    continue;
                }
                return i + 1;
            }
        }
        return s.size();
    }
    if (s.front() == '"') {
        for (std::size_t i = 1; i < s.size(); ++i) {
            if (s[i] == '\\') {
                ++i;
            } else if (s[i] == '"') {
                return i + 1;
            }
        }
        return s.size();
    }
    if (s.front() == '#') {
        return 0;
    }
    for (std::size_t i = 1; i < s.size(); ++i) {
        if (s[i] == '#' && (s[i - 1] == ' ' || s[i - 1] == '\t')) {
            return i;
        }
    }
    return s.size();
}

// Whether a value that starts with a quote ends it on the same line ('' and \" are escapes).
bool closes_on_its_line(std::string_view v) {
    if (v.empty() || (v.front() != '"' && v.front() != '\'')) {
        return true;
    }
    const char q = v.front();
    for (std::size_t i = 1; i < v.size(); ++i) {
        if (q == '"' && v[i] == '\\') {
            ++i;
        } else if (v[i] == q) {
            if (q == '\'' && i + 1 < v.size() && v[i + 1] == '\'') {
                ++i;
                continue;
            }
            return true;
        }
    }
    return false;
}

// A document marker ("---", "...") or a directive ('%'): only at the start of a line, the
// markers alone or before a space ("---key:" is a key).
bool is_marker_line(std::string_view body) {
    const auto marker = [&](std::string_view m) {
        return text::starts_with(body, m) &&
               (body.size() == m.size() || body[m.size()] == ' ' || body[m.size()] == '\t');
    };
    return marker("---") || marker("...") || text::starts_with(body, "%");
}

yline classify(std::string_view body) {
    yline l;
    std::size_t i = 0;
    while (i < body.size() && body[i] == ' ') {
        ++i;
    }
    l.indent = static_cast<int>(i);
    const std::string_view rest = body.substr(i);
    if (rest.empty() || rest.front() == '#' || text::trim(rest).empty() ||
        (i == 0 && is_marker_line(body))) {
        return l;
    }
    if (rest.front() == '-' && (rest.size() == 1 || rest[1] == ' ')) {
        l.k = kind::sequence_item;
        return l;
    }
    if (rest.front() == '[' || rest.front() == '{' || rest.front() == '!' || rest.front() == '&' ||
        rest.front() == '*' || rest.front() == '?') {
        // A flow collection, tag, anchor, alias or complex key: not a plain key.
        l.k = kind::other;
        return l;
    }
    // The key: quoted, or plain up to the first ": " / trailing ':'.
    std::size_t colon = std::string_view::npos;
    if (rest.front() == '"' || rest.front() == '\'') {
        const auto end = value_end(rest);
        if (end >= 2 && end < rest.size() && rest[end] == ':' &&
            (end + 1 == rest.size() || rest[end + 1] == ' ')) {
            l.key = std::string(rest.substr(1, end - 2));
            l.quoted_key = true;
            colon = end;
        }
    } else {
        for (std::size_t k = 0; k < rest.size(); ++k) {
            if (rest[k] == ':' && (k + 1 == rest.size() || rest[k + 1] == ' ')) {
                colon = k;
                break;
            }
            if (rest[k] == '#' && k > 0 && rest[k - 1] == ' ') {
                break;
            }
        }
        if (colon != std::string_view::npos) {
            l.key = std::string(text::trim(rest.substr(0, colon)));
        }
    }
    if (colon == std::string_view::npos) {
        l.k = kind::other;
        return l;
    }
    l.k = kind::key;
    std::size_t v = colon + 1;
    while (v < rest.size() && rest[v] == ' ') {
        ++v;
    }
    const std::string_view value = rest.substr(v);
    l.open_quote = !closes_on_its_line(value);
    const auto end = value_end(value);
    std::string_view raw = value.substr(0, end);
    // Trailing spaces of a plain value belong to the tail.
    while (!raw.empty() && (raw.back() == ' ' || raw.back() == '\t')) {
        raw.remove_suffix(1);
    }
    l.value_at = i + v;
    l.value_raw = std::string(raw);
    l.tail = std::string(value.substr(raw.size()));
    return l;
}

std::string decode_scalar(std::string_view raw) {
    if (raw.size() >= 2 && raw.front() == '\'' && raw.back() == '\'') {
        std::string out;
        for (std::size_t i = 1; i + 1 < raw.size(); ++i) {
            out += raw[i];
            if (raw[i] == '\'' && raw[i + 1] == '\'') {
                ++i;
            }
        }
        return out;
    }
    if (raw.size() >= 2 && raw.front() == '"' && raw.back() == '"') {
        std::string out;
        for (std::size_t i = 1; i + 1 < raw.size(); ++i) {
            if (raw[i] == '\\' && i + 2 < raw.size()) {
                const char c = raw[++i];
                out += c == 'n' ? '\n' : c == 't' ? '\t' : c;
            } else {
                out += raw[i];
            }
        }
        return out;
    }
    return std::string(raw);
}

// The plain scalars YAML (and yaml-cpp) read as null rather than as their text.
bool is_null_word(std::string_view raw) {
    return raw == "~" || raw == "null" || raw == "Null" || raw == "NULL";
}

bool is_simple_word(std::string_view v) {
    static constexpr std::string_view reserved[] = {"true", "false", "yes", "no", "on",
                                                    "off",  "null",  "y",   "n",  "~"};
    if (v.empty() || !std::isalpha(static_cast<unsigned char>(v.front()))) {
        return false;
    }
    std::string lower(v);
    std::transform(lower.begin(), lower.end(), lower.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    if (std::find(std::begin(reserved), std::end(reserved), lower) != std::end(reserved)) {
        return false;
    }
    return std::all_of(v.begin(), v.end(),
                       [](unsigned char c) { return std::isalnum(c) || c == '_' || c == '-'; });
}

// Quote style follows the old value: double stays double; otherwise single quotes (the style of
// BBB's own docs), except a simple word such as `local`, which stays plain.
std::string encode_scalar(std::string_view value, std::string_view old_raw) {
    if (!old_raw.empty() && old_raw.front() == '"') {
        std::string out = "\"";
        for (const char c : value) {
            if (c == '"' || c == '\\') {
                out += '\\';
            }
            out += c;
        }
        return out + '"';
    }
    if (is_simple_word(value) && (old_raw.empty() || old_raw.front() != '\'')) {
        return std::string(value);
    }
    std::string out = "'";
    for (const char c : value) {
        out += c;
        if (c == '\'') {
            out += '\'';
        }
    }
    return out + '\'';
}

struct parsed {
    std::vector<text::line> lines;
    std::vector<yline> info;
};

// ---- What the editor accepts -------------------------------------------------------------
//
// The editor works on lines, so it accepts only the part of YAML whose lines it can read the way
// a YAML parser does, and refuses the whole file otherwise (with the line and what is not
// supported), before it looks for a key. Each fuzzer finding of earlier rounds was a construct
// outside this part that the line editor had read differently from yaml-cpp. Accepted:
// - printable UTF-8 text; spaces for indentation (a tab only inside a comment line);
// - comments, blank lines, one optional `%YAML 1.x` directive and one optional `---` start;
// - block maps of keys (letters, digits, `_ - . /`, inner spaces; plain or quoted) whose keys line
//   up, each key once, with a value on the key's line (a one-line plain, single- or double-quoted
//   scalar, a one-line flow collection, or a `|`/`>` block scalar whose text is indented below
//   the key), or a map or list below it;
// - block lists whose items are such a value or a map (`- key: value` and its keys below).
// Refused: multi-line plain, quoted or flow scalars, anchors, aliases, tags, complex keys, a
// second document or `...`, other directives, control and line-break characters, lists inside
// list items on one line, block scalars in list items or with indentation/keep indicators.

std::optional<problem> check_characters(std::string_view body, std::size_t index) {
    const int line = static_cast<int>(index) + 1;
    const bool comment_line = text::trim_left(body).starts_with('#');
    char hex[8];
    for (std::size_t i = 0; i < body.size(); ++i) {
        const auto u = static_cast<unsigned char>(body[i]);
        if (u == '\t') {
            if (comment_line) {
                continue;
            }
            return make_problem(line,
                                "a tab character; this editor accepts spaces only, for "
                                "indentation and between key and value");
        }
        if (u < 0x20 || u == 0x7f) {
            std::snprintf(hex, sizeof hex, "0x%02x", static_cast<unsigned>(u));
            return make_problem(line, std::string("the control character ") + hex +
                                          "; YAML files hold printable text only");
        }
        if (u < 0x80) {
            continue;
        }
        // UTF-8: the sequence must be well-formed and not a C1 control, U+2028/U+2029 (line
        // breaks to some YAML readers), a byte order mark or a non-character.
        std::size_t len = 0;
        char32_t cp = 0;
        if (u >= 0xc2 && u < 0xe0) {
            len = 2;
            cp = u & 0x1f;
        } else if (u >= 0xe0 && u < 0xf0) {
            len = 3;
            cp = u & 0x0f;
        } else if (u >= 0xf0 && u < 0xf5) {
            len = 4;
            cp = u & 0x07;
        }
        bool ok = len > 0 && i + len <= body.size();
        for (std::size_t k = 1; ok && k < len; ++k) {
            const auto c = static_cast<unsigned char>(body[i + k]);
            ok = (c & 0xc0) == 0x80;
            cp = (cp << 6) | (c & 0x3f);
        }
        ok = ok && !(len == 3 && cp < 0x800) && !(len == 4 && (cp < 0x10000 || cp > 0x10ffff)) &&
             !(cp >= 0xd800 && cp <= 0xdfff);
        if (!ok) {
            return make_problem(line, "bytes that are not UTF-8 text");
        }
        if (cp < 0xa0 || cp == 0x2028 || cp == 0x2029 || cp == 0xfeff || cp == 0xfffe ||
            cp == 0xffff) {
            std::snprintf(hex, sizeof hex, "%04X", static_cast<unsigned>(cp));
            return make_problem(line, std::string("the character U+") + hex +
                                          " (a control, line break or byte order mark); remove "
                                          "it so that this editor can change the file");
        }
        i += len - 1;
    }
    return std::nullopt;
}

constexpr std::string_view key_rule =
    "is not a name of letters, digits and _ - . / starting with a letter, digit or _ (this "
    "editor supports no other keys)";

bool is_supported_key(std::string_view k) {
    return !k.empty() && k.size() <= 256 &&
           (std::isalnum(static_cast<unsigned char>(k.front())) || k.front() == '_') &&
           std::isgraph(static_cast<unsigned char>(k.back())) &&
           std::all_of(k.begin(), k.end(), [](char c) {
               return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' ||
                      c == '.' || c == '/' || c == ' ';
           });
}

// A path the editor can look up and write: keys it accepts in a file, none reading as null.
std::optional<problem> unsupported_path(const std::vector<std::string>& path) {
    for (const auto& key : path) {
        if (!is_supported_key(key) || is_null_word(key)) {
            return make_problem(
                0, "the key '" + key.substr(0, 40) + "' of the path " +
                       std::string(is_null_word(key) ? "reads as null in YAML" : key_rule));
        }
    }
    return std::nullopt;
}

class structure {
  public:
    explicit structure(parsed& p) : p_(p), n_(p.lines.size()) {}

    std::optional<problem> check() {
        // Before the document: comments, one %YAML directive, one "---".
        std::size_t i = 0;
        // A plain index (n_ = none): std::optional here trips GCC 12's maybe-uninitialized
        // under TSan.
        std::size_t directive = n_;
        bool started = false;
        for (; i < n_; ++i) {
            const std::string& body = p_.lines[i].body;
            if (p_.info[i].k != kind::trivia) {
                break;
            }
            if (!is_marker_line(body)) {
                continue;
            }
            if (body.starts_with('%')) {
                const auto words = text::words(body);
                if (started || directive != n_ || words.size() != 2 || words[0] != "%YAML" ||
                    (words[1] != "1.1" && words[1] != "1.2")) {
                    return fail(i, started ? "a line starting with '%' inside the document; YAML "
                                             "directives belong before it"
                                           : "a directive other than one '%YAML 1.1' or '%YAML "
                                             "1.2'; this editor does not support it");
                }
                directive = i;
            } else if (body.starts_with("...")) {
                return fail(i,
                            "a document end marker ('...'); this editor changes files of one "
                            "document without it");
            } else {
                const auto after = text::trim(std::string_view(body).substr(3));
                if (started || (!after.empty() && after.front() != '#')) {
                    return fail(i, started ? "a second YAML document; this editor changes files "
                                             "of one document"
                                           : "content on the document marker line");
                }
                started = true;
            }
        }
        if (directive != n_ && !started) {
            return fail(directive, "a '%YAML' directive without a '---' line after it");
        }
        // In the document, a line at the start that looks like a marker is one (to yaml-cpp).
        for (std::size_t j = i; j < n_; ++j) {
            const std::string& body = p_.lines[j].body;
            if (p_.info[j].k == kind::trivia && is_marker_line(body)) {
                return fail(j, body.starts_with('%')
                                   ? "a line starting with '%' inside the document; YAML "
                                     "directives belong before it"
                               : body.starts_with("...")
                                   ? "a document end marker ('...'); this editor changes files "
                                     "of one document without it"
                                   : "a second YAML document; this editor changes files of one "
                                     "document");
            }
        }
        if (i == n_) {
            return std::nullopt;
        }
        auto end = node(i);
        if (!end) {
            return end.error();
        }
        if (*end < n_) {
            const std::size_t j = *end;
            return fail(j, indent(j) < indent(i)
                               ? "indented less than line " + std::to_string(i + 1) +
                                     ", where the document's top-level map or list starts; "
                                     "the keys of one map must line up"
                               : "not part of the top-level map or list that starts on line " +
                                     std::to_string(i + 1));
        }
        return std::nullopt;
    }

  private:
    // A line or, for a list item, the text after its "- ", classified as if it started there.
    struct view {
        std::size_t line;
        yline l;
        bool whole_line;
    };

    static problem fail(std::size_t index, std::string message) {
        return make_problem(static_cast<int>(index) + 1, std::move(message));
    }

    int indent(std::size_t j) const { return p_.info[j].indent; }

    std::size_t next_content(std::size_t from) const {
        while (from < n_ && p_.info[from].k == kind::trivia) {
            ++from;
        }
        return from;
    }

    view whole(std::size_t j) const { return view{j, p_.info[j], true}; }

    // The item of a list line, as if its "-" were a space.
    view item(std::size_t j) const {
        std::string body = p_.lines[j].body;
        body[static_cast<std::size_t>(indent(j))] = ' ';
        return view{j, classify(body), false};
    }

    problem not_a_node(std::size_t j, const std::string& expected) const {
        const std::string_view rest = text::trim_left(p_.lines[j].body);
        const char c = rest.empty() ? ' ' : rest.front();
        if (c == '!' || c == '&' || c == '*') {
            return fail(j,
                        "an anchor, alias or tag; this editor does not support them, edit the "
                        "file by hand");
        }
        if (c == '?') {
            return fail(j, "a complex key ('? '); this editor does not support it");
        }
        return fail(j, expected);
    }

    // A block node starting on its own line j: a map or a list.
    expected<std::size_t> node(std::size_t j) {
        if (p_.info[j].k == kind::key) {
            return map(whole(j));
        }
        if (p_.info[j].k == kind::sequence_item) {
            return list(j);
        }
        return not_a_node(j,
                          "a value on a line of its own where a map (key: value) or a list "
                          "(- item) was expected; a value over several lines is not "
                          "supported");
    }

    std::optional<problem> check_key(const view& v) const {
        const std::string& k = v.l.key;
        if (!is_supported_key(k)) {
            return fail(v.line, "the key '" + k.substr(0, 40) + "' " + std::string(key_rule));
        }
        if (!v.l.quoted_key && is_null_word(k)) {
            return fail(v.line, "the key '" + k + "' reads as null in YAML; quote it");
        }
        return std::nullopt;
    }

    // Checks a value written on its line: `v` is the text from the value's first character to the
    // end of the line (comment included). Returns what it is.
    expected<holds> inline_value(std::string_view v, std::size_t j) const {
        const char c = v.front();
        std::size_t end = 0;
        holds h = holds::scalar;
        if (c == '\'' || c == '"') {
            if (!closes_on_its_line(v)) {
                // A quoted value over several lines (or never ended: yaml-cpp reads an
                // unterminated one at the end of the file) would swallow what is added after it.
                return fail(j,
                            "a quoted value that does not end on its line; write it on one "
                            "line to let this editor change the file");
            }
            end = value_end(v);
            for (std::size_t k = 1; c == '"' && k + 1 < end; ++k) {
                if (v[k] == '\\') {
                    const char e = v[++k];
                    if (e != '\\' && e != '"' && e != '/' && e != 'n' && e != 't') {
                        return fail(j, std::string("the escape '\\") + e +
                                           "' in a double-quoted value; this editor supports "
                                           "\\\\, \\\", \\/, \\n and \\t");
                    }
                }
            }
        } else if (c == '[' || c == '{') {
            auto flow_end = flow(v, j);
            if (!flow_end) {
                return flow_end.error();
            }
            end = *flow_end;
            h = holds::flow;
        } else if (c == '|' || c == '>') {
            end = value_end(v);
            const std::string_view header = text::trim(v.substr(0, end));
            if (header.size() > 2 || (header.size() == 2 && header[1] != '-')) {
                return fail(j, "the block scalar header '" + std::string(header) +
                                   "'; this editor supports |, |-, > and >- only");
            }
            h = holds::block_scalar;
        } else if (c == '&' || c == '*' || c == '!') {
            return fail(j,
                        "an anchor, alias or tag; this editor does not support them, edit the "
                        "file by hand");
        } else if (std::string_view("%@`,]}").find(c) != std::string_view::npos ||
                   ((c == '-' || c == '?' || c == ':') && (v.size() == 1 || v[1] == ' '))) {
            return fail(j, std::string("a value starting with '") + c +
                               "', which YAML reserves; quote the value");
        } else {
            end = value_end(v);
            std::string_view raw = v.substr(0, end);
            while (!raw.empty() && raw.back() == ' ') {
                raw.remove_suffix(1);
            }
            if (raw.find(": ") != std::string_view::npos || raw.ends_with(':')) {
                return fail(j, "a plain value holding ': ' or ending in ':'; quote the value");
            }
            return h;
        }
        // After a quoted or flow value: nothing but spaces and a comment.
        const std::string_view after = v.substr(end);
        const std::string_view rest = text::trim_left(after);
        if (!rest.empty() && (rest.front() != '#' || after.front() != ' ')) {
            return fail(j, "text after the end of a quoted or flow value");
        }
        return h;
    }

    // The end of a flow collection that starts and ends on this line; anything else is refused.
    expected<std::size_t> flow(std::string_view v, std::size_t j) const {
        std::string open;
        char before = ' ';    // the last non-space character
        bool quoted = false;  // a quoted scalar ended, nothing but spaces since
        for (std::size_t k = 0; k < v.size(); ++k) {
            const char c = v[k];
            if (c == '\'' || c == '"') {
                if (std::string_view("[{,:").find(before) == std::string_view::npos ||
                    !closes_on_its_line(v.substr(k))) {
                    break;
                }
                k += value_end(v.substr(k)) - 1;
                before = c;
                quoted = true;
                continue;
            }
            if (quoted && c != ' ') {
                if (std::string_view(",]}:").find(c) == std::string_view::npos) {
                    break;  // text after a quoted scalar
                }
                quoted = false;
            }
            if (c == '#' && v[k - 1] == ' ') {
                break;
            }
            if (c == '&' || c == '*' || c == '!') {
                return fail(j,
                            "an anchor, alias or tag; this editor does not support them, "
                            "edit the file by hand");
            }
            if (c == '[' || c == '{') {
                open += c == '[' ? ']' : '}';
            } else if (c == ']' || c == '}') {
                if (open.empty() || open.back() != c) {
                    break;
                }
                open.pop_back();
                if (open.empty()) {
                    return k + 1;
                }
            }
            if (c != ' ') {
                before = c;
            }
        }
        return fail(j,
                    "a flow collection ([…] or {…}) that does not end on its line (or is "
                    "not well-formed); write it on one line or in block style");
    }

    // The lines of a block scalar whose header is on line j, for a key (or item) at column c.
    // Returns the first line after its text.
    expected<std::size_t> block_scalar(std::size_t j, int c) {
        int text_indent = -1;
        int blank_indent = 0;  // the widest all-space line before the first text line
        std::size_t k = j + 1;
        for (; k < n_; ++k) {
            const std::string& body = p_.lines[k].body;
            const auto spaces = body.find_first_not_of(' ');
            if (spaces == std::string::npos) {
                blank_indent = std::max(blank_indent, static_cast<int>(body.size()));
                continue;
            }
            const int in = static_cast<int>(spaces);
            if (in <= c) {
                break;
            }
            if (text_indent < 0) {
                text_indent = in;
                if (blank_indent > in) {
                    return fail(k,
                                "the first line of a block scalar, after a blank line with "
                                "more spaces than it; this editor does not support that");
                }
            } else if (in < text_indent) {
                return fail(k, "indented less than the first line of its block scalar (line " +
                                   std::to_string(j + 2) + ")");
            }
            p_.info[k] = yline{};
            p_.info[k].k = kind::text;
            p_.info[k].indent = in;
        }
        return k;
    }

    // The value of a key (v, at column c): on its line, or a map or list below it.
    expected<std::size_t> entry_value(const view& v, int c) {
        const std::size_t j = v.line;
        const auto record = [&](holds h) {
            if (v.whole_line) {
                p_.info[j].value = h;
            }
        };
        const std::string_view rest = std::string_view(p_.lines[j].body).substr(v.l.value_at);
        if (v.l.value_raw.empty()) {
            const std::size_t next = next_content(j + 1);
            if (next < n_ && indent(next) > c) {
                record(p_.info[next].k == kind::key ? holds::map : holds::list);
                return node(next);
            }
            if (next < n_ && indent(next) == c && v.whole_line &&
                p_.info[next].k == kind::sequence_item) {
                record(holds::list);  // "key:" + "- item" at the key's column
                return list(next);
            }
            record(holds::nothing);
            return next;
        }
        auto h = inline_value(rest, j);
        if (!h) {
            return h.error();
        }
        record(*h);
        std::size_t after = j + 1;
        if (*h == holds::block_scalar) {
            auto end = block_scalar(j, c);
            if (!end) {
                return end.error();
            }
            after = *end;
        }
        const std::size_t next = next_content(after);
        if (next < n_ && indent(next) > c) {
            return fail(next, "below '" + v.l.key + "' (line " + std::to_string(j + 1) +
                                  "), which has its value on its line; a value over several "
                                  "lines is not supported, write it on one line");
        }
        return next;
    }

    // A block map whose first key is `first`; returns the first line after it.
    expected<std::size_t> map(view first) {
        const int c = first.l.indent;
        const std::size_t first_line = first.line;
        std::map<std::string, std::size_t> seen;
        view v = std::move(first);
        for (;;) {
            if (auto bad = check_key(v)) {
                return *bad;
            }
            if (const auto [it, fresh] = seen.emplace(v.l.key, v.line); !fresh) {
                return fail(v.line, "the key '" + v.l.key +
                                        "' a second time in its map (first "
                                        "on line " +
                                        std::to_string(it->second + 1) + ")");
            }
            auto after = entry_value(v, c);
            if (!after) {
                return after;
            }
            const std::size_t j = *after;
            if (j == n_ || indent(j) < c) {
                return j;
            }
            const std::string where =
                "the map that starts on line " + std::to_string(first_line + 1);
            if (indent(j) > c) {
                return fail(j, "indented deeper than the keys of " + where +
                                   " but not lined up with the keys below '" + v.l.key + "'");
            }
            if (p_.info[j].k == kind::sequence_item) {
                return fail(j, "a list item among the keys of " + where);
            }
            if (p_.info[j].k != kind::key) {
                return not_a_node(j, "neither a key nor a list item among the keys of " + where);
            }
            v = whole(j);
        }
    }

    // A block list whose first item is on line `first`; returns the first line after it.
    expected<std::size_t> list(std::size_t first) {
        const int c = indent(first);
        std::size_t j = first;
        for (;;) {
            const view v = item(j);
            std::size_t next = 0;
            if (v.l.k == kind::trivia) {  // "-" alone: the item's node is below it, or null
                next = next_content(j + 1);
                if (next < n_ && indent(next) > c) {
                    auto end = node(next);
                    if (!end) {
                        return end;
                    }
                    next = *end;
                }
            } else if (v.l.k == kind::key) {
                auto end = map(v);
                if (!end) {
                    return end;
                }
                next = *end;
            } else if (v.l.k == kind::sequence_item) {
                return fail(j,
                            "a list inside a list item on the same line ('- - …'); this "
                            "editor does not support it");
            } else {
                const std::string_view rest =
                    std::string_view(p_.lines[j].body).substr(static_cast<std::size_t>(v.l.indent));
                auto h = inline_value(rest, j);
                if (!h) {
                    return h.error();
                }
                if (*h == holds::block_scalar) {
                    return fail(j,
                                "a block scalar (| or >) as a list item; this editor does not "
                                "support it");
                }
                next = next_content(j + 1);
                if (next < n_ && indent(next) > c) {
                    return fail(next, "below the list item on line " + std::to_string(j + 1) +
                                          "; a value over several lines is not supported");
                }
            }
            if (next == n_ || indent(next) < c) {
                return next;
            }
            if (indent(next) > c) {
                return fail(next, "indented deeper than the list that starts on line " +
                                      std::to_string(first + 1) + " but not lined up below it");
            }
            if (p_.info[next].k != kind::sequence_item) {
                if (p_.info[next].k == kind::key) {
                    return next;  // the map holding a list at its keys' column goes on
                }
                return not_a_node(next,
                                  "neither a list item nor a key after the list that "
                                  "starts on line " +
                                      std::to_string(first + 1));
            }
            j = next;
        }
    }

    parsed& p_;
    std::size_t n_;
};

expected<parsed> parse_lines(std::string_view input) {
    parsed p;
    p.lines = text::split(input);
    for (std::size_t i = 0; i < p.lines.size(); ++i) {
        if (auto bad = check_characters(p.lines[i].body, i)) {
            return *bad;
        }
        if (p.lines[i].eol == "\r") {
            // A line break to yaml-cpp too, but not to every reader; not worth modelling.
            return make_problem(static_cast<int>(i) + 1,
                                "a line ending in a lone carriage return; save the file with "
                                "\\n or \\r\\n line ends");
        }
        p.info.push_back(classify(p.lines[i].body));
    }
    if (auto bad = structure(p).check()) {
        return *bad;
    }
    return p;
}

// The indentation step of the file (smallest positive indent of a content line), default 2.
int indent_step(const parsed& p) {
    int step = 0;
    for (const auto& l : p.info) {
        if (l.k != kind::trivia && l.indent > 0 && (step == 0 || l.indent < step)) {
            step = l.indent;
        }
    }
    return step == 0 ? 2 : step;
}

// The end (exclusive) of the block owned by the key at `at`: the next content line indented no
// deeper than it.
std::size_t block_end(const parsed& p, std::size_t at, std::size_t limit) {
    for (std::size_t j = at + 1; j < limit; ++j) {
        if (p.info[j].k != kind::trivia && p.info[j].indent <= p.info[at].indent) {
            return j;
        }
    }
    return limit;
}

std::optional<problem> unsupported_value(const yline& l, std::size_t index, bool want_map,
                                         const std::string& key) {
    const int line = static_cast<int>(index) + 1;
    switch (l.value) {
        case holds::flow:
            return make_problem(line, "'" + key +
                                          "' is written in flow style ({…} or […]); rewrite it in "
                                          "block style (one key per line) so it can be edited");
        case holds::block_scalar:
            return make_problem(
                line, "'" + key + "' is a block scalar (| or >); give it a one-line value");
        case holds::list:
            return make_problem(line, "'" + key +
                                          "' holds a list; this editor changes maps and "
                                          "single values only");
        case holds::map:
            if (!want_map) {
                return make_problem(line, "'" + key + "' is a map; a single value was expected");
            }
            return std::nullopt;
        case holds::scalar:
            if (want_map) {
                return make_problem(line,
                                    "'" + key + "' holds a value, but keys are expected below it");
            }
            return std::nullopt;
        case holds::nothing:
            return std::nullopt;
    }
    return std::nullopt;
}

struct lookup {
    std::size_t begin = 0;  ///< range searched
    std::size_t end = 0;
    int parent_indent = -1;
    std::optional<std::size_t> found;  ///< the key line, if any
};

// Finds `key` among the direct children of the range (lines indented deeper than parent_indent).
expected<std::optional<std::size_t>> find_child(const parsed& p, const lookup& in,
                                                const std::string& key) {
    std::optional<int> child_indent;
    std::size_t first = 0;
    for (std::size_t j = in.begin; j < in.end; ++j) {
        const auto& l = p.info[j];
        if (l.k == kind::trivia) {
            continue;
        }
        if (child_indent && l.indent < *child_indent) {
            // "  a: 1\nb: 2": keys of one map that do not line up. yaml-cpp reads some of these,
            // but where a new key would belong is anybody's guess (found by the yaml_block
            // fuzzer: the key went under another one).
            return make_problem(static_cast<int>(j) + 1,
                                "indented less than line " + std::to_string(first + 1) +
                                    ", the first key of the same map; the keys of one map must "
                                    "line up");
        }
        if (!child_indent) {
            child_indent = l.indent;
            first = j;
            // "a:\n  text": the parent's value starts on the next line (a plain, quoted or flow
            // value; at the top, the document is one), so there is no map to look in or add to
            // (found by the yaml_block fuzzer).
            if (l.k == kind::other) {
                return make_problem(static_cast<int>(j) + 1,
                                    "a value where a map with '" + key + "' was expected");
            }
        }
        if (l.indent != *child_indent) {
            continue;
        }
        if (l.k == kind::other) {
            // Among the keys of a map, a line that is neither a key nor a list item (a scalar's
            // continuation cannot be there either): where a new key would go is unknowable.
            return make_problem(static_cast<int>(j) + 1,
                                "neither a key nor a list item among the keys of the map that "
                                "starts on line " +
                                    std::to_string(first + 1));
        }
        if (l.k == kind::sequence_item) {
            if (j == first) {
                return make_problem(static_cast<int>(j) + 1,
                                    "a list item where a map with '" + key + "' was expected");
            }
            continue;  // a list at the column of the key holding it ("key:" + "- item")
        }
        if (l.k == kind::key && l.key == key) {
            return std::optional<std::size_t>(j);
        }
    }
    return std::optional<std::size_t>();
}

}  // namespace

std::vector<std::string> split_path(std::string_view dotted) {
    std::vector<std::string> out;
    std::size_t start = 0;
    while (start <= dotted.size()) {
        const auto dot = dotted.find('.', start);
        out.emplace_back(
            dotted.substr(start, dot == std::string_view::npos ? dotted.npos : dot - start));
        if (dot == std::string_view::npos) {
            break;
        }
        start = dot + 1;
    }
    return out;
}

expected<std::optional<std::string>> get(std::string_view text,
                                         const std::vector<std::string>& path) {
    if (auto bad = unsupported_path(path)) {
        return *bad;
    }
    auto p = parse_lines(text);
    if (!p) {
        return p.error();
    }
    lookup in{0, p->lines.size(), -1, {}};
    for (std::size_t d = 0; d < path.size(); ++d) {
        auto found = find_child(*p, in, path[d]);
        if (!found) {
            return found.error();
        }
        if (!found->has_value()) {
            return std::optional<std::string>();
        }
        const std::size_t at = **found;
        const bool last = d + 1 == path.size();
        if (auto bad = unsupported_value(p->info[at], at, !last, path[d])) {
            return *bad;
        }
        if (last) {
            return std::optional<std::string>(decode_scalar(p->info[at].value_raw));
        }
        in = lookup{at + 1, block_end(*p, at, in.end), p->info[at].indent, {}};
    }
    return std::optional<std::string>();
}

expected<std::string> set(std::string_view input, const std::vector<std::string>& path,
                          std::string_view value) {
    if (auto bad = unsupported_path(path)) {
        return *bad;
    }
    auto pr = parse_lines(input);
    if (!pr) {
        return pr.error();
    }
    parsed& p = *pr;
    lookup in{0, p.lines.size(), -1, {}};
    std::size_t depth = 0;
    for (; depth < path.size(); ++depth) {
        auto found = find_child(p, in, path[depth]);
        if (!found) {
            return found.error();
        }
        if (!found->has_value()) {
            break;
        }
        const std::size_t at = **found;
        const bool last = depth + 1 == path.size();
        if (auto bad = unsupported_value(p.info[at], at, !last, path[depth])) {
            return *bad;
        }
        const std::size_t end = block_end(p, at, in.end);
        if (last) {
            if (end != at + 1) {
                for (std::size_t j = at + 1; j < end; ++j) {
                    if (p.info[j].k != kind::trivia) {
                        return make_problem(static_cast<int>(at) + 1,
                                            "'" + path[depth] +
                                                "' is a map or a multi-line value; a single value "
                                                "was expected");
                    }
                }
            }
            const yline& l = p.info[at];
            if (decode_scalar(l.value_raw) == value && !l.value_raw.empty() &&
                !is_null_word(l.value_raw)) {
                return std::string(input);
            }
            std::string& body = p.lines[at].body;
            std::string head = body.substr(0, l.value_at);
            if (l.value_raw.empty()) {
                // "key:" or "key: # comment" → "key: value # comment"
                head = body.substr(0, body.find(':', static_cast<std::size_t>(l.indent)) + 1) + ' ';
                std::string tail = l.tail;
                if (!tail.empty() && tail.front() != ' ') {
                    tail = ' ' + tail;
                }
                body = head + encode_scalar(value, l.value_raw) + tail;
            } else {
                body = head + encode_scalar(value, l.value_raw) + l.tail;
            }
            return text::join(p.lines);
        }
        in = lookup{at + 1, end, p.info[at].indent, {}};
    }
    // Insert the missing part of the path after the last content line of the parent's block
    // (comments that follow it stay with whatever comes next).
    const int step = indent_step(p);
    int indent = in.parent_indent < 0 ? 0 : in.parent_indent + step;
    for (std::size_t j = in.begin; j < in.end; ++j) {
        if (p.info[j].k != kind::trivia) {
            indent = p.info[j].indent;
            break;
        }
    }
    std::size_t insert_at = in.begin;
    if (in.parent_indent < 0) {
        insert_at = p.lines.size();
    } else {
        for (std::size_t j = in.begin; j < in.end; ++j) {
            if (p.info[j].k != kind::trivia) {
                insert_at = j + 1;
            }
        }
    }
    const std::string eol = text::dominant_eol(p.lines);
    std::vector<text::line> added;
    for (std::size_t d = depth; d < path.size(); ++d) {
        std::string body(static_cast<std::size_t>(indent), ' ');
        body += path[d] + ':';
        if (d + 1 == path.size()) {
            body += ' ' + encode_scalar(value, {});
        }
        added.push_back({body, eol});
        indent += step;
    }
    text::insert(p.lines, insert_at, std::move(added));
    return text::join(p.lines);
}

std::optional<problem> validate(std::string_view text, const std::vector<std::string>& path,
                                std::string_view value) {
    // A text yaml-cpp cannot get through (config/yaml_guard.hpp): YAML::Load would read it as
    // null and ignore the rest.
    if (const auto refused = config::check_loadable(text)) {
        return make_problem(refused->line, "invalid YAML: " + refused->message);
    }
    try {
        YAML::Node root = YAML::Load(std::string(text));
        if (path.empty()) {
            return std::nullopt;
        }
        // reset() rebinds; operator= would write into the document (a yaml-cpp trap).
        YAML::Node n;
        n.reset(root);
        for (const auto& key : path) {
            if (!n.IsMap()) {
                return make_problem(0, "after editing, '" + key + "' is not inside a map");
            }
            const YAML::Node& parent = n;
            n.reset(parent[key]);
        }
        if (!n.IsScalar() || n.as<std::string>() != value) {
            return make_problem(0, "after editing, yaml-cpp does not read back the value '" +
                                       std::string(value) + "'");
        }
        return std::nullopt;
    } catch (const YAML::Exception& e) {
        return make_problem(e.mark.is_null() ? 0 : e.mark.line + 1, "invalid YAML: " + e.msg);
    }
}

}  // namespace bcp::nodeconf::yaml_block
