"""The simulator's CountBetweenMarkers and TimeDifferences: the wheel's signatures, and the semantics its docstrings
state (help(TimeTagger.CountBetweenMarkers), help(TimeTagger.GatedCounter), help(TimeTagger.TimeDifferences))."""
import numpy as np
import pytest

from pymodaq_plugins_timetagger.hardware import simulator as TT
from tests.support.scheduled import Scheduled
from tests.test_simulator_api import NO_DEFAULT, _agrees, _params, vendor  # noqa: F401 (fixture)

UNUSED = TT.CHANNEL_UNUSED
MS = 10 ** 9
# names and order: the wheel's docstrings; defaults: CountBetweenMarkers' docstring ("optional, default:
# 'CHANNEL_UNUSED'", "(default: 1000)"), TimeDifferences' from the vendor's API reference (its docstring says only
# "optional")
SIGNATURES = {
    "CountBetweenMarkers": [("tagger", NO_DEFAULT), ("click_channel", NO_DEFAULT), ("begin_channel", NO_DEFAULT),
                            ("end_channel", UNUSED), ("n_values", 1000)],
    "TimeDifferences": [("tagger", NO_DEFAULT), ("click_channel", NO_DEFAULT), ("start_channel", UNUSED),
                        ("next_channel", UNUSED), ("sync_channel", UNUSED), ("binwidth", 1000), ("n_bins", 1000),
                        ("n_histograms", 1)],
}
METHODS = {
    "CountBetweenMarkers": {"getData": [], "getBinWidths": [], "getIndex": [], "ready": []},
    "TimeDifferences": {"getData": [], "getIndex": [], "getHistogramIndex": [], "getCounts": [], "ready": [],
                        "setMaxCounts": [("max_counts", NO_DEFAULT)],
                        "setMaxRollovers": [("max_rollovers", NO_DEFAULT)]},
}


@pytest.mark.parametrize("cls", sorted(SIGNATURES))
def test_constructors_match_the_wheel(vendor, cls):
    theirs = _params(getattr(vendor, cls).__init__)
    assert [n for n, _ in theirs] == [n for n, _ in SIGNATURES[cls]]
    assert _agrees(theirs, SIGNATURES[cls])           # every default the wheel's docstring states
    assert _params(getattr(TT, cls).__init__) == SIGNATURES[cls]


@pytest.mark.parametrize("cls,method", [(c, m) for c in sorted(METHODS) for m in METHODS[c]])
def test_methods_match_the_wheel(vendor, cls, method):
    expected = METHODS[cls][method]
    assert _agrees(expected, _params(getattr(getattr(vendor, cls), method)))
    assert _params(getattr(getattr(TT, cls), method)) == expected
    ours = {n for n in dir(getattr(TT, cls)) if n.startswith("get")}
    assert ours <= {n for n in dir(getattr(vendor, cls)) if n.startswith("get")}


@pytest.mark.parametrize("cls,args", [("CountBetweenMarkers", (1, 2)), ("TimeDifferences", (1,))])
def test_none_tagger_raises_like_the_vendor(vendor, cls, args):
    with pytest.raises(ValueError) as theirs:
        getattr(vendor, cls)(None, *args)
    with pytest.raises(ValueError, match=str(theirs.value)):
        getattr(TT, cls)(None, *args)


def _tagger(make_tagger, times):
    return make_tagger(sources=[Scheduled(channels=tuple(times), times=times)])


def test_count_between_begin_markers(make_tagger):
    """Each begin marker stores the value opened by the one before; index from the first begin; filled -> ready."""
    clicks = np.arange(0.05, 80, 0.1) * MS                          # one click every 0.1 ms, between markers
    t = _tagger(make_tagger, {1: clicks, 2: [1 * MS, 2 * MS, 3 * MS, 5 * MS, 6 * MS, 7 * MS]})
    m = TT.CountBetweenMarkers(t, 1, 2, n_values=4)
    t.sim_advance(4 * MS)
    assert m.getData().tolist() == [10, 10, 0, 0] and not m.ready()
    t.sim_advance(10 * MS)
    assert m.getData().dtype == np.int32 and m.getData().tolist() == [10, 10, 20, 10] and m.ready()
    assert np.allclose(m.getBinWidths(), np.array([1, 1, 2, 1]) * MS, atol=100)
    assert np.allclose(m.getIndex(), np.array([0, 1, 2, 4]) * MS, atol=100)
    m.clear()                                    # back to waiting for a begin marker: nothing left to count here
    t.sim_advance(10 * MS)
    assert m.getData().tolist() == [0, 0, 0, 0] and not m.ready()


def test_count_between_begin_and_end_markers(make_tagger):
    """With an end channel, a value is stored at the end marker; clicks between end and next begin are not
    counted; a second end marker is ignored; a begin while a value is open stores it (start -> next start)."""
    clicks = np.arange(0.05, 20, 0.1) * MS
    begins = [1 * MS, 2 * MS, 3 * MS, 5 * MS]
    ends = [1.5 * MS, 2.5 * MS, 2.7 * MS, 6 * MS]                 # the begin at 3 ms has no end before the next
    t = _tagger(make_tagger, {1: clicks, 2: begins, 3: ends})
    m = TT.CountBetweenMarkers(t, 1, 2, 3, n_values=5)
    t.sim_advance(10 * MS)
    assert m.getData().tolist() == [5, 5, 20, 10, 0]
    assert np.allclose(m.getBinWidths(), np.array([0.5, 0.5, 2, 1, 0]) * MS, atol=100)


