"""Both wire dialects of PyMoDAQ's TCP/IP protocol, without Qt and without PyMoDAQ.

This module imports only the standard library and numpy. It writes and reads:

* **dialect 1** ("pymodaq5"): the typed serialization of ``pymodaq_utils.serialize`` /
  ``serializall`` (``SerializableFactory.get_apply_serializer``) and of pymodaq_data's ``Axis``,
  ``DataWithAxes`` (and subclasses) and ``DataToExport``, plus the outer ``[u32 N][payload]`` frame
  of ``pymodaq_utils.serialize.mysocket.Socket``;
* **dialect 2** ("classic"): the untyped messages of PyMoDAQ 1.6-3.x (the documented "custom
  client" protocol): strings, scalars, arrays and lists, with no outer frame.

The wire facts are in ``docs/protocol.rst``; this is our own implementation of them, tested byte for byte
against pymodaq_utils 5.3.7 / pymodaq_data / pymodaq 5.3.8 (``tests/test_codec.py``).

Data model
----------
:class:`Axis`, :class:`DataWithAxes` and :class:`DataToExport` are plain dataclasses holding numpy
arrays; they mirror PyMoDAQ's classes field by field. ``DataWithAxes.type_name`` (and
``DataToExport.type_name``) is the class name written on the wire (``DataRaw``, ``DataFromPlugins``,
``DataScan``...). Their ``==`` compares deeply (:func:`values_equal`: exact types, array dtype,
shape and values, NaN equal to NaN).

Errors
------
Every malformed input raises :class:`ProtocolError` (a ``ValueError``), whose message says what was
wrong. Readers built on a ``read(n)`` callable let ``EOFError`` / ``ConnectionError`` from that
callable through unchanged; a ``read`` returning fewer bytes than asked is reported as ``EOFError``.
Encoding an unsupported object or an invalid field value also raises :class:`ProtocolError`.

Safety limits
-------------
* a frame (dialect 1) or a whole classic message is at most ``max_size`` bytes
  (:data:`DEFAULT_MAX_FRAME`, 64 MiB); the length is checked before anything is read or allocated;
* dtypes: only ``b1 i1 i2 i4 i8 u1 u2 u4 u8 f2 f4 f8 c8 c16``, with ``<`` or ``>`` byte order
  (``|`` for the one-byte types); anything else (object, ``U``, ``S``, void, datetime, ``f16``,
  no byte order) is refused, naming the dtype;
* arrays: ``ndim <= 32``; ``prod(shape) * itemsize == nbytes`` is checked before the data is
  touched;
  boolean data must be 0/1 bytes;
* containers: nesting depth <= 64; a list/tuple/dict count is checked against the bytes left
  (every typed object takes at least 11 bytes) before the loop starts;
* the payload must be consumed exactly (trailing bytes are an error);
* decoding is bounded by what it creates, not only by the bytes: at most :data:`MAX_OBJECTS`
  objects per frame, and an estimate of their memory (:data:`OBJECT_COST`, :data:`NDARRAY_COST`,
  plus copied string bytes) at most ``ALLOC_FACTOR * payload + ALLOC_SLACK`` (a frame of
  millions of empty arrays is refused part-way instead of taking gigabytes);
* :func:`read_frame` can be told the type names it expects (``expect``): the type name at the head
  of the frame is checked before the rest of the payload is read.

Performance
-----------
Encoding never copies an array more than once: C-contiguous arrays are passed to the final
``b''.join`` as ``uint8`` memoryviews (a non-contiguous array is first made contiguous);
:func:`encode_frames` builds all frames of a reply with one join. Decoding does not copy array data:
arrays are ``np.frombuffer`` views on the payload (read-only when the payload is ``bytes``, which is
what :func:`read_frame` and :class:`FrameDecoder` pass; PyMoDAQ's own decoder also returns
read-only views). :class:`FrameDecoder` copies each completed payload once out of its buffer.

Differences from PyMoDAQ's serializer (checked against pymodaq_utils 5.3.7 / pymodaq 5.3.8)
--------------------------------------------------------------------------------------------
Bytes written are identical for every value both can write. Where behaviour differs:

* **Type names** are looked up exactly. PyMoDAQ does a substring search among registered types
  (``'Axis' in "<class '...DataWithAxes'>"``...), and knows ``DataFromPlugins`` / ``DataActuator``
  only once ``pymodaq.utils.data`` is imported. Unknown names are a :class:`ProtocolError` here.
  Accepted: ``str bytes NoneType int float bool complex ndarray list tuple dict Axis``, the
  ``DataWithAxes`` names in :data:`DWA_TYPE_NAMES` and the ``DataToExport`` names in
  :data:`DTE_TYPE_NAMES`.
* **0-d arrays** stay 0-d. PyMoDAQ's decoder applies ``np.atleast_1d`` (a 0-d array comes back with
  shape ``(1,)``); the bytes on the wire are the same (``ndim = 0``).
* **Scalars**: the body must hold exactly one item (PyMoDAQ takes the first item of any length) and
  the type name must agree with the dtype kind (``int`` with ``i``/``u``, ``float`` with ``f``,
  ``complex`` with ``c``, ``bool`` with ``b``). Unsigned values decode to Python ``int``
  (PyMoDAQ returns ``numpy.uint64``). Python ints in ``[2**63, 2**64)`` are written ``'<u8'``
  as PyMoDAQ does; ints beyond 64 bits are refused (PyMoDAQ writes an object-dtype pointer).
* **numpy scalars** (``np.float64``, ``np.int32``, ``np.bool_``...) are written as the Python
  scalar (``float``/``int``/``bool``/``complex``); PyMoDAQ raises ``NotImplementedError``.
  Subclasses of ``str``/``int``/``float``/``complex``/``bytes``/``list``/``tuple``/``dict`` (enums,
  namedtuples, OrderedDict) are written as the base type; ``bytearray``/``memoryview`` as ``bytes``.
* **dtypes**: PyMoDAQ writes any dtype, including ``'<U5'`` and object arrays (pointers); we refuse
  non-numeric dtypes on both sides.
* **Axis**: PyMoDAQ keeps a linear axis as ``offset``/``scaling`` (``data`` is ``None``) and writes
  ``get_data() = offset + scaling * linspace(0, n-1, n)`` (float64, possibly differing from the
  original array in the last bits, and float64 even for an integer axis); its decoder rebuilds
  offset/scaling again. We keep the array exactly as decoded. An :class:`Axis` with ``data=None``
  is written with a ``NoneType`` in the data slot: PyMoDAQ never writes that, but its decoder
  accepts it (``Axis(data=None)``). Axis data must be 1-D; ``index`` a non-negative int. PyMoDAQ
  cannot decode an empty (size 0) axis array (``IndexError``): do not send one.
* **DataWithAxes**: PyMoDAQ pads ``labels`` with ``CH00, CH01...`` when it builds the object, so
  what it writes always has one label per array; we write the labels as given (PyMoDAQ pads them
  again on reception). ``errors=None`` in PyMoDAQ is written ``[]``, our default. We check field
  types and the enum names (``source`` raw/calculated, ``dim`` Data0D/1D/2D/ND, ``distribution``
  uniform/spread) but not the semantic consistency PyMoDAQ's constructor checks (same shape for
  every array, dim matching the data, axes matching the shape): that is the receiver's job.
  Extra attribute names must be unique strings (they become a dict, in order).
* **DataToExport** subclasses (``DataScan``, ``DataToActuators``) are read into
  :class:`DataToExport` with ``type_name`` set (an addition to the agreed API, default
  ``'DataToExport'``). On reception PyMoDAQ's ``DataToExport`` gives its own name as ``origin`` to
  every child whose origin is empty; we keep what was sent.
* PyMoDAQ's decoder cannot rebuild a ``DataFromRoi`` (``TypeError``: ``source`` passed twice); we
  read it. It also cannot write back the ``numpy.uint64`` it returns for a ``'<u8'`` int.
* **dict**: the keys must arrive as a typed ``list`` of unique, hashable values.
* **Strings** must be valid UTF-8 (PyMoDAQ raises ``UnicodeDecodeError``).
* **Truncated input** and **trailing bytes** are errors; PyMoDAQ silently reads short slices and
  ignores leftovers.
"""
from __future__ import annotations

