"""The simulated Time Tagger: settings of each input, the stream of time tags, and its clock.

How the stream is made
----------------------
Time tags exist only where a running measurement listens (like the hardware, which transfers only the
channels in use). The engine advances in *chunks*. For each chunk it asks every source feeding a channel
in use for the true pulse times, then applies, per input: Gaussian jitter (the detector's and the
input's, in quadrature), the input delay, the trigger threshold, the tagger's dead time, the event divider
and finally the transfer-rate limit (tags above it are lost and counted as overflows). Tags are released
to the measurements in time order, per channel, once no later-generated tag can still land before them
(a guard interval as wide as the largest jitter and negative delay).

Clock
-----
``clock="wall"`` (default): stream time follows the wall clock from the tagger's creation, as on
hardware; a background thread keeps the stream up to date and ``waitUntilFinished`` really waits.
``clock="virtual"``: stream time advances only when asked (``waitUntilFinished``, which advances to the
end of a ``startFor`` instantly, or :meth:`SimTimeTagger.sim_advance`), so with a ``seed`` a whole
measurement is reproducible bit for bit and takes only the CPU time it needs.
"""
from __future__ import annotations

import logging
import math
import os
import sys
import threading
import time
import weakref
import zlib
from typing import Iterable

import numpy as np

from . import kernels
from . import virtual_engine as _virtual
from .models import HARDWARE_DELAY_RANGE_PS,  DEFAULT_TRIGGER_LEVEL_V, ModelSpec
from .sources import PS_PER_S, Source, apply_dead_time, default_scene

logger = logging.getLogger(__name__)

#: tags per chunk the engine aims at: large enough to amortise numpy calls, small enough for the cache
TARGET_TAGS_PER_CHUNK = 250_000
#: chunk duration limits, ps (wall clock: the engine also wakes at least this often while running)
MIN_CHUNK_PS = 1_000_000_000       # 1 ms
MAX_CHUNK_PS = 50_000_000_000      # 50 ms
#: how far the wall-clock engine sleeps at most between two updates, s
WALL_TICK_S = 0.01
#: and at least (it releases the tagger's lock in between), s
MIN_WALL_WAIT_S = 0.0002
#: timed waits on Windows before Python 3.13 tick with the system timer (~15.6 ms): closer than this to the
#: end of a window the wall-clock engine yields instead of sleeping, so that windows end on time there too
#: (elsewhere timed waits are fine-grained and this is 0: nothing changes)
COARSE_TIMER_S = 0.016 if (os.name == "nt" and sys.version_info < (3, 13)) else 0.0
#: jitter is drawn from a Gaussian truncated at this many sigma (the guard interval covers it)
JITTER_TRUNCATION_SIGMA = 7.0
#: the built-in test signal's fixed per-channel skew lies within ± this many ps
TEST_SIGNAL_SKEW_PS = 10


