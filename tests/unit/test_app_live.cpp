#include <algorithm>
#include <doctest/doctest.h>

#include "app/live.hpp"
#include "fake_netlink.hpp"
#include "instances.hpp"

using namespace nicsync;

namespace {

/// The aws-seed-two-eni instance as the kernel shows it before a run: eth0 up with its DHCP
/// lease (address, prefix route, main default), eth1 down and bare.
struct Machine {
  test::FakeNetlink kernel;
  int eth0 = kernel.add_link("eth0", "02:86:10:77:7f:fe", true);
  int eth1 = kernel.add_link("eth1", "02:86:10:65:fd:31", false);
  Machine() {
    kernel.kernel_addresses.push_back(KernelAddress{eth0, *Ipv4Address::parse("10.0.0.76"), 24, false});
    kernel.kernel_routes.push_back(KernelRoute{kMainTable, Ipv4Cidr(), Ipv4Address::parse("10.0.0.1").value(), eth0,
                                               100, RouteScope::global, false, 16});
  }
  KernelSnapshot snapshot() { return *read_kernel(kernel); }
  /// Applies `instance` to this kernel as a first run does; what nicsync then owns.
  LiveOutcome apply_first(const Instance& instance);
};

Plan plan_of(const Instance& instance) { return *make_plan(instance, PlanOptions{}); }

LiveOutcome Machine::apply_first(const Instance& instance) {
  LiveOutcome first;
  KernelSnapshot before = snapshot();
  REQUIRE(apply_live_changes(kernel, *plan_live_changes(plan_of(instance), before, {}), before, {}, first).ok());
  return first;
}

/// `instance` without its second NIC (eth1), as interfaces.exclude leaves it.
Instance without_eth1(Instance instance) {
  instance.interfaces.erase(instance.interfaces.begin() + 1);
  return instance;
}

/// oracle-bm-vlan-vnic before a run: the physical NIC ens3f0 with its DHCP lease; no VLAN device yet.
struct BareMetal {
  test::FakeNetlink kernel;
  int ens3f0 = kernel.add_link("ens3f0", "90:e2:ba:d4:f1:68", true);
  explicit BareMetal(bool parent_up = true) {
    kernel.kernel_links[0].up = parent_up;
    kernel.kernel_addresses.push_back(KernelAddress{ens3f0, *Ipv4Address::parse("10.0.0.8"), 24, false});
    kernel.kernel_routes.push_back(KernelRoute{kMainTable, Ipv4Cidr(), Ipv4Address::parse("10.0.0.1").value(),
                                               ens3f0, 100, RouteScope::global, false, 16});
  }
  KernelSnapshot snapshot() { return *read_kernel(kernel); }
};

const std::vector<std::string> kVlanCalls = {
    "add_vlan ens3f0.1 link ens3f0 id 1 address 02:00:17:05:cf:51",
    "set_link_up ens3f0.1",
    "add_route 10.0.4.0/24 dev ens3f0.1 scope link table 1001",
    "add_route default via 10.0.4.1 dev ens3f0.1 table 1001 onlink",
    "add_rule from 10.0.4.5 lookup 1001 priority 1001",
    "add_address 10.0.4.5/24 dev ens3f0.1 noprefixroute",
    "add_route default via 10.0.4.1 dev ens3f0.1 metric 1001 onlink",
};

std::vector<std::string> describe_all(const std::vector<LiveChange>& changes, const KernelSnapshot& kernel) {
  std::vector<std::string> out;
  for (const LiveChange& c : changes) out.push_back(c.group + ": " + describe(c, kernel.links));
  return out;
}

/// The FakeNetlink calls that make `changes` (no VLAN among them): "add_rule from ...".
std::vector<std::string> calls_of(const std::vector<LiveChange>& changes, const KernelSnapshot& kernel) {
  std::vector<std::string> out;
  for (const LiveChange& c : changes) {
    std::string text = describe(c, kernel.links);
    if (std::holds_alternative<LinkUp>(c.object)) {
      out.push_back("set_link_up " + text.substr(9, text.size() - 12));  // "set link NAME up"
      continue;
    }
    const size_t verb_end = text.find(' ');
    const size_t kind_end = text.find(' ', verb_end + 1);
    out.push_back((c.action == LiveAction::add ? "add_" : "delete_") + text.substr(verb_end + 1, kind_end - verb_end - 1) +
                  text.substr(kind_end));
  }
  return out;
}

/// aws-seed-two-eni with 200 more addresses on eth1, 10.0.0.10 to 10.0.0.209.
Instance many_ips_on_eth1() {
  Instance instance = test::aws_two_eni();
  for (int i = 10; i < 210; ++i) {
    instance.interfaces[1].ipv4.addresses.push_back(*Ipv4Address::parse("10.0.0." + std::to_string(i)));
  }
  return instance;
}

}  // namespace

