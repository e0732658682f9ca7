#pragma once
// Merging `-Dname=value` system properties into a JVM options string (JDK_JAVA_OPTIONS), so that
// options an operator already set (-Xmx…, other -D…) stay where they are.

#include <string>
#include <string_view>

namespace bcp::nodeconf::java_options {

/// Replaces each -Dname of `wanted` already in `current` in place and appends the others.
/// Returns `current` unchanged when it already holds every wanted option.
std::string merge(std::string_view current, std::string_view wanted);

/// Removes every -Dname that appears in `unwanted` (values ignored).
std::string remove(std::string_view current, std::string_view unwanted);

/// Whether `current` holds every option of `wanted` with the same value.
bool contains(std::string_view current, std::string_view wanted);

}  // namespace bcp::nodeconf::java_options
