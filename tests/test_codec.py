"""The TCP/IP codec (protocol/: data_model, pymodaq5, classic, dialects): both dialects, byte-identical to PyMoDAQ's serializer.

PyMoDAQ's own serializer (pymodaq_utils / serializall / pymodaq_data) is the oracle: our bytes must
equal its bytes, it must read ours, and we must read its.
"""
import struct
import time

import numpy as np
import pytest

from pymodaq_plugins_timetagger import data_model
from pymodaq_plugins_timetagger.protocol import codec
from pymodaq_plugins_timetagger.protocol import classic as classic_dialect, dialects, pymodaq5
from tests.support.frames import FrameDecoder
from pymodaq_plugins_timetagger.data_model import ProtocolError

pmd_data = pytest.importorskip("pymodaq_data.data")
pmd_factory = pytest.importorskip("pymodaq_utils.serialize.factory")
# pymodaq.utils.data registers DataFromPlugins and DataActuator with the serializer
pmd_utils_data = pytest.importorskip("pymodaq.utils.data")

from tests.support.wire import Reader, lp, typed, u32  # noqa: E402

SF = pmd_factory.SerializableFactory()

# PyMoDAQ's own __eq__ warns about axes it looks up and does not find
pytestmark = pytest.mark.filterwarnings("ignore:The axis requested with index")


# ------------------------------------------------------------------------------------------------
# Conversions between PyMoDAQ objects and ours (test helpers)
# ------------------------------------------------------------------------------------------------

def axis_from_pmd(ax):
    return data_model.Axis(label=ax.label, units=ax.units, data=ax.get_data(), index=ax.index,
                  spread_order=ax.spread_order)


def dwa_from_pmd(d):
    return data_model.DataWithAxes(
        name=d.name, data=list(d.data), dim=d.dim.name, units=d.units, labels=list(d.labels),
        axes=[axis_from_pmd(ax) for ax in d.axes], source=d.source.name,
        distribution=d.distribution.name, origin=d.origin, nav_indexes=list(d.nav_indexes),
        errors=list(d.errors) if d.errors is not None else [],
        extra={k: getattr(d, k) for k in d.extra_attributes}, timestamp=d.timestamp,
        type_name=type(d).__name__)


def dte_from_pmd(dte):
    return data_model.DataToExport(name=dte.name, data=[dwa_from_pmd(d) for d in dte.data],
                          extra={k: getattr(dte, k) for k in dte.extra_attributes},
                          timestamp=dte.timestamp, type_name=type(dte).__name__)


def make_pmd_dte():
    """A DataToExport with a 2-channel 1D DataFromPlugins (axis + extras), a 0D and a 2D."""
    x = np.array([0.0, 0.5, 1.5, 3.0, 7.0])  # not linear: PyMoDAQ keeps the array
    ax = pmd_data.Axis("time", "ps", data=x, index=0)
    d1 = pmd_utils_data.DataFromPlugins(
        "hist", data=[np.arange(5.0), np.arange(5.0) ** 2], axes=[ax], labels=["ch1", "ch2"],
        units="counts", origin="tagger", do_plot=True, n_bins=5, binwidth=2.5, note="é",
        raw=b"\x00\x01", flags=[1, "a", None], cplx=1 - 2j, meta={"k": (1, 2.0)})
    d0 = pmd_data.DataRaw("rate", data=[np.array([123.5]), np.array([7.0])], units="Hz")
    d2 = pmd_data.DataCalculated("image", data=[np.arange(12, dtype=np.int32).reshape(3, 4)])
    return pmd_data.DataToExport("tagger", data=[d1, d0, d2], acquisition=3, label="run")


def assert_pmd_equal(a, b):
    """PyMoDAQ objects equal, including what PyMoDAQ's __eq__ leaves out."""
    assert type(a) is type(b)
    if isinstance(a, pmd_data.DataToExport):
        assert a.name == b.name and a.timestamp == b.timestamp
        assert a.extra_attributes == b.extra_attributes
        for k in a.extra_attributes:
            assert data_model.values_equal(getattr(a, k), getattr(b, k)), k
        assert len(a.data) == len(b.data)
        for x, y in zip(a.data, b.data):
            assert_pmd_equal(x, y)
    else:
        assert a == b
        assert a.timestamp == b.timestamp and a.labels == b.labels and a.origin == b.origin
        assert a.units == b.units and a.source == b.source and a.dim == b.dim
        for x, y in zip(a.data, b.data):
            assert x.dtype == y.dtype and x.shape == y.shape
            np.testing.assert_array_equal(x, y)
        assert a.extra_attributes == b.extra_attributes
        for k in a.extra_attributes:
            assert data_model.values_equal(getattr(a, k), getattr(b, k)), k
        assert len(a.axes) == len(b.axes)
        for x, y in zip(a.axes, b.axes):
            assert x == y
            np.testing.assert_array_equal(x.get_data(), y.get_data())


# ------------------------------------------------------------------------------------------------
# Wire facts
# ------------------------------------------------------------------------------------------------

def test_send_data_1d_frame_is_exact():
    expected = bytes.fromhex("00000017" "00000003") + b"str" + bytes.fromhex("0000000c") \
        + b"Send Data 1D"
    assert pymodaq5.encode_frames("Send Data 1D") == expected
    assert pymodaq5.frame(pymodaq5.encode("Send Data 1D")) == expected
    assert SF.get_apply_serializer("Send Data 1D", append_length=True) == expected
    assert pymodaq5.read_frame(Reader(expected)) == "Send Data 1D"


