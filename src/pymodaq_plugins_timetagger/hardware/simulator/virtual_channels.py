"""Virtual channels of the simulated Time Tagger, the tagger's conditional filter, and SynchronizedMeasurements.

Same class names, constructor parameters (names, order, defaults) and methods as the vendor's (Swabian-TimeTagger
2.22.6 wheel, ``help(TimeTagger.Coincidences)`` and the others); every rule below quotes the wheel's docstring or
says that it is the simulator's own choice.

A virtual channel is a measurement (the vendor's classes derive from ``IteratorBase``: they start when built) that
hands out new channel numbers (``getChannel()`` / ``getChannels()``); any measurement takes those numbers as
inputs, exactly as it takes an input's. The tagger's engine computes the virtual channels of each chunk of the
stream after the physical tags have been released (dead time, conditional filter, event divider, transfer limit:
virtual channels are computed on the PC, so they never count towards the transfer rate), in creation order (a
virtual channel can only be built on channels that exist already), before any measurement sees the chunk.

Classes
-------
``Coincidence(tagger, channels, coincidenceWindow=1000, timestamp=CoincidenceTimestamp.Last)``, ``Coincidences(tagger, coincidenceGroups, coincidenceWindow, timestamp=CoincidenceTimestamp.Last)``
    wheel: "Every time a coincidence is detected on the input channels (AND logic), `Coincidence` emits a tag on
    the virtual channel"; the window is the "Maximum time between all events for a coincidence in picoseconds";
    "By default, the timestamp from the last event received to complete the coincidence is used." Simulated rule
    (the simulator's reading of those sentences): every tag on a channel of a group *completes* a coincidence when
    the latest tag of each other channel of the group lies at most ``coincidenceWindow`` ps before it (the span of
    the group's latest tags is ``<= coincidenceWindow``); one event per completing tag (of tags at the same
    picosecond, the one of the channel listed later completes). Its timestamp: ``Last`` the
    completing tag, ``First`` the earliest of the group's latest tags, ``Average`` their mean (floored to the ps),
    ``ListedFirst`` the latest tag of the group's first listed channel (wheel's example: "double coincidence in
    channels [1,2] with timestamp of channel 1").
``Combiner(tagger, channels)``
    "Merges two or more channels into one ... (OR logic)"; ``getChannelCounts()`` the ticks per input.
``DelayedChannel(tagger, input_channel, delay)``
    a copy of the input, ``delay`` ps later (``setDelay``). Negative delays are not simulated (the vendor's "A
    negative delay will delay all other events", DelayedChannels docstring): ValueError.
``GatedChannel(tagger, input_channel, gate_start_channel, gate_stop_channel, initial=GatedChannelInitial.Closed)``
    input tags pass while the gate is open: a start tag opens it, a stop tag closes it; "gate_stop_channel ==
    gate_start_channel will result in an exception"; "If an overflow occurs, the gate is reset to this [initial]
    state as well".
``SynchronizedMeasurements(tagger)``
    "ensures all these measurements to start, stop simultaneously and operate on exactly the same time tags";
    measurements built on ``getTagger()`` "will not start automatically" and are registered.

The tagger's conditional filter (:func:`set_conditional_filter`): "Time tags on the filtered channels are discarded
unless they were preceded by a time tag on one of the trigger channels" (wheel, setConditionalFilter). Simulated
rule: a filtered tag passes when a trigger tag arrived since the previous tag of the same filtered channel (the
first sync after each click, the filter's use case in the vendor's in-depth guide); it applies after the dead
time and before the event divider ("if the conditional filter is also active, the conditional filter is applied
first", wheel, setEventDivider).
"""
from __future__ import annotations

import enum

import numpy as np

from . import coincidence_kernel
from .measurements import IteratorBase, _as_bool
from .tagger import SimTimeTagger, _as_int
from .virtual_engine import _EMPTY, _registry, set_conditional_filter  # noqa: F401 (API)

