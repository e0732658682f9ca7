#pragma once
// Small text helpers shared by every module: ASCII lower case (protocol names and tokens, never
// locale-dependent) and lower-case hex (digests).

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

}  // namespace bcp
