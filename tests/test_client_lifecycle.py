"""The standalone client's life: stopping it (Ctrl-C, Quit) at any moment, surviving a server that goes
away mid-reply, refusing settings whose reply cannot fit a frame, a console that cannot encode a character.

The client runs as a real subprocess (its command line); the server side is a bare listener on 127.0.0.1
speaking the PyMoDAQ 5 wire with the package's own codec, so each test controls exactly what the server does
and when. Figures (seconds from a stop to the exit) are printed; the assertions are generous deadlines.
"""
import socket
import subprocess
import sys
import time

import numpy as np
import pytest

from tests.support.processes import GROUP, WINDOWS, WINDOWS_LIKE_CTRL_C, interrupt, stop_process

from pymodaq_plugins_timetagger.settings import default

from pymodaq_plugins_timetagger.protocol.paramxml import Param, from_xml_string, to_xml_string
from pymodaq_plugins_timetagger.protocol.dialects import PYMODAQ5
from pymodaq_plugins_timetagger.protocol import connection as C
from tests.support.peer import Peer

pytestmark = pytest.mark.timeout(120)

CLIENT = [sys.executable, "-m", "pymodaq_plugins_timetagger.bridge"]


class FakeServer:
    """A listener on 127.0.0.1 that accepts the client and speaks the PyMoDAQ 5 wire, step by step."""

    def __init__(self):
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(30)
        self.port = self.listener.getsockname()[1]
        self.sock = None

    def accept(self, timeout=30.0) -> dict:
        """Accept the client and read its hello; returns its Info entries."""
        self.listener.settimeout(timeout)
        self.sock, _ = self.listener.accept()
        self.sock.settimeout(30)
        self.wire = Peer(self.sock, C.SERVER, PYMODAQ5)
        assert self.read() == ("GRABBER", ())
        cmd, (xml,) = self.read()
        assert cmd == "Infos"
        self.infos = {}
        try:
            while True:  # the Info entries of the hello, then silence
                cmd, args = self.read(0.5)
                assert cmd == "Info"
                self.infos[args[0]] = args[1]
        except (TimeoutError, socket.timeout):
            pass
        return self.infos

    def read(self, timeout=30.0):
        return self.wire.read(timeout)

    def send(self, command, *args):
        self.sock.sendall(self.wire.message(command, *args))

    def set_info(self, name, value, typ="int"):
        xml = to_xml_string(Param(name=name, type=typ, value=value, title=name))
        self.send("set_info", ["settings_client", name], xml)

    def close(self):
        for s in (self.sock, self.listener):
            if s is not None:
                s.close()


@pytest.fixture
def fake_server():
    s = FakeServer()
    yield s
    s.close()


@pytest.fixture
def start_client(tmp_path):
    running = []

    def _start(port, *args, cmd=CLIENT, env=None):
        log = tmp_path / f"client{len(running)}.log"
        out = open(log, "wb")
        proc = subprocess.Popen([*cmd, "--host", "127.0.0.1", "--port", str(port), "--address", "sim",
                                 "--backoff-max-s", "0.3", *args], stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, env=env, **GROUP)
        proc.output = lambda: log.read_text(encoding="utf-8", errors="replace")
        running.append((proc, out))
        return proc

    yield _start
    for proc, out in running:
        stop_process(proc, timeout=5)
        out.close()


def seconds_to_exit(proc, stop, limit=10.0) -> float:
    """Call ``stop()`` and return the seconds until ``proc`` has exited (inf if not within ``limit``)."""
    t0 = time.perf_counter()
    stop()
    try:
        proc.wait(limit)
    except subprocess.TimeoutExpired:
        return float("inf")
    return time.perf_counter() - t0


# ------------------------------------------------------------------------------- stopping
def test_ctrl_c_stops_an_idle_connected_client_when_it_cannot_interrupt_recv(fake_server, start_client):
    """Windows: Ctrl-C does not interrupt a blocking recv(). Forced here on Linux (SA_RESTART): the client,
    idle and connected, must still end within 0.5 s (before: not until the server's next request)."""
    proc = start_client(fake_server.port, "--integration-s", "0.1", cmd=WINDOWS_LIKE_CTRL_C)
    fake_server.accept()
    time.sleep(0.3)
    dt = seconds_to_exit(proc, lambda: interrupt(proc))
    print(f"Ctrl-C -> exit, idle connected client (recv not interruptible): {dt:.3f} s")
    assert dt < 2, proc.output()
    assert proc.returncode == 0
    assert "the Time Tagger is freed" in proc.output() and "Traceback" not in proc.output()


