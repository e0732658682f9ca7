#include "nodeconf/nginx_conf.hpp"

#include <gtest/gtest.h>

namespace ng = bcp::nodeconf::nginx;

namespace {

std::string prefix(std::string_view text, std::string_view id = "bbb-01",
                   std::vector<std::string> old = {}) {
    auto r = ng::prefix_locations(text, id, old);
    EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().to_string());
    return r.ok() ? r->text : std::string();
}

}  // namespace

TEST(NginxEditor, ParsesBlocksCommentsQuotesAndNestedBlocks) {
    const std::string in =
        "# c { not a block\nset $a 'x;y';\nlocation /a {\n  types {\n    application/wasm wasm;\n  "
        "}\n"
        "  return 200 \"}\";\n}\n";
    auto cfg = ng::parse(in);
    ASSERT_TRUE(cfg.ok());
    ASSERT_EQ(cfg->top.size(), 2u);
    EXPECT_EQ(cfg->top[0].words[2].value, "x;y");
    EXPECT_EQ(cfg->top[1].children.size(), 2u);
    EXPECT_EQ(cfg->top[1].line, 3);
}

TEST(NginxEditor, ReportsUnbalancedBracesWithTheLine) {
    auto open = ng::parse("location /a {\n  alias /x;\n");
    ASSERT_FALSE(open.ok());
    EXPECT_EQ(open.error().line, 1);
    auto close = ng::parse("a b;\n}\n");
    ASSERT_FALSE(close.ok());
    EXPECT_EQ(close.error().line, 2);
    EXPECT_FALSE(ng::parse("gzip on\n").ok());
    EXPECT_FALSE(ng::parse("set $a 'open;\n").ok());
}

TEST(NginxEditor, PrefixesEveryLocationFormAndLeavesNamedAlone) {
    const std::string in =
        "location @html5client { proxy_pass http://x; }\n"
        "location /html5client/locales { }\n"
        "location = /html5client/a { }\n"
        "location =/html5client/b { }\n"
        "location ^~ /html5client/c { }\n"
        "location ~* ^/html5client/.*\\.(css|js)$ { }\n"
        "location ~^/html5client/d { }\n"
        "location ~ (?i)^/html5client/e$ { }\n"
        "location \"/html5client/f\" { }\n"
        "location /html5client { location /html5client/nested { } }\n";
    const std::string want =
        "location @html5client { proxy_pass http://x; }\n"
        "location /bbb-01/html5client/locales { }\n"
        "location = /bbb-01/html5client/a { }\n"
        "location =/bbb-01/html5client/b { }\n"
        "location ^~ /bbb-01/html5client/c { }\n"
        "location ~* ^/bbb-01/html5client/.*\\.(css|js)$ { }\n"
        "location ~^/bbb-01/html5client/d { }\n"
        "location ~ (?i)^/bbb-01/html5client/e$ { }\n"
        "location \"/bbb-01/html5client/f\" { }\n"
        "location /bbb-01/html5client { location /bbb-01/html5client/nested { } }\n";
    EXPECT_EQ(prefix(in), want);
}

TEST(NginxEditor, KeepsEverythingElseByteForByte) {
    const std::string in =
        "gzip on;\n\n  # odd   indent\n\tlocation   /html5client   {  alias /x ; }\n";
    EXPECT_EQ(prefix(in),
              "gzip on;\n\n  # odd   indent\n\tlocation   /bbb-01/html5client   {  alias /x ; }\n");
}

TEST(NginxEditor, ReplacesAnOldPrefixInsteadOfStacking) {
    const std::string once =
        prefix("location /html5client/x { }\nlocation ~ ^/html5client/y { }\n");
    EXPECT_EQ(prefix(once), once);
    EXPECT_EQ(prefix(once, "bbb-02"),
              "location /bbb-02/html5client/x { }\nlocation ~ ^/bbb-02/html5client/y { }\n");
}

TEST(NginxEditor, PrefixingAnUpperCaseIdTwiceDoesNotStack) {
    for (const char* in : {"location /pad { }\n", "location ~ (?i)^/pad { }\n",
                           "location ~* ^/html5client/x { }\n"}) {
        const std::string once = prefix(in, "BBB-01");
        EXPECT_NE(once.find("/BBB-01/"), std::string::npos) << once;
        EXPECT_EQ(prefix(once, "BBB-01"), once) << in;
    }
}

TEST(NginxEditor, ReplacesAKnownOldIdOutsideTheMount) {
    EXPECT_EQ(prefix("location /bbb-01/favicon.ico { }\n", "bbb-02", {"bbb-01"}),
              "location /bbb-02/favicon.ico { }\n");
}

TEST(NginxEditor, EscapesDotsOfTheIdInRegexes) {
    EXPECT_EQ(prefix("location ~ ^/html5client/x { }\n", "node.1"),
              "location ~ ^/node\\.1/html5client/x { }\n");
    EXPECT_EQ(prefix("location ~ ^/node\\.1/html5client/x { }\n", "node.2"),
              "location ~ ^/node\\.2/html5client/x { }\n");
}

TEST(NginxEditor, LeavesAnUnanchoredRegexAndSaysSo) {
    auto r = ng::prefix_locations("location ~* \\.map$ { return 404; }\n", "bbb-01");
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->text, "location ~* \\.map$ { return 404; }\n");
    ASSERT_EQ(r->notes.size(), 1u);
    EXPECT_NE(r->notes[0].find("no ^ anchor"), std::string::npos);
}

TEST(NginxEditor, RefusesAnAnchorWithoutSlash) {
    auto r = ng::prefix_locations("\nlocation ~ ^(html5client|x) { }\n", "bbb-01");
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().line, 2);
}

