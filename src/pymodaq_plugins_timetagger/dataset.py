"""The one conversion of a measurement :class:`~.runs.Result` to the data model of the wire (Qt-free).

Every route goes through :func:`result_to_data`: the viewer plugins (which then make PyMoDAQ objects of it with
``daq_viewer_plugins.data.to_pymodaq``, the same function the TCPServer plugin applies to what a client sent),
the TCP client and the LECO actor. So a dataset measured locally and one measured on a remote PC have the same
names, data, axes, units, labels and metadata by construction.

Metadata kept (as extra attributes): values that are bool, int, float or str, and lists of those (``channels``,
``counts``): exactly what PyMoDAQ's serializer and every route can carry. A result's error bars go into
``errors`` (PyMoDAQ's ``DataWithAxes.errors``: its viewers draw them, its h5 saver writes them).
"""
from __future__ import annotations

from typing import Iterable

import numpy as np

from . import data_model
from .runs import Result

#: what PyMoDAQ's detector plugins emit (every PyMoDAQ 5 reads DataRaw too: the TCP client sends that)
PLUGIN_TYPE = "DataFromPlugins"
RAW_TYPE = "DataRaw"
_SCALARS = (bool, int, float, str)


def metadata_value(v) -> bool:
    """Whether a metadata value is carried (a plain scalar, or a list/tuple of them)."""
    if isinstance(v, _SCALARS):
        return True
    return isinstance(v, (list, tuple)) and all(isinstance(x, _SCALARS) for x in v)


def _dataset(r: Result, type_name: str) -> data_model.DataWithAxes:
    axes = []
    if r.axis is not None:
        axes = [data_model.Axis(label=r.axis.label, units=r.axis.units,
                           data=np.asarray(r.axis.values, dtype=float), index=0)]
    extra = {k: (list(v) if isinstance(v, tuple) else v) for k, v in r.metadata.items() if metadata_value(v)}
    errors = [] if r.errors is None else [np.asarray(e, dtype=float) for e in r.errors]
    return data_model.DataWithAxes(name=r.name, data=[np.asarray(d, dtype=float) for d in r.data], dim=r.dim,
                              units=r.units, labels=list(r.labels), axes=axes, extra=extra, errors=errors,
                              type_name=type_name)


def result_to_data(results: Result | Iterable[Result], type_name: str = PLUGIN_TYPE,
                   name: str | None = None) -> data_model.DataToExport:
    """One DataToExport of every result and its companions (g2(0) after the g2 curve), in order.

    ``name``: the DataToExport's (default: the result's name when there is one, else 'TimeTagger').
    """
    results = [results] if isinstance(results, Result) else list(results)
    data = [_dataset(r, type_name) for res in results for r in [res, *res.companions]]
    if name is None:
        name = results[0].name if len(results) == 1 else "TimeTagger"
    return data_model.DataToExport(name=name, data=data)


__all__ = ["result_to_data", "metadata_value", "PLUGIN_TYPE", "RAW_TYPE"]
