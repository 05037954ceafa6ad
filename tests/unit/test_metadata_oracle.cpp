#include <doctest/doctest.h>

#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "fake_http.hpp"
#include "instance_text.hpp"
#include "metadata/oracle.hpp"
#include "mock/mock_imds.hpp"
#include "nicsync/provider.hpp"

using nicsync::HttpMethod;
using nicsync::HttpRequest;
using nicsync::HttpResponse;
using nicsync::Instance;
using nicsync::Ipv4Address;
using nicsync::oracle::Machine;
using nicsync::oracle::SecondaryIps;
using nicsync::testing::FakeHttpClient;
using nicsync::testing::header_value;
using nicsync::testing::serve_fixture;

using nicsync::test::join;
using nicsync::test::describe;
using nicsync::test::request_lines;
using nicsync::test::batches;

namespace {

const std::string kEndpoint = "http://169.254.169.254";
const char* const kSeed = "oracle-seed-secondary-ip.json";
const char* const kTwoVnics = "oracle-vm-secondary-vnic.json";
const std::string kSecondVnic = "ocid1.vnic.oc1.phx.abyhqljt4iew3gwmvrwrhhf3bp5drjexamplesecondvnic0002";

std::string fixture_path(const std::string& name) { return std::string(NICSYNC_TEST_FIXTURES) + "/" + name; }

nlohmann::json load_fixture(const std::string& name) {
  std::ifstream in(fixture_path(name));
  REQUIRE_MESSAGE(in.good(), "cannot open fixture " << name);
  return nlohmann::json::parse(in);
}

std::string response_of(const nlohmann::json& fixture, const std::string& path) {
  return fixture.at("imds").at("responses").at(path).get<std::string>();
}

/// Generous timeouts: a slow (sanitizer, valgrind, loaded CI) run must not turn into retries
/// that change the request counts the tests check.
nicsync::HttpOptions patient_options() {
  nicsync::HttpOptions options;
  options.connect_timeout_ms = 5000;
  options.request_timeout_ms = 15000;
  return options;
}

/// The secondary (non-primary) private IPs the fixture's OCI API lists, as configuration would
/// hold them: VNIC id -> addresses.
SecondaryIps secondary_ips_of(const nlohmann::json& fixture) {
  SecondaryIps out;
  for (const auto& [vnic, ips] : fixture.at("oci_api").at("private_ips").items()) {
    for (const nlohmann::json& ip : ips) {
      if (!ip.at("isPrimary").get<bool>()) out[vnic].push_back(*Ipv4Address::parse(ip.at("ipAddress").get<std::string>()));
    }
  }
  return out;
}

SecondaryIps ips(const std::string& key, std::vector<const char*> addresses) {
  SecondaryIps out;
  for (const char* a : addresses) out[key].push_back(*Ipv4Address::parse(a));
  return out;
}

std::string error_of(const nicsync::Result<Instance>& result) {
  REQUIRE_FALSE(result.ok());
  return result.error().message;
}

template <typename T>
std::string error_of(const nicsync::Result<T>& result) {
  REQUIRE_FALSE(result.ok());
  return result.error().message;
}

const char* const kSeedExpected =
    "oracle ocid1.instance.oc1.ap-tokyo-1.anquzxrv23ffzq5743wbgceb6priinzsznqkk6ayma5ix6vandmzqqssvsie\n"
    "0/0 02:00:17:01:a3:5c primary id=ocid1.vnic.oc1.ap-tokyo-1.abwvc7nfari67zagzrwqcy6yn472lun4t3tfp5f24aefvbd55amv7qxg"
    "ams4 os=- v4=10.0.1.2 10.0.1.11 subnet=10.0.1.0/24 gw=10.0.1.1 v4prefix= v6= v6subnets= v6gw=- v6prefix= "
    "vlan=-\n";

const char* const kTwoVnicsExpected =
    "oracle ocid1.instance.oc1.phx.an3gxwsohkbdi6yrqbcx3fdw25yrouljn6odcffe5cusl6gtp6xvxazvhjps\n"
    "0/0 02:00:17:05:d1:db primary id=ocid1.vnic.oc1.phx.abyhqljtch72z5pd76cc2636qeqh7zexampleprimaryvnic0001 os=- "
    "v4=172.16.1.10 subnet=172.16.1.0/24 gw=172.16.1.1 v4prefix= v6= v6subnets= v6gw=- v6prefix= vlan=-\n"
    "0/1 00:00:17:02:2b:b1 secondary id=ocid1.vnic.oc1.phx.abyhqljt4iew3gwmvrwrhhf3bp5drjexamplesecondvnic0002 os=- "
    "v4=172.16.2.10 172.16.2.11 172.16.2.12 subnet=172.16.2.0/24 gw=172.16.2.1 v4prefix= v6= v6subnets= v6gw=- "
    "v6prefix= vlan=-\n";

// Bodies in the shapes the real service sends (after cloud-init's captures; the VLAN VNIC's
// nicIndex is 1 here so that it differs from the first's): bare metal with a VLAN VNIC, and a
// dual-stack primary with an IPv6-only secondary VNIC.
const char* const kBareMetalVnics = R"([ {
  "vnicId" : "ocid1.vnic.oc1.phx.bm0",
  "privateIp" : "10.0.0.8",
  "vlanTag" : 0,
  "macAddr" : "90:e2:ba:d4:f1:68",
  "virtualRouterIp" : "10.0.0.1",
  "subnetCidrBlock" : "10.0.0.0/24",
  "nicIndex" : 0
}, {
  "vnicId" : "ocid1.vnic.oc1.phx.bm1",
  "privateIp" : "10.0.4.5",
  "vlanTag" : 1,
  "macAddr" : "02:00:17:05:CF:51",
  "virtualRouterIp" : "10.0.4.1",
  "subnetCidrBlock" : "10.0.4.0/24",
  "nicIndex" : 1
} ])";

