#pragma once
/// Oracle Cloud (OCI) instance metadata, the pure half: the JSON bodies of instance/ and vnics/
/// -> validated values -> the Instance. fetch_oracle() (provider.hpp) does the HTTP and calls these.
///
/// Every error is one line: "oracle: <where>: <what is wrong>", where <where> is the document
/// relative to /opc/v2/ (or /opc/v1/): "instance/", "vnics/", "vnics/ entry 2" (counted from 1),
/// or, for configured secondary IPs, "secondary IPs for <key>".

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "nicsync/address.hpp"
#include "nicsync/model.hpp"
#include "nicsync/result.hpp"
#include "oci/api.hpp"

namespace nicsync::oracle {

inline constexpr std::string_view kV2Path = "/opc/v2/";
inline constexpr std::string_view kV1Path = "/opc/v1/";

/// VNIC id or MAC (either case) -> extra private IPv4 addresses, as configured.
using SecondaryIps = std::map<std::string, std::vector<Ipv4Address>>;

/// Whether the instance is a VM or bare metal; only bare metal carries VNICs as VLANs.
enum class Machine { virtual_machine, bare_metal };

/// What nicsync needs from instance/.
struct InstanceInfo {
  ResourceId id;
  Machine machine = Machine::virtual_machine;
  /// "canonicalRegionName" (else "regionInfo"."regionIdentifier"), as given: checked only
  /// when the OCI API is used (oci::make_region).
  std::optional<std::string> region{};
  std::optional<std::string> realm_domain{};  ///< "regionInfo"."realmDomainComponent"
  /// Where `region` came from, for messages: "\"canonicalRegionName\"" or
  /// "\"regionInfo\".\"regionIdentifier\"".
  std::string region_member{};
};

/// instance/: an object with a string "id" (the instance OCID) and, optionally, "shape";
/// shapes starting with "BM." are bare metal; the region as InstanceInfo says. Other members
/// are ignored.
Result<InstanceInfo> parse_instance(std::string_view json);

/// vnics/: a non-empty JSON array of VNIC objects, the primary first, no MAC twice. Entry n
/// (from 0) gets index n, and role primary when n is 0; id = vnicId; IPv4 from privateIp,
/// subnetCidrBlock and virtualRouterIp; IPv6 from ipv6Addresses, ipv6SubnetCidrBlock and
/// ipv6VirtualRouterIp. A missing member, JSON null and the service's "<null>" all mean absent.
/// privateIp may be absent (IPv6-only VNIC); when present it needs subnetCidrBlock and
/// virtualRouterIp, both inside that subnet. On bare metal, nicIndex plus a non-zero vlanTag
/// make Interface::vlan; on VMs both are ignored. Unknown members are ignored.
Result<std::vector<Interface>> parse_vnics(std::string_view json, Machine machine);

/// Appends the configured secondary IPs to each VNIC (after its private IP, in configured order,
/// repeats dropped). A key matches a VNIC by vnicId or by MAC; keys that match none are ignored.
/// An address outside the VNIC's subnet, or on a VNIC without IPv4, is an error naming the key.
Result<void> add_secondary_ips(std::vector<Interface>& vnics, const SecondaryIps& secondary_ips);

/// Adds the OCI API's secondary private IPs (oci::list_private_ips(), keyed by vnicId) to the
/// VNICs with that id: the non-primary ones, in address order, after the VNIC's private IP,
/// with their hostname labels. An address outside the VNIC's IPv4 subnet is an Error.
Result<void> add_api_private_ips(std::vector<Interface>& vnics,
                                 const std::map<std::string, std::vector<oci::PrivateIp>>& private_ips);

/// The Instance: vendor oracle, the instance id and the VNICs in vnics/ order.
Instance assemble_instance(const InstanceInfo& info, std::vector<Interface> vnics);

}  // namespace nicsync::oracle