@pytest.mark.parametrize("obj, body", [
    ("ab", typed("str", lp(b"ab"))),
    (b"\x00\xff", typed("bytes", lp(b"\x00\xff"))),
    (None, typed("NoneType")),
    (5, typed("int", lp(b"<i8") + u32(8) + struct.pack("<q", 5))),
    (2 ** 63, typed("int", lp(b"<u8") + u32(8) + struct.pack("<Q", 2 ** 63))),
    (1.5, typed("float", lp(b"<f8") + u32(8) + struct.pack("<d", 1.5))),
    (True, typed("bool", lp(b"|b1") + u32(1) + b"\x01")),
    (1 + 2j, typed("complex", lp(b"<c16") + u32(16) + struct.pack("<dd", 1, 2))),
    (np.array([[1, 2, 3], [4, 5, 6]], dtype="<i2"),
     typed("ndarray", lp(b"<i2") + u32(12) + u32(2) + u32(2) + u32(3)
           + np.arange(1, 7, dtype="<i2").tobytes())),
    ([], typed("list", u32(0))),
    ((None,), typed("tuple", u32(1) + typed("NoneType"))),
    ({"a": None},
     typed("dict", typed("list", u32(1) + typed("str", lp(b"a"))) + typed("NoneType"))),
])
def test_exact_bytes(obj, body):
    assert pymodaq5.encode(obj) == body
    assert SF.get_apply_serializer(obj) == body
    assert data_model.values_equal(pymodaq5.decode(body), obj)


# ------------------------------------------------------------------------------------------------
# Round trips (ours)
# ------------------------------------------------------------------------------------------------

ROUND_TRIP = [
    "", "héllo ✓", b"", b"\x00\x01\xff", None, 0, -1, 2 ** 63 - 1, -2 ** 63, 2 ** 64 - 1,
    0.0, -0.0,
    1e308, float("inf"), float("nan"), True, False, 1j, complex(float("nan"), 1),
    np.array(3.5), np.zeros((0,)), np.zeros((2, 0, 3), dtype="<u4"), np.arange(10, dtype=">i8"),
    np.array([True, False]), np.arange(6, dtype=np.complex64).reshape(2, 3),
    np.arange(4, dtype=np.float16), [1, [2, [3, []]]], (1, "a", (None,)), {},
    {"a": 1, 2: [3.0], (1, "x"): None, None: b"", 1.5: {"nested": np.ones(2)}},
    data_model.Axis(), data_model.Axis("x", "s", np.linspace(0, 1, 11), 2, 1),
    data_model.DataWithAxes("d", [np.ones(3)], timestamp=1.0),
    data_model.DataWithAxes("d", [np.ones((2, 2)), np.zeros((2, 2))], dim="Data2D", units="V",
                   labels=["a", "b"], axes=[data_model.Axis("x", data=np.arange(2.0)),
                                            data_model.Axis("y", data=np.arange(2.0), index=1)],
                   source="calculated", distribution="spread", origin="o", nav_indexes=[0],
                   errors=[np.ones((2, 2))], extra={"z": 1, "a": [None]}, timestamp=12.5,
                   type_name="DataCalculated"),
    data_model.DataToExport("dte", [], timestamp=3.0),
    data_model.DataToExport("dte", [data_model.DataWithAxes("d", [np.ones(1)], dim="Data0D", timestamp=1.0)],
                   extra={"mode": "abs"}, timestamp=3.0, type_name="DataScan"),
]


@pytest.mark.parametrize("obj", ROUND_TRIP, ids=lambda o: type(o).__name__)
def test_round_trip(obj):
    payload = pymodaq5.encode(obj)
    back = pymodaq5.decode(payload)
    assert data_model.values_equal(back, obj)
    assert pymodaq5.encode(back) == payload
    assert data_model.values_equal(pymodaq5.read_frame(Reader(pymodaq5.frame(payload))), obj)
    assert data_model.values_equal(FrameDecoder().feed(pymodaq5.encode_frames(obj, obj)), [obj, obj])


def test_dataclass_equality_and_defaults():
    a = data_model.DataWithAxes("d", [np.ones(3)])
    assert a.timestamp > 1e9 and a.type_name == "DataRaw" and a.dim == "Data1D"
    b = pymodaq5.decode(pymodaq5.encode(a))
    assert a == b and not (a != b)
    b.extra["x"] = 1
    assert a != b
    assert data_model.Axis("x", data=np.ones(2)) != data_model.Axis("x", data=np.ones(2, dtype=np.float32))
    assert data_model.Axis() != data_model.DataToExport("x")
    with pytest.raises(TypeError):
        hash(data_model.Axis())


def test_numpy_scalars_are_written_as_python_scalars():
    assert pymodaq5.encode(np.float64(1.5)) == pymodaq5.encode(1.5)
    assert pymodaq5.encode(np.float32(1.5)) == pymodaq5.encode(1.5)
    assert pymodaq5.encode(np.int16(-3)) == pymodaq5.encode(-3)
    assert pymodaq5.encode(np.uint64(2 ** 64 - 1)) == pymodaq5.encode(2 ** 64 - 1)
    assert pymodaq5.encode(np.bool_(True)) == pymodaq5.encode(True)
    assert pymodaq5.encode(np.complex64(1 + 1j)) == pymodaq5.encode(1 + 1j)
    assert pymodaq5.encode(np.str_("a")) == pymodaq5.encode("a")
    assert pymodaq5.decode(pymodaq5.encode(np.float64(2.0))) == 2.0
    assert type(pymodaq5.decode(pymodaq5.encode(np.int8(2)))) is int


