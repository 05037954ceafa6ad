"""Oracle secondary private IPs from the OCI API, end to end: the launcher against the mock
metadata server (serving a throwaway PKI's instance identity) and nicsync-mock-oci-api over TLS,
which checks every request's signature against the public key it belongs to and logs what it
saw. Covers pagination, token renewal (by expiry and after a 401), configured IPs merged with
the API's, the CA file read once per run, by nicsync (under strace), a certificate for another
host name refused, and every failure path: one warning naming the cause, exit 0, and no address
lost — the secondary IPs of the last good view are kept."""

import json
import pathlib
import re
import shutil
import subprocess
import tempfile

from harness import (GOLDEN, NICSYNC, Failures, compare_golden, free_port, mock_server, no_leak_check_env,
                     oci_api_settings, run_nicsync, snapshot, target_root, write_oci_api_settings)

VM = "oracle-vm-secondary-vnic"       # two VNICs; the second has 172.16.2.11 and .12 from the API
SEED = "oracle-seed-secondary-ip"     # the tutorial: 10.0.1.11 ('secondaryip') on ens3
VNIC2 = "ocid1.vnic.oc1.phx.abyhqljt4iew3gwmvrwrhhf3bp5drjexamplesecondvnic0002"
NETPLAN = "etc/netplan/90-nicsync.yaml"
MARKER = "run/nicsync/refresh-needed"
LAST_GOOD = "var/lib/nicsync/metadata.json"


def check(condition, message):
    if not condition:
        raise AssertionError(message)


def apply(root, url, *extra, exit_code=0):
    return run_nicsync("--root", str(root), "--metadata-url", url, *extra, "apply", check_exit=exit_code)


def warnings(proc):
    return [line for line in proc.stderr.splitlines() if line.startswith("nicsync: warning:")]


def iaas(log):
    return [e for e in log if e["service"] == "iaas"]


def federations(log):
    return [e for e in log if e["service"] == "federation"]


def all_signed(log):
    """Every request the mock saw carried a signature that verified against its key."""
    bad = [e for e in log if not e["signature_ok"]]
    check(not bad, f"requests whose signature did not verify: {bad}")


def case_pages_and_signatures(t):
    with mock_server(VM, oci_args=("--page-size", "1")) as url, target_root(VM, "netplan", oci=url.oci) as root:
        with t.case(f"{VM}: one page per private IP, every request signed; the files are the golden ones"):
            apply(root, url)
            compare_golden(root, GOLDEN / VM / "netplan")
            log = url.oci.log()
            all_signed(log)
            check([e["key_id_kind"] for e in federations(log)] == ["fed-x509-sha256"], f"federations: {log}")
            check(federations(log)[0]["signed_headers"] ==
                  "date (request-target) host content-length content-type x-content-sha256", federations(log)[0])
            calls = [(e["vnic_id"][-10:], e["page"] is not None, e["status"], e["key_id_kind"], e["signed_headers"])
                     for e in iaas(log)]
            second = [c for c in calls if c[0] == VNIC2[-10:]]
            check(len(second) == 3 and [c[1] for c in second] == [False, True, True],
                  f"the second VNIC's three IPs take three pages: {calls}")
            check(all(c[2] == 200 and c[3] == "ST" and c[4] == "date (request-target) host" for c in calls), calls)
        with t.case(f"{VM}: show gives the API's addresses and hostname labels"):
            shown = json.loads(run_nicsync("--root", str(root), "--metadata-url", url, "--json", "show",
                                           check_exit=0).stdout)
            nic = next(n for n in shown["interfaces"] if n["id"] == VNIC2)
            check(nic["ipv4"]["addresses"] == ["172.16.2.10", "172.16.2.11", "172.16.2.12"], nic)
            check(nic["ipv4"]["hostname_labels"] == {"172.16.2.10": "vm1-vnic2"}, nic)
        with t.case(f"{VM}: the last good view keeps them, no refresh marker"):
            view = json.loads((root / LAST_GOOD).read_text())
            saved = next(n for n in view["interfaces"] if n["id"] == VNIC2)
            check(saved["ipv4"]["addresses"] == ["172.16.2.10", "172.16.2.11", "172.16.2.12"], saved)
            check(not (root / MARKER).exists(), "refresh marker after a complete fetch")


