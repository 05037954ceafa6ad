#pragma once
/// A Log that records every entry (level, message, fields), for unit tests.

#include <string>
#include <string_view>
#include <vector>

#include "nicsync/log.hpp"

namespace nicsync::test {

struct FakeLog : Log {
  struct Entry {
    LogLevel level;
    std::string message;
    std::vector<LogField> fields;
  };

  std::vector<Entry> entries;

  void write(LogLevel level, std::string_view message, const std::vector<LogField>& fields) override {
    entries.push_back(Entry{level, std::string(message), fields});
  }

  /// Every entry as "<level>: <message>\n" ("info", "warning", "error"), fields left out.
  std::string text() const {
    std::string out;
    for (const Entry& entry : entries) {
      const char* level = entry.level == LogLevel::info      ? "info"
                          : entry.level == LogLevel::warning ? "warning"
                                                             : "error";
      out += std::string(level) + ": " + entry.message + "\n";
    }
    return out;
  }
};

}  // namespace nicsync::test
