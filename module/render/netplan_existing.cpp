#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <optional>
#include <set>
#include <string>
#include <utility>

#include "nicsync/render.hpp"

namespace nicsync {

namespace {

// yaml-cpp: looking up a missing key yields an invalid node whose Is*() throws, and subscripting
// a scalar throws; these helpers test definedness and shape first.

bool is_map(const YAML::Node& node) { return node.IsDefined() && node.IsMap(); }

/// `node[key]` when node is a map holding key, else an undefined node.
YAML::Node child(const YAML::Node& node, const char* key) {
  if (!is_map(node)) return YAML::Node(YAML::NodeType::Undefined);
  YAML::Node value = node[key];
  return value.IsDefined() ? value : YAML::Node(YAML::NodeType::Undefined);
}

/// The scalar at `node[key]` of a map node, if there is one.
std::optional<std::string> scalar_at(const YAML::Node& node, const char* key) {
  YAML::Node value = child(node, key);
  if (!value.IsDefined() || !value.IsScalar()) return std::nullopt;
  return value.Scalar();
}

/// The entries of the sequence `node[key]`, or none.
std::vector<YAML::Node> sequence_at(const YAML::Node& node, const char* key) {
  YAML::Node value = child(node, key);
  std::vector<YAML::Node> out;
  if (!value.IsDefined() || !value.IsSequence()) return out;
  for (const YAML::Node& entry : value) out.push_back(entry);
  return out;
}

/// True when `text` names the same MAC as `mac`, in either case.
bool same_mac(const std::string& text, const MacAddress& mac) {
  Result<MacAddress> parsed = MacAddress::parse(text);
  return parsed.ok() && *parsed == mac;
}

/// True when the ethernets definition `id: definition` describes `nic`.
bool describes(const std::string& id, const YAML::Node& definition, const NicPlan& nic) {
  if (id == nic.name.str()) return true;
  if (scalar_at(definition, "set-name") == nic.name.str()) return true;
  std::optional<std::string> mac = scalar_at(child(definition, "match"), "macaddress");
  return mac && same_mac(*mac, nic.mac);
}

/// True when the vlans definition `id: definition` describes the VLAN NIC `nic`: by id, or by the
/// same tag on a link that is its parent (by the parent's name or the id found for the parent).
bool describes_vlan(const std::string& id, const YAML::Node& definition, const NicPlan& nic,
                    const NetplanIds& ids) {
  if (id == nic.name.str()) return true;
  if (scalar_at(definition, "id") != std::to_string(nic.vlan->id)) return false;
  std::optional<std::string> link = scalar_at(definition, "link");
  if (!link) return false;
  auto parent_id = ids.find(nic.vlan->parent.str());
  return *link == nic.vlan->parent.str() || (parent_id != ids.end() && *link == parent_id->second);
}

/// The map `network: <section>:` of a parsed netplan document, or an undefined node.
YAML::Node section_of(const YAML::Node& document, const char* section) {
  YAML::Node devices = child(child(document, "network"), section);
  return is_map(devices) ? devices : YAML::Node(YAML::NodeType::Undefined);
}

const char* section_for(const NicPlan& nic) { return nic.vlan ? "vlans" : "ethernets"; }

// ---- values as netplan reads them ----

std::optional<uint32_t> parse_u32(const std::string& text) {
  uint32_t value = 0;
  auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc() || end != text.data() + text.size() || text.empty()) return std::nullopt;
  return value;
}

std::optional<uint32_t> u32_at(const YAML::Node& node, const char* key) {
  std::optional<std::string> text = scalar_at(node, key);
  return text ? parse_u32(*text) : std::nullopt;
}

/// netplan's booleans: true/on/yes/y, in any case.
bool is_true(const std::optional<std::string>& text) {
  if (!text) return false;
  std::string lower = *text;
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return lower == "true" || lower == "on" || lower == "yes" || lower == "y";
}

std::optional<Ipv4Address> ipv4(std::string_view text) {
  Result<Ipv4Address> parsed = Ipv4Address::parse(text);
  return parsed.ok() ? std::optional<Ipv4Address>(*parsed) : std::nullopt;
}

/// "a.b.c.d/n" as address and prefix length; nothing for IPv6, a bare address or bad text.
std::optional<std::pair<Ipv4Address, int>> ipv4_with_prefix(std::string_view text) {
  size_t slash = text.find('/');
  if (slash == std::string_view::npos) return std::nullopt;
  std::optional<Ipv4Address> address = ipv4(text.substr(0, slash));
  std::optional<uint32_t> prefix = parse_u32(std::string(text.substr(slash + 1)));
  if (!address || !prefix || *prefix > 32) return std::nullopt;
  return std::pair<Ipv4Address, int>(*address, static_cast<int>(*prefix));
}

/// A network as a route or rule names it: "a.b.c.d/n" (host bits cleared, as the kernel does),
/// a bare address as /32, and, where `default_ok`, "default".
std::optional<Ipv4Cidr> ipv4_network(std::string_view text, bool default_ok) {
  if (default_ok && text == "default") return Ipv4Cidr();
  if (std::optional<std::pair<Ipv4Address, int>> with_prefix = ipv4_with_prefix(text)) {
    return Ipv4Cidr::containing(with_prefix->first, with_prefix->second);
  }
  if (std::optional<Ipv4Address> address = ipv4(text)) return Ipv4Cidr::containing(*address, 32);
  return std::nullopt;
}

/// Table 254 is main, as an unset table.
std::optional<uint32_t> normal_table(std::optional<uint32_t> table) {
  return table == 254u ? std::nullopt : table;
}

/// The text of an `addresses:` entry: "ADDR/LEN", or a map with it as its only key (options).
std::optional<std::string> address_text(const YAML::Node& entry) {
  if (entry.IsScalar()) return entry.Scalar();
  if (entry.IsMap() && entry.size() == 1 && entry.begin()->first.IsScalar()) return entry.begin()->first.Scalar();
  return std::nullopt;
}

/// An `addresses:` entry "a.b.c.d/n" (or a one-key map of it to its options).
std::optional<ExistingAddress> read_address(const YAML::Node& entry, const std::string& source) {
  std::optional<std::string> text = address_text(entry);
  if (!text) return std::nullopt;
  std::optional<std::pair<Ipv4Address, int>> parsed = ipv4_with_prefix(*text);
  if (!parsed) return std::nullopt;
  return ExistingAddress{parsed->first, parsed->second, source};
}

/// An `addresses:` entry, if it is an IPv6 address with a prefix length (netplan needs one).
std::optional<ExistingAddress6> read_address6(const YAML::Node& entry, const std::string& source) {
  std::optional<std::string> text = address_text(entry);
  if (!text) return std::nullopt;
  size_t slash = text->find('/');
  if (slash == std::string::npos) return std::nullopt;
  Result<Ipv6Address> address = Ipv6Address::parse(std::string_view(*text).substr(0, slash));
  std::optional<uint32_t> length = parse_u32(text->substr(slash + 1));
  if (!address.ok() || !length || *length > 128) return std::nullopt;
  return ExistingAddress6{*address, static_cast<int>(*length), source};
}

/// A `routes:` entry, if it is an IPv4 unicast route.
std::optional<ExistingRoute> read_route(const YAML::Node& entry, const std::string& source) {
  if (!is_map(entry)) return std::nullopt;
  std::optional<std::string> type = scalar_at(entry, "type");
  if (type && *type != "unicast") return std::nullopt;
  std::optional<std::string> to = scalar_at(entry, "to");
  std::optional<std::string> via = scalar_at(entry, "via");
  if (!to) return std::nullopt;
  std::optional<Ipv4Cidr> destination = ipv4_network(*to, true);
  if (!destination) return std::nullopt;
  ExistingRoute route;
  route.destination = *destination;
  if (via) {
    route.gateway = ipv4(*via);
    if (!route.gateway) return std::nullopt;  // an IPv6 gateway: an IPv6 route
  }
  std::optional<uint32_t> table = u32_at(entry, "table");
  if (!table && child(entry, "table").IsDefined()) return std::nullopt;  // not a number: netplan refuses it
  route.table = normal_table(table);
  route.metric = u32_at(entry, "metric");
  std::optional<std::string> scope = scalar_at(entry, "scope");
  route.scope = (scope ? *scope == "link" : !via) ? RouteScope::link : RouteScope::global;
  route.onlink = is_true(scalar_at(entry, "on-link"));
  route.source = source;
  return route;
}

/// A `routing-policy:` entry, if it is an IPv4 rule.
std::optional<ExistingRule> read_rule(const YAML::Node& entry, const std::string& source) {
  if (!is_map(entry)) return std::nullopt;
  std::optional<uint32_t> table = u32_at(entry, "table");
  if (!table) return std::nullopt;
  ExistingRule rule;
  rule.table = *table;
  for (const char* key : {"from", "to"}) {
    std::optional<std::string> text = scalar_at(entry, key);
    if (!text) continue;
    std::optional<Ipv4Cidr> network = ipv4_network(*text, false);
    if (!network) return std::nullopt;  // IPv6
    (std::string(key) == "from" ? rule.from : rule.to) = network;
  }
  if (!rule.from && !rule.to) return std::nullopt;  // netplan wants one of them
  rule.priority = u32_at(entry, "priority");
  rule.selective = child(entry, "mark").IsDefined() || child(entry, "type-of-service").IsDefined();
  rule.source = source;
  return rule;
}

/// Adds what `definition` (from `source`) configures to `into`.
void read_definition(const YAML::Node& definition, const std::string& source, ExistingDefinition& into) {
  for (const YAML::Node& entry : sequence_at(definition, "addresses")) {
    if (std::optional<ExistingAddress> address = read_address(entry, source))
      into.addresses.push_back(*address);
    if (std::optional<ExistingAddress6> address = read_address6(entry, source))
      into.addresses6.push_back(*address);
  }
  if (std::optional<std::string> gateway4 = scalar_at(definition, "gateway4")) {
    if (std::optional<Ipv4Address> gateway = ipv4(*gateway4)) {
      ExistingRoute route;
      route.gateway = gateway;
      route.source = source;
      into.routes.push_back(route);
    }
  }
  for (const YAML::Node& entry : sequence_at(definition, "routes")) {
    if (std::optional<ExistingRoute> route = read_route(entry, source)) into.routes.push_back(*route);
  }
  for (const YAML::Node& entry : sequence_at(definition, "routing-policy")) {
    if (std::optional<ExistingRule> rule = read_rule(entry, source)) into.rules.push_back(*rule);
  }
  if (std::optional<std::string> dhcp4 = scalar_at(definition, "dhcp4")) {
    into.dhcp4 = is_true(dhcp4);
    into.dhcp4_source = source;
  }
  if (std::optional<std::string> dhcp6 = scalar_at(definition, "dhcp6")) {
    into.dhcp6 = is_true(dhcp6);
    into.dhcp6_source = source;
  }
}

// ---- subtraction ----

uint32_t table_number(std::optional<uint32_t> table) { return table.value_or(254u); }

bool same_route(const Ipv4Route& planned, const ExistingRoute& existing) {
  return planned.destination == existing.destination && planned.gateway == existing.gateway &&
         table_number(planned.table) == table_number(existing.table);
}

/// True when `rule` selects exactly the traffic `planned` selects: from its address as /32 (or
/// its delegated prefix), nothing else.
bool selects_only(const ExistingRule& rule, const Ipv4Rule& planned) {
  return rule.from == Ipv4Cidr::containing(planned.from, planned.prefix_length) && !rule.to && !rule.selective;
}

std::string destination_text(const Ipv4Cidr& cidr) { return cidr.is_default() ? "default" : cidr.str(); }

std::string describe(const ExistingAddress& address) {
  return address.address.str() + "/" + std::to_string(address.prefix_length);
}

std::string describe(const ExistingRoute& route) {
  std::string out = "route " + destination_text(route.destination);
  if (route.gateway) out += " via " + route.gateway->str();
  if (route.table) out += " table " + std::to_string(*route.table);
  if (route.metric) out += " metric " + std::to_string(*route.metric);
  return out;
}

std::string describe(const ExistingRule& rule) {
  std::string out = "rule";
  if (rule.from)
    out += " from " + (rule.from->prefix_length() == 32 ? rule.from->network().str() : rule.from->str());
  if (rule.to) out += " to " + rule.to->str();
  out += " table " + std::to_string(rule.table);
  if (rule.priority) out += " priority " + std::to_string(*rule.priority);
  return out;
}

/// "a", "a and b", "a, b and c".
std::string join_and(const std::vector<std::string>& items) {
  std::string out;
  for (size_t i = 0; i < items.size(); ++i) {
    if (i > 0) out += i + 1 == items.size() ? " and " : ", ";
    out += items[i];
  }
  return out;
}

/// The items one file already has, in the order found.
struct Found {
  std::string source;
  std::vector<std::string> items;
};

class FoundList {
 public:
  void add(const std::string& source, std::string item) {
    auto it = std::find_if(files_.begin(), files_.end(), [&](const Found& f) { return f.source == source; });
    if (it == files_.end()) it = files_.insert(files_.end(), Found{source, {}});
    it->items.push_back(std::move(item));
  }
  void add_source(const std::string& source) {
    if (std::none_of(files_.begin(), files_.end(), [&](const Found& f) { return f.source == source; })) {
      files_.push_back(Found{source, {}});
    }
  }
  bool empty() const { return files_.empty(); }
  std::string sources() const {
    std::vector<std::string> names;
    for (const Found& f : files_) names.push_back(f.source);
    return join_and(names);
  }
  /// "F1 already has a and b; F2 already has c".
  std::string already_has() const {
    std::string out;
    for (const Found& f : files_) {
      if (f.items.empty()) continue;
      if (!out.empty()) out += "; ";
      out += f.source + " already has " + join_and(f.items);
    }
    return out;
  }

