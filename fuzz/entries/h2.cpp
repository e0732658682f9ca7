// The HTTP/2 server connection (issue 16): arbitrary client bytes after a valid preface, fed in
// pieces. Whatever the bytes, every request handed out is one the HTTP/1.1 path could have
// parsed (tokens for names, no CR/LF/NUL, one Host, a target starting with '/'), a refusal
// carries a status, a body is handed out only within its path's limit, and answering every
// request never breaks the connection's bookkeeping (nor its worker's body count).
#include "entries.hpp"
#include "h2/connection.hpp"
#include "http/request_head.hpp"

#include <memory>
#include <string>

namespace bcp::fuzz {
namespace {

void check_request(const h2::request& r) {
    if (r.status != 0) {
        expect(r.status == 400 || r.status == 413 || r.status == 414 || r.status == 431,
               "a refused stream carries 400, 413, 414 or 431");
        return;
    }
    expect(!r.body_refused || r.body.empty(), "a refused body is never handed out");
    expect(r.body.size() <= 2'048, "a body within its path's limit");
    expect(!r.head.method.empty() && r.head.method != "CONNECT", "a method, never CONNECT");
    expect(r.head.target.starts_with("/") || r.head.target == "*", "target from :path",
           r.head.target);
    expect(r.head.count("host") == 1, "exactly one Host");
    for (const auto& f : r.head.fields) {
        expect(!f.name.empty(), "field name not empty");
        for (const char c : f.name) {
            expect(http::is_tchar(c) && !(c >= 'A' && c <= 'Z'), "lower-case token names", f.name);
        }
        for (const char c : f.value) {
            expect(http::is_field_value_byte(static_cast<unsigned char>(c)),
                   "field value bytes only", f.value);
        }
        expect(f.name != "connection" && f.name != "transfer-encoding" && f.name != "upgrade" &&
                   f.name != "te" && f.name != "keep-alive" && f.name != "proxy-connection",
               "no connection-specific field", f.name);
    }
}

}  // namespace

// Input: the client's bytes after the preface; the first byte picks the size of the pieces.
void h2_connection(const std::uint8_t* data, std::size_t size) {
    h2::limits l;
    l.max_body = 4'096;
    l.max_pending_header_bytes = 8'192;
    l.max_pending_body_bytes = 8'192;         // a few bodies of max_body: the budget's refusals too
    l.max_worker_pending_body_bytes = 6'144;  // and the worker's, below it
    l.output_watermark = 1'024;
    std::vector<std::int32_t> handed;
    std::size_t worker_pending_body = 0;
    h2::connection* self = nullptr;
    auto holder = std::make_unique<h2::connection>(
        l,
        h2::connection::handlers{
            [&](h2::request&& r) {
                check_request(r);
                handed.push_back(r.stream);
                const h2::header type{"content-type", "text/plain"};
                self->respond(r.stream, r.status != 0 ? r.status : 200, {&type, 1}, false);
                self->send_data(r.stream, std::string(3'000, 'b'), true);
            },
            [&](std::int32_t) {}, [&](std::int32_t) {},
            // POST rules: some paths allow a body of 2 KiB, no other request may send one.
            [](std::string_view method, std::string_view path) -> std::size_t {
                return method == "POST" && path.size() % 2 == 0 ? 2'048 : 0;
            }},
        &worker_pending_body);
    auto& conn = *holder;
    self = &conn;
    std::string out;
    const std::string_view preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
    bool open = conn.receive(preface);
    const std::size_t piece = size == 0 ? 1 : 1 + data[0] % 64;
    std::string_view rest(reinterpret_cast<const char*>(data), size);
    if (!rest.empty()) {
        rest.remove_prefix(1);
    }
    while (open && !rest.empty()) {
        const auto n = std::min(piece, rest.size());
        open = conn.receive(rest.substr(0, n));
        rest.remove_prefix(n);
        out.clear();
        conn.take_output(out);
    }
    out.clear();
    conn.take_output(out);
    expect(open || conn.why() != h2::refusal::none, "a connection that ends says why");
    expect(conn.open_streams() <= l.max_concurrent_streams + 1, "streams bounded");
    expect(worker_pending_body <= l.max_worker_pending_body_bytes, "the worker's budget holds");
    holder.reset();
    expect(worker_pending_body == 0, "a connection takes out of its worker's count what it put in");
}

}  // namespace bcp::fuzz
