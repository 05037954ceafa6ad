"""Live apply, proven in network namespaces. For each fixture: the simulated instance (veth NICs
with the fixture's MACs, the primary's DHCP lease) inside a simulated cloud (a bridge per
subnet with the gateway, a peer host, a remote host behind the gateway, anti-spoofing that
drops frames whose source address does not belong to the NIC), the mock metadata server on the
vendor's real address. `nicsync apply --live` runs inside the instance; the kernel read back
with `ip -j` must equal the fixture's `expect` exactly, and every expected address must answer
ping and TCP from its subnet's peer and from the remote host. IPv6 likewise: the router
advertisement's default is installed on the primary first (as the kernel would from an RA), so
that AWS NICs learn their router from it; every IPv6 address (and one in each delegated prefix)
must answer ping -6 and TCP, nothing dropped as spoofed. Then: a rerun changes nothing (and,
unlike the apply, does not load libnl);
a secondary IP removed from the metadata takes exactly its address and rule away; a NIC
excluded after an apply loses exactly nicsync's objects; addresses that cloud-init's netplan file
configures later stay; a state that cannot be written before a live apply stops it with
nothing changed; foreign objects added by hand stay; a refused kernel change undoes that NIC and names the object."""

import copy
import json
import os
import tempfile

import netns_cloud as nc
import pathlib

from harness import Failures, fixtures, load_fixture, needs_vlan_devices
from test_netns_environment import check_reachability, check_reachability6

NICSYNC = os.environ.get("NICSYNC", "nicsync")
VENDORS = ["aws", "oracle", "alibaba"]
PREFIX = "livetest"

# Objects someone else put there; nicsync must never touch them.
FOREIGN_ADDRESS = "192.0.2.50/32"
FOREIGN_ROUTE = {"table": 500, "dst": "192.0.2.0/24", "scope": "link"}
FOREIGN_RULE = {"priority": 500, "from": "192.0.2.1", "table": 500}


def check(cond, message):
    if not cond:
        raise AssertionError(message)


def nicsync(cloud, root, *args, expect_exit=0, env=()):
    vendor = cloud.fixture["vendor"]
    argv = [NICSYNC, "--root", root, "--vendor", vendor, *args]
    proc = nc.exec_in(cloud.inst, ["env", *env, *argv] if env else argv, timeout=60)
    check(proc.returncode == expect_exit,
          f"nicsync {' '.join(args)} exited {proc.returncode}, wanted {expect_exit}\n{proc.stdout}{proc.stderr}")
    return proc


def loads_libnl(cloud, root, *args):
    """Runs nicsync with the dynamic loader logging the libraries it loads (LD_DEBUG=libs, into
    files): its process, and whether libnl-route-3 was one of them (it is loaded with dlopen()
    for the first kernel change only)."""
    with tempfile.TemporaryDirectory(prefix="nicsync-ld-") as log_dir:
        proc = nicsync(cloud, root, *args, env=["LD_DEBUG=libs", f"LD_DEBUG_OUTPUT={log_dir}/ld"])
        logs = [p.read_text() for p in pathlib.Path(log_dir).glob("ld.*")]
        check(logs and all("calling init:" in log for log in logs), f"no loader log in {log_dir}")
        return proc, any("libnl-route-3.so" in log for log in logs)


def add_foreign(cloud):
    nc.ip(cloud.inst, "addr", "add", FOREIGN_ADDRESS, "dev", cloud.primary)
    nc.ip(cloud.inst, "route", "add", "table", "500", "192.0.2.0/24", "dev", cloud.primary, "scope", "link")
    nc.ip(cloud.inst, "rule", "add", "from", "192.0.2.1", "lookup", "500", "priority", "500")


def without_foreign(state, primary):
    state = copy.deepcopy(state)
    addrs = state["addresses"].get(primary, [])
    check(FOREIGN_ADDRESS in addrs, f"foreign address {FOREIGN_ADDRESS} is gone from {primary}: {addrs}")
    addrs.remove(FOREIGN_ADDRESS)
    route = dict(FOREIGN_ROUTE, dev=primary)
    check(route in state["routes"], f"foreign route {route} is gone: {state['routes']}")
    state["routes"].remove(route)
    check(FOREIGN_RULE in state["rules"], f"foreign rule {FOREIGN_RULE} is gone: {state['rules']}")
    state["rules"].remove(FOREIGN_RULE)
    return state