import math
import struct
import time
from dataclasses import dataclass, field, fields, is_dataclass
from typing import Callable, Optional

import numpy as np

__all__ = [
    "ProtocolError", "DEFAULT_MAX_FRAME", "MAX_DEPTH", "MAX_NDIM",
    "DWA_TYPE_NAMES", "DTE_TYPE_NAMES", "TYPE_NAMES",
    "Axis", "DataWithAxes", "DataToExport", "values_equal",
    "encode", "decode", "frame", "encode_frames", "read_frame", "FrameDecoder",
    "classic_string", "classic_scalar", "classic_array", "classic_list",
    "read_classic_string", "read_classic_scalar", "read_classic_array", "read_classic_list",
    "detect_dialect", "DIALECT_PYMODAQ5", "DIALECT_CLASSIC",
]


class ProtocolError(ValueError):
    """The one error raised for anything malformed, on the wire or given to an encoder."""


DEFAULT_MAX_FRAME = 64 * 1024 * 1024
MAX_DEPTH = 64          # nesting of containers (list, tuple, dict, Axis, DataWithAxes...)
MAX_NDIM = 32           # array dimensions
MIN_OBJECT_SIZE = 11    # the smallest typed object: [u32 3]['str'][u32 0]
#: decoding limits per frame (see "Safety limits")
MAX_OBJECTS = 100_000
OBJECT_COST = 64        # bytes charged per decoded object (a small Python object)
NDARRAY_COST = 512      # an ndarray view (array object + memoryview of the payload): ~420 bytes
ALLOC_FACTOR = 2
ALLOC_SLACK = 1 << 20
_MAX_DESCR_LEN = 16     # longest accepted dtype string is 4 chars; refuse silly lengths early
_MAX_CLASSIC_TAG = 16

DIALECT_PYMODAQ5 = "pymodaq5"
DIALECT_CLASSIC = "classic"

DWA_TYPE_NAMES = ("DataWithAxes", "DataRaw", "DataFromPlugins", "DataCalculated", "DataFromRoi",
                  "DataActuator")
DTE_TYPE_NAMES = ("DataToExport", "DataScan", "DataToActuators")

_U32 = struct.Struct(">I")
_U32_MAX = 0xFFFFFFFF
_I64 = struct.Struct("<q")
_U64 = struct.Struct("<Q")
_F64 = struct.Struct("<d")
_C128 = struct.Struct("<dd")

_SOURCES = ("raw", "calculated")
_DIMS = ("Data0D", "Data1D", "Data2D", "DataND")
_DISTRIBUTIONS = ("uniform", "spread")

# accepted dtype strings -> dtype
_DTYPES: dict = {}
for _code in ("b1", "i1", "u1"):
    for _order in "<>|":
        _DTYPES[_order + _code] = np.dtype(_order + _code)
for _code in ("i2", "i4", "i8", "u2", "u4", "u8", "f2", "f4", "f8", "c8", "c16"):
    for _order in "<>":
        _DTYPES[_order + _code] = np.dtype(_order + _code)
del _code, _order
#: the same by the descriptor's bytes (decoding looks them up without decoding them first)
_DTYPES_B: dict = {k.encode("ascii"): (k, v) for k, v in _DTYPES.items()}
#: scalars of these dtypes are read with struct (the value numpy's ``.item()`` gives, without an array)
_STRUCT_CODES = {("i", 1): "b", ("i", 2): "h", ("i", 4): "i", ("i", 8): "q", ("u", 1): "B", ("u", 2): "H",
                 ("u", 4): "I", ("u", 8): "Q", ("f", 2): "e", ("f", 4): "f", ("f", 8): "d"}
_SCALAR_STRUCTS: dict = {k: struct.Struct(k[0].replace("|", "<") + _STRUCT_CODES[v.kind, v.itemsize])
                         for k, v in _DTYPES.items() if (v.kind, v.itemsize) in _STRUCT_CODES}


# ---------------------------------------------------------------------------------------------
# Data model
# ---------------------------------------------------------------------------------------------

