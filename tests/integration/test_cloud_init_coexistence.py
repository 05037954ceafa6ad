"""cloud-init's own netplan file next to nicsync's: for each cloud, a target root holds the
/etc/netplan/50-cloud-init.yaml cloud-init writes there (tests/fixtures/cloud-init-netplan/),
`nicsync apply --no-live` runs against the mock, and then
- nicsync's file equals the reviewed golden file (tests/golden/cloud-init/<case>/90-nicsync.yaml;
  NICSYNC_UPDATE_GOLDEN=1 rewrites it),
- `netplan generate` accepts both files,
- the primary keeps DHCP and has its secondary IPs,
- in the generated systemd-networkd files no address (the DHCP lease counted), route or rule is
  there twice, and the set of each is exactly the case's,
- nicsync says on stderr which NIC it left alone or what it did not add again,
- a rerun changes nothing.

Checks marked "[needs run.cpp wiring]" hold only once run.cpp subtracts what the other netplan
files already configure (subtract_configured) and logs its notes as `nicsync: <note>` lines;
until then they fail. The others hold either way: in those cases cloud-init configures nothing
nicsync plans."""

import collections
import pathlib
import subprocess
import sys
import tempfile

from harness import (FIXTURES, GOLDEN, UPDATE_GOLDEN, Failures, load_fixture, mock_server, parse_networkd, run_nicsync,
                     snapshot, target_root)

CLOUD_INIT = FIXTURES / "cloud-init-netplan"
GOLDEN_DIR = GOLDEN / "cloud-init"
F = "/etc/netplan/50-cloud-init.yaml"
WIRING = " [needs run.cpp wiring]"

# Per case: the metadata fixture, mock overrides, the DHCP lease of each link on DHCP, and the
# networkd state expected from cloud-init's file plus nicsync's (IPv4): addresses per link (lease
# included), routes as (link, destination, gateway, table), rules as (from, table), nicsync's notes.
CASES = [
    {
        "case": "aws-seed-single-eni-first-boot",
        "fixture": "aws-seed-single-eni",
        "leases": {"eth0": "192.168.1.100"},
        "primary": "eth0",
        "secondary_ips": ["192.168.1.101"],
        "addresses": {"eth0": {"192.168.1.100", "192.168.1.101"}},
        "routes": set(),
        "rules": set(),
        "notes": [],
    },
    {
        "case": "aws-seed-single-eni",
        "fixture": "aws-seed-single-eni",
        "leases": {"eth0": "192.168.1.100"},
        "primary": "eth0",
        "secondary_ips": ["192.168.1.101"],
        "addresses": {"eth0": {"192.168.1.100", "192.168.1.101"}},
        "routes": set(),
        "rules": set(),
        "notes": [f"eth0: fully configured by {F} (addresses); left alone"],
    },
    {
        "case": "aws-seed-two-eni",
        "fixture": "aws-seed-two-eni",
        "leases": {"eth0": "10.0.0.76", "eth1": "10.0.0.226"},
        "primary": "eth0",
        "secondary_ips": ["10.0.0.58"],
        "addresses": {"eth0": {"10.0.0.76", "10.0.0.58"}, "eth1": {"10.0.0.226"}},
        "routes": {("eth1", "default", "10.0.0.1", 101), ("eth1", "10.0.0.0/24", None, 101)},
        "rules": {("10.0.0.226", 101)},
        "notes": [f"eth0: fully configured by {F} (addresses); left alone",
                  f"eth1: fully configured by {F} (DHCP and its own policy routing, table 101 for 10.0.0.226 "
                  "where nicsync would use 1001); left alone"],
    },
    {
        "case": "aws-multi-ip-ipv6",
        "fixture": "aws-multi-ip-ipv6",
        "leases": {"eth0": "172.31.44.13", "eth1": "172.31.47.221"},
        "primary": "eth0",
        "secondary_ips": ["172.31.45.70"],
        "addresses": {"eth0": {"172.31.44.13", "172.31.45.70"}, "eth1": {"172.31.47.221"}},
        "routes": {("eth1", "default", "172.31.32.1", 101), ("eth1", "172.31.32.0/20", None, 101)},
        "rules": {("172.31.47.221", 101)},
        # IPv6 too: each NIC's first IPv6 address comes by DHCPv6 (dhcp6: true), the others are
        # in cloud-init's addresses.
        "notes": [f"eth0: fully configured by {F} (DHCP and addresses); left alone",
                  f"eth1: fully configured by {F} (DHCP, addresses and its own policy routing, table 101 for "
                  "172.31.47.221 where nicsync would use 1001); left alone"],
    },
    {
        "case": "oracle-seed-secondary-ip",
        "fixture": "oracle-seed-secondary-ip",
        "leases": {"ens3": "10.0.1.2"},
        "primary": "ens3",
        "secondary_ips": ["10.0.1.11"],
        "addresses": {"ens3": {"10.0.1.2", "10.0.1.11"}},
        "routes": set(),
        "rules": set(),
        "notes": [],
    },
    {
        "case": "oracle-vm-secondary-vnic",
        "fixture": "oracle-vm-secondary-vnic",
        "leases": {"enp0s6": "172.16.1.10"},
        "primary": "enp0s6",
        "secondary_ips": [],
        "addresses": {"enp0s6": {"172.16.1.10"}, "enp1s0": {"172.16.2.10", "172.16.2.11", "172.16.2.12"}},
        "routes": {("enp1s0", "172.16.2.0/24", None, 1001), ("enp1s0", "default", "172.16.2.1", 1001),
                   ("enp1s0", "default", "172.16.2.1", "main")},
        "rules": {("172.16.2.10", 1001), ("172.16.2.11", 1001), ("172.16.2.12", 1001)},
        "notes": [f"enp1s0: {F} already has 172.16.2.10/24; not added again"],
    },
    {
        "case": "alibaba-seed-eni-eip",
        "fixture": "alibaba-seed-eni-eip",
        # A secondary IP on the primary too, so that it has one to gain.
        "override": {"/latest/meta-data/network/interfaces/macs/00:16:3e:92:9b:33/private-ipv4s":
                     '["172.16.10.40","172.16.10.41"]'},
        "leases": {"eth0": "172.16.10.40", "eth1": "172.16.10.57"},
        "primary": "eth0",
        "secondary_ips": ["172.16.10.41"],
        "addresses": {"eth0": {"172.16.10.40", "172.16.10.41"},
                      "eth1": {"172.16.10.57", "172.16.10.77", "172.16.10.78"}},
        "routes": {("eth1", "172.16.10.0/24", None, 1001), ("eth1", "default", "172.16.10.253", 1001),
                   ("eth1", "default", "172.16.10.253", "main")},
        "rules": {("172.16.10.57", 1001), ("172.16.10.77", 1001), ("172.16.10.78", 1001)},
        "notes": [f"eth1: {F} already has 172.16.10.57 by DHCP; not added again"],
    },
]


