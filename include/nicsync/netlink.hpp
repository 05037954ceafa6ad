#pragma once
/// The running kernel's IPv4 and IPv6 network state behind an interface: the real one speaks
/// rtnetlink through libnl-route-3, the fake (tests) keeps objects in memory and records every call.

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "nicsync/address.hpp"
#include "nicsync/plan.hpp"

namespace nicsync {

/// Route and rule protocol number that marks kernel objects nicsync added (named "nicsync" for
/// iproute2 by config/iproute2/rt_protos.d/nicsync.conf).
inline constexpr uint8_t kNicsyncProtocol = 201;
inline constexpr uint32_t kMainTable = 254;

struct KernelLink {
  int ifindex = 0;
  InterfaceName name;
  MacAddress mac;
  bool up = false;  ///< administratively up (IFF_UP)
};

enum class IpFamily { v4, v6 };

/// An IPv4 or an IPv6 address, as kernel objects of either family hold it. Any Ipv4Address or
/// Ipv6Address converts to one; IPv4 orders before IPv6.
class IpAddress {
 public:
  IpAddress() = default;  ///< 0.0.0.0
  IpAddress(Ipv4Address address) : value_(address) {}         // NOLINT(google-explicit-constructor)
  IpAddress(const Ipv6Address& address) : value_(address) {}  // NOLINT(google-explicit-constructor)
  IpFamily family() const { return value_.index() == 0 ? IpFamily::v4 : IpFamily::v6; }
  int bits() const { return family() == IpFamily::v4 ? 32 : 128; }
  const Ipv4Address* v4() const { return std::get_if<Ipv4Address>(&value_); }
  const Ipv6Address* v6() const { return std::get_if<Ipv6Address>(&value_); }
  /// fe80::/10 (IPv6 only): the form routers' next hops take.
  bool is_link_local() const { return v6() != nullptr && v6()->is_link_local(); }
  std::string str() const;
  auto operator<=>(const IpAddress&) const = default;

 private:
  std::variant<Ipv4Address, Ipv6Address> value_;
};

/// An IPv4 or an IPv6 network (host bits zero); any Ipv4Cidr or Ipv6Cidr converts to one.
class IpPrefix {
 public:
  IpPrefix() = default;  ///< 0.0.0.0/0
  IpPrefix(Ipv4Cidr prefix) : value_(prefix) {}         // NOLINT(google-explicit-constructor)
  IpPrefix(const Ipv6Cidr& prefix) : value_(prefix) {}  // NOLINT(google-explicit-constructor)
  /// The network of `address` with `prefix_length` bits (at most the family's width).
  static IpPrefix containing(const IpAddress& address, int prefix_length);
  IpFamily family() const { return value_.index() == 0 ? IpFamily::v4 : IpFamily::v6; }
  IpAddress network() const;
  int prefix_length() const;
  bool is_default() const { return prefix_length() == 0; }
  /// A single address: /32 or /128.
  bool is_host() const { return prefix_length() == network().bits(); }
  /// False for an address of the other family.
  bool contains(const IpAddress& address) const;
  std::string str() const;
  auto operator<=>(const IpPrefix&) const = default;

