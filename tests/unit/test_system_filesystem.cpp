// The real FileSystem on a temporary root: all-or-nothing commits, the directory checks and
// symbolic links. Runs as root (chown to another uid).
#include <doctest/doctest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "nicsync/filesystem.hpp"

using nicsync::FileWrite;

namespace {

namespace stdfs = std::filesystem;

/// A fresh directory under /tmp (mkdtemp), removed with everything in it at the end.
class TempDirectory {
 public:
  TempDirectory() {
    std::string pattern = "/tmp/nicsync-fs-test-XXXXXX";
    REQUIRE(::mkdtemp(pattern.data()) != nullptr);
    path_ = pattern;
  }
  ~TempDirectory() {
    std::error_code ignored;
    stdfs::remove_all(path_, ignored);
  }
  TempDirectory(const TempDirectory&) = delete;
  TempDirectory& operator=(const TempDirectory&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

/// Sets the umask for a scope.
class Umask {
 public:
  explicit Umask(mode_t mask) : old_(::umask(mask)) {}
  ~Umask() { ::umask(old_); }
  Umask(const Umask&) = delete;
  Umask& operator=(const Umask&) = delete;

 private:
  mode_t old_;
};

void put(const std::string& path, const std::string& content, mode_t mode = 0644) {
  stdfs::create_directories(stdfs::path(path).parent_path());
  std::ofstream(path, std::ios::binary) << content;
  REQUIRE(::chmod(path.c_str(), mode) == 0);
}

std::string content_of(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

mode_t mode_of(const std::string& path) {
  struct stat st {};
  REQUIRE(::lstat(path.c_str(), &st) == 0);
  return st.st_mode & 07777;
}

bool is_symlink(const std::string& path) { return stdfs::is_symlink(stdfs::symlink_status(path)); }

/// Every entry under `directory` (relative, sorted), symbolic links not followed.
std::vector<std::string> tree(const std::string& directory) {
  std::vector<std::string> names;
  for (const auto& entry : stdfs::recursive_directory_iterator(directory)) {
    names.push_back(stdfs::relative(entry.path(), directory).string());
  }
  std::sort(names.begin(), names.end());
  return names;
}

/// True when no temporary file or backup (".nicsync-XXXXXX") is left anywhere under `directory`.
bool no_leftovers(const std::string& directory) {
  for (const std::string& name : tree(directory)) {
    if (name.find(".nicsync-") != std::string::npos) {
      FAIL_CHECK("left behind: " << name);
      return false;
    }
  }
  return true;
}

template <typename T>
std::string error_of(const nicsync::Result<T>& result) {
  REQUIRE_FALSE(result.ok());
  return result.error().message;
}

}  // namespace

TEST_SUITE("system::real_filesystem") {

TEST_CASE("a commit writes and removes several files, in new and existing directories") {
  TempDirectory root;
  put(root.path() + "/etc/sysconfig/network-scripts/ifcfg-eth2", "old eth2\n");
  auto fs = nicsync::make_real_filesystem(root.path());
  REQUIRE(fs->commit({
                         FileWrite{"/etc/netplan/90-nicsync.yaml", "network: {}\n", 0600},
                         FileWrite{"/etc/sysconfig/network-scripts/ifcfg-eth1", "DEVICE=eth1\n", 0644},
                         FileWrite{"/etc/sysconfig/network-scripts/ifcfg-eth2", std::nullopt, 0},
                         FileWrite{"/var/lib/nicsync/state.json", "{}\n", 0644},
                         FileWrite{"/etc/sysconfig/network-scripts/ifcfg-eth9", std::nullopt, 0},  // missing
                     })
              .ok());
  CHECK(content_of(root.path() + "/etc/netplan/90-nicsync.yaml") == "network: {}\n");
  CHECK(content_of(root.path() + "/etc/sysconfig/network-scripts/ifcfg-eth1") == "DEVICE=eth1\n");
  CHECK(content_of(root.path() + "/var/lib/nicsync/state.json") == "{}\n");
  CHECK_FALSE(stdfs::exists(root.path() + "/etc/sysconfig/network-scripts/ifcfg-eth2"));
  CHECK(mode_of(root.path() + "/var/lib/nicsync") == 0755);
  CHECK(no_leftovers(root.path()));
}

TEST_CASE("modes are exactly the ones asked for, new directories 0755, whatever the umask") {
  TempDirectory root;
  Umask umask(0077);
  auto fs = nicsync::make_real_filesystem(root.path());
  REQUIRE(fs->commit({FileWrite{"/etc/a/one", "1\n", 0644}, FileWrite{"/etc/a/two", "2\n", 0640},
                      FileWrite{"/etc/a/three", "3\n", 0600}})
              .ok());
  CHECK(mode_of(root.path() + "/etc/a/one") == 0644);
  CHECK(mode_of(root.path() + "/etc/a/two") == 0640);
  CHECK(mode_of(root.path() + "/etc/a/three") == 0600);
  CHECK(mode_of(root.path() + "/etc") == 0755);
  CHECK(mode_of(root.path() + "/etc/a") == 0755);
  REQUIRE(fs->write_file_atomic("/etc/a/one", "1 again\n", 0600).ok());
  CHECK(mode_of(root.path() + "/etc/a/one") == 0600);
  CHECK(content_of(root.path() + "/etc/a/one") == "1 again\n");
  CHECK(no_leftovers(root.path()));
}

TEST_CASE("a failure while staging changes nothing: no file, no temporary file, no new directory") {
  TempDirectory root;
  put(root.path() + "/etc/netplan/90-nicsync.yaml", "old\n", 0600);
  put(root.path() + "/etc/blocked", "a file where a directory is wanted\n");
  const std::vector<std::string> before = tree(root.path());
  auto fs = nicsync::make_real_filesystem(root.path());
  auto result = fs->commit({
      FileWrite{"/etc/netplan/90-nicsync.yaml", "new\n", 0600},
      FileWrite{"/var/lib/nicsync/state.json", "{}\n", 0644},
      FileWrite{"/etc/blocked/ifcfg-eth1", "DEVICE=eth1\n", 0644},
  });
  CHECK(error_of(result) == "refusing to write " + root.path() + "/etc/blocked/ifcfg-eth1: " + root.path() +
                                "/etc/blocked is not a directory; nothing was changed");
  CHECK(content_of(root.path() + "/etc/netplan/90-nicsync.yaml") == "old\n");
  CHECK(mode_of(root.path() + "/etc/netplan/90-nicsync.yaml") == 0600);
  CHECK(tree(root.path()) == before);  // also: /var/lib/nicsync was created and removed again
}

TEST_CASE("a failed rename puts back the files already replaced or removed, byte for byte, with their modes") {
  TempDirectory root;
  const std::string etc = root.path() + "/etc/sysconfig/network-scripts";
  put(etc + "/ifcfg-eth1", "old eth1\n", 0600);
  put(etc + "/route-eth1", "old route\n", 0640);
  put(etc + "/ifcfg-eth3/inside", "makes ifcfg-eth3 a non-empty directory\n");
  const std::vector<std::string> before = tree(root.path());
  auto fs = nicsync::make_real_filesystem(root.path());
  auto result = fs->commit({
      FileWrite{"/etc/sysconfig/network-scripts/ifcfg-eth1", "new eth1\n", 0644},  // replaced
      FileWrite{"/etc/sysconfig/network-scripts/ifcfg-eth2", "new eth2\n", 0644},  // created
      FileWrite{"/etc/sysconfig/network-scripts/route-eth1", std::nullopt, 0},     // removed
      FileWrite{"/etc/sysconfig/network-scripts/ifcfg-eth3", "new eth3\n", 0644},  // rename fails
  });
  CHECK(error_of(result) == "cannot replace " + etc + "/ifcfg-eth3: Is a directory; nothing was changed");
  CHECK(content_of(etc + "/ifcfg-eth1") == "old eth1\n");
  CHECK(mode_of(etc + "/ifcfg-eth1") == 0600);
  CHECK(content_of(etc + "/route-eth1") == "old route\n");
  CHECK(mode_of(etc + "/route-eth1") == 0640);
  CHECK_FALSE(stdfs::exists(etc + "/ifcfg-eth2"));
  CHECK(tree(root.path()) == before);
  CHECK(no_leftovers(root.path()));
}

TEST_CASE("a symbolic link at the target is replaced itself, never followed; read_own_file refuses it") {
  TempDirectory root;
  TempDirectory outside;
  const std::string victim = outside.path() + "/victim";
  put(victim, "precious\n", 0600);
  const std::string target = root.path() + "/etc/netplan/90-nicsync.yaml";
  stdfs::create_directories(root.path() + "/etc/netplan");
  stdfs::create_symlink(victim, target);
  auto fs = nicsync::make_real_filesystem(root.path());

  auto own = fs->read_own_file("/etc/netplan/90-nicsync.yaml");
  REQUIRE_FALSE(own.ok());
  CHECK(own.error().message == "refusing to read " + target + ": it is a symbolic link");
  auto followed = fs->read_file("/etc/netplan/90-nicsync.yaml");  // read_file() follows links
  REQUIRE(followed.ok());
  CHECK(*followed == std::optional<std::string>("precious\n"));

  REQUIRE(fs->commit({FileWrite{"/etc/netplan/90-nicsync.yaml", "network: {}\n", 0600}}).ok());
  CHECK_FALSE(is_symlink(target));
  CHECK(content_of(target) == "network: {}\n");
  CHECK(content_of(victim) == "precious\n");
  CHECK(mode_of(victim) == 0600);

  stdfs::remove(target);
  stdfs::create_symlink(victim, target);
  REQUIRE(fs->remove_file("/etc/netplan/90-nicsync.yaml").ok());
  CHECK_FALSE(stdfs::exists(stdfs::symlink_status(target)));
  CHECK(content_of(victim) == "precious\n");
  CHECK(no_leftovers(root.path()));
}

TEST_CASE("a symbolic link to a directory on the way is refused, for writes, removals and reads") {
  TempDirectory root;
  TempDirectory outside;
  put(outside.path() + "/90-nicsync.yaml", "elsewhere\n");
  stdfs::create_directories(root.path() + "/etc");
  stdfs::create_directory_symlink(outside.path(), root.path() + "/etc/netplan");
  auto fs = nicsync::make_real_filesystem(root.path());
  const std::string why = root.path() + "/etc/netplan is a symbolic link";
  const std::string file = root.path() + "/etc/netplan/90-nicsync.yaml";
  CHECK(error_of(fs->commit({FileWrite{"/etc/netplan/90-nicsync.yaml", "new\n", 0644}})) ==
        "refusing to write " + file + ": " + why + "; nothing was changed");
  CHECK(error_of(fs->remove_file("/etc/netplan/90-nicsync.yaml")) == "refusing to remove " + file + ": " + why);
  auto read = fs->read_own_file("/etc/netplan/90-nicsync.yaml");
  REQUIRE_FALSE(read.ok());
  CHECK(read.error().message == "refusing to read " + file + ": " + why);
  CHECK(tree(outside.path()) == std::vector<std::string>{"90-nicsync.yaml"});
  CHECK(content_of(outside.path() + "/90-nicsync.yaml") == "elsewhere\n");
}

TEST_CASE("a directory writable by group or others is refused") {
  TempDirectory root;
  put(root.path() + "/etc/netplan/90-nicsync.yaml", "old\n");
  const std::string dir = root.path() + "/etc/netplan";
  const std::string file = dir + "/90-nicsync.yaml";
  auto fs = nicsync::make_real_filesystem(root.path());

  REQUIRE(::chmod(dir.c_str(), 0777) == 0);
  CHECK(error_of(fs->commit({FileWrite{"/etc/netplan/90-nicsync.yaml", "new\n", 0644}})) ==
        "refusing to write " + file + ": " + dir + " is writable by others (mode 0777); nothing was changed");
  CHECK(error_of(fs->write_file_atomic("/etc/netplan/90-nicsync.yaml", "new\n", 0644)) ==
        "refusing to write " + file + ": " + dir + " is writable by others (mode 0777)");
  auto read = fs->read_own_file("/etc/netplan/90-nicsync.yaml");
  REQUIRE_FALSE(read.ok());
  CHECK(read.error().message == "refusing to read " + file + ": " + dir + " is writable by others (mode 0777)");

  REQUIRE(::chmod(dir.c_str(), 01775) == 0);
  CHECK(error_of(fs->remove_file("/etc/netplan/90-nicsync.yaml")) ==
        "refusing to remove " + file + ": " + dir + " is writable by its group (mode 1775)");

  REQUIRE(::chmod((root.path() + "/etc").c_str(), 0757) == 0);
  REQUIRE(::chmod(dir.c_str(), 0755) == 0);
  CHECK(error_of(fs->write_file_atomic("/etc/netplan/90-nicsync.yaml", "new\n", 0644)) ==
        "refusing to write " + file + ": " + root.path() + "/etc is writable by others (mode 0757)");
  CHECK(content_of(file) == "old\n");
  CHECK(no_leftovers(root.path()));
}

TEST_CASE("a directory owned by another user is refused; the root directory itself is not checked") {
  REQUIRE_MESSAGE(::geteuid() == 0, "needs root to chown");
  TempDirectory root;
  put(root.path() + "/var/lib/nicsync/state.json", "{}\n");
  const std::string dir = root.path() + "/var/lib/nicsync";
  REQUIRE(::chown(dir.c_str(), 1000, 1000) == 0);
  auto fs = nicsync::make_real_filesystem(root.path());
  CHECK(error_of(fs->write_file_atomic("/var/lib/nicsync/state.json", "{\"files\": []}\n", 0644)) ==
        "refusing to write " + dir + "/state.json: " + dir + " is owned by uid 1000");
  auto read = fs->read_own_file("/var/lib/nicsync/state.json");
  REQUIRE_FALSE(read.ok());
  CHECK(read.error().message == "refusing to read " + dir + "/state.json: " + dir + " is owned by uid 1000");
  CHECK(content_of(dir + "/state.json") == "{}\n");

  REQUIRE(::chown(dir.c_str(), 0, 0) == 0);
  REQUIRE(::chown(root.path().c_str(), 1000, 1000) == 0);  // --root's own directory: the caller's choice
  REQUIRE(::chmod(root.path().c_str(), 0777) == 0);
  CHECK(fs->write_file_atomic("/var/lib/nicsync/state.json", "{\"files\": []}\n", 0644).ok());
  CHECK(content_of(dir + "/state.json") == "{\"files\": []}\n");
  CHECK(no_leftovers(root.path()));
}

TEST_CASE("read_own_file: the content, or nullopt for a missing file or directory; it creates nothing") {
  TempDirectory root;
  put(root.path() + "/var/lib/nicsync/state.json", "{}\n");
  auto fs = nicsync::make_real_filesystem(root.path());
  auto present = fs->read_own_file("/var/lib/nicsync/state.json");
  REQUIRE(present.ok());
  CHECK(*present == std::optional<std::string>("{}\n"));
  auto missing = fs->read_own_file("/var/lib/nicsync/metadata.json");
  REQUIRE(missing.ok());
  CHECK_FALSE(missing->has_value());
  auto no_directory = fs->read_own_file("/run/nicsync/refresh-needed");
  REQUIRE(no_directory.ok());
  CHECK_FALSE(no_directory->has_value());
  CHECK(fs->remove_file("/run/nicsync/refresh-needed").ok());
  CHECK_FALSE(stdfs::exists(root.path() + "/run"));
  auto directory = fs->read_own_file("/var/lib/nicsync");
  REQUIRE_FALSE(directory.ok());
  CHECK(directory.error().message == "refusing to read " + root.path() + "/var/lib/nicsync: it is not a regular file");
}

TEST_CASE("read_own_file walks a directory once per run, until a commit, which may create it") {
  TempDirectory root;
  put(root.path() + "/etc/d/a", "1\n");
  auto fs = nicsync::make_real_filesystem(root.path());
  auto before = fs->read_own_file("/run/nicsync/refresh-needed");
  REQUIRE(before.ok());
  CHECK_FALSE(before->has_value());
  REQUIRE(fs->write_file_atomic("/run/nicsync/refresh-needed", "", 0644).ok());
  auto after = fs->read_own_file("/run/nicsync/refresh-needed");
  REQUIRE(after.ok());
  CHECK(*after == std::optional<std::string>(""));

  // The checked directory stays open: swapping it for a symbolic link afterwards does not
  // lead a later read elsewhere.
  REQUIRE(*fs->read_own_file("/etc/d/a") == std::optional<std::string>("1\n"));
  put(root.path() + "/elsewhere/a", "2\n");
  put(root.path() + "/elsewhere/b", "3\n");
  stdfs::rename(root.path() + "/etc/d", root.path() + "/etc/d.old");
  stdfs::create_directory_symlink(root.path() + "/elsewhere", root.path() + "/etc/d");
  CHECK(*fs->read_own_file("/etc/d/a") == std::optional<std::string>("1\n"));
  CHECK_FALSE(fs->read_own_file("/etc/d/b")->has_value());
  // After a commit the walk starts over, and refuses the link.
  REQUIRE(fs->write_file_atomic("/etc/other", "x\n", 0644).ok());
  CHECK(error_of(fs->read_own_file("/etc/d/a")) ==
        "refusing to read " + root.path() + "/etc/d/a: " + root.path() + "/etc/d is a symbolic link");
}

TEST_CASE("the same path twice in one commit is an error, and nothing is written") {
  TempDirectory root;
  auto fs = nicsync::make_real_filesystem(root.path());
  CHECK(error_of(fs->commit({FileWrite{"/etc/x", "1\n", 0644}, FileWrite{"/etc/x", "2\n", 0644}})) ==
        "cannot write " + root.path() + "/etc/x: named twice; nothing was changed");
  CHECK(tree(root.path()).empty());
}

}  // TEST_SUITE
