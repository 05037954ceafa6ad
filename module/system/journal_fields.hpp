#pragma once
/// The pieces of the journal log (module/system/journal_log.cpp) that tests reach directly: the
/// entry as journald will receive it, and the log with its sender and fallback stream replaced.

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include "nicsync/log.hpp"
#include "nicsync/result.hpp"

namespace nicsync {

/// "NICSYNC_<name>" made a valid journal field name: lower-case letters upper-cased, every other
/// character outside A-Z, 0-9 and '_' replaced by '_', cut to journald's 64 characters; an
/// empty name becomes NICSYNC_UNNAMED.
std::string journal_field_name(std::string_view name);

/// One entry as "KEY=value" items, in this order: MESSAGE, PRIORITY (6, 4 or 3),
/// SYSLOG_IDENTIFIER=nicsync, then one NICSYNC_* item per field. Values are kept byte for byte.
std::vector<std::string> journal_entry(LogLevel level, std::string_view message,
                                       const std::vector<LogField>& fields);

/// Hands one entry to journald; 0 on success, a negative errno otherwise.
using JournalSender = std::function<int(const std::vector<std::string>& entry)>;

/// Makes the sender, or says why the journal cannot be used.
using JournalOpener = std::function<Result<JournalSender>()>;

/// The real opener: a datagram socket (send buffer 8 MiB where allowed) and a sender that writes
/// each entry in journald's native protocol to /run/systemd/journal/socket: items KEY=value, a
/// value holding a newline in the binary form, an entry too large for a datagram as a sealed
/// memfd. The error is "cannot open a socket for the journal: ...". The sender fails with
/// -ENOENT when /run/systemd/journal/socket is not a socket, and with the send's error (say
/// -ECONNREFUSED when nobody reads the socket).
Result<JournalSender> open_journal();

/// The journal log, calling `open` at its first entry (not before); when `open` fails, it writes
/// one warning with the error to `fallback`, then that entry and every later one as plain lines.
/// An entry the sender refuses is written to `fallback` as the plain line of make_stream_log.
std::unique_ptr<Log> make_journal_log(JournalOpener open, std::ostream& fallback);

/// The journal log with its sender replaced (make_journal_log(JournalOpener, ...) that opens `send`).
std::unique_ptr<Log> make_journal_log(JournalSender send, std::ostream& fallback);

/// Device and inode of a $JOURNAL_STREAM value ("<device>:<inode>", both decimal); nullopt for
/// anything else.
struct JournalStream {
  std::uint64_t device = 0;
  std::uint64_t inode = 0;
  bool operator==(const JournalStream&) const = default;
};
std::optional<JournalStream> parse_journal_stream(std::string_view text);

}  // namespace nicsync
