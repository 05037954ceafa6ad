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
  for (const Ipv4Route& r : nic.routes) {
    out.push_back((r.type == RouteType::local ? "local " : "") + route_text(r));
  }
  return out;
}

std::vector<std::string> routes6_of(const NicPlan& nic) {
  std::vector<std::string> out;
  for (const Ipv6Route& r : nic.routes6) {
    std::string text = r.type == RouteType::local ? "local " : "";
    text += r.destination.is_default() ? "default" : r.destination.str();
    if (r.gateway) text += " via " + r.gateway->str();
    if (r.table) text += " table " + std::to_string(*r.table);
    if (r.metric) text += " metric " + std::to_string(*r.metric);
    out.push_back(text);
  }
  return out;
}

template <typename Rule>
std::string rule_text(const Rule& r) {
  return "from " + r.from.str() + "/" + std::to_string(r.prefix_length) + " lookup " + std::to_string(r.table) +
         " priority " + std::to_string(r.priority);
}

std::vector<std::string> rules_of(const NicPlan& nic) {
  std::vector<std::string> out;
  for (const Ipv4Rule& r : nic.rules) out.push_back(rule_text(r));
  return out;
}

std::vector<std::string> rules6_of(const NicPlan& nic) {
  std::vector<std::string> out;
  for (const Ipv6Rule& r : nic.rules6) out.push_back(rule_text(r));
  return out;
}

std::vector<Ipv6Address> v6(std::vector<const char*> texts) {
  std::vector<Ipv6Address> out;
  for (const char* text : texts) out.push_back(*Ipv6Address::parse(text));
  return out;
}

