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

#include <array>
#include <cstddef>
#include <memory>
#include <memory_resource>
#include <optional>
#include <string>

namespace bcp::proxy {

/// The request's Accept-Encoding: every field line joined by ", " (RFC 9110 §5.3); `storage`
/// backs the value only when there are several lines (the usual single line is a view into the
/// head). `present` tells an absent field from an empty one.
inline std::string_view accept_encoding_of(const http::request_head& h, std::string& storage,
                                           bool& present) {
    if (h.count("accept-encoding") <= 1) {
        const auto v = h.find("accept-encoding");
        present = v.data() != nullptr;
        return v;
    }
    for (const auto& field : h.fields) {
        if (http::iequals(field.name, "accept-encoding")) {
            storage.append(storage.empty() ? "" : ", ").append(field.value);
        }
    }
    present = true;
    return storage;
}

using response_parser = boost::beast::http::response_parser<boost::beast::http::buffer_body,
                                                            std::pmr::polymorphic_allocator<char>>;

struct session::exchange {
    http::gate_result gate;
    std::shared_ptr<const registry::node_table> table;  // keeps *node alive during the exchange
    const registry::node_entry* node = nullptr;
    std::unique_ptr<upstream::connection> up;
    std::optional<response_parser> parser;  ///< made by new_parser()
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
    /// Whether the node may answer gzip (the client takes it): decided once per request, by the
    /// cache step or else by send_upstream (docs/node-setup.md "Compression").
    std::optional<bool> upstream_gzip;
    /// An allowed POST's rule (docs/security.md "POST"); nullptr for every other method.
    const registry::post_rule* post = nullptr;

    /// A parser for the node's next response head (a 1xx is followed by another), its fields in
    /// this exchange's arena: one block for a usual head instead of an allocation per field.
    /// The previous parser's fields are released first, so a node's 1xx after 1xx holds one head.
    response_parser& new_parser(std::uint32_t header_limit, bool head_method) {
        parser.reset();
        arena_.release();
        parser.emplace(std::piecewise_construct, std::make_tuple(),
                       std::make_tuple(std::pmr::polymorphic_allocator<char>(&arena_)));
        parser->header_limit(header_limit);
        parser->body_limit(boost::none);  // bodies are streamed, never held whole
        parser->skip(head_method);
        return *parser;
    }

  private:
    std::array<std::byte, 2048> arena_buffer_;
    std::pmr::monotonic_buffer_resource arena_{arena_buffer_.data(), arena_buffer_.size()};
};

}  // namespace bcp::proxy