def drop_one_address(data):
    """Metadata overrides that remove one secondary IP, with the link and the address removed;
    None when the fixture's vendor keeps secondary IPs outside the metadata service."""
    responses = data["imds"]["responses"]
    by_mac = {l["mac"].lower(): l["name"] for l in data["links"]}
    if data["vendor"] == "aws":
        for path, body in sorted(responses.items()):
            if path.endswith("/local-ipv4s") and len(body.split()) >= 2:
                mac = path.split("/")[-2]
                lines = body.split()
                return {path: "\n".join(lines[:-1])}, by_mac[mac], lines[-1]
    if data["vendor"] == "alibaba":
        for path, body in sorted(responses.items()):
            if path.endswith("/private-ipv4s") and len(json.loads(body)) >= 2:
                mac = path.split("/")[-2]
                values = json.loads(body)
                primary = responses[path.replace("private-ipv4s", "primary-ip-address")]
                removed = next(v for v in reversed(values) if v != primary)
                return {path: json.dumps([v for v in values if v != removed])}, by_mac[mac], removed
    return None


def minus_address(expect, link, address):
    out = copy.deepcopy(expect)
    out["addresses"][link] = [a for a in out["addresses"][link] if a.split("/")[0] != address]
    out["rules"] = [r for r in out["rules"] if r["from"] != address]
    return out


def differences(cloud, expect):
    """Differences to `expect`, addresses compared by IP (fixtures/README: an address other than
    the lease may carry its subnet prefix or /32), plus the prefix rules nicsync follows: under
    netplan the primary's secondary IPs are /32, other NICs' addresses carry noprefixroute."""
    got = without_foreign(cloud.kernel_state(), cloud.primary)
    diffs = nc.state_differences(got, expect, by_ip=True)
    for link in nc.ip_json(cloud.inst, "-4", "addr", "show"):
        for a in link.get("addr_info", []):
            where = f"{a['local']}/{a['prefixlen']} on {link['ifname']}"
            if link["ifname"] == cloud.primary and a["local"] != str(cloud.lease.ip) and a["local"] != "192.0.2.50":
                if a["prefixlen"] != 32:
                    diffs.append(f"{where}: the primary's secondary IPs go in as /32 under netplan")
            elif link["ifname"] != cloud.primary and link["ifname"] != "lo" and not a.get("noprefixroute"):
                diffs.append(f"{where}: a secondary NIC's address without noprefixroute")
    return diffs


def ipv6_differences(cloud):
    """nicsync's IPv6 addresses must be usable at once: none left tentative (they go in nodad) and
    none with a prefix route of its own (noprefixroute)."""
    diffs = []
    for link in nc.ip_json(cloud.inst, "-6", "addr", "show"):
        for a in link.get("addr_info", []):
            if a.get("family") != "inet6" or a.get("scope") != "global":
                continue
            where = f"{a['local']}/{a['prefixlen']} on {link['ifname']}"
            if a.get("tentative"):
                diffs.append(f"{where}: tentative (added without nodad)")
            if not a.get("noprefixroute"):
                diffs.append(f"{where}: without noprefixroute")
    return diffs


def learned_lines(expect):
    """The log lines of the routers a live apply learns (routes6 marked "learned")."""
    return sorted({f"{r['dev']}: IPv6 router {r['via']} learned from the default route on "
                   for r in expect["routes6"] if r.get("learned")})


