"""What the three dialects share: the one :class:`Cursor` that keeps every decoding bound, the numeric dtypes,
and the length-prefixed strings, scalars and arrays (the same bytes in every dialect), and the field checks of
the data model. :mod:`.pymodaq5`, :mod:`.classic` and :mod:`.dialect4` are built on these names only."""
from __future__ import annotations

import struct
from typing import Callable

import numpy as np

from ..data_model import Axis, DataWithAxes, ProtocolError

DEFAULT_MAX_FRAME = 64 * 1024 * 1024
MAX_DEPTH = 64          # nesting of containers (list, tuple, dict, Axis, DataWithAxes...)
MAX_NDIM = 32           # array dimensions
#: decoding limits per message (package docstring, "Safety limits")
MAX_OBJECTS = 100_000
OBJECT_COST = 64        # bytes charged per decoded object (a small Python object)
NDARRAY_COST = 512      # an ndarray view (array object + memoryview of the payload): ~420 bytes
ALLOC_FACTOR = 2        # what decoding creates is at most ALLOC_FACTOR x the bytes read so far + ALLOC_SLACK
ALLOC_SLACK = 1 << 20
MAX_DESCR_LEN = 16      # longest accepted dtype string is 4 chars; refuse silly lengths early
MAX_TAG_LEN = 16        # a classic / pymodaq4 list item tag

U32 = struct.Struct(">I")
U32_MAX = 0xFFFFFFFF

SOURCES = ("raw", "calculated")
DIMS = ("Data0D", "Data1D", "Data2D", "DataND")
DISTRIBUTIONS = ("uniform", "spread")

#: accepted dtype strings -> dtype
DTYPES: dict = {}
for _code in ("b1", "i1", "u1"):
    for _order in "<>|":
        DTYPES[_order + _code] = np.dtype(_order + _code)
for _code in ("i2", "i4", "i8", "u2", "u4", "u8", "f2", "f4", "f8", "c8", "c16"):
    for _order in "<>":
        DTYPES[_order + _code] = np.dtype(_order + _code)
del _code, _order
#: numpy refuses arrays whose shape product (zero dimensions left out) exceeds this many bytes
_MAX_SHAPE_BYTES = 2 ** 62


class NeedData(Exception):
    """(partial cursors) the message is not all here: at least ``needed`` bytes from its start are needed."""

    def __init__(self, needed: int):
        super().__init__(needed)
        self.needed = needed


class Cursor:
    """The bytes of one message being decoded, and every bound on it (the same in every dialect).

    ``source``: the message's bytes, or a ``read(n)`` callable (exactly n bytes or EOFError); ``max_size``: the
    message's byte budget, checked before each read; ``partial``: the bytes may be the start of the message
    (running out raises :class:`NeedData`, else it is a truncated message). Bounds: at most :data:`MAX_OBJECTS`
    objects, an estimate of their memory at most ``ALLOC_FACTOR`` x the bytes read + ``ALLOC_SLACK``, nesting
    at most :data:`MAX_DEPTH`, a count of items at most what the bytes left can hold.
    """
    __slots__ = ("buf", "read", "pos", "max_size", "partial", "objects_left", "charged", "avail", "limit")

    def __init__(self, source, max_size: int = DEFAULT_MAX_FRAME, *, partial: bool = False):
        if callable(source):
            self.read, self.buf = source, None
            self.avail = max_size
        else:
            buf = memoryview(source)
            self.read, self.buf = None, buf if buf.ndim == 1 and buf.itemsize == 1 else buf.cast("B")
            self.avail = len(self.buf)
            if not partial and self.avail > max_size:
                raise ProtocolError(f"payload of {self.avail} bytes exceeds the maximum of {max_size}")
        self.pos = 0
        self.max_size = max_size
        self.partial = partial
        # reads up to here need no check (within the budget and, for a buffer, within its bytes)
        self.limit = max_size if callable(source) or partial else min(max_size, self.avail)
        self.objects_left = MAX_OBJECTS
        self.charged = 0

    @property
    def left(self) -> int:
        """Bytes the message may still hold (whole buffers: the bytes not read yet)."""
        if self.buf is not None and not self.partial:
            return self.avail - self.pos
        return self.max_size - self.pos

    def reserve(self, n: int, what: str = "message part") -> None:
        if self.buf is not None and not self.partial and n > self.avail - self.pos:
            raise ProtocolError(f"truncated: needed {n} bytes, {self.avail - self.pos} left")
        if n > self.max_size - self.pos:
            raise ProtocolError(f"{what} of {n} bytes exceeds the maximum of {self.max_size} bytes per message "
                                f"({self.max_size - self.pos} left)")

    def take(self, n: int, what: str = "message part"):
        p = self.pos
        e = p + n
        if e > self.limit:
            self.reserve(n, what)
        if self.read is not None:
            data = self.read(n) if n else b""
            if len(data) != n:
                raise EOFError(f"stream ended: needed {n} bytes, got {len(data)}")
        else:
            if e > self.avail:
                raise NeedData(e)
            data = self.buf[p:e]
        self.pos = e
        return data

    def u32(self) -> int:
        p = self.pos
        if self.read is None and p + 4 <= self.limit and p + 4 <= self.avail:
            self.pos = p + 4
            return U32.unpack_from(self.buf, p)[0]
        return U32.unpack(self.take(4))[0]

    def charge(self, nbytes: int) -> None:
        """Account for one decoded object of about ``nbytes`` of memory (ProtocolError past a limit)."""
        self.objects_left -= 1
        self.charged += nbytes
        if self.objects_left < 0:
            raise ProtocolError(f"more than {MAX_OBJECTS} objects in one message")
        if self.charged > ALLOC_FACTOR * self.pos + ALLOC_SLACK:
            raise ProtocolError(f"decoding would allocate more than {ALLOC_FACTOR} times the message's "
                                f"{self.pos} bytes")

    def count(self, n: int, min_item: int, what: str) -> int:
        if n * min_item > self.left:
            raise ProtocolError(f"{what} announces {n} items but only {self.left} bytes are left (truncated or bogus)")
        return n

    @staticmethod
    def nest(depth: int) -> None:
        if depth > MAX_DEPTH:
            raise ProtocolError(f"nesting deeper than {MAX_DEPTH} levels")

    def end(self) -> None:
        """The message must be used up exactly (whole buffers)."""
        if self.buf is not None and self.pos != len(self.buf):
            raise ProtocolError(f"{len(self.buf) - self.pos} trailing bytes after the object")


