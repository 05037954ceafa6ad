#include "metadata/nic_requests.hpp"

#include <algorithm>
#include <utility>

namespace nicsync {

Result<GuessedBatch> get_with_guesses(ImdsSession& session, const std::vector<std::string>& paths,
                                      const std::vector<MacAddress>& local_macs, const NicRequests& requests_of) {
  GuessedBatch batch;
  std::vector<std::string> all = paths;
  std::vector<bool> optional(paths.size(), false);
  for (const MacAddress& mac : local_macs) {
    if (std::find(batch.guessed.begin(), batch.guessed.end(), mac) != batch.guessed.end()) continue;
    batch.guessed.push_back(mac);
    std::vector<NicRequest> requests = requests_of(mac);
    batch.per_nic = requests.size();
    for (NicRequest& request : requests) {
      all.push_back(std::move(request.path));
      optional.push_back(true);
    }
  }
  NICSYNC_TRY_ASSIGN(batch.answers, session.get_each(all, optional));
  for (size_t i = 0; i < paths.size(); ++i) {
    if (!batch.answers[i].ok()) return batch.answers[i].error();
    batch.bodies.push_back(std::move(*std::move(batch.answers[i]).value()));
  }
  batch.answers.erase(batch.answers.begin(), batch.answers.begin() + static_cast<std::ptrdiff_t>(paths.size()));
  return batch;
}

Result<std::vector<NicBodies>> nic_bodies(ImdsSession& session, const std::vector<MacAddress>& listed,
                                          const NicRequests& requests_of, GuessedBatch& batch) {
  std::vector<NicBodies> bodies(listed.size());
  std::vector<std::string> paths;
  std::vector<bool> optional;
  std::vector<size_t> asked;  // the listed NICs asked for now
  size_t per_nic = 0;
  for (size_t n = 0; n < listed.size(); ++n) {
    std::vector<NicRequest> requests = requests_of(listed[n]);
    per_nic = requests.size();
    auto guess = std::find(batch.guessed.begin(), batch.guessed.end(), listed[n]);
    if (guess != batch.guessed.end()) {
      const size_t first = static_cast<size_t>(guess - batch.guessed.begin()) * batch.per_nic;
      bool usable = true;
      for (size_t i = 0; i < requests.size(); ++i) {
        const auto& answer = batch.answers.at(first + i);
        // A failure the client's retries did not cure is the NIC's error, as it would be later.
        if (!answer.ok()) return answer.error();
        usable = usable && (requests[i].optional || answer.value().has_value());
      }
      if (usable) {
        for (size_t i = 0; i < requests.size(); ++i) bodies[n].push_back(std::move(batch.answers[first + i]).value());
        continue;
      }
    }
    for (NicRequest& request : requests) {
      paths.push_back(std::move(request.path));
      optional.push_back(request.optional);
    }
    asked.push_back(n);
  }
  NICSYNC_TRY_ASSIGN(auto fetched, session.get(paths, optional));
  for (size_t k = 0; k < asked.size(); ++k) {
    auto first = fetched.begin() + static_cast<std::ptrdiff_t>(k * per_nic);
    bodies[asked[k]].assign(std::make_move_iterator(first),
                            std::make_move_iterator(first + static_cast<std::ptrdiff_t>(per_nic)));
  }
  return bodies;
}

}  // namespace nicsync
