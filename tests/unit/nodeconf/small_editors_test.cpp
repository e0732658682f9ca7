#include "nodeconf/env_file.hpp"
#include "nodeconf/java_options.hpp"
#include "nodeconf/json_file.hpp"
#include "nodeconf/systemd_dropin.hpp"
#include "nodeconf/unified_diff.hpp"
#include "nodeconf/version.hpp"

#include <gtest/gtest.h>

using namespace bcp::nodeconf;

TEST(DropinEditor, AppendsToAnEmptyFile) {
    EXPECT_EQ(dropin::set_env("", "Service", "ROOT_URL", "https://127.0.0.1/b/html5client"),
              "[Service]\nEnvironment=ROOT_URL=https://127.0.0.1/b/html5client\n");
}

TEST(DropinEditor, KeepsOtherSettingsAndAssignments) {
    const std::string in =
        "# mine\n[Unit]\nA=1\n\n[Service]\nNice=5\nEnvironment=X=1 ROOT_URL=old Y=2\n\n";
    const std::string out = dropin::set_env(in, "Service", "ROOT_URL", "new");
    EXPECT_EQ(out,
              "# mine\n[Unit]\nA=1\n\n[Service]\nNice=5\nEnvironment=X=1 ROOT_URL=new Y=2\n\n");
    EXPECT_EQ(dropin::set_env(out, "Service", "ROOT_URL", "new"), out);
    EXPECT_EQ(dropin::set_env(in, "Service", "Z", "3"),
              "# mine\n[Unit]\nA=1\n\n[Service]\nNice=5\nEnvironment=X=1 ROOT_URL=old "
              "Y=2\nEnvironment=Z=3\n\n");
}

// Found by the systemd_dropin fuzzer: with lone "\r" line ends (which systemd reads as line
// ends), a new line ending in "\r" before an empty "\n" line read back as one "\r\n" line end and
// the empty line was gone.
TEST(DropinEditor, KeepsAnEmptyLineAfterTheInsertedOneWithLoneCarriageReturns) {
    const std::string in = "[Service]\rNice=5\n\n[Unit]\n";
    const std::string out = dropin::set_env(in, "Service", "A", "1");
    EXPECT_EQ(out, "[Service]\rNice=5\nEnvironment=A=1\n\n[Unit]\n");
    EXPECT_EQ(dropin::get_env(out, "Service", "A"), "1");
    // Otherwise the file's first line end is used, "\r" included.
    EXPECT_EQ(dropin::set_env("[Service]\rNice=5\r\r[Unit]\r", "Service", "A", "1"),
              "[Service]\rNice=5\rEnvironment=A=1\r\r[Unit]\r");
}

TEST(DropinEditor, LeavesTheFileAloneWhenTheValueIsAlreadyInEffect) {
    // The last assignment wins: A is already empty, the overridden A=1 stays as it is.
    const std::string in = "[Service]\nEnvironment=A=1\n\n[Service]\nEnvironment=A= - -\n";
    ASSERT_EQ(dropin::get_env(in, "Service", "A"), "");
    EXPECT_EQ(dropin::set_env(in, "Service", "A", ""), in);
    // Another value still replaces every assignment.
    const auto out = dropin::set_env(in, "Service", "A", "2");
    EXPECT_EQ(dropin::get_env(out, "Service", "A"), "2");
    EXPECT_EQ(out.find("A=1"), std::string::npos) << out;
}

TEST(DropinEditor, QuotesValuesWithSpaces) {
    const std::string out =
        dropin::set_env("[Service]\n", "Service", "JDK_JAVA_OPTIONS", "-Da=1 -Db=2");
    EXPECT_EQ(out, "[Service]\nEnvironment=\"JDK_JAVA_OPTIONS=-Da=1 -Db=2\"\n");
    EXPECT_EQ(dropin::get_env(out, "Service", "JDK_JAVA_OPTIONS"), "-Da=1 -Db=2");
}

TEST(DropinEditor, RemovesAssignmentsAndEmptyLines) {
    const std::string in = "[Service]\nEnvironment=ROOT_URL=a\nEnvironment=A=1 ROOT_URL=b\n";
    EXPECT_EQ(dropin::remove_env(in, "Service", "ROOT_URL"), "[Service]\nEnvironment=A=1\n");
    EXPECT_TRUE(dropin::assigns_any(in, "Service", {"X", "ROOT_URL"}));
    EXPECT_FALSE(dropin::assigns_any(in, "Unit", {"ROOT_URL"}));
}

TEST(EnvFileEditor, SetsKeepingQuoteStyleAndOtherLines) {
    const std::string in = "# c\nexport A='x'\nB=plain\n";
    EXPECT_EQ(env_file::set(in, "A", "y"), "# c\nexport A='y'\nB=plain\n");
    EXPECT_EQ(env_file::set(in, "B", "two words"), "# c\nexport A='x'\nB=\"two words\"\n");
    EXPECT_EQ(env_file::set(in, "C", "https://p"), "# c\nexport A='x'\nB=plain\nC=\"https://p\"\n");
    EXPECT_EQ(env_file::set(in, "B", "plain"), in);
    EXPECT_EQ(env_file::get(in, "A"), "x");
    EXPECT_EQ(env_file::remove(in, "B"), "# c\nexport A='x'\n");
}

