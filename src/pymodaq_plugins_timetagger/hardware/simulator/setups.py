"""Simulated set-ups that send markers: a raster scanner over a sample, and a pulse sequencer reading out a spin.

Both are :class:`~.sources.Source` objects; the addresses ``sim:confocal`` and ``sim:pulsed`` (any model:
``sim:x:confocal``) open a simulated tagger with :func:`confocal_scene` or :func:`pulsed_scene`. The physics and
the marker timing are written down in docs/imaging.rst. Times in ps, rates in Hz, lengths in µm.

``RasterScanner``
    a stage or galvo scanner stepping over ``n_x`` × ``n_y`` pixels, ``dwell_ps`` each, line by line (optionally
    serpentine), frame after frame; it sends a pixel gate (rising edge at the pixel's start, falling edge
    ``MARKER_GAP_PS`` before its end), a line marker and a frame marker ``MARKER_DELAY_PS`` after the first
    pixel's start of each line and frame. The sample is point emitters seen through a Gaussian PSF over a uniform
    background; photons are Poisson with the rate of the pixel the scanner is on (background only during flybacks).
``RabiSequencer``
    a pulse sequence of ``n_steps`` steps (microwave pulse of k·``tau_step_ps``, then a laser readout), repeated:
    a sync marker at each sequence start, a next marker at each step start (and at the sequence's end), a start
    marker when the laser turns on. During the readout the spin's fluorescence is
    ``rate_hz`` · (1 − C·P₁(τ)·exp(−t/τ_pol)), with the Rabi population P₁(τ) = sin²(π τ / T_Rabi).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from .photon_pairs import hom_scene, pairs_scene
from .sources import PS_PER_S, Source, merge_sorted, poisson_arrivals

#: the pixel gate goes low this long before the pixel ends, so a gate's end and the next gate's start never share a
#: time stamp (chosen; a real scanner's pixel clock has such a gap too)
MARKER_GAP_PS = 100_000
#: line and frame markers come this long after the start of their first pixel, inside its gate (chosen: well beyond
#: the input jitter, so the order of the tags is certain; on a real set-up an input delay does it)
MARKER_DELAY_PS = 10_000
#: width of the line, frame, sync, next and start marker pulses (chosen: a TTL pulse)
MARKER_WIDTH_PS = 50_000


@dataclass(frozen=True)
class Emitter:
    """A point emitter of the sample: position (µm), count rate at the PSF's centre (Hz, per detector)."""

    x_um: float
    y_um: float
    peak_rate_hz: float


