#include "mock/mock_imds.hpp"

#include <algorithm>
#include <atomic>
#include <charconv>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <functional>
#include <stdexcept>
#include <thread>
#include <utility>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wconversion"
#pragma GCC diagnostic ignored "-Wshadow"
#pragma GCC diagnostic ignored "-Wpedantic"
#include <httplib.h>
#pragma GCC diagnostic pop

#include <nlohmann/json.hpp>

namespace nicsync::mock {
namespace {

// httplib serves each connection on one worker thread for as long as it stays open (keep-alive),
// and a request's --latency-ms wait occupies its thread: the pool size is the number of requests
// (connections) answered concurrently; more wait in the queue. 256 leaves room for any client's
// parallelism (nicsync keeps at most 16 requests in flight) and several clients at once.
constexpr std::size_t kWorkerThreads = 256;
constexpr const char* kPrivateIpsPath = "/20160918/privateIps";

struct Token {
  std::string path;
  std::string ttl_header;
  std::string header;
  std::string value;
  bool required = true;
};

/// The parts of a fixture the server needs; `responses` is the initial response table.
struct Fixture {
  std::optional<Token> token;
  std::vector<std::pair<std::string, std::string>> require_headers;
  std::vector<std::pair<std::string, std::string>> aliases;  ///< longest key first
  std::map<std::string, std::string> responses;
  std::optional<std::map<std::string, std::string>> private_ips;  ///< vnicId -> JSON array text
};

std::string string_member(const nlohmann::json& object, const char* key, const std::string& where) {
  auto it = object.find(key);
  if (it == object.end() || !it->is_string())
    throw std::runtime_error(where + "." + key + " must be a string");
  return it->get<std::string>();
}

/// Reads an optional object of string values (missing or null: empty).
std::vector<std::pair<std::string, std::string>> string_map(const nlohmann::json& parent,
                                                            const char* key,
                                                            const std::string& where) {
  std::vector<std::pair<std::string, std::string>> out;
  auto it = parent.find(key);
  if (it == parent.end() || it->is_null()) return out;
  if (!it->is_object()) throw std::runtime_error(where + "." + key + " must be an object");
  for (const auto& [k, v] : it->items()) {
    if (!v.is_string())
      throw std::runtime_error(where + "." + key + "[\"" + k + "\"] must be a string");
    out.emplace_back(k, v.get<std::string>());
  }
  return out;
}

Fixture parse_fixture(const nlohmann::json& doc) {
  if (!doc.is_object()) throw std::runtime_error("not a JSON object");
  if (doc.value("format", std::string{}) != "nicsync-imds-fixture/1")
    throw std::runtime_error("format is not \"nicsync-imds-fixture/1\"");
  auto imds = doc.find("imds");
  if (imds == doc.end() || !imds->is_object()) throw std::runtime_error("imds must be an object");

  Fixture fx;
  if (auto token = imds->find("token"); token != imds->end() && !token->is_null()) {
    if (!token->is_object()) throw std::runtime_error("imds.token must be an object or null");
    Token t;
    t.path = string_member(*token, "path", "imds.token");
    t.ttl_header = string_member(*token, "ttl_header", "imds.token");
    t.header = string_member(*token, "header", "imds.token");
    t.value = string_member(*token, "value", "imds.token");
    auto required = token->find("required");
    if (required == token->end() || !required->is_boolean())
      throw std::runtime_error("imds.token.required must be a boolean");
    t.required = required->get<bool>();
    fx.token = std::move(t);
  }
  fx.require_headers = string_map(*imds, "require_headers", "imds");
  fx.aliases = string_map(*imds, "path_aliases", "imds");
  std::stable_sort(fx.aliases.begin(), fx.aliases.end(),
                   [](const auto& a, const auto& b) { return a.first.size() > b.first.size(); });

  auto responses = imds->find("responses");
  if (responses == imds->end() || !responses->is_object())
    throw std::runtime_error("imds.responses must be an object");
  for (auto& [path, body] : string_map(*imds, "responses", "imds")) fx.responses.emplace(path, body);

  if (auto oci = doc.find("oci_api"); oci != doc.end() && !oci->is_null()) {
    auto ips = oci->is_object() ? oci->find("private_ips") : oci->end();
    if (ips == oci->end() || !ips->is_object())
      throw std::runtime_error("oci_api.private_ips must be an object");
    std::map<std::string, std::string> by_vnic;
    for (const auto& [vnic, list] : ips->items()) {
      if (!list.is_array())
        throw std::runtime_error("oci_api.private_ips[\"" + vnic + "\"] must be an array");
      by_vnic.emplace(vnic, list.dump());
    }
    fx.private_ips = std::move(by_vnic);
  }
  return fx;
}

Fixture load_fixture(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error(path + ": cannot open fixture");
  try {
    return parse_fixture(nlohmann::json::parse(in));
  } catch (const nlohmann::json::exception& e) {
    throw std::runtime_error(path + ": invalid fixture: " + e.what());
  } catch (const std::runtime_error& e) {
    throw std::runtime_error(path + ": invalid fixture: " + e.what());
  }
}

int port_of(const sockaddr_storage& addr) {
  if (addr.ss_family == AF_INET) return ntohs(reinterpret_cast<const sockaddr_in&>(addr).sin_port);
  if (addr.ss_family == AF_INET6)
    return ntohs(reinterpret_cast<const sockaddr_in6&>(addr).sin6_port);
  return -1;
}

/// Calls fn(fd, local_port, peer_port) for the connected TCP/IP sockets of this process until
/// it returns true; returns that socket, or -1.
template <class Fn>
int find_connected_socket(Fn&& fn) {
  std::error_code ec;
  for (std::filesystem::directory_iterator it("/proc/self/fd", ec), end; !ec && it != end;
       it.increment(ec)) {
    const std::string name = it->path().filename().string();
    int fd = -1;
    if (std::from_chars(name.data(), name.data() + name.size(), fd).ec != std::errc{}) continue;
    sockaddr_storage local{};
    sockaddr_storage peer{};
    socklen_t local_len = sizeof local;
    socklen_t peer_len = sizeof peer;
    if (getsockname(fd, reinterpret_cast<sockaddr*>(&local), &local_len) != 0) continue;
    if (getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &peer_len) != 0) continue;
    const int local_port = port_of(local);
    const int peer_port = port_of(peer);
    if (local_port < 0 || peer_port < 0) continue;
    if (fn(fd, local_port, peer_port)) return fd;
  }
  return -1;
}

bool is_pseudo_header(const std::string& key) {
  // httplib adds these to every request; they were not sent by the client.
  return key == "REMOTE_ADDR" || key == "REMOTE_PORT" || key == "LOCAL_ADDR" || key == "LOCAL_PORT";
}

std::string content_type_for(const std::string& body) {
  return !body.empty() && (body.front() == '[' || body.front() == '{') ? "application/json"
                                                                         : "text/plain";
}

}  // namespace

