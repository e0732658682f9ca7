#pragma once
// The one pipeline behind every `node` command (DESIGN.md §3a):
//   read the node's files → compute the desired content of every file in memory (pure editor
//   calls driven by the version profile) → plan prints diffs, check compares item by item,
//   apply hands the changes to transaction.hpp, revert replays the manifest.
// Nothing in this header writes to disk.

#include "core/origin.hpp"
#include "nodeconf/node_fs.hpp"
#include "nodeconf/problem.hpp"
#include "nodeconf/profile.hpp"
#include "nodeconf/version.hpp"

#include <functional>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace bcp::nodeconf {

/// What the operator typed (CLI flags), before validation.
struct request {
    std::string proxy_url;
    std::optional<std::string> node_url;     ///< default https://<FQDN of this machine>
    std::optional<std::string> node_id;      ///< default: first label of the node URL's host
    std::optional<std::string> bbb_version;  ///< default: detected
    std::string root = "/";
};

/// Validated input: every value the tool writes is derived from these (rule 3).
struct settings {
    origin proxy;
    origin node;
    std::string node_id;
    detected_version version;
    values vals;
};

/// This machine's fully qualified name (gethostname + canonical name lookup).
std::string machine_fqdn();

/// Checks the node id: [A-Za-z0-9._-]+, not "." or ".." (config::is_path_segment, as the proxy's
/// nodes[].id). Returns the problem, if any.
std::optional<problem> check_node_id(std::string_view id);

/// Validates the request and detects the version. `query` asks the package database.
expected<settings> resolve(const request& r, const node_fs& fs, const package_query& query);

/// One file the apply step must change.
struct file_change {
    std::string path;   ///< node path
    file_state before;  ///< as read
    bool remove = false;
    std::string after;  ///< content when !remove (always a regular file)
};

/// One row of `node check`.
struct item_status {
    const item* spec = nullptr;
    std::string file;
    bool ok = false;
    std::string expected;               ///< the desired value, in words
    std::optional<std::string> actual;  ///< the current value, when the editor can tell
    std::string fix;                    ///< what to run or edit
    std::string why;
};

struct computation {
    settings input;
    std::vector<file_change> changes;  ///< files whose content must change, in table order
    std::vector<item_status> items;
    std::vector<std::string> restarts;  ///< services, sorted
    bool daemon_reload = false;
    std::vector<std::string> notes;  ///< deliberate non-changes and warnings
};

/// Reads every file the profile names and computes the desired tree. `old_ids` are node ids of
/// earlier applies (from the manifest) whose prefixes must be replaced rather than stacked.
/// Fails, naming file (and line, and the version assumed), on a missing BBB file or a file that
/// cannot be parsed or edited safely.
expected<computation> compute(const node_fs& fs, const settings& s,
                              const std::vector<std::string>& old_ids = {});

/// The `node plan` report: a header, one unified diff per file, notes, restarts.
std::string render_plan(const computation& c);

/// The `node check` checklist. `changed_since_apply` names files whose content differs from what
/// the last apply wrote (a package upgrade or a hand edit).
std::string render_check(const computation& c, const std::set<std::string>& changed_since_apply,
                         const std::string& command_line);

/// The summary line for headers: "BBB 2.7.3 (from …), node bbb-01 (https://…) behind https://…".
std::string describe(const settings& s);

}  // namespace bcp::nodeconf
