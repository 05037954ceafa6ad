#pragma once
/// A mock instance-metadata service that answers from a fixture file (format
/// nicsync-imds-fixture/1, see tests/fixtures/README.md) the way the real service does:
/// token PUT, required headers, path aliases, 404 for anything else, and, for Oracle
/// fixtures, the OCI API's ListPrivateIps. Faults can be injected for the resilience tests.
/// Used in-process by unit tests (on 127.0.0.1, any free port) and by the standalone
/// program nicsync-mock-imds for integration tests.

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace nicsync::mock {

/// One fault rule. A request whose path starts with `path_prefix` (empty: every path) is hit
/// by the fault `times` times (-1: forever), after `skip` matching requests passed unharmed.
/// Faults are checked in the order added and each counts every matching request; latencies add
/// up, and of the other kinds the first one that hits decides the answer (later ones keep their
/// `times`). The path is the request path without query, before `path_aliases` are applied.
struct Fault {
  enum class Kind {
    latency,          ///< answer normally after `latency`
    status,           ///< answer with `status` (e.g. 500, 503, 429) and an empty body
    close_connection, ///< close the connection without answering
    truncate_body,    ///< send the headers and half the body, then close
    override_body,    ///< answer 200 with `body` instead of the fixture's
  };
  Kind kind = Kind::latency;
  std::string path_prefix;
  int times = -1;
  int skip = 0;
  std::chrono::milliseconds latency{0};
  int status = 500;
  std::string retry_after;  ///< sent as Retry-After with a status fault, if not empty
  std::string body;
};

/// One request as the server saw it.
struct RecordedRequest {
  std::string method;
  std::string path;  ///< with the query string, if any
  std::map<std::string, std::string> headers;
  int status = 0;    ///< what was answered (0: connection closed)
  int remote_port = 0;  ///< client's port: equal for requests that reused a connection
  /// When the request arrived (before any latency fault), on the steady clock, which is
  /// CLOCK_MONOTONIC on Linux: comparable with time.monotonic() in the Python tests.
  std::chrono::steady_clock::time_point received{};
  /// Whether the request carried the fixture's token header (any value); nullopt when the
  /// fixture has no token.
  std::optional<bool> token_sent;
};

class MockImds {
 public:
  /// Loads the fixture; throws std::runtime_error naming the file if it is unreadable or invalid.
  explicit MockImds(const std::string& fixture_path);
  ~MockImds();
  MockImds(const MockImds&) = delete;
  MockImds& operator=(const MockImds&) = delete;

  /// Starts serving on host:port in a background thread (port 0: any free port); returns the
  /// port. Throws std::runtime_error if it cannot bind.
  int start(const std::string& host = "127.0.0.1", int port = 0);
  void stop();
  /// "http://127.0.0.1:PORT"
  std::string url() const;
  /// The port being served (0 when not started).
  int port() const;

  void add_fault(const Fault& fault);
  /// Overrides the fixture's token.required (no effect without a token): false serves GETs
  /// that carry no token header, as an instance that still allows IMDSv1 does.
  void set_token_required(bool required);
  void clear_faults();
  /// Replaces (or with nullopt removes) one response path of the fixture, e.g. to drop a
  /// secondary IP between two runs.
  void set_response(const std::string& path, std::optional<std::string> body);
  /// Every request so far, in arrival order.
  std::vector<RecordedRequest> requests() const;
  void clear_requests();
  /// Called from a server thread with every request once its answer is decided (just before
  /// the answer is written), in addition to recording it.
  void set_request_observer(std::function<void(const RecordedRequest&)> observer);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace nicsync::mock
