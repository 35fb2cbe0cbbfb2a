"""Dialect 1, "pymodaq5": the typed serialization of pymodaq_utils.serialize (byte for byte) and the outer
``[u32 N][payload]`` frame. One table, :data:`TYPES`, holds a (write, read) pair per type name, as
``serializall`` does; every bound is the :class:`~.codec.Cursor`'s."""
from __future__ import annotations

from typing import Callable

import numpy as np

from ..data_model import Axis, DTE_TYPE_NAMES, DWA_TYPE_NAMES, DataToExport, DataWithAxes, ProtocolError
from . import codec
from .codec import Cursor, DEFAULT_MAX_FRAME, OBJECT_COST, U32, lp, u32

#: the smallest typed object: [u32 3]['str'][u32 0]
MIN_OBJECT_SIZE = 11


# ------------------------------------------------------------------------------- one writer, one reader per type
def write(obj, out: list, depth: int = 0) -> None:
    """Append the typed bytes of ``obj`` (type header + body) to ``out``."""
    codec.Cursor.nest(depth)
    name, obj = _type_name(obj)
    out.append(_HEADERS[name])
    TYPES[name][0](obj, out, depth)


def read(cur: Cursor, depth: int = 0):
    """One typed object from ``cur``."""
    if depth > codec.MAX_DEPTH:
        raise ProtocolError(f"nesting deeper than {codec.MAX_DEPTH} levels")
    n = cur.u32()
    if n > _MAX_TYPE_NAME:
        raise ProtocolError(f"unknown type name (a name of {n} bytes)")
    raw = bytes(cur.take(n))
    entry = _BY_NAME.get(raw)
    if entry is None:
        raise ProtocolError(f"unknown type name {raw.decode('ascii') if raw.isascii() else raw!r}")
    cur.charge(OBJECT_COST)
    return entry[1](cur, depth)


_EXACT = {str: "str", bytes: "bytes", type(None): "NoneType", bool: "bool", int: "int", float: "float",
          complex: "complex", np.ndarray: "ndarray", list: "list", tuple: "tuple", dict: "dict", Axis: "Axis"}
_BASES = (bool, int, float, complex, str, bytes, tuple, list, dict)


def _type_name(obj):
    """(wire type name, the object as that type) of a value we can write."""
    name = _EXACT.get(type(obj))
    if name is not None:
        return name, obj
    if isinstance(obj, DataWithAxes):
        return codec.check_choice(obj.type_name, DWA_TYPE_NAMES, "DataWithAxes.type_name"), obj
    if isinstance(obj, DataToExport):
        return codec.check_choice(obj.type_name, DTE_TYPE_NAMES, "DataToExport.type_name"), obj
    if isinstance(obj, np.ndarray):
        return "ndarray", obj
    if isinstance(obj, np.generic) and not isinstance(obj, (str, bytes)):
        kind, size = obj.dtype.kind, obj.dtype.itemsize
        if kind not in "biufc" or size > {"f": 8, "c": 16}.get(kind, 8):
            raise ProtocolError(f"cannot encode numpy scalars of dtype {obj.dtype.str!r}")
        obj = obj.item()
        return _EXACT[type(obj)], obj
    if isinstance(obj, (bytearray, memoryview)):
        return "bytes", bytes(obj)
    for base in _BASES:  # subclasses (enums, namedtuples, OrderedDict): as their base type
        if isinstance(obj, base):
            return _EXACT[base], obj
    if isinstance(obj, Axis):
        return "Axis", obj
    raise ProtocolError(f"cannot encode objects of type {type(obj).__name__!r}")


def _scalar_writer(obj, out, depth):
    out.append(codec.scalar_bytes(obj))


def _scalar_reader(kinds: str, name: str):
    return lambda cur, depth: codec.read_scalar(cur, kinds, name)


def _write_str(obj, out, depth):
    out.append(lp(codec.utf8(obj)))


def _write_bytes(obj, out, depth):
    out.append(lp(bytes(obj), "bytes"))


def _read_bytes(cur, depth):
    raw = codec.read_lp(cur, None, "bytes")
    cur.charge(len(raw))
    return bytes(raw)


def _write_array(obj, out, depth):
    codec.write_array(np.asarray(obj), out)


def _write_seq(obj, out, depth):
    out.append(u32(len(obj), "list count"))
    for item in obj:
        write(item, out, depth + 1)


def _read_seq(cur, depth):
    n = cur.count(cur.u32(), MIN_OBJECT_SIZE, "list")
    return [read(cur, depth + 1) for _ in range(n)]


def _write_dict(obj, out, depth):
    keys = list(obj)
    write(keys, out, depth + 1)
    for k in keys:
        write(obj[k], out, depth + 1)


