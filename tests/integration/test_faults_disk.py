"""Disk faults while nicsync writes its files: a full file system (ENOSPC), a read-only directory,
a symbolic link planted at nicsync's own file, a world-writable configuration directory. Each
gets a one-line error naming the file and the reason, exit status 1, and leaves every file as it
was (checked on a root that already holds a good run's files): never a partial set of files.

The ENOSPC and read-only cases need mounts: each runs in a private mount namespace of its own
(`unshare -m --propagation private`, this script again with --in-namespace), so nothing is
mounted outside it and the mounts go away with it."""

import contextlib
import os
import pathlib
import subprocess
import sys
import tempfile

from harness import Failures, mock_server, run_nicsync, snapshot, target_root, write_oci_api_settings

MACS = "/latest/meta-data/network/interfaces/macs/"
# Per fixture: the metadata change that gives a later run something to write (one more private
# IP on a secondary NIC: on network-scripts its ifcfg- and rule- files change).
MORE_IPS = {
    "aws-seed-two-eni": (MACS + "02:86:10:65:fd:31/local-ipv4s", "10.0.0.226\n10.0.0.227"),
    "alibaba-seed-two-eni": (MACS + "00:16:3e:12:e7:27/private-ipv4s", '["10.0.0.20","10.0.0.22"]'),
}
CONFIG_DIR = {"netplan": "etc/netplan", "network-scripts": "etc/sysconfig/network-scripts"}
NICSYNC_FILE = {"netplan": "etc/netplan/90-nicsync.yaml", "network-scripts": "etc/sysconfig/network-scripts/ifcfg-eth1"}
PAGE = os.sysconf("SC_PAGE_SIZE")


def sh(*argv):
    subprocess.run(argv, check=True, capture_output=True, text=True)


