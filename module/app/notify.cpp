// After a run changed files: tell the network service, so that it reads them now rather than at
// its next start. What each renderer and service needs is listed in service_bus.hpp.

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "nicsync/service_bus.hpp"

namespace nicsync {

std::string_view network_service_name(NetworkService service) {
  switch (service) {
    case NetworkService::none:
      return "none";
    case NetworkService::networkd:
      return "systemd-networkd";
    case NetworkService::network_manager:
      return "NetworkManager";
    case NetworkService::network_scripts:
      return "network-scripts";
  }
  return "none";
}

namespace {

std::vector<std::string> netplan_generate_argv(const std::string& root) {
  std::vector<std::string> argv = {std::string(kNetplanProgram), "generate"};
  if (root != "/") {
    argv.push_back("--root-dir");
    argv.push_back(root);
  }
  return argv;
}

}  // namespace

std::unique_ptr<StartedCommand> start_netplan_generate(RendererKind renderer, const std::string& root,
                                                       CommandRunner& commands) {
  if (renderer != RendererKind::netplan) return nullptr;
  return commands.start(netplan_generate_argv(root));
}

Result<void> notify_network_service(RendererKind renderer, const std::string& root, ServiceBus* bus,
                                    CommandRunner& commands, std::vector<std::string>& done,
                                    StartedCommand* started_generate) {
  if (renderer == RendererKind::netplan) {
    // netplan's files reach networkd (or NetworkManager) only through what `netplan generate`
    // writes under /run.
    NICSYNC_TRY(started_generate != nullptr ? started_generate->wait()
                                            : commands.run(netplan_generate_argv(root)));
    done.push_back(root == "/" ? "ran netplan generate" : "ran netplan generate --root-dir " + root);
  }
  if (bus == nullptr) return {};

  NICSYNC_TRY_ASSIGN(NetworkService service, bus->active_network_service());
  switch (service) {
    case NetworkService::networkd:
      // networkd reads no network-scripts files; it only needs to hear about netplan's output.
      if (renderer == RendererKind::netplan) {
        NICSYNC_TRY(bus->reload_networkd());
        done.push_back("reloaded systemd-networkd (org.freedesktop.network1.Manager.Reload)");
      }
      break;
    case NetworkService::network_manager:
      // netplan's NetworkManager output, or the ifcfg files through NetworkManager's ifcfg-rh plugin.
      NICSYNC_TRY(bus->reload_network_manager());
      done.push_back("reloaded NetworkManager (org.freedesktop.NetworkManager.Settings.ReloadConnections)");
      break;
    case NetworkService::network_scripts:  // reads its files at its next start; live apply did the rest
    case NetworkService::none:
      break;
  }
  return {};
}

}  // namespace nicsync
