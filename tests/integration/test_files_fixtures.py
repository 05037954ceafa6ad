"""For every fixture nicsync can fetch: `nicsync apply` against the mock writes files equal to
the reviewed golden files (both renderers), a rerun changes nothing, `plan` shows no diff, and
the real consumer (netplan generate) turns the netplan output into exactly the fixture's
expected addresses, routes and rules, IPv4 and IPv6. network-scripts files are sourced by bash
(IPADDRn, IPV6ADDR, IPV6ADDR_SECONDARIES) and their route-/route6-/rule-/rule6- lines read the
way ifup-routes reads them. IPv6 routes whose gateway only a live apply learns (`"learned"` in
the fixture) are not in files, so these checks leave them out.

Settings variants: for the fixtures in VARIANT_FIXTURES the same checks run again with each of
VARIANTS written to /etc/nicsync/conf.d/ (`primary_rules: true`, `secondary_addressing: dhcp`),
against golden/<fixture>/<renderer>+<variant>/ (see golden/README.md) and the fixture's `expect`
adjusted the way the setting promises (expected_for())."""

import ipaddress
import re
import shlex
import subprocess
import sys

from harness import (GOLDEN, Failures, canonical, check_addresses, check_addresses6, compare_golden, file_routes6,
                     fixtures, load_fixture, mock_server, networkd_state, parse_networkd, run_nicsync, snapshot,
                     target_root)

VENDORS = sys.argv[1:] or ["aws", "oracle", "alibaba"]

# Settings variants: name -> the conf.d file that turns them on. Their golden files are in
# golden/<fixture>/<renderer>+<name>/.
VARIANTS = {
    "primary-rules": "primary_rules: true\n",
    # primary_rules follows secondary_addressing (true with dhcp) unless set: this variant is
    # the DHCP secondaries alone.
    "secondary-dhcp": "secondary_addressing: dhcp\nprimary_rules: false\n",
}
# Fixtures with policy routing in effect (two NICs or more), one or more per cloud.
VARIANT_FIXTURES = ["aws-seed-two-eni", "oracle-vm-secondary-vnic", "oracle-bm-vlan-vnic", "alibaba-seed-eni-eip"]


def source_ifcfg(path):
    """The variables a bash `source` of the file defines (what ifup sees)."""
    out = subprocess.run(["bash", "-c", 'set -a; . "$1"; env -0', "_", str(path)], capture_output=True,
                         check=True, env={}).stdout.decode()
    variables = dict(item.split("=", 1) for item in out.split("\0") if "=" in item)
    for noise in ("PWD", "SHLVL", "_"):
        variables.pop(noise, None)
    return variables


def ipv6_addresses(f, v, secondary):
    """The IPv6 addresses ifup-ipv6 configures from an ifcfg's variables: IPV6ADDR, then
    IPV6ADDR_SECONDARIES (space-separated), with IPV6INIT=yes; each must be /128. A NIC other
    than the primary must take no router advertisements (IPV6_AUTOCONF=no) and no IPv6 default
    route from its ifcfg (IPV6_DEFROUTE=no)."""
    addresses = ([v["IPV6ADDR"]] if v.get("IPV6ADDR") else []) + v.get("IPV6ADDR_SECONDARIES", "").split()
    if not addresses:
        assert "IPV6INIT" not in v, f"{f.name}: IPV6INIT without IPv6 addresses"
        return []
    assert v.get("IPV6INIT") == "yes", f"{f.name}: IPv6 addresses without IPV6INIT=yes"
    for a in addresses:
        assert a.endswith("/128"), f"{f.name}: IPv6 address {a} is not /128"
    if secondary:
        assert v.get("IPV6_AUTOCONF") == "no", f"{f.name}: a secondary NIC takes router advertisements"
        assert v.get("IPV6_DEFROUTE") == "no", f"{f.name}: IPV6_DEFROUTE is not no"
    return addresses


def route_lines(f):
    """The `ip route add` argument lines of a route-/route6- file as (line, route type, words after
    the type); a line may start with the type `local` (a delegated prefix)."""
    for line in f.read_text().splitlines():
        if line.startswith("#"):
            continue
        assert not re.match(r"^\s*ADDRESS\d*=", line), f"{f.name}: key=value line switches ifup-routes' format"
        assert "#" not in line, f"{f.name}: trailing comment in {line!r}"
        words = shlex.split(line, comments=False)
        route_type = "unicast"
        if words[0] == "local":
            route_type = words.pop(0)
        yield line, route_type, words


