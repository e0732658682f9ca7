// config/yaml_guard: texts yaml-cpp 0.7.0 would load forever are refused with their place, every
// other text (valid or not) is left to the real load.
#include "config/yaml_guard.hpp"
#include "config/config.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <string_view>

namespace bcp::config {
namespace {

struct shape {
    std::string_view text;
    int line;
    int column;
};

// Found by the config_loader fuzzer (the first one, 27 bytes with non-UTF-8 bytes that play no
// part), then reduced: a document whose first token is a ',' outside [ ] or { }.
TEST(YamlGuard, RefusesACommaThatStartsADocument) {
    const shape shapes[] = {
        {",p.mublic_url1 [blic_\x85\x82\x8d\x97:\n", 1, 1},
        {",", 1, 1},
        {"  , a\n", 1, 3},
        {"# comment\n,[\n", 2, 1},
        {"&anchor ,\n", 1, 9},
        {"\"quoted\" ,\n", 1, 10},
        {"[a]\n,\n", 2, 1},
        {"--- a\n--- ,\n", 2, 5},
        {"a: b\n...\n,x\n", 3, 1},
        {"%YAML 1.2\n--- ,\n", 2, 5},
    };
    for (const auto& s : shapes) {
        const auto r = check_loadable(s.text);
        ASSERT_TRUE(r.has_value()) << s.text;
        EXPECT_EQ(r->line, s.line) << s.text;
        EXPECT_EQ(r->column, s.column) << s.text;
        EXPECT_NE(r->message.find("','"), std::string::npos) << r->message;
    }
}

// The guard watches yaml-cpp's progress, not one construct: a tag followed by a '?' on the next
// line stops yaml-cpp the same way.
TEST(YamlGuard, RefusesAnyPlaceWhereADocumentConsumesNothing) {
    const auto r = check_loadable("!|\n? \n");
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(r->line, 2);
    EXPECT_EQ(r->column, 1);
    EXPECT_NE(r->message.find("no YAML value can start here"), std::string::npos) << r->message;
}

TEST(YamlGuard, LeavesEveryOtherTextToTheLoad) {
    for (const std::string_view text : {
             std::string_view(""),
             std::string_view("a: [1, 2]\nb: {c: 1, d: 2}\n"),
             std::string_view("a: x, y\n"),
             std::string_view("a\n,\n"),  // a plain "a ,"
             std::string_view("- ','\n- \",\"\n"),
             std::string_view("a\n---\nb\n...\n"),
             std::string_view("a: [\n"),  // a syntax error: the load reports it
             std::string_view("- ,\n"),
             std::string_view("a: \x85\x82\n"),
         }) {
        EXPECT_FALSE(check_loadable(text).has_value()) << text;
    }
}

TEST(YamlGuard, ConfigLoadRefusesWithTheFileAndLineAtOnce) {
    const auto started = std::chrono::steady_clock::now();
    const auto result = load_string("public_url: https://p.example.com\n---\n, [x\n", "proxy.yaml",
                                    "/nonexistent", false);
    EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(5));
    ASSERT_FALSE(result.ok());
    ASSERT_EQ(result.diagnostics.size(), 1u);
    EXPECT_EQ(result.diagnostics[0].to_string().substr(0, 15), "proxy.yaml:3:1:");
    EXPECT_NE(result.diagnostics[0].message.find("','"), std::string::npos);
}

}  // namespace
}  // namespace bcp::config
