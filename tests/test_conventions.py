"""The named conventions of the vendor's library hold in the simulator (see hardware/conventions.py),
and the Correlation run is right whichever convention a backend follows."""
import numpy as np
import pytest

from pymodaq_plugins_timetagger.hardware import conventions
from pymodaq_plugins_timetagger.hardware import simulator as TT
from pymodaq_plugins_timetagger.hardware.access import open_tagger
from pymodaq_plugins_timetagger.hardware.simulator import measurements as sim_meas
from pymodaq_plugins_timetagger.runs import CorrelationSettings, make_run

PERIOD = TT.MODELS["ultra"].test_signal_period_ps


def test_constants_are_stated():
    assert conventions.CORRELATION_SIGN == "tau = t(channel_1) - t(channel_2)"
    assert conventions.CORRELATION_VENDOR_INDEX == "left edge"
    assert conventions.AUTOCORRELATION_SELF_PAIRS is True
    assert conventions.WAIT_ON_INDEFINITE_RETURNS is True


@pytest.mark.parametrize("n_bins,binwidth", [(1000, 1000), (201, 500), (4, 10), (5, 3)])
def test_correlation_index_is_the_vendors_left_edges(make_tagger, n_bins, binwidth):
    """libTimeTagger 2.22.6 Correlation::getIndex: i*binwidth - (n_bins*binwidth)/2 (integer division)."""
    t = make_tagger()
    corr = TT.Correlation(t, 1, 2, binwidth=binwidth, n_bins=n_bins)
    idx = corr.getIndex()
    assert idx.dtype == np.int64 and idx.shape == (n_bins,)
    np.testing.assert_array_equal(idx, np.arange(n_bins) * binwidth - (n_bins * binwidth) // 2)
    np.testing.assert_array_equal(idx, conventions.correlation_vendor_index(binwidth, n_bins))
    assert conventions.index_convention(idx, binwidth, n_bins) == "left edge"
    centres = conventions.correlation_bin_centres(binwidth, n_bins)
    np.testing.assert_array_equal(centres, idx + binwidth / 2)
    assert conventions.index_convention(centres, binwidth, n_bins) == "centre"
    z = conventions.correlation_zero_bin(binwidth, n_bins)
    assert idx[z] <= 0 < idx[z] + binwidth  # the zero bin holds tau = 0
    if n_bins % 2 and binwidth % 2 == 0:
        assert centres[n_bins // 2] == 0 == centres[z]  # odd n_bins: a bin centred on zero delay


def test_histogram_index_is_left_edges(make_tagger):
    t = make_tagger()
    h = TT.Histogram(t, 1, 2, binwidth=7, n_bins=9)
    np.testing.assert_array_equal(h.getIndex(), np.arange(9) * 7)


@pytest.mark.parametrize("delay", [+3000, -3000])
def test_correlation_sign_follows_channel_1_minus_channel_2(make_tagger, delay):
    """Delaying channel_1 moves the test-signal peak to positive tau (and the reverse)."""
    t = make_tagger()
    t.setTestSignal([1, 2], True)
    t.setInputDelay(1, delay)
    corr = TT.Correlation(t, 1, 2, binwidth=100, n_bins=201)  # odd: bin 100 is centred on 0
    corr.startFor(int(1e10))
    assert corr.waitUntilFinished(1000)
    peak = conventions.correlation_bin_centres(100, 201)[np.argmax(corr.getData())]
    assert abs(peak - delay) <= 100


def test_zero_delay_lands_on_the_bin_right_of_zero_for_even_n_bins(make_tagger):
    """Bins are closed on the left: tau = 0 (identical edges, no jitter) falls in [0, binwidth)."""
    ph = sim_meas._PairHistogram(conventions.correlation_first_edge(10, 4), 10, 4, same_channel=False)
    ph.add(np.array([1000, 5000], dtype=np.int64), np.array([1000, 4991], dtype=np.int64), None)
    # pairs: 0 (-> bin [0,10) = index 2), 9 (-> bin 2), 4000/-3991 out of the window
    np.testing.assert_array_equal(ph.hist, [0, 0, 2, 0])
    assert conventions.correlation_zero_bin(10, 4) == 2


def test_autocorrelation_counts_each_click_against_itself(make_tagger):
    """The vendor's auto-correlation puts every click once in the zero bin (channel_2 unused or equal)."""
    t = make_tagger()
    t.setTestSignal(1, True)
    auto = TT.Correlation(t, 1, binwidth=100, n_bins=201)   # +-10 ns: one test-signal edge per window
    same = TT.Correlation(t, 1, 1, binwidth=100, n_bins=201)
    cr = TT.Countrate(t, [1])
    for m in (auto, same, cr):
        m.startFor(10**10)
    t.sim_advance(10**10)
    n = int(cr.getCountsTotal()[0])
    assert abs(n - 8000) <= 1
    for m in (auto, same):
        d = m.getData()
        assert d[conventions.correlation_zero_bin(100, 201)] == n == d.sum()


# --- the Correlation run is right whichever convention the backend has ------------------------------
def _centre_index(self):
    return conventions.correlation_vendor_index(self._binwidth, self._n_bins) + self._binwidth // 2


def _run_correlation(monkeypatch, *, index_centres: bool, self_pairs: bool, **settings):
    if index_centres:  # what this simulator did before issue 10 (a backend following another convention)
        monkeypatch.setattr(sim_meas.Correlation, "getIndex", _centre_index)
    monkeypatch.setattr(sim_meas, "AUTOCORRELATION_SELF_PAIRS", self_pairs)
    with open_tagger("sim", sim_clock="virtual", sim_seed=11) as h:
        run = make_run(h, "correlation", CorrelationSettings(**settings))
        res = run.acquire()
        run.close()
    return res


@pytest.mark.parametrize("n_bins", [201, 200])
def test_axis_and_g2_zero_do_not_depend_on_the_backends_get_index(monkeypatch, n_bins):
    kw = dict(binwidth_ps=500, n_bins=n_bins, zero_window_ps=500, integration_s=1.0)
    vendor = _run_correlation(monkeypatch, index_centres=False, self_pairs=True, **kw)
    monkeypatch.undo()
    centre = _run_correlation(monkeypatch, index_centres=True, self_pairs=True, **kw)
    assert vendor.metadata["backend_index"] == "left edge" and centre.metadata["backend_index"] == "centre"
    np.testing.assert_array_equal(vendor.axis.values, centre.axis.values)
    expected_axis = (np.arange(n_bins) * 500 - (n_bins * 500) // 2 + 250) / 1e12
    np.testing.assert_allclose(vendor.axis.values, expected_axis, rtol=0, atol=1e-18)
    np.testing.assert_array_equal(vendor.data[0], centre.data[0])
    assert vendor.companions[0].data[0][0] == centre.companions[0].data[0][0]
    if n_bins % 2:  # one bin centred on 0 in the +-250 ps window: g2(0) is that bin alone
        assert vendor.companions[0].data[0][0] == vendor.data[0][n_bins // 2]


def test_g2_zero_of_the_default_emitter_is_the_zero_bin_alone(monkeypatch):
    """Regression (issue 10, item 1): labelling bins with the vendor's left edges averaged the zero bin
    with its neighbour. The plugin's defaults (500 ps x 201 bins, window 500 ps) must take bin 100 only."""
    res = _run_correlation(monkeypatch, index_centres=False, self_pairs=True, binwidth_ps=500, n_bins=201,
                           zero_window_ps=500, integration_s=2.0)
    g2 = res.data[0]
    assert res.companions[0].data[0][0] == g2[100]
    assert g2[100] < 0.5


@pytest.mark.parametrize("normalize", [True, False])
def test_autocorrelation_self_pairs_are_removed_whether_or_not_the_backend_counts_them(monkeypatch,
                                                                                      normalize):
    kw = dict(channel_1=5, channel_2=5, binwidth_ps=1000, n_bins=101, zero_window_ps=0,
              normalize=normalize, integration_s=0.5)
    with_pairs = _run_correlation(monkeypatch, index_centres=False, self_pairs=True, **kw)
    monkeypatch.undo()
    without = _run_correlation(monkeypatch, index_centres=False, self_pairs=False, **kw)
    assert with_pairs.metadata["self_pairs_removed"] > 50_000     # input 5: ~200 kcps Poisson for 0.5 s
    assert "removed" in with_pairs.metadata["self_pairs"]
    assert without.metadata["self_pairs_removed"] == 0 and "nothing removed" in without.metadata["self_pairs"]
    np.testing.assert_allclose(with_pairs.data[0], without.data[0], rtol=1e-12, atol=1e-12)
    # the zero bin of a single channel is empty once self-pairs are out (dead time > binwidth/2)
    assert with_pairs.data[0][50] == 0
    assert with_pairs.companions[0].data[0][0] == pytest.approx(without.companions[0].data[0][0], abs=1e-12)


def test_cross_correlation_has_no_self_pair_correction(monkeypatch):
    res = _run_correlation(monkeypatch, index_centres=False, self_pairs=True, binwidth_ps=1000, n_bins=11,
                           integration_s=0.1)
    assert "self_pairs_removed" not in res.metadata
