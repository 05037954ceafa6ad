#include <doctest/doctest.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>

#include <filesystem>
#include <memory>
#include <string>
#include <string_view>

#include "metadata/ca_store.hpp"
#include "oci_test_material.hpp"
#include "temp_file.hpp"

using nicsync::test::TempFile;
using nicsync::tls::LoadedCaStore;
using nicsync::tls::same_openssl;
using nicsync::tls::SharedCaStore;

namespace {

/// How libcurl over this process's OpenSSL names its TLS library: "OpenSSL/3.0.22".
std::string this_openssl_for_curl() {
  return std::string("OpenSSL/") + OpenSSL_version(OPENSSL_VERSION_STRING);
}

using SslCtx = std::unique_ptr<SSL_CTX, decltype(&SSL_CTX_free)>;

SslCtx new_ssl_ctx() {
  SslCtx context(SSL_CTX_new(TLS_client_method()), &SSL_CTX_free);
  REQUIRE(context);
  return context;
}

/// X509_verify_cert() of `certificate_pem` against `store`, no intermediates.
int verify(X509_STORE* store, std::string_view certificate_pem) {
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(
      BIO_new_mem_buf(certificate_pem.data(), static_cast<int>(certificate_pem.size())), &BIO_free);
  std::unique_ptr<X509, decltype(&X509_free)> certificate(
      PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr), &X509_free);
  REQUIRE(certificate);
  std::unique_ptr<X509_STORE_CTX, decltype(&X509_STORE_CTX_free)> context(X509_STORE_CTX_new(),
                                                                          &X509_STORE_CTX_free);
  REQUIRE(X509_STORE_CTX_init(context.get(), store, certificate.get(), nullptr) == 1);
  return X509_verify_cert(context.get());
}

}  // namespace

TEST_SUITE("metadata::SharedCaStore") {

TEST_CASE("same_openssl: libcurl over the very OpenSSL 3 release that is loaded, nothing else") {
  CHECK(same_openssl("OpenSSL/3.0.22", "OpenSSL 3.0.22 25 Aug 2026"));
  CHECK(same_openssl("OpenSSL/3.0.7", "OpenSSL 3.0.7 1 Nov 2022"));          // RHEL 9
  CHECK_FALSE(same_openssl("OpenSSL/3.0.2", "OpenSSL 3.0.22 25 Aug 2026"));  // a prefix is not a match
  CHECK_FALSE(same_openssl("OpenSSL/3.0.22", "OpenSSL 3.0.2 15 Mar 2022"));
  CHECK_FALSE(same_openssl("OpenSSL/1.1.1k", "OpenSSL 1.1.1k  FIPS 25 Mar 2021"));  // not OpenSSL 3
  CHECK_FALSE(same_openssl("GnuTLS/3.7.9", "OpenSSL 3.0.22 25 Aug 2026"));
  CHECK_FALSE(same_openssl("LibreSSL/3.8.2", "OpenSSL 3.0.22 25 Aug 2026"));
  // MultiSSL: the parentheses mark the backend not chosen.
  CHECK_FALSE(same_openssl("(OpenSSL/3.0.22) GnuTLS/3.7.9", "OpenSSL 3.0.22 25 Aug 2026"));
  CHECK_FALSE(same_openssl("", "OpenSSL 3.0.22 25 Aug 2026"));
}

TEST_CASE("shareable: libcurl over this process's OpenSSL, not another TLS library") {
  CHECK(SharedCaStore::shareable(this_openssl_for_curl()));
  CHECK_FALSE(SharedCaStore::shareable("GnuTLS/3.7.9"));
}

TEST_CASE("the file loads once; every SSL_CTX it goes to verifies against that one store, which outlives it") {
  TempFile ca(nicsync::test::kLeafCertificatePem, ".pem");
  LoadedCaStore loaded = SharedCaStore::load(ca.path());
  REQUIRE(loaded.store);
  CHECK(loaded.why_not == "");

  SslCtx first = new_ssl_ctx();
  SslCtx second = new_ssl_ctx();
  CHECK(verify(SSL_CTX_get_cert_store(first.get()), nicsync::test::kLeafCertificatePem) == 0);  // its own, empty
  REQUIRE(loaded.store->install(first.get()));
  REQUIRE(loaded.store->install(second.get()));
  X509_STORE* store = SSL_CTX_get_cert_store(first.get());
  CHECK(store == SSL_CTX_get_cert_store(second.get()));
  // A CA need not be self-signed to anchor a chain, as libcurl trusts its own CA file.
  CHECK((X509_VERIFY_PARAM_get_flags(X509_STORE_get0_param(store)) & X509_V_FLAG_PARTIAL_CHAIN) != 0);

  loaded.store.reset();
  first.reset();
  CHECK(verify(SSL_CTX_get_cert_store(second.get()), nicsync::test::kLeafCertificatePem) == 1);
}

TEST_CASE("no store, and OpenSSL's error queue left empty: a missing file, a file without a certificate") {
  LoadedCaStore missing = SharedCaStore::load("/nonexistent/nicsync-ca.pem");
  CHECK_FALSE(missing.store);
  CHECK(missing.why_not == "/nonexistent/nicsync-ca.pem: no certificate loaded");

  TempFile key_only(nicsync::test::kLeafKeyPem, ".pem");
  LoadedCaStore no_certificate = SharedCaStore::load(key_only.path());
  CHECK_FALSE(no_certificate.store);
  CHECK(no_certificate.why_not == key_only.path() + ": no certificate loaded");
  CHECK(ERR_peek_error() == 0);
}

TEST_CASE("no file named: OpenSSL's default CA file, which libcurl before 7.84 cannot name (ca-certificates)") {
  REQUIRE(std::filesystem::exists(X509_get_default_cert_file()));
  LoadedCaStore loaded = SharedCaStore::load("");
  CHECK(loaded.store);
  CHECK(loaded.why_not == "");
}

}  // TEST_SUITE
