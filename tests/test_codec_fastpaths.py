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


# --- decoding fast paths (Axis, DataWithAxes, DataToExport) against the general decoders --------------------

def _ref_objects():
    ax = data_model.Axis(label="delay", units="s", data=np.arange(4) * 1e-12, index=0)
    dwa = data_model.DataWithAxes(name="g2", data=[np.linspace(0.0, 1.0, 4)], dim="Data1D", units="counts",
                                  labels=["ch é"], axes=[ax], timestamp=12.5)
    yield data_model.DataToExport(name="bench", data=[dwa], timestamp=3.25)
    two = data_model.DataWithAxes(name="two", data=[np.arange(3, dtype=np.int32), np.ones(3, dtype=">f4")],
                                  labels=["a", "b"], errors=[np.zeros(3), np.zeros(3)], origin="o",
                                  type_name="DataFromPlugins", source="calculated", distribution="spread",
                                  axes=[ax, data_model.Axis("x", "m", np.arange(3.0), index=1, spread_order=-1)])
    yield data_model.DataToExport(name="two", data=[dwa, two], type_name="DataScan")
    # the general path's forms: extras, nav indexes, 2-D and bool arrays, an axis without data, int timestamp
    odd = data_model.DataWithAxes(name="odd", data=[np.ones((2, 2)), np.array([True, False])], dim="Data2D",
                                  nav_indexes=[0], extra={"k": [1, "v"]},
                                  axes=[data_model.Axis("n", "", None)], timestamp=7)
    yield data_model.DataToExport(name="odd", data=[odd], extra={"e": 1.5})
    yield dwa
    yield ax
    yield [dwa, {"a": ax}]


def _outcome(fn, *args):
    try:
        return "ok", fn(*args)
    except (data_model.ProtocolError, EOFError) as e:
        return "error", f"{type(e).__name__}: {e}"


def _general(monkeypatch):
    """Make the general decoders the only path (as before the fast paths)."""
    monkeypatch.setattr(pymodaq5, "_HANDLERS", pymodaq5._DECODERS)
    monkeypatch.setattr(pymodaq5, "_HANDLERS_B", pymodaq5._DECODERS_B)


def _same(fast, general, what):
    assert fast[0] == general[0], (what, fast, general)
    if fast[0] == "ok":
        assert data_model.values_equal(fast[1], general[1]), what
    else:
        assert fast[1] == general[1], what


def _variants(payload):
    yield "intact", payload
    for k in range(len(payload)):
        yield f"truncated at {k}", payload[:k]
    head = pymodaq5._INT_HEAD  # every int set to values a single byte flip does not give
    at = payload.find(head)
    while at >= 0:
        for v in (-1, 1, 2 ** 63 - 1):
            yield f"int at {at} = {v}", payload[:at + 18] + data_model._I64.pack(v) + payload[at + 26:]
        at = payload.find(head, at + 1)
    for i in range(len(payload)):
        for flip in (0x01, 0x80, 0xFF):
            yield f"byte {i} ^ {flip:#x}", payload[:i] + bytes([payload[i] ^ flip]) + payload[i + 1:]


@pytest.mark.parametrize("obj", list(_ref_objects()), ids=lambda o: type(o).__name__)
def test_fast_decoding_equals_the_general_one_on_every_corruption(obj, monkeypatch):
    payload = pymodaq5.encode(obj)
    cases = [(what, p, bytearray(p)) for what, p in _variants(payload)]
    fast = [(_outcome(pymodaq5.decode, p), _outcome(pymodaq5.decode, ba)) for _, p, ba in cases]
    assert fast[0][0][0] == "ok"
    _general(monkeypatch)
    for (what, p, _), (f, fba) in zip(cases, fast):
        g = _outcome(pymodaq5.decode, p)
        _same(f, g, what)
        _same(fba, g, what + " (bytearray)")