TEST(NginxEditor, ListsLocations) {
    auto l = ng::locations("location @n { }\nlocation ~* ^/a { location = /a/b { } }\n");
    ASSERT_TRUE(l.ok());
    ASSERT_EQ(l->size(), 3u);
    EXPECT_EQ((*l)[0].form, ng::location_form::named);
    EXPECT_EQ((*l)[1].form, ng::location_form::regex_caseless);
    EXPECT_EQ((*l)[1].path, "^/a");
    EXPECT_EQ((*l)[2].form, ng::location_form::exact);
}

TEST(NginxEditor, SetsTopLevelVariables) {
    const std::string in = "# c\nset $bbb_loadbalancer_node '';\n";
    auto out = ng::set_variable(in, "bbb_loadbalancer_node", "https://p.example.com");
    ASSERT_TRUE(out.ok());
    EXPECT_EQ(*out, "# c\nset $bbb_loadbalancer_node 'https://p.example.com';\n");
    EXPECT_EQ(**ng::get_variable(*out, "bbb_loadbalancer_node"), "https://p.example.com");
    EXPECT_EQ(*ng::set_variable(*out, "bbb_loadbalancer_node", "https://p.example.com"), *out);
    EXPECT_EQ(*ng::set_variable("gzip on;", "v", "x"), "gzip on;\nset $v 'x';\n");
    EXPECT_EQ(*ng::set_variable("set $v \"a\";\n", "v", "b"), "set $v \"b\";\n");
}

TEST(NginxEditor, InlinesAndExpandsIncludes) {
    auto in = ng::inline_includes("include /a.static;\ninclude /b;\n",
                                  [](const std::string& p) -> std::optional<std::string> {
                                      if (p == "/a.static") {
                                          return std::string("location /x { }\n");
                                      }
                                      return std::nullopt;
                                  });
    ASSERT_TRUE(in.ok());
    EXPECT_EQ(*in,
              "# begin of /a.static (inlined)\nlocation /x { }\n# end of /a.static\ninclude /b;\n");
    auto ex = ng::expand_includes(
        "include /d/*.nginx;\n", [](const std::string&) -> std::optional<std::vector<std::string>> {
            return std::vector<std::string>{"/d/a.nginx", "/d/c.nginx"};
        });
    EXPECT_EQ(*ex, "include /d/a.nginx;\ninclude /d/c.nginx;\n");
}

TEST(NginxEditor, UpsertsMarkedSections) {
    std::string t = ng::upsert_section("# head\n", "one", "a;\n");
    EXPECT_EQ(t, "# head\n\n# BEGIN bbb-cluster-proxy: one\na;\n# END bbb-cluster-proxy: one\n");
    t = ng::upsert_section(t, "one", "b;");
    EXPECT_EQ(*ng::get_section(t, "one"), "b;\n");
    EXPECT_EQ(ng::upsert_section(t, "one", "b;\n"), t);
    EXPECT_EQ(ng::get_section(t, "two"), std::nullopt);
}

// Fuzz finding 21: a BEGIN marker without an END (a section cut by hand) was taken for the start
// of the section appended after it, so a second upsert swallowed everything in between.
TEST(NginxEditor, ABeginMarkerWithoutAnEndIsNotMergedWithTheNextSection) {
    const std::string cut = "# BEGIN bbb-cluster-proxy: one\nkept;\n";
    const std::string t = ng::upsert_section(cut, "one", "a;");
    EXPECT_EQ(t, cut + "\n# BEGIN bbb-cluster-proxy: one\na;\n# END bbb-cluster-proxy: one\n");
    EXPECT_EQ(ng::upsert_section(t, "one", "a;"), t);
    EXPECT_EQ(*ng::get_section(t, "one"), "a;\n");
    EXPECT_NE(ng::upsert_section(t, "one", "b;").find("kept;"), std::string::npos);
    // A stray END before any BEGIN is not a section either.
    const std::string stray = "# END bbb-cluster-proxy: one\n";
    EXPECT_EQ(ng::get_section(stray, "one"), std::nullopt);
    const std::string u = ng::upsert_section(stray, "one", "a;");
    EXPECT_EQ(ng::upsert_section(u, "one", "a;"), u);
}

// Found by the nginx_conf fuzzer: the marker text inside a line (here a comment quoting it) is
// not the marker; only stopping at the first occurrence made every upsert append a new section.
TEST(NginxEditor, FindsSectionMarkersOnlyAtTheStartOfALine) {
    const std::string quoted = "# see '# BEGIN bbb-cluster-proxy: one\n";
    std::string t = ng::upsert_section(quoted, "one", "a;");
    EXPECT_EQ(t, quoted + "\n# BEGIN bbb-cluster-proxy: one\na;\n# END bbb-cluster-proxy: one\n");
    EXPECT_EQ(ng::upsert_section(t, "one", "a;"), t);
    EXPECT_EQ(*ng::get_section(t, "one"), "a;\n");
    t = ng::upsert_section(t, "one", "b;");
    EXPECT_EQ(*ng::get_section(t, "one"), "b;\n");
    EXPECT_EQ(t.find("a;"), std::string::npos);
    // An END marker text inside a line of the section does not end it.
    const std::string inner =
        "# BEGIN bbb-cluster-proxy: one\nx; # END bbb-cluster-proxy: one\n"
        "# END bbb-cluster-proxy: one\ntail;\n";
    EXPECT_EQ(*ng::get_section(inner, "one"), "x; # END bbb-cluster-proxy: one\n");
    EXPECT_EQ(ng::upsert_section(inner, "one", "y;"),
              "# BEGIN bbb-cluster-proxy: one\ny;\n# END bbb-cluster-proxy: one\ntail;\n");
}
