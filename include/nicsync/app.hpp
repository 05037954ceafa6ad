#pragma once
/// The launcher: command-line parsing and the run pipeline
/// (detect -> fetch -> resolve -> plan -> render -> write -> report).

#include <chrono>
#include <cstdint>
#include <functional>
#include <iosfwd>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "nicsync/config.hpp"
#include "nicsync/filesystem.hpp"
#include "nicsync/http.hpp"
#include "nicsync/live_mode.hpp"
#include "nicsync/log.hpp"
#include "nicsync/model.hpp"
#include "nicsync/netlink.hpp"
#include "nicsync/plan.hpp"
#include "nicsync/provider.hpp"
#include "nicsync/render.hpp"
#include "nicsync/service_bus.hpp"

namespace nicsync {

/// Process exit codes (documented in the README and `nicsync --help`).
enum ExitCode : int {
  kExitOk = 0,       ///< done (with or without changes)
  kExitFailed = 1,   ///< the run failed: metadata, validation, interfaces or files; nothing half-written
  kExitUsage = 2,    ///< bad command line
  kExitNoCloud = 3,  ///< no supported cloud detected (and no vendor given)
  /// 128 + N: stopped by signal N (SIGTERM: 143) between two steps; nothing half-written.
  kExitSignalBase = 128,
};

enum class Command { apply, plan, show, config_check };
enum class OutputFormat { text, json };

/// `boot` (nicsync.service, `--boot`): short metadata timeouts, fall back to cloud-init's data
/// and the last good view when the service cannot be reached, never fail the boot for missing
/// metadata, and on the live system wait (at most kUdevSettleTimeoutSeconds) for udev to finish
/// naming the NICs.
enum class RunMode { normal, boot };

/// One run's settings. parse_command_line() fills `command_line` with only the options given;
/// apply_settings() merges it over the settings files and fills the rest.
struct RunOptions {
  Command command = Command::apply;
  std::string root = "/";
  OutputFormat format = OutputFormat::text;
  RunMode mode = RunMode::normal;
  Config command_line;  ///< the settings layer given on the command line

  // Effective settings (apply_settings):
  std::optional<std::string> metadata_url;
  std::optional<RendererKind> renderer;
  std::optional<Vendor> vendor;
  LiveMode live = LiveMode::automatic;
  PlanOptions plan;
  HttpOptions http;
  std::map<std::string, std::vector<Ipv4Address>> oracle_secondary_ips;  ///< VNIC id or MAC -> IPs
  OracleApiSettings oracle_api;  ///< as merged (unset enabled: true)
  HttpOptions api_http;          ///< for the OCI API: `http` with oracle.api.ca_bundle
  std::optional<std::vector<InterfaceSelector>> include_interfaces;
  std::vector<InterfaceSelector> exclude_interfaces;
  AwsOptions aws;  ///< for fetch_aws(); only allow_imdsv1 comes from the settings (aws.allow_imdsv1)
  /// How long a run waits for a NIC of the metadata to appear locally (hot attach), in ms.
  uint32_t attach_timeout_ms = 5000;
  /// How long an apply waits for another running apply to finish (the lock), in ms.
  uint32_t lock_timeout_ms = 30000;
  Config effective;  ///< every layer merged, for `config check`
};

/// `udevadm settle` before a boot run reads the interface names (see RunMode::boot).
inline constexpr std::string_view kUdevadmProgram = "/usr/bin/udevadm";
inline constexpr int kUdevSettleTimeoutSeconds = 5;

/// The OS touchpoints one run uses; tests pass fakes.
struct Services {
  FileSystem& fs;
  HttpClient& http;
  HttpClient* api_http = nullptr;  ///< the OCI API's client; null: the API is not asked
  Netlink* netlink = nullptr;  ///< null when no rtnetlink socket could be opened
  std::string netlink_error{};   ///< why, when netlink is null
  /// The launcher's connects at its first call (a run that notifies nobody never loads libsystemd),
  /// and its calls fail when the system bus cannot be reached; null: nobody to notify, or
  /// unreachable as said by bus_error.
  ServiceBus* bus = nullptr;
  std::string bus_error{};     ///< why, when bus is null and a notification was due
  CommandRunner* commands = nullptr;  ///< runs `udevadm settle`, `netplan generate`; null: neither
  /// The signal that asked the process to stop, or 0 (see install_stop_handlers()); empty: never.
  std::function<int()> stop_signal{};
  /// Waits between two looks for a NIC that is not there yet; empty: std::this_thread::sleep_for.
  std::function<void(std::chrono::milliseconds)> sleep{};
};

/// Parses argv (without argv[0]). Returns the options, or an Error for a usage problem.
/// `--help` and `--version` are reported through `early_exit_text`.
Result<RunOptions> parse_command_line(const std::vector<std::string>& args, std::optional<std::string>& early_exit_text);

/// Merges the command-line layer over the settings files (nicsync.yaml, conf.d, cloud-config)
/// read through `fs`, validates the result and fills the effective fields of `options`.
Result<void> apply_settings(RunOptions& options, FileSystem& fs);

/// Runs one command. Results go to `out` (diffs, show output), progress and errors to `log`.
int run(const RunOptions& options, Services& services, std::ostream& out, Log& log);

/// main(): builds the real services from argv and runs.
int run_cli(int argc, char** argv);

}  // namespace nicsync
