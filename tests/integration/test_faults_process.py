"""Fault matrix, the process cases: two applies at once (the lock), a stop signal at each step of
a run (SIGTERM while waiting for the lock, while fetching, in the middle of a live apply), and a
NIC that is in the metadata before the OS shows it (hot attach). Each case asserts the exit code,
the one line that names the cause, and that the files and the kernel are either as they were or
completely in the new state, never in between."""

import fcntl
import ipaddress
import json
import os
import pathlib
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

import netns_cloud as nc
from harness import (NICSYNC, GOLDEN, Failures, compare_golden, mock_server, run_nicsync, snapshot,
                     target_root)

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent / "bench"))
import scenario  # noqa: E402

FIXTURE = "aws-seed-two-eni"
PREFIX = "faultproc"


def check(cond, message):
    if not cond:
        raise AssertionError(message)


def write_settings(root, text):
    conf = pathlib.Path(root) / "etc/nicsync/conf.d"
    conf.mkdir(parents=True, exist_ok=True)
    (conf / "50-test.yaml").write_text(text)


def lock_path(root):
    return pathlib.Path(root) / "run/nicsync/lock"


class HeldLock:
    """The apply lock held by this test process, as another nicsync apply would hold it."""

    def __init__(self, root):
        path = lock_path(root)
        path.parent.mkdir(parents=True, exist_ok=True)
        self.file = open(path, "a+")
        fcntl.flock(self.file, fcntl.LOCK_EX)
        self.file.truncate(0)
        self.file.write(f"{os.getpid()}\n")
        self.file.flush()

    def release(self):
        self.file.close()


