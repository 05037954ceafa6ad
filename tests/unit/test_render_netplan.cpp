#include <doctest/doctest.h>
#include <yaml-cpp/yaml.h>

#include <string>

#include "instances.hpp"
#include "nicsync/plan.hpp"
#include "nicsync/render.hpp"

using namespace nicsync;

namespace {

const std::string kHeader =
    "# Written by nicsync from the instance metadata. Do not edit: changes are overwritten.\n"
    "# Settings: /etc/nicsync/nicsync.yaml; the files nicsync owns are listed in "
    "/var/lib/nicsync/state.json.\n";

/// aws-multi-ip-ipv6 (IPv4 part): eth0 172.31.44.13 (+172.31.45.70), eth1 172.31.47.221, in 172.31.32.0/20.
Instance aws_multi_ip() {
  Instance instance;
  instance.interfaces.push_back(test::make_nic("eth0", "0a:07:84:3d:6e:38", NicRole::primary, 0,
                                               {"172.31.44.13", "172.31.45.70"}, "172.31.32.0/20",
                                               "172.31.32.1"));
  instance.interfaces.push_back(test::make_nic("eth1", "0a:75:69:92:e2:16", NicRole::secondary, 1,
                                               {"172.31.47.221"}, "172.31.32.0/20", "172.31.32.1"));
  return instance;
}

Plan plan_of(const Instance& instance, PolicyRouting policy = PolicyRouting::automatic) {
  PlanOptions options;
  options.policy_routing = policy;
  return *make_plan(instance, options);
}

/// The ethernets definition `id` of a rendered netplan text, parsed back.
YAML::Node definition(const std::string& text, const std::string& id) {
  return YAML::Load(text)["network"]["ethernets"][id];
}

const std::string kEth1Full =
    "    eth1:\n"
    "      match:\n"
    "        macaddress: \"02:86:10:65:fd:31\"\n"
    "      set-name: eth1\n"
    "      dhcp4: false\n"
    "      accept-ra: false\n"
    "      addresses:\n"
    "        - 10.0.0.226/32\n"
    "      routes:\n"
    "        - to: 10.0.0.0/24\n"
    "          scope: link\n"
    "          table: 1001\n"
    "        - to: default\n"
    "          via: 10.0.0.1\n"
    "          on-link: true\n"
    "          table: 1001\n"
    "        - to: default\n"
    "          via: 10.0.0.1\n"
    "          on-link: true\n"
    "          metric: 1001\n"
    "      routing-policy:\n"
    "        - from: 10.0.0.226\n"
    "          table: 1001\n"
    "          priority: 1001\n";

/// The VLAN of oracle-bm-vlan-vnic as nicsync defines it (under vlans:, linked to ens3f0).
const std::string kVlanFull =
    "    ens3f0.1:\n"
    "      id: 1\n"
    "      link: ens3f0\n"
    "      macaddress: \"02:00:17:05:cf:51\"\n"
    "      dhcp4: false\n"
    "      accept-ra: false\n"
    "      addresses:\n"
    "        - 10.0.4.5/32\n"
    "      routes:\n"
    "        - to: 10.0.4.0/24\n"
    "          scope: link\n"
    "          table: 1001\n"
    "        - to: default\n"
    "          via: 10.0.4.1\n"
    "          on-link: true\n"
    "          table: 1001\n"
    "        - to: default\n"
    "          via: 10.0.4.1\n"
    "          on-link: true\n"
    "          metric: 1001\n"
    "      routing-policy:\n"
    "        - from: 10.0.4.5\n"
    "          table: 1001\n"
    "          priority: 1001\n";

}  // namespace

