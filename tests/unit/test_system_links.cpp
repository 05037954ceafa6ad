#include <doctest/doctest.h>

#include "fake_filesystem.hpp"
#include "instances.hpp"
#include "nicsync/links.hpp"

using namespace nicsync;

TEST_SUITE("system::links") {
  TEST_CASE("sysfs links skip loopback and unparsable entries") {
    test::FakeFileSystem fs;
    fs.add("/sys/class/net/lo/address", "00:00:00:00:00:00\n");
    fs.add("/sys/class/net/eth0/address", "02:86:10:77:7f:fe\n");
    fs.add("/sys/class/net/eth1/address", "02:86:10:65:FD:31\n");
    fs.add("/sys/class/net/tun0/address", "\n");
    auto links = *read_sysfs_links(fs);
    REQUIRE(links.size() == 2);
    CHECK(links[0].name.str() == "eth0");
    CHECK(links[1].mac.str() == "02:86:10:65:fd:31");
  }

  TEST_CASE("resolve maps MACs to names and fails on a MAC with no local interface") {
    Instance instance = test::aws_two_eni();
    for (Interface& nic : instance.interfaces) nic.os_name.reset();
    std::vector<Link> links{{*InterfaceName::parse("ens5"), *MacAddress::parse("02:86:10:77:7f:fe")}};
    auto result = resolve_interfaces(instance, links);
    REQUIRE_FALSE(result.ok());
    CHECK(result.error().message ==
          "aws: interface 02:86:10:65:fd:31 is in the metadata but no local interface has that MAC");
    links.push_back({*InterfaceName::parse("ens6"), *MacAddress::parse("02:86:10:65:fd:31")});
    REQUIRE(resolve_interfaces(instance, links).ok());
    CHECK(instance.interfaces[0].os_name->str() == "ens5");
    CHECK(instance.interfaces[1].os_name->str() == "ens6");
  }

  TEST_CASE("numbering: primary 0, others in natural order of their names") {
    Instance instance;
    instance.vendor = Vendor::alibaba;
    for (const char* name : {"eth10", "eth0", "eth2"}) {
      Interface nic;
      nic.os_name = *InterfaceName::parse(name);
      nic.role = std::string(name) == "eth0" ? NicRole::primary : NicRole::secondary;
      instance.interfaces.push_back(nic);
    }
    number_interfaces(instance);
    CHECK(*instance.interfaces[0].index == 2);  // eth10
    CHECK(*instance.interfaces[1].index == 0);  // eth0
    CHECK(*instance.interfaces[2].index == 1);  // eth2
  }
}
