#pragma once
/// Getting the instance's metadata for one run: from the metadata service, and at boot from the
/// fallback sources (cloud-init's instance data, the last good view), each attempt logged.

#include <optional>
#include <vector>

#include "nicsync/app.hpp"
#include "nicsync/links.hpp"
#include "nicsync/log.hpp"
#include "nicsync/metadata_sources.hpp"

namespace nicsync {

struct SourcedInstance {
  Instance instance;
  MetadataSource source = MetadataSource::imds;
  /// False when part of the view could not be fetched (the OCI API failed) and was kept from
  /// the last good view instead: saved like a complete view, and refreshed later.
  bool complete = true;
  /// /sys/class/net as read just before the fetch (AWS, Alibaba: for the NICs asked for with the
  /// NIC list): a run without the kernel maps the MACs with it when it shows all of them.
  std::optional<std::vector<Link>> links{};
};

/// Whether this run may write what it learnt (the last good view, the refresh marker).
enum class SaveView { no, yes };

/// The instance's metadata, fetched from the vendor's service (options.metadata_url or the
/// vendor's default; for Oracle, options.oracle_secondary_ips and, unless options.oracle_api
/// disables it, the OCI API through services.api_http). When the OCI API fails, logs one
/// warning with the reason and keeps, for each VNIC, the secondary IPs the last good view has
/// for it (inside its current subnet): no address is dropped because the API failed; the view
/// is then marked incomplete.
/// RunMode::normal: the service only; its failure is the Error.
/// RunMode::boot: logs the source used (SOURCE, VENDOR and, for files, FILE fields); when the
/// service fails (unreachable or invalid), logs a warning with the reason and tries
/// kInstanceDataPath (not on Oracle: it has no VNICs; the warning says so), then kLastGoodPath
/// (each attempt logged: used, absent, or invalid and why); nullopt, after a last warning, when
/// none gives a valid view. Never an Error in this mode.
/// With SaveView::yes: after a complete fetch from the service, writes kLastGoodPath (0600) when
/// its content changes and removes kRefreshNeededPath; when a fallback (or nothing) was used,
/// writes kRefreshNeededPath (0644, empty) so that nicsync-online.service refreshes later.
/// Failing to write or remove these is a warning, not an Error.
Result<std::optional<SourcedInstance>> obtain_instance(Vendor vendor, const RunOptions& options,
                                                        Services& services, SaveView save, Log& log);

/// What SaveView::yes does, for a caller that saves only once its run has succeeded: for a view
/// from the service, writes kLastGoodPath (when changed) and removes kRefreshNeededPath (writes
/// it instead when the view is incomplete); for a fallback view or none (`used` null), writes
/// kRefreshNeededPath. Failures are warnings.
void record_view(const SourcedInstance* used, FileSystem& fs, Log& log);

}  // namespace nicsync
