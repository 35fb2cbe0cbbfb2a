"""Small helpers of the tests that run real processes and sockets on loopback, on any OS.

Stopping a child the way a user does: Ctrl-C on POSIX (SIGINT); on Windows Ctrl-C cannot be sent to one
process, so the child is started in its own process group and gets CTRL_BREAK_EVENT (SIGBREAK, which the
client handles like Ctrl-C). A child that does not stop is killed with ``kill()`` (SIGKILL does not exist on
Windows). SIGTERM exists on Windows only as ``TerminateProcess``, which runs no handler: tests of SIGTERM
are POSIX-only.
"""
import os
import signal
import socket
import subprocess
import sys
import threading
import time

from pymodaq_plugins_timetagger.protocol import pymodaq5

WINDOWS = os.name == "nt"
#: Popen keyword arguments for a child that :func:`interrupt` must reach alone
GROUP = {"creationflags": subprocess.CREATE_NEW_PROCESS_GROUP} if WINDOWS else {}

#: a Python child whose Ctrl-C does not interrupt a blocking system call, as on Windows: SIGINT is
#: installed with SA_RESTART (siginterrupt False), so recv()/accept() go on and the Python handler runs
#: only when they return. The client's main thread must not be in such a call.
WINDOWS_LIKE_CTRL_C = [sys.executable, "-c", """
import signal, sys
_install = signal.signal
def _restarting(sig, handler):  # every handler installed later keeps SA_RESTART too
    old = _install(sig, handler)
    signal.siginterrupt(sig, False)
    return old
signal.signal = _restarting
signal.siginterrupt(signal.SIGINT, False)
from pymodaq_plugins_timetagger.bridge.__main__ import main
sys.exit(main(sys.argv[1:]))
"""]


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def pump(seconds: float) -> None:
    """Process Qt events for ``seconds`` (queued signals from helper threads are delivered)."""
    from qtpy import QtWidgets
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        QtWidgets.QApplication.processEvents()
        time.sleep(0.005)


def wait_for(condition, timeout: float = 10.0, what: str = "condition", meanwhile=lambda: None) -> None:
    """Wait until ``condition()`` is true, calling ``meanwhile()`` between looks; AssertionError naming ``what``
    after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout} s")
        meanwhile()
        time.sleep(0.005)


def pump_until(condition, timeout: float = 10.0, what: str = "condition") -> None:
    """:func:`wait_for` processing Qt events meanwhile (queued signals from helper threads are delivered)."""
    from qtpy import QtWidgets
    wait_for(condition, timeout, what, meanwhile=QtWidgets.QApplication.processEvents)


def interrupt(proc: subprocess.Popen) -> None:
    """Ctrl-C (POSIX) / Ctrl-Break (Windows; the child must have been started with :data:`GROUP`)."""
    proc.send_signal(signal.CTRL_BREAK_EVENT if WINDOWS else signal.SIGINT)


def stop_process(proc: subprocess.Popen, sig=None, timeout: float = 10) -> int:
    """Stop ``proc`` (``sig``, default :func:`interrupt`), wait, ``kill()`` after ``timeout`` s; its exit code."""
    if proc.poll() is None:
        if sig is None:
            interrupt(proc)
        else:
            proc.send_signal(sig)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
    return proc.returncode


CLIENT = [sys.executable, "-m", "pymodaq_plugins_timetagger.bridge"]


class Client:
    """The client as a subprocess (its output goes to a file, read on failure)."""

    def __init__(self, port, *args, tmp_path, name="client"):
        self.log = tmp_path / f"{name}.log"
        self.cmd = [*CLIENT, "--host", "127.0.0.1", "--port", str(port), "--address", "sim",
                    "--backoff-max-s", "0.3", "--log-level", "INFO", *args]
        self.proc = None
        self.start()

    def start(self):
        self._out = open(self.log, "a")
        self.proc = subprocess.Popen(self.cmd, stdout=self._out, stderr=subprocess.STDOUT, **GROUP)

    def output(self):
        return self.log.read_text(encoding="utf-8", errors="replace")

    def kill(self):
        self.proc.kill()
        self.proc.wait(10)
        self._out.close()

    def stop(self):
        code = stop_process(self.proc)  # Ctrl-C (Ctrl-Break on Windows)
        self._out.close()
        return code


class Peer:
    """A raw PyMoDAQ-5 peer on loopback: identifies as GRABBER, then sends whatever the test wants."""

    def __init__(self, port: int):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        self.send("GRABBER")

    def send(self, *objs) -> None:
        self.sock.sendall(pymodaq5.encode_frames(*objs))

    def close(self) -> None:
        self.sock.close()


def in_thread(fn):
    """Run ``fn`` in another thread (as a link or a server thread would); the returned box gets its ``value`` or its
    ``error``, and ``thread``."""
    box = {}

    def run():
        try:
            box["value"] = fn()
        except Exception as e:
            box["error"] = e
    t = threading.Thread(target=run, daemon=True)
    t.start()
    box["thread"] = t
    return box