def _read_dict(cur, depth):
    keys = read(cur, depth + 1)
    if type(keys) is not list:
        raise ProtocolError(f"dict keys must be a list, not {type(keys).__name__}")
    cur.count(len(keys), MIN_OBJECT_SIZE, "dict")
    out = {}
    for k in keys:
        try:
            hash(k)
        except TypeError:
            raise ProtocolError(f"dict key of type {type(k).__name__} is not hashable") from None
        if k in out:
            raise ProtocolError(f"dict key {k!r} appears twice")
        out[k] = read(cur, depth + 1)
    return out


def _expect(cur, depth, what, check):
    value = read(cur, depth + 1)
    return check(value, what)


def _want(tp, desc):
    def check(value, what):
        if type(value) is not tp:
            raise ProtocolError(f"{what} must be {desc}, not {type(value).__name__}")
        return value
    return check


_str, _list, _int = _want(str, "a str"), _want(list, "a list"), _want(int, "an int")


def _items(check):
    def checked(value, what):
        return codec.as_list(_list(value, what), what, check)
    return checked


def _write_axis(ax, out, depth):
    for value in (codec.check_str(ax.label, "Axis.label"), codec.check_str(ax.units, "Axis.units"),
                  codec.check_axis_data(ax.data), codec.check_int(ax.index, "Axis.index", 0),
                  codec.check_int(ax.spread_order, "Axis.spread_order")):
        write(value, out, depth + 1)


def _read_axis(cur, depth):
    label = _expect(cur, depth, "Axis.label", _str)
    units = _expect(cur, depth, "Axis.units", _str)
    data = codec.check_axis_data(read(cur, depth + 1))
    index = _expect(cur, depth, "Axis.index", _int)
    if index < 0:
        raise ProtocolError(f"Axis.index must be >= 0, got {index}")
    spread_order = _expect(cur, depth, "Axis.spread_order", _int)
    return Axis(label=label, units=units, data=data, index=index, spread_order=spread_order)


def _timestamp(value, what):
    if type(value) not in (float, int):
        raise ProtocolError(f"{what}.timestamp must be a float, not {type(value).__name__}")
    return float(value)


def _write_extra(d, names, out, depth):
    write(names, out, depth + 1)
    for n in names:
        write(d.extra[n], out, depth + 1)


def _read_extra(cur, depth, what) -> dict:
    names = codec.check_extra_names(_expect(cur, depth, f"{what} extra attribute names",
                                            _items(codec.is_type(str, "str"))), what)
    cur.count(len(names), MIN_OBJECT_SIZE, f"{what} extra attributes")
    return {n: read(cur, depth + 1) for n in names}


#: the fields of a DataWithAxes in wire order (PyMoDAQ 5): (attribute, check on reading)
_DWA_FIELDS = (("name", _str), ("source", _str), ("dim", _str), ("distribution", _str),
               ("data", _items(codec.is_type(np.ndarray, "ndarray"))), ("units", _str),
               ("labels", _items(codec.is_type(str, "str"))), ("origin", _str),
               ("nav_indexes", _items(codec.check_index)), ("axes", _items(codec.is_type(Axis, "Axis"))),
               ("errors", _items(codec.is_type(np.ndarray, "ndarray"))))


def _dwa_writer(tn):
    def write_dwa(d, out, depth):
        f = codec.dwa_fields(d, tn)
        write(f["timestamp"], out, depth + 1)
        for attr, _ in _DWA_FIELDS:
            write(f[attr], out, depth + 1)
        _write_extra(d, f["extra_names"], out, depth)
    return write_dwa


def _dwa_reader(tn):
    def read_dwa(cur, depth):
        f = {"timestamp": _timestamp(read(cur, depth + 1), tn)}
        for attr, check in _DWA_FIELDS:
            f[attr] = _expect(cur, depth, f"{tn}.{attr}", check)
        f["extra"] = _read_extra(cur, depth, tn)
        return codec.make_dwa(tn, f)
    return read_dwa


def _dte_writer(tn):
    def write_dte(d, out, depth):
        ts = codec.check_timestamp(d.timestamp, tn)
        items = codec.as_list(d.data, f"{tn}.data", codec.is_type(DataWithAxes, "DataWithAxes"))
        names = codec.extra_names(d, tn)
        for value in (ts, codec.check_str(d.name, f"{tn}.name"), items):
            write(value, out, depth + 1)
        _write_extra(d, names, out, depth)
    return write_dte


def _dte_reader(tn):
    def read_dte(cur, depth):
        ts = _timestamp(read(cur, depth + 1), tn)
        name = _expect(cur, depth, f"{tn}.name", _str)
        data = _expect(cur, depth, f"{tn}.data", _items(codec.is_type(DataWithAxes, "DataWithAxes")))
        return DataToExport(name=name, data=data, extra=_read_extra(cur, depth, tn), timestamp=ts, type_name=tn)
    return read_dte


