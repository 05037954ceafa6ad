"""Self-test of nicsync-mock-oci-api (env NICSYNC_MOCK_OCI): a throwaway PKI from oci_pki, the
mock over TLS, and a client that signs its requests here in Python with `cryptography` — a third
implementation of OCI request signing, independent of nicsync's signer and of the mock's verifier,
itself checked against Oracle's published signing test vectors first.

Checks: TLS with the test CA (chain and names); federation (POST /v1/x509) with the current
Go/Java form (fed-x509-sha256, fingerprintAlgorithm) and the older Python form (fed-x509, SHA-1)
returns a JWT-shaped token with exp, jwk and tenant; ListPrivateIps page by page (--page-size 1)
returns every PrivateIp of a fixture's VNIC; each broken signature, key, date, body hash, header
set, token or Host gets 401 NotAuthenticated and the log line naming the check; --deny gives
404 NotAuthorizedOrNotFound; --expire-tokens-after 1 makes the second use 401 and a fresh token
work; --token-ttl expiry; --federation-status / --api-status faults; option errors exit 2 and
SIGTERM/SIGINT exit 0."""

import base64
import email.utils
import hashlib
import http.client
import json
import pathlib
import signal
import socket
import ssl
import subprocess
import tempfile
import time
import urllib.parse

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from harness import FIXTURES, Failures
from oci_pki import MOCK_OCI, make_pki, mock_oci_api

TENANCY = "ocid1.tenancy.oc1..aaaaaaaanicsynctesttenancy"
INSTANCE = "ocid1.instance.oc1.phx.anyhqljtnicsynctestinstance"
FIXTURE = FIXTURES / "oracle-vm-secondary-vnic.json"
SECOND_VNIC = "ocid1.vnic.oc1.phx.abyhqljt4iew3gwmvrwrhhf3bp5drjexamplesecondvnic0002"

# Oracle's request-signing test values ("Request Signatures" doc; carried verbatim by
# oracle/oci-go-sdk common/http_signer_test.go): a 1024-bit test key, two requests, their signatures.
KAT_KEY = b"""-----BEGIN RSA PRIVATE KEY-----
MIICXgIBAAKBgQDCFENGw33yGihy92pDjZQhl0C36rPJj+CvfSC8+q28hxA161QF
NUd13wuCTUcq0Qd2qsBe/2hFyc2DCJJg0h1L78+6Z4UMR7EOcpfdUE9Hf3m/hs+F
UR45uBJeDK1HSFHD8bHKD6kv8FPGfJTotc+2xjJwoYi+1hqp1fIekaxsyQIDAQAB
AoGBAJR8ZkCUvx5kzv+utdl7T5MnordT1TvoXXJGXK7ZZ+UuvMNUCdN2QPc4sBiA
QWvLw1cSKt5DsKZ8UETpYPy8pPYnnDEz2dDYiaew9+xEpubyeW2oH4Zx71wqBtOK
kqwrXa/pzdpiucRRjk6vE6YY7EBBs/g7uanVpGibOVAEsqH1AkEA7DkjVH28WDUg
f1nqvfn2Kj6CT7nIcE3jGJsZZ7zlZmBmHFDONMLUrXR/Zm3pR5m0tCmBqa5RK95u
412jt1dPIwJBANJT3v8pnkth48bQo/fKel6uEYyboRtA5/uHuHkZ6FQF7OUkGogc
mSJluOdc5t6hI1VsLn0QZEjQZMEOWr+wKSMCQQCC4kXJEsHAve77oP6HtG/IiEn7
kpyUXRNvFsDE0czpJJBvL/aRFUJxuRK91jhjC68sA7NsKMGg5OXb5I5Jj36xAkEA
gIT7aFOYBFwGgQAQkWNKLvySgKbAZRTeLBacpHMuQdl1DfdntvAyqpAZ0lY0RKmW
G6aFKaqQfOXKCyWoUiVknQJAXrlgySFci/2ueKlIE1QqIiLSZ8V8OlpFLRnb1pzI
7U1yQXnTAEFYM560yJlzUpOb1V4cScGd365tiSMvxLOvTA==
-----END RSA PRIVATE KEY-----
"""
KAT_DATE = "Thu, 05 Jan 2014 21:31:40 GMT"
KAT_HOST = "iaas.us-phoenix-1.oraclecloud.com"
KAT_GET_TARGET = ("/20160918/instances?availabilityDomain=Pjwf%3A%20PHX-AD-1&compartmentId=ocid1.compartment.oc1.."
                  "aaaaaaaam3we6vgnherjq5q2idnccdflvjsnog7mlr6rtdb25gilchfeyjxa&displayName=TeamXInstances&volumeId="
                  "ocid1.volume.oc1.phx.abyhqljrgvttnlx73nmrwfaux7kcvzfs3s66izvxf2h4lgvyndsdsnoiwr5q")
