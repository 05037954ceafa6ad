#pragma once
/// The normalised, vendor-neutral view of an instance's network interfaces.
/// Providers build it from metadata; everything after them reads only this.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "nicsync/address.hpp"

namespace nicsync {

enum class Vendor { aws, oracle, alibaba };

std::string_view vendor_name(Vendor vendor);
Result<Vendor> parse_vendor(std::string_view text);

enum class NicRole { primary, secondary };

struct Ipv4Config {
  std::vector<Ipv4Address> addresses;  ///< primary private IP first, then secondaries
  std::optional<Ipv4Cidr> subnet;
  std::optional<Ipv4Address> gateway;
  std::vector<Ipv4Cidr> delegated_prefixes;  ///< AWS ipv4-prefix (read for later)
};

struct Ipv6Config {
  std::vector<Ipv6Address> addresses;
  std::vector<Ipv6Cidr> subnets;
  std::optional<Ipv6Address> gateway;
  std::vector<Ipv6Cidr> delegated_prefixes;  ///< AWS ipv6-prefix (read for later)
};

/// A NIC that reaches the instance as a VLAN on a physical NIC (Oracle bare metal).
struct VlanInfo {
  int id = 0;              ///< 802.1Q tag
  int parent_nic_index = 0;  ///< the physical NIC it rides on
};

struct Interface {
  MacAddress mac;
  std::optional<InterfaceName> os_name;  ///< filled in by resolve_interfaces()
  NicRole role = NicRole::secondary;
  std::optional<int> index;  ///< device number; empty until known (see number_interfaces())
  int card = 0;              ///< network card (AWS network-card), 0 elsewhere
  std::optional<ResourceId> id;
  Ipv4Config ipv4;
  Ipv6Config ipv6;
  std::optional<VlanInfo> vlan;
};

struct Instance {
  Vendor vendor = Vendor::aws;
  std::optional<ResourceId> instance_id;
  std::vector<Interface> interfaces;

  const Interface* primary() const;
};

}  // namespace nicsync