def test_builtin_subclasses_are_written_as_the_base_type():
    import collections
    import enum

    class Mode(str, enum.Enum):
        ABS = "abs"

    class Level(enum.IntEnum):
        HIGH = 2

    Point = collections.namedtuple("Point", "x y")
    assert pymodaq5.encode(Mode.ABS) == pymodaq5.encode("abs")
    assert pymodaq5.encode(Level.HIGH) == pymodaq5.encode(2)
    assert pymodaq5.encode(Point(1, 2)) == pymodaq5.encode((1, 2))
    assert pymodaq5.encode(collections.OrderedDict(a=1)) == pymodaq5.encode({"a": 1})
    assert pymodaq5.encode(bytearray(b"ab")) == pymodaq5.encode(b"ab") == pymodaq5.encode(memoryview(b"ab"))


def test_non_contiguous_and_big_endian_arrays():
    a = np.arange(24.0).reshape(4, 6)[:, ::2]
    assert pymodaq5.encode(a) == SF.get_apply_serializer(a)
    np.testing.assert_array_equal(pymodaq5.decode(pymodaq5.encode(a)), a)
    b = np.arange(5, dtype=">f8")
    assert pymodaq5.encode(b) == SF.get_apply_serializer(b)
    back = pymodaq5.decode(pymodaq5.encode(b))
    assert back.dtype == np.dtype(">f8")
    np.testing.assert_array_equal(back, b)


# ------------------------------------------------------------------------------------------------
# Cross tests against PyMoDAQ
# ------------------------------------------------------------------------------------------------

PLAIN = [
    "Send Data 1D", "", "ünïcode", b"raw\x00", None, 0, 7, -7, 2 ** 62, 2 ** 63, 2 ** 64 - 1,
    0.1, -2.5e-300, float("inf"), True, False, 3 - 4j,
    np.arange(5.0), np.arange(6, dtype=np.uint8).reshape(2, 3), np.array([True, False, True]),
    np.zeros((2, 0)), np.arange(8, dtype=">i4"), np.arange(3, dtype=np.complex64),
    np.arange(3, dtype=np.float16), ["Done", 1, [2.0, None]], ("a", (1,)),
    {"path": ["a", "b"], 3: 4.0, "d": {"x": np.ones(2)}},
]


@pytest.mark.parametrize("obj", PLAIN, ids=lambda o: type(o).__name__)
def test_plain_values_match_pymodaq_both_ways(obj):
    ours = pymodaq5.encode(obj)
    assert ours == SF.get_apply_serializer(obj)
    theirs = SF.get_apply_deserializer(ours)
    if isinstance(theirs, np.unsignedinteger):  # PyMoDAQ reads u8 as numpy and can't write it back
        theirs = int(theirs)
    assert SF.get_apply_serializer(theirs) == ours
    assert data_model.values_equal(pymodaq5.decode(ours), theirs)
    assert pymodaq5.encode(pymodaq5.decode(ours)) == ours


def test_zero_d_array_pymodaq_promotes_to_1d_we_do_not():
    a = np.array(2.5)
    assert pymodaq5.encode(a) == SF.get_apply_serializer(a)
    assert SF.get_apply_deserializer(pymodaq5.encode(a)).shape == (1,)
    assert pymodaq5.decode(pymodaq5.encode(a)).shape == ()


def test_unsigned_scalar_pymodaq_returns_numpy_we_return_int():
    payload = SF.get_apply_serializer(2 ** 64 - 1)
    assert type(pymodaq5.decode(payload)) is int and pymodaq5.decode(payload) == 2 ** 64 - 1
    assert isinstance(SF.get_apply_deserializer(payload), np.unsignedinteger)


def test_axis_non_linear_matches_pymodaq_both_ways():
    x = np.array([0.0, 1.0, 4.0, 9.0])
    pax = pmd_data.Axis("delay", "ps", data=x, index=1, spread_order=0)
    ours = data_model.Axis("delay", "ps", x, 1, 0)
    assert pymodaq5.encode(ours) == SF.get_apply_serializer(pax)
    assert pymodaq5.decode(SF.get_apply_serializer(pax)) == ours
    back = SF.get_apply_deserializer(pymodaq5.encode(ours))
    assert back == pax
    np.testing.assert_array_equal(back.get_data(), x)


def test_axis_linear_is_written_from_offset_and_scaling_by_pymodaq():
    """PyMoDAQ stores a linear axis as offset/scaling and writes it back recomputed (float64)."""
    x = np.arange(0, 100, 7, dtype=np.int64)  # integer linear axis
    pax = pmd_data.Axis("t", "ps", data=x)
    assert pax.data is None  # kept as offset/scaling
    theirs = SF.get_apply_serializer(pax)
    assert pymodaq5.encode(axis_from_pmd(pax)) == theirs
    decoded = pymodaq5.decode(theirs)
    assert decoded.data.dtype == np.float64  # not the int64 it was built from
    np.testing.assert_allclose(decoded.data, x)
    # ours keeps the given array exactly; PyMoDAQ reads it back as a linear axis
    ours = pymodaq5.encode(data_model.Axis("t", "ps", x))
    assert ours != theirs
    back = SF.get_apply_deserializer(ours)
    assert back.data is None and back == pax
    # a float linspace: PyMoDAQ's recomputed data may differ in the last bits, never more
    lin = np.linspace(-1.3, 2.9, 1001)
    np.testing.assert_allclose(pymodaq5.decode(SF.get_apply_serializer(pmd_data.Axis("x", data=lin))).data,
                               lin, rtol=0, atol=1e-12)


