#pragma once
/// Logging: one line per change made, one summary line per run. Plain `nicsync: ...` lines on a
/// stream, or journald entries with structured NICSYNC_* fields when stderr is the journal.

#include <memory>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

namespace nicsync {

enum class LogLevel { info, warning, error };

/// A structured field of one entry. journald receives it as NICSYNC_<name>=<value>; the
/// plain-text log leaves it out (the message says it already). Names are upper case:
/// VENDOR, INSTANCE_ID, INTERFACE, FILE, ACTION, SOURCE, SERVICE, ...
struct LogField {
  std::string name;
  std::string value;
};

class Log {
 public:
  virtual ~Log() = default;
  virtual void write(LogLevel level, std::string_view message, const std::vector<LogField>& fields) = 0;
  void info(std::string_view message, const std::vector<LogField>& fields = {}) {
    write(LogLevel::info, message, fields);
  }
  void warning(std::string_view message, const std::vector<LogField>& fields = {}) {
    write(LogLevel::warning, message, fields);
  }
  void error(std::string_view message, const std::vector<LogField>& fields = {}) {
    write(LogLevel::error, message, fields);
  }
};

/// Plain lines on `out`: "nicsync: <message>", "nicsync: warning: <message>",
/// "nicsync: error: <message>", each ending in '\n'. Fields are not printed.
std::unique_ptr<Log> make_stream_log(std::ostream& out);

/// journald's native protocol, written to /run/systemd/journal/socket (no libsystemd):
/// MESSAGE=<message>, PRIORITY=6/4/3 (info, warning, error), SYSLOG_IDENTIFIER=nicsync, and
/// NICSYNC_<name>=<value> for each field. An entry the journal does not take is written to
/// stderr as make_stream_log's line.
std::unique_ptr<Log> make_journal_log();

/// True when stderr is connected to the journal: $JOURNAL_STREAM is "<device>:<inode>" and names
/// the file behind file descriptor 2 (systemd.exec(5), "$JOURNAL_STREAM").
bool stderr_is_journal();

}  // namespace nicsync
