#include "system/libsystemd.hpp"

#include "system/shared_library.hpp"

namespace nicsync {

const Libsystemd& libsystemd() {
  static const Libsystemd loaded = [] {
    Libsystemd lib;
    static SharedLibrary library("libsystemd.so.0");
    library.resolve("sd_bus_open_system", lib.sd_bus_open_system);
    library.resolve("sd_bus_set_method_call_timeout", lib.sd_bus_set_method_call_timeout);
    library.resolve("sd_bus_call_method", lib.sd_bus_call_method);
    library.resolve("sd_bus_get_property_string", lib.sd_bus_get_property_string);
    library.resolve("sd_bus_message_read", lib.sd_bus_message_read);
    library.resolve("sd_bus_message_unref", lib.sd_bus_message_unref);
    library.resolve("sd_bus_flush_close_unref", lib.sd_bus_flush_close_unref);
    library.resolve("sd_bus_error_is_set", lib.sd_bus_error_is_set);
    library.resolve("sd_bus_error_has_name", lib.sd_bus_error_has_name);
    library.resolve("sd_bus_error_free", lib.sd_bus_error_free);
    lib.bus_error = library.error();  // the load failure or the first missing function
    return lib;
  }();
  return loaded;
}

}  // namespace nicsync
