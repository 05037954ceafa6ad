#include <doctest/doctest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <mutex>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "fake_http.hpp"
#include "metadata/http_retry.hpp"
#include "instance_text.hpp"
#include "mock/mock_imds.hpp"
#include "nicsync/provider.hpp"

using nicsync::HttpMethod;
using nicsync::HttpOptions;
using nicsync::HttpRequest;
using nicsync::HttpResponse;
using nicsync::mock::Fault;
using nicsync::mock::MockImds;
using nicsync::mock::RecordedRequest;

using nicsync::test::describe;

namespace {

using Clock = std::chrono::steady_clock;

const char* const kTwoEni = "aws-seed-two-eni.json";
const char* const kTwoEniToken = "AQAEAdy3kLUXm/ZYa4rOVIOBDSxeY5JII9fPqvOcUhCMZt+8PnRT0HW3hOwfc";
const char* const kLongPath = "/latest/meta-data/public-keys/0/openssh-key";  // a ~400-byte body

std::string fixture_path(const std::string& name) { return std::string(NICSYNC_TEST_FIXTURES) + "/" + name; }

/// A mock serving `fixture` on 127.0.0.1, any free port.
std::unique_ptr<MockImds> serve(const std::string& fixture) {
  auto mock = std::make_unique<MockImds>(fixture_path(fixture));
  mock->start("127.0.0.1", 0);
  return mock;
}

/// Quick retries so the tests stay fast.
HttpOptions quick_options() {
  HttpOptions options;
  options.connect_timeout_ms = 1000;
  options.request_timeout_ms = 2000;
  options.attempts = 3;
  options.backoff_ms = 10;
  options.max_backoff_ms = 50;
  options.max_in_flight = 4;
  return options;
}

/// A GET carrying the two-ENI fixture's token.
HttpRequest aws_get(const MockImds& mock, const std::string& path) {
  HttpRequest request;
  request.url = mock.url() + path;
  request.headers = {{"X-aws-ec2-metadata-token", kTwoEniToken}};
  return request;
}

Fault status_fault(const std::string& path, int status, int times, const std::string& retry_after = "") {
  Fault fault;
  fault.kind = Fault::Kind::status;
  fault.path_prefix = path;
  fault.status = status;
  fault.times = times;
  fault.retry_after = retry_after;
  return fault;
}

Fault fault_of(Fault::Kind kind, const std::string& path, int times) {
  Fault fault;
  fault.kind = kind;
  fault.path_prefix = path;
  fault.times = times;
  return fault;
}

Fault latency_fault(const std::string& path, int times, int ms) {
  Fault fault = fault_of(Fault::Kind::latency, path, times);
  fault.latency = std::chrono::milliseconds(ms);
  return fault;
}

size_t seen(const MockImds& mock, const std::string& path) {
  auto requests = mock.requests();
  return static_cast<size_t>(
      std::count_if(requests.begin(), requests.end(), [&](const RecordedRequest& r) { return r.path == path; }));
}

/// Distinct client ports the mock saw, i.e. TCP connections used.
size_t connections(const MockImds& mock) {
  std::set<int> ports;
  for (const RecordedRequest& request : mock.requests()) ports.insert(request.remote_port);
  return ports.size();
}

long elapsed_ms(Clock::time_point start) {
  return static_cast<long>(std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start).count());
}

/// A TCP socket of `type` bound to a free port on 127.0.0.1, listening when `backlog` > 0;
/// sets `port`.
int bind_loopback(int type, int backlog, int& port) {
  int fd = ::socket(AF_INET, type, 0);
  REQUIRE(fd >= 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0);
  if (backlog > 0) REQUIRE(::listen(fd, backlog) == 0);
  socklen_t length = sizeof address;
  REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) == 0);
  port = ntohs(address.sin_port);
  return fd;
}

/// A port on 127.0.0.1 that nothing listens on (bound, then released).
int closed_port() {
  int port = 0;
  ::close(bind_loopback(SOCK_STREAM, 0, port));
  return port;
}

/// A TCP listener on 127.0.0.1 that never answers: stands in for a proxy, and tells whether
/// anything connected to it (a completed handshake waits in its accept queue).
class ProxyTrap {
 public:
  ProxyTrap() {
    fd_ = bind_loopback(SOCK_STREAM | SOCK_NONBLOCK, 16, port_);
  }
  ~ProxyTrap() { ::close(fd_); }
  ProxyTrap(const ProxyTrap&) = delete;
  ProxyTrap& operator=(const ProxyTrap&) = delete;

  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  /// Connections made so far (accepted and closed here).
  int connections() {
    int count = 0;
    for (int client; (client = ::accept(fd_, nullptr, nullptr)) >= 0; ++count) ::close(client);
    return count;
  }

