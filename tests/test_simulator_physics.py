"""Statistical tests of the simulator's physics (seeded; tolerances from counting statistics).

Each test states the expected value from the configured physics and the tolerance it derives from the
Poisson error of the counts involved. The measured figures are printed (pytest -s) for the record.
"""
import math

import numpy as np
import pytest

from pymodaq_plugins_timetagger.hardware.conventions import correlation_bin_centres as bin_centres
from pymodaq_plugins_timetagger.hardware import simulator as TT
from pymodaq_plugins_timetagger.hardware.simulator import (PoissonSource, PulsedFluorescence,
                                                           SinglePhotonEmitter)

S = 1_000_000_000_000  # ps per second


def run_for(tagger, duration_ps, *measurements):
    for m in measurements:
        m.startFor(int(duration_ps))
    for m in measurements:
        assert m.waitUntilFinished(60_000)
        assert m.getCaptureDuration() == int(duration_ps)


@pytest.mark.parametrize("serial,period_ps", [("SIM-ULTRA-0001", 1_250_000), ("SIM-TT20-0001", 1_184_000)])
def test_test_signal_count_rate(make_tagger, serial, period_ps):
    """Ultra: 403.2 MHz / 504 = 800 kHz; TT20: 62.5 MHz / 74 = 844.6 kHz (periodic: ±1 edge per window)."""
    t = make_tagger(serial)
    t.setTestSignal([1, 2, 3], True)
    cr = TT.Countrate(t, [1, 2, 3])
    run_for(t, S, cr)
    expected = S / period_ps
    counts = cr.getCountsTotal()
    print(f"{t.getModel()}: test-signal counts in 1 s {counts}, expected {expected:.1f}")
    assert np.all(np.abs(counts - expected) <= 1.0)
    np.testing.assert_allclose(cr.getData(), expected, atol=2.0)  # first-to-last-tag rate: ±1 count


