#pragma once
// The fake HTML5 client served by the simulated node (internal to demo/).
//
// The hashed assets are generated once per process, deterministically (no clock, no randomness),
// so every node in every process serves byte-identical files under the same names, like BBB
// nodes running the same version. Only the pages (index.html, guestWait, "/") are per node: they
// embed the node id, its own origin and the mount.

#include "demo/fake_node.hpp"

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace bcp::demo {

/// 32-bit FNV-1a over `bytes`.
std::uint32_t fnv1a32(std::string_view bytes);
/// fnv1a32 as 8 lower-case hex digits: the hash in asset file names and ETags.
std::string hash8(std::string_view bytes);

/// The four assets by role (all are elements of client_assets()).
const asset& app_bundle();     ///< app-<hash8>.js, ~2.5 MB, sets window.BBB_APP
const asset& vendor_bundle();  ///< vendor-<hash8>.js, a few KB, sets window.BBBVendor
const asset& stylesheet();     ///< style-<hash8>.css
const asset& logo();           ///< logo-<hash8>.svg

/// The index page for one node and mount. `origin` is the node's own origin (no trailing slash).
/// With client_kind::meteor it also has #lazy-status and the script that fills it by a Meteor
/// dynamic import (fake_node.hpp); the static page is the same as before that option existed.
std::string render_index_html(std::string_view id, std::string_view origin, std::string_view mount,
                              client_kind client = client_kind::static_client);
/// The guest lobby page (/<id>/<mount>/guestWait); fetches ./locale?locale=en.
std::string render_guest_html(std::string_view id, std::string_view mount);
/// The locale stub (/<id>/<mount>/locale?locale=xx). `locale` must already be sanitized.
std::string render_locale_json(std::string_view locale);
/// The node's own "/" page: "BBB node <id>" with links to the mounts.
std::string render_root_html(std::string_view id, const std::vector<std::string>& mounts);

/// JSON string literal (with quotes) for `text`; also escapes '<', '>' and '&' so the result is
/// safe inside an HTML <script> element.
std::string json_quote(std::string_view text);
/// `text` escaped for HTML element content and attribute values.
std::string html_escape(std::string_view text);

}  // namespace bcp::demo
