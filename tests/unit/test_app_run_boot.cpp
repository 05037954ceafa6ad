#include <doctest/doctest.h>

#include <fstream>
#include <sstream>

#include "app/state.hpp"
#include "fake_filesystem.hpp"
#include "fake_http.hpp"
#include "fake_log.hpp"
#include "fake_netlink.hpp"
#include "fake_service_bus.hpp"
#include "nicsync/app.hpp"
#include "nicsync/metadata_sources.hpp"

using namespace nicsync;

namespace {

nlohmann::json fixture(const std::string& name) {
  std::ifstream in(std::string(NICSYNC_TEST_FIXTURES) + "/" + name + ".json");
  return nlohmann::json::parse(in);
}

std::string read_text(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

/// A target root with the fixture's NICs and DMI, the fakes of every OS touchpoint, and the
/// entries logged by the last run.
struct Machine {
  test::FakeFileSystem fs;
  testing::FakeHttpClient http;
  test::FakeServiceBus bus;
  test::FakeCommandRunner commands;
  test::FakeLog log;
  std::function<int()> stop_signal;  ///< Services::stop_signal
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
  /// Every request fails as with no network (early boot).
  void metadata_down() {
    http = testing::FakeHttpClient();
    http.on_any([](const HttpRequest&) {
      HttpResponse response;
      response.transport_error = "Couldn't connect to server";
      return response;
    });
  }
  int run(std::vector<std::string> args, Netlink* netlink = nullptr) {
    std::optional<std::string> early;
    RunOptions options = *parse_command_line(args, early);
    REQUIRE(apply_settings(options, fs).ok());
    log.entries.clear();
    Services services{.fs = fs, .http = http, .netlink = netlink, .netlink_error = "no netlink in this test",
                      .bus = &bus, .commands = &commands, .stop_signal = stop_signal};
    std::ostringstream out;
    return nicsync::run(options, services, out, log);
  }
};

/// The kernel of the fixture's instance with networking up: eth0 has its lease, eth1 is down.
struct UpKernel : test::FakeNetlink {
  UpKernel() {
    int eth0 = add_link("eth0", "02:86:10:77:7f:fe");
    add_link("eth1", "02:86:10:65:fd:31", false);
    kernel_addresses.push_back(KernelAddress{eth0, *Ipv4Address::parse("10.0.0.76"), 24, false});
  }
};

using Runs = std::vector<std::vector<std::string>>;
using Calls = std::vector<std::string>;

}  // namespace

TEST_SUITE("app::run boot and notify") {
  TEST_CASE("boot, no metadata anywhere: exit 0, one warning per source, files untouched, refresh marker left") {
    Machine m("aws-seed-two-eni");
    m.fs.add("/etc/netplan/90-nicsync.yaml", "# Written by nicsync\nnetwork: {version: 2}\n");
    m.metadata_down();
    CHECK(m.run({"--boot", "apply"}) == kExitOk);
    CHECK(m.fs.files_written == std::vector<std::string>{std::string(kRefreshNeededPath)});
    CHECK(m.fs.files["/etc/netplan/90-nicsync.yaml"].content == "# Written by nicsync\nnetwork: {version: 2}\n");
    CHECK(m.log.text() ==
          "warning: metadata service failed at boot: aws: PUT /latest/api/token: Couldn't connect to server "
          "(http://169.254.169.254/latest/api/token); trying /run/cloud-init/instance-data.json\n"
          "warning: no /run/cloud-init/instance-data.json; trying /var/lib/nicsync/metadata.json\n"
          "warning: no /var/lib/nicsync/metadata.json\n"
          "warning: no metadata at boot: leaving the network configuration as it is\n");
    CHECK(m.commands.runs.empty());
    CHECK(m.bus.calls.empty());
  }

  TEST_CASE("without --boot the same outage is a failed run that writes nothing") {
    Machine m("aws-seed-two-eni");
    m.metadata_down();
    CHECK(m.run({"apply"}) == kExitFailed);
    CHECK(m.fs.files_written.empty());
    CHECK(m.log.text() ==
          "error: aws: PUT /latest/api/token: Couldn't connect to server (http://169.254.169.254/latest/api/token)\n");
  }

  TEST_CASE("boot with the service down writes the files from cloud-init's instance data, then the view is refreshed") {
    Machine m("aws-seed-two-eni");
    m.fs.add(std::string(kInstanceDataPath),
             read_text(std::string(NICSYNC_TEST_FIXTURES) + "/cloud-init/aws-seed-two-eni.instance-data.json"));
    m.metadata_down();
    REQUIRE(m.run({"--boot", "apply"}) == kExitOk);
    CHECK(m.fs.files_written == std::vector<std::string>{"/etc/netplan/90-nicsync.yaml", kStatePath,
                                                         std::string(kRefreshNeededPath)});
    std::string from_cloud_init = m.fs.files["/etc/netplan/90-nicsync.yaml"].content;
    CHECK(from_cloud_init.find("        - 10.0.0.58/32\n") != std::string::npos);
    CHECK(m.log.entries.back().message.find("(from the cloud-init instance data); netplan: 1 file changed") !=
          std::string::npos);

    // nicsync-online.service, once the network is up: the same files, the view saved, the marker gone.
    Machine online("aws-seed-two-eni");
    online.fs = m.fs;
    online.fs.files_written.clear();
    REQUIRE(online.run({"apply"}) == kExitOk);
    CHECK(online.fs.files["/etc/netplan/90-nicsync.yaml"].content == from_cloud_init);
    CHECK(online.fs.files_written == std::vector<std::string>{std::string(kLastGoodPath)});
    CHECK(online.fs.files.count(std::string(kRefreshNeededPath)) == 0);
    auto view = parse_last_good(online.fs.files[std::string(kLastGoodPath)].content, Vendor::aws, "view");
    REQUIRE(view.ok());
    CHECK(view->instance_id->str() == "i-094226850fb16bdf1");
    CHECK(view->interfaces.size() == 2);
  }

  TEST_CASE("boot with the service down and only a last good view of other NICs: warning, exit 0, nothing written") {
    Machine other("oracle-vm-secondary-vnic");
    REQUIRE(other.run({"apply"}) == kExitOk);
    std::string foreign_view = other.fs.files[std::string(kLastGoodPath)].content;

    Machine m("aws-seed-two-eni");
    m.metadata_down();
    m.fs.add(std::string(kLastGoodPath), foreign_view);
    CHECK(m.run({"--boot", "--vendor", "oracle", "apply"}) == kExitOk);
    CHECK(m.fs.files_written == std::vector<std::string>{std::string(kRefreshNeededPath)});
    CHECK(m.log.entries.back().level == LogLevel::warning);
    INFO(m.log.text());
    CHECK(m.log.entries.back().message.find("(in the last good view); the files on disk are left as they are") !=
          std::string::npos);
  }

  TEST_CASE("boot on an unknown cloud: exit 3 with a warning (the unit counts 3 as success)") {
    Machine m("aws-seed-two-eni");
    m.fs.add("/sys/class/dmi/id/sys_vendor", "QEMU\n");
    m.fs.add("/sys/class/dmi/id/product_name", "Standard PC\n");
    m.fs.add("/sys/class/dmi/id/chassis_asset_tag", "\n");
    CHECK(m.run({"--boot", "apply"}) == kExitNoCloud);
    REQUIRE(m.log.entries.size() == 1);
    CHECK(m.log.entries[0].level == LogLevel::warning);
  }

  TEST_CASE("a rerun with live apply that changed the netplan file: netplan generate, then networkd Reload") {
    Machine m("aws-seed-two-eni");
    UpKernel netlink;
    m.bus.service = NetworkService::networkd;
    REQUIRE(m.run({"--root", "/r", "--live", "apply"}, &netlink) == kExitOk);
    CHECK(m.commands.runs == Runs{{"/usr/sbin/netplan", "generate", "--root-dir", "/r"}});
    CHECK(m.bus.calls == Calls{"active_network_service", "reload_networkd"});
    // A rerun that changes no file tells nobody.
    m.commands.runs.clear();
    m.bus.calls.clear();
    REQUIRE(m.run({"--root", "/r", "--live", "apply"}, &netlink) == kExitOk);
    CHECK(m.commands.runs.empty());
    CHECK(m.bus.calls.empty());
  }

  TEST_CASE("netplan generate runs beside the live apply: started once the files are written, waited for") {
    Machine m("aws-seed-two-eni");
    UpKernel netlink;
    m.bus.service = NetworkService::networkd;
    std::optional<size_t> changes_at_start;
    std::optional<size_t> changes_at_wait;
    bool file_at_start = false;
    m.commands.on_start = [&] {
      changes_at_start = netlink.calls.size();
      file_at_start = m.fs.files.count("/etc/netplan/90-nicsync.yaml") == 1;
    };
    m.commands.on_wait = [&] { changes_at_wait = netlink.calls.size(); };
    REQUIRE(m.run({"--root", "/r", "--live", "apply"}, &netlink) == kExitOk);
    CHECK(file_at_start);
    CHECK(changes_at_start == size_t{0});
    CHECK(netlink.calls.size() == 7);  // eth0's secondary IP; eth1 up, its address, routes and rule
    CHECK(changes_at_wait == netlink.calls.size());
    CHECK(m.commands.runs == Runs{{"/usr/sbin/netplan", "generate", "--root-dir", "/r"}});
    CHECK(m.bus.calls == Calls{"active_network_service", "reload_networkd"});
    // Logged when it has ended, after the kernel changes and before the reload.
    std::string log = m.log.text();
    CHECK(log.find("info: ran netplan generate --root-dir /r\ninfo: reloaded systemd-networkd") !=
          std::string::npos);
    CHECK(log.find("ran netplan generate") > log.rfind("dev eth1"));
  }

  TEST_CASE("a stop during the live apply lets the netplan generate under way finish, and reloads nothing") {
    Machine m("aws-seed-two-eni");
    UpKernel netlink;
    m.bus.service = NetworkService::networkd;
    int signal = 0;
    netlink.on_call = [&](const std::string& call) {
      if (call.find("dev eth0") != std::string::npos) signal = 15;
    };
    m.stop_signal = [&] { return signal; };
    std::optional<size_t> changes_at_wait;
    m.commands.on_wait = [&] { changes_at_wait = netlink.calls.size(); };
    CHECK(m.run({"--root", "/r", "--live", "apply"}, &netlink) == 143);
    CHECK(m.commands.runs == Runs{{"/usr/sbin/netplan", "generate", "--root-dir", "/r"}});
    CHECK(changes_at_wait == size_t{1});
    CHECK(m.bus.calls.empty());
    std::string log = m.log.text();
    CHECK(log.find("info: add address 10.0.0.58/32 dev eth0\n"
                   "info: ran netplan generate --root-dir /r\n"
                   "error: stopped by SIGTERM after writing the files and applying part of them live") !=
          std::string::npos);

    // A stop that came while the files were written starts nothing after them.
    Machine early("aws-seed-two-eni");
    UpKernel untouched;
    early.stop_signal = [&] { return early.fs.files.count("/etc/netplan/90-nicsync.yaml") == 1 ? 15 : 0; };
    CHECK(early.run({"--root", "/r", "--live", "apply"}, &untouched) == 143);
    CHECK(early.commands.runs.empty());
    CHECK(untouched.calls.empty());
    const std::string early_log = early.log.text();
    CHECK(early_log.find("error: stopped by SIGTERM after writing the files, before changing the kernel") !=
          std::string::npos);
  }

  TEST_CASE("network-scripts under NetworkManager: ReloadConnections; under network.service: nothing") {
    for (NetworkService service : {NetworkService::network_manager, NetworkService::network_scripts}) {
      Machine m("aws-seed-two-eni");
      UpKernel netlink;
      m.bus.service = service;
      REQUIRE(m.run({"--root", "/r", "--live", "--renderer", "network-scripts", "apply"}, &netlink) == kExitOk);
      CHECK(m.commands.runs.empty());
      CHECK(m.bus.calls == (service == NetworkService::network_manager
                                ? Calls{"active_network_service", "reload_network_manager"}
                                : Calls{"active_network_service"}));
    }
  }

  TEST_CASE("the boot run on the live system: netplan generate for the new file, no bus before networking") {
    Machine m("aws-seed-two-eni");
    m.bus.service = NetworkService::networkd;
    REQUIRE(m.run({"--boot", "apply"}) == kExitOk);  // root "/", no kernel: networking is not up
    CHECK(m.commands.runs == Runs{{"/usr/sbin/netplan", "generate"}});
    CHECK(m.bus.calls.empty());
    CHECK(m.log.text().find("info: created /etc/netplan/90-nicsync.yaml (mode 0600)\ninfo: ran netplan generate\n") !=
          std::string::npos);
  }

  TEST_CASE("the boot run waits for udev to name the NICs when udev runs, and only then") {
    Machine m("aws-seed-two-eni");
    m.fs.directories.insert("/run/udev");
    REQUIRE(m.run({"--boot", "--no-live", "apply"}) == kExitOk);
    CHECK(m.commands.runs ==
          Runs{{"/usr/bin/udevadm", "settle", "--timeout=5"}, {"/usr/sbin/netplan", "generate"}});
    m.commands.runs.clear();
    m.fs.files.erase("/etc/netplan/90-nicsync.yaml");
    REQUIRE(m.run({"--no-live", "apply"}) == kExitOk);  // not a boot run
    CHECK(m.commands.runs == Runs{{"/usr/sbin/netplan", "generate"}});
  }

  TEST_CASE("files only (no live) under --root: nobody is told") {
    Machine m("aws-seed-two-eni");
    REQUIRE(m.run({"--root", "/r", "--no-live", "apply"}) == kExitOk);
    CHECK(m.commands.runs.empty());
    CHECK(m.bus.calls.empty());
  }

  TEST_CASE("a failed reload is a warning; the run still succeeds") {
    Machine m("aws-seed-two-eni");
    UpKernel netlink;
    m.bus.service = NetworkService::networkd;
    m.bus.fail("reload_networkd", "org.freedesktop.network1.Manager.Reload: Access denied");
    CHECK(m.run({"--root", "/r", "--live", "apply"}, &netlink) == kExitOk);
    bool warned = false;
    for (const auto& entry : m.log.entries) {
      warned = warned || (entry.level == LogLevel::warning && entry.message.find("Access denied") != std::string::npos);
    }
    CHECK(warned);
  }
}
