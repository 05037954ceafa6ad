#include "oci/crypto.hpp"

#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <ctime>
#include <limits>
#include <optional>
#include <stdexcept>

#include <nlohmann/json.hpp>

#include "nicsync/address.hpp"
#include "system/shared_library.hpp"

namespace nicsync::oci {

namespace {

/// The libcrypto functions used here, from libcrypto.so.3, loaded when first needed
/// (SharedLibrary): only the OCI API signs anything, and linking libcrypto would cost every run
/// ≈ 1.3 ms and ≈ 1.5 MB. Each member is named after its function.
struct Libcrypto {
  decltype(&::BIO_free) BIO_free = nullptr;
  decltype(&::X509_free) X509_free = nullptr;
  decltype(&::EVP_PKEY_free) EVP_PKEY_free = nullptr;
  decltype(&::EVP_MD_CTX_free) EVP_MD_CTX_free = nullptr;
  decltype(&::BIO_new_mem_buf) BIO_new_mem_buf = nullptr;
  decltype(&::ERR_clear_error) ERR_clear_error = nullptr;
  decltype(&::EVP_EncodeBlock) EVP_EncodeBlock = nullptr;
  decltype(&::EVP_Digest) EVP_Digest = nullptr;
  decltype(&::EVP_sha256) EVP_sha256 = nullptr;
  decltype(&::PEM_read_bio_X509) PEM_read_bio_X509 = nullptr;
  decltype(&::ASN1_TIME_to_tm) ASN1_TIME_to_tm = nullptr;
  decltype(&::X509_get0_notAfter) X509_get0_notAfter = nullptr;
  decltype(&::i2d_X509) i2d_X509 = nullptr;
  decltype(&::CRYPTO_free) CRYPTO_free = nullptr;
  decltype(&::X509_digest) X509_digest = nullptr;
  decltype(&::X509_get_subject_name) X509_get_subject_name = nullptr;
  decltype(&::X509_NAME_entry_count) X509_NAME_entry_count = nullptr;
  decltype(&::X509_NAME_get_entry) X509_NAME_get_entry = nullptr;
  decltype(&::OBJ_obj2nid) OBJ_obj2nid = nullptr;
  decltype(&::X509_NAME_ENTRY_get_object) X509_NAME_ENTRY_get_object = nullptr;
  decltype(&::X509_NAME_ENTRY_get_data) X509_NAME_ENTRY_get_data = nullptr;
  decltype(&::ASN1_STRING_get0_data) ASN1_STRING_get0_data = nullptr;
  decltype(&::ASN1_STRING_length) ASN1_STRING_length = nullptr;
  decltype(&::EVP_PKEY_Q_keygen) EVP_PKEY_Q_keygen = nullptr;
  decltype(&::PEM_read_bio_PrivateKey) PEM_read_bio_PrivateKey = nullptr;
  decltype(&::EVP_PKEY_is_a) EVP_PKEY_is_a = nullptr;
  decltype(&::i2d_PUBKEY) i2d_PUBKEY = nullptr;
  decltype(&::EVP_MD_CTX_new) EVP_MD_CTX_new = nullptr;
  decltype(&::EVP_DigestSignInit) EVP_DigestSignInit = nullptr;
  decltype(&::EVP_DigestSign) EVP_DigestSign = nullptr;
  decltype(&::d2i_X509) d2i_X509 = nullptr;
  decltype(&::X509_get0_pubkey) X509_get0_pubkey = nullptr;
  decltype(&::EVP_PKEY_eq) EVP_PKEY_eq = nullptr;
};

/// libcrypto, loaded once per process; throws when it cannot be used.
const Libcrypto& openssl() {
  static const Libcrypto loaded = [] {
    Libcrypto lib;
    static SharedLibrary library("libcrypto.so.3");
    library.resolve("BIO_free", lib.BIO_free);
    library.resolve("X509_free", lib.X509_free);
    library.resolve("EVP_PKEY_free", lib.EVP_PKEY_free);
    library.resolve("EVP_MD_CTX_free", lib.EVP_MD_CTX_free);
    library.resolve("BIO_new_mem_buf", lib.BIO_new_mem_buf);
    library.resolve("ERR_clear_error", lib.ERR_clear_error);
    library.resolve("EVP_EncodeBlock", lib.EVP_EncodeBlock);
    library.resolve("EVP_Digest", lib.EVP_Digest);
    library.resolve("EVP_sha256", lib.EVP_sha256);
    library.resolve("PEM_read_bio_X509", lib.PEM_read_bio_X509);
    library.resolve("ASN1_TIME_to_tm", lib.ASN1_TIME_to_tm);
    library.resolve("X509_get0_notAfter", lib.X509_get0_notAfter);
    library.resolve("i2d_X509", lib.i2d_X509);
    library.resolve("CRYPTO_free", lib.CRYPTO_free);
    library.resolve("X509_digest", lib.X509_digest);
    library.resolve("X509_get_subject_name", lib.X509_get_subject_name);
    library.resolve("X509_NAME_entry_count", lib.X509_NAME_entry_count);
    library.resolve("X509_NAME_get_entry", lib.X509_NAME_get_entry);
    library.resolve("OBJ_obj2nid", lib.OBJ_obj2nid);
    library.resolve("X509_NAME_ENTRY_get_object", lib.X509_NAME_ENTRY_get_object);
    library.resolve("X509_NAME_ENTRY_get_data", lib.X509_NAME_ENTRY_get_data);
    library.resolve("ASN1_STRING_get0_data", lib.ASN1_STRING_get0_data);
    library.resolve("ASN1_STRING_length", lib.ASN1_STRING_length);
    library.resolve("EVP_PKEY_Q_keygen", lib.EVP_PKEY_Q_keygen);
    library.resolve("PEM_read_bio_PrivateKey", lib.PEM_read_bio_PrivateKey);
    library.resolve("EVP_PKEY_is_a", lib.EVP_PKEY_is_a);
    library.resolve("i2d_PUBKEY", lib.i2d_PUBKEY);
    library.resolve("EVP_MD_CTX_new", lib.EVP_MD_CTX_new);
    library.resolve("EVP_DigestSignInit", lib.EVP_DigestSignInit);
    library.resolve("EVP_DigestSign", lib.EVP_DigestSign);
    library.resolve("d2i_X509", lib.d2i_X509);
    library.resolve("X509_get0_pubkey", lib.X509_get0_pubkey);
    library.resolve("EVP_PKEY_eq", lib.EVP_PKEY_eq);
    if (!library.error().empty()) {
      throw std::runtime_error("the OCI API needs libcrypto, which cannot be used: " + library.error());
    }
    return lib;
  }();
  return loaded;
}

/// Frees an OpenSSL object with its own free function.
template <auto free_function>
struct Free {
  template <typename T>
  void operator()(T* object) const {
    (openssl().*free_function)(object);
  }
};

using BioPtr = std::unique_ptr<BIO, Free<&Libcrypto::BIO_free>>;
using X509Ptr = std::unique_ptr<X509, Free<&Libcrypto::X509_free>>;
using PkeyPtr = std::unique_ptr<EVP_PKEY, Free<&Libcrypto::EVP_PKEY_free>>;
using MdCtxPtr = std::unique_ptr<EVP_MD_CTX, Free<&Libcrypto::EVP_MD_CTX_free>>;

/// A read-only memory BIO over `text` (which must outlive it).
BioPtr memory_bio(std::string_view text) {
  if (text.size() > static_cast<size_t>(std::numeric_limits<int>::max()))
    throw std::length_error("PEM text too large");
  BioPtr bio(openssl().BIO_new_mem_buf(text.data(), static_cast<int>(text.size())));
  if (!bio) throw std::bad_alloc();
  return bio;
}

/// Refuses every passphrase request, so that an encrypted key fails instead of prompting.
int no_passphrase(char* /*buffer*/, int /*size*/, int /*rwflag*/, void* /*userdata*/) { return -1; }

/// OpenSSL leaves the reasons for a failed parse on a per-thread queue; drop them so that they
/// are not blamed on a later, unrelated call (libcurl reads the same queue).
Error parse_error(std::string message) {
  openssl().ERR_clear_error();
  return Error{std::move(message)};
}

[[noreturn]] void throw_openssl(const char* what) {
  openssl().ERR_clear_error();
  throw std::runtime_error(std::string("OpenSSL: ") + what + " failed");
}

std::string hex_pairs(const unsigned char* bytes, size_t size) {
  static constexpr char kDigits[] = "0123456789ABCDEF";
  std::string out;
  for (size_t i = 0; i < size; ++i) {
    if (i != 0) out += ':';
    out += kDigits[bytes[i] >> 4];
    out += kDigits[bytes[i] & 0x0f];
  }
  return out;
}

/// The value of a Base64url digit, or -1.
int base64url_value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '-') return 62;
  if (c == '_') return 63;
  return -1;
}

