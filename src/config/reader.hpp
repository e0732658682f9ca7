#pragma once
// The generic half of the loader: reads YAML nodes into typed values while collecting every
// diagnostic (maps checked against a table of allowed keys, lists, scalars of each kind, file
// paths). config.cpp holds the schema of the proxy configuration on top of it. Internal to the
// config module; nothing here throws for bad input.

#include "config/config.hpp"

#include <yaml-cpp/yaml.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace bcp::config {

/// Where a value sits: its dotted key path ("nodes[1].url") and the position diagnostics point at.
struct place {
    std::string path;
    location where;

    std::string child_path(std::string_view key) const;
    std::string item_path(std::size_t index) const;
};

class reader {
  public:
    using item_reader = std::function<void(const YAML::Node& value, const place& at)>;

    /// One allowed key of a map and what to do with its value.
    struct field {
        std::string_view name;
        bool required = false;
        item_reader read;
        std::string_view missing_hint = {};  ///< how to add the key, for "missing required key"
    };

    /// Relative file paths are resolved against `base_dir`; `check_files` = false skips the
    /// existence and readability checks (the paths are still resolved).
    reader(std::string source, std::string base_dir, bool check_files);

    void error(const place& at, std::string message);
    void error(const location& where, std::string key, std::string message);
    /// The 1-based position of `node` in the source, or line 0 when yaml-cpp has none.
    location locate(const YAML::Node& node) const;

    /// Reads a map against its table of allowed keys: calls each field's reader with the value's
    /// place, and reports unknown keys (with a suggestion), duplicate keys and missing required
    /// keys. A key without a value (null) reads as an empty map. False when `node` is not a map.
    bool read_map(const YAML::Node& node, const place& at, std::span<const field> fields);

    /// Calls `read_item` for each element of a list. A null value reads as an empty list.
    /// Returns the number of elements, or nullopt (with a diagnostic) when `node` is not a list.
    std::optional<std::size_t> read_list(const YAML::Node& node, const place& at,
                                         std::string_view what, const item_reader& read_item);

    /// The text of a scalar; `expected` describes a valid value for the message otherwise.
    std::optional<std::string> scalar(const YAML::Node& node, const place& at,
                                      std::string_view expected);
    /// true or false (any letter case).
    std::optional<bool> boolean(const YAML::Node& node, const place& at);
    /// A whole number in [min, max], written as plain decimal digits.
    std::optional<std::uint64_t> whole_number(const YAML::Node& node, const place& at,
                                              std::uint64_t min, std::uint64_t max);
    /// A duration (see parse_duration); zero only when `zero_allowed`.
    std::optional<std::chrono::milliseconds> duration(const YAML::Node& node, const place& at,
                                                      bool zero_allowed);
    /// An origin as written and parsed (see parse_origin); `example` shows a valid one.
    struct written_origin {
        std::string text;
        origin value;
    };
    std::optional<written_origin> origin_url(const YAML::Node& node, const place& at,
                                             std::string_view example);
    /// A file path resolved to an absolute path against the base directory; when checking files,
    /// the file must exist and be readable. `what` names the file in messages ("certificate").
    std::optional<std::string> file(const YAML::Node& node, const place& at, std::string_view what);

    /// A path made absolute against the base directory (not checked; for files we create).
    std::string resolve(std::string_view written) const;
    bool checks_files() const { return check_files_; }

    const std::string& source() const { return source_; }
    /// Makes `source` the file that positions and diagnostics name from now on (a nodes_dir file
    /// read with the same reader); returns the previous one.
    std::string switch_source(std::string source);
    /// Every diagnostic so far: the main file's first, then each other file's in the order they
    /// were first reported; within a file, in source order (line, then column).
    std::vector<diagnostic> take_diagnostics();

  private:
    std::string source_;
    std::string main_source_;
    std::string base_dir_;
    bool check_files_;
    std::vector<diagnostic> diagnostics_;
};

}  // namespace bcp::config
