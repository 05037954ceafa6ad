// Hostile metadata values: every class of text that could break out of a rendered file (YAML and
// shell specials, quotes, comments, line breaks), a URL or a log line is injected into every string
// value nicsync reads, for each vendor and each source (metadata service, cloud-init's instance
// data, the last good view). Each must be refused at the edge with one printable line that names
// the field; a value nicsync does not use must not reach any output.

#include <doctest/doctest.h>

#include <chrono>
#include <fstream>
#include <functional>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "app/describe.hpp"
#include "fake_http.hpp"
#include "metadata/alibaba.hpp"
#include "metadata/aws.hpp"
#include "nicsync/metadata_sources.hpp"
#include "nicsync/provider.hpp"

using nicsync::HttpMethod;
using nicsync::Instance;
using nicsync::Result;
using nicsync::testing::FakeHttpClient;
using nicsync::testing::serve_fixture;
using Json = nlohmann::json;

namespace {

/// One class of hostile text, wrapped around a valid value: prefix + value + suffix.
struct Hostile {
  const char* name;
  std::string prefix;
  std::string suffix;
  std::string wrap(const std::string& value) const { return prefix + value + suffix; }
};

const std::vector<Hostile>& hostile_values() {
  static const std::vector<Hostile> values = {
      {"newline", "", "\ninjected: true"},
      {"carriage return", "", "\rinjected"},
      {"double quote", "", "\""},
      {"single quote", "'", ""},
      {"hash comment", "", " #comment"},
      {"yaml mapping", "", ": x"},
      {"yaml list", "- ", ""},
      {"yaml flow", "{", "}"},
      {"yaml anchor", "&a ", ""},
      {"yaml alias", "*a", ""},
      {"yaml tag", "!!str ", ""},
      {"yaml literal", "|", ""},
      {"yaml folded", ">", ""},
      {"yaml directive", "%", ""},
      {"at sign", "@", ""},
      {"backtick", "`", "`"},
      {"shell substitution", "$(reboot)", ""},
      {"shell separator", "", ";reboot"},
      {"shell pipe", "", "|reboot"},
      {"over-long", "", std::string(300, '9')},
      {"non-ASCII", "", "\xc3\xa9"},
      {"NUL", "", std::string("\0x", 2)},
      {"tab", "", "\tx"},
  };
  return values;
}

Json load_json(const std::string& relative) {
  std::ifstream in(std::string(NICSYNC_TEST_FIXTURES) + "/" + relative);
  REQUIRE_MESSAGE(in.good(), "cannot open fixture " << relative);
  return Json::parse(in);
}

/// Printable ASCII only: no line break, no control character, no raw byte of another encoding.
bool one_printable_line(std::string_view text) {
  for (unsigned char c : text) {
    if (c < 0x20 || c > 0x7e) return false;
  }
  return true;
}

/// The fetch was refused with one printable line naming `field`.
template <typename T>
void check_refused(const Result<T>& result, const std::string& field) {
  REQUIRE_MESSAGE(!result.ok(), "accepted a hostile " << field);
  const std::string& message = result.error().message;
  CHECK_MESSAGE(message.find(field) != std::string::npos, message);
  CHECK_MESSAGE(one_printable_line(message), nicsync::quote(message, 400));
}

/// Nothing nicsync shows or keeps holds `hostile`.
void check_not_shown(const Instance& instance, const std::string& hostile) {
  for (const std::string& output :
       {nicsync::describe_text(instance), nicsync::describe_json(instance), nicsync::render_last_good(instance)}) {
    CHECK(output.find(hostile) == std::string::npos);
    for (unsigned char c : output) {  // the views are several lines, each printable ASCII
      if (c != '\n') REQUIRE_MESSAGE((c >= 0x20 && c < 0x7f), "a raw byte in the output");
    }
  }
}

/// Options that never sleep (a hostile device-number 0 is not waited for).
nicsync::AwsOptions quick_aws() {
  nicsync::AwsOptions options;
  options.device_number_attempts = 1;
  options.sleep = [](std::chrono::milliseconds) {};
  return options;
}

/// The fixture's IMDS body at `path` (a string), or nullopt.
std::optional<std::string> body_at(const Json& fixture, const std::string& path) {
  const Json& responses = fixture.at("imds").at("responses");
  auto it = responses.find(path);
  if (it == responses.end()) return std::nullopt;
  return it->get<std::string>();
}

/// AWS and Alibaba: the plain-text leaves nicsync reads, as (path, field name in messages).
std::vector<std::pair<std::string, std::string>> text_leaves(const Json& fixture, std::string_view macs_path,
                                                             const std::vector<std::string_view>& nic_keys) {
  std::vector<std::pair<std::string, std::string>> leaves = {
      {"/latest/meta-data/mac", "mac"}, {"/latest/meta-data/instance-id", "instance-id"}, {std::string(macs_path), "macs/"}};
  std::istringstream listing(*body_at(fixture, std::string(macs_path)));
  for (std::string line; std::getline(listing, line);) {
    std::string mac = line.substr(0, line.size() - 1);
    for (std::string_view key : nic_keys) {
      std::string path = std::string(macs_path) + mac + "/" + std::string(key);
      if (body_at(fixture, path)) leaves.emplace_back(path, "macs/" + mac + "/" + std::string(key));
    }
  }
  return leaves;
}

}  // namespace

