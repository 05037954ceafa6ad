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
        IP, not in `expect.addresses[IF]` or one of the NIC's delegated IPv4 prefixes; or IPv6
        with a source address that is not ::, link-local, in `expect.addresses6[IF]` or in one of
        the NIC's delegated IPv6 prefixes (neighbour discovery is checked by its source only).
        Named counters `ipv4_IF` / `arp_IF` / `ipv6_IF` count the drops (`Cloud.drops()`).
        DHCP from 0.0.0.0 (UDP 68 -> 67) passes, as in the real clouds.
        IPv6, where the fixture has it (see "IPv6" below): the subnet's router address on brN,
        the subnet's on-link route, a route to each delegated prefix via the NIC's first address.
    peer ns      (…-peerN) per subnet: a host at a deterministic free address of the subnet
        (network + 200, or the highest free host address), port `pN` of brN, default via GW;
        with an IPv6 subnet also network + 0xc8 (or the next free) and default via its router;
        a route to each delegated prefix of its subnet's NICs via the router.
    remote ns    (…-remote): 198.18.0.2/24 and 2001:2::2/64 behind the cloud, default via
        198.18.0.1 and 2001:2::1 (RFC 2544/5180 benchmarking ranges, only inside our namespaces).

IPv6: a link's IPv6 subnet, router and delegated prefixes come from the fixture's metadata (AWS
`subnet-ipv6-cidr-blocks`, `ipv6-prefix`, `ipv4-prefix` and the link's `ipv6_router` in `links`;
Oracle `ipv6SubnetCidrBlock` / `ipv6VirtualRouterIp`; Alibaba `vswitch-ipv6-cidr-block` /
`ipv6-gateway`). A link without IPv4 (an IPv6-only VNIC) gets a bridge of its IPv6 subnet
(`Subnet.network` None). The cloud side does no duplicate address detection (nodad, accept_dad 0);
the instance does, as real machines do (`Cloud.wait_dad()`). Nothing sends router advertisements:
`Cloud.add_ra_defaults()` installs what the kernel would learn from one (`default via ROUTER dev
IF proto ra`, metric 1024); with the simulated lease the primary gets it at once (a real primary
accepts RAs), and `Cloud.kernel_state()` leaves those routes out as it leaves out the lease's.

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
REMOTE_NET6 = ipaddress.ip_network("2001:2::/64")  # IPv6 benchmarking range (RFC 5180), likewise
REMOTE_GW6 = "2001:2::1"
REMOTE_ADDR6 = "2001:2::2"
RA_METRIC = 1024  # the kernel's metric for an RA-learned default (and any IPv6 route given none)
LINK_LOCAL6 = ipaddress.ip_network("fe80::/10")
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


def normalize_route(r, family=4):
    """One `ip -j route` entry in the fixture's `expect` notation (family 6: `ip -j -6 route`,
    where metric 1024, the kernel's for a route given none, reads as no metric). A local route's
    scope host (what iproute2 and the kernel give every local route) is left out."""
    out = {"table": _table(r.get("table")), "dst": r["dst"]}
    if "gateway" in r:
        out["via"] = r["gateway"]
    if "dev" in r:
        out["dev"] = r["dev"]
    if r.get("scope") not in (None, "global", "universe") and not (r.get("type") == "local" and r["scope"] == "host"):
        out["scope"] = r["scope"]
    if r.get("metric") and not (family == 6 and r["metric"] == RA_METRIC):
        out["metric"] = r["metric"]
    if r.get("type") not in (None, "unicast"):
        out["type"] = r["type"]
    return out


def normalize_rule(r, family=4):
    """One `ip -j rule` entry in the notation: "from" is the bare address for a single one (/32,
    /128), ADDR/LEN for a prefix."""
    out = {"priority": r["priority"]}
    if r.get("src", "all") != "all":
        whole = 128 if family == 6 else 32
        out["from"] = r["src"] + (f"/{r['srclen']}" if r.get("srclen", whole) != whole else "")
    if "table" in r:
        out["table"] = _table(r["table"])
    for key, value in r.items():  # anything else (to, iif, oif, fwmark, not, action...) shows up
        if key not in ("priority", "src", "srclen", "table", "protocol", "flags") and value is not None:
            out[key] = value
    return out


def _listed_route(n, r):
    """Whether a normalized route belongs in kernel_state(): tables other than main and local,
    main-table defaults, and local-table routes of type local that someone added (a delegated
    prefix made usable: nicsync's protocol live, networkd's "static" from the files); never the
    kernel's own (protocol kernel: an address's local route, multicast, anycast)."""
    if n["table"] == "local":
        return n.get("type") == "local" and r.get("protocol") != "kernel"
    if n["table"] == "main":
        return n["dst"] == "default"
    return True


