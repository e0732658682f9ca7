#pragma once
// Short names for the Asio/Beast vocabulary used across modules. Include this instead of the
// Boost headers directly so every module spells things the same way.

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/system/error_code.hpp>

namespace bcp {

namespace asio = boost::asio;
using tcp = boost::asio::ip::tcp;
using error_code = boost::system::error_code;

template <class T = void>
using awaitable = boost::asio::awaitable<T>;

/// Completion token for coroutines that want errors as values: `auto [ec, n] = co_await
/// op(..., use_nothrow);`
inline constexpr auto use_nothrow = boost::asio::as_tuple(boost::asio::use_awaitable);

}  // namespace bcp