def test_axis_without_data_is_readable_by_pymodaq():
    payload = pymodaq5.encode(data_model.Axis("x", "m"))
    assert payload == typed("Axis", typed("str", lp(b"x")) + typed("str", lp(b"m"))
                            + typed("NoneType") + pymodaq5.encode(0) + pymodaq5.encode(0))
    back = SF.get_apply_deserializer(payload)
    assert back.label == "x" and back.units == "m" and back.data is None
    assert pymodaq5.decode(payload) == data_model.Axis("x", "m")


def test_data_to_export_matches_pymodaq_both_ways():
    dte = make_pmd_dte()
    theirs = SF.get_apply_serializer(dte)
    ours_obj = dte_from_pmd(dte)
    assert ours_obj.data[0].type_name == "DataFromPlugins"
    assert pymodaq5.encode(ours_obj) == theirs
    decoded = pymodaq5.decode(theirs)
    assert decoded == ours_obj
    assert list(decoded.data[0].extra) == ["do_plot", "n_bins", "binwidth", "note", "raw", "flags",
                                           "cplx", "meta"]
    assert decoded.data[0].extra["meta"] == {"k": (1, 2.0)}
    assert decoded.data[1].dim == "Data0D" and decoded.data[2].dim == "Data2D"
    assert decoded.data[2].source == "calculated" and decoded.data[2].type_name == "DataCalculated"
    back = SF.get_apply_deserializer(pymodaq5.encode(ours_obj))
    assert_pmd_equal(back, dte)
    # and the frames, as sent on a socket: 'Done' then the data, one buffer
    frames = pymodaq5.encode_frames("Done", ours_obj)
    assert frames == SF.get_apply_serializer("Done", True) + SF.get_apply_serializer(dte, True)


def test_our_data_to_export_is_read_by_pymodaq():
    """Built on our side (as the client does), read by PyMoDAQ into its classes."""
    x = np.linspace(0, 1, 5) ** 2
    ours = data_model.DataToExport("tt", [
        data_model.DataWithAxes("counts", [np.arange(5.0), 2 * np.arange(5.0)], dim="Data1D",
                       labels=["A", "B"], axes=[data_model.Axis("tau", "ps", x)], units="counts",
                       extra={"do_plot": True, "binwidth_ps": 100}, type_name="DataFromPlugins",
                       timestamp=1234.5),
        data_model.DataWithAxes("rate", [np.array([3.0])], dim="Data0D", labels=["r"], timestamp=1.0),
        data_model.DataWithAxes("img", [np.ones((3, 2), dtype=np.uint16)], dim="Data2D", labels=["i"],
                       timestamp=2.0),
    ], extra={"seq": 7}, timestamp=99.0)
    back = SF.get_apply_deserializer(pymodaq5.encode(ours))
    assert type(back) is pmd_data.DataToExport and back.timestamp == 99.0 and back.seq == 7
    d1 = back.data[0]
    assert type(d1) is pmd_utils_data.DataFromPlugins and d1.labels == ["A", "B"]
    assert d1.do_plot is True and d1.binwidth_ps == 100 and d1.timestamp == 1234.5
    np.testing.assert_array_equal(d1.axes[0].get_data(), x)
    assert back.data[1].dim.name == "Data0D" and back.data[2].data[0].dtype == np.uint16
    # PyMoDAQ's DataToExport gives its name as origin to children that have none
    assert [d.origin for d in back.data] == ["tt"] * 3
    for d in ours.data:
        d.origin = "tt"
    assert dte_from_pmd(back) == ours


@pytest.mark.parametrize("cls_name, module", [
    ("DataRaw", pmd_data), ("DataCalculated", pmd_data), ("DataFromRoi", pmd_data),
    ("DataWithAxes", pmd_data), ("DataFromPlugins", pmd_utils_data),
    ("DataActuator", pmd_utils_data),
])
def test_every_dwa_class_name(cls_name, module):
    cls = getattr(module, cls_name)
    kwargs = {"source": "raw"} if cls_name == "DataWithAxes" else {}
    d = cls("x", data=[np.array([1.0, 2.0])], errors=[np.array([0.1, 0.2])], **kwargs)
    theirs = SF.get_apply_serializer(d)
    ours = dwa_from_pmd(d)
    assert ours.type_name == cls_name
    assert pymodaq5.encode(ours) == theirs
    assert pymodaq5.decode(theirs) == ours
    if cls_name == "DataFromRoi":
        # PyMoDAQ's own deserializer cannot rebuild a DataFromRoi (source passed twice)
        with pytest.raises(TypeError, match="source"):
            SF.get_apply_deserializer(theirs)
    else:
        assert_pmd_equal(SF.get_apply_deserializer(pymodaq5.encode(ours)), d)


def test_data_scan_subclass():
    d = pmd_utils_data.DataScan("scan", data=[pmd_data.DataRaw("a", data=[np.ones(2)])], k=1)
    theirs = SF.get_apply_serializer(d)
    ours = dte_from_pmd(d)
    assert ours.type_name == "DataScan" and pymodaq5.encode(ours) == theirs
    assert pymodaq5.decode(theirs) == ours
    assert type(SF.get_apply_deserializer(pymodaq5.encode(ours))) is pmd_utils_data.DataScan


def test_nav_indexes_and_spread_distribution_match():
    x = np.array([0.0, 1.0, 3.0])
    d = pmd_data.DataRaw("nd", data=[np.arange(6.0).reshape(3, 2)], nav_indexes=(0,),
                         axes=[pmd_data.Axis("x", data=x, index=0),
                               pmd_data.Axis("y", data=np.array([5.0, 9.0]), index=1)])
    theirs = SF.get_apply_serializer(d)
    ours = dwa_from_pmd(d)
    assert ours.nav_indexes == [0] and pymodaq5.encode(ours) == theirs
    assert pymodaq5.decode(theirs) == ours


