#include "http/target.hpp"

#include <gtest/gtest.h>

namespace bcp::http {
namespace {

TEST(Target, AcceptsOriginFormAndSplitsSegments) {
    const auto r = check_target("/bbb-01/html5client/app-1234.js?v=2&x=%41");
    ASSERT_EQ(r.status, 0u) << r.reason;
    EXPECT_EQ(r.first, "bbb-01");
    EXPECT_EQ(r.second, "html5client");
    EXPECT_EQ(r.path, "/bbb-01/html5client/app-1234.js");
    EXPECT_EQ(r.query, "v=2&x=%41");
}

TEST(Target, AcceptsTrailingSlashAndShortPaths) {
    EXPECT_EQ(check_target("/bbb-01/html5client/").status, 0u);
    EXPECT_EQ(check_target("/bbb-01/html5client").status, 0u);
    EXPECT_EQ(check_target("/").status, 0u);
    EXPECT_EQ(check_target("/bbb-01/html5client/locale?locale=de-DE&init=true").status, 0u);
    EXPECT_EQ(check_target("/a/b/c;p=1/%7Euser/x@y:z").status, 0u);
    EXPECT_EQ(check_target("/a/b/?q=a/b?c").status, 0u);
    EXPECT_EQ(check_target("/a/b/..x/x..").status, 0u);  // dots inside a name are not dot segments
}

// SECURITY.md test vectors and more: every one is a 400.
TEST(Target, RejectsCatalogue) {
    const char* cases[] = {
        "/bbb-01/html5client/%2e%2e/%2e%2e/admin",
        "/bbb-01%2fhtml5client/x",
        "/bbb-01%2Fhtml5client/x",
        "/bbb-01/html5client/..%2f..%2fsecret",
        "//bbb-01/html5client/",
        "/bbb-01//html5client/",
        "/bbb-01/html5client//x",
        "/bbb-01/html5client/%00",
        "/bbb-01/html5client/%zz",
        "/bbb-01/html5client/%2",
        "/bbb-01/html5client/%",
        "/bbb-01/html5client/%G0",
        "/bbb-01/html5client/%5c..%5cadmin",
        "/bbb-01/html5client/%5C",
        "/bbb-01/html5client/..\\admin",
        "/bbb-01/html5client/../../admin",
        "/bbb-01/html5client/./x",
        "/bbb-01/html5client/..",
        "/bbb-01/html5client/.",
        "/bbb-01/./html5client/",
        "/../bbb-01/html5client/",
        "/bbb-01/html5client/%2E%2E/",
        "/bbb-01/html5client/.%2e/",
        "/bbb-01/html5client/x#frag",
        "/bbb-01/html5client/x?a=%00",
        "/bbb-01/html5client/x?next=%2f%2fevil",
        "/bbb-01/html5client/<script>",
        "/bbb-01/html5client/\"q\"",
        "/bbb-01/html5client/a{b}",
        "/bbb-01/html5client/a|b",
        "/bbb-01/html5client/a^b",
        "/bbb-01/html5client/a`b",
        "http://evil.example/bbb-01/html5client/",
        "https://bbb-01.example.com/bbb-01/html5client/",
        "bbb-01.example.com:443",
        "*",
        "",
        "bbb-01/html5client/",
    };
    for (const char* c : cases) {
        const auto r = check_target(c);
        EXPECT_EQ(r.status, 400u) << "accepted: " << c;
        EXPECT_FALSE(r.reason.empty()) << c;
    }
}

// Found by the target_validator fuzzer: "/.%3F" is "/." plus a query for a server that decodes
// before it splits off the query. Encoded '?'/'#' stay allowed in the query.
TEST(Target, RejectsEncodedQuestionMarkOrHashInPath) {
    for (const char* c :
         {"/.%3F", "/bbb-01/html5client/..%3F/x", "/bbb-01/a%3fb", "/a/.%23", "/a%23b/c"}) {
        const auto r = check_target(c);
        EXPECT_EQ(r.status, 400u) << "accepted: " << c;
        EXPECT_EQ(r.reason, "encoded '?' or '#' in path") << c;
    }
    EXPECT_EQ(check_target("/bbb-01/html5client/join?q=a%3Fb%23c").status, 0u);
}

}  // namespace
}  // namespace bcp::http
