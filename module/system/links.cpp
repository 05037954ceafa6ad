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
    links.push_back(Link{*name, *mac});
  }
  return links;
}

Result<void> resolve_interfaces(Instance& instance, const std::vector<Link>& links) {
  for (Interface& nic : instance.interfaces) {
    auto found = std::find_if(links.begin(), links.end(), [&](const Link& l) { return l.mac == nic.mac; });
    if (found == links.end()) {
      std::string id = nic.id ? " (" + nic.id->str() + ")" : "";
      return Error{std::string(vendor_name(instance.vendor)) + ": interface " + nic.mac.str() + id +
                   " is in the metadata but no local interface has that MAC"};
    }
    nic.os_name = found->name;
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