/// A broken-down UTC time as a TimePoint, clamped to what TimePoint holds (years 1678 to 2261
/// with libstdc++'s nanoseconds; X.509 allows notAfter 9999-12-31 for "no expiry").
TimePoint to_time_point(const std::tm& tm) {
  using namespace std::chrono;
  const year_month_day date{year{tm.tm_year + 1900}, month{static_cast<unsigned>(tm.tm_mon + 1)},
                            day{static_cast<unsigned>(tm.tm_mday)}};
  const sys_seconds when = sys_days{date} + hours{tm.tm_hour} + minutes{tm.tm_min} + seconds{tm.tm_sec};
  const sys_seconds latest = floor<seconds>(TimePoint::max());
  const sys_seconds earliest = ceil<seconds>(TimePoint::min());
  return when > latest ? TimePoint{latest} : when < earliest ? TimePoint{earliest} : TimePoint{when};
}

}  // namespace

std::string base64_encode(std::string_view bytes) {
  std::string out(4 * ((bytes.size() + 2) / 3) + 1, '\0');  // EVP_EncodeBlock adds a NUL
  // EVP_EncodeBlock takes an int length; feed it chunks that are a multiple of 3 bytes.
  constexpr size_t kChunk = size_t{3} << 20;
  size_t done = 0;
  size_t written = 0;
  while (done < bytes.size()) {
    const size_t size = std::min(kChunk, bytes.size() - done);
    const int n =
        openssl().EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data() + written),
                        reinterpret_cast<const unsigned char*>(bytes.data() + done), static_cast<int>(size));
    written += static_cast<size_t>(n);
    done += size;
  }
  out.resize(written);
  return out;
}