 private:
  std::vector<Found> files_;
};

/// What subtraction did to one NIC.
struct NicOutcome {
  FoundList found;
  bool dhcp_covered = false;
  bool addresses_covered = false;
  bool routes_covered = false;
  bool rules_covered = false;
  /// Set when a foreign rule sends a planned address to another table: {rule, nicsync's table}.
  std::optional<std::pair<ExistingRule, uint32_t>> conflict;
};

/// Removes from `nic` what `existing` configures; records what and where in `outcome`.
void subtract(NicPlan& nic, const ExistingDefinition& existing, NicOutcome& outcome) {
  std::vector<Ipv4Address> addresses;
  for (size_t i = 0; i < nic.addresses.size(); ++i) {
    const Ipv4Address& address = nic.addresses[i];
    if (i == 0 && nic.addressing == Addressing::static_ && existing.dhcp4) {
      outcome.found.add(existing.dhcp4_source, address.str() + " by DHCP");
      outcome.dhcp_covered = true;
      continue;
    }
    auto same = std::find_if(existing.addresses.begin(), existing.addresses.end(),
                             [&](const ExistingAddress& e) { return e.address == address; });
    if (same != existing.addresses.end()) {
      outcome.found.add(same->source, describe(*same));
      outcome.addresses_covered = true;
      continue;
    }
    addresses.push_back(address);
  }

  // IPv6 the same way: the first address by DHCPv6 where another file turns it on (the cloud's
  // DHCPv6 server hands out the NIC's first address), the others when listed there.
  std::vector<Ipv6Address> addresses6;
  for (size_t i = 0; i < nic.addresses6.size(); ++i) {
    const Ipv6Address& address = nic.addresses6[i];
    if (i == 0 && existing.dhcp6) {
      outcome.found.add(existing.dhcp6_source, address.str() + " by DHCPv6");
      outcome.dhcp_covered = true;
      continue;
    }
    auto same = std::find_if(existing.addresses6.begin(), existing.addresses6.end(),
                             [&](const ExistingAddress6& e) { return e.address == address; });
    if (same != existing.addresses6.end()) {
      outcome.found.add(same->source, same->address.str() + "/" + std::to_string(same->prefix_length));
      outcome.addresses_covered = true;
      continue;
    }
    addresses6.push_back(address);
  }
  nic.addresses6 = std::move(addresses6);

  // Another table for one of the NIC's addresses: its policy routing is configured differently.
  for (const Ipv4Rule& planned : nic.rules) {
    for (const ExistingRule& rule : existing.rules) {
      if (selects_only(rule, planned) && rule.table != planned.table && !outcome.conflict) {
        outcome.conflict = std::pair<ExistingRule, uint32_t>(rule, planned.table);
      }
    }
  }
  std::vector<Ipv4Route> routes;
  std::vector<Ipv4Rule> rules;
  if (outcome.conflict) {
    // The NIC's policy routing, both families', is left to that file; the local routes of
    // delegated prefixes need no table of nicsync's and stay.
    outcome.found.add_source(outcome.conflict->first.source);
    nic.table.reset();
    for (const Ipv4Route& planned : nic.routes) {
      if (planned.type == RouteType::local) routes.push_back(planned);
    }
    std::erase_if(nic.routes6, [](const Ipv6Route& route) { return route.type != RouteType::local; });
    nic.rules6.clear();
  } else {
    for (const Ipv4Route& planned : nic.routes) {
      auto same = std::find_if(existing.routes.begin(), existing.routes.end(),
                               [&](const ExistingRoute& e) { return same_route(planned, e); });
      if (same == existing.routes.end()) {
        routes.push_back(planned);
        continue;
      }
      outcome.found.add(same->source, describe(*same));
      outcome.routes_covered = true;
    }
    for (const Ipv4Rule& planned : nic.rules) {
      auto same = std::find_if(existing.rules.begin(), existing.rules.end(), [&](const ExistingRule& e) {
        return selects_only(e, planned) && e.table == planned.table;
      });
      if (same == existing.rules.end()) {
        rules.push_back(planned);
        continue;
      }
      outcome.found.add(same->source, describe(*same));
      outcome.rules_covered = true;
    }
  }
  nic.addresses = std::move(addresses);
  nic.routes = std::move(routes);
  nic.rules = std::move(rules);
}

/// "its own policy routing, table 101 for 10.0.0.226 where nicsync would use 1001".
std::string conflict_text(const std::pair<ExistingRule, uint32_t>& conflict) {
  return "its own policy routing, table " + std::to_string(conflict.first.table) + " for " +
         conflict.first.from->network().str() + " where nicsync would use " + std::to_string(conflict.second);
}

/// The note for a NIC that subtraction changed, or nothing.
std::optional<std::string> note_for(const NicPlan& nic, bool fully, const NicOutcome& outcome) {
  if (outcome.found.empty()) return std::nullopt;
  const std::string& name = nic.name.str();
  if (fully) {
    std::vector<std::string> parts;
    if (outcome.dhcp_covered) parts.push_back("DHCP");
    if (outcome.addresses_covered) parts.push_back("addresses");
    if (outcome.conflict) {
      parts.push_back(conflict_text(*outcome.conflict));
    } else {
      if (outcome.routes_covered) parts.push_back("routes");
      if (outcome.rules_covered) parts.push_back("rules");
    }
    return name + ": fully configured by " + outcome.found.sources() + " (" + join_and(parts) +
           "); left alone";
  }
  std::string note = name + ": ";
  std::string already = outcome.found.already_has();
  if (!already.empty()) note += already + "; not added again";
  if (outcome.conflict) {
    if (!already.empty()) note += "; ";
    note += outcome.conflict->first.source + " has " + conflict_text(*outcome.conflict) +
            ": its routes and rules are left to that file";
  }
  return note;
}

}  // namespace

