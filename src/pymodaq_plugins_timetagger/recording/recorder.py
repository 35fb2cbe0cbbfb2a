"""Record the raw time tags of a Run's inputs, one Photon-HDF5 file per acquisition window. Qt-free.

A :class:`Recorder` belongs to a plugin (or the headless client) and is attached to its Run
(``run.recorder``). For each exact window (``Run.acquire``) the Run asks it for a :class:`Window`: a
``TimeTagStream`` on the Run's input channels (the vendor's class on hardware, the simulator's on the
simulator: ``handle.api.TimeTagStream``) started with the measurements, drained by the acquiring thread at
every poll, its tags handed to the writer thread through a bounded queue.

Nothing is lost silently:

* a device overflow arrives in the stream (OverflowBegin / MissedEvents / OverflowEnd): its interval and
  counts per channel go into the file and the window's ``recording_tags_lost``;
* when the disk does not keep up and the queue holds ``max_queue_bytes``, the tags just read are not
  queued: their interval and counts go into the file as a recorder gap and into ``recording_tags_lost``;
* a full ``TimeTagStream`` buffer (``size == n_max_events``: "events have likely been discarded", wheel) is a
  gap of unknown count (``recording_tags_lost_unknown``);
* a write error, or a disk about to be full (less than ``min_free_bytes`` free), stops the recording with a
  message (:attr:`Recorder.error`, shown by every later window's metadata); the acquisition goes on.

Files: ``<directory>/<session UTC>_<name>/<index:06d>_<window start UTC>.h5``; the index counts the
windows of the session from 0, so DAQ_Scan step k (one grab per step) is file k; each window's metadata
and 0D dataset carry its index.
"""
from __future__ import annotations

import collections
import datetime as _dt
import json
import logging
import errno
import os
import shutil
import threading

import numpy as np

from ..hardware.inputs import read_input
from ..settings import CHANNEL, CHANNELS, of_kind
from .photon_hdf5 import LostTags, PhotonHDF5Writer, WindowInfo

logger = logging.getLogger(__name__)

#: the TimeTagStream's buffer (events): 0.2 s at 2 x 10 Mcps, four times the drain period of Run.acquire
#: (runs.ABORT_POLL_S, 50 ms); the vendor allocates it (16 bytes an event: 64 MiB)
STREAM_BUFFER_EVENTS = 1 << 22
#: what the queue to the writer may hold before tags are counted lost instead (9 bytes a tag: 2.6 s at 20 Mtags/s)
MAX_QUEUE_BYTES = 512 * 1024 * 1024
#: the recording stops before the disk holds less than this free: HDF5 must never meet a full disk (after a
#: failed write its library can crash the process when the file is closed: seen with h5py 3 on a full tmpfs)
MIN_FREE_BYTES = 64 * 1024 * 1024
#: how long closing waits for the writer to finish the queued windows, s
CLOSE_TIMEOUT_S = 30.0
#: event types of the stream (wheel: TagType)
TIME_TAG, ERROR, OVERFLOW_BEGIN, OVERFLOW_END, MISSED_EVENTS = 0, 1, 2, 3, 4


def run_channels(kind: str, settings) -> tuple[int, ...]:
    """The input channels a measurement's settings use (every channel setting declared in settings.py)."""
    out: list[int] = []
    for decl in of_kind(kind):
        v = getattr(settings, decl.name)
        if decl.type == CHANNELS:
            out.extend(int(c) for c in v)
        elif decl.type == CHANNEL:
            out.append(int(v))
    return tuple(dict.fromkeys(out))


def _utc_now() -> _dt.datetime:
    return _dt.datetime.now(_dt.timezone.utc)


