#include "h2/connection.hpp"

#include "core/text.hpp"
#include "http/request_head.hpp"

#include <nghttp2/nghttp2.h>
#include <boost/container/small_vector.hpp>

#include <sys/mman.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <new>
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
    // The header block as decoded (stored up to the limits; past them only counted): each name
    // and its value one after the other in `block`, located by `fields` (offsets: `block` may
    // grow).
    struct field_at {
        std::uint32_t at, name_size, value_size;  ///< the value starts after the name
    };
    std::string block;
    std::vector<field_at> fields;
    std::size_t header_bytes = 0;  ///< RFC 9113 §6.5.2 size of the whole list
    std::size_t budget = 0;        ///< its share of pending_header_bytes_ (0 once released)
    bool oversize = false;
    std::string body;  ///< counted in pending_body_bytes_ until taken (take_body)
    std::optional<std::size_t> body_limit;  ///< asked at the first DATA (body_limit_of)
    bool body_too_large = false;
    bool body_refused = false;    ///< no body allowed: handed out at its first DATA
    bool refused_stream = false;  ///< REFUSED_STREAM for a body budget: never a request
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

nghttp2_nv nv_of(std::string_view name, std::string_view value) {
    return {reinterpret_cast<std::uint8_t*>(const_cast<char*>(name.data())),
            reinterpret_cast<std::uint8_t*>(const_cast<char*>(value.data())), name.size(),
            value.size(), NGHTTP2_NV_FLAG_NONE};
}

// The response's fields as nghttp2 wants them: ":status" first, names lower case, nothing that is
// HTTP/1.1 connection management (RFC 9113 §8.2.2). Values (and names already in lower case) are
// referenced, not copied: nghttp2_submit_* copies what it keeps before this goes away.
struct header_block {
    std::string status;
    // A usual response head needs no allocation here.
    boost::container::small_vector<std::string, 24> lowered;  ///< names that had upper-case letters
    boost::container::small_vector<nghttp2_nv, 24> nv;

    header_block(unsigned status_code, std::span<const header> fields)
        : status(std::to_string(status_code)) {
        constexpr std::string_view status_name = ":status";
        const auto has_upper = [](std::string_view n) {
            return std::any_of(n.begin(), n.end(), [](char ch) { return ch >= 'A' && ch <= 'Z'; });
        };
        nv.reserve(fields.size() + 1);
        nv.push_back(nv_of(status_name, status));
        lowered.reserve(fields.size());  // never reallocated below: nv points into it
        for (const auto& f : fields) {
            std::string_view name = f.name;
            if (has_upper(f.name)) {
                lowered.push_back(ascii_lower(f.name));
                name = lowered.back();
            }
            if (http::is_connection_specific(name) || name.empty() || name.front() == ':') {
                continue;
            }
            nv.push_back(nv_of(name, f.value));
        }
    }
};

