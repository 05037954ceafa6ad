"""Benchmark (not a test): fetch + render, `nicsync --root R --vendor V --metadata-url URL plan
--no-live` (files only, no kernel), against the mock metadata server on loopback with injected
per-request latency; and process start-up (`nicsync --version`). See tests/bench/README.md.

    NICSYNC=build/module/nicsync NICSYNC_MOCK=build/tests/nicsync-mock-imds \\
    NICSYNC_MOCK_OCI=build/tests/nicsync-mock-oci-api \\
        python3 tests/bench/bench_fetch.py [--vendors aws,oracle-api,oracle-settings,alibaba]
            [--sizes 1x1,4x10,15x50,80x50] [--latencies 0,1,5] [--runs 10] [--version-runs 50]
            [--ipv6] [--quick] [--requests aws:4x10:5] [--json FILE]

Per vendor, size (N NICs x M IPv4 addresses) and latency L: one untimed warm-up run, then --runs
timed runs (perf_counter around fork .. reap; CPU = user + system from wait4), one extra untimed
run under GNU time for the peak RSS. Every scenario is first checked: `apply --no-live` into a
root, `netplan generate`, and the networkd state must equal the scenario's `expect`. Every timed
run must exit 0 and make the same number of requests. Floors: 3 x L (3 dependent round trips)
and the start-up floor (median of `nicsync --version`). Exit 1 with the reason on any failure.
"""

import argparse
import json
import os
import pathlib
import statistics
import subprocess
import sys
import tempfile
import time

sys.dont_write_bytecode = True
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

import benchlib as bl  # noqa: E402

VENDORS = ["aws", "oracle-api", "oracle-settings", "alibaba"]
SIZES = "1x1,4x10,15x50,80x50"
LATENCIES = "0,1,5"
BUDGET_S = 480   # past this no further scenario starts (the whole bench target stays < 10 min)


def parse_sizes(text):
    out = []
    for s in text.split(","):
        if s:
            n, m = s.lower().split("x")
            out.append((int(n), int(m)))
    return out


def version_bench(runs):
    argv = [bl.NICSYNC, "--version"]
    first = bl.timed(argv)
    bl.check(first.returncode == 0, f"nicsync --version exited {first.returncode}: {first.stderr}")
    results = [bl.timed(argv) for _ in range(runs)]
    bl.check(all(r.returncode == 0 for r in results), "nicsync --version failed")
    rss = bl.timed(argv, rss=True)
    row = {"scenario": "nicsync --version", **bl.stats(results),
           "peak_rss_mib": rss.maxrss_kib / 1024 if rss.maxrss_kib else None,
           "version": first.stdout.strip() or first.stderr.strip()}
    true = [bl.timed(["/bin/true"]) for _ in range(runs)]
    return row, {"scenario": "/bin/true (fork + exec floor)", **bl.stats(true), "peak_rss_mib": None}


def request_paths(mk, before):
    """The metadata requests after index `before` as (t ms relative to the first, METHOD, PATH,
    status), in arrival order (the log is written when the answer is, after the latency)."""
    lines = mk.imds_requests()[before:]
    if not lines:
        return []
    timed_lines = sorted(((int(l[3].removeprefix("t=")), i, l) for i, l in enumerate(lines)))
    t0 = timed_lines[0][0]
    return [(t - t0, l[0], l[1], l[2]) for t, _, l in timed_lines]


def rounds_of(paths, latency_ms):
    """Groups requests into rounds: a request arriving more than latency/2 (at least 1 ms) after
    the previous one starts a new round."""
    gap = max(1, latency_ms / 2)
    out, last = [], None
    for t, method, path, status in paths:
        if last is None or t - last > gap:
            out.append([])
        out[-1].append((t, method, path, status))
        last = t
    return out