 private:
  int fd_ = -1;
  int port_ = 0;
};

/// The inodes of this process's sockets, from the links in /proc/self/fd ("socket:[INODE]").
std::set<std::string> own_socket_inodes() {
  std::set<std::string> inodes;
  for (const auto& entry : std::filesystem::directory_iterator("/proc/self/fd")) {
    std::error_code error;
    const std::string target = std::filesystem::read_symlink(entry.path(), error).string();
    if (!error && target.rfind("socket:[", 0) == 0) inodes.insert(target.substr(8, target.size() - 9));
  }
  return inodes;
}

/// TCP connections to the mock that this process has open or opening: the client side of each
/// (the mock's port is its remote port), from this network namespace's /proc/net/tcp. Only this
/// process's sockets count: tests running beside it have connections of their own, and one of
/// them may have the mock's port number as its remote port.
size_t open_connections_to(const MockImds& mock) {
  const std::string url = mock.url();
  const int port = std::stoi(url.substr(url.rfind(':') + 1));
  const std::set<std::string> own = own_socket_inodes();
  size_t count = 0;
  std::ifstream in("/proc/net/tcp");
  std::string line;
  std::getline(in, line);  // the header
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::string slot, local, remote, state, queues, timer, retransmits, uid, timeout, inode;
    fields >> slot >> local >> remote >> state >> queues >> timer >> retransmits >> uid >> timeout >> inode;
    size_t colon = remote.rfind(':');
    if (colon == std::string::npos || own.count(inode) == 0) continue;
    bool open = state == "01" || state == "02";  // ESTABLISHED, SYN_SENT
    if (open && std::stoi(remote.substr(colon + 1), nullptr, 16) == port) ++count;
  }
  return count;
}

/// Sets environment variables for its lifetime and restores them (or their absence) after.
class EnvOverride {
 public:
  EnvOverride(std::vector<std::string> names, const std::string& value) : names_(std::move(names)) {
    for (const std::string& name : names_) {
      const char* old = std::getenv(name.c_str());
      saved_.push_back(old ? std::optional<std::string>(old) : std::nullopt);
      ::setenv(name.c_str(), value.c_str(), 1);
    }
  }
  ~EnvOverride() {
    for (size_t i = 0; i < names_.size(); ++i) {
      if (saved_[i]) {
        ::setenv(names_[i].c_str(), saved_[i]->c_str(), 1);
      } else {
        ::unsetenv(names_[i].c_str());
      }
    }
  }
  EnvOverride(const EnvOverride&) = delete;
  EnvOverride& operator=(const EnvOverride&) = delete;

 private:
  std::vector<std::string> names_;
  std::vector<std::optional<std::string>> saved_;
};

}  // namespace

/// The two real clients; every case below runs on both.
struct CurlClient {
  static std::unique_ptr<nicsync::HttpClient> make(const HttpOptions& options) {
    return nicsync::make_curl_http_client(options);
  }
};
struct PlainClient {
  static std::unique_ptr<nicsync::HttpClient> make(const HttpOptions& options) {
    return nicsync::make_plain_http_client(options);
  }
};