def networkd_view(root, data):
    """Per link what the generated .network files configure (IPv4): static addresses, DHCP,
    routes as (link, destination, gateway, table), rules as (from, table)."""
    by_mac = {l["mac"].lower(): l["name"] for l in data["links"]}
    links, routes, rules = {}, [], []
    for f in sorted((root / "run/systemd/network").glob("*.network")):
        sections = parse_networkd(f)
        match = next(s for n, s in sections if n == "Match")
        name = match["Name"][0] if "Name" in match else by_mac[match["PermanentMACAddress"][0].lower()]
        assert name not in links, f"two .network files match {name}: networkd would use only the first"
        network = next((s for n, s in sections if n == "Network"), {})
        addresses = list(network.get("Address", []))
        for n, s in sections:
            if n == "Address":
                addresses += s.get("Address", [])
        links[name] = {"addresses": [a for a in addresses if ":" not in a],
                       "dhcp4": network.get("DHCP", ["no"])[0] in ("ipv4", "yes")}
        for n, s in sections:
            if n == "Route":
                dst = s.get("Destination", ["default"])[0]
                gateway = s.get("Gateway", [None])[0]
                if ":" in dst or (gateway and ":" in gateway):
                    continue
                routes.append((name, "default" if dst == "0.0.0.0/0" else dst, gateway,
                               int(s["Table"][0]) if "Table" in s else "main"))
            elif n == "RoutingPolicyRule":
                source = s.get("From", [""])[0]
                if ":" in source:
                    continue
                rules.append((source.removesuffix("/32"), int(s["Table"][0])))
    return links, routes, rules


def twice(items):
    return sorted(str(i) for i, n in collections.Counter(items).items() if n > 1)


def check_state(case, links, routes, rules):
    all_ips = {}
    for name, link in links.items():
        ips = [a.split("/")[0] for a in link["addresses"]]
        if link["dhcp4"]:
            assert name in case["leases"], f"{name} is on DHCP but the case gives it no lease"
            ips.append(case["leases"][name])
        assert not twice(ips), f"{name}: address present twice: {twice(ips)} (DHCP lease counted)"
        all_ips[name] = set(ips)
    for name in set(all_ips) | set(case["addresses"]):
        assert all_ips.get(name, set()) == case["addresses"].get(name, set()), \
            f"addresses of {name}: got {sorted(all_ips.get(name, set()))}, expected {sorted(case['addresses'].get(name, set()))}"
    assert {n for n, l in links.items() if l["dhcp4"]} == set(case["leases"]), "the links on DHCP differ"
    assert not twice(routes), f"route present twice: {twice(routes)}"
    assert set(routes) == case["routes"], f"routes: got {sorted(map(str, routes))}, expected {sorted(map(str, case['routes']))}"
    assert not twice(rules), f"rule present twice: {twice(rules)}"
    assert set(rules) == case["rules"], f"rules: got {sorted(rules)}, expected {sorted(case['rules'])}"


