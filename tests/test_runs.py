"""Measurement runs (the Qt-free core shared by the plugins and the bridge client)."""
import threading
import time

import numpy as np
import pytest

from pymodaq_plugins_timetagger.hardware.access import open_tagger
from pymodaq_plugins_timetagger.hardware.errors import AcquisitionAborted, MeasurementTimeout, SettingsError
from pymodaq_plugins_timetagger.hardware.simulator import PoissonSource
from pymodaq_plugins_timetagger.runs import (CorrelationSettings,
                                             CountrateSettings, make_run,
                                             make_settings, zero_delay_mean)


@pytest.fixture
def handle():
    with open_tagger("sim", sim_clock="virtual", sim_seed=5) as h:
        yield h


def test_countrate_exact_window(handle):
    handle.tagger.setTestSignal([6, 7], True)
    run = make_run(handle, "countrate", channels=(6, 7, 5), integration_s=0.25)
    res = run.acquire()
    assert res.dim == "Data0D" and res.units == "Hz" and res.labels == ["ch6", "ch7", "ch5"]
    assert all(a.shape == (1,) for a in res.data)
    assert abs(res.data[0][0] - 800e3) <= 1 / 0.25  # +-1 edge in the window
    assert res.metadata["capture_duration_s"] == 0.25
    assert res.metadata["overflows"] == 0 and res.metadata["simulated"] is True
    assert "SIMULATED" in res.metadata["device"] and res.metadata["channels"] == [6, 7, 5]
    # each acquisition is its own window
    res2 = run.acquire(integration_s=0.5)
    assert res2.metadata["capture_duration_s"] == 0.5


def test_correlation_result_and_g2_zero(handle):
    run = make_run(handle, "correlation", CorrelationSettings(binwidth_ps=500, n_bins=201,
                                                             zero_window_ps=500, integration_s=1.0))
    res = run.acquire()
    assert res.dim == "Data1D" and res.units == "" and res.axis.label == "delay"
    assert res.axis.units == "s" and res.axis.values.shape == (201,)
    assert res.axis.values[100] == 0.0
    g2_0 = res.companions[0]
    assert g2_0.name == "g2(0)" and g2_0.data[0][0] == pytest.approx(res.data[0][100])
    assert g2_0.data[0][0] < 0.5  # the default bench has a single emitter on 1-2
    run.update(CorrelationSettings(binwidth_ps=500, n_bins=201, normalize=False, integration_s=1.0))
    raw = run.acquire()
    assert raw.units == "counts" and raw.data[0].sum() == raw.metadata["total_coincidences"]


def test_zero_delay_mean_picks_the_central_bins():
    tau = np.array([-1500, -500, 500, 1500])
    v = np.array([1.0, 2.0, 4.0, 8.0])
    assert zero_delay_mean(tau, v, 100) == 3.0  # narrower than a bin: the two bins around zero
    assert zero_delay_mean(tau, v, 3000) == 3.75
    assert zero_delay_mean(np.array([-10, 0, 10]), np.array([1.0, 5.0, 1.0]), 0) == 5.0


def test_counter_and_histogram(handle):
    handle.tagger.setTestSignal(6, True)
    c = make_run(handle, "counter", channels=(6,), binwidth_ps=10**10, n_values=10, integration_s=0.1)
    res = c.acquire()
    assert res.axis.label == "time" and res.data[0].shape == (10,)
    np.testing.assert_allclose(res.data[0], 800e3, atol=100)
    h = make_run(handle, "histogram", click_channel=4, start_channel=3, binwidth_ps=100, n_bins=500,
                 integration_s=0.2)
    res = h.acquire()
    assert res.units == "counts" and res.axis.values[1] == pytest.approx(100e-12)
    assert res.data[0].sum() > 1000


def test_accumulate_snapshot_clear(handle):
    handle.tagger.setTestSignal(6, True)
    run = make_run(handle, "countrate", channels=(6,))
    run.start_accumulating()
    handle.tagger.sim_advance(10**11)
    a = run.snapshot()
    handle.tagger.sim_advance(10**11)
    b = run.snapshot()
    assert b.metadata["capture_duration_s"] == pytest.approx(0.2)
    assert a.metadata["capture_duration_s"] == pytest.approx(0.1)
    run.clear()
    assert run.snapshot().metadata["capture_duration_s"] == 0


@pytest.mark.parametrize("kind,values,words", [
    ("countrate", dict(channels=(9,)), "channels: channel 9 does not exist"),
    ("countrate", dict(channels=()), "at least one channel"),
    ("countrate", dict(integration_s=0), "integration_s"),
    ("correlation", dict(binwidth_ps=0), "binwidth_ps must be between 1"),
    ("correlation", dict(n_bins=10**9), "n_bins must be between"),
    ("correlation", dict(channel_2=42), "channel_2 42 does not exist"),
    ("histogram", dict(binwidth_ps=2.5), "binwidth_ps must be an integer"),
    ("counter", dict(n_values=-1), "n_values"),
])
def test_bad_settings_name_the_field(handle, kind, values, words):
    with pytest.raises(SettingsError, match=words):
        make_run(handle, kind, **values)


def test_unknown_setting_and_kind():
    with pytest.raises(SettingsError, match="unknown setting.*bogus"):
        make_settings("countrate", bogus=1)
    with pytest.raises(SettingsError, match="unknown measurement"):
        make_settings("spectrum")


def test_update_validates_before_touching_anything(handle):
    run = make_run(handle, "countrate", channels=(1,))
    with pytest.raises(SettingsError):
        run.update(CountrateSettings(channels=(99,)))
    assert run.settings.channels == (1,)
    run.acquire(integration_s=0.01)


def test_timeout_gives_an_error_not_data():
    with open_tagger("sim", sim_clock="wall") as h:
        run = make_run(h, "countrate", channels=(1,))
        t0 = time.monotonic()
        with pytest.raises(MeasurementTimeout, match="did not deliver 1 s of data within 0.2 s"):
            run.acquire(integration_s=1.0, timeout_s=0.2)
        assert time.monotonic() - t0 < 1.0
        res = run.acquire(integration_s=0.05)  # and the next acquisition works
        assert res.metadata["capture_duration_s"] == 0.05


def test_unplugged_tagger_times_out_then_recovers():
    with open_tagger("sim", sim_clock="wall") as h:
        run = make_run(h, "countrate", channels=(5,))
        h.tagger.sim_unplug()
        with pytest.raises(RuntimeError, match="disconnected"):
            run.acquire(integration_s=0.05, timeout_s=0.5)
        h.tagger.sim_replug()
        assert run.acquire(integration_s=0.05).data[0][0] > 0


def test_abort_returns_at_once():
    with open_tagger("sim", sim_clock="wall") as h:
        run = make_run(h, "countrate", channels=(1,))
        threading.Timer(0.2, run.abort).start()
        t0 = time.monotonic()
        with pytest.raises(AcquisitionAborted):
            run.acquire(integration_s=30)
        assert time.monotonic() - t0 < 2


def test_overflows_are_counted_per_capture():
    src = [PoissonSource(channels=(1, 2, 3), rate_hz=4e6)]
    with open_tagger("sim:tt20", sim_clock="virtual", sim_sources=src) as h:
        h.tagger.clearOverflows()
        res = make_run(h, "countrate", channels=(1, 2, 3), integration_s=0.05).acquire()
        assert res.metadata["overflows"] > 0