# ------------------------------------------------------------------------------------------------
# Errors (dialect 1)
# ------------------------------------------------------------------------------------------------

def raises(payload, match):
    with pytest.raises(ProtocolError, match=match):
        pymodaq5.decode(payload)


def test_error_messages():
    raises(typed("Foo"), "unknown type name 'Foo'")
    raises(typed("Str", lp(b"")), "unknown type name 'Str'")
    raises(typed("st"), "unknown type name 'st'")  # PyMoDAQ's substring match would accept it
    raises(u32(1000) + b"x", r"unknown type name \(a name of 1000 bytes\)")
    raises(typed("ndarray", lp(b"<q9") + u32(0) + u32(0)), "bad dtype '<q9'")
    raises(typed("ndarray", lp(b"<f8") + u32(40) + u32(2) + u32(2) + u32(3) + bytes(40)),
           r"shape \(2, 3\) does not match 40 bytes of <f8")
    raises(typed("str", lp(b"abc")[:-3] + b"a"), "truncated: needed 3 bytes, 1 left")
    raises(typed("str", u32(12) + b"abc"), "truncated: needed 12 bytes, 3 left")
    raises(pymodaq5.encode("a") + b"\x00", "1 trailing bytes")
    raises(b"", "truncated: needed 4 bytes, 0 left")
    raises(typed("str", lp(b"\xff\xfe")), "UTF-8")


@pytest.mark.parametrize("descr", [b"|O", b"<U5", b"|S3", b"|V8", b"<M8[s]", b"<m8", b"<f16",
                                   b"f8", b"=f8", b"|f8", b"<c32", b"<b1x", b"\xff"])
def test_refused_dtypes(descr):
    with pytest.raises(ProtocolError, match="bad dtype"):
        pymodaq5.decode(typed("ndarray", lp(descr) + u32(8) + u32(1) + u32(1) + bytes(8)))


@pytest.mark.parametrize("arr", [np.array(["a"]), np.array([object()]), np.zeros(2, "V4"),
                                 np.array(["2020-01-01"], dtype="datetime64[D]"),
                                 np.zeros(2, dtype=np.longdouble),
                                 np.zeros(2, dtype=[("a", "<f8")])])
def test_refused_dtypes_on_encode(arr):
    with pytest.raises(ProtocolError, match="bad dtype"):
        pymodaq5.encode(arr)
    with pytest.raises(ProtocolError, match="bad dtype"):
        classic_dialect.classic_array(arr)


def test_one_byte_dtypes_accept_any_byte_order_mark():
    for mark in "<>|":
        back = pymodaq5.decode(typed("ndarray", lp(f"{mark}i1".encode()) + u32(2) + u32(1) + u32(2)
                              + b"\x01\xff"))
        assert back.dtype == np.int8 and back.tolist() == [1, -1]


def test_ndim_bound_and_count_checked_before_allocation():
    raises(typed("ndarray", lp(b"<f8") + u32(8) + u32(33)), "33 dimensions exceeds")
    # shape announcing 2**32-1 ** 3 elements in 8 bytes: refused without allocating
    big = u32(0xFFFFFFFF)
    raises(typed("ndarray", lp(b"<f8") + u32(8) + u32(3) + big * 3 + bytes(8)), "does not match")
    raises(typed("ndarray", lp(b"<f8") + u32(0xFFFFFFF8) + u32(1) + u32(0x1FFFFFFF)),
           "truncated: needed 4294967288 bytes")


def test_huge_counts_fail_fast():
    t0 = time.perf_counter()
    raises(typed("list", u32(0xFFFFFFFF) + bytes(16)), "announces 4294967295 items")
    raises(typed("tuple", u32(2 ** 31)), "announces")
    raises(typed("dict", pymodaq5.encode([0, 1, 2])), "dict announces 3 items but only 0 bytes")
    assert time.perf_counter() - t0 < 0.1


def test_nesting_depth_is_bounded():
    deep = []
    x = deep
    for _ in range(codec.MAX_DEPTH + 5):
        x.append([])
        x = x[0]
    with pytest.raises(ProtocolError, match="nesting deeper"):
        pymodaq5.encode(deep)
    payload = typed("list", u32(1)) * (codec.MAX_DEPTH + 5) + typed("list", u32(0))
    raises(payload, "nesting deeper")
    loop = []
    loop.append(loop)
    with pytest.raises(ProtocolError, match="nesting deeper"):
        pymodaq5.encode(loop)
    ok = []
    x = ok
    for _ in range(codec.MAX_DEPTH - 1):
        x.append([])
        x = x[0]
    assert pymodaq5.decode(pymodaq5.encode(ok)) == ok


def test_scalar_checks():
    raises(typed("int", lp(b"<f8") + u32(8) + bytes(8)), "type 'int' with dtype '<f8'")
    raises(typed("float", lp(b"<f8") + u32(16) + bytes(16)), "scalar of 16 bytes")
    raises(typed("bool", lp(b"|b1") + u32(1) + b"\x02"), "0 or 1")
    raises(typed("ndarray", lp(b"|b1") + u32(2) + u32(1) + u32(2) + b"\x01\x07"), "0 or 1")
    assert pymodaq5.decode(typed("int", lp(b">u2") + u32(2) + b"\x01\x00")) == 256
    assert pymodaq5.decode(typed("float", lp(b"<f4") + u32(4) + np.float32(0.5).tobytes())) == 0.5


