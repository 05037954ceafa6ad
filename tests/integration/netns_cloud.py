"""A simulated cloud in network namespaces, for nicsync's live integration tests.

`Cloud(fixture_name, prefix)` builds, for one fixture (tests/fixtures/*.json):

    instance ns  (ns-PREFIX-PID-SEQ-inst)
        lo up; one veth per fixture link, named and MAC'd as in `links[]`, up.
        The link with `dhcp` carries the simulated DHCP lease the way systemd-networkd under
        netplan leaves it: `ip addr add LEASE dev IF metric 100` (prefix route, metric 100),
        `default via GW dev IF proto dhcp src ADDR metric 100` and the host route to GW
        (`GW dev IF proto dhcp scope link src ADDR metric 100`). netplan's default DHCP route
        metric is 100 (networkd's own would be 1024); 100 is what DESIGN.md's bug needs.
        rp_filter is loose (2, Ubuntu's default), ARP sysctls at the kernel defaults.
        With `Cloud(..., lease=False)` the primary comes up unconfigured instead, for a real DHCP
        client; `start_dhcp()` then runs a real DHCP server (dnsmasq) in the cloud ns that hands
        the primary's MAC its lease address with router = the gateway.
    cloud ns     (…-cloud)
        one bridge brN per distinct subnet of the fixture's NICs, holding the subnet's gateway
        (lease `gateway` for the primary, `via` of the NIC's routes in `expect` otherwise);
        the cloud ends of the instance's veths (`i-IF`) are ports of their subnet's bridge;
        `r0` 198.18.0.1/24 towards the remote host; ip_forward on; the metadata endpoint
        address (169.254.169.254 or 100.100.100.200) on its loopback, so the instance reaches
        it through its default route via the primary's gateway.
        Anti-spoofing: table `bridge nicsync_cloud`, hook prerouting: a frame entering a bridge
        from port i-IF is dropped when it is IPv4 with a source address, or ARP with a sender
        IP, not in `expect.addresses[IF]`. Named counters `ipv4_IF` / `arp_IF` count the drops
        (`Cloud.drops()`). DHCP from 0.0.0.0 (UDP 68 -> 67) passes, as in the real clouds.
    peer ns      (…-peerN) per subnet: a host at a deterministic free address of the subnet
        (network + 200, or the highest free host address), port `pN` of brN, default via GW.
    remote ns    (…-remote): 198.18.0.2/24 behind the cloud, default via 198.18.0.1.

Everything is removed on leaving the `with` block, when its body raises, and on SIGTERM/SIGHUP
(turned into an exception that unwinds through the `with`). `cleanup_stale(prefix)` removes the
namespaces of a run that was killed outright.
"""

import atexit
import contextlib
import ipaddress
import json
import os
import pathlib
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import types
import urllib.parse

import harness
import oci_pki

FIXTURES = pathlib.Path(os.environ.get("FIXTURES", pathlib.Path(__file__).parent.parent / "fixtures"))
MOCK = os.environ.get("NICSYNC_MOCK", "nicsync-mock-imds")
PYTHON = sys.executable or "python3"

DHCP_METRIC = 100  # netplan's default route metric for DHCP routes (dhcp4-overrides: route-metric)
REMOTE_NET = ipaddress.ip_network("198.18.0.0/24")  # benchmarking range, only inside our namespaces
REMOTE_GW = "198.18.0.1"
REMOTE_ADDR = "198.18.0.2"
NFT_TABLE = "nicsync_cloud"
DEFAULT_RULES = {(0, "local"), (32766, "main"), (32767, "default")}


# --------------------------------------------------------------------------------------------
# Plain helpers


class CommandError(RuntimeError):
    pass


def run(argv, check=True, timeout=30, **kw):
    """subprocess.run with text output captured; on failure an error naming argv and stderr."""
    kw.setdefault("capture_output", True)
    kw.setdefault("text", True)
    proc = subprocess.run(list(argv), timeout=timeout, **kw)
    if check and proc.returncode != 0:
        raise CommandError(f"`{' '.join(map(str, argv))}` exited {proc.returncode}: "
                           f"{(proc.stderr or '').strip() or (proc.stdout or '').strip()}")
    return proc


def exec_in(ns, argv, check=False, timeout=30, **kw):
    """Runs argv (a fixed list, no shell) inside network namespace ns via `ip netns exec`."""
    return run(["ip", "netns", "exec", ns, *argv], check=check, timeout=timeout, **kw)


def ip(ns, *args, check=True):
    return run(["ip", "-n", ns, *args], check=check)


def ip_json(ns, *args):
    """`ip -n NS -j ARGS` parsed."""
    out = run(["ip", "-n", ns, "-j", *args]).stdout.strip()
    return json.loads(out) if out else []


def _table(value):
    if value is None:
        return "main"
    return int(value) if str(value).isdigit() else value


