"""Conventions of the vendor's library that the plugins depend on, stated once, each with its source.

Sources: "wheel" is the Swabian-TimeTagger 2.22.6 wheel (``Swabian/TimeTagger/__init__.py``, its
docstrings and signatures); "library" is the exported code of that wheel's ``libTimeTagger.so`` as read
(not documented by the vendor: the plugins are built to be right whichever way it turns out).
The simulator implements every convention below, the self-check (``pymodaq_plugins_timetagger.selfcheck``)
measures them on a real device against the same values (its ``EXPECTED`` is built from these constants),
and docs/simulator.rst's conventions section states them. Tests: ``tests/test_conventions.py``, ``tests/test_selfcheck.py``.
"""
from __future__ import annotations

import numpy as np

#: the vendor's ``CHANNEL_UNUSED`` (wheel: ``TimeTagger.CHANNEL_UNUSED``, a module constant)
CHANNEL_UNUSED = -134217728

#: τ of a Correlation pair: the time of the channel_1 ("stop") event minus the channel_2 ("start") one.
#: A signal on channel_1 that arrives later than the one on channel_2 gives a peak at positive τ.
#: Source: wheel, ``Correlation.__init__`` docstring ("channel_1: Channel on which (stop) clicks are
#: received", "channel_2: ... reference clicks (start)"); checked on hardware by the self-check.
CORRELATION_SIGN = "tau = t(channel_1) - t(channel_2)"

# The Correlation window (the "Correlation axis" convention) is [first_edge, first_edge + n_bins*binwidth) with
#: first_edge = -(n_bins*binwidth)//2 (integer division), cut into n_bins bins of width binwidth, each
#: closed on the left. Zero delay is the centre of the middle bin for odd n_bins (even binwidth) and the
# edge between the two middle bins for even n_bins. Source: library (``Correlation`` bins).
# The plugins build their delay axis from binwidth and n_bins with :func:`correlation_bin_centres`,
# NEVER from ``getIndex()``, so they are right whatever the backend's ``getIndex`` returns.

#: What the vendor's ``Correlation.getIndex()`` returns: the LEFT edges of the bins,
#: ``i*binwidth - (n_bins*binwidth)/2`` (integer division). Source: library, ``Correlation::getIndex``
#: of 2.22.6 (the wheel's docstring says only "the time bins in ps"). The simulator returns the same.
CORRELATION_VENDOR_INDEX = "left edge"

#: An auto-correlation (channel_1 == channel_2, or channel_2 = CHANNEL_UNUSED) counts every click once
#: against itself at τ = 0, in the zero bin. Source: library (consistent with the wheel's
#: ``CorrelationPairsData.getCounts(exclude_self_coincidences=...)``). The simulator does the same; the
#: Correlation run removes them from the zero bin (detected by count, see ``runs.remove_self_pairs``).
AUTOCORRELATION_SELF_PAIRS = True

#: ``waitUntilFinished()`` on a measurement running indefinitely (``start()``, no ``startFor``) logs
#: "Cannot wait on a measurement that's set to run indefinitely. Skipping" and returns True at once.
#: Source: library (the message is a string of libTimeTagger.so).
WAIT_ON_INDEFINITE_RETURNS = True

# Correlation normalisation: ``Correlation.getDataNormalized()`` = Δt / (binwidth · N1 · N2) · histogram, Δt the
# capture duration without the overflow intervals (source: wheel docstring for the formula, library for Δt).

# Histogram (start-stop) bins are [k*binwidth, (k+1)*binwidth) after the start; ``getIndex()`` gives
# their LEFT edges, k*binwidth (the vendor's Counter documents the same for its index): :func:`histogram_index`.


def correlation_first_edge(binwidth: int, n_bins: int) -> int:
    """Lower edge (ps) of the first Correlation bin (integer division, as the vendor's library)."""
    return -((n_bins * binwidth) // 2)


def correlation_vendor_index(binwidth: int, n_bins: int) -> np.ndarray:
    """Left edges (int64 ps) of the Correlation bins: what the vendor's ``getIndex()`` returns."""
    return correlation_first_edge(binwidth, n_bins) + np.arange(n_bins, dtype=np.int64) * binwidth


def correlation_bin_centres(binwidth: int, n_bins: int) -> np.ndarray:
    """Centres (float64 ps) of the Correlation bins: the plugins' delay axis."""
    return correlation_vendor_index(binwidth, n_bins) + binwidth / 2.0


def correlation_zero_bin(binwidth: int, n_bins: int) -> int:
    """Index of the Correlation bin that holds τ = 0 (where auto-correlation self-pairs land)."""
    return (0 - correlation_first_edge(binwidth, n_bins)) // binwidth


def index_convention(index, binwidth: int, n_bins: int) -> str:
    """Name what a backend's ``Correlation.getIndex()`` gave: 'left edge', 'centre' or 'other'."""
    idx = np.asarray(index, dtype=float)
    left = correlation_vendor_index(binwidth, n_bins).astype(float)
    if idx.shape == left.shape:
        if np.array_equal(idx, left):
            return "left edge"
        if np.all(np.abs(idx - (left + binwidth / 2.0)) <= 0.5):
            return "centre"
    return "other"


def histogram_index(binwidth: int, n_bins: int) -> np.ndarray:
    """Left edges (int64 ps) of the Histogram bins, as ``Histogram.getIndex()`` returns them."""
    return np.arange(n_bins, dtype=np.int64) * binwidth