class _BytesReader:
    def __init__(self, data):
        self.data, self.pos = data, 0

    def read(self, n):
        out = self.data[self.pos:self.pos + n]
        self.pos += n
        if len(out) < n:
            raise EOFError("end")
        return out


@pytest.mark.parametrize("obj", list(_ref_objects())[:3], ids=lambda o: o.name)
def test_fast_read_frame_equals_the_general_one(obj, monkeypatch):
    frame = pymodaq5.frame(pymodaq5.encode(obj))
    cases = [v for v in _variants(frame) if not v[0].startswith("truncated")]  # (truncations: EOFError)

    def read(f):
        return pymodaq5.read_frame(_BytesReader(f).read, 1 << 20, data_model.DTE_TYPE_NAMES)
    fast = [_outcome(read, f) for _, f in cases]
    _general(monkeypatch)
    for (what, f), got in zip(cases, fast):
        _same(got, _outcome(read, f), what)


def _decode_with_limits(payload, objects_left, alloc_left):
    c = pymodaq5._Cursor(memoryview(payload), payload)
    c.objects_left, c.alloc_left = objects_left, alloc_left
    obj = pymodaq5._dec(c, 0)
    return obj, c.pos, c.objects_left, c.alloc_left


@pytest.mark.parametrize("obj", list(_ref_objects())[:2], ids=lambda o: o.name)
def test_fast_decoding_charges_exactly_as_the_general_one(obj, monkeypatch):
    """The object and allocation limits are hit at the same object, with the same message, and a decoded
    frame leaves the same charges."""
    payload = pymodaq5.encode(obj)
    _, _, objs0, alloc0 = _decode_with_limits(payload, 10_000, 10 ** 9)
    used_objects, used_alloc = 10_000 - objs0, 10 ** 9 - alloc0
    limits = [(n, 10 ** 9) for n in range(used_objects + 2)] + \
             [(10_000, a) for a in range(0, used_alloc + 2, 7)] + [(10_000, used_alloc), (10_000, used_alloc - 1)]

    def run(lim):
        return _outcome(lambda: _decode_with_limits(payload, *lim)[1:])
    fast = [run(lim) for lim in limits]
    _general(monkeypatch)
    for lim, f in zip(limits, fast):
        g = run(lim)
        assert f == g, lim


def test_fast_decoding_keeps_the_depth_limit(monkeypatch):
    """A DataToExport nested just within (or beyond) MAX_DEPTH decodes (or fails) as the general path does."""
    inner = pymodaq5.encode(next(_ref_objects()))
    wrap = pymodaq5._HEADER_LIST + data_model._U32.pack(1)  # a list of one item, written by hand
    cases = [wrap * levels + inner for levels in range(data_model.MAX_DEPTH - 8, data_model.MAX_DEPTH + 1)]
    fast = [_outcome(pymodaq5.decode, p) for p in cases]
    assert fast[0][0] == "ok" and fast[-1][0] == "error"
    _general(monkeypatch)
    for i, (p, f) in enumerate(zip(cases, fast)):
        _same(f, _outcome(pymodaq5.decode, p), i)