def test_dict_checks():
    keys = pymodaq5.encode(["a", "a"])
    raises(typed("dict", keys + pymodaq5.encode(1) + pymodaq5.encode(2)), "appears twice")
    raises(typed("dict", pymodaq5.encode([np.ones(1)]) + pymodaq5.encode(1)), "not hashable")
    raises(typed("dict", pymodaq5.encode([[1]]) + pymodaq5.encode(1)), "not hashable")
    raises(typed("dict", pymodaq5.encode(("a",)) + pymodaq5.encode(1)), "dict keys must be a list")


def test_structured_field_checks():
    good = data_model.DataWithAxes("d", [np.ones(2)], timestamp=1.0)
    payload = pymodaq5.encode(good)
    raises(payload.replace(lp(b"raw"), lp(b"rwa")), "source must be one of raw, calculated")
    raises(payload.replace(lp(b"Data1D"), lp(b"Data3D")), "dim must be one of")
    bad_name = payload.replace(typed("str", lp(b"d")), pymodaq5.encode(5), 1)
    raises(bad_name, r"DataRaw.name must be a str, not int")
    bad_ax = pymodaq5.encode(data_model.Axis("x", data=np.ones(2))).replace(pymodaq5.encode(0), pymodaq5.encode(-1), 1)
    raises(bad_ax, "Axis.index must be >= 0")
    bad_ax2 = pymodaq5.encode(data_model.Axis("x", data=np.ones(2))).replace(pymodaq5.encode(np.ones(2)),
                                                           pymodaq5.encode(np.ones((1, 2))))
    raises(bad_ax2, "must be 1-D")
    raises(pymodaq5.encode(data_model.DataToExport("t", [], timestamp=1.0)).replace(
        pymodaq5.encode([]), pymodaq5.encode([1])), "items must be DataWithAxes")
    extra = pymodaq5.encode(data_model.DataWithAxes("d", [np.ones(2)], extra={"a": 1, "b": 2}, timestamp=1.0))
    raises(extra.replace(typed("str", lp(b"b")), typed("str", lp(b"a"))), "appears twice")
    raises(typed("Axis", pymodaq5.encode("x")), "truncated")


@pytest.mark.parametrize("obj, match", [
    (object(), "cannot encode objects of type 'object'"),
    ({1, 2}, "type 'set'"),
    (2 ** 64, "does not fit in 64 bits"),
    (-2 ** 63 - 1, "does not fit in 64 bits"),
    (np.longdouble(1), "numpy scalars of dtype"),
    (np.datetime64("2020"), "numpy scalars of dtype"),
    ("\udcff", "UTF-8"),
    (data_model.Axis(data=np.ones((2, 2))), "must be 1-D"),
    (data_model.Axis(data=[1.0, 2.0]), "must be a 1-D ndarray or None"),
    (data_model.Axis(index=-1), ">= 0"),
    (data_model.Axis(index=True), "must be an int"),
    (data_model.Axis(label=1), "Axis.label must be a str"),
    (data_model.DataWithAxes("d", [[1.0]]), "data items must be ndarray"),
    (data_model.DataWithAxes("d", [np.ones(1)], dim="1D"), "dim must be one of"),
    (data_model.DataWithAxes("d", [np.ones(1)], type_name="Foo"), "type_name must be one of"),
    (data_model.DataWithAxes("d", [np.ones(1)], extra={1: 2}), "attribute names must be str"),
    (data_model.DataWithAxes("d", [np.ones(1)], timestamp="now"), "timestamp must be a float"),
    (data_model.DataWithAxes("d", [np.ones(1)], axes=[1]), "axes items must be Axis"),
    (data_model.DataToExport("t", [1]), "items must be DataWithAxes"),
    (data_model.DataToExport("t", type_name="DataRaw"), "type_name must be one of"),
])
def test_encode_refuses(obj, match):
    with pytest.raises(ProtocolError, match=match):
        pymodaq5.encode(obj)


def test_lenient_encode_of_sequences_in_fields():
    d = data_model.DataWithAxes("d", (np.ones(1),), labels=("a",), nav_indexes=(np.int64(0),), timestamp=1,
                       errors=None)
    back = pymodaq5.decode(pymodaq5.encode(d))
    assert back.labels == ["a"] and back.nav_indexes == [0] and back.timestamp == 1.0
    assert back.errors == []


# ------------------------------------------------------------------------------------------------
# Framing: read_frame, encode_frames, FrameDecoder
# ------------------------------------------------------------------------------------------------

def test_read_frame_checks_size_before_reading_payload():
    r = Reader(u32(0xFFFFFFFF) + b"xx")
    with pytest.raises(ProtocolError, match="frame of 4294967295 bytes exceeds the maximum of "
                                            "67108864"):
        pymodaq5.read_frame(r)
    assert r.calls == [4]
    r = Reader(pymodaq5.encode_frames("abcdef"))
    with pytest.raises(ProtocolError, match="exceeds the maximum of 10"):
        pymodaq5.read_frame(r, max_size=10)
    assert r.calls == [4]
    with pytest.raises(ProtocolError, match="too short"):
        pymodaq5.read_frame(Reader(u32(3) + b"abc"))


def test_read_frame_lets_eof_and_connection_errors_through():
    with pytest.raises(EOFError):
        pymodaq5.read_frame(Reader(b"\x00\x00"))
    with pytest.raises(EOFError):
        pymodaq5.read_frame(Reader(pymodaq5.encode_frames("abc")[:-1]))

    def broken(n):
        raise ConnectionResetError("gone")
    with pytest.raises(ConnectionResetError):
        pymodaq5.read_frame(broken)
    with pytest.raises(EOFError, match="needed 4 bytes, got 0"):
        pymodaq5.read_frame(lambda n: b"")


