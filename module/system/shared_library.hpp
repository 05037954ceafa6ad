#pragma once
/// A shared library loaded with dlopen() when first needed, for the dependencies only some runs
/// use: libcurl (HTTPS, the OCI API), libcrypto (signing OCI API requests) and libsystemd (the
/// system bus, the journal). Linking them would load them, with their own dependencies, into
/// every run, boot included: ≈ 9 ms and ≈ 7 MB for libcurl and libcrypto together on the
/// benchmark machine (tests/bench/HISTORY.md, first round).

#include <string>

namespace nicsync {

class SharedLibrary {
 public:
  /// `always` loads the library; `if_loaded` only takes it when something in the process (another
  /// library's dependency) has loaded it already, and otherwise fails with "... is not loaded".
  enum class Load { always, if_loaded };

  /// Loads `soname` (RTLD_NOW | RTLD_LOCAL); it stays loaded for the life of the process.
  explicit SharedLibrary(const char* soname, Load load = Load::always);
  SharedLibrary(const SharedLibrary&) = delete;
  SharedLibrary& operator=(const SharedLibrary&) = delete;

  /// Sets `function` to the library's symbol `name`; a missing symbol sets error() (the first
  /// one) and leaves `function` null.
  template <typename Function>
  void resolve(const char* name, Function& function) {
    function = reinterpret_cast<Function>(symbol(name));
  }

  /// Why the library cannot be used ("libcurl.so.4: cannot open shared object file: ..." or
  /// "libcurl.so.4 has no curl_multi_poll", "libssl.so.3 is not loaded"); empty when it was
  /// loaded and every symbol found.
  const std::string& error() const { return error_; }

 private:
  void* symbol(const char* name);

  std::string soname_;
  void* handle_ = nullptr;
  std::string error_;
};

}  // namespace nicsync
