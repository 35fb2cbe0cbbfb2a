"""Property tests of the TCP/IP codec (protocol/: data_model, pymodaq5, classic, dialects) with hypothesis.

* decode(encode(x)) == x for generated values of every supported type, and the bytes are stable;
* our bytes equal PyMoDAQ's serializer's bytes for the plain types;
* frames survive any split when fed to FrameDecoder;
* arbitrary or mutated bytes only ever raise ProtocolError (or EOFError from the reader when the
  bytes run out).
"""
import struct

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st
from hypothesis.extra import numpy as hnp

from pymodaq_plugins_timetagger import data_model
from pymodaq_plugins_timetagger.protocol import classic, dialects, pymodaq5
from tests.support.frames import FrameDecoder
from pymodaq_plugins_timetagger.data_model import ProtocolError

FAST = settings(max_examples=200, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
from tests.support.wire import Reader  # noqa: E402

FUZZ = settings(max_examples=300, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

DTYPES = [np.dtype(d) for d in (
    "|b1", "|i1", "|u1", "<i2", "<i4", "<i8", "<u2", "<u4", "<u8", "<f2", "<f4", "<f8", "<c8",
    "<c16", ">i2", ">i4", ">i8", ">u2", ">u4", ">u8", ">f2", ">f4", ">f8", ">c8", ">c16")]


# ------------------------------------------------------------------------------------------------
# Strategies
# ------------------------------------------------------------------------------------------------

ints = st.one_of(st.integers(-2 ** 63, 2 ** 63 - 1), st.integers(2 ** 63, 2 ** 64 - 1))
floats = st.floats(allow_nan=True, allow_infinity=True)
complexes = st.complex_numbers(allow_nan=True, allow_infinity=True)
texts = st.text(max_size=20)
arrays = hnp.arrays(dtype=st.sampled_from(DTYPES),
                    shape=hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=4))
axis_data = hnp.arrays(dtype=st.sampled_from(DTYPES), shape=st.integers(0, 6).map(lambda n: (n,)))

scalars = st.one_of(st.none(), st.booleans(), ints, floats, complexes, texts,
                    st.binary(max_size=20))
hashables = st.recursive(
    st.one_of(st.none(), st.booleans(), ints, st.floats(allow_nan=False), texts,
              st.binary(max_size=8)),
    lambda inner: st.lists(inner, max_size=3).map(tuple), max_leaves=6)


def _dict_from_pairs(pairs):
    out = {}
    for k, v in pairs:
        if any(data_model.values_equal(k, x) or k == x for x in out):  # 1 == 1.0 == True share a dict slot
            continue
        out[k] = v
    return out


plain_values = st.recursive(
    st.one_of(scalars, arrays),
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.lists(inner, max_size=4).map(tuple),
        st.lists(st.tuples(hashables, inner), max_size=4).map(_dict_from_pairs)),
    max_leaves=12)

axes = st.builds(data_model.Axis, label=texts, units=texts, data=st.one_of(st.none(), axis_data),
                 index=st.integers(0, 2 ** 63 - 1), spread_order=st.integers(-2 ** 63, 2 ** 63 - 1))
extras = st.dictionaries(texts, plain_values, max_size=3)
dwas = st.builds(
    data_model.DataWithAxes, name=texts, data=st.lists(arrays, max_size=3),
    dim=st.sampled_from(["Data0D", "Data1D", "Data2D", "DataND"]), units=texts,
    labels=st.lists(texts, max_size=3), axes=st.lists(axes, max_size=2),
    source=st.sampled_from(["raw", "calculated"]),
    distribution=st.sampled_from(["uniform", "spread"]), origin=texts,
    nav_indexes=st.lists(st.integers(0, 10), max_size=3), errors=st.lists(arrays, max_size=2),
    extra=extras, timestamp=floats, type_name=st.sampled_from(data_model.DWA_TYPE_NAMES))
dtes = st.builds(data_model.DataToExport, name=texts, data=st.lists(dwas, max_size=3), extra=extras,
                 timestamp=floats, type_name=st.sampled_from(data_model.DTE_TYPE_NAMES))
any_value = st.one_of(plain_values, axes, dwas, dtes,
                      st.lists(st.one_of(dwas, axes, plain_values), max_size=3))


# ------------------------------------------------------------------------------------------------
# Round trips
# ------------------------------------------------------------------------------------------------

@FAST
@given(any_value)
def test_decode_encode_round_trip(x):
    payload = pymodaq5.encode(x)
    back = pymodaq5.decode(payload)
    assert data_model.values_equal(back, x)
    assert pymodaq5.encode(back) == payload
    assert data_model.values_equal(pymodaq5.read_frame(Reader(pymodaq5.frame(payload))), x)


@FAST
@given(plain_values)
def test_plain_values_bytes_equal_pymodaq(x):
    factory = pytest.importorskip("pymodaq_utils.serialize.factory")
    assert pymodaq5.encode(x) == factory.SerializableFactory().get_apply_serializer(x)


