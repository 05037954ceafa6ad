// nicsync-notify-driver: runs notify_network_service() as the launcher does after an apply that
// changed files, with the real system bus (sd-bus; $DBUS_SYSTEM_BUS_ADDRESS points it at the
// test's private dbus-daemon) and the real command runner. Only netplan's path is replaced, by
// --netplan PROGRAM, so that a test can record its argv instead of running the real one.
//
//   nicsync-notify-driver --renderer netplan|network-scripts [--root DIR] [--netplan PROGRAM]
//
// Prints each line of `done` on stdout; "no system bus: ..." on stderr when the bus cannot be
// reached (and then notifies without it, as the launcher does); on failure "error: ..." on stderr
// and exit status 1; 2 for a bad command line.

#include <iostream>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "nicsync/render.hpp"
#include "nicsync/service_bus.hpp"

namespace {

/// The real runner, with kNetplanProgram replaced by the test's stand-in.
class RedirectingRunner : public nicsync::CommandRunner {
 public:
  RedirectingRunner(nicsync::CommandRunner& real, std::string netplan)
      : real_(real), netplan_(std::move(netplan)) {}

  nicsync::Result<void> run(const std::vector<std::string>& argv) override {
    std::vector<std::string> redirected = argv;
    if (!redirected.empty() && redirected[0] == nicsync::kNetplanProgram) redirected[0] = netplan_;
    return real_.run(redirected);
  }

 private:
  nicsync::CommandRunner& real_;
  std::string netplan_;
};

int usage(const std::string& problem) {
  std::cerr << "nicsync-notify-driver: " << problem
            << "\nusage: nicsync-notify-driver --renderer netplan|network-scripts [--root DIR] [--netplan "
               "PROGRAM]\n";
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  std::string renderer_text;
  std::string root = "/";
  std::string netplan(nicsync::kNetplanProgram);
  for (size_t i = 0; i < args.size(); ++i) {
    if (i + 1 >= args.size()) return usage(args[i] + " needs a value");
    const std::string& value = args[i + 1];
    if (args[i] == "--renderer") {
      renderer_text = value;
    } else if (args[i] == "--root") {
      root = value;
    } else if (args[i] == "--netplan") {
      netplan = value;
    } else {
      return usage("unknown option " + args[i]);
    }
    ++i;
  }
  nicsync::Result<nicsync::RendererKind> renderer = nicsync::parse_renderer(renderer_text);
  if (!renderer.ok()) return usage(renderer.error().message);

  nicsync::Result<std::unique_ptr<nicsync::ServiceBus>> bus = nicsync::make_sd_bus_service_bus();
  if (!bus.ok()) std::cerr << "no system bus: " << bus.error().message << "\n";
  std::unique_ptr<nicsync::CommandRunner> real = nicsync::make_command_runner();
  RedirectingRunner commands(*real, netplan);

  std::vector<std::string> done;
  nicsync::Result<void> result =
      nicsync::notify_network_service(*renderer, root, bus.ok() ? bus->get() : nullptr, commands, done);
  for (const std::string& line : done) std::cout << line << "\n";
  std::cout.flush();
  if (!result.ok()) {
    std::cerr << "error: " << result.error().message << "\n";
    return 1;
  }
  return 0;
}
