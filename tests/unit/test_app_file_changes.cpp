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
    CHECK(result.error().message == "cannot write /etc/x: No space left on device");
  }

}
