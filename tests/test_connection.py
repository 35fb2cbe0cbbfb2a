"""The sans-I/O connection (protocol/connection.py): byte streams cut at every boundary, in every dialect and
both roles, without sockets; its bounds (queued messages, message and string sizes, decoding limits)."""
from __future__ import annotations

import numpy as np
import pytest

from pymodaq_plugins_timetagger import data_model as dm
from pymodaq_plugins_timetagger.data_model import ProtocolError
from pymodaq_plugins_timetagger.protocol import classic, codec, connection as C, dialect4, pymodaq5
from pymodaq_plugins_timetagger.protocol.dialects import CLASSIC, PYMODAQ4, PYMODAQ5


def _dte(n=5):
    return dm.DataToExport("x", [dm.DataWithAxes("d", [np.arange(float(n))], labels=["CH0"],
                                                 axes=[dm.Axis("t", "s", np.arange(float(n)))], timestamp=1.0)],
                           timestamp=2.0)


def _events(conn):
    out = []
    while True:
        e = conn.next_event()
        if e is C.NEED_DATA or isinstance(e, C.Closed):
            return out, e
        out.append(e)


def _client_messages(dialect):
    """What a client sends, as bytes, and the events a server reads from them."""
    tx = C.Connection(C.CLIENT, dialect)
    parts = (tx.send("GRABBER") + tx.send("Infos", "<xml/>") + tx.send("Info", "device", "sim")
             + tx.send("Info", "error", "boom") + tx.send_reply(_dte()) + tx.send("Info_xml", ["a", "b"], "<v/>")
             + tx.send("Quit"))
    return b"".join(bytes(p) for p in parts)


@pytest.mark.parametrize("dialect", [PYMODAQ5, CLASSIC, PYMODAQ4])
def test_a_server_reads_the_same_events_however_the_stream_is_cut(dialect):
    data = _client_messages(dialect)
    whole = C.Connection(C.SERVER)
    whole.receive_data(data)
    whole.receive_data(b"")
    expected, end = _events(whole)
    assert isinstance(end, C.Closed) and whole.dialect == dialect
    kinds = [type(e).__name__ for e in expected]
    assert kinds == ["Command", "Info", "Info", "ReplyError", *(["Axis"] if dialect == CLASSIC else []),
                     "DataReply", "Info", "Command"]
    assert expected[0] == C.Command("GRABBER") and expected[-1] == C.Command("Quit")
    assert expected[-2] == C.Info(None, "<v/>", ("a", "b")) and expected[3] == C.ReplyError("boom")
    reply = [e for e in expected if isinstance(e, C.DataReply)][0].data
    if dialect == CLASSIC:
        assert len(reply) == 1 and np.array_equal(reply[0], np.arange(5.0))
    else:
        assert dm.values_equal(reply, _dte())
    for cut in range(1, len(data)):
        for pieces in ([data[:cut], data[cut:]], [data[i:i + 1] for i in range(0, cut)] + [data[cut:]]):
            conn = C.Connection(C.SERVER)
            got = []
            for piece in pieces:
                conn.receive_data(piece)
                got += _events(conn)[0]
            conn.receive_data(b"")
            rest, end = _events(conn)
            assert isinstance(end, C.Closed)
            assert repr(got + rest) == repr(expected), (dialect, cut)
        if cut > 200:  # the byte-by-byte feed once per dialect is enough beyond the first messages
            break


@pytest.mark.parametrize("dialect", [PYMODAQ5, CLASSIC, PYMODAQ4])
def test_a_client_reads_a_servers_commands_cut_anywhere(dialect):
    tx = C.Connection(C.SERVER, dialect)
    tx.identified = True
    data = b"".join(bytes(p) for p in tx.send("Send Data 1D") + tx.send("set_info", ["s", "n"], "<x/>")
                    + tx.send("Quit"))
    expected = [C.Command("Send Data 1D"), C.Command("set_info", (["s", "n"], "<x/>")), C.Command("Quit")]
    for cut in range(len(data) + 1):
        conn = C.Connection(C.CLIENT, dialect)
        conn.receive_data(data[:cut]) if cut else None
        got = _events(conn)[0]
        if cut < len(data):
            assert conn.in_message or got == expected[:len(got)]
            conn.receive_data(data[cut:])
        got += _events(conn)[0]
        assert got == expected


def test_a_message_cut_short_by_the_peer_closing_is_an_error():
    data = _client_messages(PYMODAQ5)
    conn = C.Connection(C.SERVER)
    conn.receive_data(data[:-3])
    conn.receive_data(b"")
    _events_before = [conn.next_event() for _ in range(6)]
    with pytest.raises(ProtocolError, match="closed the connection in the middle of a message"):
        conn.next_event()


