#pragma once
/// Fixed keys and a certificate for the oci:: tests, made once with the openssl CLI, and a
/// signature check that goes straight to libcrypto (not through the code under test).

#include <openssl/evp.h>
#include <openssl/x509.h>

#include <memory>
#include <string>
#include <string_view>

namespace nicsync::test {

/// `openssl genrsa 2048` (PKCS#8, "BEGIN PRIVATE KEY").
inline constexpr std::string_view kLeafKeyPem = R"(-----BEGIN PRIVATE KEY-----
MIIEvAIBADANBgkqhkiG9w0BAQEFAASCBKYwggSiAgEAAoIBAQCwfeAFOTKPnSuD
9Ii8vjxIuom7x4gaUYnwJg/+Wt2wsVVYsNlpQ/IgLz9R2qDsU1oGU4ehQG6uZbFy
37BjlTPFBf64QNsLdsR6VYUz+KVFl/i3SVPtSiA6ZMs53VxaY/Ve+bQeDODlOA2n
p21bypGmwASwNdfrJl4m7PFVUmMnOeiYeECWmW1eokb+Y1nLRJSb2f/yVwEaz65i
Lv1PhIFEPfzMYo466XNwUMjroU6Z/cvXnuPAfbTERHtyK86VVRXmoME+DmsBs0M+
/kDpH22H7I5PpajqgJxHcVxZhLCK/y1Yn5Nyf9hMmpbURIY1hE3nFxn94HPiGdxW
ZxdRpsEbAgMBAAECggEAGL/LYoAhq8ua9rnw/iK2em5qHRfUaU27iEkWH2bSRVJW
HltNCZAPy91ERbALtp1+TM/O1QPKNuYndZfno3dLQgWJXCuAFqyfeGuLWSfffpGv
530+vyeQuw+NA2lxZ3LdTZBk5n02K6k/b54GCFlbhmTRONKRcOC5qD9mx5OyOCWQ
2A7q0+o6aCjy6YQLEMWzUFhm2sbK8ODp4iEXTM1LVx/CSGOflZdAdnD27Doez0/S
5baKK4Ariq5ptiEddot5zf4Zb+NbvT1YedS0h9SHwm94merQl3XSjm+Jqw2HO7NK
SW9GKXaDapIXF2TrINu01B2bnJHTqDuMby79i+mnKQKBgQDgwECZDWgN3SMYu79D
X+Q0cgiO2ToAWZNWVi/CrKh1rt1NHjO503JCoJbvAMnQu7pwqVMPjz91qLyh8W3i
0MtBywGxXdezTGtYDUhIPXZ8ufvD7G86yFfn5tc76mM4QFNy1LcClKHYealgD3ru
tNYpVQa5ZQmFn9R9554O9xwhkwKBgQDJB+PbnytpiE1i53vhSO4P5Amvva+uY7pH
EnlklK7UyxXtqQN9yiioq3k+TMXBeL0bupNPbiGYd/i6rLB3+cqNGqwZu4Yj8akp
hEoD5A1rO17cqzL7AIx0upLovQnBr31kBW1e4vuu312ja8FWKLYeTHVmSeJEMBps
pr7C5wW3WQKBgFvvSH1S9pV1N74OTpaIyxiI7OdCBG/QNGzEpJTFe8Nn3C6HhDEn
RT3r4tGxSNyRbhpXqRpcRmEivMahs4lsTziCiha7hFhbki1agY7LVYR/r3TdakJp
YUwDKVfg8OU5quj2CkaL9ghO+/HHY0nxvwj5Nt7vbY2za4B1FjqY6nDxAoGAJetx
FZo+jBeD0WYsveAN172B/j5fhxuUpZdcgpZxK/5q0nuRBwc9CCPgKNo+azIlKbfV
1aPGfoYSytOMLfVWOauQTwJKWTlaWVR0yasYxONcD2/Tm/kMhXA0CeauknRRyK4l
ZUKXivLjLNJEk8X2JFzzwCmrnoUcVuZVEVqWf3ECgYAJdeXlpE2LkjZzlhie/e3k
bhXqzieaFkOkXqIJhQg0/FsMLoRx/1n3jNXqp3gms/qRxdtCKYh0b5a5dAh4ZUn6
POGZqIbtiF+9DJYCQuoPPeTv+nhN8d4A4jA03pl6C7GIeLjn4ExAUyy6m0l3osey
BxfXEHZdEcbStnIsM1Xn3A==
-----END PRIVATE KEY-----
)";

