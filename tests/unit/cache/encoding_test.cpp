// Content-coding negotiation (RFC 9110 §12.5.3), compressibility and variant entity tags as
// tables.
#include "cache/encoding.hpp"

#include <gtest/gtest.h>

#include <set>
#include <string>
#include <vector>

namespace bcp::cache {
namespace {

constexpr unsigned all = bit(coding::gzip) | bit(coding::br) | bit(coding::zstd);
constexpr unsigned gzip_only = bit(coding::gzip);

struct negotiation_row {
    std::string header;
    bool present;
    unsigned available;
    coding expected;
};

void expect_rows(const std::vector<negotiation_row>& rows) {
    for (const auto& r : rows) {
        EXPECT_EQ(to_token(negotiate(r.header, r.present, r.available)), to_token(r.expected))
            << "Accept-Encoding: '" << r.header << "' present=" << r.present
            << " available=" << r.available;
    }
}

TEST(CodingToken, RoundTripsAndAliases) {
    for (const coding c : {coding::identity, coding::gzip, coding::br, coding::zstd}) {
        EXPECT_EQ(coding_from_token(to_token(c)), c);
    }
    EXPECT_EQ(to_token(coding::br), "br");
    EXPECT_EQ(coding_from_token("X-Gzip"), coding::gzip);
    EXPECT_EQ(coding_from_token("BR"), coding::br);
    EXPECT_EQ(coding_from_token("ZSTD"), coding::zstd);
    EXPECT_EQ(coding_from_token("deflate"), std::nullopt);
    EXPECT_EQ(coding_from_token("compress"), std::nullopt);
    EXPECT_EQ(coding_from_token(""), std::nullopt);
    EXPECT_EQ(coding_from_token("gzip "), std::nullopt);
    EXPECT_EQ(bit(coding::identity), 1u);
    EXPECT_EQ(bit(coding::zstd), 8u);
}

TEST(Negotiation, RealBrowserAndToolHeaders) {
    expect_rows({
        // Chromium 123+ and Firefox 126+.
        {"gzip, deflate, br, zstd", true, all, coding::br},
        {"gzip, deflate, br, zstd", true, bit(coding::zstd) | gzip_only, coding::zstd},
        {"gzip, deflate, br, zstd", true, gzip_only, coding::gzip},
        {"gzip, deflate, br, zstd", true, 0, coding::identity},
        // Older Chromium, Firefox and Safari.
        {"gzip, deflate, br", true, all, coding::br},
        {"gzip, deflate, br", true, bit(coding::zstd) | gzip_only, coding::gzip},
        {"gzip, deflate", true, all, coding::gzip},
        // curl --compressed (7.88 with brotli and zstd), and curl without it (no field).
        {"deflate, gzip, br, zstd", true, all, coding::br},
        {"deflate, gzip", true, all, coding::gzip},
        {"", false, all, coding::identity},
    });
}

TEST(Negotiation, AbsentAndEmptyField) {
    expect_rows({
        {"", false, all, coding::identity},
        {"gzip", false, all, coding::identity},  // `present` decides, not the text
        {"", true, all, coding::identity},
        {"   ", true, all, coding::identity},
        {",, ,", true, all, coding::identity},
    });
}

TEST(Negotiation, WeightsAndTies) {
    expect_rows({
        {"br;q=0.5, gzip", true, all, coding::gzip},
        {"br;q=0.5, gzip;q=0.4", true, all, coding::br},
        {"gzip;q=0.8, br;q=0.8, zstd;q=0.8", true, all, coding::br},
        {"gzip;q=0.8, zstd;q=0.8", true, all, coding::zstd},
        {"gzip, identity", true, all, coding::gzip},
        {"identity, gzip;q=0.5", true, all, coding::identity},
        {"identity;q=0.5, gzip;q=0.5", true, all, coding::gzip},
        {"zstd;q=0.001", true, all, coding::zstd},  // any q > 0 beats the implicit identity
        {"gzip;q=0.001, br;q=0.002", true, all, coding::br},
        {"br;q=1.000, gzip;q=0.999", true, all, coding::br},
        {"br;q=0, gzip;q=0", true, all, coding::identity},
        {"gzip;q=0.", true, all, coding::identity},  // "0." is a valid qvalue: refused
        {"gzip;q=1.", true, all, coding::gzip},
        {"gzip, gzip;q=0", true, all, coding::identity},  // duplicates keep the lower weight
        {"gzip;q=0.3, x-gzip;q=0.9, br;q=0.5", true, all, coding::br},
        {"gzip;Q=0.5, br;q=0.4", true, all, coding::gzip},  // "q" is case-insensitive
    });
}

TEST(Negotiation, Wildcard) {
    expect_rows({
        {"*", true, all, coding::br},
        {"*", true, gzip_only, coding::gzip},
        {"*", true, 0, coding::identity},
        {"*;q=0.5, br;q=0.4", true, all, coding::zstd},  // zstd, gzip, identity at 0.5
        {"*;q=0.5, br;q=0.4", true, bit(coding::br), coding::identity},
        {"*;q=0, gzip", true, all, coding::gzip},
        {"gzip;q=0, *", true, all, coding::br},
        {"gzip;q=0, *", true, gzip_only, coding::identity},
        {"*;q=0", true, all, coding::identity},  // nothing acceptable: identity anyway
        {"*;q=0, identity", true, all, coding::identity},
        {"*;q=0.1, identity;q=0.5, gzip;q=0.4", true, all, coding::identity},
    });
}

TEST(Negotiation, IdentityQZeroWithoutOtherCodingsStillGetsIdentity) {
    expect_rows({
        {"identity;q=0", true, all, coding::identity},
        {"identity;q=0", true, 0, coding::identity},
        {"identity;q=0, gzip", true, all, coding::gzip},
        {"identity;q=0, gzip", true, bit(coding::br), coding::identity},
        {"identity;q=0, *;q=0", true, all, coding::identity},
    });
}

TEST(Negotiation, AvailabilityMask) {
    expect_rows({
        {"br", true, gzip_only, coding::identity},
        {"br, gzip;q=0.1", true, gzip_only, coding::gzip},
        {"br, zstd;q=0.9, gzip;q=0.1", true, bit(coding::gzip) | bit(coding::zstd), coding::zstd},
        {"gzip", true, bit(coding::identity), coding::identity},
        {"gzip", true, 0, coding::identity},
        {"gzip", true, ~0u, coding::gzip},  // unknown bits are harmless
    });
}

TEST(Negotiation, UpperCaseAliasAndWhitespace) {
    expect_rows({
        {"GZIP", true, all, coding::gzip},
        {"Br;Q=0.9, GZip;q=0.1", true, all, coding::br},
        {"x-gzip", true, all, coding::gzip},
        {"X-GZIP;q=0.5, identity;q=0.4", true, all, coding::gzip},
        {"  gzip ;  q=0.5 ,\tbr ; q=0.4 ", true, all, coding::gzip},
        {"gzip;q=0.5,br;q=0.6", true, all, coding::br},
        {"\tzstd\t", true, all, coding::zstd},
    });
}

TEST(Negotiation, InvalidWeightIgnoresTheMember) {
    expect_rows({
        {"br;q=2, gzip", true, all, coding::gzip},
        {"br;q=0.1234, gzip;q=0.1", true, all, coding::gzip},
        {"br;q=abc, gzip;q=0.1", true, all, coding::gzip},
        {"br;q=1.001, gzip;q=0.1", true, all, coding::gzip},
        {"br;q=.5, gzip;q=0.1", true, all, coding::gzip},
        {"br;q=-1, gzip;q=0.1", true, all, coding::gzip},
        {"br;q=, gzip;q=0.1", true, all, coding::gzip},
        {"br;q, gzip;q=0.1", true, all, coding::gzip},
        {"br;, gzip;q=0.1", true, all, coding::gzip},
        {"br;q=0.5;q=0.6, gzip;q=0.1", true, all, coding::gzip},
        {"br;level=5, gzip;q=0.1", true, all, coding::gzip},
        {"br;q=\"1\", gzip;q=0.1", true, all, coding::gzip},
        {"identity;q=2", true, all, coding::identity},
        {"gzip;q=0.5 0, br;q=0.1", true, all, coding::br},
        {";q=0.5", true, all, coding::identity},
    });
}

TEST(Negotiation, UnknownCodingsAreIgnored) {
    expect_rows({
        {"deflate, compress, dcb, dcz", true, all, coding::identity},
        {"deflate;q=1, gzip;q=0.1", true, all, coding::gzip},
        {"sdch, br", true, all, coding::br},
        {"gzip-ish, brotli, \"gzip\"", true, all, coding::identity},
        {"identity", true, all, coding::identity},
    });
}

TEST(Negotiation, HugeFieldIsHandled) {
    std::string many;
    for (int i = 0; i < 100'000; ++i) {
        many += "gzip;q=0.5, deflate;;;;;;q=, ";
    }
    many += "br;q=0.6";
    EXPECT_EQ(negotiate(many, true, all), coding::br);
    EXPECT_EQ(negotiate(std::string(1'000'000, ';'), true, all), coding::identity);
    EXPECT_EQ(negotiate(std::string(1'000'000, ','), true, all), coding::identity);
}

TEST(Accepts, Table) {
    EXPECT_TRUE(accepts("gzip, deflate", true, coding::gzip));
    EXPECT_FALSE(accepts("gzip, deflate", true, coding::br));
    EXPECT_TRUE(accepts("gzip, deflate", true, coding::identity));
    EXPECT_FALSE(accepts("", false, coding::gzip));
    EXPECT_TRUE(accepts("", false, coding::identity));
    EXPECT_FALSE(accepts("", true, coding::gzip));
    EXPECT_TRUE(accepts("", true, coding::identity));
    EXPECT_FALSE(accepts("gzip;q=0", true, coding::gzip));
    EXPECT_TRUE(accepts("gzip;q=0.001", true, coding::gzip));
    EXPECT_FALSE(accepts("gzip;q=2", true, coding::gzip));
    EXPECT_TRUE(accepts("x-gzip", true, coding::gzip));
    EXPECT_TRUE(accepts("*", true, coding::gzip));
    EXPECT_TRUE(accepts("*", true, coding::identity));
    EXPECT_FALSE(accepts("*;q=0", true, coding::identity));
    EXPECT_FALSE(accepts("*;q=0", true, coding::gzip));
    EXPECT_TRUE(accepts("*;q=0, identity", true, coding::identity));
    EXPECT_FALSE(accepts("identity;q=0", true, coding::identity));
    EXPECT_TRUE(accepts("br", true, coding::identity));
    EXPECT_TRUE(accepts("gzip, deflate, br, zstd", true, coding::zstd));
}

TEST(Compressible, Table) {
    struct row {
        std::string_view type;
        std::string_view path;
        bool expected;
    };
    const std::vector<row> rows{
        {"text/html; charset=utf-8", "/bbb-01/html5client/", true},
        {"text/css", "/a.css", true},
        {"TEXT/PLAIN", "/a", true},
        {"text/javascript", "/a.js", true},
        {"application/javascript", "/a.js", true},
        {"application/x-javascript", "/a", true},
        {"application/ecmascript", "/a", true},
        {"application/json", "/a.map", true},  // a source map
        {"Application/JSON ; charset=utf-8", "/a", true},
        {"application/manifest+json", "/manifest.json", true},
        {"application/ld+json", "/a", true},
        {"application/xml", "/a", true},
        {"application/rss+xml", "/a", true},
        {"image/svg+xml", "/logo.svg", true},
        {"application/wasm", "/a.wasm", true},
        {"application/vnd.ms-fontobject", "/f.eot", true},
        {"font/ttf", "/f.ttf", true},
        {"font/otf", "/f.otf", true},
        {"font/sfnt", "/f", true},
        {"application/x-font-ttf", "/f.ttf", true},
        {"application/x-font-opentype", "/f.otf", true},
        {"image/png", "/a.png", false},
        {"image/jpeg", "/a.js", false},
        {"image/webp", "/a", false},
        {"image/x-icon", "/favicon.ico", false},
        {"audio/ogg", "/a.ogg", false},
        {"video/webm", "/a.webm", false},
        {"font/woff", "/f.woff", false},
        {"font/woff2", "/f.woff2", false},
        {"application/font-woff", "/f.woff", false},
        {"application/zip", "/a.zip", false},
        {"application/gzip", "/a.gz", false},
        {"application/pdf", "/a.pdf", false},
        {"application/+json", "/a", false},
        {"multipart/form-data", "/a", false},
        // octet-stream and no type: the extension decides, query ignored.
        {"application/octet-stream", "/html5client/bundle.js.map", true},
        {"application/octet-stream", "/a.mjs?v=3", true},
        {"application/octet-stream", "/a.JS", true},
        {"application/octet-stream", "/a.bin", false},
        {"application/octet-stream", "/a.png?x=.js", false},
        {"application/octet-stream", "/dir.js/file", false},
        {"application/octet-stream", "/noextension", false},
        {"", "/a.css", true},
        {"", "/a.json", true},
        {"", "/a.wasm", true},
        {"", "/a.svg", true},
        {"", "/a.txt", true},
        {"", "/index.html", true},
        {"", "/index.htm", true},
        {"", "/a.xml", true},
        {"", "/f.ttf", true},
        {"", "/f.otf", true},
        {"", "/f.eot", true},
        {"", "/f.woff2", false},
        {"", "/a.jpg", false},
        {"", "", false},
        {" ; charset=utf-8", "/a.js", true},
    };
    for (const auto& r : rows) {
        EXPECT_EQ(compressible(r.type, r.path), r.expected)
            << "type '" << r.type << "' path '" << r.path << "'";
    }
}

TEST(VariantEtag, QuotedDistinctPerCodingAndStable) {
    std::array<std::uint8_t, 32> hash{};
    for (std::size_t i = 0; i < hash.size(); ++i) {
        hash[i] = static_cast<std::uint8_t>(i * 17);
    }
    EXPECT_EQ(variant_etag(hash, coding::identity), "\"00112233445566778899aabbccddeeff\"");
    EXPECT_EQ(variant_etag(hash, coding::gzip), "\"00112233445566778899aabbccddeeff-gzip\"");
    EXPECT_EQ(variant_etag(hash, coding::br), "\"00112233445566778899aabbccddeeff-br\"");
    EXPECT_EQ(variant_etag(hash, coding::zstd), "\"00112233445566778899aabbccddeeff-zstd\"");

    std::set<std::string> tags;
    for (const coding c : {coding::identity, coding::gzip, coding::br, coding::zstd, coding::dcz}) {
        const std::string tag = variant_etag(hash, c);
        EXPECT_EQ(tag, variant_etag(hash, c));
        EXPECT_EQ(tag.front(), '"');
        EXPECT_EQ(tag.back(), '"');
        EXPECT_EQ(tag.find('"', 1), tag.size() - 1);
        EXPECT_EQ(tag.rfind("W/", 0), std::string::npos);  // strong
        tags.insert(tag);
    }
    EXPECT_EQ(tags.size(), coding_count);

    auto other = hash;
    other[15] ^= 1;
    EXPECT_NE(variant_etag(other, coding::br), variant_etag(hash, coding::br));
}

}  // namespace
}  // namespace bcp::cache
