#pragma once
/// A file of given text in the temporary directory, for code under test that reads a path.

#include <unistd.h>

#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>
#include <system_error>

namespace nicsync::test {

/// `text` in a new file named nicsync-test-<pid>-<n><suffix>, removed again when it goes out of
/// scope.
class TempFile {
 public:
  TempFile(std::string_view text, std::string_view suffix)
      : path_(std::filesystem::temp_directory_path() / ("nicsync-test-" + std::to_string(::getpid()) + "-" +
                                                        std::to_string(counter_++) + std::string(suffix))) {
    std::ofstream out(path_);
    out << text;
    REQUIRE(out.good());
  }
  ~TempFile() {
    std::error_code ignored;
    std::filesystem::remove(path_, ignored);
  }
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;
  std::string path() const { return path_.string(); }

 private:
  static inline int counter_ = 0;
  std::filesystem::path path_;
};

}  // namespace nicsync::test