TEST_SUITE("metadata::HttpClient (libcurl and plain)") {

TEST_CASE_TEMPLATE("many requests share a few kept-alive connections, also across perform() calls", Client, CurlClient, PlainClient) {
  auto mock = serve(kTwoEni);
  auto client = Client::make(quick_options());
  std::vector<HttpRequest> batch;
  for (int i = 0; i < 40; ++i) {
    batch.push_back(aws_get(*mock, i % 2 == 0 ? "/latest/meta-data/instance-id" : "/latest/meta-data/mac"));
  }
  for (int round = 0; round < 2; ++round) {
    std::vector<HttpResponse> responses = client->perform(batch);
    REQUIRE(responses.size() == 40);
    for (size_t i = 0; i < responses.size(); ++i) {
      CHECK(responses[i].status == 200);
      CHECK(responses[i].body == (i % 2 == 0 ? "i-094226850fb16bdf1" : "02:86:10:77:7f:fe"));
    }
  }
  CHECK(mock->requests().size() == 80);
  CHECK(connections(*mock) <= 4);
}

TEST_CASE_TEMPLATE("at most max_in_flight requests are on the wire", Client, CurlClient, PlainClient) {
  auto mock = serve(kTwoEni);
  mock->add_fault(latency_fault("", -1, 150));
  auto client = Client::make(quick_options());
  std::vector<HttpRequest> batch(8, aws_get(*mock, "/latest/meta-data/mac"));
  auto start = Clock::now();
  std::vector<HttpResponse> responses = client->perform(batch);
  long ms = elapsed_ms(start);
  for (const HttpResponse& response : responses) CHECK(response.status == 200);
  CHECK(ms >= 290);   // two waves of four
  CHECK(ms < 1100);   // not eight one after another
  CHECK(connections(*mock) <= 4);
}

TEST_CASE("parallelism: at most max_in_flight, and only as many as the fewest waves need") {
  CHECK(nicsync::http::parallelism(75, 32) == 25);   // 3 waves either way: AWS round 3 at 15 NICs
  CHECK(nicsync::http::parallelism(400, 32) == 31);  // 13 waves: AWS round 3 at 80 NICs
  CHECK(nicsync::http::parallelism(64, 32) == 32);
  CHECK(nicsync::http::parallelism(33, 32) == 17);
  CHECK(nicsync::http::parallelism(32, 32) == 32);
  CHECK(nicsync::http::parallelism(3, 32) == 3);
  CHECK(nicsync::http::parallelism(0, 32) == 1);
  CHECK(nicsync::http::parallelism(10, 1) == 1);
  CHECK(nicsync::http::parallelism(10, 0) == 1);
}

TEST_CASE_TEMPLATE("a batch opens only as many connections as its fewest waves need", Client, CurlClient, PlainClient) {
  // max_in_flight 4: 5 requests take 2 waves, which 3 at a time also do; 8 need all 4.
  for (auto [count, expected] : {std::pair<size_t, size_t>{5, 3}, {8, 4}, {3, 3}}) {
    CAPTURE(count);
    auto mock = serve(kTwoEni);
    mock->add_fault(latency_fault("", -1, 20));
    auto client = Client::make(quick_options());
    std::vector<HttpResponse> responses =
        client->perform(std::vector<HttpRequest>(count, aws_get(*mock, "/latest/meta-data/mac")));
    for (const HttpResponse& response : responses) CHECK(response.status == 200);
    CHECK(mock->requests().size() == count);
    CHECK(connections(*mock) == expected);
  }
}

TEST_CASE_TEMPLATE("responses come back in request order", Client, CurlClient, PlainClient) {
  auto mock = serve(kTwoEni);
  mock->add_fault(latency_fault("/latest/meta-data/ami-id", -1, 200));
  auto client = Client::make(quick_options());
  std::vector<HttpResponse> responses = client->perform(
      {aws_get(*mock, "/latest/meta-data/ami-id"), aws_get(*mock, "/latest/meta-data/instance-id"),
       aws_get(*mock, "/latest/meta-data/nope"), aws_get(*mock, "/latest/meta-data/local-ipv4")});
  REQUIRE(responses.size() == 4);
  CHECK(responses[0].body == "ami-0048c1889479da2d8");
  CHECK(responses[1].body == "i-094226850fb16bdf1");
  CHECK(responses[2].status == 404);
  CHECK(responses[3].body == "10.0.0.76");
  CHECK(client->perform({}).empty());
}

TEST_CASE_TEMPLATE("a PUT with an empty body gets the token at once", Client, CurlClient, PlainClient) {
  auto mock = serve(kTwoEni);
  auto client = Client::make(quick_options());
  HttpRequest put;
  put.method = HttpMethod::put;
  put.url = mock->url() + "/latest/api/token";
  put.headers = {{"X-aws-ec2-metadata-token-ttl-seconds", "21600"}};
  auto start = Clock::now();
  std::vector<HttpResponse> responses = client->perform({put});
  CHECK(elapsed_ms(start) < 500);
  CHECK(responses[0].status == 200);
  CHECK(responses[0].body == kTwoEniToken);
  auto recorded = mock->requests();
  REQUIRE(recorded.size() == 1);
  CHECK(recorded[0].method == "PUT");
  CHECK(recorded[0].headers.count("Expect") == 0);
  CHECK(recorded[0].headers["X-aws-ec2-metadata-token-ttl-seconds"] == "21600");
}

TEST_CASE_TEMPLATE("a 500 is retried until it succeeds", Client, CurlClient, PlainClient) {
  auto mock = serve(kTwoEni);
  mock->add_fault(status_fault("/latest/meta-data/instance-id", 500, 2));
  auto client = Client::make(quick_options());
  std::vector<HttpResponse> responses = client->perform({aws_get(*mock, "/latest/meta-data/instance-id")});
  CHECK(responses[0].status == 200);
  CHECK(responses[0].body == "i-094226850fb16bdf1");
  CHECK(seen(*mock, "/latest/meta-data/instance-id") == 3);
}

TEST_CASE_TEMPLATE("a 429 waits for Retry-After, but no longer than max_backoff_ms", Client, CurlClient, PlainClient) {
  auto mock = serve(kTwoEni);
  mock->add_fault(status_fault("/latest/meta-data/mac", 429, 1, "1"));
  HttpOptions options = quick_options();
  options.max_backoff_ms = 300;
  auto client = Client::make(options);
  auto start = Clock::now();
  std::vector<HttpResponse> responses = client->perform({aws_get(*mock, "/latest/meta-data/mac")});
  long ms = elapsed_ms(start);
  CHECK(responses[0].status == 200);
  CHECK(seen(*mock, "/latest/meta-data/mac") == 2);
  CHECK(ms >= 290);  // not the 10 ms backoff: the server asked for more
  CHECK(ms < 900);   // not the full second either
}

TEST_CASE_TEMPLATE("after `attempts` tries the last answer is returned", Client, CurlClient, PlainClient) {
  auto mock = serve(kTwoEni);
  mock->add_fault(status_fault("/latest/meta-data/mac", 503, -1, "0"));
  auto client = Client::make(quick_options());
  std::vector<HttpResponse> responses = client->perform({aws_get(*mock, "/latest/meta-data/mac")});
  CHECK(responses[0].status == 503);
  CHECK(responses[0].retry_after == "0");
  CHECK(responses[0].transport_error.empty());
  CHECK(seen(*mock, "/latest/meta-data/mac") == 3);
}

TEST_CASE_TEMPLATE("every header of the final answer is kept, names in lower case", Client, CurlClient, PlainClient) {
  auto mock = serve(kTwoEni);
  mock->add_fault(status_fault("/latest/meta-data/mac", 503, 1, "0"));
  auto client = Client::make(quick_options());
  std::vector<HttpResponse> responses = client->perform({aws_get(*mock, "/latest/meta-data/mac")});
  REQUIRE(responses[0].status == 200);
  CHECK(responses[0].retry_after.empty());  // the 503's Retry-After is not the final answer's
  CHECK(responses[0].header("content-type") == "text/plain");
  CHECK(responses[0].header("content-length") == std::to_string(responses[0].body.size()));
  CHECK(responses[0].header("retry-after").empty());
  CHECK(responses[0].header("Content-Type").empty());  // names are matched in lower case
}

TEST_CASE_TEMPLATE("a 4xx other than 429 is final", Client, CurlClient, PlainClient) {
  auto mock = serve(kTwoEni);
  auto client = Client::make(quick_options());
  HttpRequest no_token;
  no_token.url = mock->url() + "/latest/meta-data/mac";
  std::vector<HttpResponse> responses =
      client->perform({aws_get(*mock, "/latest/meta-data/missing"), no_token});
  CHECK(responses[0].status == 404);
  CHECK(responses[1].status == 401);
  CHECK(mock->requests().size() == 2);
}

TEST_CASE_TEMPLATE("a retry waits by time without holding up the other requests", Client, CurlClient, PlainClient) {
  auto mock = serve(kTwoEni);
  mock->add_fault(status_fault("/latest/meta-data/ami-id", 500, 1));
  HttpOptions options = quick_options();
  options.max_in_flight = 1;
  options.backoff_ms = 300;
  options.max_backoff_ms = 300;
  auto client = Client::make(options);
  std::vector<HttpResponse> responses =
      client->perform({aws_get(*mock, "/latest/meta-data/ami-id"), aws_get(*mock, "/latest/meta-data/mac"),
                       aws_get(*mock, "/latest/meta-data/instance-id")});
  CHECK(responses[0].status == 200);
  CHECK(responses[1].status == 200);
  CHECK(responses[2].status == 200);
  std::string order;
  for (const RecordedRequest& request : mock->requests()) order += request.path + " " + std::to_string(request.status) + "\n";
  CHECK(order ==
        "/latest/meta-data/ami-id 500\n"
        "/latest/meta-data/mac 200\n"
        "/latest/meta-data/instance-id 200\n"
        "/latest/meta-data/ami-id 200\n");
}

TEST_CASE_TEMPLATE("a slow answer times out per attempt and is retried", Client, CurlClient, PlainClient) {
  auto mock = serve(kTwoEni);
  mock->add_fault(latency_fault("/latest/meta-data/mac", 1, 1000));
  HttpOptions options = quick_options();
  options.request_timeout_ms = 150;
  auto client = Client::make(options);
  auto start = Clock::now();
  std::vector<HttpResponse> responses = client->perform({aws_get(*mock, "/latest/meta-data/mac")});
  CHECK(responses[0].status == 200);
  CHECK(elapsed_ms(start) < 900);

  mock->add_fault(latency_fault("/latest/meta-data/instance-id", -1, 1000));
  options.attempts = 2;
  client = Client::make(options);
  start = Clock::now();
  responses = client->perform({aws_get(*mock, "/latest/meta-data/instance-id")});
  CHECK(responses[0].status == 0);
  CHECK_MESSAGE(responses[0].transport_error.find("timed out") != std::string::npos, responses[0].transport_error);
  CHECK(elapsed_ms(start) < 900);
}

TEST_CASE_TEMPLATE("a connection closed without an answer is retried", Client, CurlClient, PlainClient) {
  auto mock = serve(kTwoEni);
  mock->add_fault(fault_of(Fault::Kind::close_connection, "/latest/meta-data/mac", 1));
  auto client = Client::make(quick_options());
  std::vector<HttpResponse> responses = client->perform({aws_get(*mock, "/latest/meta-data/mac")});
  CHECK(responses[0].status == 200);
  CHECK(responses[0].body == "02:86:10:77:7f:fe");
  CHECK(seen(*mock, "/latest/meta-data/mac") == 2);
}

TEST_CASE_TEMPLATE("a truncated body is retried, and an error when it stays truncated", Client, CurlClient, PlainClient) {
  auto mock = serve(kTwoEni);
  mock->add_fault(fault_of(Fault::Kind::truncate_body, kLongPath, 1));
  auto client = Client::make(quick_options());
  std::vector<HttpResponse> responses = client->perform({aws_get(*mock, kLongPath)});
  CHECK(responses[0].status == 200);
  CHECK(responses[0].body.rfind("ssh-rsa ", 0) == 0);
  CHECK(responses[0].body.size() > 300);
  CHECK(seen(*mock, kLongPath) == 2);

  mock->add_fault(fault_of(Fault::Kind::truncate_body, kLongPath, -1));
  responses = client->perform({aws_get(*mock, kLongPath)});
  CHECK(responses[0].status == 0);
  CHECK(responses[0].body.empty());
  CHECK_FALSE(responses[0].transport_error.empty());
  CHECK(seen(*mock, kLongPath) == 5);
}

TEST_CASE_TEMPLATE("a closed port is a transport error", Client, CurlClient, PlainClient) {
  HttpOptions options = quick_options();
  options.attempts = 2;
  auto client = Client::make(options);
  HttpRequest request;
  request.url = "http://127.0.0.1:" + std::to_string(closed_port()) + "/latest/meta-data/mac";
  std::vector<HttpResponse> responses = client->perform({request});
  CHECK(responses[0].status == 0);
  CHECK(responses[0].transport_error == "Connection refused");
}

TEST_CASE_TEMPLATE("a body over max_body_bytes fails without retrying", Client, CurlClient, PlainClient) {
  auto mock = serve(kTwoEni);
  HttpOptions options = quick_options();
  options.max_body_bytes = 100;
  auto client = Client::make(options);
  std::vector<HttpResponse> responses =
      client->perform({aws_get(*mock, kLongPath), aws_get(*mock, "/latest/meta-data/mac")});
  CHECK(responses[0].status == 0);
  CHECK(responses[0].transport_error == "response larger than 100 bytes");
  CHECK(responses[1].status == 200);
  CHECK(seen(*mock, kLongPath) == 1);
}

TEST_CASE_TEMPLATE("proxy settings in the environment are ignored", Client, CurlClient, PlainClient) {
  auto mock = serve(kTwoEni);
  ProxyTrap proxy;
  {
    EnvOverride env({"http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"},
                    proxy.url());
    EnvOverride no_proxy({"no_proxy", "NO_PROXY"}, "");
    auto client = Client::make(quick_options());
    std::vector<HttpResponse> responses = client->perform({aws_get(*mock, "/latest/meta-data/mac")});
    CHECK(responses[0].status == 200);
    CHECK(responses[0].body == "02:86:10:77:7f:fe");
  }
  CHECK(proxy.connections() == 0);
  CHECK(seen(*mock, "/latest/meta-data/mac") == 1);
}

TEST_CASE_TEMPLATE("a body over max_body_bytes fails fetch_aws with a message naming the cap", Client, CurlClient, PlainClient) {
  auto mock = serve(kTwoEni);
  mock->set_response("/latest/meta-data/network/interfaces/macs/", std::string(2000, 'x'));
  HttpOptions options = quick_options();
  options.max_body_bytes = 1000;  // the token and the other answers are far smaller
  auto client = Client::make(options);
  auto instance = nicsync::fetch_aws(*client, mock->url());
  REQUIRE_FALSE(instance.ok());
  CHECK(instance.error().message ==
        "aws: GET /latest/meta-data/network/interfaces/macs/: response larger than 1000 bytes (" + mock->url() +
            "/latest/meta-data/network/interfaces/macs/)");
}

TEST_CASE_TEMPLATE("fetch_aws through the client and the mock equals fetch_aws over the fake, for every AWS fixture", Client, CurlClient, PlainClient) {
  struct Case {
    const char* fixture;
    size_t requests;
  };
  for (const Case& c : {Case{"aws-seed-single-eni.json", 9}, Case{"aws-seed-two-eni.json", 14},
                        Case{"aws-multi-ip-ipv6.json", 18}}) {
    CAPTURE(c.fixture);
    std::ifstream in(fixture_path(c.fixture));
    nicsync::testing::FakeHttpClient fake;
    nicsync::testing::serve_fixture(fake, nlohmann::json::parse(in));
    auto expected = nicsync::fetch_aws(fake, "http://169.254.169.254");
    REQUIRE_MESSAGE(expected.ok(), expected.error().message);

    auto mock = serve(c.fixture);
    auto client = Client::make(HttpOptions{});
    auto actual = nicsync::fetch_aws(*client, mock->url());
    REQUIRE_MESSAGE(actual.ok(), actual.error().message);
    CHECK(describe(*actual) == describe(*expected));
    auto recorded = mock->requests();
    CHECK(recorded.size() == c.requests);
    REQUIRE_FALSE(recorded.empty());
    CHECK(recorded[0].method == "PUT");
    CHECK(recorded[0].path == "/latest/api/token");
    for (const RecordedRequest& request : recorded) CHECK(request.status == 200);
  }
}

TEST_CASE_TEMPLATE("fetch_aws through the client survives a 500 and a dropped connection, and names a dead endpoint", Client, CurlClient, PlainClient) {
  auto mock = serve(kTwoEni);
  mock->add_fault(status_fault("/latest/meta-data/network/interfaces/macs/02:86:10:65:fd:31/local-ipv4s", 500, 1));
  mock->add_fault(fault_of(Fault::Kind::close_connection, "/latest/meta-data/instance-id", 1));
  auto client = Client::make(quick_options());
  auto instance = nicsync::fetch_aws(*client, mock->url());
  REQUIRE_MESSAGE(instance.ok(), instance.error().message);
  CHECK(instance->interfaces.size() == 2);

  const std::string dead = "http://127.0.0.1:" + std::to_string(closed_port());
  HttpOptions options = quick_options();
  options.attempts = 1;
  client = Client::make(options);
  auto failed = nicsync::fetch_aws(*client, dead);
  REQUIRE_FALSE(failed.ok());
  CHECK(failed.error().message == "aws: PUT /latest/api/token: Connection refused (" + dead + "/latest/api/token)");
}

}  // TEST_SUITE

