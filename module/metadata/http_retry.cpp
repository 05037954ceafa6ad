#include "metadata/http_retry.hpp"

#include <algorithm>

namespace nicsync::http {

namespace {

/// Retry-After in seconds, converted to milliseconds and capped; -1 when not a plain number
/// (an HTTP date, or nothing).
long retry_after_ms(std::string_view value, long cap_ms) {
  value = trim(value);
  if (value.empty() || value.size() > 10) return -1;
  long seconds = 0;
  for (char c : value) {
    if (c < '0' || c > '9') return -1;
    seconds = seconds * 10 + (c - '0');
  }
  if (seconds > cap_ms / 1000 + 1) return cap_ms;
  return std::min(seconds * 1000, cap_ms);
}

}  // namespace

HttpOptions sane(HttpOptions options) {
  options.attempts = std::max(options.attempts, 1);
  options.max_in_flight = std::max(options.max_in_flight, 1);
  options.backoff_ms = std::max(options.backoff_ms, 0L);
  options.max_backoff_ms = std::max(options.max_backoff_ms, 0L);
  return options;
}

long retry_delay_ms(const HttpOptions& options, int failed_attempt, const HttpResponse& response) {
  long delay = options.backoff_ms;
  for (int i = 1; i < failed_attempt && delay < options.max_backoff_ms; ++i) delay *= 2;
  delay = std::min(delay, options.max_backoff_ms);
  if (response.status == 429 || response.status == 503) {
    // The server's wish wins when it asks for longer, but never beyond the cap.
    delay = std::max(delay, retry_after_ms(response.retry_after, options.max_backoff_ms));
  }
  return delay;
}

std::optional<Scheduled> take_due(std::vector<Scheduled>& waiting, std::chrono::steady_clock::time_point now) {
  auto next = waiting.end();
  for (auto it = waiting.begin(); it != waiting.end(); ++it) {
    if (it->due <= now && (next == waiting.end() || it->index < next->index)) next = it;
  }
  if (next == waiting.end()) return std::nullopt;
  Scheduled due = *next;
  waiting.erase(next);
  return due;
}

size_t parallelism(size_t count, int max_in_flight) {
  const auto limit = static_cast<size_t>(std::max(max_in_flight, 1));
  if (count <= limit) return std::max<size_t>(count, 1);
  const size_t waves = (count + limit - 1) / limit;
  return (count + waves - 1) / waves;
}

std::string_view trim(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t' || text.back() == '\r' ||
                           text.back() == '\n')) {
    text.remove_suffix(1);
  }
  return text;
}

}  // namespace nicsync::http
