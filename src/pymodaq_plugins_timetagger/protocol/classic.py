"""Dialect 2, "classic" (PyMoDAQ 1.6-3.x, 4.0): untyped strings, scalars, arrays and tagged lists, no outer
frame. Each reader takes a ``read(n)`` callable or a :class:`~.codec.Cursor` (whose bounds it keeps)."""
from __future__ import annotations

import numpy as np

from ..data_model import ProtocolError
from . import codec
from .codec import DEFAULT_MAX_FRAME, MAX_TAG_LEN, lp, u32

#: the smallest list item: tag 'string' (4 + 6) + an empty string (4)
MIN_ITEM = 14


def classic_string(s) -> bytes:
    """``[u32 len][bytes]``; a str is written as UTF-8."""
    if isinstance(s, str):
        return lp(codec.utf8(s))
    if isinstance(s, (bytes, bytearray, memoryview)):
        return lp(bytes(s))
    raise ProtocolError(f"classic string must be str or bytes, not {type(s).__name__}")


def classic_scalar(x) -> bytes:
    """``string(dtype descr) + [u32 nbytes] + raw``; numpy scalars keep their dtype."""
    return codec.scalar_bytes(x)


def classic_array(a: np.ndarray) -> bytes:
    """``string(descr) + [u32 nbytes] + [u32 ndim] + [u32 shape_i...] + raw (C order)``."""
    if not isinstance(a, np.ndarray):
        raise ProtocolError(f"classic array must be an ndarray, not {type(a).__name__}")
    out: list = []
    codec.write_array(a, out)
    return b"".join(out)


#: item tag -> (write, read) of a classic list item
_ITEMS = {
    b"array": (classic_array, codec.read_array),
    b"string": (classic_string, lambda cur: codec.read_text(cur)),
    b"scalar": (classic_scalar, codec.read_scalar),
}


def _tag_of(item) -> bytes:
    if isinstance(item, np.ndarray):
        return b"array"
    if isinstance(item, (str, bytes, bytearray)):
        return b"string"
    if isinstance(item, (bool, int, float, complex, np.bool_, np.number)):
        return b"scalar"
    raise ProtocolError(f"classic list items must be arrays, strings or scalars, not {type(item).__name__}")


def classic_list(items) -> bytes:
    """``[u32 count]``, then per item a tag string (array/string/scalar) and the value."""
    items = list(items)
    parts = [u32(len(items), "list count")]
    for item in items:
        tag = _tag_of(item)
        parts += (lp(tag), _ITEMS[tag][0](item))
    return b"".join(parts)


def read_classic_string(read, max_size: int = DEFAULT_MAX_FRAME, limit: int | None = None) -> str:
    return codec.read_text(codec.cursor(read, max_size), limit)


def read_classic_scalar(read, max_size: int = DEFAULT_MAX_FRAME):
    """-> Python ``int`` / ``float`` / ``complex`` / ``bool``."""
    return codec.read_scalar(codec.cursor(read, max_size))


def read_classic_array(read, max_size: int = DEFAULT_MAX_FRAME) -> np.ndarray:
    return codec.read_array(codec.cursor(read, max_size))


def read_classic_list(read, max_size: int = DEFAULT_MAX_FRAME) -> list:
    """-> list of ndarray / str / Python scalars."""
    cur = codec.cursor(read, max_size)
    out = []
    for _ in range(cur.count(cur.u32(), MIN_ITEM, "list")):
        tag = bytes(codec.read_lp(cur, MAX_TAG_LEN, "list item tag"))
        entry = _ITEMS.get(tag)
        if entry is None:
            raise ProtocolError(f"unknown list item tag {tag!r} (array, string or scalar)")
        out.append(entry[1](cur))
    return out
