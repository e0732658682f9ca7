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
    // Encoded '/' and '.' are allowed in the query only (docs/security.md).
    EXPECT_EQ(
        check_target("/bbb-01/html5client/join?logoutURL=https%3A%2F%2Fexample.com%2F").status, 0u);
    EXPECT_EQ(check_target("/a/b/x?next=%2f%2fevil&v=%2e%2E").status, 0u);
    EXPECT_EQ(check_target("/a/b/caf%C3%A9/%F0%9F%98%80").status, 0u);  // valid UTF-8
    EXPECT_EQ(check_target("/a/b/x?t=%0a%25%ff").status, 0u);  // the query is not decoded here
    EXPECT_EQ(check_target("/a/b/.well-known/x...y/;p=1").status, 0u);
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
        "/bbb-01/html5client/x?a=%5c",
        "/bbb-01/html5client/%0d%0aSet-Cookie:x=1",
        "/bbb-01/html5client/%09",
        "/bbb-01/html5client/%7f",
        "/bbb-01/html5client/%252e%252e/",
        "/bbb-01/html5client/%c0%ae%c0%ae/",
        "/bbb-01/html5client/%e0%80%af",
        "/bbb-01/html5client/%ed%a0%80",
        "/bbb-01/html5client/%f4%90%80%80",
        "/bbb-01/html5client/%ff",
        "/bbb-01/html5client/%c3",
        "/bbb-01/html5client/%c3x",
        "/bbb-01/html5client/%c3?x",
        "/bbb-01/html5client/..;/admin",
        "/bbb-01/html5client/.;x/",
        "/bbb-01/html5client/..%3b/admin",
        "/bbb-01/html5client/x?a=%5C..%5C",
        "/bbb-01/html5client/x%2f?next=%2f",
        "/bbb-01/html5client/%2e%2e?next=%2e",
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