def read_route(f, device, line, route_type, words, v6):
    """One route line in the fixture's `expect` notation. IPv4 routes via a gateway need onlink;
    IPv6 routes carry neither onlink nor a scope."""
    dst = words[0]
    kv = {}
    i = 1
    while i < len(words):
        if words[i] in ("onlink",):
            kv[words[i]] = True
            i += 1
        else:
            kv[words[i]] = words[i + 1]
            i += 2
    assert kv.get("dev") == device, f"{f.name}: {line!r} must name dev {device}"
    table = kv.get("table", "main")
    route = {"table": "local" if table == "255" else "main" if table == "main" else int(table), "dst": dst,
             "dev": device}
    if "via" in kv:
        if not v6:
            assert kv.get("onlink"), f"{f.name}: {line!r} via a gateway without onlink"
        route["via"] = kv["via"]
    if v6:
        assert "onlink" not in kv and "scope" not in kv, f"{f.name}: {line!r}: IPv6 routes take no onlink or scope"
    if route_type == "local":
        assert route["table"] == "local", f"{f.name}: {line!r}: a local route outside table local"
        assert "scope" not in kv and "via" not in kv, f"{f.name}: {line!r}"
        route["type"] = "local"
    if kv.get("scope") == "link":
        route["scope"] = "link"
    if "metric" in kv:
        route["metric"] = int(kv["metric"])
    return route


def read_rules(f):
    """A rule-/rule6- file's `ip rule add` argument lines in the fixture's notation."""
    rules = []
    for line in f.read_text().splitlines():
        if line.startswith("#"):
            continue
        w = line.split()
        kv = dict(zip(w[0::2], w[1::2]))
        rules.append({"priority": int(kv["priority"]), "from": kv["from"], "table": int(kv["table"])})
    return rules


def network_scripts_state(root, fixture):
    """Addresses, routes and rules as network-scripts would configure them from the files: IPv4
    (static, dhcp, routes, rules) and IPv6 (static6, routes6, rules6)."""
    scripts = root / "etc/sysconfig/network-scripts"
    primary = next(l["name"] for l in load_fixture(fixture)["links"] if "dhcp" in l)
    static, dhcp, routes, rules = {}, set(), [], []
    static6, routes6, rules6 = {}, [], []
    for f in sorted(scripts.glob("ifcfg-*")):
        v = source_ifcfg(f)
        device = v["DEVICE"]
        assert f.name == f"ifcfg-{device}", f"{f.name} has DEVICE={device}"
        if ":" in device:  # alias of a DHCP parent: IPADDR + NETMASK or PREFIX, no duplicate-address check
            parent = device.split(":")[0]
            assert v["BOOTPROTO"] == "static" and v["ARPCHECK"] == "no" and v["ARPUPDATE"] == "no", f.name
            assert ("NETMASK" in v) != ("PREFIX" in v), f"{f.name}: needs NETMASK or PREFIX (one of them)"
            assert not any(k.startswith("IPV6") for k in v), f"{f.name}: ifup-aliases reads no IPv6 keys"
            static.setdefault(parent, []).append(v["IPADDR"] + "/" + v.get("NETMASK", v.get("PREFIX", "")))
            continue
        addresses6 = ipv6_addresses(f, v, device != primary)
        if addresses6:
            static6[device] = addresses6
        if v["BOOTPROTO"] == "dhcp":
            dhcp.add(device)
            if device != primary:  # a secondary NIC on DHCP: its lease gives no default route
                assert v["DEFROUTE"] == "no" and v["PEERDNS"] == "no", f"{f.name}: DEFROUTE/PEERDNS"
            continue
        assert v["BOOTPROTO"] == "none" and v["DEFROUTE"] == "no" and v["PEERDNS"] == "no", f.name
        for key in sorted(v):
            m = re.fullmatch(r"IPADDR(\d*)", key)
            if m:
                n = m.group(1)
                assert v[f"PREFIX{n}"] == "32", f"{f.name}: {key} is not /32"
                assert v[f"ARPCHECK{n}"] == "no" and v[f"ARPUPDATE{n}"] == "no", f"{f.name}: ARP checks on for {key}"
                static.setdefault(device, []).append(v[key] + "/32")
    for kind, out, v6 in (("route-", routes, False), ("route6-", routes6, True)):
        for f in sorted(scripts.glob(kind + "*")):
            device = f.name.removeprefix(kind)
            for line, route_type, words in route_lines(f):
                route = read_route(f, device, line, route_type, words, v6)
                assert (":" in route["dst"] or ":" in route.get("via", "")) == v6 or route["dst"] == "default", \
                    f"{f.name}: {line!r} is of the other address family"
                out.append(route)
    for f in sorted(scripts.glob("rule-*")):
        rules += read_rules(f)
    for f in sorted(scripts.glob("rule6-*")):
        rules6 += read_rules(f)
    return static, dhcp, routes, rules, static6, routes6, rules6


