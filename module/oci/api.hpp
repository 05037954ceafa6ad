#pragma once
/// The OCI API as the instance itself ("instance principal"): the instance's identity
/// certificate from the metadata service is exchanged at the region's federation endpoint for a
/// security token bound to a session key made for this run; API requests are then signed with
/// that key (oci/signer.hpp). Used for ListPrivateIps, the one thing OCI's metadata service
/// does not tell: a VNIC's secondary private IPs.
///
/// Every error is one line starting "oracle: OCI API: " and says what failed and, where the
/// service's answer tells, what to do about it (the IAM policy a 404 asks for).

#include <chrono>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "nicsync/address.hpp"
#include "nicsync/http.hpp"
#include "nicsync/result.hpp"
#include "oci/crypto.hpp"

namespace nicsync::oci {

/// The realm domain of the commercial realm (oc1), used when the metadata names none.
inline constexpr std::string_view kDefaultRealmDomain = "oraclecloud.com";
/// The API version path of the Core Services (iaas) API.
inline constexpr std::string_view kCoreApiPath = "/20160918";
/// A token is renewed this long before its "exp", so that it cannot lapse in flight.
inline constexpr std::chrono::seconds kTokenRenewMargin{60};
/// More pages than this for one VNIC is a broken or hostile server (OCI allows 64 IPs a VNIC).
inline constexpr int kMaxPagesPerVnic = 100;

/// The region the instance runs in, from the metadata service's instance/ document.
struct Region {
  std::string name;          ///< canonical region identifier, e.g. "ap-tokyo-1"
  std::string realm_domain;  ///< e.g. "oraclecloud.com"
};

/// Checks a region identifier ([a-z0-9-], 1-64 characters) and a realm domain (DNS labels of
/// [a-z0-9-] joined by dots) before they become part of a host name.
Result<Region> make_region(std::string_view name, std::string_view realm_domain);

/// Base URLs ("https://host[:port]", no trailing slash).
struct Endpoints {
  std::string federation;  ///< POST <federation>/v1/x509
  std::string iaas;        ///< GET <iaas>/20160918/privateIps
};

/// https://auth.<region>.<domain> and https://iaas.<region>.<domain>.
Endpoints default_endpoints(const Region& region);

/// The instance's identity documents, PEM text as the metadata service serves them
/// (identity/cert.pem, identity/key.pem, identity/intermediate.pem).
struct IdentityDocuments {
  std::string certificate;
  std::string private_key;
  std::string intermediate;
};

/// One entry of ListPrivateIps.
struct PrivateIp {
  Ipv4Address address;
  bool is_primary = false;
  std::optional<std::string> hostname_label;  ///< a valid DNS label when present
  bool operator==(const PrivateIp&) const = default;
};

/// Parses one ListPrivateIps page: a JSON array of PrivateIp objects, each with "ipAddress"
/// (IPv4), optional "isPrimary" (boolean), "hostnameLabel" (null or a DNS label of 1-63
/// letters, digits and hyphens) and "vnicId" (when present, must be `vnic_id`). Other members
/// are ignored. Errors read `oracle: OCI API: ListPrivateIps for <vnic>: item 2: ...`.
Result<std::vector<PrivateIp>> parse_private_ips(std::string_view json, std::string_view vnic_id);

/// The security token and the session key it is bound to.
struct Session {
  std::string token;
  TimePoint expires;
  RsaKey key;
};

/// Obtains sessions: fetches the identity documents, checks them (the key must match the
/// certificate; the tenancy comes from the certificate), and POSTs them with the session
/// key's public half to <federation>/v1/x509, signed with the instance's key.
class Federation {
 public:
  using FetchIdentity = std::function<Result<IdentityDocuments>()>;
  using MakeKey = std::function<Result<RsaKey>()>;
  using Now = std::function<TimePoint()>;

  /// `make_key` gives the session key of each new session (the first may be made ahead, in
  /// parallel with the metadata requests).
  Federation(HttpClient& http, std::string federation_url, FetchIdentity fetch_identity, MakeKey make_key,
             Now now);

  /// The current session, made (or renewed kTokenRenewMargin before it expires) when needed.
  Result<Session> current();
  /// Drops the current session, so that current() makes a new one (after the API said 401).
  void invalidate() { session_.reset(); }
  /// Federation POSTs made so far.
  int exchanges() const { return exchanges_; }
  /// The clock requests are dated by.
  TimePoint now() const { return now_(); }

 private:
  Result<Session> exchange();

  HttpClient& http_;
  std::string url_;
  FetchIdentity fetch_identity_;
  MakeKey make_key_;
  Now now_;
  std::optional<Session> session_;
  int exchanges_ = 0;
};

/// Every private IP of each VNIC: one signed GET per VNIC in parallel, then the next pages
/// (opc-next-page) of those that have more. A 401 renews the session once and repeats the
/// refused requests. Any other failure is the Error (no partial answer).
Result<std::map<std::string, std::vector<PrivateIp>>> list_private_ips(HttpClient& http, const std::string& iaas_url,
                                                                      Federation& federation,
                                                                      const std::vector<std::string>& vnic_ids);

}  // namespace nicsync::oci
