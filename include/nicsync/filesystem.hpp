#pragma once
/// Files behind an interface. Paths are absolute paths on the target system ("/etc/netplan/x");
/// the real implementation maps them under a root directory (`--root`), the fake keeps them in memory.

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "nicsync/result.hpp"

namespace nicsync {

class FileSystem {
 public:
  virtual ~FileSystem() = default;
  /// The file's contents; nullopt when it does not exist; an Error for any other failure.
  virtual Result<std::optional<std::string>> read_file(const std::string& path) = 0;
  /// Replaces the file atomically (temp file in the same directory, fsync, rename, fsync dir)
  /// with the given mode. Creates missing parent directories (0755).
  virtual Result<void> write_file_atomic(const std::string& path, std::string_view content,
                                         unsigned mode) = 0;
  /// Removes the file; removing a missing file is not an error.
  virtual Result<void> remove_file(const std::string& path) = 0;
  virtual bool is_directory(const std::string& path) = 0;
  /// Names of the entries of a directory, sorted; empty when it does not exist.
  virtual Result<std::vector<std::string>> list_directory(const std::string& path) = 0;
};

/// The real file system, with every path taken relative to `root` ("/" for the live system).
std::unique_ptr<FileSystem> make_real_filesystem(std::string root);

}  // namespace nicsync
