// nicsync-fake-services: stand-ins, on a private D-Bus bus, for the services nicsync talks to after
// a run: systemd (Manager.GetUnit and LoadUnit, each unit's ActiveState), systemd-networkd
// (Manager.Reload) and NetworkManager (Settings.ReloadConnections). Every call received is
// appended to a log file, one line each; once every name is owned, a ready file is written.
//
//   nicsync-fake-services --address unix:path=/tmp/t/bus --log /tmp/t/calls --ready /tmp/t/ready
//       [--unit systemd-networkd.service=active]... [--fail CALL]... [--hang CALL]...
//       [--reload-connections-answer false]
//
// Log lines:
//   org.freedesktop.systemd1.Manager.GetUnit systemd-networkd.service
//   org.freedesktop.systemd1.Manager.LoadUnit systemd-networkd.service
//   Get org.freedesktop.systemd1.Unit.ActiveState systemd-networkd.service
//   org.freedesktop.network1.Manager.Reload
//   org.freedesktop.NetworkManager.Settings.ReloadConnections
//
// As in systemd, a unit is loaded only when given with --unit (with its ActiveState) or after a
// LoadUnit (then "inactive"); GetUnit of any other unit answers org.freedesktop.systemd1.NoSuchUnit.
// --fail CALL answers the method CALL (e.g. org.freedesktop.network1.Manager.Reload) with
// org.freedesktop.DBus.Error.Failed; --hang CALL never answers it. SIGTERM ends the program, and
// so does the bus going away.

#include <fcntl.h>
#include <systemd/sd-bus.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace {

constexpr const char* kSystemdPath = "/org/freedesktop/systemd1";
constexpr const char* kUnitPathPrefix = "/org/freedesktop/systemd1/unit";
constexpr std::string_view kGetUnit = "org.freedesktop.systemd1.Manager.GetUnit";
constexpr std::string_view kLoadUnit = "org.freedesktop.systemd1.Manager.LoadUnit";
constexpr std::string_view kReload = "org.freedesktop.network1.Manager.Reload";
constexpr std::string_view kReloadConnections = "org.freedesktop.NetworkManager.Settings.ReloadConnections";

struct BusCloser {
  void operator()(sd_bus* bus) const { sd_bus_flush_close_unref(bus); }
};
struct FreeDeleter {
  void operator()(char* text) const { std::free(text); }
};
using CString = std::unique_ptr<char, FreeDeleter>;

struct Services {
  std::map<std::string, std::string> units;  ///< loaded unit -> ActiveState
  std::set<std::string, std::less<>> fail;
  std::set<std::string, std::less<>> hang;
  bool reload_connections_answer = true;
  int log_fd = -1;

  void log(const std::string& line) const {
    std::string text = line + "\n";
    if (::write(log_fd, text.data(), text.size()) != static_cast<ssize_t>(text.size())) {
      std::fprintf(stderr, "nicsync-fake-services: cannot write the log: %s\n", std::strerror(errno));
      std::exit(1);
    }
  }

  /// What the test asked for `call`: nullopt to answer it normally, else the handler's result
  /// (1: handled, but never answered; negative: answered with an error).
  std::optional<int> injected(std::string_view call, sd_bus_error* error) const {
    if (hang.contains(call)) return 1;
    if (fail.contains(call)) {
      std::string message = "failure injected by the test into " + std::string(call);
      return sd_bus_error_set(error, SD_BUS_ERROR_FAILED, message.c_str());
    }
    return std::nullopt;
  }
};

Services& services_of(void* userdata) { return *static_cast<Services*>(userdata); }

/// The unit name of a unit object path, or "" when the path is not one.
std::string unit_of_path(const char* path) {
  char* name = nullptr;
  if (sd_bus_path_decode(path, kUnitPathPrefix, &name) <= 0) return "";
  CString owned(name);
  return name;
}

int reply_unit_path(sd_bus_message* message, const char* unit) {
  char* path = nullptr;
  int r = sd_bus_path_encode(kUnitPathPrefix, unit, &path);
  if (r < 0) return r;
  CString owned(path);
  return sd_bus_reply_method_return(message, "o", path);
}

