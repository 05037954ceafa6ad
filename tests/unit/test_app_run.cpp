#include <doctest/doctest.h>

#include <fstream>
#include <sstream>
#include <thread>
#include <algorithm>
#include <chrono>
#include <functional>

#include "app/state.hpp"
#include "fake_filesystem.hpp"
#include "fake_http.hpp"
#include "fake_netlink.hpp"
#include "nicsync/app.hpp"
#include "nicsync/metadata_sources.hpp"

using namespace nicsync;

namespace {

nlohmann::json fixture(const std::string& name) {
  std::ifstream in(std::string(NICSYNC_TEST_FIXTURES) + "/" + name + ".json");
  return nlohmann::json::parse(in);
}

/// aws-seed-two-eni's NICs in the kernel before a run: eth0 up with its lease, eth1 down; eth0's index.
int add_two_eni_links(test::FakeNetlink& kernel) {
  int eth0 = kernel.add_link("eth0", "02:86:10:77:7f:fe");
  kernel.add_link("eth1", "02:86:10:65:fd:31", false);
  kernel.kernel_addresses.push_back(KernelAddress{eth0, *Ipv4Address::parse("10.0.0.76"), 24, false});
  return eth0;
}

/// A target root as the launcher sees it: the fixture's NICs in sysfs and /etc/netplan.
struct Machine {
  test::FakeFileSystem fs;
  testing::FakeHttpClient http;
  std::function<int()> stop_signal;                         ///< Services::stop_signal
  std::function<void(std::chrono::milliseconds)> sleep;     ///< Services::sleep
  explicit Machine(const std::string& name) {
    nlohmann::json data = fixture(name);
    testing::serve_fixture(http, data, "http://169.254.169.254");
    for (const auto& link : data["links"]) {
      fs.add("/sys/class/net/" + link["name"].get<std::string>() + "/address", link["mac"].get<std::string>() + "\n");
    }
    for (const auto& [key, value] : data["dmi"].items()) {
      fs.add("/sys/class/dmi/id/" + key, value.get<std::string>() + "\n");
    }
    fs.directories.insert("/etc/netplan");
  }
  int run(std::vector<std::string> args, std::string& out, std::string& log, Netlink* netlink = nullptr) {
    std::optional<std::string> early;
    RunOptions options = *parse_command_line(args, early);
    std::ostringstream out_stream, log_stream;
    auto settings = apply_settings(options, fs);
    if (!settings.ok()) {
      log = "nicsync: error: " + settings.error().message + "\n";
      return kExitFailed;
    }
    Services services{.fs = fs, .http = http, .netlink = netlink, .netlink_error = netlink ? "" : "no netlink in this test"};
    services.stop_signal = stop_signal;
    services.sleep = sleep;
    std::unique_ptr<Log> logger = make_stream_log(log_stream);
    int code = nicsync::run(options, services, out_stream, *logger);
    out = out_stream.str();
    log = log_stream.str();
    return code;
  }
};

}  // namespace

