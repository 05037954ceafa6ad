"""Self-test of the network-namespace cloud (netns_cloud.py), without nicsync: for every fixture
the topology is as described, the fixture's expected state set by hand with `ip` (as nicsync will
set it) reads back through kernel_state() exactly as `expect`, every expected address answers
ping and TCP from its subnet's peer and from the remote host with no spoofed frame dropped, and
the mock metadata server answers at the vendor's endpoint from the instance. Then the
environment must catch DESIGN.md's bug: a secondary NIC's address with its subnet prefix (a
metric-0 prefix route in main) sends the primary's replies out the wrong NIC, where the
simulated anti-spoofing drops them.

IPv6 the same way, where a fixture has it: the router address and on-link route on the cloud
side, the primary's RA default (as the kernel learns it), expect's addresses6/routes6/rules6 set
by hand read back exactly, every IPv6 address (and one in each delegated prefix) answers ping -6
and TCP from its peer and, where a default route lets the replies out, the remote host. Then the
helpers themselves: a spoofed IPv6 source is dropped (and counted) where the NIC's own passes, and
the readback lists routes and rules added by hand but none of the kernel's own."""

import ipaddress
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
PORT6 = 8086
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
    and the rules; IPv6 addresses as /128, routes6 (the learned ones too: the primary has its
    RA default) and rules6 with proto 201."""
    expect = cloud.fixture["expect"]
    for link, addresses in expect["addresses"].items():
        for a in addresses:
            if link == cloud.primary and a.split("/")[0] == str(cloud.lease.ip):
                continue  # the DHCP lease is already there
            extra = [] if link == cloud.primary or secondary_prefix_route else ["noprefixroute"]
            ip(cloud.inst, "addr", "add", a, "dev", link, *extra)
    for link, addresses in expect.get("addresses6", {}).items():
        for a in addresses:
            ip(cloud.inst, "-6", "addr", "add", a, "dev", link)
    add_routes_and_rules(cloud)


def add_route(ns, r, family=4):
    """One route of the notation added with `ip` (proto 201; IPv4 gateways onlink)."""
    argv = [f"-{family}", "route", "add", "table", str(r["table"])]
    if "type" in r:
        argv.append(r["type"])
    argv.append(r["dst"])
    if "via" in r:
        argv += ["via", r["via"]]
    argv += ["dev", r["dev"]]
    if "scope" in r:
        argv += ["scope", r["scope"]]
    if "metric" in r:
        argv += ["metric", str(r["metric"])]
    if "via" in r and (family == 4 or ipaddress.IPv6Address(r["via"]) not in nc.LINK_LOCAL6):
        argv += ["onlink"]  # (IPv6: a router in the subnet, Alibaba's, is not on-link in main)
    ip(ns, *argv, "proto", PROTO)


def add_routes_and_rules(cloud, rules=True):
    expect = cloud.fixture["expect"]
    for r in expect["routes"]:
        add_route(cloud.inst, r)
    for r in nc.expected_routes6(expect):
        add_route(cloud.inst, r, 6)
    for family, key in ((4, "rules"), (6, "rules6")):
        for rule in expect.get(key, []) if rules else []:
            ip(cloud.inst, f"-{family}", "rule", "add", "from", rule["from"], "lookup", str(rule["table"]),
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

    # the lease, as networkd leaves it (and the primary's RA default), and nothing else yet
    state = cloud.kernel_state()
    want = {"addresses": {cloud.primary: [str(cloud.lease)]}, "routes": [], "rules": [],
            "addresses6": {}, "routes6": [], "rules6": []}
    check(state == want, f"fresh instance state {state}, expected {want}")
    router = cloud.ra_router(cloud.primary)
    ra = [nc.normalize_route(r, 6) for r in nc.ip_json(cloud.inst, "-6", "route", "show", "default")]
    want_ra = [] if router is None else [{"table": "main", "dst": "default", "via": router, "dev": cloud.primary}]
    check(ra == want_ra, f"main IPv6 defaults {ra}, expected {want_ra}")
    check(nc.kernel_state(cloud.inst)["routes6"] == want_ra, "the RA default does not read back without ignoring")
    main = [nc.normalize_route(r) for r in nc.ip_json(cloud.inst, "-4", "route", "show")]
    lease_routes = [cloud.lease_default_route(),
                    {"table": "main", "dst": str(cloud.lease.network), "dev": cloud.primary, "scope": "link",
                     "metric": nc.DHCP_METRIC},
                    {"table": "main", "dst": cloud.lease_gateway, "dev": cloud.primary, "scope": "link",
                     "metric": nc.DHCP_METRIC}]
    check(nc._canon(main) == nc._canon(lease_routes), f"main table {main}, expected {lease_routes}")

    # cloud: bridges, gateways, ports, forwarding, the endpoint
    cl = {l["ifname"]: l for l in nc.ip_json(cloud.cloud, "-4", "addr", "show")}
    cl6 = {l["ifname"]: l for l in nc.ip_json(cloud.cloud, "-6", "addr", "show")}
    for s in cloud.subnets:
        addrs = [f"{a['local']}/{a['prefixlen']}" for a in cl.get(s.bridge, {}).get("addr_info", [])]
        want_addrs = [] if s.network is None else [f"{s.gateway}/{s.network.prefixlen}"]
        check(addrs == want_addrs, f"{s.bridge} has {addrs}, expected {want_addrs}")
        ports = sorted(l["ifname"] for l in nc.ip_json(cloud.cloud, "link", "show", "master", s.bridge))
        want_ports = sorted([cloud.ports[n] for n in s.links] + [s.peer_port])
        check(ports == want_ports, f"{s.bridge} ports {ports}, expected {want_ports}")
        if s.network is not None:
            paddrs = [f"{a['local']}/{a['prefixlen']}"
                      for l in nc.ip_json(s.peer_ns, "-4", "addr", "show", "dev", "eth0") for a in l["addr_info"]]
            check(paddrs == [f"{s.peer_addr}/{s.network.prefixlen}"], f"peer {s.peer_ns} has {paddrs}")
            check(s.peer_addr not in {str(a) for a in nc._fixture_ipv4s(cloud.fixture)},
                  f"peer address {s.peer_addr} is used by the fixture")
            check(nc.ping(s.peer_ns, s.gateway), f"peer {s.peer_addr} cannot ping its gateway {s.gateway}")
        # IPv6: the router on the bridge (no DAD), the subnet on-link, the peer in it
        global6 = [f"{a['local']}/{a['prefixlen']}" for a in cl6.get(s.bridge, {}).get("addr_info", [])
                   if a.get("scope") == "global" or a["local"] == s.gateway6]
        if s.gateway6 is not None:
            length = 64 if ipaddress.IPv6Address(s.gateway6) in nc.LINK_LOCAL6 else s.network6.prefixlen
            check(f"{s.gateway6}/{length}" in global6, f"{s.bridge} has {global6}, expected router {s.gateway6}")
        if s.network6 is None:
            check(not global6 and s.peer_addr6 is None, f"{s.bridge} has IPv6 {global6} without an IPv6 subnet")
            continue
        onlink = [r for r in nc.ip_json(cloud.cloud, "-6", "route", "show", str(s.network6)) if r.get("dev") == s.bridge]
        check(onlink, f"no on-link route {s.network6} dev {s.bridge} in the cloud")
        paddrs = [f"{a['local']}/{a['prefixlen']}" for l in nc.ip_json(s.peer_ns, "-6", "addr", "show", "dev", "eth0")
                  for a in l["addr_info"] if a.get("scope") == "global"]
        check(paddrs == [f"{s.peer_addr6}/{s.network6.prefixlen}"], f"peer {s.peer_ns} has IPv6 {paddrs}")
        check(ipaddress.IPv6Address(s.peer_addr6) not in nc._fixture_ipv6s(cloud.fixture),
              f"peer address {s.peer_addr6} is used by the fixture")
        if s.gateway6 is not None:
            check(nc.ping(s.peer_ns, nc.REMOTE_ADDR6), f"peer {s.peer_addr6} cannot ping {nc.REMOTE_ADDR6} via its router")
    lo = [a["local"] for a in cl["lo"]["addr_info"]]
    check(cloud.endpoint_ip in lo, f"endpoint {cloud.endpoint_ip} not on the cloud's lo: {lo}")
    fwd = nc.exec_in(cloud.cloud, ["sysctl", "-n", "net.ipv4.ip_forward", "net.ipv6.conf.all.forwarding"],
                     check=True).stdout.split()
    check(fwd == ["1", "1"], f"cloud ip_forward / IPv6 forwarding are {fwd}")
    check(nc.ping(cloud.remote, nc.REMOTE_GW), "remote cannot ping the cloud")
    check(nc.ping(cloud.remote, nc.REMOTE_GW6), "remote cannot ping -6 the cloud")
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
    """Every IPv4 address of expect, and one address in each delegated IPv4 prefix, answers ping
    and TCP from its subnet's peer and the remote host, with no IPv4 frame dropped as spoofed."""
    expect = cloud.fixture["expect"]
    listener = cloud.listen(PORT)
    before = cloud.drops()
    bad = []
    addresses = {k: list(v) for k, v in expect["addresses"].items()}
    for link, hosts in cloud.prefix_hosts(4).items():
        addresses.setdefault(link, []).extend(hosts)
    for link, addresses in addresses.items():
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


