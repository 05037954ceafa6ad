#pragma once
/// The machine's network interfaces as the OS sees them, and the step that maps the metadata's
/// MACs onto them.

#include <vector>

#include "nicsync/address.hpp"
#include "nicsync/filesystem.hpp"
#include "nicsync/model.hpp"

namespace nicsync {

struct Link {
  InterfaceName name;
  MacAddress mac;
};

/// Reads /sys/class/net/*/address. Entries without a valid Ethernet MAC (lo, tunnels) are skipped.
Result<std::vector<Link>> read_sysfs_links(FileSystem& fs);

/// Sets os_name on every interface from its MAC. A MAC with no local interface is an error.
Result<void> resolve_interfaces(Instance& instance, const std::vector<Link>& links);

/// Gives an index to every secondary interface that has none: 1, 2, ... in natural order of
/// their OS names, after the indices already taken; the primary gets 0 if it has none.
void number_interfaces(Instance& instance);

}  // namespace nicsync
