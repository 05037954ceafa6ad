#pragma once
/// What the two HTTP clients (plain_http_client.cpp, curl_http_client.cpp) share: the options
/// made sane, the order and timing of attempts, and header value trimming.

#include <chrono>
#include <optional>
#include <string_view>
#include <vector>

#include "nicsync/http.hpp"

namespace nicsync::http {

/// `options` with at least one attempt and one request in flight, and no negative delays.
HttpOptions sane(HttpOptions options);

/// How long to wait before the attempt after `failed_attempt` (1 for the first): backoff_ms
/// doubled per attempt up to max_backoff_ms; a 429 or 503's Retry-After (seconds) wins when
/// longer, but never beyond max_backoff_ms.
long retry_delay_ms(const HttpOptions& options, int failed_attempt, const HttpResponse& response);

/// A request whose next attempt is due at a given time.
struct Scheduled {
  size_t index = 0;  ///< in the caller's request vector
  int attempt = 1;   ///< 1 for the first try
  std::chrono::steady_clock::time_point due;
};

/// The due request with the lowest index, taken out of `waiting`; none when nothing is due yet.
std::optional<Scheduled> take_due(std::vector<Scheduled>& waiting, std::chrono::steady_clock::time_point now);

/// How many of `count` requests go on the wire at once: at most max_in_flight, and no more than
/// the fewest waves need. 75 requests at most 32 at a time take 3 waves; 25 at a time take 3
/// too, with 7 connections fewer (each about 7 packets, which AWS counts against its 1024
/// packets/s per ENI for link-local services).
size_t parallelism(size_t count, int max_in_flight);

/// A header value without surrounding blanks and line ends.
std::string_view trim(std::string_view text);

}  // namespace nicsync::http