TEST_SUITE("app::run") {
  TEST_CASE("show prints the resolved interfaces as text and as JSON") {
    Machine m("aws-seed-two-eni");
    std::string out, log;
    REQUIRE(m.run({"--root", "/r", "show"}, out, log) == kExitOk);
    CHECK(out ==
          "aws instance i-094226850fb16bdf1\n"
          "eth0 02:86:10:77:7f:fe primary card 0 index 0 eni-05af1804c2797549f\n"
          "  ipv4 10.0.0.76 10.0.0.58 subnet 10.0.0.0/24 gateway 10.0.0.1\n"
          "eth1 02:86:10:65:fd:31 secondary card 0 index 1 eni-0e7275b13b81f8bd2\n"
          "  ipv4 10.0.0.226 subnet 10.0.0.0/24 gateway 10.0.0.1\n");
    CHECK(log.empty());
    REQUIRE(m.run({"--root", "/r", "show", "--json"}, out, log) == kExitOk);
    nlohmann::json doc = nlohmann::json::parse(out);
    CHECK(doc["vendor"] == "aws");
    CHECK(doc["instance_id"] == "i-094226850fb16bdf1");
    REQUIRE(doc["interfaces"].size() == 2);
    CHECK(doc["interfaces"][1] == nlohmann::json::parse(R"({
      "name": "eth1", "mac": "02:86:10:65:fd:31", "role": "secondary", "card": 0, "index": 1,
      "id": "eni-0e7275b13b81f8bd2",
      "ipv4": {"addresses": ["10.0.0.226"], "subnet": "10.0.0.0/24", "gateway": "10.0.0.1", "prefixes": [],
               "hostname_labels": {}},
      "ipv6": {"addresses": [], "subnets": [], "gateway": null, "prefixes": []},
      "vlan": null})"));
    CHECK(m.fs.files_written.empty());
  }

  TEST_CASE("plan prints a diff and writes nothing; apply writes; then plan is empty") {
    Machine m("aws-seed-two-eni");
    std::string out, log;
    REQUIRE(m.run({"--root", "/r", "plan"}, out, log) == kExitOk);
    CHECK(out.rfind("--- /dev/null\n+++ b/etc/netplan/90-nicsync.yaml\n@@ -0,0 +1,36 @@\n+# Written by nicsync", 0) == 0);
    CHECK(log ==
          "nicsync: would create /etc/netplan/90-nicsync.yaml (mode 0600)\n"
          "nicsync: aws i-094226850fb16bdf1: 2 interfaces (eth0 primary, eth1 table 1001), 2 static IPv4 "
          "addresses; netplan: 1 file to change\n");
    CHECK(m.fs.files_written.empty());

    REQUIRE(m.run({"--root", "/r", "apply"}, out, log) == kExitOk);
    CHECK(out.empty());
    CHECK(m.fs.files_written ==
          std::vector<std::string>{"/etc/netplan/90-nicsync.yaml", kStatePath, std::string(kLastGoodPath)});
    CHECK(m.fs.files["/etc/netplan/90-nicsync.yaml"].mode == 0600);
    CHECK(m.fs.files[std::string(kLastGoodPath)].mode == 0600);

    REQUIRE(m.run({"--root", "/r", "plan"}, out, log) == kExitOk);
    CHECK(out.empty());
    CHECK(log ==
          "nicsync: aws i-094226850fb16bdf1: 2 interfaces (eth0 primary, eth1 table 1001), 2 static IPv4 "
          "addresses; netplan: no changes\n");
  }

  TEST_CASE("the summary line counts in the singular for one interface and one address") {
    Machine m("aws-seed-two-eni");
    m.fs.add("/etc/nicsync/nicsync.yaml", "interfaces:\n  exclude: [eth0]\n");
    std::string out, log;
    REQUIRE(m.run({"--root", "/r", "plan"}, out, log) == kExitOk);
    CHECK(log.find("nicsync: aws i-094226850fb16bdf1: 1 interface (eth1), 1 static IPv4 address; ") !=
          std::string::npos);
  }

  TEST_CASE("an invalid metadata value fails the run with one line and writes nothing") {
    Machine m("aws-seed-two-eni");
    m.http.set_body(HttpMethod::get,
                    "http://169.254.169.254/latest/meta-data/network/interfaces/macs/02:86:10:65:fd:31/local-ipv4s",
                    "10.0.0.226\n10.0.0.2x6");
    std::string out, log;
    CHECK(m.run({"--root", "/r", "apply"}, out, log) == kExitFailed);
    CHECK(log == "nicsync: error: aws: macs/02:86:10:65:fd:31/local-ipv4s line 2: \"10.0.0.2x6\" is not an IPv4 address\n");
    CHECK(m.fs.files_written.empty());
  }

  TEST_CASE("the vendor comes from DMI; an unknown cloud exits 3 naming what it saw") {
    Machine m("aws-seed-two-eni");
    std::string out, log;
    m.fs.add("/sys/class/dmi/id/sys_vendor", "QEMU\n");
    m.fs.add("/sys/class/dmi/id/product_name", "Standard PC\n");
    m.fs.add("/sys/class/dmi/id/chassis_asset_tag", "\n");
    CHECK(m.run({"--root", "/r", "apply"}, out, log) == kExitNoCloud);
    CHECK(log.rfind("nicsync: error: no supported cloud detected", 0) == 0);
    CHECK(m.fs.files_written.empty());
    CHECK(m.run({"--root", "/r", "--vendor", "aws", "show"}, out, log) == kExitOk);
  }

  TEST_CASE("settings files are read under --root and the command line overrides them") {
    Machine m("aws-seed-two-eni");
    std::string out, log;
    m.fs.add("/etc/nicsync/nicsync.yaml", "table_base: 2000\ninterfaces:\n  exclude: [eth1]\n");
    REQUIRE(m.run({"--root", "/r", "show"}, out, log) == kExitOk);
    CHECK(out.find("eth1") == std::string::npos);
    REQUIRE(m.run({"--root", "/r", "config", "check"}, out, log) == kExitOk);
    CHECK(out.find("table_base: 2000") != std::string::npos);
    m.fs.add("/etc/nicsync/nicsync.yaml", "table_base: 2000\n");
    REQUIRE(m.run({"--root", "/r", "--table-base", "3000", "plan"}, out, log) == kExitOk);
    CHECK(out.find("table: 3001") != std::string::npos);
    m.fs.add("/etc/nicsync/nicsync.yaml", "tabel_base: 2000\n");
    CHECK(m.run({"--root", "/r", "config", "check"}, out, log) == kExitFailed);
    CHECK(log == "nicsync: error: /etc/nicsync/nicsync.yaml:1:1: unknown key \"tabel_base\" (did you mean \"table_base\"?)\n");
  }

  TEST_CASE("no renderer directory is an error that says what to pass") {
    Machine m("aws-seed-two-eni");
    m.fs.directories.clear();
    std::string out, log;
    CHECK(m.run({"--root", "/r", "apply"}, out, log) == kExitFailed);
    CHECK(log ==
          "nicsync: error: no renderer: neither /etc/netplan nor /etc/sysconfig/network-scripts exists; pass "
          "--renderer netplan or --renderer network-scripts\n");
  }

  TEST_CASE("--live without netlink is an error; with it, the kernel is changed after the files") {
    Machine m("aws-seed-two-eni");
    std::string out, log;
    CHECK(m.run({"--root", "/r", "--live", "apply"}, out, log) == kExitFailed);
    CHECK(log == "nicsync: error: --live: no netlink in this test\n");
    CHECK(m.fs.files_written.empty());

    test::FakeNetlink kernel;
    add_two_eni_links(kernel);
    REQUIRE(m.run({"--root", "/r", "--live", "apply"}, out, log, &kernel) == kExitOk);
    CHECK(kernel.calls.size() == 7);
    CHECK(log.find("nicsync: created /etc/netplan/90-nicsync.yaml (mode 0600)\nnicsync: add address 10.0.0.58/32 dev eth0\n") == 0);
    CHECK(log.find("netplan + live: 1 file, 7 kernel objects changed\n") != std::string::npos);
    State state = *load_state(m.fs);
    CHECK(state.addresses.size() == 2);

    kernel.calls.clear();
    REQUIRE(m.run({"--root", "/r", "--live", "apply"}, out, log, &kernel) == kExitOk);
    CHECK(kernel.calls.empty());
    CHECK(log.find("netplan + live: no changes\n") != std::string::npos);
  }

  TEST_CASE("live, a bridge with a NIC's MAC does not take its place: sysfs says which link a device backs") {
    Machine m("aws-seed-two-eni");
    m.fs.directories.insert("/sys/class/net/eth0/device");
    m.fs.directories.insert("/sys/class/net/eth1/device");
    test::FakeNetlink kernel;
    kernel.add_link("br0", "02:86:10:65:fd:31");  // first in the kernel's order, no device
    int eth0 = kernel.add_link("eth0", "02:86:10:77:7f:fe");
    kernel.add_link("eth1", "02:86:10:65:fd:31", false);
    kernel.kernel_addresses.push_back(KernelAddress{eth0, *Ipv4Address::parse("10.0.0.76"), 24, false});
    std::string out, log;
    REQUIRE(m.run({"--root", "/r", "--live", "apply"}, out, log, &kernel) == kExitOk);
    CHECK(log.find("(eth0 primary, eth1 table 1001)") != std::string::npos);
    CHECK(log.find("br0") == std::string::npos);
    CHECK(m.fs.files["/etc/netplan/90-nicsync.yaml"].content.find("    eth1:\n") != std::string::npos);
  }

  TEST_CASE("the state lists the addresses to add before the kernel is touched; its failure changes nothing") {
    Machine m("aws-seed-two-eni");
    test::FakeNetlink kernel;
    int eth0 = add_two_eni_links(kernel);
    const std::string settings = "/etc/nicsync/nicsync.yaml";
    m.fs.directories.insert("/etc/nicsync");
    m.fs.add(settings, "interfaces:\n  exclude: [eth1]\n");
    std::string out, log;
    REQUIRE(m.run({"--root", "/r", "--live", "apply"}, out, log, &kernel) == kExitOk);
    const std::string netplan = m.fs.files.at("/etc/netplan/90-nicsync.yaml").content;
    m.fs.files.erase(settings);  // eth1 is wanted again: its address is to be added
    kernel.calls.clear();
    const std::string failed_write = "cannot write /var/lib/nicsync/state.json: No space left on device";

    // The state write that lists 10.0.0.226 as nicsync's goes with the files, before the kernel.
    m.fs.fail_write(kStatePath, "No space left on device");
    CHECK(m.run({"--root", "/r", "--live", "apply"}, out, log, &kernel) == kExitFailed);
    CHECK(log == "nicsync: error: " + failed_write + "; nothing was changed\n");
    CHECK(kernel.calls.empty());
    CHECK(m.fs.files.at("/etc/netplan/90-nicsync.yaml").content == netplan);
    CHECK(load_state(m.fs)->addresses == std::vector<OwnedAddress>{{"eth0", *Ipv4Address::parse("10.0.0.58"), 32}});

    SUBCASE("the state fails after the apply: the next run still owns the address it added") {
      m.fs.failing_writes.clear();
      // An address of an earlier run that is no longer wanted: its removal makes the state after
      // the apply differ from the one written before it.
      const OwnedAddress old_one{"eth0", *Ipv4Address::parse("10.0.0.240"), 32};
      kernel.kernel_addresses.push_back(KernelAddress{eth0, old_one.address, 32, false});
      REQUIRE(save_state(m.fs, State{load_state(m.fs)->files, {old_one, load_state(m.fs)->addresses[0]}}, State{}).ok());
      // The disk fills up once the kernel is being changed.
      kernel.on_call = [&](const std::string&) { m.fs.fail_write(kStatePath, "No space left on device"); };
      CHECK(m.run({"--root", "/r", "--live", "apply"}, out, log, &kernel) == kExitFailed);
      REQUIRE(log.rfind("nicsync: error:") != std::string::npos);
      CHECK(log.substr(log.rfind("nicsync: error:")) ==
            "nicsync: error: " + failed_write +
                "; 7 kernel changes were applied, and the state lists the addresses as planned before them\n");
      CHECK(kernel.calls.size() == 7);
      CHECK(kernel.calls[0] == "delete_address 10.0.0.240/32 dev eth0");
      // As written before the apply: the removed one still listed (harmless: it is not in the
      // kernel any more), the added one listed already.
      CHECK(load_state(m.fs)->addresses == std::vector<OwnedAddress>{{"eth0", *Ipv4Address::parse("10.0.0.58"), 32},
                                                                     {"eth0", *Ipv4Address::parse("10.0.0.240"), 32},
                                                                     {"eth1", *Ipv4Address::parse("10.0.0.226"), 24}});

      // eth1 is left out again: the address the failed run added is nicsync's to remove.
      kernel.on_call = nullptr;
      m.fs.failing_writes.clear();
      m.fs.add(settings, "interfaces:\n  exclude: [eth1]\n");
      kernel.calls.clear();
      REQUIRE(m.run({"--root", "/r", "--live", "apply"}, out, log, &kernel) == kExitOk);
      CHECK(std::count(kernel.calls.begin(), kernel.calls.end(),
                       "delete_address 10.0.0.226/24 dev eth1 noprefixroute") == 1);
      CHECK(std::none_of(kernel.kernel_addresses.begin(), kernel.kernel_addresses.end(),
                         [](const KernelAddress& a) { return a.address == IpAddress(*Ipv4Address::parse("10.0.0.226")); }));
      CHECK(load_state(m.fs)->addresses == std::vector<OwnedAddress>{{"eth0", *Ipv4Address::parse("10.0.0.58"), 32}});
    }
  }

  TEST_CASE("addresses nicsync added that cloud-init's netplan file configures now stay, and are no longer its own") {
    Machine m("aws-seed-two-eni");
    test::FakeNetlink kernel;
    add_two_eni_links(kernel);
    std::string out, log;
    REQUIRE(m.run({"--root", "/r", "--live", "apply"}, out, log, &kernel) == kExitOk);
    REQUIRE(load_state(m.fs)->addresses.size() == 2);  // 10.0.0.58 on eth0, 10.0.0.226 on eth1
    const std::vector<KernelAddress> addresses = kernel.kernel_addresses;

    // cloud-init's file: 10.0.0.58/24 on eth0, eth1 on DHCP (its first address), table 101.
    std::ifstream in(std::string(NICSYNC_TEST_FIXTURES) + "/cloud-init-netplan/aws-seed-two-eni.yaml");
    std::stringstream text;
    text << in.rdbuf();
    REQUIRE_FALSE(text.str().empty());
    m.fs.add("/etc/netplan/50-cloud-init.yaml", text.str(), 0600);
    kernel.calls.clear();
    REQUIRE(m.run({"--root", "/r", "--live", "apply"}, out, log, &kernel) == kExitOk);
    CHECK(std::none_of(kernel.calls.begin(), kernel.calls.end(),
                       [](const std::string& call) { return call.rfind("delete_address", 0) == 0; }));
    CHECK(kernel.kernel_addresses == addresses);
    CHECK(load_state(m.fs)->addresses.empty());
  }

  TEST_CASE("a stop before the files are written changes nothing and exits 128 + the signal") {
    Machine m("aws-seed-two-eni");
    m.stop_signal = [] { return 15; };
    std::string out, log;
    CHECK(m.run({"--root", "/r", "apply"}, out, log) == 143);
    CHECK(log == "nicsync: error: stopped by SIGTERM before changing anything\n");
    CHECK(m.fs.files_written.empty());
  }

  TEST_CASE("a stop during a live apply finishes the NIC under way and leaves the next one untouched") {
    // Three NICs: eth0 gets a secondary IP, eth1 and eth2 their addresses, tables and rules.
    Machine m("aws-seed-two-eni");
    test::FakeNetlink kernel;
    add_two_eni_links(kernel);
    int signal = 0;
    // SIGTERM arrives with eth0's first change: eth0 is finished, eth1 is not started.
    kernel.on_call = [&](const std::string& call) {
      if (call.find("dev eth0") != std::string::npos) signal = 15;
    };
    m.stop_signal = [&] { return signal; };
    std::string out, log;
    CHECK(m.run({"--root", "/r", "--live", "apply"}, out, log, &kernel) == 143);
    CHECK(join(kernel.calls, "; ") == "add_address 10.0.0.58/32 dev eth0");
    CHECK(log ==
          "nicsync: created /etc/netplan/90-nicsync.yaml (mode 0600)\n"
          "nicsync: add address 10.0.0.58/32 dev eth0\n"
          "nicsync: error: stopped by SIGTERM after writing the files and applying part of them live; not "
          "applied live: eth1 (the next run applies the rest)\n");
    // The files are complete and the state records the address that was added.
    CHECK(m.fs.files.count("/etc/netplan/90-nicsync.yaml") == 1);
    State state = *load_state(m.fs);
    REQUIRE(state.addresses.size() == 1);
    CHECK(state.addresses[0].dev == "eth0");

    // The next run applies the rest, and only the rest.
    signal = 0;
    kernel.on_call = nullptr;
    kernel.calls.clear();
    m.stop_signal = nullptr;
    REQUIRE(m.run({"--root", "/r", "--live", "apply"}, out, log, &kernel) == kExitOk);
    CHECK(join(kernel.calls, "; ") ==
          "set_link_up eth1; add_route 10.0.0.0/24 dev eth1 scope link table 1001; add_route default via 10.0.0.1 "
          "dev eth1 table 1001 onlink; add_rule from 10.0.0.226 lookup 1001 priority 1001; add_address "
          "10.0.0.226/24 dev eth1 noprefixroute; add_route default via 10.0.0.1 dev eth1 metric 1001 onlink");
    CHECK(log.find("netplan + live: 0 files, 6 kernel objects changed\n") != std::string::npos);
  }

  TEST_CASE("under --root, /sys/class/net is read once: AWS and Alibaba map the MACs with the fetch's read") {
    for (const char* name : {"aws-seed-two-eni", "alibaba-seed-two-eni", "oracle-vm-secondary-vnic"}) {
      CAPTURE(name);
      Machine m(name);
      std::string out, log;
      // Machine serves every fixture where AWS's and Oracle's service is.
      REQUIRE(m.run({"--root", "/r", "--metadata-url", "http://169.254.169.254", "plan"}, out, log) == kExitOk);
      CHECK(m.fs.listed["/sys/class/net"] == 1);
      CHECK(out.find("+++ b/etc/netplan/90-nicsync.yaml") != std::string::npos);
    }
  }

  TEST_CASE("under --root, a NIC that shows up during the fetch is found by a second read, without a wait") {
    Machine m("aws-seed-two-eni");
    const std::string eth1 = "/sys/class/net/eth1/address";
    std::string eth1_mac = m.fs.files[eth1].content;
    m.fs.files.erase(eth1);
    const std::string macs = "http://169.254.169.254/latest/meta-data/network/interfaces/macs/";
    testing::FakeHttpClient::Handler list = m.http.handler(HttpMethod::get, macs);
    m.http.on(HttpMethod::get, macs, [&](const HttpRequest& request) {
      m.fs.add(eth1, eth1_mac);  // attached while the NIC list is on its way
      return list(request);
    });
    int sleeps = 0;
    m.sleep = [&](std::chrono::milliseconds) { ++sleeps; };
    std::string out, log;
    REQUIRE(m.run({"--root", "/r", "plan"}, out, log) == kExitOk);
    CHECK(sleeps == 0);
    CHECK(m.fs.listed["/sys/class/net"] == 2);
    CHECK(out.find("eth1:") != std::string::npos);
  }

  TEST_CASE("a NIC of the metadata that is not there yet is waited for, a bounded time") {
    Machine m("aws-seed-two-eni");
    const std::string eth1 = "/sys/class/net/eth1/address";
    std::string eth1_mac = m.fs.files[eth1].content;
    m.fs.files.erase(eth1);
    int sleeps = 0;
    m.sleep = [&](std::chrono::milliseconds step) {
      CHECK(step == std::chrono::milliseconds(100));
      if (++sleeps == 3) m.fs.add(eth1, eth1_mac);  // the hot-attached NIC shows up
    };
    std::string out, log;
    REQUIRE(m.run({"--root", "/r", "apply"}, out, log) == kExitOk);
    CHECK(sleeps == 3);
    CHECK(log.rfind("nicsync: waited ", 0) == 0);
    CHECK(log.find(" ms for 02:86:10:65:fd:31 (eni-0e7275b13b81f8bd2) to appear\n") != std::string::npos);
    CHECK(m.fs.files.count("/etc/netplan/90-nicsync.yaml") == 1);
  }

  TEST_CASE("a NIC the settings exclude by MAC or id need not be here: no wait, no error") {
    for (const std::string selector : {"\"02:86:10:65:fd:31\"", "eni-0e7275b13b81f8bd2"}) {
      CAPTURE(selector);
      Machine m("aws-seed-two-eni");
      m.fs.files.erase("/sys/class/net/eth1/address");
      m.fs.add("/etc/nicsync/nicsync.yaml", "interfaces:\n  exclude: [" + selector + "]\n");
      int sleeps = 0;
      m.sleep = [&](std::chrono::milliseconds) { ++sleeps; };
      std::string out, log;
      REQUIRE(m.run({"--root", "/r", "apply"}, out, log) == kExitOk);
      CHECK(sleeps == 0);
      CHECK(log.find("error") == std::string::npos);
      const std::string& netplan = m.fs.files["/etc/netplan/90-nicsync.yaml"].content;
      CHECK(netplan.find("eth0:") != std::string::npos);
      CHECK(netplan.find("02:86:10:65:fd:31") == std::string::npos);
    }
  }

  TEST_CASE("an include list: a NIC it cannot pick is left out when missing; one it names by MAC is waited for") {
    Machine m("aws-seed-two-eni");
    m.fs.files.erase("/sys/class/net/eth1/address");
    m.fs.add("/etc/nicsync/nicsync.yaml", "interfaces:\n  include: [\"02:86:10:77:7f:fe\"]\n");
    int sleeps = 0;
    m.sleep = [&](std::chrono::milliseconds) { ++sleeps; };
    std::string out, log;
    REQUIRE(m.run({"--root", "/r", "apply"}, out, log) == kExitOk);
    CHECK(sleeps == 0);  // only MACs: the missing NIC is not among them
    CHECK(m.fs.files["/etc/netplan/90-nicsync.yaml"].content.find("02:86:10:65:fd:31") == std::string::npos);

    // By name, the missing NIC could still appear under it: waited for, then left out.
    m.fs.add("/etc/nicsync/nicsync.yaml", "interfaces:\n  include: [eth0]\n  attach_timeout_ms: 300\n");
    m.sleep = [&](std::chrono::milliseconds step) { ++sleeps; std::this_thread::sleep_for(step); };
    REQUIRE(m.run({"--root", "/r", "apply"}, out, log) == kExitOk);
    CHECK(sleeps >= 2);
    CHECK(log.find("error") == std::string::npos);

    // Its own MAC in the include list: the settings want it, so it is still an error.
    m.fs.add("/etc/nicsync/nicsync.yaml",
             "interfaces:\n  include: [eth0, \"02:86:10:65:fd:31\"]\n  attach_timeout_ms: 0\n");
    CHECK(m.run({"--root", "/r", "apply"}, out, log) == kExitFailed);
    CHECK(log.rfind("nicsync: error: aws: interface 02:86:10:65:fd:31 (eni-0e7275b13b81f8bd2) is in the metadata but "
                    "no local interface has that MAC", 0) == 0);
  }

  TEST_CASE("excluded by name, a missing NIC is still an error: without a local interface it has no name") {
    Machine m("aws-seed-two-eni");
    m.fs.files.erase("/sys/class/net/eth1/address");
    m.fs.add("/etc/nicsync/nicsync.yaml", "interfaces:\n  exclude: [eth1]\n  attach_timeout_ms: 0\n");
    std::string out, log;
    CHECK(m.run({"--root", "/r", "apply"}, out, log) == kExitFailed);
    CHECK(log.find("no local interface has that MAC") != std::string::npos);
    CHECK(m.fs.files_written.empty());
  }

  TEST_CASE("a NIC that never appears fails the run after the wait, naming it, and writes nothing") {
    Machine m("aws-seed-two-eni");
    m.fs.files.erase("/sys/class/net/eth1/address");
    m.fs.add("/etc/nicsync/nicsync.yaml", "interfaces:\n  attach_timeout_ms: 300\n");
    m.sleep = [](std::chrono::milliseconds step) { std::this_thread::sleep_for(step); };
    std::string out, log;
    CHECK(m.run({"--root", "/r", "apply"}, out, log) == kExitFailed);
    std::vector<std::string> lines;
    std::istringstream in(log);
    for (std::string line; std::getline(in, line);) lines.push_back(line);
    REQUIRE(lines.size() == 1);
    CHECK(lines[0].rfind("nicsync: error: aws: interface 02:86:10:65:fd:31 (eni-0e7275b13b81f8bd2) is in the "
                         "metadata but no local interface has that MAC (waited ", 0) == 0);
    CHECK(lines[0].find(" ms for it: interfaces.attach_timeout_ms)") != std::string::npos);
    CHECK(m.fs.files_written.empty());
  }
}