struct MockImds::Impl {
  struct FaultState {
    Fault fault;
    int passed = 0;  ///< matching requests let through because of `skip`
    int hits = 0;
  };
  /// What the faults decided for one request.
  struct Decision {
    std::chrono::milliseconds latency{0};
    std::optional<Fault> fault;  ///< the deciding non-latency fault, if any
  };
  struct Answer {
    int status = 200;
    std::string body;
  };

  Fixture fixture;

  mutable std::mutex mutex;  // guards everything below up to `server`
  std::condition_variable stop_cv;
  bool stopping = false;
  std::map<std::string, std::string> responses;
  std::vector<FaultState> faults;
  std::vector<RecordedRequest> records;
  std::function<void(const RecordedRequest&)> observer;

  std::unique_ptr<httplib::Server> server;  // only touched by start()/stop()
  std::thread listener;
  std::atomic<bool> listener_done{false};
  std::string host;
  std::atomic<int> port{0};
  int listen_fd = -1;  ///< the listening socket, as seen while httplib sets its options

  Decision decide(const std::string& path) {
    std::lock_guard lock(mutex);
    Decision d;
    for (auto& state : faults) {
      const Fault& f = state.fault;
      if (!path.starts_with(f.path_prefix)) continue;
      if (state.passed < f.skip) {
        ++state.passed;
        continue;
      }
      if (f.times >= 0 && state.hits >= f.times) continue;
      if (f.kind == Fault::Kind::latency) {
        d.latency += f.latency;
        ++state.hits;
      } else if (!d.fault) {
        d.fault = f;
        ++state.hits;
      }
    }
    return d;
  }

  std::string resolve_alias(const std::string& path) const {
    for (const auto& [from, to] : fixture.aliases)
      if (path.starts_with(from)) return to + path.substr(from.size());
    return path;
  }

