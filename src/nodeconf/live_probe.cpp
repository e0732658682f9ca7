#include "nodeconf/live_probe.hpp"

#include "core/asio.hpp"
#include "core/coroutine_warnings.hpp"
#include "core/text.hpp"

#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

#include <algorithm>
#include <cctype>
#include <string_view>
#include <thread>

namespace bcp::nodeconf {
namespace {

namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = boost::asio::ssl;

awaitable<void> fetch(ssl::context& tls, origin o, http::verb method, std::string target,
                      std::map<std::string, std::string> headers, std::string body,
                      std::chrono::seconds timeout, expected<http_response>& out) {
    auto ex = co_await asio::this_coro::executor;
    auto fail = [&](const std::string& step, const error_code& ec) {
        out = problem{{}, 0, o.to_string() + target + ": " + step + ": " + ec.message()};
    };
    tcp::resolver resolver(ex);
    auto [rec, endpoints] =
        co_await resolver.async_resolve(o.host, std::to_string(o.port), use_nothrow);
    if (rec) {
        fail("resolve", rec);
        co_return;
    }
    beast::ssl_stream<beast::tcp_stream> stream(ex, tls);
    // SNI and host-name verification, as a browser does.
    SSL_set_tlsext_host_name(stream.native_handle(), o.host.c_str());
    stream.set_verify_mode(ssl::verify_peer);
    stream.set_verify_callback(ssl::host_name_verification(o.host));
    beast::get_lowest_layer(stream).expires_after(timeout);
    auto [cec, ep] = co_await beast::get_lowest_layer(stream).async_connect(endpoints, use_nothrow);
    (void)ep;
    if (cec) {
        fail("connect", cec);
        co_return;
    }
    auto [hec] = co_await stream.async_handshake(ssl::stream_base::client, use_nothrow);
    if (hec) {
        fail("TLS handshake", hec);
        co_return;
    }
    http::request<http::string_body> req{method, target, 11};
    req.set(http::field::host, o.authority());
    req.set(http::field::user_agent, "bbb-cluster-proxy node check --live");
    for (const auto& [name, value] : headers) {
        req.set(name, value);
    }
    req.body() = std::move(body);
    req.prepare_payload();  // Content-Length for a POST; nothing for a body-less GET
    auto [wec, wn] = co_await http::async_write(stream, req, use_nothrow);
    (void)wn;
    if (wec) {
        fail("send", wec);
        co_return;
    }
    beast::flat_buffer buffer;
    http::response_parser<http::string_body> parser;
    parser.body_limit(16 * 1024 * 1024);
    auto [rdec, rn] = co_await http::async_read(stream, buffer, parser, use_nothrow);
    (void)rn;
    if (rdec) {
        fail("read", rdec);
        co_return;
    }
    http_response r;
    r.status = static_cast<int>(parser.get().result_int());
    for (const auto& f : parser.get()) {
        r.headers[ascii_lower(f.name_string())] = std::string(f.value());
    }
    r.body = parser.get().body();
    out = std::move(r);
    // A polite shutdown is not worth waiting for on a probe.
}

// The first script or stylesheet the page loads from under `base` (else the page itself).
std::string first_asset(const std::string& page, const std::string& base) {
    for (const std::string attr : {"src=\"", "href=\""}) {
        for (std::size_t at = page.find(attr); at != std::string::npos;
             at = page.find(attr, at + 1)) {
            const auto start = at + attr.size();
            const auto end = page.find('"', start);
            if (end == std::string::npos) {
                break;
            }
            std::string url = page.substr(start, end - start);
            const auto path = url.substr(0, url.find_first_of("?#"));
            if (!path.ends_with(".js") && !path.ends_with(".css")) {
                continue;
            }
            if (url.starts_with(base + "/")) {
                return url;
            }
            if (!url.empty() && url[0] != '/' && url.find("://") == std::string::npos) {
                // Relative to the page (/<id>/html5client/); "./x.js" as the BBB and demo pages
                // write it (the proxy refuses "." segments, so the probe must resolve them).
                while (url.starts_with("./")) {
                    url.erase(0, 2);
                }
                return base + "/" + url;
            }
        }
    }
    return base + "/";
}

std::string coding_of(const http_response& r) {
    const auto it = r.headers.find("content-encoding");
    if (it == r.headers.end() || ascii_lower(it->second) == "identity") {
        return {};
    }
    return it->second;
}

expected<http_response> https_request(const origin& o, http::verb method, const std::string& target,
                                      const std::map<std::string, std::string>& headers,
                                      const std::string& body, std::chrono::seconds timeout,
                                      const std::string& ca_file) {
    ssl::context tls(ssl::context::tls_client);
    error_code ec;
    if (ca_file.empty()) {
        tls.set_default_verify_paths(ec);
    } else {
        tls.load_verify_file(ca_file, ec);
    }
    if (ec) {
        return problem{ca_file, 0, "cannot load trusted certificates: " + ec.message()};
    }
    asio::io_context io;
    expected<http_response> out = problem{{}, 0, "no answer"};
    asio::co_spawn(io, fetch(tls, o, method, target, headers, body, timeout, out), asio::detached);
    io.run();
    return out;
}

std::string dynamic_import_probe_name(const std::string& target) {
    return "proxy passes the Meteor dynamic import (POST " + target + ")";
}

}  // namespace

expected<http_response> https_get(const origin& o, const std::string& target,
                                  const std::map<std::string, std::string>& headers,
                                  std::chrono::seconds timeout, const std::string& ca_file) {
    return https_request(o, http::verb::get, target, headers, {}, timeout, ca_file);
}

expected<http_response> https_post(const origin& o, const std::string& target,
                                   const std::map<std::string, std::string>& headers,
                                   const std::string& body, std::chrono::seconds timeout,
                                   const std::string& ca_file) {
    return https_request(o, http::verb::post, target, headers, body, timeout, ca_file);
}

bool meteor_client(const bbb_version& v, std::string_view page) {
    if (v.major != 0) {
        return v.major < 3;
    }
    return page.find("__meteor_runtime_config__") != std::string_view::npos;
}

probe_result judge_dynamic_import(const expected<http_response>& answer,
                                  const std::string& target) {
    probe_result r{dynamic_import_probe_name(target), false, {}, {}};
    if (!answer) {
        r.detail = answer.error().to_string();
        r.fix = "is the proxy running?";
        return r;
    }
    const int status = answer->status;
    r.detail = "HTTP " + std::to_string(status);
    if (status >= 200 && status < 300) {
        r.ok = true;
        r.detail += " (" + std::to_string(answer->body.size()) + " bytes)";
        return r;
    }
    switch (status) {
        case 405:
            r.detail += ": the proxy refuses POST there";
            r.fix =
                "the proxy refuses POST there: add __meteor__/dynamic-import/fetch to post.paths "
                "(docs/config-reference.md \"post\"); without it BBB 2.x clients miss their "
                "lazily loaded code";
            break;
        case 404:
            r.fix =
                "the proxy does not route this path, or the node's html5client is not the Meteor "
                "client: check the node's mounts in the proxy config and the BBB version";
            break;
        case 411:
        case 413:
        case 415:
            r.detail += status == 411   ? " Length Required"
                        : status == 413 ? " Content Too Large"
                                        : " Unsupported Media Type";
            r.fix =
                "the proxy refuses a 2-byte text/plain POST: check post.max_body_size and "
                "the proxy's version (docs/config-reference.md \"post\")";
            break;
        case 502:
        case 503:
        case 504:
            r.fix = "the proxy did not get an answer from the node: is bbb-html5 running there?";
            break;
        default:
            r.fix =
                "the node or the proxy answered the dynamic import with an error: see their "
                "logs (bbb-html5 on the node)";
            break;
    }
    return r;
}

std::vector<probe_result> live_probe(const settings& s, std::chrono::seconds timeout,
                                     const std::string& ca_file) {
    std::vector<probe_result> out;
    const std::string base = "/" + s.node_id + "/html5client";
    const std::string page = base + "/";

    probe_result node{"node serves " + page, false, {}, {}};
    auto direct = https_get(s.node, page, {}, timeout, ca_file);
    if (!direct) {
        node.detail = direct.error().to_string();
        node.fix =
            "check nginx on the node (nginx -t; systemctl reload nginx) and the html5 "
            "locations (`node check`)";
    } else if (direct->status != 200) {
        node.detail = "HTTP " + std::to_string(direct->status);
        node.fix = "the prefixed html5 locations are not active: run `node apply`, reload nginx";
    } else if (direct->body.find(base) == std::string::npos) {
        node.detail = "the page does not mention the base path " + base;
        node.fix = "public.app.basename / ROOT_URL are not applied: restart the html5 services";
    } else {
        node.ok = true;
        node.detail = "HTTP 200, base path " + base;
    }
    out.push_back(node);

    probe_result proxied{"proxy serves " + page, false, {}, {}};
    auto via = https_get(s.proxy, page, {}, timeout, ca_file);
    if (!via) {
        proxied.detail = via.error().to_string();
        proxied.fix = "is the proxy running and does it list node " + s.node_id + "?";
    } else if (via->status != 200) {
        proxied.detail = "HTTP " + std::to_string(via->status);
        proxied.fix = "add node " + s.node_id + " (" + s.node.to_string() + ") to the proxy config";
    } else if (direct && direct->status == 200 && via->body != direct->body) {
        proxied.detail = "the proxy serves a different page than the node";
        proxied.fix = "does the proxy map " + s.node_id + " to " + s.node.to_string() + "?";
    } else {
        proxied.ok = true;
        proxied.detail = "HTTP 200, same page as the node";
    }
    out.push_back(proxied);

    // What a browser downloads: the client's largest part is its scripts and styles, and
    // uncompressed they are about 3x the bytes (issue "Bytes to the browser").
    const std::string asset =
        first_asset(via && via->status == 200 ? via->body : std::string(), base);
    probe_result packed{"proxy sends " + asset + " compressed", false, {}, {}};
    const std::map<std::string, std::string> browser_ae{
        {"Accept-Encoding", "gzip, deflate, br, zstd"}};
    auto coded = https_get(s.proxy, asset, browser_ae, timeout, ca_file);
    for (int again = 0; again < 2 && coded && coded->status == 200 && coding_of(*coded).empty();
         ++again) {
        // A cold cache fill of a node that answers identity is relayed as it comes; the
        // compressed variants follow within moments.
        std::this_thread::sleep_for(std::chrono::seconds(1));
        coded = https_get(s.proxy, asset, browser_ae, timeout, ca_file);
    }
    if (!coded) {
        packed.detail = coded.error().to_string();
        packed.fix = "is the proxy running?";
    } else if (coded->status != 200) {
        packed.detail = "HTTP " + std::to_string(coded->status);
        packed.fix =
            "the proxy does not serve the client's assets: check the mounts of " + s.node_id;
    } else if (const auto c = coding_of(*coded); c.empty()) {
        packed.detail = "no Content-Encoding for a browser that accepts br, zstd and gzip (" +
                        std::to_string(coded->body.size()) + " bytes)";
        packed.fix =
            "turn the proxy's cache on (cache.enabled: true, it compresses), or gzip on the node's "
            "nginx for proxied requests (docs/node-setup.md \"Compression\")";
    } else {
        packed.ok = true;
        packed.detail =
            "Content-Encoding: " + c + " (" + std::to_string(coded->body.size()) + " bytes)";
    }
    out.push_back(packed);

    probe_result cors{"bbb-web answers CORS for " + s.proxy.to_string(), false, {}, {}};
    auto api = https_get(s.node, "/bigbluebutton/api", {{"Origin", s.proxy.to_string()}}, timeout,
                         ca_file);
    if (!api) {
        cors.detail = api.error().to_string();
        cors.fix = "is bbb-web running?";
    } else {
        const auto it = api->headers.find("access-control-allow-origin");
        if (it != api->headers.end() && it->second == s.proxy.to_string()) {
            cors.ok = true;
            cors.detail = "Access-Control-Allow-Origin: " + it->second;
        } else {
            cors.detail = it == api->headers.end() ? "no Access-Control-Allow-Origin header"
                                                   : "Access-Control-Allow-Origin: " + it->second;
            cors.fix =
                "run `node apply` and restart bbb-web (grails CORS, accessControlAllowOrigin)";
        }
    }
    out.push_back(cors);

    // BBB 2.x's client POSTs for its lazily loaded code to <ROOT_URL>/__meteor__/dynamic-import/
    // fetch, and ROOT_URL is under the proxy: the proxy must pass that POST on (config "post").
    const std::string import_target = base + std::string(meteor_dynamic_import_path);
    std::string_view client_page;
    if (direct && direct->status == 200) {
        client_page = direct->body;
    } else if (via && via->status == 200) {
        client_page = via->body;
    }
    if (!meteor_client(s.version.version, client_page)) {
        probe_result skip{dynamic_import_probe_name(import_target), true, {}, {}, true};
        if (s.version.version.major >= 3) {
            skip.detail = "skipped: BBB " + s.version.version.series() +
                          " has no Meteor client (it POSTs nothing to the proxy)";
        } else if (client_page.empty()) {
            skip.detail = "skipped: no client page to tell a Meteor client by (see above)";
        } else {
            skip.detail = "skipped: the client page is not Meteor's (no __meteor_runtime_config__)";
        }
        out.push_back(skip);
        return out;
    }
    // What Meteor's client sends: a plain-text JSON tree of the modules it wants (an empty one
    // here, which Meteor answers with an empty tree), from a page on the proxy origin.
    auto imported =
        https_post(s.proxy, import_target,
                   {{"Content-Type", "text/plain;charset=UTF-8"}, {"Origin", s.proxy.to_string()}},
                   "{}", timeout, ca_file);
    out.push_back(judge_dynamic_import(imported, import_target));
    return out;
}

}  // namespace bcp::nodeconf
