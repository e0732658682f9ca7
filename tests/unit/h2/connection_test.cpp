// The HTTP/2 server connection (issue 16) driven in memory: by nghttp2's own client session for
// well-behaved traffic, and by hand-made frames for what a well-behaved client never sends
// (malformed header blocks, rapid reset, floods, HPACK bombs).
#include "h2/connection.hpp"

#include <gtest/gtest.h>

#include <nghttp2/nghttp2.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

namespace bcp::h2 {
namespace {

// ---- hand-made frames ----------------------------------------------------------------------

constexpr std::string_view preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

std::string frame(std::uint8_t type, std::uint8_t flags, std::uint32_t stream,
                  std::string_view payload) {
    std::string f;
    const auto n = payload.size();
    f.push_back(static_cast<char>(n >> 16));
    f.push_back(static_cast<char>(n >> 8));
    f.push_back(static_cast<char>(n));
    f.push_back(static_cast<char>(type));
    f.push_back(static_cast<char>(flags));
    f.push_back(static_cast<char>(stream >> 24 & 0x7f));
    f.push_back(static_cast<char>(stream >> 16));
    f.push_back(static_cast<char>(stream >> 8));
    f.push_back(static_cast<char>(stream));
    return f + std::string(payload);
}

std::string u32(std::uint32_t v) {
    return {static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8),
            static_cast<char>(v)};
}

using fields = std::vector<std::pair<std::string, std::string>>;

// HPACK without indexing, names and values as given (upper case included: the encoder does not
// judge, the server must).
std::string literal_block(const fields& f) {
    std::string out;
    const auto length = [&](std::size_t n) {
        if (n < 127) {
            out.push_back(static_cast<char>(n));
            return;
        }
        out.push_back(127);
        n -= 127;
        while (n >= 128) {
            out.push_back(static_cast<char>(n % 128 + 128));
            n /= 128;
        }
        out.push_back(static_cast<char>(n));
    };
    for (const auto& [name, value] : f) {
        out.push_back(0x00);  // literal without indexing, new name
        length(name.size());
        out += name;
        length(value.size());
        out += value;
    }
    return out;
}

const fields get_fields{{":method", "GET"},
                        {":scheme", "https"},
                        {":authority", "proxy.example.com"},
                        {":path", "/bbb-01/html5client/app.js"}};

// ---- a harness: the server connection and what it handed out --------------------------------

struct server {
    std::vector<request> requests;
    std::vector<std::int32_t> cancelled, writable;
    connection conn;

    explicit server(const limits& l = {},
                    std::function<std::size_t(std::string_view, std::string_view)> limit = {},
                    std::size_t* worker_pending_body = nullptr)
        : conn(l,
               {[this](request&& r) { requests.push_back(std::move(r)); },
                [this](std::int32_t id) { cancelled.push_back(id); },
                [this](std::int32_t id) { writable.push_back(id); }, std::move(limit)},
               worker_pending_body) {}

