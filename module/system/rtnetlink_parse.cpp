// Parsers of rtnetlink dump messages (rtnetlink_parse.hpp): the fixed header, then the attributes
// walked with the kernel's own RTA_OK / RTA_NEXT, a payload read only when its length is the one
// its type has.

#include "system/rtnetlink_parse.hpp"

#include <arpa/inet.h>
#include <linux/fib_rules.h>
#include <linux/if_addr.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <sys/socket.h>

#include <array>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <span>
#include <string>
#include <string_view>

namespace nicsync {

namespace {

/// IPv6 routes added without a metric get this one (IP6_RT_PRIO_USER); IPv4 ones get 0.
constexpr uint32_t kIpv6DefaultMetric = 1024;

/// The payloads of the attributes in the `length` bytes at `first`, by type. A type past the array
/// is skipped; a repeated type keeps its last payload, as nla_parse does. An attribute that
/// overruns the bytes ends the walk.
template <size_t Count>
std::array<std::span<const uint8_t>, Count> attributes_in(const char* first, size_t length) {
  std::array<std::span<const uint8_t>, Count> found{};
  const auto* attribute = reinterpret_cast<const rtattr*>(first);
  // An int, as RTA_OK expects: RTA_NEXT takes the aligned length away and may go below zero.
  for (int remaining = static_cast<int>(length); RTA_OK(attribute, remaining); attribute = RTA_NEXT(attribute, remaining)) {
    const size_t type = attribute->rta_type & NLA_TYPE_MASK;
    if (type < Count) found[type] = {static_cast<const uint8_t*>(RTA_DATA(attribute)), RTA_PAYLOAD(attribute)};
  }
  return found;
}

/// The attributes of a message: those after its fixed header of `fixed_size` bytes.
template <size_t Count>
std::array<std::span<const uint8_t>, Count> attributes_of(const nlmsghdr* message, size_t fixed_size) {
  const size_t offset = NLMSG_LENGTH(NLMSG_ALIGN(fixed_size));
  if (message->nlmsg_len < offset) return {};
  return attributes_in<Count>(reinterpret_cast<const char*>(message) + offset, message->nlmsg_len - offset);
}

/// Whether the attribute was in the message (its payload may still be empty).
bool present(std::span<const uint8_t> payload) { return payload.data() != nullptr; }

/// A u32 attribute's value; `fallback` when the attribute is absent or too short.
uint32_t u32_of(std::span<const uint8_t> payload, uint32_t fallback = 0) {
  if (payload.size() < sizeof(uint32_t)) return fallback;
  uint32_t value = 0;
  std::memcpy(&value, payload.data(), sizeof(value));
  return value;
}

/// The address of `family` in an attribute's payload; empty when its length is not the family's.
std::optional<IpAddress> ip_of(int family, std::span<const uint8_t> payload) {
  if (family == AF_INET && payload.size() == 4) {
    uint32_t network_order = 0;
    std::memcpy(&network_order, payload.data(), sizeof(network_order));
    return IpAddress(Ipv4Address::from_uint(ntohl(network_order)));
  }
  if (family == AF_INET6 && payload.size() == 16) {
    std::array<uint8_t, 16> bytes{};
    std::memcpy(bytes.data(), payload.data(), bytes.size());
    return IpAddress(Ipv6Address::from_bytes(bytes));
  }
  return std::nullopt;
}

/// A destination or source prefix: the attribute's address, or the family's zero address (a
/// default route sends none), with `length` bits.
std::optional<IpPrefix> prefix_of(int family, std::span<const uint8_t> payload, int length) {
  std::optional<IpAddress> network = ip_of(family, payload);
  if (!present(payload)) network = family == AF_INET ? IpAddress(Ipv4Address()) : IpAddress(Ipv6Address());
  if (!network || length > network->bits()) return std::nullopt;
  return IpPrefix::containing(*network, length);
}

std::optional<MacAddress> mac_of(std::span<const uint8_t> payload) {
  if (payload.size() != 6) return std::nullopt;
  std::array<char, 18> text{};
  std::snprintf(text.data(), text.size(), "%02x:%02x:%02x:%02x:%02x:%02x", payload[0], payload[1], payload[2],
                payload[3], payload[4], payload[5]);
  auto mac = MacAddress::parse(text.data());
  if (!mac.ok()) return std::nullopt;
  return *mac;
}

}  // namespace

std::string extack_message(const nlmsghdr* message) {
  if ((message->nlmsg_flags & NLM_F_ACK_TLVS) == 0 || message->nlmsg_len < NLMSG_LENGTH(sizeof(nlmsgerr))) return "";
  // After the nlmsgerr: the echoed request past its header, unless the kernel capped the echo.
  const auto* error = static_cast<const nlmsgerr*>(NLMSG_DATA(message));
  size_t offset = NLMSG_HDRLEN + sizeof(nlmsgerr);
  if ((message->nlmsg_flags & NLM_F_CAPPED) == 0) {
    if (error->msg.nlmsg_len < NLMSG_HDRLEN || error->msg.nlmsg_len > message->nlmsg_len) return "";
    offset += error->msg.nlmsg_len - NLMSG_HDRLEN;
  }
  offset = NLMSG_ALIGN(offset);
  if (offset >= message->nlmsg_len) return "";
  const auto attributes = attributes_in<NLMSGERR_ATTR_MAX + 1>(reinterpret_cast<const char*>(message) + offset,
                                                               message->nlmsg_len - offset);
  const std::span<const uint8_t> text = attributes[NLMSGERR_ATTR_MSG];
  if (text.empty()) return "";
  std::string reason(reinterpret_cast<const char*>(text.data()),
                     strnlen(reinterpret_cast<const char*>(text.data()), text.size()));
  while (!reason.empty() && (reason.back() == '.' || reason.back() == '\n' || reason.back() == ' ')) reason.pop_back();
  return reason;
}

std::optional<KernelLink> parse_link_message(const nlmsghdr* message) {
  if (message->nlmsg_len < NLMSG_LENGTH(sizeof(ifinfomsg))) return std::nullopt;
  const auto* header = static_cast<const ifinfomsg*>(NLMSG_DATA(message));
  const auto attributes = attributes_of<IFLA_MAX + 1>(message, sizeof(ifinfomsg));
  std::span<const uint8_t> name = attributes[IFLA_IFNAME];
  if (name.empty()) return std::nullopt;
  auto parsed = InterfaceName::parse(
      std::string_view(reinterpret_cast<const char*>(name.data()),
                       strnlen(reinterpret_cast<const char*>(name.data()), name.size())));
  std::optional<MacAddress> mac = mac_of(attributes[IFLA_ADDRESS]);
  if (!parsed.ok() || !mac) return std::nullopt;
  return KernelLink{header->ifi_index, *parsed, *mac, (header->ifi_flags & IFF_UP) != 0};
}

std::optional<KernelAddress> parse_address_message(const nlmsghdr* message, int family) {
  if (message->nlmsg_len < NLMSG_LENGTH(sizeof(ifaddrmsg))) return std::nullopt;
  const auto* header = static_cast<const ifaddrmsg*>(NLMSG_DATA(message));
  if (header->ifa_family != family) return std::nullopt;
  const auto attributes = attributes_of<IFA_MAX + 1>(message, sizeof(ifaddrmsg));
  std::span<const uint8_t> local = present(attributes[IFA_LOCAL]) ? attributes[IFA_LOCAL] : attributes[IFA_ADDRESS];
  std::optional<IpAddress> address = ip_of(family, local);
  if (!address || header->ifa_prefixlen > address->bits()) return std::nullopt;
  const uint32_t flags = u32_of(attributes[IFA_FLAGS], header->ifa_flags);
  KernelAddress entry;
  entry.ifindex = static_cast<int>(header->ifa_index);
  entry.address = *address;
  entry.prefix_length = header->ifa_prefixlen;
  entry.noprefixroute = (flags & IFA_F_NOPREFIXROUTE) != 0;
  entry.nodad = (flags & IFA_F_NODAD) != 0;
  return entry;
}

std::optional<KernelRoute> parse_route_message(const nlmsghdr* message, int family) {
  if (message->nlmsg_len < NLMSG_LENGTH(sizeof(rtmsg))) return std::nullopt;
  const auto* header = static_cast<const rtmsg*>(NLMSG_DATA(message));
  if (header->rtm_family != family) return std::nullopt;
  const uint8_t type = header->rtm_type;
  const uint8_t protocol = header->rtm_protocol;
  if (type != RTN_UNICAST && !(type == RTN_LOCAL && protocol == kNicsyncProtocol)) return std::nullopt;
  if ((header->rtm_flags & RTM_F_CLONED) != 0) return std::nullopt;
  const auto attributes = attributes_of<RTA_MAX + 1>(message, sizeof(rtmsg));
  std::optional<IpPrefix> destination = prefix_of(family, attributes[RTA_DST], header->rtm_dst_len);
  if (!destination) return std::nullopt;
  KernelRoute entry;
  entry.table = u32_of(attributes[RTA_TABLE], header->rtm_table);
  entry.destination = *destination;
  entry.type = type == RTN_LOCAL ? RouteType::local : RouteType::unicast;
  // A route added without a metric reads back with the family's default: IPv4 0 (the kernel
  // then sends no RTA_PRIORITY), IPv6 1024.
  const uint32_t priority = u32_of(attributes[RTA_PRIORITY]);
  if (priority != (family == AF_INET ? 0 : kIpv6DefaultMetric)) entry.metric = priority;
  entry.scope = header->rtm_scope == RT_SCOPE_LINK ? RouteScope::link : RouteScope::global;
  entry.protocol = protocol;
  // The next hop: in the message itself, or the only one of an RTA_MULTIPATH list.
  std::span<const uint8_t> gateway = attributes[RTA_GATEWAY];
  entry.ifindex = static_cast<int>(u32_of(attributes[RTA_OIF]));
  unsigned next_hop_flags = header->rtm_flags & 0xff;
  if (std::span<const uint8_t> multipath = attributes[RTA_MULTIPATH]; present(multipath)) {
    if (multipath.size() < sizeof(rtnexthop)) return std::nullopt;
    const auto* hop = reinterpret_cast<const rtnexthop*>(multipath.data());
    if (hop->rtnh_len < sizeof(rtnexthop) || hop->rtnh_len > multipath.size() ||
        static_cast<size_t>(RTNH_ALIGN(hop->rtnh_len)) < multipath.size()) {
      return std::nullopt;  // malformed, or a second next hop
    }
    entry.ifindex = hop->rtnh_ifindex;
    next_hop_flags = hop->rtnh_flags;
    gateway = {};
    const auto* attribute = reinterpret_cast<const rtattr*>(RTNH_DATA(hop));
    for (int remaining = static_cast<int>(hop->rtnh_len) - static_cast<int>(RTNH_LENGTH(0));
         RTA_OK(attribute, remaining); attribute = RTA_NEXT(attribute, remaining)) {
      if ((attribute->rta_type & NLA_TYPE_MASK) == RTA_GATEWAY) {
        gateway = {static_cast<const uint8_t*>(RTA_DATA(attribute)), RTA_PAYLOAD(attribute)};
      }
    }
  }
  if (present(gateway)) entry.gateway = ip_of(family, gateway);
  entry.onlink = (next_hop_flags & RTNH_F_ONLINK) != 0;
  return entry;
}

std::optional<KernelRule> parse_rule_message(const nlmsghdr* message, int family) {
  constexpr uint32_t kUnused = 0xffffffff;
  if (message->nlmsg_len < NLMSG_LENGTH(sizeof(fib_rule_hdr))) return std::nullopt;
  const auto* header = static_cast<const fib_rule_hdr*>(NLMSG_DATA(message));
  if (header->family != family || header->action != FR_ACT_TO_TBL) return std::nullopt;
  if (header->dst_len != 0 || header->tos != 0 || (header->flags & FIB_RULE_INVERT) != 0) return std::nullopt;
  const auto attributes = attributes_of<FRA_MAX + 1>(message, sizeof(fib_rule_hdr));
  // The kernel sends each of these only when the rule uses it,
  for (int matcher : {FRA_DST, FRA_IIFNAME, FRA_OIFNAME, FRA_FWMARK, FRA_FWMASK, FRA_FLOW, FRA_TUN_ID, FRA_L3MDEV,
                      FRA_UID_RANGE, FRA_IP_PROTO, FRA_SPORT_RANGE, FRA_DPORT_RANGE, FRA_GOTO}) {
    if (present(attributes[matcher])) return std::nullopt;
  }
  // and these two always, -1 when unused.
  for (int suppressor : {FRA_SUPPRESS_PREFIXLEN, FRA_SUPPRESS_IFGROUP}) {
    if (u32_of(attributes[suppressor], kUnused) != kUnused) return std::nullopt;
  }
  KernelRule entry;
  entry.family = family == AF_INET ? IpFamily::v4 : IpFamily::v6;
  entry.priority = u32_of(attributes[FRA_PRIORITY]);
  entry.table = u32_of(attributes[FRA_TABLE], header->table);
  if (header->src_len > 0) {
    std::optional<IpPrefix> from = prefix_of(family, attributes[FRA_SRC], header->src_len);
    if (!from || !present(attributes[FRA_SRC])) return std::nullopt;
    entry.from = *from;
  }
  // RTPROT_UNSPEC when the kernel predates FRA_PROTOCOL (4.17).
  entry.protocol = attributes[FRA_PROTOCOL].empty() ? RTPROT_UNSPEC : attributes[FRA_PROTOCOL][0];
  return entry;
}

}  // namespace nicsync
