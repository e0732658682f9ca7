#pragma once
// Logging facade: one spdlog logger per module, all writing to stderr (journald picks it up).
// The access log is separate (observe/).

#include <spdlog/spdlog.h>

#include <memory>
#include <string>

namespace bcp::log {

/// The logger of a module ("proxy", "config", ...). Created on first use; thread-safe.
std::shared_ptr<spdlog::logger> get(const std::string& module);

/// Sets the level of every module logger ("trace" … "off"). Returns false for an unknown name.
[[nodiscard]] bool set_level(const std::string& level);

}  // namespace bcp::log
