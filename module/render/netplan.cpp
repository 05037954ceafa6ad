#include <string>

#include "nicsync/render.hpp"
#include "render/append.hpp"

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
void append_route_tail(std::string& out, const Route& route) {
  if (route.type == RouteType::local) out += "          type: local\n";
  if (route.metric) append(out, "          metric: ", std::to_string(*route.metric), "\n");
  if (route.table) append(out, "          table: ", std::to_string(*route.table), "\n");
}

/// `from: ADDR` for a rule from one address, `from: PREFIX` for a delegated prefix.
template <typename Rule>
void append_rule_entry(std::string& out, const Rule& rule, int address_length) {
  append(out, "        - from: ", rule.from.str());
  if (rule.prefix_length != address_length) append(out, "/", std::to_string(rule.prefix_length));
  append(out, "\n          table: ", std::to_string(rule.table), "\n          priority: ",
         std::to_string(rule.priority), "\n");
}

/// The list keys (addresses, routes, routing-policy) of one NIC, at 6 spaces, IPv4 entries
/// first; an empty list is left out, since an empty key is null to netplan and
/// `routing-policy:` fails `netplan generate`.
void append_list_keys(std::string& out, const NicPlan& nic) {
  if (!nic.addresses.empty() || !nic.addresses6.empty()) {
    // Always /32 and /128: netplan cannot say noprefixroute, and on the DHCP primary a /32
    // keeps the lease the source address (networkd configures static addresses before the lease).
    out += "      addresses:\n";
    for (const Ipv4Address& address : nic.addresses) append(out, "        - ", address.str(), "/32\n");
    for (const Ipv6Address& address : nic.addresses6) append(out, "        - ", address.str(), "/128\n");
  }
  if (!nic.routes.empty() || !nic.routes6.empty()) {
    out += "      routes:\n";
    for (const Ipv4Route& route : nic.routes) {
      append(out, "        - to: ", route_destination(route.destination), "\n");
      if (route.gateway) append(out, "          via: ", route.gateway->str(), "\n");
      if (route.scope == RouteScope::link) out += "          scope: link\n";
      if (route.onlink) out += "          on-link: true\n";
      append_route_tail(out, route);
    }
    // No on-link and no scope: a link-local gateway is always on-link, and networkd accepts a
    // v6 route via it without one.
    for (const Ipv6Route& route : nic.routes6) {
      append(out, "        - to: ", route_destination(route.destination), "\n");
      if (route.gateway) append(out, "          via: ", route.gateway->str(), "\n");
      append_route_tail(out, route);
    }
  }
  if (!nic.rules.empty() || !nic.rules6.empty()) {
    out += "      routing-policy:\n";
    for (const Ipv4Rule& rule : nic.rules) append_rule_entry(out, rule, 32);
    for (const Ipv6Rule& rule : nic.rules6) append_rule_entry(out, rule, 128);
  }
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
void append_full_definition(std::string& out, const NicPlan& nic) {
  append(out, "    ", yaml_name(nic.name.str()), ":\n");
  out += "      match:\n";
  append(out, "        macaddress: \"", nic.mac.str(), "\"\n");
  append(out, "      set-name: ", yaml_name(nic.name.str()), "\n");
  append(out, dhcp_keys(nic), router_advertisements(nic));
  append_list_keys(out, nic);
}

/// The whole definition of a VLAN no other file defines: its tag, the netplan id of the NIC it
/// rides on (the other file's id, else its name, under which this file defines it), its MAC (the
/// VLAN device is created with it: the cloud delivers the VLAN's traffic to that MAC), DHCP, the lists.
void append_vlan_definition(std::string& out, const NicPlan& nic, const NetplanIds& existing) {
  auto parent = existing.find(nic.vlan->parent.str());
  std::string link = parent == existing.end() ? nic.vlan->parent.str() : parent->second;
  append(out, "    ", yaml_name(nic.name.str()), ":\n");
  append(out, "      id: ", std::to_string(nic.vlan->id), "\n");
  append(out, "      link: ", yaml_name(link), "\n");
  append(out, "      macaddress: \"", nic.mac.str(), "\"\n");
  append(out, dhcp_keys(nic), router_advertisements(nic));
  append_list_keys(out, nic);
}

/// Additions to a definition another file owns: lists only, under its id. Scalars are left out,
/// because a scalar in a later file overrides the other file's (dhcp4: false would kill DHCP).
/// dhcp4-overrides and accept-ra are left out too: the other file's DHCP and RA settings stand.
void append_additions(std::string& out, const NicPlan& nic, const std::string& id) {
  std::string lists;
  append_list_keys(lists, nic);
  if (!lists.empty()) append(out, "    ", yaml_name(id), ":\n", lists);
}

}  // namespace

RenderedFile render_netplan(const Plan& plan, const NetplanIds& existing) {
  std::string ethernets;
  std::string vlans;
  for (const NicPlan& nic : plan.nics) {
    auto found = existing.find(nic.name.str());
    if (found != existing.end()) {
      append_additions(nic.vlan ? vlans : ethernets, nic, found->second);
    } else if (nic.vlan) {
      append_vlan_definition(vlans, nic, existing);
    } else {
      append_full_definition(ethernets, nic);
    }
  }
  std::string content = ownership_header() + "network:\n  version: 2\n";
  content.reserve(content.size() + ethernets.size() + vlans.size() + 24);
  if (!ethernets.empty()) append(content, "  ethernets:\n", ethernets);
  if (!vlans.empty()) append(content, "  vlans:\n", vlans);
  return RenderedFile{std::string(kNetplanPath), content, 0600, WritePolicy::replace_owned};
}

}  // namespace nicsync
