#include <doctest/doctest.h>

#include <algorithm>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "instances.hpp"
#include "nicsync/plan.hpp"
#include "nicsync/render.hpp"

using namespace nicsync;

namespace {

const std::string kCloudInit = "/etc/netplan/50-cloud-init.yaml";

const std::string kHeader =
    "# Written by nicsync from the instance metadata. Do not edit: changes are overwritten.\n"
    "# Settings: /etc/nicsync/nicsync.yaml; the files nicsync owns are listed in "
    "/var/lib/nicsync/state.json.\n";

Plan plan_of(const Instance& instance) { return *make_plan(instance, PlanOptions{}); }

/// tests/fixtures/cloud-init-netplan/<name>.yaml, as /etc/netplan/50-cloud-init.yaml.
NetplanSource cloud_init_fixture(const std::string& name) {
  std::ifstream in(std::string(NICSYNC_TEST_FIXTURES) + "/cloud-init-netplan/" + name + ".yaml");
  REQUIRE(in.good());
  std::ostringstream text;
  text << in.rdbuf();
  return {kCloudInit, text.str()};
}

NetplanExisting read(const Plan& plan, const std::vector<NetplanSource>& sources) {
  Result<NetplanExisting> existing = read_netplan_existing(plan, sources);
  REQUIRE_MESSAGE(existing.ok(), existing.error().message);
  return *existing;
}

const ExistingDefinition& definition_of(const NetplanExisting& existing, const std::string& nic) {
  auto found = existing.by_nic.find(nic);
  REQUIRE(found != existing.by_nic.end());
  return found->second;
}

std::vector<std::string> addresses_of(const ExistingDefinition& definition) {
  std::vector<std::string> out;
  for (const ExistingAddress& a : definition.addresses) {
    out.push_back(a.address.str() + "/" + std::to_string(a.prefix_length) + " " + a.source);
  }
  return out;
}

/// "DEST [via GW] [table T] [metric M] [link] [onlink] SOURCE", one per route.
std::vector<std::string> routes_of(const ExistingDefinition& definition) {
  std::vector<std::string> out;
  for (const ExistingRoute& r : definition.routes) {
    std::string text = r.destination.str();
    if (r.gateway) text += " via " + r.gateway->str();
    if (r.table) text += " table " + std::to_string(*r.table);
    if (r.metric) text += " metric " + std::to_string(*r.metric);
    if (r.scope == RouteScope::link) text += " link";
    if (r.onlink) text += " onlink";
    out.push_back(text + " " + r.source);
  }
  return out;
}

/// "[from F] [to T] table N [priority P] [selective] SOURCE", one per rule.
std::vector<std::string> rules_of(const ExistingDefinition& definition) {
  std::vector<std::string> out;
  for (const ExistingRule& r : definition.rules) {
    std::string text;
    if (r.from) text += "from " + r.from->str() + " ";
    if (r.to) text += "to " + r.to->str() + " ";
    text += "table " + std::to_string(r.table);
    if (r.priority) text += " priority " + std::to_string(*r.priority);
    if (r.selective) text += " selective";
    out.push_back(text + " " + r.source);
  }
  return out;
}

std::vector<std::string> names_of(const Plan& plan) {
  std::vector<std::string> out;
  for (const NicPlan& nic : plan.nics) out.push_back(nic.name.str());
  return out;
}

const NicPlan& nic_of(const Plan& plan, const std::string& name) {
  auto found = std::find_if(plan.nics.begin(), plan.nics.end(),
                            [&](const NicPlan& n) { return n.name.str() == name; });
  REQUIRE_MESSAGE(found != plan.nics.end(), "no NIC " << name << " in the plan");
  return *found;
}

std::vector<std::string> strings(const std::vector<Ipv4Address>& addresses) {
  std::vector<std::string> out;
  for (const Ipv4Address& a : addresses) out.push_back(a.str());
  return out;
}

/// aws-seed-two-eni with a second secondary IP on the primary (10.0.0.59) and on eth1 (10.0.0.227).
Instance aws_two_eni_more_ips() {
  Instance instance = test::aws_two_eni();
  instance.interfaces[0].ipv4.addresses.push_back(*Ipv4Address::parse("10.0.0.59"));
  instance.interfaces[1].ipv4.addresses.push_back(*Ipv4Address::parse("10.0.0.227"));
  return instance;
}

/// subtract_configured on one cloud-init text; notes are checked by the caller.
Plan subtract(const Plan& plan, const std::string& text, std::vector<std::string>& notes) {
  return subtract_configured(plan, read(plan, {{kCloudInit, text}}), notes);
}

/// What nicsync plans for eth1 of aws-seed-two-eni, written as another file would: its scheme,
/// with the route and rule values spelled differently but equal.
const std::string kEth1SchemeElsewhere =
    "network:\n"
    "  version: 2\n"
    "  ethernets:\n"
    "    eth1:\n"
    "      addresses: [10.0.0.226/24]\n"
    "      routes:\n"
    "        - {to: 0.0.0.0/0, via: 10.0.0.1, table: 254, metric: 50}\n"
    "        - {to: 10.0.0.0/24, table: 1001}\n"
    "        - {to: default, via: 10.0.0.1, on-link: true, table: 1001}\n"
    "      routing-policy:\n"
    "        - {from: 10.0.0.226/32, table: 1001, priority: 32000}\n";

}  // namespace