Result<std::string> base64url_decode(std::string_view text) {
  while (!text.empty() && text.back() == '=') text.remove_suffix(1);
  std::string out;
  out.reserve(text.size() * 3 / 4);
  uint32_t bits = 0;
  int bit_count = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    const int value = base64url_value(text[i]);
    if (value < 0) {
      return Error{"not Base64url: character " + std::to_string(i + 1) + " is " + quote(text.substr(i, 1))};
    }
    bits = (bits << 6) | static_cast<uint32_t>(value);
    bit_count += 6;
    if (bit_count >= 8) {
      bit_count -= 8;
      out += static_cast<char>((bits >> bit_count) & 0xff);
    }
  }
  if (text.size() % 4 == 1)
    return Error{"not Base64url: " + std::to_string(text.size()) + " digits cannot encode whole bytes"};
  return out;
}

std::string sha256(std::string_view bytes) {
  std::array<unsigned char, 32> digest{};
  unsigned int size = 0;
  if (openssl().EVP_Digest(bytes.data(), bytes.size(), digest.data(), &size, openssl().EVP_sha256(), nullptr) != 1 ||
      size != digest.size()) {
    throw_openssl("EVP_Digest");
  }
  return std::string(reinterpret_cast<const char*>(digest.data()), digest.size());
}

// ---- Certificate -------------------------------------------------------------------------------

struct Certificate::Impl {
  X509Ptr x509;
  std::string what;  ///< the source named by parse_pem, for tenancy_id()'s errors
  TimePoint not_after;
};

