// Alibaba Cloud ECS metadata (module/metadata/alibaba.hpp). The first byte picks the parser, the
// rest is the body (see tests/fuzz/README.md):
//   0  parse_mac_listing (macs/), then the listing written back must parse to the same MACs
//   1  a NIC's leaves (NUL-separated "<key>\n<body>" records) -> parse_interface ->
//      assemble_instance -> the instance survives the last good view
//   2  the value parsers (private-ipv4s JSON array, bracketed ipv6s, mac, ids) on the same text,
//      each result written in the service's notation and reparsed

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "fuzz_common.hpp"
#include "metadata/alibaba.hpp"

using namespace nicsync;
using nicsync::fuzz::check;

namespace {

const MacAddress kMac = *MacAddress::parse("00:16:3e:45:5e:32");

void listing(std::string_view text) {
  Result<std::vector<MacAddress>> macs = alibaba::parse_mac_listing(text);
  if (!macs.ok()) return fuzz::check_one_line(macs.error());
  check(!macs->empty(), "a listing that parses is not empty");
  std::string written;
  for (const MacAddress& mac : *macs) written += mac.str() + "/\r\n";
  Result<std::vector<MacAddress>> again = alibaba::parse_mac_listing(written);
  check(again.ok() && *again == *macs, "the macs/ listing round-trips", written);
}

void interface(std::string_view text) {
  Result<Interface> nic = alibaba::parse_interface(kMac, fuzz::split_leaves(text));
  if (!nic.ok()) return fuzz::check_one_line(nic.error());
  check(!nic->ipv4.addresses.empty(), "a parsed NIC has an IPv4 address");
  check(nic->ipv4.subnet && nic->ipv4.subnet->prefix_length() <= 30, "the subnet has room for a gateway");
  check(nic->ipv4.gateway && nic->ipv4.subnet->contains(*nic->ipv4.gateway), "the gateway is in the subnet");
  Result<Instance> instance = alibaba::assemble_instance(kMac, *ResourceId::parse("i-bp67acfmxazb4p"), {*nic});
  check(instance.ok(), "one NIC that is the primary assembles", instance.ok() ? "" : instance.error().message);
  check(instance->interfaces[0].index == 0, "the primary gets index 0");
  fuzz::check_instance(*instance);
}

void values(std::string_view text) {
  if (Result<MacAddress> mac = alibaba::parse_mac(text, "mac"); mac.ok()) fuzz::check_canonical(*mac, "mac");
  if (Result<ResourceId> id = alibaba::parse_resource_id(text, "instance-id"); id.ok()) {
    check(alibaba::parse_resource_id(id->str(), "instance-id").ok(), "a resource id reparses", id->str());
  }
  if (Result<std::vector<Ipv4Address>> v4 = alibaba::parse_ipv4_array(text, "private-ipv4s"); v4.ok()) {
    std::string written = "[";
    for (size_t i = 0; i < v4->size(); ++i) written += (i == 0 ? "\"" : ",\"") + (*v4)[i].str() + "\"";
    written += "]";
    Result<std::vector<Ipv4Address>> again = alibaba::parse_ipv4_array(written, "private-ipv4s");
    check(again.ok() && *again == *v4, "private-ipv4s round-trips", written);
  }
  if (Result<std::vector<Ipv6Address>> v6 = alibaba::parse_ipv6_list(text, "ipv6s"); v6.ok()) {
    std::string written = "[";
    for (size_t i = 0; i < v6->size(); ++i) written += (i == 0 ? "" : ",") + (*v6)[i].str();
    written += "]";
    Result<std::vector<Ipv6Address>> again = alibaba::parse_ipv6_list(written, "ipv6s");
    check(again.ok() && *again == *v6, "ipv6s round-trips", written);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  std::string_view text = fuzz::text_of(data + 1, size - 1);
  switch (data[0] % 3) {
    case 0: listing(text); break;
    case 1: interface(text); break;
    default: values(text); break;
  }
  return 0;
}