@pytest.mark.parametrize("dialect", [PYMODAQ5, CLASSIC, PYMODAQ4])
def test_commands_queued_by_a_client_are_bounded_in_count(dialect):
    tx = C.Connection(C.SERVER, dialect)
    conn = C.Connection(C.CLIENT, dialect)
    one = b"".join(bytes(p) for p in tx.send("Send Data 0D"))
    n = C.MAX_QUEUED[C.CLIENT][0]
    conn.receive_data(one * (n + 3))  # the last three wait, undecoded
    assert conn.full and len(conn.queued()) == n
    assert conn.next_event() == C.Command("Send Data 0D") and len(conn.queued()) == n  # one more decoded
    with pytest.raises(ProtocolError, match="not taken yet"):  # more than a message's worth waiting: refused
        conn.receive_data(one * ((conn.max_message + (1 << 20)) // len(one) + 10))
    with pytest.raises(ProtocolError):  # broken for good
        conn.next_event()


@pytest.mark.parametrize("dialect", [PYMODAQ5, CLASSIC, PYMODAQ4])
def test_commands_queued_by_a_client_are_bounded_in_bytes(dialect):
    """A server cannot make a client hold 17 x 32 MiB (or even one of them) while it answers."""
    tx = C.Connection(C.SERVER, dialect)
    conn = C.Connection(C.CLIENT, dialect)
    xml = "x" * (C.MAX_SET_INFO_BYTES - 64)
    one = b"".join(bytes(p) for p in tx.send("set_info", ["a"], xml))
    while not conn.full:
        conn.receive_data(one)
    assert len(conn.queued()) * len(one) <= C.MAX_QUEUED[C.CLIENT][1] + conn.max_message
    with pytest.raises(ProtocolError, match="not taken yet"):
        for _ in range(4):
            conn.receive_data(one)
    big = C.Connection(C.CLIENT, dialect)
    with pytest.raises(ProtocolError, match="exceeds|too long"):
        big.receive_data(b"".join(bytes(p) for p in tx.send("set_info", ["a"], "x" * (32 << 20)))[:1 << 21])


def test_a_frame_over_the_cap_is_refused_from_its_length():
    conn = C.Connection(C.SERVER, max_frame=1000)
    conn.receive_data(pymodaq5.encode_frames("GRABBER"))
    with pytest.raises(ProtocolError, match="frame of 5000 bytes exceeds the maximum of 1000"):
        conn.receive_data(pymodaq5.encode_frames("Done")[:] + (5000).to_bytes(4, "big"))


def test_string_arguments_are_bounded_before_they_are_received():
    conn = C.Connection(C.SERVER, CLASSIC, limits={"Info": (256, 1000)})
    with pytest.raises(ProtocolError, match="5000 bytes is too long"):
        conn.receive_data(classic.classic_string("GRABBER") + classic.classic_string("Info")
                          + classic.classic_string("n") + (5000).to_bytes(4, "big"))


def test_an_unknown_type_name_is_refused_from_the_frame_head():
    conn = C.Connection(C.SERVER)
    conn.receive_data(pymodaq5.encode_frames("GRABBER"))
    bogus = pymodaq5.encode_frames(["not a command"])
    with pytest.raises(ProtocolError, match="expected str"):
        conn.receive_data(bogus[:16])


@pytest.mark.parametrize("dialect", [PYMODAQ5, CLASSIC, PYMODAQ4])
def test_every_dialect_keeps_the_same_object_bound(dialect):
    items = [np.zeros(0)] * (codec.MAX_OBJECTS + 10)
    if dialect == PYMODAQ5:
        with pytest.raises(ProtocolError, match="objects|allocate"):
            pymodaq5.decode(pymodaq5.encode(items))
    elif dialect == CLASSIC:
        with pytest.raises(ProtocolError, match="objects|allocate"):
            classic.read_classic_list(codec.Cursor(classic.classic_list(items)))
    else:
        with pytest.raises(ProtocolError, match="objects|allocate"):
            dialect4.read_list(codec.Cursor(dialect4.encode_list(items)))


def test_a_garbage_start_is_refused():
    conn = C.Connection(C.SERVER)
    with pytest.raises(ProtocolError):
        conn.receive_data(b"GET / HTTP/1.1\r\n")


def test_a_send_times_out_on_a_peer_that_does_not_read_and_delivers_gathered_parts_to_one_that_does():
    import socket
    import threading
    from pymodaq_plugins_timetagger.protocol.net import send_parts
    a, b = socket.socketpair()
    try:
        with pytest.raises(socket.timeout):
            send_parts(a, [b"x" * (64 << 20)], 0.3)  # nobody reads b: the kernel buffers fill up
    finally:
        a.close()
        b.close()
    parts = [b"head", np.arange(1 << 18, dtype=np.float64), memoryview(b"tail")]
    want = b"head" + parts[1].tobytes() + b"tail"
    c, d = socket.socketpair()
    got = bytearray()

    def drain():
        d.settimeout(10)
        while len(got) < len(want):
            got.extend(d.recv(1 << 20))
    t = threading.Thread(target=drain)
    t.start()
    try:
        send_parts(c, parts, 10)
        t.join(10)
        assert bytes(got) == want
    finally:
        c.close()
        d.close()


def test_a_capped_info_is_refused_naming_the_cap():
    conn = C.Connection(C.SERVER, limits={"Info": (256, 64 << 10)})
    with pytest.raises(ProtocolError, match=r"an Info name \(at most 256 bytes\)"):
        conn.receive_data(pymodaq5.encode_frames("GRABBER", "Info", "n" * 10000, "v"))
