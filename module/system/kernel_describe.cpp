// How kernel objects read in messages, logs and fake call records: iproute2's syntax, minus what
// nicsync never varies (the protocol; the main table). Also the family-generic address types.

#include <string>
#include <variant>
#include <vector>

#include "nicsync/netlink.hpp"

namespace nicsync {

namespace {

std::string link_name(int ifindex, const std::vector<KernelLink>& names) {
  for (const KernelLink& link : names) {
    if (link.ifindex == ifindex) return link.name.str();
  }
  return "if" + std::to_string(ifindex);
}

}  // namespace

std::string IpAddress::str() const {
  return std::visit([](const auto& address) { return address.str(); }, value_);
}

IpPrefix IpPrefix::containing(const IpAddress& address, int prefix_length) {
  if (const Ipv4Address* v4 = address.v4()) return Ipv4Cidr::containing(*v4, prefix_length);
  return Ipv6Cidr::containing(*address.v6(), prefix_length);
}

IpAddress IpPrefix::network() const {
  return std::visit([](const auto& prefix) { return IpAddress(prefix.network()); }, value_);
}

int IpPrefix::prefix_length() const {
  return std::visit([](const auto& prefix) { return prefix.prefix_length(); }, value_);
}

bool IpPrefix::contains(const IpAddress& address) const {
  if (const auto* v4 = std::get_if<Ipv4Cidr>(&value_)) return address.v4() != nullptr && v4->contains(*address.v4());
  return address.v6() != nullptr && std::get<Ipv6Cidr>(value_).contains(*address.v6());
}

std::string IpPrefix::str() const {
  return std::visit([](const auto& prefix) { return prefix.str(); }, value_);
}

std::string describe(const KernelAddress& address, const std::vector<KernelLink>& names) {
  std::string text = address.address.str() + "/" + std::to_string(address.prefix_length);
  text += " dev " + link_name(address.ifindex, names);
  if (address.nodad) text += " nodad";
  if (address.noprefixroute) text += " noprefixroute";
  return text;
}

std::string describe(const KernelRoute& route, const std::vector<KernelLink>& names) {
  std::string text = route.type == RouteType::local ? "local " : "";
  text += route.destination.is_default() ? "default" : route.destination.str();
  if (route.gateway) text += " via " + route.gateway->str();
  if (route.ifindex != 0) text += " dev " + link_name(route.ifindex, names);
  if (route.scope == RouteScope::link) text += " scope link";
  if (route.table != kMainTable) text += " table " + std::to_string(route.table);
  if (route.metric) text += " metric " + std::to_string(*route.metric);
  if (route.onlink) text += " onlink";
  return text;
}

std::string describe(const KernelRule& rule) {
  std::string text = "from ";
  if (!rule.from) {
    text += "all";
  } else if (rule.from->is_host()) {
    text += rule.from->network().str();
  } else {
    text += rule.from->str();
  }
  text += " lookup " + std::to_string(rule.table);
  text += " priority " + std::to_string(rule.priority);
  return text;
}

}  // namespace nicsync
