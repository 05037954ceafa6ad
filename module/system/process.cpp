#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstring>
#include <thread>

#include "nicsync/process.hpp"

namespace nicsync {

namespace {

volatile std::sig_atomic_t g_stop_signal = 0;
volatile std::sig_atomic_t g_deferring = 0;  ///< DeferStops sections open

/// Nothing has been changed when a stop comes outside DeferStops: say so and go (only
/// async-signal-safe calls here).
template <size_t N>
[[noreturn]] void stop_now(const char (&line)[N], int signal) {
  ssize_t ignored = ::write(STDERR_FILENO, line, N - 1);
  (void)ignored;
  ::_exit(128 + signal);
}

extern "C" void record_stop_signal(int signal) {
  g_stop_signal = signal;
  if (g_deferring != 0) return;
  switch (signal) {
    case SIGTERM: stop_now("nicsync: error: stopped by SIGTERM before changing anything\n", signal);
    case SIGINT: stop_now("nicsync: error: stopped by SIGINT before changing anything\n", signal);
    default: stop_now("nicsync: error: stopped by SIGHUP before changing anything\n", signal);
  }
}

std::string os_error(const std::string& what) { return what + ": " + std::strerror(errno); }

class FlockRunLock : public RunLock {
 public:
  explicit FlockRunLock(int fd) : fd_(fd) {}
  ~FlockRunLock() override { ::close(fd_); }  // closing releases the flock
  FlockRunLock(const FlockRunLock&) = delete;
  FlockRunLock& operator=(const FlockRunLock&) = delete;

 private:
  int fd_;
};

/// The pid the holder wrote into the lock file, for the message ("" when unreadable).
std::string holder_of(int fd) {
  char buffer[32] = {};
  ssize_t n = ::pread(fd, buffer, sizeof buffer - 1, 0);
  if (n <= 0) return "";
  std::string text(buffer, static_cast<size_t>(n));
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
  if (text.empty() || text.find_first_not_of("0123456789") != std::string::npos) return "";
  return text;
}

std::string holder_text(const std::string& pid) {
  return pid.empty() ? "another nicsync apply" : "another nicsync apply (pid " + pid + ")";
}

/// Creates `path` (0755) and its missing parents under nothing but `root`.
Result<void> make_directory(const std::string& path) {
  if (::mkdir(path.c_str(), 0755) == 0 || errno == EEXIST) return {};
  if (errno != ENOENT) return Error{os_error("cannot create directory " + path)};
  size_t slash = path.rfind('/');
  if (slash == std::string::npos || slash == 0) return Error{os_error("cannot create directory " + path)};
  NICSYNC_TRY(make_directory(path.substr(0, slash)));
  if (::mkdir(path.c_str(), 0755) != 0 && errno != EEXIST) return Error{os_error("cannot create directory " + path)};
  return {};
}

}  // namespace

void install_stop_handlers() {
  struct sigaction action {};
  action.sa_handler = record_stop_signal;
  sigemptyset(&action.sa_mask);
  action.sa_flags = 0;
  for (int signal : {SIGTERM, SIGINT, SIGHUP}) ::sigaction(signal, &action, nullptr);
}

int stop_signal() { return g_stop_signal; }

DeferStops::DeferStops() { g_deferring = g_deferring + 1; }

DeferStops::~DeferStops() { g_deferring = g_deferring - 1; }

std::string signal_name(int signal) {
  switch (signal) {
    case SIGTERM: return "SIGTERM";
    case SIGINT: return "SIGINT";
    case SIGHUP: return "SIGHUP";
    default: return "signal " + std::to_string(signal);
  }
}

Result<std::unique_ptr<RunLock>> acquire_run_lock(const std::string& root, unsigned timeout_ms, Log& log) {
  std::string base = root == "/" ? "" : root;
  while (!base.empty() && base.back() == '/') base.pop_back();
  std::string path = base + std::string(kRunLockPath);
  NICSYNC_TRY(make_directory(path.substr(0, path.rfind('/'))));
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0644);
  if (fd < 0) return Error{os_error("cannot open the lock " + path)};
  auto fail = [&](Error error) {
    ::close(fd);
    return error;
  };
  struct stat st {};
  if (::fstat(fd, &st) != 0) return fail(Error{os_error("cannot open the lock " + path)});
  if (!S_ISREG(st.st_mode)) return fail(Error{"the lock " + path + " is not a regular file"});

  using Clock = std::chrono::steady_clock;
  const auto start = Clock::now();
  const auto deadline = start + std::chrono::milliseconds(timeout_ms);
  bool announced = false;
  while (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    if (errno != EWOULDBLOCK && errno != EINTR) return fail(Error{os_error("cannot lock " + path)});
    std::string holder = holder_text(holder_of(fd));
    auto waited = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start).count();
    if (Clock::now() >= deadline) {
      return fail(Error{holder + " still holds " + path + " after " + std::to_string(waited) +
                        " ms (lock_timeout_ms); nothing was changed"});
    }
    if (!announced) {
      log.info(holder + " holds " + path + "; waiting up to " + std::to_string(timeout_ms) + " ms for it",
               {{"ACTION", "wait"}});
      announced = true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  // Tell a later waiter who holds it.
  std::string pid = std::to_string(::getpid()) + "\n";
  if (::ftruncate(fd, 0) != 0 || ::pwrite(fd, pid.data(), pid.size(), 0) < 0) {
    return fail(Error{os_error("cannot write the lock " + path)});
  }
  return std::unique_ptr<RunLock>(std::make_unique<FlockRunLock>(fd));
}

}  // namespace nicsync
