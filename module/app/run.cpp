#include <algorithm>
#include <chrono>
#include <exception>
#include <iostream>
#include <map>
#include <memory>
#include <set>
#include <sstream>
#include <thread>

#include "app/describe.hpp"
#include "app/file_changes.hpp"
#include "app/live.hpp"
#include "app/metadata_sources.hpp"
#include "app/state.hpp"
#include "app/unified_diff.hpp"
#include "nicsync/app.hpp"
#include "nicsync/links.hpp"
#include "nicsync/log.hpp"
#include "nicsync/process.hpp"
#include "nicsync/provider.hpp"

namespace nicsync {

namespace {

/// The cloud: --vendor or the settings, else what /sys/class/dmi/id says.
Result<Vendor> choose_vendor(const RunOptions& options, FileSystem& fs) {
  if (options.vendor) return *options.vendor;
  return detect_vendor(fs);
}

/// Keeps only the interfaces the settings select (interfaces.include / interfaces.exclude).
void select_interfaces(Instance& instance, const RunOptions& options) {
  auto selected = [&](const Interface& nic) {
    auto matches = [&](const InterfaceSelector& s) { return s.matches(nic); };
    if (options.include_interfaces &&
        std::none_of(options.include_interfaces->begin(), options.include_interfaces->end(), matches)) {
      return false;
    }
    return std::none_of(options.exclude_interfaces.begin(), options.exclude_interfaces.end(), matches);
  };
  auto& nics = instance.interfaces;
  nics.erase(std::remove_if(nics.begin(), nics.end(), [&](const Interface& nic) { return !selected(nic); }),
             nics.end());
}

/// Whether the settings leave `nic` out whatever local name it turns out to have: an exclude
/// entry names its MAC or id, or an include list has no names and none of its entries picks it.
bool unselected_by_any_name(const Interface& nic, const RunOptions& options) {
  auto matches = [&](const InterfaceSelector& s) { return s.kind != InterfaceSelector::Kind::name && s.matches(nic); };
  if (std::any_of(options.exclude_interfaces.begin(), options.exclude_interfaces.end(), matches)) return true;
  if (!options.include_interfaces) return false;
  auto by_name = [](const InterfaceSelector& s) { return s.kind == InterfaceSelector::Kind::name; };
  const auto& include = *options.include_interfaces;
  return std::none_of(include.begin(), include.end(), by_name) && std::none_of(include.begin(), include.end(), matches);
}

/// Whether the settings leave `nic` out while it has no local interface (and so no name): as
/// unselected_by_any_name(), or an include list exists and none of its MACs or ids picks it.
bool unselected_without_name(const Interface& nic, const RunOptions& options) {
  if (unselected_by_any_name(nic, options)) return true;
  if (!options.include_interfaces) return false;
  auto matches = [&](const InterfaceSelector& s) { return s.kind != InterfaceSelector::Kind::name && s.matches(nic); };
  return std::none_of(options.include_interfaces->begin(), options.include_interfaces->end(), matches);
}

/// Drops the interfaces of the metadata that no local interface has the MAC of and that `left_out`
/// says the settings leave out, so that an excluded NIC need not be here: it is neither waited for
/// nor an error. A NIC that a VLAN of the instance rides on stays (the VLAN's error names it).
void drop_absent_left_out(Instance& instance, const std::vector<Link>& links,
                          bool (*left_out)(const Interface&, const RunOptions&), const RunOptions& options) {
  auto parent_of_vlan = [&](const Interface& nic) {
    return std::any_of(instance.interfaces.begin(), instance.interfaces.end(), [&](const Interface& other) {
      return other.vlan && physical_nic(nic) == other.vlan->parent_nic_index;
    });
  };
  auto drop = [&](const Interface& nic) {
    bool absent = !nic.vlan && std::none_of(links.begin(), links.end(), [&](const Link& l) { return l.mac == nic.mac; });
    return absent && left_out(nic, options) && !parent_of_vlan(nic);
  };
  auto& nics = instance.interfaces;
  nics.erase(std::remove_if(nics.begin(), nics.end(), drop), nics.end());
}

/// The local interfaces: from the kernel when it is the target, else from sysfs under --root.
/// Which of the kernel's links a device backs (a NIC, not a bridge or bond with its MAC) only
/// sysfs says: /sys/class/net/<name>/device.
Result<std::vector<Link>> local_links(const std::optional<KernelSnapshot>& kernel, FileSystem& fs) {
  if (!kernel) return read_sysfs_links(fs);
  std::vector<Link> links;
  for (const KernelLink& link : kernel->links) {
    links.push_back(Link{link.name, link.mac, fs.is_directory("/sys/class/net/" + link.name.str() + "/device")});
  }
  return links;
}

/// Maps every interface of the metadata to a local interface and numbers them.
Result<void> resolve(Instance& instance, const std::vector<Link>& links) {
  NICSYNC_TRY(resolve_interfaces(instance, links));
  number_interfaces(instance);
  return {};
}

/// Networking is up when the primary NIC is up and has an IPv4 address (its DHCP lease).
bool networking_up(const Plan& plan, const KernelSnapshot& kernel) {
  for (const NicPlan& nic : plan.nics) {
    if (nic.role != NicRole::primary) continue;
    for (const KernelLink& link : kernel.links) {
      if (link.name != nic.name || !link.up) continue;
      return std::any_of(kernel.addresses.begin(), kernel.addresses.end(),
                         [&](const KernelAddress& a) {
                           return a.ifindex == link.ifindex && a.address.family() == IpFamily::v4;
                         });
    }
  }
  return false;
}

Result<RendererKind> choose_renderer(const std::optional<RendererKind>& requested, FileSystem& fs) {
  if (requested) return *requested;
  if (fs.is_directory("/etc/netplan")) return RendererKind::netplan;
  if (fs.is_directory(std::string(kNetworkScriptsDir))) return RendererKind::network_scripts;
  return Error{"no renderer: neither /etc/netplan nor " + std::string(kNetworkScriptsDir) +
               " exists; pass --renderer netplan or --renderer network-scripts"};
}

/// The netplan files other than nicsync's own, in the order netplan reads them: by file name,
/// a name in /run hiding the same name in /etc, and /etc hiding /lib.
Result<std::vector<NetplanSource>> read_netplan_sources(FileSystem& fs) {
  std::map<std::string, std::string> by_name;
  for (const char* dir : {"/lib/netplan", "/etc/netplan", "/run/netplan"}) {
    NICSYNC_TRY_ASSIGN(std::vector<std::string> names, fs.list_directory(dir));
    for (const std::string& name : names) {
      if (name.size() > 5 && name.compare(name.size() - 5, 5, ".yaml") == 0) by_name[name] = std::string(dir) + "/" + name;
    }
  }
  std::vector<NetplanSource> sources;
  for (const auto& [name, path] : by_name) {
    if (path == kNetplanPath) continue;
    NICSYNC_TRY_ASSIGN(std::optional<std::string> content, fs.read_file(path));
    if (content && content->rfind(kOwnershipMarker, 0) != 0) sources.push_back({path, *content});
  }
  return sources;
}

/// What the other netplan files (cloud-init's 50-cloud-init.yaml) already define for the planned
/// NICs; nothing for network-scripts.
Result<NetplanExisting> existing_netplan(const Plan& plan, RendererKind kind, FileSystem& fs) {
  if (kind != RendererKind::netplan) return NetplanExisting{};
  NICSYNC_TRY_ASSIGN(std::vector<NetplanSource> sources, read_netplan_sources(fs));
  return read_netplan_existing(plan, sources);
}

/// The files the plan needs, in the chosen format.
Result<std::vector<RenderedFile>> render(const Plan& plan, RendererKind kind, const NetplanExisting& existing) {
  if (kind == RendererKind::network_scripts) return render_network_scripts(plan);
  std::vector<RenderedFile> files;  // not {...}: an initializer list would copy the file
  files.push_back(render_netplan(plan, existing.ids));
  return files;
}

std::string summary_of(const Instance& instance, const Plan& plan) {
  std::string out = std::string(vendor_name(instance.vendor)) + " " +
                    (instance.instance_id ? instance.instance_id->str() : "instance") + ": ";
  size_t addresses = 0;
  std::string nics;
  for (const NicPlan& nic : plan.nics) {
    addresses += nic.addresses.size();
    if (!nics.empty()) nics += ", ";
    nics += nic.name.str() + (nic.role == NicRole::primary ? " primary" : "") +
            (nic.table ? " table " + std::to_string(*nic.table) : "");
  }
  return out + std::to_string(plan.nics.size()) + (plan.nics.size() == 1 ? " interface (" : " interfaces (") + nics +
         "), " + std::to_string(addresses) + (addresses == 1 ? " static IPv4 address" : " static IPv4 addresses");
}

std::string mode_text(unsigned mode) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "%04o", mode);
  return buf;
}