def test_repeated_dataexport_frames_decode_by_template():
    """Frames of the same form (only timestamps and array values differ) are read by the template the first
    one left: each gives its own values, in objects of its own; a frame that differs elsewhere is read anew."""
    rng = np.random.default_rng(3)

    def dte(name="repeat", label="ch", ts=1.0):
        ax = data_model.Axis(label="delay", units="s", data=rng.normal(size=5), index=0)
        dwa = data_model.DataWithAxes(name="g2", data=[rng.normal(size=5)], units="counts", labels=[label],
                                      axes=[ax], errors=[rng.normal(size=5)], timestamp=ts + 1)
        return data_model.DataToExport(name=name, data=[dwa], timestamp=ts)
    pymodaq5._TEMPLATES.clear()
    first = dte()
    got = pymodaq5.decode(pymodaq5.encode(first))
    assert data_model.values_equal(got, first) and len(pymodaq5._TEMPLATES) == 1
    (template,) = pymodaq5._TEMPLATES.values()
    got.data[0].labels.append("changed")
    got.data[0].axes[0].units = "changed"
    same = dte(ts=2.0)
    assert data_model.values_equal(pymodaq5.decode(pymodaq5.encode(same)), same)
    assert pymodaq5._TEMPLATES == {("DataToExport", template.size): template}  # read by the template
    for obj in (dte(ts=5.0), dte(ts=float("nan")), dte(name="repeaT"), dte(label="cH"), dte(ts=7.0)):
        back = pymodaq5.decode(pymodaq5.encode(obj))
        assert data_model.values_equal(back, obj)
        assert back.data[0].data[0] is not got.data[0].data[0] and back.data[0].labels == [obj.data[0].labels[0]]
    assert pymodaq5._TEMPLATES[("DataToExport", template.size)] is not template  # the last form read


# --- encoding fast paths (DataToExport, DataWithAxes, command strings) against the general encoders ---------

def _enc_outcome(fn, *args):
    try:
        return "ok", fn(*args)
    except data_model.ProtocolError as e:
        return "error", str(e)


_ODD_VALUES = {
    "name": ["", "é\u20ac", "\ud800", 3, None, _Sub("s")],
    "source": ["calculated", "Data1D", 1, ["raw"]],
    "dim": ["Data0D", "DataND", "raw", None],
    "distribution": ["spread", "x", None],
    "data": [[], (np.zeros(2),), [np.zeros(2), np.ones(3, dtype=">i2")], [np.zeros((2, 2))], [np.arange(6.0)[::2]],
             [np.array([True, False])], [np.zeros(2, dtype=object)], [np.zeros(2, dtype=[("a", "<f8")])],
             [np.zeros(2, dtype=np.complex128)], [np.zeros(2, dtype=np.float16)], [[1.0]], np.zeros(2), None],
    "units": ["", 1.5],
    "labels": [[], ["a", "b"], ("a",), ["a", 2], [_Sub("a")], None],
    "origin": ["o", b"o"],
    "nav_indexes": [[0, 1], [np.int64(1)], [-1], [True], [2 ** 63], (0,), None],
    "axes": [[], [data_model.Axis("x", "m", None)], [data_model.Axis("x", "m", np.zeros((2, 2)))],
             [data_model.Axis("x", "m", np.arange(3.0), index=np.int32(1))],
             [data_model.Axis("x", "m", np.arange(3.0), index=-1)],
             [data_model.Axis("x", "m", np.arange(3.0), spread_order=-(2 ** 63))],
             [data_model.Axis("x", "m", np.arange(3.0), spread_order=2 ** 63)],
             [data_model.Axis("x", "m", np.arange(3.0), index=2 ** 63)],
             [data_model.Axis(1, "m", np.arange(3.0))], [data_model.Axis("x", "m", [1.0])],
             [data_model.Axis("x", "m", np.arange(6.0)[::2])], ["x"]],
    "errors": [None, [np.zeros(2)], [np.zeros(2), 1], np.zeros(2)],
    "extra": [{"a": 1}, {}, {1: 2}, []],
    "timestamp": [1, np.float64(2.5), np.int32(3), True, "now", float("nan")],
    "type_name": ["DataFromPlugins", "DataCalculated", "Nope", 3],
}


def _mutations():
    for field_name, values in _ODD_VALUES.items():
        for i, v in enumerate(values):
            yield f"DataWithAxes.{field_name}[{i}]", field_name, v


