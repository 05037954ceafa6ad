// nicsync's last good view: the Instance of the last complete fetch, as JSON, and back.
//
// Every key is always written (null or [] when empty), in a fixed order. The parser trusts
// nothing: each value goes through its value type's parse(), and the invariants the providers
// guarantee (one primary, no MAC twice, addresses inside their subnet) are checked again. Missing
// optional keys read as absent, and unknown keys are ignored, so that a view written by another
// version of nicsync still reads.

#include <algorithm>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "metadata/json_text.hpp"
#include "nicsync/metadata_sources.hpp"

namespace nicsync {

namespace {

using Json = nlohmann::json;

constexpr std::string_view kFormat = "nicsync-last-good/1";

// ---- rendering ----
//
// Written as text, laid out exactly as nlohmann's dump(2) lays out the same document (the
// file's format since it was introduced): building an ordered_json first was 12% of a no-op
// rerun's instructions at 15 x 50.

/// JSON text of the view: two spaces per level, "key": value, [] and {} when empty.
class ViewText {
 public:
  std::string take() { return std::move(out_); }

  void begin(char bracket) {
    out_ += bracket;
    first_ = true;
    ++depth_;
  }
  void end(char bracket) {
    --depth_;
    if (!first_) {
      out_ += '\n';
      out_.append(static_cast<size_t>(depth_) * 2, ' ');
    }
    out_ += bracket;
    first_ = false;
  }
  /// Starts the next member of the current object (its key) or element of the current array.
  void next(std::string_view key = {}) {
    if (!first_) out_ += ',';
    out_ += '\n';
    out_.append(static_cast<size_t>(depth_) * 2, ' ');
    first_ = false;
    if (!key.empty()) {
      string(key);
      out_ += ": ";
    }
  }
  void string(std::string_view text) {
    static constexpr char kHex[] = "0123456789abcdef";
    out_ += '"';
    for (char ch : text) {
      const auto c = static_cast<unsigned char>(ch);
      switch (c) {
        case '"': out_ += "\\\""; break;
        case '\\': out_ += "\\\\"; break;
        case '\b': out_ += "\\b"; break;
        case '\f': out_ += "\\f"; break;
        case '\n': out_ += "\\n"; break;
        case '\r': out_ += "\\r"; break;
        case '\t': out_ += "\\t"; break;
        default:
          if (c < 0x20) {
            out_ += "\\u00";
            out_ += kHex[c >> 4];
            out_ += kHex[c & 0xf];
          } else {
            out_ += ch;
          }
      }
    }
    out_ += '"';
  }
  void number(int value) { out_ += std::to_string(value); }
  void null() { out_ += "null"; }

  template <typename T>
  void optional_string(const std::optional<T>& value) {
    if (value) string(value->str());
    else null();
  }
  void optional_number(const std::optional<int>& value) {
    if (value) number(*value);
    else null();
  }
  template <typename T>
  void strings(const std::vector<T>& values) {
    begin('[');
    for (const T& value : values) {
      next();
      string(value.str());
    }
    end(']');
  }

