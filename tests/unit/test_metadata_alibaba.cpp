#include <doctest/doctest.h>

#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "fake_http.hpp"
#include "instance_text.hpp"
#include "metadata/alibaba.hpp"
#include "mock/mock_imds.hpp"
#include "nicsync/provider.hpp"
#include "temp_file.hpp"

using nicsync::HttpMethod;
using nicsync::HttpRequest;
using nicsync::HttpResponse;
using nicsync::Instance;
using nicsync::MacAddress;
using nicsync::NicRole;
using nicsync::mock::Fault;
using nicsync::mock::MockImds;
using nicsync::mock::RecordedRequest;
using nicsync::testing::FakeHttpClient;
using nicsync::testing::header_value;
using nicsync::testing::serve_fixture;

using nicsync::test::join;
using nicsync::test::describe;
using nicsync::test::request_lines;
using nicsync::test::batches;

namespace {

const std::string kEndpoint = "http://100.100.100.200";
const std::string kMacs = "/latest/meta-data/network/interfaces/macs/";
const std::string kTokenPath = "/latest/api/token";
const std::string kTokenHeader = "X-aliyun-ecs-metadata-token";
const char* const kEniEip = "alibaba-seed-eni-eip.json";
const char* const kTwoEni = "alibaba-seed-two-eni.json";

std::string fixture_path(const std::string& name) { return std::string(NICSYNC_TEST_FIXTURES) + "/" + name; }

nlohmann::json load_fixture(const std::string& name) {
  std::ifstream in(fixture_path(name));
  REQUIRE_MESSAGE(in.good(), "cannot open fixture " << name);
  return nlohmann::json::parse(in);
}

/// Generous timeouts: a slow (sanitizer, valgrind, loaded CI) run must not turn into retries
/// that change the request counts the tests check.
nicsync::HttpOptions patient_options() {
  nicsync::HttpOptions options;
  options.connect_timeout_ms = 5000;
  options.request_timeout_ms = 15000;
  return options;
}

/// The fixture with its token required (hardened-only mode) or not.
nlohmann::json with_token_required(nlohmann::json fixture, bool required) {
  fixture["imds"]["token"]["required"] = required;
  return fixture;
}

std::string token_of(const nlohmann::json& fixture) {
  return fixture.at("imds").at("token").at("value").get<std::string>();
}

MacAddress mac(const char* text) { return *MacAddress::parse(text); }

/// The GETs of every key of each NIC, in the order fetch_alibaba asks for them.
std::string nic_request_lines(const std::vector<std::string>& macs) {
  std::string out;
  for (const std::string& m : macs) {
    for (std::string_view key : nicsync::alibaba::kInterfaceKeys) out += "GET " + kMacs + m + "/" + std::string(key) + "\n";
  }
  return out;
}

template <typename T>
std::string error_of(const nicsync::Result<T>& result) {
  REQUIRE_FALSE(result.ok());
  return result.error().message;
}

std::map<std::string, std::string> leaves_of(const char* primary, const char* all) {
  return {{"network-interface-id", "eni-6weqiimr5f7u4a7mjh32"},
          {"primary-ip-address", primary},
          {"private-ipv4s", all},
          {"netmask", "255.255.255.0"},
          {"gateway", "172.16.10.253"},
          {"vswitch-cidr-block", "172.16.10.0/24"}};
}

const char* const kEniEipExpected =
    "alibaba i-6weee6xqjgln2t3cqogh\n"
    "0/0 00:16:3e:92:9b:33 primary id=eni-6we5nililg5qrpxsrysu os=- v4=172.16.10.40 subnet=172.16.10.0/24 "
    "gw=172.16.10.253 v4prefix= v6= v6subnets= v6gw=- v6prefix= vlan=-\n"
    "0/- 00:16:3e:45:5e:32 secondary id=eni-6weqiimr5f7u4a7mjh32 os=- v4=172.16.10.57 172.16.10.77 172.16.10.78 "
    "subnet=172.16.10.0/24 gw=172.16.10.253 v4prefix= v6= v6subnets= v6gw=- v6prefix= vlan=-\n";

const char* const kTwoEniExpected =
    "alibaba i-uf6l4tmusrxeppyuafdk\n"
    "0/0 00:16:3e:0e:16:21 primary id=eni-uf6wggyvpqnhey55apw5 os=- v4=10.0.0.19 subnet=10.0.0.0/24 gw=10.0.0.253 "
    "v4prefix= v6= v6subnets= v6gw=- v6prefix= vlan=-\n"
    "0/- 00:16:3e:12:16:ec secondary id=eni-uf6b7auumwqwcctbbc7k os=- v4=10.0.0.21 subnet=10.0.0.0/24 gw=10.0.0.253 "
    "v4prefix= v6= v6subnets= v6gw=- v6prefix= vlan=-\n"
    "0/- 00:16:3e:12:e7:27 secondary id=eni-uf64axbbvfkc4s7g67iw os=- v4=10.0.0.20 subnet=10.0.0.0/24 gw=10.0.0.253 "
    "v4prefix= v6= v6subnets= v6gw=- v6prefix= vlan=-\n";

struct FixtureCase {
  const char* fixture;
  const char* expected;
  std::vector<std::string> macs;  ///< in listing order
  size_t requests;
};

const std::vector<FixtureCase>& fixture_cases() {
  static const std::vector<FixtureCase> cases = {
      {kEniEip, kEniEipExpected, {"00:16:3e:45:5e:32", "00:16:3e:92:9b:33"}, 22},
      {kTwoEni, kTwoEniExpected, {"00:16:3e:0e:16:21", "00:16:3e:12:16:ec", "00:16:3e:12:e7:27"}, 31},
  };
  return cases;
}

}  // namespace

