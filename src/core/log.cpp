#include "core/log.hpp"

#include <spdlog/sinks/stdout_color_sinks.h>

#include <mutex>

namespace bcp::log {
namespace {

std::mutex& registry_mutex() {
    static std::mutex m;
    return m;
}

spdlog::level::level_enum& current_level() {
    static spdlog::level::level_enum level = spdlog::level::info;
    return level;
}

}  // namespace

std::shared_ptr<spdlog::logger> get(const std::string& module) {
    std::lock_guard lock(registry_mutex());
    if (auto existing = spdlog::get(module)) {
        return existing;
    }
    auto logger = spdlog::stderr_color_mt(module);
    logger->set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ [%n] %v");
    logger->set_level(current_level());
    return logger;
}

bool set_level(const std::string& level) {
    auto parsed = spdlog::level::from_str(level);
    if (parsed == spdlog::level::off && level != "off") {
        return false;
    }
    std::lock_guard lock(registry_mutex());
    current_level() = parsed;
    spdlog::apply_all([parsed](const std::shared_ptr<spdlog::logger>& l) { l->set_level(parsed); });
    return true;
}

}  // namespace bcp::log
