#pragma once
/// AWS EC2 metadata (IMDSv2), the pure half: text from the service -> validated values -> the
/// Instance. fetch_aws() (provider.hpp) does the HTTP and calls these.
///
/// Every error is one line: "aws: <where>[ line N]: <what is wrong>", where <where> is the key
/// relative to /latest/meta-data/ ("mac", "instance-id") or, for a NIC's keys, relative to
/// /latest/meta-data/network/interfaces/ ("macs/0a:07:84:3d:6e:38/local-ipv4s").

#include <array>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "nicsync/address.hpp"
#include "nicsync/model.hpp"
#include "nicsync/result.hpp"

namespace nicsync::aws {

inline constexpr std::string_view kMetaDataPath = "/latest/meta-data/";
inline constexpr std::string_view kMacsPath = "/latest/meta-data/network/interfaces/macs/";

/// The keys of a NIC that nicsync reads, in the order they are requested.
inline constexpr std::array<std::string_view, 9> kInterfaceKeys = {
    "device-number", "network-card", "interface-id", "local-ipv4s", "subnet-ipv4-cidr-block",
    "ipv6s", "subnet-ipv6-cidr-blocks", "ipv4-prefix", "ipv6-prefix"};

/// The keys without which a NIC cannot be configured; the others may be absent.
inline constexpr std::array<std::string_view, 1> kRequiredInterfaceKeys = {"device-number"};

/// A NIC's IPv4 keys: both present, except on an ENI in an IPv6-only subnet, which has neither
/// (the keys are absent, not empty) and must have ipv6s instead.
inline constexpr std::array<std::string_view, 2> kIpv4InterfaceKeys = {"local-ipv4s",
                                                                       "subnet-ipv4-cidr-block"};

/// The keys nearly every NIC has, asked for in the same round trip as the NIC's listing rather
/// than after it (one dependent round trip less); whether a 404 among them is an error is
/// decided by the listing, as for the others.
inline constexpr std::array<std::string_view, 4> kEagerInterfaceKeys = {"device-number", "interface-id",
                                                                        "local-ipv4s", "subnet-ipv4-cidr-block"};

bool is_required_interface_key(std::string_view key);
bool is_ipv4_interface_key(std::string_view key);

/// "macs/<mac>/<key>", the name of a NIC's key in messages.
std::string interface_where(const MacAddress& mac, std::string_view key);

/// A single MAC address (meta-data/mac); a trailing newline is tolerated.
Result<MacAddress> parse_mac(std::string_view text, std::string_view where);

/// A single resource id (instance-id, interface-id); a trailing newline is tolerated.
Result<ResourceId> parse_resource_id(std::string_view text, std::string_view where);

/// The `macs/` listing: one "<mac>/" a line, in listing order. Blank trailing lines are ignored;
/// an empty listing, a malformed line or a repeated MAC is an error.
Result<std::vector<MacAddress>> parse_mac_listing(std::string_view text);

/// Which of kInterfaceKeys the listing `macs/<mac>/` shows, in kInterfaceKeys order.
/// Errors name the required keys the listing lacks: kRequiredInterfaceKeys, and
/// kIpv4InterfaceKeys unless the listing shows ipv6s and neither IPv4 key.
Result<std::vector<std::string>> keys_to_fetch(const MacAddress& mac, std::string_view listing);

/// device-number or network-card: a decimal number from 0 to 255.
Result<int> parse_small_number(std::string_view text, std::string_view where);

/// subnet-ipv4-cidr-block: an IPv4 network with room for a gateway (prefix length <= 30).
Result<Ipv4Cidr> parse_ipv4_subnet(std::string_view text, std::string_view where);

/// Multi-line leaves: one value a line, blank trailing lines ignored; a blank line in between,
/// a malformed value or a repeated one is an error naming the line.
Result<std::vector<Ipv4Address>> parse_ipv4_lines(std::string_view text, std::string_view where);
Result<std::vector<Ipv6Address>> parse_ipv6_lines(std::string_view text, std::string_view where);
Result<std::vector<Ipv4Cidr>> parse_ipv4_cidr_lines(std::string_view text, std::string_view where);
Result<std::vector<Ipv6Cidr>> parse_ipv6_cidr_lines(std::string_view text, std::string_view where);

/// One NIC from its fetched keys (key -> body; absent keys missing). The result has role
/// secondary; index = device-number, card = network-card (absent: 0), IPv4 addresses in
/// local-ipv4s order, each inside the subnet, gateway = subnet network + 1. A NIC without
/// both IPv4 keys (an IPv6-only subnet) has no IPv4 and needs at least one IPv6 address.
Result<Interface> parse_interface(const MacAddress& mac, const std::map<std::string, std::string>& leaves);

/// The instance: marks the NIC whose MAC is `primary_mac` primary (it must be among them),
/// sorts by (card, index) and rejects two NICs in the same (card, index) slot.
Result<Instance> assemble_instance(const MacAddress& primary_mac, const ResourceId& instance_id,
                                   std::vector<Interface> interfaces);

}  // namespace nicsync::aws