const char* const kDualStackVnics = R"([
  {
    "ipv6Addresses": [ "2603:c020:400d:5dbb:e94a:a85d:26e3:e0d4" ],
    "ipv6SubnetCidrBlock": "2603:c020:400d:5dbb::/64",
    "ipv6VirtualRouterIp": "fe80::200:17ff:fe40:8972",
    "macAddr": "02:00:17:0D:6B:BE",
    "privateIp": "10.0.0.183",
    "subnetCidrBlock": "10.0.0.0/24",
    "virtualRouterIp": "10.0.0.1",
    "vlanTag": 929,
    "vnicId": "ocid1.vnic.oc1.iad.dual0"
  },
  {
    "ipv6Addresses": [ "2603:c020:400d:5d7e:aacc:8e5f:3b1b:3a4a" ],
    "ipv6SubnetCidrBlock": "2603:c020:400d:5d7e::/64",
    "ipv6VirtualRouterIp": "fe80::200:17ff:fe40:8972",
    "macAddr": "02:00:17:18:F6:FF",
    "subnetCidrBlock": "\u003cnull\u003e",
    "vlanTag": 2659,
    "vnicId": "ocid1.vnic.oc1.iad.v6only1"
  }
])";

/// A vnics/ body with one VNIC whose members are `members` (JSON object text without braces).
std::string one_vnic(const std::string& members) { return "[ {" + members + "} ]"; }

const std::string kGoodMembers =
    R"("vnicId": "ocid1.vnic.x", "macAddr": "02:00:17:05:D1:DB", "privateIp": "10.0.0.5", )"
    R"("subnetCidrBlock": "10.0.0.0/24", "virtualRouterIp": "10.0.0.1")";

}  // namespace

TEST_SUITE("metadata::oracle") {

// ---- parsers ----

TEST_CASE("instance/: the id, and bare metal from a shape starting with BM.") {
  auto vm = nicsync::oracle::parse_instance(R"({"id": "ocid1.instance.oc1.phx.abc", "shape": "VM.Standard2.1",
                                                "metadata": {"x": 1}, "timeCreated": 1584727285318})");
  REQUIRE_MESSAGE(vm.ok(), vm.error().message);
  CHECK(vm->id.str() == "ocid1.instance.oc1.phx.abc");
  CHECK(vm->machine == Machine::virtual_machine);
  auto bm = nicsync::oracle::parse_instance(R"({"id": "ocid1.instance.oc1.phx.abc", "shape": "BM.Standard2.52"})");
  REQUIRE(bm.ok());
  CHECK(bm->machine == Machine::bare_metal);
  auto no_shape = nicsync::oracle::parse_instance(R"({"id": "ocid1.instance.oc1.phx.abc"})");
  REQUIRE(no_shape.ok());
  CHECK(no_shape->machine == Machine::virtual_machine);
}

