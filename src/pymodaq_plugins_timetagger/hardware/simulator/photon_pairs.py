"""Photon-pair sources of the simulator: an SPDC pair source and a Hong-Ou-Mandel (two-photon interference) set-up.

The physics is written out, with its sources, in docs/coincidences.rst. Both emit pairs at Poisson times (a
continuous-wave pumped SPDC crystal: pairs are independent, so multi-pair events and accidentals come out by
themselves); each photon of a pair is detected or lost independently (the efficiency of its arm: the heralding
efficiency of the other arm's detections, Klyshko 1980); the detectors add their dark counts, jitter and dead time
(:class:`.sources.Source`).

``SpdcPairSource``
    signal photon on ``channels[0]``, idler on ``channels[1]`` at the same instant up to a Gaussian spread of
    RMS ``coherence_time_ps`` (the biphoton's correlation time) and a fixed ``idler_delay_ps``.
``HongOuMandel``
    the two photons of each pair enter a 50:50 beam splitter through its two input ports, the second one delayed
    by ``delay_ps`` (the optical delay, set by a delay stage); detectors on the two output ports (``channels``).
    A pair leaves through different ports (a coincidence) with probability
    ``P_c(τ) = ½·[1 − V·exp(−(τ/τ_c)²)]``, τ = ``delay_ps − zero_delay_ps``, V = ``indistinguishability``
    (the mode overlap ``|⟨ψ1|ψ2⟩|²``, Hong, Ou and Mandel 1987; the Gaussian dip of a Gaussian spectrum, τ_c =
    ``coherence_time_ps`` its 1/e half-width); otherwise both photons leave through the same port, the same
    detector, where the pair makes at most one click (its two photons arrive within a few ps, well inside a
    detector's dead time).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .sources import PS_PER_S, Source, poisson_arrivals


def _check_efficiency(name, value):
    if not 0.0 < value <= 1.0:
        raise ValueError(f"{name} must be in (0, 1], got {value}")


@dataclass
class SpdcPairSource(Source):
    """CW SPDC: ``pair_rate_hz`` pairs per second; signal on ``channels[0]``, idler on ``channels[1]``.

    ``efficiency_signal`` / ``efficiency_idler``: probability that the photon of that arm is detected (the
    heralding efficiency measured on the *other* arm: η_i = C/S_s, η_s = C/S_i without darks and accidentals).
    """

    pair_rate_hz: float = 1e6
    efficiency_signal: float = 0.2
    efficiency_idler: float = 0.2
    coherence_time_ps: float = 1.0
    idler_delay_ps: float = 0.0

    def __post_init__(self):
        super().__post_init__()
        if len(self.channels) != 2:
            raise ValueError(f"{type(self).__name__} needs two detector channels, got {self.channels!r}")
        if self.pair_rate_hz < 0 or self.coherence_time_ps < 0:
            raise ValueError(f"{type(self).__name__}: pair_rate_hz and coherence_time_ps must be >= 0")
        _check_efficiency("efficiency_signal", self.efficiency_signal)
        _check_efficiency("efficiency_idler", self.efficiency_idler)

    # --- truth, for tests and the demo -----------------------------------------------------------------------
    def singles_hz(self) -> tuple[float, float]:
        """Expected singles (signal, idler) before dead time, Hz."""
        return (self.pair_rate_hz * self.efficiency_signal + self.dark_count_hz,
                self.pair_rate_hz * self.efficiency_idler + self.dark_count_hz)

    def true_coincidences_hz(self) -> float:
        """Rate of pairs with both photons detected, Hz."""
        return self.pair_rate_hz * self.efficiency_signal * self.efficiency_idler

    def expected_car(self, window_ps: float) -> float:
        """Coincidence-to-accidental ratio (true / accidental) for a 2-fold window of ``window_ps``."""
        s1, s2 = self.singles_hz()
        return self.true_coincidences_hz() / (2 * window_ps / PS_PER_S * s1 * s2)

    def expected_rate_hz(self, channel: int) -> float:
        return self.singles_hz()[self.channels.index(channel)]

    # --- generation ----------------------------------------------------------------------------------------
    def _pairs(self, rng, duration_ps):
        t = poisson_arrivals(rng, self.pair_rate_hz, duration_ps)
        spread = rng.standard_normal(t.size) * self.coherence_time_ps if self.coherence_time_ps else 0.0
        return t, t + spread

    def _signal(self, rng, duration_ps):
        ts, ti = self._pairs(rng, duration_ps)
        ti = ti + self.idler_delay_ps
        keep_s = rng.random(ts.size) < self.efficiency_signal
        keep_i = rng.random(ts.size) < self.efficiency_idler
        a, b = self.channels
        return {a: ts[keep_s], b: np.sort(ti[keep_i], kind="stable")}


@dataclass
class HongOuMandel(SpdcPairSource):
    """Pairs on a 50:50 beam splitter, the second photon delayed by ``delay_ps``; detectors on both outputs.

    ``efficiency_signal`` / ``efficiency_idler`` are here the detection efficiencies of the detectors on output
    ports 1 (``channels[0]``) and 2 (``channels[1]``). ``delay_ps`` is what a delay stage moves (the simulated
    delay stage plugin sets it).
    """

    indistinguishability: float = 0.95
    delay_ps: float = 0.0
    zero_delay_ps: float = 0.0

    def __post_init__(self):
        super().__post_init__()
        if not 0.0 <= self.indistinguishability <= 1.0:
            raise ValueError(f"indistinguishability must be in [0, 1], got {self.indistinguishability}")
        if self.coherence_time_ps <= 0:
            raise ValueError("HongOuMandel: coherence_time_ps must be > 0 (the width of the dip)")

    def coincidence_probability(self, delay_ps) -> np.ndarray:
        """P_c(τ): probability that the two photons of a pair leave through different ports."""
        tau = (np.asarray(delay_ps, dtype=float) - self.zero_delay_ps) / self.coherence_time_ps
        return 0.5 * (1.0 - self.indistinguishability * np.exp(-tau ** 2))

    def true_coincidences_hz(self, delay_ps: float | None = None) -> float:
        d = self.delay_ps if delay_ps is None else delay_ps
        return float(self.pair_rate_hz * self.efficiency_signal * self.efficiency_idler
                     * self.coincidence_probability(d))

    def singles_hz(self, delay_ps: float | None = None) -> tuple[float, float]:
        d = self.delay_ps if delay_ps is None else delay_ps
        pc = float(self.coincidence_probability(d))
        out = []
        for eta in (self.efficiency_signal, self.efficiency_idler):
            both = 1.0 - (1.0 - eta) ** 2     # two photons on one detector: one click at most
            out.append(self.pair_rate_hz * (pc * eta + 0.5 * (1.0 - pc) * both) + self.dark_count_hz)
        return out[0], out[1]

    def _signal(self, rng, duration_ps):
        t1, t2 = self._pairs(rng, duration_ps)
        delay = float(self.delay_ps)   # read once: the stage may move while a chunk is generated
        t2 = t2 + delay
        n = t1.size
        pc = float(self.coincidence_probability(delay))
        split = rng.random(n) < pc                     # one photon per output port
        first_to_a = rng.random(n) < 0.5               # which photon takes port 1 / which port both take
        eta_a, eta_b = self.efficiency_signal, self.efficiency_idler
        # split pairs: port 1 gets photon 1 or 2 (50:50), port 2 the other
        a_time = np.where(first_to_a, t1, t2)
        b_time = np.where(first_to_a, t2, t1)
        det_a = split & (rng.random(n) < eta_a)
        det_b = split & (rng.random(n) < eta_b)
        # bunched pairs: both photons on one detector, detected if either is (one click, at the first detected)
        u1, u2 = rng.random(n), rng.random(n)
        on_a = ~split & first_to_a
        on_b = ~split & ~first_to_a
        ta = self._bunched(t1, t2, u1 < eta_a, u2 < eta_a)
        tb = self._bunched(t1, t2, u1 < eta_b, u2 < eta_b)
        hit_a = on_a & ((u1 < eta_a) | (u2 < eta_a))
        hit_b = on_b & ((u1 < eta_b) | (u2 < eta_b))
        a, b = self.channels
        out_a = np.concatenate((a_time[det_a], ta[hit_a]))
        out_b = np.concatenate((b_time[det_b], tb[hit_b]))
        return {a: np.sort(out_a, kind="stable"), b: np.sort(out_b, kind="stable")}

    @staticmethod
    def _bunched(t1, t2, d1, d2):
        """Click time of a detector receiving both photons: the earlier of those detected."""
        big = math.inf
        return np.minimum(np.where(d1, t1, big), np.where(d2, t2, big))


def pairs_scene() -> list[Source]:
    """``sim:pairs``: an SPDC source on inputs 1 (signal) and 2 (idler), SNSPD-like detectors.

    1 M pairs/s, 20 % and 25 % efficiency: singles ≈ 200 and 250 kcps, true coincidences 50 kcps; 40 ps RMS
    jitter, 300 Hz dark counts, 20 ns dead time. Inputs 3 and 4: independent Poisson light (100 kcps each) for
    3- and 4-fold accidentals.
    """
    from .sources import PoissonSource
    return [SpdcPairSource(channels=(1, 2), pair_rate_hz=1e6, efficiency_signal=0.2, efficiency_idler=0.25,
                           coherence_time_ps=1.0, dark_count_hz=300.0, jitter_ps=40.0, dead_time_ps=20_000.0),
            PoissonSource(channels=(3, 4), rate_hz=1e5, dark_count_hz=100.0, jitter_ps=40.0)]


def hom_scene() -> list[Source]:
    """``sim:hom``: a HOM set-up on inputs 1 and 2 (V = 0.92, τ_c = 1.5 ps), its delay moved by the simulated
    delay stage; 1 M pairs/s, 20 % detection efficiency each, SNSPD-like detectors."""
    return [HongOuMandel(channels=(1, 2), pair_rate_hz=1e6, efficiency_signal=0.2, efficiency_idler=0.2,
                         coherence_time_ps=1.5, indistinguishability=0.92, dark_count_hz=300.0,
                         jitter_ps=40.0, dead_time_ps=20_000.0)]




def hom_source(tagger) -> HongOuMandel:
    """The HOM set-up connected to a simulated ``tagger``; RuntimeError naming the fix if there is none."""
    for src in tagger.sim_sources():
        if isinstance(src, HongOuMandel):
            return src
    raise RuntimeError("no Hong-Ou-Mandel set-up on this simulated Time Tagger: open it as 'sim:hom'")