#: type name -> (write(obj, out, depth), read(cursor, depth)): the one table of the dialect
TYPES: dict = {
    "str": (_write_str, lambda cur, depth: codec.read_text(cur)),
    "bytes": (_write_bytes, _read_bytes),
    "NoneType": (lambda obj, out, depth: None, lambda cur, depth: None),
    "int": (_scalar_writer, _scalar_reader("iu", "int")),
    "float": (_scalar_writer, _scalar_reader("f", "float")),
    "bool": (_scalar_writer, _scalar_reader("b", "bool")),
    "complex": (_scalar_writer, _scalar_reader("c", "complex")),
    "ndarray": (_write_array, lambda cur, depth: codec.read_array(cur)),
    "list": (_write_seq, _read_seq),
    "tuple": (_write_seq, lambda cur, depth: tuple(_read_seq(cur, depth))),
    "dict": (_write_dict, _read_dict),
    "Axis": (_write_axis, _read_axis),
    **{tn: (_dwa_writer(tn), _dwa_reader(tn)) for tn in DWA_TYPE_NAMES},
    **{tn: (_dte_writer(tn), _dte_reader(tn)) for tn in DTE_TYPE_NAMES},
}
TYPE_NAMES = tuple(TYPES)
_MAX_TYPE_NAME = max(map(len, TYPE_NAMES))
_HEADERS = {n: lp(n.encode("ascii")) for n in TYPE_NAMES}
_BY_NAME = {n.encode("ascii"): entry for n, entry in TYPES.items()}


# ------------------------------------------------------------------------------- objects and frames
def encode_parts(obj) -> list:
    out: list = []
    write(obj, out)
    return out


def encode(obj) -> bytes:
    """One typed object (type header + body), without the outer frame; byte-identical to
    ``SerializableFactory().get_apply_serializer(obj)`` for the equivalent PyMoDAQ object."""
    return b"".join(encode_parts(obj))


def decode(payload, max_size: int = DEFAULT_MAX_FRAME):
    """Inverse of :func:`encode`: one typed object that must use the whole payload."""
    cur = Cursor(payload, max_size)
    obj = read(cur)
    cur.end()
    return obj


def frame(payload: bytes) -> bytes:
    """``[u32 big-endian len(payload)][payload]``."""
    return u32(len(payload), "frame length") + bytes(payload)


def encode_frame_parts(*objs) -> list:
    """The frames of ``objs`` as a list of buffers (arrays' data not copied)."""
    out: list = []
    for obj in objs:
        parts = encode_parts(obj)
        out.append(u32(sum(map(len, parts)), "frame length"))
        out += parts
    return out


def encode_frames(*objs) -> bytes:
    """``frame(encode(o))`` for each object, concatenated."""
    return b"".join(encode_frame_parts(*objs))


def check_frame_length(n: int, max_size: int) -> None:
    if n > max_size:
        raise ProtocolError(f"frame of {n} bytes exceeds the maximum of {max_size}")
    if n < MIN_OBJECT_SIZE:
        raise ProtocolError(f"frame of {n} bytes is too short for a typed object (at least {MIN_OBJECT_SIZE})")


def check_head(payload_start, expect) -> None:
    """Refuse a frame whose type name (at the start of ``payload_start``, if all there) is not in ``expect``."""
    if expect is None or len(payload_start) < 4:
        return
    (k,) = U32.unpack_from(payload_start, 0)
    if k > _MAX_TYPE_NAME:
        raise ProtocolError(f"expected {' or '.join(expect)}, got a type name of {k} bytes")
    raw = bytes(payload_start[4:4 + k])
    if len(raw) == k and raw.decode("ascii", "replace") not in expect:
        name = raw.decode("ascii", "replace")
        unknown = "unknown type name " if name not in TYPES else ""
        raise ProtocolError(f"expected {' or '.join(expect)}, got {unknown}{name if raw.isascii() else raw!r}")


def decode_frame(payload, max_size: int = DEFAULT_MAX_FRAME, expect=None):
    """The object of one frame's payload, whose type name must be in ``expect`` (None: any)."""
    check_head(payload, expect)
    return decode(payload, max_size)


def _read_exact(read_n: Callable[[int], bytes], n: int) -> bytes:
    data = read_n(n) if n else b""
    if len(data) != n:
        raise EOFError(f"stream ended: needed {n} bytes, got {len(data)}")
    return data


def read_frame(read_n: Callable[[int], bytes], max_size: int = DEFAULT_MAX_FRAME, expect=None):
    """Read one frame with ``read_n(n)`` and decode it; the length is checked before the payload is read, the
    type name (``expect``) before the rest of it."""
    (n,) = U32.unpack(_read_exact(read_n, 4))
    check_frame_length(n, max_size)
    head = _read_exact(read_n, 4)
    (k,) = U32.unpack(head)
    if expect is not None and (k > _MAX_TYPE_NAME or k > n - 4):
        raise ProtocolError(f"expected {' or '.join(expect)}, got a type name of {k} bytes")
    if k <= min(_MAX_TYPE_NAME, n - 4):
        head += _read_exact(read_n, k)
        check_head(head, expect)
    return decode(head + _read_exact(read_n, n - len(head)), max_size)
