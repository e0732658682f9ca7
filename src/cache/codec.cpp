#include "cache/codec.hpp"

// Const-correct next_in, so input views need no const_cast.
#define ZLIB_CONST
#include <brotli/decode.h>
#include <brotli/encode.h>
#include <zlib.h>
#include <zstd.h>

#include <algorithm>
#include <limits>

namespace bcp::cache {
namespace {

// Output grows by at most this much per decoding step: the slack the memory bounds allow for.
constexpr std::size_t step = 64 * 1024;

// zlib counts in uInt; a view may be longer.
constexpr std::size_t zlib_max = std::numeric_limits<uInt>::max();

const std::uint8_t* bytes(std::string_view s) {
    return reinterpret_cast<const std::uint8_t*>(s.data());
}

std::uint8_t* bytes(std::string& s, std::size_t at) {
    return reinterpret_cast<std::uint8_t*>(s.data() + at);
}

// zlib counts in uInt: once the stream has taken what it was given, the next piece of `in` from
// `fed` on, at most zlib_max bytes.
void refill(z_stream& z, std::string_view in, std::size_t& fed) {
    if (z.avail_in == 0 && fed < in.size()) {
        const std::size_t n = std::min(in.size() - fed, zlib_max);
        z.next_in = bytes(in) + fed;
        z.avail_in = static_cast<uInt>(n);
        fed += n;
    }
}

// The next decoding step may write `room` bytes at the end of `out`: one byte more than the
// bound still allows, so a decoder that produces it is caught as over the bound without
// ever holding more than bound + 1 bytes.
std::size_t next_room(std::uint64_t decoded, std::size_t max_output) {
    const std::uint64_t remaining = max_output - decoded;
    return remaining >= step ? step : static_cast<std::size_t>(remaining) + 1;
}

// std::string's own growth doubles capacity (reserve() included, in libstdc++), which could
// overshoot the bound by almost the bound itself. Growing by hand into a fresh string, whose
// reserve() is taken literally, keeps capacity within max_output + one step.
void grow_for(std::string& out, std::size_t needed, std::size_t max_output) {
    if (out.capacity() >= needed) {
        return;
    }
    constexpr std::size_t size_max = std::numeric_limits<std::size_t>::max();
    const std::size_t limit = max_output <= size_max - step ? max_output + step : size_max;
    const std::size_t doubled = out.capacity() <= limit / 2 ? out.capacity() * 2 : limit;
    std::string bigger;
    bigger.reserve(std::clamp(doubled, needed, std::max(limit, needed)));
    bigger.append(out);
    out.swap(bigger);
}

std::optional<std::string> compress_gzip(std::string_view in) {
    z_stream z{};
    // 15 + 16: a 32 KiB window wrapped as a gzip member (RFC 1952), not a zlib stream.
    if (deflateInit2(&z, 9, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
        return std::nullopt;
    }
    struct end_guard {
        z_stream& z;
        ~end_guard() { deflateEnd(&z); }
    } guard{z};

    std::string out(deflateBound(&z, static_cast<uLong>(in.size())), '\0');
    std::size_t produced = 0;
    std::size_t fed = 0;
    for (;;) {
        refill(z, in, fed);
        if (produced == out.size()) {
            out.resize(std::max<std::size_t>(out.size() * 2, 64));  // past deflateBound: rare
        }
        const std::size_t room = std::min(out.size() - produced, zlib_max);
        z.next_out = bytes(out, produced);
        z.avail_out = static_cast<uInt>(room);
        const int rc = deflate(&z, fed == in.size() ? Z_FINISH : Z_NO_FLUSH);
        produced += room - z.avail_out;
        if (rc == Z_STREAM_END) {
            break;
        }
        if (rc != Z_OK && rc != Z_BUF_ERROR) {
            return std::nullopt;
        }
    }
    out.resize(produced);
    return out;
}

std::optional<std::string> compress_br(std::string_view in, bool text) {
    // The bound is what BrotliEncoderCompress needs to always succeed: it falls back to stored
    // meta-blocks rather than fail for want of space. 0 means the size overflowed.
    std::size_t size = BrotliEncoderMaxCompressedSize(in.size());
    if (size == 0) {
        return std::nullopt;
    }
    std::string out(size, '\0');
    if (BrotliEncoderCompress(BROTLI_MAX_QUALITY, 22, text ? BROTLI_MODE_TEXT : BROTLI_MODE_GENERIC,
                              in.size(), bytes(in), &size, bytes(out, 0)) != BROTLI_TRUE) {
        return std::nullopt;
    }
    out.resize(size);
    return out;
}

std::optional<std::string> compress_zstd(std::string_view in) {
    const std::unique_ptr<ZSTD_CCtx, decltype(&ZSTD_freeCCtx)> cctx(ZSTD_createCCtx(),
                                                                    &ZSTD_freeCCtx);
    if (!cctx || ZSTD_isError(ZSTD_CCtx_setParameter(cctx.get(), ZSTD_c_compressionLevel, 19)) ||
        ZSTD_isError(ZSTD_CCtx_setParameter(cctx.get(), ZSTD_c_contentSizeFlag, 1)) ||
        ZSTD_isError(ZSTD_CCtx_setParameter(cctx.get(), ZSTD_c_checksumFlag, 1))) {
        return std::nullopt;
    }
    const std::size_t bound = ZSTD_compressBound(in.size());
    if (ZSTD_isError(bound)) {
        return std::nullopt;
    }
    std::string out(bound, '\0');
    const std::size_t n = ZSTD_compress2(cctx.get(), out.data(), out.size(), in.data(), in.size());
    if (ZSTD_isError(n)) {
        return std::nullopt;
    }
    out.resize(n);
    return out;
}

std::optional<std::string> decompress_br(std::string_view in, std::size_t max_output) {
    const std::unique_ptr<BrotliDecoderState, decltype(&BrotliDecoderDestroyInstance)> dec(
        BrotliDecoderCreateInstance(nullptr, nullptr, nullptr), &BrotliDecoderDestroyInstance);
    if (!dec) {
        return std::nullopt;
    }
    std::string out;
    const std::uint8_t* next_in = bytes(in);
    std::size_t avail_in = in.size();
    for (;;) {
        const std::size_t at = out.size();
        const std::size_t room = next_room(at, max_output);
        grow_for(out, at + room, max_output);
        out.resize(at + room);
        std::uint8_t* next_out = bytes(out, at);
        std::size_t avail_out = room;
        const auto rc = BrotliDecoderDecompressStream(dec.get(), &avail_in, &next_in, &avail_out,
                                                      &next_out, nullptr);
        out.resize(at + room - avail_out);
        if (out.size() > max_output) {
            return std::nullopt;
        }
        if (rc == BROTLI_DECODER_RESULT_SUCCESS) {
            // Bytes after the last meta-block are not part of the stream.
            return avail_in == 0 ? std::optional<std::string>(std::move(out)) : std::nullopt;
        }
        // All the input was given, so "needs more input" means truncated.
        if (rc != BROTLI_DECODER_RESULT_NEEDS_MORE_OUTPUT) {
            return std::nullopt;
        }
    }
}

}  // namespace

std::optional<std::string> decompress_zstd_with_prefix(std::string_view in, std::size_t max_output,
                                                       std::string_view prefix,
                                                       int window_log_max) {
    const std::unique_ptr<ZSTD_DCtx, decltype(&ZSTD_freeDCtx)> dctx(ZSTD_createDCtx(),
                                                                    &ZSTD_freeDCtx);
    if (!dctx ||
        (window_log_max != 0 &&
         ZSTD_isError(ZSTD_DCtx_setParameter(dctx.get(), ZSTD_d_windowLogMax, window_log_max))) ||
        (!prefix.empty() &&
         ZSTD_isError(ZSTD_DCtx_refPrefix(dctx.get(), prefix.data(), prefix.size())))) {
        return std::nullopt;
    }
    std::string out;
    ZSTD_inBuffer src{in.data(), in.size(), 0};
    for (;;) {
        const std::size_t at = out.size();
        const std::size_t room = next_room(at, max_output);
        grow_for(out, at + room, max_output);
        out.resize(at + room);
        ZSTD_outBuffer dst{out.data() + at, room, 0};
        // zstd reports an error itself after repeated calls without progress, so this loop
        // ends for any input.
        const std::size_t rc = ZSTD_decompressStream(dctx.get(), &dst, &src);
        out.resize(at + dst.pos);
        if (ZSTD_isError(rc) || out.size() > max_output) {
            return std::nullopt;
        }
        if (rc == 0) {
            // One frame only: a second frame or garbage after the first is invalid here.
            return src.pos == src.size ? std::optional<std::string>(std::move(out)) : std::nullopt;
        }
        if (src.pos == src.size && dst.pos < dst.size) {
            return std::nullopt;  // everything flushed and the frame is incomplete: truncated
        }
    }
}

namespace {

std::optional<std::string> decompress_zstd(std::string_view in, std::size_t max_output) {
    return decompress_zstd_with_prefix(in, max_output, {}, 0);
}

}  // namespace

std::optional<std::string> compress(coding c, std::string_view in, bool text) {
    switch (c) {
        case coding::identity:
            return std::string(in);
        case coding::gzip:
            return compress_gzip(in);
        case coding::br:
            return compress_br(in, text);
        case coding::zstd:
            return compress_zstd(in);
        case coding::dcz:
            break;  // needs a dictionary: cache/dictionary.hpp
    }
    return std::nullopt;
}

std::optional<std::string> decompress(coding c, std::string_view in, std::size_t max_output) {
    switch (c) {
        case coding::identity:
            if (in.size() > max_output) {
                return std::nullopt;
            }
            return std::string(in);
        case coding::gzip: {
            constexpr std::size_t no_limit = std::numeric_limits<std::size_t>::max();
            gzip_decoder dec(max_output, no_limit, no_limit);
            // done from feed() means the member ended exactly at the end of `in`.
            if (dec.feed(in) != gzip_decoder::status::done) {
                return std::nullopt;
            }
            return std::move(dec.output());
        }
        case coding::br:
            return decompress_br(in, max_output);
        case coding::zstd:
            return decompress_zstd(in, max_output);
        case coding::dcz:
            break;  // needs a dictionary: cache/dictionary.hpp
    }
    return std::nullopt;
}

struct gzip_decoder::stream {
    z_stream z{};
    bool initialized = false;
    ~stream() {
        if (initialized) {
            inflateEnd(&z);
        }
    }
};

gzip_decoder::gzip_decoder(std::size_t max_output, std::size_t max_ratio, std::size_t ratio_floor)
    : stream_(std::make_unique<stream>()),
      max_output_(max_output),
      max_ratio_(max_ratio),
      ratio_floor_(ratio_floor) {
    // 15 + 16: gzip only. A zlib-wrapped or raw deflate body labelled gzip is invalid, not
    // guessed at. Failure here is out of memory; the body then counts as undecodable.
    stream_->initialized = inflateInit2(&stream_->z, 15 + 16) == Z_OK;
    if (!stream_->initialized) {
        status_ = status::invalid;
    }
}

gzip_decoder::~gzip_decoder() = default;

gzip_decoder::status gzip_decoder::feed(std::string_view in) {
    consumed_ += in.size();
    if (status_ == status::done && !in.empty()) {
        status_ = status::invalid;  // bytes after the member's trailer
    }
    if (status_ != status::more) {
        return status_;
    }
    z_stream& z = stream_->z;
    std::size_t fed = 0;
    for (;;) {
        refill(z, in, fed);
        const std::size_t at = output_.size();
        const std::size_t room = next_room(decoded_, max_output_);
        grow_for(output_, at + room, max_output_);
        output_.resize(at + room);
        z.next_out = bytes(output_, at);
        z.avail_out = static_cast<uInt>(room);
        const int rc = inflate(&z, Z_NO_FLUSH);
        const std::size_t written = room - z.avail_out;
        output_.resize(at + written);
        decoded_ += written;

        if (decoded_ > max_output_) {
            return status_ = status::too_large;
        }
        // Measured against the compressed bytes inflate has actually read, not those handed
        // over, so a bomb is caught at the same point however the body is split into pieces.
        const std::uint64_t read = std::max<std::uint64_t>(z.total_in, 1);
        if (decoded_ > ratio_floor_ && decoded_ / read > max_ratio_) {
            return status_ = status::bomb;
        }
        const bool input_left = z.avail_in > 0 || fed < in.size();
        if (rc == Z_STREAM_END) {
            // A second gzip member is refused along with any other trailing bytes: servers
            // send one, and one is what the size and ratio bounds were reasoned about.
            return status_ = input_left ? status::invalid : status::done;
        }
        if (rc == Z_BUF_ERROR && !input_left) {
            return status::more;  // no progress possible without more input
        }
        if (rc != Z_OK) {
            return status_ = status::invalid;
        }
        if (!input_left && z.avail_out > 0) {
            return status::more;  // inflate stopped with room to spare: it has used everything
        }
    }
}

gzip_decoder::status gzip_decoder::finish() {
    if (status_ == status::more) {
        status_ = status::invalid;  // truncated: the member's trailer never arrived
    }
    return status_;
}

}  // namespace bcp::cache
