"""The simulator's virtual channels, conditional filter and SynchronizedMeasurements: the wheel's signatures and
the semantics its docstrings state, each checked on tags whose truth is known."""
import numpy as np
import pytest

from pymodaq_plugins_timetagger.hardware import simulator as TT
from pymodaq_plugins_timetagger.hardware.access import load_vendor_api
from pymodaq_plugins_timetagger.hardware.errors import VendorLibraryMissing
from pymodaq_plugins_timetagger.hardware.simulator import PoissonSource

from .test_simulator_api import _params

S = 10 ** 12
CLASSES = {
    "Coincidences": ["getChannels", "setCoincidenceWindow"],
    "Coincidence": ["getChannel", "getChannels", "setCoincidenceWindow"],
    "Combiner": ["getChannel", "getChannelCounts", "getData"],
    "DelayedChannel": ["getChannel", "getChannels", "setDelay"],
    "GatedChannel": ["getChannel", "getChannels"],
    "SynchronizedMeasurements": ["getTagger", "registerMeasurement", "unregisterMeasurement", "start", "startFor",
                                 "stop", "clear", "isRunning", "waitUntilFinished"],
}
TAGGER_METHODS = ["setConditionalFilter", "getConditionalFilterTrigger", "getConditionalFilterFiltered",
                  "clearConditionalFilter", "setEventDivider", "getEventDivider", "getDelayHardwareRange"]


@pytest.fixture(scope="module")
def vendor():
    try:
        return load_vendor_api()
    except VendorLibraryMissing:
        pytest.skip("Swabian-TimeTagger is not installed on this platform")


def _names_and_defaults(params):
    """Defaults compared as the wheel states them: enum members by name ('Last', 'Closed')."""
    out = []
    for name, d in params:
        if hasattr(d, "name"):
            d = d.name
        elif isinstance(d, str) and "::" in d:
            d = d.strip("`").split("::")[-1]
        out.append((name, d if isinstance(d, (int, str)) else "<none>"))
    return out


@pytest.mark.parametrize("cls", sorted(CLASSES))
def test_constructor_parameters_match_the_wheel(vendor, cls):
    assert _names_and_defaults(_params(getattr(TT, cls).__init__)) == \
        _names_and_defaults(_params(getattr(vendor, cls).__init__))


@pytest.mark.parametrize("cls,method", [(c, m) for c, ms in sorted(CLASSES.items()) for m in ms])
def test_methods_match_the_wheel(vendor, cls, method):
    ours, theirs = getattr(getattr(TT, cls), method), getattr(getattr(vendor, cls), method)
    assert [n for n, _ in _params(ours)] == [n for n, _ in _params(theirs)]


@pytest.mark.parametrize("method", TAGGER_METHODS)
def test_tagger_methods_match_the_wheel(vendor, method):
    assert [n for n, _ in _params(getattr(TT.TimeTagger, method))] == \
        [n for n, _ in _params(getattr(vendor.TimeTagger, method))]


def test_enums_match_the_wheel(vendor):
    for ours, theirs in ((TT.CoincidenceTimestamp, vendor.CoincidenceTimestamp),
                         (TT.GatedChannelInitial, vendor.GatedChannelInitial)):
        assert {m.name: int(m) for m in ours} == {m.name: int(m) for m in theirs}


def _peak_ps(tagger, a, b, seconds=0.01):
    """Where the Correlation t(a) - t(b) peaks, ps (10 ps bins)."""
    corr = TT.Correlation(tagger, a, b, binwidth=10, n_bins=801)
    corr.startFor(int(seconds * S))
    corr.waitUntilFinished()
    return int(corr.getIndex()[np.argmax(corr.getData())]) + 5


@pytest.mark.parametrize("mode,expected_ps", [("Last", 300), ("First", 0), ("ListedFirst", 300),
                                              ("Average", 150)])
def test_coincidence_timestamp_modes(make_tagger, mode, expected_ps):
    """Test signal on 1 and 2, input 2 delayed by 300 ps: the coincidence event carries the time the mode says."""
    t = make_tagger()
    t.setTestSignal([1, 2], True)
    t.setInputDelay(2, 300)
    group = [2, 1] if mode == "ListedFirst" else [1, 2]
    co = TT.Coincidence(t, group, coincidenceWindow=1000, timestamp=getattr(TT.CoincidenceTimestamp, mode))
    assert abs(_peak_ps(t, co.getChannel(), 1) - expected_ps) <= 30   # jitter ~9 ps, skew <= 10 ps


