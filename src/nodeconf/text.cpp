#include "nodeconf/text.hpp"

#include <iterator>

namespace bcp::nodeconf::text {

std::vector<line> split(std::string_view text) {
    std::vector<line> out;
    std::size_t start = 0;
    for (std::size_t i = 0; i < text.size(); ++i) {
        if (text[i] == '\n' || text[i] == '\r') {
            std::size_t eol_len = 1;
            if (text[i] == '\r' && i + 1 < text.size() && text[i + 1] == '\n') {
                eol_len = 2;
            }
            out.push_back(
                {std::string(text.substr(start, i - start)), std::string(text.substr(i, eol_len))});
            i += eol_len - 1;
            start = i + 1;
        }
    }
    if (start < text.size()) {
        out.push_back({std::string(text.substr(start)), ""});
    }
    return out;
}

std::string join(const std::vector<line>& lines) {
    std::string out;
    for (const auto& l : lines) {
        out += l.body;
        out += l.eol;
    }
    return out;
}

std::string dominant_eol(const std::vector<line>& lines) {
    for (const auto& l : lines) {
        if (!l.eol.empty()) {
            return l.eol;
        }
    }
    return "\n";
}

void terminate_last(std::vector<line>& lines) {
    if (!lines.empty() && lines.back().eol.empty()) {
        lines.back().eol = dominant_eol(lines);
    }
}

void insert(std::vector<line>& lines, std::size_t at, std::vector<line> added) {
    if (added.empty()) {
        return;
    }
    if (at > 0 && lines[at - 1].eol.empty()) {
        lines[at - 1].eol = added.front().eol;
    }
    if (at < lines.size() && added.back().eol == "\r" && lines[at].body.empty() &&
        lines[at].eol == "\n") {
        added.back().eol = "\n";
    }
    lines.insert(lines.begin() + static_cast<std::ptrdiff_t>(at),
                 std::make_move_iterator(added.begin()), std::make_move_iterator(added.end()));
}

std::string_view trim_left(std::string_view s) {
    const auto at = s.find_first_not_of(" \t");
    return at == std::string_view::npos ? std::string_view{} : s.substr(at);
}

std::string_view trim(std::string_view s) {
    s = trim_left(s);
    const auto end = s.find_last_not_of(" \t");
    return end == std::string_view::npos ? std::string_view{} : s.substr(0, end + 1);
}

bool starts_with(std::string_view s, std::string_view prefix) {
    return s.substr(0, prefix.size()) == prefix;
}

std::vector<std::string> words(std::string_view s) {
    std::vector<std::string> out;
    std::size_t i = 0;
    while (i < s.size()) {
        while (i < s.size() && (s[i] == ' ' || s[i] == '\t')) {
            ++i;
        }
        const std::size_t start = i;
        while (i < s.size() && s[i] != ' ' && s[i] != '\t') {
            ++i;
        }
        if (i > start) {
            out.emplace_back(s.substr(start, i - start));
        }
    }
    return out;
}

}  // namespace bcp::nodeconf::text
