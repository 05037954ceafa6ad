#include <string>

#include "nicsync/render.hpp"

namespace nicsync {

namespace {

/// A YAML scalar for a name: plain when it is a simple identifier, otherwise double-quoted.
/// Ids read from foreign files may hold any text; netplan reads both forms as a string.
std::string yaml_name(std::string_view text) {
  bool plain = !text.empty() && ((text[0] >= 'a' && text[0] <= 'z') || (text[0] >= 'A' && text[0] <= 'Z'));
  for (char c : text) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
              c == '-' || c == '.';
    plain = plain && ok;
  }
  // Words YAML 1.1 reads as booleans or null must not be left plain.
  for (std::string_view word : {"y", "Y", "n", "N", "yes", "Yes", "YES", "no", "No", "NO", "true", "True",
                                "TRUE", "false", "False", "FALSE", "on", "On", "ON", "off", "Off", "OFF",
                                "null", "Null", "NULL"}) {
    plain = plain && text != word;
  }
  if (plain) return std::string(text);
  std::string out = "\"";
  for (unsigned char c : text) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20 || c == 0x7f) {
      static constexpr char kHex[] = "0123456789abcdef";
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 0xf];
    } else {
      out += static_cast<char>(c);
    }
  }
  return out + "\"";
}

template <typename Cidr>
std::string route_destination(const Cidr& cidr) {
  return cidr.is_default() ? "default" : cidr.str();
}

/// The keys after `to:` and `via:` shared by both families: a local route's type (its table is
/// local, 255), the metric, the table.
template <typename Route>
std::string route_tail(const Route& route) {
  std::string out;
  if (route.type == RouteType::local) out += "          type: local\n";
  if (route.metric) out += "          metric: " + std::to_string(*route.metric) + "\n";
  if (route.table) out += "          table: " + std::to_string(*route.table) + "\n";
  return out;
}

/// `from: ADDR` for a rule from one address, `from: PREFIX` for a delegated prefix.
template <typename Rule>
std::string rule_entry(const Rule& rule, int address_length) {
  std::string from = rule.from.str();
  if (rule.prefix_length != address_length) from += "/" + std::to_string(rule.prefix_length);
  return "        - from: " + from + "\n          table: " + std::to_string(rule.table) +
         "\n          priority: " + std::to_string(rule.priority) + "\n";
}

/// The list keys (addresses, routes, routing-policy) of one NIC, at 6 spaces, IPv4 entries
/// first; an empty list is left out, since an empty key is null to netplan and
/// `routing-policy:` fails `netplan generate`.
std::string list_keys(const NicPlan& nic) {
  std::string out;
  if (!nic.addresses.empty() || !nic.addresses6.empty()) {
    // Always /32 and /128: netplan cannot say noprefixroute, and on the DHCP primary a /32
    // keeps the lease the source address (networkd configures static addresses before the lease).
    out += "      addresses:\n";
    for (const Ipv4Address& address : nic.addresses) out += "        - " + address.str() + "/32\n";
    for (const Ipv6Address& address : nic.addresses6) out += "        - " + address.str() + "/128\n";
  }
  if (!nic.routes.empty() || !nic.routes6.empty()) {
    out += "      routes:\n";
    for (const Ipv4Route& route : nic.routes) {
      out += "        - to: " + route_destination(route.destination) + "\n";
      if (route.gateway) out += "          via: " + route.gateway->str() + "\n";
      if (route.scope == RouteScope::link) out += "          scope: link\n";
      if (route.onlink) out += "          on-link: true\n";
      out += route_tail(route);
    }
    // No on-link and no scope: a link-local gateway is always on-link, and networkd accepts a
    // v6 route via it without one.
    for (const Ipv6Route& route : nic.routes6) {
      out += "        - to: " + route_destination(route.destination) + "\n";
      if (route.gateway) out += "          via: " + route.gateway->str() + "\n";
      out += route_tail(route);
    }
  }
  if (!nic.rules.empty() || !nic.rules6.empty()) {
    out += "      routing-policy:\n";
    for (const Ipv4Rule& rule : nic.rules) out += rule_entry(rule, 32);
    for (const Ipv6Rule& rule : nic.rules6) out += rule_entry(rule, 128);
  }
  return out;
}