def run_fixture(t, fixture):
    data = load_fixture(fixture)
    expect = data["expect"]
    if needs_vlan_devices(data):
        return
    with nc.Cloud(fixture, PREFIX) as cloud, tempfile.TemporaryDirectory(prefix="nicsync-live-root-") as root:
        os.makedirs(os.path.join(root, "etc/netplan"))
        cloud.write_oci_api_settings(root)
        cloud.start_metadata()
        cloud.add_ra_defaults()
        add_foreign(cloud)

        with t.case(f"{fixture}: plan lists the kernel changes and changes nothing"):
            before = cloud.kernel_state()
            plan = nicsync(cloud, root, "--live", "plan")
            check("kernel: add " in plan.stdout, f"plan shows no kernel change:\n{plan.stdout}")
            for rule in expect["rules"] + expect["rules6"]:
                line = f"kernel: add rule from {rule['from']} lookup {rule['table']} priority {rule['priority']}"
                check(line in plan.stdout.splitlines(), f"{line!r} not in plan:\n{plan.stdout}")
            check(cloud.kernel_state() == before, "plan changed the kernel")
            check(not os.path.exists(os.path.join(root, "etc/netplan/90-nicsync.yaml")), "plan wrote a file")

        with t.case(f"{fixture}: apply --live gives exactly the expected kernel state, IPv6 included"):
            out, libnl = loads_libnl(cloud, root, "--live", "apply")
            check(libnl, "the kernel was changed without loading libnl-route-3")
            diffs = differences(cloud, expect) + ipv6_differences(cloud)
            for line in learned_lines(expect):
                if f"nicsync: {line}" not in out.stderr:
                    diffs.append(f"no {line!r}... logged")
            check(not diffs, "; ".join(diffs) + f"\n{out.stderr}")

        with t.case(f"{fixture}: every address answers its peer and the remote host, nothing spoofed"):
            check_reachability(cloud)

        with t.case(f"{fixture}: every IPv6 address answers ping -6 and TCP, nothing spoofed"):
            check_reachability6(cloud)

        with t.case(f"{fixture}: a rerun changes nothing, and does not load libnl"):
            before = cloud.kernel_state()
            rerun, libnl = loads_libnl(cloud, root, "--live", "apply")
            check("no changes" in rerun.stderr, f"rerun did something:\n{rerun.stderr}")
            check(not libnl, "a rerun that changed nothing loaded libnl-route-3")
            check(cloud.kernel_state() == before, "rerun changed the kernel")
            plan = nicsync(cloud, root, "--live", "plan")
            check(plan.stdout == "", f"plan after apply:\n{plan.stdout}")

        dropped = drop_one_address(data)
        if dropped:
            overrides, link, address = dropped
            with t.case(f"{fixture}: {address} removed from the metadata is removed, with its rule only"):
                cloud.start_metadata(overrides=overrides)
                out = nicsync(cloud, root, "--live", "apply")
                diffs = differences(cloud, minus_address(expect, link, address))
                check(not diffs, "; ".join(diffs) + f"\n{out.stderr}")
                check(f"remove address {address}/" in out.stderr, f"removal not logged:\n{out.stderr}")
            with t.case(f"{fixture}: {address} back in the metadata comes back"):
                cloud.start_metadata()
                nicsync(cloud, root, "--live", "apply")
                diffs = differences(cloud, expect)
                check(not diffs, "; ".join(diffs))


def check_rollback(t):
    """aws-seed-two-eni with a foreign main default at metric 1001 on eth0: eth1's fallback
    default (same table, destination and metric) is refused with File exists. The error names
    the object and the kernel's reason, eth1's earlier changes are undone, eth0's secondary IP
    stays, and once the conflict is gone a rerun completes."""
    fixture = "aws-seed-two-eni"
    with nc.Cloud(fixture, PREFIX) as cloud, tempfile.TemporaryDirectory(prefix="nicsync-live-root-") as root:
        os.makedirs(os.path.join(root, "etc/netplan"))
        cloud.start_metadata()
        nc.ip(cloud.inst, "route", "add", "default", "via", "10.0.0.1", "dev", "eth0", "metric", "1001")
        with t.case(f"{fixture}: a refused route undoes eth1 and names the object"):
            out = nicsync(cloud, root, "--live", "apply", expect_exit=1)
            errors = [l for l in out.stderr.splitlines() if l.startswith("nicsync: error:")]
            check(len(errors) == 1, f"want one error line:\n{out.stderr}")
            check("add route default via 10.0.0.1 dev eth1 metric 1001 onlink: File exists" in errors[0], errors[0])
            check("earlier changes of eth1 undone" in errors[0], errors[0])
            state = cloud.kernel_state()
            check(state["addresses"].get("eth1") is None, f"eth1 kept addresses: {state['addresses']}")
            check(state["rules"] == [], f"rules left: {state['rules']}")
            check(all(r["table"] != 1001 for r in state["routes"]), f"table 1001 left: {state['routes']}")
            check(sorted(state["addresses"]["eth0"]) == ["10.0.0.58/32", "10.0.0.76/24"],
                  f"eth0: {state['addresses']['eth0']}")
        with t.case(f"{fixture}: with the conflict gone, a rerun completes"):
            nc.ip(cloud.inst, "route", "del", "default", "via", "10.0.0.1", "dev", "eth0", "metric", "1001")
            nicsync(cloud, root, "--live", "apply")
            diffs = nc.state_differences(cloud.kernel_state(), cloud.fixture["expect"], by_ip=True)
            check(not diffs, "; ".join(diffs))


