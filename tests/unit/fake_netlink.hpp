#pragma once
/// An in-memory Netlink for unit tests: links, IPv4 and IPv6 addresses, routes and rules kept in vectors,
/// every change recorded in `calls`, the kernel's main refusals reproduced with its messages, and
/// failures injectable by call number or by a substring of the call.
///
///   FakeNetlink kernel;
///   int eth1 = kernel.add_link("eth1", "02:86:10:65:fd:31");
///   ... code under test calls kernel.add_address(...), add_route(...) ...
///   CHECK(kernel.calls == std::vector<std::string>{
///       "add_address 10.0.0.226/32 dev eth1 noprefixroute",
///       "add_route 10.0.0.0/24 dev eth1 scope link table 1001", ...});
///
/// Call strings are "<method> <describe(object)>" (see netlink.hpp; apply() records each change under
/// its single method's name), "set_link_up <name>" for links,
/// "add_vlan <describe_vlan(...)>" and "delete_link <name>" for VLAN devices.
/// Error messages read like the real adapter's: "add route <describe>: File exists", with the errno
/// of a missing object's removal and of "File exists" in Error::error_number. A removal that the
/// test wants to find the object gone: take the object out of the kernel_* vectors first.

#include <cerrno>
#include <functional>
#include <algorithm>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "nicsync/netlink.hpp"

namespace nicsync::test {

class FakeNetlink : public Netlink {
 public:
  // --- State: what the "kernel" holds. Tests may read and edit these directly. -----------------

  std::vector<KernelLink> kernel_links;
  std::vector<KernelAddress> kernel_addresses;
  /// Every unicast route and nicsync's local routes; as in the kernel, adding an address without
  /// noprefixroute also puts its prefix route into main (protocol kernel): IPv4 `SUBNET dev IF
  /// scope link` for a prefix shorter than /32, IPv6 `PREFIX dev IF metric 256` for any prefix.
  /// IPv6 routes hold metric 1024 as none, as the real adapter reads them.
  std::vector<KernelRoute> kernel_routes;
  std::vector<KernelRule> kernel_rules;

  /// Every change attempted, in order, failed ones included, e.g.
  /// "add_address 10.0.0.226/32 dev eth1 noprefixroute", "delete_rule from 10.0.0.226 lookup 1001
  /// priority 1001", "set_link_up eth1". Reads are not recorded.
  std::vector<std::string> calls;
  /// Called with each change's call string as it is recorded (before it takes effect), e.g. to
  /// raise a stop request in the middle of an apply.
  std::function<void(const std::string&)> on_call;
  /// The number of changes in each apply() round trip, in order, e.g. {128, 32}.
  std::vector<size_t> batches;

  // --- Setup ------------------------------------------------------------------------------------

  /// Adds a link and returns its ifindex (2, 3, ... in order; 1 is left for lo, which is not listed
  /// because it has no MAC). Throws std::invalid_argument on a bad name or MAC.
  int add_link(std::string_view name, std::string_view mac, bool up = true) {
    auto parsed_name = InterfaceName::parse(name);
    auto parsed_mac = MacAddress::parse(mac);
    if (!parsed_name.ok() || !parsed_mac.ok()) throw std::invalid_argument("FakeNetlink::add_link: bad name or MAC");
    int ifindex = next_ifindex_++;
    kernel_links.push_back(KernelLink{ifindex, *parsed_name, *parsed_mac, up});
    return ifindex;
  }

  // --- Failure injection ------------------------------------------------------------------------

  /// Every change whose call string contains `substring` fails with "<what>: <message>" and changes
  /// nothing (it is still recorded in `calls`). E.g. fail_on("add_route default", "Network is unreachable").
  void fail_on(std::string substring, std::string message = "Operation not permitted") {
    fail_substrings_.emplace_back(std::move(substring), std::move(message));
  }
  /// The `number`th change (1-based, counting every change since construction) fails likewise.
  void fail_call(size_t number, std::string message = "Operation not permitted") {
    fail_numbers_[number] = std::move(message);
  }
  /// The read `what` ("links", "addresses", "routes" or "rules") fails with "read <what>: <message>".
  void fail_read(std::string what, std::string message = "Operation not permitted") {
    fail_reads_[std::move(what)] = std::move(message);
  }

