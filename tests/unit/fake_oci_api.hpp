#pragma once
/// A fake OCI API on top of FakeHttpClient, for unit tests: the federation endpoint
/// (POST <federation>/v1/x509) and ListPrivateIps (GET <iaas>/20160918/privateIps?vnicId=...).
/// It checks every request on its own, straight with libcrypto (never through nicsync's oci::
/// code): the keyId, the signature over a signing string it rebuilds from the request's headers,
/// the body digest and the federation body. It serves pages of a configurable size with
/// opc-next-page, configurable faults, and records what it saw so that tests can assert exact
/// sequences. A request that fails a check is answered 401 NotAuthenticated with the reason as
/// the message, and the reason is added to `problems` (tests CHECK it is empty).

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <algorithm>
#include <chrono>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "fake_http.hpp"
#include "nicsync/http.hpp"
#include "oci_test_material.hpp"

namespace nicsync::test {

/// A second certificate, served as identity/intermediate.pem: `openssl req -x509 -newkey rsa:2048
/// -nodes -subj "/CN=PKISVC Identity Intermediate r2/O=Example Oracle Test" -days 3650 -sha256
/// -set_serial 22136`.
inline constexpr std::string_view kIntermediateCertificatePem = R"(-----BEGIN CERTIFICATE-----
MIIDXzCCAkegAwIBAgICVngwDQYJKoZIhvcNAQELBQAwSDEoMCYGA1UEAwwfUEtJ
U1ZDIElkZW50aXR5IEludGVybWVkaWF0ZSByMjEcMBoGA1UECgwTRXhhbXBsZSBP
cmFjbGUgVGVzdDAeFw0yNjExMjEyMjE5MTZaFw0zNjExMTgyMjE5MTZaMEgxKDAm
BgNVBAMMH1BLSVNWQyBJZGVudGl0eSBJbnRlcm1lZGlhdGUgcjIxHDAaBgNVBAoM
E0V4YW1wbGUgT3JhY2xlIFRlc3QwggEiMA0GCSqGSIb3DQEBAQUAA4IBDwAwggEK
AoIBAQDJUurZrjyJs4by2PVDEQFArz+1JjE81Ik74ZgmoKxn1z/n01sINcUJGCyg
K/ySphCD6nl5bkvHt6buloecpYOP92T9qu08DTL4DBem9zTpKB8McXA8WJJuDfFV
7eRUwpM9i1KWtKy5cVyJn/cPLjR+UchJ73NN68t+DPtpG/N49o6YOjrjU2ifRocK
CeMZOTeBM0A6HBCQstQrvutJtCJVpopwjUSfeGXs6ARKO5tXeLWNYTg5VzE/fxQM
rhPm4hE/sPTPXKqSx/MbdtTNPaXAiE86VHGIsmpxDFeFFnikfEkKEEW/M/IqYzXv
Rno1sgWySImNvsLKWiwE0nkaz6ihAgMBAAGjUzBRMB0GA1UdDgQWBBQGR2tPr7wO
T1MrE1p/3rJiKr8wRjAfBgNVHSMEGDAWgBQGR2tPr7wOT1MrE1p/3rJiKr8wRjAP
BgNVHRMBAf8EBTADAQH/MA0GCSqGSIb3DQEBCwUAA4IBAQDFrsx/sWjAJjDDgWnF
3nxqNl/8r1Os7Y3ZHutDQkRynP5mWIGDbxO53SXhEW6cwnpzp8abveq5nbjwzmwb
YHQidnzbDcZRKftxh9rxKRK0mQXZhIY279DcyVTElliiOGMvxtD1exXP88q/2/Zs
RN+YeDt3WVzAZMzPpWKKfPoGtsXQy3B6f2kbIXhE4HT9BlS8u0DyerZfyIVdq+8g
FsSV3YcOk4wGqkvG05xGXsd9SzlQ3w+cXN9OYydNPK1sZFWqWXfbJeAuToToQTg/
ZxKRSc6zprxgsR+nRuTTpus9SfX1HlVRlwUtdAEUJr1H1VqE4uFbeB7XfijIHJLh
LTSq
-----END CERTIFICATE-----
)";