// nghttp2's memory. Blocks of `own_mapping` bytes or more get an anonymous mapping of their own:
// the one such block of an idle session is its 16 KiB outbound frame buffer, of which only the
// first bytes are ever written while responses are small (DATA goes out with NO_COPY, see
// read_data), and pages never written are not resident. From malloc, that buffer would often reuse
// heap pages the TLS handshake just wrote and freed: 12 KiB of RSS more per idle connection
// (docs/benchmarks.md "HTTP/2"). Every block starts with a header giving its size and kind.
namespace mem {

constexpr std::size_t own_mapping = 8 * 1024;
struct alignas(std::max_align_t) block_header {
    std::size_t size;  // the caller's bytes
    bool mapped;
};
constexpr std::size_t header_size = sizeof(block_header);

void* allocate(std::size_t size, bool zeroed) {
    const std::size_t total = size + header_size;
    void* raw = nullptr;
    const bool mapped = size >= own_mapping;
    if (mapped) {
        raw = ::mmap(nullptr, total, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (raw == MAP_FAILED) {
            return nullptr;
        }  // a fresh mapping reads as zeros
    } else {
        raw = zeroed ? std::calloc(1, total) : std::malloc(total);
        if (raw == nullptr) {
            return nullptr;
        }
    }
    auto* h = static_cast<block_header*>(raw);
    h->size = size;
    h->mapped = mapped;
    return static_cast<char*>(raw) + header_size;
}

block_header* header_of(void* p) {
    return reinterpret_cast<block_header*>(static_cast<char*>(p) - header_size);
}

void release(void* p, void*) {
    if (p == nullptr) {
        return;
    }
    auto* h = header_of(p);
    if (h->mapped) {
        ::munmap(h, h->size + header_size);
    } else {
        std::free(h);
    }
}

void* on_malloc(std::size_t size, void*) {
    return allocate(size, false);
}

void* on_calloc(std::size_t n, std::size_t size, void*) {
    if (size != 0 && n > (SIZE_MAX - header_size) / size) {
        return nullptr;
    }
    return allocate(n * size, true);
}

void* on_realloc(void* p, std::size_t size, void*) {
    if (p == nullptr) {
        return allocate(size, false);
    }
    auto* h = header_of(p);
    if (!h->mapped && size < own_mapping) {
        auto* moved = static_cast<block_header*>(std::realloc(h, size + header_size));
        if (moved == nullptr) {
            return nullptr;
        }
        moved->size = size;
        return reinterpret_cast<char*>(moved) + header_size;
    }
    void* fresh = allocate(size, false);
    if (fresh != nullptr) {
        std::memcpy(fresh, p, std::min(size, h->size));
        release(p, nullptr);
    }
    return fresh;
}

nghttp2_mem* allocator() {
    static nghttp2_mem m{nullptr, &on_malloc, &release, &on_calloc, &on_realloc};
    return &m;
}

}  // namespace mem

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
        auto s = std::make_unique<stream_state>();
        // A browser's request has about a dozen fields and 1 KiB: one allocation each instead of
        // growing, and none per field.
        s->fields.reserve(16);
        s->block.reserve(1024);
        c.streams_[frame->hd.stream_id] = std::move(s);
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
            s->fields.size() + 1 > c.limits_.head.max_fields + 4) {  // + pseudo-header fields
            if (!s->oversize) {
                s->oversize = true;  // an HPACK bomb stops here: nothing more is stored
                c.release_header_budget(*s);
                s->fields.clear();
                s->block.clear();
                s->fields.shrink_to_fit();
                s->block.shrink_to_fit();
            }
            return 0;
        }
        // Below max_bytes (a few MiB at most), so the offsets fit in 32 bits.
        const auto at = static_cast<std::uint32_t>(s->block.size());
        s->block.append(reinterpret_cast<const char*>(name), namelen);
        s->block.append(reinterpret_cast<const char*>(value), valuelen);
        s->fields.push_back(
            {at, static_cast<std::uint32_t>(namelen), static_cast<std::uint32_t>(valuelen)});
        return 0;
    }

    static int on_data_chunk(nghttp2_session*, std::uint8_t, std::int32_t id,
                             const std::uint8_t* data, std::size_t len, void* user) {
        auto& c = self(user);
        auto* s = find(c, id);
        if (s == nullptr || s->handed || s->refused_stream) {
            return 0;  // refused already (413 or REFUSED_STREAM on its way): the rest is dropped
        }
        if (!s->body_limit) {
            s->body_limit = c.body_limit_of(*s);
        }
        if (*s->body_limit == 0 && len != 0) {
            // No body is allowed for this method and path (a POST without a POST rule, a GET
            // with a body): the gate refuses the request now, as it refuses an HTTP/1.1 head
            // before reading its body, instead of holding the body until it ends.
            s->body_refused = true;
            c.finish_request(id, *s);
            return 0;
        }
        if (s->body.size() + len > *s->body_limit) {
            c.take_body(*s);  // dropped
            s->body_too_large = true;
            c.finish_request(id, *s);  // answered 413 now, not after the whole body
            return 0;
        }
        if (c.pending_body_bytes_ + len > c.limits_.max_pending_body_bytes ||
            (c.worker_pending_body_ != nullptr &&
             *c.worker_pending_body_ + len > c.limits_.max_worker_pending_body_bytes)) {
            // Many streams sending large bodies at once, on this connection or on all of the
            // worker's (memory, not one request's size): this one is refused before any node saw
            // it, as a header block past its budget is.
            ++c.counters_.refused_pending;
            c.take_body(*s);  // dropped
            c.release_header_budget(*s);
            s->refused_stream = true;
            nghttp2_submit_rst_stream(native(c.session_), NGHTTP2_FLAG_NONE, id,
                                      NGHTTP2_REFUSED_STREAM);
            return 0;
        }
        s->body.append(reinterpret_cast<const char*>(data), len);
        c.pending_body_bytes_ += len;
        if (c.worker_pending_body_ != nullptr) {
            *c.worker_pending_body_ += len;
        }
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
            if (!s->handed && !s->refused_stream) {
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
        c.take_body(s);
        // Opened and reset within one read: never handed out.
        std::erase_if(c.ready_, [id](const request& r) { return r.stream == id; });
        const bool cancelled = s.handed && !(s.response_ended && s.buffered() == 0);
        c.buffered_total_ -= std::min(c.buffered_total_, s.buffered());
        if (!s.handed && error_code == NGHTTP2_PROTOCOL_ERROR) {
            ++c.counters_.malformed;  // nghttp2's own checks of RFC 9113 §8 found it
        }
        c.streams_.erase(it);
        if (cancelled && c.handlers_.on_cancel) {
            c.handlers_.on_cancel(id);
        }
        return 0;
    }

    // The response body goes out without a copy into nghttp2's frame buffer (NO_COPY): read_data
    // only says how much the next DATA frame carries, send_data appends it to the output.
    static ssize_t read_data(nghttp2_session*, std::int32_t id, std::uint8_t*, std::size_t length,
                             std::uint32_t* flags, nghttp2_data_source*, void* user) {
        auto& c = self(user);
        auto* s = find(c, id);
        if (s == nullptr) {
            return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
        }
        const std::size_t n = std::min(length, s->buffered());
        if (n == 0 && !s->out_last) {
            s->deferred = true;
            return NGHTTP2_ERR_DEFERRED;
        }
        *flags |= NGHTTP2_DATA_FLAG_NO_COPY;
        if (n == s->buffered() && s->out_last) {
            *flags |= NGHTTP2_DATA_FLAG_EOF;
            s->response_ended = true;
        }
        return static_cast<ssize_t>(n);
    }

    static int send_data(nghttp2_session*, nghttp2_frame* frame, const std::uint8_t* framehd,
                         std::size_t length, nghttp2_data_source*, void* user) {
        auto& c = self(user);
        auto* s = find(c, frame->hd.stream_id);
        if (s == nullptr || c.sink_ == nullptr || length > s->buffered()) {
            return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;  // the stream is reset
        }
        auto& out = *c.sink_;
        const std::size_t before = s->buffered();
        out.append(reinterpret_cast<const char*>(framehd), 9);  // no padding: no pad byte
        out.append(s->out, s->out_off, length);
        s->out_off += length;
        c.buffered_total_ -= length;
        if (s->out_off == s->out.size()) {
            s->out.clear();
            s->out_off = 0;
        } else if (s->out_off > s->out.size() / 2) {
            s->out.erase(0, s->out_off);
            s->out_off = 0;
        }
        if (before >= c.limits_.output_watermark && s->buffered() < c.limits_.output_watermark) {
            c.writable_.push_back(frame->hd.stream_id);
        }
        // A full batch: the frame counts as sent and nghttp2_session_mem_send returns.
        return out.size() >= c.sink_max_ ? NGHTTP2_ERR_PAUSE : 0;
    }
};

