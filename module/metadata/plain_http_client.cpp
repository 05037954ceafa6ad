// HttpClient for plain http:// — the metadata services, which are link-local HTTP/1.1 servers.
// nicsync's own small client rather than libcurl because of what libcurl costs on the boot path:
// loading it and its dependency tree (TLS, Kerberos, LDAP, SSH, RTMP, ...) takes ≈ 7.5 ms and
// ≈ 6 MB of resident memory per process start, more than the whole fetch of a 15-NIC instance
// (tests/bench/HISTORY.md, first round). HTTPS (the OCI API) still goes through libcurl, loaded
// on first use.
//
// The behaviour matches the libcurl client (curl_http_client.cpp), so the same unit tests run on
// both: HTTP/1.1 keep-alive connections kept across perform() calls, at most max_in_flight
// requests on the wire (only as many as the fewest waves need), a connect timeout and a
// whole-request timeout per attempt, retries of transport errors, 5xx and 429 with backoff
// (Retry-After honoured up to the cap), scheduled by time in one poll(2) loop so a waiting retry
// never holds up the other requests, bodies capped at max_body_bytes. No proxy is ever used.
// Bodies may be Content-Length, chunked, or end with the connection. Its own addition:
// prepare() has the connections of an announced batch opened while the request before it
// (an IMDS token PUT) waits for its answer.

#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <variant>
#include <vector>

#include "metadata/http_retry.hpp"
#include "nicsync/http.hpp"

namespace nicsync {

namespace {

using Clock = std::chrono::steady_clock;

constexpr size_t kMaxHeaderBytes = 64 * 1024;  ///< a status line and headers larger than this are refused


std::string lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

bool starts_with_no_case(std::string_view text, std::string_view prefix) {
  return text.size() >= prefix.size() && lower(text.substr(0, prefix.size())) == prefix;
}


// ---- URLs ----

struct HttpUrl {
  std::string host;         ///< without brackets
  std::string port;         ///< digits
  std::string target;       ///< path and query, starting with "/"
  std::string host_header;  ///< the Host header's value
  std::string endpoint() const { return host + "|" + port; }
};

/// http://HOST[:PORT][/PATH]; no user info, no fragment, no whitespace or control characters.
std::optional<HttpUrl> parse_http_url(std::string_view url, std::string& why) {
  for (char c : url) {
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f) {
      why = "the URL contains a space or control character";
      return std::nullopt;
    }
  }
  if (!starts_with_no_case(url, "http://")) {
    why = "not an http:// URL";
    return std::nullopt;
  }
  std::string_view rest = url.substr(7);
  size_t end = rest.find_first_of("/?#");
  std::string_view authority = rest.substr(0, end);
  std::string_view target = end == std::string_view::npos ? std::string_view() : rest.substr(end);
  if (authority.find('@') != std::string_view::npos || target.find('#') != std::string_view::npos) {
    why = "user names and fragments are not supported in the URL";
    return std::nullopt;
  }
  HttpUrl out;
  std::string_view port;
  if (!authority.empty() && authority.front() == '[') {
    size_t close = authority.find(']');
    if (close == std::string_view::npos) {
      why = "the URL's IPv6 address has no \"]\"";
      return std::nullopt;
    }
    out.host = std::string(authority.substr(1, close - 1));
    std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') {
        why = "junk after the URL's IPv6 address";
        return std::nullopt;
      }
      port = after.substr(1);
    }
  } else {
    size_t colon = authority.rfind(':');
    out.host = std::string(authority.substr(0, colon));
    if (colon != std::string_view::npos) port = authority.substr(colon + 1);
  }
  if (out.host.empty()) {
    why = "the URL has no host";
    return std::nullopt;
  }
  long number = 0;
  for (char c : port) {
    if (c < '0' || c > '9' || number > 65535) {
      why = "the URL's port is not a number from 1 to 65535";
      return std::nullopt;
    }
    number = number * 10 + (c - '0');
  }
  if (!port.empty() && (number < 1 || number > 65535)) {
    why = "the URL's port is not a number from 1 to 65535";
    return std::nullopt;
  }
  out.port = port.empty() ? "80" : std::to_string(number);
  out.target = target.empty() ? "/" : (target.front() == '?' ? "/" + std::string(target) : std::string(target));
  out.host_header = std::string(authority);
  return out;
}

// ---- connections ----