def test_coincidence_window_and_counts(make_tagger):
    """Test-signal edges (800 kHz) seen on 1 and 2 within the window: one event per edge; out of it: none."""
    t = make_tagger()
    t.setTestSignal([1, 2, 3], True)
    t.setInputDelay(3, 5000)
    co = TT.Coincidences(t, [[1, 2], [1, 3], [1, 2, 3]], 1000)
    assert co.getChannels() == [TT.virtual_channels.FIRST_VIRTUAL_CHANNEL + i for i in range(3)]
    cr = TT.Countrate(t, co.getChannels())
    cr.startFor(S // 100)
    cr.waitUntilFinished()
    n = cr.getCountsTotal()
    assert abs(n[0] - 8000) <= 1 and n[1:].tolist() == [0, 0]   # an edge split by the window's end
    co.setCoincidenceWindow(6000)
    cr.startFor(S // 100)
    cr.waitUntilFinished()
    assert np.abs(cr.getCountsTotal() - 8000).max() <= 1


def test_accidental_coincidences_of_poisson_light(make_tagger):
    """Independent Poisson inputs: 2-fold accidentals 2·W·S1·S2, 3-fold 3·W²·S1·S2·S3 (Eckart and Shonka)."""
    t = make_tagger(sources=[PoissonSource(channels=(1, 2, 3), rate_hz=2e6)])
    w = 2000
    co = TT.Coincidences(t, [[1, 2], [1, 2, 3]], w)
    cr = TT.Countrate(t, [1, 2, 3, *co.getChannels()])
    cr.startFor(S)
    cr.waitUntilFinished()
    s1, s2, s3, c2, c3 = cr.getCountsTotal()
    wt = w * 1e-12
    exp2, exp3 = 2 * wt * s1 * s2, 3 * wt ** 2 * s1 * s2 * s3
    assert abs(c2 - exp2) < 4 * np.sqrt(exp2) + 0.01 * exp2
    assert abs(c3 - exp3) < 4 * np.sqrt(exp3) + 0.02 * exp3


def test_combiner_delayed_and_gated_channels(make_tagger):
    t = make_tagger(sources=[PoissonSource(channels=(4,), rate_hz=1e5)])
    t.setTestSignal([1, 2], True)
    t.setInputDelay(2, 600_000)          # the gate opens on 1, closes 600 ns later on 2 (period 1.25 us)
    comb = TT.Combiner(t, [1, 4])
    dly = TT.DelayedChannel(t, 1, 2500)
    gate = TT.GatedChannel(t, 4, 1, 2)
    cr = TT.Countrate(t, [1, 4, comb.getChannel(), dly.getChannel(), gate.getChannel()])
    cr.startFor(S // 10)
    cr.waitUntilFinished()
    n1, n4, nc, nd, ng = cr.getCountsTotal()
    assert nc == n1 + n4 and comb.getChannelCounts().tolist() == [n1, n4]
    assert abs(nd - n1) <= 1
    assert abs(ng - 0.48 * n4) < 5 * np.sqrt(n4)       # open 600 of every 1250 ns
    assert abs(_peak_ps(t, dly.getChannel(), 1) - 2500) <= 30
    with pytest.raises(ValueError, match="gate_start_channel"):
        TT.GatedChannel(t, 4, 1, 1)
    with pytest.raises(ValueError, match="negative delay"):
        TT.DelayedChannel(t, 1, -5)


def test_conditional_filter_keeps_the_first_sync_after_each_click(make_tagger):
    """Trigger = a sparse detector (4), filtered = the 800 kHz test signal on 1: one sync per click passes."""
    t = make_tagger(sources=[PoissonSource(channels=(4,), rate_hz=2e4)])
    t.setTestSignal(1, True)
    t.setConditionalFilter([4], [1])
    assert t.getConditionalFilterTrigger() == [4] and t.getConditionalFilterFiltered() == [1]
    cr = TT.Countrate(t, [1, 4])
    cr.startFor(S // 10)
    cr.waitUntilFinished()
    n1, n4 = cr.getCountsTotal()
    assert 0 < n1 <= n4 and n1 > 0.97 * n4   # two clicks within one period give one sync
    hist = TT.Histogram(t, 1, 4, binwidth=10_000, n_bins=200)   # each passed sync follows its click
    hist.startFor(S // 10)
    hist.waitUntilFinished()
    assert hist.getData()[:125].sum() >= 0.97 * hist.getData().sum()
    t.clearConditionalFilter()
    cr.startFor(S // 100)
    cr.waitUntilFinished()
    assert cr.getCountsTotal()[0] == pytest.approx(8000, abs=2)


def test_synchronized_measurements_share_one_window(make_tagger):
    t = make_tagger(clock="wall", sources=[PoissonSource(channels=(1, 2), rate_hz=5e5)])
    sync = TT.SynchronizedMeasurements(t)
    proxy = sync.getTagger()
    a = TT.Countrate(proxy, [1, 2])
    co = TT.Coincidence(proxy, [1, 2], 1000)
    b = TT.Countrate(proxy, [1, 2, co.getChannel()])
    assert not a.isRunning() and not b.isRunning(), "the wheel: they do not start automatically"
    sync.startFor(S // 20)
    assert sync.isRunning()
    assert sync.waitUntilFinished(10_000)
    assert a.getCaptureDuration() == b.getCaptureDuration() == S // 20
    assert a.getCountsTotal().tolist() == b.getCountsTotal()[:2].tolist()


@pytest.mark.parametrize("mode", [0, 1, 2, 3])
def test_numba_and_numpy_coincidence_kernels_agree(mode):
    """Same events, same carried state, bit for bit: random tags with ties, across two chunks, 2- to 4-fold."""
    pytest.importorskip("numba")
    from pymodaq_plugins_timetagger.hardware.simulator import coincidence_kernel as ck
    from pymodaq_plugins_timetagger.hardware.simulator import kernels
    rng = np.random.default_rng(mode)
    old = kernels.backend()
    try:
        for k in (2, 3, 4):
            chunks = [[np.sort(rng.integers(c * 10**6, (c + 1) * 10**6, 3000)) // 7 * 7 for _ in range(k)]
                      for c in range(2)]       # // 7 * 7: many equal times across channels
            results = {}
            for backend in ("numpy", "numba"):
                kernels.set_backend(backend)
                latest = np.full(k, ck.NO_TAG, dtype=np.int64)
                out = []
                for parts in chunks:
                    offsets = np.concatenate(([0], np.cumsum([p.size for p in parts]))).astype(np.int64)
                    out.append(ck.coincidences(np.concatenate(parts), offsets, latest, 500, mode))
                results[backend] = (np.concatenate(out), latest.copy())
            assert results["numpy"][0].size > 100
            np.testing.assert_array_equal(results["numpy"][0], results["numba"][0])
            np.testing.assert_array_equal(results["numpy"][1], results["numba"][1])
    finally:
        kernels.set_backend(old)
