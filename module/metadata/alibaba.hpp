#pragma once
/// Alibaba Cloud ECS instance metadata, the pure half: text from the service -> validated values
/// -> the Instance. fetch_alibaba() (provider.hpp) does the HTTP and calls these.
///
/// Every error is one line: "alibaba: <where>[ item N]: <what is wrong>", where <where> is the key
/// relative to /latest/meta-data/ ("mac", "instance-id") or, for a NIC's keys, relative to
/// /latest/meta-data/network/interfaces/ ("macs/00:16:3e:45:5e:32/private-ipv4s").

#include <array>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "nicsync/address.hpp"
#include "nicsync/model.hpp"
#include "nicsync/result.hpp"

namespace nicsync::alibaba {

inline constexpr std::string_view kMetaDataPath = "/latest/meta-data/";
inline constexpr std::string_view kMacsPath = "/latest/meta-data/network/interfaces/macs/";

/// The keys of a NIC that nicsync reads, in the order they are requested.
inline constexpr std::array<std::string_view, 9> kInterfaceKeys = {
    "network-interface-id", "primary-ip-address", "private-ipv4s", "netmask", "gateway",
    "vswitch-cidr-block", "ipv6s", "ipv6-gateway", "vswitch-ipv6-cidr-block"};

/// The keys without which a NIC cannot be configured; the IPv6 ones may be absent (404).
inline constexpr std::array<std::string_view, 6> kRequiredInterfaceKeys = {
    "network-interface-id", "primary-ip-address", "private-ipv4s", "netmask", "gateway", "vswitch-cidr-block"};

bool is_required_interface_key(std::string_view key);

/// "macs/<mac>/<key>", the name of a NIC's key in messages.
std::string interface_where(const MacAddress& mac, std::string_view key);

/// A single MAC address (meta-data/mac); a trailing newline is tolerated.
Result<MacAddress> parse_mac(std::string_view text, std::string_view where);

/// A single resource id (instance-id, network-interface-id); a trailing newline is tolerated.
Result<ResourceId> parse_resource_id(std::string_view text, std::string_view where);

/// The `macs/` listing: one "<mac>/" a line, in listing order. Blank trailing lines are ignored;
/// an empty listing, a malformed line or a repeated MAC is an error.
Result<std::vector<MacAddress>> parse_mac_listing(std::string_view text);

/// private-ipv4s: a JSON array of address strings, e.g. ["172.16.10.57","172.16.10.77"].
Result<std::vector<Ipv4Address>> parse_ipv4_array(std::string_view text, std::string_view where);

/// ipv6s: a bracketed, comma-separated list of unquoted addresses, e.g.
/// [2408:4005:39c:1b00::1,2408:4005:39c:1b00::2]; "[]" is empty; quoted items are accepted too.
Result<std::vector<Ipv6Address>> parse_ipv6_list(std::string_view text, std::string_view where);

/// One NIC from its fetched keys (key -> body; absent keys missing). The result has role
/// secondary and no index; IPv4 addresses are primary-ip-address first, then the rest of
/// private-ipv4s in its order; subnet = vswitch-cidr-block, which netmask must agree with;
/// every address and the gateway inside it. IPv6 from ipv6s, ipv6-gateway and
/// vswitch-ipv6-cidr-block where present.
Result<Interface> parse_interface(const MacAddress& mac, const std::map<std::string, std::string>& leaves);

/// The instance: marks the NIC whose MAC is `primary_mac` primary with index 0 (it must be among
/// them) and puts it first; the others keep listing order and get no index.
Result<Instance> assemble_instance(const MacAddress& primary_mac, const ResourceId& instance_id,
                                   std::vector<Interface> interfaces);

}  // namespace nicsync::alibaba
