"""Light sources and detectors that feed the inputs of the simulated Time Tagger.

A source produces, for one interval of stream time, the *true* arrival times of the detector pulses on
each input it drives (photon detections, background, dark counts, after the detector's own dead time).
The simulated tagger then adds what happens inside the instrument: Gaussian timing jitter (the
detector's and the input's), the input delay, the tagger's dead time, the trigger threshold, the event
divider and the transfer-rate limit. Sources never see those settings.

All times are in picoseconds, rates in Hz (events per second). A source is connected with
``tagger.sim_set_source(source)``; the channels it drives are its ``channels``.

Sources provided:

``PoissonSource``
    independent Poisson light on each of its channels (attenuated laser, LED, ambient light): g2 = 1.
``SinglePhotonEmitter``
    one quantum emitter under continuous excitation seen through a 50/50 beam splitter by two detectors
    (Hanbury Brown-Twiss): antibunching g2(τ) = 1 − ρ²·exp(−|τ|/τ_eff), τ_eff = 1/(k_exc + 1/τ_life),
    ρ = S/(S+B), B the uncorrelated background and dark counts on each detector.
``PulsedFluorescence``
    a pulsed laser whose electrical sync drives one input and whose fluorescence (exponential decay of
    lifetime τ) is detected on another: the start–stop histogram is exp(−t/τ) ⊗ IRF + flat background.
"""
from __future__ import annotations

import abc
import math
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from . import kernels

PS_PER_S = 1e12


def poisson_arrivals(rng: np.random.Generator, rate_hz: float, duration_ps: float) -> np.ndarray:
    """Sorted arrival times (float ps, in ``[0, duration_ps)``) of a homogeneous Poisson process.

    The count is Poisson distributed; given the count, the times are the order statistics of uniform
    variables, drawn in O(n) as normalised partial sums of exponential variables (no sort needed).
    """
    mean = rate_hz * duration_ps / PS_PER_S
    if mean <= 0.0:
        return np.empty(0)
    n = int(rng.poisson(mean))
    if n == 0:
        return np.empty(0)
    return kernels.arrivals(rng.standard_exponential(n + 1), duration_ps)


def merge_sorted(arrays: Sequence[np.ndarray]) -> np.ndarray:
    """Merge already sorted float arrays into one sorted array (timsort merges sorted runs in O(n))."""
    arrays = [a for a in arrays if a.size]
    if not arrays:
        return np.empty(0)
    if len(arrays) == 1:
        return arrays[0]
    return np.sort(np.concatenate(arrays), kind="stable")


def apply_dead_time(times: np.ndarray, dead_ps: float, last_kept: float) -> tuple[np.ndarray, float]:
    """Non-paralysable dead time: drop every event closer than ``dead_ps`` to the last *kept* event.

    ``times`` is sorted (any numeric dtype). ``last_kept`` is the last kept event before ``times[0]``
    (``-inf`` if none), so the dead time is exact across chunk boundaries. Returns the kept events and
    the new ``last_kept`` (the work is done by ``kernels.dead_time``).
    """
    if times.size == 0 or dead_ps <= 0:
        return times, (float(times[-1]) if times.size else last_kept)
    return kernels.dead_time(times, dead_ps, last_kept)


