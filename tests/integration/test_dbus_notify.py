"""The D-Bus calls nicsync makes after a run that changed files, on a real bus. Each case starts
a private dbus-daemon (its own config: one unix socket in a temporary directory, every name and
call allowed) and nicsync-fake-services on it, which owns org.freedesktop.systemd1 (GetUnit and
each unit's ActiveState, from `--unit NAME=STATE`), org.freedesktop.network1 (Manager.Reload)
and org.freedesktop.NetworkManager (Settings.ReloadConnections) and logs every call it receives.
$DBUS_SYSTEM_BUS_ADDRESS points nicsync's sd-bus at the private bus; nothing talks to the host's
system bus.

Part 1, nicsync-notify-driver: notify_network_service() with the real sd-bus adapter and the
real command runner, netplan replaced by a stub script that records its argv. For every network
service (systemd-networkd, NetworkManager, network.service, none) and renderer (netplan,
network-scripts) the calls received must be exactly:

    netplan          -> `netplan generate`; then networkd: Manager.Reload,
                        NetworkManager: Settings.ReloadConnections, network.service/none: nothing
    network-scripts  -> NetworkManager: Settings.ReloadConnections; otherwise nothing

each after the systemd queries that find the service (GetUnit per unit in the order networkd,
NetworkManager, network.service, and ActiveState of each loaded one until an active one); then
failures: a refused or unanswered call, ReloadConnections answering false, no systemd on the bus,
no bus at all, a failing netplan.

Part 2 (root: network namespaces), the launcher end to end: `nicsync apply --live --root ROOT`
inside a simulated instance (netns_cloud), with the real `netplan generate`: the first apply
writes files and makes the calls above, a rerun that changes nothing makes none."""

import contextlib
import os
import pathlib
import shutil
import signal
import subprocess
import sys
import tempfile
import time

from harness import Failures

FAKE = os.environ.get("NICSYNC_FAKE_SERVICES", "nicsync-fake-services")
DRIVER = os.environ.get("NICSYNC_NOTIFY_DRIVER", "nicsync-notify-driver")
NICSYNC = os.environ.get("NICSYNC", "nicsync")
DBUS_DAEMON = shutil.which("dbus-daemon") or "/usr/bin/dbus-daemon"
CALL_TIMEOUT = 5  # seconds: kBusCallTimeoutSeconds in service_bus.hpp

NETWORKD = "systemd-networkd.service"
NM = "NetworkManager.service"
NETWORK = "network.service"
RELOAD = "org.freedesktop.network1.Manager.Reload"
RELOAD_CONNECTIONS = "org.freedesktop.NetworkManager.Settings.ReloadConnections"
DONE_GENERATE = "ran netplan generate"
DONE_NETWORKD = f"reloaded systemd-networkd ({RELOAD})"
DONE_NM = f"reloaded NetworkManager ({RELOAD_CONNECTIONS})"


def get_unit(unit):
    return f"org.freedesktop.systemd1.Manager.GetUnit {unit}"


def active_state(unit):
    return f"Get org.freedesktop.systemd1.Unit.ActiveState {unit}"


# How systemd is asked which service runs, per service found (units not given are not loaded:
# GetUnit answers NoSuchUnit and no ActiveState is read).
FIND = {
    "systemd-networkd": [get_unit(NETWORKD), active_state(NETWORKD)],
    "NetworkManager": [get_unit(NETWORKD), get_unit(NM), active_state(NM)],
    "network.service": [get_unit(NETWORKD), get_unit(NM), get_unit(NETWORK), active_state(NETWORK)],
    "none": [get_unit(NETWORKD), get_unit(NM), get_unit(NETWORK)],
}
UNITS = {"systemd-networkd": [f"{NETWORKD}=active"], "NetworkManager": [f"{NM}=active"],
         "network.service": [f"{NETWORK}=active"], "none": []}

