// cloud-init's instance-data.json (parse_cloud_init_instance_data, nicsync/metadata_sources.hpp).
// The whole input is the file; it is read as each vendor's (only the matching v1.cloud_name can
// succeed, Oracle never). An Instance it yields must survive the last good view.

#include <cstddef>
#include <cstdint>

#include "fuzz_common.hpp"

using namespace nicsync;
using nicsync::fuzz::check;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text = fuzz::text_of(data, size);
  int parsed = 0;
  for (Vendor vendor : {Vendor::aws, Vendor::alibaba, Vendor::oracle}) {
    Result<Instance> instance = parse_cloud_init_instance_data(text, vendor, "instance-data.json");
    if (!instance.ok()) {
      fuzz::check_one_line(instance.error());
      check(instance.error().message.starts_with("instance-data.json: "), "errors name the file",
            instance.error().message);
      continue;
    }
    ++parsed;
    check(vendor != Vendor::oracle, "Oracle VNICs are never read from cloud-init");
    check(instance->vendor == vendor, "the instance is the vendor's");
    if (vendor == Vendor::alibaba) {
      check(instance->interfaces[0].role == NicRole::primary && instance->interfaces[0].index == 0,
            "Alibaba's primary comes first, with index 0");
    }
    fuzz::check_instance(*instance);
  }
  check(parsed <= 1, "one file is one cloud's");
  return 0;
}
