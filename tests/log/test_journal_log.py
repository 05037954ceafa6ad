"""make_journal_log() against a journal socket of the test's own: nicsync-journal-probe logs fixed
entries through it (journald's native protocol, written by nicsync), and a stand-in for journald
(an AF_UNIX datagram socket bound at /run/systemd/journal/socket) reads that protocol and checks
every field of every entry: text items KEY=VALUE\\n, binary items KEY\\n<64-bit LE
length><bytes>\\n for values holding a newline, and an entry too large for a datagram passed as a
sealed memfd (SCM_RIGHTS).

The machine's journal is never touched: the script re-runs itself in a new mount namespace
(`unshare --mount --propagation private`, needs root) and mounts a private tmpfs on /run there
before binding the socket; the last case checks that the host's /run did not change. Also
checked: with no socket or with a socket nobody reads, every entry is written to stderr as a
plain line instead, and stderr_is_journal() with stderr a stream socket named by $JOURNAL_STREAM,
as systemd sets it up (systemd.exec(5)). Last, the real consumer: systemd-journald itself on the
private /run (with /var/log and /dev/kmsg covered there too), and journalctl reading back what
it stored."""

import array
import collections
import json
import os
import pathlib
import select
import socket
import struct
import subprocess
import sys
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent / "integration"))
from harness import Failures  # noqa: E402

PROBE = os.environ.get("NICSYNC_JOURNAL_PROBE", "nicsync-journal-probe")
JOURNAL_DIR = "/run/systemd/journal"
JOURNAL_SOCKET = JOURNAL_DIR + "/socket"
TMPFS_SOURCE = "nicsync-journal-test"    # the private /run's name in /proc/self/mountinfo
INSIDE = "NICSYNC_JOURNAL_TEST_OUTER_NS"  # the caller's mount namespace, set for the re-run inside
LARGE = 20 * 1024 * 1024                 # more than the 8 MiB (doubled) send buffer nicsync asks for
JOURNALD = ("/lib/systemd/systemd-journald", "/usr/lib/systemd/systemd-journald")

Run = collections.namedtuple("Run", "returncode stdout stderr")

COMMON = [("PRIORITY", b"6"), ("SYSLOG_IDENTIFIER", b"nicsync")]

# What nicsync-journal-probe's `log` mode sends, entry by entry (the order of items within an
# entry does not matter to journald; the order of entries does).
EXPECTED = [
    [("MESSAGE", b"wrote /etc/netplan/90-nicsync.yaml"), ("PRIORITY", b"6"), ("SYSLOG_IDENTIFIER", b"nicsync"),
     ("NICSYNC_VENDOR", b"aws"), ("NICSYNC_INSTANCE_ID", b"i-0123456789abcdef0"),
     ("NICSYNC_FILE", b"/etc/netplan/90-nicsync.yaml")],
    [("MESSAGE", b"added 172.31.45.7/32 to eth1"), ("PRIORITY", b"6"), ("SYSLOG_IDENTIFIER", b"nicsync"),
     ("NICSYNC_VENDOR", b"aws"), ("NICSYNC_INTERFACE", b"eth1"), ("NICSYNC_ACTION", b"add-address")],
    [("MESSAGE", b"eth2: the metadata lists no address"), ("PRIORITY", b"4"), ("SYSLOG_IDENTIFIER", b"nicsync"),
     ("NICSYNC_INTERFACE", b"eth2"), ("NICSYNC_DETAIL", b"first line\nsecond line")],
    [("MESSAGE", b"cannot reach the metadata service\nafter 3 tries"), ("PRIORITY", b"3"),
     ("SYSLOG_IDENTIFIER", b"nicsync"), ("NICSYNC_SOURCE", b"http://169.254.169.254/latest/meta-data/"),
     ("NICSYNC_INTERFACE_NAME", b"eth0")],
    [("MESSAGE", b"done: 2 changes, 1 warning, 1 error"), ("PRIORITY", b"6"), ("SYSLOG_IDENTIFIER", b"nicsync")],
]

