#include "nodeconf/yaml_block.hpp"

#include "config/yaml_guard.hpp"
#include "nodeconf/text.hpp"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>

namespace bcp::nodeconf::yaml_block {
namespace {

enum class kind { trivia, key, sequence_item, other };

// One physical line, classified. For `key` lines, `value_raw` is the text after "key:" up to an
// optional comment, and `tail` is what follows the value (spaces and comment), kept on rewrite.
struct yline {
    kind k = kind::trivia;
    int indent = 0;
    std::string key;
    std::size_t value_at = 0;  ///< offset of the value in body (after ':' and spaces)
    std::string value_raw;     ///< the value text, quotes included, comment excluded
    std::string tail;          ///< spaces + comment after the value
    bool open_quote = false;   ///< a quoted value that does not end on this line
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

yline classify(std::string_view body) {
    yline l;
    std::size_t i = 0;
    while (i < body.size() && body[i] == ' ') {
        ++i;
    }
    l.indent = static_cast<int>(i);
    const std::string_view rest = body.substr(i);
    if (rest.empty() || rest.front() == '#' || text::trim(rest).empty()) {
        return l;
    }
    // Document markers ("---" or "..." alone or followed by a space) and directives carry no
    // keys; "---key:" is a key (found by the yaml_block fuzzer).
    const auto marker = [&](std::string_view m) {
        return text::starts_with(rest, m) &&
               (rest.size() == m.size() || rest[m.size()] == ' ' || rest[m.size()] == '\t');
    };
    if (i == 0 && (marker("---") || marker("...") || rest.front() == '%')) {
        return l;
    }
    if (rest.front() == '-' && (rest.size() == 1 || rest[1] == ' ')) {
        l.k = kind::sequence_item;
        return l;
    }
    if (rest.front() == '[' || rest.front() == '{') {
        l.k = kind::other;  // a flow collection; a plain key cannot start with '[' or '{'
        return l;
    }
    if (rest.front() == '!' || rest.front() == '&' || rest.front() == '*' || rest.front() == '?') {
        // A tag, anchor, alias or complex key: node properties this editor does not model, so
        // the line counts as no key and a map holding it is refused (found by the fuzzer:
        // " ! b: |" is the key b to yaml-cpp, a new "b" beside it a duplicate).
        l.k = kind::other;
        return l;
    }
    // The key: quoted, or plain up to the first ": " / trailing ':'.
    std::size_t colon = std::string_view::npos;
    if (rest.front() == '"' || rest.front() == '\'') {
        const auto end = value_end(rest);
        if (end < rest.size() && rest[end] == ':') {
            const std::string_view q = rest.substr(1, end - 2);
            l.key = std::string(q);
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
    while (v < rest.size() && (rest[v] == ' ' || rest[v] == '\t')) {
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

bool is_simple_word(std::string_view v) {
    static constexpr std::string_view reserved[] = {"true", "false", "yes", "no", "on",
                                                    "off",  "null",  "y",   "n",  "~"};
    if (v.empty() || std::isdigit(static_cast<unsigned char>(v.front()))) {
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

expected<parsed> parse_lines(std::string_view input) {
    parsed p;
    p.lines = text::split(input);
    // Plain ints (-1 = none): std::optional here trips GCC 12's maybe-uninitialized under TSan.
    int last_key_indent = -1;      // the latest key line outside block scalars
    int block_scalar_indent = -1;  // inside a `|`/`>` value: its key's indent
    bool in_document = false;      // a content line or `---` was seen
    for (std::size_t i = 0; i < p.lines.size(); ++i) {
        const auto& body = p.lines[i].body;
        if (!body.empty() && body.front() == '\t') {
            return make_problem(static_cast<int>(i) + 1,
                                "indentation with a tab; YAML allows only spaces");
        }
        p.info.push_back(classify(body));
        const yline& l = p.info.back();
        if (l.k == kind::trivia && body.starts_with('%')) {
            if (in_document) {
                // Directives come before a document; yaml-cpp reads such a line as text
                // (found by the yaml_block fuzzer).
                return make_problem(static_cast<int>(i) + 1,
                                    "a line starting with '%' inside the document; YAML "
                                    "directives belong before it");
            }
        } else if (l.k == kind::trivia && body.starts_with("---")) {
            const auto after = text::trim(std::string_view(body).substr(3));
            if (in_document || (!after.empty() && after.front() != '#')) {
                // A second document, or a document that starts on its marker line: the editor
                // changes single-document files of keys only (found by the yaml_block fuzzer).
                return make_problem(static_cast<int>(i) + 1,
                                    in_document ? "a second YAML document; this editor changes "
                                                  "files of one document"
                                                : "content on the document marker line");
            }
            in_document = true;
        } else if (l.k == kind::trivia && body.starts_with("...")) {
            in_document = false;  // the document ended: directives of the next may follow
        } else if (l.k != kind::trivia) {
            in_document = true;
        }
        if (block_scalar_indent >= 0 && l.k != kind::trivia && l.indent <= block_scalar_indent) {
            block_scalar_indent = -1;  // the block scalar ended
        }
        if (block_scalar_indent < 0 && l.k != kind::trivia) {
            if (l.k == kind::other && last_key_indent >= 0 && l.indent <= last_key_indent) {
                // Not deeper than the key before it, so no continuation of that key's value;
                // yaml-cpp may still read it as one, across what an edit adds (found by the
                // yaml_block fuzzer).
                return make_problem(static_cast<int>(i) + 1,
                                    "neither a key nor a list item, and not indented below the "
                                    "key before it");
            }
            if (l.k == kind::key) {
                last_key_indent = l.indent;
                if (!l.value_raw.empty() &&
                    (l.value_raw.front() == '|' || l.value_raw.front() == '>')) {
                    block_scalar_indent = l.indent;  // its content lines are text, not YAML
                }
            } else if (l.k == kind::sequence_item) {
                last_key_indent = -1;
            }
        }
        if (p.info.back().open_quote) {
            // A quoted value over several lines (or never ended: yaml-cpp reads an unterminated
            // one at the end of the file) would swallow what is added after it; such scalars
            // are not modelled (found by the yaml_block fuzzer).
            return make_problem(static_cast<int>(i) + 1,
                                "a quoted value that does not end on its line; write it on one "
                                "line to let this editor change the file");
        }
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
    const std::string_view v = l.value_raw;
    const int line = static_cast<int>(index) + 1;
    if (v.empty()) {
        return std::nullopt;
    }
    const char c = v.front();
    if (c == '{' || c == '[') {
        return make_problem(line, "'" + key +
                                      "' is written in flow style ({…} or […]); rewrite it in "
                                      "block style (one key per line) so it can be edited");
    }
    if (c == '|' || c == '>') {
        return make_problem(line,
                            "'" + key + "' is a block scalar (| or >); give it a one-line value");
    }
    if (c == '&' || c == '*' || c == '!') {
        return make_problem(line, "'" + key + "' uses an anchor, alias or tag; edit it by hand");
    }
    if (want_map) {
        return make_problem(line, "'" + key + "' holds a value, but keys are expected below it");
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
            return make_problem(static_cast<int>(j) + 1,
                                "a list item where a map with '" + key + "' was expected");
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
            if (decode_scalar(l.value_raw) == value && !l.value_raw.empty()) {
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
