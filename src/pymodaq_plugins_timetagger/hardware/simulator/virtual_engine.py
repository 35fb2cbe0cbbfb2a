"""The engine's side of the simulated virtual channels and conditional filter (classes: virtual_channels.py).

The tagger calls these on every chunk of the stream: which inputs the virtual channels in use need
(:func:`expand`), the conditional filter on the released tags (:func:`conditional_filter`), and the tags of each
virtual channel in use (:func:`compute`). Kept apart from the classes so that the tagger imports it without the
measurements.
"""
from __future__ import annotations

import math

import numpy as np

_EMPTY = np.empty(0, dtype=np.int64)


def _registry(tagger) -> dict:
    """The tagger's virtual channels by number, in creation order (kept on the tagger, made on first use)."""
    reg = getattr(tagger, "_virtual_channels", None)
    if reg is None:
        reg = tagger._virtual_channels = {}
    return reg


# ------------------------------------------------------------------------------------------ engine hooks
def is_virtual(tagger, channel: int) -> bool:
    return int(channel) in _registry(tagger)


def expand(tagger, channels) -> frozenset[int]:
    """``channels`` with the inputs every virtual channel among them needs, recursively, and the trigger
    channels of the conditional filter where a filtered channel is among them."""
    reg = _registry(tagger)
    out, todo = set(), list(channels)
    while todo:
        c = todo.pop()
        if c in out:
            continue
        out.add(c)
        v = reg.get(c)
        if v is not None and not v._destroyed:
            todo.extend(v._inputs)
    filt = getattr(tagger, "_conditional_filter", None)
    if filt and out & set(filt[1]):
        out.update(filt[0])
    return frozenset(out)


def compute(tagger, released: dict, t0: int, t1: int, lost_from) -> None:
    """Fill ``released`` with the tags of every virtual channel in use for the stream window [t0, t1)."""
    for number, v in list(_registry(tagger).items()):
        if v._destroyed or number not in released:
            continue
        if not v._running:
            released[number] = _EMPTY
            continue
        ins = {c: released.get(c, _EMPTY) for c in v._inputs}
        released[number] = v._produce(number, ins, t0, t1, lost_from is not None)


# ------------------------------------------------------------------------------------------ conditional filter
def set_conditional_filter(tagger, trigger, filtered) -> None:
    """The tagger's setConditionalFilter: ``trigger`` and ``filtered`` lists of inputs ([] and []: off)."""
    trig = tuple(tagger._rising(c) * (1 if int(c) > 0 else -1) for c in trigger)
    filt = tuple(tagger._rising(c) * (1 if int(c) > 0 else -1) for c in filtered)
    if set(trig) & set(filt):
        raise ValueError(f"setConditionalFilter: channel(s) {sorted(set(trig) & set(filt))} are both trigger "
                         f"and filtered")
    with tagger._lock:
        tagger._conditional_filter = (trig, filt) if trig and filt else None
        tagger._filter_state = {}


def conditional_filter(tagger, released: dict) -> None:
    """Drop the filtered channels' tags not preceded by a trigger tag since their channel's previous tag."""
    filt = getattr(tagger, "_conditional_filter", None)
    if not filt:
        return
    trig_ch, filt_ch = filt
    state = tagger._filter_state
    parts = [released[c] for c in trig_ch if c in released and released[c].size]
    trig = np.sort(np.concatenate(parts)) if parts else _EMPTY
    last_trig = state.get("trigger", -math.inf)
    for c in filt_ch:
        tags = released.get(c)
        if tags is None or tags.size == 0:
            continue
        prev = np.empty(tags.size, dtype=float)
        prev[0] = state.get(c, -math.inf)
        prev[1:] = tags[:-1]
        # a trigger in (prev, t]: the carried last trigger counts for the first tag of the chunk
        n_le_t = np.searchsorted(trig, tags, side="right")
        n_le_prev = np.searchsorted(trig, prev, side="right")
        keep = n_le_t > n_le_prev
        if last_trig > prev[0]:
            keep[0] = True
        state[c] = float(tags[-1])
        released[c] = tags[keep]
    if trig.size:
        state["trigger"] = float(trig[-1])
