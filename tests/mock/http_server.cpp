#include "mock/http_server.hpp"

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <queue>
#include <stdexcept>
#include <strings.h>
#include <thread>
#include <unordered_map>

#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

namespace nicsync::mock {
namespace {

using Clock = std::chrono::steady_clock;

// As the mock configured cpp-httplib: idle (and stalled) connections close after 5 s.
constexpr auto kIdleTimeout = std::chrono::seconds(5);
constexpr int kKeepAliveMaxCount = 1000000;
constexpr std::size_t kMaxHeaderBytes = 64 * 1024;
constexpr std::size_t kMaxTargetBytes = 8192;  // cpp-httplib's CPPHTTPLIB_REQUEST_URI_MAX_LENGTH
constexpr std::size_t kMaxBodyBytes = 64 * 1024 * 1024;
constexpr std::size_t kReadChunk = 16 * 1024;

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && strncasecmp(a.data(), b.data(), a.size()) == 0;
}

bool iless(const std::string& a, const std::string& b) {
  return strcasecmp(a.c_str(), b.c_str()) < 0;
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/// %XX decoding (invalid escapes kept as they are), as cpp-httplib's decode_url.
std::string decode_url(std::string_view s, bool plus_is_space) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && hex_value(s[i + 1]) >= 0 &&
        hex_value(s[i + 2]) >= 0) {
      out += static_cast<char>(hex_value(s[i + 1]) * 16 + hex_value(s[i + 2]));
      i += 2;
    } else if (plus_is_space && s[i] == '+') {
      out += ' ';
    } else {
      out += s[i];
    }
  }
  return out;
}

HttpFields parse_query(std::string_view query) {
  HttpFields params;
  while (!query.empty()) {
    const auto amp = query.find('&');
    const std::string_view item = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
    if (item.empty()) continue;
    const auto eq = item.find('=');
    if (eq == std::string_view::npos) {
      params.emplace_back(decode_url(item, true), std::string{});
    } else {
      params.emplace_back(decode_url(item.substr(0, eq), true),
                          decode_url(item.substr(eq + 1), true));
    }
  }
  return params;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

/// The line starting at `pos` without its terminator ("\r\n" or "\n"); `next` is set past it.
/// Returns false if the line is not complete yet.
bool next_line(std::string_view data, std::size_t pos, std::string_view& line, std::size_t& next) {
  const auto nl = data.find('\n', pos);
  if (nl == std::string_view::npos) return false;
  line = data.substr(pos, nl - pos);
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  next = nl + 1;
  return true;
}

bool parse_request_line(std::string_view line, HttpRequest& req) {
  // cpp-httplib answered 400 to CONNECT, TRACE and anything else too.
  static constexpr std::array<std::string_view, 7> kMethods = {"GET",    "HEAD",    "POST", "PUT",
                                                               "DELETE", "OPTIONS", "PATCH"};
  const auto sp1 = line.find(' ');
  const auto sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos || line.find(' ', sp2 + 1) != std::string_view::npos)
    return false;
  const std::string_view method = line.substr(0, sp1);
  const std::string_view target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  const std::string_view version = line.substr(sp2 + 1);
  if (std::find(kMethods.begin(), kMethods.end(), method) == kMethods.end()) return false;
  if (version != "HTTP/1.1" && version != "HTTP/1.0") return false;
  if (target.empty() || target.front() == '?') return false;
  const auto q = target.find('?');
  req.method = method;
  req.target = target;
  req.version = version;
  req.path = decode_url(target.substr(0, q), false);
  if (q != std::string_view::npos) req.params = parse_query(target.substr(q + 1));
  return true;
}

