"""A recorded window replayed as a Time Tagger: the simulator's engine fed with the recorded tags.

:class:`ReplayTimeTagger` is a :class:`~.tagger.SimTimeTagger` whose stream comes from a recording
(:func:`..recording.photon_hdf5.read_recording`) instead of its sources: every simulated measurement
(Countrate, Counter, Correlation, Histogram, TimeTagStream, and whatever else runs on the engine) works on it
unchanged and receives exactly the recorded tags, chunk by chunk, with the recorded overflow intervals and the
recorder's gaps as intervals of lost tags (``_lost`` of the g2 normalisation, ``getOverflows``). Stream time
begins at the recorded window's start, so a measurement started at once covers the recorded window.

``clock="virtual"``: as fast as possible (a ``startFor`` ends as soon as its tags are processed);
``clock="wall"``: at the recorded pace from the moment the replay is opened.

The recorded input settings are shown (``getTriggerLevel``...) and cannot be changed: they were applied when
the tags were taken. A channel that was not recorded is refused; past the recording's end the replay raises
(no made-up empty time is ever fed to a measurement).
"""
from __future__ import annotations

import dataclasses

import numpy as np

from .models import MODELS, model_by_name
from .sources import PS_PER_S
from .tagger import SimTimeTagger

#: tags per chunk the replay hands to the measurements
REPLAY_TAGS_PER_CHUNK = 1_000_000
#: chunk duration limits of the replay, ps
MIN_REPLAY_CHUNK_PS = 1_000_000_000          # 1 ms


class ReplayTimeTagger(SimTimeTagger):
    """The Time Tagger that recorded ``recording``, replaying it (see the module documentation)."""

    def __init__(self, recording, *, clock: str = "virtual"):
        self._rec = recording
        self._origin_ps = recording.window_start_ps
        self._end_ps = recording.window_stop_ps - recording.window_start_ps
        self._ended = False
        self._tags = {c: np.asarray(t, dtype=np.int64) - self._origin_ps for c, t in recording.tags.items()}
        lost = [(b - self._origin_ps, e - self._origin_ps)
                for src in (recording.overflows, recording.recorder_gaps)
                for b, e in zip(src.begin_ps, src.end_ps)]
        lost.sort()
        self._lost_begin = np.array([b for b, _ in lost], dtype=np.int64)
        self._lost_end = np.array([e for _, e in lost], dtype=np.int64)
        n = max(1, recording.n_tags)
        self._chunk_ps = max(MIN_REPLAY_CHUNK_PS, int(self._end_ps * min(1.0, REPLAY_TAGS_PER_CHUNK / n)))
        base = model_by_name(recording.model) or MODELS["ultra"]
        n_inputs = max([base.n_inputs] + [abs(c) for c in recording.channels])
        spec = dataclasses.replace(base, serial=recording.serial or base.serial, n_inputs=n_inputs,
                                   max_tag_rate_hz=float("inf"))
        super().__init__(spec, clock=clock, seed=0, sources=[])
        with self._lock:
            for c, s in recording.inputs.items():
                if "error" in s or not 1 <= c <= n_inputs:
                    continue
                self._trigger[c] = float(s["trigger_level_v"])
                self._delay[c] = self._delay[-c] = int(s["input_delay_ps"])
                self._deadtime[c] = self._deadtime[-c] = int(s["deadtime_ps"])
                self._test_signal[c] = bool(s["test_signal"])

    @property
    def recording(self):
        return self._rec

    def sim_description(self) -> str:
        day = self._rec.start_utc[:10]
        return f"REPLAY of {self._rec.model} serial {self._rec.serial} recorded {day}"

    def getModel(self) -> str:
        return self._rec.model

    def getConfiguration(self) -> dict:
        conf = super().getConfiguration()
        conf.update(replay=self._rec.path, recorded_device=self._rec.device, simulated=self._rec.simulated)
        return conf

    # ------------------------------------------------------------------ the recorded settings are fixed
    def _fixed(self, *args, **kwargs):
        raise RuntimeError(f"{self.sim_description()}: the input settings were applied when the tags were recorded "
                           f"and cannot be changed in a replay")

    setTriggerLevel = setInputDelay = setDeadtime = setEventDivider = setTestSignal = _fixed
    sim_set_source = sim_remove_source = _fixed

    def _validate_channel(self, channel, what: str) -> int:
        c = int(channel)
        if c not in self._tags:
            raise ValueError(f"{what}: channel {channel} was not recorded in {self._rec.path} "
                             f"(recorded: {', '.join(map(str, self._rec.channels))})")
        return c

    def _check_open(self) -> None:
        super()._check_open()
        if self._ended:
            raise RuntimeError(f"{self.sim_description()}: the recording ends {self._end_ps / PS_PER_S:g} s after "
                               f"its start; nothing more to replay (open it again to replay it again)")

    # ------------------------------------------------------------------ engine: the recorded tags
    def _wall_now_ps(self) -> int:
        return min(super()._wall_now_ps(), self._end_ps + 1)

    def _advance_to(self, target: int) -> None:
        if target > self._end_ps:
            target, self._ended = self._end_ps, True
        while self._t_dispatch < target:
            t0 = self._t_dispatch
            t1 = min(target, t0 + self._chunk_ps)
            # a chunk ends where a lost interval ends: the engine's overflow interval lasts to its chunk's end
            k = int(np.searchsorted(self._lost_end, t0, side="right"))
            if k < self._lost_end.size and self._lost_begin[k] < t1:
                t1 = min(t1, int(self._lost_end[k]))
                lost_from = max(t0, int(self._lost_begin[k]))
                if self._lost_begin[k] >= t0:
                    self._overflows += 1
            else:
                lost_from = None
            active = self._active_channels()
            released = {}
            for c in active:
                t = self._tags[c]
                released[c] = t[np.searchsorted(t, t0, "left"):np.searchsorted(t, t1, "left")]
            self._t_dispatch = self._t_gen = t1
            for m in list(self._measurements):
                if m._running:
                    m._feed(released, t0, t1, lost_from)
            self._cond.notify_all()
