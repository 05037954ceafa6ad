#include <doctest/doctest.h>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "app/metadata_sources.hpp"
#include "fake_filesystem.hpp"
#include "fake_http.hpp"
#include "fake_log.hpp"
#include "fake_oci_api.hpp"
#include "instance_text.hpp"
#include "metadata/alibaba.hpp"
#include "nicsync/provider.hpp"
#include "oci_test_material.hpp"

using nicsync::HttpRequest;
using nicsync::HttpResponse;
using nicsync::Instance;
using nicsync::MetadataSource;
using nicsync::obtain_instance;
using nicsync::RunMode;
using nicsync::RunOptions;
using nicsync::SaveView;
using nicsync::Services;
using nicsync::SourcedInstance;
using nicsync::Vendor;
using nicsync::test::describe;
using nicsync::test::FakeFileSystem;
using nicsync::test::FakeLog;
using nicsync::testing::FakeHttpClient;
using nicsync::testing::serve_fixture;

namespace {

const std::string kInstanceData(nicsync::kInstanceDataPath);
const std::string kLastGood(nicsync::kLastGoodPath);
const std::string kMarker(nicsync::kRefreshNeededPath);

std::string read_text(const std::string& path) {
  std::ifstream in(path);
  REQUIRE_MESSAGE(in.good(), "cannot open " << path);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

nlohmann::json fixture(const std::string& name) {
  return nlohmann::json::parse(read_text(std::string(NICSYNC_TEST_FIXTURES) + "/" + name + ".json"));
}

std::string instance_data(const std::string& name) {
  return read_text(std::string(NICSYNC_TEST_FIXTURES) + "/cloud-init/" + name + ".instance-data.json");
}

/// A metadata service that answers nothing: every request fails as an unplugged network would.
void service_down(FakeHttpClient& http) {
  http.on_any([](const HttpRequest&) {
    HttpResponse response;
    response.transport_error = "Couldn't connect to server";
    return response;
  });
}

/// The fixture's instance as its metadata service gives it.
Instance from_service(const std::string& name) {
  FakeHttpClient http;
  nlohmann::json doc = fixture(name);
  serve_fixture(http, doc);
  std::string endpoint = doc.at("imds").at("endpoint").get<std::string>();
  auto instance = doc.at("vendor") == "aws"      ? nicsync::fetch_aws(http, endpoint)
                  : doc.at("vendor") == "oracle" ? nicsync::fetch_oracle(http, endpoint, {})
                                                 : nicsync::fetch_alibaba(http, endpoint);
  REQUIRE_MESSAGE(instance.ok(), instance.error().message);
  return instance.value();
}

RunOptions options(RunMode mode) {
  RunOptions out;
  out.mode = mode;
  return out;
}

/// One obtain_instance() run against the fakes; the result must not be an Error.
std::optional<SourcedInstance> obtain(Vendor vendor, RunMode mode, FakeFileSystem& fs, FakeHttpClient& http,
                                      FakeLog& log, SaveView save = SaveView::yes) {
  Services services{.fs = fs, .http = http};
  auto result = obtain_instance(vendor, options(mode), services, save, log);
  REQUIRE_MESSAGE(result.ok(), result.error().message);
  return result.value();
}

/// A field's value in a log entry, "" when absent.
std::string field(const FakeLog::Entry& entry, const std::string& name) {
  for (const nicsync::LogField& f : entry.fields) {
    if (f.name == name) return f.value;
  }
  return "";
}

const char* const kAwsDown =
    "warning: metadata service failed at boot: aws: PUT /latest/api/token: Couldn't connect to server "
    "(http://169.254.169.254/latest/api/token); trying /run/cloud-init/instance-data.json\n";

}  // namespace

namespace {

const std::string kSeedVnic =
    "ocid1.vnic.oc1.ap-tokyo-1.abwvc7nfari67zagzrwqcy6yn472lun4t3tfp5f24aefvbd55amv7qxgams4";

/// oracle-seed-secondary-ip's metadata service (with the instance's identity documents) on one
/// fake client, and its OCI API (ListPrivateIps lists 10.0.1.11) on another.
struct OracleWithApi {
  OracleWithApi() {
    nlohmann::json doc = fixture("oracle-seed-secondary-ip");
    nlohmann::json& responses = doc["imds"]["responses"];
    responses["/opc/v2/identity/cert.pem"] = std::string(nicsync::test::kLeafCertificatePem);
    responses["/opc/v2/identity/key.pem"] = std::string(nicsync::test::kLeafKeyPem);
    responses["/opc/v2/identity/intermediate.pem"] = std::string(nicsync::test::kIntermediateCertificatePem);
    serve_fixture(http, doc);
    for (const auto& [vnic, items] : doc.at("oci_api").at("private_ips").items())
      api.private_ips[vnic] = items;
  }
  OracleWithApi(const OracleWithApi&) = delete;
  OracleWithApi& operator=(const OracleWithApi&) = delete;

