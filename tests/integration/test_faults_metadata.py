"""The metadata fault matrix (issue 7): every way the metadata service can fail, injected by the
mock server, against a root that already holds a good run's files. Each case asserts the
outcome: either the run fails (exit 1, exactly one stderr line naming the cause) and every file
is as it was, or the run completes (exit 0) and the files are exactly the golden ones — never a
partial state. The good run is made from slightly different metadata (an extra secondary IP, a
VNIC fewer) so that "old files intact" and "new state complete" cannot be confused.

The root's settings make the runs quick: 500 ms per request, 3 attempts, 50 ms first backoff.
The live cases repeat the important ones in network namespaces (netns_cloud.Cloud): the kernel
state read with `ip -j` must be unchanged after a failure, complete after a transient fault."""

import contextlib
import copy
import json
import os
import pathlib
import shutil
import socket
import subprocess
import tempfile
import threading
import time

import harness
import netns_cloud as nc
import oci_pki
from harness import (FIXTURES, GOLDEN, MOCK, NICSYNC, Failures, compare_golden, free_port, identity_overrides,
                     snapshot, target_root)
from served import served

# A fault run never regenerates golden files, whatever the environment says.
harness.UPDATE_GOLDEN = False

RENDERER = "netplan"
SETTINGS = "metadata:\n  connect_timeout_ms: 300\n  timeout_ms: 500\n  attempts: 3\n  backoff_ms: 50\n"
ATTEMPTS = 3
TIMEOUT_MS = 500
MAX_BODY = 1 << 20  # nicsync's cap on one response body (HttpOptions::max_body_bytes)
BOUND_S = 10        # a run that must not stall finishes within this (a bound, not a benchmark)
LIVE_PREFIX = "faulttest"
VERBOSE = os.environ.get("NICSYNC_FAULTS_VERBOSE") == "1"  # print each failure's message

AWS = "aws-seed-two-eni"
ORACLE = "oracle-vm-secondary-vnic"
ALIBABA = "alibaba-seed-two-eni"
MACS = "/latest/meta-data/network/interfaces/macs/"
TOKEN_PATH = "/latest/api/token"
AWS_ETH0, AWS_ETH1 = "02:86:10:77:7f:fe", "02:86:10:65:fd:31"
ALI_ETH1, ALI_ETH2 = "00:16:3e:12:e7:27", "00:16:3e:12:16:ec"
VNICS = "/opc/v2/vnics/"

WORK = pathlib.Path(tempfile.mkdtemp(prefix="nicsync-faults-"))


def body_file(content):
    """A file holding content (str or bytes), for the mock's --override / --fault-body."""
    fd, path = tempfile.mkstemp(dir=WORK, prefix="body-")
    with os.fdopen(fd, "wb") as f:
        f.write(content.encode() if isinstance(content, str) else content)
    return path


def check(cond, message):
    if not cond:
        raise AssertionError(message)


# --------------------------------------------------------------------------------------------
# The vendors: fixture, the metadata change of the good run, the paths faults aim at


class Vendor:
    def __init__(self, fixture, good_overrides, leaf):
        self.fixture = fixture
        self.good_overrides = good_overrides  # the good run's metadata differs from the fixture
        self.leaf = leaf                      # a required key of a secondary NIC
        self.oci = None                       # the OCI API mock (Oracle), shared by every case


def oracle_primary_vnic_only():
    vnics = json.loads(harness.load_fixture(ORACLE)["imds"]["responses"][VNICS])
    return json.dumps(vnics[:1], indent=2)


VENDORS = {
    "aws": Vendor(AWS, {MACS + AWS_ETH1 + "/local-ipv4s": "10.0.0.226\n10.0.0.227"}, MACS + AWS_ETH1 + "/local-ipv4s"),
    "oracle": Vendor(ORACLE, {VNICS: oracle_primary_vnic_only()}, VNICS),
    "alibaba": Vendor(ALIBABA, {MACS + ALI_ETH1 + "/private-ipv4s": '["10.0.0.20", "10.0.0.30"]'},
                      MACS + ALI_ETH1 + "/private-ipv4s"),
}


