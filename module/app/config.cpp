// Settings files and the cloud-config override. Both formats are first turned into one small
// tree (Value) that keeps each node's position, so a single set of rules validates both and
// only the shape of the error prefix differs: `file:line:col: ` or `file: nicsync.`.

#include "nicsync/config.hpp"

#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <functional>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

namespace nicsync {

namespace {

// ---- one tree for YAML and JSON ----

struct MapEntry;

struct Value {
  enum class Kind { null, scalar, list, map };
  Kind kind = Kind::null;
  std::string text;         ///< a scalar's text (JSON numbers and booleans as JSON prints them)
  bool is_boolean = false;  ///< a JSON true/false
  bool is_number = false;   ///< a JSON number
  int line = 0;             ///< 1-based; 0 when unknown (JSON)
  int column = 0;
  std::vector<Value> items;       ///< list
  std::vector<MapEntry> entries;  ///< map, in document order
};

struct MapEntry {
  Value key;
  Value value;
};

/// Settings nest at most five levels (oracle > secondary_ips > VNIC > list > address) and the
/// validator rejects a node of the wrong kind before looking inside it, so conversion need not
/// descend deeper than this. That also ends yaml-cpp's cyclic aliases (`a: &x [*x]`).
constexpr int kMaxDepth = 16;
/// Aliases can make a short file expand into a huge tree ("billion laughs"); a settings file has
/// a few dozen nodes.
constexpr size_t kMaxYamlNodes = 100000;

class YamlConverter {
 public:
  /// The tree, or nullopt when it has more than kMaxYamlNodes nodes.
  std::optional<Value> convert(const YAML::Node& node) {
    Value value = convert(node, 0);
    if (exhausted_) return std::nullopt;
    return value;
  }

 private:
  Value convert(const YAML::Node& node, int depth) {
    Value value;
    value.line = node.Mark().line + 1;  // yaml-cpp marks are 0-based, -1 when unknown
    value.column = node.Mark().column + 1;
    if (left_ == 0) {
      exhausted_ = true;
      return value;
    }
    --left_;
    switch (node.Type()) {
      case YAML::NodeType::Scalar:
        value.kind = Value::Kind::scalar;
        value.text = node.Scalar();
        break;
      case YAML::NodeType::Sequence:
        value.kind = Value::Kind::list;
        if (depth >= kMaxDepth) break;
        for (const YAML::Node& item : node) value.items.push_back(convert(item, depth + 1));
        break;
      case YAML::NodeType::Map:
        value.kind = Value::Kind::map;
        if (depth >= kMaxDepth) break;
        for (const auto& entry : node) {
          value.entries.push_back(
              MapEntry{convert(entry.first, depth + 1), convert(entry.second, depth + 1)});
        }
        break;
      case YAML::NodeType::Null:
      case YAML::NodeType::Undefined:
        break;
    }
    return value;
  }

  size_t left_ = kMaxYamlNodes;
  bool exhausted_ = false;
};

Value from_json(const nlohmann::json& json, int depth = 0) {
  Value value;
  if (json.is_object()) {
    value.kind = Value::Kind::map;
    if (depth >= kMaxDepth) return value;
    for (const auto& [key, item] : json.items()) {
      Value key_value;
      key_value.kind = Value::Kind::scalar;
      key_value.text = key;
      value.entries.push_back(MapEntry{std::move(key_value), from_json(item, depth + 1)});
    }
  } else if (json.is_array()) {
    value.kind = Value::Kind::list;
    if (depth >= kMaxDepth) return value;
    for (const auto& item : json) value.items.push_back(from_json(item, depth + 1));
  } else if (json.is_string()) {
    value.kind = Value::Kind::scalar;
    value.text = json.get<std::string>();
  } else if (!json.is_null()) {
    value.kind = Value::Kind::scalar;
    value.text = json.dump();
    value.is_boolean = json.is_boolean();
    value.is_number = json.is_number();
  }
  return value;
}

std::string kind_name(const Value& value) {
  switch (value.kind) {
    case Value::Kind::null:
      return "nothing";
    case Value::Kind::scalar:
      return "a single value";
    case Value::Kind::list:
      return "a list";
    case Value::Kind::map:
      return "a mapping";
  }
  return "something else";
}

// ---- errors ----

/// How a source names a place in it: settings files by line and column, the cloud-config
/// override (JSON, no useful positions) by the key path under `nicsync`.
enum class Style { file, user_data };

size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diagonal = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = above;
    }
  }
  return row[b.size()];
}