TEST_CASE("instance/: bad documents are named") {
  using nicsync::oracle::parse_instance;
  CHECK(error_of(parse_instance(R"({"shape": "VM.Standard2.1"})")) == "oracle: instance/: \"id\" is missing");
  CHECK(error_of(parse_instance(R"({"id": "<null>"})")) == "oracle: instance/: \"id\" is missing");
  CHECK(error_of(parse_instance(R"({"id": 7})")) == "oracle: instance/: \"id\": 7 is not a string");
  CHECK(error_of(parse_instance(R"({"id": "ocid1 x"})")) ==
        "oracle: instance/: \"id\": \"ocid1 x\" is not a resource id (only A-Z a-z 0-9 . _ : -)");
  CHECK(error_of(parse_instance(R"({"id": "ocid1.x", "shape": ["BM"]})")) ==
        "oracle: instance/: \"shape\": [\"BM\"] is not a string");
  CHECK(error_of(parse_instance(R"({"id": "ocid1.x")")) == "oracle: instance/: truncated or invalid JSON (at byte 17)");
  CHECK(error_of(parse_instance("[]")) == "oracle: instance/: is an array, not an object");
}

TEST_CASE("vnics/: the first entry is the primary, upper-case MACs are read, extra members ignored") {
  const nlohmann::json fixture = load_fixture(kTwoVnics);
  auto vnics = nicsync::oracle::parse_vnics(response_of(fixture, "/opc/v2/vnics/"), Machine::virtual_machine);
  REQUIRE_MESSAGE(vnics.ok(), vnics.error().message);
  Instance instance = nicsync::oracle::assemble_instance(
      {.id = *nicsync::ResourceId::parse("ocid1.instance.x"), .machine = Machine::virtual_machine}, *vnics);
  CHECK(describe(instance) ==
        "oracle ocid1.instance.x\n"
        "0/0 02:00:17:05:d1:db primary id=ocid1.vnic.oc1.phx.abyhqljtch72z5pd76cc2636qeqh7zexampleprimaryvnic0001 os=- "
        "v4=172.16.1.10 subnet=172.16.1.0/24 gw=172.16.1.1 v4prefix= v6= v6subnets= v6gw=- v6prefix= vlan=-\n"
        "0/1 00:00:17:02:2b:b1 secondary id=ocid1.vnic.oc1.phx.abyhqljt4iew3gwmvrwrhhf3bp5drjexamplesecondvnic0002 "
        "os=- v4=172.16.2.10 subnet=172.16.2.0/24 gw=172.16.2.1 v4prefix= v6= v6subnets= v6gw=- v6prefix= vlan=-\n");
}

TEST_CASE("vnics/: dual stack, and an IPv6-only VNIC without privateIp and with subnetCidrBlock \"<null>\"") {
  auto vnics = nicsync::oracle::parse_vnics(kDualStackVnics, Machine::virtual_machine);
  REQUIRE_MESSAGE(vnics.ok(), vnics.error().message);
  Instance instance = nicsync::oracle::assemble_instance(
      {.id = *nicsync::ResourceId::parse("ocid1.instance.x"), .machine = Machine::virtual_machine}, *vnics);
  CHECK(describe(instance) ==
        "oracle ocid1.instance.x\n"
        "0/0 02:00:17:0d:6b:be primary id=ocid1.vnic.oc1.iad.dual0 os=- v4=10.0.0.183 subnet=10.0.0.0/24 gw=10.0.0.1 "
        "v4prefix= v6=2603:c020:400d:5dbb:e94a:a85d:26e3:e0d4 v6subnets=2603:c020:400d:5dbb::/64 "
        "v6gw=fe80::200:17ff:fe40:8972 v6prefix= vlan=-\n"
        "0/1 02:00:17:18:f6:ff secondary id=ocid1.vnic.oc1.iad.v6only1 os=- v4= subnet=- gw=- v4prefix= "
        "v6=2603:c020:400d:5d7e:aacc:8e5f:3b1b:3a4a v6subnets=2603:c020:400d:5d7e::/64 v6gw=fe80::200:17ff:fe40:8972 "
        "v6prefix= vlan=-\n");
}

