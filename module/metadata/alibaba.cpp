#include "metadata/alibaba.hpp"

#include <algorithm>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "metadata/json_text.hpp"
#include "metadata/nic_requests.hpp"
#include "nicsync/provider.hpp"

namespace nicsync {

namespace alibaba {

namespace {

Error error_at(std::string_view where, const std::string& what) {
  return Error{"alibaba: " + std::string(where) + ": " + what};
}

Error error_at_item(std::string_view where, size_t item, const std::string& what) {
  return Error{"alibaba: " + std::string(where) + " item " + std::to_string(item) + ": " + what};
}

bool is_blank(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

std::string_view trim(std::string_view text) {
  while (!text.empty() && is_blank(text.front())) text.remove_prefix(1);
  while (!text.empty() && is_blank(text.back())) text.remove_suffix(1);
  return text;
}

/// A single value without the line end(s) a service might append.
std::string_view single_value(std::string_view text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.remove_suffix(1);
  return text;
}

/// The lines of a listing, without blank trailing lines; "\r\n" line ends are accepted.
std::vector<std::string_view> split_lines(std::string_view text) {
  std::vector<std::string_view> lines;
  size_t start = 0;
  while (start <= text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(start, end - start);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    lines.push_back(line);
    start = end + 1;
  }
  while (!lines.empty() && lines.back().empty()) lines.pop_back();
  return lines;
}

/// Parses a value with T::parse and names the key in the message.
template <typename T>
Result<T> parse_single(std::string_view text, std::string_view where) {
  auto value = T::parse(single_value(text));
  if (!value.ok()) return error_at(where, value.error().message);
  return value;
}

/// Appends `value` unless it is already there, in which case item `item` is listed twice.
template <typename T>
Result<void> append_unique(std::vector<T>& values, const T& value, std::string_view where, size_t item,
                           std::string_view text) {
  if (std::find(values.begin(), values.end(), value) != values.end()) {
    return error_at_item(where, item, quote(text) + " is listed twice");
  }
  values.push_back(value);
  return {};
}

}  // namespace

bool is_required_interface_key(std::string_view key) {
  return std::find(kRequiredInterfaceKeys.begin(), kRequiredInterfaceKeys.end(), key) !=
         kRequiredInterfaceKeys.end();
}

std::string interface_where(const MacAddress& mac, std::string_view key) {
  return "macs/" + mac.str() + "/" + std::string(key);
}

Result<MacAddress> parse_mac(std::string_view text, std::string_view where) {
  return parse_single<MacAddress>(text, where);
}

Result<ResourceId> parse_resource_id(std::string_view text, std::string_view where) {
  return parse_single<ResourceId>(text, where);
}

Result<std::vector<MacAddress>> parse_mac_listing(std::string_view text) {
  constexpr std::string_view where = "macs/";
  std::vector<MacAddress> macs;
  std::vector<std::string_view> lines = split_lines(text);
  for (size_t i = 0; i < lines.size(); ++i) {
    std::string_view line = lines[i];
    std::string at = std::string(where) + " line " + std::to_string(i + 1);
    if (line.empty()) return error_at(at, "empty line");
    if (line.back() != '/') return error_at(at, quote(line) + " does not end with \"/\"");
    auto mac = MacAddress::parse(line.substr(0, line.size() - 1));
    if (!mac.ok()) return error_at(at, mac.error().message);
    if (std::find(macs.begin(), macs.end(), *mac) != macs.end()) return error_at(at, quote(line) + " is listed twice");
    macs.push_back(*mac);
  }
  if (macs.empty()) return Error{"alibaba: macs/ is empty"};
  return macs;
}

Result<std::vector<Ipv4Address>> parse_ipv4_array(std::string_view text, std::string_view where) {
  std::string_view body = trim(text);
  nlohmann::json array = nlohmann::json::parse(body.begin(), body.end(), nullptr, /*allow_exceptions=*/false);
  // (nlohmann's parser stops at a NUL byte as at the end of the text: whatever follows would pass.)
  if (!array.is_array() || body.find('\0') != std::string_view::npos) {
    return error_at(where, quote(body) + " is not a JSON array");
  }
  std::vector<Ipv4Address> addresses;
  for (size_t i = 0; i < array.size(); ++i) {
    const nlohmann::json& item = array[i];
    if (!item.is_string()) return error_at_item(where, i + 1, shown(item) + " is not a string");
    const std::string& value = item.get_ref<const std::string&>();
    auto address = Ipv4Address::parse(value);
    if (!address.ok()) return error_at_item(where, i + 1, address.error().message);
    NICSYNC_TRY(append_unique(addresses, *address, where, i + 1, value));
  }
  return addresses;
}

Result<std::vector<Ipv6Address>> parse_ipv6_list(std::string_view text, std::string_view where) {
  std::string_view body = trim(text);
  if (body.size() < 2 || body.front() != '[' || body.back() != ']') {
    return error_at(where, quote(body) + " is not a bracketed list");
  }
  std::string_view inner = trim(body.substr(1, body.size() - 2));
  std::vector<Ipv6Address> addresses;
  if (inner.empty()) return addresses;
  size_t item = 0;
  size_t start = 0;
  while (start <= inner.size()) {
    size_t end = inner.find(',', start);
    if (end == std::string_view::npos) end = inner.size();
    std::string_view value = trim(inner.substr(start, end - start));
    ++item;
    if (value.size() >= 2 && value.front() == '"' && value.back() == '"') value = value.substr(1, value.size() - 2);
    auto address = Ipv6Address::parse(value);
    if (!address.ok()) return error_at_item(where, item, address.error().message);
    NICSYNC_TRY(append_unique(addresses, *address, where, item, value));
    start = end + 1;
  }
  return addresses;
}

Result<Interface> parse_interface(const MacAddress& mac, const std::map<std::string, std::string>& leaves) {
  auto leaf = [&](std::string_view key) -> const std::string* {
    auto it = leaves.find(std::string(key));
    return it == leaves.end() ? nullptr : &it->second;
  };
  auto where = [&](std::string_view key) { return interface_where(mac, key); };

  std::string missing;
  for (std::string_view key : kRequiredInterfaceKeys) {
    if (leaf(key) == nullptr) missing += (missing.empty() ? "" : ", ") + std::string(key);
  }
  if (!missing.empty()) return error_at(where(""), "lacks " + missing);

  Interface nic;
  nic.mac = mac;
  nic.role = NicRole::secondary;
  NICSYNC_TRY_ASSIGN(nic.id, parse_resource_id(*leaf("network-interface-id"), where("network-interface-id")));

  // The subnet, and the netmask that must say the same.
  NICSYNC_TRY_ASSIGN(Ipv4Cidr subnet, parse_single<Ipv4Cidr>(*leaf("vswitch-cidr-block"), where("vswitch-cidr-block")));
  if (subnet.prefix_length() > 30) {
    return error_at(where("vswitch-cidr-block"), quote(subnet.str()) + " leaves no room for a gateway");
  }
  if (subnet.prefix_length() < kWidestIpv4Subnet) {
    return error_at(where("vswitch-cidr-block"),
                    quote(subnet.str()) + " is wider than /" + std::to_string(kWidestIpv4Subnet));
  }
  std::string_view netmask = single_value(*leaf("netmask"));
  auto prefix = Ipv4Cidr::prefix_from_netmask(netmask);
  if (!prefix.ok()) return error_at(where("netmask"), prefix.error().message);
  if (*prefix != subnet.prefix_length()) {
    return error_at(where("netmask"), quote(netmask) + " does not agree with vswitch-cidr-block " + subnet.str());
  }
  auto inside = [&](Ipv4Address address, std::string_view key) -> Result<void> {
    if (subnet.contains(address)) return {};
    return error_at(where(key), address.str() + " is outside vswitch-cidr-block " + subnet.str());
  };

  NICSYNC_TRY_ASSIGN(Ipv4Address gateway, parse_single<Ipv4Address>(*leaf("gateway"), where("gateway")));
  NICSYNC_TRY(inside(gateway, "gateway"));

  // The primary address first, then the others in the order private-ipv4s gives them.
  NICSYNC_TRY_ASSIGN(Ipv4Address primary,
                     parse_single<Ipv4Address>(*leaf("primary-ip-address"), where("primary-ip-address")));
  NICSYNC_TRY(inside(primary, "primary-ip-address"));
  NICSYNC_TRY_ASSIGN(std::vector<Ipv4Address> all, parse_ipv4_array(*leaf("private-ipv4s"), where("private-ipv4s")));
  if (std::find(all.begin(), all.end(), primary) == all.end()) {
    return error_at(where("private-ipv4s"), "does not include primary-ip-address " + primary.str());
  }
  nic.ipv4.addresses.push_back(primary);
  for (size_t i = 0; i < all.size(); ++i) {
    if (all[i] == primary) continue;
    if (!subnet.contains(all[i])) {
      return error_at_item(where("private-ipv4s"), i + 1, all[i].str() + " is outside vswitch-cidr-block " + subnet.str());
    }
    nic.ipv4.addresses.push_back(all[i]);
  }
  nic.ipv4.subnet = subnet;
  nic.ipv4.gateway = gateway;

  if (const std::string* subnet6 = leaf("vswitch-ipv6-cidr-block")) {
    NICSYNC_TRY_ASSIGN(Ipv6Cidr block, parse_single<Ipv6Cidr>(*subnet6, where("vswitch-ipv6-cidr-block")));
    nic.ipv6.subnets.push_back(block);
  }
  if (const std::string* addresses = leaf("ipv6s")) {
    NICSYNC_TRY_ASSIGN(nic.ipv6.addresses, parse_ipv6_list(*addresses, where("ipv6s")));
  }
  for (size_t i = 0; i < nic.ipv6.addresses.size(); ++i) {
    const Ipv6Address& address = nic.ipv6.addresses[i];
    if (!nic.ipv6.subnets.empty() && !nic.ipv6.subnets[0].contains(address)) {
      return error_at_item(where("ipv6s"), i + 1,
                           address.str() + " is outside vswitch-ipv6-cidr-block " + nic.ipv6.subnets[0].str());
    }
  }
  if (const std::string* gateway6 = leaf("ipv6-gateway")) {
    NICSYNC_TRY_ASSIGN(nic.ipv6.gateway, parse_single<Ipv6Address>(*gateway6, where("ipv6-gateway")));
  }
  return nic;
}

Result<Instance> assemble_instance(const MacAddress& primary_mac, const ResourceId& instance_id,
                                   std::vector<Interface> interfaces) {
  auto primary = std::find_if(interfaces.begin(), interfaces.end(),
                              [&](const Interface& nic) { return nic.mac == primary_mac; });
  if (primary == interfaces.end()) return error_at("mac", primary_mac.str() + " is not in macs/");
  primary->role = NicRole::primary;
  primary->index = 0;
  std::rotate(interfaces.begin(), primary, primary + 1);  // primary first, the rest in listing order

  Instance instance;
  instance.vendor = Vendor::alibaba;
  instance.instance_id = instance_id;
  instance.interfaces = std::move(interfaces);
  return instance;
}

}  // namespace alibaba

Result<Instance> fetch_alibaba(HttpClient& http, const std::string& endpoint,
                               const std::vector<MacAddress>& local_macs) {
  ImdsProtocol protocol;
  protocol.base_url = endpoint;
  protocol.token_path = "/latest/api/token";
  protocol.token_ttl_header = "X-aliyun-ecs-metadata-token-ttl-seconds";
  protocol.token_header = "X-aliyun-ecs-metadata-token";
  protocol.token_required = false;  // normal mode (no token support: 404/405) is served as well
  ImdsSession session(http, std::move(protocol), "alibaba");

  const std::string meta(alibaba::kMetaDataPath);
  const std::string macs_path(alibaba::kMacsPath);

  // Every key of a NIC at once; the IPv6 keys answer 404 where there is no IPv6.
  const NicRequests requests_of = [&](const MacAddress& mac) {
    std::vector<NicRequest> requests;
    for (std::string_view key : alibaba::kInterfaceKeys) {
      requests.push_back({macs_path + mac.str() + "/" + std::string(key), !alibaba::is_required_interface_key(key)});
    }
    return requests;
  };
  // Round trips 1 and 2: the token, then the primary MAC, the instance id and the NIC list; with
  // them, each local NIC's keys (nic_requests.hpp). Round trip 3: the other NICs' keys.
  NICSYNC_TRY_ASSIGN(GuessedBatch top,
                     get_with_guesses(session, {meta + "mac", meta + "instance-id", macs_path}, local_macs, requests_of));
  NICSYNC_TRY_ASSIGN(MacAddress primary_mac, alibaba::parse_mac(top.bodies[0], "mac"));
  NICSYNC_TRY_ASSIGN(ResourceId instance_id, alibaba::parse_resource_id(top.bodies[1], "instance-id"));
  NICSYNC_TRY_ASSIGN(std::vector<MacAddress> macs, alibaba::parse_mac_listing(top.bodies[2]));
  NICSYNC_TRY_ASSIGN(std::vector<NicBodies> bodies, nic_bodies(session, macs, requests_of, top));

  std::vector<Interface> interfaces;
  for (size_t n = 0; n < macs.size(); ++n) {
    std::map<std::string, std::string> leaves;
    for (size_t k = 0; k < alibaba::kInterfaceKeys.size(); ++k) {
      std::optional<std::string>& body = bodies[n][k];
      if (body) leaves.emplace(alibaba::kInterfaceKeys[k], std::move(*body));
    }
    NICSYNC_TRY_ASSIGN(Interface nic, alibaba::parse_interface(macs[n], leaves));
    interfaces.push_back(std::move(nic));
  }
  return alibaba::assemble_instance(primary_mac, instance_id, std::move(interfaces));
}

}  // namespace nicsync
