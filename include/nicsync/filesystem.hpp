#pragma once
/// Files behind an interface. Paths are absolute paths on the target system ("/etc/netplan/x");
/// the real implementation maps them under a root directory (`--root`), the fake keeps them in memory.
///
/// Every write, removal and read_own_file() checks the directories on the way to the file, below
/// the root: each must be a real directory (not a symbolic link), owned by root or by the process's
/// effective uid, and not writable by group or others. Missing ones are created (0755) for writes.

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "nicsync/result.hpp"

namespace nicsync {

/// One change in a FileSystem::commit().
struct FileWrite {
  std::string path;
  std::optional<std::string> content;  ///< nullopt: remove the file
  unsigned mode = 0644;
};

class FileSystem {
 public:
  virtual ~FileSystem() = default;
  /// The file's contents; nullopt when it does not exist; an Error for any other failure.
  /// Follows symbolic links (sysfs entries are links; so may be files other tools own).
  virtual Result<std::optional<std::string>> read_file(const std::string& path) = 0;
  /// Like read_file(), for files nicsync itself owns: a symbolic link at `path` is an Error
  /// (O_NOFOLLOW), and so is a directory on the way that fails the ownership check.
  virtual Result<std::optional<std::string>> read_own_file(const std::string& path) = 0;
  /// Makes all of `writes` or none. Every new content is first written and fsynced to a temporary
  /// file beside its target; only when all are staged are they renamed into place (then the
  /// directories fsynced). A failure while staging removes the temporaries: nothing changed. A
  /// failure while renaming/removing undoes the ones done (old contents are kept as hard-linked
  /// backups until the end). The Error names the file and the OS reason, and says nothing was
  /// changed. Removing a missing file is not an error. A symbolic link at a target is replaced
  /// (or removed) itself, never followed.
  virtual Result<void> commit(const std::vector<FileWrite>& writes) = 0;
  /// Replaces one file atomically with the given mode: commit() of one write, with its Error
  /// ("cannot write PATH: REASON").
  virtual Result<void> write_file_atomic(const std::string& path, std::string_view content,
                                         unsigned mode) = 0;
  /// Removes the file: commit() of one removal; removing a missing file is not an error.
  virtual Result<void> remove_file(const std::string& path) = 0;
  virtual bool is_directory(const std::string& path) = 0;
  /// Names of the entries of a directory, sorted; empty when it does not exist.
  virtual Result<std::vector<std::string>> list_directory(const std::string& path) = 0;
};

/// The real file system, with every path taken relative to `root` ("/" for the live system).
std::unique_ptr<FileSystem> make_real_filesystem(std::string root);

}  // namespace nicsync
