#pragma once
/// OCI API request signatures, version 1 (draft-cavage-http-signatures-08 as OCI uses it):
/// RSA-SHA256 over a signing string built from selected headers, sent as
/// `Authorization: Signature version="1",headers="...",keyId="...",algorithm="rsa-sha256",signature="..."`
/// (the member order of OCI's Go SDK and of the signing test vectors; the server accepts any order).

#include <string>
#include <string_view>
#include <vector>

#include "nicsync/http.hpp"
#include "oci/crypto.hpp"

namespace nicsync::oci {

/// RFC 7231 IMF-fixdate, always GMT: "Sun, 05 Jan 2014 21:31:40 GMT".
std::string http_date(TimePoint when);

/// The signing string of `request` over `header_names` (lower case, in that order): one line
/// "name: value" per header, "(request-target): <method in lower case> <path and query>" for
/// the pseudo-header, joined by '\n' without a trailing newline. A header the request lacks
/// (matched case-insensitively) is an Error naming it.
Result<std::string> signing_string(const HttpRequest& request, const std::vector<std::string>& header_names);

/// Signs `request` in place. First adds the headers it signs when absent: `date` (http_date of
/// `now`) and `host` (the URL's host, with ":port" when the URL gives one); for POST and PUT also
/// `content-type: application/json`, `content-length` and `x-content-sha256` (Base64 SHA-256 of
/// the body). Signs "date (request-target) host" for GET, and additionally "content-length
/// content-type x-content-sha256" for POST and PUT; then adds the Authorization header.
/// An URL that is not http(s)://host[:port]/path is an Error.
Result<void> sign_request(HttpRequest& request, std::string_view key_id, const RsaKey& key, TimePoint now);

}  // namespace nicsync::oci