TEST_SUITE("app::live") {
  TEST_CASE("a fresh instance gets every object, NIC by NIC, in a safe order") {
    Machine m;
    KernelSnapshot before = m.snapshot();
    auto changes = *plan_live_changes(plan_of(test::aws_two_eni()), before, {});
    CHECK(describe_all(changes, before) == std::vector<std::string>{
                                               "eth0: add address 10.0.0.58/24 dev eth0",
                                               "eth1: set link eth1 up",
                                               "eth1: add route 10.0.0.0/24 dev eth1 scope link table 1001",
                                               "eth1: add route default via 10.0.0.1 dev eth1 table 1001 onlink",
                                               "eth1: add rule from 10.0.0.226 lookup 1001 priority 1001",
                                               "eth1: add address 10.0.0.226/24 dev eth1 noprefixroute",
                                               "eth1: add route default via 10.0.0.1 dev eth1 metric 1001 onlink",
                                           });
    LiveOutcome outcome;
    REQUIRE(apply_live_changes(m.kernel, changes, before, {}, outcome).ok());
    CHECK(m.kernel.calls == std::vector<std::string>{
                                "add_address 10.0.0.58/24 dev eth0",
                                "set_link_up eth1",
                                "add_route 10.0.0.0/24 dev eth1 scope link table 1001",
                                "add_route default via 10.0.0.1 dev eth1 table 1001 onlink",
                                "add_rule from 10.0.0.226 lookup 1001 priority 1001",
                                "add_address 10.0.0.226/24 dev eth1 noprefixroute",
                                "add_route default via 10.0.0.1 dev eth1 metric 1001 onlink",
                            });
    CHECK(outcome.applied.size() == 7);
    CHECK(outcome.owned == std::vector<OwnedAddress>{{"eth0", *Ipv4Address::parse("10.0.0.58"), 24},
                                                     {"eth1", *Ipv4Address::parse("10.0.0.226"), 24}});
    // Every added route and rule carries nicsync's protocol.
    for (const KernelRoute& r : m.kernel.kernel_routes) {
      if (r.table == 1001 || r.metric == 1001U) CHECK(r.protocol == kNicsyncProtocol);
    }
    for (const KernelRule& r : m.kernel.kernel_rules) CHECK(r.protocol == kNicsyncProtocol);

    SUBCASE("a rerun has nothing to do") {
      auto again = *plan_live_changes(plan_of(test::aws_two_eni()), m.snapshot(), outcome.owned);
      CHECK(again.empty());
    }
  }

  TEST_CASE("the NICs' changes go in primary first, then from the highest rule priority down") {
    // The kernel places each new rule by walking its family's list, sorted by priority, from the
    // start: in this order a NIC's rules do not walk past those of the NICs before it.
    Machine m;
    m.kernel.add_link("eth2", "02:86:10:65:fd:32", false);
    Instance instance = test::aws_two_eni();
    instance.interfaces.push_back(
        test::make_nic("eth2", "02:86:10:65:fd:32", NicRole::secondary, 2, {"10.0.0.227"}, "10.0.0.0/24", "10.0.0.1"));
    KernelSnapshot before = m.snapshot();
    auto changes = *plan_live_changes(plan_of(instance), before, {});
    std::vector<std::string> groups;
    std::vector<std::string> rules;
    for (const LiveChange& c : changes) {
      if (groups.empty() || groups.back() != c.group) groups.push_back(c.group);
      if (std::holds_alternative<KernelRule>(c.object)) rules.push_back(describe(c, before.links));
    }
    CHECK(groups == std::vector<std::string>{"eth0", "eth2", "eth1"});
    CHECK(rules == std::vector<std::string>{"add rule from 10.0.0.227 lookup 1002 priority 1002",
                                            "add rule from 10.0.0.226 lookup 1001 priority 1001"});
  }

  TEST_CASE("under netplan the primary's secondary IPs go in as /32, as networkd will configure them") {
    Machine m;
    KernelSnapshot before = m.snapshot();
    auto changes = *plan_live_changes(plan_of(test::aws_two_eni()), before, {}, PrimarySecondaryPrefix::host);
    CHECK(describe(changes[0], before.links) == "add address 10.0.0.58/32 dev eth0");
    CHECK(describe(changes[5], before.links) == "add address 10.0.0.226/24 dev eth1 noprefixroute");
  }

  TEST_CASE("objects someone else installed count as present, whatever their protocol") {
    Machine m;
    m.kernel.kernel_rules.push_back(KernelRule{1001, Ipv4Cidr::parse("10.0.0.226/32").value(), 1001, 4});
    m.kernel.kernel_addresses.push_back(KernelAddress{m.eth1, *Ipv4Address::parse("10.0.0.226"), 32, false});
    KernelSnapshot before = m.snapshot();
    auto changes = *plan_live_changes(plan_of(test::aws_two_eni()), before, {});
    for (const std::string& line : describe_all(changes, before)) {
      CHECK(line.find("rule") == std::string::npos);
      CHECK(line.find("10.0.0.226/") == std::string::npos);
    }
  }

  TEST_CASE("a secondary IP removed from the metadata: exactly its rule and address go, foreign objects stay") {
    Machine m;
    Instance with_two = test::aws_two_eni();
    with_two.interfaces[1].ipv4.addresses.push_back(*Ipv4Address::parse("10.0.0.227"));
    LiveOutcome first;
    KernelSnapshot before = m.snapshot();
    REQUIRE(apply_live_changes(m.kernel, *plan_live_changes(plan_of(with_two), before, {}), before, {}, first).ok());
    // Foreign objects added by hand.
    m.kernel.kernel_rules.push_back(KernelRule{500, Ipv4Cidr::parse("10.9.9.9/32").value(), 1001, 3});
    m.kernel.kernel_routes.push_back(KernelRoute{1001, *Ipv4Cidr::parse("192.0.2.0/24"), std::nullopt, m.eth1,
                                                 std::nullopt, RouteScope::link, false, 3});
    m.kernel.kernel_addresses.push_back(KernelAddress{m.eth1, *Ipv4Address::parse("10.0.0.240"), 24, true});
    m.kernel.calls.clear();

    KernelSnapshot now = m.snapshot();
    auto changes = *plan_live_changes(plan_of(test::aws_two_eni()), now, first.owned);
    CHECK(describe_all(changes, now) == std::vector<std::string>{
                                            "stale: remove rule from 10.0.0.227 lookup 1001 priority 1001",
                                            "stale: remove address 10.0.0.227/24 dev eth1 noprefixroute",
                                        });
    LiveOutcome second;
    REQUIRE(apply_live_changes(m.kernel, changes, now, first.owned, second).ok());
    CHECK(m.kernel.calls == std::vector<std::string>{
                                "delete_rule from 10.0.0.227 lookup 1001 priority 1001",
                                "delete_address 10.0.0.227/24 dev eth1 noprefixroute",
                            });
    CHECK(second.owned == std::vector<OwnedAddress>{{"eth0", *Ipv4Address::parse("10.0.0.58"), 24},
                                                    {"eth1", *Ipv4Address::parse("10.0.0.226"), 24}});
  }

  TEST_CASE("a NIC left out (interfaces.exclude): its rules go first, then its routes, then its address") {
    Machine m;
    LiveOutcome first = m.apply_first(test::aws_two_eni());
    const Instance eth0_only = without_eth1(test::aws_two_eni());
    m.kernel.calls.clear();

    KernelSnapshot now = m.snapshot();
    auto changes = *plan_live_changes(plan_of(eth0_only), now, first.owned);
    // The address last: deleting a device's last IPv4 address makes the kernel flush the routes
    // through it, which would leave the route removals nothing to remove.
    CHECK(describe_all(changes, now) == std::vector<std::string>{
                                            "stale: remove rule from 10.0.0.226 lookup 1001 priority 1001",
                                            "stale: remove route 10.0.0.0/24 dev eth1 scope link table 1001",
                                            "stale: remove route default via 10.0.0.1 dev eth1 table 1001 onlink",
                                            "stale: remove route default via 10.0.0.1 dev eth1 metric 1001 onlink",
                                            "stale: remove address 10.0.0.226/24 dev eth1 noprefixroute",
                                        });
    LiveOutcome second;
    REQUIRE(apply_live_changes(m.kernel, changes, now, first.owned, second).ok());
    CHECK(m.kernel.kernel_rules.empty());
    for (const KernelRoute& r : m.kernel.kernel_routes) CHECK(r.ifindex == m.eth0);
    CHECK(second.owned == std::vector<OwnedAddress>{{"eth0", *Ipv4Address::parse("10.0.0.58"), 24}});
  }

  TEST_CASE("a removal whose object the kernel has flushed already is done, with nothing to undo") {
    Machine m;
    LiveOutcome first = m.apply_first(test::aws_two_eni());
    const Instance eth0_only = without_eth1(test::aws_two_eni());
    KernelSnapshot now = m.snapshot();
    auto changes = *plan_live_changes(plan_of(eth0_only), now, first.owned);
    // Between the read and the removal the kernel flushes eth1's routes (as when its last IPv4
    // address goes) and its address goes too: each removal finds its object gone, "No such
    // process" for a route, "Cannot assign requested address" for an address.
    std::erase_if(m.kernel.kernel_routes, [&](const KernelRoute& r) { return r.ifindex == m.eth1; });
    std::erase_if(m.kernel.kernel_addresses, [&](const KernelAddress& a) { return a.ifindex == m.eth1; });
    m.kernel.calls.clear();
    m.kernel.batches.clear();

    SUBCASE("the run succeeds; only what the kernel still had counts as a change") {
      LiveOutcome second;
      REQUIRE(apply_live_changes(m.kernel, changes, now, first.owned, second).ok());
      CHECK(m.kernel.calls == std::vector<std::string>{
                                  "delete_rule from 10.0.0.226 lookup 1001 priority 1001",
                                  "delete_route 10.0.0.0/24 dev eth1 scope link table 1001",
                                  "delete_route default via 10.0.0.1 dev eth1 table 1001 onlink",
                                  "delete_route default via 10.0.0.1 dev eth1 metric 1001 onlink",
                                  "delete_address 10.0.0.226/24 dev eth1 noprefixroute",
                              });
      CHECK(m.kernel.batches == std::vector<size_t>{5});
      CHECK(second.applied == std::vector<std::string>{"remove rule from 10.0.0.226 lookup 1001 priority 1001"});
      CHECK(second.owned == std::vector<OwnedAddress>{{"eth0", *Ipv4Address::parse("10.0.0.58"), 24}});
      CHECK(m.kernel.kernel_rules.empty());
    }

    SUBCASE("a later refusal undoes the group's removals, but never puts back what the kernel flushed") {
      // The rule is still there; the fallback's removal is refused for another reason.
      m.kernel.fail_on("delete_route default via 10.0.0.1 dev eth1 metric 1001", "Operation not permitted");
      LiveOutcome second;
      auto result = apply_live_changes(m.kernel, changes, now, first.owned, second);
      REQUIRE_FALSE(result.ok());
      CHECK(result.error().message ==
            "removing stale objects: delete route default via 10.0.0.1 dev eth1 metric 1001 onlink: Operation not "
            "permitted (1 earlier change of removing stale objects undone)");
      CHECK(m.kernel.calls == std::vector<std::string>{
                                  "delete_rule from 10.0.0.226 lookup 1001 priority 1001",
                                  "delete_route 10.0.0.0/24 dev eth1 scope link table 1001",
                                  "delete_route default via 10.0.0.1 dev eth1 table 1001 onlink",
                                  "delete_route default via 10.0.0.1 dev eth1 metric 1001 onlink",
                                  "delete_address 10.0.0.226/24 dev eth1 noprefixroute",
                                  "add_rule from 10.0.0.226 lookup 1001 priority 1001",
                              });
      CHECK(m.kernel.batches == std::vector<size_t>{5, 1});  // the removals; the rule's undo
      CHECK(second.applied.empty());
    }
  }

  TEST_CASE("a flushed object in a full batch: the round trips after it still go, and the run succeeds") {
    Machine m;
    LiveOutcome first = m.apply_first(many_ips_on_eth1());
    const Instance eth0_only = without_eth1(many_ips_on_eth1());
    KernelSnapshot now = m.snapshot();
    auto changes = *plan_live_changes(plan_of(eth0_only), now, first.owned);
    REQUIRE(changes.size() == 201 + 3 + 201);  // rules, routes, addresses
    std::erase_if(m.kernel.kernel_routes, [&](const KernelRoute& r) { return r.ifindex == m.eth1; });
    m.kernel.batches.clear();
    LiveOutcome second;
    REQUIRE(apply_live_changes(m.kernel, changes, now, first.owned, second).ok());
    // The second round trip holds the three flushed routes; Netlink::apply() stops after it, and
    // the remaining 149 removals go in a further call.
    CHECK(m.kernel.batches == std::vector<size_t>{128, 128, 128, 21});
    CHECK(second.applied.size() == 201 + 201);
    CHECK(m.kernel.kernel_rules.empty());
    CHECK(std::none_of(m.kernel.kernel_addresses.begin(), m.kernel.kernel_addresses.end(),
                       [&](const KernelAddress& a) { return a.ifindex == m.eth1; }));
    CHECK(second.owned == std::vector<OwnedAddress>{{"eth0", *Ipv4Address::parse("10.0.0.58"), 24}});
  }

  TEST_CASE("an address nicsync did not add is never removed") {
    Machine m;
    m.kernel.kernel_addresses.push_back(KernelAddress{m.eth1, *Ipv4Address::parse("10.0.0.240"), 24, false});
    KernelSnapshot before = m.snapshot();
    auto changes = *plan_live_changes(plan_of(test::aws_two_eni()), before, {});
    for (const LiveChange& c : changes) CHECK(c.action == LiveAction::add);
  }

  TEST_CASE("a refused change undoes that NIC's earlier changes and names the object and the kernel's reason") {
    Machine m;
    m.kernel.fail_on("add_address 10.0.0.226", "Cannot assign requested address");
    KernelSnapshot before = m.snapshot();
    auto changes = *plan_live_changes(plan_of(test::aws_two_eni()), before, {});
    LiveOutcome outcome;
    auto result = apply_live_changes(m.kernel, changes, before, {}, outcome);
    REQUIRE_FALSE(result.ok());
    // main's fallback default went in the same batch as the refused address: the kernel made it
    // too, and it is undone first.
    CHECK(result.error().message ==
          "eth1: add address 10.0.0.226/24 dev eth1 noprefixroute: Cannot assign requested address "
          "(3 earlier changes of eth1 undone, and 1 later change sent in the same batch)");
    CHECK(m.kernel.calls == std::vector<std::string>{
                                "add_address 10.0.0.58/24 dev eth0",
                                "set_link_up eth1",
                                "add_route 10.0.0.0/24 dev eth1 scope link table 1001",
                                "add_route default via 10.0.0.1 dev eth1 table 1001 onlink",
                                "add_rule from 10.0.0.226 lookup 1001 priority 1001",
                                "add_address 10.0.0.226/24 dev eth1 noprefixroute",
                                "add_route default via 10.0.0.1 dev eth1 metric 1001 onlink",
                                "delete_route default via 10.0.0.1 dev eth1 metric 1001 onlink",
                                "delete_rule from 10.0.0.226 lookup 1001 priority 1001",
                                "delete_route default via 10.0.0.1 dev eth1 table 1001 onlink",
                                "delete_route 10.0.0.0/24 dev eth1 scope link table 1001",
                            });
    // eth0's address; eth1's after its link; the undo, newest first
    CHECK(m.kernel.batches == std::vector<size_t>{1, 5, 4});
    // eth0 stays complete; nothing of eth1 is left in table 1001, main or the rules.
    CHECK(outcome.owned == std::vector<OwnedAddress>{{"eth0", *Ipv4Address::parse("10.0.0.58"), 24}});
    CHECK(outcome.applied == std::vector<std::string>{"add address 10.0.0.58/24 dev eth0", "set link eth1 up"});
    CHECK(m.kernel.kernel_rules.empty());
    for (const KernelRoute& r : m.kernel.kernel_routes) {
      CHECK(r.table != 1001U);
      CHECK(r.metric != 1001U);
    }
  }

  TEST_CASE("an undo the kernel refuses is named; the rest of the undo batch still goes back") {
    Machine m;
    m.kernel.fail_on("add_address 10.0.0.226", "Cannot assign requested address");
    m.kernel.fail_on("delete_rule from 10.0.0.226", "Operation not permitted");
    KernelSnapshot before = m.snapshot();
    auto changes = *plan_live_changes(plan_of(test::aws_two_eni()), before, {});
    LiveOutcome outcome;
    auto result = apply_live_changes(m.kernel, changes, before, {}, outcome);
    REQUIRE_FALSE(result.ok());
    CHECK(result.error().message == "eth1: add address 10.0.0.226/24 dev eth1 noprefixroute: Cannot assign requested address "
                                    "(2 earlier changes of eth1 undone, and 1 later change sent in the same batch); "
                                    "undoing \"add rule from 10.0.0.226 lookup 1001 priority 1001\" failed too: "
                                    "delete rule from 10.0.0.226 lookup 1001 priority 1001: Operation not permitted");
    CHECK(m.kernel.batches == std::vector<size_t>{1, 5, 4});
    CHECK(std::vector<std::string>(m.kernel.calls.end() - 4, m.kernel.calls.end()) ==
          std::vector<std::string>{"delete_route default via 10.0.0.1 dev eth1 metric 1001 onlink",
                                   "delete_rule from 10.0.0.226 lookup 1001 priority 1001",
                                   "delete_route default via 10.0.0.1 dev eth1 table 1001 onlink",
                                   "delete_route 10.0.0.0/24 dev eth1 scope link table 1001"});
    CHECK(m.kernel.kernel_rules.size() == 1);  // the one the kernel kept
    for (const KernelRoute& r : m.kernel.kernel_routes) CHECK(r.table != 1001U);
    CHECK(outcome.applied == std::vector<std::string>{"add address 10.0.0.58/24 dev eth0", "set link eth1 up",
                                                      "add rule from 10.0.0.226 lookup 1001 priority 1001"});
  }

  TEST_CASE("a group larger than a batch goes in round trips of kNetlinkBatchSize, in order") {
    Machine m;
    KernelSnapshot before = m.snapshot();
    auto changes = *plan_live_changes(plan_of(many_ips_on_eth1()), before, {});
    REQUIRE(changes.size() == 407);  // eth0's address; eth1: link, 2 routes, 201 rules, 201 addresses, main
    LiveOutcome outcome;
    auto applied = apply_live_changes(m.kernel, changes, before, {}, outcome);
    REQUIRE_MESSAGE(applied.ok(), applied.error().message);
    static_assert(kNetlinkBatchSize == 128);
    CHECK(m.kernel.batches == std::vector<size_t>{1, 128, 128, 128, 21});
    CHECK(m.kernel.calls == calls_of(changes, before));
    CHECK(outcome.applied.size() == 407);
    CHECK(outcome.owned.size() == 202);
    CHECK(m.kernel.kernel_rules.size() == 201);
    CHECK(plan_live_changes(plan_of(many_ips_on_eth1()), m.snapshot(), outcome.owned)->empty());
  }

  TEST_CASE("a failure in the middle of a batch: the changes before and after it in the group are undone, no batch follows") {
    Machine m;
    m.kernel.fail_on("add_rule from 10.0.0.60 ", "Operation not permitted");
    KernelSnapshot before = m.snapshot();
    auto changes = *plan_live_changes(plan_of(many_ips_on_eth1()), before, {});
    LiveOutcome outcome;
    auto result = apply_live_changes(m.kernel, changes, before, {}, outcome);
    REQUIRE_FALSE(result.ok());
    // eth1's first batch: 2 routes, then the rules of .226 and .10 to .209; .60's is its 54th change.
    CHECK(result.error().message ==
          "eth1: add rule from 10.0.0.60 lookup 1001 priority 1001: Operation not permitted "
          "(53 earlier changes of eth1 undone, and 74 later changes sent in the same batch)");
    CHECK(m.kernel.batches == std::vector<size_t>{1, 128, 127});  // the undo in one batch
    // Made: eth0's address, eth1's link and its first batch; then undone newest first.
    std::vector<std::string> made = calls_of(std::vector<LiveChange>(changes.begin(), changes.begin() + 130), before);
    std::vector<std::string> expected = made;
    for (size_t i = 129; i >= 2; --i) {
      if (made[i].find("from 10.0.0.60 ") != std::string::npos) continue;
      expected.push_back((made[i].rfind("add_route", 0) == 0 ? "delete_route" : "delete_rule") + made[i].substr(made[i].find(' ')));
    }
    CHECK(m.kernel.calls == expected);
    CHECK(m.kernel.kernel_rules.empty());
    for (const KernelRoute& r : m.kernel.kernel_routes) CHECK(r.table != 1001U);
    CHECK(outcome.applied == std::vector<std::string>{"add address 10.0.0.58/24 dev eth0", "set link eth1 up"});
    CHECK(outcome.owned == std::vector<OwnedAddress>{{"eth0", *Ipv4Address::parse("10.0.0.58"), 24}});
  }

  TEST_CASE("a failure in a later batch undoes the group's earlier batches too") {
    Machine m;
    m.kernel.fail_on("add_address 10.0.0.100/", "Cannot assign requested address");
    KernelSnapshot before = m.snapshot();
    auto changes = *plan_live_changes(plan_of(many_ips_on_eth1()), before, {});
    LiveOutcome outcome;
    auto result = apply_live_changes(m.kernel, changes, before, {}, outcome);
    REQUIRE_FALSE(result.ok());
    // eth1's batch: 2 routes, 201 rules, then the addresses .226 and .10 to .209: .100 is its 295th
    // change, in the third round trip (257th to 384th).
    CHECK(result.error().message ==
          "eth1: add address 10.0.0.100/24 dev eth1 noprefixroute: Cannot assign requested address "
          "(294 earlier changes of eth1 undone, and 89 later changes sent in the same batch)");
    // the 383 undone changes in round trips of 128 too
    CHECK(m.kernel.batches == std::vector<size_t>{1, 128, 128, 128, 128, 128, 127});
    CHECK(m.kernel.calls.size() == 2 + 384 + 384 - 1);
    CHECK(m.kernel.kernel_rules.empty());
    CHECK(m.kernel.kernel_addresses.size() == 2);  // eth0's lease and 10.0.0.58
    CHECK(outcome.owned == std::vector<OwnedAddress>{{"eth0", *Ipv4Address::parse("10.0.0.58"), 24}});
  }

  TEST_CASE("a NIC missing from the kernel is an error before anything changes") {
    test::FakeNetlink kernel;
    kernel.add_link("eth0", "02:86:10:77:7f:fe");
    KernelSnapshot snapshot = *read_kernel(kernel);
    auto changes = plan_live_changes(plan_of(test::aws_two_eni()), snapshot, {});
    REQUIRE_FALSE(changes.ok());
    CHECK(changes.error().message == "eth1: no such interface in the kernel");
  }

  TEST_CASE("a VLAN missing from the kernel: its device is made first, then its objects on it") {
    BareMetal m;
    KernelSnapshot before = m.snapshot();
    auto changes = *plan_live_changes(plan_of(test::oracle_bm_vlan()), before, {});
    // Planned before the device exists: its objects name it by the group's NIC.
    CHECK(describe_all(changes, before) ==
          std::vector<std::string>{
              "ens3f0.1: add vlan ens3f0.1 link ens3f0 id 1 address 02:00:17:05:cf:51",
              "ens3f0.1: set link ens3f0.1 up",
              "ens3f0.1: add route 10.0.4.0/24 dev ens3f0.1 scope link table 1001",
              "ens3f0.1: add route default via 10.0.4.1 dev ens3f0.1 table 1001 onlink",
              "ens3f0.1: add rule from 10.0.4.5 lookup 1001 priority 1001",
              "ens3f0.1: add address 10.0.4.5/24 dev ens3f0.1 noprefixroute",
              "ens3f0.1: add route default via 10.0.4.1 dev ens3f0.1 metric 1001 onlink",
          });
    LiveOutcome outcome;
    auto applied = apply_live_changes(m.kernel, changes, before, {}, outcome);
    REQUIRE_MESSAGE(applied.ok(), applied.error().message);
    CHECK(m.kernel.calls == kVlanCalls);
    CHECK(outcome.applied.size() == 7);
    CHECK(outcome.applied[0] == "add vlan ens3f0.1 link ens3f0 id 1 address 02:00:17:05:cf:51");
    CHECK(outcome.owned == std::vector<OwnedAddress>{{"ens3f0.1", *Ipv4Address::parse("10.0.4.5"), 24}});

    // The device exists with the VNIC's MAC, up, and every object sits on its real ifindex.
    REQUIRE(m.kernel.kernel_links.size() == 2);
    const KernelLink& vlan = m.kernel.kernel_links[1];
    CHECK(vlan.name.str() == "ens3f0.1");
    CHECK(vlan.mac.str() == "02:00:17:05:cf:51");
    CHECK(vlan.up);
    for (const KernelRoute& r : m.kernel.kernel_routes) {
      if (r.table == 1001 || r.metric == 1001U) CHECK(r.ifindex == vlan.ifindex);
    }
    CHECK(m.kernel.kernel_addresses.back() ==
          KernelAddress{vlan.ifindex, *Ipv4Address::parse("10.0.4.5"), 24, true});

    SUBCASE("a rerun finds the device and has nothing to do") {
      auto again = *plan_live_changes(plan_of(test::oracle_bm_vlan()), m.snapshot(), outcome.owned);
      CHECK(again.empty());
    }
  }

  TEST_CASE("a refused change in a VLAN NIC undoes its objects and deletes the device it made") {
    BareMetal m;
    m.kernel.fail_on("add_address 10.0.4.5", "Cannot assign requested address");
    KernelSnapshot before = m.snapshot();
    auto changes = *plan_live_changes(plan_of(test::oracle_bm_vlan()), before, {});
    LiveOutcome outcome;
    auto result = apply_live_changes(m.kernel, changes, before, {}, outcome);
    REQUIRE_FALSE(result.ok());
    CHECK(result.error().message ==
          "ens3f0.1: add address 10.0.4.5/24 dev ens3f0.1 noprefixroute: Cannot assign requested address "
          "(4 earlier changes of ens3f0.1 undone, and 1 later change sent in the same batch)");
    std::vector<std::string> expected = kVlanCalls;
    for (const char* undo :
         {"delete_route default via 10.0.4.1 dev ens3f0.1 metric 1001 onlink",
          "delete_rule from 10.0.4.5 lookup 1001 priority 1001",
          "delete_route default via 10.0.4.1 dev ens3f0.1 table 1001 onlink",
          "delete_route 10.0.4.0/24 dev ens3f0.1 scope link table 1001", "delete_link ens3f0.1"}) {
      expected.push_back(undo);
    }
    CHECK(m.kernel.calls == expected);
    CHECK(m.kernel.kernel_links.size() == 1);
    CHECK(m.kernel.kernel_rules.empty());
    for (const KernelRoute& r : m.kernel.kernel_routes) CHECK(r.table != 1001U);
    CHECK(outcome.applied.empty());
    CHECK(outcome.owned.empty());
  }

  TEST_CASE("a kernel without VLAN support: the error names the VLAN and nothing else changes") {
    BareMetal m;
    m.kernel.fail_on("add_vlan", "Operation not supported (Unknown device type)");
    KernelSnapshot before = m.snapshot();
    LiveOutcome outcome;
    auto result = apply_live_changes(
        m.kernel, *plan_live_changes(plan_of(test::oracle_bm_vlan()), before, {}), before, {}, outcome);
    REQUIRE_FALSE(result.ok());
    CHECK(result.error().message ==
          "ens3f0.1: add vlan ens3f0.1 link ens3f0 id 1 address 02:00:17:05:cf:51: Operation not supported "
          "(Unknown device type)");
    CHECK(m.kernel.calls == std::vector<std::string>{kVlanCalls[0]});
  }

  TEST_CASE("a VLAN's parent that is down is brought up before the VLAN") {
    BareMetal m(false);
    KernelSnapshot before = m.snapshot();
    auto changes = *plan_live_changes(plan_of(test::oracle_bm_vlan()), before, {});
    REQUIRE(changes.size() == 8);
    CHECK(describe(changes[0], before.links) == "set link ens3f0 up");
    CHECK(changes[0].group == "ens3f0.1");
    LiveOutcome outcome;
    REQUIRE(apply_live_changes(m.kernel, changes, before, {}, outcome).ok());
    CHECK(m.kernel.calls[0] == "set_link_up ens3f0");
    CHECK(std::vector<std::string>(m.kernel.calls.begin() + 1, m.kernel.calls.end()) == kVlanCalls);
  }

  TEST_CASE("a VLAN whose parent is not in the kernel is an error before anything changes") {
    test::FakeNetlink kernel;
    KernelSnapshot snapshot = *read_kernel(kernel);
    auto changes = plan_live_changes(plan_of(test::oracle_bm_vlan()), snapshot, {});
    REQUIRE_FALSE(changes.ok());
    CHECK(changes.error().message == "ens3f0: no such interface in the kernel");
    kernel.add_link("eth0", "90:e2:ba:d4:f1:68");
    Plan vlan_only = plan_of(test::oracle_bm_vlan());
    vlan_only.nics.erase(vlan_only.nics.begin());
    changes = plan_live_changes(vlan_only, *read_kernel(kernel), {});
    REQUIRE_FALSE(changes.ok());
    CHECK(changes.error().message == "ens3f0.1: the VLAN's parent ens3f0 is not in the kernel");
  }
}

