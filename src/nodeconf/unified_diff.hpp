#pragma once
// Line-based unified diff (the `diff -u` format operators know), for `node plan`.

#include <string>
#include <string_view>

namespace bcp::nodeconf {

/// A unified diff of `before` → `after` with `context` lines around each change, headed
/// `--- from` / `+++ to`. Empty when the texts are equal. Lines without a final newline are
/// marked "\ No newline at end of file".
std::string unified_diff(std::string_view before, std::string_view after, std::string_view from,
                         std::string_view to, int context = 3);

}  // namespace bcp::nodeconf
