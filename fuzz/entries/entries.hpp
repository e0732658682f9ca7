#pragma once
// Fuzz entry functions (docs/security.md "Fuzzing"). Each takes the raw bytes of one input, drives
// one parser/editor and checks its invariants with expect(). They are plain functions so that the
// libFuzzer drivers (fuzz/driver.cpp, clang, BCP_FUZZ) and the regression replay test
// (tests/unit/fuzz, any compiler, part of `make test`) run exactly the same code.

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace bcp::fuzz {

using entry_fn = void (*)(const std::uint8_t* data, std::size_t size);

struct target {
    std::string_view name;  ///< also the directory name under fuzz/corpus and fuzz/regressions
    entry_fn run;
};

/// Every fuzz target, in the order `make fuzz` runs them.
std::span<const target> targets();
/// The target called `name`, or nullptr.
const target* find_target(std::string_view name);

/// Called with a description when an invariant does not hold. The default prints it and aborts
/// (libFuzzer records the input as a crash); the replay test installs one that throws.
using failure_handler = void (*)(const std::string& what);
void set_failure_handler(failure_handler handler);
/// Reports `what` (and `detail`, e.g. the offending text) through the failure handler unless `ok`.
void expect(bool ok, std::string_view what, std::string_view detail = {});

/// Splits an input into `count` parts at the first `count - 1` NUL bytes; missing parts are
/// empty. Editors take their key/value parameters this way, the file text comes last.
std::vector<std::string_view> split_input(const std::uint8_t* data, std::size_t size,
                                          std::size_t count);

// The targets (see each definition for its invariants).
void request_gate(const std::uint8_t* data, std::size_t size);
void target_validator(const std::uint8_t* data, std::size_t size);
void config_loader(const std::uint8_t* data, std::size_t size);
void nginx_conf(const std::uint8_t* data, std::size_t size);
void properties(const std::uint8_t* data, std::size_t size);
void yaml_block(const std::uint8_t* data, std::size_t size);
void json_file(const std::uint8_t* data, std::size_t size);
void systemd_dropin(const std::uint8_t* data, std::size_t size);
void env_file(const std::uint8_t* data, std::size_t size);
void java_options(const std::uint8_t* data, std::size_t size);
void h2_connection(const std::uint8_t* data, std::size_t size);
void response_reader(const std::uint8_t* data, std::size_t size);

}  // namespace bcp::fuzz
