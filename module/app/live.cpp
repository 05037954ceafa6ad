#include "app/live.hpp"

#include <algorithm>
#include <map>
#include <optional>
#include <set>
#include <span>
#include <tuple>
#include <utility>

namespace nicsync {

namespace {

/// What makes two kernel objects the same object for the diff.
auto address_identity(const KernelAddress& a) { return std::make_tuple(a.ifindex, a.address); }

/// The kernel's identity of a route plus where it leads; protocol, scope and flags left out,
/// so an equal route installed by networkd or ifup counts as present.
auto route_identity(const KernelRoute& r) {
  return std::make_tuple(r.table, r.destination, r.gateway, r.ifindex, r.metric, r.type);
}

auto rule_identity(const KernelRule& r) { return std::make_tuple(r.family, r.priority, r.from, r.table); }

/// A set of kernel objects by identity: membership in O(log n), where a linear search made the
/// diff quadratic (8,186 objects at 80 NICs x 50 addresses).
template <typename T, auto identity>
class ObjectSet {
 public:
  explicit ObjectSet(const std::vector<T>& objects) {
    for (const T& object : objects) identities_.insert(identity(object));
  }
  bool contains(const T& object) const { return identities_.count(identity(object)) != 0; }

 private:
  std::set<decltype(identity(std::declval<const T&>()))> identities_;
};

using AddressSet = ObjectSet<KernelAddress, address_identity>;
using RouteSet = ObjectSet<KernelRoute, route_identity>;
using RuleSet = ObjectSet<KernelRule, rule_identity>;

std::string name_of(int ifindex, const std::vector<KernelLink>& links) {
  for (const KernelLink& link : links) {
    if (link.ifindex == ifindex) return link.name.str();
  }
  return "if" + std::to_string(ifindex);
}

/// The name of `ifindex` in a change of `group`: the group's NIC for kPendingIfindex.
std::string name_in(int ifindex, const std::string& group, const std::vector<KernelLink>& links) {
  return ifindex == kPendingIfindex ? group : name_of(ifindex, links);
}

const KernelLink* find_link(const InterfaceName& name, const std::vector<KernelLink>& links) {
  auto found = std::find_if(links.begin(), links.end(), [&](const KernelLink& l) { return l.name == name; });
  return found == links.end() ? nullptr : &*found;
}

struct Wanted {
  std::vector<KernelAddress> addresses;
  std::vector<KernelRoute> routes;
  std::vector<KernelRule> rules;
};

}  // namespace

Result<KernelSnapshot> read_kernel(Netlink& netlink) {
  KernelSnapshot snapshot;
  NICSYNC_TRY_ASSIGN(snapshot.links, netlink.links());
  NICSYNC_TRY_ASSIGN(snapshot.addresses, netlink.addresses());
  NICSYNC_TRY_ASSIGN(snapshot.routes, netlink.routes());
  NICSYNC_TRY_ASSIGN(snapshot.rules, netlink.rules());
  return snapshot;
}

namespace {

/// The link-local gateway of a default route (::/0) on the link of `name`, if the kernel has one
/// that nicsync did not add itself (its own would keep a router known after it is gone).
std::optional<Ipv6Address> ipv6_router_on(const InterfaceName& name, const KernelSnapshot& kernel) {
  const KernelLink* link = find_link(name, kernel.links);
  if (link == nullptr) return std::nullopt;
  for (const KernelRoute& route : kernel.routes) {
    if (route.ifindex == link->ifindex && route.type == RouteType::unicast && route.protocol != kNicsyncProtocol &&
        route.destination == IpPrefix(Ipv6Cidr()) && route.gateway && route.gateway->is_link_local()) {
      return *route.gateway->v6();
    }
  }
  return std::nullopt;
}

}  // namespace

std::vector<std::string> learn_ipv6_routers(Plan& plan, const KernelSnapshot& kernel) {
  std::vector<std::string> lines;
  for (NicPlan& nic : plan.nics) {
    if (!nic.table || nic.addresses6.empty() || nic.gateway6) continue;
    const std::string name = nic.name.str();
    std::optional<Ipv6Address> router = ipv6_router_on(nic.name, kernel);
    std::string source = name;
    for (const NicPlan& other : plan.nics) {
      if (router || !nic.subnet6 || &other == &nic || other.subnet6 != nic.subnet6) continue;
      router = ipv6_router_on(other.name, kernel);
      source = other.name.str();
    }
    if (!router) {
      std::string where = nic.subnet6 ? "a link of " + nic.subnet6->str() : name;
      lines.push_back(name + ": no IPv6 router known (no router advertisement on " + where + "); table " +
                      std::to_string(*nic.table) + " gets no IPv6 default route");
      continue;
    }
    nic.gateway6 = *router;
    // The planner's routes for the NIC as if the metadata had named the router; the local
    // routes of delegated prefixes (the rest of routes6) stay as they were.
    std::vector<Ipv6Route> routes = ipv6_policy_routes(nic);
    for (const Ipv6Route& route : nic.routes6) {
      if (route.type == RouteType::local) routes.push_back(route);
    }
    nic.routes6 = std::move(routes);
    lines.push_back(name + ": IPv6 router " + router->str() + " learned from the default route on " + source);
  }
  return lines;
}

/// The order the NICs' changes go in: the primary first, then the others from the highest rule
/// priority down (the planner's order, primary then by card and index, is the lowest up). The
/// kernel keeps a family's rules in one list sorted by priority and finds a new rule's place by
/// walking it from the start past every rule of a lower or equal priority. In plan order each
/// NIC's rules walked past all the rules added before them, quadratic in the number of rules;
/// from the highest priority down they stop after the primary's and their own NIC's. 80 NICs x
/// 50 rules in batches of 128, in a fresh namespace: 72-89 ms lowest first, 40-54 ms in this order
/// (the duplicate check of NLM_F_EXCL still scans the whole list for each).
std::vector<const NicPlan*> change_order(const Plan& plan) {
  struct Keyed {
    bool primary;
    uint32_t highest_priority;  // of the NIC's rules, both families; 0 without rules
    const NicPlan* nic;
  };
  std::vector<Keyed> keyed;
  for (const NicPlan& nic : plan.nics) {
    uint32_t highest = 0;
    for (const Ipv4Rule& rule : nic.rules) highest = std::max(highest, rule.priority);
    for (const Ipv6Rule& rule : nic.rules6) highest = std::max(highest, rule.priority);
    keyed.push_back(Keyed{nic.role == NicRole::primary, highest, &nic});
  }
  std::stable_sort(keyed.begin(), keyed.end(), [](const Keyed& a, const Keyed& b) {
    if (a.primary != b.primary) return a.primary;
    return a.highest_priority > b.highest_priority;
  });
  std::vector<const NicPlan*> order;
  for (const Keyed& k : keyed) order.push_back(k.nic);
  return order;
}

Result<std::vector<LiveChange>> plan_live_changes(const Plan& plan, const KernelSnapshot& kernel,
                                                  const std::vector<OwnedAddress>& owned,
                                                  PrimarySecondaryPrefix primary_prefix) {
  std::vector<LiveChange> per_nic;
  Wanted all;
  std::set<int> brought_up;  // links an earlier change already brings up
  const AddressSet present_addresses(kernel.addresses);
  const RouteSet present_routes(kernel.routes);
  const RuleSet present_rules(kernel.rules);
  for (const NicPlan* nic_in_order : change_order(plan)) {
    const NicPlan& nic = *nic_in_order;
    const std::string group = nic.name.str();
    const KernelLink* link = find_link(nic.name, kernel.links);
    const KernelLink* parent = nic.vlan ? find_link(nic.vlan->parent, kernel.links) : nullptr;
    if (link == nullptr && !nic.vlan) return Error{nic.name.str() + ": no such interface in the kernel"};
    if (link == nullptr && parent == nullptr) {
      return Error{nic.name.str() + ": the VLAN's parent " + nic.vlan->parent.str() +
                   " is not in the kernel"};
    }
    // A secondary DHCP NIC that is down is its DHCP client's to bring up (nicsync brings up only
    // static NICs), with the routes and rules of the files: nothing to change on it now, and
    // nothing of it is stale either.
    const bool leave_to_dhcp = nic.addressing == Addressing::dhcp && nic.role != NicRole::primary &&
                               link != nullptr && !link->up;
    auto add = [&](auto object) {
      if (!leave_to_dhcp) per_nic.push_back(LiveChange{LiveAction::add, group, object});
    };
    auto bring_up = [&](int ifindex) {
      if (ifindex == kPendingIfindex || brought_up.insert(ifindex).second) add(LinkUp{ifindex});
    };
    if (link != nullptr && link->up) brought_up.insert(link->ifindex);
    // The VLAN driver refuses to bring a VLAN up while its parent is down.
    if (parent != nullptr && !parent->up) bring_up(parent->ifindex);
    int ifindex = kPendingIfindex;
    if (link != nullptr) {
      ifindex = link->ifindex;
    } else {
      add(VlanLink{nic.name, parent->ifindex, nic.vlan->id, nic.mac});  // made down, with the NIC's MAC
    }

    if (nic.addressing == Addressing::static_) bring_up(ifindex);
    // In the order they go in: table routes (both families, local routes too), rules, addresses,
    // then main's fallbacks once the NIC is complete.
    std::vector<KernelRoute> main_routes;
    auto want_route = [&](const KernelRoute& route) {
      all.routes.push_back(route);
      if (present_routes.contains(route)) return;
      if (route.table == kMainTable) {
        main_routes.push_back(route);
      } else {
        add(route);
      }
    };
    for (const Ipv4Route& r : nic.routes) {
      want_route(KernelRoute{r.table.value_or(kMainTable), r.destination, r.gateway, ifindex, r.metric, r.scope,
                             r.onlink, kNicsyncProtocol, r.type});
    }
    for (const Ipv6Route& r : nic.routes6) {
      std::optional<IpAddress> gateway;
      if (r.gateway) gateway = *r.gateway;
      // A router with a global address (Alibaba's) is reached through table T's subnet route;
      // onlink keeps the default valid where the metadata gives no subnet. (Main gets no fallback
      // via such a router, see ipv6_policy_routes().) A link-local router needs no flag.
      const bool onlink = r.gateway && !r.gateway->is_link_local();
      want_route(KernelRoute{r.table.value_or(kMainTable), r.destination, gateway, ifindex, r.metric,
                             RouteScope::global, onlink, kNicsyncProtocol, r.type});
    }
    auto want_rule = [&](const KernelRule& rule) {
      all.rules.push_back(rule);
      if (!present_rules.contains(rule)) add(rule);
    };
    for (const Ipv4Rule& r : nic.rules) {
      want_rule(KernelRule{r.priority, Ipv4Cidr::containing(r.from, r.prefix_length), r.table, kNicsyncProtocol,
                           IpFamily::v4});
    }
    for (const Ipv6Rule& r : nic.rules6) {
      want_rule(KernelRule{r.priority, Ipv6Cidr::containing(r.from, r.prefix_length), r.table, kNicsyncProtocol,
                           IpFamily::v6});
    }
    auto want_address = [&](const KernelAddress& address) {
      all.addresses.push_back(address);
      if (!present_addresses.contains(address)) add(address);
    };
    const bool primary = nic.role == NicRole::primary;
    for (const Ipv4Address& a : nic.addresses) {
      // Other NICs' addresses put no prefix route into main; the DHCP primary's secondaries
      // take the prefix its files use (see PrimarySecondaryPrefix), so the lease stays the source.
      // Another DHCP NIC's secondaries are /32 in both formats' files, and so they are here.
      int prefix = nic.subnet ? nic.subnet->prefix_length() : 32;
      if (nic.addressing == Addressing::dhcp && (!primary || primary_prefix == PrimarySecondaryPrefix::host)) {
        prefix = 32;
      }
      want_address(KernelAddress{ifindex, a, prefix, !primary, false});
    }
    // IPv6 addresses, the primary's too, are /128: no prefix route (it would be a pointless /128
    // in main), and no duplicate address detection, which would hold each back for a second.
    for (const Ipv6Address& a : nic.addresses6) want_address(KernelAddress{ifindex, a, 128, true, true});
    for (const KernelRoute& route : main_routes) add(route);
  }

  // What nicsync owns and no longer wants: rules first (so nothing looks up a table being
  // emptied), then routes, then addresses. Routes before addresses: when the last IPv4 address of
  // a device goes, the kernel deletes every route through that device itself, and a route
  // removal after it would find its route gone (apply_group() counts that as done anyway).
  std::vector<LiveChange> changes;
  auto remove = [&](auto object) { changes.push_back(LiveChange{LiveAction::remove, "stale", object}); };
  const AddressSet wanted_addresses(all.addresses);
  const RouteSet wanted_routes(all.routes);
  const RuleSet wanted_rules(all.rules);
  for (const KernelRule& rule : kernel.rules) {
    if (rule.protocol == kNicsyncProtocol && !wanted_rules.contains(rule)) remove(rule);
  }
  for (const KernelRoute& route : kernel.routes) {
    if (route.protocol == kNicsyncProtocol && !wanted_routes.contains(route)) remove(route);
  }
  std::multimap<IpAddress, const KernelAddress*> present_by_address;
  for (const KernelAddress& address : kernel.addresses) present_by_address.emplace(address.address, &address);
  for (const OwnedAddress& o : owned) {
    auto [first, last] = present_by_address.equal_range(o.address);
    for (auto it = first; it != last; ++it) {
      const KernelAddress& address = *it->second;
      if (name_of(address.ifindex, kernel.links) == o.dev && !wanted_addresses.contains(address)) remove(address);
    }
  }
  changes.insert(changes.end(), per_nic.begin(), per_nic.end());
  return changes;
}

std::vector<OwnedAddress> owned_with_additions(const std::vector<OwnedAddress>& owned,
                                               const std::vector<LiveChange>& changes,
                                               const KernelSnapshot& kernel) {
  std::set<OwnedAddress> all(owned.begin(), owned.end());
  std::set<std::pair<std::string, IpAddress>> listed;
  for (const OwnedAddress& o : owned) listed.emplace(o.dev, o.address);
  for (const LiveChange& change : changes) {
    const auto* address = std::get_if<KernelAddress>(&change.object);
    if (change.action != LiveAction::add || address == nullptr) continue;
    std::string dev = name_in(address->ifindex, change.group, kernel.links);
    if (listed.emplace(dev, address->address).second) {
      all.insert(OwnedAddress{std::move(dev), address->address, address->prefix_length});
    }
  }
  return {all.begin(), all.end()};
}

std::string describe(const LiveChange& change, const std::vector<KernelLink>& links) {
  std::string verb = change.action == LiveAction::add ? "add " : "remove ";
  // The links to name objects by; with the group's NIC as kPendingIfindex when an object is on it.
  std::vector<KernelLink> with_group;
  auto names_for = [&](int ifindex) -> const std::vector<KernelLink>& {
    Result<InterfaceName> group = InterfaceName::parse(change.group);
    if (ifindex != kPendingIfindex || !group.ok()) return links;
    with_group = links;
    with_group.push_back(KernelLink{kPendingIfindex, *group, MacAddress(), false});
    return with_group;
  };
  return std::visit(
      [&](const auto& object) -> std::string {
        using T = std::decay_t<decltype(object)>;
        if constexpr (std::is_same_v<T, LinkUp>) {
          return "set link " + name_in(object.ifindex, change.group, links) + " up";
        } else if constexpr (std::is_same_v<T, VlanLink>) {
          return verb + "vlan " +
                 describe_vlan(object.name.str(), name_of(object.parent_ifindex, links), object.id,
                               object.mac);
        } else if constexpr (std::is_same_v<T, KernelRule>) {
          return verb + "rule " + nicsync::describe(object);
        } else if constexpr (std::is_same_v<T, KernelAddress>) {
          return verb + "address " + nicsync::describe(object, names_for(object.ifindex));
        } else {
          return verb + "route " + nicsync::describe(object, names_for(object.ifindex));
        }
      },
      change.object);
}

namespace {

/// Carries out one change; `created` is the ifindex that kPendingIfindex stands for in this group.
Result<void> perform(Netlink& netlink, LiveAction action, const LiveChange::Object& object, int created) {
  auto real = [&](int ifindex) { return ifindex == kPendingIfindex ? created : ifindex; };
  return std::visit(
      [&](auto o) -> Result<void> {
        using T = std::decay_t<decltype(o)>;
        bool add = action == LiveAction::add;
        if constexpr (std::is_same_v<T, LinkUp>) {
          return add ? netlink.set_link_up(real(o.ifindex)) : Result<void>();  // a link is left up
        } else if constexpr (std::is_same_v<T, VlanLink>) {
          return add ? netlink.add_vlan(o.name.str(), o.parent_ifindex, o.id, o.mac)
                     : netlink.delete_link(created);
        } else if constexpr (std::is_same_v<T, KernelAddress>) {
          o.ifindex = real(o.ifindex);
          return add ? netlink.add_address(o) : netlink.delete_address(o);
        } else if constexpr (std::is_same_v<T, KernelRoute>) {
          o.ifindex = real(o.ifindex);
          return add ? netlink.add_route(o) : netlink.delete_route(o);
        } else {
          return add ? netlink.add_rule(o) : netlink.delete_rule(o);
        }
      },
      object);
}

/// The ifindex of the link named `name`, read back from the kernel (a VLAN just created).
Result<int> ifindex_of(Netlink& netlink, const InterfaceName& name) {
  NICSYNC_TRY_ASSIGN(std::vector<KernelLink> links, netlink.links());
  const KernelLink* link = find_link(name, links);
  if (link == nullptr) return Error{"created " + name.str() + ", but the kernel does not list it"};
  return link->ifindex;
}

LiveAction inverse(LiveAction action) { return action == LiveAction::add ? LiveAction::remove : LiveAction::add; }

/// Addresses, routes and rules go to the kernel in batches (Netlink::apply); links one at a time.
bool batched(const LiveChange& change) {
  return !std::holds_alternative<LinkUp>(change.object) && !std::holds_alternative<VlanLink>(change.object);
}

/// A batched change as Netlink::apply() takes it, doing `action` (the change's own, or its
/// inverse to undo it); `created` as in perform().
ObjectChange object_change(const LiveChange& change, LiveAction action, int created) {
  const ChangeKind kind = action == LiveAction::add ? ChangeKind::add : ChangeKind::remove;
  auto real = [&](auto object) {
    if (object.ifindex == kPendingIfindex) object.ifindex = created;
    return object;
  };
  if (const auto* address = std::get_if<KernelAddress>(&change.object)) return {kind, real(*address)};
  if (const auto* route = std::get_if<KernelRoute>(&change.object)) return {kind, real(*route)};
  return {kind, std::get<KernelRule>(change.object)};
}

/// The owned-address list of a LiveOutcome, indexed by device and address so that keeping it in
/// step with thousands of address changes does not search the list for each.
class OwnedList {
 public:
  explicit OwnedList(std::vector<OwnedAddress>& owned) : owned_(owned) {
    for (const OwnedAddress& o : owned_) keys_.emplace(o.dev, o.address);
  }

