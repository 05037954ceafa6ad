#include "mock/mock_imds.hpp"

#include <algorithm>
#include <atomic>
#include <fstream>
#include <functional>
#include <stdexcept>
#include <utility>

#include "mock/http_server.hpp"

#include <nlohmann/json.hpp>

namespace nicsync::mock {
namespace {

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
  std::map<std::string, std::string> responses;
  std::vector<FaultState> faults;
  std::vector<RecordedRequest> records;
  std::function<void(const RecordedRequest&)> observer;

  std::unique_ptr<HttpServer> server;  // only touched by start()/stop()
  std::string host;
  std::atomic<int> port{0};

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

  Answer answer(const HttpRequest& req, const std::optional<std::string>& override_body) {
    const bool is_get = req.method == "GET" || req.method == "HEAD";
    if (fixture.private_ips && req.path == kPrivateIpsPath) {
      if (!is_get) return {405, {}};
      if (override_body) return {200, *override_body};
      const std::string* vnic = req.param("vnicId");
      if (!vnic) return {400, {}};
      auto it = fixture.private_ips->find(*vnic);
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
      const std::string* sent = req.header(token->header);
      const bool wrong = sent ? *sent != token->value : required;
      if (wrong) return {401, {}};
    }
    for (const auto& [key, value] : fixture.require_headers) {
      const std::string* sent = req.header(key);
      if (!sent || *sent != value) return {401, {}};
    }
    if (override_body) return {200, *override_body};
    std::lock_guard lock(mutex);
    auto it = responses.find(path);
    if (it == responses.end()) return {404, {}};
    return {200, it->second};
  }

  /// On arrival: records the time, lets the faults decide, and defers the answer by their
  /// latency.
  DeferredResponse arrive(HttpRequest&& req) {
    RecordedRequest rec;
    rec.method = req.method;
    rec.path = req.target;
    for (const auto& [key, value] : req.headers) rec.headers.emplace(key, value);
    rec.remote_port = req.remote_port;
    rec.received = std::chrono::steady_clock::now();
    if (fixture.token) rec.token_sent = req.has_header(fixture.token->header);
    Decision d = decide(req.path);
    const auto latency = d.latency;
    return {latency, [this, req = std::move(req), rec = std::move(rec), d = std::move(d)]() mutable {
              return respond(req, std::move(rec), d);
            }};
  }

  /// After the latency: the answer, recorded before the client can see it.
  HttpResponse respond(const HttpRequest& req, RecordedRequest rec, const Decision& d) {
    HttpResponse res;
    // A latency fault never decides the answer, so `latency` here means "answer normally".
    const Fault::Kind kind = d.fault ? d.fault->kind : Fault::Kind::latency;
    if (kind == Fault::Kind::status) {
      res.status = d.fault->status;
      if (!d.fault->retry_after.empty()) res.headers.emplace_back("Retry-After", d.fault->retry_after);
    } else if (kind == Fault::Kind::close_connection) {
      res.ending = HttpResponse::Ending::no_answer;
    } else {
      const std::optional<std::string> override_body =
          kind == Fault::Kind::override_body ? std::optional(d.fault->body) : std::nullopt;
      Answer a = answer(req, override_body);
      res.status = a.status;
      if (kind == Fault::Kind::truncate_body && req.method != "HEAD") {
        // With an empty body there is nothing to cut in half: the closest thing is a
        // connection closed without answer.
        res.ending = a.body.empty() ? HttpResponse::Ending::no_answer
                                    : HttpResponse::Ending::truncated;
      }
      if (!a.body.empty() || a.status == 200) {
        res.headers.emplace_back("Content-Type", content_type_for(a.body));
        res.body = std::move(a.body);
      }
    }
    rec.status = res.ending == HttpResponse::Ending::no_answer ? 0 : res.status;
    record(std::move(rec));
    return res;
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
  auto server =
      std::make_unique<HttpServer>([&s](HttpRequest&& req) { return s.arrive(std::move(req)); });
  const int bound = server->start(host, port);
  s.host = host;
  s.port = bound;
  s.server = std::move(server);
  return bound;
}

void MockImds::stop() {
  Impl& s = *impl_;
  if (!s.server) return;
  s.server->stop();  // answers the requests still waiting for their latency
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