def test_read_frame_sequence():
    objs = ["Done", data_model.DataToExport("x", [data_model.DataWithAxes("d", [np.ones(3)], timestamp=1.0)],
                                   timestamp=2.0), ["a", "b"], None]
    r = Reader(pymodaq5.encode_frames(*objs))
    for o in objs:
        assert data_model.values_equal(pymodaq5.read_frame(r), o)
    assert r.left == 0
    assert pymodaq5.encode_frames() == b""
    assert pymodaq5.encode_frames(*objs) == b"".join(pymodaq5.frame(pymodaq5.encode(o)) for o in objs)


def test_frame_decoder_byte_by_byte():
    objs = ["Send Data 2D", np.arange(7.0), {"a": [1, 2]}, None]
    data = pymodaq5.encode_frames(*objs)
    dec = FrameDecoder()
    got = []
    for i in range(len(data)):
        got += dec.feed(data[i:i + 1])
    assert dec.pending == 0
    assert len(got) == len(objs) and all(data_model.values_equal(a, b) for a, b in zip(got, objs))
    dec = FrameDecoder()
    assert dec.feed(data[:5]) == [] and dec.pending == 5
    out = dec.feed(data[5:])
    assert len(out) == 4 and dec.pending == 0


def test_frame_decoder_fails_early():
    dec = FrameDecoder()
    assert dec.feed(b"\xff\xff\xff") == []
    with pytest.raises(ProtocolError, match="frame of 4294967295 bytes exceeds"):
        dec.feed(b"\xff")
    with pytest.raises(ProtocolError, match="already failed"):
        dec.feed(pymodaq5.encode_frames("a"))
    dec = FrameDecoder()
    with pytest.raises(ProtocolError, match="unknown type name"):
        dec.feed(u32(1000) + u32(3) + b"Fo")  # known at 2 bytes of the name
    dec = FrameDecoder()
    with pytest.raises(ProtocolError, match="unknown type name"):
        dec.feed(u32(1000) + u32(200))
    dec = FrameDecoder(max_size=100)
    with pytest.raises(ProtocolError, match="exceeds the maximum of 100"):
        dec.feed(u32(101))


def test_frame_decoder_payload_error():
    dec = FrameDecoder()
    with pytest.raises(ProtocolError, match="trailing"):
        dec.feed(pymodaq5.frame(pymodaq5.encode("a") + b"\x00"))


# ------------------------------------------------------------------------------------------------
# Performance: no needless copies
# ------------------------------------------------------------------------------------------------

def test_large_array_zero_copy_decode_and_single_copy_encode():
    a = np.random.default_rng(0).random(1_000_000)
    t0 = time.perf_counter()
    payload = pymodaq5.encode(a)
    t1 = time.perf_counter()
    back = pymodaq5.decode(payload)
    t2 = time.perf_counter()
    assert np.shares_memory(back, np.frombuffer(payload, dtype=np.uint8))
    assert not back.flags.writeable  # a view on immutable bytes, like PyMoDAQ's
    np.testing.assert_array_equal(back, a)
    assert payload == SF.get_apply_serializer(a)
    assert t2 - t1 < 0.01
    assert t1 - t0 < 0.2
    frames = pymodaq5.encode_frames("Done", a)
    assert len(frames) == 4 + len(pymodaq5.encode("Done")) + 4 + len(payload)
    assert frames.endswith(payload) and frames[-len(payload) - 4:-len(payload)] == u32(len(payload))
    writable = pymodaq5.decode(bytearray(payload))
    assert writable.flags.writeable


# ------------------------------------------------------------------------------------------------
# Dialect 2: classic
# ------------------------------------------------------------------------------------------------

def test_classic_exact_bytes():
    assert classic_dialect.classic_string("GRABBER") == u32(7) + b"GRABBER"
    assert classic_dialect.classic_string(b"x\x00") == u32(2) + b"x\x00"
    assert classic_dialect.classic_scalar(1.5) == lp(b"<f8") + u32(8) + struct.pack("<d", 1.5)
    assert classic_dialect.classic_scalar(3) == lp(b"<i8") + u32(8) + struct.pack("<q", 3)
    assert classic_dialect.classic_scalar(np.float32(2)) == lp(b"<f4") + u32(4) + np.float32(2).tobytes()
    assert classic_dialect.classic_scalar(True) == lp(b"|b1") + u32(1) + b"\x01"
    a = np.arange(6, dtype="<i4").reshape(2, 3)
    assert classic_dialect.classic_array(a) == lp(b"<i4") + u32(24) + u32(2) + u32(2) + u32(3) + a.tobytes()
    assert classic_dialect.classic_list([a, "s", 2.0]) == (u32(3) + lp(b"array") + classic_dialect.classic_array(a)
                                             + lp(b"string") + lp(b"s")
                                             + lp(b"scalar") + classic_dialect.classic_scalar(2.0))


@pytest.mark.parametrize("value", [0, -5, 2 ** 64 - 1, 2.5, float("inf"), True, 1 - 1j,
                                   np.int16(-2), np.uint8(200), np.float16(0.5), np.bool_(False)])
def test_classic_scalar_round_trip(value):
    r = Reader(classic_dialect.classic_scalar(value))
    back = classic_dialect.read_classic_scalar(r)
    assert back == value and type(back) in (int, float, complex, bool) and r.left == 0


@pytest.mark.parametrize("arr", [np.arange(5.0), np.zeros((2, 3, 4), dtype=">u2"), np.array(1j),
                                 np.zeros((0, 3)), np.array([True, False]),
                                 np.arange(12.0).reshape(3, 4).T])
def test_classic_array_round_trip(arr):
    r = Reader(classic_dialect.classic_array(arr))
    back = classic_dialect.read_classic_array(r)
    assert data_model.values_equal(back, np.ascontiguousarray(arr) if arr.ndim else arr) and r.left == 0


