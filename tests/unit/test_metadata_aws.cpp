#include <doctest/doctest.h>

#include <chrono>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "fake_http.hpp"
#include "instance_text.hpp"
#include "metadata/aws.hpp"
#include "nicsync/provider.hpp"

using nicsync::HttpMethod;
using nicsync::HttpRequest;
using nicsync::HttpResponse;
using nicsync::Instance;
using nicsync::Interface;
using nicsync::MacAddress;
using nicsync::NicRole;
using nicsync::testing::FakeHttpClient;
using nicsync::testing::header_value;
using nicsync::testing::serve_fixture;

using nicsync::test::join;
using nicsync::test::request_lines;
using nicsync::test::batches;

namespace {

const std::string kEndpoint = "http://169.254.169.254";
const std::string kMacs = "/latest/meta-data/network/interfaces/macs/";

nlohmann::json load_fixture(const std::string& name) {
  std::ifstream in(std::string(NICSYNC_TEST_FIXTURES) + "/" + name);
  REQUIRE_MESSAGE(in.good(), "cannot open fixture " << name);
  return nlohmann::json::parse(in);
}

MacAddress mac(const char* text) { return nicsync::MacAddress::parse(text).value(); }

/// Values printed with str(), separated by spaces: "10.0.0.76 10.0.0.58".
std::string error_of(const nicsync::Result<Instance>& result) {
  REQUIRE_FALSE(result.ok());
  return result.error().message;
}

/// Every GET carries the token, the PUT carries the TTL; returns how many PUTs there were.
int check_token_headers(const FakeHttpClient& fake, const std::string& token) {
  int puts = 0;
  for (const HttpRequest& request : fake.requests) {
    if (request.method == HttpMethod::put) {
      ++puts;
      CHECK(header_value(request, "X-aws-ec2-metadata-token-ttl-seconds") == "21600");
    } else {
      CHECK_MESSAGE(header_value(request, "X-aws-ec2-metadata-token") == token, request.url);
    }
  }
  return puts;
}

/// Options whose waits are recorded (in ms) instead of slept.
nicsync::AwsOptions recording_options(std::vector<long>& sleeps) {
  nicsync::AwsOptions options;
  options.sleep = [&sleeps](std::chrono::milliseconds delay) { sleeps.push_back(static_cast<long>(delay.count())); };
  return options;
}

/// The requests of a fetch of two NICs, `first` then `second` (their macs/<mac>/ paths): the
/// token, the top keys and the NIC list, then each NIC's listing and eager keys.
std::string two_nic_requests(const std::string& first, const std::string& second) {
  std::string out = "PUT /latest/api/token\nGET /latest/meta-data/mac\nGET /latest/meta-data/instance-id\nGET " +
                    kMacs + "\n";
  for (const std::string& nic : {first, second}) {
    out += "GET " + nic + "\n";
    for (const char* key : {"device-number", "interface-id", "local-ipv4s", "subnet-ipv4-cidr-block"}) {
      out += "GET " + nic + key + "\n";
    }
  }
  return out;
}

std::map<std::string, std::string> leaves_of(const char* device, const char* ipv4s, const char* subnet) {
  return {{"device-number", device}, {"local-ipv4s", ipv4s}, {"subnet-ipv4-cidr-block", subnet}};
}

}  // namespace

