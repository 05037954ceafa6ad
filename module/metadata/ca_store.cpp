#include "metadata/ca_store.hpp"

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>

#include <filesystem>
#include <system_error>

#include "system/shared_library.hpp"

namespace nicsync::tls {

namespace {

/// The OpenSSL functions a shared store needs, from the libcrypto.so.3 and libssl.so.3 already in
/// the process: libcurl loaded them, and loading them here would risk pairing libcurl with a
/// second OpenSSL.
struct Openssl {
  decltype(&::OpenSSL_version) OpenSSL_version = nullptr;
  decltype(&::ERR_clear_error) ERR_clear_error = nullptr;
  decltype(&::X509_get_default_cert_file) X509_get_default_cert_file = nullptr;
  decltype(&::X509_STORE_new) X509_STORE_new = nullptr;
  decltype(&::X509_STORE_free) X509_STORE_free = nullptr;
  decltype(&::X509_STORE_up_ref) X509_STORE_up_ref = nullptr;
  decltype(&::X509_STORE_load_file) X509_STORE_load_file = nullptr;
  decltype(&::X509_STORE_set_flags) X509_STORE_set_flags = nullptr;
  decltype(&::SSL_CTX_set_cert_store) SSL_CTX_set_cert_store = nullptr;
  std::string error;  ///< why OpenSSL cannot be used; empty when it can
};

Openssl load_openssl() {
  Openssl lib;
  static SharedLibrary crypto("libcrypto.so.3", SharedLibrary::Load::if_loaded);
  static SharedLibrary ssl("libssl.so.3", SharedLibrary::Load::if_loaded);
  crypto.resolve("OpenSSL_version", lib.OpenSSL_version);
  crypto.resolve("ERR_clear_error", lib.ERR_clear_error);
  crypto.resolve("X509_get_default_cert_file", lib.X509_get_default_cert_file);
  crypto.resolve("X509_STORE_new", lib.X509_STORE_new);
  crypto.resolve("X509_STORE_free", lib.X509_STORE_free);
  crypto.resolve("X509_STORE_up_ref", lib.X509_STORE_up_ref);
  crypto.resolve("X509_STORE_load_file", lib.X509_STORE_load_file);
  crypto.resolve("X509_STORE_set_flags", lib.X509_STORE_set_flags);
  ssl.resolve("SSL_CTX_set_cert_store", lib.SSL_CTX_set_cert_store);
  lib.error = !crypto.error().empty() ? crypto.error() : ssl.error();
  return lib;
}

/// OpenSSL as libcurl loaded it; looked up once, at the first load() (libcurl is loaded by then).
const Openssl& openssl() {
  static const Openssl lib = load_openssl();
  return lib;
}

/// OpenSSL's default CA file when it exists, else the first distribution bundle that does (the
/// files libcurl's configure looks for): Debian ships OpenSSL's default file only since openssl
/// 3.0.5-3, and only in the openssl package, so Ubuntu 22.04 has none.
std::string system_ca_file(const char* openssl_default) {
  for (const char* file : {openssl_default, "/etc/ssl/certs/ca-certificates.crt",
                           "/etc/pki/tls/certs/ca-bundle.crt", "/etc/ssl/ca-bundle.pem"}) {
    std::error_code ignored;
    if (file != nullptr && std::filesystem::is_regular_file(file, ignored)) return file;
  }
  return openssl_default != nullptr ? openssl_default : "";
}

}  // namespace

bool same_openssl(std::string_view curl_ssl_version, std::string_view openssl_version) {
  constexpr std::string_view curl_prefix = "OpenSSL/";
  if (curl_ssl_version.substr(0, curl_prefix.size()) != curl_prefix) return false;
  std::string_view release = curl_ssl_version.substr(curl_prefix.size());  // "3.0.22"
  if (release.substr(0, 2) != "3.") return false;
  std::string expected = "OpenSSL " + std::string(release) + " ";
  return openssl_version.substr(0, expected.size()) == expected;
}

bool SharedCaStore::shareable(std::string_view curl_ssl_version) {
  const Openssl& lib = openssl();
  return lib.error.empty() && same_openssl(curl_ssl_version, lib.OpenSSL_version(OPENSSL_VERSION));
}

LoadedCaStore SharedCaStore::load(const std::string& ca_file) {
  const Openssl& lib = openssl();
  if (!lib.error.empty()) return {nullptr, lib.error};
  std::string file = ca_file.empty() ? system_ca_file(lib.X509_get_default_cert_file()) : ca_file;
  X509_STORE* store = lib.X509_STORE_new();
  if (store == nullptr) return {nullptr, "X509_STORE_new failed"};
  if (lib.X509_STORE_load_file(store, file.c_str()) != 1) {
    lib.ERR_clear_error();  // libcurl reads the same queue
    lib.X509_STORE_free(store);
    return {nullptr, file + ": no certificate loaded"};
  }
  lib.X509_STORE_set_flags(store, X509_V_FLAG_PARTIAL_CHAIN);
  return {std::unique_ptr<SharedCaStore>(new SharedCaStore(store)), ""};
}

SharedCaStore::~SharedCaStore() { openssl().X509_STORE_free(store_); }

bool SharedCaStore::install(void* ssl_ctx) const noexcept {
  const Openssl& lib = openssl();
  if (lib.X509_STORE_up_ref(store_) != 1) return false;
  lib.SSL_CTX_set_cert_store(static_cast<SSL_CTX*>(ssl_ctx), store_);  // takes the reference
  return true;
}

}  // namespace nicsync::tls
