#pragma once
/// HTTP behind an interface. Two real clients with the same behaviour (keep-alive, bounded
/// parallelism, per-request timeout, retries with backoff): nicsync's own for plain http:// (the
/// metadata services; cheap to start) and libcurl's multi interface for https:// (the OCI API;
/// libcurl is loaded on first use). Tests use a recording fake.

#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace nicsync {

enum class HttpMethod { get, put, post };

/// "GET", "PUT" or "POST".
std::string_view http_method_name(HttpMethod method);

struct HttpRequest {
  HttpMethod method = HttpMethod::get;
  std::string url;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body{};  ///< sent with POST; GET and PUT (the token request) carry none
};

struct HttpResponse {
  long status = 0;            ///< 0 when no response arrived (see transport_error)
  std::string body;
  std::string transport_error;  ///< curl's reason when status == 0 ("Connection refused", ...)
  std::string retry_after;      ///< the Retry-After header, if any
  /// Every header of the final response, names in lower case, values trimmed, in order.
  std::vector<std::pair<std::string, std::string>> headers{};

  /// The value of header `name` (lower case), or "" when the response has none.
  std::string header(std::string_view name) const;
};

struct HttpOptions {
  long connect_timeout_ms = 1000;
  long request_timeout_ms = 2000;  ///< whole request, per attempt
  int attempts = 3;                ///< tries per request for timeouts, transport errors, 5xx and 429
  long backoff_ms = 100;           ///< first retry delay; doubles each time
  long max_backoff_ms = 1000;
  int max_in_flight = 40;          ///< requests on the wire at once, at most (a batch: its fewest waves')
  size_t max_body_bytes = 1 << 20; ///< larger bodies fail the request
  /// PEM file of the CAs that HTTPS servers must chain to; empty: the system's default store.
  std::string ca_bundle{};
};

class HttpClient {
 public:
  virtual ~HttpClient() = default;
  /// Performs every request (in parallel where the client can) and returns one response per
  /// request, in the same order. Retries are the client's business; a response is final.
  virtual std::vector<HttpResponse> perform(const std::vector<HttpRequest>& requests) = 0;
  /// Says that a batch of `requests` requests to the server of `url` comes after the next
  /// perform() (an IMDS session's first batch after its token). The plain client opens the
  /// connections that batch will use while the next perform() waits for its answers; the
  /// others ignore it. Only the next perform() acts on it.
  virtual void prepare(const std::string& url, size_t requests) {
    (void)url;
    (void)requests;
  }
};

/// The client nicsync uses: http:// URLs through make_plain_http_client(), any other through
/// make_curl_http_client(), created on the first such request. Neither uses a proxy (the proxy
/// environment variables are ignored): the metadata address is link-local, and at boot no proxy
/// is configured yet.
std::unique_ptr<HttpClient> make_http_client(const HttpOptions& options);

/// HTTP/1.1 over plain sockets and poll(2), http:// only (other URLs fail, not retried).
std::unique_ptr<HttpClient> make_plain_http_client(const HttpOptions& options);

/// The libcurl implementation (HTTPS with options.ca_bundle). libcurl.so.4 is loaded with dlopen()
/// when the client is created; when it cannot be, every request fails with the loader's reason.
std::unique_ptr<HttpClient> make_curl_http_client(const HttpOptions& options);

}  // namespace nicsync
