#include "metadata/oracle.hpp"

#include <algorithm>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "metadata/json_text.hpp"
#include "nicsync/provider.hpp"

namespace nicsync {

namespace oracle {

namespace {

using Json = nlohmann::json;

constexpr int kMaxVlanId = 4094;
constexpr int kMaxNicIndex = 255;

Error error_at(std::string_view where, const std::string& what) {
  return Error{"oracle: " + std::string(where) + ": " + what};
}

std::string entry_where(size_t position) { return "vnics/ entry " + std::to_string(position + 1); }

std::string a_type_name(const Json& value) {
  std::string name = value.type_name();
  return (name == "array" || name == "object" ? "an " : "a ") + name;
}

Result<Json> parse_json(std::string_view text, std::string_view where) {
  // nlohmann's parser stops at a NUL byte as at the end of the text: whatever follows would pass.
  if (size_t nul = text.find('\0'); nul != std::string_view::npos) {
    return error_at(where, "truncated or invalid JSON (a NUL byte at byte " + std::to_string(nul) + ")");
  }
  try {
    return Json::parse(text.begin(), text.end());
  } catch (const Json::parse_error& error) {
    return error_at(where, "truncated or invalid JSON (at byte " + std::to_string(error.byte) + ")");
  } catch (const Json::out_of_range&) {  // a number too large for a double
    return error_at(where, "invalid JSON (a number out of range)");
  }
}

/// A member as a string; nullopt when missing, JSON null or the service's "<null>".
Result<std::optional<std::string>> optional_string(const Json& object, const char* key, std::string_view where) {
  auto it = object.find(key);
  if (it == object.end() || it->is_null()) return std::optional<std::string>();
  if (!it->is_string()) return error_at(where, "\"" + std::string(key) + "\": " + shown(*it) + " is not a string");
  const std::string& text = it->get_ref<const std::string&>();
  if (text == "<null>") return std::optional<std::string>();
  return std::optional<std::string>(text);
}

Result<std::string> required_string(const Json& object, const char* key, std::string_view where) {
  NICSYNC_TRY_ASSIGN(std::optional<std::string> text, optional_string(object, key, where));
  if (!text) return error_at(where, "\"" + std::string(key) + "\" is missing");
  return *text;
}

/// A member parsed by `parse` (T::parse), with the member's name in the message.
template <typename T>
Result<std::optional<T>> optional_value(const Json& object, const char* key, std::string_view where) {
  NICSYNC_TRY_ASSIGN(std::optional<std::string> text, optional_string(object, key, where));
  if (!text) return std::optional<T>();
  auto value = T::parse(*text);
  if (!value.ok()) return error_at(where, "\"" + std::string(key) + "\": " + value.error().message);
  return std::optional<T>(std::move(value).value());
}

/// An integer member from `low` to `high`; nullopt when missing or null.
Result<std::optional<int>> optional_integer(const Json& object, const char* key, int low, int high,
                                            std::string_view where) {
  auto it = object.find(key);
  if (it == object.end() || it->is_null()) return std::optional<int>();
  if (!it->is_number_integer() || it->get<long long>() < low || it->get<long long>() > high) {
    return error_at(where, "\"" + std::string(key) + "\": " + shown(*it) + " is not a whole number from " +
                               std::to_string(low) + " to " + std::to_string(high));
  }
  return std::optional<int>(static_cast<int>(it->get<long long>()));
}

Result<void> parse_ipv4(const Json& entry, std::string_view where, Interface& nic) {
  NICSYNC_TRY_ASSIGN(std::optional<Ipv4Address> address, optional_value<Ipv4Address>(entry, "privateIp", where));
  if (!address) return {};  // an IPv6-only VNIC: its IPv4 members may say "<null>"
  NICSYNC_TRY_ASSIGN(std::optional<Ipv4Cidr> subnet, optional_value<Ipv4Cidr>(entry, "subnetCidrBlock", where));
  if (!subnet) return error_at(where, "\"subnetCidrBlock\" is missing (needed with \"privateIp\")");
  if (subnet->prefix_length() > 30) {
    return error_at(where, "\"subnetCidrBlock\": " + quote(subnet->str()) + " leaves no room for a router");
  }
  if (subnet->prefix_length() < kWidestIpv4Subnet) {
    return error_at(where, "\"subnetCidrBlock\": " + quote(subnet->str()) + " is wider than /" +
                               std::to_string(kWidestIpv4Subnet));
  }
  NICSYNC_TRY_ASSIGN(std::optional<Ipv4Address> router, optional_value<Ipv4Address>(entry, "virtualRouterIp", where));
  if (!router) return error_at(where, "\"virtualRouterIp\" is missing (needed with \"privateIp\")");
  if (!subnet->contains(*address)) {
    return error_at(where, "\"privateIp\" " + address->str() + " is outside \"subnetCidrBlock\" " + subnet->str());
  }
  if (!subnet->contains(*router)) {
    return error_at(where, "\"virtualRouterIp\" " + router->str() + " is outside \"subnetCidrBlock\" " + subnet->str());
  }
  nic.ipv4.addresses = {*address};
  nic.ipv4.subnet = subnet;
  nic.ipv4.gateway = router;
  return {};
}

Result<void> parse_ipv6(const Json& entry, std::string_view where, Interface& nic) {
  auto list = entry.find("ipv6Addresses");
  if (list != entry.end() && !list->is_null()) {
    if (!list->is_array()) return error_at(where, "\"ipv6Addresses\": " + shown(*list) + " is not a JSON array");
    for (size_t i = 0; i < list->size(); ++i) {
      const Json& item = (*list)[i];
      std::string item_where = "\"ipv6Addresses\" item " + std::to_string(i + 1) + ": ";
      if (!item.is_string()) return error_at(where, item_where + shown(item) + " is not a string");
      auto address = Ipv6Address::parse(item.get_ref<const std::string&>());
      if (!address.ok()) return error_at(where, item_where + address.error().message);
      if (std::find(nic.ipv6.addresses.begin(), nic.ipv6.addresses.end(), *address) != nic.ipv6.addresses.end()) {
        return error_at(where, item_where + address->str() + " is listed twice");
      }
      nic.ipv6.addresses.push_back(*address);
    }
  }
  NICSYNC_TRY_ASSIGN(std::optional<Ipv6Cidr> subnet, optional_value<Ipv6Cidr>(entry, "ipv6SubnetCidrBlock", where));
  if (subnet) {
    for (const Ipv6Address& address : nic.ipv6.addresses) {
      if (!subnet->contains(address)) {
        return error_at(where, "\"ipv6Addresses\" " + address.str() + " is outside \"ipv6SubnetCidrBlock\" " +
                                   subnet->str());
      }
    }
    nic.ipv6.subnets = {*subnet};
  }
  NICSYNC_TRY_ASSIGN(nic.ipv6.gateway, optional_value<Ipv6Address>(entry, "ipv6VirtualRouterIp", where));
  return {};
}

/// On bare metal a VNIC other than the physical NIC's own reaches the host as a VLAN on the
/// physical NIC numbered nicIndex; on VMs vlanTag is only the hypervisor's business.
Result<void> parse_vlan(const Json& entry, std::string_view where, Machine machine, Interface& nic) {
  if (machine != Machine::bare_metal) return {};
  NICSYNC_TRY_ASSIGN(std::optional<int> nic_index, optional_integer(entry, "nicIndex", 0, kMaxNicIndex, where));
  NICSYNC_TRY_ASSIGN(std::optional<int> tag, optional_integer(entry, "vlanTag", 0, kMaxVlanId, where));
  nic.nic_index = nic_index;
  if (nic_index && tag && *tag != 0) nic.vlan = VlanInfo{.id = *tag, .parent_nic_index = *nic_index};
  return {};
}

Result<Interface> parse_vnic(const Json& entry, size_t position, Machine machine) {
  const std::string where = entry_where(position);
  if (!entry.is_object()) return error_at(where, "is " + a_type_name(entry) + ", not an object");
  Interface nic;
  nic.role = position == 0 ? NicRole::primary : NicRole::secondary;
  nic.index = static_cast<int>(position);
  NICSYNC_TRY_ASSIGN(std::string mac_text, required_string(entry, "macAddr", where));
  auto mac = MacAddress::parse(mac_text);
  if (!mac.ok()) return error_at(where, "\"macAddr\": " + mac.error().message);
  nic.mac = *mac;
  NICSYNC_TRY_ASSIGN(nic.id, optional_value<ResourceId>(entry, "vnicId", where));
  NICSYNC_TRY(parse_ipv4(entry, where, nic));
  NICSYNC_TRY(parse_ipv6(entry, where, nic));
  if (nic.ipv4.addresses.empty() && nic.ipv6.addresses.empty()) {
    return error_at(where, "has neither \"privateIp\" nor \"ipv6Addresses\"");
  }
  NICSYNC_TRY(parse_vlan(entry, where, machine, nic));
  return nic;
}

/// Whether a configured key names this VNIC: its vnicId exactly, or its MAC in either case.
bool key_matches(const std::string& key, const Interface& vnic) {
  if (vnic.id && vnic.id->str() == key) return true;
  auto mac = MacAddress::parse(key);
  return mac.ok() && *mac == vnic.mac;
}

}  // namespace

Result<InstanceInfo> parse_instance(std::string_view json) {
  constexpr std::string_view where = "instance/";
  NICSYNC_TRY_ASSIGN(Json document, parse_json(json, where));
  if (!document.is_object()) return error_at(where, "is " + a_type_name(document) + ", not an object");
  NICSYNC_TRY_ASSIGN(std::string id_text, required_string(document, "id", where));
  auto id = ResourceId::parse(id_text);
  if (!id.ok()) return error_at(where, "\"id\": " + id.error().message);
  NICSYNC_TRY_ASSIGN(std::optional<std::string> shape, optional_string(document, "shape", where));
  InstanceInfo info{.id = *id, .machine = Machine::virtual_machine};
  if (shape && shape->starts_with("BM.")) info.machine = Machine::bare_metal;
  NICSYNC_TRY_ASSIGN(info.region, optional_string(document, "canonicalRegionName", where));
  if (info.region) info.region_member = "\"canonicalRegionName\"";
  if (auto region_info = document.find("regionInfo"); region_info != document.end() && region_info->is_object()) {
    const std::string info_where = std::string(where) + " \"regionInfo\"";
    if (!info.region) {
      NICSYNC_TRY_ASSIGN(info.region, optional_string(*region_info, "regionIdentifier", info_where));
      if (info.region) info.region_member = "\"regionInfo\".\"regionIdentifier\"";
    }
    NICSYNC_TRY_ASSIGN(info.realm_domain, optional_string(*region_info, "realmDomainComponent", info_where));
  }
  return info;
}

Result<std::vector<Interface>> parse_vnics(std::string_view json, Machine machine) {
  constexpr std::string_view where = "vnics/";
  NICSYNC_TRY_ASSIGN(Json document, parse_json(json, where));
  if (!document.is_array()) return error_at(where, "is " + a_type_name(document) + ", not an array");
  if (document.empty()) return error_at(where, "lists no VNIC");
  std::vector<Interface> vnics;
  for (size_t i = 0; i < document.size(); ++i) {
    NICSYNC_TRY_ASSIGN(Interface nic, parse_vnic(document[i], i, machine));
    for (size_t earlier = 0; earlier < vnics.size(); ++earlier) {
      if (vnics[earlier].mac == nic.mac) {
        return error_at(entry_where(i), "\"macAddr\" " + nic.mac.str() + " is also in entry " +
                                            std::to_string(earlier + 1));
      }
      // ListPrivateIps answers are matched to VNICs by vnicId: one id on two entries would put
      // one VNIC's addresses on both.
      if (nic.id && vnics[earlier].id == nic.id) {
        return error_at(entry_where(i), "\"vnicId\" " + nic.id->str() + " is also in entry " +
                                            std::to_string(earlier + 1));
      }
    }
    vnics.push_back(std::move(nic));
  }
  return vnics;
}

Result<void> add_secondary_ips(std::vector<Interface>& vnics, const SecondaryIps& secondary_ips) {
  for (size_t position = 0; position < vnics.size(); ++position) {
    Interface& vnic = vnics[position];
    for (const auto& [key, addresses] : secondary_ips) {
      if (!key_matches(key, vnic)) continue;
      // Not quote(): a matching key is a vnicId or a MAC, safe to show whole (OCIDs are long).
      const std::string where = "secondary IPs for \"" + key + "\"";
      for (const Ipv4Address& address : addresses) {
        if (!vnic.ipv4.subnet) {
          return error_at(where, address.str() + " cannot be added: " + entry_where(position) +
                                     " has no IPv4 subnet");
        }
        if (!vnic.ipv4.subnet->contains(address)) {
          return error_at(where, address.str() + " is outside the subnet " + vnic.ipv4.subnet->str() + " of " +
                                     entry_where(position));
        }
        std::vector<Ipv4Address>& list = vnic.ipv4.addresses;
        if (std::find(list.begin(), list.end(), address) == list.end()) list.push_back(address);
      }
    }
  }
  return {};
}

Instance assemble_instance(const InstanceInfo& info, std::vector<Interface> vnics) {
  Instance instance;
  instance.vendor = Vendor::oracle;
  instance.instance_id = info.id;
  instance.interfaces = std::move(vnics);
  return instance;
}

}  // namespace oracle

Result<Instance> fetch_oracle(HttpClient& http, const std::string& endpoint,
                              const std::map<std::string, std::vector<Ipv4Address>>& secondary_ips) {
  NICSYNC_TRY_ASSIGN(OracleFetch fetched, fetch_oracle_with_api(http, endpoint, secondary_ips, OracleApiOptions{}));
  return std::move(fetched.instance);
}

}  // namespace nicsync
