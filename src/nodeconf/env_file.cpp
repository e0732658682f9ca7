#include "nodeconf/env_file.hpp"

#include "nodeconf/text.hpp"

#include <vector>

namespace bcp::nodeconf::env_file {
namespace {

struct assignment {
    std::size_t line = 0;
    std::size_t value_at = 0;  ///< offset of the value in the line body
    std::string value;         ///< decoded
    char quote = 0;
};

std::optional<assignment> parse_line(std::string_view body, std::string_view key) {
    std::string_view s = text::trim_left(body);
    if (s.empty() || s.front() == '#') {
        return std::nullopt;
    }
    if (text::starts_with(s, "export ")) {
        s = text::trim_left(s.substr(7));
    }
    const auto eq = s.find('=');
    if (eq == std::string_view::npos || s.substr(0, eq) != key) {
        return std::nullopt;
    }
    assignment a;
    a.value_at = body.size() - s.size() + eq + 1;
    std::string_view v = body.substr(a.value_at);
    if (!v.empty() && (v.front() == '"' || v.front() == '\'')) {
        a.quote = v.front();
        for (std::size_t i = 1; i < v.size() && v[i] != a.quote; ++i) {
            if (a.quote == '"' && v[i] == '\\' && i + 1 < v.size()) {
                ++i;
            }
            a.value += v[i];
        }
    } else {
        a.value = std::string(text::trim(v));
    }
    return a;
}

std::vector<assignment> find(const std::vector<text::line>& lines, std::string_view key) {
    std::vector<assignment> out;
    for (std::size_t i = 0; i < lines.size(); ++i) {
        if (auto a = parse_line(lines[i].body, key)) {
            a->line = i;
            out.push_back(*a);
        }
    }
    return out;
}

std::string encode(std::string_view value, char quote) {
    if (quote == '\'' && value.find('\'') == std::string_view::npos) {
        return "'" + std::string(value) + "'";
    }
    if (quote == 0 && value.find_first_of(" \t\"'\\$`#") == std::string_view::npos &&
        !value.empty()) {
        return std::string(value);
    }
    std::string out = "\"";
    for (const char c : value) {
        if (c == '"' || c == '\\' || c == '$' || c == '`') {
            out += '\\';
        }
        out += c;
    }
    return out + '"';
}

}  // namespace

std::optional<std::string> get(std::string_view text, std::string_view key) {
    const auto found = find(text::split(text), key);
    if (found.empty()) {
        return std::nullopt;
    }
    return found.back().value;
}

std::string set(std::string_view input, std::string_view key, std::string_view value) {
    auto lines = text::split(input);
    const auto found = find(lines, key);
    if (!found.empty()) {
        const assignment& a = found.back();
        if (a.value == value) {
            return std::string(input);
        }
        std::string& body = lines[a.line].body;
        body = body.substr(0, a.value_at) + encode(value, a.quote);
        return text::join(lines);
    }
    text::terminate_last(lines);
    lines.push_back({std::string(key) + "=" + encode(value, '"'), text::dominant_eol(lines)});
    return text::join(lines);
}

std::string remove(std::string_view input, std::string_view key) {
    auto lines = text::split(input);
    const auto found = find(lines, key);
    for (auto it = found.rbegin(); it != found.rend(); ++it) {
        lines.erase(lines.begin() + static_cast<std::ptrdiff_t>(it->line));
    }
    return text::join(lines);
}

}  // namespace bcp::nodeconf::env_file