def values_equal(a, b) -> bool:
    """Deep equality as the codec understands it.

    Types must match exactly (``1 != 1.0 != True``, ``list != tuple``); arrays must have the same
    dtype, shape and values (NaN equals NaN); floats and complex compare by value with NaN equal to
    NaN; dicts compare in order; our dataclasses compare field by field.
    """
    if type(a) is not type(b):
        return False
    if isinstance(a, np.ndarray):
        if a.dtype != b.dtype or a.shape != b.shape:
            return False
        return bool(np.array_equal(a, b, equal_nan=a.dtype.kind in "fc"))
    if isinstance(a, float):
        return a == b or (math.isnan(a) and math.isnan(b))
    if isinstance(a, complex):
        return values_equal(a.real, b.real) and values_equal(a.imag, b.imag)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(values_equal(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return len(a) == len(b) and all(values_equal(ka, kb) and values_equal(va, vb)
                                        for (ka, va), (kb, vb) in zip(a.items(), b.items()))
    if is_dataclass(a) and isinstance(a, (Axis, DataWithAxes, DataToExport)):
        return all(values_equal(getattr(a, f.name), getattr(b, f.name)) for f in fields(a))
    return a == b


def _dc_eq(self, other):
    if type(self) is not type(other):
        return NotImplemented
    return values_equal(self, other)


@dataclass(eq=False)
class Axis:
    """Mirror of ``pymodaq_data.data.Axis`` (the data written in full, never offset/scaling)."""
    label: str = ''
    units: str = ''
    data: Optional[np.ndarray] = None
    index: int = 0
    spread_order: int = 0

    __eq__ = _dc_eq


@dataclass(eq=False)
class DataWithAxes:
    """Mirror of ``pymodaq_data.data.DataWithAxes`` and its subclasses (named by ``type_name``)."""
    name: str
    data: list
    dim: str = 'Data1D'
    units: str = ''
    labels: list = field(default_factory=list)
    axes: list = field(default_factory=list)
    source: str = 'raw'
    distribution: str = 'uniform'
    origin: str = ''
    nav_indexes: list = field(default_factory=list)
    errors: list = field(default_factory=list)
    extra: dict = field(default_factory=dict)
    timestamp: float = field(default_factory=time.time)
    type_name: str = 'DataRaw'

    __eq__ = _dc_eq


@dataclass(eq=False)
class DataToExport:
    """Mirror of ``pymodaq_data.data.DataToExport`` (``type_name``: DataToExport, DataScan...)."""
    name: str
    data: list = field(default_factory=list)
    extra: dict = field(default_factory=dict)
    timestamp: float = field(default_factory=time.time)
    type_name: str = 'DataToExport'

    __eq__ = _dc_eq


# ---------------------------------------------------------------------------------------------
# Dialect 1: encoding
# ---------------------------------------------------------------------------------------------

def _u32(n: int, what: str) -> bytes:
    if not 0 <= n <= _U32_MAX:
        raise ProtocolError(f"{what} of {n} does not fit the u32 length field")
    return _U32.pack(n)


def _lp(data: bytes, what: str = "string") -> bytes:
    """Length-prefixed bytes: [u32 len][data]."""
    return _u32(len(data), f"{what} length") + data


_HEADERS = {}


def _header(name: str) -> bytes:
    h = _HEADERS.get(name)
    if h is None:
        h = _HEADERS[name] = _lp(name.encode("ascii"))
    return h


def _str_bytes(s: str) -> bytes:
    try:
        return s.encode("utf-8")
    except UnicodeEncodeError as e:
        raise ProtocolError(f"string is not encodable as UTF-8: {e}") from None


# scalar bodies: [u32 len][descr][u32 nbytes][raw]
_BOOL_BODY = {True: _lp(b"|b1") + _U32.pack(1) + b"\x01",
              False: _lp(b"|b1") + _U32.pack(1) + b"\x00"}
_I8_PREFIX = _lp(b"<i8") + _U32.pack(8)
_U8_PREFIX = _lp(b"<u8") + _U32.pack(8)
_F8_PREFIX = _lp(b"<f8") + _U32.pack(8)
_C16_PREFIX = _lp(b"<c16") + _U32.pack(16)


def _int_body(v: int) -> bytes:
    if -(1 << 63) <= v < (1 << 63):
        return _I8_PREFIX + _I64.pack(v)
    if (1 << 63) <= v < (1 << 64):
        return _U8_PREFIX + _U64.pack(v)
    raise ProtocolError(f"int {v} does not fit in 64 bits")


def _check_dtype(dtype: np.dtype) -> str:
    descr = dtype.str
    if dtype.fields is not None or dtype.subdtype is not None or descr not in _DTYPES:
        raise ProtocolError(f"bad dtype {descr!r}: only bool, integer, float and complex "
                            f"numbers are supported")
    return descr


def _array_parts(a: np.ndarray, parts: list):
    """Append [descr][u32 nbytes][u32 ndim][u32 shape...][raw] to parts (raw as a memoryview)."""
    a = np.asarray(a)
    descr = _check_dtype(a.dtype)
    if a.ndim > MAX_NDIM:
        raise ProtocolError(f"array of {a.ndim} dimensions exceeds the maximum of {MAX_NDIM}")
    shape = a.shape
    if not a.flags.c_contiguous:
        a = a.copy(order="C")
    raw = memoryview(a.reshape(-1).view(np.uint8))
    parts.append(_lp(descr.encode("ascii")))
    parts.append(_u32(a.nbytes, "array byte count"))
    parts.append(_U32.pack(len(shape)))
    for n in shape:
        parts.append(_u32(n, "array dimension"))
    parts.append(raw)


def _scalar_from_numpy(obj):
    """numpy scalar -> the Python scalar PyMoDAQ would accept."""
    if isinstance(obj, np.bool_):
        return bool(obj)
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.floating) and obj.dtype.itemsize <= 8:
        return float(obj)
    if isinstance(obj, np.complexfloating) and obj.dtype.itemsize <= 16:
        return complex(obj)
    raise ProtocolError(f"cannot encode numpy scalars of dtype {obj.dtype.str!r}")


def _as_list(value, what: str) -> list:
    if isinstance(value, (list, tuple)):
        return list(value)
    raise ProtocolError(f"{what} must be a list, not {type(value).__name__}")


def _check_str(value, what: str) -> str:
    if not isinstance(value, str):
        raise ProtocolError(f"{what} must be a str, not {type(value).__name__}")
    return value


def _check_int(value, what: str, minimum=None) -> int:
    if isinstance(value, np.integer):
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ProtocolError(f"{what} must be an int, not {type(value).__name__}")
    if minimum is not None and value < minimum:
        raise ProtocolError(f"{what} must be >= {minimum}, got {value}")
    return int(value)


def _check_choice(value, choices, what: str) -> str:
    if value not in choices:
        raise ProtocolError(f"{what} must be one of {', '.join(choices)}, not {value!r}")
    return value


def _check_axis_data(data, what: str = "Axis.data"):
    if data is None:
        return None
    if not isinstance(data, np.ndarray):
        raise ProtocolError(f"{what} must be a 1-D ndarray or None, not {type(data).__name__}")
    if data.ndim != 1:
        raise ProtocolError(f"{what} must be 1-D, got shape {data.shape}")
    return data


def _check_arrays(value, what: str) -> list:
    items = _as_list(value, what)
    for i, a in enumerate(items):
        if not isinstance(a, np.ndarray):
            raise ProtocolError(f"{what}[{i}] must be an ndarray, not {type(a).__name__}")
    return items


def _check_extra_names(names, what: str) -> list:
    seen = set()
    for n in names:
        if not isinstance(n, str):
            raise ProtocolError(f"{what} attribute names must be str, not {type(n).__name__}")
        if n in seen:
            raise ProtocolError(f"{what} attribute name {n!r} appears twice")
        seen.add(n)
    return names


def _check_timestamp(value, what: str) -> float:
    if isinstance(value, (float, np.floating)):
        return float(value)
    if isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_)):
        return float(value)
    raise ProtocolError(f"{what}.timestamp must be a float, not {type(value).__name__}")