# The same entries as plain lines (make_stream_log), when the journal cannot take them.
EXPECTED_PLAIN = ("nicsync: wrote /etc/netplan/90-nicsync.yaml\n"
                  "nicsync: added 172.31.45.7/32 to eth1\n"
                  "nicsync: warning: eth2: the metadata lists no address\n"
                  "nicsync: error: cannot reach the metadata service\nafter 3 tries\n"
                  "nicsync: done: 2 changes, 1 warning, 1 error\n")


def parse_native(data):
    """One datagram of journald's native protocol as a list of (name, value bytes, form), form
    being "text" or "binary"."""
    items = []
    i = 0
    while i < len(data):
        nl = data.index(b"\n", i)
        line = data[i:nl]
        if b"=" in line:
            name, _, value = line.partition(b"=")
            items.append((name.decode(), value, "text"))
            i = nl + 1
        else:
            (size,) = struct.unpack_from("<Q", data, nl + 1)
            start = nl + 1 + 8
            value = data[start:start + size]
            if len(value) != size or data[start + size:start + size + 1] != b"\n":
                raise ValueError(f"binary item {line!r}: {size} bytes announced, datagram ends early")
            items.append((line.decode(), value, "binary"))
            i = start + size + 1
    return items


class Journal:
    """journald's native socket, as far as reading entries goes."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(JOURNAL_SOCKET)
        self.memfds = 0  # entries that came as a file descriptor

    def close(self):
        self.sock.close()

    def receive(self):
        """One entry: the datagram, or the content of the memfd it passes."""
        data, ancdata, flags, _ = self.sock.recvmsg(LARGE + 65536, socket.CMSG_SPACE(16 * 4))
        assert not flags & socket.MSG_TRUNC, "datagram truncated"
        fds = array.array("i")
        for level, kind, payload in ancdata:
            if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                fds.frombytes(payload[:len(payload) - len(payload) % fds.itemsize])
        if not fds:
            return parse_native(data)
        assert len(fds) == 1 and not data, f"{len(fds)} descriptors and {len(data)} bytes in one datagram"
        self.memfds += 1
        try:
            chunks = []
            offset = 0
            while chunk := os.pread(fds[0], 1 << 20, offset):
                chunks.append(chunk)
                offset += len(chunk)
            return parse_native(b"".join(chunks))
        finally:
            os.close(fds[0])

    def run(self, *args, env=None):
        """Runs the probe, reading entries while it logs (the socket queue holds only
        net.unix.max_dgram_qlen datagrams). Returns (entries, Run)."""
        entries = []
        proc = subprocess.Popen([PROBE, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
        deadline = time.monotonic() + 60
        while True:
            readable, _, _ = select.select([self.sock], [], [], 0.05)
            if readable:
                entries.append(self.receive())
            elif proc.poll() is not None:
                break
            assert time.monotonic() < deadline, "the probe did not finish within 60 s"
        with proc.stdout, proc.stderr:
            return entries, Run(proc.returncode, proc.stdout.read().decode(), proc.stderr.read().decode())


def fields(entry):
    """An entry's (name, value) pairs in a canonical order."""
    return sorted((name, value) for name, value, _ in entry)


def check_probe_ok(run):
    assert run.returncode == 0, f"probe exited {run.returncode}: {run.stderr}"
    assert run.stdout == "" and run.stderr == "", f"the probe wrote:\n{run.stdout}{run.stderr}"


def case_entries(journal):
    entries, run = journal.run("log")
    check_probe_ok(run)
    assert len(entries) == len(EXPECTED), f"{len(entries)} entries, expected {len(EXPECTED)}: {entries}"
    for n, (got, want) in enumerate(zip(entries, EXPECTED)):
        assert fields(got) == sorted(want), f"entry {n}:\n got  {fields(got)}\n want {sorted(want)}"


def case_newlines(journal):
    entries, run = journal.run("log")
    check_probe_ok(run)
    binary = [(name, value) for entry in entries for name, value, form in entry if form == "binary"]
    assert binary == [("NICSYNC_DETAIL", b"first line\nsecond line"),
                      ("MESSAGE", b"cannot reach the metadata service\nafter 3 tries")], binary


