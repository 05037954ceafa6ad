#pragma once
/// Live apply: the kernel objects a Plan needs, the difference to what the kernel has, and
/// applying that difference NIC by NIC through Netlink. nicsync removes only what it owns:
/// routes and rules with its protocol number, addresses recorded in its state file.

#include <functional>
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

/// Stands for the ifindex of the link that a group creates (a VLAN not yet in the kernel) in that
/// group's later changes; apply_live_changes() puts the real ifindex in once the link exists.
inline constexpr int kPendingIfindex = -1;

/// A VLAN device to create on a parent link. Undoing it deletes the device again.
struct VlanLink {
  InterfaceName name;
  int parent_ifindex = 0;
  int id = 0;
  MacAddress mac;
  auto operator<=>(const VlanLink&) const = default;
};

enum class LiveAction { add, remove };

/// One kernel change. Changes with the same `group` (a NIC's name, or "stale") are applied as a
/// unit: if one fails, the group's earlier changes are undone.
struct LiveChange {
  LiveAction action = LiveAction::add;
  std::string group;
  using Object = std::variant<LinkUp, KernelAddress, KernelRoute, KernelRule, VlanLink>;
  Object object;
};

/// Completes the plan with the IPv6 routers that the metadata does not name (AWS publishes none;
/// its router answers router solicitations). For each NIC with a table, IPv6 addresses and no
/// gateway6: the link-local gateway of a default route (::/0, any table, any protocol but
/// nicsync's, whose routes would keep a router known once it is gone) on the NIC's link, else on
/// the link of another planned NIC with the same subnet6 (one router serves a subnet). It sets
/// gateway6 and adds the routes the planner adds for a gateway: `default via GW dev NIC table T`
/// after the subnet route, then (not for the primary) main's fallback `default via GW dev NIC
/// metric T`. For live runs only: files never hold a learned router. Returns one line per such
/// NIC, e.g. "eth1: IPv6 router fe80::1 learned from the default route on eth0", or "eth1: no
/// IPv6 router known (no router advertisement on a link of 2600:1f16:292:100::/64); table 1001
/// gets no IPv6 default route".
std::vector<std::string> learn_ipv6_routers(Plan& plan, const KernelSnapshot& kernel);

/// How the DHCP primary's secondary IPs are added live: as the files configure them at the next
/// boot, so that the network service restarting finds the same objects and the lease stays the
/// source address. host (/32) for netplan: networkd adds static addresses before the lease, and a
/// subnet-prefixed secondary would then become the subnet's primary address; subnet for
/// network-scripts, whose alias files carry the netmask and come up after the lease.
enum class PrimarySecondaryPrefix { host, subnet };

/// The changes that make the kernel match the plan, in a safe order: stale rules, routes and
/// addresses first (rules before the tables they point at, routes before the addresses whose
/// removal makes the kernel flush them), then per NIC: its VLAN device when the NIC is a
/// VLAN missing from the kernel (its parent brought up first if down; the NIC's later changes then
/// name the device by kPendingIfindex), link up, its table's routes (link route before gateway
/// routes), its rules, its addresses, main's fallback default.
/// Objects equal to a wanted one but installed by someone else (another protocol) count as present.
/// DHCP NICs are never brought up and their leased address is never added (their DHCP client's
/// job); another DHCP NIC than the primary that is down gets no changes at all (its network
/// service brings it up with the files' routes and rules), and its wanted objects are not stale.
/// Its secondary IPs go in as /32, as in its files. A NIC missing from the kernel (for a VLAN: its
/// parent) is an Error.
Result<std::vector<LiveChange>> plan_live_changes(
    const Plan& plan, const KernelSnapshot& kernel, const std::vector<OwnedAddress>& owned,
    PrimarySecondaryPrefix primary_prefix = PrimarySecondaryPrefix::subnet);

/// Write-ahead for the state file: `owned` and every address that `changes` add (named by
/// device; kPendingIfindex as the group's NIC), sorted, each once. The run saves it before the
/// kernel is touched, so that an address added live stays listed as nicsync's even when the state
/// cannot be saved after the apply. Listing one that is never added is harmless:
/// apply_live_changes() drops the owned addresses the kernel does not have, and
/// plan_live_changes() removes only owned addresses the kernel has.
std::vector<OwnedAddress> owned_with_additions(const std::vector<OwnedAddress>& owned,
                                               const std::vector<LiveChange>& changes,
                                               const KernelSnapshot& kernel);

/// "add route 10.0.0.0/24 dev eth1 scope link table 1001"; kPendingIfindex reads as the group's
/// NIC: "add vlan ens3f0.1039 link ens3f0 id 1039 address 02:00:17:05:cf:51", "set link ens3f0.1039 up".
std::string describe(const LiveChange& change, const std::vector<KernelLink>& links);

struct LiveOutcome {
  std::vector<std::string> applied;  ///< description of every change made (and kept)
  std::vector<OwnedAddress> owned;   ///< the owned addresses after the run
  /// The groups left out because a stop was requested, in order ("stale" reads as is).
  std::vector<std::string> not_applied{};
};

/// Applies the changes group by group, a group's runs of addresses, routes and rules in batches
/// (Netlink::apply), its links one by one. On a failure every change of the failed group that
/// took effect is undone, newest first: its earlier changes (a VLAN device it created is deleted),
/// and the later ones of the same batch, which the kernel carries out too; the Error names the
/// object and the kernel's message, and counts what was undone; groups before it stay done. A group that creates a VLAN looks up the new device's
/// ifindex right after creating it and uses it for the group's kPendingIfindex objects.
/// A removal that finds its object gone (already_gone(): the kernel flushed it, or someone else
/// removed it) is done, with nothing to undo; it is not listed in `outcome.applied`.
/// `outcome` is filled even on failure, so the caller can record what was kept.
/// `stop_requested` is asked before each group: once it says true, no further group is started
/// (the one under way is always finished or undone, never left half), the rest are listed in
/// `outcome.not_applied`, and the call returns without an Error.
Result<void> apply_live_changes(Netlink& netlink, const std::vector<LiveChange>& changes,
                                const KernelSnapshot& kernel, const std::vector<OwnedAddress>& owned,
                                LiveOutcome& outcome, const std::function<bool()>& stop_requested = {});

}  // namespace nicsync