TEST_CASE("vnics/: on bare metal, nicIndex and a non-zero vlanTag make a VLAN; on a VM they are ignored") {
  auto bm = nicsync::oracle::parse_vnics(kBareMetalVnics, Machine::bare_metal);
  REQUIRE_MESSAGE(bm.ok(), bm.error().message);
  REQUIRE(bm->size() == 2);
  CHECK_FALSE((*bm)[0].vlan.has_value());  // vlanTag 0: the physical NIC itself
  REQUIRE((*bm)[1].vlan.has_value());
  CHECK((*bm)[1].vlan->id == 1);
  CHECK((*bm)[1].vlan->parent_nic_index == 1);
  CHECK((*bm)[1].mac.str() == "02:00:17:05:cf:51");

  auto vm = nicsync::oracle::parse_vnics(kBareMetalVnics, Machine::virtual_machine);
  REQUIRE(vm.ok());
  CHECK_FALSE((*vm)[0].vlan.has_value());
  CHECK_FALSE((*vm)[1].vlan.has_value());

  // Bare metal without nicIndex: no VLAN; on a VM even a nonsensical vlanTag is not looked at.
  auto no_index = nicsync::oracle::parse_vnics(one_vnic(kGoodMembers + R"(, "vlanTag": 7)"), Machine::bare_metal);
  REQUIRE(no_index.ok());
  CHECK_FALSE((*no_index)[0].vlan.has_value());
  auto vm_junk = nicsync::oracle::parse_vnics(one_vnic(kGoodMembers + R"(, "vlanTag": "x", "nicIndex": -1)"),
                                              Machine::virtual_machine);
  CHECK(vm_junk.ok());
  CHECK(error_of(nicsync::oracle::parse_vnics(one_vnic(kGoodMembers + R"(, "vlanTag": 5000, "nicIndex": 0)"),
                                              Machine::bare_metal)) ==
        "oracle: vnics/ entry 1: \"vlanTag\": 5000 is not a whole number from 0 to 4094");
  CHECK(error_of(nicsync::oracle::parse_vnics(one_vnic(kGoodMembers + R"(, "vlanTag": 3, "nicIndex": "0")"),
                                              Machine::bare_metal)) ==
        "oracle: vnics/ entry 1: \"nicIndex\": \"0\" is not a whole number from 0 to 255");
}

