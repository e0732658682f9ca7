#include "nodeconf/pipeline.hpp"

#include "config/values.hpp"
#include "nodeconf/env_file.hpp"
#include "nodeconf/java_options.hpp"
#include "nodeconf/json_file.hpp"
#include "nodeconf/nginx_conf.hpp"
#include "nodeconf/properties.hpp"
#include "nodeconf/systemd_dropin.hpp"
#include "nodeconf/text.hpp"
#include "nodeconf/unified_diff.hpp"
#include "nodeconf/yaml_block.hpp"

#include <netdb.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <map>

namespace bcp::nodeconf {
namespace {

constexpr std::string_view overlay_header =
    "# Managed by bbb-cluster-proxy (`bbb-cluster-proxy node apply`): regenerated on every apply,\n"
    "# do not edit. `bbb-cluster-proxy node revert` removes it.\n";

constexpr std::string_view include_default_header =
    "# Managed by bbb-cluster-proxy: replaces the package's symlink to\n"
    "# /usr/share/bigbluebutton/include_default.nginx with the same includes minus the snippets\n"
    "# that bbb-cluster.nginx carries as edited copies (so their unprefixed originals are not\n"
    "# loaded). `bbb-cluster-proxy node revert` restores the symlink.\n";

constexpr std::string_view locale_section = "guest lobby locale redirect";
constexpr std::string_view html5_section_prefix = "prefixed copy of ";
constexpr std::string_view variable_section_prefix = "variables: ";

const std::string service_section = "Service";

std::string expand_item(std::string_view templ, const settings& s) {
    return expand(templ, s.vals);
}

// What the overlay file carries for this version, decided once so that the include_default item
// excludes exactly the snippets that bbb-cluster.nginx copies.
struct overlay_model {
    std::vector<std::string> copied;  ///< package snippets with an edited copy in the overlay
    /// overlay variable → package snippet that sets it (empty: no package default).
    std::map<std::string, std::string> variable_home;
};

struct context {
    const node_fs& fs;
    const settings& s;
    const std::vector<const item*>& items;
    const std::vector<std::string>& old_ids;
    overlay_model overlay;
    std::vector<std::string>* notes;  ///< null while checking (notes are collected once)
};

problem file_problem(const std::string& file, const problem& p, const settings& s) {
    problem out = p;
    if (out.file.empty()) {
        out.file = file;
    }
    out.message +=
        " (BBB " + s.version.version.series() + " assumed, from " + s.version.source + ")";
    return out;
}

expected<std::string> read_required(const context& ctx, const std::string& path,
                                    std::string_view what) {
    const auto st = ctx.fs.read(path);
    if (st.kind == entry_kind::file || (st.kind == entry_kind::symlink && !st.content.empty())) {
        return st.content;
    }
    return file_problem(path, make_problem(0, "missing (" + std::string(what) + ")"), ctx.s);
}

// --- nginx overlay (2.6+) ------------------------------------------------------------------------

expected<overlay_model> plan_overlay(const node_fs& fs, const settings& s,
                                     const std::vector<const item*>& items) {
    overlay_model m;
    std::vector<std::string> snippets;
    for (const auto& name : fs.list(paths::package_snippets, ".nginx")) {
        snippets.push_back(std::string(paths::package_snippets) + "/" + name);
    }
    for (const item* i : items) {
        if (i->act == action::nginx_overlay_html5) {
            m.copied.emplace_back(i->key);
        }
        if (i->act != action::nginx_overlay_variable) {
            continue;
        }
        std::string home;
        for (const auto& path : snippets) {
            const auto st = fs.read(path);
            auto value = nginx::get_variable(st.content, i->key);
            if (!value) {
                return file_problem(path, value.error(), s);
            }
            if (value->has_value()) {
                home = path;
            }
        }
        m.variable_home[std::string(i->key)] = home;
        if (!home.empty() && std::find(m.copied.begin(), m.copied.end(), home) == m.copied.end()) {
            m.copied.push_back(home);
        }
    }
    return m;
}

std::string with_overlay_header(std::string_view text) {
    return text.empty() ? std::string(overlay_header) : std::string(text);
}

expected<std::string> overlay_html5(const context& ctx, const item& it, std::string_view text) {
    const std::string source(it.key);
    auto original = read_required(ctx, source, "the html5 nginx snippet of bbb-html5");
    if (!original) {
        return original.error();
    }
    // 3.0's bbb-html5.nginx includes bbb-html5.nginx.static: inline such includes of package
    // files so that their locations get the prefix too.
    std::optional<problem> missing;
    auto inlined = nginx::inline_includes(
        *original, [&](const std::string& path) -> std::optional<std::string> {
            if (!text::starts_with(path, std::string(paths::package_snippets) + "/") ||
                path.find_first_of("*?[") != std::string::npos) {
                return std::nullopt;
            }
            const auto st = ctx.fs.read(path);
            if (st.kind != entry_kind::file) {
                missing = file_problem(
                    path, make_problem(0, "missing (included by " + source + ")"), ctx.s);
                return std::nullopt;
            }
            return st.content;
        });
    if (missing) {
        return *missing;
    }
    if (!inlined) {
        return file_problem(source, inlined.error(), ctx.s);
    }
    auto prefixed = nginx::prefix_locations(*inlined, ctx.s.node_id);
    if (!prefixed) {
        return file_problem(source, prefixed.error(), ctx.s);
    }
    if (ctx.notes != nullptr) {
        for (const auto& n : prefixed->notes) {
            ctx.notes->push_back(source + " " + n);
        }
    }
    return nginx::upsert_section(with_overlay_header(text),
                                 std::string(html5_section_prefix) + source, prefixed->text);
}

expected<std::string> overlay_variable(const context& ctx, const item& it, std::string_view text) {
    const std::string& home = ctx.overlay.variable_home.at(std::string(it.key));
    if (home.empty()) {
        const std::string content =
            "set $" + std::string(it.key) + " '" + expand_item(it.value, ctx.s) + "';\n";
        return nginx::upsert_section(with_overlay_header(text),
                                     std::string(variable_section_prefix) + std::string(it.key),
                                     content);
    }
    // The package snippet that sets the variable is copied whole (other directives kept) with
    // every overlay variable it sets changed: the original is excluded from include_default.
    auto content = read_required(ctx, home, "package nginx snippet");
    if (!content) {
        return content.error();
    }
    std::string copy = *content;
    for (const item* other : ctx.items) {
        if (other->act != action::nginx_overlay_variable ||
            ctx.overlay.variable_home.at(std::string(other->key)) != home) {
            continue;
        }
        auto edited = nginx::set_variable(copy, other->key, expand_item(other->value, ctx.s));
        if (!edited) {
            return file_problem(home, edited.error(), ctx.s);
        }
        copy = *edited;
    }
    return nginx::upsert_section(with_overlay_header(text), "copy of " + home, copy);
}

expected<std::string> include_default(const context& ctx, const item& it) {
    auto source = read_required(ctx, std::string(it.key), "the package's include_default.nginx");
    if (!source) {
        return source.error();
    }
    auto expanded = nginx::expand_includes(
        *source, [&](const std::string& pattern) -> std::optional<std::vector<std::string>> {
            const auto slash = pattern.rfind('/');
            if (slash == std::string::npos || pattern.compare(slash + 1, 1, "*") != 0) {
                return std::nullopt;
            }
            const std::string dir = pattern.substr(0, slash);
            const std::string suffix = pattern.substr(slash + 2);
            if (suffix.find_first_of("*?[") != std::string::npos) {
                return std::nullopt;
            }
            std::vector<std::string> out;
            for (const auto& name : ctx.fs.list(dir, suffix)) {
                const std::string path = dir + "/" + name;
                if (std::find(ctx.overlay.copied.begin(), ctx.overlay.copied.end(), path) ==
                    ctx.overlay.copied.end()) {
                    out.push_back(path);
                }
            }
            return out;
        });
    if (!expanded) {
        return file_problem(std::string(it.key), expanded.error(), ctx.s);
    }
    return std::string(include_default_header) + *expanded;
}

std::vector<std::string> section_names(std::string_view text) {
    constexpr std::string_view begin = "# BEGIN bbb-cluster-proxy: ";
    std::vector<std::string> out;
    for (std::size_t at = 0; (at = text.find(begin, at)) != std::string_view::npos;) {
        const auto eol = text.find('\n', at);
        out.emplace_back(text.substr(at + begin.size(), eol - at - begin.size()));
        at = eol;
    }
    return out;
}

// Drops sections an earlier apply (another version or node layout) left in the overlay.
std::string drop_stale_sections(std::string text, const std::set<std::string>& wanted) {
    constexpr std::string_view begin = "# BEGIN bbb-cluster-proxy: ";
    std::size_t at = 0;
    while ((at = text.find(begin, at)) != std::string::npos) {
        const auto eol = text.find('\n', at);
        const std::string name = text.substr(at + begin.size(), eol - at - begin.size());
        const std::string end = "# END bbb-cluster-proxy: " + name + "\n";
        const auto stop = text.find(end, eol);
        if (wanted.count(name) == 0 && stop != std::string::npos) {
            std::size_t from = at;
            if (from >= 2 && text[from - 1] == '\n' && text[from - 2] == '\n') {
                --from;  // the blank line upsert_section put before it
            }
            text.erase(from, stop + end.size() - from);
            at = from;
        } else {
            at = eol == std::string::npos ? text.size() : eol;
        }
    }
    return text;
}

// --- one item on one text: the whole interpretation of the profile table ------------------------

expected<std::string> edit(const context& ctx, const item& it, std::string_view text) {
    const std::string value = expand_item(it.value, ctx.s);
    const std::string key(it.key);
    switch (it.act) {
        case action::property_set: {
            auto doc = properties::parse(text);
            properties::set(doc, key, value);
            return properties::emit(doc);
        }
        case action::property_remove: {
            auto doc = properties::parse(text);
            properties::remove(doc, key);
            return properties::emit(doc);
        }
        case action::yaml_set:
            return yaml_block::set(text, yaml_block::split_path(key), value);
        case action::env_set:
            return env_file::set(text, key, value);
        case action::env_java_options: {
            const auto current = env_file::get(text, key).value_or("");
            return env_file::set(text, key, java_options::merge(current, value));
        }
        case action::env_java_options_remove: {
            const auto current = env_file::get(text, key);
            if (!current) {
                return std::string(text);
            }
            const auto rest = java_options::remove(*current, value);
            if (rest == *current) {
                return std::string(text);
            }
            return rest.empty() ? env_file::remove(text, key) : env_file::set(text, key, rest);
        }
        case action::dropin_env:
            return dropin::set_env(text, service_section, key, value);
        case action::dropin_java_options: {
            const auto current = dropin::get_env(text, service_section, key).value_or("");
            return dropin::set_env(text, service_section, key, java_options::merge(current, value));
        }
        case action::json_strings:
            return json_file::set_strings(text, key, {value});
        case action::nginx_prefix_in_place: {
            auto r = nginx::prefix_locations(text, ctx.s.node_id, ctx.old_ids);
            if (!r) {
                return r.error();
            }
            if (ctx.notes != nullptr) {
                for (const auto& n : r->notes) {
                    ctx.notes->push_back(std::string(it.file) + " " + n);
                }
            }
            return r->text;
        }
        case action::nginx_variable_in_place:
            return nginx::set_variable(text, key, value);
        case action::nginx_overlay_html5:
            return overlay_html5(ctx, it, text);
        case action::nginx_overlay_variable:
            return overlay_variable(ctx, it, text);
        case action::nginx_locale_redirect:
            return nginx::upsert_section(with_overlay_header(text), locale_section,
                                         "location = /html5client/locale {\n    return 301 /" +
                                             ctx.s.node_id + "$request_uri;\n}\n");
        case action::nginx_include_default:
            return include_default(ctx, it);
        case action::dropin_purge:
            break;  // multi-file; handled by compute()
    }
    return std::string(text);
}

// The current value as the editor reads it, for check output.
std::optional<std::string> actual_value(const item& it, std::string_view text) {
    const std::string key(it.key);
    switch (it.act) {
        case action::property_set:
        case action::property_remove:
            return properties::get(properties::parse(text), key);
        case action::yaml_set: {
            auto v = yaml_block::get(text, yaml_block::split_path(key));
            return v ? *v : std::nullopt;
        }
        case action::env_set:
        case action::env_java_options:
        case action::env_java_options_remove:
            return env_file::get(text, key);
        case action::dropin_env:
        case action::dropin_java_options:
            return dropin::get_env(text, service_section, key);
        case action::json_strings: {
            auto v = json_file::get_strings(text, key);
            if (!v || !v->has_value()) {
                return std::nullopt;
            }
            std::string out = "[";
            for (const auto& s : **v) {
                out += (out.size() > 1 ? ", \"" : "\"") + s + "\"";
            }
            return out + "]";
        }
        case action::nginx_variable_in_place: {
            auto v = nginx::get_variable(text, key);
            return v ? *v : std::nullopt;
        }
        default:
            return std::nullopt;
    }
}

// The desired state in words, and how to get there by hand.
std::pair<std::string, std::string> expectation(const item& it, const settings& s) {
    const std::string value = expand_item(it.value, s);
    const std::string key(it.key);
    const std::string file(it.file);
    switch (it.act) {
        case action::property_set:
            return {key + "=" + value, "set `" + key + "=" + value + "` in " + file};
        case action::property_remove:
            return {"no " + key, "delete the " + key + " line from " + file};
        case action::yaml_set:
            return {key + ": '" + value + "'", "set " + key + ": '" + value + "' in " + file};
        case action::env_set:
            return {key + "=\"" + value + "\"", "set " + key + "=\"" + value + "\" in " + file};
        case action::env_java_options:
            return {key + " contains " + value, "add `" + value + "` to " + key + " in " + file};
        case action::env_java_options_remove:
            return {key + " without the grails.cors options",
                    "remove the -Dgrails.cors.* options from " + key + " in " + file};
        case action::dropin_env:
            return {"Environment=" + key + "=" + value, "put `Environment=" + key + "=" + value +
                                                            "` under [Service] in " + file +
                                                            ", then systemctl daemon-reload"};
        case action::dropin_java_options:
            return {"Environment=\"" + key + "=… " + value + "\"",
                    "put `Environment=\"" + key + "=" + value + "\"` under [Service] in " + file +
                        ", then systemctl daemon-reload"};
        case action::dropin_purge:
            return {"no drop-in setting " + key, "delete the drop-ins in " + file + " that set " +
                                                     key + ", then systemctl daemon-reload"};
        case action::json_strings:
            return {key + ": [\"" + value + "\"]",
                    "set \"" + key + "\": [\"" + value + "\"] in " + file};
        case action::nginx_prefix_in_place:
            return {"every location prefixed with /" + s.node_id,
                    "prefix every location except @html5client with /" + s.node_id + " in " + file};
        case action::nginx_variable_in_place:
            return {"set $" + key + " '" + value + "';",
                    "write `set $" + key + " '" + value + "';` in " + file};
        case action::nginx_overlay_html5:
            return {"a copy of " + key + " with every location prefixed by /" + s.node_id,
                    "regenerate " + file};
        case action::nginx_overlay_variable:
            return {"set $" + key + " '" + value + "';", "regenerate " + file};
        case action::nginx_locale_redirect:
            return {"location = /html5client/locale { return 301 /" + s.node_id + "$request_uri; }",
                    "add that location to " + file};
        case action::nginx_include_default:
            return {"a file without the copied snippets (not the package symlink)",
                    "replace the symlink " + file + " by the generated file"};
    }
    return {};
}

bool is_dropin(const std::string& path) {
    return text::starts_with(path, "/etc/systemd/system/");
}

}  // namespace

std::string machine_fqdn() {
    char host[256] = {};
    if (::gethostname(host, sizeof host - 1) != 0) {
        return "localhost";
    }
    addrinfo hints{};
    hints.ai_flags = AI_CANONNAME;
    hints.ai_family = AF_UNSPEC;
    addrinfo* res = nullptr;
    std::string out = host;
    if (::getaddrinfo(host, nullptr, &hints, &res) == 0 && res != nullptr) {
        if (res->ai_canonname != nullptr && std::strchr(res->ai_canonname, '.') != nullptr) {
            out = res->ai_canonname;
        }
        ::freeaddrinfo(res);
    }
    std::transform(out.begin(), out.end(), out.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return out;
}

std::optional<problem> check_node_id(std::string_view id) {
    // The same rule as the proxy's `nodes[].id`: both sides must accept the same ids.
    if (config::is_path_segment(id)) {
        return std::nullopt;
    }
    return problem{{},
                   0,
                   "node id '" + std::string(id) +
                       "' must be made of letters, digits, '.', '_' and '-' (it becomes the first "
                       "path segment on the proxy, e.g. bbb-01)"};
}

expected<settings> resolve(const request& r, const node_fs& fs, const package_query& query) {
    settings s;
    auto proxy = parse_origin(r.proxy_url);
    if (!proxy.value) {
        return problem{{}, 0, "--proxy-url: " + proxy.message};
    }
    if (!proxy.value->tls()) {
        return problem{{}, 0, "--proxy-url: '" + r.proxy_url + "' must use https://"};
    }
    s.proxy = *proxy.value;
    const std::string node_text = r.node_url.value_or("https://" + machine_fqdn());
    auto node = parse_origin(node_text);
    if (!node.value) {
        return problem{
            {},
            0,
            "--node-url: " + node.message +
                (r.node_url ? "" : " (derived from this machine's name; pass --node-url)")};
    }
    if (!node.value->tls()) {
        return problem{{}, 0, "--node-url: '" + node_text + "' must use https://"};
    }
    s.node = *node.value;
    if (s.node.to_string() == s.proxy.to_string()) {
        return problem{
            {}, 0, "--node-url and --proxy-url are the same origin; the node needs its own"};
    }
    if (r.node_id) {
        s.node_id = *r.node_id;
    } else {
        const auto dot = s.node.host.find('.');
        s.node_id = s.node.host.substr(0, dot);
        if (s.node.host.find(':') != std::string::npos ||
            s.node.host.find_first_not_of("0123456789.") == std::string::npos) {
            return problem{{}, 0, "the node URL's host is an IP address; pass --node-id"};
        }
    }
    if (auto bad = check_node_id(s.node_id)) {
        bad->message = "--node-id: " + bad->message;
        return *bad;
    }
    auto version = detect_version(fs, r.bbb_version, query);
    if (!version) {
        return version.error();
    }
    s.version = *version;
    s.vals = values{s.proxy.to_string(), s.proxy.authority(), s.node_id, s.node.to_string(),
                    s.node.authority()};
    return s;
}

std::string describe(const settings& s) {
    return "BBB " + s.version.version.text + " (from " + s.version.source + "), node " + s.node_id +
           " (" + s.node.to_string() + ") behind " + s.proxy.to_string();
}

namespace {

std::optional<problem> check_required_files(const node_fs& fs, const settings& s) {
    for (const required_file* r : required_for(s.version.version)) {
        const auto st = fs.read(r->path);
        if (st.kind != entry_kind::file &&
            !(st.kind == entry_kind::symlink && !st.content.empty())) {
            return file_problem(
                std::string(r->path),
                make_problem(0, "missing (" + std::string(r->what) + "); is this really a BBB " +
                                    s.version.version.series() +
                                    " node? pass --bbb-version if not"),
                s);
        }
    }
    return std::nullopt;
}

// The files being computed, in first-use order: their state on disk and the text being built.
struct working_file {
    file_state disk;
    std::string text;
};

class working_tree {
  public:
    working_tree(const node_fs& fs, const settings& s) : fs_(fs), s_(s) {}

    expected<working_file*> load(const std::string& path) {
        if (auto it = files_.find(path); it != files_.end()) {
            return &it->second;
        }
        working_file w{fs_.read(path), {}};
        switch (w.disk.kind) {
            case entry_kind::file:
                w.text = w.disk.content;
                break;
            case entry_kind::absent:
                break;
            case entry_kind::symlink:
                // We replace the include_default.nginx symlink on purpose; any other symlink is
                // an operator's choice we must not turn into a file.
                if (path != paths::include_default) {
                    return file_problem(path,
                                        make_problem(0, "is a symlink (to " + w.disk.link_target +
                                                            "); edit the real file or replace the "
                                                            "link by a file"),
                                        s_);
                }
                w.text = w.disk.content;
                break;
            case entry_kind::unreadable:
                return file_problem(path, make_problem(0, "cannot be read: " + w.disk.error), s_);
            default:
                return file_problem(path, make_problem(0, "is not a regular file"), s_);
        }
        order_.push_back(path);
        return &files_.emplace(path, std::move(w)).first->second;
    }

    working_file* find(const std::string& path) {
        auto it = files_.find(path);
        return it == files_.end() ? nullptr : &it->second;
    }
    const std::vector<std::string>& order() const { return order_; }

  private:
    const node_fs& fs_;
    const settings& s_;
    std::vector<std::string> order_;
    std::map<std::string, working_file> files_;
};

// dropin_purge: every *.conf of the directory that assigns one of the listed variables goes.
item_status purge_item(const node_fs& fs, const item& it, item_status st, computation& c) {
    const auto vars = text::words(it.key);
    std::vector<std::string> stale;
    for (const auto& name : fs.list(it.file, ".conf")) {
        const std::string path = std::string(it.file) + "/" + name;
        const auto disk = fs.read(path);
        if (disk.kind == entry_kind::file &&
            dropin::assigns_any(disk.content, service_section, vars)) {
            stale.push_back(path);
            c.changes.push_back({path, disk, true, {}});
        }
    }
    st.ok = stale.empty();
    if (!st.ok) {
        st.actual = "stale: " + stale.front() + (stale.size() > 1 ? " …" : "");
        c.daemon_reload = true;
    }
    return st;
}

// One item: edit the text being built, and judge the item on what is on disk. An item is
// satisfied when its edit would not change the file on disk (every editor is idempotent).
expected<item_status> run_item(const context& ctx, const context& check_ctx, const item& it,
                               item_status st, working_tree& tree) {
    auto w = tree.load(st.file);
    if (!w) {
        return w.error();
    }
    auto next = edit(ctx, it, (*w)->text);
    if (!next) {
        return file_problem(st.file, next.error(), ctx.s);
    }
    (*w)->text = std::move(*next);
    const file_state& disk = (*w)->disk;
    const bool disk_is_file = disk.kind == entry_kind::file;
    auto again = edit(check_ctx, it, disk_is_file ? std::string_view(disk.content) : "");
    if (!again) {
        return file_problem(st.file, again.error(), ctx.s);
    }
    const bool absent_stays_absent = disk.kind == entry_kind::absent && again->empty();
    st.ok = (disk_is_file && *again == disk.content) || absent_stays_absent;
    if (disk_is_file) {
        st.actual = actual_value(it, disk.content);
    } else if (disk.kind == entry_kind::symlink) {
        st.actual = "the package symlink -> " + disk.link_target;
    }
    return st;
}

// Drops overlay sections this version does not produce (left by an apply on another version or
// layout). The sections produced are those an empty overlay gets from the items.
void drop_stale_overlay_sections(working_tree& tree, const std::vector<const item*>& items,
                                 const context& check_ctx) {
    working_file* overlay = tree.find(std::string(paths::overlay));
    if (overlay == nullptr) {
        return;
    }
    std::string fresh;
    for (const item* i : items) {
        if (std::string_view(i->file) == paths::overlay) {
            if (auto e = edit(check_ctx, *i, fresh)) {
                fresh = *e;
            }
        }
    }
    const auto produced = section_names(fresh);
    overlay->text =
        drop_stale_sections(overlay->text, std::set<std::string>(produced.begin(), produced.end()));
}

// The files whose computed text differs from the disk, validated with the real parsers first.
std::optional<problem> collect_changes(working_tree& tree, const std::vector<const item*>& items,
                                       const settings& s, computation& c) {
    for (const auto& path : tree.order()) {
        const working_file& w = *tree.find(path);
        const bool unchanged = w.disk.kind == entry_kind::file && w.text == w.disk.content;
        const bool stays_absent = w.disk.kind == entry_kind::absent && w.text.empty();
        if (unchanged || stays_absent) {
            continue;
        }
        for (const item* it : items) {
            if (it->file == path && it->act == action::yaml_set) {
                if (auto bad = yaml_block::validate(w.text, yaml_block::split_path(it->key),
                                                    expand_item(it->value, s))) {
                    return file_problem(path, *bad, s);
                }
            }
        }
        if (text::starts_with(path, "/etc/bigbluebutton/nginx/") ||
            text::starts_with(path, paths::package_snippets)) {
            if (auto parsed = nginx::parse(w.text); !parsed) {
                return file_problem(path, parsed.error(), s);
            }
        }
        c.changes.push_back({path, w.disk, false, w.text});
        if (is_dropin(path)) {
            c.daemon_reload = true;
        }
    }
    return std::nullopt;
}

// Items can all be satisfied while a file still differs (a stale overlay section): such a file
// gets a check row of its own, so `check` and `plan` never disagree.
void add_uncovered_changes(computation& c, std::set<std::string>& services) {
    for (const auto& ch : c.changes) {
        const bool covered = std::any_of(c.items.begin(), c.items.end(), [&](const item_status& i) {
            return !i.ok && (i.file == ch.path || text::starts_with(ch.path, i.file + "/"));
        });
        if (covered) {
            continue;
        }
        item_status extra;
        extra.file = ch.path;
        extra.expected = "up to date";
        extra.fix = "run `bbb-cluster-proxy node apply` (stale content from an earlier apply)";
        extra.why = "leftovers of an earlier apply";
        c.items.push_back(std::move(extra));
        if (ch.path == paths::overlay) {
            services.insert("nginx");
        }
    }
}

}  // namespace

expected<computation> compute(const node_fs& fs, const settings& s,
                              const std::vector<std::string>& old_ids) {
    computation c;
    c.input = s;
    if (auto missing = check_required_files(fs, s)) {
        return *missing;
    }
    const std::string& release = s.version.version.text;
    if (s.version.version.series() == "2.4" && release.find("rc") != std::string::npos) {
        // 2.4-rc-1's systemd_start*.sh overwrote ROOT_URL; 2.4 final keeps a value that is set.
        c.notes.push_back("BBB " + release +
                          ": release-candidate start scripts may overwrite ROOT_URL, so the "
                          "drop-ins can have no effect; upgrade to 2.4 final");
    }
    const auto items = items_for(s.version.version);
    auto overlay = plan_overlay(fs, s, items);
    if (!overlay) {
        return overlay.error();
    }
    const context ctx{fs, s, items, old_ids, *overlay, &c.notes};
    context check_ctx = ctx;
    check_ctx.notes = nullptr;  // notes are collected once, by the editing pass

    working_tree tree(fs, s);
    std::set<std::string> services;
    for (const item* it : items) {
        item_status st;
        st.spec = it;
        st.file = std::string(it->file);
        st.why = expand_item(it->why, s);
        std::tie(st.expected, st.fix) = expectation(*it, s);
        if (it->act == action::dropin_purge) {
            c.items.push_back(purge_item(fs, *it, std::move(st), c));
            continue;
        }
        auto done = run_item(ctx, check_ctx, *it, std::move(st), tree);
        if (!done) {
            return done.error();
        }
        if (!done->ok) {
            services.insert(restart_service(it->restart, s.version.version));
        }
        if (it->package_owned) {
            c.notes.push_back(done->file + " is package-owned and edited in place (BBB " +
                              s.version.version.series() +
                              " gives no upgrade-safe place): an upgrade reverts it; run `node "
                              "check` after upgrades");
        }
        c.items.push_back(std::move(*done));
    }
    drop_stale_overlay_sections(tree, items, check_ctx);
    if (auto bad = collect_changes(tree, items, s, c)) {
        return *bad;
    }
    add_uncovered_changes(c, services);
    services.erase("");
    c.restarts.assign(services.begin(), services.end());  // sorted: a stable restart list
    std::sort(c.notes.begin(), c.notes.end());
    c.notes.erase(std::unique(c.notes.begin(), c.notes.end()), c.notes.end());
    return c;
}

std::string render_plan(const computation& c) {
    std::string out = "Plan for " + describe(c.input) + "\n";
    if (c.changes.empty()) {
        out += "\nNo changes: the node is already configured.\n";
    }
    for (const auto& ch : c.changes) {
        out += "\n";
        const std::string a = "a" + ch.path;
        const std::string b = "b" + ch.path;
        if (ch.remove) {
            out += "# delete " + ch.path + "\n";
            out += unified_diff(ch.before.content, "", a, "/dev/null");
            continue;
        }
        switch (ch.before.kind) {
            case entry_kind::absent:
                out += "# create " + ch.path + "\n";
                out += unified_diff("", ch.after, "/dev/null", b);
                break;
            case entry_kind::symlink:
                out += "# replace the symlink " + ch.path + " -> " + ch.before.link_target +
                       " by a file (diff against the link's target)\n";
                out += unified_diff(ch.before.content, ch.after, a, b);
                break;
            default:
                out += "# change " + ch.path + "\n";
                out += unified_diff(ch.before.content, ch.after, a, b);
        }
    }
    if (!c.notes.empty()) {
        out += "\nNotes:\n";
        for (const auto& n : c.notes) {
            out += "  - " + n + "\n";
        }
    }
    out += "\nServices to restart: ";
    if (c.restarts.empty()) {
        out += "none";
    }
    for (std::size_t i = 0; i < c.restarts.size(); ++i) {
        out += (i ? " " : "") + c.restarts[i];
    }
    out += "\nsystemctl daemon-reload: " + std::string(c.daemon_reload ? "needed" : "not needed") +
           "\n";
    return out;
}

std::string render_check(const computation& c, const std::set<std::string>& changed_since_apply,
                         const std::string& command_line) {
    std::string out = "Check of " + describe(c.input) + "\n\n";
    std::size_t failed = 0;
    for (const auto& i : c.items) {
        const std::string id = i.spec != nullptr ? std::string(i.spec->id) : "file";
        out += std::string(i.ok ? "✓ " : "✗ ") + id + "  " + i.file + ": " + i.expected + "\n";
        if (i.ok) {
            continue;
        }
        ++failed;
        if (i.actual) {
            out += "    now: " + *i.actual + "\n";
        }
        if (changed_since_apply.count(i.file) != 0) {
            out +=
                "    changed since the last apply (a package upgrade or a hand edit reverted it)\n";
        }
        if (i.spec != nullptr && i.spec->package_owned) {
            out +=
                "    note: package-owned file, edited in place on this version; upgrades undo it\n";
        }
        out += "    why: " + i.why + "\n";
        out += "    fix: " + i.fix + "\n";
    }
    if (!c.notes.empty()) {
        out += "\nNotes:\n";
        for (const auto& n : c.notes) {
            out += "  - " + n + "\n";
        }
    }
    out += "\n" + std::to_string(c.items.size() - failed) + " of " +
           std::to_string(c.items.size()) + " checks passed";
    if (failed > 0) {
        out += "\nFix everything at once: " + command_line + "\nThen restart:";
        for (const auto& svc : c.restarts) {
            out += " " + svc;
        }
        if (c.daemon_reload) {
            out += " (systemctl daemon-reload first)";
        }
    }
    return out + "\n";
}

}  // namespace bcp::nodeconf
