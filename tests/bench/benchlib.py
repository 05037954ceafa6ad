"""Shared pieces of nicsync's benchmarks (tests/bench/README.md): timing one process, the machine
description, markdown tables, fake target roots, the mocks on loopback, and the file-based check
of nicsync's output against a scenario's `expect` (netplan generate -> networkd state).

Nothing here is a test; bench_*.py and validate_scenarios.py import it."""

import contextlib
import datetime
import ipaddress
import json
import os
import pathlib
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time

sys.dont_write_bytecode = True
HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "integration"))

import harness  # noqa: E402
import oci_pki  # noqa: E402
import scenario as sc  # noqa: E402
from served import served  # noqa: E402

NICSYNC = os.environ.get("NICSYNC", "nicsync")
MOCK = os.environ.get("NICSYNC_MOCK", "nicsync-mock-imds")
MOCK_OCI = os.environ.get("NICSYNC_MOCK_OCI", "nicsync-mock-oci-api")
GNU_TIME = "/usr/bin/time"
COMMAND_TIMEOUT_S = 60


class BenchError(RuntimeError):
    pass


def check(cond, message):
    if not cond:
        raise BenchError(message)


# --------------------------------------------------------------------------------------------
# One process


class Timed:
    def __init__(self, argv, seconds, returncode, stdout, stderr, cpu_seconds, maxrss_kib=None):
        self.argv, self.seconds, self.returncode = argv, seconds, returncode
        self.stdout, self.stderr, self.cpu_seconds = stdout, stderr, cpu_seconds
        self.maxrss_kib = maxrss_kib

    @property
    def ms(self):
        return self.seconds * 1000.0


def timed(argv, rss=False, env=None):
    """Runs argv once: wall time by perf_counter from just before the fork to the reap, and the
    child's CPU time (user + system, from wait4). With rss (and GNU time installed) argv runs
    under `time -f %M` for its peak RSS, and the times are not meant to be used. (wait4's own
    ru_maxrss is not used: the forked child starts as a copy of this Python process, whose
    high-water mark it keeps across exec, so it would report max(Python, nicsync).)"""
    with tempfile.TemporaryDirectory(prefix="timed-") as d:
        rss_file = pathlib.Path(d) / "rss"
        if rss and os.access(GNU_TIME, os.X_OK):
            argv = [GNU_TIME, "-f", "%M", "-o", str(rss_file), *argv]
        out = open(pathlib.Path(d) / "out", "w+b")
        err = open(pathlib.Path(d) / "err", "w+b")
        start = time.perf_counter()
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=err, env=env)
        killer = threading.Timer(COMMAND_TIMEOUT_S, proc.kill)
        killer.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        finally:
            killer.cancel()
        seconds = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        with out, err:
            out.seek(0)
            err.seek(0)
            t = Timed(argv, seconds, proc.returncode, out.read().decode(errors="replace"),
                      err.read().decode(errors="replace"), usage.ru_utime + usage.ru_stime)
        if rss and rss_file.exists():
            with contextlib.suppress(ValueError, IndexError):
                t.maxrss_kib = int(rss_file.read_text().split()[-1])
        return t


def stats(results):
    ms = [r.ms for r in results]
    cpu = [r.cpu_seconds * 1000 for r in results]
    nan = float("nan")
    return {"runs": len(ms), "median_ms": statistics.median(ms) if ms else nan, "min_ms": min(ms, default=nan),
            "cpu_median_ms": statistics.median(cpu) if cpu else nan, "all_ms": [round(x, 2) for x in ms]}


# --------------------------------------------------------------------------------------------
# Reporting


def machine():
    model = "unknown"
    with contextlib.suppress(OSError):
        for line in pathlib.Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    load = " ".join(pathlib.Path("/proc/loadavg").read_text().split()[:3])
    return {"nproc": os.cpu_count(), "cpu": model, "kernel": platform.release(), "load": load,
            "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")}


def markdown_table(header, rows):
    """rows: lists of cells (str); first column left-aligned, the others right-aligned."""
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(header)]

    def line(cols):
        return "| " + " | ".join(c.ljust(w) if i == 0 else c.rjust(w)
                                 for i, (c, w) in enumerate(zip(cols, widths))) + " |"
    out = [line(header), "|" + "|".join(("-" * (w + 1) + ":") if i else ("-" * (w + 2))
                                        for i, w in enumerate(widths)) + "|"]
    out += [line(r) for r in rows]
    return "\n".join(out)


def fmt(x, digits=1):
    if x is None:
        return "-"
    if isinstance(x, float):
        return "-" if x != x else f"{x:.{digits}f}"
    return str(x)


# --------------------------------------------------------------------------------------------
# Scenarios on disk, roots, mocks on loopback


def write_fixture(directory, vendor, nics, addresses, ipv6=False):
    """Generates the scenario, writes it to DIRECTORY/VENDOR-NxM[-v6].json; (path, fixture)."""
    fixture = sc.scenario(vendor, nics, addresses, ipv6=ipv6)
    path = pathlib.Path(directory) / f"{vendor}-{nics}x{addresses}{'-v6' if ipv6 else ''}.json"
    path.write_text(json.dumps(fixture, indent=1) + "\n")
    return path, fixture