  Answer answer(const httplib::Request& req, const std::optional<std::string>& override_body) {
    const bool is_get = req.method == "GET" || req.method == "HEAD";
    if (fixture.private_ips && req.path == kPrivateIpsPath) {
      if (!is_get) return {405, {}};
      if (override_body) return {200, *override_body};
      if (!req.has_param("vnicId")) return {400, {}};
      auto it = fixture.private_ips->find(req.get_param_value("vnicId"));
      return {200, it != fixture.private_ips->end() ? it->second : "[]"};
    }
    const std::string path = resolve_alias(req.path);
    const auto& token = fixture.token;
    if (req.method == "PUT") {
      if (!token || path != token->path) return {405, {}};
      if (!req.has_header(token->ttl_header)) return {400, {}};
      return {200, token->value};
    }
    if (!is_get) return {405, {}};
    if (token) {
      if (path == token->path) return {405, {}};
      bool required = true;
      {
        std::lock_guard lock(mutex);  // set_token_required() may change it while serving
        required = token->required;
      }
      const bool wrong = req.has_header(token->header)
                             ? req.get_header_value(token->header) != token->value
                             : required;
      if (wrong) return {401, {}};
    }
    for (const auto& [key, value] : fixture.require_headers)
      if (!req.has_header(key) || req.get_header_value(key) != value) return {401, {}};
    if (override_body) return {200, *override_body};
    std::lock_guard lock(mutex);
    auto it = responses.find(path);
    if (it == responses.end()) return {404, {}};
    return {200, it->second};
  }

  /// The server side of the connection that carried `req` (-1 if not found). httplib does not
  /// expose the socket, so it is found by its ports.
  static int connection_socket(const httplib::Request& req) {
    return find_connected_socket([&](int, int local_port, int peer_port) {
      return local_port == req.local_port && peer_port == req.remote_port;
    });
  }

  /// Shuts down every accepted connection, so that idle keep-alive connections do not hold
  /// the worker threads until their keep-alive timeout.
  void drop_all_connections() const {
    const int served = port.load();
    find_connected_socket([&](int fd, int local_port, int) {
      if (local_port == served) ::shutdown(fd, SHUT_RDWR);
      return false;
    });
  }

  void handle(const httplib::Request& req, httplib::Response& res) {
    RecordedRequest rec;
    rec.method = req.method;
    rec.path = req.target.empty() ? req.path : req.target;
    for (const auto& [key, value] : req.headers)
      if (!is_pseudo_header(key)) rec.headers.emplace(key, value);
    rec.remote_port = req.remote_port;
    rec.received = std::chrono::steady_clock::now();
    if (fixture.token) rec.token_sent = req.has_header(fixture.token->header);

    const Decision d = decide(req.path);
    int drop_fd = -1;  // a connection to shut down instead of answering
    if (d.latency.count() > 0) {
      std::unique_lock lock(mutex);
      stop_cv.wait_for(lock, d.latency, [this] { return stopping; });
    }

    // A latency fault never decides the answer, so `latency` here means "answer normally".
    const Fault::Kind kind = d.fault ? d.fault->kind : Fault::Kind::latency;
    if (kind == Fault::Kind::status) {
      res.status = d.fault->status;
      if (!d.fault->retry_after.empty()) res.set_header("Retry-After", d.fault->retry_after);
      rec.status = res.status;
    } else if (kind == Fault::Kind::close_connection) {
      res.status = 500;  // written into the dead socket, or sent if the socket was not found
      drop_fd = connection_socket(req);
      rec.status = drop_fd >= 0 ? 0 : res.status;
    } else {
      const std::optional<std::string> override_body =
          kind == Fault::Kind::override_body ? std::optional(d.fault->body) : std::nullopt;
      Answer a = answer(req, override_body);
      res.status = a.status;
      rec.status = a.status;
      if (kind == Fault::Kind::truncate_body && req.method != "HEAD") {
        if (a.body.empty()) {
          // Nothing to cut in half: the closest thing is a connection closed without answer.
          drop_fd = connection_socket(req);
          if (drop_fd >= 0) rec.status = 0;
        } else {
          const std::size_t full = a.body.size();
          const std::size_t half = full / 2;
          const std::string type = content_type_for(a.body);
          res.set_content_provider(
              full, type,
              [body = std::move(a.body), half](std::size_t offset, std::size_t,
                                               httplib::DataSink& sink) {
                if (offset < half) sink.write(body.data() + offset, half - offset);
                return false;  // makes httplib close the connection with the body incomplete
              });
        }
      } else if (!a.body.empty() || a.status == 200) {
        res.set_content(a.body, content_type_for(a.body));
      }
    }
    // Recorded before the client can see anything, so that requests() lists it in order.
    record(std::move(rec));
    if (drop_fd >= 0) ::shutdown(drop_fd, SHUT_RDWR);
  }

  void record(RecordedRequest rec) {
    std::function<void(const RecordedRequest&)> notify;
    {
      std::lock_guard lock(mutex);
      records.push_back(rec);
      notify = observer;
    }
    if (notify) notify(rec);
  }
};

MockImds::MockImds(const std::string& fixture_path) : impl_(std::make_unique<Impl>()) {
  impl_->fixture = load_fixture(fixture_path);
  impl_->responses = impl_->fixture.responses;
}

MockImds::~MockImds() { stop(); }