class SimTimeTagger:
    """A simulated Time Tagger with the vendor's method names, units (ps, V) and behaviour.

    Methods in camelCase are the vendor API subset; methods starting with ``sim_`` are the simulator's
    own (sources, clock). Create it through :func:`simulator.createTimeTagger`.
    """

    def __init__(self, spec: ModelSpec, *, clock: str = "wall", seed: int | None = None,
                 sources: Iterable[Source] | None = None, resolution=0):
        if clock not in ("wall", "virtual"):
            raise ValueError(f"clock must be 'wall' or 'virtual', got {clock!r}")
        self._spec = spec
        self._resolution = resolution
        self._clock = clock
        self._rng = np.random.default_rng(seed)
        self._lock = threading.RLock()
        self._cond = threading.Condition(self._lock)
        self._closed = False
        self._unplugged = False
        self._silent_failure = False
        n = spec.n_inputs
        self._trigger = {c: self._round_trigger(DEFAULT_TRIGGER_LEVEL_V) for c in range(1, n + 1)}
        self._delay = {c: 0 for c in self._all_channels()}
        self._deadtime = {c: spec.min_deadtime_ps for c in self._all_channels()}
        self._divider = {c: 1 for c in range(1, n + 1)}
        self._test_signal = {c: False for c in range(1, n + 1)}
        # fixed skew of the test signal per input, reproducible for a given serial
        skew_rng = np.random.default_rng(zlib.crc32(spec.serial.encode()))
        self._ts_skew = {c: int(v) for c, v in zip(
            range(1, n + 1), skew_rng.integers(-TEST_SIGNAL_SKEW_PS, TEST_SIGNAL_SKEW_PS + 1, n))}
        self._sources: list[Source] = []
        self._source_of: dict[int, Source] = {}
        for src in (default_scene() if sources is None else sources):
            self.sim_set_source(src)
        # stream state
        self._t_dispatch = 0          # every tag before this has been handed to the measurements
        self._t_gen = 0               # sources have produced their pulses up to here
        self._pending: dict[int, np.ndarray] = {}
        self._last_kept: dict[int, float] = {}
        self._div_count: dict[int, int] = {}
        self._active: frozenset[int] = frozenset()
        self._overflows = 0
        self._dropped: dict[int, np.ndarray] = {}
        self._measurements: weakref.WeakSet = weakref.WeakSet()
        kernels.backend()  # choose (and compile) the kernels now, not in the engine's first chunk
        self._wall_origin = time.perf_counter()  # fine-grained on every OS
        self._thread = None
        if clock == "wall":
            self._thread = threading.Thread(target=self._run_wall_clock, daemon=True,
                                            name=f"sim-timetagger-{spec.serial}")
            self._thread.start()

    # ------------------------------------------------------------------ vendor API: identity
    def getSerial(self) -> str:
        self._check_open()
        return self._spec.serial

    def getModel(self) -> str:
        return self._spec.model

    def getChannelList(self, type=None) -> list[int]:  # noqa: A002 (vendor's argument name)
        from . import ChannelEdge  # late import: the enum lives in the module-like API
        edge = ChannelEdge.All if type is None else ChannelEdge(int(type))
        rising = list(range(1, self._spec.n_inputs + 1))
        falling = [-c for c in rising]
        if edge in (ChannelEdge.Rising, ChannelEdge.HighResRising, ChannelEdge.StandardRising):
            return rising
        if edge in (ChannelEdge.Falling, ChannelEdge.HighResFalling, ChannelEdge.StandardFalling):
            return falling
        return rising + falling

    def getConfiguration(self) -> dict:
        with self._lock:
            return {
                "serial": self._spec.serial, "model": self._spec.model, "simulated": True,
                "clock": self._clock, "resolution": int(self._resolution),
                "channels": [
                    {"number": c, "trigger level": self._trigger[c], "input delay": self._delay[c],
                     "deadtime": self._deadtime[c], "test signal": self._test_signal[c],
                     "event divider": self._divider[c],
                     "source": type(self._source_of[c]).__name__ if c in self._source_of else None}
                    for c in range(1, self._spec.n_inputs + 1)],
                "sources": [repr(s) for s in self._sources],
            }

    # ------------------------------------------------------------------ vendor API: input settings
    def setTestSignal(self, channel, enabled: bool) -> None:
        """Test signal on one input or a list of inputs (the vendor's two overloads, same names)."""
        chans = [channel] if np.isscalar(channel) else list(channel)
        with self._lock:
            for c in chans:
                self._test_signal[self._rising(c)] = bool(enabled)

    def getTestSignal(self, channel) -> bool:
        with self._lock:
            return self._test_signal[self._rising(channel)]

    def setTriggerLevel(self, channel, voltage: float) -> None:
        """Set the trigger level (V); out of range it is CLAMPED to the model's range with a warning.

        Vendor behaviour (library: "... Setting to max device value"), not an exception.
        """
        v = float(voltage)
        c = self._rising(channel)
        clamped = self._spec.clamped_trigger_level(v)
        if clamped != v:
            lo, hi = self._spec.trigger_range_v
            logger.warning("Trigger level %g V of channel %d is out of the range [%g, %g] V of the %s. "
                           "Setting to %s device value %g V", v, c, lo, hi, self._spec.model,
                           "max" if v > hi else "min", clamped)
            v = clamped
        with self._lock:
            self._trigger[c] = self._round_trigger(v)

    def getTriggerLevelRange(self, channel) -> list[float]:
        """[min, max] trigger level of ``channel``, V (the vendor's method of that name)."""
        self._rising(channel)
        return list(self._spec.trigger_range_v)

    def getTriggerLevel(self, channel) -> float:
        with self._lock:
            return self._trigger[self._rising(channel)]

    def setInputDelay(self, channel, delay) -> None:
        d = _as_int(delay, "delay")
        with self._lock:
            self._delay[self._channel(channel)] = d

    def getInputDelay(self, channel) -> int:
        with self._lock:
            return self._delay[self._channel(channel)]

    def setDeadtime(self, channel, deadtime) -> int:
        """Set the dead time (ps) of an input and return the applied value.

        Below the minimum: the minimum. Time Tagger 20 only: rounded to the nearest 6 ns; the others
        take any value above their minimum. Above the maximum: ValueError (wheel, setDeadtime docstring).
        """
        d = _as_int(deadtime, "deadtime")
        try:
            applied = self._spec.applied_deadtime(d)
        except ValueError as e:
            raise ValueError(f"channel {channel}: {e}") from None
        with self._lock:
            self._deadtime[self._channel(channel)] = applied
        return applied

    def getDeadtimeRange(self, channel) -> list[int]:
        """[min, max] dead time of ``channel``, ps (the vendor's method of that name)."""
        self._channel(channel)
        return [self._spec.min_deadtime_ps, self._spec.max_deadtime_ps]

    def getDeadtime(self, channel) -> int:
        with self._lock:
            return self._deadtime[self._channel(channel)]

    def setEventDivider(self, channel, divider) -> None:
        dv = _as_int(divider, "divider")
        if dv < 1:
            raise ValueError(f"event divider must be >= 1, got {dv}")
        with self._lock:
            self._divider[self._rising(channel)] = dv

    def getEventDivider(self, channel) -> int:
        with self._lock:
            return self._divider[self._rising(channel)]

    # virtual channels and the conditional filter: simulator/virtual_channels.py
    def setConditionalFilter(self, trigger, filtered) -> None:
        _virtual.set_conditional_filter(self, trigger, filtered)

    def getConditionalFilterTrigger(self) -> list[int]:
        with self._lock:
            return list((getattr(self, "_conditional_filter", None) or ((), ()))[0])

    def getConditionalFilterFiltered(self) -> list[int]:
        with self._lock:
            return list((getattr(self, "_conditional_filter", None) or ((), ()))[1])

    def clearConditionalFilter(self) -> None:
        _virtual.set_conditional_filter(self, [], [])

    def getDelayHardwareRange(self, channel) -> list[int]:
        """[min, max] hardware input delay, ps (wheel docstring; ``setInputDelay`` goes beyond it in software)."""
        self._rising(channel)
        rng = HARDWARE_DELAY_RANGE_PS.get(self._spec.key)
        if rng is None:
            raise RuntimeError(f"getDelayHardwareRange is not available on the {self._spec.model}")
        return list(rng)

    def getOverflows(self) -> int:
        with self._lock:
            self._check_open()
            return self._overflows

    def clearOverflows(self) -> None:
        with self._lock:
            self._overflows = 0

    def getOverflowsAndClear(self) -> int:
        with self._lock:
            n, self._overflows = self._overflows, 0
            return n

    def sync(self, timeout=-1) -> bool:
        """Bring the stream up to the present (wall clock); settings are always in force at once here."""
        if self._clock == "wall":
            with self._lock:
                self._check_open()
                self._advance_to(self._wall_now_ps())
        return True

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        from . import freeTimeTagger
        freeTimeTagger(self)
        return False

    # ------------------------------------------------------------------ simulator's own API
    @property
    def sim_clock(self) -> str:
        """``'wall'`` or ``'virtual'``."""
        return self._clock

    def sim_now(self) -> int:
        """Current stream time, ps since the tagger was created."""
        with self._lock:
            return self._t_dispatch

    def sim_set_source(self, source: Source) -> None:
        """Connect ``source`` to its channels, disconnecting whatever fed them before."""
        with self._lock:
            for c in source.channels:
                if c > self._spec.n_inputs:
                    raise ValueError(f"{type(source).__name__}: channel {c} does not exist on the "
                                     f"{self._spec.model} (inputs 1..{self._spec.n_inputs})")
            for c in source.channels:
                old = self._source_of.pop(c, None)
                if old is not None:
                    self._disconnect(old)
            source.reset()
            if not any(s is source for s in self._sources):
                self._sources.append(source)
            for c in source.channels:
                self._source_of[c] = source

    def sim_remove_source(self, channel: int) -> None:
        """Disconnect the source feeding ``channel`` (from all its channels)."""
        with self._lock:
            src = self._source_of.get(int(channel))
            if src is not None:
                self._disconnect(src)

    def sim_sources(self) -> list[Source]:
        with self._lock:
            return list(self._sources)

    def sim_advance(self, duration_ps) -> None:
        """Virtual clock: let ``duration_ps`` of stream time pass now (all running measurements fill)."""
        d = _as_int(duration_ps, "duration_ps")
        if d < 0:
            raise ValueError("cannot advance by a negative duration")
        if self._clock != "virtual":
            raise RuntimeError("sim_advance is for the virtual clock; a wall-clock tagger follows time")
        with self._lock:
            self._check_open()
            self._advance_to(self._t_dispatch + d)

    def sim_expected_rate_hz(self, channel: int) -> float:
        """Mean event rate at the input of ``channel`` before dead time and divider (Hz)."""
        c = self._rising(channel)
        with self._lock:
            if self._test_signal[c]:
                return PS_PER_S / self._spec.test_signal_period_ps
            src = self._source_of.get(c)
            return 0.0 if src is None else src.expected_rate_hz(c)

    def sim_unplug(self, silent: bool = False) -> None:
        """Simulate a lost USB/network link: the stream stops and calls to the device raise.

        ``silent=True``: the stream stops but nothing raises (a hung link): waits time out.
        """
        with self._cond:
            self._unplugged = True
            self._silent_failure = bool(silent)
            self._cond.notify_all()

    def sim_replug(self) -> None:
        """End :meth:`sim_unplug`: the stream goes on from the present."""
        with self._cond:
            self._unplugged = False
            if self._clock == "wall":
                self._skip_to(self._wall_now_ps())
            self._cond.notify_all()

    @property
    def sim_spec(self) -> ModelSpec:
        return self._spec

    # ------------------------------------------------------------------ used by measurements
    def _register(self, meas) -> None:
        with self._lock:
            self._check_open()
            self._measurements.add(meas)

    def _validate_channel(self, channel, what: str) -> int:
        c = int(channel)
        if _virtual.is_virtual(self, c):
            return c
        if c == 0 or abs(c) > self._spec.n_inputs:
            raise ValueError(f"{what}: channel {channel} does not exist on the {self._spec.model} "
                             f"(inputs ±1..±{self._spec.n_inputs})")
        return c

    def _now_for_start(self) -> int:
        """Stream time at which a measurement started now begins (the stream brought up to date)."""
        if self._clock == "wall":
            self._advance_to(self._wall_now_ps())
        return self._t_dispatch

    def _wait(self, meas, timeout_ms) -> bool:
        """Block until ``meas`` stops (``startFor`` ended) or the timeout (ms, -1 = none) elapses."""
        timeout_ms = float(timeout_ms)
        with self._cond:
            self._check_open()
            if not meas._running:
                return True
            if self._clock == "virtual":
                if meas._stop_at is None:
                    if timeout_ms < 0:
                        raise RuntimeError(
                            "waitUntilFinished() without timeout on a measurement that never ends "
                            "(not started with startFor): on the virtual clock this would hang forever")
                    self._advance_to(self._t_dispatch + int(timeout_ms * 1e9))
                    return False
                if timeout_ms >= 0 and meas._stop_at - self._t_dispatch > timeout_ms * 1e9:
                    self._advance_to(self._t_dispatch + int(timeout_ms * 1e9))
                    return False
                self._advance_to(meas._stop_at)
                return not meas._running
            deadline = None if timeout_ms < 0 else time.monotonic() + timeout_ms / 1e3
            self._cond.notify_all()  # wake the engine: it schedules its next step on the new stop time
            while meas._running:
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return False
                self._cond.wait(remaining if remaining is not None else 1.0)
                self._check_open()
            return True

    # ------------------------------------------------------------------ engine
    def _wall_now_ps(self) -> int:
        return int((time.perf_counter() - self._wall_origin) * PS_PER_S)

    def _run_wall_clock(self) -> None:
        with self._cond:
            while not self._closed:
                try:
                    self._advance_to(self._wall_now_ps())
                except Exception:  # never let the engine thread die silently
                    logger.exception("simulated Time Tagger engine failed")
                wait = WALL_TICK_S
                if not self._unplugged:
                    next_stop = min((m._stop_at for m in self._measurements
                                     if m._running and m._stop_at is not None), default=None)
                    if next_stop is not None:
                        wait = min(wait, (next_stop - self._wall_now_ps()) / PS_PER_S)
                if COARSE_TIMER_S and wait < COARSE_TIMER_S:
                    self._cond.wait(0)  # a coarse timed wait would overshoot the window's end: yield only
                else:
                    # always give the lock away for a moment: API calls wait on it
                    self._cond.wait(max(wait - COARSE_TIMER_S, MIN_WALL_WAIT_S))

    def _guard_ps(self) -> int:
        """How far generated pulses can move earlier (jitter, negative delay): release lags this much."""
        sig = self._spec.jitter_rms_ps
        for src in self._sources:
            for c in src.channels:
                sig = max(sig, math.hypot(src.channel_jitter_ps(c), self._spec.jitter_rms_ps))
        sig = max(sig, self._spec.test_signal_jitter_ps)
        neg = max(0, -min(self._delay.values()))
        return int(math.ceil(JITTER_TRUNCATION_SIGMA * sig)) + neg + 1

    def _active_channels(self) -> frozenset[int]:
        chans = set()
        for m in self._measurements:
            if m._running:
                chans.update(m._channels_in_use())
        return _virtual.expand(self, chans)

    def _advance_to(self, target: int) -> None:
        """Process the stream until every tag before ``target`` (ps) has reached the measurements."""
        while self._t_dispatch < target and not self._unplugged:
            active = self._active_channels()
            if not active:
                # nothing listens: time passes, nothing is transferred, sources restart fresh later
                self._skip_to(target)
                break
            rate = sum(self.sim_expected_rate_hz(abs(c)) for c in active
                       if abs(c) <= self._spec.n_inputs) + 1.0
            chunk = int(min(MAX_CHUNK_PS, max(MIN_CHUNK_PS, TARGET_TAGS_PER_CHUNK / rate * PS_PER_S)))
            self._step(min(target, self._t_dispatch + chunk), active)
            if self._clock == "wall" and self._t_dispatch < target:
                # let API calls in between the chunks of a long catch-up
                self._cond.notify_all()
                self._cond.wait(0)

    def _skip_to(self, target: int) -> None:
        """Let time pass without tags (idle, or after a disconnection); sources restart fresh."""
        if target <= self._t_dispatch:
            return
        self._t_dispatch = target
        self._t_gen = target
        self._active = frozenset()
        self._pending.clear()
        for src in self._sources:
            src.reset()

    def _step(self, new_dispatch: int, active_all: frozenset[int]) -> None:
        active = frozenset(c for c in active_all if abs(c) <= self._spec.n_inputs)  # physical inputs
        guard = self._guard_ps()
        if not self._active:
            self._t_gen = self._t_dispatch  # waking up from idle: generate from now on
        self._active = active
        new_gen = max(self._t_gen, new_dispatch + guard)
        if new_gen > self._t_gen:
            self._generate(self._t_gen, new_gen, active)
            self._t_gen = new_gen
        t0 = self._t_dispatch
        released = {}
        for c in active:
            pend = self._pending.get(c)
            if pend is None or pend.size == 0:
                released[c] = np.empty(0, dtype=np.int64)
                continue
            cut = np.searchsorted(pend, new_dispatch, side="left")
            out, self._pending[c] = pend[:cut], pend[cut:]
            if out.size and out[0] < t0:  # a delay change moved tags into the past: lost
                out = out[np.searchsorted(out, t0, side="left"):]
            released[c] = self._dead_time(c, out)
        _virtual.conditional_filter(self, released)
        for c in active:
            released[c] = self._divide(c, released[c])
        lost_from = self._limit_rate(released, t0, new_dispatch)
        for c in active_all - active:
            released[c] = np.empty(0, dtype=np.int64)
        _virtual.compute(self, released, t0, new_dispatch, lost_from)
        self._t_dispatch = new_dispatch
        for m in list(self._measurements):
            if m._running:
                m._feed(released, t0, new_dispatch, lost_from)
        self._cond.notify_all()

    def _generate(self, t0: int, t1: int, active: frozenset[int]) -> None:
        duration = t1 - t0
        rising_needed = {abs(c) for c in active}
        new: dict[int, list[np.ndarray]] = {}
        for c in rising_needed:
            if self._test_signal[c]:
                self._generate_test_signal(c, t0, t1, active, new)
        sources = {id(self._source_of[c]): self._source_of[c] for c in rising_needed
                   if c in self._source_of and not self._test_signal[c]}
        for src in sources.values():
            pulses = src.generate(self._rng, duration)
            for c, t in pulses.items():
                if c not in rising_needed or self._test_signal[c] or t.size == 0:
                    continue
                level = self._trigger[c]
                if not 0.0 < level < src.pulse_height_v:
                    continue  # threshold above the pulses (or on the wrong side): nothing is seen
                sigma = math.hypot(src.channel_jitter_ps(c), self._spec.jitter_rms_ps)
                for signed, offset in ((c, 0.0), (-c, src.pulse_width_for(c))):
                    if signed in active:
                        new.setdefault(signed, []).append(
                            self._to_tags(t, t0, sigma, self._delay[signed], offset))
        for c, parts in new.items():
            pend = self._pending.get(c)
            if pend is not None and pend.size:
                parts = [pend] + parts
            merged = np.concatenate(parts) if len(parts) > 1 else parts[0]
            self._pending[c] = np.sort(merged, kind="stable")

    def _generate_test_signal(self, c, t0, t1, active, new) -> None:
        period = self._spec.test_signal_period_ps
        sigma = self._spec.test_signal_jitter_ps
        for signed, offset in ((c, 0), (-c, period // 2)):
            if signed not in active:
                continue
            phase = self._ts_skew[c] + offset
            k0 = -((phase - t0) // period)  # ceil((t0 - phase) / period)
            k1 = -((phase - t1) // period)
            if k1 <= k0:
                continue
            edges = (np.arange(k0, k1, dtype=np.int64) * period + phase - t0).astype(float)
            new.setdefault(signed, []).append(self._to_tags(edges, t0, sigma, self._delay[signed]))

    def _to_tags(self, rel: np.ndarray, t0: int, sigma: float, delay: int, offset: float = 0.0) -> np.ndarray:
        """Offset, jitter, delay and round relative float times into absolute int64 tags (sorted)."""
        if sigma > 0:
            noise = self._rng.standard_normal(rel.size)
            tags = kernels.jitter_to_tags(rel, offset, noise, JITTER_TRUNCATION_SIGMA, sigma, t0 + delay)
            tags.sort(kind="stable")
            return tags
        return kernels.round_to_tags(rel, offset, t0 + delay)

    def _postprocess(self, c: int, tags: np.ndarray) -> np.ndarray:
        """Tagger dead time and event divider of input ``c`` on released tags."""
        return self._divide(c, self._dead_time(c, tags))

    def _dead_time(self, c: int, tags: np.ndarray) -> np.ndarray:
        if tags.size == 0:
            return tags
        tags, self._last_kept[c] = apply_dead_time(tags, self._deadtime[c],
                                                   self._last_kept.get(c, -math.inf))
        return tags

    def _divide(self, c: int, tags: np.ndarray) -> np.ndarray:
        if tags.size == 0:
            return tags
        div = self._divider.get(abs(c), 1)
        if div > 1 and c > 0:
            start = self._div_count.get(c, 0)
            idx = np.arange(start, start + tags.size)
            self._div_count[c] = (start + tags.size) % div
            tags = tags[idx % div == 0]
        return tags

    def _limit_rate(self, released: dict[int, np.ndarray], t0: int, t1: int) -> int | None:
        """Drop what exceeds the transfer rate: the end of an over-full chunk is lost, one overflow.

        Returns where the overflow interval of this chunk begins (it lasts to ``t1``), None if none.
        """
        self._dropped = {}  # the tags this chunk lost, per channel (TimeTagStream counts them as missed events)
        total = sum(a.size for a in released.values())
        # the transfer rate is sustained over at least MIN_CHUNK_PS (the device buffers): a sliver of a chunk at
        # the end of an advance (a few ps) would otherwise allow 0 tags and count a spurious overflow
        allowed = int(self._spec.max_tag_rate_hz * max(t1 - t0, MIN_CHUNK_PS) / PS_PER_S)
        if total <= allowed or total == 0:
            return None
        merged = np.sort(np.concatenate([a for a in released.values() if a.size]))
        cut = merged[allowed]
        for c, a in released.items():
            keep = np.searchsorted(a, cut, side="left")
            released[c], self._dropped[c] = a[:keep], a[keep:]
        self._overflows += 1
        return int(cut)

    # ------------------------------------------------------------------ helpers
    def _all_channels(self):
        n = self._spec.n_inputs
        return [c for c in range(-n, n + 1) if c != 0]

    def _rising(self, channel) -> int:
        c = abs(int(channel))
        if not 1 <= c <= self._spec.n_inputs:
            raise ValueError(f"channel {channel} does not exist on the {self._spec.model} "
                             f"(inputs 1..{self._spec.n_inputs})")
        return c

    def _channel(self, channel) -> int:
        self._rising(channel)
        return int(channel)

    def _round_trigger(self, v: float) -> float:
        step = self._spec.trigger_step_v
        return round(round(v / step) * step, 6)

    def _disconnect(self, src: Source) -> None:
        self._sources = [s for s in self._sources if s is not src]
        for c in src.channels:
            if self._source_of.get(c) is src:
                del self._source_of[c]

    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError(f"the Time Tagger {self._spec.serial} has been freed")
        if self._unplugged and not self._silent_failure:
            raise RuntimeError(f"Time Tagger {self._spec.serial} disconnected (simulated): "
                               f"no answer from the device")

    def _close(self) -> None:
        with self._cond:
            self._closed = True
            for m in list(self._measurements):
                m._running = False
            self._cond.notify_all()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=2.0)

    def __repr__(self):
        return (f"<SimTimeTagger {self._spec.model} serial={self._spec.serial} "
                f"clock={self._clock}{' freed' if self._closed else ''}>")


def _as_int(value, name: str) -> int:
    """Vendor-like integer argument: integral floats are accepted, anything else raises TypeError."""
    if isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be an integer, got {value!r}")
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)) and math.isfinite(value) and float(value).is_integer():
        return int(value)
    raise TypeError(f"{name} must be an integer number of ps, got {value!r}")
