"""Coincidence counting against the simulator's ground truth: CAR, heralding efficiency, n-fold accidentals, HOM
visibility; the Poisson intervals' coverage; the settings' refusals; the Coincidences viewer plugin."""
import numpy as np
import pytest

from pymodaq_plugins_timetagger.coincidence_stats import (accidental_rate_hz, group_stats, poisson_interval)
from pymodaq_plugins_timetagger.hardware import simulator as TT
from pymodaq_plugins_timetagger.hardware.access import open_tagger
from pymodaq_plugins_timetagger.hardware.errors import SettingsError
from pymodaq_plugins_timetagger.hardware.simulator.photon_pairs import HongOuMandel, SpdcPairSource, hom_source
from pymodaq_plugins_timetagger.hardware.simulator import PoissonSource
from pymodaq_plugins_timetagger.hom_fit import fit_hom_dip
from pymodaq_plugins_timetagger.runs import make_run


def _by_label(result):
    out = {lab: float(d[0]) for lab, d in zip(result.labels, result.data)}
    for c in result.companions:
        out.update({f"{c.name}: {lab}": float(d[0]) for lab, d in zip(c.labels, c.data)})
    return out


def test_car_and_heralding_efficiencies_match_the_source():
    src = SpdcPairSource(channels=(1, 2), pair_rate_hz=5e5, efficiency_signal=0.15, efficiency_idler=0.3,
                         jitter_ps=40.0, dark_count_hz=0.0)
    with open_tagger("sim", sim_clock="virtual", sim_seed=5, sim_sources=[src]) as h:
        res = make_run(h, "coincidences", groups="1,2", window_ps=1000, integration_s=1.0).acquire()
    v = _by_label(res)
    car, car_sigma = v["CAR: 1+2 CAR"], v["CAR: 1+2 CAR sigma"]
    truth = src.expected_car(1000)
    assert abs(car - truth) < 4 * car_sigma + 0.01 * truth, (car, car_sigma, truth)
    # each arm's efficiency is heralded by the other arm: (C - A)/S_herald (2 ns dead time: < 0.1 % loss)
    for key, eta, sigma in (("Heralding efficiency: eta2 (herald 1)", src.efficiency_idler, None),
                            ("Heralding efficiency: eta1 (herald 2)", src.efficiency_signal, None)):
        sigma = v[key + " sigma"]
        assert abs(v[key] - eta) < 4 * sigma + 0.003, (key, v[key], eta, sigma)
    assert v["Singles: ch1"] == pytest.approx(src.singles_hz()[0], rel=0.01)
    assert res.metadata["counts"]["1+2"] == pytest.approx(src.true_coincidences_hz(), rel=0.02)


def test_n_fold_accidentals_of_independent_light_match_the_formula():
    """Eckart-Shonka n·W^(n-1)·ΠS on four independent Poisson inputs: the measured 2-, 3- and 4-fold rates."""
    with open_tagger("sim", sim_clock="virtual", sim_seed=6,
                     sim_sources=[PoissonSource(channels=(1, 2, 3, 4), rate_hz=3e6)]) as h:
        res = make_run(h, "coincidences", groups="1,2;1,2,3;1,2,3,4", window_ps=5000, integration_s=0.5).acquire()
    v = _by_label(res)
    for g in ("1+2", "1+2+3", "1+2+3+4"):
        rate, sigma, acc = v[f"{g} rate"], v[f"{g} rate sigma"], v[f"{g} accidentals"]
        # S·W = 1.5 %: the formula's first-order expansion holds to a few S·W
        assert abs(rate - acc) < 4 * sigma + 0.05 * acc, (g, rate, acc, sigma)
        assert abs(v[f"{g} net"]) < 4 * v[f"{g} net sigma"] + 0.05 * acc


def test_poisson_intervals_cover_at_their_nominal_rate():
    """Exact (Garwood) 68.3 % intervals are conservative: coverage >= nominal for every mean, also at low counts."""
    rng = np.random.default_rng(1)
    for mu in (0.3, 2.0, 7.5, 40.0):
        n = rng.poisson(mu, 4000)
        bounds = {k: poisson_interval(int(k)) for k in np.unique(n)}
        covered = np.mean([bounds[k][0] <= mu <= bounds[k][1] for k in n])
        assert covered >= 0.6827 - 3 * np.sqrt(0.68 * 0.32 / n.size), (mu, covered)
    assert poisson_interval(0) == (0.0, pytest.approx(1.8410, abs=1e-3))


def test_accidental_formula_and_propagation():
    assert accidental_rate_hz([1e5, 2e5], 1000) == pytest.approx(2 * 1e-9 * 2e10)
    assert accidental_rate_hz([1e5, 1e5, 1e5, 1e5], 1000) == pytest.approx(4 * 1e-27 * 1e20)
    st = group_stats((1, 2), 0, [100, 100], 1.0, 1000)
    assert st.rate_sigma_hz == 1.0 and st.counts_interval[0] == 0.0   # zero counts: not a zero uncertainty
    with pytest.raises(ValueError):
        accidental_rate_hz([1e5], 1000)


