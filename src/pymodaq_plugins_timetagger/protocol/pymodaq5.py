"""Dialect 1, "pymodaq5": the typed encoder and decoder of pymodaq_utils.serialize (byte for byte) and the
outer ``[u32 N][payload]`` frame (:func:`frame`, :func:`read_frame`). Every count is bounded before
it is read or allocated (package docstring, docs/protocol.rst)."""
from __future__ import annotations

import struct
from typing import Callable

import numpy as np

from .data_model import (ALLOC_FACTOR, ALLOC_SLACK, Axis, DEFAULT_MAX_FRAME, DTE_TYPE_NAMES, DWA_TYPE_NAMES,
                         DataToExport, DataWithAxes, MAX_DEPTH, MAX_NDIM, MAX_OBJECTS, MIN_OBJECT_SIZE,
                         NDARRAY_COST, OBJECT_COST, ProtocolError, _C128, _DIMS, _DISTRIBUTIONS, _DTYPES,
                         _DTYPES_B, _F64, _I64, _MAX_DESCR_LEN, _SCALAR_STRUCTS, _SOURCES, _U32, _U32_MAX, _U64)


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
    DataWithAxes: lambda obj, parts, depth: _enc_dwa_fast(obj, parts, depth),
    DataToExport: lambda obj, parts, depth: _enc_dte_fast(obj, parts, depth),
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
    names = _extra_names(d, what)

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
    _enc_extra(d, names, parts, depth)


def _enc_dte(d: DataToExport, parts: list, depth: int):
    tn = _check_choice(d.type_name, DTE_TYPE_NAMES, "DataToExport.type_name")
    ts = _check_timestamp(d.timestamp, tn)
    items = _as_list(d.data, f"{tn}.data")
    for item in items:
        if not isinstance(item, DataWithAxes):
            raise ProtocolError(f"{tn}.data items must be DataWithAxes, not {type(item).__name__}")
    names = _extra_names(d, tn)
    parts.append(_header(tn))
    _enc_float(ts, parts)
    _enc_str(d.name, parts, f"{tn}.name")
    _enc(items, parts, depth + 1)
    _enc_extra(d, names, parts, depth)


def _extra_names(d, what: str) -> list:
    """The checked names of the extra attributes of a DataWithAxes or DataToExport."""
    if not isinstance(d.extra, dict):
        raise ProtocolError(f"{what}.extra must be a dict, not {type(d.extra).__name__}")
    return _check_extra_names(list(d.extra.keys()), what)


def _enc_extra(d, names: list, parts: list, depth: int):
    """The extra attributes as the wire has them: the list of names, then one value per name."""
    _enc(names, parts, depth + 1)
    for n in names:
        _enc(d.extra[n], parts, depth + 1)


# Fast paths of the encoder for a DataToExport / DataWithAxes in the usual form (exact types, 1-D C-contiguous
# arrays of the accepted dtypes, no extra attributes...): the same bytes as the general encoders above, in a
# few parts (the small fixed fields joined, each array's data as a memoryview). They write nothing unless the
# whole object is in that form (every check of the general path holds); otherwise the general encoder encodes
# it (and raises its own error).

_DWA_HEADER_BYTES = {tn: _header(tn) for tn in DWA_TYPE_NAMES}
_DTE_HEADER_BYTES = {tn: _header(tn) for tn in DTE_TYPE_NAMES}
_SOURCE_BYTES, _DIM_BYTES, _DISTRIBUTION_BYTES = (
    {v: _HEADER_STR + _lp(v.encode("ascii")) for v in choices} for choices in (_SOURCES, _DIMS, _DISTRIBUTIONS))
_NDARRAY_HEADS = {descr: _HEADER_NDARRAY + _lp(descr.encode("ascii")) for descr in _DTYPES}
_HEADER_AXIS = _header("Axis")
_EMPTY_LIST_BYTES = _HEADER_LIST + _U32.pack(0)
_INT_HEAD = _HEADER_INT + _I8_PREFIX
_FLOAT_HEAD = _HEADER_FLOAT + _F8_PREFIX
_ARRAY_COUNTS = struct.Struct(">III")  # nbytes, ndim (1), length
_I64_MIN, _I64_END = -(1 << 63), 1 << 63


