#include <doctest/doctest.h>

#include <fstream>
#include <sstream>

#include "fake_filesystem.hpp"
#include "nicsync/config.hpp"

using namespace nicsync;

namespace {

const std::string kFile = "/etc/nicsync/nicsync.yaml";
const std::string kUserData = "/run/cloud-init/combined-cloud-config.json";

Config parse_ok(std::string_view text) {
  Result<Config> config = parse_config(text, kFile);
  if (!config.ok()) FAIL_CHECK(config.error().message);
  REQUIRE(config.ok());
  return *config;
}

std::string parse_error(std::string_view text) {
  Result<Config> config = parse_config(text, kFile);
  REQUIRE_FALSE(config.ok());
  return config.error().message;
}

Config user_data_ok(std::string_view text) {
  Result<Config> config = parse_user_data_override(text, kUserData);
  if (!config.ok()) FAIL_CHECK(config.error().message);
  REQUIRE(config.ok());
  return *config;
}

std::string user_data_error(std::string_view text) {
  Result<Config> config = parse_user_data_override(text, kUserData);
  REQUIRE_FALSE(config.ok());
  return config.error().message;
}

InterfaceSelector selector(InterfaceSelector::Kind kind, std::string value) {
  return {kind, std::move(value)};
}

Ipv4Address ip(std::string_view text) { return *Ipv4Address::parse(text); }

std::string read_shipped_config() {
  std::ifstream file(NICSYNC_TEST_FIXTURES "/../../config/nicsync.yaml");
  REQUIRE(file.good());
  std::stringstream text;
  text << file.rdbuf();
  return text.str();
}

/// The shipped file with its examples uncommented: "#key: v" -> "key: v", "#  - x" -> "  - x".
/// Prose comments ("# Text") stay.
std::string uncomment_examples(const std::string& text) {
  std::istringstream in(text);
  std::string out;
  for (std::string line; std::getline(in, line);) {
    size_t hash = line.find_first_not_of(' ');
    bool example = hash != std::string::npos && line[hash] == '#' && hash + 1 < line.size() &&
                   (line[hash + 1] != ' ' || line.compare(hash + 1, 2, "  ") == 0);
    if (example) line.erase(hash, 1);
    out += line + "\n";
  }
  return out;
}

}  // namespace

