"""valgrind memcheck over whole `apply` runs: no invalid access, no uninitialised value used, and
no leak of any kind (definite, indirect, possible) at exit. Runs:
  - AWS, netplan, files only (curl, yaml-cpp, the renderers, the atomic file transaction);
  - Oracle with the OCI API (OpenSSL: the session key, signatures, TLS to the mock API);
  - AWS live in a network namespace (libnl: the kernel read and every change), then a rerun.
Registered only in builds without sanitizers (tests/CMakeLists.txt): valgrind and ASan exclude
each other."""

import os
import re
import shutil
import subprocess
import tempfile

import netns_cloud as nc
from harness import NICSYNC, Failures, mock_server, target_root

VALGRIND = [
    "valgrind", "--tool=memcheck", "--leak-check=full", "--show-leak-kinds=all",
    "--errors-for-leak-kinds=definite,indirect,possible", "--error-exitcode=99", "--track-origins=yes",
    "--child-silent-after-fork=yes",
]


def check(cond, message):
    if not cond:
        raise AssertionError(message)


def memcheck(argv, log_dir, name, netns=None):
    log = os.path.join(log_dir, f"{name}.log")
    cmd = [*VALGRIND, f"--log-file={log}", NICSYNC, *argv]
    if netns:
        cmd = ["ip", "netns", "exec", netns, *cmd]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    text = open(log).read()
    summary = re.search(r"ERROR SUMMARY: (\d+) errors", text)
    lost = re.findall(r"(definitely|indirectly|possibly) lost: ([\d,]+) bytes", text)
    check(proc.returncode == 0, f"exit {proc.returncode} (99: valgrind found errors)\n{proc.stderr}\n"
                                f"{text[-4000:]}")
    check(summary and summary.group(1) == "0", f"valgrind: {summary.group(0) if summary else 'no summary'}")
    check(all(n == "0" for _, n in lost), f"valgrind reports lost memory: {lost}")
    heap = re.search(r"total heap usage: ([\d,]+) allocs, ([\d,]+) frees", text)
    print(f"     {name}: 0 errors, 0 bytes lost; heap {heap.group(1)} allocs, {heap.group(2)} frees"
          if heap else f"     {name}: 0 errors, 0 bytes lost")


def main():
    if shutil.which("valgrind") is None:
        raise SystemExit("valgrind is not installed (packaging/build-deps lists it)")
    t = Failures()
    with tempfile.TemporaryDirectory(prefix="nicsync-valgrind-") as logs:
        with t.case("valgrind: AWS apply (netplan, files only): no error, no leak"):
            with target_root("aws-seed-two-eni", "netplan") as root, mock_server("aws-seed-two-eni") as url:
                memcheck(["--root", str(root), "--metadata-url", url, "apply"], logs, "aws-files")

        with t.case("valgrind: Oracle apply with the OCI API (OpenSSL, TLS): no error, no leak"):
            fixture = "oracle-vm-secondary-vnic"
            with mock_server(fixture) as url, target_root(fixture, "network-scripts", oci=url.oci) as root:
                memcheck(["--root", str(root), "--metadata-url", url, "apply"], logs, "oracle-api")

        with t.case("valgrind: AWS live apply and rerun in a network namespace (libnl): no error, no leak"):
            with nc.Cloud("aws-seed-two-eni", "valgrind") as cloud, \
                    tempfile.TemporaryDirectory(prefix="nicsync-valgrind-root-") as root:
                os.makedirs(os.path.join(root, "etc/netplan"))
                cloud.start_metadata()
                argv = ["--root", root, "--vendor", "aws", "--live", "apply"]
                memcheck(argv, logs, "aws-live", netns=cloud.inst)
                diffs = cloud.state_differences(by_ip=True)
                check(not diffs, "; ".join(diffs[:5]))
                memcheck(argv, logs, "aws-live-rerun", netns=cloud.inst)
    t.finish()


if __name__ == "__main__":
    nc.cleanup_stale("valgrind")
    main()