/// Logs each change (or planned change) on its own line; returns how many touch the disk.
size_t report_changes(const std::vector<FileChange>& changes, Log& log, bool planned) {
  size_t count = 0;
  for (const FileChange& change : changes) {
    std::string verb;
    std::string action;
    switch (change.action) {
      case FileAction::unchanged: continue;
      case FileAction::create: verb = planned ? "would create " : "created "; action = "create"; break;
      case FileAction::replace: verb = planned ? "would update " : "updated "; action = "update"; break;
      case FileAction::remove: verb = planned ? "would remove " : "removed "; action = "remove"; break;
      case FileAction::skip_foreign:
        log.warning("left " + change.path + " alone: it was not written by nicsync",
                    {{"FILE", change.path}, {"ACTION", "skip"}});
        continue;
      case FileAction::skip_existing:
        log.info("kept " + change.path + " as it is (not written by nicsync)", {{"FILE", change.path}, {"ACTION", "keep"}});
        continue;
    }
    ++count;
    log.info(verb + change.path + (change.action == FileAction::remove ? "" : " (mode " + mode_text(change.mode) + ")"),
             {{"FILE", change.path}, {"ACTION", planned ? "plan-" + action : action}});
  }
  return count;
}

/// Reads the kernel when this run may touch it: --live, or automatic on the live root.
Result<std::optional<KernelSnapshot>> kernel_if_live(const RunOptions& options, Services& services) {
  bool wanted = options.live == LiveMode::on || (options.live == LiveMode::automatic && options.root == "/");
  if (!wanted) return std::optional<KernelSnapshot>();
  if (services.netlink == nullptr) {
    if (options.live == LiveMode::on) return Error{"--live: " + services.netlink_error};
    return std::optional<KernelSnapshot>();
  }
  NICSYNC_TRY_ASSIGN(KernelSnapshot kernel, read_kernel(*services.netlink));
  return std::optional<KernelSnapshot>(std::move(kernel));
}