@pytest.mark.parametrize("what, field_name, value", list(_mutations()), ids=lambda x: x if isinstance(x, str) else "")
def test_fast_encoding_equals_the_general_one(what, field_name, value, monkeypatch):
    dte = next(_ref_objects())
    setattr(dte.data[0], field_name, value)
    objects = [dte, dte.data[0], [dte, dte.data[0]]]
    if field_name in ("name", "timestamp", "type_name", "extra"):
        other = next(_ref_objects())
        setattr(other, field_name, value if field_name != "type_name" or value != "DataFromPlugins" else "DataScan")
        objects.append(other)
    fast = [_enc_outcome(pymodaq5.encode, o) for o in objects] + [_enc_outcome(pymodaq5.encode_frames, "Done", dte)]
    monkeypatch.setattr(pymodaq5, "_ENC_EXACT", {})
    general = [_enc_outcome(pymodaq5.encode, o) for o in objects]
    general.append(_enc_outcome(lambda: pymodaq5.frame(pymodaq5.encode("Done")) + pymodaq5.frame(pymodaq5.encode(dte))))
    assert fast == general


def test_fast_encoding_keeps_the_depth_limit(monkeypatch):
    dte = next(_ref_objects())
    cases = []
    for levels in range(data_model.MAX_DEPTH - 8, data_model.MAX_DEPTH + 1):
        obj = dte
        for _ in range(levels):
            obj = [obj]
        cases.append(obj)
    fast = [_enc_outcome(pymodaq5.encode, o) for o in cases]
    assert fast[0][0] == "ok" and fast[-1][0] == "error"
    monkeypatch.setattr(pymodaq5, "_ENC_EXACT", {})
    assert fast == [_enc_outcome(pymodaq5.encode, o) for o in cases]


@pytest.mark.parametrize("dtype", sorted(data_model._DTYPES))
def test_fast_encoding_of_every_dtype(dtype, monkeypatch):
    dte = next(_ref_objects())
    dte.data[0].data = [np.arange(5).astype(dtype)]
    fast = pymodaq5.encode(dte)
    monkeypatch.setattr(pymodaq5, "_ENC_EXACT", {})
    assert pymodaq5.encode(dte) == fast


def test_command_strings_frames_and_cache_bound():
    for s in ("Done", "Done", "é", "", "x" * 1000, "\ud800"):
        assert _enc_outcome(pymodaq5.encode_frames, s, s) == \
            _enc_outcome(lambda: 2 * pymodaq5.frame(pymodaq5.encode(s)))
    for i in range(3 * pymodaq5._MAX_STR_OBJECTS):
        assert pymodaq5.encode_frames(f"s{i}") == pymodaq5.frame(pymodaq5.encode(f"s{i}"))
    assert len(pymodaq5._STR_OBJECTS) <= pymodaq5._MAX_STR_OBJECTS
    assert "x" * 1000 not in pymodaq5._STR_OBJECTS


# --- read_command: cached command frames recognised without decoding ---------------------------------------

def _read_commands(data: bytes, max_frame=data_model.DEFAULT_MAX_FRAME, buffered=None):
    """Commands (or the error ending them) read by a Pymodaq5Wire from ``data`` sent on a real socket;
    ``buffered``: how many bytes are already in the reader's buffer (the rest still in the socket)."""
    a, b = socket.socketpair()
    try:
        reader = SocketReader(a, message_timeout=2)
        wire = W.Pymodaq5Wire(reader, max_frame)
        if buffered is not None:
            reader.unread(data[:buffered])
            data = data[buffered:]
        b.sendall(data)
        b.shutdown(socket.SHUT_WR)
        out = []
        while True:
            try:
                reader.wait_message(2)
            except EOFError:
                return out
            try:
                out.append(wire.read_command())
            except (data_model.ProtocolError, EOFError) as e:
                return out + [f"{type(e).__name__}: {e}"]
    finally:
        a.close()
        b.close()


