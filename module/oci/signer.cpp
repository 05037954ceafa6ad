#include "oci/signer.hpp"

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>

#include "nicsync/address.hpp"

namespace nicsync::oci {

namespace {

constexpr std::string_view kRequestTarget = "(request-target)";

/// The parts of an http(s) URL that signing needs.
struct UrlParts {
  std::string host;    ///< "host" or "host:port", as the URL spells it
  std::string target;  ///< path and query, from the first '/'
};

char ascii_lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

std::string ascii_lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = ascii_lower(c);
  return out;
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (ascii_lower(a[i]) != ascii_lower(b[i])) return false;
  }
  return true;
}

bool is_reg_name_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
         c == '_' || c == '~';
}

bool is_ipv6_literal_char(char c) {
  return (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') || (c >= '0' && c <= '9') || c == ':' || c == '.';
}

/// "host", "[v6]" (either optionally with ":port", 1 to 65535), nothing else: no user info.
bool valid_authority(std::string_view authority) {
  std::string_view host = authority;
  std::string_view port;
  if (authority.starts_with('[')) {
    const size_t close = authority.find(']');
    if (close == std::string_view::npos || close == 1) return false;
    for (char c : authority.substr(1, close - 1)) {
      if (!is_ipv6_literal_char(c)) return false;
    }
    host = authority.substr(0, close + 1);
    const std::string_view rest = authority.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') return false;
      port = rest.substr(1);
      if (port.empty()) return false;
    }
  } else {
    const size_t colon = authority.find(':');
    if (colon != std::string_view::npos) {
      host = authority.substr(0, colon);
      port = authority.substr(colon + 1);
      if (port.empty()) return false;
    }
    if (host.empty()) return false;
    for (char c : host) {
      if (!is_reg_name_char(c)) return false;
    }
  }
  if (port.size() > 5) return false;
  unsigned number = 0;
  for (char c : port) {
    if (c < '0' || c > '9') return false;
    number = number * 10 + static_cast<unsigned>(c - '0');
  }
  return port.empty() || (number >= 1 && number <= 65535);
}

/// Splits "http(s)://host[:port]/path[?query]".
Result<UrlParts> split_url(std::string_view url) {
  const Error error{quote(url) + " is not an http(s)://host[:port]/path URL"};
  std::string_view rest = url;
  if (rest.size() >= 8 && iequals(rest.substr(0, 8), "https://")) {
    rest.remove_prefix(8);
  } else if (rest.size() >= 7 && iequals(rest.substr(0, 7), "http://")) {
    rest.remove_prefix(7);
  } else {
    return error;
  }
  const size_t slash = rest.find('/');
  if (slash == std::string_view::npos) return error;
  const std::string_view authority = rest.substr(0, slash);
  const std::string_view target = rest.substr(slash);
  if (!valid_authority(authority)) return error;
  for (char c : target) {
    // What would not reach the server as is: a fragment, spaces and control characters.
    if (c == '#' || static_cast<unsigned char>(c) <= 0x20 || c == 0x7f) return error;
  }
  return UrlParts{std::string(authority), std::string(target)};
}

/// The value of the first header named `name` (any case), or nullptr.
const std::string* find_header(const HttpRequest& request, std::string_view name) {
  for (const auto& [key, value] : request.headers) {
    if (iequals(key, name)) return &value;
  }
  return nullptr;
}

void add_if_absent(HttpRequest& request, std::string name, std::string value) {
  if (find_header(request, name) == nullptr) request.headers.emplace_back(std::move(name), std::move(value));
}

}  // namespace

std::string http_date(TimePoint when) {
  using namespace std::chrono;
  static constexpr std::array<const char*, 7> kDays = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
  static constexpr std::array<const char*, 12> kMonths = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                          "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  const sys_seconds second = floor<seconds>(when);
  const sys_days day = floor<days>(second);
  const year_month_day date{day};
  const hh_mm_ss<seconds> time{second - day};
  std::array<char, 40> buffer{};  // TimePoint's years (1678 to 2262) always fit
  const int size = std::snprintf(
      buffer.data(), buffer.size(), "%s, %02u %s %04d %02d:%02d:%02d GMT", kDays[weekday{day}.c_encoding()],
      static_cast<unsigned>(date.day()), kMonths[static_cast<unsigned>(date.month()) - 1],
      static_cast<int>(date.year()), static_cast<int>(time.hours().count()),
      static_cast<int>(time.minutes().count()), static_cast<int>(time.seconds().count()));
  return std::string(buffer.data(),
                     static_cast<size_t>(std::clamp(size, 0, static_cast<int>(buffer.size()) - 1)));
}

Result<std::string> signing_string(const HttpRequest& request, const std::vector<std::string>& header_names) {
  std::string out;
  for (const std::string& name : header_names) {
    if (!out.empty()) out += '\n';
    if (name == kRequestTarget) {
      NICSYNC_TRY_ASSIGN(const UrlParts url, split_url(request.url));
      out += name + ": " + ascii_lower(http_method_name(request.method)) + " " + url.target;
      continue;
    }
    const std::string* value = find_header(request, name);
    if (value == nullptr) return Error{"the request has no " + quote(name) + " header to sign"};
    out += name + ": " + *value;
  }
  return out;
}

Result<void> sign_request(HttpRequest& request, std::string_view key_id, const RsaKey& key, TimePoint now) {
  NICSYNC_TRY_ASSIGN(const UrlParts url, split_url(request.url));
  std::vector<std::string> names = {"date", std::string(kRequestTarget), "host"};
  add_if_absent(request, "date", http_date(now));
  add_if_absent(request, "host", url.host);
  if (request.method == HttpMethod::post || request.method == HttpMethod::put) {
    add_if_absent(request, "content-type", "application/json");
    add_if_absent(request, "content-length", std::to_string(request.body.size()));
    add_if_absent(request, "x-content-sha256", base64_encode(sha256(request.body)));
    names.insert(names.end(), {"content-length", "content-type", "x-content-sha256"});
  }
  NICSYNC_TRY_ASSIGN(const std::string text, signing_string(request, names));

  std::string signed_names;
  for (const std::string& name : names) signed_names += (signed_names.empty() ? "" : " ") + name;
  // The members in the order of OCI's Go SDK and its signing test vectors.
  std::string authorization = "Signature version=\"1\",headers=\"" + signed_names + "\",keyId=\"";
  authorization.append(key_id);
  authorization += "\",algorithm=\"rsa-sha256\",signature=\"" + base64_encode(key.sign_sha256(text)) + "\"";
  // Signing again replaces the earlier signature instead of sending two.
  std::erase_if(request.headers, [](const auto& header) { return iequals(header.first, "authorization"); });
  request.headers.emplace_back("authorization", std::move(authorization));
  return {};
}

}  // namespace nicsync::oci