std::string join_key(const std::string& parent, std::string_view key) {
  if (key.empty()) return parent;
  return parent.empty() ? std::string(key) : parent + "." + std::string(key);
}

class Reporter {
 public:
  Reporter(std::string source, Style style) : source_(std::move(source)), style_(style) {}

  /// `file:7:3: key: problem` or `file: nicsync.key: problem`.
  Error at(const Value& where, const std::string& key, const std::string& problem) const {
    if (style_ == Style::user_data) {
      return Error{source_ + ": " + join_key("nicsync", key) + ": " + problem};
    }
    return Error{position(where) + (key.empty() ? "" : key + ": ") + problem};
  }

  Error unknown_key(const Value& key_node, const std::string& parent,
                    const std::vector<std::string>& known) const {
    std::string key = join_key(parent, key_node.text);
    std::string hint;
    size_t best = 3;  // suggest only within an edit distance of 2
    for (const std::string& candidate : known) {
      size_t distance = edit_distance(key_node.text, candidate);
      if (distance < best) {
        best = distance;
        hint = join_key(parent, candidate);
      }
    }
    if (style_ == Style::user_data) {
      return Error{source_ + ": " + printable(join_key("nicsync", key)) + ": unknown key" +
                   (hint.empty() ? "" : " (did you mean " + quote(join_key("nicsync", hint)) + "?)")};
    }
    return Error{position(key_node) + "unknown key " + quote(key) +
                 (hint.empty() ? "" : " (did you mean " + quote(hint) + "?)")};
  }

 private:
  std::string position(const Value& where) const {
    if (where.line <= 0) return source_ + ": ";
    return source_ + ":" + std::to_string(where.line) + ":" + std::to_string(where.column) + ": ";
  }

  std::string source_;
  Style style_;
};

// ---- values ----

/// The text of a scalar; a list or mapping where a single value belongs is an error.
Result<std::string> scalar_text(const Reporter& report, const Value& value, const std::string& key) {
  if (value.kind != Value::Kind::scalar) {
    return report.at(value, key, "expected a single value, not " + kind_name(value));
  }
  return value.text;
}

/// A whole number in [min, max].
Result<uint32_t> read_number(const Reporter& report, const Value& value, const std::string& key, uint32_t min,
                             uint32_t max) {
  NICSYNC_TRY_ASSIGN(std::string text, scalar_text(report, value, key));
  std::string_view digits = text;
  bool negative = !digits.empty() && digits[0] == '-';
  if (negative) digits.remove_prefix(1);
  if (digits.empty() || digits.find_first_not_of("0123456789") != std::string_view::npos) {
    return report.at(value, key, quote(text) + " is not a whole number");
  }
  std::string range = " is out of range (" + std::to_string(min) + "-" + std::to_string(max) + ")";
  uint64_t number = 0;
  for (char c : digits) {
    number = number * 10 + static_cast<uint64_t>(c - '0');
    if (number > max) return report.at(value, key, text + range);
  }
  if (negative || number < min) return report.at(value, key, text + range);
  return static_cast<uint32_t>(number);
}

/// true/false, and the YAML 1.1 spellings yes/no/on/off, in any case.
Result<bool> read_bool(const Reporter& report, const Value& value, const std::string& key) {
  NICSYNC_TRY_ASSIGN(std::string text, scalar_text(report, value, key));
  std::string lower = text;
  std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
  if (lower == "true" || lower == "yes" || lower == "on") return true;
  if (lower == "false" || lower == "no" || lower == "off") return false;
  return report.at(value, key, quote(text) + " is not true or false");
}

/// auto|on|off. A JSON boolean is on/off: cloud-init reads a bare `on`/`off` as YAML 1.1 booleans.
template <typename Mode>
Result<Mode> read_auto_on_off(const Reporter& report, const Value& value, const std::string& key) {
  NICSYNC_TRY_ASSIGN(std::string text, scalar_text(report, value, key));
  if (value.is_boolean) return text == "true" ? Mode::on : Mode::off;
  if (text == "auto") return Mode::automatic;
  if (text == "on") return Mode::on;
  if (text == "off") return Mode::off;
  return report.at(value, key, quote(text) + " is not auto, on or off");
}