def check_route_order(root):
    """In each route file, a table's link route comes before any route via the gateway (in
    route6- files the link route is the one without `via`: IPv6 routes carry no scope)."""
    scripts = root / "etc/sysconfig/network-scripts"
    for f in [*scripts.glob("route-*"), *scripts.glob("route6-*")]:
        v6 = f.name.startswith("route6-")
        seen_link = set()
        for line in f.read_text().splitlines():
            if line.startswith("#") or line.startswith("local "):
                continue
            table = re.search(r"\btable (\d+)", line)
            table = table.group(1) if table else "main"
            if " via " not in line and (v6 or "scope link" in line):
                seen_link.add(table)
            elif " via " in line and table != "main":
                assert table in seen_link, f"{f.name}: {line!r} comes before table {table}'s link route"


def expected_for(data, variant):
    """The fixture's `expect`, changed the way the settings variant promises: with primary-rules the
    primary gets table 1000 (its index 0, card 0 in every fixture) with its subnet's link route and
    a default via its gateway (no main fallback), and a rule per address, its lease's included;
    secondary-dhcp changes no kernel object (only who configures the first address). Only the IPv4
    side of primary-rules is derived here: a fixture with IPv6 on the primary is not a variant
    fixture yet."""
    expect = {k: list(v) if isinstance(v, list) else dict(v) for k, v in data["expect"].items()}
    if variant == "primary-rules":
        lease_name = next(l["name"] for l in data["links"] if "dhcp" in l)
        assert lease_name not in data["expect"]["addresses6"], \
            "expected_for() does not derive primary-rules for a primary with IPv6"
        lease = next(l for l in data["links"] if "dhcp" in l)
        network = str(ipaddress.IPv4Interface(lease["dhcp"]).network)
        expect["routes"] = expect["routes"] + [
            {"table": 1000, "dst": network, "dev": lease["name"], "scope": "link"},
            {"table": 1000, "dst": "default", "via": lease["gateway"], "dev": lease["name"]},
        ]
        expect["rules"] = expect["rules"] + [{"priority": 1000, "from": a.split("/")[0], "table": 1000}
                                             for a in data["expect"]["addresses"][lease["name"]]]
    return expect


def secondary_dhcp_links(data):
    """The links that secondary_addressing: dhcp puts on DHCP: every one but the primary that the
    machine has (a VLAN the fixture expects but the machine lacks is nicsync's to make, and stays
    static), as name -> the address its lease gives (the first the fixture expects)."""
    present = {l["name"] for l in data["links"] if "dhcp" not in l}
    return {name: addrs[0] for name, addrs in data["expect"]["addresses"].items() if name in present}


def check_variant_addresses(fixture, variant, static, dhcp):
    """check_addresses(), with the secondary NICs that the variant leaves to DHCP holding their
    first expected address by lease."""
    data = load_fixture(fixture)
    leased = secondary_dhcp_links(data) if variant == "secondary-dhcp" else {}
    assert dhcp - {next(l["name"] for l in data["links"] if "dhcp" in l)} == set(leased), \
        f"on DHCP: {sorted(dhcp)}, expected the primary and {sorted(leased)}"
    for name, lease in leased.items():
        addrs = static.get(name, [])
        assert lease.split("/")[0] not in {a.split("/")[0] for a in addrs}, \
            f"{name}: the leased {lease} is also configured statically: {addrs}"
        static = {**static, name: addrs + [lease.split("/")[0] + "/32"]}
    check_addresses(fixture, static, dhcp - set(leased))


def lease_overrides(root, data):
    """[DHCP] settings of the .network file of each secondary link on DHCP: {link: {key: value}}."""
    by_mac = {l["mac"].lower(): l["name"] for l in data["links"]}
    out = {}
    for f in sorted((root / "run/systemd/network").glob("*.network")):
        sections = parse_networkd(f)
        match = next(s for name, s in sections if name == "Match")
        name = by_mac[match["PermanentMACAddress"][0].lower()] if "PermanentMACAddress" in match else match["Name"][0]
        network = dict(next((s for n, s in sections if n == "Network"), {}))
        if network.get("DHCP", ["no"])[0] in ("ipv4", "yes") and "dhcp" not in next(
                l for l in data["links"] if l["name"] == name):
            out[name] = {k: v[0] for n, s in sections if n in ("DHCP", "DHCPv4") for k, v in s.items()}
    return out


def check_ipv6(fixture, expect, static6, routes6, rules6):
    """The IPv6 side of a file-based case: addresses, the routes files carry (no learned ones),
    rules."""
    check_addresses6(fixture, static6)
    want = file_routes6(expect)
    assert canonical(routes6) == canonical(want), f"IPv6 routes: got {canonical(routes6)}\nexpected {canonical(want)}"
    assert canonical(rules6) == canonical(expect["rules6"]), \
        f"IPv6 rules: got {canonical(rules6)}\nexpected {canonical(expect['rules6'])}"


