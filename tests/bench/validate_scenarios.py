"""Checks scenario.py's generated instances with the real nicsync: a generator whose `expect` is
wrong is a defect, and every benchmark relies on it. Not a ctest test (the benchmarks' own check).

    NICSYNC=build/module/nicsync NICSYNC_MOCK=build/tests/nicsync-mock-imds \\
    NICSYNC_MOCK_OCI=build/tests/nicsync-mock-oci-api \\
        python3 tests/bench/validate_scenarios.py [--vendors aws,oracle-api,oracle-settings,alibaba]
                                                 [--sizes 1x1,2x3,4x10] [--files-sizes 15x50,80x50]
                                                 [--no-live]

For every vendor, size in --sizes and family (IPv4 only, and --ipv6):
  files  the mock on loopback (and the OCI API mock for oracle-api); for each renderer (netplan,
         network-scripts) `nicsync --root R apply --no-live` (vendor from the DMI values in R) must
         exit 0; what the files configure must be exactly `expect` (netplan: through `netplan
         generate` and the networkd files; network-scripts: ifcfg/route/rule files as ifup reads
         them); addresses, routes, rules, both families, IPv6 routes only a live apply learns left
         out; a following `plan` must print no diff.
  live   (root; small sizes) the simulated cloud of tests/integration/netns_cloud.py, `nicsync
         apply --live` in the instance namespace; the kernel read back must equal `expect`
         (learned IPv6 routes included), a rerun must say `no changes`.
--files-sizes adds the files check (IPv4 and IPv6) for larger sizes. Exit 1 on any difference.
"""

import argparse
import os
import pathlib
import sys
import tempfile
import time

sys.dont_write_bytecode = True
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

import benchlib as bl  # noqa: E402
import netns_cloud as nc  # noqa: E402
import scenario as sc  # noqa: E402

PREFIX = "benchval"
BENCH_VENDORS = ["aws", "oracle-api", "oracle-settings", "alibaba"]


def sizes(text):
    return [tuple(int(x) for x in s.split("x")) for s in text.split(",") if s]


def run_nicsync(*args):
    return bl.timed([bl.NICSYNC, *args])


def check_files(workdir, vendor, n, m, ipv6):
    path, fixture = bl.write_fixture(workdir, vendor, n, m, ipv6=ipv6)
    summary = ""
    with bl.mocks(path, fixture, workdir) as mk:
        for renderer in ("netplan", "network-scripts"):
            root = bl.make_root(workdir, fixture, renderer=renderer, oci=mk.oci)
            args = ["--root", str(root), "--metadata-url", mk.url]
            t = run_nicsync(*args, "apply", "--no-live")
            bl.check(t.returncode == 0, f"{renderer}: apply exited {t.returncode}:\n{t.stderr[-3000:]}")
            diffs = bl.file_differences(path, fixture, root, renderer=renderer)
            bl.check(not diffs, f"{renderer}: files differ from expect: " + "; ".join(diffs)[:3000])
            p = run_nicsync(*args, "plan", "--no-live")
            bl.check(p.returncode == 0 and p.stdout == "",
                     f"{renderer}: plan after apply: exit {p.returncode}\n{p.stdout[:2000]}")
            summary = summary or t.stderr.strip().splitlines()[-1]
    return summary


def check_live(workdir, vendor, n, m, ipv6):
    path, fixture = bl.write_fixture(workdir, vendor, n, m, ipv6=ipv6)
    with nc.Cloud(str(path), PREFIX) as cloud:
        root = pathlib.Path(tempfile.mkdtemp(prefix="live-root-", dir=cloud.tmp))
        (root / "etc/netplan").mkdir(parents=True)
        cloud.write_oci_api_settings(root)
        sc.write_conf_d(fixture, root)
        cloud.start_metadata(mock_binary=bl.MOCK)
        argv = ["ip", "netns", "exec", cloud.inst, bl.NICSYNC, "--root", str(root), "--vendor", fixture["vendor"],
                "apply", "--live"]
        t = bl.timed(argv)
        bl.check(t.returncode == 0, f"apply --live exited {t.returncode}:\n{t.stderr[-3000:]}")
        diffs = nc.state_differences(cloud.kernel_state(), fixture["expect"], by_ip=True)
        bl.check(not diffs, "kernel differs from expect: " + "; ".join(diffs)[:3000])
        again = bl.timed(argv)
        bl.check(again.returncode == 0 and again.stderr.strip().endswith("no changes"),
                 f"rerun did not say no changes:\n{again.stderr[-2000:]}")
        return t.stderr.strip().splitlines()[-1]


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--vendors", default=",".join(BENCH_VENDORS))
    p.add_argument("--sizes", default="1x1,2x3,4x10")
    p.add_argument("--files-sizes", default="", help="more sizes for the files check only, e.g. 15x50,80x50")
    p.add_argument("--no-live", action="store_true", help="skip the network-namespace checks")
    p.add_argument("-v", "--verbose", action="store_true", help="print nicsync's summary line per case")
    a = p.parse_args(argv)
    live = not a.no_live
    if live and os.geteuid() != 0:
        print("validate_scenarios.py: the live checks need root (or --no-live)", file=sys.stderr)
        return 2
    vendors = [v for v in a.vendors.split(",") if v]
    for v in vendors:
        if v not in sc.VENDORS:
            p.error(f"unknown vendor {v}")
    if live:
        nc.cleanup_stale(PREFIX)
    failed, passed = [], 0
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="nicsync-validate-") as workdir:
        cases = []
        for vendor in vendors:
            for n, m in sizes(a.sizes):
                for ipv6 in (False, True):
                    cases.append(("files", vendor, n, m, ipv6))
                    if live:
                        cases.append(("live", vendor, n, m, ipv6))
            for n, m in sizes(a.files_sizes):
                for ipv6 in (False, True):
                    cases.append(("files", vendor, n, m, ipv6))
        for kind, vendor, n, m, ipv6 in cases:
            label = f"{kind:5} {vendor} {n}x{m}{' +v6' if ipv6 else ''}"
            try:
                summary = (check_files if kind == "files" else check_live)(workdir, vendor, n, m, ipv6)
                passed += 1
                print(f"ok   {label}" + (f"  [{summary}]" if a.verbose else ""), flush=True)
            except (bl.BenchError, nc.CommandError, RuntimeError, ValueError) as e:
                failed.append(label)
                print(f"FAIL {label}: {e}", flush=True)
    print(f"{passed} passed, {len(failed)} failed ({time.perf_counter() - started:.0f} s)")
    return 1 if failed or not passed else 0


if __name__ == "__main__":
    sys.exit(main())
