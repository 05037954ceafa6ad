#include <doctest/doctest.h>

#include <regex>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "instances.hpp"
#include "nicsync/plan.hpp"
#include "nicsync/render.hpp"

using namespace nicsync;

namespace {

const std::string kHeader =
    "# Written by nicsync from the instance metadata. Do not edit: changes are overwritten.\n"
    "# Settings: /etc/nicsync/nicsync.yaml; the files nicsync owns are listed in "
    "/var/lib/nicsync/state.json.\n";

const std::string kDir = "/etc/sysconfig/network-scripts/";

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

std::vector<std::string> paths_of(const std::vector<RenderedFile>& files) {
  std::vector<std::string> paths;
  for (const RenderedFile& file : files) paths.push_back(file.path);
  return paths;
}

const RenderedFile& file_at(const std::vector<RenderedFile>& files, const std::string& path) {
  for (const RenderedFile& file : files) {
    if (file.path == path) return file;
  }
  FAIL("no rendered file " << path);
  throw std::logic_error("unreachable");
}

/// The lines of a text that are not whole-line comments.
std::vector<std::string> body_lines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (line.empty() || line[0] != '#') lines.push_back(line);
  }
  return lines;
}

}  // namespace

TEST_SUITE("render::network_scripts") {
  TEST_CASE("two ENIs: primary ifcfg + alias, then eth1's ifcfg, route and rule files, in that order") {
    std::vector<RenderedFile> files = render_network_scripts(plan_of(test::aws_two_eni()));
    REQUIRE(paths_of(files) == std::vector<std::string>{kDir + "ifcfg-eth0", kDir + "ifcfg-eth0:0",
                                                        kDir + "ifcfg-eth1", kDir + "route-eth1",
                                                        kDir + "rule-eth1"});
    CHECK(files[0].content == kHeader +
                                  "DEVICE=eth0\n"
                                  "BOOTPROTO=dhcp\n"
                                  "ONBOOT=yes\n"
                                  "HWADDR=02:86:10:77:7f:fe\n");
    CHECK(files[1].content == kHeader +
                                  "DEVICE=eth0:0\n"
                                  "BOOTPROTO=static\n"
                                  "IPADDR=10.0.0.58\n"
                                  "NETMASK=255.255.255.0\n"
                                  "ONBOOT=yes\n"
                                  "ARPCHECK=no\n"
                                  "ARPUPDATE=no\n");
    CHECK(files[2].content == kHeader +
                                  "DEVICE=eth1\n"
                                  "HWADDR=02:86:10:65:fd:31\n"
                                  "BOOTPROTO=none\n"
                                  "ONBOOT=yes\n"
                                  "IPADDR=10.0.0.226\n"
                                  "PREFIX=32\n"
                                  "ARPCHECK=no\n"
                                  "ARPUPDATE=no\n"
                                  "DEFROUTE=no\n"
                                  "PEERDNS=no\n");
    CHECK(files[3].content == kHeader +
                                  "10.0.0.0/24 dev eth1 scope link table 1001\n"
                                  "default via 10.0.0.1 dev eth1 table 1001 onlink\n"
                                  "default via 10.0.0.1 dev eth1 metric 1001 onlink\n");
    CHECK(files[4].content == kHeader + "from 10.0.0.226 table 1001 priority 1001\n");
  }

  TEST_CASE("the primary's ifcfg stays DHCP, is only created when absent, and holds no IPADDRn") {
    // IPADDR1 inside a BOOTPROTO=dhcp ifcfg is silently ignored by ifup-eth.
    std::vector<RenderedFile> files = render_network_scripts(plan_of(aws_multi_ip()));
    const RenderedFile& eth0 = file_at(files, kDir + "ifcfg-eth0");
    CHECK(eth0.content == kHeader +
                              "DEVICE=eth0\n"
                              "BOOTPROTO=dhcp\n"
                              "ONBOOT=yes\n"
                              "HWADDR=0a:07:84:3d:6e:38\n");
    CHECK(eth0.policy == WritePolicy::create_only);
    CHECK(eth0.content.find("IPADDR") == std::string::npos);
  }

  TEST_CASE("the primary's secondary IPs are alias files with the subnet's netmask, numbered from 0") {
    // The lease is configured first, so it stays the source address; without PREFIX or NETMASK
    // ifup-aliases errs and uses /32.
    Instance instance = aws_multi_ip();
    instance.interfaces[0].ipv4.addresses.push_back(*Ipv4Address::parse("172.31.40.9"));
    std::vector<RenderedFile> files = render_network_scripts(plan_of(instance));
    REQUIRE(paths_of(files) == std::vector<std::string>{kDir + "ifcfg-eth0", kDir + "ifcfg-eth0:0",
                                                        kDir + "ifcfg-eth0:1", kDir + "ifcfg-eth1",
                                                        kDir + "route-eth1", kDir + "rule-eth1"});
    CHECK(files[1].content == kHeader +
                                  "DEVICE=eth0:0\n"
                                  "BOOTPROTO=static\n"
                                  "IPADDR=172.31.45.70\n"
                                  "NETMASK=255.255.240.0\n"
                                  "ONBOOT=yes\n"
                                  "ARPCHECK=no\n"
                                  "ARPUPDATE=no\n");
    CHECK(files[2].content == kHeader +
                                  "DEVICE=eth0:1\n"
                                  "BOOTPROTO=static\n"
                                  "IPADDR=172.31.40.9\n"
                                  "NETMASK=255.255.240.0\n"
                                  "ONBOOT=yes\n"
                                  "ARPCHECK=no\n"
                                  "ARPUPDATE=no\n");
    CHECK(files[1].policy == WritePolicy::replace_owned);
    CHECK(files[2].policy == WritePolicy::replace_owned);
  }

  TEST_CASE("a secondary NIC's addresses are /32 with indexed PREFIXn, ARPCHECKn and ARPUPDATEn") {
    Instance instance = test::aws_two_eni();
    instance.interfaces[1].ipv4.addresses.push_back(*Ipv4Address::parse("10.0.0.227"));
    instance.interfaces[1].ipv4.addresses.push_back(*Ipv4Address::parse("10.0.0.228"));
    std::vector<RenderedFile> files = render_network_scripts(plan_of(instance));
    CHECK(file_at(files, kDir + "ifcfg-eth1").content == kHeader +
                                                             "DEVICE=eth1\n"
                                                             "HWADDR=02:86:10:65:fd:31\n"
                                                             "BOOTPROTO=none\n"
                                                             "ONBOOT=yes\n"
                                                             "IPADDR=10.0.0.226\n"
                                                             "PREFIX=32\n"
                                                             "ARPCHECK=no\n"
                                                             "ARPUPDATE=no\n"
                                                             "IPADDR1=10.0.0.227\n"
                                                             "PREFIX1=32\n"
                                                             "ARPCHECK1=no\n"
                                                             "ARPUPDATE1=no\n"
                                                             "IPADDR2=10.0.0.228\n"
                                                             "PREFIX2=32\n"
                                                             "ARPCHECK2=no\n"
                                                             "ARPUPDATE2=no\n"
                                                             "DEFROUTE=no\n"
                                                             "PEERDNS=no\n");
    CHECK(file_at(files, kDir + "rule-eth1").content == kHeader +
                                                            "from 10.0.0.226 table 1001 priority 1001\n"
                                                            "from 10.0.0.227 table 1001 priority 1001\n"
                                                            "from 10.0.0.228 table 1001 priority 1001\n");
  }

  TEST_CASE("every IPADDRn of a static NIC has its PREFIXn (without it: /32 by accident, not by design)") {
    Instance instance = test::aws_two_eni();
    instance.interfaces[1].ipv4.addresses.push_back(*Ipv4Address::parse("10.0.0.227"));
    std::string text = file_at(render_network_scripts(plan_of(instance)), kDir + "ifcfg-eth1").content;
    std::regex ipaddr("^IPADDR([0-9]*)=");
    int count = 0;
    for (const std::string& line : body_lines(text)) {
      std::smatch m;
      if (!std::regex_search(line, m, ipaddr)) continue;
      ++count;
      std::string index = m[1].str();
      CHECK(text.find("\nPREFIX" + index + "=32\n") != std::string::npos);
      CHECK(text.find("\nARPCHECK" + index + "=no\n") != std::string::npos);
      CHECK(text.find("\nARPUPDATE" + index + "=no\n") != std::string::npos);
    }
    CHECK(count == 2);
  }

  TEST_CASE("a secondary NIC never takes the default route: DEFROUTE=no and no GATEWAY") {
    for (const Instance& instance : {test::aws_two_eni(), aws_multi_ip()}) {
      std::string text = file_at(render_network_scripts(plan_of(instance)), kDir + "ifcfg-eth1").content;
      CHECK(text.find("\nDEFROUTE=no\n") != std::string::npos);
      CHECK(text.find("GATEWAY") == std::string::npos);
    }
  }

  TEST_CASE("route and rule lines: ip arguments only, each with dev, no ADDRESSn= line, no trailing comment") {
    for (const Instance& instance : {test::aws_two_eni(), aws_multi_ip()}) {
      std::vector<RenderedFile> files = render_network_scripts(plan_of(instance));
      std::vector<std::string> routes = body_lines(file_at(files, kDir + "route-eth1").content);
      std::vector<std::string> rules = body_lines(file_at(files, kDir + "rule-eth1").content);
      REQUIRE(routes.size() == 3);
      REQUIRE(rules.size() == 1);
      for (const std::string& line : routes) {
        CHECK(line.find(" dev eth1") != std::string::npos);
        CHECK_FALSE(std::regex_search(line, std::regex("^[[:space:]]*ADDRESS[0-9]+=")));
        CHECK(line.find('#') == std::string::npos);
        CHECK(line.find('=') == std::string::npos);
      }
      for (const std::string& line : rules) CHECK(line.find('#') == std::string::npos);
      // Every comment is a whole line starting with '#'.
      for (const RenderedFile& file : files) {
        std::istringstream in(file.content);
        for (std::string line; std::getline(in, line);) {
          if (line.find('#') != std::string::npos) CHECK(line[0] == '#');
        }
      }
    }
  }

  TEST_CASE("routes via the gateway are onlink, after the link route of the same table") {
    std::vector<std::string> routes =
        body_lines(file_at(render_network_scripts(plan_of(aws_multi_ip())), kDir + "route-eth1").content);
    CHECK(routes == std::vector<std::string>{
                        "172.31.32.0/20 dev eth1 scope link table 1001",
                        "default via 172.31.32.1 dev eth1 table 1001 onlink",
                        "default via 172.31.32.1 dev eth1 metric 1001 onlink",
                    });
  }

  TEST_CASE("a static NIC without policy routing gets its ifcfg only") {
    std::vector<RenderedFile> files = render_network_scripts(plan_of(test::aws_two_eni(), PolicyRouting::off));
    CHECK(paths_of(files) ==
          std::vector<std::string>{kDir + "ifcfg-eth0", kDir + "ifcfg-eth0:0", kDir + "ifcfg-eth1"});
  }

  TEST_CASE("a primary without secondary IPs gets no alias file") {
    Instance instance = test::aws_two_eni();
    instance.interfaces[0].ipv4.addresses.pop_back();
    CHECK(paths_of(render_network_scripts(plan_of(instance))) ==
          std::vector<std::string>{kDir + "ifcfg-eth0", kDir + "ifcfg-eth1", kDir + "route-eth1", kDir + "rule-eth1"});
  }

  TEST_CASE("every file is mode 0644 and starts with the ownership header") {
    for (const RenderedFile& file : render_network_scripts(plan_of(test::aws_two_eni()))) {
      CAPTURE(file.path);
      CHECK(file.mode == 0644u);
      CHECK(file.content.rfind(kHeader, 0) == 0);
      CHECK(file.content.rfind(kOwnershipMarker, 0) == 0);
    }
  }

  TEST_CASE("only the primary's ifcfg is create-only; nicsync's own files are replaced") {
    std::vector<RenderedFile> files = render_network_scripts(plan_of(test::aws_two_eni()));
    std::vector<WritePolicy> policies;
    for (const RenderedFile& file : files) policies.push_back(file.policy);
    CHECK(policies == std::vector<WritePolicy>{WritePolicy::create_only, WritePolicy::replace_owned,
                                               WritePolicy::replace_owned, WritePolicy::replace_owned,
                                               WritePolicy::replace_owned});
  }

  TEST_CASE("a VLAN NIC: ifcfg with VLAN=yes, PHYSDEV, VID, MACADDR (no HWADDR); route and rule files") {
    std::vector<RenderedFile> files = render_network_scripts(plan_of(test::oracle_bm_vlan()));
    REQUIRE(paths_of(files) == std::vector<std::string>{kDir + "ifcfg-ens3f0", kDir + "ifcfg-ens3f0.1",
                                                        kDir + "route-ens3f0.1", kDir + "rule-ens3f0.1"});
    CHECK(files[0].content == kHeader +
                                  "DEVICE=ens3f0\n"
                                  "BOOTPROTO=dhcp\n"
                                  "ONBOOT=yes\n"
                                  "HWADDR=90:e2:ba:d4:f1:68\n");
    // ifup creates the device from VID and PHYSDEV (which a "vlanN" name needs); ifup-eth sets
    // MACADDR on it, whereas HWADDR would make it look for a device that already has the MAC.
    CHECK(files[1].content == kHeader +
                                  "DEVICE=ens3f0.1\n"
                                  "VLAN=yes\n"
                                  "PHYSDEV=ens3f0\n"
                                  "VID=1\n"
                                  "MACADDR=02:00:17:05:cf:51\n"
                                  "BOOTPROTO=none\n"
                                  "ONBOOT=yes\n"
                                  "IPADDR=10.0.4.5\n"
                                  "PREFIX=32\n"
                                  "ARPCHECK=no\n"
                                  "ARPUPDATE=no\n"
                                  "DEFROUTE=no\n"
                                  "PEERDNS=no\n");
    CHECK(files[1].policy == WritePolicy::replace_owned);
    CHECK(files[2].content == kHeader +
                                  "10.0.4.0/24 dev ens3f0.1 scope link table 1001\n"
                                  "default via 10.0.4.1 dev ens3f0.1 table 1001 onlink\n"
                                  "default via 10.0.4.1 dev ens3f0.1 metric 1001 onlink\n");
    CHECK(files[3].content == kHeader + "from 10.0.4.5 table 1001 priority 1001\n");
  }

  TEST_CASE("a VLAN named vlan<id> names its parent in PHYSDEV") {
    Instance instance = test::oracle_bm_vlan();
    instance.interfaces[0].os_name = *InterfaceName::parse("enp94s0f0np0");
    instance.interfaces[1].os_name = *InterfaceName::parse("vlan1039");
    instance.interfaces[1].vlan = VlanInfo{1039, 0, *InterfaceName::parse("enp94s0f0np0")};
    std::vector<std::string> lines =
        body_lines(file_at(render_network_scripts(plan_of(instance)), kDir + "ifcfg-vlan1039").content);
    REQUIRE(lines.size() > 5);
    CHECK(std::vector<std::string>(lines.begin(), lines.begin() + 5) ==
          std::vector<std::string>{"DEVICE=vlan1039", "VLAN=yes", "PHYSDEV=enp94s0f0np0", "VID=1039",
                                   "MACADDR=02:00:17:05:cf:51"});
  }
}