def _enc(obj, parts: list, depth: int):
    if depth > MAX_DEPTH:
        raise ProtocolError(f"nesting deeper than {MAX_DEPTH} levels")
    exact = _ENC_EXACT.get(type(obj))
    if exact is not None:  # the common exact types first, as the chain below would encode them
        exact(obj, parts, depth)
        return
    if obj is None:
        parts.append(_header("NoneType"))
        return
    if isinstance(obj, np.ndarray):
        parts.append(_header("ndarray"))
        _array_parts(obj, parts)
        return
    if isinstance(obj, np.generic) and not isinstance(obj, (str, bytes)):
        obj = _scalar_from_numpy(obj)
    if isinstance(obj, bool):
        parts.append(_header("bool"))
        parts.append(_BOOL_BODY[bool(obj)])
    elif isinstance(obj, int):
        parts.append(_header("int"))
        parts.append(_int_body(int(obj)))
    elif isinstance(obj, float):
        parts.append(_header("float"))
        parts.append(_F8_PREFIX + _F64.pack(obj))
    elif isinstance(obj, complex):
        parts.append(_header("complex"))
        parts.append(_C16_PREFIX + _C128.pack(obj.real, obj.imag))
    elif isinstance(obj, str):
        parts.append(_header("str"))
        parts.append(_lp(_str_bytes(obj)))
    elif isinstance(obj, (bytes, bytearray, memoryview)):
        data = obj if type(obj) is bytes else bytes(obj)
        parts.append(_header("bytes"))
        parts.append(_lp(data, "bytes"))
    elif isinstance(obj, (list, tuple)):
        parts.append(_header("tuple" if isinstance(obj, tuple) else "list"))
        _enc_seq(obj, parts, depth)
    elif isinstance(obj, dict):
        parts.append(_header("dict"))
        keys = list(obj.keys())
        parts.append(_header("list"))
        _enc_seq(keys, parts, depth + 1)
        for k in keys:
            _enc(obj[k], parts, depth + 1)
    elif isinstance(obj, Axis):
        _enc_axis(obj, parts, depth)
    elif isinstance(obj, DataWithAxes):
        _enc_dwa(obj, parts, depth)
    elif isinstance(obj, DataToExport):
        _enc_dte(obj, parts, depth)
    else:
        raise ProtocolError(f"cannot encode objects of type {type(obj).__name__!r}")


def _enc_exact_str(obj, parts, depth):
    parts.append(_HEADER_STR)
    parts.append(_lp(_str_bytes(obj)))


def _enc_exact_float(obj, parts, depth):
    parts.append(_HEADER_FLOAT)
    parts.append(_F8_PREFIX + _F64.pack(obj))


def _enc_exact_int(obj, parts, depth):
    parts.append(_HEADER_INT)
    parts.append(_int_body(obj))


def _enc_exact_list(obj, parts, depth):
    parts.append(_HEADER_LIST)
    _enc_seq(obj, parts, depth)


def _enc_exact_ndarray(obj, parts, depth):
    parts.append(_HEADER_NDARRAY)
    _array_parts(obj, parts)


_HEADER_STR, _HEADER_FLOAT, _HEADER_INT, _HEADER_LIST, _HEADER_NDARRAY = (
    _header(n) for n in ("str", "float", "int", "list", "ndarray"))

#: exact type -> encoder, for the types a DataToExport is made of (each does what _enc's chain does)
_ENC_EXACT: dict = {
    str: _enc_exact_str, float: _enc_exact_float, int: _enc_exact_int, list: _enc_exact_list,
    np.ndarray: _enc_exact_ndarray,
    Axis: lambda obj, parts, depth: _enc_axis(obj, parts, depth),
    DataWithAxes: lambda obj, parts, depth: _enc_dwa(obj, parts, depth),
    DataToExport: lambda obj, parts, depth: _enc_dte(obj, parts, depth),
}


def _enc_seq(items, parts: list, depth: int):
    parts.append(_u32(len(items), "list count"))
    for item in items:
        _enc(item, parts, depth + 1)


def _enc_str(s: str, parts: list, what: str):
    parts.append(_HEADER_STR)
    parts.append(_lp(_str_bytes(_check_str(s, what))))


def _enc_float(x: float, parts: list):
    parts.append(_HEADER_FLOAT)
    parts.append(_F8_PREFIX + _F64.pack(x))


def _enc_axis(ax: Axis, parts: list, depth: int):
    parts.append(_header("Axis"))
    _enc_str(ax.label, parts, "Axis.label")
    _enc_str(ax.units, parts, "Axis.units")
    _enc(_check_axis_data(ax.data), parts, depth + 1)
    _enc(_check_int(ax.index, "Axis.index", 0), parts, depth + 1)
    _enc(_check_int(ax.spread_order, "Axis.spread_order"), parts, depth + 1)


def _enc_dwa(d: DataWithAxes, parts: list, depth: int):
    tn = _check_choice(d.type_name, DWA_TYPE_NAMES, "DataWithAxes.type_name")
    what = tn
    ts = _check_timestamp(d.timestamp, what)
    data = _check_arrays(d.data, f"{what}.data")
    labels = _as_list(d.labels, f"{what}.labels")
    for lab in labels:
        _check_str(lab, f"{what}.labels item")
    nav = [_check_int(i, f"{what}.nav_indexes item", 0)
           for i in _as_list(d.nav_indexes, f"{what}.nav_indexes")]
    axes = _as_list(d.axes, f"{what}.axes")
    for ax in axes:
        if not isinstance(ax, Axis):
            raise ProtocolError(f"{what}.axes items must be Axis, not {type(ax).__name__}")
    errors = [] if d.errors is None else _check_arrays(d.errors, f"{what}.errors")
    if not isinstance(d.extra, dict):
        raise ProtocolError(f"{what}.extra must be a dict, not {type(d.extra).__name__}")
    names = _check_extra_names(list(d.extra.keys()), what)

    parts.append(_header(tn))
    _enc_float(ts, parts)
    _enc_str(d.name, parts, f"{what}.name")
    _enc_str(_check_choice(d.source, _SOURCES, f"{what}.source"), parts, "source")
    _enc_str(_check_choice(d.dim, _DIMS, f"{what}.dim"), parts, "dim")
    _enc_str(_check_choice(d.distribution, _DISTRIBUTIONS, f"{what}.distribution"), parts,
             "distribution")
    _enc(data, parts, depth + 1)
    _enc_str(d.units, parts, f"{what}.units")
    _enc(labels, parts, depth + 1)
    _enc_str(d.origin, parts, f"{what}.origin")
    _enc(nav, parts, depth + 1)
    _enc(axes, parts, depth + 1)
    _enc(errors, parts, depth + 1)
    _enc(names, parts, depth + 1)
    for n in names:
        _enc(d.extra[n], parts, depth + 1)


def _enc_dte(d: DataToExport, parts: list, depth: int):
    tn = _check_choice(d.type_name, DTE_TYPE_NAMES, "DataToExport.type_name")
    ts = _check_timestamp(d.timestamp, tn)
    items = _as_list(d.data, f"{tn}.data")
    for item in items:
        if not isinstance(item, DataWithAxes):
            raise ProtocolError(f"{tn}.data items must be DataWithAxes, not {type(item).__name__}")
    if not isinstance(d.extra, dict):
        raise ProtocolError(f"{tn}.extra must be a dict, not {type(d.extra).__name__}")
    names = _check_extra_names(list(d.extra.keys()), tn)
    parts.append(_header(tn))
    _enc_float(ts, parts)
    _enc_str(d.name, parts, f"{tn}.name")
    _enc(items, parts, depth + 1)
    _enc(names, parts, depth + 1)
    for n in names:
        _enc(d.extra[n], parts, depth + 1)


