"""How the Time Tagger client reads the server's commands (issue 15): in the link's own thread, with no thread handing
them over; while an answer is measured, by asking the answer's ``stop`` event, which looks at the socket without ever
waiting. A Quit or a lost link found so aborts the answer; other commands wait their turn, in order.

In process: a real :class:`TaggerClient` with a responder of the test's own, against a bare listener on 127.0.0.1
speaking the PyMoDAQ 5 wire (tests/test_client_lifecycle.py's FakeServer), so each test controls what the server sends
and when. Every wait is bounded. Every test runs on both I/O paths (POSIX read(2)/write(2), and the sockets' own
timeouts as on Windows).
"""
import socket
import threading
import time

import numpy as np
import pytest

from pymodaq_plugins_timetagger.bridge import client as client_mod
from pymodaq_plugins_timetagger.bridge.client import COMMAND_QUEUE, TaggerClient
from pymodaq_plugins_timetagger.bridge.service import edit_path
from pymodaq_plugins_timetagger.hardware.errors import AcquisitionAborted
from pymodaq_plugins_timetagger import data_model
from pymodaq_plugins_timetagger.protocol.net import SPIN_MAX_S, SocketReader
from pymodaq_plugins_timetagger.protocol.paramxml import Param, from_xml_string, to_xml_string
from tests.support.io_paths import io_path  # noqa: F401 (autouse: both I/O paths)
from tests.support.processes import wait_for
from tests.support.responders import BareResponder
from tests.test_client_lifecycle import FakeServer

pytestmark = pytest.mark.timeout(60)




def _dte(value: float) -> data_model.DataToExport:
    dwa = data_model.DataWithAxes(name="ramp", data=[np.full(4, value)], dim="Data1D", units="counts",
                                  labels=["ch"], axes=[data_model.Axis(label="t", units="s", data=np.arange(4.0),
                                                                       index=0)])
    return data_model.DataToExport(name="test", data=[dwa])


class Responder(BareResponder):
    """Answers ``Send Data`` with a frame of the answer's number; holds each answer ``hold_s`` s, asking ``stop``."""

    def __init__(self, hold_s: float = 0.0):
        self.hold_s = hold_s
        self.threads: list[str] = []
        self.answered = 0
        self.aborted = 0
        self.edits: list = []
        self.began = threading.Event()

    def answer(self, dim, stop):
        self.threads.append(threading.current_thread().name)
        self.began.set()
        end = time.monotonic() + self.hold_s
        while time.monotonic() < end:
            if stop.wait(0.01):
                self.aborted += 1
                raise AcquisitionAborted("stopped")
        self.answered += 1
        return _dte(float(self.answered))

    def apply_edit(self, path, xml):
        self.edits.append((edit_path(path), from_xml_string(xml).value))
        return ["settings", *edit_path(path)], xml


@pytest.fixture
def link():
    """A started client serving ``responder`` to a FakeServer: yields (server, responder, client)."""
    made = []

    def _make(responder):
        server = FakeServer()
        client = TaggerClient("127.0.0.1", server.port, responder=responder, backoff_max_s=0.2)
        client.start()
        server.accept()
        made.append((server, client))
        return server, client

    yield _make
    for server, client in made:
        assert client.stop(10), "the client did not end"
        server.close()


def _done_value(server) -> float:
    cmd, (dte,) = server.read()
    assert cmd == "Done"
    return float(dte.data[0].data[0][0])


def test_the_link_thread_answers_the_commands_it_reads_itself(link):
    """Before: a reader thread per connection read every command and handed it to the link's thread through a queue
    (a wake-up of a sleeping thread per command, ~50 us on a virtual machine). Now one thread serves a connection."""
    responder = Responder()
    before = {t.name for t in threading.enumerate()}
    server, client = link(responder)
    for i in range(3):
        server.send("Send Data 1D")
        assert _done_value(server) == i + 1
    new = sorted(t.name for t in threading.enumerate() if t.name not in before)
    assert new == ["timetagger-link"], new
    assert set(responder.threads) == {"timetagger-link"}


