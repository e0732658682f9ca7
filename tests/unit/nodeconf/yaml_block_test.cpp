#include "nodeconf/yaml_block.hpp"

#include <gtest/gtest.h>

namespace yb = bcp::nodeconf::yaml_block;

namespace {

std::string set(std::string_view text, std::string_view path, std::string_view value) {
    auto r = yb::set(text, yb::split_path(path), value);
    EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().to_string());
    if (!r.ok()) {
        return {};
    }
    EXPECT_FALSE(yb::validate(*r, yb::split_path(path), value).has_value()) << *r;
    return *r;
}

}  // namespace

TEST(YamlOverrideEditor, ReplacesAScalarKeepingQuotesAndComment) {
    EXPECT_EQ(set("public:\n  app:\n    basename: '/html5client'  # keep me\n",
                  "public.app.basename", "/bbb-01/html5client"),
              "public:\n  app:\n    basename: '/bbb-01/html5client'  # keep me\n");
    EXPECT_EQ(set("public:\n  app:\n    basename: \"/x\"\n", "public.app.basename", "/y"),
              "public:\n  app:\n    basename: \"/y\"\n");
}

TEST(YamlOverrideEditor, CreatesNestedMapsUnderPublic) {
    EXPECT_EQ(set("", "public.media.livekit.url", "wss://n/livekit"),
              "public:\n  media:\n    livekit:\n      url: 'wss://n/livekit'\n");
    EXPECT_EQ(set("public:\n  app:\n    x: 1\n", "public.media.sip_ws_host", "n.example.com"),
              "public:\n  app:\n    x: 1\n  media:\n    sip_ws_host: 'n.example.com'\n");
}

TEST(YamlOverrideEditor, KeepsOtherKeysCommentsAndIndentation) {
    const std::string in =
        "# head\npublic:\n    app:\n        title: X   # tab title\n    # note\nprivate:\n    a: "
        "1\n";
    EXPECT_EQ(set(in, "public.app.basename", "/b/html5client"),
              "# head\npublic:\n    app:\n        title: X   # tab title\n        basename: "
              "'/b/html5client'\n    # note\nprivate:\n    a: 1\n");
}

TEST(YamlOverrideEditor, WritesSimpleWordsPlain) {
    EXPECT_EQ(set("public:\n  app:\n    userSettingsStorage: session\n",
                  "public.app.userSettingsStorage", "local"),
              "public:\n  app:\n    userSettingsStorage: local\n");
}

TEST(YamlOverrideEditor, FillsAnEmptyValue) {
    EXPECT_EQ(set("server:\n  authorized_cross_origin:\n", "server.authorized_cross_origin",
                  "p.example.com"),
              "server:\n  authorized_cross_origin: 'p.example.com'\n");
}

TEST(YamlOverrideEditor, IsIdempotent) {
    const std::string once =
        set("public:\n  app:\n    a: 1\n", "public.app.basename", "/b/html5client");
    EXPECT_EQ(set(once, "public.app.basename", "/b/html5client"), once);
}

TEST(YamlOverrideEditor, ReadsValues) {
    const std::string in = "public:\n  app:\n    basename: '/it''s'\n    other: plain text # c\n";
    EXPECT_EQ(*yb::get(in, yb::split_path("public.app.basename")), "/it's");
    EXPECT_EQ(*yb::get(in, yb::split_path("public.app.other")), "plain text");
    EXPECT_EQ(*yb::get(in, yb::split_path("public.app.none")), std::nullopt);
}

TEST(YamlOverrideEditor, HandlesDocumentMarkerAndCrlf) {
    EXPECT_EQ(set("---\r\npublic:\r\n  app:\r\n    a: 1\r\n", "public.app.b", "x"),
              "---\r\npublic:\r\n  app:\r\n    a: 1\r\n    b: x\r\n");
}

TEST(YamlOverrideEditor, RefusesFlowStyleWithTheLine) {
    auto r =
        yb::set("# c\npublic: {app: {basename: x}}\n", yb::split_path("public.app.basename"), "y");
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().line, 2);
    EXPECT_NE(r.error().message.find("flow style"), std::string::npos);
}

TEST(YamlOverrideEditor, RefusesAScalarWhereAMapIsNeeded) {
    auto r = yb::set("public: nothing\n", yb::split_path("public.app.basename"), "y");
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().line, 1);
}