#: the first number handed out to a virtual channel. The vendor says only that virtual channels get numbers of
#: their own (ask them with getChannel()); chosen: above the 18 inputs of the largest model, and within the
#: package's channel sanity bound (settings.MAX_CHANNEL).
FIRST_VIRTUAL_CHANNEL = 33
#: wheel, Coincidences docstring: "limited to 64 unique channels in the list of channel groups"
MAX_COINCIDENCE_CHANNELS = 64


class CoincidenceTimestamp(enum.IntEnum):
    """wheel: CoincidenceTimestamp.Last = 0, Average = 1, First = 2, ListedFirst = 3."""

    Last = 0
    Average = 1
    First = 2
    ListedFirst = 3


class GatedChannelInitial(enum.IntEnum):
    """wheel: GatedChannelInitial.Closed = 0, Open = 1."""

    Closed = 0
    Open = 1


# ------------------------------------------------------------------------------------------ virtual channels
class _VirtualChannel(IteratorBase):
    """A measurement that produces tags on channel numbers of its own."""

    def __init__(self, tagger, inputs, n_outputs: int):
        if tagger is None:
            raise ValueError("a valid Time Tagger must be provided.")
        real = getattr(tagger, "_sim_tagger", tagger)  # a SynchronizedMeasurements proxy
        if not isinstance(real, SimTimeTagger):
            raise TypeError(f"in method '{type(self).__name__}', argument 1 must be a simulated Time Tagger")
        self._inputs = tuple(real._validate_channel(_as_int(c, "channel"), type(self).__name__) for c in inputs)
        reg = _registry(real)
        with real._lock:
            first = max([FIRST_VIRTUAL_CHANNEL - 1, *reg]) + 1
            self._numbers = tuple(range(first, first + n_outputs))
            for n in self._numbers:
                reg[n] = self
        super().__init__(tagger)

    def _channels_in_use(self):
        return ()   # the engine asks for the inputs through expand() only while a consumer listens

    def _process(self, tags, a, b):
        pass

    def __exit__(self, *exc):
        super().__exit__(*exc)
        return False

    def _produce(self, number, ins: dict, t0: int, t1: int, overflow: bool) -> np.ndarray:
        raise NotImplementedError


def _group_events(group, ins, latest: np.ndarray, window: int, mode: int) -> np.ndarray:
    """Coincidence events of ``group`` in this chunk; ``latest`` (per channel, carried across chunks) updated."""
    parts = [ins[c] for c in group]
    offsets = np.zeros(len(group) + 1, dtype=np.int64)
    offsets[1:] = np.cumsum([p.size for p in parts])
    tags = np.concatenate(parts) if offsets[-1] else _EMPTY
    return coincidence_kernel.coincidences(tags, offsets, latest, window, int(mode))


class Coincidences(_VirtualChannel):
    """Coincidences on several groups of channels, one virtual channel per group (``getChannels()``)."""

    def __init__(self, tagger, coincidenceGroups, coincidenceWindow, timestamp=CoincidenceTimestamp.Last):
        if tagger is None:
            raise ValueError("a valid Time Tagger must be provided.")
        groups = [tuple(int(c) for c in g) for g in coincidenceGroups]
        if not groups or any(len(g) < 1 for g in groups):
            raise ValueError("Coincidences: give at least one group of channels")
        unique = {c for g in groups for c in g}
        if len(unique) > MAX_COINCIDENCE_CHANNELS:
            raise ValueError(f"Coincidences: at most {MAX_COINCIDENCE_CHANNELS} unique channels, got {len(unique)}")
        self._groups = groups
        self._window = self._check_window(coincidenceWindow)
        self._mode = CoincidenceTimestamp(int(timestamp))
        if any(len(set(g)) != len(g) for g in groups):
            raise ValueError("Coincidences: a channel appears twice in a group")
        self._latest = [np.full(len(g), coincidence_kernel.NO_TAG, dtype=np.int64) for g in groups]
        self._late = 0
        super().__init__(tagger, sorted(unique), len(groups))

    @staticmethod
    def _check_window(window) -> int:
        w = _as_int(window, "coincidenceWindow")
        if w < 0:
            raise ValueError(f"coincidenceWindow must be >= 0 ps, got {w}")
        return w

    def getChannels(self) -> list[int]:
        return list(self._numbers)

    def setCoincidenceWindow(self, coincidenceWindow) -> None:
        w = self._check_window(coincidenceWindow)
        with self._lock:
            self._window = w

    def _produce(self, number, ins, t0, t1, overflow):
        k = number - self._numbers[0]
        out = _group_events(self._groups[k], ins, self._latest[k], self._window, self._mode)
        if out.size and out[0] < t0:
            # First/Average/ListedFirst stamp an event up to one window before the tag that completes it: an
            # event completed in this chunk but stamped in the last one is given the chunk's start (counted)
            late = np.searchsorted(out, t0, side="left")
            self._late += int(late)
            out[:late] = t0
        return out

    def sim_late_events(self) -> int:
        """Events stamped before the chunk that completed them, moved to its start (simulator only)."""
        return self._late

    def _config(self):
        return {"coincidence groups": [list(g) for g in self._groups], "coincidence window": self._window,
                "timestamp": self._mode.name, "channels": list(self._numbers)}