namespace {

Plan plan_with(const Instance& instance, bool primary_rules, Addressing secondary) {
  PlanOptions options;
  options.primary_rules = primary_rules;
  options.secondary_addressing = secondary;
  return *make_plan(instance, options);
}

/// aws-seed-two-eni with a second address 10.0.0.227 on eth1.
Instance two_eni_two_ips() {
  Instance instance = test::aws_two_eni();
  instance.interfaces[1].ipv4.addresses.push_back(*Ipv4Address::parse("10.0.0.227"));
  return instance;
}

/// Machine after eth1's DHCP client took its lease 10.0.0.226/24 (route metric 1001, as networkd
/// with route-metric: 1001 leaves it): eth1 up.
void lease_on_eth1(Machine& m) {
  m.kernel.kernel_links[1].up = true;
  m.kernel.kernel_addresses.push_back(KernelAddress{m.eth1, *Ipv4Address::parse("10.0.0.226"), 24, false});
}

}  // namespace

TEST_SUITE("app::live") {
  TEST_CASE("primary_rules: the primary's table and rules (the lease's too) go in with nicsync's protocol; it is not set up") {
    Machine m;
    KernelSnapshot before = m.snapshot();
    Plan plan = plan_with(test::aws_two_eni(), true, Addressing::static_);
    auto changes = *plan_live_changes(plan, before, {}, PrimarySecondaryPrefix::host);
    CHECK(describe_all(changes, before) == std::vector<std::string>{
                                               "eth0: add route 10.0.0.0/24 dev eth0 scope link table 1000",
                                               "eth0: add route default via 10.0.0.1 dev eth0 table 1000 onlink",
                                               "eth0: add rule from 10.0.0.76 lookup 1000 priority 1000",
                                               "eth0: add rule from 10.0.0.58 lookup 1000 priority 1000",
                                               "eth0: add address 10.0.0.58/32 dev eth0",
                                               "eth1: set link eth1 up",
                                               "eth1: add route 10.0.0.0/24 dev eth1 scope link table 1001",
                                               "eth1: add route default via 10.0.0.1 dev eth1 table 1001 onlink",
                                               "eth1: add rule from 10.0.0.226 lookup 1001 priority 1001",
                                               "eth1: add address 10.0.0.226/24 dev eth1 noprefixroute",
                                               "eth1: add route default via 10.0.0.1 dev eth1 metric 1001 onlink",
                                           });
    LiveOutcome outcome;
    auto applied = apply_live_changes(m.kernel, changes, before, {}, outcome);
    REQUIRE_MESSAGE(applied.ok(), applied.error().message);
    CHECK(m.kernel.calls[0] == "add_route 10.0.0.0/24 dev eth0 scope link table 1000");
    for (const KernelRoute& r : m.kernel.kernel_routes) {
      if (r.table == 1000) CHECK(r.protocol == kNicsyncProtocol);
    }
    CHECK(m.kernel.kernel_rules.size() == 3);
    for (const KernelRule& r : m.kernel.kernel_rules) CHECK(r.protocol == kNicsyncProtocol);
    CHECK(outcome.owned == std::vector<OwnedAddress>{{"eth0", *Ipv4Address::parse("10.0.0.58"), 32},
                                                     {"eth1", *Ipv4Address::parse("10.0.0.226"), 24}});
    CHECK(plan_live_changes(plan, m.snapshot(), outcome.owned, PrimarySecondaryPrefix::host)->empty());

    SUBCASE("turned off again: the primary's rules and routes are stale and go, nothing else") {
      auto off = *plan_live_changes(plan_of(test::aws_two_eni()), m.snapshot(), outcome.owned, PrimarySecondaryPrefix::host);
      CHECK(describe_all(off, m.snapshot()) == std::vector<std::string>{
                                                   "stale: remove rule from 10.0.0.76 lookup 1000 priority 1000",
                                                   "stale: remove rule from 10.0.0.58 lookup 1000 priority 1000",
                                                   "stale: remove route 10.0.0.0/24 dev eth0 scope link table 1000",
                                                   "stale: remove route default via 10.0.0.1 dev eth0 table 1000 onlink",
                                               });
    }
  }

  TEST_CASE("secondary_addressing dhcp: the lease is left to the DHCP client; secondaries /32, routes and rules added") {
    Machine m;
    lease_on_eth1(m);
    KernelSnapshot before = m.snapshot();
    Plan plan = plan_with(two_eni_two_ips(), false, Addressing::dhcp);
    // The same whatever the renderer: the files say /32 for both.
    for (PrimarySecondaryPrefix prefix : {PrimarySecondaryPrefix::subnet, PrimarySecondaryPrefix::host}) {
      auto changes = *plan_live_changes(plan, before, {}, prefix);
      std::vector<std::string> text = describe_all(changes, before);
      CHECK(std::vector<std::string>(text.begin() + 1, text.end()) ==
            std::vector<std::string>{
                "eth1: add route 10.0.0.0/24 dev eth1 scope link table 1001",
                "eth1: add route default via 10.0.0.1 dev eth1 table 1001 onlink",
                "eth1: add rule from 10.0.0.226 lookup 1001 priority 1001",
                "eth1: add rule from 10.0.0.227 lookup 1001 priority 1001",
                "eth1: add address 10.0.0.227/32 dev eth1 noprefixroute",
                "eth1: add route default via 10.0.0.1 dev eth1 metric 1001 onlink",
            });
    }
    auto changes = *plan_live_changes(plan, before, {});
    LiveOutcome outcome;
    auto applied = apply_live_changes(m.kernel, changes, before, {}, outcome);
    REQUIRE_MESSAGE(applied.ok(), applied.error().message);
    CHECK(std::find(m.kernel.calls.begin(), m.kernel.calls.end(), "set_link_up eth1") == m.kernel.calls.end());
    for (const std::string& call : m.kernel.calls) CHECK(call.find("add_address 10.0.0.226") == std::string::npos);
    CHECK(outcome.owned == std::vector<OwnedAddress>{{"eth0", *Ipv4Address::parse("10.0.0.58"), 24},
                                                     {"eth1", *Ipv4Address::parse("10.0.0.227"), 32}});
    CHECK(plan_live_changes(plan, m.snapshot(), outcome.owned)->empty());
  }

  TEST_CASE("secondary_addressing dhcp: a NIC that is down is left to its DHCP client, and none of its objects is stale") {
    Machine m;
    Plan plan = plan_with(two_eni_two_ips(), false, Addressing::dhcp);
    // What an earlier run added while the NIC was up: its rules stay in the kernel when it goes down.
    m.kernel.kernel_rules.push_back(KernelRule{1001, Ipv4Cidr::parse("10.0.0.226/32").value(), 1001, kNicsyncProtocol});
    m.kernel.kernel_rules.push_back(KernelRule{1001, Ipv4Cidr::parse("10.0.0.227/32").value(), 1001, kNicsyncProtocol});
    KernelSnapshot before = m.snapshot();
    auto changes = *plan_live_changes(plan, before, {});
    CHECK(describe_all(changes, before) == std::vector<std::string>{"eth0: add address 10.0.0.58/24 dev eth0"});
    LiveOutcome outcome;
    REQUIRE(apply_live_changes(m.kernel, changes, before, {}, outcome).ok());
    CHECK(m.kernel.calls == std::vector<std::string>{"add_address 10.0.0.58/24 dev eth0"});
    CHECK(m.kernel.kernel_links[1].up == false);
    CHECK(m.kernel.kernel_rules.size() == 2);
  }

  TEST_CASE("secondary_addressing dhcp leaves a VLAN NIC static: made, set up, its address added") {
    BareMetal m;
    KernelSnapshot before = m.snapshot();
    LiveOutcome outcome;
    auto changes = *plan_live_changes(plan_with(test::oracle_bm_vlan(), false, Addressing::dhcp), before, {});
    REQUIRE(apply_live_changes(m.kernel, changes, before, {}, outcome).ok());
    CHECK(m.kernel.calls == kVlanCalls);
  }
}

