#include "nodeconf/json_file.hpp"

#include "nodeconf/text.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>

namespace bcp::nodeconf::json_file {
namespace {

using json = nlohmann::ordered_json;

expected<json> load(std::string_view text) {
    if (text::trim(text).find_first_not_of("\r\n") == std::string_view::npos) {
        return json::object();
    }
    try {
        json doc = json::parse(text);
        if (!doc.is_object()) {
            return make_problem(1, "the top level is not a JSON object");
        }
        return doc;
    } catch (const json::parse_error& e) {
        // byte is 1-based; count the newlines before it for the line number.
        const std::size_t upto = std::min<std::size_t>(e.byte, text.size());
        const int line =
            1 + static_cast<int>(std::count(
                    text.begin(), text.begin() + static_cast<std::ptrdiff_t>(upto), '\n'));
        std::string what = e.what();
        const auto colon = what.find("syntax error");
        return make_problem(
            line, "invalid JSON: " + (colon == std::string::npos ? what : what.substr(colon)));
    } catch (const json::exception& e) {
        // Well-formed but unrepresentable, e.g. a number overflowing a double ("1e999",
        // out_of_range.406). The message quotes the token: point at its line.
        std::string what = e.what();
        const auto close = what.rfind('\'');
        const auto open = close == std::string::npos ? close : what.rfind('\'', close - 1);
        int line = 1;
        if (open != std::string::npos) {
            const auto at = text.find(what.substr(open + 1, close - open - 1));
            if (at != std::string_view::npos) {
                line += static_cast<int>(
                    std::count(text.begin(), text.begin() + static_cast<std::ptrdiff_t>(at), '\n'));
            }
        }
        const auto bracket = what.find("] ");
        return make_problem(
            line,
            "invalid JSON: " + (bracket == std::string::npos ? what : what.substr(bracket + 2)));
    }
}

// The indentation of the first indented line; 2 spaces for a new or one-line file.
std::pair<int, char> detect_indent(std::string_view text) {
    for (const auto& l : text::split(text)) {
        if (!l.body.empty() && (l.body.front() == ' ' || l.body.front() == '\t')) {
            const char c = l.body.front();
            const auto n = l.body.find_first_not_of(c);
            return {static_cast<int>(n == std::string::npos ? l.body.size() : n), c};
        }
    }
    return {2, ' '};
}

}  // namespace

expected<std::optional<std::vector<std::string>>> get_strings(std::string_view text,
                                                              std::string_view key) {
    auto doc = load(text);
    if (!doc) {
        return doc.error();
    }
    const auto it = doc->find(std::string(key));
    if (it == doc->end() || !it->is_array()) {
        return std::optional<std::vector<std::string>>();
    }
    std::vector<std::string> out;
    for (const auto& v : *it) {
        if (!v.is_string()) {
            return std::optional<std::vector<std::string>>();
        }
        out.push_back(v.get<std::string>());
    }
    return std::optional<std::vector<std::string>>(std::move(out));
}

expected<std::string> set_strings(std::string_view text, std::string_view key,
                                  const std::vector<std::string>& values) {
    auto doc = load(text);
    if (!doc) {
        return doc.error();
    }
    const json wanted = values;
    const auto it = doc->find(std::string(key));
    if (it != doc->end() && *it == wanted) {
        return std::string(text);
    }
    (*doc)[std::string(key)] = wanted;
    const auto [width, ch] = detect_indent(text);
    std::string out = doc->dump(width, ch);
    const bool had_newline = text.empty() || text.back() == '\n';
    if (had_newline) {
        out += '\n';
    }
    return out;
}

}  // namespace bcp::nodeconf::json_file