 private:
  std::variant<Ipv4Cidr, Ipv6Cidr> value_;
};

struct KernelAddress {
  int ifindex = 0;
  IpAddress address;
  int prefix_length = 32;
  bool noprefixroute = false;  ///< IFA_F_NOPREFIXROUTE: no route for the prefix in main
  /// IFA_F_NODAD (IPv6): usable at once, no duplicate address detection (the cloud assigned it).
  bool nodad = false;
  auto operator<=>(const KernelAddress&) const = default;
};

struct KernelRoute {
  uint32_t table = kMainTable;
  IpPrefix destination;                ///< 0.0.0.0/0 or ::/0 for default; its family is the route's
  std::optional<IpAddress> gateway;    ///< of the destination's family
  int ifindex = 0;
  /// RTA_PRIORITY; empty for what the kernel gives a route added without one (IPv4 0, IPv6 1024).
  std::optional<uint32_t> metric;
  RouteScope scope = RouteScope::global;  ///< IPv4 unicast only (local routes are scope host)
  bool onlink = false;                 ///< RTNH_F_ONLINK
  uint8_t protocol = kNicsyncProtocol;
  RouteType type = RouteType::unicast;
  auto operator<=>(const KernelRoute&) const = default;
};

struct KernelRule {
  uint32_t priority = 0;
  std::optional<IpPrefix> from;        ///< empty: from all
  uint32_t table = 0;
  uint8_t protocol = kNicsyncProtocol;
  IpFamily family = IpFamily::v4;      ///< a `from` is of this family too
  auto operator<=>(const KernelRule&) const = default;
};

/// Whether an ObjectChange adds its object or deletes it.
enum class ChangeKind { add, remove };

/// An address, route or rule to add or delete: what Netlink::apply() takes.
struct ObjectChange {
  ChangeKind kind = ChangeKind::add;
  std::variant<KernelAddress, KernelRoute, KernelRule> object;
};

/// Netlink::apply() sends at most this many changes per round trip to the kernel.
inline constexpr size_t kNetlinkBatchSize = 128;

class Netlink {
 public:
  virtual ~Netlink() = default;
  virtual Result<std::vector<KernelLink>> links() = 0;
  /// Every IPv4 and IPv6 address on every link (IPv4 first).
  virtual Result<std::vector<KernelAddress>> addresses() = 0;
  /// Every IPv4 and IPv6 unicast route in every table, and the local routes nicsync added (its
  /// protocol); the kernel's own local routes (of addresses), broadcast, multicast and anycast
  /// routes are left out.
  virtual Result<std::vector<KernelRoute>> routes() = 0;
  /// Every IPv4 and IPv6 rule.
  virtual Result<std::vector<KernelRule>> rules() = 0;
  /// Each change fails with an Error that names the object and carries the kernel's message,
  /// e.g. `add address 10.0.0.226/32 dev eth1 (noprefixroute): File exists`, and its errno in
  /// Error::error_number (see already_gone()); 0 when no answer came or libnl refused first.
  virtual Result<void> add_address(const KernelAddress& address) = 0;
  virtual Result<void> delete_address(const KernelAddress& address) = 0;
  virtual Result<void> add_route(const KernelRoute& route) = 0;
  virtual Result<void> delete_route(const KernelRoute& route) = 0;
  virtual Result<void> add_rule(const KernelRule& rule) = 0;
  virtual Result<void> delete_rule(const KernelRule& rule) = 0;
  /// Makes `changes` in order, up to kNetlinkBatchSize per round trip: the messages go to the
  /// kernel together, and the kernel carries out each of them even after one of them fails. No
  /// round trip follows one with a failure. Returns one result per change sent (fewer than
  /// changes.size() after a failure), each failing as the single methods above fail. A change the
  /// kernel may have made without its answer arriving fails with "no answer from the kernel".
  virtual std::vector<Result<void>> apply(const std::vector<ObjectChange>& changes) = 0;
  virtual Result<void> set_link_up(int ifindex) = 0;
  /// Creates the 802.1Q VLAN device `name` with tag `vlan_id` on the link `parent_ifindex`, with
  /// `mac` as its address; it starts down. Fails like the others, e.g.
  /// `add vlan ens3f0.1039 link ens3f0 id 1039 address 02:00:17:05:cf:51: Operation not supported
  /// (Unknown device type)` when the kernel has no VLAN support.
  virtual Result<void> add_vlan(const std::string& name, int parent_ifindex, int vlan_id,
                                const MacAddress& mac) = 0;
  /// Deletes a link (with the addresses and routes on it): only for a VLAN nicsync just created.
  virtual Result<void> delete_link(int ifindex) = 0;
};

/// Whether `error`, of a removal, says the kernel does not have the object (any more): ESRCH for a
/// route, ENOENT for a rule, EADDRNOTAVAIL for an address. The kernel flushes objects by itself
/// (the routes through a device whose last IPv4 address goes), so such a removal is done.
inline bool already_gone(const Error& error) {
  return error.error_number == ESRCH || error.error_number == ENOENT || error.error_number == EADDRNOTAVAIL;
}

/// The libnl-route-3 implementation, on the calling thread's network namespace.
/// An Error when no rtnetlink socket can be opened.
Result<std::unique_ptr<Netlink>> make_libnl_netlink();

/// How a kernel object reads in messages and logs, as iproute2 writes it: "10.0.0.0/24 dev eth1
/// scope link table 1001", "local 2600:1f16::/80 dev eth1 table 255", "from 2600::1 lookup 1001
/// priority 1001", "2600::1/128 dev eth1 nodad noprefixroute".
/// `names` maps ifindex to name; unknown indexes print as "if7".
std::string describe(const KernelAddress& address, const std::vector<KernelLink>& names);
std::string describe(const KernelRoute& route, const std::vector<KernelLink>& names);
std::string describe(const KernelRule& rule);
/// How a VLAN device to create reads: "ens3f0.1039 link ens3f0 id 1039 address 02:00:17:05:cf:51".
inline std::string describe_vlan(const std::string& name, const std::string& parent, int vlan_id,
                                 const MacAddress& mac) {
  return name + " link " + parent + " id " + std::to_string(vlan_id) + " address " + mac.str();
}

}  // namespace nicsync
