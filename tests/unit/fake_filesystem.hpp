#pragma once
/// An in-memory FileSystem that records every write and removal, for unit tests.

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
  };

  std::map<std::string, File> files;
  std::set<std::string> directories;      ///< besides the parents of files
  std::vector<std::string> files_written;  ///< paths, in order
  std::vector<std::string> files_removed;
  std::set<std::string> failing_paths;     ///< writes to these fail

  void add(const std::string& path, std::string content, unsigned mode = 0644) {
    files[path] = File{std::move(content), mode};
  }

  Result<std::optional<std::string>> read_file(const std::string& path) override {
    auto it = files.find(path);
    if (it == files.end()) return std::optional<std::string>();
    return std::optional<std::string>(it->second.content);
  }

  Result<void> write_file_atomic(const std::string& path, std::string_view content, unsigned mode) override {
    if (failing_paths.count(path) != 0) return Error{"cannot write " + path + ": No space left on device"};
    files[path] = File{std::string(content), mode};
    files_written.push_back(path);
    return {};
  }

  Result<void> remove_file(const std::string& path) override {
    files.erase(path);
    files_removed.push_back(path);
    return {};
  }

  bool is_directory(const std::string& path) override {
    if (directories.count(path) != 0) return true;
    std::string prefix = path == "/" ? "/" : path + "/";
    for (const auto& [name, file] : files) {
      if (name.rfind(prefix, 0) == 0) return true;
    }
    return false;
  }

  Result<std::vector<std::string>> list_directory(const std::string& path) override {
    std::set<std::string> names;
    std::string prefix = path == "/" ? "/" : path + "/";
    for (const auto& [name, file] : files) {
      if (name.rfind(prefix, 0) != 0) continue;
      std::string rest = name.substr(prefix.size());
      names.insert(rest.substr(0, rest.find('/')));
    }
    for (const std::string& dir : directories) {
      if (dir.rfind(prefix, 0) == 0 && dir.size() > prefix.size()) {
        std::string rest = dir.substr(prefix.size());
        names.insert(rest.substr(0, rest.find('/')));
      }
    }
    return std::vector<std::string>(names.begin(), names.end());
  }
};

}  // namespace nicsync::test
