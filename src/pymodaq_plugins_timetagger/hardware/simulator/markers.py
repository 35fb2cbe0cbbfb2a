"""Marker-driven measurements of the simulated Time Tagger: ``CountBetweenMarkers`` and ``TimeDifferences``.

Same class names, constructor parameters (names, order, defaults), methods, units (ps) and return dtypes as the
vendor's (Swabian-TimeTagger 2.22.6 wheel: ``help(TimeTagger.CountBetweenMarkers)``, ``help(TimeTagger.GatedCounter)``
whose single-channel form it is, ``help(TimeTagger.TimeDifferences)``). Each vendor fact is quoted next to the code
that follows it; where the wheel leaves a case open, the choice made here is marked ``chosen`` and documented in
docs/imaging.rst.

Ordering of tags with the same time stamp (chosen): markers are handled before clicks, so a click at the very
picosecond of a begin marker counts in the value that marker opens (the vendor's order of equal time stamps is
not documented; a real set-up avoids the case with an input delay).
"""
from __future__ import annotations

import numpy as np

from . import kernels
from .measurements import CHANNEL_UNUSED, SIM_MAX_BINS, IteratorBase, _positive
from .tagger import _as_int

_EMPTY = np.empty(0, dtype=np.int64)


def _channel(tagger, value, name, what, optional=False) -> int:
    if tagger is None:
        raise ValueError("a valid Time Tagger must be provided.")
    c = _as_int(value, name)
    if optional and c == CHANNEL_UNUSED:
        return CHANNEL_UNUSED
    return tagger._validate_channel(c, f"{what} {name}")


class CountBetweenMarkers(IteratorBase):
    """Clicks counted between markers, one value per begin marker, ``n_values`` values in all.

    Wheel, GatedCounter (of which this is the single-channel form): "It waits for tags on the *begin_channel*. When
    a tag is detected on the *begin_channel*, it starts counting tags on all *click_channels*. When the next tag is
    detected on the *begin_channel*, it stores the current counter values [...] as the next column in the data
    array, resets the counter to zero and starts accumulating counts again. If an *end_channel* is specified, the
    measurement stores the current counter values and resets the counters when a tag is detected on the
    *end_channel* rather than the *begin_channel*." and "The measurement stops when all entries in the data array
    are filled." getBinWidths: "the time differences of 'start -> (next start or stop)'", so with an end channel a
    begin marker while a value is open also stores it (up to that begin) and opens the next one. An end marker with
    no value open (a second end, or one before the first begin) is ignored (chosen: nothing to store).
    """

    def __init__(self, tagger, click_channel, begin_channel, end_channel=CHANNEL_UNUSED, n_values=1000):
        what = "CountBetweenMarkers"
        self._click = _channel(tagger, click_channel, "click_channel", what)
        self._begin = _channel(tagger, begin_channel, "begin_channel", what)
        self._end = _channel(tagger, end_channel, "end_channel", what, optional=True)
        self._n_values = _positive(n_values, "n_values", what, SIM_MAX_BINS)
        super().__init__(tagger)

    def _channels_in_use(self):
        chans = [self._click, self._begin]
        if self._end != CHANNEL_UNUSED:
            chans.append(self._end)
        return tuple(dict.fromkeys(chans))

    def _reset(self):
        n = self._n_values
        self._counts = np.zeros(n, dtype=np.int32)
        self._widths = np.zeros(n, dtype=np.int64)
        self._starts = np.zeros(n, dtype=np.int64)     # absolute begin times, made relative in getIndex
        self._filled = 0
        self._open_at: int | None = None               # begin time of the value being counted
        self._open_count = 0                           # its clicks so far

    def _process(self, tags, a, b):
        if self._filled >= self._n_values:
            return                                     # "stops when all entries in the data array are filled"
        clicks = tags[self._click]
        begins = tags[self._begin]
        if self._end == CHANNEL_UNUSED:
            times, is_begin = begins, np.ones(begins.size, dtype=bool)
        else:
            ends = tags[self._end]
            times = np.concatenate((begins, ends))
            is_begin = np.concatenate((np.ones(begins.size, bool), np.zeros(ends.size, bool)))
            order = np.argsort(times, kind="stable")
            times, is_begin = times[order], is_begin[order]
        if self._open_at is not None:                  # the value opened in an earlier chunk
            times = np.concatenate(([self._open_at], times))
            is_begin = np.concatenate(([True], is_begin))
        if times.size == 0:
            return
        # a value is stored at every marker that follows a begin: it spans [that begin, this marker)
        stored = np.flatnonzero(is_begin[:-1])
        lo, hi = times[stored], times[stored + 1]
        counts = np.searchsorted(clicks, hi, "left") - np.searchsorted(clicks, lo, "left")
        if self._open_at is not None and stored.size and stored[0] == 0:
            counts[0] += self._open_count              # clicks of earlier chunks (lo is before this one)
        room = self._n_values - self._filled
        k = min(room, stored.size)
        sl = slice(self._filled, self._filled + k)
        self._counts[sl], self._widths[sl], self._starts[sl] = counts[:k], (hi - lo)[:k], lo[:k]
        self._filled += k
        if self._filled >= self._n_values:
            self._open_at = None
            return
        if is_begin[-1]:
            last = int(times[-1])
            carried = self._open_count if (self._open_at is not None and times.size == 1) else 0
            self._open_count = carried + int(clicks.size - np.searchsorted(clicks, last, "left"))
            self._open_at = last
        else:
            self._open_at, self._open_count = None, 0

    def getData(self) -> np.ndarray:
        """Array of size *n_values* containing the acquired counter values (int32; not yet acquired: 0)."""
        with self._lock:
            return self._counts.copy()

    def getBinWidths(self) -> np.ndarray:
        """Time (ps) of 'start -> (next start or stop)' of each value (int64; not yet acquired: 0)."""
        with self._lock:
            return self._widths.copy()

    def getIndex(self) -> np.ndarray:
        """Time in ps of each start click in respect to the very first start click (not yet acquired: 0)."""
        with self._lock:
            out = np.zeros(self._n_values, dtype=np.int64)
            if self._filled:
                out[:self._filled] = self._starts[:self._filled] - self._starts[0]
            return out

    def ready(self) -> bool:
        """True when the entire array is filled."""
        with self._lock:
            return self._filled >= self._n_values

    def _config(self):
        return {"click channel": self._click, "begin channel": self._begin, "end channel": self._end,
                "n values": self._n_values}


