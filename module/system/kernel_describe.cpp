// How kernel objects read in messages, logs and fake call records: iproute2's syntax, minus what
// nicsync never varies (the protocol; the main table).

#include <string>
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

std::string describe(const KernelAddress& address, const std::vector<KernelLink>& names) {
  std::string text = address.address.str() + "/" + std::to_string(address.prefix_length);
  text += " dev " + link_name(address.ifindex, names);
  if (address.noprefixroute) text += " noprefixroute";
  return text;
}

std::string describe(const KernelRoute& route, const std::vector<KernelLink>& names) {
  std::string text = route.destination.is_default() ? "default" : route.destination.str();
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
  } else if (rule.from->prefix_length() == 32) {
    text += rule.from->network().str();
  } else {
    text += rule.from->str();
  }
  text += " lookup " + std::to_string(rule.table);
  text += " priority " + std::to_string(rule.priority);
  return text;
}

}  // namespace nicsync
