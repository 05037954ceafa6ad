// cloud-init's instance-data.json as a metadata source.
//
// What cloud-init writes there (cloudinit/sources/__init__.py, persist_instance_data): "ds" holds
// the datasource's crawl with its own keys, so for EC2 and AliYun `ds["meta-data"]` is the
// meta-data tree with the service's dashed names ("local-ipv4s"); `ds.meta_data` with underscores
// is only the alias that `cloud-init query` and jinja templates add. cloud-init before 18.4 kept the
// tree under `ds["meta_data"]` instead. Its crawler (helpers/ec2.py) turns each listing line
// ending in "/" into a nested object named without the "/" (so macs/ is an object keyed by MAC)
// and stores each leaf as the body's text, or, when the body has several lines, as the list of its
// lines; a body that looks like a JSON object is stored parsed. Each leaf is turned back into the
// body the service would send and handed to the vendor's own parser.

#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "metadata/alibaba.hpp"
#include "metadata/aws.hpp"
#include "metadata/json_text.hpp"
#include "nicsync/metadata_sources.hpp"

namespace nicsync {

namespace {

using Json = nlohmann::json;

/// What cloud-init calls each cloud in v1.cloud_name.
std::string_view cloud_name_of(Vendor vendor) {
  switch (vendor) {
    case Vendor::aws:
      return "aws";
    case Vendor::oracle:
      return "oracle";
    case Vendor::alibaba:
      return "aliyun";
  }
  return "unknown";
}

/// The vendor-side half of the work: one vendor's meta-data tree -> the Instance, with the
/// vendor's parsers and messages ("aws: macs/<mac>/local-ipv4s line 2: ...").
class TreeReader {
 public:
  TreeReader(Vendor vendor, const Json& tree) : vendor_(vendor), tree_(tree) {}

  Result<Instance> read() {
    NICSYNC_TRY_ASSIGN(std::string mac_text, top_leaf("mac"));
    NICSYNC_TRY_ASSIGN(std::string id_text, top_leaf("instance-id"));
    NICSYNC_TRY_ASSIGN(const Json* macs, macs_object());
    if (macs->empty()) return Error{label() + "macs/ is empty"};

    std::vector<Interface> interfaces;
    for (const auto& [key, nic] : macs->items()) {
      auto mac = MacAddress::parse(key);
      if (!mac.ok()) return Error{label() + "macs/: " + mac.error().message};
      for (const Interface& earlier : interfaces) {
        if (earlier.mac == *mac) return Error{label() + "macs/: " + quote(key) + " is listed twice"};
      }
      if (!nic.is_object()) return Error{label() + "macs/" + key + ": " + shown(nic) + " is not a folder"};
      NICSYNC_TRY_ASSIGN(auto leaves, interface_leaves(*mac, nic));
      NICSYNC_TRY_ASSIGN(Interface interface, parse_interface(*mac, leaves));
      interfaces.push_back(std::move(interface));
    }
    if (vendor_ == Vendor::aws) {
      NICSYNC_TRY_ASSIGN(MacAddress primary, aws::parse_mac(mac_text, "mac"));
      NICSYNC_TRY_ASSIGN(ResourceId id, aws::parse_resource_id(id_text, "instance-id"));
      return aws::assemble_instance(primary, id, std::move(interfaces));
    }
    NICSYNC_TRY_ASSIGN(MacAddress primary, alibaba::parse_mac(mac_text, "mac"));
    NICSYNC_TRY_ASSIGN(ResourceId id, alibaba::parse_resource_id(id_text, "instance-id"));
    return alibaba::assemble_instance(primary, id, std::move(interfaces));
  }

 private:
  std::string label() const { return vendor_ == Vendor::aws ? "aws: " : "alibaba: "; }

  Result<std::string> top_leaf(const char* key) {
    auto it = tree_.find(key);
    if (it == tree_.end()) return Error{label() + key + " is missing"};
    return leaf_text(*it, key, key);
  }

  /// network/interfaces/macs/ of the tree.
  Result<const Json*> macs_object() {
    const Json* node = &tree_;
    std::string where;
    for (const char* folder : {"network", "interfaces", "macs"}) {
      where += std::string(folder) + "/";
      auto it = node->find(folder);
      if (it == node->end()) return Error{label() + where + " is missing"};
      if (!it->is_object()) return Error{label() + where + ": " + shown(*it) + " is not a folder"};
      node = &*it;
    }
    return node;
  }

