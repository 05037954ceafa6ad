#include <doctest/doctest.h>

#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <chrono>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "oci/crypto.hpp"
#include "oci_test_material.hpp"

using nicsync::oci::base64_encode;
using nicsync::oci::base64url_decode;
using nicsync::oci::Certificate;
using nicsync::oci::jwt_expiry;
using nicsync::oci::RsaKey;
using nicsync::oci::sha256;
using nicsync::oci::TimePoint;
using nicsync::test::kLeafCertificatePem;
using nicsync::test::kLeafKeyPem;
using nicsync::test::verifies_sha256;

namespace {

constexpr std::string_view kWhat = "oracle: identity/cert.pem";

/// `openssl x509 -in leaf.pem -noout -fingerprint -sha256`
constexpr std::string_view kLeafFingerprint =
    "83:FC:AC:9F:B5:A9:78:AB:7A:FF:A4:87:9D:C9:1D:9D:61:C1:04:5C:1A:4D:B9:06:47:73:90:C1:24:8B:48:48";
/// `openssl x509 -in leaf.pem -noout -enddate`: Nov 18 22:11:46 2036 GMT.
constexpr int64_t kLeafNotAfter = 2110659106;
/// `openssl pkey -in leaf.key -pubout -outform DER | sha256sum`
constexpr std::string_view kLeafPublicKeySha256 =
    "a254942b3a7f28d056f6bec0d6776903995188d3757335948becd898e6a9cca0";

/// `openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256`
constexpr std::string_view kEcKeyPem = R"(-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgCg2DVY7qO063maEH
fEMy0FtBzU2RoRTq50DfUtFUWpehRANCAAQaRdeI+k2Acnc+euKRLUhSUESO15EX
O1UzCDnFbediFfHke3Q2czsum0QZQWIgKpr76uZxPe/+lZ8h06juO3uB
-----END PRIVATE KEY-----
)";

/// `openssl genrsa -aes256 -passout pass:secret 1024` (encrypted PKCS#8)
constexpr std::string_view kEncryptedKeyPem = R"(-----BEGIN ENCRYPTED PRIVATE KEY-----
MIIC3TBXBgkqhkiG9w0BBQ0wSjApBgkqhkiG9w0BBQwwHAQIY99jZRup42wCAggA
MAwGCCqGSIb3DQIJBQAwHQYJYIZIAWUDBAEqBBCQG3G2nNBQf/a1z6ngJhYQBIIC
gAuWtcO1u+Pz0Gx+ZkV+IOH/OrPJZvRnUxv77Hhzsx+m59q4YLjgnUV9nUQsS20U
G9NM/dkGMwsu50Dth3ICSYQ7M9+98lJIEKOHQc61UY41XAJcZpGsXCwH+oNGB2Vg
XTcpo4CCBVBYzUXecU3NGz7+edhZMHz5dqTM9VgrqfbMBeNoZj6XVX/8Lzk+jC61
rA1HUSel8XkyTMStbuAt3KIg+FBYQKhALR/yuI1HoxWArngUMznNDXSnLE1YLdlX
IQZpm72c343jCSF1vwOEs8N41EMjBJF4AXXfMoHl0aJ0gpUNxVCtv2l7xR23DTwA
xM+ouQ++w/sv8M/0t6naWQ89xLRiVj1QdvGYCmqsnrcIhAtrIpsWnKTCcsl3rGhc
hMDRoCJGbHq2hUOc0Y7AjaTdGvwGS29DGmbUIP3nvMQfrk1AjQoWi05Ec5bNxAb/
Jjbwc2nfYNSKXb5s7NVicJeDChBCofv+DsLpNOrRcz7W72/7ZUkJ2xR4JXeqhGZX
j/pTa9Sdcu70RwwWjxmhdkgLCab/dOtuF5j9No8KnQWs4UG0vksgd1og5ZDEyRGJ
rR5g7G1PMaIZh1cKQZ37IbBMAcR8iBkYDDrYdH5QDWSaxk/aAbs7ktMOLZyq8iF4
lUwB/8BDcngAus1FW0lAOMu+5EPCJAKCBWgXcEtoyvuuEk6m5lWD9F6txfQVnS2p
ueu7taSiDT7nwirGBt7EbYUkTyszhcA1LRQ19wl1xTfjV0GXZ6KVdezwJ+8bvrML
HGRWnutugLOPPNUqOr85WOxnmFx1IHLuwFfcRXrPmjxFNAGqHZM4Gg2A1Q9whjZ2
L4kfNf5ywmpojQ8uS8JRL+M=
-----END ENCRYPTED PRIVATE KEY-----
)";

