#pragma once
// Responses the proxy generates itself (errors, refusals): small self-contained HTML pages with
// no external assets, never cached, and a text that tells a BBB user what happened.

#include <string>
#include <string_view>

namespace bcp::http {

struct local_reply_options {
    bool head_method = false;        ///< HEAD: headers only
    bool close = true;               ///< add Connection: close
    std::string_view node_id;        ///< named on 502/503/504 pages when set
    std::string_view extra_headers;  ///< complete "Name: value\r\n" lines to add (e.g. Allow)
};

/// The reason phrase for the statuses we generate ("Bad Gateway").
std::string_view reason_phrase(unsigned status);

/// A complete response (head and body) for `status`.
std::string make_local_reply(unsigned status, const local_reply_options& options);

}  // namespace bcp::http
