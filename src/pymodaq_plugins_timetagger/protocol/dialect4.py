"""Dialect 3, "pymodaq4": the wire format of PyMoDAQ 4.1-4.4 (``pymodaq/utils/tcp_ip/serializer.py``).

Plain Python + numpy, like :mod:`.codec`, whose data model (:class:`~.codec.Axis`,
:class:`~.codec.DataWithAxes`, :class:`~.codec.DataToExport`) and classic primitives it reuses.
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
(``00000005``/``00000006``). :class:`UntypedWire` does that, once per connection.

Safety: everything read is bounded by ``max_size`` bytes per message (checked before each read and
allocation); list counts are checked against the bytes that can still come; nesting depth is bounded;
dtypes are the codec's numeric ones; ``parameter`` items (4.4 parses their XML with ``eval``-using
code) are refused, never parsed; unknown tags are errors (4.4 silently decodes them to ``None``).
"""
from __future__ import annotations

import numpy as np

from . import classic, data_model, pymodaq5
from .data_model import ProtocolError
from .dialects import CLASSIC, PYMODAQ4
from .wire import ClassicWire

#: DataWithAxes class names PyMoDAQ 4.4's decoder accepts (``DwaType`` in pymodaq 4.4.11)
DWA_TYPE_NAMES_4 = ("DataWithAxes", "DataRaw", "DataActuator", "DataFromPlugins", "DataCalculated")
DTE_TYPE_NAME_4 = "DataToExport"
AXIS_TYPE_NAME_4 = "Axis"

# the smallest tagged list item: tag 'list' (4 + 4) + an empty list (4)
_MIN_ITEM = 12
_MAX_TAG = 16
_DTE_START = classic.classic_string(DTE_TYPE_NAME_4)


# ------------------------------------------------------------------------------------- encoding
def _scalar(x) -> bytes:
    if isinstance(x, (float, np.floating)):  # a timestamp may come as a numpy float
        x = float(x)
    return classic.classic_scalar(x)


def _tagged(obj, depth: int) -> bytes:
    if depth > data_model.MAX_DEPTH:
        raise ProtocolError(f"nesting deeper than {data_model.MAX_DEPTH} levels")
    if isinstance(obj, data_model.DataWithAxes):
        return classic.classic_string("dwa") + encode_dwa(obj, depth + 1)
    if isinstance(obj, data_model.Axis):
        return classic.classic_string("axis") + encode_axis(obj)
    if isinstance(obj, np.ndarray):
        return classic.classic_string("array") + classic.classic_array(obj)
    if isinstance(obj, (bytes, bytearray)):
        return classic.classic_string("bytes") + classic.classic_string(bytes(obj))
    if isinstance(obj, str):
        return classic.classic_string("string") + classic.classic_string(obj)
    if isinstance(obj, (bool, np.bool_)):
        return classic.classic_string("bool") + classic.classic_scalar(bool(obj))
    if isinstance(obj, (int, float, complex, np.number)):
        return classic.classic_string("scalar") + _scalar(obj)
    if isinstance(obj, (list, tuple)):
        return classic.classic_string("list") + encode_list(obj, depth + 1)
    if isinstance(obj, data_model.DataToExport):
        return classic.classic_string("dte") + encode_dte(obj, depth + 1)
    raise ProtocolError(f"cannot encode {type(obj).__name__!r} objects for PyMoDAQ 4")


def encode_list(items, depth: int = 0) -> bytes:
    """``[u32 count]`` then each item tagged (4.4's ``list_serialization``)."""
    items = list(items)
    return b"".join([pymodaq5._u32(len(items), "list count"), *(_tagged(i, depth) for i in items)])


def encode_axis(ax: data_model.Axis) -> bytes:
    data = ax.data
    if data is None or not isinstance(data, np.ndarray) or data.ndim != 1 or data.size == 0:
        raise ProtocolError("an Axis for PyMoDAQ 4 needs its data as a non-empty 1-D array")
    return b"".join((classic.classic_string(AXIS_TYPE_NAME_4), classic.classic_string(pymodaq5._check_str(ax.label, "Axis.label")),
                     classic.classic_string(pymodaq5._check_str(ax.units, "Axis.units")), classic.classic_array(data),
                     classic.classic_scalar(pymodaq5._check_int(ax.index, "Axis.index", 0)),
                     classic.classic_scalar(pymodaq5._check_int(ax.spread_order, "Axis.spread_order"))))