def normalize_route(r):
    """One `ip -j route` entry in the fixture's `expect` notation."""
    out = {"table": _table(r.get("table")), "dst": r["dst"]}
    if "gateway" in r:
        out["via"] = r["gateway"]
    if "dev" in r:
        out["dev"] = r["dev"]
    if r.get("scope") not in (None, "global", "universe"):
        out["scope"] = r["scope"]
    if r.get("metric"):
        out["metric"] = r["metric"]
    if r.get("type") not in (None, "unicast"):
        out["type"] = r["type"]
    return out


def normalize_rule(r):
    out = {"priority": r["priority"]}
    if r.get("src", "all") != "all":
        out["from"] = r["src"] + (f"/{r['srclen']}" if r.get("srclen", 32) != 32 else "")
    if "table" in r:
        out["table"] = _table(r["table"])
    for key, value in r.items():  # anything else (to, iif, oif, fwmark, not, action...) shows up
        if key not in ("priority", "src", "srclen", "table", "protocol", "flags") and value is not None:
            out[key] = value
    return out


def kernel_state(ns, ignore_routes=()):
    """IPv4 state of ns in the fixture's `expect` notation: addresses per link (kernel order,
    lo left out, links without IPv4 left out), routes of every table but main/local plus the
    main table's defaults (minus `ignore_routes`, given in the same notation), and the rules
    other than the kernel's three defaults."""
    addresses = {}
    for link in ip_json(ns, "-4", "addr", "show"):
        if link["ifname"] == "lo":
            continue
        addrs = [f"{a['local']}/{a['prefixlen']}" for a in link.get("addr_info", []) if a.get("family") == "inet"]
        if addrs:
            addresses[link["ifname"]] = addrs
    ignore = [dict(i) for i in ignore_routes]
    routes = []
    for r in ip_json(ns, "-4", "route", "show", "table", "all"):
        n = normalize_route(r)
        if n["table"] == "local" or (n["table"] == "main" and n["dst"] != "default"):
            continue
        if n in ignore:
            ignore.remove(n)
            continue
        routes.append(n)
    rules = [normalize_rule(r) for r in ip_json(ns, "-4", "rule", "show")
             if (r["priority"], r.get("table")) not in DEFAULT_RULES or r.get("src", "all") != "all"]
    return {"addresses": addresses, "routes": routes, "rules": rules}


def _canon(items):
    return sorted(json.dumps(i, sort_keys=True) for i in items)


def state_differences(got, expect, by_ip=False):
    """Differences between kernel_state() and a fixture's `expect` (addresses compared per link
    as sets, routes and rules as multisets, every field exact). [] when equal. by_ip: addresses
    are compared without their prefix length (a file consumer writes /32 where `expect` lists
    the subnet prefix)."""
    diffs = []
    links = sorted(set(got["addresses"]) | set(expect["addresses"]))
    for link in links:
        g, w = set(got["addresses"].get(link, [])), set(expect["addresses"].get(link, []))
        if by_ip:
            g, w = {a.split("/")[0] for a in g}, {a.split("/")[0] for a in w}
        if g != w:
            diffs.append(f"addresses of {link}: missing {sorted(w - g)}, unexpected {sorted(g - w)}")
    for kind in ("routes", "rules"):
        g, w = _canon(got[kind]), _canon(expect[kind])
        missing = [x for x in w if x not in g or w.count(x) > g.count(x)]
        extra = [x for x in g if x not in w or g.count(x) > w.count(x)]
        if missing or extra:
            diffs.append(f"{kind}: missing {sorted(set(missing))}, unexpected {sorted(set(extra))}")
    return diffs


_PING = r"""
import os, socket, struct, sys, time
dst, src, timeout = sys.argv[1], sys.argv[2], float(sys.argv[3])
def csum(b):
    if len(b) % 2: b += b"\0"
    s = sum(struct.unpack(f"!{len(b)//2}H", b)); s = (s >> 16) + (s & 0xffff); s += s >> 16
    return ~s & 0xffff
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
if src: s.bind((src, 0))
ident, seq, payload = os.getpid() & 0xffff, 0, b"nicsync-netns-cloud"
start = time.monotonic(); deadline = start + timeout; next_send = start
while True:
    now = time.monotonic()
    if now >= deadline: sys.exit(1)
    if now >= next_send:
        seq += 1
        hdr = struct.pack("!BBHHH", 8, 0, 0, ident, seq)
        s.sendto(struct.pack("!BBHHH", 8, 0, csum(hdr + payload), ident, seq) + payload, (dst, 0))
        next_send = now + 0.5
    s.settimeout(max(0.005, min(next_send, deadline) - now))
    try:
        data, addr = s.recvfrom(4096)
    except socket.timeout:
        continue
    ihl = (data[0] & 15) * 4
    if len(data) >= ihl + 8:
        typ, code, _, rid, rseq = struct.unpack("!BBHHH", data[ihl:ihl + 8])
        if typ == 0 and rid == ident and addr[0] == dst:
            print(f"reply from {addr[0]} seq {rseq} after {time.monotonic() - start:.3f}s"); sys.exit(0)
"""

