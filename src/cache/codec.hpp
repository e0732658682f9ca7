#pragma once
// Compressors and decoders for the cache's encoded variants (libbrotli, libzstd, zlib). Nothing
// here is shared between calls or objects: every function may run on any thread at once, which is
// what the compression worker pool relies on.

#include "cache/encoding.hpp"

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace bcp::cache {

/// One-shot compression of `in` at high quality, for variants made once and served many times:
/// br quality 11, lgwin 22 (text mode when `text`, else generic); zstd level 19 with the content
/// size in the frame header and a checksum; gzip as one gzip member from zlib deflate level 9.
/// identity gives a copy of `in`. nullopt when the library fails (out of memory).
std::optional<std::string> compress(coding c, std::string_view in, bool text = true);

/// One-shot decoding, for tests and diagnostics. nullopt when the result would exceed
/// `max_output` bytes or `in` is not exactly one complete, valid stream of that coding (one gzip
/// member, one zstd frame; trailing bytes are invalid).
std::optional<std::string> decompress(coding c, std::string_view in, std::size_t max_output);

/// One zstd frame decoded with `prefix` as a raw-content dictionary (none when empty) and windows
/// up to 2^window_log_max (0: libzstd's default limit), under decompress()'s rules (one complete
/// frame, nothing after it, at most `max_output` bytes). For dcz (cache/dictionary.hpp).
std::optional<std::string> decompress_zstd_with_prefix(std::string_view in, std::size_t max_output,
                                                       std::string_view prefix, int window_log_max);

/// Streaming gzip decoder (RFC 9110 §8.4.1.3) for a node's response body arriving in pieces.
/// Accepts exactly one gzip member: what nginx and every other HTTP server send; bytes after the
/// member's trailer, a second member included, are invalid. The CRC-32 and length in the trailer
/// are checked.
///
/// Bounded: the decoded size may not exceed `max_output` (too_large), and once more than
/// `ratio_floor` bytes are decoded, decoded / compressed-bytes-read may not exceed `max_ratio`
/// (bomb). output() never holds more than `max_output` + 1 bytes and its capacity never exceeds
/// `max_output` + 64 KiB, however the input is split.
class gzip_decoder {
  public:
    enum class status { more, done, invalid, too_large, bomb };

    explicit gzip_decoder(std::size_t max_output, std::size_t max_ratio = 100,
                          std::size_t ratio_floor = 64 * 1024);
    ~gzip_decoder();
    gzip_decoder(const gzip_decoder&) = delete;
    gzip_decoder& operator=(const gzip_decoder&) = delete;

    /// Feeds the next compressed bytes and appends their decoded bytes to output(). `more`: the
    /// member is not complete yet; `done`: it ended exactly here. After done, a feed of further
    /// bytes turns the status to invalid (trailing data) and an empty feed returns done; after
    /// invalid, too_large or bomb every feed returns that status again.
    [[nodiscard]] status feed(std::string_view in);

    /// End of the compressed input: done if the member ended exactly, invalid if it was
    /// truncated; a final status reached earlier is returned unchanged.
    [[nodiscard]] status finish();

    /// The decoded bytes. The caller may take or clear them between feeds (to pass pieces on);
    /// the max_output bound counts every byte decoded, taken or not.
    std::string& output() { return output_; }

    /// Compressed bytes passed to feed() so far.
    std::uint64_t consumed() const { return consumed_; }

  private:
    struct stream;
    std::unique_ptr<stream> stream_;  // z_stream, kept out of this header
    std::string output_;
    std::size_t max_output_;
    std::size_t max_ratio_;
    std::size_t ratio_floor_;
    std::uint64_t decoded_ = 0;
    std::uint64_t consumed_ = 0;
    status status_ = status::more;
};

}  // namespace bcp::cache