  // --- Netlink ----------------------------------------------------------------------------------

  Result<std::vector<KernelLink>> links() override {
    NICSYNC_TRY(read_check("links"));
    return kernel_links;
  }
  Result<std::vector<KernelAddress>> addresses() override {
    NICSYNC_TRY(read_check("addresses"));
    return kernel_addresses;
  }
  Result<std::vector<KernelRoute>> routes() override {
    NICSYNC_TRY(read_check("routes"));
    return kernel_routes;
  }
  Result<std::vector<KernelRule>> rules() override {
    NICSYNC_TRY(read_check("rules"));
    return kernel_rules;
  }

  Result<void> add_address(const KernelAddress& address) override {
    std::string text = describe(address, kernel_links);
    NICSYNC_TRY(record("add_address", "add address", text));
    if (!find_link(address.ifindex)) return refuse("add address", text, "No such device");
    if (std::find_if(kernel_addresses.begin(), kernel_addresses.end(), [&](const KernelAddress& a) {
          return same_address(a, address);
        }) != kernel_addresses.end()) {
      return refuse("add address", text, "File exists", EEXIST);
    }
    kernel_addresses.push_back(address);
    if (std::optional<KernelRoute> route = prefix_route(address)) {
      if (std::find(kernel_routes.begin(), kernel_routes.end(), *route) == kernel_routes.end()) {
        kernel_routes.push_back(*route);
      }
    }
    return {};
  }

  Result<void> delete_address(const KernelAddress& address) override {
    std::string text = describe(address, kernel_links);
    NICSYNC_TRY(record("delete_address", "delete address", text));
    auto found = std::find_if(kernel_addresses.begin(), kernel_addresses.end(),
                              [&](const KernelAddress& a) { return same_address(a, address); });
    if (found == kernel_addresses.end()) return refuse("delete address", text, "Cannot assign requested address", EADDRNOTAVAIL);
    std::optional<KernelRoute> route = prefix_route(*found);
    kernel_addresses.erase(found);
    if (route && std::none_of(kernel_addresses.begin(), kernel_addresses.end(),
                              [&](const KernelAddress& a) { return prefix_route(a) == route; })) {
      std::erase(kernel_routes, *route);
    }
    return {};
  }

  /// Refuses like the kernel: unknown ifindex ("No such device"), a link that is down ("Network is
  /// down"), a route with the same table, destination and metric ("File exists"), a gateway without
  /// onlink that no link route on that interface (in its table or main) covers ("Network is
  /// unreachable"; an IPv6 link-local gateway is always on the link).
  Result<void> add_route(const KernelRoute& given) override {
    std::string text = describe(given, kernel_links);
    KernelRoute route = normalised(given);
    NICSYNC_TRY(record("add_route", "add route", text));
    const KernelLink* link = find_link(route.ifindex);
    if (link == nullptr) return refuse("add route", text, "No such device");
    if (!link->up) return refuse("add route", text, "Network is down");
    if (std::any_of(kernel_routes.begin(), kernel_routes.end(), [&](const KernelRoute& r) {
          return r.table == route.table && r.destination == route.destination &&
                 r.metric.value_or(0) == route.metric.value_or(0);
        })) {
      return refuse("add route", text, "File exists", EEXIST);
    }
    if (route.gateway && !route.onlink && !gateway_reachable(route)) {
      return refuse("add route", text, "Network is unreachable");
    }
    kernel_routes.push_back(route);
    return {};
  }

  /// Deletes the route equal to `route` in everything but `onlink` (which the kernel ignores when
  /// deleting); "No such process" when there is none.
  Result<void> delete_route(const KernelRoute& given) override {
    std::string text = describe(given, kernel_links);
    KernelRoute route = normalised(given);
    NICSYNC_TRY(record("delete_route", "delete route", text));
    auto found = std::find_if(kernel_routes.begin(), kernel_routes.end(), [&](const KernelRoute& r) {
      KernelRoute same_flag = r;
      same_flag.onlink = route.onlink;
      return same_flag == route;
    });
    if (found == kernel_routes.end()) return refuse("delete route", text, "No such process", ESRCH);
    kernel_routes.erase(found);
    return {};
  }