# --------------------------------------------------------------------------------------------
# The mock, nicsync, and the checks


class MockRun:
    """A running nicsync-mock-imds: `url`, and `log()`: its request log so far, one dict per
    request (method, path, status, t: arrival in ms on CLOCK_MONOTONIC, token: yes/no/-)."""

    def __init__(self, url, log_path):
        self.url, self.log_path = url, log_path

    def log(self):
        out = []
        if not self.log_path.exists():
            return out
        for line in self.log_path.read_text().splitlines():
            method, path, status, *fields = line.split()
            entry = {"method": method, "path": path, "status": int(status)}
            for f in fields:
                key, _, value = f.partition("=")
                entry[key] = int(value) if key == "t" else value
            out.append(entry)
        return out


@contextlib.contextmanager
def mock(v, *args, overrides=None):
    """nicsync-mock-imds for vendor v's fixture on a free loopback port, with `overrides`
    ({path: body}) and further options; Oracle's serves the shared OCI API mock's identity."""
    with tempfile.TemporaryDirectory(dir=WORK, prefix="mock-") as tmp:
        tmp = pathlib.Path(tmp)
        argv = [MOCK, "--fixture", str(FIXTURES / f"{v.fixture}.json"), "--listen", "127.0.0.1:0",
                "--port-file", str(tmp / "port"), "--log", str(tmp / "requests.log")]
        if v.oci is not None:
            argv += identity_overrides(v.oci.pki)
        for path, body in (overrides or {}).items():
            argv += ["--override", f"{path}={body_file(body)}"]
        argv += [str(a) for a in args]
        with served(argv, tmp / "port", "mock server") as port:
            yield MockRun(f"http://127.0.0.1:{port}", tmp / "requests.log")


def nicsync(root, url, *args, env=None):
    """Runs `nicsync --root ROOT --metadata-url URL ARGS`; returns (process, seconds)."""
    start = time.monotonic()
    proc = subprocess.run([NICSYNC, "--root", str(root), "--metadata-url", url, *args], capture_output=True,
                          text=True, timeout=60, env=env)
    return proc, time.monotonic() - start


def write_settings(root, name, text):
    conf_d = root / "etc/nicsync/conf.d"
    conf_d.mkdir(parents=True, exist_ok=True)
    (conf_d / name).write_text(text)


def golden_dir(v):
    return GOLDEN / v.fixture / RENDERER


def is_golden(root, v):
    try:
        compare_golden(root, golden_dir(v))
        return True
    except AssertionError:
        return False


@contextlib.contextmanager
def prepared(v, good_overrides=None, settings=None):
    """A root with vendor v's NICs and the quick settings, after a good run against metadata that
    differs from the fixture (good_overrides, default v.good_overrides); extra `settings` (a
    conf.d file) are written after the good run. Yields (root, snapshot of its files)."""
    with target_root(v.fixture, RENDERER, oci=v.oci) as root:
        write_settings(root, "10-faults.yaml", SETTINGS)
        with mock(v, overrides=v.good_overrides if good_overrides is None else good_overrides) as good:
            proc, _ = nicsync(root, good.url, "apply")
        check(proc.returncode == 0, f"the good run exited {proc.returncode}: {proc.stderr}")
        check(not is_golden(root, v), "the good run already wrote the golden files: old and new look alike")
        if settings:
            write_settings(root, "50-case.yaml", settings)
        yield root, snapshot(root)


def check_failed(proc, *parts):
    """Exit 1 with exactly one stderr line, the error, containing every part. Returns it."""
    check(proc.returncode == 1, f"exit {proc.returncode}, wanted 1; stderr: {proc.stderr!r}")
    lines = proc.stderr.splitlines()
    check(len(lines) == 1, f"want exactly one stderr line, got {len(lines)}: {proc.stderr!r}")
    check(lines[0].startswith("nicsync: error: "), f"not an error line: {lines[0]!r}")
    for part in parts:
        # A tuple: any one of its texts (curl's words for one fault differ with timing).
        check(any(p in lines[0] for p in part) if isinstance(part, tuple) else part in lines[0],
              f"{part!r} not in {lines[0]!r}")
    if VERBOSE:
        print(f"     {lines[0]}")
    return lines[0]


