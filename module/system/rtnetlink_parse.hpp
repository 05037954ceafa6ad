// The rtnetlink messages of the kernel's dumps, parsed straight into nicsync's kernel types
// (nicsync/netlink.hpp). Each takes one message whose nlmsg_len bytes are readable (the caller has
// checked it with message_fits) and answers nothing for a message it does not describe: too short, of
// another family, or an object nicsync's types cannot express without changing its meaning.
// Attributes newer than this build's kernel headers are not looked at. Also the text of the kernel's
// error answers (extack_message).

#pragma once

#include <linux/netlink.h>

#include <optional>
#include <string>

#include "nicsync/netlink.hpp"

namespace nicsync {

/// Whether `message` is a whole message within the `remaining` bytes that start with it: NLMSG_OK,
/// without its comparison of an unsigned length with an int.
inline bool message_fits(const nlmsghdr* message, int remaining) {
  return remaining >= static_cast<int>(sizeof(nlmsghdr)) && message->nlmsg_len >= sizeof(nlmsghdr) &&
         message->nlmsg_len <= static_cast<unsigned>(remaining);
}

/// The message after `message`, which fits (NLMSG_NEXT); `remaining` goes down by its aligned
/// length and may go below zero.
inline const nlmsghdr* next_message(const nlmsghdr* message, int& remaining) {
  const auto length = static_cast<int>(NLMSG_ALIGN(message->nlmsg_len));
  remaining -= length;
  return reinterpret_cast<const nlmsghdr*>(reinterpret_cast<const char*>(message) + length);
}

/// The text of an NLMSG_ERROR's extended ack (NLMSGERR_ATTR_MSG, NETLINK_EXT_ACK), without its
/// final full stop; empty when the kernel sent none.
std::string extack_message(const nlmsghdr* message);

/// RTM_NEWLINK: a link with an interface name nicsync accepts and a 6-byte (Ethernet-like) MAC.
std::optional<KernelLink> parse_link_message(const nlmsghdr* message);

/// RTM_NEWADDR of `family` (AF_INET or AF_INET6). The address is IFA_LOCAL, or IFA_ADDRESS when
/// there is no IFA_LOCAL (IPv6); the flags IFA_FLAGS when sent (the 8-bit field cannot hold
/// noprefixroute); a prefix length longer than the family's addresses is refused.
std::optional<KernelAddress> parse_address_message(const nlmsghdr* message, int family);

/// RTM_NEWROUTE of `family`. Left out: the kernel's local and broadcast routes (nicsync's own local
/// routes, protocol kNicsyncProtocol, are read), cached clones, and routes with more than one next
/// hop; a single next hop sent as RTA_MULTIPATH reads as an ordinary route.
std::optional<KernelRoute> parse_route_message(const nlmsghdr* message, int family);

/// RTM_NEWRULE of `family`, if it is a plain "[from X] lookup T": a rule that matches on anything
/// else (a destination, an interface, a mark or mark mask, a TOS, ports, a protocol, UIDs, a
/// tunnel, "not"), suppresses results or does anything but look up a table would read as something
/// it is not, so it is left out.
std::optional<KernelRule> parse_rule_message(const nlmsghdr* message, int family);

}  // namespace nicsync
