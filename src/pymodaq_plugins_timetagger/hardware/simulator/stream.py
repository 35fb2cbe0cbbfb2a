"""``TimeTagStream`` of the simulated Time Tagger: a copy of the raw time tags, with the vendor's semantics.

Vendor facts (Swabian-TimeTagger 2.22.6 wheel, docstrings and signatures):

* ``TimeTagStream(tagger, n_max_events, channels)``: "allocates a memory buffer of the size *max_tags* which
  is filled with the incoming time tags that arrive from the specified channels". Like every measurement it
  starts when it is constructed.
* ``getData()`` "returns a ``TimeTagStreamBuffer`` object and clears the internal buffer [...] consecutive
  calls to this method will return every time-tag only once. Data loss may occur if ``getData()`` is not
  called frequently enough with respect to *n_max_events*." ``getCounts()``: "the number of stored tags
  since the last call to ``getData()``".
* ``TimeTagStreamBuffer``: ``getTimestamps()`` (int64, ps), ``getChannels()`` (int32),
  ``getEventTypes()`` (uint8, ``TagType``), ``getMissedEvents()`` (uint16), ``getOverflows()`` (uint8,
  "Deprecated: Since version 2.5. Please use getEventTypes() instead"); the properties ``size`` ("If the
  size equals the maximum size of the buffer set in TimeTagStream via *n_max_events*, events have likely
  been discarded"), ``hasOverflows`` ("True if a stream overflow was detected in any of the tags received
  [...] independent of an overflow of the internal buffer"), ``tStart`` ("the data-stream time position
  when the TimeTagStream [...] started data acquisition") and ``tGetData`` ("the data-stream time position
  of the call to getData()").
* ``TagType``: TimeTag 0, Error 1, OverflowBegin 2 ("the beginning of an interval with incomplete data
  because of too high data rates"), OverflowEnd 3 ("the point where the internal overflow condition ended"),
  MissedEvents 4 ("the number of lost events per channel within an overflow interval. This event might be
  sent repeatedly if the number of lost events is large"; ``Tag.missed_events`` is an unsigned short).

The simulator's choices where the wheel says nothing: an overflow interval of the engine (the end of an
over-full chunk, see :mod:`.tagger`) becomes OverflowBegin at its first lost tag, then one MissedEvents per
channel with losses (repeated per 65535) at the same time, then OverflowEnd at the end of the interval if it
lies in the capture window; these markers carry channel 0 and count towards ``size`` and ``n_max_events``.
When the buffer is full, the newest tags are discarded (``sim_discarded`` counts them: the simulator's own
attribute, the vendor's library does not count them).
"""
from __future__ import annotations

import enum

import numpy as np

from .measurements import IteratorBase, _as_channel_list, _positive

#: ``Tag.missed_events`` is an unsigned short (wheel): larger losses are sent as several MissedEvents
MAX_MISSED_PER_EVENT = 65535
#: the channel number the simulator gives to overflow markers (they belong to no input)
MARKER_CHANNEL = 0


class TagType(enum.IntEnum):
    """Event types of the stream (the wheel's ``TagType`` values)."""

    TimeTag = 0
    Error = 1
    OverflowBegin = 2
    OverflowEnd = 3
    MissedEvents = 4


class TimeTagStreamBuffer:
    """The tags one ``getData()`` returned (arrays are fresh copies, like the vendor's)."""

    def __init__(self, timestamps, channels, types, missed, t_start: int, t_get_data: int):
        self._ts, self._ch, self._ty, self._mi = timestamps, channels, types, missed
        self._t_start, self._t_get = int(t_start), int(t_get_data)

    def getTimestamps(self) -> np.ndarray:
        return self._ts.copy()

    def getChannels(self) -> np.ndarray:
        return self._ch.copy()

    def getEventTypes(self) -> np.ndarray:
        return self._ty.copy()

    def getMissedEvents(self) -> np.ndarray:
        return self._mi.copy()

    def getOverflows(self) -> np.ndarray:
        """Deprecated by the vendor (use getEventTypes): 1 where an event is not a plain time tag."""
        return (self._ty != TagType.TimeTag).astype(np.uint8)

    @property
    def size(self) -> int:
        return int(self._ts.size)

    @property
    def hasOverflows(self) -> bool:
        return bool(np.any((self._ty == TagType.OverflowBegin) | (self._ty == TagType.MissedEvents)))

    @property
    def tStart(self) -> int:
        return self._t_start

    @property
    def tGetData(self) -> int:
        return self._t_get


