"""The bridge under abuse, on loopback, each case bounded in time.

Server: garbage, huge announced frames, unknown types, truncated frames then silence, 1-byte writes,
connection storms; each time the offender is dropped with a log line saying why, memory does not follow
the announced size, and a well-behaved client connected at the same time keeps being answered.
Client: a server that sends garbage, that closes mid-request, that restarts 20 times; a grab during a
reconnection is a clear error, never stale data. Soak: many grabs without growth of sockets, threads or
memory (``--soak-grabs N`` for a longer run).
"""
import gc
import logging
import os
import socket
import struct
import threading
import time
import tracemalloc

import numpy as np
import pytest

from pymodaq_plugins_timetagger.protocol import pymodaq5
from pymodaq_plugins_timetagger.protocol.server import BridgeError, BridgeServer
from tests.support.bridge import start_client, stop_client
from tests.support.processes import wait_for

pytestmark = pytest.mark.timeout(120)


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd")) if os.path.isdir("/proc/self/fd") else 0


@pytest.fixture
def good_client(server):
    """Our real client (simulated tagger on the virtual clock: instant, exact) connected to ``server``."""
    client, t = start_client(server.port)
    wait_for(lambda: any(c.infos for c in server.clients()), what="the good client connects")
    yield client
    stop_client(client, t)


def request_ok(server, n=3):
    for _ in range(n):
        dte = server.request("0D", timeout=5)
        assert dte.data[0].extra["capture_duration_s"] == 0.001


