#pragma once
/// Settings: /etc/nicsync/nicsync.yaml, then /etc/nicsync/conf.d/*.yaml in name order, then the
/// `nicsync:` key of the instance's cloud-config user-data. Every field is optional ("not set"), so
/// layers merge: defaults < nicsync.yaml < conf.d files < user-data < command line.
/// Parsers take text, not paths; load_config() reads the files through a FileSystem.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "nicsync/address.hpp"
#include "nicsync/live_mode.hpp"
#include "nicsync/plan.hpp"
#include "nicsync/render.hpp"
#include "nicsync/filesystem.hpp"
#include "nicsync/model.hpp"
#include "nicsync/plan.hpp"
#include "nicsync/render.hpp"
#include "nicsync/result.hpp"

namespace nicsync {

inline constexpr std::string_view kConfigPath = "/etc/nicsync/nicsync.yaml";
inline constexpr std::string_view kConfigDropInDir = "/etc/nicsync/conf.d";
/// cloud-init's fully merged cloud-config (system config + vendor-data + user-data) as JSON,
/// root-only (0600). Written by cloud-init >= 23.3 at its init (network) stage, so it is absent
/// early in the first boot and on every boot until that stage has run (/run is a tmpfs).
inline constexpr std::string_view kUserDataConfigPath = "/run/cloud-init/combined-cloud-config.json";

// Defaults of the settings that have a fixed one (DESIGN.md, "Default scheme"; HttpOptions).
inline constexpr uint32_t kDefaultTableBase = 1000;
inline constexpr uint32_t kDefaultConnectTimeoutMs = 1000;
inline constexpr uint32_t kDefaultTimeoutMs = 2000;
inline constexpr uint32_t kDefaultBootTimeoutMs = 1000;
inline constexpr uint32_t kDefaultAttempts = 3;
inline constexpr uint32_t kDefaultBackoffMs = 100;
/// 40: an AWS instance of 15 ENIs (the common large shapes) asks 78 requests with the NIC list,
/// two waves of 39; at 32 they took three waves of 26 (tests/bench/HISTORY.md, eighth round).
inline constexpr uint32_t kDefaultMaxInFlight = 40;
inline constexpr uint32_t kDefaultAttachTimeoutMs = 5000;
inline constexpr uint32_t kDefaultLockTimeoutMs = 30000;

/// Picks interfaces by OS name ("eth1"), MAC ("0a:1b:2c:3d:4e:5f") or cloud resource id
/// ("eni-0c07a0474339b801d", "ocid1.vnic.oc1...").
struct InterfaceSelector {
  enum class Kind { name, mac, id };
  Kind kind = Kind::name;
  std::string value;  ///< canonical: the name, the MAC in lower case, or the id as written

