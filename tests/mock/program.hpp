#pragma once
/// What the standalone mock programs (nicsync-mock-imds, nicsync-mock-oci-api) share: the
/// command-line conventions (--option VALUE or --option=VALUE, one-line errors, exit 2), the
/// port file, and a main() that serves until SIGTERM or SIGINT. Header-only, so that each
/// program stays one source file.

#include <charconv>
#include <cstddef>
#include <cstdio>
#include <exception>
#include <fstream>
#include <iostream>
#include <iterator>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include <pthread.h>
#include <signal.h>
#include <unistd.h>

namespace nicsync::mock::program {

/// A command-line or setup error: reported on one line, exit status 2.
struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

/// The whole of `text` as a decimal Int, or nullopt (empty, trailing characters, out of range).
template <typename Int>
std::optional<Int> parse_int(std::string_view text) {
  Int value = 0;
  const auto* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (text.empty() || ec != std::errc{} || ptr != end) return std::nullopt;
  return value;
}

/// `text` as an Int >= `min`; else UsageError "OPTION TEXT: expected a number >= MIN".
template <typename Int>
Int parse_number(const std::string& option, const std::string& text, Int min) {
  auto n = parse_int<Int>(text);
  if (!n || *n < min)
    throw UsageError(option + " " + text + ": expected a number >= " + std::to_string(min));
  return *n;
}

/// "HOST:PORT" or "[ADDR]:PORT" (PORT 0-65535) as {HOST, PORT}; else UsageError "--listen ARG: ...".
inline std::pair<std::string, int> parse_listen(const std::string& arg) {
  const auto colon = arg.rfind(':');
  auto port = colon == std::string::npos ? std::nullopt
                                         : parse_int<int>(std::string_view(arg).substr(colon + 1));
  if (!port || *port < 0 || *port > 65535 || colon == 0)
    throw UsageError("--listen " + arg + ": expected HOST:PORT");
  std::string host = arg.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  return {host, *port};
}

/// The arguments after argv[0], one option at a time, each as --name VALUE or --name=VALUE.
class Args {
 public:
  Args(int argc, char** argv) : args_(argv + 1, argv + argc) {}

  /// Moves to the next argument, splitting "--name=VALUE"; false when none is left.
  bool next() {
    if (next_ >= args_.size()) return false;
    name_ = args_[next_++];
    inline_value_.reset();
    if (auto eq = name_.find('='); name_.starts_with("--") && eq != std::string::npos) {
      inline_value_ = name_.substr(eq + 1);
      name_ = name_.substr(0, eq);
    }
    return true;
  }

  /// The current option's name, without any "=VALUE".
  const std::string& name() const { return name_; }

  /// Whether the current option is --help or -h.
  bool is_help() const { return name_ == "--help" || name_ == "-h"; }

  /// Whether the current option was given as --name=VALUE.
  bool has_inline_value() const { return inline_value_.has_value(); }

  /// The current option's "=VALUE", else the next argument (consumed); else UsageError "NAME: missing value".
  std::string value() {
    if (inline_value_) return *inline_value_;
    if (next_ >= args_.size()) throw UsageError(name_ + ": missing value");
    return args_[next_++];
  }

 private:
  std::vector<std::string> args_;
  std::size_t next_ = 0;  ///< index of the argument after the current one
  std::string name_;
  std::optional<std::string> inline_value_;
};

/// The bytes of the file at `path`; else UsageError "PATH: cannot read WHAT".
inline std::string read_file(const std::string& path, const std::string& what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw UsageError(path + ": cannot read " + what);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

/// Writes "PORT\n" to `path` atomically (via rename(2)); else UsageError "PATH: cannot write port file".
inline void write_port_file(const std::string& path, int port) {
  const std::string tmp = path + ".tmp." + std::to_string(getpid());
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << std::to_string(port) + "\n";
    out.flush();
    if (!out) throw UsageError(path + ": cannot write port file");
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    std::remove(tmp.c_str());
    throw UsageError(path + ": cannot write port file");
  }
}

/// SIGTERM and SIGINT, the signals that stop a mock program.
inline sigset_t stop_signals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  return set;
}

/// Blocks until SIGTERM or SIGINT arrives (run() has blocked them in every thread).
inline void wait_for_stop() {
  const sigset_t set = stop_signals();
  int signal_number = 0;
  sigwait(&set, &signal_number);
}

/// main(): parse (nullopt: usage, 0; UsageError: 2), block SIGTERM/SIGINT, ignore SIGPIPE, serve (throws: 2).
template <typename Parse, typename Serve>
int run(const char* program, const char* usage, int argc, char** argv, Parse parse, Serve serve) {
  decltype(parse(argc, argv)) options;
  try {
    options = parse(argc, argv);
  } catch (const UsageError& e) {
    std::cerr << program << ": " << e.what() << " (see --help)\n";
    return 2;
  }
  if (!options) {
    std::cout << usage;
    return 0;
  }

  // Block the stop signals (and ignore SIGPIPE) before any thread starts, so that only sigwait()
  // in wait_for_stop() sees them and a client that hangs up cannot kill the process.
  const sigset_t set = stop_signals();
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  signal(SIGPIPE, SIG_IGN);

  try {
    serve(*options);
  } catch (const std::exception& e) {
    std::cerr << program << ": " << e.what() << "\n";
    return 2;
  }
  return 0;
}

}  // namespace nicsync::mock::program
