#include <doctest/doctest.h>

#include <chrono>
#include <string>
#include <utility>
#include <vector>

#include "nicsync/address.hpp"
#include "nicsync/http.hpp"
#include "oci/crypto.hpp"
#include "oci/signer.hpp"
#include "oci_test_material.hpp"

using nicsync::HttpMethod;
using nicsync::HttpRequest;
using nicsync::oci::http_date;
using nicsync::oci::RsaKey;
using nicsync::oci::sign_request;
using nicsync::oci::signing_string;
using nicsync::oci::TimePoint;
using nicsync::test::verifies_sha256;

namespace {

using Headers = std::vector<std::pair<std::string, std::string>>;

TimePoint at(int64_t seconds) { return TimePoint{std::chrono::seconds{seconds}}; }

/// 2014-01-05T21:31:40Z, a Sunday.
const TimePoint kDocTime = at(1388957500);

// The test values of OCI's "Request Signatures" page (docs.oracle.com/iaas/Content/API/Concepts/
// signingrequests.htm), as carried verbatim by Oracle's SDK tests (oracle/oci-go-sdk
// common/http_signer_test.go asserts the whole Authorization header).
const std::string kDocKeyId =
    "ocid1.tenancy.oc1..aaaaaaaaba3pv6wkcr4jqae5f15p2b2m2yt2j6rx32uzr4h25vqstifsfdsq/"
    "ocid1.user.oc1..aaaaaaaat5nvwcna5j6aqzjcaty5eqbb6qt2jvpkanghtgdaqedqw3rynjq/"
    "20:3b:97:13:55:1c:5b:0d:d3:37:d8:50:4e:c5:3a:34";
/// The doc's date. Its weekday is wrong (5 January 2014 was a Sunday), so http_date() cannot
/// make it: the tests hand it in as the request's own Date header, which sign_request keeps.
const std::string kDocDate = "Thu, 05 Jan 2014 21:31:40 GMT";
const std::string kDocGetUrl =
    "https://iaas.us-phoenix-1.oraclecloud.com/20160918/instances?availabilityDomain=Pjwf%3A%20PHX-AD-1"
    "&compartmentId=ocid1.compartment.oc1..aaaaaaaam3we6vgnherjq5q2idnccdflvjsnog7mlr6rtdb25gilchfeyjxa"
    "&displayName=TeamXInstances&volumeId=ocid1.volume.oc1.phx."
    "abyhqljrgvttnlx73nmrwfaux7kcvzfs3s66izvxf2h4lgvyndsdsnoiwr5q";
const std::string kDocGetSigningString =
    "date: Thu, 05 Jan 2014 21:31:40 GMT\n"
    "(request-target): get /20160918/instances?availabilityDomain=Pjwf%3A%20PHX-AD-1"
    "&compartmentId=ocid1.compartment.oc1..aaaaaaaam3we6vgnherjq5q2idnccdflvjsnog7mlr6rtdb25gilchfeyjxa"
    "&displayName=TeamXInstances&volumeId=ocid1.volume.oc1.phx."
    "abyhqljrgvttnlx73nmrwfaux7kcvzfs3s66izvxf2h4lgvyndsdsnoiwr5q\n"
    "host: iaas.us-phoenix-1.oraclecloud.com";
const std::string kDocGetSignature =
    "GBas7grhyrhSKHP6AVIj/h5/Vp8bd/peM79H9Wv8kjoaCivujVXlpbKLjMPeDUhxkFIWtTtLBj3sUzaFj34XE6YZ"
    "AHc9r2DmE4pMwOAy/kiITcZxa1oHPOeRheC0jP2dqbTll8fmTZVwKZOKHYPtrLJIJQHJjNvxFWeHQjMaR7M=";
const std::string kDocPostUrl = "https://iaas.us-phoenix-1.oraclecloud.com/20160918/volumeAttachments";
/// 316 bytes: four-space indent, no trailing newline.
const std::string kDocPostBody =
    "{\n"
    "    \"compartmentId\": "
    "\"ocid1.compartment.oc1..aaaaaaaam3we6vgnherjq5q2idnccdflvjsnog7mlr6rtdb25gilchfeyjxa\",\n"
    "    \"instanceId\": "
    "\"ocid1.instance.oc1.phx.abuw4ljrlsfiqw6vzzxb43vyypt4pkodawglp3wqxjqofakrwvou52gb6s5a\",\n"
    "    \"volumeId\": "
    "\"ocid1.volume.oc1.phx.abyhqljrgvttnlx73nmrwfaux7kcvzfs3s66izvxf2h4lgvyndsdsnoiwr5q\"\n"
    "}";
const std::string kDocPostSigningString =
    "date: Thu, 05 Jan 2014 21:31:40 GMT\n"
    "(request-target): post /20160918/volumeAttachments\n"
    "host: iaas.us-phoenix-1.oraclecloud.com\n"
    "content-length: 316\n"
    "content-type: application/json\n"
    "x-content-sha256: V9Z20UJTvkvpJ50flBzKE32+6m2zJjweHpDMX/U4Uy0=";
const std::string kDocPostSignature =
    "Mje8vIDPlwIHmD/cTDwRxE7HaAvBg16JnVcsuqaNRim23fFPgQfLoOOxae6WqKb1uPjYEl0qIdazWaBy/Ml8DRhq"
    "locMwoSXv0fbukP8J5N80LCmzT/FFBvIvTB91XuXI3hYfP9Zt1l7S6ieVadHUfqBedWH0itrtPJBgKmrWso=";

RsaKey doc_key() {
  auto key = RsaKey::parse_private_pem(nicsync::test::kOciDocKeyPem, "doc key");
  REQUIRE(key.ok());
  return *key;
}

RsaKey leaf_key() {
  auto key = RsaKey::parse_private_pem(nicsync::test::kLeafKeyPem, "leaf key");
  REQUIRE(key.ok());
  return *key;
}

HttpRequest request_of(HttpMethod method, std::string url, Headers headers = {}, std::string body = "") {
  HttpRequest request;
  request.method = method;
  request.url = std::move(url);
  request.headers = std::move(headers);
  request.body = std::move(body);
  return request;
}

/// The signature="..." member of an Authorization value, decoded from standard Base64.
std::string signature_of(const std::string& authorization) {
  const std::string marker = ",signature=\"";
  const size_t start = authorization.find(marker);
  REQUIRE(start != std::string::npos);
  REQUIRE(authorization.back() == '"');
  std::string text =
      authorization.substr(start + marker.size(), authorization.size() - start - marker.size() - 1);
  for (char& c : text) c = c == '+' ? '-' : c == '/' ? '_' : c;
  auto bytes = nicsync::oci::base64url_decode(text);
  REQUIRE(bytes.ok());
  return *bytes;
}

}  // namespace