def encode_dwa(d: data_model.DataWithAxes, depth: int = 0) -> bytes:
    tn = pymodaq5._check_choice(d.type_name, DWA_TYPE_NAMES_4, "DataWithAxes.type_name (PyMoDAQ 4)")
    s = classic.classic_string
    names = pymodaq5._check_extra_names(list(d.extra.keys()), tn)
    return b"".join([
        s(tn), _scalar(pymodaq5._check_timestamp(d.timestamp, tn)),
        s(pymodaq5._check_str(d.name, f"{tn}.name")), s(pymodaq5._check_str(d.units, f"{tn}.units")),
        s(pymodaq5._check_choice(d.source, data_model._SOURCES, f"{tn}.source")),
        s(pymodaq5._check_choice(d.dim, data_model._DIMS, f"{tn}.dim")),
        s(pymodaq5._check_choice(d.distribution, data_model._DISTRIBUTIONS, f"{tn}.distribution")),
        encode_list(pymodaq5._check_arrays(d.data, f"{tn}.data"), depth),
        encode_list([pymodaq5._check_str(x, f"{tn}.labels item") for x in d.labels], depth),
        s(pymodaq5._check_str(d.origin, f"{tn}.origin")),
        encode_list([pymodaq5._check_int(i, f"{tn}.nav_indexes item", 0) for i in d.nav_indexes], depth),
        encode_list([_axis_item(a, tn) for a in d.axes], depth),
        encode_list([] if d.errors is None else pymodaq5._check_arrays(d.errors, f"{tn}.errors"), depth),
        encode_list(names, depth),
        *(_tagged(d.extra[n], depth) for n in names)])


def _axis_item(a, what):
    if not isinstance(a, data_model.Axis):
        raise ProtocolError(f"{what}.axes items must be Axis, not {type(a).__name__}")
    return a


def encode_dte(d: data_model.DataToExport, depth: int = 0) -> bytes:
    """4.4's ``dte_serialization`` (the bytes sent after ``'Done'``)."""
    if d.type_name != DTE_TYPE_NAME_4:
        raise ProtocolError(f"PyMoDAQ 4 reads only DataToExport, not {d.type_name!r}")
    if d.extra:
        raise ProtocolError("PyMoDAQ 4's DataToExport has no extra attributes "
                            f"(got {', '.join(map(str, d.extra))})")
    for item in d.data:
        if not isinstance(item, data_model.DataWithAxes):
            raise ProtocolError(f"DataToExport.data items must be DataWithAxes, not {type(item).__name__}")
    return b"".join((_DTE_START, _scalar(pymodaq5._check_timestamp(d.timestamp, DTE_TYPE_NAME_4)),
                     classic.classic_string(pymodaq5._check_str(d.name, "DataToExport.name")),
                     encode_list(d.data, depth)))


def encode_arg(obj) -> bytes:
    """One top-level message argument as 4.4's ``Serializer(obj).to_bytes()`` writes it."""
    if isinstance(obj, (str, bytes, bytearray)):
        return classic.classic_string(obj)
    if isinstance(obj, data_model.DataToExport):
        return encode_dte(obj)
    if isinstance(obj, data_model.DataWithAxes):
        return encode_dwa(obj)
    if isinstance(obj, data_model.Axis):
        return encode_axis(obj)
    if isinstance(obj, np.ndarray):
        return classic.classic_array(obj)
    if isinstance(obj, (list, tuple)):
        return encode_list(obj)
    return _scalar(obj)


def message(command: str, *args) -> bytes:
    return b"".join([classic.classic_string(command), *(encode_arg(a) for a in args)])


