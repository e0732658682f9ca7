// The POST exception (docs/security.md "POST") through the real binary, in front of simulated BBB
// 2.x (Meteor) nodes: the dynamic-import endpoint is passed, cached by body and coalesced;
// feedback is passed and never cached; every other POST is 405 and never reaches a node; the
// body's framing rules (length, type, Expect, pipelining, a slow body) hold on the wire.
#include "harness.hpp"
#include "proxy_process.hpp"

#include <gtest/gtest.h>

#include <brotli/decode.h>

#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace bcp::test {
namespace {

const std::string mount = "/bbb-01/html5client/";
const std::string fetch_path = mount + "__meteor__/dynamic-import/fetch";
const std::string panel = R"({"node_modules":{"lazy":{"panel.js":1}}})";
const std::string chart = R"({"node_modules":{"lazy":{"chart.js":1}}})";

std::string yaml(node_set& nodes, const std::string& extra = {}) {
    return proxy_yaml(nodes, "cache: {enabled: true}\nadmin: {address: \"127.0.0.1:0\"}\n" + extra);
}

// A POST as browsers send Meteor's fetch(): a string body, so text/plain;charset=UTF-8.
std::string post(const std::string& target, const std::string& body,
                 const std::string& headers = "Content-Type: text/plain;charset=UTF-8\r\n") {
    return "POST " + target + " HTTP/1.1\r\nHost: localhost\r\n" + headers +
           "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
}

std::optional<response> send_one(std::uint16_t port, const std::string& request) {
    client c(port);
    EXPECT_TRUE(c.connected());
    c.send(request);
    return c.read();
}

std::string brotli_decode(const std::string& in) {
    std::string out(1 << 20, '\0');
    std::size_t size = out.size();
    if (BrotliDecoderDecompress(in.size(), reinterpret_cast<const std::uint8_t*>(in.data()), &size,
                                reinterpret_cast<std::uint8_t*>(out.data())) !=
        BROTLI_DECODER_RESULT_SUCCESS) {
        return "<not brotli>";
    }
    out.resize(size);
    return out;
}

TEST(Post, ThreeHundredConcurrentIdenticalDynamicImportsMakeOneNodeRequest) {
    node_set nodes({"bbb-01"}, nullptr, demo::client_kind::meteor);
    proxy_process p(yaml(nodes));
    ASSERT_TRUE(p.ok()) << p.log();
    // What the node itself answers (straight to it, not counted by the proxy's cache).
    const auto direct = send_one(nodes[0].port(), post(fetch_path, panel));
    ASSERT_TRUE(direct);
    ASSERT_EQ(direct->result_int(), 200);
    ASSERT_NE(direct->body().find(R"(exports.node=\"bbb-01\")"), std::string::npos)
        << direct->body();
    const auto before = nodes[0].counters().dynamic_imports.load();

    constexpr int clients = 300;
    std::vector<std::unique_ptr<client>> cs;
    for (int i = 0; i < clients; ++i) {
        cs.push_back(std::make_unique<client>(p.port()));
        ASSERT_TRUE(cs.back()->connected()) << i;
    }
    // Every request is on the wire before the first answer is read.
    for (auto& c : cs) {
        c->send(post(fetch_path, panel));
    }
    int identical = 0;
    for (auto& c : cs) {
        const auto r = c->read(false, 20s);
        ASSERT_TRUE(r) << c->last_error();
        EXPECT_EQ(r->result_int(), 200);
        EXPECT_EQ((*r)[boost::beast::http::field::content_type], "application/json");
        identical += r->body() == direct->body() ? 1 : 0;
    }
    EXPECT_EQ(identical, clients);
    EXPECT_EQ(nodes[0].counters().dynamic_imports.load() - before, 1u);
    EXPECT_EQ(metric(p.admin_port(), R"(bcp_cache_requests_total{result="miss"})"), 1u);
}

TEST(Post, DifferentBodiesAreDifferentEntriesAndRepeatsAreHits) {
    node_set nodes({"bbb-01"}, nullptr, demo::client_kind::meteor);
    proxy_process p(yaml(nodes));
    ASSERT_TRUE(p.ok()) << p.log();
    const auto& count = nodes[0].counters().dynamic_imports;
    const auto a = send_one(p.port(), post(fetch_path, panel));
    const auto b = send_one(p.port(), post(fetch_path, chart));
    ASSERT_TRUE(a && b);
    EXPECT_EQ((*a)["X-Cache"], "MISS");
    EXPECT_EQ((*b)["X-Cache"], "MISS");
    EXPECT_NE(a->body().find("panel"), std::string::npos) << a->body();
    EXPECT_NE(b->body().find("chart"), std::string::npos) << b->body();
    EXPECT_EQ(count.load(), 2u);
    // The same bodies again, on one keep-alive connection and with JSON's own type: hits.
    client c(p.port());
    for (const auto* body : {&panel, &chart}) {
        c.send(post(fetch_path, *body, "Content-Type: application/json\r\n"));
        const auto r = c.read();
        ASSERT_TRUE(r) << c.last_error();
        EXPECT_EQ((*r)["X-Cache"], "HIT");
        EXPECT_EQ(r->body(), body == &panel ? a->body() : b->body());
    }
    // A GET of the same target is another resource: it is not answered from a POST's entry.
    const auto get = http_get(p.port(), fetch_path);
    ASSERT_TRUE(get);
    EXPECT_EQ(get->result_int(), 405);  // the node's answer to GET there
    // One byte more in the body is another entry.
    const auto other = send_one(p.port(), post(fetch_path, panel + " "));
    ASSERT_TRUE(other);
    EXPECT_EQ((*other)["X-Cache"], "MISS");
    EXPECT_EQ(count.load(), 3u);
    // A conditional POST is not answered 304 from the cache (RFC 9110 §13.2.1).
    const auto cond = send_one(
        p.port(), post(fetch_path, panel, "Content-Type: text/plain\r\nIf-None-Match: *\r\n"));
    ASSERT_TRUE(cond);
    EXPECT_EQ(cond->result_int(), 200);
    // `cache purge --node` (the admin endpoint it calls) drops a node's POST entries too.
    client admin(p.admin_port());
    admin.send(
        "POST /cache/purge?node=bbb-01 HTTP/1.1\r\nHost: localhost\r\nContent-Length: 0\r\n\r\n");
    const auto purged = admin.read();
    ASSERT_TRUE(purged) << admin.last_error();
    EXPECT_EQ(purged->body(), "{\"node\":\"bbb-01\",\"purged\":3}\n");
    const auto again = send_one(p.port(), post(fetch_path, panel));
    ASSERT_TRUE(again);
    EXPECT_EQ((*again)["X-Cache"], "MISS");
    EXPECT_EQ(count.load(), 4u);
}

TEST(Post, CachedAnswersGetTheCompressedVariants) {
    node_set nodes({"bbb-01"}, nullptr, demo::client_kind::meteor);
    proxy_process p(yaml(nodes));
    ASSERT_TRUE(p.ok()) << p.log();
    const std::string ae =
        "Content-Type: text/plain;charset=UTF-8\r\nAccept-Encoding: gzip, br\r\n";
    const auto first = send_one(p.port(), post(fetch_path, panel));
    ASSERT_TRUE(first);
    const std::string identity = first->body();
    // The compressor works off the event loops: br arrives once it is made.
    std::optional<response> r;
    ASSERT_TRUE(eventually(
        [&] {
            r = send_one(p.port(), post(fetch_path, panel, ae));
            return r && (*r)[boost::beast::http::field::content_encoding] == "br";
        },
        10s));
    EXPECT_EQ(brotli_decode(r->body()), identity);
    EXPECT_EQ((*r)[boost::beast::http::field::vary], "Accept-Encoding");
    EXPECT_EQ(nodes[0].counters().dynamic_imports.load(), 1u);
    // With a Cookie (Meteor's fetch sends the proxy origin's cookies) the shared answer is still
    // a hit.
    const auto cookie =
        send_one(p.port(), post(fetch_path, panel, "Content-Type: text/plain\r\nCookie: a=b\r\n"));
    ASSERT_TRUE(cookie);
    EXPECT_EQ((*cookie)["X-Cache"], "HIT");
}

TEST(Post, FeedbackIsPassedAndNeverCached) {
    node_set nodes({"bbb-01"}, nullptr, demo::client_kind::meteor);
    proxy_process p(yaml(nodes));
    ASSERT_TRUE(p.ok()) << p.log();
    const std::string rating = R"({"rating":5,"comment":"fine"})";
    for (int i = 0; i < 2; ++i) {
        const auto r = send_one(
            p.port(), post(mount + "feedback", rating, "Content-Type: application/json\r\n"));
        ASSERT_TRUE(r);
        EXPECT_EQ(r->result_int(), 200);
        EXPECT_EQ(r->body(), R"({"status":"ok"})");
        EXPECT_EQ((*r)["X-Cache"], "");
    }
    EXPECT_EQ(nodes[0].counters().feedbacks.load(), 2u);
}

TEST(Post, EveryOtherPostIs405AndNeverReachesANode) {
    node_set nodes({"bbb-01", "bbb-02"}, nullptr, demo::client_kind::meteor);
    proxy_process p(yaml(nodes));
    ASSERT_TRUE(p.ok()) << p.log();
    const std::vector<std::string> targets{
        mount,
        mount + "feedback/",
        mount + "Feedback",
        mount + "feedbackx",
        mount + "__meteor__/dynamic-import/fetch/x",
        mount + "__meteor__/dynamic-import",
        "/bbb-01/other/feedback",
        "/bbb-01/feedback",
        "/feedback",
        "/nobody/html5client/feedback",
        mount + "%66eedback",
        mount + "./feedback",
        mount + "x/../feedback",
        "http://localhost" + mount + "feedback",
    };
    const std::vector<std::string> framings{
        "Content-Type: application/json\r\n",
        "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n",
        "Content-Type: multipart/form-data\r\n",
    };
    const auto before = nodes.total_requests();
    for (const auto& t : targets) {
        for (const auto& f : framings) {
            const auto r = send_one(p.port(), post(t, "{}", f));
            ASSERT_TRUE(r) << t;
            EXPECT_EQ(r->result_int(), 405) << t << " with " << f;
            EXPECT_EQ((*r)[boost::beast::http::field::allow], "GET, HEAD") << t;
        }
    }
    for (const auto* method : {"PUT", "PATCH", "DELETE", "OPTIONS"}) {
        const auto r = send_one(p.port(), std::string(method) + " " + fetch_path +
                                              " HTTP/1.1\r\nHost: localhost\r\n"
                                              "Content-Length: 2\r\n\r\n{}");
        ASSERT_TRUE(r);
        EXPECT_EQ(r->result_int(), 405) << method;
    }
    EXPECT_EQ(nodes.total_requests(), before);
}

TEST(Post, AnEmptyListTurnsTheExceptionOffPerNode) {
    node_set nodes({"bbb-01", "bbb-02"}, nullptr, demo::client_kind::meteor);
    const std::string cfg =
        "public_url: \"https://proxy.example.com\"\nlisten:\n  - address: \"127.0.0.1:0\"\n"
        "nodes:\n  - id: bbb-01\n    url: \"http://127.0.0.1:" +
        std::to_string(nodes[0].port()) +
        "\"\n    post: {paths: []}\n  - id: bbb-02\n    url: \"http://127.0.0.1:" +
        std::to_string(nodes[1].port()) + "\"\n";
    proxy_process p(cfg);
    ASSERT_TRUE(p.ok()) << p.log();
    const auto off = send_one(p.port(), post(fetch_path, panel));
    ASSERT_TRUE(off);
    EXPECT_EQ(off->result_int(), 405);
    EXPECT_EQ(nodes[0].counters().requests.load(), 0u);
    const auto on =
        send_one(p.port(), post("/bbb-02/html5client/__meteor__/dynamic-import/fetch", panel));
    ASSERT_TRUE(on);
    EXPECT_EQ(on->result_int(), 200);
    EXPECT_NE(on->body().find(R"(exports.node=\"bbb-02\")"), std::string::npos);
}

TEST(Post, BodyRulesOnTheWire) {
    node_set nodes({"bbb-01"}, nullptr, demo::client_kind::meteor);
    proxy_process p(yaml(nodes, "post: {max_body_size: 1KiB}\n"));
    ASSERT_TRUE(p.ok()) << p.log();
    const std::string fb = mount + "feedback";
    const std::string head = "POST " + fb + " HTTP/1.1\r\nHost: localhost\r\n";
    const struct {
        std::string request;
        unsigned status;
    } cases[] = {
        {head + "Content-Type: application/json\r\n\r\n{}", 411},
        {head + "Content-Type: application/json\r\nContent-Length: 1025\r\n\r\n", 413},
        {head + "Content-Type: text/html\r\nContent-Length: 2\r\n\r\n{}", 415},
        {head + "Content-Type: application/json\r\nTransfer-Encoding: "
                "chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n",
         400},
        {head + "Content-Type: application/json\r\nContent-Length: 2\r\nTransfer-Encoding: "
                "chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n",
         400},
        {head +
             "Content-Type: application/json\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}",
         400},
        {head + "Content-Type: application/json\r\nContent-Length: 2\r\nExpect: 200-ok\r\n\r\n{}",
         417},
    };
    for (const auto& c : cases) {
        client cl(p.port());
        cl.send(c.request);
        const auto r = cl.read();
        ASSERT_TRUE(r) << c.request;
        EXPECT_EQ(r->result_int(), c.status) << c.request;
        // Refused before its body was read: the connection ends (no body can pass for a request).
        EXPECT_TRUE(cl.closed_within(2s)) << c.request;
    }
    EXPECT_EQ(nodes[0].counters().requests.load(), 0u);
    EXPECT_EQ(metric(p.admin_port(), R"(bcp_refusals_total{reason="body_too_large"})"), 1u);
    EXPECT_EQ(metric(p.admin_port(), R"(bcp_refusals_total{reason="media_type"})"), 1u);
    EXPECT_EQ(metric(p.admin_port(), R"(bcp_refusals_total{reason="length_required"})"), 1u);
    EXPECT_EQ(metric(p.admin_port(), R"(bcp_refusals_total{reason="expectation"})"), 1u);

    // The exact limit passes, and the node gets exactly the body with our Content-Length.
    const auto full =
        send_one(p.port(), post(fb, std::string(1024, 'x'), "Content-Type: text/plain\r\n"));
    ASSERT_TRUE(full);
    EXPECT_EQ(full->result_int(), 200);
    EXPECT_EQ(nodes[0].counters().feedbacks.load(), 1u);
}

TEST(Post, PipelinedRequestsAfterABodyAndLongerBodies) {
    node_set nodes({"bbb-01"}, nullptr, demo::client_kind::meteor);
    proxy_process p(yaml(nodes));
    ASSERT_TRUE(p.ok()) << p.log();
    const std::string fb = mount + "feedback";
    {
        // POST, then a GET in the same write: both answered, in order, on one connection.
        client c(p.port());
        c.send(post(fb, "{}", "Content-Type: application/json\r\n") + "GET " + mount +
               " HTTP/1.1\r\nHost: localhost\r\n\r\n" + post(fetch_path, panel));
        const auto first = c.read();
        const auto second = c.read();
        const auto third = c.read();
        ASSERT_TRUE(first && second && third) << c.last_error();
        EXPECT_EQ(first->body(), R"({"status":"ok"})");
        EXPECT_NE(second->body().find("node-id"), std::string::npos);
        EXPECT_NE(third->body().find("panel"), std::string::npos);
    }
    {
        // A body longer than announced: the node gets the announced bytes; the rest is read as
        // the next request, which is not one (400, and the connection ends).
        client c(p.port());
        c.send(post(fb, "{}", "Content-Type: application/json\r\n") + "garbage\r\n\r\n");
        const auto first = c.read();
        const auto second = c.read();
        ASSERT_TRUE(first && second) << c.last_error();
        EXPECT_EQ(first->result_int(), 200);
        EXPECT_EQ(second->result_int(), 400);
        EXPECT_TRUE(c.closed_within(2s));
    }
    EXPECT_EQ(nodes[0].counters().feedbacks.load(), 2u);
}

TEST(Post, ExpectContinueAndBodiesInPieces) {
    node_set nodes({"bbb-01"}, nullptr, demo::client_kind::meteor);
    proxy_process p(yaml(nodes));
    ASSERT_TRUE(p.ok()) << p.log();
    client c(p.port());
    c.send("POST " + fetch_path +
           " HTTP/1.1\r\nHost: localhost\r\nContent-Type: text/plain\r\nExpect: 100-continue\r\n"
           "Content-Length: " +
           std::to_string(panel.size()) + "\r\n\r\n");
    const auto interim = c.read();
    ASSERT_TRUE(interim) << c.last_error();
    EXPECT_EQ(interim->result_int(), 100);
    // The body in three pieces, well within the head deadline.
    for (std::size_t at = 0; at < panel.size(); at += 15) {
        c.send(panel.substr(at, 15));
        std::this_thread::sleep_for(30ms);
    }
    const auto r = c.read();
    ASSERT_TRUE(r) << c.last_error();
    EXPECT_EQ(r->result_int(), 200);
    EXPECT_NE(r->body().find("panel"), std::string::npos);
}

TEST(Post, ABodySlowerThanTheHeadDeadlineEndsTheConnection) {
    node_set nodes({"bbb-01"}, nullptr, demo::client_kind::meteor);
    proxy_process p(yaml(nodes, "timeouts: {client_head: 1s}\n"));
    ASSERT_TRUE(p.ok()) << p.log();
    client c(p.port());
    // Head and half of the body at once, then nothing: the deadline runs from the head's first
    // byte and covers the body.
    const std::string request = post(fetch_path, panel);
    c.send(request.substr(0, request.size() - panel.size() / 2));
    const auto start = std::chrono::steady_clock::now();
    std::string got;
    EXPECT_TRUE(c.closed_within(5s, &got));
    EXPECT_GE(std::chrono::steady_clock::now() - start, 800ms);
    EXPECT_EQ(got, "");  // nothing was answered: there was no complete request
    EXPECT_EQ(nodes[0].counters().requests.load(), 0u);
    // Counted by the worker as it closes: the client may see the close first.
    EXPECT_TRUE(eventually([&] {
        return metric(p.admin_port(), R"(bcp_refusals_total{reason="body_timeout"})") == 1;
    }));
}

}  // namespace
}  // namespace bcp::test
