#pragma once
/// HTTP behind an interface: the real client uses libcurl's multi interface (keep-alive, bounded
/// parallelism, per-request timeout, retries with backoff); tests use a recording fake.

#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace nicsync {

enum class HttpMethod { get, put };

struct HttpRequest {
  HttpMethod method = HttpMethod::get;
  std::string url;
  std::vector<std::pair<std::string, std::string>> headers;
};

struct HttpResponse {
  long status = 0;            ///< 0 when no response arrived (see transport_error)
  std::string body;
  std::string transport_error;  ///< curl's reason when status == 0 ("Connection refused", ...)
  std::string retry_after;      ///< the Retry-After header, if any
};

struct HttpOptions {
  long connect_timeout_ms = 1000;
  long request_timeout_ms = 2000;  ///< whole request, per attempt
  int attempts = 3;                ///< tries per request for timeouts, transport errors, 5xx and 429
  long backoff_ms = 100;           ///< first retry delay; doubles each time
  long max_backoff_ms = 1000;
  int max_in_flight = 16;          ///< requests on the wire at once
  size_t max_body_bytes = 1 << 20; ///< larger bodies fail the request
};

class HttpClient {
 public:
  virtual ~HttpClient() = default;
  /// Performs every request (in parallel where the client can) and returns one response per
  /// request, in the same order. Retries are the client's business; a response is final.
  virtual std::vector<HttpResponse> perform(const std::vector<HttpRequest>& requests) = 0;
};

/// The libcurl implementation. Never uses a proxy for the metadata address.
std::unique_ptr<HttpClient> make_curl_http_client(const HttpOptions& options);

}  // namespace nicsync
