// Tests of the mock instance-metadata server itself (tests/mock), driven by httplib's client,
// and of its HTTP transport (mock::HttpServer), driven by raw sockets.

#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wconversion"
#pragma GCC diagnostic ignored "-Wshadow"
#pragma GCC diagnostic ignored "-Wpedantic"
#include <httplib.h>
#pragma GCC diagnostic pop

#include <nlohmann/json.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "mock/http_server.hpp"
#include "mock/mock_imds.hpp"

namespace {

using nicsync::mock::DeferredResponse;
using nicsync::mock::Fault;
using nicsync::mock::HttpRequest;
using nicsync::mock::HttpResponse;
using nicsync::mock::HttpServer;
using nicsync::mock::MockImds;

const std::string kFixtures = NICSYNC_TEST_FIXTURES;
const std::string kAws = kFixtures + "/aws-seed-single-eni.json";
const std::string kOracle = kFixtures + "/oracle-vm-secondary-vnic.json";
const std::string kAlibaba = kFixtures + "/alibaba-seed-eni-eip.json";

const std::string kAwsToken = "AQAEAXDnLQAaeuRFo/1kmMPqmZY7LUUyvjvAEX472CQOGTgpNBR945QirJdl+";
const std::string kAwsTokenHeader = "X-aws-ec2-metadata-token";
const std::string kAwsTtlHeader = "X-aws-ec2-metadata-token-ttl-seconds";
const std::string kAliTokenHeader = "X-aliyun-ecs-metadata-token";
const std::string kAliTtlHeader = "X-aliyun-ecs-metadata-token-ttl-seconds";
const std::string kAliToken = "AQAEAMcPbjJTWdnvukXpHL2YNsasNcbZOYsFF4UblsdDFCNVfR95S1o76x0bW";
const std::string kAwsIpsPath =
    "/latest/meta-data/network/interfaces/macs/06:16:62:3a:1c:a1/local-ipv4s";
const std::string kPrimaryVnic =
    "ocid1.vnic.oc1.phx.abyhqljtch72z5pd76cc2636qeqh7zexampleprimaryvnic0001";
const std::string kSecondVnic =
    "ocid1.vnic.oc1.phx.abyhqljt4iew3gwmvrwrhhf3bp5drjexamplesecondvnic0002";

/// A writing client must not die of SIGPIPE when the mock drops a connection.
const bool kSigpipeIgnored = [] {
  std::signal(SIGPIPE, SIG_IGN);
  return true;
}();

/// A started mock and a client for it (a fresh connection per request unless keep-alive).
struct Served {
  MockImds mock;
  httplib::Client client;

  explicit Served(const std::string& fixture)
      : mock(fixture), client("127.0.0.1", mock.start("127.0.0.1", 0)) {
    client.set_connection_timeout(std::chrono::seconds(5));
    client.set_read_timeout(std::chrono::seconds(5));
  }
};

httplib::Headers aws_token_headers() { return {{kAwsTokenHeader, kAwsToken}}; }

int status_of(const httplib::Result& r) { return r ? r->status : -1; }

/// Sends `request` as is on a new connection to 127.0.0.1:port and returns every byte received
/// until the server closes (or 5 s pass).
std::string raw_exchange(int port, const std::string& request) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(fd >= 0);
  timeval timeout{5, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  std::string received;
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0 &&
      ::send(fd, request.data(), request.size(), MSG_NOSIGNAL) ==
          static_cast<ssize_t>(request.size())) {
    char buf[4096];
    for (ssize_t n; (n = ::recv(fd, buf, sizeof buf, 0)) > 0;)
      received.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fd);
  return received;
}

}  // namespace

