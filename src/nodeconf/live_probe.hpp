#pragma once
// `node check --live`: probes over HTTPS that the pieces fit together from a browser's point of
// view. Five probes:
//   1. the node serves /<id>/html5client/ and the page names that base path;
//   2. the proxy serves the same page at the same path;
//   3. the proxy sends the page's first script or stylesheet compressed to a browser that
//      accepts br, zstd and gzip (retried twice a second apart: a cold fill may come first);
//   4. bbb-web answers a CORS request from the proxy origin with
//      Access-Control-Allow-Origin: <proxy>;
//   5. on BBB 2.x (Meteor), the proxy passes the client's dynamic-import POST
//      (<proxy>/<id>/html5client/__meteor__/dynamic-import/fetch) to the node; skipped on 3.0.
// Certificates are verified (system trust store, or `ca_file`) with SNI, as a browser would.
// Against real servers it needs a network and real certificates; the unit tests run it against
// local fake servers (docs/node-setup.md).

#include "nodeconf/pipeline.hpp"

#include <chrono>
#include <map>
#include <string>
#include <string_view>
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

/// POST https://<o>/<target> with `body` (Content-Length set) and extra request headers; errors
/// as for https_get.
expected<http_response> https_post(const origin& o, const std::string& target,
                                   const std::map<std::string, std::string>& headers,
                                   const std::string& body, std::chrono::seconds timeout,
                                   const std::string& ca_file = {});

struct probe_result {
    std::string name;
    bool ok = false;
    std::string detail;
    std::string fix;
    bool skipped = false;  ///< not applicable to this node (ok is true too; detail says why)
};

/// Where BBB 2.x's client loads its lazy code, below /<id>/html5client.
inline constexpr std::string_view meteor_dynamic_import_path = "/__meteor__/dynamic-import/fetch";

/// Whether the node runs BBB 2.x's Meteor client: the detected version decides when known (2.x
/// yes, 3.0 and later no); an unknown version (major 0) leaves it to the client page, which a
/// Meteor server fills with `__meteor_runtime_config__`.
bool meteor_client(const bbb_version& v, std::string_view page);

/// Probe 5's verdict on the answer to the dynamic-import POST sent to `target` through the proxy:
/// ok on 2xx; 405 means the proxy refuses POST there (the fix names post.paths); other statuses
/// and transport errors are named.
probe_result judge_dynamic_import(const expected<http_response>& answer, const std::string& target);

std::vector<probe_result> live_probe(const settings& s, std::chrono::seconds timeout,
                                     const std::string& ca_file = {});

}  // namespace bcp::nodeconf
