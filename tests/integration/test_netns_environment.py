"""Self-test of the network-namespace cloud (netns_cloud.py), without nicsync: for every fixture
the topology is as described, the fixture's expected state set by hand with `ip` (as nicsync will
set it) reads back through kernel_state() exactly as `expect`, every expected address answers
ping and TCP from its subnet's peer and from the remote host with no spoofed frame dropped, and
the mock metadata server answers at the vendor's endpoint from the instance. Then the
environment must catch DESIGN.md's bug: a secondary NIC's address with its subnet prefix (a
metric-0 prefix route in main) sends the primary's replies out the wrong NIC, where the
simulated anti-spoofing drops them."""

import json
import os
import pathlib
import subprocess
import tempfile
import time

import netns_cloud as nc
from harness import Failures, fixtures, load_fixture, needs_vlan_devices

PREFIX = "envtest"
PORT = 8080
PROTO = "201"  # nicsync's route/rule protocol number (config/ iproute2 names)


def ip(ns, *args):
    nc.ip(ns, *args)


def check(cond, message):
    if not cond:
        raise AssertionError(message)


def apply_by_hand(cloud, secondary_prefix_route=False):
    """The fixture's expected state, added with `ip` the way nicsync applies it live: the
    primary's secondary IPs with the subnet prefix, other NICs' addresses with noprefixroute
    (or, to reproduce the bug, without), table routes/main fallbacks with proto 201 and onlink,
    and the rules."""
    expect = cloud.fixture["expect"]
    for link, addresses in expect["addresses"].items():
        for a in addresses:
            if link == cloud.primary and a.split("/")[0] == str(cloud.lease.ip):
                continue  # the DHCP lease is already there
            extra = [] if link == cloud.primary or secondary_prefix_route else ["noprefixroute"]
            ip(cloud.inst, "addr", "add", a, "dev", link, *extra)
    add_routes_and_rules(cloud)


def add_routes_and_rules(cloud, rules=True):
    expect = cloud.fixture["expect"]
    for r in expect["routes"]:
        argv = ["route", "add", "table", str(r["table"]), r["dst"]]
        if "via" in r:
            argv += ["via", r["via"]]
        argv += ["dev", r["dev"]]
        if "scope" in r:
            argv += ["scope", r["scope"]]
        if "metric" in r:
            argv += ["metric", str(r["metric"])]
        if "via" in r:
            argv += ["onlink"]
        ip(cloud.inst, *argv, "proto", PROTO)
    for rule in expect["rules"] if rules else []:
        ip(cloud.inst, "rule", "add", "from", rule["from"], "lookup", str(rule["table"]),
           "priority", str(rule["priority"]), "proto", PROTO)