def start_nicsync(*args):
    return subprocess.Popen([NICSYNC, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for_line(proc, needle, timeout=10.0):
    """Reads proc's stderr until a line contains needle; returns the lines read so far."""
    lines = []
    deadline = time.monotonic() + timeout
    result = {}

    def reader():
        for line in proc.stderr:
            lines.append(line.rstrip("\n"))
            if needle in line:
                result["found"] = True
                return

    thread = threading.Thread(target=reader, daemon=True)
    thread.start()
    thread.join(max(0.0, deadline - time.monotonic()))
    check(result.get("found"), f"no stderr line with {needle!r} within {timeout} s: {lines}")
    return lines


def finish(proc, earlier_lines=(), timeout=30):
    out, err = proc.communicate(timeout=timeout)
    return proc.returncode, [*earlier_lines, *err.splitlines()]


def lock_cases(t):
    with t.case("lock: a second apply waits for the first, then finds nothing left to do"):
        with target_root(FIXTURE, "netplan") as root, mock_server(FIXTURE, "--latency-ms", "300") as url:
            first = start_nicsync("--root", str(root), "--metadata-url", url, "apply")
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                if lock_path(root).exists() and lock_path(root).read_text().strip() == str(first.pid):
                    break
                time.sleep(0.01)
            check(lock_path(root).read_text().strip() == str(first.pid), "the first apply never took the lock")
            second = start_nicsync("--root", str(root), "--metadata-url", url, "apply")
            code1, lines1 = finish(first)
            code2, lines2 = finish(second)
            check(code1 == 0 and code2 == 0, f"exits {code1}, {code2}: {lines1} {lines2}")
            waiting = f"nicsync: another nicsync apply (pid {first.pid}) holds {root}/run/nicsync/lock; waiting up to 30000 ms for it"
            check(lines2[0] == waiting, f"{lines2[0]!r} != {waiting!r}")
            check(lines2[-1].endswith("netplan: no changes"), f"the second apply changed something: {lines2}")
            compare_golden(root, GOLDEN / FIXTURE / "netplan")

    with t.case("lock: held past lock_timeout_ms, the apply exits 1 with one line and changes nothing"):
        with target_root(FIXTURE, "netplan") as root, mock_server(FIXTURE) as url:
            run_nicsync("--root", str(root), "--metadata-url", url, "apply", check_exit=0)
            write_settings(root, "lock_timeout_ms: 300\n")
            before = snapshot(root)
            held = HeldLock(root)
            try:
                began = time.monotonic()
                proc = run_nicsync("--root", str(root), "--metadata-url", url, "apply")
                took = time.monotonic() - began
            finally:
                held.release()
            lines = proc.stderr.splitlines()
            check(proc.returncode == 1, f"exit {proc.returncode}: {lines}")
            check(len(lines) == 2, f"want the waiting line and the error, got {lines}")
            want = f"nicsync: error: another nicsync apply (pid {os.getpid()}) still holds {root}/run/nicsync/lock after "
            check(lines[1].startswith(want) and lines[1].endswith(" ms (lock_timeout_ms); nothing was changed"),
                  f"{lines[1]!r}")
            check(0.25 < took < 5, f"waited {took:.2f} s for a 300 ms timeout")
            check(snapshot(root) == before, "files changed while another apply held the lock")

    with t.case("lock: a holder that dies (SIGKILL) releases it at once"):
        with target_root(FIXTURE, "netplan") as root, mock_server(FIXTURE) as url:
            lock_path(root).parent.mkdir(parents=True, exist_ok=True)
            hold = ("import fcntl, sys, time\n"
                    "f = open(sys.argv[1], 'a')\n"
                    "fcntl.flock(f, fcntl.LOCK_EX)\n"
                    "print('locked', flush=True)\n"
                    "time.sleep(60)\n")
            holder = subprocess.Popen([sys.executable, "-c", hold, str(lock_path(root))], stdout=subprocess.PIPE,
                                      text=True)
            check(holder.stdout.readline().strip() == "locked", "the holder did not take the lock")
            holder.kill()
            holder.wait()
            proc = run_nicsync("--root", str(root), "--metadata-url", url, "apply")
            check(proc.returncode == 0, f"exit {proc.returncode}: {proc.stderr}")
            check("waiting" not in proc.stderr, f"waited for a dead holder: {proc.stderr}")
            compare_golden(root, GOLDEN / FIXTURE / "netplan")

    with t.case("SIGTERM while waiting for the lock: exit 143, one line, nothing changed"):
        with target_root(FIXTURE, "netplan") as root, mock_server(FIXTURE) as url:
            before = snapshot(root)
            held = HeldLock(root)
            try:
                proc = start_nicsync("--root", str(root), "--metadata-url", url, "apply")
                lines = wait_for_line(proc, "waiting up to")
                proc.send_signal(signal.SIGTERM)
                code, lines = finish(proc, lines)
            finally:
                held.release()
            check(code == 143, f"exit {code}: {lines}")
            want = "nicsync: error: stopped by SIGTERM before changing anything"
            check(lines[-1] == want, f"{lines[-1]!r} != {want!r}")
            check(snapshot(root) == before, "files changed")


def fetch_stop_case(t):
    with t.case("SIGTERM during the metadata fetch: exit 143, one line, the previous files intact"):
        with target_root(FIXTURE, "netplan") as root:
            with mock_server(FIXTURE) as url:
                run_nicsync("--root", str(root), "--metadata-url", url, "apply", check_exit=0)
            before = snapshot(root)
            with tempfile.TemporaryDirectory() as tmp:
                body = pathlib.Path(tmp) / "ips"
                body.write_text("10.0.0.226\n10.0.0.227")  # a new IP that must not arrive half
                path = "/latest/meta-data/network/interfaces/macs/02:86:10:65:fd:31/local-ipv4s"
                with mock_server(FIXTURE, "--latency-ms", "400", "--override", f"{path}={body}") as url:
                    proc = start_nicsync("--root", str(root), "--metadata-url", url, "apply")
                    time.sleep(0.6)  # the token is in; the next round trip is under way
                    proc.send_signal(signal.SIGTERM)
                    code, lines = finish(proc)
            check(code == 143, f"exit {code}: {lines}")
            check(len(lines) == 1 and lines[0].startswith("nicsync: error: stopped by SIGTERM"), f"{lines}")
            check("nothing" in lines[0] or "before changing anything" in lines[0], f"{lines}")
            check(snapshot(root) == before, "files changed after a stop during the fetch")


def per_nic_state(cloud):
    """What the kernel holds per NIC: its addresses, its table's routes and its rules."""
    state = cloud.kernel_state()
    by_nic = {}
    for name in cloud.links:
        addresses = sorted(a.split("/")[0] for a in state["addresses"].get(name, []))
        routes = sorted(json.dumps(r, sort_keys=True) for r in state["routes"] if r.get("dev") == name)
        rules = sorted(json.dumps(r, sort_keys=True) for r in state["rules"]
                       if r["from"].split("/")[0] in addresses)
        by_nic[name] = {"addresses": addresses, "routes": routes, "rules": rules}
    return by_nic


def live_stop_case(t):
    nics, per_nic = 8, 40
    outcomes = []
    with tempfile.TemporaryDirectory(prefix="nicsync-faultproc-") as tmp:
        fixture = pathlib.Path(tmp) / f"aws-{nics}x{per_nic}.json"
        fixture.write_text(json.dumps(scenario.aws_scenario(nics, per_nic)))
        for attempt in range(3):
            with nc.Cloud(str(fixture), PREFIX) as cloud:
                cloud.start_metadata()
                initial = per_nic_state(cloud)
                root = pathlib.Path(tmp) / f"root{attempt}"
                (root / "etc/netplan").mkdir(parents=True)
                with t.case(f"SIGTERM in the middle of a live apply ({nics} NICs x {per_nic} IPs, try {attempt + 1}): "
                            "every NIC complete or untouched, the files complete"):
                    outcomes.append(stop_live_apply(cloud, root, initial))
                with t.case(f"after the stop (try {attempt + 1}), a rerun completes the kernel state exactly"):
                    proc = nc.exec_in(cloud.inst, [NICSYNC, "--root", str(root), "--vendor", "aws", "--live", "apply"])
                    check(proc.returncode == 0, f"exit {proc.returncode}: {proc.stderr}")
                    diffs = cloud.state_differences(by_ip=True)
                    check(not diffs, "; ".join(diffs[:5]))
    print(f"     live stop outcomes over 3 tries: {outcomes}")


def stop_live_apply(cloud, root, initial):
    """Starts a live apply and sends SIGTERM as soon as the kernel reports its first new address;
    checks that every NIC is complete or untouched. Returns "stopped" or "finished"."""
    monitor = subprocess.Popen(["ip", "-n", cloud.inst, "-o", "monitor", "address"], stdout=subprocess.PIPE, text=True)
    try:
        time.sleep(0.2)
        proc = subprocess.Popen(["ip", "netns", "exec", cloud.inst, NICSYNC, "--root", str(root), "--vendor", "aws",
                                 "--live", "apply"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = monitor.stdout.readline()
        # Links nicsync brings up get their IPv6 link-local address from the kernel first.
        while line and "inet " not in line and "inet6 fe80:" in line:
            line = monitor.stdout.readline()
        check("inet " in line, f"monitor saw {line!r}")
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    finally:
        monitor.kill()
        monitor.wait()
    lines = err.splitlines()
    check(proc.returncode in (0, 143), f"exit {proc.returncode}: {lines[-3:]}")
    expect = cloud.fixture["expect"]
    got = per_nic_state(cloud)
    complete = []
    for name in cloud.links:
        want = sorted(a.split("/")[0] for a in expect["addresses"].get(name, []))
        if got[name] != initial[name] or name == cloud.primary and got[name]["addresses"] == want:
            check(got[name]["addresses"] == want, f"{name} is half applied: {got[name]['addresses']}")
            rules = 0 if name == cloud.primary else len(want)
            check(len(got[name]["rules"]) == rules, f"{name}: {len(got[name]['rules'])} rules, want {rules}")
            complete.append(name)
    netplan = (root / "etc/netplan/90-nicsync.yaml").read_text()
    for name in cloud.links:
        check(f"{name}:" in netplan, f"the file lacks {name}")
    if proc.returncode == 143:
        check(lines[-1].startswith("nicsync: error: stopped by SIGTERM after writing the files"), f"{lines[-1]!r}")
        check(len(complete) < len(cloud.links), "exit 143, but every NIC is complete")
        return "stopped"
    check(len(complete) == len(cloud.links), f"exit 0 but only {complete} complete")
    return "finished"


def hot_attach_cases(t):
    with t.case("hot attach: a NIC that shows up during the wait is configured (files)"):
        with target_root(FIXTURE, "netplan") as root, mock_server(FIXTURE) as url:
            eth1 = root / "sys/class/net/eth1"
            mac = (eth1 / "address").read_text()
            shutil.rmtree(eth1)
            started = time.monotonic()
            proc = start_nicsync("--root", str(root), "--metadata-url", url, "apply")
            time.sleep(2.0)  # the fetch takes a few ms (more on a loaded machine); then it waits for eth1
            eth1.mkdir()
            (eth1 / "address").write_text(mac)
            appeared_ms = (time.monotonic() - started) * 1000
            code, lines = finish(proc)
            check(code == 0, f"exit {code}: {lines}")
            check(lines[0].startswith("nicsync: waited ") and
                  lines[0].endswith(" ms for 02:86:10:65:fd:31 (eni-0e7275b13b81f8bd2) to appear"), f"{lines}")
            waited = int(lines[0].split()[2])
            # At least one 100 ms step, and no longer than until eth1 appeared (plus one step and
            # some slack); where in that span the wait began depends on the machine's load.
            check(100 <= waited <= appeared_ms + 300, f"waited {waited} ms, eth1 appeared after {appeared_ms:.0f} ms")
            compare_golden(root, GOLDEN / FIXTURE / "netplan")

    with t.case("hot attach: a NIC that never shows up fails after interfaces.attach_timeout_ms, files intact"):
        with target_root(FIXTURE, "netplan") as root, mock_server(FIXTURE) as url:
            run_nicsync("--root", str(root), "--metadata-url", url, "apply", check_exit=0)
            shutil.rmtree(root / "sys/class/net/eth1")
            write_settings(root, "interfaces:\n  attach_timeout_ms: 400\n")
            before = snapshot(root)
            began = time.monotonic()
            proc = run_nicsync("--root", str(root), "--metadata-url", url, "apply")
            took = time.monotonic() - began
            lines = proc.stderr.splitlines()
            check(proc.returncode == 1, f"exit {proc.returncode}: {lines}")
            check(len(lines) == 1 and lines[0].startswith(
                "nicsync: error: aws: interface 02:86:10:65:fd:31 (eni-0e7275b13b81f8bd2) is in the metadata but no "
                "local interface has that MAC (waited "), f"{lines}")
            check(0.35 < took < 5, f"took {took:.2f} s for a 400 ms wait")
            check(snapshot(root) == before, "files changed")

    with t.case("hot attach, live: the NIC's MAC appears during the wait; the kernel gets the full state"):
        with nc.Cloud(FIXTURE, PREFIX) as cloud, tempfile.TemporaryDirectory(prefix="nicsync-faultproc-") as root:
            os.makedirs(os.path.join(root, "etc/netplan"))
            cloud.start_metadata()
            mac = cloud.macs["eth1"]
            nc.ip(cloud.inst, "link", "set", "eth1", "address", "02:99:00:00:00:01")
            proc = subprocess.Popen(["ip", "netns", "exec", cloud.inst, NICSYNC, "--root", root, "--vendor", "aws",
                                     "--live", "apply"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            time.sleep(2.0)  # well inside interfaces.attach_timeout_ms (5 s), after the fetch
            nc.ip(cloud.inst, "link", "set", "eth1", "address", mac)
            code, lines = finish(proc)
            check(lines[0].startswith("nicsync: waited "), f"{lines}")
            check(code == 0, f"exit {code}: {lines}")
            diffs = cloud.state_differences(by_ip=True)
            check(not diffs, "; ".join(diffs[:5]))


def main():
    t = Failures()
    lock_cases(t)
    fetch_stop_case(t)
    hot_attach_cases(t)
    live_stop_case(t)
    t.finish()


if __name__ == "__main__":
    nc.cleanup_stale(PREFIX)
    main()
