#include "app/metadata_sources.hpp"

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

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

/// The vendor's metadata service, at options.metadata_url or the vendor's own address.
Result<Instance> fetch_from_service(Vendor vendor, const RunOptions& options, HttpClient& http) {
  switch (vendor) {
    case Vendor::aws:
      return fetch_aws(http, options.metadata_url.value_or(kAwsDefaultEndpoint));
    case Vendor::oracle:
      return fetch_oracle(http, options.metadata_url.value_or(kOracleDefaultEndpoint),
                          options.oracle_secondary_ips);
    case Vendor::alibaba:
      return fetch_alibaba(http, options.metadata_url.value_or(kAlibabaDefaultEndpoint));
  }
  return Error{"unknown vendor"};
}

/// Writes the last good view when it differs from what is on disk, and removes the refresh
/// marker: the files written from now on come from a fresh fetch. Failures are warnings; the
/// run itself does not depend on them.
void save_view(const Instance& instance, FileSystem& fs, Log& log) {
  const std::string path(kLastGoodPath);
  std::string view = render_last_good(instance);
  auto saved = fs.read_file(path);
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
  auto text = fs.read_file(file);
  if (!text.ok()) {
    log.warning(text.error().message + then, fields(source, vendor, path));
    return std::nullopt;
  }
  if (!*text) {
    log.warning("no " + file + then, fields(source, vendor, path));
    return std::nullopt;
  }
  Result<Instance> instance = parse(**text, vendor, file);
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
      return SourcedInstance{std::move(*instance), MetadataSource::cloud_init};
    }
  }
  if (auto instance =
          try_file(kLastGoodPath, MetadataSource::last_good, vendor, "", fs, log, parse_last_good)) {
    return SourcedInstance{std::move(*instance), MetadataSource::last_good};
  }
  log.warning("no metadata at boot: leaving the network configuration as it is",
              {{"VENDOR", std::string(vendor_name(vendor))}});
  return std::nullopt;
}

}  // namespace

Result<std::optional<SourcedInstance>> obtain_instance(Vendor vendor, const RunOptions& options,
                                                       Services& services, SaveView save, Log& log) {
  Result<Instance> fetched = fetch_from_service(vendor, options, services.http);
  if (fetched.ok()) {
    if (options.mode == RunMode::boot) {
      log.info("metadata from the metadata service", fields(MetadataSource::imds, vendor));
    }
    if (save == SaveView::yes) save_view(*fetched, services.fs, log);
    return std::optional<SourcedInstance>(SourcedInstance{std::move(fetched).value(), MetadataSource::imds});
  }
  if (options.mode != RunMode::boot) return fetched.error();

  // cloud-init's instance data holds the EC2 and Alibaba trees, but not Oracle's vnics/.
  std::string next = vendor == Vendor::oracle ? std::string(kLastGoodPath) + " (" +
                                                    std::string(kInstanceDataPath) + " has no Oracle VNICs)"
                                              : std::string(kInstanceDataPath);
  log.warning("metadata service failed at boot: " + fetched.error().message + "; trying " + next,
              fields(MetadataSource::imds, vendor));
  std::optional<SourcedInstance> fallback = fall_back(vendor, services.fs, log);
  if (save == SaveView::yes) mark_refresh_needed(services.fs, log);
  return fallback;
}

void record_view(const SourcedInstance* used, FileSystem& fs, Log& log) {
  if (used != nullptr && used->source == MetadataSource::imds) {
    save_view(used->instance, fs, log);
  } else {
    mark_refresh_needed(fs, log);
  }
}

}  // namespace nicsync
