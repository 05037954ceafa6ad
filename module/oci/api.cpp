#include "oci/api.hpp"

#include <algorithm>
#include <cctype>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "metadata/json_text.hpp"
#include "nicsync/model.hpp"
#include "oci/signer.hpp"

namespace nicsync::oci {

namespace {

using Json = nlohmann::json;

constexpr std::string_view kPrefix = "oracle: OCI API: ";

/// What a ListPrivateIps 404 (NotAuthorizedOrNotFound) asks of the user: OCI answers 404, not
/// 403, when no policy grants the caller PRIVATE_IP_READ (the `inspect` verb on private-ips).
constexpr std::string_view kPolicyHint =
    "no policy lets this instance list private IPs (PRIVATE_IP_READ): put it in a dynamic group and add "
    "\"Allow dynamic-group <group> to inspect private-ips in compartment <compartment of the VNIC's subnet>\"";

/// The service's own words are the most useful part of a failure ("Date ... is not within
/// allowed clock skew ..."): shown at length, still escaped.
constexpr size_t kMessageLimit = 300;

Error api_error(const std::string& what) { return Error{std::string(kPrefix) + what}; }

bool is_lower_alnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }

/// A DNS label in lower case (region names and realm domains are).
bool is_lower_label(std::string_view text) {
  return is_hostname_label(text) &&
         std::all_of(text.begin(), text.end(), [](char c) { return c == '-' || is_lower_alnum(c); });
}

/// Percent-encodes a query value (everything but RFC 3986's unreserved characters).
std::string query_value(std::string_view text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : text) {
    bool unreserved = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
                      c == '.' || c == '_' || c == '~';
    if (unreserved) {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 0xf];
    }
  }
  return out;
}

/// "HTTP 404 NotAuthorizedOrNotFound: \"Authorization failed ...\"" from an OCI error body
/// ({"code": ..., "message": ...}), "HTTP 502" when the body says nothing usable, or the
/// transport's reason when no answer came.
std::string describe_failure(const HttpResponse& response) {
  if (response.status == 0) {
    return "no answer (" + (response.transport_error.empty() ? std::string("no response") : response.transport_error) +
           ")";
  }
  std::string out = "HTTP " + std::to_string(response.status);
  Json body = Json::parse(response.body, nullptr, /*allow_exceptions=*/false);
  if (body.is_object()) {
    auto code = body.find("code");
    if (code != body.end() && code->is_string()) {
      const std::string& text = code->get_ref<const std::string&>();
      // A code is one CamelCase word; anything else is shown quoted.
      bool plain = !text.empty() && text.size() <= 64 &&
                   std::all_of(text.begin(), text.end(), [](char c) { return std::isalnum(static_cast<unsigned char>(c)); });
      out += " " + (plain ? text : shown(*code));
    }
    auto message = body.find("message");
    if (message != body.end() && message->is_string()) {
      out += ": " + quote(message->get_ref<const std::string&>(), kMessageLimit);
    }
  }
  return out;
}

/// The "code" member of an OCI error body, or "".
std::string error_code(const HttpResponse& response) {
  Json body = Json::parse(response.body, nullptr, /*allow_exceptions=*/false);
  if (!body.is_object()) return "";
  auto code = body.find("code");
  return code != body.end() && code->is_string() ? code->get<std::string>() : "";
}

}  // namespace

Result<Region> make_region(std::string_view name, std::string_view realm_domain) {
  if (name.empty() || name.size() > 64 ||
      !std::all_of(name.begin(), name.end(), [](char c) { return c == '-' || is_lower_alnum(c); })) {
    return api_error("region " + quote(name) + " is not a region identifier (like \"us-phoenix-1\")");
  }
  bool domain_ok = !realm_domain.empty() && realm_domain.size() <= 253;
  for (size_t start = 0; domain_ok && start <= realm_domain.size();) {
    size_t dot = realm_domain.find('.', start);
    size_t end = dot == std::string_view::npos ? realm_domain.size() : dot;
    domain_ok = is_lower_label(realm_domain.substr(start, end - start));
    if (dot == std::string_view::npos) break;
    start = dot + 1;
  }
  if (!domain_ok || realm_domain.find('.') == std::string_view::npos) {
    return api_error("realm domain " + quote(realm_domain) + " is not a domain name (like \"oraclecloud.com\")");
  }
  return Region{std::string(name), std::string(realm_domain)};
}

Endpoints default_endpoints(const Region& region) {
  const std::string suffix = "." + region.name + "." + region.realm_domain;
  return Endpoints{"https://auth" + suffix, "https://iaas" + suffix};
}

