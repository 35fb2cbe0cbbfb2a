"""The one conversion of the wire's data model (:mod:`..data_model`) to PyMoDAQ objects.

The viewer plugins apply it to their own measurement (``to_pymodaq(title, result_to_data(result))``) and the
TCPServer plugin to what a client sent: local and remote datasets are made by the same code, so they are equal
(names, data, error bars, axes, units, labels, metadata as extra attributes).
"""
from __future__ import annotations

import dataclasses
import functools
import inspect

import numpy as np
from pymodaq.utils.data import Axis, DataFromPlugins, DataToExport
from pymodaq_utils.logger import get_module_name, set_logger

from .. import data_model

logger = set_logger(get_module_name(__file__))


def to_pymodaq(title: str, dte: data_model.DataToExport, last_axes: dict | None = None) -> DataToExport:
    """The codec's DataToExport (from any client) as PyMoDAQ data, axes, units and attributes kept.

    ``last_axes`` (name -> axes, updated here): PyMoDAQ's own remote viewers send a dataset's axes only
    when they change; a dataset that arrives without axes gets the last ones of the same name and shape.
    """
    out = []
    for d in dte.data:
        if last_axes is not None:
            shape = tuple(np.shape(d.data[0])) if d.data else ()
            if d.axes:
                last_axes[d.name] = (shape, d.axes)
            elif d.name in last_axes and last_axes[d.name][0] == shape and d.dim != "Data0D":
                d = dataclasses.replace(d, axes=last_axes[d.name][1])
        out.append(_dwa(d))
    return DataToExport(title, data=out)


def _axis(a: data_model.Axis) -> Axis:
    """PyMoDAQ Axis; a linear one is given as offset and scaling, as PyMoDAQ would store it anyway.

    PyMoDAQ tests the linearity of an axis given as data twice (two passes of np.diff and allclose
    over the whole array): for a 1 M-point axis that is ~18 ms per grab; one pass here is a third.
    """
    data = None if a.data is None else np.asarray(a.data)
    if data is not None and data.ndim == 1 and data.size >= 2 and np.issubdtype(data.dtype, np.number):
        steps = np.diff(data)
        step = float(steps.mean())
        # PyMoDAQ's own criterion (Axis.is_axis_linear: np.allclose, rtol 1e-5, atol 1e-8), computed as
        # allclose does for a finite step in one pass (allclose itself is ~4x slower on 4 k points)
        if np.isfinite(step):
            linear = bool((np.abs(steps - step) <= 1e-8 + 1e-5 * abs(step)).all())
        else:
            linear = bool(np.allclose(steps, step))
        if linear:
            return Axis(a.label, units=a.units, scaling=step, offset=float(data[0]), size=data.size,
                        index=a.index, spread_order=a.spread_order)
    return Axis(a.label, units=a.units, data=data, index=a.index, spread_order=a.spread_order)


def _dwa(d: data_model.DataWithAxes) -> DataFromPlugins:
    axes = [_axis(a) for a in d.axes]
    extra = _extra_attributes(d.extra)
    kwargs = dict(data=[np.asarray(x) for x in d.data], dim=d.dim, labels=list(d.labels), axes=axes,
                  nav_indexes=tuple(d.nav_indexes), **extra)
    if d.errors and len(d.errors) == len(d.data) and all(np.shape(e) == np.shape(x)
                                                          for e, x in zip(d.errors, d.data)):
        kwargs["errors"] = [np.asarray(e, dtype=float) for e in d.errors]
    elif d.errors:  # a peer's errors that do not fit its data: left out, said
        logger.warning("the error bars of %r do not match its data: left out", d.name)
    try:
        return DataFromPlugins(d.name, units=d.units, **kwargs)
    except Exception as e:  # units PyMoDAQ does not know (e.g. 'a.u.'): keep them as text
        logger.info("units %r not understood by PyMoDAQ (%s): kept as the attribute units_text", d.units, e)
        return DataFromPlugins(d.name, units="", units_text=d.units, **kwargs)


@functools.lru_cache(maxsize=1)
def _reserved_names() -> frozenset:
    """Names a peer's extra attribute must not take: DataFromPlugins' arguments, attributes and methods."""
    probe = DataFromPlugins("probe", data=[np.zeros(1)])
    names = set(dir(probe)) | {"nav_axes", "x_axis", "y_axis", "nav_x_axis", "nav_y_axis"}  # popped by __init__
    for cls in type(probe).__mro__:
        init = cls.__dict__.get("__init__")
        if init is not None:
            try:
                names.update(inspect.signature(init).parameters)
            except (TypeError, ValueError):
                pass
    return frozenset(names)


def _extra_attributes(extra: dict) -> dict:
    """A peer's extra attributes as keyword arguments of DataFromPlugins.

    One named like an argument or attribute of the data (``units``, ``axes``, ``size``, ``origin``...) would
    replace it or break the data: it is kept as ``client_<name>``. Names that are not identifiers, or private
    ones, are left out (logged).
    """
    out = {}
    for k, v in extra.items():
        if not isinstance(k, str) or not k.isidentifier() or k.startswith("_"):
            logger.info("extra attribute %r of the client's data left out (not a plain name)", str(k)[:40])
            continue
        if k in _reserved_names():
            k = f"client_{k}"
            if k in _reserved_names() or k in extra:
                continue
        out[k] = v
    return out
