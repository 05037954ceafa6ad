// The journal log: journald's native protocol through sd_journal_sendv, one datagram per entry,
// with nicsync's fields as NICSYNC_* journal fields. libsystemd is loaded with dlopen() at the
// first entry (libsystemd.hpp), so that a run that logs nothing to the journal never loads it.

#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <iostream>

// No CODE_FILE/CODE_LINE/CODE_FUNC: they would name this file for every entry nicsync logs.
#define SD_JOURNAL_SUPPRESS_LOCATION
#include <systemd/sd-journal.h>

#include "system/journal_fields.hpp"
#include "system/libsystemd.hpp"

namespace nicsync {

namespace {

/// Where sd_journal_sendv sends to (a fixed path in libsystemd).
constexpr const char* kJournalSocket = "/run/systemd/journal/socket";
constexpr std::string_view kFieldPrefix = "NICSYNC_";
constexpr size_t kMaxFieldNameLength = 64;  // journald drops fields with longer names

const char* priority_of(LogLevel level) {
  switch (level) {
    case LogLevel::info:
      return "6";  // LOG_INFO
    case LogLevel::warning:
      return "4";  // LOG_WARNING
    case LogLevel::error:
      return "3";  // LOG_ERR
  }
  return "3";
}

int send_to_journal(decltype(&::sd_journal_sendv) sendv, const std::vector<std::string>& entry) {
  struct stat st {};
  if (::stat(kJournalSocket, &st) != 0 || !S_ISSOCK(st.st_mode)) return -ENOENT;
  std::vector<iovec> iov;
  iov.reserve(entry.size());
  for (const std::string& item : entry) iov.push_back(iovec{const_cast<char*>(item.data()), item.size()});
  // Values are passed as bytes, never as a format string; sd_journal_sendv itself sends values
  // holding a newline in the protocol's binary form.
  return sendv(iov.data(), static_cast<int>(iov.size()));
}

class JournalLog final : public Log {
 public:
  JournalLog(JournalOpener open, std::ostream& fallback)
      : open_(std::move(open)), fallback_(make_stream_log(fallback)) {}

  void write(LogLevel level, std::string_view message, const std::vector<LogField>& fields) override {
    if (open_) {
      Result<JournalSender> opened = open_();
      open_ = nullptr;
      if (opened.ok()) {
        send_ = std::move(*opened);
      } else {
        fallback_->warning(opened.error().message + "; logging plain lines instead");
      }
    }
    // The plain line still reaches the journal when stderr is the journal's stream socket.
    if (!send_ || send_(journal_entry(level, message, fields)) < 0) fallback_->write(level, message, fields);
  }

 private:
  JournalOpener open_;  ///< until the first entry
  JournalSender send_;  ///< empty when the journal could not be opened
  std::unique_ptr<Log> fallback_;
};

bool parse_decimal(std::string_view text, std::uint64_t& value) {
  if (text.empty()) return false;
  auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  return error == std::errc() && end == text.data() + text.size();
}

}  // namespace

std::string journal_field_name(std::string_view name) {
  if (name.empty()) name = "UNNAMED";
  std::string result(kFieldPrefix);
  for (char c : name.substr(0, kMaxFieldNameLength - kFieldPrefix.size())) {
    if (c >= 'a' && c <= 'z') {
      result += static_cast<char>(c - 'a' + 'A');
    } else if ((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_') {
      result += c;
    } else {
      result += '_';
    }
  }
  return result;
}

std::vector<std::string> journal_entry(LogLevel level, std::string_view message,
                                       const std::vector<LogField>& fields) {
  std::vector<std::string> entry;
  entry.reserve(3 + fields.size());
  entry.push_back("MESSAGE=" + std::string(message));
  entry.push_back(std::string("PRIORITY=") + priority_of(level));
  entry.push_back("SYSLOG_IDENTIFIER=nicsync");
  for (const LogField& field : fields) entry.push_back(journal_field_name(field.name) + "=" + field.value);
  return entry;
}

Result<JournalSender> open_journal() {
  const Libsystemd& lib = libsystemd();
  if (lib.sd_journal_sendv == nullptr) {
    return Error{"journal logging needs libsystemd, which cannot be used: " + lib.journal_error};
  }
  return JournalSender([sendv = lib.sd_journal_sendv](const std::vector<std::string>& entry) {
    return send_to_journal(sendv, entry);
  });
}

std::unique_ptr<Log> make_journal_log(JournalOpener open, std::ostream& fallback) {
  return std::make_unique<JournalLog>(std::move(open), fallback);
}

std::unique_ptr<Log> make_journal_log(JournalSender send, std::ostream& fallback) {
  return make_journal_log(JournalOpener([send = std::move(send)] { return Result<JournalSender>(send); }),
                          fallback);
}

std::unique_ptr<Log> make_journal_log() { return make_journal_log(JournalOpener(open_journal), std::cerr); }

std::optional<JournalStream> parse_journal_stream(std::string_view text) {
  size_t colon = text.find(':');
  if (colon == std::string_view::npos) return std::nullopt;
  JournalStream stream;
  if (!parse_decimal(text.substr(0, colon), stream.device)) return std::nullopt;
  if (!parse_decimal(text.substr(colon + 1), stream.inode)) return std::nullopt;
  return stream;
}

bool stderr_is_journal() {
  const char* value = std::getenv("JOURNAL_STREAM");
  if (value == nullptr) return false;
  std::optional<JournalStream> stream = parse_journal_stream(value);
  if (!stream) return false;
  struct stat st {};
  if (::fstat(STDERR_FILENO, &st) != 0) return false;
  return static_cast<std::uint64_t>(st.st_dev) == stream->device &&
         static_cast<std::uint64_t>(st.st_ino) == stream->inode;
}

}  // namespace nicsync