Result<std::vector<PrivateIp>> parse_private_ips(std::string_view json, std::string_view vnic_id) {
  const std::string where = "ListPrivateIps for " + std::string(vnic_id) + ": ";
  Json document = Json::parse(json.begin(), json.end(), nullptr, /*allow_exceptions=*/false);
  // (A NUL byte ends nlohmann's parse as the end of the text would: what follows it would pass.)
  if (document.is_discarded() || json.find('\0') != std::string_view::npos) {
    return api_error(where + "the answer is not JSON (truncated?)");
  }
  if (!document.is_array()) return api_error(where + "the answer is " + shown(document) + ", not a JSON array");
  std::vector<PrivateIp> out;
  for (size_t i = 0; i < document.size(); ++i) {
    const Json& item = document[i];
    const std::string at = where + "item " + std::to_string(i + 1) + ": ";
    if (!item.is_object()) return api_error(at + shown(item) + " is not an object");
    auto address_member = item.find("ipAddress");
    if (address_member == item.end() || !address_member->is_string()) {
      return api_error(at + "\"ipAddress\" is missing or not a string");
    }
    auto address = Ipv4Address::parse(address_member->get_ref<const std::string&>());
    if (!address.ok()) return api_error(at + "\"ipAddress\": " + address.error().message);
    PrivateIp ip{.address = *address, .is_primary = false, .hostname_label = std::nullopt};
    if (auto primary = item.find("isPrimary"); primary != item.end() && !primary->is_null()) {
      if (!primary->is_boolean()) return api_error(at + "\"isPrimary\": " + shown(*primary) + " is not true or false");
      ip.is_primary = primary->get<bool>();
    }
    if (auto label = item.find("hostnameLabel"); label != item.end() && !label->is_null()) {
      if (!label->is_string() || !is_hostname_label(label->get_ref<const std::string&>())) {
        return api_error(at + "\"hostnameLabel\": " + shown(*label) + " is not a host name label");
      }
      ip.hostname_label = label->get<std::string>();
    }
    if (auto owner = item.find("vnicId"); owner != item.end() && !owner->is_null()) {
      if (!owner->is_string() || owner->get_ref<const std::string&>() != vnic_id) {
        return api_error(at + "\"vnicId\" " + shown(*owner) + " is another VNIC");
      }
    }
    if (std::any_of(out.begin(), out.end(), [&](const PrivateIp& seen) { return seen.address == ip.address; })) {
      return api_error(at + ip.address.str() + " is listed twice");
    }
    out.push_back(std::move(ip));
  }
  return out;
}

Federation::Federation(HttpClient& http, std::string federation_url, FetchIdentity fetch_identity, MakeKey make_key,
                       Now now)
    : http_(http),
      url_(std::move(federation_url)),
      fetch_identity_(std::move(fetch_identity)),
      make_key_(std::move(make_key)),
      now_(std::move(now)) {}

Result<Session> Federation::current() {
  if (session_ && now_() + kTokenRenewMargin < session_->expires) return *session_;
  NICSYNC_TRY_ASSIGN(Session session, exchange());
  session_ = session;
  return session;
}

Result<Session> Federation::exchange() {
  NICSYNC_TRY_ASSIGN(IdentityDocuments documents, fetch_identity_());
  auto certificate = Certificate::parse_pem(documents.certificate, "identity/cert.pem");
  if (!certificate.ok()) return api_error(certificate.error().message);
  auto instance_key = RsaKey::parse_private_pem(documents.private_key, "identity/key.pem");
  if (!instance_key.ok()) return api_error(instance_key.error().message);
  auto intermediate = Certificate::parse_pem(documents.intermediate, "identity/intermediate.pem");
  if (!intermediate.ok()) return api_error(intermediate.error().message);
  if (!instance_key->matches(*certificate)) {
    return api_error("identity/key.pem is not the key of identity/cert.pem (fetched while it was being renewed?)");
  }
  auto tenancy = certificate->tenancy_id();
  if (!tenancy.ok()) return api_error(tenancy.error().message);
  auto session_key = make_key_();
  if (!session_key.ok()) return api_error("session key: " + session_key.error().message);

  // Certificates and the key as the SDKs send them: a PEM's Base64 body, here re-encoded from
  // the parsed DER so that nothing but Base64 reaches the request.
  Json body = {{"certificate", base64_encode(certificate->der())},
               {"publicKey", base64_encode(session_key->public_key_der())},
               {"intermediateCertificates", Json::array({base64_encode(intermediate->der())})},
               {"purpose", "DEFAULT"},
               {"fingerprintAlgorithm", "SHA256"}};
  HttpRequest request{.method = HttpMethod::post, .url = url_ + "/v1/x509", .headers = {}, .body = body.dump()};
  request.headers.emplace_back("accept", "application/json");
  const std::string key_id = *tenancy + "/fed-x509-sha256/" + certificate->sha256_fingerprint();
  if (auto signed_ok = sign_request(request, key_id, *instance_key, now_()); !signed_ok.ok()) {
    return api_error("federation " + signed_ok.error().message);
  }
  ++exchanges_;
  HttpResponse response = std::move(http_.perform({request}).at(0));
  const std::string where = "federation POST " + request.url + ": ";
  if (response.status != 200) {
    std::string hint;
    if (response.status == 401 || response.status == 400) {
      hint = " (the federation endpoint refused the instance certificate)";
    }
    return api_error(where + describe_failure(response) + hint);
  }
  Json answer = Json::parse(response.body, nullptr, /*allow_exceptions=*/false);
  auto token = answer.is_object() ? answer.find("token") : answer.end();
  if (!answer.is_object() || token == answer.end() || !token->is_string()) {
    return api_error(where + "the answer has no \"token\" string");
  }
  const std::string& text = token->get_ref<const std::string&>();
  if (text.empty() || text.size() > 16384 ||
      !std::all_of(text.begin(), text.end(), [](char c) { return c > 0x20 && c < 0x7f && c != '"'; })) {
    return api_error(where + "the token is not printable text");
  }
  auto expires = jwt_expiry(text);
  if (!expires.ok()) return api_error(where + "token: " + expires.error().message);
  return Session{.token = text, .expires = *expires, .key = *session_key};
}

