// HttpClient over libcurl's multi interface: one multi handle per client object (so its
// connection cache lives across perform() calls), at most max_in_flight transfers on the wire
// (only as many as the fewest waves need), and failed attempts rescheduled by time inside the
// same event loop, so a request waiting for its retry never holds up the others.
//
// libcurl is not linked but loaded with dlopen() when the first client is made (SharedLibrary):
// only HTTPS (the OCI API) needs it, and loading it with its dependency tree (TLS, Kerberos,
// LDAP, SSH, RTMP, ...) costs every process ≈ 7.5 ms and ≈ 6 MB (tests/bench/HISTORY.md, first
// round).

#define CURL_DISABLE_TYPECHECK  // the type-checking macros would hide the functions called below
#include <curl/curl.h>

#include <algorithm>
#include <chrono>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include "metadata/ca_store.hpp"
#include "metadata/http_retry.hpp"
#include "nicsync/http.hpp"
#include "system/shared_library.hpp"

namespace nicsync {

namespace {

using Clock = std::chrono::steady_clock;

constexpr const char* kLibcurl = "libcurl.so.4";

/// The libcurl functions this client calls, from libcurl.so.4.
struct Libcurl {
  decltype(&::curl_global_init) global_init = nullptr;
  decltype(&::curl_multi_init) multi_init = nullptr;
  decltype(&::curl_multi_cleanup) multi_cleanup = nullptr;
  decltype(&::curl_multi_setopt) multi_setopt = nullptr;
  decltype(&::curl_multi_add_handle) multi_add_handle = nullptr;
  decltype(&::curl_multi_remove_handle) multi_remove_handle = nullptr;
  decltype(&::curl_multi_perform) multi_perform = nullptr;
  decltype(&::curl_multi_info_read) multi_info_read = nullptr;
  decltype(&::curl_multi_poll) multi_poll = nullptr;
  decltype(&::curl_multi_strerror) multi_strerror = nullptr;
  decltype(&::curl_easy_init) easy_init = nullptr;
  decltype(&::curl_easy_cleanup) easy_cleanup = nullptr;
  decltype(&::curl_easy_setopt) easy_setopt = nullptr;
  decltype(&::curl_easy_getinfo) easy_getinfo = nullptr;
  decltype(&::curl_easy_strerror) easy_strerror = nullptr;
  decltype(&::curl_slist_append) slist_append = nullptr;
  decltype(&::curl_slist_free_all) slist_free_all = nullptr;
  decltype(&::curl_version_info) version_info = nullptr;
  std::string error;  ///< why libcurl could not be used; empty when it can
};

Libcurl load_libcurl() {
  Libcurl lib;
  static SharedLibrary library(kLibcurl);
  library.resolve("curl_global_init", lib.global_init);
  library.resolve("curl_multi_init", lib.multi_init);
  library.resolve("curl_multi_cleanup", lib.multi_cleanup);
  library.resolve("curl_multi_setopt", lib.multi_setopt);
  library.resolve("curl_multi_add_handle", lib.multi_add_handle);
  library.resolve("curl_multi_remove_handle", lib.multi_remove_handle);
  library.resolve("curl_multi_perform", lib.multi_perform);
  library.resolve("curl_multi_info_read", lib.multi_info_read);
  library.resolve("curl_multi_poll", lib.multi_poll);
  library.resolve("curl_multi_strerror", lib.multi_strerror);
  library.resolve("curl_easy_init", lib.easy_init);
  library.resolve("curl_easy_cleanup", lib.easy_cleanup);
  library.resolve("curl_easy_setopt", lib.easy_setopt);
  library.resolve("curl_easy_getinfo", lib.easy_getinfo);
  library.resolve("curl_easy_strerror", lib.easy_strerror);
  library.resolve("curl_slist_append", lib.slist_append);
  library.resolve("curl_slist_free_all", lib.slist_free_all);
  library.resolve("curl_version_info", lib.version_info);
  if (!library.error().empty()) {
    lib.error = "HTTPS needs libcurl, which cannot be used: " + library.error();
  } else if (lib.global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
    lib.error = "curl_global_init failed";
  }
  return lib;
}

/// libcurl, loaded once per process (thread-safe: a function-local static).
const Libcurl& curl() {
  static const Libcurl lib = load_libcurl();
  return lib;
}

// ---- RAII for libcurl handles ----

struct MultiDeleter {
  void operator()(CURLM* multi) const { curl().multi_cleanup(multi); }
};
struct EasyDeleter {
  void operator()(CURL* easy) const { curl().easy_cleanup(easy); }
};
struct SlistDeleter {
  void operator()(curl_slist* list) const { curl().slist_free_all(list); }
};
using MultiHandle = std::unique_ptr<CURLM, MultiDeleter>;
using EasyHandle = std::unique_ptr<CURL, EasyDeleter>;
using HeaderList = std::unique_ptr<curl_slist, SlistDeleter>;

void append_header(HeaderList& list, const std::string& line) {
  curl_slist* head = curl().slist_append(list.get(), line.c_str());
  if (head == nullptr) throw std::bad_alloc();
  if (!list) list.reset(head);  // the first append creates the head; later ones keep it
}

void check(CURLMcode code, const char* what) {
  if (code != CURLM_OK) {
    throw std::runtime_error(std::string(what) + ": " + curl().multi_strerror(code));
  }
}

void check(CURLcode code, const char* what) {
  if (code != CURLE_OK) {
    throw std::runtime_error(std::string(what) + ": " + curl().easy_strerror(code));
  }
}

/// libcurl's built-in CA file (CURLINFO_CAINFO, libcurl 7.84 and later), or "" when it has none
/// or cannot tell.
std::string default_ca_file() {
#if LIBCURL_VERSION_NUM >= 0x075400
  EasyHandle probe(curl().easy_init());
  char* file = nullptr;
  if (!probe || curl().easy_getinfo(probe.get(), CURLINFO_CAINFO, &file) != CURLE_OK || file == nullptr) {
    return "";
  }
  return file;
#else
  return "";
#endif
}

/// One attempt of one request, pinned in memory while curl holds pointers into it.
struct Transfer {
  size_t index = 0;      ///< position in the caller's request vector
  int attempt = 1;       ///< 1 for the first try
  size_t max_body = 0;
  HeaderList headers;
  std::string body;
  std::string retry_after;
  std::vector<std::pair<std::string, std::string>> response_headers;
  bool too_large = false;
  char error[CURL_ERROR_SIZE] = {};
  EasyHandle easy;  ///< last, so it is cleaned up before what it points to
};

// libcurl callbacks: C code calls them, so no exception may leave; returning a short count
// aborts the transfer.
size_t on_body(char* data, size_t size, size_t count, void* user) noexcept {
  auto* transfer = static_cast<Transfer*>(user);
  size_t bytes = size * count;
  if (transfer->body.size() + bytes > transfer->max_body) {
    transfer->too_large = true;
    return 0;  // aborts the transfer with CURLE_WRITE_ERROR
  }
  try {
    transfer->body.append(data, bytes);
  } catch (...) {
    return 0;
  }
  return bytes;
}

size_t on_header(char* data, size_t size, size_t count, void* user) noexcept {
  auto* transfer = static_cast<Transfer*>(user);
  size_t bytes = size * count;
  std::string_view line(data, bytes);
  if (line.substr(0, 5) == "HTTP/") {
    transfer->retry_after.clear();  // a new response starts (e.g. after "100 Continue")
    transfer->response_headers.clear();
    return bytes;
  }
  size_t colon = line.find(':');
  if (colon == std::string_view::npos || colon == 0) return bytes;  // the blank line, or junk
  try {
    std::string name(line.substr(0, colon));
    for (char& c : name) {
      if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    }
    std::string value(http::trim(line.substr(colon + 1)));
    if (name == "retry-after") transfer->retry_after = value;
    transfer->response_headers.emplace_back(std::move(name), std::move(value));
  } catch (...) {
    return 0;
  }
  return bytes;
}

size_t on_upload(char*, size_t, size_t, void*) noexcept { return 0; }  // PUTs carry no body

/// libcurl's TLS library and version ("OpenSSL/3.0.22"), or "" when it names none.
std::string_view curl_ssl_version() {
  const curl_version_info_data* info = curl().version_info(CURLVERSION_NOW);
  return info != nullptr && info->ssl_version != nullptr ? info->ssl_version : "";
}

struct Finished {
  HttpResponse response;
  bool retriable = false;  ///< a timeout, transport error, 5xx or 429
};


class CurlHttpClient final : public HttpClient {
 public:
  explicit CurlHttpClient(const HttpOptions& options) : options_(http::sane(options)) {
    if (!curl().error.empty()) return;  // perform() answers every request with the reason
    multi_.reset(curl().multi_init());
    if (!multi_) throw std::runtime_error("curl_multi_init failed");
    // Keep at least one idle connection per parallel slot for the next perform().
    check(curl().multi_setopt(multi_.get(), CURLMOPT_MAXCONNECTS, static_cast<long>(options_.max_in_flight)),
          "CURLMOPT_MAXCONNECTS");
    ca_file_ = options_.ca_bundle.empty() ? default_ca_file() : options_.ca_bundle;
    share_ca_store_ = tls::SharedCaStore::shareable(curl_ssl_version());
  }

