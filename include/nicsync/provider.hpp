#pragma once
/// Metadata providers: fetch a vendor's instance metadata over HTTP and normalise it into an
/// Instance. Parsing is separate from fetching, so every parser is tested on text alone.

#include <chrono>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "nicsync/filesystem.hpp"
#include "nicsync/http.hpp"
#include "nicsync/model.hpp"

namespace nicsync {

/// How to talk to one vendor's metadata service.
struct ImdsProtocol {
  std::string base_url;         ///< e.g. "http://169.254.169.254"; trailing slashes are dropped
  std::string token_path;       ///< PUT here for a session token; empty: no tokens
  std::string token_ttl_header; ///< sent with the PUT, value "21600"
  std::string token_header;     ///< carries the token on every GET
  /// false: a token PUT that fails (404/405: no token support; no answer) falls back to no token.
  /// A 403 is always an error: the service knows tokens and refused this request for one.
  bool token_required = true;
  /// Appended (after "; ") to the error of a required token's PUT answered 404 or 405, to say
  /// how to read a service without tokens; empty: nothing.
  std::string no_token_hint{};
  std::vector<std::pair<std::string, std::string>> static_headers;  ///< e.g. Authorization
};

/// A session with a metadata service: acquires a token if the protocol has one, and on a 401
/// gets a new token once and repeats the failed requests.
class ImdsSession {
 public:
  ImdsSession(HttpClient& http, ImdsProtocol protocol, std::string vendor_label);
  /// GETs every path (relative to base_url, e.g. "/latest/meta-data/mac") in parallel.
  /// Returns the bodies; a 404 on a path listed in `optional_paths` yields nullopt, any other
  /// failure is an Error naming the vendor, the path and the status or transport reason.
  Result<std::vector<std::optional<std::string>>> get(const std::vector<std::string>& paths,
                                                      const std::vector<bool>& optional = {});
  /// Like get(), but each path also fails alone: its body, nullopt for a 404 on an optional path,
  /// or the Error get() would give for it. Only a failure to get a token fails the call.
  Result<std::vector<Result<std::optional<std::string>>>> get_each(const std::vector<std::string>& paths,
                                                                   const std::vector<bool>& optional = {});
  /// Number of HTTP requests made so far (token PUTs included).
  int requests_made() const { return requests_made_; }

