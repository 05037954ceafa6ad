// nicsync-mock-oci-api: a stand-in for the two OCI services that an instance principal talks to,
// over TLS, for the integration tests:
//   - the federation endpoint (auth.<region>.oraclecloud.com): POST /v1/x509 exchanges the
//     instance's leaf certificate (signed request) and a session public key for a security token;
//   - the Core Services API (iaas.<region>.oraclecloud.com): GET /20160918/privateIps?vnicId=...
//     (ListPrivateIps), signed with the session key under keyId "ST$<token>".
//
// Every signature is checked against this file's own reconstruction of the signing string
// (draft-cavage HTTP signatures as OCI uses them) with OpenSSL, independently of nicsync's signer.
// Nothing here comes from module/.

#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <cstdint>
#include <ctime>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <tuple>
#include <utility>
#include <vector>

#include <sys/socket.h>
#include <unistd.h>

#include <httplib.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <nlohmann/json.hpp>

#include "program.hpp"  // next to this file (this program does not link nicsync_mock)

namespace {

namespace program = nicsync::mock::program;
using program::parse_int;
using program::read_file;
using program::UsageError;

using json = nlohmann::json;
using ordered_json = nlohmann::ordered_json;

constexpr std::size_t kWorkerThreads = 256;  ///< requests served concurrently (see serve())

constexpr const char* kProgram = "nicsync-mock-oci-api";

constexpr const char* kUsage =
    R"(Usage: nicsync-mock-oci-api --tls-cert FILE --tls-key FILE --leaf-cert FILE
                            --intermediate-cert FILE [options]

Serves, over HTTPS, the OCI federation endpoint (POST /v1/x509, instance-principal token
exchange) and ListPrivateIps (GET /20160918/privateIps?vnicId=...) signed with the session
key, until SIGTERM or SIGINT, then exits 0. See tests/fixtures/README.md.

Options:
  --tls-cert FILE            server certificate (PEM; may be followed by its chain)
  --tls-key FILE             server private key (PEM); also signs the issued tokens
  --leaf-cert FILE           the instance leaf certificate the federation accepts (PEM)
  --intermediate-cert FILE   an intermediate certificate the client must send (PEM; repeats)
  --fixture FILE             nicsync fixture whose oci_api.private_ips is served (else none)
  --listen HOST:PORT         address to listen on (default 127.0.0.1:0, 0: any free port;
                             IPv6 as [ADDR]:PORT)
  --port-file FILE           once listening, write the port to FILE (atomically, by rename)
  --log FILE                 append one JSON object per request (see the README)
  --token-ttl SECONDS        lifetime of an issued token (default 1200)
  --page-size N              at most N PrivateIps per page (default 0: no limit but ?limit=)
  --max-skew SECONDS         accepted distance of the date header from the clock (default 300)
  --clock-offset SECONDS     run the server's clock this far ahead (negative: behind)
  --deny                     every authenticated ListPrivateIps answers 404
                             NotAuthorizedOrNotFound (no IAM policy)
  --federation-status STATUS[:TIMES]
                             the federation answers STATUS with an error JSON, TIMES times
                             (default: always)
  --api-status STATUS[:TIMES]
                             ListPrivateIps answers STATUS with an error JSON, TIMES times
  --expire-tokens-after N    a token stops working after N authenticated API requests
  --latency-ms N             delay every answer by N milliseconds (per request: up to 256
                             requests are served and delayed concurrently)
  --help                     show this text

Every option may be given as --option VALUE or --option=VALUE.
On startup prints "listening on https://HOST:PORT". Errors: one line on stderr, exit 2.
)";

// ------------------------------------------------------------------------------------------
// Options

struct StatusFault {
  int status = 0;
  int times = -1;  ///< -1: always
};

struct Options {
  std::string tls_cert, tls_key, leaf_cert, fixture, port_file, log_file;
  std::vector<std::string> intermediate_certs;
  std::string host = "127.0.0.1";
  int port = 0;
  long token_ttl = 1200;
  long page_size = 0;
  long max_skew = 300;
  long clock_offset = 0;
  bool deny = false;
  std::optional<StatusFault> federation_fault, api_fault;
  long expire_tokens_after = 0;  ///< 0: never
  long latency_ms = 0;
};

StatusFault parse_status_fault(const std::string& option, const std::string& text) {
  StatusFault f;
  const auto colon = text.find(':');
  auto status = parse_int<int>(std::string_view(text).substr(0, colon));
  if (!status || *status < 100 || *status > 599)
    throw UsageError(option + " " + text + ": expected STATUS[:TIMES], STATUS 100-599");
  f.status = *status;
  if (colon != std::string::npos) {
    auto times = parse_int<int>(std::string_view(text).substr(colon + 1));
    if (!times || *times < -1) throw UsageError(option + " " + text + ": TIMES must be a number >= -1");
    f.times = *times;
  }
  return f;
}

/// Returns nullopt for --help.
std::optional<Options> parse_args(int argc, char** argv) {
  Options o;
  program::Args args(argc, argv);
  while (args.next()) {
    const std::string& name = args.name();
    if (args.is_help()) return std::nullopt;
    if (name == "--tls-cert") {
      o.tls_cert = args.value();
    } else if (name == "--tls-key") {
      o.tls_key = args.value();
    } else if (name == "--leaf-cert") {
      o.leaf_cert = args.value();
    } else if (name == "--intermediate-cert") {
      o.intermediate_certs.push_back(args.value());
    } else if (name == "--fixture") {
      o.fixture = args.value();
    } else if (name == "--listen") {
      std::tie(o.host, o.port) = program::parse_listen(args.value());
    } else if (name == "--port-file") {
      o.port_file = args.value();
    } else if (name == "--log") {
      o.log_file = args.value();
    } else if (name == "--token-ttl") {
      o.token_ttl = program::parse_number<long>(name, args.value(), 1);
    } else if (name == "--page-size") {
      o.page_size = program::parse_number<long>(name, args.value(), 0);
    } else if (name == "--max-skew") {
      o.max_skew = program::parse_number<long>(name, args.value(), 0);
    } else if (name == "--clock-offset") {
      const std::string v = args.value();
      auto n = parse_int<long>(v);
      if (!n) throw UsageError(name + " " + v + ": expected a number of seconds");
      o.clock_offset = *n;
    } else if (name == "--deny") {
      if (args.has_inline_value()) throw UsageError("--deny takes no value");
      o.deny = true;
    } else if (name == "--federation-status") {
      o.federation_fault = parse_status_fault(name, args.value());
    } else if (name == "--api-status") {
      o.api_fault = parse_status_fault(name, args.value());
    } else if (name == "--expire-tokens-after") {
      o.expire_tokens_after = program::parse_number<long>(name, args.value(), 1);
    } else if (name == "--latency-ms") {
      o.latency_ms = program::parse_number<long>(name, args.value(), 0);
    } else {
      throw UsageError(name + ": unknown option");
    }
  }
  if (o.tls_cert.empty() || o.tls_key.empty())
    throw UsageError("--tls-cert FILE and --tls-key FILE are required");
  if (o.leaf_cert.empty()) throw UsageError("--leaf-cert FILE is required");
  if (o.intermediate_certs.empty()) throw UsageError("--intermediate-cert FILE is required");
  return o;
}

