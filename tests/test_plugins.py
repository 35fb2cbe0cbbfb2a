"""The four viewer plugins through PyMoDAQ's own harness, on the simulator (wall clock, as in the lab)."""
import time

import numpy as np
import pytest

from pymodaq.utils.plugin_testing import SignalTimeout, grab_and_wait, make_detector, wait_for_signal

from tests.support.viewers import grab

from pymodaq_plugins_timetagger.daq_viewer_plugins.plugins_0D.daq_0Dviewer_TimeTaggerCountrate import \
    DAQ_0DViewer_TimeTaggerCountrate
from pymodaq_plugins_timetagger.daq_viewer_plugins.plugins_1D.daq_1Dviewer_TimeTaggerCorrelation import \
    DAQ_1DViewer_TimeTaggerCorrelation
from pymodaq_plugins_timetagger.daq_viewer_plugins.plugins_1D.daq_1Dviewer_TimeTaggerCounter import \
    DAQ_1DViewer_TimeTaggerCounter
from pymodaq_plugins_timetagger.daq_viewer_plugins.plugins_1D.daq_1Dviewer_TimeTaggerHistogram import \
    DAQ_1DViewer_TimeTaggerHistogram

PLUGINS = [DAQ_0DViewer_TimeTaggerCountrate, DAQ_1DViewer_TimeTaggerCorrelation,
           DAQ_1DViewer_TimeTaggerCounter, DAQ_1DViewer_TimeTaggerHistogram]


class Recorder:
    """Collects what a plugin reports (status texts and commands) instead of printing them."""

    def __init__(self, det):
        self.commands = []
        det.emit_status = self.commands.append

    @property
    def texts(self):
        return [str(c.attribute) for c in self.commands if c.command == "update_status"]

    def has(self, command):
        return any(c.command == command for c in self.commands)


@pytest.fixture
def detectors():
    made = []

    def _make(cls, **settings):
        settings.setdefault("address", "sim")
        det = make_detector(cls, **settings)
        made.append(det)
        return det

    yield _make
    for det in reversed(made):
        det.close()


def set_value(det, *path_and_value):
    *path, value = path_and_value
    p = det.settings.child(*path)
    p.setValue(value)
    det.commit_settings(p)


def no_data_within(det, ms):
    try:
        wait_for_signal(det.dte_signal, lambda: None, timeout_ms=ms)
    except SignalTimeout:
        return True
    return False


def test_countrate_plugin(detectors):
    det = detectors(DAQ_0DViewer_TimeTaggerCountrate, integration_s=0.2)
    assert det.initialized, det.init_info
    assert "SIMULATED" in det.settings["device"] and "Time Tagger Ultra" in det.settings["device"]
    for c in (6, 7):
        set_value(det, "inputs", f"ch{c}", "test_signal", True)
    for c in (6, 7):  # ticked first: the last channel cannot be unticked (refused, shown ticked again)
        set_value(det, "measurement", "channels", f"ch{c}", True)
    for c in (1, 2):
        set_value(det, "measurement", "channels", f"ch{c}", False)
    dte = grab(det)
    (dwa,) = dte.data
    assert dwa.dim.name == "Data0D" and dwa.units == "Hz" and dwa.labels == ["ch6", "ch7"]
    # the test signal: 800 kHz, periodic, so +-1 edge in the 0.2 s window
    np.testing.assert_allclose([d[0] for d in dwa.data], 800e3, atol=1 / 0.2)
    assert dwa.capture_duration_s == 0.2 and dwa.overflows == 0 and "SIMULATED" in dwa.device
    assert det.settings["last", "capture_s"] == 0.2


def test_correlation_plugin_shows_antibunching(detectors):
    det = detectors(DAQ_1DViewer_TimeTaggerCorrelation, integration_s=2.0)
    assert det.initialized, det.init_info
    dte = grab(det)
    g2, g2_0 = dte.get_data_from_name("Correlation"), dte.get_data_from_name("g2(0)")
    assert g2.dim.name == "Data1D" and g2.shape == (201,)
    axis = g2.get_axis_from_index(0)[0]
    assert axis.label == "delay" and axis.units == "s"
    assert axis.get_data()[100] == pytest.approx(0.0, abs=1e-15)
    assert axis.get_data()[101] == pytest.approx(500e-12)
    assert g2_0.dim.name == "Data0D" and g2_0.labels == ["g2(0)"]
    # default bench: emitter with rho^2 ~ 0.91 -> g2(0) ~ 0.09 (+ jitter and bin averaging);
    # 2 s at ~320 kcps: ~210 coincidences per bin, g2(0) error ~0.025
    assert 0.0 < g2_0.data[0][0] < 0.3
    far = np.abs(axis.get_data()) > 40e-9
    assert np.mean(g2.data[0][far]) == pytest.approx(1.0, abs=0.05)
    assert g2.capture_duration_s == 2.0


