#pragma once
/// Renderers: from a Plan to the text of the files a network consumer reads.
/// Pure functions over values; writing them is the FileSystem's job.

#include <map>
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

/// Reads the ethernets (and, for VLAN NICs, vlans) definitions of foreign netplan files and maps
/// each planned NIC to the id another file defines it under. An unparsable file is an error naming it.
/// Pass sources in netplan's precedence order: the first file that defines a NIC wins.
Result<NetplanIds> find_netplan_ids(const Plan& plan, const std::vector<NetplanSource>& sources);

/// Renders /etc/netplan/90-nicsync.yaml (mode 0600).
RenderedFile render_netplan(const Plan& plan, const NetplanIds& existing);

// ---- RHEL network-scripts ----

inline constexpr std::string_view kNetworkScriptsDir = "/etc/sysconfig/network-scripts";

/// Renders ifcfg-*, route-* and rule-* files (mode 0644), in a stable order.
std::vector<RenderedFile> render_network_scripts(const Plan& plan);

}  // namespace nicsync