TEST_SUITE("app::config") {
  // ---- files that set nothing ----

  TEST_CASE("an empty file, comments only or empty values are an empty Config") {
    CHECK(parse_ok("") == Config{});
    CHECK(parse_ok("# nothing here\n\n   # still nothing\n") == Config{});
    CHECK(parse_ok("---\n") == Config{});
    CHECK(parse_ok("table_base:\nmetadata:\ninterfaces:\n  exclude:\n") == Config{});
  }

  TEST_CASE("the shipped config/nicsync.yaml parses to an empty Config") {
    CHECK(parse_ok(read_shipped_config()) == Config{});
  }

  TEST_CASE("the shipped file's commented examples are valid and cover every setting") {
    Config config = parse_ok(uncomment_examples(read_shipped_config()));
    CHECK_FALSE(config.vendor);    // "auto" is not set
    CHECK_FALSE(config.renderer);  // "auto" is not set
    CHECK(config.live == LiveMode::automatic);
    CHECK(config.policy_routing == PolicyRouting::automatic);
    CHECK(config.table_base == 1000u);
    CHECK(config.rule_priority_base == 1000u);
    CHECK(config.primary_rules == false);
    CHECK(config.secondary_addressing == Addressing::static_);
    REQUIRE(config.interfaces.include);
    CHECK(config.interfaces.include->size() == 2);
    CHECK(config.interfaces.exclude ==
          std::vector<InterfaceSelector>{selector(InterfaceSelector::Kind::name, "eth3"),
                                         selector(InterfaceSelector::Kind::mac, "0a:1b:2c:3d:4e:5f"),
                                         selector(InterfaceSelector::Kind::id, "eni-0c07a0474339b801d")});
    CHECK(config.metadata.url == "http://169.254.169.254");
    CHECK(config.metadata.connect_timeout_ms == kDefaultConnectTimeoutMs);
    CHECK(config.metadata.timeout_ms == kDefaultTimeoutMs);
    CHECK(config.metadata.boot_timeout_ms == kDefaultBootTimeoutMs);
    CHECK(config.metadata.attempts == kDefaultAttempts);
    CHECK(config.metadata.backoff_ms == kDefaultBackoffMs);
    CHECK(config.metadata.max_in_flight == kDefaultMaxInFlight);
    CHECK(config.interfaces.attach_timeout_ms == kDefaultAttachTimeoutMs);
    CHECK(config.lock_timeout_ms == kDefaultLockTimeoutMs);
    CHECK(config.aws.allow_imdsv1 == false);
    CHECK(config.oracle.secondary_ips.size() == 2);
    CHECK(config.oracle.api == OracleApiSettings{.enabled = true,
                                                 .federation_endpoint = "https://auth.us-phoenix-1.oraclecloud.com",
                                                 .iaas_endpoint = "https://iaas.us-phoenix-1.oraclecloud.com",
                                                 .ca_bundle = "/etc/pki/tls/certs/ca-bundle.crt"});
    // The examples show the defaults, so the effective settings only lose their "# default" marks.
    std::string described = describe_config(config);
    CHECK(described.find("table_base: 1000\n") != std::string::npos);
    CHECK(described.find("metadata.attempts: 3\n") != std::string::npos);
  }

  // ---- each setting: a good value and a bad one ----

  TEST_CASE("vendor: auto, aws, oracle or alibaba") {
    CHECK(parse_ok("vendor: oracle\n").vendor == Vendor::oracle);
    CHECK(parse_ok("vendor: aws\n").vendor == Vendor::aws);
    CHECK(parse_ok("vendor: alibaba\n").vendor == Vendor::alibaba);
    CHECK_FALSE(parse_ok("vendor: auto\n").vendor);
    CHECK(parse_error("vendor: gcp\n") ==
          "/etc/nicsync/nicsync.yaml:1:9: vendor: \"gcp\" is not auto, aws, oracle or alibaba");
  }

  TEST_CASE("renderer: auto, netplan or network-scripts") {
    CHECK(parse_ok("renderer: network-scripts\n").renderer == RendererKind::network_scripts);
    CHECK(parse_ok("renderer: netplan\n").renderer == RendererKind::netplan);
    CHECK_FALSE(parse_ok("renderer: auto\n").renderer);
    CHECK(parse_error("renderer: ifupdown\n") ==
          "/etc/nicsync/nicsync.yaml:1:11: renderer: \"ifupdown\" is not auto, netplan or network-scripts");
  }

  TEST_CASE("live: auto, on or off, compared as text") {
    CHECK(parse_ok("live: off\n").live == LiveMode::off);
    CHECK(parse_ok("live: on\n").live == LiveMode::on);
    CHECK(parse_ok("live: auto\n").live == LiveMode::automatic);
    CHECK(parse_error("live: true\n") ==
          "/etc/nicsync/nicsync.yaml:1:7: live: \"true\" is not auto, on or off");
  }

  TEST_CASE("policy_routing: auto, on or off") {
    CHECK(parse_ok("policy_routing: on\n").policy_routing == PolicyRouting::on);
    CHECK(parse_ok("policy_routing: \"off\"\n").policy_routing == PolicyRouting::off);
    CHECK(parse_ok("policy_routing: auto\n").policy_routing == PolicyRouting::automatic);
    CHECK(parse_error("vendor: aws\nrenderer: netplan\nlive: auto\npolicy_routing: maybe\n") ==
          "/etc/nicsync/nicsync.yaml:4:17: policy_routing: \"maybe\" is not auto, on or off");
  }

  TEST_CASE("table_base: a whole number 1-250000000") {
    CHECK(parse_ok("table_base: 2000\n").table_base == 2000u);
    CHECK(parse_ok("table_base: 250000000\n").table_base == 250000000u);
    CHECK(parse_ok("table_base: \"7\"\n").table_base == 7u);
    CHECK(parse_error("table_base: 0\n") ==
          "/etc/nicsync/nicsync.yaml:1:13: table_base: 0 is out of range (1-250000000)");
    CHECK(parse_error("table_base: 250000001\n") ==
          "/etc/nicsync/nicsync.yaml:1:13: table_base: 250000001 is out of range (1-250000000)");
    CHECK(parse_error("table_base: -5\n") ==
          "/etc/nicsync/nicsync.yaml:1:13: table_base: -5 is out of range (1-250000000)");
    CHECK(
        parse_error("table_base: 99999999999999999999999\n") ==
        "/etc/nicsync/nicsync.yaml:1:13: table_base: 99999999999999999999999 is out of range (1-250000000)");
    CHECK(parse_error("table_base: ten\n") ==
          "/etc/nicsync/nicsync.yaml:1:13: table_base: \"ten\" is not a whole number");
    CHECK(parse_error("table_base: 1.5\n") ==
          "/etc/nicsync/nicsync.yaml:1:13: table_base: \"1.5\" is not a whole number");
  }

  TEST_CASE("rule_priority_base: a whole number 1-32000") {
    CHECK(parse_ok("rule_priority_base: 500\n").rule_priority_base == 500u);
    CHECK(parse_error("rule_priority_base: 32001\n") ==
          "/etc/nicsync/nicsync.yaml:1:21: rule_priority_base: 32001 is out of range (1-32000)");
    CHECK(parse_error("rule_priority_base: 0\n") ==
          "/etc/nicsync/nicsync.yaml:1:21: rule_priority_base: 0 is out of range (1-32000)");
  }

  TEST_CASE("primary_rules: true/false, yes/no or on/off") {
    CHECK(parse_ok("primary_rules: true\n").primary_rules == true);
    CHECK(parse_ok("primary_rules: yes\n").primary_rules == true);
    CHECK(parse_ok("primary_rules: On\n").primary_rules == true);
    CHECK(parse_ok("primary_rules: False\n").primary_rules == false);
    CHECK(parse_ok("primary_rules: no\n").primary_rules == false);
    CHECK(parse_ok("primary_rules: off\n").primary_rules == false);
    CHECK(parse_error("primary_rules: maybe\n") ==
          "/etc/nicsync/nicsync.yaml:1:16: primary_rules: \"maybe\" is not true or false");
  }

  TEST_CASE("secondary_addressing: static or dhcp") {
    CHECK(parse_ok("secondary_addressing: dhcp\n").secondary_addressing == Addressing::dhcp);
    CHECK(parse_ok("secondary_addressing: static\n").secondary_addressing == Addressing::static_);
    CHECK(parse_error("secondary_addressing: manual\n") ==
          "/etc/nicsync/nicsync.yaml:1:23: secondary_addressing: \"manual\" is not static or dhcp");
  }

  TEST_CASE("interfaces.include and exclude: names, MACs and resource ids") {
    Config config = parse_ok(
        "interfaces:\n"
        "  include: [eth1, \"0A:1B:2C:3D:4E:5F\", eni-0c07a0474339b801d, ocid1.vnic.oc1.iad.abc]\n"
        "  exclude:\n"
        "    - eth2\n");
    CHECK(config.interfaces.include ==
          std::vector<InterfaceSelector>{selector(InterfaceSelector::Kind::name, "eth1"),
                                         selector(InterfaceSelector::Kind::mac, "0a:1b:2c:3d:4e:5f"),
                                         selector(InterfaceSelector::Kind::id, "eni-0c07a0474339b801d"),
                                         selector(InterfaceSelector::Kind::id, "ocid1.vnic.oc1.iad.abc")});
    CHECK(config.interfaces.exclude ==
          std::vector<InterfaceSelector>{selector(InterfaceSelector::Kind::name, "eth2")});
    CHECK(parse_ok("interfaces:\n  include: []\n").interfaces.include == std::vector<InterfaceSelector>{});
    CHECK(parse_error("interfaces:\n  exclude:\n    - eth2\n    - not a name\n") ==
          "/etc/nicsync/nicsync.yaml:4:7: interfaces.exclude: \"not a name\" is not an interface name, MAC "
          "address or "
          "resource id (eni-*, ocid1.*)");
    CHECK(parse_error("interfaces:\n  include: [eni-x!y]\n") ==
          "/etc/nicsync/nicsync.yaml:2:13: interfaces.include: \"eni-x!y\" is not a resource id (only A-Z "
          "a-z 0-9 . _ : -)");
    CHECK(parse_error("interfaces:\n  exclude: [eth2, eth2]\n") ==
          "/etc/nicsync/nicsync.yaml:2:19: interfaces.exclude: \"eth2\" is listed twice");
    CHECK(parse_error("interfaces:\n  exclude: eth2\n") ==
          "/etc/nicsync/nicsync.yaml:2:12: interfaces.exclude: expected a list, not a single value");
    CHECK(parse_error("interfaces: [eth2]\n") ==
          "/etc/nicsync/nicsync.yaml:1:13: interfaces: expected a mapping, not a list");
  }

  TEST_CASE("metadata: url, timeouts, attempts, backoff and parallelism") {
    Config config = parse_ok(
        "metadata:\n"
        "  url: https://169.254.169.254/\n"
        "  connect_timeout_ms: 500\n"
        "  timeout_ms: 3000\n"
        "  boot_timeout_ms: 800\n"
        "  attempts: 5\n"
        "  backoff_ms: 0\n"
        "  max_in_flight: 32\n");
    CHECK(config.metadata.url == "https://169.254.169.254");
    CHECK(config.metadata.connect_timeout_ms == 500u);
    CHECK(config.metadata.timeout_ms == 3000u);
    CHECK(config.metadata.boot_timeout_ms == 800u);
    CHECK(config.metadata.attempts == 5u);
    CHECK(config.metadata.backoff_ms == 0u);
    CHECK(config.metadata.max_in_flight == 32u);
    CHECK(parse_ok("metadata:\n  url: http://127.0.0.1:8080\n").metadata.url == "http://127.0.0.1:8080");

    CHECK(parse_error("metadata:\n  url: ftp://x\n") ==
          "/etc/nicsync/nicsync.yaml:2:8: metadata.url: \"ftp://x\" is not an http:// or https:// URL");
    CHECK(parse_error("metadata:\n  url: http://\n") ==
          "/etc/nicsync/nicsync.yaml:2:8: metadata.url: \"http://\" is not an http:// or https:// URL");
    CHECK(parse_error("metadata:\n  url: \"http://a b\"\n") ==
          "/etc/nicsync/nicsync.yaml:2:8: metadata.url: \"http://a b\" is not an http:// or https:// URL");
    CHECK(parse_error("metadata:\n  connect_timeout_ms: 0\n") ==
          "/etc/nicsync/nicsync.yaml:2:23: metadata.connect_timeout_ms: 0 is out of range (1-60000)");
    CHECK(parse_error("metadata:\n  timeout_ms: 600001\n") ==
          "/etc/nicsync/nicsync.yaml:2:15: metadata.timeout_ms: 600001 is out of range (1-600000)");
    CHECK(parse_error("metadata:\n  boot_timeout_ms: 0\n") ==
          "/etc/nicsync/nicsync.yaml:2:20: metadata.boot_timeout_ms: 0 is out of range (1-600000)");
    CHECK(parse_error("metadata:\n  attempts: 11\n") ==
          "/etc/nicsync/nicsync.yaml:2:13: metadata.attempts: 11 is out of range (1-10)");
    CHECK(parse_error("metadata:\n  backoff_ms: 60001\n") ==
          "/etc/nicsync/nicsync.yaml:2:15: metadata.backoff_ms: 60001 is out of range (0-60000)");
    CHECK(parse_error("metadata:\n  max_in_flight: 65\n") ==
          "/etc/nicsync/nicsync.yaml:2:18: metadata.max_in_flight: 65 is out of range (1-64)");
  }

  TEST_CASE("interfaces.attach_timeout_ms and lock_timeout_ms: whole numbers 0-600000") {
    Config config = parse_ok("lock_timeout_ms: 0\ninterfaces:\n  attach_timeout_ms: 600000\n");
    CHECK(config.lock_timeout_ms == 0u);
    CHECK(config.interfaces.attach_timeout_ms == 600000u);
    CHECK(parse_ok("lock_timeout_ms: 600000\n").lock_timeout_ms == 600000u);
    CHECK(parse_ok("interfaces:\n  attach_timeout_ms: 0\n").interfaces.attach_timeout_ms == 0u);
    CHECK(parse_error("lock_timeout_ms: 600001\n") ==
          "/etc/nicsync/nicsync.yaml:1:18: lock_timeout_ms: 600001 is out of range (0-600000)");
    CHECK(parse_error("lock_timeout_ms: -1\n") ==
          "/etc/nicsync/nicsync.yaml:1:18: lock_timeout_ms: -1 is out of range (0-600000)");
    CHECK(parse_error("lock_timeout_ms: 5s\n") ==
          "/etc/nicsync/nicsync.yaml:1:18: lock_timeout_ms: \"5s\" is not a whole number");
    CHECK(parse_error("interfaces:\n  attach_timeout_ms: 700000\n") ==
          "/etc/nicsync/nicsync.yaml:2:22: interfaces.attach_timeout_ms: 700000 is out of range (0-600000)");
    CHECK(parse_error("interfaces:\n  attach_timeout_ms: [1]\n") ==
          "/etc/nicsync/nicsync.yaml:2:22: interfaces.attach_timeout_ms: expected a single value, not a list");
  }

  TEST_CASE("aws.allow_imdsv1: true/false, yes/no or on/off") {
    CHECK(parse_ok("aws:\n  allow_imdsv1: true\n").aws.allow_imdsv1 == true);
    CHECK(parse_ok("aws:\n  allow_imdsv1: no\n").aws.allow_imdsv1 == false);
    CHECK_FALSE(parse_ok("aws:\n  allow_imdsv1:\n").aws.allow_imdsv1);
    CHECK(parse_error("aws:\n  allow_imdsv1: maybe\n") ==
          "/etc/nicsync/nicsync.yaml:2:17: aws.allow_imdsv1: \"maybe\" is not true or false");
    CHECK(parse_error("aws: true\n") == "/etc/nicsync/nicsync.yaml:1:6: aws: expected a mapping, not a single value");
  }

  TEST_CASE("oracle.secondary_ips: IPv4 lists by VNIC id or MAC") {
    Config config = parse_ok(
        "oracle:\n"
        "  secondary_ips:\n"
        "    ocid1.vnic.oc1.iad.abc: [10.0.1.20, 10.0.1.21]\n"
        "    \"02:00:17:05:40:1B\": [10.0.2.30]\n");
    CHECK(config.oracle.secondary_ips ==
          std::map<InterfaceSelector, std::vector<Ipv4Address>>{
              {selector(InterfaceSelector::Kind::id, "ocid1.vnic.oc1.iad.abc"),
               {ip("10.0.1.20"), ip("10.0.1.21")}},
              {selector(InterfaceSelector::Kind::mac, "02:00:17:05:40:1b"), {ip("10.0.2.30")}}});

    const std::string head = "oracle:\n  secondary_ips:\n";
    CHECK(parse_error(head + "    eth1: [10.0.0.1]\n") ==
          "/etc/nicsync/nicsync.yaml:3:5: oracle.secondary_ips: \"eth1\" is not a VNIC id (ocid1.vnic.*) or "
          "a MAC address");
    CHECK(parse_error(head + "    ocid1.instance.oc1.x: [10.0.0.1]\n") ==
          "/etc/nicsync/nicsync.yaml:3:5: oracle.secondary_ips: \"ocid1.instance.oc1.x\" is not a VNIC id "
          "(ocid1.vnic.*) "
          "or a MAC address");
    CHECK(parse_error(head + "    ocid1.vnic.a: [10.0.1.300]\n") ==
          "/etc/nicsync/nicsync.yaml:3:20: oracle.secondary_ips.ocid1.vnic.a: \"10.0.1.300\" is not an IPv4 "
          "address");
    CHECK(parse_error(head + "    ocid1.vnic.a: [10.0.1.20, 10.0.1.20]\n") ==
          "/etc/nicsync/nicsync.yaml:3:31: oracle.secondary_ips.ocid1.vnic.a: \"10.0.1.20\" is listed twice");
    CHECK(parse_error(head + "    ocid1.vnic.a: [10.0.1.20]\n    \"02:00:17:05:40:11\": [10.0.1.20]\n") ==
          "/etc/nicsync/nicsync.yaml:4:27: oracle.secondary_ips.02:00:17:05:40:11: \"10.0.1.20\" is listed "
          "twice "
          "(also under ocid1.vnic.a)");
    CHECK(parse_error(head + "    ocid1.vnic.a: 10.0.1.20\n") ==
          "/etc/nicsync/nicsync.yaml:3:19: oracle.secondary_ips.ocid1.vnic.a: expected a list of IPv4 "
          "addresses, not a "
          "single value");
    CHECK(parse_error(head + "    \"0a:1b:2c:3d:4e:5f\": []\n    \"0A:1B:2C:3D:4E:5F\": []\n") ==
          "/etc/nicsync/nicsync.yaml:4:5: duplicate key \"oracle.secondary_ips.0a:1b:2c:3d:4e:5f\"");
    CHECK(parse_error("oracle:\n  secondary_ips: [10.0.0.1]\n") ==
          "/etc/nicsync/nicsync.yaml:2:18: oracle.secondary_ips: expected a mapping, not a list");
  }

  TEST_CASE("oracle.api: on/off, https endpoints of host and port, an absolute CA bundle path") {
    Config config = parse_ok(
        "oracle:\n  api:\n    enabled: no\n    federation_endpoint: https://auth.example.test:8443/\n"
        "    iaas_endpoint: https://127.0.0.1:9443\n    ca_bundle: /etc/nicsync/oci-ca.pem\n");
    CHECK(config.oracle.api == OracleApiSettings{.enabled = false,
                                                 .federation_endpoint = "https://auth.example.test:8443",
                                                 .iaas_endpoint = "https://127.0.0.1:9443",
                                                 .ca_bundle = "/etc/nicsync/oci-ca.pem"});
    const std::string head = "oracle:\n  api:\n";
    CHECK(parse_error(head + "    enabled: maybe\n") ==
          "/etc/nicsync/nicsync.yaml:3:14: oracle.api.enabled: \"maybe\" is not true or false");
    CHECK(parse_error(head + "    iaas_endpoint: http://iaas.example.test\n") ==
          "/etc/nicsync/nicsync.yaml:3:20: oracle.api.iaas_endpoint: \"http://iaas.example.test\" is not "
          "https://HOST or https://HOST:PORT");
    CHECK(parse_error(head + "    federation_endpoint: https://auth.example.test/v1/x509\n") ==
          "/etc/nicsync/nicsync.yaml:3:26: oracle.api.federation_endpoint: \"https://auth.example.test/v1/x509\" "
          "is not https://HOST or https://HOST:PORT");
    CHECK(parse_error(head + "    iaas_endpoint: https://user@iaas.example.test\n") ==
          "/etc/nicsync/nicsync.yaml:3:20: oracle.api.iaas_endpoint: \"https://user@iaas.example.test\" is not "
          "https://HOST or https://HOST:PORT");
    CHECK(parse_error(head + "    ca_bundle: ca.pem\n") ==
          "/etc/nicsync/nicsync.yaml:3:16: oracle.api.ca_bundle: \"ca.pem\" is not an absolute path");
    CHECK(parse_error(head + "    endpoint: https://x\n") ==
          "/etc/nicsync/nicsync.yaml:3:5: unknown key \"oracle.api.endpoint\"");
  }

  // ---- structure ----

  TEST_CASE("unknown keys name the key and suggest a near one") {
    CHECK(parse_error("vendor: aws\ntabel_base: 2000\n") ==
          "/etc/nicsync/nicsync.yaml:2:1: unknown key \"tabel_base\" (did you mean \"table_base\"?)");
    CHECK(parse_error("metadata:\n  timout_ms: 5\n") ==
          "/etc/nicsync/nicsync.yaml:2:3: unknown key \"metadata.timout_ms\" (did you mean "
          "\"metadata.timeout_ms\"?)");
    CHECK(parse_error("interfaces:\n  exclude: []\n  ignore: [eth1]\n") ==
          "/etc/nicsync/nicsync.yaml:3:3: unknown key \"interfaces.ignore\"");
    CHECK(parse_error("oracle:\n  secondary_ip: {}\n") ==
          "/etc/nicsync/nicsync.yaml:2:3: unknown key \"oracle.secondary_ip\" (did you mean "
          "\"oracle.secondary_ips\"?)");
    CHECK(parse_error("frobnicate: 1\n") == "/etc/nicsync/nicsync.yaml:1:1: unknown key \"frobnicate\"");
    CHECK(parse_error("aws:\n  allow_imdsv2: true\n") ==
          "/etc/nicsync/nicsync.yaml:2:3: unknown key \"aws.allow_imdsv2\" (did you mean \"aws.allow_imdsv1\"?)");
    CHECK(parse_error("lock_timout_ms: 5\n") ==
          "/etc/nicsync/nicsync.yaml:1:1: unknown key \"lock_timout_ms\" (did you mean \"lock_timeout_ms\"?)");
    CHECK(parse_error("interfaces:\n  attach_timout_ms: 5\n") ==
          "/etc/nicsync/nicsync.yaml:2:3: unknown key \"interfaces.attach_timout_ms\" (did you mean "
          "\"interfaces.attach_timeout_ms\"?)");
    CHECK(parse_error("aws:\n  imdsv1: true\n") == "/etc/nicsync/nicsync.yaml:2:3: unknown key \"aws.imdsv1\"");
  }

  TEST_CASE("a key given twice is an error") {
    CHECK(parse_error("table_base: 1\ntable_base: 2\n") ==
          "/etc/nicsync/nicsync.yaml:2:1: duplicate key \"table_base\"");
    CHECK(parse_error("metadata:\n  attempts: 1\n  attempts: 2\n") ==
          "/etc/nicsync/nicsync.yaml:3:3: duplicate key \"metadata.attempts\"");
  }

  TEST_CASE("a YAML syntax error is reported at its line and column") {
    CHECK(parse_error("table_base: [1, 2\n") ==
          "/etc/nicsync/nicsync.yaml:2:1: end of sequence flow not found");
    CHECK(parse_error("live: on\n\tvendor: aws\n") ==
          "/etc/nicsync/nicsync.yaml:2:1: illegal tab when looking for indentation");
    CHECK(parse_error("vendor: aws\n---\nlive: on\n") ==
          "/etc/nicsync/nicsync.yaml:3:1: a second YAML document (a settings file holds one mapping)");
    CHECK(parse_ok("vendor: aws\n---\n") == parse_ok("vendor: aws\n"));  // a trailing "---" is no document
  }

  TEST_CASE("input that makes yaml-cpp's LoadAll() allocate without end is an error at once (found by fuzz_config)") {
    // LoadAll("[],") never returns: it yields empty documents until memory runs out.
    CHECK(parse_error("[],") == "/etc/nicsync/nicsync.yaml:1:3: a second YAML document (a settings file holds one mapping)");
    CHECK(parse_error("{{{{[]}}}}\"\",") ==
          "/etc/nicsync/nicsync.yaml:1:11: a second YAML document (a settings file holds one mapping)");
  }

  TEST_CASE("yaml-cpp's messages reach the error as one printable line") {
    CHECK(parse_error("a: \"\\\x01\"\n") == "/etc/nicsync/nicsync.yaml:1:7: unknown escape character: \\x01");
  }

  TEST_CASE("a value of the wrong type is an error") {
    CHECK(parse_error("vendor: [aws]\n") ==
          "/etc/nicsync/nicsync.yaml:1:9: vendor: expected a single value, not a list");
    CHECK(parse_error("live: {a: 1}\n") ==
          "/etc/nicsync/nicsync.yaml:1:7: live: expected a single value, not a mapping");
    CHECK(parse_error("table_base: [1, 2]\n") ==
          "/etc/nicsync/nicsync.yaml:1:13: table_base: expected a single value, not a list");
    CHECK(parse_error("metadata: 5\n") ==
          "/etc/nicsync/nicsync.yaml:1:11: metadata: expected a mapping, not a single value");
    CHECK(parse_error("- vendor: aws\n") ==
          "/etc/nicsync/nicsync.yaml:1:1: expected a mapping of settings, not a list");
    CHECK(parse_error("hello\n") ==
          "/etc/nicsync/nicsync.yaml:1:1: expected a mapping of settings, not a single value");
    CHECK(parse_error("[a, b]: 1\n") == "/etc/nicsync/nicsync.yaml:1:1: expected a key name, not a list");
  }

  TEST_CASE("aliases that loop or explode are errors, not hangs") {
    CHECK(parse_error("interfaces:\n  exclude: &x [eth1, *x]\n") ==
          "/etc/nicsync/nicsync.yaml:2:12: interfaces.exclude: expected a single value, not a list");
    std::string laughs = "a: &a [x, x, x, x, x, x, x, x, x, x]\n";
    for (char name : std::string("bcdef")) {
      std::string previous(1, static_cast<char>(name - 1));
      laughs += std::string(1, name) + ": &" + name + " [";
      for (int i = 0; i < 10; ++i) laughs += (i == 0 ? "*" : ", *") + previous;
      laughs += "]\n";
    }
    CHECK(parse_error(laughs) ==
          "/etc/nicsync/nicsync.yaml: more than 100000 values (do aliases expand into each other?)");
  }

  // ---- cloud-config user-data ----

  TEST_CASE("user-data: the nicsync key of cloud-init's combined-cloud-config.json") {
    // As cloud-init writes it: indent 1, sorted keys, the user's YAML 1.1 read by PyYAML
    // (bare on/off/yes became booleans, numbers became numbers).
    Config config = user_data_ok(R"({
 "_doc": "Aggregated cloud-config created by merging merged_system_cfg (/etc/cloud/cloud.cfg and /etc/cloud/cloud.cfg.d), metadata, vendordata and userdata.",
 "features": {
  "NETPLAN_CONFIG_ROOT_READ_ONLY": true
 },
 "nicsync": {
  "interfaces": {
   "exclude": [
    "eth3",
    "eni-0c07a0474339b801d"
   ]
  },
  "live": false,
  "metadata": {
   "attempts": 5
  },
  "oracle": {
   "secondary_ips": {
    "02:00:17:05:40:11": [
     "10.0.2.30"
    ]
   }
  },
  "policy_routing": true,
  "primary_rules": true,
  "secondary_addressing": "dhcp",
  "table_base": 2000,
  "vendor": "oracle"
 },
 "runcmd": [
  "echo hello"
 ],
 "system_info": {
  "default_user": {
   "name": "ubuntu"
  }
 }
}
)");
    CHECK(config.live == LiveMode::off);
    CHECK(config.policy_routing == PolicyRouting::on);
    CHECK(config.primary_rules == true);
    CHECK(config.secondary_addressing == Addressing::dhcp);
    CHECK(config.table_base == 2000u);
    CHECK(config.vendor == Vendor::oracle);
    CHECK(config.metadata.attempts == 5u);
    CHECK(config.interfaces.exclude ==
          std::vector<InterfaceSelector>{selector(InterfaceSelector::Kind::name, "eth3"),
                                         selector(InterfaceSelector::Kind::id, "eni-0c07a0474339b801d")});
    CHECK(config.oracle.secondary_ips.at(selector(InterfaceSelector::Kind::mac, "02:00:17:05:40:11")) ==
          std::vector<Ipv4Address>{ip("10.0.2.30")});
  }

  TEST_CASE("user-data without a nicsync key, or with an empty one, sets nothing") {
    CHECK(user_data_ok(R"({"runcmd": ["true"]})") == Config{});
    CHECK(user_data_ok(R"({"nicsync": null})") == Config{});
    Config automatic;
    automatic.live = LiveMode::automatic;
    CHECK(user_data_ok(R"({"nicsync": {"live": "auto", "table_base": null}})") == automatic);
  }

  TEST_CASE("user-data: aws.allow_imdsv1, interfaces.attach_timeout_ms and lock_timeout_ms") {
    Config config = user_data_ok(
        R"({"nicsync": {"aws": {"allow_imdsv1": true}, "lock_timeout_ms": 0, "interfaces": {"attach_timeout_ms": 100}}})");
    CHECK(config.aws.allow_imdsv1 == true);
    CHECK(config.lock_timeout_ms == 0u);
    CHECK(config.interfaces.attach_timeout_ms == 100u);
    CHECK(user_data_error(R"({"nicsync": {"aws": {"allow_imdsv1": "sometimes"}}})") ==
          kUserData + ": nicsync.aws.allow_imdsv1: \"sometimes\" is not true or false");
    CHECK(user_data_error(R"({"nicsync": {"aws": {"allow_imdsv2": true}}})") ==
          kUserData + ": nicsync.aws.allow_imdsv2: unknown key (did you mean \"nicsync.aws.allow_imdsv1\"?)");
    CHECK(user_data_error(R"({"nicsync": {"lock_timeout_ms": 600001}})") ==
          kUserData + ": nicsync.lock_timeout_ms: 600001 is out of range (0-600000)");
  }

  TEST_CASE("user-data errors name the file and the nicsync key") {
    CHECK(user_data_error(R"({"nicsync": {"policy_routing": "maybe"}})") ==
          "/run/cloud-init/combined-cloud-config.json: nicsync.policy_routing: \"maybe\" is not auto, on or "
          "off");
    CHECK(user_data_error(R"({"nicsync": {"tabel_base": 1}})") ==
          "/run/cloud-init/combined-cloud-config.json: nicsync.tabel_base: unknown key (did you mean "
          "\"nicsync.table_base\"?)");
    CHECK(user_data_error(R"({"nicsync": {"metadata": {"timout_ms": 1}}})") ==
          "/run/cloud-init/combined-cloud-config.json: nicsync.metadata.timout_ms: unknown key (did you mean "
          "\"nicsync.metadata.timeout_ms\"?)");
    CHECK(user_data_error(R"({"nicsync": {"table_base": 0}})") ==
          "/run/cloud-init/combined-cloud-config.json: nicsync.table_base: 0 is out of range (1-250000000)");
    CHECK(user_data_error(R"({"nicsync": {"table_base": 1.5}})") ==
          "/run/cloud-init/combined-cloud-config.json: nicsync.table_base: \"1.5\" is not a whole number");
    CHECK(user_data_error(R"({"nicsync": {"table_base": true}})") ==
          "/run/cloud-init/combined-cloud-config.json: nicsync.table_base: \"true\" is not a whole number");
    CHECK(user_data_error(R"({"nicsync": {"vendor": ["aws"]}})") ==
          "/run/cloud-init/combined-cloud-config.json: nicsync.vendor: expected a single value, not a list");
    CHECK(user_data_error(R"({"nicsync": "on"})") ==
          "/run/cloud-init/combined-cloud-config.json: nicsync: expected a mapping of settings, not a single "
          "value");
    // PyYAML reads an unquoted 12:34:56:07:08:09 as a base-60 number.
    CHECK(user_data_error(R"({"nicsync": {"interfaces": {"exclude": [3918706149]}}})") ==
          "/run/cloud-init/combined-cloud-config.json: nicsync.interfaces.exclude: 3918706149 is a number, "
          "not an "
          "interface name, MAC address or resource id (quote MAC addresses in cloud-config)");
    CHECK(user_data_error("[1, 2]") ==
          "/run/cloud-init/combined-cloud-config.json: expected a JSON object (cloud-config)");
    CHECK(user_data_error("{\"nicsync\": ")
              .rfind("/run/cloud-init/combined-cloud-config.json: not valid JSON: parse error", 0) == 0);
  }

  // ---- layers ----

  TEST_CASE("merge: a later layer wins for each setting it sets; secondary_ips merge per VNIC") {
    Config base = parse_ok(
        "table_base: 2000\nlive: off\nvendor: aws\ninterfaces:\n  exclude: [eth3, eth4]\n"
        "oracle:\n  secondary_ips:\n    ocid1.vnic.a: [10.0.0.5]\n    ocid1.vnic.b: [10.0.0.6]\n");
    Config layer = parse_ok(
        "table_base: 3000\ninterfaces:\n  exclude: [eth5]\noracle:\n  secondary_ips:\n    ocid1.vnic.b: "
        "[]\n");
    Config merged = merge(base, layer);
    CHECK(merged.table_base == 3000u);
    CHECK(merged.live == LiveMode::off);
    CHECK(merged.vendor == Vendor::aws);
    CHECK(merged.interfaces.exclude ==
          std::vector<InterfaceSelector>{selector(InterfaceSelector::Kind::name, "eth5")});
    CHECK(merged.oracle.secondary_ips.at(selector(InterfaceSelector::Kind::id, "ocid1.vnic.a")) ==
          std::vector<Ipv4Address>{ip("10.0.0.5")});
    CHECK(merged.oracle.secondary_ips.at(selector(InterfaceSelector::Kind::id, "ocid1.vnic.b")).empty());
    CHECK(merge(base, Config{}) == base);
    CHECK(merge(Config{}, base) == base);

    Config first = parse_ok("lock_timeout_ms: 100\naws:\n  allow_imdsv1: true\ninterfaces:\n  attach_timeout_ms: 200\n");
    Config second = parse_ok("lock_timeout_ms: 300\naws:\n  allow_imdsv1: false\n");
    Config both = merge(first, second);
    CHECK(both.lock_timeout_ms == 300u);
    CHECK(both.aws.allow_imdsv1 == false);
    CHECK(both.interfaces.attach_timeout_ms == 200u);
    CHECK(merge(second, parse_ok("interfaces:\n  attach_timeout_ms: 0\n")).interfaces.attach_timeout_ms == 0u);
  }

  TEST_CASE("load_config: nicsync.yaml < conf.d/*.yaml in name order < user-data") {
    test::FakeFileSystem fs;
    fs.add("/etc/nicsync/nicsync.yaml",
           "table_base: 2000\nlive: off\nvendor: aws\ninterfaces:\n  exclude: [eth3]\n");
    fs.add("/etc/nicsync/conf.d/20-b.yaml", "table_base: 4000\npolicy_routing: on\n");
    fs.add("/etc/nicsync/conf.d/10-a.yaml", "table_base: 3000\nrenderer: netplan\nprimary_rules: yes\n");
    fs.add("/etc/nicsync/conf.d/README", "not: [yaml");
    fs.add("/etc/nicsync/conf.d/.20-b.yaml.swp", "not: [yaml");
    fs.add("/etc/nicsync/conf.d/30-c.yaml~", "not: [yaml");
    fs.add("/run/cloud-init/combined-cloud-config.json",
           R"({"nicsync": {"live": true, "metadata": {"attempts": 5}}, "runcmd": ["true"]})");
    Result<Config> config = load_config(fs);
    REQUIRE(config.ok());
    CHECK(config->table_base == 4000u);
    CHECK(config->renderer == RendererKind::netplan);
    CHECK(config->primary_rules == true);
    CHECK(config->policy_routing == PolicyRouting::on);
    CHECK(config->live == LiveMode::on);
    CHECK(config->vendor == Vendor::aws);
    CHECK(config->metadata.attempts == 5u);
    CHECK(config->interfaces.exclude ==
          std::vector<InterfaceSelector>{selector(InterfaceSelector::Kind::name, "eth3")});
    CHECK(fs.files_written.empty());
  }

  TEST_CASE("load_config: no files at all is the defaults") {
    test::FakeFileSystem fs;
    Result<Config> config = load_config(fs);
    REQUIRE(config.ok());
    CHECK(*config == Config{});
  }

  TEST_CASE("load_config: an error names the file it is in") {
    test::FakeFileSystem fs;
    fs.add("/etc/nicsync/conf.d/10-a.yaml", "table_base: 0\n");
    CHECK(load_config(fs).error().message ==
          "/etc/nicsync/conf.d/10-a.yaml:1:13: table_base: 0 is out of range (1-250000000)");
    fs.files.clear();
    fs.add("/run/cloud-init/combined-cloud-config.json", R"({"nicsync": {"live": "sometimes"}})");
    CHECK(load_config(fs).error().message ==
          "/run/cloud-init/combined-cloud-config.json: nicsync.live: \"sometimes\" is not auto, on or off");
  }

  TEST_CASE("check_merged_config: a table_base above 32000 needs its own rule_priority_base") {
    Config config;
    config.table_base = 32000;
    CHECK(check_merged_config(config).ok());
    config.table_base = 40000;
    CHECK(check_merged_config(config).error().message ==
          "table_base: 40000 is above 32000, the highest rule priority base, so rule_priority_base must be "
          "set");
    config.rule_priority_base = 1000;
    CHECK(check_merged_config(config).ok());
    CHECK(check_merged_config(Config{}).ok());
  }

  // ---- selectors ----

  TEST_CASE("an interface selector matches by name, MAC or resource id") {
    Interface nic;
    nic.mac = *MacAddress::parse("0a:1b:2c:3d:4e:5f");
    nic.id = *ResourceId::parse("eni-0c07a0474339b801d");
    CHECK_FALSE(InterfaceSelector::parse("eth1")->matches(nic));  // not resolved yet
    nic.os_name = *InterfaceName::parse("eth1");
    CHECK(InterfaceSelector::parse("eth1")->matches(nic));
    CHECK_FALSE(InterfaceSelector::parse("eth2")->matches(nic));
    CHECK(InterfaceSelector::parse("0A:1B:2C:3D:4E:5F")->matches(nic));
    CHECK_FALSE(InterfaceSelector::parse("0a:1b:2c:3d:4e:50")->matches(nic));
    CHECK(InterfaceSelector::parse("eni-0c07a0474339b801d")->matches(nic));
    CHECK_FALSE(InterfaceSelector::parse("eni-1111")->matches(nic));
    CHECK(InterfaceSelector::parse("eni-1111")->kind ==
          InterfaceSelector::Kind::id);  // not an interface name
    CHECK(InterfaceSelector::parse("").error().message ==
          "\"\" is not an interface name, MAC address or resource id (eni-*, ocid1.*)");
  }

  // ---- describing ----

  TEST_CASE("describe_config: the defaults, marked") {
    CHECK(describe_config(Config{}) ==
          "vendor: auto  # default\n"
          "renderer: auto  # default\n"
          "live: auto  # default\n"
          "policy_routing: auto  # default\n"
          "table_base: 1000  # default\n"
          "rule_priority_base: 1000  # default: table_base\n"
          "primary_rules: false  # default\n"
          "secondary_addressing: static  # default\n"
          "lock_timeout_ms: 30000  # default\n"
          "interfaces.include: all  # default\n"
          "interfaces.exclude: []  # default\n"
          "interfaces.attach_timeout_ms: 5000  # default\n"
          "metadata.url: auto  # default\n"
          "metadata.connect_timeout_ms: 1000  # default\n"
          "metadata.timeout_ms: 2000  # default\n"
          "metadata.boot_timeout_ms: 1000  # default\n"
          "metadata.attempts: 3  # default\n"
          "metadata.backoff_ms: 100  # default\n"
          "metadata.max_in_flight: 40  # default\n"
          "oracle.secondary_ips: {}  # default\n"
          "oracle.api.enabled: true  # default\n"
          "oracle.api.federation_endpoint: auto  # default\n"
          "oracle.api.iaas_endpoint: auto  # default\n"
          "oracle.api.ca_bundle: system  # default\n"
          "aws.allow_imdsv1: false  # default\n");
  }

  TEST_CASE("describe_config: the effective settings") {
    Config config = parse_ok(
        "vendor: oracle\nrenderer: network-scripts\nlive: off\npolicy_routing: on\ntable_base: 2000\n"
        "primary_rules: yes\nsecondary_addressing: dhcp\nlock_timeout_ms: 0\n"
        "interfaces:\n  include: [eth1, \"0A:1B:2C:3D:4E:5F\"]\n  exclude: []\n  attach_timeout_ms: 15000\n"
        "aws:\n  allow_imdsv1: on\n"
        "metadata:\n  url: http://127.0.0.1:8080/\n  attempts: 1\n"
        "oracle:\n  secondary_ips:\n    ocid1.vnic.a: [10.0.0.5, 10.0.0.6]\n    \"02:00:17:05:40:11\": "
        "[10.0.2.30]\n  api:\n    enabled: false\n    iaas_endpoint: https://127.0.0.1:8443/\n"
        "    ca_bundle: /etc/nicsync/ca.pem\n");
    CHECK(describe_config(config) ==
          "vendor: oracle\n"
          "renderer: network-scripts\n"
          "live: off\n"
          "policy_routing: on\n"
          "table_base: 2000\n"
          "rule_priority_base: 2000  # default: table_base\n"
          "primary_rules: true\n"
          "secondary_addressing: dhcp\n"
          "lock_timeout_ms: 0\n"
          "interfaces.include: [eth1, 0a:1b:2c:3d:4e:5f]\n"
          "interfaces.exclude: []\n"
          "interfaces.attach_timeout_ms: 15000\n"
          "metadata.url: http://127.0.0.1:8080\n"
          "metadata.connect_timeout_ms: 1000  # default\n"
          "metadata.timeout_ms: 2000  # default\n"
          "metadata.boot_timeout_ms: 1000  # default\n"
          "metadata.attempts: 1\n"
          "metadata.backoff_ms: 100  # default\n"
          "metadata.max_in_flight: 40  # default\n"
          "oracle.secondary_ips: {02:00:17:05:40:11: [10.0.2.30], ocid1.vnic.a: [10.0.0.5, 10.0.0.6]}\n"
          "oracle.api.enabled: false\n"
          "oracle.api.federation_endpoint: auto  # default\n"
          "oracle.api.iaas_endpoint: https://127.0.0.1:8443\n"
          "oracle.api.ca_bundle: /etc/nicsync/ca.pem\n"
          "aws.allow_imdsv1: true\n");
  }
}
