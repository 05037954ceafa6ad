#include "app/describe.hpp"

#include <nlohmann/json.hpp>

namespace nicsync {

namespace {

template <typename T>
std::string join(const std::vector<T>& values, const char* separator) {
  std::string out;
  for (const T& value : values) {
    if (!out.empty()) out += separator;
    out += value.str();
  }
  return out;
}

template <typename T>
nlohmann::json strings(const std::vector<T>& values) {
  nlohmann::json out = nlohmann::json::array();
  for (const T& value : values) out.push_back(value.str());
  return out;
}

template <typename T>
nlohmann::json optional_string(const std::optional<T>& value) {
  return value ? nlohmann::json(value->str()) : nlohmann::json(nullptr);
}

nlohmann::json hostname_labels(const std::vector<HostnameLabel>& labels) {
  nlohmann::json out = nlohmann::json::object();
  for (const HostnameLabel& label : labels) out[label.address.str()] = label.label;
  return out;
}

}  // namespace

std::string describe_text(const Instance& instance) {
  std::string out = std::string(vendor_name(instance.vendor)) + " instance " +
                    (instance.instance_id ? instance.instance_id->str() : "(no id)") + "\n";
  for (const Interface& nic : instance.interfaces) {
    out += (nic.os_name ? nic.os_name->str() : "(no local interface)") + " " + nic.mac.str() +
           (nic.role == NicRole::primary ? " primary" : " secondary") +
           " card " + std::to_string(nic.card) +
           " index " + (nic.index ? std::to_string(*nic.index) : "?") +
           (nic.id ? " " + nic.id->str() : "") + "\n";
    if (!nic.ipv4.addresses.empty()) {
      out += "  ipv4 " + join(nic.ipv4.addresses, " ") +
             (nic.ipv4.subnet ? " subnet " + nic.ipv4.subnet->str() : "") +
             (nic.ipv4.gateway ? " gateway " + nic.ipv4.gateway->str() : "") + "\n";
    }
    if (!nic.ipv4.delegated_prefixes.empty()) out += "  ipv4 prefixes " + join(nic.ipv4.delegated_prefixes, " ") + "\n";
    if (!nic.ipv4.hostname_labels.empty()) {
      out += "  ipv4 hostnames";
      for (const HostnameLabel& label : nic.ipv4.hostname_labels) out += " " + label.address.str() + "=" + label.label;
      out += "\n";
    }
    if (!nic.ipv6.addresses.empty()) {
      out += "  ipv6 " + join(nic.ipv6.addresses, " ") +
             (nic.ipv6.subnets.empty() ? "" : " subnet " + join(nic.ipv6.subnets, " ")) +
             (nic.ipv6.gateway ? " gateway " + nic.ipv6.gateway->str() : "") + "\n";
    }
    if (!nic.ipv6.delegated_prefixes.empty()) out += "  ipv6 prefixes " + join(nic.ipv6.delegated_prefixes, " ") + "\n";
    if (nic.vlan) {
      out += "  vlan " + std::to_string(nic.vlan->id) + " on nic " + std::to_string(nic.vlan->parent_nic_index) + "\n";
    }
  }
  return out;
}

std::string describe_json(const Instance& instance) {
  nlohmann::json nics = nlohmann::json::array();
  for (const Interface& nic : instance.interfaces) {
    nlohmann::json entry = {
        {"name", optional_string(nic.os_name)},
        {"mac", nic.mac.str()},
        {"role", nic.role == NicRole::primary ? "primary" : "secondary"},
        {"card", nic.card},
        {"index", nic.index ? nlohmann::json(*nic.index) : nlohmann::json(nullptr)},
        {"id", optional_string(nic.id)},
        {"ipv4",
         {{"addresses", strings(nic.ipv4.addresses)},
          {"subnet", optional_string(nic.ipv4.subnet)},
          {"gateway", optional_string(nic.ipv4.gateway)},
          {"prefixes", strings(nic.ipv4.delegated_prefixes)},
          {"hostname_labels", hostname_labels(nic.ipv4.hostname_labels)}}},
        {"ipv6",
         {{"addresses", strings(nic.ipv6.addresses)},
          {"subnets", strings(nic.ipv6.subnets)},
          {"gateway", optional_string(nic.ipv6.gateway)},
          {"prefixes", strings(nic.ipv6.delegated_prefixes)}}},
        {"vlan", nic.vlan ? nlohmann::json{{"id", nic.vlan->id}, {"parent_nic_index", nic.vlan->parent_nic_index}}
                          : nlohmann::json(nullptr)},
    };
    nics.push_back(std::move(entry));
  }
  nlohmann::json doc = {{"vendor", std::string(vendor_name(instance.vendor))},
                        {"instance_id", optional_string(instance.instance_id)},
                        {"interfaces", nics}};
  return doc.dump(2) + "\n";
}

}  // namespace nicsync
