#include "core/dir_watch.hpp"

#include <sys/inotify.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <system_error>

namespace bcp {
namespace {

// Every way a file can appear, change or go; symlinks appear with IN_CREATE only.
constexpr std::uint32_t file_events =
    IN_CREATE | IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE | IN_ATTRIB;
// The directory itself went away (removed, renamed, or its file system unmounted).
constexpr std::uint32_t self_events = IN_DELETE_SELF | IN_MOVE_SELF | IN_UNMOUNT | IN_IGNORED;

int open_inotify() {
    const int fd = ::inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (fd < 0) {
        throw std::system_error(errno, std::generic_category(), "inotify_init1");
    }
    return fd;
}

std::string describe(std::uint32_t mask, std::string_view name) {
    const std::string n(name);
    if (mask & (IN_DELETE | IN_MOVED_FROM)) {
        return n + " removed";
    }
    if (mask & (IN_CREATE | IN_MOVED_TO)) {
        return n + " added";
    }
    return n + " changed";
}

}  // namespace

dir_watcher::dir_watcher(asio::io_context& ioc, options o, callback changed)
    : fd_(ioc, open_inotify()), timer_(ioc), options_(std::move(o)), changed_(std::move(changed)) {
    read_events();
}

dir_watcher::~dir_watcher() {
    error_code ignored;
    timer_.cancel();
    fd_.close(ignored);
}

bool dir_watcher::watch(const std::string& dir, std::string& error) {
    if (dir == dir_ && wd_ >= 0) {
        return true;  // re-adding would lose the events in between
    }
    unwatch();
    if (dir.empty()) {
        return true;
    }
    const int wd = ::inotify_add_watch(fd_.native_handle(), dir.c_str(),
                                       file_events | IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR);
    if (wd < 0) {
        error = "cannot watch " + dir + ": " + std::strerror(errno) +
                (errno == ENOSPC ? " (raise fs.inotify.max_user_watches)" : "");
        return false;
    }
    wd_ = wd;
    dir_ = dir;
    return true;
}

void dir_watcher::unwatch() {
    if (wd_ >= 0) {
        // Fails harmlessly (EINVAL) when the kernel already dropped it.
        ::inotify_rm_watch(fd_.native_handle(), wd_);
    }
    wd_ = -1;
    dir_.clear();
}

void dir_watcher::read_events() {
    fd_.async_wait(asio::posix::stream_descriptor::wait_read, [this](const error_code& ec) {
        if (ec) {
            return;  // closed
        }
        for (;;) {
            const ssize_t n = ::read(fd_.native_handle(), buffer_.data(), buffer_.size());
            if (n < 0 && errno == EINTR) {
                continue;
            }
            if (n <= 0) {
                break;  // EAGAIN: drained
            }
            handle(buffer_.data(), static_cast<std::size_t>(n));
        }
        read_events();
    });
}

void dir_watcher::handle(const char* data, std::size_t size) {
    std::size_t offset = 0;
    while (offset + sizeof(inotify_event) <= size) {
        inotify_event ev;
        std::memcpy(&ev, data + offset, sizeof ev);
        const char* name_start = data + offset + sizeof(inotify_event);
        const std::string_view name(name_start, ev.len ? ::strnlen(name_start, ev.len) : 0);
        offset += sizeof(inotify_event) + ev.len;
        if (ev.mask & IN_Q_OVERFLOW) {
            note_change("events were lost (inotify queue overflow)");
            continue;
        }
        if (ev.wd != wd_ || wd_ < 0) {
            continue;  // an earlier directory's events, still queued
        }
        if (ev.mask & self_events) {
            if (ev.mask & IN_IGNORED) {
                wd_ = -1;  // the kernel dropped the watch; keep dir_ so watch() can re-arm it
            }
            note_change("the directory " + dir_ + " was removed or moved");
            continue;
        }
        if ((ev.mask & file_events) && !(ev.mask & IN_ISDIR) &&
            (!options_.relevant || options_.relevant(name))) {
            note_change(describe(ev.mask, name));
        }
    }
}

void dir_watcher::note_change(std::string what) {
    const auto now = std::chrono::steady_clock::now();
    if (!pending_) {
        pending_ = true;
        first_event_ = now;
        first_what_ = std::move(what);
    }
    const auto due = std::min(now + options_.quiet, first_event_ + options_.max_delay);
    timer_.expires_at(due);
    timer_.async_wait([this](const error_code& ec) {
        if (ec || !pending_) {
            return;  // re-armed by a newer event, or stopped
        }
        pending_ = false;
        changed_(std::exchange(first_what_, {}));
    });
}

}  // namespace bcp
