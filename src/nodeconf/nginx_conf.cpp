#include "nodeconf/nginx_conf.hpp"

#include <algorithm>
#include <cctype>

namespace bcp::nodeconf::nginx {
namespace {

enum class tk { word, semicolon, open, close };

struct lexeme {
    tk kind = tk::word;
    token t;
};

bool is_space(char c) {
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

// Tokenizes like ngx_conf_read_token: comments start only where a token could start, a word
// ends at whitespace or ; { } (except `${` inside a word), quoted strings honour backslashes.
expected<std::vector<lexeme>> lex(std::string_view s) {
    std::vector<lexeme> out;
    int line = 1;
    std::size_t i = 0;
    while (i < s.size()) {
        const char c = s[i];
        if (c == '\n') {
            ++line;
            ++i;
            continue;
        }
        if (is_space(c)) {
            ++i;
            continue;
        }
        if (c == '#') {
            while (i < s.size() && s[i] != '\n') {
                ++i;
            }
            continue;
        }
        lexeme l;
        l.t.begin = i;
        l.t.line = line;
        if (c == ';' || c == '{' || c == '}') {
            l.kind = c == ';' ? tk::semicolon : c == '{' ? tk::open : tk::close;
            l.t.raw = std::string(1, c);
            l.t.value = l.t.raw;
            l.t.end = i + 1;
            out.push_back(std::move(l));
            ++i;
            continue;
        }
        if (c == '"' || c == '\'') {
            const int start_line = line;
            std::size_t j = i + 1;
            std::string value;
            for (; j < s.size() && s[j] != c; ++j) {
                if (s[j] == '\\' && j + 1 < s.size() &&
                    (s[j + 1] == c || s[j + 1] == '\\' || s[j + 1] == '"' || s[j + 1] == '\'')) {
                    ++j;
                } else if (s[j] == '\n') {
                    ++line;
                }
                value += s[j];
            }
            if (j >= s.size()) {
                return make_problem(start_line, "unterminated quoted string");
            }
            l.t.quote = c;
            l.t.end = j + 1;
            l.t.raw = std::string(s.substr(i, l.t.end - i));
            l.t.value = std::move(value);
            out.push_back(std::move(l));
            i = j + 1;
            continue;
        }
        std::size_t j = i;
        while (j < s.size()) {
            const char d = s[j];
            if (d == '\\' && j + 1 < s.size()) {
                j += 2;
                continue;
            }
            if (d == '$' && j + 1 < s.size() && s[j + 1] == '{') {
                const auto close = s.find('}', j);
                if (close == std::string_view::npos) {
                    return make_problem(line, "unterminated ${…} variable");
                }
                j = close + 1;
                continue;
            }
            if (is_space(d) || d == ';' || d == '{' || d == '}') {
                break;
            }
            ++j;
        }
        l.t.end = j;
        l.t.raw = std::string(s.substr(i, j - i));
        l.t.value = l.t.raw;
        out.push_back(std::move(l));
        i = j;
    }
    return out;
}

struct parser {
    const std::vector<lexeme>& lx;
    std::size_t pos = 0;

    // Parses directives until a '}' (when nested) or the end.
    expected<std::vector<directive>> block(bool nested, int open_line) {
        std::vector<directive> out;
        while (pos < lx.size()) {
            const lexeme& first = lx[pos];
            if (first.kind == tk::close) {
                if (!nested) {
                    return make_problem(first.t.line, "unexpected '}'");
                }
                return out;
            }
            if (first.kind != tk::word) {
                return make_problem(first.t.line, "unexpected '" + first.t.raw + "'");
            }
            directive d;
            d.begin = first.t.begin;
            d.line = first.t.line;
            while (pos < lx.size() && lx[pos].kind == tk::word) {
                d.words.push_back(lx[pos++].t);
            }
            if (pos >= lx.size()) {
                return make_problem(d.line, "directive '" + d.name() + "' has no ending ';'");
            }
            if (lx[pos].kind == tk::semicolon) {
                d.end = lx[pos++].t.end;
            } else if (lx[pos].kind == tk::open) {
                ++pos;
                d.block = true;
                auto children = block(true, d.line);
                if (!children) {
                    return children.error();
                }
                d.children = std::move(*children);
                if (pos >= lx.size()) {
                    return make_problem(d.line, "block '" + d.name() + "' is not closed with '}'");
                }
                d.end = lx[pos++].t.end;
            } else {
                return make_problem(lx[pos].t.line, "unexpected '}' after '" + d.name() + "'");
            }
            out.push_back(std::move(d));
        }
        if (nested) {
            return make_problem(open_line, "block is not closed with '}'");
        }
        return out;
    }
};

// A text replacement at byte offsets of the original.
struct splice {
    std::size_t begin;
    std::size_t end;
    std::string with;
};

std::string apply_splices(std::string_view text, std::vector<splice> edits) {
    std::sort(edits.begin(), edits.end(),
              [](const splice& a, const splice& b) { return a.begin < b.begin; });
    std::string out;
    std::size_t at = 0;
    for (const auto& e : edits) {
        out.append(text.substr(at, e.begin - at));
        out += e.with;
        at = e.end;
    }
    out.append(text.substr(at));
    return out;
}

// The characters of a node id (config::is_path_segment): upper case too, or a second prefixing
// of an id such as BBB-01 would not see the first and stack (found by the nginx_conf fuzzer).
bool is_id_char(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == '-';
}

constexpr std::string_view mount = "html5client";

// Length of an old node prefix "/<seg>" at the start of `p` (0 if none). A segment counts as a
// prefix when the mount follows it, or when it is a known earlier id.
std::size_t old_prefix_length(std::string_view p, std::string_view node_id,
                              const std::vector<std::string>& old_ids, bool regex) {
    if (p.empty() || p.front() != '/') {
        return 0;
    }
    std::size_t j = 1;
    std::string seg;
    while (j < p.size()) {
        if (regex && p[j] == '\\' && j + 1 < p.size() && p[j + 1] == '.') {
            seg += '.';
            j += 2;
        } else if (is_id_char(p[j])) {
            seg += p[j++];
        } else {
            break;
        }
    }
    if (seg.empty() || seg == mount || j >= p.size() || p[j] != '/') {
        return 0;
    }
    const std::string_view rest = p.substr(j + 1);
    const bool mount_follows = rest.substr(0, mount.size()) == mount &&
                               (rest.size() == mount.size() || !is_id_char(rest[mount.size()]));
    // The current id counts as known: prefixing twice must never stack.
    const bool known =
        seg == node_id || std::find(old_ids.begin(), old_ids.end(), seg) != old_ids.end();
    return mount_follows || known ? j : 0;
}

std::string regex_escape_id(std::string_view id) {
    std::string out;
    for (const char c : id) {
        if (c == '.') {
            out += '\\';
        }
        out += c;
    }
    return out;
}

std::string quote_value(std::string_view value, char quote) {
    std::string out(1, quote);
    for (const char c : value) {
        if (c == quote || c == '\\') {
            out += '\\';
        }
        out += c;
    }
    return out + quote;
}

// Splits a location's arguments into form and the token (plus offset inside its raw text) that
// holds the path/regex.
struct location_args {
    location_form form = location_form::prefix;
    const token* path_token = nullptr;
    std::size_t raw_offset = 0;  ///< where the path starts inside path_token->raw
};

expected<location_args> classify(const directive& d) {
    location_args a;
    const auto& w = d.words;
    if (w.size() == 3) {
        const std::string& mod = w[1].value;
        a.form = mod == "="    ? location_form::exact
                 : mod == "~"  ? location_form::regex
                 : mod == "~*" ? location_form::regex_caseless
                 : mod == "^~" ? location_form::prefix_no_regex
                               : location_form::named;
        if (a.form == location_form::named) {
            return make_problem(d.line, "unknown location modifier '" + mod + "'");
        }
        a.path_token = &w[2];
        a.raw_offset = w[2].quote ? 1 : 0;
        return a;
    }
    if (w.size() != 2) {
        return make_problem(d.line, "location needs one or two arguments");
    }
    a.path_token = &w[1];
    const std::string& v = w[1].value;
    const std::size_t q = w[1].quote ? 1 : 0;
    if (!v.empty() && v.front() == '@') {
        a.form = location_form::named;
    } else if (v.size() > 1 && v.front() == '=') {
        a.form = location_form::exact;
        a.raw_offset = q + 1;
    } else if (v.size() > 2 && v.compare(0, 2, "~*") == 0) {
        a.form = location_form::regex_caseless;
        a.raw_offset = q + 2;
    } else if (v.size() > 1 && v.front() == '~') {
        a.form = location_form::regex;
        a.raw_offset = q + 1;
    } else {
        a.raw_offset = q;
    }
    return a;
}

std::string path_of(const location_args& a) {
    const auto& raw = a.path_token->raw;
    const std::size_t tail = a.path_token->quote ? 1 : 0;
    return raw.substr(a.raw_offset, raw.size() - a.raw_offset - tail);
}

template <class F>
void for_each_location(const std::vector<directive>& ds, F&& f) {
    for (const auto& d : ds) {
        if (d.name() == "location" && d.block) {
            f(d);
        }
        if (d.block) {
            for_each_location(d.children, f);
        }
    }
}

}  // namespace

expected<config> parse(std::string_view text) {
    auto lx = lex(text);
    if (!lx) {
        return lx.error();
    }
    parser p{*lx};
    auto top = p.block(false, 0);
    if (!top) {
        return top.error();
    }
    return config{std::move(*top)};
}

expected<std::vector<location_info>> locations(std::string_view text) {
    auto cfg = parse(text);
    if (!cfg) {
        return cfg.error();
    }
    std::vector<location_info> out;
    std::optional<problem> bad;
    for_each_location(cfg->top, [&](const directive& d) {
        auto a = classify(d);
        if (!a) {
            bad = a.error();
            return;
        }
        out.push_back({a->form, path_of(*a), d.line});
    });
    if (bad) {
        return *bad;
    }
    return out;
}

expected<prefix_result> prefix_locations(std::string_view text, std::string_view node_id,
                                         const std::vector<std::string>& old_ids) {
    auto cfg = parse(text);
    if (!cfg) {
        return cfg.error();
    }
    prefix_result result;
    std::vector<splice> edits;
    std::optional<problem> bad;
    for_each_location(cfg->top, [&](const directive& d) {
        if (bad) {
            return;
        }
        auto a = classify(d);
        if (!a) {
            bad = a.error();
            return;
        }
        if (a->form == location_form::named) {
            return;  // @html5client is an internal target, not a URL path
        }
        const std::string path = path_of(*a);
        const bool regex =
            a->form == location_form::regex || a->form == location_form::regex_caseless;
        std::size_t insert_at = 0;  // offset in `path` where "/id" goes
        if (regex) {
            // An optional inline flag group such as (?i) may precede the anchor.
            if (path.size() > 2 && path.compare(0, 2, "(?") == 0) {
                const auto close = path.find(')');
                insert_at = close == std::string::npos ? 0 : close + 1;
            }
            if (insert_at >= path.size() || path[insert_at] != '^') {
                result.notes.push_back(
                    "line " + std::to_string(d.line) + ": regex location '" + path +
                    "' has no ^ anchor; left as is (it matches anywhere in the URI, so it also "
                    "matches the prefixed paths)");
                return;
            }
            ++insert_at;
            if (insert_at >= path.size() || path[insert_at] != '/') {
                bad = make_problem(d.line, "regex location '" + path +
                                               "': '^' is not followed by '/', so the node "
                                               "prefix has no safe place; rewrite it as ^/…");
                return;
            }
        } else if (path.empty() || path.front() != '/') {
            bad = make_problem(d.line, "location '" + path +
                                           "' does not start with '/'; cannot add the node prefix");
            return;
        }
        const std::string_view after = std::string_view(path).substr(insert_at);
        const std::size_t old = old_prefix_length(after, node_id, old_ids, regex);
        const std::string id = regex ? regex_escape_id(node_id) : std::string(node_id);
        std::string new_path =
            path.substr(0, insert_at) + "/" + id + std::string(after.substr(old));
        if (new_path == path) {
            return;
        }
        const token& t = *a->path_token;
        const std::size_t tail = t.quote ? 1 : 0;
        std::string raw =
            t.raw.substr(0, a->raw_offset) + new_path + t.raw.substr(t.raw.size() - tail);
        edits.push_back({t.begin, t.end, std::move(raw)});
    });
    if (bad) {
        return *bad;
    }
    result.text = apply_splices(text, std::move(edits));
    return result;
}

expected<std::optional<std::string>> get_variable(std::string_view text, std::string_view name) {
    auto cfg = parse(text);
    if (!cfg) {
        return cfg.error();
    }
    std::optional<std::string> found;
    const std::string var = "$" + std::string(name);
    for (const auto& d : cfg->top) {
        if (d.name() == "set" && !d.block && d.words.size() == 3 && d.words[1].value == var) {
            found = d.words[2].value;
        }
    }
    return found;
}

expected<std::string> set_variable(std::string_view text, std::string_view name,
                                   std::string_view value) {
    auto cfg = parse(text);
    if (!cfg) {
        return cfg.error();
    }
    const std::string var = "$" + std::string(name);
    std::vector<splice> edits;
    bool seen = false;
    for (const auto& d : cfg->top) {
        if (d.name() == "set" && !d.block && d.words.size() == 3 && d.words[1].value == var) {
            seen = true;
            const token& t = d.words[2];
            if (t.value != value) {
                edits.push_back({t.begin, t.end, quote_value(value, t.quote == '"' ? '"' : '\'')});
            }
        }
    }
    if (seen) {
        return apply_splices(text, std::move(edits));
    }
    std::string out(text);
    if (!out.empty() && out.back() != '\n') {
        out += '\n';
    }
    out += "set " + var + " " + quote_value(value, '\'') + ";\n";
    return out;
}

expected<std::vector<std::string>> includes(std::string_view text) {
    auto cfg = parse(text);
    if (!cfg) {
        return cfg.error();
    }
    std::vector<std::string> out;
    for (const auto& d : cfg->top) {
        if (d.name() == "include" && !d.block && d.words.size() == 2) {
            out.push_back(d.words[1].value);
        }
    }
    return out;
}

expected<std::string> inline_includes(
    std::string_view text,
    const std::function<std::optional<std::string>(const std::string&)>& resolve) {
    auto cfg = parse(text);
    if (!cfg) {
        return cfg.error();
    }
    std::vector<splice> edits;
    for (const auto& d : cfg->top) {
        if (d.name() != "include" || d.block || d.words.size() != 2) {
            continue;
        }
        const std::string& path = d.words[1].value;
        if (auto content = resolve(path)) {
            std::string with = "# begin of " + path + " (inlined)\n" + *content;
            if (!content->empty() && content->back() != '\n') {
                with += '\n';
            }
            with += "# end of " + path;
            edits.push_back({d.begin, d.end, std::move(with)});
        }
    }
    return apply_splices(text, std::move(edits));
}

expected<std::string> expand_includes(
    std::string_view text,
    const std::function<std::optional<std::vector<std::string>>(const std::string&)>& expand) {
    auto cfg = parse(text);
    if (!cfg) {
        return cfg.error();
    }
    std::vector<splice> edits;
    for (const auto& d : cfg->top) {
        if (d.name() != "include" || d.block || d.words.size() != 2) {
            continue;
        }
        if (auto list = expand(d.words[1].value)) {
            std::string with;
            for (std::size_t i = 0; i < list->size(); ++i) {
                with += (i == 0 ? "" : "\n") + std::string("include ") + (*list)[i] + ";";
            }
            if (list->empty()) {
                with = "# (nothing left to include from " + d.words[1].value + ")";
            }
            edits.push_back({d.begin, d.end, std::move(with)});
        }
    }
    return apply_splices(text, std::move(edits));
}

namespace {

std::string begin_marker(std::string_view name) {
    return "# BEGIN bbb-cluster-proxy: " + std::string(name) + "\n";
}
std::string end_marker(std::string_view name) {
    return "# END bbb-cluster-proxy: " + std::string(name) + "\n";
}

// The first occurrence of `marker` at or after `from` that starts a line, or npos. The same text
// inside a line (a comment quoting a marker) is not a marker; stopping at the first occurrence
// made upsert_section append a second section on every call (found by the nginx_conf fuzzer).
std::size_t find_marker(std::string_view text, std::string_view marker, std::size_t from = 0) {
    for (auto at = text.find(marker, from); at != std::string_view::npos;
         at = text.find(marker, at + 1)) {
        if (at == 0 || text[at - 1] == '\n') {
            return at;
        }
    }
    return std::string_view::npos;
}

}  // namespace

namespace {

// Where the section's begin and end markers are: the first end marker that has a begin marker
// before it, and the last begin marker before that end. A begin marker without an end (a section
// cut by hand) is left alone, so the section upsert_section appends after it is found next time
// instead of being merged with it (fuzz finding 21).
std::optional<std::pair<std::size_t, std::size_t>> find_section(std::string_view text,
                                                                std::string_view b,
                                                                std::string_view e) {
    for (auto stop = find_marker(text, e); stop != std::string_view::npos;
         stop = find_marker(text, e, stop + 1)) {
        auto best = std::string_view::npos;
        for (auto at = find_marker(text, b); at != std::string_view::npos && at + b.size() <= stop;
             at = find_marker(text, b, at + 1)) {
            best = at;
        }
        if (best != std::string_view::npos) {
            return std::pair{best, stop};
        }
    }
    return std::nullopt;
}

}  // namespace

std::optional<std::string> get_section(std::string_view text, std::string_view name) {
    const std::string b = begin_marker(name);
    const auto found = find_section(text, b, end_marker(name));
    if (!found) {
        return std::nullopt;
    }
    const auto [at, stop] = *found;
    return std::string(text.substr(at + b.size(), stop - at - b.size()));
}

std::string upsert_section(std::string_view text, std::string_view name, std::string_view content) {
    std::string body(content);
    if (!body.empty() && body.back() != '\n') {
        body += '\n';
    }
    const std::string b = begin_marker(name);
    const std::string e = end_marker(name);
    if (const auto found = find_section(text, b, e)) {
        const auto [at, stop] = *found;
        return std::string(text.substr(0, at + b.size())) + body + std::string(text.substr(stop));
    }
    std::string out(text);
    if (!out.empty() && out.back() != '\n') {
        out += '\n';
    }
    if (!out.empty()) {
        out += '\n';
    }
    return out + b + body + e;
}

}  // namespace bcp::nodeconf::nginx