def _encode_parts(obj) -> list:
    parts: list = []
    try:
        _enc(obj, parts, 0)
    except RecursionError:  # pragma: no cover - MAX_DEPTH keeps us far from the limit
        raise ProtocolError("object nesting too deep to encode") from None
    return parts


def encode(obj) -> bytes:
    """One typed object (type header + body), without the outer frame.

    Byte-identical to ``SerializableFactory().get_apply_serializer(obj)`` for the equivalent PyMoDAQ
    object. Unsupported types or invalid field values raise :class:`ProtocolError`.
    """
    return b"".join(_encode_parts(obj))


def frame(payload: bytes) -> bytes:
    """``[u32 big-endian len(payload)][payload]``."""
    return _u32(len(payload), "frame length") + bytes(payload)


def encode_frames(*objs) -> bytes:
    """``frame(encode(o))`` for each object, concatenated with a single copy (one ``sendall``)."""
    out: list = []
    for obj in objs:
        parts = _encode_parts(obj)
        out.append(_u32(sum(len(p) for p in parts), "frame length"))
        out.extend(parts)
    return b"".join(out)


# ---------------------------------------------------------------------------------------------
# Dialect 1: decoding
# ---------------------------------------------------------------------------------------------

class _Cursor:
    __slots__ = ("buf", "pos", "end", "objects_left", "alloc_left")

    def __init__(self, buf: memoryview):
        self.buf = buf
        self.pos = 0
        self.end = len(buf)
        self.objects_left = MAX_OBJECTS
        self.alloc_left = ALLOC_FACTOR * len(buf) + ALLOC_SLACK

    def charge(self, nbytes: int) -> None:
        """Account for one decoded object of about ``nbytes`` of memory (ProtocolError past a limit)."""
        self.objects_left -= 1
        self.alloc_left -= nbytes
        if self.objects_left < 0:
            raise ProtocolError(f"more than {MAX_OBJECTS} objects in one frame")
        if self.alloc_left < 0:
            raise ProtocolError(f"decoding would allocate more than {ALLOC_FACTOR} times the frame "
                                f"size ({self.end} bytes)")

    @property
    def left(self) -> int:
        return self.end - self.pos

    def take(self, n: int) -> memoryview:
        if n > self.end - self.pos:
            raise ProtocolError(f"truncated: needed {n} bytes, {self.end - self.pos} left")
        p = self.pos
        self.pos = p + n
        return self.buf[p:p + n]

    def u32(self) -> int:
        if self.end - self.pos < 4:
            raise ProtocolError(f"truncated: needed 4 bytes, {self.end - self.pos} left")
        (v,) = _U32.unpack_from(self.buf, self.pos)
        self.pos += 4
        return v


def _dtype_from(raw, what="dtype"):
    hit = _DTYPES_B.get(raw.tobytes() if isinstance(raw, memoryview) else bytes(raw))
    if hit is not None:
        return hit
    try:
        descr = bytes(raw).decode("ascii")
    except UnicodeDecodeError:
        raise ProtocolError(f"bad {what} {bytes(raw)[:32]!r}") from None
    dt = _DTYPES.get(descr)
    if dt is None:
        raise ProtocolError(f"bad {what} {descr[:32]!r}")
    return descr, dt


def _read_descr(c: _Cursor):
    n = c.u32()
    if n > _MAX_DESCR_LEN:
        raise ProtocolError(f"bad dtype: descriptor of {n} bytes")
    return _dtype_from(c.take(n))


def _check_bool_bytes(raw, what: str):
    if len(raw) and np.frombuffer(raw, dtype=np.uint8).max() > 1:
        raise ProtocolError(f"{what}: boolean bytes must be 0 or 1")


def _scalar_value(descr: str, dt: np.dtype, raw):
    if len(raw) != dt.itemsize:
        raise ProtocolError(f"scalar of {len(raw)} bytes for dtype {descr!r} "
                            f"(expected {dt.itemsize})")
    unpack = _SCALAR_STRUCTS.get(descr)
    if unpack is not None:
        return unpack.unpack(raw)[0]
    if dt.kind == "b":
        _check_bool_bytes(raw, "bool scalar")
    return np.frombuffer(raw, dtype=dt)[0].item()


_SCALAR_KINDS = {"int": "iu", "float": "f", "complex": "c", "bool": "b"}


def _dec_scalar(c: _Cursor, type_name: str):
    descr, dt = _read_descr(c)
    if dt.kind not in _SCALAR_KINDS[type_name]:
        raise ProtocolError(f"type {type_name!r} with dtype {descr!r}")
    nbytes = c.u32()
    return _scalar_value(descr, dt, c.take(nbytes))


#: numpy refuses arrays whose shape product (zero dimensions left out) exceeds this many bytes
_MAX_SHAPE_BYTES = 2 ** 62


def _array_from(descr: str, dt: np.dtype, nbytes: int, shape: tuple, raw_take):
    count = 1
    nonzero = 1
    for n in shape:
        count *= n
        nonzero *= max(n, 1)
    if count * dt.itemsize != nbytes:
        raise ProtocolError(f"shape {shape} does not match {nbytes} bytes of {descr}")
    if nonzero * max(dt.itemsize, 1) > _MAX_SHAPE_BYTES:
        # an empty array announced with absurd other dimensions (numpy would refuse to shape it)
        raise ProtocolError(f"shape {shape} is too large for an array")
    raw = raw_take(nbytes)
    if dt.kind == "b":
        _check_bool_bytes(raw, "bool array")
    return np.frombuffer(raw, dtype=dt).reshape(shape)


def _dec_ndarray(c: _Cursor) -> np.ndarray:
    c.charge(NDARRAY_COST)
    descr, dt = _read_descr(c)
    nbytes = c.u32()
    ndim = c.u32()
    if ndim > MAX_NDIM:
        raise ProtocolError(f"array of {ndim} dimensions exceeds the maximum of {MAX_NDIM}")
    if 4 * ndim > c.left:
        raise ProtocolError(f"truncated: needed {4 * ndim} bytes, {c.left} left")
    shape = struct.unpack_from(f">{ndim}I", c.buf, c.pos)
    c.pos += 4 * ndim
    return _array_from(descr, dt, nbytes, tuple(shape), c.take)


def _dec_str(c: _Cursor) -> str:
    n = c.u32()
    if n > c.end - c.pos:
        raise ProtocolError(f"truncated: needed {n} bytes, {c.end - c.pos} left")
    p = c.pos
    c.pos = p + n
    c.charge(n)
    try:
        return str(c.buf[p:p + n], "utf-8")
    except UnicodeDecodeError as e:
        raise ProtocolError(f"string is not valid UTF-8: {e}") from None


