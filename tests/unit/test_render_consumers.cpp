// The rendered files fed to their real consumers: `netplan generate` (netplan 0.106 in CI) and
// the way RHEL network-scripts reads ifcfg-, route- and rule- files (bash sourcing, `ip` lines),
// the latter inside a throwaway network namespace. Commands run with fixed argument lists.

#include <doctest/doctest.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <regex>
#include <sstream>
#include <string>
#include <tuple>
#include <vector>

#include "instances.hpp"
#include "nicsync/plan.hpp"
#include "nicsync/render.hpp"

using namespace nicsync;
namespace fs = std::filesystem;

namespace {

// ---- running programs ----

struct Outcome {
  int exit_code = -1;  ///< -1 when the program did not exit normally
  std::string out;
  std::string err;
};

std::string read_all(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

/// Runs argv (looked up in a fixed PATH) with a fixed, minimal environment; collects its output.
Outcome run(const std::vector<std::string>& argv) {
  char out_name[] = "/tmp/nicsync-test-out-XXXXXX";
  char err_name[] = "/tmp/nicsync-test-err-XXXXXX";
  int out_fd = mkstemp(out_name);
  int err_fd = mkstemp(err_name);
  REQUIRE(out_fd >= 0);
  REQUIRE(err_fd >= 0);
  std::vector<char*> args;
  for (const std::string& arg : argv) args.push_back(const_cast<char*>(arg.c_str()));
  args.push_back(nullptr);
  char path_env[] = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
  char locale_env[] = "LC_ALL=C";
  char* env[] = {path_env, locale_env, nullptr};
  pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    int null_fd = open("/dev/null", O_RDONLY);
    dup2(null_fd, 0);
    dup2(out_fd, 1);
    dup2(err_fd, 2);
    execvpe(args[0], args.data(), env);
    _exit(127);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  close(out_fd);
  close(err_fd);
  Outcome outcome{WIFEXITED(status) ? WEXITSTATUS(status) : -1, read_all(out_name), read_all(err_name)};
  unlink(out_name);
  unlink(err_name);
  return outcome;
}

bool installed(const std::string& program) {
  for (const char* dir : {"/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"}) {
    if (access((std::string(dir) + "/" + program).c_str(), X_OK) == 0) return true;
  }
  return false;
}

/// A fresh directory under /tmp, removed with everything in it.
class TempDir {
 public:
  TempDir() {
    char name[] = "/tmp/nicsync-render-XXXXXX";
    REQUIRE(mkdtemp(name) != nullptr);
    path_ = name;
  }
  ~TempDir() {
    std::error_code ignored;
    fs::remove_all(path_, ignored);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

void write_file(const fs::path& path, const std::string& content, unsigned mode) {
  fs::create_directories(path.parent_path());
  std::ofstream(path, std::ios::binary | std::ios::trunc) << content;
  REQUIRE(chmod(path.c_str(), static_cast<mode_t>(mode)) == 0);
}

// ---- instances ----

/// aws-multi-ip-ipv6 (IPv4 part): eth0 172.31.44.13 (+172.31.45.70), eth1 172.31.47.221, in 172.31.32.0/20.
Instance aws_multi_ip() {
  Instance instance;
  instance.interfaces.push_back(test::make_nic("eth0", "0a:07:84:3d:6e:38", NicRole::primary, 0,
                                               {"172.31.44.13", "172.31.45.70"}, "172.31.32.0/20",
                                               "172.31.32.1"));
  instance.interfaces.push_back(test::make_nic("eth1", "0a:75:69:92:e2:16", NicRole::secondary, 1,
                                               {"172.31.47.221"}, "172.31.32.0/20", "172.31.32.1"));
  return instance;
}

Plan plan_of(const Instance& instance, PolicyRouting policy = PolicyRouting::automatic) {
  PlanOptions options;
  options.policy_routing = policy;
  return *make_plan(instance, options);
}

// ---- systemd .network files ----

using IniSection = std::vector<std::pair<std::string, std::string>>;
using KeyValues = std::map<std::string, std::string>;

struct IniFile {
  std::string name;
  std::vector<std::pair<std::string, IniSection>> sections;

  std::vector<IniSection> all(const std::string& section) const {
    std::vector<IniSection> found;
    for (const auto& [title, body] : sections) {
      if (title == section) found.push_back(body);
    }
    return found;
  }
  std::vector<std::string> values(const std::string& section, const std::string& key) const {
    std::vector<std::string> found;
    for (const IniSection& body : all(section)) {
      for (const auto& [k, v] : body) {
        if (k == key) found.push_back(v);
      }
    }
    return found;
  }
  /// Each [section] as a key -> value map (for sections whose keys do not repeat).
  std::vector<KeyValues> maps(const std::string& section) const {
    std::vector<KeyValues> found;
    for (const IniSection& body : all(section)) found.emplace_back(body.begin(), body.end());
    return found;
  }
};

/// A minimal reader for systemd unit syntax: [Section] lines, Key=Value lines, # and ; comments.
IniFile parse_ini(const std::string& name, const std::string& text) {
  IniFile file{name, {}};
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (line.empty() || line[0] == '#' || line[0] == ';') continue;
    if (line.front() == '[' && line.back() == ']') {
      file.sections.push_back({line.substr(1, line.size() - 2), {}});
      continue;
    }
    size_t eq = line.find('=');
    REQUIRE_MESSAGE(eq != std::string::npos, name << ": unexpected line " << line);
    REQUIRE_MESSAGE(!file.sections.empty(), name << ": key outside a section");
    file.sections.back().second.emplace_back(line.substr(0, eq), line.substr(eq + 1));
  }
  return file;
}

std::string lower(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return text;
}

/// The generated .network files whose [Match] selects the NIC with this name or MAC.
std::vector<IniFile> networks_matching(const fs::path& root, const std::string& name, const std::string& mac) {
  std::vector<IniFile> found;
  fs::path dir = root / "run/systemd/network";
  if (!fs::exists(dir)) return found;
  std::vector<fs::path> paths;
  for (const fs::directory_entry& entry : fs::directory_iterator(dir)) {
    if (entry.path().extension() == ".network") paths.push_back(entry.path());
  }
  std::sort(paths.begin(), paths.end());
  for (const fs::path& path : paths) {
    IniFile file = parse_ini(path.filename().string(), read_all(path));
    bool matches = false;
    for (const std::string& value : file.values("Match", "Name")) matches = matches || value == name;
    for (const char* key : {"PermanentMACAddress", "MACAddress"}) {
      for (const std::string& value : file.values("Match", key)) matches = matches || lower(value) == mac;
    }
    if (matches) found.push_back(file);
  }
  return found;
}

/// cloud-init's netplan file for the primary, as it writes it on EC2.
std::string cloud_init_yaml(const std::string& id, const std::string& mac, const std::string& name) {
  return "network:\n"
         "    ethernets:\n"
         "        " + id + ":\n"
         "            dhcp4: true\n"
         "            dhcp6: false\n"
         "            match:\n"
         "                macaddress: " + mac + "\n"
         "            set-name: " + name + "\n"
         "    version: 2\n";
}

/// Writes the foreign file (if any) and nicsync's rendered file under root, runs netplan generate.
Outcome generate(const fs::path& root, const std::optional<std::string>& cloud_init, const RenderedFile& file) {
  if (cloud_init) write_file(root / "etc/netplan/50-cloud-init.yaml", *cloud_init, 0600);
  write_file(root / fs::path(file.path).relative_path(), file.content, file.mode);
  return run({"netplan", "generate", "--root-dir", root.string()});
}

struct NetplanCase {
  const char* title;
  Instance instance;
  std::optional<std::string> cloud_init;
  std::string eth0_mac, eth0_secondary, eth1_mac, eth1_address, subnet, gateway;
};

std::vector<NetplanCase> netplan_cases() {
  return {
      {"two ENIs, nicsync defines both", test::aws_two_eni(), std::nullopt, "02:86:10:77:7f:fe", "10.0.0.58",
       "02:86:10:65:fd:31", "10.0.0.226", "10.0.0.0/24", "10.0.0.1"},
      {"two ENIs, cloud-init defines eth0 as eth0", test::aws_two_eni(),
       cloud_init_yaml("eth0", "02:86:10:77:7f:fe", "eth0"), "02:86:10:77:7f:fe", "10.0.0.58",
       "02:86:10:65:fd:31", "10.0.0.226", "10.0.0.0/24", "10.0.0.1"},
      {"dual-stack, nicsync defines both", aws_multi_ip(), std::nullopt, "0a:07:84:3d:6e:38", "172.31.45.70",
       "0a:75:69:92:e2:16", "172.31.47.221", "172.31.32.0/20", "172.31.32.1"},
      {"dual-stack, cloud-init defines eth0 as ens5 by upper-case MAC", aws_multi_ip(),
       cloud_init_yaml("ens5", "0A:07:84:3D:6E:38", "eth0"), "0a:07:84:3d:6e:38", "172.31.45.70",
       "0a:75:69:92:e2:16", "172.31.47.221", "172.31.32.0/20", "172.31.32.1"},
  };
}

// ---- network-scripts ----

/// The variables an ifcfg file sets, read the way network-scripts reads it: sourced by bash.
KeyValues source_ifcfg(const fs::path& path) {
  auto exported = [](const std::string& file) {
    Outcome outcome = run({"bash", "-c", "set -a; . \"$1\"; env -0", "_", file});
    REQUIRE(outcome.exit_code == 0);
    CHECK(outcome.err == "");
    KeyValues vars;
    std::istringstream in(outcome.out);
    for (std::string entry; std::getline(in, entry, '\0');) {
      size_t eq = entry.find('=');
      if (eq != std::string::npos) vars[entry.substr(0, eq)] = entry.substr(eq + 1);
    }
    return vars;
  };
  KeyValues baseline = exported("/dev/null");
  KeyValues vars;
  for (const auto& [key, value] : exported(path.string())) {
    auto same = baseline.find(key);
    if (key != "_" && (same == baseline.end() || same->second != value)) vars[key] = value;
  }
  return vars;
}

/// The argument lines of a route-/rule- file as ifup-routes takes them: blank and whole-line
/// comment lines skipped, the rest word-split.
std::vector<std::vector<std::string>> ip_lines(const std::string& text) {
  std::vector<std::vector<std::string>> lines;
  std::istringstream in(text);
  std::regex skipped("^[[:space:]]*(#.*)?$");
  for (std::string line; std::getline(in, line);) {
    if (std::regex_match(line, skipped)) continue;
    std::istringstream words(line);
    std::vector<std::string> split;
    for (std::string word; words >> word;) split.push_back(word);
    lines.push_back(split);
  }
  return lines;
}

std::vector<std::string> joined(std::vector<std::string> head, const std::vector<std::string>& tail) {
  head.insert(head.end(), tail.begin(), tail.end());
  return head;
}

/// A network namespace of the test's own, deleted when the test ends (also on failure).
class Netns {
 public:
  Netns() {
    static std::atomic<int> counter{0};
    name_ = "nicsync-test-" + std::to_string(getpid()) + "-" + std::to_string(counter++);
    Outcome added = run({"ip", "netns", "add", name_});
    REQUIRE_MESSAGE(added.exit_code == 0, "ip netns add: " << added.err);
  }
  ~Netns() { (void)run({"ip", "netns", "del", name_}); }
  Netns(const Netns&) = delete;
  Netns& operator=(const Netns&) = delete;

  /// `ip -n <ns> args...`
  Outcome ip(const std::vector<std::string>& args) const { return run(joined({"ip", "-n", name_}, args)); }
  /// Like ip(), but the command must succeed silently.
  void must(const std::vector<std::string>& args) const {
    Outcome outcome = ip(args);
    std::string command;
    for (const std::string& arg : args) command += " " + arg;
    REQUIRE_MESSAGE(outcome.exit_code == 0, "ip" << command << ": " << outcome.err);
    CHECK_MESSAGE(outcome.err == "", "ip" << command);
  }
  nlohmann::json json(const std::vector<std::string>& args) const {
    Outcome outcome = ip(joined({"-j"}, args));
    REQUIRE(outcome.exit_code == 0);
    return nlohmann::json::parse(outcome.out);
  }

 private:
  std::string name_;
};

/// The two NICs as the OS has them before nicsync's files apply: veth pairs in the namespace,
/// eth0 with its DHCP lease and the lease's default route (what dhclient would install).
void add_links(const Netns& ns) {
  ns.must({"link", "set", "lo", "up"});
  for (const char* pair : {"0", "1"}) {
    ns.must({"link", "add", std::string("eth") + pair, "type", "veth", "peer", "name", std::string("peer") + pair});
    ns.must({"link", "set", std::string("peer") + pair, "up"});
    ns.must({"link", "set", std::string("eth") + pair, "up"});
  }
  ns.must({"-4", "addr", "add", "10.0.0.76/24", "dev", "eth0"});
  ns.must({"-4", "route", "add", "default", "via", "10.0.0.1", "dev", "eth0", "metric", "100"});
}

/// Gives a static NIC the addresses its ifcfg names: IPADDR/PREFIX, IPADDR1/PREFIX1, ...
void add_static_addresses(const Netns& ns, const KeyValues& ifcfg) {
  for (int i = 0;; ++i) {
    std::string suffix = i == 0 ? "" : std::to_string(i);
    auto address = ifcfg.find("IPADDR" + suffix);
    if (address == ifcfg.end()) break;
    ns.must({"-4", "addr", "add", address->second + "/" + ifcfg.at("PREFIX" + suffix), "dev", ifcfg.at("DEVICE")});
  }
}

std::map<std::string, RenderedFile> by_name(const std::vector<RenderedFile>& files) {
  std::map<std::string, RenderedFile> named;
  for (const RenderedFile& file : files) named[fs::path(file.path).filename().string()] = file;
  return named;
}

}  // namespace

TEST_SUITE("render::consumers") {
  TEST_CASE("netplan generate accepts the file and networkd gets exactly the planned eth0 and eth1") {
    if (!installed("netplan")) {
      MESSAGE("netplan is not installed: skipped");
      return;
    }
    for (const NetplanCase& c : netplan_cases()) {
      CAPTURE(c.title);
      TempDir root;
      std::vector<NetplanSource> sources;
      if (c.cloud_init) sources.push_back({"/etc/netplan/50-cloud-init.yaml", *c.cloud_init});
      Plan plan = plan_of(c.instance);
      RenderedFile file = render_netplan(plan, *find_netplan_ids(plan, sources));

      Outcome generated = generate(root.path(), c.cloud_init, file);
      REQUIRE(generated.exit_code == 0);
      CHECK(generated.err == "");
      CHECK(generated.out == "");

      // eth0: DHCP kept, the secondary added as /32, no policy routing; one definition only.
      std::vector<IniFile> eth0 = networks_matching(root.path(), "eth0", c.eth0_mac);
      REQUIRE(eth0.size() == 1);
      CHECK(eth0[0].values("Match", "PermanentMACAddress").size() == 1);
      CHECK(lower(eth0[0].values("Match", "PermanentMACAddress")[0]) == c.eth0_mac);
      CHECK(eth0[0].values("Match", "Name") == std::vector<std::string>{"eth0"});
      CHECK(eth0[0].values("Network", "DHCP") == std::vector<std::string>{"ipv4"});
      CHECK(eth0[0].values("Network", "Address") == std::vector<std::string>{c.eth0_secondary + "/32"});
      CHECK(eth0[0].all("Route").empty());
      CHECK(eth0[0].all("RoutingPolicyRule").empty());

      // eth1: static /32, the table's link route before its on-link default, main's fallback.
      std::vector<IniFile> eth1 = networks_matching(root.path(), "eth1", c.eth1_mac);
      REQUIRE(eth1.size() == 1);
      CHECK(eth1[0].name == "10-netplan-eth1.network");
      CHECK(eth1[0].maps("Match") == std::vector<KeyValues>{{{"PermanentMACAddress", c.eth1_mac}, {"Name", "eth1"}}});
      CHECK(eth1[0].values("Network", "DHCP").empty());
      CHECK(eth1[0].values("Network", "Address") == std::vector<std::string>{c.eth1_address + "/32"});
      // No router advertisements on a static NIC: networkd does not wait for one at boot.
      CHECK(eth1[0].values("Network", "IPv6AcceptRA") == std::vector<std::string>{"no"});
      CHECK(eth1[0].maps("Route") ==
            std::vector<KeyValues>{
                {{"Destination", c.subnet}, {"Scope", "link"}, {"Table", "1001"}},
                {{"Destination", "0.0.0.0/0"}, {"Gateway", c.gateway}, {"GatewayOnLink", "true"}, {"Table", "1001"}},
                {{"Destination", "0.0.0.0/0"}, {"Gateway", c.gateway}, {"GatewayOnLink", "true"}, {"Metric", "1001"}},
            });
      // netplan 0.106 writes the rule's source without a prefix length.
      CHECK(eth1[0].maps("RoutingPolicyRule") ==
            std::vector<KeyValues>{{{"From", c.eth1_address}, {"Table", "1001"}, {"Priority", "1001"}}});
    }
  }

  TEST_CASE("netplan: a VLAN NIC is a vlan netdev with its MAC on its parent, routed like any secondary") {
    if (!installed("netplan")) {
      MESSAGE("netplan is not installed: skipped");
      return;
    }
    const std::string parent_mac = "90:e2:ba:d4:f1:68";
    const std::string vlan_mac = "02:00:17:05:cf:51";
    struct VlanCase {
      const char* title;
      std::optional<std::string> cloud_init;
    };
    for (const VlanCase& c : {VlanCase{"nicsync defines the parent", std::nullopt},
                              VlanCase{"cloud-init defines the parent under another id",
                                       cloud_init_yaml("enp94s0f0", parent_mac, "ens3f0")}}) {
      CAPTURE(c.title);
      TempDir root;
      std::vector<NetplanSource> sources;
      if (c.cloud_init) sources.push_back({"/etc/netplan/50-cloud-init.yaml", *c.cloud_init});
      Plan plan = plan_of(test::oracle_bm_vlan());
      RenderedFile file = render_netplan(plan, *find_netplan_ids(plan, sources));
      Outcome generated = generate(root.path(), c.cloud_init, file);
      REQUIRE(generated.exit_code == 0);
      CHECK(generated.err == "");
      CHECK(generated.out == "");

      // The device: a vlan with the tag, created with the VNIC's MAC (the cloud sends it there).
      fs::path netdev_path = root.path() / "run/systemd/network/10-netplan-ens3f0.1.netdev";
      REQUIRE(fs::exists(netdev_path));
      IniFile netdev = parse_ini(netdev_path.filename().string(), read_all(netdev_path));
      CHECK(netdev.maps("NetDev") ==
            std::vector<KeyValues>{{{"Name", "ens3f0.1"}, {"Kind", "vlan"}, {"MACAddress", vlan_mac}}});
      CHECK(netdev.maps("VLAN") == std::vector<KeyValues>{{{"Id", "1"}}});

      // The parent keeps its DHCP and carries the VLAN; one definition only.
      std::vector<IniFile> parent = networks_matching(root.path(), "ens3f0", parent_mac);
      REQUIRE(parent.size() == 1);
      CHECK(parent[0].values("Network", "DHCP") == std::vector<std::string>{"ipv4"});
      CHECK(parent[0].values("Network", "VLAN") == std::vector<std::string>{"ens3f0.1"});

      // The VLAN: static /32, its table's routes, main's fallback, one rule, as any secondary NIC.
      std::vector<IniFile> vlan = networks_matching(root.path(), "ens3f0.1", vlan_mac);
      REQUIRE(vlan.size() == 1);
      CHECK(vlan[0].name == "10-netplan-ens3f0.1.network");
      CHECK(vlan[0].maps("Match") == std::vector<KeyValues>{{{"Name", "ens3f0.1"}}});
      CHECK(vlan[0].values("Link", "MACAddress") == std::vector<std::string>{vlan_mac});
      CHECK(vlan[0].values("Network", "DHCP").empty());
      CHECK(vlan[0].values("Network", "Address") == std::vector<std::string>{"10.0.4.5/32"});
      CHECK(vlan[0].values("Network", "IPv6AcceptRA") == std::vector<std::string>{"no"});
      CHECK(vlan[0].maps("Route") ==
            std::vector<KeyValues>{
                {{"Destination", "10.0.4.0/24"}, {"Scope", "link"}, {"Table", "1001"}},
                {{"Destination", "0.0.0.0/0"},
                 {"Gateway", "10.0.4.1"},
                 {"GatewayOnLink", "true"},
                 {"Table", "1001"}},
                {{"Destination", "0.0.0.0/0"},
                 {"Gateway", "10.0.4.1"},
                 {"GatewayOnLink", "true"},
                 {"Metric", "1001"}},
            });
      CHECK(vlan[0].maps("RoutingPolicyRule") ==
            std::vector<KeyValues>{{{"From", "10.0.4.5"}, {"Table", "1001"}, {"Priority", "1001"}}});
    }
  }

  TEST_CASE("netplan: a VLAN on a parent no file defines is refused (which the planner prevents)") {
    // Why make_plan insists on a planned parent: netplan generate fails the whole configuration.
    if (!installed("netplan")) {
      MESSAGE("netplan is not installed: skipped");
      return;
    }
    Plan plan = plan_of(test::oracle_bm_vlan());
    plan.nics.erase(plan.nics.begin());
    TempDir root;
    Outcome generated = generate(root.path(), std::nullopt, render_netplan(plan, {}));
    CHECK(generated.exit_code != 0);
    CHECK(generated.err.find("ens3f0") != std::string::npos);
  }

  TEST_CASE("netplan: without the existing id the primary gets two definitions and networkd ignores one") {
    // Why find_netplan_ids matters: definitions of one NIC under different ids are not merged.
    if (!installed("netplan")) {
      MESSAGE("netplan is not installed: skipped");
      return;
    }
    TempDir root;
    Outcome generated = generate(root.path(), cloud_init_yaml("ens5", "0a:07:84:3d:6e:38", "eth0"),
                                 render_netplan(plan_of(aws_multi_ip()), {}));
    REQUIRE(generated.exit_code == 0);
    CHECK(networks_matching(root.path(), "eth0", "0a:07:84:3d:6e:38").size() == 2);
  }

  TEST_CASE("netplan: the files with nothing to list are valid (no empty keys)") {
    if (!installed("netplan")) {
      MESSAGE("netplan is not installed: skipped");
      return;
    }
    Instance lone = test::aws_two_eni();
    lone.interfaces.pop_back();
    lone.interfaces[0].ipv4.addresses.pop_back();
    struct Variant {
      const char* title;
      RenderedFile file;
    };
    for (const Variant& v : {Variant{"no policy routing", render_netplan(plan_of(test::aws_two_eni(), PolicyRouting::off), {})},
                             Variant{"lone primary defined elsewhere", render_netplan(plan_of(lone), {{"eth0", "eth0"}})},
                             Variant{"lone primary", render_netplan(plan_of(lone), {})}}) {
      CAPTURE(v.title);
      TempDir root;
      Outcome generated = generate(root.path(), cloud_init_yaml("eth0", "02:86:10:77:7f:fe", "eth0"), v.file);
      CHECK(generated.exit_code == 0);
      CHECK(generated.err == "");
      std::vector<IniFile> eth0 = networks_matching(root.path(), "eth0", "02:86:10:77:7f:fe");
      REQUIRE(eth0.size() == 1);
      CHECK(eth0[0].values("Network", "DHCP") == std::vector<std::string>{"ipv4"});
    }
  }

  TEST_CASE("netplan: the rendered mode draws no warning, a more open one does") {
    if (!installed("netplan")) {
      MESSAGE("netplan is not installed: skipped");
      return;
    }
    RenderedFile file = render_netplan(plan_of(test::aws_two_eni()), {});
    TempDir quiet;
    CHECK(generate(quiet.path(), std::nullopt, file).err == "");
    file.mode = 0644;
    TempDir noisy;
    CHECK(generate(noisy.path(), std::nullopt, file).err.find("are too open") != std::string::npos);
  }

  TEST_CASE("network-scripts: bash reads exactly the planned variables from each ifcfg") {
    TempDir dir;
    std::map<std::string, RenderedFile> files = by_name(render_network_scripts(plan_of(test::aws_two_eni())));
    for (const auto& [name, file] : files) write_file(dir.path() / name, file.content, file.mode);

    CHECK(source_ifcfg(dir.path() / "ifcfg-eth0") ==
          KeyValues{{"DEVICE", "eth0"}, {"BOOTPROTO", "dhcp"}, {"ONBOOT", "yes"}, {"HWADDR", "02:86:10:77:7f:fe"}});
    CHECK(source_ifcfg(dir.path() / "ifcfg-eth0:0") == KeyValues{{"DEVICE", "eth0:0"},
                                                                 {"BOOTPROTO", "static"},
                                                                 {"IPADDR", "10.0.0.58"},
                                                                 {"NETMASK", "255.255.255.0"},
                                                                 {"ONBOOT", "yes"},
                                                                 {"ARPCHECK", "no"},
                                                                 {"ARPUPDATE", "no"}});
    CHECK(source_ifcfg(dir.path() / "ifcfg-eth1") == KeyValues{{"DEVICE", "eth1"},
                                                               {"HWADDR", "02:86:10:65:fd:31"},
                                                               {"BOOTPROTO", "none"},
                                                               {"ONBOOT", "yes"},
                                                               {"IPADDR", "10.0.0.226"},
                                                               {"PREFIX", "32"},
                                                               {"ARPCHECK", "no"},
                                                               {"ARPUPDATE", "no"},
                                                               {"DEFROUTE", "no"},
                                                               {"PEERDNS", "no"}});
  }

  TEST_CASE("network-scripts: a VLAN ifcfg reads as ifup needs it (VLAN, PHYSDEV, VID, MACADDR; no HWADDR)") {
    TempDir dir;
    std::map<std::string, RenderedFile> files =
        by_name(render_network_scripts(plan_of(test::oracle_bm_vlan())));
    for (const auto& [name, file] : files) write_file(dir.path() / name, file.content, file.mode);
    CHECK(source_ifcfg(dir.path() / "ifcfg-ens3f0.1") == KeyValues{{"DEVICE", "ens3f0.1"},
                                                                   {"VLAN", "yes"},
                                                                   {"PHYSDEV", "ens3f0"},
                                                                   {"VID", "1"},
                                                                   {"MACADDR", "02:00:17:05:cf:51"},
                                                                   {"BOOTPROTO", "none"},
                                                                   {"ONBOOT", "yes"},
                                                                   {"IPADDR", "10.0.4.5"},
                                                                   {"PREFIX", "32"},
                                                                   {"ARPCHECK", "no"},
                                                                   {"ARPUPDATE", "no"},
                                                                   {"DEFROUTE", "no"},
                                                                   {"PEERDNS", "no"}});
    for (const std::vector<std::string>& line : ip_lines(files.at("route-ens3f0.1").content)) {
      auto dev = std::find(line.begin(), line.end(), "dev");  // every line names its dev
      REQUIRE(dev != line.end());
      REQUIRE(std::next(dev) != line.end());
      CHECK(*std::next(dev) == "ens3f0.1");
    }
  }

  TEST_CASE("network-scripts: route and rule lines apply with ip in file order and give the planned kernel state") {
    if (geteuid() != 0) {
      MESSAGE("not root: network namespaces unavailable, skipped");
      return;
    }
    TempDir dir;
    std::map<std::string, RenderedFile> files = by_name(render_network_scripts(plan_of(test::aws_two_eni())));
    for (const auto& [name, file] : files) write_file(dir.path() / name, file.content, file.mode);
    KeyValues eth1 = source_ifcfg(dir.path() / "ifcfg-eth1");
    KeyValues alias = source_ifcfg(dir.path() / "ifcfg-eth0:0");

    Netns ns;
    add_links(ns);
    // ifup-aliases: the alias after the lease, with the alias file's netmask and label.
    int prefix = *Ipv4Cidr::prefix_from_netmask(alias.at("NETMASK"));
    ns.must({"-4", "addr", "add", alias.at("IPADDR") + "/" + std::to_string(prefix), "dev", "eth0", "label",
             alias.at("DEVICE")});
    add_static_addresses(ns, eth1);
    // ifup-routes: each line of route-eth1, then of rule-eth1, handed to ip as arguments.
    for (const std::vector<std::string>& line : ip_lines(files.at("route-eth1").content)) {
      ns.must(joined({"-4", "route", "add"}, line));
    }
    for (const std::vector<std::string>& line : ip_lines(files.at("rule-eth1").content)) {
      ns.must(joined({"-4", "rule", "add"}, line));
    }

    CHECK(ns.json({"-4", "route", "show", "table", "1001"}) == nlohmann::json::parse(R"([
      {"dst": "default", "gateway": "10.0.0.1", "dev": "eth1", "flags": ["onlink"]},
      {"dst": "10.0.0.0/24", "dev": "eth1", "scope": "link", "flags": []}
    ])"));
    // main: no prefix route through eth1, only its fallback default behind the lease's.
    CHECK(ns.json({"-4", "route", "show", "table", "main"}) == nlohmann::json::parse(R"([
      {"dst": "default", "gateway": "10.0.0.1", "dev": "eth0", "metric": 100, "flags": []},
      {"dst": "default", "gateway": "10.0.0.1", "dev": "eth1", "metric": 1001, "flags": ["onlink"]},
      {"dst": "10.0.0.0/24", "dev": "eth0", "protocol": "kernel", "scope": "link", "prefsrc": "10.0.0.76", "flags": []}
    ])"));
    CHECK(ns.json({"-4", "rule"}) == nlohmann::json::parse(R"([
      {"priority": 0, "src": "all", "table": "local"},
      {"priority": 1001, "src": "10.0.0.226", "table": "1001"},
      {"priority": 32766, "src": "all", "table": "main"},
      {"priority": 32767, "src": "all", "table": "default"}
    ])"));
    CHECK(ns.json({"-4", "addr", "show", "dev", "eth0"})[0]["addr_info"] == nlohmann::json::parse(R"([
      {"family": "inet", "local": "10.0.0.76", "prefixlen": 24, "scope": "global", "label": "eth0",
       "valid_life_time": 4294967295, "preferred_life_time": 4294967295},
      {"family": "inet", "local": "10.0.0.58", "prefixlen": 24, "scope": "global", "secondary": true,
       "label": "eth0:0", "valid_life_time": 4294967295, "preferred_life_time": 4294967295}
    ])"));

    // What the tables are for: the primary's traffic, to its subnet too, leaves by eth0 from the
    // lease; traffic from eth1's address leaves by eth1.
    auto path_of = [&](const std::vector<std::string>& args) {
      nlohmann::json got = ns.json(joined({"-4", "route", "get"}, args))[0];
      got.erase("uid");
      got.erase("cache");
      return got;
    };
    CHECK(path_of({"10.0.0.5"}) ==
          nlohmann::json::parse(R"({"dst": "10.0.0.5", "dev": "eth0", "prefsrc": "10.0.0.76", "flags": []})"));
    CHECK(path_of({"192.0.2.1"}) == nlohmann::json::parse(R"({"dst": "192.0.2.1", "gateway": "10.0.0.1",
          "dev": "eth0", "prefsrc": "10.0.0.76", "flags": []})"));
    CHECK(path_of({"10.0.0.5", "from", "10.0.0.226"}) == nlohmann::json::parse(R"({"dst": "10.0.0.5",
          "from": "10.0.0.226", "dev": "eth1", "table": "1001", "flags": []})"));
    CHECK(path_of({"192.0.2.1", "from", "10.0.0.226"}) == nlohmann::json::parse(R"({"dst": "192.0.2.1",
          "from": "10.0.0.226", "gateway": "10.0.0.1", "dev": "eth1", "table": "1001", "flags": []})"));

    // A rerun adds the same rule again: ip refuses it ("File exists"), so rules never pile up.
    Outcome again = ns.ip(joined({"-4", "rule", "add"}, ip_lines(files.at("rule-eth1").content)[0]));
    CHECK(again.exit_code == 2);
    CHECK(again.err == "RTNETLINK answers: File exists\n");
  }

  TEST_CASE("network-scripts: route order and onlink matter (the gateway is unreachable from a /32)") {
    if (geteuid() != 0) {
      MESSAGE("not root: network namespaces unavailable, skipped");
      return;
    }
    std::map<std::string, RenderedFile> files = by_name(render_network_scripts(plan_of(test::aws_two_eni())));
    std::vector<std::vector<std::string>> lines = ip_lines(files.at("route-eth1").content);
    REQUIRE(lines.size() == 3);
    // Take onlink off the gateway routes.
    for (size_t i : {1u, 2u}) {
      REQUIRE(lines[i].back() == "onlink");
      lines[i].pop_back();
    }
    const std::vector<std::string>& link = lines[0];
    const std::vector<std::string>& table_default = lines[1];
    const std::vector<std::string>& main_default = lines[2];

    Netns ns;
    add_links(ns);
    ns.must({"-4", "addr", "add", "10.0.0.226/32", "dev", "eth1"});
    // Reversed: the gateway route before the table's link route, without onlink, fails.
    Outcome reversed = ns.ip(joined({"-4", "route", "add"}, table_default));
    CHECK(reversed.exit_code == 2);
    CHECK(reversed.err == "Error: Nexthop has invalid gateway.\n");
    // In file order it works even without onlink: the link route makes the gateway reachable in T.
    ns.must(joined({"-4", "route", "add"}, link));
    ns.must(joined({"-4", "route", "add"}, table_default));
    // main has no route to the gateway through eth1: its fallback needs onlink.
    Outcome fallback = ns.ip(joined({"-4", "route", "add"}, main_default));
    CHECK(fallback.exit_code == 2);
    CHECK(fallback.err == "Error: Nexthop has invalid gateway.\n");
    ns.must(joined(joined({"-4", "route", "add"}, main_default), {"onlink"}));
  }
}

TEST_SUITE("render::consumers IPv6") {
  TEST_CASE("netplan generate: /128 addresses, v6 routes without on-link, local routes and v6 rules reach networkd") {
    if (!installed("netplan")) {
      MESSAGE("netplan is not installed: skipped");
      return;
    }
    Instance instance = test::aws_prefixes();
    instance.interfaces[1].ipv6.gateway = *Ipv6Address::parse("fe80::1");
    instance.interfaces.push_back(test::ipv6_only_nic("eth2", "06:1f:3a:5b:7c:03", 2,
                                                      {"2600:1f14:a4b:b02:7d15:30c4:e6a9:1f82"},
                                                      "2600:1f14:a4b:b02::/64", "fe80::1"));
    TempDir root;
    Outcome generated = generate(root.path(), std::nullopt, render_netplan(plan_of(instance), {}));
    REQUIRE(generated.exit_code == 0);
    CHECK(generated.err == "");
    CHECK(generated.out == "");

    // The primary keeps DHCP and RAs (no IPv6AcceptRA key); its IPv6 address is a /128.
    std::vector<IniFile> eth0 = networks_matching(root.path(), "eth0", "06:1f:3a:5b:7c:01");
    REQUIRE(eth0.size() == 1);
    CHECK(eth0[0].values("Network", "DHCP") == std::vector<std::string>{"ipv4"});
    CHECK(eth0[0].values("Network", "Address") ==
          std::vector<std::string>{"2600:1f14:a4b:b01:5e2a:8c1f:9d04:7b36/128"});
    CHECK(eth0[0].values("Network", "IPv6AcceptRA").empty());

    std::vector<IniFile> eth1 = networks_matching(root.path(), "eth1", "06:1f:3a:5b:7c:02");
    REQUIRE(eth1.size() == 1);
    CHECK(eth1[0].values("Network", "Address") ==
          std::vector<std::string>{"10.20.1.184/32", "2600:1f14:a4b:b01:e1d8:4a26:71b0:932f/128"});
    CHECK(eth1[0].values("Network", "IPv6AcceptRA") == std::vector<std::string>{"no"});
    // netplan gives a route without via Scope=link (networkd ignores the scope of an IPv6 route)
    // and a local route Scope=host; the v6 gateway routes have no GatewayOnLink.
    CHECK(eth1[0].maps("Route") ==
          std::vector<KeyValues>{
              {{"Destination", "10.20.1.0/24"}, {"Scope", "link"}, {"Table", "1001"}},
              {{"Destination", "0.0.0.0/0"}, {"Gateway", "10.20.1.1"}, {"GatewayOnLink", "true"}, {"Table", "1001"}},
              {{"Destination", "0.0.0.0/0"}, {"Gateway", "10.20.1.1"}, {"GatewayOnLink", "true"}, {"Metric", "1001"}},
              {{"Destination", "10.20.1.48/28"}, {"Scope", "host"}, {"Type", "local"}, {"Table", "255"}},
              {{"Destination", "2600:1f14:a4b:b01::/64"}, {"Scope", "link"}, {"Table", "1001"}},
              {{"Destination", "::/0"}, {"Gateway", "fe80::1"}, {"Table", "1001"}},
              {{"Destination", "::/0"}, {"Gateway", "fe80::1"}, {"Metric", "2025"}},
              {{"Destination", "2600:1f14:a4b:b01:8f2d::/80"}, {"Scope", "host"}, {"Type", "local"}, {"Table", "255"}},
          });
    CHECK(eth1[0].maps("RoutingPolicyRule") ==
          std::vector<KeyValues>{
              {{"From", "10.20.1.184"}, {"Table", "1001"}, {"Priority", "1001"}},
              {{"From", "10.20.1.48/28"}, {"Table", "1001"}, {"Priority", "1001"}},
              {{"From", "2600:1f14:a4b:b01:e1d8:4a26:71b0:932f"}, {"Table", "1001"}, {"Priority", "1001"}},
              {{"From", "2600:1f14:a4b:b01:8f2d::/80"}, {"Table", "1001"}, {"Priority", "1001"}},
          });

    // The IPv6-only NIC: no DHCP, no RAs, only IPv6.
    std::vector<IniFile> eth2 = networks_matching(root.path(), "eth2", "06:1f:3a:5b:7c:03");
    REQUIRE(eth2.size() == 1);
    CHECK(eth2[0].values("Network", "DHCP").empty());
    CHECK(eth2[0].values("Network", "IPv6AcceptRA") == std::vector<std::string>{"no"});
    CHECK(eth2[0].values("Network", "Address") ==
          std::vector<std::string>{"2600:1f14:a4b:b02:7d15:30c4:e6a9:1f82/128"});
    CHECK(eth2[0].maps("Route") ==
          std::vector<KeyValues>{
              {{"Destination", "2600:1f14:a4b:b02::/64"}, {"Scope", "link"}, {"Table", "1002"}},
              {{"Destination", "::/0"}, {"Gateway", "fe80::1"}, {"Table", "1002"}},
              {{"Destination", "::/0"}, {"Gateway", "fe80::1"}, {"Metric", "2026"}},
          });
    CHECK(eth2[0].maps("RoutingPolicyRule") ==
          std::vector<KeyValues>{
              {{"From", "2600:1f14:a4b:b02:7d15:30c4:e6a9:1f82"}, {"Table", "1002"}, {"Priority", "1002"}}});
  }

  TEST_CASE("network-scripts: bash reads the IPv6 keys of the primary's and a secondary's ifcfg") {
    TempDir dir;
    std::map<std::string, RenderedFile> files =
        by_name(render_network_scripts(plan_of(test::dual_stack_with_gateway())));
    for (const auto& [name, file] : files) write_file(dir.path() / name, file.content, file.mode);
    KeyValues eth0 = source_ifcfg(dir.path() / "ifcfg-eth0");
    CHECK(eth0.at("IPV6INIT") == "yes");
    CHECK(eth0.at("IPV6_AUTOCONF") == "yes");
    CHECK(eth0.count("IPV6ADDR") == 0);
    // ifup-ipv6 word-splits it: one address a word.
    CHECK(eth0.at("IPV6ADDR_SECONDARIES") ==
          "2600:1f16:292:100:c187:593c:4349:136/128 2600:1f16:292:100:f153:12a3:c37c:11f9/128");
    KeyValues eth1 = source_ifcfg(dir.path() / "ifcfg-eth1");
    CHECK(eth1.at("IPV6INIT") == "yes");
    CHECK(eth1.at("IPV6_AUTOCONF") == "no");
    CHECK(eth1.at("IPV6_DEFROUTE") == "no");
    CHECK(eth1.at("DHCPV6C") == "no");
    CHECK(eth1.at("IPV6ADDR") == "2600:1f16:292:100:9f27:ae11:5c02:be61/128");
    CHECK(eth1.at("IPV6ADDR_SECONDARIES") == "2600:1f16:292:100:3c4d:78e0:fa12:d907/128");
  }

  TEST_CASE("network-scripts: route6, rule6 and local route lines apply with ip and give the planned kernel state") {
    if (geteuid() != 0) {
      MESSAGE("not root: network namespaces unavailable, skipped");
      return;
    }
    Instance instance = test::aws_prefixes();
    instance.interfaces[1].ipv6.gateway = *Ipv6Address::parse("fe80::1");
    TempDir dir;
    std::map<std::string, RenderedFile> files = by_name(render_network_scripts(plan_of(instance)));
    for (const auto& [name, file] : files) write_file(dir.path() / name, file.content, file.mode);
    KeyValues eth1 = source_ifcfg(dir.path() / "ifcfg-eth1");

    Netns ns;
    add_links(ns);
    // ifup-ipv6: IPV6ADDR (no secondaries here), without waiting for duplicate address detection.
    REQUIRE(eth1.count("IPV6ADDR_SECONDARIES") == 0);
    ns.must({"-6", "addr", "add", eth1.at("IPV6ADDR"), "dev", "eth1", "nodad"});
    // ifup-routes: route-, route6-, then rule-, rule6-, each line handed to ip.
    for (const auto& [name, family, kind] : {std::tuple{"route-eth1", "-4", "route"}, {"route6-eth1", "-6", "route"},
                                             {"rule-eth1", "-4", "rule"}, {"rule6-eth1", "-6", "rule"}}) {
      for (const std::vector<std::string>& line : ip_lines(files.at(name).content)) {
        ns.must(joined({family, kind, "add"}, line));
      }
    }

    CHECK(ns.json({"-6", "route", "show", "table", "1001"}) == nlohmann::json::parse(R"([
      {"dst": "2600:1f14:a4b:b01::/64", "dev": "eth1", "metric": 1024, "flags": [], "pref": "medium"},
      {"dst": "default", "gateway": "fe80::1", "dev": "eth1", "metric": 1024, "flags": [], "pref": "medium"}
    ])"));
    nlohmann::json main6 = ns.json({"-6", "route", "show", "table", "main", "default"});
    CHECK(main6 == nlohmann::json::parse(R"([
      {"dst": "default", "gateway": "fe80::1", "dev": "eth1", "metric": 2025, "flags": [], "pref": "medium"}
    ])"));
    CHECK(ns.json({"-6", "route", "show", "table", "local", "type", "local", "dev", "eth1", "proto", "boot"}) ==
          nlohmann::json::parse(R"([
      {"type": "local", "dst": "2600:1f14:a4b:b01:8f2d::/80", "metric": 1024, "flags": [], "pref": "medium"}
    ])"));
    CHECK(ns.json({"-4", "route", "show", "table", "local", "dev", "eth1", "proto", "boot"}) ==
          nlohmann::json::parse(R"([
      {"type": "local", "dst": "10.20.1.48/28", "scope": "host", "flags": []}
    ])"));
    CHECK(ns.json({"-6", "rule"}) == nlohmann::json::parse(R"([
      {"priority": 0, "src": "all", "table": "local"},
      {"priority": 1001, "src": "2600:1f14:a4b:b01:e1d8:4a26:71b0:932f", "table": "1001"},
      {"priority": 1001, "src": "2600:1f14:a4b:b01:8f2d::", "srclen": 80, "table": "1001"},
      {"priority": 32766, "src": "all", "table": "main"}
    ])"));
    CHECK(ns.json({"-4", "rule"}) == nlohmann::json::parse(R"([
      {"priority": 0, "src": "all", "table": "local"},
      {"priority": 1001, "src": "10.20.1.184", "table": "1001"},
      {"priority": 1001, "src": "10.20.1.48", "srclen": 28, "table": "1001"},
      {"priority": 32766, "src": "all", "table": "main"},
      {"priority": 32767, "src": "all", "table": "default"}
    ])"));

    auto path_of = [&](const std::vector<std::string>& args) {
      nlohmann::json got = ns.json(args)[0];
      got.erase("uid");
      got.erase("cache");
      return got;
    };
    // Every address of the delegated prefixes is the host's own.
    CHECK(path_of({"-6", "route", "get", "2600:1f14:a4b:b01:8f2d::1234"})["type"] == "local");
    CHECK(path_of({"-4", "route", "get", "10.20.1.55"})["type"] == "local");
    // Traffic from the prefix and from the address leaves by eth1, through table 1001.
    nlohmann::json from_prefix = path_of({"-6", "route", "get", "2001:db8::1", "from", "2600:1f14:a4b:b01:8f2d::1234"});
    CHECK(from_prefix["dev"] == "eth1");
    CHECK(from_prefix["gateway"] == "fe80::1");
    CHECK(from_prefix["table"] == "1001");
    nlohmann::json from_v4_prefix = path_of({"-4", "route", "get", "192.0.2.1", "from", "10.20.1.55"});
    CHECK(from_v4_prefix["dev"] == "eth1");
    CHECK(from_v4_prefix["table"] == "1001");
  }
}
