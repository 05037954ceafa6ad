#include "app/state.hpp"

#include <algorithm>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace nicsync {

namespace {

constexpr const char* kNotState = "not a nicsync state file (expected {\"files\": [...]})";
constexpr const char* kNotPath = "\"files\" holds a value that is not a path";
constexpr const char* kNotOwned = "\"addresses\" holds an entry without \"dev\" and \"address\"";

Result<std::string> checked_path(std::string path) {
  if (path.empty() || path[0] != '/' || path.find("/../") != std::string::npos) {
    return Error{quote(path) + " is not an absolute path"};
  }
  return path;
}

Result<OwnedAddress> parse_owned(const std::string& dev_text, const std::string& text) {
  auto dev = InterfaceName::parse(dev_text);
  if (!dev.ok()) return dev.error();
  // "10.0.0.226/24" or "2600:1f16::1/128"; without a prefix length, the whole address.
  size_t slash = text.find('/');
  std::string bare = text.substr(0, slash);
  std::string length = slash == std::string::npos ? "" : text.substr(slash);  // "/24"
  if (bare.find(':') == std::string::npos) {
    auto address = Ipv4Address::parse(bare);
    if (!address.ok()) return address.error();
    auto cidr = Ipv4Cidr::parse(std::string("0.0.0.0").append(length.empty() ? "/32" : length));
    if (!cidr.ok()) return Error{quote(text) + " is not an address with a prefix length"};
    return OwnedAddress{dev->str(), *address, cidr->prefix_length()};
  }
  auto address = Ipv6Address::parse(bare);
  if (!address.ok()) return address.error();
  auto cidr = Ipv6Cidr::parse(std::string("::").append(length.empty() ? "/128" : length));
  if (!cidr.ok()) return Error{quote(text) + " is not an address with a prefix length"};
  return OwnedAddress{dev->str(), *address, cidr->prefix_length()};
}

/// Reads the state file's JSON as it streams by (nlohmann's SAX interface) instead of building
/// the document's tree first, which cost most of a no-op rerun's reading of the state. It
/// accepts and refuses what reading the tree did: of repeated keys the last counts, the first
/// bad "files" entry is reported before the first bad "addresses" entry, keys the state does
/// not know are skipped.
class StateReader final : public nlohmann::json_sax<nlohmann::json> {
 public:
  Result<State> result(bool parsed) {
    if (!parsed || top_ != Kind::object || files_ != Kind::array) return Error{kNotState};
    if (files_error_) return *files_error_;
    if (addresses_ != Kind::none && addresses_ != Kind::array) return Error{"\"addresses\" is not a list"};
    if (addresses_error_) return *addresses_error_;
    return std::move(state_);
  }

  bool null() override { return value(nullptr, false); }
  bool boolean(bool) override { return value(nullptr, false); }
  bool number_integer(number_integer_t) override { return value(nullptr, false); }
  bool number_unsigned(number_unsigned_t) override { return value(nullptr, false); }
  bool number_float(number_float_t, const string_t&) override { return value(nullptr, false); }
  bool string(string_t& text) override { return value(&text, false); }
  bool binary(binary_t&) override { return value(nullptr, false); }
  bool start_object(std::size_t) override { return value(nullptr, true, /*object=*/true); }
  bool start_array(std::size_t) override { return value(nullptr, true); }
  bool key(string_t& name) override {
    key_ = std::move(name);
    return true;
  }
  bool end_object() override { return end(); }
  bool end_array() override { return end(); }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception&) override {
    return false;
  }

 private:
  /// What a value is, as far as the state cares.
  enum class Kind { none, object, array, other };
  /// The container being read.
  enum class Where { top, files, addresses, entry, skipped };

  /// One value: `text` for a string; `container` when it opens an object or array.
  bool value(string_t* text, bool container, bool object = false) {
    const Kind kind = !container ? Kind::other : object ? Kind::object : Kind::array;
    if (stack_.empty()) {
      top_ = kind;
      if (container) stack_.push_back(kind == Kind::object ? Where::top : Where::skipped);
      return true;
    }
    Where opened = Where::skipped;
    switch (stack_.back()) {
      case Where::top:
        if (key_ == "files") {
          files_ = kind;
          state_.files.clear();
          files_error_.reset();
          if (kind == Kind::array) opened = Where::files;
        } else if (key_ == "addresses") {
          addresses_ = kind;
          state_.addresses.clear();
          addresses_error_.reset();
          if (kind == Kind::array) opened = Where::addresses;
        }
        break;
      case Where::files:
        if (text == nullptr) {
          if (!files_error_) files_error_ = Error{kNotPath};
        } else if (!files_error_) {
          auto path = checked_path(std::move(*text));
          if (path.ok()) {
            state_.files.push_back(std::move(*path));
          } else {
            files_error_ = path.error();
          }
        }
        break;
      case Where::addresses:
        if (kind == Kind::object) {
          opened = Where::entry;
          dev_.reset();
          address_.reset();
        } else if (!addresses_error_) {
          addresses_error_ = Error{kNotOwned};
        }
        break;
      case Where::entry:
        if (key_ == "dev" || key_ == "address") {
          (key_ == "dev" ? dev_ : address_) =
              text != nullptr ? std::optional<std::string>(std::move(*text)) : std::nullopt;
        }
        break;
      case Where::skipped:
        break;
    }
    if (container) stack_.push_back(opened);
    return true;
  }

  bool end() {
    const Where closed = stack_.back();
    stack_.pop_back();
    if (closed == Where::entry && !addresses_error_) {
      if (!dev_ || !address_) {
        addresses_error_ = Error{kNotOwned};
      } else {
        auto owned = parse_owned(*dev_, *address_);
        if (owned.ok()) {
          state_.addresses.push_back(std::move(*owned));
        } else {
          addresses_error_ = owned.error();
        }
      }
    }
    return true;
  }

  std::vector<Where> stack_;
  std::string key_;
  Kind top_ = Kind::none;
  Kind files_ = Kind::none;
  Kind addresses_ = Kind::none;
  State state_;
  std::optional<Error> files_error_;
  std::optional<Error> addresses_error_;
  std::optional<std::string> dev_;  ///< of the "addresses" entry being read; nullopt: absent or not a string
  std::optional<std::string> address_;  ///< likewise
};

}  // namespace

Result<State> parse_state(std::string_view text) {
  StateReader reader;
  const bool parsed = nlohmann::json::sax_parse(text, &reader);
  NICSYNC_TRY_ASSIGN(State state, reader.result(parsed));
  // Written sorted (state_file_write), so usually sorted already.
  if (!std::is_sorted(state.files.begin(), state.files.end())) {
    std::sort(state.files.begin(), state.files.end());
  }
  if (!std::is_sorted(state.addresses.begin(), state.addresses.end())) {
    std::sort(state.addresses.begin(), state.addresses.end());
  }
  return state;
}

std::string render_state(const State& state) {
  nlohmann::json addresses = nlohmann::json::array();
  for (const OwnedAddress& a : state.addresses) {
    addresses.push_back(
        {{"dev", a.dev}, {"address", a.address.str() + "/" + std::to_string(a.prefix_length)}});
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
  const FileWrite write = state_file_write(state);
  return fs.write_file_atomic(write.path, *write.content, write.mode);
}

}  // namespace nicsync
