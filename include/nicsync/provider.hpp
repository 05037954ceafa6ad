#pragma once
/// Metadata providers: fetch a vendor's instance metadata over HTTP and normalise it into an
/// Instance. Parsing is separate from fetching, so every parser is tested on text alone.

#include <optional>
#include <string>
#include <vector>

#include "nicsync/http.hpp"
#include "nicsync/model.hpp"

namespace nicsync {

/// How to talk to one vendor's metadata service.
struct ImdsProtocol {
  std::string base_url;         ///< e.g. "http://169.254.169.254" (no trailing slash)
  std::string token_path;       ///< PUT here for a session token; empty: no tokens
  std::string token_ttl_header; ///< sent with the PUT, value "21600"
  std::string token_header;     ///< carries the token on every GET
  bool token_required = true;   ///< false: a failed token PUT (403/404/405) falls back to no token
  std::vector<std::pair<std::string, std::string>> static_headers;  ///< e.g. Authorization
};

/// A session with a metadata service: acquires a token if the protocol has one, and on a 401
/// gets a new token once and repeats the failed requests.
class ImdsSession {
 public:
  ImdsSession(HttpClient& http, ImdsProtocol protocol, std::string vendor_label);
  /// GETs every path (relative to base_url, e.g. "/latest/meta-data/mac") in parallel.
  /// Returns the bodies; a 404 on a path listed in `optional_paths` yields nullopt, any other
  /// failure is an Error naming the vendor, the path and the status or transport reason.
  Result<std::vector<std::optional<std::string>>> get(const std::vector<std::string>& paths,
                                                      const std::vector<bool>& optional = {});
  /// Number of HTTP requests made so far (token PUTs included).
  int requests_made() const { return requests_made_; }

 private:
  Result<void> acquire_token();
  HttpClient& http_;
  ImdsProtocol protocol_;
  std::string label_;
  std::optional<std::string> token_;
  bool token_tried_ = false;
  int requests_made_ = 0;
};

inline constexpr const char* kAwsDefaultEndpoint = "http://169.254.169.254";

/// Fetches and normalises AWS EC2 metadata (IMDSv2). Errors read
/// `aws: macs/0a:..:38/local-ipv4s line 2: "172.31.45.700" is not an IPv4 address`.
Result<Instance> fetch_aws(HttpClient& http, const std::string& endpoint);

}  // namespace nicsync
