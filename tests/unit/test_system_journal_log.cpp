#include <doctest/doctest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "nicsync/log.hpp"
#include "system/journal_fields.hpp"

using nicsync::JournalStream;
using nicsync::LogLevel;

namespace {

using Entry = std::vector<std::string>;

/// journald's rule for a field a client may send (journal_field_valid() in systemd): 1 to 64
/// characters of A-Z, 0-9 and '_', not starting with a digit or '_'.
bool valid_journal_field_name(const std::string& name) {
  if (name.empty() || name.size() > 64) return false;
  if (name[0] == '_' || (name[0] >= '0' && name[0] <= '9')) return false;
  for (char c : name) {
    if (!((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_')) return false;
  }
  return true;
}

/// A sender that records every entry and answers with `result`.
struct FakeJournal {
  std::vector<Entry> entries;
  int result = 0;
  nicsync::JournalSender sender() {
    return [this](const Entry& entry) {
      entries.push_back(entry);
      return result;
    };
  }
};

/// Sets (or, with nullopt, unsets) $JOURNAL_STREAM and puts back the value it had.
class JournalStreamVariable {
 public:
  explicit JournalStreamVariable(const std::optional<std::string>& value) {
    if (const char* old = std::getenv("JOURNAL_STREAM")) saved_ = old;
    if (value) {
      ::setenv("JOURNAL_STREAM", value->c_str(), 1);
    } else {
      ::unsetenv("JOURNAL_STREAM");
    }
  }
  ~JournalStreamVariable() {
    if (saved_) {
      ::setenv("JOURNAL_STREAM", saved_->c_str(), 1);
    } else {
      ::unsetenv("JOURNAL_STREAM");
    }
  }
  JournalStreamVariable(const JournalStreamVariable&) = delete;
  JournalStreamVariable& operator=(const JournalStreamVariable&) = delete;

 private:
  std::optional<std::string> saved_;
};

struct stat stat_of_stderr() {
  struct stat st {};
  REQUIRE(::fstat(STDERR_FILENO, &st) == 0);
  return st;
}

std::string device_inode(unsigned long long device, unsigned long long inode) {
  return std::to_string(device) + ":" + std::to_string(inode);
}

}  // namespace

TEST_SUITE("system::journal_log") {

TEST_CASE("field names get the NICSYNC_ prefix; upper-case names pass unchanged") {
  CHECK(nicsync::journal_field_name("VENDOR") == "NICSYNC_VENDOR");
  CHECK(nicsync::journal_field_name("INSTANCE_ID") == "NICSYNC_INSTANCE_ID");
  CHECK(nicsync::journal_field_name("IPV4_2") == "NICSYNC_IPV4_2");
}

TEST_CASE("field names: lower case is upper-cased, anything else outside A-Z 0-9 _ becomes _") {
  CHECK(nicsync::journal_field_name("interface") == "NICSYNC_INTERFACE");
  CHECK(nicsync::journal_field_name("instance id") == "NICSYNC_INSTANCE_ID");
  CHECK(nicsync::journal_field_name("a=b") == "NICSYNC_A_B");
  CHECK(nicsync::journal_field_name("a\nb") == "NICSYNC_A_B");
  CHECK(nicsync::journal_field_name(std::string("a\0b", 3)) == "NICSYNC_A_B");
  CHECK(nicsync::journal_field_name("mac-address.0") == "NICSYNC_MAC_ADDRESS_0");
  CHECK(nicsync::journal_field_name("\xc3\xa9") == "NICSYNC___");  // "é": two bytes, two underscores
}

TEST_CASE("field names: a leading digit or underscore is fine behind the prefix; empty is UNNAMED") {
  CHECK(nicsync::journal_field_name("1ST") == "NICSYNC_1ST");
  CHECK(nicsync::journal_field_name("_SOURCE") == "NICSYNC__SOURCE");
  CHECK(nicsync::journal_field_name("") == "NICSYNC_UNNAMED");
}

TEST_CASE("field names are cut to journald's 64 characters") {
  CHECK(nicsync::journal_field_name(std::string(56, 'X')) == "NICSYNC_" + std::string(56, 'X'));
  CHECK(nicsync::journal_field_name(std::string(57, 'X')) == "NICSYNC_" + std::string(56, 'X'));
  CHECK(nicsync::journal_field_name(std::string(500, 'x')) == "NICSYNC_" + std::string(56, 'X'));
}

TEST_CASE("every field name made is one journald accepts") {
  std::vector<std::string> names = {"VENDOR", "", "1", "_", "__", "a b", "\n", "=", "\xff\xfe", "x=y\nz"};
  names.push_back(std::string(1, '\0'));
  names.push_back(std::string(200, '-'));
  for (int c = 1; c < 256; ++c) names.push_back(std::string(1, static_cast<char>(c)));
  for (const std::string& name : names) {
    CAPTURE(name);
    CHECK(valid_journal_field_name(nicsync::journal_field_name(name)));
  }
}

TEST_CASE("an entry: MESSAGE, PRIORITY, SYSLOG_IDENTIFIER, then one NICSYNC_ item per field") {
  Entry entry = nicsync::journal_entry(
      LogLevel::info, "wrote /etc/netplan/90-nicsync.yaml",
      {{"VENDOR", "aws"}, {"INTERFACE", "eth1"}, {"FILE", "/etc/netplan/90-nicsync.yaml"}});
  CHECK(entry == Entry{"MESSAGE=wrote /etc/netplan/90-nicsync.yaml", "PRIORITY=6",
                       "SYSLOG_IDENTIFIER=nicsync", "NICSYNC_VENDOR=aws", "NICSYNC_INTERFACE=eth1",
                       "NICSYNC_FILE=/etc/netplan/90-nicsync.yaml"});
}

TEST_CASE("priorities: info 6, warning 4, error 3") {
  CHECK(nicsync::journal_entry(LogLevel::info, "m", {})[1] == "PRIORITY=6");
  CHECK(nicsync::journal_entry(LogLevel::warning, "m", {})[1] == "PRIORITY=4");
  CHECK(nicsync::journal_entry(LogLevel::error, "m", {})[1] == "PRIORITY=3");
}

TEST_CASE("values and the message keep every byte: newlines, '=', NUL, non-UTF-8") {
  const std::string value("line one\nline two=2\0end\xff", 24);
  Entry entry = nicsync::journal_entry(LogLevel::warning, "two\nlines", {{"DETAIL", value}, {"EMPTY", ""}});
  CHECK(entry == Entry{"MESSAGE=two\nlines", "PRIORITY=4", "SYSLOG_IDENTIFIER=nicsync",
                       "NICSYNC_DETAIL=" + value, "NICSYNC_EMPTY="});
}

TEST_CASE("the journal log sends one entry per call and writes nothing to the fallback") {
  FakeJournal journal;
  std::ostringstream fallback;
  auto log = nicsync::make_journal_log(journal.sender(), fallback);
  log->info("added 172.31.45.7/32 to eth1", {{"INTERFACE", "eth1"}});
  log->error("cannot write /etc/netplan/90-nicsync.yaml");
  REQUIRE(journal.entries.size() == 2);
  CHECK(journal.entries[0] == Entry{"MESSAGE=added 172.31.45.7/32 to eth1", "PRIORITY=6",
                                    "SYSLOG_IDENTIFIER=nicsync", "NICSYNC_INTERFACE=eth1"});
  CHECK(journal.entries[1] == Entry{"MESSAGE=cannot write /etc/netplan/90-nicsync.yaml", "PRIORITY=3",
                                    "SYSLOG_IDENTIFIER=nicsync"});
  CHECK(fallback.str() == "");
}

TEST_CASE("an entry the journal refuses is written as a plain line instead, every time") {
  FakeJournal journal;
  journal.result = -ECONNREFUSED;
  std::ostringstream fallback;
  auto log = nicsync::make_journal_log(journal.sender(), fallback);
  log->info("wrote /etc/netplan/90-nicsync.yaml", {{"FILE", "/etc/netplan/90-nicsync.yaml"}});
  log->warning("eth2 has no metadata");
  log->error("no supported cloud detected");
  CHECK(journal.entries.size() == 3);
  CHECK(fallback.str() ==
        "nicsync: wrote /etc/netplan/90-nicsync.yaml\n"
        "nicsync: warning: eth2 has no metadata\n"
        "nicsync: error: no supported cloud detected\n");
}

TEST_CASE("a refused entry does not stop the next one from going to the journal") {
  FakeJournal journal;
  journal.result = -EAGAIN;
  std::ostringstream fallback;
  auto log = nicsync::make_journal_log(journal.sender(), fallback);
  log->info("first");
  journal.result = 0;
  log->info("second");
  CHECK(journal.entries.size() == 2);
  CHECK(fallback.str() == "nicsync: first\n");
}

TEST_CASE("the journal is opened at the first entry, not before, and only once") {
  FakeJournal journal;
  std::ostringstream fallback;
  int opened = 0;
  auto log = nicsync::make_journal_log(nicsync::JournalOpener([&]() -> nicsync::Result<nicsync::JournalSender> {
                                         ++opened;
                                         return journal.sender();
                                       }),
                                       fallback);
  CHECK(opened == 0);
  log->info("first");
  log->info("second");
  CHECK(opened == 1);
  CHECK(journal.entries.size() == 2);
  CHECK(fallback.str() == "");
}

TEST_CASE("a journal that cannot be opened: one warning saying why, then every entry as a plain line") {
  std::ostringstream fallback;
  int opened = 0;
  auto log = nicsync::make_journal_log(
      nicsync::JournalOpener([&]() -> nicsync::Result<nicsync::JournalSender> {
        ++opened;
        return nicsync::Error{"cannot open a socket for the journal: Too many open files"};
      }),
      fallback);
  log->info("wrote /etc/netplan/90-nicsync.yaml", {{"FILE", "/etc/netplan/90-nicsync.yaml"}});
  log->error("no supported cloud detected");
  CHECK(opened == 1);
  CHECK(fallback.str() ==
        "nicsync: warning: cannot open a socket for the journal: Too many open files; logging plain lines "
        "instead\n"
        "nicsync: wrote /etc/netplan/90-nicsync.yaml\n"
        "nicsync: error: no supported cloud detected\n");
}

TEST_CASE("$JOURNAL_STREAM: device and inode in decimal, separated by a colon") {
  CHECK(nicsync::parse_journal_stream("8:306630") == JournalStream{8, 306630});
  CHECK(nicsync::parse_journal_stream("0:0") == JournalStream{0, 0});
  CHECK(nicsync::parse_journal_stream("18446744073709551615:18446744073709551615") ==
        JournalStream{18446744073709551615ULL, 18446744073709551615ULL});
}

TEST_CASE("$JOURNAL_STREAM: anything else is not a journal stream") {
  for (const char* text : {"", ":", "8", "8:", ":306630", "8:306630:1", " 8:306630", "8:306630 ",
                           "8:306630\n", "+8:306630", "-8:306630", "8:-1", "0x8:306630", "8.0:306630",
                           "8;306630", "a:b", "18446744073709551616:1", "1:18446744073709551616"}) {
    CAPTURE(text);
    CHECK(nicsync::parse_journal_stream(text) == std::nullopt);
  }
}

TEST_CASE("stderr is the journal when $JOURNAL_STREAM names the device and inode of fd 2") {
  struct stat st = stat_of_stderr();
  JournalStreamVariable variable(device_inode(st.st_dev, st.st_ino));
  CHECK(nicsync::stderr_is_journal());
}

TEST_CASE("stderr is not the journal without $JOURNAL_STREAM") {
  JournalStreamVariable variable(std::nullopt);
  CHECK_FALSE(nicsync::stderr_is_journal());
}

TEST_CASE("stderr is not the journal when $JOURNAL_STREAM names another file") {
  struct stat st = stat_of_stderr();
  SUBCASE("another inode") {
    JournalStreamVariable variable(device_inode(st.st_dev, st.st_ino + 1));
    CHECK_FALSE(nicsync::stderr_is_journal());
  }
  SUBCASE("another device") {
    JournalStreamVariable variable(device_inode(st.st_dev + 1, st.st_ino));
    CHECK_FALSE(nicsync::stderr_is_journal());
  }
  SUBCASE("device and inode swapped") {
    if (st.st_dev != st.st_ino) {
      JournalStreamVariable variable(device_inode(st.st_ino, st.st_dev));
      CHECK_FALSE(nicsync::stderr_is_journal());
    }
  }
}

TEST_CASE("stderr is not the journal when $JOURNAL_STREAM is malformed") {
  struct stat st = stat_of_stderr();
  for (const std::string& text :
       {std::string(""), std::string("journal"), std::to_string(st.st_ino),
        device_inode(st.st_dev, st.st_ino) + ":", device_inode(st.st_dev, st.st_ino) + " ",
        " " + device_inode(st.st_dev, st.st_ino)}) {
    CAPTURE(text);
    JournalStreamVariable variable(text);
    CHECK_FALSE(nicsync::stderr_is_journal());
  }
}

TEST_CASE("the helper of these cases puts $JOURNAL_STREAM back as it was") {
  const char* before = std::getenv("JOURNAL_STREAM");
  std::optional<std::string> saved = before ? std::optional<std::string>(before) : std::nullopt;
  { JournalStreamVariable variable("1:2"); }
  const char* after = std::getenv("JOURNAL_STREAM");
  CHECK((after ? std::optional<std::string>(after) : std::nullopt) == saved);
}

}  // TEST_SUITE
