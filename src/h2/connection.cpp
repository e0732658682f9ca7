#include "h2/connection.hpp"

#include "core/text.hpp"
#include "http/request_head.hpp"

#include <nghttp2/nghttp2.h>

#include <algorithm>
#include <cstring>
#include <stdexcept>

namespace bcp::h2 {

std::string_view to_string(refusal r) {
    switch (r) {
        case refusal::none:
            return "none";
        case refusal::protocol:
            return "h2_protocol";
        case refusal::rapid_reset:
            return "h2_rapid_reset";
        case refusal::control_flood:
            return "h2_control_flood";
        case refusal::continuation_flood:
            return "h2_continuation_flood";
    }
    return "none";
}

struct connection::stream_state {
    std::chrono::steady_clock::time_point begun = std::chrono::steady_clock::now();
    // The header block as decoded (stored up to the limits; past them only counted).
    std::vector<std::string> names, values;
    std::size_t header_bytes = 0;  ///< RFC 9113 §6.5.2 size of the whole list
    std::size_t budget = 0;        ///< its share of pending_header_bytes_ (0 once released)
    bool oversize = false;
    std::string body;
    bool body_too_large = false;
    bool handed = false;          ///< became a request (or a refusal) for the owner
    bool remote_closed = false;   ///< the client's END_STREAM arrived
    bool response_ended = false;  ///< our END_STREAM was queued
    // The response body: bytes not yet taken by nghttp2 are out[out_off..].
    std::string out;
    std::size_t out_off = 0;
    bool out_last = false;
    bool deferred = false;  ///< the data provider said DEFERRED: resume on send_data
    std::size_t buffered() const { return out.size() - out_off; }
};

bool connection::bucket::take(double rate, double burst) {
    const auto now = std::chrono::steady_clock::now();
    tokens = std::min(burst, tokens + rate * std::chrono::duration<double>(now - last).count());
    last = now;
    if (tokens < 1.0) {
        return false;
    }
    tokens -= 1.0;
    return true;
}

namespace {

nghttp2_session* native(void* s) {
    return static_cast<nghttp2_session*>(s);
}

nghttp2_nv nv_of(const std::string& name, const std::string& value) {
    return {reinterpret_cast<std::uint8_t*>(const_cast<char*>(name.data())),
            reinterpret_cast<std::uint8_t*>(const_cast<char*>(value.data())), name.size(),
            value.size(), NGHTTP2_NV_FLAG_NONE};
}

// The response's fields as nghttp2 wants them: ":status" first, names lower case, nothing that is
// HTTP/1.1 connection management (RFC 9113 §8.2.2).
struct header_block {
    std::vector<std::string> names, values;
    std::vector<nghttp2_nv> nv;

    header_block(unsigned status, std::span<const header> fields) {
        names.reserve(fields.size() + 1);
        values.reserve(fields.size() + 1);
        names.emplace_back(":status");
        values.emplace_back(std::to_string(status));
        for (const auto& f : fields) {
            auto name = ascii_lower(f.name);
            if (http::is_connection_specific(name) || name.empty() || name.front() == ':') {
                continue;
            }
            names.push_back(std::move(name));
            values.push_back(f.value);
        }
        nv.reserve(names.size());
        for (std::size_t i = 0; i < names.size(); ++i) {
            nv.push_back(nv_of(names[i], values[i]));
        }
    }
};

bool is_control(std::uint8_t type) {
    return type == NGHTTP2_PING || type == NGHTTP2_SETTINGS || type == NGHTTP2_PRIORITY ||
           type == NGHTTP2_RST_STREAM || type == NGHTTP2_WINDOW_UPDATE;
}

}  // namespace

// nghttp2's callbacks, with access to the connection's state.
struct connection::callbacks {
    static connection& self(void* user) { return *static_cast<connection*>(user); }

    static stream_state* find(connection& c, std::int32_t id) {
        const auto it = c.streams_.find(id);
        return it == c.streams_.end() ? nullptr : it->second.get();
    }

