"""Benchmark (not a test): `nicsync apply --live` of a generated instance, by default AWS with
15 ENIs x 50 IPv4 addresses each (the maximum of the large instance types), inside the
simulated cloud of tests/integration/netns_cloud.py; any vendor of scenario.py, IPv6 too, 80 x 50
works. Needs root. See tests/bench/README.md.

    NICSYNC=build/module/nicsync NICSYNC_MOCK=build/tests/nicsync-mock-imds \\
    NICSYNC_MOCK_OCI=build/tests/nicsync-mock-oci-api \\
        python3 tests/bench/bench_live_apply.py [N M] [--vendor aws|oracle-api|oracle-settings|alibaba]
                                                [--ipv6] [--runs R] [--latency-ms L] [--budget S]
                                                [--json FILE] [--fresh-ext4]

What is timed (time.perf_counter around the whole process, by a timer process inside the instance
namespace: benchlib.NamespaceTimer, so no row pays for `ip netns exec`):
  baselines    `ip netns exec INST true` from outside: what entering the namespace would add to
               each row (paid once by the timer, not by the rows); `true` from inside: starting a
               process
  apply clean  `nicsync --root R --vendor V apply --live` from a clean kernel and a fresh R
               (R/etc/netplan, no state file): fetch, read the kernel, plan, write the netplan
               file, apply every address, route and rule. Every run is checked against `expect`.
  plan clean   `nicsync ... plan --live` on the same clean state: fetch + kernel read + plan +
               diff, nothing written.
  netplan generate  `netplan generate --root-dir R` alone: what a clean apply runs after writing
               the netplan file (a Python program; part of the clean apply's time).
  apply no-op  the same apply again with everything in place (the state file of the last
               clean run): must log "no changes" and leave the kernel as it was.
  ip -batch    the same kernel objects added by one `ip -batch` (no fetch, no diff, no file):
               the floor for live apply.
Between clean runs the kernel objects are removed with one `ip -force -batch` (not timed) and
the namespace is checked to be back at its initial state. One untimed warm-up apply runs first.
Also reported per row: the median CPU time of the process (user + system, from wait4; steadier
than wall time on a busy machine), the metadata requests of one run (the mock's log), and the
peak RSS of one extra, untimed run under GNU time (`-` without /usr/bin/time).
The roots are on TMPDIR's file system, or with --fresh-ext4 on a new ext4 file system made for the
run (a loop-mounted image on /var/tmp): the files' cost depends on what the file system went
through just before (tests/bench/README.md, "Live apply").
"""

import argparse
import contextlib
import json
import os
import pathlib
import re
import shutil
import statistics
import sys
import tempfile
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "integration"))

import netns_cloud as nc  # noqa: E402
import scenario as sc  # noqa: E402

NICSYNC = os.environ.get("NICSYNC", "nicsync")
MOCK = os.environ.get("NICSYNC_MOCK", "nicsync-mock-imds")
PREFIX = "bench"
RENDERER_DIRS = {"netplan": "etc/netplan", "network-scripts": "etc/sysconfig/network-scripts"}
PROTO = "201"                 # nicsync's route/rule protocol (rt_protos.d/nicsync.conf)
BUDGET_S = 100                # default --budget: stop adding runs past this


# Running and timing one process, and the machine's description: tests/bench/benchlib.py
from benchlib import BenchError, NamespaceTimer, Timed, check, machine, timed  # noqa: E402,F401


# --------------------------------------------------------------------------------------------
# Kernel objects of `expect`, as ip(8) batch lines


