#pragma once
/// Telling the network service that its configuration changed: which service runs (systemd's
/// unit states over D-Bus), its reload call, and `netplan generate`. Behind interfaces, so that
/// the pipeline is tested with fakes that record the calls.

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "nicsync/render.hpp"
#include "nicsync/result.hpp"

namespace nicsync {

/// The network service that brings up interfaces on this machine.
enum class NetworkService {
  none,             ///< none of the ones below is active (early boot, or an unknown one)
  networkd,         ///< systemd-networkd.service
  network_manager,  ///< NetworkManager.service
  network_scripts,  ///< network.service (RHEL network-scripts)
};

/// "none", "systemd-networkd", "NetworkManager", "network-scripts".
std::string_view network_service_name(NetworkService service);

/// The system bus, as nicsync uses it.
class ServiceBus {
 public:
  virtual ~ServiceBus() = default;
  /// Asks systemd (org.freedesktop.systemd1) for the ActiveState of systemd-networkd.service,
  /// NetworkManager.service and network.service, in that order; the first "active" (or
  /// "reloading") one wins. A unit systemd does not know counts as inactive.
  virtual Result<NetworkService> active_network_service() = 0;
  /// org.freedesktop.network1 /org/freedesktop/network1 org.freedesktop.network1.Manager.Reload
  virtual Result<void> reload_networkd() = 0;
  /// org.freedesktop.NetworkManager /org/freedesktop/NetworkManager/Settings
  /// org.freedesktop.NetworkManager.Settings.ReloadConnections
  virtual Result<void> reload_network_manager() = 0;
};

/// The real bus: sd_bus_open_system(), which honours $DBUS_SYSTEM_BUS_ADDRESS (tests point it at
/// a private dbus-daemon). An Error when no system bus can be reached. Every call waits at most
/// kBusCallTimeoutSeconds for its reply; errors name the service, the method and the D-Bus error,
/// e.g. "org.freedesktop.network1.Manager.Reload: org.freedesktop.DBus.Error.AccessDenied: ...".
/// Which unit is active is read with GetUnit (no side effect; a unit systemd has not loaded is
/// not active, so its NoSuchUnit error means inactive) and the unit's ActiveState property.
Result<std::unique_ptr<ServiceBus>> make_sd_bus_service_bus();

inline constexpr int kBusCallTimeoutSeconds = 5;

/// A program CommandRunner::start() started, running beside nicsync until wait(). Destroying one
/// that was not waited for waits for it too (its result unread): nicsync neither leaves a program
/// it started running behind it nor kills one halfway (netplan generate writing /run), short of
/// the kCommandTimeoutSeconds every program gets.
class StartedCommand {
 public:
  virtual ~StartedCommand() = default;
  /// Waits for the program to end; what run() would have returned. Only the first call waits;
  /// later ones return the same result.
  virtual Result<void> wait() = 0;
};

/// Runs programs: fork/exec of an argv (never a shell), waiting for it to exit (run()) or leaving
/// it running until the caller waits (start()).
class CommandRunner {
 public:
  virtual ~CommandRunner() = default;
  /// Runs argv[0] (an absolute path) with argv; an Error naming the program and its exit status
  /// (and the last line it wrote to stderr) unless it exits 0.
  virtual Result<void> run(const std::vector<std::string>& argv) = 0;
  /// Starts argv as run() would and returns at once; its result, errors starting it included,
  /// comes from wait(). This default runs it to the end here (a runner that runs nothing, e.g. a
  /// test's fake, records the call in order without overriding this).
  virtual std::unique_ptr<StartedCommand> start(const std::vector<std::string>& argv);
};

/// posix_spawn of argv[0] (no shell, no PATH lookup; a relative argv[0] is an Error), with stdin
/// /dev/null and stdout and stderr into a pipe (so nothing mixes into nicsync's own output; the
/// last line is kept for the error), nicsync's environment, default signal dispositions and an
/// empty signal mask. A program still running after kCommandTimeoutSeconds is killed (SIGKILL).
std::unique_ptr<CommandRunner> make_command_runner();

inline constexpr int kCommandTimeoutSeconds = 60;

/// netplan's command: package netplan.io installs it there (Debian, Ubuntu); where /usr/sbin is
/// merged into /usr/bin the path still resolves. notify_network_service() runs it as
/// `kNetplanProgram generate [--root-dir ROOT]`.
inline constexpr std::string_view kNetplanProgram = "/usr/sbin/netplan";

/// After an apply changed files (call only then): renderer netplan -> `netplan generate`
/// (with `--root-dir ROOT` when `root` is not "/"), then networkd Reload when systemd-networkd is
/// active, or Settings.ReloadConnections when NetworkManager is; renderer network-scripts ->
/// ReloadConnections when NetworkManager is active (its ifcfg-rh plugin reads the files), else
/// nothing (network.service reads them at its next start; live apply did the rest).
/// Every call made is logged as one line by the caller: the returned strings, e.g.
/// "ran netplan generate", "reloaded systemd-networkd (org.freedesktop.network1.Manager.Reload)".
/// The first failure is an Error; calls made before it are still returned through `done`.
/// `bus` may be null (no system bus): then only `netplan generate` runs, as when no network
/// service is active; the caller reports why there is no bus.
/// `started_generate`: the `netplan generate` the caller started with start_netplan_generate()
/// when the files were written, so that it ran beside the live apply; it is waited for here
/// instead of being run. Null: it is run here (renderer netplan).
Result<void> notify_network_service(RendererKind renderer, const std::string& root, ServiceBus* bus,
                                    CommandRunner& commands, std::vector<std::string>& done,
                                    StartedCommand* started_generate = nullptr);

/// Renderer netplan: starts `netplan generate` (as notify_network_service() would run it) and
/// returns it running; other renderers: null. Call once the files are written; pass the result
/// to notify_network_service().
std::unique_ptr<StartedCommand> start_netplan_generate(RendererKind renderer, const std::string& root,
                                                       CommandRunner& commands);

}  // namespace nicsync
