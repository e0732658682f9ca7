#pragma once
// Version profiles as data (DESIGN.md §3a): one table of items, each row readable next to the
// per-version table of BBB-NODES.md. An item names the file, the editor operation, the key and
// the desired value (a template), why it is needed and what must restart. The pipeline
// (pipeline.hpp) is the only code that interprets these rows.

#include "nodeconf/version.hpp"

#include <string>
#include <string_view>
#include <vector>

namespace bcp::nodeconf {

/// What an item does to its file. Each maps to one pure editor call in pipeline.cpp.
enum class action {
    property_set,             ///< properties: key = value
    property_remove,          ///< properties: drop key (leftover of another version)
    yaml_set,                 ///< block YAML: dotted key = value
    env_set,                  ///< env file: KEY="value"
    env_java_options,         ///< env file: merge the -D options of value into KEY
    env_java_options_remove,  ///< env file: take the -D options of value out of KEY
    dropin_env,               ///< systemd drop-in [Service]: Environment=KEY=value
    dropin_java_options,      ///< systemd drop-in [Service]: merge -D options into Environment KEY
    dropin_purge,           ///< delete drop-ins in directory `file` that assign a variable of `key`
    json_strings,           ///< JSON: top-level key = [value]
    nginx_prefix_in_place,  ///< nginx snippet edited in place: every location gets /{node}
    nginx_variable_in_place,  ///< nginx snippet edited in place: set $key 'value';
    nginx_overlay_html5,      ///< overlay section: prefixed copy of package snippet `key`
    nginx_overlay_variable,   ///< overlay section: set $key 'value'; (with its package snippet)
    nginx_locale_redirect,    ///< overlay section: the guest-lobby locale redirect
    nginx_include_default,    ///< include_default.nginx without the snippets we copied
};

/// Inclusive version range over bbb_version::ordinal().
struct version_range {
    int from;
    int to;
    bool contains(const bbb_version& v) const { return v.ordinal() >= from && v.ordinal() <= to; }
};

struct item {
    std::string_view id;  ///< stable name shown by plan/check ("web.client-url")
    version_range versions;
    std::string_view file;  ///< node path (a directory for dropin_purge)
    action act;
    std::string_view key;
    /// Template: {proxy} {proxy_host} {node} {node_url} {node_host}; see expand().
    std::string_view value;
    /// Service to restart after a change; "@html5-settings" = the reader of bbb-html5.yml.
    std::string_view restart;
    std::string_view why;
    /// The file belongs to a package and an upgrade replaces it: no upgrade-safe place exists on
    /// this version, so the edit is in place and `node check` is the guard (rule 1).
    bool package_owned = false;
};

/// A file that must exist on a node of this version before anything is planned.
struct required_file {
    version_range versions;
    std::string_view path;
    std::string_view what;
};

/// The items for `v`, in table order.
std::vector<const item*> items_for(const bbb_version& v);
std::vector<const required_file*> required_for(const bbb_version& v);

/// The values every template is filled from (rule 3: one input, consistent everywhere).
struct values {
    std::string proxy;       ///< "https://bbb-proxy.example.com"
    std::string proxy_host;  ///< "bbb-proxy.example.com" (with :port when not 443)
    std::string node;        ///< "bbb-01"
    std::string node_url;    ///< "https://bbb-01.example.com"
    std::string node_host;   ///< "bbb-01.example.com" (with :port when not 443)
};

std::string expand(std::string_view templ, const values& v);

/// The service behind "@html5-settings" etc. for this version.
std::string restart_service(std::string_view restart, const bbb_version& v);

/// Fixed paths the pipeline needs beyond the table.
namespace paths {
inline constexpr std::string_view overlay = "/etc/bigbluebutton/nginx/bbb-cluster.nginx";
inline constexpr std::string_view include_default =
    "/etc/bigbluebutton/nginx/include_default.nginx";
inline constexpr std::string_view package_snippets = "/usr/share/bigbluebutton/nginx";
inline constexpr std::string_view state_dir = "/var/lib/bbb-cluster-proxy";
}  // namespace paths

}  // namespace bcp::nodeconf