def _family_state(ns, family, ignore_routes):
    flag, inet = ("-4", "inet") if family == 4 else ("-6", "inet6")
    addresses = {}
    for link in ip_json(ns, flag, "addr", "show"):
        if link["ifname"] == "lo":
            continue
        addrs = [f"{a['local']}/{a['prefixlen']}" for a in link.get("addr_info", [])
                 if a.get("family") == inet and (family == 4 or a.get("scope") == "global")]
        if addrs:
            addresses[link["ifname"]] = addrs
    ignore = [dict(i) for i in ignore_routes]
    routes = []
    for r in ip_json(ns, flag, "route", "show", "table", "all"):
        n = normalize_route(r, family)
        if not _listed_route(n, r):
            continue
        if n in ignore:
            ignore.remove(n)
            continue
        routes.append(n)
    rules = [normalize_rule(r, family) for r in ip_json(ns, flag, "rule", "show")
             if (r["priority"], r.get("table")) not in DEFAULT_RULES or r.get("src", "all") != "all"]
    return addresses, routes, rules


def kernel_state(ns, ignore_routes=(), ignore_routes6=()):
    """State of ns in the fixture's `expect` notation. IPv4: addresses per link (kernel order,
    lo left out, links without IPv4 left out), routes of every table but main/local plus the
    main table's defaults plus the local table's added local routes (minus `ignore_routes`,
    given in the same notation), and the rules other than the kernel's defaults. IPv6 the same
    as addresses6 (global scope only), routes6 (minus `ignore_routes6`) and rules6."""
    addresses, routes, rules = _family_state(ns, 4, ignore_routes)
    addresses6, routes6, rules6 = _family_state(ns, 6, ignore_routes6)
    return {"addresses": addresses, "routes": routes, "rules": rules,
            "addresses6": addresses6, "routes6": routes6, "rules6": rules6}


def _canon(items):
    return sorted(json.dumps(i, sort_keys=True) for i in items)


IPV6_KEYS = ("addresses6", "routes6", "rules6")


def expected_routes6(expect, learned=True):
    """expect's routes6 as the kernel shows them: the "learned" marks dropped, and with
    learned=False the learned routes left out (what the files give: no learned gateway)."""
    return [{k: v for k, v in r.items() if k != "learned"} for r in expect.get("routes6", [])
            if learned or "learned" not in r]


def ipv4_only(expect):
    """expect without its IPv6 keys."""
    return {k: v for k, v in expect.items() if k not in IPV6_KEYS}


def state_differences(got, expect, by_ip=False, learned=True):
    """Differences between kernel_state() and a fixture's `expect` (addresses compared per link
    as sets, routes and rules as multisets, every field exact). [] when equal. by_ip: IPv4
    addresses are compared without their prefix length (a file consumer writes /32 where
    `expect` lists the subnet prefix); IPv6 ones always with it (/128 everywhere). The IPv6
    keys are compared when expect has them (a missing one in got counts as empty); learned=False
    leaves out the routes6 marked "learned" (files carry no learned gateway)."""
    diffs = []
    expect = dict(expect)
    if "routes6" in expect:
        expect["routes6"] = expected_routes6(expect, learned)
    for key in ("addresses", "addresses6"):
        if key not in expect:
            continue
        mine, want = got.get(key, {}), expect[key]
        for link in sorted(set(mine) | set(want)):
            g, w = set(mine.get(link, [])), set(want.get(link, []))
            if by_ip and key == "addresses":
                g, w = {a.split("/")[0] for a in g}, {a.split("/")[0] for a in w}
            if g != w:
                diffs.append(f"{key} of {link}: missing {sorted(w - g)}, unexpected {sorted(g - w)}")
    for kind in ("routes", "rules", "routes6", "rules6"):
        if kind not in expect:
            continue
        g, w = _canon(got.get(kind, [])), _canon(expect[kind])
        missing = [x for x in w if x not in g or w.count(x) > g.count(x)]
        extra = [x for x in g if x not in w or g.count(x) > w.count(x)]
        if missing or extra:
            diffs.append(f"{kind}: missing {sorted(set(missing))}, unexpected {sorted(set(extra))}")
    return diffs