TEST_SUITE("render::netplan") {
  TEST_CASE("two ENIs defined nowhere else: full definitions, primary on DHCP, eth1 with policy routing") {
    RenderedFile file = render_netplan(plan_of(test::aws_two_eni()), {});
    CHECK(file.path == "/etc/netplan/90-nicsync.yaml");
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
                              "        - 10.0.0.58/32\n" +
                              kEth1Full);
  }

  TEST_CASE("the primary defined by cloud-init gets only its secondary addresses, no scalars") {
    // A scalar in a later file overrides cloud-init's: dhcp4 here would decide the primary's DHCP.
    RenderedFile file = render_netplan(plan_of(test::aws_two_eni()), {{"eth0", "eth0"}});
    CHECK(file.content == kHeader +
                              "network:\n"
                              "  version: 2\n"
                              "  ethernets:\n"
                              "    eth0:\n"
                              "      addresses:\n"
                              "        - 10.0.0.58/32\n" +
                              kEth1Full);
    YAML::Node eth0 = definition(file.content, "eth0");
    CHECK_FALSE(eth0["dhcp4"]);
    CHECK_FALSE(eth0["match"]);
    CHECK_FALSE(eth0["set-name"]);
  }

  TEST_CASE("the primary keeps DHCP: dhcp4 is true when nicsync defines it") {
    RenderedFile file = render_netplan(plan_of(aws_multi_ip()), {});
    CHECK(definition(file.content, "eth0")["dhcp4"].as<std::string>() == "true");
    CHECK(definition(file.content, "eth1")["dhcp4"].as<std::string>() == "false");
  }

  TEST_CASE("the primary's secondary IPs are /32 so the DHCP lease stays the source address") {
    // networkd configures static addresses before the lease: with /20 the secondary would
    // become the subnet's first address and the source of outgoing traffic.
    RenderedFile file = render_netplan(plan_of(aws_multi_ip()), {});
    CHECK(file.content == kHeader +
                              "network:\n"
                              "  version: 2\n"
                              "  ethernets:\n"
                              "    eth0:\n"
                              "      match:\n"
                              "        macaddress: \"0a:07:84:3d:6e:38\"\n"
                              "      set-name: eth0\n"
                              "      dhcp4: true\n"
                              "      addresses:\n"
                              "        - 172.31.45.70/32\n"
                              "    eth1:\n"
                              "      match:\n"
                              "        macaddress: \"0a:75:69:92:e2:16\"\n"
                              "      set-name: eth1\n"
                              "      dhcp4: false\n"
                              "      accept-ra: false\n"
                              "      addresses:\n"
                              "        - 172.31.47.221/32\n"
                              "      routes:\n"
                              "        - to: 172.31.32.0/20\n"
                              "          scope: link\n"
                              "          table: 1001\n"
                              "        - to: default\n"
                              "          via: 172.31.32.1\n"
                              "          on-link: true\n"
                              "          table: 1001\n"
                              "        - to: default\n"
                              "          via: 172.31.32.1\n"
                              "          on-link: true\n"
                              "          metric: 1001\n"
                              "      routing-policy:\n"
                              "        - from: 172.31.47.221\n"
                              "          table: 1001\n"
                              "          priority: 1001\n");
  }

  TEST_CASE("a secondary NIC's addresses are all /32, one rule each, so main gets no prefix route") {
    Instance instance = test::aws_two_eni();
    instance.interfaces[1].ipv4.addresses.push_back(*Ipv4Address::parse("10.0.0.227"));
    RenderedFile file = render_netplan(plan_of(instance), {{"eth0", "eth0"}, {"eth1", "eth1"}});
    CHECK(file.content == kHeader +
                              "network:\n"
                              "  version: 2\n"
                              "  ethernets:\n"
                              "    eth0:\n"
                              "      addresses:\n"
                              "        - 10.0.0.58/32\n"
                              "    eth1:\n"
                              "      addresses:\n"
                              "        - 10.0.0.226/32\n"
                              "        - 10.0.0.227/32\n"
                              "      routes:\n"
                              "        - to: 10.0.0.0/24\n"
                              "          scope: link\n"
                              "          table: 1001\n"
                              "        - to: default\n"
                              "          via: 10.0.0.1\n"
                              "          on-link: true\n"
                              "          table: 1001\n"
                              "        - to: default\n"
                              "          via: 10.0.0.1\n"
                              "          on-link: true\n"
                              "          metric: 1001\n"
                              "      routing-policy:\n"
                              "        - from: 10.0.0.226\n"
                              "          table: 1001\n"
                              "          priority: 1001\n"
                              "        - from: 10.0.0.227\n"
                              "          table: 1001\n"
                              "          priority: 1001\n");
  }

  TEST_CASE("a secondary NIC defined elsewhere gets only the lists, under that file's id") {
    RenderedFile file = render_netplan(plan_of(test::aws_two_eni()), {{"eth1", "ens6"}});
    YAML::Node ens6 = definition(file.content, "ens6");
    REQUIRE(ens6.IsMap());
    CHECK(ens6.size() == 3);
    CHECK(ens6["addresses"].IsSequence());
    CHECK(ens6["routes"].IsSequence());
    CHECK(ens6["routing-policy"].IsSequence());
    CHECK_FALSE(definition(file.content, "eth1"));
  }

  TEST_CASE("a VLAN NIC goes under vlans: with tag, parent's id, MAC and a secondary NIC's lists") {
    RenderedFile file = render_netplan(plan_of(test::oracle_bm_vlan()), {});
    CHECK(file.content == kHeader +
                              "network:\n"
                              "  version: 2\n"
                              "  ethernets:\n"
                              "    ens3f0:\n"
                              "      match:\n"
                              "        macaddress: \"90:e2:ba:d4:f1:68\"\n"
                              "      set-name: ens3f0\n"
                              "      dhcp4: true\n"
                              "  vlans:\n" +
                              kVlanFull);
  }

  TEST_CASE("a VLAN on a parent cloud-init defines links to cloud-init's id; the parent gets nothing") {
    RenderedFile file = render_netplan(plan_of(test::oracle_bm_vlan()), {{"ens3f0", "enp94s0f0"}});
    std::string expected = kVlanFull;
    expected.replace(expected.find("link: ens3f0"), 12, "link: enp94s0f0");
    CHECK(file.content == kHeader +
                              "network:\n"
                              "  version: 2\n"
                              "  vlans:\n" +
                              expected);
  }

  TEST_CASE("a VLAN another file defines gets only the lists, under that file's id in vlans:") {
    RenderedFile file =
        render_netplan(plan_of(test::oracle_bm_vlan()), {{"ens3f0", "ens3f0"}, {"ens3f0.1", "vnic2"}});
    CHECK(file.content == kHeader +
                              "network:\n"
                              "  version: 2\n"
                              "  vlans:\n"
                              "    vnic2:\n"
                              "      addresses:\n"
                              "        - 10.0.4.5/32\n"
                              "      routes:\n"
                              "        - to: 10.0.4.0/24\n"
                              "          scope: link\n"
                              "          table: 1001\n"
                              "        - to: default\n"
                              "          via: 10.0.4.1\n"
                              "          on-link: true\n"
                              "          table: 1001\n"
                              "        - to: default\n"
                              "          via: 10.0.4.1\n"
                              "          on-link: true\n"
                              "          metric: 1001\n"
                              "      routing-policy:\n"
                              "        - from: 10.0.4.5\n"
                              "          table: 1001\n"
                              "          priority: 1001\n");
  }

  TEST_CASE("every route via a gateway is on-link (the /32 address gives no route to the gateway)") {
    for (const Instance& instance : {test::aws_two_eni(), aws_multi_ip()}) {
      YAML::Node routes = definition(render_netplan(plan_of(instance), {}).content, "eth1")["routes"];
      REQUIRE(routes.size() == 3);
      for (const YAML::Node& route : routes) {
        if (route["via"]) CHECK(route["on-link"].as<std::string>() == "true");
      }
    }
  }

  TEST_CASE("in each table the subnet's link route comes before the route via the gateway") {
    YAML::Node routes = definition(render_netplan(plan_of(test::aws_two_eni()), {}).content, "eth1")["routes"];
    REQUIRE(routes.size() == 3);
    CHECK(routes[0]["to"].as<std::string>() == "10.0.0.0/24");
    CHECK(routes[0]["scope"].as<std::string>() == "link");
    CHECK(routes[0]["table"].as<std::string>() == "1001");
    CHECK_FALSE(routes[0]["via"]);
    CHECK(routes[1]["via"].as<std::string>() == "10.0.0.1");
    CHECK(routes[1]["table"].as<std::string>() == "1001");
  }

  TEST_CASE("no empty list keys: a static NIC without policy routing has no routes or routing-policy") {
    RenderedFile file = render_netplan(plan_of(test::aws_two_eni(), PolicyRouting::off), {});
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
                              "    eth1:\n"
                              "      match:\n"
                              "        macaddress: \"02:86:10:65:fd:31\"\n"
                              "      set-name: eth1\n"
                              "      dhcp4: false\n"
                              "      accept-ra: false\n"
                              "      addresses:\n"
                              "        - 10.0.0.226/32\n");
  }

  TEST_CASE("no empty list keys: a primary without secondary IPs has no addresses key") {
    Instance instance = test::aws_two_eni();
    instance.interfaces[0].ipv4.addresses.pop_back();
    instance.interfaces.pop_back();
    RenderedFile file = render_netplan(plan_of(instance), {});
    CHECK(file.content == kHeader +
                              "network:\n"
                              "  version: 2\n"
                              "  ethernets:\n"
                              "    eth0:\n"
                              "      match:\n"
                              "        macaddress: \"02:86:10:77:7f:fe\"\n"
                              "      set-name: eth0\n"
                              "      dhcp4: true\n");
  }

  TEST_CASE("a primary defined elsewhere with nothing to add leaves a valid file with no ethernets") {
    Instance instance = test::aws_two_eni();
    instance.interfaces[0].ipv4.addresses.pop_back();
    instance.interfaces.pop_back();
    RenderedFile file = render_netplan(plan_of(instance), {{"eth0", "eth0"}});
    CHECK(file.content == kHeader + "network:\n  version: 2\n");
  }

  TEST_CASE("an empty plan renders a valid file") {
    CHECK(render_netplan(Plan{}, {}).content == kHeader + "network:\n  version: 2\n");
  }

  TEST_CASE("mode 0600 (netplan warns about anything more open), replacing only nicsync's file") {
    RenderedFile file = render_netplan(plan_of(test::aws_two_eni()), {});
    CHECK(file.mode == 0600u);
    CHECK(file.policy == WritePolicy::replace_owned);
  }

  TEST_CASE("the file starts with the ownership header") {
    RenderedFile file = render_netplan(plan_of(test::aws_two_eni()), {});
    CHECK(file.content.rfind(kOwnershipMarker, 0) == 0);
    CHECK(file.content.rfind(ownership_header(), 0) == 0);
    CHECK(ownership_header() == kHeader);
  }

  TEST_CASE("MACs are quoted (YAML 1.1 readers such as PyYAML take 12:34:56:10:20:30 for a base-60 number)") {
    Instance instance = test::aws_two_eni();
    instance.interfaces[1].mac = *MacAddress::parse("12:34:56:10:20:30");
    RenderedFile file = render_netplan(plan_of(instance), {});
    CHECK(file.content.find("        macaddress: \"12:34:56:10:20:30\"\n") != std::string::npos);
    CHECK(definition(file.content, "eth1")["match"]["macaddress"].as<std::string>() == "12:34:56:10:20:30");
  }

  TEST_CASE("a foreign id that is not a plain name is quoted") {
    RenderedFile file = render_netplan(plan_of(test::aws_two_eni()), {{"eth0", "on"}, {"eth1", "my nic: 1"}});
    CHECK(file.content == kHeader +
                              "network:\n"
                              "  version: 2\n"
                              "  ethernets:\n"
                              "    \"on\":\n"
                              "      addresses:\n"
                              "        - 10.0.0.58/32\n"
                              "    \"my nic: 1\":\n"
                              "      addresses:\n"
                              "        - 10.0.0.226/32\n"
                              "      routes:\n"
                              "        - to: 10.0.0.0/24\n"
                              "          scope: link\n"
                              "          table: 1001\n"
                              "        - to: default\n"
                              "          via: 10.0.0.1\n"
                              "          on-link: true\n"
                              "          table: 1001\n"
                              "        - to: default\n"
                              "          via: 10.0.0.1\n"
                              "          on-link: true\n"
                              "          metric: 1001\n"
                              "      routing-policy:\n"
                              "        - from: 10.0.0.226\n"
                              "          table: 1001\n"
                              "          priority: 1001\n");
    CHECK(definition(file.content, "my nic: 1")["addresses"][0].as<std::string>() == "10.0.0.226/32");
  }
}

