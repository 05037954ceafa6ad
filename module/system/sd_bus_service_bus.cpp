// The system bus through libsystemd's sd-bus: which network service runs (systemd's unit states)
// and the services' reload calls. Calls are synchronous; the bus's default method-call timeout is
// set once, so that every call, sd_bus_get_property_string() included, waits a bounded time.
//
// libsystemd is not linked but loaded with dlopen() when the bus is first opened (libsystemd.hpp):
// only a rerun that notifies a network service uses the bus, and linking libsystemd would load it
// and its dependencies (libcap, libgcrypt, libgpg-error, liblzma, libzstd, liblz4) into every run.

#include <systemd/sd-bus.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <utility>

#include "nicsync/service_bus.hpp"
#include "system/libsystemd.hpp"

namespace nicsync {

namespace {

const Libsystemd& sd() { return libsystemd(); }

constexpr uint64_t kCallTimeoutUsec = uint64_t{kBusCallTimeoutSeconds} * 1000 * 1000;

/// One D-Bus method: where it lives, and its name in errors
/// ("org.freedesktop.network1.Manager.Reload").
struct Method {
  const char* destination;
  const char* path;
  const char* interface;
  const char* member;
  std::string name() const { return std::string(interface) + "." + member; }
};

constexpr Method kGetUnit{"org.freedesktop.systemd1", "/org/freedesktop/systemd1",
                          "org.freedesktop.systemd1.Manager", "GetUnit"};
constexpr const char* kNoSuchUnit = "org.freedesktop.systemd1.NoSuchUnit";
constexpr const char* kUnitInterface = "org.freedesktop.systemd1.Unit";
constexpr Method kNetworkdReload{"org.freedesktop.network1", "/org/freedesktop/network1",
                                 "org.freedesktop.network1.Manager", "Reload"};
constexpr Method kReloadConnections{"org.freedesktop.NetworkManager",
                                    "/org/freedesktop/NetworkManager/Settings",
                                    "org.freedesktop.NetworkManager.Settings", "ReloadConnections"};

struct BusCloser {
  void operator()(sd_bus* bus) const { sd().sd_bus_flush_close_unref(bus); }
};
using BusPtr = std::unique_ptr<sd_bus, BusCloser>;

struct MessageUnref {
  void operator()(sd_bus_message* message) const { sd().sd_bus_message_unref(message); }
};
using MessagePtr = std::unique_ptr<sd_bus_message, MessageUnref>;

struct FreeDeleter {
  void operator()(char* text) const { std::free(text); }
};
using CString = std::unique_ptr<char, FreeDeleter>;

/// An sd_bus_error that frees itself.
class BusError {
 public:
  BusError() = default;
  ~BusError() { sd().sd_bus_error_free(&error_); }
  BusError(const BusError&) = delete;
  BusError& operator=(const BusError&) = delete;

  sd_bus_error* get() { return &error_; }
  bool has_name(const char* name) const { return sd().sd_bus_error_has_name(&error_, name) != 0; }

  /// The D-Bus error as "name: message"; for a local failure (sd-bus maps errno values to
  /// System.Error.* names) only the errno's text, e.g. "Connection timed out".
  std::string describe(int result) const {
    if (sd().sd_bus_error_is_set(&error_) == 0) return std::strerror(-result);
    std::string name = error_.name;
    std::string message = error_.message != nullptr ? error_.message : "";
    if (name.starts_with("System.Error.")) return message.empty() ? std::strerror(-result) : message;
    return message.empty() ? name : name + ": " + message;
  }

 private:
  sd_bus_error error_ = SD_BUS_ERROR_NULL;
};

/// Calls `method` with the arguments `types` and `args` describe (sd_bus_message_append), waiting
/// at most the bus's method-call timeout; the reply goes to `reply`, a D-Bus error to `error`.
template <typename... Args>
int call(sd_bus* bus, const Method& method, BusError& error, MessagePtr& reply, const char* types,
         Args... args) {
  sd_bus_message* raw = nullptr;
  int r = sd().sd_bus_call_method(bus, method.destination, method.path, method.interface, method.member,
                                  error.get(), &raw, types, args...);
  reply.reset(raw);
  return r;
}

/// The address the system bus is reached at, for messages.
std::string system_bus_address() {
  const char* address = std::getenv("DBUS_SYSTEM_BUS_ADDRESS");
  return address != nullptr && *address != '\0' ? address : "unix:path=/run/dbus/system_bus_socket";
}

class SdBusServiceBus : public ServiceBus {
 public:
  explicit SdBusServiceBus(BusPtr bus) : bus_(std::move(bus)) {}

