// http::response_reader: the HTTP/1.1 responses a stream session writes, read back for HTTP/2.

#include "http/response_reader.hpp"
#include "http/local_reply.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace bcp::http {
namespace {

struct recorded_head {
    unsigned status = 0;
    std::vector<std::pair<std::string, std::string>> fields;
    bool informational = false;
    bool end = false;
};

struct recorder final : response_reader::events {
    std::vector<recorded_head> heads;
    std::string body;
    int pieces = 0;
    bool ended = false;
    int ends = 0;

    void head(unsigned status, std::span<const field_view> fields, bool informational,
              bool end) override {
        recorded_head h{status, {}, informational, end};
        for (const auto& f : fields) {
            h.fields.emplace_back(std::string(f.name), std::string(f.value));
        }
        heads.push_back(std::move(h));
        if (end) {
            ended = true;
            ++ends;
        }
    }
    void data(std::string_view bytes, bool end) override {
        EXPECT_FALSE(ended) << "data after the end";
        body.append(bytes);
        ++pieces;
        if (end) {
            ended = true;
            ++ends;
        }
    }
};

// Feeds `bytes` in pieces of `step` bytes; returns what feed() said last.
bool feed_in_steps(response_reader& r, std::string_view bytes, std::size_t step, recorder& out) {
    bool ok = true;
    for (std::size_t i = 0; i < bytes.size() && ok; i += step) {
        ok = r.feed(bytes.substr(i, step), out);
    }
    return ok;
}

const std::string length_response =
    "HTTP/1.1 200 OK\r\nContent-Type: text/css\r\nContent-Length: 11\r\n"
    "Cache-Control: max-age=60\r\nX-Empty:\r\n\r\nhello world";

TEST(ResponseReader, ContentLengthInOnePieceAndEveryByteApart) {
    for (std::size_t step :
         {length_response.size(), std::size_t{1}, std::size_t{3}, std::size_t{17}}) {
        SCOPED_TRACE(step);
        response_reader r(false);
        recorder out;
        ASSERT_TRUE(feed_in_steps(r, length_response, step, out));
        ASSERT_EQ(out.heads.size(), 1u);
        EXPECT_EQ(out.heads[0].status, 200u);
        ASSERT_EQ(out.heads[0].fields.size(), 4u);
        EXPECT_EQ(out.heads[0].fields[0],
                  (std::pair<std::string, std::string>{"Content-Type", "text/css"}));
        EXPECT_EQ(out.heads[0].fields[3], (std::pair<std::string, std::string>{"X-Empty", ""}));
        EXPECT_FALSE(out.heads[0].end);
        EXPECT_EQ(out.body, "hello world");
        EXPECT_EQ(out.ends, 1);
        EXPECT_TRUE(r.done());
    }
}

TEST(ResponseReader, ChunkedBodyWithExtensionsAndTrailers) {
    const std::string chunked =
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"
        "5\r\nhello\r\n1;name=value\r\n \r\nA \r\n0123456789\r\n0\r\nX-Trailer: 1\r\n\r\n";
    for (std::size_t step : {chunked.size(), std::size_t{1}, std::size_t{2}, std::size_t{7}}) {
        SCOPED_TRACE(step);
        response_reader r(false);
        recorder out;
        ASSERT_TRUE(feed_in_steps(r, chunked, step, out));
        ASSERT_EQ(out.heads.size(), 1u);
        EXPECT_EQ(out.body, "hello 0123456789");
        EXPECT_EQ(out.ends, 1);
        EXPECT_TRUE(r.done());
    }
}

TEST(ResponseReader, BodilessResponsesEndWithTheirHead) {
    for (const std::string head : {"HTTP/1.1 204 No Content\r\nX: y\r\n\r\n",
                                   "HTTP/1.1 304 Not Modified\r\nETag: \"a\"\r\n\r\n",
                                   "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"}) {
        response_reader r(false);
        recorder out;
        ASSERT_TRUE(r.feed(head, out)) << head;
        ASSERT_EQ(out.heads.size(), 1u);
        EXPECT_TRUE(out.heads[0].end);
        EXPECT_TRUE(r.done());
    }
    // HEAD: the Content-Length describes a body that does not follow.
    response_reader r(true);
    recorder out;
    ASSERT_TRUE(r.feed("HTTP/1.1 200 OK\r\nContent-Length: 5000\r\n\r\n", out));
    EXPECT_TRUE(out.heads.at(0).end);
    EXPECT_TRUE(r.done());
}

TEST(ResponseReader, InformationalHeadsComeBeforeTheFinalOne) {
    const std::string bytes =
        "HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload; as=style\r\n\r\n"
        "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
    response_reader r(false);
    recorder out;
    ASSERT_TRUE(feed_in_steps(r, bytes, 5, out));
    ASSERT_EQ(out.heads.size(), 2u);
    EXPECT_EQ(out.heads[0].status, 103u);
    EXPECT_TRUE(out.heads[0].informational);
    EXPECT_EQ(out.heads[0].fields.at(0).second, "</a.css>; rel=preload; as=style");
    EXPECT_EQ(out.heads[1].status, 200u);
    EXPECT_EQ(out.body, "ok");
    EXPECT_TRUE(r.done());
}

TEST(ResponseReader, ABodyWithoutLengthRunsUntilTheStreamEnds) {
    response_reader r(false);
    recorder out;
    ASSERT_TRUE(r.feed("HTTP/1.1 200 OK\r\nX: y\r\n\r\nsome", out));
    ASSERT_TRUE(r.feed(" more", out));
    EXPECT_EQ(out.body, "some more");
    EXPECT_FALSE(r.done());  // only a clean end is an end: the owner resets such a stream
    EXPECT_EQ(out.ends, 0);
}

TEST(ResponseReader, ALocalReplyReadsBackWhole) {
    local_reply_options o;
    const std::string page = make_local_reply(502, o);
    response_reader r(false);
    recorder out;
    ASSERT_TRUE(r.feed(page, out));
    ASSERT_EQ(out.heads.size(), 1u);
    EXPECT_EQ(out.heads[0].status, 502u);
    EXPECT_EQ(out.body, page.substr(page.find("\r\n\r\n") + 4));
    EXPECT_TRUE(r.done());
}

TEST(ResponseReader, BytesAfterTheEndAreIgnored) {
    response_reader r(false);
    recorder out;
    ASSERT_TRUE(r.feed(length_response + "HTTP/1.1 200 OK\r\n\r\n", out));
    EXPECT_EQ(out.heads.size(), 1u);
    EXPECT_EQ(out.body, "hello world");
}

TEST(ResponseReader, WhatIsNotAResponseIsAnError) {
    const std::vector<std::string> bad = {
        "HTTP/2 200 OK\r\n\r\n",
        "HTTP/1.1 20 OK\r\n\r\n",
        "HTTP/1.1 2000 OK\r\n\r\n",
        "HTTP/1.1 099 Odd\r\n\r\n",
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n",  // not over HTTP/2
        "HTTP/1.1 200 OK\r\nNo colon\r\n\r\n",
        "HTTP/1.1 200 OK\r\n: empty name\r\n\r\n",
        "HTTP/1.1 200 OK\r\nBad Name: x\r\n\r\n",
        "HTTP/1.1 200 OK\r\nX: a\r\n folded\r\n\r\n",
        "HTTP/1.1 200 OK\r\nX: a\rb\r\n\r\n",
        "HTTP/1.1 200 OK\r\nX: a\nY: b\r\n\r\n",
        std::string("HTTP/1.1 200 OK\r\nX: a\0b\r\n\r\n", 27),
        "HTTP/1.1 200 OK\r\nContent-Length: 5x\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length:\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 5, 6\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello!\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\nhello\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5 x\r\nhello\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n10000000000000000\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nno colon\r\n\r\n",
    };
    for (const auto& bytes : bad) {
        for (std::size_t step : {bytes.size(), std::size_t{1}}) {
            response_reader r(false);
            recorder out;
            EXPECT_FALSE(feed_in_steps(r, bytes, step, out)) << testing::PrintToString(bytes);
            EXPECT_FALSE(r.feed("more", out)) << "an error is final";
            EXPECT_EQ(out.ends, 0);
        }
    }
}

TEST(ResponseReader, HeadsAndChunkLinesAreBounded) {
    const std::string big_field = "X: " + std::string(2000, 'a') + "\r\n";
    const std::string head = "HTTP/1.1 200 OK\r\n" + big_field + "Content-Length: 0\r\n\r\n";
    for (std::size_t step : {head.size(), std::size_t{100}}) {
        response_reader small(false, 1024);
        recorder out;
        EXPECT_FALSE(feed_in_steps(small, head, step, out));
        response_reader enough(false, 4096);
        recorder out2;
        EXPECT_TRUE(feed_in_steps(enough, head, step, out2));
        EXPECT_TRUE(enough.done());
    }
    // A head that never ends is refused once it passes the bound, not kept growing.
    response_reader r(false, 1024);
    recorder out;
    ASSERT_TRUE(r.feed("HTTP/1.1 200 OK\r\n", out));
    EXPECT_FALSE(r.feed(std::string(2000, 'a'), out));
    // A chunk extension that never ends, likewise.
    response_reader c(false);
    recorder out3;
    ASSERT_TRUE(c.feed("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;", out3));
    EXPECT_FALSE(c.feed(std::string(8192, 'e'), out3));
}

}  // namespace
}  // namespace bcp::http
