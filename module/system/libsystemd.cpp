#include "system/libsystemd.hpp"

#include "system/shared_library.hpp"

namespace nicsync {

const Libsystemd& libsystemd() {
  static const Libsystemd loaded = [] {
    Libsystemd lib;
    static SharedLibrary library("libsystemd.so.0");
    const std::string load_error = library.error();
    auto need = [&](const char* name, auto& function) {
      library.resolve(name, function);
      if (function == nullptr && lib.bus_error.empty()) {
        lib.bus_error = load_error.empty() ? std::string("libsystemd.so.0 has no ") + name : load_error;
      }
    };
    need("sd_bus_open_system", lib.sd_bus_open_system);
    need("sd_bus_set_method_call_timeout", lib.sd_bus_set_method_call_timeout);
    need("sd_bus_call_method", lib.sd_bus_call_method);
    need("sd_bus_get_property_string", lib.sd_bus_get_property_string);
    need("sd_bus_message_read", lib.sd_bus_message_read);
    need("sd_bus_message_unref", lib.sd_bus_message_unref);
    need("sd_bus_flush_close_unref", lib.sd_bus_flush_close_unref);
    need("sd_bus_error_is_set", lib.sd_bus_error_is_set);
    need("sd_bus_error_has_name", lib.sd_bus_error_has_name);
    need("sd_bus_error_free", lib.sd_bus_error_free);
    return lib;
  }();
  return loaded;
}

}  // namespace nicsync