Result<std::string> read_url(const Reporter& report, const Value& value, const std::string& key) {
  NICSYNC_TRY_ASSIGN(std::string url, scalar_text(report, value, key));
  bool bad_character =
      std::any_of(url.begin(), url.end(), [](unsigned char c) { return c <= ' ' || c >= 0x7f; });
  std::string_view rest = url;
  if (rest.starts_with("http://")) {
    rest.remove_prefix(7);
  } else if (rest.starts_with("https://")) {
    rest.remove_prefix(8);
  } else {
    rest = {};
  }
  if (bad_character || rest.empty() || rest[0] == '/') {
    return report.at(value, key, quote(url) + " is not an http:// or https:// URL");
  }
  while (url.back() == '/') url.pop_back();
  return url;
}

/// An OCI API endpoint: https only (the requests carry a security token), host and port only.
Result<std::string> read_api_endpoint(const Reporter& report, const Value& value, const std::string& key) {
  NICSYNC_TRY_ASSIGN(std::string url, read_url(report, value, key));
  std::string_view host = url;
  bool ok = host.starts_with("https://");
  if (ok) host.remove_prefix(8);
  ok = ok && host.find_first_of("/?#@\\") == std::string_view::npos;
  if (!ok) return report.at(value, key, quote(url) + " is not https://HOST or https://HOST:PORT");
  return url;
}

Result<std::string> read_absolute_path(const Reporter& report, const Value& value, const std::string& key) {
  NICSYNC_TRY_ASSIGN(std::string path, scalar_text(report, value, key));
  bool bad_character =
      std::any_of(path.begin(), path.end(), [](unsigned char c) { return c < ' ' || c == 0x7f; });
  if (bad_character || !path.starts_with("/") || path.size() > 4096) {
    return report.at(value, key, quote(path) + " is not an absolute path");
  }
  return path;
}

Result<InterfaceSelector> read_selector(const Reporter& report, const Value& value, const std::string& key) {
  NICSYNC_TRY_ASSIGN(std::string text, scalar_text(report, value, key));
  if (value.is_number) {
    // PyYAML reads an unquoted 12:34:56:07:08:09 as a base-60 number.
    return report.at(value, key,
                     text + " is a number, not an interface name, MAC address or resource id " +
                         "(quote MAC addresses in cloud-config)");
  }
  Result<InterfaceSelector> selector = InterfaceSelector::parse(text);
  if (!selector.ok()) return report.at(value, key, selector.error().message);
  return selector;
}

Result<std::vector<InterfaceSelector>> read_selectors(const Reporter& report, const Value& value,
                                                      const std::string& key) {
  if (value.kind != Value::Kind::list)
    return report.at(value, key, "expected a list, not " + kind_name(value));
  std::vector<InterfaceSelector> selectors;
  for (const Value& item : value.items) {
    NICSYNC_TRY_ASSIGN(InterfaceSelector selector, read_selector(report, item, key));
    if (std::find(selectors.begin(), selectors.end(), selector) != selectors.end()) {
      return report.at(item, key, quote(selector.value) + " is listed twice");
    }
    selectors.push_back(std::move(selector));
  }
  return selectors;
}

// ---- mappings ----

/// One known key of a mapping and how to read its (non-null) value.
struct Field {
  std::string name;
  std::function<Result<void>(const Value& value, const std::string& key)> read;
};

/// Reads every entry of a mapping through `fields`. Unknown and duplicate keys are errors; a null
/// value (`key:` with nothing after it) leaves the setting unset.
Result<void> read_fields(const Reporter& report, const Value& map, const std::string& parent,
                         const std::vector<Field>& fields) {
  if (map.kind != Value::Kind::map) {
    return report.at(map, parent, "expected a mapping, not " + kind_name(map));
  }
  std::vector<std::string> names;
  names.reserve(fields.size());
  for (const Field& field : fields) names.push_back(field.name);
  std::set<std::string> seen;
  for (const MapEntry& entry : map.entries) {
    const Value& key_node = entry.key;
    const Value& value = entry.value;
    if (key_node.kind != Value::Kind::scalar) {
      return report.at(key_node, parent, "expected a key name, not " + kind_name(key_node));
    }
    std::string key = join_key(parent, key_node.text);
    auto field =
        std::find_if(fields.begin(), fields.end(), [&](const Field& f) { return f.name == key_node.text; });
    if (field == fields.end()) return report.unknown_key(key_node, parent, names);
    if (!seen.insert(key_node.text).second) return report.at(key_node, "", "duplicate key " + quote(key));
    if (value.kind == Value::Kind::null) continue;
    NICSYNC_TRY(field->read(value, key));
  }
  return {};
}