/// `openssl genrsa -traditional -aes128 -passout pass:secret 1024` (encrypted PKCS#1)
constexpr std::string_view kEncryptedTraditionalKeyPem = R"(-----BEGIN RSA PRIVATE KEY-----
Proc-Type: 4,ENCRYPTED
DEK-Info: AES-128-CBC,0D93C2F06DE0443AF544F0A631798B53

vegylJU/utV5Ygjx33FBd4tKmUivKbBGpvRYkgiBiDZjbvtc9Y6ePMrBhurjdOdS
+W9R1sXyycHJ3ujDkxcbyMV3VeaWy6J81XD9DGpSfS8S6OJ8eCy/hS7EhxA0ctBV
vZkBu9b/zSw5HiDozITpcfZ9vfaNwDXTqoimZIDkCmjkYHm3gRbD+YFNX2u0i/5n
1RCHyuu2asCor+64fHN3tSV2/ndvBDBeQJnbiiix89kUfOLj36krN1PFqSfehW3k
jumF/5UuewyCJs92XwLP4hBHvLeKJ2qJ7rqnyz2OcBlclwzKNVIFfmUfl4Fj5+15
PX2cVyrXBKegCbQrtOCcd671L/BrW9T7QdI4rH3JJ28CIS/gTdK/9y+y/DO6VguB
kdUxhIn+xUnGCK0UpfVuC0l3vZ04J57KPeT5lKvY/ZpXDicdNDTq62aQxZMVnTL/
lmsYzJWkPwJA5M/TYRJguB1khEkLVJ6ACUC7+QS/u2+htw5q0ljHe/xt1NIS2FQT
IHLbbLzyPZg99zzdOOE51g4rzvRl828TEaJMSgXeaImcibm1g7Qu+6J9ToJbtquY
ad6Wkh70PlybQmCjqhR7uFS9uhemdeTxeasod6/ORnc7BqEqzQWxIa1qKXlyHhJ3
VYbmbl8U5xrySbwmw2eQLlaigamBJSi2Z0CD+XLsbM/I4nESKc1UtqZ4HnCgeIOB
QHT2c6ZHskVh/cWks9MKE1nX6ruG5g3H5iUaoRKa30/2s8hKsVtQuQAwQtLaVvrt
PB9NC9kYMUsNW0ai9NxpxRJ069Yi3P220pUlYk/YxVAvJPBo1B3qsxVPNpweOLxl
-----END RSA PRIVATE KEY-----
)";

