#pragma once
/// nicsync's state file: what it owns on disk and in the kernel, across runs.

#include <string>
#include <string_view>
#include <vector>

#include "nicsync/address.hpp"
#include "nicsync/filesystem.hpp"
#include "nicsync/netlink.hpp"

namespace nicsync {

inline constexpr const char* kStatePath = "/var/lib/nicsync/state.json";

/// An address nicsync added to the kernel (IPv4 or IPv6).
struct OwnedAddress {
  std::string dev;
  IpAddress address;
  int prefix_length = 32;  ///< up to 32 for IPv4, 128 for IPv6
  auto operator<=>(const OwnedAddress&) const = default;
};

struct State {
  std::vector<std::string> files;       ///< sorted absolute paths of files nicsync wrote
  std::vector<OwnedAddress> addresses;  ///< sorted addresses nicsync added live
  bool operator==(const State&) const = default;
};

Result<State> parse_state(std::string_view text);
std::string render_state(const State& state);
/// The state on disk; an empty State when there is none. A corrupt file is an error naming it.
Result<State> load_state(FileSystem& fs);
/// The state file's write (0644), for a FileSystem::commit() with other files.
FileWrite state_file_write(const State& state);
/// Writes the state (0644) if it differs from `previous`. The Error is the one of
/// FileSystem::write_file_atomic() ("cannot write PATH: REASON"): the caller says what it means
/// for the run.
Result<void> save_state(FileSystem& fs, const State& state, const State& previous);

}  // namespace nicsync
