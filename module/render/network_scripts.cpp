#include <string>

#include "nicsync/render.hpp"

namespace nicsync {

namespace {

std::string script_path(std::string_view kind, const std::string& device) {
  return std::string(kNetworkScriptsDir) + "/" + std::string(kind) + device;
}

/// A DHCP NIC's ifcfg. The primary's: DHCP only, written only if there is none. Another NIC's
/// (secondary_addressing: dhcp) is nicsync's, and its lease adds no default route (DEFROUTE=no:
/// dhclient-script then adds none) and does not rewrite resolv.conf (PEERDNS=no); its table,
/// rules and main fallback come from route-/rule-<dev>. PERSISTENT_DHCLIENT=yes: when no lease
/// comes in time, dhclient goes on trying in the background and ifup still applies the alias,
/// route and rule files, where `dhclient -1` would fail ifup before them (ec2-net-utils 1.x
/// writes the same). dhclient-script adds the lease with its prefix: a metric-0 prefix route in
/// main that no setting changes (see PlanOptions::secondary_addressing); in a subnet shared with
/// the primary, the primary's own, added first at boot, stays first. Secondary IPs go to alias
/// files, because ifcfg-<dev> with BOOTPROTO=dhcp silently ignores IPADDRn.
RenderedFile dhcp_ifcfg(const NicPlan& nic) {
  const bool primary = nic.role == NicRole::primary;
  std::string content = ownership_header();
  content += "DEVICE=" + nic.name.str() + "\n";
  content += "BOOTPROTO=dhcp\n";
  content += "ONBOOT=yes\n";
  content += "HWADDR=" + nic.mac.str() + "\n";
  if (!primary) {
    content += "DEFROUTE=no\n";
    content += "PEERDNS=no\n";
    content += "PERSISTENT_DHCLIENT=yes\n";
  }
  return RenderedFile{script_path("ifcfg-", nic.name.str()), content, 0644,
                      primary ? WritePolicy::create_only : WritePolicy::replace_owned};
}

/// One ifcfg-<dev>:<n> per secondary IP of a DHCP NIC. ifup-aliases configures them after the
/// lease, so on the primary the subnet's netmask keeps the lease the source address; on another
/// NIC they are /32 (PREFIX=32), putting no route into main. Without a netmask or prefix it errs.
std::vector<RenderedFile> alias_ifcfgs(const NicPlan& nic) {
  std::vector<RenderedFile> files;
  for (size_t n = 0; n < nic.addresses.size(); ++n) {
    std::string device = nic.name.str() + ":" + std::to_string(n);
    std::string content = ownership_header();
    content += "DEVICE=" + device + "\n";
    content += "BOOTPROTO=static\n";
    content += "IPADDR=" + nic.addresses[n].str() + "\n";
    if (nic.role == NicRole::primary) {
      content += "NETMASK=" + nic.subnet->netmask().str() + "\n";
    } else {
      content += "PREFIX=32\n";
    }
    content += "ONBOOT=yes\n";
    content += "ARPCHECK=no\n";
    content += "ARPUPDATE=no\n";
    files.push_back(RenderedFile{script_path("ifcfg-", device), content, 0644, WritePolicy::replace_owned});
  }
  return files;
}

/// A static NIC's ifcfg: every address /32 (no prefix route into main), no default route, no
/// arping duplicate-address checks (the VPC owns the addresses; each check costs seconds at boot).
/// A VLAN NIC is created by ifup (VLAN=yes): with VID given it takes VID and PHYSDEV as they are,
/// whatever the name ("vlanN" names need PHYSDEV anyway); ifup-eth then sets MACADDR on the new
/// device. HWADDR would instead make ifup-eth give up unless the device already has that MAC.
RenderedFile static_ifcfg(const NicPlan& nic) {
  std::string content = ownership_header();
  content += "DEVICE=" + nic.name.str() + "\n";
  if (nic.vlan) {
    content += "VLAN=yes\n";
    content += "PHYSDEV=" + nic.vlan->parent.str() + "\n";
    content += "VID=" + std::to_string(nic.vlan->id) + "\n";
    content += "MACADDR=" + nic.mac.str() + "\n";
  } else {
    content += "HWADDR=" + nic.mac.str() + "\n";
  }
  content += "BOOTPROTO=none\n";
  content += "ONBOOT=yes\n";
  for (size_t i = 0; i < nic.addresses.size(); ++i) {
    std::string suffix = i == 0 ? "" : std::to_string(i);
    content += "IPADDR" + suffix + "=" + nic.addresses[i].str() + "\n";
    content += "PREFIX" + suffix + "=32\n";
    content += "ARPCHECK" + suffix + "=no\n";
    content += "ARPUPDATE" + suffix + "=no\n";
  }
  content += "DEFROUTE=no\n";
  content += "PEERDNS=no\n";
  return RenderedFile{script_path("ifcfg-", nic.name.str()), content, 0644, WritePolicy::replace_owned};
}

/// One `ip -4 route add` argument line. Always with `dev`: without it a default route via the
/// gateway may land on the primary.
std::string route_line(const Ipv4Route& route, const std::string& device) {
  std::string line = route.destination.is_default() ? "default" : route.destination.str();
  if (route.gateway) line += " via " + route.gateway->str();
  line += " dev " + device;
  if (route.scope == RouteScope::link) line += " scope link";
  if (route.table) line += " table " + std::to_string(*route.table);
  if (route.metric) line += " metric " + std::to_string(*route.metric);
  if (route.onlink) line += " onlink";
  return line + "\n";
}

/// route-<dev> in ifup-routes' `ip route` argument format, in plan order (the link route first,
/// so the gateway is reachable in the table). No line may look like `ADDRESSn=`.
RenderedFile route_file(const NicPlan& nic) {
  std::string content = ownership_header();
  for (const Ipv4Route& route : nic.routes) content += route_line(route, nic.name.str());
  return RenderedFile{script_path("route-", nic.name.str()), content, 0644, WritePolicy::replace_owned};
}

/// rule-<dev>: one `ip -4 rule add` argument line per rule.
RenderedFile rule_file(const NicPlan& nic) {
  std::string content = ownership_header();
  for (const Ipv4Rule& rule : nic.rules) {
    content += "from " + rule.from.str() + " table " + std::to_string(rule.table) + " priority " +
               std::to_string(rule.priority) + "\n";
  }
  return RenderedFile{script_path("rule-", nic.name.str()), content, 0644, WritePolicy::replace_owned};
}

}  // namespace

std::vector<RenderedFile> render_network_scripts(const Plan& plan) {
  std::vector<RenderedFile> files;
  for (const NicPlan& nic : plan.nics) {
    if (nic.addressing == Addressing::dhcp) {
      files.push_back(dhcp_ifcfg(nic));
      for (RenderedFile& alias : alias_ifcfgs(nic)) files.push_back(std::move(alias));
    } else {
      files.push_back(static_ifcfg(nic));
    }
    if (!nic.routes.empty()) files.push_back(route_file(nic));
    if (!nic.rules.empty()) files.push_back(rule_file(nic));
  }
  return files;
}

}  // namespace nicsync
