#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "fake_http.hpp"
#include "instance_text.hpp"
#include "nicsync/metadata_sources.hpp"
#include "nicsync/provider.hpp"

using nicsync::Instance;
using nicsync::Interface;
using nicsync::Ipv4Address;
using nicsync::Result;
using nicsync::Vendor;
using nicsync::test::describe;
using nicsync::testing::FakeHttpClient;
using nicsync::testing::serve_fixture;

namespace {

const std::string kSource = "/var/lib/nicsync/metadata.json";

/// The non-primary private IPs of the fixture's OCI API, as configuration would list them.
std::map<std::string, std::vector<Ipv4Address>> oracle_secondary_ips(const nlohmann::json& fixture) {
  std::map<std::string, std::vector<Ipv4Address>> out;
  if (!fixture.contains("oci_api")) return out;
  for (const auto& [vnic, ips] : fixture.at("oci_api").at("private_ips").items()) {
    for (const nlohmann::json& ip : ips) {
      if (!ip.at("isPrimary").get<bool>())
        out[vnic].push_back(*Ipv4Address::parse(ip.at("ipAddress").get<std::string>()));
    }
  }
  return out;
}

/// What the provider makes of a fixture's metadata service.
Instance fetch_fixture(const nlohmann::json& fixture) {
  FakeHttpClient fake;
  serve_fixture(fake, fixture);
  std::string endpoint = fixture.at("imds").at("endpoint").get<std::string>();
  auto vendor = nicsync::parse_vendor(fixture.at("vendor").get<std::string>());
  REQUIRE(vendor.ok());
  Result<Instance> instance = *vendor == Vendor::aws ? nicsync::fetch_aws(fake, endpoint)
                              : *vendor == Vendor::oracle
                                  ? nicsync::fetch_oracle(fake, endpoint, oracle_secondary_ips(fixture))
                                  : nicsync::fetch_alibaba(fake, endpoint);
  REQUIRE_MESSAGE(instance.ok(), instance.error().message);
  return instance.value();
}

/// Every field describe() leaves out.
std::string nic_indexes(const Instance& instance) {
  std::string out;
  for (const Interface& nic : instance.interfaces)
    out += (nic.nic_index ? std::to_string(*nic.nic_index) : "-") + " ";
  return out;
}

template <typename T>
std::string error_of(const Result<T>& result) {
  REQUIRE_FALSE(result.ok());
  return result.error().message;
}

Instance parsed(const std::string& text, Vendor vendor) {
  auto instance = nicsync::parse_last_good(text, vendor, kSource);
  REQUIRE_MESSAGE(instance.ok(), instance.error().message);
  return instance.value();
}

/// A bare-metal Oracle instance with every field set somewhere.
Instance sample() {
  Instance instance;
  instance.vendor = Vendor::oracle;
  instance.instance_id = *nicsync::ResourceId::parse("ocid1.instance.oc1.phx.bm");
  Interface primary;
  primary.mac = *nicsync::MacAddress::parse("90:e2:ba:d4:f1:68");
  primary.os_name = *nicsync::InterfaceName::parse("ens2f0");
  primary.role = nicsync::NicRole::primary;
  primary.index = 0;
  primary.id = *nicsync::ResourceId::parse("ocid1.vnic.oc1.phx.bm0");
  primary.ipv4.addresses = {*Ipv4Address::parse("10.0.0.8"), *Ipv4Address::parse("10.0.0.9")};
  primary.ipv4.subnet = *nicsync::Ipv4Cidr::parse("10.0.0.0/24");
  primary.ipv4.gateway = *Ipv4Address::parse("10.0.0.1");
  primary.ipv4.delegated_prefixes = {*nicsync::Ipv4Cidr::parse("10.0.0.32/28")};
  primary.ipv4.hostname_labels = {{*Ipv4Address::parse("10.0.0.9"), "bm-secondary"}};
  primary.ipv6.addresses = {*nicsync::Ipv6Address::parse("2603:c020:400d:5dbb::8")};
  primary.ipv6.subnets = {*nicsync::Ipv6Cidr::parse("2603:c020:400d:5dbb::/64")};
  primary.ipv6.gateway = *nicsync::Ipv6Address::parse("fe80::200:17ff:fe40:8972");
  primary.ipv6.delegated_prefixes = {*nicsync::Ipv6Cidr::parse("2603:c020:400d:5dbb:1::/80")};
  primary.nic_index = 0;
  Interface vlan;
  vlan.mac = *nicsync::MacAddress::parse("02:00:17:05:cf:51");
  vlan.index = 1;
  vlan.card = 2;
  vlan.ipv4.addresses = {*Ipv4Address::parse("10.0.4.5")};
  vlan.ipv4.subnet = *nicsync::Ipv4Cidr::parse("10.0.4.0/24");
  vlan.ipv4.gateway = *Ipv4Address::parse("10.0.4.1");
  vlan.vlan = nicsync::VlanInfo{.id = 1, .parent_nic_index = 1};
  instance.interfaces = {primary, vlan};
  return instance;
}

const char* const kSampleView = R"({
  "format": "nicsync-last-good/1",
  "vendor": "oracle",
  "instance_id": "ocid1.instance.oc1.phx.bm",
  "interfaces": [
    {
      "mac": "90:e2:ba:d4:f1:68",
      "role": "primary",
      "index": 0,
      "card": 0,
      "id": "ocid1.vnic.oc1.phx.bm0",
      "ipv4": {
        "addresses": [
          "10.0.0.8",
          "10.0.0.9"
        ],
        "subnet": "10.0.0.0/24",
        "gateway": "10.0.0.1",
        "delegated_prefixes": [
          "10.0.0.32/28"
        ],
        "hostname_labels": {
          "10.0.0.9": "bm-secondary"
        }
      },
      "ipv6": {
        "addresses": [
          "2603:c020:400d:5dbb::8"
        ],
        "subnets": [
          "2603:c020:400d:5dbb::/64"
        ],
        "gateway": "fe80::200:17ff:fe40:8972",
        "delegated_prefixes": [
          "2603:c020:400d:5dbb:1::/80"
        ]
      },
      "vlan": null,
      "nic_index": 0
    },
    {
      "mac": "02:00:17:05:cf:51",
      "role": "secondary",
      "index": 1,
      "card": 2,
      "id": null,
      "ipv4": {
        "addresses": [
          "10.0.4.5"
        ],
        "subnet": "10.0.4.0/24",
        "gateway": "10.0.4.1",
        "delegated_prefixes": [],
        "hostname_labels": {}
      },
      "ipv6": {
        "addresses": [],
        "subnets": [],
        "gateway": null,
        "delegated_prefixes": []
      },
      "vlan": {
        "id": 1,
        "parent_nic_index": 1
      },
      "nic_index": null
    }
  ]
}
)";