#: str -> its str object, for the short strings a peer sends again and again (names, units, labels)
_STR_OBJECTS: dict = {}
_MAX_STR_OBJECTS = 256
_MAX_CACHED_STR = 64


def _fast_str(s, seg: list) -> bool:
    """Append the str object of an exact str to seg; False (nothing appended) if it is not one or not UTF-8."""
    if type(s) is not str:
        return False
    obj = _STR_OBJECTS.get(s)
    if obj is None:
        try:
            b = s.encode("utf-8")
        except UnicodeEncodeError:
            return False
        if len(b) > _U32_MAX:
            return False
        obj = _HEADER_STR + _U32.pack(len(b)) + b
        if len(b) <= _MAX_CACHED_STR:
            if len(_STR_OBJECTS) >= _MAX_STR_OBJECTS:
                _STR_OBJECTS.clear()
            _STR_OBJECTS[s] = obj
    seg.append(obj)
    return True


def _fast_array(a, seg: list, out: list) -> bool:
    """Append an ndarray object of a 1-D C-contiguous array: its head to seg, then seg joined and the raw data
    to out (seg emptied); False (nothing changed) if the array is not of that form."""
    if type(a) is not np.ndarray or a.ndim != 1:
        return False
    head = _NDARRAY_HEADS.get(a.dtype.str)
    if head is None:
        return False
    try:
        raw = memoryview(a).cast("B")  # its bytes (tests: every accepted dtype)
    except TypeError:  # not C-contiguous
        return False
    if len(raw) > _U32_MAX:
        return False
    seg.append(head)
    seg.append(_ARRAY_COUNTS.pack(len(raw), 1, a.shape[0]))
    out.append(b"".join(seg))
    seg.clear()
    out.append(raw)
    return True


def _fast_dwa_parts(d, depth: int, out: list, seg: list) -> bool:
    """The DataWithAxes ``d`` encoded at ``depth`` appended to out/seg (see _fast_array), or False: then out and
    seg may hold part of it (the caller drops them)."""
    tn = d.type_name
    head = _DWA_HEADER_BYTES.get(tn) if type(tn) is str else None
    if head is None or type(d.timestamp) is not float or depth + 3 > MAX_DEPTH:
        return False
    seg += (head, _FLOAT_HEAD, _F64.pack(d.timestamp))
    if not _fast_str(d.name, seg):
        return False
    choices = (_SOURCE_BYTES.get(d.source) if type(d.source) is str else None,
               _DIM_BYTES.get(d.dim) if type(d.dim) is str else None,
               _DISTRIBUTION_BYTES.get(d.distribution) if type(d.distribution) is str else None)
    data, labels, nav, axes, errors = d.data, d.labels, d.nav_indexes, d.axes, d.errors
    if errors is None:
        errors = []
    if (None in choices or type(data) is not list or type(labels) is not list or type(nav) is not list
            or type(axes) is not list or type(errors) is not list or type(d.extra) is not dict or d.extra):
        return False
    seg += choices
    seg += (_HEADER_LIST, _U32.pack(len(data)))
    for a in data:
        if not _fast_array(a, seg, out):
            return False
    if not _fast_str(d.units, seg):
        return False
    seg += (_HEADER_LIST, _U32.pack(len(labels)))
    for lab in labels:
        if not _fast_str(lab, seg):
            return False
    if not _fast_str(d.origin, seg):
        return False
    seg += (_HEADER_LIST, _U32.pack(len(nav)))
    for i in nav:
        if type(i) is not int or not 0 <= i < _I64_END:
            return False
        seg += (_INT_HEAD, _I64.pack(i))
    seg += (_HEADER_LIST, _U32.pack(len(axes)))
    for ax in axes:
        if type(ax) is not Axis:
            return False
        seg.append(_HEADER_AXIS)
        if not (_fast_str(ax.label, seg) and _fast_str(ax.units, seg) and _fast_array(ax.data, seg, out)):
            return False
        index, spread_order = ax.index, ax.spread_order
        if (type(index) is not int or type(spread_order) is not int or not 0 <= index < _I64_END
                or not _I64_MIN <= spread_order < _I64_END):
            return False
        seg += (_INT_HEAD, _I64.pack(index), _INT_HEAD, _I64.pack(spread_order))
    seg += (_HEADER_LIST, _U32.pack(len(errors)))
    for a in errors:
        if not _fast_array(a, seg, out):
            return False
    seg.append(_EMPTY_LIST_BYTES)  # no extra attributes
    return True