namespace {

Plan plan_with(const Instance& instance, bool primary_rules, Addressing secondary) {
  PlanOptions options;
  options.primary_rules = primary_rules;
  options.secondary_addressing = secondary;
  return *make_plan(instance, options);
}

}  // namespace

TEST_SUITE("render::network_scripts") {
  TEST_CASE("primary_rules: route- and rule-<primary> files; the primary's ifcfg stays DHCP and create-only") {
    std::vector<RenderedFile> files = render_network_scripts(plan_with(test::aws_two_eni(), true, Addressing::static_));
    REQUIRE(paths_of(files) == std::vector<std::string>{kDir + "ifcfg-eth0", kDir + "ifcfg-eth0:0",
                                                        kDir + "route-eth0", kDir + "rule-eth0",
                                                        kDir + "ifcfg-eth1", kDir + "route-eth1",
                                                        kDir + "rule-eth1"});
    CHECK(files[0].content == kHeader +
                                  "DEVICE=eth0\n"
                                  "BOOTPROTO=dhcp\n"
                                  "ONBOOT=yes\n"
                                  "HWADDR=02:86:10:77:7f:fe\n");
    CHECK(files[0].policy == WritePolicy::create_only);
    // No fallback default in main: the lease gives main its default.
    CHECK(files[2].content == kHeader +
                                  "10.0.0.0/24 dev eth0 scope link table 1000\n"
                                  "default via 10.0.0.1 dev eth0 table 1000 onlink\n");
    CHECK(files[2].policy == WritePolicy::replace_owned);
    CHECK(files[3].content == kHeader +
                                  "from 10.0.0.76 table 1000 priority 1000\n"
                                  "from 10.0.0.58 table 1000 priority 1000\n");
    CHECK(files[3].policy == WritePolicy::replace_owned);
  }

  TEST_CASE("secondary_addressing dhcp: a DHCP ifcfg of nicsync's without default route, /32 aliases, the NIC's routes and rules") {
    Instance instance = test::aws_two_eni();
    instance.interfaces[1].ipv4.addresses.push_back(*Ipv4Address::parse("10.0.0.227"));
    std::vector<RenderedFile> files = render_network_scripts(plan_with(instance, false, Addressing::dhcp));
    REQUIRE(paths_of(files) == std::vector<std::string>{kDir + "ifcfg-eth0", kDir + "ifcfg-eth0:0",
                                                        kDir + "ifcfg-eth1", kDir + "ifcfg-eth1:0",
                                                        kDir + "route-eth1", kDir + "rule-eth1"});
    CHECK(files[2].content == kHeader +
                                  "DEVICE=eth1\n"
                                  "BOOTPROTO=dhcp\n"
                                  "ONBOOT=yes\n"
                                  "HWADDR=02:86:10:65:fd:31\n"
                                  "DEFROUTE=no\n"
                                  "PEERDNS=no\n"
                                  "PERSISTENT_DHCLIENT=yes\n");
    CHECK(files[2].policy == WritePolicy::replace_owned);
    CHECK(files[3].content == kHeader +
                                  "DEVICE=eth1:0\n"
                                  "BOOTPROTO=static\n"
                                  "IPADDR=10.0.0.227\n"
                                  "PREFIX=32\n"
                                  "ONBOOT=yes\n"
                                  "ARPCHECK=no\n"
                                  "ARPUPDATE=no\n");
    CHECK(files[4].content == kHeader +
                                  "10.0.0.0/24 dev eth1 scope link table 1001\n"
                                  "default via 10.0.0.1 dev eth1 table 1001 onlink\n"
                                  "default via 10.0.0.1 dev eth1 metric 1001 onlink\n");
    CHECK(files[5].content == kHeader +
                                  "from 10.0.0.226 table 1001 priority 1001\n"
                                  "from 10.0.0.227 table 1001 priority 1001\n");
    // The primary's files are as without the setting.
    CHECK(files[0].policy == WritePolicy::create_only);
    CHECK(files[1].content.find("NETMASK=255.255.255.0\n") != std::string::npos);
  }

  TEST_CASE("secondary_addressing dhcp leaves a VLAN NIC static") {
    std::vector<RenderedFile> files = render_network_scripts(plan_with(test::oracle_bm_vlan(), false, Addressing::dhcp));
    std::string text = file_at(files, kDir + "ifcfg-ens3f0.1").content;
    CHECK(text.find("BOOTPROTO=none\n") != std::string::npos);
    CHECK(text.find("IPADDR=10.0.4.5\n") != std::string::npos);
  }
}