def make_root(directory, fixture, renderer="netplan", oci=None):
    """A target root under DIRECTORY: /sys/class/net/<link>/address and device (a NIC, as an
    ENI's is: AWS asks for what these list with the NIC list), the DMI values, the renderer's
    directory; for Oracle the OCI API settings (the mock `oci`, or off) and the scenario's conf.d
    files (oracle-settings)."""
    root = pathlib.Path(tempfile.mkdtemp(prefix="root-", dir=directory))
    for link in fixture["links"]:
        d = root / "sys/class/net" / link["name"]
        (d / "device").mkdir(parents=True)
        (d / "address").write_text(link["mac"] + "\n")
    (root / "sys/class/net/lo").mkdir(parents=True)
    (root / "sys/class/net/lo/address").write_text("00:00:00:00:00:00\n")
    dmi = root / "sys/class/dmi/id"
    dmi.mkdir(parents=True)
    for key, value in fixture["dmi"].items():
        (dmi / key).write_text(value + "\n")
    if fixture["vendor"] == "oracle":
        harness.write_oci_api_settings(root, oci)
    sc.write_conf_d(fixture, root)
    (root / ("etc/netplan" if renderer == "netplan" else "etc/sysconfig/network-scripts")).mkdir(parents=True)
    return root


_pki_cache = {}


def shared_pki(directory):
    """One throwaway OCI PKI per process (making one takes about a second)."""
    if "pki" not in _pki_cache:
        d = pathlib.Path(directory) / "pki"
        d.mkdir(exist_ok=True)
        _pki_cache["pki"] = oci_pki.make_pki(d, "ocid1.tenancy.oc1..nicsynctest", "ocid1.instance.oc1..nicsynctest")
    return _pki_cache["pki"]


SYSTEM_CA_FILE = pathlib.Path("/etc/ssl/certs/ca-certificates.crt")


def production_like_ca_file(test_ca, directory):
    """The CA file nicsync's OCI API settings name in a benchmark: the system's bundle (as a real
    instance loads it, ~140 CAs on Debian) with the test root appended, so that its cost is
    measured; the test root alone where the system has no bundle."""
    if not SYSTEM_CA_FILE.is_file():
        return test_ca
    bundle = pathlib.Path(directory) / "ca-bundle.pem"
    bundle.write_text(SYSTEM_CA_FILE.read_text() + pathlib.Path(test_ca).read_text())
    return str(bundle)


class Mocks:
    """The running mocks of one scenario: `url` (metadata), `log` (its request log), `oci`
    (oci_pki.MockOciApi with `ca`, or None)."""

    def imds_requests(self):
        if not self.log.exists():
            return []
        return [line.split() for line in self.log.read_text().splitlines() if line.strip()]

    def api_requests(self):
        return self.oci.log() if self.oci is not None else []

    def count(self):
        return len(self.imds_requests()), len(self.api_requests())


@contextlib.contextmanager
def mocks(fixture_path, fixture, workdir, latency_ms=0):
    """nicsync-mock-imds on 127.0.0.1 (free port) with --latency-ms and --log; for a fixture with
    `oci_api`, nicsync-mock-oci-api beside it (same latency) and the PKI's identity in IMDS."""
    with tempfile.TemporaryDirectory(prefix="mocks-", dir=workdir) as tmp, contextlib.ExitStack() as stack:
        m = Mocks()
        m.oci = None
        extra = ["--latency-ms", str(latency_ms)] if latency_ms else []
        identity = []
        if harness.needs_oci_api(fixture):
            pki = shared_pki(workdir)
            m.oci = stack.enter_context(oci_pki.mock_oci_api(pki, *extra, fixture=fixture_path, binary=MOCK_OCI))
            m.oci.ca = production_like_ca_file(pki["ca"], tmp)
            identity = harness.identity_overrides(pki)
        port_file = pathlib.Path(tmp) / "port"
        m.log = pathlib.Path(tmp) / "requests.log"
        argv = [MOCK, "--fixture", str(fixture_path), "--listen", "127.0.0.1:0", "--port-file", str(port_file),
                "--log", str(m.log), *identity, *extra]
        with served(argv, port_file, "nicsync-mock-imds") as port:
            m.url = f"http://127.0.0.1:{port}"
            yield m


# --------------------------------------------------------------------------------------------
# Files against expect


def _canon(items):
    return sorted(json.dumps(i, sort_keys=True) for i in items)


def _diff(what, got, want):
    g, w = set(_canon(got)), set(_canon(want))
    if g == w and len(got) == len(want):
        return []
    return [f"{what}: missing {sorted(w - g)[:5]} ({len(w - g)}), unexpected {sorted(g - w)[:5]} ({len(g - w)})"]