def check_intact(root, before, ignore=()):
    """Every file under root (but /sys and the apply lock: harness.snapshot) as in `before`:
    content, mode, mtime."""
    after = snapshot(root)
    changed = sorted(k for k in set(before) | set(after)
                     if before.get(k) != after.get(k) and not (ignore and k.startswith(tuple(ignore))))
    check(not changed, f"files changed after a failed run: {changed}")


def check_complete(proc, root, v):
    check(proc.returncode == 0, f"exit {proc.returncode}, wanted 0; stderr: {proc.stderr}")
    check("error" not in proc.stderr, f"an error was logged: {proc.stderr}")
    compare_golden(root, golden_dir(v))


def requests_to(log, path, method="GET"):
    return [r for r in log if r["path"] == path and r["method"] == method]


# --------------------------------------------------------------------------------------------
# Cases run by every vendor


def fail_case(t, v, name, *mock_args, parts, overrides=None, settings=None, good_overrides=None, then=None):
    """A persistent fault: exit 1, one line with `parts`, the files as before; then(log, line)."""
    with t.case(f"{v.fixture}: {name}"):
        with prepared(v, good_overrides=good_overrides, settings=settings) as (root, before):
            with mock(v, *mock_args, overrides=overrides) as bad:
                proc, seconds = nicsync(root, bad.url, "apply")
                log = bad.log()
            line = check_failed(proc, *parts)
            check_intact(root, before)
            check(seconds < BOUND_S, f"the failing run took {seconds:.1f} s")
            if then:
                then(log, line)


def complete_case(t, v, name, *mock_args, overrides=None, settings=None, then=None, env=None):
    """A transient fault (or none): exit 0 and exactly the golden files; then(log, seconds)."""
    with t.case(f"{v.fixture}: {name}"):
        with prepared(v, settings=settings) as (root, _):
            with mock(v, *mock_args, overrides=overrides) as bad:
                proc, seconds = nicsync(root, bad.url, "apply", env=env)
                log = bad.log()
            check_complete(proc, root, v)
            if then:
                then(log, seconds)


