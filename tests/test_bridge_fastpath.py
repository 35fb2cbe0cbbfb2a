"""The bridge's fast path (issue 15): messages read without waiting, the connection's thread parked while requests
read their own replies, replies read in the requesting thread, sends straight to the socket. Real sockets on
loopback; every check also runs on the portable I/O path (socket timeouts instead of read(2)/write(2))."""
import select
import socket
import threading
import time

import numpy as np
import pytest

from pymodaq_plugins_timetagger import data_model
from pymodaq_plugins_timetagger.protocol import net
from pymodaq_plugins_timetagger.protocol.net import SPIN_MAX_S, SocketReader, WouldWait, send_all
from pymodaq_plugins_timetagger.protocol.server import _Connection
from pymodaq_plugins_timetagger.protocol.wire import Pymodaq5Wire
from tests.support.io_paths import io_path  # noqa: F401 (autouse: both I/O paths)
from tests.support.processes import wait_for
from tests.test_bridge_server import RawClient

BRIDGE_MESSAGE_TIMEOUT_S = 5.0  # the conftest's ``server``




@pytest.fixture
def pair():
    listener = socket.create_server(("127.0.0.1", 0))
    a = socket.create_connection(listener.getsockname(), timeout=5)
    b, _ = listener.accept()
    listener.close()
    yield a, b
    a.close()
    b.close()


def _reply(n: int) -> bytes:
    dwa = data_model.DataWithAxes(name="g2", data=[np.linspace(0.0, 1.0, n)], dim="Data1D", units="counts",
                                  labels=["ch"], axes=[data_model.Axis(label="tau", units="s",
                                                                       data=np.arange(n) * 1e-12, index=0)])
    return Pymodaq5Wire(None).message("Done", data_model.DataToExport(name="tt", data=[dwa]))


def _read_reply(wire):
    assert wire.read_command() == "Done"
    return wire.read_done()


def _same(a: data_model.DataToExport, b: data_model.DataToExport) -> bool:
    return (len(a.data) == len(b.data) and all(
        x.name == y.name and np.array_equal(x.data[0], y.data[0]) and np.array_equal(x.axes[0].data, y.axes[0].data)
        for x, y in zip(a.data, b.data)))


@pytest.mark.parametrize("cut", [1, 4, 8, 9, 20, 40, 100, 300, 1000, 4000, -9, -1])
def test_an_incomplete_message_read_without_waiting_is_put_back_whole(pair, cut):
    """Whatever part of a reply has come, reading it without waiting takes nothing: the reader is as before, and
    once the rest comes the same reply is read, waiting or not."""
    a, b = pair
    frame = _reply(500)
    reader = SocketReader(b, message_timeout=5)
    wire = Pymodaq5Wire(reader)
    a.sendall(frame[:cut])
    wait_for(lambda: _socket_bytes(reader) == len(frame[:cut]))
    with pytest.raises(WouldWait):
        reader.without_waiting(lambda: _read_reply(wire))
    assert reader.peek(len(frame)) + _peek(reader) == frame[:cut]
    a.sendall(frame[cut:] + frame)  # the rest, and the same reply again
    reader.wait_message(5)
    waited = _read_reply(wire)
    wait_for(lambda: reader.buffered() + _socket_bytes(reader) == len(frame))
    assert _same(reader.without_waiting(lambda: _read_reply(wire)), waited)
    assert reader.buffered() == 0 and _socket_bytes(reader) == 0


def _peek(reader) -> bytes:
    """What the socket holds and nobody read yet (not consumed)."""
    if not select.select([reader.sock], [], [], 0)[0]:
        return b""
    timeout = reader.sock.gettimeout()
    reader.sock.settimeout(1)
    try:
        return reader.sock.recv(1 << 20, socket.MSG_PEEK)
    finally:
        reader.sock.settimeout(timeout)


def _socket_bytes(reader) -> int:
    return len(_peek(reader))