/// Stores `result`'s value into `target`, or passes its error on.
template <typename T, typename Target>
Result<void> store(Result<T> result, Target& target) {
  if (!result.ok()) return result.error();
  target = std::move(result).value();
  return {};
}

Result<void> read_secondary_ips(const Reporter& report, const Value& map, const std::string& key,
                                OracleSettings& oracle) {
  if (map.kind != Value::Kind::map) return report.at(map, key, "expected a mapping, not " + kind_name(map));
  std::map<Ipv4Address, std::string> owner;  // address -> the VNIC it is listed for
  for (const MapEntry& entry : map.entries) {
    const Value& key_node = entry.key;
    const Value& list = entry.value;
    NICSYNC_TRY_ASSIGN(std::string text, scalar_text(report, key_node, key));
    Result<InterfaceSelector> vnic = InterfaceSelector::parse(text);
    bool is_vnic =
        vnic.ok() && (vnic->kind == InterfaceSelector::Kind::mac ||
                      (vnic->kind == InterfaceSelector::Kind::id && text.starts_with("ocid1.vnic.")));
    if (!is_vnic) {
      return report.at(key_node, key, quote(text) + " is not a VNIC id (ocid1.vnic.*) or a MAC address");
    }
    std::string vnic_key = join_key(key, vnic->value);
    if (oracle.secondary_ips.count(*vnic) != 0)
      return report.at(key_node, "", "duplicate key " + quote(vnic_key));
    if (list.kind != Value::Kind::list) {
      return report.at(list, vnic_key, "expected a list of IPv4 addresses, not " + kind_name(list));
    }
    std::vector<Ipv4Address> addresses;
    for (const Value& item : list.items) {
      NICSYNC_TRY_ASSIGN(std::string address_text, scalar_text(report, item, vnic_key));
      Result<Ipv4Address> address = Ipv4Address::parse(address_text);
      if (!address.ok()) return report.at(item, vnic_key, address.error().message);
      auto [previous, inserted] = owner.emplace(*address, vnic->value);
      if (!inserted) {
        std::string where = previous->second == vnic->value ? "" : " (also under " + previous->second + ")";
        return report.at(item, vnic_key, quote(address->str()) + " is listed twice" + where);
      }
      addresses.push_back(*address);
    }
    oracle.secondary_ips.emplace(*vnic, std::move(addresses));
  }
  return {};
}

