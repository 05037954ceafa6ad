// AWS EC2 metadata (module/metadata/aws.hpp). The first byte picks the parser, the rest is the
// body (see tests/fuzz/README.md):
//   0  parse_mac_listing (macs/), then the listing written back must parse to the same MACs
//   1  keys_to_fetch (macs/<mac>/): only known keys, in kInterfaceKeys order, required ones all there
//   2  a NIC's leaves (NUL-separated "<key>\n<body>" records) -> parse_interface ->
//      assemble_instance -> the instance survives the last good view
//   3  the single-value and line parsers on the same text, each result printed and reparsed

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "fuzz_common.hpp"
#include "metadata/aws.hpp"

using namespace nicsync;
using nicsync::fuzz::check;

namespace {

const MacAddress kMac = *MacAddress::parse("02:86:10:77:7f:fe");

template <typename T>
std::string lines_of(const std::vector<T>& values) {
  std::string out;
  for (const T& value : values) out += value.str() + "\n";
  return out;
}

/// A list parser's values, printed one a line, parse back to the same list.
template <typename T, typename Parse>
void check_lines(std::string_view text, Parse parse) {
  Result<std::vector<T>> values = parse(text, "fuzz");
  if (!values.ok()) return fuzz::check_one_line(values.error());
  for (const T& value : *values) fuzz::check_canonical(value, "line value prints canonically");
  Result<std::vector<T>> again = parse(lines_of(*values), "fuzz");
  check(again.ok() && *again == *values, "a parsed list written back parses the same", lines_of(*values));
}

void listing(std::string_view text) {
  Result<std::vector<MacAddress>> macs = aws::parse_mac_listing(text);
  if (!macs.ok()) return fuzz::check_one_line(macs.error());
  check(!macs->empty(), "a listing that parses is not empty");
  std::string written;
  for (const MacAddress& mac : *macs) written += mac.str() + "/\n";
  Result<std::vector<MacAddress>> again = aws::parse_mac_listing(written);
  check(again.ok() && *again == *macs, "the macs/ listing round-trips", written);
}

void keys(std::string_view text) {
  Result<std::vector<std::string>> keys = aws::keys_to_fetch(kMac, text);
  if (!keys.ok()) return fuzz::check_one_line(keys.error());
  size_t next = 0;
  for (const std::string& key : *keys) {
    auto at = std::find(aws::kInterfaceKeys.begin() + static_cast<std::ptrdiff_t>(next), aws::kInterfaceKeys.end(), key);
    check(at != aws::kInterfaceKeys.end(), "keys_to_fetch gives known keys in order", key);
    next = static_cast<size_t>(at - aws::kInterfaceKeys.begin()) + 1;
  }
  for (std::string_view required : aws::kRequiredInterfaceKeys) {
    check(std::find(keys->begin(), keys->end(), required) != keys->end(), "keys_to_fetch has every required key",
          std::string(required));
  }
}

void interface(std::string_view text) {
  Result<Interface> nic = aws::parse_interface(kMac, fuzz::split_leaves(text));
  if (!nic.ok()) return fuzz::check_one_line(nic.error());
  check(nic->index.has_value() && *nic->index >= 0 && *nic->index <= 255, "device-number 0-255");
  check(nic->card >= 0 && nic->card <= 255, "network-card 0-255");
  check(!nic->ipv4.addresses.empty() || !nic->ipv6.addresses.empty(),
        "a parsed NIC has an IPv4 or IPv6 address");
  if (nic->ipv4.addresses.empty()) {  // an ENI in an IPv6-only subnet
    check(!nic->ipv4.subnet && !nic->ipv4.gateway, "an IPv6-only NIC has no IPv4 subnet or gateway");
  } else {
    check(nic->ipv4.subnet && nic->ipv4.subnet->prefix_length() <= 30,
          "the subnet has room for a gateway");
    check(nic->ipv4.gateway && nic->ipv4.subnet->contains(*nic->ipv4.gateway),
          "the gateway is in the subnet");
  }
  Result<Instance> instance = aws::assemble_instance(kMac, *ResourceId::parse("i-0123456789abcdef0"), {*nic});
  check(instance.ok(), "one NIC that is the primary assembles", instance.ok() ? "" : instance.error().message);
  fuzz::check_instance(*instance);
}

void values(std::string_view text) {
  if (Result<MacAddress> mac = aws::parse_mac(text, "mac"); mac.ok()) fuzz::check_canonical(*mac, "mac");
  if (Result<ResourceId> id = aws::parse_resource_id(text, "instance-id"); id.ok()) {
    check(aws::parse_resource_id(id->str(), "instance-id").ok(), "a resource id reparses", id->str());
  }
  if (Result<int> n = aws::parse_small_number(text, "device-number"); n.ok()) {
    check(*n >= 0 && *n <= 255, "a small number is 0-255");
    Result<int> again = aws::parse_small_number(std::to_string(*n), "device-number");
    check(again.ok() && *again == *n, "a small number reparses");
  }
  if (Result<Ipv4Cidr> subnet = aws::parse_ipv4_subnet(text, "subnet"); subnet.ok()) {
    check(subnet->prefix_length() <= 30, "a subnet leaves room for a gateway");
    fuzz::check_canonical(*subnet, "subnet prints canonically");
  }
  check_lines<Ipv4Address>(text, aws::parse_ipv4_lines);
  check_lines<Ipv6Address>(text, aws::parse_ipv6_lines);
  check_lines<Ipv4Cidr>(text, aws::parse_ipv4_cidr_lines);
  check_lines<Ipv6Cidr>(text, aws::parse_ipv6_cidr_lines);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  std::string_view text = fuzz::text_of(data + 1, size - 1);
  switch (data[0] % 4) {
    case 0: listing(text); break;
    case 1: keys(text); break;
    case 2: interface(text); break;
    default: values(text); break;
  }
  return 0;
}