def test_ctrl_c_during_a_long_window_aborts_it(fake_server, start_client):
    proc = start_client(fake_server.port, "--integration-s", "3600", cmd=WINDOWS_LIKE_CTRL_C)
    fake_server.accept()
    fake_server.send("Send Data 0D")
    time.sleep(0.5)  # the window has begun
    dt = seconds_to_exit(proc, lambda: interrupt(proc))
    print(f"Ctrl-C -> exit during a 3600 s window: {dt:.3f} s")
    assert dt < 2 and proc.returncode == 0, proc.output()
    assert "the Time Tagger is freed" in proc.output()


def test_quit_during_a_3600_s_window(fake_server, start_client):
    """Before: Quit was read only after the hour of integration."""
    proc = start_client(fake_server.port, "--integration-s", "1")
    fake_server.accept()
    fake_server.set_info("integration_s", 3600.0, "float")
    cmd, (path, xml) = fake_server.read()
    assert cmd == "Info_xml" and from_xml_string(xml).value == 3600.0
    fake_server.send("Send Data 0D")
    time.sleep(0.5)
    dt = seconds_to_exit(proc, lambda: fake_server.send("Quit"))
    print(f"Quit -> exit during a 3600 s window: {dt:.3f} s")
    assert dt < 2 and proc.returncode == 0, proc.output()
    assert "asked the client to quit" in proc.output()


def test_an_idle_client_waiting_for_a_server_stops_at_once(start_client):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = start_client(port, cmd=WINDOWS_LIKE_CTRL_C)
    time.sleep(1.5)
    dt = seconds_to_exit(proc, lambda: interrupt(proc))
    print(f"Ctrl-C -> exit while waiting for a server: {dt:.3f} s")
    assert dt < 2 and proc.returncode == 0, proc.output()
    assert "waiting for 127.0.0.1" in proc.output() and "connection refused" in proc.output()


@pytest.mark.skipif(WINDOWS, reason="SIGTERM is TerminateProcess on Windows: no handler runs")
def test_sigterm_frees_the_tagger(fake_server, start_client):
    import signal
    proc = start_client(fake_server.port, "--integration-s", "0.1")
    fake_server.accept()
    assert stop_process(proc, signal.SIGTERM) == 0
    assert "the Time Tagger is freed" in proc.output()


# ------------------------------------------------------------------------------- surviving the server
def test_server_gone_mid_reply_the_client_reconnects(fake_server, start_client):
    """A 16 MB reply to a server that has closed: before, the client died (traceback, exit 1)."""
    proc = start_client(fake_server.port, "--measurement", "histogram", "--n-bins", "1000000",
                        "--integration-s", "0.05")
    fake_server.accept()
    fake_server.send("Send Data 1D")
    fake_server.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\0\0\0\0\0\0\0")  # RST
    fake_server.sock.close()
    fake_server.sock = None
    infos = fake_server.accept(timeout=30)  # it came back
    assert proc.poll() is None and infos["measurement"] == "histogram"
    out = proc.output()
    assert "Traceback" not in out and "lost" in out
    fake_server.send("Send Data 1D")
    cmd, (dte,) = fake_server.read()
    assert cmd == "Done" and dte.data[0].data[0].shape == (1_000_000,)


def test_an_oversize_reply_is_refused_at_the_command_line():
    """--n-bins 5000000: 80 MB replies over the 64 MiB frame cap. Before: accepted, the client ran."""
    out = subprocess.run([*CLIENT, "--host", "127.0.0.1", "--port", "1", "--measurement", "correlation",
                          "--n-bins", "5000000"], capture_output=True, text=True, timeout=30)
    assert out.returncode == 2, out.stderr[-2000:]
    assert "--n-bins 5000000" in out.stderr and "64 MiB" in out.stderr and "at most" in out.stderr