KAT_GET_SIGNATURE = ("GBas7grhyrhSKHP6AVIj/h5/Vp8bd/peM79H9Wv8kjoaCivujVXlpbKLjMPeDUhxkFIWtTtLBj3sUzaFj34XE6YZAHc9r2Dm"
                     "E4pMwOAy/kiITcZxa1oHPOeRheC0jP2dqbTll8fmTZVwKZOKHYPtrLJIJQHJjNvxFWeHQjMaR7M=")
KAT_POST_BODY = (b'{\n    "compartmentId": "ocid1.compartment.oc1..aaaaaaaam3we6vgnherjq5q2idnccdflvjsnog7mlr6rtdb25gilchfeyjxa",\n'
                 b'    "instanceId": "ocid1.instance.oc1.phx.abuw4ljrlsfiqw6vzzxb43vyypt4pkodawglp3wqxjqofakrwvou52gb6s5a",\n'
                 b'    "volumeId": "ocid1.volume.oc1.phx.abyhqljrgvttnlx73nmrwfaux7kcvzfs3s66izvxf2h4lgvyndsdsnoiwr5q"\n}')
KAT_POST_SHA256 = "V9Z20UJTvkvpJ50flBzKE32+6m2zJjweHpDMX/U4Uy0="
KAT_POST_SIGNATURE = ("Mje8vIDPlwIHmD/cTDwRxE7HaAvBg16JnVcsuqaNRim23fFPgQfLoOOxae6WqKb1uPjYEl0qIdazWaBy/Ml8DRhqlocMwoSXv0f"
                      "bukP8J5N80LCmzT/FFBvIvTB91XuXI3hYfP9Zt1l7S6ieVadHUfqBedWH0itrtPJBgKmrWso=")

GET_HEADERS = ["date", "(request-target)", "host"]
FEDERATION_HEADERS = ["date", "(request-target)", "content-length", "content-type", "x-content-sha256"]


# --- the Python client ------------------------------------------------------------------------

def http_date(offset=0):
    return email.utils.formatdate(time.time() + offset, usegmt=True)


def body_sha256(body):
    return base64.b64encode(hashlib.sha256(body).digest()).decode()


def signing_string(method, target, headers, names):
    lines = []
    for name in names:
        if name == "(request-target)":
            lines.append(f"(request-target): {method.lower()} {target}")
        else:
            lines.append(f"{name}: {headers[name]}")
    return "\n".join(lines)


def sign(key, text):
    return base64.b64encode(key.sign(text.encode(), padding.PKCS1v15(), hashes.SHA256())).decode()


def authorization(key_id, names, signature, python_order=False):
    if python_order:  # oci-python-sdk's member order
        return (f'Signature algorithm="rsa-sha256",headers="{" ".join(names)}",keyId="{key_id}",'
                f'signature="{signature}",version="1"')
    return (f'Signature version="1",headers="{" ".join(names)}",keyId="{key_id}",algorithm="rsa-sha256",'
            f'signature="{signature}"')


