// Vendor detection from the firmware's DMI strings: no network, so it works before anything is up.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "nicsync/provider.hpp"

namespace nicsync {

namespace {

constexpr const char* kDmiDirectory = "/sys/class/dmi/id/";

/// One DMI string without the newline (and padding) the kernel and firmware add; nullopt when
/// the file does not exist (containers, non-x86 machines without DMI).
Result<std::optional<std::string>> read_dmi(FileSystem& fs, const char* name) {
  NICSYNC_TRY_ASSIGN(std::optional<std::string> text, fs.read_file(std::string(kDmiDirectory) + name));
  if (!text) return text;
  std::string_view value = *text;
  while (!value.empty() && (value.back() == '\n' || value.back() == ' ' || value.back() == '\0')) {
    value.remove_suffix(1);
  }
  while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
  return std::optional<std::string>(value);
}

std::string shown(const char* name, const std::optional<std::string>& value) {
  return std::string(name) + (value ? " " + quote(*value) : " missing");
}

}  // namespace

Result<Vendor> detect_vendor(FileSystem& fs) {
  NICSYNC_TRY_ASSIGN(std::optional<std::string> sys_vendor, read_dmi(fs, "sys_vendor"));
  NICSYNC_TRY_ASSIGN(std::optional<std::string> product_name, read_dmi(fs, "product_name"));
  NICSYNC_TRY_ASSIGN(std::optional<std::string> asset_tag, read_dmi(fs, "chassis_asset_tag"));
  auto is = [](const std::optional<std::string>& value, std::string_view expected) {
    return value && *value == expected;
  };

  std::vector<Vendor> matches;
  if (is(sys_vendor, "Amazon EC2") || is(product_name, "Amazon EC2") || is(asset_tag, "Amazon EC2")) {
    matches.push_back(Vendor::aws);
  }
  if (is(asset_tag, "OracleCloud.com")) matches.push_back(Vendor::oracle);
  if (is(product_name, "Alibaba Cloud ECS")) matches.push_back(Vendor::alibaba);
  if (matches.size() == 1) return matches[0];

  std::string seen = shown("sys_vendor", sys_vendor) + ", " + shown("product_name", product_name) + ", " +
                     shown("chassis_asset_tag", asset_tag);
  std::string hint = " (pass --vendor aws, oracle or alibaba)";
  if (matches.empty()) return Error{"no supported cloud detected: /sys/class/dmi/id says " + seen + hint};
  return Error{"more than one cloud detected: /sys/class/dmi/id says " + seen + hint};
}

}  // namespace nicsync