 private:
  std::string out_;
  int depth_ = 0;
  bool first_ = true;
};

/// Address -> label; an address listed twice keeps its first place and its last label, as a
/// JSON object assigned key by key would.
void write_labels(ViewText& out, const std::vector<HostnameLabel>& values) {
  std::vector<std::pair<std::string, std::string_view>> members;
  for (const HostnameLabel& value : values) {
    std::string address = value.address.str();
    auto same = std::find_if(members.begin(), members.end(), [&](const auto& m) { return m.first == address; });
    if (same != members.end()) same->second = value.label;
    else members.emplace_back(std::move(address), value.label);
  }
  out.begin('{');
  for (const auto& [address, label] : members) {
    out.next(address);
    out.string(label);
  }
  out.end('}');
}

void write_interface(ViewText& out, const Interface& nic) {
  out.begin('{');
  out.next("mac");
  out.string(nic.mac.str());
  out.next("role");
  out.string(nic.role == NicRole::primary ? "primary" : "secondary");
  out.next("index");
  out.optional_number(nic.index);
  out.next("card");
  out.number(nic.card);
  out.next("id");
  out.optional_string(nic.id);
  out.next("ipv4");
  out.begin('{');
  out.next("addresses");
  out.strings(nic.ipv4.addresses);
  out.next("subnet");
  out.optional_string(nic.ipv4.subnet);
  out.next("gateway");
  out.optional_string(nic.ipv4.gateway);
  out.next("delegated_prefixes");
  out.strings(nic.ipv4.delegated_prefixes);
  out.next("hostname_labels");
  write_labels(out, nic.ipv4.hostname_labels);
  out.end('}');
  out.next("ipv6");
  out.begin('{');
  out.next("addresses");
  out.strings(nic.ipv6.addresses);
  out.next("subnets");
  out.strings(nic.ipv6.subnets);
  out.next("gateway");
  out.optional_string(nic.ipv6.gateway);
  out.next("delegated_prefixes");
  out.strings(nic.ipv6.delegated_prefixes);
  out.end('}');
  out.next("vlan");
  if (nic.vlan) {
    out.begin('{');
    out.next("id");
    out.number(nic.vlan->id);
    out.next("parent_nic_index");
    out.number(nic.vlan->parent_nic_index);
    out.end('}');
  } else {
    out.null();
  }
  out.next("nic_index");
  out.optional_number(nic.nic_index);
  out.end('}');
}

// ---- parsing ----

Error error_at(const std::string& where, const std::string& what) { return Error{where + ": " + what}; }

/// "interfaces[0].ipv4" + "subnet" -> "interfaces[0].ipv4.subnet"; top-level keys stand alone.
std::string path(const std::string& where, const char* key) {
  return where.empty() ? key : where + "." + key;
}

bool is_string(const Json* value, std::string_view text) {
  return value != nullptr && value->is_string() && value->get_ref<const std::string&>() == text;
}

/// The member `key` of `object`; nullptr when it is missing or JSON null.
const Json* member(const Json& object, const char* key) {
  auto it = object.find(key);
  if (it == object.end() || it->is_null()) return nullptr;
  return &*it;
}

/// A string value parsed by T::parse.
template <typename T>
Result<T> parse_value(const Json& value, const std::string& where) {
  if (!value.is_string()) return error_at(where, shown(value) + " is not a string");
  auto parsed = T::parse(value.get_ref<const std::string&>());
  if (!parsed.ok()) return error_at(where, parsed.error().message);
  return parsed;
}

template <typename T>
Result<std::optional<T>> parse_optional(const Json& object, const char* key, const std::string& where) {
  const Json* value = member(object, key);
  if (value == nullptr) return std::optional<T>();
  NICSYNC_TRY_ASSIGN(T parsed, parse_value<T>(*value, path(where, key)));
  return std::optional<T>(std::move(parsed));
}

/// A list of distinct values parsed by T::parse; missing or null is empty.
template <typename T>
Result<std::vector<T>> parse_list(const Json& object, const char* key, const std::string& where) {
  std::vector<T> values;
  const Json* list = member(object, key);
  if (list == nullptr) return values;
  std::string at = path(where, key);
  if (!list->is_array()) return error_at(at, shown(*list) + " is not a list");
  for (size_t i = 0; i < list->size(); ++i) {
    std::string item_at = at + "[" + std::to_string(i) + "]";
    NICSYNC_TRY_ASSIGN(T value, parse_value<T>((*list)[i], item_at));
    if (std::find(values.begin(), values.end(), value) != values.end()) {
      return error_at(item_at, quote(value.str()) + " is listed twice");
    }
    values.push_back(std::move(value));
  }
  return values;
}

/// A whole number from `low` to `high`; nullopt when missing or null.
Result<std::optional<int>> parse_number(const Json& object, const char* key, const std::string& where,
                                        int low, int high) {
  const Json* value = member(object, key);
  if (value == nullptr) return std::optional<int>();
  bool valid = value->is_number_integer();
  int64_t number = valid ? value->get<int64_t>() : 0;
  if (!valid || number < low || number > high) {
    return error_at(path(where, key), shown(*value) + " is not a number from " + std::to_string(low) +
                                          " to " + std::to_string(high));
  }
  return std::optional<int>(static_cast<int>(number));
}

/// A member that must be an object when present; nullptr when missing or null.
Result<const Json*> parse_object(const Json& object, const char* key, const std::string& where) {
  const Json* value = member(object, key);
  if (value != nullptr && !value->is_object())
    return error_at(path(where, key), shown(*value) + " is not an object");
  return value;
}

Result<Ipv4Config> parse_ipv4(const Json& nic, const std::string& where) {
  Ipv4Config config;
  NICSYNC_TRY_ASSIGN(const Json* ipv4, parse_object(nic, "ipv4", where));
  if (ipv4 == nullptr) return config;
  std::string at = where + ".ipv4";
  NICSYNC_TRY_ASSIGN(config.addresses, parse_list<Ipv4Address>(*ipv4, "addresses", at));
  NICSYNC_TRY_ASSIGN(config.subnet, parse_optional<Ipv4Cidr>(*ipv4, "subnet", at));
  NICSYNC_TRY_ASSIGN(config.gateway, parse_optional<Ipv4Address>(*ipv4, "gateway", at));
  NICSYNC_TRY_ASSIGN(config.delegated_prefixes, parse_list<Ipv4Cidr>(*ipv4, "delegated_prefixes", at));
  if (!config.addresses.empty() && (!config.subnet || !config.gateway)) {
    return error_at(at, "has addresses but no subnet and gateway");
  }
  for (size_t i = 0; i < config.addresses.size(); ++i) {
    if (!config.subnet->contains(config.addresses[i])) {
      return error_at(at + ".addresses[" + std::to_string(i) + "]",
                      config.addresses[i].str() + " is outside the subnet " + config.subnet->str());
    }
  }
  NICSYNC_TRY_ASSIGN(const Json* labels, parse_object(*ipv4, "hostname_labels", at));
  if (labels != nullptr) {
    for (const auto& [key, value] : labels->items()) {
      auto address = Ipv4Address::parse(key);
      if (!address.ok()) return error_at(at + ".hostname_labels", "key " + address.error().message);
      std::string label_at = at + ".hostname_labels." + address->str();
      if (std::find(config.addresses.begin(), config.addresses.end(), *address) == config.addresses.end()) {
        return error_at(label_at, "names an address the interface does not have");
      }
      if (!value.is_string() || !is_hostname_label(value.get_ref<const std::string&>())) {
        return error_at(label_at, shown(value) + " is not a host name label");
      }
      config.hostname_labels.push_back({*address, value.get<std::string>()});
    }
  }
  if (config.subnet && config.gateway && !config.subnet->contains(*config.gateway)) {
    return error_at(at + ".gateway",
                    config.gateway->str() + " is outside the subnet " + config.subnet->str());
  }
  return config;
}

Result<Ipv6Config> parse_ipv6(const Json& nic, const std::string& where) {
  Ipv6Config config;
  NICSYNC_TRY_ASSIGN(const Json* ipv6, parse_object(nic, "ipv6", where));
  if (ipv6 == nullptr) return config;
  std::string at = where + ".ipv6";
  NICSYNC_TRY_ASSIGN(config.addresses, parse_list<Ipv6Address>(*ipv6, "addresses", at));
  NICSYNC_TRY_ASSIGN(config.subnets, parse_list<Ipv6Cidr>(*ipv6, "subnets", at));
  NICSYNC_TRY_ASSIGN(config.gateway, parse_optional<Ipv6Address>(*ipv6, "gateway", at));
  NICSYNC_TRY_ASSIGN(config.delegated_prefixes, parse_list<Ipv6Cidr>(*ipv6, "delegated_prefixes", at));
  return config;
}

Result<Interface> parse_interface(const Json& nic, const std::string& where) {
  if (!nic.is_object()) return error_at(where, shown(nic) + " is not an object");
  Interface out;
  const Json* mac = member(nic, "mac");
  if (mac == nullptr) return error_at(where, "\"mac\" is missing");
  NICSYNC_TRY_ASSIGN(out.mac, parse_value<MacAddress>(*mac, where + ".mac"));

  const Json* role = member(nic, "role");
  if (role == nullptr) return error_at(where, "\"role\" is missing");
  if (is_string(role, "primary")) {
    out.role = NicRole::primary;
  } else if (is_string(role, "secondary")) {
    out.role = NicRole::secondary;
  } else {
    return error_at(where + ".role", shown(*role) + " is not \"primary\" or \"secondary\"");
  }

  NICSYNC_TRY_ASSIGN(out.index, parse_number(nic, "index", where, 0, 255));
  NICSYNC_TRY_ASSIGN(std::optional<int> card, parse_number(nic, "card", where, 0, 255));
  out.card = card.value_or(0);
  NICSYNC_TRY_ASSIGN(out.id, parse_optional<ResourceId>(nic, "id", where));
  NICSYNC_TRY_ASSIGN(out.ipv4, parse_ipv4(nic, where));
  NICSYNC_TRY_ASSIGN(out.ipv6, parse_ipv6(nic, where));

  NICSYNC_TRY_ASSIGN(const Json* vlan, parse_object(nic, "vlan", where));
  if (vlan != nullptr) {
    std::string at = where + ".vlan";
    NICSYNC_TRY_ASSIGN(std::optional<int> id, parse_number(*vlan, "id", at, 1, 4094));
    NICSYNC_TRY_ASSIGN(std::optional<int> parent, parse_number(*vlan, "parent_nic_index", at, 0, 255));
    if (!id || !parent) return error_at(at, "needs \"id\" and \"parent_nic_index\"");
    out.vlan = VlanInfo{.id = *id, .parent_nic_index = *parent};
  }
  NICSYNC_TRY_ASSIGN(out.nic_index, parse_number(nic, "nic_index", where, 0, 255));
  return out;
}

Result<Instance> parse_view(std::string_view text, Vendor vendor) {
  Json doc = Json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
  const Json* format = doc.is_object() ? member(doc, "format") : nullptr;
  if (!is_string(format, kFormat)) {
    return Error{"not a nicsync last good view (expected a JSON object with \"format\": \"" +
                 std::string(kFormat) + "\")"};
  }
  Instance instance;
  const Json* saved_vendor = member(doc, "vendor");
  if (saved_vendor == nullptr) return Error{"\"vendor\" is missing"};
  if (!saved_vendor->is_string()) return error_at("vendor", shown(*saved_vendor) + " is not a string");
  auto saved = parse_vendor(saved_vendor->get_ref<const std::string&>());
  if (!saved.ok()) return error_at("vendor", saved.error().message);
  instance.vendor = *saved;
  if (instance.vendor != vendor) {
    return Error{"was saved on " + std::string(vendor_name(instance.vendor)) + ", not " +
                 std::string(vendor_name(vendor)) + " (was the image moved to another cloud?)"};
  }
  NICSYNC_TRY_ASSIGN(instance.instance_id, parse_optional<ResourceId>(doc, "instance_id", ""));

  const Json* interfaces = member(doc, "interfaces");
  if (interfaces == nullptr || !interfaces->is_array() || interfaces->empty()) {
    return Error{"\"interfaces\" is not a non-empty list"};
  }
  for (size_t i = 0; i < interfaces->size(); ++i) {
    std::string where = "interfaces[" + std::to_string(i) + "]";
    NICSYNC_TRY_ASSIGN(Interface nic, parse_interface((*interfaces)[i], where));
    for (const Interface& earlier : instance.interfaces) {
      if (earlier.mac == nic.mac) return error_at(where + ".mac", nic.mac.str() + " is listed twice");
    }
    instance.interfaces.push_back(std::move(nic));
  }
  auto primaries = std::count_if(instance.interfaces.begin(), instance.interfaces.end(),
                                 [](const Interface& nic) { return nic.role == NicRole::primary; });
  if (primaries != 1) return Error{"has " + std::to_string(primaries) + " primary interfaces, not one"};
  return instance;
}

}  // namespace

std::string render_last_good(const Instance& instance) {
  ViewText out;
  out.begin('{');
  out.next("format");
  out.string(kFormat);
  out.next("vendor");
  out.string(vendor_name(instance.vendor));
  out.next("instance_id");
  out.optional_string(instance.instance_id);
  out.next("interfaces");
  out.begin('[');
  for (const Interface& nic : instance.interfaces) {
    out.next();
    write_interface(out, nic);
  }
  out.end(']');
  out.end('}');
  return out.take() + "\n";
}

Result<Instance> parse_last_good(std::string_view text, Vendor vendor, const std::string& source_name) {
  auto instance = parse_view(text, vendor);
  if (!instance.ok()) return with_context(source_name + ": ", instance.error());
  return instance;
}

}  // namespace nicsync
