// Compression Dictionary Transport (RFC 9842): dictionary patterns and offers, the header values,
// dcz negotiation, and the dcz coding checked byte for byte and against libzstd directly.
#include "cache/dictionary.hpp"

#include "cache/encoding.hpp"
#include "core/text.hpp"

#include <gtest/gtest.h>
#include <zstd.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace bcp::cache {
namespace {

std::string hex(std::span<const std::uint8_t> bytes) {
    return bcp::to_hex(bytes);
}

std::string hex(std::string_view bytes) {
    return bcp::to_hex(std::span<const std::uint8_t>(
        reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size()));
}

constexpr std::string_view sha256_abc =
    "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
constexpr std::string_view sha256_abc_b64 = "ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0=";

std::optional<std::string> match_of(std::string_view path) {
    const auto o = dictionary_pattern(path);
    return o ? std::optional<std::string>(o->match) : std::nullopt;
}

// Deterministic text that looks like minified JavaScript: identifiers, numbers and punctuation
// from a small LCG, so that runs compress like code rather than like noise or like one repeat.
std::string pseudo_js(std::size_t n, std::uint32_t seed) {
    static constexpr std::string_view words[] = {
        "function", "return",    "const",     "var ",       "this.props", "createElement",
        "useState", "useEffect", "undefined", "null",       "window.BBB", "document",
        "export",   "import",    "Meeting",   "Whiteboard", "presenter",  "userId",
        "=>",       "){",        "};",        ".map(",      ".filter(",   "Object.assign("};
    std::string out;
    out.reserve(n + 32);
    std::uint32_t x = seed;
    while (out.size() < n) {
        x = x * 1664525u + 1013904223u;
        out += words[(x >> 16) % std::size(words)];
        x = x * 1664525u + 1013904223u;
        if ((x >> 20) % 3 == 0) {
            out += std::to_string((x >> 8) % 10007);
        }
        out += (x >> 28) % 4 == 0 ? "\n" : " ";
    }
    out.resize(n);
    return out;
}

// Decodes a zstd frame with `dictionary` as a raw-content prefix, as a browser's libzstd would.
std::optional<std::string> zstd_decode(std::string_view dictionary, std::string_view frame,
                                       int window_log_max = 27) {
    const std::unique_ptr<ZSTD_DCtx, decltype(&ZSTD_freeDCtx)> d(ZSTD_createDCtx(), &ZSTD_freeDCtx);
    if (!d || ZSTD_isError(ZSTD_DCtx_setParameter(d.get(), ZSTD_d_windowLogMax, window_log_max)) ||
        ZSTD_isError(ZSTD_DCtx_refPrefix(d.get(), dictionary.data(), dictionary.size()))) {
        return std::nullopt;
    }
    const unsigned long long size = ZSTD_getFrameContentSize(frame.data(), frame.size());
    if (size == ZSTD_CONTENTSIZE_ERROR || size == ZSTD_CONTENTSIZE_UNKNOWN) {
        return std::nullopt;
    }
    std::string out(static_cast<std::size_t>(size), '\0');
    ZSTD_inBuffer in{frame.data(), frame.size(), 0};
    ZSTD_outBuffer dst{out.data(), out.size(), 0};
    const std::size_t rc = ZSTD_decompressStream(d.get(), &dst, &in);
    if (ZSTD_isError(rc) || rc != 0 || in.pos != in.size || dst.pos != out.size()) {
        return std::nullopt;
    }
    return out;
}

// The frame's window size as its header states it (RFC 8878 §3.1.1.1): the content size for a
// single-segment frame, else from the Window_Descriptor.
std::uint64_t frame_window(std::string_view frame) {
    const auto fhd = static_cast<std::uint8_t>(frame.at(4));
    if ((fhd & 0x20) != 0) {
        return ZSTD_getFrameContentSize(frame.data(), frame.size());
    }
    const auto wd = static_cast<std::uint8_t>(frame.at(5));
    const std::uint64_t base = std::uint64_t{1} << (10 + (wd >> 3));
    return base + (base / 8) * (wd & 7);
}

// ---- Patterns ----------------------------------------------------------------------------------

TEST(DictionaryPattern, NodeSegmentAndHashedNamesBecomeWildcards) {
    const std::vector<std::pair<std::string_view, std::string_view>> rows{
        {"/bbb-01/html5client/app.3f9a1c2b.js", "/*/html5client/app.*.js"},
        {"/bbb-02/html5client/chunk-5f2d9e8a1b.css", "/*/html5client/chunk-*.css"},
        {"/n1/html5client/main.a1B2c3D4e5.js", "/*/html5client/main.*.js"},
        // Meteor: the bundle is named by its 40-hex SHA-1.
        {"/bbb-01/html5client/0123456789abcdef0123456789abcdef01234567.js", "/*/html5client/*.js"},
        {"/bbb-01/html5client/0123456789ABCDEF0123456789ABCDEF01234567.css",
         "/*/html5client/*.css"},
        // The demo node's names (fnv1a32, 8 hex), esbuild's base32, Rollup's base64 without a
        // digit, and a hex hash that happens to have no digit at all.
        {"/demo-1/html5client/vendor-0a1b2c3d.js", "/*/html5client/vendor-*.js"},
        {"/n/html5client/app-5KQZQ3FJ.js", "/*/html5client/app-*.js"},
        {"/n/html5client/index-DiwrgTda.js", "/*/html5client/index-*.js"},
        {"/n/html5client/deadbeef.js", "/*/html5client/*.js"},
        // Source maps keep the inner extension.
        {"/n/html5client/app.3f9a1c2b.js.map", "/*/html5client/app.*.js.map"},
        // Several hashes.
        {"/n/html5client/app.3f9a1c2b.5f2d9e8a.js", "/*/html5client/app.*.*.js"},
        // Deeper directories are kept; only the file name is generalised.
        {"/n/html5client/static/js/main.3f9a1c2b.chunk.js",
         "/*/html5client/static/js/main.*.chunk.js"},
    };
    for (const auto& [path, match] : rows) {
        EXPECT_EQ(match_of(path), std::optional<std::string>(match)) << path;
    }
}

TEST(DictionaryPattern, VersionsAndBuildNumbersBecomeWildcards) {
    const std::vector<std::pair<std::string_view, std::string_view>> rows{
        {"/n/html5client/app-2.7.3.js", "/*/html5client/app-*.js"},
        {"/n/html5client/jquery-3.6.0.min.js", "/*/html5client/jquery-*.min.js"},
        {"/n/html5client/lib.v1.10.js", "/*/html5client/lib.*.js"},
        {"/n/html5client/lib-V2.0.css", "/*/html5client/lib-*.css"},
        {"/n/html5client/app.123456.js", "/*/html5client/app.*.js"},
        {"/n/html5client/build-20240101.js", "/*/html5client/build-*.js"},
    };
    for (const auto& [path, match] : rows) {
        EXPECT_EQ(match_of(path), std::optional<std::string>(match)) << path;
    }
}

TEST(DictionaryPattern, PlainNamesAndShortNumbersAreKept) {
    for (const std::string_view path : {
             "/bbb-01/html5client/compatibility/sip.js",
             "/bbb-01/html5client/bundle.js",
             "/bbb-01/html5client/locale/en.json",
             "/bbb-01/html5client/locales/pt-BR.json",
             "/n/html5client/123.js",            // webpack's numeric chunk ids stay apart
             "/n/html5client/en-2.json",         //
             "/n/html5client/v2.js",             // one number is not a version
             "/n/html5client/app-1.2rc.js",      // nor is "1.2rc"
             "/n/html5client/ServiceWorker.js",  // CamelCase: long lower-case runs
             "/n/html5client/polyfills2023.js",  //
             "/n/html5client/es2015.js",         // too short for a hash
             "/n/html5client/i18nextHttpBackend.js",
             "/n/html5client/fonts/2.7.3/Roboto.ttf",  // directories stay literal
             "/n/html5client/.eslintrc.json",
         }) {
        std::string expected = "/*";
        expected += path.substr(path.find('/', 1));
        EXPECT_EQ(match_of(path), std::optional<std::string>(expected)) << path;
    }
}

TEST(DictionaryPattern, PatternSyntaxIsEscaped) {
    // ':' would start a named group, '(' a regexp group (RFC 9842 §2.1.1 forbids those), '+' is
    // a modifier; the other sub-delims and '@' '~' are plain text in a URL pattern.
    EXPECT_EQ(match_of("/n/h/a:b(c)+d.js"), R"(/*/h/a\:b\(c\)\+d.js)");
    EXPECT_EQ(match_of("/n/x:y/app.3f9a1c2b.js"), R"(/*/x\:y/app.*.js)");
    EXPECT_EQ(match_of("/n/h/a~b!c$d&e'f,g;h=i@j.js"), "/*/h/a~b!c$d&e'f,g;h=i@j.js");
}

TEST(DictionaryPattern, RejectsWhatItDoesNotHandle) {
    for (const std::string_view path : {
             "",
             "/",
             "relative/html5client/app.js",
             "/n/app.js",        // two segments
             "/n",               //
             "/n//app.js",       // empty segment
             "/n/html5client/",  // empty file name
             "//html5client/a.js",
             "/n/../html5client/a.js",
             "/n/./a.js",
             "/n/html5client/..",
             "/n/html5client/a*.js",
             "/n/html5client/a%20b.js",
             "/n/html5client/a?.js",
             "/n/html5client/a.js?v=1",
             "/n/html5client/a#b.js",
             "/n/html5client/a{b}.js",
             "/n/html5client/a\\b.js",
             "/n/html5client/a b.js",
             "/n/html5client/a\"b.js",
             "/n/html5client/\xc3\xa9.js",
             "/n/html5client/a\tb.js",
             // Nothing literal left: the pattern would match every file in the directory.
             "/n/html5client/3f9a1c2b",
             "/n/html5client/3f9a1c2b-5f2d9e8a",
             "/n/html5client/2.7.3",
         }) {
        EXPECT_EQ(dictionary_pattern(path), std::nullopt) << path;
    }
}

TEST(DictionaryPattern, IdIsStableShortAndFollowsThePattern) {
    const auto a = dictionary_pattern("/bbb-01/html5client/app.3f9a1c2b.js");
    const auto b = dictionary_pattern("/bbb-02/html5client/app.99aa00bb.js");
    const auto c = dictionary_pattern("/bbb-01/html5client/vendor.3f9a1c2b.js");
    ASSERT_TRUE(a && b && c);
    EXPECT_EQ(a->match, b->match);
    EXPECT_EQ(a->id, b->id);
    EXPECT_NE(a->id, c->id);
    EXPECT_EQ(a->id.size(), 16u);
    EXPECT_EQ(a->id.find_first_not_of("0123456789abcdef"), std::string::npos);
    EXPECT_EQ(a->id, hex(dictionary_hash(a->match)).substr(0, 16));
    EXPECT_EQ(dictionary_pattern("/bbb-01/html5client/app.3f9a1c2b.js")->id, a->id);
}

// ---- Offers ------------------------------------------------------------------------------------

TEST(DictionaryOffers, ByTypeThenByExtension) {
    struct row {
        std::string_view path;
        std::string_view type;
        bool offered;
    };
    for (const auto& r : std::vector<row>{
             {"/n/h/app.js", "application/javascript", true},
             {"/n/h/app.js", "text/javascript; charset=utf-8", true},
             {"/n/h/app.mjs", "TEXT/JavaScript", true},
             {"/n/h/worker.js", "application/x-javascript", true},
             {"/n/h/style.css", "text/css", true},
             {"/n/h/mod.wasm", "application/wasm", true},
             {"/n/h/locale/en.json", "application/json", true},
             {"/n/h/manifest.webmanifest", "application/manifest+json", true},
             {"/n/h/app.js.map", "application/json", true},
             {"/n/h/Roboto.ttf", "font/ttf", true},
             {"/n/h/Roboto.otf", "font/otf", true},
             {"/n/h/Roboto.ttf", "application/x-font-ttf", true},
             // No type or octet-stream: the extension decides.
             {"/n/h/app.js.map", "application/octet-stream", true},
             {"/n/h/app.mjs", "", true},
             {"/n/h/mod.wasm", "application/octet-stream", true},
             {"/n/h/Roboto.TTF", "application/octet-stream", true},
             {"/n/h/app.js?v=1", "", true},
             {"/n/h/blob.bin", "application/octet-stream", false},
             {"/n/h/noext", "", false},
             // Never HTML, whatever the path says; nothing already compressed.
             {"/n/h/index.html", "text/html", false},
             {"/n/h/app.js", "text/html; charset=utf-8", false},
             {"/n/h/index.html", "", false},
             {"/n/h/Roboto.woff2", "font/woff2", false},
             {"/n/h/Roboto.woff", "font/woff", false},
             {"/n/h/Roboto.woff2", "application/octet-stream", false},
             {"/n/h/logo.png", "image/png", false},
             {"/n/h/logo.svg", "image/svg+xml", false},
             {"/n/h/app.js", "text/plain", false},
         }) {
        EXPECT_EQ(offers_dictionary(r.path, r.type), r.offered) << r.path << " " << r.type;
    }
}

// ---- Header values -----------------------------------------------------------------------------

TEST(DictionaryHeader, UseAsDictionaryEscapesSfStrings) {
    EXPECT_EQ(use_as_dictionary_value({"/*/html5client/app.*.js", "0123456789abcdef"}),
              R"(match="/*/html5client/app.*.js", id="0123456789abcdef")");
    EXPECT_EQ(use_as_dictionary_value({R"(a"b\c)", R"(i"d\)"}), R"(match="a\"b\\c", id="i\"d\\")");
    EXPECT_EQ(use_as_dictionary_value({std::string("a\x01\x7f\xc3\xa9z"), ""}),
              R"(match="az", id="")");
    const auto o = dictionary_pattern("/n/h/a:b.js");
    ASSERT_TRUE(o);
    EXPECT_EQ(use_as_dictionary_value(*o), R"(match="/*/h/a\\:b.js", id=")" + o->id + "\"");
}

