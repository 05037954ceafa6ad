#include <yaml-cpp/yaml.h>

#include <optional>
#include <string>

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

}  // namespace

Result<NetplanIds> find_netplan_ids(const Plan& plan, const std::vector<NetplanSource>& sources) {
  std::vector<YAML::Node> documents;
  for (const NetplanSource& source : sources) {
    try {
      documents.push_back(YAML::Load(source.content));
    } catch (const YAML::Exception& e) {
      return Error{"netplan: " + source.path + " line " + std::to_string(e.mark.line + 1) +
                   ", column " + std::to_string(e.mark.column + 1) + ": " + e.msg};
    }
  }
  NetplanIds ids;
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
  return ids;
}

}  // namespace nicsync