def case_token_renewal(t):
    with mock_server(VM, oci_args=("--expire-tokens-after", "1")) as url, \
            target_root(VM, "netplan", oci=url.oci) as root:
        with t.case(f"{VM}: a token refused (401) is renewed once and the refused request repeated"):
            proc = apply(root, url)
            compare_golden(root, GOLDEN / VM / "netplan")
            log = url.oci.log()
            all_signed(log)
            check(len(federations(log)) == 2, f"want 2 federations: {log}")
            statuses = sorted(e["status"] for e in iaas(log))
            check(statuses == [200, 200, 401], f"ListPrivateIps statuses: {statuses}")
            check(warnings(proc) == [], proc.stderr)
    with mock_server(VM, oci_args=("--token-ttl", "30", "--page-size", "1")) as url, \
            target_root(VM, "netplan", oci=url.oci) as root:
        with t.case(f"{VM}: a token that expires within a minute is renewed before each round"):
            apply(root, url)
            compare_golden(root, GOLDEN / VM / "netplan")
            log = url.oci.log()
            all_signed(log)
            serials = [e["token_serial"] for e in iaas(log)]
            check(len(federations(log)) == 3 and sorted(set(serials)) == [1, 2, 3],
                  f"three rounds (pages), three tokens: {len(federations(log))} federations, serials {serials}")


def case_configured_merge(t):
    with mock_server(VM) as url, target_root(VM, "netplan", oci=url.oci) as root:
        (root / "etc/nicsync/conf.d/50-ips.yaml").write_text(
            f"oracle:\n  secondary_ips:\n    {VNIC2}: [172.16.2.20, 172.16.2.11]\n")
        with t.case(f"{VM}: configured IPs join the API's, after them, none twice"):
            apply(root, url)
            shown = json.loads(run_nicsync("--root", str(root), "--metadata-url", url, "--json", "show",
                                           check_exit=0).stdout)
            nic = next(n for n in shown["interfaces"] if n["id"] == VNIC2)
            check(nic["ipv4"]["addresses"] == ["172.16.2.10", "172.16.2.11", "172.16.2.12", "172.16.2.20"], nic)
            text = (root / NETPLAN).read_text()
            for address in ("172.16.2.11/32", "172.16.2.12/32", "172.16.2.20/32"):
                check(text.count(address) == 1, f"{address} not exactly once in:\n{text}")


def opens_under_strace(path, port, *args):
    """Runs nicsync with args under `strace -f -k`; returns (the process, the library that made each
    open of `path`, how many connections it opened to 127.0.0.1:port). The library is the first
    frame of the open's stack outside the C library, libcrypto and the sanitizers' runtimes:
    libnicsync for nicsync's own CA store, libcurl (7.88) or libssl where libcurl loads the file
    itself."""
    with tempfile.TemporaryDirectory(prefix="nicsync-strace-") as tmp:
        trace = pathlib.Path(tmp) / "trace"
        proc = subprocess.run(["strace", "-f", "-k", "-qq", "-e", "trace=openat,connect", "-o", str(trace), NICSYNC,
                               *args], capture_output=True, text=True, timeout=120, env=no_leak_check_env())
        opened = re.compile(r'openat\(AT_FDCWD, "' + re.escape(str(path)) + r'", [^)]*\) = \d+')
        connected = re.compile(r'connect\(\d+, \{sa_family=AF_INET, sin_port=htons\(' + str(port) +
                               r'\), sin_addr=inet_addr\("127\.0\.0\.1"\)')
        frame = re.compile(r"^ > (\S+?)\(")
        runtime = re.compile(r"/(libc|ld-linux-x86-64|libcrypto|libasan|libubsan)\.so")
        callers, connections, awaiting_caller = [], 0, False
        for line in trace.read_text().splitlines():
            found = frame.match(line)
            if found is None:
                awaiting_caller = opened.search(line) is not None
                connections += 1 if connected.search(line) else 0
            elif awaiting_caller and not runtime.search(found.group(1)):
                callers.append(pathlib.Path(found.group(1)).name)
                awaiting_caller = False
        return proc, callers, connections


