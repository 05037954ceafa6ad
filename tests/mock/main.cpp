// nicsync-mock-imds: serves one instance-metadata fixture over HTTP for the integration tests.

#include <charconv>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <iterator>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <signal.h>
#include <unistd.h>

#include "mock/mock_imds.hpp"

namespace {

constexpr const char* kProgram = "nicsync-mock-imds";

constexpr const char* kUsage =
    R"(Usage: nicsync-mock-imds --fixture FILE [options]

Serves the instance-metadata service described by a fixture (format nicsync-imds-fixture/1,
see tests/fixtures/README.md) until SIGTERM or SIGINT, then exits 0.

Options:
  --fixture FILE                 fixture to serve (required)
  --listen HOST:PORT             address to listen on (default 127.0.0.1:0, 0: any free port;
                                 IPv6 as [ADDR]:PORT)
  --port-file FILE               once listening, write the port to FILE (atomically, by rename)
  --latency-ms N                 delay every answer by N milliseconds
  --fault-status PREFIX:STATUS[:TIMES]
                                 answer requests whose path starts with PREFIX with STATUS and
                                 an empty body, TIMES times (default: always)
  --fault-close PREFIX[:TIMES]   close the connection without answering instead
  --fault-truncate PREFIX[:TIMES]
                                 send the headers and half the body, then close
  --override PATH=BODYFILE       serve the bytes of BODYFILE at PATH (added if absent)
  --drop PATH                    remove PATH from the fixture (it then answers 404)
  --log FILE                     append one line per request: METHOD PATH STATUS
                                 (STATUS 0: connection closed without answer)
  --help                         show this text

PREFIX may itself contain ':' (MAC addresses): STATUS and TIMES are the trailing numeric
fields, so give an explicit TIMES (-1: always) if PREFIX ends in ':' and digits. Faults apply
to the request path before aliasing, whatever the method, in the order given.
Every option may be given as --option VALUE or --option=VALUE; fault options repeat.
On startup prints "listening on http://HOST:PORT". Errors: one line on stderr, exit 2.
)";

/// A command-line or setup error: reported on one line, exit status 2.
struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct Options {
  std::string fixture;
  std::string host = "127.0.0.1";
  int port = 0;
  std::string port_file;
  std::string log_file;
  std::vector<nicsync::mock::Fault> faults;
  std::vector<std::pair<std::string, std::string>> overrides;  ///< path, body file
  std::vector<std::string> drops;
};

std::optional<int> parse_int(std::string_view text) {
  int value = 0;
  const auto* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (text.empty() || ec != std::errc{} || ptr != end) return std::nullopt;
  return value;
}

/// Splits "REST:N" into REST and N if the part after the last ':' is an integer.
std::pair<std::string, std::optional<int>> split_trailing_int(const std::string& text) {
  const auto colon = text.rfind(':');
  if (colon == std::string::npos) return {text, std::nullopt};
  auto n = parse_int(std::string_view(text).substr(colon + 1));
  if (!n) return {text, std::nullopt};
  return {text.substr(0, colon), n};
}

bool is_status(int n) { return n >= 100 && n <= 599; }

nicsync::mock::Fault parse_status_fault(const std::string& arg) {
  nicsync::mock::Fault fault;
  fault.kind = nicsync::mock::Fault::Kind::status;
  auto [rest, last] = split_trailing_int(arg);
  if (!last) throw UsageError("--fault-status " + arg + ": expected PREFIX:STATUS[:TIMES]");
  auto [prefix, before] = split_trailing_int(rest);
  if (before && is_status(*before)) {
    fault.path_prefix = prefix;
    fault.status = *before;
    fault.times = *last;
  } else {
    fault.path_prefix = rest;
    fault.status = *last;
  }
  if (!is_status(fault.status))
    throw UsageError("--fault-status " + arg + ": STATUS must be 100-599");
  if (fault.times < -1) throw UsageError("--fault-status " + arg + ": TIMES must be >= -1");
  return fault;
}

nicsync::mock::Fault parse_prefix_fault(const std::string& option, const std::string& arg,
                                        nicsync::mock::Fault::Kind kind) {
  nicsync::mock::Fault fault;
  fault.kind = kind;
  auto [prefix, times] = split_trailing_int(arg);
  fault.path_prefix = prefix;
  if (times) fault.times = *times;
  if (fault.times < -1) throw UsageError(option + " " + arg + ": TIMES must be >= -1");
  return fault;
}

void parse_listen(const std::string& arg, Options& o) {
  const auto colon = arg.rfind(':');
  auto port = colon == std::string::npos ? std::nullopt
                                         : parse_int(std::string_view(arg).substr(colon + 1));
  if (!port || *port < 0 || *port > 65535 || colon == 0)
    throw UsageError("--listen " + arg + ": expected HOST:PORT");
  std::string host = arg.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  o.host = host;
  o.port = *port;
}