def _enc_dwa_fast(d, parts: list, depth: int):
    out: list = []
    seg: list = []
    if not _fast_dwa_parts(d, depth, out, seg):
        _enc_dwa(d, parts, depth)
        return
    out.append(b"".join(seg))
    parts += out


def _enc_dte_fast(d, parts: list, depth: int):
    tn = d.type_name
    head = _DTE_HEADER_BYTES.get(tn) if type(tn) is str else None
    items = d.data
    if (head is not None and type(d.timestamp) is float and type(items) is list and type(d.extra) is dict
            and not d.extra):
        out: list = []
        seg = [head, _FLOAT_HEAD, _F64.pack(d.timestamp)]
        if _fast_str(d.name, seg):
            seg += (_HEADER_LIST, _U32.pack(len(items)))
            for item in items:
                if type(item) is not DataWithAxes or not _fast_dwa_parts(item, depth + 2, out, seg):
                    break
            else:
                seg.append(_EMPTY_LIST_BYTES)  # no extra attributes
                out.append(b"".join(seg))
                parts += out
                return
    _enc_dte(d, parts, depth)


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
    return b"".join(encode_frame_parts(*objs))


def encode_frame_parts(*objs) -> list:
    """The bytes of :func:`encode_frames`, not joined: arrays' data are views of the arrays themselves (for a
    gathering write, net.send_all: a large reply is not copied once more before the kernel copies it)."""
    out: list = []
    for obj in objs:
        if type(obj) is str:  # a command: its str object, cached if short
            seg: list = []
            if _fast_str(obj, seg):
                out.append(_u32(len(seg[0]), "frame length"))
                out.append(seg[0])
                continue
        parts = _encode_parts(obj)
        out.append(_u32(sum(len(p) for p in parts), "frame length"))
        out.extend(parts)
    return out


# ---------------------------------------------------------------------------------------------
# Dialect 1: decoding
# ---------------------------------------------------------------------------------------------

class _Cursor:
    __slots__ = ("buf", "data", "pos", "end", "objects_left", "alloc_left")

    def __init__(self, buf: memoryview, data=b""):
        self.buf = buf
        #: the same bytes as a bytes/bytearray (what the fast paths compare headers with), or b"" (no fast path
        #: matches: every object then takes the general path)
        self.data = data
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


# ---------------------------------------------------------------------------------------------
# Dialect 1: decoding fast paths
# ---------------------------------------------------------------------------------------------
# An Axis, DataWithAxes or DataToExport is first read by a pure function (_ff_*) that accepts only the one
# form our encoder and pymodaq_utils write (each field of its expected type, in standard dtypes, 1-D
# non-bool arrays, no extra attributes...) and returns the object with the position after it and the
# objects and bytes the general decoder would have charged for it, or None at the first deviation. The
# cursor takes that result only if the charges fit the limits left (the charges only ever decrease them:
# the general decoder would have hit no limit either); otherwise the general decoder reads the same bytes
# from the same cursor and gives its own result or error. The general decoders stay as _DECODERS (tests
# compare the two on corrupted and truncated frames).

_NDARRAY_F8_HEAD = _NDARRAY_HEADS["<f8"]
_DTYPE_F8 = _DTYPES["<f8"]
_ARRAY_COST = OBJECT_COST + NDARRAY_COST
#: the objects and bytes (besides its strings' characters) an Axis body is charged: label, units, data, two ints
_AXIS_OBJECTS, _AXIS_ALLOC = 8, 2 * OBJECT_COST + _ARRAY_COST + 2 * OBJECT_COST
#: a DataWithAxes' type header by its bytes (u32 length + name) -> its type name
_DWA_HEADERS = {h: tn for tn, h in _DWA_HEADER_BYTES.items()}
#: the deepest object of a fast-path Axis / DataWithAxes / DataToExport, below the object itself
_AXIS_DEPTH, _DWA_DEPTH, _DTE_DEPTH = 1, 3, 5
#: what the pure readers may raise on truncated input (they are then simply not taken)
_FF_MISS = (struct.error, UnicodeDecodeError)


