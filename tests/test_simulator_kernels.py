"""The simulator's kernels: numpy and numba give the same results bit for bit, and both are right.

Every kernel is checked against a straightforward reference written here (brute force over all pairs,
a sequential dead-time loop) on seeded inputs with the edge cases (same stream for starts and stops,
empty streams, tags exactly on bin and window edges, windows wider than 2**32 ps), then whole seeded
simulator runs are compared between the two backends. The rest of the suite runs on the numpy kernels
(conftest.py sets PYMODAQ_TIMETAGGER_KERNELS=numpy): with these tests, both paths are covered.
"""
import math

import numpy as np
import pytest

from pymodaq_plugins_timetagger.hardware import simulator as TT
from pymodaq_plugins_timetagger.hardware.simulator import PoissonSource, kernels
from pymodaq_plugins_timetagger.hardware.simulator.sources import apply_dead_time

HAVE_NUMBA = kernels.numba_available()
BACKENDS = ["numpy", pytest.param("numba", marks=pytest.mark.skipif(
    not HAVE_NUMBA, reason="numba not installed (optional extra [fast])"))]


@pytest.fixture(params=BACKENDS)
def backend(request):
    previous = kernels.backend()
    kernels.set_backend(request.param)
    yield request.param
    kernels.set_backend(previous)