TEST_SUITE("mock::MockImds") {
  TEST_CASE("AWS token flow: PUT gives the token, GETs need it") {
    REQUIRE(kSigpipeIgnored);
    Served s(kAws);

    auto put = s.client.Put("/latest/api/token", {{kAwsTtlHeader, "21600"}}, "", "text/plain");
    REQUIRE(put);
    CHECK(put->status == 200);
    CHECK(put->body == kAwsToken);

    CHECK(status_of(s.client.Put("/latest/api/token", "", "text/plain")) == 400);
    CHECK(status_of(s.client.Get("/latest/api/token")) == 405);
    CHECK(status_of(s.client.Put("/latest/meta-data/mac", {{kAwsTtlHeader, "60"}}, "",
                                 "text/plain")) == 405);

    CHECK(status_of(s.client.Get(kAwsIpsPath)) == 401);
    CHECK(status_of(s.client.Get(kAwsIpsPath, {{kAwsTokenHeader, "wrong"}})) == 401);

    auto get = s.client.Get(kAwsIpsPath, aws_token_headers());
    REQUIRE(get);
    CHECK(get->status == 200);
    CHECK(get->body == "192.168.1.100\n192.168.1.101");
    CHECK(get->get_header_value("Content-Type") == "text/plain");
  }

  TEST_CASE("token PUT without any body or Content-Length, as `curl -X PUT` sends it") {
    Served s(kAws);
    const auto t0 = std::chrono::steady_clock::now();
    const std::string reply = raw_exchange(
        s.mock.port(), "PUT /latest/api/token HTTP/1.1\r\nHost: 169.254.169.254\r\n" +
                           kAwsTtlHeader + ": 21600\r\nConnection: close\r\n\r\n");
    CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::seconds(2));
    CHECK(reply.starts_with("HTTP/1.1 200 OK\r\n"));
    CHECK(reply.ends_with("\r\n\r\n" + kAwsToken));
  }

  TEST_CASE("Alibaba token is optional, but a wrong one is refused") {
    Served s(kAlibaba);
    const std::string path = "/latest/meta-data/network/interfaces/macs/00:16:3e:45:5e:32/"
                             "private-ipv4s";
    const std::string body = R"(["172.16.10.57","172.16.10.77","172.16.10.78"])";

    auto plain = s.client.Get(path);
    REQUIRE(plain);
    CHECK(plain->status == 200);
    CHECK(plain->body == body);
    CHECK(plain->get_header_value("Content-Type") == "application/json");

    auto put = s.client.Put("/latest/api/token", {{kAliTtlHeader, "21600"}}, "", "text/plain");
    REQUIRE(put);
    CHECK(put->status == 200);
    CHECK(put->body == kAliToken);

    auto with_token = s.client.Get(path, {{kAliTokenHeader, kAliToken}});
    REQUIRE(with_token);
    CHECK(with_token->status == 200);
    CHECK(with_token->body == body);

    CHECK(status_of(s.client.Get(path, {{kAliTokenHeader, "stale"}})) == 401);
  }

  TEST_CASE("Alibaba serves an empty leaf and CRLF bodies byte for byte") {
    Served s(kAlibaba);
    auto empty = s.client.Get("/latest/meta-data/sub-private-ipv4-list");
    REQUIRE(empty);
    CHECK(empty->status == 200);
    CHECK(empty->body.empty());
    auto dns = s.client.Get("/latest/meta-data/dns-conf/nameservers");
    REQUIRE(dns);
    CHECK(dns->body == "100.100.2.136\r\n100.100.2.138");
  }

  TEST_CASE("Oracle requires Authorization: Bearer Oracle") {
    Served s(kOracle);
    CHECK(status_of(s.client.Get("/opc/v2/vnics/")) == 401);
    CHECK(status_of(s.client.Get("/opc/v2/vnics/", {{"Authorization", "Bearer Other"}})) == 401);
    auto ok = s.client.Get("/opc/v2/vnics/", {{"Authorization", "Bearer Oracle"}});
    REQUIRE(ok);
    CHECK(ok->status == 200);
    CHECK(ok->get_header_value("Content-Type") == "application/json");
    auto vnics = nlohmann::json::parse(ok->body);
    REQUIRE(vnics.size() == 2);
    CHECK(vnics[0]["vnicId"] == kPrimaryVnic);
    // No token in this fixture: PUT is not a thing here.
    CHECK(status_of(s.client.Put("/opc/v2/vnics/", "", "text/plain")) == 405);
  }

  TEST_CASE("Oracle ListPrivateIps by vnicId") {
    Served s(kOracle);
    auto second = s.client.Get("/20160918/privateIps?vnicId=" + kSecondVnic);
    REQUIRE(second);
    CHECK(second->status == 200);
    auto ips = nlohmann::json::parse(second->body);
    REQUIRE(ips.is_array());
    REQUIRE(ips.size() == 3);
    CHECK(ips[1]["ipAddress"] == "172.16.2.11");
    CHECK(ips[1]["isPrimary"] == false);
    CHECK(ips[1]["hostnameLabel"].is_null());

    auto unknown = s.client.Get("/20160918/privateIps?vnicId=ocid1.vnic.oc1.phx.nosuchvnic");
    REQUIRE(unknown);
    CHECK(unknown->status == 200);
    CHECK(unknown->body == "[]");
  }

  TEST_CASE("path aliases, query strings and 404") {
    Served s(kAlibaba);
    auto aliased = s.client.Get("/2016-01-01/meta-data/instance-id");
    REQUIRE(aliased);
    CHECK(aliased->status == 200);
    CHECK(aliased->body == "i-6weee6xqjgln2t3cqogh");

    auto with_query = s.client.Get("/latest/meta-data/instance-id?format=text");
    REQUIRE(with_query);
    CHECK(with_query->body == "i-6weee6xqjgln2t3cqogh");

    CHECK(status_of(s.client.Get("/latest/meta-data/no-such-key")) == 404);
    CHECK(status_of(s.client.Get("/latest/meta-data/instance-id/")) == 404);
    CHECK(status_of(s.client.Get("/2016-01-02/meta-data/instance-id")) == 404);
    // The ListPrivateIps route exists only for Oracle fixtures.
    CHECK(status_of(s.client.Get("/20160918/privateIps?vnicId=x")) == 404);
  }

  TEST_CASE("AWS aliases need the token too") {
    Served s(kAws);
    CHECK(status_of(s.client.Get("/2021-03-23/meta-data/instance-id")) == 401);
    auto r = s.client.Get("/2021-03-23/meta-data/instance-id", aws_token_headers());
    REQUIRE(r);
    CHECK(r->body == "i-4fce234d");
  }

  TEST_CASE("latency fault delays the answer") {
    Served s(kAlibaba);
    Fault f;
    f.kind = Fault::Kind::latency;
    f.path_prefix = "/latest/meta-data/instance-id";
    f.latency = std::chrono::milliseconds(300);
    s.mock.add_fault(f);

    auto t0 = std::chrono::steady_clock::now();
    auto slow = s.client.Get("/latest/meta-data/instance-id");
    auto elapsed = std::chrono::steady_clock::now() - t0;
    REQUIRE(slow);
    CHECK(slow->status == 200);
    CHECK(slow->body == "i-6weee6xqjgln2t3cqogh");
    CHECK(elapsed >= std::chrono::milliseconds(300));

    t0 = std::chrono::steady_clock::now();
    CHECK(status_of(s.client.Get("/latest/meta-data/hostname")) == 200);
    CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::milliseconds(300));
  }

  TEST_CASE("status fault with Retry-After, skip and times") {
    Served s(kAlibaba);
    Fault f;
    f.kind = Fault::Kind::status;
    f.path_prefix = "/latest/meta-data/";
    f.status = 429;
    f.retry_after = "1";
    f.skip = 1;
    f.times = 2;
    s.mock.add_fault(f);

    const std::string path = "/latest/meta-data/region-id";
    CHECK(status_of(s.client.Get(path)) == 200);  // skipped
    for (int i = 0; i < 2; ++i) {
      auto r = s.client.Get(path);
      REQUIRE(r);
      CHECK(r->status == 429);
      CHECK(r->get_header_value("Retry-After") == "1");
      CHECK(r->body.empty());
    }
    auto after = s.client.Get(path);
    REQUIRE(after);
    CHECK(after->status == 200);
    CHECK(after->body == "ap-northeast-1");
    CHECK_FALSE(after->has_header("Retry-After"));
    // Paths outside the prefix were never affected.
    CHECK(status_of(s.client.Get("/latest/api/token")) == 405);
  }

  TEST_CASE("status fault applies before authentication, to every method") {
    Served s(kAws);
    Fault f;
    f.kind = Fault::Kind::status;
    f.status = 503;
    f.times = 1;
    s.mock.add_fault(f);
    CHECK(status_of(s.client.Put("/latest/api/token", {{kAwsTtlHeader, "60"}}, "",
                                 "text/plain")) == 503);
    CHECK(status_of(s.client.Put("/latest/api/token", {{kAwsTtlHeader, "60"}}, "",
                                 "text/plain")) == 200);
  }

  TEST_CASE("close fault: the client gets no answer") {
    Served s(kAlibaba);
    Fault f;
    f.kind = Fault::Kind::close_connection;
    f.path_prefix = "/latest/meta-data/mac";
    f.times = 1;
    s.mock.add_fault(f);

    auto dropped = s.client.Get("/latest/meta-data/mac");
    CHECK_FALSE(dropped);
    CHECK(dropped.error() != httplib::Error::Success);

    auto again = s.client.Get("/latest/meta-data/mac");
    REQUIRE(again);
    CHECK(again->body == "00:16:3e:92:9b:33");

    auto recs = s.mock.requests();
    REQUIRE(recs.size() == 2);
    CHECK(recs[0].status == 0);
    CHECK(recs[1].status == 200);
  }

  TEST_CASE("close and truncate faults on the wire") {
    Served s(kAlibaba);
    const std::string path = "/latest/meta-data/serial-number";
    const std::string full = "7a32e219-6919-e45b-3ece-531a77c84b3b";
    const std::string request = "GET " + path + " HTTP/1.1\r\nHost: x\r\n\r\n";
    Fault f;
    f.kind = Fault::Kind::close_connection;
    f.times = 1;
    s.mock.add_fault(f);
    f.kind = Fault::Kind::truncate_body;
    f.skip = 1;  // the request the close fault took counts as one passed by this fault
    s.mock.add_fault(f);

    CHECK(raw_exchange(s.mock.port(), request).empty());

    const std::string cut = raw_exchange(s.mock.port(), request);
    CHECK(cut.starts_with("HTTP/1.1 200 OK\r\n"));
    CHECK(cut.find("Content-Length: " + std::to_string(full.size()) + "\r\n") != std::string::npos);
    CHECK(cut.ends_with("\r\n\r\n" + full.substr(0, full.size() / 2)));
  }

  TEST_CASE("close fault on a keep-alive connection") {
    Served s(kAlibaba);
    s.client.set_keep_alive(true);
    CHECK(status_of(s.client.Get("/latest/meta-data/mac")) == 200);
    Fault f;
    f.kind = Fault::Kind::close_connection;
    f.times = 1;
    s.mock.add_fault(f);
    CHECK_FALSE(s.client.Get("/latest/meta-data/mac"));
    CHECK(status_of(s.client.Get("/latest/meta-data/mac")) == 200);
  }

  TEST_CASE("truncate fault: half the body, then the connection closes") {
    Served s(kAlibaba);
    Fault f;
    f.kind = Fault::Kind::truncate_body;
    f.path_prefix = "/latest/meta-data/serial-number";
    f.times = 1;
    s.mock.add_fault(f);

    const std::string full = "7a32e219-6919-e45b-3ece-531a77c84b3b";
    std::string received;
    auto cut = s.client.Get("/latest/meta-data/serial-number",
                            [&](const char* data, std::size_t n) {
                              received.append(data, n);
                              return true;
                            });
    CHECK_FALSE(cut);  // Content-Length promised more than arrived
    CHECK(received == full.substr(0, full.size() / 2));

    auto whole = s.client.Get("/latest/meta-data/serial-number");
    REQUIRE(whole);
    CHECK(whole->body == full);
  }

  TEST_CASE("override_body fault and skip counting") {
    Served s(kAlibaba);
    Fault f;
    f.kind = Fault::Kind::override_body;
    f.path_prefix = "/latest/meta-data/eipv4";
    f.body = "203.0.113.9";
    f.skip = 2;
    f.times = 1;
    s.mock.add_fault(f);
    const std::string path = "/latest/meta-data/eipv4";
    std::vector<std::string> bodies;
    for (int i = 0; i < 4; ++i) {
      auto r = s.client.Get(path);
      REQUIRE(r);
      CHECK(r->status == 200);
      bodies.push_back(r->body);
    }
    CHECK(bodies == std::vector<std::string>{"47.74.41.108", "47.74.41.108", "203.0.113.9",
                                             "47.74.41.108"});
  }

  TEST_CASE("faults in order: the first deciding fault wins, latencies add up") {
    Served s(kAlibaba);
    Fault first;
    first.kind = Fault::Kind::status;
    first.status = 500;
    first.times = 1;
    Fault second = first;
    second.status = 502;
    s.mock.add_fault(first);
    s.mock.add_fault(second);
    const std::string path = "/latest/meta-data/zone-id";
    CHECK(status_of(s.client.Get(path)) == 500);
    CHECK(status_of(s.client.Get(path)) == 502);
    CHECK(status_of(s.client.Get(path)) == 200);

    s.mock.clear_faults();
    CHECK(status_of(s.client.Get(path)) == 200);
  }

  TEST_CASE("set_response replaces, adds and removes paths") {
    Served s(kAlibaba);
    const std::string path = "/latest/meta-data/network/interfaces/macs/00:16:3e:45:5e:32/"
                             "private-ipv4s";
    s.mock.set_response(path, R"(["172.16.10.57","172.16.10.77"])");
    auto r = s.client.Get(path);
    REQUIRE(r);
    CHECK(r->body == R"(["172.16.10.57","172.16.10.77"])");

    s.mock.set_response(path, std::nullopt);
    CHECK(status_of(s.client.Get(path)) == 404);

    s.mock.set_response("/latest/meta-data/new-key", "value");
    auto added = s.client.Get("/latest/meta-data/new-key");
    REQUIRE(added);
    CHECK(added->body == "value");
  }

  TEST_CASE("requests are recorded with method, path with query, headers and status") {
    Served s(kAws);
    s.client.Put("/latest/api/token", {{kAwsTtlHeader, "60"}}, "", "text/plain");
    s.client.Get("/latest/meta-data/mac?x=1", aws_token_headers());
    s.client.Get("/latest/meta-data/missing", aws_token_headers());

    auto recs = s.mock.requests();
    REQUIRE(recs.size() == 3);
    CHECK(recs[0].method == "PUT");
    CHECK(recs[0].path == "/latest/api/token");
    CHECK(recs[0].status == 200);
    CHECK(recs[0].headers.at(kAwsTtlHeader) == "60");
    CHECK(recs[1].method == "GET");
    CHECK(recs[1].path == "/latest/meta-data/mac?x=1");
    CHECK(recs[1].headers.at(kAwsTokenHeader) == kAwsToken);
    CHECK(recs[1].headers.count("REMOTE_ADDR") == 0);
    CHECK(recs[1].status == 200);
    CHECK(recs[2].status == 404);

    s.mock.clear_requests();
    CHECK(s.mock.requests().empty());
  }

  TEST_CASE("keep-alive: many requests over one connection") {
    Served s(kAlibaba);
    s.client.set_keep_alive(true);
    for (int i = 0; i < 20; ++i) CHECK(status_of(s.client.Get("/latest/meta-data/mac")) == 200);
    auto recs = s.mock.requests();
    REQUIRE(recs.size() == 20);
    for (const auto& r : recs) CHECK(r.remote_port == recs.front().remote_port);
  }

  TEST_CASE("concurrent clients") {
    Served s(kAlibaba);
    const int port = s.mock.port();
    std::vector<std::thread> threads;
    std::vector<int> ok(40, 0);
    for (std::size_t t = 0; t < ok.size(); ++t) {
      threads.emplace_back([&, t] {
        httplib::Client c("127.0.0.1", port);
        c.set_keep_alive(true);
        for (int i = 0; i < 10; ++i)
          if (status_of(c.Get("/latest/meta-data/instance-id")) == 200) ++ok[t];
      });
    }
    for (auto& t : threads) t.join();
    for (int n : ok) CHECK(n == 10);
    CHECK(s.mock.requests().size() == 400);
  }

  TEST_CASE("stop is prompt with an idle keep-alive connection and a pending latency") {
    MockImds mock(kAlibaba);
    const int port = mock.start();
    CHECK(mock.url() == "http://127.0.0.1:" + std::to_string(port));
    httplib::Client idle("127.0.0.1", port);
    idle.set_keep_alive(true);
    CHECK(status_of(idle.Get("/latest/meta-data/mac")) == 200);

    Fault f;
    f.kind = Fault::Kind::latency;
    f.latency = std::chrono::seconds(30);
    mock.add_fault(f);
    std::thread slow([port] {
      httplib::Client c("127.0.0.1", port);
      c.Get("/latest/meta-data/mac");
    });
    std::this_thread::sleep_for(std::chrono::milliseconds(100));

    auto t0 = std::chrono::steady_clock::now();
    mock.stop();
    CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::seconds(2));
    slow.join();
    CHECK(mock.port() == 0);

    // It can serve again afterwards.
    mock.clear_faults();
    const int again = mock.start();
    httplib::Client c("127.0.0.1", again);
    CHECK(status_of(c.Get("/latest/meta-data/mac")) == 200);
  }

  TEST_CASE("bad fixtures and busy ports are reported") {
    CHECK_THROWS_WITH_AS(MockImds(kFixtures + "/no-such-fixture.json"),
                         doctest::Contains("no-such-fixture.json"), std::runtime_error);
    CHECK_THROWS_WITH_AS(MockImds(kFixtures + "/README.md"), doctest::Contains("README.md"),
                         std::runtime_error);

    MockImds a(kAlibaba);
    const int port = a.start();
    MockImds b(kAlibaba);
    CHECK_THROWS_AS(b.start("127.0.0.1", port), std::runtime_error);
  }

  TEST_CASE("set_token_required(false) serves GETs without a token, still refuses a wrong one") {
    Served s(kAws);
    CHECK(status_of(s.client.Get(kAwsIpsPath)) == 401);
    s.mock.set_token_required(false);
    CHECK(status_of(s.client.Get(kAwsIpsPath)) == 200);
    CHECK(status_of(s.client.Get(kAwsIpsPath, {{kAwsTokenHeader, "wrong"}})) == 401);
    CHECK(status_of(s.client.Get(kAwsIpsPath, aws_token_headers())) == 200);
    s.mock.set_token_required(true);
    CHECK(status_of(s.client.Get(kAwsIpsPath)) == 401);

    Served oracle(kOracle);  // no token: no effect
    oracle.mock.set_token_required(false);
    CHECK(status_of(oracle.client.Get("/opc/v2/vnics/")) == 401);
  }

  TEST_CASE("requests record their arrival time and whether the token header came along") {
    Served s(kAws);
    Fault slow;
    slow.kind = Fault::Kind::latency;
    slow.path_prefix = "/latest/meta-data/mac";
    slow.latency = std::chrono::milliseconds(100);
    s.mock.add_fault(slow);
    const auto before = std::chrono::steady_clock::now();
    s.client.Get("/latest/meta-data/mac", aws_token_headers());
    s.client.Get("/latest/meta-data/mac");
    const auto after = std::chrono::steady_clock::now();

    auto recs = s.mock.requests();
    REQUIRE(recs.size() == 2);
    CHECK(recs[0].token_sent == std::optional(true));
    CHECK(recs[1].token_sent == std::optional(false));
    CHECK(recs[0].received >= before);
    // Arrival, not answer: the second request came after the first one's 100 ms latency.
    CHECK(recs[1].received - recs[0].received >= std::chrono::milliseconds(100));
    CHECK(recs[1].received <= after);

    Served oracle(kOracle);
    oracle.client.Get("/opc/v2/vnics/", {{"Authorization", "Bearer Oracle"}});
    REQUIRE(oracle.mock.requests().size() == 1);
    CHECK(oracle.mock.requests()[0].token_sent == std::nullopt);
  }
}

