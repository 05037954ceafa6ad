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

/// A host name label the cloud keeps for one of a NIC's addresses (OCI's hostnameLabel): a DNS
/// label, informational (shown and kept in the last good view, never written to a network file).
struct HostnameLabel {
  Ipv4Address address;
  std::string label;
  bool operator==(const HostnameLabel&) const = default;
};

/// A DNS label as clouds allow for host names: 1-63 letters, digits and hyphens, no hyphen first
/// or last.
bool is_hostname_label(std::string_view text);

struct Ipv4Config {
  std::vector<Ipv4Address> addresses;  ///< primary private IP first, then secondaries
  std::optional<Ipv4Cidr> subnet;
  std::optional<Ipv4Address> gateway;
  std::vector<Ipv4Cidr> delegated_prefixes;  ///< AWS ipv4-prefix (read for later)
  std::vector<HostnameLabel> hostname_labels{};  ///< for some of `addresses`, in their order
};

struct Ipv6Config {
  std::vector<Ipv6Address> addresses;
  std::vector<Ipv6Cidr> subnets;
  std::optional<Ipv6Address> gateway;
  std::vector<Ipv6Cidr> delegated_prefixes;  ///< AWS ipv6-prefix (read for later)
};

/// A NIC that reaches the instance as a VLAN on a physical NIC (Oracle bare metal): its MAC
/// exists locally only once the VLAN device is made, on the physical NIC numbered parent_nic_index.
struct VlanInfo {
  int id = 0;              ///< 802.1Q tag
  int parent_nic_index = 0;  ///< the physical NIC it rides on (see Interface::nic_index)
  /// The parent's OS name; filled in by resolve_interfaces(). (Members added after the first
  /// ones carry a default initializer, so designated initializers that leave them out stay
  /// warning-free.)
  std::optional<InterfaceName> parent{};
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
  /// The physical NIC this interface is (bare-metal metadata that numbers them); the primary
  /// counts as physical NIC 0 when the metadata says nothing. Only interfaces without `vlan`
  /// are physical NICs.
  std::optional<int> nic_index{};
};

struct Instance {
  Vendor vendor = Vendor::aws;
  std::optional<ResourceId> instance_id;
  std::vector<Interface> interfaces;

  const Interface* primary() const;
};

/// The IPv4 and IPv6 subnet floors: a subnet wider than these is refused as metadata. Every
/// cloud's subnets are /16 (IPv4) or /56 (IPv6) or longer; the floors leave margin.
inline constexpr int kWidestIpv4Subnet = 8;
inline constexpr int kWidestIpv6Subnet = 32;

/// What every view must satisfy before it is planned from, whatever its source (the metadata
/// service, cloud-init's instance data, the last good view, the OCI API's merge):
/// per NIC: an IPv4 subnet from /8 (kWidestIpv4Subnet) to /30; no address or gateway that is the
/// subnet's network or broadcast address, no address that is the gateway; IPv6 subnets /32
/// (kWidestIpv6Subnet) or longer; IPv6 addresses global or unique-local unicast (not ::, ::1,
/// multicast, link-local, IPv4-mapped or -compatible) and inside one of the NIC's IPv6 subnets
/// when it has any; an IPv6 gateway link-local or inside one of them (never :: or multicast);
/// a delegated prefix inside the NIC's subnet of its family and longer than it, an IPv4 one
/// holding none of the NIC's addresses, its gateway, network or broadcast address;
/// across NICs: no address on two NICs, no delegated prefix overlapping another NIC's prefix or
/// address. The Error is one line, "<vendor>: NIC <mac> (<id>): <what>".
Result<void> check_instance(const Instance& instance);

/// What is wrong with `prefix` as a prefix delegated to a NIC with `config` (check_instance()'s
/// rules, for a parser that can name the line), or nullopt.
std::optional<std::string> delegated_prefix_problem(const Ipv4Config& config, const Ipv4Cidr& prefix);
std::optional<std::string> delegated_prefix_problem(const Ipv6Config& config, const Ipv6Cidr& prefix);

}  // namespace nicsync