# (service, renderer) -> (D-Bus calls after finding the service, netplan run?, done lines)
EXPECTED = {
    ("systemd-networkd", "netplan"): ([RELOAD], True, [DONE_GENERATE, DONE_NETWORKD]),
    ("NetworkManager", "netplan"): ([RELOAD_CONNECTIONS], True, [DONE_GENERATE, DONE_NM]),
    ("network.service", "netplan"): ([], True, [DONE_GENERATE]),
    ("none", "netplan"): ([], True, [DONE_GENERATE]),
    ("systemd-networkd", "network-scripts"): ([], False, []),
    ("NetworkManager", "network-scripts"): ([RELOAD_CONNECTIONS], False, [DONE_NM]),
    ("network.service", "network-scripts"): ([], False, []),
    ("none", "network-scripts"): ([], False, []),
}

BUS_CONFIG = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-BUS Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:path={socket}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <allow own="*"/>
    <allow send_type="method_call"/>
    <allow send_destination="*"/>
    <allow receive_sender="*"/>
  </policy>
</busconfig>
"""


def check(cond, message):
    if not cond:
        raise AssertionError(message)


def stop(proc):
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def wait_for_file(path, proc, what, timeout=10):
    deadline = time.monotonic() + timeout
    while not path.exists():
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited {proc.returncode}: {proc.stderr.read().strip()}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what} did not start within {timeout} s")
        time.sleep(0.01)


class Bus:
    """A private dbus-daemon in `tmp` and, unless services is None, nicsync-fake-services on it.
    `address` is the bus address; calls() the lines the fake logged so far."""

    def __init__(self, tmp, units=(), fake_args=(), services=True):
        self.tmp = pathlib.Path(tmp)
        socket = self.tmp / "bus"
        self.address = f"unix:path={socket}"
        self.log = self.tmp / "calls.log"
        self.processes = []
        config = self.tmp / "bus.conf"
        config.write_text(BUS_CONFIG.format(socket=socket))
        try:
            daemon = subprocess.Popen([DBUS_DAEMON, f"--config-file={config}", "--nofork", "--nopidfile",
                                       "--nosyslog"], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                      stderr=subprocess.PIPE, text=True)
            self.processes.append(daemon)
            wait_for_file(socket, daemon, "dbus-daemon")
            if services:
                ready = self.tmp / "ready"
                argv = [FAKE, "--address", self.address, "--log", str(self.log), "--ready", str(ready)]
                for unit in units:
                    argv += ["--unit", unit]
                fake = subprocess.Popen(argv + list(fake_args), stdin=subprocess.DEVNULL,
                                        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
                self.processes.append(fake)
                wait_for_file(ready, fake, "nicsync-fake-services")
        except BaseException:
            self.close()
            raise

    def calls(self):
        return self.log.read_text().splitlines() if self.log.exists() else []

    def close(self):
        for proc in reversed(self.processes):
            stop(proc)
        self.processes.clear()


@contextlib.contextmanager
def private_bus(**kw):
    tmp = tempfile.mkdtemp(prefix="nicsync-dbus-")
    bus = None
    try:
        bus = Bus(tmp, **kw)
        yield bus
    finally:
        if bus is not None:
            bus.close()
        shutil.rmtree(tmp, ignore_errors=True)


def netplan_stub(directory, fail_with=None):
    """A stand-in for /usr/sbin/netplan that appends its arguments to argv.log (one run per line)
    and, with fail_with, writes that line to stderr and exits 1."""
    stub = pathlib.Path(directory) / "netplan"
    log = pathlib.Path(directory) / "argv.log"
    body = f'#!/bin/sh\nprintf "%s\\n" "$*" >> "{log}"\n'
    if fail_with:
        body += f'echo "netplan: {fail_with}" >&2\nexit 1\n'
    stub.write_text(body)
    stub.chmod(0o755)
    return stub, log


def drive(bus_address, renderer, stub, root="/", timeout=30):
    env = dict(os.environ, DBUS_SYSTEM_BUS_ADDRESS=bus_address)
    env.pop("SYSTEMD_BUS_TIMEOUT", None)
    return subprocess.run([DRIVER, "--renderer", renderer, "--root", root, "--netplan", str(stub)],
                          env=env, capture_output=True, text=True, timeout=timeout)


def lines(path):
    path = pathlib.Path(path)
    return path.read_text().splitlines() if path.exists() else []


# --------------------------------------------------------------------------------------------
# Part 1: notify_network_service() with the real bus adapter and command runner


def check_matrix(t):
    for (service, renderer), (reloads, generates, done) in EXPECTED.items():
        with t.case(f"driver: {service} active, renderer {renderer}: exactly the listed calls"), \
                private_bus(units=UNITS[service]) as bus:
            stub, argv_log = netplan_stub(bus.tmp)
            proc = drive(bus.address, renderer, stub)
            check(proc.returncode == 0, f"driver exited {proc.returncode}: {proc.stderr}")
            check(bus.calls() == FIND[service] + reloads,
                  f"D-Bus calls {bus.calls()}, expected {FIND[service] + reloads}")
            expected_argv = ["generate"] if generates else []
            check(lines(argv_log) == expected_argv, f"netplan runs {lines(argv_log)}, expected {expected_argv}")
            check(proc.stdout.splitlines() == done, f"done {proc.stdout.splitlines()}, expected {done}")
            check(proc.stderr == "", f"stderr: {proc.stderr}")


def check_unit_states(t):
    with t.case("driver: loaded units that are not active are passed over; reloading counts as active"), \
            private_bus(units=[f"{NETWORKD}=failed", f"{NM}=reloading", f"{NETWORK}=active"]) as bus:
        stub, _ = netplan_stub(bus.tmp)
        proc = drive(bus.address, "netplan", stub)
        check(proc.returncode == 0, f"driver exited {proc.returncode}: {proc.stderr}")
        want = [get_unit(NETWORKD), active_state(NETWORKD), get_unit(NM), active_state(NM), RELOAD_CONNECTIONS]
        check(bus.calls() == want, f"D-Bus calls {bus.calls()}, expected {want}")

    with t.case("driver: every unit loaded but inactive is no service: no reload"), \
            private_bus(units=[f"{NETWORKD}=inactive", f"{NM}=deactivating", f"{NETWORK}=activating"]) as bus:
        stub, argv_log = netplan_stub(bus.tmp)
        proc = drive(bus.address, "netplan", stub)
        check(proc.returncode == 0, f"driver exited {proc.returncode}: {proc.stderr}")
        want = [get_unit(NETWORKD), active_state(NETWORKD), get_unit(NM), active_state(NM), get_unit(NETWORK),
                active_state(NETWORK)]
        check(bus.calls() == want, f"D-Bus calls {bus.calls()}, expected {want}")
        check(lines(argv_log) == ["generate"], f"netplan runs {lines(argv_log)}")

    with t.case("driver: a root other than / reaches netplan as --root-dir"), \
            private_bus(units=[f"{NETWORKD}=active"]) as bus:
        stub, argv_log = netplan_stub(bus.tmp)
        root = str(bus.tmp / "image")
        proc = drive(bus.address, "netplan", stub, root=root)
        check(proc.returncode == 0, f"driver exited {proc.returncode}: {proc.stderr}")
        check(lines(argv_log) == [f"generate --root-dir {root}"], f"netplan runs {lines(argv_log)}")
        check(proc.stdout.splitlines() == [f"{DONE_GENERATE} --root-dir {root}", DONE_NETWORKD], proc.stdout)


def check_failures(t):
    with t.case("driver: a refused Reload is an error naming the method and the D-Bus error"), \
            private_bus(units=[f"{NETWORKD}=active"], fake_args=["--fail", RELOAD]) as bus:
        stub, _ = netplan_stub(bus.tmp)
        proc = drive(bus.address, "netplan", stub)
        check(proc.returncode == 1, f"driver exited {proc.returncode}: {proc.stderr}")
        want = (f"error: {RELOAD}: org.freedesktop.DBus.Error.Failed: failure injected by the test into {RELOAD}")
        check(proc.stderr.strip() == want, f"stderr {proc.stderr.strip()!r}, expected {want!r}")
        check(proc.stdout.splitlines() == [DONE_GENERATE], f"done before the failure: {proc.stdout}")
        check(bus.calls() == FIND["systemd-networkd"] + [RELOAD], f"D-Bus calls {bus.calls()}")

    with t.case("driver: ReloadConnections answering false is an error"), \
            private_bus(units=[f"{NM}=active"], fake_args=["--reload-connections-answer", "false"]) as bus:
        stub, _ = netplan_stub(bus.tmp)
        proc = drive(bus.address, "network-scripts", stub)
        check(proc.returncode == 1, f"driver exited {proc.returncode}: {proc.stderr}")
        want = f"error: {RELOAD_CONNECTIONS}: NetworkManager answered false (the reload failed)"
        check(proc.stderr.strip() == want, f"stderr {proc.stderr.strip()!r}, expected {want!r}")

    hang = ["--hang", "org.freedesktop.systemd1.Manager.GetUnit"]
    with t.case(f"driver: an unanswered call gives up after {CALL_TIMEOUT} s and says so"), \
            private_bus(units=[f"{NETWORKD}=active"], fake_args=hang) as bus:
        stub, _ = netplan_stub(bus.tmp)
        start = time.monotonic()
        proc = drive(bus.address, "netplan", stub)
        elapsed = time.monotonic() - start
        check(proc.returncode == 1, f"driver exited {proc.returncode}: {proc.stderr}")
        want = f"error: {get_unit(NETWORKD)}: org.freedesktop.DBus.Error.Timeout: Connection timed out"
        check(proc.stderr.strip() == want, f"stderr {proc.stderr.strip()!r}, expected {want!r}")
        check(CALL_TIMEOUT - 0.5 <= elapsed < CALL_TIMEOUT + 3, f"gave up after {elapsed:.1f} s")

    with t.case("driver: no systemd on the bus is an error naming GetUnit and the D-Bus error"), \
            private_bus(services=False) as bus:
        stub, argv_log = netplan_stub(bus.tmp)
        proc = drive(bus.address, "netplan", stub)
        check(proc.returncode == 1, f"driver exited {proc.returncode}: {proc.stderr}")
        want = (f"error: {get_unit(NETWORKD)}: org.freedesktop.DBus.Error.ServiceUnknown: "
                "The name org.freedesktop.systemd1 was not provided by any .service files")
        check(proc.stderr.strip() == want, f"stderr {proc.stderr.strip()!r}, expected {want!r}")
        check(lines(argv_log) == ["generate"], f"netplan runs {lines(argv_log)}")

    with t.case("driver: no bus at all: netplan generate only, and the reason"), \
            tempfile.TemporaryDirectory(prefix="nicsync-dbus-") as tmp:
        stub, argv_log = netplan_stub(tmp)
        address = f"unix:path={tmp}/no-such-socket"
        proc = drive(address, "netplan", stub)
        check(proc.returncode == 0, f"driver exited {proc.returncode}: {proc.stderr}")
        want = f"no system bus: cannot connect to the system bus at {address}: No such file or directory"
        check(proc.stderr.strip() == want, f"stderr {proc.stderr.strip()!r}, expected {want!r}")
        check(lines(argv_log) == ["generate"], f"netplan runs {lines(argv_log)}")
        check(proc.stdout.splitlines() == [DONE_GENERATE], proc.stdout)

    with t.case("driver: a failing netplan generate is the error; the bus is not asked"), \
            private_bus(units=[f"{NETWORKD}=active"]) as bus:
        stub, argv_log = netplan_stub(bus.tmp, fail_with="Error in network definition: bad")
        proc = drive(bus.address, "netplan", stub)
        check(proc.returncode == 1, f"driver exited {proc.returncode}: {proc.stderr}")
        want = f"error: {stub} generate: exited with status 1: netplan: Error in network definition: bad"
        check(proc.stderr.strip() == want, f"stderr {proc.stderr.strip()!r}, expected {want!r}")
        check(bus.calls() == [], f"D-Bus calls {bus.calls()}")
        check(proc.stdout == "", f"done: {proc.stdout}")


# --------------------------------------------------------------------------------------------
# Part 2: the launcher, end to end, in network namespaces


def check_launcher(t):
    if os.geteuid() != 0:
        print("skip launcher cases: network namespaces need root")
        return
    import netns_cloud as nc

    fixture = "aws-seed-two-eni"
    netplan_calls = {"systemd-networkd": [RELOAD], "NetworkManager": [RELOAD_CONNECTIONS], "none": []}
    cases = [("netplan", s, calls) for s, calls in netplan_calls.items()]
    cases += [("network-scripts", "NetworkManager", [RELOAD_CONNECTIONS]), ("network-scripts", "systemd-networkd", [])]
    for renderer, service, reloads in cases:
        with nc.Cloud(fixture, "dbusnotify") as cloud, private_bus(units=UNITS[service]) as bus:
            root = bus.tmp / "root"
            (root / ("etc/netplan" if renderer == "netplan" else "etc/sysconfig/network-scripts")).mkdir(parents=True)
            cloud.start_metadata()
            env = dict(os.environ, DBUS_SYSTEM_BUS_ADDRESS=bus.address)

            def apply():
                return nc.exec_in(cloud.inst, [NICSYNC, "--root", str(root), "--vendor", "aws", "--renderer", renderer,
                                               "--live", "apply"], timeout=60, env=env)

            with t.case(f"launcher: {service} active, renderer {renderer}: apply --live makes the listed calls"):
                proc = apply()
                check(proc.returncode == 0, f"nicsync exited {proc.returncode}:\n{proc.stderr}")
                check(bus.calls() == FIND[service] + reloads,
                      f"D-Bus calls {bus.calls()}, expected {FIND[service] + reloads}\n{proc.stderr}")
                logged = [l for l in proc.stderr.splitlines() if l.startswith(("nicsync: ran ", "nicsync: reloaded "))]
                want = ([f"nicsync: {DONE_GENERATE} --root-dir {root}"] if renderer == "netplan" else [])
                want += [f"nicsync: {DONE_NETWORKD}"] if reloads == [RELOAD] else []
                want += [f"nicsync: {DONE_NM}"] if reloads == [RELOAD_CONNECTIONS] else []
                check(logged == want, f"logged {logged}, expected {want}\n{proc.stderr}")
                if renderer == "netplan":  # the real netplan generate ran on the written file
                    generated = sorted(p.name for p in (root / "run/systemd/network").glob("*.network"))
                    check(generated, f"netplan generate wrote nothing under {root}/run/systemd/network")
                check("warning" not in proc.stderr, proc.stderr)

            with t.case(f"launcher: {service} active, renderer {renderer}: a rerun without changes makes no call"):
                before = bus.calls()
                proc = apply()
                check(proc.returncode == 0, f"nicsync exited {proc.returncode}:\n{proc.stderr}")
                check("no changes" in proc.stderr, f"the rerun changed something:\n{proc.stderr}")
                check(bus.calls() == before, f"D-Bus calls after the rerun: {bus.calls()[len(before):]}")


def main():
    t = Failures()
    for program in (FAKE, DRIVER, DBUS_DAEMON):
        if shutil.which(program) is None:
            print(f"cannot run {program}: build the test programs (cmake --build) and install dbus")
            sys.exit(1)
    check_matrix(t)
    check_unit_states(t)
    check_failures(t)
    check_launcher(t)
    t.finish()


if __name__ == "__main__":
    main()