namespace {

/// A blocking client socket to 127.0.0.1:port with a 5 s receive timeout.
class RawClient {
 public:
  explicit RawClient(int port) : fd_(::socket(AF_INET, SOCK_STREAM, 0)) {
    REQUIRE(fd_ >= 0);
    timeval timeout{5, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<std::uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::connect(fd_, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0);
  }
  ~RawClient() { close(); }
  RawClient(const RawClient&) = delete;
  RawClient& operator=(const RawClient&) = delete;

  void send(const std::string& data) {
    REQUIRE(::send(fd_, data.data(), data.size(), MSG_NOSIGNAL) ==
            static_cast<ssize_t>(data.size()));
  }
  void close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }
  /// Sends EOF, still reading.
  void half_close() { ::shutdown(fd_, SHUT_WR); }
  /// One response: head and Content-Length body ("" if the connection ended first).
  std::string response() {
    while (buffer_.find("\r\n\r\n") == std::string::npos)
      if (!fill()) return "";
    const std::size_t head_end = buffer_.find("\r\n\r\n") + 4;
    std::size_t length = 0;
    const auto cl = buffer_.find("Content-Length: ");
    if (cl != std::string::npos && cl < head_end) length = std::stoul(buffer_.substr(cl + 16));
    while (buffer_.size() < head_end + length)
      if (!fill()) return "";
    std::string out = buffer_.substr(0, head_end + length);
    buffer_.erase(0, head_end + length);
    return out;
  }
  /// Whether the server closed the connection (after whatever was received).
  bool closed_by_server() {
    while (fill()) {
    }
    return eof_;
  }