TEST_CASE("vnics/: bad documents and entries are named with the entry and the value") {
  auto parse = [](const std::string& body) {
    return error_of(nicsync::oracle::parse_vnics(body, Machine::virtual_machine));
  };
  const nlohmann::json fixture = load_fixture(kTwoVnics);
  const std::string full = response_of(fixture, "/opc/v2/vnics/");
  CHECK(parse(full.substr(0, 123)) == "oracle: vnics/: truncated or invalid JSON (at byte 124)");
  CHECK(parse("") == "oracle: vnics/: truncated or invalid JSON (at byte 1)");
  CHECK(parse(full + "]") == "oracle: vnics/: truncated or invalid JSON (at byte " + std::to_string(full.size() + 1) + ")");
  CHECK(parse(R"({"macAddr": "02:00:17:05:D1:DB"})") == "oracle: vnics/: is an object, not an array");
  CHECK(parse("[]") == "oracle: vnics/: lists no VNIC");
  CHECK(parse("[ {" + kGoodMembers + "}, \"x\" ]") == "oracle: vnics/ entry 2: is a string, not an object");

  std::string without_mac = full;
  without_mac.replace(without_mac.find("\"macAddr\" : \"00:00:17:02:2B:B1\","), 32, "");
  CHECK(parse(without_mac) == "oracle: vnics/ entry 2: \"macAddr\" is missing");

  CHECK(parse(one_vnic(R"("macAddr": "02:00:17:05:D1")")) ==
        "oracle: vnics/ entry 1: \"macAddr\": \"02:00:17:05:D1\" is not a MAC address");
  CHECK(parse(one_vnic(R"("macAddr": 12)")) == "oracle: vnics/ entry 1: \"macAddr\": 12 is not a string");
  CHECK(parse(one_vnic(R"("macAddr": "02:00:17:05:D1:DB")")) ==
        "oracle: vnics/ entry 1: has neither \"privateIp\" nor \"ipv6Addresses\"");
  CHECK(parse(one_vnic(R"("macAddr": "02:00:17:05:D1:DB", "privateIp": "10.0.0.700")")) ==
        "oracle: vnics/ entry 1: \"privateIp\": \"10.0.0.700\" is not an IPv4 address");
  CHECK(parse(one_vnic(R"("macAddr": "02:00:17:05:D1:DB", "privateIp": "10.0.0.7", "subnetCidrBlock": "<null>")")) ==
        "oracle: vnics/ entry 1: \"subnetCidrBlock\" is missing (needed with \"privateIp\")");
  CHECK(parse(one_vnic(R"("macAddr": "02:00:17:05:D1:DB", "privateIp": "10.0.0.7", "subnetCidrBlock": "10.0.0.0/24")")) ==
        "oracle: vnics/ entry 1: \"virtualRouterIp\" is missing (needed with \"privateIp\")");
  CHECK(parse(one_vnic(R"("macAddr": "02:00:17:05:D1:DB", "privateIp": "10.0.1.7", )"
                       R"("subnetCidrBlock": "10.0.0.0/24", "virtualRouterIp": "10.0.0.1")")) ==
        "oracle: vnics/ entry 1: \"privateIp\" 10.0.1.7 is outside \"subnetCidrBlock\" 10.0.0.0/24");
  CHECK(parse(one_vnic(R"("macAddr": "02:00:17:05:D1:DB", "privateIp": "10.0.0.7", )"
                       R"("subnetCidrBlock": "10.0.0.0/24", "virtualRouterIp": "10.0.9.1")")) ==
        "oracle: vnics/ entry 1: \"virtualRouterIp\" 10.0.9.1 is outside \"subnetCidrBlock\" 10.0.0.0/24");
  CHECK(parse(one_vnic(R"("macAddr": "02:00:17:05:D1:DB", "privateIp": "10.0.0.7", )"
                       R"("subnetCidrBlock": "10.0.0.5/24", "virtualRouterIp": "10.0.0.1")")) ==
        "oracle: vnics/ entry 1: \"subnetCidrBlock\": \"10.0.0.5/24\" has host bits set (the network is 10.0.0.0/24)");
  CHECK(parse(one_vnic(kGoodMembers + R"(, "ipv6Addresses": "2603::1")")) ==
        "oracle: vnics/ entry 1: \"ipv6Addresses\": \"2603::1\" is not a JSON array");
  CHECK(parse(one_vnic(kGoodMembers + R"(, "ipv6Addresses": ["2603::1", "2603::g"])")) ==
        "oracle: vnics/ entry 1: \"ipv6Addresses\" item 2: \"2603::g\" is not an IPv6 address");
  CHECK(parse(one_vnic(kGoodMembers + R"(, "ipv6Addresses": ["2603::1"], "ipv6SubnetCidrBlock": "2604::/64")")) ==
        "oracle: vnics/ entry 1: \"ipv6Addresses\" 2603::1 is outside \"ipv6SubnetCidrBlock\" 2604::/64");
  CHECK(parse(one_vnic(kGoodMembers + R"(, "vnicId": "ocid1 vnic")")) ==
        "oracle: vnics/ entry 1: \"vnicId\": \"ocid1 vnic\" is not a resource id (only A-Z a-z 0-9 . _ : -)");
  CHECK(parse("[ {" + kGoodMembers + "}, {" + kGoodMembers + "} ]") ==
        "oracle: vnics/ entry 2: \"macAddr\" 02:00:17:05:d1:db is also in entry 1");
  CHECK(parse(R"([ {"vnicId": "ocid1.vnic.oc1.phx.a", "macAddr": "02:00:17:00:00:01", "privateIp": "10.0.0.5", )"
              R"("subnetCidrBlock": "10.0.0.0/24", "virtualRouterIp": "10.0.0.1"}, )"
              R"({"vnicId": "ocid1.vnic.oc1.phx.a", "macAddr": "02:00:17:00:00:02", "ipv6Addresses": ["2603::5"]} ])") ==
        "oracle: vnics/ entry 2: \"vnicId\" ocid1.vnic.oc1.phx.a is also in entry 1");
}