void print_file_diffs(const std::vector<FileChange>& changes, std::ostream& out) {
  for (const FileChange& change : changes) {
    if (!changes_disk(change.action)) continue;
    std::string a = change.action == FileAction::create ? "/dev/null" : "a" + change.path;
    std::string b = change.action == FileAction::remove ? "/dev/null" : "b" + change.path;
    out << unified_diff(change.before, change.after, a, b);
  }
}

/// The owned addresses that another netplan file (cloud-init's) configures: those of `plan` that
/// subtract_configured() left out of `wanted`. They are neither nicsync's to remove live nor its
/// own any longer, so they leave `owned`.
std::vector<OwnedAddress> without_configured_elsewhere(std::vector<OwnedAddress> owned, const Plan& plan,
                                                       const Plan& wanted) {
  std::set<std::pair<std::string, IpAddress>> kept;
  for (const NicPlan& nic : wanted.nics) {
    for (const Ipv4Address& a : nic.addresses) kept.emplace(nic.name.str(), a);
    for (const Ipv6Address& a : nic.addresses6) kept.emplace(nic.name.str(), a);
  }
  std::set<std::pair<std::string, IpAddress>> elsewhere;
  for (const NicPlan& nic : plan.nics) {
    for (const Ipv4Address& a : nic.addresses) {
      if (kept.count({nic.name.str(), a}) == 0) elsewhere.emplace(nic.name.str(), a);
    }
    for (const Ipv6Address& a : nic.addresses6) {
      if (kept.count({nic.name.str(), a}) == 0) elsewhere.emplace(nic.name.str(), a);
    }
  }
  std::erase_if(owned, [&](const OwnedAddress& o) { return elsewhere.count({o.dev, o.address}) != 0; });
  return owned;
}

std::string count_text(size_t n, const char* one, const char* many) {
  return std::to_string(n) + " " + (n == 1 ? one : many);
}