def _ff_str(data, buf, pos: int):
    """(str, position after it) of a str object at ``pos``, or None."""
    if not data.startswith(_HEADER_STR, pos):
        return None
    (n,) = _U32.unpack_from(data, pos + 7)
    p = pos + 11
    if n > len(data) - p:
        return None
    return data[p:p + n].decode("utf-8"), p + n


def _ff_array(data, buf, pos: int, rec=None):
    """(array, position after it) of a 1-D, non-bool ndarray object at ``pos``, or None. ``rec``: a list to
    append (position, dtype, count) of its raw data to."""
    if data.startswith(_NDARRAY_F8_HEAD, pos):  # the usual dtype, without a look-up
        p = pos + 18
        dt = _DTYPE_F8
    else:
        if not data.startswith(_HEADER_NDARRAY, pos):
            return None
        (k,) = _U32.unpack_from(data, pos + 11)
        p = pos + 15
        if k > _MAX_DESCR_LEN or k > len(data) - p:
            return None
        hit = _DTYPES_B.get(buf[p:p + k].tobytes())
        if hit is None:
            return None
        p += k
        dt = hit[1]
    nbytes, ndim, count = _ARRAY_COUNTS.unpack_from(data, p)
    p += 12
    if ndim != 1 or dt.kind == "b" or count * dt.itemsize != nbytes or nbytes > len(data) - p:
        return None
    if rec is not None:
        rec.append((p, dt, count))
    return np.frombuffer(data, dt, count, p), p + nbytes


def _ff_list(data, pos: int):
    """(item count, position of the first item) of a list object at ``pos`` (its count checked as _dec_seq
    does), or None."""
    if not data.startswith(_HEADER_LIST, pos):
        return None
    (n,) = _U32.unpack_from(data, pos + 8)
    pos += 12
    if n * MIN_OBJECT_SIZE > len(data) - pos:
        return None
    return n, pos


def _ff_arrays(data, buf, pos: int, objs_left: int, alloc_left: int, rec):
    """(arrays, position after) of a list of 1-D non-bool ndarray objects at ``pos`` (see _ff_array), or None
    (also if they would be charged more than ``objs_left`` objects or ``alloc_left`` bytes)."""
    got = _ff_list(data, pos)
    if got is None:
        return None
    n, pos = got
    if 1 + 2 * n > objs_left or OBJECT_COST + n * _ARRAY_COST > alloc_left:
        return None
    arrays = []
    for _ in range(n):
        got = _ff_array(data, buf, pos, rec)
        if got is None:
            return None
        arrays.append(got[0])
        pos = got[1]
    return arrays, pos


def _ff_axis(data, buf, pos: int, objs_left: int, alloc_left: int, rec=None):
    """(Axis, position after, objects, bytes charged) of an Axis body at ``pos``, or None (also if it would be
    charged more than ``objs_left`` objects or about ``alloc_left`` bytes: the limits are checked exactly by the
    caller, these bounds only keep what a refused frame allocates here near what the general decoder would)."""
    if objs_left < _AXIS_OBJECTS or alloc_left < _AXIS_ALLOC:
        return None
    got = _ff_str(data, buf, pos)
    if got is None:
        return None
    label, p = got
    alloc = p - pos - 11
    got = _ff_str(data, buf, p)
    if got is None:
        return None
    units, q = got
    alloc += q - p - 11
    got = _ff_array(data, buf, q, rec)
    if got is None or not data.startswith(_INT_HEAD, got[1]) or not data.startswith(_INT_HEAD, got[1] + 26):
        return None
    arr, p = got
    (index,) = _I64.unpack_from(data, p + 18)
    (spread_order,) = _I64.unpack_from(data, p + 44)
    if index < 0:
        return None
    return (Axis(label=label, units=units, data=arr, index=index, spread_order=spread_order), p + 52,
            _AXIS_OBJECTS, alloc + _AXIS_ALLOC)


