// Compression round trips, and the streaming gzip decoder's limits: truncation, trailing bytes,
// decompression bombs, memory bounds.
#include "cache/codec.hpp"

#include <gtest/gtest.h>

// Const-correct next_in, as in codec.cpp.
#define ZLIB_CONST
#include <zlib.h>
#include <zstd.h>

#include <array>
#include <limits>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

namespace bcp::cache {
namespace {

using status = gzip_decoder::status;

constexpr std::size_t no_limit = std::numeric_limits<std::size_t>::max();
constexpr std::size_t kib = 1024;
constexpr std::size_t mib = 1024 * kib;
constexpr std::array<coding, coding_count> codings{coding::identity, coding::gzip, coding::br,
                                                   coding::zstd};

// Looks like a minified bundle: short statements, recurring keywords, identifiers that vary.
std::string minified_js(std::size_t size) {
    std::mt19937 rng(42);
    const std::vector<std::string> props{"length",    "push",      "props",
                                         "state",     "children",  "createElement",
                                         "useEffect", "meetingId", "userId"};
    auto ident = [&] {
        std::string s;
        const int n = 1 + static_cast<int>(rng() % 3);
        for (int i = 0; i < n; ++i) {
            s.push_back(static_cast<char>('a' + rng() % 26));
        }
        if (rng() % 2 != 0) {
            s += std::to_string(rng() % 100);
        }
        return s;
    };
    std::string js = "\"use strict\";(self.webpackChunk=self.webpackChunk||[]).push([[179],{";
    while (js.size() < size) {
        const auto f = ident();
        const auto a = ident();
        const auto b = ident();
        const auto& p = props[rng() % props.size()];
        switch (rng() % 4) {
            case 0:
                js += "function " + f + "(" + a + "," + b + "){return " + a + "." + p + "+" + b +
                      "*" + std::to_string(rng() % 1000) + "}";
                break;
            case 1:
                js += "var " + a + "=document.getElementById(\"el-" + std::to_string(rng() % 500) +
                      "\");";
                break;
            case 2:
                js += "if(" + a + "&&" + a + "." + p + "){" + b + "." + p + "(" + a + ")}else{" +
                      f + "=null}";
                break;
            default:
                js += "const " + f + "=(" + a + ")=>" + a + "." + p + ".map((" + b + ")=>" + b +
                      "." + props[rng() % props.size()] + ");";
                break;
        }
    }
    js.resize(size);
    return js;
}

std::string random_bytes(std::size_t size) {
    std::mt19937_64 rng(7);
    std::string s(size, '\0');
    for (auto& c : s) {
        c = static_cast<char>(rng() & 0xff);
    }
    return s;
}

std::string gzip(std::string_view in) {
    auto out = compress(coding::gzip, in);
    EXPECT_TRUE(out.has_value());
    return out.value_or("");
}

// Feeds `in` in pieces of `piece` bytes (0: one piece), then finishes.
status decode_pieces(gzip_decoder& dec, std::string_view in, std::size_t piece) {
    status st = status::more;
    if (piece == 0) {
        st = dec.feed(in);
    } else {
        for (std::size_t at = 0; at < in.size(); at += piece) {
            st = dec.feed(in.substr(at, piece));
            if (st != status::more && st != status::done) {
                return st;
            }
        }
    }
    const status end = dec.finish();
    EXPECT_TRUE(st == end || st == status::more);
    return end;
}

TEST(Codec, RoundTripsTextForEveryCoding) {
    const std::string js = minified_js(200 * kib);
    for (const coding c : codings) {
        const auto packed = compress(c, js);
        ASSERT_TRUE(packed.has_value()) << to_token(c);
        if (c != coding::identity) {
            EXPECT_LT(packed->size(), js.size() / 2) << to_token(c);
        }
        EXPECT_EQ(decompress(c, *packed, js.size()), js) << to_token(c);
        // One byte under the decoded size is over the bound.
        EXPECT_EQ(decompress(c, *packed, js.size() - 1), std::nullopt) << to_token(c);
    }
}

TEST(Codec, RoundTripsRandomBytesAndEmptyInput) {
    const std::string noise = random_bytes(100 * kib);
    for (const coding c : codings) {
        for (const bool text : {true, false}) {
            const auto packed = compress(c, noise, text);
            ASSERT_TRUE(packed.has_value()) << to_token(c);
            EXPECT_EQ(decompress(c, *packed, noise.size()), noise) << to_token(c);
        }
        const auto empty = compress(c, "");
        ASSERT_TRUE(empty.has_value()) << to_token(c);
        EXPECT_EQ(decompress(c, *empty, 0), "") << to_token(c);
    }
}

TEST(Codec, BrotliBeatsGzipOnText) {
    const std::string js = minified_js(200 * kib);
    const auto br = compress(coding::br, js);
    const auto gz = compress(coding::gzip, js);
    const auto zs = compress(coding::zstd, js);
    ASSERT_TRUE(br && gz && zs);
    EXPECT_LT(br->size(), gz->size());
    EXPECT_LT(zs->size(), gz->size());
}

TEST(Codec, GzipIsOneMemberZlibInflates) {
    const std::string js = minified_js(50 * kib);
    const std::string gz = gzip(js);
    ASSERT_GE(gz.size(), 18u);
    EXPECT_EQ(static_cast<unsigned char>(gz[0]), 0x1f);
    EXPECT_EQ(static_cast<unsigned char>(gz[1]), 0x8b);
    EXPECT_EQ(static_cast<unsigned char>(gz[2]), 8);  // deflate

    z_stream z{};
    ASSERT_EQ(inflateInit2(&z, 15 + 16), Z_OK);
    std::string out(js.size() + 1, '\0');
    z.next_in = reinterpret_cast<const Bytef*>(gz.data());
    z.avail_in = static_cast<uInt>(gz.size());
    z.next_out = reinterpret_cast<Bytef*>(out.data());
    z.avail_out = static_cast<uInt>(out.size());
    EXPECT_EQ(inflate(&z, Z_FINISH), Z_STREAM_END);
    EXPECT_EQ(z.avail_in, 0u);
    out.resize(z.total_out);
    inflateEnd(&z);
    EXPECT_EQ(out, js);
}

TEST(Codec, ZstdFrameCarriesContentSize) {
    const std::string js = minified_js(30 * kib);
    const auto zs = compress(coding::zstd, js);
    ASSERT_TRUE(zs.has_value());
    EXPECT_EQ(ZSTD_getFrameContentSize(zs->data(), zs->size()), js.size());
}

TEST(Codec, DecompressRefusesTrailingBytesAndTruncation) {
    const std::string js = minified_js(20 * kib);
    for (const coding c : {coding::gzip, coding::br, coding::zstd}) {
        const auto packed = compress(c, js);
        ASSERT_TRUE(packed.has_value());
        EXPECT_EQ(decompress(c, *packed + "x", no_limit), std::nullopt) << to_token(c);
        EXPECT_EQ(decompress(c, *packed + *packed, no_limit), std::nullopt) << to_token(c);
        EXPECT_EQ(decompress(c, packed->substr(0, packed->size() - 1), no_limit), std::nullopt)
            << to_token(c);
        EXPECT_EQ(decompress(c, packed->substr(0, packed->size() / 2), no_limit), std::nullopt)
            << to_token(c);
        EXPECT_EQ(decompress(c, "not compressed at all", no_limit), std::nullopt) << to_token(c);
        EXPECT_EQ(decompress(c, "", no_limit), std::nullopt) << to_token(c);
    }
    EXPECT_EQ(decompress(coding::identity, "abc", 2), std::nullopt);
    EXPECT_EQ(decompress(coding::identity, "abc", 3), "abc");
}

TEST(Codec, DecompressStopsAtTheBound) {
    const std::string zeros(8 * mib, '\0');
    for (const coding c : {coding::gzip, coding::zstd, coding::br}) {
        const auto packed = compress(c, zeros, false);
        ASSERT_TRUE(packed.has_value());
        EXPECT_LT(packed->size(), 64 * kib) << to_token(c);
        EXPECT_EQ(decompress(c, *packed, mib), std::nullopt) << to_token(c);
        EXPECT_EQ(decompress(c, *packed, zeros.size()).value().size(), zeros.size()) << to_token(c);
    }
}

TEST(Codec, ConcurrentCompressionGivesTheSameBytes) {
    const std::string js = minified_js(40 * kib);
    std::vector<std::optional<std::string>> expected;
    for (const coding c : codings) {
        expected.push_back(compress(c, js));
    }
    std::vector<std::vector<std::optional<std::string>>> got(4);
    std::vector<std::thread> threads;
    for (auto& g : got) {
        threads.emplace_back([&js, &g] {
            for (const coding c : codings) {
                g.push_back(compress(c, js));
            }
        });
    }
    for (auto& t : threads) {
        t.join();
    }
    for (const auto& g : got) {
        EXPECT_EQ(g, expected);
    }
}

TEST(GzipDecoder, OneBytePiecesMatchOnePiece) {
    const std::string js = minified_js(100 * kib);
    const std::string gz = gzip(js);

    gzip_decoder whole(js.size());
    EXPECT_EQ(whole.feed(gz), status::done);
    EXPECT_EQ(whole.finish(), status::done);
    EXPECT_EQ(whole.output(), js);
    EXPECT_EQ(whole.consumed(), gz.size());

    gzip_decoder bytewise(js.size());
    for (std::size_t i = 0; i + 1 < gz.size(); ++i) {
        ASSERT_EQ(bytewise.feed(gz.substr(i, 1)), status::more) << i;
    }
    EXPECT_EQ(bytewise.feed(gz.substr(gz.size() - 1)), status::done);
    EXPECT_EQ(bytewise.finish(), status::done);
    EXPECT_EQ(bytewise.output(), whole.output());
    EXPECT_EQ(bytewise.consumed(), gz.size());
}

TEST(GzipDecoder, CallerMayTakeOutputBetweenFeeds) {
    const std::string js = minified_js(300 * kib);
    const std::string gz = gzip(js);
    gzip_decoder dec(js.size());
    std::string collected;
    status st = status::more;
    for (std::size_t at = 0; at < gz.size(); at += 1000) {
        st = dec.feed(std::string_view(gz).substr(at, 1000));
        collected += dec.output();
        dec.output().clear();
    }
    EXPECT_EQ(st, status::done);
    EXPECT_EQ(collected, js);
}

TEST(GzipDecoder, ExactlyMaxOutputIsAllowed) {
    const std::string js = minified_js(70 * kib);
    const std::string gz = gzip(js);
    gzip_decoder exact(js.size());
    EXPECT_EQ(decode_pieces(exact, gz, 0), status::done);
    gzip_decoder under(js.size() - 1);
    EXPECT_EQ(decode_pieces(under, gz, 0), status::too_large);
    EXPECT_LE(under.output().size(), js.size());
}

TEST(GzipDecoder, TruncatedInputIsInvalidAtFinish) {
    const std::string gz = gzip(minified_js(30 * kib));
    for (const std::size_t cut : {std::size_t{1}, std::size_t{4}, std::size_t{8}, gz.size() / 2,
                                  gz.size() - 10, gz.size() - 1}) {
        gzip_decoder dec(mib);
        EXPECT_EQ(dec.feed(std::string_view(gz).substr(0, cut)), status::more) << cut;
        EXPECT_EQ(dec.finish(), status::invalid) << cut;
        EXPECT_EQ(dec.feed("more"), status::invalid);
    }
    gzip_decoder nothing(mib);
    EXPECT_EQ(nothing.finish(), status::invalid);
}

TEST(GzipDecoder, TrailingGarbageIsInvalid) {
    const std::string js = minified_js(30 * kib);
    const std::string gz = gzip(js);

    gzip_decoder same_piece(mib);
    EXPECT_EQ(same_piece.feed(gz + "garbage"), status::invalid);
    EXPECT_EQ(same_piece.finish(), status::invalid);

    gzip_decoder later_piece(mib);
    EXPECT_EQ(later_piece.feed(gz), status::done);
    EXPECT_EQ(later_piece.feed(""), status::done);
    EXPECT_EQ(later_piece.feed("x"), status::invalid);
    EXPECT_EQ(later_piece.finish(), status::invalid);

    // A second member counts as trailing bytes: one member per body.
    gzip_decoder two_members(mib);
    EXPECT_EQ(decode_pieces(two_members, gz + gz, 0), status::invalid);
    gzip_decoder two_members_bytewise(mib);
    EXPECT_EQ(decode_pieces(two_members_bytewise, gz + gz, 1), status::invalid);
}

TEST(GzipDecoder, CorruptionAndOtherFormatsAreInvalid) {
    const std::string js = minified_js(30 * kib);
    std::string gz = gzip(js);
    std::string bad_crc = gz;
    bad_crc[bad_crc.size() - 6] ^= 0x01;  // CRC-32 is the trailer's first 4 bytes
    gzip_decoder crc(mib);
    EXPECT_EQ(decode_pieces(crc, bad_crc, 0), status::invalid);

    std::string bad_len = gz;
    bad_len[bad_len.size() - 1] ^= 0x01;  // ISIZE
    gzip_decoder len(mib);
    EXPECT_EQ(decode_pieces(len, bad_len, 0), status::invalid);

    // zlib-wrapped deflate (what some servers wrongly send as "deflate") is not gzip.
    std::string zlib_wrapped(compressBound(static_cast<uLong>(js.size())), '\0');
    uLongf n = static_cast<uLongf>(zlib_wrapped.size());
    ASSERT_EQ(
        compress2(reinterpret_cast<Bytef*>(zlib_wrapped.data()), &n,
                  reinterpret_cast<const Bytef*>(js.data()), static_cast<uLong>(js.size()), 9),
        Z_OK);
    zlib_wrapped.resize(n);
    gzip_decoder wrapped(mib);
    EXPECT_EQ(decode_pieces(wrapped, zlib_wrapped, 0), status::invalid);

    gzip_decoder plain(mib);
    EXPECT_EQ(decode_pieces(plain, js, 0), status::invalid);
}

TEST(GzipDecoder, BombIsCaughtEarly) {
    const std::string bomb = gzip(std::string(50 * mib, '\0'));
    ASSERT_LT(bomb.size(), 100 * kib);
    for (const std::size_t piece : {std::size_t{0}, std::size_t{1}, std::size_t{4 * kib}}) {
        gzip_decoder dec(std::size_t{1} << 30);
        EXPECT_EQ(decode_pieces(dec, bomb, piece), status::bomb) << piece;
        // Stops one step after the ratio floor, whatever the size of the pieces.
        EXPECT_LE(dec.output().size(), 64 * kib + 64 * kib) << piece;
        EXPECT_LE(dec.output().capacity(), 256 * kib) << piece;
        EXPECT_EQ(dec.feed(bomb), status::bomb);
    }
}

TEST(GzipDecoder, TooLargeWithRatioCheckOff) {
    const std::string bomb = gzip(std::string(50 * mib, '\0'));
    for (const std::size_t piece : {std::size_t{0}, std::size_t{1}, std::size_t{4 * kib}}) {
        gzip_decoder dec(mib, no_limit);
        EXPECT_EQ(decode_pieces(dec, bomb, piece), status::too_large) << piece;
        EXPECT_LE(dec.output().size(), mib + 1) << piece;
        EXPECT_LE(dec.output().capacity(), mib + 64 * kib) << piece;
        EXPECT_EQ(dec.feed(""), status::too_large);
        EXPECT_EQ(dec.finish(), status::too_large);
    }
}

TEST(GzipDecoder, RatioFloorLetsSmallHighlyCompressibleBodiesThrough) {
    const std::string zeros(60 * kib, '\0');  // ratio far over 100, but under the 64 KiB floor
    const std::string gz = gzip(zeros);
    gzip_decoder dec(mib);
    EXPECT_EQ(decode_pieces(dec, gz, 0), status::done);
    EXPECT_EQ(dec.output(), zeros);
}

TEST(GzipDecoder, ZeroMaxOutput) {
    gzip_decoder empty_ok(0);
    EXPECT_EQ(decode_pieces(empty_ok, gzip(""), 0), status::done);
    EXPECT_TRUE(empty_ok.output().empty());
    gzip_decoder one_byte(0);
    EXPECT_EQ(decode_pieces(one_byte, gzip("a"), 0), status::too_large);
}

}  // namespace
}  // namespace bcp::cache
