"""Running a test server that reports its port through a file (the mocks' --port-file)."""

import contextlib
import signal
import subprocess
import time


def stop(proc, timeout=5):
    """SIGTERM, then SIGKILL if it has not exited within `timeout` seconds."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@contextlib.contextmanager
def served(argv, port_file, what, timeout=10):
    """Starts argv (which writes its port to port_file once listening) and yields the port;
    stops the process on leaving. Its stderr is shown if it exits before listening."""
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + timeout
        while not port_file.exists():
            if proc.poll() is not None:
                raise RuntimeError(f"{what} exited: {proc.stderr.read().decode().strip()}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"{what} did not start within {timeout} s")
            time.sleep(0.01)
        yield int(port_file.read_text().strip())
    finally:
        stop(proc)