  /// Not reentrant: one perform() at a time per client object.
  std::vector<HttpResponse> perform(const std::vector<HttpRequest>& requests) override;

 private:
  std::unique_ptr<Transfer> start(const HttpRequest& request, size_t index, int attempt);
  /// The response of a finished attempt, and whether it deserves another try.
  Finished finish(Transfer& transfer, CURLcode code) const;
  /// CURLOPT_SSL_CTX_FUNCTION, `client` this object: the connection libcurl is setting up
  /// verifies against the shared store, loaded at the first handshake (an unreachable API costs
  /// no parse). A file that does not load fails this attempt; later ones give libcurl the file.
  static CURLcode on_ssl_ctx(CURL* easy, void* ssl_ctx, void* client) noexcept;

  HttpOptions options_;
  MultiHandle multi_;
  /// The one file of trusted CAs: `ca_bundle`, or libcurl's built-in file; empty when libcurl
  /// cannot name it. With a directory set too, libcurl would build the store again for every
  /// connection: with Debian's bundle of ≈ 140 CAs, ≈ 0.8 MiB more each, 32 MiB at 40
  /// connections (tests/bench/HISTORY.md, "Eleventh round").
  std::string ca_file_;
  /// Whether the connections share one store of that file (tls::SharedCaStore): libcurl's TLS
  /// library is the OpenSSL 3 in this process. Otherwise `ca_file_` goes to libcurl, which caches
  /// the store itself from 7.87 on, reports a bad file, and without a file uses its own defaults.
  bool share_ca_store_ = false;
  /// That file (where libcurl cannot name its default file, before 7.84: the system's bundle)
  /// loaded once and given to every connection, so that no libcurl parses it per connection.
  /// Null until the first handshake.
  std::unique_ptr<tls::SharedCaStore> ca_store_;
  /// Why the file did not load at the first handshake; from then on it goes to libcurl.
  std::string ca_load_error_;
};

std::unique_ptr<Transfer> CurlHttpClient::start(const HttpRequest& request, size_t index, int attempt) {
  auto transfer = std::make_unique<Transfer>();
  transfer->index = index;
  transfer->attempt = attempt;
  transfer->max_body = options_.max_body_bytes;
  transfer->easy.reset(curl().easy_init());
  if (!transfer->easy) throw std::runtime_error("curl_easy_init failed");
  CURL* easy = transfer->easy.get();

  for (const auto& [name, value] : request.headers) append_header(transfer->headers, name + ": " + value);
  append_header(transfer->headers, "Expect:");  // never wait for "100 Continue"

  check(curl().easy_setopt(easy, CURLOPT_URL, request.url.c_str()), "CURLOPT_URL");
  check(curl().easy_setopt(easy, CURLOPT_HTTPHEADER, transfer->headers.get()), "CURLOPT_HTTPHEADER");
  check(curl().easy_setopt(easy, CURLOPT_NOSIGNAL, 1L), "CURLOPT_NOSIGNAL");
  check(curl().easy_setopt(easy, CURLOPT_PROXY, ""), "CURLOPT_PROXY");
  check(curl().easy_setopt(easy, CURLOPT_NOPROXY, "*"), "CURLOPT_NOPROXY");
  check(curl().easy_setopt(easy, CURLOPT_FOLLOWLOCATION, 0L), "CURLOPT_FOLLOWLOCATION");
#if LIBCURL_VERSION_NUM >= 0x075500
  check(curl().easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "http,https"), "CURLOPT_PROTOCOLS_STR");
#else
  check(curl().easy_setopt(easy, CURLOPT_PROTOCOLS, static_cast<long>(CURLPROTO_HTTP | CURLPROTO_HTTPS)),
        "CURLOPT_PROTOCOLS");
#endif
  check(curl().easy_setopt(easy, CURLOPT_HTTP_VERSION, static_cast<long>(CURL_HTTP_VERSION_1_1)),
        "CURLOPT_HTTP_VERSION");
  check(curl().easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS, options_.connect_timeout_ms),
        "CURLOPT_CONNECTTIMEOUT_MS");
  check(curl().easy_setopt(easy, CURLOPT_TIMEOUT_MS, options_.request_timeout_ms), "CURLOPT_TIMEOUT_MS");
  check(curl().easy_setopt(easy, CURLOPT_MAXFILESIZE_LARGE, static_cast<curl_off_t>(options_.max_body_bytes)),
        "CURLOPT_MAXFILESIZE_LARGE");
  check(curl().easy_setopt(easy, CURLOPT_USERAGENT, "nicsync"), "CURLOPT_USERAGENT");
  check(curl().easy_setopt(easy, CURLOPT_ERRORBUFFER, transfer->error), "CURLOPT_ERRORBUFFER");
  check(curl().easy_setopt(easy, CURLOPT_WRITEFUNCTION, on_body), "CURLOPT_WRITEFUNCTION");
  check(curl().easy_setopt(easy, CURLOPT_WRITEDATA, transfer.get()), "CURLOPT_WRITEDATA");
  check(curl().easy_setopt(easy, CURLOPT_HEADERFUNCTION, on_header), "CURLOPT_HEADERFUNCTION");
  check(curl().easy_setopt(easy, CURLOPT_HEADERDATA, transfer.get()), "CURLOPT_HEADERDATA");
  if (share_ca_store_ && ca_load_error_.empty()) {
    // No CA file or directory for libcurl to load: whether a libcurl version loads them before
    // or after calling on_ssl_ctx, the connection verifies against the shared store alone.
    check(curl().easy_setopt(easy, CURLOPT_CAINFO, nullptr), "CURLOPT_CAINFO");
    check(curl().easy_setopt(easy, CURLOPT_CAPATH, nullptr), "CURLOPT_CAPATH");
    check(curl().easy_setopt(easy, CURLOPT_SSL_CTX_FUNCTION, on_ssl_ctx), "CURLOPT_SSL_CTX_FUNCTION");
    check(curl().easy_setopt(easy, CURLOPT_SSL_CTX_DATA, this), "CURLOPT_SSL_CTX_DATA");
  } else if (!ca_file_.empty()) {
    check(curl().easy_setopt(easy, CURLOPT_CAINFO, ca_file_.c_str()), "CURLOPT_CAINFO");
    check(curl().easy_setopt(easy, CURLOPT_CAPATH, nullptr), "CURLOPT_CAPATH");
  }
  if (request.method == HttpMethod::post) {
    check(curl().easy_setopt(easy, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(request.body.size())),
          "CURLOPT_POSTFIELDSIZE_LARGE");
    check(curl().easy_setopt(easy, CURLOPT_COPYPOSTFIELDS, request.body.data()), "CURLOPT_COPYPOSTFIELDS");
  }
  if (request.method == HttpMethod::put) {
    check(curl().easy_setopt(easy, CURLOPT_UPLOAD, 1L), "CURLOPT_UPLOAD");
    check(curl().easy_setopt(easy, CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(0)),
          "CURLOPT_INFILESIZE_LARGE");
    check(curl().easy_setopt(easy, CURLOPT_READFUNCTION, on_upload), "CURLOPT_READFUNCTION");
  }
  check(curl().multi_add_handle(multi_.get(), easy), "curl_multi_add_handle");
  return transfer;
}

