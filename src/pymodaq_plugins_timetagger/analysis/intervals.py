"""Exact confidence intervals for counts: a Poisson mean (Garwood), a binomial fraction (Clopper-Pearson), the
ratio of two Poisson means, and g2(0) from a coincidence count and the singles. Qt-free.

All are central intervals at confidence level ``cl`` (0.6827 is the "±1σ" level), exact in the sense that they
cover the truth at least at the nominal rate for every true value (docs/statistics.rst: Garwood 1936,
Clopper & Pearson 1934). They are conservative at low counts, as every exact interval of a discrete count is.
"""
from __future__ import annotations

import numpy as np
from scipy.special import gammaincinv, betaincinv

#: the confidence level of "one standard deviation" of a Gaussian: the level of the intervals the plugins show
CL_1SIGMA = 0.682689492137086


def _alpha(cl: float) -> float:
    if not 0.0 < cl < 1.0:
        raise ValueError(f"confidence level must be in (0, 1), got {cl!r}")
    return 1.0 - cl


def poisson_interval(n, cl: float = CL_1SIGMA):
    """Garwood's exact central interval (lo, hi) of the mean of a Poisson count ``n`` (scalar or array).

    lo = ½χ²(α/2; 2n), hi = ½χ²(1−α/2; 2n+2), written with the inverse regularised gamma function; lo = 0 for
    n = 0.
    """
    a = _alpha(cl)
    n = np.asarray(n, dtype=float)
    if np.any(n < 0) or np.any(~np.isfinite(n)):
        raise ValueError("a count must be finite and >= 0")
    with np.errstate(invalid="ignore"):
        lo = np.where(n > 0, gammaincinv(np.maximum(n, 1e-300), a / 2), 0.0)
    hi = gammaincinv(n + 1.0, 1.0 - a / 2)
    return (float(lo), float(hi)) if lo.ndim == 0 else (lo, hi)


def poisson_halfwidth(n, cl: float = CL_1SIGMA):
    """Half the width of the Garwood interval: the symmetric error bar of a count (≈ √n for large n; 0.92 for
    n = 0 at 68 %, where √n would claim an exact zero)."""
    lo, hi = poisson_interval(n, cl)
    return (np.asarray(hi) - np.asarray(lo)) / 2


def binomial_interval(k, n, cl: float = CL_1SIGMA) -> tuple[float, float]:
    """Clopper-Pearson exact central interval of a binomial fraction: ``k`` successes out of ``n``."""
    a = _alpha(cl)
    k, n = int(k), int(n)
    if n < 0 or not 0 <= k <= n:
        raise ValueError(f"need 0 <= k <= n, got k={k}, n={n}")
    if n == 0:
        return 0.0, 1.0
    lo = 0.0 if k == 0 else float(betaincinv(k, n - k + 1, a / 2))
    hi = 1.0 if k == n else float(betaincinv(k + 1, n - k, 1.0 - a / 2))
    return lo, hi


def poisson_ratio_interval(k1, k2, scale: float = 1.0, cl: float = CL_1SIGMA) -> tuple[float, float, float]:
    """The ratio λ1/λ2 of two Poisson means from counts ``k1``, ``k2`` (times ``scale``): (estimate, lo, hi).

    Conditional on k1 + k2, k1 is binomial with p = λ1/(λ1 + λ2); the Clopper-Pearson interval of p maps to
    λ1/λ2 = p/(1 − p) (exact: Clopper & Pearson 1934; the conditional test of two Poisson means, Przyborowski &
    Wilenski 1940). ``scale`` = k for λ2 the sum of k equal peaks gives the ratio to their mean.
    """
    lo_p, hi_p = binomial_interval(k1, k1 + k2, cl)
    est = k1 / k2 * scale if k2 > 0 else float("inf") if k1 > 0 else float("nan")
    lo = lo_p / (1 - lo_p) * scale
    hi = hi_p / (1 - hi_p) * scale if hi_p < 1 else float("inf")
    return float(est), float(lo), float(hi)


def g2_zero_interval(coincidences, singles_1, singles_2, window_ps, duration_ps,
                     cl: float = CL_1SIGMA) -> tuple[float, float, float]:
    """g2(0) from the coincidences in a window of width ``window_ps`` (the summed width of its bins), the singles
    of the two inputs and the capture duration (all counted over the same window): (estimate, lo, hi).

    g2(0) = C / E with E = N1·N2·window/duration the coincidences expected of uncorrelated light (the vendor's
    normalisation of ``getDataNormalized``). C is Poisson: the interval is Garwood's, divided by E (the singles
    are thousands of times more numerous than the coincidences; their own ±√N is neglected, docs/statistics.rst).
    """
    expected = float(singles_1) * float(singles_2) * float(window_ps) / float(duration_ps) \
        if duration_ps > 0 else 0.0
    if not expected > 0:
        return float("nan"), float("nan"), float("nan")
    lo, hi = poisson_interval(coincidences, cl)
    return float(coincidences) / expected, lo / expected, hi / expected


__all__ = ["CL_1SIGMA", "poisson_interval", "poisson_halfwidth", "binomial_interval", "poisson_ratio_interval",
           "g2_zero_interval"]