@dataclass
class Source(abc.ABC):
    """Base class: what every source has. Subclasses implement :meth:`_signal`.

    Detector properties (apply to each detector channel of the source):

    ==================  ==================================================================================
    ``dark_count_hz``   Poisson dark counts added on each detector channel.
    ``jitter_ps``       RMS timing jitter of the detector (added in quadrature to the input's jitter).
    ``dead_time_ps``    the detector's own dead time (a SPAD's is tens of ns), before the tagger's.
    ``pulse_height_v``  amplitude of the electrical pulses: the tagger sees them only while its trigger
                        level lies between 0 and this value.
    ``pulse_width_ps``  time from the rising to the falling edge (falling-edge channels −n).
    ==================  ==================================================================================
    """

    channels: tuple[int, ...]
    dark_count_hz: float = 0.0
    jitter_ps: float = 0.0
    dead_time_ps: float = 0.0
    pulse_height_v: float = 1.0
    pulse_width_ps: float = 10_000.0
    _last_kept: dict = field(default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self):
        self.channels = tuple(int(c) for c in self.channels)
        if not self.channels or any(c <= 0 for c in self.channels):
            raise ValueError(f"{type(self).__name__}: channels must be positive input numbers, "
                             f"got {self.channels!r}")
        if len(set(self.channels)) != len(self.channels):
            raise ValueError(f"{type(self).__name__}: channels repeat: {self.channels!r}")
        for name in ("dark_count_hz", "jitter_ps", "dead_time_ps", "pulse_width_ps"):
            if getattr(self, name) < 0:
                raise ValueError(f"{type(self).__name__}: {name} must be >= 0, got {getattr(self, name)}")

    @property
    def detector_channels(self) -> tuple[int, ...]:
        """Channels fed by a photon detector (dark counts, detector jitter and dead time apply)."""
        return self.channels

    def reset(self) -> None:
        """Forget the state carried between chunks (the tagger calls it when a gap in time occurs)."""
        self._last_kept.clear()

    def generate(self, rng: np.random.Generator, duration_ps: float) -> dict[int, np.ndarray]:
        """True pulse times (float ps from the chunk start, sorted) per channel for the next chunk."""
        out = self._signal(rng, duration_ps)
        for ch in self.detector_channels:
            parts = [out.get(ch, np.empty(0))]
            if self.dark_count_hz > 0:
                parts.append(poisson_arrivals(rng, self.dark_count_hz, duration_ps))
            t = merge_sorted(parts)
            if self.dead_time_ps > 0:
                last = self._last_kept.get(ch, -math.inf)
                t, last = apply_dead_time(t, self.dead_time_ps, last)
                self._last_kept[ch] = last - duration_ps  # relative to the next chunk's start
            out[ch] = t
        return out

    def pulse_width_for(self, channel: int) -> float:
        """Time from the rising to the falling edge of the pulses on ``channel``, ps (``pulse_width_ps``)."""
        return self.pulse_width_ps

    def channel_jitter_ps(self, channel: int) -> float:
        """RMS jitter this source adds on ``channel`` (the detector's)."""
        return self.jitter_ps if channel in self.detector_channels else 0.0

    @abc.abstractmethod
    def _signal(self, rng: np.random.Generator, duration_ps: float) -> dict[int, np.ndarray]:
        """Pulse times of the source itself (float ps from the chunk start, sorted) per channel."""

    @abc.abstractmethod
    def expected_rate_hz(self, channel: int) -> float:
        """Mean rate on ``channel`` before any dead time (signal, background and dark counts)."""


@dataclass
class PoissonSource(Source):
    """Independent Poisson light on every channel, ``rate_hz`` detected photons per second each."""

    rate_hz: float = 100e3

    def __post_init__(self):
        super().__post_init__()
        if self.rate_hz < 0:
            raise ValueError(f"PoissonSource: rate_hz must be >= 0, got {self.rate_hz}")

    def _signal(self, rng, duration_ps):
        return {ch: poisson_arrivals(rng, self.rate_hz, duration_ps) for ch in self.channels}

    def expected_rate_hz(self, channel: int) -> float:
        return self.rate_hz + self.dark_count_hz