/// Decodes a chunked body starting at `data[pos]`. Returns the offset past it, 0 if
/// incomplete, or -400 if malformed.
long decode_chunked(std::string_view data, std::size_t pos, std::string& body) {
  body.clear();
  for (;;) {
    std::string_view line;
    std::size_t next = 0;
    if (!next_line(data, pos, line, next)) return 0;
    line = trim(line.substr(0, line.find(';')));
    std::size_t size = 0;
    const auto [end, ec] = std::from_chars(line.data(), line.data() + line.size(), size, 16);
    if (line.empty() || ec != std::errc{} || end != line.data() + line.size()) return -400;
    if (size > kMaxBodyBytes || body.size() + size > kMaxBodyBytes) return -413;
    pos = next;
    if (size == 0) {
      for (;;) {  // trailers, up to an empty line
        if (!next_line(data, pos, line, next)) return 0;
        pos = next;
        if (line.empty()) return static_cast<long>(pos);
      }
    }
    if (data.size() < pos + size + 1) return 0;
    body.append(data.substr(pos, size));
    pos += size;
    if (!next_line(data, pos, line, next)) return 0;
    if (!line.empty()) return -400;
    pos = next;
  }
}

struct Fd {
  int fd = -1;
  Fd() = default;
  explicit Fd(int f) : fd(f) {}
  Fd(Fd&& o) noexcept : fd(std::exchange(o.fd, -1)) {}
  Fd& operator=(Fd&& o) noexcept {
    if (this != &o) {
      reset();
      fd = std::exchange(o.fd, -1);
    }
    return *this;
  }
  ~Fd() { reset(); }
  void reset() {
    if (fd >= 0) ::close(fd);
    fd = -1;
  }
};

int port_of(const sockaddr_storage& addr) {
  if (addr.ss_family == AF_INET) return ntohs(reinterpret_cast<const sockaddr_in&>(addr).sin_port);
  if (addr.ss_family == AF_INET6)
    return ntohs(reinterpret_cast<const sockaddr_in6&>(addr).sin6_port);
  return 0;
}

}  // namespace

const std::string* HttpRequest::header(std::string_view name) const {
  for (const auto& [key, value] : headers)
    if (iequals(key, name)) return &value;
  return nullptr;
}

const std::string* HttpRequest::param(std::string_view name) const {
  for (const auto& [key, value] : params)
    if (key == name) return &value;
  return nullptr;
}

std::string_view http_reason(int status) {
  switch (status) {
    case 100: return "Continue";
    case 101: return "Switching Protocol";
    case 102: return "Processing";
    case 103: return "Early Hints";
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 203: return "Non-Authoritative Information";
    case 204: return "No Content";
    case 205: return "Reset Content";
    case 206: return "Partial Content";
    case 207: return "Multi-Status";
    case 208: return "Already Reported";
    case 226: return "IM Used";
    case 300: return "Multiple Choice";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 303: return "See Other";
    case 304: return "Not Modified";
    case 305: return "Use Proxy";
    case 306: return "unused";
    case 307: return "Temporary Redirect";
    case 308: return "Permanent Redirect";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 402: return "Payment Required";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 406: return "Not Acceptable";
    case 407: return "Proxy Authentication Required";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 410: return "Gone";
    case 411: return "Length Required";
    case 412: return "Precondition Failed";
    case 413: return "Payload Too Large";
    case 414: return "URI Too Long";
    case 415: return "Unsupported Media Type";
    case 416: return "Range Not Satisfiable";
    case 417: return "Expectation Failed";
    case 418: return "I'm a teapot";
    case 421: return "Misdirected Request";
    case 422: return "Unprocessable Entity";
    case 423: return "Locked";
    case 424: return "Failed Dependency";
    case 425: return "Too Early";
    case 426: return "Upgrade Required";
    case 428: return "Precondition Required";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 451: return "Unavailable For Legal Reasons";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    case 505: return "HTTP Version Not Supported";
    case 506: return "Variant Also Negotiates";
    case 507: return "Insufficient Storage";
    case 508: return "Loop Detected";
    case 510: return "Not Extended";
    case 511: return "Network Authentication Required";
    default: return "Internal Server Error";
  }
}

