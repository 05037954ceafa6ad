#pragma once
/// The process around one run: a stop request by signal, and the lock that keeps two applies
/// from changing files and kernel objects at the same time.

#include <memory>
#include <string>
#include <string_view>

#include "nicsync/log.hpp"
#include "nicsync/result.hpp"

namespace nicsync {

/// Installs handlers for SIGTERM, SIGINT and SIGHUP that only record the signal (no restart of
/// interrupted system calls is needed: every wait in nicsync is bounded). A run checks
/// stop_signal() between steps: before it changes anything, and between two NICs of a live apply.
void install_stop_handlers();

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