TEST_SUITE("metadata::injection") {

TEST_CASE("aws: a hostile value in any leaf is refused, naming the leaf") {
  const Json fixture = load_json("aws-multi-ip-ipv6.json");
  const std::string endpoint = "http://169.254.169.254";
  auto leaves = text_leaves(fixture, nicsync::aws::kMacsPath,
                            {nicsync::aws::kInterfaceKeys.begin(), nicsync::aws::kInterfaceKeys.end()});
  REQUIRE(leaves.size() >= 15);
  for (const auto& [path, field] : leaves) {
    for (const Hostile& hostile : hostile_values()) {
      CAPTURE(path);
      CAPTURE(std::string(hostile.name));
      FakeHttpClient fake;
      serve_fixture(fake, fixture);
      fake.set_body(HttpMethod::get, endpoint + path, hostile.wrap(*body_at(fixture, path)));
      check_refused(nicsync::fetch_aws(fake, endpoint, quick_aws()), field);
    }
  }
}

TEST_CASE("aws: a hostile line in a NIC's key listing is not used") {
  const Json fixture = load_json("aws-multi-ip-ipv6.json");
  const std::string endpoint = "http://169.254.169.254";
  const std::string listing = std::string(nicsync::aws::kMacsPath) + "0a:75:69:92:e2:16/";
  for (const Hostile& hostile : hostile_values()) {
    CAPTURE(std::string(hostile.name));
    FakeHttpClient fake;
    serve_fixture(fake, fixture);
    const std::string line = hostile.wrap("device-number");
    fake.set_body(HttpMethod::get, endpoint + listing, *body_at(fixture, listing) + "\n" + line);
    auto instance = nicsync::fetch_aws(fake, endpoint, quick_aws());
    REQUIRE_MESSAGE(instance.ok(), instance.error().message);
    for (const nicsync::HttpRequest& request : fake.requests) CHECK(request.url.find(line) == std::string::npos);
    check_not_shown(*instance, line);
  }
}

TEST_CASE("alibaba: a hostile value in any leaf or private-ipv4s item is refused, naming the leaf") {
  const Json fixture = load_json("alibaba-seed-two-eni.json");
  const std::string endpoint = "http://100.100.100.200";
  auto leaves = text_leaves(fixture, nicsync::alibaba::kMacsPath,
                            {nicsync::alibaba::kInterfaceKeys.begin(), nicsync::alibaba::kInterfaceKeys.end()});
  REQUIRE(leaves.size() >= 20);
  for (const auto& [path, field] : leaves) {
    for (const Hostile& hostile : hostile_values()) {
      CAPTURE(path);
      CAPTURE(std::string(hostile.name));
      const std::string body = *body_at(fixture, path);
      std::vector<std::string> bodies = {hostile.wrap(body)};
      if (path.ends_with("/private-ipv4s")) {  // also inside the JSON array, as a string item
        Json items = Json::parse(body);
        items[0] = hostile.wrap(items[0].get<std::string>());
        bodies.push_back(items.dump());
      }
      for (const std::string& hostile_body : bodies) {
        FakeHttpClient fake;
        serve_fixture(fake, fixture);
        fake.set_body(HttpMethod::get, endpoint + path, hostile_body);
        check_refused(nicsync::fetch_alibaba(fake, endpoint), field);
      }
    }
  }
}

TEST_CASE("oracle: a hostile value in instance/ or any vnics/ member is refused, naming the member") {
  const Json fixture = load_json("oracle-bm-vlan-vnic.json");
  const std::string endpoint = "http://169.254.169.254";
  const Json instance = Json::parse(*body_at(fixture, "/opc/v2/instance/"));
  const Json vnics = Json::parse(*body_at(fixture, "/opc/v2/vnics/"));
  for (const Hostile& hostile : hostile_values()) {
    CAPTURE(std::string(hostile.name));
    auto fetch_with = [&](const std::string& path, const Json& document) {
      FakeHttpClient fake;
      serve_fixture(fake, fixture);
      fake.set_body(HttpMethod::get, endpoint + path, document.dump());
      return nicsync::fetch_oracle(fake, endpoint, {});
    };
    Json bad_instance = instance;
    bad_instance["id"] = hostile.wrap(instance["id"].get<std::string>());
    check_refused(fetch_with("/opc/v2/instance/", bad_instance), "\"id\"");

    for (size_t entry = 0; entry < vnics.size(); ++entry) {
      for (const auto& [member, value] : vnics[entry].items()) {
        CAPTURE(entry);
        CAPTURE(member);
        Json bad = vnics;
        if (value.is_string()) {
          bad[entry][member] = hostile.wrap(value.get<std::string>());
        } else if (value.is_number_integer()) {  // vlanTag, nicIndex: a string where a number belongs
          bad[entry][member] = hostile.wrap(std::to_string(value.get<long long>()));
        } else if (value.is_array() && !value.empty() && value[0].is_string()) {  // ipv6Addresses
          bad[entry][member][0] = hostile.wrap(value[0].get<std::string>());
        } else {
          continue;
        }
        check_refused(fetch_with("/opc/v2/vnics/", bad), "\"" + member + "\"");
      }
    }
  }
}

TEST_CASE("oracle: a document with a NUL byte and more after it is refused, not cut short") {
  const Json fixture = load_json("oracle-bm-vlan-vnic.json");
  const std::string endpoint = "http://169.254.169.254";
  for (std::string path : {"/opc/v2/instance/", "/opc/v2/vnics/"}) {
    CAPTURE(path);
    FakeHttpClient fake;
    serve_fixture(fake, fixture);
    fake.set_body(HttpMethod::get, endpoint + path, *body_at(fixture, path) + std::string("\0{\"x\": 1}", 9));
    check_refused(nicsync::fetch_oracle(fake, endpoint, {}), path.substr(8) + ": truncated or invalid JSON");
  }
}

TEST_CASE("oracle: a hostile region or realm domain never becomes a host name, and is shown nowhere") {
  const Json fixture = load_json("oracle-bm-vlan-vnic.json");
  const std::string endpoint = "http://169.254.169.254";
  const Json instance = Json::parse(*body_at(fixture, "/opc/v2/instance/"));
  struct Member {
    std::string field;  ///< as the message names it
    std::function<std::string(Json&, const Hostile&)> inject;  ///< returns the hostile value
  };
  const std::vector<Member> members = {
      {"\"canonicalRegionName\"",
       [](Json& doc, const Hostile& h) {
         std::string value = h.wrap("us-phoenix-1");
         doc["canonicalRegionName"] = value;
         return value;
       }},
      {"\"regionInfo\".\"regionIdentifier\"",
       [](Json& doc, const Hostile& h) {
         std::string value = h.wrap("us-phoenix-1");
         doc.erase("canonicalRegionName");
         doc["regionInfo"]["regionIdentifier"] = value;
         return value;
       }},
      {"\"regionInfo\".\"realmDomainComponent\"",
       [](Json& doc, const Hostile& h) {
         std::string value = h.wrap("oraclecloud.com");
         doc["regionInfo"]["realmDomainComponent"] = value;
         return value;
       }},
      {"\"shape\"",
       [](Json& doc, const Hostile& h) {
         std::string value = h.wrap("BM.Standard2.52");
         doc["shape"] = value;
         return value;
       }},
  };
  for (const Member& member : members) {
    for (const Hostile& hostile : hostile_values()) {
      CAPTURE(member.field);
      CAPTURE(std::string(hostile.name));
      Json bad = instance;
      const std::string value = member.inject(bad, hostile);
      FakeHttpClient fake;
      serve_fixture(fake, fixture);
      fake.set_body(HttpMethod::get, endpoint + "/opc/v2/instance/", bad.dump());

      // Without the OCI API the region is not used at all.
      auto plain = nicsync::fetch_oracle(fake, endpoint, {});
      REQUIRE_MESSAGE(plain.ok(), plain.error().message);
      check_not_shown(*plain, value);

      // With it, the region is checked before any URL is made from it.
      FakeHttpClient api;
      nicsync::OracleApiOptions options;
      options.http = &api;
      auto fetched = nicsync::fetch_oracle_with_api(fake, endpoint, {}, options);
      REQUIRE_MESSAGE(fetched.ok(), fetched.error().message);
      check_not_shown(fetched->instance, value);
      if (member.field == "\"shape\"") continue;  // not part of any URL
      REQUIRE(fetched->api_error.has_value());
      check_refused(Result<int>(*fetched->api_error), member.field);
      CHECK(api.requests.empty());
    }
  }
}

TEST_CASE("cloud-init instance data: a hostile value in any leaf nicsync reads is refused, naming the leaf") {
  struct Source {
    const char* file;
    nicsync::Vendor vendor;
    std::vector<std::string_view> keys;
  };
  const std::vector<Source> sources = {
      {"cloud-init/aws-multi-ip-ipv6.instance-data.json", nicsync::Vendor::aws,
       {nicsync::aws::kInterfaceKeys.begin(), nicsync::aws::kInterfaceKeys.end()}},
      {"cloud-init/alibaba-seed-two-eni.instance-data.json", nicsync::Vendor::alibaba,
       {nicsync::alibaba::kInterfaceKeys.begin(), nicsync::alibaba::kInterfaceKeys.end()}},
  };
  for (const Source& source : sources) {
    const Json document = load_json(source.file);
    const char* tree_name = document["ds"].contains("meta-data") ? "meta-data" : "meta_data";
    const Json& tree = document["ds"][tree_name];
    // (JSON pointer of the leaf, field name in messages)
    std::vector<std::pair<Json::json_pointer, std::string>> leaves;
    const Json::json_pointer root = Json::json_pointer("/ds") / std::string(tree_name);
    leaves.emplace_back(root / "mac", "mac");
    leaves.emplace_back(root / "instance-id", "instance-id");
    for (const auto& [mac, nic] : tree["network"]["interfaces"]["macs"].items()) {
      for (std::string_view key : source.keys) {
        if (nic.contains(std::string(key))) {
          leaves.emplace_back(root / "network" / "interfaces" / "macs" / mac / std::string(key),
                              "macs/" + mac + "/" + std::string(key));
        }
      }
    }
    REQUIRE(leaves.size() >= 8);
    for (const auto& [pointer, field] : leaves) {
      for (const Hostile& hostile : hostile_values()) {
        CAPTURE(std::string(source.file));
        CAPTURE(field);
        CAPTURE(std::string(hostile.name));
        Json bad = document;
        Json& leaf = bad[pointer];
        if (leaf.is_array()) {
          leaf[0] = hostile.wrap(leaf[0].get<std::string>());
        } else {
          leaf = hostile.wrap(leaf.get<std::string>());
        }
        check_refused(nicsync::parse_cloud_init_instance_data(bad.dump(), source.vendor, "instance-data.json"),
                      field);
      }
    }
  }
}

TEST_CASE("last good view: a hostile value in any string is refused, naming its key") {
  FakeHttpClient fake;
  serve_fixture(fake, load_json("aws-multi-ip-ipv6.json"));
  auto fetched = nicsync::fetch_aws(fake, "http://169.254.169.254");
  REQUIRE(fetched.ok());
  Instance instance = *fetched;
  instance.interfaces[0].ipv4.hostname_labels = {{instance.interfaces[0].ipv4.addresses[0], "primary-host"}};
  const Json view = Json::parse(nicsync::render_last_good(instance));

  // Every string leaf (and every hostname_labels key), with its name as messages spell it:
  // /interfaces/0/ipv4/addresses/1 -> interfaces[0].ipv4.addresses[1].
  std::vector<std::pair<Json::json_pointer, std::string>> leaves;
  std::function<void(const Json&, const Json::json_pointer&, const std::string&)> walk =
      [&](const Json& node, const Json::json_pointer& at, const std::string& name) {
        if (node.is_string()) leaves.emplace_back(at, name);
        if (node.is_array()) {
          for (size_t i = 0; i < node.size(); ++i) walk(node[i], at / i, name + "[" + std::to_string(i) + "]");
        }
        if (node.is_object()) {
          for (const auto& [key, value] : node.items()) walk(value, at / key, name.empty() ? key : name + "." + key);
        }
      };
  walk(view, Json::json_pointer(), "");
  REQUIRE(leaves.size() >= 20);
  for (const auto& [pointer, field] : leaves) {
    for (const Hostile& hostile : hostile_values()) {
      CAPTURE(field);
      CAPTURE(std::string(hostile.name));
      Json bad = view;
      bad[pointer] = hostile.wrap(bad[pointer].get<std::string>());
      auto parsed = nicsync::parse_last_good(bad.dump(), nicsync::Vendor::aws, "metadata.json");
      check_refused(parsed, field == "format" ? "not a nicsync last good view" : field);
    }
  }
  // A hostile hostname_labels key.
  for (const Hostile& hostile : hostile_values()) {
    CAPTURE(std::string(hostile.name));
    Json bad = view;
    Json& labels = bad["interfaces"][0]["ipv4"]["hostname_labels"];
    const std::string key = labels.begin().key();
    labels[hostile.wrap(key)] = labels[key];
    labels.erase(key);
    check_refused(nicsync::parse_last_good(bad.dump(), nicsync::Vendor::aws, "metadata.json"),
                  "interfaces[0].ipv4.hostname_labels");
  }
}

}  // TEST_SUITE
