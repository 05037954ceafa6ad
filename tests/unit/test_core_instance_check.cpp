#include <doctest/doctest.h>

#include <string>

#include "instances.hpp"
#include "nicsync/model.hpp"

using namespace nicsync;
using namespace nicsync::test;

namespace {

/// check_instance()'s message, or "" when the instance passes.
std::string problem(const Instance& instance) {
  Result<void> checked = check_instance(instance);
  return checked.ok() ? "" : checked.error().message;
}

Instance with_ids(Instance instance) {
  instance.interfaces[0].id = *ResourceId::parse("eni-0aaa");
  instance.interfaces[1].id = *ResourceId::parse("eni-0bbb");
  return instance;
}

}  // namespace

TEST_SUITE("core::instance_check") {
  TEST_CASE("the hand-built fixture instances pass") {
    CHECK(problem(aws_two_eni()) == "");
    CHECK(problem(aws_dual_stack()) == "");
    CHECK(problem(dual_stack_with_gateway()) == "");
    CHECK(problem(aws_prefixes()) == "");
  }

  TEST_CASE("an IPv4 subnet wider than /8 or longer than /30 is refused") {
    Instance instance = aws_two_eni();
    Interface& eth1 = instance.interfaces[1];
    eth1.ipv4.subnet = *Ipv4Cidr::parse("0.0.0.0/0");
    eth1.ipv4.addresses = {*Ipv4Address::parse("8.8.8.8")};
    eth1.ipv4.gateway = *Ipv4Address::parse("0.0.0.1");
    CHECK(problem(instance) == "aws: NIC 02:86:10:65:fd:31: subnet 0.0.0.0/0 is wider than /8");
    eth1.ipv4.subnet = *Ipv4Cidr::parse("8.0.0.0/7");
    CHECK(problem(instance) == "aws: NIC 02:86:10:65:fd:31: subnet 8.0.0.0/7 is wider than /8");
    eth1.ipv4.subnet = *Ipv4Cidr::parse("8.0.0.0/8");
    eth1.ipv4.gateway = *Ipv4Address::parse("8.0.0.1");
    CHECK(problem(instance) == "");
    eth1.ipv4.subnet = *Ipv4Cidr::parse("8.8.8.8/31");
    CHECK(problem(instance) == "aws: NIC 02:86:10:65:fd:31: subnet 8.8.8.8/31 leaves no room for a gateway");
  }

  TEST_CASE("an address or gateway that is the gateway, network or broadcast address is refused") {
    Instance instance = with_ids(aws_two_eni());
    Interface& eth1 = instance.interfaces[1];
    eth1.ipv4.addresses = {*Ipv4Address::parse("10.0.0.1")};
    CHECK(problem(instance) ==
          "aws: NIC 02:86:10:65:fd:31 (eni-0bbb): 10.0.0.1 is the gateway of its subnet 10.0.0.0/24");
    eth1.ipv4.addresses = {*Ipv4Address::parse("10.0.0.0")};
    CHECK(problem(instance) ==
          "aws: NIC 02:86:10:65:fd:31 (eni-0bbb): 10.0.0.0 is the network address of its subnet 10.0.0.0/24");
    eth1.ipv4.addresses = {*Ipv4Address::parse("10.0.0.255")};
    CHECK(problem(instance) ==
          "aws: NIC 02:86:10:65:fd:31 (eni-0bbb): 10.0.0.255 is the broadcast address of its subnet "
          "10.0.0.0/24");
    eth1.ipv4.addresses = {*Ipv4Address::parse("10.0.1.5")};
    CHECK(problem(instance) ==
          "aws: NIC 02:86:10:65:fd:31 (eni-0bbb): 10.0.1.5 is outside its subnet 10.0.0.0/24");
    eth1.ipv4.addresses = {*Ipv4Address::parse("10.0.0.226")};
    eth1.ipv4.gateway = *Ipv4Address::parse("10.0.0.0");
    CHECK(problem(instance) ==
          "aws: NIC 02:86:10:65:fd:31 (eni-0bbb): gateway 10.0.0.0 is the network address of its subnet "
          "10.0.0.0/24");
    eth1.ipv4.gateway = *Ipv4Address::parse("10.0.0.255");
    CHECK(problem(instance) ==
          "aws: NIC 02:86:10:65:fd:31 (eni-0bbb): gateway 10.0.0.255 is the broadcast address of its subnet "
          "10.0.0.0/24");
    eth1.ipv4.gateway = *Ipv4Address::parse("10.0.1.1");
    CHECK(problem(instance) ==
          "aws: NIC 02:86:10:65:fd:31 (eni-0bbb): gateway 10.0.1.1 is outside its subnet 10.0.0.0/24");
    eth1.ipv4.gateway = *Ipv4Address::parse("10.0.0.226");
    CHECK(problem(instance) ==
          "aws: NIC 02:86:10:65:fd:31 (eni-0bbb): 10.0.0.226 is the gateway of its subnet 10.0.0.0/24");
  }

  TEST_CASE("a delegated IPv4 prefix lies inside the subnet, is longer, and holds none of its addresses") {
    Instance instance = aws_prefixes();
    std::vector<Ipv4Cidr>& prefixes = instance.interfaces[1].ipv4.delegated_prefixes;
    const std::string nic = "aws: NIC 06:1f:3a:5b:7c:02: ";
    prefixes = {*Ipv4Cidr::parse("0.0.0.0/0")};
    CHECK(problem(instance) ==
          nic + "IPv4 prefix 0.0.0.0/0 is not inside its subnet 10.20.1.0/24 and longer than it");
    prefixes = {*Ipv4Cidr::parse("10.20.1.0/24")};
    CHECK(problem(instance) ==
          nic + "IPv4 prefix 10.20.1.0/24 is not inside its subnet 10.20.1.0/24 and longer than it");
    prefixes = {*Ipv4Cidr::parse("10.20.2.0/28")};
    CHECK(problem(instance) ==
          nic + "IPv4 prefix 10.20.2.0/28 is not inside its subnet 10.20.1.0/24 and longer than it");
    prefixes = {*Ipv4Cidr::parse("10.20.1.0/28")};
    CHECK(problem(instance) == nic + "IPv4 prefix 10.20.1.0/28 holds 10.20.1.0, the network address");
    prefixes = {*Ipv4Cidr::parse("10.20.1.240/28")};
    CHECK(problem(instance) == nic + "IPv4 prefix 10.20.1.240/28 holds 10.20.1.255, the broadcast address");
    prefixes = {*Ipv4Cidr::parse("10.20.1.176/28")};
    CHECK(problem(instance) == nic + "IPv4 prefix 10.20.1.176/28 holds 10.20.1.184, an address of the NIC");
    prefixes = {*Ipv4Cidr::parse("10.20.1.48/28")};
    instance.interfaces[1].ipv4.gateway = *Ipv4Address::parse("10.20.1.49");
    CHECK(problem(instance) == nic + "IPv4 prefix 10.20.1.48/28 holds 10.20.1.49, the gateway");
    instance.interfaces[1].ipv4 = Ipv4Config{};
    instance.interfaces[1].ipv4.delegated_prefixes = {*Ipv4Cidr::parse("10.20.1.48/28")};
    CHECK(problem(instance) == nic + "IPv4 prefix 10.20.1.48/28 without an IPv4 subnet");
  }

  TEST_CASE("a delegated IPv6 prefix lies inside one of the NIC's IPv6 subnets and is longer") {
    Instance instance = aws_prefixes();
    std::vector<Ipv6Cidr>& prefixes = instance.interfaces[1].ipv6.delegated_prefixes;
    const std::string nic = "aws: NIC 06:1f:3a:5b:7c:02: ";
    prefixes = {*Ipv6Cidr::parse("::/0")};
    CHECK(problem(instance) ==
          nic + "IPv6 prefix ::/0 is not inside one of its IPv6 subnets and longer than it");
    prefixes = {*Ipv6Cidr::parse("2600:1f14:a4b:b01::/64")};
    CHECK(problem(instance) ==
          nic +
              "IPv6 prefix 2600:1f14:a4b:b01::/64 is not inside one of its IPv6 subnets and longer than it");
    instance.interfaces[1].ipv6.subnets.clear();
    instance.interfaces[1].ipv6.addresses.clear();
    prefixes = {*Ipv6Cidr::parse("2600:1f14:a4b:b01:8f2d::/80")};
    CHECK(problem(instance) == nic + "IPv6 prefix 2600:1f14:a4b:b01:8f2d::/80 without an IPv6 subnet");
  }

  TEST_CASE("an address on two NICs, or a prefix over another NIC's, is refused naming both NICs") {
    Instance instance = with_ids(aws_two_eni());
    instance.interfaces[1].ipv4.addresses.push_back(*Ipv4Address::parse("10.0.0.58"));
    CHECK(problem(instance) ==
          "aws: 10.0.0.58 is on both NIC 02:86:10:77:7f:fe (eni-0aaa) and NIC 02:86:10:65:fd:31 (eni-0bbb)");

    Instance dual = aws_dual_stack();
    dual.interfaces[1].ipv6.addresses.push_back(*Ipv6Address::parse("2600:1f16:292:100:c187:593c:4349:136"));
    CHECK(problem(dual) ==
          "aws: 2600:1f16:292:100:c187:593c:4349:136 is on both NIC 0a:07:84:3d:6e:38 and NIC "
          "0a:75:69:92:e2:16");

    Instance prefixes = aws_prefixes();
    // eth1's 10.20.1.48/28 holds an address given to eth0.
    prefixes.interfaces[0].ipv4.addresses.push_back(*Ipv4Address::parse("10.20.1.50"));
    CHECK(
        problem(prefixes) ==
        "aws: IPv4 prefix 10.20.1.48/28 of NIC 06:1f:3a:5b:7c:02 holds 10.20.1.50 of NIC 06:1f:3a:5b:7c:01");
    prefixes = aws_prefixes();
    prefixes.interfaces[0].ipv4.delegated_prefixes.push_back(*Ipv4Cidr::parse("10.20.1.48/29"));
    CHECK(problem(prefixes) ==
          "aws: IPv4 prefix 10.20.1.48/29 of NIC 06:1f:3a:5b:7c:01 overlaps 10.20.1.48/28 of NIC "
          "06:1f:3a:5b:7c:02");
    prefixes = aws_prefixes();
    prefixes.interfaces[0].ipv6.addresses.push_back(*Ipv6Address::parse("2600:1f14:a4b:b01:8f2d::5"));
    CHECK(problem(prefixes) ==
          "aws: IPv6 prefix 2600:1f14:a4b:b01:8f2d::/80 of NIC 06:1f:3a:5b:7c:02 holds "
          "2600:1f14:a4b:b01:8f2d::5 of NIC 06:1f:3a:5b:7c:01");
    prefixes = aws_prefixes();
    prefixes.interfaces[0].ipv6.delegated_prefixes.push_back(
        *Ipv6Cidr::parse("2600:1f14:a4b:b01:8f2d:1::/96"));
    CHECK(problem(prefixes) ==
          "aws: IPv6 prefix 2600:1f14:a4b:b01:8f2d:1::/96 of NIC 06:1f:3a:5b:7c:01 overlaps "
          "2600:1f14:a4b:b01:8f2d::/80 of NIC 06:1f:3a:5b:7c:02");
  }

  TEST_CASE("IPv6 addresses are unicast, subnets /32 or longer, gateways link-local or on-subnet") {
    Instance instance = aws_dual_stack();
    Ipv6Config& v6 = instance.interfaces[1].ipv6;
    const std::string nic = "aws: NIC 0a:75:69:92:e2:16: ";
    const std::vector<std::pair<const char*, const char*>> bad = {
        {"::", "the unspecified address"},
        {"::1", "the loopback address"},
        {"ff02::1", "a multicast address"},
        {"fe80::1", "a link-local address"},
        {"::ffff:10.0.0.226", "an IPv4-mapped address"},
        {"::10.0.0.226", "an IPv4-compatible address"}};
    for (const auto& [text, kind] : bad) {
      v6.addresses = {*Ipv6Address::parse(text)};
      CHECK(problem(instance) ==
            nic + Ipv6Address::parse(text)->str() + " is " + kind + ", not a unicast address");
    }
    v6.addresses = {*Ipv6Address::parse("2600:1f16:292:101::5")};
    CHECK(problem(instance) == nic + "2600:1f16:292:101::5 is outside its IPv6 subnets");
    v6.addresses = {*Ipv6Address::parse("2600:1f16:292:100::5")};
    v6.subnets = {*Ipv6Cidr::parse("2600::/16")};
    CHECK(problem(instance) == nic + "IPv6 subnet 2600::/16 is wider than /32");
    v6.subnets = {*Ipv6Cidr::parse("2600:1f16::/32")};
    CHECK(problem(instance) == "");
    v6.gateway = *Ipv6Address::parse("::");
    CHECK(problem(instance) == nic + "IPv6 gateway :: is the unspecified address");
    v6.gateway = *Ipv6Address::parse("ff02::2");
    CHECK(problem(instance) == nic + "IPv6 gateway ff02::2 is a multicast address");
    v6.gateway = *Ipv6Address::parse("2001:db8::1");
    CHECK(problem(instance) ==
          nic + "IPv6 gateway 2001:db8::1 is neither link-local nor inside its IPv6 subnets");
    v6.gateway = *Ipv6Address::parse("2600:1f16:292:100::1");
    CHECK(problem(instance) == "");
    v6.gateway = *Ipv6Address::parse("fe80::1");
    CHECK(problem(instance) == "");
  }
}