def test_classic_string_and_list_round_trip():
    r = Reader(classic_dialect.classic_string("héllo") + classic_dialect.classic_list([np.ones(3), "x", 5, np.array([1.0])])
               + classic_dialect.classic_list([]))
    assert classic_dialect.read_classic_string(r) == "héllo"
    items = classic_dialect.read_classic_list(r)
    assert data_model.values_equal(items[0], np.ones(3)) and items[1:3] == ["x", 5]
    assert classic_dialect.read_classic_list(r) == [] and r.left == 0


def test_classic_errors():
    with pytest.raises(ProtocolError, match="exceeds the maximum of 100"):
        classic_dialect.read_classic_string(Reader(u32(101) + bytes(101)), max_size=100)
    r = Reader(u32(0xFFFFFFFF))
    with pytest.raises(ProtocolError, match="exceeds the maximum"):
        classic_dialect.read_classic_string(r)
    assert r.calls == [4]
    with pytest.raises(ProtocolError, match="bad dtype '<U4'"):
        classic_dialect.read_classic_array(Reader(lp(b"<U4") + u32(4) + u32(1) + u32(1) + bytes(4)))
    with pytest.raises(ProtocolError, match="dtype descriptor of 1000 bytes is too long"):
        classic_dialect.read_classic_scalar(Reader(u32(1000)))
    with pytest.raises(ProtocolError, match=r"shape \(2, 3\) does not match 40 bytes of <f8"):
        classic_dialect.read_classic_array(Reader(lp(b"<f8") + u32(40) + u32(2) + u32(2) + u32(3) + bytes(40)))
    with pytest.raises(ProtocolError, match="array of 80000000 bytes exceeds"):
        classic_dialect.read_classic_array(Reader(lp(b"<f8") + u32(80_000_000) + u32(1) + u32(10_000_000)))
    with pytest.raises(ProtocolError, match="list announces 4294967295 items"):
        classic_dialect.read_classic_list(Reader(u32(0xFFFFFFFF)))
    with pytest.raises(ProtocolError, match="unknown list item tag b'dict'"):
        classic_dialect.read_classic_list(Reader(u32(1) + lp(b"dict") + bytes(20)))
    with pytest.raises(ProtocolError, match="scalar of 4 bytes"):
        classic_dialect.read_classic_scalar(Reader(lp(b"<f8") + u32(4) + bytes(4)))
    with pytest.raises(ProtocolError, match="UTF-8"):
        classic_dialect.read_classic_string(Reader(lp(b"\xff")))
    with pytest.raises(EOFError):
        classic_dialect.read_classic_array(Reader(lp(b"<f8") + u32(8) + u32(1) + u32(1) + bytes(7)))
    # a list whose total size exceeds the budget, item by item
    big = classic_dialect.classic_list([np.zeros(10), np.zeros(10)])
    with pytest.raises(ProtocolError, match="exceeds the maximum of 150"):
        classic_dialect.read_classic_list(Reader(big), max_size=150)
    assert classic_dialect.read_classic_list(Reader(big), max_size=len(big))[1].shape == (10,)
    for bad in (object(), None, [1]):
        with pytest.raises(ProtocolError):
            classic_dialect.classic_list([bad])
    with pytest.raises(ProtocolError):
        classic_dialect.classic_scalar("1")
    with pytest.raises(ProtocolError):
        classic_dialect.classic_scalar(np.datetime64("2020"))
    with pytest.raises(ProtocolError):
        classic_dialect.classic_string(3)


# ------------------------------------------------------------------------------------------------
# Dialect detection
# ------------------------------------------------------------------------------------------------

def test_detect_dialect():
    p5 = pymodaq5.encode_frames("GRABBER")
    classic = classic_dialect.classic_string("GRABBER")
    for i in range(len(p5)):
        expected = "pymodaq5" if i >= 11 else None
        assert dialects.detect_dialect(p5[:i]) == expected, i
    for i in range(len(classic) + 3):
        expected = "classic" if i >= 11 else None
        assert dialects.detect_dialect(classic[:i]) == expected, i
    assert dialects.detect_dialect(classic_dialect.classic_string("ACTUATOR")) == "classic"
    assert dialects.detect_dialect(pymodaq5.encode_frames("ACTUATOR")) == "pymodaq5"
    for bad in (u32(7) + b"GRABBEX", u32(8) + b"AC7", u32(3) + b"abc", u32(9), u32(10),
                u32(0), u32(18) + u32(3) + b"int", u32(18) + u32(4), b"GET / HTTP/1.1\r\n"):
        with pytest.raises(ProtocolError):
            dialects.detect_dialect(bad)


# ------------------------------------------------------------------------------------------------
# No PyMoDAQ, no Qt
# ------------------------------------------------------------------------------------------------

def test_codec_imports_no_pymodaq_and_no_qt():
    from tests.support.isolation import PYMODAQ, QT, loaded
    assert loaded(["pymodaq_plugins_timetagger.protocol.pymodaq5"], QT + PYMODAQ) == []

def test_an_empty_array_with_absurd_dimensions_is_refused():
    """Found by hypothesis: 0 x 2**32-1 x ... has 0 bytes, but numpy cannot shape it."""
    import struct
    
    body = (struct.pack(">I", 3) + b"<f8" + struct.pack(">I", 0) + struct.pack(">I", 4)
            + struct.pack(">IIII", 0, 2**32 - 1, 2**32 - 1, 2**32 - 1))
    payload = struct.pack(">I", 7) + b"ndarray" + body
    with pytest.raises(data_model.ProtocolError, match="too large"):
        pymodaq5.decode(payload)