/// A NIC attached a moment ago may be in the metadata before the OS shows it. Waits, at most
/// attach_timeout_ms, re-reading the interfaces every 100 ms, until each interface of the
/// metadata has a local one (or a stop is asked for). Returns how long it waited, in ms. Silent
/// until it ends: a wait in vain ends in the run's one-line error, which says it waited.
Result<long> wait_for_interfaces(const Instance& instance, const RunOptions& options, Services& services,
                                 std::optional<KernelSnapshot>& kernel, std::vector<Link>& links, Log& log) {
  std::vector<std::string> missing = missing_interfaces(instance, links);
  if (missing.empty() || options.attach_timeout_ms == 0) return 0L;
  const std::string waiting_for = join(missing, ", ");
  using Clock = std::chrono::steady_clock;
  const auto start = Clock::now();
  const auto deadline = start + std::chrono::milliseconds(options.attach_timeout_ms);
  const std::chrono::milliseconds step{100};
  while (!missing.empty() && Clock::now() < deadline && !(services.stop_signal && services.stop_signal() != 0)) {
    if (services.sleep) {
      services.sleep(step);
    } else {
      std::this_thread::sleep_for(step);
    }
    if (kernel) {
      NICSYNC_TRY_ASSIGN(*kernel, read_kernel(*services.netlink));
    }
    NICSYNC_TRY_ASSIGN(links, local_links(kernel, services.fs));
    missing = missing_interfaces(instance, links);
  }
  long waited = static_cast<long>(
      std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start).count());
  // Only a wait that ended well is logged here; one that did not ends in resolve()'s error.
  if (missing.empty()) {
    log.info("waited " + std::to_string(waited) + " ms for " + waiting_for + " to appear", {{"ACTION", "wait"}});
  }
  return waited;
}

/// The groups of live changes, in order (a NIC's name, or "stale" for the removals that come first).
std::vector<std::string> groups_of(const std::vector<LiveChange>& changes) {
  std::vector<std::string> groups;
  for (size_t i = 0; i < changes.size(); ++i) {
    if (i == 0 || changes[i].group != changes[i - 1].group) groups.push_back(changes[i].group);
  }
  return groups;
}

/// A stop asked for by signal (0: none).
int stop_requested(const Services& services) { return services.stop_signal ? services.stop_signal() : 0; }

/// Logs why the run stops early and gives its exit code (128 + the signal).
int stopped(int signal, const std::string& what, Log& log) {
  log.error("stopped by " + signal_name(signal) + " " + what, {{"ACTION", "stop"}});
  return kExitSignalBase + signal;
}

/// At boot nicsync.service may run while udev is still renaming NICs (eth1 -> ens6); the names
/// it writes must be the final ones. When udev runs on the target, waits (bounded) for its queue.
void settle_udev(const RunOptions& options, Services& services, Log& log) {
  if (options.root != "/" || services.commands == nullptr || !services.fs.is_directory("/run/udev")) return;
  std::string timeout = "--timeout=" + std::to_string(kUdevSettleTimeoutSeconds);
  Result<void> settled = services.commands->run({std::string(kUdevadmProgram), "settle", timeout});
  if (!settled.ok()) log.warning(settled.error().message + "; using the interface names as they are now");
}

/// Tells the network service about changed files (netplan generate, reloads); each call one line.
/// Before networking is up (at boot) no network service runs yet, so only `netplan generate`
/// runs (systemd ran netplan's generator before nicsync wrote its file) and the bus is not
/// used: early in boot the bus may not answer until after nicsync.service has finished.
/// `started_generate`: the `netplan generate` started when the files were written (waited for
/// here), or null.
void notify(RendererKind renderer, bool live, const RunOptions& options, Services& services, Log& log,
            StartedCommand* started_generate) {
  if (services.commands == nullptr) return;
  ServiceBus* bus = live ? services.bus : nullptr;
  if (live && bus == nullptr) {
    log.warning("no system bus (" + services.bus_error + "); no network service reloaded", {{"ACTION", "notify"}});
  }
  std::vector<std::string> done;
  Result<void> result =
      notify_network_service(renderer, options.root, bus, *services.commands, done, started_generate);
  for (const std::string& line : done) log.info(line, {{"ACTION", "notify"}});
  if (!result.ok()) {
    log.warning(result.error().message + "; the files are written, the network service has not read them yet",
                {{"ACTION", "notify"}});
  }
}