def test_cached_command_frames_read_as_the_general_path_reads_them(monkeypatch):
    frames = [pymodaq5.encode_frames(c) for c in sorted(W._CACHED_COMMANDS)]
    other = pymodaq5.encode_frames("Send Data 3D")
    one = pymodaq5.encode_frames("Send Data 1D")
    streams = [(b"".join(frames) + other + b"".join(frames), {}), (one * 3, {"max_frame": len(one) - 5}),
               (one * 2, {"max_frame": len(one) - 4}), (one + other + one, {"buffered": 10}), (one, {"buffered": 3}),
               (one[:-1], {}), (one + pymodaq5.encode_frames(3), {})]
    for i in range(len(one)):
        bad = one[:i] + bytes([one[i] ^ 0x04]) + one[i + 1:]
        streams.append((one + bad + one, {}))
    fast = [_read_commands(data, **kw) for data, kw in streams]
    assert fast[0] == sorted(W._CACHED_COMMANDS) + ["Send Data 3D"] + sorted(W._CACHED_COMMANDS)
    monkeypatch.setattr(W, "_COMMAND_FRAMES", {})
    for (data, kw), got in zip(streams, fast):
        assert got == _read_commands(data, **kw), (data, kw)


def test_peek_consumes_nothing():
    a, b = socket.socketpair()
    try:
        reader = SocketReader(a, message_timeout=2)
        assert reader.peek(5) == b""
        b.sendall(b"abcdef")
        reader.wait_message(2)
        assert reader.peek(4) == b"abcd" and reader.peek(100) == b"abcdef"
        assert reader.read(6) == b"abcdef"
    finally:
        a.close()
        b.close()


def _decode_peak(payload):
    import tracemalloc
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        err = _outcome(pymodaq5.decode, payload)
        return err, tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("where", ["data", "errors", "labels", "axes", "items"])
def test_fast_decoding_of_a_refused_frame_allocates_what_the_general_one_does(where, monkeypatch):
    """A frame refused for its object/alloc charges is refused by the fast readers before they build its objects
    (not after building them all): the memory peak stays that of the general decoder."""
    dte = next(_ref_objects())
    n = 60_000
    dwa = dte.data[0]
    if where in ("data", "errors"):
        setattr(dwa, where, [np.zeros(0)] * n)
    elif where == "labels":
        dwa.labels = [""] * n
    elif where == "axes":
        dwa.axes = [data_model.Axis("", "", np.zeros(0))] * (n // 4)
    else:
        dte.data = [data_model.DataWithAxes(name="", data=[np.zeros(0)] * 20)] * (n // 10)
    payload = pymodaq5.encode(dte)
    fast, fast_peak = _decode_peak(payload)
    monkeypatch.setattr(pymodaq5, "_HANDLERS", pymodaq5._DECODERS)
    monkeypatch.setattr(pymodaq5, "_HANDLERS_B", pymodaq5._DECODERS_B)
    general, general_peak = _decode_peak(payload)
    assert fast == general and general[0] == "error"  # an object or allocation limit
    assert fast_peak < 1.5 * general_peak + (1 << 20), (fast_peak, general_peak)


def test_templates_are_bounded():
    """Only small forms leave a template (a long name or many objects do not), and there are at most a few."""
    pymodaq5._TEMPLATES.clear()
    big_name = data_model.DataToExport(name="n" * (pymodaq5._MAX_TEMPLATE_BYTES + 1))
    many = data_model.DataToExport(name="m", data=[data_model.DataWithAxes(name="", data=[np.zeros(1)] * 200)])
    for obj in (big_name, many):
        assert data_model.values_equal(pymodaq5.decode(pymodaq5.encode(obj)), obj)
    assert not pymodaq5._TEMPLATES
    for i in range(3 * pymodaq5._MAX_TEMPLATES):
        obj = data_model.DataToExport(name="x" * i)
        assert data_model.values_equal(pymodaq5.decode(pymodaq5.encode(obj)), obj)
        assert 0 < len(pymodaq5._TEMPLATES) <= pymodaq5._MAX_TEMPLATES