    static int on_begin_frame(nghttp2_session*, const nghttp2_frame_hd* hd, void* user) {
        auto& c = self(user);
        if (is_control(hd->type) &&
            !c.control_.take(c.limits_.control_frames_per_second, c.limits_.control_frame_burst)) {
            c.fail(refusal::control_flood, NGHTTP2_ENHANCE_YOUR_CALM);
        }
        return 0;
    }

    static int on_begin_headers(nghttp2_session* session, const nghttp2_frame* frame, void* user) {
        auto& c = self(user);
        if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST) {
            return 0;  // trailers: decoded (the HPACK state needs it) and ignored
        }
        if (c.pending_header_bytes_ >= c.limits_.max_pending_header_bytes) {
            ++c.counters_.refused_pending;
            nghttp2_submit_rst_stream(session, NGHTTP2_FLAG_NONE, frame->hd.stream_id,
                                      NGHTTP2_REFUSED_STREAM);
            return 0;  // no state: its fields are decoded and dropped
        }
        c.streams_[frame->hd.stream_id] = std::make_unique<stream_state>();
        return 0;
    }

    static int on_header(nghttp2_session*, const nghttp2_frame* frame, const std::uint8_t* name,
                         std::size_t namelen, const std::uint8_t* value, std::size_t valuelen,
                         std::uint8_t, void* user) {
        auto& c = self(user);
        if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST) {
            return 0;
        }
        auto* s = find(c, frame->hd.stream_id);
        if (s == nullptr) {
            return 0;
        }
        const std::size_t size = namelen + valuelen + 32;  // RFC 9113 §6.5.2
        s->header_bytes += size;
        if (!s->oversize) {
            // Counted against the connection's budget while stored.
            s->budget += size;
            c.pending_header_bytes_ += size;
        }
        if (s->header_bytes > c.limits_.head.max_bytes ||
            s->names.size() + 1 > c.limits_.head.max_fields + 4) {  // + pseudo-header fields
            if (!s->oversize) {
                s->oversize = true;  // an HPACK bomb stops here: nothing more is stored
                c.release_header_budget(*s);
                s->names.clear();
                s->values.clear();
                s->names.shrink_to_fit();
                s->values.shrink_to_fit();
            }
            return 0;
        }
        s->names.emplace_back(reinterpret_cast<const char*>(name), namelen);
        s->values.emplace_back(reinterpret_cast<const char*>(value), valuelen);
        return 0;
    }

    static int on_data_chunk(nghttp2_session*, std::uint8_t, std::int32_t id,
                             const std::uint8_t* data, std::size_t len, void* user) {
        auto& c = self(user);
        auto* s = find(c, id);
        if (s == nullptr || s->handed) {
            return 0;  // refused already (413 sent or on its way): the rest is dropped
        }
        if (s->body.size() + len > c.limits_.max_body) {
            s->body_too_large = true;
            s->body.clear();
            s->body.shrink_to_fit();
            c.finish_request(id, *s);  // answered 413 now, not after the whole body
            return 0;
        }
        s->body.append(reinterpret_cast<const char*>(data), len);
        return 0;
    }

    static int on_frame_recv(nghttp2_session*, const nghttp2_frame* frame, void* user) {
        auto& c = self(user);
        const auto id = frame->hd.stream_id;
        switch (frame->hd.type) {
            case NGHTTP2_RST_STREAM:
                ++c.counters_.client_resets;
                if (!c.resets_.take(c.limits_.resets_per_second, c.limits_.reset_burst)) {
                    c.fail(refusal::rapid_reset, NGHTTP2_ENHANCE_YOUR_CALM);
                }
                return 0;
            case NGHTTP2_HEADERS:
            case NGHTTP2_DATA:
                break;
            default:
                return 0;
        }
        if ((frame->hd.flags & NGHTTP2_FLAG_END_STREAM) == 0) {
            return 0;
        }
        if (auto* s = find(c, id)) {
            s->remote_closed = true;
            if (!s->handed) {
                c.finish_request(id, *s);
            }
        }
        return 0;
    }

    static int on_frame_send(nghttp2_session* session, const nghttp2_frame* frame, void* user) {
        auto& c = self(user);
        if ((frame->hd.type != NGHTTP2_HEADERS && frame->hd.type != NGHTTP2_DATA) ||
            (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) == 0) {
            return 0;
        }
        auto* s = find(c, frame->hd.stream_id);
        if (s != nullptr && !s->remote_closed) {
            // The response is complete before the request (a 413, a refusal): the client may
            // stop sending (RFC 9113 §8.1).
            nghttp2_submit_rst_stream(session, NGHTTP2_FLAG_NONE, frame->hd.stream_id,
                                      NGHTTP2_NO_ERROR);
        }
        return 0;
    }

    static int on_stream_close(nghttp2_session*, std::int32_t id, std::uint32_t error_code,
                               void* user) {
        auto& c = self(user);
        const auto it = c.streams_.find(id);
        if (it == c.streams_.end()) {
            return 0;
        }
        auto& s = *it->second;
        c.release_header_budget(s);
        // Opened and reset within one read: never handed out.
        std::erase_if(c.ready_, [id](const request& r) { return r.stream == id; });
        const bool cancelled = s.handed && !(s.response_ended && s.buffered() == 0);
        if (!s.handed && error_code == NGHTTP2_PROTOCOL_ERROR) {
            ++c.counters_.malformed;  // nghttp2's own checks of RFC 9113 §8 found it
        }
        c.streams_.erase(it);
        if (cancelled && c.handlers_.on_cancel) {
            c.handlers_.on_cancel(id);
        }
        return 0;
    }

    static ssize_t read_data(nghttp2_session*, std::int32_t id, std::uint8_t* buf,
                             std::size_t length, std::uint32_t* flags, nghttp2_data_source*,
                             void* user) {
        auto& c = self(user);
        auto* s = find(c, id);
        if (s == nullptr) {
            return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
        }
        const std::size_t before = s->buffered();
        const std::size_t n = std::min(length, before);
        std::memcpy(buf, s->out.data() + s->out_off, n);
        s->out_off += n;
        if (s->out_off == s->out.size()) {
            s->out.clear();
            s->out_off = 0;
        } else if (s->out_off > s->out.size() / 2) {
            s->out.erase(0, s->out_off);
            s->out_off = 0;
        }
        if (before >= c.limits_.output_watermark && s->buffered() < c.limits_.output_watermark) {
            c.writable_.push_back(id);
        }
        if (s->buffered() == 0 && s->out_last) {
            *flags |= NGHTTP2_DATA_FLAG_EOF;
            s->response_ended = true;
            return static_cast<ssize_t>(n);
        }
        if (n == 0) {
            s->deferred = true;
            return NGHTTP2_ERR_DEFERRED;
        }
        return static_cast<ssize_t>(n);
    }
};

