#include <doctest/doctest.h>

#include <chrono>
#include <fstream>
#include <functional>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "fake_http.hpp"
#include "fake_oci_api.hpp"
#include "instance_text.hpp"
#include "metadata/oracle.hpp"
#include "nicsync/provider.hpp"
#include "oci_test_material.hpp"

using nicsync::HostnameLabel;
using nicsync::HttpMethod;
using nicsync::HttpRequest;
using nicsync::HttpResponse;
using nicsync::Interface;
using nicsync::Ipv4Address;
using nicsync::OracleApiOptions;
using nicsync::OracleFetch;
using nicsync::Result;
using nicsync::oracle::SecondaryIps;
using nicsync::test::FakeOciApi;
using nicsync::test::join;
using nicsync::test::oci_error;
using nicsync::testing::FakeHttpClient;
using nicsync::testing::header_value;
using nicsync::testing::serve_fixture;

namespace {

using TimePoint = std::chrono::system_clock::time_point;

const std::string kEndpoint = "http://169.254.169.254";
const std::string kSeedVnic =
    "ocid1.vnic.oc1.ap-tokyo-1.abwvc7nfari67zagzrwqcy6yn472lun4t3tfp5f24aefvbd55amv7qxgams4";
const std::string kSeedMac = "02:00:17:01:a3:5c";
const std::string kTokyoAuth = "https://auth.ap-tokyo-1.oraclecloud.com";
const std::string kTokyoIaas = "https://iaas.ap-tokyo-1.oraclecloud.com";
const TimePoint kStart = TimePoint(std::chrono::seconds(1700000000));  // 2023-11-14 22:13:20 UTC

const std::string kPolicyHint =
    "no policy lets this instance list private IPs (PRIVATE_IP_READ): put it in a dynamic group and add "
    "\"Allow dynamic-group <group> to inspect private-ips in compartment <compartment of the VNIC's "
    "subnet>\"";

nlohmann::json load_fixture(const std::string& name) {
  std::ifstream in(std::string(NICSYNC_TEST_FIXTURES) + "/" + name);
  REQUIRE_MESSAGE(in.good(), "cannot open fixture " << name);
  return nlohmann::json::parse(in);
}

Ipv4Address ip(const char* text) { return *Ipv4Address::parse(text); }

/// "10.0.1.2=tutorialvm1 10.0.1.11=secondaryip"
std::string labels(const Interface& nic) {
  std::string out;
  for (const HostnameLabel& label : nic.ipv4.hostname_labels) {
    out += (out.empty() ? "" : " ") + label.address.str() + "=" + label.label;
  }
  return out;
}

std::string batches(const FakeHttpClient& fake) {
  std::string out;
  for (size_t size : fake.batch_sizes) out += (out.empty() ? "" : " ") + std::to_string(size);
  return out;
}

/// "GET /opc/v2/instance/" per request, the scheme and host left out.
std::string paths(const FakeHttpClient& fake) {
  std::string out;
  for (const HttpRequest& request : fake.requests) {
    std::string path = request.url.substr(request.url.find('/', request.url.find("://") + 3));
    out += std::string(nicsync::http_method_name(request.method)) + " " + path + "\n";
  }
  return out;
}

/// "POST https://auth.../v1/x509" per request.
std::string urls(const FakeHttpClient& fake) {
  std::string out;
  for (const HttpRequest& request : fake.requests) {
    out += std::string(nicsync::http_method_name(request.method)) + " " + request.url + "\n";
  }
  return out;
}

/// The interface with this MAC (lower case).
const Interface& nic_with_mac(const nicsync::Instance& instance, const std::string& mac) {
  const Interface* found = nullptr;
  for (const Interface& nic : instance.interfaces) {
    if (nic.mac.str() == mac) found = &nic;
  }
  REQUIRE_MESSAGE(found != nullptr, "no interface with MAC " << mac);
  return *found;
}

/// A fixture's metadata service (with the identity documents) and its OCI API, each on its own
/// fake client, and a clock the test controls. Not copyable: callbacks point into it.
struct OracleRig {
  explicit OracleRig(const std::string& fixture, std::string federation_url = kTokyoAuth,
                     std::string iaas_url = kTokyoIaas)
      : doc(load_fixture(fixture)), api(api_http, std::move(federation_url), std::move(iaas_url)) {
    api.clock = [this] { return now; };
    set_identity("/opc/v2/", std::string(nicsync::test::kLeafKeyPem));
    for (const auto& [vnic, items] : doc.at("oci_api").at("private_ips").items())
      api.private_ips[vnic] = items;
  }
  OracleRig(const OracleRig&) = delete;
  OracleRig& operator=(const OracleRig&) = delete;

