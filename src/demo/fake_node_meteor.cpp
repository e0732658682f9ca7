// The POST endpoints of the BBB 2.x (Meteor) client, for a node with client_kind::meteor; the
// contract is in fake_node.hpp. Pure like fake_node_routes.cpp: the session has read the body.
//
// Meteor's dynamic import: the client keeps a tree of every module path it knows exists, and
// when code runs `import("…")` for modules it does not have yet, it POSTs the tree of the missing
// ones to <ROOT_URL>/__meteor__/dynamic-import/fetch; the server answers the same tree with each
// leaf replaced by the module's source, which the client evaluates and installs. In a cluster that
// URL is under the proxy (ROOT_URL = https://proxy/<node>/html5client), so this is the request a
// proxy for BBB 2.x must pass through to the right node.

#include "demo/client_assets.hpp"
#include "demo/fake_node_impl.hpp"

#include <nlohmann/json.hpp>

#include <array>

namespace bcp::demo::detail {
namespace {

using nlohmann::json;

struct lazy_module {
    std::string_view name;  ///< exports.name
    /// The module's place in the request tree, as a JSON pointer (no '~' or '/' inside a name).
    std::string_view pointer;
};

constexpr std::array<lazy_module, 2> lazy_modules{{
    {"panel", "/node_modules/lazy/panel.js"},
    {"chart", "/node_modules/lazy/chart.js"},
}};

/// What Meteor's bundler would emit for a module: a function of (require, exports, module) that
/// the client calls once. exports.node names the node, so a test can tell which node answered
/// through the proxy. Its table of rows makes it a few KiB of repetitive code, as a real lazy
/// module of BBB's client is (tens of KiB): large enough to be compressed, as they are.
std::string module_source(std::string_view node_id, const lazy_module& m) {
    const auto name = json_quote(m.name);
    const auto node = json_quote(node_id);
    constexpr int rows = 80;
    std::string table = "[";
    for (int i = 0; i < rows; ++i) {
        table += (i == 0 ? "" : ",") + std::string("{id:") + std::to_string(i) + ",label:" + name +
                 "+\" row " + std::to_string(i) + "\",width:" + std::to_string((i * 37) % 300) +
                 "}";
    }
    table += "]";
    return "function(require,exports,module){\"use strict\";var rows=" + table +
           ";exports.name=" + name + ";exports.node=" + node + ";exports.rows=rows.length;" +
           "exports.label=" + name + "+\" module from \"+" + node + ";}";
}

}  // namespace

reply dynamic_import_reply(const node_state& node, const request& req) {
    // No exceptions: malformed input is an expected answer here, not an error of the node.
    const auto tree = json::parse(req.body(), nullptr, /*allow_exceptions=*/false);
    if (tree.is_discarded() || !tree.is_object()) {
        return text_reply(http::status::bad_request, "400 Bad Request: expected a JSON object\n");
    }
    // Only the known paths are looked up, so an arbitrarily deep tree costs nothing more than
    // its parse (nlohmann's parser and destructor do not recurse on nesting).
    auto answer = json::object();
    for (const auto& m : lazy_modules) {
        const json::json_pointer ptr{std::string(m.pointer)};
        // A leaf is whatever is not an object (Meteor's client sends 1); an object there is a
        // directory the client thinks exists, not a module request.
        if (tree.contains(ptr) && !tree.at(ptr).is_object()) {
            answer[ptr] = module_source(node.options.id, m);
        }
    }
    reply rep;
    rep.fields.set(http::field::content_type, "application/json");
    rep.fields.set(http::field::access_control_allow_origin, "*");
    // Replace rather than throw on invalid UTF-8: node ids are not checked here (demo-node checks
    // them, the tests may not).
    rep.owned = answer.dump(-1, ' ', false, json::error_handler_t::replace);
    return rep;
}

reply feedback_reply() {
    reply rep;
    rep.fields.set(http::field::content_type, "application/json");
    rep.fields.set(http::field::cache_control, "no-store");
    rep.owned = R"({"status":"ok"})";
    return rep;
}

}  // namespace bcp::demo::detail