def _dec_bytes(c: _Cursor) -> bytes:
    n = c.u32()
    c.charge(n)
    return bytes(c.take(n))


def _check_count(n: int, c: _Cursor, what: str):
    if n * MIN_OBJECT_SIZE > c.left:
        raise ProtocolError(f"{what} announces {n} items but only {c.left} bytes are left")


def _dec_seq(c: _Cursor, depth: int) -> list:
    n = c.u32()
    _check_count(n, c, "list")
    return [_dec(c, depth + 1) for _ in range(n)]


def _dec_dict(c: _Cursor, depth: int) -> dict:
    keys = _dec(c, depth + 1)
    if type(keys) is not list:
        raise ProtocolError(f"dict keys must be a list, not {type(keys).__name__}")
    _check_count(len(keys), c, "dict")
    out = {}
    for k in keys:
        try:
            hash(k)
        except TypeError:
            raise ProtocolError(f"dict key of type {type(k).__name__} is not hashable") from None
        if k in out:
            raise ProtocolError(f"dict key {k!r} appears twice")
        out[k] = _dec(c, depth + 1)
    return out


def _expect_str(c, depth, what) -> str:
    v = _dec(c, depth + 1)
    if type(v) is not str:
        raise ProtocolError(f"{what} must be a str, not {type(v).__name__}")
    return v


def _expect_list(c, depth, what, item_check=None) -> list:
    v = _dec(c, depth + 1)
    if type(v) is not list:
        raise ProtocolError(f"{what} must be a list, not {type(v).__name__}")
    if item_check is not None:
        for item in v:
            item_check(item, what)
    return v


def _is(tp, desc):
    def check(item, what):
        if type(item) is not tp:
            raise ProtocolError(f"{what} items must be {desc}, not {type(item).__name__}")
    return check


_item_str = _is(str, "str")
_item_array = _is(np.ndarray, "ndarray")
_item_axis = _is(Axis, "Axis")
_item_dwa = _is(DataWithAxes, "DataWithAxes")


def _item_index(item, what):
    if type(item) is not int or item < 0:
        raise ProtocolError(f"{what} items must be non-negative int, got {item!r}")


def _expect_timestamp(c, depth, what) -> float:
    v = _dec(c, depth + 1)
    if type(v) is float:
        return v
    if type(v) is int:
        return float(v)
    raise ProtocolError(f"{what}.timestamp must be a float, not {type(v).__name__}")


def _expect_int(c, depth, what, minimum=None) -> int:
    v = _dec(c, depth + 1)
    if type(v) is not int:
        raise ProtocolError(f"{what} must be an int, not {type(v).__name__}")
    if minimum is not None and v < minimum:
        raise ProtocolError(f"{what} must be >= {minimum}, got {v}")
    return v


def _dec_extra(c, depth, what) -> dict:
    names = _expect_list(c, depth, f"{what} extra attribute names", _item_str)
    _check_extra_names(names, what)
    _check_count(len(names), c, f"{what} extra attributes")
    return {n: _dec(c, depth + 1) for n in names}


def _dec_axis(c: _Cursor, depth: int) -> Axis:
    label = _expect_str(c, depth, "Axis.label")
    units = _expect_str(c, depth, "Axis.units")
    data = _check_axis_data(_dec(c, depth + 1))
    index = _expect_int(c, depth, "Axis.index", 0)
    spread_order = _expect_int(c, depth, "Axis.spread_order")
    return Axis(label=label, units=units, data=data, index=index, spread_order=spread_order)


def _dec_dwa(c: _Cursor, depth: int, tn: str) -> DataWithAxes:
    ts = _expect_timestamp(c, depth, tn)
    name = _expect_str(c, depth, f"{tn}.name")
    source = _check_choice(_expect_str(c, depth, f"{tn}.source"), _SOURCES, f"{tn}.source")
    dim = _check_choice(_expect_str(c, depth, f"{tn}.dim"), _DIMS, f"{tn}.dim")
    distribution = _check_choice(_expect_str(c, depth, f"{tn}.distribution"), _DISTRIBUTIONS,
                                 f"{tn}.distribution")
    data = _expect_list(c, depth, f"{tn}.data", _item_array)
    units = _expect_str(c, depth, f"{tn}.units")
    labels = _expect_list(c, depth, f"{tn}.labels", _item_str)
    origin = _expect_str(c, depth, f"{tn}.origin")
    nav = _expect_list(c, depth, f"{tn}.nav_indexes", _item_index)
    axes = _expect_list(c, depth, f"{tn}.axes", _item_axis)
    errors = _expect_list(c, depth, f"{tn}.errors", _item_array)
    extra = _dec_extra(c, depth, tn)
    return DataWithAxes(name=name, data=data, dim=dim, units=units, labels=labels, axes=axes,
                        source=source, distribution=distribution, origin=origin, nav_indexes=nav,
                        errors=errors, extra=extra, timestamp=ts, type_name=tn)


def _dec_dte(c: _Cursor, depth: int, tn: str) -> DataToExport:
    ts = _expect_timestamp(c, depth, tn)
    name = _expect_str(c, depth, f"{tn}.name")
    data = _expect_list(c, depth, f"{tn}.data", _item_dwa)
    extra = _dec_extra(c, depth, tn)
    return DataToExport(name=name, data=data, extra=extra, timestamp=ts, type_name=tn)


_DECODERS: dict = {
    "str": lambda c, d: _dec_str(c),
    "bytes": lambda c, d: _dec_bytes(c),
    "NoneType": lambda c, d: None,
    "int": lambda c, d: _dec_scalar(c, "int"),
    "float": lambda c, d: _dec_scalar(c, "float"),
    "bool": lambda c, d: _dec_scalar(c, "bool"),
    "complex": lambda c, d: _dec_scalar(c, "complex"),
    "ndarray": lambda c, d: _dec_ndarray(c),
    "list": _dec_seq,
    "tuple": lambda c, d: tuple(_dec_seq(c, d)),
    "dict": _dec_dict,
    "Axis": _dec_axis,
}
for _tn in DWA_TYPE_NAMES:
    _DECODERS[_tn] = (lambda tn: lambda c, d: _dec_dwa(c, d, tn))(_tn)
for _tn in DTE_TYPE_NAMES:
    _DECODERS[_tn] = (lambda tn: lambda c, d: _dec_dte(c, d, tn))(_tn)
del _tn

TYPE_NAMES = tuple(_DECODERS)
_MAX_TYPE_NAME = max(len(n) for n in TYPE_NAMES)
_TYPE_NAMES_B = tuple(n.encode("ascii") for n in TYPE_NAMES)


#: the decoders by the type name's bytes (a name that is not ASCII matches none, as before)
_DECODERS_B = {k.encode("ascii"): v for k, v in _DECODERS.items()}


