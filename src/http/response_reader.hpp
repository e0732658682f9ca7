#pragma once
// Reads the HTTP/1.1 response a stream session writes for an HTTP/2 stream (proxy/h2_frontend),
// incrementally, into a head (status and field views) and body pieces. Its input is the proxy's
// own output (http::build_response_head, local replies, the cache step), never a node's raw
// bytes, but it is strict all the same: anything that is not a well-formed response is an error
// and the stream is reset. It replaces a general parser on this path because it allocates
// nothing for a head that arrives in one write, and passes body bytes through as views
// (docs/architecture.md "HTTP/2").

#include <boost/container/small_vector.hpp>

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace bcp::http {

/// A field of a response head: views into the reader's input or buffer.
struct field_view {
    std::string_view name;
    std::string_view value;
};

class response_reader {
  public:
    /// What the reader finds. Views are valid during the call only.
    class events {
      public:
        /// A head: 1xx (`informational`, a final head follows) or the final one; `end` when the
        /// response has no body.
        virtual void head(unsigned status, std::span<const field_view> fields, bool informational,
                          bool end) = 0;
        /// Body bytes (possibly none); `end` with the last.
        virtual void data(std::string_view bytes, bool end) = 0;

      protected:
        ~events() = default;
    };

    /// `head_method`: the request was HEAD (no body follows any head). `max_head`: bytes of one
    /// head (status line, fields, empty line) at most.
    explicit response_reader(bool head_method, std::size_t max_head = 1u << 20)
        : head_method_(head_method), max_head_(max_head) {}

    /// Consumes `bytes`. False when they are not (the continuation of) a response; the reader
    /// is then finished. Bytes after the end of the response are ignored.
    bool feed(std::string_view bytes, events& out);

    /// The response ended (its last body byte, or a head without body, was handed out).
    bool done() const { return state_ == state::done; }

  private:
    enum class state {
        head,
        length,
        chunk_size,
        chunk_data,
        chunk_data_end,
        trailers,
        done,
        error
    };

    bool take_head(std::string_view& in, events& out);
    bool on_head(std::string_view head, events& out);
    bool take_line(std::string_view& in, std::string_view& line, bool& complete);
    bool on_line(std::string_view line, events& out);
    bool fail() {
        state_ = state::error;
        return false;
    }

    bool head_method_;
    std::size_t max_head_;
    state state_ = state::head;
    bool until_close_ = false;  ///< body delimited by the end of the stream (never `done`)
    std::uint64_t left_ = 0;    ///< body or chunk bytes still to come
    std::string buffer_;        ///< a head or a chunk line split over feeds
    boost::container::small_vector<field_view, 24> fields_;  ///< a usual head: no allocation
};

}  // namespace bcp::http
