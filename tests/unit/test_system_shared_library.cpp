#include <doctest/doctest.h>

#include <cstddef>
#include <string>

#include "system/libsystemd.hpp"
#include "system/shared_library.hpp"

TEST_SUITE("system::SharedLibrary") {

TEST_CASE("a library that is not installed: dlopen's reason, and every symbol null") {
  nicsync::SharedLibrary library("libnicsync-test-absent.so.0");
  using Function = int (*)();
  Function function = [] { return 1; };
  library.resolve("anything", function);
  CHECK((function == nullptr));
  CHECK(library.error() ==
        "libnicsync-test-absent.so.0: cannot open shared object file: No such file or directory");
}

TEST_CASE("a loaded library: its symbols resolve, and the first missing one is named") {
  nicsync::SharedLibrary library("libc.so.6");
  using Strlen = std::size_t (*)(const char*);
  Strlen length = nullptr;
  library.resolve("strlen", length);
  REQUIRE((length != nullptr));
  CHECK(length("eth1") == 4);
  CHECK(library.error() == "");

  Strlen missing = length;
  library.resolve("nicsync_no_such_function", missing);
  library.resolve("nicsync_another_missing_one", missing);
  CHECK((missing == nullptr));
  CHECK(library.error() == "libc.so.6 has no nicsync_no_such_function");
}

TEST_CASE("if_loaded takes a library the process has loaded, and loads no other") {
  nicsync::SharedLibrary loaded("libc.so.6", nicsync::SharedLibrary::Load::if_loaded);
  using Strlen = std::size_t (*)(const char*);
  Strlen length = nullptr;
  loaded.resolve("strlen", length);
  REQUIRE((length != nullptr));
  CHECK(length("eth1") == 4);
  CHECK(loaded.error() == "");

  // Part of glibc, so installed, but nothing here depends on it.
  nicsync::SharedLibrary absent("libanl.so.1", nicsync::SharedLibrary::Load::if_loaded);
  length = [](const char*) -> std::size_t { return 1; };
  absent.resolve("strlen", length);
  CHECK((length == nullptr));
  CHECK(absent.error() == "libanl.so.1 is not loaded");
}

TEST_CASE("libsystemd: loaded once, every sd-bus function found (libsystemd0 >= 240)") {
  const nicsync::Libsystemd& lib = nicsync::libsystemd();
  CHECK(lib.bus_error == "");
  CHECK((lib.sd_bus_open_system && lib.sd_bus_set_method_call_timeout && lib.sd_bus_call_method &&
         lib.sd_bus_get_property_string && lib.sd_bus_message_read && lib.sd_bus_message_unref &&
         lib.sd_bus_flush_close_unref && lib.sd_bus_error_is_set && lib.sd_bus_error_has_name &&
         lib.sd_bus_error_free));
  CHECK(&nicsync::libsystemd() == &lib);
}

}  // TEST_SUITE