TEST_CASE("secondary IPs from configuration are merged by VNIC id or by MAC in either case") {
  const nlohmann::json fixture = load_fixture(kTwoVnics);
  const std::string body = response_of(fixture, "/opc/v2/vnics/");
  auto merged = [&](const SecondaryIps& config) {
    auto vnics = nicsync::oracle::parse_vnics(body, Machine::virtual_machine).value();
    auto result = nicsync::oracle::add_secondary_ips(vnics, config);
    REQUIRE_MESSAGE(result.ok(), result.error().message);
    return join(vnics[0].ipv4.addresses) + " | " + join(vnics[1].ipv4.addresses);
  };
  CHECK(merged({}) == "172.16.1.10 | 172.16.2.10");
  CHECK(merged(ips(kSecondVnic, {"172.16.2.11", "172.16.2.12"})) == "172.16.1.10 | 172.16.2.10 172.16.2.11 172.16.2.12");
  CHECK(merged(ips("00:00:17:02:2B:B1", {"172.16.2.12"})) == "172.16.1.10 | 172.16.2.10 172.16.2.12");
  CHECK(merged(ips("00:00:17:02:2b:b1", {"172.16.2.12", "172.16.2.11"})) ==
        "172.16.1.10 | 172.16.2.10 172.16.2.12 172.16.2.11");
  CHECK(merged(ips("02:00:17:05:d1:db", {"172.16.1.20"})) == "172.16.1.10 172.16.1.20 | 172.16.2.10");

  // The private IP or a repeat listed again is dropped; both keys of one VNIC add up (in key order).
  SecondaryIps both = ips(kSecondVnic, {"172.16.2.10", "172.16.2.11"});
  both["00:00:17:02:2B:B1"] = {*Ipv4Address::parse("172.16.2.11"), *Ipv4Address::parse("172.16.2.13")};
  CHECK(merged(both) == "172.16.1.10 | 172.16.2.10 172.16.2.11 172.16.2.13");

  // A key that names no VNIC (a detached one, another instance's) is ignored.
  CHECK(merged(ips("ocid1.vnic.oc1.phx.gone", {"10.9.9.9"})) == "172.16.1.10 | 172.16.2.10");
  CHECK(merged(ips("02:00:17:00:00:01", {"10.9.9.9"})) == "172.16.1.10 | 172.16.2.10");
}

TEST_CASE("a configured secondary IP outside the VNIC's subnet, or on an IPv6-only VNIC, is an error naming it") {
  const nlohmann::json fixture = load_fixture(kTwoVnics);
  auto vnics = nicsync::oracle::parse_vnics(response_of(fixture, "/opc/v2/vnics/"), Machine::virtual_machine).value();
  CHECK(error_of(nicsync::oracle::add_secondary_ips(vnics, ips("00:00:17:02:2B:B1", {"172.16.2.11", "172.16.1.11"}))) ==
        "oracle: secondary IPs for \"00:00:17:02:2B:B1\": 172.16.1.11 is outside the subnet 172.16.2.0/24 of vnics/ "
        "entry 2");
  CHECK(error_of(nicsync::oracle::add_secondary_ips(vnics, ips(kSecondVnic, {"10.0.0.1"}))) ==
        "oracle: secondary IPs for \"" + kSecondVnic + "\": 10.0.0.1 is outside the subnet 172.16.2.0/24 of vnics/ entry 2");

  auto dual = nicsync::oracle::parse_vnics(kDualStackVnics, Machine::virtual_machine).value();
  CHECK(error_of(nicsync::oracle::add_secondary_ips(dual, ips("ocid1.vnic.oc1.iad.v6only1", {"10.0.0.9"}))) ==
        "oracle: secondary IPs for \"ocid1.vnic.oc1.iad.v6only1\": 10.0.0.9 cannot be added: vnics/ entry 2 has no "
        "IPv4 subnet");
}

// ---- fetch_oracle over the fake ----

TEST_CASE("fetch_oracle: one VNIC with a secondary IP from configuration (oracle-seed-secondary-ip)") {
  const nlohmann::json fixture = load_fixture(kSeed);
  FakeHttpClient fake;
  serve_fixture(fake, fixture);
  auto instance = nicsync::fetch_oracle(fake, kEndpoint, secondary_ips_of(fixture));
  REQUIRE_MESSAGE(instance.ok(), instance.error().message);
  CHECK(describe(*instance) == kSeedExpected);
  CHECK(request_lines(fake) == "GET /opc/v2/instance/\nGET /opc/v2/vnics/\n");
  CHECK(batches(fake) == "2");
  for (const HttpRequest& request : fake.requests) CHECK(header_value(request, "Authorization") == "Bearer Oracle");

  // Without configuration the VNIC has its private IP only.
  FakeHttpClient bare;
  serve_fixture(bare, fixture);
  auto plain = nicsync::fetch_oracle(bare, kEndpoint, {});
  REQUIRE(plain.ok());
  CHECK(join(plain->interfaces[0].ipv4.addresses) == "10.0.1.2");
}

