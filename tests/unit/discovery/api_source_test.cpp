// Scalelite's server API as a discovery source (issue 17): the checksum Scalelite verifies, and
// getServers answers of every shape turned into the records the Redis source reads.
#include "discovery/api_source.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace bcp::discovery {
namespace {

using config::checksum_digest;

// Reference digests of "getServers" + "s3cret" from coreutils (sha1sum, sha256sum, sha512sum).
TEST(ScaleliteApi, ChecksumIsTheDigestOfCallQueryAndSecret) {
    EXPECT_EQ(api_checksum("getServers", "", "s3cret", checksum_digest::sha1),
              "b86e7abe8c8fe5a5e0d4f73e259fa242d7341ed7");
    EXPECT_EQ(api_checksum("getServers", "", "s3cret", checksum_digest::sha256),
              "f2313c34f982507b01e1a7c9cba7c168df056676ec257bf3ad3f85105fcb1461");
    EXPECT_EQ(api_checksum("getServers", "", "s3cret", checksum_digest::sha512),
              "a217f7922422c140722666145ca40413e86ad54a1a81ff9c50195258375d243f1a14bfc135b36b1aae"
              "4a31481c0040559e2c10d273945612efaeabbede5b82e5");
    // The query (without the checksum) sits between the call and the secret.
    EXPECT_EQ(api_checksum("getServer", "sInfo", "s3cret", checksum_digest::sha1),
              api_checksum("getServers", "Info", "s3cret", checksum_digest::sha1));
}

TEST(ScaleliteApi, TargetCarriesThePathAndTheChecksum) {
    config::scalelite_api api;
    api.path = "/lb/scalelite/api";
    api.secret = "s3cret";
    EXPECT_EQ(get_servers_target(api),
              "/lb/scalelite/api/getServers?checksum="
              "f2313c34f982507b01e1a7c9cba7c168df056676ec257bf3ad3f85105fcb1461");
}

// An answer as Scalelite's ServersController renders it (server_to_json).
constexpr const char* two_servers = R"([
  {"id": "uuid-2", "url": "https://bbb-02.example.com/bigbluebutton/api/", "secret": "x",
   "tag": "", "bbb_version": "3.0.4", "state": "cordoned", "load": "unavailable",
   "load_multiplier": 2.5, "online": "offline"},
  {"id": "uuid-1", "url": "https://bbb-01.example.com/bigbluebutton/api", "secret": "y",
   "tag": "", "bbb_version": "", "state": "enabled", "load": 3, "load_multiplier": 1.0,
   "online": "online"}
])";

TEST(ScaleliteApi, AnswerBecomesTheSameRecordsAsRedisHolds) {
    source_error error;
    const auto records = records_from_api(200, two_servers, error);
    ASSERT_TRUE(records) << error.message;
    ASSERT_EQ(records->size(), 2u);
    EXPECT_EQ((*records)[0].id, "uuid-1");  // sorted, as SMEMBERS is
    const auto d = derive_nodes(*records, {});
    ASSERT_EQ(d.nodes.size(), 2u);
    EXPECT_TRUE(d.skipped.empty());
    EXPECT_EQ(d.nodes[0].id, "bbb-01");
    EXPECT_EQ(d.nodes[0].url, "https://bbb-01.example.com");
    EXPECT_TRUE(d.nodes[0].online);  // "online" as Redis's 'true'
    EXPECT_EQ(d.nodes[1].id, "bbb-02");
    EXPECT_EQ(d.nodes[1].state, "cordoned");
    EXPECT_FALSE(d.nodes[1].online);
}

TEST(ScaleliteApi, EmptyRegistryIsAnEmptyListNotAnError) {
    source_error error;
    const auto records = records_from_api(404, R"({"error": "No servers are configured"})", error);
    ASSERT_TRUE(records);
    EXPECT_TRUE(records->empty());
    EXPECT_FALSE(error);
    // Another 404 (a wrong path) is not an empty registry.
    EXPECT_FALSE(records_from_api(404, R"({"error": "Not Found"})", error));
    EXPECT_EQ(error.what, source_error::kind::reply);
    EXPECT_NE(error.message.find("HTTP 404"), std::string::npos);
}

TEST(ScaleliteApi, BadRecordsAreSkippedWithTheirReason) {
    source_error error;
    const auto records = records_from_api(200, R"([
      {"id": "good", "url": "https://bbb-05.example.com/bigbluebutton/api"},
      "not an object",
      {"url": "https://bbb-06.example.com/bigbluebutton/api"},
      {"id": 7, "url": "https://bbb-07.example.com/bigbluebutton/api"},
      {"id": "url-number", "url": 42},
      {"id": "no-url", "secret": "x"},
      {"id": "ldap", "url": "ldap://bbb-08.example.com/bigbluebutton/api"}
    ])",
                                          error);
    ASSERT_TRUE(records) << error.message;
    const auto d = derive_nodes(*records, {});
    ASSERT_EQ(d.nodes.size(), 1u);
    EXPECT_EQ(d.nodes[0].id, "bbb-05");
    std::vector<std::string> reasons;
    for (const auto& s : d.skipped) {
        reasons.push_back(s.scalelite_id + ": " + s.reason);
    }
    const std::vector<std::string> expected{
        "#2: server #2 of the answer is not an object",
        "#3: server #3 of the answer has no id string",
        "#4: server #4 of the answer has no id string",
        "ldap: url 'ldap://bbb-08.example.com/bigbluebutton/api': ",
        "no-url: no url",
        "url-number: url is not a string",
    };
    ASSERT_EQ(reasons.size(), expected.size()) << ::testing::PrintToString(reasons);
    for (std::size_t i = 0; i < expected.size(); ++i) {
        EXPECT_EQ(reasons[i].rfind(expected[i], 0), 0u) << reasons[i];
    }
}

TEST(ScaleliteApi, RefusalsAndOtherAnswersAreNamedErrors) {
    source_error error;
    // A wrong secret: Scalelite answers 200 with its XML error.
    EXPECT_FALSE(records_from_api(200,
                                  "<?xml version=\"1.0\"?>\n<response><returncode>FAILED"
                                  "</returncode><messageKey>checksumError</messageKey><message>"
                                  "Checksums do not match</message></response>",
                                  error));
    EXPECT_EQ(error.what, source_error::kind::auth);
    EXPECT_NE(error.message.find("LOADBALANCER_SECRET"), std::string::npos);

    EXPECT_FALSE(records_from_api(200,
                                  "<response><returncode>FAILED</returncode><messageKey>"
                                  "internalError</messageKey><message>boom\x1b[31m</message>"
                                  "</response>",
                                  error));
    EXPECT_EQ(error.what, source_error::kind::reply);
    EXPECT_NE(error.message.find("internalError: boom"), std::string::npos);
    EXPECT_EQ(error.message.find('\x1b'), std::string::npos);  // no control bytes into the log

    EXPECT_FALSE(records_from_api(502, "<html>Bad Gateway</html>", error));
    EXPECT_EQ(error.what, source_error::kind::reply);
    EXPECT_NE(error.message.find("HTTP 502"), std::string::npos);

    for (const char* body : {"{\"servers\": []}", "[1, 2", "", "null"}) {
        EXPECT_FALSE(records_from_api(200, body, error)) << body;
        EXPECT_EQ(error.what, source_error::kind::protocol) << body;
    }
}

}  // namespace
}  // namespace bcp::discovery