  /// The keys nicsync reads of one NIC, as the bodies the service would send.
  Result<std::map<std::string, std::string>> interface_leaves(const MacAddress& mac, const Json& nic) {
    std::map<std::string, std::string> leaves;
    auto read = [&](std::string_view key) -> Result<void> {
      auto it = nic.find(std::string(key));
      if (it == nic.end()) return {};
      std::string where =
          vendor_ == Vendor::aws ? aws::interface_where(mac, key) : alibaba::interface_where(mac, key);
      NICSYNC_TRY_ASSIGN(std::string text, leaf_text(*it, key, where));
      leaves.emplace(std::string(key), std::move(text));
      return {};
    };
    if (vendor_ == Vendor::aws) {
      for (std::string_view key : aws::kInterfaceKeys) NICSYNC_TRY(read(key));
    } else {
      for (std::string_view key : alibaba::kInterfaceKeys) NICSYNC_TRY(read(key));
    }
    return leaves;
  }

  Result<Interface> parse_interface(const MacAddress& mac, const std::map<std::string, std::string>& leaves) {
    return vendor_ == Vendor::aws ? aws::parse_interface(mac, leaves) : alibaba::parse_interface(mac, leaves);
  }

  /// The body the service sends for a crawled leaf. A string is the body itself. A list of
  /// strings is a body of several lines, split by the crawler; except that Alibaba's JSON-array
  /// private-ipv4s and bracketed ipv6s may also arrive as arrays (newer cloud-init reads
  /// meta-data/all, a JSON document), which are written back in the service's own notation.
  Result<std::string> leaf_text(const Json& leaf, std::string_view key, std::string_view where) {
    if (leaf.is_string()) return leaf.get<std::string>();
    if (!leaf.is_array()) return Error{label() + std::string(where) + ": " + shown(leaf) + " is not text"};
    std::vector<std::string> items;
    for (const Json& item : leaf) {
      if (!item.is_string()) {
        return Error{label() + std::string(where) + ": " + shown(leaf) + " holds " + shown(item) +
                     ", not text"};
      }
      items.push_back(item.get<std::string>());
    }
    if (vendor_ == Vendor::alibaba && key == "private-ipv4s") return leaf.dump();
    if (vendor_ == Vendor::alibaba && key == "ipv6s") return "[" + join(items, ",") + "]";
    return join(items, "\n");
  }

  Vendor vendor_;
  const Json& tree_;
};

Result<Instance> parse_instance_data(std::string_view text, Vendor vendor) {
  if (vendor == Vendor::oracle) {
    return Error{"holds no Oracle VNICs (cloud-init does not keep the service's vnics/ there)"};
  }
  Json doc;
  try {
    doc = Json::parse(text.begin(), text.end());
  } catch (const Json::parse_error& error) {
    return Error{"truncated or invalid JSON (at byte " + std::to_string(error.byte) + ")"};
  } catch (const Json::out_of_range&) {  // a number too large for a double
    return Error{"invalid JSON (a number out of range)"};
  }
  if (!doc.is_object()) return Error{"is not a JSON object"};

  auto v1 = doc.find("v1");
  if (v1 == doc.end() || !v1->is_object() || !v1->contains("cloud_name") ||
      !(*v1)["cloud_name"].is_string()) {
    return Error{"v1.cloud_name is missing"};
  }
  const std::string& cloud = (*v1)["cloud_name"].get_ref<const std::string&>();
  if (cloud != cloud_name_of(vendor)) {
    return Error{"was written on cloud " + quote(cloud) + " (v1.cloud_name), not " +
                 quote(cloud_name_of(vendor))};
  }

  auto ds = doc.find("ds");
  if (ds == doc.end() || !ds->is_object()) return Error{"ds is missing"};
  const Json* tree = nullptr;
  for (const char* name : {"meta-data", "meta_data"}) {
    auto it = ds->find(name);
    if (it != ds->end() && it->is_object()) {
      tree = &*it;
      break;
    }
  }
  if (tree == nullptr) return Error{"ds.meta-data is missing"};
  return TreeReader(vendor, *tree).read();
}

}  // namespace

std::string_view metadata_source_key(MetadataSource source) {
  switch (source) {
    case MetadataSource::imds: return "imds";
    case MetadataSource::cloud_init: return "cloud-init";
    case MetadataSource::last_good: return "last-good";
  }
  return "unknown";
}

std::string_view metadata_source_name(MetadataSource source) {
  switch (source) {
    case MetadataSource::imds:
      return "metadata service";
    case MetadataSource::cloud_init:
      return "cloud-init instance data";
    case MetadataSource::last_good:
      return "last good view";
  }
  return "unknown source";
}

Result<Instance> parse_cloud_init_instance_data(std::string_view text, Vendor vendor,
                                                const std::string& source_name) {
  auto instance = parse_instance_data(text, vendor);
  if (!instance.ok()) return with_context(source_name + ": ", instance.error());
  return instance;
}

}  // namespace nicsync
