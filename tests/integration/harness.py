"""Shared helpers for nicsync's integration tests: the standalone mock metadata server, a fake
target root with the fixture's NICs in sysfs, running the launcher, and reading what the real
consumers (netplan generate -> systemd-networkd .network files) make of nicsync's files."""

import contextlib
import json
import os
import pathlib
import shutil
import socket
import subprocess
import tempfile

import oci_pki
from served import served

NICSYNC = os.environ.get("NICSYNC", "nicsync")
MOCK = os.environ.get("NICSYNC_MOCK", "nicsync-mock-imds")
FIXTURES = pathlib.Path(os.environ.get("FIXTURES", pathlib.Path(__file__).parent.parent / "fixtures"))
GOLDEN = pathlib.Path(os.environ.get("GOLDEN", pathlib.Path(__file__).parent.parent / "golden"))
UPDATE_GOLDEN = os.environ.get("NICSYNC_UPDATE_GOLDEN") == "1"


def load_fixture(name):
    return json.loads((FIXTURES / f"{name}.json").read_text())


def fixtures(vendor=None):
    names = sorted(p.stem for p in FIXTURES.glob("*.json"))
    return [n for n in names if vendor is None or load_fixture(n)["vendor"] == vendor]


class MockUrl(str):
    """The mock metadata server's URL; for an Oracle fixture with an `oci_api` block, `oci` is the
    OCI API mock that runs beside it (oci_pki.MockOciApi, with `ca`: the CA file its TLS
    certificate chains to), else None."""
    oci = None


def needs_oci_api(data):
    return data["vendor"] == "oracle" and bool(data.get("oci_api"))


def identity_overrides(pki):
    """The mock metadata server's --override arguments that serve the instance identity of `pki`
    (oci_pki.make_pki) as OCI's metadata service does."""
    return ["--override", f"/opc/v2/identity/cert.pem={pki['leaf']}",
            "--override", f"/opc/v2/identity/key.pem={pki['leaf_key']}",
            "--override", f"/opc/v2/identity/intermediate.pem={pki['intermediate']}"]


def oci_api_settings(url, ca):
    """The settings that point nicsync's OCI API client at a mock: both endpoints and its CA."""
    return (f"oracle:\n  api:\n    federation_endpoint: {url}\n    iaas_endpoint: {url}\n"
            f"    ca_bundle: {ca}\n")


def write_oci_api_settings(root, oci):
    """Writes /etc/nicsync/conf.d/40-oci-api.yaml under root: the OCI API at `oci` (a MockOciApi
    with `ca`), or, with oci None, the API turned off — a test never lets nicsync reach for the
    real OCI endpoints."""
    conf_d = pathlib.Path(root) / "etc/nicsync/conf.d"
    conf_d.mkdir(parents=True, exist_ok=True)
    text = oci_api_settings(oci.url, oci.ca) if oci is not None else "oracle:\n  api:\n    enabled: false\n"
    (conf_d / "40-oci-api.yaml").write_text(text)


@contextlib.contextmanager
def mock_server(fixture, *extra_args, oci_args=(), pki_args=None):
    """Runs nicsync-mock-imds on 127.0.0.1 (a free port) for the fixture; yields its URL (a
    MockUrl). For an Oracle fixture with `oci_api`, also a throwaway PKI (oci_pki.make_pki with
    `pki_args`) and nicsync-mock-oci-api (with `oci_args`) serving that block, the metadata server
    serving the PKI's instance identity; write_oci_api_settings(root, url.oci) points nicsync at it."""
    data = load_fixture(fixture)
    with tempfile.TemporaryDirectory(prefix="nicsync-mock-") as tmp, contextlib.ExitStack() as stack:
        oci = None
        if needs_oci_api(data):
            pki_dir = pathlib.Path(tmp) / "pki"
            pki_dir.mkdir()
            # openssl caps a CN at 64 characters, shorter than real instance OCIDs: nicsync does not
            # read the instance id from the certificate, so a short one stands in.
            pki = oci_pki.make_pki(pki_dir, "ocid1.tenancy.oc1..nicsynctest", "ocid1.instance.oc1..nicsynctest",
                                   **(pki_args or {}))
            oci = stack.enter_context(oci_pki.mock_oci_api(pki, *oci_args, fixture=FIXTURES / f"{fixture}.json"))
            oci.ca = pki["ca"]
            oci.pki = pki
            extra_args = (*identity_overrides(pki), *extra_args)
        port_file = pathlib.Path(tmp) / "port"
        argv = [MOCK, "--fixture", str(FIXTURES / f"{fixture}.json"), "--listen", "127.0.0.1:0",
                "--port-file", str(port_file), *extra_args]
        with served(argv, port_file, "mock server") as port:
            url = MockUrl(f"http://127.0.0.1:{port}")
            url.oci = oci
            yield url


