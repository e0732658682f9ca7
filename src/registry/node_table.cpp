#include "registry/node_table.hpp"

#include <algorithm>

namespace bcp::registry {

bool node_entry::has_mount(std::string_view mount) const {
    return std::find(mounts.begin(), mounts.end(), mount) != mounts.end();
}

const post_rule* node_entry::find_post(std::string_view mount, std::string_view rest) const {
    if (post.empty() || !has_mount(mount)) {
        return nullptr;
    }
    for (const auto& rule : post) {
        if (rule.path == rest) {
            return &rule;
        }
    }
    return nullptr;
}

node_table::node_table(const std::vector<config::node>& nodes) : node_table(nodes, nullptr) {}

node_table::node_table(const std::vector<config::node>& nodes, const node_table* previous) {
    nodes_.reserve(nodes.size());
    for (const auto& n : nodes) {
        node_entry e;
        e.id = n.id;
        e.upstream = n.upstream;
        e.origin_text = n.upstream.to_string();
        e.authority = n.upstream.authority();
        e.mounts = n.mounts;
        e.source = n.source;
        e.pool_key = n.id + " " + e.origin_text;
        for (const auto& path : n.post.paths) {
            const bool cached =
                std::find(n.post.cached.begin(), n.post.cached.end(), path) != n.post.cached.end();
            e.post.push_back({path, cached});
        }
        e.post_max_body = n.post.max_body_size;
        e.post_cache_validity = n.post.cache_validity;
        const node_entry* before = previous != nullptr ? previous->find(n.id) : nullptr;
        if (before != nullptr && before->pool_key == e.pool_key) {
            e.health = before->health;
            e.health->set_options(n.health);
        } else {
            e.health = std::make_shared<health::node_health>(n.id, n.health);
        }
        nodes_.push_back(std::move(e));
    }
    std::sort(nodes_.begin(), nodes_.end(),
              [](const node_entry& a, const node_entry& b) { return a.id < b.id; });
}

const node_entry* node_table::find(std::string_view id) const {
    auto it =
        std::lower_bound(nodes_.begin(), nodes_.end(), id,
                         [](const node_entry& e, std::string_view key) { return e.id < key; });
    if (it == nodes_.end() || it->id != id) {
        return nullptr;
    }
    return &*it;
}

}  // namespace bcp::registry
