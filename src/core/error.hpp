#pragma once
// Project error codes and the result<T> alias. Data-path outcomes are values (see DESIGN.md §5):
// functions return result<T> or error_code, never throw for peer-caused conditions.

#include <boost/system/error_code.hpp>
#include <boost/system/result.hpp>

#include <string>
#include <system_error>

namespace bcp {

enum class errc {
    ok = 0,
    invalid_argument,  ///< a caller-supplied value is malformed
    not_found,         ///< a file, key or node does not exist
    parse_error,       ///< input text could not be parsed
    io_error,          ///< a file could not be read or written
    unsupported,       ///< valid input we deliberately do not handle
    timeout,           ///< a deadline expired
    upstream_failed,   ///< a node could not be reached or answered badly
};

const boost::system::error_category& bcp_category() noexcept;

inline boost::system::error_code make_error_code(errc e) noexcept {
    return {static_cast<int>(e), bcp_category()};
}

template <class T>
using result = boost::system::result<T>;

}  // namespace bcp

namespace boost::system {
template <>
struct is_error_code_enum<bcp::errc> : std::true_type {};
}  // namespace boost::system