/// Returns nullopt for --help.
std::optional<Options> parse_args(int argc, char** argv) {
  Options o;
  const std::vector<std::string> args(argv + 1, argv + argc);
  for (std::size_t i = 0; i < args.size(); ++i) {
    std::string name = args[i];
    std::optional<std::string> inline_value;
    if (auto eq = name.find('='); name.starts_with("--") && eq != std::string::npos) {
      inline_value = name.substr(eq + 1);
      name = name.substr(0, eq);
    }
    if (name == "--help" || name == "-h") return std::nullopt;
    auto value = [&]() -> std::string {
      if (inline_value) return *inline_value;
      if (i + 1 >= args.size()) throw UsageError(name + ": missing value");
      return args[++i];
    };
    if (name == "--fixture") {
      o.fixture = value();
    } else if (name == "--listen") {
      parse_listen(value(), o);
    } else if (name == "--port-file") {
      o.port_file = value();
    } else if (name == "--log") {
      o.log_file = value();
    } else if (name == "--latency-ms") {
      const std::string v = value();
      auto ms = parse_int(v);
      if (!ms || *ms < 0) throw UsageError("--latency-ms " + v + ": expected a number >= 0");
      nicsync::mock::Fault fault;
      fault.kind = nicsync::mock::Fault::Kind::latency;
      fault.latency = std::chrono::milliseconds(*ms);
      o.faults.push_back(fault);
    } else if (name == "--fault-status") {
      o.faults.push_back(parse_status_fault(value()));
    } else if (name == "--fault-close") {
      o.faults.push_back(
          parse_prefix_fault(name, value(), nicsync::mock::Fault::Kind::close_connection));
    } else if (name == "--fault-truncate") {
      o.faults.push_back(
          parse_prefix_fault(name, value(), nicsync::mock::Fault::Kind::truncate_body));
    } else if (name == "--override") {
      const std::string v = value();
      const auto eq = v.find('=');
      if (eq == std::string::npos || eq == 0 || eq + 1 == v.size())
        throw UsageError("--override " + v + ": expected PATH=BODYFILE");
      o.overrides.emplace_back(v.substr(0, eq), v.substr(eq + 1));
    } else if (name == "--drop") {
      o.drops.push_back(value());
    } else {
      throw UsageError(name + ": unknown option");
    }
  }
  if (o.fixture.empty()) throw UsageError("--fixture FILE is required");
  return o;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw UsageError(path + ": cannot read override body");
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

/// Writes `content` to `path` through a temporary file and rename(2), so that a reader never
/// sees a partial file.
void write_atomically(const std::string& path, const std::string& content) {
  const std::string tmp = path + ".tmp." + std::to_string(getpid());
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << content;
    out.flush();
    if (!out) throw UsageError(path + ": cannot write port file");
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    std::remove(tmp.c_str());
    throw UsageError(path + ": cannot write port file");
  }
}

}  // namespace

int main(int argc, char** argv) {
  std::optional<Options> options;
  try {
    options = parse_args(argc, argv);
  } catch (const UsageError& e) {
    std::cerr << kProgram << ": " << e.what() << " (see --help)\n";
    return 2;
  }
  if (!options) {
    std::cout << kUsage;
    return 0;
  }
  const Options& o = *options;

  // Block the stop signals before any thread starts, so that only sigwait() below sees them.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  try {
    std::ofstream log;  // declared before the mock, which writes to it until it stops
    std::mutex log_mutex;
    nicsync::mock::MockImds mock(o.fixture);
    for (const auto& path : o.drops) mock.set_response(path, std::nullopt);
    for (const auto& [path, file] : o.overrides) mock.set_response(path, read_file(file));
    for (const auto& fault : o.faults) mock.add_fault(fault);

    if (!o.log_file.empty()) {
      log.open(o.log_file, std::ios::app);
      if (!log) throw UsageError(o.log_file + ": cannot open log file");
      mock.set_request_observer([&log, &log_mutex](const nicsync::mock::RecordedRequest& r) {
        std::lock_guard lock(log_mutex);
        log << r.method << ' ' << r.path << ' ' << r.status << std::endl;
      });
    }

    const int port = mock.start(o.host, o.port);
    if (!o.port_file.empty()) write_atomically(o.port_file, std::to_string(port) + "\n");
    std::cout << "listening on " << mock.url() << std::endl;

    int signal_number = 0;
    sigwait(&stop_signals, &signal_number);
    mock.stop();
    mock.set_request_observer(nullptr);
  } catch (const std::exception& e) {
    std::cerr << kProgram << ": " << e.what() << "\n";
    return 2;
  }
  return 0;
}