  /// An equal rule (protocol included, as in the kernel) already there: "File exists".
  Result<void> add_rule(const KernelRule& rule) override {
    std::string text = describe(rule);
    NICSYNC_TRY(record("add_rule", "add rule", text));
    if (std::find(kernel_rules.begin(), kernel_rules.end(), rule) != kernel_rules.end()) {
      return refuse("add rule", text, "File exists", EEXIST);
    }
    kernel_rules.push_back(rule);
    return {};
  }

  Result<void> delete_rule(const KernelRule& rule) override {
    std::string text = describe(rule);
    NICSYNC_TRY(record("delete_rule", "delete rule", text));
    auto found = std::find(kernel_rules.begin(), kernel_rules.end(), rule);
    if (found == kernel_rules.end()) return refuse("delete rule", text, "No such file or directory", ENOENT);
    kernel_rules.erase(found);
    return {};
  }

  /// Like the real adapter: round trips of up to kNetlinkBatchSize changes, each carried out in
  /// full even past a failure, and none after one with a failure. Each change is recorded in
  /// `calls` (and fails) as its single method would; each round trip's size goes to `batches`.
  std::vector<Result<void>> apply(const std::vector<ObjectChange>& changes) override {
    std::vector<Result<void>> results;
    for (size_t start = 0; start < changes.size(); start += kNetlinkBatchSize) {
      const size_t end = std::min(changes.size(), start + kNetlinkBatchSize);
      batches.push_back(end - start);
      bool failed = false;
      for (size_t i = start; i < end; ++i) {
        results.push_back(apply_one(changes[i]));
        failed = failed || !results.back().ok();
      }
      if (failed) break;
    }
    return results;
  }

  Result<void> set_link_up(int ifindex) override {
    KernelLink* link = find_link(ifindex);
    std::string name = link != nullptr ? link->name.str() : "if" + std::to_string(ifindex);
    NICSYNC_TRY(record_call("set_link_up " + name, "set link " + name + " up"));
    if (link == nullptr) return refuse("set link", name + " up", "No such device");
    link->up = true;
    return {};
  }

  /// Makes a new link (down, next ifindex) like the kernel's VLAN driver: "No such device" for an
  /// unknown parent, "File exists" for a name that is taken. fail_on("add_vlan", "Operation not
  /// supported (Unknown device type)") plays a kernel without VLAN support.
  Result<void> add_vlan(const std::string& name, int parent_ifindex, int vlan_id,
                        const MacAddress& mac) override {
    const KernelLink* parent = find_link(parent_ifindex);
    std::string text = describe_vlan(
        name, parent != nullptr ? parent->name.str() : "if" + std::to_string(parent_ifindex), vlan_id, mac);
    NICSYNC_TRY(record("add_vlan", "add vlan", text));
    auto parsed = InterfaceName::parse(name);
    if (!parsed.ok() || vlan_id < 1 || vlan_id > 4094) return refuse("add vlan", text, "Invalid argument");
    if (parent == nullptr) return refuse("add vlan", text, "No such device");
    if (std::any_of(kernel_links.begin(), kernel_links.end(),
                    [&](const KernelLink& l) { return l.name == *parsed; })) {
      return refuse("add vlan", text, "File exists");
    }
    kernel_links.push_back(KernelLink{next_ifindex_++, *parsed, mac, false});
    return {};
  }

  /// Removes the link with its addresses and the routes through it, as the kernel does.
  Result<void> delete_link(int ifindex) override {
    KernelLink* link = find_link(ifindex);
    std::string name = link != nullptr ? link->name.str() : "if" + std::to_string(ifindex);
    NICSYNC_TRY(record_call("delete_link " + name, "delete link " + name));
    if (link == nullptr) return refuse("delete link", name, "No such device");
    std::erase_if(kernel_links, [&](const KernelLink& l) { return l.ifindex == ifindex; });
    std::erase_if(kernel_addresses, [&](const KernelAddress& a) { return a.ifindex == ifindex; });
    std::erase_if(kernel_routes, [&](const KernelRoute& r) { return r.ifindex == ifindex; });
    return {};
  }

