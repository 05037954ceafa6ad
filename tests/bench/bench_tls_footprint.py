#!/usr/bin/env python3
"""Benchmark (not a test): the peak RSS that the OCI API path's cryptography and TLS cost, per TLS
library, measured with nicsync-tls-footprint-{none,openssl,mbedtls} (tests/bench/tls_footprint.cpp)
against nicsync-mock-oci-api on 127.0.0.1. Each program loads a CA file, signs with the instance's
RSA key, generates an RSA 2048 session key, keeps N TLS connections open and sends 81 requests
over them; `none` is the same program without cryptography, the baseline. Peak RSS: GNU time's
%M. See tests/bench/README.md ("Not met, and why")."""

import argparse
import json
import pathlib
import statistics
import sys
import tempfile

sys.dont_write_bytecode = True
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

import benchlib as bl  # noqa: E402

LIBRARIES = ("none", "openssl", "mbedtls")


def measure(program, ca, key, port, connections, requests, runs):
    rss = []
    for _ in range(runs):
        t = bl.timed([str(program), ca, key, str(port), str(connections), str(requests)], rss=True)
        bl.check(t.returncode == 0, f"{program.name} exit {t.returncode}: {t.stderr.strip()}")
        bl.check(t.maxrss_kib is not None, f"no peak RSS for {program.name}: is GNU time ({bl.GNU_TIME}) installed?")
        rss.append(t.maxrss_kib / 1024)
    return {"median": statistics.median(rss), "min": min(rss), "max": max(rss), "answers": t.stdout.split()[1:]}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--programs", required=True, help="directory of the nicsync-tls-footprint-* programs")
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--connections", default="1,8,40", help="TLS connections kept open at once")
    parser.add_argument("--requests", type=int, default=81, help="requests (the 80x50 run's ListPrivateIps: 81)")
    parser.add_argument("--json", help="also write the results to this file")
    args = parser.parse_args()

    programs = {lib: pathlib.Path(args.programs) / f"nicsync-tls-footprint-{lib}" for lib in LIBRARIES}
    missing = [lib for lib, p in programs.items() if not p.exists()]
    bl.check("none" not in missing and "openssl" not in missing, f"not built: {missing} in {args.programs}")
    for lib in missing:
        print(f"bench_tls_footprint.py: no {programs[lib].name} (Debian: apt-get install libmbedtls-dev, "
              f"then reconfigure): {lib} left out", file=sys.stderr)
        del programs[lib]

    counts = [int(c) for c in args.connections.split(",")]
    rows, results = [], []
    with tempfile.TemporaryDirectory(prefix="nicsync-bench-tls-") as tmp:
        pki = bl.shared_pki(tmp)
        cas = [("test CA", pki["ca"])]
        bundle = bl.production_like_ca_file(pki["ca"], tmp)
        if bundle != pki["ca"]:
            cas.append(("system + test CA", bundle))
        with bl.oci_pki.mock_oci_api(pki, binary=bl.MOCK_OCI) as mock:
            for ca_name, ca in cas:
                base = measure(programs["none"], ca, pki["leaf_key"], mock.port, 0, 0, args.runs)
                for lib, program in programs.items():
                    for connections in ([0] if lib == "none" else [0, *counts]):
                        requests = args.requests if connections else 0
                        r = base if lib == "none" else measure(program, ca, pki["leaf_key"], mock.port, connections,
                                                               requests, args.runs)
                        results.append({"library": lib, "ca": ca_name, "connections": connections,
                                        "requests": requests, **r})
                        rows.append([lib, ca_name, str(connections), str(requests),
                                     f"{r['median']:.1f}", f"{r['min']:.1f}–{r['max']:.1f}",
                                     f"{r['median'] - base['median']:+.1f}", " ".join(r["answers"]) or "-"])

    mach = bl.machine()
    print("TLS footprint of the OCI API path (CA load, RSA sign, RSA 2048 keygen, N TLS connections held open, "
          "requests to nicsync-mock-oci-api on 127.0.0.1)")
    print(f"machine: {mach['nproc']} CPUs, {mach['cpu']}, Linux {mach['kernel']}; {mach['date']}; "
          f"{args.runs} runs each; peak RSS from GNU time (%M)")
    if len(cas) > 1:
        print(f"CA file \"system + test CA\": {bl.SYSTEM_CA_FILE} with the test root appended, as production loads it")
    print()
    print(bl.markdown_table(["library", "CA file", "connections", "requests", "peak RSS MiB (median)",
                             "min–max", "over none", "answers (status x count)"], rows))
    if args.json:
        pathlib.Path(args.json).write_text(json.dumps({"machine": mach, "results": results}, indent=1))
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except bl.BenchError as e:
        print(f"bench_tls_footprint.py: {e}", file=sys.stderr)
        sys.exit(1)