/// Validates a whole settings mapping (the file's top level, or user-data's `nicsync` object).
Result<Config> read_config(const Reporter& report, const Value& top) {
  Config config;
  if (top.kind == Value::Kind::null) return config;
  if (top.kind != Value::Kind::map) {
    return report.at(top, "", "expected a mapping of settings, not " + kind_name(top));
  }
  auto choice = [&report](const Value& value, const std::string& key, const std::vector<std::string>& names,
                          const std::string& listed) -> Result<size_t> {
    NICSYNC_TRY_ASSIGN(std::string text, scalar_text(report, value, key));
    auto it = std::find(names.begin(), names.end(), text);
    if (it == names.end()) return report.at(value, key, quote(text) + " is not " + listed);
    return static_cast<size_t>(it - names.begin());
  };
  auto number = [&report](uint32_t min, uint32_t max, std::optional<uint32_t>& target) {
    return [&report, min, max, &target](const Value& value, const std::string& key) {
      return store(read_number(report, value, key, min, max), target);
    };
  };

  std::vector<Field> interface_fields = {
      {"include",
       [&](const Value& v, const std::string& k) {
         return store(read_selectors(report, v, k), config.interfaces.include);
       }},
      {"exclude",
       [&](const Value& v, const std::string& k) {
         return store(read_selectors(report, v, k), config.interfaces.exclude);
       }},
      {"attach_timeout_ms", number(0, 600000, config.interfaces.attach_timeout_ms)},
  };
  MetadataSettings& metadata = config.metadata;
  std::vector<Field> metadata_fields = {
      {"url",
       [&](const Value& v, const std::string& k) { return store(read_url(report, v, k), metadata.url); }},
      {"connect_timeout_ms", number(1, 60000, metadata.connect_timeout_ms)},
      {"timeout_ms", number(1, 600000, metadata.timeout_ms)},
      {"boot_timeout_ms", number(1, 600000, metadata.boot_timeout_ms)},
      {"attempts", number(1, 10, metadata.attempts)},
      {"backoff_ms", number(0, 60000, metadata.backoff_ms)},
      {"max_in_flight", number(1, 64, metadata.max_in_flight)},
  };
  OracleApiSettings& api = config.oracle.api;
  std::vector<Field> oracle_api_fields = {
      {"enabled", [&](const Value& v, const std::string& k) { return store(read_bool(report, v, k), api.enabled); }},
      {"federation_endpoint",
       [&](const Value& v, const std::string& k) {
         return store(read_api_endpoint(report, v, k), api.federation_endpoint);
       }},
      {"iaas_endpoint",
       [&](const Value& v, const std::string& k) { return store(read_api_endpoint(report, v, k), api.iaas_endpoint); }},
      {"ca_bundle",
       [&](const Value& v, const std::string& k) { return store(read_absolute_path(report, v, k), api.ca_bundle); }},
  };
  std::vector<Field> aws_fields = {
      {"allow_imdsv1",
       [&](const Value& v, const std::string& k) { return store(read_bool(report, v, k), config.aws.allow_imdsv1); }},
  };
  std::vector<Field> oracle_fields = {
      {"secondary_ips",
       [&](const Value& v, const std::string& k) { return read_secondary_ips(report, v, k, config.oracle); }},
      {"api", [&](const Value& v, const std::string& k) { return read_fields(report, v, k, oracle_api_fields); }},
  };
  std::vector<Field> fields = {
      {"vendor",
       [&](const Value& v, const std::string& k) -> Result<void> {
         NICSYNC_TRY_ASSIGN(size_t index, choice(v, k, {"auto", "aws", "oracle", "alibaba"},
                                                 "auto, aws, oracle or alibaba"));
         const std::optional<Vendor> vendors[] = {std::nullopt, Vendor::aws, Vendor::oracle, Vendor::alibaba};
         config.vendor = vendors[index];
         return {};
       }},
      {"renderer",
       [&](const Value& v, const std::string& k) -> Result<void> {
         NICSYNC_TRY_ASSIGN(size_t index, choice(v, k, {"auto", "netplan", "network-scripts"},
                                                 "auto, netplan or network-scripts"));
         const std::optional<RendererKind> renderers[] = {std::nullopt, RendererKind::netplan,
                                                          RendererKind::network_scripts};
         config.renderer = renderers[index];
         return {};
       }},
      {"live",
       [&](const Value& v, const std::string& k) {
         return store(read_auto_on_off<LiveMode>(report, v, k), config.live);
       }},
      {"policy_routing",
       [&](const Value& v, const std::string& k) {
         return store(read_auto_on_off<PolicyRouting>(report, v, k), config.policy_routing);
       }},
      {"table_base", number(1, 250000000, config.table_base)},
      {"rule_priority_base", number(1, 32000, config.rule_priority_base)},
      {"primary_rules",
       [&](const Value& v, const std::string& k) {
         return store(read_bool(report, v, k), config.primary_rules);
       }},
      {"secondary_addressing",
       [&](const Value& v, const std::string& k) -> Result<void> {
         NICSYNC_TRY_ASSIGN(size_t index, choice(v, k, {"static", "dhcp"}, "static or dhcp"));
         config.secondary_addressing = index == 0 ? Addressing::static_ : Addressing::dhcp;
         return {};
       }},
      {"interfaces",
       [&](const Value& v, const std::string& k) { return read_fields(report, v, k, interface_fields); }},
      {"metadata",
       [&](const Value& v, const std::string& k) { return read_fields(report, v, k, metadata_fields); }},
      {"oracle",
       [&](const Value& v, const std::string& k) { return read_fields(report, v, k, oracle_fields); }},
      {"aws", [&](const Value& v, const std::string& k) { return read_fields(report, v, k, aws_fields); }},
      {"lock_timeout_ms", number(0, 600000, config.lock_timeout_ms)},
  };
  NICSYNC_TRY(read_fields(report, top, "", fields));
  return config;
}

// ---- describing ----

std::string selectors_text(const std::vector<InterfaceSelector>& selectors) {
  std::string text = "[";
  for (size_t i = 0; i < selectors.size(); ++i) text += (i == 0 ? "" : ", ") + selectors[i].value;
  return text + "]";
}

