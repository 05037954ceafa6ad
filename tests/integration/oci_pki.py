"""A throwaway PKI for tests of OCI instance-principal authentication, made with the `openssl`
command-line tool (argument lists, no shell), and a helper that runs nicsync-mock-oci-api with it.

make_pki(directory, tenancy_id, instance_id) writes, in `directory`:
  ca.pem, ca-key.pem                  a root CA (trust anchor of both chains below; EC P-256 key,
                                      RSA 2048 with rsa_everywhere=True)
  server.pem, server-key.pem          TLS server certificate for DNS:localhost, IP:127.0.0.1, IP:::1
                                      (+ `server_names`; only those with loopback_names=False),
                                      issued by the root (key: as the root's)
  intermediate.pem, intermediate-key.pem
                                      an intermediate CA issued by the root, as IMDS serves
                                      /opc/v2/identity/intermediate.pem
  leaf.pem, leaf-key.pem              the instance certificate issued by the intermediate, as IMDS
                                      serves /opc/v2/identity/cert.pem, and its unencrypted RSA 2048
                                      key as PKCS#8 PEM ("BEGIN PRIVATE KEY"), as .../key.pem
  leaf-key-pkcs1.pem                  the same key as PKCS#1 ("BEGIN RSA PRIVATE KEY"): which of the
                                      two forms the real service uses is not documented

The leaf subject follows the real layout (as a published sample in Teleport's RFD 231 shows it,
and as the OCI SDKs' tenancy lookup expects it):
  CN=<instance_id>, OU=opc-certtype:instance, OU=opc-compartment:<compartment_id>,
  OU=opc-instance:<instance_id>, OU=opc-tenant:<tenancy_id>
with one attribute per RDN, or all OUs in one multi-valued RDN (multi_value_rdn=True), as some
real certificates have it.

The returned dict holds the paths above (keys ca, ca_key, server, server_key, intermediate,
intermediate_key, leaf, leaf_key, leaf_key_pkcs1) plus tenancy_id, instance_id, compartment_id and
the leaf's fingerprints leaf_sha1 / leaf_sha256 (upper-case hex pairs joined by ':').
"""

import contextlib
import hashlib
import os
import pathlib
import secrets
import ssl
import subprocess
import tempfile

from served import served

MOCK_OCI = os.environ.get("NICSYNC_MOCK_OCI", "nicsync-mock-oci-api")
DEFAULT_COMPARTMENT = "ocid1.compartment.oc1..test"

_CONFIG = """\
[req]
distinguished_name = dn
prompt = no
string_mask = utf8only
[dn]
[root]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[intermediate]
basicConstraints = critical, CA:TRUE, pathlen:0
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
[server]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
subjectAltName = {san}
[leaf]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
"""


