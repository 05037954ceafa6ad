#include <doctest/doctest.h>

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "fake_http.hpp"
#include "fake_oci_api.hpp"
#include "oci/api.hpp"
#include "oci/crypto.hpp"
#include "oci/signer.hpp"
#include "oci_test_material.hpp"

using nicsync::HttpMethod;
using nicsync::HttpRequest;
using nicsync::HttpResponse;
using nicsync::Result;
using nicsync::oci::Federation;
using nicsync::oci::IdentityDocuments;
using nicsync::oci::PrivateIp;
using nicsync::oci::RsaKey;
using nicsync::oci::Session;
using nicsync::oci::TimePoint;
using nicsync::test::FakeOciApi;
using nicsync::test::oci_error;
using nicsync::testing::FakeHttpClient;
using nicsync::testing::header_value;

namespace {

const std::string kFederationUrl = "https://auth.ap-tokyo-1.oraclecloud.com";
const std::string kIaasUrl = "https://iaas.ap-tokyo-1.oraclecloud.com";
const std::string kVnicA = "ocid1.vnic.oc1.ap-tokyo-1.vnica";
const std::string kVnicB = "ocid1.vnic.oc1.ap-tokyo-1.vnicb";
const std::string kVnicC = "ocid1.vnic.oc1.ap-tokyo-1.vnicc";
const std::string kPrivateIpsPath = "/20160918/privateIps?vnicId=";

/// 2023-11-14 22:13:20 UTC.
const TimePoint kStart = TimePoint(std::chrono::seconds(1700000000));

const std::string kPolicyHint =
    "no policy lets this instance list private IPs (PRIVATE_IP_READ): put it in a dynamic group and add "
    "\"Allow dynamic-group <group> to inspect private-ips in compartment <compartment of the VNIC's "
    "subnet>\"";

/// Session keys made once for the whole suite (2048-bit RSA generation is slow in a debug build);
/// consecutive sessions get different keys.
const RsaKey& pooled_key(size_t n) {
  static const std::vector<RsaKey> pool = [] {
    std::vector<RsaKey> keys;
    for (int i = 0; i < 3; ++i) keys.push_back(RsaKey::generate().value());
    return keys;
  }();
  return pool[n % pool.size()];
}

IdentityDocuments leaf_documents() {
  return IdentityDocuments{std::string(nicsync::test::kLeafCertificatePem),
                           std::string(nicsync::test::kLeafKeyPem),
                           std::string(nicsync::test::kIntermediateCertificatePem)};
}

/// A PrivateIp item as ListPrivateIps lists it.
nlohmann::json item(const std::string& vnic, const std::string& address, bool primary = false,
                    std::optional<std::string> label = std::nullopt) {
  return {{"id", "ocid1.privateip.oc1.ap-tokyo-1." + address},
          {"ipAddress", address},
          {"isPrimary", primary},
          {"vnicId", vnic},
          {"hostnameLabel", label ? nlohmann::json(*label) : nlohmann::json(nullptr)},
          {"displayName", "ip " + address}};
}

/// The addresses of a VNIC's list, space-separated.
std::string addresses(const std::vector<PrivateIp>& ips) {
  std::string out;
  for (const PrivateIp& ip : ips) out += (out.empty() ? "" : " ") + ip.address.str();
  return out;
}

std::string batches(const FakeHttpClient& fake) {
  std::string out;
  for (size_t size : fake.batch_sizes) out += (out.empty() ? "" : " ") + std::to_string(size);
  return out;
}

/// "POST /v1/x509" / "GET /20160918/privateIps?..." per request, the host left out.
std::string request_lines(const FakeHttpClient& fake) {
  std::string out;
  for (const HttpRequest& request : fake.requests) {
    std::string path = request.url.substr(request.url.find('/', std::string("https://").size()));
    out += std::string(nicsync::http_method_name(request.method)) + " " + path + "\n";
  }
  return out;
}

template <typename T>
std::string error_of(const Result<T>& result) {
  REQUIRE_FALSE(result.ok());
  return result.error().message;
}

/// A Federation and list_private_ips over a FakeOciApi, with a clock the test moves. Not
/// copyable: the callbacks point into it.
struct Rig {
  Rig() {
    api.clock = [this] { return now; };
  }
  Rig(const Rig&) = delete;
  Rig& operator=(const Rig&) = delete;

  Result<std::map<std::string, std::vector<PrivateIp>>> list(const std::vector<std::string>& vnics) {
    return nicsync::oci::list_private_ips(http, kIaasUrl, federation, vnics);
  }

  FakeHttpClient http;
  FakeOciApi api{http, kFederationUrl, kIaasUrl};
  TimePoint now = kStart;
  IdentityDocuments documents = leaf_documents();
  std::optional<nicsync::Error> identity_error;
  int identity_fetches = 0;
  size_t keys_made = 0;
  std::vector<std::string> session_keys;  ///< public DER of every key made, in order
  Federation federation{http, kFederationUrl,
                        [this]() -> Result<IdentityDocuments> {
                          ++identity_fetches;
                          if (identity_error) return *identity_error;
                          return documents;
                        },
                        [this]() -> Result<RsaKey> {
                          const RsaKey& key = pooled_key(keys_made++);
                          session_keys.push_back(key.public_key_der());
                          return key;
                        },
                        [this] { return now; }};
};

}  // namespace