/// The sample view with `change` applied to its JSON.
template <typename Change>
std::string changed(Change change) {
  nlohmann::json doc = nlohmann::json::parse(kSampleView);
  change(doc);
  return doc.dump(2);
}

}  // namespace

TEST_SUITE("metadata::last_good") {
  TEST_CASE("every fixture's Instance survives the round trip through the last good view") {
    int fixtures = 0;
    for (const auto& entry : std::filesystem::directory_iterator(NICSYNC_TEST_FIXTURES)) {
      if (entry.path().extension() != ".json") continue;
      CAPTURE(entry.path().filename().string());
      std::ifstream in(entry.path());
      const nlohmann::json fixture = nlohmann::json::parse(in);
      Instance fetched = fetch_fixture(fixture);
      std::string view = nicsync::render_last_good(fetched);
      Instance back = parsed(view, fetched.vendor);
      CHECK(describe(back) == describe(fetched));
      CHECK(nic_indexes(back) == nic_indexes(fetched));
      CHECK(nicsync::render_last_good(back) == view);
      // laid out exactly as nlohmann's dump(2) lays out the same document
      CHECK(view == nlohmann::ordered_json::parse(view).dump(2) + "\n");
      ++fixtures;
    }
    CHECK(fixtures >= 8);
  }

  TEST_CASE("the view holds every field but the OS name, in a fixed order") {
    Instance instance = sample();
    CHECK(nicsync::render_last_good(instance) == kSampleView);
    Instance back = parsed(kSampleView, Vendor::oracle);
    instance.interfaces[0].os_name.reset();  // resolved again on every run, never saved
    CHECK(describe(back) == describe(instance));
    CHECK(nic_indexes(back) == "0 - ");
  }

  TEST_CASE("the view's text is JSON as nlohmann's dump(2) writes it: escapes, empty lists, a label's address listed twice") {
    Instance instance = sample();
    auto& labels = instance.interfaces[0].ipv4.hostname_labels;
    labels.push_back({*Ipv4Address::parse("192.0.2.200"), "quote\" back\\ tab\t nl\n cr\r bs\b ff\f ctl\x01\x1f del\x7f"});
    labels.push_back({*Ipv4Address::parse("192.0.2.201"), "first"});
    labels.push_back({*Ipv4Address::parse("192.0.2.201"), "second"});
    const std::string view = nicsync::render_last_good(instance);
    nlohmann::ordered_json expected = nlohmann::ordered_json::parse(kSampleView);
    auto& json_labels = expected["interfaces"][0]["ipv4"]["hostname_labels"];
    json_labels["192.0.2.200"] = labels[labels.size() - 3].label;
    json_labels["192.0.2.201"] = "first";
    json_labels["192.0.2.201"] = "second";
    CHECK(view == expected.dump(2) + "\n");
    CHECK(view.find(R"("quote\" back\\ tab\t nl\n cr\r bs\b ff\f ctl\u0001\u001f del)") != std::string::npos);
  }

  TEST_CASE("missing optional keys read as absent, unknown keys are ignored") {
    const char* text = R"({"format": "nicsync-last-good/1", "vendor": "aws", "written_by": "a later nicsync",
    "interfaces": [{"mac": "0A:07:84:3D:6E:38", "role": "primary", "colour": "blue"}]})";
    Instance instance = parsed(text, Vendor::aws);
    CHECK(
        describe(instance) ==
        "aws -\n"
        "0/- 0a:07:84:3d:6e:38 primary id=- os=- v4= subnet=- gw=- v4prefix= v6= v6subnets= v6gw=- v6prefix= "
        "vlan=-\n");
  }

  TEST_CASE("a view saved on another cloud is an error") {
    CHECK(error_of(nicsync::parse_last_good(kSampleView, Vendor::aws, kSource)) ==
          kSource + ": was saved on oracle, not aws (was the image moved to another cloud?)");
  }

  TEST_CASE("every value is validated; errors name the key") {
    using Json = nlohmann::json;
    auto error = [](const std::string& text) {
      return error_of(nicsync::parse_last_good(text, Vendor::oracle, kSource));
    };
    CHECK(error("not json") == kSource +
                                   ": not a nicsync last good view (expected a JSON object with \"format\": "
                                   "\"nicsync-last-good/1\")");
    CHECK(error(changed([](Json& d) { d["format"] = "nicsync-last-good/2"; })) ==
          kSource +
              ": not a nicsync last good view (expected a JSON object with \"format\": "
              "\"nicsync-last-good/1\")");
    CHECK(error(changed([](Json& d) { d.erase("vendor"); })) == kSource + ": \"vendor\" is missing");
    CHECK(error(changed([](Json& d) { d["vendor"] = "gcp"; })) ==
          kSource + ": vendor: \"gcp\" is not a vendor (aws, oracle or alibaba)");
    CHECK(error(changed([](Json& d) { d["instance_id"] = "i d"; })) ==
          kSource + ": instance_id: " + nicsync::ResourceId::parse("i d").error().message);
    CHECK(error(changed([](Json& d) { d["interfaces"] = Json::array(); })) ==
          kSource + ": \"interfaces\" is not a non-empty list");
    CHECK(error(changed([](Json& d) { d["interfaces"][1].erase("mac"); })) ==
          kSource + ": interfaces[1]: \"mac\" is missing");
    CHECK(error(changed([](Json& d) { d["interfaces"][1]["mac"] = "02:00:17:05:cf"; })) ==
          kSource + ": interfaces[1].mac: " + nicsync::MacAddress::parse("02:00:17:05:cf").error().message);
    CHECK(error(changed([](Json& d) { d["interfaces"][1]["mac"] = "90:E2:BA:D4:F1:68"; })) ==
          kSource + ": interfaces[1].mac: 90:e2:ba:d4:f1:68 is listed twice");
    CHECK(error(changed([](Json& d) { d["interfaces"][1]["role"] = "primary"; })) ==
          kSource + ": has 2 primary interfaces, not one");
    CHECK(error(changed([](Json& d) { d["interfaces"][0]["role"] = "secondary"; })) ==
          kSource + ": has 0 primary interfaces, not one");
    CHECK(error(changed([](Json& d) { d["interfaces"][0]["role"] = "main"; })) ==
          kSource + ": interfaces[0].role: \"main\" is not \"primary\" or \"secondary\"");
    CHECK(error(changed([](Json& d) { d["interfaces"][1]["index"] = 256; })) ==
          kSource + ": interfaces[1].index: 256 is not a number from 0 to 255");
    CHECK(error(changed([](Json& d) { d["interfaces"][1]["card"] = "2"; })) ==
          kSource + ": interfaces[1].card: \"2\" is not a number from 0 to 255");
    CHECK(error(changed([](Json& d) { d["interfaces"][0]["ipv4"]["addresses"][1] = "10.0.0.580"; })) ==
          kSource + ": interfaces[0].ipv4.addresses[1]: " + Ipv4Address::parse("10.0.0.580").error().message);
    CHECK(error(changed([](Json& d) { d["interfaces"][0]["ipv4"]["addresses"][1] = "10.0.0.8"; })) ==
          kSource + ": interfaces[0].ipv4.addresses[1]: \"10.0.0.8\" is listed twice");
    CHECK(error(changed([](Json& d) { d["interfaces"][0]["ipv4"]["addresses"][1] = "10.0.1.9"; })) ==
          kSource + ": interfaces[0].ipv4.addresses[1]: 10.0.1.9 is outside the subnet 10.0.0.0/24");
    CHECK(error(changed([](Json& d) { d["interfaces"][0]["ipv4"]["gateway"] = "10.0.1.1"; })) ==
          kSource + ": interfaces[0].ipv4.gateway: 10.0.1.1 is outside the subnet 10.0.0.0/24");
    CHECK(error(changed([](Json& d) { d["interfaces"][0]["ipv4"]["subnet"] = nullptr; })) ==
          kSource + ": interfaces[0].ipv4: has addresses but no subnet and gateway");
    CHECK(error(changed([](Json& d) { d["interfaces"][0]["ipv4"]["subnet"] = "10.0.0.1/24"; })) ==
          kSource +
              ": interfaces[0].ipv4.subnet: " + nicsync::Ipv4Cidr::parse("10.0.0.1/24").error().message);
    CHECK(error(changed([](Json& d) {
            d["interfaces"][0]["ipv4"]["delegated_prefixes"] = "10.0.0.32/28";
          })) == kSource + ": interfaces[0].ipv4.delegated_prefixes: \"10.0.0.32/28\" is not a list");
    CHECK(error(changed([](Json& d) { d["interfaces"][0]["ipv4"]["hostname_labels"] = {{"10.0.0.7", "x"}}; })) ==
          kSource + ": interfaces[0].ipv4.hostname_labels.10.0.0.7: names an address the interface does not have");
    CHECK(error(changed([](Json& d) { d["interfaces"][0]["ipv4"]["hostname_labels"]["10.0.0.9"] = "a b"; })) ==
          kSource + ": interfaces[0].ipv4.hostname_labels.10.0.0.9: \"a b\" is not a host name label");
    CHECK(error(changed([](Json& d) { d["interfaces"][0]["ipv4"]["hostname_labels"] = {{"10.0.0.999", "x"}}; })) ==
          kSource + ": interfaces[0].ipv4.hostname_labels: key \"10.0.0.999\" is not an IPv4 address");
    // A key that is not an address is shown quoted, never raw: it could hold a line break.
    CHECK(error(changed([](Json& d) { d["interfaces"][0]["ipv4"]["hostname_labels"] = {{"x\ny", "x"}}; })) ==
          kSource + ": interfaces[0].ipv4.hostname_labels: key \"x\\ny\" is not an IPv4 address");
    CHECK(error(changed([](Json& d) { d["interfaces"][0]["ipv6"]["addresses"][0] = 6; })) ==
          kSource + ": interfaces[0].ipv6.addresses[0]: 6 is not a string");
    CHECK(error(changed([](Json& d) { d["interfaces"][0]["ipv6"]["gateway"] = "fe80::zz"; })) ==
          kSource +
              ": interfaces[0].ipv6.gateway: " + nicsync::Ipv6Address::parse("fe80::zz").error().message);
    CHECK(error(changed([](Json& d) { d["interfaces"][0]["ipv6"] = "none"; })) ==
          kSource + ": interfaces[0].ipv6: \"none\" is not an object");
    CHECK(error(changed([](Json& d) { d["interfaces"][1]["vlan"]["id"] = 0; })) ==
          kSource + ": interfaces[1].vlan.id: 0 is not a number from 1 to 4094");
    CHECK(error(changed([](Json& d) { d["interfaces"][1]["vlan"].erase("parent_nic_index"); })) ==
          kSource + ": interfaces[1].vlan: needs \"id\" and \"parent_nic_index\"");
    CHECK(error(changed([](Json& d) { d["interfaces"][1]["nic_index"] = -1; })) ==
          kSource + ": interfaces[1].nic_index: -1 is not a number from 0 to 255");
  }

}  // TEST_SUITE