    std::string output() {
        std::string out;
        conn.take_output(out, 1u << 30);
        return out;
    }
};

// The frames in `bytes` (after our SETTINGS), as (type, flags, stream, payload).
struct parsed_frame {
    std::uint8_t type, flags;
    std::uint32_t stream;
    std::string payload;
};
std::vector<parsed_frame> frames_of(std::string_view bytes) {
    std::vector<parsed_frame> out;
    while (bytes.size() >= 9) {
        const auto u = [&](std::size_t i) { return static_cast<std::uint8_t>(bytes[i]); };
        const std::size_t n = u(0) << 16 | u(1) << 8 | u(2);
        if (bytes.size() < 9 + n) {
            break;
        }
        out.push_back(
            {u(3), u(4),
             static_cast<std::uint32_t>((u(5) & 0x7f) << 24 | u(6) << 16 | u(7) << 8 | u(8)),
             std::string(bytes.substr(9, n))});
        bytes.remove_prefix(9 + n);
    }
    return out;
}

std::uint32_t goaway_code(const std::vector<parsed_frame>& frames) {
    for (const auto& f : frames) {
        if (f.type == NGHTTP2_GOAWAY && f.payload.size() >= 8) {
            const auto* p = reinterpret_cast<const std::uint8_t*>(f.payload.data());
            return static_cast<std::uint32_t>(p[4] << 24 | p[5] << 16 | p[6] << 8 | p[7]);
        }
    }
    return 0xffffffff;
}

std::vector<std::uint32_t> resets_of(const std::vector<parsed_frame>& frames,
                                     std::uint32_t stream) {
    std::vector<std::uint32_t> out;
    for (const auto& f : frames) {
        if (f.type == NGHTTP2_RST_STREAM && f.stream == stream && f.payload.size() == 4) {
            const auto* p = reinterpret_cast<const std::uint8_t*>(f.payload.data());
            out.push_back(static_cast<std::uint32_t>(p[0] << 24 | p[1] << 16 | p[2] << 8 | p[3]));
        }
    }
    return out;
}

std::string opening() {
    return std::string(preface) + frame(NGHTTP2_SETTINGS, 0, 0, "");
}

std::string headers_frame(std::uint32_t stream, const fields& f, bool end_stream = true) {
    return frame(NGHTTP2_HEADERS,
                 NGHTTP2_FLAG_END_HEADERS | (end_stream ? NGHTTP2_FLAG_END_STREAM : 0), stream,
                 literal_block(f));
}

TEST(H2Connection, AStreamBecomesTheRequestHeadTheGateJudges) {
    server s;
    ASSERT_TRUE(s.conn.receive(opening() + headers_frame(1, {{":method", "GET"},
                                                             {":scheme", "https"},
                                                             {":authority", "proxy.example.com"},
                                                             {":path", "/bbb-01/html5client/?a=1"},
                                                             {"cookie", "a=1"},
                                                             {"cookie", "b=2"},
                                                             {"accept-encoding", "br"}})));
    ASSERT_EQ(s.requests.size(), 1u);
    const auto& r = s.requests[0];
    EXPECT_EQ(r.stream, 1);
    EXPECT_EQ(r.status, 0u);
    EXPECT_EQ(r.head.method, "GET");
    EXPECT_EQ(r.head.target, "/bbb-01/html5client/?a=1");
    EXPECT_EQ(r.head.find("host"), "proxy.example.com");
    EXPECT_EQ(r.head.find("cookie"), "a=1; b=2");
    EXPECT_EQ(r.head.find("accept-encoding"), "br");
}

// RFC 9113 §8.2–8.3: each of these is a stream error, never a request; the connection goes on.
TEST(H2Connection, MalformedHeaderBlocksAreStreamErrors) {
    const std::vector<fields> cases{
        {{":method", "GET"},
         {":scheme", "https"},
         {":authority", "p"},
         {":path", "/x"},
         {"X-Up", "1"}},
        {{":method", "GET"},
         {":scheme", "https"},
         {":authority", "p"},
         {":path", "/x"},
         {"connection", "close"}},
        {{":method", "GET"},
         {":scheme", "https"},
         {":authority", "p"},
         {":path", "/x"},
         {"transfer-encoding", "chunked"}},
        {{":method", "GET"},
         {":scheme", "https"},
         {":authority", "p"},
         {":path", "/x"},
         {"upgrade", "websocket"}},
        {{":method", "GET"},
         {":scheme", "https"},
         {":authority", "p"},
         {":path", "/x"},
         {"te", "gzip"}},
        {{":method", "GET"}, {":scheme", "https"}, {":authority", "p"}},
        {{":method", "GET"}, {":scheme", "https"}, {":authority", "p"}, {":path", "x"}},
        {{":method", "GET"},
         {":scheme", "https"},
         {"accept", "*/*"},
         {":authority", "p"},
         {":path", "/x"}},
        {{":method", "GET"},
         {":method", "GET"},
         {":scheme", "https"},
         {":authority", "p"},
         {":path", "/x"}},
        {{":method", "GET"},
         {":scheme", "https"},
         {":authority", "p"},
         {":path", "/x"},
         {"host", "q"}},
        {{":method", "GET"},
         {":scheme", "https"},
         {":authority", "p"},
         {":path", "/x"},
         {"a", "1\r\nb: 2"}},
        {{":method", "CONNECT"}, {":authority", "node:443"}},
    };
    server s;
    std::string in = opening();
    std::uint32_t id = 1;
    for (const auto& c : cases) {
        in += headers_frame(id, c);
        id += 2;
    }
    in += headers_frame(id, get_fields);  // a good one after them all
    ASSERT_TRUE(s.conn.receive(in));
    const auto out = frames_of(s.output());
    for (std::uint32_t k = 1; k < id; k += 2) {
        EXPECT_EQ(resets_of(out, k), std::vector<std::uint32_t>{NGHTTP2_PROTOCOL_ERROR})
            << "case " << (k - 1) / 2;
    }
    ASSERT_EQ(s.requests.size(), 1u);
    EXPECT_EQ(s.requests[0].stream, static_cast<std::int32_t>(id));
    EXPECT_EQ(s.conn.counters().malformed, cases.size());
    EXPECT_EQ(s.conn.why(), refusal::none);
}

TEST(H2Connection, RapidResetEndsTheConnectionAndNoResetStreamIsARequest) {
    server s;
    std::string in = opening();
    for (std::uint32_t id = 1; id < 2 * 1000; id += 2) {
        in += headers_frame(id, get_fields) + frame(NGHTTP2_RST_STREAM, 0, id, u32(NGHTTP2_CANCEL));
    }
    EXPECT_FALSE(s.conn.receive(in));
    EXPECT_EQ(s.conn.why(), refusal::rapid_reset);
    EXPECT_TRUE(s.requests.empty());  // each was reset within the read that opened it
    EXPECT_EQ(goaway_code(frames_of(s.output())), NGHTTP2_ENHANCE_YOUR_CALM);
}

TEST(H2Connection, ResetsSpreadOverReadsAreBoundedByTheRate) {
    limits l;
    l.reset_burst = 20;
    l.resets_per_second = 1;
    server s(l);
    ASSERT_TRUE(s.conn.receive(opening()));
    std::uint32_t id = 1;
    bool open = true;
    for (; open && id < 2 * 200; id += 2) {
        open = s.conn.receive(headers_frame(id, get_fields));
        open = open && s.conn.receive(frame(NGHTTP2_RST_STREAM, 0, id, u32(NGHTTP2_CANCEL)));
    }
    EXPECT_FALSE(open);
    EXPECT_EQ(s.conn.why(), refusal::rapid_reset);
    // Requests (node requests to be) stop with the burst: at most burst + 1 were handed out.
    EXPECT_LE(s.requests.size(), 21u);
    EXPECT_EQ(s.cancelled.size(), s.requests.size());  // every one of them told to stop
}

TEST(H2Connection, ControlFrameFloodEndsTheConnection) {
    server s;
    std::string in = opening();
    for (int i = 0; i < 5'000; ++i) {
        in += frame(NGHTTP2_PING, 0, 0, "12345678");
    }
    EXPECT_FALSE(s.conn.receive(in));
    EXPECT_EQ(s.conn.why(), refusal::control_flood);
    const auto out = frames_of(s.output());
    EXPECT_EQ(goaway_code(out), NGHTTP2_ENHANCE_YOUR_CALM);
    std::size_t acks = 0;
    for (const auto& f : out) {
        acks += f.type == NGHTTP2_PING ? 1 : 0;
    }
    EXPECT_LE(acks, 1'001u);  // no unbounded queue of answers
}

TEST(H2Connection, ContinuationFloodEndsTheConnection) {
    server s;
    std::string in = opening();
    const auto block = literal_block(get_fields);
    in += frame(NGHTTP2_HEADERS, NGHTTP2_FLAG_END_STREAM, 1, block.substr(0, 4));
    for (int i = 0; i < 50; ++i) {
        in += frame(NGHTTP2_CONTINUATION, 0, 1, "");
    }
    EXPECT_FALSE(s.conn.receive(in));
    EXPECT_EQ(s.conn.why(), refusal::continuation_flood);
    EXPECT_TRUE(s.requests.empty());
}

// An HPACK bomb: one 4,000-byte field added to the dynamic table, then referenced 400 times by
// one byte each (1.6 MB decoded from ~4 KB). Nothing past the limit is stored; the stream is 431.
TEST(H2Connection, HpackBombIsA431WithoutStoringTheExpansion) {
    server s;
    std::string block = literal_block(get_fields);
    block.push_back(0x40);  // literal with incremental indexing, new name
    block.push_back(0x01);
    block += "x";
    block.push_back(0x7f);  // value length 4000 = 127 + 3873
    block.push_back(static_cast<char>(3873 % 128 + 128));
    block.push_back(static_cast<char>(3873 / 128));
    block += std::string(4000, 'v');
    for (int i = 0; i < 400; ++i) {
        block.push_back(static_cast<char>(0x80 | 62));  // indexed: the field just added
    }
    ASSERT_TRUE(s.conn.receive(opening() + frame(NGHTTP2_HEADERS,
                                                 NGHTTP2_FLAG_END_HEADERS | NGHTTP2_FLAG_END_STREAM,
                                                 1, block)));
    ASSERT_EQ(s.requests.size(), 1u);
    EXPECT_EQ(s.requests[0].status, 431u);
    EXPECT_TRUE(s.requests[0].storage->block.empty());
}

TEST(H2Connection, HeaderBytesWithoutAResponseAreBudgeted) {
    limits l;
    l.max_pending_header_bytes = 4'000;
    server s(l);
    fields big = get_fields;
    big.emplace_back("x-pad", std::string(900, 'p'));
    std::string in = opening();
    for (std::uint32_t id = 1; id <= 19; id += 2) {
        in += headers_frame(id, big);
    }
    ASSERT_TRUE(s.conn.receive(in));
    const auto accepted = s.requests.size();
    EXPECT_GE(accepted, 3u);
    EXPECT_LT(accepted, 10u);
    EXPECT_EQ(s.conn.counters().refused_pending, 10u - accepted);
    const auto out = frames_of(s.output());
    EXPECT_EQ(resets_of(out, 19), std::vector<std::uint32_t>{NGHTTP2_REFUSED_STREAM});
    // Responses free the budget: a new stream is accepted again.
    for (const auto& r : s.requests) {
        s.conn.respond(r.stream, 204, {}, true);
    }
    s.output();
    ASSERT_TRUE(s.conn.receive(headers_frame(21, big)));
    EXPECT_EQ(s.requests.back().stream, 21);
}

TEST(H2Connection, BodiesAreReadAndBoundedAndAnEarly413EndsTheStream) {
    limits l;
    l.max_body = 1'000;
    server s(l);
    const fields post{{":method", "POST"},
                      {":scheme", "https"},
                      {":authority", "proxy.example.com"},
                      {":path", "/bbb-01/html5client/feedback"},
                      {"content-type", "application/json"}};
    std::string in = opening() + headers_frame(1, post, false) +
                     frame(NGHTTP2_DATA, 0, 1, "{\"a\":") +
                     frame(NGHTTP2_DATA, NGHTTP2_FLAG_END_STREAM, 1, "1}");
    in += headers_frame(3, post, false) + frame(NGHTTP2_DATA, 0, 3, std::string(1'200, 'x'));
    ASSERT_TRUE(s.conn.receive(in));
    ASSERT_EQ(s.requests.size(), 2u);
    EXPECT_EQ(s.requests[0].body, "{\"a\":1}");
    EXPECT_EQ(s.requests[0].status, 0u);
    EXPECT_EQ(s.requests[1].stream, 3);
    EXPECT_EQ(s.requests[1].status, 413u);  // before the client finished sending
    s.conn.respond(3, 413, {}, true);
    const auto out = frames_of(s.output());
    EXPECT_EQ(resets_of(out, 3), std::vector<std::uint32_t>{NGHTTP2_NO_ERROR});
}

// The owner's limit for a stream's method and :path (the POST rules) is asked at its first DATA:
// a body where none is allowed hands the request out at once, for the gate to refuse, instead of
// holding the body until it ends; a body past its path's limit is a 413 at once.
TEST(H2Connection, ABodyIsJudgedByItsPathsLimitAtItsFirstBytes) {
    limits l;
    l.max_body = 100'000;
    std::vector<std::string> asked;
    server s(l, [&](std::string_view method, std::string_view path) -> std::size_t {
        asked.push_back(std::string(method) + " " + std::string(path));
        return method == "POST" && path == "/bbb-01/html5client/feedback" ? 1'000 : 0;
    });
    const auto req = [](std::string method, std::string path) {
        return fields{{":method", std::move(method)},
                      {":scheme", "https"},
                      {":authority", "proxy.example.com"},
                      {":path", std::move(path)},
                      {"content-type", "application/json"}};
    };
    const std::string feedback = "/bbb-01/html5client/feedback";
    std::string in = opening();
    in += headers_frame(1, req("POST", "/bbb-01/html5client/sockjs/info"), false) +
          frame(NGHTTP2_DATA, 0, 1, "x=1");  // no POST rule
    in += headers_frame(3, req("GET", "/bbb-01/html5client/"), false) +
          frame(NGHTTP2_DATA, 0, 3, "abc");  // a GET's body
    in += headers_frame(5, req("POST", feedback), false) +
          frame(NGHTTP2_DATA, 0, 5, std::string(1'200, 'x'));  // past 1,000
    in += headers_frame(7, req("POST", feedback), false) +
          frame(NGHTTP2_DATA, 0, 7, std::string(900, 'x'));      // within it
    in += headers_frame(9, req("GET", "/bbb-01/html5client/"));  // no body
    ASSERT_TRUE(s.conn.receive(in));
    ASSERT_EQ(s.requests.size(), 4u);
    EXPECT_EQ(s.requests[0].stream, 1);
    EXPECT_EQ(s.requests[0].status, 0u);  // the gate's to answer (405)
    EXPECT_TRUE(s.requests[0].body_refused);
    EXPECT_TRUE(s.requests[0].body.empty());
    EXPECT_EQ(s.requests[0].head.method, "POST");
    EXPECT_EQ(s.requests[1].stream, 3);
    EXPECT_TRUE(s.requests[1].body_refused);  // the gate's to answer (400)
    EXPECT_EQ(s.requests[2].stream, 5);
    EXPECT_EQ(s.requests[2].status, 413u);  // the path's limit, not max_body
    EXPECT_EQ(s.requests[3].stream, 9);
    EXPECT_FALSE(s.requests[3].body_refused);
    EXPECT_EQ(asked, (std::vector<std::string>{"POST /bbb-01/html5client/sockjs/info",
                                               "GET /bbb-01/html5client/", "POST " + feedback,
                                               "POST " + feedback}));
    // The refusal ends the stream before the client does; more DATA of a refused stream is
    // dropped.
    s.conn.respond(1, 405, {}, true);
    EXPECT_EQ(resets_of(frames_of(s.output()), 1), std::vector<std::uint32_t>{NGHTTP2_NO_ERROR});
    ASSERT_TRUE(s.conn.receive(frame(NGHTTP2_DATA, NGHTTP2_FLAG_END_STREAM, 3, "more")));
    EXPECT_EQ(s.requests.size(), 4u);
    // An allowed body within its limit waits for its end, and arrives whole.
    ASSERT_TRUE(s.conn.receive(frame(NGHTTP2_DATA, NGHTTP2_FLAG_END_STREAM, 7, "y")));
    ASSERT_EQ(s.requests.size(), 5u);
    EXPECT_EQ(s.requests[4].body, std::string(900, 'x') + "y");
    EXPECT_FALSE(s.requests[4].body_refused);
    // A client that ends a body-less request with an empty DATA frame sends no body.
    ASSERT_TRUE(s.conn.receive(headers_frame(11, req("GET", "/bbb-01/html5client/"), false) +
                               frame(NGHTTP2_DATA, NGHTTP2_FLAG_END_STREAM, 11, "")));
    ASSERT_EQ(s.requests.size(), 6u);
    EXPECT_EQ(s.requests[5].stream, 11);
    EXPECT_FALSE(s.requests[5].body_refused);
    EXPECT_EQ(s.requests[5].status, 0u);
}

// Bodies still arriving are budgeted per connection as header blocks are: 100 streams of a
// 1 MiB body each would otherwise hold 100 MiB until the head deadline. A stream whose DATA would
// pass the budget is refused (REFUSED_STREAM: no node saw it); bodies handed out free the budget.
TEST(H2Connection, BodiesStillArrivingAreBudgetedPerConnection) {
    limits l;
    l.max_body = 10'000;
    l.max_pending_body_bytes = 25'000;
    server s(l);
    const fields post{{":method", "POST"},
                      {":scheme", "https"},
                      {":authority", "proxy.example.com"},
                      {":path", "/bbb-01/html5client/feedback"}};
    const std::string part(9'000, 'x');
    std::string in = opening();
    for (std::uint32_t id = 1; id <= 7; id += 2) {
        in += headers_frame(id, post, false) + frame(NGHTTP2_DATA, 0, id, part);
    }
    ASSERT_TRUE(s.conn.receive(in));
    EXPECT_TRUE(s.requests.empty());
    EXPECT_EQ(s.conn.counters().refused_pending, 2u);
    auto out = frames_of(s.output());
    EXPECT_TRUE(resets_of(out, 1).empty());
    EXPECT_TRUE(resets_of(out, 3).empty());
    EXPECT_EQ(resets_of(out, 5), std::vector<std::uint32_t>{NGHTTP2_REFUSED_STREAM});
    EXPECT_EQ(resets_of(out, 7), std::vector<std::uint32_t>{NGHTTP2_REFUSED_STREAM});
    // More DATA on a refused stream is dropped, not counted again.
    ASSERT_TRUE(s.conn.receive(frame(NGHTTP2_DATA, NGHTTP2_FLAG_END_STREAM, 5, "y")));
    EXPECT_TRUE(s.requests.empty());
    // A body handed out frees its share: the next stream's body fits again.
    ASSERT_TRUE(s.conn.receive(frame(NGHTTP2_DATA, NGHTTP2_FLAG_END_STREAM, 1, "z")));
    ASSERT_EQ(s.requests.size(), 1u);
    EXPECT_EQ(s.requests[0].body, part + "z");
    ASSERT_TRUE(s.conn.receive(headers_frame(9, post, false) + frame(NGHTTP2_DATA, 0, 9, part)));
    EXPECT_EQ(s.conn.counters().refused_pending, 2u);
    // So does a stream the client resets while its body is arriving.
    ASSERT_TRUE(s.conn.receive(frame(NGHTTP2_RST_STREAM, 0, 3, std::string("\0\0\0\x08", 4))));
    ASSERT_TRUE(s.conn.receive(headers_frame(11, post, false) + frame(NGHTTP2_DATA, 0, 11, part)));
    EXPECT_EQ(s.conn.counters().refused_pending, 2u);
    out = frames_of(s.output());
    EXPECT_TRUE(resets_of(out, 9).empty());
    EXPECT_TRUE(resets_of(out, 11).empty());
}

// ... and for all connections of a worker together: per-connection budgets multiply with
// connections (1,000 per address), the worker's does not. A connection that ends gives its
// streams' share back.
TEST(H2Connection, BodiesStillArrivingAreAlsoBudgetedPerWorker) {
    limits l;
    l.max_body = 10'000;
    l.max_pending_body_bytes = 25'000;
    l.max_worker_pending_body_bytes = 30'000;
    std::size_t worker = 0;
    auto a = std::make_unique<server>(l, nullptr, &worker);
    server b(l, nullptr, &worker);
    const fields post{{":method", "POST"},
                      {":scheme", "https"},
                      {":authority", "proxy.example.com"},
                      {":path", "/bbb-01/html5client/feedback"}};
    const std::string part(9'000, 'x');
    const auto open = [&](std::uint32_t id) {
        return headers_frame(id, post, false) + frame(NGHTTP2_DATA, 0, id, part);
    };
    ASSERT_TRUE(a->conn.receive(opening() + open(1) + open(3)));
    ASSERT_TRUE(b.conn.receive(opening() + open(1) + open(3)));
    EXPECT_EQ(worker, 27'000u);
    // b holds 9,000 of its own 25,000, but the worker would pass 30,000.
    EXPECT_EQ(b.conn.counters().refused_pending, 1u);
    EXPECT_EQ(resets_of(frames_of(b.output()), 3),
              std::vector<std::uint32_t>{NGHTTP2_REFUSED_STREAM});
    EXPECT_EQ(a->conn.counters().refused_pending, 0u);
    // A body handed out gives its share back to the worker.
    ASSERT_TRUE(a->conn.receive(frame(NGHTTP2_DATA, NGHTTP2_FLAG_END_STREAM, 1, "z")));
    ASSERT_EQ(a->requests.size(), 1u);
    EXPECT_EQ(worker, 18'000u);
    ASSERT_TRUE(b.conn.receive(open(5)));
    EXPECT_EQ(b.conn.counters().refused_pending, 1u);
    EXPECT_EQ(worker, 27'000u);
    // So does a connection that ends with a body still arriving (a's stream 3).
    a.reset();
    EXPECT_EQ(worker, 18'000u);
}

TEST(H2Connection, RequestsStillArrivingAreKnownForTheHeadDeadline) {
    server s;
    const fields post{{":method", "POST"},
                      {":scheme", "https"},
                      {":authority", "proxy.example.com"},
                      {":path", "/bbb-01/html5client/feedback"}};
    ASSERT_TRUE(s.conn.receive(opening()));
    EXPECT_FALSE(s.conn.oldest_incomplete());
    const auto before = std::chrono::steady_clock::now();
    ASSERT_TRUE(s.conn.receive(headers_frame(1, post, false)));  // the body never comes
    ASSERT_TRUE(s.conn.oldest_incomplete());
    EXPECT_GE(*s.conn.oldest_incomplete(), before);
    ASSERT_TRUE(s.conn.receive(headers_frame(3, get_fields)));  // complete: handed out
    ASSERT_TRUE(s.conn.receive(frame(NGHTTP2_DATA, NGHTTP2_FLAG_END_STREAM, 1, "{}")));
    EXPECT_FALSE(s.conn.oldest_incomplete());
    EXPECT_EQ(s.requests.size(), 2u);
}

// ---- with nghttp2's client: responses, flow control, many streams, GOAWAY ---------------------

struct client {
    struct stream_result {
        std::vector<std::string> statuses;
        std::map<std::string, std::string> headers;
        std::string body;
        bool closed = false;
        std::uint32_t error = 0;
    };
    nghttp2_session* session = nullptr;
    std::map<std::int32_t, stream_result> streams;
    std::int32_t goaway_last = -1;
    std::uint32_t goaway_error = 0;

    client() {
        nghttp2_session_callbacks* cbs = nullptr;
        nghttp2_session_callbacks_new(&cbs);
        nghttp2_session_callbacks_set_on_header_callback(
            cbs, [](nghttp2_session*, const nghttp2_frame* f, const std::uint8_t* n, std::size_t nl,
                    const std::uint8_t* v, std::size_t vl, std::uint8_t, void* u) {
                auto& r = static_cast<client*>(u)->streams[f->hd.stream_id];
                const std::string name(reinterpret_cast<const char*>(n), nl);
                const std::string value(reinterpret_cast<const char*>(v), vl);
                if (name == ":status") {
                    r.statuses.push_back(value);
                } else {
                    r.headers[name] = value;
                }
                return 0;
            });
        nghttp2_session_callbacks_set_on_data_chunk_recv_callback(
            cbs, [](nghttp2_session*, std::uint8_t, std::int32_t id, const std::uint8_t* d,
                    std::size_t n, void* u) {
                static_cast<client*>(u)->streams[id].body.append(reinterpret_cast<const char*>(d),
                                                                 n);
                return 0;
            });
        nghttp2_session_callbacks_set_on_stream_close_callback(
            cbs, [](nghttp2_session*, std::int32_t id, std::uint32_t e, void* u) {
                auto& r = static_cast<client*>(u)->streams[id];
                r.closed = true;
                r.error = e;
                return 0;
            });
        nghttp2_session_callbacks_set_on_frame_recv_callback(
            cbs, [](nghttp2_session*, const nghttp2_frame* f, void* u) {
                if (f->hd.type == NGHTTP2_GOAWAY) {
                    static_cast<client*>(u)->goaway_last = f->goaway.last_stream_id;
                    static_cast<client*>(u)->goaway_error = f->goaway.error_code;
                }
                return 0;
            });
        nghttp2_session_client_new(&session, cbs, this);
        nghttp2_session_callbacks_del(cbs);
        nghttp2_submit_settings(session, NGHTTP2_FLAG_NONE, nullptr, 0);
    }
    ~client() { nghttp2_session_del(session); }

    std::int32_t get(const std::string& path) {
        std::vector<std::pair<std::string, std::string>> h{{":method", "GET"},
                                                           {":scheme", "https"},
                                                           {":authority", "proxy.example.com"},
                                                           {":path", path}};
        std::vector<nghttp2_nv> nv;
        for (auto& [n, v] : h) {
            nv.push_back({reinterpret_cast<std::uint8_t*>(n.data()),
                          reinterpret_cast<std::uint8_t*>(v.data()), n.size(), v.size(),
                          NGHTTP2_NV_FLAG_NONE});
        }
        return nghttp2_submit_request(session, nullptr, nv.data(), nv.size(), nullptr, nullptr);
    }

    /// Moves bytes both ways until neither side has anything to say.
    void pump(server& s) {
        for (int round = 0; round < 10'000; ++round) {
            std::string to_server;
            const std::uint8_t* data = nullptr;
            for (ssize_t n; (n = nghttp2_session_mem_send(session, &data)) > 0;) {
                to_server.append(reinterpret_cast<const char*>(data), static_cast<std::size_t>(n));
            }
            if (!to_server.empty()) {
                s.conn.receive(to_server);
            }
            const auto to_client = s.output();
            if (!to_client.empty()) {
                nghttp2_session_mem_recv(session,
                                         reinterpret_cast<const std::uint8_t*>(to_client.data()),
                                         to_client.size());
            }
            if (to_server.empty() && to_client.empty()) {
                return;
            }
        }
        ADD_FAILURE() << "pump did not settle";
    }
};

/// One GET from `c` that reached `s` as a request: its stream id.
std::int32_t requested(server& s, client& c, const std::string& path) {
    const auto before = s.requests.size();
    const auto id = c.get(path);
    c.pump(s);
    EXPECT_EQ(s.requests.size(), before + 1);
    return id;
}

TEST(H2Connection, ResponsesArriveByteExactOnManyStreamsAtOnce) {
    server s;
    client c;
    std::vector<std::int32_t> ids;
    for (int i = 0; i < 100; ++i) {
        ids.push_back(c.get("/bbb-01/html5client/f" + std::to_string(i) + ".js"));
    }
    c.pump(s);
    ASSERT_EQ(s.requests.size(), 100u);
    const std::vector<header> fields{{"content-type", "text/javascript"},
                                     {"Connection", "keep-alive"},  // HTTP/1.1 only: dropped
                                     {"Cache-Control", "max-age=60"}};
    std::map<std::int32_t, std::string> bodies;
    for (const auto& r : s.requests) {
        std::string body;
        for (int k = 0; k < 3'000; ++k) {
            body += std::to_string(r.stream * 7919 + k) + ",";  // ~20 KB, distinct per stream
        }
        bodies[r.stream] = body;
        ASSERT_TRUE(s.conn.respond(r.stream, 200, fields, false));
        s.conn.send_data(r.stream, std::string_view(body).substr(0, 5'000), false);
    }
    c.pump(s);  // windows, DEFERRED data, then the rest
    for (const auto& [id, body] : bodies) {
        s.conn.send_data(id, std::string_view(body).substr(5'000), true);
    }
    c.pump(s);
    for (const auto id : ids) {
        const auto& r = c.streams[id];
        ASSERT_TRUE(r.closed) << id;
        EXPECT_EQ(r.error, 0u);
        EXPECT_EQ(r.statuses, std::vector<std::string>{"200"});
        EXPECT_EQ(r.headers.count("connection"), 0u);
        EXPECT_EQ(r.headers.at("cache-control"), "max-age=60");
        EXPECT_EQ(r.body, bodies[id]) << id;
    }
    EXPECT_EQ(s.conn.open_streams(), 0u);
    EXPECT_TRUE(s.cancelled.empty());
}

TEST(H2Connection, EarlyHintsComeBeforeTheResponse) {
    server s;
    client c;
    const auto id = requested(s, c, "/bbb-01/html5client/");
    const std::vector<header> hints{
        {"link", "</bbb-01/html5client/app.js>; rel=preload; as=script"}};
    ASSERT_TRUE(s.conn.inform(id, 103, hints));
    ASSERT_TRUE(s.conn.respond(id, 200, {}, false));
    s.conn.send_data(id, "<html>", true);
    c.pump(s);
    EXPECT_EQ(c.streams[id].statuses, (std::vector<std::string>{"103", "200"}));
    EXPECT_EQ(c.streams[id].body, "<html>");
}

TEST(H2Connection, OutputIsBufferedToTheWatermarkAndTheProducerIsToldToGoOn) {
    limits l;
    l.output_watermark = 16 * 1024;
    server s(l);
    client c;
    const auto id = requested(s, c, "/bbb-01/html5client/big.js");
    ASSERT_TRUE(s.conn.respond(id, 200, {}, false));
    s.conn.send_data(id, std::string(40 * 1024, 'a'), false);
    EXPECT_EQ(s.conn.buffered(id), 40u * 1024);
    c.pump(s);  // the client's window (64 KiB by default) takes it all
    EXPECT_EQ(s.conn.buffered(id), 0u);
    EXPECT_EQ(s.writable, std::vector<std::int32_t>{id});
    s.conn.send_data(id, "", true);
    c.pump(s);
    EXPECT_EQ(c.streams[id].body.size(), 40u * 1024);
    EXPECT_TRUE(c.streams[id].closed);
}

// What all streams hold together, for the owner's per-connection cap (h2::limits::output_cap):
// it grows with each stream's output, shrinks as the client takes it, and a reset stream's
// leftover leaves it.
TEST(H2Connection, BufferedOutputIsAlsoCountedForTheWholeConnection) {
    server s;
    client c;
    const auto a = requested(s, c, "/bbb-01/html5client/a.js");
    const auto b = requested(s, c, "/bbb-01/html5client/b.js");
    ASSERT_TRUE(s.conn.respond(a, 200, {}, false));
    ASSERT_TRUE(s.conn.respond(b, 200, {}, false));
    s.conn.send_data(a, std::string(30'000, 'a'), false);
    s.conn.send_data(b, std::string(50'000, 'b'), false);
    EXPECT_EQ(s.conn.buffered_total(), 80'000u);
    c.pump(s);  // the client takes it all
    EXPECT_EQ(s.conn.buffered_total(), 0u);
    s.conn.send_data(a, std::string(20'000, 'a'), false);
    s.conn.send_data(b, std::string(10'000, 'b'), false);
    EXPECT_EQ(s.conn.buffered_total(), 30'000u);
    // The client resets `a` before any of that went out: its 20,000 bytes leave the count.
    nghttp2_submit_rst_stream(c.session, NGHTTP2_FLAG_NONE, a, NGHTTP2_CANCEL);
    std::string rst;
    const std::uint8_t* data = nullptr;
    for (ssize_t n; (n = nghttp2_session_mem_send(c.session, &data)) > 0;) {
        rst.append(reinterpret_cast<const char*>(data), static_cast<std::size_t>(n));
    }
    ASSERT_TRUE(s.conn.receive(rst));
    EXPECT_EQ(s.conn.buffered_total(), 10'000u);
    EXPECT_EQ(s.conn.buffered_total(), s.conn.buffered(b));
}

TEST(H2Connection, OutputComesInBatchesOfTheAskedSize) {
    server s;
    client c;
    const auto id = requested(s, c, "/bbb-01/html5client/big.js");
    std::string body;
    for (int k = 0; body.size() < 60'000; ++k) {
        body += std::to_string(k) + ";";
    }
    ASSERT_TRUE(s.conn.respond(id, 200, {}, false));
    s.conn.send_data(id, body, true);
    // DATA goes out without nghttp2's frame buffer (NO_COPY): each call stops once it holds the
    // batch, at most one DATA frame past it.
    constexpr std::size_t batch = 10'000;
    std::vector<std::size_t> sizes;
    std::string all;
    for (std::string out; s.conn.take_output(out, batch), !out.empty(); out.clear()) {
        sizes.push_back(out.size());
        all += out;
    }
    ASSERT_GE(sizes.size(), 3u);
    for (std::size_t i = 0; i < sizes.size(); ++i) {
        EXPECT_LE(sizes[i], batch + 16'384 + 9) << i;
        if (i + 1 < sizes.size()) {
            EXPECT_GE(sizes[i], batch) << i;
        }
    }
    nghttp2_session_mem_recv(c.session, reinterpret_cast<const std::uint8_t*>(all.data()),
                             all.size());
    EXPECT_TRUE(c.streams[id].closed);
    EXPECT_EQ(c.streams[id].body, body);
}

TEST(H2Connection, AClientResetCancelsTheStream) {
    server s;
    client c;
    const auto id = requested(s, c, "/bbb-01/html5client/slow");
    nghttp2_submit_rst_stream(c.session, NGHTTP2_FLAG_NONE, id, NGHTTP2_CANCEL);
    c.pump(s);
    EXPECT_EQ(s.cancelled, std::vector<std::int32_t>{id});
    EXPECT_FALSE(s.conn.send_data(id, "late", true));  // gone: the producer stops
    EXPECT_EQ(s.conn.counters().client_resets, 1u);
}

TEST(H2Connection, ShutdownLetsRunningStreamsFinishAndRefusesNewOnes) {
    server s;
    client c;
    const auto a = c.get("/bbb-01/html5client/a.js");
    const auto b = c.get("/bbb-01/html5client/b.js");
    c.pump(s);
    ASSERT_EQ(s.requests.size(), 2u);
    s.conn.shutdown();
    c.pump(s);
    EXPECT_EQ(c.goaway_last, b);
    EXPECT_EQ(c.goaway_error, static_cast<std::uint32_t>(NGHTTP2_NO_ERROR));
    EXPECT_TRUE(s.conn.wants_read() || s.conn.wants_write());  // two streams still run
    for (const auto id : {a, b}) {
        s.conn.respond(id, 200, {}, false);
        s.conn.send_data(id, "done", true);
    }
    c.pump(s);
    EXPECT_EQ(c.streams[a].body, "done");
    EXPECT_EQ(c.streams[b].body, "done");
    EXPECT_FALSE(s.conn.wants_read());
    EXPECT_FALSE(s.conn.wants_write());
}

TEST(H2Connection, ConcurrentStreamsAreLimited) {
    limits l;
    l.max_concurrent_streams = 4;
    server s(l);
    std::string in = opening();
    ASSERT_TRUE(s.conn.receive(in));
    s.output();
    // The client acknowledges our SETTINGS, then opens more streams than allowed.
    in = frame(NGHTTP2_SETTINGS, NGHTTP2_FLAG_ACK, 0, "");
    for (std::uint32_t id = 1; id <= 11; id += 2) {
        in += headers_frame(id, get_fields);
    }
    s.conn.receive(in);
    EXPECT_EQ(s.requests.size(), 4u);
    const auto out = frames_of(s.output());
    const bool refused = !resets_of(out, 9).empty() || goaway_code(out) != 0xffffffff;
    EXPECT_TRUE(refused);
}

}  // namespace
}  // namespace bcp::h2
