"""The systemd units and the udev rule of config/: rendered here the way config/CMakeLists.txt
renders them (ExecStart pointing at the built launcher), then
- `systemd-analyze verify` on every unit: exit 0 and nothing said about our units;
- their ordering and dependency directives, parsed from the files and compared exactly;
- the boot transaction systemd itself computes (`systemd --test`, which needs no PID 1) for a
  root where the units are enabled by `systemctl --root enable`: what runs, and what waits for
  what, with and without cloud-init, and for the NIC events udev replays at boot;
- the udev rule under `udevadm test` (when udevadm is installed: Debian package udev), against
  this machine's physical NICs and virtual devices made in a throwaway network namespace, in a
  private mount namespace where only our rule is loaded;
- the sandbox of the three services: `systemd-analyze security --offline=yes` exposure at most
  2.0 each; every directory the launcher and `netplan generate` write is writable in the unit;
  and a live apply in a simulated instance (network namespaces, netns_cloud) run inside the
  unit's sandbox as this machine can rebuild it without systemd as PID 1: a private mount
  namespace read-only but for the unit's writable paths (under the test root), /proc with
  ProcSubset=pid, the unit's capability bounding set, no-new-privs, and the unit's system call,
  address family and write+execute filters loaded with libseccomp (see `sandboxed_argv`).

Run as `test_units.py --sandbox-exec SPEC -- ARGV...` it is the sandbox's inner step (below).
"""

import ctypes
import json
import os
import pathlib
import re
import shutil
import subprocess
import sys
import tempfile

from harness import NICSYNC, Failures, no_leak_check_env

SOURCE = pathlib.Path(__file__).resolve().parent.parent.parent
CONFIG = SOURCE / "config"
UNITS = ["nicsync.service", "nicsync-online.service", "nicsync-update.service", "nicsync-hotplug.timer",
         "nicsync-update.timer"]
RULE = "90-nicsync.rules"
SYSTEMCTL = shutil.which("systemctl") or "/usr/bin/systemctl"
SYSTEMD = next((p for p in ("/lib/systemd/systemd", "/usr/lib/systemd/systemd") if os.path.exists(p)), None)
NOBODY = 65534


def check(cond, message):
    if not cond:
        raise AssertionError(message)


def launcher():
    path = shutil.which(NICSYNC) or NICSYNC
    check(os.path.isfile(path), f"NICSYNC={NICSYNC}: no such launcher (build the nicsync target)")
    path = os.path.abspath(path)
    check(os.path.basename(path) == "nicsync", f"the launcher must be named nicsync: {path}")
    return path


def render(src, out_dir, sbindir):
    """src rendered into out_dir like configure_file(@ONLY): *.in get the paths, others as is."""
    text = src.read_text()
    if src.suffix == ".in":
        text = text.replace("@NICSYNC_SBINDIR@", sbindir).replace("@NICSYNC_SYSTEMCTL@", SYSTEMCTL)
    left = re.findall(r"@[A-Za-z0-9_]+@", text)
    check(not left, f"{src.name}: variables this test does not know: {left}")
    dst = out_dir / src.name.removesuffix(".in")
    dst.write_text(text)
    return dst


def source_file(directory, name):
    for candidate in (CONFIG / directory / name, CONFIG / directory / f"{name}.in"):
        if candidate.exists():
            return candidate
    raise AssertionError(f"config/{directory}/{name}(.in) is missing")


def parse_unit(path):
    """A unit file as {section: {key: [values in order]}}; list-valued directives are split."""
    sections = {}
    current = None
    for raw in path.read_text().replace("\\\n", " ").splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            current = sections.setdefault(line.strip("[]"), {})
            continue
        check(current is not None and "=" in line, f"{path.name}: line outside a section or without '=': {line!r}")
        key, _, value = line.partition("=")
        current.setdefault(key.strip(), []).append(value.strip())
    return sections


def words(unit, section, key):
    """The set of names a list-valued directive holds (After=, Wants=, WantedBy=...)."""
    return {w for value in unit.get(section, {}).get(key, []) for w in value.split()}


def single(unit, section, key):
    values = unit.get(section, {}).get(key, [])
    check(len(values) == 1, f"[{section}] {key}= set {len(values)} times: {values}")
    return values[0]


def expect_directives(name, unit, expected):
    """expected: {(section, key): set of names or a single value or None (absent)}."""
    for (section, key), want in expected.items():
        if want is None:
            check(key not in unit.get(section, {}), f"{name}: [{section}] {key}= must not be set")
        elif isinstance(want, set):
            got = words(unit, section, key)
            check(got == want, f"{name}: [{section}] {key}= is {sorted(got)}, expected {sorted(want)}")
        else:
            got = single(unit, section, key)
            check(got == want, f"{name}: [{section}] {key}={got!r}, expected {want!r}")


def refresh_marker_path():
    """The marker the launcher writes when a boot run fell back (include/nicsync/metadata_sources.hpp)."""
    header = (SOURCE / "include/nicsync/metadata_sources.hpp").read_text()
    match = re.search(r'kRefreshNeededPath\s*=\s*"([^"]+)"', header)
    check(match, "kRefreshNeededPath not found in include/nicsync/metadata_sources.hpp")
    return match.group(1)


