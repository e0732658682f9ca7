// The Redis client's pure parts: URLs (with the password kept out of messages), the command
// formatter and the reply reader fed in pieces.
#include "discovery/redis.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace bcp::discovery {
namespace {

TEST(RedisUrl, ValidForms) {
    const struct {
        const char* text;
        const char* host;
        unsigned port;
        bool tls;
        const char* user;
        const char* password;
        unsigned database;
    } cases[] = {
        {"redis://10.0.0.5", "10.0.0.5", 6379, false, "", "", 0},
        {"redis://:s3cret@10.0.0.5:6380/2", "10.0.0.5", 6380, false, "", "s3cret", 2},
        {"rediss://reader:p%40ss%3Aword@redis.example.com:6390/0", "redis.example.com", 6390, true,
         "reader", "p@ss:word", 0},
        {"redis://[::1]:7000", "::1", 7000, false, "", "", 0},
        {"redis://:a@b@host", "host", 6379, false, "", "a@b", 0},
    };
    for (const auto& c : cases) {
        const auto r = parse_redis_url(c.text);
        ASSERT_TRUE(r.value) << c.text << ": " << r.message;
        EXPECT_EQ(r.value->host, c.host) << c.text;
        EXPECT_EQ(r.value->port, c.port) << c.text;
        EXPECT_EQ(r.value->tls, c.tls) << c.text;
        EXPECT_EQ(r.value->user, c.user) << c.text;
        EXPECT_EQ(r.value->password, c.password) << c.text;
        EXPECT_EQ(r.value->database, c.database) << c.text;
    }
}

TEST(RedisUrl, InvalidFormsSayWhyWithoutThePassword) {
    const struct {
        const char* text;
        const char* message_part;
    } cases[] = {
        {"http://10.0.0.5", "is not a Redis URL"},
        {"10.0.0.5:6379", "is not a Redis URL"},
        {"redis://", "has no host"},
        {"redis://:topsecret@", "has no host"},
        {"redis://host:0", "invalid port"},
        {"redis://host:65536", "invalid port"},
        {"redis://host:", "invalid port"},
        {"redis://host:x", "invalid port"},
        {"redis://host/x", "database number"},
        {"redis://host/", "database number"},
        {"redis://host/0?timeout=1", "query"},
        {"redis://topsecret@host", "user without a password"},
        {"redis://:top%zzsecret@host", "%-escape"},
        {"redis://ho st", "invalid host"},
        {"redis://::1", "IPv6"},
        {"redis://[::1", "unclosed"},
    };
    for (const auto& c : cases) {
        const auto r = parse_redis_url(c.text);
        EXPECT_FALSE(r.value) << c.text;
        EXPECT_NE(r.message.find(c.message_part), std::string::npos) << c.text << ": " << r.message;
        EXPECT_EQ(r.message.find("secret"), std::string::npos) << r.message;
    }
}

TEST(RedisUrl, RedactedHidesThePassword) {
    EXPECT_EQ(parse_redis_url("redis://:s3cret@10.0.0.5:6380/2").value->redacted(),
              "redis://:***@10.0.0.5:6380/2");
    EXPECT_EQ(parse_redis_url("rediss://reader:x@[::1]").value->redacted(),
              "rediss://reader:***@[::1]:6379/0");
    EXPECT_EQ(parse_redis_url("redis://h").value->redacted(), "redis://h:6379/0");
}

TEST(RedisProtocol, CommandsAreBinarySafe) {
    const std::vector<std::string> get{"HGETALL", "scalelite:server:a b"};
    EXPECT_EQ(format_command(get), "*2\r\n$7\r\nHGETALL\r\n$20\r\nscalelite:server:a b\r\n");
    const std::vector<std::string> odd{"SET", std::string("k\r\n\0", 4), ""};
    EXPECT_EQ(format_command(odd),
              std::string("*3\r\n$3\r\nSET\r\n$4\r\nk\r\n\0\r\n$0\r\n\r\n", 29));
}

TEST(RedisProtocol, ReaderTakesRepliesInPieces) {
    const std::string wire =
        "+OK\r\n-WRONGPASS invalid username-password pair\r\n:42\r\n$-1\r\n"
        "*2\r\n$3\r\nurl\r\n$44\r\nhttps://bbb-01.example.com/bigbluebutton/api\r\n"
        "*1\r\n*0\r\n";
    reply_reader reader;
    std::vector<redis_reply> replies;
    std::string error;
    for (const char c : wire) {  // one byte at a time: every split point
        ASSERT_TRUE(reader.feed(std::string_view(&c, 1)));
        while (auto r = reader.next(error)) {
            replies.push_back(std::move(*r));
        }
        ASSERT_TRUE(error.empty()) << error;
    }
    ASSERT_EQ(replies.size(), 6u);
    EXPECT_EQ(replies[0].type, redis_reply::kind::status);
    EXPECT_EQ(replies[0].text, "OK");
    EXPECT_EQ(replies[1].type, redis_reply::kind::error);
    EXPECT_EQ(replies[1].text, "WRONGPASS invalid username-password pair");
    EXPECT_EQ(replies[2].type, redis_reply::kind::integer);
    EXPECT_EQ(replies[2].integer, 42);
    EXPECT_EQ(replies[3].type, redis_reply::kind::nil);
    ASSERT_EQ(replies[4].type, redis_reply::kind::array);
    ASSERT_EQ(replies[4].elements.size(), 2u);
    EXPECT_EQ(replies[4].elements[1].text, "https://bbb-01.example.com/bigbluebutton/api");
    ASSERT_EQ(replies[5].elements.size(), 1u);
    EXPECT_EQ(replies[5].elements[0].type, redis_reply::kind::array);
    EXPECT_TRUE(replies[5].elements[0].elements.empty());
}

TEST(RedisProtocol, ReaderRefusesWhatIsNotRedis) {
    reply_reader reader;
    ASSERT_TRUE(reader.feed("HTTP/1.1 400 Bad Request\r\n"));
    std::string error;
    EXPECT_FALSE(reader.next(error));
    EXPECT_FALSE(error.empty());
}

}  // namespace
}  // namespace bcp::discovery
