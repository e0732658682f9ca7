// What discovery serves between polls: removal grace, the second read before an empty set is
// believed, changes, and the snapshot that survives a restart (issue 17).
#include "discovery/tracker.hpp"

#include "core/atomic_file.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace bcp::discovery {
namespace {

using namespace std::chrono_literals;
using clock = tracker::clock;

discovered_node node(const std::string& id, const std::string& host = "") {
    discovered_node n;
    n.id = id;
    n.url = "https://" + (host.empty() ? id + ".example.com" : host);
    n.upstream = *parse_origin(n.url).value;
    n.scalelite_id = "uuid-" + id;
    n.state = "enabled";
    n.online = true;
    return n;
}

std::vector<std::string> ids(const std::vector<discovered_node>& nodes) {
    std::vector<std::string> out;
    for (const auto& n : nodes) {
        out.push_back(n.id);
    }
    return out;
}

const clock::time_point t0 = clock::time_point(std::chrono::seconds(1'800'000'000));

TEST(DiscoveryTracker, AddsAtOnceAndKeepsAGoneServerForItsGrace) {
    tracker t(15min);
    EXPECT_TRUE(t.observe({node("bbb-01"), node("bbb-02")}, t0));
    EXPECT_EQ(ids(t.table()), (std::vector<std::string>{"bbb-01", "bbb-02"}));
    EXPECT_FALSE(t.observe({node("bbb-01"), node("bbb-02")}, t0 + 5s));  // nothing new
    // bbb-02 leaves `servers`: still routed (its meetings may run on) for 15 minutes.
    EXPECT_FALSE(t.observe({node("bbb-01")}, t0 + 10s));
    EXPECT_EQ(ids(t.table()), (std::vector<std::string>{"bbb-01", "bbb-02"}));
    ASSERT_EQ(t.in_grace().size(), 1u);
    EXPECT_EQ(t.in_grace()[0].since, t0 + 10s);
    EXPECT_FALSE(t.observe({node("bbb-01")}, t0 + 10s + 14min));
    EXPECT_TRUE(t.observe({node("bbb-01")}, t0 + 10s + 15min));
    EXPECT_EQ(ids(t.table()), (std::vector<std::string>{"bbb-01"}));
    // Grace also ends while polls fail (tick), and a returning server is back at once.
    EXPECT_TRUE(t.observe({node("bbb-01"), node("bbb-03")}, t0 + 20min));
    EXPECT_FALSE(t.observe({node("bbb-01")}, t0 + 21min));
    EXPECT_FALSE(t.tick(t0 + 30min));
    EXPECT_TRUE(t.tick(t0 + 36min));
    EXPECT_FALSE(t.observe({node("bbb-01")}, t0 + 37min));
    EXPECT_TRUE(t.observe({node("bbb-01"), node("bbb-04")}, t0 + 38min));
    EXPECT_FALSE(t.observe({node("bbb-01")}, t0 + 39min));
    EXPECT_FALSE(t.observe({node("bbb-01"), node("bbb-04")}, t0 + 40min));  // back within grace
    EXPECT_TRUE(t.in_grace().empty());
}

TEST(DiscoveryTracker, AnEmptySetIsBelievedOnlyOnTheSecondRead) {
    tracker t(0ms);  // no grace: what the empty set does is visible at once
    ASSERT_TRUE(t.observe({node("bbb-01"), node("bbb-02")}, t0));
    EXPECT_FALSE(t.observe({}, t0 + 5s));  // Redis restarted empty? Not believed yet.
    EXPECT_EQ(t.table().size(), 2u);
    EXPECT_FALSE(t.observe({node("bbb-01"), node("bbb-02")}, t0 + 10s));  // it was a blip
    EXPECT_FALSE(t.observe({}, t0 + 15s));
    EXPECT_TRUE(t.observe({}, t0 + 20s));  // twice in a row: believed
    EXPECT_TRUE(t.table().empty());
}

TEST(DiscoveryTracker, AnotherUrlForAnIdIsAChange) {
    tracker t(15min);
    ASSERT_TRUE(t.observe({node("bbb-01")}, t0));
    EXPECT_TRUE(t.observe({node("bbb-01", "bbb-01.new.example.com")}, t0 + 5s));
    EXPECT_EQ(t.table()[0].url, "https://bbb-01.new.example.com");
}

TEST(DiscoveryTracker, TheSnapshotRestoresTheTableAndItsGraces) {
    tracker t(15min);
    t.observe({node("bbb-01"), node("bbb-02")}, t0);
    t.observe({node("bbb-01")}, t0 + 10s);
    const std::string text = t.to_json();

    const auto dir = std::filesystem::temp_directory_path() / "bcp-tracker-test";
    std::filesystem::create_directories(dir);
    const std::string path = (dir / "scalelite-nodes.json").string();
    std::string error;
    ASSERT_TRUE(write_file_atomically(path, text, error)) << error;
    EXPECT_FALSE(std::filesystem::exists(path + ".tmp"));
    std::ifstream in(path);
    const std::string read((std::istreambuf_iterator<char>(in)), {});
    EXPECT_EQ(read, text);

    tracker restored(15min);
    ASSERT_TRUE(restored.from_json(read, error)) << error;
    EXPECT_EQ(ids(restored.table()), (std::vector<std::string>{"bbb-01", "bbb-02"}));
    EXPECT_EQ(restored.table()[0].upstream.host, "bbb-01.example.com");
    EXPECT_EQ(restored.table()[0].scalelite_id, "uuid-bbb-01");
    ASSERT_EQ(restored.in_grace().size(), 1u);
    EXPECT_EQ(restored.in_grace()[0].since, t0 + 10s);  // the grace goes on, not restarts
    EXPECT_TRUE(restored.tick(t0 + 10s + 15min));

    for (const std::string bad :
         {"", "{}", "[]", R"({"version":2,"nodes":[]})", R"({"version":1,"nodes":[{"id":"x"}]})",
          R"({"version":1,"nodes":[{"id":"x","url":"ftp://x"}]})"}) {
        tracker untouched(15min);
        untouched.observe({node("bbb-09")}, t0);
        EXPECT_FALSE(untouched.from_json(bad, error)) << bad;
        EXPECT_FALSE(error.empty());
        EXPECT_EQ(ids(untouched.table()), (std::vector<std::string>{"bbb-09"})) << bad;
    }
    std::filesystem::remove_all(dir);
    EXPECT_FALSE(write_file_atomically((dir / "missing" / "x.json").string(), text, error));
    EXPECT_NE(error.find("cannot write"), std::string::npos) << error;
}

}  // namespace
}  // namespace bcp::discovery
