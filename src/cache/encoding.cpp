#include "cache/encoding.hpp"

#include "http/request_head.hpp"

#include <algorithm>

namespace bcp::cache {
namespace {

using http::iequals;

bool istarts_with(std::string_view s, std::string_view prefix) {
    return s.size() >= prefix.size() && iequals(s.substr(0, prefix.size()), prefix);
}

bool iends_with(std::string_view s, std::string_view suffix) {
    return s.size() >= suffix.size() && iequals(s.substr(s.size() - suffix.size()), suffix);
}

const auto trim = http::trim_ows;

// Weights are kept in thousandths, the qvalue grammar's resolution (RFC 9110 §12.4.2), so they
// compare exactly.
constexpr int q_one = 1000;
constexpr int not_listed = -1;
// identity when neither it nor "*" is listed: acceptable (§12.5.3), but below any listed coding
// with q > 0, and it loses ties by the preference order.
constexpr int q_implicit_identity = 1;

std::optional<int> parse_qvalue(std::string_view v) {
    // qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] )
    if (v.empty() || (v[0] != '0' && v[0] != '1')) {
        return std::nullopt;
    }
    const bool one = v[0] == '1';
    if (v.size() == 1) {
        return one ? q_one : 0;
    }
    if (v[1] != '.' || v.size() > 5) {
        return std::nullopt;
    }
    int frac = 0;
    int scale = 100;
    for (const char c : v.substr(2)) {
        if (c < '0' || c > '9' || (one && c != '0')) {
            return std::nullopt;
        }
        frac += (c - '0') * scale;
        scale /= 10;
    }
    return one ? q_one : frac;
}

struct weights {
    std::array<int, coding_count> listed = [] {
        std::array<int, coding_count> a{};
        a.fill(not_listed);
        return a;
    }();
    int star = not_listed;

