#include <string>
#include <vector>

#include "nicsync/render.hpp"
#include "render/append.hpp"

namespace nicsync {

namespace {

std::string script_path(std::string_view kind, const std::string& device) {
  return std::string(kNetworkScriptsDir) + "/" + std::string(kind) + device;
}

/// The ifcfg keys ifup-ipv6 reads for a NIC's IPv6 addresses, each /128 (no prefix route, as
/// IPv4's /32); "" for a NIC without IPv6. A NIC other than the primary takes no router
/// advertisements (IPV6_AUTOCONF=no turns its accept_ra and autoconf off): an RA would put a
/// default via it and an on-link prefix route into main. Its defaults are in route6-<dev>. The
/// primary keeps RAs, which give main its IPv6 default as DHCP does for IPv4, and lists all its
/// addresses in IPV6ADDR_SECONDARIES.
std::string ipv6_keys(const NicPlan& nic) {
  if (nic.addresses6.empty()) return "";
  const bool primary = nic.role == NicRole::primary;
  std::string content = "IPV6INIT=yes\n";
  std::vector<std::string> secondaries;
  for (const Ipv6Address& address : nic.addresses6) secondaries.push_back(address.str() + "/128");
  if (primary) {
    content += "IPV6_AUTOCONF=yes\n";
  } else {
    content += "IPV6_AUTOCONF=no\n";
    content += "IPV6_DEFROUTE=no\n";
    content += "DHCPV6C=no\n";
    content += "IPV6ADDR=" + secondaries.front() + "\n";
    secondaries.erase(secondaries.begin());
  }
  if (!secondaries.empty()) content += "IPV6ADDR_SECONDARIES=\"" + join(secondaries, " ") + "\"\n";
  return content;
}

/// A DHCP NIC's ifcfg. The primary's: DHCP (and for IPv6 RAs, with its IPv6 addresses), written
/// only if there is none: when another one is there, network-scripts configures none of the
/// primary's IPv6 addresses (only the live apply adds them; docs/ipv6.md). Another NIC's
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
  content += ipv6_keys(nic);
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
    const std::string suffix = i == 0 ? "" : std::to_string(i);
    append(content, "IPADDR", suffix, "=", nic.addresses[i].str(), "\n");
    append(content, "PREFIX", suffix, "=32\n");
    append(content, "ARPCHECK", suffix, "=no\n");
    append(content, "ARPUPDATE", suffix, "=no\n");
  }
  content += "DEFROUTE=no\n";
  content += "PEERDNS=no\n";
  content += ipv6_keys(nic);
  return RenderedFile{script_path("ifcfg-", nic.name.str()), content, 0644, WritePolicy::replace_owned};
}

/// `local ` for a delegated prefix's local route (ip's route type comes before the destination).
std::string route_type(RouteType type) { return type == RouteType::local ? "local " : ""; }

/// One `ip -4 route add` argument line. Always with `dev`: without it a default route via the
/// gateway may land on the primary. A line starts with `local`, `default` or a digit, so none
/// looks like `ADDRESSn=` (which would make ifup-routes read the whole file as key=value).
std::string route_line(const Ipv4Route& route, const std::string& device) {
  std::string line = route_type(route.type);
  line += route.destination.is_default() ? "default" : route.destination.str();
  if (route.gateway) line += " via " + route.gateway->str();
  line += " dev " + device;
  if (route.scope == RouteScope::link) line += " scope link";
  if (route.table) line += " table " + std::to_string(*route.table);
  if (route.metric) line += " metric " + std::to_string(*route.metric);
  if (route.onlink) line += " onlink";
  return line + "\n";
}

/// One `ip -6 route add` argument line, likewise always with `dev` (a link-local gateway means
/// nothing without its link).
std::string route6_line(const Ipv6Route& route, const std::string& device) {
  std::string line = route_type(route.type);
  line += route.destination.is_default() ? "default" : route.destination.str();
  if (route.gateway) line += " via " + route.gateway->str();
  line += " dev " + device;
  if (route.table) line += " table " + std::to_string(*route.table);
  if (route.metric) line += " metric " + std::to_string(*route.metric);
  return line + "\n";
}

/// route-<dev> (`kind` "route-") or route6-<dev> ("route6-") in ifup-routes' `ip route` argument
/// format, in plan order (the link route first, so the gateway is reachable in the table).
template <typename Route, typename Line>
RenderedFile route_file(std::string_view kind, const NicPlan& nic, const std::vector<Route>& routes, Line line) {
  std::string content = ownership_header();
  for (const Route& route : routes) content += line(route, nic.name.str());
  return RenderedFile{script_path(kind, nic.name.str()), content, 0644, WritePolicy::replace_owned};
}

/// `from ADDR` for a rule from one address, `from PREFIX` for a delegated prefix.
template <typename Rule>
void append_rule_line(std::string& out, const Rule& rule, int address_length) {
  append(out, "from ", rule.from.str());
  if (rule.prefix_length != address_length) append(out, "/", std::to_string(rule.prefix_length));
  append(out, " table ", std::to_string(rule.table), " priority ", std::to_string(rule.priority), "\n");
}

/// rule-<dev>: one `ip -4 rule add` argument line per rule.
RenderedFile rule_file(const NicPlan& nic) {
  std::string content = ownership_header();
  for (const Ipv4Rule& rule : nic.rules) append_rule_line(content, rule, 32);
  return RenderedFile{script_path("rule-", nic.name.str()), content, 0644, WritePolicy::replace_owned};
}

/// rule6-<dev>: one `ip -6 rule add` argument line per rule.
RenderedFile rule6_file(const NicPlan& nic) {
  std::string content = ownership_header();
  for (const Ipv6Rule& rule : nic.rules6) append_rule_line(content, rule, 128);
  return RenderedFile{script_path("rule6-", nic.name.str()), content, 0644, WritePolicy::replace_owned};
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
    if (!nic.routes.empty()) files.push_back(route_file("route-", nic, nic.routes, route_line));
    if (!nic.rules.empty()) files.push_back(rule_file(nic));
    if (!nic.routes6.empty()) files.push_back(route_file("route6-", nic, nic.routes6, route6_line));
    if (!nic.rules6.empty()) files.push_back(rule6_file(nic));
  }
  return files;
}

}  // namespace nicsync
