"""Measurements of the simulated Time Tagger: ``Countrate``, ``Counter``, ``Correlation``, ``Histogram``.

Same class names, constructor signatures and defaults, methods, units (ps) and return dtypes and shapes as
the vendor's (Swabian-TimeTagger 2.22), so the project's measurement code runs unchanged on both. Like the
vendor's, a measurement starts when it is constructed. Each receives the tags of the channels it listens
to, chunk by chunk, from the tagger's engine, restricted to its own capture window.
"""
from __future__ import annotations

import abc
import logging

import numpy as np

from ..conventions import (AUTOCORRELATION_SELF_PAIRS, CHANNEL_UNUSED, WAIT_ON_INDEFINITE_RETURNS, correlation_first_edge,
                           correlation_vendor_index, histogram_index)
from . import kernels
from .tagger import SimTimeTagger, _as_int

logger = logging.getLogger(__name__)

#: largest n_bins / n_values the SIMULATOR accepts: its own memory guard (the vendor's API takes any int32; no
#: limit of the vendor's is known). Users are held to the smaller settings.MAX_BINS before a measurement is built.
SIM_MAX_BINS = 100_000_000


def _as_bool(value, name):
    if not isinstance(value, bool):  # the vendor's bindings accept a real bool only
        raise TypeError(f"{name} must be a bool, got {value!r}")
    return value


def _as_channel_list(channels, tagger, what) -> list[int]:
    if np.isscalar(channels):
        raise TypeError(f"{what}: channels must be a list of channel numbers, got {channels!r}")
    out = []
    for c in channels:
        if isinstance(c, (float, np.floating)) and not float(c).is_integer():
            raise TypeError(f"{what}: channel numbers must be integers, got {c!r}")
        out.append(tagger._validate_channel(int(c), what))
    if not out:
        raise ValueError(f"{what}: channels must not be empty")
    return out


def _positive(value, name, what, upper=None) -> int:
    v = _as_int(value, name)
    if v < 1:
        raise ValueError(f"{what}: {name} must be at least 1, got {v}")
    if upper is not None and v > upper:
        raise ValueError(f"{what}: {name} must be at most {upper}, got {v}")
    return v


def _channel_pair(tagger, what, first, second) -> tuple[int, int]:
    """The two channels of a Correlation or Histogram, each ``(name, value)``; the second defaults to the first
    (``CHANNEL_UNUSED``)."""
    if tagger is None:
        raise ValueError("a valid Time Tagger must be provided.")
    a = tagger._validate_channel(_as_int(first[1], first[0]), f"{what} {first[0]}")
    b = _as_int(second[1], second[0])
    return a, (a if b == CHANNEL_UNUSED else tagger._validate_channel(b, f"{what} {second[0]}"))


def _bins(binwidth, n_bins, what) -> tuple[int, int]:
    return _positive(binwidth, "binwidth", what), _positive(n_bins, "n_bins", what, SIM_MAX_BINS)