#: getHistogramIndex while waiting for a sync tag / for a next tag after it (wheel, getHistogramIndex docstring)
WAITING_FOR_SYNC = -2
WAITING_FOR_NEXT = -1


class TimeDifferences(IteratorBase):
    """A sequence of ``n_histograms`` start-stop histograms stepped by markers (pulsed sequences).

    Wheel: "the measurement waits for a tag on the *start_channel*, then measures the time difference between the
    start tag and all subsequent tags on the *click_channel* and stores them in a histogram [...] Clicks that fall
    outside the histogram range are discarded. Data accumulation is performed independently for all start tags."
    Stepping: "After each tag on the *next_channel*, the histogram index is incremented by one and reset to zero
    after reaching the last valid index. The measurement starts with the first tag on the *next_channel*." With a
    *sync_channel*: "The measurement starts when a tag on the *sync_channel* arrives with a subsequent tag on
    *next_channel*. When a rollover occurs, the accumulation is stopped until the next sync and subsequent next
    signal. A sync signal before a rollover will stop the accumulation, reset the histogram index and a subsequent
    signal on the *next_channel* starts the accumulation again." A rollover is "a *next_channel* event while the
    histogram index is already in the last histogram"; ``getCounts`` is "the number of rollovers". Each start tag's
    clicks go to the histogram that was current at the start tag.

    Chosen where the wheel is silent: without a next channel every start counts in histogram 0; with a next channel
    but no sync, starts before the first next tag are not counted and ``getHistogramIndex`` is then 0 (the wheel
    gives -1 "only if *sync_channel* is defined").
    """

    def __init__(self, tagger, click_channel, start_channel=CHANNEL_UNUSED, next_channel=CHANNEL_UNUSED,
                 sync_channel=CHANNEL_UNUSED, binwidth=1000, n_bins=1000, n_histograms=1):
        what = "TimeDifferences"
        self._click = _channel(tagger, click_channel, "click_channel", what)
        start = _channel(tagger, start_channel, "start_channel", what, optional=True)
        # "If no *start_channel* is specified, the *click_channel* is used as *start_channel*"
        self._start_ch = self._click if start == CHANNEL_UNUSED else start
        self._next = _channel(tagger, next_channel, "next_channel", what, optional=True)
        self._sync = _channel(tagger, sync_channel, "sync_channel", what, optional=True)
        self._binwidth = _positive(binwidth, "binwidth", what)
        self._n_bins = _positive(n_bins, "n_bins", what, SIM_MAX_BINS)
        self._n_hist = _positive(n_histograms, "n_histograms", what, SIM_MAX_BINS)
        if self._n_bins * self._n_hist > SIM_MAX_BINS:
            raise ValueError(f"{what}: n_bins × n_histograms must be at most {SIM_MAX_BINS}")
        self._max_rollovers = 0
        super().__init__(tagger)

    def _channels_in_use(self):
        chans = [self._click, self._start_ch] + [c for c in (self._next, self._sync) if c != CHANNEL_UNUSED]
        return tuple(dict.fromkeys(chans))

    def _reset(self):
        self._hist = np.zeros((self._n_hist, self._n_bins), dtype=np.int64)
        self._rollovers = 0
        self._stopped = False       # setMaxCounts reached
        # stepping state: the histogram index (or a waiting state) after the last marker
        if self._next == CHANNEL_UNUSED:
            self._index = 0
        else:
            self._index = WAITING_FOR_SYNC if self._sync != CHANNEL_UNUSED else WAITING_FOR_NEXT
        self._new_segment()

    def _on_resume(self):
        self._new_segment()

    def _new_segment(self):
        self._pend_starts = _EMPTY          # starts whose window may still receive clicks
        self._pend_index = _EMPTY
        self._clicks = _EMPTY

    def _step(self, tags) -> tuple[np.ndarray, np.ndarray]:
        """Marker times and the histogram index in force after each (the state machine of the docstring)."""
        if self._next == CHANNEL_UNUSED:
            return _EMPTY, _EMPTY
        nxt = tags[self._next]
        syn = tags[self._sync] if self._sync != CHANNEL_UNUSED else _EMPTY
        times = np.concatenate((syn, nxt))
        kinds = np.concatenate((np.zeros(syn.size, np.int8), np.ones(nxt.size, np.int8)))
        order = np.argsort(times, kind="stable")        # equal times: the sync first
        times, kinds = times[order], kinds[order]
        if times.size == 0:
            return times, _EMPTY
        n, s0 = self._n_hist, self._index
        if self._sync != CHANNEL_UNUSED:
            # k: next markers since the last sync (a sync sets -1; k = 1..n is histogram k-1; k = n+1 is the
            # rollover, after which the index waits for a sync); the state carried in: k0
            is_sync = kinds == 0
            seg = np.cumsum(is_sync)                      # how many syncs up to each marker
            nexts = np.cumsum(~is_sync)
            at_sync = np.zeros(int(seg[-1]) + 1, dtype=np.int64)
            at_sync[seg[is_sync]] = nexts[is_sync]
            k0 = 0 if s0 == WAITING_FOR_NEXT else (n + 1 if s0 == WAITING_FOR_SYNC else s0 + 1)
            k = nexts - at_sync[seg] + np.where(seg == 0, k0, 0)
            state = np.where(is_sync, WAITING_FOR_NEXT, np.where(k <= n, k - 1, WAITING_FOR_SYNC))
            roll = ~is_sync & (k == n + 1)
        else:
            # wraps to 0 at each rollover; the first next marker starts histogram 0
            j = np.arange(1, times.size + 1) + (s0 if s0 >= 0 else -1)
            state = j % n
            roll = (j >= n) & (state == 0)
        rolls = np.flatnonzero(roll)
        if self._max_rollovers and self._rollovers + rolls.size >= self._max_rollovers:
            cut = int(rolls[self._max_rollovers - self._rollovers - 1])
            self._rollovers = self._max_rollovers
            self._stopped = True                              # "the measurement stops integrating"
            state = state[:cut + 1].copy()
            state[cut] = self._index = WAITING_FOR_SYNC
            return times[:cut + 1], state
        self._rollovers += int(rolls.size)
        self._index = int(state[-1])
        return times, state

    def _process(self, tags, a, b):
        if self._stopped:                                   # only the clicks of starts already counted
            self._add(tags[self._click], _EMPTY, _EMPTY, b)
            return
        first_index = self._index
        marker_t, marker_i = self._step(tags)
        starts = tags[self._start_ch]
        # the index at each start: the one after the last marker at or before it; waiting states (< 0) do not count
        pos = np.searchsorted(marker_t, starts, "right")
        state = np.concatenate(([first_index], marker_i))[pos] if starts.size else _EMPTY
        keep = state >= 0
        self._add(tags[self._click], starts[keep], state[keep], b)

    def _add(self, clicks, starts, index, complete_until):
        if clicks.size:
            self._clicks = np.concatenate((self._clicks, clicks)) if self._clicks.size else clicks
        if starts.size:
            self._pend_starts = np.concatenate((self._pend_starts, starts))
            self._pend_index = np.concatenate((self._pend_index, index))
        span = self._n_bins * self._binwidth
        if complete_until is None:
            ready = self._pend_starts.size
        else:
            ready = int(np.searchsorted(self._pend_starts, complete_until - span, side="right"))
        if ready and self._clicks.size:
            s, idx = self._pend_starts[:ready], self._pend_index[:ready]
            for h in np.unique(idx).tolist():
                kernels.pair_histogram(self._clicks, s[idx == h], 0, self._binwidth, self._hist[h])
        self._pend_starts, self._pend_index = self._pend_starts[ready:], self._pend_index[ready:]
        oldest = self._pend_starts[0] if self._pend_starts.size else complete_until
        if oldest is None:
            self._clicks = _EMPTY
        else:
            self._clicks = self._clicks[np.searchsorted(self._clicks, oldest, side="left"):]

    def _flush(self):
        self._add(_EMPTY, _EMPTY, _EMPTY, None)

    def getData(self) -> np.ndarray:
        """Two-dimensional array of size *n_histograms* by *n_bins* (int32)."""
        with self._lock:
            return self._hist.astype(np.int32)

    def getIndex(self) -> np.ndarray:
        """A vector of size *n_bins* containing the time bins in ps (left edges: 0, binwidth, ...)."""
        return np.arange(self._n_bins, dtype=np.int64) * self._binwidth

    def getHistogramIndex(self) -> int:
        """The histogram being filled, or -2 (waiting for sync) / -1 (waiting for next, after a sync)."""
        with self._lock:
            if self._index == WAITING_FOR_NEXT and self._sync == CHANNEL_UNUSED:
                return 0
            return int(self._index)

    def getCounts(self) -> int:
        """The number of rollovers (histogram index resets)."""
        with self._lock:
            return int(self._rollovers)

    def setMaxCounts(self, max_counts) -> None:
        """The number of rollovers at which the measurement stops integrating (0: never, the default)."""
        v = _as_int(max_counts, "max_counts")
        if v < 0:
            raise ValueError(f"TimeDifferences: max_counts must be >= 0, got {v}")
        with self._lock:
            self._max_rollovers = v

    def setMaxRollovers(self, max_rollovers) -> None:
        """Same as :meth:`setMaxCounts` (its non-deprecated name)."""
        self.setMaxCounts(max_rollovers)

    def ready(self) -> bool:
        """True when the number of rollovers set by :meth:`setMaxCounts` has been reached."""
        with self._lock:
            return bool(self._max_rollovers) and self._rollovers >= self._max_rollovers

    def _config(self):
        return {"click channel": self._click, "start channel": self._start_ch, "next channel": self._next,
                "sync channel": self._sync, "binwidth": self._binwidth, "n bins": self._n_bins,
                "n histograms": self._n_hist}