def check_topology(cloud):
    data = cloud.fixture
    links = {l["ifname"]: l for l in nc.ip_json(cloud.inst, "link", "show")}
    check(links.get("lo", {}).get("operstate") == "UNKNOWN" and "UP" in links["lo"]["flags"], "instance lo is not up")
    for l in data["links"]:
        got = links.get(l["name"])
        check(got is not None, f"instance has no {l['name']}: {sorted(links)}")
        check(got["address"] == l["mac"].lower(), f"{l['name']} has MAC {got['address']}, expected {l['mac']}")
        check(got["operstate"] == "UP", f"{l['name']} is {got['operstate']}, expected UP")
    check(set(links) == {"lo", *cloud.links}, f"instance links {sorted(links)}, expected lo + {cloud.links}")

    # the lease, as networkd leaves it, and nothing else yet
    state = cloud.kernel_state()
    want = {"addresses": {cloud.primary: [str(cloud.lease)]}, "routes": [], "rules": []}
    check(state == want, f"fresh instance state {state}, expected {want}")
    main = [nc.normalize_route(r) for r in nc.ip_json(cloud.inst, "-4", "route", "show")]
    lease_routes = [cloud.lease_default_route(),
                    {"table": "main", "dst": str(cloud.lease.network), "dev": cloud.primary, "scope": "link",
                     "metric": nc.DHCP_METRIC},
                    {"table": "main", "dst": cloud.lease_gateway, "dev": cloud.primary, "scope": "link",
                     "metric": nc.DHCP_METRIC}]
    check(nc._canon(main) == nc._canon(lease_routes), f"main table {main}, expected {lease_routes}")

    # cloud: bridges, gateways, ports, forwarding, the endpoint
    cl = {l["ifname"]: l for l in nc.ip_json(cloud.cloud, "-4", "addr", "show")}
    for s in cloud.subnets:
        addrs = [f"{a['local']}/{a['prefixlen']}" for a in cl[s.bridge]["addr_info"]]
        check(addrs == [f"{s.gateway}/{s.network.prefixlen}"], f"{s.bridge} has {addrs}, expected gateway {s.gateway}")
        ports = sorted(l["ifname"] for l in nc.ip_json(cloud.cloud, "link", "show", "master", s.bridge))
        want_ports = sorted([cloud.ports[n] for n in s.links] + [s.peer_port])
        check(ports == want_ports, f"{s.bridge} ports {ports}, expected {want_ports}")
        paddrs = [f"{a['local']}/{a['prefixlen']}" for l in nc.ip_json(s.peer_ns, "-4", "addr", "show", "dev", "eth0")
                  for a in l["addr_info"]]
        check(paddrs == [f"{s.peer_addr}/{s.network.prefixlen}"], f"peer {s.peer_ns} has {paddrs}")
        check(s.peer_addr not in {str(a) for a in nc._fixture_ipv4s(cloud.fixture)},
              f"peer address {s.peer_addr} is used by the fixture")
        check(nc.ping(s.peer_ns, s.gateway), f"peer {s.peer_addr} cannot ping its gateway {s.gateway}")
    lo = [a["local"] for a in cl["lo"]["addr_info"]]
    check(cloud.endpoint_ip in lo, f"endpoint {cloud.endpoint_ip} not on the cloud's lo: {lo}")
    fwd = nc.exec_in(cloud.cloud, ["sysctl", "-n", "net.ipv4.ip_forward"], check=True).stdout.strip()
    check(fwd == "1", f"cloud ip_forward is {fwd}")
    check(nc.ping(cloud.remote, nc.REMOTE_GW), "remote cannot ping the cloud")
    # the lease is reachable from its peer and from the remote host before anything else
    peer_ns, _ = cloud.peer_for(str(cloud.lease.ip))
    check(nc.ping(peer_ns, str(cloud.lease.ip)), f"lease {cloud.lease.ip} does not answer its peer")
    check(nc.ping(cloud.remote, str(cloud.lease.ip)), f"lease {cloud.lease.ip} does not answer the remote host")


def curl(cloud, method, path, headers):
    argv = ["curl", "-sS", "--max-time", "5", "-X", method, "-o", "-", "-w", "\n%{http_code}"]
    if method == "PUT":
        # the mock (cpp-httplib) waits for a body on a PUT without Content-Length; IMDS does not
        argv += ["-H", "Content-Length: 0"]
    for k, v in headers.items():
        argv += ["-H", f"{k}: {v}"]
    proc = nc.exec_in(cloud.inst, [*argv, cloud.endpoint_url + path], timeout=15)
    check(proc.returncode == 0, f"curl {method} {cloud.endpoint_url}{path} from the instance: {proc.stderr.strip()}")
    body, _, status = proc.stdout.rpartition("\n")
    return int(status), body


def metadata_get(cloud, path):
    imds = cloud.fixture["imds"]
    headers = dict(imds.get("require_headers") or {})
    token = imds.get("token")
    if token:
        status, value = curl(cloud, "PUT", token["path"], {token["ttl_header"]: "60"})
        check(status == 200 and value == token["value"], f"token PUT answered {status} {value!r}")
        headers[token["header"]] = value
    return curl(cloud, "GET", path, headers)


def check_metadata(cloud, restart=False):
    imds = cloud.fixture["imds"]
    cloud.start_metadata()
    path = "/latest/meta-data/mac" if "/latest/meta-data/mac" in imds["responses"] else sorted(imds["responses"])[0]
    status, body = metadata_get(cloud, path)
    want = imds["responses"][path]
    check((status, body) == (200, want), f"GET {path}: {status} {body!r}, expected 200 {want!r}")
    if not restart:
        return
    # restart with an override and a dropped path, as later tests do between runs
    dropped = next(p for p in sorted(imds["responses"]) if p != path)
    cloud.start_metadata(overrides={path: "overridden\n"}, drops=[dropped])
    status, body = metadata_get(cloud, path)
    check((status, body) == (200, "overridden\n"), f"after restart GET {path}: {status} {body!r}")
    status, _ = metadata_get(cloud, dropped)
    check(status == 404, f"dropped {dropped} answered {status}")
    check(any(line.startswith(f"GET {path} 200") for line in cloud.metadata_requests()),
          f"request log {cloud.metadata_requests()}")
    cloud.stop_metadata()
    status = nc.exec_in(cloud.inst, ["curl", "-s", "--max-time", "2", cloud.endpoint_url + path]).returncode
    check(status != 0, "metadata still answers after stop_metadata()")