class Coincidence(Coincidences):
    """Coincidences of one group: ``getChannel()`` is its virtual channel."""

    def __init__(self, tagger, channels, coincidenceWindow=1000, timestamp=CoincidenceTimestamp.Last):
        super().__init__(tagger, [list(channels)], coincidenceWindow, timestamp)

    def getChannel(self) -> int:
        return self._numbers[0]


class Combiner(_VirtualChannel):
    """OR of its input channels on one virtual channel."""

    def __init__(self, tagger, channels):
        if tagger is None:
            raise ValueError("a valid Time Tagger must be provided.")
        chans = [int(c) for c in channels]
        if not chans:
            raise ValueError("Combiner: give at least one channel")
        self._counts = np.zeros(len(chans), dtype=np.int64)
        super().__init__(tagger, chans, 1)

    def getChannel(self) -> int:
        return self._numbers[0]

    def getChannelCounts(self) -> np.ndarray:
        with self._lock:
            return self._counts.copy()

    def getData(self) -> np.ndarray:
        return self.getChannelCounts()

    def _reset(self):
        if hasattr(self, "_counts"):
            self._counts[:] = 0

    def _produce(self, number, ins, t0, t1, overflow):
        parts = [ins[c] for c in self._inputs]
        for i, p in enumerate(parts):
            self._counts[i] += p.size
        parts = [p for p in parts if p.size]
        if not parts:
            return _EMPTY
        return np.sort(np.concatenate(parts), kind="stable")


class DelayedChannel(_VirtualChannel):
    """A copy of ``input_channel`` ``delay`` ps later (``delay`` >= 0 in the simulator)."""

    def __init__(self, tagger, input_channel, delay):
        if tagger is None:
            raise ValueError("a valid Time Tagger must be provided.")
        self._delay = self._check_delay(delay)
        self._held = _EMPTY
        super().__init__(tagger, [input_channel], 1)

    @staticmethod
    def _check_delay(delay) -> int:
        d = _as_int(delay, "delay")
        if d < 0:
            raise ValueError(f"DelayedChannel: a negative delay ({d} ps) is not simulated (the vendor delays all "
                             f"other events instead); use setInputDelay on the other inputs")
        return d

    def getChannel(self) -> int:
        return self._numbers[0]

    def getChannels(self) -> list[int]:
        return list(self._numbers)

    def setDelay(self, delay) -> None:
        d = self._check_delay(delay)
        with self._lock:
            self._delay = d

    def _produce(self, number, ins, t0, t1, overflow):
        shifted = ins[self._inputs[0]] + self._delay
        held = np.concatenate((self._held, shifted)) if self._held.size else shifted
        cut = np.searchsorted(held, t1, side="left")
        out, self._held = held[:cut], held[cut:]
        return out[np.searchsorted(out, t0, side="left"):]

    def _config(self):
        return {"input channel": self._inputs[0], "delay": self._delay, "channel": self._numbers[0]}