// Found by the yaml_block fuzzer: "a:\n  text" gives a a value on the next line; adding "b: v"
// under it made the file unreadable.
TEST(YamlOverrideEditor, RefusesKeysOfOneMapThatDoNotLineUp) {
    const std::string in = "# overrides\n  kurento:\n    wsUrl: x\nprivate:\n  list:\n    - one\n";
    const auto r = yb::set(in, yb::split_path("public.app.basename"), "/bbb-01/html5client");
    ASSERT_FALSE(r.ok()) << *r;
    EXPECT_EQ(r.error().line, 4);
    EXPECT_NE(r.error().message.find("line 2"), std::string::npos) << r.error().message;
    // A line among a map's keys that is no key (here after an empty block scalar) is refused too.
    const auto other = yb::set("a2   b: |\n0 ~~ text[\n", yb::split_path("a.b"), "v");
    ASSERT_FALSE(other.ok()) << *other;
    EXPECT_EQ(other.error().line, 2);
    // "---key:" is a key, not a document marker: a new top-level key goes after its block and
    // the file still reads.
    const auto path = yb::split_path("public.a");
    const auto dashes = yb::set("---public::\n    ap!! {x: 1}\n", path, "v");
    ASSERT_TRUE(dashes.ok()) << dashes.error().message;
    EXPECT_FALSE(yb::validate(*dashes, path, "v").has_value()) << *dashes;
    // Tags, anchors, aliases and complex keys are not modelled: refused, not duplicated.
    for (const char* in : {"a:\n ! b: |\n\nc: 1\n", "a:\n &x b: 1\n", "a:\n ? b\n : 1\n"}) {
        const auto r = yb::set(in, yb::split_path("a.b"), "v");
        EXPECT_FALSE(r.ok()) << in << " became:\n" << *r;
    }
    // A quoted value that does not end on its line is not modelled: refused.
    for (const char* in : {"a:\n  c: \"text\n", "c: 'it''s\n  more'\n"}) {
        const auto r = yb::set(in, yb::split_path("b"), "v");
        EXPECT_FALSE(r.ok()) << in << " became:\n" << *r;
    }
    EXPECT_EQ(set("c: 'it''s'\nd: \"a\\\"b\"\n", "b", "v"), "c: 'it''s'\nd: \"a\\\"b\"\nb: v\n");
    // A line that is no key and not deeper than the key before it: refused...
    const auto shallow = yb::set("a%:\n  b: x\n  xt\n", yb::split_path("a.b"), "v");
    ASSERT_FALSE(shallow.ok()) << *shallow;
    EXPECT_EQ(shallow.error().line, 3);
    // ...while continuation lines below their key and block scalar text are fine.
    EXPECT_EQ(set("c: long\n  text\nd: |\n  x: 1\n  more\n", "b", "v"),
              "c: long\n  text\nd: |\n  x: 1\n  more\nb: v\n");
    // '%' lines are directives before the document only.
    const auto pct = yb::set("a:\n  b:\n% xt\n", yb::split_path("a.b"), "1");
    ASSERT_FALSE(pct.ok()) << *pct;
    EXPECT_EQ(pct.error().line, 3);
    EXPECT_EQ(set("%YAML 1.2\n---\na: 1\n", "b", "v"), "%YAML 1.2\n---\na: 1\nb: v\n");
    // One document of keys only: a second document, or content on the marker line, is refused.
    EXPECT_FALSE(yb::set("a: 1\n--- text\n", yb::split_path("b"), "v").ok());
    EXPECT_FALSE(yb::set("a: 1\n---\nc: 2\n", yb::split_path("b"), "v").ok());
    EXPECT_FALSE(yb::set("--- text\n", yb::split_path("b"), "v").ok());
    // A real marker is still passed over.
    EXPECT_EQ(set("--- \na: 1\n", "b", "v"), "--- \na: 1\nb: v\n");
    // Lined up, the same keys are edited.
    EXPECT_TRUE(yb::set("kurento:\n  wsUrl: x\nprivate:\n  list:\n    - one\n",
                        yb::split_path("public.app.basename"), "/bbb-01/html5client")
                    .ok());
}

TEST(YamlOverrideEditor, RefusesAValueOnTheNextLineWhereAMapIsNeeded) {
    for (const char* in :
         {"a:\n     text\n", "a:\n  'quoted'\n", "a:\n  [1, 2]\n", "a:\n  {x: 1}\n",
          "a:\n  text\n  more\n", "x: 1\na:\n  b:\n    text\n"}) {
        ASSERT_FALSE(yb::validate(in).has_value()) << in;  // yaml-cpp reads each of them
        const auto path = yb::split_path(std::string_view(in).starts_with("x") ? "a.b.c" : "a.b");
        const auto r = yb::set(in, path, "v");
        ASSERT_FALSE(r.ok()) << in << " became:\n" << *r;
        EXPECT_GT(r.error().line, 1) << in;
        EXPECT_NE(r.error().message.find("map"), std::string::npos) << r.error().message;
        EXPECT_FALSE(yb::get(in, path).ok()) << in;
    }
    // A document that is a single value has no top-level map either.
    EXPECT_FALSE(yb::set("just text\n", yb::split_path("a"), "v").ok());
    EXPECT_FALSE(yb::set("{a: 1}\n", yb::split_path("b"), "v").ok());
    // Keys below a key with an empty value are still found and added.
    EXPECT_EQ(set("a:\n  c: 1\n", "a.b", "v"), "a:\n  c: 1\n  b: v\n");
}

TEST(YamlOverrideEditor, RefusesTabsAndListItems) {
    EXPECT_FALSE(yb::set("public:\n\tapp: 1\n", yb::split_path("public.app"), "y").ok());
    EXPECT_FALSE(yb::set("public:\n  - a\n", yb::split_path("public.app"), "y").ok());
}

TEST(YamlOverrideEditor, ValidateReportsTheLineOfASyntaxError) {
    const auto p = yb::validate("a: 1\nb: [unclosed\n");
    ASSERT_TRUE(p.has_value());
    EXPECT_GT(p->line, 0);
}

// YAML::Load reads these as null and ignores the rest (config/yaml_guard.hpp); validate() says
// where yaml-cpp stops.
TEST(YamlOverrideEditor, ValidateRefusesWhatYamlCppCannotReadThrough) {
    const auto comma = yb::validate(", public: 1\n");
    ASSERT_TRUE(comma.has_value());
    EXPECT_EQ(comma->line, 1);
    EXPECT_NE(comma->message.find("','"), std::string::npos) << comma->message;
    const auto later = yb::validate("public:\n  app: 1\n---\n,\n");
    ASSERT_TRUE(later.has_value());
    EXPECT_EQ(later->line, 4);
}

TEST(YamlOverrideEditor, RoundTripsUntouchedText) {
    const std::string in = "# only comments\n\n";
    EXPECT_EQ(*yb::get(in, yb::split_path("public.app")), std::nullopt);
    EXPECT_EQ(set(in, "public.app", "v"), "# only comments\n\npublic:\n  app: v\n");
}