def test_values_carry_across_chunks_and_clicks_on_a_marker_open_the_value(make_tagger):
    """A long value spans many engine chunks; it counts every click exactly once."""
    clicks = np.arange(0.5, 500, 1.0) * MS
    t = _tagger(make_tagger, {1: clicks, 2: [100 * MS, 400 * MS, 450 * MS]})
    m = TT.CountBetweenMarkers(t, 1, 2, n_values=2)
    t.sim_advance(500 * MS)
    assert m.getData().tolist() == [300, 50]


def _sequence(make_tagger, n_steps_sent, sync_at, bins_of_click):
    """Steps at 1, 2, 3... µs-spaced ms: next at k ms, start at k ms + 0.1 ms, one click per start."""
    nxt = [(k + 1) * MS for k in range(n_steps_sent)]
    starts = [x + 0.1 * MS for x in nxt]
    clicks = [s + (b + 0.5) * 1000 for s, b in zip(starts, bins_of_click)]
    return _tagger(make_tagger, {1: clicks, 2: starts, 3: nxt, 4: sync_at})


def test_time_differences_steps_and_pauses_at_a_rollover_until_the_next_sync(make_tagger):
    # next at 1..6 ms; sync at 0.5 ms and 5.5 ms; 3 histograms
    t = _sequence(make_tagger, 6, [0.5 * MS, 5.5 * MS], bins_of_click=[1, 2, 3, 4, 5, 6])
    m = TT.TimeDifferences(t, 1, 2, 3, 4, binwidth=1000, n_bins=10, n_histograms=3)
    assert m.getHistogramIndex() == -2                            # waiting for a sync
    t.sim_advance(MS // 2 + MS // 10)
    assert m.getHistogramIndex() == -1                            # sync seen, waiting for next
    t.sim_advance(8 * MS)
    d = m.getData()
    assert d.shape == (3, 10) and d.dtype == np.int32
    # steps 1, 2, 3 -> histograms 0, 1, 2; the 4th next is a rollover (paused: its start is not counted), the 5th
    # is ignored; the sync at 5.5 ms and the 6th next restart at histogram 0
    assert [np.flatnonzero(r).tolist() for r in d] == [[1, 6], [2], [3]]
    assert m.getCounts() == 1 and m.getHistogramIndex() == 0
    assert m.getIndex().tolist() == list(range(0, 10000, 1000))


def test_time_differences_without_sync_wraps_and_set_max_counts_stops(make_tagger):
    t = _sequence(make_tagger, 7, [], bins_of_click=[1, 2, 3, 4, 5, 6, 7])
    m = TT.TimeDifferences(t, 1, 2, 3, binwidth=1000, n_bins=10, n_histograms=3)
    m.setMaxCounts(2)
    t.sim_advance(9 * MS)
    # histograms 0,1,2,0(1st rollover),1,2 then the 7th next is the 2nd rollover: stop, ready
    assert [np.flatnonzero(r).tolist() for r in m.getData()] == [[1, 4], [2, 5], [3, 6]]
    assert m.getCounts() == 2 and m.ready()


def test_time_differences_without_next_is_one_histogram(make_tagger):
    t = _sequence(make_tagger, 3, [], bins_of_click=[1, 1, 7])
    m = TT.TimeDifferences(t, 1, 2, binwidth=1000, n_bins=10)
    t.sim_advance(5 * MS)
    assert m.getData().tolist() == [[0, 2, 0, 0, 0, 0, 0, 1, 0, 0]] and m.getHistogramIndex() == 0


def _reference_indices(kinds, n, with_sync, max_rollovers=0):
    """The stepping rules of the wheel's docstring, one marker at a time: the index after each marker, rollovers."""
    state = -2 if with_sync else -1
    out, rollovers = [], 0
    for k in kinds:
        if k == "sync":
            state = -1
        elif state == -2:
            pass
        elif state == -1:
            state = 0
        elif state == n - 1:
            rollovers += 1
            state = -2 if with_sync else 0
            if max_rollovers and rollovers >= max_rollovers:
                out.append(-2)
                return out + [-2] * (len(kinds) - len(out)), rollovers
        else:
            state += 1
        out.append(state)
    return out, rollovers


@pytest.mark.parametrize("seed", range(6))
def test_time_differences_steps_like_the_rules_on_random_markers(make_tagger, seed):
    """Random sync/next sequences over many engine chunks: each start's histogram is the one the rules give."""
    rng = np.random.default_rng(seed)
    n, with_sync = int(rng.integers(1, 5)), bool(seed % 2 == 0)
    kinds = list(rng.choice(["next", "next", "next", "sync"] if with_sync else ["next"], 60))
    t_marker = (np.arange(60) + 1) * 3 * MS                  # 3 ms apart: engine chunks split them
    max_rollovers = int(rng.integers(0, 4))
    expected, rolls = _reference_indices(kinds, n, with_sync, max_rollovers)
    times = {3: [t for t, k in zip(t_marker, kinds) if k == "next"], 2: list(t_marker + MS), 1: []}
    # one click 0.5 bins + marker number after each start: the bin tells which start it belongs to
    times[1] = [t + MS + (i + 0.5) * 1000 for i, t in enumerate(t_marker)]
    if with_sync:
        times[4] = [t for t, k in zip(t_marker, kinds) if k == "sync"]
    t = _tagger(make_tagger, times)
    m = TT.TimeDifferences(t, 1, 2, 3, 4 if with_sync else UNUSED, binwidth=1000, n_bins=60, n_histograms=n)
    m.setMaxCounts(max_rollovers)
    t.sim_advance(200 * MS)
    want = np.zeros((n, 60), dtype=np.int32)
    for i, h in enumerate(expected):
        if h >= 0:
            want[h, i] += 1
    assert m.getData().tolist() == want.tolist()
    assert m.getCounts() == rolls
