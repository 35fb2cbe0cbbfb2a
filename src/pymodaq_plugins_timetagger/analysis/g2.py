"""g2(τ): the CW antibunching model and its fit, the background (ρ²) correction, pulsed g2(0). Qt-free.

Models (docs/statistics.rst, with their sources):

* CW antibunching, optionally with bunching (three-level emitter)::

      g(τ) = 1 − (1 − g2(0) + b)·exp(−|τ − τ0|/τ_a) + b·exp(−|τ − τ0|/τ_b)

  convolved with the timing jitter (a Gaussian of FWHM ``jitter_fwhm_ps``, fixed or fitted) and averaged over
  each bin, both analytically. The expected coincidences of bin i are ``A · g(bin i)``; A (the coincidences of
  uncorrelated light per bin) is fitted too, so the normalisation comes from the wings of the curve. g2(0) is the
  model's value at τ0 *before* the jitter and the binning: the jitter-deconvolved g2(0).
* Background correction: ρ_i = S_i/(S_i + B_i) on each input, g2_corr = (g2 − (1 − ρ1ρ2))/(ρ1ρ2)
  (= (g2 − (1 − ρ²))/ρ² for equal ρ), with its propagated uncertainty.
* Pulsed g2(0): the coincidences within ±period/2 of zero delay over the mean of the side peaks', with the exact
  interval of a ratio of two Poisson counts.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.special import erf, erfc, erfcx

from .fitting import FitResult, failed, poisson_fit
from .intervals import CL_1SIGMA, poisson_ratio_interval

#: FWHM of a Gaussian over its standard deviation: 2·sqrt(2·ln 2)
FWHM_PER_SIGMA = 2.0 * math.sqrt(2.0 * math.log(2.0))
SQRT2 = math.sqrt(2.0)


# ----------------------------------------------------------------------------------------- model pieces
def exp_gauss_tail(t, a: float, sigma: float):
    """h(t) = exp(σ²/2a² − t/a)·erfc((σ²/a − t)/(σ√2)), computed without overflow (erfcx where the exponential
    would overflow). 2·(Gaussian ⊗ one-sided exp(−t/a)) = h; it appears in every model below."""
    t = np.asarray(t, dtype=float)
    x = (sigma * sigma / a - t) / (sigma * SQRT2)
    out = np.empty_like(t)
    pos = x > 0
    tp = t[pos]
    with np.errstate(under="ignore"):
        out[pos] = erfcx(x[pos]) * np.exp(-tp * tp / (2 * sigma * sigma))
        neg = ~pos
        out[neg] = np.exp(sigma * sigma / (2 * a * a) - t[neg] / a) * erfc(x[neg])
    return out


#: beyond this many σ of zero, the Gaussian convolution of exp(−|t|/a) is exp(σ²/2a²)·exp(−|t|/a) to double precision
#: (the erf and erfc terms are 1 and 2 within 1e-15): only the bins near zero need the special functions
_FAR_SIGMA = 8.5


def _two_sided_primitive(t, a: float, sigma: float):
    """∫₀ᵗ of exp(−|s|/a) convolved with a Gaussian of standard deviation σ (σ = 0: no convolution)."""
    t = np.asarray(t, dtype=float)
    if sigma <= 0:
        return a * np.sign(t) * (1.0 - np.exp(-np.abs(t) / a))
    out = np.sign(t) * a * (1.0 - np.exp(sigma * sigma / (2 * a * a) - np.abs(t) / a))
    near = np.abs(t) < _FAR_SIGMA * sigma
    if near.any():
        tn = t[near]
        h = exp_gauss_tail(np.concatenate([tn, -tn]), a, sigma)
        out[near] = a * (erf(tn / (sigma * SQRT2)) - 0.5 * (h[:tn.size] - h[tn.size:]))
    return out


def bin_edges(centres, width: float) -> np.ndarray:
    """The edges of contiguous bins of equal ``width`` around ``centres`` (n + 1 values)."""
    c = np.asarray(centres, dtype=float)
    return np.append(c - width / 2.0, c[-1] + width / 2.0)


def binned_two_sided_exp(centres_ps, width_ps: float, a_ps: float, sigma_ps: float):
    """Mean over each bin (contiguous, equal width, given by centres) of exp(−|τ|/a) ⊗ Gaussian(σ)."""
    p = _two_sided_primitive(bin_edges(centres_ps, width_ps), a_ps, sigma_ps)
    return np.diff(p) / width_ps


def antibunching(centres_ps, width_ps, g2_0, tau_a_ps, tau0_ps=0.0, sigma_ps=0.0, bunching=0.0,
                 tau_b_ps=1.0):
    """The model g(τ) averaged over the bins (no normalisation): see the module docstring."""
    c = np.asarray(centres_ps, dtype=float) - tau0_ps
    g = 1.0 - (1.0 - g2_0 + bunching) * binned_two_sided_exp(c, width_ps, tau_a_ps, sigma_ps)
    if bunching:
        g = g + bunching * binned_two_sided_exp(c, width_ps, tau_b_ps, sigma_ps)
    return g


# ----------------------------------------------------------------------------------------- CW fit
@dataclass(frozen=True)
class G2FitOptions:
    bunching: bool = False          #: add the bunching term (b, τ_b)
    jitter_fwhm_ps: float = 0.0     #: the Gaussian jitter's FWHM (0: none), the start value if fitted
    fit_jitter: bool = False        #: fit the jitter's width too


#: names of the CW fit's parameters, in order
G2_PARAMS = ("norm", "g2_0", "tau_a_ps", "tau0_ps", "sigma_ps", "bunching", "tau_b_ps")


def fit_antibunching(tau_ps, counts, binwidth_ps: float, options: G2FitOptions = G2FitOptions()) -> FitResult:
    """Poisson ML fit of the CW model to coincidence counts (bin centres ``tau_ps``, bins of ``binwidth_ps``).

    Values: ``norm`` (coincidences per bin of uncorrelated light), ``g2_0`` (deconvolved), ``tau_a_ps``,
    ``tau0_ps``, ``sigma_ps`` (jitter), ``bunching``, ``tau_b_ps`` (0 and fixed without bunching).
    """
    tau = np.asarray(tau_ps, dtype=float)
    n = np.asarray(counts, dtype=float)
    if tau.shape != n.shape or tau.size < 8:
        return failed(f"a g2 fit needs at least 8 bins, got {tau.size}", G2_PARAMS, n.size)
    span = float(tau.max() - tau.min()) + binwidth_ps
    outer = np.abs(tau) >= 0.6 * np.abs(tau).max()
    norm0 = max(float(n[outer].mean()) if outer.any() else float(n.mean()), 1e-3)
    zero = np.argsort(np.abs(tau))[:max(1, int(round(500.0 / binwidth_ps)))]
    g0 = float(np.clip(n[zero].mean() / norm0, 0.0, 0.95))
    dip_area_ps = float(np.clip(1.0 - n / norm0, 0, None).sum()) * binwidth_ps
    tau_a0 = float(np.clip(dip_area_ps / (2 * max(1.0 - g0, 0.05)), binwidth_ps, span / 4))
    sigma0 = options.jitter_fwhm_ps / FWHM_PER_SIGMA
    start = dict(norm=norm0, g2_0=g0, tau_a_ps=tau_a0, tau0_ps=0.0,
                 sigma_ps=sigma0 if sigma0 > 0 else (binwidth_ps / 4 if options.fit_jitter else 0.0),
                 bunching=0.5 if options.bunching else 0.0,
                 tau_b_ps=min(20 * tau_a0, span / 3) if options.bunching else 1.0)
    limits = dict(norm=(0, None), g2_0=(-2.0, 5.0), tau_a_ps=(binwidth_ps / 20, span), tau0_ps=(-span / 4, span / 4),
                  sigma_ps=(0, span / 10), bunching=(0, 100.0), tau_b_ps=(binwidth_ps / 20, 10 * span))
    fixed = set()
    if not options.fit_jitter:
        fixed.add("sigma_ps")
    if not options.bunching:
        fixed |= {"bunching", "tau_b_ps"}

    def model(norm, g2_0, tau_a_ps, tau0_ps, sigma_ps, bunching, tau_b_ps):
        return norm * antibunching(tau, binwidth_ps, g2_0, tau_a_ps, tau0_ps, sigma_ps, bunching, tau_b_ps)

    return poisson_fit(model, n, start, limits, fixed, physical=("norm", "bunching"))


# ----------------------------------------------------------------------------------------- background
def signal_fraction(rate_hz: float, background_hz: float) -> tuple[float, float]:
    """ρ = S/(S + B) = 1 − B/(S + B) of an input whose total rate is ``rate_hz``, and its standard error from
    the Poisson error of the measured total (σ_ρ = B·σ_total/total²; B is taken as known)."""
    if not rate_hz > 0 or background_hz < 0:
        return float("nan"), float("nan")
    return 1.0 - background_hz / rate_hz, 0.0


def background_corrected(g2, g2_err, rho_1: float, rho_2: float):
    """g2_corr = (g2 − (1 − ρ1ρ2))/(ρ1ρ2) and its error σ/(ρ1ρ2) (ρ known: the singles' error is neglected,
    docs/statistics.rst). Works on arrays and on interval bounds (the map is increasing)."""
    r2 = rho_1 * rho_2
    if not r2 > 0:
        nan = np.full(np.shape(g2), np.nan)
        return nan, nan
    return (np.asarray(g2) - (1.0 - r2)) / r2, np.asarray(g2_err) / r2


# ----------------------------------------------------------------------------------------- pulsed
def pulsed_g2_zero(tau_ps, counts, period_ps: float, n_side: int | None = None,
                   cl: float = CL_1SIGMA) -> tuple[float, float, float, int]:
    """Pulsed g2(0): coincidences within ±period/2 of zero over the mean of the ``n_side`` nearest side peaks
    (each ±period/2 around k·period, k ≠ 0; default all the whole side peaks inside the histogram).
    Returns (estimate, lo, hi, number of side peaks used)."""
    tau = np.asarray(tau_ps, dtype=float)
    n = np.asarray(counts, dtype=float)
    half = period_ps / 2.0
    k_max = int((np.abs(tau).max() - half) // period_ps) if tau.size else 0
    ks = [k for j in range(1, k_max + 1) for k in (-j, j)]
    if n_side is not None:
        ks = ks[:n_side]
    if not ks or period_ps <= 0:
        nan = float("nan")
        return nan, nan, nan, 0

    def area(k):
        return float(n[(tau >= k * period_ps - half) & (tau < k * period_ps + half)].sum())

    zero = area(0)
    side = sum(area(k) for k in ks)
    est, lo, hi = poisson_ratio_interval(zero, side, scale=len(ks), cl=cl)
    return est, lo, hi, len(ks)


__all__ = ["FWHM_PER_SIGMA", "antibunching", "binned_two_sided_exp", "exp_gauss_tail", "G2FitOptions",
           "G2_PARAMS", "fit_antibunching", "signal_fraction", "background_corrected", "pulsed_g2_zero"]