/// Self-signed with kLeafKeyPem, subject shaped like an OCI instance certificate's:
/// `openssl req -new -x509 -key leaf.key -days 3650 -sha256 -set_serial 4660 -subj
/// "/CN=ocid1.instance.oc1.phx.exampleinstance/OU=opc-certtype:instance
/// /OU=opc-compartment:ocid1.compartment.oc1..examplecompartment
/// /OU=opc-instance:ocid1.instance.oc1.phx.exampleinstance/OU=opc-tenant:ocid1.tenancy.oc1..exampletenancy
/// /O=opc-identity:ocid1.tenancy.oc1..othertenancy"` (no line breaks in the subject).
inline constexpr std::string_view kLeafCertificatePem = R"(-----BEGIN CERTIFICATE-----
MIIFVTCCBD2gAwIBAgICEjQwDQYJKoZIhvcNAQELBQAwggFBMS8wLQYDVQQDDCZv
Y2lkMS5pbnN0YW5jZS5vYzEucGh4LmV4YW1wbGVpbnN0YW5jZTEeMBwGA1UECwwV
b3BjLWNlcnR0eXBlOmluc3RhbmNlMUIwQAYDVQQLDDlvcGMtY29tcGFydG1lbnQ6
b2NpZDEuY29tcGFydG1lbnQub2MxLi5leGFtcGxlY29tcGFydG1lbnQxPDA6BgNV
BAsMM29wYy1pbnN0YW5jZTpvY2lkMS5pbnN0YW5jZS5vYzEucGh4LmV4YW1wbGVp
bnN0YW5jZTE1MDMGA1UECwwsb3BjLXRlbmFudDpvY2lkMS50ZW5hbmN5Lm9jMS4u
ZXhhbXBsZXRlbmFuY3kxNTAzBgNVBAoMLG9wYy1pZGVudGl0eTpvY2lkMS50ZW5h
bmN5Lm9jMS4ub3RoZXJ0ZW5hbmN5MB4XDTI2MTEyMTIyMTE0NloXDTM2MTExODIy
MTE0NlowggFBMS8wLQYDVQQDDCZvY2lkMS5pbnN0YW5jZS5vYzEucGh4LmV4YW1w
bGVpbnN0YW5jZTEeMBwGA1UECwwVb3BjLWNlcnR0eXBlOmluc3RhbmNlMUIwQAYD
VQQLDDlvcGMtY29tcGFydG1lbnQ6b2NpZDEuY29tcGFydG1lbnQub2MxLi5leGFt
cGxlY29tcGFydG1lbnQxPDA6BgNVBAsMM29wYy1pbnN0YW5jZTpvY2lkMS5pbnN0
YW5jZS5vYzEucGh4LmV4YW1wbGVpbnN0YW5jZTE1MDMGA1UECwwsb3BjLXRlbmFu
dDpvY2lkMS50ZW5hbmN5Lm9jMS4uZXhhbXBsZXRlbmFuY3kxNTAzBgNVBAoMLG9w
Yy1pZGVudGl0eTpvY2lkMS50ZW5hbmN5Lm9jMS4ub3RoZXJ0ZW5hbmN5MIIBIjAN
BgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAsH3gBTkyj50rg/SIvL48SLqJu8eI
GlGJ8CYP/lrdsLFVWLDZaUPyIC8/Udqg7FNaBlOHoUBurmWxct+wY5UzxQX+uEDb
C3bEelWFM/ilRZf4t0lT7UogOmTLOd1cWmP1Xvm0Hgzg5TgNp6dtW8qRpsAEsDXX
6yZeJuzxVVJjJznomHhAlpltXqJG/mNZy0SUm9n/8lcBGs+uYi79T4SBRD38zGKO
OulzcFDI66FOmf3L157jwH20xER7civOlVUV5qDBPg5rAbNDPv5A6R9th+yOT6Wo
6oCcR3FcWYSwiv8tWJ+Tcn/YTJqW1ESGNYRN5xcZ/eBz4hncVmcXUabBGwIDAQAB
o1MwUTAdBgNVHQ4EFgQUFJi+AGdt2EqU9rrFMtNYEP+JyTQwHwYDVR0jBBgwFoAU
FJi+AGdt2EqU9rrFMtNYEP+JyTQwDwYDVR0TAQH/BAUwAwEB/zANBgkqhkiG9w0B
AQsFAAOCAQEAOXp59Cz4s63tFh+XCkn3CY/ng85xiKY+1q7gKGT4CjF50Dnjzl1f
TeQXy+W8iiFN2KbNHyTPLZH79/a4abaB2YzYLFWV7snIisIUd+uoLRJ7bpCpLKyA
1PksrGjWTDMkmYIu03Ii4+dFbRpng7npQ0WbELjzr57vsXPZ7qJeVEz/BMEyYuwx
eLQCoEPucgrnWzpD4IpVU7Ywuxa1pybKSBWJRliXkv8GfPpL7kdmI31lHTf6HBYT
3Jn6Pr2b3w8z0r0hQT2E7UvV72oRoCZuqFt29XvZ8N6TYRrk6L/+JtD4pDdxitgM
cdS0Y3ZCAq0HrjOqGQ/PBSz3W6h69ke4pQ==
-----END CERTIFICATE-----
)";

