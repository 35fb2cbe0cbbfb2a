"""Peers that misbehave without breaking the protocol: a server that hangs up after one command, unknown commands by
the hundred, bare connect + close in a loop, idle newcomers pushing out a served client. Each must cost a bounded
amount (reconnections, log lines, status messages) and never take the service away from a good peer. Real sockets on
127.0.0.1, real Link and BridgeServer; every wait is bounded."""
from __future__ import annotations

import logging
import socket
import threading
import time

import numpy as np
import pytest

from pymodaq_plugins_timetagger import data_model
from pymodaq_plugins_timetagger.bridge.link import Link
from pymodaq_plugins_timetagger.protocol import pymodaq5
from pymodaq_plugins_timetagger.protocol.server import BridgeServer
from tests.support.processes import wait_for
from tests.support.responders import BareResponder

pytestmark = pytest.mark.timeout(60)


class Quick(BareResponder):
    def __init__(self):
        self.answered = 0

    def answer(self, dim, stop):
        self.answered += 1
        dwa = data_model.DataWithAxes(name="x", data=[np.array([float(self.answered)])], dim="Data0D")
        return data_model.DataToExport(name="x", data=[dwa])


def test_a_server_that_hangs_up_after_one_command_is_not_hammered():
    """It sends one well-formed command and closes: the link's backoff keeps growing (it is reset by a successful
    exchange of data, not by any command received), so the reconnections slow down."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(20)
    accepted = []
    link = Link("127.0.0.1", listener.getsockname()[1], responder=Quick(), backoff_max_s=5.0)
    link.start()
    try:
        for _ in range(5):
            sock, _ = listener.accept()
            accepted.append(time.monotonic())
            sock.sendall(pymodaq5.encode_frames("Send Data 0D"))
            sock.close()
        gaps = [b - a for a, b in zip(accepted, accepted[1:])]
        print("gaps between reconnections (s):", [round(g, 3) for g in gaps])
        assert gaps[-1] >= 0.6, gaps  # 0.1, 0.2, 0.4, 0.8 s: doubling, never back to the first
    finally:
        assert link.stop(10)
        listener.close()


def test_unknown_commands_from_a_server_are_logged_a_bounded_number_of_times(caplog):
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(20)
    responder = Quick()
    link = Link("127.0.0.1", listener.getsockname()[1], responder=responder, backoff_max_s=0.2)
    caplog.set_level(logging.INFO)
    link.start()
    try:
        sock, _ = listener.accept()
        sock.sendall(pymodaq5.encode_frames(*[f"bogus {i}" for i in range(2000)], "Send Data 0D"))
        wait_for(lambda: responder.answered == 1, 20, "the grab behind the unknown commands answered")
        lines = [r for r in caplog.records if "unknown command" in r.getMessage()]
        assert 1 <= len(lines) <= 3, len(lines)
        sock.close()
    finally:
        assert link.stop(10)
        listener.close()


def test_bare_connect_and_close_in_a_loop_gives_a_bounded_number_of_events():
    events = []
    server = BridgeServer("127.0.0.1", 0, handshake_timeout=2.0,
                          on_event=lambda kind, client, data: events.append((kind, data))).start()
    try:
        for _ in range(60):
            socket.create_connection(("127.0.0.1", server.port), timeout=5).close()
        wait_for(lambda: not server._conns and events, 20, "every connection seen and dropped")
        dropped = [d for k, d in events if k == "dropped"]
        assert 1 <= len(dropped) <= 2, dropped
    finally:
        server.stop()


def _grabber() -> socket.socket:
    s = socket.create_connection(("127.0.0.1", _grabber.port), timeout=5)
    s.sendall(pymodaq5.encode_frames("GRABBER"))
    return s


def test_idle_newcomers_from_one_host_never_push_out_a_served_client():
    server = BridgeServer("127.0.0.1", 0, max_per_host=4, handshake_timeout=5.0).start()
    _grabber.port = server.port
    responder = Quick()
    link = Link("127.0.0.1", server.port, responder=responder, backoff_max_s=0.2)
    link.start()
    idle = []
    try:
        wait_for(lambda: server.clients(), 10, "the good client")
        good = server.clients()[0].id
        assert server.request("0D", good, timeout=5).data[0].data[0][0] == 1.0
        for _ in range(12):  # each newcomer beyond 4 from this host evicts someone: never the served client
            idle.append(_grabber())
            time.sleep(0.02)
        wait_for(lambda: sum(c.client_type == "GRABBER" for c in server.clients()) >= 3, 10, "newcomers in")
        assert good in [c.id for c in server.clients()]
        assert server.request("0D", good, timeout=5).data[0].data[0][0] == 2.0
    finally:
        for s in idle:
            s.close()
        assert link.stop(10)
        server.stop()