# ------------------------------------------------------------------------------------- decoding
class Reader:
    """Decode 4.4 values from a ``read(n)`` callable, within a byte budget for one message."""

    def __init__(self, read, max_size: int = data_model.DEFAULT_MAX_FRAME):
        self.b = classic._budget(read, max_size)

    def string(self) -> str:
        return classic.read_classic_string(self.b)

    def scalar(self):
        return classic.read_classic_scalar(self.b)

    def array(self) -> np.ndarray:
        return classic.read_classic_array(self.b)

    def _expect(self, kind, what: str, value):
        if not isinstance(value, kind) or isinstance(value, bool) and kind is not bool:
            raise ProtocolError(f"{what} must be {getattr(kind, '__name__', kind)}, got {type(value).__name__}")
        return value

    def _int(self, what: str, minimum=None) -> int:
        return pymodaq5._check_int(self._expect(int, what, self.scalar()), what, minimum)

    def list(self, depth: int = 0, what: str = "list", item_type=None) -> list:
        if depth > data_model.MAX_DEPTH:
            raise ProtocolError(f"nesting deeper than {data_model.MAX_DEPTH} levels")
        n = self.b.u32()
        if n * _MIN_ITEM > self.b.left:
            raise ProtocolError(f"{what} announces {n} items, more than fit in the {self.b.left} bytes "
                                f"left of the {self.b.max_size}-byte message limit")
        out = []
        for i in range(n):
            item = self.item(depth + 1)
            if item_type is not None:
                self._expect(item_type, f"{what}[{i}]", item)
            out.append(item)
        return out

    def item(self, depth: int):
        tag = classic._classic_str_bytes(self.b, _MAX_TAG, "list item tag")
        if tag == b"string":
            return self.string()
        if tag == b"scalar":
            return self.scalar()
        if tag == b"array":
            return self.array()
        if tag == b"bool":
            value = self.scalar()
            if not isinstance(value, bool):
                raise ProtocolError(f"a bool item holds a {type(value).__name__}")
            return value
        if tag == b"bytes":
            return classic._classic_str_bytes(self.b, None, "bytes item")
        if tag == b"list":
            return self.list(depth)
        if tag == b"axis":
            return self.axis()
        if tag == b"dwa":
            return self.dwa(depth)
        if tag == b"dte":
            return self.dte(depth)
        if tag == b"parameter":
            raise ProtocolError("a 'parameter' item (PyMoDAQ parameter XML) is not accepted from the wire")
        raise ProtocolError(f"unknown list item tag {tag[:_MAX_TAG]!r}")

    def _class_name(self, allowed, what) -> str:
        name = self.string()
        if name not in allowed:
            raise ProtocolError(f"expected {what}, got the class name {name[:40]!r}")
        return name

    def axis(self) -> data_model.Axis:
        self._class_name((AXIS_TYPE_NAME_4,), "an Axis")
        label, units = self.string(), self.string()
        data = pymodaq5._check_axis_data(self.array())
        return data_model.Axis(label=label, units=units, data=data, index=self._int("Axis.index", 0),
                          spread_order=self._int("Axis.spread_order"))

    def dwa(self, depth: int = 0) -> data_model.DataWithAxes:
        tn = self._class_name(data_model.DWA_TYPE_NAMES, "a DataWithAxes")
        ts = pymodaq5._check_timestamp(self.scalar(), tn)
        name, units = self.string(), self.string()
        source = pymodaq5._check_choice(self.string(), data_model._SOURCES, f"{tn}.source")
        dim = pymodaq5._check_choice(self.string(), data_model._DIMS, f"{tn}.dim")
        distribution = pymodaq5._check_choice(self.string(), data_model._DISTRIBUTIONS, f"{tn}.distribution")
        data = self.list(depth + 1, f"{tn}.data", np.ndarray)
        labels = self.list(depth + 1, f"{tn}.labels", str)
        origin = self.string()
        nav = [pymodaq5._check_int(i, f"{tn}.nav_indexes item", 0)
               for i in self.list(depth + 1, f"{tn}.nav_indexes", int)]
        axes = self.list(depth + 1, f"{tn}.axes", data_model.Axis)
        errors = self.list(depth + 1, f"{tn}.errors", np.ndarray)
        names = pymodaq5._check_extra_names(self.list(depth + 1, f"{tn}.extra attribute names", str), tn)
        extra = {n: self.item(depth + 1) for n in names}
        return data_model.DataWithAxes(name=name, data=data, dim=dim, units=units, labels=labels, axes=axes,
                                  source=source, distribution=distribution, origin=origin, nav_indexes=nav,
                                  errors=errors, extra=extra, timestamp=ts, type_name=tn)

    def dte(self, depth: int = 0) -> data_model.DataToExport:
        self._class_name((DTE_TYPE_NAME_4,), "a DataToExport")
        ts = pymodaq5._check_timestamp(self.scalar(), DTE_TYPE_NAME_4)
        name = self.string()
        data = self.list(depth + 1, "DataToExport.data", data_model.DataWithAxes)
        return data_model.DataToExport(name=name, data=data, timestamp=ts)


def read_dte(read, max_size: int = data_model.DEFAULT_MAX_FRAME) -> data_model.DataToExport:
    return Reader(read, max_size).dte()


def decode_dte(payload: bytes, max_size: int = data_model.DEFAULT_MAX_FRAME) -> data_model.DataToExport:
    """One whole 4.4 DataToExport (as written after 'Done'); trailing bytes are an error."""
    if len(payload) > max_size:
        raise ProtocolError(f"payload of {len(payload)} bytes exceeds the maximum of {max_size}")
    view, pos = memoryview(bytes(payload)), 0

    def read(n):
        nonlocal pos
        out = bytes(view[pos:pos + n])
        pos += len(out)
        return out
    try:
        dte = read_dte(read, max_size)
    except EOFError as e:
        raise ProtocolError(f"truncated: {e}") from None
    if pos != len(view):
        raise ProtocolError(f"{len(view) - pos} trailing bytes after the DataToExport")
    return dte


# ------------------------------------------------------------------------------------- wires
class Pymodaq4Wire(ClassicWire):
    """The 4.4 dialect on one connection: classic commands, 4.4 DataToExport after 'Done'."""

    name = PYMODAQ4

    def read_done(self) -> data_model.DataToExport:
        return read_dte(self.reader.read, self.max_frame)

    def message(self, command: str, *args) -> bytes:
        return message(command, *args)


class UntypedWire(ClassicWire):
    """A connection that identified itself with untyped bytes: classic or PyMoDAQ 4.1-4.4.

    Both send the same identity and settings; the first 'Done' tells them apart (see the module
    docstring). From then on :attr:`name` is the dialect found, and every later 'Done' must match it.
    """

    name = CLASSIC
    decided = False

    def read_done(self):
        if self.decided:
            return read_dte(self.reader.read, self.max_frame) if self.name == PYMODAQ4 else super().read_done()
        head = self.reader.read(4)
        rest = b""
        if head == _DTE_START[:4]:  # 12: a classic list of 12 items or the string 'DataToExport'
            rest = self.reader.read(len(_DTE_START) - 4)
        self.reader.unread(head + rest)
        self.decided = True
        if head + rest == _DTE_START:
            self.name = PYMODAQ4
            return read_dte(self.reader.read, self.max_frame)
        return super().read_done()
