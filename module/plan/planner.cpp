#include <algorithm>
#include <set>
#include <tuple>

#include "nicsync/plan.hpp"

namespace nicsync {

namespace {

bool has_ipv4(const Interface& nic) { return nic.ipv4.subnet.has_value() && !nic.ipv4.addresses.empty(); }

/// Table T's routes, in the order they must be installed: the subnet's link route first (so the
/// gateway is reachable in T), then the default via the gateway, then (`main_fallback`) main's
/// fallback default at metric T.
std::vector<Ipv4Route> policy_routes(const NicPlan& nic, uint32_t table, bool main_fallback) {
  std::vector<Ipv4Route> routes;
  routes.push_back(Ipv4Route{*nic.subnet, std::nullopt, table, std::nullopt, RouteScope::link, false});
  if (nic.gateway) {
    Ipv4Cidr any;  // 0.0.0.0/0
    routes.push_back(Ipv4Route{any, nic.gateway, table, std::nullopt, RouteScope::global, true});
    if (main_fallback) {
      routes.push_back(Ipv4Route{any, nic.gateway, std::nullopt, table, RouteScope::global, true});
    }
  }
  return routes;
}

}  // namespace

Result<Plan> make_plan(const Instance& instance, const PlanOptions& options) {
  std::vector<const Interface*> nics;
  for (const Interface& nic : instance.interfaces) {
    if (has_ipv4(nic)) nics.push_back(&nic);
  }
  for (const Interface* nic : nics) {
    if (!nic->os_name) return Error{"interface " + nic->mac.str() + " has no OS name"};
    if (!nic->index) return Error{"interface " + nic->os_name->str() + " has no device index"};
    if (!nic->vlan) continue;
    if (!nic->vlan->parent) return Error{"VLAN " + nic->os_name->str() + " has no parent interface"};
    if (nic->role == NicRole::primary) {
      return Error{"VLAN " + nic->os_name->str() + " cannot be the primary interface (it is left to DHCP)"};
    }
    bool parent_planned = std::any_of(nics.begin(), nics.end(), [&](const Interface* other) {
      return !other->vlan && other->os_name == nic->vlan->parent;
    });
    if (!parent_planned) {
      return Error{"VLAN " + nic->os_name->str() + " rides on " + nic->vlan->parent->str() +
                   ", which is not planned (no IPv4 address, or not selected)"};
    }
  }
  std::stable_sort(nics.begin(), nics.end(), [](const Interface* a, const Interface* b) {
    return std::tuple(a->role != NicRole::primary, a->card, *a->index) <
           std::tuple(b->role != NicRole::primary, b->card, *b->index);
  });

  bool policy = options.policy_routing == PolicyRouting::on ||
                (options.policy_routing == PolicyRouting::automatic && nics.size() >= 2);

  Plan plan;
  std::set<uint32_t> tables;
  for (const Interface* nic : nics) {
    NicPlan out{*nic->os_name, nic->mac, nic->role, Addressing::static_, *nic->ipv4.subnet,
                nic->ipv4.gateway, {}, std::nullopt, {}, {}};
    if (nic->vlan) out.vlan = VlanPlan{nic->vlan->id, *nic->vlan->parent};
    const bool primary = nic->role == NicRole::primary;
    uint32_t offset = options.card_stride * static_cast<uint32_t>(nic->card) + static_cast<uint32_t>(*nic->index);
    uint32_t table = options.table_base + offset;
    // The primary stays on DHCP; a secondary NIC only when asked to, and never a VLAN, whose
    // device nicsync makes (OCI's bare-metal VNICs).
    if (primary || (options.secondary_addressing == Addressing::dhcp && !nic->vlan)) {
      // The DHCP lease provides the first address; only the secondaries are configured.
      out.addressing = Addressing::dhcp;
      out.addresses.assign(nic->ipv4.addresses.begin() + 1, nic->ipv4.addresses.end());
      if (!primary) out.lease_route_metric = table;
    } else {
      out.addresses = nic->ipv4.addresses;
    }
    if (policy && (!primary || options.primary_rules)) {
      if (!tables.insert(table).second) {
        return Error{"interfaces share routing table " + std::to_string(table) + " (" +
                     nic->os_name->str() + " has card " + std::to_string(nic->card) +
                     ", index " + std::to_string(*nic->index) + ")"};
      }
      out.table = table;
      // The primary's DHCP lease already gives main its default: no fallback from it.
      out.routes = policy_routes(out, table, !primary);
      // A rule for every address of the NIC, the one its DHCP lease carries included.
      for (const Ipv4Address& address : nic->ipv4.addresses) {
        out.rules.push_back(Ipv4Rule{address, table, options.priority_base + offset});
      }
    }
    plan.nics.push_back(std::move(out));
  }
  return plan;
}

}  // namespace nicsync
