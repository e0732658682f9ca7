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
    // "---key:" is a key, not a document marker; one that is no name (and a value over two
    // lines) is refused.
    const auto dashes = yb::set("---public::\n    ap!! {x: 1}\n", yb::split_path("public.a"), "v");
    ASSERT_FALSE(dashes.ok()) << *dashes;
    EXPECT_EQ(dashes.error().line, 1);
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
    const auto shallow = yb::set("a:\n  b: x\n  xt\n", yb::split_path("a.b"), "v");
    ASSERT_FALSE(shallow.ok()) << *shallow;
    EXPECT_EQ(shallow.error().line, 3);
    // ...and so is a plain value continued on the next line, while block scalar text is fine.
    const auto continued = yb::set("c: long\n  text\n", yb::split_path("b"), "v");
    ASSERT_FALSE(continued.ok()) << *continued;
    EXPECT_EQ(continued.error().line, 2);
    EXPECT_EQ(set("d: |\n  x: 1\n  more\n", "b", "v"), "d: |\n  x: 1\n  more\nb: v\n");
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

// The editor accepts only the YAML it models (yaml_block.cpp, "What the editor accepts") and
// refuses anything else with the line, before it edits; these shapes came from the yaml_block
// fuzzer (finding 20): each was read one way by the line editor and another way by yaml-cpp.
TEST(YamlOverrideEditor, RefusesWhatItDoesNotModelWithTheLine) {
    struct refused {
        const char* text;
        int line;
        const char* says;
    };
    for (const refused& r : std::initializer_list<refused>{
             {"a: 1\n...\n", 2, "document end marker"},
             {"a: 1\r\n\r\r\n", 2, "lone carriage return"},
             {"a: 1\nb: \xff\n", 2, "UTF-8"},
             {"a: 1\nb: x\xc2\x85y\n", 2, "U+0085"},
             {"\xef\xbb\xbf"
              "a: 1\n",
              1, "byte order mark"},
             {"a: 1\nb: \x01\n", 2, "control character"},
             {"a:\tx\n", 1, "tab"},
             {"a:\n  '\n", 2, "line of its own"},
             {"a:\n  b: 1\n  b: 2\n", 3, "second time"},
             {"null: 1\n", 1, "null"},
             {"a b c: 1\n~: 2\n", 2, "not a name"},
             {"a: [1,\n  2]\n", 1, "flow collection"},
             {"a: {x: 'y' z}\n", 1, "flow collection"},
             {"a: x: y\n", 1, "': '"},
             {"a: - x\n", 1, "YAML reserves"},
             {"a: \"\\x41\"\n", 1, "escape"},
             {"a: |2\n   x\n", 1, "block scalar header"},
             {"a: |+\n  x\n", 1, "block scalar header"},
             {"a: |\n    x\n  y\n", 3, "indented less than the first line"},
             {"- |\n  x\n", 1, "block scalar"},
             {"- - x\n", 1, "list inside a list item"},
             {"- x\n  y\n", 2, "several lines"},
             {"a:\n- x\nb: 1\n- y\n", 4, "list item among the keys"},
             {"a: 1\n  b: 2\n", 2, "below 'a'"},
             {"a:\n    b: 1\n  c: 2\n", 3, "not lined up"},
             {"%TAG ! tag:x,2000:\n---\na: 1\n", 1, "directive"},
             {"%YAML 1.2\na: 1\n", 1, "'---'"},
             {"a: &x 1\n", 1, "anchor"},
             {"a: 'x'y\n", 1, "after the end"},
         }) {
        const auto got = yb::set(r.text, yb::split_path("c"), "v");
        ASSERT_FALSE(got.ok()) << r.text << " became:\n" << *got;
        EXPECT_EQ(got.error().line, r.line) << r.text << ": " << got.error().message;
        EXPECT_NE(got.error().message.find(r.says), std::string::npos)
            << r.text << ": " << got.error().message;
        EXPECT_FALSE(yb::get(r.text, yb::split_path("c")).ok()) << r.text;
    }
}

// Keys of the path must be keys the editor accepts in a file: "---" or "-" would be written as
// a document marker or a list item, and yaml-cpp reads "null:" as a null key (finding 20).
TEST(YamlOverrideEditor, RefusesAPathItCannotWrite) {
    for (const char* path : {"---", "a.-", "-x.b", "null", "a.NULL", "a..b"}) {
        EXPECT_FALSE(yb::set("a:\n  b: 1\n", yb::split_path(path), "v").ok()) << path;
        EXPECT_FALSE(yb::get("a:\n  b: 1\n", yb::split_path(path)).ok()) << path;
    }
}

// What it accepts: the shapes of BBB's settings.yml (lists of maps, lists at their key's column,
// one-line flow values, block scalars, UTF-8 text) are passed over and keys beside them edited.
TEST(YamlOverrideEditor, EditsBesideListsFlowValuesAndBlockScalars) {
    const std::string in =
        "%YAML 1.2\n"
        "--- # overrides\n"
        "public:\n"
        "  app:\n"
        "    copyright: '\xc2\xa9"
        "2021 BigBlueButton Inc.'\n"
        "    effectiveConnection:\n"
        "      - critical\n"
        "      - 'danger'\n"
        "    fileNames:\n"
        "    - home.jpg\n"
        "    thresholds:\n"
        "      - threshold: 8\n"
        "        profile: low-u8\n"
        "      -\n"
        "        threshold: 12\n"
        "    version: [12, 1]   # flow\n"
        "    note: |\n"
        "      text: with a colon\n"
        "\n"
        "      # not a comment\n"
        "    quoted: \"a \\\"b\\\" \\\\ c\"\n"
        "    \"key\": x\n";
    const std::string out = set(in, "public.app.basename", "/bbb-01/html5client");
    EXPECT_EQ(out, in + "    basename: '/bbb-01/html5client'\n");
    EXPECT_EQ(*yb::get(out, yb::split_path("public.app.quoted")), "a \"b\" \\ c");
    EXPECT_EQ(*yb::get(out, yb::split_path("public.app.key")), "x");
    EXPECT_EQ(set(out, "public.app.key", "z"),
              in.substr(0, in.size() - 2) + "z\n" + "    basename: '/bbb-01/html5client'\n");
    // A list, a flow value or a block scalar on the path is refused with its line.
    for (const auto& [path, line] :
         std::initializer_list<std::pair<const char*, int>>{{"public.app.fileNames", 9},
                                                            {"public.app.fileNames.x", 9},
                                                            {"public.app.version", 16},
                                                            {"public.app.note", 17}}) {
        const auto r = yb::set(in, yb::split_path(path), "v");
        ASSERT_FALSE(r.ok()) << path << " became:\n" << *r;
        EXPECT_EQ(r.error().line, line) << path << ": " << r.error().message;
    }
    // A value YAML reads as null is not "null" the string: setting that rewrites it.
    EXPECT_EQ(set("a: null\n", "a", "null"), "a: 'null'\n");
    EXPECT_EQ(set("a: ~\n", "a", "x"), "a: x\n");
}