_CONNECT = r"""
import socket, sys
dst, port, src, timeout = sys.argv[1], int(sys.argv[2]), sys.argv[3], float(sys.argv[4])
s = socket.socket(); s.settimeout(timeout)
try:
    if src: s.bind((src, 0))
    s.connect((dst, port)); data = b""
    while not data.endswith(b"\n"):
        chunk = s.recv(256)
        if not chunk: break
        data += chunk
    print(data.decode().strip())
except OSError as e:
    print(f"{type(e).__name__}: {e}", file=sys.stderr); sys.exit(1)
"""

_LISTEN = r"""
import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], int(sys.argv[2]))); s.listen(64)
print("ready", flush=True)
while True:
    c, peer = s.accept()
    try:
        c.sendall(f"{c.getsockname()[0]} {peer[0]}\n".encode())
    except OSError:
        pass
    c.close()
"""


def ping(from_ns, dst, src=None, timeout=2.0):
    """ICMP echo from from_ns to dst (resent every 0.5 s) until a reply or timeout: True/False.
    (No ping binary needed: a raw socket in a small Python program.)"""
    proc = exec_in(from_ns, [PYTHON, "-c", _PING, dst, src or "", str(timeout)], timeout=timeout + 10)
    return proc.returncode == 0


def tcp_connect(from_ns, dst, port, src=None, timeout=3.0):
    """Connects from from_ns to dst:port (a Cloud.listen() listener answers with the address
    it was reached at): that address, or None when no connection could be made in time."""
    proc = exec_in(from_ns, [PYTHON, "-c", _CONNECT, dst, str(port), src or "", str(timeout)],
                   timeout=timeout + 10)
    if proc.returncode != 0 or not proc.stdout.strip():
        return None
    return proc.stdout.split()[0]


# --------------------------------------------------------------------------------------------
# Cleanup on signals


class Terminated(SystemExit):
    """Raised in the main thread by SIGTERM/SIGHUP so that `with Cloud(...)` blocks unwind."""

    def __init__(self, signum):
        super().__init__(128 + signum)
        self.signum = signum


_ACTIVE = []
_SAVED_HANDLERS = {}
_SIGNALS = (signal.SIGTERM, signal.SIGHUP)
_seq = 0


def _on_signal(signum, frame):
    raise Terminated(signum)


def _register(cloud):
    if not _ACTIVE and threading.current_thread() is threading.main_thread():
        for s in _SIGNALS:
            _SAVED_HANDLERS[s] = signal.signal(s, _on_signal)
    _ACTIVE.append(cloud)


def _unregister(cloud):
    if cloud in _ACTIVE:
        _ACTIVE.remove(cloud)
    if not _ACTIVE and _SAVED_HANDLERS and threading.current_thread() is threading.main_thread():
        for s, h in _SAVED_HANDLERS.items():
            signal.signal(s, h)
        _SAVED_HANDLERS.clear()


