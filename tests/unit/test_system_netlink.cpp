// The libnl adapter against a real kernel, each case in a fresh network namespace of its own (needs
// root; without it the cases fail), checked both through the adapter and through `ip -j`. The same
// kernel-behaviour scenarios also run against FakeNetlink, so the fake keeps refusing what the kernel
// refuses, with the same messages.

#include <doctest/doctest.h>
#include <fcntl.h>
#include <sched.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <exception>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "fake_netlink.hpp"
#include "nicsync/netlink.hpp"

using namespace nicsync;

namespace {

constexpr const char* kMac = "02:86:10:65:fd:31";

Ipv4Address ip(const char* text) { return *Ipv4Address::parse(text); }
Ipv4Cidr cidr(const char* text) { return *Ipv4Cidr::parse(text); }

bool starts_with(const std::string& text, const std::string& prefix) { return text.rfind(prefix, 0) == 0; }

/// Runs `body` on a new thread that has first moved into a new network namespace (namespaces are
/// per thread, so the test process stays where it was); what `body` throws is rethrown here.
void in_new_netns(const std::function<void()>& body) {
  std::exception_ptr failure;
  std::thread worker([&] {
    try {
      if (unshare(CLONE_NEWNET) != 0) {
        std::string reason = std::strerror(errno);
        FAIL("cannot create a network namespace (these tests need root): unshare(CLONE_NEWNET): " << reason);
      }
      body();
    } catch (...) {
      failure = std::current_exception();
    }
  });
  worker.join();
  if (failure) std::rethrow_exception(failure);
}

std::string ip_program() {
  for (const char* path : {"/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip", "/bin/ip"}) {
    if (access(path, X_OK) == 0) return path;
  }
  FAIL("iproute2's ip is not installed");
  return "";
}

/// Runs `ip args...` from the calling thread, hence in its network namespace (a forked child takes
/// the forking thread's namespaces); returns its standard output. FAILs on a nonzero exit.
std::string run_ip(const std::vector<std::string>& args) {
  std::vector<std::string> argv_strings{ip_program()};
  argv_strings.insert(argv_strings.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (std::string& arg : argv_strings) argv.push_back(arg.data());
  argv.push_back(nullptr);
  int pipe_fds[2];
  REQUIRE(pipe2(pipe_fds, O_CLOEXEC) == 0);
  pid_t child = fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    dup2(pipe_fds[1], STDOUT_FILENO);
    execv(argv[0], argv.data());
    _exit(127);
  }
  close(pipe_fds[1]);
  std::string output;
  char buffer[4096];
  ssize_t got = 0;
  while ((got = read(pipe_fds[0], buffer, sizeof(buffer))) > 0) output.append(buffer, static_cast<size_t>(got));
  close(pipe_fds[0]);
  int status = 0;
  REQUIRE(waitpid(child, &status, 0) == child);
  std::string command = "ip";
  for (const std::string& arg : args) command += " " + arg;
  INFO(command);
  REQUIRE(WIFEXITED(status));
  REQUIRE(WEXITSTATUS(status) == 0);
  return output;
}

nlohmann::json ip_json(const std::vector<std::string>& args) {
  std::vector<std::string> full{"-j"};
  full.insert(full.end(), args.begin(), args.end());
  std::string output = run_ip(full);
  return output.empty() ? nlohmann::json::array() : nlohmann::json::parse(output);
}

/// Creates the veth pair eth1 (MAC kMac) / peer1 and returns eth1's ifindex. Both stay down.
int make_eth1() {
  run_ip({"link", "add", "eth1", "type", "veth", "peer", "name", "peer1"});
  run_ip({"link", "set", "eth1", "address", kMac});
  nlohmann::json links = ip_json({"link", "show", "dev", "eth1"});
  REQUIRE(links.size() == 1);
  return links[0].at("ifindex").get<int>();
}

/// `ip -j -4 addr show dev eth1`'s addr_info: [] when eth1 has no IPv4 address (ip then prints
/// no entry for the link at all).
nlohmann::json ipv4_addresses_of_eth1() {
  nlohmann::json links = ip_json({"-4", "addr", "show", "dev", "eth1"});
  nlohmann::json result = nlohmann::json::array();
  for (const nlohmann::json& link : links) {
    for (const nlohmann::json& entry : link.value("addr_info", nlohmann::json::array())) result.push_back(entry);
  }
  return result;
}

std::unique_ptr<Netlink> open_netlink() {
  auto netlink = make_libnl_netlink();
  REQUIRE_MESSAGE(netlink.ok(), netlink.error().message);
  return std::move(netlink).value();
}

bool is_nicsync_protocol(const nlohmann::json& entry) {
  // "nicsync" once config/iproute2/rt_protos.d/nicsync.conf is installed, the number otherwise.
  std::string protocol = entry.value("protocol", "");
  return protocol == "201" || protocol == "nicsync";
}

template <typename T>
bool contains(const std::vector<T>& items, const T& item) {
  return std::find(items.begin(), items.end(), item) != items.end();
}

// --- The default scheme's objects for eth1 ---------------------------------------------------------

KernelAddress scheme_address(int eth1) { return KernelAddress{eth1, ip("10.0.0.226"), 24, true}; }

KernelRoute link_route(int eth1) {
  KernelRoute route;
  route.table = 1001;
  route.destination = cidr("10.0.0.0/24");
  route.ifindex = eth1;
  route.scope = RouteScope::link;
  return route;
}

KernelRoute table_default(int eth1) {
  KernelRoute route;
  route.table = 1001;
  route.gateway = ip("10.0.0.1");
  route.ifindex = eth1;
  route.onlink = true;
  return route;
}

KernelRoute main_default(int eth1) {
  KernelRoute route = table_default(eth1);
  route.table = kMainTable;
  route.metric = 1001;
  return route;
}

KernelRule scheme_rule() { return KernelRule{1001, cidr("10.0.0.226/32"), 1001, kNicsyncProtocol}; }

// --- Scenarios that hold for the kernel and for FakeNetlink alike ----------------------------------

/// Adds the scheme's objects for eth1 (which must be up), reads them back, and checks that adding
/// any of them again fails with "File exists" naming the object.
void add_scheme_and_read_back(Netlink& netlink, int eth1) {
  REQUIRE_MESSAGE(netlink.add_address(scheme_address(eth1)).ok(), "add address");
  for (const KernelRoute& route : {link_route(eth1), table_default(eth1), main_default(eth1)}) {
    auto added = netlink.add_route(route);
    REQUIRE_MESSAGE(added.ok(), added.error().message);
  }
  auto rule_added = netlink.add_rule(scheme_rule());
  REQUIRE_MESSAGE(rule_added.ok(), rule_added.error().message);

  auto addresses = netlink.addresses();
  REQUIRE(addresses.ok());
  CHECK(contains(*addresses, scheme_address(eth1)));
  auto routes = netlink.routes();
  REQUIRE(routes.ok());
  CHECK(contains(*routes, link_route(eth1)));
  CHECK(contains(*routes, table_default(eth1)));
  CHECK(contains(*routes, main_default(eth1)));
  for (const KernelRoute& route : *routes) {
    // noprefixroute: nothing for 10.0.0.0/24 in main.
    CHECK_FALSE((route.table == kMainTable && route.destination == cidr("10.0.0.0/24")));
  }
  auto rules = netlink.rules();
  REQUIRE(rules.ok());
  CHECK(contains(*rules, scheme_rule()));

  auto again = netlink.add_address(scheme_address(eth1));
  REQUIRE_FALSE(again.ok());
  CHECK(starts_with(again.error().message, "add address 10.0.0.226/24 dev eth1 noprefixroute: File exists"));
  again = netlink.add_route(link_route(eth1));
  REQUIRE_FALSE(again.ok());
  CHECK(starts_with(again.error().message, "add route 10.0.0.0/24 dev eth1 scope link table 1001: File exists"));
  again = netlink.add_route(table_default(eth1));
  REQUIRE_FALSE(again.ok());
  CHECK(starts_with(again.error().message, "add route default via 10.0.0.1 dev eth1 table 1001 onlink: File exists"));
  again = netlink.add_route(main_default(eth1));
  REQUIRE_FALSE(again.ok());
  CHECK(starts_with(again.error().message, "add route default via 10.0.0.1 dev eth1 metric 1001 onlink: File exists"));
  again = netlink.add_rule(scheme_rule());
  REQUIRE_FALSE(again.ok());
  CHECK(starts_with(again.error().message, "add rule from 10.0.0.226 lookup 1001 priority 1001: File exists"));
}

/// Deletes the scheme's objects (rules and routes first), checks they are gone, and that deleting
/// them again fails the kernel's way.
void delete_scheme(Netlink& netlink, int eth1) {
  auto deleted = netlink.delete_rule(scheme_rule());
  CHECK_MESSAGE(deleted.ok(), deleted.error().message);
  for (const KernelRoute& route : {main_default(eth1), table_default(eth1), link_route(eth1)}) {
    deleted = netlink.delete_route(route);
    CHECK_MESSAGE(deleted.ok(), deleted.error().message);
  }
  deleted = netlink.delete_address(scheme_address(eth1));
  CHECK_MESSAGE(deleted.ok(), deleted.error().message);

  CHECK_FALSE(contains(*netlink.addresses(), scheme_address(eth1)));
  auto routes = *netlink.routes();
  CHECK_FALSE(contains(routes, link_route(eth1)));
  CHECK_FALSE(contains(routes, table_default(eth1)));
  CHECK_FALSE(contains(routes, main_default(eth1)));
  CHECK_FALSE(contains(*netlink.rules(), scheme_rule()));

  auto again = netlink.delete_rule(scheme_rule());
  REQUIRE_FALSE(again.ok());
  CHECK(starts_with(again.error().message,
                    "delete rule from 10.0.0.226 lookup 1001 priority 1001: No such file or directory"));
  again = netlink.delete_route(main_default(eth1));
  REQUIRE_FALSE(again.ok());
  CHECK(starts_with(again.error().message,
                    "delete route default via 10.0.0.1 dev eth1 metric 1001 onlink: No such process"));
  again = netlink.delete_address(scheme_address(eth1));
  REQUIRE_FALSE(again.ok());
  CHECK(starts_with(again.error().message,
                    "delete address 10.0.0.226/24 dev eth1 noprefixroute: Cannot assign requested address"));
}

/// Routes the kernel will not install: eth1 must be up and eth1_down a link that is down.
void refused_routes(Netlink& netlink, int eth1, int eth1_down) {
  KernelRoute unreachable = table_default(eth1);
  unreachable.gateway = ip("10.9.0.1");
  unreachable.onlink = false;
  auto result = netlink.add_route(unreachable);
  REQUIRE_FALSE(result.ok());
  CHECK(starts_with(result.error().message, "add route default via 10.9.0.1 dev eth1 table 1001: Network is unreachable"));

  KernelRoute no_device = table_default(eth1);
  no_device.ifindex = 999;
  result = netlink.add_route(no_device);
  REQUIRE_FALSE(result.ok());
  CHECK(starts_with(result.error().message, "add route default via 10.0.0.1 dev if999 table 1001 onlink: No such device"));

  KernelRoute down = link_route(eth1_down);
  result = netlink.add_route(down);
  REQUIRE_FALSE(result.ok());
  CHECK(result.error().message.find("Network is down") != std::string::npos);

  auto link = netlink.set_link_up(999);
  REQUIRE_FALSE(link.ok());
  CHECK(starts_with(link.error().message, "set link if999 up: No such device"));
}

// --- IPv6, prefix rules and local routes ------------------------------------------------------------

Ipv6Address ip6(const char* text) { return *Ipv6Address::parse(text); }

KernelAddress address6(int eth1) { return KernelAddress{eth1, ip6("2600:1f16:292:100::20"), 128, true, true}; }

/// eth1's IPv6 routes and both families' local routes of delegated prefixes, as the live apply adds
/// them (IPv6 without a metric: the kernel's 1024).
std::vector<KernelRoute> routes6(int eth1) {
  auto route = [&](uint32_t table, IpPrefix destination, std::optional<IpAddress> gateway,
                   std::optional<uint32_t> metric, RouteType type) {
    return KernelRoute{table, destination, gateway, eth1, metric, RouteScope::global, false, kNicsyncProtocol, type};
  };
  const IpAddress router = ip6("fe80::1");
  return {route(1001, *Ipv6Cidr::parse("2600:1f16:292:100::/64"), std::nullopt, std::nullopt, RouteType::unicast),
          route(1001, Ipv6Cidr(), router, std::nullopt, RouteType::unicast),
          route(kMainTable, Ipv6Cidr(), router, 1001U, RouteType::unicast),
          route(kLocalTable, *Ipv6Cidr::parse("2600:1f16:292:100:1::/80"), std::nullopt, std::nullopt, RouteType::local),
          route(kLocalTable, cidr("10.0.0.16/28"), std::nullopt, std::nullopt, RouteType::local)};
}

std::vector<KernelRule> rules6() {
  return {KernelRule{1001, *Ipv6Cidr::parse("2600:1f16:292:100::20/128"), 1001, kNicsyncProtocol, IpFamily::v6},
          KernelRule{1001, *Ipv6Cidr::parse("2600:1f16:292:100:1::/80"), 1001, kNicsyncProtocol, IpFamily::v6},
          KernelRule{1001, cidr("10.0.0.16/28"), 1001, kNicsyncProtocol, IpFamily::v4}};
}

/// Adds eth1's IPv6 address, the routes of routes6() and the rules of rules6() (eth1 up), reads
/// them back as they were given, checks that adding them again fails with File exists naming them,
/// and deletes them all.
void ipv6_scheme(Netlink& netlink, int eth1) {
  auto added = netlink.add_address(address6(eth1));
  REQUIRE_MESSAGE(added.ok(), added.error().message);
  for (const KernelRoute& route : routes6(eth1)) {
    added = netlink.add_route(route);
    REQUIRE_MESSAGE(added.ok(), added.error().message);
  }
  for (const KernelRule& rule : rules6()) {
    added = netlink.add_rule(rule);
    REQUIRE_MESSAGE(added.ok(), added.error().message);
  }
  CHECK(contains(*netlink.addresses(), address6(eth1)));
  std::vector<KernelRoute> routes = *netlink.routes();
  for (const KernelRoute& route : routes6(eth1)) CHECK(contains(routes, route));
  for (const KernelRoute& route : routes) {
    // No local route but nicsync's (not the kernel's for 2600:1f16:292:100::20), and no prefix
    // route for the /128 (noprefixroute).
    if (route.type == RouteType::local) CHECK(route.protocol == kNicsyncProtocol);
    CHECK_FALSE(route.destination == IpPrefix(*Ipv6Cidr::parse("2600:1f16:292:100::20/128")));
  }
  std::vector<KernelRule> rules = *netlink.rules();
  for (const KernelRule& rule : rules6()) CHECK(contains(rules, rule));

  auto again = netlink.add_address(address6(eth1));
  REQUIRE_FALSE(again.ok());
  CHECK(starts_with(again.error().message,
                    "add address 2600:1f16:292:100::20/128 dev eth1 nodad noprefixroute: File exists"));
  const std::vector<std::string> route_texts{
      "2600:1f16:292:100::/64 dev eth1 table 1001", "default via fe80::1 dev eth1 table 1001",
      "default via fe80::1 dev eth1 metric 1001", "local 2600:1f16:292:100:1::/80 dev eth1 table 255",
      "local 10.0.0.16/28 dev eth1 table 255"};
  for (size_t i = 0; i < route_texts.size(); ++i) {
    again = netlink.add_route(routes6(eth1)[i]);
    REQUIRE_FALSE(again.ok());
    CHECK(starts_with(again.error().message, "add route " + route_texts[i] + ": File exists"));
  }
  const std::vector<std::string> rule_texts{"from 2600:1f16:292:100::20 lookup 1001 priority 1001",
                                            "from 2600:1f16:292:100:1::/80 lookup 1001 priority 1001",
                                            "from 10.0.0.16/28 lookup 1001 priority 1001"};
  for (size_t i = 0; i < rule_texts.size(); ++i) {
    again = netlink.add_rule(rules6()[i]);
    REQUIRE_FALSE(again.ok());
    CHECK(starts_with(again.error().message, "add rule " + rule_texts[i] + ": File exists"));
  }

  for (const KernelRule& rule : rules6()) {
    auto deleted = netlink.delete_rule(rule);
    CHECK_MESSAGE(deleted.ok(), deleted.error().message);
  }
  for (const KernelRoute& route : routes6(eth1)) {
    auto deleted = netlink.delete_route(route);
    CHECK_MESSAGE(deleted.ok(), deleted.error().message);
  }
  auto deleted = netlink.delete_address(address6(eth1));
  CHECK_MESSAGE(deleted.ok(), deleted.error().message);
  CHECK_FALSE(contains(*netlink.addresses(), address6(eth1)));
  routes = *netlink.routes();
  for (const KernelRoute& route : routes6(eth1)) CHECK_FALSE(contains(routes, route));
  rules = *netlink.rules();
  for (const KernelRule& rule : rules6()) CHECK_FALSE(contains(rules, rule));
}

// --- Batches --------------------------------------------------------------------------------------

/// The `n`th of the batch scenario's addresses: 10.1.0.1, 10.1.0.2, ...
KernelAddress batch_address(int eth1, int n) {
  return KernelAddress{eth1, Ipv4Address::from_uint(0x0a010001U + static_cast<uint32_t>(n)), 32, true};
}

size_t addresses_on(Netlink& netlink, int ifindex) {
  auto addresses = netlink.addresses();
  REQUIRE_MESSAGE(addresses.ok(), addresses.error().message);
  return static_cast<size_t>(std::count_if(addresses->begin(), addresses->end(),
                                           [&](const KernelAddress& a) { return a.ifindex == ifindex; }));
}

/// apply() (eth1 up): 300 addresses in three round trips; a refused change in the middle of a
/// batch, with the changes before and after it made all the same; a failure in a first round trip,
/// after which no other is sent.
void batched_changes(Netlink& netlink, int eth1) {
  std::vector<ObjectChange> adds;
  for (int n = 0; n < 300; ++n) adds.push_back({ChangeKind::add, batch_address(eth1, n)});
  std::vector<Result<void>> results = netlink.apply(adds);
  REQUIRE(results.size() == 300);
  for (const Result<void>& result : results) REQUIRE_MESSAGE(result.ok(), result.error().message);
  CHECK(addresses_on(netlink, eth1) == 300);

  results = netlink.apply({{ChangeKind::add, scheme_rule()},
                           {ChangeKind::add, batch_address(eth1, 5)},
                           {ChangeKind::add, link_route(eth1)}});
  REQUIRE(results.size() == 3);
  CHECK(results[0].ok());
  REQUIRE_FALSE(results[1].ok());
  CHECK(starts_with(results[1].error().message, "add address 10.1.0.6/32 dev eth1 noprefixroute: File exists"));
  CHECK(results[2].ok());
  CHECK(contains(*netlink.rules(), scheme_rule()));
  CHECK(contains(*netlink.routes(), link_route(eth1)));

  std::vector<ObjectChange> removes{{ChangeKind::remove, KernelAddress{eth1, ip("10.9.9.9"), 32, true}}};
  for (int n = 0; n < 300; ++n) removes.push_back({ChangeKind::remove, batch_address(eth1, n)});
  results = netlink.apply(removes);
  REQUIRE(results.size() == kNetlinkBatchSize);
  REQUIRE_FALSE(results[0].ok());
  CHECK(starts_with(results[0].error().message,
                    "delete address 10.9.9.9/32 dev eth1 noprefixroute: Cannot assign requested address"));
  CHECK(already_gone(results[0].error()));  // the kernel's EADDRNOTAVAIL
  for (size_t i = 1; i < results.size(); ++i) CHECK_MESSAGE(results[i].ok(), results[i].error().message);
  CHECK(addresses_on(netlink, eth1) == 300 - (kNetlinkBatchSize - 1));

  // The route first: the kernel flushes a link's routes with its last IPv4 address.
  removes.erase(removes.begin(), removes.begin() + kNetlinkBatchSize);
  removes.insert(removes.begin(), {{ChangeKind::remove, scheme_rule()}, {ChangeKind::remove, link_route(eth1)}});
  results = netlink.apply(removes);
  REQUIRE(results.size() == removes.size());
  for (const Result<void>& result : results) CHECK_MESSAGE(result.ok(), result.error().message);
  CHECK(addresses_on(netlink, eth1) == 0);
  CHECK_FALSE(contains(*netlink.rules(), scheme_rule()));
  CHECK_FALSE(contains(*netlink.routes(), link_route(eth1)));

  // Removing them again: the kernel answers ESRCH for the route, ENOENT for the rule (each its
  // own round trip, as none follows a failure), which already_gone() tells from other refusals.
  results = netlink.apply({{ChangeKind::remove, link_route(eth1)}});
  REQUIRE(results.size() == 1);
  REQUIRE_FALSE(results[0].ok());
  CHECK(results[0].error().error_number == ESRCH);
  CHECK(already_gone(results[0].error()));
  results = netlink.apply({{ChangeKind::remove, scheme_rule()}});
  REQUIRE(results.size() == 1);
  REQUIRE_FALSE(results[0].ok());
  CHECK(results[0].error().error_number == ENOENT);
  CHECK(already_gone(results[0].error()));
  // "File exists" is no such thing.
  results = netlink.apply({{ChangeKind::add, batch_address(eth1, 0)}, {ChangeKind::add, batch_address(eth1, 0)}});
  REQUIRE(results.size() == 2);
  REQUIRE_FALSE(results[1].ok());
  CHECK(results[1].error().error_number == EEXIST);
  CHECK_FALSE(already_gone(results[1].error()));
  REQUIRE(netlink.apply({{ChangeKind::remove, batch_address(eth1, 0)}}).front().ok());
}

}  // namespace

