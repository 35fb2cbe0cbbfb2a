"""The data model of the protocol: Axis, DataWithAxes, DataToExport (plain dataclasses holding numpy
arrays, mirroring PyMoDAQ's classes field by field), ProtocolError and the limits every decoder keeps.
Qt-free and PyMoDAQ-free (see the package docstring for the wire facts)."""
from __future__ import annotations

import math
import struct
import time
from dataclasses import dataclass, field, fields, is_dataclass
from typing import Optional

import numpy as np


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