/// An open socket, closed on destruction.
class Socket {
 public:
  Socket() = default;
  explicit Socket(int fd) : fd_(fd) {}
  Socket(Socket&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  Socket& operator=(Socket&& other) noexcept {
    if (this != &other) {
      reset();
      fd_ = std::exchange(other.fd_, -1);
    }
    return *this;
  }
  Socket(const Socket&) = delete;
  Socket& operator=(const Socket&) = delete;
  ~Socket() { reset(); }
  int fd() const { return fd_; }
  explicit operator bool() const { return fd_ >= 0; }
  void reset() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  int fd_ = -1;
};

/// How a non-blocking connect ended, once poll() reported `revents` for it: 0 when it connected,
/// else the error; nullopt while it is still under way.
std::optional<int> connect_outcome(const Socket& socket, short revents) {
  if ((revents & (POLLOUT | POLLERR | POLLHUP)) == 0) return std::nullopt;
  int error = 0;
  socklen_t size = sizeof error;
  if (::getsockopt(socket.fd(), SOL_SOCKET, SO_ERROR, &error, &size) != 0) error = errno;
  return error;
}

/// True when an idle kept-alive connection still looks usable: nothing to read (no EOF, no
/// stray bytes) and no error pending.
bool idle_connection_alive(const Socket& socket) {
  pollfd p{socket.fd(), POLLIN, 0};
  int ready = ::poll(&p, 1, 0);
  return ready == 0;
}

// ---- responses ----

/// Reads one HTTP/1.x response from the bytes of a connection.
class ResponseParser {
 public:
  enum class Step { more, done, failed };

  explicit ResponseParser(size_t max_body) : max_body_(max_body) {}

  /// Feeds received bytes.
  Step feed(std::string_view bytes) {
    received_ += bytes.size();
    buffer_.append(bytes);
    return advance();
  }

  /// The connection ended (EOF): completes a body that runs to the end, or fails.
  Step end_of_stream() {
    eof_ = true;
    return advance();
  }

  const HttpResponse& response() const { return response_; }
  HttpResponse take_response() { return std::move(response_); }
  const std::string& error() const { return error_; }
  bool too_large() const { return too_large_; }
  size_t received() const { return received_; }
  /// Whether the connection may carry the next request.
  bool reusable() const { return keep_alive_ && framing_ != Framing::until_close && buffer_.empty(); }

 private:
  enum class Framing { none, length, chunked, until_close };
  enum class Stage { head, body, chunk_size, chunk_data, chunk_end, trailers, done };

  Step fail(std::string why) {
    error_ = std::move(why);
    return Step::failed;
  }

