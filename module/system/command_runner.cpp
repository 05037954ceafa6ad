// Running a program (`netplan generate`, `udevadm settle`): posix_spawn of an absolute path, its
// output read through a pipe until it exits (only the tail is kept, for the error), then
// waitpid. start() returns after the spawn; the reading and reaping happen in wait().

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "nicsync/service_bus.hpp"

namespace nicsync {

namespace {

constexpr size_t kKeptOutput = 4096;  ///< bytes of the program's output kept for the error
constexpr size_t kShownLine = 300;    ///< at most this much of its last line is shown

/// Closes a file descriptor when it goes out of scope.
class FileDescriptor {
 public:
  FileDescriptor() = default;
  explicit FileDescriptor(int fd) : fd_(fd) {}
  ~FileDescriptor() { reset(); }
  FileDescriptor(const FileDescriptor&) = delete;
  FileDescriptor& operator=(const FileDescriptor&) = delete;
  int get() const { return fd_; }
  /// Gives the descriptor up: the caller closes it.
  int release() {
    int fd = fd_;
    fd_ = -1;
    return fd;
  }
  void reset() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  int fd_ = -1;
};

/// posix_spawn_file_actions_t, destroyed with its scope.
class SpawnActions {
 public:
  SpawnActions() { ok_ = ::posix_spawn_file_actions_init(&actions_) == 0; }
  ~SpawnActions() {
    if (ok_) ::posix_spawn_file_actions_destroy(&actions_);
  }
  SpawnActions(const SpawnActions&) = delete;
  SpawnActions& operator=(const SpawnActions&) = delete;
  bool ok() const { return ok_; }
  posix_spawn_file_actions_t* get() { return &actions_; }

 private:
  posix_spawn_file_actions_t actions_{};
  bool ok_ = false;
};

/// posix_spawnattr_t, destroyed with its scope.
class SpawnAttributes {
 public:
  SpawnAttributes() { ok_ = ::posix_spawnattr_init(&attributes_) == 0; }
  ~SpawnAttributes() {
    if (ok_) ::posix_spawnattr_destroy(&attributes_);
  }
  SpawnAttributes(const SpawnAttributes&) = delete;
  SpawnAttributes& operator=(const SpawnAttributes&) = delete;
  bool ok() const { return ok_; }
  posix_spawnattr_t* get() { return &attributes_; }

 private:
  posix_spawnattr_t attributes_{};
  bool ok_ = false;
};

/// "/usr/sbin/netplan generate --root-dir /x": how the command is named in errors.
std::string command_text(const std::vector<std::string>& argv) {
  std::string text;
  for (const std::string& arg : argv) {
    if (!text.empty()) text += ' ';
    text += arg;
  }
  return text;
}

/// The last non-empty line of the program's output, shortened to kShownLine.
std::string last_line(std::string_view output) {
  while (!output.empty() && (output.back() == '\n' || output.back() == '\r' || output.back() == ' ')) {
    output.remove_suffix(1);
  }
  size_t newline = output.rfind('\n');
  if (newline != std::string_view::npos) output.remove_prefix(newline + 1);
  std::string line(output.substr(0, kShownLine));
  if (output.size() > kShownLine) line += "...";
  return line;
}

/// waitpid, retried on EINTR. Returns what waitpid returns; -1 with errno set on error.
pid_t wait_for(pid_t pid, int options, int& status) {
  while (true) {
    pid_t r = ::waitpid(pid, &status, options);
    if (r >= 0 || errno != EINTR) return r;
  }
}

/// The end of a program's output: only the last kKeptOutput bytes (at least) are kept.
class OutputTail {
 public:
  /// One read(2) from `fd` into the tail: its result (0 at EOF; -1 with errno set).
  ssize_t read_from(int fd) {
    char buffer[4096];
    ssize_t n = ::read(fd, buffer, sizeof buffer);
    if (n > 0) {
      text_.append(buffer, static_cast<size_t>(n));
      if (text_.size() > 2 * kKeptOutput) text_.erase(0, text_.size() - kKeptOutput);
    }
    return n;
  }
  const std::string& text() const { return text_; }