def check_secondary_nic_ip_cycle(t):
    """aws-seed-two-eni: 10.0.0.227 assigned to eth1 in the console appears with its rule on a
    rerun; unassigned again, exactly that address and that rule go."""
    fixture = "aws-seed-two-eni"
    path = "/latest/meta-data/network/interfaces/macs/02:86:10:65:fd:31/local-ipv4s"
    with nc.Cloud(fixture, PREFIX) as cloud, tempfile.TemporaryDirectory(prefix="nicsync-live-root-") as root:
        os.makedirs(os.path.join(root, "etc/netplan"))
        cloud.start_metadata()
        add_foreign(cloud)
        nicsync(cloud, root, "--live", "apply")
        expect = cloud.fixture["expect"]
        grown = copy.deepcopy(expect)
        grown["addresses"]["eth1"].append("10.0.0.227/24")
        grown["rules"].append({"priority": 1001, "from": "10.0.0.227", "table": 1001})
        with t.case(f"{fixture}: 10.0.0.227 added to eth1 appears with its rule"):
            cloud.start_metadata(overrides={path: "10.0.0.226\n10.0.0.227"})
            nicsync(cloud, root, "--live", "apply")
            diffs = differences(cloud, grown)
            check(not diffs, "; ".join(diffs))
        with t.case(f"{fixture}: 10.0.0.227 removed from eth1 takes exactly its address and rule"):
            cloud.start_metadata()
            out = nicsync(cloud, root, "--live", "apply")
            diffs = differences(cloud, expect)
            check(not diffs, "; ".join(diffs))
            removed = sorted(l for l in out.stderr.splitlines() if " remove " in l)
            check(removed == ["nicsync: remove address 10.0.0.227/24 dev eth1 noprefixroute",
                              "nicsync: remove rule from 10.0.0.227 lookup 1001 priority 1001"],
                  f"removals: {removed}")


def check_excluded_nic(t):
    """aws-seed-two-eni applied, then eth1 excluded in nicsync.yaml: the rerun removes what
    nicsync put on eth1 (its rule, table 1001's routes, main's metric-1001 fallback and its
    address, the NIC's last IPv4 address, whose removal makes the kernel flush the routes through
    eth1) and exits 0; eth0 stays as it was."""
    fixture = "aws-seed-two-eni"
    with nc.Cloud(fixture, PREFIX) as cloud, tempfile.TemporaryDirectory(prefix="nicsync-live-root-") as root:
        os.makedirs(os.path.join(root, "etc/netplan"))
        cloud.start_metadata()
        nicsync(cloud, root, "--live", "apply")
        before = cloud.kernel_state()
        with t.case(f"{fixture}: eth1 excluded after an apply: its objects go, eth0 stays, exit 0"):
            check(before["addresses"].get("eth1") == ["10.0.0.226/24"], f"eth1 before: {before['addresses']}")
            os.makedirs(os.path.join(root, "etc/nicsync"))
            pathlib.Path(root, "etc/nicsync/nicsync.yaml").write_text("interfaces:\n  exclude: [eth1]\n")
            out = nicsync(cloud, root, "--live", "apply")
            check("nicsync: error" not in out.stderr, out.stderr)
            after = cloud.kernel_state()
            check("eth1" not in after["addresses"], f"eth1 kept addresses: {after['addresses']}")
            check(after["rules"] == [], f"rules left: {after['rules']}")
            check(all(r.get("dev") != "eth1" for r in after["routes"]), f"routes via eth1 left: {after['routes']}")
            check(after["addresses"]["eth0"] == before["addresses"]["eth0"],
                  f"eth0 changed: {before['addresses']['eth0']} -> {after['addresses']['eth0']}")
            eth0_routes = [r for r in before["routes"] if r.get("dev") == "eth0"]
            check(after["routes"] == eth0_routes, f"routes {after['routes']}, wanted eth0's {eth0_routes}")
            state = json.loads(pathlib.Path(root, "var/lib/nicsync/state.json").read_text())
            check(all(a.get("dev") != "eth1" for a in state["addresses"]), f"state still owns eth1's: {state}")
        with t.case(f"{fixture}: eth1 excluded: a rerun changes nothing"):
            out = nicsync(cloud, root, "--live", "apply")
            check(out.stderr.rstrip().endswith("no changes"), out.stderr)
            check(cloud.kernel_state() == after, f"{after} -> {cloud.kernel_state()}")


