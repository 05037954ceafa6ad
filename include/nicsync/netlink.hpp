#pragma once
/// The running kernel's IPv4 network state behind an interface: the real one speaks rtnetlink
/// through libnl-route-3, the fake (tests) keeps objects in memory and records every call.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "nicsync/address.hpp"
#include "nicsync/plan.hpp"

namespace nicsync {

/// Route and rule protocol number that marks kernel objects nicsync added (named "nicsync" for
/// iproute2 by config/iproute2/rt_protos.d/nicsync.conf).
inline constexpr uint8_t kNicsyncProtocol = 201;
inline constexpr uint32_t kMainTable = 254;

struct KernelLink {
  int ifindex = 0;
  InterfaceName name;
  MacAddress mac;
  bool up = false;  ///< administratively up (IFF_UP)
};

struct KernelAddress {
  int ifindex = 0;
  Ipv4Address address;
  int prefix_length = 32;
  bool noprefixroute = false;  ///< IFA_F_NOPREFIXROUTE: no route for the prefix in main
  auto operator<=>(const KernelAddress&) const = default;
};

struct KernelRoute {
  uint32_t table = kMainTable;
  Ipv4Cidr destination;                ///< 0.0.0.0/0 for default
  std::optional<Ipv4Address> gateway;
  int ifindex = 0;
  std::optional<uint32_t> metric;      ///< RTA_PRIORITY
  RouteScope scope = RouteScope::global;
  bool onlink = false;                 ///< RTNH_F_ONLINK
  uint8_t protocol = kNicsyncProtocol;
  auto operator<=>(const KernelRoute&) const = default;
};

struct KernelRule {
  uint32_t priority = 0;
  std::optional<Ipv4Cidr> from;        ///< empty: from all
  uint32_t table = 0;
  uint8_t protocol = kNicsyncProtocol;
  auto operator<=>(const KernelRule&) const = default;
};

class Netlink {
 public:
  virtual ~Netlink() = default;
  virtual Result<std::vector<KernelLink>> links() = 0;
  /// Every IPv4 address on every link.
  virtual Result<std::vector<KernelAddress>> addresses() = 0;
  /// Every IPv4 unicast route in every table (local and broadcast routes left out).
  virtual Result<std::vector<KernelRoute>> routes() = 0;
  /// Every IPv4 rule.
  virtual Result<std::vector<KernelRule>> rules() = 0;
  /// Each change fails with an Error that names the object and carries the kernel's message,
  /// e.g. `add address 10.0.0.226/32 dev eth1 (noprefixroute): File exists`.
  virtual Result<void> add_address(const KernelAddress& address) = 0;
  virtual Result<void> delete_address(const KernelAddress& address) = 0;
  virtual Result<void> add_route(const KernelRoute& route) = 0;
  virtual Result<void> delete_route(const KernelRoute& route) = 0;
  virtual Result<void> add_rule(const KernelRule& rule) = 0;
  virtual Result<void> delete_rule(const KernelRule& rule) = 0;
  virtual Result<void> set_link_up(int ifindex) = 0;
  /// Creates the 802.1Q VLAN device `name` with tag `vlan_id` on the link `parent_ifindex`, with
  /// `mac` as its address; it starts down. Fails like the others, e.g.
  /// `add vlan ens3f0.1039 link ens3f0 id 1039 address 02:00:17:05:cf:51: Operation not supported
  /// (Unknown device type)` when the kernel has no VLAN support.
  virtual Result<void> add_vlan(const std::string& name, int parent_ifindex, int vlan_id,
                                const MacAddress& mac) = 0;
  /// Deletes a link (with the addresses and routes on it): only for a VLAN nicsync just created.
  virtual Result<void> delete_link(int ifindex) = 0;
};

/// The libnl-route-3 implementation, on the calling thread's network namespace.
/// An Error when no rtnetlink socket can be opened.
Result<std::unique_ptr<Netlink>> make_libnl_netlink();

/// How a kernel object reads in messages and logs ("10.0.0.0/24 dev eth1 scope link table 1001").
/// `names` maps ifindex to name; unknown indexes print as "if7".
std::string describe(const KernelAddress& address, const std::vector<KernelLink>& names);
std::string describe(const KernelRoute& route, const std::vector<KernelLink>& names);
std::string describe(const KernelRule& rule);
/// How a VLAN device to create reads: "ens3f0.1039 link ens3f0 id 1039 address 02:00:17:05:cf:51".
inline std::string describe_vlan(const std::string& name, const std::string& parent, int vlan_id,
                                 const MacAddress& mac) {
  return name + " link " + parent + " id " + std::to_string(vlan_id) + " address " + mac.str();
}

}  // namespace nicsync