@dataclass
class SinglePhotonEmitter(Source):
    """A single quantum emitter, continuously excited, on a 50/50 splitter with two detectors.

    Each emission cycle waits Exp(1/``excitation_rate_hz``) for excitation and Exp(``lifetime_ps``) for
    the emission. A photon is detected with probability ``efficiency`` and goes to either detector with
    probability ½. ``background_hz`` adds uncorrelated Poisson light on each detector (scattered laser,
    other emitters); with the dark counts it sets the g2(0) floor 1 − ρ².

    ``channels`` = (detector A, detector B).
    """

    excitation_rate_hz: float = 50e6
    lifetime_ps: float = 12_000.0
    efficiency: float = 0.02
    background_hz: float = 0.0
    _phase: float | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self):
        super().__post_init__()
        if len(self.channels) != 2:
            raise ValueError(f"SinglePhotonEmitter needs two detector channels, got {self.channels!r}")
        if self.excitation_rate_hz <= 0 or self.lifetime_ps <= 0:
            raise ValueError("SinglePhotonEmitter: excitation_rate_hz and lifetime_ps must be > 0")
        if not 0.0 < self.efficiency <= 1.0:
            raise ValueError(f"SinglePhotonEmitter: efficiency must be in (0, 1], got {self.efficiency}")
        if self.background_hz < 0:
            raise ValueError("SinglePhotonEmitter: background_hz must be >= 0")

    # --- physics, used by tests and the demo --------------------------------------------------------
    @property
    def emission_rate_hz(self) -> float:
        """Photons emitted per second: 1 / (mean excitation wait + lifetime)."""
        return 1.0 / (1.0 / self.excitation_rate_hz + self.lifetime_ps / PS_PER_S)

    @property
    def signal_rate_hz(self) -> float:
        """Detected emitter photons per second on *each* detector (before dead time)."""
        return 0.5 * self.efficiency * self.emission_rate_hz

    @property
    def tau_eff_ps(self) -> float:
        """Antibunching time constant 1/(k_exc + Γ), ps."""
        return 1.0 / (self.excitation_rate_hz / PS_PER_S + 1.0 / self.lifetime_ps)

    def expected_rate_hz(self, channel: int) -> float:
        return self.signal_rate_hz + self.background_hz + self.dark_count_hz

    @property
    def rho(self) -> float:
        """Signal fraction S/(S+B) on each detector."""
        s = self.signal_rate_hz
        return s / (s + self.background_hz + self.dark_count_hz)

    def g2(self, tau_ps) -> np.ndarray:
        """Ideal (no jitter, no binning) cross-correlation g2(τ) between the two detectors."""
        tau = np.abs(np.asarray(tau_ps, dtype=float))
        return 1.0 - self.rho ** 2 * np.exp(-tau / self.tau_eff_ps)

    # --- generation ----------------------------------------------------------------------------------
    def reset(self):
        super().reset()
        self._phase = None

    def _signal(self, rng, duration_ps):
        # Detected photons form a thinned renewal process: the gap between two detections is the sum
        # of G emission cycles, G ~ Geometric(efficiency). A sum of G Exp(a) is Gamma(G, a), so the
        # gap is Gamma(G, 1/k) + Gamma(G, τ): exact, and it costs per *detection*, not per emission.
        k_ps = self.excitation_rate_hz / PS_PER_S
        eta = self.efficiency
        mean_gap = 1.0 / (eta * self.emission_rate_hz / PS_PER_S)
        if self._phase is None:
            # start in the stationary state: time since the last detection ~ its forward recurrence;
            # approximate it by one fresh gap, started at a uniformly random point
            first = self._gaps(rng, 1, k_ps, eta)[0] * rng.random()
        else:
            first = self._phase
        chunks = [np.array([first])]
        total = first
        while total < duration_ps:
            n = int((duration_ps - total) / mean_gap * 1.05) + 16
            g = np.cumsum(self._gaps(rng, n, k_ps, eta)) + total
            chunks.append(g)
            total = g[-1]
        t = np.concatenate(chunks)
        inside = np.searchsorted(t, duration_ps, side="left")
        self._phase = t[inside] - duration_ps  # next detection, relative to the next chunk
        t = t[:inside]
        to_a = rng.random(t.size) < 0.5
        a, b = self.channels
        out = {a: t[to_a], b: t[~to_a]}
        if self.background_hz > 0:
            for ch in self.channels:
                out[ch] = merge_sorted([out[ch], poisson_arrivals(rng, self.background_hz, duration_ps)])
        return out

    def _gaps(self, rng, n, k_ps, eta):
        g = rng.geometric(eta, n).astype(float)
        return rng.gamma(g, 1.0 / k_ps) + rng.gamma(g, self.lifetime_ps)