Result<Certificate> Certificate::parse_pem(std::string_view pem, std::string_view what) {
  const BioPtr bio = memory_bio(pem);
  X509Ptr x509(openssl().PEM_read_bio_X509(bio.get(), nullptr, no_passphrase, nullptr));
  if (!x509) return parse_error(std::string(what) + ": not a PEM certificate");
  std::tm tm{};
  if (openssl().ASN1_TIME_to_tm(openssl().X509_get0_notAfter(x509.get()), &tm) != 1) {
    return parse_error(std::string(what) + ": the certificate's notAfter is not a valid time");
  }
  auto impl = std::make_shared<Impl>();
  impl->x509 = std::move(x509);
  impl->what = std::string(what);
  impl->not_after = to_time_point(tm);
  Certificate certificate;
  certificate.impl_ = std::move(impl);
  return certificate;
}

std::string Certificate::der() const {
  unsigned char* buffer = nullptr;
  const int size = openssl().i2d_X509(impl_->x509.get(), &buffer);
  if (size < 0) throw_openssl("i2d_X509");
  std::string out(reinterpret_cast<const char*>(buffer), static_cast<size_t>(size));
  openssl().CRYPTO_free(buffer, __FILE__, __LINE__);
  return out;
}

std::string Certificate::sha256_fingerprint() const {
  std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
  unsigned int size = 0;
  if (openssl().X509_digest(impl_->x509.get(), openssl().EVP_sha256(), digest.data(), &size) != 1) throw_openssl("X509_digest");
  return hex_pairs(digest.data(), size);
}

Result<std::string> Certificate::tenancy_id() const {
  static constexpr std::string_view kTenantPrefix = "opc-tenant:";
  static constexpr std::string_view kIdentityPrefix = "opc-identity:";
  const X509_NAME* subject = openssl().X509_get_subject_name(impl_->x509.get());
  std::optional<std::string> from_unit;
  std::optional<std::string> from_organization;
  for (int i = 0; i < openssl().X509_NAME_entry_count(subject); ++i) {
    const X509_NAME_ENTRY* entry = openssl().X509_NAME_get_entry(subject, i);
    const int nid = openssl().OBJ_obj2nid(openssl().X509_NAME_ENTRY_get_object(entry));
    const ASN1_STRING* data = openssl().X509_NAME_ENTRY_get_data(entry);
    const std::string_view value(reinterpret_cast<const char*>(openssl().ASN1_STRING_get0_data(data)),
                                 static_cast<size_t>(openssl().ASN1_STRING_length(data)));
    if (nid == NID_organizationalUnitName && !from_unit && value.starts_with(kTenantPrefix)) {
      from_unit = std::string(value.substr(kTenantPrefix.size()));
    } else if (nid == NID_organizationName && !from_organization && value.starts_with(kIdentityPrefix)) {
      from_organization = std::string(value.substr(kIdentityPrefix.size()));
    }
  }
  const std::optional<std::string>& id = from_unit ? from_unit : from_organization;
  if (!id) {
    return Error{
        impl_->what +
        ": the certificate's subject names no tenancy (no OU \"opc-tenant:...\" or O \"opc-identity:...\")"};
  }
  if (!id->starts_with("ocid1.tenancy.")) {
    return Error{impl_->what + ": the certificate's tenancy " + quote(*id) +
                 " is not an ocid1.tenancy. OCID"};
  }
  return *id;
}

TimePoint Certificate::not_after() const { return impl_->not_after; }

// ---- RsaKey ------------------------------------------------------------------------------------

struct RsaKey::Impl {
  PkeyPtr pkey;
};

Result<RsaKey> RsaKey::generate(int bits) {
  if (bits < 1024)
    return Error{"cannot generate an RSA key of " + std::to_string(bits) + " bits (at least 1024)"};
  PkeyPtr pkey(openssl().EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<size_t>(bits)));
  if (!pkey) return parse_error("cannot generate an RSA key of " + std::to_string(bits) + " bits");
  auto impl = std::make_shared<Impl>();
  impl->pkey = std::move(pkey);
  RsaKey key;
  key.impl_ = std::move(impl);
  return key;
}

