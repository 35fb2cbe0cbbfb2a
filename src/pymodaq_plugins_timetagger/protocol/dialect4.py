"""Dialect 3, "pymodaq4": the wire format of PyMoDAQ 4.1-4.4 (``pymodaq/utils/tcp_ip/serializer.py``).

Plain Python + numpy on :mod:`.codec` (bounds, strings, scalars, arrays) and the neutral
:mod:`pymodaq_plugins_timetagger.data_model`.
Checked byte for byte against pymodaq 4.4.11's own ``Serializer``/``DeSerializer``
(``tests/test_dialect4.py`` with frames that 4.4.11 wrote, ``tests/interop/pmq44_frames.py``).

Format (all u32 big-endian; no outer frame and no type headers, as in the classic dialect)
------------------------------------------------------------------------------------------
* string: ``[u32 len][utf-8]``; a command is a string (``'Done'`` = ``00000004 'Done'``);
* scalar: string(dtype descr) + ``[u32 nbytes]`` + raw; array: string(descr) + ``[u32 nbytes]`` +
  ``[u32 ndim]`` + ``[u32 shape_i...]`` + raw (C order) -- both exactly the classic ones;
* list: ``[u32 count]`` then per item a tag string and the value: ``string``, ``bytes``, ``scalar``,
  ``bool`` (a scalar of dtype ``|b1``), ``array``, ``list``, ``axis``, ``dwa``, ``dte``, ``parameter``;
* Axis: string ``'Axis'``, string label, string units, array data, scalar index, scalar spread_order;
* DataWithAxes: string class name (``DataRaw``, ``DataFromPlugins``...), scalar timestamp, string
  name, string units, string source, string dim, string distribution, list data (arrays), list labels,
  string origin, list nav_indexes, list axes, list errors, list extra attribute names, then one tagged
  item per extra attribute (note: units come right after the name, unlike PyMoDAQ 5);
* DataToExport: string ``'DataToExport'``, scalar timestamp, string name, list of ``dwa`` items (no
  extra attributes in 4.x).

Messages are those of the classic dialect (``GRABBER``, ``Infos`` + xml, ``Info``, ``Info_xml`` +
list path + xml, server ``set_info`` + list path + xml, ``Send Data xD``, ``Quit``), except the answer
to ``Send Data xD``: ``'Done'`` then a DataToExport (no ``x_axis`` messages: 4.4 refuses them).

A 4.4 client identifies itself with the same bytes as a classic one (``[u32 7]'GRABBER'``), so a server
tells the two apart at the first ``'Done'``: a 4.4 DataToExport starts with the string
``'DataToExport'`` (``0000000c 'Data'``), a classic list with its count followed by a tag length
(``00000005``/``00000006``). :mod:`.connection` does that, once per connection.

Safety: everything read is bounded by ``max_size`` bytes per message (checked before each read and
allocation); list counts are checked against the bytes that can still come; nesting depth is bounded;
dtypes are the codec's numeric ones; ``parameter`` items (4.4 parses their XML with ``eval``-using
code) are refused, never parsed; unknown tags are errors (4.4 silently decodes them to ``None``).
"""
from __future__ import annotations

import numpy as np

from ..data_model import Axis, DWA_TYPE_NAMES, DataToExport, DataWithAxes, ProtocolError
from . import codec
from .classic import classic_array, classic_scalar, classic_string
from .codec import Cursor, DEFAULT_MAX_FRAME, MAX_TAG_LEN, u32

#: DataWithAxes class names PyMoDAQ 4.4's decoder accepts (``DwaType`` in pymodaq 4.4.11)
DWA_TYPE_NAMES_4 = ("DataWithAxes", "DataRaw", "DataActuator", "DataFromPlugins", "DataCalculated")
DTE_TYPE_NAME_4 = "DataToExport"
AXIS_TYPE_NAME_4 = "Axis"

#: the smallest tagged list item: tag 'list' (4 + 4) + an empty list (4)
MIN_ITEM = 12
DTE_START = classic_string(DTE_TYPE_NAME_4)


# ------------------------------------------------------------------------------------- encoding
def _scalar(x) -> bytes:
    return classic_scalar(float(x) if isinstance(x, np.floating) else x)


def encode_list(items, depth: int = 0) -> bytes:
    """``[u32 count]`` then each item tagged (4.4's ``list_serialization``)."""
    items = list(items)
    return b"".join([u32(len(items), "list count"), *(_tagged(i, depth) for i in items)])


