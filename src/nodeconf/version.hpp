#pragma once
// BBB versions: parsing ("2.7", "2.7.3", "3.0.28", "2.4.0-rc-1", dpkg's "1:2.7.3-2") and
// detection on a node (rule 7 of BBB-NODES.md: release file, then package versions, else refuse).

#include "nodeconf/node_fs.hpp"
#include "nodeconf/problem.hpp"

#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace bcp::nodeconf {

struct bbb_version {
    int major = 0;
    int minor = 0;
    std::optional<int> patch;  ///< unknown when given as "3.0"
    std::string text;          ///< as found, for messages

    /// "2.7"
    std::string series() const { return std::to_string(major) + "." + std::to_string(minor); }
    /// A comparable number; an unknown patch level counts as the newest of its series, so rows
    /// for "3.0.28 and later" apply (see profile.cpp for why that is safe).
    int ordinal() const { return (major * 100 + minor) * 1000 + patch.value_or(999); }
};

/// Parses a version string. Fails on anything without "major.minor".
expected<bbb_version> parse_version(std::string_view text);

/// Whether the configurator knows this series (2.4, 2.5, 2.6, 2.7, 3.0).
bool supported(const bbb_version& v);

struct detected_version {
    bbb_version version;
    std::string source;  ///< "--bbb-version", "/etc/bigbluebutton/bigbluebutton-release",
                         ///< "dpkg-query bbb-html5"
};

/// Asks the package database; returns the version string of `package` or nullopt. Injected so
/// tests never run dpkg-query.
using package_query = std::function<std::optional<std::string>(const std::string& package)>;

/// The default package_query: `dpkg-query -W -f='${Version}' <package>`.
std::optional<std::string> dpkg_query(const std::string& package);

/// Detection order: `override_text` (--bbb-version), the release file under the root, then
/// `query` (only consulted when the root is "/": another root's packages are not ours to ask).
/// Unknown or unsupported versions are refused with a message that names --bbb-version.
expected<detected_version> detect_version(const node_fs& fs,
                                          const std::optional<std::string>& override_text,
                                          const package_query& query);

}  // namespace bcp::nodeconf
