"""The Countrate plugin inside PyMoDAQ's real DAQ_Scan: every scan step integrates exactly the set time.

What a user does, headless: a Dashboard loads an experiment file (one ``Mock`` actuator, one
``TimeTaggerCountrate`` detector), the detector is pointed at the simulator and initialized, the DAQ_Scan
extension is opened, a 1D linear scan of 5 steps is set and started, and the h5 file it writes is read
back with PyMoDAQ's own loader.

Checked: 5 steps; each dataset DAQ_Scan received for a step carries ``capture_duration_s == 0.05``
(the per-step data, from the modules manager's ``det_done_signal``: DAQ_Scan's extended h5 saver writes
neither the units nor the extra attributes of the data, so the file cannot show them per step; the optional
``capture duration`` dataset puts the duration of every step in the file); the saved count rates
are 800 kHz (the built-in test signal of ch6) ± one count per window; the saved navigation axis is the
actuator's 5 positions; the detector settings saved with the scan say 0.05 s.
"""
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("PySide6.QtStateMachine",
                    reason="PyMoDAQ's Dashboard and DAQ_Scan need QtStateMachine (PySide6-Addons)")
pytest.importorskip("pymodaq_plugins_mock", reason="the scan moves the Mock actuator of pymodaq_plugins_mock")

from tests.support.processes import pump_until  # noqa: E402
from tests.support.scankit import close_all, init_detector, load_experiment, open_scan, write_experiment  # noqa: E402

pytestmark = pytest.mark.timeout(120)

EXPERIMENT = "pytest_timetagger_daq_scan"  # its side files (layout, states...) are removed afterwards
ACTUATOR, DETECTOR = "Stage", "TT"
INTEGRATION_S = 0.05
RATE_HZ = 800_000.0  # the simulator's test signal
POSITIONS = [0.0, 1.0, 2.0, 3.0, 4.0]
SIM_SERIAL = "SIM-ULTRA-0001"


def configure_detector(det):
    s = det.settings.child("detector_settings")
    s.child("address").setValue("sim")  # read at initialization
    s.child("integration_s").setValue(INTEGRATION_S)
    s.child("duration_channel").setValue(True)  # the capture duration of every step, as a dataset


def select_test_signal(det):
    s = det.settings.child("detector_settings")
    s.child("inputs", "ch6", "test_signal").setValue(True)
    s.child("measurement", "channels", "ch6").setValue(True)  # first: the last channel cannot be unticked
    for c in ("ch1", "ch2"):
        s.child("measurement", "channels", c).setValue(False)


def tagger_free():
    from pymodaq_plugins_timetagger.hardware import simulator
    return SIM_SERIAL in simulator.scanTimeTagger()