def add_batch(fixture, renderer="netplan"):
    """`ip -batch` lines adding what `expect` holds beyond the lease, the way nicsync does it:
    the primary's secondaries as /32 under netplan (with the subnet's prefix under
    network-scripts), the others noprefixroute; each table's link
    route and onlink default; main's fallback default; one rule per address. IPv6: every
    address /128 nodad, the tables' subnet routes and defaults, main's fallbacks, the rules (the
    family follows from the addresses: `::/0` instead of `default`)."""
    e = fixture["expect"]
    primary = next(l for l in fixture["links"] if "dhcp" in l)
    lines = []
    for link, addrs in e["addresses"].items():
        for a in addrs:
            if link == primary["name"]:
                if a != primary["dhcp"]:
                    prefixed = a if renderer == "network-scripts" else a.split('/')[0] + "/32"
                    lines.append(f"address add {prefixed} dev {link}")
            else:
                lines.append(f"address add {a} dev {link} noprefixroute")
    for link, addrs in e.get("addresses6", {}).items():
        lines += [f"address add {a} dev {link} nodad" for a in addrs]
    for r in e["routes"] + e.get("routes6", []):
        v6 = ":" in r.get("via", "") or ":" in r["dst"]
        table = f"table {r['table']}" if r["table"] != "main" else ""
        metric = f"metric {r['metric']}" if "metric" in r else ""
        if r["dst"] == "default":
            dst = "::/0" if v6 else "default"
            lines.append(f"route add {dst} via {r['via']} dev {r['dev']} {metric} {table} proto {PROTO} onlink")
        else:
            scope = "" if v6 else f"scope {r.get('scope', 'link')}"
            lines.append(f"route add {r['dst']} dev {r['dev']} {scope} {metric} {table} proto {PROTO}")
    for r in e["rules"] + e.get("rules6", []):
        lines.append(f"rule add from {r['from']} lookup {r['table']} priority {r['priority']} protocol {PROTO}")
    return [re.sub(r"\s+", " ", line).strip() for line in lines]


def reset_batch(fixture, renderer="netplan"):
    """`ip -force -batch` lines removing every object of `expect` but the lease (and no
    link-local address). The DHCP primary's secondary addresses are /32 where nicsync writes
    netplan and carry the subnet's prefix (as in `expect`) with network-scripts, as nicsync adds
    them live to match the files."""
    e = fixture["expect"]
    primary = next(l for l in fixture["links"] if "dhcp" in l)
    lines = [f"rule del from {r['from']} lookup {r['table']} priority {r['priority']}"
             for r in e["rules"] + e.get("rules6", [])]
    tables = sorted({r["table"] for r in e["routes"] if r["table"] != "main"})
    lines += [f"route flush table {t}" for t in tables]   # IPv4 only
    lines += [f"route del default via {r['via']} dev {r['dev']} metric {r['metric']}"
              for r in e["routes"] if r["table"] == "main"]
    for r in e.get("routes6", []):
        dst = "::/0" if r["dst"] == "default" else r["dst"]
        table = f"table {r['table']}" if r["table"] != "main" else ""
        via = f"via {r['via']}" if "via" in r else ""
        lines.append(re.sub(r"\s+", " ", f"route del {dst} {via} dev {r['dev']} metric {r.get('metric', 1024)} {table}"))
    for link, addrs in e.get("addresses6", {}).items():
        lines += [f"address del {a} dev {link}" for a in addrs]
    for link, addrs in e["addresses"].items():
        if link == primary["name"]:
            for a in addrs:
                if a != primary["dhcp"]:
                    prefixed = a if renderer == "network-scripts" else a.split('/')[0] + "/32"
                    lines.append(f"address del {prefixed} dev {link}")
        else:
            lines.append(f"address flush dev {link} scope global")
    return lines


def split_family(lines):
    """(IPv4 lines, IPv6 lines) of a batch: a line is IPv6 when it names an IPv6 address or prefix."""
    v4, v6 = [], []
    for line in lines:
        (v6 if re.search(r"\s[0-9a-f]*:[0-9a-f:]*[:/ ]", line + " ") else v4).append(line)
    return v4, v6


# --------------------------------------------------------------------------------------------
# The bench