std::string addresses_text(const std::vector<Ipv4Address>& addresses) {
  std::string text = "[";
  for (size_t i = 0; i < addresses.size(); ++i) text += (i == 0 ? "" : ", ") + addresses[i].str();
  return text + "]";
}

std::string_view mode_name(PolicyRouting mode) {
  switch (mode) {
    case PolicyRouting::automatic:
      return "auto";
    case PolicyRouting::on:
      return "on";
    case PolicyRouting::off:
      return "off";
  }
  return "auto";
}

std::string_view mode_name(LiveMode mode) {
  switch (mode) {
    case LiveMode::automatic:
      return "auto";
    case LiveMode::on:
      return "on";
    case LiveMode::off:
      return "off";
  }
  return "auto";
}

}  // namespace

// ---- InterfaceSelector ----

Result<InterfaceSelector> InterfaceSelector::parse(std::string_view text) {
  if (text.starts_with("eni-") || text.starts_with("ocid1.")) {
    NICSYNC_TRY_ASSIGN(ResourceId id, ResourceId::parse(text));
    return InterfaceSelector{Kind::id, id.str()};
  }
  if (Result<MacAddress> mac = MacAddress::parse(text); mac.ok())
    return InterfaceSelector{Kind::mac, mac->str()};
  if (Result<InterfaceName> name = InterfaceName::parse(text); name.ok()) {
    return InterfaceSelector{Kind::name, name->str()};
  }
  return Error{quote(text) + " is not an interface name, MAC address or resource id (eni-*, ocid1.*)"};
}

bool InterfaceSelector::matches(const Interface& nic) const {
  switch (kind) {
    case Kind::name:
      return nic.os_name && nic.os_name->str() == value;
    case Kind::mac:
      return nic.mac.str() == value;
    case Kind::id:
      return nic.id && nic.id->str() == value;
  }
  return false;
}

// ---- parsing ----

namespace {

/// Finds where a second, non-empty YAML document starts, by the parser's events alone. yaml-cpp's
/// own LoadAll() never returns on some malformed input (a top-level flow collection followed by
/// ",": it yields empty documents without end, allocating until memory runs out); this reads at
/// most kMaxDocuments documents.
class SecondDocumentFinder : public YAML::EventHandler {
 public:
  static constexpr int kMaxDocuments = 16;
  /// nullopt: one document (and perhaps empty ones after it, a trailing "---"); else the mark
  /// where the first non-empty later document's content starts.
  static std::optional<YAML::Mark> find(const std::string& text) {
    std::istringstream in(text);
    YAML::Parser parser(in);
    SecondDocumentFinder finder;
    for (int n = 0; n < kMaxDocuments && parser.HandleNextDocument(finder); ++n) {
      if (finder.found_) return finder.mark_;
    }
    if (finder.documents_ >= kMaxDocuments) return finder.last_start_;
    return std::nullopt;
  }

  void OnDocumentStart(const YAML::Mark& mark) override {
    ++documents_;
    last_start_ = mark;
  }
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark&, YAML::anchor_t) override {}
  void OnAlias(const YAML::Mark& mark, YAML::anchor_t) override { content(mark); }
  void OnScalar(const YAML::Mark& mark, const std::string&, YAML::anchor_t, const std::string&) override {
    content(mark);
  }
  void OnSequenceStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t, YAML::EmitterStyle::value) override {
    content(mark);
  }
  void OnSequenceEnd() override {}
  void OnMapStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t, YAML::EmitterStyle::value) override {
    content(mark);
  }
  void OnMapEnd() override {}

 private:
  void content(const YAML::Mark& mark) {
    if (documents_ > 1 && !found_) {
      found_ = true;
      mark_ = mark;
    }
  }
  int documents_ = 0;
  bool found_ = false;
  YAML::Mark mark_{};
  YAML::Mark last_start_{};
};

}  // namespace