def test_daq_scan_integrates_the_set_time_at_every_step(tmp_path, monkeypatch):
    from pymodaq_gui.qt_utils import mkQApp
    from pymodaq_gui.h5modules.saving import H5SaverBase
    from pymodaq.dashboard import create_load_dashboard
    from pymodaq.utils.managers.experiment.experiment_manager import ExperimentManager

    mkQApp("tests")
    # DAQ_Scan opens its h5 file as soon as it is created, in the configured base path (default
    # "C:\\Data"): make the default the test's folder, for this test only
    data_dir = tmp_path / "data"
    base_path = next(p for p in H5SaverBase.params if p["name"] == "base_path")
    monkeypatch.setitem(base_path, "value", str(data_dir))
    monkeypatch.chdir(tmp_path)  # anything still written relative to the working directory lands here

    t0 = time.monotonic()
    shared_ui, dashboard = create_load_dashboard(show_dashboard=False)
    win_ext = scan = None
    try:
        experiment = write_experiment(tmp_path / f"{EXPERIMENT}.xml", ACTUATOR, DETECTOR, "DAQ0D",
                                      "TimeTaggerCountrate")
        stage, det = load_experiment(dashboard, experiment, ACTUATOR, DETECTOR)
        configure_detector(det)
        pump_until(tagger_free, 10, "the simulated tagger to be free (another test still holds it?)")
        init_detector(det)
        assert "SIMULATED" in det.settings["detector_settings", "device"]
        select_test_signal(det)
        t_ready = time.monotonic()

        win_ext, scan = open_scan(dashboard, ACTUATOR, DETECTOR, POSITIONS[0], POSITIONS[-1],
                                  POSITIONS[1] - POSITIONS[0])
        assert Path(scan.h5saver.settings["current_h5_file"]).is_relative_to(data_dir)
        assert scan.scanner.n_steps == len(POSITIONS)

        steps, done = [], []
        scan.modules_manager.det_done_signal.connect(steps.append)  # what DAQ_Scan gets at each step
        scan.scan_done_signal.connect(lambda: done.append(True))
        t_scan = time.monotonic()
        scan.do_scan()
        try:
            pump_until(lambda: done, 40, "the end of the scan")
        except BaseException:
            scan.stop_scan()
            raise
        t_end = time.monotonic()

        # ---- per step, in memory: the data DAQ_Scan saved
        assert len(steps) == len(POSITIONS), [str(s) for s in steps]
        for i, dte in enumerate(steps):
            dwa = dte.get_data_from_name("Countrate")
            assert dwa is not None, f"step {i}: no Countrate data in {dte}"
            assert dwa.origin == DETECTOR
            assert dwa.capture_duration_s == pytest.approx(INTEGRATION_S, abs=1e-9), f"step {i}"
            assert dwa.labels == ["ch6"]
            assert dwa[0][0] == pytest.approx(RATE_HZ, abs=1 / INTEGRATION_S), f"step {i}"

        # ---- the h5 file, read with PyMoDAQ's loader
        h5_file = Path(scan.h5saver.settings["current_h5_file"])
        scan.h5_manager.close_file()
        check_h5_file(h5_file, data_dir)
        print(f"\nDAQ_Scan timings: dashboard + experiment + detector init {t_ready - t0:.1f} s, "
              f"extension + scan set-up {t_scan - t_ready:.1f} s, scan of {len(POSITIONS)} steps "
              f"{t_end - t_scan:.1f} s")
    finally:
        close_all(shared_ui, dashboard, win_ext, scan)
        ExperimentManager.remove_experiment_related_files(EXPERIMENT)
    pump_until(tagger_free, 10, "the simulated tagger to be freed when the Dashboard closes")


def check_h5_file(h5_file: Path, data_dir: Path):
    from pymodaq_data.h5modules.data_saving import DataLoader
    from pymodaq_data.h5modules.saving import H5SaverLowLevel
    from pymodaq_gui.parameter import ioxml

    assert h5_file.is_relative_to(data_dir) and h5_file.is_file()
    h5 = H5SaverLowLevel()
    h5.init_file(h5_file, new_file=False, mode="r")
    try:
        loader = DataLoader(h5)
        rates = loader.load_data("/RawData/Scan000/Detector000/Data0D/CH00/Data00")
        assert rates.origin == DETECTOR and rates.labels == ["ch6"]
        assert rates[0].shape == (len(POSITIONS),)
        np.testing.assert_allclose(rates[0], RATE_HZ, atol=1 / INTEGRATION_S)
        nav = rates.get_nav_axes()
        assert len(nav) == 1 and nav[0].label == ACTUATOR
        np.testing.assert_allclose(nav[0].get_data(), POSITIONS)
        # what PyMoDAQ 5.3's scan file keeps per dataset: label, title, origin; not the units, not the extra
        # attributes (capture_duration_s): the optional 'capture duration' dataset has it for every step
        assert rates.units == ""
        durations = loader.load_data("/RawData/Scan000/Detector000/Data0D/CH01/Data00")
        assert durations.name == "capture duration" and durations.labels == ["duration_s"]
        np.testing.assert_allclose(durations[0], INTEGRATION_S)
        assert durations[0].shape == (len(POSITIONS),)
        # the detector settings DAQ_Scan saved with the scan
        det_node = h5.get_node("/RawData/Scan000/Detector000")
        settings = ioxml.XML_string_to_parameter(det_node.attrs["settings"])
        found = {}

        def walk(params):
            for p in params:
                if p["name"] in ("address", "integration_s"):
                    found[p["name"]] = p["value"]
                walk(p.get("children", []))
        walk(settings)
        assert found == {"address": "sim", "integration_s": INTEGRATION_S}, found
    finally:
        h5.close_file()
