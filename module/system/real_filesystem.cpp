#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "nicsync/filesystem.hpp"

namespace nicsync {

namespace {

/// Closes a file descriptor when it goes out of scope.
class FileDescriptor {
 public:
  explicit FileDescriptor(int fd) : fd_(fd) {}
  ~FileDescriptor() {
    if (fd_ >= 0) ::close(fd_);
  }
  FileDescriptor(const FileDescriptor&) = delete;
  FileDescriptor& operator=(const FileDescriptor&) = delete;
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

  Result<void> write_file_atomic(const std::string& path, std::string_view content,
                                 unsigned mode) override {
    std::string directory = parent_of(path);
    NICSYNC_TRY(make_directories(directory));
    std::string target = real(path);
    std::string temp = real(directory) + "/.nicsync-XXXXXX";
    FileDescriptor fd(::mkostemp(temp.data(), O_CLOEXEC));
    if (fd.get() < 0) return os_error("cannot create a temporary file in", shown(directory));
    auto fail = [&](const std::string& what) {
      Error error = os_error(what, shown(path));
      ::unlink(temp.c_str());
      return error;
    };
    if (::fchmod(fd.get(), static_cast<mode_t>(mode)) != 0) return fail("cannot set the mode of");
    size_t written = 0;
    while (written < content.size()) {
      ssize_t n = ::write(fd.get(), content.data() + written, content.size() - written);
      if (n < 0) {
        if (errno == EINTR) continue;
        return fail("cannot write");
      }
      written += static_cast<size_t>(n);
    }
    if (::fsync(fd.get()) != 0) return fail("cannot sync");
    if (::close(fd.release()) != 0) return fail("cannot write");
    if (::rename(temp.c_str(), target.c_str()) != 0) return fail("cannot replace");
    FileDescriptor dir(::open(real(directory).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (dir.get() >= 0) ::fsync(dir.get());
    return {};
  }

  Result<void> remove_file(const std::string& path) override {
    if (::unlink(real(path).c_str()) != 0 && errno != ENOENT) return os_error("cannot remove", shown(path));
    return {};
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

  Result<void> make_directories(const std::string& path) {
    if (is_directory(path)) return {};
    if (path != "/") NICSYNC_TRY(make_directories(parent_of(path)));
    if (::mkdir(real(path).c_str(), 0755) != 0 && errno != EEXIST) {
      return os_error("cannot create directory", shown(path));
    }
    return {};
  }

  std::string root_;
};

}  // namespace

std::unique_ptr<FileSystem> make_real_filesystem(std::string root) {
  return std::make_unique<RealFileSystem>(std::move(root));
}

}  // namespace nicsync