def _ff_dwa(data, buf, pos: int, objs_left: int, alloc_left: int, tn: str, rec=None):
    """(DataWithAxes, position after, objects, bytes charged) of a DataWithAxes body at ``pos``, or None
    (``rec``: a list to append the places of its timestamp and array data to, see _ff_array; the limits: see
    _ff_axis, checked before each list's items are read)."""
    if not data.startswith(_FLOAT_HEAD, pos):
        return None
    (ts,) = _F64.unpack_from(data, pos + 20)
    if rec is not None:
        rec.append((pos + 20, None, 1))
    pos += 28
    objects = 1
    alloc = OBJECT_COST
    strs = []
    for _ in range(4):  # name, source, dim, distribution
        got = _ff_str(data, buf, pos)
        if got is None:
            return None
        strs.append(got[0])
        alloc += got[1] - pos - 11 + OBJECT_COST
        pos = got[1]
    name, source, dim, distribution = strs
    if source not in _SOURCES or dim not in _DIMS or distribution not in _DISTRIBUTIONS:
        return None
    got = _ff_arrays(data, buf, pos, objs_left - 9, alloc_left - alloc, rec)
    if got is None:
        return None
    arrays, pos = got
    objects += 9 + 2 * len(arrays)
    alloc += OBJECT_COST + len(arrays) * _ARRAY_COST
    got = _ff_str(data, buf, pos)
    if got is None:
        return None
    units = got[0]
    alloc += got[1] - pos - 11 + OBJECT_COST
    pos = got[1]
    got = _ff_list(data, pos)
    if got is None:
        return None
    n, pos = got
    objects += 3 + 2 * n  # units (2), the labels list and each label
    alloc += OBJECT_COST + n * OBJECT_COST
    if objects > objs_left or alloc > alloc_left:
        return None
    labels = []
    for _ in range(n):
        got = _ff_str(data, buf, pos)
        if got is None:
            return None
        labels.append(got[0])
        alloc += got[1] - pos - 11
        pos = got[1]
    got = _ff_str(data, buf, pos)  # origin
    if got is None or not data.startswith(_EMPTY_LIST_BYTES, got[1]):  # then nav_indexes: []
        return None
    origin = got[0]
    alloc += got[1] - pos - 11 + OBJECT_COST + OBJECT_COST
    pos = got[1] + 12
    got = _ff_list(data, pos)
    if got is None:
        return None
    n, pos = got
    objects += 4 + n  # origin (2), nav_indexes (1), the axes list and each Axis header
    alloc += OBJECT_COST + n * OBJECT_COST

    def axis_at(p: int, objs: int, mem: int):
        return _ff_axis(data, buf, p + 8, objs, mem, rec) if data.startswith(_HEADER_AXIS, p) else None
    got = _ff_each(n, pos, objects, alloc, objs_left, alloc_left, axis_at)
    if got is None:
        return None
    axes, pos, objects, alloc = got
    got = _ff_arrays(data, buf, pos, objs_left - objects, alloc_left - alloc, rec)
    if got is None:
        return None
    errors, pos = got
    objects += 1 + 2 * len(errors)
    alloc += OBJECT_COST + len(errors) * _ARRAY_COST
    if not data.startswith(_EMPTY_LIST_BYTES, pos):  # extra attribute names: none
        return None
    return (DataWithAxes(name=name, data=arrays, dim=dim, units=units, labels=labels, axes=axes, source=source,
                         distribution=distribution, origin=origin, nav_indexes=[], errors=errors, extra={},
                         timestamp=ts, type_name=tn),
            pos + 12, objects + 1, alloc + OBJECT_COST)


def _ff_each(n: int, pos: int, objects: int, alloc: int, objs_left: int, alloc_left: int, read_at):
    """``n`` objects one after the other from ``pos``, each by ``read_at(pos, objects left, bytes left)`` ->
    (object, position after, objects, bytes charged) or None: (the objects, position after, objects and bytes
    charged in all, counting from ``objects`` and ``alloc``), or None if one could not be read so."""
    out = []
    for _ in range(n):
        got = read_at(pos, objs_left - objects, alloc_left - alloc)
        if got is None:
            return None
        out.append(got[0])
        pos = got[1]
        objects += got[2]
        alloc += got[3]
    return out, pos, objects, alloc


