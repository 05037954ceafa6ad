#include <algorithm>
#include <set>
#include <tuple>

#include "nicsync/plan.hpp"

namespace nicsync {

namespace {

bool has_ipv4(const Interface& nic) { return nic.ipv4.subnet.has_value() && !nic.ipv4.addresses.empty(); }
bool has_ipv6(const Interface& nic) { return !nic.ipv6.addresses.empty(); }

/// Table T's IPv4 routes, in the order they must be installed: the subnet's link route first (so
/// the gateway is reachable in T), then the default via the gateway, then (`main_fallback`)
/// main's fallback default at metric T.
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

/// The subnet of `subnets` that holds `address`, if any.
std::optional<Ipv6Cidr> subnet_of(const Ipv6Address& address, const std::vector<Ipv6Cidr>& subnets) {
  for (const Ipv6Cidr& subnet : subnets) {
    if (subnet.contains(address)) return subnet;
  }
  return std::nullopt;
}

}  // namespace

std::vector<Ipv6Route> ipv6_policy_routes(const NicPlan& nic) {
  std::vector<Ipv6Route> routes;
  if (!nic.table) return routes;
  const uint32_t table = *nic.table;
  if (nic.subnet6) routes.push_back(Ipv6Route{*nic.subnet6, std::nullopt, table, std::nullopt});
  if (nic.gateway6) {
    Ipv6Cidr any;  // ::/0
    routes.push_back(Ipv6Route{any, nic.gateway6, table, std::nullopt});
    // Main's fallback only via a link-local router: a global one is reachable from main only
    // through a prefix route, and the NIC's /128 addresses put none there.
    if (nic.role != NicRole::primary && nic.gateway6->is_link_local()) {
      routes.push_back(Ipv6Route{any, nic.gateway6, std::nullopt, kIpv6FallbackMetricBase + table});
    }
  }
  return routes;
}

Result<Plan> make_plan(const Instance& instance, const PlanOptions& options) {
  std::vector<const Interface*> nics;
  for (const Interface& nic : instance.interfaces) {
    if (has_ipv4(nic) || has_ipv6(nic)) nics.push_back(&nic);
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
                   ", which is not planned (no IPv4 or IPv6 address, or not selected)"};
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
    const bool ipv4 = has_ipv4(*nic);
    NicPlan out{*nic->os_name, nic->mac, nic->role, Addressing::static_, std::nullopt, std::nullopt, {},
                std::nullopt, {}, {}};
    if (ipv4) {
      out.subnet = nic->ipv4.subnet;
      out.gateway = nic->ipv4.gateway;
    }
    if (nic->vlan) out.vlan = VlanPlan{nic->vlan->id, *nic->vlan->parent};
    const bool primary = nic->role == NicRole::primary;
    uint32_t offset = options.card_stride * static_cast<uint32_t>(nic->card) + static_cast<uint32_t>(*nic->index);
    uint32_t table = options.table_base + offset;
    uint32_t priority = options.priority_base + offset;
    // The primary stays on DHCP; a secondary NIC only when asked to, and only for IPv4 (an
    // IPv6-only NIC has no lease to take), and never a VLAN, whose device nicsync makes (OCI's
    // bare-metal VNICs).
    if (primary || (options.secondary_addressing == Addressing::dhcp && ipv4 && !nic->vlan)) {
      // The DHCP lease provides the first address; only the secondaries are configured.
      out.addressing = Addressing::dhcp;
      if (ipv4) out.addresses.assign(nic->ipv4.addresses.begin() + 1, nic->ipv4.addresses.end());
      if (!primary) out.lease_route_metric = table;
    } else if (ipv4) {
      out.addresses = nic->ipv4.addresses;
    }
    // IPv6 is static on every NIC, the primary's included: all addresses as /128.
    out.addresses6 = nic->ipv6.addresses;
    if (!out.addresses6.empty()) out.subnet6 = subnet_of(out.addresses6.front(), nic->ipv6.subnets);
    out.gateway6 = nic->ipv6.gateway;
    if (policy && (!primary || options.primary_rules)) {
      if (!tables.insert(table).second) {
        return Error{"interfaces share routing table " + std::to_string(table) + " (" +
                     nic->os_name->str() + " has card " + std::to_string(nic->card) +
                     ", index " + std::to_string(*nic->index) + ")"};
      }
      out.table = table;
      // The primary's DHCP lease (and RA) already give main its default: no fallback from it.
      if (ipv4) out.routes = policy_routes(out, table, !primary);
      out.routes6 = ipv6_policy_routes(out);
      // A rule for every address of the NIC, the one its DHCP lease carries included, then one
      // for every prefix delegated to it.
      if (ipv4) {
        for (const Ipv4Address& address : nic->ipv4.addresses) {
          out.rules.push_back(Ipv4Rule{address, table, priority});
        }
      }
      for (const Ipv4Cidr& prefix : nic->ipv4.delegated_prefixes) {
        out.rules.push_back(Ipv4Rule{prefix.network(), table, priority, prefix.prefix_length()});
      }
      for (const Ipv6Address& address : out.addresses6) out.rules6.push_back(Ipv6Rule{address, table, priority});
      for (const Ipv6Cidr& prefix : nic->ipv6.delegated_prefixes) {
        out.rules6.push_back(Ipv6Rule{prefix.network(), table, priority, prefix.prefix_length()});
      }
    }
    // A delegated prefix is the host's as a whole: a local route on its NIC, policy or not.
    for (const Ipv4Cidr& prefix : nic->ipv4.delegated_prefixes) {
      out.routes.push_back(Ipv4Route{prefix, std::nullopt, kLocalTable, std::nullopt, RouteScope::global, false,
                                     RouteType::local});
    }
    for (const Ipv6Cidr& prefix : nic->ipv6.delegated_prefixes) {
      out.routes6.push_back(Ipv6Route{prefix, std::nullopt, kLocalTable, std::nullopt, RouteType::local});
    }
    plan.nics.push_back(std::move(out));
  }
  return plan;
}

}  // namespace nicsync
