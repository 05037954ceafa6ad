#include "metadata/aws.hpp"

#include <algorithm>
#include <chrono>
#include <functional>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "metadata/nic_requests.hpp"
#include "nicsync/provider.hpp"

namespace nicsync {

namespace aws {

namespace {

Error error_at(std::string_view where, const std::string& what) {
  return Error{"aws: " + std::string(where) + ": " + what};
}

Error error_at_line(std::string_view where, size_t line, const std::string& what) {
  return Error{"aws: " + std::string(where) + " line " + std::to_string(line) + ": " + what};
}

/// A single value without the newline(s) a service might append.
std::string_view single_value(std::string_view text) {
  while (!text.empty() && text.back() == '\n') text.remove_suffix(1);
  return text;
}

/// The lines of a listing or multi-line leaf, without blank trailing lines.
std::vector<std::string_view> split_lines(std::string_view text) {
  std::vector<std::string_view> lines;
  size_t start = 0;
  while (start <= text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    lines.push_back(text.substr(start, end - start));
    start = end + 1;
  }
  while (!lines.empty() && lines.back().empty()) lines.pop_back();
  return lines;
}

/// One value a line, each parsed by `parse`, no blanks in between, no repeats.
template <typename T, typename Parse>
Result<std::vector<T>> parse_lines(std::string_view text, std::string_view where, Parse parse) {
  std::vector<T> values;
  std::vector<std::string_view> lines = split_lines(text);
  for (size_t i = 0; i < lines.size(); ++i) {
    if (lines[i].empty()) return error_at_line(where, i + 1, "empty line");
    Result<T> value = parse(lines[i]);
    if (!value.ok()) return error_at_line(where, i + 1, value.error().message);
    if (std::find(values.begin(), values.end(), *value) != values.end()) {
      return error_at_line(where, i + 1, quote(lines[i]) + " is listed twice");
    }
    values.push_back(std::move(value).value());
  }
  return values;
}

}  // namespace

bool is_required_interface_key(std::string_view key) {
  return std::find(kRequiredInterfaceKeys.begin(), kRequiredInterfaceKeys.end(), key) !=
         kRequiredInterfaceKeys.end();
}

bool is_ipv4_interface_key(std::string_view key) {
  return std::find(kIpv4InterfaceKeys.begin(), kIpv4InterfaceKeys.end(), key) != kIpv4InterfaceKeys.end();
}

std::string interface_where(const MacAddress& mac, std::string_view key) {
  return "macs/" + mac.str() + "/" + std::string(key);
}

Result<MacAddress> parse_mac(std::string_view text, std::string_view where) {
  auto mac = MacAddress::parse(single_value(text));
  if (!mac.ok()) return error_at(where, mac.error().message);
  return mac;
}

Result<ResourceId> parse_resource_id(std::string_view text, std::string_view where) {
  auto id = ResourceId::parse(single_value(text));
  if (!id.ok()) return error_at(where, id.error().message);
  return id;
}

Result<std::vector<MacAddress>> parse_mac_listing(std::string_view text) {
  constexpr std::string_view where = "macs/";
  auto parse_folder = [](std::string_view line) -> Result<MacAddress> {
    if (line.back() != '/') return Error{quote(line) + " does not end with \"/\""};
    return MacAddress::parse(line.substr(0, line.size() - 1));
  };
  NICSYNC_TRY_ASSIGN(std::vector<MacAddress> macs, parse_lines<MacAddress>(text, where, parse_folder));
  if (macs.empty()) return Error{"aws: macs/ is empty"};
  return macs;
}

Result<std::vector<std::string>> keys_to_fetch(const MacAddress& mac, std::string_view listing) {
  std::set<std::string_view> listed;
  for (std::string_view line : split_lines(listing)) listed.insert(line);
  // An ENI in an IPv6-only subnet lists ipv6s and neither IPv4 key; any other NIC needs both.
  bool ipv6_only = listed.count("ipv6s") != 0 &&
                   std::none_of(kIpv4InterfaceKeys.begin(), kIpv4InterfaceKeys.end(),
                                [&](std::string_view key) { return listed.count(key) != 0; });
  std::vector<std::string> keys;
  std::vector<std::string> missing;
  for (std::string_view key : kInterfaceKeys) {
    if (listed.count(key) != 0) {
      keys.emplace_back(key);
    } else if (is_required_interface_key(key) || (is_ipv4_interface_key(key) && !ipv6_only)) {
      missing.emplace_back(key);
    }
  }
  if (!missing.empty()) return error_at(interface_where(mac, ""), "does not list " + join(missing, ", "));
  return keys;
}

Result<int> parse_small_number(std::string_view text, std::string_view where) {
  std::string_view value = single_value(text);
  int number = 0;
  bool valid = !value.empty() && value.size() <= 3;
  for (char c : value) {
    if (!valid || c < '0' || c > '9') {  // stop before a long value overflows `number`
      valid = false;
      break;
    }
    number = number * 10 + (c - '0');
  }
  if (!valid || number > 255) return error_at(where, quote(value) + " is not a number from 0 to 255");
  return number;
}

Result<Ipv4Cidr> parse_ipv4_subnet(std::string_view text, std::string_view where) {
  std::string_view value = single_value(text);
  auto subnet = Ipv4Cidr::parse(value);
  if (!subnet.ok()) return error_at(where, subnet.error().message);
  if (subnet->prefix_length() > 30) return error_at(where, quote(value) + " leaves no room for a gateway");
  if (subnet->prefix_length() < kWidestIpv4Subnet) {
    return error_at(where, quote(value) + " is wider than /" + std::to_string(kWidestIpv4Subnet));
  }
  return subnet;
}

Result<std::vector<Ipv4Address>> parse_ipv4_lines(std::string_view text, std::string_view where) {
  return parse_lines<Ipv4Address>(text, where, &Ipv4Address::parse);
}

Result<std::vector<Ipv6Address>> parse_ipv6_lines(std::string_view text, std::string_view where) {
  return parse_lines<Ipv6Address>(text, where, &Ipv6Address::parse);
}

Result<std::vector<Ipv4Cidr>> parse_ipv4_cidr_lines(std::string_view text, std::string_view where) {
  return parse_lines<Ipv4Cidr>(text, where, &Ipv4Cidr::parse);
}

Result<std::vector<Ipv6Cidr>> parse_ipv6_cidr_lines(std::string_view text, std::string_view where) {
  return parse_lines<Ipv6Cidr>(text, where, &Ipv6Cidr::parse);
}

Result<Interface> parse_interface(const MacAddress& mac, const std::map<std::string, std::string>& leaves) {
  auto leaf = [&](std::string_view key) -> const std::string* {
    auto it = leaves.find(std::string(key));
    return it == leaves.end() ? nullptr : &it->second;
  };
  auto where = [&](std::string_view key) { return interface_where(mac, key); };

  // An ENI in an IPv6-only subnet has ipv6s and neither IPv4 key; any other NIC needs both.
  bool ipv6_only = leaf("ipv6s") != nullptr &&
                   std::none_of(kIpv4InterfaceKeys.begin(), kIpv4InterfaceKeys.end(),
                                [&](std::string_view key) { return leaf(key) != nullptr; });
  std::vector<std::string> missing;
  for (std::string_view key : kInterfaceKeys) {
    bool needed = is_required_interface_key(key) || (is_ipv4_interface_key(key) && !ipv6_only);
    if (needed && leaf(key) == nullptr) missing.emplace_back(key);
  }
  if (!missing.empty()) return error_at(where(""), "lacks " + join(missing, ", "));

  Interface nic{.mac = mac, .os_name = std::nullopt, .role = NicRole::secondary, .index = std::nullopt,
                .card = 0, .id = std::nullopt, .ipv4 = {}, .ipv6 = {}, .vlan = std::nullopt};
  NICSYNC_TRY_ASSIGN(nic.index, parse_small_number(*leaf("device-number"), where("device-number")));
  if (const std::string* card = leaf("network-card")) {
    NICSYNC_TRY_ASSIGN(nic.card, parse_small_number(*card, where("network-card")));
  }
  if (const std::string* id = leaf("interface-id")) {
    NICSYNC_TRY_ASSIGN(nic.id, parse_resource_id(*id, where("interface-id")));
  }

  if (!ipv6_only) {
    NICSYNC_TRY_ASSIGN(Ipv4Cidr subnet,
                       parse_ipv4_subnet(*leaf("subnet-ipv4-cidr-block"), where("subnet-ipv4-cidr-block")));
    NICSYNC_TRY_ASSIGN(nic.ipv4.addresses, parse_ipv4_lines(*leaf("local-ipv4s"), where("local-ipv4s")));
    if (nic.ipv4.addresses.empty()) return error_at(where("local-ipv4s"), "is empty");
    for (size_t i = 0; i < nic.ipv4.addresses.size(); ++i) {
      if (!subnet.contains(nic.ipv4.addresses[i])) {
        return error_at_line(where("local-ipv4s"), i + 1,
                             nic.ipv4.addresses[i].str() + " is outside the subnet " + subnet.str());
      }
    }
    nic.ipv4.subnet = subnet;
    nic.ipv4.gateway = Ipv4Address::from_uint(subnet.network().to_uint() + 1);
  }
  if (const std::string* prefixes = leaf("ipv4-prefix")) {
    NICSYNC_TRY_ASSIGN(nic.ipv4.delegated_prefixes, parse_ipv4_cidr_lines(*prefixes, where("ipv4-prefix")));
    for (size_t i = 0; i < nic.ipv4.delegated_prefixes.size(); ++i) {
      if (auto problem = delegated_prefix_problem(nic.ipv4, nic.ipv4.delegated_prefixes[i])) {
        return error_at_line(where("ipv4-prefix"), i + 1, *problem);
      }
    }
  }

  if (const std::string* subnets = leaf("subnet-ipv6-cidr-blocks")) {
    NICSYNC_TRY_ASSIGN(nic.ipv6.subnets, parse_ipv6_cidr_lines(*subnets, where("subnet-ipv6-cidr-blocks")));
  }
  if (const std::string* addresses = leaf("ipv6s")) {
    NICSYNC_TRY_ASSIGN(nic.ipv6.addresses, parse_ipv6_lines(*addresses, where("ipv6s")));
  }
  if (!nic.ipv6.subnets.empty()) {
    for (size_t i = 0; i < nic.ipv6.addresses.size(); ++i) {
      const Ipv6Address& address = nic.ipv6.addresses[i];
      bool inside = std::any_of(nic.ipv6.subnets.begin(), nic.ipv6.subnets.end(),
                                [&](const Ipv6Cidr& s) { return s.contains(address); });
      if (!inside) {
        return error_at_line(where("ipv6s"), i + 1, address.str() + " is outside subnet-ipv6-cidr-blocks");
      }
    }
  }
  if (const std::string* prefixes = leaf("ipv6-prefix")) {
    NICSYNC_TRY_ASSIGN(nic.ipv6.delegated_prefixes, parse_ipv6_cidr_lines(*prefixes, where("ipv6-prefix")));
    for (size_t i = 0; i < nic.ipv6.delegated_prefixes.size(); ++i) {
      if (auto problem = delegated_prefix_problem(nic.ipv6, nic.ipv6.delegated_prefixes[i])) {
        return error_at_line(where("ipv6-prefix"), i + 1, *problem);
      }
    }
  }
  if (ipv6_only && nic.ipv6.addresses.empty()) {
    return error_at(where("ipv6s"), "is empty (the NIC has no local-ipv4s either)");
  }
  return nic;
}

Result<Instance> assemble_instance(const MacAddress& primary_mac, const ResourceId& instance_id,
                                   std::vector<Interface> interfaces) {
  Instance instance;
  instance.vendor = Vendor::aws;
  instance.instance_id = instance_id;
  auto primary = std::find_if(interfaces.begin(), interfaces.end(),
                              [&](const Interface& nic) { return nic.mac == primary_mac; });
  if (primary == interfaces.end()) return error_at("mac", primary_mac.str() + " is not in macs/");
  primary->role = NicRole::primary;

  auto slot = [](const Interface& nic) { return std::pair(nic.card, nic.index.value_or(-1)); };
  std::stable_sort(interfaces.begin(), interfaces.end(),
                   [&](const Interface& a, const Interface& b) { return slot(a) < slot(b); });
  for (size_t i = 1; i < interfaces.size(); ++i) {
    if (slot(interfaces[i - 1]) == slot(interfaces[i])) {
      return Error{"aws: macs/" + interfaces[i - 1].mac.str() + "/ and macs/" + interfaces[i].mac.str() +
                   "/ both have network-card " + std::to_string(interfaces[i].card) + " and device-number " +
                   std::to_string(interfaces[i].index.value_or(-1))};
    }
  }
  instance.interfaces = std::move(interfaces);
  return instance;
}

}  // namespace aws

namespace {

bool lists_key(const std::vector<std::string>& keys, std::string_view key) {
  return std::find(keys.begin(), keys.end(), key) != keys.end();
}

/// The NICs (positions in `interfaces`) other than the primary that sit in its slot: device-number
/// 0 on the primary's network card. None when the primary is not among them (assemble_instance
/// says so).
std::vector<size_t> in_primary_slot(const MacAddress& primary_mac, const std::vector<Interface>& interfaces) {
  auto primary = std::find_if(interfaces.begin(), interfaces.end(),
                              [&](const Interface& nic) { return nic.mac == primary_mac; });
  std::vector<size_t> out;
  if (primary == interfaces.end()) return out;
  for (size_t n = 0; n < interfaces.size(); ++n) {
    const Interface& nic = interfaces[n];
    if (nic.mac != primary_mac && nic.index == 0 && nic.card == primary->card) out.push_back(n);
  }
  return out;
}

/// A freshly attached ENI can show device-number 0 (the primary's) until its metadata catches
/// up: re-reads device-number (and network-card, when the NIC lists it) of each such NIC, up to
/// options.device_number_attempts times, options.device_number_delay apart.
Result<void> reread_device_numbers(ImdsSession& session, const AwsOptions& options, const MacAddress& primary_mac,
                                   const std::vector<std::string>& nic_paths,
                                   const std::vector<std::vector<std::string>>& keys_per_nic,
                                   std::vector<Interface>& interfaces) {
  std::vector<size_t> stuck = in_primary_slot(primary_mac, interfaces);
  if (stuck.empty()) return {};
  std::function<void(std::chrono::milliseconds)> sleep = options.sleep;
  if (!sleep) sleep = [](std::chrono::milliseconds delay) { std::this_thread::sleep_for(delay); };
  const int attempts = std::max(0, options.device_number_attempts);
  for (int attempt = 0; attempt < attempts && !stuck.empty(); ++attempt) {
    sleep(options.device_number_delay);
    std::vector<std::string> paths;
    std::vector<bool> optional;
    for (size_t n : stuck) {
      paths.push_back(nic_paths[n] + "device-number");
      optional.push_back(false);
      if (lists_key(keys_per_nic[n], "network-card")) {
        paths.push_back(nic_paths[n] + "network-card");
        optional.push_back(true);
      }
    }
    NICSYNC_TRY_ASSIGN(auto bodies, session.get(paths, optional));
    size_t next = 0;
    for (size_t n : stuck) {
      Interface& nic = interfaces[n];
      NICSYNC_TRY_ASSIGN(nic.index,
                         aws::parse_small_number(*bodies[next++], aws::interface_where(nic.mac, "device-number")));
      if (lists_key(keys_per_nic[n], "network-card")) {
        const std::optional<std::string>& card = bodies[next++];
        nic.card = 0;  // a listed network-card that 404s is absent, as in the first read
        if (card) {
          NICSYNC_TRY_ASSIGN(nic.card, aws::parse_small_number(*card, aws::interface_where(nic.mac, "network-card")));
        }
      }
    }
    stuck = in_primary_slot(primary_mac, interfaces);
  }
  if (stuck.empty()) return {};
  const Interface& nic = interfaces[stuck.front()];
  const int tries = attempts + 1;
  return Error{"aws: " + aws::interface_where(nic.mac, "device-number") + ": still 0 after " + std::to_string(tries) +
               (tries == 1 ? " try" : " tries") + " (the primary's slot on network-card " + std::to_string(nic.card) +
               "; is the ENI still attaching?)"};
}

}  // namespace

Result<Instance> fetch_aws(HttpClient& http, const std::string& endpoint, const AwsOptions& options) {
  ImdsProtocol protocol;
  protocol.base_url = endpoint;
  protocol.token_path = "/latest/api/token";
  protocol.token_ttl_header = "X-aws-ec2-metadata-token-ttl-seconds";
  protocol.token_header = "X-aws-ec2-metadata-token";
  protocol.token_required = !options.allow_imdsv1;  // IMDSv2 only, unless configured
  protocol.no_token_hint = "the service offers no IMDSv2 token (set aws.allow_imdsv1: true to read it without one)";
  ImdsSession session(http, std::move(protocol), "aws");

  const std::string meta(aws::kMetaDataPath);
  const std::string macs_path(aws::kMacsPath);

  // A NIC's requests: what it lists, and with it the keys nearly every NIC has.
  const NicRequests requests_of = [&](const MacAddress& mac) {
    std::string listing = macs_path + mac.str() + "/";
    std::vector<NicRequest> requests{{listing, false}};
    for (std::string_view key : aws::kEagerInterfaceKeys) {
      requests.push_back({listing + std::string(key), true});  // judged against the listing below
    }
    return requests;
  };
  // Round trips 1 and 2: the token, then the primary MAC, the instance id and the NIC list; with
  // them, each local NIC's requests (nic_requests.hpp). Round trip 3: the other NICs'.
  NICSYNC_TRY_ASSIGN(GuessedBatch top,
                     get_with_guesses(session, {meta + "mac", meta + "instance-id", macs_path}, options.local_macs, requests_of));
  NICSYNC_TRY_ASSIGN(MacAddress primary_mac, aws::parse_mac(top.bodies[0], "mac"));
  NICSYNC_TRY_ASSIGN(ResourceId instance_id, aws::parse_resource_id(top.bodies[1], "instance-id"));
  NICSYNC_TRY_ASSIGN(std::vector<MacAddress> macs, aws::parse_mac_listing(top.bodies[2]));
  NICSYNC_TRY_ASSIGN(std::vector<NicBodies> nic_bodies_of, nic_bodies(session, macs, requests_of, top));
  std::vector<std::string> listing_paths;
  for (const MacAddress& mac : macs) listing_paths.push_back(macs_path + mac.str() + "/");

  // Round trip 4, only where a NIC lists more keys (network-card, IPv6, prefixes). A listed key
  // that answers 404 is optional, except the required and the IPv4 ones: the listing said they
  // are there.
  std::vector<std::string> leaf_paths;
  std::vector<bool> optional;
  std::vector<std::pair<size_t, std::string>> leaf_owners;  // (NIC, key) of each leaf path
  std::vector<std::map<std::string, std::string>> leaves_per_nic(macs.size());
  std::vector<std::vector<std::string>> keys_per_nic;
  for (size_t n = 0; n < macs.size(); ++n) {
    NICSYNC_TRY_ASSIGN(std::vector<std::string> keys, aws::keys_to_fetch(macs[n], *nic_bodies_of[n][0]));
    for (const std::string& key : keys) {
      bool needed = aws::is_required_interface_key(key) || aws::is_ipv4_interface_key(key);
      auto eager = std::find(aws::kEagerInterfaceKeys.begin(), aws::kEagerInterfaceKeys.end(), key);
      if (eager == aws::kEagerInterfaceKeys.end()) {
        leaf_paths.push_back(listing_paths[n] + key);
        optional.push_back(!needed);
        leaf_owners.emplace_back(n, key);
        continue;
      }
      std::optional<std::string>& body = nic_bodies_of[n][1 + (eager - aws::kEagerInterfaceKeys.begin())];
      if (body) {
        leaves_per_nic[n].emplace(key, std::move(*body));
      } else if (needed) {
        return Error{"aws: GET " + listing_paths[n] + key + ": HTTP 404"};
      }
    }
    keys_per_nic.push_back(std::move(keys));
  }
  NICSYNC_TRY_ASSIGN(auto bodies, session.get(leaf_paths, optional));
  for (size_t i = 0; i < bodies.size(); ++i) {
    // An optional key that 404'd is absent.
    if (bodies[i]) leaves_per_nic[leaf_owners[i].first].emplace(leaf_owners[i].second, std::move(*bodies[i]));
  }

  std::vector<Interface> interfaces;
  for (size_t n = 0; n < macs.size(); ++n) {
    NICSYNC_TRY_ASSIGN(Interface nic, aws::parse_interface(macs[n], leaves_per_nic[n]));
    interfaces.push_back(std::move(nic));
  }
  // Round trips 5...: a NIC in the primary's slot may be an ENI attached a moment ago.
  NICSYNC_TRY(reread_device_numbers(session, options, primary_mac, listing_paths, keys_per_nic, interfaces));
  return aws::assemble_instance(primary_mac, instance_id, std::move(interfaces));
}

}  // namespace nicsync
