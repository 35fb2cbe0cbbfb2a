"""The neutral data model: Axis, DataWithAxes, DataToExport, plain dataclasses holding numpy arrays that mirror
PyMoDAQ's classes field by field (Qt-free and PyMoDAQ-free). The core's datasets and the protocol's dialects
both build on it; ``type_name`` is the PyMoDAQ class name written on the wire (``DataRaw``, ``DataScan``...)."""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field, fields, is_dataclass
from typing import Optional

import numpy as np

DWA_TYPE_NAMES = ("DataWithAxes", "DataRaw", "DataFromPlugins", "DataCalculated", "DataFromRoi",
                  "DataActuator")
DTE_TYPE_NAMES = ("DataToExport", "DataScan", "DataToActuators")


class ProtocolError(ValueError):
    """The one error raised for anything malformed, on the wire or given to an encoder."""


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
