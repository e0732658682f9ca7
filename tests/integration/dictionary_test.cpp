// Compression dictionaries (RFC 9842, issue 18) through the real binary: a client asset is offered
// as a dictionary (Use-As-Dictionary), and a later request naming it (Available-Dictionary, dcz
// accepted) for the same file on another node, or for the next version of it, gets a dcz delta.
// Decoded here with libzstd directly (the RFC's 40-byte header checked by hand), not with the
// project's code. The node is a raw-socket node serving both "nodes" and both "versions".
#include "harness.hpp"
#include "proxy_process.hpp"
#include "raw_node.hpp"

#include <gtest/gtest.h>

#include <openssl/evp.h>
#include <openssl/sha.h>
#include <zstd.h>

#include <array>
#include <string>

namespace bcp::test {
namespace {

const std::string v1_path = "/html5client/app-1a2b3c4d.js";
const std::string v2_path = "/html5client/app-9f8e7d6c.js";  // the next version of the bundle
const std::string page_path = "/html5client/index.html";
const std::string all = "gzip, deflate, br, zstd, dcb, dcz";

// A few hundred KB of JavaScript-like text, deterministic.
std::string bundle(int version) {
    std::string out;
    for (int i = 0; out.size() < 300'000; ++i) {
        out += "function f" + std::to_string(i) + "(a){return a*" +
               std::to_string(i * 7919 % 1000) + "+\"m" + std::to_string(i % 97) + "\";}\n";
    }
    if (version == 2) {
        // One library changed: a 3 KB region in the middle.
        for (std::size_t k = 150'000; k < 153'000; ++k) {
            out[k] = static_cast<char>('a' + (k * 31 % 26));
        }
    }
    return out;
}

const std::string& v1() {
    static const std::string b = bundle(1);
    return b;
}
const std::string& v2() {
    static const std::string b = bundle(2);
    return b;
}

std::string ok(const std::string& type, const std::string& body) {
    return "HTTP/1.1 200 OK\r\nContent-Type: " + type +
           "\r\nContent-Length: " + std::to_string(body.size()) +
           "\r\nCache-Control: public, max-age=86400\r\n\r\n" + body;
}

reply script(const std::string& target, const std::string&) {
    const auto path = target.substr(target.find('/', 1));  // without the node segment
    if (path == v1_path) {
        return {ok("application/javascript", v1())};
    }
    if (path == v2_path) {
        return {ok("application/javascript", v2())};
    }
    if (path == page_path) {
        return {ok("text/html", "<html>" + std::string(5000, 'p') + "</html>")};
    }
    return {"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"};
}

std::array<std::uint8_t, 32> sha256_of(const std::string& s) {
    std::array<std::uint8_t, 32> d{};
    SHA256(reinterpret_cast<const unsigned char*>(s.data()), s.size(), d.data());
    return d;
}

// Available-Dictionary: an RFC 8941 byte sequence.
std::string available(const std::array<std::uint8_t, 32>& d) {
    unsigned char b64[64] = {};
    const int n = EVP_EncodeBlock(b64, d.data(), static_cast<int>(d.size()));
    return ":" + std::string(reinterpret_cast<char*>(b64), static_cast<std::size_t>(n)) + ":";
}

// RFC 9842 dcz: 8-byte skippable-frame header (magic 0x184D2A5E, length 32), the dictionary's
// SHA-256, then one zstd frame made with the dictionary as raw content.
std::optional<std::string> decode_dcz(const std::string& in, const std::string& dictionary) {
    const std::string magic("\x5e\x2a\x4d\x18\x20\x00\x00\x00", 8);
    const auto hash = sha256_of(dictionary);
    if (in.size() < 40 || in.compare(0, 8, magic) != 0 ||
        in.compare(8, 32, std::string(hash.begin(), hash.end())) != 0) {
        return std::nullopt;
    }
    ZSTD_DCtx* d = ZSTD_createDCtx();
    ZSTD_DCtx_setParameter(d, ZSTD_d_windowLogMax, 27);
    ZSTD_DCtx_refPrefix(d, dictionary.data(), dictionary.size());
    std::string out(ZSTD_getFrameContentSize(in.data() + 40, in.size() - 40), '\0');
    const auto n = ZSTD_decompressDCtx(d, out.data(), out.size(), in.data() + 40, in.size() - 40);
    ZSTD_freeDCtx(d);
    if (ZSTD_isError(n) != 0) {
        return std::nullopt;
    }
    out.resize(n);
    return out;
}

std::string yaml(const raw_node& node, const std::string& extra = {}) {
    const auto url = "\"http://127.0.0.1:" + std::to_string(node.port()) + "\"";
    return "public_url: \"https://proxy.example.com\"\nlisten:\n  - address: \"127.0.0.1:0\"\n"
           "nodes:\n  - {id: bbb-01, url: " +
           url + "}\n  - {id: bbb-02, url: " + url +
           "}\n"
           "admin: {address: \"127.0.0.1:0\"}\n"
           "cache: {enabled: true" +
           extra + "}\n";
}

std::string field(const response& r, const char* name) {
    return std::string(r[name]);
}

// Asks until the answer is dcz (the delta is made off the event loops after the first request
// that names the dictionary), or gives up.
std::optional<response> until_dcz(std::uint16_t port, const std::string& target,
                                  const std::string& headers) {
    std::optional<response> last;
    eventually(
        [&] {
            last = http_get(port, target, headers);
            return last && field(*last, "Content-Encoding") == "dcz";
        },
        20s);
    return last;
}

TEST(Dictionaries, AClientAssetIsOfferedAndAnotherNodesCopyComesAsATinyDelta) {
    raw_node node(script);
    proxy_process p(yaml(node));
    ASSERT_TRUE(p.ok());
    // The first load: the bundle, offered as a dictionary for the same file on every node and
    // in every version; it varies on the dictionary a later request names.
    const auto first = http_get(p.port(), "/bbb-01" + v1_path, "Accept-Encoding: " + all + "\r\n");
    ASSERT_TRUE(first);
    EXPECT_EQ(first->result_int(), 200);
    const auto offer = field(*first, "Use-As-Dictionary");
    EXPECT_EQ(offer.rfind("match=\"/*/html5client/app-*.js\", id=\"", 0), 0u) << offer;
    EXPECT_NE(field(*first, "Vary").find("Available-Dictionary"), std::string::npos);
    EXPECT_NE(field(*first, "Vary").find("Accept-Encoding"), std::string::npos);
    // The HTML page is never a dictionary.
    const auto page = http_get(p.port(), "/bbb-01" + page_path, "Accept-Encoding: br\r\n");
    ASSERT_TRUE(page);
    EXPECT_EQ(field(*page, "Use-As-Dictionary"), "");

    const std::string named = "Accept-Encoding: " + all +
                              "\r\nAvailable-Dictionary: " + available(sha256_of(v1())) + "\r\n";
    // Node hop: the same bytes under bbb-02 come as a delta of a few dozen bytes.
    const auto hop = until_dcz(p.port(), "/bbb-02" + v1_path, named);
    ASSERT_TRUE(hop);
    ASSERT_EQ(field(*hop, "Content-Encoding"), "dcz") << hop->body().size();
    EXPECT_LT(hop->body().size(), 200u);
    EXPECT_EQ(decode_dcz(hop->body(), v1()), v1());
    EXPECT_NE(field(*hop, "Vary").find("Available-Dictionary"), std::string::npos);
    EXPECT_NE(field(*hop, "ETag").find("-dcz-"), std::string::npos);
    EXPECT_NE(field(*hop, "Use-As-Dictionary"), "");  // itself a dictionary for the next load
    // Its validator answers a conditional request with a 304.
    const auto again = http_get(p.port(), "/bbb-02" + v1_path,
                                named + "If-None-Match: " + field(*hop, "ETag") + "\r\n");
    ASSERT_TRUE(again);
    EXPECT_EQ(again->result_int(), 304);

    // After an upgrade: the new version, against the old one, is a small delta.
    const auto upgrade = until_dcz(p.port(), "/bbb-02" + v2_path, named);
    ASSERT_TRUE(upgrade);
    ASSERT_EQ(field(*upgrade, "Content-Encoding"), "dcz");
    EXPECT_EQ(decode_dcz(upgrade->body(), v1()), v2());
    const auto br = http_get(p.port(), "/bbb-02" + v2_path, "Accept-Encoding: br\r\n");
    ASSERT_TRUE(br);
    EXPECT_LT(upgrade->body().size() * 5, br->body().size())
        << "dcz " << upgrade->body().size() << " br " << br->body().size();

    // Counted: the deltas sent and what they saved.
    EXPECT_GE(metric(p.admin_port(), R"(bcp_cache_encoded_responses_total{coding="dcz"})"), 2u);
    // Against br when its variant was made by then, else against identity.
    EXPECT_GT(metric(p.admin_port(), "bcp_cache_dictionary_saved_bytes_total"), 10'000u);
    EXPECT_EQ(metric(p.admin_port(), "bcp_cache_dictionary_deltas"), 2u);

    // Every node upgraded and purged (the operator guide's step): v1 is no entry any more, but
    // its body stays as a dictionary, so a user coming back with v1 still gets a delta.
    for (const char* id : {"bbb-01", "bbb-02"}) {
        client admin(p.admin_port());
        admin.send(std::string("POST /cache/purge?node=") + id +
                   " HTTP/1.1\r\nHost: localhost\r\nContent-Length: 0\r\n\r\n");
        ASSERT_TRUE(admin.read()) << admin.last_error();
    }
    EXPECT_EQ(metric(p.admin_port(), "bcp_cache_entries"), 0u);
    EXPECT_GE(metric(p.admin_port(), "bcp_cache_dictionary_retired"), 1u);
    const auto back = until_dcz(p.port(), "/bbb-01" + v2_path, named);
    ASSERT_TRUE(back);
    ASSERT_EQ(field(*back, "Content-Encoding"), "dcz");
    EXPECT_EQ(decode_dcz(back->body(), v1()), v2());
}

TEST(Dictionaries, WithoutAStoredDictionaryOrDczOrWithCredentialsThereIsNoDelta) {
    raw_node node(script);
    proxy_process p(yaml(node));
    ASSERT_TRUE(p.ok());
    ASSERT_TRUE(http_get(p.port(), "/bbb-01" + v1_path));
    const std::string known = "Available-Dictionary: " + available(sha256_of(v1())) + "\r\n";
    // dcz made once for this pair, so the requests below would find it.
    ASSERT_EQ(field(*until_dcz(p.port(), "/bbb-02" + v1_path, "Accept-Encoding: dcz\r\n" + known),
                    "Content-Encoding"),
              "dcz");

    // A hash the proxy does not hold is ignored (never fetched): the client gets br.
    const auto unknown = http_get(p.port(), "/bbb-02" + v1_path,
                                  "Accept-Encoding: " + all + "\r\nAvailable-Dictionary: " +
                                      available(sha256_of("not stored")) + "\r\n");
    ASSERT_TRUE(unknown);
    EXPECT_EQ(field(*unknown, "Content-Encoding"), "br");
    EXPECT_EQ(metric(p.admin_port(), "bcp_cache_dictionary_requests_total{result=\"unknown\"}"),
              1u);
    // A stored body that was never offered as a dictionary (the HTML page) is not one either.
    const auto html = http_get(p.port(), "/bbb-01" + page_path);
    ASSERT_TRUE(html);
    const auto page_named = http_get(p.port(), "/bbb-02" + v1_path,
                                     "Accept-Encoding: dcz\r\nAvailable-Dictionary: " +
                                         available(sha256_of(html->body())) + "\r\n");
    ASSERT_TRUE(page_named);
    EXPECT_EQ(field(*page_named, "Content-Encoding"), "");
    EXPECT_EQ(metric(p.admin_port(), "bcp_cache_dictionary_requests_total{result=\"unknown\"}"), 2u)
        << http_get(p.admin_port(), "/metrics")->body();
    // Not advertising dcz, or only through "*": no delta.
    for (const std::string ae : {"gzip, br", "*", "br, dcb"}) {
        const auto r =
            http_get(p.port(), "/bbb-02" + v1_path, "Accept-Encoding: " + ae + "\r\n" + known);
        ASSERT_TRUE(r);
        EXPECT_NE(field(*r, "Content-Encoding"), "dcz") << ae;
    }
    // A malformed Available-Dictionary is ignored.
    const auto bad = http_get(p.port(), "/bbb-02" + v1_path,
                              "Accept-Encoding: dcz\r\nAvailable-Dictionary: :abc:\r\n");
    ASSERT_TRUE(bad);
    EXPECT_EQ(field(*bad, "Content-Encoding"), "");
    // Requests with credentials get no coding of ours (as for br), dcz included.
    const auto cookie =
        http_get(p.port(), "/bbb-02" + v1_path, "Accept-Encoding: dcz\r\nCookie: a=b\r\n" + known);
    ASSERT_TRUE(cookie);
    EXPECT_EQ(field(*cookie, "Content-Encoding"), "");
}

TEST(Dictionaries, DeltasPerAssetAreBoundedAndTheOffersCanBeTurnedOff) {
    raw_node node(script);
    {
        proxy_process p(yaml(node, ", max_deltas_per_asset: 1"));
        ASSERT_TRUE(p.ok());
        ASSERT_TRUE(http_get(p.port(), "/bbb-01" + v1_path));
        ASSERT_TRUE(http_get(p.port(), "/bbb-01" + v2_path));
        // v2 against v1: the one delta v2 may have.
        const auto first = until_dcz(
            p.port(), "/bbb-01" + v2_path,
            "Accept-Encoding: dcz\r\nAvailable-Dictionary: " + available(sha256_of(v1())) + "\r\n");
        ASSERT_EQ(field(*first, "Content-Encoding"), "dcz");
        // v2 against itself: v2 holds all the deltas it may keep, so none is even made.
        const std::string self =
            "Accept-Encoding: dcz\r\nAvailable-Dictionary: " + available(sha256_of(v2())) + "\r\n";
        const auto pending_metric = R"(bcp_cache_dictionary_requests_total{result="pending"})";
        const auto pending = metric(p.admin_port(), pending_metric);
        for (int i = 0; i < 3; ++i) {
            const auto again = http_get(p.port(), "/bbb-01" + v2_path, self);
            ASSERT_TRUE(again);
            EXPECT_EQ(field(*again, "Content-Encoding"), "");
        }
        EXPECT_EQ(metric(p.admin_port(), R"(bcp_cache_compressions_total{coding="dcz"})"), 1u);
        EXPECT_EQ(metric(p.admin_port(), "bcp_cache_dictionary_deltas"), 1u);
        EXPECT_EQ(metric(p.admin_port(), pending_metric), pending + 3);
    }
    {
        proxy_process p(yaml(node, ", dictionaries: false"));
        ASSERT_TRUE(p.ok());
        const auto r = http_get(p.port(), "/bbb-01" + v1_path);
        ASSERT_TRUE(r);
        EXPECT_EQ(field(*r, "Use-As-Dictionary"), "");
        EXPECT_EQ(field(*r, "Vary").find("Available-Dictionary"), std::string::npos);
    }
}

}  // namespace
}  // namespace bcp::test