Result<NetplanExisting> read_netplan_existing(const Plan& plan, const std::vector<NetplanSource>& sources) {
  std::vector<YAML::Node> documents;
  for (const NetplanSource& source : sources) {
    try {
      documents.push_back(YAML::Load(source.content));
    } catch (const YAML::Exception& e) {
      return Error{"netplan: " + source.path + " line " + std::to_string(e.mark.line + 1) + ", column " +
                   std::to_string(e.mark.column + 1) + ": " + printable(e.msg)};
    }
  }
  NetplanExisting existing;
  NetplanIds& ids = existing.ids;
  // Ethernets first, in every file: a VLAN may be defined by its tag and its parent's id.
  for (bool vlan_pass : {false, true}) {
    for (const YAML::Node& document : documents) {
      YAML::Node devices = section_of(document, vlan_pass ? "vlans" : "ethernets");
      if (!devices.IsDefined()) continue;
      for (const NicPlan& nic : plan.nics) {
        if (nic.vlan.has_value() != vlan_pass) continue;
        if (ids.count(nic.name.str()) != 0) continue;  // an earlier file wins
        for (const auto& entry : devices) {
          if (!entry.first.IsDefined() || !entry.first.IsScalar()) continue;
          const std::string& id = entry.first.Scalar();
          if (vlan_pass ? describes_vlan(id, entry.second, nic, ids) : describes(id, entry.second, nic)) {
            ids.emplace(nic.name.str(), id);
            break;
          }
        }
      }
    }
  }
  // What each file configures under those ids; netplan joins a definition's lists across files.
  for (const NicPlan& nic : plan.nics) {
    auto id = ids.find(nic.name.str());
    if (id == ids.end()) continue;
    ExistingDefinition definition;
    definition.id = id->second;
    for (size_t i = 0; i < documents.size(); ++i) {
      YAML::Node devices = section_of(documents[i], section_for(nic));
      if (!devices.IsDefined()) continue;
      for (const auto& entry : devices) {
        if (entry.first.IsDefined() && entry.first.IsScalar() && entry.first.Scalar() == definition.id) {
          read_definition(entry.second, sources[i].path, definition);
        }
      }
    }
    existing.by_nic.emplace(nic.name.str(), std::move(definition));
  }
  return existing;
}

Result<NetplanIds> find_netplan_ids(const Plan& plan, const std::vector<NetplanSource>& sources) {
  NICSYNC_TRY_ASSIGN(NetplanExisting existing, read_netplan_existing(plan, sources));
  return std::move(existing.ids);
}

Plan subtract_configured(const Plan& plan, const NetplanExisting& existing, std::vector<std::string>& notes) {
  Plan out;
  for (const NicPlan& planned : plan.nics) {
    auto definition = existing.by_nic.find(planned.name.str());
    if (definition == existing.by_nic.end()) {
      out.nics.push_back(planned);
      continue;
    }
    NicPlan nic = planned;
    NicOutcome outcome;
    subtract(nic, definition->second, outcome);
    // IPv6 routes and rules of other files are not read: nicsync's stay unless a conflict
    // left the NIC's policy routing to the other file.
    bool fully = !outcome.found.empty() && nic.addresses.empty() && nic.routes.empty() && nic.rules.empty() &&
                 nic.addresses6.empty() && nic.routes6.empty() && nic.rules6.empty();
    if (std::optional<std::string> note = note_for(nic, fully, outcome)) notes.push_back(*note);
    if (!fully) out.nics.push_back(std::move(nic));
  }
  return out;
}

}  // namespace nicsync
