#pragma once
/// Live apply: the kernel objects a Plan needs, the difference to what the kernel has, and
/// applying that difference NIC by NIC through Netlink. nicsync removes only what it owns:
/// routes and rules with its protocol number, addresses recorded in its state file.

#include <string>
#include <variant>
#include <vector>

#include "app/state.hpp"
#include "nicsync/netlink.hpp"
#include "nicsync/plan.hpp"

namespace nicsync {

/// What the kernel holds now.
struct KernelSnapshot {
  std::vector<KernelLink> links;
  std::vector<KernelAddress> addresses;
  std::vector<KernelRoute> routes;
  std::vector<KernelRule> rules;
};

Result<KernelSnapshot> read_kernel(Netlink& netlink);

struct LinkUp {
  int ifindex = 0;
  auto operator<=>(const LinkUp&) const = default;
};

enum class LiveAction { add, remove };

/// One kernel change. Changes with the same `group` (a NIC's name, or "stale") are applied as a
/// unit: if one fails, the group's earlier changes are undone.
struct LiveChange {
  LiveAction action = LiveAction::add;
  std::string group;
  using Object = std::variant<LinkUp, KernelAddress, KernelRoute, KernelRule>;
  Object object;
};

/// The changes that make the kernel match the plan, in a safe order: stale rules, addresses and
/// routes first (rules before what they point at), then per NIC: link up, its table's routes
/// (link route before gateway routes), its rules, its addresses, main's fallback default.
/// Objects equal to a wanted one but installed by someone else (another protocol) count as present.
Result<std::vector<LiveChange>> plan_live_changes(const Plan& plan, const KernelSnapshot& kernel,
                                                  const std::vector<OwnedAddress>& owned);

/// "add route 10.0.0.0/24 dev eth1 scope link table 1001"
std::string describe(const LiveChange& change, const std::vector<KernelLink>& links);

struct LiveOutcome {
  std::vector<std::string> applied;  ///< description of every change made (and kept)
  std::vector<OwnedAddress> owned;   ///< the owned addresses after the run
};

/// Applies the changes group by group. On a failure the failed group's earlier changes are
/// undone, and the Error names the object and the kernel's message; groups before it stay done.
/// `outcome` is filled even on failure, so the caller can record what was kept.
Result<void> apply_live_changes(Netlink& netlink, const std::vector<LiveChange>& changes,
                                const KernelSnapshot& kernel, const std::vector<OwnedAddress>& owned,
                                LiveOutcome& outcome);

}  // namespace nicsync