int get_unit(sd_bus_message* message, void* userdata, sd_bus_error* error) {
  Services& services = services_of(userdata);
  const char* unit = nullptr;
  int r = sd_bus_message_read(message, "s", &unit);
  if (r < 0) return r;
  services.log(std::string(kGetUnit) + " " + unit);
  if (auto injected = services.injected(kGetUnit, error)) return *injected;
  if (!services.units.contains(unit)) {
    return sd_bus_error_setf(error, "org.freedesktop.systemd1.NoSuchUnit", "Unit %s not loaded.", unit);
  }
  return reply_unit_path(message, unit);
}

int load_unit(sd_bus_message* message, void* userdata, sd_bus_error* error) {
  Services& services = services_of(userdata);
  const char* unit = nullptr;
  int r = sd_bus_message_read(message, "s", &unit);
  if (r < 0) return r;
  services.log(std::string(kLoadUnit) + " " + unit);
  if (auto injected = services.injected(kLoadUnit, error)) return *injected;
  services.units.emplace(unit, "inactive");  // as systemd: a unit without a file loads as not-found, inactive
  return reply_unit_path(message, unit);
}

int find_unit(sd_bus*, const char* path, const char*, void* userdata, void** found, sd_bus_error*) {
  if (!services_of(userdata).units.contains(unit_of_path(path))) return 0;
  *found = userdata;
  return 1;
}

int get_active_state(sd_bus*, const char* path, const char*, const char*, sd_bus_message* reply,
                     void* userdata, sd_bus_error*) {
  Services& services = services_of(userdata);
  std::string unit = unit_of_path(path);
  services.log("Get org.freedesktop.systemd1.Unit.ActiveState " + unit);
  return sd_bus_message_append(reply, "s", services.units.at(unit).c_str());
}

int reload(sd_bus_message* message, void* userdata, sd_bus_error* error) {
  Services& services = services_of(userdata);
  services.log(std::string(kReload));
  if (auto injected = services.injected(kReload, error)) return *injected;
  return sd_bus_reply_method_return(message, "");
}

int reload_connections(sd_bus_message* message, void* userdata, sd_bus_error* error) {
  Services& services = services_of(userdata);
  services.log(std::string(kReloadConnections));
  if (auto injected = services.injected(kReloadConnections, error)) return *injected;
  return sd_bus_reply_method_return(message, "b", services.reload_connections_answer ? 1 : 0);
}

const sd_bus_vtable kManagerVtable[] = {
    SD_BUS_VTABLE_START(0),
    SD_BUS_METHOD("GetUnit", "s", "o", get_unit, 0),
    SD_BUS_METHOD("LoadUnit", "s", "o", load_unit, 0),
    SD_BUS_VTABLE_END,
};
const sd_bus_vtable kUnitVtable[] = {
    SD_BUS_VTABLE_START(0),
    SD_BUS_PROPERTY("ActiveState", "s", get_active_state, 0, 0),
    SD_BUS_VTABLE_END,
};
const sd_bus_vtable kNetworkdVtable[] = {
    SD_BUS_VTABLE_START(0),
    SD_BUS_METHOD("Reload", "", "", reload, 0),
    SD_BUS_VTABLE_END,
};
const sd_bus_vtable kNetworkManagerSettingsVtable[] = {
    SD_BUS_VTABLE_START(0),
    SD_BUS_METHOD("ReloadConnections", "", "b", reload_connections, 0),
    SD_BUS_VTABLE_END,
};

[[noreturn]] void fail(const std::string& what, int r) {
  std::fprintf(stderr, "nicsync-fake-services: %s: %s\n", what.c_str(), std::strerror(r < 0 ? -r : r));
  std::exit(1);
}

[[noreturn]] void usage(const std::string& problem) {
  std::fprintf(
      stderr,
      "nicsync-fake-services: %s\nusage: nicsync-fake-services --address ADDRESS --log FILE --ready FILE "
      "[--unit NAME=STATE]... [--fail CALL]... [--hang CALL]... [--reload-connections-answer true|false]\n",
      problem.c_str());
  std::exit(2);
}

}  // namespace