 private:
  bool fill() {
    char buf[4096];
    const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
    if (n > 0) buffer_.append(buf, static_cast<std::size_t>(n));
    if (n == 0) eof_ = true;
    return n > 0;
  }
  int fd_;
  std::string buffer_;
  bool eof_ = false;
};

std::string body_of(const std::string& response) {
  const auto end = response.find("\r\n\r\n");
  return end == std::string::npos ? "" : response.substr(end + 4);
}

/// An HttpServer that answers "METHOD PATH BODY", after X-Delay-Ms milliseconds if given.
struct EchoServer {
  std::atomic<int> arrived{0};
  std::atomic<int> answered{0};
  HttpServer server{[this](HttpRequest&& req) {
    ++arrived;
    DeferredResponse d;
    if (const std::string* ms = req.header("x-delay-ms"))
      d.delay = std::chrono::milliseconds(std::stoi(*ms));
    d.respond = [this, text = req.method + " " + req.path + " " + req.body] {
      ++answered;
      HttpResponse res;
      res.headers.emplace_back("Content-Type", "text/plain");
      res.body = text;
      return res;
    };
    return d;
  }};
  int port = server.start("127.0.0.1", 0);
};

std::string get(const std::string& path, const std::string& extra = "") {
  return "GET " + path + " HTTP/1.1\r\nHost: x\r\n" + extra + "\r\n";
}

}  // namespace