  Step advance() {
    while (true) {
      switch (stage_) {
        case Stage::head: {
          size_t end = buffer_.find("\r\n\r\n");
          if (end == std::string::npos) {
            if (buffer_.size() > kMaxHeaderBytes) return fail("response headers larger than 65536 bytes");
            if (!eof_) return Step::more;
            if (received_ == 0) return fail("Empty reply from server");
            return fail("connection closed in the middle of the response headers");
          }
          std::string head = buffer_.substr(0, end);
          buffer_.erase(0, end + 4);
          Step step = read_head(head);
          if (step != Step::more) return step;
          break;
        }
        case Stage::body: {
          if (framing_ == Framing::length) {
            size_t take = std::min(buffer_.size(), remaining_);
            if (!append_body(std::string_view(buffer_).substr(0, take))) return Step::failed;
            buffer_.erase(0, take);
            remaining_ -= take;
            if (remaining_ == 0) {
              stage_ = Stage::done;
              break;
            }
            if (eof_) return fail("transfer closed with " + std::to_string(remaining_) + " bytes remaining to read");
            return Step::more;
          }
          // until_close
          if (!append_body(buffer_)) return Step::failed;
          buffer_.clear();
          if (!eof_) return Step::more;
          stage_ = Stage::done;
          break;
        }
        case Stage::chunk_size: {
          size_t end = buffer_.find("\r\n");
          if (end == std::string::npos) {
            if (buffer_.size() > 1024) return fail("malformed chunked body: a chunk size line over 1024 bytes");
            if (eof_) return fail("transfer closed in the middle of a chunked body");
            return Step::more;
          }
          std::string_view line = http::trim(std::string_view(buffer_).substr(0, end));
          line = line.substr(0, line.find(';'));  // chunk extensions are ignored
          line = http::trim(line);
          size_t size = 0;
          if (line.empty() || line.size() > 8) return fail("malformed chunked body: bad chunk size");
          for (char c : line) {
            int digit = (c >= '0' && c <= '9') ? c - '0'
                        : (c >= 'a' && c <= 'f') ? c - 'a' + 10
                        : (c >= 'A' && c <= 'F') ? c - 'A' + 10 : -1;
            if (digit < 0) return fail("malformed chunked body: bad chunk size");
            size = size * 16 + static_cast<size_t>(digit);
          }
          buffer_.erase(0, end + 2);
          remaining_ = size;
          stage_ = size == 0 ? Stage::trailers : Stage::chunk_data;
          break;
        }
        case Stage::chunk_data: {
          size_t take = std::min(buffer_.size(), remaining_);
          if (!append_body(std::string_view(buffer_).substr(0, take))) return Step::failed;
          buffer_.erase(0, take);
          remaining_ -= take;
          if (remaining_ != 0) {
            if (eof_) return fail("transfer closed in the middle of a chunked body");
            return Step::more;
          }
          stage_ = Stage::chunk_end;
          break;
        }
        case Stage::chunk_end: {
          if (buffer_.size() < 2) {
            if (eof_) return fail("transfer closed in the middle of a chunked body");
            return Step::more;
          }
          if (buffer_.compare(0, 2, "\r\n") != 0) return fail("malformed chunked body: no line end after a chunk");
          buffer_.erase(0, 2);
          stage_ = Stage::chunk_size;
          break;
        }
        case Stage::trailers: {
          size_t end = buffer_.find("\r\n");
          if (end == std::string::npos) {
            if (buffer_.size() > kMaxHeaderBytes) return fail("malformed chunked body: trailers too large");
            if (eof_) return fail("transfer closed in the middle of a chunked body");
            return Step::more;
          }
          buffer_.erase(0, end + 2);
          if (end == 0) stage_ = Stage::done;  // the empty line after the (ignored) trailers
          break;
        }
        case Stage::done:
          return Step::done;
      }
    }
  }

  bool append_body(std::string_view bytes) {
    if (response_.body.size() + bytes.size() > max_body_) {
      too_large_ = true;
      error_ = "response larger than " + std::to_string(max_body_) + " bytes";
      return false;
    }
    response_.body.append(bytes);
    return true;
  }

  /// The status line and headers (without the blank line).
  Step read_head(std::string_view head) {
    size_t line_end = head.find("\r\n");
    std::string_view status_line = head.substr(0, line_end);
    // "HTTP/1.1 200 OK": the version, a space, three digits, then a space or the end.
    if (status_line.size() < 12 || status_line.substr(0, 7) != "HTTP/1." || status_line[8] != ' ' ||
        (status_line.size() > 12 && status_line[12] != ' ')) {
      return fail("malformed HTTP response: the status line is not \"HTTP/1.x NNN ...\"");
    }
    long status = 0;
    for (char c : status_line.substr(9, 3)) {
      if (c < '0' || c > '9') return fail("malformed HTTP response: the status code is not a number");
      status = status * 10 + (c - '0');
    }
    if (status < 100) return fail("malformed HTTP response: status " + std::to_string(status));
    bool http10 = status_line[7] == '0';
    keep_alive_ = !http10;

    std::vector<std::pair<std::string, std::string>> headers;
    std::optional<size_t> content_length;
    bool chunked = false;
    std::string_view rest = line_end == std::string_view::npos ? std::string_view() : head.substr(line_end + 2);
    while (!rest.empty()) {
      size_t end = rest.find("\r\n");
      std::string_view line = rest.substr(0, end);
      rest = end == std::string_view::npos ? std::string_view() : rest.substr(end + 2);
      size_t colon = line.find(':');
      if (colon == std::string_view::npos || colon == 0) {
        return fail("malformed HTTP response: a header line without a name");
      }
      std::string name = lower(line.substr(0, colon));
      std::string value(http::trim(line.substr(colon + 1)));
      if (name == "content-length") {
        size_t length = 0;
        if (value.empty() || value.size() > 12) return fail("malformed HTTP response: bad Content-Length");
        for (char c : value) {
          if (c < '0' || c > '9') return fail("malformed HTTP response: bad Content-Length");
          length = length * 10 + static_cast<size_t>(c - '0');
        }
        if (content_length && *content_length != length) {
          return fail("malformed HTTP response: two different Content-Length headers");
        }
        content_length = length;
      } else if (name == "transfer-encoding") {
        chunked = lower(value).find("chunked") != std::string::npos;
      } else if (name == "connection") {
        std::string tokens = lower(value);
        if (tokens.find("close") != std::string::npos) keep_alive_ = false;
        if (http10 && tokens.find("keep-alive") != std::string::npos) keep_alive_ = true;
      }
      headers.emplace_back(std::move(name), std::move(value));
    }

    if (status < 200) {  // an interim answer ("100 Continue"): the real one follows
      return Step::more;
    }
    response_.status = status;
    response_.headers = std::move(headers);
    response_.retry_after = response_.header("retry-after");
    if (status == 204 || status == 304) {
      framing_ = Framing::none;
      stage_ = Stage::done;
    } else if (chunked) {
      framing_ = Framing::chunked;
      stage_ = Stage::chunk_size;
    } else if (content_length) {
      if (*content_length > max_body_) {
        too_large_ = true;
        return fail("response larger than " + std::to_string(max_body_) + " bytes");
      }
      framing_ = Framing::length;
      remaining_ = *content_length;
      stage_ = remaining_ == 0 ? Stage::done : Stage::body;
    } else {
      framing_ = Framing::until_close;
      keep_alive_ = false;
      stage_ = Stage::body;
    }
    return Step::more;  // the caller's loop goes on with the body
  }

