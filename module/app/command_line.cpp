#include <iostream>

#include "nicsync/app.hpp"

namespace nicsync {

namespace {

constexpr const char* kUsage = R"(Usage: nicsync [OPTIONS] COMMAND

Makes every secondary private IP and secondary NIC of an AWS EC2, Oracle Cloud or Alibaba
Cloud ECS instance work: reads the instance metadata and writes persistent network
configuration (netplan or RHEL network-scripts) with per-NIC policy routing.

Commands:
  apply           write the configuration files (only files nicsync owns are replaced) and,
                  when networking is up, apply the same state to the running kernel
  plan            print a unified diff of the files apply would change and the kernel
                  changes it would make; changes nothing
  show            print the instance's interfaces as nicsync understands them
  config check    validate the settings files and print the effective settings

Settings come from /etc/nicsync/nicsync.yaml, then /etc/nicsync/conf.d/*.yaml (by name),
then the `nicsync:` key of cloud-init's /run/cloud-init/combined-cloud-config.json, then
these options; each layer overrides the one before.

Options:
  --root DIR            read and write every path under DIR (image builds, tests); default /
  --metadata-url URL    metadata service endpoint (default: the vendor's:
                        http://169.254.169.254, Alibaba http://100.100.100.200)
  --vendor NAME         aws, oracle or alibaba; default: detected from /sys/class/dmi/id
  --renderer NAME       netplan or network-scripts; default: netplan if /etc/netplan
                        exists, else network-scripts if /etc/sysconfig/network-scripts does
  --policy-routing MODE auto (default: on when two or more NICs have addresses),
                        on or off
  --table-base N        per-NIC table = N + 100*card + index (default 1000)
  --live                also apply to the running kernel (default: when networking is up
                        and --root is /)
  --no-live             write files only
  --boot                the boot run (nicsync.service): metadata.boot_timeout_ms per
                        request and at most 2 tries; when the metadata service cannot
                        be reached, use cloud-init's /run/cloud-init/instance-data.json,
                        then the last good view (/var/lib/nicsync/metadata.json); with
                        none of them, warn and exit 0, leaving the files as they are
  --json                show: print JSON
  -h, --help            this text
  --version             print the version

Exit status:
  0  done, with or without changes
  1  the run failed; the one-line message names the input or object and what is
     wrong. Unreachable or invalid metadata, a missing interface or a bad setting
     change nothing; a refused kernel change undoes the changes made to that NIC
  2  bad command line
  3  no supported cloud detected and no --vendor given
  128+N  stopped by signal N (143 for SIGTERM); the next run applies the rest
)";

Result<uint32_t> parse_number(const std::string& option, const std::string& text) {
  if (text.empty() || text.size() > 9 || text.find_first_not_of("0123456789") != std::string::npos) {
    return Error{option + ": " + quote(text) + " is not a number"};
  }
  return static_cast<uint32_t>(std::stoul(text));
}

}  // namespace

Result<RunOptions> parse_command_line(const std::vector<std::string>& args,
                                      std::optional<std::string>& early_exit_text) {
  RunOptions options;
  std::optional<Command> command;
  for (size_t i = 0; i < args.size(); ++i) {
    std::string arg = args[i];
    std::optional<std::string> inline_value;
    if (arg.rfind("--", 0) == 0 && arg.find('=') != std::string::npos) {
      inline_value = arg.substr(arg.find('=') + 1);
      arg = arg.substr(0, arg.find('='));
    }
    auto value = [&]() -> Result<std::string> {
      if (inline_value) return *inline_value;
      if (i + 1 >= args.size()) return Error{arg + " needs a value"};
      return args[++i];
    };
    if (arg == "-h" || arg == "--help" || arg == "help") {
      early_exit_text = kUsage;
      return options;
    }
    if (arg == "--version") {
      early_exit_text = std::string("nicsync ") + NICSYNC_VERSION + "\n";
      return options;
    }
    if (arg == "--json") {
      options.format = OutputFormat::json;
    } else if (arg == "--live") {
      options.command_line.live = LiveMode::on;
    } else if (arg == "--no-live") {
      options.command_line.live = LiveMode::off;
    } else if (arg == "--boot") {
      options.mode = RunMode::boot;
    } else if (arg == "--root") {
      NICSYNC_TRY_ASSIGN(options.root, value());
      if (options.root.empty() || options.root[0] != '/') return Error{"--root: " + quote(options.root) + " is not an absolute path"};
    } else if (arg == "--metadata-url") {
      NICSYNC_TRY_ASSIGN(std::string url, value());
      if (url.rfind("http://", 0) != 0 && url.rfind("https://", 0) != 0) {
        return Error{"--metadata-url: " + quote(url) + " is not an http:// or https:// URL"};
      }
      while (!url.empty() && url.back() == '/') url.pop_back();
      options.command_line.metadata.url = url;
    } else if (arg == "--vendor") {
      NICSYNC_TRY_ASSIGN(std::string text, value());
      auto vendor = parse_vendor(text);
      if (!vendor.ok()) return with_context("--vendor: ", vendor.error());
      options.command_line.vendor = *vendor;
    } else if (arg == "--renderer") {
      NICSYNC_TRY_ASSIGN(std::string text, value());
      auto renderer = parse_renderer(text);
      if (!renderer.ok()) return with_context("--renderer: ", renderer.error());
      options.command_line.renderer = *renderer;
    } else if (arg == "--policy-routing") {
      NICSYNC_TRY_ASSIGN(std::string text, value());
      if (text == "auto") options.command_line.policy_routing = PolicyRouting::automatic;
      else if (text == "on") options.command_line.policy_routing = PolicyRouting::on;
      else if (text == "off") options.command_line.policy_routing = PolicyRouting::off;
      else return Error{"--policy-routing: " + quote(text) + " is not auto, on or off"};
    } else if (arg == "--table-base") {
      NICSYNC_TRY_ASSIGN(std::string text, value());
      NICSYNC_TRY_ASSIGN(uint32_t base, parse_number(arg, text));
      if (base < 1 || base > 250000000) return Error{"--table-base: " + text + " is out of range"};
      options.command_line.table_base = base;
    } else if (!arg.empty() && arg[0] == '-') {
      return Error{"unknown option " + quote(arg) + " (see nicsync --help)"};
    } else if (command) {
      return Error{"unexpected argument " + quote(arg) + " (see nicsync --help)"};
    } else if (arg == "apply") {
      command = Command::apply;
    } else if (arg == "plan") {
      command = Command::plan;
    } else if (arg == "show") {
      command = Command::show;
    } else if (arg == "config") {
      if (i + 1 >= args.size() || args[i + 1] != "check") return Error{"config: the only subcommand is \"check\""};
      ++i;
      command = Command::config_check;
    } else {
      return Error{"unknown command " + quote(arg) + " (commands: apply, plan, show, config check)"};
    }
  }
  if (!command) return Error{"no command given (commands: apply, plan, show, config check; see nicsync --help)"};
  options.command = *command;
  return options;
}

}  // namespace nicsync
