"""Hong-Ou-Mandel dip fit: visibility and width, each with its uncertainty, from counts against delay. Qt-free.

Model (docs/coincidences.rst): the expected count at delay τ with exposure ``t_i`` is

    μ(τ) = t_i · [R·(1 − V·f((τ − τ0)/w)) + B]

with f(x) = exp(−x²) (``shape='gaussian'``: a Gaussian spectrum) or sinc(x) = sin(x)/x (``'sinc'``: a rectangular
spectrum), R the coincidence rate far from the dip, V the visibility, w the width (the 1/e half-width
for the Gaussian, the first zero at π·w for the sinc), B a known or fitted flat offset (accidentals, Hz). The fit
maximises the Poisson likelihood of the counts (no least squares: counts in the dip are small) with iminuit's
MIGRAD and takes the uncertainties from HESSE (errordef 0.5 of a log-likelihood).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

SHAPES = ("gaussian", "sinc")


@dataclass(frozen=True)
class HomFit:
    visibility: float
    visibility_sigma: float
    width_ps: float
    width_sigma_ps: float
    centre_ps: float
    centre_sigma_ps: float
    rate_hz: float                 #: R, the rate far from the dip
    rate_sigma_hz: float
    offset_hz: float               #: B
    shape: str
    valid: bool                    #: MIGRAD converged and the covariance is accurate

    def model(self, delay_ps, exposure_s=1.0) -> np.ndarray:
        return _mu(np.asarray(delay_ps, dtype=float), np.broadcast_to(exposure_s, np.shape(delay_ps)),
                   self.rate_hz, self.visibility, self.centre_ps, self.width_ps, self.offset_hz, self.shape)


def _shape(x, shape):
    if shape == "gaussian":
        return np.exp(-x * x)
    return np.sinc(x / math.pi)   # numpy's sinc is sin(πx)/(πx)


def _mu(tau, t, rate, vis, centre, width, offset, shape):
    return t * (rate * (1.0 - vis * _shape((tau - centre) / width, shape)) + offset)


def fit_hom_dip(delay_ps, counts, exposure_s, shape: str = "gaussian", offset_hz: float | None = 0.0) -> HomFit:
    """Fit the dip to ``counts`` (non-negative integers) at ``delay_ps``, each taken over ``exposure_s``.

    ``offset_hz``: a known flat offset (the accidentals, Hz) held fixed, or None to fit it. Raises ValueError for
    inputs a fit cannot use (fewer than 5 points, negative or non-integral counts, no positive exposure).
    """
    from iminuit import Minuit

    if shape not in SHAPES:
        raise ValueError(f"shape must be one of {SHAPES}, got {shape!r}")
    tau = np.asarray(delay_ps, dtype=float)
    n = np.asarray(counts, dtype=float)
    t = np.broadcast_to(np.asarray(exposure_s, dtype=float), tau.shape).astype(float)
    if tau.ndim != 1 or tau.shape != n.shape or tau.size < 5:
        raise ValueError("give at least 5 (delay, count) points of the same length")
    if (n < 0).any() or not np.array_equal(n, np.round(n)):
        raise ValueError("counts must be non-negative integers (a Poisson fit of raw counts)")
    if not (t > 0).all():
        raise ValueError("every exposure must be > 0 s")
    rate0 = float(np.percentile(n / t, 90))
    i_min = int(np.argmin(n / t))
    vis0 = float(np.clip(1.0 - (n[i_min] / t[i_min]) / max(rate0, 1e-300), 0.05, 0.95))
    span = float(np.ptp(tau)) or 1.0
    below = tau[(n / t) < rate0 * (1 - vis0 / 2)]
    width0 = max(float(np.ptp(below)) / 2 if below.size > 1 else span / 10, span / (4 * tau.size))

    def nll(rate, vis, centre, width, offset):
        mu = _mu(tau, t, rate, vis, centre, width, offset, shape)
        mu = np.maximum(mu, 1e-300)
        return float(np.sum(mu - n * np.log(mu)))

    m = Minuit(nll, rate=rate0, vis=vis0, centre=float(tau[i_min]), width=width0,
               offset=0.0 if offset_hz is None else float(offset_hz))
    m.errordef = Minuit.LIKELIHOOD
    m.limits["rate"] = (0, None)
    m.limits["vis"] = (-1.0, 1.0)
    m.limits["width"] = (span / (20 * tau.size), 10 * span)
    m.limits["centre"] = (float(tau.min()) - span, float(tau.max()) + span)
    if offset_hz is None:
        m.limits["offset"] = (0, None)
    else:
        m.fixed["offset"] = True
    m.migrad()
    m.hesse()
    p, e = m.values, m.errors
    return HomFit(float(p["vis"]), float(e["vis"]), abs(float(p["width"])), float(e["width"]), float(p["centre"]),
                  float(e["centre"]), float(p["rate"]), float(e["rate"]), float(p["offset"]), shape,
                  bool(m.valid and m.accurate))