namespace {

/// A one-connection-at-a-time HTTP server on 127.0.0.1 that answers each request it reads (up to
/// the blank line) with the next canned reply, byte for byte, closing the connection after the
/// replies marked so. Records every request's text and the connection it came on.
class ScriptedServer {
 public:
  struct Reply {
    std::string bytes;
    bool close_after = false;
  };

  explicit ScriptedServer(std::vector<Reply> replies) : replies_(std::move(replies)) {
    fd_ = bind_loopback(SOCK_STREAM | SOCK_CLOEXEC, 16, port_);
    thread_ = std::thread([this] { serve(); });
  }
  ~ScriptedServer() {
    ::shutdown(fd_, SHUT_RDWR);
    thread_.join();
    ::close(fd_);
  }
  ScriptedServer(const ScriptedServer&) = delete;
  ScriptedServer& operator=(const ScriptedServer&) = delete;

  std::string url(const std::string& path = "/") const { return "http://127.0.0.1:" + std::to_string(port_) + path; }
  std::vector<std::string> requests() {
    std::lock_guard<std::mutex> lock(mutex_);
    return requests_;
  }
  int connections() {
    std::lock_guard<std::mutex> lock(mutex_);
    return connections_;
  }

 private:
  void serve() {
    size_t next = 0;
    while (true) {
      int client = ::accept(fd_, nullptr, nullptr);
      if (client < 0) return;  // shut down
      {
        std::lock_guard<std::mutex> lock(mutex_);
        ++connections_;
      }
      std::string buffer;
      bool open = true;
      while (open && next < replies_.size()) {
        size_t end;
        while ((end = buffer.find("\r\n\r\n")) == std::string::npos) {
          char chunk[4096];
          ssize_t n = ::recv(client, chunk, sizeof chunk, 0);
          if (n <= 0) {
            open = false;
            break;
          }
          buffer.append(chunk, static_cast<size_t>(n));
        }
        if (!open) break;
        {
          std::lock_guard<std::mutex> lock(mutex_);
          requests_.push_back(buffer.substr(0, end + 4));
        }
        buffer.erase(0, end + 4);
        const Reply& reply = replies_[next++];
        (void)::send(client, reply.bytes.data(), reply.bytes.size(), MSG_NOSIGNAL);
        if (reply.close_after) open = false;
      }
      ::close(client);
    }
  }