@contextlib.contextmanager
def mounted_tmpfs(directory, size):
    """A small tmpfs (mode 0755, as a configuration directory has) over `directory`."""
    sh("mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "nicsync-faults", str(directory))
    try:
        yield
    finally:
        sh("umount", str(directory))


@contextlib.contextmanager
def read_only(directory):
    sh("mount", "--bind", str(directory), str(directory))
    try:
        sh("mount", "-o", "remount,ro,bind", str(directory))
        yield
    finally:
        sh("umount", str(directory))


def fill(directory, pages_left):
    """Fills the file system of `directory` with one file until exactly `pages_left` pages are free."""
    st = os.statvfs(directory)
    free = st.f_bavail * st.f_frsize - pages_left * PAGE
    (pathlib.Path(directory) / "filler").write_bytes(b"\0" * free)
    left = os.statvfs(directory).f_bavail * os.statvfs(directory).f_frsize // PAGE
    assert left == pages_left, f"filled {directory}, but {left} pages are free, wanted {pages_left}"


def changed_metadata(tmp, fixture):
    path, body = MORE_IPS[fixture]
    body_file = pathlib.Path(tmp) / "more-ips"
    body_file.write_text(body)
    return ["--override", f"{path}={body_file}"]


def check_failed_run(proc, root, before, message_parts):
    assert proc.returncode == 1, f"exit {proc.returncode}, stderr: {proc.stderr}"
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, f"want one line, got: {proc.stderr!r}"
    for part in message_parts:
        assert part in lines[0], f"{part!r} not in {lines[0]!r}"
    after = snapshot(root)
    assert after == before, f"files changed after a failed run: {sorted(set(after) ^ set(before))} " \
                            f"or content/mode/mtime of {sorted(k for k in before if after.get(k) != before[k])}"
    leftovers = [p for p in root.rglob(".nicsync-*")]
    assert not leftovers, f"temporary files left behind: {leftovers}"


def run_case(fixture, renderer, setup, message_parts):
    """The common shape: a root with a good run's files; `setup(root, config_dir, stack)` makes the
    fault (with `stack` an ExitStack for mounts: the first entry comes before the good run when
    `setup` returns a callable, which then runs after it); then a run with more IPs fails."""
    with tempfile.TemporaryDirectory() as tmp, target_root(fixture, renderer) as root, \
            contextlib.ExitStack() as stack:
        config_dir = root / CONFIG_DIR[renderer]
        after_good_run = setup(root, config_dir, stack)
        with mock_server(fixture) as good_url:
            write_oci_api_settings(root, good_url.oci)
            run_nicsync("--root", str(root), "--metadata-url", good_url, "apply", check_exit=0)
        assert (root / NICSYNC_FILE[renderer]).is_file(), f"the good run wrote no {NICSYNC_FILE[renderer]}"
        if after_good_run is not None:
            after_good_run()
        before = snapshot(root)
        with mock_server(fixture, *changed_metadata(tmp, fixture)) as bad_url:
            proc = run_nicsync("--root", str(root), "--metadata-url", bad_url, "apply")
        message_parts = [part.format(root=root) for part in message_parts]
        check_failed_run(proc, root, before, message_parts)


# The cases. Each takes (fixture, renderer) and raises AssertionError on failure.

def disk_full(fixture, renderer, pages_left, failing_file=""):
    def setup(root, config_dir, stack):
        stack.enter_context(mounted_tmpfs(config_dir, "256k"))
        return lambda: fill(config_dir, pages_left)
    run_case(fixture, renderer, setup,
             ["nicsync: error: cannot write {root}/" + CONFIG_DIR[renderer] + "/" + failing_file,
              ": No space left on device; nothing was changed"])


def read_only_directory(fixture, renderer):
    def setup(root, config_dir, stack):
        return lambda: stack.enter_context(read_only(config_dir))
    run_case(fixture, renderer, setup,
             ["nicsync: error:", "{root}/" + CONFIG_DIR[renderer] + "/", "Read-only file system",
              "nothing was changed"])


def symlink_planted(fixture, renderer):
    with tempfile.TemporaryDirectory(prefix="nicsync-victim-") as outside:
        victim = pathlib.Path(outside) / "victim"
        planted = {}

        def setup(root, config_dir, stack):
            def plant():
                target = root / NICSYNC_FILE[renderer]
                victim.write_bytes(target.read_bytes())
                victim.chmod(0o600)
                target.unlink()
                target.symlink_to(victim)
                planted["victim"] = (victim.read_bytes(), victim.stat().st_mode, victim.stat().st_mtime_ns)
            return plant
        run_case(fixture, renderer, setup,
                 ["nicsync: error: refusing to read {root}/" + NICSYNC_FILE[renderer] + ": it is a symbolic link"])
        st = victim.stat()
        assert (victim.read_bytes(), st.st_mode, st.st_mtime_ns) == planted["victim"], \
            "the file the link points to was changed"
        assert (pathlib.Path(outside) / "victim").is_file() and len(list(pathlib.Path(outside).iterdir())) == 1


def world_writable(fixture, renderer):
    def setup(root, config_dir, stack):
        return lambda: config_dir.chmod(0o777)
    run_case(fixture, renderer, setup,
             ["nicsync: error: refusing to ", "{root}/" + CONFIG_DIR[renderer] + "/",
              ": {root}/" + CONFIG_DIR[renderer] + " is writable by others (mode 0777)"])


CASES = {
    # The file system is full: not a page for a new file.
    "disk full": lambda fixture, renderer: disk_full(fixture, renderer, 0),
    # One page left: the first new file (ifcfg-eth1) is staged, the later rule-eth1 is not, and
    # the staged one is removed again (network-scripts only: netplan has its one file).
    "disk full after the first file": lambda fixture, renderer: disk_full(fixture, renderer, 1, "rule-eth1"),
    "read-only directory": read_only_directory,
    "symlink at nicsync's file": symlink_planted,
    "world-writable directory": world_writable,
}
NEEDS_MOUNTS = {"disk full", "disk full after the first file", "read-only directory"}


def in_namespace(name, fixture, renderer):
    """Runs one case in this (private mount namespace) process; exit status 0 when it passed."""
    try:
        CASES[name](fixture, renderer)
    except AssertionError as e:
        print(e)
        raise SystemExit(1)


def main():
    if len(sys.argv) == 5 and sys.argv[1] == "--in-namespace":
        in_namespace(*sys.argv[2:])
        return
    t = Failures()
    for fixture in ("aws-seed-two-eni", "alibaba-seed-two-eni"):
        for renderer in ("netplan", "network-scripts"):
            for name in CASES:
                if name == "disk full after the first file" and renderer == "netplan":
                    continue
                with t.case(f"{fixture}: {name} ({renderer})"):
                    if name in NEEDS_MOUNTS:
                        proc = subprocess.run(["unshare", "--mount", "--propagation", "private", sys.executable,
                                               os.path.abspath(__file__), "--in-namespace", name, fixture, renderer],
                                              capture_output=True, text=True, timeout=300)
                        assert proc.returncode == 0, (proc.stdout + proc.stderr).strip()
                    else:
                        CASES[name](fixture, renderer)
    t.finish()


if __name__ == "__main__":
    main()
