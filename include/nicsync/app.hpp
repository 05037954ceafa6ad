#pragma once
/// The launcher: command-line parsing and the run pipeline
/// (detect -> fetch -> resolve -> plan -> render -> write -> report).

#include <iosfwd>
#include <optional>
#include <string>
#include <vector>

#include "nicsync/filesystem.hpp"
#include "nicsync/http.hpp"
#include "nicsync/model.hpp"
#include "nicsync/netlink.hpp"
#include "nicsync/plan.hpp"
#include "nicsync/render.hpp"

namespace nicsync {

/// Process exit codes (documented in the README and `nicsync --help`).
enum ExitCode : int {
  kExitOk = 0,       ///< done (with or without changes)
  kExitFailed = 1,   ///< the run failed: metadata, validation, interfaces or files; nothing half-written
  kExitUsage = 2,    ///< bad command line
};

enum class Command { apply, plan, show };
enum class OutputFormat { text, json };
/// automatic: apply to the running kernel when networking is up (the primary NIC has an IPv4
/// address) and --root is /; on: always; off: write files only.
enum class LiveMode { automatic, on, off };

struct RunOptions {
  Command command = Command::apply;
  std::string root = "/";
  std::optional<std::string> metadata_url;
  std::optional<RendererKind> renderer;
  std::optional<Vendor> vendor;
  OutputFormat format = OutputFormat::text;
  LiveMode live = LiveMode::automatic;
  PlanOptions plan;
};

/// The OS touchpoints one run uses; tests pass fakes.
struct Services {
  FileSystem& fs;
  HttpClient& http;
  Netlink* netlink = nullptr;  ///< null when no rtnetlink socket could be opened
  std::string netlink_error;   ///< why, when netlink is null
};

/// Parses argv (without argv[0]). Returns the options, or an Error for a usage problem.
/// `--help` and `--version` are reported through `early_exit_text`.
Result<RunOptions> parse_command_line(const std::vector<std::string>& args, std::optional<std::string>& early_exit_text);

/// Runs one command. Results go to `out` (diffs, show output), progress and errors to `log`.
int run(const RunOptions& options, Services& services, std::ostream& out, std::ostream& log);

/// main(): builds the real services from argv and runs.
int run_cli(int argc, char** argv);

}  // namespace nicsync
