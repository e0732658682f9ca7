#include "net/listener.hpp"

#include "net/drain_read.hpp"

#include <boost/asio/ip/v6_only.hpp>
#include <boost/asio/socket_base.hpp>

#include <sys/socket.h>

namespace bcp::net {

tcp::acceptor open_listener(asio::io_context& ioc, const tcp::endpoint& endpoint,
                            std::string& error) {
    tcp::acceptor acceptor(ioc);
    error_code ec;
    const auto fail = [&](const char* what) {
        error = "cannot " + std::string(what) + " " + endpoint.address().to_string() + ":" +
                std::to_string(endpoint.port()) + ": " + ec.message();
        acceptor.close(ec);
        return std::move(acceptor);
    };
    if (acceptor.open(endpoint.protocol(), ec); ec) {
        return fail("open");
    }
    acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
    using reuse_port = asio::detail::socket_option::boolean<SOL_SOCKET, SO_REUSEPORT>;
    if (acceptor.set_option(reuse_port(true), ec); ec) {
        return fail("set SO_REUSEPORT on");
    }
    if (endpoint.address().is_v6()) {
        acceptor.set_option(asio::ip::v6_only(true), ec);
    }
    enable_drain_reads(acceptor);  // inherited by accepted sockets: no setsockopt per connection
    if (acceptor.bind(endpoint, ec); ec) {
        return fail("bind");
    }
    if (acceptor.listen(asio::socket_base::max_listen_connections, ec); ec) {
        return fail("listen on");
    }
    return acceptor;
}

void tune_socket(tcp::socket& socket) {
    error_code ignored;
    socket.set_option(tcp::no_delay(true), ignored);
}

}  // namespace bcp::net
