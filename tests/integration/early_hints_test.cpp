// Interim responses through the real binary: a node's 103 Early Hints (RFC 8297) reaches
// HTTP/1.1 clients as a 103 with the node's Link fields only, HTTP/1.0 clients never see it, other
// 1xx stay behind. The node is a small scripted raw-socket server (the simulated BBB node cannot
// send interim responses), which also serves the CDN-Cache-Control (RFC 9213) end-to-end check.
#include "harness.hpp"
#include "proxy_process.hpp"
#include "raw_node.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <thread>

namespace bcp::test {
namespace {

const std::string mount = "/bbb-01/html5client/";

// What the node answers per request target (everything else: a plain 200).
std::string script(const std::string& target) {
    const std::string ok = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n";
    if (target == mount + "hints") {
        return "HTTP/1.1 103 Early Hints\r\nLink: </x.css>; rel=preload; as=style\r\n"
               "X-Node-Secret: 1\r\nConnection: keep-alive, X-Node-Secret\r\n"
               "Link: </y.js>; rel=preload; as=script\r\n\r\n" +
               ok + "\r\nok";
    }
    if (target == mount + "many") {
        std::string out = "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 102 Processing\r\n\r\n";
        for (int i = 0; i < 6; ++i) {
            out += "HTTP/1.1 103 Early Hints\r\nLink: </" + std::to_string(i) +
                   ".css>; rel=preload\r\n\r\n";
        }
        return out + ok + "\r\nok";
    }
    if (target == mount + "no-link") {
        return "HTTP/1.1 103 Early Hints\r\nX-Other: 1\r\n\r\n" + ok + "\r\nok";
    }
    if (target == mount + "cached") {
        return "HTTP/1.1 103 Early Hints\r\nLink: </x.css>; rel=preload\r\n\r\n" + ok +
               "Cache-Control: public, max-age=600\r\n\r\nok";
    }
    if (target == mount + "aged") {
        // Already 100 s old when it reaches the proxy, with 60 s of freshness: stale on arrival.
        return ok + "Cache-Control: public, max-age=60\r\nAge: 100\r\nETag: \"a1\"\r\n\r\nok";
    }
    if (target == mount + "young") {
        return ok + "Cache-Control: public, max-age=600\r\nAge: 30\r\n\r\nok";
    }
    if (target == mount + "cdn") {
        return ok + "Cache-Control: no-store\r\nCDN-Cache-Control: max-age=600\r\n\r\nok";
    }
    return ok + "\r\nok";
}

// The node: raw_node answering each request head with script(target).
class scripted_node : public raw_node {
  public:
    scripted_node()
        : raw_node([](const std::string& target, const std::string&) {
              if (target == mount + "slow-head") {
                  // Longer than the client_head deadline of the ClientDeadlines test (the node
                  // serves one connection at a time; that test has only one).
                  std::this_thread::sleep_for(std::chrono::milliseconds(900));
              }
              return reply{script(target)};
          }) {}
};

std::string yaml(const scripted_node& node, const std::string& extra = {}) {
    return "public_url: \"https://proxy.example.com\"\nlisten:\n  - address: \"127.0.0.1:0\"\n"
           "nodes:\n  - id: bbb-01\n    url: \"http://127.0.0.1:" +
           std::to_string(node.port()) + "\"\n" + extra;
}

// One request on a new connection; everything the proxy sent until it closed.
std::string exchange(std::uint16_t port, const std::string& request) {
    client c(port);
    EXPECT_TRUE(c.connected());
    c.send(request);
    std::string got;
    EXPECT_TRUE(c.closed_within(5s, &got)) << "the proxy did not close: " << got;
    return got;
}

std::string get11(const std::string& path) {
    return "GET " + mount + path + " HTTP/1.1\r\nHost: p\r\nConnection: close\r\n\r\n";
}

std::size_t count(const std::string& text, const std::string& what) {
    std::size_t n = 0;
    for (auto at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) {
        ++n;
    }
    return n;
}

TEST(EarlyHints, RelayedToHttp11ClientsWithTheLinkFieldsOnly) {
    scripted_node node;
    proxy_process proxy(yaml(node));
    ASSERT_TRUE(proxy.ok()) << proxy.log();
    const std::string got = exchange(proxy.port(), get11("hints"));
    const std::string hint =
        "HTTP/1.1 103 Early Hints\r\n"
        "Link: </x.css>; rel=preload; as=style\r\n"
        "Link: </y.js>; rel=preload; as=script\r\n\r\n";
    ASSERT_EQ(got.substr(0, hint.size()), hint) << got;
    EXPECT_EQ(got.find("HTTP/1.1 200 OK\r\n"), hint.size()) << got;
    EXPECT_EQ(got.substr(got.size() - 6), "\r\n\r\nok") << got;
    EXPECT_EQ(got.find("X-Node-Secret"), std::string::npos) << got;
    EXPECT_EQ(count(got, "HTTP/1.1 103"), 1u) << got;
}

// The client's head deadline covers reading its request head only: a node that takes longer than
// that to answer (within upstream_response) must not get the client's connection closed.
TEST(ClientDeadlines, ANodeSlowerThanTheHeadDeadlineStillAnswers) {
    scripted_node node;
    proxy_process proxy(yaml(node, "timeouts:\n  client_head: 300ms\n"));
    ASSERT_TRUE(proxy.ok()) << proxy.log();
    const std::string got = exchange(proxy.port(), get11("slow-head"));
    EXPECT_EQ(got.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << got;
    EXPECT_EQ(got.substr(got.size() < 2 ? 0 : got.size() - 2), "ok") << got;
}

TEST(EarlyHints, NeverSentToHttp10Clients) {
    scripted_node node;
    proxy_process proxy(yaml(node));
    ASSERT_TRUE(proxy.ok()) << proxy.log();
    const std::string got =
        exchange(proxy.port(), "GET " + mount + "hints HTTP/1.0\r\nHost: p\r\n\r\n");
    EXPECT_EQ(got.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << got;
    EXPECT_EQ(got.find(" 103 "), std::string::npos) << got;
    EXPECT_EQ(got.find("Link:"), std::string::npos) << got;
    EXPECT_EQ(node.requests_for(mount + "hints"), 1u);
}

TEST(EarlyHints, AtMostFourAndOtherInterimResponsesDropped) {
    scripted_node node;
    proxy_process proxy(yaml(node));
    ASSERT_TRUE(proxy.ok()) << proxy.log();
    const std::string got = exchange(proxy.port(), get11("many"));
    EXPECT_EQ(count(got, "HTTP/1.1 103 Early Hints\r\n"), 4u) << got;
    EXPECT_EQ(got.find("</4.css>"), std::string::npos) << got;
    EXPECT_EQ(got.find(" 100 "), std::string::npos) << got;
    EXPECT_EQ(got.find(" 102 "), std::string::npos) << got;
    EXPECT_NE(got.find("Link: </3.css>; rel=preload\r\n\r\nHTTP/1.1 200 OK\r\n"), std::string::npos)
        << got;
    // A 103 without Link has nothing worth relaying.
    const std::string bare = exchange(proxy.port(), get11("no-link"));
    EXPECT_EQ(bare.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << bare;
    EXPECT_EQ(bare.find("X-Other"), std::string::npos) << bare;
}

TEST(EarlyHints, CacheFillRelaysTheHintAndAHitHasNone) {
    scripted_node node;
    proxy_process proxy(yaml(node, "cache:\n  enabled: true\n"));
    ASSERT_TRUE(proxy.ok()) << proxy.log();
    const std::string miss = exchange(proxy.port(), get11("cached"));
    EXPECT_EQ(miss.rfind("HTTP/1.1 103 Early Hints\r\nLink: </x.css>; rel=preload\r\n\r\n"
                         "HTTP/1.1 200 OK\r\n",
                         0),
              0u)
        << miss;
    EXPECT_NE(miss.find("X-Cache: MISS"), std::string::npos) << miss;
    const std::string hit = exchange(proxy.port(), get11("cached"));
    EXPECT_EQ(hit.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << hit;
    EXPECT_NE(hit.find("X-Cache: HIT"), std::string::npos) << hit;
    EXPECT_EQ(node.requests_for(mount + "cached"), 1u);
}

// RFC 9213: the cache follows CDN-Cache-Control over Cache-Control: no-store, and both fields
// reach the client unchanged.
TEST(CdnCacheControl, StoredByTheProxyAndForwardedUnchanged) {
    scripted_node node;
    proxy_process proxy(yaml(node, "cache:\n  enabled: true\n"));
    ASSERT_TRUE(proxy.ok()) << proxy.log();
    for (const char* expected : {"X-Cache: MISS", "X-Cache: HIT"}) {
        const std::string got = exchange(proxy.port(), get11("cdn"));
        EXPECT_EQ(got.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << got;
        EXPECT_NE(got.find(expected), std::string::npos) << got;
        EXPECT_NE(got.find("Cache-Control: no-store\r\n"), std::string::npos) << got;
        EXPECT_NE(got.find("CDN-Cache-Control: max-age=600\r\n"), std::string::npos) << got;
    }
    EXPECT_EQ(node.requests_for(mount + "cdn"), 1u);
}

// RFC 9111 §4.2.3 and §5.1: the node's Age is added to, never replaced. A response already stale
// on arrival is not served as fresh (the next request revalidates), and the Age clients see
// includes the node's.
TEST(CacheAge, ANodesAgeIsAddedToNotReplaced) {
    scripted_node node;
    proxy_process proxy(yaml(node, "cache:\n  enabled: true\n"));
    ASSERT_TRUE(proxy.ok()) << proxy.log();
    const auto age_of = [](const std::string& response) {
        const auto at = response.find("\r\nAge: ");
        return at == std::string::npos ? -1 : std::stoi(response.substr(at + 7));
    };
    const std::string first = exchange(proxy.port(), get11("aged"));
    EXPECT_NE(first.find("X-Cache: MISS"), std::string::npos) << first;
    EXPECT_GE(age_of(first), 100) << first;
    const std::string second = exchange(proxy.port(), get11("aged"));
    EXPECT_EQ(second.find("X-Cache: HIT"), std::string::npos) << second;
    EXPECT_GE(age_of(second), 100) << second;
    EXPECT_EQ(node.requests_for(mount + "aged"), 2u);

    const std::string young = exchange(proxy.port(), get11("young"));
    EXPECT_GE(age_of(young), 30) << young;
    const std::string hit = exchange(proxy.port(), get11("young"));
    EXPECT_NE(hit.find("X-Cache: HIT"), std::string::npos) << hit;
    EXPECT_GE(age_of(hit), 30) << hit;
    EXPECT_EQ(node.requests_for(mount + "young"), 1u);
}

}  // namespace
}  // namespace bcp::test