def cursor(source, max_size: int) -> Cursor:
    return source if isinstance(source, Cursor) else Cursor(source, max_size)


# ------------------------------------------------------------------------------- writing
def u32(n: int, what: str) -> bytes:
    if not 0 <= n <= U32_MAX:
        raise ProtocolError(f"{what} of {n} does not fit the u32 length field")
    return U32.pack(n)


def lp(data: bytes, what: str = "string") -> bytes:
    """Length-prefixed bytes: [u32 len][data]."""
    return u32(len(data), f"{what} length") + data


def utf8(s: str) -> bytes:
    try:
        return s.encode("utf-8")
    except UnicodeEncodeError as e:
        raise ProtocolError(f"string is not encodable as UTF-8: {e}") from None


def check_dtype(dtype: np.dtype) -> str:
    descr = dtype.str
    if dtype.fields is not None or dtype.subdtype is not None or descr not in DTYPES:
        raise ProtocolError(f"bad dtype {descr!r}: only bool, integer, float and complex numbers are supported")
    return descr


def write_array(a: np.ndarray, out: list) -> None:
    """Append [descr][u32 nbytes][u32 ndim][u32 shape...][raw] to out (raw as a memoryview, not copied)."""
    descr = check_dtype(a.dtype)
    if a.ndim > MAX_NDIM:
        raise ProtocolError(f"array of {a.ndim} dimensions exceeds the maximum of {MAX_NDIM}")
    if not a.flags.c_contiguous:
        a = np.ascontiguousarray(a)
    out.append(b"".join([lp(descr.encode("ascii")), u32(a.nbytes, "array byte count"), U32.pack(a.ndim),
                         *(u32(n, "array dimension") for n in a.shape)]))
    out.append(memoryview(a.reshape(-1).view(np.uint8)))


def scalar_array(x) -> np.ndarray:
    """A Python or numpy number as the one-item array the wire holds (numpy scalars keep their dtype)."""
    if isinstance(x, np.generic):
        if isinstance(x, (np.bool_, np.number)):
            arr = np.asarray(x).reshape(1)
            check_dtype(arr.dtype)
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
    raise ProtocolError(f"a scalar must be a number, not {type(x).__name__}")


