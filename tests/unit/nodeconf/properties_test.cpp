#include "nodeconf/properties.hpp"

#include <gtest/gtest.h>

namespace pr = bcp::nodeconf::properties;

namespace {

std::string set(std::string_view text, std::string_view key, std::string_view value) {
    auto doc = pr::parse(text);
    pr::set(doc, key, value);
    return pr::emit(doc);
}

const char* const samples[] = {
    "",
    "a=b",
    "a=b\n",
    "# comment\n! bang comment\n\n   \nkey=value\n",
    "key : value\nother value with spaces\n",
    "multi=one \\\n    two \\\n    three\nnext=1\n",
    "crlf=1\r\nnext=2\r\n",
    "esc\\=aped\\:key=v\\u00e9\n",
    "trailing=backslash\\",
    "url=${bigbluebutton.web.serverURL}/html5client/join\n",
};

}  // namespace

TEST(PropertiesEditor, RoundTripsEveryFormByteForByte) {
    for (const char* s : samples) {
        EXPECT_EQ(pr::emit(pr::parse(s)), s) << s;
    }
}

TEST(PropertiesEditor, ReadsEverySeparatorForm) {
    const auto doc = pr::parse("a=1\nb: 2\nc 3\nd\t=\t4\ne=\n");
    EXPECT_EQ(pr::get(doc, "a"), "1");
    EXPECT_EQ(pr::get(doc, "b"), "2");
    EXPECT_EQ(pr::get(doc, "c"), "3");
    EXPECT_EQ(pr::get(doc, "d"), "4");
    EXPECT_EQ(pr::get(doc, "e"), "");
    EXPECT_EQ(pr::get(doc, "f"), std::nullopt);
}

TEST(PropertiesEditor, DecodesEscapesAndContinuations) {
    const auto doc = pr::parse("k\\=x=a\\tb\\u00e9\nlong=one \\\n   two\n");
    EXPECT_EQ(pr::get(doc, "k=x"), "a\tb\xc3\xa9");
    EXPECT_EQ(pr::get(doc, "long"), "one two");
}

TEST(PropertiesEditor, KeepsComments) {
    const std::string in = "# top\na=1\n# about b\nb=2\n";
    EXPECT_EQ(set(in, "b", "3"), "# top\na=1\n# about b\nb=3\n");
}

TEST(PropertiesEditor, KeepsSeparatorAndSpacing) {
    EXPECT_EQ(set("serviceEnabled = true\n", "serviceEnabled", "false"),
              "serviceEnabled = false\n");
    EXPECT_EQ(set("url: old\n", "url", "new"), "url: new\n");
    EXPECT_EQ(set("url old\n", "url", "new"), "url new\n");
}

// Found by the properties fuzzer: a key-only line has no separator to keep.
TEST(PropertiesEditor, AddsASeparatorToAKeyOnlyLine) {
    EXPECT_EQ(set("keyonly\n", "keyonly", "v"), "keyonly=v\n");
    EXPECT_EQ(set("  key\\ \n", "key ", "v"), "  key\\ =v\n");
    EXPECT_EQ(*pr::get(pr::parse(set("keyonly", "keyonly", "v")), "keyonly"), "v");
    EXPECT_EQ(*pr::get(pr::parse(set("key old\n", "key", "=v")), "key"), "=v");
    EXPECT_EQ(*pr::get(pr::parse(set("key old\n", "key", ":v")), "key"), ":v");
}

TEST(PropertiesEditor, ReplacesPlaceholderValuesLiterally) {
    EXPECT_EQ(set("x=${bigbluebutton.web.serverURL}/html5client/join\n", "x",
                  "https://p/b/html5client/join"),
              "x=https://p/b/html5client/join\n");
}

TEST(PropertiesEditor, ChangesTheLastOccurrenceOnly) {
    EXPECT_EQ(set("a=1\nb=x\na=2\n", "a", "3"), "a=1\nb=x\na=3\n");
}

TEST(PropertiesEditor, CollapsesAContinuedValue) {
    EXPECT_EQ(set("a=one \\\n  two\nb=1\n", "a", "x"), "a=x\nb=1\n");
}

TEST(PropertiesEditor, AppendsMissingKeysWithTheFileLineEnding) {
    EXPECT_EQ(set("a=1\r\n", "b", "2"), "a=1\r\nb=2\r\n");
    EXPECT_EQ(set("a=1", "b", "2"), "a=1\nb=2\n");
    EXPECT_EQ(set("", "b", "2"), "b=2\n");
}

// Found by the properties fuzzer: the appended line must not continue an open last line.
TEST(PropertiesEditor, AppendsAfterALastLineEndingInABackslash) {
    EXPECT_EQ(set("a=one \\\n", "b", "2"), "a=one \\\n\nb=2\n");
    EXPECT_EQ(set("a=one \\", "b", "2"), "a=one \\\n\nb=2\n");
    EXPECT_EQ(set("a=one \\\r\n  two \\\r\n", "b", "2"), "a=one \\\r\n  two \\\r\n\r\nb=2\r\n");
    for (const char* in : {"a=one \\\n", "a=one \\", "x.y:\\\n", "a=one \\\n  two \\\n"}) {
        const auto doc = pr::parse(set(in, "b", "2"));
        EXPECT_EQ(pr::get(doc, "b"), "2") << in;
        EXPECT_EQ(pr::get(doc, "a"), pr::get(pr::parse(in), "a")) << in;
    }
    // The empty line takes the terminator of the line it ends: "\r" + "\n" would be one "\r\n".
    EXPECT_EQ(set("a=1\nb=x\\\r", "c", "2"), "a=1\nb=x\\\r\rc=2\n");
    // An even number of backslashes is an escaped backslash, not a continuation.
    EXPECT_EQ(set("a=c:\\\\\n", "b", "2"), "a=c:\\\\\nb=2\n");
    // A comment never continues.
    EXPECT_EQ(set("# note \\\n", "b", "2"), "# note \\\nb=2\n");
}

TEST(PropertiesEditor, LeavesAnEqualValueUntouched) {
    const std::string in = "a =  same\n";
    EXPECT_EQ(set(in, "a", "same"), in);
}

TEST(PropertiesEditor, RemovesEveryOccurrence) {
    auto doc = pr::parse("a=1\nb=2\na=3\n");
    EXPECT_TRUE(pr::remove(doc, "a"));
    EXPECT_EQ(pr::emit(doc), "b=2\n");
    EXPECT_FALSE(pr::remove(doc, "a"));
}

TEST(PropertiesEditor, EscapesWhatJavaWouldMisread) {
    EXPECT_EQ(pr::escape_value(" lead"), "\\ lead");
    EXPECT_EQ(pr::escape_value("a\\b"), "a\\\\b");
    EXPECT_EQ(pr::escape_value("https://x:1/a=b"), "https://x:1/a=b");
}
