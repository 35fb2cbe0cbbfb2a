"""What a measurement's statistics add to its data: the per-bin error bars, the fitted curve, and the 0D figures
(intervals, fit parameters, raw counts) as plain values. Qt-free; :mod:`..runs` makes datasets of them.

Every figure is either measured with its uncertainty or NaN with a status saying why: a fit that failed gives NaN
channels and its message, never a number that looks valid.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .g2 import FWHM_PER_SIGMA, G2FitOptions, background_corrected, fit_antibunching, pulsed_g2_zero
from .intervals import CL_1SIGMA, g2_zero_interval, poisson_halfwidth
from .lifetime import LifetimeFitOptions, fit_lifetime

PS_PER_NS = 1e3
NAN = float("nan")

#: names of the 0D datasets (the plugins, the bridge and the scan files know them by these)
G2_INTERVAL = "g2(0) interval"
G2_RAW = "g2(0) raw counts"
G2_CORRECTED = "g2(0) corrected"
G2_FIT = "g2 fit"
G2_PULSED = "pulsed g2(0)"
LIFETIME_FIT = "lifetime fit"
#: the channel of the raw-count dataset that gives the duration, and the others, in order
RAW_LABELS = ("singles ch{c1}", "singles ch{c2}", "coincidences in the g2(0) window", "g2(0) window (ps)",
              "capture duration (s)")


@dataclass
class Figures:
    """One 0D dataset: a value per label (units in the labels: a scan file keeps no units), ``status`` the fit's
    message ('' when there is none)."""

    name: str
    labels: list
    values: list
    status: str = ""
    metadata: dict = field(default_factory=dict)


@dataclass
class Analysis:
    errors: np.ndarray                    #: error bar of every bin, in counts
    curve: np.ndarray | None = None       #: fitted expected counts of every bin (None: no fit asked)
    figures: list = field(default_factory=list)
    g2_zero_error: float = NAN            #: half width of the g2(0) interval (the g2(0) dataset's error)


def correlation_analysis(tau_ps, counts, binwidth_ps: float, zero_window_ps: float, singles: tuple[int, int],
                         channels: tuple[int, int], duration_ps: float, s) -> Analysis:
    """The statistics of a correlation (coincidence ``counts`` on bin centres ``tau_ps``) with the singles of its
    two inputs over the same ``duration_ps``; ``s`` the CorrelationSettings."""
    tau = np.asarray(tau_ps, dtype=float)
    n = np.asarray(counts, dtype=float)
    out = Analysis(errors=poisson_halfwidth(np.clip(n, 0, None)))
    sel = zero_window(tau, zero_window_ps)
    c0, width_ps = float(n[sel].sum()), float(sel.sum()) * binwidth_ps
    n1, n2 = singles
    g0, lo, hi = g2_zero_interval(c0, n1, n2, width_ps, duration_ps, CL_1SIGMA)
    out.g2_zero_error = (hi - lo) / 2
    out.figures.append(Figures(G2_INTERVAL, ["g2(0) low", "g2(0) high"], [lo, hi],
                               metadata={"confidence_level": CL_1SIGMA, "interval": "Garwood (exact Poisson)"}))
    c1, c2 = channels
    if s.raw_counts:
        out.figures.append(Figures(G2_RAW, [x.format(c1=c1, c2=c2) for x in RAW_LABELS],
                                   [float(n1), float(n2), c0, width_ps, duration_ps / 1e12]))
    rhos = None
    if s.background_1_hz > 0 or s.background_2_hz > 0:
        dur_s = duration_ps / 1e12
        rhos = tuple(1.0 - b / (m / dur_s) if m > 0 and dur_s > 0 else NAN
                     for b, m in ((s.background_1_hz, n1), (s.background_2_hz, n2)))
        (g, lo_c, hi_c), _ = background_corrected(np.array([g0, lo, hi]), 0.0, *rhos)
        out.figures.append(Figures(G2_CORRECTED, ["g2_corr(0)", "g2_corr(0) low", "g2_corr(0) high",
                                                  f"rho ch{c1}", f"rho ch{c2}"],
                                   [float(g), float(lo_c), float(hi_c), *rhos]))
    if s.pulse_period_ps > 0:
        est, p_lo, p_hi, k = pulsed_g2_zero(tau, n, s.pulse_period_ps, cl=CL_1SIGMA)
        status = "" if k else (f"the histogram spans no whole side peak of the {s.pulse_period_ps} ps period: "
                               f"widen it (n_bins x binwidth > 3 periods)")
        out.figures.append(Figures(G2_PULSED, ["pulsed g2(0)", "pulsed g2(0) low", "pulsed g2(0) high",
                                               "side peaks"], [est, p_lo, p_hi, float(k)], status))
    if s.g2_fit:
        fit = fit_antibunching(tau, n, binwidth_ps, G2FitOptions(bunching=s.g2_bunching,
                                                                  jitter_fwhm_ps=s.jitter_fwhm_ps,
                                                                  fit_jitter=s.fit_jitter))
        v, e = fit.values, fit.errors
        labels = ["g2(0)", "g2(0) σ", "τ_a (ns)", "τ_a σ (ns)", "τ0 (ns)", "τ0 σ (ns)", "jitter FWHM (ps)",
                  "jitter FWHM σ (ps)"]
        values = [v["g2_0"], e["g2_0"], v["tau_a_ps"] / PS_PER_NS, e["tau_a_ps"] / PS_PER_NS,
                  v["tau0_ps"] / PS_PER_NS, e["tau0_ps"] / PS_PER_NS, v["sigma_ps"] * FWHM_PER_SIGMA,
                  e["sigma_ps"] * FWHM_PER_SIGMA]
        if s.g2_bunching:
            labels += ["bunching b", "bunching b σ", "τ_b (ns)", "τ_b σ (ns)"]
            values += [v["bunching"], e["bunching"], v["tau_b_ps"] / PS_PER_NS, e["tau_b_ps"] / PS_PER_NS]
        if rhos is not None:
            g, ge = background_corrected(v["g2_0"], e["g2_0"], *rhos)
            labels += ["g2_corr(0)", "g2_corr(0) σ"]
            values += [float(g), float(ge)]
        labels.append("deviance/dof")
        values.append(fit.reduced_deviance)
        out.figures.append(Figures(G2_FIT, labels, [float(x) for x in values], _status(fit)))
        out.curve = fit.curve
    return out


def histogram_analysis(time_ps, counts, binwidth_ps: float, s, irf=None) -> Analysis:
    """The statistics of a start-stop histogram (bin left edges ``time_ps``); ``s`` the HistogramSettings,
    ``irf`` a measured IRF on the same bins (None: Gaussian)."""
    n = np.asarray(counts, dtype=float)
    out = Analysis(errors=poisson_halfwidth(np.clip(n, 0, None)))
    if s.lifetime_fit:
        fit = fit_lifetime(time_ps, n, binwidth_ps, LifetimeFitOptions(n_exp=s.lifetime_fit,
                                                                       irf_fwhm_ps=s.irf_fwhm_ps), irf=irf)
        v, e = fit.values, fit.errors
        labels = ["τ (ns)", "τ σ (ns)"]
        values = [v["tau_ps"] / PS_PER_NS, e["tau_ps"] / PS_PER_NS]
        if s.lifetime_fit == 2:
            labels += ["τ2 (ns)", "τ2 σ (ns)", "fraction τ", "fraction τ σ"]
            values += [v["tau2_ps"] / PS_PER_NS, e["tau2_ps"] / PS_PER_NS, v["fraction"], e["fraction"]]
        labels += ["decay counts", "decay counts σ", "background (counts/bin)", "background σ",
                   "IRF t0 (ns)" if irf is None else "IRF shift (ns)", "IRF FWHM (ps)", "deviance/dof"]
        values += [v["amplitude"], e["amplitude"], v["background"], e["background"], v["t0_ps"] / PS_PER_NS,
                   NAN if irf is not None else v["sigma_ps"] * FWHM_PER_SIGMA, fit.reduced_deviance]
        out.figures.append(Figures(LIFETIME_FIT, labels, [float(x) for x in values], _status(fit),
                                   metadata={"irf": "measured" if irf is not None else "Gaussian"}))
        out.curve = fit.curve
    return out


def zero_window(tau_ps, window_ps: float) -> np.ndarray:
    """The bins whose centre lies within ±window/2 of zero delay (the bin(s) nearest zero if none does)."""
    sel = np.abs(tau_ps) <= window_ps / 2
    if not sel.any() and np.size(tau_ps):
        d = np.abs(tau_ps)
        sel = d <= d.min()
    return sel


def _status(fit) -> str:
    return "" if fit.ok else fit.message


__all__ = ["Figures", "Analysis", "correlation_analysis", "histogram_analysis", "zero_window", "G2_INTERVAL",
           "G2_RAW", "G2_CORRECTED", "G2_FIT", "G2_PULSED", "LIFETIME_FIT", "RAW_LABELS"]