def scalar_bytes(x) -> bytes:
    """[descr][u32 nbytes][raw] of one number."""
    head = _SCALAR_HEADS.get(type(x))
    if head is not None and (type(x) is not int or -(1 << 63) <= x < (1 << 63)):
        return head[0] + head[1].pack(*((x.real, x.imag) if type(x) is complex else (x,)))
    arr = scalar_array(x)
    return b"".join((lp(check_dtype(arr.dtype).encode("ascii")), U32.pack(arr.nbytes), arr.tobytes()))


#: Python scalar type -> ([descr][u32 nbytes], its struct): the bytes numpy writes for them, without an array
_SCALAR_HEADS = {t: (lp(d.encode("ascii")) + U32.pack(np.dtype(d).itemsize), struct.Struct(f))
                 for t, d, f in ((bool, "|b1", "?"), (int, "<i8", "<q"), (float, "<f8", "<d"), (complex, "<c16", "<dd"))}
#: dtype string -> the struct reading one item of it as Python's value (what numpy's ``.item()`` gives)
_SCALAR_STRUCTS = {d: struct.Struct(d[0].replace("|", "<") + {"i": "bhiq", "u": "BHIQ"}[dt.kind][
                       {1: 0, 2: 1, 4: 2, 8: 3}[dt.itemsize]]) if dt.kind in "iu" else
                   struct.Struct(d[0] + {2: "e", 4: "f", 8: "d"}[dt.itemsize]) if dt.kind == "f" else None
                   for d, dt in DTYPES.items()}


# ------------------------------------------------------------------------------- reading
def read_lp(cur: Cursor, limit: int | None = None, what: str = "string"):
    n = cur.u32()
    if limit is not None and n > limit:
        raise ProtocolError(f"{what} of {n} bytes is too long (at most {limit})")
    return cur.take(n, what)


def read_text(cur: Cursor, limit: int | None = None, what: str = "string") -> str:
    raw = read_lp(cur, limit, what)
    cur.charge(len(raw))
    try:
        return str(raw, "utf-8")
    except UnicodeDecodeError as e:
        raise ProtocolError(f"{what} is not valid UTF-8: {e}") from None


def read_dtype(cur: Cursor):
    raw = bytes(read_lp(cur, MAX_DESCR_LEN, "dtype descriptor"))
    descr = raw.decode("ascii", "replace")
    dt = DTYPES.get(descr) if raw.isascii() else None
    if dt is None:
        raise ProtocolError(f"bad dtype {descr[:32] if raw.isascii() else raw[:32]!r}")
    return descr, dt


def _check_bool_bytes(raw, what: str) -> None:
    if len(raw) and np.frombuffer(raw, dtype=np.uint8).max() > 1:
        raise ProtocolError(f"{what}: boolean bytes must be 0 or 1")


def read_scalar(cur: Cursor, kinds: str = "biufc", what: str = "scalar"):
    """[descr][u32 nbytes][raw] -> Python bool / int / float / complex (dtype kind in ``kinds``)."""
    descr, dt = read_dtype(cur)
    if dt.kind not in kinds:
        raise ProtocolError(f"type {what!r} with dtype {descr!r}")
    nbytes = cur.u32()
    if nbytes != dt.itemsize:
        raise ProtocolError(f"scalar of {nbytes} bytes for dtype {descr!r} (expected {dt.itemsize})")
    raw = cur.take(nbytes)
    cur.charge(OBJECT_COST)
    unpack = _SCALAR_STRUCTS[descr]
    if unpack is not None:
        return unpack.unpack(raw)[0]
    if dt.kind == "b":
        _check_bool_bytes(raw, "bool scalar")
    return np.frombuffer(raw, dtype=dt)[0].item()


def read_array(cur: Cursor) -> np.ndarray:
    """[descr][u32 nbytes][u32 ndim][u32 shape...][raw] -> a read-only view of the bytes."""
    descr, dt = read_dtype(cur)
    nbytes = cur.u32()
    ndim = cur.u32()
    if ndim > MAX_NDIM:
        raise ProtocolError(f"array of {ndim} dimensions exceeds the maximum of {MAX_NDIM}")
    shape = struct.unpack(f">{ndim}I", cur.take(4 * ndim))
    count = nonzero = 1
    for n in shape:
        count *= n
        nonzero *= max(n, 1)
    if count * dt.itemsize != nbytes:
        raise ProtocolError(f"shape {tuple(shape)} does not match {nbytes} bytes of {descr}")
    if nonzero * dt.itemsize > _MAX_SHAPE_BYTES:
        raise ProtocolError(f"shape {tuple(shape)} is too large for an array")
    cur.charge(NDARRAY_COST)
    raw = cur.take(nbytes, "array")
    if dt.kind == "b":
        _check_bool_bytes(raw, "bool array")
    return np.frombuffer(raw, dtype=dt).reshape(shape)


