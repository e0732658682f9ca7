#include "net/socket_bio.hpp"

#include <sys/socket.h>
#include <cerrno>
#include <cstdint>

namespace bcp::net {
namespace {

int fd_of(BIO* b) {
    return static_cast<int>(reinterpret_cast<std::intptr_t>(BIO_get_data(b)));
}

bool retryable(int e) {
    return e == EAGAIN || e == EWOULDBLOCK || e == EINTR;
}

int bio_write(BIO* b, const char* data, int len) {
    BIO_clear_retry_flags(b);
    const ssize_t n = ::send(fd_of(b), data, static_cast<std::size_t>(len), MSG_NOSIGNAL);
    if (n < 0 && retryable(errno)) {
        BIO_set_retry_write(b);
    }
    return static_cast<int>(n);
}

int bio_read(BIO* b, char* data, int len) {
    BIO_clear_retry_flags(b);
    const ssize_t n = ::recv(fd_of(b), data, static_cast<std::size_t>(len), 0);
    if (n < 0 && retryable(errno)) {
        BIO_set_retry_read(b);
    }
    return static_cast<int>(n);
}

int bio_puts(BIO* b, const char* s) {
    int len = 0;
    while (s[len] != '\0') {
        ++len;
    }
    return bio_write(b, s, len);
}

long bio_ctrl(BIO*, int cmd, long, void*) {
    switch (cmd) {
        case BIO_CTRL_FLUSH:
            return 1;  // nothing is buffered here
        default:
            return 0;
    }
}

int bio_create(BIO* b) {
    BIO_set_init(b, 1);
    return 1;
}

int bio_destroy(BIO*) {
    return 1;  // the socket belongs to its owner
}

const BIO_METHOD* method() {
    static BIO_METHOD* m = [] {
        BIO_METHOD* meth = BIO_meth_new(
            BIO_get_new_index() | BIO_TYPE_SOURCE_SINK | BIO_TYPE_DESCRIPTOR, "bcp socket");
        if (meth != nullptr) {
            BIO_meth_set_write(meth, bio_write);
            BIO_meth_set_read(meth, bio_read);
            BIO_meth_set_puts(meth, bio_puts);
            BIO_meth_set_ctrl(meth, bio_ctrl);
            BIO_meth_set_create(meth, bio_create);
            BIO_meth_set_destroy(meth, bio_destroy);
        }
        return meth;
    }();
    return m;
}

}  // namespace

BIO* new_socket_bio(int fd) {
    const BIO_METHOD* m = method();
    if (m == nullptr) {
        return nullptr;
    }
    BIO* b = BIO_new(m);
    if (b != nullptr) {
        BIO_set_data(b, reinterpret_cast<void*>(static_cast<std::intptr_t>(fd)));
    }
    return b;
}

}  // namespace bcp::net
