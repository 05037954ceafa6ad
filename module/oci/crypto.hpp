#pragma once
/// The cryptography OCI's instance-principal authentication needs, over OpenSSL (libcrypto):
/// X.509 leaf and intermediate certificates from the metadata service, RSA keys (the leaf's,
/// and a session key made per run), SHA-256, Base64, and the expiry of a security token (JWT).
/// Every parse takes text and a `what` naming its source, which starts each error:
/// `oracle: identity/cert.pem: not a PEM certificate`.

#include <chrono>
#include <memory>
#include <string>
#include <string_view>

#include "nicsync/result.hpp"

namespace nicsync::oci {

using TimePoint = std::chrono::system_clock::time_point;

/// Standard Base64 with padding (RFC 4648 section 4), no line breaks.
std::string base64_encode(std::string_view bytes);
/// Decodes Base64url without padding (RFC 4648 section 5; padding accepted), as in a JWT.
Result<std::string> base64url_decode(std::string_view text);
/// The raw 32-byte SHA-256 digest.
std::string sha256(std::string_view bytes);

/// An X.509 certificate (immutable, cheap to copy).
class Certificate {
 public:
  /// The first certificate of a PEM text ("-----BEGIN CERTIFICATE-----").
  static Result<Certificate> parse_pem(std::string_view pem, std::string_view what);
  /// The DER encoding.
  std::string der() const;
  /// SHA-256 of the DER: upper-case hex byte pairs joined by ':' ("AB:01:...", 95 chars).
  std::string sha256_fingerprint() const;
  /// The tenancy OCID in the subject: an OU "opc-tenant:<ocid>" or, failing that, an O
  /// "opc-identity:<ocid>". Error when neither, or when the OCID is not "ocid1.tenancy.".
  Result<std::string> tenancy_id() const;
  /// notAfter.
  TimePoint not_after() const;

 private:
  struct Impl;
  std::shared_ptr<const Impl> impl_;
};

/// An RSA key pair (immutable, cheap to copy).
class RsaKey {
 public:
  /// A fresh key pair from the system's random source.
  static Result<RsaKey> generate(int bits = 2048);
  /// An unencrypted private key in PEM ("BEGIN PRIVATE KEY" or "BEGIN RSA PRIVATE KEY").
  static Result<RsaKey> parse_private_pem(std::string_view pem, std::string_view what);
  /// The public half as DER SubjectPublicKeyInfo.
  std::string public_key_der() const;
  /// RSASSA-PKCS1-v1_5 with SHA-256 over `data`: the raw signature bytes.
  std::string sign_sha256(std::string_view data) const;
  /// Whether `certificate` carries this key's public half.
  bool matches(const Certificate& certificate) const;

 private:
  struct Impl;
  std::shared_ptr<const Impl> impl_;
};

/// The "exp" claim (seconds since the epoch) of a JWT "header.payload.signature"; the signature
/// is not checked (the token is only handed back to the service that made it).
Result<TimePoint> jwt_expiry(std::string_view token);

}  // namespace nicsync::oci