def _answering(link):
    """A client in the middle of a 30 s answer: (server, client, responder)."""
    responder = Responder(hold_s=30)
    server, client = link(responder)
    server.send("Send Data 1D")
    assert responder.began.wait(5)
    return server, client, responder


def test_quit_during_an_answer_is_found_by_asking_stop(link):
    server, client, responder = _answering(link)
    t0 = time.monotonic()
    server.send("Quit")
    wait_for(lambda: not client._thread.is_alive(), 5, "the link ends")
    print(f"Quit -> the answer aborted and the link ended: {time.monotonic() - t0:.3f} s")
    assert responder.aborted == 1 and responder.answered == 0


def test_a_server_gone_during_an_answer_aborts_it_and_the_client_reconnects(link):
    server, client, responder = _answering(link)
    t0 = time.monotonic()
    server.sock.close()
    server.sock = None
    wait_for(lambda: responder.aborted == 1, 5, "the answer aborted")
    print(f"server gone -> the answer aborted: {time.monotonic() - t0:.3f} s")
    responder.hold_s = 0
    server.accept(timeout=10)  # it comes back
    server.send("Send Data 1D")
    assert _done_value(server) == 1
    assert "connection lost" in client.status.waiting_reason or client.status.connected


def _big_set_info(server, kib: int) -> bytes:
    """A set_info of about ``kib`` KiB (its parameter's title padded)."""
    xml = to_xml_string(Param(name="n_bins", type="int", value=5, title="n" * (kib * 1024)))
    return server.wire.message("set_info", ["settings_client", "n_bins"], xml)


@pytest.mark.parametrize("kib", [100, 300, 1100])
def test_a_quit_behind_a_long_command_during_an_answer_is_seen(link, kib):
    """Found by attacking the client: a command of 256 KiB or more (the server side's limit for reading without
    waiting) was left unread during the answer, and the Quit behind it with it, until the answer's end."""
    server, client, responder = _answering(link)
    t0 = time.monotonic()
    server.sock.sendall(_big_set_info(server, kib) + server.wire.message("Quit"))
    wait_for(lambda: not client._thread.is_alive(), 5, f"the link ends (Quit behind a {kib} KiB set_info)")
    print(f"{kib} KiB set_info + Quit -> the link ended: {time.monotonic() - t0:.3f} s")
    assert responder.aborted == 1 and responder.answered == 0


def test_a_server_gone_behind_half_a_long_command_during_an_answer_is_seen(link):
    server, client, responder = _answering(link)
    message = _big_set_info(server, 300)
    server.sock.sendall(message[:-100])
    time.sleep(0.2)
    server.sock.close()
    server.sock = None
    wait_for(lambda: responder.aborted == 1, 5, "the answer aborted")


@pytest.mark.parametrize("then", ["Quit", "close"])
def test_a_quit_or_a_lost_link_right_behind_a_full_queue_is_seen(link, then):
    """COMMAND_QUEUE commands, then a Quit (or the end of the connection), during an answer: the answer is aborted
    (found by attacking the client: nothing was read beyond the queue)."""
    server, client, responder = _answering(link)
    server.sock.sendall(server.wire.message("Send Data 1D") * COMMAND_QUEUE
                        + (server.wire.message("Quit") if then == "Quit" else b""))
    if then == "close":
        time.sleep(0.2)
        server.sock.close()
        server.sock = None
    wait_for(lambda: responder.aborted >= 1, 5, f"the answer aborted ({COMMAND_QUEUE} commands, then {then})")
    assert responder.answered == 0


def test_a_closed_socket_is_an_oserror_on_both_paths():
    """Found by attacking the client: on the portable path, a socket closed by another thread (stop()) made
    select(2) raise ValueError out of the link's thread (its traceback printed) instead of the OSError that ends a
    connection."""
    a, b = socket.socketpair()
    try:
        a.settimeout(1.0)
        reader = SocketReader(a)
        a.close()
        with pytest.raises(OSError):
            reader.wait_readable(0.0)
        with pytest.raises(OSError):
            reader.wait_message(0.05, spin_s=0.001)
    finally:
        b.close()