 private:
  std::string text_;
};

/// How a started program ended: its wait status, or that it ran past kCommandTimeoutSeconds.
struct Ending {
  int status = 0;
  bool timed_out = false;
};

using Deadline = std::chrono::steady_clock::time_point;

/// Reads the program's output until it exits, and reaps it; kills it at the deadline. The pipe's
/// EOF usually says it exited; polling waitpid now and then covers a program that exits while a
/// child it left behind keeps the pipe open.
Result<Ending> collect(pid_t pid, int output_fd, OutputTail& output, const std::string& command,
                       Deadline deadline) {
  auto fail = [&](const char* what) {
    Error error{command + ": " + what + ": " + std::strerror(errno)};
    int status = 0;
    ::kill(pid, SIGKILL);
    wait_for(pid, 0, status);
    return error;
  };
  Ending ending;
  while (true) {
    auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      ::kill(pid, SIGKILL);
      wait_for(pid, 0, ending.status);
      ending.timed_out = true;
      return ending;
    }
    pollfd fd{output_fd, POLLIN, 0};
    int ready = ::poll(&fd, 1, static_cast<int>(std::min<int64_t>(left.count(), 100)));
    if (ready < 0 && errno != EINTR) return fail("cannot read its output");
    if (ready > 0) {
      ssize_t n = output.read_from(output_fd);
      if (n < 0 && errno != EINTR) return fail("cannot read its output");
      if (n == 0) break;  // EOF: it exited (or closed its output)
      continue;
    }
    pid_t r = wait_for(pid, WNOHANG, ending.status);
    if (r < 0) return fail("cannot wait for it");
    if (r == pid) {
      // Exited, while something it started holds the pipe: take what is already there.
      ::fcntl(output_fd, F_SETFL, O_NONBLOCK);
      while (output.read_from(output_fd) > 0) {
      }
      return ending;
    }
  }
  if (wait_for(pid, 0, ending.status) < 0) return fail("cannot wait for it");
  return ending;
}

/// Starts argv with stdin /dev/null, stdout and stderr into `output_fd`, the default signal
/// dispositions and an empty signal mask.
Result<pid_t> spawn(const std::vector<std::string>& argv, int output_fd, const std::string& command) {
  auto os_error = [&](const char* what, int error_number) {
    return Error{command + ": " + what + ": " + std::strerror(error_number)};
  };
  SpawnActions actions;
  SpawnAttributes attributes;
  if (!actions.ok() || !attributes.ok()) return os_error("cannot prepare to run it", ENOMEM);
  // dup2 clears O_CLOEXEC on the copies; every other descriptor of nicsync's is O_CLOEXEC.
  int e = ::posix_spawn_file_actions_addopen(actions.get(), STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  if (e == 0) e = ::posix_spawn_file_actions_adddup2(actions.get(), output_fd, STDOUT_FILENO);
  if (e == 0) e = ::posix_spawn_file_actions_adddup2(actions.get(), output_fd, STDERR_FILENO);
  sigset_t none;
  sigset_t all;
  sigemptyset(&none);
  sigfillset(&all);
  if (e == 0) e = ::posix_spawnattr_setsigmask(attributes.get(), &none);
  if (e == 0) e = ::posix_spawnattr_setsigdefault(attributes.get(), &all);
  if (e == 0) {
    e = ::posix_spawnattr_setflags(attributes.get(), POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  }
  if (e != 0) return os_error("cannot prepare to run it", e);

  std::vector<char*> args;
  args.reserve(argv.size() + 1);
  for (const std::string& arg : argv) args.push_back(const_cast<char*>(arg.c_str()));
  args.push_back(nullptr);
  pid_t pid = -1;
  e = ::posix_spawn(&pid, argv[0].c_str(), actions.get(), attributes.get(), args.data(), environ);
  if (e != 0) return os_error("cannot run it", e);
  return pid;
}

/// How a program that was reaped ended, as run() reports it: ok for exit status 0, else an Error
/// naming the command, the status or signal and the last line of its output.
Result<void> outcome(const Ending& ending, const OutputTail& output, const std::string& command) {
  if (ending.timed_out) {
    return Error{command + ": still running after " + std::to_string(kCommandTimeoutSeconds) + " s; killed"};
  }
  const int status = ending.status;
  std::string line = last_line(output.text());
  std::string detail = line.empty() ? "" : ": " + line;
  if (WIFEXITED(status)) {
    if (WEXITSTATUS(status) == 0) return {};
    return Error{command + ": exited with status " + std::to_string(WEXITSTATUS(status)) + detail};
  }
  if (WIFSIGNALED(status)) {
    int signal_number = WTERMSIG(status);
    const char* name = ::sigabbrev_np(signal_number);
    return Error{command + ": killed by signal " + std::to_string(signal_number) +
                 (name != nullptr ? std::string(" (SIG") + name + ")" : "") + detail};
  }
  return Error{command + ": ended with wait status " + std::to_string(status) + detail};
}

/// A program whose result is known when start() returns: one that could not be started, or one
/// a runner without a start() of its own ran to the end.
class FinishedCommand final : public StartedCommand {
 public:
  explicit FinishedCommand(Result<void> result) : result_(std::move(result)) {}
  Result<void> wait() override { return result_; }

 private:
  Result<void> result_;
};

/// A spawned program: its pid and the read end of its output pipe, until wait() reaps it.
class SpawnedCommand final : public StartedCommand {
 public:
  SpawnedCommand(pid_t pid, int output_fd, std::string command, Deadline deadline)
      : pid_(pid), output_(output_fd), command_(std::move(command)), deadline_(deadline) {}
  ~SpawnedCommand() override { (void)wait(); }
  SpawnedCommand(const SpawnedCommand&) = delete;
  SpawnedCommand& operator=(const SpawnedCommand&) = delete;

  Result<void> wait() override {
    if (!result_) {
      OutputTail output;
      Result<Ending> ending = collect(pid_, output_.get(), output, command_, deadline_);
      result_ = ending.ok() ? outcome(*ending, output, command_) : Result<void>(ending.error());
      output_.reset();
    }
    return *result_;
  }

 private:
  pid_t pid_;
  FileDescriptor output_;
  std::string command_;
  Deadline deadline_;
  std::optional<Result<void>> result_;
};

class PosixCommandRunner : public CommandRunner {
 public:
  Result<void> run(const std::vector<std::string>& argv) override { return start(argv)->wait(); }

  std::unique_ptr<StartedCommand> start(const std::vector<std::string>& argv) override {
    if (argv.empty() || !argv[0].starts_with('/')) {
      const std::string program = argv.empty() ? std::string() : argv[0];
      return finished(Error{"cannot run \"" + program + "\": not an absolute path"});
    }
    std::string command = command_text(argv);
    int pipe_fds[2];
    if (::pipe2(pipe_fds, O_CLOEXEC) != 0) {
      return finished(Error{command + ": cannot create a pipe: " + std::strerror(errno)});
    }
    FileDescriptor read_end(pipe_fds[0]);
    FileDescriptor write_end(pipe_fds[1]);
    const Deadline deadline = std::chrono::steady_clock::now() + std::chrono::seconds(kCommandTimeoutSeconds);
    Result<pid_t> pid = spawn(argv, write_end.get(), command);
    if (!pid.ok()) return finished(pid.error());
    // The program holds the only write end now: EOF when it is done with it.
    return std::make_unique<SpawnedCommand>(*pid, read_end.release(), std::move(command), deadline);
  }

 private:
  static std::unique_ptr<StartedCommand> finished(Error error) {
    return std::make_unique<FinishedCommand>(std::move(error));
  }
};

}  // namespace

std::unique_ptr<StartedCommand> CommandRunner::start(const std::vector<std::string>& argv) {
  return std::make_unique<FinishedCommand>(run(argv));
}

std::unique_ptr<CommandRunner> make_command_runner() { return std::make_unique<PosixCommandRunner>(); }

}  // namespace nicsync