  void set_identity(const std::string& prefix, const std::string& key_pem) {
    nlohmann::json& responses = doc["imds"]["responses"];
    responses[prefix + "identity/cert.pem"] = std::string(nicsync::test::kLeafCertificatePem);
    responses[prefix + "identity/key.pem"] = key_pem;
    responses[prefix + "identity/intermediate.pem"] = std::string(nicsync::test::kIntermediateCertificatePem);
  }

  /// Edits the JSON body served at `path`.
  void edit(const std::string& path, const std::function<void(nlohmann::json&)>& change) {
    nlohmann::json& responses = doc["imds"]["responses"];
    nlohmann::json body = nlohmann::json::parse(responses.at(path).get<std::string>());
    change(body);
    responses[path] = body.dump(2);
  }

  OracleApiOptions options() {
    return OracleApiOptions{
        .http = &api_http, .federation_endpoint = std::nullopt, .iaas_endpoint = std::nullopt, .now = [this] {
          return now;
        }};
  }

  Result<OracleFetch> fetch(const SecondaryIps& configured = {}) { return fetch_with(options(), configured); }

  Result<OracleFetch> fetch_with(const OracleApiOptions& options, const SecondaryIps& configured = {}) {
    serve_fixture(imds, doc);
    return nicsync::fetch_oracle_with_api(imds, kEndpoint, configured, options);
  }

  nlohmann::json doc;
  FakeHttpClient imds;
  FakeHttpClient api_http;
  FakeOciApi api;
  TimePoint now = kStart;
};

OracleFetch fetched_ok(Result<OracleFetch> result) {
  REQUIRE_MESSAGE(result.ok(), result.error().message);
  return std::move(result).value();
}

std::string api_error_of(const OracleFetch& fetched) {
  REQUIRE(fetched.api_error.has_value());
  return fetched.api_error->message;
}

/// The addresses `expect.addresses` gives an interface of the fixture, prefix lengths dropped.
std::string expected_addresses(const nlohmann::json& doc, const std::string& link) {
  std::string out;
  for (const nlohmann::json& cidr : doc.at("expect").at("addresses").at(link)) {
    std::string text = cidr.get<std::string>();
    out += (out.empty() ? "" : " ") + text.substr(0, text.find('/'));
  }
  return out;
}

std::string link_mac(const nlohmann::json& doc, const std::string& link) {
  std::string mac;
  for (const nlohmann::json& entry : doc.at("links")) {
    if (entry.at("name") == link) mac = entry.at("mac").get<std::string>();
  }
  REQUIRE_MESSAGE(!mac.empty(), "no link " << link);
  return mac;
}

const char* const kSeedIdentityRoundTrip =
    "GET /opc/v2/instance/\n"
    "GET /opc/v2/vnics/\n"
    "GET /opc/v2/identity/cert.pem\n"
    "GET /opc/v2/identity/key.pem\n"
    "GET /opc/v2/identity/intermediate.pem\n";

}  // namespace

