// The config loader: any text → load_string never crashes or throws, every diagnostic names the
// source and (except for an empty document) a line.
#include "config/config.hpp"
#include "entries.hpp"

#include <set>

namespace bcp::fuzz {

void config_loader(const std::uint8_t* data, std::size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    const auto result = config::load_string(text, "fuzz.yaml", "/nonexistent", false);
    if (!result.ok()) {
        expect(!result.diagnostics.empty(), "a refused config has diagnostics");
        for (const auto& d : result.diagnostics) {
            const std::string s = d.to_string();
            expect(d.where.file == "fuzz.yaml", "diagnostic names the source", s);
            expect(d.where.line > 0 || d.message.starts_with("the configuration is empty"),
                   "diagnostic carries a line", s);
            expect(!d.message.empty(), "diagnostic has a message", s);
            expect(!d.message.starts_with("internal error"), "no internal error while loading", s);
        }
        return;
    }
    expect(result.diagnostics.empty(), "an accepted config has no diagnostics");
    const auto& cfg = *result.config;
    expect(!cfg.listen.empty() && !cfg.nodes.empty(), "listeners and nodes present");
    std::set<std::string> ids;
    for (const auto& n : cfg.nodes) {
        expect(!n.id.empty() && ids.insert(n.id).second, "node ids unique and non-empty", n.id);
        expect(n.id.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                                      "0123456789._-") == std::string::npos,
               "node id charset", n.id);
        expect(n.id != "." && n.id != "..", "node id is not a dot segment", n.id);
        expect(cfg.find_node(n.id) == &n, "find_node finds the node", n.id);
        expect(!n.mounts.empty(), "every node has a mount", n.id);
        expect(n.where.line > 0, "node location known", n.id);
    }
}

}  // namespace bcp::fuzz
