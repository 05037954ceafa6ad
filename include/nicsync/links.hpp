#pragma once
/// The machine's network interfaces as the OS sees them, and the step that maps the metadata's
/// MACs onto them.

#include <optional>
#include <string>
#include <vector>

#include "nicsync/address.hpp"
#include "nicsync/filesystem.hpp"
#include "nicsync/model.hpp"

namespace nicsync {

struct Link {
  InterfaceName name;
  MacAddress mac;
  /// A device backs it (/sys/class/net/<name>/device is there): a NIC, not a bridge, veth, bond
  /// or VLAN. Set by read_sysfs_links(), and for the kernel's links by the run from the same
  /// sysfs entry (the kernel's view does not say).
  bool device = false;
};

/// Reads /sys/class/net/*/address and whether each has a device. Entries without a valid
/// Ethernet MAC (lo, tunnels) are skipped.
Result<std::vector<Link>> read_sysfs_links(FileSystem& fs);

/// The MACs of the links that a device backs, in order.
std::vector<MacAddress> device_macs(const std::vector<Link>& links);

/// Sets os_name on every interface. An interface without `vlan` is found by its MAC; a MAC with no
/// local interface is an error. Of several links with the MAC (a bridge or bond can carry a NIC's),
/// the one a device backs is chosen; two device-backed ones are an error naming the MAC and both;
/// with none device-backed (the kernel's view), the first. A VLAN interface is not looked up by MAC
/// (its device exists only once made): its parent is the interface of the same instance that is
/// physical NIC `vlan->parent_nic_index` (Interface::nic_index; the primary is NIC 0 when it has
/// none), and `vlan->parent` gets the parent's OS name. The VLAN device is named "<parent>.<id>"
/// when that fits in 15 characters, else "vlan<id>". A VLAN whose physical NIC is not in the
/// metadata, a tag outside 1-4094 or two interfaces given one name are errors naming the interface.
Result<void> resolve_interfaces(Instance& instance, const std::vector<Link>& links);

/// The physical NIC an interface is, if it is one (not a VLAN): its nic_index, or 0 for a primary
/// without one; nullopt otherwise.
std::optional<int> physical_nic(const Interface& nic);

/// The interfaces of the metadata (other than VLANs) that no local interface has the MAC of yet,
/// as they are named in messages: "0a:1b:2c:3d:4e:5f (eni-0c07a0474339b801d)".
std::vector<std::string> missing_interfaces(const Instance& instance, const std::vector<Link>& links);

/// Gives an index to every secondary interface that has none: 1, 2, ... in natural order of
/// their OS names, after the indices already taken; the primary gets 0 if it has none.
void number_interfaces(Instance& instance);

}  // namespace nicsync
