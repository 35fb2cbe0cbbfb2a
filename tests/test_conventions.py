"""The named conventions of the time axes hold in the simulator (see hardware/conventions.py)."""
import numpy as np
import pytest

from pymodaq_plugins_timetagger.hardware import conventions
from pymodaq_plugins_timetagger.hardware import simulator as TT

PERIOD = TT.MODELS["ultra"].test_signal_period_ps


def test_constants_are_stated():
    assert conventions.CORRELATION_SIGN == "tau = t(channel_1) - t(channel_2)"
    assert conventions.CORRELATION_INDEX == "centre"
    assert conventions.HISTOGRAM_INDEX == "left edge"


@pytest.mark.parametrize("n_bins,binwidth", [(1000, 1000), (201, 500), (4, 10), (5, 3)])
def test_correlation_index_is_bin_centres_of_a_symmetric_window(make_tagger, n_bins, binwidth):
    t = make_tagger()
    corr = TT.Correlation(t, 1, 2, binwidth=binwidth, n_bins=n_bins)
    idx = corr.getIndex()
    assert idx.dtype == np.int64 and idx.shape == (n_bins,)
    first_edge = -((n_bins * binwidth) // 2)
    np.testing.assert_array_equal(idx, first_edge + np.arange(n_bins) * binwidth + binwidth // 2)
    np.testing.assert_array_equal(idx, conventions.correlation_index(binwidth, n_bins))
    if n_bins % 2 and binwidth % 2 == 0:
        assert idx[n_bins // 2] == 0  # odd n_bins: a bin centred on zero delay


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
    peak = corr.getIndex()[np.argmax(corr.getData())]
    assert abs(peak - delay) <= 100


def test_zero_delay_lands_on_the_bin_right_of_zero_for_even_n_bins(make_tagger):
    """Bins are closed on the left: tau = 0 (identical edges, no jitter) falls in [0, binwidth)."""
    from pymodaq_plugins_timetagger.hardware.simulator.measurements import _PairHistogram
    ph = _PairHistogram(conventions.correlation_first_edge(10, 4), 10, 4, same_channel=False)
    ph.add(np.array([1000, 5000], dtype=np.int64), np.array([1000, 4991], dtype=np.int64), None)
    # pairs: 0 (-> bin [0,10) = index 2), 9 (-> bin 2), 4000/-3991 out of the window
    np.testing.assert_array_equal(ph.hist, [0, 0, 2, 0])