def check_case(t, fixture, url, renderer, variant=None):
    """Every check of one fixture, renderer and settings variant (None: the defaults)."""
    data = load_fixture(fixture)
    expect = expected_for(data, variant)
    label = f"{fixture} {renderer}" + (f" +{variant}" if variant else "")
    golden = GOLDEN / fixture / (renderer + (f"+{variant}" if variant else ""))
    with target_root(fixture, renderer, oci=url.oci) as root:
        if variant:
            (root / "etc/nicsync/conf.d").mkdir(parents=True, exist_ok=True)
            (root / "etc/nicsync/conf.d/50-variant.yaml").write_text(VARIANTS[variant])
        # No --vendor: the vendor is detected from the fixture's DMI values.
        args = ["--root", str(root), "--metadata-url", url]
        with t.case(f"{label}: apply writes the golden files"):
            run_nicsync(*args, "apply", check_exit=0)
            compare_golden(root, golden)
        with t.case(f"{label}: rerun changes nothing, plan shows no diff"):
            before = snapshot(root)
            rerun = run_nicsync(*args, "apply", check_exit=0)
            assert "no changes" in rerun.stderr, rerun.stderr
            assert snapshot(root) == before, "a rerun touched files"
            plan = run_nicsync(*args, "plan", check_exit=0)
            assert plan.stdout == "", f"plan printed a diff:\n{plan.stdout}"
        if renderer == "netplan":
            with t.case(f"{label}: netplan generate gives the expected networkd state"):
                gen = subprocess.run(["netplan", "generate", "--root-dir", str(root)],
                                     capture_output=True, text=True)
                assert gen.returncode == 0 and gen.stderr == "", f"netplan generate: {gen.stderr}"
                links, routes, rules, routes6, rules6 = networkd_state(root, fixture)
                static = {name: l["addresses"] for name, l in links.items() if l["addresses"]}
                dhcp = {name for name, l in links.items() if l["dhcp4"]}
                check_variant_addresses(fixture, variant, static, dhcp)
                for name, addrs in static.items():
                    assert all(a.endswith("/32") for a in addrs), f"{name}: {addrs} not all /32"
                primary = next(l["name"] for l in data["links"] if "dhcp" in l)
                for name, link in links.items():
                    if name != primary and link["addresses6"]:
                        assert link["accept_ra"] is False, f"{name}: a secondary NIC takes router advertisements"
                if variant == "secondary-dhcp":
                    # The lease adds no route and its prefix route ranks below the primary's.
                    tables = {r["dev"]: r["table"] for r in expect["routes"] if r["table"] != "main"}
                    overrides = {name: {k: o.get(k) for k in ("RouteMetric", "UseRoutes")}
                                 for name, o in lease_overrides(root, data).items()}
                    assert overrides == {name: {"RouteMetric": str(tables[name]), "UseRoutes": "false"}
                                         for name in secondary_dhcp_links(data)}, \
                        f"[DHCP] of the secondary NICs: {overrides}"
                assert canonical(routes) == canonical(expect["routes"]), \
                    f"routes: got {canonical(routes)}\nexpected {canonical(expect['routes'])}"
                assert canonical(rules) == canonical(expect["rules"]), \
                    f"rules: got {canonical(rules)}\nexpected {canonical(expect['rules'])}"
                check_ipv6(fixture, expect, {name: l["addresses6"] for name, l in links.items()}, routes6, rules6)
        else:
            with t.case(f"{label}: sourced files give the expected state"):
                static, dhcp, routes, rules, static6, routes6, rules6 = network_scripts_state(root, fixture)
                check_variant_addresses(fixture, variant, static, dhcp)
                primary = next(l["name"] for l in data["links"] if "dhcp" in l)
                for a in static.get(primary, []):
                    assert not a.endswith("/32"), f"alias {a} on the primary must carry the netmask"
                for name, addrs in static.items():
                    if name != primary:
                        assert all(a.endswith("/32") for a in addrs), f"{name}: {addrs} not all /32"
                assert canonical(routes) == canonical(expect["routes"]), \
                    f"routes: got {canonical(routes)}\nexpected {canonical(expect['routes'])}"
                assert canonical(rules) == canonical(expect["rules"]), \
                    f"rules: got {canonical(rules)}\nexpected {canonical(expect['rules'])}"
                check_ipv6(fixture, expect, static6, routes6, rules6)
                check_route_order(root)


def main():
    t = Failures()
    for vendor in VENDORS:
        for fixture in fixtures(vendor):
            with mock_server(fixture) as url:
                for renderer in ("netplan", "network-scripts"):
                    check_case(t, fixture, url, renderer)
                    if fixture in VARIANT_FIXTURES:
                        for variant in VARIANTS:
                            check_case(t, fixture, url, renderer, variant)
    t.finish()


if __name__ == "__main__":
    main()
