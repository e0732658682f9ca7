#pragma once
// Scalelite's server registry as proxy nodes (issue 17). Scalelite keeps, under its namespace
// prefix (default "scalelite"), a set `servers` of server ids and a hash `server:<id>` per server
// (`url` like https://bbb-01.example.com/bigbluebutton/api, `secret`, `state`, `online`, ...).
// Every server in the set is routed whatever its state and online flag: cordoned and disabled
// servers still host running meetings. This file is pure: the poller (redis.hpp) reads the
// records, these functions decide which nodes they are and why a record is skipped.

#include "core/origin.hpp"
#include "discovery/redis.hpp"

#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace bcp::discovery {

/// One server as read from Redis: its id and its hash's fields (nullopt when the key was not a
/// hash or could not be read: such a record is skipped, never guessed at).
struct scalelite_record {
    std::string id;
    std::optional<std::vector<std::pair<std::string, std::string>>> fields;
    std::string problem;  ///< without fields: why (empty: "server:<id> is missing or not a hash")
};

/// A server that becomes a node.
struct discovered_node {
    std::string id;            ///< the node id: the first path segment on the proxy
    std::string url;           ///< the node's origin, "https://bbb-01.example.com"
    origin upstream;           ///< parsed url
    std::string scalelite_id;  ///< the record it came from
    std::string state;         ///< Scalelite's state ("enabled", "cordoned", "disabled", or "")
    bool online = false;       ///< Scalelite's online flag (informational: routing ignores it)
};

/// A record that does not become a node, with the reason for the log and `discovery test`.
struct skipped_record {
    std::string scalelite_id;
    std::string reason;
};

struct derivation {
    std::vector<discovered_node> nodes;  ///< sorted by id
    std::vector<skipped_record> skipped;
};

/// The node id a server gets: `ids[scalelite id]`, else `ids[url host]`, else the first DNS label
/// of the URL's host ("bbb-01.example.com" → "bbb-01": what the BBB docs, Scalelite setups and
/// `node apply --node-id` use), or the Scalelite id when the host is an IP literal. Lower case
/// as Scalelite stores hosts; nullopt when the result is not a valid node id (`why` says so).
std::optional<std::string> node_id_for(const std::string& scalelite_id, const origin& upstream,
                                       const std::map<std::string, std::string>& ids,
                                       std::string& why);

/// The node's origin from a Scalelite `url`: http(s), a host, an optional port, and the path
/// `/bigbluebutton/api` (with or without a trailing '/'). nullopt with `why` for anything else
/// (another path, a query, userinfo, another scheme).
std::optional<origin> origin_of_api_url(const std::string& url, std::string& why);

/// Every record that becomes a node; two records that map to one id are both skipped (neither is
/// guessed to be the right one), and so is every record whose fields are missing or invalid.
derivation derive_nodes(const std::vector<scalelite_record>& records,
                        const std::map<std::string, std::string>& ids);

/// The commands of one poll after SMEMBERS: one HGETALL per id, to send as one pipeline.
std::vector<std::vector<std::string>> hgetall_commands(const std::string& namespace_prefix,
                                                       const std::vector<std::string>& ids);

/// Records from the SMEMBERS reply and the HGETALL replies (in the order of `ids`). A reply of
/// the wrong type (an error such as WRONGTYPE, or not an even list of strings) leaves the record
/// without fields. nullopt when the SMEMBERS reply itself is not a list of strings.
std::optional<std::vector<std::string>> member_ids(const redis_reply& smembers);
std::vector<scalelite_record> records_from(const std::vector<std::string>& ids,
                                           const std::vector<redis_reply>& hgetall);

}  // namespace bcp::discovery
