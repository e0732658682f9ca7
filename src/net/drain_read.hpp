#pragma once
// A read on a plain TCP socket that tells Asio's reactor when it has drained the socket, so the
// next read does not start with a speculative recv() that finds nothing.
//
// Asio 1.81's epoll reactor tries every read once before it waits for readiness ("speculative"),
// unless the previous read on the descriptor reported `done_and_exhausted`, which its own receive
// operation does only at end of stream. On an HTTP keep-alive connection the next request is
// often not there yet when the read for it starts (the client sends it after it has our
// response), and then that first recv() is a wasted system call: at full load, 0.5 of the 2.65
// system calls of a cache hit (docs/benchmarks.md "Round 5").
//
// This operation reads with recvmsg() and asks the kernel, with the TCP_INQ socket option, how many
// bytes are still queued after the read. It reports `done_and_exhausted` only when the read was
// short *and* the kernel says nothing is left: no data and no FIN (the kernel's hint counts a
// received FIN as one byte, so a FIN that arrived with the data is still read at once). The
// descriptor is registered edge-triggered, so data that arrives later raises a new readiness event,
// and the next read waits for it without a system call in between.
//
// A connection reset queued behind the data is not in the hint: the next read then waits for the
// next readiness event rather than seeing the reset at once. For a client's request that is
// harmless (the response write that follows fails, and the connection's deadlines bound every
// wait), so the proxy uses this operation only for plain client request reads; node connections
// keep Asio's own read, where a node's reset must be seen at once.
//
// Needs the epoll reactor (Linux without io_uring), which the static_assert checks; the operation
// is built from Asio's documented-internal pieces (reactor_op, handler_work) the way Asio's own
// receive operation is. Per-operation cancellation is supported; close() and cancel() work as for
// any socket operation.

#include "core/asio.hpp"

#include <boost/asio/associated_cancellation_slot.hpp>
#include <boost/asio/detail/epoll_reactor.hpp>
#include <boost/asio/detail/fenced_block.hpp>
#include <boost/asio/detail/handler_alloc_helpers.hpp>
#include <boost/asio/detail/handler_work.hpp>
#include <boost/asio/detail/memory.hpp>
#include <boost/asio/detail/reactor_op.hpp>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>
#include <type_traits>

namespace bcp::net {

static_assert(std::is_same_v<boost::asio::detail::reactor, boost::asio::detail::epoll_reactor>,
              "drain reads need Asio's epoll reactor");

/// Asks the kernel to report, with every read on `socket`, how many bytes are still queued
/// (TCP_INQ, Linux 4.18+). On a listening socket it is set once for every connection accepted
/// from it (they inherit it: net::open_listener does this). Returns false when the option is not
/// available; async_drain_read then behaves exactly like async_read_some.
template <class Socket>
bool enable_drain_reads(Socket& socket) {
    const int on = 1;
    return ::setsockopt(socket.native_handle(), SOL_TCP, TCP_INQ, &on, sizeof on) == 0;
}

namespace drain_detail {

namespace ad = boost::asio::detail;

/// The reactor operation without the handler: performs the read.
class recv_op_base : public ad::reactor_op {
  public:
    recv_op_base(const error_code& success_ec, int fd, asio::mutable_buffer buffer,
                 func_type complete)
        : reactor_op(success_ec, &recv_op_base::do_perform, complete), fd_(fd), buffer_(buffer) {}

    static status do_perform(reactor_op* base) {
        auto* o = static_cast<recv_op_base*>(base);
        iovec iov{o->buffer_.data(), o->buffer_.size()};
        alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))];
        msghdr msg{};
        msg.msg_iov = &iov;
        msg.msg_iovlen = 1;
        ssize_t n = 0;
        do {
            msg.msg_control = control;
            msg.msg_controllen = sizeof control;
            n = ::recvmsg(o->fd_, &msg, MSG_DONTWAIT);
        } while (n < 0 && errno == EINTR);
        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                return not_done;  // wait for readiness
            }
            o->ec_ = error_code(errno, boost::asio::error::get_system_category());
            o->bytes_transferred_ = 0;
            return done;
        }
        o->bytes_transferred_ = static_cast<std::size_t>(n);
        if (n == 0) {
            o->ec_ = boost::asio::error::eof;  // as Asio's own receive on a stream
            return done_and_exhausted;
        }
        if (static_cast<std::size_t>(n) < o->buffer_.size() && queued_after(msg) == 0) {
            return done_and_exhausted;
        }
        return done;
    }

  private:
    /// The kernel's TCP_CM_INQ hint, or -1 when the read carried none (option off).
    static int queued_after(msghdr& msg) {
        if ((msg.msg_flags & MSG_CTRUNC) != 0) {
            return -1;
        }
        for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
            if (c->cmsg_level == SOL_TCP && c->cmsg_type == TCP_CM_INQ &&
                c->cmsg_len >= CMSG_LEN(sizeof(int))) {
                int inq = 0;
                std::memcpy(&inq, CMSG_DATA(c), sizeof inq);
                return inq;
            }
        }
        return -1;
    }

    int fd_;
    asio::mutable_buffer buffer_;
};

