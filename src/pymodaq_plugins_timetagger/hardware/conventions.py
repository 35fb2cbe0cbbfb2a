"""Conventions of the time axes, stated once.

The vendor documents the Correlation sign only through its parameter names (``channel_1`` "stop",
``channel_2`` "start/reference") and documents neither the placement of zero delay nor what
``getIndex`` returns exactly (see shared/TIMETAGGER_API.md, [open]). The simulator implements the
convention below, the plugins label their axes from ``getIndex()`` of whichever backend runs, and the
README states it. The constants are tested in ``tests/test_conventions.py``.
"""
from __future__ import annotations

import numpy as np

#: τ of a Correlation pair: the time of the channel_1 ("stop") event minus the channel_2 ("start") one.
#: A signal on channel_1 that arrives later than the one on channel_2 gives a peak at positive τ.
CORRELATION_SIGN = "tau = t(channel_1) - t(channel_2)"

#: The Correlation window is [-n_bins*binwidth/2, +n_bins*binwidth/2) (floor division for odd products)
#: cut into n_bins bins of width binwidth, each closed on the left; ``getIndex()`` gives bin CENTRES
#: (rounded down to whole ps). Zero delay is therefore the centre of the middle bin for odd n_bins and
#: the edge between the two middle bins for even n_bins: choose odd n_bins to have a bin at τ = 0.
CORRELATION_INDEX = "centre"

#: Histogram (start-stop) bins are [k*binwidth, (k+1)*binwidth) after the start; ``getIndex()`` gives
#: their LEFT edges, k*binwidth (the vendor's Counter documents the same for its index).
HISTOGRAM_INDEX = "left edge"


def correlation_first_edge(binwidth: int, n_bins: int) -> int:
    """Lower edge (ps) of the first Correlation bin."""
    return -((n_bins * binwidth) // 2)


def correlation_index(binwidth: int, n_bins: int) -> np.ndarray:
    """Centres (int64 ps) of the Correlation bins, as ``Correlation.getIndex()`` returns them."""
    return correlation_first_edge(binwidth, n_bins) + np.arange(n_bins, dtype=np.int64) * binwidth \
        + binwidth // 2


def histogram_index(binwidth: int, n_bins: int) -> np.ndarray:
    """Left edges (int64 ps) of the Histogram bins, as ``Histogram.getIndex()`` returns them."""
    return np.arange(n_bins, dtype=np.int64) * binwidth
