#pragma once
// Small text helpers shared by every module: ASCII lower case (protocol names and tokens, never
// locale-dependent), decimal numbers (Content-Length) and hex (digests, chunk sizes,
// percent-encoding).

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace bcp {

/// `s` with A-Z turned into a-z; every other byte as it is.
inline std::string ascii_lower(std::string_view s) {
    std::string out(s);
    for (auto& c : out) {
        if (c >= 'A' && c <= 'Z') {
            c = static_cast<char>(c - 'A' + 'a');
        }
    }
    return out;
}

/// `bytes` in lower-case hex, two characters per byte.
inline std::string to_hex(std::span<const std::uint8_t> bytes) {
    static constexpr char digits[] = "0123456789abcdef";
    std::string out;
    out.reserve(2 * bytes.size());
    for (const auto b : bytes) {
        out.push_back(digits[b >> 4]);
        out.push_back(digits[b & 0x0f]);
    }
    return out;
}

/// `text` as a decimal number of 1 to `max_digits` plain digits (no sign, no space); 19 digits
/// always fit in 64 bits. False for anything else.
inline bool parse_decimal(std::string_view text, std::uint64_t& out, std::size_t max_digits = 19) {
    if (text.empty() || text.size() > std::min<std::size_t>(max_digits, 19)) {
        return false;
    }
    out = 0;
    for (const char c : text) {
        if (c < '0' || c > '9') {
            return false;
        }
        out = out * 10 + static_cast<std::uint64_t>(c - '0');
    }
    return true;
}

/// The value of hex digit `c` (either case), or -1.
inline int hex_value(char c) {
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

}  // namespace bcp