  size_t max_body_;
  std::string buffer_;
  size_t received_ = 0;
  bool eof_ = false;
  Stage stage_ = Stage::head;
  Framing framing_ = Framing::none;
  size_t remaining_ = 0;
  bool keep_alive_ = true;
  bool too_large_ = false;
  std::string error_;
  HttpResponse response_;
};

// ---- the client ----

struct Finished {
  HttpResponse response;
  bool retriable = false;  ///< a timeout, transport error, 5xx or 429
  /// A kept-alive connection the server had closed before this request: send it again on a new
  /// connection, as the same attempt.
  bool stale_connection = false;
};


/// One attempt of one request on one connection.
struct Transfer {
  enum class Phase { connecting, sending, receiving };

  size_t index = 0;
  int attempt = 1;
  std::string endpoint;
  Socket socket;
  bool reused = false;  ///< the connection came from the idle pool
  Phase phase = Phase::connecting;
  std::string request;  ///< the bytes to send
  size_t sent = 0;
  ResponseParser parser;
  Clock::time_point started;
  Clock::time_point connect_deadline;
  Clock::time_point deadline;

  explicit Transfer(size_t max_body) : parser(max_body) {}
};

class PlainHttpClient final : public HttpClient {
 public:
  explicit PlainHttpClient(const HttpOptions& options) : options_(http::sane(options)) {}

  std::vector<HttpResponse> perform(const std::vector<HttpRequest>& requests) override;
  void prepare(const std::string& url, size_t requests) override { prepared_ = Prepared{url, requests}; }

 private:
  /// A connection opened ahead of need (prepare()) that has not connected yet: it joins idle_
  /// when it does, unless a request takes it over first.
  struct Opening {
    std::string endpoint;
    Socket socket;
    Clock::time_point deadline;  ///< the connect timeout
  };
  struct Prepared {
    std::string url;
    size_t requests = 0;
  };

  /// Starts an attempt: a kept-alive connection or a new non-blocking connect. A request that
  /// cannot even start (a bad URL, an unknown host) finishes at once.
  std::variant<std::unique_ptr<Transfer>, Finished> start(const HttpRequest& request, size_t index, int attempt);
  /// Moves a transfer on after poll() said its socket is ready. Returns a result when it ended.
  std::optional<Finished> progress(Transfer& transfer, short revents);
  /// Sends a just-started transfer's request at once when its socket is writable already (a
  /// kept-alive connection; a connect that completed inside connect(), as on loopback). Returns
  /// a result when it ended (an error).
  std::optional<Finished> send_now(Transfer& transfer);
  std::optional<Finished> receive(Transfer& transfer);
  Finished transport_failure(std::string why, bool retriable = true) const;
  /// Ends a transfer: keeps its connection for the next request when the answer allows it.
  void release(Transfer& transfer, bool keep);
  /// The addresses of HOST:PORT, numeric hosts without any lookup. Empty with `why` on failure.
  const std::vector<sockaddr_storage>& resolve(const HttpUrl& url, std::string& why);
  /// A non-blocking socket connecting to `url`'s first address; nullopt with `why` on failure.
  std::optional<Socket> connect_to(const HttpUrl& url, bool& connected, std::string& why);
  /// Opens what prepare() asked for, less the connections to that server there are already
  /// (idle, opening, or carrying one of `in_flight`).
  void open_prepared(const std::vector<std::unique_ptr<Transfer>>& in_flight);
  /// Moves the opening connections on after poll(): connected ones to idle_, failed or timed
  /// out ones closed. `revents` holds one entry per opening_ connection.
  void settle_opening(const pollfd* revents, Clock::time_point now);

