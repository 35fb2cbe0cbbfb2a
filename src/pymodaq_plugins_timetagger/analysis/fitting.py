"""Maximum-likelihood fits of binned counts (Poisson deviance, the Cash statistic), by iminuit. Qt-free.

One function, :func:`poisson_fit`: the model gives the expected counts of every bin; MIGRAD minimises the
Poisson deviance D = 2 Σ [μ − n + n ln(n/μ)] (the same as ``iminuit.cost.poisson_chi2``, with the constant
Σ n·ln n computed once per fit; Cash 1979, Baker & Cousins 1984), HESSE gives the covariance at the minimum (the
deviance is twice the negative log-likelihood up to a constant, so its ``errordef`` is 1). Right at low counts,
where a least-squares fit is biased; equal to χ² at high counts.

A fit that does not converge (MIGRAD invalid twice, a covariance that is not accurate, parameters not finite, a
parameter on a limit that is not physical) is returned with ``ok`` False, a message saying why, and NaN values and errors: never numbers that look valid.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np
from iminuit import Minuit
from scipy.special import xlogy


@dataclass
class FitResult:
    """Values and standard errors by parameter name, the fitted expected counts, the goodness of fit."""

    ok: bool
    message: str
    values: dict = field(default_factory=dict)
    errors: dict = field(default_factory=dict)
    curve: np.ndarray | None = None     #: expected counts per bin at the best fit (NaN when not ok)
    deviance: float = float("nan")
    ndof: int = 0
    covariance: np.ndarray | None = None
    names: tuple = ()

    @property
    def reduced_deviance(self) -> float:
        return self.deviance / self.ndof if self.ndof > 0 else float("nan")


def deviance(n, mu, n_sum: float | None = None, n_log_n: float | None = None) -> float:
    """The Poisson deviance 2 Σ [μ − n + n ln(n/μ)] of counts ``n`` for expected counts ``mu`` (0·ln 0 = 0)."""
    n_sum = float(np.sum(n)) if n_sum is None else n_sum
    n_log_n = float(xlogy(n, n).sum()) if n_log_n is None else n_log_n
    return 2.0 * (float(mu.sum()) - n_sum + n_log_n - float(xlogy(n, np.maximum(mu, 1e-300)).sum()))


def failed(message: str, names, n_bins: int) -> FitResult:
    """The result of a fit that gave nothing usable: NaN everywhere, and why."""
    nan = float("nan")
    return FitResult(False, message, {k: nan for k in names}, {k: nan for k in names},
                     np.full(n_bins, nan), nan, 0, None, tuple(names))


def poisson_fit(model: Callable[..., np.ndarray], counts, start: dict, limits: dict | None = None,
                fixed=(), physical=()) -> FitResult:
    """Fit ``model(*values)`` (expected counts per bin, in the order of ``start``) to ``counts``.

    ``limits``: name -> (lo, hi) (None for no bound); ``fixed``: names held at their start value. A free
    parameter that ends on a limit makes the fit fail (the limit, not the data, set it), except those named in
    ``physical``, whose limits are the physics' (a background of 0 at low counts is a valid estimate).
    """
    n = np.asarray(counts, dtype=float)
    names = tuple(start)
    if n.size == 0 or not np.all(np.isfinite(n)) or np.any(n < 0):
        return failed("no counts to fit (empty, negative or not finite)", names, n.size)
    if n.sum() <= 0:
        return failed("no counts to fit (every bin is empty)", names, n.size)

    n_sum, n_log_n = float(n.sum()), float(xlogy(n, n).sum())

    def cost(p):
        mu = model(*p)
        d = deviance(n, mu, n_sum, n_log_n)
        if not np.isfinite(d) or mu.min() < 0:  # NaN anywhere makes d NaN
            return 1e300  # outside the model's domain: MIGRAD backs off
        return d

    cost._parameters = {k: None for k in names}  # iminuit reads the names here instead of inspecting (ms)
    m = Minuit(cost, np.array([float(v) for v in start.values()]), name=names)
    m.errordef = Minuit.LEAST_SQUARES
    m.print_level = 0
    for k, (lo, hi) in (limits or {}).items():
        m.limits[k] = (-np.inf if lo is None else lo, np.inf if hi is None else hi)
    for k in fixed:
        m.fixed[k] = True
    try:
        # strategy 0 first (fewer calls; HESSE computes the exact covariance after it anyway), then, if not
        # valid, iminuit's advice: MIGRAD again from where it stopped, more carefully (strategy 1)
        for strategy in (0, 1):
            m.strategy = strategy
            m.migrad()
            m.hesse()
            if m.valid and m.accurate:
                break
    except (RuntimeError, ValueError, FloatingPointError) as e:
        return failed(f"the fit failed: {e}", names, n.size)
    values = dict(zip(names, (float(v) for v in m.values)))
    errors = dict(zip(names, (float(v) for v in m.errors)))
    free = [k for k in names if not m.fixed[k]]
    why = None
    if not m.valid:
        fmin = m.fmin
        why = ("the fit did not converge" + (": call limit reached" if fmin.has_reached_call_limit else
                                               ": above the estimated distance to the minimum"
                                               if fmin.is_above_max_edm else ""))
    elif not m.accurate or m.covariance is None:
        why = "the fit converged but its covariance is not accurate (parameters not determined by the data)"
    elif not all(np.isfinite(values[k]) and np.isfinite(errors[k]) for k in free):
        why = "the fit gave parameters that are not finite"
    else:
        at_limit = [k for k in free if k in (limits or {}) and k not in physical
                    and _at_limit(values[k], m.limits[k], errors[k])]
        if at_limit:
            why = f"the fit ran into the limit of {', '.join(at_limit)}"
    if why is not None:
        return failed(why, names, n.size)
    for k in names:
        if m.fixed[k]:
            errors[k] = 0.0
    curve = np.asarray(model(*m.values), dtype=float)
    return FitResult(True, "converged", values, errors, curve, float(m.fval), int(n.size - len(free)),
                     np.array(m.covariance), names)


def _at_limit(value: float, limit, error: float) -> bool:
    lo, hi = limit
    tol = max(1e-9 * max(abs(value), 1.0), 1e-3 * abs(error))
    return (np.isfinite(lo) and value - lo <= tol) or (np.isfinite(hi) and hi - value <= tol)


__all__ = ["FitResult", "poisson_fit", "failed", "deviance"]