int main(int argc, char** argv) {
  Services services;
  std::string address;
  std::string log_path;
  std::string ready_path;
  std::vector<std::string> args(argv + 1, argv + argc);
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& option = args[i];
    if (i + 1 >= args.size()) usage(option + " needs a value");
    const std::string& value = args[++i];
    if (option == "--address") {
      address = value;
    } else if (option == "--log") {
      log_path = value;
    } else if (option == "--ready") {
      ready_path = value;
    } else if (option == "--unit") {
      size_t equals = value.find('=');
      if (equals == std::string::npos) usage("--unit wants NAME=STATE, not " + value);
      services.units[value.substr(0, equals)] = value.substr(equals + 1);
    } else if (option == "--fail") {
      services.fail.insert(value);
    } else if (option == "--hang") {
      services.hang.insert(value);
    } else if (option == "--reload-connections-answer") {
      if (value != "true" && value != "false") usage("--reload-connections-answer wants true or false");
      services.reload_connections_answer = value == "true";
    } else {
      usage("unknown option " + option);
    }
  }
  if (address.empty() || log_path.empty() || ready_path.empty())
    usage("--address, --log and --ready are needed");

  services.log_fd = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (services.log_fd < 0) fail("cannot open " + log_path, errno);

  sd_bus* raw = nullptr;
  int r = sd_bus_new(&raw);
  if (r < 0) fail("sd_bus_new", r);
  std::unique_ptr<sd_bus, BusCloser> bus(raw);
  if ((r = sd_bus_set_address(bus.get(), address.c_str())) < 0) fail("bad address " + address, r);
  if ((r = sd_bus_set_bus_client(bus.get(), 1)) < 0) fail("sd_bus_set_bus_client", r);
  if ((r = sd_bus_start(bus.get())) < 0) fail("cannot connect to " + address, r);

  r = sd_bus_add_object_vtable(bus.get(), nullptr, kSystemdPath, "org.freedesktop.systemd1.Manager",
                               kManagerVtable, &services);
  if (r < 0) fail("systemd1 Manager object", r);
  r = sd_bus_add_fallback_vtable(bus.get(), nullptr, kUnitPathPrefix, "org.freedesktop.systemd1.Unit",
                                 kUnitVtable, find_unit, &services);
  if (r < 0) fail("systemd1 Unit objects", r);
  r = sd_bus_add_object_vtable(bus.get(), nullptr, "/org/freedesktop/network1",
                               "org.freedesktop.network1.Manager", kNetworkdVtable, &services);
  if (r < 0) fail("network1 Manager object", r);
  r = sd_bus_add_object_vtable(bus.get(), nullptr, "/org/freedesktop/NetworkManager/Settings",
                               "org.freedesktop.NetworkManager.Settings", kNetworkManagerSettingsVtable,
                               &services);
  if (r < 0) fail("NetworkManager Settings object", r);
  for (const char* name :
       {"org.freedesktop.systemd1", "org.freedesktop.network1", "org.freedesktop.NetworkManager"}) {
    if ((r = sd_bus_request_name(bus.get(), name, 0)) < 0) fail(std::string("cannot own ") + name, r);
  }

  // Ready: written whole under a temporary name, then renamed, so a reader never sees it half done.
  std::string temp = ready_path + ".tmp";
  FILE* ready = std::fopen(temp.c_str(), "w");
  if (ready == nullptr || std::fprintf(ready, "%d\n", static_cast<int>(::getpid())) < 0 ||
      std::fclose(ready) != 0 || std::rename(temp.c_str(), ready_path.c_str()) != 0) {
    fail("cannot write " + ready_path, errno);
  }

  while (true) {
    r = sd_bus_process(bus.get(), nullptr);
    if (r == -ECONNRESET || r == -ENOTCONN) return 0;  // the bus went away: the test is over
    if (r < 0) fail("sd_bus_process", r);
    if (r > 0) continue;
    r = sd_bus_wait(bus.get(), UINT64_MAX);
    if (r < 0 && r != -EINTR) fail("sd_bus_wait", r);
  }
}
