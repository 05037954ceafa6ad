#include "app/live.hpp"

#include <algorithm>

namespace nicsync {

namespace {

bool same_address(const KernelAddress& a, const KernelAddress& b) {
  return a.ifindex == b.ifindex && a.address == b.address;
}

/// The kernel's identity of a route plus where it leads; protocol, scope and flags left out,
/// so an equal route installed by networkd or ifup counts as present.
bool same_route(const KernelRoute& a, const KernelRoute& b) {
  return a.table == b.table && a.destination == b.destination && a.gateway == b.gateway &&
         a.ifindex == b.ifindex && a.metric == b.metric;
}

bool same_rule(const KernelRule& a, const KernelRule& b) {
  return a.priority == b.priority && a.from == b.from && a.table == b.table;
}

template <typename T, typename Same>
bool contains(const std::vector<T>& objects, const T& wanted, Same same) {
  return std::any_of(objects.begin(), objects.end(), [&](const T& o) { return same(o, wanted); });
}

std::string name_of(int ifindex, const std::vector<KernelLink>& links) {
  for (const KernelLink& link : links) {
    if (link.ifindex == ifindex) return link.name.str();
  }
  return "if" + std::to_string(ifindex);
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

Result<std::vector<LiveChange>> plan_live_changes(const Plan& plan, const KernelSnapshot& kernel,
                                                  const std::vector<OwnedAddress>& owned) {
  std::vector<LiveChange> per_nic;
  Wanted all;
  for (const NicPlan& nic : plan.nics) {
    auto link = std::find_if(kernel.links.begin(), kernel.links.end(),
                             [&](const KernelLink& l) { return l.name == nic.name; });
    if (link == kernel.links.end()) return Error{nic.name.str() + ": no such interface in the kernel"};
    const int ifindex = link->ifindex;
    const std::string group = nic.name.str();
    auto add = [&](auto object) { per_nic.push_back(LiveChange{LiveAction::add, group, object}); };

    if (nic.addressing == Addressing::static_ && !link->up) add(LinkUp{ifindex});
    std::vector<KernelRoute> main_routes;
    for (const Ipv4Route& r : nic.routes) {
      KernelRoute route{r.table.value_or(kMainTable), r.destination, r.gateway, ifindex, r.metric, r.scope,
                        r.onlink, kNicsyncProtocol};
      all.routes.push_back(route);
      if (contains(kernel.routes, route, same_route)) continue;
      if (route.table == kMainTable) {
        main_routes.push_back(route);  // main's fallback goes in last, once the NIC is complete
      } else {
        add(route);
      }
    }
    for (const Ipv4Rule& r : nic.rules) {
      KernelRule rule{r.priority, Ipv4Cidr::containing(r.from, 32), r.table, kNicsyncProtocol};
      all.rules.push_back(rule);
      if (!contains(kernel.rules, rule, same_rule)) add(rule);
    }
    for (const Ipv4Address& a : nic.addresses) {
      // The primary's secondaries take the subnet prefix (its lease stays the first address and
      // the source); other NICs' addresses put no prefix route into main.
      KernelAddress address{ifindex, a, nic.subnet.prefix_length(), nic.addressing == Addressing::static_};
      all.addresses.push_back(address);
      if (!contains(kernel.addresses, address, same_address)) add(address);
    }
    for (const KernelRoute& route : main_routes) add(route);
  }

  // What nicsync owns and no longer wants: rules first (so nothing looks up a table being
  // emptied), then addresses, then routes.
  std::vector<LiveChange> changes;
  auto remove = [&](auto object) { changes.push_back(LiveChange{LiveAction::remove, "stale", object}); };
  for (const KernelRule& rule : kernel.rules) {
    if (rule.protocol == kNicsyncProtocol && !contains(all.rules, rule, same_rule)) remove(rule);
  }
  for (const OwnedAddress& o : owned) {
    for (const KernelAddress& address : kernel.addresses) {
      if (address.address == o.address && name_of(address.ifindex, kernel.links) == o.dev &&
          !contains(all.addresses, address, same_address)) {
        remove(address);
      }
    }
  }
  for (const KernelRoute& route : kernel.routes) {
    if (route.protocol == kNicsyncProtocol && !contains(all.routes, route, same_route)) remove(route);
  }
  changes.insert(changes.end(), per_nic.begin(), per_nic.end());
  return changes;
}

std::string describe(const LiveChange& change, const std::vector<KernelLink>& links) {
  std::string verb = change.action == LiveAction::add ? "add " : "remove ";
  return std::visit(
      [&](const auto& object) -> std::string {
        using T = std::decay_t<decltype(object)>;
        if constexpr (std::is_same_v<T, LinkUp>) {
          return "set link " + name_of(object.ifindex, links) + " up";
        } else if constexpr (std::is_same_v<T, KernelRule>) {
          return verb + "rule " + nicsync::describe(object);
        } else if constexpr (std::is_same_v<T, KernelAddress>) {
          return verb + "address " + nicsync::describe(object, links);
        } else {
          return verb + "route " + nicsync::describe(object, links);
        }
      },
      change.object);
}

namespace {

Result<void> perform(Netlink& netlink, LiveAction action, const LiveChange::Object& object) {
  return std::visit(
      [&](const auto& o) -> Result<void> {
        using T = std::decay_t<decltype(o)>;
        bool add = action == LiveAction::add;
        if constexpr (std::is_same_v<T, LinkUp>) {
          return add ? netlink.set_link_up(o.ifindex) : Result<void>();  // a link is left up
        } else if constexpr (std::is_same_v<T, KernelAddress>) {
          return add ? netlink.add_address(o) : netlink.delete_address(o);
        } else if constexpr (std::is_same_v<T, KernelRoute>) {
          return add ? netlink.add_route(o) : netlink.delete_route(o);
        } else {
          return add ? netlink.add_rule(o) : netlink.delete_rule(o);
        }
      },
      object);
}

LiveAction inverse(LiveAction action) { return action == LiveAction::add ? LiveAction::remove : LiveAction::add; }

/// Keeps the owned-address list in step with an address change that took effect.
void record(const LiveChange& change, const KernelSnapshot& kernel, std::vector<OwnedAddress>& owned,
            LiveAction action) {
  const auto* address = std::get_if<KernelAddress>(&change.object);
  if (address == nullptr) return;
  OwnedAddress entry{name_of(address->ifindex, kernel.links), address->address, address->prefix_length};
  auto same = [&](const OwnedAddress& o) { return o.dev == entry.dev && o.address == entry.address; };
  owned.erase(std::remove_if(owned.begin(), owned.end(), same), owned.end());
  if (action == LiveAction::add) owned.push_back(entry);
}

}  // namespace

Result<void> apply_live_changes(Netlink& netlink, const std::vector<LiveChange>& changes,
                                const KernelSnapshot& kernel, const std::vector<OwnedAddress>& owned,
                                LiveOutcome& outcome) {
  outcome.applied.clear();
  outcome.owned = owned;
  // Owned addresses that are gone from the kernel are no longer ours to track.
  outcome.owned.erase(std::remove_if(outcome.owned.begin(), outcome.owned.end(),
                                     [&](const OwnedAddress& o) {
                                       return std::none_of(kernel.addresses.begin(), kernel.addresses.end(),
                                                           [&](const KernelAddress& a) {
                                                             return a.address == o.address &&
                                                                    name_of(a.ifindex, kernel.links) == o.dev;
                                                           });
                                     }),
                      outcome.owned.end());

  size_t group_start = 0;
  for (size_t i = 0; i < changes.size(); ++i) {
    if (i == 0 || changes[i].group != changes[i - 1].group) group_start = i;
    const LiveChange& change = changes[i];
    auto result = perform(netlink, change.action, change.object);
    if (result.ok()) {
      outcome.applied.push_back(describe(change, kernel.links));
      record(change, kernel, outcome.owned, change.action);
      continue;
    }
    // Undo this group's earlier changes, newest first, so no NIC is left half configured.
    // (A link brought up stays up: harmless, and the next run needs it up anyway.)
    std::string undo_note;
    size_t undone = 0;
    for (size_t j = i; j-- > group_start;) {
      if (std::holds_alternative<LinkUp>(changes[j].object)) continue;
      auto result_of_undo = perform(netlink, inverse(changes[j].action), changes[j].object);
      if (result_of_undo.ok()) {
        ++undone;
        std::string text = describe(changes[j], kernel.links);
        auto it = std::find(outcome.applied.rbegin(), outcome.applied.rend(), text);
        if (it != outcome.applied.rend()) outcome.applied.erase(std::next(it).base());
        record(changes[j], kernel, outcome.owned, inverse(changes[j].action));
      } else {
        undo_note = "; undoing \"" + describe(changes[j], kernel.links) + "\" failed too: " +
                    result_of_undo.error().message;
      }
    }
    std::string what = change.group == "stale" ? "removing stale objects" : change.group;
    std::string undone_text =
        undone == 0 ? "" : " (" + std::to_string(undone) + " earlier change" + (undone == 1 ? "" : "s") + " of " + what + " undone)";
    return Error{what + ": " + result.error().message + undone_text + undo_note};
  }
  return {};
}

}  // namespace nicsync
