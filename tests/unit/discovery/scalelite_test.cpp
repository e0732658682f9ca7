// Scalelite records as nodes: id derivation, URL validation, conflicts, and records read from
// Redis replies of the wrong shape (issue 17).
#include "discovery/scalelite.hpp"

#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

namespace bcp::discovery {
namespace {

scalelite_record server(const std::string& id, const std::string& url,
                        const std::string& state = "enabled", const std::string& online = "true") {
    return {id, std::vector<std::pair<std::string, std::string>>{{"url", url},
                                                                 {"secret", "x"},
                                                                 {"state", state},
                                                                 {"online", online},
                                                                 {"load_multiplier", "1.0"}}};
}

TEST(ScaleliteIds, DerivedFromTheHostOrTheIdOrTheMap) {
    const std::map<std::string, std::string> ids{{"uuid-7", "room-7"},
                                                 {"bbb-09.example.com", "ninth"}};
    const struct {
        const char* scalelite_id;
        const char* url;
        const char* id;  // nullptr: skipped
    } cases[] = {
        {"0f1c-uuid", "https://bbb-01.example.com/bigbluebutton/api", "bbb-01"},
        {"0f1c-uuid", "https://BBB-02.Example.com:8443/bigbluebutton/api/", "bbb-02"},
        {"bbb-03.example.com", "http://bbb-03/bigbluebutton/api", "bbb-03"},
        {"uuid-7", "https://bbb-07.example.com/bigbluebutton/api", "room-7"},
        {"uuid-9", "https://bbb-09.example.com/bigbluebutton/api", "ninth"},
        {"ip-node", "https://10.0.0.8/bigbluebutton/api", "ip-node"},
        {"v6-node", "https://[2001:db8::8]:443/bigbluebutton/api", "v6-node"},
        {"bad id!", "https://10.0.0.9/bigbluebutton/api", nullptr},
    };
    for (const auto& c : cases) {
        std::string why;
        const auto o = origin_of_api_url(c.url, why);
        ASSERT_TRUE(o) << c.url << ": " << why;
        const auto id = node_id_for(c.scalelite_id, *o, ids, why);
        if (c.id == nullptr) {
            EXPECT_FALSE(id) << c.url;
            EXPECT_NE(why.find("discovery.scalelite.ids"), std::string::npos) << why;
        } else {
            ASSERT_TRUE(id) << c.url << ": " << why;
            EXPECT_EQ(*id, c.id) << c.url;
        }
    }
}

TEST(ScaleliteUrls, OnlyABbbApiUrlNamesANode) {
    for (const char* bad : {"https://bbb-01.example.com", "https://bbb-01.example.com/",
                            "https://bbb-01.example.com/bigbluebutton",
                            "https://bbb-01.example.com/bigbluebutton/api/create",
                            "https://bbb-01.example.com/bigbluebutton/api?x=1",
                            "ftp://bbb-01.example.com/bigbluebutton/api",
                            "https://user:pw@bbb-01.example.com/bigbluebutton/api",
                            "bbb-01.example.com/bigbluebutton/api", ""}) {
        std::string why;
        EXPECT_FALSE(origin_of_api_url(bad, why)) << bad;
        EXPECT_FALSE(why.empty()) << bad;
    }
    std::string why;
    const auto o = origin_of_api_url("https://bbb-01.example.com:8443/bigbluebutton/api", why);
    ASSERT_TRUE(o) << why;
    EXPECT_EQ(o->to_string(), "https://bbb-01.example.com:8443");
}

TEST(ScaleliteNodes, EveryServerIsRoutedWhateverItsStateAndEveryBadRecordIsReported) {
    std::vector<scalelite_record> records{
        server("a", "https://bbb-01.example.com/bigbluebutton/api", "cordoned", "false"),
        server("b", "https://bbb-02.example.com/bigbluebutton/api", "disabled"),
        server("c", "https://bbb-03.example.com/bigbluebutton/api", ""),
        server("d", "https://bbb-04.example.com/somewhere"),
        {"e", std::nullopt},
        {"f", std::vector<std::pair<std::string, std::string>>{{"secret", "x"}}},
        server("g", "https://bbb-05.example.com/bigbluebutton/api"),
        server("h", "https://bbb-05.other.example.com/bigbluebutton/api"),
    };
    const auto d = derive_nodes(records, {});
    ASSERT_EQ(d.nodes.size(), 3u);
    EXPECT_EQ(d.nodes[0].id, "bbb-01");
    EXPECT_EQ(d.nodes[0].url, "https://bbb-01.example.com");
    EXPECT_EQ(d.nodes[0].state, "cordoned");
    EXPECT_FALSE(d.nodes[0].online);
    EXPECT_EQ(d.nodes[1].id, "bbb-02");
    EXPECT_EQ(d.nodes[1].state, "disabled");
    EXPECT_EQ(d.nodes[2].id, "bbb-03");
    std::map<std::string, std::string> skipped;
    for (const auto& s : d.skipped) {
        skipped[s.scalelite_id] = s.reason;
    }
    ASSERT_EQ(skipped.size(), 5u);
    EXPECT_NE(skipped["d"].find("/bigbluebutton/api"), std::string::npos) << skipped["d"];
    EXPECT_NE(skipped["e"].find("missing or not a hash"), std::string::npos) << skipped["e"];
    EXPECT_EQ(skipped["f"], "no url");
    // Two servers under one id: neither is served, both are reported.
    EXPECT_NE(skipped["g"].find("node id 'bbb-05' is also derived"), std::string::npos);
    EXPECT_NE(skipped["h"].find("node id 'bbb-05' is also derived"), std::string::npos);
    // The map settles the conflict.
    const auto mapped = derive_nodes(records, {{"h", "bbb-05b"}});
    EXPECT_EQ(mapped.nodes.size(), 5u);
}

TEST(ScaleliteReplies, RecordsFromRepliesOfAnyShape) {
    redis_reply members;
    members.type = redis_reply::kind::array;
    for (const char* id : {"b", "a", "c", "d"}) {
        redis_reply e;
        e.type = redis_reply::kind::string;
        e.text = id;
        members.elements.push_back(e);
    }
    const auto ids = member_ids(members);
    ASSERT_TRUE(ids);
    EXPECT_EQ(*ids, (std::vector<std::string>{"a", "b", "c", "d"}));
    const auto cmds = hgetall_commands("scalelite", *ids);
    ASSERT_EQ(cmds.size(), 4u);
    EXPECT_EQ(cmds[0], (std::vector<std::string>{"HGETALL", "scalelite:server:a"}));

    const auto str = [](const char* t) {
        redis_reply r;
        r.type = redis_reply::kind::string;
        r.text = t;
        return r;
    };
    redis_reply hash;
    hash.type = redis_reply::kind::array;
    hash.elements = {str("url"), str("https://bbb-01.example.com/bigbluebutton/api")};
    redis_reply wrongtype;
    wrongtype.type = redis_reply::kind::error;
    wrongtype.text = "WRONGTYPE Operation against a key holding the wrong kind of value";
    redis_reply odd;
    odd.type = redis_reply::kind::array;
    odd.elements = {str("url")};
    redis_reply empty;  // a server id without its hash: HGETALL answers an empty list
    empty.type = redis_reply::kind::array;
    const auto records = records_from(*ids, {hash, wrongtype, odd, empty});
    ASSERT_EQ(records.size(), 4u);
    ASSERT_TRUE(records[0].fields);
    EXPECT_EQ(records[0].fields->front().second, "https://bbb-01.example.com/bigbluebutton/api");
    EXPECT_FALSE(records[1].fields);
    EXPECT_FALSE(records[2].fields);
    EXPECT_FALSE(records[3].fields);

    redis_reply not_a_set;
    not_a_set.type = redis_reply::kind::error;
    EXPECT_FALSE(member_ids(not_a_set));
}

}  // namespace
}  // namespace bcp::discovery
