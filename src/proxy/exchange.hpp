#pragma once
// The state of one request/response exchange with a node, shared by session.cpp and the cache
// step (cache_step.cpp). Internal to proxy/.

#include "cache/encoding.hpp"
#include "http/gate.hpp"
#include "http/rewrite.hpp"
#include "net/watchdog.hpp"
#include "proxy/session.hpp"
#include "registry/node_table.hpp"
#include "upstream/pool.hpp"

#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/parser.hpp>

#include <memory>
#include <optional>
#include <string>

namespace bcp::proxy {

/// Calls f(value, present) with the request's Accept-Encoding: every field line joined by ", "
/// (RFC 9110 §5.3), without building a string for the usual single line.
template <class F>
auto with_accept_encoding(const http::request_head& h, F&& f) {
    if (h.count("accept-encoding") <= 1) {
        const auto v = h.find("accept-encoding");
        return f(v, v.data() != nullptr);
    }
    std::string joined;
    for (const auto& field : h.fields) {
        if (http::iequals(field.name, "accept-encoding")) {
            joined.append(joined.empty() ? "" : ", ").append(field.value);
        }
    }
    return f(std::string_view(joined), true);
}

/// Whether the node may send this client's request gzip (the one coding the cache decodes).
inline bool upstream_gzip(const http::request_head& h) {
    return with_accept_encoding(h, [](std::string_view v, bool present) {
        return cache::accepts(v, present, cache::coding::gzip);
    });
}

using response_parser = boost::beast::http::response_parser<boost::beast::http::buffer_body>;

struct session::exchange {
    http::gate_result gate;
    std::shared_ptr<const registry::node_table> table;  // keeps *node alive during the exchange
    const registry::node_entry* node = nullptr;
    std::unique_ptr<upstream::connection> up;
    std::optional<response_parser> parser;
    bool pooled = false;
    unsigned status = 0;
    bool keep_client = false;  // result: serve another request on this client connection
    http::framing framing = http::framing::none;  // of the body towards the client
    std::string_view pending_head;                // response head not yet written (in scratch_)
    // Set by the cache step for its own fetches: client conditionals are dropped and
    // extra_fields (validators) added; a failure before the response head is not answered by
    // send_upstream but left in failed_status (502/504) for the cache step (stale-if-error).
    bool cache_fetch = false;
    std::string extra_fields;
    unsigned failed_status = 0;
};

}  // namespace bcp::proxy
