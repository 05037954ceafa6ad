// The journal log: journald's native protocol, one datagram per entry to its socket, with
// nicsync's fields as NICSYNC_* journal fields. The protocol is written here rather than through
// libsystemd's sd_journal_sendv: a boot run under systemd logs to the journal, and loading
// libsystemd with its dependencies for that alone cost more than the whole rest of the start-up.

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <charconv>
#include <cstdlib>
#include <cstdint>
#include <cstring>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "system/journal_fields.hpp"

namespace nicsync {

namespace {

/// journald's socket for its native protocol (systemd-journald.socket).
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

/// The send buffer asked for, as libsystemd does; an entry larger than the buffer the kernel
/// grants goes as a sealed memfd instead.
constexpr int kSendBufferBytes = 8 * 1024 * 1024;

/// One entry in journald's native protocol: "KEY=value\n" for each item, or, for a value
/// holding a newline, "KEY\n", its length as a 64-bit little-endian number, the value and "\n".
std::string native_entry(const std::vector<std::string>& entry) {
  std::string data;
  size_t size = 0;
  for (const std::string& item : entry) size += item.size() + 10;
  data.reserve(size);
  for (const std::string& item : entry) {
    const size_t equals = item.find('=');
    const std::string_view value = std::string_view(item).substr(equals + 1);
    if (equals == std::string::npos || value.find('\n') == std::string_view::npos) {
      data.append(item).push_back('\n');
      continue;
    }
    data.append(item, 0, equals).push_back('\n');
    std::uint64_t length = value.size();
    for (int byte = 0; byte < 8; ++byte) data.push_back(static_cast<char>((length >> (8 * byte)) & 0xff));
    data.append(value).push_back('\n');
  }
  return data;
}

/// journald's native socket, opened once; send() returns 0 or a negative errno.
class NativeJournal {
 public:
  explicit NativeJournal(int fd) : fd_(fd) {
    std::strncpy(address_.sun_path, kJournalSocket, sizeof address_.sun_path - 1);
  }
  ~NativeJournal() { ::close(fd_); }
  NativeJournal(const NativeJournal&) = delete;
  NativeJournal& operator=(const NativeJournal&) = delete;

  int send(const std::vector<std::string>& entry) const {
    // A missing socket is an error here (the entry goes out as a plain line), where
    // sd_journal_sendv reports success and drops it.
    struct stat st {};
    if (::stat(kJournalSocket, &st) != 0 || !S_ISSOCK(st.st_mode)) return -ENOENT;
    const std::string data = native_entry(entry);
    iovec iov{const_cast<char*>(data.data()), data.size()};
    msghdr message{};
    message.msg_name = const_cast<sockaddr_un*>(&address_);
    message.msg_namelen = kAddressLength;
    message.msg_iov = &iov;
    message.msg_iovlen = 1;
    while (::sendmsg(fd_, &message, MSG_NOSIGNAL) < 0) {
      if (errno == EINTR) continue;
      if (errno != EMSGSIZE && errno != ENOBUFS && errno != ENOMEM) return -errno;
      return send_as_memfd(data);
    }
    return 0;
  }

 private:
  /// An entry too large for a datagram: written to a sealed memfd, whose descriptor journald
  /// receives alone (SCM_RIGHTS, no data).
  int send_as_memfd(const std::string& data) const {
    const int memfd = ::memfd_create("journal-data", MFD_ALLOW_SEALING | MFD_CLOEXEC);
    if (memfd < 0) return -errno;
    int result = 0;
    for (size_t written = 0; written < data.size() && result == 0;) {
      ssize_t n = ::write(memfd, data.data() + written, data.size() - written);
      if (n >= 0) written += static_cast<size_t>(n);
      else if (errno != EINTR) result = -errno;
    }
    if (result == 0 && ::fcntl(memfd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL) != 0) {
      result = -errno;
    }
    if (result == 0) {
      alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
      msghdr message{};
      message.msg_name = const_cast<sockaddr_un*>(&address_);
      message.msg_namelen = kAddressLength;
      message.msg_control = control;
      message.msg_controllen = sizeof control;
      cmsghdr* header = CMSG_FIRSTHDR(&message);
      header->cmsg_level = SOL_SOCKET;
      header->cmsg_type = SCM_RIGHTS;
      header->cmsg_len = CMSG_LEN(sizeof(int));
      std::memcpy(CMSG_DATA(header), &memfd, sizeof(int));
      while (::sendmsg(fd_, &message, MSG_NOSIGNAL) < 0 && result == 0) {
        if (errno != EINTR) result = -errno;
      }
    }
    ::close(memfd);
    return result;
  }

  static constexpr socklen_t kAddressLength =
      static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + std::char_traits<char>::length(kJournalSocket) + 1);

  int fd_;
  sockaddr_un address_{AF_UNIX, {}};
};

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
  const int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return Error{std::string("cannot open a socket for the journal: ") + std::strerror(errno)};
  // Root may go past net.core.wmem_max; anyone else gets what it allows.
  if (::setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &kSendBufferBytes, sizeof kSendBufferBytes) != 0) {
    ::setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &kSendBufferBytes, sizeof kSendBufferBytes);
  }
  auto journal = std::make_shared<const NativeJournal>(fd);
  return JournalSender([journal](const std::vector<std::string>& entry) { return journal->send(entry); });
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