/// `dhcp4`, and for a DHCP NIC other than the primary its lease's overrides: no routes from the
/// lease (networkd's UseRoutes=false, and UseGateway follows it: no default via this NIC in main),
/// and the lease's routes at metric T. networkd (>= 249) gives the prefix route the kernel adds
/// to main for the leased address the same metric, so it loses to the primary's (100 under
/// netplan) when both NICs share a subnet. netplan cannot move it out of main (no route table
/// key among dhcp4-overrides; see PlanOptions::secondary_addressing for what that costs).
std::string dhcp_keys(const NicPlan& nic) {
  if (nic.addressing == Addressing::static_) return "      dhcp4: false\n";
  std::string out = "      dhcp4: true\n";
  if (nic.lease_route_metric) {
    out += "      dhcp4-overrides:\n";
    out += "        use-routes: false\n";
    out += "        route-metric: " + std::to_string(*nic.lease_route_metric) + "\n";
  }
  return out;
}

/// A NIC other than the primary takes no IPv6 router advertisements: an RA would put a default
/// route via this NIC into main at metric 1024 (the primary's RA default has the same metric) and
/// an on-link prefix route into main, which breaks a subnet shared with the primary as for IPv4
/// (the cloud drops replies that leave by the wrong NIC). nicsync configures its IPv6 addresses
/// (/128) and routes itself. Without RAs, networkd does not wait for one at boot either.
std::string router_advertisements(const NicPlan& nic) {
  return nic.role != NicRole::primary ? "      accept-ra: false\n" : "";
}

/// The whole definition of a NIC no other file defines: match, name, DHCP, RAs, then the lists.
std::string full_definition(const NicPlan& nic) {
  std::string out = "    " + yaml_name(nic.name.str()) + ":\n";
  out += "      match:\n";
  out += "        macaddress: \"" + nic.mac.str() + "\"\n";
  out += "      set-name: " + yaml_name(nic.name.str()) + "\n";
  out += dhcp_keys(nic);
  out += router_advertisements(nic);
  return out + list_keys(nic);
}

/// The whole definition of a VLAN no other file defines: its tag, the netplan id of the NIC it
/// rides on (the other file's id, else its name, under which this file defines it), its MAC (the
/// VLAN device is created with it: the cloud delivers the VLAN's traffic to that MAC), DHCP, the lists.
std::string vlan_definition(const NicPlan& nic, const NetplanIds& existing) {
  auto parent = existing.find(nic.vlan->parent.str());
  std::string link = parent == existing.end() ? nic.vlan->parent.str() : parent->second;
  std::string out = "    " + yaml_name(nic.name.str()) + ":\n";
  out += "      id: " + std::to_string(nic.vlan->id) + "\n";
  out += "      link: " + yaml_name(link) + "\n";
  out += "      macaddress: \"" + nic.mac.str() + "\"\n";
  out += dhcp_keys(nic);
  out += router_advertisements(nic);
  return out + list_keys(nic);
}

/// Additions to a definition another file owns: lists only, under its id. Scalars are left out,
/// because a scalar in a later file overrides the other file's (dhcp4: false would kill DHCP).
/// dhcp4-overrides and accept-ra are left out too: the other file's DHCP and RA settings stand.
std::string additions(const NicPlan& nic, const std::string& id) {
  std::string lists = list_keys(nic);
  if (lists.empty()) return "";
  return "    " + yaml_name(id) + ":\n" + lists;
}

}  // namespace

RenderedFile render_netplan(const Plan& plan, const NetplanIds& existing) {
  std::string ethernets;
  std::string vlans;
  for (const NicPlan& nic : plan.nics) {
    auto found = existing.find(nic.name.str());
    if (found != existing.end()) {
      (nic.vlan ? vlans : ethernets) += additions(nic, found->second);
    } else if (nic.vlan) {
      vlans += vlan_definition(nic, existing);
    } else {
      ethernets += full_definition(nic);
    }
  }
  std::string content = ownership_header() + "network:\n  version: 2\n";
  if (!ethernets.empty()) content += "  ethernets:\n" + ethernets;
  if (!vlans.empty()) content += "  vlans:\n" + vlans;
  return RenderedFile{std::string(kNetplanPath), content, 0600, WritePolicy::replace_owned};
}

}  // namespace nicsync
