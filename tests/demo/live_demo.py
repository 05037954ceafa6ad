"""The live half of the demo: the simulated AWS instance (aws-seed-two-eni) in throwaway network
namespaces — instance, cloud network with anti-spoofing, a peer host — with the mock metadata
server on 169.254.169.254. Runs `nicsync apply` inside the instance (networking is up, so it
applies live), shows `ip rule` and the per-NIC table, proves the addresses answer, and cleans
up. Usage: python3 live_demo.py NICSYNC NICSYNC_MOCK"""

import os
import pathlib
import sys
import tempfile

here = pathlib.Path(__file__).resolve().parent
os.environ["NICSYNC_MOCK"] = sys.argv[2]
os.environ.setdefault("FIXTURES", str(here.parent / "fixtures"))
sys.path.insert(0, str(here.parent / "integration"))
import netns_cloud as nc  # noqa: E402

NICSYNC = sys.argv[1]


def show(title, ns, argv):
    print(f"==== {title}", flush=True)
    out = nc.exec_in(ns, argv)
    print(out.stdout + out.stderr, end="", flush=True)


def main():
    nc.cleanup_stale("demo")
    with nc.Cloud("aws-seed-two-eni", "demo") as cloud, tempfile.TemporaryDirectory(prefix="nicsync-demo-") as root:
        (pathlib.Path(root) / "etc/netplan").mkdir(parents=True)
        dmi = pathlib.Path(root) / "sys/class/dmi/id"  # the simulated instance's DMI: nicsync detects AWS
        dmi.mkdir(parents=True)
        for key, value in cloud.fixture["dmi"].items():
            (dmi / key).write_text(value + "\n")
        cloud.start_metadata()
        print(f"==== simulated instance {cloud.inst}: eth0 (primary, DHCP lease {cloud.lease}) and eth1, "
              f"metadata at {cloud.endpoint_url}", flush=True)
        show("ip -4 addr (before)", cloud.inst, ["ip", "-4", "-brief", "addr"])
        # --root keeps the files out of this machine's /etc; --live applies to the namespace's kernel.
        show(f"nicsync --root {root} apply --live (inside the instance)", cloud.inst,
             [NICSYNC, "--root", root, "apply", "--live"])
        show("ip -4 addr", cloud.inst, ["ip", "-4", "-brief", "addr"])
        show("ip rule", cloud.inst, ["ip", "rule"])
        show("ip route show table 1001", cloud.inst, ["ip", "route", "show", "table", "1001"])
        show("ip route show table main", cloud.inst, ["ip", "route", "show", "table", "main"])
        print("==== reachability from the subnet's peer host, with the cloud's anti-spoofing on", flush=True)
        for address in ("10.0.0.76", "10.0.0.58", "10.0.0.226"):
            peer_ns, peer = cloud.peer_for(address)
            print(f"ping {peer} -> {address}: {'answers' if nc.ping(peer_ns, address) else 'NO ANSWER'}", flush=True)
        show("nicsync apply --live again: nothing to do", cloud.inst, [NICSYNC, "--root", root, "apply", "--live"])
    print("==== namespaces removed", flush=True)


if __name__ == "__main__":
    main()
