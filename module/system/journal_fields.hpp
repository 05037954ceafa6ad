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

namespace nicsync {

/// "NICSYNC_<name>" made a valid journal field name: lower-case letters upper-cased, every other
/// character outside A-Z, 0-9 and '_' replaced by '_', cut to journald's 64 characters; an
/// empty name becomes NICSYNC_UNNAMED.
std::string journal_field_name(std::string_view name);

/// One entry as "KEY=value" items, in this order: MESSAGE, PRIORITY (6, 4 or 3),
/// SYSLOG_IDENTIFIER=nicsync, then one NICSYNC_* item per field. Values are kept byte for byte.
std::vector<std::string> journal_entry(LogLevel level, std::string_view message,
                                       const std::vector<LogField>& fields);

/// Hands one entry to journald; 0 on success, a negative errno otherwise (sd_journal_sendv's
/// convention).
using JournalSender = std::function<int(const std::vector<std::string>& entry)>;

/// The real sender: sd_journal_sendv. Fails with -ENOENT when /run/systemd/journal/socket is not
/// a socket, where sd_journal_sendv would report success and drop the entry.
int send_to_journal(const std::vector<std::string>& entry);

/// The journal log with its sender replaced; an entry the sender refuses is written to
/// `fallback` as the plain line of make_stream_log.
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
