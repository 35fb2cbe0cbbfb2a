"""A numpy simulator of the Swabian Time Tagger API: use it wherever ``TimeTagger`` is expected.

    from pymodaq_plugins_timetagger.hardware import simulator as TT
    tagger = TT.createTimeTagger()              # the simulated Time Tagger Ultra, default bench
    tagger.setTestSignal([1, 2], True)
    corr = TT.Correlation(tagger, 1, 2, binwidth=10, n_bins=200)
    corr.startFor(int(1e12))                    # one second of stream time
    corr.waitUntilFinished()
    TT.freeTimeTagger(tagger)

What is simulated (vendor names, units and dtypes): ``createTimeTagger``, ``freeTimeTagger``,
``scanTimeTagger``, ``CHANNEL_UNUSED``, ``ChannelEdge``, ``Resolution``; the tagger's identity, trigger
level, input delay, dead time, test signal, event divider, overflows, ``sync``, ``getConfiguration`` and
context manager; the measurements ``Countrate``, ``Counter``, ``Correlation``, ``Histogram``; the virtual
channels ``Coincidence(s)``, ``Combiner``, ``DelayedChannel``, ``GatedChannel``, the conditional filter and
``SynchronizedMeasurements`` (:mod:`.virtual_channels`); and, driven by markers, ``CountBetweenMarkers`` and ``TimeDifferences`` (:mod:`.markers`); and the raw
stream ``TimeTagStream`` (``TimeTagStreamBuffer``, ``TagType``).

The simulator's own additions (not in the vendor's API): keyword arguments ``clock`` ('wall' or
'virtual'), ``seed`` and ``sources`` of :func:`createTimeTagger`, the tagger's ``sim_*`` methods, and the
source classes of :mod:`.sources`. One serial per model is available: ``SIM-ULTRA-0001`` (the default),
``SIM-TT20-0001`` and ``SIM-X-0001``; like hardware, a serial can be open once at a time per process.
"""
from __future__ import annotations

import enum
import threading

from .measurements import CHANNEL_UNUSED, Correlation, Counter, Countrate, Histogram, IteratorBase
from .markers import CountBetweenMarkers, TimeDifferences
from .models import DEFAULT_MODEL, MODELS, ModelSpec, model_by_serial
from .sources import (PoissonSource, PulsedFluorescence, SinglePhotonEmitter, Source,
                      default_scene)
from .stream import TagType, TimeTagStream, TimeTagStreamBuffer
from .tagger import SimTimeTagger
from .virtual_channels import (Coincidence, CoincidenceTimestamp, Coincidences, Combiner, DelayedChannel,
                               GatedChannel, GatedChannelInitial, SynchronizedMeasurements)

__all__ = [
    "createTimeTagger", "freeTimeTagger", "scanTimeTagger", "getVersion", "CHANNEL_UNUSED",
    "ChannelEdge", "Resolution", "TimeTagger", "TimeTaggerBase", "IteratorBase", "Countrate",
    "Counter", "Correlation", "Histogram", "CountBetweenMarkers", "TimeDifferences", "TimeTagStream",
    "TimeTagStreamBuffer", "TagType", "Source", "PoissonSource", "SinglePhotonEmitter",
    "PulsedFluorescence", "default_scene", "MODELS", "ModelSpec", "SIMULATED",
    "Coincidence", "Coincidences", "CoincidenceTimestamp", "Combiner", "DelayedChannel", "GatedChannel",
    "GatedChannelInitial", "SynchronizedMeasurements",
]

#: lets code tell this module from the vendor's without importing either by name
SIMULATED = True


class Resolution(enum.IntEnum):
    Standard = 0
    HighResA = 1
    HighResB = 2
    HighResC = 3


class ChannelEdge(enum.IntEnum):
    All = 0
    Rising = 1
    Falling = 2
    HighResAll = 4
    HighResRising = 5
    HighResFalling = 6
    StandardAll = 8
    StandardRising = 9
    StandardFalling = 10


TimeTagger = SimTimeTagger      # the vendor's class names, for isinstance checks
TimeTaggerBase = SimTimeTagger

_open_lock = threading.Lock()
_open: dict[str, SimTimeTagger] = {}


def getVersion() -> str:
    """Version of the package providing this simulator (the vendor's returns its library version)."""
    from ... import __version__
    return f"simulator {__version__}"


def scanTimeTagger() -> tuple[str, ...]:
    """Serials of the simulated Time Taggers not open in this process (a tuple, like the vendor's)."""
    with _open_lock:
        return tuple(spec.serial for spec in MODELS.values() if spec.serial not in _open)


def createTimeTagger(serial: str = "", resolution=Resolution.Standard, *, clock: str = "wall",
                     seed: int | None = None, sources=None) -> SimTimeTagger:
    """Open a simulated Time Tagger.

    ``serial``: '' for the first free one (Ultra first), or one of :func:`scanTimeTagger`'s serials.
    ``clock``: 'wall' (stream time follows the wall clock) or 'virtual' (advances only on request).
    ``seed``: seeds every random draw (with the virtual clock, results are reproducible).
    ``sources``: list of sources to connect instead of :func:`default_scene`'s bench (``[]``: none).
    Raises RuntimeError if the serial is unknown or already open, like the vendor's library.
    """
    if not isinstance(serial, str):
        raise TypeError(f"in method 'createTimeTagger', argument 1 must be a str, got {serial!r}")
    try:
        resolution = Resolution(int(resolution))
    except (ValueError, TypeError):
        raise ValueError("Wrong resolution parameter provided. Please use either 'Resolution.Standard', "
                         "'Resolution.HighResA', 'Resolution.HighResB', or 'Resolution.HighResC'.")
    with _open_lock:
        if serial == "":
            free = [s for s in MODELS.values() if s.serial not in _open]
            if not free:
                raise RuntimeError("No Time Tagger attached or already in use (all simulated serials "
                                   "are open in this process)")
            spec = MODELS[DEFAULT_MODEL] if MODELS[DEFAULT_MODEL] in free else free[0]
        else:
            spec = model_by_serial(serial)
            if spec.serial in _open:
                raise RuntimeError(f"The simulated Time Tagger {spec.serial} is already in use "
                                   f"(free it first)")
        tagger = SimTimeTagger(spec, clock=clock, seed=seed, sources=sources, resolution=resolution)
        _open[spec.serial] = tagger
        return tagger


def freeTimeTagger(tagger) -> None:
    """Release a simulated tagger: its engine stops and its serial can be opened again."""
    if not isinstance(tagger, SimTimeTagger):
        raise TypeError("in method 'freeTimeTagger', argument 1 of type 'TimeTaggerBase'")
    serial = tagger.sim_spec.serial
    with _open_lock:
        if _open.get(serial) is tagger:
            del _open[serial]
    tagger._close()