def unreachable_cases(t, v, first_path):
    """Nothing listens: a normal run fails naming the address; a boot run falls back to the last
    good view, warns, exits 0, leaves the files and the refresh marker for nicsync-online."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with t.case(f"{v.fixture}: metadata unreachable: exit 1, files intact"):
        with prepared(v) as (root, before):
            proc, _ = nicsync(root, url, "apply")
            check_failed(proc, f"nicsync: error: {v.fixture.split('-')[0]}: ", first_path, "Connection refused",
                         f"127.0.0.1:{port}")
            check_intact(root, before)
            check(not (root / "run/nicsync/refresh-needed").exists(), "a normal run left the refresh marker")
    with t.case(f"{v.fixture}: metadata unreachable at boot: falls back, exit 0, files intact, marker left"):
        with prepared(v) as (root, before):
            proc, seconds = nicsync(root, url, "--boot", "apply")
            check(proc.returncode == 0, f"exit {proc.returncode}, wanted 0: {proc.stderr}")
            lines = proc.stderr.splitlines()
            check(not any(": error:" in l for l in lines), f"an error at boot: {proc.stderr}")
            warned = [l for l in lines if "warning" in l and "metadata service failed at boot" in l]
            check(len(warned) == 1 and "Connection refused" in warned[0],
                  f"want one warning naming the failure: {proc.stderr}")
            check(any("last good view" in l for l in lines), f"the last good view was not used: {proc.stderr}")
            check((root / "run/nicsync/refresh-needed").exists(), "no /run/nicsync/refresh-needed")
            check_intact(root, before, ignore=("run/",))
            check(seconds < BOUND_S, f"the boot run took {seconds:.1f} s")


def common_cases(t, v, first_path):
    leaf = v.leaf
    label = v.fixture.split("-")[0]
    unreachable_cases(t, v, first_path)

    def tries(n, statuses=None):
        def then(log, *_):
            got = requests_to(log, leaf)
            check(len(got) == n, f"{leaf} asked {len(got)} times, wanted {n}: {got}")
            if statuses:
                check([r["status"] for r in got] == statuses, f"statuses {[r['status'] for r in got]}")
        return then

    complete_case(t, v, "5xx transient (503 twice, 3 attempts): complete", "--fault-status", f"{leaf}:503:2",
                  then=tries(3, [503, 503, 200]))
    fail_case(t, v, "5xx persistent: exit 1 naming the path and HTTP 500, files intact",
              "--fault-status", f"{leaf}:500:-1", parts=[f"{label}: GET {leaf}: HTTP 500"], then=tries(ATTEMPTS))
    complete_case(t, v, "body cut short once: complete", "--fault-truncate", f"{leaf}:1")
    fail_case(t, v, "body always cut short: exit 1 naming the path, files intact", "--fault-truncate", f"{leaf}:-1",
              parts=[f"{label}: GET {leaf}: ", "transfer closed"])
    complete_case(t, v, "connection closed without answer once: complete", "--fault-close", f"{leaf}:1")
    fail_case(t, v, "connection always closed without answer: exit 1, files intact", "--fault-close", f"{leaf}:-1",
              parts=[f"{label}: GET {leaf}: ", ("Empty reply from server", "Connection reset by peer",
                                                "Recv failure", "Connection died")])
    fail_case(t, v, "oversize body (2 MiB): exit 1 naming the size cap, files intact",
              overrides={leaf: "1" * (2 * MAX_BODY)}, parts=[f"{label}: GET {leaf}: ", f"larger than {MAX_BODY} bytes"])


# --------------------------------------------------------------------------------------------
# AWS


def aws_cases(t):
    v = VENDORS["aws"]
    leaf = v.leaf
    common_cases(t, v, f"PUT {TOKEN_PATH}")

    fail_case(t, v, "slower than metadata.timeout_ms: exit 1 naming the timeout, files intact",
              "--latency-ms", str(3 * TIMEOUT_MS), parts=[f"aws: PUT {TOKEN_PATH}: ", "timed out"])
    complete_case(t, v, "slow but within metadata.timeout_ms: complete", "--latency-ms", str(TIMEOUT_MS // 4))
    complete_case(t, v, "token PUT 503 once: complete", "--fault-status", f"{TOKEN_PATH}:503:1")

    # 429 with Retry-After
    def waited(least, most):
        def then(log, seconds):
            got = requests_to(log, leaf)
            check([r["status"] for r in got] == [429, 200], f"{leaf}: {got}")
            gap = got[1]["t"] - got[0]["t"]
            check(least <= gap <= most, f"retried after {gap} ms, wanted {least}-{most} ms")
            check(seconds < BOUND_S, f"the run took {seconds:.1f} s")
        return then

    complete_case(t, v, "429 with Retry-After: 1 once: honoured (retry >= 1 s later), complete",
                  "--fault-status", f"{leaf}:429:1", "--retry-after", "1", then=waited(950, 5000))
    complete_case(t, v, "429 with Retry-After: 3600 once: bounded by the backoff cap, complete",
                  "--fault-status", f"{leaf}:429:1", "--retry-after", "3600", then=waited(0, 3000))
    fail_case(t, v, "429 with Retry-After: 3600 always: exit 1 within the bound, files intact",
              "--fault-status", f"{leaf}:429:-1", "--retry-after", "3600", parts=[f"aws: GET {leaf}: HTTP 429"])

    # 401 mid-run: a new token, the refused request repeated
    def new_token(log, *_):
        puts = requests_to(log, TOKEN_PATH, "PUT")
        check(len(puts) == 2, f"{len(puts)} token PUTs, wanted 2: {puts}")
        got = requests_to(log, leaf)
        check([r["status"] for r in got] == [401, 200], f"{leaf}: {got}")
        check(got[1]["t"] >= puts[1]["t"], "the repeat came before the new token")

    complete_case(t, v, "401 on a GET once: a new token, the GET repeated, complete",
                  "--fault-status", f"{leaf}:401:1", then=new_token)
    fail_case(t, v, "401 always: exit 1 naming the path and HTTP 401, files intact",
              "--fault-status", f"{leaf}:401:-1", parts=[f"aws: GET {leaf}: HTTP 401"])

    # malformed and truncated bodies
    fail_case(t, v, "garbage in a leaf: exit 1 naming the key and line, files intact",
              overrides={leaf: "10.0.0.226\n\x1b[31mgar\tbage\x00\r\nmore"},
              parts=[f"aws: macs/{AWS_ETH1}/local-ipv4s line 2: "])
    fail_case(t, v, "device-number not a number: exit 1 naming the key, files intact",
              overrides={MACS + AWS_ETH1 + "/device-number": "one"},
              parts=[f"aws: macs/{AWS_ETH1}/device-number: ", "is not a number"])
    fail_case(t, v, "truncated macs/ listing: exit 1 naming macs/, files intact",
              overrides={MACS: f"{AWS_ETH1}/\n02:86:1"}, parts=["aws: macs/ line 2"])

    # one MAC's keys failing; the other NIC (eth0, which lost 10.0.0.58 in the good run) must not
    # get its change either
    fail_case(t, v, "one MAC's keys all 500: exit 1 naming that MAC, the other NIC unchanged too",
              "--fault-status", f"{MACS}{AWS_ETH1}/:500:-1",
              good_overrides={MACS + AWS_ETH0 + "/local-ipv4s": "10.0.0.76"}, parts=[f"macs/{AWS_ETH1}/", "HTTP 500"])

    # device-number still 0 for a secondary ENI (attached a moment ago)
    zero = body_file("0")
    device_number = MACS + AWS_ETH1 + "/device-number"

    def reread(log, seconds):
        got = requests_to(log, device_number)
        check(len(got) >= 3, f"device-number read {len(got)} times, wanted the 2 zeros and a re-read")
        check(seconds < BOUND_S, f"the run took {seconds:.1f} s")

    complete_case(t, v, "device-number 0 twice for eth1's ENI: re-read, complete",
                  "--fault-body", f"{device_number}={zero}:2", then=reread)
    fail_case(t, v, "device-number always 0 for eth1's ENI: exit 1 naming the MAC, files intact",
              "--fault-body", f"{device_number}={zero}:-1", parts=[f"aws: macs/{AWS_ETH1}/device-number", "still 0"])

    # never IMDSv1 unless allowed; the instance here serves GETs without a token
    def no_gets(log, line):
        gets = [r for r in log if r["method"] == "GET"]
        check(not gets, f"GETs after the token PUT failed: {gets}")

    fail_case(t, v, "token PUT 404: exit 1 naming the token PUT, no unauthenticated GET, files intact",
              "--fault-status", f"{TOKEN_PATH}:404", "--token-optional", parts=[f"aws: PUT {TOKEN_PATH}: HTTP 404"],
              then=no_gets)

    def v1_gets(log, *_):
        gets = [r for r in log if r["method"] == "GET"]
        check(gets and all(r["token"] == "no" and r["status"] == 200 for r in gets),
              f"want only token-less GETs answered 200: {gets}")

    complete_case(t, v, "token PUT 404 with aws.allow_imdsv1: true: IMDSv1 GETs, complete",
                  "--fault-status", f"{TOKEN_PATH}:404", "--token-optional",
                  settings="aws:\n  allow_imdsv1: true\n", then=v1_gets)

    proxy_case(t, v)


class Listener:
    """A TCP listener on a loopback port that records every connection (and its first bytes)."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.1)
        self.port = self.sock.getsockname()[1]
        self.seen = []
        self.running = True
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while self.running:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            with conn:
                conn.settimeout(1)
                try:
                    self.seen.append(conn.recv(200))
                except OSError:
                    self.seen.append(b"")

    def close(self):
        self.running = False
        self.thread.join()
        self.sock.close()


