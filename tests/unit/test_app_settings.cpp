#include <doctest/doctest.h>

#include <chrono>
#include <string>

#include "fake_filesystem.hpp"
#include "nicsync/app.hpp"

using namespace nicsync;

namespace {

/// apply_settings() over a fake root holding `files` (path -> content); REQUIREs success.
RunOptions settled(const std::map<std::string, std::string>& files) {
  test::FakeFileSystem fs;
  for (const auto& [path, content] : files) fs.add(path, content);
  RunOptions options;
  Result<void> result = apply_settings(options, fs);
  REQUIRE_MESSAGE(result.ok(), result.error().message);
  return options;
}

}  // namespace

TEST_SUITE("app::apply_settings") {
  TEST_CASE("primary_rules and secondary_addressing default to the default scheme") {
    RunOptions options = settled({});
    CHECK_FALSE(options.plan.primary_rules);
    CHECK(options.plan.secondary_addressing == Addressing::static_);
  }

  TEST_CASE("primary_rules: true in nicsync.yaml reaches the planner") {
    RunOptions options = settled({{"/etc/nicsync/nicsync.yaml", "primary_rules: true\n"}});
    CHECK(options.plan.primary_rules);
    CHECK(options.plan.secondary_addressing == Addressing::static_);
    CHECK(options.effective.primary_rules == true);
  }

  TEST_CASE("secondary_addressing: dhcp in a conf.d file reaches the planner") {
    RunOptions options = settled({{"/etc/nicsync/conf.d/50-dhcp.yaml", "secondary_addressing: dhcp\n"}});
    CHECK(options.plan.secondary_addressing == Addressing::dhcp);
    CHECK(options.plan.primary_rules);  // follows secondary_addressing when not set
    CHECK(options.effective.primary_rules == std::nullopt);
  }

  TEST_CASE("secondary_addressing: dhcp with primary_rules: false keeps the primary without rules") {
    RunOptions options = settled({{"/etc/nicsync/nicsync.yaml", "secondary_addressing: dhcp\nprimary_rules: false\n"}});
    CHECK(options.plan.secondary_addressing == Addressing::dhcp);
    CHECK_FALSE(options.plan.primary_rules);
  }

  TEST_CASE("both from cloud-config user-data, over the files") {
    RunOptions options = settled(
        {{"/etc/nicsync/nicsync.yaml", "primary_rules: false\nsecondary_addressing: static\n"},
         {"/run/cloud-init/combined-cloud-config.json",
          R"({"nicsync": {"primary_rules": true, "secondary_addressing": "dhcp"}})"}});
    CHECK(options.plan.primary_rules);
    CHECK(options.plan.secondary_addressing == Addressing::dhcp);
  }

  TEST_CASE("a later layer turns them off again") {
    RunOptions options = settled({{"/etc/nicsync/nicsync.yaml", "primary_rules: true\nsecondary_addressing: dhcp\n"},
                                  {"/etc/nicsync/conf.d/90-off.yaml", "primary_rules: off\nsecondary_addressing: static\n"}});
    CHECK_FALSE(options.plan.primary_rules);
    CHECK(options.plan.secondary_addressing == Addressing::static_);
  }

  TEST_CASE("the command-line layer decides last") {
    test::FakeFileSystem fs;
    fs.add("/etc/nicsync/nicsync.yaml", "primary_rules: true\nsecondary_addressing: dhcp\n");
    RunOptions options;
    options.command_line.primary_rules = false;
    options.command_line.secondary_addressing = Addressing::static_;
    REQUIRE(apply_settings(options, fs).ok());
    CHECK_FALSE(options.plan.primary_rules);
    CHECK(options.plan.secondary_addressing == Addressing::static_);
  }

  TEST_CASE("the other plan settings are still mapped beside them") {
    RunOptions options = settled({{"/etc/nicsync/nicsync.yaml",
                                   "primary_rules: true\nsecondary_addressing: dhcp\ntable_base: 2000\n"
                                   "policy_routing: on\n"}});
    CHECK(options.plan.table_base == 2000u);
    CHECK(options.plan.priority_base == 2000u);
    CHECK(options.plan.policy_routing == PolicyRouting::on);
    CHECK(options.plan.primary_rules);
  }

  TEST_CASE("every key of the settings file reaches the run's options") {
    RunOptions options = settled({{"/etc/nicsync/nicsync.yaml",
                                   "vendor: oracle\n"
                                   "renderer: network-scripts\n"
                                   "live: off\n"
                                   "policy_routing: off\n"
                                   "table_base: 3000\n"
                                   "rule_priority_base: 500\n"
                                   "primary_rules: true\n"
                                   "secondary_addressing: dhcp\n"
                                   "interfaces:\n"
                                   "  include: [eth1, \"0A:07:84:3D:6E:38\"]\n"
                                   "  exclude: [eni-0c07a0474339b801d]\n"
                                   "metadata:\n"
                                   "  url: http://127.0.0.1:8080\n"
                                   "  connect_timeout_ms: 111\n"
                                   "  timeout_ms: 222\n"
                                   "  boot_timeout_ms: 333\n"
                                   "  attempts: 4\n"
                                   "  backoff_ms: 55\n"
                                   "  max_in_flight: 6\n"
                                   "oracle:\n"
                                   "  secondary_ips:\n"
                                   "    \"02:00:17:00:00:01\": [10.0.0.11]\n"}});
    CHECK(options.vendor == Vendor::oracle);
    CHECK(options.renderer == RendererKind::network_scripts);
    CHECK(options.live == LiveMode::off);
    CHECK(options.plan.policy_routing == PolicyRouting::off);
    CHECK(options.plan.table_base == 3000u);
    CHECK(options.plan.priority_base == 500u);
    CHECK(options.plan.primary_rules);
    CHECK(options.plan.secondary_addressing == Addressing::dhcp);
    REQUIRE(options.include_interfaces.has_value());
    CHECK(*options.include_interfaces == std::vector<InterfaceSelector>{*InterfaceSelector::parse("eth1"),
                                                                        *InterfaceSelector::parse("0a:07:84:3d:6e:38")});
    CHECK(options.exclude_interfaces == std::vector<InterfaceSelector>{*InterfaceSelector::parse("eni-0c07a0474339b801d")});
    CHECK(options.metadata_url == "http://127.0.0.1:8080");
    CHECK(options.http.connect_timeout_ms == 111);
    CHECK(options.http.request_timeout_ms == 222);
    CHECK(options.http.attempts == 4);
    CHECK(options.http.backoff_ms == 55);
    CHECK(options.http.max_in_flight == 6);
    REQUIRE(options.oracle_secondary_ips.count("02:00:17:00:00:01") == 1);
    CHECK(options.oracle_secondary_ips.at("02:00:17:00:00:01") == std::vector<Ipv4Address>{*Ipv4Address::parse("10.0.0.11")});
  }

  TEST_CASE("aws.allow_imdsv1, interfaces.attach_timeout_ms and lock_timeout_ms: defaults") {
    RunOptions options = settled({});
    CHECK_FALSE(options.aws.allow_imdsv1);
    CHECK(options.attach_timeout_ms == 5000u);
    CHECK(options.lock_timeout_ms == 30000u);
    // Only allow_imdsv1 comes from the settings; the device-number re-reads keep their defaults.
    CHECK(options.aws.device_number_attempts == 5);
    CHECK(options.aws.device_number_delay == std::chrono::milliseconds(200));
  }

  TEST_CASE("aws.allow_imdsv1, interfaces.attach_timeout_ms and lock_timeout_ms reach the run's options") {
    RunOptions options = settled({{"/etc/nicsync/nicsync.yaml",
                                   "lock_timeout_ms: 1000\naws:\n  allow_imdsv1: true\n"
                                   "interfaces:\n  attach_timeout_ms: 0\n"},
                                  {"/etc/nicsync/conf.d/50-wait.yaml", "lock_timeout_ms: 2500\n"}});
    CHECK(options.aws.allow_imdsv1);
    CHECK(options.attach_timeout_ms == 0u);
    CHECK(options.lock_timeout_ms == 2500u);

    test::FakeFileSystem fs;
    fs.add("/etc/nicsync/nicsync.yaml", "aws:\n  allow_imdsv1: true\n");
    RunOptions command_line;
    command_line.command_line.aws.allow_imdsv1 = false;
    REQUIRE(apply_settings(command_line, fs).ok());
    CHECK_FALSE(command_line.aws.allow_imdsv1);
  }

  TEST_CASE("--boot uses metadata.boot_timeout_ms for every attempt and at most two attempts") {
    test::FakeFileSystem fs;
    fs.add("/etc/nicsync/nicsync.yaml", "metadata:\n  connect_timeout_ms: 5000\n  timeout_ms: 9000\n"
                                        "  boot_timeout_ms: 700\n  attempts: 5\n");
    RunOptions options;
    options.mode = RunMode::boot;
    REQUIRE(apply_settings(options, fs).ok());
    CHECK(options.http.request_timeout_ms == 700);
    CHECK(options.http.connect_timeout_ms == 700);
    CHECK(options.http.attempts == 2);
  }

  TEST_CASE("config check shows primary_rules following secondary_addressing: dhcp") {
    Config config;
    config.secondary_addressing = Addressing::dhcp;
    std::string text = describe_config(config);
    CHECK(text.find("primary_rules: true  # default with secondary_addressing: dhcp\n") != std::string::npos);
    config.primary_rules = false;
    CHECK(describe_config(config).find("primary_rules: false\n") != std::string::npos);
  }
}
