"""Vendor semantics the simulator once got wrong (issue 10), each with the run-level consequence."""
import numpy as np
import pytest

from pymodaq_plugins_timetagger.hardware import simulator as TT
from pymodaq_plugins_timetagger.hardware.access import open_tagger
from pymodaq_plugins_timetagger.hardware.simulator import PoissonSource
from pymodaq_plugins_timetagger.runs import make_run, overflow_counters

S = 10 ** 12


def test_countrate_is_nan_before_the_first_click(make_tagger):
    """Item 8: no click yet -> NaN (not 0 Hz, which would be a measured value)."""
    t = make_tagger()
    cr = TT.Countrate(t, [1, 2])  # nothing connected to 1 and 2 (sources=())
    t.sim_advance(S // 100)
    assert np.isnan(cr.getData()).all() and cr.getCountsTotal().tolist() == [0, 0]
    t.setTestSignal(1, True)
    cr.clear()
    t.sim_advance(S // 100)
    rate = cr.getData()
    assert rate[0] == pytest.approx(800e3, rel=1e-3) and rate[1] == 0


def test_countrate_accumulators_restart_at_every_start(make_tagger):
    """Item 8: stop() then start() starts the count over (unlike Counter/Correlation, which resume)."""
    t = make_tagger()
    t.setTestSignal(1, True)
    cr = TT.Countrate(t, [1])
    corr = TT.Correlation(t, 1, 1, binwidth=10, n_bins=11)
    t.sim_advance(S // 100)
    cr.stop()
    corr.stop()
    assert cr.getCountsTotal()[0] == pytest.approx(8000, abs=1)
    cr.start()
    corr.start()
    t.sim_advance(S // 1000)
    assert cr.getCountsTotal()[0] == pytest.approx(800, abs=1)          # restarted
    assert corr.getData().sum() == pytest.approx(8800, abs=2)           # resumed


def test_overflow_intervals_are_left_out_of_the_normalisation(make_tagger):
    """Also in issue 10: the vendor's g2 uses dt without the overflow intervals, so g2 stays ~1."""
    t = make_tagger("SIM-TT20-0001", sources=[PoissonSource(channels=(1, 2, 3), rate_hz=4e6)])
    corr = TT.Correlation(t, 1, 2, binwidth=1000, n_bins=201)
    third = TT.Countrate(t, [3])       # 3 x 4 Mcps in use: above the TT20's ~8.5 Mtags/s
    corr.startFor(S // 20)
    third.startFor(S // 20)
    t.sim_advance(S // 20)
    assert t.getOverflows() > 0 and corr._lost > 0
    g2 = corr.getDataNormalized()
    assert np.mean(g2) == pytest.approx(1.0, abs=0.03)
    naive = g2 * corr.getCaptureDuration() / (corr.getCaptureDuration() - corr._lost)
    assert np.mean(naive) > 1.1   # what dividing by the whole capture would give


def test_network_taggers_report_both_overflow_counters():
    """Item 3: on net: taggers, blocks lost between server and client are counted by the client only
    (wheel, TimeTaggerNetwork.getOverflowsClient: device and network losses since the connection)."""
    with open_tagger("sim", sim_clock="virtual", sim_seed=2) as h:
        assert overflow_counters(h.tagger) == {"hardware": 0}
        lost_on_network = [0]
        # the simulated tagger seen as a Network Time Tagger client: it gains the client counter
        h.tagger.getOverflowsClient = lambda: h.tagger.getOverflows() + lost_on_network[0]
        run = make_run(h, "countrate", channels=(5,), integration_s=0.01)
        res = run.acquire()
        assert res.metadata["overflows"] == 0
        assert res.metadata["overflows_hardware"] == 0 and res.metadata["overflows_client"] == 0
        lost_on_network[0] = 3
        run.clear()
        lost_on_network[0] = 6           # three blocks lost on the network during this capture
        res = run.snapshot()
        assert res.metadata["overflows"] == 3 and res.metadata["overflows_client"] == 3
        assert res.metadata["overflows_hardware"] == 0
        del h.tagger.getOverflowsClient
