#pragma once
/// A small HTTP/1.1 server for the mocks: one thread around epoll, non-blocking sockets,
/// keep-alive and pipelining (answers in request order), Content-Length and chunked request
/// bodies. A handler may defer its answer: the wait is a timer of the event loop, not a
/// sleeping thread, so delayed answers cost no CPU while they wait.
/// Its answers are laid out byte for byte like those of cpp-httplib 0.11, which served the
/// mock before: headers sorted by name, "Keep-Alive: timeout=5, max=1000000" or
/// "Connection: close", "Content-Length: 0" on empty answers.

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace nicsync::mock {

using HttpFields = std::vector<std::pair<std::string, std::string>>;

/// One request as received.
struct HttpRequest {
  std::string method;
  std::string target;   ///< as sent: path and query
  std::string path;     ///< `target` up to any '?', percent-decoded
  std::string version;  ///< "HTTP/1.1" or "HTTP/1.0"
  HttpFields headers;   ///< in arrival order, names as sent, values trimmed
  HttpFields params;    ///< the query's name=value pairs, percent-decoded ('+': space)
  std::string body;     ///< after chunked decoding, if any
  int remote_port = 0;

  /// The first value of header `name` (case-insensitive), or nullptr.
  const std::string* header(std::string_view name) const;
  bool has_header(std::string_view name) const { return header(name) != nullptr; }
  /// The first value of query parameter `name`, or nullptr.
  const std::string* param(std::string_view name) const;
};

/// An answer. Content-Length, Connection and Keep-Alive are added by the server.
struct HttpResponse {
  enum class Ending {
    complete,     ///< send it all
    truncated,    ///< send the headers with the full Content-Length, half the body, then close
    no_answer,    ///< close the connection without sending anything
  };
  int status = 200;
  HttpFields headers;
  std::string body;  ///< not sent in answer to HEAD, but its length is
  Ending ending = Ending::complete;
};

/// A handler's decision for one request: `respond` is called after `delay` (at once if zero,
/// early when the server stops) and gives the answer.
struct DeferredResponse {
  std::chrono::nanoseconds delay{0};
  std::function<HttpResponse()> respond;
};

/// Called on the server thread for each complete request, in order per connection: the next
/// request of a connection is read only once the previous one is answered.
using HttpHandler = std::function<DeferredResponse(HttpRequest&&)>;

/// The reason phrase cpp-httplib 0.11 sends with `status` ("Internal Server Error" for codes
/// it does not know).
std::string_view http_reason(int status);

/// Serialises the status line and headers (sorted by name, case-insensitively) of `response`
/// with a body of `content_length` bytes, as cpp-httplib 0.11 does.
std::string http_head(const HttpResponse& response, std::size_t content_length, bool close);

/// Parses the request at the start of `data`. Returns the number of bytes it took, 0 if more
/// bytes are needed, or -status (400, 413, 414) if it is malformed; fills `request` (but not
/// remote_port) when complete and, after the headers, sets `headers_done`.
long parse_http_request(std::string_view data, HttpRequest& request, bool& headers_done);

class HttpServer {
 public:
  explicit HttpServer(HttpHandler handler);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  /// Listens on host:port (port 0: any free port) and serves from a background thread; returns
  /// the port. Throws std::runtime_error if it cannot listen.
  int start(const std::string& host, int port);
  /// Stops accepting, answers the deferred requests at once, closes every connection and
  /// joins the thread. Does nothing if not started.
  void stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace nicsync::mock
