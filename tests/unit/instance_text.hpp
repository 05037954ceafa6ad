#pragma once
/// Text views for the metadata tests: an Instance with every field, one line per NIC, and what a
/// FakeHttpClient was asked, so expectations compare whole strings exactly.

#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "fake_http.hpp"
#include "nicsync/model.hpp"

namespace nicsync::test {

/// The values' str(), separated by single spaces.
template <typename T>
std::string join(const std::vector<T>& values) {
  std::string out;
  for (const T& value : values) out += (out.empty() ? "" : " ") + value.str();
  return out;
}

/// The value's str(), or "-" when empty.
template <typename T>
std::string optional_str(const std::optional<T>& value) {
  return value ? value->str() : "-";
}

/// Every field of an Instance, one line per NIC, to compare exactly.
inline std::string describe(const Instance& instance) {
  std::ostringstream out;
  out << vendor_name(instance.vendor) << " " << optional_str(instance.instance_id) << "\n";
  for (const Interface& nic : instance.interfaces) {
    out << nic.card << "/" << (nic.index ? std::to_string(*nic.index) : "-") << " " << nic.mac.str() << " "
        << (nic.role == NicRole::primary ? "primary" : "secondary") << " id=" << optional_str(nic.id)
        << " os=" << optional_str(nic.os_name) << " v4=" << join(nic.ipv4.addresses)
        << " subnet=" << optional_str(nic.ipv4.subnet) << " gw=" << optional_str(nic.ipv4.gateway)
        << " v4prefix=" << join(nic.ipv4.delegated_prefixes) << " v6=" << join(nic.ipv6.addresses)
        << " v6subnets=" << join(nic.ipv6.subnets) << " v6gw=" << optional_str(nic.ipv6.gateway)
        << " v6prefix=" << join(nic.ipv6.delegated_prefixes) << " vlan="
        << (nic.vlan ? std::to_string(nic.vlan->id) + "@" + std::to_string(nic.vlan->parent_nic_index) : "-")
        << "\n";
  }
  return out.str();
}

/// "PUT /latest/api/token", one line per request, the endpoint left out.
inline std::string request_lines(const testing::FakeHttpClient& fake) {
  std::string out;
  for (const HttpRequest& request : fake.requests) {
    std::string path = request.url.substr(request.url.find('/', std::string("http://").size()));
    out += (request.method == HttpMethod::put ? "PUT " : "GET ") + path + "\n";
  }
  return out;
}

/// How many requests each perform() carried, e.g. "1 3 2 8": one number per round trip.
inline std::string batches(const testing::FakeHttpClient& fake) {
  std::string out;
  for (size_t size : fake.batch_sizes) out += (out.empty() ? "" : " ") + std::to_string(size);
  return out;
}

}  // namespace nicsync::test