  std::vector<Reply> replies_;
  int fd_ = -1;
  int port_ = 0;
  std::thread thread_;
  std::mutex mutex_;
  std::vector<std::string> requests_;
  int connections_ = 0;
};

HttpRequest get(const std::string& url) {
  HttpRequest request;
  request.url = url;
  return request;
}

}  // namespace

TEST_SUITE("metadata::PlainHttpClient") {

TEST_CASE("prepare(): the next batch's connections open while the request before it waits") {
  auto mock = serve(kTwoEni);
  mock->add_fault(latency_fault("/latest/api/token", 1, 50));  // the token takes a while
  auto client = nicsync::make_plain_http_client(quick_options());  // max_in_flight 4
  HttpRequest token;
  token.method = nicsync::HttpMethod::put;
  token.url = mock->url() + "/latest/api/token";
  token.headers = {{"X-aws-ec2-metadata-token-ttl-seconds", "21600"}};

  client->prepare(mock->url() + "/", 6);  // 6 requests take 2 waves of 3
  auto start = Clock::now();
  REQUIRE(client->perform({token}).at(0).status == 200);
  CHECK(elapsed_ms(start) >= 45);
  CHECK(open_connections_to(*mock) == 3);  // the token's, kept, and 2 opened during its wait

  std::vector<HttpResponse> responses = client->perform(std::vector<HttpRequest>(6, aws_get(*mock, "/latest/meta-data/mac")));
  for (const HttpResponse& response : responses) CHECK(response.body == "02:86:10:77:7f:fe");
  CHECK(connections(*mock) == 3);  // the batch used those three, opened no other
  CHECK(open_connections_to(*mock) == 3);

  // Only the next perform() acts on it; a later one opens nothing more.
  client->prepare(mock->url() + "/", 4);
  REQUIRE(client->perform({aws_get(*mock, "/latest/meta-data/mac")}).at(0).status == 200);
  CHECK(open_connections_to(*mock) == 4);
  REQUIRE(client->perform({aws_get(*mock, "/latest/meta-data/mac")}).at(0).status == 200);
  CHECK(open_connections_to(*mock) == 4);
}

TEST_CASE("prepare(): without it, or for a server that is not there, nothing extra is opened or reported") {
  auto mock = serve(kTwoEni);
  auto client = nicsync::make_plain_http_client(quick_options());
  REQUIRE(client->perform({aws_get(*mock, "/latest/meta-data/mac")}).at(0).status == 200);
  CHECK(open_connections_to(*mock) == 1);

  // A closed port: the prepared connects fail quietly; the batch's own request reports it.
  const std::string closed = "http://127.0.0.1:" + std::to_string(closed_port());
  client->prepare(closed + "/", 4);
  REQUIRE(client->perform({aws_get(*mock, "/latest/meta-data/mac")}).at(0).status == 200);
  HttpRequest refused = aws_get(*mock, "/latest/meta-data/mac");
  refused.url = closed + "/latest/meta-data/mac";
  HttpResponse response = client->perform({refused}).at(0);
  CHECK(response.status == 0);
  CHECK(response.transport_error == "Connection refused");
}

TEST_CASE("a chunked body is joined, chunk extensions and trailers ignored, and the connection kept") {
  ScriptedServer server({{"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                          "4;ext=1\r\nab\r\n\r\n3\r\ncde\r\n0\r\nX-Trailer: t\r\n\r\n"},
                         {"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"}});
  auto client = nicsync::make_plain_http_client(quick_options());
  auto first = client->perform({get(server.url("/a"))});
  CHECK(first[0].status == 200);
  CHECK(first[0].body == "ab\r\ncde");
  auto second = client->perform({get(server.url("/b"))});
  CHECK(second[0].body == "ok");
  CHECK(server.connections() == 1);
  auto requests = server.requests();
  REQUIRE(requests.size() == 2);
  CHECK(requests[0] == "GET /a HTTP/1.1\r\nHost: 127.0.0.1:" + server.url("").substr(17) +
                           "\r\nUser-Agent: nicsync\r\nAccept: */*\r\n\r\n");
}

TEST_CASE("a body without length ends with the connection, which is not used again") {
  ScriptedServer server({{"HTTP/1.0 200 OK\r\n\r\nuntil the end", true},
                         {"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"}});
  auto client = nicsync::make_plain_http_client(quick_options());
  CHECK(client->perform({get(server.url())})[0].body == "until the end");
  auto second = client->perform({get(server.url())});
  CHECK(second[0].status == 200);
  CHECK(second[0].body.empty());
  CHECK(server.connections() == 2);
}

TEST_CASE("a kept-alive connection the server closed is replaced without using up an attempt") {
  ScriptedServer server({{"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\none", true},
                         {"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\ntwo"}});
  HttpOptions options = quick_options();
  options.attempts = 1;
  auto client = nicsync::make_plain_http_client(options);
  CHECK(client->perform({get(server.url())})[0].body == "one");
  auto second = client->perform({get(server.url())});
  CHECK(second[0].body == "two");
  CHECK(server.connections() == 2);
}

TEST_CASE("a malformed answer is a transport error and is retried") {
  ScriptedServer server({{"HTTQ/1.1 200 OK\r\n\r\n", true}, {"HTTP/1.1 abc OK\r\n\r\n", true}});
  HttpOptions options = quick_options();
  options.attempts = 2;
  auto client = nicsync::make_plain_http_client(options);
  auto responses = client->perform({get(server.url())});
  CHECK(responses[0].status == 0);
  CHECK(responses[0].transport_error == "malformed HTTP response: the status code is not a number");
  CHECK(server.requests().size() == 2);
}

TEST_CASE("a Content-Length over the cap fails before the body is read") {
  ScriptedServer server({{"HTTP/1.1 200 OK\r\nContent-Length: 5000000\r\n\r\nxx", true}});
  auto client = nicsync::make_plain_http_client(quick_options());
  auto responses = client->perform({get(server.url())});
  CHECK(responses[0].transport_error == "response larger than 1048576 bytes");
  CHECK(server.requests().size() == 1);
}

TEST_CASE("URLs it cannot send and header values with line breaks fail at once, unsent") {
  ScriptedServer server({});
  auto client = nicsync::make_plain_http_client(quick_options());
  HttpRequest injected = get(server.url());
  injected.headers = {{"X-aws-ec2-metadata-token", "abc\r\nX-Evil: 1"}};
  auto responses = client->perform({get("https://127.0.0.1/"), get("http://127.0.0.1:99999/"),
                                    get("http://user@127.0.0.1/"), get("http://127.0.0.1/a b"), injected});
  CHECK(responses[0].transport_error == "not an http:// URL");
  CHECK(responses[1].transport_error == "the URL's port is not a number from 1 to 65535");
  CHECK(responses[2].transport_error == "user names and fragments are not supported in the URL");
  CHECK(responses[3].transport_error == "the URL contains a space or control character");
  CHECK(responses[4].transport_error == "request header \"X-aws-ec2-metadata-token\" is not one line");
  for (const HttpResponse& response : responses) CHECK(response.status == 0);
  CHECK(server.connections() == 0);
}

TEST_CASE("make_http_client sends http:// through the plain client and https:// through libcurl, in order") {
  auto mock = serve(kTwoEni);
  auto client = nicsync::make_http_client(quick_options());
  HttpRequest tls;
  tls.url = "https://127.0.0.1:" + std::to_string(closed_port()) + "/";
  auto responses = client->perform({aws_get(*mock, "/latest/meta-data/mac"), tls,
                                    aws_get(*mock, "/latest/meta-data/instance-id")});
  REQUIRE(responses.size() == 3);
  CHECK(responses[0].body == "02:86:10:77:7f:fe");
  CHECK(responses[1].status == 0);
  CHECK(responses[1].transport_error == "Connection refused");  // libcurl tried; the plain client would refuse https
  CHECK(responses[2].body == "i-094226850fb16bdf1");
}

}  // TEST_SUITE
