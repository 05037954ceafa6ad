#pragma once
/// The process around one run: a stop request by signal, and the lock that keeps two applies
/// from changing files and kernel objects at the same time.

#include <memory>
#include <string>
#include <string_view>

#include "nicsync/log.hpp"
#include "nicsync/result.hpp"

namespace nicsync {

/// Installs handlers for SIGTERM, SIGINT and SIGHUP. Outside a DeferStops section (before a run
/// changes anything: reading settings, waiting for the lock, fetching, planning) the handler ends
/// the process at once, exit status 128 + the signal, after one line on stderr ("nicsync: error:
/// stopped by SIGTERM before changing anything"). Inside one it only records the signal; the run
/// checks stop_signal() between steps: after the file commit, and between two NICs of a live apply.
void install_stop_handlers();

/// While one exists (they nest), a stop signal is recorded, not acted on at once.
class DeferStops {
 public:
  DeferStops();
  ~DeferStops();
  DeferStops(const DeferStops&) = delete;
  DeferStops& operator=(const DeferStops&) = delete;
};

/// The signal that asked this process to stop, or 0.
int stop_signal();

/// "SIGTERM", "SIGINT", "SIGHUP", else "signal N".
std::string signal_name(int signal);

/// Where the lock lives on the target system (under --root).
inline constexpr std::string_view kRunLockPath = "/run/nicsync/lock";

/// Held while one apply runs; released when destroyed (or when the process dies: flock).
class RunLock {
 public:
  virtual ~RunLock() = default;
};

/// Takes the apply lock: an flock(2) on <root>/run/nicsync/lock, created 0644 (its directory
/// 0755) if missing and opened with O_NOFOLLOW. When another process holds it, logs one line
/// naming that process and waits, up to `timeout_ms` (0: no wait) or until a stop signal; then
/// the Error says who holds it and for how long it waited.
Result<std::unique_ptr<RunLock>> acquire_run_lock(const std::string& root, unsigned timeout_ms, Log& log);

}  // namespace nicsync
