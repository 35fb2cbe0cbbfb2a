"""Dialect 2, "classic" (PyMoDAQ 1.6-3.x, 4.0): untyped strings, scalars, arrays and tagged lists, no
outer frame; every read is bounded by a byte budget."""
from __future__ import annotations

import struct
from typing import Optional

import numpy as np

from .data_model import DEFAULT_MAX_FRAME, MAX_NDIM, ProtocolError, _MAX_CLASSIC_TAG, _MAX_DESCR_LEN, _U32
from .pymodaq5 import (_array_from, _array_parts, _check_dtype, _dtype_from, _lp, _read_exact, _scalar_value,
                       _str_bytes, _u32)


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