std::string http_head(const HttpResponse& response, std::size_t content_length, bool close) {
  HttpFields fields = response.headers;
  if (close) {
    fields.emplace_back("Connection", "close");
  } else {
    fields.emplace_back("Keep-Alive",
                        "timeout=" + std::to_string(kIdleTimeout.count()) +
                            ", max=" + std::to_string(kKeepAliveMaxCount));
  }
  fields.emplace_back("Content-Length", std::to_string(content_length));
  std::stable_sort(fields.begin(), fields.end(),
                   [](const auto& a, const auto& b) { return iless(a.first, b.first); });
  std::string out = "HTTP/1.1 " + std::to_string(response.status) + " ";
  out += http_reason(response.status);
  out += "\r\n";
  for (const auto& [key, value] : fields) {
    out += key;
    out += ": ";
    out += value;
    out += "\r\n";
  }
  out += "\r\n";
  return out;
}

long parse_http_request(std::string_view data, HttpRequest& req, bool& headers_done) {
  headers_done = false;
  std::string_view line;
  std::size_t pos = 0;
  if (!next_line(data, 0, line, pos)) return data.size() > kMaxHeaderBytes ? -400 : 0;
  if (line.size() > kMaxTargetBytes + 32) return -414;
  if (!parse_request_line(line, req)) return -400;
  req.headers.clear();
  for (;;) {
    if (!next_line(data, pos, line, pos)) return data.size() > kMaxHeaderBytes ? -400 : 0;
    if (line.empty()) break;
    const auto colon = line.find(':');
    if (colon == std::string_view::npos) continue;  // cpp-httplib skips such lines too
    req.headers.emplace_back(line.substr(0, colon), trim(line.substr(colon + 1)));
  }
  if (pos > kMaxHeaderBytes) return -400;
  headers_done = true;

  const std::string* encoding = req.header("Transfer-Encoding");
  if (encoding && iequals(*encoding, "chunked")) return decode_chunked(data, pos, req.body);
  std::size_t length = 0;
  if (const std::string* text = req.header("Content-Length")) {
    const auto [end, ec] = std::from_chars(text->data(), text->data() + text->size(), length);
    if (text->empty() || ec != std::errc{} || end != text->data() + text->size()) return -400;
    if (length > kMaxBodyBytes) return -413;
  }
  if (data.size() - pos < length) return 0;
  req.body.assign(data.substr(pos, length));
  return static_cast<long>(pos + length);
}

struct HttpServer::Impl {
  struct Connection {
    Fd fd;
    int remote_port = 0;
    std::string in;
    std::size_t in_pos = 0;  ///< start of the next request in `in`
    std::string out;
    std::size_t out_pos = 0;
    bool waiting = false;       ///< an answer is deferred; read no further request
    bool continue_sent = false; ///< "100 Continue" sent for the request being read
    bool read_closed = false;   ///< the client sent EOF
    bool closing = false;       ///< close once `out` is written
    bool broken = false;        ///< a read or write failed
    int served = 0;
    Clock::time_point last_activity;
  };
  enum class Closing { no, announced, silent };
  struct Pending {
    std::uint64_t connection = 0;
    std::function<HttpResponse()> respond;
    bool head = false;
    Closing close = Closing::no;
  };
  enum class TimerKind { answer, idle };
  struct Timer {
    Clock::time_point due;
    TimerKind kind;
    std::uint64_t id;  ///< a Pending's or a Connection's
    bool operator>(const Timer& o) const { return due > o.due; }
  };

  static constexpr std::uint64_t kListenId = 1;
  static constexpr std::uint64_t kWakeId = 2;

  HttpHandler handler;
  Fd listen_fd;
  Fd epoll_fd;
  Fd wake_fd;
  std::thread thread;
  std::unordered_map<std::uint64_t, Connection> connections;
  std::unordered_map<std::uint64_t, Pending> pending;
  std::priority_queue<Timer, std::vector<Timer>, std::greater<>> timers;
  std::uint64_t next_id = 16;
  bool stopping = false;  ///< set on the loop thread after the wake-up
  bool pwait2 = true;     ///< epoll_pwait2 is available

