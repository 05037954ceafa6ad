// nicsync-mock-imds: serves one instance-metadata fixture over HTTP for the integration tests.

#include <chrono>
#include <fstream>
#include <iostream>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

#include "mock/mock_imds.hpp"
#include "mock/program.hpp"

namespace {

namespace program = nicsync::mock::program;
using program::UsageError;

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
  --latency-ms N                 delay every answer by N milliseconds (per request: the
                                 answers of all connections wait concurrently, on timers)
  --fault-status PREFIX:STATUS[:TIMES]
                                 answer requests whose path starts with PREFIX with STATUS and
                                 an empty body, TIMES times (default: always)
  --retry-after VALUE            send "Retry-After: VALUE" with the answers of the
                                 --fault-status given just before (seconds or an HTTP date)
  --fault-close PREFIX[:TIMES]   close the connection without answering instead
  --fault-truncate PREFIX[:TIMES]
                                 send the headers and half the body, then close
  --fault-body PREFIX=BODYFILE[:TIMES]
                                 answer requests whose path starts with PREFIX with 200 and
                                 the bytes of BODYFILE, TIMES times (default: always); then
                                 the fixture's body again
  --override PATH=BODYFILE       serve the bytes of BODYFILE at PATH (added if absent)
  --drop PATH                    remove PATH from the fixture (it then answers 404)
  --token-optional               serve GETs that carry no token header (the instance allows
                                 IMDSv1); a wrong token still gets 401
  --log FILE                     append one line per request:
                                 METHOD PATH STATUS t=MS token=yes|no|-
                                 (STATUS 0: connection closed without answer; MS: arrival on
                                 CLOCK_MONOTONIC in milliseconds; token: whether the request
                                 carried the fixture's token header, - if it has no token)
  --help                         show this text

PREFIX may itself contain ':' (MAC addresses): STATUS and TIMES are the trailing numeric
fields, so give an explicit TIMES (-1: always) if PREFIX ends in ':' and digits. Faults apply
to the request path before aliasing, whatever the method, in the order given.
Every option may be given as --option VALUE or --option=VALUE; fault options repeat.
On startup prints "listening on http://HOST:PORT". Errors: one line on stderr, exit 2.
)";

struct Options {
  std::string fixture;
  std::string host = "127.0.0.1";
  int port = 0;
  std::string port_file;
  std::string log_file;
  std::vector<nicsync::mock::Fault> faults;
  std::vector<std::pair<std::string, std::string>> overrides;  ///< path, body file
  std::vector<std::string> drops;
  bool token_optional = false;
};

/// Splits "REST:N" into REST and N if the part after the last ':' is an integer.
std::pair<std::string, std::optional<int>> split_trailing_int(const std::string& text) {
  const auto colon = text.rfind(':');
  if (colon == std::string::npos) return {text, std::nullopt};
  auto n = program::parse_int<int>(std::string_view(text).substr(colon + 1));
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

nicsync::mock::Fault parse_body_fault(const std::string& arg) {
  const auto eq = arg.find('=');
  if (eq == std::string::npos || eq == 0 || eq + 1 == arg.size())
    throw UsageError("--fault-body " + arg + ": expected PREFIX=BODYFILE[:TIMES]");
  nicsync::mock::Fault fault;
  fault.kind = nicsync::mock::Fault::Kind::override_body;
  fault.path_prefix = arg.substr(0, eq);
  auto [file, times] = split_trailing_int(arg.substr(eq + 1));
  if (times) fault.times = *times;
  if (fault.times < -1) throw UsageError("--fault-body " + arg + ": TIMES must be >= -1");
  if (file.empty()) throw UsageError("--fault-body " + arg + ": expected PREFIX=BODYFILE[:TIMES]");
  fault.body = program::read_file(file, "fault body");
  return fault;
}

/// Returns nullopt for --help.
std::optional<Options> parse_args(int argc, char** argv) {
  Options o;
  program::Args args(argc, argv);
  while (args.next()) {
    const std::string& name = args.name();
    if (args.is_help()) return std::nullopt;
    if (name == "--fixture") {
      o.fixture = args.value();
    } else if (name == "--listen") {
      std::tie(o.host, o.port) = program::parse_listen(args.value());
    } else if (name == "--port-file") {
      o.port_file = args.value();
    } else if (name == "--log") {
      o.log_file = args.value();
    } else if (name == "--latency-ms") {
      nicsync::mock::Fault fault;
      fault.kind = nicsync::mock::Fault::Kind::latency;
      fault.latency = std::chrono::milliseconds(program::parse_number(name, args.value(), 0));
      o.faults.push_back(fault);
    } else if (name == "--fault-status") {
      o.faults.push_back(parse_status_fault(args.value()));
    } else if (name == "--retry-after") {
      const std::string v = args.value();
      if (o.faults.empty() || o.faults.back().kind != nicsync::mock::Fault::Kind::status)
        throw UsageError("--retry-after " + v + ": must follow a --fault-status");
      if (v.empty() || v.find_first_of("\r\n") != std::string::npos)
        throw UsageError("--retry-after: VALUE must be one non-empty line");
      o.faults.back().retry_after = v;
    } else if (name == "--fault-body") {
      o.faults.push_back(parse_body_fault(args.value()));
    } else if (name == "--token-optional") {
      if (args.has_inline_value()) throw UsageError("--token-optional takes no value");
      o.token_optional = true;
    } else if (name == "--fault-close") {
      o.faults.push_back(
          parse_prefix_fault(name, args.value(), nicsync::mock::Fault::Kind::close_connection));
    } else if (name == "--fault-truncate") {
      o.faults.push_back(
          parse_prefix_fault(name, args.value(), nicsync::mock::Fault::Kind::truncate_body));
    } else if (name == "--override") {
      const std::string v = args.value();
      const auto eq = v.find('=');
      if (eq == std::string::npos || eq == 0 || eq + 1 == v.size())
        throw UsageError("--override " + v + ": expected PATH=BODYFILE");
      o.overrides.emplace_back(v.substr(0, eq), v.substr(eq + 1));
    } else if (name == "--drop") {
      o.drops.push_back(args.value());
    } else {
      throw UsageError(name + ": unknown option");
    }
  }
  if (o.fixture.empty()) throw UsageError("--fixture FILE is required");
  return o;
}

void serve(const Options& o) {
  std::ofstream log;  // declared before the mock, which writes to it until it stops
  std::mutex log_mutex;
  nicsync::mock::MockImds mock(o.fixture);
  for (const auto& path : o.drops) mock.set_response(path, std::nullopt);
  for (const auto& [path, file] : o.overrides)
    mock.set_response(path, program::read_file(file, "override body"));
  for (const auto& fault : o.faults) mock.add_fault(fault);
  if (o.token_optional) mock.set_token_required(false);

  if (!o.log_file.empty()) {
    log.open(o.log_file, std::ios::app);
    if (!log) throw UsageError(o.log_file + ": cannot open log file");
    mock.set_request_observer([&log, &log_mutex](const nicsync::mock::RecordedRequest& r) {
      std::lock_guard lock(log_mutex);
      const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
          r.received.time_since_epoch());
      const char* token = !r.token_sent ? "-" : *r.token_sent ? "yes" : "no";
      log << r.method << ' ' << r.path << ' ' << r.status << " t=" << ms.count()
          << " token=" << token << std::endl;
    });
  }

  const int port = mock.start(o.host, o.port);
  if (!o.port_file.empty()) program::write_port_file(o.port_file, port);
  std::cout << "listening on " << mock.url() << std::endl;

  program::wait_for_stop();
  mock.stop();
  mock.set_request_observer(nullptr);
}

}  // namespace

int main(int argc, char** argv) { return program::run(kProgram, kUsage, argc, argv, parse_args, serve); }
