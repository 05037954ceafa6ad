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

  TEST_CASE("device MACs: only the links a device backs") {
    test::FakeFileSystem fs;
    CHECK(device_macs(*read_sysfs_links(fs)).empty());
    fs.add("/sys/class/net/lo/address", "00:00:00:00:00:00\n");
    fs.add("/sys/class/net/ens5/address", "02:86:10:77:7f:fe\n");
    fs.add("/sys/class/net/ens5/device/vendor", "0x1d0f\n");
    fs.add("/sys/class/net/ens6/address", "02:86:10:65:fd:31\n");
    fs.directories.insert("/sys/class/net/ens6/device");
    fs.add("/sys/class/net/docker0/address", "02:42:ac:11:00:01\n");
    fs.add("/sys/class/net/veth1a2b/address", "6a:1f:00:12:34:56\n");
    std::vector<Link> links = *read_sysfs_links(fs);
    std::string read;
    for (const Link& link : links) read += link.name.str() + (link.device ? "+device " : " ");
    CHECK(read == "docker0 ens5+device ens6+device veth1a2b ");
    std::string macs;
    for (const MacAddress& mac : device_macs(links)) macs += mac.str() + " ";
    CHECK(macs == "02:86:10:77:7f:fe 02:86:10:65:fd:31 ");
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

  TEST_CASE("a bridge or bond with a NIC's MAC loses to the device-backed link; two devices are an error") {
    Instance instance = test::aws_two_eni();
    for (Interface& nic : instance.interfaces) nic.os_name.reset();
    const MacAddress eth1_mac = *MacAddress::parse("02:86:10:65:fd:31");
    // br0 sorts first and carries eth1's MAC, as a bridge or bond over eth1 does.
    std::vector<Link> links{{*InterfaceName::parse("br0"), eth1_mac, false},
                            {*InterfaceName::parse("eth0"), *MacAddress::parse("02:86:10:77:7f:fe"), true},
                            {*InterfaceName::parse("eth1"), eth1_mac, true}};
    REQUIRE(resolve_interfaces(instance, links).ok());
    CHECK(instance.interfaces[0].os_name->str() == "eth0");
    CHECK(instance.interfaces[1].os_name->str() == "eth1");

    links.push_back({*InterfaceName::parse("eth2"), eth1_mac, true});
    auto result = resolve_interfaces(instance, links);
    REQUIRE_FALSE(result.ok());
    CHECK(result.error().message ==
          "aws: interface 02:86:10:65:fd:31: its MAC is on more than one device-backed interface: eth1, eth2");

    // The kernel's view says nothing of devices: then the first link with the MAC is all there is
    // to go by (a known limit: live mode does not tell a bridge from its NIC).
    for (Link& link : links) link.device = false;
    REQUIRE(resolve_interfaces(instance, links).ok());
    CHECK(instance.interfaces[1].os_name->str() == "br0");
  }

  TEST_CASE("a VLAN rides on its physical NIC, is named <parent>.<id>, and is not looked up by MAC") {
    // Only the physical NIC is there: the VLAN device (with the VNIC's MAC) is made later.
    Instance instance = test::oracle_bm_vlan();
    for (Interface& nic : instance.interfaces) nic.os_name.reset();
    instance.interfaces[1].vlan->parent.reset();
    std::vector<Link> links{{*InterfaceName::parse("ens3f0"), *MacAddress::parse("90:e2:ba:d4:f1:68")}};
    REQUIRE(resolve_interfaces(instance, links).ok());
    CHECK(instance.interfaces[0].os_name->str() == "ens3f0");
    CHECK(instance.interfaces[1].os_name->str() == "ens3f0.1");
    CHECK(instance.interfaces[1].vlan->parent->str() == "ens3f0");

    SUBCASE("a rerun, with the VLAN device there, names it the same") {
      links.push_back({*InterfaceName::parse("ens3f0.1"), *MacAddress::parse("02:00:17:05:cf:51")});
      REQUIRE(resolve_interfaces(instance, links).ok());
      CHECK(instance.interfaces[1].os_name->str() == "ens3f0.1");
    }
  }

  TEST_CASE("the primary is physical NIC 0 when the metadata gives it no number, others by theirs") {
    Instance instance = test::oracle_bm_vlan();
    instance.interfaces[0].nic_index.reset();
    Interface second_port = test::make_nic("ens3f1", "90:e2:ba:d4:f1:69", NicRole::secondary, 2, {"10.0.5.6"},
                                           "10.0.5.0/24", "10.0.5.1");
    second_port.nic_index = 1;
    instance.interfaces.push_back(second_port);
    Interface on_second = test::make_nic("x", "02:00:17:05:cf:52", NicRole::secondary, 3, {"10.0.5.7"},
                                         "10.0.5.0/24", "10.0.5.1");
    on_second.vlan = VlanInfo{1040, 1};
    instance.interfaces.push_back(on_second);
    std::vector<Link> links{{*InterfaceName::parse("ens3f0"), *MacAddress::parse("90:e2:ba:d4:f1:68")},
                            {*InterfaceName::parse("ens3f1"), *MacAddress::parse("90:e2:ba:d4:f1:69")}};
    REQUIRE(resolve_interfaces(instance, links).ok());
    CHECK(instance.interfaces[1].os_name->str() == "ens3f0.1");
    CHECK(instance.interfaces[3].os_name->str() == "ens3f1.1040");
    CHECK(instance.interfaces[3].vlan->parent->str() == "ens3f1");
  }

  TEST_CASE("a VLAN name longer than 15 characters falls back to vlan<id>") {
    Instance instance = test::oracle_bm_vlan();
    instance.interfaces[1].vlan->id = 1039;
    std::vector<Link> links{{*InterfaceName::parse("enp94s0f0np0"), *MacAddress::parse("90:e2:ba:d4:f1:68")}};
    REQUIRE(resolve_interfaces(instance, links).ok());
    CHECK(instance.interfaces[1].os_name->str() == "vlan1039");  // "enp94s0f0np0.1039" has 17
    CHECK(instance.interfaces[1].vlan->parent->str() == "enp94s0f0np0");
    // 15 characters still fit.
    links[0].name = *InterfaceName::parse("enp94s0f0n");
    REQUIRE(resolve_interfaces(instance, links).ok());
    CHECK(instance.interfaces[1].os_name->str() == "enp94s0f0n.1039");
  }

  TEST_CASE("a VLAN on a physical NIC no interface of the metadata is: an error naming VNIC and index") {
    Instance instance = test::oracle_bm_vlan();
    instance.interfaces[1].vlan->parent_nic_index = 1;
    instance.interfaces[1].id = *ResourceId::parse("ocid1.vnic.oc1.phx.examplevlanvnic");
    std::vector<Link> links{{*InterfaceName::parse("ens3f0"), *MacAddress::parse("90:e2:ba:d4:f1:68")}};
    auto result = resolve_interfaces(instance, links);
    REQUIRE_FALSE(result.ok());
    CHECK(result.error().message ==
          "oracle: interface 02:00:17:05:cf:51 (ocid1.vnic.oc1.phx.examplevlanvnic) is VLAN 1 on physical "
          "NIC 1, "
          "but no interface in the metadata is physical NIC 1");
  }

  TEST_CASE("two VLANs that would get one name are an error") {
    Instance instance = test::oracle_bm_vlan();
    // Another VLAN with the same tag on another long-named port: both would be vlan1039.
    Interface port = test::make_nic("p", "90:e2:ba:d4:f1:69", NicRole::secondary, 2, {"10.0.5.6"},
                                    "10.0.5.0/24", "10.0.5.1");
    port.nic_index = 1;
    instance.interfaces.push_back(port);
    Interface twin = test::make_nic("q", "02:00:17:05:cf:52", NicRole::secondary, 3, {"10.0.5.7"},
                                    "10.0.5.0/24", "10.0.5.1");
    twin.vlan = VlanInfo{1039, 1};
    instance.interfaces.push_back(twin);
    instance.interfaces[1].vlan->id = 1039;
    std::vector<Link> links{{*InterfaceName::parse("enp94s0f0np0"), *MacAddress::parse("90:e2:ba:d4:f1:68")},
                            {*InterfaceName::parse("enp94s0f1np1"), *MacAddress::parse("90:e2:ba:d4:f1:69")}};
    auto result = resolve_interfaces(instance, links);
    REQUIRE_FALSE(result.ok());
    CHECK(result.error().message ==
          "oracle: interfaces 02:00:17:05:cf:51 and 02:00:17:05:cf:52 would both be named vlan1039");
  }

  TEST_CASE("a VLAN tag outside 1-4094 is an error") {
    Instance instance = test::oracle_bm_vlan();
    instance.interfaces[1].vlan->id = 4095;
    std::vector<Link> links{{*InterfaceName::parse("ens3f0"), *MacAddress::parse("90:e2:ba:d4:f1:68")}};
    auto result = resolve_interfaces(instance, links);
    REQUIRE_FALSE(result.ok());
    CHECK(result.error().message == "oracle: interface 02:00:17:05:cf:51: VLAN tag 4095 is outside 1-4094");
  }

  TEST_CASE("numbering leaves the VLAN's own index alone") {
    Instance instance = test::oracle_bm_vlan();
    number_interfaces(instance);
    CHECK(*instance.interfaces[0].index == 0);
    CHECK(*instance.interfaces[1].index == 1);
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