// ------------------------------------------------------------------------------------------
// Encodings and OpenSSL helpers

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

std::string base64_encode(std::string_view in, bool url = false) {
  static constexpr char kStd[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  static constexpr char kUrl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  const char* alphabet = url ? kUrl : kStd;
  std::string out;
  std::size_t i = 0;
  const auto byte = [&](std::size_t k) { return static_cast<unsigned char>(in[k]); };
  for (; i + 2 < in.size(); i += 3) {
    const unsigned v = (byte(i) << 16) | (byte(i + 1) << 8) | byte(i + 2);
    out += alphabet[(v >> 18) & 63];
    out += alphabet[(v >> 12) & 63];
    out += alphabet[(v >> 6) & 63];
    out += alphabet[v & 63];
  }
  if (i + 1 == in.size()) {
    const unsigned v = byte(i) << 16;
    out += alphabet[(v >> 18) & 63];
    out += alphabet[(v >> 12) & 63];
    if (!url) out += "==";
  } else if (i + 2 == in.size()) {
    const unsigned v = (byte(i) << 16) | (byte(i + 1) << 8);
    out += alphabet[(v >> 18) & 63];
    out += alphabet[(v >> 12) & 63];
    out += alphabet[(v >> 6) & 63];
    if (!url) out += '=';
  }
  return out;
}

/// Strict standard base64 (padding required, no whitespace); nullopt if malformed.
std::optional<std::string> base64_decode(std::string_view in) {
  if (in.size() % 4 != 0) return std::nullopt;
  const auto value = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
  };
  std::string out;
  for (std::size_t i = 0; i < in.size(); i += 4) {
    const bool last = i + 4 == in.size();
    int pad = 0;
    if (last && in[i + 3] == '=') pad = in[i + 2] == '=' ? 2 : 1;
    unsigned v = 0;
    for (std::size_t k = 0; k < 4; ++k) {
      int d = 0;
      if (k >= 4 - static_cast<std::size_t>(pad)) {
        if (in[i + k] != '=') return std::nullopt;
      } else {
        d = value(in[i + k]);
        if (d < 0) return std::nullopt;
      }
      v = (v << 6) | static_cast<unsigned>(d);
    }
    out += static_cast<char>((v >> 16) & 0xff);
    if (pad < 2) out += static_cast<char>((v >> 8) & 0xff);
    if (pad < 1) out += static_cast<char>(v & 0xff);
  }
  return out;
}

std::string openssl_error() {
  const unsigned long e = ERR_get_error();
  ERR_clear_error();
  if (e == 0) return "OpenSSL error";
  char buf[256];
  ERR_error_string_n(e, buf, sizeof buf);
  return buf;
}

struct X509Free {
  void operator()(X509* x) const { X509_free(x); }
};
struct PkeyFree {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
struct MdCtxFree {
  void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
};
struct BioFree {
  void operator()(BIO* b) const { BIO_free(b); }
};
using X509Ptr = std::unique_ptr<X509, X509Free>;
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyFree>;
using MdCtxPtr = std::unique_ptr<EVP_MD_CTX, MdCtxFree>;
using BioPtr = std::unique_ptr<BIO, BioFree>;

std::string digest(const EVP_MD* md, std::string_view data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_Digest(data.data(), data.size(), out, &len, md, nullptr) != 1)
    throw std::runtime_error("digest: " + openssl_error());
  return std::string(reinterpret_cast<char*>(out), len);
}

/// "AB:CD:..." as the SDKs print certificate fingerprints.
std::string colon_hex(std::string_view bytes) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : bytes) {
    if (!out.empty()) out += ':';
    out += kHex[c >> 4];
    out += kHex[c & 15];
  }
  return out;
}

X509Ptr load_certificate(const std::string& path) {
  const std::string pem = read_file(path, "certificate");
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  X509Ptr cert(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
  if (!cert) throw UsageError(path + ": not a PEM certificate (" + openssl_error() + ")");
  return cert;
}

PkeyPtr load_private_key(const std::string& path) {
  const std::string pem = read_file(path, "private key");
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  PkeyPtr key(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
  if (!key) throw UsageError(path + ": not a PEM private key (" + openssl_error() + ")");
  return key;
}

std::string certificate_der(X509* cert) {
  unsigned char* der = nullptr;
  const int len = i2d_X509(cert, &der);
  if (len <= 0) throw std::runtime_error("i2d_X509: " + openssl_error());
  std::string out(reinterpret_cast<char*>(der), static_cast<std::size_t>(len));
  OPENSSL_free(der);
  return out;
}

/// The values of the subject's attributes of type `nid`, in order.
std::vector<std::string> subject_values(X509* cert, int nid) {
  std::vector<std::string> out;
  X509_NAME* name = X509_get_subject_name(cert);
  for (int i = -1; (i = X509_NAME_get_index_by_NID(name, nid, i)) >= 0;) {
    const ASN1_STRING* data = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, i));
    unsigned char* utf8 = nullptr;
    const int len = ASN1_STRING_to_UTF8(&utf8, data);
    if (len < 0) continue;
    out.emplace_back(reinterpret_cast<char*>(utf8), static_cast<std::size_t>(len));
    OPENSSL_free(utf8);
  }
  return out;
}

