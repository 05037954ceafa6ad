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
