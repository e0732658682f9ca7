#pragma once
// The state of one request/response exchange with a node, shared by session.cpp and the cache
// step (cache_step.cpp). Internal to proxy/.

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
