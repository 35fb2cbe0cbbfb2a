"""Statistics of coincidence counting: Poisson intervals, n-fold accidentals, accidental-subtracted rates, CAR and
heralding efficiency, each with its uncertainty. Qt-free; the formulas and their sources: docs/coincidences.rst.

Counts are Poisson: a count ``n`` has the standard deviation √n (used for propagation; the same for every count,
however small, so that a zero count does not claim zero uncertainty: σ = 1 is given for n = 0, the width of the
68 % upper limit) and the exact (Garwood 1936) central interval from the χ² quantiles, which holds its nominal
coverage at low counts where √n does not.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats

#: the confidence level of the intervals given with every count (one Gaussian sigma)
CONFIDENCE_LEVEL = 0.6826894921370859
PS_PER_S = 1e12


def poisson_interval(n: int, cl: float = CONFIDENCE_LEVEL) -> tuple[float, float]:
    """Exact (Garwood) central interval of a Poisson mean from an observed count ``n``."""
    if n < 0 or int(n) != n:
        raise ValueError(f"a count must be a non-negative integer, got {n!r}")
    alpha = 1.0 - cl
    lo = 0.0 if n == 0 else 0.5 * stats.chi2.ppf(alpha / 2, 2 * n)
    hi = 0.5 * stats.chi2.ppf(1 - alpha / 2, 2 * n + 2)
    return float(lo), float(hi)


def count_sigma(n: int) -> float:
    """Standard deviation used to propagate a Poisson count: √n, and 1 for n = 0."""
    return math.sqrt(n) if n > 0 else 1.0


def accidental_rate_hz(singles_hz, window_ps: float) -> float:
    """Rate of n-fold accidental coincidences of independent Poisson channels: n·W^(n−1)·ΠS_i.

    (Eckart and Shonka 1938) for a coincidence of n channels whose events span at most W: any of the n channels
    fires first, each of the others within W after it. Valid while S_i·W ≪ 1.
    """
    s = np.asarray(singles_hz, dtype=float)
    n = s.size
    if n < 2:
        raise ValueError("an accidental coincidence needs at least two channels")
    w = window_ps / PS_PER_S
    return float(n * w ** (n - 1) * np.prod(s))


@dataclass(frozen=True)
class GroupStats:
    """One coincidence group over one capture: every value with its one-sigma uncertainty."""

    channels: tuple[int, ...]
    counts: int
    counts_interval: tuple[float, float]   #: exact 68.3 % interval of the mean count
    rate_hz: float
    rate_sigma_hz: float
    accidentals_hz: float
    accidentals_sigma_hz: float
    net_rate_hz: float                     #: accidental-subtracted
    net_rate_sigma_hz: float
    car: float                             #: coincidence-to-accidental ratio (C − A)/A
    car_sigma: float

    @property
    def label(self) -> str:
        return "+".join(str(c) for c in self.channels)


def group_stats(channels, counts: int, singles_counts, duration_s: float, window_ps: float) -> GroupStats:
    """Statistics of a group with ``counts`` coincidences and its channels' ``singles_counts`` in ``duration_s``."""
    if duration_s <= 0:
        raise ValueError(f"the capture duration must be > 0 s, got {duration_s}")
    singles = np.asarray(singles_counts, dtype=float)
    rate = counts / duration_s
    rate_sigma = count_sigma(counts) / duration_s
    acc = accidental_rate_hz(singles / duration_s, window_ps)
    # relative uncertainty of a product of independent Poisson counts: Σ 1/N_i in quadrature
    rel = math.sqrt(sum(count_sigma(int(n)) ** 2 / max(n, 1.0) ** 2 for n in singles))
    acc_sigma = acc * rel
    net = rate - acc
    net_sigma = math.hypot(rate_sigma, acc_sigma)
    if acc > 0:
        car = net / acc
        car_sigma = math.hypot(rate_sigma / acc, rate * acc_sigma / acc ** 2)
    else:
        car, car_sigma = math.nan, math.nan
    return GroupStats(tuple(int(c) for c in channels), int(counts), poisson_interval(int(counts)), rate,
                      rate_sigma, acc, acc_sigma, net, net_sigma, car, car_sigma)


def heralding_efficiency(group: GroupStats, herald_counts: int, duration_s: float) -> tuple[float, float]:
    """Klyshko efficiency of the partner arm of a 2-fold group: net coincidences per herald, with σ.

    η = (C − A)/S_herald (Klyshko 1980); dark counts of the herald are not subtracted (a lower bound).
    """
    if len(group.channels) != 2:
        raise ValueError("a heralding efficiency is defined for a 2-fold group")
    s = herald_counts / duration_s
    if s <= 0:
        return math.nan, math.nan
    eta = group.net_rate_hz / s
    s_sigma = count_sigma(int(herald_counts)) / duration_s
    return eta, math.hypot(group.net_rate_sigma_hz / s, eta * s_sigma / s)