class TimeTagStream(IteratorBase):
    """Every tag of ``channels`` in a buffer of at most ``n_max_events`` events, read with :meth:`getData`."""

    def __init__(self, tagger, n_max_events, channels):
        if tagger is None:
            raise ValueError("a valid Time Tagger must be provided.")
        self._n_max = _positive(n_max_events, "n_max_events", "TimeTagStream")
        self._channels = tuple(dict.fromkeys(_as_channel_list(channels, tagger, "TimeTagStream")))
        self.sim_discarded = 0
        self._t_start = 0
        super().__init__(tagger)

    def _channels_in_use(self):
        return self._channels

    def _reset(self):
        self._parts: list[tuple] = []
        self._n = 0

    def _on_start(self):
        self._t_start = self._seg_start

    def _feed(self, tags, t0, t1, lost_from=None):
        self._chunk_t1 = t1
        self._lost_from = lost_from
        super()._feed(tags, t0, t1, lost_from)

    def _process(self, tags, a, b):
        ts = [tags[c] for c in self._channels]
        ch = [np.full(t.size, c, dtype=np.int32) for c, t in zip(self._channels, ts)]
        ty = [np.zeros(t.size, dtype=np.uint8) for t in ts]
        mi = [np.zeros(t.size, dtype=np.uint16) for t in ts]
        lost_from = self._lost_from
        if lost_from is not None and lost_from < b:
            begin = max(a, lost_from)
            ts.append(np.array([begin], dtype=np.int64))
            ch.append(np.array([MARKER_CHANNEL], dtype=np.int32))
            ty.append(np.array([TagType.OverflowBegin], dtype=np.uint8))
            mi.append(np.zeros(1, dtype=np.uint16))
            for c in self._channels:
                dropped = self._tagger._dropped.get(c)
                n = 0 if dropped is None else int(np.count_nonzero((dropped >= a) & (dropped < b)))
                while n > 0:
                    k = min(n, MAX_MISSED_PER_EVENT)
                    ts.append(np.array([begin], dtype=np.int64))
                    ch.append(np.array([c], dtype=np.int32))
                    ty.append(np.array([TagType.MissedEvents], dtype=np.uint8))
                    mi.append(np.array([k], dtype=np.uint16))
                    n -= k
            if b == self._chunk_t1:  # the interval ends inside the capture window
                ts.append(np.array([b], dtype=np.int64))
                ch.append(np.array([MARKER_CHANNEL], dtype=np.int32))
                ty.append(np.array([TagType.OverflowEnd], dtype=np.uint8))
                mi.append(np.zeros(1, dtype=np.uint16))
        t = np.concatenate(ts)
        order = np.argsort(t, kind="stable")  # time order; markers after the tags of the same time
        events = (t[order], np.concatenate(ch)[order], np.concatenate(ty)[order], np.concatenate(mi)[order])
        room = self._n_max - self._n
        if events[0].size > room:
            self.sim_discarded += events[0].size - room
            events = tuple(e[:room] for e in events)
        if events[0].size:
            self._parts.append(events)
            self._n += events[0].size

    def getData(self) -> TimeTagStreamBuffer:
        with self._lock:
            self._check()
            if self._running:
                self._tagger._now_for_start()  # everything up to this moment
            parts, n = self._parts, self._n
            self._parts, self._n = [], 0
            t_get = self._tagger._t_dispatch
        if parts:
            arrays = [np.concatenate([p[i] for p in parts]) for i in range(4)]
        else:
            arrays = [np.empty(0, dtype=d) for d in (np.int64, np.int32, np.uint8, np.uint16)]
        assert arrays[0].size == n
        return TimeTagStreamBuffer(*arrays, t_start=self._t_start, t_get_data=t_get)

    def getCounts(self) -> int:
        with self._lock:
            return int(self._n)

    def _config(self):
        return {"channels": list(self._channels), "n max events": self._n_max}
