#pragma once
// TLS contexts. Server side: TLS 1.2+, forward-secret AEAD suites only for TLS 1.2, ALPN
// "http/1.1", released buffers on idle connections. Client side (to nodes): TLS 1.2+, peer
// verification with host-name check and SNI (see prepare_client).

#include "core/error.hpp"

#include <openssl/ssl.h>
#include <boost/asio/ssl/context.hpp>

#include <memory>
#include <string>

namespace bcp::net {

struct tls_result {
    std::shared_ptr<boost::asio::ssl::context> context;  ///< null on failure
    std::string error;                                   ///< what failed, naming the file
};

/// `http2`: offer h2 by ALPN before http/1.1 (the proxy's listeners; test and demo nodes do not).
tls_result make_server_context(const std::string& certificate_file, const std::string& key_file,
                               bool http2 = false);

/// `ca_file` empty = the system's default trust store.
tls_result make_client_context(bool verify, const std::string& ca_file);

/// Sets SNI (unless `host` is an IP literal) and, when verifying, the host-name check on a client
/// stream before its handshake. Returns false if OpenSSL refused the name.
[[nodiscard]] bool prepare_client(SSL* ssl, const std::string& host, bool verify);

}  // namespace bcp::net