namespace {

Ipv6Address ip6(const char* text) { return *Ipv6Address::parse(text); }
Ipv6Cidr net6(const char* text) { return *Ipv6Cidr::parse(text); }

/// aws-seed-two-eni planned as the planner plans a dual-stack instance with delegated prefixes
/// (built by hand here): eth0 2600:1f16:292:100::10, eth1 ::20 and ::21 in 2600:1f16:292:100::/64
/// with the IPv6 prefix 2600:1f16:292:100:1::/80 and the IPv4 prefix 10.0.0.16/28; no IPv6 router
/// in the metadata (AWS).
Plan dual_stack_plan() {
  Plan plan = plan_of(test::aws_two_eni());
  NicPlan& eth0 = plan.nics[0];
  eth0.addresses6 = {ip6("2600:1f16:292:100::10")};
  eth0.subnet6 = net6("2600:1f16:292:100::/64");
  NicPlan& eth1 = plan.nics[1];
  eth1.addresses6 = {ip6("2600:1f16:292:100::20"), ip6("2600:1f16:292:100::21")};
  eth1.subnet6 = net6("2600:1f16:292:100::/64");
  eth1.routes.push_back(Ipv4Route{*Ipv4Cidr::parse("10.0.0.16/28"), std::nullopt, kLocalTable, std::nullopt,
                                  RouteScope::global, false, RouteType::local});
  eth1.rules.push_back(Ipv4Rule{*Ipv4Address::parse("10.0.0.16"), 1001, 1001, 28});
  eth1.routes6 = {Ipv6Route{net6("2600:1f16:292:100::/64"), std::nullopt, 1001, std::nullopt, RouteType::unicast},
                  Ipv6Route{net6("2600:1f16:292:100:1::/80"), std::nullopt, kLocalTable, std::nullopt,
                            RouteType::local}};
  eth1.rules6 = {Ipv6Rule{ip6("2600:1f16:292:100::20"), 1001, 1001, 128},
                 Ipv6Rule{ip6("2600:1f16:292:100::21"), 1001, 1001, 128},
                 Ipv6Rule{ip6("2600:1f16:292:100:1::"), 1001, 1001, 80}};
  return plan;
}

/// The default route an RA from fe80::1 leaves on `ifindex`: main, protocol ra, metric 1024.
KernelRoute ra_default(int ifindex) {
  return KernelRoute{kMainTable, Ipv6Cidr(), IpAddress(ip6("fe80::1")), ifindex, std::nullopt,
                     RouteScope::global, false, 9, RouteType::unicast};
}

}  // namespace

