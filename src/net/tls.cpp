#include "net/tls.hpp"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <boost/asio/ip/address.hpp>

namespace bcp::net {
namespace ssl = boost::asio::ssl;
namespace {

// TLS 1.2 suites: ECDHE key exchange with AEAD ciphers only (no CBC, no RSA key exchange).
// TLS 1.3 suites are OpenSSL's defaults, all strong.
constexpr const char* tls12_ciphers =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";

std::string openssl_error() {
    const unsigned long e = ERR_get_error();
    if (e == 0) {
        return "unknown OpenSSL error";
    }
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    ERR_clear_error();
    return buf;
}

// ALPN: h2 when the client offers it (and HTTP/2 is on), else http/1.1; a client that offers
// neither continues without ALPN (old clients) rather than failing the handshake.
constexpr unsigned char h2_then_http11[] = {2, 'h', '2', 8, 'h', 't', 't', 'p', '/', '1', '.', '1'};

int select_alpn(SSL*, const unsigned char** out, unsigned char* outlen, const unsigned char* in,
                unsigned int inlen, void* arg) {
    const bool http2 = arg != nullptr;
    // Our list in our order of preference: SSL_select_next_proto takes the first of ours that
    // the client offers.
    const unsigned char* ours = http2 ? h2_then_http11 : h2_then_http11 + 3;
    const unsigned int ours_len = http2 ? sizeof h2_then_http11 : sizeof h2_then_http11 - 3;
    unsigned char* selected = nullptr;
    if (SSL_select_next_proto(&selected, outlen, ours, ours_len, in, inlen) ==
        OPENSSL_NPN_NEGOTIATED) {
        *out = selected;
        return SSL_TLSEXT_ERR_OK;
    }
    return SSL_TLSEXT_ERR_NOACK;
}

}  // namespace

tls_result make_server_context(const std::string& certificate_file, const std::string& key_file,
                               bool http2) {
    auto ctx = std::make_shared<ssl::context>(ssl::context::tls_server);
    SSL_CTX* native = ctx->native_handle();
    SSL_CTX_set_min_proto_version(native, TLS1_2_VERSION);
    SSL_CTX_set_options(
        native, SSL_OP_NO_COMPRESSION | SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_RENEGOTIATION);
    // Idle keep-alive TLS connections would otherwise hold ~34 KB of read/write buffers each.
    SSL_CTX_set_mode(native, SSL_MODE_RELEASE_BUFFERS);
    if (SSL_CTX_set_cipher_list(native, tls12_ciphers) != 1) {
        return {nullptr, "cannot set TLS cipher list: " + openssl_error()};
    }
    // The callback's argument only says whether h2 is offered (non-null: yes).
    SSL_CTX_set_alpn_select_cb(native, select_alpn,
                               http2 ? const_cast<unsigned char*>(h2_then_http11) : nullptr);
    if (SSL_CTX_use_certificate_chain_file(native, certificate_file.c_str()) != 1) {
        return {nullptr, certificate_file + ": cannot load certificate chain: " + openssl_error()};
    }
    if (SSL_CTX_use_PrivateKey_file(native, key_file.c_str(), SSL_FILETYPE_PEM) != 1) {
        // OpenSSL 3 checks the pair while loading; say so in an operator's words.
        if (ERR_GET_REASON(ERR_peek_last_error()) == X509_R_KEY_VALUES_MISMATCH) {
            ERR_clear_error();
            return {nullptr,
                    key_file + ": private key does not match certificate " + certificate_file};
        }
        return {nullptr, key_file + ": cannot load private key: " + openssl_error()};
    }
    if (SSL_CTX_check_private_key(native) != 1) {
        return {nullptr, key_file + ": private key does not match certificate " + certificate_file};
    }
    return {ctx, {}};
}

tls_result make_client_context(bool verify, const std::string& ca_file) {
    auto ctx = std::make_shared<ssl::context>(ssl::context::tls_client);
    SSL_CTX* native = ctx->native_handle();
    SSL_CTX_set_min_proto_version(native, TLS1_2_VERSION);
    SSL_CTX_set_options(native, SSL_OP_NO_COMPRESSION);
    SSL_CTX_set_mode(native, SSL_MODE_RELEASE_BUFFERS);
    // Sessions for resumption are kept by the upstream pool, per node (no internal cache).
    SSL_CTX_set_session_cache_mode(native, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL);
    if (verify) {
        ctx->set_verify_mode(ssl::verify_peer);
        if (!ca_file.empty()) {
            if (SSL_CTX_load_verify_locations(native, ca_file.c_str(), nullptr) != 1) {
                return {nullptr, ca_file + ": cannot load CA certificates: " + openssl_error()};
            }
        } else if (SSL_CTX_set_default_verify_paths(native) != 1) {
            return {nullptr, "cannot load the system CA store: " + openssl_error()};
        }
    } else {
        ctx->set_verify_mode(ssl::verify_none);
    }
    return {ctx, {}};
}

bool prepare_client(SSL* ssl, const std::string& host, bool verify) {
    boost::system::error_code ec;
    boost::asio::ip::make_address(host, ec);
    const bool ip_literal = !ec;
    // RFC 6066 §3: SNI carries host names only, never IP literals.
    if (!ip_literal && SSL_set_tlsext_host_name(ssl, host.c_str()) != 1) {
        return false;
    }
    if (verify) {
        // The certificate must name the host (RFC 6125): a DNS name, or an IP address entry.
        X509_VERIFY_PARAM* param = SSL_get0_param(ssl);
        X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
        const int ok = ip_literal ? X509_VERIFY_PARAM_set1_ip_asc(param, host.c_str())
                                  : X509_VERIFY_PARAM_set1_host(param, host.c_str(), 0);
        if (ok != 1) {
            return false;
        }
    }
    return true;
}

}  // namespace bcp::net