def check_unit_directives(units, sbindir):
    nicsync = f"{sbindir}/nicsync"
    expect_directives("nicsync.service", units["nicsync.service"], {
        ("Unit", "DefaultDependencies"): "no",
        ("Unit", "After"): {"cloud-init-local.service", "systemd-remount-fs.service"},
        ("Unit", "Before"): {"network-pre.target", "shutdown.target"},
        ("Unit", "Wants"): {"network-pre.target"},
        ("Unit", "Conflicts"): {"shutdown.target"},
        ("Unit", "Requires"): None,
        ("Unit", "RequiresMountsFor"): "/var/lib/nicsync",
        ("Service", "Type"): "oneshot",
        ("Service", "RemainAfterExit"): "yes",
        ("Service", "ExecStart"): f"{nicsync} apply --boot",
        ("Service", "SuccessExitStatus"): "3",
        ("Install", "WantedBy"): {"cloud-init.target", "multi-user.target"},
    })
    expect_directives("nicsync-online.service", units["nicsync-online.service"], {
        ("Unit", "DefaultDependencies"): None,
        ("Unit", "After"): {"network-online.target", "nicsync.service"},
        ("Unit", "Wants"): {"network-online.target"},
        ("Unit", "ConditionPathExists"): refresh_marker_path(),
        ("Service", "Type"): "oneshot",
        ("Service", "RemainAfterExit"): None,
        ("Service", "ExecStart"): f"{nicsync} apply",
        ("Service", "SuccessExitStatus"): "3",
        ("Install", "WantedBy"): {"cloud-init.target", "multi-user.target"},
    })
    expect_directives("nicsync-update.service", units["nicsync-update.service"], {
        ("Unit", "DefaultDependencies"): None,
        ("Unit", "After"): {"network-online.target", "nicsync.service", "nicsync-online.service"},
        ("Unit", "Wants"): {"network-online.target"},
        ("Service", "Type"): "oneshot",
        ("Service", "RemainAfterExit"): None,
        ("Service", "ExecStart"): f"{nicsync} apply",
        ("Service", "SuccessExitStatus"): "3",
    })
    check("Install" not in units["nicsync-update.service"], "nicsync-update.service: has an [Install] section")
    expect_directives("nicsync-hotplug.timer", units["nicsync-hotplug.timer"], {
        ("Timer", "OnActiveSec"): "2s",
        ("Timer", "RemainAfterElapse"): "no",
        ("Timer", "Unit"): "nicsync-update.service",
        ("Timer", "OnBootSec"): None,
        ("Timer", "OnUnitActiveSec"): None,
        ("Timer", "OnCalendar"): None,
    })
    accuracy = single(units["nicsync-hotplug.timer"], "Timer", "AccuracySec")
    check(re.fullmatch(r"\d+ms", accuracy) and int(accuracy[:-2]) <= 500,
          f"nicsync-hotplug.timer: AccuracySec={accuracy}: the debounce wants at most 500ms")
    check("Install" not in units["nicsync-hotplug.timer"], "nicsync-hotplug.timer: has an [Install] section")
    expect_directives("nicsync-update.timer", units["nicsync-update.timer"], {
        ("Timer", "Unit"): "nicsync-update.service",
        ("Timer", "OnBootSec"): "5min",
        ("Timer", "OnUnitActiveSec"): "10min",
        ("Install", "WantedBy"): {"timers.target"},
    })
    for name, unit in units.items():
        if name.endswith(".service"):
            timeout = single(unit, "Service", "TimeoutStartSec")
            check(timeout not in ("0", "infinity"),
                  f"{name}: TimeoutStartSec={timeout}: a oneshot needs a bound (it has none by default)")


def parse_udev_rules(path):
    """Each rule line of a udev rules file as a list of (key, operator, value)."""
    rules = []
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        pairs = re.findall(r'([A-Z_]+(?:\{[^}]*\})?)\s*(==|!=|\+=|-=|:=|=)\s*"([^"]*)"\s*,?', line)
        rebuilt = ", ".join(f'{k}{op}"{v}"' for k, op, v in pairs)
        check(re.sub(r"\s+", "", rebuilt) == re.sub(r"\s+", "", line), f"{path.name}: cannot parse {line!r}")
        rules.append(pairs)
    return rules


def check_udev_rule(rule_path):
    expected = [
        [("SUBSYSTEM", "!=", "net"), ("GOTO", "=", "nicsync_end")],
        [("ACTION", "!=", "add|remove"), ("GOTO", "=", "nicsync_end")],
        [("DEVPATH", "==", "/devices/virtual/*"), ("GOTO", "=", "nicsync_end")],
        [("RUN", "+=", f"{SYSTEMCTL} --no-block start nicsync-hotplug.timer")],
        [("LABEL", "=", "nicsync_end")],
    ]
    got = parse_udev_rules(rule_path)
    check(got == expected, f"{RULE}: rules are\n  {got}\nexpected\n  {expected}")


# --- systemd-analyze verify ------------------------------------------------------------------

def analyze_verify(unit_paths):
    proc = subprocess.run(["systemd-analyze", "verify", "--man=no", *map(str, unit_paths)],
                          capture_output=True, text=True, timeout=120)
    return proc.returncode, (proc.stdout + proc.stderr).strip()


def about_our_units(output, unit_dir):
    return [l for l in output.splitlines() if "nicsync" in l or str(unit_dir) in l]


# --- the boot transaction (systemd --test) ---------------------------------------------------

def make_root(base, unit_files, enable, extra_units=(), extra_wants=()):
    """A root holding our units in usr/lib/systemd/system, enabled by `systemctl --root enable`,
    plus extra unit files (name, text) and multi-user.target.wants links for extra_wants."""
    root = base / f"root{len(list(base.glob('root*')))}"
    lib = root / "usr/lib/systemd/system"
    lib.mkdir(parents=True)
    (root / "etc/systemd/system").mkdir(parents=True)
    for path in unit_files:
        shutil.copyfile(path, lib / path.name)
    for name, text in extra_units:
        (lib / name).write_text(text)
    proc = subprocess.run([SYSTEMCTL, f"--root={root}", "enable", *enable], capture_output=True, text=True,
                          timeout=60)
    check(proc.returncode == 0, f"systemctl --root enable {enable} failed:\n{proc.stderr}")
    wants = root / "etc/systemd/system/multi-user.target.wants"
    wants.mkdir(parents=True, exist_ok=True)
    for name in extra_wants:
        (wants / name).symlink_to(f"/usr/lib/systemd/system/{name}")
    return root


