"""Hardware-timed images and pulsed sequences on the simulated set-ups: pixels where the sample's emitters are,
brightness and readout within their Poisson uncertainty, missing or extra markers refused (imaging.py)."""
import contextlib
import threading
import time

import numpy as np
import pytest

from pymodaq_plugins_timetagger import imaging
from pymodaq_plugins_timetagger.hardware.access import open_tagger
from pymodaq_plugins_timetagger.hardware.errors import AcquisitionAborted, MeasurementTimeout, SettingsError
from pymodaq_plugins_timetagger.hardware.simulator.setups import Emitter, confocal_scene, pulsed_scene

MS = 10 ** 9
#: a small field: 24 × 12 pixels of 0.5 µm, three emitters (one on a pixel's centre, two between pixels)
EMITTERS = (Emitter(3.25, 1.75, 400e3), Emitter(8.5, 4.5, 200e3), Emitter(11.25, 4.75, 300e3))
SCAN = dict(n_x=24, n_y=12, pixel_um=0.5, psf_sigma_um=0.4, dwell_ps=2 * MS, line_flyback_ps=MS // 10,
            frame_flyback_ps=MS, emitters=EMITTERS, background_hz=20e3)


@contextlib.contextmanager
def tagger(address, sources, seed=5):
    """A virtual-clock tagger whose stream is advanced by a helper thread while the run waits."""
    with open_tagger(address, sim_clock="virtual", sim_seed=seed, sim_sources=sources) as h:
        stop = threading.Event()

        def advance():
            while not stop.wait(0.002):
                h.tagger.sim_advance(20 * MS)
        thread = threading.Thread(target=advance, daemon=True)
        thread.start()
        try:
            yield h
        finally:
            stop.set()
            thread.join()


def image(run_kw=None, seed=5, **scan):
    sources = confocal_scene(**{**SCAN, **scan})
    kw = dict(pixels_per_line=sources[0].n_x, lines_per_frame=sources[0].n_y, **(run_kw or {}))
    with tagger("sim:confocal", sources, seed) as h:
        run = imaging.ImageRun(h, imaging.make_settings("image", **kw))
        shown = []
        frame = run.acquire(timeout_s=60, progress=lambda imgs, lines: shown.append(lines))
        data = run.to_data(frame)
        run.close()
    return sources[0], frame, data, shown


def _z(frame, truth):
    expected = truth * frame.dwell_s
    return [(c - expected) / np.sqrt(expected) for c in frame.counts]


@pytest.mark.parametrize("serpentine,start_phase,gated", [(False, 0.0, True), (True, 0.0, True),
                                                           (False, 0.43, True), (True, None, True),
                                                           (False, None, False)])
def test_pixels_are_where_the_sample_is(serpentine, start_phase, gated):
    """Each pixel's counts follow its true rate × its dwell (Poisson, both detectors), wherever the scanner was
    when the acquisition began (a frame start, mid-frame, a random phase), in serpentine scans, and with pixels
    from marker to marker (the last pixel of a line then lasts until the next line's first marker)."""
    scanner, frame, data, shown = image({"serpentine": serpentine, "pixel_gated": gated}, serpentine=serpentine,
                                        start_phase=start_phase)
    truth = scanner.rate_map_hz()
    assert frame.counts[0].shape == (12, 24) and len(frame.counts) == 2
    if gated:
        assert np.allclose(frame.dwell_s, scanner.gate_ps * 1e-12, rtol=1e-6)
    else:
        assert np.allclose(frame.dwell_s[:, :-1], scanner.dwell_ps * 1e-12, rtol=1e-6)
        last = np.full(12, scanner.dwell_ps + scanner.line_flyback_ps)
        last[-1] += scanner.frame_flyback_ps                  # the frame's last pixel lasts until the next frame
        assert np.allclose(frame.dwell_s[:, -1], last * 1e-12, rtol=1e-6)
    for z in _z(frame, truth):
        assert abs(z.mean()) < 4 / np.sqrt(z.size)                # unbiased
        assert 0.85 < z.std() < 1.15                              # Poisson spread: nothing misplaced
    total = frame.counts[0] + frame.counts[1]
    # the brightest pixel near each emitter is the one under it (an emitter between pixels: one of its neighbours)
    for e in EMITTERS:
        j, i = int(e.y_um / 0.5), int(e.x_um / 0.5)
        jj, ii = np.unravel_index(np.argmax(total[j - 1:j + 2, i - 1:i + 2]), (3, 3))
        near = truth[j - 1:j + 2, i - 1:i + 2]
        assert near[jj, ii] >= 0.8 * near.max()
    # the frame from its first pixel's start to its last pixel's end (marker to marker: the next frame's start)
    frame_s = 12 * 24 * 2e-3 + 11 * 1e-4 + (scanner.gate_ps - scanner.dwell_ps) * 1e-12 * gated
    if not gated:
        frame_s += 1e-4 + 1e-3
    assert frame.metadata["capture_duration_s"] == pytest.approx(frame_s, abs=1e-9)
    names = [d.name for d in data.data]
    assert names == ["image", "image sigma", "dwell", "frame duration"]
    rate = data.data[0]
    assert rate.units == "Hz" and np.allclose(rate.data[0], frame.counts[0] / frame.dwell_s)