def check_cloud_init_file_appears(t):
    """aws-seed-two-eni applied; then cloud-init's netplan file for it appears (10.0.0.58/24 on
    eth0, eth1 on DHCP): the addresses nicsync added are that file's now, so the rerun leaves them
    in the kernel and its state no longer lists them."""
    fixture = "aws-seed-two-eni"
    with nc.Cloud(fixture, PREFIX) as cloud, tempfile.TemporaryDirectory(prefix="nicsync-live-root-") as root:
        os.makedirs(os.path.join(root, "etc/netplan"))
        cloud.start_metadata()
        nicsync(cloud, root, "--live", "apply")
        before = cloud.kernel_state()["addresses"]
        with t.case(f"{fixture}: cloud-init's file appears: the addresses it configures stay, no longer owned"):
            source = pathlib.Path(os.environ.get("FIXTURES", "../fixtures"), "cloud-init-netplan", f"{fixture}.yaml")
            target = pathlib.Path(root, "etc/netplan/50-cloud-init.yaml")
            target.write_text(source.read_text())
            target.chmod(0o600)
            out = nicsync(cloud, root, "--live", "apply")
            check(not [l for l in out.stderr.splitlines() if "remove address" in l], out.stderr)
            after = cloud.kernel_state()["addresses"]
            check(after == before, f"addresses {before} -> {after}")
            state = json.loads(pathlib.Path(root, "var/lib/nicsync/state.json").read_text())
            check(state["addresses"] == [], f"state still owns: {state['addresses']}")


def check_state_disk_full(t):
    """aws-seed-two-eni applied; then 10.0.0.227 is assigned to eth1 while the state's directory is
    full (a 2-page tmpfs holding the state and the last good view, in a private mount namespace
    of the run only). The state that lists 10.0.0.227 as nicsync's is written before the kernel
    is touched, so the run fails there: one line saying nothing was changed, and neither the
    kernel nor the netplan file has changed."""
    fixture = "aws-seed-two-eni"
    path = "/latest/meta-data/network/interfaces/macs/02:86:10:65:fd:31/local-ipv4s"
    with nc.Cloud(fixture, PREFIX) as cloud, tempfile.TemporaryDirectory(prefix="nicsync-live-root-") as root, \
            tempfile.TemporaryDirectory(prefix="nicsync-live-state-") as saved:
        os.makedirs(os.path.join(root, "etc/netplan"))
        cloud.start_metadata()
        nicsync(cloud, root, "--live", "apply")
        before = cloud.kernel_state()
        netplan = pathlib.Path(root, "etc/netplan/90-nicsync.yaml").read_text()
        state_dir = os.path.join(root, "var/lib/nicsync")
        state = pathlib.Path(state_dir, "state.json").read_text()
        with t.case(f"{fixture}: the state cannot be written before a live apply: nothing changes"):
            nc.run(["cp", "-a", f"{state_dir}/.", saved])
            cloud.start_metadata(overrides={path: "10.0.0.226\n10.0.0.227"})
            mount = (f'mount -t tmpfs -o size={2 * os.sysconf("SC_PAGE_SIZE")},mode=0755 nicsync-live "$0" '
                     f'&& cp -a "$1"/. "$0"/ && shift && exec "$@"')
            argv = ["unshare", "--mount", "--propagation", "private", "sh", "-c", mount, state_dir, saved,
                    NICSYNC, "--root", root, "--vendor", "aws", "--live", "apply"]
            proc = nc.exec_in(cloud.inst, argv, timeout=60)
            check(proc.returncode == 1, f"exit {proc.returncode}:\n{proc.stderr}")
            check(proc.stderr.splitlines() == [
                f"nicsync: error: cannot write {state_dir}/state.json: No space left on device; nothing was changed"],
                proc.stderr)
            check(cloud.kernel_state() == before, f"kernel changed: {before} -> {cloud.kernel_state()}")
            check(pathlib.Path(root, "etc/netplan/90-nicsync.yaml").read_text() == netplan, "netplan file changed")
            check(pathlib.Path(state_dir, "state.json").read_text() == state, "state changed")


def main():
    nc.cleanup_stale(PREFIX)
    t = Failures()
    for vendor in VENDORS:
        for fixture in fixtures(vendor):
            try:
                run_fixture(t, fixture)
            except Exception as e:  # noqa: BLE001 - a broken environment fails this fixture, not the run
                with t.case(f"{fixture}: environment"):
                    raise e
    check_secondary_nic_ip_cycle(t)
    check_excluded_nic(t)
    check_cloud_init_file_appears(t)
    check_state_disk_full(t)
    check_rollback(t)
    t.finish()


if __name__ == "__main__":
    main()