def test_a_whole_message_is_read_without_waiting_and_equals_the_waiting_read(pair):
    a, b = pair
    frame = _reply(700)
    reader = SocketReader(b, message_timeout=5)
    wire = Pymodaq5Wire(reader)
    a.sendall(frame + frame)
    reader.wait_message(5)
    waited = _read_reply(wire)
    wait_for(lambda: _socket_bytes(reader) + reader.buffered() >= len(frame))
    now = reader.without_waiting(lambda: _read_reply(wire))
    assert _same(now, waited) and reader.buffered() == 0


def test_a_message_over_the_limit_is_never_read_without_waiting(pair, monkeypatch):
    """Large frames are left to readers that may wait (their memory is reserved from the server's budget)."""
    monkeypatch.setattr(net, "NOWAIT_MAX_BYTES", 4096)
    a, b = pair
    frame = _reply(1000)  # 16 kB of data
    reader = SocketReader(b, message_timeout=5)
    wire = Pymodaq5Wire(reader)
    a.sendall(frame)
    wait_for(lambda: _socket_bytes(reader) >= len(frame))
    with pytest.raises(WouldWait):
        reader.without_waiting(lambda: _read_reply(wire))
    reader.wait_message(5)
    assert _read_reply(wire).data[0].data[0].size == 1000


def test_send_all_times_out_on_a_peer_that_does_not_read_and_delivers_to_one_that_does(pair):
    a, b = pair
    a.settimeout(5)
    t0 = time.monotonic()
    with pytest.raises(socket.timeout):
        send_all(a, b"x" * (64 << 20), 0.3)  # nobody reads b: the kernel buffers fill up
    assert time.monotonic() - t0 < 3
    big = np.arange(1 << 20, dtype=np.float64).tobytes()
    c, d = socket.socketpair()
    c.settimeout(5)
    got = bytearray()

    def drain():
        while len(got) < len(big):
            got.extend(d.recv(1 << 20))
    t = threading.Thread(target=drain)
    t.start()
    send_all(c, big, 10)
    t.join(10)
    assert bytes(got) == big
    c.close()
    d.close()


def _answering(reply_bytes):
    return lambda w, cmd: reply_bytes


def test_requests_in_a_row_keep_the_connection_thread_off_the_socket(server, monkeypatch):
    """While requests read their own replies the connection's thread does not wake up for them (it would only
    contend for the locks when the reply comes): 100 requests, a few wake-ups at most."""
    wakes = []
    readable = _Connection.readable
    monkeypatch.setattr(_Connection, "readable", lambda self, t: wakes.append(t) or readable(self, t))
    c = RawClient(server.port, answer=_answering(_reply(64)))
    wait_for(lambda: server.clients())
    server.request("1D", timeout=5)
    before = len(wakes)
    for _ in range(100):
        assert server.request("1D", timeout=5).data[0].data[0].size == 64
    assert len(wakes) - before <= 5, f"the connection's thread woke {len(wakes) - before} times"
    c.close()


def test_what_comes_unasked_after_a_request_is_still_read(server):
    """Parked, the connection's thread comes back to the socket after its linger: an Info sent after the last
    reply reaches the server though nobody asks again, and a submitted request (read by that thread) is
    answered."""
    events = []
    server.add_listener(lambda kind, client, data: events.append((kind, data)))
    c = RawClient(server.port, answer=_answering(_reply(8)))
    wait_for(lambda: server.clients())
    server.request("1D", timeout=5)
    c.sock.sendall(c.wire.message("Info", "note", "after the reply"))
    wait_for(lambda: ("info", ("note", "after the reply")) in events, timeout=5)
    server.request("1D", timeout=5)
    done = threading.Event()
    p = server.submit("1D", on_done=lambda _: done.set())
    assert done.wait(5) and p.error is None and p.result.data[0].data[0].size == 8
    c.close()


def test_a_reply_that_is_all_here_is_read_in_the_calling_thread(server):
    c = RawClient(server.port, answer=_answering(_reply(4096)))
    wait_for(lambda: server.clients())
    where = []
    p = server.submit("1D", timeout=5, on_done=lambda _: where.append(threading.get_ident()), read_within_s=5)
    assert p.event.is_set() and p.error is None and where == [threading.get_ident()]
    assert p.result.data[0].data[0].size == 4096
    c.close()


