"""The fits and the background correction find the simulator's ground truth on long acquisitions; docs/simulator.rst's
figure of the default bench is the one measured here.

* the deconvolved g2(0) (= 1 − ρ², the model's value at τ = 0 before jitter and binning) and τ_a of a jittered
  emitter binned coarser than its jitter, within 2σ of the truth;
* the lifetime with a Gaussian IRF and with a measured IRF (a capture of the IRF alone), within 2σ;
* the background-corrected g2(0) of an emitter with 1 MHz dark counts per detector agrees with the same emitter's
  without them (3σ combined), while the uncorrected one does not;
* a fit that cannot find its model says so and gives NaN;
* docs/simulator.rst: the default bench's g2(0), its interval and the model's prediction.
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from pymodaq_plugins_timetagger.analysis.g2 import G2FitOptions, fit_antibunching
from pymodaq_plugins_timetagger.hardware.access import open_tagger
from pymodaq_plugins_timetagger.hardware.simulator.models import MODELS
from pymodaq_plugins_timetagger.hardware.simulator.sources import (PoissonSource, PulsedFluorescence,
                                                                   SinglePhotonEmitter, default_scene)
from pymodaq_plugins_timetagger.runs import make_run
from tests.test_statistics_coverage import EMITTER, INPUT_JITTER_PS, true_g2_window

FWHM_PER_SIGMA = 2.3548200450309493
SIMULATOR_PAGE = Path(__file__).resolve().parents[1] / "docs" / "simulator.rst"


def figures(result, name) -> dict:
    c = next(c for c in result.companions if c.name == name)
    return dict(zip(c.labels, (float(d[0]) for d in c.data))) | {"status": c.metadata.get("status", "")}


def measure(sources, kind, seconds, seed=7, setup=None, **settings):
    handle = open_tagger("sim", sim_clock="virtual", sim_seed=seed, sim_sources=sources)
    try:
        if setup is not None:
            setup(handle.tagger)
        return make_run(handle, kind, **settings).acquire(seconds)
    finally:
        handle.close()


def test_the_deconvolved_g2_zero_and_tau_a_find_the_truth():
    src = SinglePhotonEmitter(**EMITTER, jitter_ps=150.0)  # σ of τ = √2·hypot(150, 8) = 212 ps, bins of 500 ps
    sigma = np.sqrt(2) * np.hypot(150.0, INPUT_JITTER_PS)
    r = measure([src], "correlation", 0.2, binwidth_ps=500, n_bins=401, g2_fit=True,
                jitter_fwhm_ps=sigma * FWHM_PER_SIGMA)
    f = figures(r, "g2 fit")
    truth = 1 - src.rho ** 2
    print(f"deconvolved g2(0) {f['g2(0)']:.4f} ± {f['g2(0) σ']:.4f} (truth {truth:.4f}); "
          f"tau_a {f['τ_a (ns)']:.3f} ± {f['τ_a σ (ns)']:.3f} ns (truth {src.tau_eff_ps / 1e3:.3f})")
    assert f["status"] == ""
    assert abs(f["g2(0)"] - truth) <= 2 * f["g2(0) σ"]
    assert abs(f["τ_a (ns)"] - src.tau_eff_ps / 1e3) <= 2 * f["τ_a σ (ns)"]
    assert 0.8 < f["deviance/dof"] < 1.25


def _decay_source(lifetime_ps=3_500.0):
    return PulsedFluorescence(channels=(3, 4), rep_rate_hz=5e6, lifetime_ps=lifetime_ps, photons_per_pulse=0.01,
                              jitter_ps=100.0)


def _delay(tagger):
    tagger.setInputDelay(4, 2000)


HIST = dict(click_channel=4, start_channel=3, binwidth_ps=50, n_bins=600)


def test_the_lifetime_finds_the_truth_with_a_gaussian_irf():
    src = _decay_source()
    r = measure([src], "histogram", 1.0, setup=_delay, **HIST, lifetime_fit=1)
    f = figures(r, "lifetime fit")
    irf_fwhm = np.sqrt(100.0 ** 2 + 2 * INPUT_JITTER_PS ** 2 + src.sync_jitter_ps ** 2) * FWHM_PER_SIGMA
    print(f"tau {f['τ (ns)']:.4f} ± {f['τ σ (ns)']:.4f} ns (truth 3.5), IRF FWHM {f['IRF FWHM (ps)']:.0f} ps "
          f"(truth {irf_fwhm:.0f}), {r.metadata['total_counts']} counts")
    assert f["status"] == ""
    assert abs(f["τ (ns)"] - 3.5) <= 2 * f["τ σ (ns)"]
    assert abs(f["IRF FWHM (ps)"] - irf_fwhm) < 0.1 * irf_fwhm


def test_the_lifetime_finds_the_truth_with_a_measured_irf():
    irf = measure([_decay_source(lifetime_ps=1.0)], "histogram", 0.2, seed=8, setup=_delay, **HIST)
    src = _decay_source()
    handle = open_tagger("sim", sim_clock="virtual", sim_seed=9, sim_sources=[src])
    try:
        _delay(handle.tagger)
        run = make_run(handle, "histogram", **HIST, lifetime_fit=1)
        run.set_irf(irf.data[0])
        r = run.acquire(1.0)
    finally:
        handle.close()
    f = figures(r, "lifetime fit")
    print(f"measured IRF: tau {f['τ (ns)']:.4f} ± {f['τ σ (ns)']:.4f} ns (truth 3.5)")
    assert f["status"] == "" and r.companions[0].metadata["irf"] == "measured"
    assert abs(f["τ (ns)"] - 3.5) <= 2 * f["τ σ (ns)"]
    assert np.isnan(f["IRF FWHM (ps)"])  # not a parameter of this fit: NaN, not a made-up width


def test_background_correction_recovers_the_dark_free_g2_zero():
    clean = dict(EMITTER, background_hz=0.0)
    settings = dict(binwidth_ps=1000, n_bins=201, zero_window_ps=5000)
    a = measure([SinglePhotonEmitter(**clean)], "correlation", 0.05, seed=11, **settings)
    dark_hz = 1e6
    b = measure([SinglePhotonEmitter(**clean, dark_count_hz=dark_hz)], "correlation", 0.05, seed=12, **settings,
                background_1_hz=dark_hz, background_2_hz=dark_hz)
    ga, ia = a.companions[0].data[0][0], figures(a, "g2(0) interval")
    gb, cb = b.companions[0].data[0][0], figures(b, "g2(0) corrected")
    sa = (ia["g2(0) high"] - ia["g2(0) low"]) / 2
    sb = (cb["g2_corr(0) high"] - cb["g2_corr(0) low"]) / 2
    print(f"g2(0) without dark {ga:.4f} ± {sa:.4f}; with {gb:.4f}, corrected {cb['g2_corr(0)']:.4f} ± {sb:.4f}, "
          f"rho {cb['rho ch1']:.3f}")
    assert abs(cb["g2_corr(0)"] - ga) <= 3 * np.hypot(sa, sb)
    assert gb - ga > 10 * np.hypot(sa, sb)  # without the correction, the dark counts fill the dip
    assert cb["rho ch1"] == pytest.approx(0.75, abs=0.01)


def test_a_fit_without_its_model_in_the_data_says_so_with_nan():
    """Uncorrelated light: either the fit says it failed (NaN) or its g2(0) is 1 within its σ and τ_a is shown
    undetermined (σ comparable to the value); a histogram without a decay gives NaN and the reason."""
    r = measure([PoissonSource(channels=(1, 2), rate_hz=1e6)], "correlation", 0.02, binwidth_ps=1000,
                n_bins=201, g2_fit=True)
    f = figures(r, "g2 fit")
    print(f)
    if f["status"]:
        assert all(np.isnan(v) for k, v in f.items() if k != "status") and np.all(np.isnan(r.data[1]))
    else:
        assert abs(f["g2(0)"] - 1) < 3 * f["g2(0) σ"] and f["τ_a σ (ns)"] > f["τ_a (ns)"] / 3
    r = measure([PoissonSource(channels=(4,), rate_hz=0.0)], "histogram", 0.01, setup=None, **HIST,
                lifetime_fit=1)
    f = figures(r, "lifetime fit")
    assert "no counts" in f["status"] and all(np.isnan(v) for k, v in f.items() if k != "status")
    assert np.all(np.isnan(r.data[1]))  # the curve drawn: NaN, nothing that looks like a fit
    fit = fit_antibunching(np.arange(201) - 100.0, np.zeros(201), 1.0, G2FitOptions())
    assert not fit.ok and "no counts" in fit.message


#: the sentence of docs/simulator.rst about the default bench (its figures come from here)
BENCH_S = 10.0


def test_the_readme_states_the_default_bench_g2_zero_this_measures():
    emitter = default_scene()[0]  # channels 1, 2 of the plain 'sim' address; the others do not reach them
    r = measure([emitter], "correlation", BENCH_S, seed=1)
    g0 = r.companions[0].data[0][0]
    i = figures(r, "g2(0) interval")
    sigma = np.sqrt(2) * np.hypot(emitter.jitter_ps, INPUT_JITTER_PS)
    predicted = true_g2_window(emitter, sigma, 250.0)
    text = (f"g2(0) = {g0:.3f} (68 % interval {i['g2(0) low']:.3f}-{i['g2(0) high']:.3f}) in {BENCH_S:g} s; "
            f"the source's parameters averaged over the 500 ps bin predict {predicted:.3f}")
    print(text)
    assert i["g2(0) low"] <= predicted <= i["g2(0) high"] or abs(g0 - predicted) < 3 * (i["g2(0) high"] - g0)
    page = re.sub(r"\s+", " ", SIMULATOR_PAGE.read_text(encoding="utf-8"))
    assert text in page, f"docs/simulator.rst must say: {text}"