Result<std::map<std::string, std::vector<PrivateIp>>> list_private_ips(HttpClient& http, const std::string& iaas_url,
                                                                      Federation& federation,
                                                                      const std::vector<std::string>& vnic_ids) {
  struct Pending {
    std::string vnic;
    std::optional<std::string> page;
    int pages = 0;  ///< pages of this VNIC fetched before this one
  };
  std::map<std::string, std::vector<PrivateIp>> result;
  std::vector<Pending> pending;
  for (const std::string& vnic : vnic_ids) {
    if (result.emplace(vnic, std::vector<PrivateIp>{}).second) pending.push_back({vnic, std::nullopt, 0});
  }
  bool renewed = false;
  while (!pending.empty()) {
    NICSYNC_TRY_ASSIGN(Session session, federation.current());
    std::vector<HttpRequest> requests;
    for (const Pending& item : pending) {
      std::string path = std::string(kCoreApiPath) + "/privateIps?vnicId=" + query_value(item.vnic);
      if (item.page) path += "&page=" + query_value(*item.page);
      HttpRequest request{.method = HttpMethod::get, .url = iaas_url + path, .headers = {}};
      request.headers.emplace_back("accept", "application/json");
      if (auto signed_ok = sign_request(request, "ST$" + session.token, session.key, federation.now());
          !signed_ok.ok()) {
        return api_error("ListPrivateIps " + signed_ok.error().message);
      }
      requests.push_back(std::move(request));
    }
    std::vector<HttpResponse> responses = http.perform(requests);

    std::vector<Pending> next;
    bool refused = false;
    for (size_t i = 0; i < pending.size(); ++i) {
      const Pending& item = pending[i];
      const HttpResponse& response = responses.at(i);
      const std::string where = "ListPrivateIps for " + item.vnic + ": ";
      if (response.status == 401 && !renewed) {
        refused = true;
        next.push_back(item);
        continue;
      }
      if (response.status != 200) {
        std::string failure = describe_failure(response);
        if (response.status == 404 && error_code(response) == "NotAuthorizedOrNotFound") {
          failure += " (" + std::string(kPolicyHint) + ")";
        } else if (response.status == 401) {
          failure += " (refused even with a new token)";
        }
        return api_error(where + failure);
      }
      NICSYNC_TRY_ASSIGN(std::vector<PrivateIp> ips, parse_private_ips(response.body, item.vnic));
      std::vector<PrivateIp>& list = result[item.vnic];
      for (PrivateIp& ip : ips) {
        if (std::any_of(list.begin(), list.end(), [&](const PrivateIp& seen) { return seen.address == ip.address; })) {
          return api_error(where + ip.address.str() + " is on two pages");
        }
        list.push_back(std::move(ip));
      }
      std::string page = response.header("opc-next-page");
      if (!page.empty()) {
        if (item.pages + 1 >= kMaxPagesPerVnic) {
          return api_error(where + "more than " + std::to_string(kMaxPagesPerVnic) + " pages");
        }
        if (page.size() > 4096) return api_error(where + "opc-next-page is longer than 4096 bytes");
        next.push_back({item.vnic, page, item.pages + 1});
      }
    }
    if (refused) {
      // The token lapsed or was revoked server-side: renew once, then repeat what was refused.
      federation.invalidate();
      renewed = true;
    }
    pending = std::move(next);
  }
  return result;
}

}  // namespace nicsync::oci