Result<Config> parse_config(std::string_view text, const std::string& source_name) {
  Reporter report(source_name, Style::file);
  const std::string input(text);
  auto at = [&](const YAML::Mark& mark) {
    return source_name + ":" + std::to_string(mark.line + 1) + ":" + std::to_string(mark.column + 1) + ": ";
  };
  std::vector<YAML::Node> documents;
  try {
    if (std::optional<YAML::Mark> second = SecondDocumentFinder::find(input)) {
      return Error{at(*second) + "a second YAML document (a settings file holds one mapping)"};
    }
    documents.push_back(YAML::Load(input));  // the first document only
  } catch (const YAML::Exception& e) {
    return Error{at(e.mark) + printable(e.msg)};
  }
  if (documents[0].IsNull()) return Config{};
  std::optional<Value> top = YamlConverter().convert(documents[0]);
  if (!top) {
    return Error{source_name + ": more than " + std::to_string(kMaxYamlNodes) +
                 " values (do aliases expand into each other?)"};
  }
  return read_config(report, *top);
}

Result<Config> parse_user_data_override(std::string_view text, const std::string& source_name) {
  nlohmann::json json;
  try {
    json = nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    std::string message = e.what();
    if (size_t end = message.find("] "); message.starts_with("[json.exception") && end != std::string::npos) {
      message.erase(0, end + 2);  // drop "[json.exception.parse_error.101] "
    }
    return Error{source_name + ": not valid JSON: " + message};
  }
  if (!json.is_object()) return Error{source_name + ": expected a JSON object (cloud-config)"};
  auto nicsync = json.find("nicsync");
  if (nicsync == json.end()) return Config{};
  return read_config(Reporter(source_name, Style::user_data), from_json(*nicsync));
}

// ---- layers ----

Config merge(const Config& base, const Config& layer) {
  Config merged = base;
  auto take = [](auto& target, const auto& source) {
    if (source) target = source;
  };
  take(merged.vendor, layer.vendor);
  take(merged.renderer, layer.renderer);
  take(merged.live, layer.live);
  take(merged.policy_routing, layer.policy_routing);
  take(merged.table_base, layer.table_base);
  take(merged.rule_priority_base, layer.rule_priority_base);
  take(merged.primary_rules, layer.primary_rules);
  take(merged.secondary_addressing, layer.secondary_addressing);
  take(merged.interfaces.include, layer.interfaces.include);
  take(merged.interfaces.exclude, layer.interfaces.exclude);
  take(merged.interfaces.attach_timeout_ms, layer.interfaces.attach_timeout_ms);
  take(merged.metadata.url, layer.metadata.url);
  take(merged.metadata.connect_timeout_ms, layer.metadata.connect_timeout_ms);
  take(merged.metadata.timeout_ms, layer.metadata.timeout_ms);
  take(merged.metadata.boot_timeout_ms, layer.metadata.boot_timeout_ms);
  take(merged.metadata.attempts, layer.metadata.attempts);
  take(merged.metadata.backoff_ms, layer.metadata.backoff_ms);
  take(merged.metadata.max_in_flight, layer.metadata.max_in_flight);
  for (const auto& [vnic, addresses] : layer.oracle.secondary_ips)
    merged.oracle.secondary_ips[vnic] = addresses;
  take(merged.oracle.api.enabled, layer.oracle.api.enabled);
  take(merged.oracle.api.federation_endpoint, layer.oracle.api.federation_endpoint);
  take(merged.oracle.api.iaas_endpoint, layer.oracle.api.iaas_endpoint);
  take(merged.oracle.api.ca_bundle, layer.oracle.api.ca_bundle);
  take(merged.aws.allow_imdsv1, layer.aws.allow_imdsv1);
  take(merged.lock_timeout_ms, layer.lock_timeout_ms);
  return merged;
}

Result<Config> load_config(FileSystem& fs) {
  std::vector<std::string> paths = {std::string(kConfigPath)};
  NICSYNC_TRY_ASSIGN(std::vector<std::string> names, fs.list_directory(std::string(kConfigDropInDir)));
  std::sort(names.begin(), names.end());
  for (const std::string& name : names) {
    if (name.starts_with(".") || !name.ends_with(".yaml")) continue;
    paths.push_back(std::string(kConfigDropInDir) + "/" + name);
  }
  Config config;
  for (const std::string& path : paths) {
    NICSYNC_TRY_ASSIGN(std::optional<std::string> text, fs.read_file(path));
    if (!text) continue;
    NICSYNC_TRY_ASSIGN(Config layer, parse_config(*text, path));
    config = merge(config, layer);
  }
  const std::string user_data_path(kUserDataConfigPath);
  NICSYNC_TRY_ASSIGN(std::optional<std::string> user_data, fs.read_file(user_data_path));
  if (user_data) {
    NICSYNC_TRY_ASSIGN(Config layer, parse_user_data_override(*user_data, user_data_path));
    config = merge(config, layer);
  }
  return config;
}