  Result<NetworkService> active_network_service() override {
    static constexpr std::pair<const char*, NetworkService> kUnits[] = {
        {"systemd-networkd.service", NetworkService::networkd},
        {"NetworkManager.service", NetworkService::network_manager},
        {"network.service", NetworkService::network_scripts},
    };
    for (const auto& [unit, service] : kUnits) {
      NICSYNC_TRY_ASSIGN(std::optional<std::string> state, active_state(unit));
      if (state && (*state == "active" || *state == "reloading")) return service;
    }
    return NetworkService::none;
  }

  Result<void> reload_networkd() override {
    BusError error;
    MessagePtr reply;
    int r = call(bus_.get(), kNetworkdReload, error, reply, "");
    if (r < 0) return Error{kNetworkdReload.name() + ": " + error.describe(r)};
    return {};
  }

  Result<void> reload_network_manager() override {
    BusError error;
    MessagePtr reply;
    int r = call(bus_.get(), kReloadConnections, error, reply, "");
    if (r < 0) return Error{kReloadConnections.name() + ": " + error.describe(r)};
    int status = 0;
    r = sd().sd_bus_message_read(reply.get(), "b", &status);
    if (r < 0) return Error{kReloadConnections.name() + ": unexpected reply: " + std::strerror(-r)};
    if (status == 0) {
      return Error{kReloadConnections.name() + ": NetworkManager answered false (the reload failed)"};
    }
    return {};
  }

 private:
  /// The unit's ActiveState, or nullopt when systemd has not loaded a unit of that name (it then
  /// cannot be active; GetUnit, unlike LoadUnit, does not load it just to say so).
  Result<std::optional<std::string>> active_state(const char* unit) {
    const std::string what = kGetUnit.name() + " " + unit;
    BusError error;
    MessagePtr reply;
    int r = call(bus_.get(), kGetUnit, error, reply, "s", unit);
    if (r < 0) {
      if (error.has_name(kNoSuchUnit)) return std::optional<std::string>();
      return Error{what + ": " + error.describe(r)};
    }
    const char* path = nullptr;
    r = sd().sd_bus_message_read(reply.get(), "o", &path);
    if (r < 0) return Error{what + ": unexpected reply: " + std::strerror(-r)};

    BusError property_error;
    char* state = nullptr;
    r = sd().sd_bus_get_property_string(bus_.get(), kGetUnit.destination, path, kUnitInterface, "ActiveState",
                                        property_error.get(), &state);
    CString owned_state(state);
    if (r < 0) {
      return Error{std::string(kUnitInterface) + ".ActiveState of " + unit + ": " +
                   property_error.describe(r)};
    }
    return std::optional<std::string>(state);
  }

  BusPtr bus_;
};

}  // namespace

Result<std::unique_ptr<ServiceBus>> make_sd_bus_service_bus() {
  if (!sd().bus_error.empty()) {
    return Error{"the system bus needs libsystemd, which cannot be used: " + sd().bus_error};
  }
  sd_bus* raw = nullptr;
  int r = sd().sd_bus_open_system(&raw);
  BusPtr bus(raw);
  if (r < 0) {
    return Error{"cannot connect to the system bus at " + system_bus_address() + ": " + std::strerror(-r)};
  }
  r = sd().sd_bus_set_method_call_timeout(bus.get(), kCallTimeoutUsec);
  if (r < 0) return Error{std::string("cannot set the D-Bus call timeout: ") + std::strerror(-r)};
  return std::unique_ptr<ServiceBus>(std::make_unique<SdBusServiceBus>(std::move(bus)));
}

}  // namespace nicsync