def proxy_case(t, v):
    """Proxy variables name a listener: nicsync must not use it (curl itself would: checked)."""
    with t.case(f"{v.fixture}: proxy variables are ignored"):
        listener = Listener()
        try:
            proxy = f"http://127.0.0.1:{listener.port}"
            env = {k: val for k, val in os.environ.items() if k.lower() != "no_proxy"}
            for name in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
                env[name] = proxy
            with prepared(v) as (root, _):
                with mock(v) as m:
                    proc, _ = nicsync(root, m.url, "apply", env=env)
                    seen_by_nicsync = list(listener.seen)
                    if shutil.which("curl"):  # the control: these variables do steer plain libcurl
                        subprocess.run(["curl", "-s", "-m", "2", "-o", "/dev/null", m.url + "/latest/meta-data/"],
                                       env=env, timeout=10)
                        deadline = time.monotonic() + 2
                        while not listener.seen and time.monotonic() < deadline:
                            time.sleep(0.02)
                        check(listener.seen, "control: curl with the same environment did not use the proxy")
                check_complete(proc, root, v)
            check(not seen_by_nicsync, f"the proxy saw nicsync: {seen_by_nicsync}")
        finally:
            listener.close()


# --------------------------------------------------------------------------------------------
# Oracle and Alibaba