class Client:
    """Sends signed requests to the mock over TLS, verified with the test CA."""

    def __init__(self, pki, mock, server_name="127.0.0.1"):
        self.pki, self.mock, self.server_name = pki, mock, server_name
        self.context = ssl.create_default_context(cafile=pki["ca"])

    def send(self, method, target, headers, body=b""):
        """headers: {lower-case name: value} in the order to send; returns (status, headers, body)."""
        conn = http.client.HTTPSConnection(self.server_name, self.mock.port, context=self.context, timeout=10)
        try:
            conn.putrequest(method, target, skip_host=True, skip_accept_encoding=True)
            for name, value in headers.items():
                conn.putheader(name, value)
            conn.endheaders(body if body else None)
            response = conn.getresponse()
            data = response.read()
            return response.status, {k.lower(): v for k, v in response.getheaders()}, data
        finally:
            conn.close()

    def host(self):
        return f"{self.server_name}:{self.mock.port}"

    # The federation request -------------------------------------------------------------------

    def federation_body(self, session_public, fingerprint_algorithm=True, purpose=True, certificate=None,
                        intermediates=None):
        def b64_der(pem_path):
            return base64.b64encode(ssl.PEM_cert_to_DER_cert(pathlib.Path(pem_path).read_text())).decode()
        body = {
            "certificate": certificate if certificate is not None else b64_der(self.pki["leaf"]),
            "publicKey": base64.b64encode(session_public.public_bytes(
                serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)).decode(),
            "intermediateCertificates": intermediates if intermediates is not None
            else [b64_der(self.pki["intermediate"])],
        }
        if purpose:
            body["purpose"] = "DEFAULT"
        if fingerprint_algorithm:
            body["fingerprintAlgorithm"] = "SHA256"
        return json.dumps(body).encode()

    def federate(self, session_key=None, style="sha256", signing_key=None, key_id=None, date=None,
                 names=None, body=None, sha=None, tamper=None, extra_headers=None):
        """POST /v1/x509; style "sha256" (Go/Java: fed-x509-sha256, lower-case fingerprint as Go
        prints it, fingerprintAlgorithm) or "sha1" (Python SDK: fed-x509, upper-case SHA-1)."""
        session_key = session_key or rsa.generate_private_key(public_exponent=65537, key_size=2048)
        if body is None:
            body = self.federation_body(session_key.public_key(), fingerprint_algorithm=style == "sha256",
                                        purpose=style == "sha256")
        if key_id is None:
            key_id = (f"{TENANCY}/fed-x509-sha256/{self.pki['leaf_sha256'].lower()}" if style == "sha256"
                      else f"{TENANCY}/fed-x509/{self.pki['leaf_sha1']}")
        headers = {"date": date or http_date(), "host": self.host(), "content-length": str(len(body)),
                   "content-type": "application/json", "x-content-sha256": sha or body_sha256(body),
                   **(extra_headers or {})}
        names = names or FEDERATION_HEADERS
        signature = sign(signing_key or load_key(self.pki["leaf_key"]),
                         signing_string("POST", "/v1/x509", headers, names))
        if tamper:
            signature = tamper(signature)
        headers["authorization"] = authorization(key_id, names, signature, python_order=style == "sha1")
        status, response_headers, data = self.send("POST", "/v1/x509", headers, body)
        return status, response_headers, data, session_key

    def token(self, session_key=None):
        status, _, data, session_key = self.federate(session_key)
        assert status == 200, f"federation: {status} {data!r}"
        return json.loads(data)["token"], session_key

    # ListPrivateIps ---------------------------------------------------------------------------

    def list_private_ips(self, token, session_key, vnic=SECOND_VNIC, page=None, date=None, names=None,
                         host=None, signed_host=None, tamper=None, key_id=None, extra_query=""):
        query = ""
        if vnic is not None:
            query = "vnicId=" + urllib.parse.quote(vnic, safe="")
        if page is not None:
            query += "&page=" + urllib.parse.quote(page, safe="")
        query += extra_query
        target = "/20160918/privateIps" + ("?" + query if query else "")
        headers = {"date": date or http_date(), "host": host or self.host(), "accept": "application/json"}
        names = names or GET_HEADERS
        signed = dict(headers, host=signed_host or headers["host"])
        signature = sign(session_key, signing_string("GET", target, signed, names))
        if tamper:
            signature = tamper(signature)
        headers["authorization"] = authorization(key_id or f"ST${token}", names, signature)
        return self.send("GET", target, headers)


def load_key(path):
    return serialization.load_pem_private_key(pathlib.Path(path).read_bytes(), password=None)


def jwt_payload(token):
    parts = token.split(".")
    assert len(parts) == 3, f"token is not JWT-shaped: {token[:40]}..."
    payload = parts[1] + "=" * (-len(parts[1]) % 4)
    return json.loads(base64.urlsafe_b64decode(payload))


def flip(signature):
    """The signature with one bit of its first byte changed."""
    raw = bytearray(base64.b64decode(signature))
    raw[0] ^= 1
    return base64.b64encode(bytes(raw)).decode()


def last_log(mock, count=1):
    lines = mock.log()
    assert len(lines) >= count, f"want {count} log lines, have {len(lines)}"
    return lines[-count:] if count > 1 else lines[-1]


def expect_error(status, data, want_status, want_code):
    assert status == want_status, f"want {want_status}, got {status}: {data!r}"
    body = json.loads(data)
    assert body["code"] == want_code, f"want code {want_code}: {body}"
    assert body["message"], "empty message"
    return body


