#pragma once
// Included by every file that writes Asio coroutines (awaitable<…>): GCC 12 reports a false
// -Wmismatched-new-delete on Asio's awaitable frames (its frame allocator pairs a custom operator
// new with the matching delete; GCC bug 104872 and friends). The pragma holds for the rest of the
// including file.

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif
