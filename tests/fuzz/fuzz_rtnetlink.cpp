// The kernel's rtnetlink dump messages, as nicsync's netlink reads take them
// (system/rtnetlink_parse.hpp). The whole input is one datagram, walked message by message as the
// reader walks it; every message goes to every parser, for both families. What a parser accepts
// must be a value of the family asked for whose parts agree (a prefix no longer than its address, a
// gateway and a source of the route's or rule's family) and must describe itself on one line. Every
// message also goes to extack_message, as an error answer would.

#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <sys/socket.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <string>

#include "fuzz_common.hpp"
#include "system/rtnetlink_parse.hpp"

using namespace nicsync;
using nicsync::fuzz::check;

namespace {

IpFamily family_of(int family) { return family == AF_INET ? IpFamily::v4 : IpFamily::v6; }

void check_line(const std::string& text, const char* what) {
  check(!text.empty() && text.find('\n') == std::string::npos, what, text);
}

void message(const nlmsghdr* header) {
  const std::string extack = extack_message(header);
  check(extack.size() < header->nlmsg_len, "an error's text lies within its message", extack);
  if (std::optional<KernelLink> link = parse_link_message(header)) {
    check(InterfaceName::parse(link->name.str()).ok(), "a link's name is an interface name", link->name.str());
  }
  for (int family : {AF_INET, AF_INET6}) {
    if (std::optional<KernelAddress> address = parse_address_message(header, family)) {
      check(address->address.family() == family_of(family), "an address is of the family asked for");
      check(address->prefix_length >= 0 && address->prefix_length <= address->address.bits(),
            "an address's prefix length fits its family", describe(*address, {}));
      check_line(describe(*address, {}), "an address describes itself on one line");
    }
    if (std::optional<KernelRoute> route = parse_route_message(header, family)) {
      check(route->destination.family() == family_of(family), "a route is of the family asked for");
      check(!route->gateway || route->gateway->family() == family_of(family), "a gateway is of the route's family",
            describe(*route, {}));
      check(route->type == RouteType::unicast || route->protocol == kNicsyncProtocol,
            "the only local routes read are nicsync's");
      check_line(describe(*route, {}), "a route describes itself on one line");
    }
    if (std::optional<KernelRule> rule = parse_rule_message(header, family)) {
      check(rule->family == family_of(family), "a rule is of the family asked for");
      check(!rule->from || rule->from->family() == rule->family, "a rule's source is of its family", describe(*rule));
      check_line(describe(*rule), "a rule describes itself on one line");
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // A copy of exactly `size` bytes (ASan sees a read past it), aligned as the reader's buffer is.
  std::unique_ptr<uint8_t[]> datagram(new uint8_t[size]);
  if (size > 0) std::memcpy(datagram.get(), data, size);
  int remaining = static_cast<int>(size);
  for (auto* header = reinterpret_cast<const nlmsghdr*>(datagram.get()); message_fits(header, remaining);
       header = next_message(header, remaining)) {
    message(header);
  }
  return 0;
}