def case_large(journal):
    before = journal.memfds
    entries, run = journal.run("large", str(LARGE))
    check_probe_ok(run)
    assert len(entries) == 1, f"{len(entries)} entries"
    assert journal.memfds == before + 1, "the large entry did not come as a memfd"
    got = fields(entries[0])
    want = sorted([("MESSAGE", b"large entry"), *COMMON, ("NICSYNC_BLOB", b"x" * LARGE)])
    assert got == want, f"large entry: got {[(n, len(v)) for n, v in got]}"


def case_no_socket():
    assert not os.path.exists(JOURNAL_SOCKET)
    proc = subprocess.run([PROBE, "log"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, f"probe exited {proc.returncode}"
    assert proc.stderr == EXPECTED_PLAIN, f"stderr:\n{proc.stderr}"


def case_nobody_listening():
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(JOURNAL_SOCKET)
    sock.close()  # the socket file stays; sending to it is refused
    try:
        proc = subprocess.run([PROBE, "log"], capture_output=True, text=True, timeout=60)
        assert proc.returncode == 0, f"probe exited {proc.returncode}"
        assert proc.stderr == EXPECTED_PLAIN, f"stderr:\n{proc.stderr}"
    finally:
        os.unlink(JOURNAL_SOCKET)


def stderr_is_journal(stderr_fd, journal_stream):
    env = {k: v for k, v in os.environ.items() if k != "JOURNAL_STREAM"}
    if journal_stream is not None:
        env["JOURNAL_STREAM"] = journal_stream
    proc = subprocess.run([PROBE, "stderr-is-journal"], stderr=stderr_fd, stdout=subprocess.PIPE, env=env,
                          timeout=60, check=True)
    return proc.stdout.decode().strip()


def case_stderr_is_journal():
    # journald's end of a service's stderr is a stream socket; JOURNAL_STREAM names the service's end.
    service_end, journald_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    other, other_peer = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        st = os.fstat(service_end.fileno())
        other_st = os.fstat(other.fileno())
        cases = [
            (f"{st.st_dev}:{st.st_ino}", "yes"),
            (None, "no"),
            (f"{other_st.st_dev}:{other_st.st_ino}", "no"),  # stderr was replaced by another stream
            (f"{st.st_dev}:{st.st_ino}x", "no"),
            ("", "no"),
        ]
        for journal_stream, want in cases:
            got = stderr_is_journal(service_end.fileno(), journal_stream)
            assert got == want, f"JOURNAL_STREAM={journal_stream!r}: {got}, expected {want}"
    finally:
        for s in (service_end, journald_end, other, other_peer):
            s.close()


def case_real_journald():
    journald = next((path for path in JOURNALD if os.access(path, os.X_OK)), None)
    assert journald, f"no systemd-journald at {' or '.join(JOURNALD)} (package systemd)"
    # Nothing of the host's: its persistent journal and its kernel log stay untouched.
    subprocess.run(["mount", "-t", "tmpfs", "-o", "mode=0755,size=16m", TMPFS_SOURCE, "/var/log"], check=True)
    subprocess.run(["mount", "--bind", "/dev/null", "/dev/kmsg"], check=True)
    proc = subprocess.Popen([journald], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            env={**os.environ, "SYSTEMD_LOG_TARGET": "console"})
    try:
        deadline = time.monotonic() + 20
        while not os.path.exists(JOURNAL_SOCKET):
            assert proc.poll() is None, f"systemd-journald exited {proc.returncode}: {proc.stderr.read()!r}"
            assert time.monotonic() < deadline, "systemd-journald made no socket within 20 s"
            time.sleep(0.05)
        for args in (["log"], ["large", str(LARGE)]):
            run = subprocess.run([PROBE, *args], capture_output=True, text=True, timeout=60)
            check_probe_ok(Run(run.returncode, run.stdout, run.stderr))
        subprocess.run(["journalctl", "--sync"], check=True, timeout=60)
        out = subprocess.run(["journalctl", "--directory=/run/log/journal", "--all", "-o", "json",
                              "SYSLOG_IDENTIFIER=nicsync"], capture_output=True, check=True, timeout=60).stdout
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        proc.stderr.close()
        subprocess.run(["umount", "/dev/kmsg"], check=True)
        subprocess.run(["umount", "/var/log"], check=True)

    def value(v):  # journalctl shows a value that is not printable UTF-8 as its bytes
        return bytes(v) if isinstance(v, list) else v.encode()
    stored = [sorted((k, value(v)) for k, v in json.loads(line).items() if not k.startswith("_"))
              for line in out.splitlines()]
    want = [sorted(entry) for entry in EXPECTED]
    want.append(sorted([("MESSAGE", b"large entry"), *COMMON, ("NICSYNC_BLOB", b"x" * LARGE)]))
    assert len(stored) == len(want), f"journald stored {len(stored)} entries, expected {len(want)}"
    for n, (got, expected) in enumerate(zip(stored, want)):
        assert got == expected, f"entry {n}:\n got  {[(k, v[:80]) for k, v in got]}\n want {[(k, v[:80]) for k, v in expected]}"


def inside():
    """The cases, in the private mount namespace."""
    failures = Failures()
    with failures.case("running in a mount namespace of its own, on a private /run"):
        outer = os.environ[INSIDE]
        assert os.readlink("/proc/self/ns/mnt") != outer, f"still in the mount namespace {outer}"
        host_run = os.stat("/run").st_dev
        # A limit, not a reservation: journald sizes its runtime journal files from it, and one
        # must hold the large entry (case_real_journald).
        subprocess.run(["mount", "-t", "tmpfs", "-o", "mode=0755,size=4g", TMPFS_SOURCE, "/run"], check=True)
        assert os.stat("/run").st_dev != host_run, "/run is still the host's"
        os.makedirs(JOURNAL_DIR)
    if failures.failed:
        failures.finish()

    journal = Journal()
    try:
        with failures.case("each entry arrives with exactly MESSAGE, PRIORITY, SYSLOG_IDENTIFIER and NICSYNC_*"):
            case_entries(journal)
        with failures.case("values and messages holding a newline arrive whole, in the binary form"):
            case_newlines(journal)
        with failures.case("an entry larger than a datagram arrives whole (memfd)"):
            case_large(journal)
    finally:
        journal.close()
        os.unlink(JOURNAL_SOCKET)
    with failures.case("no journal socket: every entry is a plain line on stderr"):
        case_no_socket()
    with failures.case("a journal socket nobody reads: every entry is a plain line on stderr"):
        case_nobody_listening()
    with failures.case("stderr_is_journal: true only when $JOURNAL_STREAM names the socket on fd 2"):
        case_stderr_is_journal()
    with failures.case("systemd-journald stores every entry with exactly the fields sent, the large one too"):
        case_real_journald()
    failures.finish()


def host_state():
    """What the test must leave alone: the host's journal directory and its mounts."""
    journal = os.stat(JOURNAL_DIR) if os.path.exists(JOURNAL_DIR) else None
    ours = [line for line in pathlib.Path("/proc/self/mountinfo").read_text().splitlines()
            if f" - tmpfs {TMPFS_SOURCE} " in line]
    return (journal.st_dev, journal.st_ino) if journal else None, ours


def outside():
    failures = Failures()
    if os.geteuid() != 0:
        print("needs root (a private mount namespace)")
        raise SystemExit(1)
    if not os.access(PROBE, os.X_OK):
        print(f"no probe at {PROBE} (set NICSYNC_JOURNAL_PROBE)")
        raise SystemExit(1)
    before = host_state()
    with failures.case("the cases in the private mount namespace"):
        proc = subprocess.run(["unshare", "--mount", "--propagation", "private", "--", sys.executable, __file__],
                              env={**os.environ, INSIDE: os.readlink("/proc/self/ns/mnt")}, timeout=300)
        assert proc.returncode == 0, f"exited {proc.returncode}"
    with failures.case("the host's /run/systemd/journal and mounts are unchanged"):
        after = host_state()
        assert after == before, f"before {before}, after {after}"
        assert not after[1], f"the private tmpfs is mounted on the host: {after[1]}"
    failures.finish()


if __name__ == "__main__":
    inside() if os.environ.get(INSIDE) else outside()