class GatedChannel(_VirtualChannel):
    """``input_channel``'s tags while the gate is open (opened by a start tag, closed by a stop tag)."""

    def __init__(self, tagger, input_channel, gate_start_channel, gate_stop_channel,
                 initial=GatedChannelInitial.Closed):
        if tagger is None:
            raise ValueError("a valid Time Tagger must be provided.")
        if int(gate_start_channel) == int(gate_stop_channel):
            raise ValueError("GatedChannel: gate_stop_channel == gate_start_channel is not allowed")
        self._initial = GatedChannelInitial(int(initial))
        self._open = bool(self._initial)
        super().__init__(tagger, [input_channel, gate_start_channel, gate_stop_channel], 1)

    def getChannel(self) -> int:
        return self._numbers[0]

    def getChannels(self) -> list[int]:
        return list(self._numbers)

    def _produce(self, number, ins, t0, t1, overflow):
        tags, starts, stops = (ins[c] for c in self._inputs)
        out = _EMPTY
        if tags.size:
            i_s = np.searchsorted(starts, tags, side="right") - 1
            i_p = np.searchsorted(stops, tags, side="right") - 1
            s_last = np.where(i_s >= 0, starts[np.maximum(i_s, 0)], np.iinfo(np.int64).min)
            p_last = np.where(i_p >= 0, stops[np.maximum(i_p, 0)], np.iinfo(np.int64).min)
            neither = (i_s < 0) & (i_p < 0)
            is_open = np.where(neither, self._open, s_last > p_last)
            out = tags[is_open]
        if starts.size or stops.size:
            s = starts[-1] if starts.size else None
            p = stops[-1] if stops.size else None
            self._open = p is None or (s is not None and s > p)
        if overflow:
            self._open = bool(self._initial)
        return out


# ------------------------------------------------------------------------------------------ synchronized
class _SyncTagger:
    """The proxy tagger of :class:`SynchronizedMeasurements`: measurements built on it register there and
    do not start; everything else is the real tagger's."""

    def __init__(self, sync, tagger):
        self._sim_sync = sync
        self._sim_tagger = tagger

    def __getattr__(self, name):
        return getattr(self._sim_tagger, name)


class SynchronizedMeasurements:
    """Start, stop and clear several measurements together, on exactly the same time tags."""

    def __init__(self, tagger):
        if tagger is None:
            raise ValueError("a valid Time Tagger must be provided.")
        if not isinstance(tagger, SimTimeTagger):
            raise TypeError("in method 'SynchronizedMeasurements', argument 1 must be a simulated Time Tagger")
        self._tagger = tagger
        self._lock = tagger._lock
        self._members: list = []
        self._proxy = _SyncTagger(self, tagger)

    def getTagger(self):
        return self._proxy

    def registerMeasurement(self, measurement) -> None:
        with self._lock:
            if measurement not in self._members:
                self._members.append(measurement)

    def unregisterMeasurement(self, measurement) -> None:
        with self._lock:
            if measurement in self._members:
                self._members.remove(measurement)

    def _alive(self):
        return [m for m in self._members if not m._destroyed]

    def start(self) -> None:
        with self._lock:
            at = self._tagger._now_for_start()
            for m in self._alive():
                m._start_at(at, None, clear=False, resume=True)

    def startFor(self, capture_duration, clear=True) -> None:
        duration = _as_int(capture_duration, "capture_duration")
        _as_bool(clear, "clear")
        if duration < 0:
            raise ValueError(f"capture_duration must be >= 0 ps, got {duration}")
        with self._lock:
            members = self._alive()
            for m in members:
                m._check()
            at = self._tagger._now_for_start()   # one instant for every member: the same window
            for m in members:
                m._start_at(at, duration, clear=clear)
            self._tagger._cond.notify_all()

    def stop(self) -> None:
        with self._lock:
            self._tagger._now_for_start()
            for m in self._alive():
                if m._running:
                    m._halt()

    def clear(self) -> None:
        with self._lock:
            for m in self._alive():
                m.clear()

    def isRunning(self) -> bool:
        with self._lock:
            return any(m._running for m in self._alive())

    def waitUntilFinished(self, timeout=-1) -> bool:
        ok = True
        for m in self._alive():
            ok = m.waitUntilFinished(timeout) and ok
        return ok

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