def _dec(c: _Cursor, depth: int):
    # the hot path of every decoded object: the cursor's u32/take inlined (same checks, same messages),
    # the handler found by the name's bytes without decoding them
    if depth > MAX_DEPTH:
        raise ProtocolError(f"nesting deeper than {MAX_DEPTH} levels")
    pos = c.pos
    if c.end - pos < 4:
        raise ProtocolError(f"truncated: needed 4 bytes, {c.end - pos} left")
    (n,) = _U32.unpack_from(c.buf, pos)
    if n > _MAX_TYPE_NAME:
        raise ProtocolError(f"unknown type name (a name of {n} bytes)")
    pos += 4
    if n > c.end - pos:
        c.pos = pos
        raise ProtocolError(f"truncated: needed {n} bytes, {c.end - pos} left")
    raw = c.buf[pos:pos + n].tobytes()
    c.pos = pos + n
    handler = _DECODERS_B.get(raw)
    if handler is None:
        shown = raw.decode("ascii") if raw.isascii() else raw
        raise ProtocolError(f"unknown type name {shown!r}")
    c.charge(OBJECT_COST)
    return handler(c, depth)


def decode(payload, max_size: int = DEFAULT_MAX_FRAME):
    """Inverse of :func:`encode`: one typed object that must use the whole payload."""
    if len(payload) > max_size:
        raise ProtocolError(f"payload of {len(payload)} bytes exceeds the maximum of {max_size}")
    mv = memoryview(payload)
    if mv.ndim != 1 or mv.itemsize != 1:
        mv = mv.cast("B")
    c = _Cursor(mv)
    obj = _dec(c, 0)
    if c.left:
        raise ProtocolError(f"{c.left} trailing bytes after the object")
    return obj


def _read_exact(read: Callable[[int], bytes], n: int) -> bytes:
    if n == 0:
        return b""
    data = read(n)
    if len(data) < n:
        raise EOFError(f"stream ended: needed {n} bytes, got {len(data)}")
    if len(data) != n:
        raise ValueError(f"read({n}) returned {len(data)} bytes")
    return data


def _check_frame_length(n: int, max_size: int):
    if n > max_size:
        raise ProtocolError(f"frame of {n} bytes exceeds the maximum of {max_size}")
    if n < MIN_OBJECT_SIZE:
        raise ProtocolError(f"frame of {n} bytes is too short for a typed object "
                            f"(at least {MIN_OBJECT_SIZE})")


def read_frame(read: Callable[[int], bytes], max_size: int = DEFAULT_MAX_FRAME, expect=None):
    """Read one frame with ``read(n)`` (exactly n bytes or raise) and decode it.

    The length is checked against ``max_size`` before the payload is read. ``expect``: the type
    names accepted (e.g. ``("str",)`` for a command); the frame's type name is read and checked
    first, and a frame of another type is refused before the rest of its payload is read.
    """
    (n,) = _U32.unpack(_read_exact(read, 4))
    _check_frame_length(n, max_size)
    if expect is None:
        return decode(_read_exact(read, n), max_size)
    (k,) = _U32.unpack(_read_exact(read, 4))
    if k > _MAX_TYPE_NAME or k > n - 4:
        raise ProtocolError(f"expected {' or '.join(expect)}, got a type name of {k} bytes")
    raw = _read_exact(read, k)
    name = raw.decode("ascii", "replace")
    if name not in expect:
        shown = name if raw.isascii() else raw
        unknown = "unknown type name " if name not in _DECODERS else ""
        raise ProtocolError(f"expected {' or '.join(expect)}, got {unknown}{shown!r}")
    c = _Cursor(memoryview(_read_exact(read, n - 4 - k)))
    c.charge(OBJECT_COST)
    obj = _DECODERS[name](c, 0)
    if c.left:
        raise ProtocolError(f"{c.left} trailing bytes after the object")
    return obj


def _check_payload_start(buf, start: int, avail: int):
    """Refuse, as early as possible, a payload whose type header cannot be valid."""
    if avail < 4:
        return
    (n,) = _U32.unpack_from(buf, start)
    if n > _MAX_TYPE_NAME or not any(len(t) == n for t in _TYPE_NAMES_B):
        raise ProtocolError(f"unknown type name (a name of {n} bytes)")
    prefix = bytes(buf[start + 4:start + 4 + min(n, avail - 4)])
    if not any(len(t) == n and t.startswith(prefix) for t in _TYPE_NAMES_B):
        if len(prefix) == n:
            raise ProtocolError(f"unknown type name {prefix!r}")
        raise ProtocolError(f"unknown type name starting with {prefix!r}")


class FrameDecoder:
    """Incremental dialect-1 decoder: feed it bytes, get back the completed objects.

    Raises :class:`ProtocolError` as soon as the data cannot be valid (the frame length as soon as
    its 4 bytes are known, the type name as soon as its bytes arrive). After an error the decoder is
    broken: every later :meth:`feed` raises again.
    """

    def __init__(self, max_size: int = DEFAULT_MAX_FRAME):
        self.max_size = max_size
        self._buf = bytearray()
        self._error: Optional[ProtocolError] = None

    @property
    def pending(self) -> int:
        """Bytes buffered (an incomplete frame)."""
        return len(self._buf)

    def feed(self, data: bytes) -> list:
        if self._error is not None:
            raise ProtocolError(f"decoder already failed: {self._error}")
        try:
            return self._feed(data)
        except ProtocolError as e:
            self._error = e
            raise

    def _feed(self, data: bytes) -> list:
        buf = self._buf
        buf += data
        out = []
        while len(buf) >= 4:
            (n,) = _U32.unpack_from(buf, 0)
            _check_frame_length(n, self.max_size)
            avail = len(buf) - 4
            if avail < n:
                _check_payload_start(buf, 4, avail)
                break
            payload = bytes(buf[4:4 + n])
            del buf[:4 + n]
            out.append(decode(payload, self.max_size))
        return out


# ---------------------------------------------------------------------------------------------
# Dialect 2: classic
# ---------------------------------------------------------------------------------------------

def classic_string(s) -> bytes:
    """``[u32 len][bytes]``; a str is written as UTF-8."""
    if isinstance(s, str):
        s = _str_bytes(s)
    elif isinstance(s, (bytes, bytearray, memoryview)):
        s = bytes(s)
    else:
        raise ProtocolError(f"classic string must be str or bytes, not {type(s).__name__}")
    return _lp(s)


def _classic_scalar_array(x) -> np.ndarray:
    if isinstance(x, np.generic):
        if isinstance(x, (np.bool_, np.number)):
            arr = np.asarray(x).reshape(1)
            _check_dtype(arr.dtype)
            return arr
        raise ProtocolError(f"cannot send a scalar of dtype {np.asarray(x).dtype.str!r}")
    if isinstance(x, bool):
        return np.array([x], dtype="|b1")
    if isinstance(x, int):
        if -(1 << 63) <= x < (1 << 63):
            return np.array([x], dtype="<i8")
        if (1 << 63) <= x < (1 << 64):
            return np.array([x], dtype="<u8")
        raise ProtocolError(f"int {x} does not fit in 64 bits")
    if isinstance(x, float):
        return np.array([x], dtype="<f8")
    if isinstance(x, complex):
        return np.array([x], dtype="<c16")
    raise ProtocolError(f"classic scalar must be a number, not {type(x).__name__}")


