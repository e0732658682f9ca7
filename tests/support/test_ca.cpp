#include "support/test_ca.hpp"

#include <boost/asio/buffer.hpp>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <array>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <stdexcept>
#include <system_error>

namespace bcp::test {
namespace {

template <auto Free>
struct openssl_deleter {
    template <class T>
    void operator()(T* p) const {
        Free(p);
    }
};
using pkey_ptr = std::unique_ptr<EVP_PKEY, openssl_deleter<EVP_PKEY_free>>;
using x509_ptr = std::unique_ptr<X509, openssl_deleter<X509_free>>;
using bio_ptr = std::unique_ptr<BIO, openssl_deleter<BIO_free>>;
using ext_ptr = std::unique_ptr<X509_EXTENSION, openssl_deleter<X509_EXTENSION_free>>;

[[noreturn]] void fail(const char* what) {
    std::array<char, 256> text{};
    ERR_error_string_n(ERR_get_error(), text.data(), text.size());
    throw std::runtime_error(std::string("test_ca: ") + what + ": " + text.data());
}

void check(int rc, const char* what) {
    if (rc <= 0) {
        fail(what);
    }
}

pkey_ptr new_key() {
    pkey_ptr key(EVP_EC_gen("P-256"));
    if (!key) {
        fail("EVP_EC_gen");
    }
    return key;
}

std::string bio_text(BIO* bio) {
    char* data = nullptr;
    const long size = BIO_get_mem_data(bio, &data);
    return std::string(data, static_cast<std::size_t>(size));
}

std::string cert_to_pem(X509* cert) {
    bio_ptr bio(BIO_new(BIO_s_mem()));
    check(PEM_write_bio_X509(bio.get(), cert), "PEM_write_bio_X509");
    return bio_text(bio.get());
}

std::string key_to_pem(EVP_PKEY* key) {
    bio_ptr bio(BIO_new(BIO_s_mem()));
    check(PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr),
          "PEM_write_bio_PrivateKey");
    return bio_text(bio.get());
}

x509_ptr cert_from_pem(const std::string& pem) {
    bio_ptr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
    x509_ptr cert(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
    if (!cert) {
        fail("PEM_read_bio_X509");
    }
    return cert;
}

pkey_ptr key_from_pem(const std::string& pem) {
    bio_ptr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
    pkey_ptr key(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
    if (!key) {
        fail("PEM_read_bio_PrivateKey");
    }
    return key;
}

/// A certificate with a random serial, subject CN `cn`, and the validity window of the header.
x509_ptr new_cert(EVP_PKEY* key, const std::string& cn) {
    x509_ptr cert(X509_new());
    if (!cert) {
        fail("X509_new");
    }
    check(X509_set_version(cert.get(), X509_VERSION_3), "X509_set_version");
    std::array<unsigned char, 8> serial{};
    check(RAND_bytes(serial.data(), static_cast<int>(serial.size())), "RAND_bytes");
    std::uint64_t value = 0;
    for (const auto b : serial) {
        value = (value << 8) | b;
    }
    value = (value >> 1) | 1;  // positive and non-zero (RFC 5280 §4.1.2.2)
    check(ASN1_INTEGER_set_uint64(X509_get_serialNumber(cert.get()), value),
          "ASN1_INTEGER_set_uint64");
    if (X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600) == nullptr ||
        X509_gmtime_adj(X509_getm_notAfter(cert.get()), 30L * 24 * 3600) == nullptr) {
        fail("X509_gmtime_adj");
    }
    check(X509_set_pubkey(cert.get(), key), "X509_set_pubkey");
    X509_NAME* name = X509_get_subject_name(cert.get());
    check(X509_NAME_add_entry_by_txt(
              name, "O", MBSTRING_ASC,
              reinterpret_cast<const unsigned char*>("bbb-cluster-proxy tests"), -1, -1, 0),
          "X509_NAME_add_entry_by_txt");
    check(X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                                     reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0),
          "X509_NAME_add_entry_by_txt");
    return cert;
}

void add_extension(X509* cert, X509* issuer, int nid, const std::string& value) {
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
    ext_ptr ext(X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str()));
    if (!ext) {
        fail("X509V3_EXT_conf_nid");
    }
    check(X509_add_ext(cert, ext.get(), -1), "X509_add_ext");
}

}  // namespace

