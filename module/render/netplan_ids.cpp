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

/// The ethernets map of a parsed netplan document, or an undefined node.
YAML::Node ethernets_of(const YAML::Node& document) {
  YAML::Node ethernets = child(child(document, "network"), "ethernets");
  return is_map(ethernets) ? ethernets : YAML::Node(YAML::NodeType::Undefined);
}

}  // namespace

Result<NetplanIds> find_netplan_ids(const Plan& plan, const std::vector<NetplanSource>& sources) {
  NetplanIds ids;
  for (const NetplanSource& source : sources) {
    YAML::Node document;
    try {
      document = YAML::Load(source.content);
    } catch (const YAML::Exception& e) {
      return Error{"netplan: " + source.path + " line " + std::to_string(e.mark.line + 1) +
                   ", column " + std::to_string(e.mark.column + 1) + ": " + e.msg};
    }
    YAML::Node ethernets = ethernets_of(document);
    if (!ethernets.IsDefined()) continue;
    for (const NicPlan& nic : plan.nics) {
      if (ids.count(nic.name.str()) != 0) continue;  // an earlier file wins
      for (const auto& entry : ethernets) {
        if (!entry.first.IsDefined() || !entry.first.IsScalar()) continue;
        if (describes(entry.first.Scalar(), entry.second, nic)) {
          ids.emplace(nic.name.str(), entry.first.Scalar());
          break;
        }
      }
    }
  }
  return ids;
}

}  // namespace nicsync