TEST_SUITE("metadata::alibaba") {

// ---- parsers ----

TEST_CASE("private-ipv4s is a JSON array of addresses") {
  using nicsync::alibaba::parse_ipv4_array;
  const std::string where = "macs/00:16:3e:45:5e:32/private-ipv4s";
  CHECK(join(parse_ipv4_array("[\"172.16.10.57\",\"172.16.10.77\"]\n", where).value()) == "172.16.10.57 172.16.10.77");
  CHECK(join(parse_ipv4_array("[ \"172.16.10.57\" ]", where).value()) == "172.16.10.57");
  CHECK(parse_ipv4_array("[]", where).value().empty());
  CHECK(error_of(parse_ipv4_array("172.16.10.57", where)) ==
        "alibaba: macs/00:16:3e:45:5e:32/private-ipv4s: \"172.16.10.57\" is not a JSON array");
  CHECK(error_of(parse_ipv4_array("{\"ip\": \"172.16.10.57\"}", where)) ==
        "alibaba: macs/00:16:3e:45:5e:32/private-ipv4s: \"{\\\"ip\\\": \\\"172.16.10.57\\\"}\" is not a JSON array");
  CHECK(error_of(parse_ipv4_array("[\"172.16.10.57\",\"172.16.10", where)) ==
        "alibaba: macs/00:16:3e:45:5e:32/private-ipv4s: \"[\\\"172.16.10.57\\\",\\\"172.16.10\" is not a JSON array");
  CHECK(error_of(parse_ipv4_array("[\"172.16.10.57\", 17]", where)) ==
        "alibaba: macs/00:16:3e:45:5e:32/private-ipv4s item 2: 17 is not a string");
  CHECK(error_of(parse_ipv4_array("[\"172.16.10.57\", \"172.16.10.700\"]", where)) ==
        "alibaba: macs/00:16:3e:45:5e:32/private-ipv4s item 2: \"172.16.10.700\" is not an IPv4 address");
  CHECK(error_of(parse_ipv4_array("[\"172.16.10.57\", \"172.16.10.57\"]", where)) ==
        "alibaba: macs/00:16:3e:45:5e:32/private-ipv4s item 2: \"172.16.10.57\" is listed twice");
}

TEST_CASE("ipv6s is a bracketed list of unquoted addresses") {
  using nicsync::alibaba::parse_ipv6_list;
  const std::string where = "macs/00:16:3e:45:5e:32/ipv6s";
  CHECK(join(parse_ipv6_list("[2408:4005:39c:1b00:5e5c:ff1c:1bd:1,2408:4005:39c:1b00::2]", where).value()) ==
        "2408:4005:39c:1b00:5e5c:ff1c:1bd:1 2408:4005:39c:1b00::2");
  CHECK(join(parse_ipv6_list("[2408:4005:39c:1b00::1]\n", where).value()) == "2408:4005:39c:1b00::1");
  CHECK(join(parse_ipv6_list("[ \"2408:4005::1\", 2408:4005::2 ]", where).value()) == "2408:4005::1 2408:4005::2");
  CHECK(parse_ipv6_list("[]", where).value().empty());
  CHECK(error_of(parse_ipv6_list("2408:4005::1", where)) ==
        "alibaba: macs/00:16:3e:45:5e:32/ipv6s: \"2408:4005::1\" is not a bracketed list");
  CHECK(error_of(parse_ipv6_list("[2408:4005::1,,2408:4005::2]", where)) ==
        "alibaba: macs/00:16:3e:45:5e:32/ipv6s item 2: \"\" is not an IPv6 address");
  CHECK(error_of(parse_ipv6_list("[2408:4005::1,172.16.10.57]", where)) ==
        "alibaba: macs/00:16:3e:45:5e:32/ipv6s item 2: \"172.16.10.57\" is not an IPv6 address");
  CHECK(error_of(parse_ipv6_list("[2408:4005::1,2408:4005:0::1]", where)) ==
        "alibaba: macs/00:16:3e:45:5e:32/ipv6s item 2: \"2408:4005:0::1\" is listed twice");
}

TEST_CASE("the macs listing and the single values") {
  auto macs = nicsync::alibaba::parse_mac_listing("00:16:3e:45:5e:32/\r\n00:16:3E:92:9B:33/\n");
  REQUIRE(macs.ok());
  CHECK(join(*macs) == "00:16:3e:45:5e:32 00:16:3e:92:9b:33");
  CHECK(error_of(nicsync::alibaba::parse_mac_listing("")) == "alibaba: macs/ is empty");
  CHECK(error_of(nicsync::alibaba::parse_mac_listing("00:16:3e:45:5e:32/\n00:16:3e:92:9b:33")) ==
        "alibaba: macs/ line 2: \"00:16:3e:92:9b:33\" does not end with \"/\"");
  CHECK(error_of(nicsync::alibaba::parse_mac_listing("00:16:3e:45:5e:32/\n00:16:3E:45:5E:32/")) ==
        "alibaba: macs/ line 2: \"00:16:3E:45:5E:32/\" is listed twice");
  CHECK(nicsync::alibaba::parse_mac("00:16:3e:92:9b:33\r\n", "mac").value().str() == "00:16:3e:92:9b:33");
  CHECK(error_of(nicsync::alibaba::parse_mac("00:16:3e:92:9b", "mac")) ==
        "alibaba: mac: \"00:16:3e:92:9b\" is not a MAC address");
  CHECK(error_of(nicsync::alibaba::parse_resource_id("i-6we ee", "instance-id")) ==
        "alibaba: instance-id: \"i-6we ee\" is not a resource id (only A-Z a-z 0-9 . _ : -)");
}

TEST_CASE("a NIC: the primary address comes first whatever the order of private-ipv4s") {
  const MacAddress m = mac("00:16:3e:45:5e:32");
  auto nic = nicsync::alibaba::parse_interface(
      m, leaves_of("172.16.10.57", "[\"172.16.10.78\",\"172.16.10.57\",\"172.16.10.77\"]"));
  REQUIRE_MESSAGE(nic.ok(), nic.error().message);
  CHECK(join(nic->ipv4.addresses) == "172.16.10.57 172.16.10.78 172.16.10.77");
  CHECK(nic->ipv4.subnet->str() == "172.16.10.0/24");
  CHECK(nic->ipv4.gateway->str() == "172.16.10.253");
  CHECK(nic->id->str() == "eni-6weqiimr5f7u4a7mjh32");
  CHECK(nic->role == NicRole::secondary);
  CHECK_FALSE(nic->index.has_value());
  CHECK(nic->ipv6.addresses.empty());
  CHECK_FALSE(nic->vlan.has_value());
}

TEST_CASE("a NIC with IPv6: ipv6s, ipv6-gateway and vswitch-ipv6-cidr-block") {
  auto leaves = leaves_of("172.16.10.57", "[\"172.16.10.57\"]");
  leaves["ipv6s"] = "[2408:4005:39c:1b00:5e5c:ff1c:1bd:1,2408:4005:39c:1b00:5e5c:ff1c:1bd:2]";
  leaves["ipv6-gateway"] = "2408:4005:39c:1b00:ffff:ffff:ffff:fffd";
  leaves["vswitch-ipv6-cidr-block"] = "2408:4005:39c:1b00::/64";
  auto nic = nicsync::alibaba::parse_interface(mac("00:16:3e:45:5e:32"), leaves);
  REQUIRE_MESSAGE(nic.ok(), nic.error().message);
  CHECK(join(nic->ipv6.addresses) == "2408:4005:39c:1b00:5e5c:ff1c:1bd:1 2408:4005:39c:1b00:5e5c:ff1c:1bd:2");
  CHECK(join(nic->ipv6.subnets) == "2408:4005:39c:1b00::/64");
  CHECK(nic->ipv6.gateway->str() == "2408:4005:39c:1b00:ffff:ffff:ffff:fffd");

  leaves["ipv6s"] = "[2408:4005:39c:1b00::1,2408:4005:39c:1c00::1]";
  CHECK(error_of(nicsync::alibaba::parse_interface(mac("00:16:3e:45:5e:32"), leaves)) ==
        "alibaba: macs/00:16:3e:45:5e:32/ipv6s item 2: 2408:4005:39c:1c00::1 is outside vswitch-ipv6-cidr-block "
        "2408:4005:39c:1b00::/64");
}

TEST_CASE("a NIC: netmask and vswitch-cidr-block must agree, every address lies in the subnet") {
  const MacAddress m = mac("00:16:3e:45:5e:32");
  auto leaves = leaves_of("172.16.10.57", "[\"172.16.10.57\"]");
  leaves["netmask"] = "255.255.0.0";
  CHECK(error_of(nicsync::alibaba::parse_interface(m, leaves)) ==
        "alibaba: macs/00:16:3e:45:5e:32/netmask: \"255.255.0.0\" does not agree with vswitch-cidr-block 172.16.10.0/24");
  leaves["netmask"] = "255.0.255.0";
  CHECK(error_of(nicsync::alibaba::parse_interface(m, leaves)) ==
        "alibaba: macs/00:16:3e:45:5e:32/netmask: \"255.0.255.0\" is not a contiguous netmask");

  CHECK(error_of(nicsync::alibaba::parse_interface(m, leaves_of("172.16.10.57", "[\"172.16.10.58\"]"))) ==
        "alibaba: macs/00:16:3e:45:5e:32/private-ipv4s: does not include primary-ip-address 172.16.10.57");
  CHECK(error_of(nicsync::alibaba::parse_interface(m, leaves_of("172.16.10.57", "[\"172.16.10.57\",\"172.16.11.5\"]"))) ==
        "alibaba: macs/00:16:3e:45:5e:32/private-ipv4s item 2: 172.16.11.5 is outside vswitch-cidr-block 172.16.10.0/24");
  CHECK(error_of(nicsync::alibaba::parse_interface(m, leaves_of("172.16.11.57", "[\"172.16.11.57\"]"))) ==
        "alibaba: macs/00:16:3e:45:5e:32/primary-ip-address: 172.16.11.57 is outside vswitch-cidr-block 172.16.10.0/24");
  leaves = leaves_of("172.16.10.57", "[\"172.16.10.57\"]");
  leaves["gateway"] = "172.16.0.1";
  CHECK(error_of(nicsync::alibaba::parse_interface(m, leaves)) ==
        "alibaba: macs/00:16:3e:45:5e:32/gateway: 172.16.0.1 is outside vswitch-cidr-block 172.16.10.0/24");
  leaves = leaves_of("172.16.10.57", "[\"172.16.10.57\"]");
  leaves["vswitch-cidr-block"] = "172.16.10.0/255";
  CHECK(error_of(nicsync::alibaba::parse_interface(m, leaves)) ==
        "alibaba: macs/00:16:3e:45:5e:32/vswitch-cidr-block: \"172.16.10.0/255\" is not an IPv4 CIDR block");
  leaves = leaves_of("172.16.10.57", "[\"172.16.10.57\"]");
  leaves.erase("gateway");
  leaves.erase("netmask");
  CHECK(error_of(nicsync::alibaba::parse_interface(m, leaves)) == "alibaba: macs/00:16:3e:45:5e:32/: lacks netmask, gateway");
}

TEST_CASE("the instance: the primary MAC first with index 0, the others unnumbered in listing order") {
  auto make = [](const char* m) {
    return nicsync::alibaba::parse_interface(mac(m), leaves_of("172.16.10.57", "[\"172.16.10.57\"]")).value();
  };
  const auto id = nicsync::ResourceId::parse("i-1").value();
  auto instance = nicsync::alibaba::assemble_instance(
      mac("00:16:3e:00:00:02"), id, {make("00:16:3e:00:00:01"), make("00:16:3e:00:00:03"), make("00:16:3e:00:00:02")});
  REQUIRE(instance.ok());
  CHECK(instance->vendor == nicsync::Vendor::alibaba);
  REQUIRE(instance->interfaces.size() == 3);
  CHECK(instance->interfaces[0].mac.str() == "00:16:3e:00:00:02");
  CHECK(instance->interfaces[0].role == NicRole::primary);
  CHECK(instance->interfaces[0].index == 0);
  CHECK(instance->interfaces[1].mac.str() == "00:16:3e:00:00:01");
  CHECK_FALSE(instance->interfaces[1].index.has_value());
  CHECK(instance->interfaces[2].mac.str() == "00:16:3e:00:00:03");
  CHECK_FALSE(instance->interfaces[2].index.has_value());
  CHECK(error_of(nicsync::alibaba::assemble_instance(mac("00:16:3e:00:00:09"), id, {make("00:16:3e:00:00:01")})) ==
        "alibaba: mac: 00:16:3e:00:00:09 is not in macs/");
}

// ---- fetch_alibaba over the fake ----

TEST_CASE("fetch_alibaba: every fixture, with the token optional and required") {
  for (const FixtureCase& c : fixture_cases()) {
    for (bool required : {false, true}) {
      CAPTURE(c.fixture);
      CAPTURE(required);
      const nlohmann::json fixture = with_token_required(load_fixture(c.fixture), required);
      FakeHttpClient fake;
      serve_fixture(fake, fixture);
      auto instance = nicsync::fetch_alibaba(fake, kEndpoint);
      REQUIRE_MESSAGE(instance.ok(), instance.error().message);
      CHECK(describe(*instance) == c.expected);
      CHECK(request_lines(fake) == "PUT " + kTokenPath + "\n"
                                   "GET /latest/meta-data/mac\n"
                                   "GET /latest/meta-data/instance-id\n"
                                   "GET " + kMacs + "\n" + nic_request_lines(c.macs));
      CHECK(batches(fake) == "1 3 " + std::to_string(9 * c.macs.size()));
      CHECK(fake.requests.size() == c.requests);
      for (const HttpRequest& request : fake.requests) {
        if (request.method == HttpMethod::put) {
          CHECK(header_value(request, "X-aliyun-ecs-metadata-token-ttl-seconds") == "21600");
        } else {
          CHECK_MESSAGE(header_value(request, kTokenHeader) == token_of(fixture), request.url);
        }
      }
    }
  }
}

TEST_CASE("fetch_alibaba: the local NICs' keys go out with the NIC list, the others' after it") {
  FakeHttpClient fake;
  serve_fixture(fake, load_fixture(kTwoEni));
  // Two of the three listed NICs are local, and one MAC the service does not know.
  const std::vector<MacAddress> local = {mac("00:16:3e:12:e7:27"), mac("00:16:3e:ff:ff:01"), mac("00:16:3e:0e:16:21")};
  auto instance = nicsync::fetch_alibaba(fake, kEndpoint, local);
  REQUIRE_MESSAGE(instance.ok(), instance.error().message);
  CHECK(describe(*instance) == kTwoEniExpected);
  CHECK(request_lines(fake) == "PUT " + kTokenPath + "\n"
                               "GET /latest/meta-data/mac\n"
                               "GET /latest/meta-data/instance-id\n"
                               "GET " + kMacs + "\n" +
                               nic_request_lines({"00:16:3e:12:e7:27", "00:16:3e:ff:ff:01", "00:16:3e:0e:16:21",
                                                  "00:16:3e:12:16:ec"}));
  CHECK(batches(fake) == "1 30 9");
  using Prepared = std::vector<std::pair<std::string, size_t>>;
  CHECK(fake.prepared == Prepared{{kEndpoint + "/", 30}});
}

TEST_CASE("fetch_alibaba: a guessed NIC missing a required key is asked again, and the error is round 3's") {
  FakeHttpClient fake;
  serve_fixture(fake, load_fixture(kTwoEni));
  const std::string gone = kEndpoint + kMacs + "00:16:3e:12:e7:27/vswitch-cidr-block";
  fake.remove(HttpMethod::get, gone);
  CHECK(error_of(nicsync::fetch_alibaba(fake, kEndpoint, {mac("00:16:3e:12:e7:27")})) ==
        "alibaba: GET " + kMacs + "00:16:3e:12:e7:27/vswitch-cidr-block: HTTP 404");
  CHECK(batches(fake) == "1 12 27");
}

TEST_CASE("fetch_alibaba: a service without tokens (404 or 405 on the PUT) is read in normal mode") {
  for (long status : {404L, 405L}) {
    CAPTURE(status);
    FakeHttpClient fake;
    serve_fixture(fake, load_fixture(kTwoEni));
    HttpResponse refused;
    refused.status = status;
    fake.set(HttpMethod::put, kEndpoint + kTokenPath, refused);
    auto instance = nicsync::fetch_alibaba(fake, kEndpoint);
    REQUIRE_MESSAGE(instance.ok(), instance.error().message);
    CHECK(describe(*instance) == kTwoEniExpected);
    CHECK(batches(fake) == "1 3 27");
    for (const HttpRequest& request : fake.requests) CHECK(header_value(request, kTokenHeader).empty());
  }
}

TEST_CASE("fetch_alibaba: a 403 on the token PUT is an error, and nothing else is asked") {
  for (bool required : {false, true}) {
    CAPTURE(required);
    FakeHttpClient fake;
    serve_fixture(fake, with_token_required(load_fixture(kEniEip), required));
    HttpResponse forbidden;
    forbidden.status = 403;
    fake.set(HttpMethod::put, kEndpoint + kTokenPath, forbidden);
    CHECK(error_of(nicsync::fetch_alibaba(fake, kEndpoint)) == "alibaba: PUT /latest/api/token: HTTP 403");
    CHECK(fake.requests.size() == 1);
  }
}

TEST_CASE("fetch_alibaba: without a token a hardened-only service refuses, and the refusal is named") {
  FakeHttpClient fake;
  serve_fixture(fake, with_token_required(load_fixture(kEniEip), true));
  HttpResponse no_tokens;
  no_tokens.status = 404;
  fake.set(HttpMethod::put, kEndpoint + kTokenPath, no_tokens);
  CHECK(error_of(nicsync::fetch_alibaba(fake, kEndpoint)) == "alibaba: GET /latest/meta-data/mac: HTTP 401");
}

TEST_CASE("fetch_alibaba: the IPv6 keys where the service has them") {
  FakeHttpClient fake;
  serve_fixture(fake, load_fixture(kEniEip));
  const std::string nic = kEndpoint + kMacs + "00:16:3e:45:5e:32/";
  fake.set_body(HttpMethod::get, nic + "ipv6s", "[2408:4005:39c:1b00:5e5c:ff1c:1bd:1,2408:4005:39c:1b00::2]");
  fake.set_body(HttpMethod::get, nic + "ipv6-gateway", "2408:4005:39c:1b00:ffff:ffff:ffff:fffd");
  fake.set_body(HttpMethod::get, nic + "vswitch-ipv6-cidr-block", "2408:4005:39c:1b00::/64");
  auto instance = nicsync::fetch_alibaba(fake, kEndpoint);
  REQUIRE_MESSAGE(instance.ok(), instance.error().message);
  const nicsync::Interface& eth1 = instance->interfaces[1];
  CHECK(eth1.mac.str() == "00:16:3e:45:5e:32");
  CHECK(join(eth1.ipv6.addresses) == "2408:4005:39c:1b00:5e5c:ff1c:1bd:1 2408:4005:39c:1b00::2");
  CHECK(join(eth1.ipv6.subnets) == "2408:4005:39c:1b00::/64");
  CHECK(eth1.ipv6.gateway->str() == "2408:4005:39c:1b00:ffff:ffff:ffff:fffd");
  CHECK(instance->interfaces[0].ipv6.addresses.empty());
}

TEST_CASE("fetch_alibaba: bad metadata is one line naming the key and the value") {
  FakeHttpClient fake;
  serve_fixture(fake, load_fixture(kEniEip));
  const std::string nic = kEndpoint + kMacs + "00:16:3e:45:5e:32/";
  fake.set_body(HttpMethod::get, nic + "private-ipv4s", "172.16.10.57");
  CHECK(error_of(nicsync::fetch_alibaba(fake, kEndpoint)) ==
        "alibaba: macs/00:16:3e:45:5e:32/private-ipv4s: \"172.16.10.57\" is not a JSON array");

  fake.set_body(HttpMethod::get, nic + "private-ipv4s", "[\"172.16.10.57\"]");
  fake.set_body(HttpMethod::get, nic + "netmask", "255.255.255.128");
  CHECK(error_of(nicsync::fetch_alibaba(fake, kEndpoint)) ==
        "alibaba: macs/00:16:3e:45:5e:32/netmask: \"255.255.255.128\" does not agree with vswitch-cidr-block "
        "172.16.10.0/24");

  fake.set_body(HttpMethod::get, nic + "netmask", "255.255.255.0");
  fake.remove(HttpMethod::get, nic + "gateway");
  CHECK(error_of(nicsync::fetch_alibaba(fake, kEndpoint)) ==
        "alibaba: GET /latest/meta-data/network/interfaces/macs/00:16:3e:45:5e:32/gateway: HTTP 404");

  fake.set_body(HttpMethod::get, kEndpoint + "/latest/meta-data/mac", "00:16:3e:00:00:01");
  fake.set_body(HttpMethod::get, nic + "gateway", "172.16.10.253");
  CHECK(error_of(nicsync::fetch_alibaba(fake, kEndpoint)) == "alibaba: mac: 00:16:3e:00:00:01 is not in macs/");
}

// ---- through curl and the mock ----

TEST_CASE("fetch_alibaba through curl and the mock, for every fixture, with the token optional and required") {
  for (const FixtureCase& c : fixture_cases()) {
    for (bool required : {false, true}) {
      CAPTURE(c.fixture);
      CAPTURE(required);
      const nlohmann::json fixture = with_token_required(load_fixture(c.fixture), required);
      nicsync::test::TempFile file(fixture.dump(2), ".json");
      MockImds mock(file.path());
      mock.start("127.0.0.1", 0);
      auto client = nicsync::make_http_client(patient_options());
      auto instance = nicsync::fetch_alibaba(*client, mock.url() + "/");
      REQUIRE_MESSAGE(instance.ok(), instance.error().message);
      CHECK(describe(*instance) == c.expected);

      auto recorded = mock.requests();
      CHECK(recorded.size() == c.requests);
      REQUIRE_FALSE(recorded.empty());
      CHECK(recorded[0].method == "PUT");
      CHECK(recorded[0].path == kTokenPath);
      size_t not_found = 0;
      for (const RecordedRequest& request : recorded) {
        if (request.method == "GET") CHECK(request.headers.at(kTokenHeader) == token_of(fixture));
        CHECK((request.status == 200 || request.status == 404));
        if (request.status == 404) ++not_found;
      }
      CHECK(not_found == 3 * c.macs.size());  // the IPv6 keys: no IPv6 in these fixtures
    }
  }
}

TEST_CASE("fetch_alibaba through curl: 403 on the PUT is an error, 404 falls back to normal mode") {
  nicsync::test::TempFile file(load_fixture(kTwoEni).dump(2), ".json");
  MockImds mock(file.path());
  mock.start("127.0.0.1", 0);
  auto client = nicsync::make_http_client(patient_options());

  Fault forbidden;
  forbidden.kind = Fault::Kind::status;
  forbidden.path_prefix = kTokenPath;
  forbidden.status = 403;
  forbidden.times = 1;
  mock.add_fault(forbidden);
  CHECK(error_of(nicsync::fetch_alibaba(*client, mock.url())) == "alibaba: PUT /latest/api/token: HTTP 403");
  CHECK(mock.requests().size() == 1);

  mock.clear_requests();
  Fault missing = forbidden;
  missing.status = 404;
  mock.add_fault(missing);
  auto instance = nicsync::fetch_alibaba(*client, mock.url());
  REQUIRE_MESSAGE(instance.ok(), instance.error().message);
  CHECK(describe(*instance) == kTwoEniExpected);
  auto recorded = mock.requests();
  CHECK(recorded.size() == 31);
  for (const RecordedRequest& request : recorded) CHECK(request.headers.count(kTokenHeader) == 0);
}

}  // TEST_SUITE