test_ca test_ca::create() {
    auto key = new_key();
    auto cert = new_cert(key.get(), "bcp test CA");
    check(X509_set_issuer_name(cert.get(), X509_get_subject_name(cert.get())),
          "X509_set_issuer_name");
    add_extension(cert.get(), cert.get(), NID_basic_constraints, "critical,CA:TRUE");
    add_extension(cert.get(), cert.get(), NID_key_usage, "critical,keyCertSign,cRLSign");
    add_extension(cert.get(), cert.get(), NID_subject_key_identifier, "hash");
    add_extension(cert.get(), cert.get(), NID_authority_key_identifier, "keyid:always");
    check(X509_sign(cert.get(), key.get(), EVP_sha256()), "X509_sign");
    test_ca ca;
    ca.ca_cert_pem = cert_to_pem(cert.get());
    ca.ca_key_pem = key_to_pem(key.get());
    return ca;
}

test_ca::leaf test_ca::issue(std::vector<std::string> dns_names,
                             std::vector<std::string> ips) const {
    if (dns_names.empty() && ips.empty()) {
        throw std::invalid_argument("test_ca::issue: give at least one DNS name or IP");
    }
    const auto ca_cert = cert_from_pem(ca_cert_pem);
    const auto ca_key = key_from_pem(ca_key_pem);
    auto key = new_key();
    auto cert = new_cert(key.get(), dns_names.empty() ? ips.front() : dns_names.front());
    check(X509_set_issuer_name(cert.get(), X509_get_subject_name(ca_cert.get())),
          "X509_set_issuer_name");
    std::string san;
    for (const auto& name : dns_names) {
        san += (san.empty() ? "DNS:" : ",DNS:") + name;
    }
    for (const auto& ip : ips) {
        san += (san.empty() ? "IP:" : ",IP:") + ip;
    }
    add_extension(cert.get(), ca_cert.get(), NID_basic_constraints, "critical,CA:FALSE");
    add_extension(cert.get(), ca_cert.get(), NID_key_usage, "critical,digitalSignature");
    add_extension(cert.get(), ca_cert.get(), NID_ext_key_usage, "serverAuth,clientAuth");
    add_extension(cert.get(), ca_cert.get(), NID_subject_alt_name, san);
    add_extension(cert.get(), ca_cert.get(), NID_subject_key_identifier, "hash");
    add_extension(cert.get(), ca_cert.get(), NID_authority_key_identifier, "keyid:always");
    check(X509_sign(cert.get(), ca_key.get(), EVP_sha256()), "X509_sign");
    return leaf{cert_to_pem(cert.get()), key_to_pem(key.get())};
}

pem_files write_pem_files(const std::filesystem::path& dir, const test_ca& ca,
                          const test_ca::leaf& leaf) {
    std::filesystem::create_directories(dir);
    pem_files files{dir / "ca.pem", dir / "cert.pem", dir / "key.pem"};
    const auto write = [](const std::filesystem::path& path, const std::string& text) {
        std::ofstream out(path, std::ios::binary | std::ios::trunc);
        out << text;
        if (!out.flush()) {
            throw std::runtime_error("test_ca: cannot write " + path.string());
        }
    };
    write(files.ca_cert, ca.ca_cert_pem);
    write(files.cert, leaf.cert_pem);
    write(files.key, leaf.key_pem);
    std::filesystem::permissions(
        files.key, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write,
        std::filesystem::perm_options::replace);
    return files;
}

temp_dir::temp_dir(std::string_view prefix) {
    auto pattern =
        (std::filesystem::temp_directory_path() / (std::string(prefix) + "-XXXXXX")).string();
    if (::mkdtemp(pattern.data()) == nullptr) {
        throw std::system_error(errno, std::generic_category(), "mkdtemp " + pattern);
    }
    path_ = pattern;
}

temp_dir::~temp_dir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
}

boost::asio::ssl::context make_server_context(const test_ca::leaf& leaf) {
    namespace ssl = boost::asio::ssl;
    ssl::context ctx(ssl::context::tls_server);
    ctx.set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                    ssl::context::no_sslv3 | ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1);
    ctx.use_certificate_chain(boost::asio::buffer(leaf.cert_pem));
    ctx.use_private_key(boost::asio::buffer(leaf.key_pem), ssl::context::pem);
    return ctx;
}

boost::asio::ssl::context make_client_context(const test_ca& ca) {
    namespace ssl = boost::asio::ssl;
    ssl::context ctx(ssl::context::tls_client);
    ctx.set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                    ssl::context::no_sslv3 | ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1);
    ctx.add_certificate_authority(boost::asio::buffer(ca.ca_cert_pem));
    ctx.set_verify_mode(ssl::verify_peer);
    return ctx;
}

}  // namespace bcp::test
