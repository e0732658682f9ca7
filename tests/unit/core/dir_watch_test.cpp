#include "core/dir_watch.hpp"

#include <gtest/gtest.h>

#include <stdlib.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace bcp {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

bool yaml_only(std::string_view name) {
    return !name.starts_with('.') && name.ends_with(".yaml");
}

// A watcher on a fresh directory that records every callback.
class DirWatch : public ::testing::Test {
  protected:
    void SetUp() override {
        std::string pattern = (fs::temp_directory_path() / "bcp-dirwatch-XXXXXX").string();
        ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
        dir_ = pattern;
    }
    void TearDown() override {
        std::error_code ec;
        fs::remove_all(dir_, ec);
    }

    std::unique_ptr<dir_watcher> make(std::chrono::milliseconds quiet = 50ms,
                                      std::chrono::milliseconds max_delay = 2s) {
        auto w = std::make_unique<dir_watcher>(
            ioc_, dir_watcher::options{quiet, max_delay, yaml_only},
            [this](const std::string& what) { calls_.push_back(what); });
        std::string error;
        EXPECT_TRUE(w->watch(dir_.string(), error)) << error;
        return w;
    }
    void write(const std::string& name, const std::string& text = "url: x\n") {
        std::ofstream(dir_ / name) << text;
    }
    // Runs the watcher's io_context for `d` (events already queued by the kernel are read).
    void run_for(std::chrono::milliseconds d) {
        ioc_.restart();
        ioc_.run_for(d);
    }

    asio::io_context ioc_;
    fs::path dir_;
    std::vector<std::string> calls_;
};

TEST_F(DirWatch, AFileAddedChangedAndRemovedEachCallBackOnce) {
    auto w = make();
    write("bbb-01.yaml");
    run_for(300ms);
    ASSERT_EQ(calls_, std::vector<std::string>{"bbb-01.yaml added"});
    write("bbb-01.yaml", "url: y\n");
    run_for(300ms);
    ASSERT_EQ(calls_.size(), 2u);
    EXPECT_EQ(calls_[1], "bbb-01.yaml changed");
    fs::remove(dir_ / "bbb-01.yaml");
    run_for(300ms);
    ASSERT_EQ(calls_.size(), 3u);
    EXPECT_EQ(calls_[2], "bbb-01.yaml removed");
}

TEST_F(DirWatch, ABurstOfChangesCallsBackOnce) {
    auto w = make();
    for (int i = 0; i < 20; ++i) {
        write("bbb-" + std::to_string(i) + ".yaml");
    }
    run_for(400ms);
    EXPECT_EQ(calls_, std::vector<std::string>{"bbb-0.yaml added"});
}

TEST_F(DirWatch, IrrelevantNamesAndSubdirectoriesAreIgnored) {
    auto w = make();
    write(".bbb-01.yaml.tmp");
    write(".hidden.yaml");
    write("notes.txt");
    fs::create_directory(dir_ / "sub.yaml");
    run_for(300ms);
    EXPECT_TRUE(calls_.empty()) << calls_.front();
    // A tool's atomic write: a hidden temporary renamed into place is one change.
    fs::rename(dir_ / ".hidden.yaml", dir_ / "bbb-02.yaml");
    run_for(300ms);
    EXPECT_EQ(calls_, std::vector<std::string>{"bbb-02.yaml added"});
}

TEST_F(DirWatch, ADirectoryThatNeverSettlesStillCallsBackAfterTheMaximumDelay) {
    auto w = make(100ms, 300ms);
    const auto start = std::chrono::steady_clock::now();
    // A change every 30 ms, for longer than max_delay: the quiet period never comes.
    while (calls_.empty() && std::chrono::steady_clock::now() - start < 3s) {
        write("busy.yaml",
              std::to_string(std::chrono::steady_clock::now().time_since_epoch().count()));
        run_for(30ms);
    }
    ASSERT_EQ(calls_.size(), 1u);
}

TEST_F(DirWatch, RemovingTheDirectoryIsAChangeAndWatchingItAgainWorks) {
    auto w = make();
    fs::remove_all(dir_);
    run_for(300ms);
    ASSERT_EQ(calls_.size(), 1u);
    EXPECT_NE(calls_[0].find("was removed"), std::string::npos) << calls_[0];
    fs::create_directory(dir_);
    std::string error;
    ASSERT_TRUE(w->watch(dir_.string(), error)) << error;
    write("bbb-03.yaml");
    run_for(300ms);
    ASSERT_EQ(calls_.size(), 2u);
    EXPECT_EQ(calls_[1], "bbb-03.yaml added");
}

TEST_F(DirWatch, AMissingDirectoryIsAnErrorNamingIt) {
    dir_watcher w(ioc_, {}, [](const std::string&) {});
    std::string error;
    EXPECT_FALSE(w.watch((dir_ / "missing").string(), error));
    EXPECT_NE(error.find((dir_ / "missing").string()), std::string::npos) << error;
    EXPECT_TRUE(w.directory().empty());
    // A file is not a directory either.
    write("file.yaml");
    EXPECT_FALSE(w.watch((dir_ / "file.yaml").string(), error));
}

TEST_F(DirWatch, SwitchingDirectoriesStopsWatchingTheOldOne) {
    auto w = make();
    const fs::path other = dir_ / "other";
    fs::create_directory(other);
    run_for(100ms);  // the subdirectory's own event is ignored
    std::string error;
    ASSERT_TRUE(w->watch(other.string(), error)) << error;
    EXPECT_EQ(w->directory(), other.string());
    write("old.yaml");
    run_for(300ms);
    EXPECT_TRUE(calls_.empty());
    std::ofstream(other / "new.yaml") << "url: z\n";
    run_for(300ms);
    EXPECT_EQ(calls_, std::vector<std::string>{"new.yaml added"});
}

}  // namespace
}  // namespace bcp