def test_the_live_view_grows_line_by_line():
    """The stream advanced one line at a time: each new line is shown (the lines not measured yet are NaN)."""
    sources = confocal_scene(**SCAN)
    scanner = sources[0]
    shown, result = [], []
    with open_tagger("sim:confocal", sim_clock="virtual", sim_seed=2, sim_sources=sources) as h:
        run = imaging.ImageRun(h, imaging.make_settings("image", pixels_per_line=24, lines_per_frame=12))
        worker = threading.Thread(target=lambda: result.append(
            run.acquire(timeout_s=60, progress=lambda imgs, lines: shown.append((lines, imgs[0].copy())))))
        worker.start()
        deadline = time.monotonic() + 30
        while not all(m.isRunning() for m in run._meas) and time.monotonic() < deadline:
            time.sleep(0.01)                                    # the frame's counters are armed
        for line in range(12):
            h.tagger.sim_advance(scanner.line_period_ps)
            deadline = time.monotonic() + 10
            while len(shown) <= line and time.monotonic() < deadline:
                time.sleep(0.01)
        h.tagger.sim_advance(scanner.frame_period_ps)
        worker.join(30)
    assert [lines for lines, _ in shown] == list(range(1, 13))
    for lines, img in shown:
        assert np.isfinite(img[:lines]).all() and np.isnan(img[lines:]).all()
    assert np.array_equal(shown[-1][1], result[0].counts[0] / result[0].dwell_s)


def test_a_brightness_is_found_within_its_uncertainty():
    """The summed counts over an emitter's pixels estimate its known brightness: within 3 sigma."""
    scanner, frame, _, _ = image(seed=11)
    truth = scanner.rate_map_hz()
    region = (slice(1, 6), slice(4, 10))                          # around the first emitter
    counts = sum(c[region].sum() for c in frame.counts)
    expected = 2 * (truth[region] * frame.dwell_s[region]).sum()
    assert abs(counts - expected) < 3 * np.sqrt(expected)


@pytest.mark.parametrize("glitch,where", [
    ({"drop_pixels": (24 * 5 + 7,)}, "line 5 of the frame has 23 pixel markers, 24 expected .1 missing"),
    ({"extra_pixels": (24 * 3 + 2,)}, "line 3 of the frame has 25 pixel markers, 24 expected .1 extra"),
    ({"drop_pixels": (24 * 11 + 23,)}, "line 11 of the frame has 23 pixel markers"),  # the last line
])
def test_missing_or_extra_pixel_markers_refuse_the_frame(glitch, where):
    glitch = {k: tuple(288 * f + p for f in range(10) for p in v) for k, v in glitch.items()}   # every frame
    with pytest.raises(imaging.MarkerError, match=where):
        image(start_phase=0.0, **glitch)