_PING = r"""
import ipaddress, os, socket, struct, sys, time
dst, src, timeout = sys.argv[1], sys.argv[2], float(sys.argv[3])
v6 = ":" in dst
def csum(b):
    if len(b) % 2: b += b"\0"
    s = sum(struct.unpack(f"!{len(b)//2}H", b)); s = (s >> 16) + (s & 0xffff); s += s >> 16
    return ~s & 0xffff
if v6:  # ICMPv6 echo 128 / reply 129; the kernel fills in the checksum of a raw ICMPv6 socket
    s = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)
    echo, reply = 128, 0x81
else:
    s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
    echo, reply = 8, 0
if src: s.bind((src, 0))
want = ipaddress.ip_address(dst)
ident, seq, payload = os.getpid() & 0xffff, 0, b"nicsync-netns-cloud"
start = time.monotonic(); deadline = start + timeout; next_send = start
while True:
    now = time.monotonic()
    if now >= deadline: sys.exit(1)
    if now >= next_send:
        seq += 1
        hdr = struct.pack("!BBHHH", echo, 0, 0, ident, seq)
        s.sendto(struct.pack("!BBHHH", echo, 0, 0 if v6 else csum(hdr + payload), ident, seq) + payload, (dst, 0))
        next_send = now + 0.5
    s.settimeout(max(0.005, min(next_send, deadline) - now))
    try:
        data, addr = s.recvfrom(4096)
    except socket.timeout:
        continue
    ihl = 0 if v6 else (data[0] & 15) * 4  # a raw ICMPv6 socket gets no IP header
    if len(data) >= ihl + 8:
        typ, code, _, rid, rseq = struct.unpack("!BBHHH", data[ihl:ihl + 8])
        if typ == reply and rid == ident and ipaddress.ip_address(addr[0].split("%")[0]) == want:
            print(f"reply from {addr[0]} seq {rseq} after {time.monotonic() - start:.3f}s"); sys.exit(0)
"""