@dataclass
class PulsedFluorescence(Source):
    """A pulsed laser (sync on ``channels[0]``) exciting fluorescence detected on ``channels[1]``.

    Every ``1/rep_rate_hz`` the laser fires; the sync pulse reaches the tagger with ``sync_jitter_ps``
    RMS. Each pulse yields a Poisson number of detected photons of mean ``photons_per_pulse`` (keep it a
    few % or less, as in a real TCSPC set-up, to avoid pile-up), each delayed by Exp(``lifetime_ps``).
    ``background_hz`` adds uncorrelated photons on the detector. Detector properties (dark counts,
    ``jitter_ps``, dead time) apply to the photon channel only.
    """

    rep_rate_hz: float = 5e6
    lifetime_ps: float = 3_500.0
    photons_per_pulse: float = 0.02
    background_hz: float = 0.0
    sync_jitter_ps: float = 3.0
    _next_pulse: float | None = field(default=None, init=False, repr=False, compare=False)
    _spill: np.ndarray = field(default_factory=lambda: np.empty(0), init=False, repr=False, compare=False)

    def __post_init__(self):
        super().__post_init__()
        if len(self.channels) != 2:
            raise ValueError(f"PulsedFluorescence needs (sync channel, photon channel), got {self.channels!r}")
        if self.rep_rate_hz <= 0 or self.lifetime_ps <= 0 or self.photons_per_pulse < 0:
            raise ValueError("PulsedFluorescence: rep_rate_hz, lifetime_ps must be > 0, "
                             "photons_per_pulse >= 0")

    @property
    def detector_channels(self):
        return (self.channels[1],)

    @property
    def period_ps(self) -> float:
        return PS_PER_S / self.rep_rate_hz

    def expected_rate_hz(self, channel: int) -> float:
        if channel == self.channels[0]:
            return self.rep_rate_hz
        return self.photons_per_pulse * self.rep_rate_hz + self.background_hz + self.dark_count_hz

    def channel_jitter_ps(self, channel: int) -> float:
        if channel == self.channels[0]:
            return self.sync_jitter_ps
        return super().channel_jitter_ps(channel)

    def reset(self):
        super().reset()
        self._next_pulse = None
        self._spill = np.empty(0)

    def _signal(self, rng, duration_ps):
        period = self.period_ps
        if self._next_pulse is None:
            self._next_pulse = rng.random() * period
        n_pulses = max(0, math.ceil((duration_ps - self._next_pulse) / period))
        pulses = self._next_pulse + period * np.arange(n_pulses)
        self._next_pulse = self._next_pulse + n_pulses * period - duration_ps
        sync, photon = self.channels
        n_ph = int(rng.poisson(self.photons_per_pulse * n_pulses)) if n_pulses else 0
        # which pulses emitted: uniform over pulses (Poisson thinning); sorted pulse index then delay
        idx = np.sort(rng.integers(0, n_pulses, n_ph)) if n_ph else np.empty(0, dtype=np.int64)
        ph = pulses[idx] + rng.exponential(self.lifetime_ps, n_ph)
        ph = np.sort(ph, kind="stable")  # decays of neighbouring pulses may overtake each other
        ph = merge_sorted([self._spill, ph])
        cut = np.searchsorted(ph, duration_ps, side="left")
        self._spill = ph[cut:] - duration_ps  # photons of late pulses arrive in the next chunk
        ph = ph[:cut]
        parts = [ph]
        if self.background_hz > 0:
            parts.append(poisson_arrivals(rng, self.background_hz, duration_ps))
        return {sync: pulses, photon: merge_sorted(parts)}

    def decay(self, t_ps) -> np.ndarray:
        """Normalised ideal decay exp(−t/τ) (no IRF), for fits and plots."""
        return np.exp(-np.asarray(t_ps, dtype=float) / self.lifetime_ps)


def default_scene() -> list[Source]:
    """The bench the plain ``sim`` address shows: something to see on channels 1–5.

    * 1, 2: a single emitter (an NV centre like one: τ_life = 12 ns) on an HBT set-up, ~300 kcps per
      detector, 15 kcps background and 300 Hz dark counts: 1 − ρ² = 0.091 (0.107 averaged over a 500 ps bin),
      antibunching τ_eff = 7.5 ns;
    * 3, 4: a 5 MHz pulsed laser sync (3) and dye fluorescence (τ = 3.5 ns) detected on 4, ~100 kcps;
    * 5: Poisson light, 200 kcps;
    * 6 upward: nothing connected (enable the built-in test signal to see a signal there).

    Detectors: 40 ps RMS jitter (SNSPD-like) on 1, 2; 350 ps and 22 ns dead time (SPAD-like) on 4, 5.
    """
    return [
        SinglePhotonEmitter(channels=(1, 2), excitation_rate_hz=50e6, lifetime_ps=12_000.0,
                            efficiency=0.02, background_hz=15e3, dark_count_hz=300.0,
                            jitter_ps=40.0, dead_time_ps=50_000.0),
        PulsedFluorescence(channels=(3, 4), rep_rate_hz=5e6, lifetime_ps=3_500.0,
                           photons_per_pulse=0.02, background_hz=2e3, dark_count_hz=100.0,
                           jitter_ps=350.0, dead_time_ps=22_000.0),
        PoissonSource(channels=(5,), rate_hz=200e3, dark_count_hz=100.0, jitter_ps=350.0,
                      dead_time_ps=22_000.0),
    ]