/// The system bus, connected at its first call: a run that tells no network service anything
/// (no file changed, or a boot run) neither loads libsystemd nor connects. A connection that
/// failed is the error of every call.
class SystemBusOnFirstUse final : public ServiceBus {
 public:
  Result<NetworkService> active_network_service() override {
    NICSYNC_TRY_ASSIGN(ServiceBus * bus, connected());
    return bus->active_network_service();
  }
  Result<void> reload_networkd() override {
    NICSYNC_TRY_ASSIGN(ServiceBus * bus, connected());
    return bus->reload_networkd();
  }
  Result<void> reload_network_manager() override {
    NICSYNC_TRY_ASSIGN(ServiceBus * bus, connected());
    return bus->reload_network_manager();
  }

 private:
  Result<ServiceBus*> connected() {
    if (!bus_ && error_.empty()) {
      auto opened = make_sd_bus_service_bus();
      if (opened.ok()) {
        bus_ = std::move(*opened);
      } else {
        error_ = "no system bus (" + opened.error().message + ")";
      }
    }
    if (!bus_) return Error{error_};
    return bus_.get();
  }

  std::unique_ptr<ServiceBus> bus_;
  std::string error_;
};

/// True when this run tells the network service about changed files: on the live system, or
/// when the run applies live to a test namespace (--live with --root).
bool notifies(const RunOptions& options) { return options.root == "/" || options.live == LiveMode::on; }