@contextlib.contextmanager
def oracle_api():
    """One OCI API mock (and PKI) for all Oracle cases: the metadata mock serves its identity."""
    pki_dir = WORK / "pki"
    pki_dir.mkdir()
    pki = oci_pki.make_pki(pki_dir, "ocid1.tenancy.oc1..nicsynctest", "ocid1.instance.oc1..nicsynctest")
    with oci_pki.mock_oci_api(pki, fixture=FIXTURES / f"{ORACLE}.json") as oci:
        oci.ca, oci.pki = pki["ca"], pki
        yield oci


def oracle_cases(t):
    v = VENDORS["oracle"]
    with oracle_api() as oci:
        v.oci = oci
        common_cases(t, v, "GET /opc/v2/")
        vnics = harness.load_fixture(ORACLE)["imds"]["responses"][VNICS]
        fail_case(t, v, "truncated vnics/ JSON: exit 1 naming vnics/, files intact",
                  overrides={VNICS: vnics[: len(vnics) // 2]}, parts=["oracle: vnics/", "JSON"])
        fail_case(t, v, "401 always: exit 1 naming the path and HTTP 401, files intact",
                  "--fault-status", f"{VNICS}:401:-1", parts=[f"oracle: GET {VNICS}: HTTP 401"])


def alibaba_cases(t):
    v = VENDORS["alibaba"]
    leaf = v.leaf
    common_cases(t, v, "GET /latest/meta-data/")
    fail_case(t, v, "truncated private-ipv4s JSON: exit 1 naming the key, files intact",
              overrides={leaf: '["10.0.0.20", "10.0'}, parts=[f"alibaba: macs/{ALI_ETH1}/private-ipv4s"])

    def new_token(log, *_):
        puts = requests_to(log, TOKEN_PATH, "PUT")
        check(len(puts) == 2, f"{len(puts)} token PUTs, wanted 2: {puts}")
        check([r["status"] for r in requests_to(log, leaf)] == [401, 200], f"{leaf}: {requests_to(log, leaf)}")

    complete_case(t, v, "401 on a GET once: a new token, the GET repeated, complete",
                  "--fault-status", f"{leaf}:401:1", then=new_token)
    fail_case(t, v, "401 always: exit 1 naming the path and HTTP 401, files intact",
              "--fault-status", f"{leaf}:401:-1", parts=[f"alibaba: GET {leaf}: HTTP 401"])
    fail_case(t, v, "one MAC's keys all 500: exit 1 naming that MAC, the other NICs unchanged too",
              "--fault-status", f"{MACS}{ALI_ETH2}/:500:-1", parts=[f"macs/{ALI_ETH2}/", "HTTP 500"])


# --------------------------------------------------------------------------------------------
# Live, in network namespaces


def live_cases(t):
    """aws-seed-two-eni applied live, then reruns with faults: a failure leaves the kernel and the
    files exactly as they were; a transient fault still gives the new complete state."""
    leaf = MACS + AWS_ETH1 + "/local-ipv4s"
    grown_ips = "10.0.0.226\n10.0.0.227"
    with nc.Cloud(AWS, LIVE_PREFIX) as cloud, tempfile.TemporaryDirectory(prefix="nicsync-faults-live-") as tmp:
        root = pathlib.Path(tmp)
        (root / "etc/netplan").mkdir(parents=True)
        write_settings(root, "10-faults.yaml", SETTINGS)

        def apply():
            return nc.exec_in(cloud.inst, [NICSYNC, "--root", str(root), "--vendor", "aws", "--live", "apply"],
                              timeout=60)

        with t.case(f"{AWS} live: the good apply"):
            cloud.start_metadata()
            proc = apply()
            check(proc.returncode == 0, f"exit {proc.returncode}: {proc.stderr}")
            diffs = nc.state_differences(cloud.kernel_state(), cloud.fixture["expect"], by_ip=True)
            check(not diffs, "; ".join(diffs))

        def failed_rerun(name, overrides, fault, parts):
            with t.case(f"{AWS} live: {name}"):
                kernel, files = cloud.kernel_state(), snapshot(root)
                cloud.start_metadata(overrides=overrides, extra_args=fault)
                proc = apply()
                check_failed(proc, *parts)
                check(cloud.kernel_state() == kernel, f"the kernel changed: {kernel} -> {cloud.kernel_state()}")
                check_intact(root, files)

        failed_rerun("5xx persistent while an IP is added: kernel and files unchanged",
                     {leaf: grown_ips}, ["--fault-status", f"{leaf}:500:-1"], [f"aws: GET {leaf}: HTTP 500"])
        failed_rerun("eth1's keys failing while eth0 gains an IP: kernel and files unchanged",
                     {MACS + AWS_ETH0 + "/local-ipv4s": "10.0.0.76\n10.0.0.58\n10.0.0.59"},
                     ["--fault-status", f"{MACS}{AWS_ETH1}/:500:-1"], [f"macs/{AWS_ETH1}/", "HTTP 500"])

        with t.case(f"{AWS} live: transient 5xx while an IP is added: the new state, complete"):
            grown = copy.deepcopy(cloud.fixture["expect"])
            grown["addresses"]["eth1"].append("10.0.0.227/24")
            grown["rules"].append({"priority": 1001, "from": "10.0.0.227", "table": 1001})
            cloud.start_metadata(overrides={leaf: grown_ips}, extra_args=["--fault-status", f"{leaf}:503:2"])
            proc = apply()
            check(proc.returncode == 0, f"exit {proc.returncode}: {proc.stderr}")
            diffs = nc.state_differences(cloud.kernel_state(), grown, by_ip=True)
            check(not diffs, "; ".join(diffs))
            netplan = (root / "etc/netplan/90-nicsync.yaml").read_text()
            check("10.0.0.227" in netplan, f"10.0.0.227 not in the file:\n{netplan}")


def main():
    started = time.monotonic()
    t = Failures()
    try:
        aws_cases(t)
        oracle_cases(t)
        alibaba_cases(t)
        if os.geteuid() == 0:
            nc.cleanup_stale(LIVE_PREFIX)
            try:
                live_cases(t)
            except Exception as e:  # noqa: BLE001 - a broken environment fails these cases, not the run
                with t.case(f"{AWS} live: environment"):
                    raise e
        else:
            print("skip live cases: not root")
    finally:
        shutil.rmtree(WORK, ignore_errors=True)
    print(f"{time.monotonic() - started:.0f} s")
    t.finish()


if __name__ == "__main__":
    main()
