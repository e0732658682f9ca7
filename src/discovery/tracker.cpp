#include "discovery/tracker.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>

namespace bcp::discovery {
namespace {

bool same_node(const discovered_node& a, const discovered_node& b) {
    return a.id == b.id && a.url == b.url;
}

long long to_seconds(tracker::clock::time_point t) {
    return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
}

}  // namespace

bool tracker::observe(const std::vector<discovered_node>& now_present, clock::time_point now) {
    if (now_present.empty() && !items_.empty() && !pending_empty_) {
        pending_empty_ = true;  // believed when the next read is empty too
        return expire(now);
    }
    pending_empty_ = false;
    const auto before = table();
    std::vector<item> next;
    next.reserve(now_present.size() + items_.size());
    for (const auto& n : now_present) {
        next.push_back({n, std::nullopt});
    }
    // Nodes that went: kept, with the time they were first missed, while their grace lasts.
    for (const auto& old : items_) {
        const bool present = std::any_of(now_present.begin(), now_present.end(),
                                         [&](const auto& n) { return n.id == old.node.id; });
        if (!present) {
            next.push_back({old.node, old.gone_since.value_or(now)});
        }
    }
    std::sort(next.begin(), next.end(),
              [](const item& a, const item& b) { return a.node.id < b.node.id; });
    items_ = std::move(next);
    expire(now);
    const auto after = table();
    return !std::equal(before.begin(), before.end(), after.begin(), after.end(), same_node);
}

bool tracker::tick(clock::time_point now) {
    return expire(now);
}

bool tracker::expire(clock::time_point now) {
    const auto before = items_.size();
    std::erase_if(items_,
                  [&](const item& i) { return i.gone_since && now - *i.gone_since >= grace_; });
    return items_.size() != before;
}

std::vector<discovered_node> tracker::table() const {
    std::vector<discovered_node> out;
    out.reserve(items_.size());
    for (const auto& i : items_) {
        out.push_back(i.node);
    }
    return out;
}

std::vector<tracker::leaving> tracker::in_grace() const {
    std::vector<leaving> out;
    for (const auto& i : items_) {
        if (i.gone_since) {
            out.push_back({i.node.id, *i.gone_since});
        }
    }
    return out;
}

std::string tracker::to_json() const {
    auto nodes = nlohmann::json::array();
    for (const auto& i : items_) {
        nlohmann::json n{{"id", i.node.id},
                         {"url", i.node.url},
                         {"scalelite_id", i.node.scalelite_id},
                         {"state", i.node.state},
                         {"online", i.node.online}};
        if (i.gone_since) {
            n["gone_since"] = to_seconds(*i.gone_since);
        }
        nodes.push_back(std::move(n));
    }
    return nlohmann::json{{"version", 1}, {"nodes", std::move(nodes)}}.dump(2) + "\n";
}

bool tracker::from_json(const std::string& text, std::string& error) {
    const auto j = nlohmann::json::parse(text, nullptr, false);
    if (j.is_discarded() || !j.is_object() || j.value("version", 0) != 1 || !j.contains("nodes") ||
        !j["nodes"].is_array()) {
        error = "not a snapshot of discovered nodes (version 1)";
        return false;
    }
    std::vector<item> restored;
    for (const auto& n : j["nodes"]) {
        if (!n.is_object() || !n.contains("id") || !n["id"].is_string() || !n.contains("url") ||
            !n["url"].is_string()) {
            error = "a node without id or url";
            return false;
        }
        item i;
        i.node.id = n["id"].get<std::string>();
        i.node.url = n["url"].get<std::string>();
        auto parsed = parse_origin(i.node.url);
        if (!parsed.value) {
            error = "node " + i.node.id + ": url " + parsed.message;
            return false;
        }
        i.node.upstream = std::move(*parsed.value);
        i.node.scalelite_id = n.value("scalelite_id", "");
        i.node.state = n.value("state", "");
        i.node.online = n.value("online", false);
        if (n.contains("gone_since") && n["gone_since"].is_number_integer()) {
            i.gone_since =
                clock::time_point(std::chrono::seconds(n["gone_since"].get<long long>()));
        }
        restored.push_back(std::move(i));
    }
    std::sort(restored.begin(), restored.end(),
              [](const item& a, const item& b) { return a.node.id < b.node.id; });
    items_ = std::move(restored);
    pending_empty_ = false;
    return true;
}

}  // namespace bcp::discovery