def _ff_dte(data, buf, pos: int, objs_left: int, alloc_left: int, tn: str, rec=None):
    """(DataToExport, position after, objects, bytes charged) of a DataToExport body at ``pos``, or None
    (``rec`` and the limits: see _ff_dwa)."""
    if not data.startswith(_FLOAT_HEAD, pos):
        return None
    (ts,) = _F64.unpack_from(data, pos + 20)
    if rec is not None:
        rec.append((pos + 20, None, 1))
    got = _ff_str(data, buf, pos + 28)
    if got is None:
        return None
    name = got[0]
    alloc = got[1] - pos - 39 + 3 * OBJECT_COST  # timestamp, name (2 objects, 1 header), data list
    got = _ff_list(data, got[1])
    if got is None:
        return None
    n, pos = got
    objects = 4 + n
    alloc += n * OBJECT_COST

    def dwa_at(p: int, objs: int, mem: int):
        (k,) = _U32.unpack_from(data, p)
        dwa_tn = _DWA_HEADERS.get(buf[p:p + 4 + k].tobytes())
        return None if dwa_tn is None else _ff_dwa(data, buf, p + 4 + k, objs, mem, dwa_tn, rec)
    got = _ff_each(n, pos, objects, alloc, objs_left, alloc_left, dwa_at)
    if got is None:
        return None
    items, pos, objects, alloc = got
    if not data.startswith(_EMPTY_LIST_BYTES, pos):  # extra attribute names: none
        return None
    return (DataToExport(name=name, data=items, extra={}, timestamp=ts, type_name=tn), pos + 12,
            objects + 1, alloc + OBJECT_COST)


def _dec_fast(c: _Cursor, depth: int, below: int, ff, general, *args):
    """The object read by the pure reader ``ff`` if it reads it and its charges fit (and its deepest object,
    ``below`` levels down, is within MAX_DEPTH), else ``general(c, depth, *args)`` from the same cursor."""
    if depth + below <= MAX_DEPTH:
        try:
            got = ff(c.data, c.buf, c.pos, c.objects_left, c.alloc_left, *args)
        except _FF_MISS:
            got = None
        if got is not None and got[2] <= c.objects_left and got[3] <= c.alloc_left:
            c.pos = got[1]
            c.objects_left -= got[2]
            c.alloc_left -= got[3]
            return got[0]
    return general(c, depth, *args)


# A peer sends the same DataToExport again and again (the same names, units, labels, array sizes: only its
# timestamps and the arrays' values change). The first one read by _ff_dte leaves a template: its bytes
# outside those values, the places of the values, what it was charged and the fields to rebuild it from. A
# later body of the same type and size whose bytes outside the values are the same is, for the general
# decoder too, the same object with the values read from their places (any 8 bytes are a float64, any bytes
# a non-bool array) and the same charges.

class _Template:
    __slots__ = ("fixed", "values", "size", "objects", "alloc", "fields")

    def __init__(self, data, start: int, got, rec: list, tn: str):
        dte, end, self.objects, self.alloc = got
        self.size = end - start
        self.fixed = []
        self.values = []
        prev = start
        for p, dt, count in rec:  # in increasing positions
            self.fixed.append((prev - start, bytes(data[prev:p])))
            self.values.append((p - start, dt, count))
            prev = p + (8 if dt is None else count * dt.itemsize)
        self.fixed.append((prev - start, bytes(data[prev:end])))
        self.fields = (dte.name, tn, tuple(
            (d.type_name, d.name, d.source, d.dim, d.distribution, d.units, tuple(d.labels), d.origin,
             len(d.data), tuple((a.label, a.units, a.index, a.spread_order) for a in d.axes), len(d.errors))
            for d in dte.data))

    def rebuild(self, data, pos: int) -> DataToExport:
        vals = iter([_F64.unpack_from(data, pos + off)[0] if dt is None else np.frombuffer(data, dt, n, pos + off)
                     for off, dt, n in self.values])
        name, tn, dwas = self.fields
        ts = next(vals)
        items = []
        for dtn, dname, source, dim, distribution, units, labels, origin, n_data, axes, n_errors in dwas:
            dts = next(vals)
            arrays = [next(vals) for _ in range(n_data)]
            ax = [Axis(label=lab, units=u, data=next(vals), index=i, spread_order=so) for lab, u, i, so in axes]
            errors = [next(vals) for _ in range(n_errors)]
            items.append(DataWithAxes(name=dname, data=arrays, dim=dim, units=units, labels=list(labels), axes=ax,
                                      source=source, distribution=distribution, origin=origin, nav_indexes=[],
                                      errors=errors, extra={}, timestamp=dts, type_name=dtn))
        return DataToExport(name=name, data=items, extra={}, timestamp=ts, type_name=tn)