def boot_transaction(root, unit="multi-user.target"):
    """Runs `systemd --test --system --unit=UNIT` on root's units (first in the search path, then
    this machine's) with no generators. Returns (jobs: set of units with a start job,
    edges: set of (a, b) meaning a is ordered before b, units: {name: {key: [values]}}, stderr)."""
    empty = root / "no-generators"
    empty.mkdir(exist_ok=True)
    env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "HOME": "/",
           "SYSTEMD_UNIT_PATH": f"{root}/etc/systemd/system:{root}/usr/lib/systemd/system:",
           "SYSTEMD_GENERATOR_PATH": str(empty), "SYSTEMD_ENVIRONMENT_GENERATOR_PATH": str(empty)}
    command = [SYSTEMD, "--test", "--system", f"--unit={unit}", "--no-pager"]
    if os.geteuid() == 0:  # systemd refuses test mode as root
        command = ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", *command]
    proc = subprocess.run(command, capture_output=True, text=True, env=env, timeout=120, cwd="/")
    check(proc.returncode == 0, f"systemd --test exited {proc.returncode}:\n{proc.stderr}")
    units, jobs, current = {}, set(), None
    for line in proc.stdout.splitlines():
        m = re.match(r"^\t-> Unit (\S+):$", line)
        if m:
            current = units.setdefault(m.group(1), {})
            continue
        m = re.match(r"^\t+Action: (\S+) -> start$", line)
        if m:
            jobs.add(m.group(1))
            continue
        m = re.match(r"^\t\t([A-Za-z]+): (.*)$", line)
        if m and current is not None:
            current.setdefault(m.group(1), []).append(m.group(2))
    check(units, f"systemd --test printed no unit:\n{proc.stdout[:2000]}\n{proc.stderr}")
    edges = set()
    for name, props in units.items():
        for value in props.get("After", []):
            edges.add((value.split()[0], name))
        for value in props.get("Before", []):
            edges.add((name, value.split()[0]))
    return jobs, edges, units, proc.stderr


def waits_for(unit, jobs, edges):
    """The units whose start jobs unit's start job waits for: ordering holds between jobs of one
    transaction only, so the closure goes through units that have a job."""
    before = {}
    for a, b in edges:
        if a in jobs and b in jobs:
            before.setdefault(b, set()).add(a)
    seen, todo = set(), [unit]
    while todo:
        for a in before.get(todo.pop(), ()):
            if a not in seen:
                seen.add(a)
                todo.append(a)
    return seen


def check_boot(jobs, edges, stderr, must_run, must_not_run, orders, not_orders):
    for name in must_run:
        near = sorted(j for j in jobs if "nicsync" in j or "network" in j)
        check(name in jobs, f"{name} does not start at boot (nicsync and network jobs: {near})")
    for name in must_not_run:
        check(name not in jobs, f"{name} starts at boot but must not")
    for first, then in orders:
        check(first in waits_for(then, jobs, edges), f"{then} does not wait for {first}")
    for first, then in not_orders:
        check(first not in waits_for(then, jobs, edges), f"{then} waits for {first}, which it must not")
    said = [l for l in stderr.splitlines() if "nicsync" in l]
    check(not said, "systemd said about our units:\n" + "\n".join(said))


# Stand-ins for cloud-init's units, with the ordering cloud-init ships on Debian/Ubuntu.
CLOUD_INIT_LOCAL = """[Unit]
Description=Stand-in for cloud-init's local stage (test)
DefaultDependencies=no
Wants=network-pre.target
Before=network-pre.target sysinit.target shutdown.target
Conflicts=shutdown.target

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/bin/true
"""
CLOUD_INIT_TARGET = """[Unit]
Description=Stand-in for cloud-init.target (test)
Wants=cloud-init-local.service
After=cloud-init-local.service
"""
# What the udev rule does when coldplug replays the NICs' "add" events at boot: the hotplug
# timer starts nicsync-update.service during the boot transaction.
COLDPLUG_TARGET = """[Unit]
Description=Boot plus a NIC event during boot (test)
Wants=multi-user.target nicsync-update.service
"""


# --- udevadm test -----------------------------------------------------------------------------

UDEV_PREAMBLE = """set -e
# Only our rule: a fresh /run (where udevadm test also writes its database) and every other
# rules directory hidden.
mount -t tmpfs nicsync-test /run
for d in /etc/udev/rules.d /usr/local/lib/udev/rules.d /usr/lib/udev/rules.d /lib/udev/rules.d; do
  if [ -d "$d" ]; then mount -t tmpfs nicsync-test "$d"; fi
done
mkdir -p /run/udev/rules.d
cat > /run/udev/rules.d/90-nicsync.rules <<'NICSYNC_RULE_END'
{rule}NICSYNC_RULE_END
probe() {{
  if [ ! -e "/sys/class/net/$1" ]; then echo "=== missing $1 $2"; return 0; fi
  echo "=== $1 $2"
  "{udevadm}" test --action="$2" "/sys/class/net/$1" 2>&1 || echo "=== exit $?"
}}
"""

VIRTUAL_SETUP = """
mount -t sysfs nicsync-test /sys
ip link add nsveth0 type veth peer name nsveth1
# Optional kinds: tested when this kernel has them.
ip link add nsbr0 type bridge 2>/dev/null || true
ip link add link nsveth0 name nsveth0.5 type vlan id 5 2>/dev/null || true
ip link add nsmacvlan0 link nsveth0 type macvlan 2>/dev/null || true
ip tuntap add nstap0 mode tap 2>/dev/null || true
ip link add nsdummy0 type dummy 2>/dev/null || true
"""


