#pragma once
// What a reload changes (docs/architecture.md "Reload"). plan_reload compares the running
// configuration with a freshly loaded one: which nodes were added, removed or changed, and which
// settings cannot change without a restart. Those keep their running value (the reload still
// applies everything else) and are reported as warnings, like "listen: ... needs a restart".

#include "config/config.hpp"

#include <cstdint>
#include <string>
#include <vector>

namespace bcp::proxy {

struct reload_plan {
    std::vector<std::string> added, removed, changed;  ///< node ids, sorted
    std::vector<std::string> restart_only;             ///< one message per kept setting
    config::proxy_config effective;  ///< the new config with the restart-only settings kept
};

reload_plan plan_reload(const config::proxy_config& running, const config::proxy_config& next);

/// The outcome of one reload attempt, as the log, `bbb-cluster-proxy reload` and the admin
/// endpoint report it.
struct reload_result {
    bool ok = false;
    std::uint64_t generation = 0;       ///< set by the caller: counts attempts, 0 = start-up
    std::vector<std::string> errors;    ///< why it was refused (config diagnostics, TLS files)
    std::vector<std::string> warnings;  ///< restart-only settings that were kept
    std::string summary;                ///< "reloaded: 3 nodes (1 added, 1 removed, 0 changed)"
};

}  // namespace bcp::proxy