TEST_CASE("fetch_oracle: a secondary VNIC, secondary IPs keyed by VNIC id or MAC (oracle-vm-secondary-vnic)") {
  const nlohmann::json fixture = load_fixture(kTwoVnics);
  for (const SecondaryIps& config : {secondary_ips_of(fixture), ips("00:00:17:02:2B:B1", {"172.16.2.11", "172.16.2.12"}),
                                     ips("00:00:17:02:2b:b1", {"172.16.2.11", "172.16.2.12"})}) {
    CAPTURE(config.begin()->first);
    FakeHttpClient fake;
    serve_fixture(fake, fixture);
    auto instance = nicsync::fetch_oracle(fake, kEndpoint + "/", config);
    REQUIRE_MESSAGE(instance.ok(), instance.error().message);
    CHECK(describe(*instance) == kTwoVnicsExpected);
    CHECK(request_lines(fake) == "GET /opc/v2/instance/\nGET /opc/v2/vnics/\n");
    CHECK(batches(fake) == "2");
  }
}

TEST_CASE("fetch_oracle: falls back to /opc/v1/ only when v2 answers 404") {
  const nlohmann::json fixture = load_fixture(kTwoVnics);
  FakeHttpClient fake;
  fake.set_body(HttpMethod::get, kEndpoint + "/opc/v1/instance/", response_of(fixture, "/opc/v2/instance/"));
  fake.set_body(HttpMethod::get, kEndpoint + "/opc/v1/vnics/", response_of(fixture, "/opc/v2/vnics/"));
  auto instance = nicsync::fetch_oracle(fake, kEndpoint, ips(kSecondVnic, {"172.16.2.11", "172.16.2.12"}));
  REQUIRE_MESSAGE(instance.ok(), instance.error().message);
  CHECK(describe(*instance) == kTwoVnicsExpected);
  CHECK(request_lines(fake) == "GET /opc/v2/instance/\nGET /opc/v2/vnics/\nGET /opc/v1/instance/\nGET /opc/v1/vnics/\n");
  CHECK(batches(fake) == "2 2");

  // Neither served: the v1 404 is the error.
  FakeHttpClient nothing;
  CHECK(error_of(nicsync::fetch_oracle(nothing, kEndpoint, {})) == "oracle: GET /opc/v1/instance/: HTTP 404");
}

TEST_CASE("fetch_oracle: any other v2 failure is an error, not a fallback") {
  const nlohmann::json fixture = load_fixture(kTwoVnics);
  {
    FakeHttpClient fake;
    serve_fixture(fake, fixture);
    fake.remove(HttpMethod::get, kEndpoint + "/opc/v2/vnics/");
    CHECK(error_of(nicsync::fetch_oracle(fake, kEndpoint, {})) == "oracle: GET /opc/v2/vnics/: HTTP 404");
    CHECK(batches(fake) == "2");
  }
  {
    FakeHttpClient fake;
    serve_fixture(fake, fixture);
    HttpResponse unauthorised;
    unauthorised.status = 401;
    fake.set(HttpMethod::get, kEndpoint + "/opc/v2/instance/", unauthorised);
    CHECK(error_of(nicsync::fetch_oracle(fake, kEndpoint, {})) == "oracle: GET /opc/v2/instance/: HTTP 401");
    CHECK(batches(fake) == "2");
  }
  {
    FakeHttpClient fake;
    serve_fixture(fake, fixture);
    HttpResponse refused;
    refused.transport_error = "Connection refused";
    fake.set(HttpMethod::get, kEndpoint + "/opc/v2/vnics/", refused);
    CHECK(error_of(nicsync::fetch_oracle(fake, kEndpoint, {})) ==
          "oracle: GET /opc/v2/vnics/: Connection refused (http://169.254.169.254/opc/v2/vnics/)");
  }
}