/// The rest of the first subject attribute (any type, any RDN, multi-valued RDNs included) whose
/// value is "<prefix><rest>", as the SDKs look up "opc-tenant:" and "opc-identity:".
std::optional<std::string> subject_attribute(X509* cert, std::string_view prefix) {
  X509_NAME* name = X509_get_subject_name(cert);
  for (int i = 0; i < X509_NAME_entry_count(name); ++i) {
    const ASN1_STRING* data = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, i));
    unsigned char* utf8 = nullptr;
    const int len = ASN1_STRING_to_UTF8(&utf8, data);
    if (len < 0) continue;
    std::string value(reinterpret_cast<char*>(utf8), static_cast<std::size_t>(len));
    OPENSSL_free(utf8);
    if (value.starts_with(prefix)) return value.substr(prefix.size());
  }
  return std::nullopt;
}

bool verify_rsa_sha256(EVP_PKEY* key, std::string_view data, std::string_view signature) {
  MdCtxPtr ctx(EVP_MD_CTX_new());
  if (!ctx || EVP_DigestVerifyInit(ctx.get(), nullptr, EVP_sha256(), nullptr, key) != 1) {
    ERR_clear_error();
    return false;
  }
  const int ok =
      EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(signature.data()), signature.size(),
                       reinterpret_cast<const unsigned char*>(data.data()), data.size());
  ERR_clear_error();
  return ok == 1;
}

/// A SHA-256 signature with `key`: PKCS#1 v1.5 for RSA, DER ECDSA-Sig-Value for EC.
std::string sign_sha256(EVP_PKEY* key, std::string_view data) {
  MdCtxPtr ctx(EVP_MD_CTX_new());
  std::size_t len = 0;
  if (!ctx || EVP_DigestSignInit(ctx.get(), nullptr, EVP_sha256(), nullptr, key) != 1 ||
      EVP_DigestSign(ctx.get(), nullptr, &len, reinterpret_cast<const unsigned char*>(data.data()),
                     data.size()) != 1)
    throw std::runtime_error("sign: " + openssl_error());
  std::string sig(len, '\0');
  if (EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(sig.data()), &len,
                     reinterpret_cast<const unsigned char*>(data.data()), data.size()) != 1)
    throw std::runtime_error("sign: " + openssl_error());
  sig.resize(len);
  return sig;
}

/// The JWS algorithm and signature (RFC 7518) of `data` with the TLS key: RS256 for RSA, ES256 for
/// EC P-256 (r || s, 32 bytes each).
std::pair<std::string, std::string> jws_sign(EVP_PKEY* key, std::string_view data) {
  std::string sig = sign_sha256(key, data);
  if (EVP_PKEY_get_base_id(key) == EVP_PKEY_RSA) return {"RS256", sig};
  const auto* p = reinterpret_cast<const unsigned char*>(sig.data());
  ECDSA_SIG* ecdsa = d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(sig.size()));
  if (ecdsa == nullptr) throw std::runtime_error("ECDSA signature: " + openssl_error());
  std::string raw(64, '\0');
  BN_bn2binpad(ECDSA_SIG_get0_r(ecdsa), reinterpret_cast<unsigned char*>(raw.data()), 32);
  BN_bn2binpad(ECDSA_SIG_get0_s(ecdsa), reinterpret_cast<unsigned char*>(raw.data()) + 32, 32);
  ECDSA_SIG_free(ecdsa);
  return {"ES256", raw};
}

std::string bn_param(EVP_PKEY* key, const char* name) {
  BIGNUM* bn = nullptr;
  if (EVP_PKEY_get_bn_param(key, name, &bn) != 1) {
    ERR_clear_error();
    return {};
  }
  std::string out(static_cast<std::size_t>(BN_num_bytes(bn)), '\0');
  BN_bn2bin(bn, reinterpret_cast<unsigned char*>(out.data()));
  BN_free(bn);
  return out;
}

/// Parses an RFC 7231 IMF-fixdate ("Sun, 06 Nov 1994 08:49:37 GMT").
std::optional<std::time_t> parse_http_date(const std::string& text) {
  std::tm tm{};
  const char* end = strptime(text.c_str(), "%a, %d %b %Y %H:%M:%S GMT", &tm);
  if (end == nullptr || *end != '\0' || text.size() != 29) return std::nullopt;
  return timegm(&tm);
}

std::string percent_decode(std::string_view in) {
  std::string out;
  for (std::size_t i = 0; i < in.size(); ++i) {
    if (in[i] == '%' && i + 2 < in.size() && std::isxdigit(static_cast<unsigned char>(in[i + 1])) &&
        std::isxdigit(static_cast<unsigned char>(in[i + 2]))) {
      out += static_cast<char>(std::stoi(std::string(in.substr(i + 1, 2)), nullptr, 16));
      i += 2;
    } else {
      out += in[i];  // '+' stays '+': OCI page tokens are base64
    }
  }
  return out;
}

/// The query of a raw request target as (name, value) pairs, percent-decoded; a value keeps
/// any '=' after the first.
std::vector<std::pair<std::string, std::string>> parse_query(std::string_view query) {
  std::vector<std::pair<std::string, std::string>> out;
  while (!query.empty()) {
    const auto amp = query.find('&');
    const std::string_view part = query.substr(0, amp);
    if (!part.empty()) {
      const auto eq = part.find('=');
      out.emplace_back(percent_decode(part.substr(0, eq)),
                       eq == std::string_view::npos ? "" : percent_decode(part.substr(eq + 1)));
    }
    if (amp == std::string_view::npos) break;
    query.remove_prefix(amp + 1);
  }
  return out;
}

// ------------------------------------------------------------------------------------------
// The server

/// A check that failed: the request is answered `status` with `code`, and the log names `error`.
struct Rejection {
  int status;
  std::string code;
  std::string error;
};

struct Token {
  long serial = 0;
  std::time_t exp = 0;
  PkeyPtr session_key;
  long uses = 0;  ///< authenticated API requests so far
};

/// One request's entry in the --log file.
struct LogEntry {
  json service = nullptr;
  std::string method, path;
  json query = nullptr;
  json key_id_kind = nullptr;
  json signed_headers = nullptr;
  bool signature_ok = false;
  int status = 0;
  json token_serial = nullptr;
  json vnic_id = nullptr;
  json page = nullptr;
  json error = nullptr;
  std::string request_id;
};

/// The parts of an Authorization: Signature header.
struct SignatureHeader {
  std::map<std::string, std::string> params;  ///< keyId, algorithm, headers, signature, version
};

