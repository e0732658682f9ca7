#pragma once
// A throw-away certificate authority for tests: a self-signed CA and leaf certificates for given
// host names and IP addresses, generated in memory with the OpenSSL API (EC P-256, SHA-256).
// The certificates satisfy what Chromium checks (SAN, serverAuth EKU, validity under 398 days),
// so the browser tests can use them too. Everything throws std::runtime_error on OpenSSL failure
// (test code: a failure here is a broken environment, not a test outcome).

#include <boost/asio/ssl/context.hpp>

#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace bcp::test {

struct test_ca {
    /// A certificate issued by the CA, with its private key (PKCS#8 PEM).
    struct leaf {
        std::string cert_pem;
        std::string key_pem;
    };

    /// A new CA (CN "bcp test CA", valid from one hour ago for 30 days).
    static test_ca create();

    /// A server/client leaf for `dns_names` (e.g. "localhost") and `ips` (e.g. "127.0.0.1",
    /// "::1"), valid from one hour ago for 30 days. The first DNS name (or IP) is the CN.
    leaf issue(std::vector<std::string> dns_names, std::vector<std::string> ips = {}) const;

    std::string ca_cert_pem;
    std::string ca_key_pem;
};

/// PEM files written by write_pem_files().
struct pem_files {
    std::filesystem::path ca_cert;  ///< <dir>/ca.pem
    std::filesystem::path cert;     ///< <dir>/cert.pem (the leaf only)
    std::filesystem::path key;      ///< <dir>/key.pem (mode 0600)
};

/// Writes the CA certificate and the leaf's certificate and key into `dir` (created if missing).
pem_files write_pem_files(const std::filesystem::path& dir, const test_ca& ca,
                          const test_ca::leaf& leaf);

/// A fresh directory under the system temp dir, removed with its contents on destruction.
class temp_dir {
  public:
    explicit temp_dir(std::string_view prefix = "bcp-test");
    ~temp_dir();
    temp_dir(const temp_dir&) = delete;
    temp_dir& operator=(const temp_dir&) = delete;

    const std::filesystem::path& path() const { return path_; }

  private:
    std::filesystem::path path_;
};

/// A TLS server context (TLS 1.2+) presenting `leaf`.
boost::asio::ssl::context make_server_context(const test_ca::leaf& leaf);
/// A TLS client context (TLS 1.2+) that trusts only `ca` and verifies the peer. Host name
/// verification still needs SNI and a host_name_verification callback set by the caller.
boost::asio::ssl::context make_client_context(const test_ca& ca);

}  // namespace bcp::test