def test_test_signal_correlation_is_one_peak_of_width_sqrt2_sigma(make_tagger):
    t = make_tagger("SIM-ULTRA-0001")
    t.setTestSignal([1, 2], True)
    sigma = t.sim_spec.test_signal_jitter_ps
    coarse = TT.Correlation(t, 1, 2)  # vendor defaults: 1 ns bins, ±500 ns (< one period)
    fine = TT.Correlation(t, 1, 2, binwidth=1, n_bins=401)
    run_for(t, S // 2, coarse, fine)
    d = coarse.getData()
    nz = np.flatnonzero(d)
    # one peak: even n_bins put zero on the edge between two bins, so the peak may span both
    assert nz.size <= 2 and (nz.size == 1 or nz[1] == nz[0] + 1), "one peak only"
    centres = bin_centres(1000, 1000)[nz]
    assert np.all(np.abs(centres) <= 1000), "within one bin of zero"
    assert d.sum() == pytest.approx(S / 2 / t.sim_spec.test_signal_period_ps, abs=2)
    f = fine.getData().astype(float)
    x = bin_centres(1, 401)
    mean = np.average(x, weights=f)
    width = math.sqrt(np.average((x - mean) ** 2, weights=f))
    # expected: sqrt(2)*sigma, plus the 1 ps rounding of both tags (uniform: 1/12 ps^2 each)
    expected = math.sqrt(2 * sigma ** 2 + 2 / 12)
    n = f.sum()
    tol = 3 * expected / math.sqrt(2 * n) + 0.05 * expected  # 3 sigma of a std estimate + 5 % (binning)
    print(f"test-signal peak: width {width:.2f} ps, expected {expected:.2f} ps (n={n:.0f})")
    assert abs(width - expected) < tol
    # normalised height ~ 1/(R * binwidth): here with 1 ns bins, about 1250
    g2_peak = coarse.getDataNormalized()[nz].sum()
    assert g2_peak == pytest.approx(t.sim_spec.test_signal_period_ps / 1000, rel=0.01)


def test_poisson_light_is_uncorrelated(make_tagger):
    t = make_tagger(sources=[PoissonSource(channels=(1, 2), rate_hz=500e3, dark_count_hz=200)])
    corr = TT.Correlation(t, 1, 2, binwidth=1000, n_bins=400)
    cr = TT.Countrate(t, [1, 2])
    run_for(t, 2 * S, corr, cr)
    g2 = corr.getDataNormalized()
    total = corr.getData().sum()
    err = 1 / math.sqrt(total)  # relative Poisson error of the mean over all bins
    print(f"Poisson g2 mean {g2.mean():.5f} +- {err:.5f}; rates {cr.getData()}")
    assert abs(g2.mean() - 1) < 3 * err
    # per-bin scatter is Poisson too: chi2/dof near 1
    expected = corr.getData().mean()
    chi2 = (((corr.getData() - expected) ** 2) / expected).sum() / (g2.size - 1)
    assert 0.7 < chi2 < 1.4
    np.testing.assert_allclose(cr.getData(), 500.2e3, rtol=4 / math.sqrt(1e6))


def emitter_theory(source, sigma_ps, index, binwidth):
    """g2 per bin: ideal g2 convolved with the Gaussian timing response, averaged over each bin."""
    step = 1.0
    grid = np.arange(index[0] - binwidth - 8 * sigma_ps, index[-1] + binwidth + 8 * sigma_ps, step)
    ideal = source.g2(grid)
    k = np.arange(-8 * sigma_ps, 8 * sigma_ps + step, step)
    kern = np.exp(-0.5 * (k / sigma_ps) ** 2)
    smooth = np.convolve(ideal, kern / kern.sum(), mode="same")
    out = np.empty(index.size)
    for i, c in enumerate(index):
        lo = c - binwidth / 2
        sel = (grid >= lo) & (grid < lo + binwidth)
        out[i] = smooth[sel].mean()
    return out


def test_single_emitter_antibunching(make_tagger):
    src = SinglePhotonEmitter(channels=(1, 2), excitation_rate_hz=80e6, lifetime_ps=12_000.0,
                              efficiency=0.04, background_hz=20e3, dark_count_hz=500.0,
                              jitter_ps=50.0)
    t = make_tagger(sources=[src], seed=3)
    bw, n = 500, 161  # odd: one bin centred on zero delay
    corr = TT.Correlation(t, 1, 2, binwidth=bw, n_bins=n)
    run_for(t, 3 * S, corr)
    data = corr.getData().astype(float)
    g2 = corr.getDataNormalized()
    scale = g2[data > 0][0] / data[data > 0][0]  # g2 per count
    idx = bin_centres(bw, n)
    sigma = math.sqrt(2) * math.hypot(50.0, t.sim_spec.jitter_rms_ps)
    theory = emitter_theory(src, sigma, idx, bw)
    expected_counts = theory / scale
    chi2_dof = (((data - expected_counts) ** 2) / expected_counts).sum() / n
    zero = n // 2
    g2_0, g2_0_err = g2[zero], math.sqrt(data[zero]) * scale
    print(f"emitter: g2(0) = {g2_0:.4f} +- {g2_0_err:.4f}, theory {theory[zero]:.4f} "
          f"(ideal {1 - src.rho ** 2:.4f}); chi2/dof = {chi2_dof:.3f}; tau_eff = {src.tau_eff_ps:.0f} ps")
    assert abs(g2_0 - theory[zero]) < 3 * max(g2_0_err, math.sqrt(expected_counts[zero]) * scale)
    assert g2_0 < 0.5  # the single-emitter criterion
    assert chi2_dof < 1.5

    # fit 1 - a*exp(-|tau|/tau_eff) (bins away from the jitter-smoothed centre) and compare tau_eff
    from scipy.optimize import curve_fit
    far = np.abs(idx) > 3 * sigma

    def model(x, a, tau):
        return 1 - a * np.exp(-np.abs(x) / tau)

    (a, tau), cov = curve_fit(model, idx[far], g2[far], p0=(0.9, 5000.0),
                              sigma=np.sqrt(np.maximum(data[far], 1)) * scale)
    print(f"emitter fit: rho^2 = {a:.4f} (config {src.rho ** 2:.4f}), tau_eff = {tau:.0f} ps "
          f"(config {src.tau_eff_ps:.0f} ps)")
    assert tau == pytest.approx(src.tau_eff_ps, rel=0.05)
    assert a == pytest.approx(src.rho ** 2, abs=3 * math.sqrt(cov[0, 0]) + 0.01)


def poisson_fit_decay(x, y):
    """Maximum-likelihood fit of amp*exp(-x/tau) + bg to Poisson counts y (unbiased at low counts,
    unlike a least-squares fit weighted by the observed counts)."""
    from scipy.optimize import minimize

    def nll(p):
        amp, tau, bg = p
        if amp <= 0 or tau <= 0 or bg < 0:
            return 1e30
        m = amp * np.exp(-x / tau) + bg
        return float((m - y * np.log(m)).sum())

    start = (max(y[0], 1.0), (x[-1] - x[0]) / 10, max(y[-50:].mean(), 0.1))
    res = minimize(nll, start, method="Nelder-Mead",
                   options=dict(xatol=1e-3, fatol=1e-7, maxiter=20_000, maxfev=20_000))
    assert res.success, res.message
    return res.x


def test_lifetime_histogram_fits_back_to_the_lifetime(make_tagger):
    mu, seconds = 0.01, 4  # 1 % detection per pulse: pile-up well below the 2 % tolerance
    src = PulsedFluorescence(channels=(3, 4), rep_rate_hz=5e6, lifetime_ps=3500.0,
                             photons_per_pulse=mu, background_hz=1000.0, jitter_ps=100.0)
    t = make_tagger(sources=[src], seed=3)
    # as on a real set-up, delay the photons so that the instrument response starts after the sync:
    # otherwise the early part of the jitter lands before its start and is lost
    t.setInputDelay(4, 2000)
    hist = TT.Histogram(t, click_channel=4, start_channel=3, binwidth=50, n_bins=2000)  # 100 ns
    run_for(t, seconds * S, hist)
    y = hist.getData().astype(float)
    x = hist.getIndex() + 25.0  # bin centres
    # every photon lands within 100 ns of its pulse, background during half of the 200 ns period
    expected = mu * 5e6 * seconds + 1000 * seconds * 0.5
    assert abs(y.sum() - expected) < 4 * math.sqrt(expected)
    peak = x[np.argmax(y)]
    sel = x > peak + 1500  # the tail, past the instrument response
    amp, tau, bg = poisson_fit_decay(x[sel] - peak, y[sel])
    n_tail = y[sel].sum()
    print(f"lifetime fit: {tau:.1f} ps (configured 3500 ps; statistical error ~{3500 / math.sqrt(n_tail):.0f}"
          f" ps), background {bg:.2f}/bin (expected {1000 * seconds * 50e-12 * 5e6:.2f})")
    assert tau == pytest.approx(3500.0, rel=0.02)


def test_tagger_dead_time_is_enforced(make_tagger):
    rate = 5e6
    t = make_tagger(sources=[PoissonSource(channels=(1,), rate_hz=rate)])
    applied = t.setDeadtime(1, 100_000)  # 100 ns
    assert applied == 100_000 == t.getDeadtime(1)
    auto = TT.Correlation(t, 1, binwidth=1000, n_bins=400)  # auto-correlation, ±200 ns
    cr = TT.Countrate(t, [1])
    run_for(t, S // 5, auto, cr)
    d, idx = auto.getData(), bin_centres(1000, 400)
    n = cr.getCountsTotal()[0]
    assert d[200] == n, "the vendor's auto-correlation pairs each click with itself at tau = 0"
    d[200] = 0
    assert d[np.abs(idx) < 100_000 - 500].sum() == 0, "no two tags closer than the dead time"
    assert d[np.abs(idx) > 100_000 + 500].sum() > 0
    expected = rate / (1 + rate * 100e-9)  # non-paralysable dead time
    print(f"dead time: rate {cr.getData()[0]:.0f} Hz, expected {expected:.0f} Hz")
    assert abs(n - expected / 5) < 5 * math.sqrt(expected / 5)


def test_dead_time_rounding_and_limits(make_tagger):
    """Wheel, setDeadtime docstring: only the Time Tagger 20 rounds (6 ns); the others take any value."""
    t = make_tagger("SIM-TT20-0001")
    assert t.setDeadtime(1, 7000) == 6000
    assert t.setDeadtime(1, 1000) == 6000  # below the minimum: the minimum
    assert t.setDeadtime(2, 20_000) == 18_000
    assert t.getDeadtimeRange(1) == [6000, 393_000_000]
    with pytest.raises(ValueError, match="above the maximum"):
        t.setDeadtime(1, 10 ** 12)
    for serial, minimum in (("SIM-ULTRA-0001", 2000), ("SIM-X-0001", 1333)):
        u = make_tagger(serial)
        assert u.setDeadtime(1, 2345) == 2345 == u.getDeadtime(1)    # not rounded
        assert u.setDeadtime(1, 20_001) == 20_001
        assert u.setDeadtime(1, 100) == minimum                      # below the minimum: the minimum


def test_start_for_captures_exactly_the_requested_duration(make_tagger):
    t = make_tagger()
    t.setTestSignal(1, True)
    cr = TT.Countrate(t, [1])
    for duration in (1, 999_999, 123_456_789_012, S):
        cr.startFor(duration)
        assert cr.waitUntilFinished()
        assert cr.getCaptureDuration() == duration
        assert not cr.isRunning()
        expected = duration / t.sim_spec.test_signal_period_ps
        assert abs(cr.getCountsTotal()[0] - expected) <= 1


def test_wall_clock_start_for_takes_real_time(make_tagger):
    import time
    t = make_tagger(clock="wall")
    t.setTestSignal(1, True)
    cr = TT.Countrate(t, [1])
    t0 = time.monotonic()
    cr.startFor(200_000_000_000)  # 0.2 s
    assert cr.isRunning()
    assert cr.waitUntilFinished(5000)
    elapsed = time.monotonic() - t0
    assert cr.getCaptureDuration() == 200_000_000_000
    assert elapsed >= 0.19  # the stream cannot run ahead of the wall clock
    assert abs(cr.getCountsTotal()[0] - 160_000) <= 1


def test_virtual_clock_is_reproducible():
    def measure():
        t = TT.createTimeTagger(clock="virtual", seed=99)
        try:
            c = TT.Correlation(t, 1, 2, binwidth=1000, n_bins=100)
            c.startFor(S // 10)
            c.waitUntilFinished()
            return c.getData()
        finally:
            TT.freeTimeTagger(t)

    np.testing.assert_array_equal(measure(), measure())


def test_trigger_level_above_the_pulses_sees_nothing(make_tagger):
    t = make_tagger(sources=[PoissonSource(channels=(1,), rate_hz=1e5, pulse_height_v=0.8)])
    cr = TT.Countrate(t, [1])
    t.setTriggerLevel(1, 1.0)
    run_for(t, S // 100, cr)
    assert cr.getCountsTotal()[0] == 0
    t.setTriggerLevel(1, 0.4)
    run_for(t, S // 100, cr)
    assert cr.getCountsTotal()[0] > 500


def test_event_divider(make_tagger):
    t = make_tagger()
    t.setTestSignal(1, True)
    t.setEventDivider(1, 8)
    cr = TT.Countrate(t, [1])
    run_for(t, S // 10, cr)
    assert abs(cr.getCountsTotal()[0] - 80_000 / 8) <= 1


def test_overflows_when_the_rate_exceeds_the_transfer_limit(make_tagger):
    # TT20 transfers ~8.5 Mtags/s: 3 x 4 Mcps cannot all arrive
    t = make_tagger("SIM-TT20-0001", sources=[PoissonSource(channels=(1, 2, 3), rate_hz=4e6)])
    t.setDeadtime(1, 6000)
    cr = TT.Countrate(t, [1, 2, 3])
    run_for(t, S // 20, cr)
    assert t.getOverflows() > 0
    assert cr.getCountsTotal().sum() <= 8.5e6 / 20 + 1
    assert t.getOverflowsAndClear() > 0 and t.getOverflows() == 0


def test_counter_trace(make_tagger):
    t = make_tagger()
    t.setTestSignal([1, 2], True)
    bw = 10_000_000_000  # 10 ms
    c = TT.Counter(t, [1, 2], binwidth=bw, n_values=20)
    c.startFor(15 * bw)
    c.waitUntilFinished()
    d = c.getData()
    assert d.dtype == np.int32 and d.shape == (2, 20)
    assert np.all(d[:, :5] == 0) and np.all(np.abs(d[:, 5:] - 8000) <= 1)
    norm = c.getDataNormalized()
    assert np.all(np.isnan(norm[:, :5])) and np.allclose(norm[:, 5:], 800e3, atol=100)
    np.testing.assert_array_equal(c.getIndex(), np.arange(20) * bw)
    raw = c.getData(rolling=False)
    assert np.all(np.abs(raw[:, :15] - 8000) <= 1) and np.all(raw[:, 15:] == 0)
    assert abs(int(c.getDataTotalCounts()[0]) - 15 * 8000) <= 1
    # past n_values the ring wraps: always the newest 20 bins, newest last
    c.startFor(45 * bw)
    c.waitUntilFinished()
    assert np.all(np.abs(c.getData() - 8000) <= 1)