/// The leaf certificate's opc-tenant (oci_test_material.hpp).
inline constexpr std::string_view kLeafTenancy = "ocid1.tenancy.oc1..exampletenancy";
/// `openssl x509 -in leaf.pem -noout -fingerprint -sha256`
inline constexpr std::string_view kLeafSha256Fingerprint =
    "83:FC:AC:9F:B5:A9:78:AB:7A:FF:A4:87:9D:C9:1D:9D:61:C1:04:5C:1A:4D:B9:06:47:73:90:C1:24:8B:48:48";

/// The Base64 body of a PEM document: its lines between BEGIN and END, joined. For a PEM
/// certificate that is the standard Base64 of its DER.
inline std::string pem_base64(std::string_view pem) {
  std::string out;
  size_t pos = 0;
  while (pos < pem.size()) {
    size_t end = pem.find('\n', pos);
    if (end == std::string_view::npos) end = pem.size();
    std::string_view line = pem.substr(pos, end - pos);
    if (!line.empty() && !line.starts_with("-----")) out += line;
    pos = end + 1;
  }
  return out;
}

/// Standard Base64 (RFC 4648 section 4, padding required); nullopt when not valid.
inline std::optional<std::string> base64_decode_strict(std::string_view text) {
  static constexpr std::string_view kAlphabet =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  if (text.size() % 4 != 0) return std::nullopt;
  std::string out;
  for (size_t i = 0; i < text.size(); i += 4) {
    unsigned value = 0;
    int padding = 0;
    for (size_t j = 0; j < 4; ++j) {
      char c = text[i + j];
      unsigned digit = 0;
      if (c == '=') {
        if (i + 4 != text.size() || j < 2) return std::nullopt;
        ++padding;
      } else {
        if (padding > 0) return std::nullopt;
        size_t at = kAlphabet.find(c);
        if (at == std::string_view::npos) return std::nullopt;
        digit = static_cast<unsigned>(at);
      }
      value = (value << 6) | digit;
    }
    out += static_cast<char>((value >> 16) & 0xff);
    if (padding < 2) out += static_cast<char>((value >> 8) & 0xff);
    if (padding < 1) out += static_cast<char>(value & 0xff);
  }
  return out;
}

/// Standard Base64 with padding, by libcrypto.
inline std::string base64_std(std::string_view bytes) {
  std::string out(4 * ((bytes.size() + 2) / 3) + 1, '\0');
  int length =
      EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                      reinterpret_cast<const unsigned char*>(bytes.data()), static_cast<int>(bytes.size()));
  out.resize(static_cast<size_t>(length));
  return out;
}

/// Base64url without padding, as in a JWT.
inline std::string base64url_nopad(std::string_view bytes) {
  std::string out = base64_std(bytes);
  while (!out.empty() && out.back() == '=') out.pop_back();
  for (char& c : out) {
    if (c == '+') c = '-';
    if (c == '/') c = '_';
  }
  return out;
}

/// The raw SHA-256 digest, by libcrypto.
inline std::string sha256_raw(std::string_view bytes) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned length = 0;
  EVP_Digest(bytes.data(), bytes.size(), digest, &length, EVP_sha256(), nullptr);
  return std::string(reinterpret_cast<const char*>(digest), length);
}

/// The DER SubjectPublicKeyInfo of a PEM certificate's key; "" when it does not parse.
inline std::string certificate_public_key_der(std::string_view pem) {
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())),
                                                &BIO_free);
  std::unique_ptr<X509, decltype(&X509_free)> certificate(
      PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr), &X509_free);
  if (!certificate) return "";
  EVP_PKEY* key = X509_get0_pubkey(certificate.get());
  unsigned char* der = nullptr;
  int length = i2d_PUBKEY(key, &der);
  if (length <= 0) return "";
  std::string out(reinterpret_cast<const char*>(der), static_cast<size_t>(length));
  OPENSSL_free(der);
  return out;
}

/// Whether `der` is a DER SubjectPublicKeyInfo of an RSA key.
inline bool is_rsa_public_key_der(const std::string& der) {
  const auto* cursor = reinterpret_cast<const unsigned char*>(der.data());
  std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key(
      d2i_PUBKEY(nullptr, &cursor, static_cast<long>(der.size())), &EVP_PKEY_free);
  return key && EVP_PKEY_base_id(key.get()) == EVP_PKEY_RSA &&
         cursor == reinterpret_cast<const unsigned char*>(der.data()) + der.size();
}