def file_differences(fixture_path, fixture, root, renderer="netplan"):
    """What nicsync's files under root configure, against `expect`. netplan: what
    systemd-networkd would configure after `netplan generate --root-dir` (the real consumer);
    network-scripts: the ifcfg/route/rule files read the way ifup reads them
    (tests/integration/test_files_fixtures.py). Compared: IPv4 addresses by IP per link (the
    primary's lease from DHCP; secondary NICs /32), IPv6 addresses exactly (/128), routes and rules
    of both families (IPv6 routes only a live apply learns are not in files). [] when equal."""
    saved = harness.FIXTURES
    harness.FIXTURES = pathlib.Path(fixture_path).parent
    name = pathlib.Path(fixture_path).stem
    diffs = []
    try:
        if renderer == "netplan":
            gen = subprocess.run(["netplan", "generate", "--root-dir", str(root)], capture_output=True, text=True,
                                 timeout=120)
            if gen.returncode != 0 or gen.stderr:
                return [f"netplan generate exited {gen.returncode}: {gen.stderr.strip()[:2000]}"]
            links, routes, rules, routes6, rules6 = harness.networkd_state(root, name)
            static = {n: l["addresses"] for n, l in links.items()}
            dhcp = {n for n, l in links.items() if l["dhcp4"]}
            static6 = {n: l["addresses6"] for n, l in links.items()}
        else:
            import test_files_fixtures as tff
            try:
                static, dhcp, routes, rules, static6, routes6, rules6 = tff.network_scripts_state(root, name)
            except AssertionError as e:
                return [f"network-scripts files: {e}"]
    finally:
        harness.FIXTURES = saved
    expect = fixture["expect"]
    lease = {l["name"]: l["dhcp"] for l in fixture["links"] if "dhcp" in l}
    got4 = {}
    for name_, addrs in static.items():
        ips = {a.split("/")[0] for a in addrs}
        if name_ not in lease:
            bad = [a for a in addrs if not a.endswith("/32")]
            if bad:
                diffs.append(f"{name_}: static IPv4 addresses not /32: {bad[:3]}")
        if ips:
            got4[name_] = ips
    for name_ in dhcp:
        if name_ in lease:
            got4.setdefault(name_, set()).add(lease[name_].split("/")[0])
    got4 = {n: sorted(v, key=ipaddress.IPv4Address) for n, v in got4.items()}
    want4 = {n: sorted({a.split("/")[0] for a in v}, key=ipaddress.IPv4Address)
             for n, v in expect["addresses"].items() if v}
    for n in sorted(set(got4) | set(want4)):
        if got4.get(n) != want4.get(n):
            g, w = set(got4.get(n, [])), set(want4.get(n, []))
            diffs.append(f"addresses of {n}: missing {sorted(w - g)[:5]}, unexpected {sorted(g - w)[:5]}")
    got6 = {n: sorted(v) for n, v in static6.items() if v}
    want6 = {n: sorted(v) for n, v in expect.get("addresses6", {}).items() if v}
    if got6 != want6:
        diffs.append(f"IPv6 addresses differ: got {len(sum(got6.values(), []))} on {sorted(got6)}, "
                     f"expected {len(sum(want6.values(), []))} on {sorted(want6)}")
    diffs += _diff("routes", routes, expect["routes"])
    diffs += _diff("rules", rules, expect["rules"])
    diffs += _diff("IPv6 routes", routes6, harness.file_routes6(expect) if "routes6" in expect else [])
    diffs += _diff("IPv6 rules", rules6, expect.get("rules6", []))
    return diffs


# --------------------------------------------------------------------------------------------
# Timing from inside a network namespace


class NamespaceTimer:
    """Times commands from inside network namespace NAMESPACE: one `ip netns exec NAMESPACE
    python3 benchlib.py --timer` process enters it once and runs each command with timed(), so the
    timed processes do not pay for `ip netns exec` (a mount namespace, /sys remounted, `ip` itself
    exec'd: 4-5 ms), which nicsync does not pay at boot either. The commands see the same
    namespaces as under `ip netns exec`."""

    def __init__(self, namespace):
        self.proc = subprocess.Popen(["ip", "netns", "exec", namespace, sys.executable, "-u", str(HERE / "benchlib.py"),
                                      "--timer"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)

    def timed(self, argv, rss=False):
        self.proc.stdin.write(json.dumps({"argv": [str(a) for a in argv], "rss": rss}) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        check(line, f"the timer in the namespace ended (exit {self.proc.poll()})")
        d = json.loads(line)
        return Timed(d["argv"], d["seconds"], d["returncode"], d["stdout"], d["stderr"], d["cpu_seconds"],
                     d["maxrss_kib"])

    def close(self):
        with contextlib.suppress(OSError):
            self.proc.stdin.close()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _serve_timer():
    """The inside of NamespaceTimer: a JSON request per line in, a JSON answer per line out."""
    for line in sys.stdin:
        request = json.loads(line)
        t = timed(request["argv"], rss=request["rss"])
        print(json.dumps({"argv": t.argv, "seconds": t.seconds, "returncode": t.returncode, "stdout": t.stdout,
                          "stderr": t.stderr, "cpu_seconds": t.cpu_seconds, "maxrss_kib": t.maxrss_kib}), flush=True)


if __name__ == "__main__" and sys.argv[1:] == ["--timer"]:
    _serve_timer()