class Recorder:
    """One recording session: windows numbered from 0, a writer thread, counts, the first error."""

    def __init__(self, directory: str, name: str = "tags", *, compression: str | None = None,
                 max_queue_bytes: int = MAX_QUEUE_BYTES, n_max_events: int = STREAM_BUFFER_EVENTS,
                 min_free_bytes: int = MIN_FREE_BYTES, writer=PhotonHDF5Writer):
        self.directory = os.path.abspath(directory)
        self.name = name
        self.compression = compression
        self.max_queue_bytes = int(max_queue_bytes)
        self.n_max_events = int(n_max_events)
        self.min_free_bytes = int(min_free_bytes)
        self._writer_cls = writer
        self.error: str | None = None
        self.files_written = 0
        self.tags_written = 0
        self._session_dir: str | None = None
        self._index = 0
        self._stream = None
        self._stream_key = None
        self._queue: collections.deque = collections.deque()
        self._queued_bytes = 0
        self._cond = threading.Condition()
        self._closing = False
        self._thread = threading.Thread(target=self._write_loop, daemon=True, name=f"recorder-{name}")
        self._thread.start()

    # ------------------------------------------------------------------------------------ acquisition side
    def window(self, handle, kind: str, settings) -> "Window | None":
        """A new window on ``settings``' inputs (its stream not started yet), None once recording stopped."""
        if self.error is not None:
            return None
        channels = run_channels(kind, settings)
        try:
            if self._session_dir is None:
                stamp = _utc_now().strftime("%Y%m%dT%H%M%SZ")
                self._session_dir = os.path.join(self.directory, f"{stamp}_{self.name}")
                os.makedirs(self._session_dir, exist_ok=False)
        except OSError as e:
            self._fail(f"recording stopped: cannot create {self._session_dir}: {e}")
            return None
        key = (id(handle.tagger), channels)
        if self._stream_key != key:
            self._drop_stream()
            self._stream = handle.api.TimeTagStream(handle.tagger, self.n_max_events, list(channels))
            self._stream.stop()  # like every measurement it starts when built: it waits for the window
            self._stream_key = key
        start = _utc_now()
        path = os.path.join(self._session_dir, f"{self._index:06d}_{start.strftime('%Y%m%dT%H%M%S.%fZ')}.h5")
        win = Window(self, self._stream, path, self._index, WindowInfo(
            channels=channels, device=handle.description, model=str(handle.model), serial=str(handle.serial),
            simulated=bool(handle.simulated), window_start_ps=0, start_utc=start.isoformat(),
            inputs=_inputs(handle.tagger, channels), configuration=_configuration(handle.tagger),
            measurement={"kind": kind, **{k: (list(v) if isinstance(v, tuple) else v)
                                          for k, v in vars(settings).items()}}))
        self._index += 1
        return win

    def status(self) -> str:
        if self.error is not None:
            return self.error
        return (f"recording to {self._session_dir or self.directory}: {self.files_written} file(s), "
                f"{self.tags_written} tags written, {self._queued_bytes // 9} tags queued")

    def close(self, timeout_s: float = CLOSE_TIMEOUT_S) -> bool:
        """Finish writing what is queued (up to ``timeout_s``), stop the thread; True if all was written."""
        with self._cond:
            self._closing = True
            self._cond.notify_all()
        self._thread.join(timeout_s)
        self._drop_stream()
        return not self._thread.is_alive()

    # ------------------------------------------------------------------------------------ the queue
    def _put(self, item, nbytes: int, droppable: bool) -> bool:
        with self._cond:
            if self.error is not None or self._closing:
                return False
            if droppable and self._queued_bytes + nbytes > self.max_queue_bytes:
                return False
            self._queue.append((item, nbytes))
            self._queued_bytes += nbytes
            self._cond.notify_all()
            return True

    def _write_loop(self) -> None:
        while True:
            with self._cond:
                while not self._queue and not self._closing:
                    self._cond.wait()
                if not self._queue:
                    return
                item, nbytes = self._queue.popleft()
            op, win, payload = item
            try:
                if self.error is None:
                    if op in ("open", "tags"):
                        self._check_free(win.path, nbytes)
                    if op == "open":
                        win.writer = self._writer_cls(win.path, win.info, self.compression)
                    elif op == "tags":
                        win.writer.append(*payload)
                        self.tags_written += int(payload[0].size)
                    elif op == "close":
                        win.writer.close(*payload)
                        self.files_written += 1
            except Exception as e:  # a full disk, a lost drive, a bug: recording stops, acquisition goes on
                if win.writer is not None:
                    win.writer.abandon()
                self._fail(f"recording stopped: writing {win.path} failed: {type(e).__name__}: {e}")
            finally:
                with self._cond:
                    self._queued_bytes -= nbytes

    def _check_free(self, path: str, nbytes: int) -> None:
        free = shutil.disk_usage(os.path.dirname(path)).free
        if free < nbytes + self.min_free_bytes:
            raise OSError(errno.ENOSPC, f"the disk is full: {free} bytes free, the recording keeps at least "
                                        f"{self.min_free_bytes} free")

    def _fail(self, message: str) -> None:
        if self.error is None:
            self.error = message
            logger.error("%s", message)
        with self._cond:  # nothing more is written: what was queued is given up with the recording
            self._queued_bytes -= sum(n for _, n in self._queue)
            self._queue.clear()

    def _drop_stream(self) -> None:
        if self._stream is not None:
            try:
                self._stream.stop()
                self._stream.__exit__(None, None, None)
            except Exception as e:  # noqa: BLE001 (the tagger may be gone: nothing to release then)
                logger.debug("releasing the TimeTagStream: %s", e)
        self._stream = self._stream_key = None