Result<void> check_merged_config(const Config& config) {
  if (!config.rule_priority_base && config.table_base && *config.table_base > 32000) {
    return Error{"table_base: " + std::to_string(*config.table_base) +
                 " is above 32000, the highest rule priority base, so rule_priority_base must be set"};
  }
  return {};
}

std::string describe_config(const Config& config) {
  std::string out;
  auto line = [&out](std::string_view key, std::string_view value, bool is_default) {
    out += std::string(key) + ": " + std::string(value) + (is_default ? "  # default\n" : "\n");
  };
  auto number = [&line](std::string_view key, const std::optional<uint32_t>& value, uint32_t fallback) {
    line(key, std::to_string(value.value_or(fallback)), !value);
  };
  line("vendor", config.vendor ? vendor_name(*config.vendor) : "auto", !config.vendor);
  line("renderer", config.renderer ? renderer_name(*config.renderer) : "auto", !config.renderer);
  line("live", mode_name(config.live.value_or(LiveMode::automatic)), !config.live);
  line("policy_routing", mode_name(config.policy_routing.value_or(PolicyRouting::automatic)),
       !config.policy_routing);
  number("table_base", config.table_base, kDefaultTableBase);
  if (config.rule_priority_base) {
    number("rule_priority_base", config.rule_priority_base, kDefaultTableBase);
  } else {
    out += "rule_priority_base: " + std::to_string(config.table_base.value_or(kDefaultTableBase)) +
           "  # default: table_base\n";
  }
  if (!config.primary_rules && config.secondary_addressing == Addressing::dhcp) {
    out += "primary_rules: true  # default with secondary_addressing: dhcp\n";
  } else {
    line("primary_rules", config.primary_rules.value_or(false) ? "true" : "false", !config.primary_rules);
  }
  line("secondary_addressing",
       config.secondary_addressing.value_or(Addressing::static_) == Addressing::dhcp ? "dhcp" : "static",
       !config.secondary_addressing);
  number("lock_timeout_ms", config.lock_timeout_ms, kDefaultLockTimeoutMs);
  const InterfaceSettings& interfaces = config.interfaces;
  line("interfaces.include", interfaces.include ? selectors_text(*interfaces.include) : "all",
       !interfaces.include);
  line("interfaces.exclude", interfaces.exclude ? selectors_text(*interfaces.exclude) : "[]",
       !interfaces.exclude);
  number("interfaces.attach_timeout_ms", interfaces.attach_timeout_ms, kDefaultAttachTimeoutMs);
  const MetadataSettings& metadata = config.metadata;
  line("metadata.url", metadata.url.value_or("auto"), !metadata.url);
  number("metadata.connect_timeout_ms", metadata.connect_timeout_ms, kDefaultConnectTimeoutMs);
  number("metadata.timeout_ms", metadata.timeout_ms, kDefaultTimeoutMs);
  number("metadata.boot_timeout_ms", metadata.boot_timeout_ms, kDefaultBootTimeoutMs);
  number("metadata.attempts", metadata.attempts, kDefaultAttempts);
  number("metadata.backoff_ms", metadata.backoff_ms, kDefaultBackoffMs);
  number("metadata.max_in_flight", metadata.max_in_flight, kDefaultMaxInFlight);
  std::string ips = "{";
  for (const auto& [vnic, addresses] : config.oracle.secondary_ips) {
    ips += (ips.size() == 1 ? "" : ", ") + vnic.value + ": " + addresses_text(addresses);
  }
  line("oracle.secondary_ips", ips + "}", config.oracle.secondary_ips.empty());
  const OracleApiSettings& api = config.oracle.api;
  line("oracle.api.enabled", api.enabled.value_or(true) ? "true" : "false", !api.enabled);
  line("oracle.api.federation_endpoint", api.federation_endpoint.value_or("auto"), !api.federation_endpoint);
  line("oracle.api.iaas_endpoint", api.iaas_endpoint.value_or("auto"), !api.iaas_endpoint);
  line("oracle.api.ca_bundle", api.ca_bundle.value_or("system"), !api.ca_bundle);
  line("aws.allow_imdsv1", config.aws.allow_imdsv1.value_or(false) ? "true" : "false", !config.aws.allow_imdsv1);
  return out;
}

}  // namespace nicsync