def check_reachability(cloud):
    expect = cloud.fixture["expect"]
    listener = cloud.listen(PORT)
    before = cloud.drops()
    bad = []
    for link, addresses in expect["addresses"].items():
        for a in addresses:
            addr = a.split("/")[0]
            peer_ns, peer_addr = cloud.peer_for(addr)
            for name, ns in ((f"peer {peer_addr}", peer_ns), (f"remote {nc.REMOTE_ADDR}", cloud.remote)):
                if not nc.ping(ns, addr):
                    bad.append(f"{addr} ({link}) does not answer ping from {name}")
                got = nc.tcp_connect(ns, addr, PORT)
                if got != addr:
                    bad.append(f"TCP {addr}:{PORT} ({link}) from {name}: reached {got}")
    listener.stop()
    after = cloud.drops()
    spoofed = {l: after[l]["ipv4"] - before[l]["ipv4"] for l in after if after[l]["ipv4"] != before[l]["ipv4"]}
    if spoofed:
        bad.append(f"IPv4 frames dropped as spoofed per link: {spoofed}")
    check(not bad, "; ".join(bad) + f"\nkernel state: {json.dumps(cloud.kernel_state())}\ndrops: {after}")


def check_bug_is_caught():
    """aws-seed-two-eni: eth1's 10.0.0.226 with its /24 prefix route in main (metric 0) beats
    the lease's metric-100 route; the primary's replies to its own subnet leave by eth1 and
    the anti-spoofing drops them. With noprefixroute the same ping goes through."""
    with nc.Cloud("aws-seed-two-eni", PREFIX) as cloud:
        apply_by_hand(cloud, secondary_prefix_route=True)
        main = [r for r in nc.ip_json(cloud.inst, "-4", "route", "show", "10.0.0.0/24")]
        check(any(r.get("dev") == "eth1" and not r.get("metric") for r in main),
              f"no metric-0 prefix route via eth1 in main: {main}")
        peer_ns, peer_addr = cloud.peer_for("10.0.0.76")
        before = cloud.drops()["eth1"]
        reached = nc.ping(peer_ns, "10.0.0.76", timeout=2)
        after = cloud.drops()["eth1"]
        check(not reached, "10.0.0.76 answered its peer although its replies should leave by eth1")
        check(after["ipv4"] > before["ipv4"] or after["arp"] > before["arp"],
              f"no frame from eth1 dropped: before {before}, after {after}")
        check(after["ipv4"] > before["ipv4"], f"no IPv4 frame from eth1 dropped (ARP only): {before} -> {after}")
        check(nc.ping(cloud.remote, "10.0.0.76"), "10.0.0.76 should still answer the remote host (default via eth0)")
        # fixed the way nicsync does it: no prefix route
        ip(cloud.inst, "addr", "del", "10.0.0.226/24", "dev", "eth1")
        ip(cloud.inst, "addr", "add", "10.0.0.226/24", "dev", "eth1", "noprefixroute")
        add_routes_and_rules(cloud, rules=False)  # removing eth1's last address flushed its routes
        ip(cloud.inst, "neigh", "flush", "dev", "eth1")
        check(nc.ping(peer_ns, "10.0.0.76"), "10.0.0.76 does not answer its peer after noprefixroute")
        check(not cloud.state_differences(), f"after the fix: {cloud.state_differences()}")
        return before, after