class IteratorBase(abc.ABC):
    """Common life cycle of every simulated measurement (see the vendor's ``IteratorBase``)."""

    def __init__(self, tagger):
        if tagger is None:
            raise ValueError("a valid Time Tagger must be provided.")
        sync = getattr(tagger, "_sim_sync", None)   # built on a SynchronizedMeasurements' proxy tagger
        if sync is not None:
            tagger = tagger._sim_tagger
        if not isinstance(tagger, SimTimeTagger):
            raise TypeError(f"in method '{type(self).__name__}', argument 1 must be a simulated Time "
                            f"Tagger, got {type(tagger).__name__}")
        self._tagger = tagger
        self._lock = tagger._lock
        self._running = False
        self._stop_at: int | None = None
        self._seg_start = 0
        self._capture = 0
        self._lost = 0          # ps of the capture spent in overflow intervals (tags lost)
        self._destroyed = False
        self._reset()
        tagger._register(self)
        if sync is None:
            self.start()
        else:  # wheel: "Those measurements will not start automatically"
            sync.registerMeasurement(self)

    # --- vendor API ------------------------------------------------------------------------------
    def start(self) -> None:
        with self._lock:
            self._check()
            if self._running:
                self._stop_at = None
                return
            self._seg_start = self._tagger._now_for_start()
            self._stop_at = None
            self._on_start()
            self._on_resume()
            self._running = True

    def startFor(self, capture_duration, clear=True) -> None:
        duration = _as_int(capture_duration, "capture_duration")
        _as_bool(clear, "clear")
        if duration < 0:
            raise ValueError(f"capture_duration must be >= 0 ps, got {duration}")
        with self._lock:
            self._check()
            self._start_at(self._tagger._now_for_start(), duration, clear)
            self._tagger._cond.notify_all()

    def _start_at(self, at: int, duration: int | None, clear: bool, resume: bool = False) -> None:
        """Begin a capture at stream time ``at`` for ``duration`` ps (None: indefinitely); the shared part of
        ``startFor`` and of SynchronizedMeasurements, which starts its members at one instant."""
        if resume:
            if self._running:
                self._stop_at = None
                return
        elif self._running:
            self._halt()
        if clear:
            self._reset()
            self._capture = self._lost = 0
        self._seg_start = at
        self._stop_at = None if duration is None else at + duration
        self._on_start()
        self._on_resume()
        self._running = duration is None or duration > 0

    def stop(self) -> None:
        with self._lock:
            self._check()
            if self._running:
                self._tagger._now_for_start()  # include everything up to this moment
                self._halt()

    def clear(self) -> None:
        with self._lock:
            self._check()
            self._reset()
            self._capture = self._lost = 0
            if self._running:
                self._seg_start = self._tagger._t_dispatch
                self._on_resume()

    def abort(self) -> None:
        with self._lock:
            self._check()
            self._running = False
            self._stop_at = None
            self._reset()
            self._capture = self._lost = 0

    def isRunning(self) -> bool:
        with self._lock:
            return self._running

    def getCaptureDuration(self) -> int:
        with self._lock:
            return int(self._capture)

    def waitUntilFinished(self, timeout=-1) -> bool:
        """Block until a ``startFor`` has finished; ``timeout`` in ms (negative: none). False on timeout.

        On a measurement that runs indefinitely (``start()``, no ``startFor``) it returns True at once
        with a warning, like the vendor's library (see ``conventions.WAIT_ON_INDEFINITE_RETURNS``).
        """
        with self._lock:
            self._check()
            if self._running and self._stop_at is None:
                logger.warning("Cannot wait on a measurement that's set to run indefinitely. Skipping")
                return WAIT_ON_INDEFINITE_RETURNS
        return self._tagger._wait(self, timeout)

    def getConfiguration(self) -> dict:
        with self._lock:
            return {"name": type(self).__name__, **self._config()}

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        with self._lock:
            self._running = False
            self._destroyed = True
            self._tagger._measurements.discard(self)
        return False

    # --- engine side -----------------------------------------------------------------------------
    def _feed(self, tags: dict[int, np.ndarray], t0: int, t1: int, lost_from: int | None = None) -> None:
        """Tags of the stream window [t0, t1); from ``lost_from`` on (if given) it was in overflow."""
        a = max(t0, self._seg_start)
        b = t1 if self._stop_at is None else min(t1, self._stop_at)
        if b > a:
            if lost_from is not None:
                self._lost += max(0, b - max(a, lost_from))
            window = {}
            for c in self._channels_in_use():
                arr = tags.get(c)
                if arr is None or arr.size == 0:
                    window[c] = np.empty(0, dtype=np.int64)
                elif arr[0] >= a and arr[-1] < b:
                    window[c] = arr
                else:
                    window[c] = arr[np.searchsorted(arr, a, "left"):np.searchsorted(arr, b, "left")]
            self._process(window, a, b)
            self._capture += b - a
        if self._stop_at is not None and t1 >= self._stop_at:
            self._halt()

    def _halt(self) -> None:
        self._running = False
        self._stop_at = None
        self._flush()

    def _check(self) -> None:
        if self._destroyed:
            raise RuntimeError(f"the {type(self).__name__} measurement has been destroyed")
        self._tagger._check_open()

    # --- for subclasses --------------------------------------------------------------------------
    @abc.abstractmethod
    def _channels_in_use(self) -> tuple[int, ...]:
        """The signed channel numbers this measurement listens to."""

    def _reset(self) -> None:
        """Zero the accumulated data."""

    def _on_resume(self) -> None:
        """A new capture segment begins at ``self._seg_start``."""

    def _on_start(self) -> None:
        """``start()`` or ``startFor()`` begins a capture (after ``clear`` if it asked for it)."""

    @abc.abstractmethod
    def _process(self, tags: dict[int, np.ndarray], a: int, b: int) -> None:
        """Accumulate the tags (per channel, sorted) of the window [a, b) ps."""

    def _flush(self) -> None:
        """The segment ended: finish whatever waits for later tags."""

    def _config(self) -> dict:
        return {}


