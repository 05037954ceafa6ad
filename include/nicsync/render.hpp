#pragma once
/// Renderers: from a Plan to the text of the files a network consumer reads.
/// Pure functions over values; writing them is the FileSystem's job.

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "nicsync/plan.hpp"

namespace nicsync {

enum class RendererKind { netplan, network_scripts };

std::string_view renderer_name(RendererKind kind);
Result<RendererKind> parse_renderer(std::string_view text);

/// How a rendered file may be written.
enum class WritePolicy {
  replace_owned,  ///< create it, or replace it if nicsync wrote it; never replace a foreign file
  create_only,    ///< create it only if no file is there (e.g. the primary's ifcfg)
};

struct RenderedFile {
  std::string path;  ///< absolute path on the target system, e.g. "/etc/netplan/90-nicsync.yaml"
  std::string content;
  unsigned mode = 0644;
  WritePolicy policy = WritePolicy::replace_owned;
};

/// First line of every file nicsync writes; how ownership is recognised on disk.
inline constexpr std::string_view kOwnershipMarker = "# Written by nicsync";

/// The two comment lines every file nicsync writes starts with (each ends in '\n'); the first
/// starts with kOwnershipMarker. Only whole-line '#' comments, so every consumer skips them.
inline constexpr std::string_view kOwnershipHeader =
    "# Written by nicsync from the instance metadata. Do not edit: changes are overwritten.\n"
    "# Settings: /etc/nicsync/nicsync.yaml; the files nicsync owns are listed in "
    "/var/lib/nicsync/state.json.\n";
static_assert(kOwnershipHeader.starts_with(kOwnershipMarker));

/// kOwnershipHeader as a string, for building file contents.
inline std::string ownership_header() { return std::string(kOwnershipHeader); }

// ---- netplan ----

inline constexpr std::string_view kNetplanPath = "/etc/netplan/90-nicsync.yaml";

/// A netplan file that nicsync did not write, as read from disk.
struct NetplanSource {
  std::string path;
  std::string content;
};

/// NIC name -> the netplan id under which some other file already defines that NIC
/// (ethernets: by id, set-name or match: macaddress; vlans: by id, or by tag and parent).
using NetplanIds = std::map<std::string, std::string>;

/// An IPv4 address another netplan file gives a NIC (`addresses:`), with the prefix it wrote.
struct ExistingAddress {
  Ipv4Address address;
  int prefix_length = 32;
  std::string source;  ///< the file it is in
};

/// An IPv6 address another netplan file gives a NIC (`addresses:`), with its prefix length.
struct ExistingAddress6 {
  Ipv6Address address;
  int prefix_length = 128;
  std::string source;
};

/// An IPv4 route another netplan file gives a NIC (`routes:`, or `gateway4:` as a default route
/// in main), normalised: `default` is 0.0.0.0/0, table 254 is main.
struct ExistingRoute {
  Ipv4Cidr destination;
  std::optional<Ipv4Address> gateway;
  std::optional<uint32_t> table;  ///< empty: main
  std::optional<uint32_t> metric;
  RouteScope scope = RouteScope::global;  ///< as netplan reads it: link when it has no via
  bool onlink = false;
  std::string source;
};

/// An IPv4 rule another netplan file gives a NIC (`routing-policy:`).
struct ExistingRule {
  std::optional<Ipv4Cidr> from;  ///< empty: from all
  std::optional<Ipv4Cidr> to;    ///< empty: to all
  uint32_t table = 0;
  std::optional<uint32_t> priority;
  bool selective = false;  ///< has `mark` or `type-of-service`: matches only some packets
  std::string source;
};

/// What other netplan files already configure for one planned NIC: every definition under the
/// NIC's id (in `ethernets:`, or `vlans:` for a VLAN NIC), lists joined across files in the
/// order given, as netplan joins them. IPv6 routes and rules, and entries netplan would refuse,
/// are skipped (IPv6 addresses and `dhcp6` are read).
struct ExistingDefinition {
  std::string id;
  std::vector<ExistingAddress> addresses;
  std::vector<ExistingRoute> routes;
  std::vector<ExistingRule> rules;
  bool dhcp4 = false;        ///< as the last file that sets `dhcp4` says
  std::string dhcp4_source;  ///< that file; empty when no file sets it
  std::vector<ExistingAddress6> addresses6{};
  bool dhcp6 = false;          ///< as the last file that sets `dhcp6` says
  std::string dhcp6_source{};  ///< that file; empty when no file sets it
};

/// The foreign netplan files' knowledge about the planned NICs.
struct NetplanExisting {
  NetplanIds ids;                                    ///< every planned NIC another file defines
  std::map<std::string, ExistingDefinition> by_nic;  ///< NIC name -> what those files configure
};

/// Reads the ethernets (and, for VLAN NICs, vlans) definitions of foreign netplan files: the id
/// each planned NIC is defined under, and what the files configure under that id. An unparsable
/// file is an error naming it. Pass sources in netplan's precedence order: the first file that
/// defines a NIC decides its id.
Result<NetplanExisting> read_netplan_existing(const Plan& plan, const std::vector<NetplanSource>& sources);

/// The ids part of read_netplan_existing.
Result<NetplanIds> find_netplan_ids(const Plan& plan, const std::vector<NetplanSource>& sources);

/// The plan minus what other netplan files already configure, so that nothing is configured
/// twice (netplan appends lists across files). Per NIC, compared by value, never by text:
/// - an address is the same IP, whatever its prefix length: one IP on one NIC twice (say cloud-init's
///   /24 and nicsync's /32) would be two kernel addresses to networkd for nothing; the file's wins;
/// - `dhcp4: true` counts as the first address of a NIC nicsync plans static (its primary private
///   IP, which the cloud's DHCP leases); a DHCP primary's planned addresses are all secondary;
/// - a route is the same destination, gateway and table (unset = 254 = main); metric, scope and
///   on-link are left out: a second route the same way only differs in preference;
/// - a rule is the same from (the address as /32), table, no `to` and no mark or type-of-service;
///   the priority is left out: equal selectors with the same table give the same answer.
/// A NIC's routing is configured differently when a rule of its definition sends one of its
/// planned addresses (as /32, no `to`, mark or type-of-service) to another table than nicsync's:
/// then none of its routes and rules are planned, of either family (and no table), so no second,
/// conflicting rule is added; local routes of delegated prefixes stay. IPv6 is otherwise never
/// subtracted (other files' IPv6 entries are not read), and a NIC with IPv6 left is kept. A NIC left with nothing to configure after subtraction is removed from the
/// plan (a VLAN's parent too: render_netplan links the VLAN to the parent's foreign id). One
/// note per changed NIC, in plan order, e.g.
/// `eth0: /etc/netplan/50-cloud-init.yaml already has 10.0.0.58/24; not added again`,
/// `eth1: fully configured by /etc/netplan/50-cloud-init.yaml (addresses, routes and rules); left alone`.
Plan subtract_configured(const Plan& plan, const NetplanExisting& existing, std::vector<std::string>& notes);

/// Renders /etc/netplan/90-nicsync.yaml (mode 0600).
RenderedFile render_netplan(const Plan& plan, const NetplanIds& existing);

// ---- RHEL network-scripts ----

inline constexpr std::string_view kNetworkScriptsDir = "/etc/sysconfig/network-scripts";

/// Renders ifcfg-*, route-*, rule-*, route6-* and rule6-* files (mode 0644), in a stable order.
std::vector<RenderedFile> render_network_scripts(const Plan& plan);

}  // namespace nicsync