/// Decodes %XX escapes; nullopt on a malformed escape.
inline std::optional<std::string> percent_decode(std::string_view text) {
  std::string out;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '%') {
      out += text[i];
      continue;
    }
    if (i + 2 >= text.size()) return std::nullopt;
    auto hex = [](char c) -> int {
      if (c >= '0' && c <= '9') return c - '0';
      if (c >= 'A' && c <= 'F') return c - 'A' + 10;
      return -1;  // upper-case hex digits only (RFC 3986 recommends them)
    };
    int high = hex(text[i + 1]);
    int low = hex(text[i + 2]);
    if (high < 0 || low < 0) return std::nullopt;
    out += static_cast<char>(high * 16 + low);
    i += 2;
  }
  return out;
}

/// An OCI error body: {"code": ..., "message": ...}.
inline HttpResponse oci_error(long status, const std::string& code, const std::string& message) {
  HttpResponse response;
  response.status = status;
  response.body = nlohmann::json{{"code", code}, {"message", message}}.dump();
  response.headers = {{"content-type", "application/json"}, {"opc-request-id", "fake-request"}};
  return response;
}

class FakeOciApi {
 public:
  using TimePoint = std::chrono::system_clock::time_point;

  /// One federation POST that passed every check.
  struct Federation {
    nlohmann::json body;
    std::string key_id;
    std::string signed_headers;   ///< the Authorization's headers="..."
    std::string date;             ///< the date header
    std::string host;             ///< the host header
    std::string token;            ///< issued (empty when a fault was answered instead)
    std::string session_key_der;  ///< body.publicKey, decoded
  };
  /// One ListPrivateIps GET whose signature checked out.
  struct Listing {
    std::string url;
    std::string vnic;
    std::string page;   ///< the page token asked for, decoded; "" for the first page
    std::string token;  ///< the security token of its keyId
    std::string signed_headers;
    std::string date;
    std::string host;
    long status = 0;  ///< what the fake answered
  };

  FakeOciApi(testing::FakeHttpClient& http, std::string federation_url, std::string iaas_url)
      : federation_url_(std::move(federation_url)), iaas_url_(std::move(iaas_url)) {
    http.on(HttpMethod::post, federation_url_ + "/v1/x509",
            [this](const HttpRequest& r) { return federate(r); });
    http.on_any([this](const HttpRequest& r) {
      if (r.method == HttpMethod::get && r.url.starts_with(iaas_url_ + "/20160918/privateIps?"))
        return list(r);
      HttpResponse not_found = oci_error(404, "NotFound", "no such route in the fake OCI API");
      return not_found;
    });
  }

  // --- what it serves -------------------------------------------------------------------------
  /// vnicId -> the JSON array ListPrivateIps lists (an unknown VNIC lists []).
  std::map<std::string, nlohmann::json> private_ips;
  /// Items per page; more make opc-next-page.
  size_t page_size = 100;
  /// Every page says there is another (pages past the items are []).
  bool endless = false;
  /// Tokens expire this long after they are issued.
  std::chrono::seconds token_lifetime{1200};
  /// Dates the tokens' "iat"/"exp" and decides whether a token has expired.
  std::function<TimePoint()> clock = [] { return std::chrono::system_clock::now(); };
  /// The first this many ListPrivateIps requests (signed correctly) are answered 401.
  int unauthorized_listings = 0;
  /// Answered, in order, to the next ListPrivateIps requests (after the 401s), instead of a page.
  std::deque<HttpResponse> listing_faults;
  /// Answered, in order, to the next federation POSTs (after the checks), instead of a token.
  std::deque<HttpResponse> federation_faults;
  /// Called after each ListPrivateIps request (e.g. to move the test's clock on).
  std::function<void(const Listing&)> on_listing;
  /// The certificate (and so the key) the federation expects the instance to present.
  std::string leaf_certificate_pem{kLeafCertificatePem};
  std::string intermediate_certificate_pem{kIntermediateCertificatePem};

  // --- what it saw ----------------------------------------------------------------------------
  std::vector<Federation> federations;
  std::vector<Listing> listings;
  /// Every check that failed, one line each.
  std::vector<std::string> problems;

  /// The tokens issued so far, in order.
  std::vector<std::string> tokens() const {
    std::vector<std::string> out;
    for (const Federation& f : federations) {
      if (!f.token.empty()) out.push_back(f.token);
    }
    return out;
  }