TEST_SUITE("metadata::oracle_api") {
  TEST_CASE("oracle-seed-secondary-ip: the API's secondary IP and hostname labels, in three round trips") {
    OracleRig rig("oracle-seed-secondary-ip.json");
    OracleFetch fetched = fetched_ok(rig.fetch());
    CHECK_FALSE(fetched.api_error.has_value());
    CHECK(fetched.api_federations == 1);
    CHECK(rig.api.problems.empty());

    REQUIRE(fetched.instance.interfaces.size() == 1);
    const Interface& ens3 = nic_with_mac(fetched.instance, kSeedMac);
    CHECK(join(ens3.ipv4.addresses) == "10.0.1.2 10.0.1.11");
    CHECK(join(ens3.ipv4.addresses) == expected_addresses(rig.doc, "ens3"));
    CHECK(ens3.ipv4.hostname_labels ==
          std::vector<HostnameLabel>{{ip("10.0.1.2"), "tutorialvm1"}, {ip("10.0.1.11"), "secondaryip"}});

    // The identity documents come in the first round trip, with instance/ and vnics/.
    CHECK(batches(rig.imds) == "5");
    CHECK(paths(rig.imds) == kSeedIdentityRoundTrip);
    for (const HttpRequest& request : rig.imds.requests)
      CHECK(header_value(request, "Authorization") == "Bearer Oracle");
    // Then the federation, then one ListPrivateIps.
    CHECK(batches(rig.api_http) == "1 1");
    CHECK(urls(rig.api_http) ==
          "POST https://auth.ap-tokyo-1.oraclecloud.com/v1/x509\n"
          "GET https://iaas.ap-tokyo-1.oraclecloud.com/20160918/privateIps?vnicId=" +
              kSeedVnic + "\n");
    // Requests are dated by the options' clock.
    REQUIRE(rig.api.federations.size() == 1);
    CHECK(rig.api.federations[0].date == "Tue, 14 Nov 2023 22:13:20 GMT");
    CHECK(rig.api.listings.at(0).date == "Tue, 14 Nov 2023 22:13:20 GMT");
  }

  TEST_CASE(
      "oracle-vm-secondary-vnic: the second VNIC gets the fixture's expected addresses, both VNICs in one "
      "round trip") {
    OracleRig rig("oracle-vm-secondary-vnic.json", "https://auth.us-phoenix-1.oraclecloud.com",
                  "https://iaas.us-phoenix-1.oraclecloud.com");
    OracleFetch fetched = fetched_ok(rig.fetch());
    CHECK_FALSE(fetched.api_error.has_value());
    CHECK(rig.api.problems.empty());
    REQUIRE(fetched.instance.interfaces.size() == 2);
    const Interface& primary = nic_with_mac(fetched.instance, link_mac(rig.doc, "enp0s6"));
    const Interface& second = nic_with_mac(fetched.instance, link_mac(rig.doc, "enp1s0"));
    CHECK(join(primary.ipv4.addresses) == expected_addresses(rig.doc, "enp0s6"));
    CHECK(join(second.ipv4.addresses) == expected_addresses(rig.doc, "enp1s0"));
    CHECK(join(second.ipv4.addresses) == "172.16.2.10 172.16.2.11 172.16.2.12");
    CHECK(labels(primary) == "172.16.1.10=vnic-test-vm");
    CHECK(labels(second) == "172.16.2.10=vm1-vnic2");  // the secondaries' labels are null
    CHECK(batches(rig.imds) == "5");
    CHECK(batches(rig.api_http) == "1 2");
    CHECK(urls(rig.api_http) ==
          "POST https://auth.us-phoenix-1.oraclecloud.com/v1/x509\n"
          "GET https://iaas.us-phoenix-1.oraclecloud.com/20160918/privateIps?vnicId="
          "ocid1.vnic.oc1.phx.abyhqljtch72z5pd76cc2636qeqh7zexampleprimaryvnic0001\n"
          "GET https://iaas.us-phoenix-1.oraclecloud.com/20160918/privateIps?vnicId="
          "ocid1.vnic.oc1.phx.abyhqljt4iew3gwmvrwrhhf3bp5drjexamplesecondvnic0002\n");
    // Everything else is what fetch_oracle() makes of the metadata alone.
    FakeHttpClient plain;
    serve_fixture(plain, rig.doc);
    SecondaryIps configured;
    configured["ocid1.vnic.oc1.phx.abyhqljt4iew3gwmvrwrhhf3bp5drjexamplesecondvnic0002"] = {
        ip("172.16.2.11"), ip("172.16.2.12")};
    auto without_api = nicsync::fetch_oracle(plain, kEndpoint, configured);
    REQUIRE(without_api.ok());
    CHECK(nicsync::test::describe(fetched.instance) == nicsync::test::describe(*without_api));
  }

  TEST_CASE("the API's secondaries come in address order, then the configured ones not already there") {
    OracleRig rig("oracle-seed-secondary-ip.json");
    rig.api.private_ips[kSeedVnic] = nlohmann::json::array({
        {{"ipAddress", "10.0.1.30"}, {"isPrimary", false}, {"hostnameLabel", "thirty"}},
        {{"ipAddress", "10.0.1.2"}, {"isPrimary", true}, {"hostnameLabel", "tutorialvm1"}},
        {{"ipAddress", "10.0.1.11"}, {"isPrimary", false}, {"hostnameLabel", nullptr}},
        {{"ipAddress", "10.0.1.20"}, {"isPrimary", false}, {"hostnameLabel", "twenty"}},
    });
    SecondaryIps configured;
    configured["02:00:17:01:A3:5C"] = {ip("10.0.1.20"), ip("10.0.1.5"), ip("10.0.1.11"), ip("10.0.1.4")};
    OracleFetch fetched = fetched_ok(rig.fetch(configured));
    CHECK_FALSE(fetched.api_error.has_value());
    const Interface& ens3 = fetched.instance.interfaces.at(0);
    CHECK(join(ens3.ipv4.addresses) == "10.0.1.2 10.0.1.11 10.0.1.20 10.0.1.30 10.0.1.5 10.0.1.4");
    CHECK(labels(ens3) == "10.0.1.2=tutorialvm1 10.0.1.20=twenty 10.0.1.30=thirty");
  }

  TEST_CASE("a label for a primary the metadata service disagrees with is dropped") {
    OracleRig rig("oracle-seed-secondary-ip.json");
    rig.api.private_ips[kSeedVnic] = nlohmann::json::array({
        {{"ipAddress", "10.0.1.3"}, {"isPrimary", true}, {"hostnameLabel", "stale"}},
        {{"ipAddress", "10.0.1.11"}, {"isPrimary", false}, {"hostnameLabel", "secondaryip"}},
    });
    OracleFetch fetched = fetched_ok(rig.fetch());
    const Interface& ens3 = fetched.instance.interfaces.at(0);
    CHECK(join(ens3.ipv4.addresses) == "10.0.1.2 10.0.1.11");
    CHECK(labels(ens3) == "10.0.1.11=secondaryip");
  }

  TEST_CASE("an API failure is api_error; the instance keeps only the configured secondary IPs") {
    OracleRig rig("oracle-seed-secondary-ip.json");
    const std::string listing = "oracle: OCI API: ListPrivateIps for " + kSeedVnic + ": ";
    std::string expected;
    SUBCASE("404 NotAuthorizedOrNotFound: no IAM policy") {
      rig.api.listing_faults.push_back(
          oci_error(404, "NotAuthorizedOrNotFound", "Authorization failed or requested resource not found."));
      expected =
          listing +
          "HTTP 404 NotAuthorizedOrNotFound: \"Authorization failed or requested resource not found.\" (" +
          kPolicyHint + ")";
    }
    SUBCASE("the federation refuses the certificate") {
      rig.api.federation_faults.push_back(oci_error(401, "NotAuthenticated", "Failed to verify certificate"));
      expected =
          "oracle: OCI API: federation POST https://auth.ap-tokyo-1.oraclecloud.com/v1/x509: HTTP 401 "
          "NotAuthenticated: \"Failed to verify certificate\" (the federation endpoint refused the instance "
          "certificate)";
    }
    SUBCASE("the API is unreachable") {
      rig.api_http.on(HttpMethod::post, kTokyoAuth + "/v1/x509", [](const HttpRequest&) {
        HttpResponse none;
        none.transport_error = "Could not resolve host: auth.ap-tokyo-1.oraclecloud.com";
        return none;
      });
      expected =
          "oracle: OCI API: federation POST https://auth.ap-tokyo-1.oraclecloud.com/v1/x509: no answer "
          "(Could not resolve host: auth.ap-tokyo-1.oraclecloud.com)";
    }
    SUBCASE("a 500 after the client's retries") {
      rig.api.listing_faults.push_back(oci_error(500, "InternalServerError", "Internal error"));
      expected = listing + "HTTP 500 InternalServerError: \"Internal error\"";
    }
    SUBCASE("a malformed page") {
      HttpResponse truncated;
      truncated.status = 200;
      truncated.body = "[{\"ipAddress\": \"10.0";
      rig.api.listing_faults.push_back(truncated);
      expected = listing + "the answer is not JSON (truncated?)";
    }
    SUBCASE("identity/key.pem does not match identity/cert.pem") {
      rig.set_identity("/opc/v2/", std::string(nicsync::test::kOciDocKeyPem));
      expected =
          "oracle: OCI API: identity/key.pem is not the key of identity/cert.pem (fetched while it was being "
          "renewed?)";
    }
    SecondaryIps configured;
    configured[kSeedVnic] = {ip("10.0.1.40")};
    OracleFetch fetched = fetched_ok(rig.fetch(configured));
    CHECK(api_error_of(fetched) == expected);
    CHECK(fetched.api_federations == 0);
    const Interface& ens3 = fetched.instance.interfaces.at(0);
    CHECK(join(ens3.ipv4.addresses) == "10.0.1.2 10.0.1.40");
    CHECK(ens3.ipv4.hostname_labels.empty());
    CHECK(batches(rig.imds) == "5");
    CHECK(rig.api.problems.empty());
  }

  TEST_CASE(
      "an API address outside its VNIC's subnet is api_error, and none of the API's addresses is used") {
    OracleRig rig("oracle-seed-secondary-ip.json");
    rig.api.private_ips[kSeedVnic] = nlohmann::json::array({
        {{"ipAddress", "10.0.1.2"}, {"isPrimary", true}, {"hostnameLabel", "tutorialvm1"}},
        {{"ipAddress", "10.0.1.11"}, {"isPrimary", false}, {"hostnameLabel", "secondaryip"}},
        {{"ipAddress", "10.0.2.11"}, {"isPrimary", false}},
    });
    OracleFetch fetched = fetched_ok(rig.fetch());
    CHECK(api_error_of(fetched) == "oracle: OCI API: ListPrivateIps for " + kSeedVnic +
                                       ": 10.0.2.11 is outside the VNIC's subnet 10.0.1.0/24");
    const Interface& ens3 = fetched.instance.interfaces.at(0);
    CHECK(join(ens3.ipv4.addresses) == "10.0.1.2");
    CHECK(ens3.ipv4.hostname_labels.empty());
  }

  TEST_CASE("configured endpoints override the region's") {
    SUBCASE("both") {
      OracleRig rig("oracle-seed-secondary-ip.json", "https://auth.test:8443", "http://127.0.0.1:9090");
      OracleApiOptions options = rig.options();
      options.federation_endpoint = "https://auth.test:8443";
      options.iaas_endpoint = "http://127.0.0.1:9090";
      OracleFetch fetched = fetched_ok(rig.fetch_with(options));
      CHECK_FALSE(fetched.api_error.has_value());
      CHECK(urls(rig.api_http) ==
            "POST https://auth.test:8443/v1/x509\n"
            "GET http://127.0.0.1:9090/20160918/privateIps?vnicId=" +
                kSeedVnic + "\n");
      CHECK(rig.api.federations.at(0).host == "auth.test:8443");
      CHECK(rig.api.listings.at(0).host == "127.0.0.1:9090");
      CHECK(join(fetched.instance.interfaces.at(0).ipv4.addresses) == "10.0.1.2 10.0.1.11");
      CHECK(rig.api.problems.empty());
    }
    SUBCASE("only the federation endpoint: ListPrivateIps at the region's") {
      OracleRig rig("oracle-seed-secondary-ip.json", "https://auth.test:8443", kTokyoIaas);
      OracleApiOptions options = rig.options();
      options.federation_endpoint = "https://auth.test:8443";
      OracleFetch fetched = fetched_ok(rig.fetch_with(options));
      CHECK_FALSE(fetched.api_error.has_value());
      CHECK(urls(rig.api_http) ==
            "POST https://auth.test:8443/v1/x509\n"
            "GET https://iaas.ap-tokyo-1.oraclecloud.com/20160918/privateIps?vnicId=" +
                kSeedVnic + "\n");
    }
  }

  TEST_CASE("the region from regionInfo when canonicalRegionName is absent, with its realm domain") {
    OracleRig rig("oracle-seed-secondary-ip.json", "https://auth.uk-gov-london-1.oraclegovcloud.uk",
                  "https://iaas.uk-gov-london-1.oraclegovcloud.uk");
    rig.edit("/opc/v2/instance/", [](nlohmann::json& body) {
      body.erase("canonicalRegionName");
      body["regionInfo"] = {{"realmKey", "oc4"},
                            {"realmDomainComponent", "oraclegovcloud.uk"},
                            {"regionKey", "LTN"},
                            {"regionIdentifier", "uk-gov-london-1"}};
    });
    OracleFetch fetched = fetched_ok(rig.fetch());
    CHECK_FALSE(fetched.api_error.has_value());
    CHECK(rig.api_http.requests.at(0).url == "https://auth.uk-gov-london-1.oraclegovcloud.uk/v1/x509");
    CHECK(join(fetched.instance.interfaces.at(0).ipv4.addresses) == "10.0.1.2 10.0.1.11");
  }

  TEST_CASE("no region in instance/ and no configured endpoints: api_error, and no API request") {
    OracleRig rig("oracle-seed-secondary-ip.json", "https://auth.test", "https://iaas.test");
    rig.edit("/opc/v2/instance/", [](nlohmann::json& body) { body.erase("canonicalRegionName"); });
    const std::string no_region =
        "oracle: OCI API: instance/ names no region (\"canonicalRegionName\"); set "
        "oracle.api.federation_endpoint "
        "and oracle.api.iaas_endpoint";
    SUBCASE("none configured") {
      OracleFetch fetched = fetched_ok(rig.fetch());
      CHECK(api_error_of(fetched) == no_region);
      CHECK(rig.api_http.requests.empty());
      CHECK(join(fetched.instance.interfaces.at(0).ipv4.addresses) == "10.0.1.2");
    }
    SUBCASE("only one configured") {
      OracleApiOptions options = rig.options();
      options.iaas_endpoint = "https://iaas.test";
      OracleFetch fetched = fetched_ok(rig.fetch_with(options));
      CHECK(api_error_of(fetched) == no_region);
      CHECK(rig.api_http.requests.empty());
    }
    SUBCASE("both configured: no region needed") {
      OracleApiOptions options = rig.options();
      options.federation_endpoint = "https://auth.test";
      options.iaas_endpoint = "https://iaas.test";
      OracleFetch fetched = fetched_ok(rig.fetch_with(options));
      CHECK_FALSE(fetched.api_error.has_value());
      CHECK(join(fetched.instance.interfaces.at(0).ipv4.addresses) == "10.0.1.2 10.0.1.11");
    }
  }

  TEST_CASE("a region that cannot be part of a host name is api_error") {
    OracleRig rig("oracle-seed-secondary-ip.json");
    rig.edit("/opc/v2/instance/",
             [](nlohmann::json& body) { body["canonicalRegionName"] = "ap-tokyo-1.evil.example/"; });
    OracleFetch fetched = fetched_ok(rig.fetch());
    CHECK(api_error_of(fetched) ==
          "oracle: OCI API: region \"ap-tokyo-1.evil.example/\" is not a region identifier (like "
          "\"us-phoenix-1\") (instance/ \"canonicalRegionName\")");
    CHECK(rig.api_http.requests.empty());
  }

  TEST_CASE("without an API client: no identity documents, no API, no api_error") {
    OracleRig rig("oracle-seed-secondary-ip.json");
    OracleApiOptions options;  // http null
    OracleFetch fetched = fetched_ok(rig.fetch_with(options));
    CHECK_FALSE(fetched.api_error.has_value());
    CHECK(fetched.api_federations == 0);
    CHECK(batches(rig.imds) == "2");
    CHECK(paths(rig.imds) == "GET /opc/v2/instance/\nGET /opc/v2/vnics/\n");
    CHECK(rig.api_http.requests.empty());
    CHECK(join(fetched.instance.interfaces.at(0).ipv4.addresses) == "10.0.1.2");
    CHECK(fetched.instance.interfaces.at(0).ipv4.hostname_labels.empty());
  }

  TEST_CASE("a 401 from ListPrivateIps: the identity documents are fetched again for the second federation") {
    OracleRig rig("oracle-seed-secondary-ip.json");
    rig.api.unauthorized_listings = 1;
    OracleFetch fetched = fetched_ok(rig.fetch());
    CHECK_FALSE(fetched.api_error.has_value());
    CHECK(fetched.api_federations == 2);
    CHECK(rig.api.problems.empty());
    CHECK(batches(rig.imds) == "5 3");
    CHECK(paths(rig.imds) == std::string(kSeedIdentityRoundTrip) +
                                 "GET /opc/v2/identity/cert.pem\n"
                                 "GET /opc/v2/identity/key.pem\n"
                                 "GET /opc/v2/identity/intermediate.pem\n");
    const std::string listing = "GET /20160918/privateIps?vnicId=" + kSeedVnic + "\n";
    CHECK(paths(rig.api_http) == "POST /v1/x509\n" + listing + "POST /v1/x509\n" + listing);
    REQUIRE(rig.api.federations.size() == 2);
    CHECK(rig.api.federations[0].session_key_der != rig.api.federations[1].session_key_der);
    CHECK(join(fetched.instance.interfaces.at(0).ipv4.addresses) == "10.0.1.2 10.0.1.11");
  }

  TEST_CASE("identity documents the metadata service does not serve: api_error, not asked again") {
    OracleRig rig("oracle-seed-secondary-ip.json");
    rig.doc["imds"]["responses"].erase("/opc/v2/identity/key.pem");
    OracleFetch fetched = fetched_ok(rig.fetch());
    CHECK(api_error_of(fetched) == "oracle: OCI API: instance identity: GET /opc/v2/identity/key.pem: HTTP 404");
    CHECK(batches(rig.imds) == "5");
    CHECK(rig.api_http.requests.empty());
    CHECK(join(fetched.instance.interfaces.at(0).ipv4.addresses) == "10.0.1.2");
  }

  TEST_CASE("metadata service v1 only: the identity documents come from /opc/v1/ too") {
    OracleRig rig("oracle-seed-secondary-ip.json");
    nlohmann::json& responses = rig.doc["imds"]["responses"];
    nlohmann::json v1 = nlohmann::json::object();
    for (const auto& [path, body] : responses.items())
      v1["/opc/v1/" + path.substr(std::string("/opc/v2/").size())] = body;
    responses = v1;
    OracleFetch fetched = fetched_ok(rig.fetch());
    CHECK_FALSE(fetched.api_error.has_value());
    CHECK(batches(rig.imds) == "5 2 3");
    CHECK(paths(rig.imds) == std::string(kSeedIdentityRoundTrip) +
                                 "GET /opc/v1/instance/\n"
                                 "GET /opc/v1/vnics/\n"
                                 "GET /opc/v1/identity/cert.pem\n"
                                 "GET /opc/v1/identity/key.pem\n"
                                 "GET /opc/v1/identity/intermediate.pem\n");
    CHECK(join(fetched.instance.interfaces.at(0).ipv4.addresses) == "10.0.1.2 10.0.1.11");
    CHECK(rig.api.problems.empty());
  }

  TEST_CASE("a VNIC without IPv4 is not asked about") {
    OracleRig rig("oracle-seed-secondary-ip.json");
    rig.edit("/opc/v2/vnics/", [](nlohmann::json& body) {
      body.push_back({{"vnicId", "ocid1.vnic.oc1.ap-tokyo-1.v6only"},
                      {"macAddr", "02:00:17:18:F6:FF"},
                      {"vlanTag", 2659},
                      {"subnetCidrBlock", "<null>"},
                      {"ipv6Addresses", {"2603:c020:400d:5d7e:aacc:8e5f:3b1b:3a4a"}},
                      {"ipv6SubnetCidrBlock", "2603:c020:400d:5d7e::/64"},
                      {"ipv6VirtualRouterIp", "fe80::200:17ff:fe40:8972"}});
    });
    OracleFetch fetched = fetched_ok(rig.fetch());
    CHECK_FALSE(fetched.api_error.has_value());
    CHECK(batches(rig.api_http) == "1 1");
    REQUIRE(rig.api.listings.size() == 1);
    CHECK(rig.api.listings[0].vnic == kSeedVnic);
    REQUIRE(fetched.instance.interfaces.size() == 2);
    CHECK(join(fetched.instance.interfaces.at(1).ipv4.addresses).empty());
  }
  TEST_CASE("an identity document failing with a 500 in the first round trip is api_error, not a failed fetch") {
    OracleRig rig("oracle-seed-secondary-ip.json");
    serve_fixture(rig.imds, rig.doc);
    HttpResponse server_error;
    server_error.status = 500;
    rig.imds.set(HttpMethod::get, kEndpoint + "/opc/v2/identity/cert.pem", server_error);
    auto result = nicsync::fetch_oracle_with_api(rig.imds, kEndpoint, {}, rig.options());
    REQUIRE_MESSAGE(result.ok(), result.error().message);
    REQUIRE(result->api_error.has_value());
    CHECK(result->api_error->message == "oracle: OCI API: instance identity: GET /opc/v2/identity/cert.pem: HTTP 500");
    CHECK(join(result->instance.interfaces.at(0).ipv4.addresses) == "10.0.1.2");
  }
}  // TEST_SUITE