/// The test key of OCI's "Request Signatures" page (docs.oracle.com, Content/API/Concepts/
/// signingrequests.htm), 1024-bit PKCS#1 ("BEGIN RSA PRIVATE KEY").
inline constexpr std::string_view kOciDocKeyPem = R"(-----BEGIN RSA PRIVATE KEY-----
MIICXgIBAAKBgQDCFENGw33yGihy92pDjZQhl0C36rPJj+CvfSC8+q28hxA161QF
NUd13wuCTUcq0Qd2qsBe/2hFyc2DCJJg0h1L78+6Z4UMR7EOcpfdUE9Hf3m/hs+F
UR45uBJeDK1HSFHD8bHKD6kv8FPGfJTotc+2xjJwoYi+1hqp1fIekaxsyQIDAQAB
AoGBAJR8ZkCUvx5kzv+utdl7T5MnordT1TvoXXJGXK7ZZ+UuvMNUCdN2QPc4sBiA
QWvLw1cSKt5DsKZ8UETpYPy8pPYnnDEz2dDYiaew9+xEpubyeW2oH4Zx71wqBtOK
kqwrXa/pzdpiucRRjk6vE6YY7EBBs/g7uanVpGibOVAEsqH1AkEA7DkjVH28WDUg
f1nqvfn2Kj6CT7nIcE3jGJsZZ7zlZmBmHFDONMLUrXR/Zm3pR5m0tCmBqa5RK95u
412jt1dPIwJBANJT3v8pnkth48bQo/fKel6uEYyboRtA5/uHuHkZ6FQF7OUkGogc
mSJluOdc5t6hI1VsLn0QZEjQZMEOWr+wKSMCQQCC4kXJEsHAve77oP6HtG/IiEn7
kpyUXRNvFsDE0czpJJBvL/aRFUJxuRK91jhjC68sA7NsKMGg5OXb5I5Jj36xAkEA
gIT7aFOYBFwGgQAQkWNKLvySgKbAZRTeLBacpHMuQdl1DfdntvAyqpAZ0lY0RKmW
G6aFKaqQfOXKCyWoUiVknQJAXrlgySFci/2ueKlIE1QqIiLSZ8V8OlpFLRnb1pzI
7U1yQXnTAEFYM560yJlzUpOb1V4cScGd365tiSMvxLOvTA==
-----END RSA PRIVATE KEY-----
)";

/// Whether `signature` is a valid RSASSA-PKCS1-v1_5 SHA-256 signature of `data` under the
/// public key `public_key_der` (SubjectPublicKeyInfo), checked by libcrypto directly.
inline bool verifies_sha256(const std::string& public_key_der, std::string_view data,
                            const std::string& signature) {
  const auto* cursor = reinterpret_cast<const unsigned char*>(public_key_der.data());
  const std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key(
      d2i_PUBKEY(nullptr, &cursor, static_cast<long>(public_key_der.size())), &EVP_PKEY_free);
  if (!key) return false;
  const std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> context(EVP_MD_CTX_new(), &EVP_MD_CTX_free);
  if (EVP_DigestVerifyInit(context.get(), nullptr, EVP_sha256(), nullptr, key.get()) != 1) return false;
  return EVP_DigestVerify(context.get(), reinterpret_cast<const unsigned char*>(signature.data()),
                          signature.size(), reinterpret_cast<const unsigned char*>(data.data()),
                          data.size()) == 1;
}

}  // namespace nicsync::test
