#include "nodeconf/profile.hpp"

namespace bcp::nodeconf {
namespace {

// Version bounds as ordinals (see bbb_version::ordinal).
constexpr int v(int major, int minor, int patch = 0) {
    return (major * 100 + minor) * 1000 + patch;
}
constexpr int v_end(int major, int minor) {
    return v(major, minor, 999);
}

constexpr version_range v24_27{v(2, 4), v_end(2, 7)};
constexpr version_range v24_30{v(2, 4), v_end(3, 0)};
constexpr version_range v24{v(2, 4), v_end(2, 4)};
constexpr version_range v25{v(2, 5), v_end(2, 5)};
constexpr version_range v25_30{v(2, 5), v_end(3, 0)};
constexpr version_range v26_27{v(2, 6), v_end(2, 7)};
constexpr version_range v26_30{v(2, 6), v_end(3, 0)};
constexpr version_range v30{v(3, 0), v_end(3, 0)};
// $bbb_cors_origin arrived in 3.0.28 (PR #25108). A "3.0" without patch level counts as the
// newest 3.0: setting the variable on an older 3.0 is harmless (nothing reads it there), while
// missing it on 3.0.28+ breaks slide preloading with 401s.
constexpr version_range v30_28{v(3, 0, 28), v_end(3, 0)};

constexpr std::string_view web_props = "/etc/bigbluebutton/bbb-web.properties";
constexpr std::string_view html5_yml = "/etc/bigbluebutton/bbb-html5.yml";
constexpr std::string_view etherpad = "/etc/bigbluebutton/etherpad.json";
constexpr std::string_view default_web = "/etc/default/bbb-web";
constexpr std::string_view web_dropin = "/etc/systemd/system/bbb-web.service.d/cluster.conf";
constexpr std::string_view front_dropin =
    "/etc/systemd/system/bbb-html5-frontend@.service.d/cluster.conf";
constexpr std::string_view back_dropin =
    "/etc/systemd/system/bbb-html5-backend@.service.d/cluster.conf";
constexpr std::string_view front_dropin_dir = "/etc/systemd/system/bbb-html5-frontend@.service.d";
constexpr std::string_view back_dropin_dir = "/etc/systemd/system/bbb-html5-backend@.service.d";
constexpr std::string_view gql_middleware = "/etc/bigbluebutton/bbb-graphql-middleware.yml";
constexpr std::string_view gql_env = "/etc/bigbluebutton/bbb-graphql-server.env";
constexpr std::string_view html5_snippet_24 = "/etc/bigbluebutton/nginx/bbb-html5.nginx";
constexpr std::string_view lb_snippet_24 = "/etc/bigbluebutton/nginx/loadbalancer.nginx";
constexpr std::string_view html5_snippet = "/usr/share/bigbluebutton/nginx/bbb-html5.nginx";
constexpr std::string_view lb_snippet = "/usr/share/bigbluebutton/nginx/loadbalancer.nginx";
constexpr std::string_view pkg_include_default = "/usr/share/bigbluebutton/include_default.nginx";
constexpr std::string_view overlay = paths::overlay;

constexpr std::string_view grails_cors =
    "-Dgrails.cors.enabled=true -Dgrails.cors.allowCredentials=true "
    "-Dgrails.cors.allowedOrigins={proxy}";

using enum action;

// clang-format off
const item table[] = {
    // --- bbb-web (/etc/bigbluebutton/bbb-web.properties overrides the packaged defaults) -------
    {"web.client-url", v24_27, web_props, property_set, "defaultHTML5ClientUrl",
     "{proxy}/{node}/html5client/join", "bbb-web",
     "join redirects must land on the proxy, under this node's prefix"},
    {"web.client-url", v30, web_props, property_set, "defaultHTML5ClientUrl",
     "{proxy}/{node}/html5client/", "bbb-web",
     "3.0's client has no /join route; it needs the trailing slash (#21130)"},
    {"web.presentation-url", v24_30, web_props, property_set, "presentationBaseURL",
     "{node_url}/bigbluebutton/presentation", "bbb-web",
     "slides are served by the node itself, not through the proxy"},
    {"web.cors-origin", v24_30, web_props, property_set, "accessControlAllowOrigin",
     "{proxy}", "bbb-web",
     "the client runs on the proxy origin and calls bbb-web cross-origin"},
    {"web.guest-wait-url", v24_27, web_props, property_set, "defaultGuestWaitURL",
     "{node_url}/{node}/html5client/guestWait", "bbb-web",
     "guest lobby: waiting guests poll the node, not the proxy (#14462)"},
    {"web.guest-wait-url-leftover", v30, web_props, property_remove, "defaultGuestWaitURL",
     "", "bbb-web",
     "3.0 has no guestWait page; a 2.x value left here breaks the guest lobby (#21132)"},
    {"web.graphql-websocket", v30, web_props, property_set, "graphqlWebsocketUrl",
     "wss://{node_host}/graphql", "bbb-web",
     "the 3.0 client must open its GraphQL socket on the node, not on the proxy"},
    {"web.graphql-api", v30, web_props, property_set, "graphqlApiUrl",
     "{node_url}/api/rest", "bbb-web",
     "the 3.0 client calls the REST actions on the node, not on the proxy"},

    // --- grails CORS for bbb-web (PR #18113) ---------------------------------------------------
    {"web.grails-cors", v26_27, default_web, env_java_options, "JDK_JAVA_OPTIONS",
     grails_cors, "bbb-web",
     "bbb-web answers CORS preflights for the proxy origin (#15436, #16542, #18113)"},
    {"web.grails-cors", v30, web_dropin, dropin_java_options, "JDK_JAVA_OPTIONS",
     grails_cors, "bbb-web",
     "3.0 starts bbb-web from systemd directly: the options go in a drop-in"},
    {"web.grails-cors-leftover", v30, default_web, env_java_options_remove, "JDK_JAVA_OPTIONS",
     grails_cors, "bbb-web",
     "a 2.x copy of the CORS options in /etc/default/bbb-web would drift from the drop-in"},

    // --- HTML5 client settings (/etc/bigbluebutton/bbb-html5.yml, under public:) ---------------
    {"html5.basename", v24_30, html5_yml, yaml_set, "public.app.basename",
     "/{node}/html5client", "@html5-settings", "the client lives under the node prefix"},
    {"html5.bbb-web-base", v24_30, html5_yml, yaml_set, "public.app.bbbWebBase",
     "{node_url}/bigbluebutton", "@html5-settings",
     "API calls go to the node's bbb-web, not to the proxy"},
    {"html5.learning-dashboard", v24_27, html5_yml, yaml_set, "public.app.learningDashboardBase",
     "{node_url}/learning-dashboard", "@html5-settings",
     "the learning dashboard is served by the node (#15910)"},
    {"html5.learning-dashboard", v30, html5_yml, yaml_set, "public.app.learningDashboardBase",
     "{node_url}/learning-analytics-dashboard", "@html5-settings",
     "3.0 renamed the dashboard path (#15910)"},
    {"html5.stun-turn", v24_30, html5_yml, yaml_set, "public.media.stunTurnServersFetchAddress",
     "{node_url}/bigbluebutton/api/stuns", "@html5-settings",
     "STUN/TURN servers are fetched from the node"},
    {"html5.sip-host", v24_30, html5_yml, yaml_set, "public.media.sip_ws_host",
     "{node_host}", "@html5-settings", "audio WebSocket goes straight to the node"},
    {"html5.sfu-url", v24_30, html5_yml, yaml_set, "public.kurento.wsUrl",
     "wss://{node_host}/bbb-webrtc-sfu", "@html5-settings",
     "webcams and screen sharing connect to the node's SFU"},
    {"html5.upload-endpoint", v24_30, html5_yml, yaml_set, "public.presentation.uploadEndpoint",
     "{node_url}/bigbluebutton/presentation/upload", "@html5-settings",
     "uploads go to the node that runs the meeting"},
    {"html5.notes-url", v24, html5_yml, yaml_set, "public.note.url",
     "{node_url}/pad", "@html5-settings", "shared notes (Etherpad) run on the node"},
    {"html5.pads-url", v25_30, html5_yml, yaml_set, "public.pads.url",
     "{node_url}/pad", "@html5-settings", "shared notes (Etherpad) run on the node; 2.5 renamed note.url"},
    {"html5.settings-storage", v26_30, html5_yml, yaml_set, "public.app.userSettingsStorage",
     "local", "@html5-settings",
     "settings live in local storage and survive moving between nodes"},
    {"html5.livekit-url", v30, html5_yml, yaml_set, "public.media.livekit.url",
     "wss://{node_host}/livekit", "@html5-settings", "LiveKit media connects to the node"},

    // --- Meteor services (2.x): ROOT_URL via drop-ins, never in /usr/lib/systemd/system --------
    {"html5.frontend-root-url", v24_27, front_dropin, dropin_env, "ROOT_URL",
     "https://127.0.0.1/{node}/html5client", "bbb-html5",
     "Meteor serves the client under the node prefix (start scripts keep a set ROOT_URL)"},
    {"html5.frontend-ddp-url", v24_27, front_dropin, dropin_env, "DDP_DEFAULT_CONNECTION_URL",
     "{node_url}/{node}/html5client", "bbb-html5",
     "the client's DDP WebSocket goes to the node"},
    {"html5.backend-root-url", v24_27, back_dropin, dropin_env, "ROOT_URL",
     "https://127.0.0.1/{node}/html5client", "bbb-html5",
     "Meteor serves the client under the node prefix (start scripts keep a set ROOT_URL)"},
    {"html5.backend-ddp-url", v24_27, back_dropin, dropin_env, "DDP_DEFAULT_CONNECTION_URL",
     "{node_url}/{node}/html5client", "bbb-html5",
     "the client's DDP WebSocket goes to the node"},
    {"html5.frontend-dropin-leftover", v30, front_dropin_dir, dropin_purge,
     "ROOT_URL DDP_DEFAULT_CONNECTION_URL", "", "",
     "3.0 has no Meteor services; 2.x drop-ins left here are stale (#19207)"},
    {"html5.backend-dropin-leftover", v30, back_dropin_dir, dropin_purge,
     "ROOT_URL DDP_DEFAULT_CONNECTION_URL", "", "",
     "3.0 has no Meteor services; 2.x drop-ins left here are stale (#19207)"},

    // --- nginx: 2.4 ships its snippets in /etc, 2.5 includes /usr/share directly: in place ----
    {"nginx.html5-locations", v24, html5_snippet_24, nginx_prefix_in_place, "", "", "nginx",
     "the node serves the client under /{node}/html5client (every location form)", true},
    {"nginx.loadbalancer-node", v24, lb_snippet_24, nginx_variable_in_place,
     "bbb_loadbalancer_node", "{proxy}", "nginx",
     "nginx adds CORS headers for the proxy origin (slides, API)", true},
    {"nginx.html5-locations", v25, html5_snippet, nginx_prefix_in_place, "", "", "nginx",
     "the node serves the client under /{node}/html5client (every location form)", true},
    {"nginx.loadbalancer-node", v25, lb_snippet, nginx_variable_in_place,
     "bbb_loadbalancer_node", "{proxy}", "nginx",
     "nginx adds CORS headers for the proxy origin (slides, API)", true},

    // --- nginx 2.6+: the site includes only /etc/bigbluebutton/nginx: copies there ------------
    {"nginx.html5-locations", v26_30, overlay, nginx_overlay_html5, html5_snippet, "", "nginx",
     "a prefixed copy of the package's html5 locations, safe from upgrades"},
    {"nginx.loadbalancer-node", v26_27, overlay, nginx_overlay_variable,
     "bbb_loadbalancer_node", "{proxy}", "nginx",
     "nginx adds CORS headers for the proxy origin (slides, API)"},
    {"nginx.cors-origin", v30_28, overlay, nginx_overlay_variable, "bbb_cors_origin",
     "{proxy}", "nginx", "3.0.28+ slide preloading fails with 401 without it (PR #25108)"},
    {"nginx.include-default", v26_30, paths::include_default, nginx_include_default,
     pkg_include_default, "", "nginx",
     "the package symlink would load the unprefixed originals next to our copies"},
    {"nginx.locale-redirect", v24_30, overlay, nginx_locale_redirect, "", "", "nginx",
     "guest lobby: the client asks /html5client/locale without prefix (#14462)"},

    // --- Etherpad compares cluster_proxies with the Origin header byte for byte ---------------
    {"etherpad.cluster-proxies", v24_30, etherpad, json_strings, "cluster_proxies", "{proxy}",
     "etherpad", "shared notes accept the proxy origin (#15022, #24952, #25194)"},

    // --- 3.0 GraphQL stack ----------------------------------------------------------------------
    {"graphql.middleware-origin", v30, gql_middleware, yaml_set,
     "server.authorized_cross_origin", "{proxy_host}", "bbb-graphql-middleware",
     "the GraphQL middleware accepts WebSockets opened by pages of the proxy (host only)"},
    {"graphql.hasura-cors", v30, gql_env, env_set, "HASURA_GRAPHQL_CORS_DOMAIN", "{proxy}",
     "bbb-graphql-server", "Hasura answers CORS for the proxy origin (scheme included)"},
};

const required_file required[] = {
    {v24, html5_snippet_24, "the html5 nginx snippet of bbb-html5 2.4"},
    {v24, lb_snippet_24, "the loadbalancer nginx snippet of bbb-web 2.4"},
    {v25, html5_snippet, "the html5 nginx snippet of bbb-html5"},
    {v25, lb_snippet, "the loadbalancer nginx snippet of bbb-web"},
    {v26_30, html5_snippet, "the html5 nginx snippet of bbb-html5"},
    {v26_30, pkg_include_default, "the package's include_default.nginx (bbb-config)"},
    {v24_27, "/usr/lib/systemd/system/bbb-html5-frontend@.service", "the Meteor frontend unit"},
    {v24_27, "/usr/lib/systemd/system/bbb-html5-backend@.service", "the Meteor backend unit"},
};
// clang-format on

}  // namespace

std::vector<const item*> items_for(const bbb_version& ver) {
    std::vector<const item*> out;
    for (const auto& i : table) {
        if (i.versions.contains(ver)) {
            out.push_back(&i);
        }
    }
    return out;
}

std::vector<const required_file*> required_for(const bbb_version& ver) {
    std::vector<const required_file*> out;
    for (const auto& r : required) {
        if (r.versions.contains(ver)) {
            out.push_back(&r);
        }
    }
    return out;
}

std::string expand(std::string_view templ, const values& val) {
    std::string out;
    for (std::size_t i = 0; i < templ.size(); ++i) {
        if (templ[i] == '{') {
            const auto close = templ.find('}', i);
            const std::string_view name = templ.substr(i + 1, close - i - 1);
            const std::string* v = name == "proxy"        ? &val.proxy
                                   : name == "proxy_host" ? &val.proxy_host
                                   : name == "node"       ? &val.node
                                   : name == "node_url"   ? &val.node_url
                                   : name == "node_host"  ? &val.node_host
                                                          : nullptr;
            if (v != nullptr && close != std::string_view::npos) {
                out += *v;
                i = close;
                continue;
            }
        }
        out += templ[i];
    }
    return out;
}

std::string restart_service(std::string_view restart, const bbb_version& ver) {
    if (restart == "@html5-settings") {
        // 2.x: the Meteor server reads bbb-html5.yml at start. 3.0 has no html5 server; bbb-web
        // serves the merged client settings.
        return ver.major >= 3 ? "bbb-web" : "bbb-html5";
    }
    return std::string(restart);
}

}  // namespace bcp::nodeconf
