// check_instance(): the rules every view obeys, whatever source it came from (model.hpp). The
// vendors' parsers check what they can name by key; this is the one place all sources pass
// through (app/metadata_sources.cpp), so a rule here holds for the service's view, cloud-init's
// instance data, the last good view and the OCI API's merge alike.

#include <algorithm>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "nicsync/model.hpp"

namespace nicsync {

namespace {

/// "NIC 02:86:10:65:fd:31 (eni-...)" or "NIC 02:86:10:65:fd:31".
std::string nic_name(const Interface& nic) {
  return "NIC " + nic.mac.str() + (nic.id ? " (" + nic.id->str() + ")" : "");
}

Error nic_error(const Instance& instance, const Interface& nic, const std::string& what) {
  return Error{std::string(vendor_name(instance.vendor)) + ": " + nic_name(nic) + ": " + what};
}

/// Why `address` cannot be an address of a NIC, or nullopt when it can.
std::optional<std::string> bad_ipv6_kind(const Ipv6Address& address) {
  if (address.is_unspecified()) return "the unspecified address";
  if (address.is_loopback()) return "the loopback address";
  if (address.is_multicast()) return "a multicast address";
  if (address.is_link_local()) return "a link-local address";
  if (address.is_ipv4_mapped()) return "an IPv4-mapped address";
  if (address.is_ipv4_compatible()) return "an IPv4-compatible address";
  return std::nullopt;
}

Result<void> check_ipv4(const Instance& instance, const Interface& nic) {
  const Ipv4Config& v4 = nic.ipv4;
  auto fail = [&](const std::string& what) { return nic_error(instance, nic, what); };
  if (!v4.subnet) {
    if (!v4.addresses.empty()) return fail("has IPv4 addresses but no IPv4 subnet");
    for (const Ipv4Cidr& prefix : v4.delegated_prefixes) {
      if (auto problem = delegated_prefix_problem(v4, prefix)) return fail(*problem);
    }
    return {};
  }
  const Ipv4Cidr& subnet = *v4.subnet;
  if (subnet.prefix_length() < kWidestIpv4Subnet) {
    return fail("subnet " + subnet.str() + " is wider than /" + std::to_string(kWidestIpv4Subnet));
  }
  if (subnet.prefix_length() > 30) return fail("subnet " + subnet.str() + " leaves no room for a gateway");
  const Ipv4Address network = subnet.network();
  const Ipv4Address broadcast = subnet.broadcast();
  if (v4.gateway) {
    const Ipv4Address& gateway = *v4.gateway;
    if (!subnet.contains(gateway))
      return fail("gateway " + gateway.str() + " is outside its subnet " + subnet.str());
    if (gateway == network)
      return fail("gateway " + gateway.str() + " is the network address of its subnet " + subnet.str());
    if (gateway == broadcast) {
      return fail("gateway " + gateway.str() + " is the broadcast address of its subnet " + subnet.str());
    }
  }
  for (const Ipv4Address& address : v4.addresses) {
    if (!subnet.contains(address)) return fail(address.str() + " is outside its subnet " + subnet.str());
    if (address == network)
      return fail(address.str() + " is the network address of its subnet " + subnet.str());
    if (address == broadcast)
      return fail(address.str() + " is the broadcast address of its subnet " + subnet.str());
    if (v4.gateway && address == *v4.gateway)
      return fail(address.str() + " is the gateway of its subnet " + subnet.str());
  }
  for (const Ipv4Cidr& prefix : v4.delegated_prefixes) {
    if (auto problem = delegated_prefix_problem(v4, prefix)) return fail(*problem);
  }
  return {};
}

Result<void> check_ipv6(const Instance& instance, const Interface& nic) {
  const Ipv6Config& v6 = nic.ipv6;
  auto fail = [&](const std::string& what) { return nic_error(instance, nic, what); };
  for (const Ipv6Cidr& subnet : v6.subnets) {
    if (subnet.prefix_length() < kWidestIpv6Subnet) {
      return fail("IPv6 subnet " + subnet.str() + " is wider than /" + std::to_string(kWidestIpv6Subnet));
    }
  }
  auto in_a_subnet = [&](const auto& value) {
    for (const Ipv6Cidr& subnet : v6.subnets) {
      if (subnet.contains(value)) return true;
    }
    return false;
  };
  for (const Ipv6Address& address : v6.addresses) {
    if (auto kind = bad_ipv6_kind(address))
      return fail(address.str() + " is " + *kind + ", not a unicast address");
    if (!v6.subnets.empty() && !in_a_subnet(address)) {
      return fail(address.str() + " is outside its IPv6 subnets");
    }
  }
  if (v6.gateway) {
    const Ipv6Address& gateway = *v6.gateway;
    if (gateway.is_unspecified() || gateway.is_multicast() || gateway.is_loopback()) {
      return fail("IPv6 gateway " + gateway.str() + " is " + *bad_ipv6_kind(gateway));
    }
    if (!gateway.is_link_local() && !in_a_subnet(gateway)) {
      return fail("IPv6 gateway " + gateway.str() + " is neither link-local nor inside its IPv6 subnets");
    }
  }
  for (const Ipv6Cidr& prefix : v6.delegated_prefixes) {
    if (auto problem = delegated_prefix_problem(v6, prefix)) return fail(*problem);
  }
  return {};
}

/// No delegated prefix of `a` overlapping a prefix of `b` or holding an address of `b`.
Result<void> check_prefixes_of(const Instance& instance, const Interface& a, const Interface& b) {
  auto fail = [&](const std::string& what) {
    return Error{std::string(vendor_name(instance.vendor)) + ": " + what};
  };
  for (const Ipv4Cidr& prefix : a.ipv4.delegated_prefixes) {
    for (const Ipv4Address& address : b.ipv4.addresses) {
      if (prefix.contains(address)) {
        return fail("IPv4 prefix " + prefix.str() + " of " + nic_name(a) + " holds " + address.str() +
                    " of " + nic_name(b));
      }
    }
    for (const Ipv4Cidr& other : b.ipv4.delegated_prefixes) {
      if (prefix.overlaps(other)) {
        return fail("IPv4 prefix " + prefix.str() + " of " + nic_name(a) + " overlaps " + other.str() +
                    " of " + nic_name(b));
      }
    }
  }
  for (const Ipv6Cidr& prefix : a.ipv6.delegated_prefixes) {
    for (const Ipv6Address& address : b.ipv6.addresses) {
      if (prefix.contains(address)) {
        return fail("IPv6 prefix " + prefix.str() + " of " + nic_name(a) + " holds " + address.str() +
                    " of " + nic_name(b));
      }
    }
    for (const Ipv6Cidr& other : b.ipv6.delegated_prefixes) {
      if (prefix.overlaps(other)) {
        return fail("IPv6 prefix " + prefix.str() + " of " + nic_name(a) + " overlaps " + other.str() +
                    " of " + nic_name(b));
      }
    }
  }
  return {};
}

/// No address on two NICs: every address with its NIC's position, sorted, so that a view of many
/// NICs with many addresses each costs no more than sorting them.
template <typename Address, typename Addresses>
Result<void> check_unique(const Instance& instance, Addresses addresses_of) {
  if (instance.interfaces.size() < 2) return {};
  std::vector<std::pair<Address, size_t>> all;
  for (size_t n = 0; n < instance.interfaces.size(); ++n) {
    for (const Address& address : addresses_of(instance.interfaces[n])) all.emplace_back(address, n);
  }
  std::sort(all.begin(), all.end());
  for (size_t i = 1; i < all.size(); ++i) {
    if (all[i].first != all[i - 1].first || all[i].second == all[i - 1].second) continue;
    return Error{std::string(vendor_name(instance.vendor)) + ": " + all[i].first.str() + " is on both " +
                 nic_name(instance.interfaces[all[i - 1].second]) + " and " +
                 nic_name(instance.interfaces[all[i].second])};
  }
  return {};
}

}  // namespace

std::optional<std::string> delegated_prefix_problem(const Ipv4Config& config, const Ipv4Cidr& prefix) {
  const std::string name = "IPv4 prefix " + prefix.str();
  if (!config.subnet) return name + " without an IPv4 subnet";
  const Ipv4Cidr& subnet = *config.subnet;
  if (!subnet.contains(prefix) || prefix.prefix_length() == subnet.prefix_length()) {
    return name + " is not inside its subnet " + subnet.str() + " and longer than it";
  }
  if (prefix.contains(subnet.network()))
    return name + " holds " + subnet.network().str() + ", the network address";
  if (prefix.contains(subnet.broadcast()))
    return name + " holds " + subnet.broadcast().str() + ", the broadcast address";
  if (config.gateway && prefix.contains(*config.gateway))
    return name + " holds " + config.gateway->str() + ", the gateway";
  for (const Ipv4Address& address : config.addresses) {
    if (prefix.contains(address)) return name + " holds " + address.str() + ", an address of the NIC";
  }
  return std::nullopt;
}

std::optional<std::string> delegated_prefix_problem(const Ipv6Config& config, const Ipv6Cidr& prefix) {
  const std::string name = "IPv6 prefix " + prefix.str();
  if (config.subnets.empty()) return name + " without an IPv6 subnet";
  for (const Ipv6Cidr& subnet : config.subnets) {
    if (subnet.contains(prefix) && prefix.prefix_length() > subnet.prefix_length()) return std::nullopt;
  }
  return name + " is not inside one of its IPv6 subnets and longer than it";
}

Result<void> check_instance(const Instance& instance) {
  for (const Interface& nic : instance.interfaces) {
    NICSYNC_TRY(check_ipv4(instance, nic));
    NICSYNC_TRY(check_ipv6(instance, nic));
  }
  NICSYNC_TRY(check_unique<Ipv4Address>(
      instance, [](const Interface& nic) -> auto& { return nic.ipv4.addresses; }));
  NICSYNC_TRY(check_unique<Ipv6Address>(
      instance, [](const Interface& nic) -> auto& { return nic.ipv6.addresses; }));
  for (const Interface& nic : instance.interfaces) {
    if (nic.ipv4.delegated_prefixes.empty() && nic.ipv6.delegated_prefixes.empty()) continue;
    for (const Interface& other : instance.interfaces) {
      if (&other != &nic) NICSYNC_TRY(check_prefixes_of(instance, nic, other));
    }
  }
  return {};
}

}  // namespace nicsync