CURLcode CurlHttpClient::on_ssl_ctx(CURL*, void* ssl_ctx, void* client) noexcept {
  auto* self = static_cast<CurlHttpClient*>(client);
  if (!self->ca_store_) {
    try {
      tls::LoadedCaStore loaded = tls::SharedCaStore::load(self->ca_file_);
      self->ca_store_ = std::move(loaded.store);
      self->ca_load_error_ = std::move(loaded.why_not);
    } catch (...) {
      self->ca_load_error_ = "the CA file could not be loaded";
    }
    if (!self->ca_store_) return CURLE_SSL_CACERT_BADFILE;
  }
  return self->ca_store_->install(ssl_ctx) ? CURLE_OK : CURLE_SSL_CERTPROBLEM;
}

Finished CurlHttpClient::finish(Transfer& transfer, CURLcode code) const {
  HttpResponse response;
  response.retry_after = transfer.retry_after;
  if (transfer.too_large || code == CURLE_FILESIZE_EXCEEDED) {
    response.transport_error = "response larger than " + std::to_string(options_.max_body_bytes) + " bytes";
    return {std::move(response), false};  // the same answer would come again
  }
  if (code == CURLE_SSL_CACERT_BADFILE && !ca_load_error_.empty()) {
    response.transport_error = ca_load_error_;  // not libcurl's "error signaled by ssl ctx callback"
    return {std::move(response), true};         // the next attempt gives libcurl the file
  }
  if (code != CURLE_OK) {
    long os_errno = 0;
    curl().easy_getinfo(transfer.easy.get(), CURLINFO_OS_ERRNO, &os_errno);
    if (code == CURLE_COULDNT_CONNECT && os_errno != 0) {
      response.transport_error = std::system_category().message(static_cast<int>(os_errno));
    } else if (transfer.error[0] != '\0') {
      response.transport_error = transfer.error;
    } else {
      response.transport_error = curl().easy_strerror(code);
    }
    // A malformed URL or a refused scheme will not get better by trying again.
    bool retriable = code != CURLE_URL_MALFORMAT && code != CURLE_UNSUPPORTED_PROTOCOL;
    return {std::move(response), retriable};
  }
  curl().easy_getinfo(transfer.easy.get(), CURLINFO_RESPONSE_CODE, &response.status);
  response.body = std::move(transfer.body);
  response.headers = std::move(transfer.response_headers);
  bool retriable = response.status >= 500 || response.status == 429;
  return {std::move(response), retriable};
}


