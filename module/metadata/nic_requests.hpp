#pragma once
/// What AWS and Alibaba share in reading their per-NIC metadata: the same requests for each MAC
/// of the NIC list (`macs/<mac>/...`), which the list only names once it has answered. The NICs
/// the machine shows already (AwsOptions::local_macs) are asked for in the list's own batch, as
/// a guess; each listed NIC that was not guessed, or whose guess lacks a body it must have, is
/// asked for after the list.

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "nicsync/address.hpp"
#include "nicsync/provider.hpp"
#include "nicsync/result.hpp"

namespace nicsync {

/// A NIC's requests: a path (relative to the service's base URL) and whether a 404 on it is an
/// answer (true) or an error (false), in the same order for every NIC.
struct NicRequest {
  std::string path;
  bool optional = false;
};
using NicRequests = std::function<std::vector<NicRequest>(const MacAddress&)>;

/// One body per NIC request; nullopt for an optional path that answered 404.
using NicBodies = std::vector<std::optional<std::string>>;

/// A batch of required paths and guesses, answered (get_with_guesses()).
struct GuessedBatch {
  std::vector<std::string> bodies;  ///< of the required paths, in order
  std::vector<MacAddress> guessed;  ///< distinct local MACs, in local order
  size_t per_nic = 0;               ///< requests per guessed NIC
  /// Their answers, per_nic a NIC, in `guessed` order: nic_bodies() takes them.
  std::vector<Result<std::optional<std::string>>> answers;
};

/// One batch: `paths` (each required: a failure or 404 on one is the error) and the requests of
/// every distinct MAC of `local_macs`, all optional (a guess may be a NIC the service does not
/// know; a failure there is not an error).
Result<GuessedBatch> get_with_guesses(ImdsSession& session, const std::vector<std::string>& paths,
                                      const std::vector<MacAddress>& local_macs, const NicRequests& requests_of);

/// The bodies of each of `listed` (in its order): a guess's answers when every non-optional path
/// has a body; else (a NIC not guessed, or a 404 where the NIC must answer: one attached a moment
/// ago) asked for now, every such NIC in one batch, where a failure is the error. A guess of a
/// listed NIC that failed (after the client's retries) is the error. Uses up `batch.answers`.
Result<std::vector<NicBodies>> nic_bodies(ImdsSession& session, const std::vector<MacAddress>& listed,
                                          const NicRequests& requests_of, GuessedBatch& batch);

}  // namespace nicsync