def compare_golden_file(written, golden):
    if UPDATE_GOLDEN:
        golden.parent.mkdir(parents=True, exist_ok=True)
        golden.write_text(written.read_text())
        return
    assert golden.exists(), f"no golden file {golden} (NICSYNC_UPDATE_GOLDEN=1 writes it, for review)"
    got, want = written.read_text(), golden.read_text()
    assert got == want, f"{written.name} differs from {golden}:\n--- golden\n{want}\n--- written\n{got}"
    assert written.stat().st_mode & 0o777 == 0o600, f"{written.name} mode {oct(written.stat().st_mode & 0o777)}"


def main():
    t = Failures()
    only = set(sys.argv[1:])
    for case in CASES:
        name = case["case"]
        if only and name not in only:
            continue
        data = load_fixture(case["fixture"])
        wiring = WIRING if case["notes"] else ""
        with tempfile.TemporaryDirectory(prefix="nicsync-ci-") as tmp:
            extra = []
            for path, body in case.get("override", {}).items():
                body_file = pathlib.Path(tmp) / f"body{len(extra)}"
                body_file.write_text(body)
                extra += ["--override", f"{path}={body_file}"]
            with mock_server(case["fixture"], *extra) as url, \
                    target_root(case["fixture"], "netplan", oci=url.oci) as root:
                cloud_init = root / "etc/netplan/50-cloud-init.yaml"
                cloud_init.write_text((CLOUD_INIT / f"{name}.yaml").read_text())
                cloud_init.chmod(0o600)
                args = ["--root", str(root), "--vendor", data["vendor"], "--metadata-url", url, "--no-live"]
                applied = None
                with t.case(f"{name}: apply succeeds and leaves cloud-init's file as it was"):
                    before = cloud_init.read_bytes()
                    applied = run_nicsync(*args, "apply", check_exit=0)
                    assert cloud_init.read_bytes() == before, "cloud-init's file was changed"
                if applied is None:
                    continue
                with t.case(f"{name}: nicsync's file equals the golden file{wiring}"):
                    compare_golden_file(root / "etc/netplan/90-nicsync.yaml", GOLDEN_DIR / name / "90-nicsync.yaml")
                with t.case(f"{name}: nicsync says what it left to cloud-init{wiring}"):
                    lines = applied.stderr.splitlines()
                    for note in case["notes"]:
                        assert f"nicsync: {note}" in lines, f"missing note {note!r} in:\n{applied.stderr}"
                    others = [l for l in lines if ("left alone" in l or "not added again" in l)
                              and l.removeprefix("nicsync: ") not in case["notes"]]
                    assert not others, f"unexpected notes: {others}"
                gen = subprocess.run(["netplan", "generate", "--root-dir", str(root)], capture_output=True, text=True)
                with t.case(f"{name}: netplan generate accepts cloud-init's file and nicsync's"):
                    assert gen.returncode == 0 and gen.stderr == "", f"netplan generate: {gen.stderr}"
                if gen.returncode != 0:
                    continue
                links, routes, rules = networkd_view(root, data)
                with t.case(f"{name}: the primary keeps DHCP and has its secondary IPs"):
                    primary = links.get(case["primary"])
                    assert primary is not None, f"no .network file for {case['primary']}"
                    assert primary["dhcp4"], f"{case['primary']} lost DHCP"
                    ips = {a.split("/")[0] for a in primary["addresses"]}
                    missing = [ip for ip in case["secondary_ips"] if ip not in ips]
                    assert not missing, f"{case['primary']} lacks {missing}: has {sorted(ips)}"
                with t.case(f"{name}: each address, route and rule exactly once, and exactly the expected ones{wiring}"):
                    check_state(case, links, routes, rules)
                with t.case(f"{name}: a rerun changes nothing"):
                    before = snapshot(root)
                    rerun = run_nicsync(*args, "apply", check_exit=0)
                    assert "no changes" in rerun.stderr, rerun.stderr
                    assert snapshot(root) == before, "a rerun touched files"
    t.finish()


if __name__ == "__main__":
    main()
