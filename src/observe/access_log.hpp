#pragma once
// The access log (docs/config-reference.md `access_log`): one line per request, and one per
// WebSocket tunnel when it closes, as plain text or JSON lines, to stderr or a file.
//
// Workers never write to the file themselves: each formats lines into its own buffer
// (`access_log_buffer`, owner thread only) and hands full buffers (or, once a second, whatever
// it has) to the shared `access_log`, whose writer thread does the write(2) calls. A slow disk or
// a stalled journald therefore never blocks an event loop; if the writer falls more than
// `max_pending` bytes behind, new lines are dropped and counted. `reopen()` (SIGUSR1, logrotate)
// makes the writer reopen the file before its next write.

#include "observe/request_record.hpp"

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

namespace bcp::observe {

enum class log_format { plain, json };

struct access_log_options {
    log_format format = log_format::plain;
    std::string path = "stderr";  ///< "stderr" or a file (appended to, created 0640)
    std::size_t max_pending = 8 * 1024 * 1024;
};

/// One line (with '\n') for `r`, appended to `out`.
void format_plain(const request_record& r, std::string& out);
void format_json(const request_record& r, std::string& out);

class access_log {
  public:
    /// Opens the file and starts the writer thread; nullptr and `error` (naming the path) when
    /// the file cannot be opened.
    static std::unique_ptr<access_log> open(const access_log_options& o, std::string& error);
    ~access_log();  ///< writes everything submitted, then stops the thread
    access_log(const access_log&) = delete;
    access_log& operator=(const access_log&) = delete;

    log_format format() const { return options_.format; }
    /// Queues complete lines for writing; any thread.
    void submit(std::string&& lines, std::uint64_t line_count);
    /// Reopen the file before the next write (no-op for stderr); any thread, signal-safe callers
    /// signal handlers go through an asio signal_set.
    void reopen();
    /// Blocks until everything submitted so far is written (tests, shutdown).
    void flush();

    std::uint64_t lines_written() const { return written_.load(std::memory_order_relaxed); }
    std::uint64_t lines_dropped() const { return dropped_.load(std::memory_order_relaxed); }
    std::uint64_t write_errors() const { return errors_.load(std::memory_order_relaxed); }

  private:
    explicit access_log(access_log_options o);
    bool open_file(std::string& error);
    void run();

    access_log_options options_;
    int fd_ = -1;
    bool owns_fd_ = false;
    std::mutex mutex_;
    std::condition_variable wake_;
    std::condition_variable idle_;
    std::deque<std::pair<std::string, std::uint64_t>> pending_;
    std::size_t pending_bytes_ = 0;
    bool writing_ = false;
    bool stop_ = false;
    std::atomic<bool> reopen_{false};
    std::atomic<std::uint64_t> written_{0};
    std::atomic<std::uint64_t> dropped_{0};
    std::atomic<std::uint64_t> errors_{0};
    std::thread thread_;
};

/// A worker's line buffer; owner thread only.
class access_log_buffer {
  public:
    explicit access_log_buffer(access_log* log) : log_(log) {}
    bool enabled() const { return log_ != nullptr; }
    void append(const request_record& r);
    /// Hands buffered lines to the writer (the worker calls this about once a second).
    void flush();

  private:
    static constexpr std::size_t flush_at = 32 * 1024;
    access_log* log_;
    std::string buffer_;
    std::uint64_t lines_ = 0;
};

}  // namespace bcp::observe
