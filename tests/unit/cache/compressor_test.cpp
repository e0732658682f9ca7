// Variants off the event loops: attached once per stored body, charged to the store, bounded.
#include "cache/compressor.hpp"
#include "cache/codec.hpp"
#include "entries.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <thread>

namespace bcp::cache {
namespace {

using namespace std::chrono_literals;

std::shared_ptr<entry> make(const std::string& key, const std::string& bytes) {
    return test::make(key, "bbb-01", bytes);
}

// Minified-looking JavaScript: compressible like the real client.
std::string script(std::size_t size) {
    std::string out;
    for (unsigned i = 0; out.size() < size; ++i) {
        out += "function f" + std::to_string(i % 97) + "(a,b){return a.map(function(x){return x*" +
               std::to_string(i % 13) + "+b})};var v" + std::to_string(i) + "=f" +
               std::to_string(i % 97) + "([1,2,3]," + std::to_string(i) + ");";
    }
    out.resize(size);
    return out;
}

std::string noise(std::size_t size) {
    std::mt19937 rng(7);
    std::string out(size, '\0');
    for (auto& c : out) {
        c = static_cast<char>(rng());
    }
    return out;
}

constexpr unsigned all = bit(coding::br) | bit(coding::zstd) | bit(coding::gzip);

// Polls (never a fixed sleep) until `done` or the deadline.
template <class F>
bool eventually(F done, std::chrono::milliseconds limit = 30s) {
    const auto end = std::chrono::steady_clock::now() + limit;
    while (!done()) {
        if (std::chrono::steady_clock::now() > end) {
            return false;
        }
        std::this_thread::sleep_for(5ms);
    }
    return true;
}

TEST(Compressor, AttachesEveryVariantOnceAndChargesTheStore) {
    store s({});
    const std::string text = script(200'000);
    auto published = s.insert(make("bbb-01 /app.js", text));
    const auto before = s.stats().memory;
    compressor z(s, {});
    ASSERT_TRUE(z.request(published->content, all, true));
    EXPECT_FALSE(z.request(published->content, all, true));  // once per body
    ASSERT_TRUE(eventually([&] { return published->content->available() == 0b1111u; }))
        << published->content->available();
    for (const coding c : {coding::br, coding::zstd, coding::gzip}) {
        const auto* v = published->content->variant(c);
        ASSERT_NE(v, nullptr) << to_token(c);
        EXPECT_LT(v->size(), text.size() / 3) << to_token(c);
        EXPECT_EQ(decompress(c, *v, text.size()), text) << to_token(c);
    }
    const auto st = s.stats();
    EXPECT_EQ(st.variant_bytes, published->content->variant_bytes());
    EXPECT_EQ(st.memory, before + st.variant_bytes);
    const auto zs = z.stats();
    for (const coding c : {coding::br, coding::zstd, coding::gzip}) {
        EXPECT_EQ(zs.runs[static_cast<std::size_t>(c)], 1u);
        EXPECT_EQ(zs.bytes_in[static_cast<std::size_t>(c)], text.size());
        EXPECT_GT(zs.cpu_ns[static_cast<std::size_t>(c)], 0u);
    }

    // Dropping the entry frees the body and its variants.
    s.purge();
    EXPECT_EQ(s.stats().memory, 0u);
    EXPECT_EQ(s.stats().variant_bytes, 0u);
}

// The threads are background work: named, and at a lower priority than the event loops.
TEST(Compressor, ThreadsAreNamedAndNiced) {
    store s({});
    compressor_options o;
    o.workers = 2;
    compressor z(s, o);
    const auto niced = [] {
        int found = 0;
        for (const auto& task : std::filesystem::directory_iterator("/proc/self/task")) {
            std::ifstream comm(task.path() / "comm");
            std::string name;
            std::getline(comm, name);
            if (name != "bcp-compress") {
                continue;
            }
            // /proc/<pid>/task/<tid>/stat: field 19 is the nice value (after "(comm)").
            std::ifstream stat(task.path() / "stat");
            std::string line;
            std::getline(stat, line);
            std::istringstream rest(line.substr(line.rfind(')') + 2));
            std::string field;
            for (int i = 3; i <= 19 && rest >> field; ++i) {
            }
            found += std::stoi(field) == background_nice ? 1 : 0;
        }
        return found;
    };
    EXPECT_TRUE(eventually([&] { return niced() == 2; })) << niced();
}

TEST(Compressor, KeepsNoVariantThatIsNotSmaller) {
    store s({});
    auto published = s.insert(make("bbb-01 /x.bin", noise(50'000)));
    compressor z(s, {});
    ASSERT_TRUE(z.request(published->content, all, false));
    ASSERT_TRUE(eventually([&] { return z.stats().no_gain == 3; })) << z.stats().no_gain;
    EXPECT_EQ(published->content->available(), bit(coding::identity));
    EXPECT_EQ(s.stats().variant_bytes, 0u);
}

TEST(Compressor, SmallBodiesAndAStoppedOrDisabledPoolQueueNothing) {
    store s({});
    auto small = s.insert(make("bbb-01 /a.js", "var a=1;"));
    compressor z(s, {});
    EXPECT_FALSE(z.request(small->content, all, true));
    compressor_options off;
    off.workers = 0;
    compressor none(s, off);
    auto big = s.insert(make("bbb-01 /b.js", script(10'000)));
    EXPECT_FALSE(none.request(big->content, all, true));
    z.stop();
    EXPECT_FALSE(z.request(big->content, all, true));
}

TEST(Compressor, AFullQueueSkipsInsteadOfGrowing) {
    store s({});
    compressor_options o;
    o.queue = 1;
    compressor z(s, o);
    // The worker is busy with the first body; at most one more may wait.
    std::vector<std::shared_ptr<const entry>> entries;
    for (int i = 0; i < 4; ++i) {
        entries.push_back(s.insert(
            make("bbb-01 /" + std::to_string(i) + ".js", script(400'000) + std::to_string(i))));
    }
    int queued = 0;
    for (const auto& e : entries) {
        queued += z.request(e->content, all, true) ? 1 : 0;
    }
    EXPECT_LE(queued, 3);
    EXPECT_GE(z.stats().skipped_full, 1u);
    EXPECT_LE(z.stats().queued, 1u);
}

TEST(Compressor, ABodyEvictedMeanwhileGetsNothingAttached) {
    store s({});
    auto published = s.insert(make("bbb-01 /app.js", script(50'000)));
    auto content = published->content;
    s.purge();  // no longer stored: a late variant must not be charged to the store
    EXPECT_FALSE(s.attach_variant(content, coding::gzip, "x"));
    compressor z(s, {});
    ASSERT_TRUE(z.request(content, bit(coding::gzip), true));
    ASSERT_TRUE(eventually([&] { return z.stats().runs[1] == 1; }));
    EXPECT_EQ(content->variant(coding::gzip), nullptr);
    EXPECT_EQ(s.stats().memory, 0u);
}

TEST(CacheStore, AVariantIsAttachedOnceAndNeverReplaced) {
    store s({});
    auto published = s.insert(make("bbb-01 /app.js", script(10'000)));
    EXPECT_TRUE(s.attach_variant(published->content, coding::gzip, "first"));
    const auto* first = published->content->variant(coding::gzip);
    EXPECT_FALSE(s.attach_variant(published->content, coding::gzip, "second"));
    EXPECT_EQ(published->content->variant(coding::gzip), first);
    EXPECT_EQ(*first, "first");
    EXPECT_FALSE(s.attach_variant(published->content, coding::identity, "x"));
    EXPECT_EQ(s.stats().variant_bytes, 5u);
}

}  // namespace
}  // namespace bcp::cache