TEST(DictionaryHeader, AvailableDictionaryParsesAByteSequence) {
    const std::string abc(sha256_abc_b64);
    const std::string unpadded = abc.substr(0, abc.size() - 1);
    for (const std::string& v : {
             ":" + abc + ":",
             ":" + unpadded + ":",  // padding is optional when parsing (RFC 8941 §4.2.7)
             " \t:" + abc + ": ",   // OWS around the field value
         }) {
        const auto h = parse_available_dictionary(v);
        ASSERT_TRUE(h) << v;
        EXPECT_EQ(hex(*h), sha256_abc) << v;
    }
    // Non-zero pad bits are accepted too: the last character's two low bits are not data.
    std::string pad_bits = abc;
    pad_bits[42] = '1';  // '0' is 52 (…00), '1' is 53 (…01)
    const auto h = parse_available_dictionary(":" + pad_bits + ":");
    ASSERT_TRUE(h);
    EXPECT_EQ(hex(*h), sha256_abc);
    // RFC 9842's example.
    EXPECT_TRUE(parse_available_dictionary(":pZGm1Av0IEBKARczz7exkNYsZb8LzaMrV7J32a2fFG4=:"));
}

TEST(DictionaryHeader, AvailableDictionaryRejectsEverythingElse) {
    const std::string abc(sha256_abc_b64);
    for (const std::string& v : {
             std::string(),
             std::string("::"),
             abc,                // no colons
             ":" + abc,          // no closing colon
             abc + ":",          //
             "\"" + abc + "\"",  // a String, not a Byte Sequence
             ":" + abc + "=:",   // "==" after 43 characters: not a full quantum
             ":" + abc + "==:",  //
             ":" + abc.substr(0, 20) + "=" + abc.substr(21) + ":",  // '=' inside
             ":" + abc.substr(0, 20) + " " + abc.substr(21) + ":",  // space inside
             ": " + abc + ":",                                      //
             ":" + abc.substr(0, 20) + "-" + abc.substr(21) + ":",  // base64url alphabet
             ":" + abc.substr(0, 20) + "_" + abc.substr(21) + ":",  //
             ":" + abc.substr(0, 40) + ":",                         // too short
             ":" + abc.substr(0, 42) + ":",                         // 31 bytes and 4 bits
             ":" + abc.substr(0, 43) + "AAAA:",                     // 35 bytes
             std::string(":qZk+NkcGgWq6PiVxeFDCbJzQ2J0=:"),         // SHA-1 size
             ":" + abc + ":;sha=256",                               // parameters
             ":" + abc + ":, :" + abc + ":",                        // two field lines
             ":" + abc + ":x",                                      // trailing bytes
             ":" + abc + ":\r",                                     //
             "\n:" + abc + ":",                                     //
         }) {
        EXPECT_EQ(parse_available_dictionary(v), std::nullopt) << v;
    }
}

