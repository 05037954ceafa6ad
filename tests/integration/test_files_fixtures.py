"""For every fixture nicsync can fetch: `nicsync apply` against the mock writes files equal to
the reviewed golden files (both renderers), a rerun changes nothing, `plan` shows no diff, and
the real consumer (netplan generate) turns the netplan output into exactly the fixture's
expected addresses, routes and rules. network-scripts files are sourced by bash and their
route/rule lines read the way ifup-routes reads them."""

import re
import shlex
import subprocess
import sys

from harness import (GOLDEN, Failures, canonical, check_addresses, compare_golden, fixtures, load_fixture,
                     mock_server, networkd_state, run_nicsync, snapshot, target_root)

VENDORS = sys.argv[1:] or ["aws", "oracle", "alibaba"]


def source_ifcfg(path):
    """The variables a bash `source` of the file defines (what ifup sees)."""
    out = subprocess.run(["bash", "-c", 'set -a; . "$1"; env -0', "_", str(path)], capture_output=True,
                         check=True, env={}).stdout.decode()
    variables = dict(item.split("=", 1) for item in out.split("\0") if "=" in item)
    for noise in ("PWD", "SHLVL", "_"):
        variables.pop(noise, None)
    return variables


def network_scripts_state(root, fixture):
    """Addresses, routes and rules as network-scripts would configure them from the files."""
    scripts = root / "etc/sysconfig/network-scripts"
    static, dhcp, routes, rules = {}, set(), [], []
    for f in sorted(scripts.glob("ifcfg-*")):
        v = source_ifcfg(f)
        device = v["DEVICE"]
        assert f.name == f"ifcfg-{device}", f"{f.name} has DEVICE={device}"
        if ":" in device:  # alias of a DHCP parent: IPADDR + NETMASK, no duplicate-address check
            parent = device.split(":")[0]
            assert v["BOOTPROTO"] == "static" and v["ARPCHECK"] == "no" and v["ARPUPDATE"] == "no", f.name
            static.setdefault(parent, []).append(v["IPADDR"] + "/" + v["NETMASK"])
            continue
        if v["BOOTPROTO"] == "dhcp":
            dhcp.add(device)
            continue
        assert v["BOOTPROTO"] == "none" and v["DEFROUTE"] == "no" and v["PEERDNS"] == "no", f.name
        for key in sorted(v):
            m = re.fullmatch(r"IPADDR(\d*)", key)
            if m:
                n = m.group(1)
                assert v[f"PREFIX{n}"] == "32", f"{f.name}: {key} is not /32"
                assert v[f"ARPCHECK{n}"] == "no" and v[f"ARPUPDATE{n}"] == "no", f"{f.name}: ARP checks on for {key}"
                static.setdefault(device, []).append(v[key] + "/32")
    for f in sorted(scripts.glob("route-*")):
        device = f.name.removeprefix("route-")
        for line in f.read_text().splitlines():
            if line.startswith("#"):
                continue
            assert not re.match(r"^\s*ADDRESS\d*=", line), f"{f.name}: key=value line switches ifup-routes' format"
            words = shlex.split(line, comments=False)
            assert "#" not in line, f"{f.name}: trailing comment in {line!r}"
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
            route = {"table": int(kv["table"]) if "table" in kv else "main", "dst": dst, "dev": device}
            if "via" in kv:
                assert kv.get("onlink"), f"{f.name}: {line!r} via a gateway without onlink"
                route["via"] = kv["via"]
            if kv.get("scope") == "link":
                route["scope"] = "link"
            if "metric" in kv:
                route["metric"] = int(kv["metric"])
            routes.append(route)
    for f in sorted(scripts.glob("rule-*")):
        for line in f.read_text().splitlines():
            if line.startswith("#"):
                continue
            w = line.split()
            kv = dict(zip(w[0::2], w[1::2]))
            rules.append({"priority": int(kv["priority"]), "from": kv["from"], "table": int(kv["table"])})
    return static, dhcp, routes, rules


def check_route_order(root):
    """In each route file, a table's link route comes before any route via the gateway."""
    for f in (root / "etc/sysconfig/network-scripts").glob("route-*"):
        seen_link = set()
        for line in f.read_text().splitlines():
            if line.startswith("#"):
                continue
            table = re.search(r"\btable (\d+)", line)
            table = table.group(1) if table else "main"
            if "scope link" in line:
                seen_link.add(table)
            elif " via " in line and table != "main":
                assert table in seen_link, f"{f.name}: {line!r} comes before table {table}'s link route"


def main():
    t = Failures()
    for vendor in VENDORS:
        for fixture in fixtures(vendor):
            data = load_fixture(fixture)
            expect = data["expect"]
            with mock_server(fixture) as url:
                for renderer in ("netplan", "network-scripts"):
                    with target_root(fixture, renderer) as root:
                        # No --vendor: the vendor is detected from the fixture's DMI values.
                        args = ["--root", str(root), "--metadata-url", url]
                        with t.case(f"{fixture} {renderer}: apply writes the golden files"):
                            run_nicsync(*args, "apply", check_exit=0)
                            compare_golden(root, GOLDEN / fixture / renderer)
                        with t.case(f"{fixture} {renderer}: rerun changes nothing, plan shows no diff"):
                            before = snapshot(root)
                            rerun = run_nicsync(*args, "apply", check_exit=0)
                            assert "no changes" in rerun.stderr, rerun.stderr
                            assert snapshot(root) == before, "a rerun touched files"
                            plan = run_nicsync(*args, "plan", check_exit=0)
                            assert plan.stdout == "", f"plan printed a diff:\n{plan.stdout}"
                        if renderer == "netplan":
                            with t.case(f"{fixture} netplan: netplan generate gives the expected networkd state"):
                                gen = subprocess.run(["netplan", "generate", "--root-dir", str(root)],
                                                     capture_output=True, text=True)
                                assert gen.returncode == 0 and gen.stderr == "", f"netplan generate: {gen.stderr}"
                                links, routes, rules = networkd_state(root, fixture)
                                static = {name: l["addresses"] for name, l in links.items() if l["addresses"]}
                                dhcp = {name for name, l in links.items() if l["dhcp4"]}
                                check_addresses(fixture, static, dhcp)
                                for name, addrs in static.items():
                                    assert all(a.endswith("/32") for a in addrs), f"{name}: {addrs} not all /32"
                                assert canonical(routes) == canonical(expect["routes"]), \
                                    f"routes: got {canonical(routes)}\nexpected {canonical(expect['routes'])}"
                                assert canonical(rules) == canonical(expect["rules"]), \
                                    f"rules: got {canonical(rules)}\nexpected {canonical(expect['rules'])}"
                        else:
                            with t.case(f"{fixture} network-scripts: sourced files give the expected state"):
                                static, dhcp, routes, rules = network_scripts_state(root, fixture)
                                check_addresses(fixture, static, dhcp)
                                primary = next(l["name"] for l in data["links"] if "dhcp" in l)
                                for a in static.get(primary, []):
                                    assert not a.endswith("/32"), f"alias {a} on the primary must carry the netmask"
                                assert canonical(routes) == canonical(expect["routes"]), \
                                    f"routes: got {canonical(routes)}\nexpected {canonical(expect['routes'])}"
                                assert canonical(rules) == canonical(expect["rules"]), \
                                    f"rules: got {canonical(rules)}\nexpected {canonical(expect['rules'])}"
                                check_route_order(root)
    t.finish()


if __name__ == "__main__":
    main()