/// `openssl genpkey -algorithm RSA-PSS -pkeyopt rsa_keygen_bits:1024`: RSA, but PSS only.
constexpr std::string_view kRsaPssKeyPem = R"(-----BEGIN PRIVATE KEY-----
MIICdAIBADALBgkqhkiG9w0BAQoEggJgMIICXAIBAAKBgQCoAxM3cstwXxN8lr2Y
h4IK2EyyWnLqtebJIP9ifufTmQ53uMpLQK6whKwdPvEEIjgI8uqDFc5skiLpJjJD
Ap1kFa8lghp7uNv2pWZcbL5TuOt3P5RTLXMfjuUWyPrHT5tR9iFgdR5Xv0lrKhgu
3FpSHd4oa1epzGc/x4s+TgBCCQIDAQABAoGAKqINIEba5LrbgQPnPGs2TnYwkBlv
i6t40pSy+VVmkkUGbM7RVmMlcNlZq1orYnckbPDnHThNVzOF9E+i9WoWccPlKruT
GDNEHsBYcEiOkyBgoWdhXKbF+U1+3xueJhpNsBL9XLJbYy3SonY+9XStbJdl9yhg
OBDEfETrftSjhjkCQQDROqvWuK0Dy36MocjHYBfEr5AmtkDfL7ooA5r33MfeTVMe
PHe0C98dYxkBL3bP2QLnaCsRuqShpmH91746ktbvAkEAzZG2xY3mIZYOjJqSlXfq
gX3qPMERqDckM53VbrNC1HmljGlNIGPCCuODzo5Uq/D0/fTzH46qkwXgYhqknm22
hwJAJ1G7UVLLUNdBJPSSYsVwMgo8MMo3TroNZc+no8Td2qz1Xc1HQZKpj0A8RrjA
vzatEQfGcEJ/BdHawHV2zlMiCQJAIxSqzCvbCgBBm10Fhtxf+Jk0UAniqYI/e0+E
DNAqp3fa+Is/zjc39gO9ipJfgLguFuimVMxT76MhF5zUWvT+IQJBAMmco4Seo8ip
+dhJfOOps77Wh5lVv4iSzXdSfE6fHkmFOqlB7gNPWEDmPvOhbP7UyToVKtd9A+EH
1uV2bpgMFCg=
-----END PRIVATE KEY-----
)";

std::string hex(std::string_view bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : bytes) {
    out += kDigits[c >> 4];
    out += kDigits[c & 0x0f];
  }
  return out;
}

/// A certificate self-signed with kLeafKeyPem, with `subject` ({field, value} in order; a field
/// "+X" adds X to the previous RDN) and
/// notAfter `not_after` (ASN.1 time text such as "20340101000000Z"), built by libcrypto.
std::string make_certificate_pem(const std::vector<std::pair<std::string, std::string>>& subject,
                                 const std::string& not_after = "20340101000000Z") {
  const std::unique_ptr<BIO, decltype(&BIO_free)> key_bio(
      BIO_new_mem_buf(kLeafKeyPem.data(), static_cast<int>(kLeafKeyPem.size())), &BIO_free);
  const std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key(
      PEM_read_bio_PrivateKey(key_bio.get(), nullptr, nullptr, nullptr), &EVP_PKEY_free);
  REQUIRE(key);
  const std::unique_ptr<X509, decltype(&X509_free)> x509(X509_new(), &X509_free);
  REQUIRE(X509_set_version(x509.get(), 2) == 1);
  REQUIRE(ASN1_INTEGER_set(X509_get_serialNumber(x509.get()), 7) == 1);
  REQUIRE(ASN1_TIME_set_string(X509_getm_notBefore(x509.get()), "20240101000000Z") == 1);
  REQUIRE(ASN1_TIME_set_string(X509_getm_notAfter(x509.get()), not_after.c_str()) == 1);
  X509_NAME* name = X509_get_subject_name(x509.get());
  for (const auto& [field, value] : subject) {
    // "+OU": joins the previous entry's RDN (a multi-valued RDN) instead of starting one.
    const bool joins = field.starts_with('+');
    REQUIRE(X509_NAME_add_entry_by_txt(name, field.c_str() + (joins ? 1 : 0), MBSTRING_UTF8,
                                       reinterpret_cast<const unsigned char*>(value.c_str()), -1, -1,
                                       joins ? -1 : 0) == 1);
  }
  REQUIRE(X509_set_issuer_name(x509.get(), name) == 1);
  REQUIRE(X509_set_pubkey(x509.get(), key.get()) == 1);
  REQUIRE(X509_sign(x509.get(), key.get(), EVP_sha256()) > 0);
  const std::unique_ptr<BIO, decltype(&BIO_free)> out(BIO_new(BIO_s_mem()), &BIO_free);
  REQUIRE(PEM_write_bio_X509(out.get(), x509.get()) == 1);
  char* data = nullptr;
  const long size = BIO_get_mem_data(out.get(), &data);
  return std::string(data, static_cast<size_t>(size));
}

