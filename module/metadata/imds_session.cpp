#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "nicsync/provider.hpp"

namespace nicsync {

namespace {

constexpr const char* kTokenTtlSeconds = "21600";

/// Keeps an untrusted one-line reason one line.
std::string one_line(std::string_view text) {
  std::string out;
  for (char c : text) out += (c == '\n' || c == '\r') ? ' ' : c;
  return out;
}

/// "HTTP 500", or the transport reason and the URL when nothing answered.
std::string describe_failure(const HttpResponse& response, const std::string& url) {
  if (response.status != 0) return "HTTP " + std::to_string(response.status);
  std::string reason = response.transport_error.empty() ? "no response" : one_line(response.transport_error);
  return reason + " (" + url + ")";
}

/// A token is sent back as a header value, so it must be one printable line.
bool is_valid_token(std::string_view token) {
  if (token.empty() || token.size() > 4096) return false;
  for (char c : token) {
    if (c < 0x21 || c > 0x7e) return false;
  }
  return true;
}

std::string_view trim_line_end(std::string_view text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r' || text.back() == ' ')) {
    text.remove_suffix(1);
  }
  return text;
}

}  // namespace

ImdsSession::ImdsSession(HttpClient& http, ImdsProtocol protocol, std::string vendor_label)
    : http_(http), protocol_(std::move(protocol)), label_(std::move(vendor_label)) {
  std::string& base = protocol_.base_url;
  while (!base.empty() && base.back() == '/') base.pop_back();
}

Result<void> ImdsSession::acquire_token(size_t next_batch) {
  token_tried_ = true;
  token_.reset();
  if (protocol_.token_path.empty()) return {};

  HttpRequest request;
  request.method = HttpMethod::put;
  request.url = protocol_.base_url + protocol_.token_path;
  request.headers = protocol_.static_headers;
  request.headers.emplace_back(protocol_.token_ttl_header, kTokenTtlSeconds);
  ++requests_made_;
  // The batch that waits for this token: its connections open while the token is on its way.
  if (next_batch > 0) http_.prepare(protocol_.base_url + "/", next_batch);
  std::vector<HttpResponse> responses = http_.perform({request});
  const HttpResponse& response = responses.at(0);

  std::string where = label_ + ": PUT " + protocol_.token_path + ": ";
  if (response.status == 200) {
    std::string_view token = trim_line_end(response.body);
    if (is_valid_token(token)) {
      token_ = std::string(token);
      return {};
    }
    if (protocol_.token_required) return Error{where + "the token is not one printable line"};
    return {};
  }
  // A 403 means the service knows tokens and refused this PUT (a hardened instance refusing,
  // a proxy header present): going on without a token would only hide why.
  if (protocol_.token_required || response.status == 403) {
    std::string hint;
    bool no_tokens = response.status == 404 || response.status == 405;
    if (protocol_.token_required && no_tokens && !protocol_.no_token_hint.empty()) {
      hint = "; " + protocol_.no_token_hint;
    }
    return Error{where + describe_failure(response, request.url) + hint};
  }
  // Not required: the service may not know tokens (404/405) or be unreachable for the PUT
  // only; carry on without one and let the GETs tell.
  return {};
}

Result<std::vector<HttpResponse>> ImdsSession::fetch(const std::vector<std::string>& paths) {
  if (!token_tried_) NICSYNC_TRY(acquire_token(paths.size()));

  auto request_for = [&](const std::string& path) {
    HttpRequest request;
    request.url = protocol_.base_url + path;
    request.headers = protocol_.static_headers;
    if (token_) request.headers.emplace_back(protocol_.token_header, *token_);
    return request;
  };

  std::vector<HttpRequest> requests;
  requests.reserve(paths.size());
  for (const std::string& path : paths) requests.push_back(request_for(path));
  requests_made_ += static_cast<int>(requests.size());
  std::vector<HttpResponse> responses = http_.perform(requests);

  // A 401 means the token expired or was revoked: get a new one once and repeat those requests.
  std::vector<size_t> unauthorised;
  for (size_t i = 0; i < responses.size(); ++i) {
    if (responses[i].status == 401) unauthorised.push_back(i);
  }
  if (!unauthorised.empty() && !protocol_.token_path.empty()) {
    NICSYNC_TRY(acquire_token());
    std::vector<HttpRequest> repeats;
    for (size_t i : unauthorised) repeats.push_back(request_for(paths[i]));
    requests_made_ += static_cast<int>(repeats.size());
    std::vector<HttpResponse> repeated = http_.perform(repeats);
    for (size_t k = 0; k < unauthorised.size(); ++k) responses[unauthorised[k]] = std::move(repeated.at(k));
  }
  return responses;
}

Error ImdsSession::failure(const std::string& path, const HttpResponse& response) const {
  return Error{label_ + ": GET " + path + ": " + describe_failure(response, protocol_.base_url + path)};
}

Result<std::vector<std::optional<std::string>>> ImdsSession::get(const std::vector<std::string>& paths,
                                                                 const std::vector<bool>& optional) {
  NICSYNC_TRY_ASSIGN(auto each, get_each(paths, optional));
  std::vector<std::optional<std::string>> bodies;
  bodies.reserve(each.size());
  for (Result<std::optional<std::string>>& body : each) {
    if (!body.ok()) return body.error();
    bodies.push_back(std::move(body).value());
  }
  return bodies;
}

Result<std::vector<Result<std::optional<std::string>>>> ImdsSession::get_each(const std::vector<std::string>& paths,
                                                                            const std::vector<bool>& optional) {
  std::vector<Result<std::optional<std::string>>> out;
  if (paths.empty()) return out;
  NICSYNC_TRY_ASSIGN(std::vector<HttpResponse> responses, fetch(paths));
  out.reserve(paths.size());
  for (size_t i = 0; i < paths.size(); ++i) {
    HttpResponse& response = responses.at(i);
    bool is_optional = i < optional.size() && optional[i];
    if (response.status == 200) {
      out.emplace_back(std::optional<std::string>(std::move(response.body)));
    } else if (response.status == 404 && is_optional) {
      out.emplace_back(std::optional<std::string>());
    } else {
      out.emplace_back(failure(paths[i], response));
    }
  }
  return out;
}

}  // namespace nicsync