_CONNECT = r"""
import socket, sys
dst, port, src, timeout = sys.argv[1], int(sys.argv[2]), sys.argv[3], float(sys.argv[4])
s = socket.socket(socket.AF_INET6 if ":" in dst else socket.AF_INET); s.settimeout(timeout)
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
v6 = ":" in sys.argv[1]
s = socket.socket(socket.AF_INET6 if v6 else socket.AF_INET); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
if v6:  # IPv6 only: an IPv4 listener may hold the same port
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
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
    """ICMP echo from from_ns to dst (resent every 0.5 s) until a reply or timeout: True/False;
    ICMPv6 when dst is an IPv6 address. (No ping binary needed: a raw socket in a small Python
    program.)"""
    proc = exec_in(from_ns, [PYTHON, "-c", _PING, dst, src or "", str(timeout)], timeout=timeout + 10)
    return proc.returncode == 0


def tcp_connect(from_ns, dst, port, src=None, timeout=3.0):
    """Connects from from_ns to dst:port (a Cloud.listen() listener answers with the address
    it was reached at): that address, or None when no connection could be made in time. IPv6
    when dst is an IPv6 address."""
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
        self.network = network          # ipaddress.IPv4Network; None: an IPv6-only subnet
        self.gateway = gateway          # str; None when network is
        self.network6 = None            # ipaddress.IPv6Network, when the subnet has IPv6
        self.gateway6 = None            # str: the IPv6 router (link-local or in network6), or None
        self.bridge = f"br{index}"
        self.links = []                 # instance link names on this subnet
        self.peer_ns = None
        self.peer_addr = None           # str; None when network is
        self.peer_addr6 = None          # str; None when network6 is
        self.peer_port = f"p{index}"

    def __repr__(self):
        return (f"Subnet({self.network}, gw {self.gateway}, {self.network6}, gw6 {self.gateway6}, {self.bridge}, "
                f"links {self.links}, peer {self.peer_addr} {self.peer_addr6} in {self.peer_ns})")


def _fixture_ipv4s(data):
    """Every IPv4 address mentioned anywhere in the fixture."""
    text = json.dumps(data)
    found = set()
    for m in re.finditer(r"(?<![\d.])(\d{1,3}(?:\.\d{1,3}){3})(?![\d.])", text):
        with contextlib.suppress(ValueError):
            found.add(ipaddress.IPv4Address(m.group(1)))
    return found


def _fixture_ipv6s(data):
    """Every IPv6 address mentioned anywhere in the fixture."""
    found = set()
    for m in re.finditer(r"[0-9A-Fa-f:]*:[0-9A-Fa-f:]+", json.dumps(data)):
        with contextlib.suppress(ValueError):
            found.add(ipaddress.IPv6Address(m.group(0)))
    return found


def fixture_ipv6(data):
    """The IPv6 side of each fixture link as its cloud's metadata (and `links`) describe it:
    {link: {"subnet": IPv6Network or None, "router": str or None, "prefixes6": [IPv6Network],
    "prefixes4": [IPv4Network]}} (prefixes: AWS's delegated ipv6-prefix / ipv4-prefix)."""
    responses = data["imds"]["responses"]
    out = {}
    for link in data["links"]:
        mac = link["mac"].lower()
        info = {"subnet": None, "router": link.get("ipv6_router"), "prefixes6": [], "prefixes4": []}
        if data["vendor"] in ("aws", "alibaba"):
            def leaf(name, mac=mac):
                for path, body in responses.items():
                    if path.lower().endswith(f"/macs/{mac}/{name}"):
                        return [line.strip() for line in body.splitlines() if line.strip()]
                return []
            subnets = leaf("subnet-ipv6-cidr-blocks") or leaf("vswitch-ipv6-cidr-block")
            if subnets:
                info["subnet"] = ipaddress.IPv6Network(subnets[0])
            if data["vendor"] == "alibaba" and leaf("ipv6-gateway"):
                info["router"] = leaf("ipv6-gateway")[0]
            info["prefixes6"] = [ipaddress.IPv6Network(x) for x in leaf("ipv6-prefix")]
            info["prefixes4"] = [ipaddress.IPv4Network(x) for x in leaf("ipv4-prefix")]
        else:
            vnics = next((json.loads(body) for path, body in sorted(responses.items())
                          if path.rstrip("/").endswith("/vnics")), [])
            vnic = next((v for v in vnics if str(v.get("macAddr", "")).lower() == mac), {})
            if vnic.get("ipv6SubnetCidrBlock"):
                info["subnet"] = ipaddress.IPv6Network(vnic["ipv6SubnetCidrBlock"])
            if vnic.get("ipv6VirtualRouterIp"):
                info["router"] = vnic["ipv6VirtualRouterIp"]
        out[link["name"]] = info
    return out


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
        self.ra_routes = []             # the RA defaults add_ra_defaults() installed (notation)
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
        self.ipv6 = fixture_ipv6(data)
        local_routes = [r for r in expect["routes"] + expect.get("routes6", []) if r.get("type") == "local"]
        for name in self.links:  # delegated prefixes: the metadata's, and what expect makes local
            info = self.ipv6[name]
            for r in local_routes:
                if r.get("dev") == name:
                    net = ipaddress.ip_network(r["dst"])
                    key = "prefixes6" if net.version == 6 else "prefixes4"
                    if net not in info[key]:
                        info[key].append(net)
            self.allowed[name] += [str(n) for n in info["prefixes4"]]
        self.allowed6 = {name: ["::", str(LINK_LOCAL6)]
                         + sorted({a.split("/")[0] for a in expect.get("addresses6", {}).get(name, [])},
                                  key=ipaddress.IPv6Address)
                         + [str(n) for n in self.ipv6[name]["prefixes6"]] for name in self.links}

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
            if not nets and not expect["addresses"].get(name) and self.ipv6[name]["subnet"] is not None:
                per_link[name] = (None, None)  # IPv6 only
                continue
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
            net6, gw6 = self.ipv6[name]["subnet"], self.ipv6[name]["router"]
            if net is not None:
                subnet = next((s for s in self.subnets if s.network == net), None)
            else:
                subnet = next((s for s in self.subnets if net6 is not None and s.network6 == net6), None)
            if subnet is None:
                if net is not None and any(s.network is not None and s.network.overlaps(net) for s in self.subnets):
                    raise ValueError(f"{self.fixture_name}: subnet {net} of {name} overlaps another")
                if net6 is not None and any(s.network6 is not None and s.network6.overlaps(net6)
                                            for s in self.subnets):
                    raise ValueError(f"{self.fixture_name}: IPv6 subnet {net6} of {name} is on another bridge")
                subnet = Subnet(len(self.subnets), net, gw)
                subnet.network6 = net6
                self.subnets.append(subnet)
            elif subnet.gateway != gw:
                raise ValueError(f"{self.fixture_name}: {net} has gateways {subnet.gateway} and {gw}")
            elif net6 is not None and subnet.network6 not in (None, net6):
                raise ValueError(f"{self.fixture_name}: {net} has IPv6 subnets {subnet.network6} and {net6}")
            else:
                subnet.network6 = subnet.network6 or net6
            if gw6 is not None:
                if subnet.gateway6 not in (None, gw6):
                    raise ValueError(f"{self.fixture_name}: {subnet.bridge} has IPv6 routers {subnet.gateway6} and {gw6}")
                subnet.gateway6 = gw6
            subnet.links.append(name)
        self.subnet_of = {name: s for s in self.subnets for name in s.links}
        for s in self.subnets:
            if s.gateway6 is not None and s.network6 is None and not ipaddress.IPv6Address(s.gateway6) in LINK_LOCAL6:
                raise ValueError(f"{self.fixture_name}: IPv6 router {s.gateway6} of {s.bridge} without a subnet")

        used = _fixture_ipv4s(data)
        used6 = _fixture_ipv6s(data)
        delegated6 = [n for info in self.ipv6.values() for n in info["prefixes6"]]
        for s in self.subnets:
            s.peer_ns = f"{self.inst.removesuffix('-inst')}-peer{s.index}"
            if s.network is not None:
                hosts = list(s.network.hosts())
                candidates = ([s.network.network_address + 200] if s.network.num_addresses > 202 else []) + hosts[::-1]
                peer = next((a for a in candidates if a not in used and str(a) != s.gateway), None)
                if peer is None:
                    raise ValueError(f"{self.fixture_name}: no free address for a peer in {s.network}")
                s.peer_addr = str(peer)
                if s.network.overlaps(REMOTE_NET):
                    raise ValueError(f"{self.fixture_name}: {s.network} overlaps the remote network {REMOTE_NET}")
            if s.network6 is not None:
                if s.network6.overlaps(REMOTE_NET6):
                    raise ValueError(f"{self.fixture_name}: {s.network6} overlaps the remote network {REMOTE_NET6}")
                start = s.network6.network_address + 200
                peer6 = next((start + i for i in range(1000) if start + i not in used6
                              and not any(start + i in n for n in delegated6)), None)
                if peer6 is None or peer6 not in s.network6:
                    raise ValueError(f"{self.fixture_name}: no free address for a peer in {s.network6}")
                s.peer_addr6 = str(peer6)

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
        # the cloud's side does no duplicate address detection: its addresses work at once
        no_dad = {"net.ipv6.conf.all.accept_dad": 0, "net.ipv6.conf.default.accept_dad": 0}
        self._sysctl(self.cloud, {**no_rpf, **no_dad, "net.ipv4.ip_forward": 1, "net.ipv6.conf.all.forwarding": 1})
        for ns in (self.remote, *self.peers):
            self._sysctl(ns, {**no_rpf, **no_dad})
        inst = {"net.ipv4.conf.all.rp_filter": self.rp_filter, "net.ipv4.conf.default.rp_filter": self.rp_filter}
        for key in ("arp_ignore", "arp_announce", "arp_filter"):
            inst[f"net.ipv4.conf.all.{key}"] = 0
            inst[f"net.ipv4.conf.default.{key}"] = 0
        self._sysctl(self.inst, inst)

        # cloud: bridges with the gateways, the endpoint on lo, the remote network
        for s in self.subnets:
            # no multicast snooping: with no MLD querier it could starve neighbour discovery
            ip(self.cloud, "link", "add", s.bridge, "type", "bridge", "stp_state", "0", "mcast_snooping", "0")
            if s.network is not None:
                ip(self.cloud, "addr", "add", f"{s.gateway}/{s.network.prefixlen}", "dev", s.bridge)
            ip(self.cloud, "link", "set", s.bridge, "up")
            if s.gateway6 is not None:
                router = ipaddress.IPv6Address(s.gateway6)
                length = 64 if router in LINK_LOCAL6 else s.network6.prefixlen
                ip(self.cloud, "-6", "addr", "add", f"{router}/{length}", "dev", s.bridge, "nodad")
            if s.network6 is not None:  # on-link (a router in the subnet gave the kernel's own already)
                ip(self.cloud, "-6", "route", "replace", str(s.network6), "dev", s.bridge)
        ip(self.cloud, "addr", "add", f"{self.endpoint_ip}/32", "dev", "lo")
        ip(self.cloud, "link", "add", "r0", "type", "veth", "peer", "name", "eth0", "netns", self.remote)
        ip(self.cloud, "addr", "add", f"{REMOTE_GW}/{REMOTE_NET.prefixlen}", "dev", "r0")
        ip(self.cloud, "-6", "addr", "add", f"{REMOTE_GW6}/{REMOTE_NET6.prefixlen}", "dev", "r0", "nodad")
        ip(self.cloud, "link", "set", "r0", "up")
        ip(self.remote, "addr", "add", f"{REMOTE_ADDR}/{REMOTE_NET.prefixlen}", "dev", "eth0")
        ip(self.remote, "-6", "addr", "add", f"{REMOTE_ADDR6}/{REMOTE_NET6.prefixlen}", "dev", "eth0", "nodad")
        ip(self.remote, "link", "set", "eth0", "up")
        ip(self.remote, "route", "add", "default", "via", REMOTE_GW, "dev", "eth0")
        ip(self.remote, "-6", "route", "add", "default", "via", REMOTE_GW6, "dev", "eth0")

        # peers
        for s in self.subnets:
            ip(self.cloud, "link", "add", s.peer_port, "type", "veth", "peer", "name", "eth0", "netns", s.peer_ns)
            self._sysctl(self.cloud, {f"net.ipv6.conf.{s.peer_port}.disable_ipv6": 1})
            ip(self.cloud, "link", "set", s.peer_port, "master", s.bridge, "up")
            if s.network is not None:
                ip(s.peer_ns, "addr", "add", f"{s.peer_addr}/{s.network.prefixlen}", "dev", "eth0")
            if s.network6 is not None:
                ip(s.peer_ns, "-6", "addr", "add", f"{s.peer_addr6}/{s.network6.prefixlen}", "dev", "eth0", "nodad")
            ip(s.peer_ns, "link", "set", "eth0", "up")
            if s.network is not None:
                ip(s.peer_ns, "route", "add", "default", "via", s.gateway, "dev", "eth0")
            if s.gateway6 is not None:
                ip(s.peer_ns, "-6", "route", "add", "default", "via", s.gateway6, "dev", "eth0")

        # anti-spoofing before the instance's ports can send anything
        self._install_antispoof()

        # the instance's NICs
        for name in self.links:
            port = self.ports[name]
            ip(self.cloud, "link", "add", port, "type", "veth", "peer", "name", name, "netns", self.inst)
            # a bridge port is layer 2 only: no IPv6 (link-local address, DAD, solicitations) of its own
            self._sysctl(self.cloud, {f"net.ipv6.conf.{port}.disable_ipv6": 1})
            ip(self.cloud, "link", "set", port, "master", self.subnet_of[name].bridge, "up")
            ip(self.inst, "link", "set", name, "address", self.macs[name])
        for name in self.links:
            ip(self.inst, "link", "set", name, "up")

        # the cloud routes each delegated prefix to its NIC (via the NIC's first address)
        expect = self.fixture["expect"]
        for name in self.links:
            bridge = self.subnet_of[name].bridge
            for family, key, addresses in ((4, "prefixes4", expect["addresses"]),
                                           (6, "prefixes6", expect.get("addresses6", {}))):
                prefixes = self.ipv6[name][key]
                if not prefixes:
                    continue
                if not addresses.get(name):
                    raise ValueError(f"{self.fixture_name}: {name} has delegated {prefixes} but no address to route them to")
                via = addresses[name][0].split("/")[0]
                s = self.subnet_of[name]
                for prefix in prefixes:
                    ip(self.cloud, f"-{family}", "route", "add", str(prefix), "via", via, "dev", bridge)
                    # the subnet's hosts reach a delegated prefix through the router, as in the VPC
                    # (Linux answers no neighbour solicitation for a prefix it only has a local
                    # route for; ARP it would answer, from every NIC, the wrong ones dropped)
                    gateway = s.gateway if family == 4 else s.gateway6
                    if gateway is not None and (s.peer_addr if family == 4 else s.peer_addr6) is not None:
                        ip(s.peer_ns, f"-{family}", "route", "add", str(prefix), "via", gateway, "dev", "eth0")

        # the DHCP lease, as systemd-networkd (netplan, route metric 100) leaves it
        if not self.with_lease:
            return
        p, addr, gw = self.primary, str(self.lease.ip), self.lease_gateway
        ip(self.inst, "addr", "add", str(self.lease), "dev", p, "metric", str(DHCP_METRIC))
        ip(self.inst, "route", "add", gw, "dev", p, "proto", "dhcp", "scope", "link", "src", addr,
           "metric", str(DHCP_METRIC))
        ip(self.inst, "route", "add", "default", "via", gw, "dev", p, "proto", "dhcp", "src", addr,
           "metric", str(DHCP_METRIC))
        # and the primary's router advertisement (a real primary accepts them)
        if self.ra_router(p) is not None:
            self.add_ra_defaults([p])

    def _install_antispoof(self):
        lines = [f"table bridge {NFT_TABLE} {{"]
        for name in self.links:
            c = self.counters[name]
            elements = ", ".join(self.allowed[name])
            lines.append(f"  set allow_{c} {{ type ipv4_addr; flags interval; auto-merge; "
                         + (f"elements = {{ {elements} }}; " if elements else "") + "}")
            lines.append(f"  set allow6_{c} {{ type ipv6_addr; flags interval; auto-merge; "
                         f"elements = {{ {', '.join(self.allowed6[name])} }}; }}")
            lines.append(f"  counter ipv4_{c} {{ }}")
            lines.append(f"  counter arp_{c} {{ }}")
            lines.append(f"  counter ipv6_{c} {{ }}")
        lines.append("  chain prerouting {")
        lines.append("    type filter hook prerouting priority 0; policy accept;")
        for name in self.links:
            c, port = self.counters[name], self.ports[name]
            lines.append(f'    iifname "{port}" ether type ip ip saddr 0.0.0.0 udp sport 68 udp dport 67 accept')
            lines.append(f'    iifname "{port}" ether type ip ip saddr != @allow_{c} counter name "ipv4_{c}" drop')
            lines.append(f'    iifname "{port}" ether type arp arp saddr ip != @allow_{c} counter name "arp_{c}" drop')
            lines.append(f'    iifname "{port}" ether type ip6 ip6 saddr != @allow6_{c} counter name "ipv6_{c}" drop')
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
        """kernel_state() of the instance ns without the DHCP lease's own main default and the
        RA defaults add_ra_defaults() installed (what the kernel learns, not what nicsync adds)."""
        return kernel_state(ns or self.inst, ignore_routes=[self.lease_default_route()],
                            ignore_routes6=self.ra_routes)

    def state_differences(self, expect=None, by_ip=False, learned=True):
        return state_differences(self.kernel_state(), expect or self.fixture["expect"], by_ip=by_ip,
                                 learned=learned)

    # -- IPv6 -----------------------------------------------------------------------------

    def ra_router(self, link):
        """The router whose advertisements a link would receive: its `ipv6_router` in `links`
        (AWS), else for the primary the IPv6 router of its subnet (Oracle's, Alibaba's from the
        metadata); None when there is none."""
        entry = next(l for l in self.fixture["links"] if l["name"] == link)
        if "ipv6_router" in entry:
            return entry["ipv6_router"]
        if link == self.primary:
            return self.subnet_of[link].gateway6
        return None

    def ra_default_route(self, link):
        """The RA-learned default of a link in the notation ({"table": "main", "dst": "default",
        "via": ROUTER, "dev": LINK}: metric 1024, which reads as none)."""
        return {"table": "main", "dst": "default", "via": self.ra_router(link), "dev": link}

    def add_ra_defaults(self, links=None):
        """Installs in the instance what the kernel learns from a router advertisement:
        `default via ROUTER dev LINK proto ra` (metric 1024), on `links` (default: the primary,
        when it has a router: secondary NICs do not accept RAs, although `links` may give their
        router too). Idempotent. Returns the routes (notation)."""
        if links is None:
            links = [self.primary] if self.ra_router(self.primary) is not None else []
        added = []
        for link in links:
            router = self.ra_router(link)
            if router is None:
                raise ValueError(f"{self.fixture_name}: {link} has no IPv6 router")
            # a router outside the NIC's /128s (Alibaba's is in the subnet) is on-link all the same
            onlink = [] if ipaddress.IPv6Address(router) in LINK_LOCAL6 else ["onlink"]
            ip(self.inst, "-6", "route", "replace", "default", "via", router, "dev", link, "proto", "ra",
               "metric", str(RA_METRIC), *onlink)
            route = self.ra_default_route(link)
            if route not in self.ra_routes:
                self.ra_routes.append(route)
            added.append(route)
        return added

    def wait_dad(self, ns=None, timeout=5.0):
        """Waits until no IPv6 address in ns (default: the instance) is tentative (duplicate
        address detection, ~1 s after an address is added); raises on a failed one or on timeout."""
        ns = ns or self.inst
        deadline = time.monotonic() + timeout
        while True:
            info = [(l["ifname"], a) for l in ip_json(ns, "-6", "addr", "show") for a in l.get("addr_info", [])]
            failed = [f"{a['local']} on {n}" for n, a in info if a.get("dadfailed")]
            if failed:
                raise RuntimeError(f"duplicate address detection failed: {failed}")
            tentative = [f"{a['local']} on {n}" for n, a in info if a.get("tentative")]
            if not tentative:
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"still tentative after {timeout} s: {tentative}")
            time.sleep(0.05)

    def prefix_hosts(self, family):
        """One address inside each delegated prefix (family 4 or 6) of each NIC, which the NIC
        answers for once the prefix is made usable locally: {link: [ADDR, ...]} (prefix + 5)."""
        key = "prefixes4" if family == 4 else "prefixes6"
        return {name: [str(n.network_address + 5) for n in self.ipv6[name][key]]
                for name in self.links if self.ipv6[name][key]}

    def remote_links6(self, expect=None, learned=True):
        """The links whose IPv6 addresses can answer the remote host under `expect`: those with
        an IPv6 default route of their own in a table of theirs (routes6; learned=False: not
        counting learned ones), and the primary while it has an RA default (add_ra_defaults)."""
        expect = expect or self.fixture["expect"]
        links = {r["dev"] for r in expected_routes6(expect, learned)
                 if r["dst"] == "default" and r["table"] != "main"}
        links |= {r["dev"] for r in self.ra_routes if r["dev"] == self.primary}
        return links

    def unreachable6(self, addresses=None, remote=True, port=None, timeout=2.0):
        """Checks every IPv6 address (default: all of expect's addresses6 and one address in each
        delegated IPv6 prefix, prefix_hosts(6); or {link: [ADDR[/128], ...]}) answers ping -6 from its subnet's peer and, with `remote` (True, or a collection of
        links whose addresses should), from the remote host; with `port`, also TCP to a
        `listen(port, bind="::")` listener. Waits for DAD first. Returns the failures ([] when all
        answer), including IPv6 frames the anti-spoofing dropped meanwhile."""
        if addresses is None:
            addresses = {k: list(v) for k, v in self.fixture["expect"].get("addresses6", {}).items()}
            for link, hosts in self.prefix_hosts(6).items():
                addresses.setdefault(link, []).extend(hosts)
        self.wait_dad()
        before = self.drops()
        bad = []
        for link, addrs in addresses.items():
            for a in addrs:
                addr = a.split("/")[0]
                s = self.subnet_for(addr)
                sources = []
                if s is not None and s.peer_addr6 is not None:
                    sources.append((f"peer {s.peer_addr6}", s.peer_ns))
                else:
                    bad.append(f"{addr} ({link}) is in no IPv6 subnet of the cloud")
                if remote is True or (remote and link in remote):
                    sources.append((f"remote {REMOTE_ADDR6}", self.remote))
                for name, ns in sources:
                    if not ping(ns, addr, timeout=timeout):
                        bad.append(f"{addr} ({link}) does not answer ping -6 from {name}")
                    if port is not None:
                        got = tcp_connect(ns, addr, port)
                        if got is None or ipaddress.ip_address(got) != ipaddress.ip_address(addr):
                            bad.append(f"TCP [{addr}]:{port} ({link}) from {name}: reached {got}")
        after = self.drops()
        spoofed = {l: after[l]["ipv6"] - before[l]["ipv6"] for l in after if after[l]["ipv6"] != before[l]["ipv6"]}
        if spoofed:
            bad.append(f"IPv6 frames dropped as spoofed per link: {spoofed}")
        return bad

    def drops(self):
        """Frames dropped by the anti-spoofing so far: {link: {"ipv4": n, "arp": n, "ipv6": n}}."""
        out = exec_in(self.cloud, ["nft", "-j", "list", "counters", "table", "bridge", NFT_TABLE], check=True).stdout
        by_counter = {}
        for item in json.loads(out)["nftables"]:
            if "counter" in item:
                by_counter[item["counter"]["name"]] = item["counter"]["packets"]
        return {name: {"ipv4": by_counter.get(f"ipv4_{c}", 0), "arp": by_counter.get(f"arp_{c}", 0),
                       "ipv6": by_counter.get(f"ipv6_{c}", 0)}
                for name, c in self.counters.items()}

    def subnet_for(self, address):
        """The Subnet holding an IPv4 or IPv6 address (IPv6: its subnet, or a NIC's delegated
        prefix there), or None."""
        a = ipaddress.ip_address(address.split("/")[0])
        if a.version == 4:
            return next((s for s in self.subnets if s.network is not None and a in s.network), None)
        found = next((s for s in self.subnets if s.network6 is not None and a in s.network6), None)
        if found is None:
            found = next((self.subnet_of[n] for n in self.links
                          if any(a in p for p in self.ipv6[n]["prefixes6"])), None)
        return found

    def peer_for(self, address):
        """(peer ns, peer address) of the subnet holding address (an IPv6 one: the peer's IPv6
        address)."""
        s = self.subnet_for(address)
        if s is None:
            raise ValueError(f"{address} is in none of {[str(s.network) for s in self.subnets]}")
        if ":" in address:
            return s.peer_ns, s.peer_addr6
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
            v4 = f"{s.gateway}/{s.network.prefixlen}" if s.network is not None else "no IPv4"
            v6 = f"; IPv6 {s.network6} router {s.gateway6}, peer {s.peer_addr6}" if s.network6 is not None else ""
            lines.append(f"cloud {self.cloud}: {s.bridge} {v4}; peer {s.peer_ns} {s.peer_addr}{v6}")
        lines.append(f"remote {self.remote} {REMOTE_ADDR} {REMOTE_ADDR6} via {REMOTE_GW} {REMOTE_GW6}; "
                     f"metadata {self.endpoint_url} on the cloud's lo")
        if self.ra_routes:
            lines.append(f"  RA defaults in the instance: {self.ra_routes}")
        return "\n".join(lines)
