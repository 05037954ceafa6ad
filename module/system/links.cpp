#include "nicsync/links.hpp"

#include <algorithm>
#include <set>

namespace nicsync {

Result<std::vector<Link>> read_sysfs_links(FileSystem& fs) {
  const std::string base = "/sys/class/net";
  NICSYNC_TRY_ASSIGN(std::vector<std::string> names, fs.list_directory(base));
  std::vector<Link> links;
  for (const std::string& entry : names) {
    auto name = InterfaceName::parse(entry);
    if (!name.ok()) continue;  // not a name nicsync could manage
    NICSYNC_TRY_ASSIGN(std::optional<std::string> text, fs.read_file(base + "/" + entry + "/address"));
    if (!text) continue;
    std::string_view value = *text;
    while (!value.empty() && (value.back() == '\n' || value.back() == ' ')) value.remove_suffix(1);
    auto mac = MacAddress::parse(value);
    if (!mac.ok() || *mac == MacAddress()) continue;  // loopback, tunnels
    links.push_back(Link{*name, *mac, fs.is_directory(base + "/" + entry + "/device")});
  }
  return links;
}

std::vector<MacAddress> device_macs(const std::vector<Link>& links) {
  std::vector<MacAddress> macs;
  for (const Link& link : links) {
    if (link.device) macs.push_back(link.mac);
  }
  return macs;
}

namespace {

/// "02:00:17:05:cf:51 (ocid1.vnic...)": how an interface of the metadata is named in messages.
std::string label(const Interface& nic) { return nic.mac.str() + (nic.id ? " (" + nic.id->str() + ")" : ""); }

}  // namespace

std::optional<int> physical_nic(const Interface& nic) {
  if (nic.vlan) return std::nullopt;
  if (nic.nic_index) return nic.nic_index;
  if (nic.role == NicRole::primary) return 0;
  return std::nullopt;
}

namespace {

/// "<parent>.<id>" (what ip(8), netplan and network-scripts use by convention) when it fits the
/// kernel's 15 characters, else "vlan<id>" (network-scripts' other form, given PHYSDEV).
InterfaceName vlan_device_name(const InterfaceName& parent, int id) {
  Result<InterfaceName> dotted = InterfaceName::parse(parent.str() + "." + std::to_string(id));
  if (dotted.ok()) return *dotted;
  return *InterfaceName::parse("vlan" + std::to_string(id));
}

}  // namespace

std::vector<std::string> missing_interfaces(const Instance& instance, const std::vector<Link>& links) {
  std::vector<std::string> missing;
  for (const Interface& nic : instance.interfaces) {
    if (nic.vlan) continue;
    if (std::none_of(links.begin(), links.end(), [&](const Link& l) { return l.mac == nic.mac; })) {
      missing.push_back(label(nic));
    }
  }
  return missing;
}

Result<void> resolve_interfaces(Instance& instance, const std::vector<Link>& links) {
  const std::string vendor(vendor_name(instance.vendor));
  // Physical interfaces first, by MAC: a VLAN's name derives from its parent's.
  for (Interface& nic : instance.interfaces) {
    if (nic.vlan) continue;
    // A bridge or bond can carry a NIC's MAC too: the link a device backs is the NIC. Without
    // device-backed links (no sysfs entry says), the first in the links' order.
    const Link* found = nullptr;
    std::vector<std::string> devices;
    for (const Link& link : links) {
      if (link.mac != nic.mac) continue;
      if (found == nullptr || (link.device && !found->device)) found = &link;
      if (link.device) devices.push_back(link.name.str());
    }
    if (found == nullptr) {
      return Error{vendor + ": interface " + label(nic) +
                   " is in the metadata but no local interface has that MAC"};
    }
    if (devices.size() > 1) {
      return Error{vendor + ": interface " + label(nic) +
                   ": its MAC is on more than one device-backed interface: " + join(devices, ", ")};
    }
    nic.os_name = found->name;
  }
  for (Interface& nic : instance.interfaces) {
    if (!nic.vlan) continue;
    const int id = nic.vlan->id;
    const int number = nic.vlan->parent_nic_index;
    if (id < 1 || id > 4094) {
      return Error{vendor + ": interface " + label(nic) + ": VLAN tag " + std::to_string(id) +
                   " is outside 1-4094"};
    }
    auto parent = std::find_if(instance.interfaces.begin(), instance.interfaces.end(),
                               [&](const Interface& other) { return physical_nic(other) == number; });
    if (parent == instance.interfaces.end()) {
      return Error{vendor + ": interface " + label(nic) + " is VLAN " + std::to_string(id) +
                   " on physical NIC " + std::to_string(number) +
                   ", but no interface in the metadata is physical NIC " + std::to_string(number)};
    }
    nic.vlan->parent = parent->os_name;
    nic.os_name = vlan_device_name(*parent->os_name, id);
  }
  for (const Interface& nic : instance.interfaces) {
    for (const Interface& other : instance.interfaces) {
      if (&other != &nic && other.os_name == nic.os_name) {
        return Error{vendor + ": interfaces " + label(nic) + " and " + label(other) +
                     " would both be named " + nic.os_name->str()};
      }
    }
  }
  return {};
}

void number_interfaces(Instance& instance) {
  std::set<std::pair<int, int>> taken;
  std::vector<Interface*> unnumbered;
  for (Interface& nic : instance.interfaces) {
    if (nic.index) {
      taken.insert({nic.card, *nic.index});
    } else if (nic.role == NicRole::primary) {
      nic.index = 0;
      taken.insert({nic.card, 0});
    } else {
      unnumbered.push_back(&nic);
    }
  }
  std::sort(unnumbered.begin(), unnumbered.end(), [](const Interface* a, const Interface* b) {
    return natural_less(a->os_name ? a->os_name->str() : "", b->os_name ? b->os_name->str() : "");
  });
  for (Interface* nic : unnumbered) {
    int index = 1;
    while (taken.count({nic->card, index}) != 0) ++index;
    nic->index = index;
    taken.insert({nic->card, index});
  }
}

}  // namespace nicsync
