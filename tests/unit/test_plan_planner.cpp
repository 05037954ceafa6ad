#include <doctest/doctest.h>

#include "instances.hpp"
#include "nicsync/plan.hpp"

using namespace nicsync;

namespace {

std::string route_text(const Ipv4Route& r) {
  std::string out = r.destination.is_default() ? "default" : r.destination.str();
  if (r.gateway) out += " via " + r.gateway->str();
  if (r.scope == RouteScope::link) out += " scope link";
  if (r.table) out += " table " + std::to_string(*r.table);
  if (r.metric) out += " metric " + std::to_string(*r.metric);
  if (r.onlink) out += " onlink";
  return out;
}

std::vector<std::string> routes_of(const NicPlan& nic) {
  std::vector<std::string> out;
  for (const Ipv4Route& r : nic.routes) out.push_back(route_text(r));
  return out;
}

}  // namespace

TEST_SUITE("plan::make_plan") {
  TEST_CASE("the primary stays on DHCP with only its secondary IPs, no table and no rules") {
    Plan plan = *make_plan(test::aws_two_eni(), PlanOptions{});
    REQUIRE(plan.nics.size() == 2);
    const NicPlan& eth0 = plan.nics[0];
    CHECK(eth0.name.str() == "eth0");
    CHECK(eth0.addressing == Addressing::dhcp);
    REQUIRE(eth0.addresses.size() == 1);
    CHECK(eth0.addresses[0].str() == "10.0.0.58");
    CHECK_FALSE(eth0.table.has_value());
    CHECK(eth0.routes.empty());
    CHECK(eth0.rules.empty());
  }

  TEST_CASE("a secondary NIC gets table 1000+index, link route first, on-link gateway routes") {
    Plan plan = *make_plan(test::aws_two_eni(), PlanOptions{});
    const NicPlan& eth1 = plan.nics[1];
    CHECK(eth1.addressing == Addressing::static_);
    CHECK(*eth1.table == 1001);
    CHECK(routes_of(eth1) == std::vector<std::string>{
                                 "10.0.0.0/24 scope link table 1001",
                                 "default via 10.0.0.1 table 1001 onlink",
                                 "default via 10.0.0.1 metric 1001 onlink",
                             });
    REQUIRE(eth1.rules.size() == 1);
    CHECK(eth1.rules[0].from.str() == "10.0.0.226");
    CHECK(eth1.rules[0].table == 1001);
    CHECK(eth1.rules[0].priority == 1001);
  }

  TEST_CASE("one rule per address of a secondary NIC, all at the NIC's priority") {
    Instance instance = test::aws_two_eni();
    instance.interfaces[1].ipv4.addresses.push_back(*Ipv4Address::parse("10.0.0.227"));
    Plan plan = *make_plan(instance, PlanOptions{});
    REQUIRE(plan.nics[1].rules.size() == 2);
    CHECK(plan.nics[1].rules[1].from.str() == "10.0.0.227");
    CHECK(plan.nics[1].rules[1].priority == 1001);
  }

  TEST_CASE("network card offsets the table by 100") {
    Instance instance = test::aws_two_eni();
    instance.interfaces[1].card = 1;
    instance.interfaces[1].index = 2;
    Plan plan = *make_plan(instance, PlanOptions{});
    CHECK(*plan.nics[1].table == 1102);
    CHECK(plan.nics[1].rules[0].priority == 1102);
  }

  TEST_CASE("policy routing auto is off for a single NIC and on when forced") {
    Instance instance = test::aws_two_eni();
    instance.interfaces.pop_back();
    CHECK(make_plan(instance, PlanOptions{})->nics.size() == 1);
    Instance two = test::aws_two_eni();
    PlanOptions off;
    off.policy_routing = PolicyRouting::off;
    Plan plan = *make_plan(two, off);
    CHECK_FALSE(plan.nics[1].table.has_value());
    CHECK(plan.nics[1].routes.empty());
    CHECK(plan.nics[1].rules.empty());
    CHECK(plan.nics[1].addresses.size() == 1);
  }

  TEST_CASE("table base is configurable") {
    PlanOptions options;
    options.table_base = 200;
    options.priority_base = 300;
    Plan plan = *make_plan(test::aws_two_eni(), options);
    CHECK(*plan.nics[1].table == 201);
    CHECK(plan.nics[1].rules[0].priority == 301);
  }

  TEST_CASE("primary comes first whatever the metadata order") {
    Instance instance = test::aws_two_eni();
    std::swap(instance.interfaces[0], instance.interfaces[1]);
    Plan plan = *make_plan(instance, PlanOptions{});
    CHECK(plan.nics[0].name.str() == "eth0");
  }

  TEST_CASE("two NICs on the same table are an error") {
    Instance instance = test::aws_two_eni();
    instance.interfaces.push_back(test::make_nic("eth2", "02:86:10:65:fd:32", NicRole::secondary, 1,
                                                 {"10.0.0.227"}, "10.0.0.0/24", "10.0.0.1"));
    auto plan = make_plan(instance, PlanOptions{});
    REQUIRE_FALSE(plan.ok());
    CHECK(plan.error().message == "interfaces share routing table 1001 (eth2 has card 0, index 1)");
  }

  TEST_CASE("a VLAN NIC is planned like any static secondary NIC, with its tag and parent") {
    Plan plan = *make_plan(test::oracle_bm_vlan(), PlanOptions{});
    REQUIRE(plan.nics.size() == 2);
    CHECK_FALSE(plan.nics[0].vlan.has_value());
    CHECK(plan.nics[0].addressing == Addressing::dhcp);
    const NicPlan& vlan = plan.nics[1];
    CHECK(vlan.name.str() == "ens3f0.1");
    CHECK(vlan.mac.str() == "02:00:17:05:cf:51");
    REQUIRE(vlan.vlan.has_value());
    CHECK(*vlan.vlan == VlanPlan{1, *InterfaceName::parse("ens3f0")});
    CHECK(vlan.addressing == Addressing::static_);
    CHECK(vlan.addresses.size() == 1);
    CHECK(*vlan.table == 1001);
    CHECK(routes_of(vlan) == std::vector<std::string>{
                                 "10.0.4.0/24 scope link table 1001",
                                 "default via 10.0.4.1 table 1001 onlink",
                                 "default via 10.0.4.1 metric 1001 onlink",
                             });
    REQUIRE(vlan.rules.size() == 1);
    CHECK(vlan.rules[0].from.str() == "10.0.4.5");
    CHECK(vlan.rules[0].priority == 1001);
  }

  TEST_CASE("a VLAN whose parent is not planned, or that is the primary, is an error") {
    Instance no_parent = test::oracle_bm_vlan();
    no_parent.interfaces[0].ipv4 = {};  // the parent has nothing to plan (IPv6 only, say)
    auto plan = make_plan(no_parent, PlanOptions{});
    REQUIRE_FALSE(plan.ok());
    CHECK(plan.error().message ==
          "VLAN ens3f0.1 rides on ens3f0, which is not planned (no IPv4 address, or not selected)");

    Instance unresolved = test::oracle_bm_vlan();
    unresolved.interfaces[1].vlan->parent.reset();
    plan = make_plan(unresolved, PlanOptions{});
    REQUIRE_FALSE(plan.ok());
    CHECK(plan.error().message == "VLAN ens3f0.1 has no parent interface");

    Instance primary = test::oracle_bm_vlan();
    primary.interfaces[1].role = NicRole::primary;
    plan = make_plan(primary, PlanOptions{});
    REQUIRE_FALSE(plan.ok());
    CHECK(plan.error().message == "VLAN ens3f0.1 cannot be the primary interface (it is left to DHCP)");
  }

  TEST_CASE("a NIC without a gateway gets only its link route") {
    Instance instance = test::aws_two_eni();
    instance.interfaces[1].ipv4.gateway.reset();
    Plan plan = *make_plan(instance, PlanOptions{});
    CHECK(routes_of(plan.nics[1]) == std::vector<std::string>{"10.0.0.0/24 scope link table 1001"});
  }

  TEST_CASE("primary_rules: the DHCP primary gets table 1000, no main fallback, a rule per address with the lease's") {
    PlanOptions options;
    options.primary_rules = true;
    Plan plan = *make_plan(test::aws_two_eni(), options);
    REQUIRE(plan.nics.size() == 2);
    const NicPlan& eth0 = plan.nics[0];
    CHECK(eth0.addressing == Addressing::dhcp);
    CHECK(eth0.addresses == std::vector<Ipv4Address>{*Ipv4Address::parse("10.0.0.58")});
    CHECK(eth0.table == 1000U);
    CHECK(routes_of(eth0) == std::vector<std::string>{
                                 "10.0.0.0/24 scope link table 1000",
                                 "default via 10.0.0.1 table 1000 onlink",
                             });
    REQUIRE(eth0.rules.size() == 2);
    CHECK(eth0.rules[0].from.str() == "10.0.0.76");  // the DHCP lease's address
    CHECK(eth0.rules[1].from.str() == "10.0.0.58");
    for (const Ipv4Rule& rule : eth0.rules) {
      CHECK(rule.table == 1000);
      CHECK(rule.priority == 1000);
    }
    CHECK_FALSE(eth0.lease_route_metric.has_value());
    // The secondary NIC is planned exactly as without the setting.
    Plan plain = *make_plan(test::aws_two_eni(), PlanOptions{});
    CHECK(routes_of(plan.nics[1]) == routes_of(plain.nics[1]));
    CHECK(plan.nics[1].rules.size() == 1);
  }

  TEST_CASE("primary_rules follows the table and priority bases and the card") {
    PlanOptions options;
    options.primary_rules = true;
    options.table_base = 200;
    options.priority_base = 300;
    Instance instance = test::aws_two_eni();
    instance.interfaces[0].card = 1;
    Plan plan = *make_plan(instance, options);
    CHECK(plan.nics[0].table == 300U);
    CHECK(plan.nics[0].rules[0].table == 300);
    CHECK(plan.nics[0].rules[0].priority == 400);
  }

  TEST_CASE("primary_rules does not turn policy routing on: a single NIC, or off, gets no table") {
    PlanOptions options;
    options.primary_rules = true;
    Instance single = test::aws_two_eni();
    single.interfaces.pop_back();
    Plan plan = *make_plan(single, options);
    REQUIRE(plan.nics.size() == 1);
    CHECK_FALSE(plan.nics[0].table.has_value());
    CHECK(plan.nics[0].routes.empty());
    CHECK(plan.nics[0].rules.empty());

    options.policy_routing = PolicyRouting::off;
    plan = *make_plan(test::aws_two_eni(), options);
    CHECK_FALSE(plan.nics[0].table.has_value());
    CHECK(plan.nics[0].rules.empty());

    options.policy_routing = PolicyRouting::on;
    plan = *make_plan(single, options);
    CHECK(plan.nics[0].table == 1000U);
    CHECK(plan.nics[0].rules.size() == 2);
  }

  TEST_CASE("primary_rules: the primary's table collides like any other") {
    PlanOptions options;
    options.primary_rules = true;
    Instance instance = test::aws_two_eni();
    instance.interfaces[1].index = 0;
    auto plan = make_plan(instance, options);
    REQUIRE_FALSE(plan.ok());
    CHECK(plan.error().message == "interfaces share routing table 1000 (eth1 has card 0, index 0)");
  }

  TEST_CASE("secondary_addressing dhcp: the lease gives the first address, the metadata the rest, rules for all") {
    PlanOptions options;
    options.secondary_addressing = Addressing::dhcp;
    Instance instance = test::aws_two_eni();
    instance.interfaces[1].ipv4.addresses.push_back(*Ipv4Address::parse("10.0.0.227"));
    Plan plan = *make_plan(instance, options);
    REQUIRE(plan.nics.size() == 2);
    const NicPlan& eth1 = plan.nics[1];
    CHECK(eth1.addressing == Addressing::dhcp);
    CHECK(eth1.addresses == std::vector<Ipv4Address>{*Ipv4Address::parse("10.0.0.227")});
    CHECK(eth1.table == 1001U);
    CHECK(routes_of(eth1) == std::vector<std::string>{
                                 "10.0.0.0/24 scope link table 1001",
                                 "default via 10.0.0.1 table 1001 onlink",
                                 "default via 10.0.0.1 metric 1001 onlink",
                             });
    REQUIRE(eth1.rules.size() == 2);
    CHECK(eth1.rules[0].from.str() == "10.0.0.226");  // the leased address: the metadata names it
    CHECK(eth1.rules[1].from.str() == "10.0.0.227");
    CHECK(eth1.rules[0].priority == 1001);
    CHECK(eth1.lease_route_metric == 1001U);
    // The primary is untouched: no table, no lease metric.
    CHECK(plan.nics[0].addressing == Addressing::dhcp);
    CHECK_FALSE(plan.nics[0].table.has_value());
    CHECK_FALSE(plan.nics[0].lease_route_metric.has_value());
  }

  TEST_CASE("secondary_addressing dhcp without policy routing: no table, the lease still ranks below the primary's") {
    PlanOptions options;
    options.secondary_addressing = Addressing::dhcp;
    options.policy_routing = PolicyRouting::off;
    Plan plan = *make_plan(test::aws_two_eni(), options);
    const NicPlan& eth1 = plan.nics[1];
    CHECK(eth1.addressing == Addressing::dhcp);
    CHECK(eth1.addresses.empty());
    CHECK_FALSE(eth1.table.has_value());
    CHECK(eth1.routes.empty());
    CHECK(eth1.rules.empty());
    CHECK(eth1.lease_route_metric == 1001U);
  }

  TEST_CASE("secondary_addressing dhcp leaves a VLAN NIC static") {
    PlanOptions options;
    options.secondary_addressing = Addressing::dhcp;
    Plan plan = *make_plan(test::oracle_bm_vlan(), options);
    REQUIRE(plan.nics.size() == 2);
    const NicPlan& vlan = plan.nics[1];
    CHECK(vlan.addressing == Addressing::static_);
    CHECK(vlan.addresses == std::vector<Ipv4Address>{*Ipv4Address::parse("10.0.4.5")});
    CHECK_FALSE(vlan.lease_route_metric.has_value());
    CHECK(vlan.rules.size() == 1);
  }

  TEST_CASE("both settings together") {
    PlanOptions options;
    options.primary_rules = true;
    options.secondary_addressing = Addressing::dhcp;
    Plan plan = *make_plan(test::aws_two_eni(), options);
    CHECK(plan.nics[0].table == 1000U);
    CHECK(plan.nics[0].rules.size() == 2);
    CHECK(plan.nics[1].addressing == Addressing::dhcp);
    CHECK(plan.nics[1].table == 1001U);
    CHECK(plan.nics[1].rules.size() == 1);
  }

  TEST_CASE("the defaults plan no primary table and no lease metric") {
    Plan plan = *make_plan(test::aws_two_eni(), PlanOptions{});
    CHECK_FALSE(PlanOptions{}.primary_rules);
    CHECK(PlanOptions{}.secondary_addressing == Addressing::static_);
    for (const NicPlan& nic : plan.nics) CHECK_FALSE(nic.lease_route_metric.has_value());
  }
}