  void run() {
    std::array<epoll_event, 64> events{};
    while (!stopping) {
      const int n = wait(events.data(), static_cast<int>(events.size()));
      for (int i = 0; i < n; ++i) {
        const std::uint64_t id = events[static_cast<std::size_t>(i)].data.u64;
        const std::uint32_t mask = events[static_cast<std::size_t>(i)].events;
        if (id == kListenId) {
          accept_all();
        } else if (id == kWakeId) {
          stopping = true;
        } else {
          on_event(id, mask);
        }
      }
      fire_due_timers(Clock::now());
    }
    shut_down();
  }

  int wait(epoll_event* events, int max) {
    const bool forever = timers.empty();
    const auto left = forever ? Clock::duration::zero()
                              : std::max(timers.top().due - Clock::now(), Clock::duration::zero());
    if (pwait2) {
      const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(left).count();
      timespec ts{static_cast<time_t>(ns / 1000000000), static_cast<long>(ns % 1000000000)};
      const int n = ::epoll_pwait2(epoll_fd.fd, events, max, forever ? nullptr : &ts, nullptr);
      if (n >= 0 || errno != ENOSYS) return std::max(n, 0);
      pwait2 = false;
    }
    const auto ms = std::chrono::ceil<std::chrono::milliseconds>(left).count();
    return std::max(::epoll_wait(epoll_fd.fd, events, max, forever ? -1 : static_cast<int>(ms)), 0);
  }

  void accept_all() {
    for (;;) {
      sockaddr_storage peer{};
      socklen_t len = sizeof peer;
      const int fd = ::accept4(listen_fd.fd, reinterpret_cast<sockaddr*>(&peer), &len,
                               SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd < 0) {
        if (errno == EINTR || errno == ECONNABORTED) continue;
        return;  // EAGAIN, or out of descriptors: the rest stay queued
      }
      const std::uint64_t id = next_id++;
      Connection& c = connections[id];
      c.fd = Fd(fd);
      c.remote_port = port_of(peer);
      c.last_activity = Clock::now();
      epoll_event ev{};
      ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
      ev.data.u64 = id;
      ::epoll_ctl(epoll_fd.fd, EPOLL_CTL_ADD, fd, &ev);
      timers.push({c.last_activity + kIdleTimeout, TimerKind::idle, id});
    }
  }