std::optional<SignatureHeader> parse_signature_header(const std::string& value, std::string& why) {
  constexpr std::string_view kScheme = "Signature ";
  if (!value.starts_with(kScheme)) {
    why = "Authorization is not a \"Signature ...\" header";
    return std::nullopt;
  }
  SignatureHeader out;
  std::size_t i = kScheme.size();
  while (i < value.size()) {
    while (i < value.size() && (value[i] == ' ' || value[i] == ',')) ++i;
    if (i >= value.size()) break;
    const auto eq = value.find('=', i);
    if (eq == std::string::npos || eq + 1 >= value.size() || value[eq + 1] != '"') {
      why = "Authorization: malformed parameter at offset " + std::to_string(i);
      return std::nullopt;
    }
    const std::string name = value.substr(i, eq - i);
    const auto close = value.find('"', eq + 2);
    if (close == std::string::npos) {
      why = "Authorization: unterminated value of " + name;
      return std::nullopt;
    }
    if (out.params.count(name) != 0) {
      why = "Authorization: parameter " + name + " given twice";
      return std::nullopt;
    }
    out.params[name] = value.substr(eq + 2, close - eq - 2);
    i = close + 1;
    if (i < value.size() && value[i] != ',') {
      why = "Authorization: expected ',' after " + name;
      return std::nullopt;
    }
  }
  return out;
}

class OciMock {
 public:
  explicit OciMock(const Options& o) : o_(o) {
    server_key_ = load_private_key(o.tls_key);
    char group[64] = "";
    const bool p256 = EVP_PKEY_get_base_id(server_key_.get()) == EVP_PKEY_EC &&
                      EVP_PKEY_get_utf8_string_param(server_key_.get(), OSSL_PKEY_PARAM_GROUP_NAME, group,
                                                     sizeof group, nullptr) == 1 &&
                      std::string_view(group) == "prime256v1";
    ERR_clear_error();
    if (EVP_PKEY_get_base_id(server_key_.get()) != EVP_PKEY_RSA && !p256)
      throw UsageError(o.tls_key + ": the TLS key signs the tokens: use RSA or EC P-256");
    jws_alg_ = jws_sign(server_key_.get(), "probe").first;
    leaf_ = load_certificate(o.leaf_cert);
    leaf_der_ = certificate_der(leaf_.get());
    leaf_sha1_ = colon_hex(digest(EVP_sha1(), leaf_der_));
    leaf_sha256_ = colon_hex(digest(EVP_sha256(), leaf_der_));
    auto tenancy = subject_attribute(leaf_.get(), "opc-tenant:");
    if (!tenancy) tenancy = subject_attribute(leaf_.get(), "opc-identity:");
    if (!tenancy) throw UsageError(o.leaf_cert + ": the subject has no OU opc-tenant:<tenancy OCID>");
    tenancy_ = *tenancy;
    instance_ = subject_attribute(leaf_.get(), "opc-instance:").value_or("");
    compartment_ = subject_attribute(leaf_.get(), "opc-compartment:").value_or("");
    if (instance_.empty()) {
      auto cn = subject_values(leaf_.get(), NID_commonName);
      if (!cn.empty()) instance_ = cn.front();
    }
    for (const auto& path : o.intermediate_certs)
      intermediates_.push_back(certificate_der(load_certificate(path).get()));
    if (!o.fixture.empty()) load_fixture(o.fixture);
    if (o.federation_fault) federation_fault_left_ = o.federation_fault->times;
    if (o.api_fault) api_fault_left_ = o.api_fault->times;
    if (!o.log_file.empty()) {
      log_.open(o.log_file, std::ios::app);
      if (!log_) throw UsageError(o.log_file + ": cannot open log file");
    }
  }

  void handle(const httplib::Request& req, httplib::Response& res) {
    if (o_.latency_ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(o_.latency_ms));
    LogEntry entry;
    entry.method = req.method;
    entry.request_id = new_request_id();
    const auto qmark = req.target.find('?');
    entry.path = req.target.substr(0, qmark);
    if (qmark != std::string::npos) entry.query = req.target.substr(qmark + 1);
    res.set_header("opc-request-id", entry.request_id);

    std::optional<Rejection> rejection;
    ordered_json body;
    std::string next_page;
    if (entry.path == "/v1/x509") {
      entry.service = "federation";
      rejection = federation(req, entry, body);
    } else if (entry.path == "/20160918/privateIps") {
      entry.service = "iaas";
      rejection = list_private_ips(req, entry, body, next_page);
    } else {
      rejection = Rejection{404, "NotFound", "no such operation: " + req.method + " " + entry.path};
    }
    if (rejection) {
      entry.status = rejection->status;
      entry.error = rejection->error;
      body = {{"code", rejection->code}, {"message", message_for(*rejection)}};
    } else {
      entry.status = 200;
      if (!next_page.empty()) res.set_header("opc-next-page", next_page);
    }
    res.status = entry.status;
    res.set_content(body.dump(), "application/json");
    write_log(entry);
  }

 private:
  // --- federation -------------------------------------------------------------------------