@contextlib.contextmanager
def _signals_blocked():
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    old = signal.pthread_sigmask(signal.SIG_BLOCK, {*_SIGNALS, signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


def _atexit():
    for cloud in list(_ACTIVE):
        cloud.cleanup()


atexit.register(_atexit)


def _netns_list():
    out = run(["ip", "-j", "netns", "list"], check=False).stdout.strip()
    return [n["name"] for n in json.loads(out)] if out else []


def _delete_netns(name):
    """Kills whatever still runs in the namespace, then deletes it. Errors as a list."""
    errors = []
    pids = run(["ip", "netns", "pids", name], check=False).stdout.split()
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, ValueError):
            os.kill(int(pid), signal.SIGKILL)
    proc = run(["ip", "netns", "del", name], check=False)
    if proc.returncode != 0 and name in _netns_list():
        errors.append(f"ip netns del {name}: {proc.stderr.strip()}")
    return errors


def _stale(pid):
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
        return False  # its run is still going
    except ProcessLookupError:
        return True
    except PermissionError:
        return False


def cleanup_stale(prefix):
    """Deletes namespaces ns-PREFIX-PID-… whose creating process PID is gone (a killed earlier
    run), and this process's own ones that no live Cloud owns, killing what still runs in them;
    also their temp directories. Returns the deleted namespace names."""
    pattern = re.compile(rf"^ns-{re.escape(prefix)}-(\d+)-\d+-[a-z0-9]+$")
    owned = {ns for c in _ACTIVE for ns in c.namespaces}
    removed = []
    for name in _netns_list():
        m = pattern.match(name)
        if m and name not in owned and _stale(int(m.group(1))):
            _delete_netns(name)
            removed.append(name)
    owned_tmp = {c.tmp.name for c in _ACTIVE if c.tmp is not None}
    tmp_pattern = re.compile(rf"^nicsync-netns-{re.escape(prefix)}-(\d+)-\d+-")
    for d in pathlib.Path(tempfile.gettempdir()).glob(f"nicsync-netns-{prefix}-*"):
        m = tmp_pattern.match(d.name)
        if m and d.name not in owned_tmp and _stale(int(m.group(1))):
            shutil.rmtree(d, ignore_errors=True)
    return removed


# --------------------------------------------------------------------------------------------
# The cloud


class Subnet:
    def __init__(self, index, network, gateway):
        self.index = index
        self.network = network          # ipaddress.IPv4Network
        self.gateway = gateway          # str
        self.bridge = f"br{index}"
        self.links = []                 # instance link names on this subnet
        self.peer_ns = None
        self.peer_addr = None           # str
        self.peer_port = f"p{index}"

    def __repr__(self):
        return (f"Subnet({self.network}, gw {self.gateway}, {self.bridge}, links {self.links}, "
                f"peer {self.peer_addr} in {self.peer_ns})")


def _fixture_ipv4s(data):
    """Every IPv4 address mentioned anywhere in the fixture."""
    text = json.dumps(data)
    found = set()
    for m in re.finditer(r"(?<![\d.])(\d{1,3}(?:\.\d{1,3}){3})(?![\d.])", text):
        with contextlib.suppress(ValueError):
            found.add(ipaddress.IPv4Address(m.group(1)))
    return found


class Listener:
    def __init__(self, proc, ns, port):
        self.proc, self.ns, self.port = proc, ns, port

    def stop(self):
        _stop_process(self.proc)


def _stop_process(proc, timeout=3):
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    for stream in (proc.stdout, proc.stderr):
        if stream:
            with contextlib.suppress(Exception):
                stream.close()


class Cloud:
    """See the module docstring. Use as `with Cloud("aws-seed-two-eni", "mytest") as cloud:`."""

    def __init__(self, fixture_name, prefix="nicsync", rp_filter=2, lease=True):
        global _seq
        path = pathlib.Path(fixture_name)
        if path.suffix != ".json":
            path = FIXTURES / f"{fixture_name}.json"
        self.fixture_path = path
        self.fixture_name = path.stem
        self.fixture = json.loads(path.read_text())
        self.prefix = prefix
        self.rp_filter = rp_filter
        self.with_lease = lease         # False: no simulated lease; see start_dhcp()
        tag = f"ns-{prefix}-{os.getpid()}-{_seq}"
        self._tmp_prefix = f"nicsync-netns-{prefix}-{os.getpid()}-{_seq}-"
        _seq += 1
        self.inst = f"{tag}-inst"
        self.cloud = f"{tag}-cloud"
        self.remote = f"{tag}-remote"
        self.remote_addr = REMOTE_ADDR
        self.namespaces = []            # created so far, deleted on cleanup
        self._processes = []
        self._metadata = None
        self._oci_pki = None            # oci_pki.make_pki() result, made on first use
        self._oci_api = None            # nicsync-mock-oci-api in the instance namespace
        self.tmp = None
        self._plan()

    # -- planning (pure) ------------------------------------------------------------------

    def _plan(self):
        data = self.fixture
        expect = data["expect"]
        self.links = [l["name"] for l in data["links"]]
        self.macs = {l["name"]: l["mac"].lower() for l in data["links"]}
        dhcp = [l for l in data["links"] if "dhcp" in l]
        if len(dhcp) != 1:
            raise ValueError(f"{self.fixture_name}: expected one link with a DHCP lease, found {len(dhcp)}")
        self.primary = dhcp[0]["name"]
        self.lease = ipaddress.IPv4Interface(dhcp[0]["dhcp"])
        self.lease_gateway = dhcp[0]["gateway"]
        self.allowed = {name: sorted({a.split("/")[0] for a in expect["addresses"].get(name, [])},
                                     key=ipaddress.IPv4Address) for name in self.links}
        if str(self.lease.ip) not in self.allowed[self.primary]:
            self.allowed[self.primary].insert(0, str(self.lease.ip))

        # subnet and gateway of every link
        per_link = {}
        for name in self.links:
            if name == self.primary:
                per_link[name] = (self.lease.network, self.lease_gateway)
                continue
            routes = [r for r in expect["routes"] if r.get("dev") == name]
            nets = [ipaddress.IPv4Network(r["dst"]) for r in routes
                    if r["dst"] != "default" and r.get("scope") == "link"]
            if not nets:
                nets = [ipaddress.IPv4Interface(a).network for a in expect["addresses"].get(name, [])
                        if "/" in a and not a.endswith("/32")]
            if not nets:
                raise ValueError(f"{self.fixture_name}: cannot tell the subnet of {name}")
            gws = {r["via"] for r in routes if "via" in r}
            if len(gws) > 1:
                raise ValueError(f"{self.fixture_name}: {name} has several gateways {sorted(gws)}")
            if gws:
                gw = gws.pop()
            elif nets[0] == self.lease.network:
                gw = self.lease_gateway
            else:
                gw = str(nets[0].network_address + 1)
            per_link[name] = (nets[0], gw)

        self.subnets = []
        for name in self.links:
            net, gw = per_link[name]
            subnet = next((s for s in self.subnets if s.network == net), None)
            if subnet is None:
                if any(s.network.overlaps(net) for s in self.subnets):
                    raise ValueError(f"{self.fixture_name}: subnet {net} of {name} overlaps another")
                subnet = Subnet(len(self.subnets), net, gw)
                self.subnets.append(subnet)
            elif subnet.gateway != gw:
                raise ValueError(f"{self.fixture_name}: {net} has gateways {subnet.gateway} and {gw}")
            subnet.links.append(name)
        self.subnet_of = {name: s for s in self.subnets for name in s.links}

        used = _fixture_ipv4s(data)
        for s in self.subnets:
            hosts = list(s.network.hosts())
            candidates = ([s.network.network_address + 200] if s.network.num_addresses > 202 else []) + hosts[::-1]
            peer = next((a for a in candidates if a not in used and str(a) != s.gateway), None)
            if peer is None:
                raise ValueError(f"{self.fixture_name}: no free address for a peer in {s.network}")
            s.peer_addr = str(peer)
            s.peer_ns = f"{self.inst.removesuffix('-inst')}-peer{s.index}"
            if s.network.overlaps(REMOTE_NET):
                raise ValueError(f"{self.fixture_name}: {s.network} overlaps the remote network {REMOTE_NET}")

        url = urllib.parse.urlsplit(data["imds"]["endpoint"])
        self.endpoint_url = data["imds"]["endpoint"].rstrip("/")
        self.endpoint_ip = url.hostname
        self.endpoint_port = url.port or 80
        self.peers = [s.peer_ns for s in self.subnets]

        self.ports = {}  # instance link -> cloud-side port name
        for i, name in enumerate(self.links):
            self.ports[name] = f"i-{name}" if len(name) <= 13 else f"i{i}"
        self.counters = {name: re.sub(r"[^A-Za-z0-9_]", "_", name) for name in self.links}

    # -- build ----------------------------------------------------------------------------

    def __enter__(self):
        _register(self)
        try:
            self._build()
        except BaseException:
            self.cleanup()
            raise
        return self

    def __exit__(self, *exc):
        self.cleanup(raise_errors=exc[0] is None)
        return False

    def _add_netns(self, name):
        run(["ip", "netns", "add", name])
        self.namespaces.append(name)
        ip(name, "link", "set", "lo", "up")

    def _sysctl(self, ns, settings):
        exec_in(ns, ["sysctl", "-q", "-w", *(f"{k}={v}" for k, v in settings.items())], check=True)

    def _build(self):
        with _signals_blocked():
            self.tmp = pathlib.Path(tempfile.mkdtemp(prefix=self._tmp_prefix))
            for ns in (self.inst, self.cloud, self.remote, *self.peers):
                self._add_netns(ns)
        no_rpf = {"net.ipv4.conf.all.rp_filter": 0, "net.ipv4.conf.default.rp_filter": 0}
        self._sysctl(self.cloud, {**no_rpf, "net.ipv4.ip_forward": 1})
        for ns in (self.remote, *self.peers):
            self._sysctl(ns, no_rpf)
        inst = {"net.ipv4.conf.all.rp_filter": self.rp_filter, "net.ipv4.conf.default.rp_filter": self.rp_filter}
        for key in ("arp_ignore", "arp_announce", "arp_filter"):
            inst[f"net.ipv4.conf.all.{key}"] = 0
            inst[f"net.ipv4.conf.default.{key}"] = 0
        self._sysctl(self.inst, inst)

        # cloud: bridges with the gateways, the endpoint on lo, the remote network
        for s in self.subnets:
            ip(self.cloud, "link", "add", s.bridge, "type", "bridge", "stp_state", "0")
            ip(self.cloud, "addr", "add", f"{s.gateway}/{s.network.prefixlen}", "dev", s.bridge)
            ip(self.cloud, "link", "set", s.bridge, "up")
        ip(self.cloud, "addr", "add", f"{self.endpoint_ip}/32", "dev", "lo")
        ip(self.cloud, "link", "add", "r0", "type", "veth", "peer", "name", "eth0", "netns", self.remote)
        ip(self.cloud, "addr", "add", f"{REMOTE_GW}/{REMOTE_NET.prefixlen}", "dev", "r0")
        ip(self.cloud, "link", "set", "r0", "up")
        ip(self.remote, "addr", "add", f"{REMOTE_ADDR}/{REMOTE_NET.prefixlen}", "dev", "eth0")
        ip(self.remote, "link", "set", "eth0", "up")
        ip(self.remote, "route", "add", "default", "via", REMOTE_GW, "dev", "eth0")

        # peers
        for s in self.subnets:
            ip(self.cloud, "link", "add", s.peer_port, "type", "veth", "peer", "name", "eth0", "netns", s.peer_ns)
            ip(self.cloud, "link", "set", s.peer_port, "master", s.bridge, "up")
            ip(s.peer_ns, "addr", "add", f"{s.peer_addr}/{s.network.prefixlen}", "dev", "eth0")
            ip(s.peer_ns, "link", "set", "eth0", "up")
            ip(s.peer_ns, "route", "add", "default", "via", s.gateway, "dev", "eth0")

        # anti-spoofing before the instance's ports can send anything
        self._install_antispoof()

        # the instance's NICs
        for name in self.links:
            port = self.ports[name]
            ip(self.cloud, "link", "add", port, "type", "veth", "peer", "name", name, "netns", self.inst)
            ip(self.cloud, "link", "set", port, "master", self.subnet_of[name].bridge, "up")
            ip(self.inst, "link", "set", name, "address", self.macs[name])
        for name in self.links:
            ip(self.inst, "link", "set", name, "up")

        # the DHCP lease, as systemd-networkd (netplan, route metric 100) leaves it
        if not self.with_lease:
            return
        p, addr, gw = self.primary, str(self.lease.ip), self.lease_gateway
        ip(self.inst, "addr", "add", str(self.lease), "dev", p, "metric", str(DHCP_METRIC))
        ip(self.inst, "route", "add", gw, "dev", p, "proto", "dhcp", "scope", "link", "src", addr,
           "metric", str(DHCP_METRIC))
        ip(self.inst, "route", "add", "default", "via", gw, "dev", p, "proto", "dhcp", "src", addr,
           "metric", str(DHCP_METRIC))

    def _install_antispoof(self):
        lines = [f"table bridge {NFT_TABLE} {{"]
        for name in self.links:
            c = self.counters[name]
            elements = ", ".join(self.allowed[name])
            lines.append(f"  set allow_{c} {{ type ipv4_addr; "
                         + (f"elements = {{ {elements} }}; " if elements else "") + "}")
            lines.append(f"  counter ipv4_{c} {{ }}")
            lines.append(f"  counter arp_{c} {{ }}")
        lines.append("  chain prerouting {")
        lines.append("    type filter hook prerouting priority 0; policy accept;")
        for name in self.links:
            c, port = self.counters[name], self.ports[name]
            lines.append(f'    iifname "{port}" ether type ip ip saddr 0.0.0.0 udp sport 68 udp dport 67 accept')
            lines.append(f'    iifname "{port}" ether type ip ip saddr != @allow_{c} counter name "ipv4_{c}" drop')
            lines.append(f'    iifname "{port}" ether type arp arp saddr ip != @allow_{c} counter name "arp_{c}" drop')
        lines.append("  }")
        lines.append("}")
        rules = self.tmp / "antispoof.nft"
        rules.write_text("\n".join(lines) + "\n")
        exec_in(self.cloud, ["nft", "-f", str(rules)], check=True)

    # -- cleanup --------------------------------------------------------------------------

    def cleanup(self, raise_errors=False):
        """Stops every process, deletes every namespace and the temp directory. Idempotent."""
        errors = []
        with _signals_blocked():
            for proc in reversed(self._processes):
                try:
                    _stop_process(proc)
                except Exception as e:  # noqa: BLE001
                    errors.append(f"stopping {proc.args}: {e}")
            self._processes.clear()
            self._metadata = None
            self._oci_api = None
            for ns in reversed(self.namespaces):
                try:
                    errors += _delete_netns(ns)
                except Exception as e:  # noqa: BLE001
                    errors.append(f"deleting {ns}: {e}")
            self.namespaces.clear()
            if self.tmp is not None:
                shutil.rmtree(self.tmp, ignore_errors=True)
                self.tmp = None
            _unregister(self)
        if errors:
            message = f"cleanup of {self.fixture_name} cloud: " + "; ".join(errors)
            if raise_errors:
                raise RuntimeError(message)
            print(message, file=sys.stderr)

    # -- processes ------------------------------------------------------------------------

    def _spawn(self, ns, argv, **kw):
        # registered under blocked signals (so cleanup knows every child), but the child itself
        # starts with an empty signal mask so that SIGTERM stops it
        with _signals_blocked():
            proc = subprocess.Popen(["ip", "netns", "exec", ns, *argv],
                                    preexec_fn=lambda: signal.pthread_sigmask(signal.SIG_SETMASK, set()), **kw)
            self._processes.append(proc)
        return proc

    def _forget(self, proc):
        _stop_process(proc)
        if proc in self._processes:
            self._processes.remove(proc)

    def start_metadata(self, mock_binary=None, overrides=None, drops=(), extra_args=(), timeout=10):
        """(Re)starts the mock metadata server in the cloud ns on the fixture's endpoint
        (e.g. 169.254.169.254:80). overrides: {path: body (str|bytes)} served instead of / in
        addition to the fixture's; drops: paths removed (404). Returns the endpoint URL."""
        self.stop_metadata()
        mock = mock_binary or MOCK
        if self.needs_oci_api():
            # OCI's metadata service serves the instance identity the API mock accepts, and the
            # API mock runs beside it (started once; restart it with start_oci_api()).
            pki = self.oci_pki()
            identity = {"/opc/v2/identity/cert.pem": pathlib.Path(pki["leaf"]).read_bytes(),
                        "/opc/v2/identity/key.pem": pathlib.Path(pki["leaf_key"]).read_bytes(),
                        "/opc/v2/identity/intermediate.pem": pathlib.Path(pki["intermediate"]).read_bytes()}
            overrides = {**identity, **(overrides or {})}
            if self._oci_api is None:
                self.start_oci_api()
        run_dir = pathlib.Path(tempfile.mkdtemp(prefix="metadata-", dir=self.tmp))
        port_file = run_dir / "port"
        self.metadata_log = run_dir / "requests.log"
        args = [mock, "--fixture", str(self.fixture_path.resolve()),
                "--listen", f"{self.endpoint_ip}:{self.endpoint_port}",
                "--port-file", str(port_file), "--log", str(self.metadata_log)]
        for i, (path, body) in enumerate((overrides or {}).items()):
            body_file = run_dir / f"override-{i}"
            body_file.write_bytes(body.encode() if isinstance(body, str) else body)
            args += ["--override", f"{path}={body_file}"]
        for path in drops:
            args += ["--drop", path]
        args += list(extra_args)
        self._metadata = self._start_server(self.cloud, args, run_dir, port_file, "mock metadata server", timeout)
        return self.endpoint_url

    def _start_server(self, ns, args, run_dir, port_file, what, timeout):
        """Spawns args in ns (stderr to run_dir/stderr) and waits until it writes port_file."""
        stderr_path = run_dir / "stderr"
        with open(stderr_path, "wb") as err:
            proc = self._spawn(ns, args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err)
        deadline = time.monotonic() + timeout
        while not port_file.exists():
            if proc.poll() is not None:
                self._forget(proc)
                raise RuntimeError(f"{what} exited {proc.returncode}: {stderr_path.read_text().strip()}")
            if time.monotonic() > deadline:
                self._forget(proc)
                raise RuntimeError(f"{what} did not start within {timeout} s")
            time.sleep(0.01)
        return proc

    # -- the OCI API (Oracle fixtures with an oci_api block) ---------------------------------

    OCI_API_PORT = 8443

    def needs_oci_api(self):
        return self.fixture["vendor"] == "oracle" and bool(self.fixture.get("oci_api"))

    def oci_pki(self):
        """The throwaway PKI of this cloud's OCI API mock (made once)."""
        if self._oci_pki is None:
            directory = pathlib.Path(tempfile.mkdtemp(prefix="oci-pki-", dir=self.tmp))
            # (a short instance id: openssl caps a CN at 64 characters; nicsync does not read it)
            self._oci_pki = oci_pki.make_pki(directory, "ocid1.tenancy.oc1..nicsynctest",
                                             "ocid1.instance.oc1..nicsynctest")
        return self._oci_pki

    @property
    def oci_api_url(self):
        """Where the OCI API mock listens: loopback of the instance namespace (nicsync runs there)."""
        return f"https://127.0.0.1:{self.OCI_API_PORT}"

    def write_oci_api_settings(self, root):
        """For an Oracle fixture, harness.write_oci_api_settings(): the mock's endpoints, or the
        API turned off when the fixture has no oci_api block."""
        if self.fixture["vendor"] != "oracle":
            return
        mock = types.SimpleNamespace(url=self.oci_api_url, ca=self.oci_pki()["ca"]) if self.needs_oci_api() else None
        harness.write_oci_api_settings(root, mock)

    def start_oci_api(self, *extra_args, timeout=10):
        """(Re)starts nicsync-mock-oci-api in the instance namespace on 127.0.0.1:OCI_API_PORT,
        serving the fixture's oci_api block; its JSON request log is self.oci_api_log."""
        self.stop_oci_api()
        pki = self.oci_pki()
        run_dir = pathlib.Path(tempfile.mkdtemp(prefix="oci-api-", dir=self.tmp))
        port_file = run_dir / "port"
        self.oci_api_log = run_dir / "requests.jsonl"
        args = [oci_pki.MOCK_OCI, "--tls-cert", pki["server"], "--tls-key", pki["server_key"],
                "--leaf-cert", pki["leaf"], "--intermediate-cert", pki["intermediate"],
                "--fixture", str(self.fixture_path.resolve()), "--listen", f"127.0.0.1:{self.OCI_API_PORT}",
                "--port-file", str(port_file), "--log", str(self.oci_api_log), *extra_args]
        self._oci_api = self._start_server(self.inst, args, run_dir, port_file, "nicsync-mock-oci-api", timeout)

    def stop_oci_api(self):
        if self._oci_api is not None:
            self._forget(self._oci_api)
            self._oci_api = None

    def oci_api_requests(self):
        """The OCI API mock's log so far: one dict per request."""
        path = getattr(self, "oci_api_log", None)
        if path is None or not path.exists():
            return []
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]

    def stop_metadata(self):
        if self._metadata is not None:
            self._forget(self._metadata)
            self._metadata = None

    def start_dhcp(self, dnsmasq="dnsmasq", lease_time="1h", timeout=10):
        """Runs a real DHCP server in the cloud ns (for `Cloud(..., lease=False)`): dnsmasq,
        DHCP only (no DNS, no config file, no pid file), bound to the primary's subnet bridge,
        handing the primary's MAC its fixture lease address with router = the lease gateway.
        Its log (stderr) goes to self.dhcp_log. Stopped on cleanup. Returns the process."""
        s = self.subnet_of[self.primary]
        run_dir = pathlib.Path(tempfile.mkdtemp(prefix="dhcp-", dir=self.tmp))
        self.dhcp_log = run_dir / "dnsmasq.log"
        argv = [dnsmasq, "--no-daemon", "--conf-file=/dev/null", "--port=0", f"--interface={s.bridge}",
                "--bind-interfaces", "--except-interface=lo", "--pid-file", "--user=root", "--group=root",
                f"--dhcp-range={s.network.network_address},static,{s.network.netmask},{lease_time}",
                f"--dhcp-host={self.macs[self.primary]},{self.lease.ip}",
                f"--dhcp-option=option:router,{self.lease_gateway}",
                f"--dhcp-leasefile={run_dir / 'leases'}", "--log-facility=-", "--log-dhcp"]
        with open(self.dhcp_log, "wb") as log:
            proc = self._spawn(self.cloud, argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while "DHCP, sockets bound" not in self.dhcp_log.read_text(errors="replace"):
            if proc.poll() is not None or time.monotonic() > deadline:
                self._forget(proc)
                raise RuntimeError(f"dnsmasq did not start (exit {proc.returncode}): "
                                   f"{self.dhcp_log.read_text(errors='replace').strip()}")
            time.sleep(0.02)
        return proc

    def spawn(self, ns, argv, **kw):
        """Popen of argv inside network namespace ns (via `ip netns exec`, which execs it: the
        pid is argv's), stopped (SIGTERM, then SIGKILL) on cleanup. stop() stops it earlier."""
        return self._spawn(ns, argv, **kw)

    def stop(self, proc):
        self._forget(proc)

    def metadata_requests(self):
        """Lines of the running/last mock's request log: "METHOD PATH STATUS"."""
        path = getattr(self, "metadata_log", None)
        return path.read_text().splitlines() if path and path.exists() else []

    def listen(self, port, ns=None, bind="0.0.0.0"):
        """A TCP listener (default: in the instance ns on 0.0.0.0:port) that answers every
        connection with "LOCAL_ADDR PEER_ADDR\\n" and closes it. Stopped on cleanup."""
        proc = self._spawn(ns or self.inst, [PYTHON, "-u", "-c", _LISTEN, bind, str(port)],
                           stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = proc.stdout.readline()
        if line.strip() != "ready":
            err = proc.stderr.read() if proc.poll() is not None else ""
            self._forget(proc)
            raise RuntimeError(f"listener on {bind}:{port} did not start: {line!r} {err.strip()}")
        return Listener(proc, ns or self.inst, port)

    # -- queries --------------------------------------------------------------------------

    def exec(self, ns, argv, **kw):
        return exec_in(ns, argv, **kw)

    def lease_default_route(self):
        return {"table": "main", "dst": "default", "via": self.lease_gateway, "dev": self.primary,
                "metric": DHCP_METRIC}

    def kernel_state(self, ns=None):
        """kernel_state() of the instance ns without the DHCP lease's own main default."""
        return kernel_state(ns or self.inst, ignore_routes=[self.lease_default_route()])

    def state_differences(self, expect=None, by_ip=False):
        return state_differences(self.kernel_state(), expect or self.fixture["expect"], by_ip=by_ip)

    def drops(self):
        """Frames dropped by the anti-spoofing so far: {link: {"ipv4": n, "arp": n}}."""
        out = exec_in(self.cloud, ["nft", "-j", "list", "counters", "table", "bridge", NFT_TABLE], check=True).stdout
        by_counter = {}
        for item in json.loads(out)["nftables"]:
            if "counter" in item:
                by_counter[item["counter"]["name"]] = item["counter"]["packets"]
        return {name: {"ipv4": by_counter.get(f"ipv4_{c}", 0), "arp": by_counter.get(f"arp_{c}", 0)}
                for name, c in self.counters.items()}

    def subnet_for(self, address):
        a = ipaddress.IPv4Address(address.split("/")[0])
        return next((s for s in self.subnets if a in s.network), None)

    def peer_for(self, address):
        """(peer ns, peer address) of the subnet holding address."""
        s = self.subnet_for(address)
        if s is None:
            raise ValueError(f"{address} is in none of {[str(s.network) for s in self.subnets]}")
        return s.peer_ns, s.peer_addr

    def ping(self, from_ns, dst, src=None, timeout=2.0):
        return ping(from_ns, dst, src=src, timeout=timeout)

    def tcp_connect(self, from_ns, dst, port, src=None, timeout=3.0):
        return tcp_connect(from_ns, dst, port, src=src, timeout=timeout)

    def describe(self):
        lines = [f"instance {self.inst}: " + ", ".join(f"{n} {self.macs[n]} -> {self.ports[n]}@"
                                                          f"{self.subnet_of[n].bridge}" for n in self.links),
                 f"  lease {self.lease} on {self.primary}, default via {self.lease_gateway} metric {DHCP_METRIC}"]
        for s in self.subnets:
            lines.append(f"cloud {self.cloud}: {s.bridge} {s.gateway}/{s.network.prefixlen}; "
                         f"peer {s.peer_ns} {s.peer_addr}")
        lines.append(f"remote {self.remote} {REMOTE_ADDR} via {REMOTE_GW}; metadata {self.endpoint_url} "
                     f"on the cloud's lo")
        return "\n".join(lines)