def frame(payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + payload


def typed_str(s: str) -> bytes:
    return pymodaq5.encode(s)


GRABBER = frame(typed_str("GRABBER"))


# ----------------------------------------------------------------------------------- the server
@pytest.mark.parametrize("name,payload,why", [
    ("random bytes", bytes(np.random.default_rng(3).integers(0, 256, 4096, dtype=np.uint8)), "protocol error"),
    ("4 GiB frame", GRABBER + struct.pack(">I", 0xFFFFFFFF) + b"\x00" * 64, "exceeds the maximum"),
    ("unknown type", GRABBER + frame(struct.pack(">I", 7) + b"Foobar7" + b"\x00" * 8), "unknown type name"),
    ("truncated then silence", GRABBER + struct.pack(">I", 1000) + b"\x00\x00\x00\x03str", "timeout"),
])
def test_server_drops_the_offender_and_serves_the_others(server, good_client, caplog, name, payload, why):
    caplog.set_level(logging.INFO, logger="pymodaq_plugins_timetagger.protocol.server")
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        bad = socket.create_connection(("127.0.0.1", server.port), timeout=5)
        bad.sendall(payload)
        stop = threading.Event()
        served = []

        def keep_asking():  # the well-behaved client is asked all the while
            while not stop.is_set():
                served.append(server.request("0D", client_id=good_id, timeout=5))

        good_id = [c.id for c in server.clients() if c.infos][0]
        asker = threading.Thread(target=keep_asking, daemon=True)
        asker.start()
        wait_for(lambda: why in caplog.text, timeout=5, what=f"a log line saying '{why}'")
        peak = tracemalloc.get_traced_memory()[1] - before
        stop.set()
        asker.join(10)
    finally:
        tracemalloc.stop()
    assert "dropped" in caplog.text
    assert server.running and len(served) > 0
    assert peak < 20 * 1024 * 1024, f"{name}: {peak / 1e6:.1f} MB traced while dropping it"
    # the offender's connection was closed by the server
    bad.settimeout(5)
    try:
        assert bad.recv(1) == b""
    except ConnectionResetError:
        pass
    bad.close()
    request_ok(server)


def test_a_valid_frame_in_one_byte_writes_is_fine(server):
    s = socket.create_connection(("127.0.0.1", server.port), timeout=5)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    data = GRABBER + pymodaq5.encode_frames("Info", "serial", "ABC")
    for b in data:
        s.send(bytes([b]))
        time.sleep(0.0005)
    wait_for(lambda: server.clients() and server.clients()[0].infos.get("serial") == "ABC")
    s.close()


def test_fifty_connections_opened_and_dropped(server, good_client):
    fds = open_fds()
    threads = threading.active_count()
    for _ in range(50):
        s = socket.create_connection(("127.0.0.1", server.port), timeout=5)
        s.close()
    socks = [socket.create_connection(("127.0.0.1", server.port), timeout=5) for _ in range(20)]
    for s in socks:
        s.sendall(GRABBER[:5])  # a started identity, never finished
    for s in socks:
        s.close()
    wait_for(lambda: len(server.clients()) == 1 and len(server._conns) == 1, what="all dropped")
    request_ok(server)
    wait_for(lambda: threading.active_count() <= threads, what="their threads ended")
    assert open_fds() <= fds + 2


# ----------------------------------------------------------------------------------- the client
class ScriptedServer:
    """A listening socket whose connections are handled by ``script(conn)`` one after the other."""

    def __init__(self, script, port=0):
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", port))
        self.sock.listen(4)
        self.port = self.sock.getsockname()[1]
        self.script = script
        self.handled = 0
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            conn.settimeout(10)
            try:
                self.script(conn)
            except OSError:
                pass
            finally:
                conn.close()
                self.handled += 1

    def close(self):
        self.sock.close()


def read_hello(conn):
    """Read the client's hello (GRABBER, Infos, Info...) until it goes quiet."""
    conn.settimeout(0.3)
    got = b""
    try:
        while True:
            chunk = conn.recv(65536)
            if not chunk:
                break
            got += chunk
    except socket.timeout:
        pass
    conn.settimeout(10)
    return got


def make_client(port, **kw):
    return start_client(port, seed=2, backoff_max_s=0.1, **kw)


def test_client_survives_a_server_that_sends_garbage(caplog):
    caplog.set_level(logging.INFO)

    def garbage(conn):
        read_hello(conn)
        conn.sendall(b"\x00\x00\x00\x05\xde\xad\xbe\xef\x00" * 3)
        time.sleep(0.1)

    bad = ScriptedServer(garbage)
    client, t = make_client(bad.port)
    try:
        wait_for(lambda: bad.handled >= 2, what="the client reconnects after garbage")
        assert "unreadable" in caplog.text
        bad.close()
        with BridgeServer("127.0.0.1", 0).start() as good:  # and serves a sane server afterwards
            client.port = good.port
            wait_for(lambda: good.clients(), what="reconnect to the good server")
            assert good.request("0D", timeout=5).data[0].extra["capture_duration_s"] == 0.001
    finally:
        client.shutdown()
        t.join(10)


def test_client_survives_a_server_that_closes_mid_request():
    def ask_then_close(conn):
        read_hello(conn)
        conn.sendall(pymodaq5.encode_frames("Send Data 0D"))
        conn.close()  # before the answer

    s = ScriptedServer(ask_then_close)
    client, t = make_client(s.port)
    try:
        wait_for(lambda: s.handled >= 3, what="three reconnections")
        assert t.is_alive()
    finally:
        client.shutdown()
        s.close()
        t.join(10)


def test_client_follows_a_server_restarted_twenty_times():
    srv = BridgeServer("127.0.0.1", 0).start()
    port = srv.port
    client, t = make_client(port)
    try:
        for i in range(20):
            wait_for(lambda: srv.clients(), timeout=10, what=f"reconnection {i}")
            dte = srv.request("0D", timeout=5)
            assert dte.data[0].extra["capture_duration_s"] == 0.001
            srv.stop()
            srv = BridgeServer("127.0.0.1", port).start()
        assert client.status.requests_served == 20
    finally:
        client.shutdown()
        srv.stop()
        t.join(10)


def test_a_grab_during_a_reconnection_is_an_error_not_stale_data():
    srv = BridgeServer("127.0.0.1", 0).start()
    port = srv.port
    client, t = make_client(port)
    try:
        wait_for(lambda: srv.clients())
        first = srv.request("0D", timeout=5)
        srv.stop()
        srv = BridgeServer("127.0.0.1", port).start()
        # nobody has reconnected yet (or just now): the grab either fails clearly or gets fresh data
        try:
            fresh = srv.request("0D", timeout=0.5)
        except BridgeError as e:
            assert "no client connected" in str(e) or "did not answer" in str(e)
        else:
            assert fresh.data[0].timestamp > first.data[0].timestamp
    finally:
        client.shutdown()
        srv.stop()
        t.join(10)


# ----------------------------------------------------------------------------------- soak
def test_soak_no_growth(server, good_client, request):
    n = request.config.getoption("--soak-grabs")
    for _ in range(200):  # warm-up: caches, first-time allocations
        server.request("0D", timeout=5)
    gc.collect()
    fds, threads = open_fds(), threading.active_count()
    tracemalloc.start()
    try:
        start = tracemalloc.get_traced_memory()[0]
        for i in range(n):
            server.request("0D", timeout=5)
        gc.collect()
        grown = tracemalloc.get_traced_memory()[0] - start
    finally:
        tracemalloc.stop()
    assert open_fds() <= fds and threading.active_count() <= threads
    assert grown < 2 * 1024 * 1024, f"{grown / 1e6:.2f} MB more traced after {n} grabs"
    assert good_client.status.requests_served >= n + 200
