#include "observe/access_log.hpp"

#include <fmt/format.h>

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>

namespace bcp::observe {
namespace {

// ISO 8601 in UTC with milliseconds: 2026-11-27T17:55:31.123Z
void append_time(std::chrono::system_clock::time_point t, std::string& out) {
    const auto ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
    const std::time_t secs = static_cast<std::time_t>(ms / 1000);
    std::tm tm{};
    gmtime_r(&secs, &tm);
    fmt::format_to(std::back_inserter(out), "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
                   tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                   static_cast<int>(ms % 1000));
}

void append_seconds(std::chrono::microseconds d, std::string& out) {
    fmt::format_to(std::back_inserter(out), "{:.3f}", static_cast<double>(d.count()) / 1e6);
}

// Plain lines are split on spaces and quotes by log tools: anything that is not printable
// ASCII, and the quote and backslash, becomes \xHH (what nginx does).
void append_plain_text(std::string_view s, std::string& out) {
    if (s.empty()) {
        out += '-';
        return;
    }
    for (const char ch : s) {
        const auto c = static_cast<unsigned char>(ch);
        if (c < 0x21 || c > 0x7e || c == '"' || c == '\\') {
            fmt::format_to(std::back_inserter(out), "\\x{:02X}", c);
        } else {
            out += ch;
        }
    }
}

void append_json_string(std::string_view s, std::string& out) {
    out += '"';
    for (const char ch : s) {
        const auto c = static_cast<unsigned char>(ch);
        if (c == '"') {
            out += "\\\"";
        } else if (c == '\\') {
            out += "\\\\";
        } else if (c < 0x20 || c >= 0x7f) {
            // Bytes >= 0x80 are escaped one by one so the line stays valid UTF-8 whatever a
            // client sent (the gate refuses such targets, but the line is written anyway).
            fmt::format_to(std::back_inserter(out), "\\u{:04x}", c);
        } else {
            out += ch;
        }
    }
    out += '"';
}

std::string_view protocol(unsigned version) {
    return version == 10 ? "HTTP/1.0" : version == 20 ? "HTTP/2.0" : "HTTP/1.1";
}

}  // namespace

void format_plain(const request_record& r, std::string& out) {
    append_time(r.time, out);
    out += ' ';
    append_plain_text(r.client, out);
    out += ' ';
    append_plain_text(r.node, out);
    out += " \"";
    append_plain_text(r.method, out);
    out += ' ';
    append_plain_text(r.path, out);
    out += ' ';
    out += protocol(r.version);
    fmt::format_to(std::back_inserter(out), "\" {} {} ", r.status, r.bytes);
    append_seconds(r.duration, out);
    out += ' ';
    if (r.upstream) {
        append_seconds(*r.upstream, out);
    } else {
        out += '-';
    }
    out += ' ';
    append_plain_text(r.cache, out);
    out += ' ';
    append_plain_text(r.encoding, out);
    if (r.tunnel) {
        out += " tunnel=";
        append_seconds(r.tunnel_duration, out);
        fmt::format_to(std::back_inserter(out), " to_client={} to_node={}",
                       r.tunnel_bytes_to_client, r.tunnel_bytes_to_node);
    }
    out += '\n';
}

void format_json(const request_record& r, std::string& out) {
    out += "{\"time\":\"";
    append_time(r.time, out);
    out += "\",\"client\":";
    append_json_string(r.client, out);
    out += ",\"node\":";
    if (r.node.empty()) {
        out += "null";
    } else {
        append_json_string(r.node, out);
    }
    out += ",\"method\":";
    append_json_string(r.method, out);
    out += ",\"path\":";
    append_json_string(r.path, out);
    fmt::format_to(std::back_inserter(out),
                   ",\"protocol\":\"{}\",\"status\":{},\"bytes\":{},\"duration\":",
                   protocol(r.version), r.status, r.bytes);
    append_seconds(r.duration, out);
    out += ",\"upstream_time\":";
    if (r.upstream) {
        append_seconds(*r.upstream, out);
    } else {
        out += "null";
    }
    out += ",\"cache\":";
    append_json_string(r.cache, out);
    out += ",\"encoding\":";
    append_json_string(r.encoding, out);
    if (r.tunnel) {
        out += ",\"tunnel\":{\"duration\":";
        append_seconds(r.tunnel_duration, out);
        fmt::format_to(std::back_inserter(out), ",\"bytes_to_client\":{},\"bytes_to_node\":{}}}",
                       r.tunnel_bytes_to_client, r.tunnel_bytes_to_node);
    }
    out += "}\n";
}

access_log::access_log(access_log_options o) : options_(std::move(o)) {}

std::unique_ptr<access_log> access_log::open(const access_log_options& o, std::string& error) {
    std::unique_ptr<access_log> log(new access_log(o));
    if (!log->open_file(error)) {
        return nullptr;
    }
    log->thread_ = std::thread([p = log.get()] { p->run(); });
    return log;
}

bool access_log::open_file(std::string& error) {
    if (options_.path == "stderr") {
        fd_ = STDERR_FILENO;
        owns_fd_ = false;
        return true;
    }
    const int fd = ::open(options_.path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
    if (fd < 0) {
        error = "access_log.path: cannot open " + options_.path + ": " + std::strerror(errno);
        return false;
    }
    if (owns_fd_ && fd_ >= 0) {
        ::close(fd_);
    }
    fd_ = fd;
    owns_fd_ = true;
    return true;
}

access_log::~access_log() {
    {
        std::lock_guard lock(mutex_);
        stop_ = true;
    }
    wake_.notify_one();
    if (thread_.joinable()) {
        thread_.join();
    }
    if (owns_fd_ && fd_ >= 0) {
        ::close(fd_);
    }
}

void access_log::submit(std::string&& lines, std::uint64_t line_count) {
    {
        std::lock_guard lock(mutex_);
        if (pending_bytes_ + lines.size() > options_.max_pending) {
            dropped_.fetch_add(line_count, std::memory_order_relaxed);
            return;
        }
        pending_bytes_ += lines.size();
        pending_.emplace_back(std::move(lines), line_count);
    }
    wake_.notify_one();
}

void access_log::reopen() {
    {
        std::lock_guard lock(mutex_);
        reopen_.store(true, std::memory_order_relaxed);
    }
    wake_.notify_one();
}

void access_log::flush() {
    std::unique_lock lock(mutex_);
    idle_.wait(lock, [&] { return (pending_.empty() && !writing_) || stop_; });
}

void access_log::run() {
    std::unique_lock lock(mutex_);
    while (true) {
        wake_.wait(lock, [&] {
            return stop_ || !pending_.empty() || reopen_.load(std::memory_order_relaxed);
        });
        if (reopen_.exchange(false)) {
            lock.unlock();
            std::string error;
            if (options_.path != "stderr" && !open_file(error)) {
                // Keep writing to the old file: losing lines is worse than a misplaced file.
                errors_.fetch_add(1, std::memory_order_relaxed);
                const std::string msg = "bbb-cluster-proxy: " + error + "\n";
                [[maybe_unused]] auto ignored = ::write(STDERR_FILENO, msg.data(), msg.size());
            }
            lock.lock();
        }
        if (pending_.empty()) {
            idle_.notify_all();
            if (stop_) {
                return;
            }
            continue;
        }
        auto [chunk, count] = std::move(pending_.front());
        pending_.pop_front();
        pending_bytes_ -= chunk.size();
        writing_ = true;
        lock.unlock();
        std::size_t done = 0;
        bool failed = false;
        while (done < chunk.size()) {
            const ssize_t n = ::write(fd_, chunk.data() + done, chunk.size() - done);
            if (n < 0 && errno == EINTR) {
                continue;
            }
            if (n <= 0) {
                failed = true;
                break;
            }
            done += static_cast<std::size_t>(n);
        }
        if (failed) {
            errors_.fetch_add(1, std::memory_order_relaxed);
            dropped_.fetch_add(count, std::memory_order_relaxed);
        } else {
            written_.fetch_add(count, std::memory_order_relaxed);
        }
        lock.lock();
        writing_ = false;
        if (pending_.empty()) {
            idle_.notify_all();
        }
    }
}

void access_log_buffer::append(const request_record& r) {
    if (log_ == nullptr) {
        return;
    }
    if (log_->format() == log_format::json) {
        format_json(r, buffer_);
    } else {
        format_plain(r, buffer_);
    }
    ++lines_;
    if (buffer_.size() >= flush_at) {
        flush();
    }
}

void access_log_buffer::flush() {
    if (log_ == nullptr || buffer_.empty()) {
        return;
    }
    std::string out;
    out.reserve(flush_at + 1024);
    out.swap(buffer_);
    log_->submit(std::move(out), lines_);
    lines_ = 0;
}

}  // namespace bcp::observe