# ------------------------------------------------------------------------------- field checks
def check_str(value, what: str) -> str:
    if not isinstance(value, str):
        raise ProtocolError(f"{what} must be a str, not {type(value).__name__}")
    return value


def check_int(value, what: str, minimum=None) -> int:
    if isinstance(value, np.integer):
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ProtocolError(f"{what} must be an int, not {type(value).__name__}")
    if minimum is not None and value < minimum:
        raise ProtocolError(f"{what} must be >= {minimum}, got {value}")
    return int(value)


def check_choice(value, choices, what: str) -> str:
    if value not in choices:
        raise ProtocolError(f"{what} must be one of {', '.join(choices)}, not {value!r}")
    return value


def check_timestamp(value, what: str) -> float:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (float, int, np.floating, np.integer)):
        raise ProtocolError(f"{what}.timestamp must be a float, not {type(value).__name__}")
    return float(value)


def as_list(value, what: str, check: Callable | None = None) -> list:
    """``value`` as a list, each item passing ``check(item, what)``."""
    if not isinstance(value, (list, tuple)):
        raise ProtocolError(f"{what} must be a list, not {type(value).__name__}")
    if check is not None:
        for item in value:
            check(item, what)
    return list(value)


def is_type(tp, desc: str) -> Callable:
    def check(item, what):
        if not isinstance(item, tp) or (tp is int and isinstance(item, bool)):
            raise ProtocolError(f"{what} items must be {desc}, not {type(item).__name__}")
    return check


def check_index(item, what) -> None:
    if isinstance(item, np.integer):
        item = int(item)
    if type(item) is not int or item < 0:
        raise ProtocolError(f"{what} items must be non-negative int, got {item!r}")


def check_axis_data(data, what: str = "Axis.data"):
    if data is None:
        return None
    if not isinstance(data, np.ndarray):
        raise ProtocolError(f"{what} must be a 1-D ndarray or None, not {type(data).__name__}")
    if data.ndim != 1:
        raise ProtocolError(f"{what} must be 1-D, got shape {data.shape}")
    return data


def check_extra_names(names, what: str) -> list:
    seen = set()
    for n in names:
        if not isinstance(n, str):
            raise ProtocolError(f"{what} attribute names must be str, not {type(n).__name__}")
        if n in seen:
            raise ProtocolError(f"{what} attribute name {n!r} appears twice")
        seen.add(n)
    return list(names)


def extra_names(d, what: str) -> list:
    if not isinstance(d.extra, dict):
        raise ProtocolError(f"{what}.extra must be a dict, not {type(d.extra).__name__}")
    return check_extra_names(list(d.extra), what)


def dwa_fields(d, tn: str) -> dict:
    """The checked fields of a DataWithAxes to write (every dialect's writer checks them so)."""
    arrays = is_type(np.ndarray, "ndarray")
    return dict(
        timestamp=check_timestamp(d.timestamp, tn), name=check_str(d.name, f"{tn}.name"),
        source=check_choice(d.source, SOURCES, f"{tn}.source"),
        dim=check_choice(d.dim, DIMS, f"{tn}.dim"),
        distribution=check_choice(d.distribution, DISTRIBUTIONS, f"{tn}.distribution"),
        data=as_list(d.data, f"{tn}.data", arrays), units=check_str(d.units, f"{tn}.units"),
        labels=as_list(d.labels, f"{tn}.labels", is_type(str, "str")),
        origin=check_str(d.origin, f"{tn}.origin"),
        nav_indexes=[check_int(i, f"{tn}.nav_indexes item", 0)
                     for i in as_list(d.nav_indexes, f"{tn}.nav_indexes")],
        axes=as_list(d.axes, f"{tn}.axes", is_type(Axis, "Axis")),
        errors=[] if d.errors is None else as_list(d.errors, f"{tn}.errors", arrays),
        extra_names=extra_names(d, tn))


def make_dwa(tn: str, f: dict) -> DataWithAxes:
    """A DataWithAxes from fields read (the enum fields checked here, for every dialect)."""
    check_choice(f["source"], SOURCES, f"{tn}.source")
    check_choice(f["dim"], DIMS, f"{tn}.dim")
    check_choice(f["distribution"], DISTRIBUTIONS, f"{tn}.distribution")
    return DataWithAxes(type_name=tn, **f)
