#include <doctest/doctest.h>

#include <fstream>
#include <sstream>
#include <string>

#include <nlohmann/json.hpp>

#include "fake_http.hpp"
#include "instance_text.hpp"
#include "nicsync/metadata_sources.hpp"
#include "nicsync/provider.hpp"

using nicsync::Instance;
using nicsync::Result;
using nicsync::Vendor;
using nicsync::test::describe;
using nicsync::testing::FakeHttpClient;
using nicsync::testing::serve_fixture;

namespace {

const std::string kSource = "/run/cloud-init/instance-data.json";

std::string read_text(const std::string& path) {
  std::ifstream in(path);
  REQUIRE_MESSAGE(in.good(), "cannot open " << path);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

/// tests/fixtures/cloud-init/<name>.instance-data.json, as text and as JSON.
std::string instance_data_text(const std::string& name) {
  return read_text(std::string(NICSYNC_TEST_FIXTURES) + "/cloud-init/" + name + ".instance-data.json");
}
nlohmann::json instance_data(const std::string& name) {
  return nlohmann::json::parse(instance_data_text(name));
}

nlohmann::json fixture(const std::string& name) {
  return nlohmann::json::parse(read_text(std::string(NICSYNC_TEST_FIXTURES) + "/" + name + ".json"));
}

/// What the provider makes of the fixture's metadata service.
Instance from_service(const std::string& name) {
  FakeHttpClient fake;
  nlohmann::json doc = fixture(name);
  serve_fixture(fake, doc);
  std::string endpoint = doc.at("imds").at("endpoint").get<std::string>();
  Result<Instance> instance =
      doc.at("vendor") == "aws" ? nicsync::fetch_aws(fake, endpoint) : nicsync::fetch_alibaba(fake, endpoint);
  REQUIRE_MESSAGE(instance.ok(), instance.error().message);
  return instance.value();
}

Result<Instance> parse(const nlohmann::json& doc, Vendor vendor = Vendor::aws) {
  return nicsync::parse_cloud_init_instance_data(doc.dump(1), vendor, kSource);
}

template <typename T>
std::string error_of(const Result<T>& result) {
  REQUIRE_FALSE(result.ok());
  return result.error().message;
}

/// A minimal instance-data.json around an EC2 meta-data tree with one NIC.
nlohmann::json ec2_document(const nlohmann::json& nic) {
  return {{"v1", {{"cloud_name", "aws"}}},
          {"ds",
           {{"meta-data",
             {{"mac", "0a:07:84:3d:6e:38"},
              {"instance-id", "i-0123456789abcdef0"},
              {"network", {{"interfaces", {{"macs", {{"0a:07:84:3d:6e:38", nic}}}}}}}}}}}};
}

const nlohmann::json kEc2Nic = {{"device-number", "0"},
                                {"local-ipv4s", {"172.31.44.13", "172.31.45.70"}},
                                {"subnet-ipv4-cidr-block", "172.31.32.0/20"}};

/// A minimal instance-data.json around an Alibaba meta-data tree with one NIC.
nlohmann::json alibaba_document(const nlohmann::json& extra) {
  nlohmann::json nic = {{"network-interface-id", "eni-uf6wggyvpqnhey55apw5"},
                        {"primary-ip-address", "10.0.0.19"},
                        {"netmask", "255.255.255.0"},
                        {"gateway", "10.0.0.253"},
                        {"vswitch-cidr-block", "10.0.0.0/24"}};
  nic.update(extra);
  return {{"v1", {{"cloud_name", "aliyun"}}},
          {"ds",
           {{"meta-data",
             {{"mac", "00:16:3e:0e:16:21"},
              {"instance-id", "i-uf6l4tmusrxeppyuafdk"},
              {"network", {{"interfaces", {{"macs", {{"00:16:3e:0e:16:21", nic}}}}}}}}}}}};
}

}  // namespace

TEST_SUITE("metadata::instance_data") {
  TEST_CASE("the names of the sources, for messages") {
    CHECK(nicsync::metadata_source_name(nicsync::MetadataSource::imds) == "metadata service");
    CHECK(nicsync::metadata_source_name(nicsync::MetadataSource::cloud_init) == "cloud-init instance data");
    CHECK(nicsync::metadata_source_name(nicsync::MetadataSource::last_good) == "last good view");
  }

  TEST_CASE("EC2: cloud-init's crawl gives the Instance the metadata service gives (aws-seed-two-eni)") {
    auto instance =
        nicsync::parse_cloud_init_instance_data(instance_data_text("aws-seed-two-eni"), Vendor::aws, kSource);
    REQUIRE_MESSAGE(instance.ok(), instance.error().message);
    // eth0's local-ipv4s is a list of lines in the file, eth1's a single string.
    CHECK(describe(*instance) ==
          "aws i-094226850fb16bdf1\n"
          "0/0 02:86:10:77:7f:fe primary id=eni-05af1804c2797549f os=- v4=10.0.0.76 10.0.0.58 "
          "subnet=10.0.0.0/24 "
          "gw=10.0.0.1 v4prefix= v6= v6subnets= v6gw=- v6prefix= vlan=-\n"
          "0/1 02:86:10:65:fd:31 secondary id=eni-0e7275b13b81f8bd2 os=- v4=10.0.0.226 subnet=10.0.0.0/24 "
          "gw=10.0.0.1 v4prefix= v6= v6subnets= v6gw=- v6prefix= vlan=-\n");
    CHECK(describe(*instance) == describe(from_service("aws-seed-two-eni")));
  }

  TEST_CASE("EC2 dual stack: IPv6 lists and subnets read as from the service (aws-multi-ip-ipv6)") {
    auto instance = nicsync::parse_cloud_init_instance_data(instance_data_text("aws-multi-ip-ipv6"),
                                                            Vendor::aws, kSource);
    REQUIRE_MESSAGE(instance.ok(), instance.error().message);
    CHECK(describe(*instance) == describe(from_service("aws-multi-ip-ipv6")));
    REQUIRE(instance->interfaces.size() == 2);
    CHECK(nicsync::test::join(instance->interfaces[0].ipv6.addresses) ==
          "2600:1f16:292:100:c187:593c:4349:136 2600:1f16:292:100:f153:12a3:c37c:11f9 "
          "2600:1f16:292:100:f152:2222:3333:4444");
  }

  TEST_CASE(
      "Alibaba: cloud-init's crawl gives the Instance the metadata service gives (alibaba-seed-two-eni)") {
    auto instance = nicsync::parse_cloud_init_instance_data(instance_data_text("alibaba-seed-two-eni"),
                                                            Vendor::alibaba, kSource);
    REQUIRE_MESSAGE(instance.ok(), instance.error().message);
    CHECK(describe(*instance) ==
          "alibaba i-uf6l4tmusrxeppyuafdk\n"
          "0/0 00:16:3e:0e:16:21 primary id=eni-uf6wggyvpqnhey55apw5 os=- v4=10.0.0.19 subnet=10.0.0.0/24 "
          "gw=10.0.0.253 v4prefix= v6= v6subnets= v6gw=- v6prefix= vlan=-\n"
          "0/- 00:16:3e:12:16:ec secondary id=eni-uf6b7auumwqwcctbbc7k os=- v4=10.0.0.21 subnet=10.0.0.0/24 "
          "gw=10.0.0.253 v4prefix= v6= v6subnets= v6gw=- v6prefix= vlan=-\n"
          "0/- 00:16:3e:12:e7:27 secondary id=eni-uf64axbbvfkc4s7g67iw os=- v4=10.0.0.20 subnet=10.0.0.0/24 "
          "gw=10.0.0.253 v4prefix= v6= v6subnets= v6gw=- v6prefix= vlan=-\n");
    CHECK(describe(*instance) == describe(from_service("alibaba-seed-two-eni")));
  }

  TEST_CASE("EC2: ipv6s, ipv4-prefix and ipv6-prefix as lists of lines or single strings") {
    nlohmann::json nic = kEc2Nic;
    nic["subnet-ipv6-cidr-blocks"] = "2600:1f16:292:100::/64";
    nic["ipv6s"] = {"2600:1f16:292:100::1", "2600:1f16:292:100::2"};
    nic["ipv4-prefix"] = "172.31.40.16/28";
    nic["ipv6-prefix"] = {"2600:1f16:292:100:1::/80", "2600:1f16:292:100:2::/80"};
    nic["network-card"] = "1";
    auto instance = parse(ec2_document(nic));
    REQUIRE_MESSAGE(instance.ok(), instance.error().message);
    CHECK(describe(*instance) ==
          "aws i-0123456789abcdef0\n"
          "1/0 0a:07:84:3d:6e:38 primary id=- os=- v4=172.31.44.13 172.31.45.70 subnet=172.31.32.0/20 "
          "gw=172.31.32.1 "
          "v4prefix=172.31.40.16/28 v6=2600:1f16:292:100::1 2600:1f16:292:100::2 "
          "v6subnets=2600:1f16:292:100::/64 "
          "v6gw=- v6prefix=2600:1f16:292:100:1::/80 2600:1f16:292:100:2::/80 vlan=-\n");
  }

  TEST_CASE("Alibaba: private-ipv4s and ipv6s as the service's text, or as JSON arrays (meta-data/all)") {
    const char* expected =
        "alibaba i-uf6l4tmusrxeppyuafdk\n"
        "0/0 00:16:3e:0e:16:21 primary id=eni-uf6wggyvpqnhey55apw5 os=- v4=10.0.0.19 10.0.0.57 "
        "subnet=10.0.0.0/24 "
        "gw=10.0.0.253 v4prefix= v6=2408:4005:39c:1b00::1 2408:4005:39c:1b00::2 "
        "v6subnets=2408:4005:39c:1b00::/64 "
        "v6gw=2408:4005:39c:1b00::fffe v6prefix= vlan=-\n";
    nlohmann::json ipv6 = {{"vswitch-ipv6-cidr-block", "2408:4005:39c:1b00::/64"},
                           {"ipv6-gateway", "2408:4005:39c:1b00::fffe"}};
    SUBCASE("as text") {
      nlohmann::json extra = ipv6;
      extra["private-ipv4s"] = R"(["10.0.0.57","10.0.0.19"])";
      extra["ipv6s"] = "[2408:4005:39c:1b00::1,2408:4005:39c:1b00::2]";
      auto instance = parse(alibaba_document(extra), Vendor::alibaba);
      REQUIRE_MESSAGE(instance.ok(), instance.error().message);
      CHECK(describe(*instance) == expected);
    }
    SUBCASE("as arrays") {
      nlohmann::json extra = ipv6;
      extra["private-ipv4s"] = {"10.0.0.57", "10.0.0.19"};
      extra["ipv6s"] = {"2408:4005:39c:1b00::1", "2408:4005:39c:1b00::2"};
      auto instance = parse(alibaba_document(extra), Vendor::alibaba);
      REQUIRE_MESSAGE(instance.ok(), instance.error().message);
      CHECK(describe(*instance) == expected);
    }
  }

  TEST_CASE("cloud-init before 18.4 kept the tree under ds.meta_data") {
    nlohmann::json doc = ec2_document(kEc2Nic);
    doc["ds"]["meta_data"] = doc["ds"]["meta-data"];
    doc["ds"].erase("meta-data");
    auto instance = parse(doc);
    REQUIRE_MESSAGE(instance.ok(), instance.error().message);
    CHECK(nicsync::test::join(instance->interfaces.at(0).ipv4.addresses) == "172.31.44.13 172.31.45.70");
  }

  TEST_CASE("bad values are the provider's errors, prefixed with the file") {
    nlohmann::json doc = instance_data("aws-seed-two-eni");
    nlohmann::json& macs = doc["ds"]["meta-data"]["network"]["interfaces"]["macs"];
    SUBCASE("an address in a list of lines") {
      macs["02:86:10:77:7f:fe"]["local-ipv4s"] = {"10.0.0.76", "10.0.0.580"};
      CHECK(error_of(parse(doc)) ==
            kSource +
                ": aws: macs/02:86:10:77:7f:fe/local-ipv4s line 2: \"10.0.0.580\" is not an "
                "IPv4 address");
    }
    SUBCASE("a missing required key") {
      macs["02:86:10:65:fd:31"].erase("subnet-ipv4-cidr-block");
      CHECK(error_of(parse(doc)) == kSource + ": aws: macs/02:86:10:65:fd:31/: lacks subnet-ipv4-cidr-block");
    }
    SUBCASE("a leaf that is neither text nor lines") {
      macs["02:86:10:65:fd:31"]["device-number"] = 1;
      CHECK(error_of(parse(doc)) == kSource + ": aws: macs/02:86:10:65:fd:31/device-number: 1 is not text");
      macs["02:86:10:65:fd:31"]["device-number"] = {"1", 2};
      CHECK(error_of(parse(doc)) ==
            kSource + ": aws: macs/02:86:10:65:fd:31/device-number: [\"1\",2] holds 2, not text");
    }
    SUBCASE("a folder that is not a MAC") {
      macs["not-a-mac"] = nlohmann::json::object();
      CHECK(error_of(parse(doc)) == kSource + ": aws: macs/: \"not-a-mac\" is not a MAC address");
    }
    SUBCASE("a NIC that is not a folder") {
    macs["02:86:10:65:fd:31"] = "10.0.0.226";
    CHECK(error_of(parse(doc)) == kSource + ": aws: macs/02:86:10:65:fd:31: \"10.0.0.226\" is not a folder");
  }
  SUBCASE("a MAC twice, in another case") {
      macs["02:86:10:77:7F:FE"] = macs["02:86:10:77:7f:fe"];
      CHECK(error_of(parse(doc)) == kSource + ": aws: macs/: \"02:86:10:77:7f:fe\" is listed twice");
    }
    SUBCASE("the primary MAC not among the NICs") {
      doc["ds"]["meta-data"]["mac"] = "02:86:10:00:00:01";
      CHECK(error_of(parse(doc)) == kSource + ": aws: mac: 02:86:10:00:00:01 is not in macs/");
    }
    SUBCASE("no NICs") {
      macs = nlohmann::json::object();
      CHECK(error_of(parse(doc)) == kSource + ": aws: macs/ is empty");
    }
    SUBCASE("no network/interfaces/macs/") {
      doc["ds"]["meta-data"]["network"].erase("interfaces");
      CHECK(error_of(parse(doc)) == kSource + ": aws: network/interfaces/ is missing");
    }
    SUBCASE("no instance-id") {
      doc["ds"]["meta-data"].erase("instance-id");
      CHECK(error_of(parse(doc)) == kSource + ": aws: instance-id is missing");
    }
  }

  TEST_CASE("Alibaba: bad values are the provider's errors, prefixed with the file") {
    nlohmann::json doc = instance_data("alibaba-seed-two-eni");
    doc["ds"]["meta-data"]["network"]["interfaces"]["macs"]["00:16:3e:12:e7:27"]["private-ipv4s"] =
        "10.0.0.20";
    CHECK(error_of(parse(doc, Vendor::alibaba)) ==
          kSource + ": alibaba: macs/00:16:3e:12:e7:27/private-ipv4s: \"10.0.0.20\" is not a JSON array");
  }

  TEST_CASE("instance data of another cloud, or of no known shape, is an error naming what is wrong") {
    CHECK(error_of(nicsync::parse_cloud_init_instance_data(instance_data_text("alibaba-seed-two-eni"),
                                                           Vendor::aws, kSource)) ==
          kSource + ": was written on cloud \"aliyun\" (v1.cloud_name), not \"aws\"");
    CHECK(error_of(nicsync::parse_cloud_init_instance_data(instance_data_text("aws-seed-two-eni"),
                                                           Vendor::alibaba, kSource)) ==
          kSource + ": was written on cloud \"aws\" (v1.cloud_name), not \"aliyun\"");
    CHECK(error_of(nicsync::parse_cloud_init_instance_data("{\"v1\": {\"cloud_name\": \"aws\"", Vendor::aws,
                                                           kSource)) ==
          kSource + ": truncated or invalid JSON (at byte 28)");
    CHECK(error_of(nicsync::parse_cloud_init_instance_data("[]", Vendor::aws, kSource)) ==
          kSource + ": is not a JSON object");
    CHECK(error_of(nicsync::parse_cloud_init_instance_data("{\"ds\": {}}", Vendor::aws, kSource)) ==
          kSource + ": v1.cloud_name is missing");
    CHECK(error_of(nicsync::parse_cloud_init_instance_data(R"({"v1": {"cloud_name": "aws"}})", Vendor::aws,
                                                           kSource)) == kSource + ": ds is missing");
    CHECK(error_of(nicsync::parse_cloud_init_instance_data(
              R"({"v1": {"cloud_name": "aws"}, "ds": {"_doc": "x"}})", Vendor::aws, kSource)) ==
          kSource + ": ds.meta-data is missing");
  }

  TEST_CASE("Oracle: cloud-init keeps no VNICs there, so any instance data is an error saying so") {
    for (const std::string& text : {instance_data_text("aws-seed-two-eni"), std::string("{}")}) {
      CHECK(error_of(nicsync::parse_cloud_init_instance_data(text, Vendor::oracle, kSource)) ==
            kSource + ": holds no Oracle VNICs (cloud-init does not keep the service's vnics/ there)");
    }
  }

}  // TEST_SUITE