  /// Keeps the list in step with an address change that took effect.
  void record(const LiveChange& change, const KernelSnapshot& kernel, LiveAction action) {
    const auto* address = std::get_if<KernelAddress>(&change.object);
    if (address == nullptr) return;
    OwnedAddress entry{name_in(address->ifindex, change.group, kernel.links), address->address,
                       address->prefix_length};
    if (keys_.erase({entry.dev, entry.address}) > 0) {
      std::erase_if(owned_, [&](const OwnedAddress& o) { return o.dev == entry.dev && o.address == entry.address; });
    }
    if (action == LiveAction::add) {
      keys_.emplace(entry.dev, entry.address);
      owned_.push_back(std::move(entry));
    }
  }

 private:
  std::vector<OwnedAddress>& owned_;
  std::set<std::pair<std::string, IpAddress>> keys_;
};

/// " (3 earlier changes of eth1 undone)", and what the kernel made after the failed change in
/// the same batch: " (1 later change of eth1, sent in the same batch, undone)"; "" for none.
std::string undone_text(size_t earlier, size_t later, const std::string& what) {
  auto count = [](size_t n, const char* which) {
    return std::to_string(n) + " " + which + " change" + (n == 1 ? "" : "s");
  };
  if (earlier == 0 && later == 0) return "";
  if (later == 0) return " (" + count(earlier, "earlier") + " of " + what + " undone)";
  if (earlier == 0) return " (" + count(later, "later") + " of " + what + ", sent in the same batch, undone)";
  return " (" + count(earlier, "earlier") + " of " + what + " undone, and " + count(later, "later") +
         " sent in the same batch)";
}

/// Applies one group's changes: runs of addresses, routes and rules in batches, links one by
/// one. On a failure it undoes, newest first and batched the same way, every change of the
/// group that took effect: those before the failed one, and those after it that the kernel made
/// in the same batch (it carries out a whole batch); the Error names the failed object and says
/// what was undone.
Result<void> apply_group(Netlink& netlink, std::span<const LiveChange> group, const KernelSnapshot& kernel,
                         LiveOutcome& outcome, OwnedList& owned) {
  int created = kPendingIfindex;  // the ifindex of the link the group created
  std::vector<size_t> made;       // the changes that took effect, in order
  std::optional<std::pair<size_t, Error>> failure;  // the first change that failed, and why
  auto took_effect = [&](size_t i) {
    made.push_back(i);
    outcome.applied.push_back(describe(group[i], kernel.links));
    owned.record(group[i], kernel, group[i].action);
  };
  auto failed = [&](size_t i, const Error& error) {
    if (!failure) failure.emplace(i, error);
  };
  // A removal whose object the kernel no longer has (it flushed it, or someone else removed it)
  // is done: the object is gone as wanted, and there is nothing to undo for it.
  auto gone_already = [&](size_t i, const Error& error) {
    if (group[i].action != LiveAction::remove || !already_gone(error)) return false;
    owned.record(group[i], kernel, LiveAction::remove);
    return true;
  };
  for (size_t i = 0; i < group.size() && !failure;) {
    if (batched(group[i])) {
      std::vector<ObjectChange> batch;
      for (size_t end = i; end < group.size() && batched(group[end]); ++end) {
        batch.push_back(object_change(group[end], group[end].action, created));
      }
      std::vector<Result<void>> results = netlink.apply(batch);
      for (size_t k = 0; k < results.size(); ++k) {
        if (results[k].ok()) {
          took_effect(i + k);
        } else if (!gone_already(i + k, results[k].error())) {
          failed(i + k, results[k].error());
        }
      }
      if (results.size() < batch.size() && !failure && !results.empty()) {
        // The round trips stopped after a removal that found its object gone: send the rest.
        i += results.size();
        continue;
      }
      if (results.size() < batch.size()) {
        failed(i + results.size(), Error{describe(group[i + results.size()], kernel.links) + ": not sent"});
      }
      i += batch.size();
      continue;
    }
    const LiveChange& change = group[i];
    auto result = perform(netlink, change.action, change.object, created);
    const auto* vlan = std::get_if<VlanLink>(&change.object);
    if (result.ok() && vlan != nullptr && change.action == LiveAction::add) {
      Result<int> found = ifindex_of(netlink, vlan->name);
      if (found.ok()) {
        created = *found;
      } else {
        // Made but not found: it cannot be deleted by ifindex; say so, and undo the rest.
        result = Error{"add vlan " + vlan->name.str() + ": " + found.error().message};
      }
    }
    if (result.ok()) {
      took_effect(i);
    } else {
      failed(i, result.error());
    }
    ++i;
  }
  if (!failure) return {};

  // Undo what took effect, newest first, so no NIC is left half configured. (A link brought up
  // stays up: harmless, and the next run needs it up anyway. A VLAN device the group made is
  // deleted, and with it the fact that it was brought up.)
  const size_t failed_index = failure->first;  // a plain variable: clang 14 cannot capture a binding
  const Error& error = failure->second;
  std::string undo_note;
  size_t earlier = 0;
  size_t later = 0;
  auto forget = [&](const LiveChange& undone_change) {
    std::string text = describe(undone_change, kernel.links);
    auto it = std::find(outcome.applied.rbegin(), outcome.applied.rend(), text);
    if (it != outcome.applied.rend()) outcome.applied.erase(std::next(it).base());
  };
  auto undone = [&](size_t index) {
    const LiveChange& change = group[index];
    ++(index < failed_index ? earlier : later);
    forget(change);
    owned.record(change, kernel, inverse(change.action));
  };
  auto not_undone = [&](size_t index, const Error& why) {
    undo_note = "; undoing \"" + describe(group[index], kernel.links) + "\" failed too: " + why.message;
  };
  for (auto it = made.rbegin(); it != made.rend(); ++it) {
    const LiveChange& change = group[*it];
    if (std::holds_alternative<LinkUp>(change.object)) continue;
    if (batched(change)) {
      // A run of addresses, routes and rules goes back in batches too, newest first, each
      // undone whatever became of the others.
      std::vector<size_t> run{*it};
      while (std::next(it) != made.rend() && batched(group[*std::next(it)])) run.push_back(*++it);
      for (size_t done = 0; done < run.size();) {
        std::vector<ObjectChange> batch;
        for (size_t k = done; k < run.size(); ++k) {
          batch.push_back(object_change(group[run[k]], inverse(group[run[k]].action), created));
        }
        std::vector<Result<void>> results = netlink.apply(batch);
        for (size_t k = 0; k < results.size(); ++k) {
          const bool removal = inverse(group[run[done + k]].action) == LiveAction::remove;
          if (results[k].ok() || (removal && already_gone(results[k].error()))) {
            undone(run[done + k]);
          } else {
            not_undone(run[done + k], results[k].error());
          }
        }
        if (results.empty()) {
          not_undone(run[done], Error{"not sent"});
          break;
        }
        done += results.size();
      }
      continue;
    }
    auto result_of_undo = perform(netlink, inverse(change.action), change.object, created);
    if (!result_of_undo.ok()) {
      not_undone(*it, result_of_undo.error());
      continue;
    }
    undone(*it);
    if (std::holds_alternative<VlanLink>(change.object)) {
      for (size_t k : made) {
        const auto* up = std::get_if<LinkUp>(&group[k].object);
        if (k > *it && up != nullptr && up->ifindex == kPendingIfindex) forget(group[k]);
      }
    }
  }
  std::string what = group.front().group == "stale" ? "removing stale objects" : group.front().group;
  return Error{what + ": " + error.message + undone_text(earlier, later, what) + undo_note};
}

}  // namespace

Result<void> apply_live_changes(Netlink& netlink, const std::vector<LiveChange>& changes,
                                const KernelSnapshot& kernel, const std::vector<OwnedAddress>& owned,
                                LiveOutcome& outcome, const std::function<bool()>& stop_requested) {
  outcome.applied.clear();
  outcome.not_applied.clear();
  outcome.owned = owned;
  // Owned addresses that are gone from the kernel are no longer ours to track.
  std::set<std::pair<std::string, IpAddress>> present;
  for (const KernelAddress& a : kernel.addresses) present.emplace(name_of(a.ifindex, kernel.links), a.address);
  std::erase_if(outcome.owned, [&](const OwnedAddress& o) { return present.count({o.dev, o.address}) == 0; });
  OwnedList owned_list(outcome.owned);

  for (size_t start = 0; start < changes.size();) {
    size_t end = start + 1;
    while (end < changes.size() && changes[end].group == changes[start].group) ++end;
    if (stop_requested && stop_requested()) {
      for (size_t j = start; j < changes.size(); ++j) {
        if (j == start || changes[j].group != changes[j - 1].group) outcome.not_applied.push_back(changes[j].group);
      }
      return {};
    }
    NICSYNC_TRY(apply_group(netlink, std::span(changes).subspan(start, end - start), kernel, outcome, owned_list));
    start = end;
  }
  return {};
}

}  // namespace nicsync
