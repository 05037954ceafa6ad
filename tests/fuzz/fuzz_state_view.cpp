// nicsync's own files, read back at the next run: the state file (parse_state, module/app/state.hpp)
// and the last good view (parse_last_good, nicsync/metadata_sources.hpp). The whole input is the
// file, tried as each. What parses must render and parse back to the same value, and rendering
// must be stable.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>

#include "app/state.hpp"
#include "fuzz_common.hpp"

using namespace nicsync;
using nicsync::fuzz::check;

namespace {

void state(std::string_view text) {
  Result<State> parsed = parse_state(text);
  if (!parsed.ok()) return fuzz::check_one_line(parsed.error());
  check(std::is_sorted(parsed->files.begin(), parsed->files.end()), "files are sorted");
  check(std::is_sorted(parsed->addresses.begin(), parsed->addresses.end()), "addresses are sorted");
  for (const std::string& path : parsed->files) check(path.starts_with("/"), "files are absolute", path);
  for (const OwnedAddress& owned : parsed->addresses) {
    check(InterfaceName::parse(owned.dev).ok(), "dev is an interface name", owned.dev);
    check(owned.prefix_length >= 0 && owned.prefix_length <= owned.address.bits(),
          "prefix length 0-32 (IPv4) or 0-128 (IPv6)");
  }
  const std::string rendered = render_state(*parsed);
  Result<State> again = parse_state(rendered);
  check(again.ok(), "a rendered state parses", again.ok() ? rendered : again.error().message);
  check(*again == *parsed, "the state round-trips", rendered);
  check(render_state(*again) == rendered, "rendering the state is stable", rendered);
}

void last_good(std::string_view text, Vendor vendor) {
  Result<Instance> parsed = parse_last_good(text, vendor, "metadata.json");
  if (!parsed.ok()) {
    fuzz::check_one_line(parsed.error());
    check(parsed.error().message.starts_with("metadata.json: "), "errors name the file", parsed.error().message);
    return;
  }
  check(parsed->vendor == vendor, "the view is the vendor's");
  fuzz::check_instance(*parsed);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text = fuzz::text_of(data, size);
  state(text);
  for (Vendor vendor : {Vendor::aws, Vendor::oracle, Vendor::alibaba}) last_good(text, vendor);
  return 0;
}