int MockImds::start(const std::string& host, int port) {
  Impl& s = *impl_;
  if (s.server) throw std::runtime_error("MockImds: already started");

  auto server = std::make_unique<httplib::Server>();
  server->new_task_queue = [] { return new httplib::ThreadPool(kWorkerThreads); };
  server->set_keep_alive_max_count(1000000);
  server->set_keep_alive_timeout(5);
  // Headers and body go out in separate writes: without this, Nagle's algorithm and delayed
  // ACKs add ~40 ms to every answer on a reused connection.
  server->set_tcp_nodelay(true);
  // httplib's default adds SO_REUSEPORT, which would let a second server share a busy port.
  server->set_socket_options([&s](socket_t sock) {
    int yes = 1;
    setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
    s.listen_fd = sock;
  });
  const auto handler = [&s](const httplib::Request& req, httplib::Response& res) {
    s.handle(req, res);
  };
  // httplib reads the body of a PUT without Content-Length until the client closes (a bodiless
  // `curl -X PUT` would hang for the read timeout, then get 400). Like a real server, read only
  // a body that the headers announce; the mock has no use for its bytes.
  const auto with_body = [&s](const httplib::Request& req, httplib::Response& res,
                              const httplib::ContentReader& read) {
    if (req.has_header("Content-Length") || req.has_header("Transfer-Encoding"))
      read([](const char*, std::size_t) { return true; });
    s.handle(req, res);
  };
  server->Get(".*", handler);  // also serves HEAD
  server->Options(".*", handler);
  server->Put(".*", with_body);
  server->Post(".*", with_body);
  server->Patch(".*", with_body);
  server->Delete(".*", with_body);

  s.listen_fd = -1;
  const int bound = port == 0 ? server->bind_to_any_port(host)
                              : (server->bind_to_port(host, port) ? port : -1);
  if (bound <= 0)
    throw std::runtime_error("cannot listen on " + host + ":" + std::to_string(port));
  // httplib listens with a backlog of 5: a burst of concurrent connects would overflow it and
  // wait for SYN retransmission (1 s and more). Calling listen(2) again raises the backlog.
  if (s.listen_fd >= 0) ::listen(s.listen_fd, SOMAXCONN);

  {
    std::lock_guard lock(s.mutex);
    s.stopping = false;
  }
  s.host = host;
  s.port = bound;
  s.listener_done = false;
  s.listener = std::thread([&s, srv = server.get()] {
    // httplib writes with send(2) without MSG_NOSIGNAL: a client that hangs up must not kill
    // the process. The worker threads inherit this mask.
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &set, nullptr);
    srv->listen_after_bind();
    s.listener_done = true;
  });
  while (!server->is_running() && !s.listener_done)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  if (!server->is_running()) {
    s.listener.join();
    s.port = 0;
    throw std::runtime_error("cannot listen on " + host + ":" + std::to_string(bound));
  }
  s.server = std::move(server);
  return bound;
}

void MockImds::stop() {
  Impl& s = *impl_;
  if (!s.server) return;
  {
    std::lock_guard lock(s.mutex);
    s.stopping = true;
  }
  s.stop_cv.notify_all();
  s.server->stop();
  // Connections accepted just before the listening socket closed may still be queued, so
  // repeat until the listener has joined its workers.
  while (!s.listener_done) {
    s.drop_all_connections();
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  s.listener.join();
  s.server.reset();
  s.port = 0;
}

std::string MockImds::url() const {
  const std::string& host = impl_->host;
  const bool v6 = host.find(':') != std::string::npos;
  return "http://" + (v6 ? "[" + host + "]" : host) + ":" + std::to_string(impl_->port.load());
}

int MockImds::port() const { return impl_->port.load(); }

void MockImds::add_fault(const Fault& fault) {
  std::lock_guard lock(impl_->mutex);
  impl_->faults.push_back({fault, 0, 0});
}

void MockImds::set_token_required(bool required) {
  std::lock_guard lock(impl_->mutex);
  if (impl_->fixture.token) impl_->fixture.token->required = required;
}

void MockImds::clear_faults() {
  std::lock_guard lock(impl_->mutex);
  impl_->faults.clear();
}

void MockImds::set_response(const std::string& path, std::optional<std::string> body) {
  std::lock_guard lock(impl_->mutex);
  if (body)
    impl_->responses[path] = std::move(*body);
  else
    impl_->responses.erase(path);
}

std::vector<RecordedRequest> MockImds::requests() const {
  std::lock_guard lock(impl_->mutex);
  return impl_->records;
}

void MockImds::clear_requests() {
  std::lock_guard lock(impl_->mutex);
  impl_->records.clear();
}

void MockImds::set_request_observer(std::function<void(const RecordedRequest&)> observer) {
  std::lock_guard lock(impl_->mutex);
  impl_->observer = std::move(observer);
}

}  // namespace nicsync::mock