  std::optional<Rejection> federation(const httplib::Request& req, LogEntry& entry, ordered_json& out) {
    if (req.method != "POST")
      return Rejection{405, "MethodNotAllowed", "federation: method " + req.method + " not allowed"};
    // Checks run in order; the signature is verified whatever else fails, for the log.
    std::optional<Rejection> failed;
    auto fail = [&](std::string why) {
      if (!failed) failed = Rejection{401, "NotAuthenticated", std::move(why)};
    };
    const auto sig = check_signature_header(req, entry, /*with_body=*/true, /*require_host=*/false, fail);
    if (sig) {
      const std::string& key_id = sig->params.at("keyId");
      const auto first = key_id.find('/');
      const auto second = first == std::string::npos ? first : key_id.find('/', first + 1);
      if (second == std::string::npos) {
        fail("keyId \"" + key_id + "\" is not TENANCY/fed-x509[-sha256]/FINGERPRINT");
      } else {
        const std::string tenancy = key_id.substr(0, first);
        const std::string kind = key_id.substr(first + 1, second - first - 1);
        const std::string fingerprint = key_id.substr(second + 1);
        if (kind != "fed-x509" && kind != "fed-x509-sha256")
          fail("keyId kind \"" + kind + "\" is neither fed-x509 nor fed-x509-sha256");
        else if (tenancy != tenancy_)
          fail("keyId tenancy \"" + tenancy + "\" is not the leaf's opc-tenant " + tenancy_);
        else if (kind == "fed-x509" && lower(fingerprint) != lower(leaf_sha1_))
          fail("keyId fingerprint \"" + fingerprint + "\" is not the leaf's SHA-1 fingerprint " + leaf_sha1_);
        else if (kind == "fed-x509-sha256" && lower(fingerprint) != lower(leaf_sha256_))
          fail("keyId fingerprint \"" + fingerprint + "\" is not the leaf's SHA-256 fingerprint " +
               leaf_sha256_);
      }
      check_date(req, *sig, fail);
      check_body_headers(req, fail);
      const auto signing_string = build_signing_string(req, *sig);
      if (signing_string) {
        const auto signature = base64_decode(sig->params.at("signature"));
        entry.signature_ok =
            signature && verify_rsa_sha256(X509_get0_pubkey(leaf_.get()), *signing_string, *signature);
        if (!entry.signature_ok) fail("signature does not verify with the leaf certificate's key");
      }
    }
    if (auto fault = take_fault(federation_fault_left_, o_.federation_fault))
      return Rejection{*fault, error_code(*fault), "injected by --federation-status"};
    if (failed) return failed;

    // The body.
    json request;
    try {
      request = json::parse(req.body);
    } catch (const json::exception& e) {
      return Rejection{401, "NotAuthenticated", std::string("body is not JSON: ") + e.what()};
    }
    if (!request.is_object()) return Rejection{401, "NotAuthenticated", "body is not a JSON object"};
    const auto string_member = [&](const char* name) -> const std::string* {
      auto it = request.find(name);
      return it != request.end() && it->is_string() ? it->get_ptr<const std::string*>() : nullptr;
    };
    const std::string* certificate = string_member("certificate");
    if (!certificate) return Rejection{401, "NotAuthenticated", "body.certificate missing or not a string"};
    const auto cert_der = base64_decode(*certificate);
    if (!cert_der)
      return Rejection{401, "NotAuthenticated",
                       "body.certificate is not base64 DER (PEM without header, footer, newlines)"};
    if (*cert_der != leaf_der_)
      return Rejection{401, "NotAuthenticated", "body.certificate is not the leaf certificate"};
    auto inter = request.find("intermediateCertificates");
    if (inter == request.end() || !inter->is_array())
      return Rejection{401, "NotAuthenticated", "body.intermediateCertificates missing or not an array"};
    std::set<std::string> sent;
    for (const auto& item : *inter) {
      std::optional<std::string> der;
      if (item.is_string()) der = base64_decode(item.get<std::string>());
      if (!der)
        return Rejection{401, "NotAuthenticated",
                         "body.intermediateCertificates holds an entry that is not base64 DER"};
      sent.insert(*der);
    }
    for (std::size_t i = 0; i < intermediates_.size(); ++i)
      if (sent.count(intermediates_[i]) == 0)
        return Rejection{401, "NotAuthenticated",
                         "body.intermediateCertificates lacks " + o_.intermediate_certs[i]};
    if (auto it = request.find("purpose"); it != request.end() && *it != "DEFAULT")
      return Rejection{401, "NotAuthenticated", "body.purpose is " + it->dump() + ", not \"DEFAULT\""};
    if (auto it = request.find("fingerprintAlgorithm"); it != request.end()) {
      if (*it != "SHA256")
        return Rejection{401, "NotAuthenticated",
                         "body.fingerprintAlgorithm is " + it->dump() + ", not \"SHA256\""};
      if (entry.key_id_kind != "fed-x509-sha256")
        return Rejection{
            401, "NotAuthenticated",
            "body.fingerprintAlgorithm is \"SHA256\" but keyId is not TENANCY/fed-x509-sha256/..."};
    }
    const std::string* public_key = string_member("publicKey");
    if (!public_key) return Rejection{401, "NotAuthenticated", "body.publicKey missing or not a string"};
    const auto spki = base64_decode(*public_key);
    if (!spki)
      return Rejection{401, "NotAuthenticated",
                       "body.publicKey is not base64 DER (PEM without header, footer, newlines)"};
    const auto* p = reinterpret_cast<const unsigned char*>(spki->data());
    PkeyPtr session(d2i_PUBKEY(nullptr, &p, static_cast<long>(spki->size())));
    ERR_clear_error();
    if (!session || p != reinterpret_cast<const unsigned char*>(spki->data()) + spki->size())
      return Rejection{401, "NotAuthenticated", "body.publicKey is not a SubjectPublicKeyInfo"};
    if (EVP_PKEY_get_base_id(session.get()) != EVP_PKEY_RSA)
      return Rejection{401, "NotAuthenticated", "body.publicKey is not an RSA key"};
    if (EVP_PKEY_get_bits(session.get()) < 2048)
      return Rejection{401, "NotAuthenticated",
                       "body.publicKey has " + std::to_string(EVP_PKEY_get_bits(session.get())) +
                           " bits, fewer than 2048"};

    out = {{"token", issue_token(std::move(session), entry)}};
    return std::nullopt;
  }

  std::string issue_token(PkeyPtr session, LogEntry& entry) {
    const std::time_t now = clock_now();
    std::lock_guard lock(mutex_);
    const long serial = ++token_serial_;
    const std::time_t exp = now + o_.token_ttl;
    const std::string kid = "mock-session-" + std::to_string(serial);
    const json jwk = {{"kid", kid},
                      {"n", base64_encode(bn_param(session.get(), OSSL_PKEY_PARAM_RSA_N), true)},
                      {"e", base64_encode(bn_param(session.get(), OSSL_PKEY_PARAM_RSA_E), true)},
                      {"kty", "RSA"},
                      {"alg", "RS256"},
                      {"use", "sig"}};
    ordered_json payload = {{"sub", instance_},
                            {"opc-certtype", "instance"},
                            {"iss", "authService.oracle.com"},
                            {"ptype", "instance"},
                            {"sess_exp", exp},
                            {"aud", "oci"},
                            {"ttype", "x509"},
                            {"opc-instance", instance_},
                            {"exp", exp},
                            {"opc-compartment", compartment_},
                            {"iat", now},
                            {"jti", new_request_id() + "-" + std::to_string(serial)},
                            {"tenant", tenancy_},
                            {"jwk", jwk.dump()},
                            {"opc-tenant", tenancy_},
                            {"mock-serial", serial}};
    const ordered_json header = {{"kid", "asw"}, {"alg", jws_alg_}, {"typ", "JWT"}};
    const std::string signed_part =
        base64_encode(header.dump(), true) + "." + base64_encode(payload.dump(), true);
    const std::string token =
        signed_part + "." + base64_encode(jws_sign(server_key_.get(), signed_part).second, true);
    Token t;
    t.serial = serial;
    t.exp = exp;
    t.session_key = std::move(session);
    tokens_.emplace(token, std::move(t));
    entry.token_serial = serial;
    return token;
  }