@pytest.mark.parametrize("value,message", [("1", "2 to 8 channels"), ("1,1", "twice"), ("1,2;1,2", "twice"),
                                           ("1,x", "groups of channel numbers"), ("", "at least one group"),
                                           ("1,99", "not a channel")])
def test_bad_groups_are_refused_naming_the_setting(value, message):
    with open_tagger("sim", sim_clock="virtual", sim_seed=1, sim_sources=[]) as h:
        with pytest.raises(SettingsError, match=message) as e:
            make_run(h, "coincidences", groups=value)
        assert "groups" in str(e.value)
        with pytest.raises(SettingsError, match="window_ps"):
            make_run(h, "coincidences", groups="1,2", window_ps=-1)
        with pytest.raises(SettingsError, match="does not exist|channel"):
            make_run(h, "coincidences", groups="1,9")     # the Ultra has 8 inputs


def _hom_scan(tagger, delays_ps, step_s):
    src = hom_source(tagger)
    run = make_run(_Handle(tagger), "coincidences", groups="1,2", window_ps=1000, integration_s=step_s)
    counts, acc = [], []
    for d in delays_ps:
        src.delay_ps = float(d)
        res = run.acquire()
        counts.append(res.metadata["counts"]["1+2"])
        acc.append(_by_label(res)["1+2 accidentals"])
    run.close()
    return np.array(counts), float(np.mean(acc))


class _Handle:
    """The part of a TaggerHandle a Run uses, around a tagger opened with its own scene."""

    def __init__(self, tagger):
        self.tagger, self.api, self.simulated = tagger, TT, True
        self.description = "SIMULATED test tagger"


def test_hom_visibility_and_width_match_the_set_up(make_tagger):
    src = HongOuMandel(channels=(1, 2), pair_rate_hz=1e6, efficiency_signal=0.2, efficiency_idler=0.2,
                       coherence_time_ps=1.5, indistinguishability=0.9, dark_count_hz=300.0, jitter_ps=40.0)
    t = make_tagger(sources=[src], seed=11)
    delays = np.linspace(-6, 6, 25)
    counts, acc = _hom_scan(t, delays, 0.02)
    fit = fit_hom_dip(delays, counts, 0.02, offset_hz=acc)
    assert fit.valid
    assert abs(fit.visibility - 0.9) < 4 * fit.visibility_sigma, fit
    assert abs(fit.width_ps - 1.5) < 4 * fit.width_sigma_ps, fit
    assert abs(fit.centre_ps) < 4 * fit.centre_sigma_ps, fit
    # the offset left free finds the accidentals too (within its uncertainty): the visibility does not move much
    free = fit_hom_dip(delays, counts, 0.02, offset_hz=None)
    assert abs(free.visibility - fit.visibility) < 3 * fit.visibility_sigma


def test_hom_fit_refuses_what_it_cannot_fit():
    with pytest.raises(ValueError, match="non-negative integers"):
        fit_hom_dip(np.arange(6), [1.5, 2, 3, 4, 5, 6], 1.0)
    with pytest.raises(ValueError, match="at least 5"):
        fit_hom_dip([0, 1], [1, 2], 1.0)
    with pytest.raises(ValueError, match="shape"):
        fit_hom_dip(np.arange(6), np.arange(6), 1.0, shape="lorentzian")


def test_the_coincidences_viewer_grabs_the_datasets():
    from pymodaq.utils.plugin_testing import grab_and_wait, make_detector
    from pymodaq_plugins_timetagger.daq_viewer_plugins.plugins_0D.daq_0Dviewer_TimeTaggerCoincidences import \
        DAQ_0DViewer_TimeTaggerCoincidences
    det = make_detector(DAQ_0DViewer_TimeTaggerCoincidences, address="sim:pairs", integration_s=0.05)
    try:
        p = det.settings.child("measurement", "groups")
        p.setValue("1,2; 1,2,3,4")
        det.commit_settings(p)
        dte = grab_and_wait(det, 1, timeout_ms=20_000)
        names = [d.name for d in dte]
        assert names[:3] == ["Coincidences", "CAR", "Singles"] and "Heralding efficiency" in names
        coinc = dte.get_data_from_name("Coincidences")
        assert "1+2+3+4 accidentals sigma" in coinc.labels
        rate = coinc.data[coinc.labels.index("1+2 rate")][0]
        assert rate == pytest.approx(50e3, rel=0.15)
        p.setValue("1")                     # refused: the status names the setting, the last groups stay
        det.commit_settings(p)
        coinc = grab_and_wait(det, 1, timeout_ms=20_000).get_data_from_name("Coincidences")
        assert "1+2+3+4 rate" in coinc.labels
    finally:
        det.close()