TEST(JavaOptions, MergesInPlaceAndAppends) {
    EXPECT_EQ(java_options::merge("-Xmx1g -Da=0", "-Da=1 -Db=2"), "-Xmx1g -Da=1 -Db=2");
    EXPECT_EQ(java_options::merge("-Da=1 -Db=2", "-Da=1 -Db=2"), "-Da=1 -Db=2");
    EXPECT_TRUE(java_options::contains("-Xmx1g -Da=1 -Db=2", "-Db=2 -Da=1"));
    EXPECT_EQ(java_options::remove("-Xmx1g -Da=1 -Db=2", "-Da=9"), "-Xmx1g -Db=2");
}

// Found by the java_options fuzzer: the JVM uses the last occurrence, so all are replaced.
TEST(JavaOptions, ReplacesEveryOccurrenceOfAnOption) {
    EXPECT_EQ(java_options::merge("-Da=1 -Xmx1g -Da=2", "-Da=3"), "-Da=3 -Xmx1g -Da=3");
    EXPECT_TRUE(java_options::contains(java_options::merge("-Da=1 -Da=2", "-Da=3"), "-Da=3"));
}

TEST(JsonEditor, KeepsOtherKeysOrderAndIndentation) {
    const std::string in = "{\n    \"z\": 1,\n    \"a\": [true]\n}\n";
    auto out = json_file::set_strings(in, "cluster_proxies", {"https://p"});
    ASSERT_TRUE(out.ok());
    EXPECT_EQ(*out,
              "{\n    \"z\": 1,\n    \"a\": [\n        true\n    ],\n    \"cluster_proxies\": [\n  "
              "      \"https://p\"\n    ]\n}\n");
    EXPECT_EQ(*json_file::set_strings(*out, "cluster_proxies", {"https://p"}), *out);
    EXPECT_EQ(*json_file::set_strings("", "k", {"v"}), "{\n  \"k\": [\n    \"v\"\n  ]\n}\n");
}

TEST(JsonEditor, RoundTripsItsOwnStyle) {
    const std::string in = "{\n  \"cluster_proxies\": [\n    \"https://p\"\n  ],\n  \"x\": 2\n}\n";
    EXPECT_EQ(*json_file::set_strings(in, "cluster_proxies", {"https://p"}), in);
}

TEST(JsonEditor, ReportsSyntaxErrorsWithTheLine) {
    auto r = json_file::set_strings("{\n  \"a\": 1,\n  oops\n}\n", "k", {"v"});
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().line, 3);
    EXPECT_FALSE(json_file::set_strings("[1]", "k", {"v"}).ok());
}

// Found by the json_file fuzzer: nlohmann reports a number overflow as out_of_range, not as a
// parse_error; it used to escape as an exception.
TEST(JsonEditor, ReportsAnOverflowingNumberWithTheLine) {
    auto r = json_file::set_strings("{\n  \"a\": 1,\n  \"b\": 1e999\n}\n", "k", {"v"});
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().line, 3);
    EXPECT_NE(r.error().message.find("1e999"), std::string::npos) << r.error().message;
    EXPECT_FALSE(json_file::get_strings("{\"x\": -1e400}", "k").ok());
}

TEST(UnifiedDiff, ShowsHunksWithContext) {
    const std::string a = "1\n2\n3\n4\n5\n6\n7\n8\n9\n";
    const std::string b = "1\n2\n3\n4\nfive\n6\n7\n8\n9\n";
    EXPECT_EQ(unified_diff(a, b, "a/x", "b/x"),
              "--- a/x\n+++ b/x\n@@ -2,7 +2,7 @@\n 2\n 3\n 4\n-5\n+five\n 6\n 7\n 8\n");
    EXPECT_EQ(unified_diff(a, a, "a", "b"), "");
    EXPECT_EQ(unified_diff("", "x", "/dev/null", "b/x"),
              "--- /dev/null\n+++ b/x\n@@ -0,0 +1 @@\n+x\n\\ No newline at end of file\n");
}

TEST(BbbVersion, ParsesReleaseAndPackageForms) {
    auto v = parse_version("2.7.3");
    ASSERT_TRUE(v.ok());
    EXPECT_EQ(v->series(), "2.7");
    EXPECT_EQ(v->patch, 3);
    EXPECT_EQ(parse_version("1:2.6.12-3")->series(), "2.6");
    EXPECT_EQ(parse_version("3.0")->patch, std::nullopt);
    EXPECT_EQ(parse_version("2.4.0-rc-1")->patch, 0);
    EXPECT_FALSE(parse_version("three").ok());
    EXPECT_FALSE(supported(*parse_version("2.3.1")));
    EXPECT_FALSE(supported(*parse_version("3.1")));
    EXPECT_TRUE(supported(*parse_version("3.0.28")));
}