class Countrate(IteratorBase):
    """Average count rate per channel, counted from the first tag after ``start()`` or ``clear()``.

    ``getData()`` is the number of clicks divided by the stream time from the first click (on any of
    the channels) to the end of what has been processed; NaN before the first click. Its accumulators
    restart at every ``start()`` / ``startFor()`` (vendor behaviour, library); ``getCountsTotal()`` the
    clicks since then.
    """

    def __init__(self, tagger, channels):
        if tagger is None:
            raise ValueError("a valid Time Tagger must be provided.")
        self._channels = tuple(_as_channel_list(channels, tagger, "Countrate"))
        super().__init__(tagger)

    def _channels_in_use(self):
        return self._channels

    def _reset(self):
        self._counts = np.zeros(len(self._channels), dtype=np.int64)
        self._t_first: int | None = None
        self._t_end: int | None = None

    def _on_start(self):
        self._reset()

    def _process(self, tags, a, b):
        for i, c in enumerate(self._channels):
            t = tags[c]
            if t.size:
                self._counts[i] += t.size
                first = int(t[0])
                self._t_first = first if self._t_first is None else min(self._t_first, first)
        self._t_end = b

    def getData(self) -> np.ndarray:
        with self._lock:
            if self._t_first is None or self._t_end <= self._t_first:
                return np.full(len(self._channels), np.nan)
            return self._counts / ((self._t_end - self._t_first) * 1e-12)

    def getCountsTotal(self) -> np.ndarray:
        with self._lock:
            return self._counts.copy()

    def _config(self):
        return {"channels": list(self._channels)}


class Counter(IteratorBase):
    """Count-rate trace: counts per ``binwidth`` (ps) in a ring of ``n_values`` bins per channel."""

    def __init__(self, tagger, channels, binwidth=1_000_000_000, n_values=1):
        if tagger is None:
            raise ValueError("a valid Time Tagger must be provided.")
        self._channels = tuple(_as_channel_list(channels, tagger, "Counter"))
        self._binwidth = _positive(binwidth, "binwidth", "Counter")
        self._n_values = _positive(n_values, "n_values", "Counter", SIM_MAX_BINS)
        super().__init__(tagger)

    def _channels_in_use(self):
        return self._channels

    def _reset(self):
        n_ch = len(self._channels)
        self._ring = np.zeros((n_ch, self._n_values), dtype=np.int64)
        self._n_done = 0            # completed bins since clear
        self._total = np.zeros(n_ch, dtype=np.uint64)
        self._cur = np.zeros(n_ch, dtype=np.int64)
        self._origin = self._seg_start
        self._cur_bin = 0

    def _on_resume(self):
        # a new segment starts a fresh bin grid; the partly integrated bin of the last one is dropped
        self._origin = self._seg_start
        self._cur_bin = 0
        self._cur[:] = 0

    def _process(self, tags, a, b):
        bw, n = self._binwidth, self._n_values
        end_bin = (b - self._origin) // bw       # bins below this are complete after this chunk
        # only the newest n_values complete bins can still be read: build just those (and the current)
        lo_bin = max(self._cur_bin, end_bin - n)
        span = end_bin - lo_bin + 1
        mat = np.zeros((len(self._channels), span), dtype=np.int64)
        complete_edge = self._origin + end_bin * bw
        lo_edge = self._origin + lo_bin * bw
        for i, c in enumerate(self._channels):
            t = tags[c]
            if t.size:
                self._total[i] += np.uint64(np.searchsorted(t, complete_edge, "left"))
                t = t[np.searchsorted(t, lo_edge, "left"):]
                kernels.bin_counts(t, self._origin, bw, lo_bin, mat[i])
        if end_bin > self._cur_bin:
            self._total += self._cur.astype(np.uint64)  # the partly filled bin has just completed
        if lo_bin == self._cur_bin:
            mat[:, 0] += self._cur
        n_write = end_bin - lo_bin
        if n_write:
            ordinal0 = self._n_done + (lo_bin - self._cur_bin)
            self._ring[:, (ordinal0 + np.arange(n_write)) % n] = mat[:, :n_write]
            self._n_done += end_bin - self._cur_bin
        self._cur = mat[:, -1].copy()
        self._cur_bin = end_bin

    def _ordered(self, rolling: bool):
        """(counts, mask of integrated bins) in the vendor's rolling or fill order."""
        n = self._n_values
        filled = min(self._n_done, n)
        mask = np.zeros(n, dtype=bool)
        if rolling:
            out = np.zeros((len(self._channels), n), dtype=np.int64)
            out[:, n - filled:] = self._ring[:, (self._n_done - filled + np.arange(filled)) % n]
            mask[n - filled:] = True
        else:
            out = self._ring.copy()
            mask[:filled] = True
        return out, mask

    def getData(self, rolling=True) -> np.ndarray:
        _as_bool(rolling, "rolling")
        with self._lock:
            out, _ = self._ordered(rolling)
            return out.astype(np.int32)

    def getDataNormalized(self, rolling=True) -> np.ndarray:
        _as_bool(rolling, "rolling")
        with self._lock:
            out, mask = self._ordered(rolling)
            rate = out / (self._binwidth * 1e-12)
            rate[:, ~mask] = np.nan
            return rate

    def getIndex(self) -> np.ndarray:
        return np.arange(self._n_values, dtype=np.int64) * self._binwidth

    def getDataTotalCounts(self) -> np.ndarray:
        with self._lock:
            return self._total.copy()

    def _config(self):
        return {"channels": list(self._channels), "binwidth": self._binwidth, "n values": self._n_values}