  HttpOptions options_;
  std::map<std::string, std::vector<Socket>> idle_;  ///< kept-alive connections by endpoint
  std::map<std::string, std::vector<sockaddr_storage>> addresses_;
  std::vector<Opening> opening_;
  std::optional<Prepared> prepared_;
};

std::string build_request(const HttpRequest& request, const HttpUrl& url, std::string& why) {
  std::string out;
  out.reserve(256 + request.body.size());
  out += http_method_name(request.method);
  out += ' ';
  out += url.target;
  out += " HTTP/1.1\r\nHost: ";
  out += url.host_header;
  out += "\r\nUser-Agent: nicsync\r\nAccept: */*\r\n";
  for (const auto& [name, value] : request.headers) {
    bool bad = name.empty();
    for (char c : name) bad = bad || c == ':' || static_cast<unsigned char>(c) <= 0x20 || c == 0x7f;
    for (char c : value) bad = bad || c == '\r' || c == '\n' || c == '\0';
    if (bad) {
      why = "request header " + std::string(name.empty() ? "(empty)" : "\"" + name.substr(0, 40) + "\"") +
            " is not one line";
      return {};
    }
    out += name;
    out += ": ";
    out += value;
    out += "\r\n";
  }
  if (request.method != HttpMethod::get) {
    out += "Content-Length: " + std::to_string(request.method == HttpMethod::post ? request.body.size() : 0) + "\r\n";
  }
  out += "\r\n";
  if (request.method == HttpMethod::post) out += request.body;
  return out;
}

const std::vector<sockaddr_storage>& PlainHttpClient::resolve(const HttpUrl& url, std::string& why) {
  auto [it, inserted] = addresses_.try_emplace(url.endpoint());
  if (!inserted && !it->second.empty()) return it->second;
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
  addrinfo* found = nullptr;
  int code = ::getaddrinfo(url.host.c_str(), url.port.c_str(), &hints, &found);
  if (code == EAI_NONAME) {  // a host name, not an address: ask the resolver
    hints.ai_flags = AI_NUMERICSERV;
    code = ::getaddrinfo(url.host.c_str(), url.port.c_str(), &hints, &found);
  }
  if (code != 0) {
    why = "Could not resolve host: " + url.host.substr(0, 255) + " (" + ::gai_strerror(code) + ")";
    return it->second;
  }
  for (addrinfo* a = found; a != nullptr; a = a->ai_next) {
    sockaddr_storage address{};
    std::copy_n(reinterpret_cast<const char*>(a->ai_addr), std::min<size_t>(a->ai_addrlen, sizeof address),
                reinterpret_cast<char*>(&address));
    it->second.push_back(address);
  }
  ::freeaddrinfo(found);
  if (it->second.empty()) why = "Could not resolve host: " + url.host.substr(0, 255);
  return it->second;
}

Finished PlainHttpClient::transport_failure(std::string why, bool retriable) const {
  Finished finished;
  finished.response.transport_error = std::move(why);
  finished.retriable = retriable;
  return finished;
}

std::variant<std::unique_ptr<Transfer>, Finished> PlainHttpClient::start(const HttpRequest& request, size_t index,
                                                                         int attempt) {
  std::string why;
  std::optional<HttpUrl> url = parse_http_url(request.url, why);
  if (!url) return transport_failure(why, false);  // trying again would not change the URL
  auto transfer = std::make_unique<Transfer>(options_.max_body_bytes);
  transfer->request = build_request(request, *url, why);
  if (!why.empty()) return transport_failure(why, false);
  transfer->index = index;
  transfer->attempt = attempt;
  transfer->endpoint = url->endpoint();
  transfer->started = Clock::now();
  transfer->connect_deadline = transfer->started + std::chrono::milliseconds(options_.connect_timeout_ms);
  transfer->deadline = transfer->started + std::chrono::milliseconds(options_.request_timeout_ms);

  // A kept-alive connection to the same server first.
  std::vector<Socket>& pool = idle_[transfer->endpoint];
  while (!pool.empty()) {
    Socket socket = std::move(pool.back());
    pool.pop_back();
    if (idle_connection_alive(socket)) {
      transfer->socket = std::move(socket);
      transfer->reused = true;
      transfer->phase = Transfer::Phase::sending;
      return transfer;
    }
  }

  // Then one prepare() opened, still connecting.
  auto opening = std::find_if(opening_.begin(), opening_.end(),
                              [&](const Opening& o) { return o.endpoint == transfer->endpoint; });
  if (opening != opening_.end()) {
    transfer->socket = std::move(opening->socket);
    transfer->connect_deadline = std::min(transfer->connect_deadline, opening->deadline);
    transfer->phase = Transfer::Phase::connecting;
    opening_.erase(opening);
    return transfer;
  }

  bool connected = false;
  std::optional<Socket> socket = connect_to(*url, connected, why);
  if (!socket) return transport_failure(why);
  transfer->socket = std::move(*socket);
  transfer->phase = connected ? Transfer::Phase::sending : Transfer::Phase::connecting;
  return transfer;
}

std::optional<Socket> PlainHttpClient::connect_to(const HttpUrl& url, bool& connected, std::string& why) {
  const std::vector<sockaddr_storage>& addresses = resolve(url, why);
  if (addresses.empty()) return std::nullopt;
  const sockaddr_storage& address = addresses.front();
  int fd = ::socket(address.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    why = std::system_category().message(errno);
    return std::nullopt;
  }
  Socket socket(fd);
  socklen_t length = address.ss_family == AF_INET6 ? sizeof(sockaddr_in6) : sizeof(sockaddr_in);
  connected = ::connect(fd, reinterpret_cast<const sockaddr*>(&address), length) == 0;
  if (!connected && errno != EINPROGRESS) {
    why = std::system_category().message(errno);
    return std::nullopt;
  }
  return socket;
}

void PlainHttpClient::open_prepared(const std::vector<std::unique_ptr<Transfer>>& in_flight) {
  if (!prepared_) return;
  const Prepared prepared = std::move(*prepared_);
  prepared_.reset();
  std::string why;
  std::optional<HttpUrl> url = parse_http_url(prepared.url, why);
  if (!url) return;  // the batch itself will say what is wrong
  const std::string endpoint = url->endpoint();
  size_t have = idle_[endpoint].size();
  have += static_cast<size_t>(std::count_if(opening_.begin(), opening_.end(),
                                            [&](const Opening& o) { return o.endpoint == endpoint; }));
  have += static_cast<size_t>(std::count_if(in_flight.begin(), in_flight.end(),
                                            [&](const auto& t) { return t->endpoint == endpoint; }));
  const Clock::time_point deadline = Clock::now() + std::chrono::milliseconds(options_.connect_timeout_ms);
  for (size_t want = http::parallelism(prepared.requests, options_.max_in_flight); have < want; ++have) {
    bool connected = false;
    std::optional<Socket> socket = connect_to(*url, connected, why);
    if (!socket) return;  // the batch will meet the same failure, and report it
    opening_.push_back(Opening{endpoint, std::move(*socket), deadline});
  }
}

void PlainHttpClient::settle_opening(const pollfd* revents, Clock::time_point now) {
  std::vector<Opening> still;
  for (size_t i = 0; i < opening_.size(); ++i) {
    Opening& opening = opening_[i];
    if (std::optional<int> error = connect_outcome(opening.socket, revents[i].revents)) {
      std::vector<Socket>& pool = idle_[opening.endpoint];
      if (*error == 0 && pool.size() < static_cast<size_t>(options_.max_in_flight)) {
        pool.push_back(std::move(opening.socket));
      }
      continue;  // a failed one is closed: a request that needs it connects again and reports
    }
    if (now < opening.deadline) still.push_back(std::move(opening));
  }
  opening_ = std::move(still);
}

std::optional<Finished> PlainHttpClient::progress(Transfer& transfer, short revents) {
  if (transfer.phase == Transfer::Phase::connecting) {
    std::optional<int> error = connect_outcome(transfer.socket, revents);
    if (!error) return std::nullopt;
    if (*error != 0) return transport_failure(std::system_category().message(*error));
    transfer.phase = Transfer::Phase::sending;
  }
  if (transfer.phase == Transfer::Phase::sending) {
    while (transfer.sent < transfer.request.size()) {
      ssize_t n = ::send(transfer.socket.fd(), transfer.request.data() + transfer.sent,
                         transfer.request.size() - transfer.sent, MSG_NOSIGNAL);
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return std::nullopt;
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        int error = errno;
        if (transfer.reused && (error == EPIPE || error == ECONNRESET)) {
          Finished stale;
          stale.stale_connection = true;
          return stale;
        }
        return transport_failure("Send failure: " + std::system_category().message(error));
      }
      transfer.sent += static_cast<size_t>(n);
    }
    transfer.phase = Transfer::Phase::receiving;
    return std::nullopt;  // poll for the answer
  }
  return receive(transfer);
}