  /// "eni-..." and "ocid1...." are ids, a 6-byte colon-separated hex string is a MAC, anything
  /// else must be a valid interface name. The error says which of the three it is not.
  static Result<InterfaceSelector> parse(std::string_view text);
  /// True when `nic` has this name (once resolved), this MAC, or this resource id.
  bool matches(const Interface& nic) const;
  bool operator==(const InterfaceSelector&) const = default;
  /// Orders by kind, then value (a std::map key).
  bool operator<(const InterfaceSelector& other) const {
    return kind != other.kind ? kind < other.kind : value < other.value;
  }
};

/// How NICs other than the primary get their IPv4 addresses: `Addressing` from plan.hpp
/// (static_ = from the metadata, the default; dhcp = leave them to DHCP).
using SecondaryAddressing = Addressing;

struct InterfaceSettings {
  /// Only these interfaces are managed; unset: all. An empty list manages none.
  std::optional<std::vector<InterfaceSelector>> include;
  /// These interfaces are never touched (applied after include); unset: none.
  std::optional<std::vector<InterfaceSelector>> exclude;
  /// How long a run waits for a NIC the metadata lists to appear locally (hot attach), 0-600000.
  std::optional<uint32_t> attach_timeout_ms{};
  bool operator==(const InterfaceSettings&) const = default;
};

struct MetadataSettings {
  std::optional<std::string> url;  ///< http:// or https://, no trailing slash; unset: the vendor's
  std::optional<uint32_t> connect_timeout_ms;  ///< 1-60000
  std::optional<uint32_t> timeout_ms;          ///< per request attempt, 1-600000
  std::optional<uint32_t> boot_timeout_ms;     ///< per request attempt during boot, 1-600000
  std::optional<uint32_t> attempts;            ///< tries per request, 1-10
  std::optional<uint32_t> backoff_ms;          ///< first retry delay (doubles), 0-60000
  std::optional<uint32_t> max_in_flight;       ///< requests on the wire at once, 1-64
  bool operator==(const MetadataSettings&) const = default;
};

struct AwsSettings {
  /// Read the metadata service without a session token (IMDSv1) when it offers none; unset: false.
  std::optional<bool> allow_imdsv1;
  bool operator==(const AwsSettings&) const = default;
};

/// How nicsync asks the OCI API (as the instance: instance principal) for secondary private IPs.
struct OracleApiSettings {
  std::optional<bool> enabled;                     ///< unset: true
  std::optional<std::string> federation_endpoint;  ///< https://host[:port]; unset: https://auth.<region>.<realm domain>
  std::optional<std::string> iaas_endpoint;        ///< https://host[:port]; unset: https://iaas.<region>.<realm domain>
  std::optional<std::string> ca_bundle;            ///< absolute path of a PEM CA file; unset: the system's
  bool operator==(const OracleApiSettings&) const = default;
};

struct OracleSettings {
  /// Secondary private IPv4s per VNIC (OCI's metadata does not list them), keyed by a VNIC id
  /// (Kind::id, "ocid1.vnic.") or a MAC (Kind::mac). Layers merge per VNIC.
  std::map<InterfaceSelector, std::vector<Ipv4Address>> secondary_ips;
  OracleApiSettings api;
  bool operator==(const OracleSettings&) const = default;
};

/// One layer of settings, or the merge of several. Unset = "not set in this layer".
struct Config {
  std::optional<Vendor> vendor;          ///< unset or "auto": detect from DMI
  std::optional<RendererKind> renderer;  ///< unset or "auto": netplan if /etc/netplan exists, ...
  std::optional<LiveMode> live;
  std::optional<PolicyRouting> policy_routing;
  std::optional<uint32_t> table_base;          ///< 1-250000000
  std::optional<uint32_t> rule_priority_base;  ///< 1-32000; unset: follows table_base
  std::optional<bool> primary_rules;           ///< a table and rules for the primary NIC too
  std::optional<SecondaryAddressing> secondary_addressing;
  InterfaceSettings interfaces;
  MetadataSettings metadata;
  OracleSettings oracle;
  AwsSettings aws{};
  /// How long an apply waits for another running apply to finish, 0-600000.
  std::optional<uint32_t> lock_timeout_ms{};
  bool operator==(const Config&) const = default;
};

/// Parses one settings file. `source_name` (its path) starts every error, which reads
/// `/etc/nicsync/nicsync.yaml:7:3: unknown key "tabel_base" (did you mean "table_base"?)`.
/// An empty file, or one with only comments, is an empty Config.
Result<Config> parse_config(std::string_view text, const std::string& source_name);

/// Parses cloud-init's combined cloud-config JSON (kUserDataConfigPath) and validates its
/// top-level `nicsync` object with the same rules; absent or null: an empty Config. Errors read
/// `<source_name>: nicsync.policy_routing: "maybe" is not auto, on or off`. JSON booleans are
/// accepted for live and policy_routing as on/off (cloud-init's YAML 1.1 reads a bare on/off so).
Result<Config> parse_user_data_override(std::string_view text, const std::string& source_name);

/// `layer` on top of `base`: every setting `layer` sets wins (lists are replaced, not joined);
/// oracle.secondary_ips merges per VNIC (a VNIC's list in `layer` replaces its list in `base`).
Config merge(const Config& base, const Config& layer);

/// Reads and merges kConfigPath (absent: nothing), then every `*.yaml` in kConfigDropInDir in
/// name order (hidden files skipped), then kUserDataConfigPath (absent: nothing).
Result<Config> load_config(FileSystem& fs);

/// Checks what only the fully merged settings (command line included) can tell: the rule
/// priority base defaults to table_base, so a table_base above 32000 needs rule_priority_base.
Result<void> check_merged_config(const Config& config);

/// The effective settings, one `key: value` a line in a fixed order (nested keys dotted,
/// lists in [flow] form); values no layer set show their default followed by `  # default`.
std::string describe_config(const Config& config);

}  // namespace nicsync