Result<int> run_pipeline(const RunOptions& options, Services& services, std::ostream& out, Log& log) {
  FileSystem& fs = services.fs;
  if (options.command == Command::config_check) {
    out << describe_config(options.effective);
    return kExitOk;
  }
  auto vendor = choose_vendor(options, fs);
  if (!vendor.ok()) {
    log.write(options.mode == RunMode::boot ? LogLevel::warning : LogLevel::error, vendor.error().message, {});
    return kExitNoCloud;
  }
  const bool planned = options.command == Command::plan;
  const bool applying = options.command == Command::apply;
  // The view is saved (or the refresh marker left) only by an apply, once its files are written.
  NICSYNC_TRY_ASSIGN(std::optional<SourcedInstance> sourced,
                     obtain_instance(*vendor, options, services, SaveView::no, log));
  if (!sourced) {
    if (applying) record_view(nullptr, fs, log);  // obtain_instance has said why
    return kExitOk;
  }
  Instance instance = sourced->instance;  // resolved below; the view is saved as fetched
  if (options.mode == RunMode::boot) settle_udev(options, services, log);
  NICSYNC_TRY_ASSIGN(std::optional<KernelSnapshot> kernel, kernel_if_live(options, services));
  // Without the kernel, sysfs as the fetch read it a moment ago will do when it shows every NIC
  // of the metadata; else (one attached since) it is read again.
  std::vector<Link> links;
  if (!kernel && sourced->links && missing_interfaces(instance, *sourced->links).empty()) {
    links = *sourced->links;
  } else {
    NICSYNC_TRY_ASSIGN(links, local_links(kernel, fs));
  }
  // A NIC the settings leave out need not be here: not waited for, and no error.
  drop_absent_left_out(instance, links, unselected_by_any_name, options);
  long waited = 0;
  if (sourced->source == MetadataSource::imds) {
    NICSYNC_TRY_ASSIGN(waited, wait_for_interfaces(instance, options, services, kernel, links, log));
  }
  drop_absent_left_out(instance, links, unselected_without_name, options);
  Result<void> resolved = resolve(instance, links);
  if (!resolved.ok() && waited > 0) {
    resolved = Error{resolved.error().message + " (waited " + std::to_string(waited) +
                     " ms for it: interfaces.attach_timeout_ms)"};
  }
  if (!resolved.ok() && sourced->source != MetadataSource::imds) {
    // An older view (cloud-init's cache, or a view baked into an image built elsewhere) may name
    // NICs this instance does not have; at boot that must not fail the unit or touch the files.
    log.warning(resolved.error().message + " (in the " + std::string(metadata_source_name(sourced->source)) +
                    "); the files on disk are left as they are",
                {{"SOURCE", std::string(metadata_source_key(sourced->source))}});
    if (applying) record_view(nullptr, fs, log);
    return kExitOk;
  }
  NICSYNC_TRY(resolved);
  select_interfaces(instance, options);
  if (options.command == Command::show) {
    out << (options.format == OutputFormat::json ? describe_json(instance) : describe_text(instance));
    return kExitOk;
  }
  NICSYNC_TRY_ASSIGN(Plan plan, make_plan(instance, options.plan));
  NICSYNC_TRY_ASSIGN(RendererKind renderer, choose_renderer(options.renderer, fs));
  NICSYNC_TRY_ASSIGN(NetplanExisting existing, existing_netplan(plan, renderer, fs));
  std::vector<std::string> notes;
  Plan wanted = subtract_configured(plan, existing, notes);  // nothing another file already configures
  for (const std::string& note : notes) log.info(note, {{"INTERFACE", note.substr(0, note.find(':'))}, {"ACTION", "leave"}});
  NICSYNC_TRY_ASSIGN(std::vector<RenderedFile> files, render(wanted, renderer, existing));
  NICSYNC_TRY_ASSIGN(State state, load_state(fs));
  NICSYNC_TRY_ASSIGN(std::vector<FileChange> file_changes, plan_file_changes(fs, files, state));
  bool live = kernel && (options.live == LiveMode::on || networking_up(plan, *kernel));
  std::vector<LiveChange> kernel_changes;
  // Live, an address another netplan file configures is that file's, even if nicsync added it.
  const std::vector<OwnedAddress> owned =
      live ? without_configured_elsewhere(state.addresses, plan, wanted) : state.addresses;
  if (live) {
    PrimarySecondaryPrefix primary_prefix =
        renderer == RendererKind::netplan ? PrimarySecondaryPrefix::host : PrimarySecondaryPrefix::subnet;
    // The kernel may know IPv6 routers the metadata does not name (AWS); only the live objects
    // get them, the files stay as the metadata says.
    Plan live_plan = wanted;
    for (const std::string& line : learn_ipv6_routers(live_plan, *kernel)) {
      log.info(line, {{"INTERFACE", line.substr(0, line.find(':'))}, {"ACTION", "learn"}});
    }
    NICSYNC_TRY_ASSIGN(kernel_changes, plan_live_changes(live_plan, *kernel, owned, primary_prefix));
  }

  size_t kernel_count = kernel_changes.size();
  Result<void> live_result;
  size_t file_count = 0;
  if (planned) {
    print_file_diffs(file_changes, out);
    for (const LiveChange& change : kernel_changes) out << "kernel: " << describe(change, kernel->links) << "\n";
    file_count = report_changes(file_changes, log, planned);
  } else {
    // From here a stop signal waits for the step under way (install_stop_handlers()).
    DeferStops defer_stops;
    if (int signal = stop_requested(services)) return stopped(signal, "before changing anything", log);
    // The files and the state that lists them go in one transaction: all of them or none. The
    // state lists the addresses the live apply is about to add as nicsync's already (write-ahead):
    // if the state cannot be saved after the apply, the next run still knows them as its own.
    // When this transaction fails, neither the files nor the kernel have changed.
    const State files_state{owned_files(file_changes),
                            live ? owned_with_additions(owned, kernel_changes, *kernel) : state.addresses};
    std::vector<FileWrite> state_write;
    if (files_state != state) state_write.push_back(state_file_write(files_state));
    NICSYNC_TRY(apply_file_changes(fs, file_changes, state_write));
    file_count = report_changes(file_changes, log, planned);
    State next{files_state.files, owned};  // the addresses as the live apply leaves them
    int stop_signal = stop_requested(services);
    // `netplan generate` reads only the files, now complete: it runs beside the live apply (it is
    // Python, ≈ 0.15–0.3 s) and is waited for when the network service is told.
    std::unique_ptr<StartedCommand> generating;
    if (stop_signal == 0 && file_count > 0 && notifies(options) && services.commands != nullptr) {
      generating = start_netplan_generate(renderer, options.root, *services.commands);
    }
    std::vector<std::string> not_applied;
    size_t applied_live = 0;
    if (live && stop_signal == 0) {
      LiveOutcome outcome;
      live_result = apply_live_changes(*services.netlink, kernel_changes, *kernel, owned, outcome,
                                       [&] { return stop_requested(services) != 0; });
      for (const std::string& line : outcome.applied) log.info(line, {{"ACTION", "kernel"}});
      kernel_count = outcome.applied.size();
      applied_live = kernel_count;
      next.addresses = outcome.owned;
      std::sort(next.addresses.begin(), next.addresses.end());  // as the write-ahead lists them
      not_applied = outcome.not_applied;
      stop_signal = not_applied.empty() ? 0 : stop_requested(services);
    }
    Result<void> saved = save_state(fs, next, files_state);  // the addresses added or removed live
    if (!saved.ok()) {
      if (generating) notify(renderer, false, options, services, log, generating.get());
      // The files and the kernel changes stay; the state written before the apply lists the
      // addresses it was to add, so the next run still owns each one it did add.
      return Error{saved.error().message + "; " + count_text(applied_live, "kernel change was", "kernel changes were") +
                   " applied, and the state lists the addresses as planned before them" +
                   (live_result.ok() ? "" : "; the live apply failed too: " + live_result.error().message)};
    }
    record_view(&*sourced, fs, log);
    if (stop_signal != 0) {
      // The files are complete; live, every NIC is either done or untouched. The network service
      // is not told (the system is going down, or someone asked to stop): the next run or boot is.
      // A `netplan generate` under way is let finish (killed, it could leave /run half written).
      if (generating) notify(renderer, false, options, services, log, generating.get());
      std::string what = "after writing the files";
      if (live && !kernel_changes.empty()) {
        std::vector<std::string> groups = groups_of(kernel_changes);
        if (not_applied.empty()) not_applied = groups;  // stopped before the kernel was touched
        what += not_applied.size() == groups.size() ? ", before changing the kernel" : " and applying part of them live";
        what += "; not applied live: " + join(not_applied, ", ");
      }
      return stopped(stop_signal, what + " (the next run applies the rest)", log);
    }
    if (file_count > 0 && notifies(options)) notify(renderer, live, options, services, log, generating.get());
  }
  std::string verdict;
  if (file_count == 0 && kernel_count == 0) {
    verdict = "no changes";
  } else {
    verdict = count_text(file_count, "file", "files") +
              (live ? ", " + count_text(kernel_count, "kernel object", "kernel objects") : "") +
              (planned ? " to change" : " changed");
  }
  std::string from = sourced->source == MetadataSource::imds
                         ? ""
                         : " (from the " + std::string(metadata_source_name(sourced->source)) + ")";
  log.info(summary_of(instance, plan) + from + "; " + std::string(renderer_name(renderer)) + (live ? " + live" : "") +
               ": " + verdict,
           {{"VENDOR", std::string(vendor_name(instance.vendor))},
            {"INSTANCE_ID", instance.instance_id ? instance.instance_id->str() : ""},
            {"SOURCE", std::string(metadata_source_key(sourced->source))},
            {"FILES_CHANGED", std::to_string(file_count)},
            {"KERNEL_CHANGES", std::to_string(kernel_count)}});
  if (!live_result.ok()) return live_result.error();
  return kExitOk;
}

}  // namespace

