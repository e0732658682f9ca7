#include "entries.hpp"

#include <array>
#include <cstdio>
#include <cstdlib>

namespace bcp::fuzz {
namespace {

void abort_handler(const std::string& what) {
    std::fprintf(stderr, "fuzz invariant violated: %s\n", what.c_str());
    std::abort();
}

failure_handler current_handler = abort_handler;

constexpr std::array<target, 12> all{{
    {"request_gate", request_gate},
    {"target_validator", target_validator},
    {"config_loader", config_loader},
    {"nginx_conf", nginx_conf},
    {"properties", properties},
    {"yaml_block", yaml_block},
    {"json_file", json_file},
    {"systemd_dropin", systemd_dropin},
    {"env_file", env_file},
    {"java_options", java_options},
    {"h2_connection", h2_connection},
    {"response_reader", response_reader},
}};

}  // namespace

std::span<const target> targets() {
    return all;
}

const target* find_target(std::string_view name) {
    for (const auto& t : all) {
        if (t.name == name) {
            return &t;
        }
    }
    return nullptr;
}

void set_failure_handler(failure_handler handler) {
    current_handler = handler != nullptr ? handler : abort_handler;
}

void expect(bool ok, std::string_view what, std::string_view detail) {
    if (ok) {
        return;
    }
    std::string message(what);
    if (!detail.empty()) {
        message += " [";
        message += detail.substr(0, 400);
        message += ']';
    }
    current_handler(message);
}

std::vector<std::string_view> split_input(const std::uint8_t* data, std::size_t size,
                                          std::size_t count) {
    std::string_view rest(reinterpret_cast<const char*>(data), size);
    std::vector<std::string_view> parts;
    while (parts.size() + 1 < count) {
        const auto nul = rest.find('\0');
        if (nul == std::string_view::npos) {
            parts.push_back(rest);
            rest = {};
            continue;
        }
        parts.push_back(rest.substr(0, nul));
        rest.remove_prefix(nul + 1);
    }
    parts.push_back(rest);
    return parts;
}

}  // namespace bcp::fuzz
