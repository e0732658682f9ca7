#include "config/values.hpp"

#include "core/origin.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <vector>

namespace bcp::config {
namespace {

using std::chrono::milliseconds;

template <class T>
parsed<T> fail(std::string message) {
    return {std::nullopt, std::move(message)};
}

bool is_digit(char c) {
    return c >= '0' && c <= '9';
}

bool all_digits(std::string_view s) {
    return !s.empty() && std::all_of(s.begin(), s.end(), is_digit);
}

std::string in_quotes(std::string_view s) {
    return "'" + std::string(s) + "'";
}

// Accepts up to 18 digits, which cannot overflow an int64 and is far beyond any limit we check.
std::optional<std::int64_t> small_number(std::string_view digits) {
    if (!all_digits(digits) || digits.size() > 18) {
        return std::nullopt;
    }
    std::int64_t value = 0;
    for (const char c : digits) {
        value = value * 10 + (c - '0');
    }
    return value;
}

std::string duration_help() {
    return "write a whole number with a unit: 250ms, 10s, 2m or 1h (a bare number means seconds)";
}

std::string normalised_key(std::string_view key) {
    std::string out;
    out.reserve(key.size());
    for (const char c : key) {
        out += c == '-' ? '_' : static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    }
    return out;
}

}  // namespace

parsed<milliseconds> parse_duration(std::string_view text) {
    const auto unit_at = std::find_if_not(text.begin(), text.end(), is_digit) - text.begin();
    const std::string_view number = text.substr(0, unit_at);
    const std::string_view unit = text.substr(unit_at);
    if (number.empty()) {
        return fail<milliseconds>(in_quotes(text) + " is not a duration; " + duration_help());
    }
    struct unit_scale {
        std::string_view name;
        std::int64_t ms;
    };
    static constexpr std::array<unit_scale, 5> units{
        {{"ms", 1}, {"s", 1'000}, {"", 1'000}, {"m", 60'000}, {"h", 3'600'000}}};
    const auto scale = std::find_if(units.begin(), units.end(),
                                    [&](const unit_scale& u) { return u.name == unit; });
    if (scale == units.end()) {
        return fail<milliseconds>(in_quotes(text) + " is not a duration; " + duration_help());
    }
    const auto value = small_number(number);
    // Compare before multiplying so no input can overflow.
    if (!value || *value > max_duration.count() / scale->ms) {
        return fail<milliseconds>(in_quotes(text) +
                                  " is longer than 24h, the longest timeout accepted");
    }
    return {milliseconds(*value * scale->ms), {}};
}

parsed<std::uint64_t> parse_size(std::string_view text) {
    const std::string help =
        "; write a whole number of bytes with a unit, e.g. 512MiB, 64KiB, 1GiB (KB/MB/GB are "
        "decimal; nginx's k/m/g are binary; a bare number means bytes)";
    const auto unit_at = std::find_if_not(text.begin(), text.end(), is_digit) - text.begin();
    const std::string_view number = text.substr(0, unit_at);
    const std::string_view unit = text.substr(unit_at);
    struct unit_scale {
        std::string_view name;
        std::uint64_t bytes;
    };
    static constexpr std::array<unit_scale, 16> units{{{"", 1},
                                                       {"B", 1},
                                                       {"KiB", 1ull << 10},
                                                       {"MiB", 1ull << 20},
                                                       {"GiB", 1ull << 30},
                                                       {"KB", 1'000},
                                                       {"MB", 1'000'000},
                                                       {"GB", 1'000'000'000},
                                                       {"k", 1ull << 10},
                                                       {"K", 1ull << 10},
                                                       {"m", 1ull << 20},
                                                       {"M", 1ull << 20},
                                                       {"g", 1ull << 30},
                                                       {"G", 1ull << 30},
                                                       {"kB", 1'000},
                                                       {"TiB", 1ull << 40}}};
    const auto scale = std::find_if(units.begin(), units.end(),
                                    [&](const unit_scale& u) { return u.name == unit; });
    if (number.empty() || scale == units.end()) {
        return fail<std::uint64_t>(in_quotes(text) + " is not a size" + help);
    }
    const auto value = small_number(number);
    if (!value || static_cast<std::uint64_t>(*value) > max_size_value / scale->bytes) {
        return fail<std::uint64_t>(in_quotes(text) +
                                   " is larger than 1TiB, the largest size accepted");
    }
    return {static_cast<std::uint64_t>(*value) * scale->bytes, {}};
}

parsed<listen_address> parse_listen_address(std::string_view text) {
    const std::string example =
        "; write host:port with an IP address, e.g. 0.0.0.0:443 or [::]:443";
    if (text.empty()) {
        return fail<listen_address>("the address is empty" + example);
    }
    if (all_digits(text)) {
        return fail<listen_address>(
            in_quotes(text) + " has no host; write 0.0.0.0:" + std::string(text) +
            " for every IPv4 address or [::]:" + std::string(text) + " for every IPv6 address");
    }
    std::string_view host;
    std::string_view port;
    bool bracketed = false;
    if (text.front() == '[') {
        const auto close = text.find(']');
        if (close == std::string_view::npos) {
            return fail<listen_address>(in_quotes(text) + " has an unterminated '['" + example);
        }
        host = text.substr(1, close - 1);
        const auto rest = text.substr(close + 1);
        if (rest.empty() || rest.front() != ':') {
            return fail<listen_address>(in_quotes(text) + " has no port after ']'" + example);
        }
        port = rest.substr(1);
        bracketed = true;
    } else {
        const auto colon = text.rfind(':');
        if (colon == std::string_view::npos) {
            return fail<listen_address>(in_quotes(text) + " has no port" + example);
        }
        host = text.substr(0, colon);
        port = text.substr(colon + 1);
        if (host.find(':') != std::string_view::npos) {
            return fail<listen_address>(in_quotes(text) +
                                        " looks like an IPv6 address without brackets; write "
                                        "[address]:port, e.g. [::]:443 or [::1]:8080");
        }
    }
    if (host.empty()) {
        return fail<listen_address>(in_quotes(text) + " has no host" + example);
    }
    const std::string host_text(host);
    std::array<unsigned char, 16> bytes{};
    const int family = bracketed ? AF_INET6 : AF_INET;
    if (::inet_pton(family, host_text.c_str(), bytes.data()) != 1) {
        return fail<listen_address>(
            bracketed
                ? in_quotes(text) + " has an invalid IPv6 address " + in_quotes(host) + example
                : in_quotes(host) +
                      " is not an IPv4 address; listen addresses take IP literals "
                      "(0.0.0.0, 127.0.0.1, [::]) because host names are not resolved");
    }
    if (port.empty()) {
        return fail<listen_address>(in_quotes(text) + " has no port" + example);
    }
    const auto port_value = small_number(port);
    if (!port_value || *port_value > 65535) {
        return fail<listen_address>(in_quotes(text) + " has an invalid port " + in_quotes(port) +
                                    "; the port must be a number from 0 to 65535");
    }
    std::array<char, INET6_ADDRSTRLEN> canonical{};
    ::inet_ntop(family, bytes.data(), canonical.data(), canonical.size());
    listen_address out;
    out.host = host_text;
    out.port = static_cast<std::uint16_t>(*port_value);
    out.canonical = bracketed ? "[" + std::string(canonical.data()) + "]" : canonical.data();
    out.canonical += ":" + std::to_string(out.port);
    return {std::move(out), {}};
}

bool is_path_segment(std::string_view text) {
    const auto allowed = [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-';
    };
    return !text.empty() && text != "." && text != ".." &&
           std::all_of(text.begin(), text.end(), allowed);
}

parsed<std::string> parse_server_name(std::string_view text) {
    const std::string help =
        "; give the bare host name as browsers send it in the Host header, "
        "e.g. bbb-proxy.example.com (no scheme, port or path)";
    if (text.find("://") != std::string_view::npos || text.find('/') != std::string_view::npos) {
        return fail<std::string>(in_quotes(text) + " is a URL, not a host name" + help);
    }
    // Reuse the origin parser's host rules so server names and public_url agree on what a host is.
    const auto parsed_origin = parse_origin("http://" + std::string(text));
    if (!parsed_origin.value || parsed_origin.value->explicit_port || text.empty()) {
        return fail<std::string>(in_quotes(text) + " is not a valid host name" + help);
    }
    const std::string& host = parsed_origin.value->host;
    return {host.find(':') != std::string::npos ? "[" + host + "]" : host, {}};
}

std::size_t edit_distance(std::string_view a, std::string_view b) {
    // Three rolling rows of the classic dynamic programme; the third is needed for transpositions.
    std::vector<std::size_t> before(b.size() + 1);
    std::vector<std::size_t> previous(b.size() + 1);
    std::vector<std::size_t> current(b.size() + 1);
    for (std::size_t j = 0; j <= b.size(); ++j) {
        previous[j] = j;
    }
    for (std::size_t i = 1; i <= a.size(); ++i) {
        current[0] = i;
        for (std::size_t j = 1; j <= b.size(); ++j) {
            const std::size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
            current[j] = std::min({previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost});
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) {
                current[j] = std::min(current[j], before[j - 2] + 1);
            }
        }
        before.swap(previous);
        previous.swap(current);
    }
    return previous[b.size()];
}

std::string_view suggest_key(std::string_view unknown, std::span<const std::string_view> allowed) {
    const std::string wanted = normalised_key(unknown);
    std::string_view best;
    std::size_t best_distance = 3;
    for (const std::string_view candidate : allowed) {
        const std::size_t d = edit_distance(wanted, normalised_key(candidate));
        // A distance equal to the length means every character was replaced: not a typo.
        if (d < best_distance && d < wanted.size()) {
            best = candidate;
            best_distance = d;
        }
    }
    return best;
}

}  // namespace bcp::config
