#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "fake_service_bus.hpp"
#include "nicsync/service_bus.hpp"

using namespace nicsync;

namespace {

using Argvs = std::vector<std::vector<std::string>>;
using Lines = std::vector<std::string>;

const std::vector<std::string> kGenerate = {"/usr/sbin/netplan", "generate"};
const std::string kNetworkdReloaded = "reloaded systemd-networkd (org.freedesktop.network1.Manager.Reload)";
const std::string kNetworkManagerReloaded =
    "reloaded NetworkManager (org.freedesktop.NetworkManager.Settings.ReloadConnections)";

/// Lists compared as text, so that a failed CHECK shows both sides: "[a, b]", argvs "[x y, z]".
std::string shown(const Lines& lines) {
  std::string text;
  for (const std::string& line : lines) text += (text.empty() ? "" : ", ") + line;
  return "[" + text + "]";
}
std::string shown(const Argvs& argvs) {
  Lines lines;
  for (const auto& argv : argvs) {
    std::string line;
    for (const std::string& arg : argv) line += (line.empty() ? "" : " ") + arg;
    lines.push_back(line);
  }
  return shown(lines);
}

/// One notify call and everything it did.
struct Outcome {
  Result<void> result;
  Argvs runs;
  Lines bus_calls;
  Lines done;
};

Outcome notify(RendererKind renderer, NetworkService service, const std::string& root = "/") {
  test::FakeServiceBus bus;
  bus.service = service;
  test::FakeCommandRunner commands;
  Lines done;
  Result<void> result = notify_network_service(renderer, root, &bus, commands, done);
  return Outcome{result, commands.runs, bus.calls, done};
}

}  // namespace

