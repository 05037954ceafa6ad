#pragma once
/// The planner: turns a resolved Instance into the vendor-neutral desired network state
/// (per NIC: addressing, routes in apply order, policy rules). Pure: no OS access.

#include <cstdint>
#include <optional>
#include <vector>

#include "nicsync/model.hpp"

namespace nicsync {

enum class PolicyRouting { automatic, on, off };

/// Knobs of the default scheme (DESIGN.md, "Default scheme"); defaults reproduce it exactly.
struct PlanOptions {
  PolicyRouting policy_routing = PolicyRouting::automatic;
  uint32_t table_base = 1000;     ///< T = table_base + card_stride*card + index
  uint32_t card_stride = 100;
  uint32_t priority_base = 1000;  ///< rule priority = priority_base + card_stride*card + index
};

enum class Addressing { dhcp, static_ };
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
  /// Static IPv4 addresses to configure, in metadata order. For a DHCP primary these are only
  /// its secondary IPs (the lease provides the first); for a static NIC, all of them.
  std::vector<Ipv4Address> addresses;
  std::optional<uint32_t> table;  ///< per-NIC routing table, when policy routing applies
  std::vector<Ipv4Route> routes;  ///< in the order they must be installed
  std::vector<Ipv4Rule> rules;
  /// Set when the NIC is a VLAN device to create (with `mac` as its address) on `vlan->parent`.
  std::optional<VlanPlan> vlan{};
};

struct Plan {
  std::vector<NicPlan> nics;  ///< primary first, then by card and index
};

/// Builds the plan. Every interface must have an os_name and an index (see links.hpp), and a VLAN
/// interface its parent's name; interfaces without IPv4 data are skipped (IPv6 comes later). A
/// VLAN NIC is planned like any other static NIC, and its parent must be in the plan too (so
/// that every consumer knows the device the VLAN rides on); otherwise an Error names both.
Result<Plan> make_plan(const Instance& instance, const PlanOptions& options);

}  // namespace nicsync
