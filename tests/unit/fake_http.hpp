#pragma once
/// An in-memory HttpClient for unit tests: answers from a table of (method, url) -> response
/// or callback, 404 for anything else, and records every request it was given.

#include <functional>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "nicsync/http.hpp"

namespace nicsync::testing {

class FakeHttpClient : public HttpClient {
 public:
  using Handler = std::function<HttpResponse(const HttpRequest&)>;

  /// Answers `method url` with `response` from now on.
  void set(HttpMethod method, const std::string& url, HttpResponse response) {
    handlers_[{method, url}] = [response = std::move(response)](const HttpRequest&) { return response; };
  }
  /// Answers `method url` with status 200 and `body`.
  void set_body(HttpMethod method, const std::string& url, std::string body) {
    HttpResponse response;
    response.status = 200;
    response.body = std::move(body);
    set(method, url, std::move(response));
  }
  /// Answers `method url` by calling `handler` (it sees the request, headers included).
  void on(HttpMethod method, const std::string& url, Handler handler) { handlers_[{method, url}] = std::move(handler); }
  /// Answers every request that has no entry of its own (instead of 404).
  void on_any(Handler handler) { fallback_ = std::move(handler); }
  void remove(HttpMethod method, const std::string& url) { handlers_.erase({method, url}); }
  /// What answers `method url` now (set(), set_body() or on()), to wrap it; must exist.
  Handler handler(HttpMethod method, const std::string& url) const { return handlers_.at({method, url}); }

  std::vector<HttpResponse> perform(const std::vector<HttpRequest>& batch) override {
    batch_sizes.push_back(batch.size());
    std::vector<HttpResponse> responses;
    for (const HttpRequest& request : batch) {
      requests.push_back(request);
      auto it = handlers_.find({request.method, request.url});
      if (it != handlers_.end()) {
        responses.push_back(it->second(request));
      } else if (fallback_) {
        responses.push_back(fallback_(request));
      } else {
        HttpResponse not_found;
        not_found.status = 404;
        responses.push_back(not_found);
      }
    }
    return responses;
  }

  void prepare(const std::string& url, size_t count) override { prepared.emplace_back(url, count); }

  /// Every request, in the order perform() was given them.
  std::vector<HttpRequest> requests;
  /// Every prepare() call: (url, requests).
  std::vector<std::pair<std::string, size_t>> prepared;
  /// How many requests each perform() call carried (one entry per round trip).
  std::vector<size_t> batch_sizes;

 private:
  std::map<std::pair<HttpMethod, std::string>, Handler> handlers_;
  Handler fallback_;
};

/// The value of header `name` in `request` (exact name match), or "" when absent.
inline std::string header_value(const HttpRequest& request, const std::string& name) {
  for (const auto& [key, value] : request.headers) {
    if (key == name) return value;
  }
  return "";
}

/// Makes `fake` answer like the metadata service of a fixture (tests/fixtures/README.md): the
/// token PUT (which must carry the TTL header), a GET of every `responses` path, and 401 for a
/// GET without the right token (when required) or without a `require_headers` header. Path
/// aliases and the OCI API are not served. URLs are `base_url` + path; empty: imds.endpoint.
inline void serve_fixture(FakeHttpClient& fake, const nlohmann::json& fixture, std::string base_url = "") {
  const nlohmann::json& imds = fixture.at("imds");
  if (base_url.empty()) base_url = imds.at("endpoint").get<std::string>();
  std::map<std::string, std::string> required;
  if (imds.contains("require_headers")) required = imds.at("require_headers").get<std::map<std::string, std::string>>();
  std::string token_header;
  std::string token_value;
  bool token_required = false;
  if (imds.contains("token") && !imds.at("token").is_null()) {
    const nlohmann::json& token = imds.at("token");
    token_header = token.at("header").get<std::string>();
    token_value = token.at("value").get<std::string>();
    token_required = token.at("required").get<bool>();
    std::string ttl_header = token.at("ttl_header").get<std::string>();
    fake.on(HttpMethod::put, base_url + token.at("path").get<std::string>(),
            [ttl_header, token_value](const HttpRequest& request) {
              HttpResponse response;
              response.status = header_value(request, ttl_header).empty() ? 400 : 200;
              if (response.status == 200) response.body = token_value;
              return response;
            });
  }
  for (const auto& [path, body] : imds.at("responses").items()) {
    fake.on(HttpMethod::get, base_url + path,
            [=, body = body.get<std::string>()](const HttpRequest& request) {
              HttpResponse response;
              std::string sent = token_header.empty() ? "" : header_value(request, token_header);
              bool authorised = sent.empty() ? !token_required : sent == token_value;
              for (const auto& [name, value] : required) authorised = authorised && header_value(request, name) == value;
              response.status = authorised ? 200 : 401;
              if (authorised) response.body = body;
              return response;
            });
  }
}

}  // namespace nicsync::testing