def test_set_info_refusals_are_set_info_errors_and_the_applied_value_comes_back(fake_server, start_client):
    """An oversize n_bins by set_info is refused naming the limit, as Info 'set_info_error' (never 'error',
    which would answer a grab), then the value still applied comes back (Info_xml)."""
    proc = start_client(fake_server.port, "--measurement", "correlation", "--integration-s", "0.05")
    fake_server.accept()
    fake_server.set_info("n_bins", 5_000_000)
    cmd, (name, message) = fake_server.read()
    assert (cmd, name) == ("Info", "set_info_error"), (cmd, name, message)
    assert "n_bins 5000000" in message and "64 MiB" in message
    cmd, (path, xml) = fake_server.read()
    assert cmd == "Info_xml" and path[-1] == "n_bins" and from_xml_string(xml).value == default("correlation", "n_bins")
    fake_server.send("Send Data 1D")
    cmd, (dte,) = fake_server.read()
    assert cmd == "Done" and dte.data[0].data[0].shape == (default("correlation", "n_bins"),)
    assert proc.poll() is None


def test_a_console_that_cannot_encode_does_not_end_the_client(fake_server, start_client, tmp_path):
    """stdout redirected on Windows is encoded with the ANSI code page (cp1252 here): a set_info carrying
    'τ' put 'τ' in the status line, and print() raised UnicodeEncodeError. Before: the client died."""
    import os
    env = dict(os.environ, PYTHONIOENCODING="cp1252")
    proc = start_client(fake_server.port, "--measurement", "countrate", "--integration-s", "0.05", env=env)
    fake_server.accept()
    fake_server.set_info("channels", "1,\u03c4", "str")
    cmd, (name, message) = fake_server.read()
    assert (cmd, name) == ("Info", "set_info_error") and "\u03c4" in message
    fake_server.read()  # the applied value
    fake_server.send("Send Data 0D")
    cmd, (dte,) = fake_server.read()
    assert cmd == "Done" and np.isfinite(dte.data[0].data[0][0])
    assert proc.poll() is None
    text = (tmp_path / "client0.log").read_bytes().decode("cp1252")
    assert "\\u03c4" in text and "UnicodeEncodeError" not in text


# ------------------------------------------------------------------------------- refused, wrong service
def _listener_that(answer: bytes, seconds: float):
    """Accept for ``seconds``: send ``answer`` and close each connection at once; the number accepted."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.05)
    return listener, answer, seconds


def _count_connections(listener, answer, seconds) -> int:
    n = 0
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        try:
            conn, _ = listener.accept()
        except (TimeoutError, socket.timeout):
            continue
        n += 1
        if answer:
            conn.sendall(answer)
        conn.close()
    listener.close()
    return n


@pytest.mark.parametrize("answer, why", [
    (b"", "refused by its allowed clients"),  # what a server's allow-list does
    (b"SSH-2.0-OpenSSH_9.6\r\n", "not a PyMoDAQ server"),
], ids=["refused", "wrong-service"])
def test_refused_or_wrong_service_backs_off_and_says_why(start_client, answer, why):
    """Before: reconnection at once, thousands of times per second, saying nothing."""
    listener, answer, seconds = _listener_that(answer, 3.0)
    proc = start_client(listener.getsockname()[1], "--backoff-max-s", "1")
    n = _count_connections(listener, answer, seconds)
    print(f"{n} connection attempts in {seconds} s")
    assert 2 <= n <= 15, proc.output()
    time.sleep(0.3)
    out = proc.output()
    assert why in out and "[timetagger-client] waiting for 127.0.0.1" in out
    assert out.count("[timetagger-client]") < 10  # a line per change, not per attempt


def test_a_stop_set_just_before_a_window_is_not_lost():
    """Run.abort() is cleared when acquire() begins; the client's stop event is not (Quit read between the
    client's last check and the start of the window must still abort it)."""
    import threading

    from pymodaq_plugins_timetagger.hardware.access import open_tagger
    from pymodaq_plugins_timetagger.hardware.errors import AcquisitionAborted
    from pymodaq_plugins_timetagger.runs import make_run
    handle = open_tagger("sim", sim_clock="wall")
    try:
        run = make_run(handle, "countrate", integration_s=3600.0)
        stop = threading.Event()
        stop.set()
        t0 = time.perf_counter()
        with pytest.raises(AcquisitionAborted):
            run.acquire(stop=stop)
        assert time.perf_counter() - t0 < 2
        run.close()
    finally:
        handle.close()