  void on_event(std::uint64_t id, std::uint32_t mask) {
    auto it = connections.find(id);
    if (it == connections.end()) return;
    Connection& c = it->second;
    if (mask & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
      read_all(c, (mask & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) != 0);
    progress(id, c);
  }

  /// Reads what the socket holds. A short read means it is drained (edge-triggered), unless
  /// the peer also hung up, then the EOF is read too.
  void read_all(Connection& c, bool hung_up) {
    char buf[kReadChunk];
    for (;;) {
      const ssize_t n = ::recv(c.fd.fd, buf, sizeof buf, 0);
      if (n > 0) {
        c.in.append(buf, static_cast<std::size_t>(n));
        c.last_activity = Clock::now();
        if (static_cast<std::size_t>(n) < sizeof buf && !hung_up) return;
      } else if (n == 0) {
        c.read_closed = true;
        return;
      } else if (errno == EINTR) {
        continue;
      } else {
        if (errno != EAGAIN && errno != EWOULDBLOCK) c.broken = true;
        return;
      }
    }
  }

  /// Serves what can be served, writes, and closes the connection when it is done.
  void progress(std::uint64_t id, Connection& c) {
    while (!c.waiting && !c.closing && !c.broken && c.in_pos < c.in.size()) {
      HttpRequest req;
      bool headers_done = false;
      const std::string_view data = std::string_view(c.in).substr(c.in_pos);
      const long used = parse_http_request(data, req, headers_done);
      if (used == 0) {
        if (headers_done && !c.continue_sent && expects_continue(req)) {
          c.out += "HTTP/1.1 100 Continue\r\n\r\n";
          c.continue_sent = true;
        }
        break;
      }
      if (used < 0) {
        HttpResponse bad;
        bad.status = static_cast<int>(-used);
        c.out += http_head(bad, 0, true);
        c.closing = true;
        break;
      }
      c.in_pos += static_cast<std::size_t>(used);
      if (!c.continue_sent && expects_continue(req)) c.out += "HTTP/1.1 100 Continue\r\n\r\n";
      c.continue_sent = false;
      dispatch(id, c, std::move(req));
    }
    if (c.in_pos == c.in.size()) {
      c.in.clear();
      c.in_pos = 0;
    } else if (c.in_pos > kReadChunk) {
      c.in.erase(0, c.in_pos);
      c.in_pos = 0;
    }
    flush(c);
    const bool written = c.out_pos == c.out.size();
    const bool done = c.broken || (written && (c.closing || (c.read_closed && !c.waiting)));
    if (done) close_connection(id, c.closing && !c.broken);
  }

  static bool expects_continue(const HttpRequest& req) {
    const std::string* expect = req.header("Expect");
    return expect && iequals(*expect, "100-continue");
  }

  void dispatch(std::uint64_t id, Connection& c, HttpRequest&& req) {
    const bool head = req.method == "HEAD";
    const std::string* connection = req.header("Connection");
    // cpp-httplib announced "Connection: close" only when asked to, but also closed after an
    // HTTP/1.0 request without keep-alive.
    const Closing close =
        ++c.served >= kKeepAliveMaxCount || (connection && *connection == "close") ? Closing::announced
        : req.version == "HTTP/1.0" && !(connection && *connection == "Keep-Alive")
            ? Closing::silent
            : Closing::no;
    req.remote_port = c.remote_port;
    DeferredResponse deferred = handler(std::move(req));
    if (deferred.delay <= std::chrono::nanoseconds::zero()) {
      finish(c, deferred.respond(), head, close);
      return;
    }
    const std::uint64_t pid = next_id++;
    pending.emplace(pid, Pending{id, std::move(deferred.respond), head, close});
    timers.push({Clock::now() + deferred.delay, TimerKind::answer, pid});
    c.waiting = true;
  }

  static void finish(Connection& c, HttpResponse res, bool head, Closing close) {
    switch (res.ending) {
      case HttpResponse::Ending::no_answer:
        c.closing = true;
        return;
      case HttpResponse::Ending::truncated:
        c.out += http_head(res, res.body.size(), close == Closing::announced);
        c.out.append(res.body, 0, res.body.size() / 2);
        c.closing = true;
        return;
      case HttpResponse::Ending::complete:
        if (head) res.headers.emplace_back("Accept-Ranges", "bytes");
        c.out += http_head(res, res.body.size(), close == Closing::announced);
        if (!head) c.out += res.body;
        if (close != Closing::no) c.closing = true;
        return;
    }
  }

  void flush(Connection& c) {
    while (c.out_pos < c.out.size()) {
      const ssize_t n = ::send(c.fd.fd, c.out.data() + c.out_pos, c.out.size() - c.out_pos,
                               MSG_NOSIGNAL);
      if (n > 0) {
        c.out_pos += static_cast<std::size_t>(n);
        c.last_activity = Clock::now();
      } else if (n < 0 && errno == EINTR) {
        continue;
      } else {
        if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) c.broken = true;
        return;  // EPOLLOUT (edge-triggered) resumes
      }
    }
    c.out.clear();
    c.out_pos = 0;
  }

  /// `hang_up`: send FIN before close(2), which would reset the connection instead if the
  /// client sent more than was read.
  void close_connection(std::uint64_t id, bool hang_up) {
    auto it = connections.find(id);
    if (it == connections.end()) return;
    if (hang_up) ::shutdown(it->second.fd.fd, SHUT_RDWR);
    connections.erase(it);  // closes the socket, which also leaves the epoll set
  }

  void fire_due_timers(Clock::time_point now) {
    while (!timers.empty() && timers.top().due <= now) {
      const Timer t = timers.top();
      timers.pop();
      if (t.kind == TimerKind::answer) {
        answer(t.id);
        continue;
      }
      auto it = connections.find(t.id);
      if (it == connections.end()) continue;
      Connection& c = it->second;
      const auto idle_until = c.last_activity + kIdleTimeout;
      if (!c.waiting && idle_until <= now)
        close_connection(t.id, true);
      else
        timers.push({std::max(idle_until, now + kIdleTimeout / 5), TimerKind::idle, t.id});
    }
  }