def check_cleanup_and_stale():
    """Namespaces and processes vanish on an exception inside the block, on SIGTERM of a test
    process, and cleanup_stale() removes those of a process killed with SIGKILL."""
    names = []
    try:
        with nc.Cloud("aws-seed-single-eni", PREFIX) as cloud:
            names = list(cloud.namespaces)
            cloud.listen(PORT)
            raise KeyError("boom")
    except KeyError:
        pass
    left = [n for n in nc._netns_list() if n in names]
    check(names and not left, f"namespaces left after an exception: {left}")

    here = os.path.dirname(os.path.abspath(__file__))
    child = (f"import sys, time; sys.path.insert(0, {here!r}); import netns_cloud as nc\n"
             f"with nc.Cloud('aws-seed-single-eni', {PREFIX + 'child'!r}) as c:\n"
             f"    c.listen({PORT}); print(' '.join(c.namespaces), flush=True); time.sleep(60)\n")
    for sig, stale in ((15, False), (9, True)):
        proc = subprocess.Popen([nc.PYTHON, "-c", child], stdout=subprocess.PIPE, text=True)
        try:
            spaces = proc.stdout.readline().split()
            check(spaces, "child did not build its cloud")
            inside = [int(p) for n in spaces for p in nc.run(["ip", "netns", "pids", n]).stdout.split()]
            check(inside, "no listener runs in the child's instance namespace")
            proc.send_signal(sig)
            code = proc.wait(timeout=20)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        if stale:
            left = [n for n in nc._netns_list() if n in spaces]
            check(sorted(left) == sorted(spaces), f"SIGKILL: expected all namespaces left behind, found {left}")
            check(any(os.path.exists(f"/proc/{p}") for p in inside), "SIGKILL: the listener did not outlive its test")
            removed = nc.cleanup_stale(PREFIX + "child")
            check(sorted(removed) == sorted(spaces), f"cleanup_stale removed {removed}, expected {spaces}")
        else:
            check(code == 128 + 15, f"child exited {code} on SIGTERM, expected 143")
        left = [n for n in nc._netns_list() if n in spaces]
        check(not left, f"signal {sig}: namespaces left: {left}")
        deadline = time.monotonic() + 5
        while any(os.path.exists(f"/proc/{p}") for p in inside) and time.monotonic() < deadline:
            time.sleep(0.05)
        left = [p for p in inside if os.path.exists(f"/proc/{p}")]
        check(not left, f"signal {sig}: processes left: {left}")
        tmp = [p.name for p in pathlib.Path(tempfile.gettempdir()).glob(f"nicsync-netns-{PREFIX}child-*")]
        check(not tmp, f"signal {sig}: temp directories left: {tmp}")


def main():
    failures = Failures()
    started = time.monotonic()
    stale = nc.cleanup_stale(PREFIX) + nc.cleanup_stale(PREFIX + "child")
    if stale:
        print(f"removed stale namespaces: {stale}")
    for name in fixtures():
        data = load_fixture(name)
        if needs_vlan_devices(data):
            continue
        try:
            cloud = nc.Cloud(name, PREFIX)
        except Exception as e:  # noqa: BLE001
            with failures.case(f"{name}: plan"):
                raise e
            continue
        with cloud:
            with failures.case(f"{name}: topology"):
                check_topology(cloud)
            with failures.case(f"{name}: metadata at {data['imds']['endpoint']} from the instance"):
                check_metadata(cloud, restart=name == "aws-seed-two-eni" or name.startswith("oracle-vm"))
            with failures.case(f"{name}: expected state set by hand reads back as expect"):
                apply_by_hand(cloud)
                diffs = cloud.state_differences()
                check(not diffs, "; ".join(diffs) + f"\nkernel: {json.dumps(cloud.kernel_state())}"
                      f"\nexpect: {json.dumps(data['expect'])}")
            with failures.case(f"{name}: every expected address answers peer and remote (ping, TCP)"):
                check_reachability(cloud)
    with failures.case("aws-seed-two-eni: a secondary NIC's prefix route is caught by the anti-spoofing"):
        before, after = check_bug_is_caught()
        print(f"     eth1 drops {before} -> {after}")
    with failures.case("cleanup on exception, SIGTERM; cleanup_stale after SIGKILL"):
        check_cleanup_and_stale()
    leftover = [n for n in nc._netns_list() if n.startswith(f"ns-{PREFIX}")]
    with failures.case("no namespace left behind"):
        check(not leftover, f"left: {leftover}")
    print(f"took {time.monotonic() - started:.1f} s")
    failures.finish()


if __name__ == "__main__":
    main()