TEST_SUITE("mock::HttpServer") {
  TEST_CASE("parse_http_request: incomplete, complete with query and percent escapes, malformed") {
    HttpRequest req;
    bool headers_done = false;
    CHECK(nicsync::mock::parse_http_request("GET /a HTTP/1.1\r\nHost: x\r\n", req, headers_done) ==
          0);
    CHECK_FALSE(headers_done);

    const std::string text = "GET /a%3Ab?vnicId=ocid1%2Ex&q=a+b HTTP/1.1\r\nX-Key:  v 1 \r\n\r\nrest";
    REQUIRE(nicsync::mock::parse_http_request(text, req, headers_done) ==
            static_cast<long>(text.size() - 4));
    CHECK(req.method == "GET");
    CHECK(req.target == "/a%3Ab?vnicId=ocid1%2Ex&q=a+b");
    CHECK(req.path == "/a:b");
    REQUIRE(req.param("vnicId"));
    CHECK(*req.param("vnicId") == "ocid1.x");
    CHECK(*req.param("q") == "a b");
    REQUIRE(req.header("x-key"));
    CHECK(*req.header("x-key") == "v 1");
    CHECK(req.headers.front().first == "X-Key");

    CHECK(nicsync::mock::parse_http_request("BREW /pot HTTP/1.1\r\n\r\n", req, headers_done) == -400);
    CHECK(nicsync::mock::parse_http_request("GET /a HTTP/2\r\n\r\n", req, headers_done) == -400);
    CHECK(nicsync::mock::parse_http_request("GET /a HTTP/1.1\r\nContent-Length: x\r\n\r\n", req,
                                            headers_done) == -400);
  }

  TEST_CASE("http_head lays out the answer as cpp-httplib 0.11 did") {
    HttpResponse res;
    res.status = 429;
    res.headers.emplace_back("Retry-After", "1");
    CHECK(nicsync::mock::http_head(res, 0, false) ==
          "HTTP/1.1 429 Too Many Requests\r\nContent-Length: 0\r\n"
          "Keep-Alive: timeout=5, max=1000000\r\nRetry-After: 1\r\n\r\n");
    res.status = 200;
    res.headers = {{"Content-Type", "text/plain"}};
    CHECK(nicsync::mock::http_head(res, 17, true) ==
          "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 17\r\n"
          "Content-Type: text/plain\r\n\r\n");
  }

  TEST_CASE("keep-alive: several requests, one at a time, on one connection") {
    EchoServer s;
    RawClient c(s.port);
    for (int i = 0; i < 5; ++i) {
      c.send(get("/n" + std::to_string(i)));
      const std::string r = c.response();
      CHECK(r.starts_with("HTTP/1.1 200 OK\r\n"));
      CHECK(r.find("Keep-Alive: timeout=5, max=1000000\r\n") != std::string::npos);
      CHECK(body_of(r) == "GET /n" + std::to_string(i) + " ");
    }
    CHECK(s.answered == 5);
  }

  TEST_CASE("pipelined requests are answered in order, a slow first one included") {
    EchoServer s;
    RawClient c(s.port);
    c.send(get("/first", "X-Delay-Ms: 50\r\n") + get("/second") +
           "PUT /third HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc");
    CHECK(body_of(c.response()) == "GET /first ");
    CHECK(body_of(c.response()) == "GET /second ");
    CHECK(body_of(c.response()) == "PUT /third abc");
  }

  TEST_CASE("latency is per request and concurrent across connections") {
    EchoServer s;
    constexpr int kClients = 50;
    std::vector<std::unique_ptr<RawClient>> clients;
    const auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < kClients; ++i) {
      clients.push_back(std::make_unique<RawClient>(s.port));
      clients.back()->send(get("/slow" + std::to_string(i), "X-Delay-Ms: 20\r\n"));
    }
    for (int i = 0; i < kClients; ++i)
      CHECK(body_of(clients[static_cast<std::size_t>(i)]->response()) ==
            "GET /slow" + std::to_string(i) + " ");
    const auto elapsed = std::chrono::steady_clock::now() - t0;
    CHECK(elapsed >= std::chrono::milliseconds(20));
    CHECK(elapsed < std::chrono::milliseconds(kClients * 20 / 4));
  }

  TEST_CASE("request bodies: Content-Length, chunked, and Expect: 100-continue") {
    EchoServer s;
    RawClient c(s.port);
    c.send("PUT /cl HTTP/1.1\r\nContent-Length: 5\r\n\r\nhel");
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    c.send("lo");
    CHECK(body_of(c.response()) == "PUT /cl hello");

    c.send("POST /chunked HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
           "3\r\nabc\r\n2;ext=1\r\nde\r\n0\r\n\r\n");
    CHECK(body_of(c.response()) == "POST /chunked abcde");

    c.send("PUT /expect HTTP/1.1\r\nContent-Length: 2\r\nExpect: 100-continue\r\n\r\n");
    CHECK(c.response() == "HTTP/1.1 100 Continue\r\n\r\n");
    c.send("ok");
    CHECK(body_of(c.response()) == "PUT /expect ok");
  }

  TEST_CASE("a malformed request gets 400 and the connection closes") {
    EchoServer s;
    RawClient c(s.port);
    c.send("this is not http\r\n\r\n" + get("/never"));
    CHECK(c.response() == "HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n");
    CHECK(c.closed_by_server());
    CHECK(s.arrived == 0);
  }

  TEST_CASE("Connection: close and HTTP/1.0 close after the answer") {
    EchoServer s;
    RawClient a(s.port);
    a.send(get("/a", "Connection: close\r\n"));
    CHECK(a.response().find("Connection: close\r\n") != std::string::npos);
    CHECK(a.closed_by_server());
    RawClient b(s.port);
    b.send("GET /b HTTP/1.0\r\n\r\n");
    CHECK(body_of(b.response()) == "GET /b ");
    CHECK(b.closed_by_server());
  }

  TEST_CASE("a client closing mid-request or while its answer waits leaves the server serving") {
    EchoServer s;
    {
      RawClient partial(s.port);
      partial.send("GET /half HTTP/1.1\r\nHost:");
    }
    {
      RawClient waiting(s.port);
      waiting.send(get("/gone", "X-Delay-Ms: 30\r\n"));
    }
    // A half-closed client still gets its answer.
    RawClient half(s.port);
    half.send(get("/half-closed"));
    half.half_close();
    std::this_thread::sleep_for(std::chrono::milliseconds(60));
    CHECK(s.arrived == 2);
    CHECK(s.answered == 2);  // the deferred answer was produced, and nobody got hurt
    CHECK(body_of(half.response()) == "GET /half-closed ");
    RawClient next(s.port);
    next.send(get("/next"));
    CHECK(body_of(next.response()) == "GET /next ");
  }

  TEST_CASE("stop answers deferred requests at once and can start again") {
    EchoServer s;
    RawClient c(s.port);
    c.send(get("/slow", "X-Delay-Ms: 30000\r\n"));
    while (s.arrived == 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    const auto t0 = std::chrono::steady_clock::now();
    s.server.stop();
    CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::seconds(1));
    CHECK(s.answered == 1);
    CHECK(c.closed_by_server());

    const int again = s.server.start("127.0.0.1", 0);
    RawClient d(again);
    d.send(get("/again"));
    CHECK(body_of(d.response()) == "GET /again ");
  }
}
