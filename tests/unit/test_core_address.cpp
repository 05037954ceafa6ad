#include <doctest/doctest.h>

#include "nicsync/address.hpp"

using namespace nicsync;

TEST_SUITE("core::address") {
  TEST_CASE("IPv4 addresses parse and print canonically") {
    CHECK(Ipv4Address::parse("10.0.0.1")->str() == "10.0.0.1");
    CHECK(Ipv4Address::parse("0.0.0.0")->str() == "0.0.0.0");
    CHECK(Ipv4Address::parse("255.255.255.255")->str() == "255.255.255.255");
    CHECK(Ipv4Address::parse("192.168.100.9")->str() == "192.168.100.9");
    CHECK(Ipv4Address::parse("255.255.255.255")->to_uint() == 0xffffffffU);
    CHECK(Ipv4Address::parse("0.0.0.0")->to_uint() == 0U);
  }

  TEST_CASE("malformed IPv4 addresses say what is wrong") {
    for (const char* bad : {"172.31.45.700", "10.0.0", "10.0.0.1.2", "010.0.0.1", "10.0.0.1 ", " 10.0.0.1",
                            "", "1e.0.0.1", "10..0.1", "10.0.0.-1", "1000.0.0.1"}) {
      auto result = Ipv4Address::parse(bad);
      REQUIRE_FALSE(result.ok());
      CHECK(result.error().message == quote(bad) + " is not an IPv4 address");
    }
  }

  TEST_CASE("IPv4 CIDR rejects host bits and names the network") {
    CHECK(Ipv4Cidr::parse("10.0.0.0/24")->str() == "10.0.0.0/24");
    CHECK(Ipv4Cidr::parse("0.0.0.0/0")->is_default());
    auto bad = Ipv4Cidr::parse("10.0.0.5/24");
    REQUIRE_FALSE(bad.ok());
    CHECK(bad.error().message == "\"10.0.0.5/24\" has host bits set (the network is 10.0.0.0/24)");
    CHECK(Ipv4Cidr::parse("10.0.0.0/33").error().message == "\"10.0.0.0/33\" is not an IPv4 CIDR block");
    CHECK(Ipv4Cidr::parse("10.0.0.0/024").error().message == "\"10.0.0.0/024\" is not an IPv4 CIDR block");
    CHECK(Ipv4Cidr::parse("10.0.0.0").error().message == "\"10.0.0.0\" is not an IPv4 CIDR block");
  }

  TEST_CASE("IPv4 CIDR containment, netmask and network of an address") {
    auto subnet = *Ipv4Cidr::parse("172.31.32.0/20");
    CHECK(subnet.contains(*Ipv4Address::parse("172.31.47.221")));
    CHECK_FALSE(subnet.contains(*Ipv4Address::parse("172.31.48.1")));
    CHECK(subnet.netmask().str() == "255.255.240.0");
    CHECK(Ipv4Cidr::containing(*Ipv4Address::parse("10.1.2.3"), 16).str() == "10.1.0.0/16");
    CHECK(*Ipv4Cidr::prefix_from_netmask("255.255.255.0") == 24);
    CHECK(*Ipv4Cidr::prefix_from_netmask("0.0.0.0") == 0);
    CHECK(Ipv4Cidr::prefix_from_netmask("255.0.255.0").error().message ==
          "\"255.0.255.0\" is not a contiguous netmask");
  }

  TEST_CASE("IPv6 addresses and networks") {
    CHECK(Ipv6Address::parse("2600:1f16:292:100:0:0:0:136")->str() == "2600:1f16:292:100::136");
    CHECK(Ipv6Address::parse("FE80::1")->str() == "fe80::1");
    CHECK(Ipv6Address::parse("2600:1f16::zz").error().message == "\"2600:1f16::zz\" is not an IPv6 address");
    CHECK(Ipv6Address::parse("10.0.0.1").error().message == "\"10.0.0.1\" is not an IPv6 address");
    auto subnet = *Ipv6Cidr::parse("2600:1f16:292:100::/64");
    CHECK(subnet.str() == "2600:1f16:292:100::/64");
    CHECK(subnet.contains(*Ipv6Address::parse("2600:1f16:292:100:c187:593c:4349:136")));
    CHECK_FALSE(subnet.contains(*Ipv6Address::parse("2600:1f16:292:101::1")));
    CHECK(Ipv6Cidr::parse("2600:1f16:292:100::1/64").error().message ==
          "\"2600:1f16:292:100::1/64\" has host bits set");
  }

  TEST_CASE("MAC addresses accept either case and print lower case") {
    CHECK(MacAddress::parse("02:00:17:05:D1:DB")->str() == "02:00:17:05:d1:db");
    CHECK(MacAddress::parse("FF:0A:a0:00:09:90")->str() == "ff:0a:a0:00:09:90");
    CHECK(MacAddress::parse("02:00:17:05:d1").error().message == "\"02:00:17:05:d1\" is not a MAC address");
    CHECK(MacAddress::parse("02-00-17-05-d1-db").error().message == "\"02-00-17-05-d1-db\" is not a MAC address");
    CHECK(MacAddress::parse("0g:00:17:05:d1:db").error().message == "\"0g:00:17:05:d1:db\" is not a MAC address");
  }

  TEST_CASE("interface names are what the kernel and the config files can carry") {
    CHECK(InterfaceName::parse("eth0")->str() == "eth0");
    CHECK(InterfaceName::parse("enp0s6.1039")->str() == "enp0s6.1039");
    for (const char* bad : {"", "eth0:1", "a/b", "..", "sixteen-chars-xx", "eth 0", "eth0\n", "$(reboot)"}) {
      CHECK_FALSE(InterfaceName::parse(bad).ok());
    }
  }

  TEST_CASE("natural order puts eth2 before eth10") {
    CHECK(natural_less("eth2", "eth10"));
    CHECK_FALSE(natural_less("eth10", "eth2"));
    CHECK(natural_less("eth1", "eth2"));
    CHECK(natural_less("ens10", "eth9"));  // letters compare first
    CHECK(natural_less("eth01", "eth2"));
  }

  TEST_CASE("resource ids refuse shell and YAML metacharacters") {
    CHECK(ResourceId::parse("eni-0e7275b13b81f8bd2")->str() == "eni-0e7275b13b81f8bd2");
    CHECK(ResourceId::parse("ocid1.vnic.oc1.phx.abyhq")->str() == "ocid1.vnic.oc1.phx.abyhq");
    for (const char* bad : {"", "eni-1;rm", "a b", "x\ny", "#x", "\"q\""}) CHECK_FALSE(ResourceId::parse(bad).ok());
  }

  TEST_CASE("quote escapes control characters and cuts long text") {
    CHECK(quote("a\"b\n\x01") == "\"a\\\"b\\n\\x01\"");
    CHECK(quote(std::string(100, 'x')) == "\"" + std::string(64, 'x') + "...\"");
  }

  TEST_CASE("IPv4 CIDR broadcast, block containment and overlap") {
    Ipv4Cidr subnet = *Ipv4Cidr::parse("10.0.0.0/24");
    CHECK(subnet.broadcast().str() == "10.0.0.255");
    CHECK(Ipv4Cidr::parse("10.0.0.5/32")->broadcast().str() == "10.0.0.5");
    CHECK(Ipv4Cidr::parse("0.0.0.0/0")->broadcast().str() == "255.255.255.255");
    CHECK(subnet.contains(*Ipv4Cidr::parse("10.0.0.16/28")));
    CHECK(subnet.contains(subnet));
    CHECK_FALSE(subnet.contains(*Ipv4Cidr::parse("10.0.0.0/23")));
    CHECK_FALSE(subnet.contains(*Ipv4Cidr::parse("10.0.1.0/28")));
    CHECK(subnet.overlaps(*Ipv4Cidr::parse("10.0.0.0/16")));
    CHECK(Ipv4Cidr::parse("10.0.0.0/16")->overlaps(subnet));
    CHECK_FALSE(subnet.overlaps(*Ipv4Cidr::parse("10.0.1.0/24")));
  }

  TEST_CASE("IPv6 address kinds and block containment") {
    auto a = [](const char* text) { return *Ipv6Address::parse(text); };
    CHECK(a("::").is_unspecified());
    CHECK_FALSE(a("::1").is_unspecified());
    CHECK(a("::1").is_loopback());
    CHECK_FALSE(a("::2").is_loopback());
    CHECK(a("ff02::1").is_multicast());
    CHECK_FALSE(a("fe80::1").is_multicast());
    CHECK(a("::ffff:10.0.0.226").is_ipv4_mapped());
    CHECK_FALSE(a("::fffe:10.0.0.226").is_ipv4_mapped());
    CHECK(a("::10.0.0.226").is_ipv4_compatible());
    CHECK_FALSE(a("::").is_ipv4_compatible());
    CHECK_FALSE(a("::1").is_ipv4_compatible());
    CHECK_FALSE(a("2600:1f14::1").is_ipv4_compatible());
    for (const char* text : {"2600:1f14:aaa:bb00::10", "fd00::1"}) {
      Ipv6Address global = a(text);
      CHECK_FALSE(global.is_unspecified());
      CHECK_FALSE(global.is_loopback());
      CHECK_FALSE(global.is_multicast());
      CHECK_FALSE(global.is_ipv4_mapped());
      CHECK_FALSE(global.is_ipv4_compatible());
      CHECK_FALSE(global.is_link_local());
    }
    Ipv6Cidr subnet = *Ipv6Cidr::parse("2600:1f14:aaa:bb00::/56");
    CHECK(subnet.contains(*Ipv6Cidr::parse("2600:1f14:aaa:bb10::/64")));
    CHECK_FALSE(subnet.contains(*Ipv6Cidr::parse("2600:1f14::/32")));
    CHECK_FALSE(subnet.contains(*Ipv6Cidr::parse("2600:1f14:aaa:cc00::/64")));
    CHECK(Ipv6Cidr::parse("::/0")->overlaps(subnet));
    CHECK_FALSE(subnet.overlaps(*Ipv6Cidr::parse("2600:1f14:aaa:cc00::/56")));
  }
}