  /// Produces a deferred answer and sends it if its connection is still there.
  void answer(std::uint64_t pending_id) {
    auto p = pending.find(pending_id);
    if (p == pending.end()) return;
    Pending entry = std::move(p->second);
    pending.erase(p);
    HttpResponse res = entry.respond();
    auto it = connections.find(entry.connection);
    if (it == connections.end()) return;
    Connection& c = it->second;
    c.waiting = false;
    finish(c, std::move(res), entry.head, entry.close);
    progress(entry.connection, c);
  }

  void shut_down() {
    listen_fd.reset();
    while (!pending.empty()) answer(pending.begin()->first);
    while (!connections.empty()) close_connection(connections.begin()->first, true);
    timers = {};
    epoll_fd.reset();
    wake_fd.reset();
    stopping = false;
  }
};

HttpServer::HttpServer(HttpHandler handler) : impl_(std::make_unique<Impl>()) {
  impl_->handler = std::move(handler);
}

HttpServer::~HttpServer() { stop(); }

int HttpServer::start(const std::string& host, int port) {
  Impl& s = *impl_;
  if (s.thread.joinable()) throw std::runtime_error("HttpServer: already started");
  const std::string where = host + ":" + std::to_string(port);

  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* found = nullptr;
  if (::getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &found) != 0)
    throw std::runtime_error("cannot listen on " + where + ": unknown host");
  Fd listener;
  for (addrinfo* ai = found; ai && listener.fd < 0; ai = ai->ai_next) {
    Fd fd(::socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol));
    if (fd.fd < 0) continue;
    const int yes = 1;
    const int no = 0;
    // SO_REUSEADDR but not SO_REUSEPORT: a busy port must fail.
    ::setsockopt(fd.fd, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
    // Inherited by the accepted sockets: pipelined answers must not wait for delayed ACKs.
    ::setsockopt(fd.fd, IPPROTO_TCP, TCP_NODELAY, &yes, sizeof yes);
    if (ai->ai_family == AF_INET6) ::setsockopt(fd.fd, IPPROTO_IPV6, IPV6_V6ONLY, &no, sizeof no);
    if (::bind(fd.fd, ai->ai_addr, ai->ai_addrlen) == 0 && ::listen(fd.fd, SOMAXCONN) == 0)
      listener = std::move(fd);
  }
  ::freeaddrinfo(found);
  if (listener.fd < 0)
    throw std::runtime_error("cannot listen on " + where + ": " + std::strerror(errno));
  sockaddr_storage local{};
  socklen_t len = sizeof local;
  ::getsockname(listener.fd, reinterpret_cast<sockaddr*>(&local), &len);
  const int bound = port_of(local);

  Fd epoll_fd(::epoll_create1(EPOLL_CLOEXEC));
  Fd wake_fd(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
  if (epoll_fd.fd < 0 || wake_fd.fd < 0)
    throw std::runtime_error("cannot listen on " + where + ": " + std::strerror(errno));
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u64 = Impl::kListenId;
  ::epoll_ctl(epoll_fd.fd, EPOLL_CTL_ADD, listener.fd, &ev);
  ev.data.u64 = Impl::kWakeId;
  ::epoll_ctl(epoll_fd.fd, EPOLL_CTL_ADD, wake_fd.fd, &ev);

  s.listen_fd = std::move(listener);
  s.epoll_fd = std::move(epoll_fd);
  s.wake_fd = std::move(wake_fd);
  s.thread = std::thread([&s] { s.run(); });
  return bound;
}

void HttpServer::stop() {
  Impl& s = *impl_;
  if (!s.thread.joinable()) return;
  const std::uint64_t one = 1;
  [[maybe_unused]] const ssize_t n = ::write(s.wake_fd.fd, &one, sizeof one);
  s.thread.join();
}

}  // namespace nicsync::mock
