"""A source that sends given pulse times (ps from the stream's start) on each of its channels: for marker tests."""
from dataclasses import dataclass, field

import numpy as np

from pymodaq_plugins_timetagger.hardware.simulator.sources import Source


@dataclass
class Scheduled(Source):
    """``times``: channel -> pulse times in ps, from the moment the stream first runs (each sent once)."""

    times: dict = field(default_factory=dict)
    _t: float = field(default=0.0, init=False, repr=False)

    def _signal(self, rng, duration_ps):
        out = {}
        for c, t in self.times.items():
            t = np.sort(np.asarray(t, dtype=float))
            out[c] = t[(t >= self._t) & (t < self._t + duration_ps)] - self._t
        self._t += duration_ps
        return out

    def expected_rate_hz(self, channel):
        return 1e3