def check_reachability6(cloud, expect=None, learned=True):
    """Every IPv6 address of `expect` (default: the fixture's) and one in each delegated IPv6
    prefix answers ping -6 and TCP from its peer, and from the remote host where its NIC has a
    default route (Cloud.remote_links6), with no IPv6 frame dropped as spoofed."""
    expect = expect or cloud.fixture["expect"]
    addresses = {k: list(v) for k, v in expect.get("addresses6", {}).items()}
    for link, hosts in cloud.prefix_hosts(6).items():
        addresses.setdefault(link, []).extend(hosts)
    listener = cloud.listen(PORT6, bind="::")
    try:
        bad = cloud.unreachable6(addresses, remote=cloud.remote_links6(expect, learned), port=PORT6)
    finally:
        listener.stop()
    check(not bad, "; ".join(bad) + f"\nkernel state: {json.dumps(cloud.kernel_state())}\ndrops: {cloud.drops()}")


def ipv6_fixture():
    """A fixture with IPv6 on a secondary NIC that has a table of its own (for the IPv6 checks
    of the helpers)."""
    for name in fixtures():
        expect = load_fixture(name)["expect"]
        if any(r["table"] not in ("main", "local") for r in expect.get("routes6", [])):
            return name
    raise AssertionError("no fixture has IPv6 on a secondary NIC with a table (routes6)")


