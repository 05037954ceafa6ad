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

/// unicast: an ordinary route. local: a delegated prefix (AWS ipv4-prefix / ipv6-prefix) that the
/// host accepts as its own, every address of it, without configuring them one by one; always in
/// table local (kLocalTable), on the NIC the prefix is assigned to.
enum class RouteType { unicast, local };

inline constexpr uint32_t kLocalTable = 255;

struct Ipv4Route {
  Ipv4Cidr destination;                ///< 0.0.0.0/0 for a default route
  std::optional<Ipv4Address> gateway;  ///< empty for a link route
  std::optional<uint32_t> table;       ///< empty: main
  std::optional<uint32_t> metric;
  RouteScope scope = RouteScope::global;
  bool onlink = false;
  RouteType type = RouteType::unicast;
};

struct Ipv4Rule {
  Ipv4Address from;
  uint32_t table = 0;
  uint32_t priority = 0;
  /// 32 for an address; a delegated prefix's length for `from PREFIX` (then `from` is its network).
  int prefix_length = 32;
};

/// An IPv6 route. IPv6 next hops are usually the router's link-local address (fe80::/10), which
/// is always on-link through the route's NIC: there is no onlink flag and no link scope.
struct Ipv6Route {
  Ipv6Cidr destination;                ///< ::/0 for a default route
  std::optional<Ipv6Address> gateway;  ///< empty for a link route
  std::optional<uint32_t> table;       ///< empty: main
  /// Empty: none given, which the kernel stores as 1024 (IPv6 routes always have a metric).
  std::optional<uint32_t> metric;
  RouteType type = RouteType::unicast;
};

struct Ipv6Rule {
  Ipv6Address from;
  uint32_t table = 0;
  uint32_t priority = 0;
  int prefix_length = 128;  ///< 128 for an address; a delegated prefix's length otherwise
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
  std::optional<Ipv4Cidr> subnet;  ///< empty for an IPv6-only NIC
  std::optional<Ipv4Address> gateway;
  /// Static IPv4 addresses to configure, in metadata order. For a DHCP NIC these are only its
  /// secondary IPs (the lease provides the first); for a static NIC, all of them.
  std::vector<Ipv4Address> addresses;
  std::optional<uint32_t> table;  ///< per-NIC routing table (both families), when policy routing applies
  /// In the order they must be installed; local routes of delegated IPv4 prefixes last.
  std::vector<Ipv4Route> routes;
  /// One per IPv4 address of the NIC, a DHCP NIC's leased first address included, then one per
  /// delegated IPv4 prefix.
  std::vector<Ipv4Rule> rules;
  /// Set when the NIC is a VLAN device to create (with `mac` as its address) on `vlan->parent`.
  std::optional<VlanPlan> vlan{};
  /// Set for a DHCP NIC other than the primary: the lease may install no route of its own
  /// (no default, no static routes), and the metric its DHCP client gives the lease's routes is
  /// this one (T), above the primary's, so that the prefix route the lease puts into main never
  /// wins over the primary's. Only consumers that can set it use it (netplan: route-metric).
  std::optional<uint32_t> lease_route_metric{};

  /// IPv6 (docs/ipv6.md). Every IPv6 address of the metadata, in its order, the primary's first
  /// included (nicsync does not rely on DHCPv6); each is configured as /128, so none puts a
  /// prefix route anywhere.
  std::vector<Ipv6Address> addresses6{};
  std::optional<Ipv6Cidr> subnet6{};     ///< the subnet of the first IPv6 address
  std::optional<Ipv6Address> gateway6{};  ///< from the metadata, or learned from the kernel (AWS)
  /// With a table: ipv6_policy_routes(); then local routes of delegated IPv6 prefixes (with or
  /// without a table).
  std::vector<Ipv6Route> routes6{};
  /// With a table: one per IPv6 address, then one per delegated IPv6 prefix; same priority as IPv4.
  std::vector<Ipv6Rule> rules6{};
};

struct Plan {
  std::vector<NicPlan> nics;  ///< primary first, then by card and index
};

/// Main's IPv6 fallback default sits at this + T: above 1024, the metric of the default route an
/// RA gives the primary (the kernel's and networkd's), as T is above the primary's DHCPv4 default.
/// At metric T it would win over the primary's, whose replies would leave by the wrong NIC.
inline constexpr uint32_t kIpv6FallbackMetricBase = 1024;

/// Table T's IPv6 routes of a NIC with a table, each when known, in install order:
/// `subnet6 dev NIC table T`, `default via gateway6 dev NIC table T`, then (not for the primary,
/// and only for a link-local gateway6) main's fallback `default via gateway6 dev NIC metric
/// kIpv6FallbackMetricBase + T`. Empty without a table. Live apply calls it again once it has
/// learned a router the metadata does not name (AWS).
std::vector<Ipv6Route> ipv6_policy_routes(const NicPlan& nic);

/// Builds the plan. Every interface must have an os_name and an index (see links.hpp), and a VLAN
/// interface its parent's name; interfaces with neither IPv4 nor IPv6 addresses are skipped. A
/// VLAN NIC is planned like any other static NIC (whatever secondary_addressing says), and its
/// parent must be in the plan too (so that every consumer knows the device the VLAN rides on);
/// otherwise an Error names both. Two NICs with the same table are an Error.
Result<Plan> make_plan(const Instance& instance, const PlanOptions& options);

}  // namespace nicsync
