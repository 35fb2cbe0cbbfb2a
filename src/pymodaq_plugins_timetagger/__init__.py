"""PyMoDAQ plugins for the Swabian Instruments Time Tagger, with a TCP bridge and a simulator.

Importing the package imports nothing from PyMoDAQ or Qt: the Qt-free core (``hardware``, the
measurement runs, the bridge's protocol and client) stays usable on a host without a GUI stack. ``config``
(PyMoDAQ's ``GlobalConfig``, with this package's values under ``'timetagger'``) is built on first access.
"""
from __future__ import annotations

from ._version import VERSION as __version__


def __getattr__(name):
    if name == "config":
        from .compat import registered
        from .utils import Config
        cfg = registered(Config)
        globals()["config"] = cfg
        return cfg
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