TEST_SUITE("oci::api") {
  TEST_CASE("make_region accepts a region identifier and a realm domain of dotted DNS labels") {
    auto tokyo = nicsync::oci::make_region("ap-tokyo-1", "oraclecloud.com");
    REQUIRE(tokyo.ok());
    CHECK(tokyo->name == "ap-tokyo-1");
    CHECK(tokyo->realm_domain == "oraclecloud.com");
    CHECK(nicsync::oci::make_region("us-phoenix-1", "oraclecloud.com").ok());
    CHECK(nicsync::oci::make_region("uk-gov-london-1", "oraclegovcloud.uk").ok());
    CHECK(nicsync::oci::make_region("eu-frankfurt-2", "oc19.oraclecloud.eu").ok());
    CHECK(nicsync::oci::make_region(std::string(64, 'a'), "oraclecloud.com").ok());
  }

  TEST_CASE("make_region rejects a region that is not lower-case [a-z0-9-] of 1-64, naming it") {
    for (const std::string& region :
         std::vector<std::string>{"us phoenix", "US-PHOENIX-1", "Us-Phoenix-1", "", "ap_tokyo_1",
                                  "ap-tokyo-1.evil.com", "ap-tokyo-1/x", std::string(65, 'a')}) {
      CAPTURE(region);
      CHECK(error_of(nicsync::oci::make_region(region, "oraclecloud.com")) ==
            "oracle: OCI API: region " + nicsync::quote(region) +
                " is not a region identifier (like \"us-phoenix-1\")");
    }
  }

  TEST_CASE("make_region rejects a realm domain that is not lower-case DNS labels joined by dots") {
    for (const std::string& domain : std::vector<std::string>{
             "oraclecloud", "", "Oraclecloud.com", "oraclecloud..com", ".oraclecloud.com", "oraclecloud.com.",
             "-oracle.com", "oracle-.com", "oracle cloud.com", "oracle_cloud.com", "oraclecloud.com/x",
             "a." + std::string(64, 'b') + ".com"}) {
      CAPTURE(domain);
      CHECK(error_of(nicsync::oci::make_region("ap-tokyo-1", domain)) ==
            "oracle: OCI API: realm domain " + nicsync::quote(domain) +
                " is not a domain name (like \"oraclecloud.com\")");
    }
  }

  TEST_CASE(
      "default_endpoints are auth. and iaas. under the region and the realm domain, no trailing slash") {
    auto endpoints = nicsync::oci::default_endpoints({"ap-tokyo-1", "oraclecloud.com"});
    CHECK(endpoints.federation == "https://auth.ap-tokyo-1.oraclecloud.com");
    CHECK(endpoints.iaas == "https://iaas.ap-tokyo-1.oraclecloud.com");
    auto gov = nicsync::oci::default_endpoints({"uk-gov-london-1", "oraclegovcloud.uk"});
    CHECK(gov.federation == "https://auth.uk-gov-london-1.oraclegovcloud.uk");
    CHECK(gov.iaas == "https://iaas.uk-gov-london-1.oraclegovcloud.uk");
  }

  TEST_CASE("parse_private_ips reads address, isPrimary and hostnameLabel, ignoring other members") {
    nlohmann::json page = nlohmann::json::array(
        {item(kVnicA, "10.0.1.2", true, "tutorialvm1"), item(kVnicA, "10.0.1.11", false, "secondaryip"),
         nlohmann::json{{"ipAddress", "10.0.1.12"}},  // isPrimary, hostnameLabel and vnicId absent
         nlohmann::json{{"ipAddress", "10.0.1.13"},
                        {"isPrimary", nullptr},
                        {"vnicId", nullptr},
                        {"freeformTags", {{"a", "b"}}}}});
    auto ips = nicsync::oci::parse_private_ips(page.dump(), kVnicA);
    REQUIRE_MESSAGE(ips.ok(), ips.error().message);
    std::vector<PrivateIp> expected = {
        {*nicsync::Ipv4Address::parse("10.0.1.2"), true, "tutorialvm1"},
        {*nicsync::Ipv4Address::parse("10.0.1.11"), false, "secondaryip"},
        {*nicsync::Ipv4Address::parse("10.0.1.12"), false, std::nullopt},
        {*nicsync::Ipv4Address::parse("10.0.1.13"), false, std::nullopt},
    };
    CHECK(*ips == expected);
    CHECK(nicsync::oci::parse_private_ips("[]", kVnicA)->empty());
  }

  TEST_CASE("parse_private_ips names the VNIC, the item and the value of what is wrong") {
    const std::string where = "oracle: OCI API: ListPrivateIps for " + kVnicA + ": ";
    std::map<std::string, std::string> cases = {
        {R"([{"ipAddress": "10.0.1.2")", "the answer is not JSON (truncated?)"},
        {"", "the answer is not JSON (truncated?)"},
        {R"({"items": []})", "the answer is {\"items\":[]}, not a JSON array"},
        {R"(["10.0.1.2"])", "item 1: \"10.0.1.2\" is not an object"},
        {R"([{"ipAddress": "10.0.1.2"}, {}])", "item 2: \"ipAddress\" is missing or not a string"},
        {R"([{"ipAddress": 167772418}])", "item 1: \"ipAddress\" is missing or not a string"},
        {R"([{"ipAddress": "10.0.1.300"}])", "item 1: \"ipAddress\": \"10.0.1.300\" is not an IPv4 address"},
        {R"([{"ipAddress": "fd00::1"}])", "item 1: \"ipAddress\": \"fd00::1\" is not an IPv4 address"},
        {R"([{"ipAddress": "10.0.1.2", "isPrimary": "true"}])",
         "item 1: \"isPrimary\": \"true\" is not true or false"},
        {R"([{"ipAddress": "10.0.1.2", "hostnameLabel": "bad_label"}])",
         "item 1: \"hostnameLabel\": \"bad_label\" is not a host name label"},
        {R"([{"ipAddress": "10.0.1.2", "hostnameLabel": "-x"}])",
         "item 1: \"hostnameLabel\": \"-x\" is not a host name label"},
        {R"([{"ipAddress": "10.0.1.2", "hostnameLabel": ""}])",
         "item 1: \"hostnameLabel\": \"\" is not a host name label"},
        {R"([{"ipAddress": "10.0.1.2", "hostnameLabel": 7}])",
         "item 1: \"hostnameLabel\": 7 is not a host name label"},
        {R"([{"ipAddress": "10.0.1.2", "vnicId": "ocid1.vnic.oc1.ap-tokyo-1.vnicb"}])",
         "item 1: \"vnicId\" \"ocid1.vnic.oc1.ap-tokyo-1.vnicb\" is another VNIC"},
        {R"([{"ipAddress": "10.0.1.2", "vnicId": 1}])", "item 1: \"vnicId\" 1 is another VNIC"},
        {R"([{"ipAddress": "10.0.1.2"}, {"ipAddress": "10.0.1.11"}, {"ipAddress": "10.0.1.2"}])",
         "item 3: 10.0.1.2 is listed twice"},
    };
    for (const auto& [json, what] : cases) {
      CAPTURE(json);
      CHECK(error_of(nicsync::oci::parse_private_ips(json, kVnicA)) == where + what);
    }
    const std::string long_object = R"({"items": [{"ipAddress": "10.0.1.2"}, {"ipAddress": "10.0.1.11"}]})";
    CHECK(error_of(nicsync::oci::parse_private_ips(long_object, kVnicA)) ==
          where + "the answer is {\"items\":[{\"ipAddress\":\"10.0.1.2\"},{\"ipA..., not a JSON array");
  }

  TEST_CASE(
      "federation: one POST of the identity documents, signed by the instance key under "
      "tenancy/fed-x509-sha256/fingerprint") {
    Rig rig;
    auto session = rig.federation.current();
    REQUIRE_MESSAGE(session.ok(), session.error().message);
    CHECK(rig.api.problems.empty());
    CHECK(request_lines(rig.http) == "POST /v1/x509\n");
    CHECK(rig.federation.exchanges() == 1);
    CHECK(rig.identity_fetches == 1);
    REQUIRE(rig.api.federations.size() == 1);
    const FakeOciApi::Federation& seen = rig.api.federations[0];
    CHECK(seen.key_id ==
          "ocid1.tenancy.oc1..exampletenancy/fed-x509-sha256/"
          "83:FC:AC:9F:B5:A9:78:AB:7A:FF:A4:87:9D:C9:1D:9D:61:C1:04:5C:1A:4D:B9:06:47:73:90:C1:24:8B:48:48");
    CHECK(seen.signed_headers == "date (request-target) host content-length content-type x-content-sha256");
    CHECK(seen.date == "Tue, 14 Nov 2023 22:13:20 GMT");
    CHECK(seen.host == "auth.ap-tokyo-1.oraclecloud.com");
    // The body: the certificates' DER as Base64 (the PEM bodies joined), the session key's public
    // half, and the constants.
    nlohmann::json expected_body = {
        {"certificate", nicsync::test::pem_base64(nicsync::test::kLeafCertificatePem)},
        {"publicKey", nicsync::test::base64_std(rig.session_keys.at(0))},
        {"intermediateCertificates",
         nlohmann::json::array({nicsync::test::pem_base64(nicsync::test::kIntermediateCertificatePem)})},
        {"purpose", "DEFAULT"},
        {"fingerprintAlgorithm", "SHA256"}};
    CHECK(seen.body == expected_body);
    CHECK(seen.session_key_der == rig.session_keys.at(0));
    CHECK(nicsync::test::pem_base64(nicsync::test::kLeafCertificatePem) !=
          nicsync::test::pem_base64(nicsync::test::kIntermediateCertificatePem));
    // The request as sent.
    const HttpRequest& post = rig.http.requests.at(0);
    CHECK(post.url == "https://auth.ap-tokyo-1.oraclecloud.com/v1/x509");
    CHECK(header_value(post, "accept") == "application/json");
    CHECK(header_value(post, "content-type") == "application/json");
    CHECK(header_value(post, "content-length") == std::to_string(post.body.size()));
    CHECK(header_value(post, "x-content-sha256") ==
          nicsync::test::base64_std(nicsync::test::sha256_raw(post.body)));
    CHECK(header_value(post, "authorization")
              .starts_with(
                  "Signature version=\"1\",headers=\"date (request-target) host content-length content-type "
                  "x-content-sha256\",keyId=\"ocid1.tenancy.oc1..exampletenancy/fed-x509-sha256/83:FC:"));
    // The session: the token the fake issued, its exp, and the key whose public half was sent.
    CHECK(session->token == rig.api.tokens().at(0));
    CHECK(session->expires == kStart + std::chrono::seconds(1200));
    CHECK(session->key.public_key_der() == rig.session_keys.at(0));
  }

  TEST_CASE("federation: the signature verifies only with the leaf's key (the fake's check is not vacuous)") {
    Rig rig;
    rig.api.leaf_certificate_pem = nicsync::test::kIntermediateCertificatePem;  // expects another key
    auto session = rig.federation.current();
    CHECK(rig.api.problems ==
          std::vector<std::string>{
              "federation: the signature does not verify with the leaf certificate's key"});
    CHECK_FALSE(session.ok());
  }

  TEST_CASE(
      "current() reuses the session until kTokenRenewMargin before exp, then federates with a new session "
      "key") {
    Rig rig;
    rig.api.token_lifetime = std::chrono::seconds(1200);
    auto first = rig.federation.current();
    REQUIRE(first.ok());
    rig.now = kStart + std::chrono::seconds(1139);  // 61 s before exp
    auto same = rig.federation.current();
    REQUIRE(same.ok());
    CHECK(same->token == first->token);
    CHECK(rig.federation.exchanges() == 1);
    CHECK(rig.identity_fetches == 1);

    rig.now = kStart + std::chrono::seconds(1140);  // exactly kTokenRenewMargin before exp
    auto renewed = rig.federation.current();
    REQUIRE(renewed.ok());
    CHECK(rig.federation.exchanges() == 2);
    CHECK(rig.identity_fetches == 2);  // the identity documents are fetched again
    CHECK(renewed->token != first->token);
    CHECK(renewed->token == rig.api.tokens().at(1));
    CHECK(renewed->expires == kStart + std::chrono::seconds(1140 + 1200));
    REQUIRE(rig.api.federations.size() == 2);
    CHECK(rig.api.federations[1].session_key_der == rig.session_keys.at(1));
    CHECK(rig.session_keys.at(1) != rig.session_keys.at(0));
    CHECK(rig.api.federations[1].date == "Tue, 14 Nov 2023 22:32:20 GMT");
    CHECK(rig.api.problems.empty());
  }

  TEST_CASE("invalidate() makes the next current() federate again") {
    Rig rig;
    auto first = rig.federation.current();
    REQUIRE(first.ok());
    rig.federation.invalidate();
    auto second = rig.federation.current();
    REQUIRE(second.ok());
    CHECK(second->token != first->token);
    CHECK(rig.federation.exchanges() == 2);
    CHECK(rig.api.problems.empty());
  }

  TEST_CASE("federation refused or unreachable: one line naming the endpoint and the answer") {
    const std::string where =
        "oracle: OCI API: federation POST https://auth.ap-tokyo-1.oraclecloud.com/v1/x509: ";
    Rig rig;
    std::string expected;
    SUBCASE("401: the certificate was refused") {
      rig.api.federation_faults.push_back(oci_error(401, "NotAuthenticated", "Failed to verify certificate"));
      expected =
          where +
          "HTTP 401 NotAuthenticated: \"Failed to verify certificate\" (the federation endpoint refused the "
          "instance certificate)";
    }
    SUBCASE("the service's message is shown whole up to 300 characters, then cut") {
      rig.api.federation_faults.push_back(oci_error(
          401, "NotAuthenticated", "The required information to complete authentication was not provided."));
      expected = where +
                 "HTTP 401 NotAuthenticated: \"The required information to complete authentication was not "
                 "provided.\" (the federation endpoint refused the instance certificate)";
    }
    SUBCASE("a long service message is cut at 300 characters") {
      rig.api.federation_faults.push_back(oci_error(401, "NotAuthenticated", std::string(400, 'x')));
      expected = where + "HTTP 401 NotAuthenticated: \"" + std::string(300, 'x') +
                 "...\" (the federation endpoint refused the instance certificate)";
    }
    SUBCASE("400: also the certificate") {
      rig.api.federation_faults.push_back(oci_error(400, "InvalidParameter", "bad certificate"));
      expected = where +
                 "HTTP 400 InvalidParameter: \"bad certificate\" (the federation endpoint refused the "
                 "instance certificate)";
    }
    SUBCASE("500 after the client's retries") {
      rig.api.federation_faults.push_back(oci_error(500, "InternalServerError", "Internal error"));
      expected = where + "HTTP 500 InternalServerError: \"Internal error\"";
    }
    SUBCASE("a 502 from a proxy, with an HTML body") {
      HttpResponse bad_gateway;
      bad_gateway.status = 502;
      bad_gateway.body = "<html><body>Bad Gateway</body></html>";
      rig.api.federation_faults.push_back(bad_gateway);
      expected = where + "HTTP 502";
    }
    SUBCASE("a code that is not one word is quoted") {
      rig.api.federation_faults.push_back(oci_error(409, "Not a code\n", "x"));
      expected = where + "HTTP 409 \"Not a code\\n\": \"x\"";
    }
    SUBCASE("unreachable") {
      HttpResponse none;
      none.transport_error = "Couldn't resolve host name";
      rig.api.federation_faults.push_back(none);
      expected = where + "no answer (Couldn't resolve host name)";
    }
    SUBCASE("no response and no reason") {
      rig.api.federation_faults.push_back(HttpResponse{});
      expected = where + "no answer (no response)";
    }
    SUBCASE("200 without a token") {
      HttpResponse odd;
      odd.status = 200;
      odd.body = R"({"securityToken": "x.y.z"})";
      rig.api.federation_faults.push_back(odd);
      expected = where + "the answer has no \"token\" string";
    }
    SUBCASE("200 with a token that is not a JWT") {
      HttpResponse odd;
      odd.status = 200;
      odd.body = R"({"token": "abc"})";
      rig.api.federation_faults.push_back(odd);
      expected = where + "token: not a JWT (header.payload.signature)";
    }
    SUBCASE("200 with a token that is not printable") {
      HttpResponse odd;
      odd.status = 200;
      odd.body = R"({"token": "a.b c.d"})";
      rig.api.federation_faults.push_back(odd);
      expected = where + "the token is not printable text";
    }
    CHECK(error_of(rig.federation.current()) == expected);
    CHECK(rig.api.problems.empty());
    CHECK(rig.federation.exchanges() == 1);
  }

  TEST_CASE("identity documents that do not fit stop the federation before any request") {
    Rig rig;
    std::string expected;
    SUBCASE("key.pem is not the key of cert.pem") {
      rig.documents.private_key = std::string(nicsync::test::kOciDocKeyPem);
      expected =
          "oracle: OCI API: identity/key.pem is not the key of identity/cert.pem (fetched while it was being "
          "renewed?)";
    }
    SUBCASE("cert.pem is not a certificate") {
      rig.documents.certificate = "<html>maintenance</html>";
      expected = "oracle: OCI API: identity/cert.pem: not a PEM certificate";
    }
    SUBCASE("the identity fetch failed") {
      rig.identity_error = nicsync::Error{
          "oracle: OCI API: instance identity: oracle: GET /opc/v2/identity/cert.pem: HTTP 500"};
      expected = "oracle: OCI API: instance identity: oracle: GET /opc/v2/identity/cert.pem: HTTP 500";
    }
    CHECK(error_of(rig.federation.current()) == expected);
    CHECK(rig.http.requests.empty());
    CHECK(rig.federation.exchanges() == 0);
  }

  TEST_CASE("a session key that cannot be made is named") {
    FakeHttpClient http;
    Federation federation(
        http, kFederationUrl, [] { return Result<IdentityDocuments>(leaf_documents()); },
        []() -> Result<RsaKey> { return nicsync::Error{"RSA key generation failed"}; },
        [] { return kStart; });
    CHECK(error_of(federation.current()) == "oracle: OCI API: session key: RSA key generation failed");
    CHECK(http.requests.empty());
  }

  TEST_CASE(
      "ListPrivateIps: one GET per VNIC in one round trip, signed with the session key under ST$<token>") {
    Rig rig;
    rig.api.private_ips[kVnicA] = {item(kVnicA, "10.0.1.2", true, "vma"),
                                   item(kVnicA, "10.0.1.11", false, "sec")};
    rig.api.private_ips[kVnicB] = {item(kVnicB, "10.0.2.2", true)};
    rig.api.private_ips[kVnicC] = nlohmann::json::array();
    auto listed = rig.list({kVnicA, kVnicB, kVnicC, kVnicA});  // a repeated VNIC is asked once
    REQUIRE_MESSAGE(listed.ok(), listed.error().message);
    CHECK(rig.api.problems.empty());
    CHECK(batches(rig.http) == "1 3");
    CHECK(request_lines(rig.http) ==
          "POST /v1/x509\n"
          "GET /20160918/privateIps?vnicId=ocid1.vnic.oc1.ap-tokyo-1.vnica\n"
          "GET /20160918/privateIps?vnicId=ocid1.vnic.oc1.ap-tokyo-1.vnicb\n"
          "GET /20160918/privateIps?vnicId=ocid1.vnic.oc1.ap-tokyo-1.vnicc\n");
    REQUIRE(rig.api.listings.size() == 3);
    for (const FakeOciApi::Listing& seen : rig.api.listings) {
      CHECK(seen.token == rig.api.tokens().at(0));
      CHECK(seen.signed_headers == "date (request-target) host");
      CHECK(seen.date == "Tue, 14 Nov 2023 22:13:20 GMT");
      CHECK(seen.host == "iaas.ap-tokyo-1.oraclecloud.com");
    }
    const HttpRequest& get = rig.http.requests.at(1);
    CHECK(header_value(get, "accept") == "application/json");
    CHECK(header_value(get, "authorization")
              .starts_with("Signature version=\"1\",headers=\"date (request-target) host\",keyId=\"ST$" +
                           rig.api.tokens().at(0) + "\",algorithm=\"rsa-sha256\",signature=\""));
    CHECK(header_value(get, "x-content-sha256").empty());
    CHECK(listed->size() == 3);
    CHECK(addresses(listed->at(kVnicA)) == "10.0.1.2 10.0.1.11");
    CHECK(listed->at(kVnicA).at(0).is_primary);
    CHECK(listed->at(kVnicA).at(1).hostname_label == "sec");
    CHECK(addresses(listed->at(kVnicB)) == "10.0.2.2");
    CHECK(listed->at(kVnicC).empty());
    CHECK(rig.federation.exchanges() == 1);
  }

  TEST_CASE(
      "ListPrivateIps: the signature verifies only with the session key (the fake's check is not vacuous)") {
    Rig rig;
    REQUIRE(rig.federation.current().ok());
    HttpRequest forged{.method = HttpMethod::get, .url = kIaasUrl + kPrivateIpsPath + kVnicA, .headers = {}};
    // Signed with the instance key instead of the session key, under the session's keyId.
    auto instance_key = RsaKey::parse_private_pem(nicsync::test::kLeafKeyPem, "leaf");
    REQUIRE(instance_key.ok());
    REQUIRE(nicsync::oci::sign_request(forged, "ST$" + rig.api.tokens().at(0), *instance_key, kStart).ok());
    auto answers = rig.http.perform({forged});
    CHECK(answers.at(0).status == 401);
    CHECK(rig.api.problems ==
          std::vector<std::string>{
              "ListPrivateIps: the signature does not verify with the token's session key"});
  }

  TEST_CASE("ListPrivateIps: pages follow opc-next-page in order, the token percent-encoded in the query") {
    Rig rig;
    rig.api.page_size = 2;
    rig.api.private_ips[kVnicA] = {item(kVnicA, "10.0.1.2", true), item(kVnicA, "10.0.1.30"),
                                   item(kVnicA, "10.0.1.11"), item(kVnicA, "10.0.1.20"),
                                   item(kVnicA, "10.0.1.5")};
    auto listed = rig.list({kVnicA});
    REQUIRE_MESSAGE(listed.ok(), listed.error().message);
    CHECK(rig.api.problems.empty());
    CHECK(batches(rig.http) == "1 1 1 1");
    CHECK(request_lines(rig.http) ==
          "POST /v1/x509\n"
          "GET /20160918/privateIps?vnicId=ocid1.vnic.oc1.ap-tokyo-1.vnica\n"
          "GET /20160918/privateIps?vnicId=ocid1.vnic.oc1.ap-tokyo-1.vnica&page=2%2Fnext%2Bpage%3D\n"
          "GET /20160918/privateIps?vnicId=ocid1.vnic.oc1.ap-tokyo-1.vnica&page=3%2Fnext%2Bpage%3D\n");
    REQUIRE(rig.api.listings.size() == 3);
    CHECK(rig.api.listings[0].page == "");
    CHECK(rig.api.listings[1].page == "2/next+page=");
    CHECK(rig.api.listings[2].page == "3/next+page=");
    // The API's order, pages concatenated (sorting is the caller's business).
    CHECK(addresses(listed->at(kVnicA)) == "10.0.1.2 10.0.1.30 10.0.1.11 10.0.1.20 10.0.1.5");
    CHECK(rig.federation.exchanges() == 1);
  }

  TEST_CASE("ListPrivateIps: the next pages of several VNICs share round trips; finished VNICs drop out") {
    Rig rig;
    rig.api.page_size = 1;
    rig.api.private_ips[kVnicA] = {item(kVnicA, "10.0.1.2", true), item(kVnicA, "10.0.1.11"),
                                   item(kVnicA, "10.0.1.12")};
    rig.api.private_ips[kVnicB] = {item(kVnicB, "10.0.2.2", true)};
    rig.api.private_ips[kVnicC] = {item(kVnicC, "10.0.3.2", true), item(kVnicC, "10.0.3.9")};
    auto listed = rig.list({kVnicA, kVnicB, kVnicC});
    REQUIRE_MESSAGE(listed.ok(), listed.error().message);
    CHECK(batches(rig.http) == "1 3 2 1");
    std::vector<std::string> seen;
    for (const FakeOciApi::Listing& listing : rig.api.listings)
      seen.push_back(listing.vnic.substr(listing.vnic.size() - 1) + ":" + listing.page);
    CHECK(seen ==
          std::vector<std::string>{"a:", "b:", "c:", "a:2/next+page=", "c:2/next+page=", "a:3/next+page="});
    CHECK(addresses(listed->at(kVnicA)) == "10.0.1.2 10.0.1.11 10.0.1.12");
    CHECK(addresses(listed->at(kVnicB)) == "10.0.2.2");
    CHECK(addresses(listed->at(kVnicC)) == "10.0.3.2 10.0.3.9");
    CHECK(rig.api.problems.empty());
  }

  TEST_CASE("ListPrivateIps: no VNICs, no requests") {
    Rig rig;
    auto listed = rig.list({});
    REQUIRE(listed.ok());
    CHECK(listed->empty());
    CHECK(rig.http.requests.empty());
    CHECK(rig.federation.exchanges() == 0);
  }

  TEST_CASE("ListPrivateIps: the token is renewed when the clock passes exp - 60 s between pages") {
    Rig rig;
    rig.api.page_size = 1;
    rig.api.token_lifetime = std::chrono::seconds(1200);
    rig.api.private_ips[kVnicA] = {item(kVnicA, "10.0.1.2", true), item(kVnicA, "10.0.1.11"),
                                   item(kVnicA, "10.0.1.12")};
    // Each page takes 570 s: page 2 is asked at +570 (630 s left), page 3 at +1140 (60 s left: renew).
    rig.api.on_listing = [&rig](const FakeOciApi::Listing&) { rig.now += std::chrono::seconds(570); };
    auto listed = rig.list({kVnicA});
    REQUIRE_MESSAGE(listed.ok(), listed.error().message);
    CHECK(rig.api.problems.empty());
    CHECK(request_lines(rig.http) ==
          "POST /v1/x509\n"
          "GET /20160918/privateIps?vnicId=ocid1.vnic.oc1.ap-tokyo-1.vnica\n"
          "GET /20160918/privateIps?vnicId=ocid1.vnic.oc1.ap-tokyo-1.vnica&page=2%2Fnext%2Bpage%3D\n"
          "POST /v1/x509\n"
          "GET /20160918/privateIps?vnicId=ocid1.vnic.oc1.ap-tokyo-1.vnica&page=3%2Fnext%2Bpage%3D\n");
    REQUIRE(rig.api.tokens().size() == 2);
    REQUIRE(rig.api.listings.size() == 3);
    CHECK(rig.api.listings[0].token == rig.api.tokens()[0]);
    CHECK(rig.api.listings[1].token == rig.api.tokens()[0]);
    CHECK(rig.api.listings[2].token == rig.api.tokens()[1]);
    CHECK(rig.api.listings[2].date == "Tue, 14 Nov 2023 22:32:20 GMT");
    CHECK(rig.api.federations[1].session_key_der != rig.api.federations[0].session_key_der);
    CHECK(rig.federation.exchanges() == 2);
    CHECK(addresses(listed->at(kVnicA)) == "10.0.1.2 10.0.1.11 10.0.1.12");
  }

  TEST_CASE("ListPrivateIps: a 401 renews the session once and repeats only the refused requests") {
    Rig rig;
    rig.api.private_ips[kVnicA] = {item(kVnicA, "10.0.1.2", true), item(kVnicA, "10.0.1.11")};
    rig.api.private_ips[kVnicB] = {item(kVnicB, "10.0.2.2", true)};
    rig.api.unauthorized_listings = 1;  // the first GET (VNIC A) is refused, B is served
    auto listed = rig.list({kVnicA, kVnicB});
    REQUIRE_MESSAGE(listed.ok(), listed.error().message);
    CHECK(rig.api.problems.empty());
    CHECK(batches(rig.http) == "1 2 1 1");
    CHECK(request_lines(rig.http) ==
          "POST /v1/x509\n"
          "GET /20160918/privateIps?vnicId=ocid1.vnic.oc1.ap-tokyo-1.vnica\n"
          "GET /20160918/privateIps?vnicId=ocid1.vnic.oc1.ap-tokyo-1.vnicb\n"
          "POST /v1/x509\n"
          "GET /20160918/privateIps?vnicId=ocid1.vnic.oc1.ap-tokyo-1.vnica\n");
    CHECK(rig.federation.exchanges() == 2);
    CHECK(rig.identity_fetches == 2);
    REQUIRE(rig.api.listings.size() == 3);
    CHECK(rig.api.listings[0].status == 401);
    CHECK(rig.api.listings[2].status == 200);
    CHECK(rig.api.listings[2].token == rig.api.tokens().at(1));
    CHECK(addresses(listed->at(kVnicA)) == "10.0.1.2 10.0.1.11");
    CHECK(addresses(listed->at(kVnicB)) == "10.0.2.2");
  }

  TEST_CASE("ListPrivateIps: a 401 with the renewed token is the error") {
    Rig rig;
    rig.api.private_ips[kVnicA] = {item(kVnicA, "10.0.1.2", true)};
    rig.api.unauthorized_listings = 2;
    CHECK(
        error_of(rig.list({kVnicA})) ==
        "oracle: OCI API: ListPrivateIps for ocid1.vnic.oc1.ap-tokyo-1.vnica: HTTP 401 NotAuthenticated: "
        "\"The "
        "required information to complete authentication was not provided.\" (refused even with a new token)");
    CHECK(request_lines(rig.http) ==
          "POST /v1/x509\n"
          "GET /20160918/privateIps?vnicId=ocid1.vnic.oc1.ap-tokyo-1.vnica\n"
          "POST /v1/x509\n"
          "GET /20160918/privateIps?vnicId=ocid1.vnic.oc1.ap-tokyo-1.vnica\n");
    CHECK(rig.federation.exchanges() == 2);
    CHECK(rig.api.problems.empty());
  }

  TEST_CASE("ListPrivateIps: a federation that fails on renewal after a 401 is the error") {
    Rig rig;
    rig.api.private_ips[kVnicA] = {item(kVnicA, "10.0.1.2", true)};
    rig.api.unauthorized_listings = 1;
    REQUIRE(rig.federation.current().ok());  // the first token is issued before the fault is queued
    rig.api.federation_faults.push_back(oci_error(401, "NotAuthenticated", "certificate revoked"));
    CHECK(error_of(rig.list({kVnicA})) ==
          "oracle: OCI API: federation POST https://auth.ap-tokyo-1.oraclecloud.com/v1/x509: HTTP 401 "
          "NotAuthenticated: \"certificate revoked\" (the federation endpoint refused the instance "
          "certificate)");
    CHECK(rig.federation.exchanges() == 2);
  }

  TEST_CASE("ListPrivateIps: a 404 NotAuthorizedOrNotFound names the IAM policy to add") {
    Rig rig;
    rig.api.listing_faults.push_back(
        oci_error(404, "NotAuthorizedOrNotFound", "Authorization failed or requested resource not found."));
    CHECK(error_of(rig.list({kVnicA})) ==
          "oracle: OCI API: ListPrivateIps for ocid1.vnic.oc1.ap-tokyo-1.vnica: HTTP 404 "
          "NotAuthorizedOrNotFound: "
          "\"Authorization failed or requested resource not found.\" (" +
              kPolicyHint + ")");
    CHECK(rig.federation.exchanges() == 1);  // no renewal for a 404
    CHECK(batches(rig.http) == "1 1");
  }

  TEST_CASE("ListPrivateIps: other failures are the error, without a hint") {
    const std::string where = "oracle: OCI API: ListPrivateIps for ocid1.vnic.oc1.ap-tokyo-1.vnica: ";
    Rig rig;
    std::string expected;
    SUBCASE("another 404") {
      rig.api.listing_faults.push_back(oci_error(404, "NotFound", "no such route"));
      expected = where + "HTTP 404 NotFound: \"no such route\"";
    }
    SUBCASE("500 after the client's retries") {
      rig.api.listing_faults.push_back(oci_error(500, "InternalServerError", "Internal error"));
      expected = where + "HTTP 500 InternalServerError: \"Internal error\"";
    }
    SUBCASE("429 after the client's retries") {
      rig.api.listing_faults.push_back(oci_error(429, "TooManyRequests", "Too many requests for the user"));
      expected = where + "HTTP 429 TooManyRequests: \"Too many requests for the user\"";
    }
    SUBCASE("unreachable") {
      HttpResponse none;
      none.transport_error = "Connection timed out after 2000 milliseconds";
      rig.api.listing_faults.push_back(none);
      expected = where + "no answer (Connection timed out after 2000 milliseconds)";
    }
    SUBCASE("a malformed page") {
      HttpResponse truncated;
      truncated.status = 200;
      truncated.body = R"([{"ipAddress": "10.0.1.2", "isPri)";
      rig.api.listing_faults.push_back(truncated);
      expected = where + "the answer is not JSON (truncated?)";
    }
    SUBCASE("an opc-next-page longer than 4096 bytes") {
      HttpResponse page;
      page.status = 200;
      page.body = "[]";
      page.headers = {{"opc-next-page", std::string(4097, 'p')}};
      rig.api.listing_faults.push_back(page);
      expected = where + "opc-next-page is longer than 4096 bytes";
    }
    CHECK(error_of(rig.list({kVnicA})) == expected);
    CHECK(rig.federation.exchanges() == 1);
    CHECK(rig.api.problems.empty());
  }

  TEST_CASE("ListPrivateIps: a bad item on any page is the error, naming the VNIC and the item") {
    const std::string where = "oracle: OCI API: ListPrivateIps for ocid1.vnic.oc1.ap-tokyo-1.vnica: ";
    Rig rig;
    rig.api.page_size = 2;
    std::string expected;
    SUBCASE("a bad ipAddress on page 2") {
      rig.api.private_ips[kVnicA] = {item(kVnicA, "10.0.1.2", true), item(kVnicA, "10.0.1.11"),
                                     item(kVnicA, "10.0.1.256")};
      expected = where + "item 1: \"ipAddress\": \"10.0.1.256\" is not an IPv4 address";
    }
    SUBCASE("a bad hostnameLabel") {
      rig.api.private_ips[kVnicA] = {item(kVnicA, "10.0.1.2", true, "ok"),
                                     item(kVnicA, "10.0.1.11", false, "a.b")};
      expected = where + "item 2: \"hostnameLabel\": \"a.b\" is not a host name label";
    }
    SUBCASE("an item of another VNIC") {
      rig.api.private_ips[kVnicA] = {item(kVnicA, "10.0.1.2", true), item(kVnicB, "10.0.1.11")};
      expected = where + "item 2: \"vnicId\" \"ocid1.vnic.oc1.ap-tokyo-1.vnicb\" is another VNIC";
    }
    SUBCASE("an address listed twice on one page") {
      rig.api.private_ips[kVnicA] = {item(kVnicA, "10.0.1.11"), item(kVnicA, "10.0.1.11")};
      expected = where + "item 2: 10.0.1.11 is listed twice";
    }
    SUBCASE("an address on two pages") {
      rig.api.private_ips[kVnicA] = {item(kVnicA, "10.0.1.2", true), item(kVnicA, "10.0.1.11"),
                                     item(kVnicA, "10.0.1.11")};
      expected = where + "10.0.1.11 is on two pages";
    }
    CHECK(error_of(rig.list({kVnicA})) == expected);
    CHECK(rig.api.problems.empty());
  }

  TEST_CASE("ListPrivateIps: an endless opc-next-page stops after kMaxPagesPerVnic pages") {
    Rig rig;
    rig.api.endless = true;
    rig.api.private_ips[kVnicA] = {item(kVnicA, "10.0.1.2", true)};
    CHECK(error_of(rig.list({kVnicA})) ==
          "oracle: OCI API: ListPrivateIps for ocid1.vnic.oc1.ap-tokyo-1.vnica: more than 100 pages");
    CHECK(nicsync::oci::kMaxPagesPerVnic == 100);
    CHECK(rig.api.listings.size() == 100);
    CHECK(rig.api.listings.back().page == "100/next+page=");
    CHECK(rig.http.batch_sizes.size() == 101);  // the federation, then one page a round trip
    CHECK(rig.federation.exchanges() == 1);
  }

  TEST_CASE("ListPrivateIps: the failure of one VNIC is the error even when the others succeed") {
    Rig rig;
    rig.api.private_ips[kVnicA] = {item(kVnicA, "10.0.1.2", true)};
    rig.api.private_ips[kVnicB] = {item(kVnicB, "10.0.2.2", true)};
    HttpResponse ok;
    ok.status = 200;
    ok.body = nlohmann::json::array({item(kVnicA, "10.0.1.2", true)}).dump();
    rig.api.listing_faults.push_back(ok);
    rig.api.listing_faults.push_back(oci_error(500, "InternalServerError", "Internal error"));
    CHECK(
        error_of(rig.list({kVnicA, kVnicB})) ==
        "oracle: OCI API: ListPrivateIps for ocid1.vnic.oc1.ap-tokyo-1.vnicb: HTTP 500 InternalServerError: "
        "\"Internal error\"");
  }
  TEST_CASE("ListPrivateIps: 401s for several VNICs in one round trip make one renewal") {
    Rig rig;
    rig.api.private_ips[kVnicA] = {item(kVnicA, "10.0.1.2", true)};
    rig.api.private_ips[kVnicB] = {item(kVnicB, "10.0.2.2", true)};
    rig.api.unauthorized_listings = 2;
    auto listed = rig.list({kVnicA, kVnicB});
    REQUIRE_MESSAGE(listed.ok(), listed.error().message);
    CHECK(batches(rig.http) == "1 2 1 2");
    CHECK(rig.federation.exchanges() == 2);
    CHECK(addresses(listed->at(kVnicA)) == "10.0.1.2");
    CHECK(addresses(listed->at(kVnicB)) == "10.0.2.2");
    CHECK(rig.api.problems.empty());
  }
}  // TEST_SUITE
