"""The simulator's inner loops, in numpy and, with the optional extra ``[fast]``, compiled by numba.

Each kernel has a numpy implementation, always available, and a compiled one used when numba is
installed (``pip install "pymodaq_plugins_timetagger[fast]"``). Both give bit-identical results (same
integer arithmetic, same floating-point operations in the same order, no fast-math): a seeded run
gives the same data on either, which ``tests/test_simulator_kernels.py`` checks kernel by kernel and on
whole runs. The numba kernels only replace numpy's whole-array passes by one loop: the random numbers
are always drawn by numpy's generator, outside the kernels, in the same order.

:func:`backend` says which implementation runs (``"numba"`` or ``"numpy"``); the environment variable
``PYMODAQ_TIMETAGGER_KERNELS=numpy`` (or :func:`set_backend`) forces numpy, ``=numba`` numba. numba is
imported and the kernels compiled (or loaded from numba's on-disk cache) on the first use, not when the
package is imported: a simulated tagger prepares them when it is created, as the real one opens its
device (about 0.6 s of CPU with numba's cache, a few seconds the very first time).

Kernels
-------

==================  ==============================================================================
``arrivals``        Poisson arrival times from exponential gaps (cumulative sum, scaled).
``pair_histogram``  adds to a histogram every (start, stop) pair whose τ = stop − start lies in its
                    window: the work of Correlation and Histogram. numpy materialises the pairs
                    (in batches); numba sweeps both sorted streams once, O(starts + pairs).
``jitter_to_tags``  relative float times + clipped Gaussian jitter, rounded to integer ps, shifted
                    (``round_to_tags``: the same without jitter).
``dead_time``       the non-paralysable dead time (see :func:`sources.apply_dead_time`).
``bin_counts``      per-bin counts of sorted tags on a regular grid (Counter).
==================  ==============================================================================
"""
from __future__ import annotations

import importlib.util
import logging
import os

import numpy as np

logger = logging.getLogger(__name__)

#: environment variable choosing the kernels: ``numba``, ``numpy`` or ``auto`` (unset: numba if installed)
ENV_VAR = "PYMODAQ_TIMETAGGER_KERNELS"
#: the pair histogram's window must lie strictly within ± this (ps): tags + window, and its width, stay
#: within int64
WINDOW_LIMIT_PS = 2**62
#: numpy pair histogram: pairs built at most at once (bounds memory for wide windows)
MAX_PAIRS_PER_BATCH = 2_000_000

_impl: dict | None = None       # the kernels in use, resolved on first use
_backend: str | None = None