Result<void> apply_settings(RunOptions& options, FileSystem& fs) {
  NICSYNC_TRY_ASSIGN(Config files, load_config(fs));
  Config merged = merge(files, options.command_line);
  NICSYNC_TRY(check_merged_config(merged));
  options.effective = merged;
  options.vendor = merged.vendor;
  options.renderer = merged.renderer;
  options.metadata_url = merged.metadata.url;
  options.live = merged.live.value_or(LiveMode::automatic);
  options.plan.policy_routing = merged.policy_routing.value_or(PolicyRouting::automatic);
  options.plan.table_base = merged.table_base.value_or(kDefaultTableBase);
  options.plan.priority_base = merged.rule_priority_base.value_or(options.plan.table_base);
  options.plan.secondary_addressing = merged.secondary_addressing.value_or(Addressing::static_);
  // A DHCP secondary's lease puts its subnet's prefix route into main, which would carry the
  // primary's replies to that subnet out of the wrong NIC; the primary's own rules prevent it.
  options.plan.primary_rules =
      merged.primary_rules.value_or(options.plan.secondary_addressing == Addressing::dhcp);
  const MetadataSettings& m = merged.metadata;
  options.http.connect_timeout_ms = m.connect_timeout_ms.value_or(kDefaultConnectTimeoutMs);
  options.http.request_timeout_ms = m.timeout_ms.value_or(kDefaultTimeoutMs);
  options.http.attempts = static_cast<int>(m.attempts.value_or(kDefaultAttempts));
  if (options.mode == RunMode::boot) {
    // Boot is never held for long: short attempts, at most two, then the fallback sources.
    uint32_t boot_timeout = m.boot_timeout_ms.value_or(kDefaultBootTimeoutMs);
    options.http.request_timeout_ms = boot_timeout;
    options.http.connect_timeout_ms = std::min<long>(options.http.connect_timeout_ms, boot_timeout);
    options.http.attempts = std::min(options.http.attempts, 2);
  }
  options.http.backoff_ms = m.backoff_ms.value_or(kDefaultBackoffMs);
  options.http.max_in_flight = static_cast<int>(m.max_in_flight.value_or(kDefaultMaxInFlight));
  options.oracle_secondary_ips.clear();
  for (const auto& [selector, addresses] : merged.oracle.secondary_ips) {
    options.oracle_secondary_ips[selector.value] = addresses;
  }
  options.oracle_api = merged.oracle.api;
  options.api_http = options.http;
  options.api_http.ca_bundle = merged.oracle.api.ca_bundle.value_or("");
  options.include_interfaces = merged.interfaces.include;
  options.exclude_interfaces = merged.interfaces.exclude.value_or(std::vector<InterfaceSelector>{});
  options.attach_timeout_ms = merged.interfaces.attach_timeout_ms.value_or(kDefaultAttachTimeoutMs);
  options.lock_timeout_ms = merged.lock_timeout_ms.value_or(kDefaultLockTimeoutMs);
  options.aws.allow_imdsv1 = merged.aws.allow_imdsv1.value_or(false);
  return {};
}

