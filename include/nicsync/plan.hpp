#pragma once
/// The planner: turns a resolved Instance into the vendor-neutral desired network state
/// (per NIC: addressing, routes in apply order, policy rules). Pure: no OS access.

#include <cstdint>
#include <optional>
#include <vector>

#include "nicsync/model.hpp"

namespace nicsync {

enum class PolicyRouting { automatic, on, off };

enum class Addressing { dhcp, static_ };

/// Knobs of the default scheme (DESIGN.md, "Default scheme"); defaults reproduce it exactly.
struct PlanOptions {
  PolicyRouting policy_routing = PolicyRouting::automatic;
  uint32_t table_base = 1000;     ///< T = table_base + card_stride*card + index
  uint32_t card_stride = 100;
  uint32_t priority_base = 1000;  ///< rule priority = priority_base + card_stride*card + index
  /// When policy routing is in effect, the primary (still on DHCP) gets a table and rules too:
  /// T holds its subnet's link route and an on-link default via its gateway; main gets no
  /// fallback from it (its lease gives main's default); one rule per IPv4 address, the lease's
  /// (the first metadata address) included. Whether policy routing is in effect does not change.
  bool primary_rules = false;
  /// How NICs other than the primary get their first (primary private) IPv4 address. dhcp: from
  /// their DHCP client; their other addresses, table, routes and rules are planned from the
  /// metadata as for a static NIC, with a rule for the leased address too. The lease adds no
  /// route but the prefix route of its address, which stays in main (netplan: at metric T, see
  /// NicPlan::lease_route_metric; network-scripts: at metric 0, dhclient-script has no setting
  /// for it). So when the NIC's subnet is not the primary's, the primary's replies to hosts in it
  /// leave by this NIC, and the cloud drops them, unless primary_rules is on.
  /// A VLAN NIC (Oracle bare metal) always stays static: its VLAN device is nicsync's to make.
  Addressing secondary_addressing = Addressing::static_;
};
enum class RouteScope { global, link };

struct Ipv4Route {
  Ipv4Cidr destination;                ///< 0.0.0.0/0 for a default route
  std::optional<Ipv4Address> gateway;  ///< empty for a link route
  std::optional<uint32_t> table;       ///< empty: main
  std::optional<uint32_t> metric;
  RouteScope scope = RouteScope::global;
  bool onlink = false;
};

struct Ipv4Rule {
  Ipv4Address from;
  uint32_t table = 0;
  uint32_t priority = 0;
};

/// A NIC that is an 802.1Q VLAN device on another NIC of the plan, made by its consumer.
struct VlanPlan {
  int id = 0;            ///< the tag, 1-4094
  InterfaceName parent;  ///< the NIC it rides on; also in the plan, before it or after it
  auto operator<=>(const VlanPlan&) const = default;
};

/// Desired state of one NIC.
struct NicPlan {
  InterfaceName name;
  MacAddress mac;
  NicRole role = NicRole::secondary;
  Addressing addressing = Addressing::static_;
  Ipv4Cidr subnet;
  std::optional<Ipv4Address> gateway;
  /// Static IPv4 addresses to configure, in metadata order. For a DHCP NIC these are only its
  /// secondary IPs (the lease provides the first); for a static NIC, all of them.
  std::vector<Ipv4Address> addresses;
  std::optional<uint32_t> table;  ///< per-NIC routing table, when policy routing applies
  std::vector<Ipv4Route> routes;  ///< in the order they must be installed
  /// One per IPv4 address of the NIC, a DHCP NIC's leased first address included.
  std::vector<Ipv4Rule> rules;
  /// Set when the NIC is a VLAN device to create (with `mac` as its address) on `vlan->parent`.
  std::optional<VlanPlan> vlan{};
  /// Set for a DHCP NIC other than the primary: the lease may install no route of its own
  /// (no default, no static routes), and the metric its DHCP client gives the lease's routes is
  /// this one (T), above the primary's, so that the prefix route the lease puts into main never
  /// wins over the primary's. Only consumers that can set it use it (netplan: route-metric).
  std::optional<uint32_t> lease_route_metric{};
};

struct Plan {
  std::vector<NicPlan> nics;  ///< primary first, then by card and index
};

/// Builds the plan. Every interface must have an os_name and an index (see links.hpp), and a VLAN
/// interface its parent's name; interfaces without IPv4 data are skipped (IPv6 comes later). A
/// VLAN NIC is planned like any other static NIC (whatever secondary_addressing says), and its
/// parent must be in the plan too (so that every consumer knows the device the VLAN rides on);
/// otherwise an Error names both. Two NICs with the same table are an Error.
Result<Plan> make_plan(const Instance& instance, const PlanOptions& options);

}  // namespace nicsync