class _PairHistogram:
    """Histogram of τ = t_stop − t_start over [lo, lo + n·bw) for every (start, stop) pair, streaming.

    Start tags wait until every stop that could pair with them has arrived (the stream is complete up
    to the chunk end), so pairs across chunk boundaries are exact. ``same_channel``: starts and stops
    are one stream; each tag's pair with itself (τ = 0) is not counted.
    """

    def __init__(self, lo: int, binwidth: int, n_bins: int, same_channel: bool):
        self.lo, self.bw, self.n = lo, binwidth, n_bins
        self.hi = lo + n_bins * binwidth
        self.same = same_channel
        self.hist = np.zeros(n_bins, dtype=np.int64)
        self.new_segment()

    def new_segment(self):
        self._stops = np.empty(0, dtype=np.int64)
        self._starts = np.empty(0, dtype=np.int64)

    def add(self, stops: np.ndarray, starts: np.ndarray, complete_until: int | None) -> None:
        """Add tags; histogram every start whose window ends before ``complete_until`` (None: all)."""
        if stops.size:
            self._stops = np.concatenate((self._stops, stops)) if self._stops.size else stops
        if starts.size:
            self._starts = np.concatenate((self._starts, starts)) if self._starts.size else starts
        if complete_until is None:
            ready = self._starts.size
        else:
            ready = int(np.searchsorted(self._starts, complete_until - self.hi, side="right"))
        if ready:
            self._histogram(self._starts[:ready])
            self._starts = self._starts[ready:]
        # stops older than any future window are no longer needed
        oldest = self._starts[0] if self._starts.size else complete_until
        if oldest is None:
            self._stops = self._stops[:0]
        else:
            self._stops = self._stops[np.searchsorted(self._stops, oldest + self.lo, side="left"):]

    def _histogram(self, starts: np.ndarray) -> None:
        stops = self._stops
        if stops.size == 0:
            return
        if self.same:
            zero_bin = (0 - self.lo) // self.bw
            if 0 <= zero_bin < self.n:  # each start meets itself at τ = 0 inside its window
                self.hist[zero_bin] -= starts.size
        kernels.pair_histogram(stops, starts, self.lo, self.bw, self.hist)


