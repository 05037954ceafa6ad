#!/usr/bin/env python3
"""config/cloud-init/90-nicsync.cfg: parses as YAML, sets exactly the cloud-init datasource keys
that keep cloud-init to the primary NIC on AWS, Alibaba and Oracle, and its commented `nicsync:`
example is valid cloud-config that nicsync itself accepts (`nicsync config check`, when the
launcher is given).

Usage: test_cloud_init_snippet.py SNIPPET [NICSYNC]
"""
import json
import os
import subprocess
import sys
import tempfile

import yaml

EXPECTED = {
    "datasource": {
        # cloud-init's Ec2 datasource (DataSourceEc2.network_config) and AliYun datasource
        # (DataSourceAliYun.network_config), each from its own datasource section.
        "Ec2": {"apply_full_imds_network_config": False},
        "AliYun": {"apply_full_imds_network_config": False},
        # cloud-init's Oracle datasource (BUILTIN_DS_CONFIG, default False).
        "Oracle": {"configure_secondary_nics": False},
    }
}


def main() -> int:
    snippet = sys.argv[1]
    nicsync = sys.argv[2] if len(sys.argv) > 2 else None
    text = open(snippet, encoding="utf-8").read()
    data = yaml.safe_load(text)
    if data != EXPECTED:
        print(f"FAIL: {snippet} holds {data!r}, expected {EXPECTED!r}")
        return 1
    print(f"ok:   {snippet} parses and sets {json.dumps(EXPECTED['datasource'])}")

    # The commented example: the lines from "#   #cloud-config" on, without their "#   ".
    lines = text.splitlines()
    try:
        start = lines.index("#   #cloud-config")
    except ValueError:
        print("FAIL: no commented '#cloud-config' example")
        return 1
    example_lines = []
    for line in lines[start:]:
        if not line.startswith("#   "):
            break
        example_lines.append(line[4:])
    example = yaml.safe_load("\n".join(example_lines))
    if not isinstance(example, dict) or not isinstance(example.get("nicsync"), dict):
        print(f"FAIL: the example has no nicsync: mapping: {example!r}")
        return 1
    print(f"ok:   the commented example parses: {json.dumps(example['nicsync'])}")

    if nicsync:
        # As cloud-init would hand it over: the merged cloud-config as JSON.
        with tempfile.TemporaryDirectory() as root:
            os.makedirs(os.path.join(root, "run/cloud-init"))
            with open(os.path.join(root, "run/cloud-init/combined-cloud-config.json"), "w") as f:
                json.dump(example, f)
            run = subprocess.run([nicsync, "--root", root, "config", "check"], capture_output=True,
                                 text=True, timeout=60)
            if run.returncode != 0:
                print(f"FAIL: nicsync config check exited {run.returncode}: {run.stderr.strip()}")
                return 1
            for line in ("policy_routing: on", "primary_rules: true",
                         "interfaces.exclude: [eth3, 0a:1b:2c:3d:4e:5f]"):
                if line not in run.stdout.splitlines():
                    print(f"FAIL: nicsync config check does not print {line!r}:\n{run.stdout}")
                    return 1
            print("ok:   nicsync config check accepts the example")
    print("cloud-init snippet: all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