def expect_rejected(mock, status, data, error_part, service, signature_ok=None, code="NotAuthenticated",
                    want_status=401):
    expect_error(status, data, want_status, code)
    line = last_log(mock)
    assert line["service"] == service, line
    assert line["status"] == want_status, line
    assert line["error"] and error_part in line["error"], f"{error_part!r} not in log error {line['error']!r}"
    if signature_ok is not None:
        assert line["signature_ok"] is signature_ok, f"signature_ok: {line}"
    return line


# --- cases ------------------------------------------------------------------------------------

def case_kat(t):
    with t.case("the Python signer reproduces Oracle's signing test vectors"):
        key = serialization.load_pem_private_key(KAT_KEY, password=None)
        headers = {"date": KAT_DATE, "host": KAT_HOST}
        assert sign(key, signing_string("GET", KAT_GET_TARGET, headers, GET_HEADERS)) == KAT_GET_SIGNATURE
        assert len(KAT_POST_BODY) == 316 and body_sha256(KAT_POST_BODY) == KAT_POST_SHA256
        headers.update({"content-length": "316", "content-type": "application/json",
                        "x-content-sha256": KAT_POST_SHA256})
        names = GET_HEADERS + ["content-length", "content-type", "x-content-sha256"]
        assert sign(key, signing_string("POST", "/20160918/volumeAttachments", headers, names)) == KAT_POST_SIGNATURE


def case_tls(t, pki):
    with t.case("TLS: the test CA verifies the server for 127.0.0.1 and localhost; chain and names"):
        with mock_oci_api(pki) as mock:
            for name in ("127.0.0.1", "localhost"):
                context = ssl.create_default_context(cafile=pki["ca"])
                with socket.create_connection(("127.0.0.1", mock.port), timeout=5) as raw, \
                        context.wrap_socket(raw, server_hostname=name) as tls:
                    cert = tls.getpeercert()
                    assert tls.version() in ("TLSv1.2", "TLSv1.3"), tls.version()
                issuer = dict(x[0] for x in cert["issuer"])
                assert issuer["commonName"] == "nicsync test root CA", cert["issuer"]
                subject = dict(x[0] for x in cert["subject"])
                assert subject["commonName"] == "localhost", cert["subject"]
                san = set(cert["subjectAltName"])
                assert ("DNS", "localhost") in san and ("IP Address", "127.0.0.1") in san, san
            # Without the test CA the chain does not verify.
            try:
                with socket.create_connection(("127.0.0.1", mock.port), timeout=5) as raw, \
                        ssl.create_default_context().wrap_socket(raw, server_hostname="localhost"):
                    pass
                raise AssertionError("verified without the test CA")
            except ssl.SSLCertVerificationError:
                pass
            # A name not in the certificate fails.
            try:
                with socket.create_connection(("127.0.0.1", mock.port), timeout=5) as raw, \
                        ssl.create_default_context(cafile=pki["ca"]).wrap_socket(raw, server_hostname="example.org"):
                    pass
                raise AssertionError("verified for example.org")
            except ssl.SSLCertVerificationError:
                pass
            # The leaf chains to the root through the intermediate.
            subprocess.run(["openssl", "verify", "-CAfile", pki["ca"], "-untrusted", pki["intermediate"], pki["leaf"]],
                           check=True, stdout=subprocess.DEVNULL)