std::vector<HttpResponse> CurlHttpClient::perform(const std::vector<HttpRequest>& requests) {
  std::vector<HttpResponse> responses(requests.size());
  if (!curl().error.empty()) {
    for (HttpResponse& response : responses) response.transport_error = curl().error;
    return responses;
  }
  std::vector<http::Scheduled> waiting;  // not yet on the wire: first tries (due now) and retries
  waiting.reserve(requests.size());
  Clock::time_point now = Clock::now();
  for (size_t i = 0; i < requests.size(); ++i) waiting.push_back({i, 1, now});
  std::vector<std::unique_ptr<Transfer>> in_flight;
  size_t done = 0;
  const size_t slots = http::parallelism(requests.size(), options_.max_in_flight);

  while (done < requests.size()) {
    // Put due requests on the wire, lowest index first, up to the parallelism limit.
    now = Clock::now();
    while (in_flight.size() < slots) {
      std::optional<http::Scheduled> next = http::take_due(waiting, now);
      if (!next) break;
      const http::Scheduled due = *next;
      in_flight.push_back(start(requests[due.index], due.index, due.attempt));
    }

    int running = 0;
    check(curl().multi_perform(multi_.get(), &running), "curl_multi_perform");

    int queued = 0;
    while (CURLMsg* message = curl().multi_info_read(multi_.get(), &queued)) {
      if (message->msg != CURLMSG_DONE) continue;
      CURL* easy = message->easy_handle;
      CURLcode code = message->data.result;
      auto it = std::find_if(in_flight.begin(), in_flight.end(),
                             [&](const std::unique_ptr<Transfer>& t) { return t->easy.get() == easy; });
      if (it == in_flight.end()) continue;
      std::unique_ptr<Transfer> transfer = std::move(*it);
      in_flight.erase(it);
      check(curl().multi_remove_handle(multi_.get(), easy), "curl_multi_remove_handle");

      Finished finished = finish(*transfer, code);
      if (finished.retriable && transfer->attempt < options_.attempts) {
        auto delay = std::chrono::milliseconds(http::retry_delay_ms(options_, transfer->attempt, finished.response));
        waiting.push_back({transfer->index, transfer->attempt + 1, Clock::now() + delay});
      } else {
        responses[transfer->index] = std::move(finished.response);
        ++done;
      }
    }
    if (done == requests.size()) break;

    // Sleep until socket activity, a curl timer, or the next retry falls due.
    long wait_ms = 1000;
    if (!waiting.empty() && in_flight.size() < slots) {
      Clock::time_point next_due = waiting.front().due;
      for (const http::Scheduled& s : waiting) next_due = std::min(next_due, s.due);
      auto until = std::chrono::duration_cast<std::chrono::milliseconds>(next_due - Clock::now());
      wait_ms = std::clamp(static_cast<long>(until.count()), 0L, wait_ms);
    }
    if (wait_ms > 0) {
      check(curl().multi_poll(multi_.get(), nullptr, 0, static_cast<int>(wait_ms), nullptr), "curl_multi_poll");
    }
  }
  return responses;
}

}  // namespace

std::unique_ptr<HttpClient> make_curl_http_client(const HttpOptions& options) {
  return std::make_unique<CurlHttpClient>(options);
}

}  // namespace nicsync
