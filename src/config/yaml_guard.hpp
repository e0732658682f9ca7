#pragma once
// A guard in front of every yaml-cpp load (our configuration, and the node files the node
// configurator validates). yaml-cpp 0.7.0 (Debian 12) has a parser bug: when a document starts
// with a token no node can start with (a ',' outside [ ] or { }, e.g. a file starting ",a [b"),
// it returns an empty document without consuming that token, so YAML::LoadAll reads empty
// documents from the same place forever while its memory grows (gigabytes within seconds), and
// YAML::Load silently returns null for the whole file. check_loadable() finds such a place
// before the real load, so callers can refuse the text with its line instead.

#include <optional>
#include <string>
#include <string_view>

namespace bcp::config {

struct yaml_refusal {
    int line = 0;    ///< 1-based
    int column = 0;  ///< 1-based
    std::string message;
};

/// Runs yaml-cpp's own parser over `text` without building nodes and reports the first place
/// where a document would consume nothing (the bug above). Returns nullopt for every other text,
/// including text with YAML syntax errors: the real load reports those with yaml-cpp's message.
std::optional<yaml_refusal> check_loadable(std::string_view text);

}  // namespace bcp::config
