#include "http/response_reader.hpp"

#include "core/text.hpp"
#include "http/request_head.hpp"

#include <algorithm>

namespace bcp::http {
namespace {

constexpr std::string_view crlf = "\r\n";
constexpr std::size_t max_chunk_line = 4096;  // chunk size, extensions, one trailer field

// "HTTP/1.x SSS[ reason]" into status. RFC 9112 §4.
bool parse_status_line(std::string_view line, unsigned& status) {
    if (line.size() < 12 || line.substr(0, 7) != "HTTP/1." || line[7] < '0' || line[7] > '9' ||
        line[8] != ' ') {
        return false;
    }
    status = 0;
    for (std::size_t i = 9; i < 12; ++i) {
        if (line[i] < '0' || line[i] > '9') {
            return false;
        }
        status = status * 10 + static_cast<unsigned>(line[i] - '0');
    }
    if (status < 100 || (line.size() > 12 && line[12] != ' ')) {
        return false;
    }
    return std::all_of(line.begin() + 12, line.end(),
                       [](char c) { return is_field_value_byte(static_cast<unsigned char>(c)); });
}

// "1a2b[ ;ext...]" (RFC 9112 §7.1); extensions are ignored.
bool parse_chunk_size(std::string_view line, std::uint64_t& size) {
    std::size_t i = 0;
    size = 0;
    for (; i < line.size() && hex_value(line[i]) >= 0; ++i) {
        if (i == 15) {
            return false;  // 2^60 bytes and more: not a chunk we wrote
        }
        size = size * 16 + static_cast<std::uint64_t>(hex_value(line[i]));
    }
    if (i == 0) {
        return false;
    }
    const std::string_view rest = trim_ows(line.substr(i));
    if (!rest.empty() && rest.front() != ';') {
        return false;
    }
    return std::all_of(rest.begin(), rest.end(),
                       [](char c) { return is_field_value_byte(static_cast<unsigned char>(c)); });
}

}  // namespace

bool response_reader::feed(std::string_view in, events& out) {
    while (!in.empty()) {
        switch (state_) {
            case state::done:
                return true;  // bytes after the end: ignored
            case state::error:
                return false;
            case state::head:
                if (!take_head(in, out)) {
                    return false;
                }
                break;
            case state::length: {
                if (until_close_) {
                    out.data(in, false);
                    return true;
                }
                const auto n = static_cast<std::size_t>(std::min<std::uint64_t>(left_, in.size()));
                left_ -= n;
                if (left_ == 0) {
                    state_ = state::done;
                }
                out.data(in.substr(0, n), left_ == 0);
                in.remove_prefix(n);
                break;
            }
            case state::chunk_data: {
                const auto n = static_cast<std::size_t>(std::min<std::uint64_t>(left_, in.size()));
                out.data(in.substr(0, n), false);
                in.remove_prefix(n);
                left_ -= n;
                if (left_ == 0) {
                    state_ = state::chunk_data_end;
                }
                break;
            }
            case state::chunk_size:
            case state::chunk_data_end:
            case state::trailers: {
                std::string_view line;
                bool complete = false;
                if (!take_line(in, line, complete)) {
                    return fail();
                }
                if (!complete) {
                    return true;
                }
                const bool ok = on_line(line, out);
                buffer_.clear();
                if (!ok) {
                    return fail();
                }
                break;
            }
        }
    }
    return state_ != state::error;
}

// A complete line of the chunked framing (RFC 9112 §7.1), by the state that expects it.
bool response_reader::on_line(std::string_view line, events& out) {
    switch (state_) {
        case state::chunk_size: {
            std::uint64_t size = 0;
            if (!parse_chunk_size(line, size)) {
                return false;
            }
            left_ = size;
            state_ = size == 0 ? state::trailers : state::chunk_data;
            return true;
        }
        case state::chunk_data_end:
            state_ = state::chunk_size;
            return line.empty();  // else the chunk's data was longer than its size
        case state::trailers:
            // Trailer fields are not forwarded (as before): read up to the empty line.
            if (line.empty()) {
                state_ = state::done;
                out.data({}, true);
                return true;
            }
            return line.find(':') != std::string_view::npos &&
                   std::all_of(line.begin(), line.end(), [](char c) {
                       return is_field_value_byte(static_cast<unsigned char>(c));
                   });
        default:
            return false;
    }
}

// One CRLF-terminated line from `in` (joined with what buffer_ holds of it). `line` is valid
// until buffer_ changes; the caller clears buffer_ once done with a complete line.
bool response_reader::take_line(std::string_view& in, std::string_view& line, bool& complete) {
    const std::size_t lf = in.find('\n');
    const std::size_t take = lf == std::string_view::npos ? in.size() : lf + 1;
    if (buffer_.size() + take > max_chunk_line) {
        return false;
    }
    std::string_view whole;
    if (buffer_.empty() && lf != std::string_view::npos) {
        whole = in.substr(0, take);  // the usual case: the whole line in this piece
    } else {
        buffer_.append(in.substr(0, take));
        whole = buffer_;
    }
    in.remove_prefix(take);
    if (lf == std::string_view::npos) {
        complete = false;
        return true;
    }
    if (whole.size() < 2 || whole[whole.size() - 2] != '\r') {
        return false;  // a bare LF
    }
    line = whole.substr(0, whole.size() - 2);
    if (line.find('\r') != std::string_view::npos) {
        return false;
    }
    complete = true;
    return true;
}

bool response_reader::take_head(std::string_view& in, events& out) {
    constexpr std::string_view end = "\r\n\r\n";
    if (buffer_.empty()) {
        const std::size_t pos = in.find(end);
        if (pos != std::string_view::npos) {
            const std::string_view head = in.substr(0, pos + end.size());
            in.remove_prefix(head.size());
            return on_head(head, out);  // no copy: the head arrived in one piece
        }
        if (in.size() > max_head_) {
            return fail();
        }
        buffer_.assign(in);
        in = {};
        return true;
    }
    const std::size_t old = buffer_.size();
    buffer_.append(in.substr(0, std::min(in.size(), max_head_ + end.size())));
    const std::size_t pos = buffer_.find(end, old < 3 ? 0 : old - 3);
    if (pos == std::string::npos) {
        if (buffer_.size() > max_head_) {
            return fail();
        }
        in = {};
        return true;
    }
    const std::size_t head_size = pos + end.size();  // on_head checks it against max_head_
    in.remove_prefix(head_size - old);
    buffer_.resize(head_size);
    const bool ok = on_head(buffer_, out);
    buffer_.clear();
    return ok;
}

bool response_reader::on_head(std::string_view head, events& out) {
    if (head.size() > max_head_) {
        return fail();
    }
    head.remove_suffix(2);  // the empty line; every line below ends with CRLF
    const std::size_t first = head.find(crlf);
    unsigned status = 0;
    if (first == std::string_view::npos || !parse_status_line(head.substr(0, first), status) ||
        status == 101) {
        return fail();  // no upgrades over HTTP/2 (RFC 9113 §8.6)
    }
    head.remove_prefix(first + crlf.size());
    fields_.clear();
    bool chunked = false;
    bool has_te = false;
    bool has_length = false;
    std::uint64_t length = 0;
    while (!head.empty()) {
        const std::size_t eol = head.find(crlf);
        const std::string_view line = head.substr(0, eol);
        head.remove_prefix(eol + crlf.size());
        const std::size_t colon = line.find(':');
        if (colon == 0 || colon == std::string_view::npos) {
            return fail();  // also an obs-fold line (starts with SP/HTAB: no token before ':')
        }
        const std::string_view name = line.substr(0, colon);
        const std::string_view value = trim_ows(line.substr(colon + 1));
        if (!std::all_of(name.begin(), name.end(), is_tchar) ||
            !std::all_of(value.begin(), value.end(), [](char c) {
                return is_field_value_byte(static_cast<unsigned char>(c));
            })) {
            return fail();
        }
        if (iequals(name, "transfer-encoding")) {
            has_te = true;
            chunked = false;
            for_each_list_token(value,
                                [&](std::string_view t) { chunked = iequals(t, "chunked"); });
        } else if (iequals(name, "content-length")) {
            std::uint64_t v = 0;
            bool ok = true;
            std::size_t values = 0;
            for_each_list_token(value, [&](std::string_view t) {
                ok = ok && parse_decimal(t, v) && (!has_length || v == length);
                has_length = true;
                length = v;
                ++values;
            });
            if (!ok || values == 0) {
                return fail();
            }
        }
        fields_.push_back({name, value});
    }
    if (has_te && has_length) {
        return fail();  // never written by us; a smuggling shape anywhere else (RFC 9112 §6.3)
    }
    if (status < 200) {
        out.head(status, fields_, true, false);
        return true;  // the final head follows
    }
    const bool no_body =
        head_method_ || status == 204 || status == 304 || (has_length && length == 0);
    if (no_body) {
        state_ = state::done;
        out.head(status, fields_, false, true);
        return true;
    }
    if (has_te) {
        state_ = chunked ? state::chunk_size : state::length;
        until_close_ = !chunked;
    } else if (has_length) {
        state_ = state::length;
        left_ = length;
    } else {
        state_ = state::length;
        until_close_ = true;
    }
    out.head(status, fields_, false, false);
    return true;
}

}  // namespace bcp::http