 private:
  /// Gets a token; `next_batch` requests wait for it (HttpClient::prepare()), 0 when a repeat does.
  Result<void> acquire_token(size_t next_batch = 0);
  /// The final responses for `paths` (one new token and a repeat after a 401).
  Result<std::vector<HttpResponse>> fetch(const std::vector<std::string>& paths);
  Error failure(const std::string& path, const HttpResponse& response) const;
  HttpClient& http_;
  ImdsProtocol protocol_;
  std::string label_;
  std::optional<std::string> token_;
  bool token_tried_ = false;
  int requests_made_ = 0;
};

inline constexpr const char* kAwsDefaultEndpoint = "http://169.254.169.254";

/// How fetch_aws() reads the metadata service.
struct AwsOptions {
  /// false (the default): IMDSv2 only, every GET carries a session token and a token PUT that
  /// fails is the error. true (setting aws.allow_imdsv1): a token PUT answered 404 or 405, or not
  /// answered, falls back to GETs without a token (IMDSv1); a 403 stays an error.
  bool allow_imdsv1 = false;
  /// Re-reads of a non-primary NIC's device-number that is still 0 on the primary's network card
  /// (a freshly attached ENI whose metadata has not caught up yet); 0: none.
  int device_number_attempts = 5;
  std::chrono::milliseconds device_number_delay{200};  ///< before each re-read
  /// Waits between re-reads; empty: std::this_thread::sleep_for.
  std::function<void(std::chrono::milliseconds)> sleep{};
  /// The MACs of this machine's NICs (device_macs() of read_sysfs_links()). What each NIC lists
  /// is asked for with the NIC list instead of after it, one round trip fewer; a MAC the service
  /// does not list only costs its requests; a listed NIC whose guess lacks a body it must have (a
  /// 404: attached a moment ago) is asked for again once the list is known, one whose guess failed
  /// is the error.
  std::vector<MacAddress> local_macs{};
};

/// Fetches and normalises AWS EC2 metadata (IMDSv2). Errors read
/// `aws: macs/0a:..:38/local-ipv4s line 2: "172.31.45.700" is not an IPv4 address`.
/// A non-primary NIC whose device-number stays 0 on the primary's network card through every
/// re-read (AwsOptions) is an error naming its MAC.
Result<Instance> fetch_aws(HttpClient& http, const std::string& endpoint, const AwsOptions& options = {});

inline constexpr const char* kOracleDefaultEndpoint = "http://169.254.169.254";

/// Fetches and normalises Oracle Cloud (OCI) metadata: GET /opc/v2/instance/ and /opc/v2/vnics/
/// with `Authorization: Bearer Oracle`, or /opc/v1/ when the service answers 404 to both.
/// The first VNIC is the primary (index 0), the others are numbered by position. IMDS does not
/// list secondary private IPs: `secondary_ips` (from configuration) maps a VNIC id or a MAC (either
/// case) to its extra IPv4 addresses; each must lie in that VNIC's subnet. Keys that match no
/// VNIC are ignored (a detached VNIC must not stop the run). On bare metal ("BM." shapes) a VNIC
/// with nicIndex and a non-zero vlanTag gets Interface::vlan. Errors read
/// `oracle: vnics/ entry 2: "macAddr" is missing` (entries counted from 1).
Result<Instance> fetch_oracle(HttpClient& http, const std::string& endpoint,
                              const std::map<std::string, std::vector<Ipv4Address>>& secondary_ips);

/// How fetch_oracle_with_api() reaches the OCI API.
struct OracleApiOptions {
  HttpClient* http = nullptr;  ///< the API's client (HTTPS); null: the API is not asked
  std::optional<std::string> federation_endpoint;  ///< unset: https://auth.<region>.<realm domain>
  std::optional<std::string> iaas_endpoint;        ///< unset: https://iaas.<region>.<realm domain>
  /// The clock that dates signed requests and ages tokens; empty: the system clock.
  std::function<std::chrono::system_clock::time_point()> now{};
};

/// What Oracle's metadata service and the OCI API told.
struct OracleFetch {
  Instance instance;
  /// Why the OCI API gave no secondary private IPs, when it was asked and failed: `instance`
  /// then holds only the configured ones (never fewer than the API would have given is the
  /// caller's business: see obtain_instance()).
  std::optional<Error> api_error{};
  int api_federations = 0;  ///< security tokens obtained (renewals included)
};

/// fetch_oracle(), plus the secondary private IPs of every VNIC from the OCI API
/// (ListPrivateIps, as the instance principal), merged before the configured ones: each VNIC's
/// private IP first, then the API's secondaries in address order, then the configured ones not
/// already there. The API's hostname labels go to Ipv4Config::hostname_labels. The region comes
/// from instance/ ("canonicalRegionName", "regionInfo.realmDomainComponent"). A failure of the
/// metadata service is the Error; a failure of the API (unreachable, refused, an invalid
/// answer, an address outside its VNIC's subnet) is OracleFetch::api_error.
Result<OracleFetch> fetch_oracle_with_api(HttpClient& http, const std::string& endpoint,
                                          const std::map<std::string, std::vector<Ipv4Address>>& secondary_ips,
                                          const OracleApiOptions& api);

inline constexpr const char* kAlibabaDefaultEndpoint = "http://100.100.100.200";

/// Fetches and normalises Alibaba Cloud ECS metadata, in hardened mode (token) when the service
/// offers it and in normal mode when it answers the token PUT with 404/405; a 403 is an error.
/// The NIC of meta-data/mac is the primary with index 0; the others get no index (see
/// number_interfaces()). Errors read
/// `alibaba: macs/00:16:3e:45:5e:32/private-ipv4s: "172.16.10.57" is not a JSON array`.
/// `local_macs` (device_macs() of read_sysfs_links()): the NICs whose keys are asked for with the
/// NIC list, as AwsOptions::local_macs.
Result<Instance> fetch_alibaba(HttpClient& http, const std::string& endpoint,
                               const std::vector<MacAddress>& local_macs = {});

/// Which cloud this machine runs in, from /sys/class/dmi/id/{sys_vendor,product_name,
/// chassis_asset_tag}, without any network. No match (or more than one) is an Error that shows
/// the three values and suggests --vendor.
Result<Vendor> detect_vendor(FileSystem& fs);

}  // namespace nicsync