def test_a_missing_frame_marker_is_reported():
    sources = confocal_scene(**SCAN)
    with tagger("sim:confocal", sources) as h:
        run = imaging.ImageRun(h, imaging.make_settings("image", pixels_per_line=24, lines_per_frame=12,
                                                        frame_channel=5))      # nothing on input 5
        with pytest.raises(imaging.MarkerError, match="no frame marker on channel 5"):
            run.acquire(timeout_s=60)


def test_a_wrong_geometry_is_refused_not_reshaped():
    """The user says 20 pixels per line, the scanner sends 24: the line markers are not where 20 would put them."""
    sources = confocal_scene(**SCAN)
    with tagger("sim:confocal", sources) as h:
        run = imaging.ImageRun(h, imaging.make_settings("image", pixels_per_line=20, lines_per_frame=12))
        with pytest.raises(imaging.MarkerError, match="line"):
            run.acquire(timeout_s=60)


def test_no_markers_times_out_and_abort_stops():
    with tagger("sim", None) as h:                              # the default bench: no scanner
        run = imaging.ImageRun(h, imaging.make_settings("image", pixels_per_line=4, lines_per_frame=4))
        with pytest.raises(MeasurementTimeout, match="0 pixel markers on channel 6"):
            run.acquire(timeout_s=0.3)
        threading.Timer(0.2, run.abort).start()
        with pytest.raises(AcquisitionAborted):
            run.acquire(timeout_s=60)


def test_settings_are_checked_on_the_device():
    with open_tagger("sim:confocal", sim_clock="virtual") as h:
        with pytest.raises(SettingsError, match="different inputs"):
            imaging.ImageRun(h, imaging.make_settings("image", line_channel=6))
        with pytest.raises(SettingsError, match="pixel_channel 19 does not exist"):
            imaging.ImageRun(h, imaging.make_settings("image", pixel_channel=19))
    with pytest.raises(SettingsError, match="pixels_per_line"):
        imaging.make_settings("image", pixels_per_line=0)


def test_the_rabi_curve_follows_the_spin_within_its_uncertainty():
    """Counts per sweep in the readout window of each step: the Rabi oscillation of the simulated spin, each step
    within its Poisson uncertainty (chi-squared), every step integrated over exactly the same sweeps."""
    sources = pulsed_scene(n_steps=20, rabi_period_ps=200_000, dead_time_ps=0.0)  # expected_counts: no dead time
    seq = sources[0]
    with tagger("sim:pulsed", sources) as h:
        run = imaging.PulsedRun(h, imaging.make_settings("pulsed", n_steps=20, sweeps=4000, time_bin_ps=10_000,
                                                         n_time_bins=350, readout_window_ps=300_000))
        p = run.acquire()
        signal, sigma = run.readout(p)
        data = run.to_data(p)
        run.close()
    assert p.sweeps == 4000 and p.histograms.shape == (20, 350)
    expected = seq.expected_counts(300_000)
    chi2 = (((signal - expected) / sigma) ** 2).sum()
    assert chi2 < 20 + 4 * np.sqrt(40)
    assert np.corrcoef(signal, seq.population())[0, 1] < -0.9   # dark where the spin was flipped
    assert [d.name for d in data.data] == ["histograms", "readout", "sweeps", "elapsed"]
    assert data.data[2].data[0][0] == 4000 and data.data[3].data[0][0] > 4000 * seq.sequence_ps * 1e-12 * 0.99


def test_counters_are_matched_at_one_offset_only():
    """Pixel widths of two counters started apart: the offset where every shared width agrees; none, or two
    (a pixel clock without jitter), is no match: the frame is then refused, never built at a guessed offset."""
    rng = np.random.default_rng(3)
    widths = 2 * MS + rng.integers(-20, 21, 5000)
    assert imaging._shift(widths, widths[1234:]) == 1234
    assert imaging._shift(widths, widths) == 0
    assert imaging._shift(widths, widths[10:] + 1) is None
    assert imaging._shift(np.full(100, 2 * MS), np.full(60, 2 * MS)) is None