connection::connection(const limits& l, handlers h)
    : limits_(l),
      handlers_(std::move(h)),
      resets_{l.reset_burst, std::chrono::steady_clock::now()},
      control_{l.control_frame_burst, std::chrono::steady_clock::now()} {
    nghttp2_session_callbacks* cbs = nullptr;
    if (nghttp2_session_callbacks_new(&cbs) != 0) {
        throw std::bad_alloc();
    }
    nghttp2_session_callbacks_set_on_begin_frame_callback(cbs, &callbacks::on_begin_frame);
    nghttp2_session_callbacks_set_on_begin_headers_callback(cbs, &callbacks::on_begin_headers);
    nghttp2_session_callbacks_set_on_header_callback(cbs, &callbacks::on_header);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, &callbacks::on_data_chunk);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, &callbacks::on_frame_recv);
    nghttp2_session_callbacks_set_on_frame_send_callback(cbs, &callbacks::on_frame_send);
    nghttp2_session_callbacks_set_on_stream_close_callback(cbs, &callbacks::on_stream_close);

    nghttp2_option* opt = nullptr;
    if (nghttp2_option_new(&opt) != 0) {
        nghttp2_session_callbacks_del(cbs);
        throw std::bad_alloc();
    }
    nghttp2_option_set_max_continuations(opt, l.max_continuations);
    // nghttp2's own rapid-reset guard, looser than ours (ours answers ENHANCE_YOUR_CALM first).
    nghttp2_option_set_stream_reset_rate_limit(opt, static_cast<std::uint64_t>(2 * l.reset_burst),
                                               static_cast<std::uint64_t>(2 * l.resets_per_second));
    nghttp2_option_set_max_outbound_ack(opt, 1'000);  // queued PING/SETTINGS ACKs: a non-reader
    nghttp2_option_set_max_settings(opt, 32);         // SETTINGS entries per frame
    nghttp2_option_set_max_deflate_dynamic_table_size(opt, 4'096);

    nghttp2_session* session = nullptr;
    const int rv = nghttp2_session_server_new2(&session, cbs, this, opt);
    nghttp2_option_del(opt);
    nghttp2_session_callbacks_del(cbs);
    if (rv != 0) {
        throw std::bad_alloc();
    }
    session_ = session;
    // No SETTINGS_ENABLE_CONNECT_PROTOCOL: WebSockets stay on HTTP/1.1 connections.
    const nghttp2_settings_entry settings[] = {
        {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, l.max_concurrent_streams},
        {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, l.initial_window},
        {NGHTTP2_SETTINGS_HEADER_TABLE_SIZE, l.header_table_size},
        {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, static_cast<std::uint32_t>(l.head.max_bytes)},
    };
    nghttp2_submit_settings(session, NGHTTP2_FLAG_NONE, settings, std::size(settings));
}

connection::~connection() {
    nghttp2_session_del(native(session_));
}

void connection::fail(refusal r, std::uint32_t error_code) {
    if (why_ == refusal::none) {
        why_ = r;
        nghttp2_session_terminate_session(native(session_), error_code);
    }
}

void connection::release_header_budget(stream_state& s) {
    pending_header_bytes_ -= std::min(pending_header_bytes_, s.budget);
    s.budget = 0;
}

void connection::finish_request(std::int32_t id, stream_state& s) {
    s.handed = true;
    request r;
    r.stream = id;
    r.storage = std::make_unique<request::storage_t>();
    auto& st = *r.storage;
    st.names = std::move(s.names);
    st.values = std::move(s.values);
    if (s.oversize) {
        r.status = 431;
        r.reason = "header list too large";
    } else if (s.body_too_large) {
        r.status = 413;
        r.reason = "request body too large";
    } else {
        st.fields.reserve(st.names.size());
        for (std::size_t i = 0; i < st.names.size(); ++i) {
            st.fields.push_back({st.names[i], st.values[i]});
        }
        const auto m = http::map_h2_request(st.fields, limits_.head, st.joined, r.head);
        if (m.malformed) {
            ++counters_.malformed;
            nghttp2_submit_rst_stream(native(session_), NGHTTP2_FLAG_NONE, id,
                                      NGHTTP2_PROTOCOL_ERROR);
            return;
        }
        r.status = m.status;
        r.reason = m.reason;
        r.body = std::move(s.body);
    }
    ready_.push_back(std::move(r));
}

bool connection::receive(std::string_view bytes) {
    const auto rv = nghttp2_session_mem_recv(
        native(session_), reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size());
    if (rv < 0) {
        fail(rv == NGHTTP2_ERR_TOO_MANY_CONTINUATIONS ? refusal::continuation_flood
                                                      : refusal::protocol,
             rv == NGHTTP2_ERR_TOO_MANY_CONTINUATIONS ? NGHTTP2_ENHANCE_YOUR_CALM
                                                      : NGHTTP2_PROTOCOL_ERROR);
    }
    if (why_ != refusal::none) {
        ready_.clear();
        return false;
    }
    auto ready = std::move(ready_);
    ready_.clear();
    for (auto& r : ready) {
        if (streams_.contains(r.stream) && handlers_.on_request) {
            handlers_.on_request(std::move(r));
        }
    }
    return true;
}

void connection::take_output(std::string& out, std::size_t max) {
    while (out.size() < max) {
        const std::uint8_t* data = nullptr;
        const auto n = nghttp2_session_mem_send(native(session_), &data);
        if (n < 0) {
            fail(refusal::protocol, NGHTTP2_INTERNAL_ERROR);
            break;
        }
        if (n == 0) {
            break;
        }
        out.append(reinterpret_cast<const char*>(data), static_cast<std::size_t>(n));
    }
    auto writable = std::move(writable_);
    writable_.clear();
    for (const auto id : writable) {
        if (streams_.contains(id) && handlers_.on_writable) {
            handlers_.on_writable(id);
        }
    }
}

bool connection::wants_read() const {
    return nghttp2_session_want_read(native(session_)) != 0;
}

bool connection::wants_write() const {
    return nghttp2_session_want_write(native(session_)) != 0;
}

bool connection::respond(std::int32_t stream, unsigned status, std::span<const header> fields,
                         bool end) {
    const auto it = streams_.find(stream);
    if (it == streams_.end()) {
        return false;
    }
    auto& s = *it->second;
    release_header_budget(s);
    header_block block(status, fields);
    nghttp2_data_provider provider{};
    provider.read_callback = &callbacks::read_data;
    if (end) {
        s.response_ended = true;
    }
    return nghttp2_submit_response(native(session_), stream, block.nv.data(), block.nv.size(),
                                   end ? nullptr : &provider) == 0;
}

bool connection::inform(std::int32_t stream, unsigned status, std::span<const header> fields) {
    if (!streams_.contains(stream) || status < 100 || status > 199) {
        return false;
    }
    header_block block(status, fields);
    return nghttp2_submit_headers(native(session_), NGHTTP2_FLAG_NONE, stream, nullptr,
                                  block.nv.data(), block.nv.size(), nullptr) >= 0;
}

bool connection::send_data(std::int32_t stream, std::string_view bytes, bool last) {
    const auto it = streams_.find(stream);
    if (it == streams_.end()) {
        return false;
    }
    auto& s = *it->second;
    s.out.append(bytes);
    s.out_last = s.out_last || last;
    if (s.deferred) {
        s.deferred = false;
        nghttp2_session_resume_data(native(session_), stream);
    }
    return true;
}

std::size_t connection::buffered(std::int32_t stream) const {
    const auto it = streams_.find(stream);
    return it == streams_.end() ? 0 : it->second->buffered();
}

void connection::reset(std::int32_t stream, std::uint32_t error_code) {
    if (streams_.contains(stream)) {
        nghttp2_submit_rst_stream(native(session_), NGHTTP2_FLAG_NONE, stream, error_code);
    }
}

void connection::shutdown() {
    nghttp2_submit_goaway(native(session_), NGHTTP2_FLAG_NONE,
                          nghttp2_session_get_last_proc_stream_id(native(session_)),
                          NGHTTP2_NO_ERROR, nullptr, 0);
}

std::size_t connection::open_streams() const {
    return streams_.size();
}

std::optional<std::chrono::steady_clock::time_point> connection::oldest_incomplete() const {
    std::optional<std::chrono::steady_clock::time_point> oldest;
    for (const auto& [id, s] : streams_) {
        if (!s->handed && (!oldest || s->begun < *oldest)) {
            oldest = s->begun;
        }
    }
    return oldest;
}

}  // namespace bcp::h2