def encode_axis(ax: Axis, depth: int = 0) -> bytes:
    data = ax.data
    if data is None or not isinstance(data, np.ndarray) or data.ndim != 1 or data.size == 0:
        raise ProtocolError("an Axis for PyMoDAQ 4 needs its data as a non-empty 1-D array")
    return b"".join((classic_string(AXIS_TYPE_NAME_4), classic_string(codec.check_str(ax.label, "Axis.label")),
                     classic_string(codec.check_str(ax.units, "Axis.units")), classic_array(data),
                     classic_scalar(codec.check_int(ax.index, "Axis.index", 0)),
                     classic_scalar(codec.check_int(ax.spread_order, "Axis.spread_order"))))


def encode_dwa(d: DataWithAxes, depth: int = 0) -> bytes:
    tn = codec.check_choice(d.type_name, DWA_TYPE_NAMES_4, "DataWithAxes.type_name (PyMoDAQ 4)")
    f = codec.dwa_fields(d, tn)
    s = classic_string
    return b"".join([
        s(tn), _scalar(f["timestamp"]), s(f["name"]), s(f["units"]), s(f["source"]), s(f["dim"]),
        s(f["distribution"]), encode_list(f["data"], depth), encode_list(f["labels"], depth), s(f["origin"]),
        encode_list(f["nav_indexes"], depth), encode_list(f["axes"], depth), encode_list(f["errors"], depth),
        encode_list(f["extra_names"], depth), *(_tagged(d.extra[n], depth) for n in f["extra_names"])])


def encode_dte(d: DataToExport, depth: int = 0) -> bytes:
    """4.4's ``dte_serialization`` (the bytes sent after ``'Done'``)."""
    if d.type_name != DTE_TYPE_NAME_4:
        raise ProtocolError(f"PyMoDAQ 4 reads only DataToExport, not {d.type_name!r}")
    if d.extra:
        raise ProtocolError("PyMoDAQ 4's DataToExport has no extra attributes "
                            f"(got {', '.join(map(str, d.extra))})")
    items = codec.as_list(d.data, "DataToExport.data", codec.is_type(DataWithAxes, "DataWithAxes"))
    return b"".join((DTE_START, _scalar(codec.check_timestamp(d.timestamp, DTE_TYPE_NAME_4)),
                     classic_string(codec.check_str(d.name, "DataToExport.name")), encode_list(items, depth)))


# ------------------------------------------------------------------------------------- decoding
def _class_name(cur: Cursor, allowed, what) -> str:
    name = codec.read_text(cur)
    if name not in allowed:
        raise ProtocolError(f"expected {what}, got the class name {name[:40]!r}")
    return name


def read_list(cur: Cursor, depth: int = 0, what: str = "list", check=None) -> list:
    Cursor.nest(depth)
    out = [read_item(cur, depth + 1) for _ in range(cur.count(cur.u32(), MIN_ITEM, what))]
    return out if check is None else codec.as_list(out, what, check)


def read_axis(cur: Cursor, depth: int = 0) -> Axis:
    _class_name(cur, (AXIS_TYPE_NAME_4,), "an Axis")
    label, units = codec.read_text(cur), codec.read_text(cur)
    data = codec.check_axis_data(codec.read_array(cur))
    index = codec.check_int(codec.read_scalar(cur, "iu", "Axis.index"), "Axis.index", 0)
    return Axis(label=label, units=units, data=data, index=index,
                spread_order=codec.check_int(codec.read_scalar(cur, "iu", "Axis.spread_order"), "Axis.spread_order"))


def read_dwa(cur: Cursor, depth: int = 0) -> DataWithAxes:
    tn = _class_name(cur, DWA_TYPE_NAMES, "a DataWithAxes")
    f = {"timestamp": codec.check_timestamp(codec.read_scalar(cur, "iuf", f"{tn}.timestamp"), tn)}
    for attr in ("name", "units", "source", "dim", "distribution"):
        f[attr] = codec.read_text(cur)
    arrays = codec.is_type(np.ndarray, "ndarray")
    f["data"] = read_list(cur, depth + 1, f"{tn}.data", arrays)
    f["labels"] = read_list(cur, depth + 1, f"{tn}.labels", codec.is_type(str, "str"))
    f["origin"] = codec.read_text(cur)
    f["nav_indexes"] = read_list(cur, depth + 1, f"{tn}.nav_indexes", codec.check_index)
    f["axes"] = read_list(cur, depth + 1, f"{tn}.axes", codec.is_type(Axis, "Axis"))
    f["errors"] = read_list(cur, depth + 1, f"{tn}.errors", arrays)
    names = codec.check_extra_names(read_list(cur, depth + 1, f"{tn}.extra attribute names",
                                              codec.is_type(str, "str")), tn)
    f["extra"] = {n: read_item(cur, depth + 1) for n in names}
    return codec.make_dwa(tn, f)