std::vector<Ipv4Address> v4(std::vector<const char*> texts) {
  std::vector<Ipv4Address> out;
  for (const char* text : texts) out.push_back(*Ipv4Address::parse(text));
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
    no_parent.interfaces[0].ipv4 = {};  // the parent has nothing to plan
    auto plan = make_plan(no_parent, PlanOptions{});
    REQUIRE_FALSE(plan.ok());
    CHECK(plan.error().message ==
          "VLAN ens3f0.1 rides on ens3f0, which is not planned (no IPv4 or IPv6 address, or not selected)");

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

  TEST_CASE("IPv4-only NICs plan no IPv6 at all") {
    Plan plan = *make_plan(test::aws_two_eni(), PlanOptions{});
    for (const NicPlan& nic : plan.nics) {
      CHECK(nic.addresses6.empty());
      CHECK_FALSE(nic.subnet6.has_value());
      CHECK_FALSE(nic.gateway6.has_value());
      CHECK(nic.routes6.empty());
      CHECK(nic.rules6.empty());
    }
  }

  TEST_CASE("dual stack: every IPv6 address planned, the secondary's table gets both families, the primary neither") {
    Plan plan = *make_plan(test::dual_stack_with_gateway(), PlanOptions{});
    REQUIRE(plan.nics.size() == 2);
    const NicPlan& eth0 = plan.nics[0];
    CHECK(eth0.addressing == Addressing::dhcp);
    CHECK(eth0.subnet == *Ipv4Cidr::parse("172.31.32.0/20"));
    CHECK(eth0.addresses == v4({"172.31.45.70"}));
    // The primary's IPv6 addresses all, its first included: nicsync does not rely on DHCPv6.
    CHECK(eth0.addresses6 ==
          v6({"2600:1f16:292:100:c187:593c:4349:136", "2600:1f16:292:100:f153:12a3:c37c:11f9"}));
    CHECK(eth0.subnet6 == *Ipv6Cidr::parse("2600:1f16:292:100::/64"));
    CHECK(eth0.gateway6 == *Ipv6Address::parse("fe80::1"));
    CHECK_FALSE(eth0.table.has_value());
    CHECK(eth0.routes.empty());
    CHECK(eth0.rules.empty());
    CHECK(eth0.routes6.empty());
    CHECK(eth0.rules6.empty());

    const NicPlan& eth1 = plan.nics[1];
    CHECK(eth1.addressing == Addressing::static_);
    CHECK(eth1.addresses == v4({"172.31.47.221"}));
    CHECK(eth1.addresses6 ==
          v6({"2600:1f16:292:100:9f27:ae11:5c02:be61", "2600:1f16:292:100:3c4d:78e0:fa12:d907"}));
    CHECK(eth1.subnet6 == *Ipv6Cidr::parse("2600:1f16:292:100::/64"));
    CHECK(eth1.table == 1001U);
    CHECK(routes_of(eth1) == std::vector<std::string>{
                                 "172.31.32.0/20 scope link table 1001",
                                 "default via 172.31.32.1 table 1001 onlink",
                                 "default via 172.31.32.1 metric 1001 onlink",
                             });
    CHECK(rules_of(eth1) == std::vector<std::string>{"from 172.31.47.221/32 lookup 1001 priority 1001"});
    CHECK(routes6_of(eth1) == std::vector<std::string>{
                                  "2600:1f16:292:100::/64 table 1001",
                                  "default via fe80::1 table 1001",
                                  "default via fe80::1 metric 2025",
                              });
    CHECK(rules6_of(eth1) == std::vector<std::string>{
                                 "from 2600:1f16:292:100:9f27:ae11:5c02:be61/128 lookup 1001 priority 1001",
                                 "from 2600:1f16:292:100:3c4d:78e0:fa12:d907/128 lookup 1001 priority 1001",
                             });
  }

  TEST_CASE("AWS publishes no IPv6 gateway: the table gets only the subnet's route, main no fallback") {
    Plan plan = *make_plan(test::aws_dual_stack(), PlanOptions{});
    const NicPlan& eth1 = plan.nics[1];
    CHECK_FALSE(eth1.gateway6.has_value());
    CHECK(routes6_of(eth1) == std::vector<std::string>{"2600:1f16:292:100::/64 table 1001"});
    CHECK(rules6_of(eth1).size() == 2);
  }

  TEST_CASE("an IPv6-only secondary NIC is planned: no IPv4 subnet, addresses or IPv4 routes; IPv6 policy routing") {
    Instance instance = test::aws_two_eni();
    instance.interfaces.push_back(test::ipv6_only_nic("eth2", "02:86:10:65:fd:33", 2,
                                                      {"2603:c020:400d:5d7e:aacc:8e5f:3b1b:3a4a"},
                                                      "2603:c020:400d:5d7e::/64", "fe80::200:17ff:fe40:8972"));
    Plan plan = *make_plan(instance, PlanOptions{});
    REQUIRE(plan.nics.size() == 3);
    const NicPlan& eth2 = plan.nics[2];
    CHECK(eth2.name.str() == "eth2");
    CHECK(eth2.addressing == Addressing::static_);
    CHECK_FALSE(eth2.subnet.has_value());
    CHECK_FALSE(eth2.gateway.has_value());
    CHECK(eth2.addresses.empty());
    CHECK(eth2.routes.empty());
    CHECK(eth2.rules.empty());
    CHECK(eth2.addresses6 == v6({"2603:c020:400d:5d7e:aacc:8e5f:3b1b:3a4a"}));
    CHECK(eth2.subnet6 == *Ipv6Cidr::parse("2603:c020:400d:5d7e::/64"));
    CHECK(eth2.table == 1002U);
    CHECK(routes6_of(eth2) == std::vector<std::string>{
                                  "2603:c020:400d:5d7e::/64 table 1002",
                                  "default via fe80::200:17ff:fe40:8972 table 1002",
                                  "default via fe80::200:17ff:fe40:8972 metric 2026",
                              });
    CHECK(rules6_of(eth2) ==
          std::vector<std::string>{"from 2603:c020:400d:5d7e:aacc:8e5f:3b1b:3a4a/128 lookup 1002 priority 1002"});
  }

  TEST_CASE("an IPv6-only NIC counts for policy routing and has no DHCP lease to take") {
    Instance instance = test::aws_two_eni();
    instance.interfaces.pop_back();
    instance.interfaces.push_back(test::ipv6_only_nic("eth1", "02:86:10:65:fd:31", 1, {"2600:1f16::5"},
                                                      "2600:1f16::/64", nullptr));
    PlanOptions options;
    options.secondary_addressing = Addressing::dhcp;
    Plan plan = *make_plan(instance, options);
    REQUIRE(plan.nics.size() == 2);
    CHECK(plan.nics[1].addressing == Addressing::static_);
    CHECK_FALSE(plan.nics[1].lease_route_metric.has_value());
    CHECK(plan.nics[1].table == 1001U);
  }

  TEST_CASE("an IPv6 address outside every subnet of the metadata: no subnet6, no subnet route") {
    Instance instance = test::dual_stack_with_gateway();
    instance.interfaces[1].ipv6.subnets = {*Ipv6Cidr::parse("2600:1f16:292:200::/64")};
    Plan plan = *make_plan(instance, PlanOptions{});
    const NicPlan& eth1 = plan.nics[1];
    CHECK_FALSE(eth1.subnet6.has_value());
    CHECK(routes6_of(eth1) == std::vector<std::string>{"default via fe80::1 table 1001", "default via fe80::1 metric 2025"});
    CHECK(rules6_of(eth1).size() == 2);
  }

  TEST_CASE("delegated prefixes: local routes in table local, rules from the prefixes after the addresses'") {
    Plan plan = *make_plan(test::aws_prefixes(), PlanOptions{});
    REQUIRE(plan.nics.size() == 2);
    const NicPlan& eth1 = plan.nics[1];
    CHECK(routes_of(eth1) == std::vector<std::string>{
                                 "10.20.1.0/24 scope link table 1001",
                                 "default via 10.20.1.1 table 1001 onlink",
                                 "default via 10.20.1.1 metric 1001 onlink",
                                 "local 10.20.1.48/28 table 255",
                             });
    CHECK(rules_of(eth1) == std::vector<std::string>{
                                "from 10.20.1.184/32 lookup 1001 priority 1001",
                                "from 10.20.1.48/28 lookup 1001 priority 1001",
                            });
    CHECK(routes6_of(eth1) == std::vector<std::string>{
                                  "2600:1f14:a4b:b01::/64 table 1001",
                                  "local 2600:1f14:a4b:b01:8f2d::/80 table 255",
                              });
    CHECK(rules6_of(eth1) == std::vector<std::string>{
                                 "from 2600:1f14:a4b:b01:e1d8:4a26:71b0:932f/128 lookup 1001 priority 1001",
                                 "from 2600:1f14:a4b:b01:8f2d::/80 lookup 1001 priority 1001",
                             });
    // A local route has no gateway, no metric, global scope and no on-link flag.
    const Ipv4Route& local = eth1.routes.back();
    CHECK(local.type == RouteType::local);
    CHECK(local.table == kLocalTable);
    CHECK_FALSE(local.metric.has_value());
    CHECK(local.scope == RouteScope::global);
    CHECK_FALSE(local.onlink);
    CHECK(eth1.routes6.back().type == RouteType::local);
    CHECK_FALSE(eth1.routes6.back().metric.has_value());
    CHECK(plan.nics[0].routes.empty());
    CHECK(plan.nics[0].routes6.empty());
  }

  TEST_CASE("delegated prefixes without policy routing: the local routes stay, no table, no rules") {
    PlanOptions off;
    off.policy_routing = PolicyRouting::off;
    Plan plan = *make_plan(test::aws_prefixes(), off);
    const NicPlan& eth1 = plan.nics[1];
    CHECK_FALSE(eth1.table.has_value());
    CHECK(routes_of(eth1) == std::vector<std::string>{"local 10.20.1.48/28 table 255"});
    CHECK(routes6_of(eth1) == std::vector<std::string>{"local 2600:1f14:a4b:b01:8f2d::/80 table 255"});
    CHECK(eth1.rules.empty());
    CHECK(eth1.rules6.empty());
  }

  TEST_CASE("policy off, a single NIC with IPv6: its addresses only, and its prefixes' local routes") {
    Instance instance = test::aws_prefixes();
    instance.interfaces.erase(instance.interfaces.begin());
    instance.interfaces[0].role = NicRole::primary;
    Plan plan = *make_plan(instance, PlanOptions{});
    REQUIRE(plan.nics.size() == 1);
    const NicPlan& nic = plan.nics[0];
    CHECK(nic.addressing == Addressing::dhcp);
    CHECK(nic.addresses.empty());
    CHECK(nic.addresses6 == v6({"2600:1f14:a4b:b01:e1d8:4a26:71b0:932f"}));
    CHECK(nic.subnet6 == *Ipv6Cidr::parse("2600:1f14:a4b:b01::/64"));
    CHECK_FALSE(nic.table.has_value());
    CHECK(routes_of(nic) == std::vector<std::string>{"local 10.20.1.48/28 table 255"});
    CHECK(routes6_of(nic) == std::vector<std::string>{"local 2600:1f14:a4b:b01:8f2d::/80 table 255"});
    CHECK(nic.rules.empty());
    CHECK(nic.rules6.empty());
  }

  TEST_CASE("primary_rules with IPv6: the primary's table gets its subnet and default, no main fallback, a rule per address") {
    PlanOptions options;
    options.primary_rules = true;
    Plan plan = *make_plan(test::dual_stack_with_gateway(), options);
    const NicPlan& eth0 = plan.nics[0];
    CHECK(eth0.table == 1000U);
    CHECK(routes_of(eth0) == std::vector<std::string>{
                                 "172.31.32.0/20 scope link table 1000",
                                 "default via 172.31.32.1 table 1000 onlink",
                             });
    CHECK(rules_of(eth0) == std::vector<std::string>{
                                "from 172.31.44.13/32 lookup 1000 priority 1000",
                                "from 172.31.45.70/32 lookup 1000 priority 1000",
                            });
    CHECK(routes6_of(eth0) == std::vector<std::string>{
                                  "2600:1f16:292:100::/64 table 1000",
                                  "default via fe80::1 table 1000",
                              });
    CHECK(rules6_of(eth0) == std::vector<std::string>{
                                 "from 2600:1f16:292:100:c187:593c:4349:136/128 lookup 1000 priority 1000",
                                 "from 2600:1f16:292:100:f153:12a3:c37c:11f9/128 lookup 1000 priority 1000",
                             });
  }

  TEST_CASE("a NIC with neither IPv4 nor IPv6 addresses is skipped") {
    Instance instance = test::aws_two_eni();
    instance.interfaces[1].ipv4.addresses.clear();
    Plan plan = *make_plan(instance, PlanOptions{});
    REQUIRE(plan.nics.size() == 1);
    CHECK(plan.nics[0].name.str() == "eth0");
  }
}
