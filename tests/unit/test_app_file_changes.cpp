#include <doctest/doctest.h>

#include "app/file_changes.hpp"
#include "fake_filesystem.hpp"

using namespace nicsync;

namespace {

const std::string kOurs = std::string(kOwnershipMarker) + " ...\nbody\n";

RenderedFile file(const std::string& path, const std::string& content,
                  WritePolicy policy = WritePolicy::replace_owned, unsigned mode = 0644) {
  return RenderedFile{path, content, mode, policy};
}

}  // namespace

TEST_SUITE("app::file_changes") {
  TEST_CASE("creates missing files, records them in the state, and a rerun changes nothing") {
    test::FakeFileSystem fs;
    std::vector<RenderedFile> files{file("/etc/netplan/90-nicsync.yaml", kOurs, WritePolicy::replace_owned, 0600)};
    auto changes = *plan_file_changes(fs, files, State{});
    REQUIRE(changes.size() == 1);
    CHECK(changes[0].action == FileAction::create);
    REQUIRE(apply_file_changes(fs, changes).ok());
    CHECK(fs.files_written == std::vector<std::string>{"/etc/netplan/90-nicsync.yaml"});
    CHECK(fs.files["/etc/netplan/90-nicsync.yaml"].mode == 0600);
    CHECK(owned_files(changes) == std::vector<std::string>{"/etc/netplan/90-nicsync.yaml"});

    fs.files_written.clear();
    State state{owned_files(changes), {}};
    auto again = *plan_file_changes(fs, files, state);
    CHECK(again[0].action == FileAction::unchanged);
    REQUIRE(apply_file_changes(fs, again).ok());
    CHECK(fs.files_written.empty());
    CHECK(owned_files(again) == state.files);
  }

  TEST_CASE("never replaces a file nicsync did not write") {
    test::FakeFileSystem fs;
    fs.add("/etc/sysconfig/network-scripts/ifcfg-eth1", "DEVICE=eth1\n");
    auto changes = *plan_file_changes(fs, {file("/etc/sysconfig/network-scripts/ifcfg-eth1", kOurs)}, State{});
    CHECK(changes[0].action == FileAction::skip_foreign);
    REQUIRE(apply_file_changes(fs, changes).ok());
    CHECK(fs.files["/etc/sysconfig/network-scripts/ifcfg-eth1"].content == "DEVICE=eth1\n");
    CHECK(fs.files_written.empty());
    CHECK(owned_files(changes).empty());
  }

  TEST_CASE("create-only files are kept when present") {
    test::FakeFileSystem fs;
    fs.add("/etc/sysconfig/network-scripts/ifcfg-eth0", "DEVICE=eth0\nBOOTPROTO=dhcp\n");
    auto changes = *plan_file_changes(
        fs, {file("/etc/sysconfig/network-scripts/ifcfg-eth0", kOurs, WritePolicy::create_only)}, State{});
    CHECK(changes[0].action == FileAction::skip_existing);
  }

  TEST_CASE("replaces its own file when the content differs") {
    test::FakeFileSystem fs;
    fs.add("/etc/x", kOurs + "old\n");
    auto changes = *plan_file_changes(fs, {file("/etc/x", kOurs)}, State{{"/etc/x"}, {}});
    CHECK(changes[0].action == FileAction::replace);
    CHECK(changes[0].before == kOurs + "old\n");
  }

  TEST_CASE("removes its own files that are no longer wanted, but not foreign ones") {
    test::FakeFileSystem fs;
    fs.add("/etc/sysconfig/network-scripts/ifcfg-eth0:1", kOurs);
    fs.add("/etc/sysconfig/network-scripts/ifcfg-eth0:2", "hand-made\n");
    State previous{{"/etc/sysconfig/network-scripts/ifcfg-eth0:1", "/etc/sysconfig/network-scripts/ifcfg-eth0:2"}, {}};
    auto changes = *plan_file_changes(fs, {}, previous);
    REQUIRE(changes.size() == 1);
    CHECK(changes[0].action == FileAction::remove);
    CHECK(changes[0].path == "/etc/sysconfig/network-scripts/ifcfg-eth0:1");
    REQUIRE(apply_file_changes(fs, changes).ok());
    CHECK(fs.files_removed == std::vector<std::string>{"/etc/sysconfig/network-scripts/ifcfg-eth0:1"});
    CHECK(fs.files.count("/etc/sysconfig/network-scripts/ifcfg-eth0:2") == 1);
    CHECK(owned_files(changes).empty());
  }

  TEST_CASE("a write failure is reported with the path") {
    test::FakeFileSystem fs;
    fs.failing_paths.insert("/etc/x");
    auto changes = *plan_file_changes(fs, {file("/etc/x", kOurs)}, State{});
    auto result = apply_file_changes(fs, changes);
    REQUIRE_FALSE(result.ok());
    CHECK(result.error().message == "cannot write /etc/x: No space left on device; nothing was changed");
  }

  TEST_CASE("all changes go in one commit, with the writes of the same transaction last") {
    test::FakeFileSystem fs;
    fs.add("/etc/a", kOurs + "old\n");
    fs.add("/etc/gone", kOurs);
    State previous{{"/etc/a", "/etc/gone"}, {}};
    auto changes = *plan_file_changes(fs, {file("/etc/a", kOurs), file("/etc/b", kOurs, WritePolicy::replace_owned, 0600)},
                                      previous);
    REQUIRE(apply_file_changes(fs, changes, {FileWrite{"/var/lib/nicsync/state.json", "{}\n", 0644}}).ok());
    REQUIRE(fs.commits.size() == 1);
    const std::vector<FileWrite>& writes = fs.commits[0];
    REQUIRE(writes.size() == 4);
    CHECK(writes[0].path == "/etc/a");
    CHECK(writes[1].path == "/etc/b");
    CHECK(writes[1].mode == 0600);
    CHECK(writes[2].path == "/etc/gone");
    CHECK_FALSE(writes[2].content.has_value());
    CHECK(writes[3].path == "/var/lib/nicsync/state.json");
    CHECK(fs.files_written == std::vector<std::string>{"/etc/a", "/etc/b", "/var/lib/nicsync/state.json"});
    CHECK(fs.files_removed == std::vector<std::string>{"/etc/gone"});
  }

  TEST_CASE("nothing to change: no commit at all") {
    test::FakeFileSystem fs;
    fs.add("/etc/a", kOurs);
    auto changes = *plan_file_changes(fs, {file("/etc/a", kOurs)}, State{{"/etc/a"}, {}});
    REQUIRE(apply_file_changes(fs, changes).ok());
    CHECK(fs.commits.empty());
  }

  TEST_CASE("a later file that cannot be staged (disk full) leaves every file and the state as before") {
    test::FakeFileSystem fs;
    fs.add("/etc/sysconfig/network-scripts/ifcfg-eth1", kOurs + "old\n");
    fs.add("/etc/sysconfig/network-scripts/route-eth2", kOurs);
    fs.add("/var/lib/nicsync/state.json", "old state\n");
    const auto before = fs.files;
    fs.fail_write("/etc/sysconfig/network-scripts/rule-eth1", "No space left on device");
    State previous{{"/etc/sysconfig/network-scripts/ifcfg-eth1", "/etc/sysconfig/network-scripts/route-eth2"}, {}};
    auto changes = *plan_file_changes(fs,
                                      {file("/etc/sysconfig/network-scripts/ifcfg-eth1", kOurs),
                                       file("/etc/sysconfig/network-scripts/rule-eth1", kOurs)},
                                      previous);
    auto result = apply_file_changes(fs, changes, {FileWrite{"/var/lib/nicsync/state.json", "new state\n", 0644}});
    REQUIRE_FALSE(result.ok());
    CHECK(result.error().message ==
          "cannot write /etc/sysconfig/network-scripts/rule-eth1: No space left on device; nothing was changed");
    CHECK(fs.files == before);
    CHECK(fs.files_written.empty());
    CHECK(fs.files_removed.empty());
  }

  TEST_CASE("a rename that fails after earlier ones worked puts the earlier files back") {
    test::FakeFileSystem fs;
    fs.add("/etc/netplan/90-nicsync.yaml", kOurs + "old\n", 0600);
    fs.add("/etc/sysconfig/network-scripts/ifcfg-eth9", kOurs);
    const auto before = fs.files;
    fs.fail_rename("/var/lib/nicsync/state.json", "Read-only file system");
    State previous{{"/etc/netplan/90-nicsync.yaml", "/etc/sysconfig/network-scripts/ifcfg-eth9"}, {}};
    auto changes = *plan_file_changes(
        fs, {file("/etc/netplan/90-nicsync.yaml", kOurs, WritePolicy::replace_owned, 0600), file("/etc/new", kOurs)},
        previous);
    auto result = apply_file_changes(fs, changes, {FileWrite{"/var/lib/nicsync/state.json", "{}\n", 0644}});
    REQUIRE_FALSE(result.ok());
    CHECK(result.error().message == "cannot replace /var/lib/nicsync/state.json: Read-only file system; nothing was changed");
    CHECK(fs.files == before);
    CHECK(fs.files.count("/etc/new") == 0);
    CHECK(fs.files_written.empty());
  }

  TEST_CASE("a symbolic link at nicsync's own file is an error when planning, and its target is untouched") {
    test::FakeFileSystem fs;
    fs.add("/tmp/victim", "precious\n");
    fs.add_symlink("/etc/netplan/90-nicsync.yaml", "/tmp/victim");
    auto planned = plan_file_changes(fs, {file("/etc/netplan/90-nicsync.yaml", kOurs)}, State{});
    REQUIRE_FALSE(planned.ok());
    CHECK(planned.error().message == "refusing to read /etc/netplan/90-nicsync.yaml: it is a symbolic link");
    CHECK(fs.files["/tmp/victim"].content == "precious\n");
  }

  TEST_CASE("a directory that fails the ownership check is an error when planning") {
    test::FakeFileSystem fs;
    fs.make_unsafe("/etc/netplan", "is writable by others (mode 0777)");
    auto planned = plan_file_changes(fs, {file("/etc/netplan/90-nicsync.yaml", kOurs)}, State{});
    REQUIRE_FALSE(planned.ok());
    CHECK(planned.error().message ==
          "refusing to read /etc/netplan/90-nicsync.yaml: /etc/netplan is writable by others (mode 0777)");
  }

}
