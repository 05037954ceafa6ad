"""Runs every benchmark in order (the CMake target `bench`): the scenario check, fetch + render
and start-up, live apply of 15x50 and 80x50 (netplan, then network-scripts). Stops at the
first that fails (exit 1).

    python3 tests/bench/run_all.py [--quick] [--json-dir DIR]

NICSYNC_BENCH_QUICK=1 in the environment is the same as --quick. Needs root."""

import argparse
import os
import pathlib
import subprocess
import sys
import time

HERE = pathlib.Path(__file__).resolve().parent


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", default=os.environ.get("NICSYNC_BENCH_QUICK") == "1")
    p.add_argument("--json-dir", help="write each benchmark's --json file here")
    a = p.parse_args(argv)
    out = pathlib.Path(a.json_dir) if a.json_dir else None
    if out:
        out.mkdir(parents=True, exist_ok=True)

    def js(name):
        return ["--json", str(out / name)] if out else []
    runs = ["--runs", "5"] if a.quick else []
    steps = [
        ["validate_scenarios.py", "--sizes", "1x1,4x10" if a.quick else "1x1,2x3,4x10"],
        ["bench_fetch.py", *(["--quick"] if a.quick else []), *js("fetch.json")],
        ["bench_live_apply.py", "15", "50", *runs, *js("live-15x50.json")],
        ["bench_live_apply.py", "80", "50", *(["--runs", "3"] if a.quick else ["--runs", "5"]), "--budget", "150",
         *js("live-80x50.json")],
        # The same without a generator process after the write: nicsync's own apply against ip -batch.
        ["bench_live_apply.py", "15", "50", "--renderer", "network-scripts", *runs, *js("live-15x50-ns.json")],
        ["bench_live_apply.py", "80", "50", "--renderer", "network-scripts",
         *(["--runs", "3"] if a.quick else ["--runs", "5"]), "--budget", "150", *js("live-80x50-ns.json")],
        # 80x50 again with the files on a file system of their own, new for the run: the state of a
        # booting instance's disk; /tmp has just had the files of the runs above deleted.
        ["bench_live_apply.py", "80", "50", "--fresh-ext4",
         *(["--runs", "3"] if a.quick else ["--runs", "5"]), "--budget", "150", *js("live-80x50-fresh.json")],
        ["bench_live_apply.py", "80", "50", "--renderer", "network-scripts", "--fresh-ext4",
         *(["--runs", "3"] if a.quick else ["--runs", "5"]), "--budget", "150", *js("live-80x50-ns-fresh.json")],
    ]
    started = time.perf_counter()
    for step in steps:
        print(f"\n## {' '.join(step)}\n", flush=True)
        rc = subprocess.call([sys.executable, str(HERE / step[0]), *step[1:]])
        if rc != 0:
            print(f"run_all.py: {step[0]} exited {rc}", file=sys.stderr)
            return 1
    print(f"\nall benchmarks done in {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