std::optional<Finished> PlainHttpClient::send_now(Transfer& transfer) {
  if (transfer.phase == Transfer::Phase::sending) return progress(transfer, POLLOUT);
  pollfd fd{transfer.socket.fd(), POLLOUT, 0};
  if (::poll(&fd, 1, 0) <= 0 || fd.revents == 0) return std::nullopt;  // the next poll() waits for it
  return progress(transfer, fd.revents);
}

std::optional<Finished> PlainHttpClient::receive(Transfer& transfer) {
  char chunk[16384];
  while (true) {
    ssize_t n = ::recv(transfer.socket.fd(), chunk, sizeof chunk, 0);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return std::nullopt;
    if (n < 0 && errno == EINTR) continue;
    bool stale = transfer.reused && transfer.parser.received() == 0 && (n == 0 || (n < 0 && errno == ECONNRESET));
    if (stale) {
      Finished finished;
      finished.stale_connection = true;
      return finished;
    }
    if (n < 0) return transport_failure("Recv failure: " + std::system_category().message(errno));
    ResponseParser::Step step = n == 0 ? transfer.parser.end_of_stream()
                                       : transfer.parser.feed(std::string_view(chunk, static_cast<size_t>(n)));
    if (step == ResponseParser::Step::more) {
      if (n == 0) return transport_failure("connection closed before the response was complete");
      continue;
    }
    if (step == ResponseParser::Step::failed) {
      // The same answer would come again when the body is over the cap.
      return transport_failure(transfer.parser.error(), !transfer.parser.too_large());
    }
    Finished finished;
    finished.response = transfer.parser.take_response();
    finished.retriable = finished.response.status >= 500 || finished.response.status == 429;
    release(transfer, transfer.parser.reusable());
    return finished;
  }
}