TEST(DictionaryHeader, HashIsSha256) {
    EXPECT_EQ(hex(dictionary_hash("abc")), sha256_abc);
    EXPECT_EQ(hex(dictionary_hash("")),
              "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

// ---- Accept-Encoding ---------------------------------------------------------------------------

TEST(DictionaryAcceptEncoding, OnlyAnExplicitDczWithWeightCounts) {
    struct row {
        std::string_view value;
        bool accepted;
    };
    for (const auto& r : std::vector<row>{
             {"gzip, deflate, br, zstd, dcb, dcz", true},  // Chromium with a dictionary
             {"dcz", true},
             {"DCZ", true},
             {" dcz ;q=1", true},
             {"dcz;Q=0.5", true},
             {"dcz;q=0.001", true},
             {"gzip, dcz; q=1.000", true},
             {"gzip, deflate, br, zstd", false},  // no dictionary: no dcz (RFC 9842 §6.1)
             {"", false},
             {"dcz;q=0", false},
             {"dcz;q=0.000", false},
             {"dcz;q=0.5, dcz;q=0", false},  // named twice: the lower weight
             {"dcz;q=2", false},             // invalid weight: member ignored
             {"dcz;q=0.0001", false},
             {"dcz;level=3", false},  // other parameter: member ignored
             {"*", false},            // "*" does not enable dcz
             {"*;q=1, gzip", false},
             {"dczz, x-dcz, dcb", false},
         }) {
        EXPECT_EQ(accepts_dcz(r.value), r.accepted) << r.value;
    }
}

TEST(DictionaryAcceptEncoding, ListedWeightReadsMembersLikeNegotiation) {
    EXPECT_EQ(listed_weight("gzip;q=0.5, dcz;q=0.25", "dcz"), 250);
    EXPECT_EQ(listed_weight("gzip;q=0.5, dcz;q=0.25", "GZIP"), 500);
    EXPECT_EQ(listed_weight("gzip, *;q=0.5", "br"), std::nullopt);
    EXPECT_EQ(listed_weight("br;q=0.9, br;q=0.3, br;x=1", "br"), 300);
    EXPECT_EQ(listed_weight(", ,dcz,", "dcz"), 1000);
}

// ---- dcz ---------------------------------------------------------------------------------------

TEST(DictionaryDcz, HeaderIsByteExactAndTheFrameDecodesWithLibzstd) {
    const std::string dictionary = "abc";
    const std::string target = "abcabcabc, then something else entirely: abcabc";
    const auto out = compress_dcz(dictionary, target);
    ASSERT_TRUE(out);
    ASSERT_GT(out->size(), dcz_header_size);
    EXPECT_EQ(hex(std::string_view(*out).substr(0, 8)), "5e2a4d1820000000");
    EXPECT_EQ(hex(std::string_view(*out).substr(8, 32)), sha256_abc);
    const std::string_view frame = std::string_view(*out).substr(dcz_header_size);
    EXPECT_EQ(zstd_decode(dictionary, frame), target);
    // Content size in the frame header, and a checksum (Frame_Header_Descriptor bit 2).
    EXPECT_EQ(ZSTD_getFrameContentSize(frame.data(), frame.size()), target.size());
    EXPECT_NE(static_cast<std::uint8_t>(frame[4]) & 0x04, 0);
    EXPECT_EQ(decompress_dcz(dictionary, *out, target.size()), target);
}

TEST(DictionaryDcz, DeltaAgainstThePreviousVersionIsTiny) {
    const std::string dictionary = pseudo_js(200 * 1024, 1);
    std::string target = dictionary;
    target.replace(100 * 1024, 1024, pseudo_js(1024, 2));
    ASSERT_EQ(target.size(), dictionary.size());
    ASSERT_NE(target, dictionary);

    const auto out = compress_dcz(dictionary, target);
    ASSERT_TRUE(out);
    EXPECT_LT(out->size(), target.size() / 20) << out->size();
    const std::string_view frame = std::string_view(*out).substr(dcz_header_size);
    EXPECT_EQ(zstd_decode(dictionary, frame), target);
    EXPECT_EQ(decompress_dcz(dictionary, *out, target.size()), target);
    // Without the dictionary the same decoder cannot reproduce the target.
    EXPECT_NE(zstd_decode("", frame), std::optional<std::string>(target));
}

TEST(DictionaryDcz, TheSameBytesInTheSameMemoryAreANearlyEmptyDelta) {
    // A node hop: the stored body is its own dictionary, one buffer for both (libzstd would take
    // the overlapping prefix as the input's own history and drop it).
    const std::string body = pseudo_js(300 * 1024, 3);
    const auto same = compress_dcz(body, body);
    ASSERT_TRUE(same);
    EXPECT_LT(same->size(), 500u) << same->size();
    EXPECT_EQ(decompress_dcz(body, *same, body.size()), body);
    // Overlapping only in part: the tail of one buffer as the dictionary of the whole.
    const std::string_view whole(body);
    const auto part = compress_dcz(whole.substr(1000), whole);
    ASSERT_TRUE(part);
    EXPECT_EQ(decompress_dcz(whole.substr(1000), *part, body.size()), body);
    EXPECT_LT(part->size(), body.size() / 20) << part->size();
}

TEST(DictionaryDcz, RoundTripsEdgeCases) {
    const std::string js = pseudo_js(50 * 1024, 3);
    // A dictionary that starts with zstd's dictionary magic is still raw content (RFC 9842 §5).
    const std::string magic_dictionary = std::string("\x37\xa4\x30\xec", 4) + js;
    struct row {
        std::string dictionary;
        std::string target;
    };
    for (const auto& r : std::vector<row>{
             {js, ""},
             {"", js},
             {"", ""},
             {js, js},
             {magic_dictionary, js.substr(100)},
             {std::string(1, '\0'), std::string(3000, '\0')},
         }) {
        const auto out = compress_dcz(r.dictionary, r.target);
        ASSERT_TRUE(out) << r.dictionary.size() << " " << r.target.size();
        EXPECT_EQ(zstd_decode(r.dictionary, std::string_view(*out).substr(dcz_header_size)),
                  r.target);
        EXPECT_EQ(decompress_dcz(r.dictionary, *out, r.target.size()), r.target);
    }
}

TEST(DictionaryDcz, LevelsAreClampedAndInputsBounded) {
    const std::string dictionary = pseudo_js(20 * 1024, 4);
    const std::string target = pseudo_js(20 * 1024, 5);
    for (const int level : {-7, 0, 1, 3, 19, 22, 1000}) {
        const auto out = compress_dcz(dictionary, target, level);
        ASSERT_TRUE(out) << level;
        EXPECT_EQ(decompress_dcz(dictionary, *out, target.size()), target) << level;
    }
    const std::string big(dcz_max_input + 1, 'a');
    EXPECT_EQ(compress_dcz(big, target, 1), std::nullopt);
    EXPECT_EQ(compress_dcz(dictionary, big, 1), std::nullopt);
    const std::string_view at_limit = std::string_view(big).substr(0, dcz_max_input);
    const auto out = compress_dcz(dictionary, at_limit, 1);
    ASSERT_TRUE(out);
    EXPECT_EQ(decompress_dcz(dictionary, *out, dcz_max_input), std::string(at_limit));
}

TEST(DictionaryDcz, WindowStaysWithinWhatRfc9842GrantsClients) {
    EXPECT_EQ(dcz_max_window(0), std::uint64_t{8} << 20);
    EXPECT_EQ(dcz_max_window(std::size_t{8} << 20), std::uint64_t{10} << 20);
    EXPECT_EQ(dcz_max_window(std::size_t{16} << 20), std::uint64_t{20} << 20);
    EXPECT_EQ(dcz_max_window(std::size_t{200} << 20), std::uint64_t{128} << 20);

    // A target that fits in the window: one segment, window = content size.
    const std::string dictionary = pseudo_js(64 * 1024, 6);
    const std::string target = pseudo_js(300 * 1024, 7);
    auto out = compress_dcz(dictionary, target);
    ASSERT_TRUE(out);
    std::string_view frame = std::string_view(*out).substr(dcz_header_size);
    EXPECT_EQ(frame_window(frame), target.size());

    // A target larger than the 8 MiB a small dictionary allows: the window stops at 8 MiB, and a
    // decoder limited to exactly that still decodes it.
    const std::string large = pseudo_js((std::size_t{9} << 20) + 12345, 8);
    out = compress_dcz(dictionary, large, 1);
    ASSERT_TRUE(out);
    frame = std::string_view(*out).substr(dcz_header_size);
    EXPECT_LE(frame_window(frame), std::uint64_t{8} << 20);
    EXPECT_EQ(zstd_decode(dictionary, frame, 23), large);
    EXPECT_EQ(decompress_dcz(dictionary, *out, large.size()), large);

    // The same target in a frame with a 16 MiB window, made by libzstd directly: over the
    // limit, so decompress_dcz refuses it (RFC 9842 §5 allows treating it as an error).
    const std::unique_ptr<ZSTD_CCtx, decltype(&ZSTD_freeCCtx)> c(ZSTD_createCCtx(), &ZSTD_freeCCtx);
    ASSERT_TRUE(c);
    ASSERT_FALSE(ZSTD_isError(ZSTD_CCtx_setParameter(c.get(), ZSTD_c_compressionLevel, 1)));
    ASSERT_FALSE(ZSTD_isError(ZSTD_CCtx_setParameter(c.get(), ZSTD_c_windowLog, 24)));
    ASSERT_FALSE(ZSTD_isError(ZSTD_CCtx_refPrefix(c.get(), dictionary.data(), dictionary.size())));
    std::string wide(ZSTD_compressBound(large.size()), '\0');
    const std::size_t n =
        ZSTD_compress2(c.get(), wide.data(), wide.size(), large.data(), large.size());
    ASSERT_FALSE(ZSTD_isError(n));
    wide.resize(n);
    ASSERT_GT(frame_window(wide), std::uint64_t{8} << 20);
    ASSERT_EQ(zstd_decode(dictionary, wide), large);
    EXPECT_EQ(decompress_dcz(dictionary, out->substr(0, dcz_header_size) + wide, large.size()),
              std::nullopt);
}

TEST(DictionaryDcz, DecodingRefusesAnythingButTheExactStream) {
    const std::string dictionary = pseudo_js(30 * 1024, 9);
    std::string target = dictionary;
    target.replace(5000, 700, pseudo_js(700, 10));
    const auto made = compress_dcz(dictionary, target);
    ASSERT_TRUE(made);
    const std::string& good = *made;
    ASSERT_EQ(decompress_dcz(dictionary, good, target.size()), target);

    // Wrong dictionary: the header names another hash.
    EXPECT_EQ(decompress_dcz(dictionary.substr(1), good, 1 << 20), std::nullopt);
    EXPECT_EQ(decompress_dcz("", good, 1 << 20), std::nullopt);
    // The header names the dictionary given, but the frame was made with another: the frame's
    // checksum (or the decoder) catches it.
    const std::string other = pseudo_js(30 * 1024, 11);
    std::string relabelled = good;
    const auto other_hash = dictionary_hash(other);
    relabelled.replace(8, 32, reinterpret_cast<const char*>(other_hash.data()), 32);
    EXPECT_EQ(decompress_dcz(other, relabelled, 1 << 20), std::nullopt);
    // Bad magic.
    std::string bad_magic = good;
    bad_magic[0] = '\x5f';
    EXPECT_EQ(decompress_dcz(dictionary, bad_magic, 1 << 20), std::nullopt);
    bad_magic = good;
    bad_magic[4] = '\x21';
    EXPECT_EQ(decompress_dcz(dictionary, bad_magic, 1 << 20), std::nullopt);
    // Truncated anywhere.
    for (const std::size_t n :
         {std::size_t{0}, std::size_t{8}, std::size_t{39}, std::size_t{40}, std::size_t{41},
          std::size_t{45}, good.size() / 2, good.size() - 4, good.size() - 1}) {
        EXPECT_EQ(decompress_dcz(dictionary, std::string_view(good).substr(0, n), 1 << 20),
                  std::nullopt)
            << n;
    }
    // Trailing bytes: garbage, a second frame, a skippable frame.
    EXPECT_EQ(decompress_dcz(dictionary, good + "x", 1 << 20), std::nullopt);
    const std::string_view frame = std::string_view(good).substr(dcz_header_size);
    EXPECT_EQ(decompress_dcz(dictionary, good + std::string(frame), 1 << 20), std::nullopt);
    const std::string skippable("\x50\x2a\x4d\x18\x00\x00\x00\x00", 8);
    EXPECT_EQ(decompress_dcz(dictionary, good + skippable, 1 << 20), std::nullopt);
    // A skippable frame where the data frame belongs decodes to nothing: refused.
    EXPECT_EQ(decompress_dcz(dictionary, good.substr(0, dcz_header_size) + skippable, 1 << 20),
              std::nullopt);
    // Over max_output by one byte, and exactly at it.
    EXPECT_EQ(decompress_dcz(dictionary, good, target.size() - 1), std::nullopt);
    EXPECT_EQ(decompress_dcz(dictionary, good, 0), std::nullopt);
    EXPECT_EQ(decompress_dcz(dictionary, good, target.size()), target);
}

}  // namespace
}  // namespace bcp::cache
