"""One capture window for the measurements of one tagger grabbed together (Master/Slave viewers in a DAQ_Scan step).

Runs that share windows (``Run.shares_window``: the viewer plugins' runs) on one open tagger form a group. When one
of them acquires a window, it waits up to :data:`JOIN_S` for the other members of the group to ask for a window of
the same duration; as soon as all have asked (at once in a DAQ_Scan step, which grabs every detector together),
or after that wait, the measurement objects of those who asked are started together by one vendor
``SynchronizedMeasurements.startFor`` (wheel: "ensures all these measurements to start, stop simultaneously and
operate on exactly the same time tags"). Each run then waits for and reads its own data; its metadata name the
window (``window_id``) and the measurements that shared it (``window_shared_with``). A run grabbed alone, or
accumulating, is not waited for beyond :data:`JOIN_S`.
"""
from __future__ import annotations

import itertools
import threading
import time
import weakref

from .hardware.errors import AcquisitionAborted

#: how long a window waits for the other members of its group to join, s (a DAQ_Scan step grabs all its
#: detectors within milliseconds; a viewer snapped alone pays at most this)
JOIN_S = 0.1
_ids = itertools.count(1)
_groups_lock = threading.Lock()


class _Window:
    def __init__(self, duration_ps: int):
        self.id = next(_ids)
        self.duration_ps = duration_ps
        self.runs: list = []
        self.created = time.monotonic()
        self.started = False
        self.error: BaseException | None = None
        self.sync = None        # the vendor object, kept while its measurements run


class WindowGroup:
    """The runs sharing windows on one tagger handle."""

    def __init__(self):
        self._cond = threading.Condition()
        self._members: weakref.WeakSet = weakref.WeakSet()
        self._open: _Window | None = None

    def add(self, run) -> None:
        with self._cond:
            self._members.add(run)

    def remove(self, run) -> None:
        with self._cond:
            self._members.discard(run)
            self._cond.notify_all()

    def start(self, run, duration_ps: int, stop) -> _Window:
        """Start ``run``'s measurements for ``duration_ps`` on a window shared with the members who ask now.

        ``stop()`` true: leave before the start (AcquisitionAborted). Raises what the vendor's start raised.
        """
        with self._cond:
            w = self._open
            if w is None or w.started or w.duration_ps != duration_ps:
                w = self._open = _Window(duration_ps)
            w.runs.append(run)
            self._cond.notify_all()
            while not w.started:
                if stop():
                    w.runs.remove(run)
                    raise AcquisitionAborted(f"{run.kind}: acquisition stopped before its window started")
                waiting_for = [m for m in self._members if m not in w.runs and not m.accumulating]
                if not waiting_for or time.monotonic() - w.created >= JOIN_S:
                    self._start(w)
                    break
                self._cond.wait(min(0.01, JOIN_S))
            if w.error is not None:
                raise w.error
            return w

    @staticmethod
    def finish(run, w: _Window) -> dict:
        """``run`` has read its data: release its measurements from the window; the metadata saying so."""
        if w.sync is not None:
            for m in run._meas:
                w.sync.unregisterMeasurement(m)
        return {"window_id": w.id, "window_shared_with": sorted(r.kind for r in w.runs if r is not run)}

    def _start(self, w: _Window) -> None:
        if self._open is w:
            self._open = None
        w.started = True
        try:
            api, tagger = w.runs[0].handle.api, w.runs[0].handle.tagger
            meas = [m for r in w.runs for m in r._meas]
            if len(w.runs) == 1:
                for m in meas:
                    m.startFor(w.duration_ps, clear=True)
            else:
                w.sync = api.SynchronizedMeasurements(tagger)
                for m in meas:
                    w.sync.registerMeasurement(m)
                w.sync.startFor(w.duration_ps, clear=True)
        except BaseException as e:  # every run of the window sees the vendor's refusal
            w.error = e
        finally:
            self._cond.notify_all()


def group_of(handle) -> WindowGroup:
    """The window group of an open tagger handle (made on first use)."""
    with _groups_lock:
        group = getattr(handle, "_window_group", None)
        if group is None:
            group = WindowGroup()   # no reference back to the handle: no cycle
            object.__setattr__(handle, "_window_group", group)
        return group