def test_correlation_raw_counts_and_test_signal_peak(detectors):
    det = detectors(DAQ_1DViewer_TimeTaggerCorrelation, integration_s=0.2)
    for c in (6, 7):
        set_value(det, "inputs", f"ch{c}", "test_signal", True)
    set_value(det, "measurement", "channel_1", 6)
    set_value(det, "measurement", "channel_2", 7)
    set_value(det, "measurement", "output", "coincidences (counts)")
    set_value(det, "measurement", "binwidth_ps", 100)
    dte = grab(det)
    g = dte.get_data_from_name("Correlation")
    assert g.units == "counts"
    counts = g.data[0]
    assert counts.sum() == pytest.approx(0.2 * 800e3, abs=2)
    assert abs(g.get_axis_from_index(0)[0].get_data()[np.argmax(counts)]) <= 100e-12


def test_counter_plugin(detectors):
    det = detectors(DAQ_1DViewer_TimeTaggerCounter, integration_s=0.2)
    set_value(det, "inputs", "ch6", "test_signal", True)
    set_value(det, "measurement", "channels", "ch6", True)
    set_value(det, "measurement", "channels", "ch1", False)
    set_value(det, "measurement", "channels", "ch2", False)
    set_value(det, "measurement", "binwidth_ms", 10.0)
    set_value(det, "measurement", "n_values", 20)
    dte = grab(det)
    (tr,) = dte.data
    assert tr.units == "Hz" and tr.shape == (20,) and tr.labels == ["ch6"]
    assert tr.get_axis_from_index(0)[0].label == "time"
    np.testing.assert_allclose(tr.data[0], 800e3, atol=100)


def test_histogram_plugin_lifetime(detectors):
    det = detectors(DAQ_1DViewer_TimeTaggerHistogram, integration_s=0.5)
    set_value(det, "inputs", "ch4", "input_delay_ps", 2000)
    assert det.settings["inputs", "ch4", "input_delay_ps"] == 2000
    dte = grab(det)
    (h,) = dte.data
    t = h.get_axis_from_index(0)[0].get_data()
    assert h.units == "counts" and h.shape == (1000,) and t[1] == pytest.approx(50e-12)
    y = h.data[0]
    # default bench: 3.5 ns decay; the mean delay after the peak estimates the lifetime
    peak = np.argmax(y)
    tail = slice(peak + 30, peak + 400)
    tt, yy = t[tail] - t[peak + 30], y[tail]
    slope = np.polyfit(tt[yy > 0], np.log(yy[yy > 0]), 1, w=np.sqrt(yy[yy > 0]))[0]
    assert -1 / slope == pytest.approx(3.5e-9, rel=0.1)


def test_daq_scan_like_sequence_integrates_exactly(detectors):
    """N grabs, a setting changed between some: every capture lasts exactly integration_s."""
    det = detectors(DAQ_0DViewer_TimeTaggerCountrate, integration_s=0.05)
    durations = []
    for step in range(6):
        if step == 2:
            set_value(det, "integration_s", 0.08)
        if step == 4:
            set_value(det, "inputs", "ch1", "deadtime_ps", 100_000)
        dte = grab(det)
        durations.append(dte.data[0].capture_duration_s)
    assert durations == [0.05, 0.05, 0.08, 0.08, 0.08, 0.08]
    assert det.settings["inputs", "ch1", "deadtime_ps"] == 100_000


def test_naverage_integrates_the_windows_together(detectors):
    det = detectors(DAQ_1DViewer_TimeTaggerHistogram, integration_s=0.1)
    one = grab_and_wait(det, 1, timeout_ms=10_000).data[0]
    three = grab_and_wait(det, 3, timeout_ms=10_000).data[0]
    assert one.capture_duration_s == pytest.approx(0.1) and three.capture_duration_s == pytest.approx(0.3)
    assert three.naverage == 3
    # counts are shown as the average per window
    assert three.data[0].sum() == pytest.approx(one.data[0].sum(), rel=0.05)


def test_accumulate_mode_and_clear(detectors):
    det = detectors(DAQ_0DViewer_TimeTaggerCountrate, integration_s=0.05, mode="accumulate")
    first = grab(det).data[0].capture_duration_s
    second = grab(det).data[0].capture_duration_s
    assert second > first >= 0.04
    set_value(det, "clear", True)
    assert det.settings["clear"] is False
    third = grab(det).data[0].capture_duration_s
    assert third < second