def case_ca_file_read_once(t):
    """nicsync loads its CA file itself, once, at the first TLS handshake, and hands that store to
    every connection libcurl opens: libcurl before 7.87 would parse the file per connection, and
    later ones only cache it for a file without a CA directory (Debian's libcurl has both by
    default); built per connection, a bundle of ~140 CAs costs ~0.8 MiB each. Both the configured
    ca_bundle and, without one, libcurl's own default file are read so; an API that cannot be
    reached costs no read at all."""
    system_ca = subprocess.run(["curl-config", "--ca"], capture_output=True, text=True).stdout.strip()
    check(system_ca and pathlib.Path(system_ca).is_file(), f"libcurl's default CA file {system_ca!r} is missing "
                                                             "(packaging/build-deps installs ca-certificates)")

    def by_nicsync(callers, file, connections):
        check(len(callers) == 1, f"{file} opened {len(callers)} times over {connections} connections, by {callers}")
        check(callers[0].startswith("libnicsync.so"), f"{file} opened by {callers[0]}, not by nicsync's own store")

    with mock_server(VM, oci_args=("--page-size", "1")) as url, target_root(VM, "netplan", oci=url.oci) as root:
        settings = root / "etc/nicsync/conf.d/40-oci-api.yaml"
        with t.case(f"{VM}: the configured ca_bundle is read once, by nicsync, for all of the run's connections"):
            proc, callers, connections = opens_under_strace(url.oci.ca, url.oci.port, "--root", str(root),
                                                            "--metadata-url", url, "apply")
            check(proc.returncode == 0 and not warnings(proc), f"exit {proc.returncode}:\n{proc.stderr}")
            check(connections >= 2, f"the run made {connections} connections to the API, want several")
            by_nicsync(callers, url.oci.ca, connections)
        with t.case(f"{VM}: a ca_bundle of the server's own certificate, not a CA, is trusted "
                    f"(partial chains, as libcurl trusts its CA file)"):
            settings.write_text(oci_api_settings(url.oci.url, url.oci.pki["server"]))
            proc = apply(root, url)
            check(not warnings(proc), proc.stderr)
        with t.case(f"{VM}: without ca_bundle, libcurl's default CA file {system_ca} is read once, by nicsync, "
                    f"however many attempts fail on the mock's unknown CA"):
            settings.write_text(oci_api_settings(url.oci.url, url.oci.ca).replace(f"    ca_bundle: {url.oci.ca}\n", ""))
            proc, callers, connections = opens_under_strace(system_ca, url.oci.port, "--root", str(root),
                                                            "--metadata-url", url, "apply")
            found = warnings(proc)
            check(proc.returncode == 0 and len(found) == 1 and "no answer" in found[0], proc.stderr)
            check(connections >= 2, f"the run made {connections} connections to the API, want several (retries)")
            by_nicsync(callers, system_ca, connections)
        with t.case(f"{VM}: an API that refuses connections costs no read of the CA file"):
            closed = free_port()
            settings.write_text(oci_api_settings(f"https://127.0.0.1:{closed}", url.oci.ca))
            proc, callers, connections = opens_under_strace(url.oci.ca, closed, "--root", str(root),
                                                            "--metadata-url", url, "apply")
            found = warnings(proc)
            check(proc.returncode == 0 and len(found) == 1 and "Connection refused" in found[0], proc.stderr)
            check(connections >= 2, f"the run tried {connections} connections to the closed port, want several")
            check(callers == [], f"{url.oci.ca} opened by {callers} with no TLS handshake")
        with t.case(f"{VM}: a ca_bundle without a certificate: one warning naming the file, exit 0"):
            settings.write_text(oci_api_settings(url.oci.url, url.oci.pki["server_key"]))
            proc = apply(root, url)
            found = warnings(proc)
            check(proc.returncode == 0 and len(found) == 1, proc.stderr)
            check(url.oci.pki["server_key"] in found[0], f"the warning does not name the file: {found[0]}")


def case_host_name_checked(t):
    """The server's certificate must name the host nicsync connects to, whichever CA store the
    connection verifies against: a certificate from the trusted CA for another name is refused
    before any request is sent."""
    with mock_server(VM, pki_args={"server_names": ("api.nicsync-test.invalid",), "loopback_names": False}) as url, \
            target_root(VM, "netplan", oci=url.oci) as root:
        with t.case(f"{VM}: a certificate from the trusted CA for another host name is refused, nothing sent"):
            proc = apply(root, url)
            found = warnings(proc)
            check(proc.returncode == 0 and len(found) == 1, proc.stderr)
            check("no alternative certificate subject name matches target host name '127.0.0.1'" in found[0],
                  found[0])
            check(url.oci.log() == [], f"the mock answered requests: {url.oci.log()}")