def run_udevadm(udevadm, rule_text, setup, probes, new_netns):
    script = UDEV_PREAMBLE.format(rule=rule_text, udevadm=udevadm) + setup + "".join(
        f'probe "{dev}" "{action}"\n' for dev, action in probes)
    command = ["unshare", "--mount", *(["--net"] if new_netns else []), "--", "sh", "-c", script]
    proc = subprocess.run(command, capture_output=True, text=True, timeout=120)
    check(proc.returncode == 0, f"udevadm script failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    results, current = {}, None
    for line in proc.stdout.splitlines():
        if line.startswith("=== exit"):
            raise AssertionError(f"udevadm test {current} failed:\n{proc.stdout}")
        if line.startswith("=== missing "):
            results.setdefault("missing", set()).add(line.split()[2])
            current = None
            continue
        if line.startswith("=== "):
            current = tuple(line[4:].split())
            results[current] = {"runs": [], "read": False}
            continue
        if current is None:
            continue
        if line.startswith("Reading rules file: ") and line.endswith("/90-nicsync.rules"):
            results[current]["read"] = True
        m = re.match(r"^run: '(.*)'$", line)
        if m:
            results[current]["runs"].append(m.group(1))
    return results


def physical_and_virtual_links():
    physical, virtual = [], []
    for link in sorted(pathlib.Path("/sys/class/net").iterdir()):
        (virtual if "/devices/virtual/" in str(link.resolve()) else physical).append(link.name)
    return physical, virtual


# --- the services' sandbox ---------------------------------------------------------------------

SERVICES = ["nicsync.service", "nicsync-online.service", "nicsync-update.service"]
MAX_EXPOSURE = 2.0
# What the launcher writes (the constants, found in include/ and module/; a name not found is
# skipped, so that a constant added later is checked as soon as it lands) and what
# `netplan generate` writes under /run (netplan 0.106: networkd and NetworkManager output, its
# udev rules, its units for OVS and SR-IOV).
WRITTEN_CONSTANTS = ["kStatePath", "kLastGoodPath", "kRefreshNeededPath", "kRunLockPath", "kNetplanPath",
                     "kNetworkScriptsDir"]
NETPLAN_GENERATE_WRITES = ["/run/systemd/network", "/run/systemd/system", "/run/udev/rules.d",
                           "/run/NetworkManager/system-connections", "/run/NetworkManager/conf.d"]
SANDBOX_FIXTURE = "aws-seed-two-eni"
# The inner step of the sandbox runs on the system's Python (outside /root and /home, which
# ProtectHome= hides), as netplan does.
SANDBOX_PYTHON = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable


def exposure(unit_path):
    """`systemd-analyze security --offline=yes`: (the overall exposure, the lines it marks ✗)."""
    proc = subprocess.run(["systemd-analyze", "security", "--offline=yes", "--no-pager", str(unit_path)],
                          capture_output=True, text=True, timeout=120)
    output = proc.stdout + proc.stderr
    m = re.search(r"Overall exposure level for \S+: (\d+(?:\.\d+)?)", output)
    check(m, f"no overall exposure level in the output (exit {proc.returncode}):\n{output}")
    return float(m.group(1)), [l.strip() for l in output.splitlines() if l.lstrip().startswith("✗")]


def written_paths():
    """{constant: absolute path} for the WRITTEN_CONSTANTS the source defines."""
    found = {}
    for path in sorted((SOURCE / "include").rglob("*.hpp")) + sorted((SOURCE / "module").rglob("*.[ch]pp")):
        text = path.read_text()
        for name in WRITTEN_CONSTANTS:
            m = re.search(rf'\b{name}\s*=\s*"(/[^"]+)"', text)
            if m:
                found[name] = m.group(1)
    return found


def writable_paths(unit):
    """The unit's writable directories as [(absolute path, optional)]: ReadWritePaths= ("-":
    optional), StateDirectory= under /var/lib and RuntimeDirectory= under /run."""
    out = [(v.removeprefix("-"), v.startswith("-")) for v in words(unit, "Service", "ReadWritePaths")]
    out += [(f"/var/lib/{v}", False) for v in words(unit, "Service", "StateDirectory")]
    out += [(f"/run/{v}", False) for v in words(unit, "Service", "RuntimeDirectory")]
    return out


def premade_directories(unit):
    """Directories an ExecStartPre=+mkdir -p makes (outside the sandbox) before the run."""
    dirs = []
    for value in unit.get("Service", {}).get("ExecStartPre", []):
        argv = value.split()
        if argv and argv[0].lstrip("+-@:!") in ("mkdir", "/bin/mkdir", "/usr/bin/mkdir"):
            dirs += [a for a in argv[1:] if a.startswith("/")]
    return dirs


def covered(path, writable):
    return any(path == w or path.startswith(w.rstrip("/") + "/") for w, _ in writable)


def syscall_groups():
    """{"@group": [members, "@nested"...]} from `systemd-analyze syscall-filter`."""
    proc = subprocess.run(["systemd-analyze", "syscall-filter", "--no-pager"], capture_output=True, text=True,
                          timeout=60)
    groups, current = {}, None
    for line in proc.stdout.splitlines():
        if line.startswith("@"):
            current = groups.setdefault(line.strip(), [])
        elif current is not None and line.strip() and not line.strip().startswith("#"):
            current.append(line.strip())
    check("@system-service" in groups, f"systemd-analyze syscall-filter lists no @system-service:\n{proc.stdout}")
    return groups


def expand(tokens, groups):
    out = set()
    for token in tokens:
        if token.startswith("@"):
            check(token in groups, f"unknown system call group {token}")
            out |= expand(groups[token], groups)
        else:
            out.add(token)
    return out


# systemd.exec(5): always allowed under an allow-list.
IMPLICIT_SYSCALLS = {"execve", "exit", "exit_group", "getrlimit", "rt_sigreturn", "sigreturn", "clock_gettime",
                     "gettimeofday", "time", "nanosleep", "clock_nanosleep", "clock_getres"}


def allowed_syscalls(unit, groups):
    """The allow-list the unit's SystemCallFilter= lines give, in order: the first without "~"
    starts it, "~" lines take away, others add."""
    allowed = None
    for value in unit.get("Service", {}).get("SystemCallFilter", []):
        deny = value.startswith("~")
        names = expand(value.removeprefix("~").split(), groups)
        if allowed is None:
            check(not deny, "SystemCallFilter= starts with a deny list; this test expects an allow-list")
            allowed = set(names)
        elif deny:
            allowed -= names
        else:
            allowed |= names
    check(allowed, "no SystemCallFilter= allow-list")
    return allowed | IMPLICIT_SYSCALLS


ADDRESS_FAMILIES = {"AF_UNIX": 1, "AF_INET": 2, "AF_INET6": 10, "AF_NETLINK": 16}


def sandbox_spec(unit, root, groups):
    """What the sandbox of `unit` is, for sandboxed_argv(), with every path under `root`."""
    service = unit["Service"]
    check(single(unit, "Service", "ProtectSystem") == "strict", "ProtectSystem= is not strict")
    caps = sorted(words(unit, "Service", "CapabilityBoundingSet"))
    families = sorted(words(unit, "Service", "RestrictAddressFamilies"))
    check(all(f in ADDRESS_FAMILIES for f in families), f"an address family this test does not know: {families}")
    errno_name = service.get("SystemCallErrorNumber", ["EPERM"])[-1]
    return {
        "root": str(root),
        "writable": writable_paths(unit),
        "premade": premade_directories(unit),
        "protect_home": service.get("ProtectHome", ["no"])[-1] == "yes",
        "proc_subset_pid": service.get("ProcSubset", ["all"])[-1] == "pid",
        "caps": [c.lower().removeprefix("cap_") for c in caps],
        "no_new_privs": service.get("NoNewPrivileges", ["no"])[-1] == "yes",
        "syscalls": sorted(allowed_syscalls(unit, groups)),
        "errno": getattr(__import__("errno"), errno_name),
        "families": [ADDRESS_FAMILIES[f] for f in families],
        "mdwe": service.get("MemoryDenyWriteExecute", ["no"])[-1] == "yes",
        "umask": int(service.get("UMask", ["0022"])[-1], 8),
    }


def sandboxed_argv(ns, spec_file, argv, seccomp=True):
    """argv run in network namespace ns inside the unit's sandbox: `unshare --mount`, then this
    script as root sets up the mounts (--sandbox-mounts), then setpriv (bounding set,
    no-new-privs), then this script again loads the seccomp filters (--sandbox-exec) and execs argv."""
    return ["ip", "netns", "exec", ns, "unshare", "--mount", "--propagation", "private", "--",
            sys.executable, str(pathlib.Path(__file__).resolve()), "--sandbox-mounts", str(spec_file),
            "seccomp" if seccomp else "no-seccomp", "--", *argv]


def mount_points():
    points = []
    for line in pathlib.Path("/proc/self/mountinfo").read_text().splitlines():
        point = line.split()[4]
        points.append(re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), point))
    return points