def case_federation(t, pki):
    with t.case("federation: fed-x509-sha256 (Go/Java form) issues a JWT with exp, jwk, tenant"):
        with mock_oci_api(pki, "--token-ttl", "900") as mock:
            client = Client(pki, mock)
            before = int(time.time())
            status, headers, data, session = client.federate()
            assert status == 200, f"{status} {data!r}"
            assert headers.get("content-type", "").startswith("application/json"), headers
            assert headers.get("opc-request-id"), headers
            token = json.loads(data)["token"]
            payload = jwt_payload(token)
            assert before + 900 - 5 <= payload["exp"] <= int(time.time()) + 900 + 5, payload
            assert payload["tenant"] == TENANCY and payload["sub"] == INSTANCE, payload
            assert payload["jti"], payload
            # The token is signed with the TLS key (ES256 for make_pki's EC P-256 server key).
            header_b64, payload_b64, signature_b64 = token.split(".")
            header = json.loads(base64.urlsafe_b64decode(header_b64 + "=" * (-len(header_b64) % 4)))
            assert header["alg"] == "ES256" and header["typ"] == "JWT", header
            raw = base64.urlsafe_b64decode(signature_b64 + "=" * (-len(signature_b64) % 4))
            server_key = x509.load_pem_x509_certificate(pathlib.Path(pki["server"]).read_bytes()).public_key()
            server_key.verify(encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big")),
                              f"{header_b64}.{payload_b64}".encode(), ec.ECDSA(hashes.SHA256()))
            jwk = json.loads(payload["jwk"])
            n = int.from_bytes(base64.urlsafe_b64decode(jwk["n"] + "=" * (-len(jwk["n"]) % 4)), "big")
            assert n == session.public_key().public_numbers().n, "jwk is not the session key"
            line = last_log(mock)
            assert line["service"] == "federation" and line["status"] == 200, line
            assert line["key_id_kind"] == "fed-x509-sha256" and line["signature_ok"] is True, line
            assert line["signed_headers"] == " ".join(FEDERATION_HEADERS), line
            assert line["token_serial"] == 1 and line["error"] is None, line
            # A second federation gets another token.
            token2, _ = client.token()
            assert token2 != token and jwt_payload(token2)["jti"] != payload["jti"]
            assert last_log(mock)["token_serial"] == 2

    with t.case("federation: fed-x509 + SHA-1 (Python SDK form, host signed too, x-date) is accepted"):
        with mock_oci_api(pki) as mock:
            client = Client(pki, mock)
            names = ["x-date", "(request-target)", "host", "content-length", "content-type", "x-content-sha256"]
            status, _, data, _ = client.federate(style="sha1", names=names, date="ignored",
                                                 extra_headers={"x-date": http_date()})
            assert status == 200, f"{status} {data!r}"
            line = last_log(mock)
            assert line["key_id_kind"] == "fed-x509" and line["signature_ok"] is True, line

    with t.case("federation: PKCS#1 leaf key and a multi-valued-RDN leaf subject work too"):
        with tempfile.TemporaryDirectory() as tmp:
            multi = make_pki(tmp, TENANCY, INSTANCE, multi_value_rdn=True)
            with mock_oci_api(multi) as mock:
                client = Client(multi, mock)
                status, _, data, _ = client.federate(signing_key=load_key(multi["leaf_key_pkcs1"]))
                assert status == 200, f"{status} {data!r}"


def case_federation_rejections(t, pki):
    other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    with mock_oci_api(pki) as mock:
        client = Client(pki, mock)
        fp = pki["leaf_sha256"]

        def check(name, error_part, signature_ok=None, **kwargs):
            with t.case(f"federation rejects {name}"):
                status, _, data, _ = client.federate(**kwargs)
                expect_rejected(mock, status, data, error_part, "federation", signature_ok)

        check("a tampered signature", "signature does not verify", False, tamper=flip)
        check("a signature by another key", "signature does not verify", False, signing_key=other_key)
        check("a stale date (10 min)", "not within allowed clock skew", True, date=http_date(-600))
        check("a date in the future (10 min)", "not within allowed clock skew", True, date=http_date(600))
        check("a wrong x-content-sha256", "x-content-sha256", True, sha=body_sha256(b"other"))
        check("a wrong tenancy in keyId", "keyId tenancy", True,
              key_id=f"ocid1.tenancy.oc1..other/fed-x509-sha256/{fp}")
        check("a wrong fingerprint in keyId", "SHA-256 fingerprint", True,
              key_id=f"{TENANCY}/fed-x509-sha256/{pki['leaf_sha1']}")
        check("a signed header set without x-content-sha256", "lack x-content-sha256", True,
              names=["date", "(request-target)", "content-length", "content-type"])
        check("a body certificate that is not the leaf", "body.certificate is not the leaf", True,
              body=client.federation_body(other_key.public_key(), certificate=base64.b64encode(
                  ssl.PEM_cert_to_DER_cert(pathlib.Path(pki["intermediate"]).read_text())).decode()))
        check("a body certificate in PEM form", "not base64 DER", True,
              body=client.federation_body(other_key.public_key(),
                                          certificate=pathlib.Path(pki["leaf"]).read_text()))
        check("a body without the intermediate", "lacks", True,
              body=client.federation_body(other_key.public_key(), intermediates=[]))
        small = rsa.generate_private_key(public_exponent=65537, key_size=1024)
        check("a 1024-bit session key", "fewer than 2048", True, session_key=small)
        with t.case("federation issues no token for a rejected request"):
            assert all(line["token_serial"] is None for line in mock.log()), mock.log()


