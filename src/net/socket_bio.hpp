#pragma once
// An OpenSSL BIO over a connected, non-blocking TCP socket, like OpenSSL's own socket BIO but
// sending with MSG_NOSIGNAL: a peer that reset the connection makes SSL_write fail with EPIPE
// instead of raising SIGPIPE in the whole process (net::stream's TLS, src/net/stream.hpp).

#include <openssl/bio.h>

namespace bcp::net {

/// A new BIO reading and writing `fd` (not owned: freeing the BIO leaves the socket open).
/// nullptr if OpenSSL is out of memory.
BIO* new_socket_bio(int fd);

}  // namespace bcp::net