def _openssl(*args):
    proc = subprocess.run(["openssl", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"openssl {' '.join(args)}: exit {proc.returncode}: {proc.stderr.strip()}")
    return proc.stdout


def _subject(parts, multi_value_rdn=False):
    """openssl -subj form of [(type, value), ...]; '/' and '+' and '\\' in values are escaped."""
    def esc(value):
        return value.replace("\\", "\\\\").replace("/", "\\/").replace("+", "\\+")
    if not multi_value_rdn:
        return "".join(f"/{t}={esc(v)}" for t, v in parts)
    first, rest = parts[0], parts[1:]
    return f"/{first[0]}={esc(first[1])}/" + "+".join(f"{t}={esc(v)}" for t, v in rest)


def _issue(directory, config, name, subject, issuer, section, days):
    """Issues <name>.pem for <name>-key.pem, signed by <issuer>.pem/<issuer>-key.pem."""
    d = pathlib.Path(directory)
    csr = d / f"{name}.csr"
    _openssl("req", "-new", "-config", str(config), "-key", str(d / f"{name}-key.pem"), "-subj", subject,
             "-multivalue-rdn", "-out", str(csr))
    _openssl("x509", "-req", "-in", str(csr), "-CA", str(d / f"{issuer}.pem"), "-CAkey", str(d / f"{issuer}-key.pem"),
             "-set_serial", str(secrets.randbits(63) | 1), "-days", str(days), "-sha256",
             "-extfile", str(config), "-extensions", section, "-out", str(d / f"{name}.pem"))
    csr.unlink()


def make_pki(directory, tenancy_id, instance_id, compartment_id=DEFAULT_COMPARTMENT, server_names=(),
             multi_value_rdn=False, rsa_everywhere=False, loopback_names=True):
    """Creates the PKI described in the module's docstring in `directory` (which must exist)."""
    d = pathlib.Path(directory)
    loopback = ("localhost",) if loopback_names else ()
    addresses = ["IP:127.0.0.1", "IP:::1"] if loopback_names else []
    san = ",".join([f"DNS:{n}" for n in (*loopback, *server_names)] + addresses)
    config = d / "openssl.cnf"
    config.write_text(_CONFIG.replace("{san}", san))

    # RSA 2048 key generation is most of the time: the keys are made in parallel, and the root
    # and TLS server keys are EC P-256 (instant) unless rsa_everywhere. The intermediate and the
    # leaf are RSA 2048 as in OCI (the leaf signs the federation request with rsa-sha256).
    names = ("ca", "server", "intermediate", "leaf")
    rsa = ["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"]
    ec = ["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"]
    procs = [subprocess.Popen(["openssl", "genpkey", *(rsa if rsa_everywhere or n in ("intermediate", "leaf") else ec),
                               "-out", str(d / f"{n}-key.pem")], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
             for n in names]
    for n, p in zip(names, procs):
        _, err = p.communicate()
        if p.returncode != 0:
            raise RuntimeError(f"openssl genpkey ({n}): {err.decode().strip()}")
        os.chmod(d / f"{n}-key.pem", 0o600)

    _openssl("req", "-new", "-x509", "-config", str(config), "-extensions", "root", "-key", str(d / "ca-key.pem"),
             "-subj", "/O=nicsync tests/CN=nicsync test root CA", "-days", "3650", "-sha256",
             "-set_serial", str(secrets.randbits(63) | 1), "-out", str(d / "ca.pem"))
    _issue(d, config, "server", "/O=nicsync tests/CN=localhost", "ca", "server", 30)
    _issue(d, config, "intermediate", "/O=nicsync tests/CN=PKISVC Identity Intermediate (nicsync test)", "ca",
           "intermediate", 3650)
    leaf_subject = _subject([("CN", instance_id), ("OU", "opc-certtype:instance"),
                             ("OU", f"opc-compartment:{compartment_id}"), ("OU", f"opc-instance:{instance_id}"),
                             ("OU", f"opc-tenant:{tenancy_id}")], multi_value_rdn)
    _issue(d, config, "leaf", leaf_subject, "intermediate", "leaf", 1)
    _openssl("pkey", "-in", str(d / "leaf-key.pem"), "-traditional", "-out", str(d / "leaf-key-pkcs1.pem"))
    os.chmod(d / "leaf-key-pkcs1.pem", 0o600)

    der = ssl.PEM_cert_to_DER_cert((d / "leaf.pem").read_text())

    def fingerprint(algorithm):
        return ":".join(f"{b:02X}" for b in hashlib.new(algorithm, der).digest())

    return {
        "ca": str(d / "ca.pem"), "ca_key": str(d / "ca-key.pem"),
        "server": str(d / "server.pem"), "server_key": str(d / "server-key.pem"),
        "intermediate": str(d / "intermediate.pem"), "intermediate_key": str(d / "intermediate-key.pem"),
        "leaf": str(d / "leaf.pem"), "leaf_key": str(d / "leaf-key.pem"),
        "leaf_key_pkcs1": str(d / "leaf-key-pkcs1.pem"),
        "tenancy_id": tenancy_id, "instance_id": instance_id, "compartment_id": compartment_id,
        "leaf_sha1": fingerprint("sha1"), "leaf_sha256": fingerprint("sha256"),
    }


class MockOciApi:
    """A running nicsync-mock-oci-api: `url` (https://127.0.0.1:PORT), `port`, `log_path`, and
    `log()` for the JSON log lines written so far."""

    def __init__(self, port, log_path):
        self.port, self.log_path = port, log_path
        self.url = f"https://127.0.0.1:{port}"

    def log(self):
        import json
        if not self.log_path.exists():
            return []
        return [json.loads(line) for line in self.log_path.read_text().splitlines() if line.strip()]


@contextlib.contextmanager
def mock_oci_api(pki, *extra_args, fixture=None, binary=None):
    """Runs nicsync-mock-oci-api on 127.0.0.1 (a free port) with the PKI from make_pki(), the
    fixture (a path, optional) and extra options; yields a MockOciApi. Stops it with SIGTERM."""
    with tempfile.TemporaryDirectory(prefix="nicsync-mock-oci-") as tmp:
        port_file = pathlib.Path(tmp) / "port"
        log_path = pathlib.Path(tmp) / "requests.jsonl"
        args = [binary or MOCK_OCI, "--tls-cert", pki["server"], "--tls-key", pki["server_key"],
                "--leaf-cert", pki["leaf"], "--intermediate-cert", pki["intermediate"],
                "--listen", "127.0.0.1:0", "--port-file", str(port_file), "--log", str(log_path)]
        if fixture is not None:
            args += ["--fixture", str(fixture)]
        with served([*args, *extra_args], port_file, "nicsync-mock-oci-api") as port:
            yield MockOciApi(port, log_path)