def sandbox_mounts(spec, seccomp, argv):
    """Inside a fresh mount namespace, as root: ProtectSystem=strict with the unit's writable
    paths (under spec root; systemd makes StateDirectory= and RuntimeDirectory=, the
    ExecStartPre= mkdir the premade ones), ProtectHome=, ProcSubset=pid; then setpriv."""
    root = spec["root"]
    for d in spec["premade"]:
        os.makedirs(root + d, exist_ok=True)
    writable = []
    for path, optional in spec["writable"]:
        if not optional:
            os.makedirs(root + path, exist_ok=True)
        if os.path.isdir(root + path):
            writable.append(root + path)
    for d in writable:
        subprocess.run(["mount", "--bind", d, d], check=True)
    if spec["protect_home"]:
        for d in ("/home", "/root", "/run/user"):
            # The test's own programs may live there (a build in a home directory); the
            # installed launcher does not.
            needed = [argv[0], __file__, SANDBOX_PYTHON]
            if os.path.isdir(d) and not any(os.path.realpath(n).startswith(d + "/") for n in needed):
                subprocess.run(["mount", "-t", "tmpfs", "-o", "mode=000", "nicsync-sandbox", d], check=True)
    for point in sorted(set(mount_points())):
        if point in writable or point in ("/proc", "/dev") or point.startswith(("/proc/", "/dev/")):
            continue
        subprocess.run(["mount", "-o", "remount,bind,ro", point], check=False, capture_output=True)
    if spec["proc_subset_pid"]:
        subprocess.run(["mount", "-t", "proc", "-o", "subset=pid,hidepid=invisible", "proc", "/proc"], check=True)
    setpriv = ["setpriv", "--bounding-set", ",".join(["-all"] + [f"+{c}" for c in spec["caps"]]),
               "--inh-caps", "-all"]
    if spec["no_new_privs"]:
        setpriv.append("--no-new-privs")
    inner = [SANDBOX_PYTHON, str(pathlib.Path(__file__).resolve()), "--sandbox-exec", json.dumps(spec),
             "seccomp" if seccomp else "no-seccomp", "--", *argv]
    os.execvp("setpriv", [*setpriv, "--", *inner])


class ArgCmp(ctypes.Structure):
    _fields_ = [("arg", ctypes.c_uint), ("op", ctypes.c_int), ("datum_a", ctypes.c_uint64),
                ("datum_b", ctypes.c_uint64)]


SCMP_ACT_ALLOW = 0x7FFF0000
SCMP_CMP_EQ, SCMP_CMP_GE, SCMP_CMP_MASKED_EQ = 4, 5, 7
PROT_WRITE, PROT_EXEC, SHM_EXEC = 0x2, 0x4, 0o100000
AF_MAX = 46


def scmp_errno(value):
    return 0x00050000 | (value & 0xFFFF)


def load_filters(spec):
    """The unit's seccomp filters, as systemd loads them (one filter each): MemoryDenyWriteExecute=,
    RestrictAddressFamilies= and the system call allow-list (others fail with
    SystemCallErrorNumber=); native architecture only."""
    import errno
    lib = ctypes.CDLL("libseccomp.so.2", use_errno=True)
    lib.seccomp_init.restype = ctypes.c_void_p
    lib.seccomp_init.argtypes = [ctypes.c_uint32]
    lib.seccomp_rule_add_array.argtypes = [ctypes.c_void_p, ctypes.c_uint32, ctypes.c_int, ctypes.c_uint,
                                           ctypes.POINTER(ArgCmp)]
    lib.seccomp_syscall_resolve_name.argtypes = [ctypes.c_char_p]
    lib.seccomp_load.argtypes = [ctypes.c_void_p]
    lib.seccomp_release.argtypes = [ctypes.c_void_p]

    def rule(ctx, action, name, *cmps):
        nr = lib.seccomp_syscall_resolve_name(name.encode())
        if nr < 0:
            return  # not a system call of this architecture
        array = (ArgCmp * max(len(cmps), 1))(*cmps)
        rc = lib.seccomp_rule_add_array(ctx, action, nr, len(cmps), array)
        if rc != 0:
            raise OSError(-rc, f"seccomp_rule_add {name}")

    def load(ctx):
        rc = lib.seccomp_load(ctx)
        lib.seccomp_release(ctx)
        if rc != 0:
            raise OSError(-rc, "seccomp_load")

    if spec["mdwe"]:
        ctx = lib.seccomp_init(SCMP_ACT_ALLOW)
        wx = PROT_WRITE | PROT_EXEC
        rule(ctx, scmp_errno(errno.EPERM), "mmap", ArgCmp(2, SCMP_CMP_MASKED_EQ, wx, wx))
        rule(ctx, scmp_errno(errno.EPERM), "mprotect", ArgCmp(2, SCMP_CMP_MASKED_EQ, PROT_EXEC, PROT_EXEC))
        rule(ctx, scmp_errno(errno.EPERM), "pkey_mprotect", ArgCmp(2, SCMP_CMP_MASKED_EQ, PROT_EXEC, PROT_EXEC))
        rule(ctx, scmp_errno(errno.EPERM), "shmat", ArgCmp(2, SCMP_CMP_MASKED_EQ, SHM_EXEC, SHM_EXEC))
        load(ctx)
    if spec["families"]:
        ctx = lib.seccomp_init(SCMP_ACT_ALLOW)
        for family in range(AF_MAX):
            if family not in spec["families"]:
                rule(ctx, scmp_errno(errno.EAFNOSUPPORT), "socket", ArgCmp(0, SCMP_CMP_EQ, family, 0))
        rule(ctx, scmp_errno(errno.EAFNOSUPPORT), "socket", ArgCmp(0, SCMP_CMP_GE, AF_MAX, 0))
        load(ctx)
    # Last, as systemd does: the allow-list may not hold seccomp() itself.
    ctx = lib.seccomp_init(scmp_errno(spec["errno"]))
    for name in spec["syscalls"]:
        rule(ctx, SCMP_ACT_ALLOW, name)
    load(ctx)