    int of(coding c) const {
        const int q = listed[static_cast<std::size_t>(c)];
        if (q != not_listed) {
            return q;
        }
        if (star != not_listed) {
            return star;
        }
        return c == coding::identity ? q_implicit_identity : 0;
    }
};

void lower_into(int& slot, int q) {
    // A coding listed twice: the lower weight, so a stray "gzip;q=0" is never overridden.
    slot = slot == not_listed ? q : std::min(slot, q);
}

// Calls fn(name, q) for every readable member of an Accept-Encoding value, in order: one pass,
// each member looked at once, so work is linear in the value's length.
template <class Fn>
void for_each_member(std::string_view v, Fn&& fn) {
    while (!v.empty()) {
        const auto comma = v.find(',');
        const std::string_view member = v.substr(0, comma);
        v.remove_prefix(comma == std::string_view::npos ? v.size() : comma + 1);

        const auto semi = member.find(';');
        const std::string_view name = trim(member.substr(0, semi));
        if (name.empty()) {
            continue;  // empty list elements are allowed (§5.6.1)
        }
        int q = q_one;
        if (semi != std::string_view::npos) {
            // Only "q=qvalue" may follow (§12.5.3 grammar); anything else makes the member
            // unreadable, and ignoring it cannot make a coding acceptable that the client refused
            // elsewhere, since duplicates keep their lowest weight.
            const std::string_view param = trim(member.substr(semi + 1));
            const auto eq = param.find('=');
            if (eq == std::string_view::npos || !iequals(trim(param.substr(0, eq)), "q")) {
                continue;
            }
            const auto parsed = parse_qvalue(trim(param.substr(eq + 1)));
            if (!parsed) {
                continue;
            }
            q = *parsed;
        }
        fn(name, q);
    }
}

weights parse_accept_encoding(std::string_view v) {
    weights w;
    for_each_member(v, [&](std::string_view name, int q) {
        if (name == "*") {
            lower_into(w.star, q);
        } else if (const auto c = coding_from_token(name)) {
            lower_into(w.listed[static_cast<std::size_t>(*c)], q);
        }
    });
    return w;
}

}  // namespace

std::string_view to_token(coding c) {
    switch (c) {
        case coding::identity:
            return "identity";
        case coding::gzip:
            return "gzip";
        case coding::br:
            return "br";
        case coding::zstd:
            return "zstd";
        case coding::dcz:
            return "dcz";
    }
    return "identity";
}

std::optional<coding> coding_from_token(std::string_view t) {
    if (iequals(t, "gzip") || iequals(t, "x-gzip")) {
        return coding::gzip;
    }
    if (iequals(t, "br")) {
        return coding::br;
    }
    if (iequals(t, "zstd")) {
        return coding::zstd;
    }
    if (iequals(t, "identity")) {
        return coding::identity;
    }
    return std::nullopt;
}

coding negotiate(std::string_view accept_encoding, bool present, unsigned available) {
    if (!present) {
        return coding::identity;
    }
    const weights w = parse_accept_encoding(accept_encoding);
    available |= bit(coding::identity);
    // Visiting in preference order with a strict comparison breaks ties by that order.
    static constexpr std::array<coding, 4> preference{coding::br, coding::zstd, coding::gzip,
                                                      coding::identity};
    coding best = coding::identity;
    int best_q = 0;
    for (const coding c : preference) {
        if ((available & bit(c)) == 0) {
            continue;
        }
        const int q = w.of(c);
        if (q > best_q) {
            best = c;
            best_q = q;
        }
    }
    return best;
}

bool accepts(std::string_view accept_encoding, bool present, coding c) {
    if (!present) {
        return c == coding::identity;
    }
    return parse_accept_encoding(accept_encoding).of(c) > 0;
}

std::optional<int> listed_weight(std::string_view accept_encoding, std::string_view token) {
    int q = not_listed;
    for_each_member(accept_encoding, [&](std::string_view name, int member_q) {
        if (iequals(name, token)) {
            lower_into(q, member_q);
        }
    });
    return q == not_listed ? std::nullopt : std::optional<int>(q);
}

namespace {

bool compressible_extension(std::string_view path) {
    path = path.substr(0, path.find_first_of("?#"));
    const auto slash = path.rfind('/');
    const std::string_view name = slash == std::string_view::npos ? path : path.substr(slash + 1);
    const auto dot = name.rfind('.');
    if (dot == std::string_view::npos) {
        return false;
    }
    const std::string_view ext = name.substr(dot + 1);
    static constexpr std::array<std::string_view, 15> text_like{
        "js",   "mjs", "css", "map", "json", "wasm", "svg",        "txt",
        "html", "htm", "xml", "ttf", "otf",  "eot",  "webmanifest"};
    return std::any_of(text_like.begin(), text_like.end(),
                       [&](std::string_view e) { return iequals(ext, e); });
}

}  // namespace

bool compressible(std::string_view content_type, std::string_view path) {
    const std::string_view type = trim(content_type.substr(0, content_type.find(';')));
    // nginx serves unknown extensions (source maps on older mime.types, .mjs) as
    // application/octet-stream, so the extension is the better witness there.
    if (type.empty() || iequals(type, "application/octet-stream")) {
        return compressible_extension(path);
    }
    if (istarts_with(type, "text/")) {
        return true;
    }
    static constexpr std::array<std::string_view, 15> listed{
        "application/javascript",
        "application/x-javascript",
        "application/ecmascript",
        "application/json",
        "application/manifest+json",
        "application/xml",
        "image/svg+xml",
        "application/wasm",
        "application/vnd.ms-fontobject",
        "font/ttf",
        "font/otf",
        "font/sfnt",
        "application/x-font-ttf",
        "application/x-font-opentype",
        "application/font-sfnt",
    };
    if (std::any_of(listed.begin(), listed.end(),
                    [&](std::string_view t) { return iequals(type, t); })) {
        return true;
    }
    // Structured syntax suffixes (RFC 6839): application/ld+json, application/rss+xml, …
    constexpr std::string_view app = "application/";
    if (istarts_with(type, app)) {
        const std::string_view sub = type.substr(app.size());
        for (const std::string_view suffix :
             {std::string_view{"+json"}, std::string_view{"+xml"}}) {
            if (sub.size() > suffix.size() && iends_with(sub, suffix)) {
                return true;
            }
        }
    }
    // Everything else, notably raster images, audio, video, WOFF/WOFF2 and archives, is
    // already compressed: a second pass costs CPU and usually grows the bytes.
    return false;
}

std::string variant_etag(const std::array<std::uint8_t, 32>& identity_hash, coding c) {
    static constexpr char hex[] = "0123456789abcdef";
    std::string tag;
    tag.reserve(2 + 32 + 1 + 8);
    tag.push_back('"');
    for (std::size_t i = 0; i < 16; ++i) {
        tag.push_back(hex[identity_hash[i] >> 4]);
        tag.push_back(hex[identity_hash[i] & 0x0f]);
    }
    if (c != coding::identity) {
        tag.push_back('-');
        tag.append(to_token(c));
    }
    tag.push_back('"');
    return tag;
}

}  // namespace bcp::cache