  /// Seconds since the epoch, as the tokens' "iat" and "exp" hold them.
  static long long epoch_seconds(TimePoint at) {
    return std::chrono::duration_cast<std::chrono::seconds>(at.time_since_epoch()).count();
  }

 private:
  struct Signature {
    std::map<std::string, std::string> params;
    std::string signing_string;
    std::string signature;  ///< raw bytes
  };
  struct Issued {
    std::string session_key_der;
    TimePoint expires;
  };

  static std::string lower(std::string_view text) {
    std::string out(text);
    for (char& c : out) {
      if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    }
    return out;
  }

  /// The values of every header named `name` (any case).
  static std::vector<std::string> headers_named(const HttpRequest& request, std::string_view name) {
    std::vector<std::string> out;
    for (const auto& [key, value] : request.headers) {
      if (lower(key) == lower(name)) out.push_back(value);
    }
    return out;
  }

  static std::string single_header(const HttpRequest& request, std::string_view name) {
    std::vector<std::string> values = headers_named(request, name);
    return values.size() == 1 ? values[0] : "";
  }

  HttpResponse refuse(const std::string& why) {
    problems.push_back(why);
    return oci_error(401, "NotAuthenticated", why);
  }

  /// Parses the Authorization header and rebuilds the signing string from the request; checks
  /// that `required` headers are all signed. Error text in `why`.
  std::optional<Signature> read_signature(const HttpRequest& request,
                                          const std::vector<std::string>& required, std::string& why) {
    std::vector<std::string> values = headers_named(request, "authorization");
    if (values.size() != 1) {
      why = std::to_string(values.size()) + " Authorization headers";
      return std::nullopt;
    }
    std::string_view text = values[0];
    if (!text.starts_with("Signature ")) {
      why = "Authorization is not a Signature";
      return std::nullopt;
    }
    text.remove_prefix(std::string_view("Signature ").size());
    Signature signature;
    while (!text.empty()) {
      size_t equals = text.find("=\"");
      if (equals == std::string_view::npos) {
        why = "Authorization: malformed parameter";
        return std::nullopt;
      }
      std::string name(text.substr(0, equals));
      size_t close = text.find('"', equals + 2);
      if (close == std::string_view::npos) {
        why = "Authorization: unterminated " + name;
        return std::nullopt;
      }
      if (!signature.params.emplace(name, std::string(text.substr(equals + 2, close - equals - 2))).second) {
        why = "Authorization: " + name + " twice";
        return std::nullopt;
      }
      text.remove_prefix(close + 1);
      if (!text.empty()) {
        if (text.front() != ',') {
          why = "Authorization: no comma after " + name;
          return std::nullopt;
        }
        text.remove_prefix(1);
      }
    }
    for (const char* name : {"version", "headers", "keyId", "algorithm", "signature"}) {
      if (signature.params.count(name) == 0) {
        why = std::string("Authorization has no ") + name;
        return std::nullopt;
      }
    }
    if (signature.params["version"] != "1" || signature.params["algorithm"] != "rsa-sha256") {
      why = "Authorization: version or algorithm";
      return std::nullopt;
    }
    std::vector<std::string> names;
    {
      std::string_view list = signature.params["headers"];
      while (!list.empty()) {
        size_t space = list.find(' ');
        names.emplace_back(list.substr(0, space));
        if (space == std::string_view::npos) break;
        list.remove_prefix(space + 1);
      }
    }
    for (const std::string& name : required) {
      if (std::find(names.begin(), names.end(), name) == names.end()) {
        why = "header " + name + " is not signed";
        return std::nullopt;
      }
    }
    // The request target, from the URL: everything from the first '/' after the authority.
    const size_t scheme_end = request.url.find("://");
    const size_t path_start =
        scheme_end == std::string::npos ? std::string::npos : request.url.find('/', scheme_end + 3);
    if (path_start == std::string::npos) {
      why = "URL without a path";
      return std::nullopt;
    }
    const std::string authority = request.url.substr(scheme_end + 3, path_start - scheme_end - 3);
    const std::string target = request.url.substr(path_start);
    for (const std::string& name : names) {
      if (!signature.signing_string.empty()) signature.signing_string += '\n';
      if (name == "(request-target)") {
        std::string method = request.method == HttpMethod::get    ? "get"
                             : request.method == HttpMethod::post ? "post"
                                                                  : "put";
        signature.signing_string += name + ": " + method + " " + target;
        continue;
      }
      std::vector<std::string> found = headers_named(request, name);
      if (found.size() != 1) {
        why = "signed header " + name + " present " + std::to_string(found.size()) + " times";
        return std::nullopt;
      }
      signature.signing_string += name + ": " + found[0];
    }
    if (single_header(request, "host") != authority) {
      why = "host header \"" + single_header(request, "host") + "\" is not the URL's " + authority;
      return std::nullopt;
    }
    if (single_header(request, "date").size() != std::string_view("Tue, 14 Nov 2023 22:13:20 GMT").size() ||
        !single_header(request, "date").ends_with(" GMT")) {
      why = "date header \"" + single_header(request, "date") + "\" is not an IMF-fixdate";
      return std::nullopt;
    }
    auto raw = base64_decode_strict(signature.params["signature"]);
    if (!raw) {
      why = "signature is not Base64";
      return std::nullopt;
    }
    signature.signature = *raw;
    return signature;
  }