def check_ipv6_spoofing_is_caught():
    """An IPv6 packet from a secondary NIC whose source is not one of the NIC's addresses is
    dropped at the bridge and counted; the same packet from the NIC's own address passes."""
    name = ipv6_fixture()
    with nc.Cloud(name, PREFIX) as cloud:
        expect = cloud.fixture["expect"]
        link = next(r["dev"] for r in expect["routes6"] if r["table"] not in ("main", "local"))
        own = expect["addresses6"][link][0].split("/")[0]
        s = cloud.subnet_of[link]
        taken = {ipaddress.IPv6Address(a.split("/")[0]) for v in expect["addresses6"].values() for a in v}
        foreign = next(str(s.network6.network_address + i) for i in range(0x99, 0x999)
                       if s.network6.network_address + i not in taken and str(s.network6.network_address + i) != s.peer_addr6)
        for a in (own, foreign):
            ip(cloud.inst, "-6", "addr", "add", f"{a}/128", "dev", link, "nodad")
        ip(cloud.inst, "-6", "route", "add", f"{s.peer_addr6}/128", "dev", link)  # out of `link`, on-link
        before = cloud.drops()[link]
        spoofed = nc.ping(cloud.inst, s.peer_addr6, src=foreign, timeout=1.5)
        middle = cloud.drops()[link]
        check(not spoofed, f"{s.peer_addr6} answered a ping -6 from {foreign} (not {link}'s) out of {link}")
        check(middle["ipv6"] > before["ipv6"], f"no IPv6 frame of {link} dropped: {before} -> {middle}")
        # the kernel goes on soliciting the peer from the foreign address for a while: stop it
        ip(cloud.inst, "-6", "addr", "del", f"{foreign}/128", "dev", link)
        ip(cloud.inst, "-6", "neigh", "flush", "dev", link)
        middle = cloud.drops()[link]
        check(nc.ping(cloud.inst, s.peer_addr6, src=own), f"{s.peer_addr6} does not answer {own} ({link}'s own)")
        after = cloud.drops()[link]
        check(after["ipv6"] == middle["ipv6"], f"{link}'s own address was dropped: {middle} -> {after}")
        return name, before, middle