def sandbox_exec(spec, seccomp, argv):
    if seccomp:
        load_filters(spec)
    os.umask(spec["umask"])
    os.execv(argv[0], argv)


def strace_syscalls(trace_file, program):
    """The system calls in an `strace -f` output made from the first execve of `program` on, by
    that process and everything it started."""
    names, started = set(), False
    for line in pathlib.Path(trace_file).read_text().splitlines():
        m = re.match(r"^(\d+)\s+(?:<\.\.\. )?([a-z_0-9]+)[( ]", line)
        if not m:
            continue
        pid, name = m.group(1), m.group(2)
        if not started:
            if name != "execve" or f'execve("{program}"' not in line:
                continue
            started = True
        names.add(name)
    check(started, f"no execve of {program} in the trace")
    return names


def live_apply_in_sandbox(t, units, rendered_dir, groups):
    """ii) nicsync apply --live in a simulated instance, inside each service's sandbox."""
    import netns_cloud as nc
    from harness import load_fixture
    launcher_path = launcher()
    fixture = SANDBOX_FIXTURE
    expect = load_fixture(fixture)["expect"]
    vendor = load_fixture(fixture)["vendor"]
    for name in SERVICES:
        with t.case(f"{name}: a live apply in its sandbox (only {', '.join(sorted(words(units[name], 'Service', 'CapabilityBoundingSet')))}, "
                    "no-new-privs, its mounts and seccomp filters) gives the expected kernel state and files"), \
                nc.Cloud(fixture, "unitstest") as cloud, \
                tempfile.TemporaryDirectory(prefix="nicsync-sandbox-root-") as root:
            os.chmod(root, 0o755)
            os.makedirs(os.path.join(root, "etc/netplan"))
            # What exists on a running system before the unit starts (systemd's, udev's).
            for d in ("run/systemd/system", "run/udev"):
                os.makedirs(os.path.join(root, d))
            cloud.write_oci_api_settings(root)
            cloud.start_metadata()
            spec_file = pathlib.Path(root).parent / f"{pathlib.Path(root).name}.spec.json"
            spec_file.write_text(json.dumps(sandbox_spec(units[name], root, groups)))
            try:
                argv = [launcher_path, "--root", root, "--vendor", vendor, "--live", "apply"]
                proc = subprocess.run(sandboxed_argv(cloud.inst, spec_file, argv), capture_output=True,
                                      text=True, timeout=120, env=no_leak_check_env())
                output = proc.stdout + proc.stderr
                check(proc.returncode == 0, f"exit {proc.returncode}:\n{output}")
                check("ran netplan generate" in output, f"netplan generate did not run:\n{output}")
                for sign in ("Read-only file system", "Permission denied", "Operation not permitted",
                             "not supported", "nicsync: error"):
                    check(sign not in output, f"{sign!r} in the output:\n{output}")
                diffs = nc.state_differences(cloud.kernel_state(), expect, by_ip=True)
                check(not diffs, "; ".join(diffs))
                written = sorted(str(p.relative_to(root)) for p in pathlib.Path(root).rglob("*") if p.is_file())
                for want in ("etc/netplan/90-nicsync.yaml", "var/lib/nicsync/state.json"):
                    check(want in written, f"{want} not written; files: {written}")
                check(any(w.startswith("run/systemd/network/") for w in written),
                      f"netplan generate wrote no networkd file; files: {written}")
                print(f"     {name}: {len(written)} files written, kernel as expected")

                if shutil.which("strace") is None:
                    print("     skip the system call trace: no strace")
                    continue
                # A second run into a fresh root, traced without the seccomp filters: every system
                # call the launcher and what it runs make must be in the unit's allow-list.
                second = pathlib.Path(root) / "second"
                second.mkdir()
                os.makedirs(second / "etc/netplan")
                for d in ("run/systemd/system", "run/udev"):
                    os.makedirs(second / d)
                cloud.write_oci_api_settings(str(second))
                spec_file.write_text(json.dumps(sandbox_spec(units[name], second, groups)))
                trace = pathlib.Path(root).parent / f"{pathlib.Path(root).name}.strace"
                argv = [launcher_path, "--root", str(second), "--vendor", vendor, "--live", "apply"]
                proc = subprocess.run(["strace", "-f", "-qq", "-o", str(trace), "--",
                                       *sandboxed_argv(cloud.inst, spec_file, argv, seccomp=False)],
                                      capture_output=True, text=True, timeout=180, env=no_leak_check_env())
                check(proc.returncode == 0, f"traced run: exit {proc.returncode}:\n{proc.stdout}{proc.stderr}")
                used = strace_syscalls(trace, launcher_path)
                spec = json.loads(spec_file.read_text())
                outside = sorted(used - set(spec["syscalls"]))
                check(not outside, f"system calls made but not allowed: {outside}")
                wx = [l for l in trace.read_text().splitlines()
                      if re.search(r"\bmprotect\(.*PROT_EXEC", l) or re.search(r"\bmmap\(.*PROT_WRITE\|PROT_EXEC", l)]
                check(not wx, "write+execute memory (MemoryDenyWriteExecute=):\n" + "\n".join(wx[:5]))
                print(f"     {name}: {len(used)} distinct system calls traced, all allowed")
            finally:
                spec_file.unlink(missing_ok=True)
                (pathlib.Path(root).parent / f"{pathlib.Path(root).name}.strace").unlink(missing_ok=True)