  HttpResponse federate(const HttpRequest& request) {
    std::string why;
    auto signature = read_signature(
        request, {"date", "(request-target)", "host", "content-length", "content-type", "x-content-sha256"},
        why);
    if (!signature) return refuse("federation: " + why);
    const std::string expected_key_id =
        std::string(kLeafTenancy) + "/fed-x509-sha256/" + std::string(kLeafSha256Fingerprint);
    if (signature->params["keyId"] != expected_key_id) {
      return refuse("federation: keyId \"" + signature->params["keyId"] + "\" is not " + expected_key_id);
    }
    if (!verifies_sha256(certificate_public_key_der(leaf_certificate_pem), signature->signing_string,
                         signature->signature)) {
      return refuse("federation: the signature does not verify with the leaf certificate's key");
    }
    if (single_header(request, "x-content-sha256") != base64_std(sha256_raw(request.body))) {
      return refuse("federation: x-content-sha256 is not the body's digest");
    }
    if (single_header(request, "content-length") != std::to_string(request.body.size())) {
      return refuse("federation: content-length is not the body's length");
    }
    if (single_header(request, "content-type") != "application/json") {
      return refuse("federation: content-type is not application/json");
    }
    nlohmann::json body = nlohmann::json::parse(request.body, nullptr, /*allow_exceptions=*/false);
    if (!body.is_object()) return refuse("federation: the body is not a JSON object");
    auto text_member = [&](const char* name) {
      auto it = body.find(name);
      return it != body.end() && it->is_string() ? it->get<std::string>() : std::string();
    };
    if (text_member("certificate") != pem_base64(leaf_certificate_pem)) {
      return refuse("federation: body.certificate is not the leaf certificate");
    }
    if (body.value("intermediateCertificates", nlohmann::json()) !=
        nlohmann::json::array({pem_base64(intermediate_certificate_pem)})) {
      return refuse("federation: body.intermediateCertificates is not [the intermediate]");
    }
    if (text_member("purpose") != "DEFAULT") return refuse("federation: body.purpose is not DEFAULT");
    if (text_member("fingerprintAlgorithm") != "SHA256") {
      return refuse("federation: body.fingerprintAlgorithm is not SHA256");
    }
    auto session_key = base64_decode_strict(text_member("publicKey"));
    if (!session_key || !is_rsa_public_key_der(*session_key)) {
      return refuse("federation: body.publicKey is not a Base64 DER RSA public key");
    }

    Federation seen{.body = body,
                    .key_id = signature->params["keyId"],
                    .signed_headers = signature->params["headers"],
                    .date = single_header(request, "date"),
                    .host = single_header(request, "host"),
                    .token = "",
                    .session_key_der = *session_key};
    if (!federation_faults.empty()) {
      HttpResponse fault = federation_faults.front();
      federation_faults.pop_front();
      federations.push_back(seen);
      return fault;
    }
    const TimePoint issued = clock();
    const TimePoint expires = issued + token_lifetime;
    const int number = static_cast<int>(tokens().size()) + 1;
    nlohmann::json payload = {{"sub", "ocid1.instance.oc1.phx.exampleinstance"},
                              {"iat", epoch_seconds(issued)},
                              {"exp", epoch_seconds(expires)},
                              {"jti", "fake-token-" + std::to_string(number)}};
    seen.token = base64url_nopad(R"({"alg":"RS256","kid":"asw","typ":"JWT"})") + "." +
                 base64url_nopad(payload.dump()) + "." +
                 base64url_nopad("signature " + std::to_string(number));
    issued_[seen.token] = Issued{*session_key, expires};
    federations.push_back(seen);
    HttpResponse response;
    response.status = 200;
    response.body = nlohmann::json{{"token", seen.token}}.dump();
    response.headers = {{"content-type", "application/json"}};
    return response;
  }