  // --- ListPrivateIps ---------------------------------------------------------------------

  std::optional<Rejection> list_private_ips(const httplib::Request& req, LogEntry& entry, ordered_json& out,
                                            std::string& next_page) {
    std::optional<Rejection> failed;
    auto fail = [&](std::string why) {
      if (!failed) failed = Rejection{401, "NotAuthenticated", std::move(why)};
    };
    Token* token = nullptr;  // tokens are never erased; only `uses` changes (under mutex_)
    const auto sig = check_signature_header(
        req, entry, /*with_body=*/req.method != "GET" && req.method != "HEAD" && req.method != "DELETE",
        /*require_host=*/true, fail);
    if (sig) {
      const std::string& key_id = sig->params.at("keyId");
      check_date(req, *sig, fail);
      if (!key_id.starts_with("ST$")) {
        fail("keyId \"" + key_id.substr(0, 40) + "\" is not ST$<security token>");
      } else {
        {
          std::lock_guard lock(mutex_);
          auto it = tokens_.find(key_id.substr(3));
          if (it != tokens_.end()) token = &it->second;
        }
        if (token == nullptr) {
          fail("keyId holds a security token that the federation did not issue");
        } else {
          entry.token_serial = token->serial;
          if (token->exp <= clock_now())
            fail("security token " + std::to_string(token->serial) + " expired at " +
                 std::to_string(token->exp) + " (server clock " + std::to_string(clock_now()) + ")");
          const auto signing_string = build_signing_string(req, *sig);
          if (signing_string) {
            const auto signature = base64_decode(sig->params.at("signature"));
            entry.signature_ok =
                signature && verify_rsa_sha256(token->session_key.get(), *signing_string, *signature);
            if (!entry.signature_ok)
              fail("signature does not verify with the session key of token " +
                   std::to_string(token->serial));
          }
        }
      }
    }
    const auto params = parse_query(entry.query.is_string() ? entry.query.get<std::string>() : "");
    const auto param = [&](const std::string& name) -> std::optional<std::string> {
      for (const auto& [k, v] : params)
        if (k == name) return v;
      return std::nullopt;
    };
    const auto vnic = param("vnicId");
    const auto page = param("page");
    if (vnic) entry.vnic_id = *vnic;
    if (page) entry.page = *page;

    if (auto fault = take_fault(api_fault_left_, o_.api_fault))
      return Rejection{*fault, error_code(*fault), "injected by --api-status"};
    if (failed) return failed;
    if (req.method != "GET" && req.method != "HEAD")
      return Rejection{405, "MethodNotAllowed", "ListPrivateIps: method " + req.method + " not allowed"};
    {
      std::lock_guard lock(mutex_);
      if (o_.expire_tokens_after > 0 && token->uses >= o_.expire_tokens_after)
        return Rejection{401, "NotAuthenticated",
                         "security token " + std::to_string(token->serial) + " invalidated after " +
                             std::to_string(token->uses) + " uses (--expire-tokens-after)"};
      ++token->uses;
    }

    if (o_.deny) return Rejection{404, "NotAuthorizedOrNotFound", "denied by --deny (no IAM policy)"};
    if (!vnic || vnic->empty())
      return Rejection{400, "MissingParameter", "vnicId missing (this mock requires it)"};
    long limit = o_.page_size;
    if (auto l = param("limit")) {
      auto n = parse_int<long>(*l);
      if (!n || *n < 1 || *n > 1000)
        return Rejection{400, "InvalidParameter", "limit \"" + *l + "\" is not 1-1000"};
      if (limit == 0 || *n < limit) limit = *n;
    }
    std::size_t offset = 0;
    if (page) {
      const auto decoded = base64_decode(*page);
      const std::string prefix = "nicsync-mock-page:" + *vnic + ":";
      std::optional<std::size_t> n;
      if (decoded && decoded->starts_with(prefix))
        n = parse_int<std::size_t>(std::string_view(*decoded).substr(prefix.size()));
      if (!n)
        return Rejection{400, "InvalidParameter",
                         "page \"" + *page + "\" is not a page token of this vnicId"};
      offset = *n;
    }
    out = ordered_json::array();
    const ordered_json* all = nullptr;
    if (auto it = private_ips_.find(*vnic); it != private_ips_.end()) all = &it->second;
    const std::size_t total = all ? all->size() : 0;
    std::size_t end = total;
    if (limit > 0) end = std::min(total, offset + static_cast<std::size_t>(limit));
    ordered_json items = ordered_json::array();
    for (std::size_t i = offset; i < end; ++i) items.push_back((*all)[i]);
    out = std::move(items);
    if (end < total) next_page = base64_encode("nicsync-mock-page:" + *vnic + ":" + std::to_string(end));
    return std::nullopt;
  }

  // --- signatures -------------------------------------------------------------------------

  /// Parses and checks the Authorization header; reports failures through `fail`. nullopt when
  /// nothing more can be checked (no usable header).
  template <typename Fail>
  std::optional<SignatureHeader> check_signature_header(const httplib::Request& req, LogEntry& entry,
                                                        bool with_body, bool require_host, Fail& fail) {
    if (req.get_header_value_count("Authorization") != 1) {
      fail(req.has_header("Authorization") ? "Authorization header given more than once"
                                           : "no Authorization header");
      return std::nullopt;
    }
    std::string why;
    auto sig = parse_signature_header(req.get_header_value("Authorization"), why);
    if (!sig) {
      fail(why);
      return std::nullopt;
    }
    auto& p = sig->params;
    for (const char* name : {"keyId", "signature"})
      if (p.count(name) == 0) {
        fail(std::string("Authorization has no ") + name);
        return std::nullopt;
      }
    const std::string& key_id = p.at("keyId");
    if (key_id.starts_with("ST$"))
      entry.key_id_kind = "ST";
    else if (key_id.find("/fed-x509-sha256/") != std::string::npos)
      entry.key_id_kind = "fed-x509-sha256";
    else if (key_id.find("/fed-x509/") != std::string::npos)
      entry.key_id_kind = "fed-x509";
    if (p.count("headers") != 0) entry.signed_headers = p.at("headers");
    if (p.count("version") == 0 || p.at("version") != "1") fail("Authorization: version is not \"1\"");
    if (p.count("algorithm") == 0 || p.at("algorithm") != "rsa-sha256")
      fail("Authorization: algorithm is not \"rsa-sha256\"");
    if (p.count("headers") == 0) {
      fail("Authorization has no headers list");
      return sig;
    }
    const auto listed = split_headers(p.at("headers"));
    const std::set<std::string> names(listed.begin(), listed.end());
    std::vector<std::string> required = {"(request-target)"};
    if (require_host) required.push_back("host");
    if (with_body) required.insert(required.end(), {"content-length", "content-type", "x-content-sha256"});
    if (names.count("date") == 0 && names.count("x-date") == 0)
      fail("signed headers \"" + p.at("headers") + "\" lack date (or x-date)");
    for (const auto& name : required)
      if (names.count(name) == 0) fail("signed headers \"" + p.at("headers") + "\" lack " + name);
    if (names.size() != listed.size()) fail("signed headers \"" + p.at("headers") + "\" repeat a name");
    check_host(req, fail);
    return sig;
  }