def test_stop_is_immediate_and_emits_nothing(detectors):
    det = detectors(DAQ_0DViewer_TimeTaggerCountrate, integration_s=30.0)
    det.grab_data(1, live=False)
    time.sleep(0.2)
    t0 = time.monotonic()
    det.stop()
    assert time.monotonic() - t0 < 1.0
    assert no_data_within(det, 300)
    set_value(det, "integration_s", 0.05)
    assert grab(det).data[0].capture_duration_s == 0.05


def test_settings_apply_at_once_and_read_back(detectors):
    det = detectors(DAQ_0DViewer_TimeTaggerCountrate, address="sim:tt20")
    set_value(det, "inputs", "ch3", "deadtime_ps", 7000)
    assert det.settings["inputs", "ch3", "deadtime_ps"] == 6000  # TT20: multiples of 6 ns
    assert det.controller.tagger.getDeadtime(3) == 6000
    set_value(det, "inputs", "ch3", "trigger_level_v", 0.3)
    assert det.settings["inputs", "ch3", "trigger_level_v"] == det.controller.tagger.getTriggerLevel(3)
    # a change during a grab in flight restarts its window with the new settings
    set_value(det, "integration_s", 0.3)
    det.grab_data(1, live=False)
    time.sleep(0.1)
    set_value(det, "inputs", "ch5", "test_signal", True)
    dte = wait_for_signal(det.dte_signal, lambda: None, timeout_ms=5000)
    assert dte.data[0].capture_duration_s == 0.3


def test_two_plugins_share_one_tagger(detectors):
    master = detectors(DAQ_0DViewer_TimeTaggerCountrate, integration_s=0.1)
    slave = detectors(DAQ_1DViewer_TimeTaggerCorrelation, controller=master.controller, integration_s=0.2)
    assert slave.initialized, slave.init_info
    assert slave.controller is master.controller
    assert slave.settings["device"] == master.settings["device"]
    assert grab(master).data[0].capture_duration_s == 0.1
    assert grab(slave).get_data_from_name("Correlation").capture_duration_s == 0.2
    slave.close()
    assert not master.controller.closed  # a slave never frees the master's tagger
    assert grab(master).data[0].capture_duration_s == 0.1


def test_unknown_address_fails_init_with_its_name():
    det = make_detector(DAQ_0DViewer_TimeTaggerCountrate, address="sim:nope")
    assert det.initialized is False
    assert "sim:nope" in det.init_info and "unknown simulated model" in det.init_info
    # the same plugin initializes once the address is corrected
    det.settings.child("address").setValue("sim")
    assert det.ini_detector() == (det.settings["device"], True)
    assert grab(det).data[0].capture_duration_s == pytest.approx(0.1)
    det.close()
    det = make_detector(DAQ_0DViewer_TimeTaggerCountrate, address="net:127.0.0.1:9")
    assert det.initialized is False and "127.0.0.1:9" in det.init_info
    det.close()


def test_unplugged_device_gives_an_error_and_no_data(detectors):
    det = detectors(DAQ_0DViewer_TimeTaggerCountrate, integration_s=0.05)
    rec = Recorder(det)
    det.controller.tagger.sim_unplug()
    det.grab_data(1, live=False)
    assert no_data_within(det, 1500)
    assert any("disconnected" in t for t in rec.texts), rec.texts
    assert rec.has("raise_timeout") and rec.has("stop")
    det.controller.tagger.sim_replug()
    assert grab(det).data[0].capture_duration_s == 0.05


def test_timeout_gives_an_error_and_no_data(detectors):
    det = detectors(DAQ_0DViewer_TimeTaggerCountrate, integration_s=0.05, timeout_margin_s=0.1)
    rec = Recorder(det)
    det.controller.tagger.sim_unplug(silent=True)  # a hung link: no tags and no error
    det.grab_data(1, live=False)
    assert no_data_within(det, 1500)
    assert any("did not deliver 0.05 s of data within 0.15 s" in t for t in rec.texts), rec.texts
    det.controller.tagger.sim_replug()
    assert grab(det).data[0].capture_duration_s == 0.05