def case_pages(t, pki):
    items = json.loads(FIXTURE.read_text())["oci_api"]["private_ips"][SECOND_VNIC]
    with t.case("ListPrivateIps: --page-size 1 pages through all PrivateIps of the VNIC"):
        with mock_oci_api(pki, "--page-size", "1", fixture=FIXTURE) as mock:
            client = Client(pki, mock, server_name="localhost")
            token, session = client.token()
            got, page, pages = [], None, []
            for _ in range(10):
                status, headers, data = client.list_private_ips(token, session, page=page)
                assert status == 200, f"{status} {data!r}"
                got += json.loads(data)
                page = headers.get("opc-next-page")
                pages.append(page)
                if not page:
                    break
            assert got == items, f"items differ: {got}"
            assert len(pages) == len(items) and pages[-1] is None, pages
            lines = [line for line in mock.log() if line["service"] == "iaas"]
            assert [line["page"] for line in lines] == [None] + pages[:-1], lines
            assert all(line["status"] == 200 and line["signature_ok"] and line["key_id_kind"] == "ST"
                       and line["token_serial"] == 1 and line["vnic_id"] == SECOND_VNIC
                       and line["signed_headers"] == "date (request-target) host" for line in lines), lines
            # ?limit= pages too; an unknown VNIC answers []; no vnicId answers 400; a foreign page 400.
            status, headers, data = client.list_private_ips(token, session, extra_query="&limit=2")
            assert status == 200 and len(json.loads(data)) == 1, f"{status} {data!r}"
            status, headers, data = client.list_private_ips(token, session, vnic="ocid1.vnic.oc1.phx.unknown")
            assert status == 200 and json.loads(data) == [] and "opc-next-page" not in headers, f"{status} {data!r}"
            status, _, data = client.list_private_ips(token, session, vnic=None)
            expect_rejected(mock, status, data, "vnicId missing", "iaas", True, code="MissingParameter",
                            want_status=400)
            status, _, data = client.list_private_ips(token, session, vnic="ocid1.vnic.other", page=pages[0])
            expect_rejected(mock, status, data, "not a page token", "iaas", True, code="InvalidParameter",
                            want_status=400)
    with t.case("ListPrivateIps: without --page-size one page holds all"):
        with mock_oci_api(pki, fixture=FIXTURE) as mock:
            client = Client(pki, mock)
            token, session = client.token()
            status, headers, data = client.list_private_ips(token, session)
            assert status == 200 and json.loads(data) == items and "opc-next-page" not in headers, data


def case_api_rejections(t, pki):
    other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    with mock_oci_api(pki, fixture=FIXTURE) as mock:
        client = Client(pki, mock)
        token, session = client.token()
        _, other_session = client.token()

        def check(name, error_part, signature_ok=None, **kwargs):
            with t.case(f"ListPrivateIps rejects {name}"):
                args = {"token": token, "session_key": session, **kwargs}
                status, _, data = client.list_private_ips(**args)
                line = expect_rejected(mock, status, data, error_part, "iaas", signature_ok)
                assert line["key_id_kind"] == ("fed-x509-sha256" if "key_id" in kwargs else "ST"), line

        check("a tampered signature", "signature does not verify", False, tamper=flip)
        check("a signature by a key that is not the session key", "signature does not verify", False,
              session_key=other_key)
        check("another token's session key", "signature does not verify", False, session_key=other_session)
        check("a stale date", "not within allowed clock skew", True, date=http_date(-400))
        check("a malformed date", "not an RFC 7231 date", True, date="2014-01-05T21:31:40Z")
        check("a token the federation did not issue", "did not issue", False, token=token[:-4] + "AAAA")
        check("a signed header set without host", "lack host", True, names=["date", "(request-target)"])
        check("a Host that is not what the client connected to", "is not what the client connected to", True,
              host="iaas.us-phoenix-1.oraclecloud.com")
        check("a signed host that differs from the Host sent", "signature does not verify", False,
              signed_host="iaas.us-phoenix-1.oraclecloud.com")
        check("a keyId that is not ST$<token>", "is not ST$", None,
              key_id=f"{TENANCY}/fed-x509-sha256/{pki['leaf_sha256']}")
        with t.case("ListPrivateIps rejects a request without Authorization"):
            status, _, data = client.send("GET", f"/20160918/privateIps?vnicId={SECOND_VNIC}",
                                          {"date": http_date(), "host": client.host()})
            expect_rejected(mock, status, data, "no Authorization header", "iaas", False)
        with t.case("an unknown operation answers 404 NotFound"):
            status, _, data = client.send("GET", "/20160918/instances", {"host": client.host()})
            expect_error(status, data, 404, "NotFound")
        with t.case("after all that, the token still works"):
            status, _, data = client.list_private_ips(token, session)
            assert status == 200, f"{status} {data!r}"


