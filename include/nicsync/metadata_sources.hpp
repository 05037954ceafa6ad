#pragma once
/// Where an instance's metadata can come from besides the metadata service: cloud-init's crawl
/// of this boot, and nicsync's own last good view. Parsers take text; the run reads the files.

#include <string>
#include <string_view>

#include "nicsync/model.hpp"
#include "nicsync/result.hpp"

namespace nicsync {

enum class MetadataSource {
  imds,        ///< the vendor's metadata service, fetched now
  cloud_init,  ///< cloud-init's instance-data.json of this boot
  last_good,   ///< nicsync's view saved after its last complete fetch
};

/// "metadata service", "cloud-init instance data", "last good view".
std::string_view metadata_source_name(MetadataSource source);
/// "imds", "cloud-init", "last-good": the NICSYNC_SOURCE field of log entries.
std::string_view metadata_source_key(MetadataSource source);

/// Written by cloud-init (world-readable, sensitive keys redacted) at each boot; /run is a tmpfs.
inline constexpr std::string_view kInstanceDataPath = "/run/cloud-init/instance-data.json";
/// nicsync's last good view (0600): the Instance of the last complete, validated fetch.
inline constexpr std::string_view kLastGoodPath = "/var/lib/nicsync/metadata.json";
/// Present while the files on disk come from something other than a fresh fetch (a boot run that
/// fell back); nicsync-online.service runs only then (ConditionPathExists). Removed after a
/// complete fetch.
inline constexpr std::string_view kRefreshNeededPath = "/run/nicsync/refresh-needed";

/// Parses cloud-init's instance-data.json: the EC2 or Alibaba metadata tree crawled by cloud-init
/// (`ds["meta-data"]`, with the service's dashed key names; `ds["meta_data"]` before cloud-init
/// 18.4), into the same Instance the vendor's provider builds from the service (same
/// validation, same error style, prefixed with `source_name`). Oracle's VNICs are not in it: an
/// Error saying so. An instance-data.json of another cloud (v1.cloud_name "aws", "aliyun") is an
/// Error naming it. On EC2 reboots cloud-init may write this file from its cached crawl of an
/// earlier boot rather than crawl again.
Result<Instance> parse_cloud_init_instance_data(std::string_view text, Vendor vendor,
                                                const std::string& source_name);

/// The last good view as JSON (stable key order, one object per interface), and back. The
/// parser validates every value as the providers do; a view of another vendor than `vendor`
/// is an Error (the image moved clouds).
std::string render_last_good(const Instance& instance);
Result<Instance> parse_last_good(std::string_view text, Vendor vendor, const std::string& source_name);

}  // namespace nicsync