TEST_SUITE("app::notify") {
  TEST_CASE("every renderer and network service gets exactly the calls it needs") {
    struct Row {
      RendererKind renderer;
      NetworkService service;
      Argvs runs;
      Lines bus_calls;
      Lines done;
    };
    const std::vector<Row> rows = {
        {RendererKind::netplan,
         NetworkService::networkd,
         {kGenerate},
         {"active_network_service", "reload_networkd"},
         {"ran netplan generate", kNetworkdReloaded}},
        {RendererKind::netplan,
         NetworkService::network_manager,
         {kGenerate},
         {"active_network_service", "reload_network_manager"},
         {"ran netplan generate", kNetworkManagerReloaded}},
        {RendererKind::netplan,
         NetworkService::network_scripts,
         {kGenerate},
         {"active_network_service"},
         {"ran netplan generate"}},
        {RendererKind::netplan,
         NetworkService::none,
         {kGenerate},
         {"active_network_service"},
         {"ran netplan generate"}},
        {RendererKind::network_scripts, NetworkService::networkd, {}, {"active_network_service"}, {}},
        {RendererKind::network_scripts,
         NetworkService::network_manager,
         {},
         {"active_network_service", "reload_network_manager"},
         {kNetworkManagerReloaded}},
        {RendererKind::network_scripts, NetworkService::network_scripts, {}, {"active_network_service"}, {}},
        {RendererKind::network_scripts, NetworkService::none, {}, {"active_network_service"}, {}},
    };
    for (const Row& row : rows) {
      CAPTURE(renderer_name(row.renderer));
      CAPTURE(network_service_name(row.service));
      Outcome outcome = notify(row.renderer, row.service);
      CHECK(outcome.result.ok());
      CHECK(shown(outcome.runs) == shown(row.runs));
      CHECK(shown(outcome.bus_calls) == shown(row.bus_calls));
      CHECK(shown(outcome.done) == shown(row.done));
    }
  }

  TEST_CASE("netplan generate gets --root-dir when the root is not /") {
    Outcome outcome = notify(RendererKind::netplan, NetworkService::networkd, "/tmp/image");
    CHECK(outcome.result.ok());
    CHECK(shown(outcome.runs) == shown(Argvs{{"/usr/sbin/netplan", "generate", "--root-dir", "/tmp/image"}}));
    CHECK(shown(outcome.done) ==
          shown(Lines{"ran netplan generate --root-dir /tmp/image", kNetworkdReloaded}));
  }

  TEST_CASE("a failed netplan generate is the error, and the service is not asked or reloaded") {
    test::FakeServiceBus bus;
    bus.service = NetworkService::networkd;
    test::FakeCommandRunner commands;
    commands.failure = "/usr/sbin/netplan generate: exited with status 1: Error in network definition";
    Lines done;
    Result<void> result = notify_network_service(RendererKind::netplan, "/", &bus, commands, done);
    REQUIRE_FALSE(result.ok());
    CHECK(result.error().message ==
          "/usr/sbin/netplan generate: exited with status 1: Error in network definition");
    CHECK(shown(commands.runs) == shown(Argvs{kGenerate}));
    CHECK(shown(bus.calls) == "[]");
    CHECK(shown(done) == "[]");
  }

  TEST_CASE("when the service cannot be found out, the error follows what was already done") {
    test::FakeServiceBus bus;
    bus.service = NetworkService::networkd;
    bus.fail("active_network_service",
             "org.freedesktop.systemd1.Manager.GetUnit systemd-networkd.service: Connection timed out");
    test::FakeCommandRunner commands;
    Lines done;
    Result<void> result = notify_network_service(RendererKind::netplan, "/", &bus, commands, done);
    REQUIRE_FALSE(result.ok());
    CHECK(result.error().message ==
          "org.freedesktop.systemd1.Manager.GetUnit systemd-networkd.service: Connection timed out");
    CHECK(shown(bus.calls) == shown(Lines{"active_network_service"}));
    CHECK(shown(done) == shown(Lines{"ran netplan generate"}));
  }

  TEST_CASE("a refused reload is the error; what ran before it is still reported") {
    SUBCASE("systemd-networkd") {
      test::FakeServiceBus bus;
      bus.service = NetworkService::networkd;
      bus.fail("reload_networkd",
               "org.freedesktop.network1.Manager.Reload: org.freedesktop.DBus.Error.AccessDenied");
      test::FakeCommandRunner commands;
      Lines done;
      Result<void> result = notify_network_service(RendererKind::netplan, "/", &bus, commands, done);
      REQUIRE_FALSE(result.ok());
      CHECK(result.error().message ==
            "org.freedesktop.network1.Manager.Reload: org.freedesktop.DBus.Error.AccessDenied");
      CHECK(shown(bus.calls) == shown(Lines{"active_network_service", "reload_networkd"}));
      CHECK(shown(done) == shown(Lines{"ran netplan generate"}));
    }
    SUBCASE("NetworkManager") {
      test::FakeServiceBus bus;
      bus.service = NetworkService::network_manager;
      bus.fail("reload_network_manager", "ReloadConnections: refused");
      test::FakeCommandRunner commands;
      Lines done;
      Result<void> result = notify_network_service(RendererKind::network_scripts, "/", &bus, commands, done);
      REQUIRE_FALSE(result.ok());
      CHECK(result.error().message == "ReloadConnections: refused");
      CHECK(shown(bus.calls) == shown(Lines{"active_network_service", "reload_network_manager"}));
      CHECK(shown(done) == "[]");
    }
  }

  TEST_CASE("without a system bus only netplan generate runs") {
    test::FakeCommandRunner commands;
    Lines done;
    CHECK(notify_network_service(RendererKind::netplan, "/", nullptr, commands, done).ok());
    CHECK(shown(commands.runs) == shown(Argvs{kGenerate}));
    CHECK(shown(done) == shown(Lines{"ran netplan generate"}));

    test::FakeCommandRunner scripts_commands;
    Lines scripts_done;
    CHECK(notify_network_service(RendererKind::network_scripts, "/", nullptr, scripts_commands, scripts_done)
              .ok());
    CHECK(shown(scripts_commands.runs) == "[]");
    CHECK(shown(scripts_done) == "[]");
  }

  TEST_CASE("network services are named as the log shows them") {
    CHECK(network_service_name(NetworkService::none) == "none");
    CHECK(network_service_name(NetworkService::networkd) == "systemd-networkd");
    CHECK(network_service_name(NetworkService::network_manager) == "NetworkManager");
    CHECK(network_service_name(NetworkService::network_scripts) == "network-scripts");
  }
}
