#include "system/libsystemd.hpp"

#include "system/shared_library.hpp"

namespace nicsync {

const Libsystemd& libsystemd() {
  static const Libsystemd loaded = [] {
    Libsystemd lib;
    static SharedLibrary library("libsystemd.so.0");
    const std::string load_error = library.error();
    // Each group of functions has its own error: the journal works without sd-bus, and the
    // other way round.
    auto need = [&](const char* name, auto& function, std::string& error) {
      library.resolve(name, function);
      if (function == nullptr && error.empty()) {
        error = load_error.empty() ? std::string("libsystemd.so.0 has no ") + name : load_error;
      }
    };
    need("sd_bus_open_system", lib.sd_bus_open_system, lib.bus_error);
    need("sd_bus_set_method_call_timeout", lib.sd_bus_set_method_call_timeout, lib.bus_error);
    need("sd_bus_call_method", lib.sd_bus_call_method, lib.bus_error);
    need("sd_bus_get_property_string", lib.sd_bus_get_property_string, lib.bus_error);
    need("sd_bus_message_read", lib.sd_bus_message_read, lib.bus_error);
    need("sd_bus_message_unref", lib.sd_bus_message_unref, lib.bus_error);
    need("sd_bus_flush_close_unref", lib.sd_bus_flush_close_unref, lib.bus_error);
    need("sd_bus_error_is_set", lib.sd_bus_error_is_set, lib.bus_error);
    need("sd_bus_error_has_name", lib.sd_bus_error_has_name, lib.bus_error);
    need("sd_bus_error_free", lib.sd_bus_error_free, lib.bus_error);
    need("sd_journal_sendv", lib.sd_journal_sendv, lib.journal_error);
    return lib;
  }();
  return loaded;
}

}  // namespace nicsync
