// The settings (nicsync/config.hpp): the whole input is read both as a settings file
// (parse_config, YAML) and as cloud-init's combined cloud-config (parse_user_data_override,
// JSON). A Config that parses must hold only values the documented ranges allow, merge as a
// layer should, and describe itself.

#include <cstddef>
#include <cstdint>
#include <string>

#include "fuzz_common.hpp"
#include "nicsync/config.hpp"

using namespace nicsync;
using nicsync::fuzz::check;

namespace {

void check_number(const std::optional<uint32_t>& value, uint32_t low, uint32_t high, const char* what) {
  if (value) check(*value >= low && *value <= high, what, std::to_string(*value));
}

void check_url(const std::optional<std::string>& url, bool https_only, const char* what) {
  if (!url) return;
  bool scheme = url->starts_with("https://") || (!https_only && url->starts_with("http://"));
  check(scheme && !url->ends_with("/"), what, *url);
}

void check_selectors(const std::optional<std::vector<InterfaceSelector>>& selectors) {
  if (!selectors) return;
  for (const InterfaceSelector& selector : *selectors) {
    Result<InterfaceSelector> again = InterfaceSelector::parse(selector.value);
    check(again.ok() && *again == selector, "a selector is canonical", selector.value);
  }
}

void check_config(const Config& config) {
  check_number(config.table_base, 1, 250000000, "table_base 1-250000000");
  check_number(config.rule_priority_base, 1, 32000, "rule_priority_base 1-32000");
  check_number(config.metadata.connect_timeout_ms, 1, 60000, "connect_timeout_ms 1-60000");
  check_number(config.metadata.timeout_ms, 1, 600000, "timeout_ms 1-600000");
  check_number(config.metadata.boot_timeout_ms, 1, 600000, "boot_timeout_ms 1-600000");
  check_number(config.metadata.attempts, 1, 10, "attempts 1-10");
  check_number(config.metadata.backoff_ms, 0, 60000, "backoff_ms 0-60000");
  check_number(config.metadata.max_in_flight, 1, 64, "max_in_flight 1-64");
  check_url(config.metadata.url, false, "metadata.url is http(s):// without a trailing slash");
  check_url(config.oracle.api.federation_endpoint, true, "federation_endpoint is https://");
  check_url(config.oracle.api.iaas_endpoint, true, "iaas_endpoint is https://");
  if (config.oracle.api.ca_bundle) {
    check(config.oracle.api.ca_bundle->starts_with("/"), "ca_bundle is absolute", *config.oracle.api.ca_bundle);
  }
  check_selectors(config.interfaces.include);
  check_selectors(config.interfaces.exclude);
  for (const auto& [vnic, addresses] : config.oracle.secondary_ips) {
    check(vnic.kind != InterfaceSelector::Kind::name, "secondary_ips are keyed by VNIC id or MAC", vnic.value);
    for (const Ipv4Address& address : addresses) fuzz::check_canonical(address, "secondary IP prints canonically");
  }
  // A layer on nothing is itself; nothing on a layer changes nothing; a layer on itself is itself.
  check(merge(Config{}, config) == config, "merge(empty, c) == c");
  check(merge(config, Config{}) == config, "merge(c, empty) == c");
  check(merge(config, config) == config, "merge(c, c) == c");
  (void)check_merged_config(config);
  check(!describe_config(config).empty(), "describe_config says something");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text = fuzz::text_of(data, size);
  if (Result<Config> config = parse_config(text, "nicsync.yaml"); config.ok()) {
    check_config(*config);
  } else {
    fuzz::check_one_line(config.error());
    check(config.error().message.starts_with("nicsync.yaml"), "errors name the file", config.error().message);
  }
  if (Result<Config> config = parse_user_data_override(text, "combined-cloud-config.json"); config.ok()) {
    check_config(*config);
  } else {
    fuzz::check_one_line(config.error());
    check(config.error().message.starts_with("combined-cloud-config.json"), "errors name the file",
          config.error().message);
  }
  return 0;
}