  static std::vector<std::string> split_headers(const std::string& list) {
    std::vector<std::string> out;
    std::size_t i = 0;
    while (i <= list.size()) {
      const auto space = list.find(' ', i);
      const std::string name = list.substr(i, space == std::string::npos ? std::string::npos : space - i);
      if (!name.empty()) out.push_back(name);
      if (space == std::string::npos) break;
      i = space + 1;
    }
    return out;
  }

  /// The signing string for the headers the client listed, or nullopt if one is missing.
  std::optional<std::string> build_signing_string(const httplib::Request& req, const SignatureHeader& sig) {
    auto it = sig.params.find("headers");
    if (it == sig.params.end()) return std::nullopt;
    std::string out;
    for (const auto& name : split_headers(it->second)) {
      if (!out.empty()) out += '\n';
      if (name == "(request-target)") {
        out += "(request-target): " + lower(req.method) + " " + req.target;
        continue;
      }
      if (req.get_header_value_count(name) != 1) return std::nullopt;
      out += lower(name) + ": " + req.get_header_value(name);
    }
    return out;
  }

  template <typename Fail>
  void check_host(const httplib::Request& req, Fail& fail) {
    if (req.get_header_value_count("Host") != 1) {
      fail("Host header missing or repeated");
      return;
    }
    const std::string host = req.get_header_value("Host");
    std::string name = host;
    std::optional<int> port;
    const auto colon = host.rfind(':');
    if (colon != std::string::npos && host.find(']', colon) == std::string::npos) {
      name = host.substr(0, colon);
      port = parse_int<int>(std::string_view(host).substr(colon + 1));
      if (!port) {
        fail("Host \"" + host + "\" has a malformed port");
        return;
      }
    }
    if (name.size() >= 2 && name.front() == '[' && name.back() == ']') name = name.substr(1, name.size() - 2);
    name = lower(name);
    std::set<std::string> accepted = {lower(o_.host), lower(req.local_addr)};
    if (req.ssl != nullptr)
      if (const char* sni = SSL_get_servername(req.ssl, TLSEXT_NAMETYPE_host_name))
        accepted.insert(lower(sni));
    if (accepted.count(name) == 0 || port.value_or(443) != req.local_port)
      fail("Host \"" + host + "\" is not what the client connected to (port " +
           std::to_string(req.local_port) + ")");
  }

  template <typename Fail>
  void check_date(const httplib::Request& req, const SignatureHeader& sig, Fail& fail) {
    auto it = sig.params.find("headers");
    const auto listed = it == sig.params.end() ? std::vector<std::string>{} : split_headers(it->second);
    const bool x_date = std::find(listed.begin(), listed.end(), "x-date") != listed.end();
    const std::string header = x_date ? "x-date" : "date";
    if (req.get_header_value_count(header) != 1) {
      fail(header + " header missing or repeated");
      return;
    }
    const std::string value = req.get_header_value(header);
    const auto when = parse_http_date(value);
    if (!when) {
      fail(header + " \"" + value + "\" is not an RFC 7231 date (\"Sun, 06 Nov 1994 08:49:37 GMT\")");
      return;
    }
    const long skew = static_cast<long>(*when - clock_now());
    if (skew > o_.max_skew || skew < -o_.max_skew)
      fail("Date '" + value + "' is not within allowed clock skew (" + header + " is " +
           std::to_string(skew) + " s from the server's clock, limit " + std::to_string(o_.max_skew) + " s)");
  }

  template <typename Fail>
  void check_body_headers(const httplib::Request& req, Fail& fail) {
    const std::string sha = req.get_header_value("x-content-sha256");
    const std::string expected = base64_encode(digest(EVP_sha256(), req.body));
    if (!req.has_header("x-content-sha256"))
      fail("x-content-sha256 header missing");
    else if (sha != expected)
      fail("x-content-sha256 \"" + sha + "\" is not the body's SHA-256 " + expected);
    if (!req.has_header("content-length"))
      fail("content-length header missing");
    else if (req.get_header_value("content-length") != std::to_string(req.body.size()))
      fail("content-length " + req.get_header_value("content-length") + " is not the body's " +
           std::to_string(req.body.size()) + " bytes");
    if (!lower(req.get_header_value("content-type")).starts_with("application/json"))
      fail("content-type \"" + req.get_header_value("content-type") + "\" is not application/json");
  }

  // --- helpers ----------------------------------------------------------------------------

  void load_fixture(const std::string& path) {
    ordered_json fixture;
    try {
      fixture = ordered_json::parse(read_file(path, "fixture"));
    } catch (const ordered_json::exception& e) {
      throw UsageError(path + ": not JSON: " + e.what());
    }
    auto api = fixture.find("oci_api");
    if (api == fixture.end()) return;
    auto ips = api->find("private_ips");
    if (ips == api->end()) return;
    if (!ips->is_object()) throw UsageError(path + ": oci_api.private_ips is not an object");
    for (auto it = ips->begin(); it != ips->end(); ++it) {
      if (!it->is_array()) throw UsageError(path + ": oci_api.private_ips." + it.key() + " is not an array");
      private_ips_[it.key()] = *it;
    }
  }

  std::time_t clock_now() const { return std::time(nullptr) + o_.clock_offset; }

  std::optional<int> take_fault(int& left, const std::optional<StatusFault>& fault) {
    if (!fault) return std::nullopt;
    std::lock_guard lock(mutex_);
    if (left == 0) return std::nullopt;
    if (left > 0) --left;
    return fault->status;
  }