Certificate certificate_with(const std::vector<std::pair<std::string, std::string>>& subject) {
  auto certificate = Certificate::parse_pem(make_certificate_pem(subject), kWhat);
  REQUIRE(certificate.ok());
  return *certificate;
}

std::string jwt_with_payload(std::string_view payload_json) {
  std::string payload = base64_encode(payload_json);
  while (!payload.empty() && payload.back() == '=') payload.pop_back();
  for (char& c : payload) c = c == '+' ? '-' : c == '/' ? '_' : c;
  return "eyJhbGciOiJSUzI1NiJ9." + payload + ".c2lnbmF0dXJl";  // {"alg":"RS256"} . payload . "signature"
}

TimePoint at(int64_t seconds) { return TimePoint{std::chrono::seconds{seconds}}; }

}  // namespace

TEST_SUITE("oci::crypto") {
  TEST_CASE("base64_encode matches RFC 4648's vectors, with padding and no line breaks") {
    CHECK(base64_encode("") == "");
    CHECK(base64_encode("f") == "Zg==");
    CHECK(base64_encode("fo") == "Zm8=");
    CHECK(base64_encode("foo") == "Zm9v");
    CHECK(base64_encode("foob") == "Zm9vYg==");
    CHECK(base64_encode("fooba") == "Zm9vYmE=");
    CHECK(base64_encode("foobar") == "Zm9vYmFy");
    CHECK(base64_encode(std::string("\xfb\xff\x00", 3)) == "+/8A");  // the standard alphabet
    const std::string long_text = base64_encode(std::string(100, 'x'));
    CHECK(long_text.size() == 136);
    CHECK(long_text.find('\n') == std::string::npos);
  }

  TEST_CASE("base64url_decode reads the URL alphabet with or without padding") {
    CHECK(*base64url_decode("") == "");
    CHECK(*base64url_decode("Zm9vYmFy") == "foobar");
    CHECK(*base64url_decode("Zm9vYg") == "foob");
    CHECK(*base64url_decode("Zm9vYg==") == "foob");
    CHECK(*base64url_decode("Zm9vYmE") == "fooba");
    CHECK(*base64url_decode("-_8A") == std::string("\xfb\xff\x00", 3));
  }

  TEST_CASE("base64url_decode says what is wrong") {
    CHECK(base64url_decode("Zm9vY").error().message == "not Base64url: 5 digits cannot encode whole bytes");
    CHECK(base64url_decode("Zm+v").error().message == "not Base64url: character 3 is \"+\"");
    CHECK(base64url_decode("Zm/v").error().message == "not Base64url: character 3 is \"/\"");
    CHECK(base64url_decode("Zg==Zg").error().message == "not Base64url: character 3 is \"=\"");
    CHECK(base64url_decode("Zm9v\n").error().message == "not Base64url: character 5 is \"\\n\"");
  }

  TEST_CASE("sha256 gives the raw 32-byte digest") {
    CHECK(hex(sha256("abc")) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    CHECK(hex(sha256("")) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    CHECK(sha256("abc").size() == 32);
  }

  TEST_CASE("a certificate's fingerprint, DER, notAfter and tenancy match the openssl CLI's view") {
    auto certificate = Certificate::parse_pem(kLeafCertificatePem, kWhat);
    REQUIRE(certificate.ok());
    CHECK(certificate->sha256_fingerprint() == kLeafFingerprint);
    CHECK(certificate->sha256_fingerprint().size() == 95);
    const std::string der = certificate->der();
    CHECK(der.size() == 1369);  // `openssl x509 -outform DER | wc -c`
    CHECK(hex(sha256(der)) == "83fcac9fb5a978ab7affa4879dc91d9d61c1045c1a4db906477390c1248b4848");
    CHECK(certificate->not_after() == at(kLeafNotAfter));
    // The subject also has O=opc-identity:...othertenancy; the OU wins.
    CHECK(*certificate->tenancy_id() == "ocid1.tenancy.oc1..exampletenancy");
  }

  TEST_CASE("parse_pem takes the first certificate of a chain and skips text around it") {
    const std::string other = make_certificate_pem({{"CN", "intermediate"}});
    const std::string text = "leaf:\n" + std::string(kLeafCertificatePem) + "intermediate:\n" + other;
    auto certificate = Certificate::parse_pem(text, kWhat);
    REQUIRE(certificate.ok());
    CHECK(certificate->sha256_fingerprint() == kLeafFingerprint);
  }

  TEST_CASE("parse_pem rejects what is not a PEM certificate, naming the source") {
    std::string truncated(kLeafCertificatePem);
    truncated.erase(200, 300);
    for (std::string_view bad :
         {std::string_view("hello"), std::string_view(""), kLeafKeyPem, std::string_view(truncated)}) {
      auto certificate = Certificate::parse_pem(bad, kWhat);
      REQUIRE_FALSE(certificate.ok());
      CHECK(certificate.error().message == "oracle: identity/cert.pem: not a PEM certificate");
    }
  }

  TEST_CASE("tenancy_id comes from an OU opc-tenant: before an O opc-identity:, in any order") {
    CHECK(*certificate_with({{"O", "opc-identity:ocid1.tenancy.oc1..fromo"},
                             {"OU", "opc-tenant:ocid1.tenancy.oc1..fromou"}})
               .tenancy_id() == "ocid1.tenancy.oc1..fromou");
    CHECK(*certificate_with({{"CN", "x"}, {"O", "opc-identity:ocid1.tenancy.oc1..fromo"}}).tenancy_id() ==
          "ocid1.tenancy.oc1..fromo");
    // Only the subject's OU and O count, and only with their prefix.
    CHECK(*certificate_with({{"CN", "opc-tenant:ocid1.tenancy.oc1..fromcn"},
                             {"OU", "opc-identity:ocid1.tenancy.oc1..x"},
                             {"O", "opc-tenant:ocid1.tenancy.oc1..y"},
                             {"OU", "opc-tenant:ocid1.tenancy.oc1..z"}})
               .tenancy_id() == "ocid1.tenancy.oc1..z");
  }

  TEST_CASE("tenancy_id finds the OU inside a multi-valued RDN") {
    const Certificate certificate = certificate_with({{"CN", "ocid1.instance.oc1.phx.i"},
                                                      {"OU", "opc-certtype:instance"},
                                                      {"+OU", "opc-tenant:ocid1.tenancy.oc1..inrdn"},
                                                      {"+OU", "opc-instance:ocid1.instance.oc1.phx.i"}});
    CHECK(*certificate.tenancy_id() == "ocid1.tenancy.oc1..inrdn");
  }

  TEST_CASE("tenancy_id is an error when the subject names none, or names something else") {
    CHECK(certificate_with({{"CN", "x"}, {"OU", "opc-instance:ocid1.instance.oc1..i"}})
              .tenancy_id()
              .error()
              .message ==
          "oracle: identity/cert.pem: the certificate's subject names no tenancy "
          "(no OU \"opc-tenant:...\" or O \"opc-identity:...\")");
    CHECK(certificate_with(
              {{"OU", "opc-tenant:ocid1.compartment.oc1..c"}, {"O", "opc-identity:ocid1.tenancy.oc1..t"}})
              .tenancy_id()
              .error()
              .message ==
          "oracle: identity/cert.pem: the certificate's tenancy \"ocid1.compartment.oc1..c\" is not "
          "an ocid1.tenancy. OCID");
    CHECK(certificate_with({{"OU", "opc-tenant:"}}).tenancy_id().error().message ==
          "oracle: identity/cert.pem: the certificate's tenancy \"\" is not an ocid1.tenancy. OCID");
  }

  TEST_CASE("not_after is exact, and clamped where the clock ends") {
    auto in_2034 = Certificate::parse_pem(make_certificate_pem({{"CN", "x"}}, "20340101000000Z"), kWhat);
    REQUIRE(in_2034.ok());
    CHECK(in_2034->not_after() == at(2019686400));  // date -u -d 2034-01-01 +%s
    auto no_expiry = Certificate::parse_pem(make_certificate_pem({{"CN", "x"}}, "99991231235959Z"), kWhat);
    REQUIRE(no_expiry.ok());
    CHECK(no_expiry->not_after() == std::chrono::floor<std::chrono::seconds>(TimePoint::max()));
  }

  TEST_CASE("a private key parses from PKCS#8 and PKCS#1 PEM and matches its certificate") {
    auto key = RsaKey::parse_private_pem(kLeafKeyPem, "oracle: identity/key.pem");
    REQUIRE(key.ok());
    CHECK(hex(sha256(key->public_key_der())) == kLeafPublicKeySha256);
    auto certificate = Certificate::parse_pem(kLeafCertificatePem, kWhat);
    REQUIRE(certificate.ok());
    CHECK(key->matches(*certificate));

    // The doc's test key is PKCS#1 ("BEGIN RSA PRIVATE KEY"); it does not match the leaf.
    auto doc_key = RsaKey::parse_private_pem(nicsync::test::kOciDocKeyPem, "doc");
    REQUIRE(doc_key.ok());
    CHECK_FALSE(doc_key->matches(*certificate));
  }

  TEST_CASE("parse_private_pem rejects anything but an unencrypted RSA private key") {
    for (std::string_view bad : {std::string_view("hello"), std::string_view(""), kLeafCertificatePem,
                                 kEcKeyPem, kEncryptedKeyPem, kEncryptedTraditionalKeyPem, kRsaPssKeyPem}) {
      auto key = RsaKey::parse_private_pem(bad, "oracle: identity/key.pem");
      REQUIRE_FALSE(key.ok());
      CHECK(key.error().message == "oracle: identity/key.pem: not an unencrypted RSA private key in PEM");
    }
  }

  TEST_CASE("sign_sha256 makes the openssl CLI's PKCS#1 v1.5 signature, which the public key verifies") {
    auto key = RsaKey::parse_private_pem(kLeafKeyPem, "key");
    REQUIRE(key.ok());
    const std::string data = "date: Thu, 05 Jan 2014 21:31:40 GMT";
    const std::string signature = key->sign_sha256(data);
    // printf '%s' "$data" | openssl dgst -sha256 -sign leaf.key | base64 -w0
    CHECK(base64_encode(signature) ==
          "CmZA1iynD8K0rIt20EmNVnj9Kd6kyMy+O4W9T5A1TJsu6JArb10MVh+K+pn/AS7o05uuA7kTYnZd+6HzjhYqI8Jk"
          "tR7zTQqlBU2+bXSLhvd4iBZmlVgwwTpzA8J1of5RoeZaPxvTJmwXuQZEXCQ6JZhMLI92qw89s6TItk25fwM5QFch"
          "lGCQBr9R5IafWbXYajILvNJKqWeZxCOAwTGJ8o7TVgKwfvWDJ3W9MpCdqSb7r/Ezs9cRrtmTZTkhx4idm+SnjoWP"
          "SV3kGL4vVFdjxPE9JJGDUt2N5v/rwJxRNn/nUbG+QNxUTBMwNqgwFyssr1VZ6PWMK5UzVeeZMf+VLw==");
    CHECK(verifies_sha256(key->public_key_der(), data, signature));
    CHECK_FALSE(verifies_sha256(key->public_key_der(), data + " ", signature));
  }

  TEST_CASE("generate makes a fresh key pair that signs and verifies") {
    auto first = RsaKey::generate();
    auto second = RsaKey::generate(2048);
    REQUIRE(first.ok());
    REQUIRE(second.ok());
    CHECK(first->public_key_der() != second->public_key_der());
    const std::string signature = first->sign_sha256("payload");
    CHECK(signature.size() == 256);
    CHECK(verifies_sha256(first->public_key_der(), "payload", signature));
    CHECK_FALSE(verifies_sha256(second->public_key_der(), "payload", signature));
    auto certificate = Certificate::parse_pem(kLeafCertificatePem, kWhat);
    REQUIRE(certificate.ok());
    CHECK_FALSE(first->matches(*certificate));
    CHECK(RsaKey::generate(512).error().message == "cannot generate an RSA key of 512 bits (at least 1024)");
  }

  TEST_CASE("jwt_expiry reads the exp claim without checking the signature") {
    CHECK(*jwt_expiry(jwt_with_payload(R"({"exp":1700000000})")) == at(1700000000));
    CHECK(*jwt_expiry(jwt_with_payload(
              R"({"sub":"ocid1.instance.oc1..i","exp":1700000000,"iat":1699996400})")) == at(1700000000));
    CHECK(*jwt_expiry(jwt_with_payload(R"({"exp":1700000000.75})")) == at(1700000000));
    // Padded Base64url payload: eyJleHAiOjE3MDAwMDAwMDB9 is {"exp":1700000000}.
    CHECK(*jwt_expiry("e30.eyJleHAiOjE3MDAwMDAwMDB9.") == at(1700000000));
    CHECK(*jwt_expiry("e30.eyJleHAiOjE3MDAwMDAwMDAgfQ==.sig") == at(1700000000));  // {"exp":1700000000 }
  }

  TEST_CASE("jwt_expiry says what is wrong with a malformed token") {
    CHECK(jwt_expiry("").error().message == "not a JWT (header.payload.signature)");
    CHECK(jwt_expiry("abc").error().message == "not a JWT (header.payload.signature)");
    CHECK(jwt_expiry("a.b").error().message == "not a JWT (header.payload.signature)");
    CHECK(jwt_expiry("a.b.c.d").error().message == "not a JWT (header.payload.signature)");
    CHECK(jwt_expiry("e30.eyJle*AiOjF9.sig").error().message ==
          "JWT payload: not Base64url: character 6 is \"*\"");
    CHECK(jwt_expiry("e30.eyJle.sig").error().message ==
          "JWT payload: not Base64url: 5 digits cannot encode whole bytes");
    CHECK(jwt_expiry(jwt_with_payload("not json")).error().message == "JWT payload is not a JSON object");
    CHECK(jwt_expiry(jwt_with_payload("[1700000000]")).error().message == "JWT payload is not a JSON object");
    CHECK(jwt_expiry(jwt_with_payload(R"({"iat":1700000000})")).error().message ==
          "JWT payload has no \"exp\"");
    CHECK(jwt_expiry(jwt_with_payload(R"({"exp":"1700000000"})")).error().message ==
          "JWT \"exp\" is not a number");
    CHECK(jwt_expiry(jwt_with_payload(R"({"exp":null})")).error().message == "JWT \"exp\" is not a number");
    CHECK(jwt_expiry(jwt_with_payload(R"({"exp":-1})")).error().message == "JWT \"exp\" -1 is out of range");
    CHECK(jwt_expiry(jwt_with_payload(R"({"exp":1e300})")).error().message ==
          "JWT \"exp\" 1e+300 is out of range");
  }
}