def check_readback():
    """kernel_state() lists what was added by hand in the notation and none of what the kernel
    makes itself (link-local, multicast, an address's local and prefix routes), metric 1024 as
    none; state_differences() compares IPv6 and leaves learned routes out on request."""
    with nc.Cloud("aws-seed-single-eni", PREFIX) as cloud:
        ns, dev = cloud.inst, cloud.primary
        base = nc.kernel_state(ns)
        ip(ns, "-6", "addr", "add", "2001:db8:5::7/64", "dev", dev, "nodad")  # kernel: prefix + local routes
        ip(ns, "-6", "addr", "add", "2001:db8:5::8/128", "dev", dev, "nodad")
        ip(ns, "-6", "route", "add", "table", "1234", "2001:db8:5::/64", "dev", dev, "proto", PROTO)
        ip(ns, "-6", "route", "add", "table", "1234", "default", "via", "fe80::1", "dev", dev, "proto", PROTO)
        ip(ns, "-6", "route", "add", "default", "via", "fe80::1", "dev", dev, "metric", "1001", "proto", PROTO)
        ip(ns, "-6", "route", "add", "table", "local", "local", "2001:db8:5:1::/80", "dev", dev, "proto", PROTO)
        ip(ns, "-6", "route", "add", "2001:db8:6::/64", "dev", dev)  # main, not a default: not listed
        ip(ns, "-6", "rule", "add", "from", "2001:db8:5::8", "lookup", "1234", "priority", "1234", "proto", PROTO)
        ip(ns, "-6", "rule", "add", "from", "2001:db8:5:1::/80", "lookup", "1234", "priority", "1234", "proto", PROTO)
        ip(ns, "-4", "route", "add", "table", "local", "local", "10.99.0.16/28", "dev", dev, "proto", PROTO)
        ip(ns, "-4", "rule", "add", "from", "10.99.0.16/28", "lookup", "1234", "priority", "1234", "proto", PROTO)
        got = nc.kernel_state(ns)
        want6 = {"addresses6": {dev: ["2001:db8:5::7/64", "2001:db8:5::8/128"]},
                 "routes6": [{"table": 1234, "dst": "2001:db8:5::/64", "dev": dev},
                             {"table": 1234, "dst": "default", "via": "fe80::1", "dev": dev},
                             {"table": "main", "dst": "default", "via": "fe80::1", "dev": dev, "metric": 1001},
                             {"table": "local", "dst": "2001:db8:5:1::/80", "dev": dev, "type": "local"}],
                 "rules6": [{"priority": 1234, "from": "2001:db8:5::8", "table": 1234},
                            {"priority": 1234, "from": "2001:db8:5:1::/80", "table": 1234}]}
        check({k: sorted(v) for k, v in got["addresses6"].items()} == want6["addresses6"],
              f"addresses6: read {got['addresses6']}, expected {want6['addresses6']}")
        for key in ("routes6", "rules6"):
            check(nc._canon(got[key]) == nc._canon(want6[key]), f"{key}: read {got[key]}, expected {want6[key]}")
        want4_routes = base["routes"] + [{"table": "local", "dst": "10.99.0.16/28", "dev": dev, "type": "local"}]
        check(nc._canon(got["routes"]) == nc._canon(want4_routes), f"routes: read {got['routes']}, expected {want4_routes}")
        want4_rules = base["rules"] + [{"priority": 1234, "from": "10.99.0.16/28", "table": 1234}]
        check(nc._canon(got["rules"]) == nc._canon(want4_rules), f"rules: read {got['rules']}, expected {want4_rules}")
        # the kernel's own local route of an address is there, and not listed
        local = [r for r in nc.ip_json(ns, "-6", "route", "show", "table", "local") if r["dst"] == "2001:db8:5::8"]
        check(local and local[0].get("protocol") == "kernel", f"no kernel local route of 2001:db8:5::8: {local}")
        # state_differences: exact with learned routes; learned=False leaves them out of expect
        expect = {**nc.ipv4_only(got), **want6,
                  "routes6": [r if r["table"] == "local" else {**r, "learned": "ra"} if "via" in r else r
                              for r in want6["routes6"]]}
        check(nc.state_differences(got, expect) == [], f"differences {nc.state_differences(got, expect)}")
        diffs = nc.state_differences(got, expect, learned=False)
        check(len(diffs) == 1 and diffs[0].startswith("routes6: missing []") and "fe80::1" in diffs[0],
              f"learned=False: {diffs}")
        missing = {**expect, "addresses6": {dev: ["2001:db8:5::8/128", "2001:db8:5::9/128"]}}
        diffs = nc.state_differences(got, missing)
        check(diffs == [f"addresses6 of {dev}: missing ['2001:db8:5::9/128'], unexpected ['2001:db8:5::7/64']"],
              f"addresses6 differences {diffs}")


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
            if data["expect"].get("addresses6"):
                with failures.case(f"{name}: every expected IPv6 address answers peer and remote (ping -6, TCP)"):
                    check_reachability6(cloud)
    with failures.case("aws-seed-two-eni: a secondary NIC's prefix route is caught by the anti-spoofing"):
        before, after = check_bug_is_caught()
        print(f"     eth1 drops {before} -> {after}")
    with failures.case("a spoofed IPv6 source is dropped, the NIC's own passes"):
        name, before, after = check_ipv6_spoofing_is_caught()
        print(f"     {name}: drops {before} -> {after}")
    with failures.case("kernel_state() reads back added routes/rules (IPv6, IPv4 local prefixes), not the kernel's"):
        check_readback()
    with failures.case("cleanup on exception, SIGTERM; cleanup_stale after SIGKILL"):
        check_cleanup_and_stale()
    leftover = [n for n in nc._netns_list() if n.startswith(f"ns-{PREFIX}")]
    with failures.case("no namespace left behind"):
        check(not leftover, f"left: {leftover}")
    print(f"took {time.monotonic() - started:.1f} s")
    failures.finish()


if __name__ == "__main__":
    main()