def case_curl(t, pki):
    """nicsync talks through libcurl: the mock must take curl's requests (its own Host header,
    Expect: 100-continue before the federation body) as well."""
    with t.case("curl: federation (Expect: 100-continue) and ListPrivateIps signed here, sent by curl"):
        with mock_oci_api(pki, fixture=FIXTURE) as mock, tempfile.TemporaryDirectory() as tmp:
            client = Client(pki, mock, server_name="localhost")
            session = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            body = client.federation_body(session.public_key())
            headers = {"date": http_date(), "host": client.host(), "content-length": str(len(body)),
                       "content-type": "application/json", "x-content-sha256": body_sha256(body)}
            signature = sign(load_key(pki["leaf_key"]), signing_string("POST", "/v1/x509", headers, FEDERATION_HEADERS))
            auth = authorization(f"{TENANCY}/fed-x509-sha256/{pki['leaf_sha256']}", FEDERATION_HEADERS, signature)
            body_file = pathlib.Path(tmp) / "body.json"
            body_file.write_bytes(body)
            curl = ["curl", "-sS", "--fail-with-body", "--cacert", pki["ca"]]
            proc = subprocess.run([*curl, f"https://localhost:{mock.port}/v1/x509", "-H", f"date: {headers['date']}",
                                   "-H", "content-type: application/json", "-H",
                                   f"x-content-sha256: {headers['x-content-sha256']}", "-H", f"authorization: {auth}",
                                   "-H", "Expect: 100-continue", "--data-binary", f"@{body_file}"],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=20)
            assert proc.returncode == 0, f"curl exit {proc.returncode}: {proc.stdout} {proc.stderr}"
            token = json.loads(proc.stdout)["token"]
            target = "/20160918/privateIps?vnicId=" + SECOND_VNIC
            headers = {"date": http_date(), "host": client.host()}
            signature = sign(session, signing_string("GET", target, headers, GET_HEADERS))
            proc = subprocess.run([*curl, f"https://localhost:{mock.port}{target}", "-H", f"date: {headers['date']}",
                                   "-H", f"authorization: {authorization('ST$' + token, GET_HEADERS, signature)}"],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=20)
            assert proc.returncode == 0, f"curl exit {proc.returncode}: {proc.stdout} {proc.stderr}"
            assert len(json.loads(proc.stdout)) == 3, proc.stdout


def case_faults(t, pki):
    with t.case("--deny: an authenticated ListPrivateIps gets 404 NotAuthorizedOrNotFound"):
        with mock_oci_api(pki, "--deny", fixture=FIXTURE) as mock:
            client = Client(pki, mock)
            token, session = client.token()
            status, _, data = client.list_private_ips(token, session)
            body = expect_error(status, data, 404, "NotAuthorizedOrNotFound")
            assert body["message"] == "Authorization failed or requested resource not found.", body
            line = last_log(mock)
            assert line["signature_ok"] is True and line["token_serial"] == 1 and "--deny" in line["error"], line

    with t.case("--expire-tokens-after 1: the second use gets 401, a new token works"):
        with mock_oci_api(pki, "--expire-tokens-after", "1", fixture=FIXTURE) as mock:
            client = Client(pki, mock)
            token, session = client.token()
            status, _, data = client.list_private_ips(token, session)
            assert status == 200, f"{status} {data!r}"
            status, _, data = client.list_private_ips(token, session)
            line = expect_rejected(mock, status, data, "invalidated after 1 uses", "iaas", True)
            assert line["token_serial"] == 1, line
            token2, session2 = client.token()
            status, _, data = client.list_private_ips(token2, session2)
            assert status == 200, f"{status} {data!r}"
            assert last_log(mock)["token_serial"] == 2

    with t.case("--token-ttl 1: the token expires"):
        with mock_oci_api(pki, "--token-ttl", "1", fixture=FIXTURE) as mock:
            client = Client(pki, mock)
            token, session = client.token()
            assert jwt_payload(token)["exp"] <= time.time() + 2
            time.sleep(2.1)
            status, _, data = client.list_private_ips(token, session)
            expect_rejected(mock, status, data, "expired", "iaas", True)

    with t.case("--federation-status 503:1 then success; --api-status 429:1 then success"):
        with mock_oci_api(pki, "--federation-status", "503:1", "--api-status", "429:1", fixture=FIXTURE) as mock:
            client = Client(pki, mock)
            status, _, data, _ = client.federate()
            line = expect_rejected(mock, status, data, "--federation-status", "federation", True,
                                   code="ServiceUnavailable", want_status=503)
            assert line["token_serial"] is None, line
            token, session = client.token()
            status, _, data = client.list_private_ips(token, session)
            expect_rejected(mock, status, data, "--api-status", "iaas", True, code="TooManyRequests", want_status=429)
            status, _, data = client.list_private_ips(token, session)
            assert status == 200, f"{status} {data!r}"

    with t.case("--federation-status 500 (always)"):
        with mock_oci_api(pki, "--federation-status", "500") as mock:
            client = Client(pki, mock)
            for _ in range(3):
                status, _, data, _ = client.federate()
                expect_error(status, data, 500, "InternalServerError")

    with t.case("--latency-ms 300 delays answers"):
        with mock_oci_api(pki, "--latency-ms", "300") as mock:
            client = Client(pki, mock)
            start = time.monotonic()
            client.token()
            assert time.monotonic() - start >= 0.3


