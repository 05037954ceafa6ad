#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <map>
#include <random>
#include <set>

#include "nicsync/filesystem.hpp"

namespace nicsync {

namespace {

/// Closes a file descriptor when it goes out of scope.
class FileDescriptor {
 public:
  explicit FileDescriptor(int fd = -1) : fd_(fd) {}
  ~FileDescriptor() {
    if (fd_ >= 0) ::close(fd_);
  }
  FileDescriptor(const FileDescriptor&) = delete;
  FileDescriptor& operator=(const FileDescriptor&) = delete;
  FileDescriptor(FileDescriptor&& other) noexcept : fd_(other.release()) {}
  FileDescriptor& operator=(FileDescriptor&& other) noexcept {
    if (this != &other) {
      if (fd_ >= 0) ::close(fd_);
      fd_ = other.release();
    }
    return *this;
  }
  int get() const { return fd_; }
  int release() { return std::exchange(fd_, -1); }

 private:
  int fd_;
};

Error os_error(const std::string& what, const std::string& path) {
  return Error{what + " " + path + ": " + std::strerror(errno)};
}

std::string parent_of(const std::string& path) {
  size_t slash = path.rfind('/');
  return slash == 0 || slash == std::string::npos ? "/" : path.substr(0, slash);
}

std::string name_of(const std::string& path) { return path.substr(path.rfind('/') + 1); }

/// The components of an absolute directory path: "/etc/netplan" -> {"etc", "netplan"}.
std::vector<std::string> components(const std::string& directory) {
  std::vector<std::string> parts;
  size_t start = 0;
  while (start < directory.size()) {
    size_t slash = directory.find('/', start);
    if (slash == std::string::npos) slash = directory.size();
    if (slash > start) parts.push_back(directory.substr(start, slash - start));
    start = slash + 1;
  }
  return parts;
}

std::string octal(mode_t mode) {
  char text[8];
  std::snprintf(text, sizeof text, "%04o", static_cast<unsigned>(mode & 07777));
  return text;
}

/// ".nicsync-XXXXXX" with six random letters or digits: a temporary file or a backup (created
/// with O_EXCL or linkat(), so a name taken already is tried again, never reused). The engine is
/// seeded once per thread: a std::random_device per name cost ≈ 34 µs on the bench's VM, ≈ 10 ms
/// of a clean network-scripts apply at 80 NICs (287 files).
std::string random_name() {
  static constexpr char kLetters[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  thread_local std::mt19937_64 engine{std::random_device{}()};
  std::uint64_t bits = engine();
  std::string name = ".nicsync-";
  for (int i = 0; i < 6; ++i) {
    name += kLetters[bits % (sizeof kLetters - 1)];
    bits /= sizeof kLetters - 1;
  }
  return name;
}

/// What a directory check is for, as said in "refusing to VERB PATH".
enum class Purpose { write, remove, read };

const char* verb(Purpose purpose) {
  switch (purpose) {
    case Purpose::write: return "write";
    case Purpose::remove: return "remove";
    case Purpose::read: return "read";
  }
  return "write";
}

/// What to do about a missing directory on the way.
enum class WhenMissing { create, stop };

/// A directory commit() created, to be removed again when the commit fails.
struct CreatedDirectory {
  FileDescriptor parent;
  std::string name;
};

/// One change of a commit() on its way: the checked directory, the staged temporary file, the
/// hard-linked backup of the old file.
struct Staged {
  const FileWrite* write = nullptr;
  FileDescriptor directory;  ///< -1: the directory does not exist, so neither does the file
  std::string name;
  std::string temporary;     ///< new content, before the rename ("" for a removal)
  std::string backup;        ///< the old file ("" when there was none)
  bool done = false;         ///< renamed into place / removed
  bool changed = false;      ///< the directory's entries changed (its fsync is due)
};

class RealFileSystem : public FileSystem {
 public:
  explicit RealFileSystem(std::string root) : root_(std::move(root)) {
    while (root_.size() > 1 && root_.back() == '/') root_.pop_back();
    if (root_ == "/") root_.clear();
  }

  Result<std::optional<std::string>> read_file(const std::string& path) override {
    FileDescriptor fd(::open(real(path).c_str(), O_RDONLY | O_CLOEXEC));
    if (fd.get() < 0) {
      if (errno == ENOENT || errno == ENOTDIR) return std::optional<std::string>();
      return os_error("cannot read", shown(path));
    }
    return read_all(fd, path);
  }

  Result<std::optional<std::string>> read_own_file(const std::string& path) override {
    NICSYNC_TRY_ASSIGN(int directory, read_directory(parent_of(path), path));
    if (directory < 0) return std::optional<std::string>();
    FileDescriptor fd(::openat(directory, name_of(path).c_str(),
                               O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC));
    if (fd.get() < 0) {
      if (errno == ENOENT) return std::optional<std::string>();
      if (errno == ELOOP) return Error{"refusing to read " + shown(path) + ": it is a symbolic link"};
      return os_error("cannot read", shown(path));
    }
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0) return os_error("cannot read", shown(path));
    if (!S_ISREG(st.st_mode)) return Error{"refusing to read " + shown(path) + ": it is not a regular file"};
    return read_all(fd, path);
  }

  Result<void> commit(const std::vector<FileWrite>& writes) override {
    auto result = commit_all(writes);
    if (!result.ok()) return Error{result.error().message + "; nothing was changed"};
    return result;
  }

  Result<void> write_file_atomic(const std::string& path, std::string_view content,
                                 unsigned mode) override {
    return commit_all({FileWrite{path, std::string(content), mode}});
  }

  Result<void> remove_file(const std::string& path) override {
    return commit_all({FileWrite{path, std::nullopt, 0}});
  }

  bool is_directory(const std::string& path) override {
    struct stat st {};
    return ::stat(real(path).c_str(), &st) == 0 && S_ISDIR(st.st_mode);
  }

  Result<std::vector<std::string>> list_directory(const std::string& path) override {
    std::vector<std::string> names;
    DIR* dir = ::opendir(real(path).c_str());
    if (dir == nullptr) {
      if (errno == ENOENT || errno == ENOTDIR) return names;
      return os_error("cannot list", shown(path));
    }
    while (const dirent* entry = ::readdir(dir)) {
      std::string name = entry->d_name;
      if (name != "." && name != "..") names.push_back(std::move(name));
    }
    ::closedir(dir);
    std::sort(names.begin(), names.end());
    return names;
  }

 private:
  std::string real(const std::string& path) const { return root_ + path; }
  /// The path as shown in messages: the real one, so a user can find it.
  std::string shown(const std::string& path) const { return real(path); }

  Result<std::optional<std::string>> read_all(const FileDescriptor& fd, const std::string& path) const {
    std::string content;
    char buffer[16384];
    while (true) {
      ssize_t n = ::read(fd.get(), buffer, sizeof buffer);
      if (n < 0) {
        if (errno == EINTR) continue;
        return os_error("cannot read", shown(path));
      }
      if (n == 0) break;
      content.append(buffer, static_cast<size_t>(n));
    }
    return std::optional<std::string>(std::move(content));
  }

  /// The root directory itself: not checked (it is the caller's choice); created when missing.
  Result<FileDescriptor> open_root(const std::string& target) const {
    const std::string root = root_.empty() ? "/" : root_;
    FileDescriptor fd(::open(root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (fd.get() < 0 && errno == ENOENT && ::mkdir(root.c_str(), 0755) == 0) {
      fd = FileDescriptor(::open(root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    }
    if (fd.get() < 0) return os_error("cannot open the root directory " + root + " for", shown(target));
    return fd;
  }

  /// Opens `directory` component by component from the root without following symbolic links,
  /// checking each (a real directory, owned by root or us, not writable by group or others).
  /// A missing one is created (0755, recorded in `created`) or, with WhenMissing::stop, ends
  /// the walk with fd -1.
  Result<FileDescriptor> open_directory(const std::string& directory, const std::string& target,
                                        Purpose purpose, WhenMissing when_missing,
                                        std::vector<CreatedDirectory>* created) const {
    auto refuse = [&](const std::string& walked, const std::string& why) {
      return Error{std::string("refusing to ") + verb(purpose) + " " + shown(target) + ": " + shown(walked) + " " + why};
    };
    NICSYNC_TRY_ASSIGN(FileDescriptor current, open_root(target));
    std::string walked;
    for (const std::string& part : components(directory)) {
      walked += "/" + part;
      const int flags = O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC;
      FileDescriptor next(::openat(current.get(), part.c_str(), flags));
      if (next.get() < 0 && errno == ENOENT) {
        if (when_missing == WhenMissing::stop) return FileDescriptor();
        bool made = ::mkdirat(current.get(), part.c_str(), 0755) == 0;
        if (!made && errno != EEXIST) {
          return os_error("cannot create directory " + shown(walked) + " for", shown(target));
        }
        next = FileDescriptor(::openat(current.get(), part.c_str(), flags));
        if (made && next.get() >= 0) {
          ::fchmod(next.get(), 0755);  // whatever the umask
          if (created != nullptr) created->push_back({FileDescriptor(::dup(current.get())), part});
        }
      }
      if (next.get() < 0) {
        int error = errno;
        struct stat st {};
        if ((error == ELOOP || error == ENOTDIR) &&
            ::fstatat(current.get(), part.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0) {
          if (S_ISLNK(st.st_mode)) return refuse(walked, "is a symbolic link");
          if (!S_ISDIR(st.st_mode)) return refuse(walked, "is not a directory");
        }
        errno = error;
        return os_error("cannot open directory " + shown(walked) + " for", shown(target));
      }
      struct stat st {};
      if (::fstat(next.get(), &st) != 0) return os_error("cannot check directory " + shown(walked) + " for", shown(target));
      if (st.st_uid != 0 && st.st_uid != ::geteuid()) {
        return refuse(walked, "is owned by uid " + std::to_string(st.st_uid));
      }
      if ((st.st_mode & S_IWOTH) != 0) return refuse(walked, "is writable by others (mode " + octal(st.st_mode) + ")");
      if ((st.st_mode & S_IWGRP) != 0) {
        return refuse(walked, "is writable by its group (mode " + octal(st.st_mode) + ")");
      }
      current = std::move(next);
    }
    return current;
  }

  /// The checked directory of read_own_file(), walked once per directory and kept open (-1: it
  /// does not exist) until the next commit, which may create directories. A run reads every
  /// file of the renderer's directory (92 at 15 NICs with network-scripts); each walk costs a
  /// dozen system calls.
  Result<int> read_directory(const std::string& directory, const std::string& target) {
    auto cached = read_directories_.find(directory);
    if (cached != read_directories_.end()) return cached->second.get();
    NICSYNC_TRY_ASSIGN(FileDescriptor fd, open_directory(directory, target, Purpose::read, WhenMissing::stop, nullptr));
    return read_directories_.emplace(directory, std::move(fd)).first->second.get();
  }

  /// commit() without the closing "nothing was changed".
  Result<void> commit_all(const std::vector<FileWrite>& writes) {
    read_directories_.clear();
    std::set<std::string> paths;
    for (const FileWrite& write : writes) {
      if (!paths.insert(write.path).second) return Error{"cannot write " + shown(write.path) + ": named twice"};
    }
    std::vector<Staged> staged(writes.size());
    std::vector<CreatedDirectory> created;
    auto clean_up = [&] {
      for (Staged& s : staged) {
        if (!s.temporary.empty()) ::unlinkat(s.directory.get(), s.temporary.c_str(), 0);
        if (!s.backup.empty()) ::unlinkat(s.directory.get(), s.backup.c_str(), 0);
      }
      for (auto it = created.rbegin(); it != created.rend(); ++it) {
        ::unlinkat(it->parent.get(), it->name.c_str(), AT_REMOVEDIR);
      }
    };
    std::map<std::string, int> checked;  // directory -> a Staged's descriptor of it
    for (size_t i = 0; i < writes.size(); ++i) {
      staged[i].write = &writes[i];
      auto result = stage(staged[i], created, checked);
      if (!result.ok()) {
        clean_up();
        return result;
      }
    }
    if (auto durable = make_durable(staged); !durable.ok()) {
      clean_up();
      return durable;
    }
    for (size_t i = 0; i < staged.size(); ++i) {
      auto result = put_in_place(staged[i]);
      if (!result.ok()) {
        std::string undo_failures = undo(staged, i);
        sync_directories(staged);
        clean_up();
        if (!undo_failures.empty()) {
          return Error{result.error().message + "; undoing failed (" + undo_failures + "), files may be partly changed"};
        }
        return result;
      }
    }
    sync_directories(staged);
    for (Staged& s : staged) {
      if (!s.backup.empty()) ::unlinkat(s.directory.get(), s.backup.c_str(), 0);
    }
    return {};
  }

  /// Checks the directory, writes the new content to a temporary file beside the target (its
  /// fsync follows in make_durable()), and hard-links the old file to a backup. Changes nothing
  /// the target's readers see.
  /// `checked` holds the directories this commit has checked already, so a directory of many
  /// files is walked once and its descriptor duplicated for the others.
  Result<void> stage(Staged& s, std::vector<CreatedDirectory>& created, std::map<std::string, int>& checked) const {
    const FileWrite& write = *s.write;
    const std::string& path = write.path;
    const bool removal = !write.content.has_value();
    s.name = name_of(path);
    if (path.empty() || path[0] != '/' || s.name.empty() || s.name == "." || s.name == "..") {
      return Error{"cannot write " + shown(path) + ": not an absolute path to a file"};
    }
    const std::string directory = parent_of(path);
    auto known = checked.find(directory);
    if (known != checked.end()) {
      s.directory = FileDescriptor(::fcntl(known->second, F_DUPFD_CLOEXEC, 0));
      if (s.directory.get() < 0) return os_error("cannot open directory " + shown(directory) + " for", shown(path));
    } else {
      NICSYNC_TRY_ASSIGN(s.directory, open_directory(directory, path, removal ? Purpose::remove : Purpose::write,
                                                     removal ? WhenMissing::stop : WhenMissing::create, &created));
      if (s.directory.get() >= 0) checked.emplace(directory, s.directory.get());
    }
    if (s.directory.get() < 0) return {};  // a removal in a directory that does not exist
    if (!removal) NICSYNC_TRY(write_temporary(s));
    struct stat st {};
    if (::fstatat(s.directory.get(), s.name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
      if (errno == ENOENT) return {};
      return os_error(removal ? "cannot remove" : "cannot write", shown(path));
    }
    if (S_ISDIR(st.st_mode)) return {};  // nothing to keep; renaming over it fails in time
    for (int attempt = 0; attempt < 100; ++attempt) {
      std::string backup = random_name();
      if (::linkat(s.directory.get(), s.name.c_str(), s.directory.get(), backup.c_str(), 0) == 0) {
        s.backup = backup;
        return {};
      }
      if (errno != EEXIST) break;
    }
    return os_error("cannot keep a backup of", shown(path));
  }

  Result<void> write_temporary(Staged& s) const {
    const FileWrite& write = *s.write;
    const auto mode = static_cast<mode_t>(write.mode & 07777);
    FileDescriptor fd;
    for (int attempt = 0; attempt < 100 && fd.get() < 0; ++attempt) {
      std::string name = random_name();
      fd = FileDescriptor(::openat(s.directory.get(), name.c_str(),
                                   O_CREAT | O_EXCL | O_NOFOLLOW | O_WRONLY | O_CLOEXEC, mode));
      if (fd.get() >= 0) s.temporary = name;
      else if (errno != EEXIST) break;
    }
    if (fd.get() < 0) return os_error("cannot create a temporary file for", shown(write.path));
    if (::fchmod(fd.get(), mode) != 0) return os_error("cannot set the mode of", shown(write.path));
    const std::string& content = *write.content;
    size_t written = 0;
    while (written < content.size()) {
      ssize_t n = ::write(fd.get(), content.data() + written, content.size() - written);
      if (n < 0) {
        if (errno == EINTR) continue;
        return os_error("cannot write", shown(write.path));
      }
      written += static_cast<size_t>(n);
    }
    // Writeback starts now; make_durable() waits for it once every file is written.
    ::sync_file_range(fd.get(), 0, 0, SYNC_FILE_RANGE_WRITE);
    if (::close(fd.release()) != 0) return os_error("cannot write", shown(write.path));
    return {};
  }

  /// fsync of every staged file, after all were written: ext4 commits its journal once for the
  /// files whose writeback has started, where an fsync right after each write committed it once
  /// per file (290 files at 80 NICs with network-scripts). No rename happens before this.
  Result<void> make_durable(const std::vector<Staged>& staged) const {
    for (const Staged& s : staged) {
      if (s.temporary.empty()) continue;
      FileDescriptor fd(::openat(s.directory.get(), s.temporary.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
      if (fd.get() < 0 || ::fsync(fd.get()) != 0) return os_error("cannot write", shown(s.write->path));
    }
    return {};
  }

  /// Renames the staged file over its target, or removes the target.
  Result<void> put_in_place(Staged& s) const {
    if (s.directory.get() < 0) return {};
    if (s.write->content) {
      if (::renameat(s.directory.get(), s.temporary.c_str(), s.directory.get(), s.name.c_str()) != 0) {
        return os_error("cannot replace", shown(s.write->path));
      }
      s.temporary.clear();
      s.changed = true;
    } else if (::unlinkat(s.directory.get(), s.name.c_str(), 0) == 0) {
      s.changed = true;
    } else if (errno != ENOENT) {
      return os_error("cannot remove", shown(s.write->path));
    }
    s.done = true;
    return {};
  }

  /// Undoes the changes before `failed`, last first: the backup goes back, a new file goes.
  /// Returns what could not be undone ("" when all was).
  std::string undo(std::vector<Staged>& staged, size_t failed) const {
    std::string failures;
    for (size_t i = failed; i-- > 0;) {
      Staged& s = staged[i];
      if (!s.done) continue;
      bool ok = true;
      if (!s.backup.empty()) {
        ok = ::renameat(s.directory.get(), s.backup.c_str(), s.directory.get(), s.name.c_str()) == 0;
        if (ok) s.backup.clear();
      } else if (s.write->content) {
        ok = ::unlinkat(s.directory.get(), s.name.c_str(), 0) == 0 || errno == ENOENT;
      }
      if (!ok) {
        failures += (failures.empty() ? "" : ", ") + shown(s.write->path) + ": " + std::strerror(errno);
        if (!s.backup.empty()) {
          failures += " (its old content is in " + shown(parent_of(s.write->path)) + "/" + s.backup + ")";
          s.backup.clear();  // kept for the administrator
        }
      }
    }
    return failures;
  }

  /// Makes the renames and removals durable: fsync of each directory whose entries changed, once
  /// (a removal of a file that was not there changed nothing).
  static void sync_directories(const std::vector<Staged>& staged) {
    std::set<std::pair<dev_t, ino_t>> synced;
    for (const Staged& s : staged) {
      struct stat st {};
      if (!s.changed || s.directory.get() < 0 || ::fstat(s.directory.get(), &st) != 0) continue;
      if (synced.insert({st.st_dev, st.st_ino}).second) ::fsync(s.directory.get());
    }
  }

  std::string root_;
  std::map<std::string, FileDescriptor> read_directories_;  ///< see read_directory()
};

}  // namespace

std::unique_ptr<FileSystem> make_real_filesystem(std::string root) {
  return std::make_unique<RealFileSystem>(std::move(root));
}

}  // namespace nicsync
