"""How the link reads the server's commands: its reader keeps reading while an answer is measured; a Quit or a lost
link sets the answer's stop; other commands wait their turn, in order, bounded in count and bytes.

In process: a real :class:`Link` with a responder of the test's own, against a bare listener on 127.0.0.1
speaking the PyMoDAQ 5 wire (tests/test_client_lifecycle.py's FakeServer), so each test controls what the server sends
and when. Every wait is bounded.
"""
import socket
import threading
import time

import numpy as np
import pytest

from pymodaq_plugins_timetagger.bridge.link import Link
from pymodaq_plugins_timetagger.bridge.service import edit_path
from pymodaq_plugins_timetagger.hardware.errors import AcquisitionAborted
from pymodaq_plugins_timetagger import data_model
from pymodaq_plugins_timetagger.protocol import connection as C
from pymodaq_plugins_timetagger.protocol.paramxml import Param, from_xml_string, to_xml_string
from tests.support.processes import wait_for
from tests.support.responders import BareResponder
from tests.test_client_lifecycle import FakeServer

pytestmark = pytest.mark.timeout(60)

#: commands the link keeps while it answers
COMMAND_QUEUE = C.MAX_QUEUED[C.CLIENT][0]




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
        client = Link("127.0.0.1", server.port, responder=responder, backoff_max_s=0.2)
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


def test_the_link_answers_commands_in_order(link):
    responder = Responder()
    server, client = link(responder)
    for i in range(3):
        server.send("Send Data 1D")
        assert _done_value(server) == i + 1


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


@pytest.mark.parametrize("kib", [100, 300, 900])
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
    """Many commands come while an answer is measured: every one is answered, in the order sent."""
    responder = Responder(hold_s=0.3)
    server, client = link(responder)
    server.send("Send Data 1D")
    assert responder.began.wait(5)
    n = COMMAND_QUEUE - 4
    xml = to_xml_string(Param(name="n_bins", type="int", value=3, title="n_bins"))
    server.sock.sendall(b"".join([server.wire.message("Send Data 1D")] * n
                                 + [server.wire.message("set_info", ["settings_client", "n_bins"], xml)]))
    responder.hold_s = 0
    assert [_done_value(server) for _ in range(n + 1)] == [float(i + 1) for i in range(n + 1)]
    cmd, _ = server.read()
    assert cmd == "Info_xml" and responder.edits == [(["n_bins"], 3)]
    assert responder.aborted == 0


def test_a_command_too_large_for_a_client_during_an_answer_ends_the_link_at_its_head(link):
    """A server cannot make the link hold 17 x 32 MiB while it answers (nor one 32 MiB command): the command is
    refused from its length, the answer is aborted and the link reconnects."""
    server, client, responder = _answering(link)
    xml = "x" * (32 << 20)
    head = server.wire.message("set_info", ["settings_client", "n_bins"], xml)[:1 << 16]
    server.sock.sendall(head)
    wait_for(lambda: responder.aborted == 1, 10, "the answer aborted")
    wait_for(lambda: "unreadable" in client.status.waiting_reason, 10, "the reason shown")
    assert responder.answered == 0