TEST_SUITE("render::netplan_ids") {
  const std::string kCloudInit =
      "network:\n"
      "    ethernets:\n"
      "        eth0:\n"
      "            dhcp4: true\n"
      "            match:\n"
      "                macaddress: 02:86:10:77:7f:fe\n"
      "            set-name: eth0\n"
      "    version: 2\n";

  TEST_CASE("a definition keyed by the NIC's name is found by key") {
    NetplanIds ids = *find_netplan_ids(plan_of(test::aws_two_eni()),
                                       {{"/etc/netplan/50-cloud-init.yaml", kCloudInit}});
    CHECK(ids == NetplanIds{{"eth0", "eth0"}});
  }

  TEST_CASE("a definition under another key is found by set-name") {
    std::string text =
        "network:\n"
        "  version: 2\n"
        "  ethernets:\n"
        "    primary:\n"
        "      match:\n"
        "        driver: ena\n"
        "      set-name: eth0\n"
        "      dhcp4: true\n";
    NetplanIds ids = *find_netplan_ids(plan_of(test::aws_two_eni()), {{"/etc/netplan/50-cloud-init.yaml", text}});
    CHECK(ids == NetplanIds{{"eth0", "primary"}});
  }

  TEST_CASE("a definition under another key is found by match: macaddress, in any case") {
    std::string text =
        "network:\n"
        "  version: 2\n"
        "  ethernets:\n"
        "    ens5:\n"
        "      match:\n"
        "        macaddress: \"02:86:10:77:7F:FE\"\n"
        "      dhcp4: true\n"
        "    ens6:\n"
        "      match: {macaddress: 02:86:10:65:FD:31}\n";
    NetplanIds ids = *find_netplan_ids(plan_of(test::aws_two_eni()), {{"/etc/netplan/50-cloud-init.yaml", text}});
    CHECK(ids == NetplanIds{{"eth0", "ens5"}, {"eth1", "ens6"}});
  }

  TEST_CASE("the first file in the given order wins") {
    std::string first = "network: {version: 2, ethernets: {lan0: {set-name: eth0}}}\n";
    std::string second = "network: {version: 2, ethernets: {eth0: {dhcp4: true}, eth1: {dhcp4: false}}}\n";
    NetplanIds ids = *find_netplan_ids(plan_of(test::aws_two_eni()),
                                       {{"/etc/netplan/01-first.yaml", first}, {"/etc/netplan/50-second.yaml", second}});
    CHECK(ids == NetplanIds{{"eth0", "lan0"}, {"eth1", "eth1"}});
  }

  TEST_CASE("definitions under other device types are ignored") {
    std::string text =
        "network:\n"
        "  version: 2\n"
        "  bonds:\n"
        "    eth0:\n"
        "      interfaces: [eth1]\n"
        "  vlans:\n"
        "    eth1:\n"
        "      id: 5\n"
        "      link: eth0\n";
    NetplanIds ids = *find_netplan_ids(plan_of(test::aws_two_eni()), {{"/etc/netplan/60-bond.yaml", text}});
    CHECK(ids.empty());
  }

  TEST_CASE("a definition of another NIC is not taken") {
    std::string text =
        "network:\n"
        "  version: 2\n"
        "  ethernets:\n"
        "    ens5:\n"
        "      match:\n"
        "        macaddress: 0a:00:00:00:00:01\n"
        "      set-name: eth7\n";
    NetplanIds ids = *find_netplan_ids(plan_of(test::aws_two_eni()), {{"/etc/netplan/50-cloud-init.yaml", text}});
    CHECK(ids.empty());
  }

  TEST_CASE("files without network or ethernets, or with odd shapes, are tolerated") {
    std::vector<NetplanSource> sources = {
        {"/etc/netplan/00-empty.yaml", ""},
        {"/etc/netplan/01-comment.yaml", "# nothing here\n"},
        {"/etc/netplan/02-scalar.yaml", "just text\n"},
        {"/etc/netplan/03-no-ethernets.yaml", "network:\n  version: 2\n"},
        {"/etc/netplan/04-null-ethernets.yaml", "network:\n  version: 2\n  ethernets:\n"},
        {"/etc/netplan/05-list.yaml", "network:\n  ethernets: [eth0, eth1]\n"},
        {"/etc/netplan/06-odd-definitions.yaml",
         "network:\n  ethernets:\n    [a, b]: {}\n    x: 3\n    y: {match: 7, set-name: [eth0]}\n"},
    };
    NetplanIds ids = *find_netplan_ids(plan_of(test::aws_two_eni()), sources);
    CHECK(ids.empty());
  }

  TEST_CASE("a VLAN NIC is found in vlans: by name, or by tag on its parent's id; never in ethernets:") {
    Plan plan = plan_of(test::oracle_bm_vlan());
    std::string cloud_init =
        "network:\n"
        "  version: 2\n"
        "  ethernets:\n"
        "    enp94s0f0:\n"
        "      dhcp4: true\n"
        "      match:\n"
        "        macaddress: 90:e2:ba:d4:f1:68\n"
        "      set-name: ens3f0\n";
    SUBCASE("by name") {
      std::string vlans = "network:\n  vlans:\n    ens3f0.1: {id: 1, link: enp94s0f0}\n";
      NetplanIds ids = *find_netplan_ids(
          plan, {{"/etc/netplan/50-cloud-init.yaml", cloud_init}, {"/etc/netplan/60-vlans.yaml", vlans}});
      CHECK(ids == NetplanIds{{"ens3f0", "enp94s0f0"}, {"ens3f0.1", "ens3f0.1"}});
    }
    SUBCASE("by tag and the parent's id from another file") {
      std::string vlans =
          "network:\n  vlans:\n    other: {id: 2, link: enp94s0f0}\n    vnic2: {id: 1, link: enp94s0f0}\n";
      NetplanIds ids = *find_netplan_ids(
          plan, {{"/etc/netplan/40-vlans.yaml", vlans}, {"/etc/netplan/50-cloud-init.yaml", cloud_init}});
      CHECK(ids == NetplanIds{{"ens3f0", "enp94s0f0"}, {"ens3f0.1", "vnic2"}});
    }
    SUBCASE("by tag and the parent's name") {
      std::string vlans = "network:\n  vlans:\n    vnic2:\n      id: 1\n      link: ens3f0\n";
      NetplanIds ids = *find_netplan_ids(plan, {{"/etc/netplan/60-vlans.yaml", vlans}});
      CHECK(ids == NetplanIds{{"ens3f0.1", "vnic2"}});
    }
    SUBCASE("not by the tag alone, and not as an ethernet") {
      std::string other =
          "network:\n  ethernets:\n    ens3f0.1: {}\n  vlans:\n    vnic2: {id: 1, link: eth9}\n";
      NetplanIds ids = *find_netplan_ids(plan, {{"/etc/netplan/60-other.yaml", other}});
      CHECK(ids.empty());
    }
  }

  TEST_CASE("a file that is not valid YAML is an error naming the file, line and column") {
    std::string text =
        "network:\n"
        "  ethernets:\n"
        "    eth0: {dhcp4: true\n"
        "  version: 2\n";
    Result<NetplanIds> ids = find_netplan_ids(plan_of(test::aws_two_eni()),
                                              {{"/etc/netplan/50-cloud-init.yaml", text}});
    REQUIRE_FALSE(ids.ok());
    CHECK(ids.error().message ==
          "netplan: /etc/netplan/50-cloud-init.yaml line 4, column 10: end of map flow not found");
  }
}

