"""The coincidence kernel of the simulated ``Coincidences``, in numpy and, where numba is used, compiled.

Like :mod:`.kernels` (whose backend choice it follows: ``kernels.backend()``), both implementations give the same
events: tests/test_simulator_virtual.py compares them. The rule (virtual_channels.py): every tag of a group's
channel completes a coincidence when the latest tag of each other channel lies at most ``window`` ps before it;
of tags at the same picosecond the one of the channel listed later completes.

Arguments: ``tags`` the group's channels' sorted tags concatenated in group order, ``offsets`` (k + 1) where each
channel's tags begin, ``latest`` (k) the latest tag of each channel before these (``NO_TAG`` if none; updated in
place), ``window`` ps, ``mode`` a CoincidenceTimestamp value. Returns the events' timestamps, non-decreasing.
"""
from __future__ import annotations

import numpy as np

from . import kernels

#: "no tag yet": far enough in the past to be out of every window, far enough from int64's end not to overflow
NO_TAG = np.iinfo(np.int64).min // 4
LAST, AVERAGE, FIRST, LISTED_FIRST = 0, 1, 2, 3


def _coincidences_numpy(tags, offsets, latest, window, mode):
    k = latest.size
    chans = [tags[offsets[j]:offsets[j + 1]] for j in range(k)]
    ext = [np.concatenate((latest[j:j + 1], chans[j])) for j in range(k)]
    events = []
    for i in range(k):
        t = chans[i]
        if t.size == 0:
            continue
        rows = []
        for j in range(k):
            if j == i:
                rows.append(t)
                continue
            # equal times: the tag of the channel listed later completes the coincidence
            idx = np.searchsorted(ext[j], t, side="right" if j < i else "left") - 1
            rows.append(ext[j][np.maximum(idx, 0)])   # ext[j][0] is the carried latest (NO_TAG if none)
        mat = np.vstack(rows)
        first = mat.min(axis=0)
        fire = (t - first) <= window
        if not fire.any():
            continue
        if mode == LAST:
            events.append(t[fire])
        elif mode == FIRST:
            events.append(first[fire])
        elif mode == LISTED_FIRST:
            events.append(mat[0, fire])
        else:
            events.append(np.floor_divide(mat[:, fire].sum(axis=0), k))
    for j in range(k):
        if chans[j].size:
            latest[j] = chans[j][-1]
    if not events:
        return np.empty(0, dtype=np.int64)
    return np.sort(np.concatenate(events), kind="stable")


def _coincidences_loop(tags, offsets, latest, window, mode):
    k = latest.size
    out = np.empty(offsets[k] - offsets[0], dtype=np.int64)
    ptr = offsets[:k].copy()
    m = 0
    while True:
        best = -1
        bt = np.int64(0)
        for j in range(k):          # k-way merge; equal times in group order
            if ptr[j] < offsets[j + 1]:
                v = tags[ptr[j]]
                if best < 0 or v < bt:
                    best = j
                    bt = v
        if best < 0:
            break
        ptr[best] += 1
        latest[best] = bt
        lo = bt
        total = np.int64(0)
        for j in range(k):
            if latest[j] < lo:
                lo = latest[j]
            total += latest[j]
        if bt - lo <= window:
            if mode == LAST:
                out[m] = bt
            elif mode == FIRST:
                out[m] = lo
            elif mode == LISTED_FIRST:
                out[m] = latest[0]
            else:
                out[m] = total // k
            m += 1
    return out[:m]


_compiled = None


def coincidences(tags, offsets, latest, window: int, mode: int) -> np.ndarray:
    """Events of one group (see the module docstring), on the backend ``kernels.backend()`` names."""
    global _compiled
    if kernels.backend() != "numba":
        return _coincidences_numpy(tags, offsets, latest, window, mode)
    if _compiled is None:
        import numba
        _compiled = numba.njit(cache=True, nogil=True, error_model="numpy")(_coincidences_loop)
    return _compiled(tags, offsets, latest, np.int64(window), np.int64(mode))
