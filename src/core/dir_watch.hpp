#pragma once
// Watches one directory with inotify and calls back once the files in it have settled: the
// trigger of nodes_dir reloads (docs/architecture.md "Reload"). Runs on the io_context it is given
// (serve uses the signal thread, so a change and a SIGHUP never reload at the same time).
//
// Debounced: the callback runs after `quiet` without a further event, or at the latest
// `max_delay` after the first one, so a tool that writes ten files reloads once, and a directory
// that never stops changing still reloads.

#include "core/asio.hpp"

#include <boost/asio/posix/stream_descriptor.hpp>

#include <array>
#include <chrono>
#include <functional>
#include <string>
#include <string_view>

namespace bcp {

class dir_watcher {
  public:
    struct options {
        std::chrono::milliseconds quiet{250};
        std::chrono::milliseconds max_delay{2'000};
        /// Which entry names count (others are ignored: editors' swap files, tools' temporaries).
        std::function<bool(std::string_view name)> relevant;
    };
    /// `changed` gets a short description of the first change ("bbb-03.yaml added", "the
    /// directory was removed").
    using callback = std::function<void(const std::string& what)>;

    dir_watcher(asio::io_context& ioc, options o, callback changed);
    ~dir_watcher();
    dir_watcher(const dir_watcher&) = delete;
    dir_watcher& operator=(const dir_watcher&) = delete;

    /// Watches `dir` instead of the current one (the same one again re-arms a watch the kernel
    /// dropped, e.g. after the directory was removed and created again). Empty = watch nothing.
    /// False with `error` naming the directory when inotify refuses it; then nothing is watched.
    bool watch(const std::string& dir, std::string& error);
    /// The directory watched, empty when none.
    const std::string& directory() const { return dir_; }

  private:
    void read_events();
    void handle(const char* data, std::size_t size);
    void note_change(std::string what);
    void unwatch();

    asio::posix::stream_descriptor fd_;
    asio::steady_timer timer_;
    options options_;
    callback changed_;
    std::string dir_;
    int wd_ = -1;
    bool pending_ = false;
    std::chrono::steady_clock::time_point first_event_;
    std::string first_what_;
    alignas(8) std::array<char, 8192> buffer_{};
};

}  // namespace bcp