def read_dte(cur, max_size: int = DEFAULT_MAX_FRAME, depth: int = 0) -> DataToExport:
    """A 4.4 DataToExport from a Cursor or a ``read(n)`` callable."""
    cur = codec.cursor(cur, max_size)
    _class_name(cur, (DTE_TYPE_NAME_4,), "a DataToExport")
    ts = codec.check_timestamp(codec.read_scalar(cur, "iuf", "DataToExport.timestamp"), DTE_TYPE_NAME_4)
    name = codec.read_text(cur)
    data = read_list(cur, depth + 1, "DataToExport.data", codec.is_type(DataWithAxes, "DataWithAxes"))
    return DataToExport(name=name, data=data, timestamp=ts)


def _read_bool(cur, depth):
    return codec.read_scalar(cur, "b", "bool item")


def _refuse_parameter(cur, depth):
    raise ProtocolError("a 'parameter' item (PyMoDAQ parameter XML) is not accepted from the wire")


def _read_bytes(cur, depth):
    raw = codec.read_lp(cur, None, "bytes item")
    cur.charge(len(raw))
    return bytes(raw)


#: tag -> (write(obj, depth), read(cursor, depth)) of a tagged 4.4 list item
TAGS = {
    b"dwa": (encode_dwa, read_dwa),
    b"axis": (encode_axis, lambda cur, depth: read_axis(cur, depth)),
    b"array": (lambda obj, depth: classic_array(obj), lambda cur, depth: codec.read_array(cur)),
    b"bytes": (lambda obj, depth: classic_string(bytes(obj)), _read_bytes),
    b"string": (lambda obj, depth: classic_string(obj), lambda cur, depth: codec.read_text(cur)),
    b"bool": (lambda obj, depth: classic_scalar(bool(obj)), _read_bool),
    b"scalar": (lambda obj, depth: _scalar(obj), lambda cur, depth: codec.read_scalar(cur)),
    b"list": (encode_list, read_list),
    b"dte": (encode_dte, lambda cur, depth: read_dte(cur, depth=depth)),
    b"parameter": (None, _refuse_parameter),
}
#: Python types -> tag, in the order they are tried (bool before the numbers)
_TAG_OF = ((DataWithAxes, b"dwa"), (Axis, b"axis"), (np.ndarray, b"array"), ((bytes, bytearray), b"bytes"),
           (str, b"string"), ((bool, np.bool_), b"bool"), ((int, float, complex, np.number), b"scalar"),
           ((list, tuple), b"list"), (DataToExport, b"dte"))


def _tagged(obj, depth: int) -> bytes:
    Cursor.nest(depth)
    for types, tag in _TAG_OF:
        if isinstance(obj, types):
            return classic_string(tag) + TAGS[tag][0](obj, depth + 1)
    raise ProtocolError(f"cannot encode {type(obj).__name__!r} objects for PyMoDAQ 4")


def read_item(cur: Cursor, depth: int):
    tag = bytes(codec.read_lp(cur, MAX_TAG_LEN, "list item tag"))
    entry = TAGS.get(tag)
    if entry is None:
        raise ProtocolError(f"unknown list item tag {tag[:MAX_TAG_LEN]!r}")
    return entry[1](cur, depth)


def encode_arg(obj) -> bytes:
    """One top-level message argument as 4.4's ``Serializer(obj).to_bytes()`` writes it."""
    if isinstance(obj, (str, bytes, bytearray)):
        return classic_string(obj)
    for types, tag in _TAG_OF:
        if tag not in (b"string", b"bytes", b"bool", b"scalar") and isinstance(obj, types):
            return TAGS[tag][0](obj, 0)
    return _scalar(obj)


def message(command: str, *args) -> bytes:
    return b"".join([classic_string(command), *(encode_arg(a) for a in args)])


def decode_dte(payload: bytes, max_size: int = DEFAULT_MAX_FRAME) -> DataToExport:
    """One whole 4.4 DataToExport (as written after 'Done'); trailing bytes are an error."""
    cur = Cursor(payload, max_size)
    dte = read_dte(cur)
    cur.end()
    return dte
