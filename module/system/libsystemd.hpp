#pragma once
/// libsystemd.so.0, loaded with dlopen() at its first use (SharedLibrary) by the system bus
/// (sd_bus_service_bus.cpp). Each member is named after its function. (The journal log writes
/// journald's protocol itself: journal_log.cpp.)

#include <systemd/sd-bus.h>

#include <string>

namespace nicsync {

struct Libsystemd {
  decltype(&::sd_bus_open_system) sd_bus_open_system = nullptr;
  decltype(&::sd_bus_set_method_call_timeout) sd_bus_set_method_call_timeout = nullptr;
  decltype(&::sd_bus_call_method) sd_bus_call_method = nullptr;
  decltype(&::sd_bus_get_property_string) sd_bus_get_property_string = nullptr;
  decltype(&::sd_bus_message_read) sd_bus_message_read = nullptr;
  decltype(&::sd_bus_message_unref) sd_bus_message_unref = nullptr;
  decltype(&::sd_bus_flush_close_unref) sd_bus_flush_close_unref = nullptr;
  decltype(&::sd_bus_error_is_set) sd_bus_error_is_set = nullptr;
  decltype(&::sd_bus_error_has_name) sd_bus_error_has_name = nullptr;
  decltype(&::sd_bus_error_free) sd_bus_error_free = nullptr;
  /// Why the sd-bus functions above cannot be used ("libsystemd.so.0: cannot open shared
  /// object file: ..." or "libsystemd.so.0 has no sd_bus_..."); empty when all were found.
  std::string bus_error;
};

/// libsystemd, loaded once per process (thread-safe).
const Libsystemd& libsystemd();

}  // namespace nicsync
