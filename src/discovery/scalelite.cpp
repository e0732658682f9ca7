#include "discovery/scalelite.hpp"

#include "config/values.hpp"

#include <algorithm>

namespace bcp::discovery {
namespace {

bool is_ip_literal(const std::string& host) {
    if (host.find(':') != std::string::npos) {
        return true;  // IPv6 (origin keeps it without brackets)
    }
    int dots = 0;
    for (const char c : host) {
        if (c == '.') {
            ++dots;
        } else if (c < '0' || c > '9') {
            return false;
        }
    }
    return dots == 3;
}

std::string field(const std::vector<std::pair<std::string, std::string>>& fields,
                  std::string_view name) {
    for (const auto& [n, v] : fields) {
        if (n == name) {
            return v;
        }
    }
    return {};
}

bool has_field(const std::vector<std::pair<std::string, std::string>>& fields,
               std::string_view name) {
    return std::any_of(fields.begin(), fields.end(),
                       [&](const auto& f) { return f.first == name; });
}

}  // namespace

std::optional<origin> origin_of_api_url(const std::string& url, std::string& why) {
    const auto scheme_end = url.find("://");
    if (scheme_end == std::string::npos) {
        why = "url '" + url + "' is not an http(s) URL";
        return std::nullopt;
    }
    const auto path_start = url.find('/', scheme_end + 3);
    const std::string base = url.substr(0, path_start);
    const std::string path = path_start == std::string::npos ? "" : url.substr(path_start);
    if (path != "/bigbluebutton/api" && path != "/bigbluebutton/api/") {
        why = "url '" + url + "' does not end in /bigbluebutton/api (a BBB server's API URL)";
        return std::nullopt;
    }
    auto parsed = parse_origin(base);
    if (!parsed.value) {
        why = "url '" + url + "': " + parsed.message;
        return std::nullopt;
    }
    return std::move(*parsed.value);
}

std::optional<std::string> node_id_for(const std::string& scalelite_id, const origin& upstream,
                                       const std::map<std::string, std::string>& ids,
                                       std::string& why) {
    std::string id;
    if (const auto it = ids.find(scalelite_id); it != ids.end()) {
        id = it->second;
    } else if (const auto by_host = ids.find(upstream.host); by_host != ids.end()) {
        id = by_host->second;
    } else if (is_ip_literal(upstream.host)) {
        id = scalelite_id;
    } else {
        id = upstream.host.substr(0, upstream.host.find('.'));
    }
    if (!config::is_path_segment(id)) {  // the rule for node ids in the configuration
        why = "node id '" + id +
              "' is not a path segment (letters, digits, '.', '_', '-'); map it in "
              "discovery.scalelite.ids";
        return std::nullopt;
    }
    return id;
}

derivation derive_nodes(const std::vector<scalelite_record>& records,
                        const std::map<std::string, std::string>& ids) {
    derivation out;
    for (const auto& r : records) {
        const auto skip = [&](std::string reason) {
            out.skipped.push_back({r.id, std::move(reason)});
        };
        if (!r.fields) {
            skip(r.problem.empty() ? "server:" + r.id + " is missing or not a hash" : r.problem);
            continue;
        }
        if (!has_field(*r.fields, "url")) {
            skip("no url");
            continue;
        }
        std::string why;
        auto upstream = origin_of_api_url(field(*r.fields, "url"), why);
        if (!upstream) {
            skip(why);
            continue;
        }
        auto id = node_id_for(r.id, *upstream, ids, why);
        if (!id) {
            skip(why);
            continue;
        }
        discovered_node n;
        n.id = std::move(*id);
        n.url = upstream->to_string();
        n.upstream = std::move(*upstream);
        n.scalelite_id = r.id;
        n.state = field(*r.fields, "state");
        n.online = field(*r.fields, "online") == "true";
        out.nodes.push_back(std::move(n));
    }
    std::sort(out.nodes.begin(), out.nodes.end(),
              [](const auto& a, const auto& b) { return a.id < b.id; });
    // Two servers under one id: serving either could send a meeting's users to the wrong server.
    std::vector<discovered_node> kept;
    for (std::size_t i = 0; i < out.nodes.size();) {
        std::size_t j = i + 1;
        while (j < out.nodes.size() && out.nodes[j].id == out.nodes[i].id) {
            ++j;
        }
        if (j - i == 1) {
            kept.push_back(std::move(out.nodes[i]));
        } else {
            for (std::size_t k = i; k < j; ++k) {
                out.skipped.push_back({out.nodes[k].scalelite_id,
                                       "node id '" + out.nodes[k].id + "' is also derived for " +
                                           std::to_string(j - i - 1) +
                                           " other server(s); map them apart in "
                                           "discovery.scalelite.ids"});
            }
        }
        i = j;
    }
    out.nodes = std::move(kept);
    return out;
}

std::vector<std::vector<std::string>> hgetall_commands(const std::string& namespace_prefix,
                                                       const std::vector<std::string>& ids) {
    std::vector<std::vector<std::string>> out;
    out.reserve(ids.size());
    for (const auto& id : ids) {
        out.push_back({"HGETALL", namespace_prefix + ":server:" + id});
    }
    return out;
}

std::optional<std::vector<std::string>> member_ids(const redis_reply& smembers) {
    if (smembers.type != redis_reply::kind::array) {
        return std::nullopt;
    }
    std::vector<std::string> out;
    for (const auto& e : smembers.elements) {
        if (e.type != redis_reply::kind::string) {
            return std::nullopt;
        }
        out.push_back(e.text);
    }
    std::sort(out.begin(), out.end());
    return out;
}

std::vector<scalelite_record> records_from(const std::vector<std::string>& ids,
                                           const std::vector<redis_reply>& hgetall) {
    std::vector<scalelite_record> out;
    for (std::size_t i = 0; i < ids.size(); ++i) {
        scalelite_record r;
        r.id = ids[i];
        if (i < hgetall.size() && hgetall[i].type == redis_reply::kind::array &&
            hgetall[i].elements.size() % 2 == 0 && !hgetall[i].elements.empty()) {
            std::vector<std::pair<std::string, std::string>> fields;
            bool strings = true;
            for (std::size_t k = 0; k + 1 < hgetall[i].elements.size(); k += 2) {
                const auto& name = hgetall[i].elements[k];
                const auto& value = hgetall[i].elements[k + 1];
                strings = strings && name.type == redis_reply::kind::string &&
                          value.type == redis_reply::kind::string;
                fields.emplace_back(name.text, value.text);
            }
            if (strings) {
                r.fields = std::move(fields);
            }
        }
        out.push_back(std::move(r));
    }
    return out;
}

}  // namespace bcp::discovery