# ------------------------------------------------------------------------------------------------ numpy
def _pair_histogram_numpy(stops, starts, lo, bw, hist):
    """Add to ``hist`` (n bins of ``bw`` from ``lo``) every pair stop − start in [lo, lo + n·bw)."""
    n = hist.size
    left = np.searchsorted(stops, starts + lo, side="left")
    right = np.searchsorted(stops, starts + (lo + n * bw), side="left")
    counts = right - left
    total = int(counts.sum())
    if total == 0:
        return
    cum = np.cumsum(counts)
    begin = 0
    while begin < starts.size:
        # batch so that no more than MAX_PAIRS_PER_BATCH pairs are materialised at once
        base = cum[begin - 1] if begin else 0
        end = int(np.searchsorted(cum, base + MAX_PAIRS_PER_BATCH, side="right"))
        end = max(end, begin + 1)
        c = counts[begin:end]
        n_pairs = int(c.sum())
        if n_pairs:
            first = np.repeat(left[begin:end] - (np.cumsum(c) - c), c)
            stop_idx = first + np.arange(n_pairs)
            tau = stops[stop_idx] - np.repeat(starts[begin:end], c)
            hist += np.bincount((tau - lo) // bw, minlength=n)[:n]
        begin = end


def _arrivals_numpy(gaps, duration_ps):
    """Partial sums of ``gaps`` (n + 1 of them) scaled so that the last is ``duration_ps``: the first n."""
    cum = np.cumsum(gaps, out=gaps)
    out = cum[:-1]
    out *= duration_ps / cum[-1]
    return out


def _jitter_to_tags_numpy(rel, offset, noise, clip, sigma, shift):
    """int64 tags ``rint((rel + offset) + clip(noise, ±clip)·sigma) + shift`` (``noise`` is overwritten)."""
    if offset:
        rel = rel + offset
    np.clip(noise, -clip, clip, out=noise)
    noise *= sigma
    noise += rel          # = rel + noise·sigma: addition is commutative in IEEE 754, bit for bit
    np.rint(noise, out=noise)
    tags = noise.astype(np.int64)
    tags += shift
    return tags


def _round_to_tags_numpy(rel, offset, shift):
    """int64 tags ``rint(rel + offset) + shift`` (no jitter)."""
    tags = np.rint(rel + offset if offset else rel).astype(np.int64)
    tags += shift
    return tags


def _dead_time_numpy(times, dead_ps, last_kept):
    """Kept events and the new last kept one; ``times`` sorted, non-empty, ``dead_ps`` > 0.

    Vectorised: an event whose gap to its predecessor is at least ``dead_ps`` is always kept (the last
    kept event is never later than the predecessor), so each pass removes the events that directly
    follow such a sure-kept event and are too close to it, until no gap is short.
    """
    t = times
    if not (float(t[0]) - last_kept) >= dead_ps:
        # the first event falls in the dead time left over from the previous chunk
        t = t[np.searchsorted(t, last_kept + dead_ps, side="left"):]
        if t.size == 0:
            return t, last_kept
    while True:
        short = np.diff(t) < dead_ps
        if not short.any():
            break
        # sure[i]: the gap of event i to its predecessor is >= dead (event 0 is always kept here)
        sure = np.empty(t.size, dtype=bool)
        sure[0] = True
        sure[1:] = ~short
        drop = np.zeros(t.size, dtype=bool)
        drop[1:] = short & sure[:-1]
        t = t[~drop]
    return t, float(t[-1])


def _bin_counts_numpy(tags, origin, bw, lo_bin, out):
    """Add to ``out[k]`` the tags in [origin + (lo_bin + k)·bw, ... + bw); tags >= origin + lo_bin·bw."""
    span = out.size
    out += np.bincount((tags - origin) // bw - lo_bin, minlength=span)[:span]


_NUMPY = {"arrivals": _arrivals_numpy, "pair_histogram": _pair_histogram_numpy, "jitter_to_tags": _jitter_to_tags_numpy,
          "round_to_tags": _round_to_tags_numpy, "dead_time": _dead_time_numpy,
          "bin_counts": _bin_counts_numpy}


# ------------------------------------------------------------------------------------------------ numba
# Plain Python loops, compiled by numba (never run uncompiled: they would be slow, not wrong). Module-level
# functions with every parameter passed in, so that numba's on-disk cache stays valid.
def _pair_histogram_loop(stops, starts, lo, bw, hist):
    n_stops = stops.size
    span = hist.size * bw
    # τ − lo = stop − a lies in [0, span): an unsigned division gives its bin; 32 bits when it fits
    narrow = span <= 0xFFFFFFFF
    bw32 = np.uint32(bw if narrow else 1)
    bw64 = np.uint64(bw)
    j = 0                                       # first stop >= a
    e = 0                                       # first stop >= a + span
    for i in range(starts.size):
        a = starts[i] + lo                      # window [a, a + span) of this start
        while j < n_stops and stops[j] < a:
            j += 1
        if e < j:
            e = j
        b = a + span
        while e < n_stops and stops[e] < b:
            e += 1
        if narrow:
            for k in range(j, e):
                hist[np.uint32(stops[k] - a) // bw32] += 1
        else:
            for k in range(j, e):
                hist[np.uint64(stops[k] - a) // bw64] += 1


def _arrivals_loop(gaps, duration_ps):
    acc = 0.0
    for i in range(gaps.size):          # numpy's cumsum: sequential additions, in this order
        acc += gaps[i]
        gaps[i] = acc
    scale = duration_ps / acc
    out = gaps[:-1]
    for i in range(out.size):
        out[i] *= scale
    return out


def _jitter_loop(rel, offset, noise, clip, sigma, shift):
    out = np.empty(rel.size, dtype=np.int64)
    for i in range(rel.size):
        x = rel[i] + offset if offset else rel[i]
        z = noise[i]
        if z < -clip:
            z = -clip
        elif z > clip:
            z = clip
        out[i] = np.int64(np.rint(x + z * sigma)) + shift
    return out


def _round_loop(rel, offset, shift):
    out = np.empty(rel.size, dtype=np.int64)
    for i in range(rel.size):
        out[i] = np.int64(np.rint(rel[i] + offset if offset else rel[i])) + shift
    return out


def _dead_time_loop(t, dead_ps, last_kept):
    """The kept events (a new array): the numpy kernel's tests, in one pass."""
    n = t.size
    out = np.empty_like(t)
    i = 0
    if not (t[0] - last_kept) >= dead_ps:
        limit = last_kept + dead_ps
        while i < n and t[i] < limit:
            i += 1
        if i == n:
            return out[:0]
    out[0] = t[i]
    n_kept = 1
    for j in range(i + 1, n):
        if not t[j] - out[n_kept - 1] < dead_ps:
            out[n_kept] = t[j]
            n_kept += 1
    return out[:n_kept]


def _bin_counts_loop(tags, origin, bw, lo_bin, out):
    for i in range(tags.size):
        k = (tags[i] - origin) // bw - lo_bin
        if 0 <= k < out.size:
            out[k] += 1


def _numba_kernels() -> dict:
    """Compile (or load from numba's cache) the numba kernels: the same contracts as the numpy ones."""
    import numba

    jit = numba.njit(cache=True, nogil=True, error_model="numpy")
    dead_time_loop = jit(_dead_time_loop)

    def dead_time(times, dead_ps, last_kept):
        kept = dead_time_loop(times, dead_ps, float(last_kept))
        return kept, (float(kept[-1]) if kept.size else last_kept)

    return {"arrivals": jit(_arrivals_loop), "pair_histogram": jit(_pair_histogram_loop), "jitter_to_tags": jit(_jitter_loop),
            "round_to_tags": jit(_round_loop), "dead_time": dead_time, "bin_counts": jit(_bin_counts_loop)}


def _warm_up(impl: dict) -> None:
    """Call every kernel once on small inputs of the types the simulator passes (compiles numba's)."""
    tags = np.array([0, 5, 7, 20], dtype=np.int64)
    impl["arrivals"](np.array([1.0, 2.0, 3.0]), 10.0)
    impl["pair_histogram"](tags, tags, -10, 4, np.zeros(5, dtype=np.int64))
    impl["jitter_to_tags"](np.array([1.0, 2.0]), 0.0, np.array([0.1, -0.2]), 7.0, 8.0, 3)
    impl["round_to_tags"](np.array([1.0, 2.0]), 0.0, 3)
    for t in (tags, tags.astype(float)):
        for dead in (2, 2.0):
            impl["dead_time"](t, dead, -np.inf)
    impl["bin_counts"](tags, 0, 7, 0, np.zeros(3, dtype=np.int64))


# ------------------------------------------------------------------------------------------------ choice
def numba_available() -> bool:
    return importlib.util.find_spec("numba") is not None


def set_backend(name: str | None) -> str:
    """Use ``"numba"`` or ``"numpy"`` kernels; returns the backend in use. Meant for tests and benchmarks.

    None: what ``PYMODAQ_TIMETAGGER_KERNELS`` says (``numba``, ``numpy``, or ``auto``: numba if installed;
    unset means ``auto``). ``"numba"`` without numba installed raises ImportError.
    """
    global _impl, _backend
    if name is None:
        name = os.environ.get(ENV_VAR, "").strip().lower() or "auto"
        if name not in ("auto", "numba", "numpy"):
            raise ValueError(f"{ENV_VAR} must be 'numba', 'numpy' or 'auto', got {name!r}")
        if name == "auto":
            name = "numba" if numba_available() else "numpy"
    if name == "numpy":
        impl = _NUMPY
    elif name == "numba":
        impl = _numba_kernels()
        _warm_up(impl)
    else:
        raise ValueError(f"kernel backend must be 'numba' or 'numpy', got {name!r}")
    _impl, _backend = impl, name
    logger.debug("simulator kernels: %s", name)
    return name


def backend() -> str:
    """The kernels in use, ``"numba"`` or ``"numpy"`` (chosen, and compiled, on the first call)."""
    if _backend is None:
        set_backend(None)
    return _backend


def _kernel(name):
    if _impl is None:
        backend()
    return _impl[name]


def arrivals(gaps: np.ndarray, duration_ps: float) -> np.ndarray:
    """Poisson arrival times from n + 1 exponential ``gaps`` (overwritten): the n first partial sums,
    scaled so that the last partial sum would be ``duration_ps`` (a view into ``gaps``)."""
    return _kernel("arrivals")(gaps, duration_ps)


def pair_histogram(stops: np.ndarray, starts: np.ndarray, lo: int, bw: int, hist: np.ndarray) -> None:
    """Add to ``hist`` (int64, n bins of ``bw`` ps from ``lo``) the pairs with stop − start in its window.

    ``stops`` and ``starts`` are sorted int64 tags; every (start, stop) pair counts, a tag with itself too.
    A window reaching ±2**62 ps (53 days) raises OverflowError: tag + window and its width must stay in
    int64, where compiled code would wrap around silently.
    """
    if lo <= -WINDOW_LIMIT_PS or lo + hist.size * bw >= WINDOW_LIMIT_PS:
        raise OverflowError(f"histogram window [{lo}, {lo + hist.size * bw}) ps reaches "
                            f"±{WINDOW_LIMIT_PS} ps")
    _kernel("pair_histogram")(stops, starts, lo, bw, hist)


def jitter_to_tags(rel: np.ndarray, offset: float, noise: np.ndarray, clip: float, sigma: float,
                   shift: int) -> np.ndarray:
    """int64 ``rint((rel + offset) + clip(noise, ±clip)·sigma) + shift``, unsorted.

    ``noise`` (standard normal draws, one per time) may be overwritten.
    """
    return _kernel("jitter_to_tags")(rel, offset, noise, clip, sigma, shift)


def round_to_tags(rel: np.ndarray, offset: float, shift: int) -> np.ndarray:
    """int64 ``rint(rel + offset) + shift``."""
    return _kernel("round_to_tags")(rel, offset, shift)


def dead_time(times: np.ndarray, dead_ps, last_kept: float) -> tuple[np.ndarray, float]:
    """Non-paralysable dead time on sorted, non-empty ``times`` with ``dead_ps`` > 0: (kept, last kept)."""
    return _kernel("dead_time")(times, dead_ps, last_kept)


def bin_counts(tags: np.ndarray, origin: int, bw: int, lo_bin: int, out: np.ndarray) -> None:
    """Add to ``out[k]`` (int64) the number of sorted int64 ``tags`` in bin ``lo_bin + k`` of the grid
    ``origin + m·bw``; every tag lies in bins ``lo_bin .. lo_bin + out.size - 1``."""
    _kernel("bin_counts")(tags, origin, bw, lo_bin, out)