TEST_SUITE("metadata::aws") {

// ---- parsers ----

TEST_CASE("the macs listing gives one MAC per folder line, in listing order") {
  auto macs = nicsync::aws::parse_mac_listing("0a:75:69:92:e2:16/\n0A:07:84:3D:6E:38/\n");
  REQUIRE(macs.ok());
  CHECK(join(*macs) == "0a:75:69:92:e2:16 0a:07:84:3d:6e:38");
}

TEST_CASE("a bad macs listing names the line and what is wrong") {
  using nicsync::aws::parse_mac_listing;
  CHECK(parse_mac_listing("").error().message == "aws: macs/ is empty");
  CHECK(parse_mac_listing("\n\n").error().message == "aws: macs/ is empty");
  CHECK(parse_mac_listing("0a:75:69:92:e2:16/\n0a:07:84:3d:6e:38").error().message ==
        "aws: macs/ line 2: \"0a:07:84:3d:6e:38\" does not end with \"/\"");
  CHECK(parse_mac_listing("0a:75:69:92:e2:16/\nzz:07:84:3d:6e:38/").error().message ==
        "aws: macs/ line 2: \"zz:07:84:3d:6e:38\" is not a MAC address");
  CHECK(parse_mac_listing("0a:75:69:92:e2:16/\n\n0a:07:84:3d:6e:38/").error().message ==
        "aws: macs/ line 2: empty line");
  CHECK(parse_mac_listing("0a:75:69:92:e2:16/\n0A:75:69:92:E2:16/").error().message ==
        "aws: macs/ line 2: \"0A:75:69:92:E2:16/\" is listed twice");
}

TEST_CASE("multi-line leaves keep their order and ignore blank trailing lines") {
  auto v4 = nicsync::aws::parse_ipv4_lines("172.31.44.13\n172.31.45.70\n\n", "macs/x/local-ipv4s");
  REQUIRE(v4.ok());
  CHECK(join(*v4) == "172.31.44.13 172.31.45.70");
  auto v6 = nicsync::aws::parse_ipv6_lines("2600:1F16:292:100:0:0:0:1\n2600:1f16:292:100::2", "macs/x/ipv6s");
  REQUIRE(v6.ok());
  CHECK(join(*v6) == "2600:1f16:292:100::1 2600:1f16:292:100::2");
  auto p4 = nicsync::aws::parse_ipv4_cidr_lines("10.0.0.16/28\n", "macs/x/ipv4-prefix");
  REQUIRE(p4.ok());
  CHECK(join(*p4) == "10.0.0.16/28");
  auto p6 = nicsync::aws::parse_ipv6_cidr_lines("2600:1f16:292:100:1234::/80", "macs/x/ipv6-prefix");
  REQUIRE(p6.ok());
  CHECK(join(*p6) == "2600:1f16:292:100:1234::/80");
  auto none = nicsync::aws::parse_ipv6_lines("", "macs/x/ipv6s");
  REQUIRE(none.ok());
  CHECK(none->empty());
}

TEST_CASE("a bad value in a multi-line leaf names the key and the line") {
  const std::string where = "macs/0a:07:84:3d:6e:38/local-ipv4s";
  CHECK(nicsync::aws::parse_ipv4_lines("172.31.44.13\n172.31.45.700", where).error().message ==
        "aws: macs/0a:07:84:3d:6e:38/local-ipv4s line 2: \"172.31.45.700\" is not an IPv4 address");
  CHECK(nicsync::aws::parse_ipv4_lines("172.31.44.13\n172.31.44.13", where).error().message ==
        "aws: macs/0a:07:84:3d:6e:38/local-ipv4s line 2: \"172.31.44.13\" is listed twice");
  CHECK(nicsync::aws::parse_ipv4_lines("172.31.44.13\n\n172.31.44.14", where).error().message ==
        "aws: macs/0a:07:84:3d:6e:38/local-ipv4s line 2: empty line");
  CHECK(nicsync::aws::parse_ipv6_lines("2600::1\n2600:0::1", "macs/m/ipv6s").error().message ==
        "aws: macs/m/ipv6s line 2: \"2600:0::1\" is listed twice");
  CHECK(nicsync::aws::parse_ipv6_lines("2600::1\n10.0.0.1", "macs/m/ipv6s").error().message ==
        "aws: macs/m/ipv6s line 2: \"10.0.0.1\" is not an IPv6 address");
  CHECK(nicsync::aws::parse_ipv4_cidr_lines("10.0.0.17/28", "macs/m/ipv4-prefix").error().message ==
        "aws: macs/m/ipv4-prefix line 1: \"10.0.0.17/28\" has host bits set (the network is 10.0.0.16/28)");
  CHECK(nicsync::aws::parse_ipv6_cidr_lines("2600::1/64", "macs/m/ipv6-prefix").error().message ==
        "aws: macs/m/ipv6-prefix line 1: \"2600::1/64\" has host bits set");
}

TEST_CASE("device-number and network-card are decimal numbers from 0 to 255") {
  using nicsync::aws::parse_small_number;
  CHECK(parse_small_number("0", "w").value() == 0);
  CHECK(parse_small_number("255", "w").value() == 255);
  CHECK(parse_small_number("7\n", "w").value() == 7);
  const std::string where = "macs/0a:07:84:3d:6e:38/device-number";
  CHECK(parse_small_number("256", where).error().message ==
        "aws: macs/0a:07:84:3d:6e:38/device-number: \"256\" is not a number from 0 to 255");
  CHECK(parse_small_number("-1", where).error().message ==
        "aws: macs/0a:07:84:3d:6e:38/device-number: \"-1\" is not a number from 0 to 255");
  CHECK(parse_small_number("", where).error().message ==
        "aws: macs/0a:07:84:3d:6e:38/device-number: \"\" is not a number from 0 to 255");
  CHECK(parse_small_number("0x1", where).error().message ==
        "aws: macs/0a:07:84:3d:6e:38/device-number: \"0x1\" is not a number from 0 to 255");
  CHECK(parse_small_number("1 2", where).error().message ==
        "aws: macs/0a:07:84:3d:6e:38/device-number: \"1 2\" is not a number from 0 to 255");
}

TEST_CASE("the IPv4 subnet must be a network with room for a gateway") {
  using nicsync::aws::parse_ipv4_subnet;
  const std::string where = "macs/0a:07:84:3d:6e:38/subnet-ipv4-cidr-block";
  CHECK(parse_ipv4_subnet("172.31.32.0/20", where).value().str() == "172.31.32.0/20");
  CHECK(parse_ipv4_subnet("10.0.0.5/24", where).error().message ==
        "aws: macs/0a:07:84:3d:6e:38/subnet-ipv4-cidr-block: \"10.0.0.5/24\" has host bits set (the network is "
        "10.0.0.0/24)");
  CHECK(parse_ipv4_subnet("10.0.0.0", where).error().message ==
        "aws: macs/0a:07:84:3d:6e:38/subnet-ipv4-cidr-block: \"10.0.0.0\" is not an IPv4 CIDR block");
  CHECK(parse_ipv4_subnet("10.0.0.0/31", where).error().message ==
        "aws: macs/0a:07:84:3d:6e:38/subnet-ipv4-cidr-block: \"10.0.0.0/31\" leaves no room for a gateway");
}

TEST_CASE("single values: the primary MAC and the ids") {
  CHECK(nicsync::aws::parse_mac("0a:07:84:3d:6e:38\n", "mac").value().str() == "0a:07:84:3d:6e:38");
  CHECK(nicsync::aws::parse_mac("0a:07:84:3d:6e", "mac").error().message ==
        "aws: mac: \"0a:07:84:3d:6e\" is not a MAC address");
  CHECK(nicsync::aws::parse_resource_id("i-069e01e8cc43732f8", "instance-id").value().str() == "i-069e01e8cc43732f8");
  CHECK(nicsync::aws::parse_resource_id("i-0 abc", "instance-id").error().message ==
        "aws: instance-id: \"i-0 abc\" is not a resource id (only A-Z a-z 0-9 . _ : -)");
  CHECK(nicsync::aws::parse_resource_id("", "macs/m/interface-id").error().message ==
        "aws: macs/m/interface-id: \"\" is not a resource id (1-255 characters)");
}

TEST_CASE("only the known keys a NIC lists are fetched, and the required ones must be listed") {
  const MacAddress nic = mac("0a:07:84:3d:6e:38");
  auto keys = nicsync::aws::keys_to_fetch(
      nic, "device-number\nipv6s\ninterface-id\nipv4-associations/\nlocal-ipv4s\nmac\nsubnet-ipv4-cidr-block\n");
  REQUIRE(keys.ok());
  CHECK(*keys == std::vector<std::string>{"device-number", "interface-id", "local-ipv4s", "subnet-ipv4-cidr-block",
                                          "ipv6s"});
  CHECK(nicsync::aws::keys_to_fetch(nic, "interface-id\nlocal-ipv4s\nmac").error().message ==
        "aws: macs/0a:07:84:3d:6e:38/: does not list device-number, subnet-ipv4-cidr-block");
}

TEST_CASE("an ENI in an IPv6-only subnet lists ipv6s and neither IPv4 key; any other NIC needs both") {
  const MacAddress nic = mac("06:1f:a8:6d:c2:73");
  auto keys =
      nicsync::aws::keys_to_fetch(nic, "device-number\ninterface-id\nipv6s\nmac\nsubnet-ipv6-cidr-blocks\n");
  REQUIRE(keys.ok());
  CHECK(*keys ==
        std::vector<std::string>{"device-number", "interface-id", "ipv6s", "subnet-ipv6-cidr-blocks"});
  CHECK(nicsync::aws::keys_to_fetch(nic, "device-number\nipv6s\nlocal-ipv4s").error().message ==
        "aws: macs/06:1f:a8:6d:c2:73/: does not list subnet-ipv4-cidr-block");
  CHECK(nicsync::aws::keys_to_fetch(nic, "device-number\nmac\nsubnet-ipv6-cidr-blocks").error().message ==
        "aws: macs/06:1f:a8:6d:c2:73/: does not list local-ipv4s, subnet-ipv4-cidr-block");
}

TEST_CASE("an IPv6-only NIC: no IPv4, its IPv6 addresses in their subnet") {
  const MacAddress m = mac("06:1f:a8:6d:c2:73");
  std::map<std::string, std::string> leaves = {
      {"device-number", "2"},
      {"ipv6s", "2600:1f14:a4b:b02:7d15:30c4:e6a9:1f82\n2600:1f14:a4b:b02:4f0b:92ee:d371:6c05"},
      {"subnet-ipv6-cidr-blocks", "2600:1f14:a4b:b02::/64"}};
  auto nic = nicsync::aws::parse_interface(m, leaves);
  REQUIRE_MESSAGE(nic.ok(), nic.error().message);
  CHECK(nic->index == 2);
  CHECK(nic->ipv4.addresses.empty());
  CHECK_FALSE(nic->ipv4.subnet.has_value());
  CHECK_FALSE(nic->ipv4.gateway.has_value());
  CHECK(join(nic->ipv6.addresses) ==
        "2600:1f14:a4b:b02:7d15:30c4:e6a9:1f82 2600:1f14:a4b:b02:4f0b:92ee:d371:6c05");
  CHECK(join(nic->ipv6.subnets) == "2600:1f14:a4b:b02::/64");

  leaves["ipv6s"] = "";
  CHECK(nicsync::aws::parse_interface(m, leaves).error().message ==
        "aws: macs/06:1f:a8:6d:c2:73/ipv6s: is empty (the NIC has no local-ipv4s either)");
  leaves["ipv6s"] = "2600:1f14:a4b:b02:7d15:30c4:e6a9:1f82";
  leaves["local-ipv4s"] = "10.20.2.9";
  CHECK(nicsync::aws::parse_interface(m, leaves).error().message ==
        "aws: macs/06:1f:a8:6d:c2:73/: lacks subnet-ipv4-cidr-block");
  CHECK(nicsync::aws::parse_interface(m, {{"device-number", "2"}}).error().message ==
        "aws: macs/06:1f:a8:6d:c2:73/: lacks local-ipv4s, subnet-ipv4-cidr-block");
}

TEST_CASE("a NIC: index, card, addresses in order, subnet and gateway = network + 1") {
  auto leaves = leaves_of("2", "10.0.1.20\n10.0.1.21", "10.0.1.0/24");
  leaves["network-card"] = "1";
  leaves["interface-id"] = "eni-0abc";
  leaves["ipv4-prefix"] = "10.0.1.64/28";
  leaves["ipv6s"] = "2600:1f16::5";
  leaves["subnet-ipv6-cidr-blocks"] = "2600:1f16::/64";
  leaves["ipv6-prefix"] = "2600:1f16::1230:0:0:0/80";
  auto nic = nicsync::aws::parse_interface(mac("0a:00:00:00:00:01"), leaves);
  REQUIRE(nic.ok());
  CHECK(nic->role == NicRole::secondary);
  CHECK(nic->index == 2);
  CHECK(nic->card == 1);
  CHECK(nic->id->str() == "eni-0abc");
  CHECK(join(nic->ipv4.addresses) == "10.0.1.20 10.0.1.21");
  CHECK(nic->ipv4.subnet->str() == "10.0.1.0/24");
  CHECK(nic->ipv4.gateway->str() == "10.0.1.1");
  CHECK(join(nic->ipv4.delegated_prefixes) == "10.0.1.64/28");
  CHECK(join(nic->ipv6.addresses) == "2600:1f16::5");
  CHECK(join(nic->ipv6.subnets) == "2600:1f16::/64");
  CHECK(join(nic->ipv6.delegated_prefixes) == "2600:1f16:0:0:1230::/80");
  CHECK_FALSE(nic->ipv6.gateway.has_value());
}

TEST_CASE("a NIC without network-card sits on card 0 and may lack the optional keys") {
  auto nic = nicsync::aws::parse_interface(mac("0a:00:00:00:00:01"), leaves_of("0", "10.0.1.20", "10.0.1.0/24"));
  REQUIRE(nic.ok());
  CHECK(nic->card == 0);
  CHECK_FALSE(nic->id.has_value());
  CHECK(nic->ipv6.addresses.empty());
  CHECK(nic->ipv6.subnets.empty());
}

TEST_CASE("a NIC's addresses must lie in its subnets") {
  const MacAddress m = mac("0a:00:00:00:00:01");
  CHECK(nicsync::aws::parse_interface(m, leaves_of("1", "10.0.1.20\n10.0.2.7", "10.0.1.0/24")).error().message ==
        "aws: macs/0a:00:00:00:00:01/local-ipv4s line 2: 10.0.2.7 is outside the subnet 10.0.1.0/24");
  auto leaves = leaves_of("1", "10.0.1.20", "10.0.1.0/24");
  leaves["ipv6s"] = "2600:1f16::5\n2600:1f17::5";
  leaves["subnet-ipv6-cidr-blocks"] = "2600:1f16::/64";
  CHECK(nicsync::aws::parse_interface(m, leaves).error().message ==
        "aws: macs/0a:00:00:00:00:01/ipv6s line 2: 2600:1f17::5 is outside subnet-ipv6-cidr-blocks");
  CHECK(nicsync::aws::parse_interface(m, leaves_of("1", "", "10.0.1.0/24")).error().message ==
        "aws: macs/0a:00:00:00:00:01/local-ipv4s: is empty");
  CHECK(nicsync::aws::parse_interface(m, {{"local-ipv4s", "10.0.1.20"}}).error().message ==
        "aws: macs/0a:00:00:00:00:01/: lacks device-number, subnet-ipv4-cidr-block");
}

TEST_CASE("the instance: primary by MAC, sorted by (card, index), one NIC per slot") {
  auto make = [](const char* m, const char* device, const char* card) {
    auto leaves = leaves_of(device, "10.0.1.20", "10.0.1.0/24");
    leaves["network-card"] = card;
    return nicsync::aws::parse_interface(mac(m), leaves).value();
  };
  const auto id = nicsync::ResourceId::parse("i-1").value();
  auto instance = nicsync::aws::assemble_instance(
      mac("0a:00:00:00:00:01"), id,
      {make("0a:00:00:00:00:03", "0", "1"), make("0a:00:00:00:00:02", "1", "0"), make("0a:00:00:00:00:01", "0", "0")});
  REQUIRE(instance.ok());
  CHECK(instance->vendor == nicsync::Vendor::aws);
  CHECK(instance->instance_id->str() == "i-1");
  REQUIRE(instance->interfaces.size() == 3);
  CHECK(instance->interfaces[0].mac.str() == "0a:00:00:00:00:01");
  CHECK(instance->interfaces[0].role == NicRole::primary);
  CHECK(instance->interfaces[1].mac.str() == "0a:00:00:00:00:02");
  CHECK(instance->interfaces[1].role == NicRole::secondary);
  CHECK(instance->interfaces[2].mac.str() == "0a:00:00:00:00:03");
  CHECK(instance->primary() == &instance->interfaces[0]);

  CHECK(nicsync::aws::assemble_instance(mac("0a:00:00:00:00:09"), id, {make("0a:00:00:00:00:01", "0", "0")})
            .error()
            .message == "aws: mac: 0a:00:00:00:00:09 is not in macs/");
  CHECK(nicsync::aws::assemble_instance(mac("0a:00:00:00:00:01"), id,
                                        {make("0a:00:00:00:00:01", "0", "0"), make("0a:00:00:00:00:02", "1", "0"),
                                         make("0a:00:00:00:00:03", "1", "0")})
            .error()
            .message ==
        "aws: macs/0a:00:00:00:00:02/ and macs/0a:00:00:00:00:03/ both have network-card 0 and device-number 1");
}

// ---- fetch_aws over the fake ----

TEST_CASE("fetch_aws: one ENI with a secondary IP (aws-seed-single-eni)") {
  FakeHttpClient fake;
  serve_fixture(fake, load_fixture("aws-seed-single-eni.json"));
  auto instance = nicsync::fetch_aws(fake, kEndpoint);
  REQUIRE_MESSAGE(instance.ok(), instance.error().message);

  CHECK(instance->vendor == nicsync::Vendor::aws);
  CHECK(instance->instance_id->str() == "i-4fce234d");
  REQUIRE(instance->interfaces.size() == 1);
  const Interface& eth0 = instance->interfaces[0];
  CHECK(eth0.mac.str() == "06:16:62:3a:1c:a1");
  CHECK(eth0.role == NicRole::primary);
  CHECK(eth0.index == 0);
  CHECK(eth0.card == 0);
  CHECK(eth0.id->str() == "eni-b7b0b6de");
  CHECK(join(eth0.ipv4.addresses) == "192.168.1.100 192.168.1.101");
  CHECK(eth0.ipv4.subnet->str() == "192.168.1.0/24");
  CHECK(eth0.ipv4.gateway->str() == "192.168.1.1");
  CHECK(eth0.ipv4.delegated_prefixes.empty());
  CHECK(eth0.ipv6.addresses.empty());
  CHECK(eth0.ipv6.subnets.empty());
  CHECK_FALSE(eth0.os_name.has_value());
  CHECK_FALSE(eth0.vlan.has_value());

  const std::string nic = kMacs + "06:16:62:3a:1c:a1/";
  CHECK(request_lines(fake) ==
        "PUT /latest/api/token\n"
        "GET /latest/meta-data/mac\n"
        "GET /latest/meta-data/instance-id\n"
        "GET " + kMacs + "\n"
        "GET " + nic + "\n"
        "GET " + nic + "device-number\n"
        "GET " + nic + "interface-id\n"
        "GET " + nic + "local-ipv4s\n"
        "GET " + nic + "subnet-ipv4-cidr-block\n");
  CHECK(batches(fake) == "1 3 5");
  CHECK(check_token_headers(fake, "AQAEAXDnLQAaeuRFo/1kmMPqmZY7LUUyvjvAEX472CQOGTgpNBR945QirJdl+") == 1);
}

TEST_CASE("fetch_aws: two ENIs in one subnet (aws-seed-two-eni)") {
  FakeHttpClient fake;
  serve_fixture(fake, load_fixture("aws-seed-two-eni.json"));
  auto instance = nicsync::fetch_aws(fake, kEndpoint);
  REQUIRE_MESSAGE(instance.ok(), instance.error().message);

  CHECK(instance->instance_id->str() == "i-094226850fb16bdf1");
  REQUIRE(instance->interfaces.size() == 2);
  const Interface& eth0 = instance->interfaces[0];
  CHECK(eth0.mac.str() == "02:86:10:77:7f:fe");
  CHECK(eth0.role == NicRole::primary);
  CHECK(eth0.index == 0);
  CHECK(eth0.card == 0);
  CHECK(eth0.id->str() == "eni-05af1804c2797549f");
  CHECK(join(eth0.ipv4.addresses) == "10.0.0.76 10.0.0.58");
  CHECK(eth0.ipv4.subnet->str() == "10.0.0.0/24");
  CHECK(eth0.ipv4.gateway->str() == "10.0.0.1");
  const Interface& eth1 = instance->interfaces[1];
  CHECK(eth1.mac.str() == "02:86:10:65:fd:31");
  CHECK(eth1.role == NicRole::secondary);
  CHECK(eth1.index == 1);
  CHECK(eth1.card == 0);
  CHECK(eth1.id->str() == "eni-0e7275b13b81f8bd2");
  CHECK(join(eth1.ipv4.addresses) == "10.0.0.226");
  CHECK(eth1.ipv4.subnet->str() == "10.0.0.0/24");
  CHECK(eth1.ipv4.gateway->str() == "10.0.0.1");
  CHECK(eth1.ipv6.addresses.empty());

  // The listing order (fd:31 first) drives the request order; the result is sorted by index.
  const std::string a = kMacs + "02:86:10:65:fd:31/";
  const std::string b = kMacs + "02:86:10:77:7f:fe/";
  CHECK(request_lines(fake) == two_nic_requests(a, b));
  CHECK(batches(fake) == "1 3 10");
  CHECK(check_token_headers(fake, "AQAEAdy3kLUXm/ZYa4rOVIOBDSxeY5JII9fPqvOcUhCMZt+8PnRT0HW3hOwfc") == 1);
  using Prepared = std::vector<std::pair<std::string, size_t>>;
  CHECK(fake.prepared == Prepared{{kEndpoint + "/", 3}});
}

/// The NICs of a fetch, one line each: MAC, role, index, addresses.
std::string nics_of(const Instance& instance) {
  std::string out;
  for (const Interface& nic : instance.interfaces) {
    out += nic.mac.str() + (nic.role == NicRole::primary ? " primary " : " secondary ") +
           std::to_string(nic.index.value_or(-1)) + " " + join(nic.ipv4.addresses) + "\n";
  }
  return out;
}

const std::string kTwoEniNics =
    "02:86:10:77:7f:fe primary 0 10.0.0.76 10.0.0.58\n"
    "02:86:10:65:fd:31 secondary 1 10.0.0.226\n";

TEST_CASE("fetch_aws: what the local NICs list goes out with the NIC list, one round trip fewer") {
  FakeHttpClient fake;
  serve_fixture(fake, load_fixture("aws-seed-two-eni.json"));
  nicsync::AwsOptions options;
  options.local_macs = {mac("02:86:10:77:7f:fe"), mac("02:86:10:65:fd:31"), mac("02:86:10:77:7f:fe")};
  auto instance = nicsync::fetch_aws(fake, kEndpoint, options);
  REQUIRE_MESSAGE(instance.ok(), instance.error().message);
  CHECK(nics_of(*instance) == kTwoEniNics);
  CHECK(instance->interfaces[1].id->str() == "eni-0e7275b13b81f8bd2");

  // In local order, each MAC once; nothing is asked twice and round 3 is gone.
  const std::string a = kMacs + "02:86:10:77:7f:fe/";
  const std::string b = kMacs + "02:86:10:65:fd:31/";
  CHECK(request_lines(fake) == two_nic_requests(a, b));
  CHECK(batches(fake) == "1 13");
  CHECK(check_token_headers(fake, "AQAEAdy3kLUXm/ZYa4rOVIOBDSxeY5JII9fPqvOcUhCMZt+8PnRT0HW3hOwfc") == 1);
  // The batch after the token was announced to the client before the token PUT.
  using Prepared = std::vector<std::pair<std::string, size_t>>;
  CHECK(fake.prepared == Prepared{{kEndpoint + "/", 13}});
}

TEST_CASE("fetch_aws: a local MAC the service does not list costs only its requests") {
  FakeHttpClient fake;
  serve_fixture(fake, load_fixture("aws-seed-two-eni.json"));
  nicsync::AwsOptions options;
  options.local_macs = {mac("02:42:ac:11:00:02"), mac("02:86:10:77:7f:fe")};
  auto instance = nicsync::fetch_aws(fake, kEndpoint, options);
  REQUIRE_MESSAGE(instance.ok(), instance.error().message);
  CHECK(nics_of(*instance) == kTwoEniNics);
  // 5 requests for the unknown MAC (all 404), 5 for the primary; the listed NIC that is not
  // local comes in round 3.
  CHECK(batches(fake) == "1 13 5");
  CHECK(fake.requests[4].url == kEndpoint + kMacs + "02:42:ac:11:00:02/");
  CHECK(fake.requests[14].url == kEndpoint + kMacs + "02:86:10:65:fd:31/");
}

TEST_CASE("fetch_aws: a guessed NIC that failed, or lacked a body it must have") {
  FakeHttpClient fake;
  serve_fixture(fake, load_fixture("aws-seed-two-eni.json"));
  nicsync::AwsOptions options;
  options.local_macs = {mac("02:86:10:77:7f:fe"), mac("02:86:10:65:fd:31")};

  SUBCASE("a failure of a listed NIC's guess is the error (the client retried it already)") {
    HttpResponse failed;
    failed.status = 503;
    fake.set(HttpMethod::get, kEndpoint + kMacs + "02:86:10:65:fd:31/interface-id", failed);
    CHECK(error_of(nicsync::fetch_aws(fake, kEndpoint, options)) ==
          "aws: GET /latest/meta-data/network/interfaces/macs/02:86:10:65:fd:31/interface-id: HTTP 503");
    CHECK(batches(fake) == "1 13");
  }
  SUBCASE("a failure of an unlisted guess changes nothing") {
    options.local_macs.push_back(mac("02:42:ac:11:00:02"));
    HttpResponse failed;
    failed.status = 500;
    fake.set(HttpMethod::get, kEndpoint + kMacs + "02:42:ac:11:00:02/", failed);
    auto instance = nicsync::fetch_aws(fake, kEndpoint, options);
    REQUIRE_MESSAGE(instance.ok(), instance.error().message);
    CHECK(nics_of(*instance) == kTwoEniNics);
    CHECK(batches(fake) == "1 18");
  }
  SUBCASE("a listed NIC's listing that 404s in the guess (attached a moment ago) is asked again") {
    int calls = 0;
    fake.on(HttpMethod::get, kEndpoint + kMacs + "02:86:10:65:fd:31/", [&calls](const HttpRequest&) {
      HttpResponse response;
      response.status = ++calls == 1 ? 404 : 200;
      if (response.status == 200) response.body = "device-number\ninterface-id\nlocal-ipv4s\nmac\nsubnet-ipv4-cidr-block\n";
      return response;
    });
    auto instance = nicsync::fetch_aws(fake, kEndpoint, options);
    REQUIRE_MESSAGE(instance.ok(), instance.error().message);
    CHECK(nics_of(*instance) == kTwoEniNics);
    CHECK(batches(fake) == "1 13 5");
    CHECK(fake.requests[14].url == kEndpoint + kMacs + "02:86:10:65:fd:31/");
  }
  SUBCASE("a listing that stays 404 for a listed NIC is the error round 3 gives") {
    fake.remove(HttpMethod::get, kEndpoint + kMacs + "02:86:10:65:fd:31/");
    CHECK(error_of(nicsync::fetch_aws(fake, kEndpoint, options)) ==
          "aws: GET /latest/meta-data/network/interfaces/macs/02:86:10:65:fd:31/: HTTP 404");
    CHECK(batches(fake) == "1 13 5");
  }
  SUBCASE("a failure of the NIC list itself is the error, as without guesses") {
    HttpResponse failed;
    failed.status = 500;
    fake.set(HttpMethod::get, kEndpoint + kMacs, failed);
    CHECK(error_of(nicsync::fetch_aws(fake, kEndpoint, options)) ==
          "aws: GET /latest/meta-data/network/interfaces/macs/: HTTP 500");
    CHECK(batches(fake) == "1 13");
  }
}

TEST_CASE("fetch_aws: dual stack, several IPv4 and IPv6 addresses (aws-multi-ip-ipv6)") {
  FakeHttpClient fake;
  serve_fixture(fake, load_fixture("aws-multi-ip-ipv6.json"));
  auto instance = nicsync::fetch_aws(fake, kEndpoint);
  REQUIRE_MESSAGE(instance.ok(), instance.error().message);

  CHECK(instance->instance_id->str() == "i-069e01e8cc43732f8");
  REQUIRE(instance->interfaces.size() == 2);
  const Interface& eth0 = instance->interfaces[0];
  CHECK(eth0.mac.str() == "0a:07:84:3d:6e:38");
  CHECK(eth0.role == NicRole::primary);
  CHECK(eth0.index == 0);
  CHECK(eth0.card == 0);
  CHECK(eth0.id->str() == "eni-0d6335689899ce9cc");
  CHECK(join(eth0.ipv4.addresses) == "172.31.44.13 172.31.45.70");
  CHECK(eth0.ipv4.subnet->str() == "172.31.32.0/20");
  CHECK(eth0.ipv4.gateway->str() == "172.31.32.1");
  CHECK(join(eth0.ipv6.addresses) ==
        "2600:1f16:292:100:c187:593c:4349:136 2600:1f16:292:100:f153:12a3:c37c:11f9 "
        "2600:1f16:292:100:f152:2222:3333:4444");
  CHECK(join(eth0.ipv6.subnets) == "2600:1f16:292:100::/64");
  CHECK_FALSE(eth0.ipv6.gateway.has_value());
  const Interface& eth1 = instance->interfaces[1];
  CHECK(eth1.mac.str() == "0a:75:69:92:e2:16");
  CHECK(eth1.role == NicRole::secondary);
  CHECK(eth1.index == 1);
  CHECK(eth1.id->str() == "eni-043cdce36ded5e79f");
  CHECK(join(eth1.ipv4.addresses) == "172.31.47.221");
  CHECK(eth1.ipv4.subnet->str() == "172.31.32.0/20");
  CHECK(eth1.ipv4.gateway->str() == "172.31.32.1");
  CHECK(join(eth1.ipv6.addresses) == "2600:1f16:292:100:9f27:ae11:5c02:be61 2600:1f16:292:100:3c4d:78e0:fa12:d907");
  CHECK(join(eth1.ipv6.subnets) == "2600:1f16:292:100::/64");

  CHECK(batches(fake) == "1 3 10 4");
  CHECK(fake.requests.size() == 18);
  CHECK(check_token_headers(fake, "AQAEAx49GYnPabPOxYZLcRU3vL8xpjKxedpgDm8vuNPZuUZYlMnzRQ5TOraBn") == 1);
}

TEST_CASE("fetch_aws: a 401 mid-run gets exactly one new token and repeats only the refused request") {
  FakeHttpClient fake;
  serve_fixture(fake, load_fixture("aws-seed-two-eni.json"));
  const std::string refused = kEndpoint + kMacs + "02:86:10:77:7f:fe/local-ipv4s";
  int calls = 0;
  fake.on(HttpMethod::get, refused, [&calls](const HttpRequest&) {
    HttpResponse response;
    response.status = ++calls == 1 ? 401 : 200;  // the token expired just then
    if (response.status == 200) response.body = "10.0.0.76\n10.0.0.58";
    return response;
  });
  auto instance = nicsync::fetch_aws(fake, kEndpoint);
  REQUIRE_MESSAGE(instance.ok(), instance.error().message);
  CHECK(join(instance->interfaces[0].ipv4.addresses) == "10.0.0.76 10.0.0.58");
  CHECK(batches(fake) == "1 3 10 1 1");
  CHECK(fake.prepared.size() == 1);  // the new token's repeat is not announced
  CHECK(fake.requests[14].method == HttpMethod::put);
  CHECK(fake.requests[15].url == refused);
  CHECK(check_token_headers(fake, "AQAEAdy3kLUXm/ZYa4rOVIOBDSxeY5JII9fPqvOcUhCMZt+8PnRT0HW3hOwfc") == 2);
}

TEST_CASE("fetch_aws: a 401 that persists after a new token is an error") {
  FakeHttpClient fake;
  serve_fixture(fake, load_fixture("aws-seed-single-eni.json"));
  HttpResponse unauthorised;
  unauthorised.status = 401;
  fake.set(HttpMethod::get, kEndpoint + "/latest/meta-data/instance-id", unauthorised);
  auto instance = nicsync::fetch_aws(fake, kEndpoint);
  CHECK(error_of(instance) == "aws: GET /latest/meta-data/instance-id: HTTP 401");
  CHECK(batches(fake) == "1 3 1 1");
}

TEST_CASE("fetch_aws: a listed optional key that answers 404 is absent") {
  FakeHttpClient fake;
  serve_fixture(fake, load_fixture("aws-multi-ip-ipv6.json"));
  fake.remove(HttpMethod::get, kEndpoint + kMacs + "0a:75:69:92:e2:16/ipv6s");
  fake.remove(HttpMethod::get, kEndpoint + kMacs + "0a:75:69:92:e2:16/interface-id");
  auto instance = nicsync::fetch_aws(fake, kEndpoint);
  REQUIRE_MESSAGE(instance.ok(), instance.error().message);
  const Interface& eth1 = instance->interfaces[1];
  CHECK(eth1.ipv6.addresses.empty());
  CHECK(join(eth1.ipv6.subnets) == "2600:1f16:292:100::/64");
  CHECK_FALSE(eth1.id.has_value());
  CHECK(join(eth1.ipv4.addresses) == "172.31.47.221");
}

TEST_CASE("fetch_aws: a listed required key that answers 404 is an error") {
  FakeHttpClient fake;
  serve_fixture(fake, load_fixture("aws-seed-two-eni.json"));
  fake.remove(HttpMethod::get, kEndpoint + kMacs + "02:86:10:65:fd:31/device-number");
  CHECK(error_of(nicsync::fetch_aws(fake, kEndpoint)) ==
        "aws: GET /latest/meta-data/network/interfaces/macs/02:86:10:65:fd:31/device-number: HTTP 404");
}

TEST_CASE("fetch_aws: delegated prefixes and an ENI in an IPv6-only subnet (aws-ipv6-prefixes)") {
  FakeHttpClient fake;
  serve_fixture(fake, load_fixture("aws-ipv6-prefixes.json"));
  auto instance = nicsync::fetch_aws(fake, kEndpoint);
  REQUIRE_MESSAGE(instance.ok(), instance.error().message);
  REQUIRE(instance->interfaces.size() == 3);
  const Interface& eth1 = instance->interfaces[1];
  CHECK(join(eth1.ipv4.addresses) == "10.20.1.184");
  CHECK(join(eth1.ipv4.delegated_prefixes) == "10.20.1.48/28");
  CHECK(join(eth1.ipv6.addresses) == "2600:1f14:a4b:b01:e1d8:4a26:71b0:932f");
  CHECK(join(eth1.ipv6.delegated_prefixes) == "2600:1f14:a4b:b01:8f2d::/80");
  const Interface& eth2 = instance->interfaces[2];
  CHECK(eth2.mac.str() == "06:1f:a8:6d:c2:73");
  CHECK(eth2.index == 2);
  CHECK(eth2.ipv4.addresses.empty());
  CHECK_FALSE(eth2.ipv4.subnet.has_value());
  CHECK(join(eth2.ipv6.addresses) ==
        "2600:1f14:a4b:b02:7d15:30c4:e6a9:1f82 2600:1f14:a4b:b02:4f0b:92ee:d371:6c05");
  CHECK(join(eth2.ipv6.subnets) == "2600:1f14:a4b:b02::/64");
}

TEST_CASE("fetch_aws: a listed IPv4 key that answers 404 is an error, not an IPv6-only NIC") {
  FakeHttpClient fake;
  serve_fixture(fake, load_fixture("aws-multi-ip-ipv6.json"));
  fake.remove(HttpMethod::get, kEndpoint + kMacs + "0a:75:69:92:e2:16/local-ipv4s");
  CHECK(error_of(nicsync::fetch_aws(fake, kEndpoint)) ==
        "aws: GET /latest/meta-data/network/interfaces/macs/0a:75:69:92:e2:16/local-ipv4s: HTTP 404");
}

TEST_CASE("fetch_aws: a required key missing from a NIC's listing is named") {
  FakeHttpClient fake;
  serve_fixture(fake, load_fixture("aws-seed-single-eni.json"));
  fake.set_body(HttpMethod::get, kEndpoint + kMacs + "06:16:62:3a:1c:a1/", "device-number\nlocal-ipv4s\nmac");
  CHECK(error_of(nicsync::fetch_aws(fake, kEndpoint)) ==
        "aws: macs/06:16:62:3a:1c:a1/: does not list subnet-ipv4-cidr-block");
  CHECK(batches(fake) == "1 3 5");
}

TEST_CASE("fetch_aws: bad metadata values are named with key and line") {
  FakeHttpClient fake;
  serve_fixture(fake, load_fixture("aws-multi-ip-ipv6.json"));
  fake.set_body(HttpMethod::get, kEndpoint + kMacs + "0a:07:84:3d:6e:38/local-ipv4s", "172.31.44.13\n172.31.45.700");
  CHECK(error_of(nicsync::fetch_aws(fake, kEndpoint)) ==
        "aws: macs/0a:07:84:3d:6e:38/local-ipv4s line 2: \"172.31.45.700\" is not an IPv4 address");

  fake.set_body(HttpMethod::get, kEndpoint + kMacs + "0a:07:84:3d:6e:38/local-ipv4s", "172.31.44.13");
  fake.set_body(HttpMethod::get, kEndpoint + kMacs + "0a:07:84:3d:6e:38/subnet-ipv4-cidr-block", "10.0.0.5/24");
  CHECK(error_of(nicsync::fetch_aws(fake, kEndpoint)) ==
        "aws: macs/0a:07:84:3d:6e:38/subnet-ipv4-cidr-block: \"10.0.0.5/24\" has host bits set (the network is "
        "10.0.0.0/24)");
}

TEST_CASE("fetch_aws: the primary MAC must be in the listing") {
  FakeHttpClient fake;
  serve_fixture(fake, load_fixture("aws-seed-two-eni.json"));
  fake.set_body(HttpMethod::get, kEndpoint + "/latest/meta-data/mac", "02:86:10:00:00:01");
  CHECK(error_of(nicsync::fetch_aws(fake, kEndpoint)) == "aws: mac: 02:86:10:00:00:01 is not in macs/");
}

TEST_CASE("fetch_aws: two NICs in the same slot are refused") {
  FakeHttpClient fake;
  serve_fixture(fake, load_fixture("aws-seed-two-eni.json"));
  fake.set_body(HttpMethod::get, kEndpoint + kMacs + "02:86:10:77:7f:fe/device-number", "1");
  std::vector<long> sleeps;
  CHECK(error_of(nicsync::fetch_aws(fake, kEndpoint, recording_options(sleeps))) ==
        "aws: macs/02:86:10:65:fd:31/ and macs/02:86:10:77:7f:fe/ both have network-card 0 and device-number 1");
  CHECK(sleeps.empty());  // only the primary's slot is read again
}

// ---- a freshly attached ENI still in the primary's slot (device-number 0) ----

TEST_CASE("fetch_aws: the primary's own device-number 0 is not read again") {
  FakeHttpClient fake;
  serve_fixture(fake, load_fixture("aws-seed-two-eni.json"));
  std::vector<long> sleeps;
  auto instance = nicsync::fetch_aws(fake, kEndpoint, recording_options(sleeps));
  REQUIRE_MESSAGE(instance.ok(), instance.error().message);
  CHECK(instance->interfaces[0].index == 0);
  CHECK(batches(fake) == "1 3 10");
  CHECK(sleeps.empty());
}

TEST_CASE("fetch_aws: a non-primary device-number 0 is read again until the ENI has its own") {
  FakeHttpClient fake;
  serve_fixture(fake, load_fixture("aws-seed-two-eni.json"));
  const std::string device = kMacs + "02:86:10:65:fd:31/device-number";
  int reads = 0;
  fake.on(HttpMethod::get, kEndpoint + device, [&reads](const HttpRequest& request) {
    HttpResponse response;
    response.status = header_value(request, "X-aws-ec2-metadata-token").empty() ? 401 : 200;
    response.body = ++reads <= 3 ? "0\n" : "1\n";  // the first read and two re-reads in the primary's slot
    return response;
  });
  std::vector<long> sleeps;
  auto instance = nicsync::fetch_aws(fake, kEndpoint, recording_options(sleeps));
  REQUIRE_MESSAGE(instance.ok(), instance.error().message);
  REQUIRE(instance->interfaces.size() == 2);
  CHECK(instance->interfaces[0].mac.str() == "02:86:10:77:7f:fe");
  CHECK(instance->interfaces[1].mac.str() == "02:86:10:65:fd:31");
  CHECK(instance->interfaces[1].index == 1);
  CHECK(instance->interfaces[1].role == NicRole::secondary);

  const std::string a = kMacs + "02:86:10:65:fd:31/";
  const std::string b = kMacs + "02:86:10:77:7f:fe/";
  CHECK(request_lines(fake) ==
        "PUT /latest/api/token\n"
        "GET /latest/meta-data/mac\n"
        "GET /latest/meta-data/instance-id\n"
        "GET " + kMacs + "\n"
        "GET " + a + "\n"
        "GET " + a + "device-number\n"
        "GET " + a + "interface-id\n"
        "GET " + a + "local-ipv4s\n"
        "GET " + a + "subnet-ipv4-cidr-block\n"
        "GET " + b + "\n"
        "GET " + b + "device-number\n"
        "GET " + b + "interface-id\n"
        "GET " + b + "local-ipv4s\n"
        "GET " + b + "subnet-ipv4-cidr-block\n"
        "GET " + device + "\n"
        "GET " + device + "\n"
        "GET " + device + "\n");
  CHECK(batches(fake) == "1 3 10 1 1 1");
  CHECK(sleeps == std::vector<long>{200, 200, 200});
  CHECK(check_token_headers(fake, "AQAEAdy3kLUXm/ZYa4rOVIOBDSxeY5JII9fPqvOcUhCMZt+8PnRT0HW3hOwfc") == 1);
}

TEST_CASE("fetch_aws: a non-primary device-number that stays 0 is an error naming the MAC and the tries") {
  FakeHttpClient fake;
  serve_fixture(fake, load_fixture("aws-seed-two-eni.json"));
  fake.set_body(HttpMethod::get, kEndpoint + kMacs + "02:86:10:65:fd:31/device-number", "0");
  SUBCASE("the default number of re-reads") {
    std::vector<long> sleeps;
    CHECK(error_of(nicsync::fetch_aws(fake, kEndpoint, recording_options(sleeps))) ==
          "aws: macs/02:86:10:65:fd:31/device-number: still 0 after 6 tries (the primary's slot on network-card 0; "
          "is the ENI still attaching?)");
    CHECK(batches(fake) == "1 3 10 1 1 1 1 1");
    CHECK(sleeps == std::vector<long>{200, 200, 200, 200, 200});
  }
  SUBCASE("configured re-reads and delay") {
    std::vector<long> sleeps;
    nicsync::AwsOptions options = recording_options(sleeps);
    options.device_number_attempts = 2;
    options.device_number_delay = std::chrono::milliseconds(50);
    CHECK(error_of(nicsync::fetch_aws(fake, kEndpoint, options)) ==
          "aws: macs/02:86:10:65:fd:31/device-number: still 0 after 3 tries (the primary's slot on network-card 0; "
          "is the ENI still attaching?)");
    CHECK(batches(fake) == "1 3 10 1 1");
    CHECK(sleeps == std::vector<long>{50, 50});
  }
  SUBCASE("no re-reads") {
    std::vector<long> sleeps;
    nicsync::AwsOptions options = recording_options(sleeps);
    options.device_number_attempts = 0;
    CHECK(error_of(nicsync::fetch_aws(fake, kEndpoint, options)) ==
          "aws: macs/02:86:10:65:fd:31/device-number: still 0 after 1 try (the primary's slot on network-card 0; "
          "is the ENI still attaching?)");
    CHECK(batches(fake) == "1 3 10");
    CHECK(sleeps.empty());
  }
}

TEST_CASE("fetch_aws: device-number 0 on another network card is that card's first NIC, not read again") {
  FakeHttpClient fake;
  serve_fixture(fake, load_fixture("aws-seed-two-eni.json"));
  const std::string a = kMacs + "02:86:10:65:fd:31/";
  fake.set_body(HttpMethod::get, kEndpoint + a, "device-number\ninterface-id\nlocal-ipv4s\nnetwork-card\nsubnet-ipv4-cidr-block\n");
  fake.set_body(HttpMethod::get, kEndpoint + a + "device-number", "0");
  fake.set_body(HttpMethod::get, kEndpoint + a + "network-card", "1");
  std::vector<long> sleeps;
  auto instance = nicsync::fetch_aws(fake, kEndpoint, recording_options(sleeps));
  REQUIRE_MESSAGE(instance.ok(), instance.error().message);
  REQUIRE(instance->interfaces.size() == 2);
  CHECK(instance->interfaces[1].mac.str() == "02:86:10:65:fd:31");
  CHECK(instance->interfaces[1].card == 1);
  CHECK(instance->interfaces[1].index == 0);
  CHECK(batches(fake) == "1 3 10 1");
  CHECK(sleeps.empty());
}

TEST_CASE("fetch_aws: a listed network-card is read again with device-number, and may be what moves") {
  FakeHttpClient fake;
  serve_fixture(fake, load_fixture("aws-seed-two-eni.json"));
  const std::string a = kMacs + "02:86:10:65:fd:31/";
  fake.set_body(HttpMethod::get, kEndpoint + a, "device-number\ninterface-id\nlocal-ipv4s\nnetwork-card\nsubnet-ipv4-cidr-block\n");
  fake.set_body(HttpMethod::get, kEndpoint + a + "device-number", "0");
  int reads = 0;
  fake.on(HttpMethod::get, kEndpoint + a + "network-card", [&reads](const HttpRequest&) {
    HttpResponse response;
    response.status = 200;
    response.body = ++reads == 1 ? "0" : "1";
    return response;
  });
  std::vector<long> sleeps;
  auto instance = nicsync::fetch_aws(fake, kEndpoint, recording_options(sleeps));
  REQUIRE_MESSAGE(instance.ok(), instance.error().message);
  CHECK(instance->interfaces[1].card == 1);
  CHECK(instance->interfaces[1].index == 0);
  CHECK(batches(fake) == "1 3 10 1 2");
  CHECK(fake.requests[15].url == kEndpoint + a + "device-number");
  CHECK(fake.requests[16].url == kEndpoint + a + "network-card");
  CHECK(sleeps == std::vector<long>{200});
}

TEST_CASE("fetch_aws: a re-read that fails is the error") {
  FakeHttpClient fake;
  serve_fixture(fake, load_fixture("aws-seed-two-eni.json"));
  const std::string device = kMacs + "02:86:10:65:fd:31/device-number";
  int reads = 0;
  fake.on(HttpMethod::get, kEndpoint + device, [&reads](const HttpRequest&) {
    HttpResponse response;
    response.status = ++reads == 1 ? 200 : 500;
    response.body = "0";
    return response;
  });
  std::vector<long> sleeps;
  CHECK(error_of(nicsync::fetch_aws(fake, kEndpoint, recording_options(sleeps))) ==
        "aws: GET " + device + ": HTTP 500");
  CHECK(sleeps == std::vector<long>{200});
}

// ---- IMDSv2 only, unless aws.allow_imdsv1 ----

TEST_CASE("fetch_aws: a service without tokens is an error by default, with the setting that allows it") {
  FakeHttpClient fake;
  serve_fixture(fake, load_fixture("aws-seed-single-eni.json"));
  for (long status : {404L, 405L}) {
    CAPTURE(status);
    fake.requests.clear();
    HttpResponse no_tokens;
    no_tokens.status = status;
    fake.set(HttpMethod::put, kEndpoint + "/latest/api/token", no_tokens);
    CHECK(error_of(nicsync::fetch_aws(fake, kEndpoint)) ==
          "aws: PUT /latest/api/token: HTTP " + std::to_string(status) +
              "; the service offers no IMDSv2 token (set aws.allow_imdsv1: true to read it without one)");
    CHECK(fake.requests.size() == 1);
  }
}

TEST_CASE("fetch_aws: an unreachable token PUT is an error by default (no tokenless fallback)") {
  FakeHttpClient fake;
  serve_fixture(fake, load_fixture("aws-seed-single-eni.json"));
  HttpResponse refused;
  refused.transport_error = "Connection timed out";
  fake.set(HttpMethod::put, kEndpoint + "/latest/api/token", refused);
  CHECK(error_of(nicsync::fetch_aws(fake, kEndpoint)) ==
        "aws: PUT /latest/api/token: Connection timed out (http://169.254.169.254/latest/api/token)");
  CHECK(fake.requests.size() == 1);
}

TEST_CASE("fetch_aws with allow_imdsv1: no token (404, 405, no answer) falls back to GETs without one") {
  nlohmann::json fixture = load_fixture("aws-seed-single-eni.json");
  fixture["imds"]["token"]["required"] = false;  // an IMDSv1-capable service
  HttpResponse put_answer;
  SUBCASE("404") { put_answer.status = 404; }
  SUBCASE("405") { put_answer.status = 405; }
  SUBCASE("no answer") { put_answer.transport_error = "Connection timed out"; }
  FakeHttpClient fake;
  serve_fixture(fake, fixture);
  fake.set(HttpMethod::put, kEndpoint + "/latest/api/token", put_answer);
  nicsync::AwsOptions options;
  options.allow_imdsv1 = true;
  auto instance = nicsync::fetch_aws(fake, kEndpoint, options);
  REQUIRE_MESSAGE(instance.ok(), instance.error().message);
  CHECK(instance->instance_id->str() == "i-4fce234d");
  CHECK(batches(fake) == "1 3 5");
  for (const HttpRequest& request : fake.requests) {
    CHECK_MESSAGE(header_value(request, "X-aws-ec2-metadata-token").empty(), request.url);
  }
}

TEST_CASE("fetch_aws with allow_imdsv1: a token is still used when the service gives one, and 403 stays an error") {
  FakeHttpClient fake;
  serve_fixture(fake, load_fixture("aws-seed-single-eni.json"));
  nicsync::AwsOptions options;
  options.allow_imdsv1 = true;
  auto instance = nicsync::fetch_aws(fake, kEndpoint, options);
  REQUIRE_MESSAGE(instance.ok(), instance.error().message);
  CHECK(check_token_headers(fake, "AQAEAXDnLQAaeuRFo/1kmMPqmZY7LUUyvjvAEX472CQOGTgpNBR945QirJdl+") == 1);

  fake.requests.clear();
  HttpResponse forbidden;
  forbidden.status = 403;
  fake.set(HttpMethod::put, kEndpoint + "/latest/api/token", forbidden);
  CHECK(error_of(nicsync::fetch_aws(fake, kEndpoint, options)) == "aws: PUT /latest/api/token: HTTP 403");
  CHECK(fake.requests.size() == 1);
}

TEST_CASE("fetch_aws: HTTP and transport failures name the request") {
  FakeHttpClient fake;
  serve_fixture(fake, load_fixture("aws-seed-single-eni.json"), "http://127.0.0.1:9");
  HttpResponse server_error;
  server_error.status = 500;
  fake.set(HttpMethod::get, "http://127.0.0.1:9/latest/meta-data/mac", server_error);
  CHECK(error_of(nicsync::fetch_aws(fake, "http://127.0.0.1:9/")) == "aws: GET /latest/meta-data/mac: HTTP 500");

  HttpResponse refused;
  refused.transport_error = "Connection refused";
  fake.set(HttpMethod::get, "http://127.0.0.1:9/latest/meta-data/mac", refused);
  CHECK(error_of(nicsync::fetch_aws(fake, "http://127.0.0.1:9")) ==
        "aws: GET /latest/meta-data/mac: Connection refused (http://127.0.0.1:9/latest/meta-data/mac)");
}

TEST_CASE("fetch_aws: without a token nothing is asked (tokens are required on AWS)") {
  FakeHttpClient fake;
  serve_fixture(fake, load_fixture("aws-seed-single-eni.json"));
  HttpResponse forbidden;
  forbidden.status = 403;
  fake.set(HttpMethod::put, kEndpoint + "/latest/api/token", forbidden);
  CHECK(error_of(nicsync::fetch_aws(fake, kEndpoint)) == "aws: PUT /latest/api/token: HTTP 403");
  CHECK(fake.requests.size() == 1);
}

// ---- ImdsSession on its own ----

TEST_CASE("ImdsSession: an optional token that the service refuses is not asked for again") {
  FakeHttpClient fake;
  fake.set_body(HttpMethod::get, "http://md/a", "A");
  nicsync::ImdsProtocol protocol;
  protocol.base_url = "http://md";
  protocol.token_path = "/token";
  protocol.token_ttl_header = "X-ttl";
  protocol.token_header = "X-token";
  protocol.token_required = false;
  protocol.static_headers = {{"Authorization", "Bearer Oracle"}};
  nicsync::ImdsSession session(fake, protocol, "alibaba");
  auto first = session.get({"/a", "/b"}, {false, true});
  REQUIRE(first.ok());
  CHECK((*first)[0] == "A");
  CHECK_FALSE((*first)[1].has_value());
  auto second = session.get({"/a"});
  REQUIRE(second.ok());
  CHECK(session.requests_made() == 4);
  CHECK(batches(fake) == "1 2 1");
  for (const HttpRequest& request : fake.requests) {
    CHECK(header_value(request, "Authorization") == "Bearer Oracle");
    CHECK(header_value(request, "X-token").empty());
  }
  CHECK(session.get({"/b"}).error().message == "alibaba: GET /b: HTTP 404");
}

TEST_CASE("ImdsSession: without a token path a 401 is final") {
  FakeHttpClient fake;
  HttpResponse unauthorised;
  unauthorised.status = 401;
  fake.set(HttpMethod::get, "http://md/opc/v2/vnics/", unauthorised);
  nicsync::ImdsProtocol protocol;
  protocol.base_url = "http://md";
  nicsync::ImdsSession session(fake, protocol, "oracle");
  CHECK(session.get({"/opc/v2/vnics/"}).error().message == "oracle: GET /opc/v2/vnics/: HTTP 401");
  CHECK(session.requests_made() == 1);
}

}  // TEST_SUITE