def test_a_command_not_all_here_during_an_answer_does_not_hold_it(link):
    """Half of a set_info comes during an answer: the answer still ends on time (the command is not waited for), and
    the set_info is read whole and applied after it."""
    responder = Responder(hold_s=0.3)
    server, client = link(responder)
    xml = to_xml_string(Param(name="n_bins", type="int", value=7, title="n_bins"))
    message = server.wire.message("set_info", ["settings_client", "n_bins"], xml)
    t0 = time.monotonic()
    server.send("Send Data 1D")
    assert responder.began.wait(5)
    server.sock.sendall(message[:len(message) // 2])
    assert _done_value(server) == 1
    took = time.monotonic() - t0
    print(f"answer of 0.3 s with half a command waiting: {took:.3f} s")
    assert took < 2.0
    assert responder.edits == []
    server.sock.sendall(message[len(message) // 2:])
    cmd, (path, xml_back) = server.read()
    assert cmd == "Info_xml" and from_xml_string(xml_back).value == 7
    assert responder.edits == [(["n_bins"], 7)]


def test_commands_that_come_during_an_answer_are_answered_in_order(link):
    """More commands than COMMAND_QUEUE come while an answer is measured: those beyond are left in the socket, and
    every one is answered, in the order sent."""
    responder = Responder(hold_s=0.3)
    server, client = link(responder)
    server.send("Send Data 1D")
    assert responder.began.wait(5)
    n = COMMAND_QUEUE + 4
    xml = to_xml_string(Param(name="n_bins", type="int", value=3, title="n_bins"))
    server.sock.sendall(b"".join([server.wire.message("Send Data 1D")] * n
                                 + [server.wire.message("set_info", ["settings_client", "n_bins"], xml)]))
    responder.hold_s = 0
    assert [_done_value(server) for _ in range(n + 1)] == [float(i + 1) for i in range(n + 1)]
    cmd, _ = server.read()
    assert cmd == "Info_xml" and responder.edits == [(["n_bins"], 3)]
    assert responder.aborted == 0


def test_the_client_polls_only_after_commands_that_came_quickly(link, monkeypatch):
    """It waits for a command polling first (net.spin_for) only when the previous one came within SPIN_MAX_S of its
    reply; an idle client sleeps (no polling at each of its idle looks, SIGNAL_POLL_S apart)."""
    asked = []  # (when, the gap it was asked for)
    real = client_mod.spin_for

    def spy(last_s):
        asked.append((time.monotonic(), last_s))
        return real(last_s)

    monkeypatch.setattr(client_mod, "spin_for", spy)
    server, client = link(Responder())
    for _ in range(20):  # back to back: the next command comes within microseconds of the reply
        server.send("Send Data 1D")
        _done_value(server)
    quick = len(asked)
    paused = time.monotonic()
    time.sleep(0.6)
    server.send("Send Data 1D")
    _done_value(server)
    gaps = [s for _, s in asked]
    idle = [s for t, s in asked if paused + 0.15 < t < paused + 0.55]
    print("gaps (ms), back to back:", [round(s * 1e3, 3) for s in gaps[1:quick]], "idle:", idle)
    assert real(gaps[0]) == 0.0  # nothing answered yet
    assert SPIN_MAX_S in [real(s) for s in gaps[1:quick]]  # a loopback peer is back within 0.5 ms, at least once
    assert idle and all(real(s) == 0.0 for s in idle)


def test_the_answers_stop_event_waits_like_threading_event(link):
    stop = client_mod._AnswerStop(threading.Event(), None)
    t0 = time.monotonic()
    assert stop.wait(0.05) is False and time.monotonic() - t0 >= 0.05
    assert stop.is_set() is False
    interrupted = threading.Event()
    stop = client_mod._AnswerStop(interrupted, None)
    threading.Timer(0.05, interrupted.set).start()
    assert stop.wait(5) is True and stop.is_set() is True