 private:
  Result<void> apply_one(const ObjectChange& change) {
    const bool add = change.kind == ChangeKind::add;
    if (const auto* address = std::get_if<KernelAddress>(&change.object)) {
      return add ? add_address(*address) : delete_address(*address);
    }
    if (const auto* route = std::get_if<KernelRoute>(&change.object)) {
      return add ? add_route(*route) : delete_route(*route);
    }
    const KernelRule& rule = std::get<KernelRule>(change.object);
    return add ? add_rule(rule) : delete_rule(rule);
  }

  /// Records `method text` in `calls` and applies injected failures ("<verb> <text>: <message>").
  Result<void> record(const std::string& method, const std::string& verb, const std::string& text) {
    return record_call(method + " " + text, verb + " " + text);
  }
  Result<void> record_call(const std::string& call, const std::string& what) {
    calls.push_back(call);
    if (on_call) on_call(call);
    auto numbered = fail_numbers_.find(calls.size());
    if (numbered != fail_numbers_.end()) return Error{what + ": " + numbered->second};
    for (const auto& [substring, message] : fail_substrings_) {
      if (call.find(substring) != std::string::npos) return Error{what + ": " + message};
    }
    return {};
  }

  Result<void> read_check(const std::string& what) {
    auto found = fail_reads_.find(what);
    if (found != fail_reads_.end()) return Error{"read " + what + ": " + found->second};
    return {};
  }

  /// The kernel's refusal, with its errno where a caller tells refusals apart (already_gone()).
  static Error refuse(const std::string& verb, const std::string& text, const std::string& reason,
                      int error_number = 0) {
    return Error{verb + " " + text + ": " + reason, error_number};
  }

  KernelLink* find_link(int ifindex) {
    auto found = std::find_if(kernel_links.begin(), kernel_links.end(),
                              [&](const KernelLink& link) { return link.ifindex == ifindex; });
    return found == kernel_links.end() ? nullptr : &*found;
  }

  static bool same_address(const KernelAddress& a, const KernelAddress& b) {
    return a.ifindex == b.ifindex && a.address == b.address && a.prefix_length == b.prefix_length;
  }

  /// The route the kernel adds to main for `address`, if any.
  static std::optional<KernelRoute> prefix_route(const KernelAddress& address) {
    const bool v6 = address.address.family() == IpFamily::v6;
    if (address.noprefixroute || (!v6 && address.prefix_length >= 32)) return std::nullopt;
    KernelRoute route;
    route.table = kMainTable;
    route.destination = IpPrefix::containing(address.address, address.prefix_length);
    route.ifindex = address.ifindex;
    if (v6) {
      route.metric = 256;  // IP6_RT_PRIO_ADDRCONF
    } else {
      route.scope = RouteScope::link;
    }
    route.protocol = 2;  // RTPROT_KERNEL
    return route;
  }

  /// `route` as the kernel reads it back: an IPv6 route's metric 1024 is the one it gets without one.
  static KernelRoute normalised(KernelRoute route) {
    if (route.destination.family() == IpFamily::v6 && route.metric == 1024U) route.metric = std::nullopt;
    return route;
  }

  bool gateway_reachable(const KernelRoute& route) const {
    if (route.gateway->is_link_local()) return true;
    return std::any_of(kernel_routes.begin(), kernel_routes.end(), [&](const KernelRoute& r) {
      return !r.gateway && r.ifindex == route.ifindex && (r.table == route.table || r.table == kMainTable) &&
             r.destination.contains(*route.gateway);
    });
  }

  int next_ifindex_ = 2;
  std::vector<std::pair<std::string, std::string>> fail_substrings_;
  std::map<size_t, std::string> fail_numbers_;
  std::map<std::string, std::string> fail_reads_;
};

}  // namespace nicsync::test
