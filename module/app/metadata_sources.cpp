#include "app/metadata_sources.hpp"

#include <algorithm>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "nicsync/links.hpp"
#include "nicsync/provider.hpp"

namespace nicsync {

namespace {

std::vector<LogField> fields(MetadataSource source, Vendor vendor) {
  return {{"SOURCE", std::string(metadata_source_key(source))}, {"VENDOR", std::string(vendor_name(vendor))}};
}

std::vector<LogField> fields(MetadataSource source, Vendor vendor, std::string_view file) {
  std::vector<LogField> out = fields(source, vendor);
  out.push_back({"FILE", std::string(file)});
  return out;
}

/// What the service gave: the view, why part of it is missing (the OCI API failed), and the
/// links read for the fetch (SourcedInstance::links).
struct Fetched {
  Instance instance;
  std::optional<Error> incomplete;
  std::optional<std::vector<Link>> links{};
};

/// /sys/class/net, for the NICs whose keys are asked for with the NIC list; nullopt (no guesses)
/// when it cannot be read: the run reads it again and says why.
std::optional<std::vector<Link>> links_for_guesses(FileSystem& fs) {
  Result<std::vector<Link>> links = read_sysfs_links(fs);
  if (!links.ok()) return std::nullopt;
  return std::move(links).value();
}

/// The vendor's metadata service, at options.metadata_url or the vendor's own address.
Result<Fetched> fetch_from_service(Vendor vendor, const RunOptions& options, Services& services) {
  switch (vendor) {
    case Vendor::aws: {
      AwsOptions aws = options.aws;
      std::optional<std::vector<Link>> links = links_for_guesses(services.fs);
      if (links) aws.local_macs = device_macs(*links);
      NICSYNC_TRY_ASSIGN(Instance instance,
                         fetch_aws(services.http, options.metadata_url.value_or(kAwsDefaultEndpoint), aws));
      return Fetched{std::move(instance), std::nullopt, std::move(links)};
    }
    case Vendor::oracle: {
      OracleApiOptions api{.http = options.oracle_api.enabled.value_or(true) ? services.api_http : nullptr,
                           .federation_endpoint = options.oracle_api.federation_endpoint,
                           .iaas_endpoint = options.oracle_api.iaas_endpoint};
      NICSYNC_TRY_ASSIGN(OracleFetch fetched,
                         fetch_oracle_with_api(services.http, options.metadata_url.value_or(kOracleDefaultEndpoint),
                                               options.oracle_secondary_ips, api));
      return Fetched{std::move(fetched.instance), std::move(fetched.api_error)};
    }
    case Vendor::alibaba: {
      std::optional<std::vector<Link>> links = links_for_guesses(services.fs);
      NICSYNC_TRY_ASSIGN(Instance instance,
                         fetch_alibaba(services.http, options.metadata_url.value_or(kAlibabaDefaultEndpoint),
                                       links ? device_macs(*links) : std::vector<MacAddress>{}));
      return Fetched{std::move(instance), std::nullopt, std::move(links)};
    }
  }
  return Error{"unknown vendor"};
}

/// The interface of `view` that is `nic`: the same VNIC id, or (without ids) the same MAC.
const Interface* same_nic(const Instance& view, const Interface& nic) {
  for (const Interface& other : view.interfaces) {
    if (nic.id && other.id ? *nic.id == *other.id : nic.mac == other.mac) return &other;
  }
  return nullptr;
}

/// After the OCI API failed: adds to each VNIC the secondary IPs (and their labels) that the
/// last good view has for it and that lie in its subnet now. Returns what was kept, as
/// "10.0.1.11 on ocid1.vnic..."; nullopt when there is no usable last good view.
std::optional<std::vector<std::string>> keep_from_last_good(Instance& instance, FileSystem& fs) {
  const std::string path(kLastGoodPath);
  auto text = fs.read_own_file(path);
  if (!text.ok() || !*text) return std::nullopt;
  auto view = parse_last_good(**text, instance.vendor, path);
  if (!view.ok()) return std::nullopt;
  std::vector<std::string> kept;
  for (Interface& nic : instance.interfaces) {
    const Interface* before = same_nic(*view, nic);
    if (before == nullptr || !nic.ipv4.subnet) continue;
    // The order a complete fetch would give: the private IP, the last good view's secondaries
    // (the API's, then the configured ones, as it saved them), then what is configured now.
    std::vector<Ipv4Address>& list = nic.ipv4.addresses;
    if (list.empty()) continue;
    std::vector<Ipv4Address> merged = {list.front()};
    auto add = [&merged](const Ipv4Address& address) {
      bool fresh = std::find(merged.begin(), merged.end(), address) == merged.end();
      if (fresh) merged.push_back(address);
      return fresh;
    };
    for (size_t i = 1; i < before->ipv4.addresses.size(); ++i) {
      const Ipv4Address& address = before->ipv4.addresses[i];
      bool known = std::find(list.begin(), list.end(), address) != list.end();
      if (!nic.ipv4.subnet->contains(address) || !add(address) || known) continue;
      kept.push_back(address.str() + " on " + (nic.id ? nic.id->str() : nic.mac.str()));
    }
    for (const Ipv4Address& address : list) add(address);
    list = std::move(merged);
    // The labels too (the API gave them, for the private IP as well), in address order.
    std::vector<HostnameLabel> labels;
    for (const Ipv4Address& address : list) {
      auto label_of = [&](const std::vector<HostnameLabel>& from) {
        return std::find_if(from.begin(), from.end(), [&](const HostnameLabel& l) { return l.address == address; });
      };
      if (auto now = label_of(nic.ipv4.hostname_labels); now != nic.ipv4.hostname_labels.end()) {
        labels.push_back(*now);
      } else if (auto saved = label_of(before->ipv4.hostname_labels); saved != before->ipv4.hostname_labels.end()) {
        labels.push_back(*saved);
      }
    }
    nic.ipv4.hostname_labels = std::move(labels);
  }
  return kept;
}

/// The service's view, completed from the last good view when the OCI API failed (one warning).
SourcedInstance complete_from_last_good(Fetched fetched, Vendor vendor, FileSystem& fs, Log& log) {
  SourcedInstance sourced{std::move(fetched.instance), MetadataSource::imds, true, std::move(fetched.links)};
  if (!fetched.incomplete) return sourced;
  sourced.complete = false;
  std::optional<std::vector<std::string>> kept = keep_from_last_good(sourced.instance, fs);
  std::string outcome;
  if (!kept) {
    outcome = "no last good view (" + std::string(kLastGoodPath) + "): only configured secondary IPs";
  } else if (kept->empty()) {
    outcome = "the last good view has no other secondary IPs";
  } else {
    outcome = "kept from the last good view: " + join(*kept, ", ");
  }
  log.warning(fetched.incomplete->message + "; " + outcome, fields(MetadataSource::imds, vendor));
  return sourced;
}

/// Writes the last good view when it differs from what is on disk, and removes the refresh
/// marker: the files written from now on come from a fresh fetch. Failures are warnings; the
/// run itself does not depend on them.
void save_view(const Instance& instance, FileSystem& fs, Log& log) {
  const std::string path(kLastGoodPath);
  std::string view = render_last_good(instance);
  auto saved = fs.read_own_file(path);
  if (!saved.ok() || *saved != view) {
    auto written = fs.write_file_atomic(path, view, 0600);
    if (!written.ok()) {
      log.warning("cannot save the last good view: " + written.error().message,
                  fields(MetadataSource::last_good, instance.vendor, path));
    }
  }
  auto removed = fs.remove_file(std::string(kRefreshNeededPath));
  if (!removed.ok()) {
    log.warning("cannot remove " + std::string(kRefreshNeededPath) + ": " + removed.error().message);
  }
}

/// Leaves the refresh marker for nicsync-online.service: the files do not come from a fresh fetch.
void mark_refresh_needed(FileSystem& fs, Log& log) {
  auto written = fs.write_file_atomic(std::string(kRefreshNeededPath), "", 0644);
  if (!written.ok()) {
    log.warning("cannot write " + std::string(kRefreshNeededPath) + ": " + written.error().message);
  }
}

/// One fallback file: the Instance it holds, or nullopt after logging why it cannot be used
/// (absent, unreadable or invalid) and, when there is one, what comes next.
template <typename Parse>
std::optional<Instance> try_file(std::string_view path, MetadataSource source, Vendor vendor,
                                 std::string_view next, FileSystem& fs, Log& log, Parse parse) {
  const std::string file(path);
  const std::string then = next.empty() ? "" : "; " + std::string(next);
  // nicsync's own view is never read through a symbolic link; cloud-init's file may be one.
  auto text = source == MetadataSource::last_good ? fs.read_own_file(file) : fs.read_file(file);
  if (!text.ok()) {
    log.warning(text.error().message + then, fields(source, vendor, path));
    return std::nullopt;
  }
  if (!*text) {
    log.warning("no " + file + then, fields(source, vendor, path));
    return std::nullopt;
  }
  Result<Instance> instance = parse(**text, vendor, file);
  if (instance.ok()) {
    if (Result<void> checked = check_instance(*instance); !checked.ok()) {
      instance = with_context(file + ": ", checked.error());
    }
  }
  if (!instance.ok()) {
    log.warning(instance.error().message + then, fields(source, vendor, path));
    return std::nullopt;
  }
  log.info("metadata from the " + std::string(metadata_source_name(source)) + " (" + file + ")",
           fields(source, vendor, path));
  return std::move(instance).value();
}

/// At boot, after the service failed: cloud-init's instance data (not on Oracle), then the last
/// good view.
std::optional<SourcedInstance> fall_back(Vendor vendor, FileSystem& fs, Log& log) {
  const std::string last_good(kLastGoodPath);
  if (vendor != Vendor::oracle) {
    if (auto instance = try_file(kInstanceDataPath, MetadataSource::cloud_init, vendor, "trying " + last_good,
                                 fs, log, parse_cloud_init_instance_data)) {
      return SourcedInstance{std::move(*instance), MetadataSource::cloud_init, true};
    }
  }
  if (auto instance =
          try_file(kLastGoodPath, MetadataSource::last_good, vendor, "", fs, log, parse_last_good)) {
    return SourcedInstance{std::move(*instance), MetadataSource::last_good, true};
  }
  log.warning("no metadata at boot: leaving the network configuration as it is",
              {{"VENDOR", std::string(vendor_name(vendor))}});
  return std::nullopt;
}

}  // namespace

Result<std::optional<SourcedInstance>> obtain_instance(Vendor vendor, const RunOptions& options,
                                                       Services& services, SaveView save, Log& log) {
  Result<Fetched> fetched = fetch_from_service(vendor, options, services);
  // The service's view must pass check_instance() like a parsed key must parse: a failure is a
  // malformed fetch (at boot: the fallbacks; otherwise: the Error), checked before the OCI API's
  // merge (so that a bad view is not logged as the source) and, when the OCI API failed, again
  // after it (the last good view's secondary IPs are merged in).
  std::optional<Error> failure;
  if (fetched.ok()) {
    if (Result<void> checked = check_instance(fetched->instance); !checked.ok()) failure = checked.error();
  } else {
    failure = fetched.error();
  }
  if (!failure) {
    if (options.mode == RunMode::boot) {
      log.info("metadata from the metadata service", fields(MetadataSource::imds, vendor));
    }
    const bool merges = fetched->incomplete.has_value();  // complete_from_last_good() changes nothing else
    SourcedInstance sourced = complete_from_last_good(std::move(fetched).value(), vendor, services.fs, log);
    if (Result<void> checked = merges ? check_instance(sourced.instance) : Result<void>{}; !checked.ok()) {
      failure = checked.error();
    } else {
      if (save == SaveView::yes) record_view(&sourced, services.fs, log);
      return std::optional<SourcedInstance>(std::move(sourced));
    }
  }
  if (options.mode != RunMode::boot) return *failure;

  // cloud-init's instance data holds the EC2 and Alibaba trees, but not Oracle's vnics/.
  std::string next = vendor == Vendor::oracle ? std::string(kLastGoodPath) + " (" +
                                                    std::string(kInstanceDataPath) + " has no Oracle VNICs)"
                                              : std::string(kInstanceDataPath);
  log.warning("metadata service failed at boot: " + failure->message + "; trying " + next,
              fields(MetadataSource::imds, vendor));
  std::optional<SourcedInstance> fallback = fall_back(vendor, services.fs, log);
  if (save == SaveView::yes) mark_refresh_needed(services.fs, log);
  return fallback;
}

void record_view(const SourcedInstance* used, FileSystem& fs, Log& log) {
  if (used != nullptr && used->source == MetadataSource::imds) {
    save_view(used->instance, fs, log);
    if (!used->complete) mark_refresh_needed(fs, log);
  } else {
    mark_refresh_needed(fs, log);
  }
}

}  // namespace nicsync