  static std::string error_code(int status) {
    switch (status) {
      case 400:
        return "InvalidParameter";
      case 401:
        return "NotAuthenticated";
      case 404:
        return "NotAuthorizedOrNotFound";
      case 409:
        return "Conflict";
      case 429:
        return "TooManyRequests";
      case 500:
        return "InternalServerError";
      case 503:
        return "ServiceUnavailable";
      default:
        return "MockFault";
    }
  }

  static std::string message_for(const Rejection& r) {
    if (r.code == "NotAuthenticated")
      return "The required information to complete authentication was not provided or was "
             "incorrect. (mock: " +
             r.error + ")";
    if (r.code == "NotAuthorizedOrNotFound") return "Authorization failed or requested resource not found.";
    return r.error;
  }

  std::string new_request_id() {
    std::lock_guard lock(rng_mutex_);
    static constexpr char kHex[] = "0123456789ABCDEF";
    std::string out;
    for (int i = 0; i < 32; ++i) out += kHex[rng_() & 15];
    return out;
  }

  // --- shutdown ---------------------------------------------------------------------------

 public:
  /// Holds the log lock for good, so that the process can leave without cutting a line.
  void quiesce() {
    log_mutex_.lock();
    if (log_.is_open()) log_.flush();
  }

 private:
  void write_log(const LogEntry& e) {
    if (!log_.is_open()) return;
    ordered_json line = {{"service", e.service},
                         {"method", e.method},
                         {"path", e.path},
                         {"query", e.query},
                         {"key_id_kind", e.key_id_kind},
                         {"signed_headers", e.signed_headers},
                         {"signature_ok", e.signature_ok},
                         {"status", e.status},
                         {"token_serial", e.token_serial},
                         {"vnic_id", e.vnic_id},
                         {"page", e.page},
                         {"error", e.error},
                         {"request_id", e.request_id}};
    std::lock_guard lock(log_mutex_);
    log_ << line.dump(-1, ' ', false, json::error_handler_t::replace) << std::endl;
  }

  const Options& o_;
  PkeyPtr server_key_;
  std::string jws_alg_;  ///< RS256 or ES256, after the TLS key
  X509Ptr leaf_;
  std::string leaf_der_, leaf_sha1_, leaf_sha256_;
  std::string tenancy_, instance_, compartment_;
  std::vector<std::string> intermediates_;  ///< DER
  std::map<std::string, ordered_json> private_ips_;

  std::mutex mutex_;  ///< guards tokens_, token_serial_ and the fault counters
  std::map<std::string, Token> tokens_;
  long token_serial_ = 0;
  int federation_fault_left_ = 0, api_fault_left_ = 0;

  std::mutex rng_mutex_;
  std::mt19937_64 rng_{std::random_device{}()};

  std::mutex log_mutex_;
  std::ofstream log_;
};

std::unique_ptr<httplib::SSLServer> make_server(const Options& o) {
  std::string error;
  auto server = std::make_unique<httplib::SSLServer>([&](SSL_CTX& ctx) {
    SSL_CTX_set_min_proto_version(&ctx, TLS1_2_VERSION);
    SSL_CTX_set_options(&ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_SESSION_RESUMPTION_ON_RENEGOTIATION);
    if (SSL_CTX_use_certificate_chain_file(&ctx, o.tls_cert.c_str()) != 1) {
      error = o.tls_cert + ": cannot use as TLS certificate (" + openssl_error() + ")";
      return false;
    }
    if (SSL_CTX_use_PrivateKey_file(&ctx, o.tls_key.c_str(), SSL_FILETYPE_PEM) != 1) {
      error = o.tls_key + ": cannot use as TLS key (" + openssl_error() + ")";
      return false;
    }
    if (SSL_CTX_check_private_key(&ctx) != 1) {
      error = o.tls_key + ": does not match " + o.tls_cert;
      return false;
    }
    return true;
  });
  if (!server->is_valid()) throw UsageError(error.empty() ? "cannot set up TLS" : error);
  return server;
}

/// Serves until SIGTERM or SIGINT, then leaves the process with status 0.
void serve(const Options& o) {
  auto mock = std::make_unique<OciMock>(o);
  auto server = make_server(o);
  // httplib's default pool is max(8, cores - 1) threads, and each open connection holds one;
  // --latency-ms sleeps in that thread. A pool that small would serialise a client's parallel
  // ListPrivateIps calls (one per VNIC) behind the latency: serve up to 256 concurrently.
  server->new_task_queue = [] { return new httplib::ThreadPool(kWorkerThreads); };
  int listen_fd = -1;
  server->set_socket_options([&listen_fd](socket_t sock) {
    int yes = 1;
    setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
    listen_fd = sock;
  });
  const auto handler = [m = mock.get()](const httplib::Request& req, httplib::Response& res) {
    m->handle(req, res);
  };
  server->Get(".*", handler);  // also HEAD
  server->Post(".*", handler);
  server->Put(".*", handler);
  server->Patch(".*", handler);
  server->Delete(".*", handler);
  server->Options(".*", handler);

  const int port =
      o.port == 0 ? server->bind_to_any_port(o.host) : (server->bind_to_port(o.host, o.port) ? o.port : -1);
  if (port <= 0) throw UsageError("cannot listen on " + o.host + ":" + std::to_string(o.port));
  if (listen_fd >= 0) ::listen(listen_fd, SOMAXCONN);  // httplib's backlog is 5
  std::atomic<bool> done{false};
  std::thread listener([&] {
    server->listen_after_bind();
    done = true;
  });
  while (!server->is_running() && !done) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  if (!server->is_running()) {
    listener.join();
    throw UsageError("cannot listen on " + o.host + ":" + std::to_string(port));
  }
  if (!o.port_file.empty()) program::write_port_file(o.port_file, port);
  const bool v6 = o.host.find(':') != std::string::npos;
  std::cout << "listening on https://" << (v6 ? "[" + o.host + "]" : o.host) << ":" << port << std::endl;

  program::wait_for_stop();
  // Log lines are flushed as they are written; idle keep-alive connections would hold the
  // worker threads for seconds, so leave without joining them.
  server->stop();
  mock->quiesce();
  std::cout.flush();
  _exit(0);
}

}  // namespace

int main(int argc, char** argv) { return program::run(kProgram, kUsage, argc, argv, parse_args, serve); }
