#pragma once
// Scalelite's server API as the discovery source (issue 17), for clusters whose Redis the proxy
// cannot reach: `GET <api_url>/getServers?checksum=<hex>` returns the registry as JSON, the same
// records Redis holds (Scalelite's Api::ServersController, v1.6 and later). The checksum is
// Scalelite's load-balancer checksum: the digest of the call's name, its query without the
// checksum (empty here) and LOADBALANCER_SECRET. An answer becomes the same scalelite_records the
// Redis source reads, so the same rules (scalelite.hpp) decide which are nodes.

#include "config/scalelite_api.hpp"
#include "discovery/scalelite.hpp"
#include "discovery/source.hpp"

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace bcp::discovery {

/// Lower-case hex digest of `call + query + secret`, as Scalelite's verify_checksum computes it.
std::string api_checksum(std::string_view call, std::string_view query, std::string_view secret,
                         config::checksum_digest digest);

/// The request target of the getServers call: "<path>/getServers?checksum=<hex>".
std::string get_servers_target(const config::scalelite_api& api);

/// The records of a getServers answer: a JSON array of server objects (`id`, `url`, `state`,
/// `online` "online"/"offline", ...), sorted by id. Scalelite answers an empty registry with 404
/// and {"error": "No servers are configured"}: an empty list. A refused checksum (an XML
/// `checksumError`, which Scalelite sends with status 200) is an auth error; any other status or
/// body is an error naming it. An element that is not an object, or has no string `id` or a
/// non-string `url`, becomes a record without fields and with its problem, never a guess.
std::optional<std::vector<scalelite_record>> records_from_api(int status, std::string_view body,
                                                              source_error& error);

/// One getServers call (plain or TLS, within options' deadlines; one connection per call),
/// derived into nodes. nullopt with `error` on failure. `in_flight`, when given, points at the
/// call's stream while the request is sent and answered (nullptr otherwise), so an owner on
/// the same executor can close it to end the call at once.
awaitable<std::optional<derivation>> read_api(const config::scalelite_api& api,
                                              const source_options& options,
                                              const std::map<std::string, std::string>& ids,
                                              source_error& error,
                                              net::stream** in_flight = nullptr);

}  // namespace bcp::discovery