def fetch_scenario(args, workdir, vendor, n, m, version_ms, notes):
    path, fixture = bl.write_fixture(workdir, vendor, n, m, ipv6=args.ipv6)
    rows = []
    for latency in args.latencies:
        with bl.mocks(path, fixture, workdir, latency_ms=latency) as mk:
            root = bl.make_root(workdir, fixture, oci=mk.oci)
            if latency == args.latencies[0]:
                # correctness first: the files this scenario renders are its expect
                vroot = bl.make_root(workdir, fixture, oci=mk.oci)
                t = bl.timed([bl.NICSYNC, "--root", str(vroot), "--vendor", fixture["vendor"], "--metadata-url",
                              mk.url, "apply", "--no-live"])
                bl.check(t.returncode == 0, f"{vendor} {n}x{m}: apply --no-live exited {t.returncode}:\n"
                                            f"{t.stderr[-3000:]}")
                diffs = bl.file_differences(path, fixture, vroot)
                bl.check(not diffs, f"{vendor} {n}x{m}: files differ from expect: " + "; ".join(diffs)[:3000])
            argv = [bl.NICSYNC, "--root", str(root), "--vendor", fixture["vendor"], "--metadata-url", mk.url,
                    "plan", "--no-live"]

            def one(rss=False):
                before = mk.count()
                t = bl.timed(argv, rss=rss)
                bl.check(t.returncode == 0, f"{vendor} {n}x{m} L={latency}: `{' '.join(argv)}` exited "
                                            f"{t.returncode}:\n{t.stderr[-3000:]}")
                bl.check("+  version: 2" in t.stdout or "90-nicsync.yaml" in t.stdout,
                         f"{vendor} {n}x{m}: plan printed no netplan diff:\n{t.stdout[:1000]}")
                after = mk.count()
                t.requests = (after[0] - before[0], after[1] - before[1])
                return t, before[0]

            warm, warm_start = one()
            if args.requests and args.requests == (vendor, n, m, latency):
                notes["requests"] = {"scenario": f"{vendor} {n}x{m} latency {latency} ms",
                                     "paths": request_paths(mk, warm_start)}
            results = []
            for i in range(args.runs):
                t, _ = one()
                bl.check(t.requests == warm.requests, f"{vendor} {n}x{m} L={latency}: run {i + 1} made "
                                                      f"{t.requests} requests, the warm-up {warm.requests}")
                results.append(t)
            rss, _ = one(rss=True)
            s = bl.stats(results)
            rows.append({"vendor": vendor, "size": f"{n}x{m}" + ("+v6" if args.ipv6 else ""), "latency_ms": latency,
                         **s, "imds_requests": warm.requests[0], "api_requests": warm.requests[1],
                         "floor_latency_ms": 3 * latency, "floor_startup_ms": version_ms,
                         "peak_rss_mib": rss.maxrss_kib / 1024 if rss.maxrss_kib else None,
                         "summary": warm.stderr.strip().splitlines()[-1] if warm.stderr.strip() else ""})
            print(f"  {vendor:15} {n:3}x{m:<3} L={latency} ms: median {s['median_ms']:7.1f} ms, min "
                  f"{s['min_ms']:7.1f} ms, requests {warm.requests[0]}+{warm.requests[1]}", file=sys.stderr,
                  flush=True)
    return rows


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--vendors", default=",".join(VENDORS))
    p.add_argument("--sizes", default=SIZES)
    p.add_argument("--latencies", default=LATENCIES)
    p.add_argument("--runs", type=int, default=10)
    p.add_argument("--version-runs", type=int, default=50)
    p.add_argument("--ipv6", action="store_true", help="give every NIC as many IPv6 addresses too")
    p.add_argument("--quick", action="store_true",
                   help="5 runs, 20 --version runs, sizes 1x1,15x50,80x50, latencies 0,5")
    p.add_argument("--requests", default="aws:4x10:5",
                   help="VENDOR:NxM:L whose request paths (one run) are printed; '' for none")
    p.add_argument("--json", help="also write the results to this file")
    a = p.parse_args(argv)
    if a.quick:
        a.runs, a.version_runs = 5, 20
        if a.sizes == SIZES:
            a.sizes = "1x1,15x50,80x50"
        if a.latencies == LATENCIES:
            a.latencies = "0,5"
    a.latencies = [int(x) for x in a.latencies.split(",") if x != ""]
    a.vendors = [v for v in a.vendors.split(",") if v]
    for v in a.vendors:
        if v not in bl.sc.VENDORS:
            p.error(f"unknown vendor {v}")
    sizes = parse_sizes(a.sizes)
    if a.requests:
        v, size, lat = a.requests.split(":")
        n, m = parse_sizes(size)[0]
        a.requests = (v, n, m, int(lat))
        if v in a.vendors and (n, m) not in sizes:
            sizes.append((n, m))   # measured too, so that its paths come from a real run
            sizes.sort()
        if int(lat) not in a.latencies:
            a.requests = None
    if a.runs < 1:
        p.error("--runs must be at least 1")

    started = time.perf_counter()
    load_before = bl.machine()["load"]
    rows, notes, skipped = [], {}, []
    try:
        version_row, true_row = version_bench(a.version_runs)
        version_ms = version_row["median_ms"]
        with tempfile.TemporaryDirectory(prefix="nicsync-bench-fetch-") as workdir:
            for vendor in a.vendors:
                for n, m in sizes:
                    if time.perf_counter() - started > BUDGET_S:
                        skipped.append(f"{vendor} {n}x{m}")
                        continue
                    rows += fetch_scenario(a, workdir, vendor, n, m, version_ms, notes)
    except (bl.BenchError, subprocess.SubprocessError, RuntimeError, OSError) as e:
        print(f"bench_fetch.py: {e}", file=sys.stderr)
        return 1
    total = time.perf_counter() - started
    mach = bl.machine()

    print(f"nicsync fetch + render benchmark (plan --no-live against the mock on 127.0.0.1)")
    print(f"machine: {mach['nproc']} CPUs, {mach['cpu']}, Linux {mach['kernel']}; {mach['date']}")
    print(f"load average (1/5/15 min): {load_before} before, {mach['load']} after")
    print(f"nicsync: {bl.NICSYNC} ({version_row['version']})")
    print(f"verified: every scenario's apply --no-live files == expect (netplan generate); every run exit 0 "
          f"with the same request count")
    print()
    print(bl.markdown_table(
        ["process", "runs", "median ms", "min ms", "CPU ms (median)", "peak RSS MiB"],
        [[r["scenario"], str(r["runs"]), bl.fmt(r["median_ms"], 2), bl.fmt(r["min_ms"], 2),
          bl.fmt(r["cpu_median_ms"], 2), bl.fmt(r["peak_rss_mib"])] for r in (version_row, true_row)]))
    print()
    print(bl.markdown_table(
        ["vendor", "NICs x IPs", "latency ms", "runs", "median ms", "min ms", "CPU ms (median)", "requests",
         "floor 3xL ms", "floor start-up ms", "peak RSS MiB"],
        [[r["vendor"], r["size"], str(r["latency_ms"]), str(r["runs"]), bl.fmt(r["median_ms"]),
          bl.fmt(r["min_ms"]), bl.fmt(r["cpu_median_ms"]),
          str(r["imds_requests"]) + (f" + {r['api_requests']} API" if r["api_requests"] else ""),
          str(r["floor_latency_ms"]), bl.fmt(r["floor_startup_ms"]), bl.fmt(r["peak_rss_mib"])] for r in rows]))
    # the OCI API's share: oracle-api - oracle-settings at the same size and latency
    api = {(r["size"], r["latency_ms"]): r for r in rows if r["vendor"] == "oracle-api"}
    cfg = {(r["size"], r["latency_ms"]): r for r in rows if r["vendor"] == "oracle-settings"}
    both = [k for k in api if k in cfg]
    if both:
        print()
        print("OCI API cost (session key generation + federation + ListPrivateIps): oracle-api - oracle-settings")
        print()
        print(bl.markdown_table(
            ["NICs x IPs", "latency ms", "API median ms", "settings median ms", "difference ms", "API requests"],
            [[k[0], str(k[1]), bl.fmt(api[k]["median_ms"]), bl.fmt(cfg[k]["median_ms"]),
              bl.fmt(api[k]["median_ms"] - cfg[k]["median_ms"]), str(api[k]["api_requests"])] for k in both]))
    if "requests" in notes:
        req = notes["requests"]
        lat = a.requests[3]
        print()
        print(f"Metadata requests of one run, {req['scenario']} (t = arrival, ms after the first; "
              f"rounds split at gaps > L/2):")
        print()
        for i, rnd in enumerate(rounds_of(req["paths"], lat), 1):
            print(f"round {i}: {len(rnd)} requests, t={rnd[0][0]}..{rnd[-1][0]} ms")
            for t, method, path, status in rnd:
                print(f"    t={t:4} {method:4} {path} {status}")
    for s in skipped:
        print(f"note: time budget ({BUDGET_S} s) reached, skipped {s}")
    print(f"total bench time {total:.1f} s")
    if a.json:
        out = {"machine": mach, "load_before": load_before, "nicsync": bl.NICSYNC, "version": version_row,
               "true": true_row, "rows": rows, "requests": notes.get("requests"), "skipped": skipped,
               "total_s": total}
        pathlib.Path(a.json).write_text(json.dumps(out, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
