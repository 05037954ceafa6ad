#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <string>

#include <nlohmann/json.hpp>

#include "fake_filesystem.hpp"
#include "nicsync/provider.hpp"

using nicsync::Vendor;
using nicsync::test::FakeFileSystem;

namespace {

const std::string kDmi = "/sys/class/dmi/id/";

/// The three DMI files as the kernel shows them (each value ends with a newline).
FakeFileSystem dmi(const std::string& sys_vendor, const std::string& product_name, const std::string& asset_tag) {
  FakeFileSystem fs;
  fs.add(kDmi + "sys_vendor", sys_vendor + "\n");
  fs.add(kDmi + "product_name", product_name + "\n");
  fs.add(kDmi + "chassis_asset_tag", asset_tag + "\n");
  // Files a detection must not need.
  fs.add(kDmi + "bios_vendor", "SeaBIOS\n");
  fs.add(kDmi + "product_uuid", "ec2e1916-9099-7caf-fd21-012345abcdef\n");
  return fs;
}

std::string error_of(const nicsync::Result<Vendor>& result) {
  REQUIRE_FALSE(result.ok());
  return result.error().message;
}

}  // namespace

TEST_SUITE("system::dmi") {

TEST_CASE("every fixture's DMI values detect the fixture's vendor, with no network at all") {
  int fixtures = 0;
  for (const auto& entry : std::filesystem::directory_iterator(NICSYNC_TEST_FIXTURES)) {
    if (entry.path().extension() != ".json") continue;
    CAPTURE(entry.path().filename().string());
    std::ifstream in(entry.path());
    const nlohmann::json fixture = nlohmann::json::parse(in);
    const nlohmann::json& values = fixture.at("dmi");
    FakeFileSystem fs = dmi(values.at("sys_vendor").get<std::string>(), values.at("product_name").get<std::string>(),
                            values.at("chassis_asset_tag").get<std::string>());
    auto vendor = nicsync::detect_vendor(fs);
    REQUIRE_MESSAGE(vendor.ok(), vendor.error().message);
    CHECK(nicsync::vendor_name(*vendor) == fixture.at("vendor").get<std::string>());
    CHECK(fs.files_written.empty());
    ++fixtures;
  }
  CHECK(fixtures >= 7);
}

TEST_CASE("AWS by sys_vendor, by product_name or by chassis asset tag alone") {
  FakeFileSystem by_vendor = dmi("Amazon EC2", "m5.large", "");
  CHECK(nicsync::detect_vendor(by_vendor).value() == Vendor::aws);
  FakeFileSystem by_product = dmi("Xen", "Amazon EC2", "");
  CHECK(nicsync::detect_vendor(by_product).value() == Vendor::aws);
  FakeFileSystem by_tag = dmi("", "", "Amazon EC2");
  CHECK(nicsync::detect_vendor(by_tag).value() == Vendor::aws);
}

TEST_CASE("Oracle by chassis asset tag, Alibaba by product name, padding ignored") {
  FakeFileSystem oracle = dmi("QEMU", "Standard PC (i440FX + PIIX, 1996)", "OracleCloud.com   ");
  CHECK(nicsync::detect_vendor(oracle).value() == Vendor::oracle);
  FakeFileSystem alibaba = dmi("Alibaba Cloud", "Alibaba Cloud ECS", "");
  CHECK(nicsync::detect_vendor(alibaba).value() == Vendor::alibaba);
}

TEST_CASE("an unknown machine is a clear error that shows what DMI says, not a guess") {
  FakeFileSystem qemu = dmi("QEMU", "Standard PC", "");
  CHECK(error_of(nicsync::detect_vendor(qemu)) ==
        "no supported cloud detected: /sys/class/dmi/id says sys_vendor \"QEMU\", product_name \"Standard PC\", "
        "chassis_asset_tag \"\" (pass --vendor aws, oracle or alibaba)");

  // Near misses are not matches.
  FakeFileSystem near = dmi("Amazon EC2 ", "Alibaba Cloud", "oraclecloud.com");
  CHECK(nicsync::detect_vendor(near).value() == Vendor::aws);  // trailing padding is not part of the value
  FakeFileSystem near_miss = dmi("Amazon", "Alibaba Cloud", "oraclecloud.com");
  CHECK(error_of(nicsync::detect_vendor(near_miss)) ==
        "no supported cloud detected: /sys/class/dmi/id says sys_vendor \"Amazon\", product_name \"Alibaba Cloud\", "
        "chassis_asset_tag \"oraclecloud.com\" (pass --vendor aws, oracle or alibaba)");
}

TEST_CASE("without DMI (a container) the message says the files are missing") {
  FakeFileSystem empty;
  CHECK(error_of(nicsync::detect_vendor(empty)) ==
        "no supported cloud detected: /sys/class/dmi/id says sys_vendor missing, product_name missing, "
        "chassis_asset_tag missing (pass --vendor aws, oracle or alibaba)");
}

TEST_CASE("two clouds at once is refused rather than guessed") {
  FakeFileSystem both = dmi("Amazon EC2", "m5.large", "OracleCloud.com");
  CHECK(error_of(nicsync::detect_vendor(both)) ==
        "more than one cloud detected: /sys/class/dmi/id says sys_vendor \"Amazon EC2\", product_name \"m5.large\", "
        "chassis_asset_tag \"OracleCloud.com\" (pass --vendor aws, oracle or alibaba)");
}

}  // TEST_SUITE