class Window:
    """One acquisition window being recorded: :meth:`start`, :meth:`drain` often, :meth:`finish`."""

    def __init__(self, recorder: Recorder, stream, path: str, index: int, info: WindowInfo):
        self.recorder, self.stream, self.path, self.index, self.info = recorder, stream, path, index, info
        self.writer = None
        self._col = {c: i for i, c in enumerate(info.channels)}
        self.tags = 0
        self.overflows = LostTags()
        self.gaps = LostTags()
        self._open_overflow: tuple[int, np.ndarray] | None = None
        self._last_get: int | None = None
        self._opened = False
        self.finished = False

    def start(self, duration_ps: int) -> None:
        self.stream.startFor(int(duration_ps), clear=True)

    def drain(self) -> None:
        """Read what the stream holds and queue it for the writer (or count it lost)."""
        buf = self.stream.getData()
        if not self._opened:
            self.info.window_start_ps = int(buf.tStart)
            self._last_get = int(buf.tStart)
            self._opened = self.recorder._put(("open", self, None), 0, droppable=False)
        t_get = int(buf.tGetData)
        ts, ch, ty = buf.getTimestamps(), buf.getChannels(), buf.getEventTypes()
        if ty.size and (ty != TIME_TAG).any():
            self._markers(ts, ch, ty, buf.getMissedEvents())
            keep = ty == TIME_TAG
            ts, ch = ts[keep], ch[keep]
        if buf.size >= self.recorder.n_max_events:  # the stream's buffer was full: "likely discarded"
            begin = int(ts[-1]) + 1 if ts.size else self._last_get
            self.gaps.add(begin, t_get, [-1] * len(self._col))
        if ts.size:
            if self._opened and self.recorder._put(("tags", self, (ts, ch)), ts.size * 9, droppable=True):
                self.tags += int(ts.size)
            else:
                counts = np.bincount([self._col[int(c)] for c in ch], minlength=len(self._col))
                self.gaps.add(self._last_get, t_get, counts)
        self._last_get = t_get

    def finish(self, capture_ps: int) -> dict:
        """The window ended after ``capture_ps``: queue its end; the metadata of its recording."""
        if self.finished:
            return self.metadata()
        self.drain()
        self.stream.stop()
        self.finished = True
        stop = self.info.window_start_ps + int(capture_ps)
        if self._open_overflow is not None:  # the window ended inside an overflow interval
            self.overflows.add(self._open_overflow[0], stop, self._open_overflow[1])
            self._open_overflow = None
        if self._opened:
            self.recorder._put(("close", self, (stop, self.overflows, self.gaps)), 0, droppable=False)
        return self.metadata()

    def metadata(self) -> dict:
        rec = self.recorder
        lost = self.overflows.total + self.gaps.total
        md = {"recording_file": self.path, "recording_index": self.index, "recording_tags": self.tags,
              "recording_tags_lost": lost,
              "recording_tags_lost_unknown": self.gaps.unknown or self.overflows.unknown}
        if rec.error is not None:
            md["recording_error"] = rec.error
        return md

    def _markers(self, ts, ch, ty, missed) -> None:
        for i in np.flatnonzero(ty != TIME_TAG):
            t, kind = int(ts[i]), int(ty[i])
            if kind == OVERFLOW_BEGIN:
                self._open_overflow = (t, np.zeros(len(self._col), dtype=np.int64))
            elif kind == MISSED_EVENTS:
                if self._open_overflow is None:  # counts outside an interval: an interval of its own
                    self._open_overflow = (t, np.zeros(len(self._col), dtype=np.int64))
                self._open_overflow[1][self._col[int(ch[i])]] += int(missed[i])
            elif kind == OVERFLOW_END and self._open_overflow is not None:
                self.overflows.add(self._open_overflow[0], t, self._open_overflow[1])
                self._open_overflow = None
            elif kind == ERROR:
                self.gaps.add(t, t, [-1] * len(self._col))  # the stream says its time base broke here


def _inputs(tagger, channels) -> dict:
    out = {}
    for c in sorted({abs(c) for c in channels}):
        try:
            s = read_input(tagger, c)
            out[c] = {"trigger_level_v": s.trigger_level_v, "input_delay_ps": s.input_delay_ps,
                      "deadtime_ps": s.deadtime_ps, "test_signal": s.test_signal}
        except Exception as e:  # noqa: BLE001 (a virtual channel has no input settings)
            out[c] = {"error": str(e)}
    return out


def _configuration(tagger) -> str:
    try:
        conf = tagger.getConfiguration()
    except Exception as e:  # noqa: BLE001 (recorded as what it is)
        return json.dumps({"error": str(e)})
    return conf if isinstance(conf, str) else json.dumps(conf, default=str)
