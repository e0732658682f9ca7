#include "discovery/api_source.hpp"

#include "core/coroutine_warnings.hpp"
#include "core/text.hpp"
#include "net/stream.hpp"
#include "net/watchdog.hpp"

#include <openssl/evp.h>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <array>

namespace bcp::discovery {
namespace {

namespace http = boost::beast::http;
using json = nlohmann::json;

const EVP_MD* evp_of(config::checksum_digest d) {
    switch (d) {
        case config::checksum_digest::sha1:
            return EVP_sha1();
        case config::checksum_digest::sha512:
            return EVP_sha512();
        case config::checksum_digest::sha256:
            break;
    }
    return EVP_sha256();
}

// The text of <name>…</name> in Scalelite's XML error answer; "" when absent.
std::string xml_element(std::string_view body, std::string_view name) {
    const std::string open = "<" + std::string(name) + ">";
    const std::string close = "</" + std::string(name) + ">";
    const auto a = body.find(open);
    if (a == std::string_view::npos) {
        return {};
    }
    const auto b = body.find(close, a + open.size());
    return b == std::string_view::npos
               ? std::string()
               : std::string(body.substr(a + open.size(), b - a - open.size()));
}

// At most `n` bytes of an answer for a message, on one line.
std::string excerpt(std::string_view body, std::size_t n = 120) {
    std::string out(body.substr(0, n));
    // Another server's bytes go into our log: no control characters.
    std::replace_if(
        out.begin(), out.end(),
        [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; }, ' ');
    return body.size() > n ? out + "…" : out;
}

std::string value_text(const json& v) {
    if (v.is_string()) {
        return v.get<std::string>();
    }
    if (v.is_boolean()) {
        return v.get<bool>() ? "true" : "false";
    }
    return v.dump();  // numbers (load, load_multiplier)
}

scalelite_record record_of(const json& element, std::size_t index) {
    scalelite_record r;
    const auto place = "server #" + std::to_string(index + 1) + " of the answer";
    if (!element.is_object()) {
        r.id = "#" + std::to_string(index + 1);
        r.problem = place + " is not an object";
        return r;
    }
    const auto id = element.find("id");
    if (id == element.end() || !id->is_string() || id->get<std::string>().empty()) {
        r.id = "#" + std::to_string(index + 1);
        r.problem = place + " has no id string";
        return r;
    }
    r.id = id->get<std::string>();
    if (const auto url = element.find("url"); url != element.end() && !url->is_string()) {
        r.problem = "url is not a string";
        return r;
    }
    std::vector<std::pair<std::string, std::string>> fields;
    for (const auto& [name, value] : element.items()) {
        if (value.is_null() || value.is_object() || value.is_array()) {
            continue;  // not a field Redis would hold
        }
        std::string text = value_text(value);
        if (name == "online") {
            // The API says "online"/"offline" where Redis holds 'true'/'false'.
            text = text == "online" || text == "true" ? "true" : "false";
        }
        fields.emplace_back(name, std::move(text));
    }
    r.fields = std::move(fields);
    return r;
}

// Scalelite's whole answer when its registry is empty (with status 404).
constexpr std::string_view empty_registry = "No servers are configured";

}  // namespace

std::string api_checksum(std::string_view call, std::string_view query, std::string_view secret,
                         config::checksum_digest digest) {
    const std::string text = std::string(call) + std::string(query) + std::string(secret);
    std::array<unsigned char, EVP_MAX_MD_SIZE> md{};
    unsigned int len = 0;
    EVP_Digest(text.data(), text.size(), md.data(), &len, evp_of(digest), nullptr);
    return to_hex({md.data(), len});
}

std::string get_servers_target(const config::scalelite_api& api) {
    return api.path +
           "/getServers?checksum=" + api_checksum("getServers", "", api.secret, api.digest);
}

std::optional<std::vector<scalelite_record>> records_from_api(int status, std::string_view body,
                                                              source_error& error) {
    const auto parsed = json::parse(body, nullptr, false);
    if (status == 404 && parsed.is_object() && parsed.value("error", "") == empty_registry) {
        // Scalelite's answer for an empty registry ("No servers are configured").
        return std::vector<scalelite_record>{};
    }
    if (!parsed.is_discarded() && parsed.is_array() && status == 200) {
        std::vector<scalelite_record> out;
        out.reserve(parsed.size());
        for (std::size_t i = 0; i < parsed.size(); ++i) {
            out.push_back(record_of(parsed[i], i));
        }
        std::stable_sort(out.begin(), out.end(),
                         [](const auto& a, const auto& b) { return a.id < b.id; });
        return out;
    }
    const auto key = xml_element(body, "messageKey");
    if (key == "checksumError") {
        error = {source_error::kind::auth,
                 "Scalelite refused the checksum: api_secret must be its LOADBALANCER_SECRET, and "
                 "api_checksum a digest in its LOADBALANCER_CHECKSUM_ALGORITHM"};
    } else if (!key.empty()) {
        error = {source_error::kind::reply,
                 "Scalelite answered " + key + ": " + excerpt(xml_element(body, "message"))};
    } else if (status != 200) {
        error = {source_error::kind::reply,
                 "answered HTTP " + std::to_string(status) +
                     (status == 404 ? " (is api_url Scalelite's /scalelite/api, Scalelite 1.6 or "
                                      "later?)"
                                    : "") +
                     ": " + excerpt(body)};
    } else {
        error = {source_error::kind::protocol,
                 "the answer is not a JSON list of servers: " + excerpt(body)};
    }
    return std::nullopt;
}

awaitable<std::optional<derivation>> read_api(const config::scalelite_api& api,
                                              const source_options& options,
                                              const std::map<std::string, std::string>& ids,
                                              source_error& error, net::stream** in_flight) {
    const std::string where = api.url();
    auto stream = co_await open_stream(api.server.host, api.server.port, api.server.tls(), options,
                                       where, error);
    if (!stream) {
        co_return std::nullopt;
    }
    struct exposed {
        net::stream** slot;
        ~exposed() {
            if (slot != nullptr) {
                *slot = nullptr;
            }
        }
    } expose{in_flight};
    if (in_flight != nullptr) {
        *in_flight = stream.get();
    }
    auto ex = co_await asio::this_coro::executor;
    net::watchdog dog(ex, [&] { stream->close(); });
    dog.arm(options.read_timeout);
    const auto failed = [&](source_error::kind k, std::string message) {
        error = {dog.fired() ? source_error::kind::timeout : k,
                 where + ": " +
                     (dog.fired() ? "no answer within " +
                                        std::to_string(options.read_timeout.count()) + " ms"
                                  : std::move(message))};
        stream->close();
    };
    http::request<http::empty_body> req{http::verb::get, get_servers_target(api), 11};
    req.set(http::field::host, api.server.authority());
    req.set(http::field::user_agent, "bbb-cluster-proxy discovery");
    req.set(http::field::accept, "application/json");
    req.set(http::field::connection, "close");
    auto [wec, wn] = co_await http::async_write(*stream, req, use_nothrow);
    if (wec) {
        failed(source_error::kind::io, "cannot send the request: " + wec.message());
        co_return std::nullopt;
    }
    boost::beast::flat_buffer buffer;
    http::response_parser<http::string_body> parser;
    parser.header_limit(64 * 1024);
    parser.body_limit(options.max_reply_bytes);
    auto [rec, rn] = co_await http::async_read(*stream, buffer, parser, use_nothrow);
    if (rec) {
        failed(
            rec == http::error::body_limit ? source_error::kind::protocol : source_error::kind::io,
            rec == http::error::body_limit
                ? "answer larger than " + std::to_string(options.max_reply_bytes) + " bytes"
                : "cannot read the answer: " + rec.message());
        co_return std::nullopt;
    }
    stream->close();
    const auto& res = parser.get();
    const int status = static_cast<int>(res.result_int());
    if (status >= 300 && status < 400) {
        error = {source_error::kind::reply, where + ": answered HTTP " + std::to_string(status) +
                                                " to " + std::string(res[http::field::location]) +
                                                "; give api_url as Scalelite serves it"};
        co_return std::nullopt;
    }
    auto records = records_from_api(status, res.body(), error);
    if (!records) {
        error.message = where + ": " + error.message;
        co_return std::nullopt;
    }
    co_return derive_nodes(*records, ids);
}

}  // namespace bcp::discovery