class Correlation(IteratorBase):
    """Histogram of τ = t(channel_1) − t(channel_2) around zero (see ``conventions``).

    ``channel_2`` left unused (or equal to ``channel_1``) gives the auto-correlation of channel_1, in
    which every click also pairs with itself at τ = 0 (``conventions.AUTOCORRELATION_SELF_PAIRS``).
    ``getIndex()`` gives the bins' left edges (``conventions.CORRELATION_VENDOR_INDEX``).
    """

    def __init__(self, tagger, channel_1, channel_2=CHANNEL_UNUSED, binwidth=1000, n_bins=1000):
        self._ch1, self._ch2 = _channel_pair(tagger, "Correlation", ("channel_1", channel_1),
                                             ("channel_2", channel_2))
        self._binwidth, self._n_bins = _bins(binwidth, n_bins, "Correlation")
        super().__init__(tagger)

    def _channels_in_use(self):
        return (self._ch1, self._ch2)

    def _reset(self):
        self._pairs = _PairHistogram(correlation_first_edge(self._binwidth, self._n_bins),
                                     self._binwidth, self._n_bins,
                                     same_channel=(self._ch1 == self._ch2) and not AUTOCORRELATION_SELF_PAIRS)
        self._n1 = 0
        self._n2 = 0

    def _on_resume(self):
        self._pairs.new_segment()

    def _process(self, tags, a, b):
        stops, starts = tags[self._ch1], tags[self._ch2]
        self._n1 += stops.size
        self._n2 += starts.size
        if self._ch1 == self._ch2:
            self._pairs.add(stops, stops, b)
        else:
            self._pairs.add(stops, starts, b)

    def _flush(self):
        empty = np.empty(0, dtype=np.int64)
        self._pairs.add(empty, empty, None)

    def getData(self) -> np.ndarray:
        with self._lock:
            return self._pairs.hist.astype(np.int32)

    def getDataNormalized(self) -> np.ndarray:
        """g2(τ) = Δt / (binwidth · N1 · N2) · histogram(τ); all NaN while N1·N2 = 0 (undefined).

        Δt is the capture duration without the overflow intervals (conventions.py, Correlation normalisation).
        """
        with self._lock:
            if self._n1 == 0 or self._n2 == 0:
                return np.full(self._n_bins, np.nan)
            dt = self._capture - self._lost
            return self._pairs.hist * (dt / (self._binwidth * self._n1 * self._n2))

    def getIndex(self) -> np.ndarray:
        return correlation_vendor_index(self._binwidth, self._n_bins)

    def _config(self):
        return {"channel 1": self._ch1, "channel 2": self._ch2, "binwidth": self._binwidth,
                "n bins": self._n_bins}


class Histogram(IteratorBase):
    """Multiple-start, multiple-stop histogram of click times after each start (lifetime, TCSPC).

    Every click within ``n_bins * binwidth`` after a start is counted for that start; later clicks are
    ignored for it. ``start_channel`` unused: the click channel serves as start channel.
    """

    def __init__(self, tagger, click_channel, start_channel=CHANNEL_UNUSED, binwidth=1000, n_bins=1000):
        self._click, self._start_ch = _channel_pair(tagger, "Histogram", ("click_channel", click_channel),
                                                    ("start_channel", start_channel))
        self._binwidth, self._n_bins = _bins(binwidth, n_bins, "Histogram")
        super().__init__(tagger)

    def _channels_in_use(self):
        return (self._click, self._start_ch)

    def _reset(self):
        self._pairs = _PairHistogram(0, self._binwidth, self._n_bins, self._click == self._start_ch)

    def _on_resume(self):
        self._pairs.new_segment()

    def _process(self, tags, a, b):
        self._pairs.add(tags[self._click], tags[self._start_ch], b)

    def _flush(self):
        empty = np.empty(0, dtype=np.int64)
        self._pairs.add(empty, empty, None)

    def getData(self) -> np.ndarray:
        with self._lock:
            return self._pairs.hist.astype(np.int32)

    def getIndex(self) -> np.ndarray:
        return histogram_index(self._binwidth, self._n_bins)

    def _config(self):
        return {"click channel": self._click, "start channel": self._start_ch,
                "binwidth": self._binwidth, "n bins": self._n_bins}

