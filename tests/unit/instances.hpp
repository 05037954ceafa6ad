#pragma once
/// Hand-built instances mirroring the fixtures, for tests that do not go through a provider.

#include <string>
#include <vector>

#include "nicsync/model.hpp"

namespace nicsync::test {

inline Interface make_nic(const char* name, const char* mac, NicRole role, int index,
                          std::vector<const char*> addresses, const char* subnet, const char* gateway) {
  Interface nic;
  nic.mac = *MacAddress::parse(mac);
  nic.os_name = *InterfaceName::parse(name);
  nic.role = role;
  nic.index = index;
  for (const char* a : addresses) nic.ipv4.addresses.push_back(*Ipv4Address::parse(a));
  nic.ipv4.subnet = *Ipv4Cidr::parse(subnet);
  nic.ipv4.gateway = *Ipv4Address::parse(gateway);
  return nic;
}

/// Gives `nic` IPv6 addresses in `subnet` and, when not null, the metadata's IPv6 gateway.
inline void add_ipv6(Interface& nic, std::vector<const char*> addresses, const char* subnet, const char* gateway) {
  for (const char* a : addresses) nic.ipv6.addresses.push_back(*Ipv6Address::parse(a));
  nic.ipv6.subnets.push_back(*Ipv6Cidr::parse(subnet));
  if (gateway) nic.ipv6.gateway = *Ipv6Address::parse(gateway);
}

/// aws-seed-two-eni: eth0 10.0.0.76 (+10.0.0.58), eth1 10.0.0.226, both in 10.0.0.0/24.
inline Instance aws_two_eni() {
  Instance instance;
  instance.vendor = Vendor::aws;
  instance.instance_id = *ResourceId::parse("i-094226850fb16bdf1");
  instance.interfaces.push_back(make_nic("eth0", "02:86:10:77:7f:fe", NicRole::primary, 0,
                                         {"10.0.0.76", "10.0.0.58"}, "10.0.0.0/24", "10.0.0.1"));
  instance.interfaces.push_back(make_nic("eth1", "02:86:10:65:fd:31", NicRole::secondary, 1,
                                         {"10.0.0.226"}, "10.0.0.0/24", "10.0.0.1"));
  return instance;
}

/// aws-multi-ip-ipv6, dual stack: eth0 172.31.44.13 (+172.31.45.70) with
/// 2600:1f16:292:100:c187:593c:4349:136 (+...:f153:12a3:c37c:11f9), eth1 172.31.47.221 with
/// 2600:1f16:292:100:9f27:ae11:5c02:be61 (+...:3c4d:78e0:fa12:d907); 172.31.32.0/20 and
/// 2600:1f16:292:100::/64. No IPv6 gateway: AWS publishes none.
inline Instance aws_dual_stack() {
  Instance instance;
  instance.vendor = Vendor::aws;
  Interface eth0 = make_nic("eth0", "0a:07:84:3d:6e:38", NicRole::primary, 0, {"172.31.44.13", "172.31.45.70"},
                            "172.31.32.0/20", "172.31.32.1");
  add_ipv6(eth0, {"2600:1f16:292:100:c187:593c:4349:136", "2600:1f16:292:100:f153:12a3:c37c:11f9"},
           "2600:1f16:292:100::/64", nullptr);
  Interface eth1 = make_nic("eth1", "0a:75:69:92:e2:16", NicRole::secondary, 1, {"172.31.47.221"},
                            "172.31.32.0/20", "172.31.32.1");
  add_ipv6(eth1, {"2600:1f16:292:100:9f27:ae11:5c02:be61", "2600:1f16:292:100:3c4d:78e0:fa12:d907"},
           "2600:1f16:292:100::/64", nullptr);
  instance.interfaces.push_back(eth0);
  instance.interfaces.push_back(eth1);
  return instance;
}

/// aws_dual_stack() with an IPv6 gateway in the metadata on both NICs (as OCI and Alibaba give one).
inline Instance dual_stack_with_gateway() {
  Instance instance = aws_dual_stack();
  for (Interface& nic : instance.interfaces) nic.ipv6.gateway = *Ipv6Address::parse("fe80::1");
  return instance;
}

/// aws-ipv6-prefixes, eth0 and eth1: eth1 has a delegated IPv4 /28 and a delegated IPv6 /80.
inline Instance aws_prefixes() {
  Instance instance;
  Interface eth0 =
      make_nic("eth0", "06:1f:3a:5b:7c:01", NicRole::primary, 0, {"10.20.1.37"}, "10.20.1.0/24", "10.20.1.1");
  add_ipv6(eth0, {"2600:1f14:a4b:b01:5e2a:8c1f:9d04:7b36"}, "2600:1f14:a4b:b01::/64", nullptr);
  Interface eth1 =
      make_nic("eth1", "06:1f:3a:5b:7c:02", NicRole::secondary, 1, {"10.20.1.184"}, "10.20.1.0/24", "10.20.1.1");
  add_ipv6(eth1, {"2600:1f14:a4b:b01:e1d8:4a26:71b0:932f"}, "2600:1f14:a4b:b01::/64", nullptr);
  eth1.ipv4.delegated_prefixes.push_back(*Ipv4Cidr::parse("10.20.1.48/28"));
  eth1.ipv6.delegated_prefixes.push_back(*Ipv6Cidr::parse("2600:1f14:a4b:b01:8f2d::/80"));
  instance.interfaces.push_back(eth0);
  instance.interfaces.push_back(eth1);
  return instance;
}

/// An IPv6-only NIC (no IPv4 at all), as OCI and Alibaba allow.
inline Interface ipv6_only_nic(const char* name, const char* mac, int index, std::vector<const char*> addresses,
                               const char* subnet, const char* gateway) {
  Interface nic;
  nic.mac = *MacAddress::parse(mac);
  nic.os_name = *InterfaceName::parse(name);
  nic.role = NicRole::secondary;
  nic.index = index;
  add_ipv6(nic, addresses, subnet, gateway);
  return nic;
}

/// oracle-bm-vlan-vnic: the primary VNIC on physical NIC 0 (ens3f0, 10.0.0.8/24 by DHCP) and a
/// secondary VNIC 10.0.4.5 in 10.0.4.0/24 (router 10.0.4.1) that arrives as VLAN 1 on it, resolved.
inline Instance oracle_bm_vlan() {
  Instance instance;
  instance.vendor = Vendor::oracle;
  instance.instance_id = *ResourceId::parse("ocid1.instance.oc1.phx.anyhqljtnbmvlanexample0001");
  Interface primary =
      make_nic("ens3f0", "90:e2:ba:d4:f1:68", NicRole::primary, 0, {"10.0.0.8"}, "10.0.0.0/24", "10.0.0.1");
  primary.nic_index = 0;
  instance.interfaces.push_back(primary);
  Interface vnic = make_nic("ens3f0.1", "02:00:17:05:cf:51", NicRole::secondary, 1, {"10.0.4.5"},
                            "10.0.4.0/24", "10.0.4.1");
  vnic.vlan = VlanInfo{1, 0, *InterfaceName::parse("ens3f0")};
  instance.interfaces.push_back(vnic);
  return instance;
}

}  // namespace nicsync::test