template <class Handler, class IoExecutor>
class recv_op : public recv_op_base {
  public:
    BOOST_ASIO_DEFINE_HANDLER_PTR(recv_op);

    recv_op(const error_code& success_ec, int fd, asio::mutable_buffer buffer, Handler& handler,
            const IoExecutor& io_ex)
        : recv_op_base(success_ec, fd, buffer, &recv_op::do_complete),
          handler_(std::move(handler)),
          work_(handler_, io_ex) {}

    static void do_complete(void* owner, ad::operation* base, const error_code& /*ec*/,
                            std::size_t /*bytes_transferred*/) {
        auto* o = static_cast<recv_op*>(base);
        ptr p = {ad::addressof(o->handler_), o, o};
        ad::handler_work<Handler, IoExecutor> w(std::move(o->work_));
        // The operation's memory is freed before the upcall, so the handler is moved out first.
        ad::binder2<Handler, error_code, std::size_t> handler(o->handler_, o->ec_,
                                                              o->bytes_transferred_);
        p.h = ad::addressof(handler.handler_);
        p.reset();
        if (owner != nullptr) {  // null: the io_context is being destroyed
            ad::fenced_block b(ad::fenced_block::half);
            w.complete(handler, handler.handler_);
        }
    }

  private:
    Handler handler_;
    ad::handler_work<Handler, IoExecutor> work_;
};

/// Per-operation cancellation: removes the queued read from the reactor.
class cancel_read {
  public:
    cancel_read(ad::epoll_reactor* reactor, ad::epoll_reactor::per_descriptor_data* data, int fd)
        : reactor_(reactor), data_(data), fd_(fd) {}
    void operator()(asio::cancellation_type_t type) {
        if (!!(type & (asio::cancellation_type::terminal | asio::cancellation_type::partial |
                       asio::cancellation_type::total))) {
            reactor_->cancel_ops_by_key(fd_, *data_, ad::epoll_reactor::read_op, this);
        }
    }

  private:
    ad::epoll_reactor* reactor_;
    ad::epoll_reactor::per_descriptor_data* data_;
    int fd_;
};

/// Reaches the socket's reactor-level state (protected in basic_socket) without a cast.
struct socket_access : tcp::socket {
    static auto& impl(tcp::socket& s) { return s.*(&socket_access::impl_); }
};

}  // namespace drain_detail

/// Like `socket.async_read_some(buffer, token)` (completion: void(error_code, std::size_t)), but
/// tells the reactor when the socket is drained (see the top of this file). Needs TCP_INQ on the
/// socket (enable_drain_reads, on it or on its listener); without it this behaves like
/// async_read_some.
template <class Token>
auto async_drain_read(tcp::socket& socket, asio::mutable_buffer buffer, Token&& token) {
    return asio::async_initiate<Token, void(error_code, std::size_t)>(
        [&socket](auto handler, asio::mutable_buffer b) {
            namespace ad = boost::asio::detail;
            using handler_type = decltype(handler);
            using executor_type = tcp::socket::executor_type;
            if (b.size() == 0 || !socket.is_open()) {
                socket.async_read_some(b, std::move(handler));  // Asio's answers for both
                return;
            }
            auto& io = drain_detail::socket_access::impl(socket);
            auto& impl = io.get_implementation();
            if ((impl.state_ & ad::socket_ops::non_blocking) == 0) {
                error_code ec;
                if (!ad::socket_ops::set_internal_non_blocking(impl.socket_, impl.state_, true,
                                                               ec)) {
                    socket.async_read_some(b, std::move(handler));
                    return;
                }
            }
            auto& reactor = asio::use_service<ad::epoll_reactor>(
                asio::query(socket.get_executor(), asio::execution::context));
            const bool is_continuation = boost_asio_handler_cont_helpers::is_continuation(handler);
            auto slot = asio::get_associated_cancellation_slot(handler);

            using op = drain_detail::recv_op<handler_type, executor_type>;
            typename op::ptr p = {ad::addressof(handler), op::ptr::allocate(handler), nullptr};
            p.p = new (p.v) op(error_code(), impl.socket_, b, handler, socket.get_executor());
            if (slot.is_connected()) {
                p.p->cancellation_key_ = &slot.template emplace<drain_detail::cancel_read>(
                    &reactor, &impl.reactor_data_, impl.socket_);
            }
            reactor.start_op(ad::epoll_reactor::read_op, impl.socket_, impl.reactor_data_, p.p,
                             is_continuation, true);
            p.v = p.p = nullptr;
        },
        token, buffer);
}

}  // namespace bcp::net