@FAST
@given(st.lists(any_value, min_size=1, max_size=4), st.data())
def test_frame_decoder_any_split(objs, data):
    stream = pymodaq5.encode_frames(*objs)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=6)))
    dec = FrameDecoder()
    got = []
    prev = 0
    for cut in cuts + [len(stream)]:
        got += dec.feed(stream[prev:cut])
        prev = cut
    assert dec.pending == 0
    assert len(got) == len(objs) and all(data_model.values_equal(a, b) for a, b in zip(got, objs))


classic_items = st.one_of(arrays, texts, st.booleans(), ints, floats, complexes)


@FAST
@given(st.lists(classic_items, max_size=5), texts, arrays, st.one_of(st.booleans(), ints, floats,
                                                                    complexes))
def test_classic_round_trip(items, s, arr, scalar):
    r = Reader(classic.classic_list(items) + classic.classic_string(s) + classic.classic_array(arr)
               + classic.classic_scalar(scalar))
    assert data_model.values_equal(classic.read_classic_list(r), items)
    assert classic.read_classic_string(r) == s
    assert data_model.values_equal(classic.read_classic_array(r), arr)
    assert data_model.values_equal(classic.read_classic_scalar(r), scalar)
    assert r.pos == len(r.data)


# ------------------------------------------------------------------------------------------------
# Fuzzing: only ProtocolError (or EOFError from the reader)
# ------------------------------------------------------------------------------------------------

def only_protocol_errors(fn, *args, eof_ok=False):
    try:
        fn(*args)
    except ProtocolError:
        pass
    except EOFError:
        if not eof_ok:
            raise


TYPE_PREFIXES = [struct.pack(">I", len(n)) + n.encode() for n in pymodaq5.TYPE_NAMES]


@FUZZ
@given(st.one_of(st.binary(max_size=200),
                 st.tuples(st.sampled_from(TYPE_PREFIXES), st.binary(max_size=200)).map(
                     lambda t: t[0] + t[1])))
def test_decode_arbitrary_bytes(data):
    only_protocol_errors(pymodaq5.decode, data)
    only_protocol_errors(pymodaq5.decode, data, 50)


@st.composite
def mutated(draw):
    """A valid encoding with a few bytes changed, removed or inserted."""
    payload = bytearray(pymodaq5.encode(draw(any_value)))
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["set", "del", "ins", "cut"]))
        pos = draw(st.integers(0, max(len(payload) - 1, 0)))
        if op == "set" and payload:
            payload[pos] = draw(st.integers(0, 255))
        elif op == "del" and payload:
            del payload[pos]
        elif op == "ins":
            payload[pos:pos] = draw(st.binary(min_size=1, max_size=4))
        elif op == "cut":
            del payload[pos:]
    return bytes(payload)


@FUZZ
@given(mutated())
def test_decode_mutated_encodings(data):
    only_protocol_errors(pymodaq5.decode, data)
    only_protocol_errors(pymodaq5.read_frame, Reader(pymodaq5.frame(data)), eof_ok=True)
    only_protocol_errors(FrameDecoder().feed, pymodaq5.frame(data))


@FUZZ
@given(st.lists(st.binary(max_size=60), max_size=6))
def test_frame_decoder_arbitrary_chunks(chunks):
    dec = FrameDecoder(max_size=1000)
    for chunk in chunks:
        try:
            dec.feed(chunk)
        except ProtocolError:
            with pytest.raises(ProtocolError):
                dec.feed(b"x")
            return
        assert dec.pending < 1004


@FUZZ
@given(st.binary(max_size=200))
def test_read_frame_arbitrary_bytes(data):
    only_protocol_errors(pymodaq5.read_frame, Reader(data), eof_ok=True)
    only_protocol_errors(pymodaq5.read_frame, Reader(data), 64, eof_ok=True)


def _classic_prefixed(tag):
    return struct.pack(">I", len(tag)) + tag


@FUZZ
@given(st.one_of(
    st.binary(max_size=200),
    st.tuples(st.sampled_from([b"<f8", b"|b1", b">i2", b"<c16", b"<U3"]),
              st.binary(max_size=80)).map(
        lambda t: _classic_prefixed(t[0]) + t[1]),
    st.tuples(st.integers(0, 3), st.sampled_from([b"array", b"string", b"scalar", b"x"]),
              st.binary(max_size=80)).map(
        lambda t: struct.pack(">I", t[0]) + _classic_prefixed(t[1]) + t[2])))
def test_classic_readers_arbitrary_bytes(data):
    for fn in (classic.read_classic_string, classic.read_classic_scalar, classic.read_classic_array,
               classic.read_classic_list):
        only_protocol_errors(fn, Reader(data), eof_ok=True)
        only_protocol_errors(fn, Reader(data), 40, eof_ok=True)


@FUZZ
@given(st.binary(max_size=20))
def test_detect_dialect_arbitrary_bytes(data):
    try:
        result = dialects.detect_dialect(data)
    except ProtocolError:
        return
    assert result in (None, "pymodaq5", "classic")
    if result is None:
        assert len(data) < 12