TEST_SUITE("system::LibnlNetlink") {
  TEST_CASE("reads links with their ifindex, name, MAC and up state") {
    in_new_netns([] {
      int eth1 = make_eth1();
      auto netlink = open_netlink();
      auto links = netlink->links();
      REQUIRE_MESSAGE(links.ok(), links.error().message);
      auto found = std::find_if(links->begin(), links->end(), [](const KernelLink& l) { return l.name.str() == "eth1"; });
      REQUIRE(found != links->end());
      CHECK(found->ifindex == eth1);
      CHECK(found->mac == *MacAddress::parse(kMac));
      CHECK_FALSE(found->up);
      CHECK(std::any_of(links->begin(), links->end(), [](const KernelLink& l) { return l.name.str() == "peer1"; }));
    });
  }

  TEST_CASE("sets a link up") {
    in_new_netns([] {
      int eth1 = make_eth1();
      auto netlink = open_netlink();
      auto result = netlink->set_link_up(eth1);
      REQUIRE_MESSAGE(result.ok(), result.error().message);
      nlohmann::json flags = ip_json({"link", "show", "dev", "eth1"})[0].at("flags");
      CHECK(std::find(flags.begin(), flags.end(), "UP") != flags.end());
      auto links = *netlink->links();
      auto found = std::find_if(links.begin(), links.end(), [&](const KernelLink& l) { return l.ifindex == eth1; });
      REQUIRE(found != links.end());
      CHECK(found->up);
      CHECK(netlink->set_link_up(eth1).ok());  // already up: nothing to do, no error
    });
  }

  TEST_CASE("adds an address with noprefixroute: the kernel keeps the flag and main gets no prefix route") {
    in_new_netns([] {
      int eth1 = make_eth1();
      auto netlink = open_netlink();
      REQUIRE(netlink->set_link_up(eth1).ok());
      auto added = netlink->add_address(KernelAddress{eth1, ip("10.0.0.226"), 24, true});
      REQUIRE_MESSAGE(added.ok(), added.error().message);

      nlohmann::json info = ipv4_addresses_of_eth1();
      REQUIRE(info.size() == 1);
      CHECK(info[0].at("local") == "10.0.0.226");
      CHECK(info[0].at("prefixlen") == 24);
      CHECK(info[0].value("noprefixroute", false));
      CHECK(ip_json({"-4", "route", "show", "table", "main"}).empty());

      auto addresses = netlink->addresses();
      REQUIRE_MESSAGE(addresses.ok(), addresses.error().message);
      CHECK(*addresses == std::vector<KernelAddress>{KernelAddress{eth1, ip("10.0.0.226"), 24, true}});
    });
  }

  TEST_CASE("reads an address without noprefixroute and the prefix route the kernel adds for it") {
    in_new_netns([] {
      int eth1 = make_eth1();
      auto netlink = open_netlink();
      REQUIRE(netlink->set_link_up(eth1).ok());
      REQUIRE(netlink->add_address(KernelAddress{eth1, ip("10.1.0.5"), 24, false}).ok());

      nlohmann::json info = ipv4_addresses_of_eth1();
      REQUIRE(info.size() == 1);
      CHECK_FALSE(info[0].value("noprefixroute", false));
      CHECK(*netlink->addresses() == std::vector<KernelAddress>{KernelAddress{eth1, ip("10.1.0.5"), 24, false}});
      // Only the main prefix route: the local and broadcast routes in table local are left out.
      KernelRoute prefix;
      prefix.destination = cidr("10.1.0.0/24");
      prefix.ifindex = eth1;
      prefix.scope = RouteScope::link;
      prefix.protocol = 2;  // RTPROT_KERNEL
      CHECK(*netlink->routes() == std::vector<KernelRoute>{prefix});
    });
  }

  TEST_CASE("adds the default scheme's routes with protocol, scope, metric and onlink") {
    in_new_netns([] {
      int eth1 = make_eth1();
      auto netlink = open_netlink();
      REQUIRE(netlink->set_link_up(eth1).ok());
      // With no IPv4 address in the namespace at all, the kernel finds no local table to check an
      // onlink gateway against and refuses it (EINVAL "Nexthop has invalid gateway").
      REQUIRE(netlink->add_address(scheme_address(eth1)).ok());
      for (const KernelRoute& route : {link_route(eth1), table_default(eth1), main_default(eth1)}) {
        auto added = netlink->add_route(route);
        REQUIRE_MESSAGE(added.ok(), added.error().message);
      }

      nlohmann::json table = ip_json({"-4", "route", "show", "table", "1001"});
      REQUIRE(table.size() == 2);
      for (const nlohmann::json& entry : table) {
        INFO(entry.dump());
        CHECK(entry.at("dev") == "eth1");
        CHECK(is_nicsync_protocol(entry));
        CHECK_FALSE(entry.contains("metric"));
        nlohmann::json flags = entry.value("flags", nlohmann::json::array());
        bool onlink = std::find(flags.begin(), flags.end(), "onlink") != flags.end();
        if (entry.at("dst") == "default") {
          CHECK(entry.at("gateway") == "10.0.0.1");
          CHECK(onlink);
        } else {
          CHECK(entry.at("dst") == "10.0.0.0/24");
          CHECK(entry.at("scope") == "link");
          CHECK_FALSE(onlink);
        }
      }
      nlohmann::json main = ip_json({"-4", "route", "show", "table", "main"});
      REQUIRE(main.size() == 1);
      INFO(main.dump());
      CHECK(main[0].at("dst") == "default");
      CHECK(main[0].at("gateway") == "10.0.0.1");
      CHECK(main[0].at("metric") == 1001);
      CHECK(is_nicsync_protocol(main[0]));
      nlohmann::json flags = main[0].at("flags");
      CHECK(std::find(flags.begin(), flags.end(), "onlink") != flags.end());

      // A route with two next hops is left out (KernelRoute has one); one written with a single
      // `nexthop` is an ordinary route to the kernel and reads as one.
      run_ip({"route", "add", "10.20.0.0/16", "table", "1001", "nexthop", "via", "10.0.0.1", "dev", "eth1", "nexthop",
              "via", "10.0.0.2", "dev", "eth1"});
      run_ip({"route", "add", "10.21.0.0/16", "table", "1001", "proto", "201", "nexthop", "via", "10.0.0.3", "dev",
              "eth1", "onlink"});
      KernelRoute single;
      single.table = 1001;
      single.destination = cidr("10.21.0.0/16");
      single.ifindex = eth1;
      single.gateway = ip("10.0.0.3");
      single.onlink = true;

      auto routes = netlink->routes();
      REQUIRE_MESSAGE(routes.ok(), routes.error().message);
      std::vector<KernelRoute> sorted = *routes;
      std::sort(sorted.begin(), sorted.end());
      std::vector<KernelRoute> expected{link_route(eth1), table_default(eth1), main_default(eth1), single};
      std::sort(expected.begin(), expected.end());
      CHECK(sorted == expected);
    });
  }

  TEST_CASE("adds a rule with its protocol and reads every rule back, IPv4 first") {
    in_new_netns([] {
      auto netlink = open_netlink();
      auto added = netlink->add_rule(scheme_rule());
      REQUIRE_MESSAGE(added.ok(), added.error().message);
      KernelRule subnet{1002, cidr("10.0.1.0/24"), 1002, kNicsyncProtocol};
      REQUIRE(netlink->add_rule(subnet).ok());
      // Rules KernelRule cannot express (they match on more, or do more, than "from X lookup T")
      // are left out of rules(), whatever the rest of them says.
      const std::vector<std::vector<std::string>> inexpressible{
          {"from", "10.0.2.1", "fwmark", "7"},
          {"from", "10.0.2.2", "fwmark", "0/0xff"},  // only unmarked packets
          {"not", "from", "10.0.2.3"},
          {"from", "10.0.2.4", "to", "10.9.0.0/16"},
          {"from", "10.0.2.5", "iif", "lo"},
          {"from", "10.0.2.6", "oif", "lo"},
          {"from", "10.0.2.7", "tos", "0x10"},
          {"from", "10.0.2.8", "uidrange", "100-200"},
          {"from", "10.0.2.9", "ipproto", "tcp", "dport", "80"},
          {"from", "10.0.2.10", "ipproto", "udp", "sport", "53"},
          {"from", "10.0.2.11", "suppress_prefixlength", "0"},
          {"from", "10.0.2.12", "suppress_ifgroup", "5"},
          {"from", "10.0.2.13", "realms", "3"},
      };
      uint32_t priority = 1003;
      for (const std::vector<std::string>& selector : inexpressible) {
        std::vector<std::string> args{"rule", "add"};
        args.insert(args.end(), selector.begin(), selector.end());
        for (std::string word : {"lookup", "1003", "priority"}) args.push_back(word);
        args.push_back(std::to_string(priority++));
        run_ip(args);
      }
      run_ip({"rule", "add", "from", "10.0.2.20", "goto", "32766", "priority", std::to_string(priority++)});
      run_ip({"rule", "add", "from", "10.0.2.21", "unreachable", "priority", std::to_string(priority++)});
      REQUIRE(ip_json({"-4", "rule", "show"}).size() == 5 + inexpressible.size() + 2);

      nlohmann::json rules = ip_json({"-4", "rule", "show"});
      auto ours = std::find_if(rules.begin(), rules.end(), [](const nlohmann::json& r) { return r.at("priority") == 1001; });
      REQUIRE(ours != rules.end());
      INFO(ours->dump());
      CHECK(ours->at("src") == "10.0.0.226");
      CHECK(ours->value("srclen", 32) == 32);
      CHECK(ours->at("table") == "1001");
      CHECK(is_nicsync_protocol(*ours));

      auto read = netlink->rules();
      REQUIRE_MESSAGE(read.ok(), read.error().message);
      std::vector<KernelRule> expected{
          KernelRule{0, std::nullopt, 255, 2},  // from all lookup local, protocol kernel
          scheme_rule(),
          subnet,
          KernelRule{32766, std::nullopt, kMainTable, 2},
          KernelRule{32767, std::nullopt, 253, 2},
          // Then IPv6's: local and main.
          KernelRule{0, std::nullopt, 255, 2, IpFamily::v6},
          KernelRule{32766, std::nullopt, kMainTable, 2, IpFamily::v6},
      };
      CHECK(*read == expected);
    });
  }

  TEST_CASE("IPv6 addresses, routes and rules, prefix rules and local routes of both families") {
    in_new_netns([] {
      int eth1 = make_eth1();
      run_ip({"link", "set", "peer1", "up"});  // a carrier, so that IPv6 starts on eth1 as in a cloud
      auto netlink = open_netlink();
      REQUIRE(netlink->set_link_up(eth1).ok());
      // An IPv4 address in the namespace, or IPv4 finds no local table for the local route's check.
      REQUIRE(netlink->add_address(scheme_address(eth1)).ok());
      ipv6_scheme(*netlink, eth1);
    });
  }

  TEST_CASE("as iproute2 shows them: /128 nodad (not tentative), metric 1024, local routes, prefix rules") {
    in_new_netns([] {
      int eth1 = make_eth1();
      run_ip({"link", "set", "peer1", "up"});
      auto netlink = open_netlink();
      REQUIRE(netlink->set_link_up(eth1).ok());
      REQUIRE(netlink->add_address(scheme_address(eth1)).ok());
      REQUIRE(netlink->add_address(address6(eth1)).ok());
      for (const KernelRoute& route : routes6(eth1)) REQUIRE(netlink->add_route(route).ok());
      for (const KernelRule& rule : rules6()) REQUIRE(netlink->add_rule(rule).ok());

      nlohmann::json info = nlohmann::json::array();
      nlohmann::json shown = ip_json({"-6", "addr", "show", "dev", "eth1"});
      INFO(shown.dump());
      for (const nlohmann::json& entry : shown.at(0).at("addr_info")) {
        if (entry.at("scope") == "global") info.push_back(entry);  // not the link-local address
      }
      REQUIRE(info.size() == 1);
      INFO(info.dump());
      CHECK(info[0].at("local") == "2600:1f16:292:100::20");
      CHECK(info[0].at("prefixlen") == 128);
      CHECK(info[0].value("nodad", false));
      CHECK(info[0].value("noprefixroute", false));
      CHECK_FALSE(info[0].value("tentative", false));

      nlohmann::json table = ip_json({"-6", "route", "show", "table", "1001"});
      REQUIRE(table.size() == 2);
      for (const nlohmann::json& entry : table) {
        INFO(entry.dump());
        CHECK(entry.at("metric") == 1024);
        CHECK(entry.at("dev") == "eth1");
        CHECK(is_nicsync_protocol(entry));
      }
      CHECK(table[0].at("dst") == "2600:1f16:292:100::/64");
      CHECK(table[1].at("dst") == "default");
      CHECK(table[1].at("gateway") == "fe80::1");
      nlohmann::json local6 = ip_json({"-6", "route", "show", "table", "local", "type", "local", "proto", "201"});
      REQUIRE(local6.size() == 1);
      CHECK(local6[0].at("dst") == "2600:1f16:292:100:1::/80");
      nlohmann::json local4 = ip_json({"-4", "route", "show", "table", "local", "type", "local", "proto", "201"});
      REQUIRE(local4.size() == 1);
      CHECK(local4[0].at("dst") == "10.0.0.16/28");
      CHECK(local4[0].at("scope") == "host");

      nlohmann::json rules = ip_json({"-6", "rule", "show", "priority", "1001"});
      REQUIRE(rules.size() == 2);
      CHECK(rules[0].at("src") == "2600:1f16:292:100::20");
      CHECK(rules[0].value("srclen", 128) == 128);
      CHECK(rules[1].at("src") == "2600:1f16:292:100:1::");
      CHECK(rules[1].at("srclen") == 80);
      nlohmann::json rules4 = ip_json({"-4", "rule", "show", "priority", "1001"});
      REQUIRE(rules4.size() == 1);
      CHECK(rules4[0].at("src") == "10.0.0.16");
      CHECK(rules4[0].at("srclen") == 28);
    });
  }

  TEST_CASE("adding what exists fails with File exists; deleting removes, and deleting again fails") {
    in_new_netns([] {
      int eth1 = make_eth1();
      auto netlink = open_netlink();
      REQUIRE(netlink->set_link_up(eth1).ok());
      add_scheme_and_read_back(*netlink, eth1);
      delete_scheme(*netlink, eth1);
      CHECK(ip_json({"-4", "route", "show", "table", "all", "type", "unicast"}).empty());
      nlohmann::json rules = ip_json({"-4", "rule", "show"});
      CHECK(std::none_of(rules.begin(), rules.end(), [](const nlohmann::json& r) { return r.at("priority") == 1001; }));
      CHECK(ipv4_addresses_of_eth1().empty());
    });
  }

  TEST_CASE("errors carry the kernel's reason and name the object") {
    in_new_netns([] {
      int eth1 = make_eth1();
      run_ip({"link", "add", "eth2", "type", "veth", "peer", "name", "peer2"});
      int eth2 = ip_json({"link", "show", "dev", "eth2"})[0].at("ifindex").get<int>();
      auto netlink = open_netlink();
      REQUIRE(netlink->set_link_up(eth1).ok());
      refused_routes(*netlink, eth1, eth2);
    });
  }

  TEST_CASE("an error carries the kernel's extended-ack text after its errno text") {
    in_new_netns([] {
      int eth1 = make_eth1();
      auto netlink = open_netlink();
      REQUIRE(netlink->set_link_up(eth1).ok());
      KernelRoute unreachable = table_default(eth1);
      unreachable.gateway = ip("10.9.0.1");
      unreachable.onlink = false;
      auto result = netlink->add_route(unreachable);
      REQUIRE_FALSE(result.ok());
      CHECK(result.error().message ==
            "add route default via 10.9.0.1 dev eth1 table 1001: Network is unreachable (Nexthop has invalid gateway)");
      // The same socket then reads and changes as before.
      CHECK(netlink->add_address(scheme_address(eth1)).ok());
      CHECK(ipv4_addresses_of_eth1().size() == 1);
    });
  }

  TEST_CASE("adds a VLAN with its tag and MAC, or fails naming it without kernel VLAN support") {
    in_new_netns([] {
      int eth1 = make_eth1();
      auto netlink = open_netlink();
      const MacAddress mac = *MacAddress::parse("02:00:17:05:cf:51");
      auto added = netlink->add_vlan("eth1.1039", eth1, 1039, mac);
      if (!added.ok()) {
        // Without the 8021q module (as on the machine these tests were written on) the kernel
        // answers EOPNOTSUPP, "Unknown device type".
        INFO(added.error().message);
        CHECK(starts_with(added.error().message,
                          "add vlan eth1.1039 link eth1 id 1039 address 02:00:17:05:cf:51: "));
        CHECK((added.error().message.find("Operation not supported") != std::string::npos ||
               added.error().message.find("Unknown device type") != std::string::npos));
        CHECK(ip_json({"link", "show"}).size() == 3);  // lo, eth1, peer1: nothing made
        return;
      }
      nlohmann::json link = ip_json({"-d", "link", "show", "dev", "eth1.1039"}).at(0);
      CHECK(link.at("address") == "02:00:17:05:cf:51");
      CHECK(link.at("link") == "eth1");
      CHECK(link.at("linkinfo").at("info_kind") == "vlan");
      CHECK(link.at("linkinfo").at("info_data").at("id") == 1039);
      auto again = netlink->add_vlan("eth1.1039", eth1, 1039, mac);
      REQUIRE_FALSE(again.ok());
      CHECK(starts_with(again.error().message,
                        "add vlan eth1.1039 link eth1 id 1039 address 02:00:17:05:cf:51: File exists"));
      auto deleted = netlink->delete_link(link.at("ifindex").get<int>());
      REQUIRE_MESSAGE(deleted.ok(), deleted.error().message);
      CHECK(ip_json({"link", "show"}).size() == 3);
    });
  }

  TEST_CASE("applies changes in batches: all answered, a refusal in a batch names its object, none after it") {
    in_new_netns([] {
      int eth1 = make_eth1();
      auto netlink = open_netlink();
      REQUIRE(netlink->set_link_up(eth1).ok());
      batched_changes(*netlink, eth1);
      CHECK(ipv4_addresses_of_eth1().empty());
      // The socket stays usable for single changes and reads after batches.
      REQUIRE(netlink->add_address(scheme_address(eth1)).ok());
      CHECK(ipv4_addresses_of_eth1().size() == 1);
    });
  }

  TEST_CASE("deleting a link that is not there names it and the kernel's reason") {
    in_new_netns([] {
      auto netlink = open_netlink();
      auto deleted = netlink->delete_link(999);
      REQUIRE_FALSE(deleted.ok());
      CHECK(starts_with(deleted.error().message, "delete link if999: No such device"));
    });
  }

  TEST_CASE("an adapter works in the network namespace of the thread that opened it") {
    in_new_netns([] {
      make_eth1();
      auto here = open_netlink();
      bool other_sees_eth1 = true;
      in_new_netns([&] {
        auto other = open_netlink();
        auto links = *other->links();
        other_sees_eth1 = std::any_of(links.begin(), links.end(), [](const KernelLink& l) { return l.name.str() == "eth1"; });
      });
      CHECK_FALSE(other_sees_eth1);
      auto links = *here->links();
      CHECK(std::any_of(links.begin(), links.end(), [](const KernelLink& l) { return l.name.str() == "eth1"; }));
    });
  }
}