@dataclass
class RasterScanner(Source):
    """A raster scanner over a sample of point emitters; ``channels`` = (detector..., pixel, line, frame).

    ``start_phase``: where in the frame sequence the scanner is when the stream starts (or restarts after an idle
    time): 0.0 a frame begins (a scanner started with the acquisition), a fraction of the frame period, or None:
    at random (a free-running scanner). ``drop_pixels`` / ``extra_pixels``: ordinals (since the start, over
    frames) of pixels whose gate is not sent / that get a second gate pulse in their middle (to test that missing
    and extra markers are caught).
    """

    n_x: int = 100
    n_y: int = 100
    pixel_um: float = 0.1
    dwell_ps: int = 1_000_000_000
    line_flyback_ps: int = 1_000_000_000
    frame_flyback_ps: int = 10_000_000_000
    serpentine: bool = False
    emitters: tuple = ()
    psf_sigma_um: float = 0.15
    background_hz: float = 5e3
    start_phase: float | None = 0.0
    drop_pixels: tuple = ()
    extra_pixels: tuple = ()
    _t: float | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self):
        super().__post_init__()
        if len(self.channels) < 4:
            raise ValueError(f"RasterScanner: channels are (detector..., pixel, line, frame), got {self.channels!r}")
        if self.n_x < 1 or self.n_y < 1:
            raise ValueError("RasterScanner: n_x and n_y must be >= 1")
        if self.dwell_ps <= 2 * MARKER_GAP_PS:
            raise ValueError(f"RasterScanner: dwell_ps must be > {2 * MARKER_GAP_PS} ps")
        if self.line_flyback_ps < 0 or self.frame_flyback_ps < 0 or self.background_hz < 0:
            raise ValueError("RasterScanner: flyback times and background_hz must be >= 0")
        self._rates = self.rate_map_hz()

    # --- the sample and the scan, for tests, the demo and the docs ------------------------------------------
    @property
    def detector_channels(self):
        return self.channels[:-3]

    @property
    def marker_channels(self) -> tuple[int, int, int]:
        """(pixel, line, frame)."""
        return tuple(self.channels[-3:])

    @property
    def line_period_ps(self) -> int:
        return self.n_x * self.dwell_ps + self.line_flyback_ps

    @property
    def frame_period_ps(self) -> int:
        return self.n_y * self.line_period_ps + self.frame_flyback_ps

    @property
    def gate_ps(self) -> int:
        """How long the pixel gate is high (begin to end marker)."""
        return self.dwell_ps - MARKER_GAP_PS

    def pixel_centre_um(self, i, j):
        """Sample coordinates of pixel column ``i``, line ``j`` (as stored in the image: x grows with i)."""
        return (np.asarray(i) + 0.5) * self.pixel_um, (np.asarray(j) + 0.5) * self.pixel_um

    def rate_map_hz(self) -> np.ndarray:
        """True count rate per detector at each pixel (n_y × n_x): background + Σ peak·exp(−r²/2σ²)."""
        x, y = self.pixel_centre_um(np.arange(self.n_x)[None, :], np.arange(self.n_y)[:, None])
        rate = np.full((self.n_y, self.n_x), float(self.background_hz))
        for e in self.emitters:
            rate += e.peak_rate_hz * np.exp(-((x - e.x_um) ** 2 + (y - e.y_um) ** 2) / (2 * self.psf_sigma_um ** 2))
        return rate

    def expected_rate_hz(self, channel: int) -> float:
        if channel in self.detector_channels:
            return float(self._rates.mean()) + self.dark_count_hz
        if channel == self.channels[-3]:
            return PS_PER_S / self.dwell_ps
        return PS_PER_S / (self.line_period_ps if channel == self.channels[-2] else self.frame_period_ps)

    def pulse_width_for(self, channel: int) -> float:
        if channel == self.channels[-3]:
            return float(self.gate_ps)
        return MARKER_WIDTH_PS if channel in self.marker_channels else self.pulse_width_ps

    def reset(self):
        super().reset()
        self._t = None

    # --- generation -------------------------------------------------------------------------------------------
    def _signal(self, rng, duration_ps):
        if self._t is None:
            phase = rng.random() if self.start_phase is None else float(self.start_phase)
            self._t = phase * self.frame_period_ps
        t0, t1 = self._t, self._t + duration_ps
        self._t = t1
        nx, ny, dwell, line_p, frame_p = self.n_x, self.n_y, self.dwell_ps, self.line_period_ps, self.frame_period_ps
        # every pixel whose start lies in [t0, t1) (markers), and every pixel overlapping it (photons)
        f0, f1 = int(t0 // frame_p), int(t1 // frame_p)
        frames = np.arange(f0, f1 + 1)
        j = np.arange(ny)
        i = np.arange(nx)
        starts = (frames[:, None, None] * frame_p + j[None, :, None] * line_p + i[None, None, :] * dwell).ravel()
        ordinal = (frames[:, None, None] * (nx * ny) + j[None, :, None] * nx + i[None, None, :]).ravel()
        overlap = (starts < t1) & (starts + dwell > t0)
        starts, ordinal = starts[overlap], ordinal[overlap]
        pix, line, frame = self.marker_channels
        first = (starts >= t0)
        px = starts[first]
        keep = ~np.isin(ordinal[first], self.drop_pixels) if self.drop_pixels else slice(None)
        extra = px[np.isin(ordinal[first], self.extra_pixels)] + dwell / 2 if self.extra_pixels else np.empty(0)
        in_frame = ordinal[first] % (nx * ny)
        out = {pix: merge_sorted([px[keep], extra]) - t0,
               line: px[in_frame % nx == 0] + MARKER_DELAY_PS - t0,
               frame: px[in_frame == 0] + MARKER_DELAY_PS - t0}
        # photons: Poisson at the pixel's rate while the scanner is on it, the background in between
        pos = ordinal % (nx * ny)
        jj, ii = pos // nx, pos % nx
        if self.serpentine:
            ii = np.where(jj % 2 == 1, nx - 1 - ii, ii)
        lo, hi = np.maximum(starts, t0), np.minimum(starts + dwell, t1)
        extra_rate = self._rates[jj, ii] - self.background_hz
        for ch in self.detector_channels:
            n = rng.poisson(extra_rate * (hi - lo) / PS_PER_S)
            ph = np.repeat(lo, n) + rng.random(int(n.sum())) * np.repeat(hi - lo, n) - t0
            out[ch] = merge_sorted([np.sort(ph), poisson_arrivals(rng, self.background_hz, duration_ps)])
        return out


@dataclass
class RabiSequencer(Source):
    """A pulsed spin readout; ``channels`` = (detector, start (laser on), next (step), sync (sequence)).

    Step k (0 ≤ k < ``n_steps``) lasts ``step_ps``: a next marker at its start, a microwave pulse of
    τ_k = k·``tau_step_ps``, then at ``laser_delay_ps`` the laser readout of ``readout_ps`` (start marker). One more
    next marker ends the sequence (``TimeDifferences`` counts it as the rollover: a whole sweep), and the sync marker
    comes ``MARKER_DELAY_PS`` before each sequence's first next marker. The spin starts each step in
    m_s = 0 (repolarised by the previous readout); after the pulse it is in m_s = ±1 with probability
    P₁ = sin²(π τ / ``rabi_period_ps``); its fluorescence during the readout is ``rate_hz`` · (1 − ``contrast`` ·
    P₁ · exp(−t/``polarisation_ps``)) (t from the laser's start), plus ``background_hz`` at all times.
    """

    n_steps: int = 50
    tau_step_ps: int = 20_000
    rabi_period_ps: float = 400_000.0
    laser_delay_ps: int = 1_200_000
    readout_ps: int = 3_000_000
    step_ps: int = 5_000_000
    rate_hz: float = 2e6
    contrast: float = 0.3
    polarisation_ps: float = 250_000.0
    background_hz: float = 2e3
    _t: float | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self):
        super().__post_init__()
        if len(self.channels) != 4:
            raise ValueError(f"RabiSequencer: channels are (detector, start, next, sync), got {self.channels!r}")
        if (self.n_steps - 1) * self.tau_step_ps > self.laser_delay_ps:
            raise ValueError("RabiSequencer: the longest microwave pulse must end before the laser readout")
        if self.laser_delay_ps + self.readout_ps >= self.step_ps:
            raise ValueError("RabiSequencer: the readout must end within the step")
        if not 0 <= self.contrast <= 1:
            raise ValueError("RabiSequencer: contrast must be within [0, 1]")

    @property
    def detector_channels(self):
        return (self.channels[0],)

    @property
    def sequence_ps(self) -> int:
        return self.n_steps * self.step_ps + 2 * MARKER_DELAY_PS

    def tau_ps(self) -> np.ndarray:
        return np.arange(self.n_steps) * self.tau_step_ps

    def population(self) -> np.ndarray:
        """P₁ of each step (the Rabi oscillation the readout follows)."""
        return np.sin(math.pi * self.tau_ps() / self.rabi_period_ps) ** 2

    def expected_counts(self, window_ps: float) -> np.ndarray:
        """Mean detected photons per readout in [0, window_ps) after the laser's start, per step."""
        w, tp = float(window_ps), self.polarisation_ps
        signal = self.rate_hz * (w - self.contrast * self.population() * tp * (1 - math.exp(-w / tp))) / PS_PER_S
        return signal + (self.background_hz + self.dark_count_hz) * w / PS_PER_S

    def expected_rate_hz(self, channel: int) -> float:
        if channel == self.channels[0]:
            return self.rate_hz * self.readout_ps / self.step_ps + self.background_hz + self.dark_count_hz
        if channel == self.channels[2]:
            return PS_PER_S * (self.n_steps + 1) / self.sequence_ps
        return PS_PER_S / (self.sequence_ps if channel == self.channels[3] else self.step_ps)

    def pulse_width_for(self, channel: int) -> float:
        return self.pulse_width_ps if channel == self.channels[0] else MARKER_WIDTH_PS

    def reset(self):
        super().reset()
        self._t = None

    def _signal(self, rng, duration_ps):
        if self._t is None:
            self._t = 0.0
        t0, t1 = self._t, self._t + duration_ps
        self._t = t1
        seq = self.sequence_ps
        s0, s1 = int(t0 // seq), int(t1 // seq)
        steps = np.arange(self.n_steps)
        origin = np.arange(s0, s1 + 1)[:, None] * seq + 2 * MARKER_DELAY_PS
        step_start = (origin + steps[None, :] * self.step_ps).ravel()
        step_k = np.tile(steps, s1 - s0 + 1)
        det, start, nxt, sync = self.channels
        sync_t = origin[:, 0] - MARKER_DELAY_PS
        laser = step_start + self.laser_delay_ps

        def inside(t):
            return t[(t >= t0) & (t < t1)] - t0

        # readout photons: Poisson at rate_hz over each readout overlapping the chunk, thinned by the spin's dip
        lo, hi = np.maximum(laser, t0), np.minimum(laser + self.readout_ps, t1)
        ok = hi > lo
        lo, hi, k, la = lo[ok], hi[ok], step_k[ok], laser[ok]
        n = rng.poisson(self.rate_hz * (hi - lo) / PS_PER_S)
        ph = np.repeat(lo, n) + rng.random(int(n.sum())) * np.repeat(hi - lo, n)
        t_in = ph - np.repeat(la, n)
        p_dark = self.contrast * self.population()[np.repeat(k, n)] * np.exp(-t_in / self.polarisation_ps)
        ph = ph[rng.random(ph.size) >= p_dark] - t0
        # a next marker at each step's start and one at the sequence's end: the TimeDifferences rollover
        seq_end = origin[:, 0] + self.n_steps * self.step_ps
        return {det: merge_sorted([np.sort(ph), poisson_arrivals(rng, self.background_hz, duration_ps)]),
                start: inside(laser), nxt: inside(np.sort(np.concatenate((step_start, seq_end)))),
                sync: inside(sync_t)}


# ------------------------------------------------------------------------------------------------ the scenes
#: the emitters of the demo sample: five spots of different brightness on a 10 µm × 10 µm field (chosen)
DEMO_EMITTERS = (Emitter(2.0, 2.5, 300e3), Emitter(7.0, 3.0, 150e3), Emitter(5.0, 5.0, 500e3),
                 Emitter(3.0, 7.5, 100e3), Emitter(7.5, 7.5, 250e3))


def confocal_scene(**scanner) -> list[Source]:
    """``sim:confocal``: two detectors (1, 2) behind a 50/50 splitter, the scanner's pixel gate on 6, line marker on
    7, frame marker on 8; 100 × 100 pixels of 0.1 µm, 1 ms dwell, a 250 nm PSF (σ = 0.15 µm)."""
    kw = dict(channels=(1, 2, 6, 7, 8), emitters=DEMO_EMITTERS, dark_count_hz=100.0, jitter_ps=50.0,
              dead_time_ps=22_000.0)
    kw.update(scanner)
    return [RasterScanner(**kw)]


def pulsed_scene(**sequencer) -> list[Source]:
    """``sim:pulsed``: the spin's detector on 1, the laser's start marker on 2, next on 3, sync on 4."""
    kw = dict(channels=(1, 2, 3, 4), dark_count_hz=100.0, jitter_ps=350.0, dead_time_ps=22_000.0)
    kw.update(sequencer)
    return [RabiSequencer(**kw)]


#: the set-ups an address can name (``sim:<set-up>``, ``sim:<model>:<set-up>``)
#: (photon_pairs.py: the photon pairs and the Hong-Ou-Mandel set-up)
SETUPS = {"confocal": confocal_scene, "pulsed": pulsed_scene, "pairs": pairs_scene, "hom": hom_scene}