TEST_SUITE("app::live") {
  TEST_CASE("IPv6 and delegated prefixes go in with the IPv4 objects, in the same per-NIC order") {
    Machine m;
    KernelSnapshot before = m.snapshot();
    auto changes = *plan_live_changes(dual_stack_plan(), before, {});
    CHECK(describe_all(changes, before) ==
          std::vector<std::string>{
              "eth0: add address 10.0.0.58/24 dev eth0",
              "eth0: add address 2600:1f16:292:100::10/128 dev eth0 nodad noprefixroute",
              "eth1: set link eth1 up",
              "eth1: add route 10.0.0.0/24 dev eth1 scope link table 1001",
              "eth1: add route default via 10.0.0.1 dev eth1 table 1001 onlink",
              "eth1: add route local 10.0.0.16/28 dev eth1 table 255",
              "eth1: add route 2600:1f16:292:100::/64 dev eth1 table 1001",
              "eth1: add route local 2600:1f16:292:100:1::/80 dev eth1 table 255",
              "eth1: add rule from 10.0.0.226 lookup 1001 priority 1001",
              "eth1: add rule from 10.0.0.16/28 lookup 1001 priority 1001",
              "eth1: add rule from 2600:1f16:292:100::20 lookup 1001 priority 1001",
              "eth1: add rule from 2600:1f16:292:100::21 lookup 1001 priority 1001",
              "eth1: add rule from 2600:1f16:292:100:1::/80 lookup 1001 priority 1001",
              "eth1: add address 10.0.0.226/24 dev eth1 noprefixroute",
              "eth1: add address 2600:1f16:292:100::20/128 dev eth1 nodad noprefixroute",
              "eth1: add address 2600:1f16:292:100::21/128 dev eth1 nodad noprefixroute",
              "eth1: add route default via 10.0.0.1 dev eth1 metric 1001 onlink",
          });
    LiveOutcome outcome;
    auto applied = apply_live_changes(m.kernel, changes, before, {}, outcome);
    REQUIRE_MESSAGE(applied.ok(), applied.error().message);
    CHECK(m.kernel.calls.size() == 17);
    CHECK(m.kernel.calls[5] == "add_route local 10.0.0.16/28 dev eth1 table 255");
    // The v6 rules carry their family; the local routes their type, in table local.
    CHECK(std::count_if(m.kernel.kernel_rules.begin(), m.kernel.kernel_rules.end(),
                        [](const KernelRule& r) { return r.family == IpFamily::v6; }) == 3);
    CHECK(std::count_if(m.kernel.kernel_routes.begin(), m.kernel.kernel_routes.end(), [](const KernelRoute& r) {
            return r.type == RouteType::local && r.table == kLocalTable && r.protocol == kNicsyncProtocol;
          }) == 2);
    CHECK(outcome.owned == std::vector<OwnedAddress>{{"eth0", *Ipv4Address::parse("10.0.0.58"), 24},
                                                     {"eth0", ip6("2600:1f16:292:100::10"), 128},
                                                     {"eth1", *Ipv4Address::parse("10.0.0.226"), 24},
                                                     {"eth1", ip6("2600:1f16:292:100::20"), 128},
                                                     {"eth1", ip6("2600:1f16:292:100::21"), 128}});
    CHECK(plan_live_changes(dual_stack_plan(), m.snapshot(), outcome.owned)->empty());

    SUBCASE("an IPv6 address and the IPv6 prefix dropped from the metadata: exactly their objects go") {
      Plan smaller = dual_stack_plan();
      NicPlan& eth1 = smaller.nics[1];
      eth1.addresses6.pop_back();
      eth1.rules6 = {eth1.rules6[0]};
      eth1.routes6.pop_back();
      KernelSnapshot now = m.snapshot();
      auto stale = *plan_live_changes(smaller, now, outcome.owned);
      CHECK(describe_all(stale, now) ==
            std::vector<std::string>{
                "stale: remove rule from 2600:1f16:292:100::21 lookup 1001 priority 1001",
                "stale: remove rule from 2600:1f16:292:100:1::/80 lookup 1001 priority 1001",
                "stale: remove route local 2600:1f16:292:100:1::/80 dev eth1 table 255",
                "stale: remove address 2600:1f16:292:100::21/128 dev eth1 nodad noprefixroute",
            });
      LiveOutcome second;
      m.kernel.calls.clear();
      REQUIRE(apply_live_changes(m.kernel, stale, now, outcome.owned, second).ok());
      CHECK(m.kernel.calls == std::vector<std::string>{
                                  "delete_rule from 2600:1f16:292:100::21 lookup 1001 priority 1001",
                                  "delete_rule from 2600:1f16:292:100:1::/80 lookup 1001 priority 1001",
                                  "delete_route local 2600:1f16:292:100:1::/80 dev eth1 table 255",
                                  "delete_address 2600:1f16:292:100::21/128 dev eth1 nodad noprefixroute",
                              });
      CHECK(second.owned.size() == 4);
      CHECK(plan_live_changes(smaller, m.snapshot(), second.owned)->empty());
    }
  }

  TEST_CASE("an IPv6-only NIC gets its IPv6 objects only") {
    Machine m;
    Plan plan = dual_stack_plan();
    NicPlan& eth1 = plan.nics[1];
    eth1.subnet.reset();
    eth1.gateway.reset();
    eth1.addresses.clear();
    eth1.routes.clear();
    eth1.rules.clear();
    eth1.gateway6 = ip6("fe80::1");
    eth1.routes6.insert(eth1.routes6.begin() + 1,
                        {Ipv6Route{Ipv6Cidr(), ip6("fe80::1"), 1001, std::nullopt, RouteType::unicast},
                         Ipv6Route{Ipv6Cidr(), ip6("fe80::1"), std::nullopt, 2025, RouteType::unicast}});
    KernelSnapshot before = m.snapshot();
    auto changes = *plan_live_changes(plan, before, {});
    CHECK(describe_all(changes, before) ==
          std::vector<std::string>{
              "eth0: add address 10.0.0.58/24 dev eth0",
              "eth0: add address 2600:1f16:292:100::10/128 dev eth0 nodad noprefixroute",
              "eth1: set link eth1 up",
              "eth1: add route 2600:1f16:292:100::/64 dev eth1 table 1001",
              "eth1: add route default via fe80::1 dev eth1 table 1001",
              "eth1: add route local 2600:1f16:292:100:1::/80 dev eth1 table 255",
              "eth1: add rule from 2600:1f16:292:100::20 lookup 1001 priority 1001",
              "eth1: add rule from 2600:1f16:292:100::21 lookup 1001 priority 1001",
              "eth1: add rule from 2600:1f16:292:100:1::/80 lookup 1001 priority 1001",
              "eth1: add address 2600:1f16:292:100::20/128 dev eth1 nodad noprefixroute",
              "eth1: add address 2600:1f16:292:100::21/128 dev eth1 nodad noprefixroute",
              "eth1: add route default via fe80::1 dev eth1 metric 2025",
          });
    LiveOutcome outcome;
    REQUIRE(apply_live_changes(m.kernel, changes, before, {}, outcome).ok());
    CHECK(plan_live_changes(plan, m.snapshot(), outcome.owned)->empty());
  }

  TEST_CASE("an IPv6 router with a global address (Alibaba): table T's default goes in onlink") {
    Machine m;
    Plan plan = dual_stack_plan();
    NicPlan& eth1 = plan.nics[1];
    eth1.gateway6 = ip6("2600:1f16:292:100:ffff:ffff:ffff:fffd");
    // As ipv6_policy_routes() plans it: no main fallback via a global router.
    eth1.routes6.insert(eth1.routes6.begin() + 1,
                        Ipv6Route{Ipv6Cidr(), *eth1.gateway6, 1001, std::nullopt, RouteType::unicast});
    KernelSnapshot before = m.snapshot();
    auto changes = *plan_live_changes(plan, before, {});
    std::vector<std::string> text = describe_all(changes, before);
    CHECK(text[7] == "eth1: add route default via 2600:1f16:292:100:ffff:ffff:ffff:fffd dev eth1 table 1001 onlink");
    CHECK(std::count_if(text.begin(), text.end(), [](const std::string& line) {
            return line.find("2600:1f16:292:100:ffff:ffff:ffff:fffd") != std::string::npos;
          }) == 1);
    LiveOutcome outcome;
    REQUIRE(apply_live_changes(m.kernel, changes, before, {}, outcome).ok());
    CHECK(plan_live_changes(plan, m.snapshot(), outcome.owned)->empty());
  }

  TEST_CASE("an IPv6 route without a metric counts as present at the kernel's 1024") {
    Machine m;
    m.kernel.kernel_links[1].up = true;
    Plan plan = dual_stack_plan();
    // Added by hand with the metric spelled out: the kernel (and the fake) read it back as none.
    KernelRoute spelled{1001, net6("2600:1f16:292:100::/64"), std::nullopt, m.eth1, 1024U,
                        RouteScope::global, false, 3, RouteType::unicast};
    REQUIRE(m.kernel.add_route(spelled).ok());
    for (const std::string& line : describe_all(*plan_live_changes(plan, m.snapshot(), {}), m.snapshot())) {
      CHECK(line.find("2600:1f16:292:100::/64") == std::string::npos);
    }
  }

  TEST_CASE("an AWS NIC learns its IPv6 router from the RA default on another NIC of its subnet") {
    Machine m;
    m.kernel.kernel_routes.push_back(ra_default(m.eth0));
    Plan plan = dual_stack_plan();
    std::vector<std::string> lines = learn_ipv6_routers(plan, m.snapshot());
    CHECK(lines == std::vector<std::string>{"eth1: IPv6 router fe80::1 learned from the default route on eth0"});
    CHECK(plan.nics[0].gateway6 == std::nullopt);  // the primary has no table: its RA serves it
    CHECK(plan.nics[0].routes6.empty());
    const NicPlan& eth1 = plan.nics[1];
    CHECK(eth1.gateway6 == ip6("fe80::1"));
    REQUIRE(eth1.routes6.size() == 4);
    CHECK(eth1.routes6[0].destination == net6("2600:1f16:292:100::/64"));
    CHECK(eth1.routes6[1].destination == Ipv6Cidr());
    CHECK(eth1.routes6[1].gateway == ip6("fe80::1"));
    CHECK(eth1.routes6[1].table == 1001U);
    CHECK(eth1.routes6[1].metric == std::nullopt);
    CHECK(eth1.routes6[2].destination == Ipv6Cidr());
    CHECK(eth1.routes6[2].gateway == ip6("fe80::1"));
    CHECK(eth1.routes6[2].table == std::nullopt);
    CHECK(eth1.routes6[2].metric == 2025U);
    CHECK(eth1.routes6[3].type == RouteType::local);

    KernelSnapshot before = m.snapshot();
    auto changes = *plan_live_changes(plan, before, {});
    std::vector<std::string> text = describe_all(changes, before);
    CHECK(text[6] == "eth1: add route 2600:1f16:292:100::/64 dev eth1 table 1001");
    CHECK(text[7] == "eth1: add route default via fe80::1 dev eth1 table 1001");
    CHECK(text.back() == "eth1: add route default via fe80::1 dev eth1 metric 2025");
    CHECK(text[text.size() - 2] == "eth1: add route default via 10.0.0.1 dev eth1 metric 1001 onlink");
    LiveOutcome outcome;
    REQUIRE(apply_live_changes(m.kernel, changes, before, {}, outcome).ok());

    SUBCASE("a rerun learns it again from the RA's route, not from nicsync's own, and changes nothing") {
      Plan again = dual_stack_plan();
      CHECK(learn_ipv6_routers(again, m.snapshot()) ==
            std::vector<std::string>{"eth1: IPv6 router fe80::1 learned from the default route on eth0"});
      CHECK(plan_live_changes(again, m.snapshot(), outcome.owned)->empty());
    }
    SUBCASE("once the router is gone, the routes learned from it are stale and go") {
      std::erase(m.kernel.kernel_routes, ra_default(m.eth0));
      Plan again = dual_stack_plan();
      CHECK(learn_ipv6_routers(again, m.snapshot()) ==
            std::vector<std::string>{"eth1: no IPv6 router known (no router advertisement on a link of "
                                     "2600:1f16:292:100::/64); table 1001 gets no IPv6 default route"});
      CHECK(again.nics[1].routes6.size() == 2);
      KernelSnapshot now = m.snapshot();
      CHECK(describe_all(*plan_live_changes(again, now, outcome.owned), now) ==
            std::vector<std::string>{"stale: remove route default via fe80::1 dev eth1 table 1001",
                                     "stale: remove route default via fe80::1 dev eth1 metric 2025"});
    }
  }

  TEST_CASE("the router is learned only on a link of the same IPv6 subnet, from a link-local default") {
    Machine m;
    Plan plan = dual_stack_plan();
    plan.nics[1].subnet6 = net6("2600:1f16:292:200::/64");
    plan.nics[1].routes6[0].destination = net6("2600:1f16:292:200::/64");
    m.kernel.kernel_routes.push_back(ra_default(m.eth0));
    // A default with a global gateway on eth1 itself is not a router advertisement's.
    KernelRoute global{kMainTable, Ipv6Cidr(), IpAddress(ip6("2600:1f16:292:200::1")), m.eth1, 2000U,
                       RouteScope::global, false, 3, RouteType::unicast};
    m.kernel.kernel_routes.push_back(global);
    Plan learned = plan;
    CHECK(learn_ipv6_routers(learned, m.snapshot()) ==
          std::vector<std::string>{"eth1: no IPv6 router known (no router advertisement on a link of "
                                   "2600:1f16:292:200::/64); table 1001 gets no IPv6 default route"});
    CHECK(learned.nics[1].gateway6 == std::nullopt);
    CHECK(learned.nics[1].routes6.size() == plan.nics[1].routes6.size());
  }

  TEST_CASE("a router from the metadata is kept; the primary with a table gets the table default only") {
    Machine m;
    m.kernel.kernel_routes.push_back(ra_default(m.eth0));
    Plan plan = dual_stack_plan();
    plan.nics[0].table = 1000;
    plan.nics[0].routes6 = {Ipv6Route{net6("2600:1f16:292:100::/64"), std::nullopt, 1000, std::nullopt, RouteType::unicast}};
    plan.nics[1].gateway6 = ip6("fe80::99");
    Plan learned = plan;
    CHECK(learn_ipv6_routers(learned, m.snapshot()) ==
          std::vector<std::string>{"eth0: IPv6 router fe80::1 learned from the default route on eth0"});
    CHECK(learned.nics[1].routes6.size() == plan.nics[1].routes6.size());
    REQUIRE(learned.nics[0].routes6.size() == 2);
    CHECK(learned.nics[0].routes6[1].table == 1000U);
    CHECK(learned.nics[0].routes6[1].gateway == ip6("fe80::1"));
  }
}
