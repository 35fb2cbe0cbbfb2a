"""Fluorescence lifetime: mono- and bi-exponential decays with a flat offset, reconvolved with the instrument
response (a Gaussian, or a measured IRF histogram), fitted by Poisson maximum likelihood. Qt-free.

Expected counts of bin i (left edge t_i, width w; docs/statistics.rst)::

    μ_i = A · Σ_k a_k ∫_bin (exp(−(t − t0)/τ_k)·H(t − t0)) ⊗ IRF  dt  +  B

with a_1 = f, a_2 = 1 − f (f = 1 for one exponential), A the decay's total counts, B the offset per bin
(background, dark counts, afterpulsing). The Gaussian IRF (centre t0, standard deviation σ) is reconvolved
analytically (the exponentially modified Gaussian's distribution function, bin by bin); a measured IRF is
normalised, its own flat background (median) removed, and convolved (FFT) with the exact bin integrals of the
decay started at a fitted delay t0 after the IRF.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.fft import irfft, rfft
from scipy.special import erfc

from .fitting import FitResult, failed, poisson_fit
from .g2 import FWHM_PER_SIGMA, SQRT2, exp_gauss_tail

#: names of the fit's parameters, in order
LIFETIME_PARAMS = ("amplitude", "tau_ps", "background", "t0_ps", "sigma_ps", "fraction", "tau2_ps")


#: beyond this many σ from the IRF's centre the exponentially modified Gaussian's distribution function is 0 (before)
#: or 1 − exp(σ²/2τ² − u/τ) (after) to double precision: only the bins near t0 need the special functions
_FAR_SIGMA = 8.5


def exp_gauss_cdf(t, tau: float, sigma: float):
    """Distribution function of exp(−t/τ)/τ·H(t) ⊗ Gaussian(0, σ): Φ(t/σ) − ½·h(t) (see g2.exp_gauss_tail)."""
    t = np.asarray(t, dtype=float)
    with np.errstate(under="ignore"):
        out = np.where(t > 0, 1.0 - np.exp(np.minimum(sigma * sigma / (2 * tau * tau) - t / tau, 0.0)), 0.0)
    near = np.abs(t) < _FAR_SIGMA * sigma
    if near.any():
        tn = t[near]
        out[near] = 0.5 * erfc(-tn / (sigma * SQRT2)) - 0.5 * exp_gauss_tail(tn, tau, sigma)
    return out


def gaussian_irf_decay(edges_ps, tau_ps: float, t0_ps: float, sigma_ps: float):
    """Fraction of a decay of lifetime τ (starting at t0, unit area) falling in each bin, Gaussian IRF σ."""
    return np.diff(exp_gauss_cdf(np.asarray(edges_ps) - t0_ps, tau_ps, sigma_ps))


def decay_in_bins(edges_ps, tau_ps: float, start_ps: float):
    """Exact fraction of exp(−(t − start)/τ)/τ·H(t − start) in each bin (no IRF)."""
    u = np.maximum(np.asarray(edges_ps, dtype=float) - start_ps, 0.0)
    return -np.diff(np.exp(-u / tau_ps))


class MeasuredIrf:
    """A measured IRF (normalised, same bins) and its Fourier transform, computed once per fit: the model
    convolves the decay, started at a fitted delay (exact bin integrals), with it."""

    def __init__(self, irf: np.ndarray):
        self.n = irf.size
        self.n_fft = int(2 ** np.ceil(np.log2(2 * irf.size)))
        self.spectrum = rfft(irf, self.n_fft)

    def decay(self, edges_ps, tau_ps: float, shift_ps: float):
        d = decay_in_bins(np.asarray(edges_ps) - edges_ps[0], tau_ps, shift_ps)
        return irfft(self.spectrum * rfft(d, self.n_fft), self.n_fft)[: self.n]


def prepare_irf(irf) -> np.ndarray:
    """A measured IRF histogram as a unit-area response: its flat background (median) removed, clipped at 0."""
    r = np.asarray(irf, dtype=float)
    r = np.clip(r - np.median(r), 0.0, None)
    total = r.sum()
    if not np.isfinite(total) or total <= 0:
        raise ValueError("the IRF histogram holds no peak above its background")
    return r / total


@dataclass(frozen=True)
class LifetimeFitOptions:
    n_exp: int = 1                  #: 1 or 2 exponentials
    irf_fwhm_ps: float = 0.0        #: Gaussian IRF FWHM: fixed if > 0, fitted if 0 (ignored with a measured IRF)


def fit_lifetime(time_ps, counts, binwidth_ps: float, options: LifetimeFitOptions = LifetimeFitOptions(),
                 irf=None) -> FitResult:
    """Poisson ML fit of the decay model to a start-stop histogram (bin left edges ``time_ps``).

    ``irf``: a measured IRF histogram on the same bins (or None for a Gaussian IRF). Values: ``amplitude``
    (counts of the decay), ``tau_ps`` (τ1), ``background`` (per bin), ``t0_ps`` (Gaussian IRF centre, or the
    decay's delay after the measured IRF), ``sigma_ps`` (Gaussian IRF; 0 with a measured one), ``fraction`` (amplitude
    fraction of τ1; 1 for one exponential), ``tau2_ps``.
    """
    t = np.asarray(time_ps, dtype=float)
    n = np.asarray(counts, dtype=float)
    if options.n_exp not in (1, 2):
        return failed(f"a lifetime fit has 1 or 2 exponentials, not {options.n_exp}", LIFETIME_PARAMS, n.size)
    if t.shape != n.shape or n.size < 8:
        return failed(f"a lifetime fit needs at least 8 bins, got {n.size}", LIFETIME_PARAMS, n.size)
    edges = np.append(t, t[-1] + binwidth_ps)
    span = edges[-1] - edges[0]
    if irf is not None:
        try:
            response = prepare_irf(irf)
        except ValueError as e:
            return failed(str(e), LIFETIME_PARAMS, n.size)
        if response.shape != n.shape:
            return failed(f"the IRF has {response.size} bins, the histogram {n.size}", LIFETIME_PARAMS, n.size)
    # start values: background from the earliest tenth, the peak for t0, the decay's mean delay for τ
    early = n[: max(2, n.size // 20)]
    b0 = float(np.median(early))
    peak = int(np.argmax(n))
    above = np.clip(n - b0, 0, None)
    tail = above[peak:]
    tau0 = float(np.clip((tail * (t[peak:] - t[peak])).sum() / max(tail.sum(), 1.0), binwidth_ps, span / 2))
    a0 = max(float(above.sum()), 1.0)
    sigma0 = options.irf_fwhm_ps / FWHM_PER_SIGMA if options.irf_fwhm_ps > 0 else 2 * binwidth_ps
    t00 = 0.0 if irf is not None else float(t[peak] + binwidth_ps / 2)
    start = dict(amplitude=a0, tau_ps=tau0 if options.n_exp == 1 else tau0 / 2, background=max(b0, 1e-3),
                 t0_ps=t00, sigma_ps=0.0 if irf is not None else sigma0,
                 fraction=1.0 if options.n_exp == 1 else 0.5, tau2_ps=3 * tau0 if options.n_exp == 2 else 1.0)
    limits = dict(amplitude=(0, None), tau_ps=(binwidth_ps / 50, 10 * span), background=(0, None),
                  t0_ps=(edges[0] - span / 2, edges[-1]), sigma_ps=(0, span / 4),
                  fraction=(0, 1), tau2_ps=(binwidth_ps / 50, 10 * span))
    fixed = set()
    if irf is not None:
        fixed.add("sigma_ps")
        limits["t0_ps"] = (-span / 4, span / 4)
    elif options.irf_fwhm_ps > 0:
        fixed.add("sigma_ps")
    if options.n_exp == 1:
        fixed |= {"fraction", "tau2_ps"}

    measured = MeasuredIrf(response) if irf is not None else None

    def shape(tau, t0, sigma):
        if measured is not None:
            return measured.decay(edges, tau, t0)
        return gaussian_irf_decay(edges, tau, t0, sigma)

    def model(amplitude, tau_ps, background, t0_ps, sigma_ps, fraction, tau2_ps):
        mu = shape(tau_ps, t0_ps, sigma_ps)
        if options.n_exp == 2:
            mu = fraction * mu + (1 - fraction) * shape(tau2_ps, t0_ps, sigma_ps)
        return amplitude * mu + background

    return poisson_fit(model, n, start, limits, fixed, physical=("amplitude", "background", "fraction"))


__all__ = ["LIFETIME_PARAMS", "LifetimeFitOptions", "fit_lifetime", "exp_gauss_cdf", "gaussian_irf_decay",
           "decay_in_bins", "MeasuredIrf", "prepare_irf"]
