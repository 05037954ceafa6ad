// Test-only program for tests/log/test_journal_log.py: logs through make_journal_log(), so the
// test can read what arrives on a journal socket of its own.
//
//   nicsync-journal-probe log                the fixed entries the test expects
//   nicsync-journal-probe large <bytes>      one entry with a field of <bytes> 'x'
//   nicsync-journal-probe stderr-is-journal  prints "yes" or "no" (stderr_is_journal())

#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "nicsync/log.hpp"

namespace {

void log_fixed_entries(nicsync::Log& log) {
  log.info(
      "wrote /etc/netplan/90-nicsync.yaml",
      {{"VENDOR", "aws"}, {"INSTANCE_ID", "i-0123456789abcdef0"}, {"FILE", "/etc/netplan/90-nicsync.yaml"}});
  log.info("added 172.31.45.7/32 to eth1",
           {{"VENDOR", "aws"}, {"INTERFACE", "eth1"}, {"ACTION", "add-address"}});
  log.warning("eth2: the metadata lists no address",
              {{"INTERFACE", "eth2"}, {"DETAIL", "first line\nsecond line"}});
  log.error("cannot reach the metadata service\nafter 3 tries",
            {{"SOURCE", "http://169.254.169.254/latest/meta-data/"}, {"interface name", "eth0"}});
  log.info("done: 2 changes, 1 warning, 1 error");
}

}  // namespace

int main(int argc, char** argv) {
  std::string_view mode = argc >= 2 ? argv[1] : "";
  if (mode == "log" && argc == 2) {
    log_fixed_entries(*nicsync::make_journal_log());
    return 0;
  }
  if (mode == "large" && argc == 3) {
    nicsync::make_journal_log()->info("large entry",
                                      {{"BLOB", std::string(std::strtoul(argv[2], nullptr, 10), 'x')}});
    return 0;
  }
  if (mode == "stderr-is-journal" && argc == 2) {
    std::puts(nicsync::stderr_is_journal() ? "yes" : "no");
    return 0;
  }
  (void)std::fputs("usage: nicsync-journal-probe log | large <bytes> | stderr-is-journal\n", stderr);
  return 2;
}
