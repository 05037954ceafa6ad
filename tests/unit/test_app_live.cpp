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
};

Plan plan_of(const Instance& instance) { return *make_plan(instance, PlanOptions{}); }

std::vector<std::string> describe_all(const std::vector<LiveChange>& changes, const KernelSnapshot& kernel) {
  std::vector<std::string> out;
  for (const LiveChange& c : changes) out.push_back(c.group + ": " + describe(c, kernel.links));
  return out;
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
    CHECK(result.error().message ==
          "eth1: add address 10.0.0.226/24 dev eth1 noprefixroute: Cannot assign requested address "
          "(3 earlier changes of eth1 undone)");
    CHECK(m.kernel.calls == std::vector<std::string>{
                                "add_address 10.0.0.58/24 dev eth0",
                                "set_link_up eth1",
                                "add_route 10.0.0.0/24 dev eth1 scope link table 1001",
                                "add_route default via 10.0.0.1 dev eth1 table 1001 onlink",
                                "add_rule from 10.0.0.226 lookup 1001 priority 1001",
                                "add_address 10.0.0.226/24 dev eth1 noprefixroute",
                                "delete_rule from 10.0.0.226 lookup 1001 priority 1001",
                                "delete_route default via 10.0.0.1 dev eth1 table 1001 onlink",
                                "delete_route 10.0.0.0/24 dev eth1 scope link table 1001",
                            });
    // eth0 stays complete; nothing of eth1 is left in table 1001 or the rules.
    CHECK(outcome.owned == std::vector<OwnedAddress>{{"eth0", *Ipv4Address::parse("10.0.0.58"), 24}});
    CHECK(m.kernel.kernel_rules.empty());
    for (const KernelRoute& r : m.kernel.kernel_routes) CHECK(r.table != 1001U);
  }

  TEST_CASE("a NIC missing from the kernel is an error before anything changes") {
    test::FakeNetlink kernel;
    kernel.add_link("eth0", "02:86:10:77:7f:fe");
    KernelSnapshot snapshot = *read_kernel(kernel);
    auto changes = plan_live_changes(plan_of(test::aws_two_eni()), snapshot, {});
    REQUIRE_FALSE(changes.ok());
    CHECK(changes.error().message == "eth1: no such interface in the kernel");
  }
}
