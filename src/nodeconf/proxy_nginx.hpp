#pragma once
// `bbb-cluster-proxy nginx-config`: the proxy side as an nginx configuration, for operators who
// keep nginx as their proxy. A pure function of the same YAML `serve` reads. The output goes in
// nginx's http context (e.g. /etc/nginx/conf.d/bbb-cluster-proxy.conf).
//
// This is the one place nodeconf depends on config/ (a deliberate edge, see CMakeLists.txt): the
// proxy's own configuration is the input.

#include "config/config.hpp"

#include <string>

namespace bcp::nodeconf {

struct nginx_config_options {
    /// CA bundle used when upstream.ca_file is empty (Debian's system bundle).
    std::string system_ca_bundle = "/etc/ssl/certs/ca-certificates.crt";
};

/// One upstream block (keepalive) per node, one `location /<id>/<mount>/` per node and mount
/// (prefix match, never a regex), TLS to the nodes with SNI and verification, WebSocket headers
/// only for upgrade requests, X-Forwarded-*, and `location / { return 404; }`.
std::string proxy_nginx_config(const config::proxy_config& cfg,
                               const nginx_config_options& options = {});

}  // namespace bcp::nodeconf
