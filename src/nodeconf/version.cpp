#include "nodeconf/version.hpp"

#include "nodeconf/text.hpp"

#include <sys/wait.h>
#include <array>
#include <cstdio>
#include <memory>

namespace bcp::nodeconf {
namespace {

constexpr std::string_view release_file = "/etc/bigbluebutton/bigbluebutton-release";

std::optional<int> number(std::string_view s, std::size_t& i) {
    const std::size_t start = i;
    int value = 0;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9' && i - start < 6) {
        value = value * 10 + (s[i] - '0');
        ++i;
    }
    if (i == start) {
        return std::nullopt;
    }
    return value;
}

}  // namespace

expected<bbb_version> parse_version(std::string_view text) {
    std::string_view s = text::trim(text);
    // dpkg versions may carry an epoch ("1:2.7.3-2").
    if (const auto colon = s.find(':'); colon != std::string_view::npos) {
        s = s.substr(colon + 1);
    }
    bbb_version v;
    v.text = std::string(text::trim(text));
    std::size_t i = 0;
    const auto major = number(s, i);
    if (!major || i >= s.size() || s[i] != '.') {
        return make_problem(0, "'" + v.text + "' is not a BBB version such as 2.7 or 3.0.28");
    }
    ++i;
    const auto minor = number(s, i);
    if (!minor) {
        return make_problem(0, "'" + v.text + "' is not a BBB version such as 2.7 or 3.0.28");
    }
    v.major = *major;
    v.minor = *minor;
    if (i < s.size() && s[i] == '.') {
        ++i;
        v.patch = number(s, i);
    }
    return v;
}

bool supported(const bbb_version& v) {
    return (v.major == 2 && v.minor >= 4 && v.minor <= 7) || (v.major == 3 && v.minor == 0);
}

std::optional<std::string> dpkg_query(const std::string& package) {
    // The package name comes from our own fixed list, never from the command line.
    const std::string cmd = "dpkg-query -W -f='${Version}' " + package + " 2>/dev/null";
    std::unique_ptr<FILE, int (*)(FILE*)> pipe(::popen(cmd.c_str(), "r"), ::pclose);
    if (!pipe) {
        return std::nullopt;
    }
    std::string out;
    std::array<char, 256> buf{};
    while (std::fgets(buf.data(), static_cast<int>(buf.size()), pipe.get()) != nullptr) {
        out += buf.data();
    }
    out = std::string(text::trim(out));
    if (out.empty()) {
        return std::nullopt;
    }
    return out;
}

expected<detected_version> detect_version(const node_fs& fs,
                                          const std::optional<std::string>& override_text,
                                          const package_query& query) {
    auto accept = [](expected<bbb_version> v, std::string source) -> expected<detected_version> {
        if (!v) {
            problem p = v.error();
            p.message += " (from " + source + ")";
            return p;
        }
        if (!supported(*v)) {
            return problem{{},
                           0,
                           "BBB " + v->text + " (from " + source +
                               ") is not supported: this tool knows 2.4, 2.5, 2.6, 2.7 and 3.0"};
        }
        return detected_version{*v, std::move(source)};
    };
    if (override_text) {
        return accept(parse_version(*override_text), "--bbb-version");
    }
    const auto release = fs.read(release_file);
    if (release.kind == entry_kind::file) {
        for (const auto& l : text::split(release.content)) {
            const std::string_view body = text::trim(l.body);
            if (text::starts_with(body, "BIGBLUEBUTTON_RELEASE=")) {
                return accept(parse_version(body.substr(22)), std::string(release_file));
            }
        }
        return problem{std::string(release_file), 0,
                       "has no BIGBLUEBUTTON_RELEASE= line; pass --bbb-version (2.4 … 3.0)"};
    }
    if (fs.root() == "/" && query) {
        // bbb-html5 exists on every supported version; bbb-web as a second opinion.
        for (const char* package : {"bbb-html5", "bbb-web"}) {
            if (auto found = query(package)) {
                return accept(parse_version(*found), std::string("dpkg-query ") + package);
            }
        }
    }
    return problem{{},
                   0,
                   "cannot tell the BBB version (no " + std::string(release_file) +
                       (fs.root() == "/" ? ", no bbb-html5 package" : "") +
                       "); pass --bbb-version 2.4|2.5|2.6|2.7|3.0"};
}

}  // namespace bcp::nodeconf