def reference_pairs(stops, starts, lo, bw, n):
    """Brute force: every (start, stop) pair, τ = stop − start, bins [lo + k·bw, lo + (k+1)·bw)."""
    tau = (stops[None, :] - starts[:, None]).ravel()
    tau = tau[(tau >= lo) & (tau < lo + n * bw)]
    return np.bincount((tau - lo) // bw, minlength=n).astype(np.int64)


def reference_dead_time(times, dead, last_kept):
    kept = []
    for t in times:
        if t - last_kept >= dead:
            kept.append(t)
            last_kept = t
    return np.array(kept, dtype=times.dtype), float(last_kept)


def sorted_tags(rng, n, span):
    return np.sort(rng.integers(0, span, n)).astype(np.int64)


def pair_cases():
    rng = np.random.default_rng(2024)
    a = sorted_tags(rng, 300, 200_000)
    b = sorted_tags(rng, 250, 200_000)
    empty = np.empty(0, dtype=np.int64)
    grid = np.arange(0, 40_000, 1000, dtype=np.int64)   # every difference is a multiple of the bin width
    bunched = np.repeat(sorted_tags(rng, 60, 100_000), 3)  # equal tags (ties)
    return [
        ("cross", a, b, -5005, 10, 1001),
        ("same stream (auto)", a, a, -5005, 10, 1001),
        ("lifetime window, lo = 0", a, b, 0, 1000, 50),
        ("window after zero", a, b, 3000, 7, 333),
        ("window before zero", a, b, -90_000, 3, 100),
        ("edges on the grid", grid, grid, -10_000, 1000, 20),
        ("edges on the grid, same", grid, grid, 0, 1000, 10),
        ("ties", bunched, bunched, -2000, 1, 4001),
        ("one bin", a, b, -100, 200, 1),
        ("no stops", empty, b, -500, 10, 100),
        ("no starts", a, empty, -500, 10, 100),
        ("window wider than 2**32 ps", a * 100_000, b * 100_000, -(2**33), 2**31 + 7, 4),
    ]


@pytest.mark.parametrize("name,stops,starts,lo,bw,n", pair_cases(), ids=[c[0] for c in pair_cases()])
def test_pair_histogram_matches_brute_force(backend, name, stops, starts, lo, bw, n):
    hist = guarded_zeros(n)
    kernels.pair_histogram(stops, starts, lo, bw, hist)
    np.testing.assert_array_equal(hist, reference_pairs(stops, starts, lo, bw, n))
    assert_guards_intact(hist)


def guarded_zeros(n):
    """n zeros inside a buffer with a sentinel on either side (compiled code does not check bounds)."""
    buf = np.full(n + 2, -99, dtype=np.int64)
    buf[1:-1] = 0
    return buf[1:-1]


def assert_guards_intact(hist):
    assert hist.base[0] == hist.base[-1] == -99, "a kernel wrote outside the histogram"


def test_pair_histogram_counts_the_window_edges_as_documented(backend):
    """A pair at τ = lo is in bin 0, one at lo + k·bw starts bin k, one at lo + n·bw is outside."""
    lo, bw, n = -30, 10, 6
    starts = np.array([1000], dtype=np.int64)
    stops = starts + np.array([lo - 1, lo, lo + 9, lo + 10, lo + n * bw - 1, lo + n * bw], dtype=np.int64)
    hist = guarded_zeros(n)
    kernels.pair_histogram(stops, starts, lo, bw, hist)
    np.testing.assert_array_equal(hist, [2, 1, 0, 0, 0, 1])
    assert_guards_intact(hist)


def test_pair_histogram_refuses_windows_beyond_int64(backend):
    tags = np.array([0, 10], dtype=np.int64)
    for lo, bw in ((-(2**62), 1), (0, 2**60), (-(2**62) + 1, 2**61)):
        with pytest.raises(OverflowError, match="window .* reaches"):
            kernels.pair_histogram(tags, tags, lo, bw, np.zeros(4, dtype=np.int64))
    hist = np.zeros(4, dtype=np.int64)
    kernels.pair_histogram(tags, tags, -(2**62) + 1, 2**61 - 1, hist)  # about the widest allowed
    np.testing.assert_array_equal(hist, [0, 1, 3, 0])  # τ = -10 in bin 1 ([-2**61, -1)); 0, 0, 10 in bin 2


def test_pair_histogram_adds_to_what_is_there(backend):
    rng = np.random.default_rng(5)
    a, b = sorted_tags(rng, 100, 10_000), sorted_tags(rng, 100, 10_000)
    hist = np.full(20, 7, dtype=np.int64)
    kernels.pair_histogram(a, b, -1000, 100, hist)
    np.testing.assert_array_equal(hist, 7 + reference_pairs(a, b, -1000, 100, 20))


@pytest.mark.parametrize("dtype", [np.int64, np.float64])
@pytest.mark.parametrize("dead", [2000, 2000.0, 3333.3])
@pytest.mark.parametrize("last_kept", [-math.inf, -1500.0, 500.0, "exactly dead time before times[3]"])
def test_dead_time_matches_the_sequential_definition(backend, dtype, dead, last_kept):
    rng = np.random.default_rng(17)
    gaps = rng.exponential(1500.0, 3000)
    gaps[::50] = 0.0      # ties
    gaps[1::37] = 2000.0  # gaps of exactly the dead time
    times = np.cumsum(np.round(gaps) if dtype is np.int64 else gaps).astype(dtype)
    if isinstance(last_kept, str):
        last_kept = float(times[3]) - dead  # times[3] ends the dead time left by the previous chunk: kept
    kept, last = apply_dead_time(times, dead, last_kept)
    ref, ref_last = reference_dead_time(times, dead, last_kept)
    np.testing.assert_array_equal(kept, ref)
    assert kept.dtype == times.dtype
    assert last == ref_last


def test_dead_time_of_a_chunk_that_is_all_dead(backend):
    times = np.array([10, 20, 30], dtype=np.int64)
    kept, last = apply_dead_time(times, 100, 0.0)
    assert kept.size == 0 and last == 0.0


def rounding_inputs():
    rng = np.random.default_rng(3)
    rel = np.sort(rng.uniform(0, 1e9, 5000))
    rel[:200] = np.floor(rel[:200]) + 0.5   # ties of rint (to even)
    noise = rng.standard_normal(rel.size)
    noise[:20] = [8.0, -8.0, 7.0, -7.0, 50.0] * 4  # clipped at ±7 sigma
    return rel, noise


@pytest.mark.skipif(not HAVE_NUMBA, reason="numba not installed (optional extra [fast])")
@pytest.mark.parametrize("offset", [0.0, 10_000.0, 0.25])
def test_tag_rounding_is_bit_identical(offset):
    rel, noise = rounding_inputs()
    out = {}
    for name in ("numpy", "numba"):
        kernels.set_backend(name)
        out[name] = (kernels.jitter_to_tags(rel, offset, noise.copy(), 7.0, 8.5, 123),
                     kernels.round_to_tags(rel, offset, -7))
    kernels.set_backend(None)
    np.testing.assert_array_equal(out["numpy"][0], out["numba"][0])
    np.testing.assert_array_equal(out["numpy"][1], out["numba"][1])
    z = np.clip(noise, -7.0, 7.0)  # and both are what the formula says
    np.testing.assert_array_equal(out["numpy"][0], np.rint((rel + offset) + z * 8.5).astype(np.int64) + 123)
    assert out["numpy"][0].dtype == np.int64


@pytest.mark.skipif(not HAVE_NUMBA, reason="numba not installed (optional extra [fast])")
def test_arrivals_are_bit_identical():
    gaps = np.random.default_rng(4).standard_exponential(100_001)
    out = {}
    for name in ("numpy", "numba"):
        kernels.set_backend(name)
        out[name] = kernels.arrivals(gaps.copy(), 1e11)
    kernels.set_backend(None)
    np.testing.assert_array_equal(out["numpy"], out["numba"])
    cum = np.cumsum(gaps)
    np.testing.assert_array_equal(out["numpy"], cum[:-1] * (1e11 / cum[-1]))  # the formula, in numpy


def test_bin_counts(backend):
    rng = np.random.default_rng(8)
    origin, bw, lo_bin = 1_000, 250, 4
    tags = np.sort(rng.integers(origin + lo_bin * bw, origin + 30 * bw, 2000)).astype(np.int64)
    tags[:3] = origin + lo_bin * bw  # exactly on the first edge
    out = guarded_zeros(26)
    kernels.bin_counts(tags, origin, bw, lo_bin, out)
    np.testing.assert_array_equal(out, np.histogram(tags, bins=origin + (lo_bin + np.arange(27)) * bw)[0])
    assert_guards_intact(out)


def test_backend_choice(monkeypatch):
    with pytest.raises(ValueError, match="'numba' or 'numpy'"):
        kernels.set_backend("fortran")
    monkeypatch.setenv(kernels.ENV_VAR, "numpy")
    assert kernels.set_backend(None) == "numpy" == kernels.backend()
    monkeypatch.setenv(kernels.ENV_VAR, "gpu")
    with pytest.raises(ValueError, match="PYMODAQ_TIMETAGGER_KERNELS must be"):
        kernels.set_backend(None)
    monkeypatch.delenv(kernels.ENV_VAR)
    assert kernels.set_backend(None) == ("numba" if HAVE_NUMBA else "numpy")
    monkeypatch.setenv(kernels.ENV_VAR, "numpy")
    kernels.set_backend(None)


TT_S = 10**12


def seeded_run():
    """Every measurement of a bright seeded run (jitter, dead times, divider, falling edges, test signal)."""
    src = PoissonSource(channels=(1, 2, 3), rate_hz=5e6, jitter_ps=20.0, dark_count_hz=1e3,
                        dead_time_ps=3000.0)
    t = TT.createTimeTagger(clock="virtual", seed=11, sources=[src])
    try:
        t.setDeadtime(2, 10_000)
        t.setTestSignal(4, True)
        t.setEventDivider(3, 3)
        t.setInputDelay(2, -1234)
        ms = [TT.Correlation(t, 1, 2, 1000, 1001), TT.Correlation(t, -1, 2, 7, 999),
              TT.Correlation(t, 3, binwidth=1000, n_bins=101), TT.Correlation(t, 4, 3, 333, 77),
              TT.Histogram(t, 1, 4, 1000, 1000), TT.Histogram(t, 2, binwidth=100, n_bins=600),
              TT.Counter(t, [1, 2, 3, 4, -2], 10**9 // 3, 20)]
        rate = TT.Countrate(t, [1, 2, 3, 4, -1, -2])
        for m in [*ms, rate]:
            m.startFor(TT_S // 20)
        for m in [*ms, rate]:
            m.waitUntilFinished()
        return [m.getData() for m in ms] + [rate.getCountsTotal()]
    finally:
        TT.freeTimeTagger(t)


@pytest.mark.skipif(not HAVE_NUMBA, reason="numba not installed (optional extra [fast])")
def test_seeded_runs_are_identical_on_both_backends():
    runs = {}
    for name in ("numpy", "numba"):
        kernels.set_backend(name)
        runs[name] = seeded_run()
    kernels.set_backend(None)
    assert sum(int(d.sum()) for d in runs["numpy"][:2]) > 1_000_000  # enough pairs to mean something
    for a, b in zip(runs["numpy"], runs["numba"]):
        np.testing.assert_array_equal(a, b)