  /// One run in normal mode; the result must not be an Error.
  std::optional<SourcedInstance> obtain(FakeFileSystem& fs, FakeLog& log, const RunOptions& opts) {
    Services services{.fs = fs, .http = http, .api_http = &api_http};
    auto result = obtain_instance(Vendor::oracle, opts, services, SaveView::yes, log);
    REQUIRE_MESSAGE(result.ok(), result.error().message);
    return result.value();
  }

  FakeHttpClient http;
  FakeHttpClient api_http;
  nicsync::test::FakeOciApi api{api_http, "https://auth.ap-tokyo-1.oraclecloud.com",
                                "https://iaas.ap-tokyo-1.oraclecloud.com"};
};

const char* const kNoPolicy =
    "oracle: OCI API: ListPrivateIps for "
    "ocid1.vnic.oc1.ap-tokyo-1.abwvc7nfari67zagzrwqcy6yn472lun4t3tfp5f24aefvbd55amv7qxgams4: HTTP 404 "
    "NotAuthorizedOrNotFound: \"Authorization failed or requested resource not found.\" (no policy lets this "
    "instance list private IPs (PRIVATE_IP_READ): put it in a dynamic group and add \"Allow dynamic-group "
    "<group> to inspect private-ips in compartment <compartment of the VNIC's subnet>\")";

std::string hostname_labels(const nicsync::Interface& nic) {
  std::string out;
  for (const nicsync::HostnameLabel& label : nic.ipv4.hostname_labels) {
    out += (out.empty() ? "" : " ") + label.address.str() + "=" + label.label;
  }
  return out;
}

}  // namespace

TEST_SUITE("app::metadata_sources") {
  TEST_CASE(
      "service up: the service's instance, the last good view saved (0600), the refresh marker removed") {
    for (RunMode mode : {RunMode::normal, RunMode::boot}) {
      CAPTURE(mode == RunMode::boot);
      FakeFileSystem fs;
      fs.add(kMarker, "");
      fs.add(kInstanceData, instance_data("alibaba-seed-two-eni"));  // never read: the service answered
      FakeHttpClient http;
      serve_fixture(http, fixture("aws-seed-two-eni"));
      FakeLog log;
      auto got = obtain(Vendor::aws, mode, fs, http, log);
      REQUIRE(got);
      CHECK(got->source == MetadataSource::imds);
      Instance expected = from_service("aws-seed-two-eni");
      CHECK(describe(got->instance) == describe(expected));
      REQUIRE(fs.files.count(kLastGood) == 1);
      CHECK(fs.files[kLastGood].content == nicsync::render_last_good(expected));
      CHECK(fs.files[kLastGood].mode == 0600);
      CHECK(fs.files_written == std::vector<std::string>{kLastGood});
      CHECK(fs.files.count(kMarker) == 0);
      CHECK(log.text() == (mode == RunMode::boot ? "info: metadata from the metadata service\n" : ""));
    }
  }

  TEST_CASE("service up: the last good view is written only when its content changes") {
    FakeHttpClient http;
    serve_fixture(http, fixture("aws-seed-two-eni"));
    FakeLog log;
    FakeFileSystem fs;
    fs.add(kLastGood, nicsync::render_last_good(from_service("aws-seed-two-eni")), 0600);
    obtain(Vendor::aws, RunMode::normal, fs, http, log);
    CHECK(fs.files_written.empty());

    fs.add(kLastGood, nicsync::render_last_good(from_service("aws-multi-ip-ipv6")), 0600);
    obtain(Vendor::aws, RunMode::normal, fs, http, log);
    CHECK(fs.files_written == std::vector<std::string>{kLastGood});
    CHECK(fs.files[kLastGood].content == nicsync::render_last_good(from_service("aws-seed-two-eni")));
  }

  TEST_CASE("SaveView::no: nothing is written or removed, whatever the source") {
    FakeLog log;
    FakeFileSystem fs;
    fs.add(kMarker, "");
    FakeHttpClient up;
    serve_fixture(up, fixture("aws-seed-two-eni"));
    CHECK(obtain(Vendor::aws, RunMode::boot, fs, up, log, SaveView::no));
    FakeHttpClient down;
    service_down(down);
    CHECK_FALSE(obtain(Vendor::aws, RunMode::boot, fs, down, log, SaveView::no));
    CHECK(fs.files_written.empty());
    CHECK(fs.files_removed.empty());
  }

  TEST_CASE("a last good view that cannot be written is a warning, not a failed run") {
    FakeHttpClient http;
    serve_fixture(http, fixture("aws-seed-two-eni"));
    FakeLog log;
    FakeFileSystem fs;
    fs.failing_paths.insert(kLastGood);
    auto got = obtain(Vendor::aws, RunMode::normal, fs, http, log);
    CHECK(got);
    CHECK(log.text() ==
          "warning: cannot save the last good view: cannot write /var/lib/nicsync/metadata.json: No space "
          "left on "
          "device\n");
  }

  TEST_CASE("normal run, service down: the service's error, no fallback, nothing written") {
    FakeFileSystem fs;
    fs.add(kInstanceData, instance_data("aws-seed-two-eni"));
    fs.add(kLastGood, nicsync::render_last_good(from_service("aws-seed-two-eni")), 0600);
    FakeHttpClient http;
    service_down(http);
    FakeLog log;
    Services services{.fs = fs, .http = http};
    auto result = obtain_instance(Vendor::aws, options(RunMode::normal), services, SaveView::yes, log);
    REQUIRE_FALSE(result.ok());
    CHECK(result.error().message ==
          "aws: PUT /latest/api/token: Couldn't connect to server (http://169.254.169.254/latest/api/token)");
    CHECK(log.entries.empty());
    CHECK(fs.files_written.empty());
    CHECK(fs.files_removed.empty());
  }

  TEST_CASE("boot, service down: cloud-init's instance data, and the refresh marker") {
    FakeFileSystem fs;
    fs.add(kInstanceData, instance_data("aws-seed-two-eni"));
    fs.add(kLastGood, nicsync::render_last_good(from_service("aws-multi-ip-ipv6")), 0600);  // older, not used
    FakeHttpClient http;
    service_down(http);
    FakeLog log;
    auto got = obtain(Vendor::aws, RunMode::boot, fs, http, log);
    REQUIRE(got);
    CHECK(got->source == MetadataSource::cloud_init);
    CHECK(describe(got->instance) == describe(from_service("aws-seed-two-eni")));
    CHECK(log.text() ==
          std::string(kAwsDown) +
              "info: metadata from the cloud-init instance data (/run/cloud-init/instance-data.json)\n");
    REQUIRE(log.entries.size() == 2);
    CHECK(field(log.entries[0], "SOURCE") == "imds");
    CHECK(field(log.entries[0], "VENDOR") == "aws");
    CHECK(field(log.entries[1], "SOURCE") == "cloud-init");
    CHECK(field(log.entries[1], "VENDOR") == "aws");
    CHECK(field(log.entries[1], "FILE") == kInstanceData);
    // The last good view stays as it was; the marker asks nicsync-online.service for a refresh.
    CHECK(fs.files_written == std::vector<std::string>{kMarker});
    CHECK(fs.files[kMarker].content.empty());
    CHECK(fs.files[kMarker].mode == 0644);
  }

  TEST_CASE("boot, service down, Alibaba: cloud-init's instance data") {
    FakeFileSystem fs;
    fs.add(kInstanceData, instance_data("alibaba-seed-two-eni"));
    FakeHttpClient http;
    service_down(http);
    FakeLog log;
    auto got = obtain(Vendor::alibaba, RunMode::boot, fs, http, log);
    REQUIRE(got);
    CHECK(got->source == MetadataSource::cloud_init);
    CHECK(describe(got->instance) == describe(from_service("alibaba-seed-two-eni")));
    CHECK(log.text() ==
          "warning: metadata service failed at boot: alibaba: GET /latest/meta-data/mac: Couldn't connect to "
          "server "
          "(http://100.100.100.200/latest/meta-data/mac); trying /run/cloud-init/instance-data.json\n"
          "info: metadata from the cloud-init instance data (/run/cloud-init/instance-data.json)\n");
  }

  TEST_CASE("boot, service down, no usable instance data: the last good view") {
    FakeFileSystem fs;
    Instance saved = from_service("aws-multi-ip-ipv6");
    fs.add(kLastGood, nicsync::render_last_good(saved), 0600);
    std::string why;
    SUBCASE("absent") { why = "warning: no /run/cloud-init/instance-data.json"; }
    SUBCASE("invalid") {
      fs.add(kInstanceData, "{\"v1\": ");
      why = "warning: /run/cloud-init/instance-data.json: truncated or invalid JSON (at byte 8)";
    }
    SUBCASE("of another cloud") {
      fs.add(kInstanceData, instance_data("alibaba-seed-two-eni"));
      why =
          "warning: /run/cloud-init/instance-data.json: was written on cloud \"aliyun\" (v1.cloud_name), not "
          "\"aws\"";
    }
    FakeHttpClient http;
    service_down(http);
    FakeLog log;
    auto got = obtain(Vendor::aws, RunMode::boot, fs, http, log);
    REQUIRE(got);
    CHECK(got->source == MetadataSource::last_good);
    CHECK(describe(got->instance) == describe(saved));
    CHECK(log.text() == std::string(kAwsDown) + why + "; trying /var/lib/nicsync/metadata.json\n" +
                            "info: metadata from the last good view (/var/lib/nicsync/metadata.json)\n");
    CHECK(field(log.entries.back(), "SOURCE") == "last-good");
    CHECK(field(log.entries.back(), "FILE") == kLastGood);
    CHECK(fs.files_written == std::vector<std::string>{kMarker});
  }

  TEST_CASE("boot, service answering bad metadata: the fallbacks too") {
    nlohmann::json doc = fixture("aws-seed-two-eni");
    doc["imds"]["responses"]["/latest/meta-data/network/interfaces/macs/02:86:10:65:fd:31/local-ipv4s"] =
        "10.0.0.580";
    FakeHttpClient http;
    serve_fixture(http, doc);
    FakeFileSystem fs;
    fs.add(kInstanceData, instance_data("aws-seed-two-eni"));
    FakeLog log;
    auto got = obtain(Vendor::aws, RunMode::boot, fs, http, log);
    REQUIRE(got);
    CHECK(got->source == MetadataSource::cloud_init);
    CHECK(log.entries.at(0).message ==
          "metadata service failed at boot: aws: macs/02:86:10:65:fd:31/local-ipv4s line 1: \"10.0.0.580\" "
          "is not an "
          "IPv4 address; trying /run/cloud-init/instance-data.json");
  }

  TEST_CASE("a service view that fails check_instance: an error, at boot the fallbacks, each failing file skipped") {
    // eth1 also has eth0's secondary 10.0.0.58: every key parses, the view as a whole is wrong.
    nlohmann::json doc = fixture("aws-seed-two-eni");
    doc["imds"]["responses"]["/latest/meta-data/network/interfaces/macs/02:86:10:65:fd:31/local-ipv4s"] =
        "10.0.0.226\n10.0.0.58";
    FakeHttpClient http;
    serve_fixture(http, doc);
    const std::string twice =
        "aws: 10.0.0.58 is on both NIC 02:86:10:77:7f:fe (eni-05af1804c2797549f) and NIC 02:86:10:65:fd:31 "
        "(eni-0e7275b13b81f8bd2)";
    FakeFileSystem fs;
    FakeLog log;
    SUBCASE("normal run: the Error, nothing written") {
      Services services{.fs = fs, .http = http};
      auto result = obtain_instance(Vendor::aws, options(RunMode::normal), services, SaveView::yes, log);
      REQUIRE_FALSE(result.ok());
      CHECK(result.error().message == twice);
      CHECK(fs.files_written.empty());
    }
    SUBCASE("boot: cloud-init's instance data") {
      fs.add(kInstanceData, instance_data("aws-seed-two-eni"));
      auto got = obtain(Vendor::aws, RunMode::boot, fs, http, log);
      REQUIRE(got);
      CHECK(got->source == MetadataSource::cloud_init);
      CHECK(log.entries.at(0).message ==
            "metadata service failed at boot: " + twice + "; trying /run/cloud-init/instance-data.json");
      CHECK(fs.files_written == std::vector<std::string>{kMarker});
    }
    SUBCASE("boot: a last good view that fails the check too is skipped like an invalid one") {
      Instance bad = from_service("aws-seed-two-eni");
      bad.interfaces[1].ipv4.addresses.push_back(bad.interfaces[0].ipv4.addresses[1]);
      fs.add(kLastGood, nicsync::render_last_good(bad), 0600);
      auto got = obtain(Vendor::aws, RunMode::boot, fs, http, log);
      CHECK_FALSE(got);
      REQUIRE(log.entries.size() == 4);
      CHECK(log.entries.at(2).message == "/var/lib/nicsync/metadata.json: " + twice);
    }
  }

  TEST_CASE("boot, nothing usable: no instance, each attempt logged, the refresh marker written") {
    FakeFileSystem fs;
    fs.add(kLastGood, nicsync::render_last_good(from_service("alibaba-seed-two-eni")),
           0600);  // another cloud
    FakeHttpClient http;
    service_down(http);
    FakeLog log;
    CHECK_FALSE(obtain(Vendor::aws, RunMode::boot, fs, http, log));
    CHECK(log.text() ==
          std::string(kAwsDown) +
              "warning: no /run/cloud-init/instance-data.json; trying /var/lib/nicsync/metadata.json\n"
              "warning: /var/lib/nicsync/metadata.json: was saved on alibaba, not aws (was the image "
              "moved to another cloud?)\n"
              "warning: no metadata at boot: leaving the network configuration as it is\n");
    CHECK(field(log.entries.back(), "VENDOR") == "aws");
    CHECK(fs.files_written == std::vector<std::string>{kMarker});
    CHECK(fs.files.count(kLastGood) == 1);  // a view of another cloud is left alone
  }

  TEST_CASE("boot, nothing at all: no instance") {
    FakeFileSystem fs;
    FakeHttpClient http;
    service_down(http);
    FakeLog log;
    CHECK_FALSE(obtain(Vendor::aws, RunMode::boot, fs, http, log));
    CHECK(log.text() ==
          std::string(kAwsDown) +
              "warning: no /run/cloud-init/instance-data.json; trying /var/lib/nicsync/metadata.json\n"
              "warning: no /var/lib/nicsync/metadata.json\n"
              "warning: no metadata at boot: leaving the network configuration as it is\n");
  }

  TEST_CASE("boot, Oracle: cloud-init's instance data is skipped with the reason, the last good view used") {
    FakeFileSystem fs;
    fs.add(kInstanceData, instance_data("aws-seed-two-eni"));  // there, but it can hold no VNICs
    Instance saved = from_service("oracle-vm-secondary-vnic");
    fs.add(kLastGood, nicsync::render_last_good(saved), 0600);
    FakeHttpClient http;
    service_down(http);
    FakeLog log;
    auto got = obtain(Vendor::oracle, RunMode::boot, fs, http, log);
    REQUIRE(got);
    CHECK(got->source == MetadataSource::last_good);
    CHECK(describe(got->instance) == describe(saved));
    CHECK(
        log.text() ==
        "warning: metadata service failed at boot: oracle: GET /opc/v2/instance/: Couldn't connect to server "
        "(http://169.254.169.254/opc/v2/instance/); trying /var/lib/nicsync/metadata.json "
        "(/run/cloud-init/instance-data.json has no Oracle VNICs)\n"
        "info: metadata from the last good view (/var/lib/nicsync/metadata.json)\n");
  }

  TEST_CASE(
      "boot, service up for Oracle: the secondary IPs from the options are in the instance and the view") {
    nlohmann::json doc = fixture("oracle-seed-secondary-ip");
    FakeHttpClient http;
    serve_fixture(http, doc);
    FakeFileSystem fs;
    FakeLog log;
    RunOptions opts = options(RunMode::boot);
    opts.oracle_secondary_ips["02:00:17:01:a3:5c"] = {*nicsync::Ipv4Address::parse("10.0.1.11")};
    Services services{.fs = fs, .http = http};
    auto result = obtain_instance(Vendor::oracle, opts, services, SaveView::yes, log);
    REQUIRE_MESSAGE(result.ok(), result.error().message);
    REQUIRE(result.value());
    CHECK(nicsync::test::join(result.value()->instance.interfaces.at(0).ipv4.addresses) ==
          "10.0.1.2 10.0.1.11");
    CHECK(fs.files[kLastGood].content == nicsync::render_last_good(result.value()->instance));
  }

  TEST_CASE("--metadata-url is where the service is asked") {
    FakeHttpClient http;
    serve_fixture(http, fixture("aws-seed-two-eni"), "http://127.0.0.1:8080");
    FakeFileSystem fs;
    FakeLog log;
    RunOptions opts = options(RunMode::normal);
    opts.metadata_url = "http://127.0.0.1:8080";
    Services services{.fs = fs, .http = http};
    auto result = obtain_instance(Vendor::aws, opts, services, SaveView::no, log);
    REQUIRE_MESSAGE(result.ok(), result.error().message);
    CHECK(http.requests.at(0).url == "http://127.0.0.1:8080/latest/api/token");
  }

  TEST_CASE("AWS: the NICs /sys/class/net shows with a device are asked for with the NIC list") {
    FakeHttpClient http;
    serve_fixture(http, fixture("aws-seed-two-eni"));
    FakeFileSystem fs;
    fs.add("/sys/class/net/ens5/address", "02:86:10:77:7f:fe\n");
    fs.add("/sys/class/net/docker0/address", "02:42:ac:11:00:01\n");  // no device: not asked for
    FakeLog log;
    Services services{.fs = fs, .http = http};

    SUBCASE("a device-backed NIC: its 5 requests in round 2, the other NIC's in round 3") {
      fs.directories.insert("/sys/class/net/ens5/device");
      REQUIRE(obtain_instance(Vendor::aws, options(RunMode::normal), services, SaveView::no, log).ok());
      CHECK(nicsync::test::batches(http) == "1 8 5");
      CHECK(http.requests.at(4).url ==
            "http://169.254.169.254/latest/meta-data/network/interfaces/macs/02:86:10:77:7f:fe/");
    }
    SUBCASE("none: every NIC after the list, as before") {
      REQUIRE(obtain_instance(Vendor::aws, options(RunMode::normal), services, SaveView::no, log).ok());
      CHECK(nicsync::test::batches(http) == "1 3 10");
    }
  }

  TEST_CASE("Alibaba: the NICs /sys/class/net shows with a device are asked for with the NIC list") {
    FakeHttpClient http;
    serve_fixture(http, fixture("alibaba-seed-two-eni"));
    FakeFileSystem fs;
    fs.add("/sys/class/net/eth0/address", "00:16:3e:0e:16:21\n");
    fs.directories.insert("/sys/class/net/eth0/device");
    FakeLog log;
    Services services{.fs = fs, .http = http};
    REQUIRE(obtain_instance(Vendor::alibaba, options(RunMode::normal), services, SaveView::no, log).ok());
    CHECK(nicsync::test::batches(http) == "1 12 18");
    CHECK(http.requests.at(4).url ==
          "http://100.100.100.200/latest/meta-data/network/interfaces/macs/00:16:3e:0e:16:21/" +
              std::string(nicsync::alibaba::kInterfaceKeys[0]));
  }

  TEST_CASE("Oracle with the OCI API: its secondary IP and labels in the instance and the view, complete") {
    OracleWithApi oracle;
    FakeFileSystem fs;
    fs.add(kMarker, "");
    FakeLog log;
    auto got = oracle.obtain(fs, log, options(RunMode::normal));
    REQUIRE(got);
    CHECK(got->complete);
    CHECK(got->source == MetadataSource::imds);
    const nicsync::Interface& ens3 = got->instance.interfaces.at(0);
    CHECK(nicsync::test::join(ens3.ipv4.addresses) == "10.0.1.2 10.0.1.11");
    CHECK(hostname_labels(ens3) == "10.0.1.2=tutorialvm1 10.0.1.11=secondaryip");
    CHECK(oracle.api.problems.empty());
    CHECK(oracle.api.federations.size() == 1);
    CHECK(log.text().empty());
    CHECK(fs.files_written == std::vector<std::string>{kLastGood});
    CHECK(fs.files[kLastGood].content == nicsync::render_last_good(got->instance));
    CHECK(fs.files[kLastGood].mode == 0600);
    CHECK(fs.files_removed == std::vector<std::string>{kMarker});
    CHECK(fs.files.count(kMarker) == 0);
  }

  TEST_CASE(
      "Oracle, the OCI API fails: the last good view's secondary IP is kept, one warning, view and marker "
      "written") {
    OracleWithApi oracle;
    FakeFileSystem fs;
    FakeLog first_log;
    auto first = oracle.obtain(fs, first_log, options(RunMode::normal));  // a good run saves the view
    REQUIRE(first);
    REQUIRE(fs.files.count(kLastGood) == 1);
    fs.files_written.clear();
    fs.files_removed.clear();

    oracle.api.listing_faults.push_back(nicsync::test::oci_error(
        404, "NotAuthorizedOrNotFound", "Authorization failed or requested resource not found."));
    RunOptions opts = options(RunMode::normal);
    std::string addresses = "10.0.1.2 10.0.1.11";
    std::string labels = "10.0.1.2=tutorialvm1 10.0.1.11=secondaryip";
    std::vector<std::string> written = {kMarker};
    SUBCASE("the same view as before: only the marker is written") {}
    SUBCASE("a configured IP added since: the view is saved (0600), then the marker") {
      opts.oracle_secondary_ips["02:00:17:01:a3:5c"] = {*nicsync::Ipv4Address::parse("10.0.1.20")};
      addresses = "10.0.1.2 10.0.1.11 10.0.1.20";  // the order a complete fetch gives
      labels = "10.0.1.2=tutorialvm1 10.0.1.11=secondaryip";
      written = {kLastGood, kMarker};
    }
    FakeLog log;
    auto got = oracle.obtain(fs, log, opts);
    REQUIRE(got);
    CHECK_FALSE(got->complete);
    CHECK(got->source == MetadataSource::imds);
    const nicsync::Interface& ens3 = got->instance.interfaces.at(0);
    CHECK(nicsync::test::join(ens3.ipv4.addresses) == addresses);
    CHECK(hostname_labels(ens3) == labels);
    CHECK(log.text() == "warning: " + std::string(kNoPolicy) +
                            "; kept from the last good view: 10.0.1.11 on " + kSeedVnic + "\n");
    REQUIRE(log.entries.size() == 1);
    CHECK(field(log.entries[0], "SOURCE") == "imds");
    CHECK(field(log.entries[0], "VENDOR") == "oracle");
    CHECK(fs.files_written == written);
    CHECK(fs.files[kLastGood].content == nicsync::render_last_good(got->instance));
    CHECK(fs.files[kLastGood].mode == 0600);
    CHECK(fs.files[kMarker].content.empty());
    CHECK(fs.files[kMarker].mode == 0644);
    CHECK(oracle.api.problems.empty());
  }

  TEST_CASE(
      "Oracle, the OCI API fails and there is no last good view: only the configured IPs, and the warning "
      "says so") {
    OracleWithApi oracle;
    oracle.api_http.on(nicsync::HttpMethod::post, "https://auth.ap-tokyo-1.oraclecloud.com/v1/x509",
                       [](const HttpRequest&) {
                         HttpResponse none;
                         none.transport_error = "Connection timed out after 2000 milliseconds";
                         return none;
                       });
    FakeFileSystem fs;
    FakeLog log;
    RunOptions opts = options(RunMode::normal);
    opts.oracle_secondary_ips["02:00:17:01:a3:5c"] = {*nicsync::Ipv4Address::parse("10.0.1.20")};
    auto got = oracle.obtain(fs, log, opts);
    REQUIRE(got);
    CHECK_FALSE(got->complete);
    CHECK(nicsync::test::join(got->instance.interfaces.at(0).ipv4.addresses) == "10.0.1.2 10.0.1.20");
    CHECK(log.text() ==
          "warning: oracle: OCI API: federation POST https://auth.ap-tokyo-1.oraclecloud.com/v1/x509: no "
          "answer (Connection timed out after 2000 milliseconds); no last good view "
          "(/var/lib/nicsync/metadata.json): only configured secondary IPs\n");
    CHECK(fs.files_written == std::vector<std::string>{kLastGood, kMarker});
    CHECK(fs.files[kLastGood].mode == 0600);
  }

  TEST_CASE(
      "Oracle, the OCI API fails and the last good view has no other secondary IPs: the warning says so") {
    OracleWithApi oracle;
    oracle.api.listing_faults.push_back(nicsync::test::oci_error(
        404, "NotAuthorizedOrNotFound", "Authorization failed or requested resource not found."));
    FakeFileSystem fs;
    fs.add(kLastGood, nicsync::render_last_good(from_service("oracle-seed-secondary-ip")), 0600);
    FakeLog log;
    auto got = oracle.obtain(fs, log, options(RunMode::normal));
    REQUIRE(got);
    CHECK_FALSE(got->complete);
    CHECK(nicsync::test::join(got->instance.interfaces.at(0).ipv4.addresses) == "10.0.1.2");
    CHECK(log.text() ==
          "warning: " + std::string(kNoPolicy) + "; the last good view has no other secondary IPs\n");
    // The view is what is on disk already: only the marker is written.
    CHECK(fs.files_written == std::vector<std::string>{kMarker});
  }

  TEST_CASE("Oracle, oracle.api.enabled false: no identity documents, no API request, a complete view") {
    OracleWithApi oracle;
    FakeFileSystem fs;
    FakeLog log;
    RunOptions opts = options(RunMode::normal);
    opts.oracle_api.enabled = false;
    auto got = oracle.obtain(fs, log, opts);
    REQUIRE(got);
    CHECK(got->complete);
    CHECK(oracle.api_http.requests.empty());
    CHECK(oracle.http.requests.size() == 2);  // instance/ and vnics/ only
    CHECK(nicsync::test::join(got->instance.interfaces.at(0).ipv4.addresses) == "10.0.1.2");
    CHECK(log.text().empty());
    CHECK(fs.files_written == std::vector<std::string>{kLastGood});
  }

  TEST_CASE("record_view of an incomplete view from the service: the view saved, and the refresh marker") {
    FakeFileSystem fs;
    FakeLog log;
    SourcedInstance incomplete{from_service("oracle-seed-secondary-ip"), MetadataSource::imds, false};
    nicsync::record_view(&incomplete, fs, log);
    CHECK(fs.files_written == std::vector<std::string>{kLastGood, kMarker});
    CHECK(fs.files[kLastGood].mode == 0600);
    CHECK(fs.files[kMarker].mode == 0644);
    CHECK(fs.files_removed == std::vector<std::string>{kMarker});
    CHECK(log.text().empty());
  }

}  // TEST_SUITE