connection::connection(const limits& l, handlers h, std::size_t* worker_pending_body)
    : limits_(l),
      handlers_(std::move(h)),
      worker_pending_body_(worker_pending_body),
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
    nghttp2_session_callbacks_set_send_data_callback(cbs, &callbacks::send_data);

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
    const int rv = nghttp2_session_server_new3(&session, cbs, this, opt, mem::allocator());
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
    if (worker_pending_body_ != nullptr) {
        // The bodies of streams still arriving go with the connection.
        *worker_pending_body_ -= std::min(*worker_pending_body_, pending_body_bytes_);
    }
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

std::string connection::take_body(stream_state& s) {
    pending_body_bytes_ -= std::min(pending_body_bytes_, s.body.size());
    if (worker_pending_body_ != nullptr) {
        *worker_pending_body_ -= std::min(*worker_pending_body_, s.body.size());
    }
    std::string body;
    body.swap(s.body);
    return body;
}

std::size_t connection::body_limit_of(const stream_state& s) const {
    if (!handlers_.body_limit) {
        return limits_.max_body;
    }
    std::string_view method;
    std::string_view path;
    const std::string_view block = s.block;
    for (const auto& f : s.fields) {
        const auto name = block.substr(f.at, f.name_size);
        const auto value = block.substr(f.at + f.name_size, f.value_size);
        if (name == ":method" && method.empty()) {
            method = value;
        } else if (name == ":path" && path.empty()) {
            path = value;
        }
    }
    return std::min(handlers_.body_limit(method, path), limits_.max_body);
}

void connection::finish_request(std::int32_t id, stream_state& s) {
    s.handed = true;
    request r;
    r.stream = id;
    r.storage = std::make_unique<request::storage_t>();
    auto& st = *r.storage;
    st.block = std::move(s.block);
    if (s.oversize) {
        r.status = 431;
        r.reason = "header list too large";
    } else if (s.body_too_large) {
        r.status = 413;
        r.reason = "request body too large";
    } else {
        const std::string_view block = st.block;
        st.fields.reserve(s.fields.size());
        for (const auto& f : s.fields) {
            st.fields.push_back(
                {block.substr(f.at, f.name_size), block.substr(f.at + f.name_size, f.value_size)});
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
        r.body = take_body(s);  // the stream's session holds it now; the gate bounds it too
        r.body_refused = s.body_refused;
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
    sink_ = &out;  // DATA frames are appended by callbacks::send_data
    sink_max_ = max;
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
    sink_ = nullptr;
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
    buffered_total_ += bytes.size();
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
        if (!s->handed && !s->refused_stream && (!oldest || s->begun < *oldest)) {
            oldest = s->begun;
        }
    }
    return oldest;
}

}  // namespace bcp::h2
