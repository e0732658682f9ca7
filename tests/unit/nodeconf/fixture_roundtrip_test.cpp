// The editors' contract on every fixture file: parsing and re-emitting (or an edit that changes
// nothing) gives back the input byte for byte.
#include "tree.hpp"

#include "nodeconf/env_file.hpp"
#include "nodeconf/json_file.hpp"
#include "nodeconf/nginx_conf.hpp"
#include "nodeconf/properties.hpp"
#include "nodeconf/systemd_dropin.hpp"
#include "nodeconf/yaml_block.hpp"

#include <gtest/gtest.h>

using namespace nodeconf_test;
namespace nc = bcp::nodeconf;

namespace {

bool ends_with(const std::string& s, const std::string& suffix) {
    return s.size() >= suffix.size() &&
           s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

std::vector<fs::path> fixture_files() {
    std::vector<fs::path> out;
    for (const char* v : versions) {
        for (const auto& e : fs::recursive_directory_iterator(data_dir() / v)) {
            if (e.is_regular_file() && !fs::is_symlink(e.symlink_status())) {
                out.push_back(e.path());
            }
        }
    }
    return out;
}

}  // namespace

TEST(FixtureRoundTrip, EveryEditorReemitsEveryFixtureByteForByte) {
    int seen = 0;
    for (const auto& path : fixture_files()) {
        const std::string name = path.filename().string();
        const std::string text = read(path);
        SCOPED_TRACE(path.string());
        if (ends_with(name, ".properties")) {
            EXPECT_EQ(nc::properties::emit(nc::properties::parse(text)), text);
            ++seen;
        } else if (ends_with(name, ".yml")) {
            EXPECT_FALSE(nc::yaml_block::validate(text).has_value());
            // Setting a key to the value it already has is the identity.
            const auto path_of = nc::yaml_block::split_path(
                name == "bbb-html5.yml" ? "public.app.clientTitle" : "server.listen_port");
            auto current = nc::yaml_block::get(text, path_of);
            ASSERT_TRUE(current.ok());
            if (current->has_value()) {
                EXPECT_EQ(*nc::yaml_block::set(text, path_of, **current), text);
            }
            ++seen;
        } else if (ends_with(name, ".nginx") || ends_with(name, ".static")) {
            ASSERT_TRUE(nc::nginx::parse(text).ok());
            auto none = nc::nginx::inline_includes(
                text, [](const std::string&) { return std::optional<std::string>(); });
            EXPECT_EQ(*none, text);
            auto once = nc::nginx::prefix_locations(text, "n1");
            ASSERT_TRUE(once.ok());
            EXPECT_EQ(nc::nginx::prefix_locations(once->text, "n1")->text, once->text);
            ++seen;
        } else if (ends_with(name, ".json")) {
            auto current = nc::json_file::get_strings(text, "cluster_proxies");
            ASSERT_TRUE(current.ok());
            if (current->has_value()) {
                EXPECT_EQ(*nc::json_file::set_strings(text, "cluster_proxies", **current), text);
            }
            ++seen;
        } else if (ends_with(name, ".conf") || ends_with(name, ".service")) {
            const auto nice = nc::dropin::get_env(text, "Service", "NOPE");
            EXPECT_FALSE(nice.has_value());
            EXPECT_EQ(nc::dropin::remove_env(text, "Service", "NOPE"), text);
            ++seen;
        } else if (name == "bbb-web" || ends_with(name, ".env")) {
            EXPECT_EQ(nc::env_file::remove(text, "NOPE"), text);
            if (auto v = nc::env_file::get(text, "JDK_JAVA_OPTIONS")) {
                EXPECT_EQ(nc::env_file::set(text, "JDK_JAVA_OPTIONS", *v), text);
            }
            ++seen;
        }
    }
    EXPECT_GT(seen, 30);
}