Result<RsaKey> RsaKey::parse_private_pem(std::string_view pem, std::string_view what) {
  const BioPtr bio = memory_bio(pem);
  PkeyPtr pkey(openssl().PEM_read_bio_PrivateKey(bio.get(), nullptr, no_passphrase, nullptr));
  // EVP_PKEY_is_a(.., "RSA") is false for RSA-PSS keys, which cannot make PKCS#1 v1.5 signatures.
  if (!pkey || openssl().EVP_PKEY_is_a(pkey.get(), "RSA") != 1) {
    return parse_error(std::string(what) + ": not an unencrypted RSA private key in PEM");
  }
  auto impl = std::make_shared<Impl>();
  impl->pkey = std::move(pkey);
  RsaKey key;
  key.impl_ = std::move(impl);
  return key;
}

std::string RsaKey::public_key_der() const {
  unsigned char* buffer = nullptr;
  const int size = openssl().i2d_PUBKEY(impl_->pkey.get(), &buffer);
  if (size < 0) throw_openssl("i2d_PUBKEY");
  std::string out(reinterpret_cast<const char*>(buffer), static_cast<size_t>(size));
  openssl().CRYPTO_free(buffer, __FILE__, __LINE__);
  return out;
}

std::string RsaKey::sign_sha256(std::string_view data) const {
  const MdCtxPtr context(openssl().EVP_MD_CTX_new());
  if (!context) throw std::bad_alloc();
  // An RSA key's default padding is PKCS#1 v1.5.
  if (openssl().EVP_DigestSignInit(context.get(), nullptr, openssl().EVP_sha256(), nullptr, impl_->pkey.get()) != 1) {
    throw_openssl("EVP_DigestSignInit");
  }
  const auto* bytes = reinterpret_cast<const unsigned char*>(data.data());
  size_t size = 0;
  if (openssl().EVP_DigestSign(context.get(), nullptr, &size, bytes, data.size()) != 1) throw_openssl("EVP_DigestSign");
  std::string signature(size, '\0');
  if (openssl().EVP_DigestSign(context.get(), reinterpret_cast<unsigned char*>(signature.data()), &size, bytes,
                     data.size()) != 1) {
    throw_openssl("EVP_DigestSign");
  }
  signature.resize(size);
  return signature;
}

bool RsaKey::matches(const Certificate& certificate) const {
  // Certificate keeps its X509 to itself; its DER is the way in.
  const std::string der = certificate.der();
  const auto* cursor = reinterpret_cast<const unsigned char*>(der.data());
  const X509Ptr x509(openssl().d2i_X509(nullptr, &cursor, static_cast<long>(der.size())));
  if (!x509) throw_openssl("d2i_X509");
  const EVP_PKEY* public_key = openssl().X509_get0_pubkey(x509.get());
  const bool same = public_key != nullptr && openssl().EVP_PKEY_eq(impl_->pkey.get(), public_key) == 1;
  openssl().ERR_clear_error();
  return same;
}

// ---- JWT ---------------------------------------------------------------------------------------

Result<TimePoint> jwt_expiry(std::string_view token) {
  const size_t first_dot = token.find('.');
  const size_t second_dot = first_dot == std::string_view::npos ? first_dot : token.find('.', first_dot + 1);
  if (second_dot == std::string_view::npos || token.find('.', second_dot + 1) != std::string_view::npos) {
    return Error{"not a JWT (header.payload.signature)"};
  }
  auto payload = base64url_decode(token.substr(first_dot + 1, second_dot - first_dot - 1));
  if (!payload) return Error{"JWT payload: " + payload.error().message};
  const nlohmann::json claims = nlohmann::json::parse(*payload, nullptr, /*allow_exceptions=*/false);
  if (!claims.is_object()) return Error{"JWT payload is not a JSON object"};
  const auto exp = claims.find("exp");
  if (exp == claims.end()) return Error{"JWT payload has no \"exp\""};
  if (!exp->is_number()) return Error{"JWT \"exp\" is not a number"};
  // NumericDate may have a fraction; whole seconds are enough. The bound keeps the conversion
  // to the clock's nanoseconds from overflowing.
  constexpr double kLatest = 8'000'000'000.0;  // the year 2223
  const double seconds = exp->get<double>();
  if (!(seconds >= 0 && seconds <= kLatest)) return Error{"JWT \"exp\" " + exp->dump() + " is out of range"};
  return TimePoint{std::chrono::seconds{static_cast<int64_t>(seconds)}};
}

}  // namespace nicsync::oci