TEST_SUITE("test::FakeNetlink") {
  TEST_CASE("behaves like the kernel for the default scheme's objects") {
    test::FakeNetlink kernel;
    int eth1 = kernel.add_link("eth1", kMac);
    add_scheme_and_read_back(kernel, eth1);
    delete_scheme(kernel, eth1);
  }

  TEST_CASE("behaves like the kernel for IPv6, prefix rules and local routes") {
    test::FakeNetlink kernel;
    int eth1 = kernel.add_link("eth1", kMac);
    ipv6_scheme(kernel, eth1);
  }

  TEST_CASE("refuses the routes the kernel refuses") {
    test::FakeNetlink kernel;
    int eth1 = kernel.add_link("eth1", kMac);
    int eth2 = kernel.add_link("eth2", "02:86:10:65:fd:32", false);
    refused_routes(kernel, eth1, eth2);
  }

  TEST_CASE("applies changes in batches as the kernel does") {
    test::FakeNetlink kernel;
    int eth1 = kernel.add_link("eth1", kMac);
    batched_changes(kernel, eth1);
    // ... then the removals of what is gone, one each, and an address added twice and removed.
    CHECK(kernel.batches == std::vector<size_t>{128, 128, 44, 3, 128, 128, 47, 1, 1, 2, 1});
    CHECK(kernel.calls.size() == 300 + 3 + 128 + 175 + 5);
    CHECK(kernel.calls[301] == "add_address 10.1.0.6/32 dev eth1 noprefixroute");
  }

  TEST_CASE("records every change in order, failed ones included") {
    test::FakeNetlink kernel;
    int eth1 = kernel.add_link("eth1", kMac, false);
    CHECK(kernel.set_link_up(eth1).ok());
    CHECK(kernel.add_address(KernelAddress{eth1, ip("10.0.0.226"), 32, true}).ok());
    CHECK(kernel.add_route(link_route(eth1)).ok());
    CHECK_FALSE(kernel.add_route(link_route(eth1)).ok());
    CHECK(kernel.add_rule(scheme_rule()).ok());
    CHECK(kernel.calls == std::vector<std::string>{
                              "set_link_up eth1",
                              "add_address 10.0.0.226/32 dev eth1 noprefixroute",
                              "add_route 10.0.0.0/24 dev eth1 scope link table 1001",
                              "add_route 10.0.0.0/24 dev eth1 scope link table 1001",
                              "add_rule from 10.0.0.226 lookup 1001 priority 1001",
                          });
  }

  TEST_CASE("an address without noprefixroute brings its prefix route into main, and takes it away") {
    test::FakeNetlink kernel;
    int eth1 = kernel.add_link("eth1", kMac);
    REQUIRE(kernel.add_address(KernelAddress{eth1, ip("10.1.0.5"), 24, false}).ok());
    REQUIRE(kernel.kernel_routes.size() == 1);
    CHECK(kernel.kernel_routes[0].destination == cidr("10.1.0.0/24"));
    CHECK(kernel.kernel_routes[0].protocol == 2);
    REQUIRE(kernel.delete_address(KernelAddress{eth1, ip("10.1.0.5"), 24, false}).ok());
    CHECK(kernel.kernel_routes.empty());
  }

  TEST_CASE("makes a VLAN as a new link, down; refuses as the kernel does; deletes it with its objects") {
    test::FakeNetlink kernel;
    int eth1 = kernel.add_link("eth1", kMac);
    const MacAddress mac = *MacAddress::parse("02:00:17:05:cf:51");
    REQUIRE(kernel.add_vlan("eth1.1039", eth1, 1039, mac).ok());
    REQUIRE(kernel.kernel_links.size() == 2);
    const KernelLink vlan = kernel.kernel_links[1];
    CHECK(vlan.name.str() == "eth1.1039");
    CHECK(vlan.mac == mac);
    CHECK_FALSE(vlan.up);
    CHECK(vlan.ifindex != eth1);

    auto again = kernel.add_vlan("eth1.1039", eth1, 1039, mac);
    REQUIRE_FALSE(again.ok());
    CHECK(again.error().message ==
          "add vlan eth1.1039 link eth1 id 1039 address 02:00:17:05:cf:51: File exists");
    auto orphan = kernel.add_vlan("eth9.5", 999, 5, mac);
    REQUIRE_FALSE(orphan.ok());
    CHECK(orphan.error().message ==
          "add vlan eth9.5 link if999 id 5 address 02:00:17:05:cf:51: No such device");

    REQUIRE(kernel.set_link_up(vlan.ifindex).ok());
    REQUIRE(kernel.add_address(KernelAddress{vlan.ifindex, ip("10.0.4.5"), 24, true}).ok());
    REQUIRE(kernel.add_route(link_route(vlan.ifindex)).ok());
    REQUIRE(kernel.delete_link(vlan.ifindex).ok());
    CHECK(kernel.kernel_links.size() == 1);
    CHECK(kernel.kernel_addresses.empty());
    CHECK(kernel.kernel_routes.empty());
    auto gone = kernel.delete_link(vlan.ifindex);
    REQUIRE_FALSE(gone.ok());
    CHECK(gone.error().message == "delete link if" + std::to_string(vlan.ifindex) + ": No such device");
    CHECK(kernel.calls == std::vector<std::string>{
                              "add_vlan eth1.1039 link eth1 id 1039 address 02:00:17:05:cf:51",
                              "add_vlan eth1.1039 link eth1 id 1039 address 02:00:17:05:cf:51",
                              "add_vlan eth9.5 link if999 id 5 address 02:00:17:05:cf:51",
                              "set_link_up eth1.1039",
                              "add_address 10.0.4.5/24 dev eth1.1039 noprefixroute",
                              "add_route 10.0.0.0/24 dev eth1.1039 scope link table 1001",
                              "delete_link eth1.1039",
                              "delete_link if" + std::to_string(vlan.ifindex),
                          });
  }

  TEST_CASE("fails the calls it is told to fail, changing nothing") {
    test::FakeNetlink kernel;
    int eth1 = kernel.add_link("eth1", kMac);
    kernel.fail_on("add_route default", "Network is unreachable");
    kernel.fail_call(1, "Operation not permitted");
    kernel.fail_read("rules", "Permission denied");

    auto first = kernel.add_address(scheme_address(eth1));
    REQUIRE_FALSE(first.ok());
    CHECK(first.error().message == "add address 10.0.0.226/24 dev eth1 noprefixroute: Operation not permitted");
    CHECK(kernel.kernel_addresses.empty());

    CHECK(kernel.add_route(link_route(eth1)).ok());
    auto matched = kernel.add_route(table_default(eth1));
    REQUIRE_FALSE(matched.ok());
    CHECK(matched.error().message == "add route default via 10.0.0.1 dev eth1 table 1001 onlink: Network is unreachable");
    CHECK(kernel.kernel_routes.size() == 1);

    auto rules = kernel.rules();
    REQUIRE_FALSE(rules.ok());
    CHECK(rules.error().message == "read rules: Permission denied");
    CHECK(kernel.calls.size() == 3);
  }
}