def case_process(t, pki):
    def run(*args):
        return subprocess.run([MOCK_OCI, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              timeout=10)
    base = ["--tls-cert", pki["server"], "--tls-key", pki["server_key"], "--leaf-cert", pki["leaf"],
            "--intermediate-cert", pki["intermediate"]]
    for name, args, part in [
        ("an unknown option", [*base, "--bogus"], "--bogus: unknown option"),
        ("no --tls-cert", ["--tls-key", pki["server_key"], "--leaf-cert", pki["leaf"]], "--tls-cert"),
        ("a bad --federation-status", [*base, "--federation-status", "abc"], "--federation-status abc"),
        ("a bad --api-status TIMES", [*base, "--api-status", "503:x"], "TIMES"),
        ("a bad --listen", [*base, "--listen", "nowhere"], "--listen nowhere"),
        ("a leaf without opc-tenant", [*base[:4], "--leaf-cert", pki["server"], *base[6:]], "opc-tenant"),
        ("a key that does not match the certificate", ["--tls-cert", pki["server"], "--tls-key", pki["leaf_key"],
                                                        *base[4:]], "does not match"),
        ("a missing fixture", [*base, "--fixture", "/nonexistent.json"], "/nonexistent.json"),
    ]:
        with t.case(f"options: {name} -> one line, exit 2"):
            proc = run(*args)
            assert proc.returncode == 2, f"exit {proc.returncode}: {proc.stderr!r}"
            lines = proc.stderr.splitlines()
            assert len(lines) == 1 and part in lines[0], proc.stderr
    with t.case("--help exits 0"):
        proc = run("--help")
        assert proc.returncode == 0 and "--federation-status" in proc.stdout, proc
    for sig in (signal.SIGTERM, signal.SIGINT):
        with t.case(f"{sig.name} -> exit 0, prints listening on https://..."):
            with tempfile.TemporaryDirectory() as tmp:
                port_file = pathlib.Path(tmp) / "port"
                proc = subprocess.Popen([MOCK_OCI, *base, "--port-file", str(port_file)], stdout=subprocess.PIPE,
                                        stderr=subprocess.PIPE, text=True)
                deadline = time.monotonic() + 10
                while not port_file.exists() and time.monotonic() < deadline and proc.poll() is None:
                    time.sleep(0.01)
                port = port_file.read_text().strip()
                # An idle keep-alive connection must not hold the exit up.
                conn = socket.create_connection(("127.0.0.1", int(port)))
                proc.send_signal(sig)
                out, err = proc.communicate(timeout=5)
                conn.close()
                assert proc.returncode == 0, f"exit {proc.returncode}: {err!r}"
                assert out.strip() == f"listening on https://127.0.0.1:{port}", out


def main():
    t = Failures()
    case_kat(t)
    with tempfile.TemporaryDirectory(prefix="nicsync-oci-pki-") as tmp:
        with t.case("make_pki is quick"):
            start = time.monotonic()
            pki = make_pki(tmp, TENANCY, INSTANCE)
            elapsed = time.monotonic() - start
            print(f"     make_pki: {elapsed:.2f} s")
            # About 1 s here: two RSA 2048 keys are most of it. The bound leaves room for a
            # loaded machine (parallel ctest) without letting it become slow unnoticed.
            assert elapsed < 5, f"{elapsed:.2f} s"
        case_tls(t, pki)
        case_federation(t, pki)
        case_federation_rejections(t, pki)
        case_pages(t, pki)
        case_api_rejections(t, pki)
        case_curl(t, pki)
        case_faults(t, pki)
        case_process(t, pki)
    t.finish()


if __name__ == "__main__":
    main()
