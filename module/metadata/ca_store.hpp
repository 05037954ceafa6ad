#pragma once
/// One CA store for all the TLS connections of an HTTPS client, whatever libcurl's version: loaded
/// once from one PEM file, with the OpenSSL libcurl itself uses, and installed in each connection
/// libcurl sets up (CURLOPT_SSL_CTX_FUNCTION). libcurl 7.87 and later would cache their own store
/// for a CA file without a CA directory; older libcurl (Oracle Linux 9, RHEL 9, Ubuntu 22.04) has
/// no cache and parses the file again for every connection: ≈ 33 ms of CPU and ≈ 0.8 MiB each
/// with a bundle of ≈ 140 CAs (tests/bench/HISTORY.md, "Eleventh round").

#include <memory>
#include <string>
#include <string_view>

struct x509_store_st;  // OpenSSL's X509_STORE

namespace nicsync::tls {

/// Whether libcurl's TLS library, as curl_version_info() names it ("OpenSSL/3.0.22"), is the
/// OpenSSL 3 release the loaded libcrypto reports (OpenSSL_version(): "OpenSSL 3.0.22 25 Aug 2026").
bool same_openssl(std::string_view curl_ssl_version, std::string_view openssl_version);

class SharedCaStore;

/// A store, or why there is none.
struct LoadedCaStore {
  std::unique_ptr<SharedCaStore> store;
  std::string why_not;  ///< empty when `store` is set
};

class SharedCaStore {
 public:
  /// Whether the connections of a libcurl whose TLS library is `curl_ssl_version` can share a
  /// store: it is the OpenSSL 3 that libcurl loaded into this process.
  static bool shareable(std::string_view curl_ssl_version);

  /// The store of the certificates in `ca_file` (PEM; "" for the system's: OpenSSL's default CA
  /// file, else the first of Debian's, RHEL's and SUSE's bundles that exists), trusted as libcurl
  /// trusts its CA file: a CA need not be self-signed to anchor a chain
  /// (X509_V_FLAG_PARTIAL_CHAIN). None, with the reason, when the file does not load. Only where
  /// shareable().
  static LoadedCaStore load(const std::string& ca_file);

  ~SharedCaStore();
  SharedCaStore(const SharedCaStore&) = delete;
  SharedCaStore& operator=(const SharedCaStore&) = delete;

  /// Makes `ssl_ctx` (an SSL_CTX that libcurl is setting up) verify against this store, which the
  /// SSL_CTX then holds a reference to; false when OpenSSL could not take the reference.
  bool install(void* ssl_ctx) const noexcept;

 private:
  explicit SharedCaStore(x509_store_st* store) : store_(store) {}
  x509_store_st* store_;
};

}  // namespace nicsync::tls
