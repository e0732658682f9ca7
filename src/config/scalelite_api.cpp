#include "config/scalelite_api.hpp"

namespace bcp::config {

std::string_view to_string(checksum_digest d) {
    switch (d) {
        case checksum_digest::sha1:
            return "sha1";
        case checksum_digest::sha256:
            return "sha256";
        case checksum_digest::sha512:
            return "sha512";
    }
    return "sha256";
}

std::optional<checksum_digest> parse_checksum_digest(std::string_view text) {
    for (const auto d : {checksum_digest::sha1, checksum_digest::sha256, checksum_digest::sha512}) {
        if (text == to_string(d)) {
            return d;
        }
    }
    return std::nullopt;
}

std::string scalelite_api::url() const {
    return server.to_string() + path;
}

scalelite_api_url_parse parse_scalelite_api_url(std::string_view text) {
    const std::string quoted = "'" + std::string(text) + "'";
    const auto scheme_end = text.find("://");
    if (scheme_end == std::string_view::npos) {
        return {std::nullopt, quoted +
                                  " is not an http(s) URL such as "
                                  "https://scalelite.example.com/scalelite/api"};
    }
    if (text.find_first_of("?#") != std::string_view::npos) {
        return {std::nullopt, quoted +
                                  " has a query or fragment; give the API's base URL, e.g. "
                                  "https://scalelite.example.com/scalelite/api"};
    }
    const auto path_start = text.find('/', scheme_end + 3);
    auto parsed = parse_origin(text.substr(0, path_start));
    if (!parsed.value) {
        return {std::nullopt, quoted + ": " + parsed.message};
    }
    std::string path(path_start == std::string_view::npos ? std::string_view()
                                                          : text.substr(path_start));
    while (!path.empty() && path.back() == '/') {
        path.pop_back();
    }
    constexpr std::string_view call = "/getServers";
    if (path.ends_with(call)) {
        path.erase(path.size() - call.size());
    }
    if (path.empty()) {
        path = "/scalelite/api";
    }
    for (const char c : path) {
        // The path goes into a request line as given: nothing that needs encoding.
        const bool plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                           (c >= '0' && c <= '9') || c == '/' || c == '-' || c == '.' || c == '_' ||
                           c == '~';
        if (!plain || path.find("//") != std::string::npos) {
            return {std::nullopt, quoted + " has a path that is not plain segments ('" + path +
                                      "'); give e.g. https://scalelite.example.com/scalelite/api"};
        }
    }
    scalelite_api api;
    api.server = std::move(*parsed.value);
    api.path = std::move(path);
    return {std::move(api), {}};
}

}  // namespace bcp::config