def test_overflows_raise_a_warning_and_are_in_the_metadata(detectors):
    from pymodaq_plugins_timetagger.hardware.simulator import PoissonSource
    det = detectors(DAQ_0DViewer_TimeTaggerCountrate, address="sim:tt20", integration_s=0.1)
    rec = Recorder(det)
    # 10 Mcps on one input: more than the ~8.5 Mtags/s a Time Tagger 20 transfers
    det.controller.tagger.sim_set_source(PoissonSource(channels=(6,), rate_hz=10e6))
    set_value(det, "measurement", "channels", "ch6", True)
    dwa = grab(det).data[0]
    assert dwa.overflows > 0 and det.settings["last", "overflows"] == dwa.overflows
    assert any("overflow" in t and "lost" in t for t in rec.texts), rec.texts


@pytest.mark.parametrize("path,value,words", [
    (("measurement", "channel_1"), 12, "channel_1 12 does not exist"),
    (("measurement", "channel_1"), 99, "Channel 1 (stop): "),
    (("measurement", "binwidth_ps"), 0, "binwidth_ps must be between 1"),
    (("measurement", "n_bins"), 20_000_000, "n_bins must be between 1 and 10000000"),
])
def test_bad_measurement_settings_are_refused_and_the_plugin_goes_on(detectors, path, value, words):
    det = detectors(DAQ_1DViewer_TimeTaggerCorrelation, integration_s=0.05)
    rec = Recorder(det)
    good = det.settings.child(*path).value()
    set_value(det, *path, value)
    assert any(words in t for t in rec.texts), rec.texts
    assert det.settings.child(*path).value() == good  # the applied value is shown again, not the refused one
    assert not any("::" in t for t in rec.texts), rec.texts  # "Channel 1 (stop): ...", one colon
    set_value(det, *path, good)
    assert grab(det).get_data_from_name("Correlation").capture_duration_s == 0.05


def test_a_channel_the_model_does_not_have(detectors):
    det = detectors(DAQ_1DViewer_TimeTaggerHistogram, integration_s=0.05)
    rec = Recorder(det)
    set_value(det, "measurement", "click_channel", 19)
    assert any("click_channel 19 does not exist" in t for t in rec.texts), rec.texts
    set_value(det, "measurement", "click_channel", 4)
    assert grab(det).data[0].capture_duration_s == 0.05


def test_a_clamped_input_value_is_reported_and_the_device_value_shown(detectors):
    """The vendor clamps an out-of-range trigger level (issue 10, item 5): the user is told and sees it."""
    det = detectors(DAQ_0DViewer_TimeTaggerCountrate)
    rec = Recorder(det)
    set_value(det, "inputs", "ch2", "trigger_level_v", 9.0)
    assert any("input 2: the trigger level 9 V is out of the device's range: it is 2.5 V" in t
               for t in rec.texts), rec.texts
    assert det.settings["inputs", "ch2", "trigger_level_v"] == det.controller.tagger.getTriggerLevel(2) == 2.5


def test_a_refused_input_value_is_reported_and_the_device_value_shown(detectors):
    det = detectors(DAQ_0DViewer_TimeTaggerCountrate)
    rec = Recorder(det)
    set_value(det, "inputs", "ch2", "deadtime_ps", 10**12)   # above the Ultra's 2147 us maximum
    assert any("input 2: the dead time 1000000000000 was refused" in t for t in rec.texts), rec.texts
    assert det.settings["inputs", "ch2", "deadtime_ps"] == det.controller.tagger.getDeadtime(2)


def test_grab_before_init_is_an_error_not_a_crash():
    det = DAQ_0DViewer_TimeTaggerCountrate()
    rec = Recorder(det)
    det.grab_data(1)
    assert any("not initialized" in t for t in rec.texts)


@pytest.mark.parametrize("cls", PLUGINS)
def test_every_plugin_grabs_with_its_defaults(detectors, cls):
    det = detectors(cls, integration_s=0.05)
    assert det.initialized, det.init_info
    dte = grab(det)
    for dwa in dte:
        assert dwa.capture_duration_s == 0.05
        assert all(np.all(np.isfinite(d)) or dwa.name == "Counter" for d in dwa.data)


def test_the_optional_capture_duration_data(detectors):
    det = detectors(DAQ_1DViewer_TimeTaggerCorrelation, integration_s=0.05)
    assert [d.name for d in grab(det)] == ["Correlation", "g2(0)", "g2(0) interval"]
    set_value(det, "duration_channel", True)
    dte = grab(det)
    duration = dte.get_data_from_name("capture duration")
    assert duration.dim.name == "Data0D" and duration.units == "s" and duration.labels == ["duration_s"]
    assert duration.data[0][0] == 0.05 == dte.get_data_from_name("Correlation").capture_duration_s
