// Oracle metadata with the OCI API: the metadata service's instance/ and vnics/, then the
// secondary private IPs of every VNIC from ListPrivateIps, asked as the instance itself.
// The first round trip also fetches the identity documents, so the API costs two more round
// trips (federation, then one ListPrivateIps per VNIC in parallel) and one RSA key generation.
// The key is made only once the metadata service has answered: early in boot it often cannot
// be reached, and a key made for nothing would cost that boot run hundreds of milliseconds.

#include <algorithm>
#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "metadata/oracle.hpp"
#include "nicsync/provider.hpp"
#include "oci/api.hpp"
#include "oci/crypto.hpp"

namespace nicsync {

namespace oracle {

Result<void> add_api_private_ips(std::vector<Interface>& vnics,
                                 const std::map<std::string, std::vector<oci::PrivateIp>>& private_ips) {
  for (Interface& vnic : vnics) {
    if (!vnic.id) continue;
    auto found = private_ips.find(vnic.id->str());
    if (found == private_ips.end()) continue;
    std::vector<oci::PrivateIp> secondaries;
    for (const oci::PrivateIp& ip : found->second) {
      if (!ip.is_primary) secondaries.push_back(ip);
    }
    std::sort(secondaries.begin(), secondaries.end(),
              [](const oci::PrivateIp& a, const oci::PrivateIp& b) { return a.address < b.address; });
    const std::string where = "oracle: OCI API: ListPrivateIps for " + vnic.id->str() + ": ";
    for (const oci::PrivateIp& ip : secondaries) {
      if (!vnic.ipv4.subnet) return Error{where + ip.address.str() + " on a VNIC without IPv4"};
      if (!vnic.ipv4.subnet->contains(ip.address)) {
        return Error{where + ip.address.str() + " is outside the VNIC's subnet " + vnic.ipv4.subnet->str()};
      }
    }
    std::vector<Ipv4Address>& list = vnic.ipv4.addresses;
    for (const oci::PrivateIp& ip : secondaries) {
      if (std::find(list.begin(), list.end(), ip.address) == list.end()) list.push_back(ip.address);
    }
    // Labels (the private IP's too) in the order of the addresses they name; a label for an
    // address the VNIC does not have (a primary the metadata service disagrees with) is dropped.
    vnic.ipv4.hostname_labels.clear();
    for (const Ipv4Address& address : list) {
      for (const oci::PrivateIp& ip : found->second) {
        if (ip.address == address && ip.hostname_label) vnic.ipv4.hostname_labels.push_back({address, *ip.hostname_label});
      }
    }
  }
  return {};
}

}  // namespace oracle

namespace {

constexpr const char* kIdentityDocuments[] = {"identity/cert.pem", "identity/key.pem", "identity/intermediate.pem"};

/// The API's endpoints: configured, or made from the region instance/ names.
Result<oci::Endpoints> api_endpoints(const oracle::InstanceInfo& info, const OracleApiOptions& api) {
  oci::Endpoints endpoints;
  if (!api.federation_endpoint || !api.iaas_endpoint) {
    if (!info.region) {
      return Error{"oracle: OCI API: instance/ names no region (\"canonicalRegionName\"); set "
                   "oracle.api.federation_endpoint and oracle.api.iaas_endpoint"};
    }
    // Both become part of host names (auth.<region>.<realm domain>): checked before, and the
    // message names the member of instance/ that is wrong.
    auto region =
        oci::make_region(*info.region, info.realm_domain.value_or(std::string(oci::kDefaultRealmDomain)));
    if (!region.ok()) {
      bool region_ok = oci::make_region(*info.region, oci::kDefaultRealmDomain).ok();
      return Error{region.error().message + " (instance/ " +
                   (region_ok ? std::string("\"regionInfo\".\"realmDomainComponent\"") : info.region_member) + ")"};
    }
    endpoints = oci::default_endpoints(*region);
  }
  if (api.federation_endpoint) endpoints.federation = *api.federation_endpoint;
  if (api.iaas_endpoint) endpoints.iaas = *api.iaas_endpoint;
  return endpoints;
}

/// The identity documents from one round trip's answers (body, nullopt for a 404, or Error).
Result<oci::IdentityDocuments> identity_from(std::vector<Result<std::optional<std::string>>> answers,
                                             const std::string& api_path) {
  std::vector<std::string> texts;
  for (size_t i = 0; i < answers.size(); ++i) {
    const std::string path = api_path + kIdentityDocuments[i];
    if (!answers[i].ok()) {
      // "oracle: GET ...: HTTP 500" -> "oracle: OCI API: instance identity: GET ...: HTTP 500"
      std::string message = answers[i].error().message;
      if (message.starts_with("oracle: ")) message.erase(0, 8);
      return Error{"oracle: OCI API: instance identity: " + message};
    }
    if (!*answers[i]) return Error{"oracle: OCI API: instance identity: GET " + path + ": HTTP 404"};
    texts.push_back(std::move(**answers[i]));
  }
  return oci::IdentityDocuments{std::move(texts[0]), std::move(texts[1]), std::move(texts[2])};
}

/// ListPrivateIps for every VNIC with an id and IPv4, merged into `vnics`; the identity
/// documents come from `prefetched` first, then (on renewal) from the metadata service again.
Result<int> add_from_api(std::vector<Interface>& vnics, const oracle::InstanceInfo& info, ImdsSession& session,
                         const std::string& api_path, std::optional<Result<oci::IdentityDocuments>> prefetched,
                         const OracleApiOptions& api) {
  NICSYNC_TRY_ASSIGN(oci::Endpoints endpoints, api_endpoints(info, api));
  std::vector<std::string> vnic_ids;
  for (const Interface& vnic : vnics) {
    if (vnic.id && !vnic.ipv4.addresses.empty()) vnic_ids.push_back(vnic.id->str());
  }
  if (vnic_ids.empty()) return 0;

  auto fetch_identity = [&]() -> Result<oci::IdentityDocuments> {
    if (prefetched) {
      Result<oci::IdentityDocuments> documents = std::move(*prefetched);
      prefetched.reset();
      return documents;
    }
    std::vector<std::string> paths;
    for (const char* document : kIdentityDocuments) paths.push_back(api_path + document);
    auto answers = session.get_each(paths, std::vector<bool>(paths.size(), true));
    if (!answers.ok()) return Error{"oracle: OCI API: instance identity: " + answers.error().message};
    return identity_from(std::move(answers).value(), api_path);
  };
  auto make_key = []() -> Result<oci::RsaKey> { return oci::RsaKey::generate(); };
  auto now = api.now ? api.now : [] { return std::chrono::system_clock::now(); };
  oci::Federation federation(*api.http, endpoints.federation, fetch_identity, make_key, now);
  auto listed = oci::list_private_ips(*api.http, endpoints.iaas, federation, vnic_ids);
  int federations = federation.exchanges();
  if (!listed.ok()) return listed.error();
  NICSYNC_TRY(oracle::add_api_private_ips(vnics, *listed));
  return federations;
}

}  // namespace

Result<OracleFetch> fetch_oracle_with_api(HttpClient& http, const std::string& endpoint,
                                          const std::map<std::string, std::vector<Ipv4Address>>& secondary_ips,
                                          const OracleApiOptions& api) {
  ImdsProtocol protocol;
  protocol.base_url = endpoint;
  protocol.static_headers = {{"Authorization", "Bearer Oracle"}};  // v2 needs it; v1 ignores it
  ImdsSession session(http, std::move(protocol), "oracle");
  const bool use_api = api.http != nullptr;

  // Round trip 1: both documents from v2 (and, for the API, the identity documents). Round
  // trip 2, only when v2 is not served: from v1.
  std::string api_path(oracle::kV2Path);
  std::vector<std::string> paths = {api_path + "instance/", api_path + "vnics/"};
  if (use_api) {
    for (const char* document : kIdentityDocuments) paths.push_back(api_path + document);
  }
  // The identity documents may fail alone: that is the API's failure, not the metadata's.
  NICSYNC_TRY_ASSIGN(auto answers, session.get_each(paths, std::vector<bool>(paths.size(), true)));
  NICSYNC_TRY_ASSIGN(std::optional<std::string> instance_body, std::move(answers[0]));
  NICSYNC_TRY_ASSIGN(std::optional<std::string> vnics_body, std::move(answers[1]));
  std::vector<std::optional<std::string>> bodies = {std::move(instance_body), std::move(vnics_body)};
  std::optional<Result<oci::IdentityDocuments>> prefetched;
  if (!bodies[0] && !bodies[1]) {
    api_path = std::string(oracle::kV1Path);
    NICSYNC_TRY_ASSIGN(bodies, session.get({api_path + "instance/", api_path + "vnics/"}));
  } else if (!bodies[0] || !bodies[1]) {
    return Error{"oracle: GET " + api_path + (bodies[0] ? "vnics/" : "instance/") + ": HTTP 404"};
  } else if (use_api) {
    prefetched = identity_from({std::make_move_iterator(answers.begin() + 2), std::make_move_iterator(answers.end())},
                               api_path);
  }

  NICSYNC_TRY_ASSIGN(oracle::InstanceInfo info, oracle::parse_instance(*bodies[0]));
  NICSYNC_TRY_ASSIGN(std::vector<Interface> vnics, oracle::parse_vnics(*bodies[1], info.machine));
  OracleFetch fetched;
  if (use_api) {
    std::vector<Interface> with_api = vnics;
    auto added = add_from_api(with_api, info, session, api_path, std::move(prefetched), api);
    if (added.ok()) {
      vnics = std::move(with_api);
      fetched.api_federations = *added;
    } else {
      fetched.api_error = added.error();
    }
  }
  NICSYNC_TRY(oracle::add_secondary_ips(vnics, secondary_ips));
  fetched.instance = oracle::assemble_instance(info, std::move(vnics));
  return fetched;
}

}  // namespace nicsync