#: (type name, bytes from the body to the end of the buffer) -> _Template (a few: cleared when full); only
#: for small forms: at most _MAX_TEMPLATE_OBJECTS objects and _MAX_TEMPLATE_BYTES bytes outside their values
_TEMPLATES: dict = {}
_MAX_TEMPLATES = 32
_MAX_TEMPLATE_OBJECTS = 256
_MAX_TEMPLATE_BYTES = 4096


def _dec_dte_fast(c: _Cursor, depth: int, tn: str) -> DataToExport:
    """A DataToExport as _dec_dte reads it: by its template, else _ff_dte (leaving a template), else _dec_dte."""
    if depth + _DTE_DEPTH <= MAX_DEPTH:
        data = c.data
        pos = c.pos
        key = (tn, c.end - pos)
        t = _TEMPLATES.get(key)
        if t is not None and t.objects <= c.objects_left and t.alloc <= c.alloc_left:
            for off, fixed in t.fixed:
                if not data.startswith(fixed, pos + off):
                    break
            else:
                c.pos = pos + t.size
                c.objects_left -= t.objects
                c.alloc_left -= t.alloc
                return t.rebuild(data, pos)
        try:
            got = _ff_dte(data, c.buf, pos, c.objects_left, c.alloc_left, tn)
        except _FF_MISS:
            got = None
        if got is not None and got[2] <= c.objects_left and got[3] <= c.alloc_left:
            if got[2] <= _MAX_TEMPLATE_OBJECTS:
                rec: list = []
                t = _Template(data, pos, _ff_dte(data, c.buf, pos, c.objects_left, c.alloc_left, tn, rec), rec, tn)
                if sum(len(fixed) for _, fixed in t.fixed) <= _MAX_TEMPLATE_BYTES:
                    if len(_TEMPLATES) >= _MAX_TEMPLATES:
                        _TEMPLATES.clear()
                    _TEMPLATES[key] = t
            c.pos = got[1]
            c.objects_left -= got[2]
            c.alloc_left -= got[3]
            return got[0]
    return _dec_dte(c, depth, tn)


#: the handlers _dec and read_frame use: the general decoders, with the fast paths for Axis, DataWithAxes and
#: DataToExport (every type name of theirs)
_HANDLERS: dict = dict(_DECODERS, Axis=lambda c, d: _dec_fast(c, d, _AXIS_DEPTH, _ff_axis, _dec_axis))
for _tn in DWA_TYPE_NAMES:
    _HANDLERS[_tn] = (lambda tn: lambda c, d: _dec_fast(c, d, _DWA_DEPTH, _ff_dwa, _dec_dwa, tn))(_tn)
for _tn in DTE_TYPE_NAMES:
    _HANDLERS[_tn] = (lambda tn: lambda c, d: _dec_dte_fast(c, d, tn))(_tn)
del _tn
_HANDLERS_B = {k.encode("ascii"): v for k, v in _HANDLERS.items()}


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
    handler = _HANDLERS_B.get(raw)
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
    c = _Cursor(mv, payload if type(payload) in (bytes, bytearray) else b"")
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
    payload = _read_exact(read, n - 4 - k)
    c = _Cursor(memoryview(payload), payload if type(payload) in (bytes, bytearray) else b"")
    c.charge(OBJECT_COST)
    obj = _HANDLERS[name](c, 0)
    if c.left:
        raise ProtocolError(f"{c.left} trailing bytes after the object")
    return obj