TEST_SUITE("oci::signer") {
  TEST_CASE("known answer: the doc's GET signs to the doc's Authorization header, byte for byte") {
    HttpRequest request = request_of(HttpMethod::get, kDocGetUrl, {{"Date", kDocDate}});
    REQUIRE(sign_request(request, kDocKeyId, doc_key(), kDocTime).ok());
    CHECK(request.headers ==
          Headers{{"Date", kDocDate},
                  {"host", "iaas.us-phoenix-1.oraclecloud.com"},
                  {"authorization",
                   "Signature version=\"1\",headers=\"date (request-target) host\",keyId=\"" + kDocKeyId +
                       "\",algorithm=\"rsa-sha256\",signature=\"" + kDocGetSignature + "\""}});
    CHECK(*signing_string(request, {"date", "(request-target)", "host"}) == kDocGetSigningString);
  }

  TEST_CASE("known answer: the doc's POST signs to the doc's Authorization header, byte for byte") {
    REQUIRE(kDocPostBody.size() == 316);
    HttpRequest request = request_of(HttpMethod::post, kDocPostUrl, {{"Date", kDocDate}}, kDocPostBody);
    REQUIRE(sign_request(request, kDocKeyId, doc_key(), kDocTime).ok());
    CHECK(request.headers ==
          Headers{{"Date", kDocDate},
                  {"host", "iaas.us-phoenix-1.oraclecloud.com"},
                  {"content-type", "application/json"},
                  {"content-length", "316"},
                  {"x-content-sha256", "V9Z20UJTvkvpJ50flBzKE32+6m2zJjweHpDMX/U4Uy0="},
                  {"authorization",
                   "Signature version=\"1\",headers=\"date (request-target) host content-length content-type "
                   "x-content-sha256\",keyId=\"" +
                       kDocKeyId + "\",algorithm=\"rsa-sha256\",signature=\"" + kDocPostSignature + "\""}});
    CHECK(*signing_string(request, {"date", "(request-target)", "host", "content-length", "content-type",
                                    "x-content-sha256"}) == kDocPostSigningString);
  }

  TEST_CASE("known answer: the doc's signing strings and key give the doc's signatures") {
    const RsaKey key = doc_key();
    CHECK(nicsync::oci::base64_encode(key.sign_sha256(kDocGetSigningString)) == kDocGetSignature);
    CHECK(nicsync::oci::base64_encode(key.sign_sha256(kDocPostSigningString)) == kDocPostSignature);
  }

  TEST_CASE("http_date is RFC 7231's IMF-fixdate in GMT, seconds truncated") {
    CHECK(http_date(kDocTime) == "Sun, 05 Jan 2014 21:31:40 GMT");
    CHECK(http_date(at(0)) == "Thu, 01 Jan 1970 00:00:00 GMT");
    CHECK(http_date(at(1709197503) + std::chrono::milliseconds(999)) == "Thu, 29 Feb 2024 09:05:03 GMT");
    CHECK(http_date(at(2147483648)) == "Tue, 19 Jan 2038 03:14:08 GMT");
    CHECK(http_date(at(1700000000)) == "Tue, 14 Nov 2023 22:13:20 GMT");
  }

  TEST_CASE("signing_string of a GET: one name: value line per header, in the order asked") {
    const HttpRequest request = request_of(
        HttpMethod::get,
        "https://iaas.us-ashburn-1.oraclecloud.com/20160918/privateIps?vnicId=ocid1.vnic.oc1..v&limit=100",
        {{"DATE", "Tue, 14 Nov 2023 22:13:20 GMT"},
         {"Host", "iaas.us-ashburn-1.oraclecloud.com"},
         {"date", "ignored"}});
    CHECK(*signing_string(request, {"date", "(request-target)", "host"}) ==
          "date: Tue, 14 Nov 2023 22:13:20 GMT\n"
          "(request-target): get /20160918/privateIps?vnicId=ocid1.vnic.oc1..v&limit=100\n"
          "host: iaas.us-ashburn-1.oraclecloud.com");
    CHECK(*signing_string(request, {"host", "date"}) ==
          "host: iaas.us-ashburn-1.oraclecloud.com\ndate: Tue, 14 Nov 2023 22:13:20 GMT");
    CHECK(*signing_string(request, {}) == "");
  }

  TEST_CASE("signing_string of a POST and a PUT") {
    const Headers headers = {{"date", "Tue, 14 Nov 2023 22:13:20 GMT"},
                             {"host", "auth.us-ashburn-1.oraclecloud.com"},
                             {"content-length", "14"},
                             {"content-type", "application/json"},
                             {"x-content-sha256", "fJ49dxk5Md//TqmTMgu1+EAjSNMPkvcmniu4G7Jqtss="}};
    const std::vector<std::string> names = {"date",           "(request-target)", "host",
                                            "content-length", "content-type",     "x-content-sha256"};
    const std::string rest =
        "host: auth.us-ashburn-1.oraclecloud.com\n"
        "content-length: 14\n"
        "content-type: application/json\n"
        "x-content-sha256: fJ49dxk5Md//TqmTMgu1+EAjSNMPkvcmniu4G7Jqtss=";
    CHECK(*signing_string(
              request_of(HttpMethod::post, "https://auth.us-ashburn-1.oraclecloud.com/v1/x509", headers),
              names) == "date: Tue, 14 Nov 2023 22:13:20 GMT\n(request-target): post /v1/x509\n" + rest);
    CHECK(*signing_string(
              request_of(HttpMethod::put, "https://auth.us-ashburn-1.oraclecloud.com/v1/x509", headers),
              names) == "date: Tue, 14 Nov 2023 22:13:20 GMT\n(request-target): put /v1/x509\n" + rest);
  }

  TEST_CASE("signing_string names a header the request lacks") {
    const HttpRequest request = request_of(HttpMethod::get, "https://h/x", {{"date", "d"}});
    CHECK(signing_string(request, {"date", "(request-target)", "host"}).error().message ==
          "the request has no \"host\" header to sign");
  }

  TEST_CASE("sign_request on a GET adds date, host and authorization, and nothing else") {
    HttpRequest request =
        request_of(HttpMethod::get, "https://iaas.us-ashburn-1.oraclecloud.com/20160918/privateIps?vnicId=v",
                   {{"accept", "application/json"}});
    const RsaKey key = leaf_key();
    REQUIRE(sign_request(request, "ST$token", key, at(1700000000)).ok());
    REQUIRE(request.headers.size() == 4);
    CHECK(request.headers[0] == std::pair<std::string, std::string>{"accept", "application/json"});
    CHECK(request.headers[1] == std::pair<std::string, std::string>{"date", "Tue, 14 Nov 2023 22:13:20 GMT"});
    CHECK(request.headers[2] ==
          std::pair<std::string, std::string>{"host", "iaas.us-ashburn-1.oraclecloud.com"});
    CHECK(request.headers[3].first == "authorization");
    const std::string& authorization = request.headers[3].second;
    CHECK(
        authorization.starts_with("Signature version=\"1\",headers=\"date (request-target) "
                                  "host\",keyId=\"ST$token\",algorithm=\"rsa-sha256\","
                                  "signature=\""));
    CHECK(verifies_sha256(key.public_key_der(),
                          "date: Tue, 14 Nov 2023 22:13:20 GMT\n"
                          "(request-target): get /20160918/privateIps?vnicId=v\n"
                          "host: iaas.us-ashburn-1.oraclecloud.com",
                          signature_of(authorization)));
  }

  TEST_CASE("sign_request on a POST also adds the body headers and signs them") {
    HttpRequest request = request_of(HttpMethod::post, "https://auth.us-ashburn-1.oraclecloud.com/v1/x509",
                                     {}, R"({"vnicId":"x"})");
    const RsaKey key = leaf_key();
    REQUIRE(sign_request(request, "tenancy/fed-x509-sha256/AB:CD", key, at(1700000000)).ok());
    REQUIRE(request.headers.size() == 6);
    CHECK(Headers(request.headers.begin(), request.headers.begin() + 5) ==
          Headers{{"date", "Tue, 14 Nov 2023 22:13:20 GMT"},
                  {"host", "auth.us-ashburn-1.oraclecloud.com"},
                  {"content-type", "application/json"},
                  {"content-length", "14"},
                  {"x-content-sha256", "fJ49dxk5Md//TqmTMgu1+EAjSNMPkvcmniu4G7Jqtss="}});
    CHECK(request.headers[5].first == "authorization");
    CHECK(request.headers[5].second.starts_with(
        "Signature version=\"1\",headers=\"date (request-target) host content-length content-type "
        "x-content-sha256\","
        "keyId=\"tenancy/fed-x509-sha256/AB:CD\",algorithm=\"rsa-sha256\",signature=\""));
    CHECK(verifies_sha256(key.public_key_der(),
                          "date: Tue, 14 Nov 2023 22:13:20 GMT\n"
                          "(request-target): post /v1/x509\n"
                          "host: auth.us-ashburn-1.oraclecloud.com\n"
                          "content-length: 14\n"
                          "content-type: application/json\n"
                          "x-content-sha256: fJ49dxk5Md//TqmTMgu1+EAjSNMPkvcmniu4G7Jqtss=",
                          signature_of(request.headers[5].second)));
  }

  TEST_CASE("sign_request on a PUT with an empty body hashes the empty body") {
    HttpRequest request = request_of(HttpMethod::put, "http://127.0.0.1:8080/v1/x", {});
    REQUIRE(sign_request(request, "k", leaf_key(), at(0)).ok());
    REQUIRE(request.headers.size() == 6);
    CHECK(Headers(request.headers.begin(), request.headers.begin() + 5) ==
          Headers{{"date", "Thu, 01 Jan 1970 00:00:00 GMT"},
                  {"host", "127.0.0.1:8080"},
                  {"content-type", "application/json"},
                  {"content-length", "0"},
                  {"x-content-sha256", "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="}});
  }

  TEST_CASE(
      "sign_request keeps headers the request already has, in any case, and replaces an old signature") {
    HttpRequest request = request_of(HttpMethod::post, "https://h.example/p",
                                     {{"Authorization", "Signature old"},
                                      {"Content-Type", "application/json; charset=utf-8"},
                                      {"Host", "other.example"},
                                      {"Date", "Mon, 13 Nov 2023 00:00:00 GMT"}},
                                     "{}");
    const RsaKey key = leaf_key();
    REQUIRE(sign_request(request, "k", key, at(1700000000)).ok());
    REQUIRE(request.headers.size() == 6);
    CHECK(Headers(request.headers.begin(), request.headers.begin() + 5) ==
          Headers{{"Content-Type", "application/json; charset=utf-8"},
                  {"Host", "other.example"},
                  {"Date", "Mon, 13 Nov 2023 00:00:00 GMT"},
                  {"content-length", "2"},
                  {"x-content-sha256", "RBNvo1WzZ4oRRq0W9+hknpT7T8If536DEMBg9hyq/4o="}});
    CHECK(request.headers[5].first == "authorization");
    CHECK(verifies_sha256(key.public_key_der(),
                          "date: Mon, 13 Nov 2023 00:00:00 GMT\n"
                          "(request-target): post /p\n"
                          "host: other.example\n"
                          "content-length: 2\n"
                          "content-type: application/json; charset=utf-8\n"
                          "x-content-sha256: RBNvo1WzZ4oRRq0W9+hknpT7T8If536DEMBg9hyq/4o=",
                          signature_of(request.headers[5].second)));
  }

  TEST_CASE("host carries the port only when the URL names one") {
    const std::vector<std::pair<std::string, std::string>> cases = {
        {"https://iaas.us-ashburn-1.oraclecloud.com/20160918/privateIps",
         "iaas.us-ashburn-1.oraclecloud.com"},
        {"https://iaas.us-ashburn-1.oraclecloud.com:443/20160918/privateIps",
         "iaas.us-ashburn-1.oraclecloud.com:443"},
        {"http://127.0.0.1:18080/v1/x509", "127.0.0.1:18080"},
        {"http://169.254.169.254/opc/v2/instance/", "169.254.169.254"},
        {"http://[fd00::1]:8080/x", "[fd00::1]:8080"},
        {"http://[fd00::1]/x", "[fd00::1]"},
        {"HTTPS://Example.COM/x", "Example.COM"},
    };
    for (const auto& [url, host] : cases) {
      CAPTURE(url);
      HttpRequest request = request_of(HttpMethod::get, url);
      REQUIRE(sign_request(request, "k", leaf_key(), at(0)).ok());
      REQUIRE(request.headers.size() == 3);
      CHECK(request.headers[1] == std::pair<std::string, std::string>{"host", host});
    }
  }

  TEST_CASE(
      "sign_request rejects a URL that is not http(s)://host[:port]/path and leaves the request alone") {
    for (const char* url :
         {"", "ftp://h/x", "https://", "https://h", "https://h?x=1", "https:///x", "https://h:/x",
          "https://h:0/x", "https://h:65536/x", "https://h:80a/x", "https://user@h/x", "https://h/a b",
          "https://h/x#frag", "https://[fd00::1/x", "https://[]/x", "https://h_%/x", "//h/x"}) {
      CAPTURE(url);
      HttpRequest request = request_of(HttpMethod::get, url, {{"accept", "*/*"}});
      auto signed_ = sign_request(request, "k", leaf_key(), at(0));
      REQUIRE_FALSE(signed_.ok());
      CHECK(signed_.error().message == nicsync::quote(url) + " is not an http(s)://host[:port]/path URL");
      CHECK(request.headers == Headers{{"accept", "*/*"}});
    }
    CHECK(signing_string(request_of(HttpMethod::get, "h/x"), {"(request-target)"}).error().message ==
          "\"h/x\" is not an http(s)://host[:port]/path URL");
  }
}
