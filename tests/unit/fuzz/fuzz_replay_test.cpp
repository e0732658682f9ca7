// Replays every seed (fuzz/corpus/<target>/*) and every crash the fuzzers found
// (fuzz/regressions/<target>/*) through the same entry functions the libFuzzer targets call, so
// `make test` keeps each fixed finding fixed without clang or libFuzzer.
#include "entries/entries.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

namespace fs = std::filesystem;

struct violation : std::runtime_error {
    using std::runtime_error::runtime_error;
};

void throw_violation(const std::string& what) {
    throw violation(what);
}

std::vector<fs::path> inputs(const std::string& kind, std::string_view target) {
    std::vector<fs::path> out;
    const fs::path dir = fs::path(BCP_SOURCE_DIR) / "fuzz" / kind / std::string(target);
    if (!fs::is_directory(dir)) {
        return out;
    }
    for (const auto& e : fs::directory_iterator(dir)) {
        if (e.is_regular_file() && e.path().filename().string().front() != '.') {
            out.push_back(e.path());
        }
    }
    std::sort(out.begin(), out.end());
    return out;
}

std::string read(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

class FuzzReplay : public ::testing::TestWithParam<bcp::fuzz::target> {
  protected:
    void SetUp() override { bcp::fuzz::set_failure_handler(throw_violation); }
    void TearDown() override { bcp::fuzz::set_failure_handler(nullptr); }

    void replay(const std::string& kind) {
        for (const auto& file : inputs(kind, GetParam().name)) {
            const std::string bytes = read(file);
            try {
                GetParam().run(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size());
            } catch (const violation& v) {
                ADD_FAILURE() << file.string() << ": " << v.what();
            }
        }
    }
};

TEST_P(FuzzReplay, SeedCorpusHoldsTheInvariants) {
    ASSERT_FALSE(inputs("corpus", GetParam().name).empty())
        << "every fuzz target has seeds in fuzz/corpus/" << GetParam().name;
    replay("corpus");
}

TEST_P(FuzzReplay, FixedFindingsStayFixed) {
    replay("regressions");
}

INSTANTIATE_TEST_SUITE_P(Targets, FuzzReplay,
                         ::testing::ValuesIn(bcp::fuzz::targets().begin(),
                                             bcp::fuzz::targets().end()),
                         [](const auto& info) { return std::string(info.param.name); });

// The checker itself must be able to fail: a broken invariant is reported, not swallowed.
TEST(FuzzEntries, ExpectReportsAViolation) {
    bcp::fuzz::set_failure_handler(throw_violation);
    EXPECT_THROW(bcp::fuzz::expect(false, "deliberately broken"), violation);
    EXPECT_NO_THROW(bcp::fuzz::expect(true, "holds"));
    bcp::fuzz::set_failure_handler(nullptr);
}

TEST(FuzzEntries, SplitInputCutsAtTheFirstNuls) {
    const std::string in("key\0value\0text\0with nul", 23);
    const auto parts =
        bcp::fuzz::split_input(reinterpret_cast<const std::uint8_t*>(in.data()), in.size(), 3);
    ASSERT_EQ(parts.size(), 3u);
    EXPECT_EQ(parts[0], "key");
    EXPECT_EQ(parts[1], "value");
    EXPECT_EQ(parts[2], std::string_view("text\0with nul", 13));
    const auto short_parts =
        bcp::fuzz::split_input(reinterpret_cast<const std::uint8_t*>("only"), 4, 3);
    EXPECT_EQ(short_parts, (std::vector<std::string_view>{"only", "", ""}));
}

}  // namespace