def main():
    t = Failures()
    os.umask(0o022)
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="nicsync-units-"))
    os.chmod(tmp, 0o755)  # systemd --test reads the units as nobody
    try:
        unit_dir = tmp / "units"
        unit_dir.mkdir()
        rule_dir = tmp / "udev"
        rule_dir.mkdir()
        sbindir = os.path.dirname(launcher())
        rendered = [render(source_file("systemd", name), unit_dir, sbindir) for name in UNITS]
        rule = render(source_file("udev", RULE), rule_dir, sbindir)
        units = {p.name: parse_unit(p) for p in rendered}
        run_line = f"{SYSTEMCTL} --no-block start nicsync-hotplug.timer"

        with t.case("config/systemd holds exactly the units config/CMakeLists.txt installs"):
            shipped = sorted(p.name.removesuffix(".in") for p in (CONFIG / "systemd").iterdir())
            check(shipped == sorted(UNITS), f"config/systemd has {shipped}, this test knows {sorted(UNITS)}")
            cmake = (CONFIG / "CMakeLists.txt").read_text()
            m = re.search(r"set\(NICSYNC_UNITS\s+([^)]*)\)", cmake)
            check(m, "config/CMakeLists.txt: no set(NICSYNC_UNITS ...)")
            check(sorted(m.group(1).split()) == sorted(UNITS), f"NICSYNC_UNITS is {m.group(1).split()}")

        with t.case("the launcher knows the command the boot unit runs (apply --boot)"):
            proc = subprocess.run([launcher(), "--help"], capture_output=True, text=True, timeout=30)
            check("--boot" in proc.stdout + proc.stderr, f"nicsync --help does not mention --boot:\n{proc.stdout}")

        with t.case("systemd-analyze verify passes on every unit, saying nothing about them"):
            rc, output = analyze_verify(rendered)
            print(f"     systemd-analyze verify --man=no {' '.join(p.name for p in rendered)}: exit {rc}, "
                  f"output: {output or '(none)'}")
            check(rc == 0, f"exit {rc}:\n{output}")
            said = about_our_units(output, unit_dir)
            check(not said, "warnings about our units:\n" + "\n".join(said))

        with t.case("systemd-analyze verify here does catch a broken unit (self-check)"):
            broken_dir = tmp / "broken"
            broken_dir.mkdir()
            broken = broken_dir / "nicsync.service"
            broken.write_text((unit_dir / "nicsync.service").read_text().replace(f"{sbindir}/nicsync", f"{sbindir}/nicsync-missing")
                              .replace("Type=oneshot", "Type=oneshoot"))
            rc, output = analyze_verify([broken])
            check(rc != 0 and "not executable" in output, f"missing ExecStart not reported (exit {rc}): {output}")
            check("oneshoot" in output, f"a bad Type= not reported: {output}")

        with t.case("ordering and dependency directives of each unit"):
            check_unit_directives(units, sbindir)

        with t.case("every nicsync unit a unit or the rule names is shipped"):
            names = set()
            for unit in units.values():
                for section in unit.values():
                    for values in section.values():
                        names |= {w for v in values for w in re.findall(r"nicsync[\w-]*\.(?:service|timer)", v)}
            names |= set(re.findall(r"nicsync[\w-]*\.(?:service|timer)", rule.read_text()))
            check(names <= set(UNITS), f"named but not shipped: {sorted(names - set(UNITS))}")

        with t.case("the udev rule's match keys and RUN"):
            check_udev_rule(rule)

        for name in SERVICES:
            with t.case(f"{name}: systemd-analyze security --offline=yes exposure at most {MAX_EXPOSURE}"):
                level, exposed = exposure(unit_dir / name)
                print(f"     {name}: exposure {level}; still exposed: " + "; ".join(
                    re.sub(r"\s{2,}", " ", l) for l in exposed))
                check(level <= MAX_EXPOSURE, f"exposure {level} > {MAX_EXPOSURE}")

        with t.case("every directory the launcher and netplan generate write is writable in each service"):
            written = written_paths()
            check({"kStatePath", "kNetplanPath", "kRefreshNeededPath"} <= set(written),
                  f"constants not found in the source: {sorted(set(WRITTEN_CONSTANTS) - set(written))}")
            directories = {name: (path if name.endswith("Dir") else os.path.dirname(path))
                           for name, path in written.items()}
            directories.update({f"netplan generate: {d}": d for d in NETPLAN_GENERATE_WRITES})
            for name in SERVICES:
                writable = writable_paths(units[name])
                check(single(units[name], "Service", "ProtectSystem") == "strict", f"{name}: ProtectSystem= is not strict")
                missing = sorted(f"{what} ({d})" for what, d in directories.items() if not covered(d, writable))
                check(not missing, f"{name}: not writable: {missing}")
                # RuntimeDirectory= is removed when a unit stops unless preserved: the refresh
                # marker must outlive nicsync.service for nicsync-online.service.
                if words(units[name], "Service", "RuntimeDirectory"):
                    check(single(units[name], "Service", "RuntimeDirectoryPreserve") == "yes",
                          f"{name}: RuntimeDirectoryPreserve= is not yes: stopping it would remove "
                          f"{written.get('kRefreshNeededPath')}")

        if SYSTEMD is None:
            print("skip boot transaction: no systemd binary on this machine")
        else:
            with t.case("boot without cloud-init: nicsync.service before network-pre.target and networkd, "
                        "not after basic.target; the online refresh after network-online.target"):
                root = make_root(tmp, rendered, ["nicsync.service", "nicsync-online.service"],
                                 extra_wants=["systemd-networkd.service"])
                jobs, edges, _, stderr = boot_transaction(root)
                check_boot(jobs, edges, stderr,
                           must_run=["nicsync.service", "network-pre.target", "systemd-networkd.service",
                                     "nicsync-online.service", "network-online.target"],
                           must_not_run=["nicsync-update.timer", "nicsync-hotplug.timer", "nicsync-update.service"],
                           orders=[("nicsync.service", "network-pre.target"),
                                   ("nicsync.service", "systemd-networkd.service"),
                                   ("network-online.target", "nicsync-online.service"),
                                   ("nicsync.service", "nicsync-online.service")],
                           not_orders=[("basic.target", "nicsync.service"), ("sysinit.target", "nicsync.service")])

            with t.case("boot with cloud-init: pulled in by cloud-init.target, after its local stage, no cycle"):
                root = make_root(tmp, rendered, ["nicsync.service", "nicsync-online.service"],
                                 extra_units=[("cloud-init-local.service", CLOUD_INIT_LOCAL),
                                              ("cloud-init.target", CLOUD_INIT_TARGET)],
                                 extra_wants=["cloud-init.target", "systemd-networkd.service"])
                jobs, edges, dump, stderr = boot_transaction(root)
                check_boot(jobs, edges, stderr,
                           must_run=["cloud-init-local.service", "nicsync.service", "network-pre.target"],
                           must_not_run=[],
                           orders=[("cloud-init-local.service", "nicsync.service"),
                                   ("nicsync.service", "network-pre.target"),
                                   ("nicsync.service", "systemd-networkd.service")],
                           not_orders=[("basic.target", "nicsync.service")])
                wanted = {v.split()[0] for v in dump.get("cloud-init.target", {}).get("Wants", [])}
                check("nicsync.service" in wanted, f"cloud-init.target does not want nicsync.service: {wanted}")

            with t.case("the periodic refresh timer starts at boot only once the admin enables it"):
                root = make_root(tmp, rendered, ["nicsync.service", "nicsync-online.service", "nicsync-update.timer"])
                jobs, edges, dump, stderr = boot_transaction(root)
                check_boot(jobs, edges, stderr, must_run=["nicsync-update.timer"], must_not_run=[],
                           orders=[], not_orders=[])
                wanted = {v.split()[0] for v in dump.get("timers.target", {}).get("Wants", [])}
                check("nicsync-update.timer" in wanted, f"timers.target does not want nicsync-update.timer: {wanted}")

            with t.case("a NIC event during boot (udev coldplug) runs the update after the boot runs and "
                        "network-online.target"):
                root = make_root(tmp, rendered, ["nicsync.service", "nicsync-online.service"],
                                 extra_units=[("nicsync-coldplug-test.target", COLDPLUG_TARGET)],
                                 extra_wants=["systemd-networkd.service"])
                jobs, edges, _, stderr = boot_transaction(root, unit="nicsync-coldplug-test.target")
                check_boot(jobs, edges, stderr,
                           must_run=["nicsync-update.service", "network-online.target", "nicsync.service"],
                           must_not_run=[],
                           orders=[("network-online.target", "nicsync-update.service"),
                                   ("nicsync.service", "nicsync-update.service"),
                                   ("nicsync-online.service", "nicsync-update.service")],
                           not_orders=[])

        udevadm = os.environ.get("UDEVADM") or shutil.which("udevadm")
        if udevadm is None or os.geteuid() != 0 or shutil.which("unshare") is None:
            print("skip udev rule under udevadm test: needs udevadm (Debian package udev), root and unshare")
        else:
            rule_text = rule.read_text()
            physical, virtual = physical_and_virtual_links()
            actions = ["add", "remove", "move", "change"]
            with t.case(f"udevadm test: physical NICs {physical} start the hotplug timer on add and remove only"):
                check(physical, "this machine has no physical NIC to test with")
                got = run_udevadm(udevadm, rule_text, "", [(d, a) for d in physical for a in actions], False)
                for dev in physical:
                    for action in actions:
                        r = got[(dev, action)]
                        check(r["read"], f"{dev} {action}: udevadm did not read our rule")
                        want = [run_line] if action in ("add", "remove") else []
                        check(r["runs"] == want, f"{dev} {action}: RUN {r['runs']}, expected {want}")
            devices = ["lo", "nsveth0", "nsveth1", "nsbr0", "nsveth0.5", "nsmacvlan0", "nstap0", "nsdummy0"]
            with t.case("udevadm test: virtual devices (loopback, veth, and bridge, VLAN, macvlan, tap, dummy "
                        "where the kernel has them) start nothing"):
                got = run_udevadm(udevadm, rule_text, VIRTUAL_SETUP, [(d, a) for d in devices for a in actions], True)
                missing = got.pop("missing", set())
                check(not missing & {"lo", "nsveth0", "nsveth1"}, f"devices not created: {sorted(missing)}")
                print(f"     tested: {[d for d in devices if d not in missing]}; not in this kernel: {sorted(missing)}")
                for dev in devices:
                    for action in actions:
                        if dev in missing:
                            continue
                        r = got[(dev, action)]
                        check(r["read"], f"{dev} {action}: udevadm did not read our rule")
                        check(r["runs"] == [], f"{dev} {action}: RUN {r['runs']}, expected none")
        needs = [tool for tool in ("ip", "unshare", "setpriv", "mount") if shutil.which(tool) is None]
        if os.geteuid() != 0 or needs or not any(pathlib.Path(d, "libseccomp.so.2").exists()
                                                 for d in ("/usr/lib/x86_64-linux-gnu", "/usr/lib64", "/usr/lib",
                                                           "/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu")):
            print(f"skip the live apply in the sandbox: needs root, libseccomp.so.2 and {needs or 'ip, unshare, setpriv'}")
        else:
            live_apply_in_sandbox(t, units, unit_dir, syscall_groups())
    finally:
        shutil.rmtree(tmp)
    t.finish()


if __name__ == "__main__":
    if len(sys.argv) > 4 and sys.argv[1] in ("--sandbox-mounts", "--sandbox-exec") and sys.argv[4] == "--":
        mode, spec_arg, seccomp = sys.argv[1:4]
        spec = json.loads(pathlib.Path(spec_arg).read_text() if mode == "--sandbox-mounts" else spec_arg)
        step = sandbox_mounts if mode == "--sandbox-mounts" else sandbox_exec
        step(spec, seccomp == "seccomp", sys.argv[5:])
    main()
