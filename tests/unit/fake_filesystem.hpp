#pragma once
/// An in-memory FileSystem that records every write and removal, for unit tests. Faults can be
/// injected: a write that fails while staging, a rename that fails after earlier ones succeeded,
/// a symbolic link at a path, a directory that fails the ownership check.

#include <map>
#include <set>
#include <string>
#include <vector>

#include "nicsync/filesystem.hpp"

namespace nicsync::test {

class FakeFileSystem : public FileSystem {
 public:
  struct File {
    std::string content;
    unsigned mode = 0644;
    bool operator==(const File&) const = default;
  };

  std::map<std::string, File> files;
  std::set<std::string> directories;      ///< besides the parents of files
  std::vector<std::string> files_written;  ///< paths, in order (only of commits that succeeded)
  std::vector<std::string> files_removed;
  std::map<std::string, int> listed;  ///< list_directory() calls, by path
  std::set<std::string> failing_paths;     ///< writes to these fail: "No space left on device"
  std::map<std::string, std::string> failing_writes;    ///< path -> reason: staging fails
  std::map<std::string, std::string> failing_renames;   ///< path -> reason: its rename fails
  std::map<std::string, std::string> symlinks;          ///< path -> target (a path here)
  std::map<std::string, std::string> unsafe_directories;  ///< directory -> why the check fails
  std::vector<std::vector<FileWrite>> commits;          ///< every commit() / write / remove, in order

  void add(const std::string& path, std::string content, unsigned mode = 0644) {
    files[path] = File{std::move(content), mode};
  }
  /// Staging `path` fails with `reason` (an OS reason, "No space left on device").
  void fail_write(const std::string& path, std::string reason) { failing_writes[path] = std::move(reason); }
  /// Renaming `path` into place (or removing it) fails with `reason`, after the earlier ones worked.
  void fail_rename(const std::string& path, std::string reason) { failing_renames[path] = std::move(reason); }
  /// A symbolic link at `path` to `target`: read_file() follows it, read_own_file() refuses it, a
  /// commit replaces the link itself.
  void add_symlink(const std::string& path, std::string target) { symlinks[path] = std::move(target); }
  /// The directory `path` fails the ownership check (`why`: "is writable by others (mode 0777)").
  void make_unsafe(const std::string& directory, std::string why) { unsafe_directories[directory] = std::move(why); }

  Result<std::optional<std::string>> read_file(const std::string& path) override {
    auto link = symlinks.find(path);
    auto it = files.find(link != symlinks.end() ? link->second : path);
    if (it == files.end()) return std::optional<std::string>();
    return std::optional<std::string>(it->second.content);
  }

  Result<std::optional<std::string>> read_own_file(const std::string& path) override {
    if (auto refused = check_directories(path, "read")) return *refused;
    if (symlinks.count(path) != 0) return Error{"refusing to read " + path + ": it is a symbolic link"};
    return read_file(path);
  }

  Result<void> commit(const std::vector<FileWrite>& writes) override {
    auto result = commit_all(writes);
    if (!result.ok()) return Error{result.error().message + "; nothing was changed"};
    return result;
  }

  Result<void> write_file_atomic(const std::string& path, std::string_view content, unsigned mode) override {
    return commit_all({FileWrite{path, std::string(content), mode}});
  }

  Result<void> remove_file(const std::string& path) override { return commit_all({FileWrite{path, std::nullopt, 0}}); }

  bool is_directory(const std::string& path) override {
    if (directories.count(path) != 0) return true;
    std::string prefix = path == "/" ? "/" : path + "/";
    for (const auto& [name, file] : files) {
      if (name.rfind(prefix, 0) == 0) return true;
    }
    return false;
  }

  Result<std::vector<std::string>> list_directory(const std::string& path) override {
    ++listed[path];
    std::set<std::string> names;
    std::string prefix = path == "/" ? "/" : path + "/";
    auto add_name = [&](const std::string& full) {
      if (full.rfind(prefix, 0) != 0 || full.size() <= prefix.size()) return;
      std::string rest = full.substr(prefix.size());
      names.insert(rest.substr(0, rest.find('/')));
    };
    for (const auto& [name, file] : files) add_name(name);
    for (const auto& [name, target] : symlinks) add_name(name);
    for (const std::string& dir : directories) add_name(dir);
    return std::vector<std::string>(names.begin(), names.end());
  }

 private:
  /// As the real check: a symbolic link or an unsafe directory on the way to `path` is refused.
  std::optional<Error> check_directories(const std::string& path, const std::string& verb) const {
    for (size_t slash = path.find('/', 1); slash != std::string::npos; slash = path.find('/', slash + 1)) {
      std::string directory = path.substr(0, slash);
      if (symlinks.count(directory) != 0) {
        return Error{"refusing to " + verb + " " + path + ": " + directory + " is a symbolic link"};
      }
      auto unsafe = unsafe_directories.find(directory);
      if (unsafe != unsafe_directories.end()) {
        return Error{"refusing to " + verb + " " + path + ": " + directory + " " + unsafe->second};
      }
    }
    return std::nullopt;
  }

  /// All or nothing: staging checks every write first; a failed rename puts back what was done.
  Result<void> commit_all(const std::vector<FileWrite>& writes) {
    commits.push_back(writes);
    for (const FileWrite& write : writes) {
      if (auto refused = check_directories(write.path, write.content ? "write" : "remove")) return *refused;
      if (!write.content) continue;
      if (failing_paths.count(write.path) != 0) return Error{"cannot write " + write.path + ": No space left on device"};
      auto failing = failing_writes.find(write.path);
      if (failing != failing_writes.end()) return Error{"cannot write " + write.path + ": " + failing->second};
    }
    const auto files_before = files;
    const auto symlinks_before = symlinks;
    for (const FileWrite& write : writes) {
      auto failing = failing_renames.find(write.path);
      if (failing != failing_renames.end()) {
        files = files_before;
        symlinks = symlinks_before;
        return Error{(write.content ? "cannot replace " : "cannot remove ") + write.path + ": " + failing->second};
      }
      symlinks.erase(write.path);  // the link itself is replaced or removed, never followed
      if (write.content) {
        files[write.path] = File{*write.content, write.mode};
      } else {
        files.erase(write.path);
      }
    }
    for (const FileWrite& write : writes) (write.content ? files_written : files_removed).push_back(write.path);
    return {};
  }
};

}  // namespace nicsync::test