TEST_SUITE("render::renderer") {
  TEST_CASE("renderer names round-trip") {
    for (RendererKind kind : {RendererKind::netplan, RendererKind::network_scripts}) {
      CHECK(*parse_renderer(renderer_name(kind)) == kind);
    }
    CHECK(renderer_name(RendererKind::netplan) == "netplan");
    CHECK(renderer_name(RendererKind::network_scripts) == "network-scripts");
  }

  TEST_CASE("an unknown renderer is an error naming it and the choices") {
    Result<RendererKind> kind = parse_renderer("ifupdown");
    REQUIRE_FALSE(kind.ok());
    CHECK(kind.error().message == "\"ifupdown\" is not a renderer (netplan or network-scripts)");
  }
}

namespace {

Plan plan_with(const Instance& instance, bool primary_rules, Addressing secondary) {
  PlanOptions options;
  options.primary_rules = primary_rules;
  options.secondary_addressing = secondary;
  return *make_plan(instance, options);
}

const std::string kEth0PrimaryRulesLists =
    "      addresses:\n"
    "        - 10.0.0.58/32\n"
    "      routes:\n"
    "        - to: 10.0.0.0/24\n"
    "          scope: link\n"
    "          table: 1000\n"
    "        - to: default\n"
    "          via: 10.0.0.1\n"
    "          on-link: true\n"
    "          table: 1000\n"
    "      routing-policy:\n"
    "        - from: 10.0.0.76\n"
    "          table: 1000\n"
    "          priority: 1000\n"
    "        - from: 10.0.0.58\n"
    "          table: 1000\n"
    "          priority: 1000\n";

}  // namespace