TEST_CASE("fetch_oracle: bad metadata is one line naming the document, the entry and the value") {
  const nlohmann::json fixture = load_fixture(kTwoVnics);
  const std::string vnics = response_of(fixture, "/opc/v2/vnics/");
  FakeHttpClient fake;
  serve_fixture(fake, fixture);
  fake.set_body(HttpMethod::get, kEndpoint + "/opc/v2/vnics/", vnics.substr(0, 300));
  CHECK(error_of(nicsync::fetch_oracle(fake, kEndpoint, {})) == "oracle: vnics/: truncated or invalid JSON (at byte 301)");

  std::string without_mac = vnics;
  without_mac.replace(without_mac.find("\"macAddr\" : \"00:00:17:02:2B:B1\","), 32, "");
  fake.set_body(HttpMethod::get, kEndpoint + "/opc/v2/vnics/", without_mac);
  CHECK(error_of(nicsync::fetch_oracle(fake, kEndpoint, {})) == "oracle: vnics/ entry 2: \"macAddr\" is missing");

  fake.set_body(HttpMethod::get, kEndpoint + "/opc/v2/vnics/", vnics);
  CHECK(error_of(nicsync::fetch_oracle(fake, kEndpoint, ips(kSecondVnic, {"172.16.3.11"}))) ==
        "oracle: secondary IPs for \"" + kSecondVnic + "\": 172.16.3.11 is outside the subnet 172.16.2.0/24 of vnics/ "
        "entry 2");

  fake.set_body(HttpMethod::get, kEndpoint + "/opc/v2/instance/", "{\"displayName\": \"vm\"}");
  CHECK(error_of(nicsync::fetch_oracle(fake, kEndpoint, {})) == "oracle: instance/: \"id\" is missing");
}

// ---- through curl and the mock ----

TEST_CASE("fetch_oracle through curl and the mock equals fetch_oracle over the fake, for every Oracle fixture") {
  struct Case {
    const char* fixture;
    const char* expected;
  };
  for (const Case& c : {Case{kSeed, kSeedExpected}, Case{kTwoVnics, kTwoVnicsExpected}}) {
    CAPTURE(c.fixture);
    const nlohmann::json fixture = load_fixture(c.fixture);
    nicsync::mock::MockImds mock(fixture_path(c.fixture));
    mock.start("127.0.0.1", 0);
    auto client = nicsync::make_http_client(patient_options());
    auto instance = nicsync::fetch_oracle(*client, mock.url(), secondary_ips_of(fixture));
    REQUIRE_MESSAGE(instance.ok(), instance.error().message);
    CHECK(describe(*instance) == c.expected);
    auto recorded = mock.requests();
    REQUIRE(recorded.size() == 2);
    for (const nicsync::mock::RecordedRequest& request : recorded) {
      CHECK(request.method == "GET");
      CHECK(request.status == 200);
      CHECK(request.headers.at("Authorization") == "Bearer Oracle");
    }
  }
}

TEST_CASE("fetch_oracle through curl falls back to v1 on a mock that serves no v2") {
  const nlohmann::json fixture = load_fixture(kTwoVnics);
  nicsync::mock::MockImds mock(fixture_path(kTwoVnics));
  for (const char* path : {"/opc/v2/instance/", "/opc/v2/instance", "/opc/v2/vnics/", "/opc/v2/vnics"}) {
    mock.set_response(path, std::nullopt);
  }
  mock.set_response("/opc/v1/instance/", response_of(fixture, "/opc/v2/instance/"));
  mock.set_response("/opc/v1/vnics/", response_of(fixture, "/opc/v2/vnics/"));
  mock.start("127.0.0.1", 0);
  auto client = nicsync::make_http_client(patient_options());
  auto instance = nicsync::fetch_oracle(*client, mock.url(), secondary_ips_of(fixture));
  REQUIRE_MESSAGE(instance.ok(), instance.error().message);
  CHECK(describe(*instance) == kTwoVnicsExpected);
  // Each version's two requests go out in parallel, so their order on the wire is not fixed.
  auto recorded = mock.requests();
  REQUIRE(recorded.size() == 4);
  auto seen = [&](size_t first) {
    std::set<std::string> out;
    for (size_t i = first; i < first + 2; ++i) out.insert(recorded[i].path + " " + std::to_string(recorded[i].status));
    return out;
  };
  CHECK(seen(0) == std::set<std::string>{"/opc/v2/instance/ 404", "/opc/v2/vnics/ 404"});
  CHECK(seen(2) == std::set<std::string>{"/opc/v1/instance/ 200", "/opc/v1/vnics/ 200"});
}

}  // TEST_SUITE
