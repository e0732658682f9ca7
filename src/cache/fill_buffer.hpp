#pragma once
// The bytes of a cache fill while they arrive: one writer (the leader's fill loop) appends, any
// number of readers (waiters on any worker) read what has been published to them. The length
// need not be known in advance (chunked and close-delimited responses are stored too), so the
// bytes live in fixed-size segments that are never moved: a reader never sees a reallocation.
//
// The segment table is sized for `capacity` bytes when the buffer is made, so appending never
// touches memory a reader may be reading. Readers learn how far they may read from the flight
// (cache/flight.hpp), whose mutex orders the writes before the published count.

#include <algorithm>
#include <cstddef>
#include <memory>
#include <span>
#include <string_view>

namespace bcp::cache {

class fill_buffer {
  public:
    static constexpr std::size_t segment_size = 64 * 1024;

    /// A buffer that can hold up to `capacity` bytes (allocated segment by segment as written).
    explicit fill_buffer(std::size_t capacity)
        : capacity_(capacity),
          segments_(std::make_unique<std::unique_ptr<char[]>[]>(
              (capacity + segment_size - 1) / segment_size + 1)) {}

    std::size_t capacity() const { return capacity_; }
    /// Bytes written so far (writer side; readers use the count the flight published).
    std::size_t size() const { return size_; }

    /// Writer: where the next bytes go (at most to the end of the current segment and to
    /// capacity). An empty span means the buffer is full.
    std::span<char> next_space() {
        if (size_ >= capacity_) {
            return {};
        }
        const std::size_t index = size_ / segment_size;
        const std::size_t offset = size_ % segment_size;
        if (!segments_[index]) {
            // The last segment of a small or sized body is only as large as it needs to be.
            segments_[index] = std::make_unique_for_overwrite<char[]>(
                std::min(segment_size, capacity_ - index * segment_size));
        }
        const std::size_t n = std::min(segment_size - offset, capacity_ - size_);
        return {segments_[index].get() + offset, n};
    }
    /// Writer: `n` bytes of the last next_space() were written.
    void commit(std::size_t n) { size_ += n; }

    /// Reader: calls f(std::string_view) for the pieces of [from, upto), in order. `upto` must
    /// not exceed a count published after the bytes were written.
    template <class F>
    void for_each(std::size_t from, std::size_t upto, F&& f) const {
        while (from < upto) {
            const std::size_t index = from / segment_size;
            const std::size_t offset = from % segment_size;
            const std::size_t n = std::min(segment_size - offset, upto - from);
            f(std::string_view(segments_[index].get() + offset, n));
            from += n;
        }
    }

    /// Copies [0, n) into `out` (which has room for n bytes).
    void copy_to(char* out, std::size_t n) const {
        for_each(0, n, [&](std::string_view piece) {
            std::copy(piece.begin(), piece.end(), out);
            out += piece.size();
        });
    }

  private:
    std::size_t capacity_;
    std::size_t size_ = 0;
    std::unique_ptr<std::unique_ptr<char[]>[]> segments_;
};

}  // namespace bcp::cache
