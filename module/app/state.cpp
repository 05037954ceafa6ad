#include "app/state.hpp"

#include <algorithm>
#include <nlohmann/json.hpp>

namespace nicsync {

namespace {

Result<OwnedAddress> parse_owned(const nlohmann::json& entry) {
  if (!entry.is_object() || !entry.contains("dev") || !entry.contains("address") || !entry["dev"].is_string() ||
      !entry["address"].is_string()) {
    return Error{"\"addresses\" holds an entry without \"dev\" and \"address\""};
  }
  auto dev = InterfaceName::parse(entry["dev"].get<std::string>());
  if (!dev.ok()) return dev.error();
  // "10.0.0.226/24" or "2600:1f16::1/128"; without a prefix length, the whole address.
  std::string text = entry["address"].get<std::string>();
  size_t slash = text.find('/');
  std::string bare = text.substr(0, slash);
  std::string length = slash == std::string::npos ? "" : "/" + text.substr(slash + 1);
  if (bare.find(':') == std::string::npos) {
    auto address = Ipv4Address::parse(bare);
    if (!address.ok()) return address.error();
    auto cidr = Ipv4Cidr::parse("0.0.0.0" + (length.empty() ? "/32" : length));
    if (!cidr.ok()) return Error{quote(text) + " is not an address with a prefix length"};
    return OwnedAddress{dev->str(), *address, cidr->prefix_length()};
  }
  auto address = Ipv6Address::parse(bare);
  if (!address.ok()) return address.error();
  auto cidr = Ipv6Cidr::parse("::" + (length.empty() ? "/128" : length));
  if (!cidr.ok()) return Error{quote(text) + " is not an address with a prefix length"};
  return OwnedAddress{dev->str(), *address, cidr->prefix_length()};
}

}  // namespace

Result<State> parse_state(std::string_view text) {
  nlohmann::json doc = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded() || !doc.is_object() || !doc.contains("files") || !doc["files"].is_array()) {
    return Error{"not a nicsync state file (expected {\"files\": [...]})"};
  }
  State state;
  for (const auto& entry : doc["files"]) {
    if (!entry.is_string()) return Error{"\"files\" holds a value that is not a path"};
    std::string path = entry.get<std::string>();
    if (path.empty() || path[0] != '/' || path.find("/../") != std::string::npos) {
      return Error{quote(path) + " is not an absolute path"};
    }
    state.files.push_back(std::move(path));
  }
  if (doc.contains("addresses")) {
    if (!doc["addresses"].is_array()) return Error{"\"addresses\" is not a list"};
    for (const auto& entry : doc["addresses"]) {
      NICSYNC_TRY_ASSIGN(OwnedAddress owned, parse_owned(entry));
      state.addresses.push_back(std::move(owned));
    }
  }
  std::sort(state.files.begin(), state.files.end());
  std::sort(state.addresses.begin(), state.addresses.end());
  return state;
}

std::string render_state(const State& state) {
  nlohmann::json addresses = nlohmann::json::array();
  for (const OwnedAddress& a : state.addresses) {
    addresses.push_back({{"dev", a.dev}, {"address", a.address.str() + "/" + std::to_string(a.prefix_length)}});
  }
  nlohmann::json doc = {{"format", "nicsync-state/1"}, {"files", state.files}, {"addresses", addresses}};
  return doc.dump(2) + "\n";
}

Result<State> load_state(FileSystem& fs) {
  NICSYNC_TRY_ASSIGN(std::optional<std::string> text, fs.read_own_file(kStatePath));
  if (!text) return State{};
  auto state = parse_state(*text);
  if (!state.ok()) return with_context(std::string(kStatePath) + ": ", state.error());
  return state;
}

FileWrite state_file_write(const State& state) {
  State sorted = state;
  std::sort(sorted.files.begin(), sorted.files.end());
  std::sort(sorted.addresses.begin(), sorted.addresses.end());
  return FileWrite{kStatePath, render_state(sorted), 0644};
}

Result<void> save_state(FileSystem& fs, const State& state, const State& previous) {
  if (state == previous) return {};
  return fs.commit({state_file_write(state)});
}

}  // namespace nicsync