class Bench:
    def __init__(self, args, fixture, fixture_path):
        self.args = args
        self.fixture = fixture
        self.fixture_path = fixture_path
        self.name = (f"{args.vendor} {args.nics}x{args.addresses}" + (" +v6" if args.ipv6 else "") +
                     (f" {args.renderer}" if args.renderer != "netplan" else ""))
        self.started = time.perf_counter()
        self.rows = []
        self.notes = []
        self.verified = False
        self.file_system = "unknown"  # where the roots are: set by main()
        self.summary_clean = self.summary_noop = ""
        self.load_before = machine()["load"]

    def over_budget(self, what, done):
        if time.perf_counter() - self.started <= self.args.budget:
            return False
        self.notes.append(f"time budget ({self.args.budget} s) reached: {done} of {self.args.runs} {what} runs")
        return True

    def in_ns(self):
        return ["ip", "netns", "exec", self.cloud.inst]

    def ns_timed(self, argv, rss=False):
        """argv timed from inside the instance namespace (benchlib.NamespaceTimer)."""
        return self.timer.timed(argv, rss=rss)

    def nicsync_argv(self, root, *args):
        return [NICSYNC, "--root", str(root), "--vendor", self.fixture["vendor"], *args]

    def ip_batch(self, lines, force=False):
        """argv running the batch lines in the instance namespace. `ip -batch` takes no per-line
        family option and `ip rule` needs one for IPv6, so IPv6 lines (marked by `split_family`)
        run in a second `ip -6 -batch` of the same shell command when there are any."""
        name = "reset" if force else "add"
        v4, v6 = split_family(lines)
        paths = []
        for family, part in (("4", v4), ("6", v6)):
            path = self.tmp / f"{name}{family}.batch"
            if part and not path.exists():
                path.write_text("\n".join(part) + "\n")
            if part:
                paths.append((family, path))
        force_opt = ["-force"] if force else []
        if len(paths) == 1 and paths[0][0] == "4":
            return ["ip", *force_opt, "-batch", str(paths[0][1])]
        script = " && ".join(f"ip -{family} {' '.join(force_opt)} -batch {path}" for family, path in paths)
        return ["sh", "-c", script]

    def fresh_root(self):
        root = pathlib.Path(tempfile.mkdtemp(prefix="root-", dir=self.tmp))
        (root / RENDERER_DIRS[self.args.renderer]).mkdir(parents=True)
        self.cloud.write_oci_api_settings(root)     # Oracle: the OCI API mock, or the API off
        sc.write_conf_d(self.fixture, root)         # oracle-settings: oracle.secondary_ips
        return root

    def requests(self):
        """(metadata requests, OCI API requests) so far."""
        return len(self.cloud.metadata_requests()), len(self.cloud.oci_api_requests())

    def differences(self, expect):
        return nc.state_differences(self.cloud.kernel_state(), expect, by_ip=True)

    def verify(self, what):
        diffs = self.differences(self.fixture["expect"])
        check(not diffs, f"{what}: the kernel differs from expect: " + "; ".join(diffs)[:3000])

    def reset(self):
        """Back to the initial state: every object of `expect` but the lease removed (untimed)."""
        t = self.ns_timed(self.ip_batch(self.reset_lines, force=True))
        diffs = self.differences(self.initial)
        check(not diffs, "reset did not restore the initial state: " + "; ".join(diffs)[:2000]
              + f"\n{t.stderr[-2000:]}")

    def nicsync(self, root, *args, rss=False, want_objects=None, noop=False):
        before = self.requests()
        t = self.ns_timed(self.nicsync_argv(root, *args), rss=rss)
        check(t.returncode == 0, f"`{' '.join(t.argv)}` exited {t.returncode}:\n{t.stderr[-3000:]}")
        after = self.requests()
        imds, api = after[0] - before[0], after[1] - before[1]
        t.requests = f"{imds} + {api} API" if api else imds
        lines = [l for l in t.stderr.splitlines() if l.strip()]
        t.summary = lines[-1] if lines else ""
        m = re.search(r"(\d+) kernel objects? (?:changed|to change)", t.summary)
        t.objects = int(m.group(1)) if m else 0
        if noop:
            check(t.summary.endswith("no changes"), f"expected no changes:\n{t.stderr[-3000:]}")
        if want_objects is not None and not noop:
            check(t.objects == want_objects, f"{t.objects} kernel objects changed, expect has {want_objects}:\n"
                                             f"{t.summary}")
        return t

    def add_row(self, label, results, rss=None, objects="-", requests="-"):
        ms = [r.ms for r in results]
        cpu = [r.cpu_seconds * 1000 for r in results]
        nan = float("nan")
        self.rows.append({
            "scenario": label, "runs": len(ms),
            "median_ms": statistics.median(ms) if ms else nan, "min_ms": min(ms, default=nan),
            "all_ms": [round(x, 2) for x in ms], "cpu_median_ms": statistics.median(cpu) if cpu else nan,
            "objects": objects, "requests": requests,
            "peak_rss_mib": rss.maxrss_kib / 1024.0 if rss is not None and rss.maxrss_kib else None,
        })

    def run(self):
        runs = self.args.runs
        want = sum(sc.objects(self.fixture).values())
        self.reset_lines = reset_batch(self.fixture, self.args.renderer)
        self.add_lines = add_batch(self.fixture, self.args.renderer)

        t0 = time.perf_counter()
        with nc.Cloud(str(self.fixture_path), PREFIX) as cloud, contextlib.ExitStack() as stack:
            self.cloud, self.tmp = cloud, cloud.tmp
            self.setup_ms = (time.perf_counter() - t0) * 1000
            t1 = time.perf_counter()
            extra = ["--latency-ms", str(self.args.latency_ms)] if self.args.latency_ms else []
            cloud.start_metadata(mock_binary=MOCK, extra_args=extra)
            self.mock_ms = (time.perf_counter() - t1) * 1000
            self.initial = cloud.kernel_state()
            self.timer = stack.enter_context(NamespaceTimer(cloud.inst))

            # baselines: entering the namespace (paid by no timed row: they run from inside it), and
            # starting a process from inside it
            base = [timed([*self.in_ns(), "true"]) for _ in range(runs)]
            check(all(t.returncode == 0 for t in base), f"ip netns exec true: {base[0].stderr}")
            self.add_row("ip netns exec NS true (not in any row below)", base,
                         rss=timed([*self.in_ns(), "true"], rss=True))
            spawn = [self.ns_timed(["true"]) for _ in range(runs)]
            check(all(t.returncode == 0 for t in spawn), f"true in the namespace: {spawn[0].stderr}")
            self.add_row("true, from inside NS (process start)", spawn, rss=self.ns_timed(["true"], rss=True))

            # warm-up, untimed (its peak RSS is the clean apply's): the first apply, verified
            warm = self.nicsync(self.fresh_root(), "apply", "--live", rss=True, want_objects=want)
            self.verify("after the first apply")
            self.verified = True
            self.summary_clean = warm.summary
            self.reset()
            plan_rss = self.nicsync(self.fresh_root(), "plan", "--live", rss=True)

            applies, plans = [], []
            root = None
            for i in range(runs):
                if self.over_budget("clean", i):
                    break
                if i:
                    self.reset()
                root = self.fresh_root()
                plans.append(self.nicsync(root, "plan", "--live"))
                check(not any((root / RENDERER_DIRS[self.args.renderer]).iterdir()), "plan wrote a file")
                applies.append(self.nicsync(root, "apply", "--live", want_objects=want))
                self.verify(f"after clean run {i + 1}")
            self.add_row(f"{self.name} apply --live (clean)", applies, rss=warm, objects=want,
                         requests=applies[0].requests if applies else "-")
            self.add_row(f"{self.name} plan --live (clean)", plans, rss=plan_rss, objects=0,
                         requests=plans[0].requests if plans else "-")

            # what a clean apply spends in the consumer it runs after writing the netplan file
            # (`netplan generate --root-dir R`, a Python program): the same command on its own
            if root is not None and self.args.renderer == "netplan" and shutil.which("netplan"):
                gens = []
                for i in range(runs):
                    if self.over_budget("netplan generate", i):
                        break
                    g = self.ns_timed(["netplan", "generate", "--root-dir", str(root)])
                    check(g.returncode == 0, f"netplan generate failed:\n{g.stderr[-2000:]}")
                    gens.append(g)
                if gens:
                    self.add_row("netplan generate --root-dir R (part of a clean apply)", gens,
                                 rss=self.ns_timed(["netplan", "generate", "--root-dir", str(root)], rss=True))

            # no-op reruns on the last clean run's root (its state file) and kernel
            settled = cloud.kernel_state()
            noops = []
            for i in range(runs):
                if self.over_budget("no-op", i):
                    break
                noops.append(self.nicsync(root, "apply", "--live", noop=True))
            noop_rss = self.nicsync(root, "apply", "--live", rss=True, noop=True)
            check(not nc.state_differences(cloud.kernel_state(), settled, by_ip=True), "a no-op rerun changed the kernel")
            self.summary_noop = noop_rss.summary
            self.add_row(f"{self.name} apply --live (no-op)", noops, rss=noop_rss, objects=0,
                         requests=noops[0].requests if noops else "-")

            # the floor: the same objects through one ip -batch
            floors = []
            floor_rss = None
            for i in range(runs + 1):
                if i and self.over_budget("ip -batch", i - 1):
                    break
                self.reset()
                f = self.ns_timed(self.ip_batch(self.add_lines), rss=(i == 0))
                check(f.returncode == 0, f"ip -batch failed:\n{f.stderr[-3000:]}")
                self.verify("after ip -batch")
                if i == 0:
                    floor_rss = f       # first run under GNU time, untimed
                else:
                    floors.append(f)
            self.add_row(f"{self.name} ip -batch (floor)", floors, rss=floor_rss, objects=len(self.add_lines),
                         requests=0)
        self.total_s = time.perf_counter() - self.started

    def report(self):
        m = machine()
        ips = sum(len(v) for v in self.fixture["expect"]["addresses"].values())
        print(f"nicsync live-apply benchmark: {self.fixture['title']}")
        print(f"machine: {m['nproc']} CPUs, {m['cpu']}, Linux {m['kernel']}; {m['date']}")
        print(f"load average (1/5/15 min): {self.load_before} before, {m['load']} after")
        print(f"nicsync: {NICSYNC}")
        print(f"files (roots, state): {self.file_system}")
        print(f"instance: {self.args.nics} NICs, {ips} IPv4 addresses; cloud setup {self.setup_ms:.0f} ms, "
              f"mock start {self.mock_ms:.0f} ms"
              + (f", mock latency {self.args.latency_ms} ms/request" if self.args.latency_ms else ""))
        print(f"verified: kernel == expect after the first apply, after every clean run and after every "
              f"ip -batch: {'yes' if self.verified else 'NO'}")
        print()
        header = ["scenario", "runs", "median ms", "min ms", "CPU ms (median)", "objects added", "requests",
                  "peak RSS MiB"]
        cells = [[r["scenario"], str(r["runs"]), f"{r['median_ms']:.1f}", f"{r['min_ms']:.1f}",
                  f"{r['cpu_median_ms']:.1f}", str(r["objects"]), str(r["requests"]),
                  "-" if r["peak_rss_mib"] is None else f"{r['peak_rss_mib']:.1f}"] for r in self.rows]
        widths = [max(len(h), *(len(c[i]) for c in cells)) for i, h in enumerate(header)]

        def line(cols):
            return "| " + " | ".join(c.ljust(w) if i == 0 else c.rjust(w)
                                     for i, (c, w) in enumerate(zip(cols, widths))) + " |"
        print(line(header))
        print("|" + "|".join(("-" * (w + 1) + ":") if i else ("-" * (w + 2)) for i, w in enumerate(widths)) + "|")
        for c in cells:
            print(line(c))
        print()
        print(f"summary (clean): {self.summary_clean}")
        print(f"summary (no-op): {self.summary_noop}")
        for note in self.notes:
            print(f"note: {note}")
        print(f"total bench time {self.total_s:.1f} s")
        if self.args.json:
            out = {"machine": m, "scenario": self.name, "title": self.fixture["title"], "nicsync": NICSYNC,
                   "setup_ms": self.setup_ms, "mock_start_ms": self.mock_ms, "latency_ms": self.args.latency_ms,
                   "load_before": self.load_before, "file_system": self.file_system, "verified": self.verified, "rows": self.rows, "summary_clean": self.summary_clean,
                   "summary_noop": self.summary_noop, "notes": self.notes, "total_s": self.total_s}
            pathlib.Path(self.args.json).write_text(json.dumps(out, indent=2) + "\n")