def free_port():
    """A loopback port that nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def target_root(fixture, renderer, links=None, oci=None):
    """A temporary root with /sys/class/net/<name>/address and device (a NIC, which AWS and
    Alibaba ask for with the NIC list) for the fixture's links and the renderer's configuration
    directory; for an Oracle fixture, settings that point the OCI API at `oci` (a mock_server
    URL's .oci) or turn it off."""
    data = load_fixture(fixture)
    root = pathlib.Path(tempfile.mkdtemp(prefix="nicsync-root-"))
    try:
        for link in (links if links is not None else data["links"]):
            d = root / "sys/class/net" / link["name"]
            (d / "device").mkdir(parents=True)
            (d / "address").write_text(link["mac"] + "\n")
        lo = root / "sys/class/net/lo"
        lo.mkdir(parents=True)
        (lo / "address").write_text("00:00:00:00:00:00\n")
        dmi = root / "sys/class/dmi/id"
        dmi.mkdir(parents=True)
        for key, value in data["dmi"].items():
            (dmi / key).write_text(value + "\n")
        if data["vendor"] == "oracle":
            write_oci_api_settings(root, oci)
        if renderer == "netplan":
            (root / "etc/netplan").mkdir(parents=True)
        else:
            (root / "etc/sysconfig/network-scripts").mkdir(parents=True)
        yield root
    finally:
        shutil.rmtree(root)


def needs_vlan_devices(data):
    """True when the expected state names a link the machine does not have yet: a bare-metal
    VLAN VNIC that nicsync creates. This machine has no 8021q module, so such fixtures are
    proven by golden files and netplan generate only, not in namespaces."""
    links = {l["name"] for l in data["links"]}
    expected = {*data["expect"]["addresses"], *data["expect"].get("addresses6", {})}
    return any(name not in links for name in expected)


def file_routes6(expect):
    """The fixture's expected IPv6 routes that files carry: all but those marked "learned" (a
    gateway that only a live apply learns from the kernel; see fixtures/README.md)."""
    return [r for r in expect["routes6"] if "learned" not in r]


def no_leak_check_env():
    """The environment for a launcher run inside the sandbox or under strace: in a sanitizer build,
    LeakSanitizer stops the process's threads with ptrace, which the units' system-call filter
    refuses (and strace holds), so it is turned off there; every other test and
    integration.valgrind_apply check for leaks."""
    env = dict(os.environ)
    env["ASAN_OPTIONS"] = ":".join(filter(None, [env.get("ASAN_OPTIONS", ""), "detect_leaks=0"]))
    return env


def run_nicsync(*args, check_exit=None):
    proc = subprocess.run([NICSYNC, *args], capture_output=True, text=True, timeout=60)
    if check_exit is not None and proc.returncode != check_exit:
        raise AssertionError(f"nicsync {' '.join(args)} exited {proc.returncode}, wanted {check_exit}\n"
                             f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}")
    return proc


# The apply lock (flock on a file in /run, a tmpfs): every apply takes it, a failed one too, and
# writes its pid there; it is not a file of the configuration that a failed run must leave alone.
LOCK_FILE = "run/nicsync/lock"


def snapshot(root):
    """Every regular file under root (but /sys and the apply lock), with content and mode."""
    out = {}
    for p in sorted(root.rglob("*")):
        rel = p.relative_to(root).as_posix()
        if p.is_file() and not rel.startswith("sys/") and rel != LOCK_FILE:
            out[rel] = (p.read_bytes(), p.stat().st_mode & 0o7777, p.stat().st_mtime_ns)
    return out


def compare_golden(root, golden_dir):
    """The files nicsync wrote under root/etc equal golden_dir/etc, byte for byte and mode for
    mode (golden modes are recorded in golden_dir/MODES)."""
    written = {p.relative_to(root).as_posix(): p for p in (root / "etc").rglob("*")
               if p.is_file() and not p.relative_to(root).as_posix().startswith("etc/nicsync/")}
    modes = "".join(f"{oct(p.stat().st_mode & 0o777)} {rel}\n" for rel, p in sorted(written.items()))
    if UPDATE_GOLDEN:
        if golden_dir.exists():
            shutil.rmtree(golden_dir)
        for rel, p in written.items():
            dst = golden_dir / rel
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(p, dst)
        (golden_dir / "MODES").write_text(modes)
        return
    expected = {p.relative_to(golden_dir).as_posix(): p for p in golden_dir.rglob("*") if p.is_file()
                and p.name != "MODES"}
    assert sorted(written) == sorted(expected), f"files differ: wrote {sorted(written)}, golden {sorted(expected)}"
    for rel in written:
        got, want = written[rel].read_text(), expected[rel].read_text()
        assert got == want, f"{rel} differs from {expected[rel]}:\n--- golden\n{want}\n--- written\n{got}"
    assert modes == (golden_dir / "MODES").read_text(), f"modes differ:\n{modes}"


def parse_networkd(path):
    """A systemd .network file as a list of (section, {key: [values]})."""
    sections = []
    for raw in pathlib.Path(path).read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            sections.append((line.strip("[]"), {}))
            continue
        key, _, value = line.partition("=")
        sections[-1][1].setdefault(key.strip(), []).append(value.strip())
    return sections


def is_ipv6(text):
    return ":" in text


def networkd_route(f, name, s):
    """One [Route] section in the fixture's `expect` notation, and whether it is IPv6 (a v6
    Destination or Gateway). IPv4 gateways must be on-link (the subnet route lives in the NIC's
    table only); an IPv6 route via a gateway carries neither GatewayOnLink nor Scope (a link-local
    gateway is on-link by definition, and a global one is reached through the subnet route before
    it). netplan gives every route without `via` Scope=link, which the kernel ignores for IPv6 (IPv6
    routes have no scope), so an IPv6 link route may carry it and the notation leaves it out."""
    dst = s.get("Destination", ["default"])[0]
    v6 = is_ipv6(dst) or is_ipv6(s.get("Gateway", [""])[0])
    table = s["Table"][0] if "Table" in s else "main"
    route = {"table": "local" if table == "255" else "main" if table == "main" else int(table),
             "dst": "default" if dst in ("0.0.0.0/0", "::/0") else dst, "dev": name}
    if "Gateway" in s:
        route["via"] = s["Gateway"][0]
        if v6:
            assert "GatewayOnLink" not in s, f"{f.name}: IPv6 route via {s['Gateway'][0]} has GatewayOnLink"
        else:
            assert s.get("GatewayOnLink", ["no"])[0] in ("yes", "true"), \
                f"{f.name}: route via {s['Gateway'][0]} is not on-link"
    route_type = s.get("Type", ["unicast"])[0]
    if route_type == "local":
        # The kernel gives a local route host scope whether or not the file says so.
        assert route["table"] == "local", f"{f.name}: local route {dst} outside table local"
        assert s.get("Scope", ["host"])[0] == "host", f"{f.name}: local route {dst} with scope {s['Scope'][0]}"
        route["type"] = "local"
    else:
        assert route_type == "unicast", f"{f.name}: route {dst} of type {route_type}"
        scope = s.get("Scope", [""])[0]
        if v6:
            allowed = ("",) if "Gateway" in s else ("", "link")
            assert scope in allowed, f"{f.name}: IPv6 route {dst} with Scope={scope}"
        elif scope == "link":
            route["scope"] = "link"
    if "Metric" in s:
        route["metric"] = int(s["Metric"][0])
    return route, v6


def networkd_state(root, fixture):
    """What systemd-networkd would configure from root/run/systemd/network: per link name the
    static IPv4 and IPv6 addresses (with prefix), whether DHCPv4 is on and whether it takes IPv6
    router advertisements (IPv6AcceptRA, None when the file leaves it to the default), and the
    IPv4 and IPv6 routes and rules in the fixture's `expect` notation, as
    (links, routes, rules, routes6, rules6)."""
    data = load_fixture(fixture)
    by_mac = {l["mac"].lower(): l["name"] for l in data["links"]}
    links, routes, rules, routes6, rules6 = {}, [], [], [], []
    files = sorted((root / "run/systemd/network").glob("*.network"))
    for f in files:
        sections = parse_networkd(f)
        match = next(s for name, s in sections if name == "Match")
        if "PermanentMACAddress" in match:
            name = by_mac[match["PermanentMACAddress"][0].lower()]
        else:
            name = match["Name"][0]
        assert name not in links, f"two .network files match {name}: networkd would use only the first"
        network = dict(next((s for n, s in sections if n == "Network"), {}))
        addresses = list(network.get("Address", []))
        for n, s in sections:
            if n == "Address":
                addresses += s.get("Address", [])
        accept_ra = network.get("IPv6AcceptRA", [None])[0]
        links[name] = {"addresses": [a for a in addresses if not is_ipv6(a)],
                       "addresses6": [a for a in addresses if is_ipv6(a)],
                       "dhcp4": network.get("DHCP", ["no"])[0] in ("ipv4", "yes"),
                       "accept_ra": None if accept_ra is None else accept_ra in ("yes", "true")}
        for n, s in sections:
            if n == "Route":
                route, v6 = networkd_route(f, name, s)
                (routes6 if v6 else routes).append(route)
            elif n == "RoutingPolicyRule":
                source = s["From"][0]
                v6 = is_ipv6(source)
                # A rule from one address keeps the bare address form; a prefix keeps its length.
                source = source.removesuffix("/128" if v6 else "/32")
                (rules6 if v6 else rules).append({"priority": int(s["Priority"][0]), "from": source,
                                                  "table": int(s["Table"][0])})
    return links, routes, rules, routes6, rules6


def canonical(items):
    return sorted(json.dumps(i, sort_keys=True) for i in items)


def check_addresses(fixture, static_by_link, dhcp_links):
    """Addresses: the fixture's expected set per link equals the static addresses plus the DHCP
    lease of links on DHCP. A static address on a secondary NIC must be /32 (no main prefix
    route); on the primary the caller says which prefix is right."""
    data = load_fixture(fixture)
    lease = {l["name"]: l["dhcp"] for l in data["links"] if "dhcp" in l}
    for name, expected in data["expect"]["addresses"].items():
        got = {a.split("/")[0] for a in static_by_link.get(name, [])}
        if name in dhcp_links:
            assert name in lease, f"{name} is on DHCP but the fixture gives it no lease"
            got.add(lease[name].split("/")[0])
        want = {a.split("/")[0] for a in expected}
        assert got == want, f"{fixture}: addresses of {name}: got {sorted(got)}, expected {sorted(want)}"
    for name in static_by_link:
        assert name in data["expect"]["addresses"], f"{fixture}: addresses on unexpected link {name}"


def check_addresses6(fixture, static6_by_link):
    """IPv6 addresses: per link, the configured set equals the fixture's `addresses6` exactly,
    each /128 (no prefix route anywhere); links without IPv6 configure none."""
    expected = load_fixture(fixture)["expect"]["addresses6"]
    got = {name: sorted(addrs) for name, addrs in static6_by_link.items() if addrs}
    want = {name: sorted(addrs) for name, addrs in expected.items()}
    assert got == want, f"{fixture}: IPv6 addresses: got {got}, expected {want}"


class Failures:
    """Collects failed checks so one run reports all of them; exits non-zero at the end."""

    def __init__(self):
        self.failed = []
        self.passed = 0

    @contextlib.contextmanager
    def case(self, name):
        try:
            yield
            self.passed += 1
            print(f"ok   {name}", flush=True)
        except Exception as e:  # noqa: BLE001 - report every failure, keep going
            self.failed.append(name)
            print(f"FAIL {name}: {e}", flush=True)

    def finish(self):
        print(f"{self.passed} passed, {len(self.failed)} failed")
        if self.passed == 0 and not self.failed:
            print("no test case ran: that is a failure, not a pass")
            raise SystemExit(1)
        raise SystemExit(1 if self.failed else 0)