def classic_scalar(x) -> bytes:
    """``string(dtype descr) + [u32 nbytes] + raw``; numpy scalars keep their dtype."""
    arr = _classic_scalar_array(x)
    descr = _check_dtype(arr.dtype)
    return b"".join((_lp(descr.encode("ascii")), _U32.pack(arr.nbytes), arr.tobytes()))


def classic_array(a: np.ndarray) -> bytes:
    """``string(descr) + [u32 nbytes] + [u32 ndim] + [u32 shape_i...] + raw (C order)``."""
    if not isinstance(a, np.ndarray):
        raise ProtocolError(f"classic array must be an ndarray, not {type(a).__name__}")
    parts: list = []
    _array_parts(a, parts)
    return b"".join(parts)


def classic_list(items) -> bytes:
    """``[u32 count]``, then per item a tag string (array/string/scalar) and the value."""
    items = list(items)
    parts = [_u32(len(items), "list count")]
    for item in items:
        if isinstance(item, np.ndarray):
            parts.append(classic_string("array"))
            _array_parts(item, parts)
        elif isinstance(item, (str, bytes, bytearray)):
            parts.append(classic_string("string"))
            parts.append(classic_string(item))
        elif isinstance(item, (bool, int, float, complex, np.bool_, np.number)):
            parts.append(classic_string("scalar"))
            parts.append(classic_scalar(item))
        else:
            raise ProtocolError(f"classic list items must be arrays, strings or scalars, "
                                f"not {type(item).__name__}")
    return b"".join(parts)


class _Budget:
    """A ``read(n)`` with a byte budget for one classic message."""
    __slots__ = ("read", "left", "max_size")

    def __init__(self, read, max_size):
        self.read = read
        self.left = max_size
        self.max_size = max_size

    def reserve(self, n: int, what: str):
        if n > self.left:
            raise ProtocolError(f"{what} of {n} bytes exceeds the maximum of {self.max_size} "
                                f"bytes per message ({self.left} left)")

    def take(self, n: int) -> bytes:
        self.reserve(n, "message part")
        data = _read_exact(self.read, n)
        self.left -= n
        return data

    def u32(self) -> int:
        return _U32.unpack(self.take(4))[0]


def _budget(read, max_size) -> _Budget:
    return read if isinstance(read, _Budget) else _Budget(read, max_size)


def _classic_str_bytes(b: _Budget, limit: Optional[int] = None, what="string") -> bytes:
    n = b.u32()
    if limit is not None and n > limit:
        raise ProtocolError(f"{what} of {n} bytes is too long (at most {limit})")
    b.reserve(n, what)
    return b.take(n)


def read_classic_string(read, max_size: int = DEFAULT_MAX_FRAME) -> str:
    raw = _classic_str_bytes(_budget(read, max_size))
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ProtocolError(f"string is not valid UTF-8: {e}") from None


def _classic_descr(b: _Budget):
    return _dtype_from(_classic_str_bytes(b, _MAX_DESCR_LEN, "dtype descriptor"))


def read_classic_scalar(read, max_size: int = DEFAULT_MAX_FRAME):
    """-> Python ``int`` / ``float`` / ``complex`` / ``bool``."""
    b = _budget(read, max_size)
    descr, dt = _classic_descr(b)
    nbytes = b.u32()
    if nbytes != dt.itemsize:
        raise ProtocolError(f"scalar of {nbytes} bytes for dtype {descr!r} "
                            f"(expected {dt.itemsize})")
    return _scalar_value(descr, dt, b.take(nbytes))


def read_classic_array(read, max_size: int = DEFAULT_MAX_FRAME) -> np.ndarray:
    b = _budget(read, max_size)
    descr, dt = _classic_descr(b)
    nbytes = b.u32()
    b.reserve(nbytes, "array")
    ndim = b.u32()
    if ndim > MAX_NDIM:
        raise ProtocolError(f"array of {ndim} dimensions exceeds the maximum of {MAX_NDIM}")
    shape = struct.unpack(f">{ndim}I", b.take(4 * ndim))
    return _array_from(descr, dt, nbytes, tuple(shape), b.take)


_CLASSIC_MIN_ITEM = 14  # tag 'string' (4 + 6) + an empty string (4)


def read_classic_list(read, max_size: int = DEFAULT_MAX_FRAME) -> list:
    """-> list of ndarray / str / Python scalars."""
    b = _budget(read, max_size)
    n = b.u32()
    if n * _CLASSIC_MIN_ITEM > b.left:
        raise ProtocolError(f"list announces {n} items, more than fit in {max_size} bytes")
    out = []
    for _ in range(n):
        raw = _classic_str_bytes(b, _MAX_CLASSIC_TAG, "list item tag")
        if raw == b"array":
            out.append(read_classic_array(b))
        elif raw == b"string":
            out.append(read_classic_string(b))
        elif raw == b"scalar":
            out.append(read_classic_scalar(b))
        else:
            raise ProtocolError(f"unknown list item tag {raw!r} (array, string or scalar)")
    return out


# ---------------------------------------------------------------------------------------------
# Dialect detection
# ---------------------------------------------------------------------------------------------

_P5_START = _U32.pack(3) + b"str"
_CLASSIC_IDS = {7: b"GRABBER", 8: b"ACTUATOR"}


def detect_dialect(first_bytes: bytes) -> Optional[str]:
    """Tell the dialect from the first bytes a client sends.

    ``'pymodaq5'``: ``[u32 N >= 11][00 00 00 03 'str']``; ``'classic'``: ``[u32 7]['GRABBER']`` or
    ``[u32 8]['ACTUATOR']``; ``None`` if more bytes are needed; :class:`ProtocolError` if the bytes
    can be neither.
    """
    data = bytes(first_bytes)
    if len(data) < 4:
        return None
    (n,) = _U32.unpack_from(data, 0)
    rest = data[4:]
    if n in _CLASSIC_IDS:
        ident = _CLASSIC_IDS[n]
        if not ident.startswith(rest[:len(ident)]):
            raise ProtocolError(f"classic client must identify as GRABBER or ACTUATOR, "
                                f"got {rest[:len(ident)]!r}")
        return DIALECT_CLASSIC if len(rest) >= len(ident) else None
    if n >= MIN_OBJECT_SIZE:
        if not _P5_START.startswith(rest[:len(_P5_START)]):
            raise ProtocolError(f"first frame must hold a str, got {rest[:len(_P5_START)]!r}")
        return DIALECT_PYMODAQ5 if len(rest) >= len(_P5_START) else None
    raise ProtocolError(f"first message length {n} fits neither dialect")