TEST_SUITE("render::netplan") {
  TEST_CASE("primary_rules: the primary keeps DHCP and gets its table's routes and a rule for the lease too") {
    RenderedFile file = render_netplan(plan_with(test::aws_two_eni(), true, Addressing::static_), {});
    CHECK(file.content == kHeader +
                              "network:\n"
                              "  version: 2\n"
                              "  ethernets:\n"
                              "    eth0:\n"
                              "      match:\n"
                              "        macaddress: \"02:86:10:77:7f:fe\"\n"
                              "      set-name: eth0\n"
                              "      dhcp4: true\n" +
                              kEth0PrimaryRulesLists + kEth1Full);
  }

  TEST_CASE("primary_rules with the primary in cloud-init's file: lists only under its id, no scalars") {
    RenderedFile file = render_netplan(plan_with(test::aws_two_eni(), true, Addressing::static_), {{"eth0", "ens5"}});
    CHECK(file.content == kHeader +
                              "network:\n"
                              "  version: 2\n"
                              "  ethernets:\n"
                              "    ens5:\n" +
                              kEth0PrimaryRulesLists + kEth1Full);
  }

  TEST_CASE("secondary_addressing dhcp: the NIC's lease adds no routes and its prefix route ranks below the primary's") {
    Instance instance = test::aws_two_eni();
    instance.interfaces[1].ipv4.addresses.push_back(*Ipv4Address::parse("10.0.0.227"));
    RenderedFile file = render_netplan(plan_with(instance, false, Addressing::dhcp), {{"eth0", "eth0"}});
    CHECK(file.content == kHeader +
                              "network:\n"
                              "  version: 2\n"
                              "  ethernets:\n"
                              "    eth0:\n"
                              "      addresses:\n"
                              "        - 10.0.0.58/32\n"
                              "    eth1:\n"
                              "      match:\n"
                              "        macaddress: \"02:86:10:65:fd:31\"\n"
                              "      set-name: eth1\n"
                              "      dhcp4: true\n"
                              "      dhcp4-overrides:\n"
                              "        use-routes: false\n"
                              "        route-metric: 1001\n"
                              "      accept-ra: false\n"
                              "      addresses:\n"
                              "        - 10.0.0.227/32\n"
                              "      routes:\n"
                              "        - to: 10.0.0.0/24\n"
                              "          scope: link\n"
                              "          table: 1001\n"
                              "        - to: default\n"
                              "          via: 10.0.0.1\n"
                              "          on-link: true\n"
                              "          table: 1001\n"
                              "        - to: default\n"
                              "          via: 10.0.0.1\n"
                              "          on-link: true\n"
                              "          metric: 1001\n"
                              "      routing-policy:\n"
                              "        - from: 10.0.0.226\n"
                              "          table: 1001\n"
                              "          priority: 1001\n"
                              "        - from: 10.0.0.227\n"
                              "          table: 1001\n"
                              "          priority: 1001\n");
  }

  TEST_CASE("secondary_addressing dhcp: a NIC with only its leased address has no addresses key") {
    RenderedFile file = render_netplan(plan_with(test::aws_two_eni(), false, Addressing::dhcp), {});
    YAML::Node eth1 = definition(file.content, "eth1");
    CHECK(eth1["dhcp4"].as<std::string>() == "true");
    CHECK(eth1["dhcp4-overrides"]["use-routes"].as<std::string>() == "false");
    CHECK(eth1["dhcp4-overrides"]["route-metric"].as<std::string>() == "1001");
    CHECK_FALSE(eth1["addresses"]);
    CHECK(eth1["routing-policy"][0]["from"].as<std::string>() == "10.0.0.226");
    // The primary is as without the setting: no overrides, RAs accepted.
    YAML::Node eth0 = definition(file.content, "eth0");
    CHECK_FALSE(eth0["dhcp4-overrides"]);
    CHECK_FALSE(eth0["accept-ra"]);
  }

  TEST_CASE("secondary_addressing dhcp with the NIC in another file: lists only, that file's DHCP settings stand") {
    RenderedFile file = render_netplan(plan_with(test::aws_two_eni(), false, Addressing::dhcp), {{"eth1", "ens6"}});
    YAML::Node ens6 = definition(file.content, "ens6");
    REQUIRE(ens6.IsMap());
    CHECK(ens6.size() == 2);
    CHECK(ens6["routes"].IsSequence());
    CHECK(ens6["routing-policy"].IsSequence());
  }

  TEST_CASE("secondary_addressing dhcp leaves a VLAN NIC static (dhcp4: false, no overrides)") {
    RenderedFile file = render_netplan(plan_with(test::oracle_bm_vlan(), false, Addressing::dhcp), {});
    YAML::Node vlan = YAML::Load(file.content)["network"]["vlans"]["ens3f0.1"];
    CHECK(vlan["dhcp4"].as<std::string>() == "false");
    CHECK_FALSE(vlan["dhcp4-overrides"]);
  }
}