TEST_SUITE("render::netplan_existing") {
  // ---- reading ----

  TEST_CASE("cloud-init on EC2, one NIC at first boot: the id, DHCP and nothing else") {
    Plan plan = plan_of(test::aws_two_eni());  // eth0's MAC is another here: found by id
    NetplanExisting existing = read(plan, {cloud_init_fixture("aws-seed-single-eni-first-boot")});
    CHECK(existing.ids == NetplanIds{{"eth0", "eth0"}});
    const ExistingDefinition& eth0 = definition_of(existing, "eth0");
    CHECK(eth0.id == "eth0");
    CHECK(eth0.dhcp4);
    CHECK(eth0.dhcp4_source == kCloudInit);
    CHECK(eth0.addresses.empty());
    CHECK(eth0.routes.empty());
    CHECK(eth0.rules.empty());
  }

  TEST_CASE("cloud-init on EC2, one NIC with a secondary IP: the address with its subnet prefix") {
    Plan plan = plan_of(test::aws_two_eni());
    NetplanExisting existing = read(plan, {cloud_init_fixture("aws-seed-single-eni")});
    CHECK(addresses_of(definition_of(existing, "eth0")) ==
          std::vector<std::string>{"192.168.1.101/24 " + kCloudInit});
  }

  TEST_CASE(
      "cloud-init 24.1+ on EC2 through netplan's API: quoted values, table 101, scope link, no priority") {
    NetplanExisting existing = read(plan_of(test::aws_two_eni()), {cloud_init_fixture("aws-seed-two-eni")});
    CHECK(existing.ids == NetplanIds{{"eth0", "eth0"}, {"eth1", "eth1"}});
    const ExistingDefinition& eth0 = definition_of(existing, "eth0");
    CHECK(eth0.dhcp4);
    CHECK(addresses_of(eth0) == std::vector<std::string>{"10.0.0.58/24 " + kCloudInit});
    CHECK(eth0.routes.empty());
    const ExistingDefinition& eth1 = definition_of(existing, "eth1");
    CHECK(eth1.dhcp4);
    CHECK(eth1.addresses.empty());
    CHECK(routes_of(eth1) == std::vector<std::string>{"0.0.0.0/0 via 10.0.0.1 table 101 " + kCloudInit,
                                                      "10.0.0.0/24 table 101 link " + kCloudInit});
    CHECK(rules_of(eth1) == std::vector<std::string>{"from 10.0.0.226/32 table 101 " + kCloudInit});
  }

  TEST_CASE("cloud-init 24.1+ on EC2 through PyYAML: anchors and aliases read, IPv6 entries skipped") {
    Plan plan = plan_of(test::aws_two_eni());
    plan.nics[0].mac = *MacAddress::parse("0a:07:84:3d:6e:38");
    plan.nics[1].mac = *MacAddress::parse("0a:75:69:92:e2:16");
    NetplanExisting existing = read(plan, {cloud_init_fixture("aws-multi-ip-ipv6")});
    const ExistingDefinition& eth0 = definition_of(existing, "eth0");
    CHECK(eth0.dhcp4);
    CHECK(addresses_of(eth0) == std::vector<std::string>{"172.31.45.70/20 " + kCloudInit});
    const ExistingDefinition& eth1 = definition_of(existing, "eth1");
    CHECK(eth1.dhcp4);
    CHECK(eth1.addresses.empty());
    CHECK(routes_of(eth1) == std::vector<std::string>{"0.0.0.0/0 via 172.31.32.1 table 101 " + kCloudInit,
                                                      "172.31.32.0/20 table 101 link " + kCloudInit});
    CHECK(rules_of(eth1) == std::vector<std::string>{"from 172.31.47.221/32 table 101 " + kCloudInit});
  }

  TEST_CASE("cloud-init on Oracle with configure_secondary_nics: the secondary VNIC static, without DHCP") {
    Instance instance;
    instance.interfaces.push_back(test::make_nic("enp0s6", "02:00:17:05:d1:db", NicRole::primary, 0,
                                                 {"172.16.1.10"}, "172.16.1.0/24", "172.16.1.1"));
    instance.interfaces.push_back(test::make_nic("enp1s0", "00:00:17:02:2b:b1", NicRole::secondary, 1,
                                                 {"172.16.2.10", "172.16.2.11"}, "172.16.2.0/24",
                                                 "172.16.2.1"));
    NetplanExisting existing = read(plan_of(instance), {cloud_init_fixture("oracle-vm-secondary-vnic")});
    CHECK(existing.ids == NetplanIds{{"enp0s6", "enp0s6"}, {"enp1s0", "enp1s0"}});
    CHECK(definition_of(existing, "enp0s6").dhcp4);
    const ExistingDefinition& enp1s0 = definition_of(existing, "enp1s0");
    CHECK_FALSE(enp1s0.dhcp4);
    CHECK(enp1s0.dhcp4_source.empty());
    CHECK(addresses_of(enp1s0) == std::vector<std::string>{"172.16.2.10/24 " + kCloudInit});
  }

  TEST_CASE("cloud-init on Oracle (primary only) and Alibaba (every NIC on DHCP): DHCP only") {
    Instance oracle;
    oracle.interfaces.push_back(test::make_nic("ens3", "02:00:17:01:a3:5c", NicRole::primary, 0,
                                               {"10.0.1.2", "10.0.1.11"}, "10.0.1.0/24", "10.0.1.1"));
    NetplanExisting ens3 = read(plan_of(oracle), {cloud_init_fixture("oracle-seed-secondary-ip")});
    CHECK(definition_of(ens3, "ens3").dhcp4);
    CHECK(definition_of(ens3, "ens3").addresses.empty());

    Instance alibaba;
    alibaba.interfaces.push_back(test::make_nic("eth0", "00:16:3e:92:9b:33", NicRole::primary, 0,
                                                {"172.16.10.40"}, "172.16.10.0/24", "172.16.10.253"));
    alibaba.interfaces.push_back(test::make_nic("eth1", "00:16:3e:45:5e:32", NicRole::secondary, 1,
                                                {"172.16.10.57", "172.16.10.77"}, "172.16.10.0/24",
                                                "172.16.10.253"));
    NetplanExisting existing = read(plan_of(alibaba), {cloud_init_fixture("alibaba-seed-eni-eip")});
    for (const char* name : {"eth0", "eth1"}) {
      CAPTURE(name);
      const ExistingDefinition& d = definition_of(existing, name);
      CHECK(d.dhcp4);
      CHECK(d.addresses.empty());
      CHECK(d.routes.empty());
      CHECK(d.rules.empty());
    }
  }

  TEST_CASE("addresses: plain or with options; IPv6, no prefix and junk skipped") {
    std::string text =
        "network:\n"
        "  ethernets:\n"
        "    eth0:\n"
        "      addresses:\n"
        "        - 10.0.0.58/24\n"
        "        - \"10.0.0.59/32\": {label: \"eth0:1\", lifetime: 0}\n"
        "        - 2600:1f16::5/128\n"
        "        - 10.0.0.60\n"
        "        - 10.0.0.61/33\n"
        "        - [10.0.0.62/24]\n";
    NetplanExisting existing = read(plan_of(test::aws_two_eni()), {{kCloudInit, text}});
    CHECK(addresses_of(definition_of(existing, "eth0")) ==
          std::vector<std::string>{"10.0.0.58/24 " + kCloudInit, "10.0.0.59/32 " + kCloudInit});
  }

  TEST_CASE("routes: default is 0.0.0.0/0, table 254 is main, gateway4 is main's default; others skipped") {
    std::string text =
        "network:\n"
        "  ethernets:\n"
        "    eth1:\n"
        "      gateway4: 10.0.0.1\n"
        "      routes:\n"
        "        - {to: default, via: 10.0.0.1, table: 254, metric: 1001, on-link: true}\n"
        "        - {to: 10.0.0.5/24, scope: link, table: 7}\n"
        "        - {to: 192.168.0.9, via: 10.0.0.1, scope: link}\n"
        "        - {to: 10.9.0.0/16, type: blackhole}\n"
        "        - {to: 10.8.0.0/16, type: unicast, via: 10.0.0.1}\n"
        "        - {to: \"::/0\", via: \"fe80::1\"}\n"
        "        - {to: default, via: \"fe80::1\"}\n"
        "        - {via: 10.0.0.1}\n"
        "        - {to: 10.0.0.0/24, table: main}\n";
    NetplanExisting existing = read(plan_of(test::aws_two_eni()), {{kCloudInit, text}});
    CHECK(routes_of(definition_of(existing, "eth1")) ==
          std::vector<std::string>{"0.0.0.0/0 via 10.0.0.1 " + kCloudInit,
                                   "0.0.0.0/0 via 10.0.0.1 metric 1001 onlink " + kCloudInit,
                                   "10.0.0.0/24 table 7 link " + kCloudInit,
                                   "192.168.0.9/32 via 10.0.0.1 link " + kCloudInit,
                                   "10.8.0.0/16 via 10.0.0.1 " + kCloudInit});
  }

  TEST_CASE("rules: from and to as networks, a bare address as /32; mark or TOS makes a rule selective") {
    std::string text =
        "network:\n"
        "  ethernets:\n"
        "    eth1:\n"
        "      routing-policy:\n"
        "        - {from: 10.0.0.226, table: 101}\n"
        "        - {from: 10.0.0.0/24, to: 192.168.0.0/16, table: 102, priority: 5}\n"
        "        - {from: 10.0.0.226, table: 103, mark: 7}\n"
        "        - {to: 10.0.0.9, table: 104, type-of-service: 8}\n"
        "        - {from: \"2600:1f16::1\", table: 105}\n"
        "        - {from: 10.0.0.226}\n"
        "        - {table: 106}\n";
    NetplanExisting existing = read(plan_of(test::aws_two_eni()), {{kCloudInit, text}});
    CHECK(rules_of(definition_of(existing, "eth1")) ==
          std::vector<std::string>{"from 10.0.0.226/32 table 101 " + kCloudInit,
                                   "from 10.0.0.0/24 to 192.168.0.0/16 table 102 priority 5 " + kCloudInit,
                                   "from 10.0.0.226/32 table 103 selective " + kCloudInit,
                                   "to 10.0.0.9/32 table 104 selective " + kCloudInit});
  }

  TEST_CASE("dhcp4: netplan's spellings of true; the last file that sets it decides") {
    for (const char* yes : {"true", "True", "yes", "on", "y", "\"true\""}) {
      CAPTURE(yes);
      NetplanExisting existing =
          read(plan_of(test::aws_two_eni()),
               {{kCloudInit, std::string("network: {ethernets: {eth0: {dhcp4: ") + yes + "}}}\n"}});
      CHECK(definition_of(existing, "eth0").dhcp4);
    }
    for (const char* no : {"false", "no", "off", "n", "[true]"}) {
      CAPTURE(no);
      NetplanExisting existing =
          read(plan_of(test::aws_two_eni()),
               {{kCloudInit, std::string("network: {ethernets: {eth0: {dhcp4: ") + no + "}}}\n"}});
      CHECK_FALSE(definition_of(existing, "eth0").dhcp4);
    }
    NetplanExisting existing =
        read(plan_of(test::aws_two_eni()),
             {{kCloudInit, "network: {ethernets: {eth0: {dhcp4: true}}}\n"},
              {"/etc/netplan/60-static.yaml", "network: {ethernets: {eth0: {dhcp4: false}}}\n"},
              {"/etc/netplan/70-other.yaml", "network: {ethernets: {eth0: {mtu: 9001}}}\n"}});
    CHECK_FALSE(definition_of(existing, "eth0").dhcp4);
    CHECK(definition_of(existing, "eth0").dhcp4_source == "/etc/netplan/60-static.yaml");
  }

  TEST_CASE("lists are joined across files under the NIC's id; definitions under another id are not") {
    std::vector<NetplanSource> sources = {
        {"/etc/netplan/10-first.yaml",
         "network: {ethernets: {lan0: {set-name: eth0, addresses: [10.0.0.58/24]}}}\n"},
        {kCloudInit, "network: {ethernets: {eth0: {dhcp4: true, addresses: [10.0.0.59/24]}}}\n"},
        {"/etc/netplan/60-more.yaml", "network: {ethernets: {lan0: {addresses: [10.0.0.60/24]}}}\n"},
        {"/etc/netplan/70-vlan.yaml",
         "network: {vlans: {lan0: {id: 5, link: x, addresses: [10.0.0.61/24]}}}\n"}};
    NetplanExisting existing = read(plan_of(test::aws_two_eni()), sources);
    CHECK(existing.ids == NetplanIds{{"eth0", "lan0"}});
    const ExistingDefinition& eth0 = definition_of(existing, "eth0");
    CHECK(eth0.id == "lan0");
    CHECK(addresses_of(eth0) == std::vector<std::string>{"10.0.0.58/24 /etc/netplan/10-first.yaml",
                                                         "10.0.0.60/24 /etc/netplan/60-more.yaml"});
    CHECK_FALSE(eth0.dhcp4);  // eth0: in 50-cloud-init.yaml is another definition, which networkd ignores
  }

  TEST_CASE("a VLAN NIC's definition is read from vlans:") {
    Plan plan = plan_of(test::oracle_bm_vlan());
    std::string text =
        "network:\n"
        "  ethernets:\n"
        "    enp94s0f0: {dhcp4: true, match: {macaddress: 90:e2:ba:d4:f1:68}, set-name: ens3f0}\n"
        "    vnic2: {addresses: [10.9.9.9/24]}\n"
        "  vlans:\n"
        "    vnic2: {id: 1, link: enp94s0f0, addresses: [10.0.4.5/24]}\n";
    NetplanExisting existing = read(plan, {{kCloudInit, text}});
    CHECK(existing.ids == NetplanIds{{"ens3f0", "enp94s0f0"}, {"ens3f0.1", "vnic2"}});
    CHECK(addresses_of(definition_of(existing, "ens3f0.1")) ==
          std::vector<std::string>{"10.0.4.5/24 " + kCloudInit});
    CHECK(definition_of(existing, "ens3f0").dhcp4);
  }

  TEST_CASE("NICs no other file defines have no entry; an unparsable file is an error naming it") {
    NetplanExisting existing =
        read(plan_of(test::aws_two_eni()), {{kCloudInit, "network: {ethernets: {eth9: {}}}\n"}});
    CHECK(existing.ids.empty());
    CHECK(existing.by_nic.empty());
    Result<NetplanExisting> bad =
        read_netplan_existing(plan_of(test::aws_two_eni()), {{kCloudInit, "network:\n  ethernets: [\n"}});
    REQUIRE_FALSE(bad.ok());
    CHECK(bad.error().message.rfind("netplan: /etc/netplan/50-cloud-init.yaml line ", 0) == 0);
  }

  TEST_CASE("find_netplan_ids gives the ids read_netplan_existing finds") {
    std::vector<NetplanSource> sources = {cloud_init_fixture("aws-seed-two-eni")};
    CHECK(*find_netplan_ids(plan_of(test::aws_two_eni()), sources) ==
          read(plan_of(test::aws_two_eni()), sources).ids);
  }

  // ---- subtraction ----

  TEST_CASE("nothing known about the NICs: the plan as it is, no notes") {
    Plan plan = plan_of(test::aws_two_eni());
    std::vector<std::string> notes;
    Plan out = subtract_configured(plan, NetplanExisting{}, notes);
    CHECK(notes.empty());
    REQUIRE(out.nics.size() == 2);
    CHECK(render_netplan(out, {}).content == render_netplan(plan, {}).content);
  }

  TEST_CASE("the primary's secondary IP already there with the subnet prefix: same IP, left out") {
    std::vector<std::string> notes;
    Plan out = subtract(plan_of(aws_two_eni_more_ips()),
                        "network: {ethernets: {eth0: {dhcp4: true, addresses: [10.0.0.58/24]}}}\n", notes);
    CHECK(notes == std::vector<std::string>{
                       "eth0: /etc/netplan/50-cloud-init.yaml already has 10.0.0.58/24; not added again"});
    CHECK(strings(nic_of(out, "eth0").addresses) == std::vector<std::string>{"10.0.0.59"});
    CHECK(strings(nic_of(out, "eth1").addresses) == std::vector<std::string>{"10.0.0.226", "10.0.0.227"});
    CHECK(render_netplan(out, {{"eth0", "eth0"}}).content.find("10.0.0.58") == std::string::npos);
  }

  TEST_CASE("all of the primary's secondary IPs there (as /32 or /24): fully configured, out of the plan") {
    std::vector<std::string> notes;
    Plan out = subtract(
        plan_of(aws_two_eni_more_ips()),
        "network: {ethernets: {eth0: {dhcp4: true, addresses: [10.0.0.59/32, 10.0.0.58/24]}}}\n", notes);
    CHECK(notes == std::vector<std::string>{
                       "eth0: fully configured by /etc/netplan/50-cloud-init.yaml (addresses); left alone"});
    CHECK(names_of(out) == std::vector<std::string>{"eth1"});
  }

  TEST_CASE("dhcp4: true on a NIC nicsync plans static stands for its first address (the cloud leases it)") {
    std::vector<std::string> notes;
    Plan out =
        subtract(plan_of(aws_two_eni_more_ips()), "network: {ethernets: {eth1: {dhcp4: true}}}\n", notes);
    CHECK(notes ==
          std::vector<std::string>{
              "eth1: /etc/netplan/50-cloud-init.yaml already has 10.0.0.226 by DHCP; not added again"});
    const NicPlan& eth1 = nic_of(out, "eth1");
    CHECK(strings(eth1.addresses) == std::vector<std::string>{"10.0.0.227"});
    CHECK(eth1.routes.size() == 3);
    CHECK(eth1.rules.size() == 2);  // the lease's address still needs its rule
    CHECK(eth1.table == 1001u);
  }

  TEST_CASE("IPv6: dhcp6 stands for the first IPv6 address, listed ones are there; the rest stays") {
    Plan plan = plan_of(test::aws_two_eni());
    NicPlan& eth1 = plan.nics[1];
    for (const char* text : {"2600:1f16::10", "2600:1f16::11", "2600:1f16::12"}) {
      eth1.addresses6.push_back(*Ipv6Address::parse(text));
    }
    const std::string text =
        "network: {ethernets: {eth1: {dhcp6: true, addresses: [\"2600:1f16::11/128\", 2600:1f16::99/128, 2600:1f16::12]}}}\n";
    NetplanExisting existing = read(plan, {{kCloudInit, text}});
    const ExistingDefinition& definition = definition_of(existing, "eth1");
    CHECK(definition.dhcp6);
    REQUIRE(definition.addresses6.size() == 2);  // an address without prefix is refused by netplan: skipped
    CHECK(definition.addresses6[1].address.str() == "2600:1f16::99");
    std::vector<std::string> notes;
    Plan out = subtract(plan, text, notes);
    CHECK(notes == std::vector<std::string>{"eth1: /etc/netplan/50-cloud-init.yaml already has 2600:1f16::10 by "
                                            "DHCPv6 and 2600:1f16::11/128; not added again"});
    const NicPlan& left = nic_of(out, "eth1");
    REQUIRE(left.addresses6.size() == 1);
    CHECK(left.addresses6[0].str() == "2600:1f16::12");
  }

  TEST_CASE("dhcp4 on the DHCP primary covers none of its (secondary) addresses") {
    std::vector<std::string> notes;
    Plan out = subtract(plan_of(test::aws_two_eni()), "network: {ethernets: {eth0: {dhcp4: true}}}\n", notes);
    CHECK(notes.empty());
    CHECK(strings(nic_of(out, "eth0").addresses) == std::vector<std::string>{"10.0.0.58"});
  }

  TEST_CASE(
      "the whole scheme written elsewhere, spelled differently: fully configured (addresses, routes and "
      "rules)") {
    std::vector<std::string> notes;
    Plan out = subtract(plan_of(test::aws_two_eni()), kEth1SchemeElsewhere, notes);
    CHECK(notes == std::vector<std::string>{"eth1: fully configured by /etc/netplan/50-cloud-init.yaml "
                                            "(addresses, routes and rules); left alone"});
    CHECK(names_of(out) == std::vector<std::string>{"eth0"});
  }

  TEST_CASE("routes are the same by destination, gateway and table; rules by from and table") {
    Plan plan = plan_of(test::aws_two_eni());
    std::string text =
        "network:\n"
        "  ethernets:\n"
        "    eth1:\n"
        "      routes:\n"
        "        - {to: 10.0.0.0/24, via: 10.0.0.1, table: 1001}\n"  // a gateway where ours has none
        "        - {to: default, via: 10.0.0.2, table: 1001}\n"      // another gateway
        "        - {to: default, via: 10.0.0.1, table: 1002}\n"      // another table
        "        - {to: default, via: 10.0.0.1, metric: 7}\n"        // main, another metric: the same
        "      routing-policy:\n"
        "        - {from: 10.0.0.226, to: 8.8.8.8/32, table: 1001}\n"  // narrower: to
        "        - {from: 10.0.0.226, table: 1001, mark: 3}\n"         // narrower: mark
        "        - {from: 10.0.0.0/24, table: 1001}\n";                // wider: a network
    std::vector<std::string> notes;
    Plan out = subtract(plan, text, notes);
    CHECK(notes ==
          std::vector<std::string>{"eth1: /etc/netplan/50-cloud-init.yaml already has route default via "
                                   "10.0.0.1 metric 7; not added again"});
    const NicPlan& eth1 = nic_of(out, "eth1");
    REQUIRE(eth1.routes.size() == 2);
    CHECK(eth1.routes[0].destination.str() == "10.0.0.0/24");
    CHECK(eth1.routes[1].table == 1001u);
    CHECK(eth1.rules.size() == 1);
    CHECK(eth1.table == 1001u);
  }

  TEST_CASE("cloud-init's EC2 policy routing (table 101) for a NIC: left alone, no second rule") {
    // The NIC is configured differently: nicsync's rule for the same address in table 1001 would
    // compete with cloud-init's, whichever priority wins.
    std::vector<std::string> notes;
    Plan out = subtract_configured(
        plan_of(test::aws_two_eni()),
        read(plan_of(test::aws_two_eni()), {cloud_init_fixture("aws-seed-two-eni")}), notes);
    CHECK(notes ==
          std::vector<std::string>{
              "eth0: fully configured by /etc/netplan/50-cloud-init.yaml (addresses); left alone",
              "eth1: fully configured by /etc/netplan/50-cloud-init.yaml (DHCP and its own policy routing, "
              "table 101 for 10.0.0.226 where nicsync would use 1001); left alone"});
    CHECK(out.nics.empty());
    CHECK(render_netplan(out, {{"eth0", "eth0"}, {"eth1", "eth1"}}).content ==
          kHeader + "network:\n  version: 2\n");
  }

  TEST_CASE("another table for one address, other addresses still to add: routing left, addresses kept") {
    std::vector<std::string> notes;
    Plan out = subtract(plan_of(aws_two_eni_more_ips()),
                        "network:\n"
                        "  ethernets:\n"
                        "    eth1:\n"
                        "      addresses: [10.0.0.226/24]\n"
                        "      routing-policy: [{from: 10.0.0.226, table: 254, priority: 100}]\n",
                        notes);
    CHECK(notes ==
          std::vector<std::string>{
              "eth1: /etc/netplan/50-cloud-init.yaml already has 10.0.0.226/24; not added again; "
              "/etc/netplan/50-cloud-init.yaml has its own policy routing, table 254 for 10.0.0.226 where "
              "nicsync would use 1001: its routes and rules are left to that file"});
    const NicPlan& eth1 = nic_of(out, "eth1");
    CHECK(strings(eth1.addresses) == std::vector<std::string>{"10.0.0.227"});
    CHECK(eth1.routes.empty());
    CHECK(eth1.rules.empty());
    CHECK_FALSE(eth1.table.has_value());
    RenderedFile file = render_netplan(out, {{"eth1", "eth1"}});
    CHECK(file.content == kHeader +
                              "network:\n"
                              "  version: 2\n"
                              "  ethernets:\n"
                              "    eth0:\n"
                              "      match:\n"
                              "        macaddress: \"02:86:10:77:7f:fe\"\n"
                              "      set-name: eth0\n"
                              "      dhcp4: true\n"
                              "      addresses:\n"
                              "        - 10.0.0.58/32\n"
                              "        - 10.0.0.59/32\n"
                              "    eth1:\n"
                              "      addresses:\n"
                              "        - 10.0.0.227/32\n");
  }

  TEST_CASE("a rule from a network or with a mark is neither the same nor another NIC's routing") {
    std::vector<std::string> notes;
    Plan out =
        subtract(plan_of(test::aws_two_eni()),
                 "network: {ethernets: {eth1: {routing-policy: [{from: 10.0.0.0/24, table: 5}, "
                 "{from: 10.0.0.226, table: 6, mark: 1}, {from: 10.0.0.226, to: 1.1.1.1, table: 7}]}}}\n",
                 notes);
    CHECK(notes.empty());
    CHECK(nic_of(out, "eth1").rules.size() == 1);
    CHECK(nic_of(out, "eth1").routes.size() == 3);
  }

  TEST_CASE("items from several files: one clause per file, in the order found") {
    Plan plan = plan_of(aws_two_eni_more_ips());
    std::vector<NetplanSource> sources = {
        {kCloudInit, "network: {ethernets: {eth1: {dhcp4: true, addresses: [10.0.0.227/24]}}}\n"},
        {"/etc/netplan/60-routes.yaml",
         "network: {ethernets: {eth1: {routes: [{to: 10.0.0.0/24, table: 1001, scope: link}]}}}\n"}};
    std::vector<std::string> notes;
    Plan out = subtract_configured(plan, read(plan, sources), notes);
    CHECK(notes ==
          std::vector<std::string>{
              "eth1: /etc/netplan/50-cloud-init.yaml already has 10.0.0.226 by DHCP and 10.0.0.227/24; "
              "/etc/netplan/60-routes.yaml already has route 10.0.0.0/24 table 1001; not added again"});
    const NicPlan& eth1 = nic_of(out, "eth1");
    CHECK(eth1.addresses.empty());
    CHECK(eth1.routes.size() == 2);
    CHECK(eth1.rules.size() == 2);
  }

  TEST_CASE("fully configured across files names every file") {
    Plan plan = plan_of(test::aws_two_eni());
    std::vector<NetplanSource> sources = {
        {kCloudInit, "network: {ethernets: {eth1: {dhcp4: true}}}\n"},
        {"/etc/netplan/60-pbr.yaml",
         "network: {ethernets: {eth1: {routes: [{to: 10.0.0.0/24, table: 1001}, {to: default, via: 10.0.0.1, "
         "table: 1001}, {to: default, via: 10.0.0.1, metric: 1001}], routing-policy: [{from: 10.0.0.226, "
         "table: 1001, priority: 1001}]}}}\n"}};
    std::vector<std::string> notes;
    Plan out = subtract_configured(plan, read(plan, sources), notes);
    CHECK(notes == std::vector<std::string>{"eth1: fully configured by /etc/netplan/50-cloud-init.yaml and "
                                            "/etc/netplan/60-pbr.yaml (DHCP, routes and rules); left alone"});
    CHECK(names_of(out) == std::vector<std::string>{"eth0"});
  }

  TEST_CASE("a NIC defined elsewhere with nothing planned stays in the plan, without a note") {
    Instance instance = test::aws_two_eni();
    instance.interfaces[0].ipv4.addresses.pop_back();  // the primary has no secondary IP
    std::vector<std::string> notes;
    Plan out = subtract(plan_of(instance), "network: {ethernets: {eth0: {dhcp4: true}}}\n", notes);
    CHECK(notes.empty());
    CHECK(names_of(out) == std::vector<std::string>{"eth0", "eth1"});
  }

  TEST_CASE("a fully configured VLAN parent leaves the plan; the VLAN still links to the parent's id") {
    Plan plan = plan_of(test::oracle_bm_vlan());
    // Without anything planned the parent (the DHCP primary) would stay; give it a secondary IP
    // that cloud-init's file already has, so that it is fully configured.
    plan.nics[0].addresses.push_back(*Ipv4Address::parse("10.0.0.9"));
    std::string text =
        "network:\n"
        "  ethernets:\n"
        "    enp94s0f0:\n"
        "      dhcp4: true\n"
        "      addresses: [10.0.0.9/24]\n"
        "      match: {macaddress: 90:e2:ba:d4:f1:68}\n"
        "      set-name: ens3f0\n";
    NetplanExisting existing = read(plan, {{kCloudInit, text}});
    std::vector<std::string> notes;
    Plan out = subtract_configured(plan, existing, notes);
    CHECK(notes ==
          std::vector<std::string>{
              "ens3f0: fully configured by /etc/netplan/50-cloud-init.yaml (addresses); left alone"});
    CHECK(names_of(out) == std::vector<std::string>{"ens3f0.1"});
    std::string content = render_netplan(out, existing.ids).content;
    CHECK(content.find("      link: enp94s0f0\n") != std::string::npos);
    CHECK(content.find("ethernets:") == std::string::npos);
  }

  TEST_CASE("notes come in plan order, one per changed NIC") {
    Plan plan = plan_of(aws_two_eni_more_ips());
    std::vector<std::string> notes;
    subtract(
        plan,
        "network: {ethernets: {eth1: {addresses: [10.0.0.227/24]}, eth0: {addresses: [10.0.0.59/24]}}}\n",
        notes);
    CHECK(notes == std::vector<std::string>{
                       "eth0: /etc/netplan/50-cloud-init.yaml already has 10.0.0.59/24; not added again",
                       "eth1: /etc/netplan/50-cloud-init.yaml already has 10.0.0.227/24; not added again"});
  }
}
