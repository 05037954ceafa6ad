#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "nicsync/http.hpp"

namespace nicsync {

std::string_view http_method_name(HttpMethod method) {
  switch (method) {
    case HttpMethod::get:
      return "GET";
    case HttpMethod::put:
      return "PUT";
    case HttpMethod::post:
      return "POST";
  }
  return "GET";
}

std::string HttpResponse::header(std::string_view name) const {
  for (const auto& [key, value] : headers) {
    if (key == name) return value;
  }
  return "";
}

namespace {

bool is_plain_http(std::string_view url) {
  constexpr std::string_view scheme = "http://";
  if (url.size() < scheme.size()) return false;
  for (size_t i = 0; i < scheme.size(); ++i) {
    char c = url[i];
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    if (c != scheme[i]) return false;
  }
  return true;
}

/// Sends http:// requests through the plain client and the rest through libcurl, which is only
/// loaded when the first such request comes.
class HttpClientByScheme final : public HttpClient {
 public:
  explicit HttpClientByScheme(const HttpOptions& options)
      : options_(options), plain_(make_plain_http_client(options)) {}

  std::vector<HttpResponse> perform(const std::vector<HttpRequest>& requests) override {
    std::vector<HttpRequest> plain, other;
    std::vector<bool> is_plain;
    for (const HttpRequest& request : requests) {
      is_plain.push_back(is_plain_http(request.url));
      (is_plain.back() ? plain : other).push_back(request);
    }
    std::vector<HttpResponse> plain_responses, other_responses;
    if (!plain.empty()) plain_responses = plain_->perform(plain);
    if (!other.empty()) {
      if (!curl_) curl_ = make_curl_http_client(options_);
      other_responses = curl_->perform(other);
    }
    std::vector<HttpResponse> responses;
    responses.reserve(requests.size());
    size_t p = 0, o = 0;
    for (bool plain_one : is_plain) {
      responses.push_back(std::move(plain_one ? plain_responses.at(p++) : other_responses.at(o++)));
    }
    return responses;
  }

  void prepare(const std::string& url, size_t requests) override {
    if (is_plain_http(url)) plain_->prepare(url, requests);
  }

 private:
  HttpOptions options_;
  std::unique_ptr<HttpClient> plain_;
  std::unique_ptr<HttpClient> curl_;
};

}  // namespace

std::unique_ptr<HttpClient> make_http_client(const HttpOptions& options) {
  return std::make_unique<HttpClientByScheme>(options);
}

}  // namespace nicsync