int run(const RunOptions& options, Services& services, std::ostream& out, Log& log) {
  auto result = run_pipeline(options, services, out, log);
  if (!result.ok()) {
    log.error(result.error().message);
    return kExitFailed;
  }
  return *result;
}

int run_cli(int argc, char** argv) {
  std::unique_ptr<Log> log = stderr_is_journal() ? make_journal_log() : make_stream_log(std::cerr);
  install_stop_handlers();
  try {
    std::vector<std::string> args(argv + 1, argv + argc);
    std::optional<std::string> early_exit_text;
    auto options = parse_command_line(args, early_exit_text);
    if (early_exit_text) {
      std::cout << *early_exit_text;
      return kExitOk;
    }
    if (!options.ok()) {
      std::cerr << "nicsync: " << options.error().message << "\n";
      return kExitUsage;
    }
    auto fs = make_real_filesystem(options->root);
    auto settings = apply_settings(*options, *fs);
    if (!settings.ok()) {
      log->error(settings.error().message);
      return kExitFailed;
    }
    // Two applies at once (a manual rerun while the hotplug unit runs) would each read the state
    // the other is replacing: the second waits for the first.
    std::unique_ptr<RunLock> lock;
    if (options->command == Command::apply) {
      auto locked = acquire_run_lock(options->root, options->lock_timeout_ms, *log);
      if (!locked.ok()) {
        log->error(locked.error().message);
        return kExitFailed;
      }
      lock = std::move(*locked);
    }
    auto http = make_http_client(options->http);
    auto api_http = make_http_client(options->api_http);
    Services services{.fs = *fs, .http = *http, .api_http = api_http.get()};
    services.stop_signal = stop_signal;
    auto netlink = make_libnl_netlink();
    if (netlink.ok()) {
      services.netlink = netlink->get();
    } else {
      services.netlink_error = netlink.error().message;
    }
    std::unique_ptr<CommandRunner> commands = make_command_runner();
    services.commands = commands.get();
    SystemBusOnFirstUse bus;
    if (options->command == Command::apply && notifies(*options)) services.bus = &bus;
    return run(*options, services, std::cout, *log);
  } catch (const std::exception& e) {
    log->error(std::string("internal error: ") + e.what());
    return kExitFailed;
  }
}

}  // namespace nicsync
