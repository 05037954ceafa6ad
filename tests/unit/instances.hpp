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

}  // namespace nicsync::test
