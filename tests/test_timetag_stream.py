"""The simulator's TimeTagStream against the vendor's wheel (names, signatures, properties) and its semantics."""
import inspect

import numpy as np
import pytest

from pymodaq_plugins_timetagger.hardware import simulator as TT
from pymodaq_plugins_timetagger.hardware.simulator import PoissonSource

S = 10 ** 12


@pytest.fixture(scope="module")
def vendor():
    try:
        from Swabian import TimeTagger
    except ImportError:
        pytest.skip("Swabian-TimeTagger is not installed on this platform")
    return TimeTagger


def _names(func):
    return [p for p in inspect.signature(func).parameters if p != "self"]


def test_the_constructor_and_methods_have_the_wheels_names(vendor):
    assert _names(TT.TimeTagStream.__init__) == _names(vendor.TimeTagStream.__init__) \
        == ["tagger", "n_max_events", "channels"]
    for name in ("getData", "getCounts"):
        assert _names(getattr(TT.TimeTagStream, name)) == _names(getattr(vendor.TimeTagStream, name)) == []
    for name in ("getTimestamps", "getChannels", "getEventTypes", "getMissedEvents", "getOverflows"):
        assert _names(getattr(TT.TimeTagStreamBuffer, name)) == _names(getattr(vendor.TimeTagStreamBuffer, name))
    for name in ("size", "hasOverflows", "tStart", "tGetData"):   # properties in the wheel, not methods
        assert isinstance(inspect.getattr_static(vendor.TimeTagStreamBuffer, name), property)
        assert isinstance(inspect.getattr_static(TT.TimeTagStreamBuffer, name), property)
    assert {t.name: int(t) for t in TT.TagType} == {t.name: int(t) for t in vendor.TagType}


def test_every_tag_comes_once_in_time_order_with_the_vendors_dtypes(make_tagger):
    t = make_tagger(sources=[PoissonSource(channels=(1, 2), rate_hz=1e6)])
    stream = TT.TimeTagStream(t, 10 ** 6, [1, 2])
    rate = TT.Countrate(t, [1, 2])
    parts = []
    for _ in range(5):
        t.sim_advance(S // 1000)
        assert stream.getCounts() > 0
        parts.append(stream.getData())
        assert stream.getCounts() == 0
    ts = np.concatenate([p.getTimestamps() for p in parts])
    ch = np.concatenate([p.getChannels() for p in parts])
    b = parts[0]
    assert (b.getTimestamps().dtype, b.getChannels().dtype, b.getEventTypes().dtype, b.getMissedEvents().dtype) \
        == (np.int64, np.int32, np.uint8, np.uint16)
    assert np.all(np.diff(ts) >= 0) and ts.size == len(set(zip(ts.tolist(), ch.tolist())))
    assert [int((ch == c).sum()) for c in (1, 2)] == rate.getCountsTotal().tolist()
    assert parts[1].tGetData - parts[0].tGetData == S // 1000 and parts[0].tStart == 0
    assert not any(p.hasOverflows for p in parts)


def test_a_full_buffer_keeps_n_max_events_and_discards_the_newest(make_tagger):
    t = make_tagger()
    t.setTestSignal(1, True)                      # 800 k edges per second
    small = TT.TimeTagStream(t, 1000, [1])
    large = TT.TimeTagStream(t, 10 ** 6, [1])
    t.sim_advance(S // 100)                       # about 8000 edges
    buf, everything = small.getData(), large.getData()
    assert buf.size == 1000 and small.sim_discarded == everything.size - 1000 > 0  # size == n_max_events
    assert buf.getTimestamps().tolist() == everything.getTimestamps()[:1000].tolist()


def test_overflows_are_marked_and_the_lost_tags_counted(make_tagger):
    t = make_tagger("SIM-TT20-0001", sources=[PoissonSource(channels=(1, 2, 3), rate_hz=4e6)])
    stream = TT.TimeTagStream(t, 10 ** 7, [1, 2, 3])
    rate = TT.Countrate(t, [1, 2, 3])
    stream.startFor(S // 50)
    rate.startFor(S // 50)
    stream.waitUntilFinished()
    buf = stream.getData()
    ty, mi = buf.getEventTypes(), buf.getMissedEvents()
    assert buf.hasOverflows and t.getOverflows() > 0
    assert (ty == TT.TagType.OverflowBegin).sum() == t.getOverflows()
    assert (ty == TT.TagType.TimeTag).sum() == rate.getCountsTotal().sum()
    # every tag the engine generated is either delivered or counted as missed
    rate_hz, dead_s = 4e6, t.getDeadtime(1) * 1e-12            # non-paralysable dead time: r / (1 + r·τ)
    expected = 3 * rate_hz / (1 + rate_hz * dead_s) * 0.02
    assert (ty == TT.TagType.TimeTag).sum() + int(mi.sum()) == pytest.approx(expected, rel=0.01)
    assert buf.getOverflows().tolist() == (ty != TT.TagType.TimeTag).astype(int).tolist()


def test_a_sliver_of_a_chunk_is_no_overflow(make_tagger):
    """The transfer rate is sustained over at least a millisecond: a chunk of a few ps at the end of an advance
    (the engine's chunks rarely divide the advance) allowed 0 tags and counted its one tag as an overflow."""
    t = make_tagger()
    released = {1: np.array([1_000_000_000_005], dtype=np.int64)}
    assert t._limit_rate(released, 1_000_000_000_000, 1_000_000_000_010) is None
    assert released[1].size == 1 and t.getOverflows() == 0
