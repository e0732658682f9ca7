#pragma once
// Pure parsers for the value syntaxes of the config file (durations, listen addresses, path
// segments, host names) and the "did you mean" helper. Internal to the config module; in a header
// so the unit tests can drive them table by table. None of them throws.

#include <chrono>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace bcp::config {

/// One parsed value: `value` on success, otherwise `message` says what is wrong and how to fix it
/// (without naming the key: the caller's diagnostic carries that).
template <class T>
struct parsed {
    std::optional<T> value;
    std::string message;
    bool ok() const { return value.has_value(); }
};

/// The longest duration accepted for any timeout.
inline constexpr std::chrono::milliseconds max_duration = std::chrono::hours(24);

/// "250ms", "10s", "2m", "1h", or a bare whole number meaning seconds; at most `max_duration`.
/// No fractions, signs, spaces or combined forms ("1m30s"): one number, one unit.
parsed<std::chrono::milliseconds> parse_duration(std::string_view text);

/// The largest size accepted for any size key (1 TiB: catches typos, not real limits).
inline constexpr std::uint64_t max_size_value = std::uint64_t{1} << 40;

/// A byte size: a whole number with an optional unit: B, KiB/MiB/GiB (binary), KB/MB/GB
/// (decimal), or nginx's k/m/g (binary, either case). "512MiB", "64m", "1048576". At most 1 TiB.
parsed<std::uint64_t> parse_size(std::string_view text);

struct listen_address {
    std::string host;        ///< the IP literal as written, without brackets
    std::uint16_t port = 0;  ///< 0 = ephemeral
    std::string canonical;   ///< normalised "ip:port" / "[ip]:port", for duplicate detection
};

/// "host:port" where host is an IPv4 literal ("0.0.0.0") or a bracketed IPv6 literal ("[::]"),
/// and port is 0-65535. Host names are refused: a listener must not depend on DNS at startup.
parsed<listen_address> parse_listen_address(std::string_view text);

/// Whether `text` can be a node id or mount name: a non-empty run of [A-Za-z0-9._-] other than
/// "." and "..", so that it is always one literal URL path segment that needs no escaping and
/// that no path normalisation can remove.
bool is_path_segment(std::string_view text);

/// A name as it appears in a Host header (without port): a DNS name or IPv4 literal lower-cased,
/// an IPv6 literal in brackets. Refuses schemes, ports, paths and anything parse_origin refuses.
parsed<std::string> parse_server_name(std::string_view text);

/// Optimal string alignment distance: Levenshtein plus transposition of two adjacent characters,
/// which is the commonest typo ("tiemouts").
std::size_t edit_distance(std::string_view a, std::string_view b);

/// The allowed key the operator most likely meant by `unknown`, compared case-insensitively and
/// with '-' read as '_': the closest one within edit distance 2 that is not a rewrite of the whole
/// word. Empty when none is close.
std::string_view suggest_key(std::string_view unknown, std::span<const std::string_view> allowed);

}  // namespace bcp::config