TEST_SUITE("render::network_scripts IPv6") {
  TEST_CASE("dual stack: the primary's created ifcfg takes RAs and lists its IPv6 addresses; eth1 static /128s, route6 and rule6") {
    std::vector<RenderedFile> files = render_network_scripts(plan_of(test::dual_stack_with_gateway()));
    REQUIRE(paths_of(files) == std::vector<std::string>{kDir + "ifcfg-eth0", kDir + "ifcfg-eth0:0",
                                                        kDir + "ifcfg-eth1", kDir + "route-eth1",
                                                        kDir + "rule-eth1", kDir + "route6-eth1",
                                                        kDir + "rule6-eth1"});
    CHECK(files[0].content == kHeader +
                                  "DEVICE=eth0\n"
                                  "BOOTPROTO=dhcp\n"
                                  "ONBOOT=yes\n"
                                  "HWADDR=0a:07:84:3d:6e:38\n"
                                  "IPV6INIT=yes\n"
                                  "IPV6_AUTOCONF=yes\n"
                                  "IPV6ADDR_SECONDARIES=\"2600:1f16:292:100:c187:593c:4349:136/128 "
                                  "2600:1f16:292:100:f153:12a3:c37c:11f9/128\"\n");
    CHECK(files[0].policy == WritePolicy::create_only);
    CHECK(files[2].content == kHeader +
                                  "DEVICE=eth1\n"
                                  "HWADDR=0a:75:69:92:e2:16\n"
                                  "BOOTPROTO=none\n"
                                  "ONBOOT=yes\n"
                                  "IPADDR=172.31.47.221\n"
                                  "PREFIX=32\n"
                                  "ARPCHECK=no\n"
                                  "ARPUPDATE=no\n"
                                  "DEFROUTE=no\n"
                                  "PEERDNS=no\n"
                                  "IPV6INIT=yes\n"
                                  "IPV6_AUTOCONF=no\n"
                                  "IPV6_DEFROUTE=no\n"
                                  "DHCPV6C=no\n"
                                  "IPV6ADDR=2600:1f16:292:100:9f27:ae11:5c02:be61/128\n"
                                  "IPV6ADDR_SECONDARIES=\"2600:1f16:292:100:3c4d:78e0:fa12:d907/128\"\n");
    CHECK(files[3].content == kHeader +
                                  "172.31.32.0/20 dev eth1 scope link table 1001\n"
                                  "default via 172.31.32.1 dev eth1 table 1001 onlink\n"
                                  "default via 172.31.32.1 dev eth1 metric 1001 onlink\n");
    CHECK(files[4].content == kHeader + "from 172.31.47.221 table 1001 priority 1001\n");
    CHECK(files[5].content == kHeader +
                                  "2600:1f16:292:100::/64 dev eth1 table 1001\n"
                                  "default via fe80::1 dev eth1 table 1001\n"
                                  "default via fe80::1 dev eth1 metric 2025\n");
    CHECK(files[6].content == kHeader +
                                  "from 2600:1f16:292:100:9f27:ae11:5c02:be61 table 1001 priority 1001\n"
                                  "from 2600:1f16:292:100:3c4d:78e0:fa12:d907 table 1001 priority 1001\n");
    for (const RenderedFile& file : files) CHECK(file.mode == 0644);
  }

  TEST_CASE("one IPv6 address: IPV6ADDR only, no IPV6ADDR_SECONDARIES") {
    Instance instance = test::aws_dual_stack();
    instance.interfaces[1].ipv6.addresses.pop_back();
    std::string text = file_at(render_network_scripts(plan_of(instance)), kDir + "ifcfg-eth1").content;
    CHECK(text.find("IPV6ADDR=2600:1f16:292:100:9f27:ae11:5c02:be61/128\n") != std::string::npos);
    CHECK(text.find("IPV6ADDR_SECONDARIES") == std::string::npos);
  }

  TEST_CASE("an IPv6-only static NIC: no IPADDR or PREFIX lines, no IPv4 route or rule file") {
    Instance instance = test::aws_two_eni();
    instance.interfaces.push_back(test::ipv6_only_nic("eth2", "02:86:10:65:fd:33", 2,
                                                      {"2603:c020:400d:5d7e:aacc:8e5f:3b1b:3a4a"},
                                                      "2603:c020:400d:5d7e::/64", "fe80::200:17ff:fe40:8972"));
    std::vector<RenderedFile> files = render_network_scripts(plan_of(instance));
    CHECK(paths_of(files) == std::vector<std::string>{kDir + "ifcfg-eth0", kDir + "ifcfg-eth0:0", kDir + "ifcfg-eth1",
                                                      kDir + "route-eth1", kDir + "rule-eth1", kDir + "ifcfg-eth2",
                                                      kDir + "route6-eth2", kDir + "rule6-eth2"});
    CHECK(file_at(files, kDir + "ifcfg-eth2").content == kHeader +
                                                             "DEVICE=eth2\n"
                                                             "HWADDR=02:86:10:65:fd:33\n"
                                                             "BOOTPROTO=none\n"
                                                             "ONBOOT=yes\n"
                                                             "DEFROUTE=no\n"
                                                             "PEERDNS=no\n"
                                                             "IPV6INIT=yes\n"
                                                             "IPV6_AUTOCONF=no\n"
                                                             "IPV6_DEFROUTE=no\n"
                                                             "DHCPV6C=no\n"
                                                             "IPV6ADDR=2603:c020:400d:5d7e:aacc:8e5f:3b1b:3a4a/128\n");
    CHECK(file_at(files, kDir + "route6-eth2").content == kHeader +
                                                              "2603:c020:400d:5d7e::/64 dev eth2 table 1002\n"
                                                              "default via fe80::200:17ff:fe40:8972 dev eth2 table 1002\n"
                                                              "default via fe80::200:17ff:fe40:8972 dev eth2 metric 2026\n");
  }

  TEST_CASE("delegated prefixes: local routes in route-/route6- (table 255), prefix rules in rule-/rule6-") {
    std::vector<RenderedFile> files = render_network_scripts(plan_of(test::aws_prefixes()));
    CHECK(file_at(files, kDir + "route-eth1").content == kHeader +
                                                             "10.20.1.0/24 dev eth1 scope link table 1001\n"
                                                             "default via 10.20.1.1 dev eth1 table 1001 onlink\n"
                                                             "default via 10.20.1.1 dev eth1 metric 1001 onlink\n"
                                                             "local 10.20.1.48/28 dev eth1 table 255\n");
    CHECK(file_at(files, kDir + "rule-eth1").content == kHeader +
                                                            "from 10.20.1.184 table 1001 priority 1001\n"
                                                            "from 10.20.1.48/28 table 1001 priority 1001\n");
    CHECK(file_at(files, kDir + "route6-eth1").content == kHeader +
                                                              "2600:1f14:a4b:b01::/64 dev eth1 table 1001\n"
                                                              "local 2600:1f14:a4b:b01:8f2d::/80 dev eth1 table 255\n");
    CHECK(file_at(files, kDir + "rule6-eth1").content ==
          kHeader +
              "from 2600:1f14:a4b:b01:e1d8:4a26:71b0:932f table 1001 priority 1001\n"
              "from 2600:1f14:a4b:b01:8f2d::/80 table 1001 priority 1001\n");
    // ifup-routes reads a file with any ADDRESSn= line as key=value: no line may look like one.
    for (const RenderedFile& file : files) {
      for (const std::string& line : body_lines(file.content)) {
        CHECK_FALSE(std::regex_search(line, std::regex("^[[:space:]]*ADDRESS[0-9]+=")));
      }
    }
  }

  TEST_CASE("delegated prefixes without policy routing: route files with the local routes only, no rule files") {
    std::vector<RenderedFile> files = render_network_scripts(plan_of(test::aws_prefixes(), PolicyRouting::off));
    CHECK(paths_of(files) == std::vector<std::string>{kDir + "ifcfg-eth0", kDir + "ifcfg-eth1", kDir + "route-eth1",
                                                      kDir + "route6-eth1"});
    CHECK(file_at(files, kDir + "route-eth1").content == kHeader + "local 10.20.1.48/28 dev eth1 table 255\n");
    CHECK(file_at(files, kDir + "route6-eth1").content ==
          kHeader + "local 2600:1f14:a4b:b01:8f2d::/80 dev eth1 table 255\n");
  }

  TEST_CASE("primary_rules with IPv6: route6- and rule6-<primary>, no main fallback") {
    PlanOptions options;
    options.primary_rules = true;
    std::vector<RenderedFile> files = render_network_scripts(*make_plan(test::dual_stack_with_gateway(), options));
    CHECK(file_at(files, kDir + "route6-eth0").content == kHeader +
                                                              "2600:1f16:292:100::/64 dev eth0 table 1000\n"
                                                              "default via fe80::1 dev eth0 table 1000\n");
    CHECK(file_at(files, kDir + "rule6-eth0").content ==
          kHeader +
              "from 2600:1f16:292:100:c187:593c:4349:136 table 1000 priority 1000\n"
              "from 2600:1f16:292:100:f153:12a3:c37c:11f9 table 1000 priority 1000\n");
  }

  TEST_CASE("secondary_addressing dhcp: the DHCP secondary's ifcfg still takes no RAs and lists its IPv6 addresses") {
    PlanOptions options;
    options.secondary_addressing = Addressing::dhcp;
    std::vector<RenderedFile> files = render_network_scripts(*make_plan(test::aws_dual_stack(), options));
    CHECK(file_at(files, kDir + "ifcfg-eth1").content == kHeader +
                                                             "DEVICE=eth1\n"
                                                             "BOOTPROTO=dhcp\n"
                                                             "ONBOOT=yes\n"
                                                             "HWADDR=0a:75:69:92:e2:16\n"
                                                             "DEFROUTE=no\n"
                                                             "PEERDNS=no\n"
                                                             "PERSISTENT_DHCLIENT=yes\n"
                                                             "IPV6INIT=yes\n"
                                                             "IPV6_AUTOCONF=no\n"
                                                             "IPV6_DEFROUTE=no\n"
                                                             "DHCPV6C=no\n"
                                                             "IPV6ADDR=2600:1f16:292:100:9f27:ae11:5c02:be61/128\n"
                                                             "IPV6ADDR_SECONDARIES=\"2600:1f16:292:100:3c4d:78e0:fa12:d907/128\"\n");
  }
}
