// Oracle Cloud (OCI) instance metadata (module/metadata/oracle.hpp). The first byte picks the
// document, the rest is its JSON body (see tests/fuzz/README.md):
//   0  instance/ -> parse_instance
//   1  vnics/ of a VM, 2  vnics/ of a bare-metal instance -> parse_vnics; then a configured
//      secondary IP and an OCI API private IP are added to the first VNIC that has IPv4, and the
//      instance must survive the last good view at each step

#include <algorithm>
#include <cctype>
#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "fuzz_common.hpp"
#include "metadata/oracle.hpp"

using namespace nicsync;
using nicsync::fuzz::check;

namespace {

const oracle::InstanceInfo kInfo{.id = *ResourceId::parse("ocid1.instance.oc1.phx.fuzz")};

void instance(std::string_view text) {
  Result<oracle::InstanceInfo> info = oracle::parse_instance(text);
  if (!info.ok()) return fuzz::check_one_line(info.error());
  check(ResourceId::parse(info->id.str()).ok(), "the instance id reparses", info->id.str());
  check(oracle::assemble_instance(*info, {}).instance_id == info->id, "assemble keeps the id");
}

/// The count of `address` in `addresses`.
size_t count(const std::vector<Ipv4Address>& addresses, Ipv4Address address) {
  return static_cast<size_t>(std::count(addresses.begin(), addresses.end(), address));
}

void vnics(std::string_view text, oracle::Machine machine) {
  Result<std::vector<Interface>> parsed = oracle::parse_vnics(text, machine);
  if (!parsed.ok()) return fuzz::check_one_line(parsed.error());
  std::vector<Interface> vnics = std::move(parsed).value();
  check(!vnics.empty(), "vnics/ that parses lists a VNIC");
  for (size_t i = 0; i < vnics.size(); ++i) {
    check(vnics[i].index == static_cast<int>(i), "VNIC n gets index n");
    check((vnics[i].role == NicRole::primary) == (i == 0), "the first VNIC and only it is primary");
    if (machine == oracle::Machine::virtual_machine) check(!vnics[i].vlan, "no VLANs on a VM");
    if (vnics[i].ipv4.subnet) {
      check(vnics[i].ipv4.gateway && vnics[i].ipv4.subnet->contains(*vnics[i].ipv4.gateway),
            "the virtual router is in the subnet");
    }
  }
  fuzz::check_instance(oracle::assemble_instance(kInfo, vnics));

  // One more address inside the first IPv4 subnet, configured by MAC (upper case) twice: added
  // once, after what was there.
  auto with_ipv4 = std::find_if(vnics.begin(), vnics.end(), [](const Interface& v) { return v.ipv4.subnet.has_value(); });
  if (with_ipv4 == vnics.end()) return;
  const Ipv4Cidr subnet = *with_ipv4->ipv4.subnet;
  const Ipv4Address extra = Ipv4Address::from_uint(subnet.network().to_uint() + 2);
  const Ipv4Address first = with_ipv4->ipv4.addresses.front();
  std::string mac = with_ipv4->mac.str();
  std::transform(mac.begin(), mac.end(), mac.begin(), [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
  Result<void> added = oracle::add_secondary_ips(vnics, {{mac, {extra, extra}}});
  check(added.ok(), "an address inside the subnet can be added", added.ok() ? "" : added.error().message);
  check(with_ipv4->ipv4.addresses.front() == first, "the private IP stays first");
  check(count(with_ipv4->ipv4.addresses, extra) == 1, "a configured address is added once", extra.str());
  fuzz::check_instance(oracle::assemble_instance(kInfo, vnics));

  if (!with_ipv4->id) return;
  const Ipv4Address api = Ipv4Address::from_uint(subnet.network().to_uint() + 3);
  const oci::PrivateIp primary{.address = first, .is_primary = true, .hostname_label = "primary"};
  const oci::PrivateIp secondary{.address = api, .is_primary = false, .hostname_label = "api-ip"};
  Result<void> listed = oracle::add_api_private_ips(vnics, {{with_ipv4->id->str(), {secondary, primary}}});
  check(listed.ok(), "an API address inside the subnet can be added", listed.ok() ? "" : listed.error().message);
  check(count(with_ipv4->ipv4.addresses, api) == 1, "an API address is added once", api.str());
  fuzz::check_instance(oracle::assemble_instance(kInfo, vnics));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  std::string_view text = fuzz::text_of(data + 1, size - 1);
  switch (data[0] % 3) {
    case 0: instance(text); break;
    case 1: vnics(text, oracle::Machine::virtual_machine); break;
    default: vnics(text, oracle::Machine::bare_metal); break;
  }
  return 0;
}