TEST_SUITE("render::netplan IPv6") {
  TEST_CASE("dual stack: /128s after the /32s, v6 routes after v4 (no on-link, no scope), v6 rules after v4") {
    RenderedFile file = render_netplan(plan_of(test::dual_stack_with_gateway()), {});
    CHECK(file.content == kHeader +
                              "network:\n"
                              "  version: 2\n"
                              "  ethernets:\n"
                              "    eth0:\n"
                              "      match:\n"
                              "        macaddress: \"0a:07:84:3d:6e:38\"\n"
                              "      set-name: eth0\n"
                              "      dhcp4: true\n"
                              "      addresses:\n"
                              "        - 172.31.45.70/32\n"
                              "        - 2600:1f16:292:100:c187:593c:4349:136/128\n"
                              "        - 2600:1f16:292:100:f153:12a3:c37c:11f9/128\n"
                              "    eth1:\n"
                              "      match:\n"
                              "        macaddress: \"0a:75:69:92:e2:16\"\n"
                              "      set-name: eth1\n"
                              "      dhcp4: false\n"
                              "      accept-ra: false\n"
                              "      addresses:\n"
                              "        - 172.31.47.221/32\n"
                              "        - 2600:1f16:292:100:9f27:ae11:5c02:be61/128\n"
                              "        - 2600:1f16:292:100:3c4d:78e0:fa12:d907/128\n"
                              "      routes:\n"
                              "        - to: 172.31.32.0/20\n"
                              "          scope: link\n"
                              "          table: 1001\n"
                              "        - to: default\n"
                              "          via: 172.31.32.1\n"
                              "          on-link: true\n"
                              "          table: 1001\n"
                              "        - to: default\n"
                              "          via: 172.31.32.1\n"
                              "          on-link: true\n"
                              "          metric: 1001\n"
                              "        - to: 2600:1f16:292:100::/64\n"
                              "          table: 1001\n"
                              "        - to: default\n"
                              "          via: fe80::1\n"
                              "          table: 1001\n"
                              "        - to: default\n"
                              "          via: fe80::1\n"
                              "          metric: 2025\n"
                              "      routing-policy:\n"
                              "        - from: 172.31.47.221\n"
                              "          table: 1001\n"
                              "          priority: 1001\n"
                              "        - from: 2600:1f16:292:100:9f27:ae11:5c02:be61\n"
                              "          table: 1001\n"
                              "          priority: 1001\n"
                              "        - from: 2600:1f16:292:100:3c4d:78e0:fa12:d907\n"
                              "          table: 1001\n"
                              "          priority: 1001\n");
  }

  TEST_CASE("an IPv6-only NIC: dhcp4 false, no RAs, its /128 and IPv6 lists only") {
    Instance instance = test::aws_two_eni();
    instance.interfaces.push_back(test::ipv6_only_nic("eth2", "02:86:10:65:fd:33", 2,
                                                      {"2603:c020:400d:5d7e:aacc:8e5f:3b1b:3a4a"},
                                                      "2603:c020:400d:5d7e::/64", "fe80::200:17ff:fe40:8972"));
    RenderedFile file = render_netplan(plan_of(instance), {});
    CHECK(file.content.ends_with("    eth2:\n"
                                 "      match:\n"
                                 "        macaddress: \"02:86:10:65:fd:33\"\n"
                                 "      set-name: eth2\n"
                                 "      dhcp4: false\n"
                                 "      accept-ra: false\n"
                                 "      addresses:\n"
                                 "        - 2603:c020:400d:5d7e:aacc:8e5f:3b1b:3a4a/128\n"
                                 "      routes:\n"
                                 "        - to: 2603:c020:400d:5d7e::/64\n"
                                 "          table: 1002\n"
                                 "        - to: default\n"
                                 "          via: fe80::200:17ff:fe40:8972\n"
                                 "          table: 1002\n"
                                 "        - to: default\n"
                                 "          via: fe80::200:17ff:fe40:8972\n"
                                 "          metric: 2026\n"
                                 "      routing-policy:\n"
                                 "        - from: 2603:c020:400d:5d7e:aacc:8e5f:3b1b:3a4a\n"
                                 "          table: 1002\n"
                                 "          priority: 1002\n"));
  }

  TEST_CASE("delegated prefixes: local routes of type local in table 255, rules from the prefixes") {
    RenderedFile file = render_netplan(plan_of(test::aws_prefixes()), {});
    CHECK(file.content.ends_with("      routes:\n"
                                 "        - to: 10.20.1.0/24\n"
                                 "          scope: link\n"
                                 "          table: 1001\n"
                                 "        - to: default\n"
                                 "          via: 10.20.1.1\n"
                                 "          on-link: true\n"
                                 "          table: 1001\n"
                                 "        - to: default\n"
                                 "          via: 10.20.1.1\n"
                                 "          on-link: true\n"
                                 "          metric: 1001\n"
                                 "        - to: 10.20.1.48/28\n"
                                 "          type: local\n"
                                 "          table: 255\n"
                                 "        - to: 2600:1f14:a4b:b01::/64\n"
                                 "          table: 1001\n"
                                 "        - to: 2600:1f14:a4b:b01:8f2d::/80\n"
                                 "          type: local\n"
                                 "          table: 255\n"
                                 "      routing-policy:\n"
                                 "        - from: 10.20.1.184\n"
                                 "          table: 1001\n"
                                 "          priority: 1001\n"
                                 "        - from: 10.20.1.48/28\n"
                                 "          table: 1001\n"
                                 "          priority: 1001\n"
                                 "        - from: 2600:1f14:a4b:b01:e1d8:4a26:71b0:932f\n"
                                 "          table: 1001\n"
                                 "          priority: 1001\n"
                                 "        - from: 2600:1f14:a4b:b01:8f2d::/80\n"
                                 "          table: 1001\n"
                                 "          priority: 1001\n"));
  }

  TEST_CASE("a single NIC with IPv6 and no policy routing: its addresses and local routes, no routing-policy") {
    Instance instance = test::aws_prefixes();
    instance.interfaces.erase(instance.interfaces.begin());
    instance.interfaces[0].role = NicRole::primary;
    RenderedFile file = render_netplan(plan_of(instance), {});
    YAML::Node eth1 = definition(file.content, "eth1");
    CHECK(eth1["dhcp4"].as<std::string>() == "true");
    CHECK_FALSE(eth1["accept-ra"]);  // the primary keeps its RAs
    CHECK(eth1["addresses"].size() == 1);
    CHECK(eth1["addresses"][0].as<std::string>() == "2600:1f14:a4b:b01:e1d8:4a26:71b0:932f/128");
    REQUIRE(eth1["routes"].size() == 2);
    CHECK(eth1["routes"][1]["to"].as<std::string>() == "2600:1f14:a4b:b01:8f2d::/80");
    CHECK(eth1["routes"][1]["type"].as<std::string>() == "local");
    CHECK_FALSE(eth1["routing-policy"]);
  }

  TEST_CASE("subtraction: a NIC whose IPv4 another file fully configures keeps its IPv6 lists") {
    Plan plan = plan_of(test::aws_dual_stack());
    const std::string other =
        "network:\n"
        "  version: 2\n"
        "  ethernets:\n"
        "    eth1:\n"
        "      dhcp4: false\n"
        "      addresses: [172.31.47.221/20]\n"
        "      routes:\n"
        "        - {to: 172.31.32.0/20, scope: link, table: 1001}\n"
        "        - {to: default, via: 172.31.32.1, on-link: true, table: 1001}\n"
        "        - {to: default, via: 172.31.32.1, on-link: true, metric: 1001}\n"
        "      routing-policy:\n"
        "        - {from: 172.31.47.221, table: 1001, priority: 1001}\n";
    NetplanExisting existing = *read_netplan_existing(plan, {{"/etc/netplan/50-other.yaml", other}});
    std::vector<std::string> notes;
    Plan left = subtract_configured(plan, existing, notes);
    REQUIRE(left.nics.size() == 2);
    const NicPlan& eth1 = left.nics[1];
    CHECK(eth1.addresses.empty());
    CHECK(eth1.routes.empty());
    CHECK(eth1.rules.empty());
    CHECK(eth1.addresses6 == plan.nics[1].addresses6);
    REQUIRE(eth1.routes6.size() == 1);
    CHECK(eth1.routes6[0].destination == *Ipv6Cidr::parse("2600:1f16:292:100::/64"));
    CHECK(eth1.rules6.size() == 2);
  }

  TEST_CASE("subtraction: another file's policy routing for the NIC takes both families' routes and rules, not the local routes") {
    Plan plan = plan_of(test::aws_prefixes());
    const std::string other =
        "network:\n"
        "  version: 2\n"
        "  ethernets:\n"
        "    eth1:\n"
        "      routing-policy:\n"
        "        - {from: 10.20.1.184, table: 101}\n";
    NetplanExisting existing = *read_netplan_existing(plan, {{"/etc/netplan/50-other.yaml", other}});
    std::vector<std::string> notes;
    Plan left = subtract_configured(plan, existing, notes);
    REQUIRE(left.nics.size() == 2);
    const NicPlan& eth1 = left.nics[1];
    CHECK_FALSE(eth1.table.has_value());
    REQUIRE(eth1.routes.size() == 1);
    CHECK(eth1.routes[0].type == RouteType::local);
    CHECK(eth1.rules.empty());
    REQUIRE(eth1.routes6.size() == 1);
    CHECK(eth1.routes6[0].type == RouteType::local);
    CHECK(eth1.rules6.empty());
    CHECK(eth1.addresses6.size() == 1);
  }
}
