#include "nodeconf/systemd_dropin.hpp"

#include "nodeconf/text.hpp"

#include <algorithm>

namespace bcp::nodeconf::dropin {
namespace {

struct assignment {
    std::size_t begin = 0;  ///< span in the line body
    std::size_t end = 0;
    std::string var;
    std::string value;
};

struct env_line {
    std::size_t line = 0;
    std::vector<assignment> assignments;
};

// Parses the value part of `Environment=` (systemd splits on whitespace and honours quotes).
std::vector<assignment> parse_assignments(std::string_view body, std::size_t from) {
    std::vector<assignment> out;
    std::size_t i = from;
    while (i < body.size()) {
        while (i < body.size() && (body[i] == ' ' || body[i] == '\t')) {
            ++i;
        }
        if (i >= body.size()) {
            break;
        }
        assignment a;
        a.begin = i;
        std::string word;
        while (i < body.size() && body[i] != ' ' && body[i] != '\t') {
            const char c = body[i];
            if (c == '"' || c == '\'') {
                ++i;
                while (i < body.size() && body[i] != c) {
                    if (body[i] == '\\' && i + 1 < body.size()) {
                        ++i;
                    }
                    word += body[i++];
                }
                ++i;  // closing quote (or past the end)
                continue;
            }
            word += c;
            ++i;
        }
        a.end = std::min(i, body.size());
        const auto eq = word.find('=');
        a.var = word.substr(0, eq);
        a.value = eq == std::string::npos ? "" : word.substr(eq + 1);
        out.push_back(std::move(a));
    }
    return out;
}

std::string encode(std::string_view var, std::string_view value) {
    const std::string plain = std::string(var) + "=" + std::string(value);
    if (plain.find_first_of(" \t\"'\\") == std::string::npos) {
        return plain;
    }
    std::string out = "\"";
    for (const char c : plain) {
        if (c == '"' || c == '\\') {
            out += '\\';
        }
        out += c;
    }
    return out + "\"";
}

struct layout {
    std::vector<text::line> lines;
    std::optional<std::size_t> header;  ///< line of [section]
    std::size_t section_end = 0;        ///< first line after the section
    std::vector<env_line> env;          ///< Environment= lines inside the section
};

layout scan(std::string_view input, std::string_view section) {
    layout l;
    l.lines = text::split(input);
    bool inside = false;
    for (std::size_t i = 0; i < l.lines.size(); ++i) {
        const std::string_view body = text::trim_left(l.lines[i].body);
        if (!body.empty() && body.front() == '[') {
            const auto close = body.find(']');
            const std::string_view name =
                body.substr(1, close == body.npos ? body.npos : close - 1);
            if (inside) {
                l.section_end = i;
            }
            inside = name == section;
            if (inside) {
                l.header = i;
            }
            continue;
        }
        if (!inside || body.empty() || body.front() == '#' || body.front() == ';') {
            continue;
        }
        const auto eq = body.find('=');
        if (eq == body.npos || text::trim(body.substr(0, eq)) != "Environment") {
            continue;
        }
        const std::size_t offset = l.lines[i].body.size() - body.size();
        std::size_t from = offset + eq + 1;
        l.env.push_back({i, parse_assignments(l.lines[i].body, from)});
    }
    if (inside) {
        l.section_end = l.lines.size();
    }
    return l;
}

}  // namespace

std::optional<std::string> get_env(std::string_view text, std::string_view section,
                                   std::string_view var) {
    std::optional<std::string> found;
    for (const auto& e : scan(text, section).env) {
        for (const auto& a : e.assignments) {
            if (a.var == var) {
                found = a.value;
            }
        }
    }
    return found;
}

bool assigns_any(std::string_view text, std::string_view section,
                 const std::vector<std::string>& vars) {
    return std::any_of(vars.begin(), vars.end(),
                       [&](const std::string& v) { return get_env(text, section, v).has_value(); });
}

std::string set_env(std::string_view input, std::string_view section, std::string_view var,
                    std::string_view value) {
    // Already in effect (the last assignment wins): leave the file alone, even if earlier,
    // overridden assignments say otherwise (found by the systemd_dropin fuzzer).
    if (get_env(input, section, var) == std::string(value)) {
        return std::string(input);
    }
    layout l = scan(input, section);
    bool seen = false;
    for (const auto& e : l.env) {
        std::string& body = l.lines[e.line].body;
        // Replace from the right so earlier offsets stay valid.
        for (auto it = e.assignments.rbegin(); it != e.assignments.rend(); ++it) {
            if (it->var == var) {
                seen = true;
                if (it->value != value) {
                    body = body.substr(0, it->begin) + encode(var, value) + body.substr(it->end);
                }
            }
        }
    }
    if (seen) {
        return text::join(l.lines);
    }
    const std::string eol = text::dominant_eol(l.lines);
    const text::line added{"Environment=" + encode(var, value), eol};
    if (!l.header) {
        text::terminate_last(l.lines);
        if (!l.lines.empty() && !text::trim(l.lines.back().body).empty()) {
            l.lines.push_back({"", eol});
        }
        l.lines.push_back({"[" + std::string(section) + "]", eol});
        l.lines.push_back(added);
        return text::join(l.lines);
    }
    // After the last non-blank line of the section.
    std::size_t at = *l.header + 1;
    for (std::size_t i = *l.header + 1; i < l.section_end; ++i) {
        if (!text::trim(l.lines[i].body).empty()) {
            at = i + 1;
        }
    }
    text::insert(l.lines, at, {added});
    return text::join(l.lines);
}

std::string remove_env(std::string_view input, std::string_view section, std::string_view var) {
    layout l = scan(input, section);
    std::vector<std::size_t> drop;
    for (const auto& e : l.env) {
        std::string& body = l.lines[e.line].body;
        std::size_t kept = 0;
        for (auto it = e.assignments.rbegin(); it != e.assignments.rend(); ++it) {
            if (it->var == var) {
                std::size_t end = it->end;
                while (end < body.size() && (body[end] == ' ' || body[end] == '\t')) {
                    ++end;
                }
                body = body.substr(0, it->begin) + body.substr(end);
            } else {
                ++kept;
            }
        }
        if (kept == 0) {
            drop.push_back(e.line);
        } else {
            while (!body.empty() && (body.back() == ' ' || body.back() == '\t')) {
                body.pop_back();
            }
        }
    }
    for (auto it = drop.rbegin(); it != drop.rend(); ++it) {
        l.lines.erase(l.lines.begin() + static_cast<std::ptrdiff_t>(*it));
    }
    return text::join(l.lines);
}

}  // namespace bcp::nodeconf::dropin