def roots_file_system(path):
    """'TYPE (OPTIONS) on MOUNTPOINT' for the mount holding path, from /proc/self/mounts."""
    best = None
    with open("/proc/self/mounts") as mounts:
        for entry in mounts:
            _, mountpoint, fstype, options = entry.split()[:4]
            mountpoint = mountpoint.replace("\\040", " ")
            if (str(path) + "/").startswith(mountpoint.rstrip("/") + "/") and (best is None or len(mountpoint) > len(best[0])):
                best = (mountpoint, fstype, options)
    return f"{best[1]} ({best[2]}) on {best[0]}" if best else "unknown"


@contextlib.contextmanager
def fresh_ext4():
    """A new ext4 file system for the run's files: a sparse 1 GiB image on /var/tmp (the machine's
    disk), made by mkfs.ext4 and loop-mounted; unmounted and removed afterwards. Its inode tables
    hold no recently deleted inodes and it is mounted without `discard`: the state of a booting
    instance's disk, where a shared /tmp carries what the benchmarks before deleted (see
    tests/bench/README.md)."""
    if shutil.which("mkfs.ext4") is None:
        raise BenchError("--fresh-ext4 needs mkfs.ext4 (e2fsprogs)")
    base = pathlib.Path(tempfile.mkdtemp(prefix="nicsync-bench-fs-", dir="/var/tmp"))
    image, mountpoint = base / "fs.img", base / "mnt"
    mountpoint.mkdir()
    mounted = False
    try:
        with open(image, "wb") as f:
            f.truncate(1 << 30)
        nc.run(["mkfs.ext4", "-q", "-F", str(image)])
        nc.run(["mount", "-o", "loop", str(image), str(mountpoint)])
        mounted = True
        yield mountpoint
    finally:
        if mounted:
            nc.run(["umount", str(mountpoint)], check=False)
        shutil.rmtree(base, ignore_errors=True)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("nics", type=int, nargs="?", default=15)
    p.add_argument("addresses", type=int, nargs="?", default=50, help="IPv4 addresses per NIC")
    p.add_argument("--vendor", default="aws", choices=sorted(sc.VENDORS))
    p.add_argument("--ipv6", action="store_true", help="give the NICs IPv6 addresses in the metadata too")
    p.add_argument("--renderer", default="netplan", choices=sorted(RENDERER_DIRS),
                   help="the files' format (the root's directory says it): netplan runs `netplan generate` "
                        "after writing; network-scripts runs no generator")
    p.add_argument("--runs", type=int, default=10, help="timed runs per row (default 10)")
    p.add_argument("--latency-ms", type=int, default=0, help="the mock answers every request this late")
    p.add_argument("--budget", type=float, default=BUDGET_S,
                   help=f"seconds after which no further timed run starts (default {BUDGET_S})")
    p.add_argument("--json", help="also write the results to this file")
    p.add_argument("--fresh-ext4", action="store_true",
                   help="put the instance's roots (and every other file of the run) on a new ext4 file system, "
                        "loop-mounted from /var/tmp, instead of TMPDIR's")
    args = p.parse_args(argv)
    if args.runs < 1:
        p.error("--runs must be at least 1")
    if os.geteuid() != 0:
        print("bench_live_apply.py: needs root (network namespaces)", file=sys.stderr)
        return 2
    try:
        fixture = sc.scenario(args.vendor, args.nics, args.addresses, ipv6=args.ipv6)
    except (ValueError, NotImplementedError) as e:
        print(f"bench_live_apply.py: {e}", file=sys.stderr)
        return 2
    nc.cleanup_stale(PREFIX)
    try:
        with contextlib.ExitStack() as stack:
            if args.fresh_ext4:
                tempfile.tempdir = str(stack.enter_context(fresh_ext4()))
            tmp = stack.enter_context(tempfile.TemporaryDirectory(prefix="nicsync-bench-"))
            path = pathlib.Path(tmp) / f"{args.vendor}-{args.nics}x{args.addresses}.json"
            path.write_text(json.dumps(fixture, indent=1) + "\n")
            bench = Bench(args, fixture, path)
            bench.file_system = roots_file_system(tmp)
            bench.run()
            bench.report()
    except (BenchError, nc.CommandError) as e:
        print(f"bench_live_apply.py: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
