"""The bridge's fast paths (issue 15) give what the general paths give: scalars read with struct equal
numpy's ``.item()``, exact-type encoding equals the isinstance chain, commands encoded once are the same
bytes, large socket reads (straight into their buffer) keep the exact bytes, the deadline and EOF errors,
and a request's one-shot wait behaves like an Event."""
import socket
import threading
import time

import numpy as np
import pytest

from pymodaq_plugins_timetagger.protocol import classic, data_model, pymodaq5
from pymodaq_plugins_timetagger.protocol import wire as W
from pymodaq_plugins_timetagger.protocol.net import DIRECT_READ_BYTES, SocketReader
from pymodaq_plugins_timetagger.protocol.server import _OneShot


@pytest.mark.parametrize("descr", sorted(data_model._SCALAR_STRUCTS))
def test_struct_scalars_equal_numpy_item(descr):
    dt = data_model._DTYPES[descr]
    info = np.iinfo(dt) if dt.kind in "iu" else np.finfo(dt)
    values = [0, 1, info.max, info.min] + ([] if dt.kind in "iu" else [-1.5, np.inf, -np.inf, info.tiny])
    for v in values:
        raw = np.array([v], dtype=dt).tobytes()
        ours = pymodaq5._scalar_value(descr, dt, memoryview(raw))
        want = np.frombuffer(raw, dtype=dt)[0].item()
        assert type(ours) is type(want) and ours == want, (descr, v)
    nan = np.array([np.nan], dtype=dt).tobytes() if dt.kind == "f" else None
    if nan is not None:
        assert np.isnan(pymodaq5._scalar_value(descr, dt, memoryview(nan)))


def test_struct_scalars_keep_the_size_check():
    with pytest.raises(data_model.ProtocolError, match="scalar of 4 bytes"):
        pymodaq5._scalar_value("<f8", data_model._DTYPES["<f8"], memoryview(b"\0" * 4))


class _Sub(str):
    pass


@pytest.mark.parametrize("obj", ["é", "", 1.25, -3, 2 ** 63, [1, "a", 2.5], np.arange(3.0), True, None,
                                 (1, 2), {"a": 1}, _Sub("x"), np.float64(2.5), np.int32(7)])
def test_exact_type_encoding_equals_the_chain(obj, monkeypatch):
    fast = pymodaq5.encode(obj)
    monkeypatch.setattr(pymodaq5, "_ENC_EXACT", {})
    assert pymodaq5.encode(obj) == fast


def test_unknown_type_names_still_refused():
    payload = pymodaq5._lp(b"\xff\xfe") + b"\0" * 8
    with pytest.raises(data_model.ProtocolError, match="unknown type name"):
        pymodaq5.decode(payload)
    with pytest.raises(data_model.ProtocolError, match="truncated"):
        pymodaq5.decode(data_model._U32.pack(5) + b"st")


@pytest.mark.parametrize("dialect", W.DIALECTS)
def test_cached_commands_are_the_same_bytes(dialect):
    wire = W.Wire.for_dialect(dialect, None)
    for cmd in (*W.SEND_DATA.values(), "Quit", "GRABBER", "something else"):
        want = pymodaq5.encode_frames(cmd) if dialect == W.PYMODAQ5 else classic.classic_string(cmd)
        assert wire.message(cmd) == want == wire.message(cmd)
    assert ("something else" not in {c for _, c in W._COMMAND_BYTES})


def test_large_read_exact_bytes_across_sends():
    a, b = socket.socketpair()
    try:
        n = 3 * DIRECT_READ_BYTES + 17
        data = np.random.default_rng(1).integers(0, 256, n + 5, dtype=np.uint8).tobytes()
        reader = SocketReader(a, message_timeout=10)

        def send():
            for i in range(0, len(data), 10_000):
                b.sendall(data[i:i + 10_000])
                time.sleep(0.0005)

        t = threading.Thread(target=send)
        t.start()
        reader.wait_message(5)
        assert bytes(reader.read(3)) == data[:3]
        assert bytes(reader.read(n)) == data[3:n + 3]
        assert bytes(reader.read(2)) == data[n + 3:]
        t.join(5)
    finally:
        a.close()
        b.close()


def test_large_read_eof_and_deadline():
    a, b = socket.socketpair()
    try:
        reader = SocketReader(a, message_timeout=0.3)
        b.sendall(b"x" * 100)
        reader.wait_message(5)
        t0 = time.monotonic()
        with pytest.raises(TimeoutError, match=r"100 of"):
            reader.read(DIRECT_READ_BYTES * 2)
        assert time.monotonic() - t0 < 3
    finally:
        a.close()
        b.close()
    a, b = socket.socketpair()
    try:
        reader = SocketReader(a, message_timeout=5)
        b.sendall(b"y" * 10)
        reader.wait_message(5)
        b.close()
        with pytest.raises(EOFError, match="in the middle of a message"):
            reader.read(DIRECT_READ_BYTES)
    finally:
        a.close()


def test_one_shot_wait():
    ev = _OneShot()
    assert not ev.is_set() and not ev.wait(0.0) and not ev.wait(0.01)
    threading.Timer(0.02, ev.set).start()
    assert ev.wait(5) and ev.is_set()
    assert ev.wait(0) and ev.wait()  # a later wait passes too
    ev.set()  # a second set is harmless
    assert ev.wait(0)