def failure_case(t, name, expected_parts, oci_args=(), settings=None, break_identity=False, last_good=True):
    """A good run first (with last_good; it saves the view), then a run whose API fails as the
    arguments say: exit 0, exactly one warning with every expected part, the files as they were
    (the API's IPs kept from the last good view), the view still holding them, and the refresh
    marker left for nicsync-online."""
    fixture = SEED
    with mock_server(fixture) as good, target_root(fixture, "netplan", oci=good.oci) as root:
        if last_good:
            apply(root, good)
            check("10.0.1.11/32" in (root / NETPLAN).read_text(), "the good run lacks 10.0.1.11")
        before = snapshot(root)
        extra = ("--override", f"/opc/v2/identity/cert.pem={good.oci.pki['intermediate']}") if break_identity else ()
        with mock_server(fixture, *extra, oci_args=oci_args) as bad:
            write_oci_api_settings(root, bad.oci)
            if settings is not None:
                (root / "etc/nicsync/conf.d/40-oci-api.yaml").write_text(settings(bad))
            with t.case(f"{fixture}: {name}: one warning, exit 0"):
                proc = apply(root, bad)
                found = warnings(proc)
                check(len(found) == 1, f"want one warning:\n{proc.stderr}")
                for part in expected_parts:
                    check(part in found[0], f"{part!r} not in {found[0]!r}")
                if last_good:
                    check(found[0].endswith("; kept from the last good view: 10.0.1.11 on "
                                            "ocid1.vnic.oc1.ap-tokyo-1.abwvc7nfari67zagzrwqcy6yn472lun4t3tfp5f24aefvbd55amv7qxgams4"),
                          found[0])
                else:
                    check(found[0].endswith("; no last good view (/var/lib/nicsync/metadata.json): "
                                            "only configured secondary IPs"), found[0])
            with t.case(f"{fixture}: {name}: nothing lost"):
                if last_good:
                    after = snapshot(root)
                    check(after[NETPLAN] == before[NETPLAN], "the netplan file changed")
                    view = json.loads((root / LAST_GOOD).read_text())
                    check(view["interfaces"][0]["ipv4"]["addresses"] == ["10.0.1.2", "10.0.1.11"], view)
                    check(view["interfaces"][0]["ipv4"]["hostname_labels"] ==
                          {"10.0.1.2": "tutorialvm1", "10.0.1.11": "secondaryip"}, view)
                else:
                    check("10.0.1.11" not in (root / NETPLAN).read_text(), "10.0.1.11 without any source")
                check((root / MARKER).exists(), "no refresh marker after the API failed")


def main():
    t = Failures()
    case_pages_and_signatures(t)
    case_token_renewal(t)
    case_configured_merge(t)
    if shutil.which("strace") is None or shutil.which("curl-config") is None:
        raise AssertionError("strace and curl-config are needed (packaging/build-deps)")
    case_ca_file_read_once(t)
    case_host_name_checked(t)
    failure_case(t, "no IAM policy (404)", [
        "oracle: OCI API: ListPrivateIps for ocid1.vnic.oc1.ap-tokyo-1.", "HTTP 404 NotAuthorizedOrNotFound",
        "\"Allow dynamic-group <group> to inspect private-ips in compartment <compartment of the VNIC's subnet>\""],
        oci_args=("--deny",))
    failure_case(t, "no IAM policy, no last good view", ["HTTP 404 NotAuthorizedOrNotFound"], oci_args=("--deny",),
                 last_good=False)
    failure_case(t, "federation refuses", [
        "oracle: OCI API: federation POST https://127.0.0.1:", "/v1/x509: HTTP 401 NotAuthenticated",
        "(the federation endpoint refused the instance certificate)"], oci_args=("--federation-status", "401"))
    failure_case(t, "an identity the federation does not know", [
        "oracle: OCI API: ", "identity/key.pem is not the key of identity/cert.pem"], break_identity=True)
    failure_case(t, "5xx after the retries", ["ListPrivateIps for ", "HTTP 503"], oci_args=("--api-status", "503"))
    port = free_port()
    failure_case(t, "API unreachable", ["oracle: OCI API: federation POST https://127.0.0.1:", "no answer"],
                 settings=lambda bad: oci_api_settings(f"https://127.0.0.1:{port}", bad.oci.ca))
    failure_case(t, "TLS certificate from an unknown CA", ["oracle: OCI API: federation POST", "no answer"],
                 settings=lambda bad: oci_api_settings(bad.oci.url, bad.oci.pki["leaf"]))
    t.finish()


if __name__ == "__main__":
    main()
