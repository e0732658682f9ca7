// Node-config editors: edit → re-parse → same value read back, a second edit changes nothing,
// and what was not edited is kept. Keys and values are restricted to what the pipeline passes
// (profile keys, node ids, URLs, host names: printable ASCII); the file text is arbitrary.
#include "entries.hpp"
#include "nodeconf/env_file.hpp"
#include "nodeconf/java_options.hpp"
#include "nodeconf/json_file.hpp"
#include "nodeconf/nginx_conf.hpp"
#include "nodeconf/properties.hpp"
#include "nodeconf/systemd_dropin.hpp"
#include "nodeconf/text.hpp"
#include "nodeconf/yaml_block.hpp"

#include <algorithm>

namespace bcp::fuzz {
namespace nc = bcp::nodeconf;

namespace {

bool is_alnum(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

// [A-Za-z_][A-Za-z0-9_]* : environment variable names, nginx variables.
bool is_identifier(std::string_view s) {
    if (s.empty() || s.size() > 64 || (s.front() >= '0' && s.front() <= '9')) {
        return false;
    }
    return std::all_of(s.begin(), s.end(), [](char c) { return is_alnum(c) || c == '_'; });
}

// Property keys and YAML path segments: letters, digits, '_', '-', '.'.
bool is_key(std::string_view s, bool allow_dot) {
    return !s.empty() && s.size() <= 64 && std::all_of(s.begin(), s.end(), [&](char c) {
        return is_alnum(c) || c == '_' || c == '-' || (allow_dot && c == '.');
    });
}

// Printable ASCII, no leading/trailing space: what settings put into node files.
bool is_value(std::string_view s) {
    if (s.size() > 200 || (!s.empty() && (s.front() == ' ' || s.back() == ' '))) {
        return false;
    }
    return std::all_of(s.begin(), s.end(), [](char c) { return c >= 0x20 && c < 0x7f; });
}

bool is_node_id(std::string_view s) {
    return !s.empty() && s.size() <= 32 && s != "." && s != ".." &&
           std::all_of(s.begin(), s.end(),
                       [](char c) { return is_alnum(c) || c == '_' || c == '-' || c == '.'; });
}

// Lines of `before` that are not in `touched` must appear in `after`, in order.
template <class Pred>
void expect_kept_lines(std::string_view before, std::string_view after, Pred touched,
                       std::string_view what) {
    const auto a = nc::text::split(before);
    const auto b = nc::text::split(after);
    std::size_t j = 0;
    for (const auto& l : a) {
        if (touched(l.body)) {
            continue;
        }
        while (j < b.size() && b[j].body != l.body) {
            ++j;
        }
        expect(j < b.size(), what, l.body);
        if (j == b.size()) {
            return;
        }
        ++j;
    }
}

}  // namespace

// key \0 value \0 text
void properties(const std::uint8_t* data, std::size_t size) {
    const auto in = split_input(data, size, 3);
    const std::string_view text = in[2];
    auto doc = nc::properties::parse(text);
    expect(nc::properties::emit(doc) == text, "properties: emit(parse(x)) == x");
    const std::string_view key = in[0];
    const std::string_view value = in[1];
    if (!is_key(key, true) || !is_value(value)) {
        return;
    }
    const auto before = nc::properties::get(doc, key);
    nc::properties::set(doc, key, value);
    const std::string once = nc::properties::emit(doc);
    auto reread = nc::properties::parse(once);
    expect(nc::properties::get(reread, key) == std::string(value),
           "properties: set value reads back", once);
    nc::properties::set(reread, key, value);
    expect(nc::properties::emit(reread) == once, "properties: set is idempotent", once);
    if (before == std::string(value)) {
        expect(once == text, "properties: setting the current value changes nothing");
    }
    // Every other key keeps its value.
    for (const auto& e : nc::properties::parse(text).entries) {
        if (e.is_pair && e.key != key) {
            expect(nc::properties::get(reread, e.key) == nc::properties::get(doc, e.key),
                   "properties: other key unchanged", e.key);
        }
    }
    nc::properties::remove(reread, key);
    expect(!nc::properties::get(nc::properties::parse(nc::properties::emit(reread)), key),
           "properties: removed key is gone");
}

// key \0 value \0 text
void env_file(const std::uint8_t* data, std::size_t size) {
    const auto in = split_input(data, size, 3);
    const std::string_view key = in[0];
    const std::string_view value = in[1];
    const std::string_view text = in[2];
    if (!is_identifier(key) || !is_value(value)) {
        nc::env_file::get(text, "X");
        return;
    }
    const auto before = nc::env_file::get(text, key);
    const std::string once = nc::env_file::set(text, key, value);
    expect(nc::env_file::get(once, key) == std::string(value), "env: set value reads back", once);
    expect(nc::env_file::set(once, key, value) == once, "env: set is idempotent", once);
    if (before == std::string(value)) {
        expect(once == text, "env: setting the current value changes nothing");
    }
    const std::string k(key);
    expect_kept_lines(
        text, once, [&](const std::string& body) { return body.find(k) != std::string::npos; },
        "env: untouched line kept");
    const std::string removed = nc::env_file::remove(once, key);
    expect(!nc::env_file::get(removed, key), "env: removed key is gone", removed);
}

// section \0 var \0 value \0 text
void systemd_dropin(const std::uint8_t* data, std::size_t size) {
    const auto in = split_input(data, size, 4);
    const std::string_view section = in[0].empty() ? std::string_view("Service") : in[0];
    const std::string_view var = in[1];
    const std::string_view value = in[2];
    const std::string_view text = in[3];
    if (!is_identifier(section) || !is_identifier(var) || !is_value(value)) {
        nc::dropin::get_env(text, "Service", "X");
        return;
    }
    const auto before = nc::dropin::get_env(text, section, var);
    const std::string once = nc::dropin::set_env(text, section, var, value);
    expect(nc::dropin::get_env(once, section, var) == std::string(value),
           "dropin: set value reads back", once);
    expect(nc::dropin::set_env(once, section, var, value) == once, "dropin: set is idempotent",
           once);
    expect(nc::dropin::assigns_any(once, section, {std::string(var)}), "dropin: assigns_any");
    if (before == std::string(value)) {
        expect(once == text, "dropin: setting the current value changes nothing");
    }
    const std::string v(var);
    // systemd unquotes anywhere in a word (J"AVA_OPTS=x"), so any Environment= line may assign
    // the variable.
    expect_kept_lines(
        text, once,
        [&](const std::string& body) {
            return body.find(v) != std::string::npos ||
                   body.find("Environment") != std::string::npos;
        },
        "dropin: untouched line kept");
    const std::string removed = nc::dropin::remove_env(once, section, var);
    expect(!nc::dropin::get_env(removed, section, var), "dropin: removed variable is gone",
           removed);
}

// current \0 wanted
void java_options(const std::uint8_t* data, std::size_t size) {
    const auto in = split_input(data, size, 2);
    const std::string_view current = in[0];
    const std::string_view wanted = in[1];
    if (!is_value(current) || !is_value(wanted)) {
        return;
    }
    const std::string merged = nc::java_options::merge(current, wanted);
    // A wanted list naming one option twice cannot hold both values; the pipeline never asks.
    const auto words = nc::text::words(wanted);
    std::vector<std::string> names;
    for (const auto& w : words) {
        names.push_back(w.substr(0, w.find('=')));
    }
    std::sort(names.begin(), names.end());
    if (std::adjacent_find(names.begin(), names.end()) != names.end()) {
        return;
    }
    expect(nc::java_options::contains(merged, wanted), "java: merged holds every wanted option",
           merged);
    expect(nc::java_options::merge(merged, wanted) == merged, "java: merge is idempotent", merged);
    if (nc::java_options::contains(current, wanted)) {
        expect(merged == current, "java: nothing to merge changes nothing");
    }
    const std::string removed = nc::java_options::remove(merged, wanted);
    for (const auto& w : words) {
        expect(!nc::java_options::contains(removed, w) || w.find('=') == std::string::npos,
               "java: removed option is gone", removed);
    }
}

// key \0 value \0 text (key is one string; the JSON value set is [value])
void json_file(const std::uint8_t* data, std::size_t size) {
    const auto in = split_input(data, size, 3);
    const std::string_view key = in[0];
    const std::string_view value = in[1];
    const std::string_view text = in[2];
    const auto before = nc::json_file::get_strings(text, "k");
    if (!is_key(key, true) || !is_value(value)) {
        return;
    }
    const std::vector<std::string> values{std::string(value)};
    const auto once = nc::json_file::set_strings(text, key, values);
    expect(once.ok() == before.ok(), "json: set fails exactly when the file does not parse");
    if (!once) {
        expect(!once.error().message.empty() && once.error().line > 0,
               "json: error has a line and a message", once.error().message);
        return;
    }
    const auto read = nc::json_file::get_strings(*once, key);
    expect(read.ok() && read->has_value() && **read == values, "json: set value reads back", *once);
    const auto twice = nc::json_file::set_strings(*once, key, values);
    expect(twice.ok() && *twice == *once, "json: set is idempotent", *once);
}

// dotted.path \0 value \0 text
void yaml_block(const std::uint8_t* data, std::size_t size) {
    const auto in = split_input(data, size, 3);
    const std::string_view dotted = in[0];
    const std::string_view value = in[1];
    const std::string_view text = in[2];
    const auto path = nc::yaml_block::split_path(dotted);
    const bool usable =
        is_value(value) && path.size() <= 6 &&
        std::all_of(path.begin(), path.end(), [](const auto& s) { return is_key(s, false); });
    if (!usable) {
        nc::yaml_block::validate(text);
        return;
    }
    const auto once = nc::yaml_block::set(text, path, value);
    if (!once) {
        expect(!once.error().message.empty(), "yaml: refusal has a message");
        return;
    }
    // A refusal (above) is a fine outcome; an edit of a file yaml-cpp reads must still be read
    // after it. (The editor refuses control characters itself now, so no text is exempt.)
    if (nc::yaml_block::validate(text)) {
        return;
    }
    const auto bad = nc::yaml_block::validate(*once, path, value);
    expect(!bad, "yaml: edited file reads back the value",
           (bad ? bad->message + " in:\n" : std::string()) + *once);
    const auto read = nc::yaml_block::get(*once, path);
    expect(read.ok() && read->has_value() && **read == value, "yaml: get reads back the value",
           *once);
    const auto twice = nc::yaml_block::set(*once, path, value);
    expect(twice.ok() && *twice == *once, "yaml: set is idempotent", *once);
}

// node id \0 variable \0 value \0 text
void nginx_conf(const std::uint8_t* data, std::size_t size) {
    const auto in = split_input(data, size, 4);
    const std::string_view id = is_node_id(in[0]) ? in[0] : std::string_view("bbb-01");
    const std::string_view var = is_identifier(in[1]) ? in[1] : std::string_view("bbb_var");
    const std::string_view value = in[2];
    const std::string_view text = in[3];
    const auto parsed = nc::nginx::parse(text);
    const auto locs = nc::nginx::locations(text);
    const auto prefixed = nc::nginx::prefix_locations(text, id);
    if (!parsed) {
        expect(!parsed.error().message.empty(), "nginx: parse error has a message");
        expect(!prefixed.ok(), "nginx: prefix_locations refuses what parse refuses");
        return;
    }
    if (prefixed) {
        expect(locs.ok(), "nginx: locations() reads what prefix_locations edits");
        const auto again = nc::nginx::parse(prefixed->text);
        expect(again.ok(), "nginx: prefixed text parses", prefixed->text);
        const auto after = nc::nginx::locations(prefixed->text);
        expect(after.ok() && locs.ok() && after->size() == locs->size(),
               "nginx: prefixing keeps the number of locations", prefixed->text);
        const auto twice = nc::nginx::prefix_locations(prefixed->text, id);
        expect(twice.ok() && twice->text == prefixed->text, "nginx: prefixing is idempotent",
               prefixed->text);
        if (after.ok() && locs.ok() && after->size() == locs->size()) {
            for (std::size_t i = 0; i < locs->size(); ++i) {
                const auto& a = (*locs)[i];
                const auto& b = (*after)[i];
                expect(a.form == b.form, "nginx: location form kept", b.path);
                if (a.form == nc::nginx::location_form::named) {
                    expect(a.path == b.path, "nginx: named location untouched", b.path);
                }
                if (a.form == nc::nginx::location_form::prefix ||
                    a.form == nc::nginx::location_form::exact ||
                    a.form == nc::nginx::location_form::prefix_no_regex) {
                    const std::string p = "/" + std::string(id);
                    expect(b.path == p || b.path.starts_with(p + "/"),
                           "nginx: prefix location starts with /<id>", b.path);
                }
            }
        }
    }
    if (is_value(value) && value.find_first_of("'\"\\") == std::string_view::npos) {
        const auto set = nc::nginx::set_variable(text, var, value);
        expect(set.ok(), "nginx: set_variable works on a parsed file");
        if (set) {
            const auto got = nc::nginx::get_variable(*set, var);
            expect(got.ok() && got->has_value() && **got == value, "nginx: set variable reads back",
                   *set);
            const auto twice = nc::nginx::set_variable(*set, var, value);
            expect(twice.ok() && *twice == *set, "nginx: set_variable is idempotent", *set);
        }
    }
    if (value.find("bbb-cluster-proxy:") != std::string_view::npos) {
        return;  // content holding a section marker is ambiguous by design
    }
    const std::string section = nc::nginx::upsert_section(text, "fuzz", value);
    const auto got = nc::nginx::get_section(section, "fuzz");
    expect(nc::nginx::upsert_section(section, "fuzz", value) == section,
           "nginx: upsert_section is idempotent", section);
    expect(got.has_value(), "nginx: upserted section found", section);
}

}  // namespace bcp::fuzz
