// The OCI API's answers and the instance identity (module/oci/api.hpp, module/oci/crypto.hpp).
// The first byte picks the parser, the rest is the text (see tests/fuzz/README.md):
//   0  a ListPrivateIps page -> parse_private_ips; what parses is added to a fixed VNIC
//      (add_api_private_ips) and the instance must survive the last good view
//   1  a security token -> jwt_expiry
//   2  Base64url -> base64url_decode; the bytes, encoded again, decode to the same bytes
//   3  identity/cert.pem -> Certificate::parse_pem; its DER as PEM parses to the same DER
//   4  identity/key.pem -> RsaKey::parse_private_pem; it matches the certificate of its own key
//   5  "<region>\n<realm domain>" -> make_region; the endpoints are https://auth. / https://iaas.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "../unit/oci_test_material.hpp"
#include "fuzz_common.hpp"
#include "metadata/oracle.hpp"
#include "oci/api.hpp"
#include "oci/crypto.hpp"

using namespace nicsync;
using nicsync::fuzz::check;

namespace {

constexpr std::string_view kVnicId = "ocid1.vnic.oc1.phx.fuzzvnic";

/// The VNIC ListPrivateIps is asked about: 10.0.0.0/16 holds every 10.0.x.y.
Interface fixed_vnic() {
  Interface vnic;
  vnic.mac = *MacAddress::parse("02:00:17:00:00:01");
  vnic.role = NicRole::primary;
  vnic.index = 0;
  vnic.id = *ResourceId::parse(kVnicId);
  vnic.ipv4.addresses = {*Ipv4Address::parse("10.0.0.2")};
  vnic.ipv4.subnet = *Ipv4Cidr::parse("10.0.0.0/16");
  vnic.ipv4.gateway = *Ipv4Address::parse("10.0.0.1");
  return vnic;
}

void private_ips(std::string_view text) {
  Result<std::vector<oci::PrivateIp>> ips = oci::parse_private_ips(text, kVnicId);
  if (!ips.ok()) {
    check(ips.error().message.starts_with("oracle: OCI API: "), "errors start \"oracle: OCI API: \"",
          ips.error().message);
    fuzz::check_one_line(ips.error());
    return;
  }
  for (size_t i = 0; i < ips->size(); ++i) {
    const oci::PrivateIp& ip = (*ips)[i];
    fuzz::check_canonical(ip.address, "ipAddress prints canonically");
    if (ip.hostname_label) check(is_hostname_label(*ip.hostname_label), "hostnameLabel is a DNS label");
    for (size_t j = 0; j < i; ++j) check((*ips)[j].address != ip.address, "no address twice", ip.address.str());
  }
  std::vector<Interface> vnics = {fixed_vnic()};
  Result<void> added = oracle::add_api_private_ips(vnics, {{std::string(kVnicId), *ips}});
  if (!added.ok()) {
    fuzz::check_one_line(added.error());
    return;
  }
  const std::vector<Ipv4Address>& addresses = vnics[0].ipv4.addresses;
  check(addresses.front() == *Ipv4Address::parse("10.0.0.2"), "the private IP stays first");
  for (const oci::PrivateIp& ip : *ips) {
    if (!ip.is_primary) {
      check(std::count(addresses.begin(), addresses.end(), ip.address) == 1, "a secondary is added once",
            ip.address.str());
    }
  }
  Instance instance;
  instance.vendor = Vendor::oracle;
  instance.instance_id = *ResourceId::parse("ocid1.instance.oc1.phx.fuzz");
  instance.interfaces = std::move(vnics);
  fuzz::check_instance(instance);
}

void token(std::string_view text) {
  Result<oci::TimePoint> expiry = oci::jwt_expiry(text);
  if (!expiry.ok()) {
    fuzz::check_one_line(expiry.error());
    return;
  }
  check(*expiry >= oci::TimePoint{}, "exp is not before the epoch");
}

void base64url(std::string_view text) {
  Result<std::string> bytes = oci::base64url_decode(text);
  if (!bytes.ok()) {
    fuzz::check_one_line(bytes.error());
    return;
  }
  std::string encoded = oci::base64_encode(*bytes);
  std::replace(encoded.begin(), encoded.end(), '+', '-');
  std::replace(encoded.begin(), encoded.end(), '/', '_');
  Result<std::string> again = oci::base64url_decode(encoded);
  check(again.ok() && *again == *bytes, "Base64url round-trips", encoded);
}

std::string pem_of(std::string_view der) {
  std::string base64 = oci::base64_encode(der);
  std::string pem = "-----BEGIN CERTIFICATE-----\n";
  for (size_t i = 0; i < base64.size(); i += 64) pem += base64.substr(i, 64) + "\n";
  return pem + "-----END CERTIFICATE-----\n";
}

void certificate(std::string_view text) {
  Result<oci::Certificate> cert = oci::Certificate::parse_pem(text, "identity/cert.pem");
  if (!cert.ok()) {
    fuzz::check_one_line(cert.error());
    return;
  }
  const std::string der = cert->der();
  check(!der.empty(), "a certificate has a DER encoding");
  check(cert->sha256_fingerprint().size() == 95, "the fingerprint is 32 hex pairs");
  Result<oci::Certificate> again = oci::Certificate::parse_pem(pem_of(der), "again");
  check(again.ok() && again->der() == der, "a certificate's DER as PEM parses to the same DER");
  if (Result<std::string> tenancy = cert->tenancy_id(); tenancy.ok()) {
    check(tenancy->starts_with("ocid1.tenancy."), "the tenancy is an ocid1.tenancy. OCID", *tenancy);
  } else {
    fuzz::check_one_line(tenancy.error());
  }
}

void key(std::string_view text) {
  static const oci::Certificate leaf = *oci::Certificate::parse_pem(test::kLeafCertificatePem, "leaf");
  static const std::string leaf_public = oci::RsaKey::parse_private_pem(test::kLeafKeyPem, "leaf")->public_key_der();
  Result<oci::RsaKey> parsed = oci::RsaKey::parse_private_pem(text, "identity/key.pem");
  if (!parsed.ok()) {
    fuzz::check_one_line(parsed.error());
    return;
  }
  const std::string public_der = parsed->public_key_der();
  check(!public_der.empty(), "an RSA key has a public half");
  check(parsed->matches(leaf) == (public_der == leaf_public), "a key matches the certificate of its public half");
}

void region(std::string_view text) {
  size_t newline = text.find('\n');
  std::string_view name = text.substr(0, newline);
  std::string_view domain = newline == std::string_view::npos ? std::string_view() : text.substr(newline + 1);
  Result<oci::Region> made = oci::make_region(name, domain);
  if (!made.ok()) {
    fuzz::check_one_line(made.error());
    return;
  }
  oci::Endpoints endpoints = oci::default_endpoints(*made);
  check(endpoints.federation.starts_with("https://auth.") && endpoints.iaas.starts_with("https://iaas."),
        "endpoints are https");
  for (const std::string* url : {&endpoints.federation, &endpoints.iaas}) {
    check(url->substr(8).find_first_of("/?#@\\:") == std::string::npos, "the host is one host name", *url);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  std::string_view text = fuzz::text_of(data + 1, size - 1);
  switch (data[0] % 6) {
    case 0: private_ips(text); break;
    case 1: token(text); break;
    case 2: base64url(text); break;
    case 3: certificate(text); break;
    case 4: key(text); break;
    default: region(text); break;
  }
  return 0;
}
