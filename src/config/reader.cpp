#include "config/reader.hpp"

#include "config/values.hpp"
#include "core/origin.hpp"
#include "core/text.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <filesystem>
#include <map>
#include <system_error>
#include <tuple>

namespace bcp::config {
namespace {

namespace fs = std::filesystem;

std::string in_quotes(std::string_view s) {
    return "'" + std::string(s) + "'";
}

// How a node that has the wrong shape looks, for "must be X, not Y" messages.
std::string describe(const YAML::Node& node) {
    if (node.IsMap()) {
        return "a map";
    }
    if (node.IsSequence()) {
        return "a list";
    }
    if (node.IsScalar()) {
        return "the value " + in_quotes(node.Scalar());
    }
    return "empty";
}

bool all_digits(std::string_view s) {
    return !s.empty() &&
           std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// Empty when `path` can be opened for reading, otherwise the reason in the OS's words.
std::string unreadable_reason(const std::string& path) {
    std::error_code ec;
    const auto status = fs::status(path, ec);
    if (ec) {
        return ec.message();
    }
    if (fs::is_directory(status)) {
        return "it is a directory, not a file";
    }
    // Opening is the only reliable readability test (access() ignores ACLs and capabilities).
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return std::generic_category().message(errno);
    }
    ::close(fd);
    return {};
}

std::string range_text(std::uint64_t min, std::uint64_t max) {
    return "a whole number from " + std::to_string(min) + " to " + std::to_string(max);
}

}  // namespace

std::string place::child_path(std::string_view key) const {
    return path.empty() ? std::string(key) : path + "." + std::string(key);
}

std::string place::item_path(std::size_t index) const {
    return path + "[" + std::to_string(index) + "]";
}

reader::reader(std::string source, std::string base_dir, bool check_files)
    : source_(std::move(source)),
      main_source_(source_),
      base_dir_(std::move(base_dir)),
      check_files_(check_files) {}

void reader::error(const place& at, std::string message) {
    error(at.where, at.path, std::move(message));
}

void reader::error(const location& where, std::string key, std::string message) {
    diagnostics_.push_back({where, std::move(key), std::move(message)});
}

location reader::locate(const YAML::Node& node) const {
    const YAML::Mark mark = node.Mark();
    if (mark.is_null() || mark.line < 0) {
        return {source_, 0, 0};
    }
    return {source_, mark.line + 1, mark.column + 1};
}

bool reader::read_map(const YAML::Node& node, const place& at, std::span<const field> fields) {
    if (node.IsNull()) {
        // "timeouts:" with every entry commented out means "all defaults", not an error.
        read_map(YAML::Node(YAML::NodeType::Map), at, fields);
        return true;
    }
    if (!node.IsMap()) {
        error(at, "must be a map of 'key: value' entries, not " + describe(node));
        return false;
    }
    std::vector<std::string_view> names;
    for (const field& f : fields) {
        names.push_back(f.name);
    }
    std::map<std::string_view, int> first_line;  // key -> line of its first occurrence
    for (auto it = node.begin(); it != node.end(); ++it) {
        // Copies, not references: `it->` yields a temporary pair in yaml-cpp. Nodes are handles.
        const YAML::Node key = it->first;
        const YAML::Node value = it->second;
        const location key_where = locate(key);
        if (!key.IsScalar()) {
            error(key_where, at.path, "a key must be a plain name, not " + describe(key));
            continue;
        }
        const std::string& name = key.Scalar();
        const auto f = std::find_if(fields.begin(), fields.end(),
                                    [&](const field& x) { return x.name == name; });
        if (f == fields.end()) {
            const std::string_view suggestion = suggest_key(name, names);
            std::string message = "unknown key " + in_quotes(name);
            if (!suggestion.empty()) {
                message += "; did you mean " + in_quotes(suggestion) + "?";
            } else {
                message += "; the keys allowed here are ";
                for (std::size_t i = 0; i < names.size(); ++i) {
                    message += (i == 0 ? "" : ", ") + std::string(names[i]);
                }
            }
            error(key_where, at.child_path(name), std::move(message));
            continue;
        }
        const auto [first, inserted] = first_line.emplace(f->name, key_where.line);
        if (!inserted) {
            // yaml-cpp keeps both entries and lookups would silently take the first one.
            error(key_where, at.child_path(name),
                  "duplicate key " + in_quotes(name) + " (first on line " +
                      std::to_string(first->second) + "); keep only one of them");
            continue;
        }
        // An empty value's own mark is the position of the next token, often on another line.
        const location value_where = value.IsNull() ? key_where : locate(value);
        f->read(value, place{at.child_path(name), value_where});
    }
    for (const field& f : fields) {
        if (f.required && !first_line.contains(f.name)) {
            std::string message = "missing required key " + in_quotes(f.name);
            if (!f.missing_hint.empty()) {
                message += "; " + std::string(f.missing_hint);
            }
            error(at.where, at.child_path(f.name), std::move(message));
        }
    }
    return true;
}

std::optional<std::size_t> reader::read_list(const YAML::Node& node, const place& at,
                                             std::string_view what, const item_reader& read_item) {
    if (node.IsNull()) {
        return 0;
    }
    if (!node.IsSequence()) {
        error(at, "must be a list of " + std::string(what) + " ('- ' items or [a, b]), not " +
                      describe(node));
        return std::nullopt;
    }
    std::size_t index = 0;
    for (const YAML::Node& item : node) {
        // An empty item ("- " alone) has no position of its own; point at the list instead.
        const location where = item.IsNull() ? at.where : locate(item);
        read_item(item, place{at.item_path(index), where});
        ++index;
    }
    return index;
}

std::optional<std::string> reader::scalar(const YAML::Node& node, const place& at,
                                          std::string_view expected) {
    if (node.IsScalar()) {
        return node.Scalar();
    }
    if (node.IsNull()) {
        error(at, "has no value; give " + std::string(expected));
    } else {
        error(at, "must be " + std::string(expected) + ", not " + describe(node));
    }
    return std::nullopt;
}

std::optional<bool> reader::boolean(const YAML::Node& node, const place& at) {
    const auto text = scalar(node, at, "true or false");
    if (!text) {
        return std::nullopt;
    }
    const std::string value = ascii_lower(*text);
    if (value == "true" || value == "false") {
        return value == "true";
    }
    error(at, in_quotes(*text) + " is not a boolean; write true or false");
    return std::nullopt;
}

std::optional<std::uint64_t> reader::whole_number(const YAML::Node& node, const place& at,
                                                  std::uint64_t min, std::uint64_t max) {
    const auto text = scalar(node, at, range_text(min, max));
    if (!text) {
        return std::nullopt;
    }
    if (text->starts_with('-') && all_digits(text->substr(1))) {
        error(at, in_quotes(*text) + " is negative; give " + range_text(min, max));
        return std::nullopt;
    }
    if (!all_digits(*text)) {
        error(at, in_quotes(*text) + " is not a whole number; give " + range_text(min, max) +
                      " (plain digits, no units or separators)");
        return std::nullopt;
    }
    // 19 digits or fewer cannot overflow 64 bits; anything longer is out of range anyway.
    const std::uint64_t value = text->size() > 19 ? max + 1 : std::stoull(*text);
    if (value < min || value > max) {
        error(at, in_quotes(*text) + " is out of range; give " + range_text(min, max));
        return std::nullopt;
    }
    return value;
}

std::optional<std::chrono::milliseconds> reader::duration(const YAML::Node& node, const place& at,
                                                          bool zero_allowed) {
    const auto text = scalar(node, at, "a duration such as 250ms, 10s, 2m or 1h");
    if (!text) {
        return std::nullopt;
    }
    auto parsed = parse_duration(*text);
    if (!parsed.ok()) {
        error(at, std::move(parsed.message));
        return std::nullopt;
    }
    if (parsed.value->count() == 0 && !zero_allowed) {
        error(at, "a timeout of 0 would expire at once; give a positive duration such as 10s");
        return std::nullopt;
    }
    return parsed.value;
}

std::optional<reader::written_origin> reader::origin_url(const YAML::Node& node, const place& at,
                                                         std::string_view example) {
    const auto text = scalar(node, at, "an origin such as " + std::string(example));
    if (!text) {
        return std::nullopt;
    }
    auto parsed = parse_origin(*text);
    if (!parsed.value) {
        error(at, std::move(parsed.message));
        return std::nullopt;
    }
    return written_origin{*text, *parsed.value};
}

std::optional<std::string> reader::file(const YAML::Node& node, const place& at,
                                        std::string_view what) {
    const auto text = scalar(node, at, "the path of the " + std::string(what) + " file");
    if (!text) {
        return std::nullopt;
    }
    if (text->empty()) {
        error(at, "is empty; give the path of the " + std::string(what) + " file");
        return std::nullopt;
    }
    const fs::path written(*text);
    std::error_code ec;
    fs::path resolved =
        written.is_absolute() ? written : fs::absolute(fs::path(base_dir_) / written, ec);
    if (ec) {
        error(at, "cannot resolve " + in_quotes(*text) + ": " + ec.message());
        return std::nullopt;
    }
    resolved = resolved.lexically_normal();
    if (check_files_) {
        const std::string reason = unreadable_reason(resolved.string());
        if (!reason.empty()) {
            std::string message = "cannot read the " + std::string(what) + " file " +
                                  in_quotes(resolved.string()) + ": " + reason;
            if (!written.is_absolute()) {
                message += " (relative paths are resolved against " + in_quotes(base_dir_) +
                           ", the config file's directory)";
            }
            error(at, std::move(message));
            return std::nullopt;
        }
    }
    return resolved.string();
}

std::string reader::resolve(std::string_view written) const {
    const fs::path p(written);
    if (p.is_absolute()) {
        return p.lexically_normal().string();
    }
    return (fs::path(base_dir_) / p).lexically_normal().string();
}

std::string reader::switch_source(std::string source) {
    return std::exchange(source_, std::move(source));
}

std::vector<diagnostic> reader::take_diagnostics() {
    // Source order reads like a compiler's output; stable so one position keeps discovery order.
    std::map<std::string, std::size_t> file_rank{{main_source_, 0}};
    for (const diagnostic& d : diagnostics_) {
        file_rank.emplace(d.where.file, file_rank.size());
    }
    std::stable_sort(diagnostics_.begin(), diagnostics_.end(),
                     [&](const diagnostic& a, const diagnostic& b) {
                         return std::tuple(file_rank[a.where.file], a.where.line, a.where.column) <
                                std::tuple(file_rank[b.where.file], b.where.line, b.where.column);
                     });
    return std::exchange(diagnostics_, {});
}

}  // namespace bcp::config