def test_a_trickled_reply_never_holds_the_calling_thread(server):
    """Half a reply, then a pause: submit returns within its read_within_s, taking nothing; the connection's thread
    reads the whole reply when it comes (and calls back from there)."""
    frame = _reply(2000)
    c = RawClient(server.port)
    wait_for(lambda: server.clients())
    done = threading.Event()
    where = []

    def late():
        wait_for(lambda: "Send Data 1D" in c.commands)
        c.sock.sendall(frame[:len(frame) // 2])
        time.sleep(0.5)
        c.sock.sendall(frame[len(frame) // 2:])
    sender = threading.Thread(target=late)
    sender.start()
    t0 = time.monotonic()
    p = server.submit("1D", timeout=5, read_within_s=0.1,
                      on_done=lambda _: (where.append(threading.get_ident()), done.set()))
    assert time.monotonic() - t0 < 0.4 and not p.event.is_set()
    assert done.wait(5) and p.error is None and where != [threading.get_ident()]
    assert np.array_equal(p.result.data[0].data[0], np.linspace(0.0, 1.0, 2000))
    sender.join(5)
    c.close()


def test_a_slow_reply_is_left_to_the_connection_thread(server):
    def slow(w, cmd):
        time.sleep(0.3)
        return _reply(16)
    c = RawClient(server.port, answer=slow)
    wait_for(lambda: server.clients())
    done = threading.Event()
    t0 = time.monotonic()
    p = server.submit("1D", timeout=5, read_within_s=0.05, on_done=lambda _: done.set())
    assert time.monotonic() - t0 < 0.25 and not p.event.is_set()
    assert done.wait(5) and p.error is None and p.result.data[0].data[0].size == 16
    c.close()


def test_only_a_client_that_answers_fast_is_polled_for(server):
    """A request polls before sleeping (SPIN_MAX_S) only when the client answered the previous one that fast: a
    slow answer, read here or left to the connection's thread, turns polling off for the next request. (How fast
    a fast answer comes depends on this machine's load: the last one is set by hand where a fast one is meant.)"""
    delay = [0.2]

    def answer(w, cmd):
        time.sleep(delay[0])
        return _reply(16)
    c = RawClient(server.port, answer=answer)
    wait_for(lambda: server.clients())
    conn = server.submit("1D", timeout=5, read_within_s=1.0).conn  # read here, slowly
    assert conn.answer_s >= 0.2 and conn.spin_s() == 0.0
    conn.answer_s = 0.0001
    assert conn.spin_s() == SPIN_MAX_S
    done = threading.Event()
    server.submit("1D", timeout=5, read_within_s=0.05, on_done=lambda _: done.set())  # left to the thread
    assert conn.spin_s() == 0.0
    assert done.wait(5)
    conn.answer_s = 0.0001
    delay[0] = 0.01
    server.request("1D", timeout=5)
    assert conn.spin_s() == 0.0
    c.close()


def test_a_message_in_parts_arrives_whole_and_equal_to_the_joined_bytes(pair):
    """A large reply is written from its parts (the arrays themselves, no copy), however little each write takes:
    the peer reads exactly the bytes of the joined message."""
    a, b = pair
    a.settimeout(5)
    n = 200_000
    dwa = data_model.DataWithAxes(name="big", data=[np.random.default_rng(1).random(n)], dim="Data1D",
                                  labels=["ch"], axes=[data_model.Axis(label="t", units="s", data=np.arange(n) * 1e-9,
                                                                       index=0)])
    dte = data_model.DataToExport(name="tt", data=[dwa])
    wire = Pymodaq5Wire(None)
    parts = wire.message_parts("Done", dte)
    joined = wire.message("Done", dte)
    assert len(parts) > 2 and sum(map(len, parts)) == len(joined) > net.GATHER_BYTES
    got = bytearray()

    def slow_reader():  # small reads with pauses: the sender's buffer fills, its writes are partial
        b.settimeout(5)
        while len(got) < len(joined):
            got.extend(b.recv(4096 if len(got) < 200_000 else 1 << 20))
            if len(got) < 200_000:
                time.sleep(0.001)
    t = threading.Thread(target=slow_reader)
    t.start()
    send_all(a, parts, 20)
    t.join(20)
    assert bytes(got) == joined


def test_a_long_reply_is_left_to_the_connection_thread_at_once(server):
    """A reply too long to be read without waiting (1 MiB here) does not keep the calling thread for its window:
    retrying it as its bytes come would cost the whole window (a 65536-bin TCPServer grab took 5 ms more)."""
    c = RawClient(server.port, answer=_answering(_reply(65536)))
    wait_for(lambda: server.clients())
    server.request("1D", timeout=5)
    done = threading.Event()
    t0 = time.monotonic()
    p = server.submit("1D", timeout=5, read_within_s=2.0, on_done=lambda _: done.set())
    assert time.monotonic() - t0 < 1.0
    assert done.wait(5) and p.error is None and p.result.data[0].data[0].size == 65536
    c.close()


def test_a_socket_closed_while_its_reader_waits_is_never_read_through_its_reused_number(pair):
    """A reader waiting on a socket that another thread closes (the server drops a connection; a test closes its
    client) must not then read whatever socket has been given the same descriptor number meanwhile: those bytes
    are another connection's (a lost reply, or worse, a message taken as this connection's). The socket's own
    descriptor is looked up again after every wait, as CPython's socket calls do."""
    a, b = pair
    reader = SocketReader(b, message_timeout=5)
    number = b.fileno()
    box = {}

    def wait():
        try:
            reader.wait_message(5)
            box["read"] = reader.peek(100)
        except (OSError, EOFError) as e:
            box["error"] = e
    t = threading.Thread(target=wait)
    t.start()
    time.sleep(0.2)  # the reader is waiting
    b.close()
    pairs = []
    while len(pairs) < 8 and not any(number in (x.fileno(), y.fileno()) for x, y in pairs):
        pairs.append(socket.socketpair())  # until one end is given the closed socket's number
    try:
        ends = [(x, y) if x.fileno() == number else (y, x) for x, y in pairs if number in (x.fileno(), y.fileno())]
        if not ends:
            pytest.skip("the closed descriptor's number was not given to a new socket")
        other, its_peer = ends[0]
        its_peer.sendall(b"another connection's bytes")
        a.sendall(b"x")  # wakes the waiting reader (its poll still holds the old socket)
        t.join(10)
        assert "error" in box, box
        other.settimeout(1)
        assert other.recv(100) == b"another connection's bytes"
    finally:
        t.join(10)
        for x, y in pairs:
            x.close()
            y.close()


def test_a_socket_closed_while_its_writer_waits_is_never_written_through_its_reused_number(pair):
    """The same for a send waiting for room (a peer that reads slowly): the rest of the message must not go into
    the socket that has been given the closed one's number."""
    a, b = pair
    a.settimeout(5)
    number = a.fileno()
    box = {}

    def send():
        try:
            send_all(a, b"y" * (32 << 20), 5)  # more than the kernel buffers hold: it waits for room
            box["sent"] = True
        except OSError as e:  # socket.timeout is an OSError too: it must not be that either
            box["error"] = e
    t = threading.Thread(target=send)
    t.start()
    time.sleep(0.3)  # the sender is waiting for room
    a.close()
    pairs = []
    while len(pairs) < 8 and not any(number in (x.fileno(), y.fileno()) for x, y in pairs):
        pairs.append(socket.socketpair())
    try:
        ends = [(x, y) if x.fileno() == number else (y, x) for x, y in pairs if number in (x.fileno(), y.fileno())]
        if not ends:
            pytest.skip("the closed descriptor's number was not given to a new socket")
        other, its_peer = ends[0]
        b.settimeout(5)
        while "error" not in box and "sent" not in box:  # room again on the old socket: the sender wakes
            try:
                if not b.recv(1 << 20):
                    break  # the old socket is gone for good
            except OSError:
                break
        t.join(10)
        assert isinstance(box.get("error"), OSError) and not isinstance(box["error"], socket.timeout), box
        its_peer.setblocking(False)
        with pytest.raises(BlockingIOError):
            its_peer.recv(100)  # nothing was written into the other socket
    finally:
        t.join(10)
        for x, y in pairs:
            x.close()
            y.close()
