#pragma once
// `node check --live`: probes over HTTPS that the pieces fit together from a browser's point of
// view. Four probes:
//   1. the node serves /<id>/html5client/ and the page names that base path;
//   2. the proxy serves the same page at the same path;
//   3. the proxy sends the page's first script or stylesheet compressed to a browser that
//      accepts br, zstd and gzip (retried twice a second apart: a cold fill may come first);
//   4. bbb-web answers a CORS request from the proxy origin with
//      Access-Control-Allow-Origin: <proxy>.
// Certificates are verified (system trust store, or `ca_file`) with SNI, as a browser would.
// Not part of the unit tests (it needs a network and real certificates); see docs/node-setup.md.

#include "nodeconf/pipeline.hpp"

#include <chrono>
#include <map>
#include <string>
#include <vector>

namespace bcp::nodeconf {

struct http_response {
    int status = 0;
    std::map<std::string, std::string> headers;  ///< names lower-cased
    std::string body;
};

/// GET https://<o>/<target> with extra request headers. Errors (DNS, TCP, TLS, timeout) come back
/// as a problem with the reason.
expected<http_response> https_get(const origin& o, const std::string& target,
                                  const std::map<std::string, std::string>& headers,
                                  std::chrono::seconds timeout, const std::string& ca_file = {});

struct probe_result {
    std::string name;
    bool ok = false;
    std::string detail;
    std::string fix;
};

std::vector<probe_result> live_probe(const settings& s, std::chrono::seconds timeout,
                                     const std::string& ca_file = {});

}  // namespace bcp::nodeconf