  HttpResponse list(const HttpRequest& request) {
    std::string why;
    auto signature = read_signature(request, {"date", "(request-target)", "host"}, why);
    if (!signature) return refuse("ListPrivateIps: " + why);
    const std::string& key_id = signature->params["keyId"];
    if (!key_id.starts_with("ST$"))
      return refuse("ListPrivateIps: keyId \"" + key_id + "\" is not ST$<token>");
    const std::string token = key_id.substr(3);
    auto issued = issued_.find(token);
    if (issued == issued_.end()) return refuse("ListPrivateIps: keyId holds a token the fake did not issue");
    if (!verifies_sha256(issued->second.session_key_der, signature->signing_string, signature->signature)) {
      return refuse("ListPrivateIps: the signature does not verify with the token's session key");
    }

    Listing seen{.url = request.url,
                 .vnic = "",
                 .page = "",
                 .token = token,
                 .signed_headers = signature->params["headers"],
                 .date = single_header(request, "date"),
                 .host = single_header(request, "host"),
                 .status = 0};
    std::string_view query =
        std::string_view(request.url).substr((iaas_url_ + "/20160918/privateIps?").size());
    bool has_vnic = false;
    while (!query.empty()) {
      size_t amp = query.find('&');
      std::string_view pair = query.substr(0, amp);
      size_t equals = pair.find('=');
      auto value = percent_decode(equals == std::string_view::npos ? "" : pair.substr(equals + 1));
      std::string_view name = pair.substr(0, equals);
      if (!value || equals == std::string_view::npos) return refuse("ListPrivateIps: malformed query");
      if (name == "vnicId") {
        seen.vnic = *value;
        has_vnic = true;
      } else if (name == "page") {
        seen.page = *value;
      } else {
        return refuse("ListPrivateIps: unknown query parameter " + std::string(name));
      }
      if (amp == std::string_view::npos) break;
      query.remove_prefix(amp + 1);
    }
    HttpResponse response = answer(seen, has_vnic, issued->second);
    seen.status = response.status;
    listings.push_back(seen);
    if (on_listing) on_listing(seen);
    return response;
  }

  HttpResponse answer(const Listing& seen, bool has_vnic, const Issued& issued) {
    if (!has_vnic) return oci_error(400, "MissingParameter", "vnicId is required");
    if (clock() >= issued.expires) {
      return oci_error(401, "NotAuthenticated",
                       "The required information to complete authentication was not provided.");
    }
    if (unauthorized_listings > 0) {
      --unauthorized_listings;
      return oci_error(401, "NotAuthenticated",
                       "The required information to complete authentication was not provided.");
    }
    if (!listing_faults.empty()) {
      HttpResponse fault = listing_faults.front();
      listing_faults.pop_front();
      return fault;
    }
    // Page n (from 1) is asked for with the token "<n>/next+page=" (characters that need
    // encoding in a query, like OCI's opaque tokens).
    size_t page = 1;
    if (!seen.page.empty()) {
      const std::string suffix = "/next+page=";
      if (!seen.page.ends_with(suffix)) return oci_error(400, "InvalidParameter", "bad page token");
      page = std::stoul(seen.page.substr(0, seen.page.size() - suffix.size()));
    }
    nlohmann::json all = private_ips.count(seen.vnic) ? private_ips.at(seen.vnic) : nlohmann::json::array();
    nlohmann::json items = nlohmann::json::array();
    for (size_t i = (page - 1) * page_size; i < all.size() && i < page * page_size; ++i)
      items.push_back(all[i]);
    HttpResponse response;
    response.status = 200;
    response.body = items.dump();
    response.headers = {{"content-type", "application/json"}, {"opc-request-id", "fake-request"}};
    if (endless || page * page_size < all.size()) {
      response.headers.emplace_back("opc-next-page", std::to_string(page + 1) + "/next+page=");
    }
    return response;
  }

  std::string federation_url_;
  std::string iaas_url_;
  std::map<std::string, Issued> issued_;
};

}  // namespace nicsync::test