void PlainHttpClient::release(Transfer& transfer, bool keep) {
  if (!keep || !transfer.socket) {
    transfer.socket.reset();
    return;
  }
  std::vector<Socket>& pool = idle_[transfer.endpoint];
  if (pool.size() < static_cast<size_t>(options_.max_in_flight)) {
    pool.push_back(std::move(transfer.socket));
  } else {
    transfer.socket.reset();
  }
}


std::vector<HttpResponse> PlainHttpClient::perform(const std::vector<HttpRequest>& requests) {
  std::vector<HttpResponse> responses(requests.size());
  std::vector<http::Scheduled> waiting;  // not yet on the wire: first tries (due now) and retries
  waiting.reserve(requests.size());
  Clock::time_point now = Clock::now();
  for (size_t i = 0; i < requests.size(); ++i) waiting.push_back({i, 1, now});
  std::vector<std::unique_ptr<Transfer>> in_flight;
  size_t done = 0;
  const size_t slots = http::parallelism(requests.size(), options_.max_in_flight);

  auto settle = [&](size_t index, int attempt, Finished finished) {
    if (finished.stale_connection) {
      waiting.push_back({index, attempt, Clock::now()});
    } else if (finished.retriable && attempt < options_.attempts) {
      auto delay = std::chrono::milliseconds(http::retry_delay_ms(options_, attempt, finished.response));
      waiting.push_back({index, attempt + 1, Clock::now() + delay});
    } else {
      responses[index] = std::move(finished.response);
      ++done;
    }
  };
  // A transfer that ended: its connection closed unless release() kept it, its result settled.
  auto end = [&](Transfer& transfer, Finished finished) {
    transfer.socket.reset();  // a no-op when release() kept it
    settle(transfer.index, transfer.attempt, std::move(finished));
  };

  std::vector<pollfd> polled;
  bool first_pass = true;
  while (done < requests.size()) {
    // Put due requests on the wire, lowest index first, up to the parallelism limit.
    now = Clock::now();
    while (in_flight.size() < slots) {
      std::optional<http::Scheduled> next = http::take_due(waiting, now);
      if (!next) break;
      const http::Scheduled due = *next;
      auto started = start(requests[due.index], due.index, due.attempt);
      if (auto* finished = std::get_if<Finished>(&started)) {
        settle(due.index, due.attempt, std::move(*finished));
        continue;
      }
      // The request goes out now if its connection can take it, not after every other start
      // of this pass: a round's first requests are on the wire (and their answers on the way)
      // while its later connections are still being opened.
      auto transfer = std::move(std::get<std::unique_ptr<Transfer>>(started));
      if (std::optional<Finished> finished = send_now(*transfer)) {
        end(*transfer, std::move(*finished));
      } else {
        in_flight.push_back(std::move(transfer));
      }
    }
    // With this batch's first requests out, the connections prepare() asked for open while
    // their answers are awaited.
    if (first_pass) open_prepared(in_flight);
    first_pass = false;
    if (done == requests.size()) break;

    // Sleep until a socket is ready, an attempt times out, or a retry falls due.
    Clock::time_point wake = now + std::chrono::seconds(1);
    if (!waiting.empty() && in_flight.size() < slots) {
      for (const http::Scheduled& s : waiting) wake = std::min(wake, s.due);
    }
    polled.clear();
    for (const auto& transfer : in_flight) {
      bool connecting = transfer->phase == Transfer::Phase::connecting;
      wake = std::min(wake, connecting ? std::min(transfer->connect_deadline, transfer->deadline) : transfer->deadline);
      short events = transfer->phase == Transfer::Phase::receiving ? POLLIN : POLLOUT;
      polled.push_back({transfer->socket.fd(), events, 0});
    }
    for (const Opening& opening : opening_) {
      wake = std::min(wake, opening.deadline);
      polled.push_back({opening.socket.fd(), POLLOUT, 0});
    }
    auto wait = std::chrono::ceil<std::chrono::milliseconds>(wake - Clock::now()).count();
    int ready = ::poll(polled.data(), polled.size(), static_cast<int>(std::clamp<long long>(wait, 0, 1000)));
    if (ready < 0 && errno != EINTR) {
      std::string why = "poll: " + std::system_category().message(errno);
      for (auto& transfer : in_flight) settle(transfer->index, options_.attempts, transport_failure(why, false));
      in_flight.clear();
      continue;
    }

    // Move every ready transfer on; end those that finished or ran out of time.
    now = Clock::now();
    if (ready >= 0) settle_opening(polled.data() + in_flight.size(), now);
    std::vector<std::unique_ptr<Transfer>> still;
    still.reserve(in_flight.size());
    for (size_t i = 0; i < in_flight.size(); ++i) {
      Transfer& transfer = *in_flight[i];
      std::optional<Finished> finished;
      if (ready > 0 && polled[i].revents != 0) finished = progress(transfer, polled[i].revents);
      if (!finished && transfer.phase == Transfer::Phase::connecting && now >= transfer.connect_deadline) {
        finished = transport_failure("Connection timed out after " + std::to_string(options_.connect_timeout_ms) +
                                     " milliseconds");
      } else if (!finished && now >= transfer.deadline) {
        finished = transport_failure("Operation timed out after " + std::to_string(options_.request_timeout_ms) +
                                     " milliseconds with " + std::to_string(transfer.parser.received()) +
                                     " bytes received");
      }
      if (!finished) {
        still.push_back(std::move(in_flight[i]));
        continue;
      }
      end(transfer, std::move(*finished));
    }
    in_flight = std::move(still);
  }
  return responses;
}

}  // namespace

std::unique_ptr<HttpClient> make_plain_http_client(const HttpOptions& options) {
  return std::make_unique<PlainHttpClient>(options);
}

}  // namespace nicsync
