"""g2(0) and its interval recomputed from a real DAQ_Scan HDF5 file alone.

A Dashboard with a Mock actuator and the Correlation plugin (its *Raw counts data* on) on the simulator's default
bench; DAQ_Scan runs 3 steps of 0.2 s; the file, read with PyMoDAQ's own loader, holds for every step the singles
of both inputs, the coincidences in the g2(0) window, its width and the capture duration: g2(0) = C·T/(N1·N2·W)
and the exact interval (analysis.intervals.g2_zero_interval) computed from them equal the g2(0) and the
'g2(0) interval' channels DAQ_Scan saved.
"""
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("PySide6.QtStateMachine",
                    reason="PyMoDAQ's Dashboard and DAQ_Scan need QtStateMachine (PySide6-Addons)")
pytest.importorskip("pymodaq_plugins_mock", reason="the scan moves the Mock actuator of pymodaq_plugins_mock")

from tests.support.processes import pump_until  # noqa: E402
from tests.support.scankit import (close_all, init_detector, load_experiment, open_scan, run_scan,  # noqa: E402
                                   write_experiment)
from tests.test_daq_scan import tagger_free  # noqa: E402

from pymodaq_plugins_timetagger.analysis.intervals import g2_zero_interval  # noqa: E402

pytestmark = pytest.mark.timeout(120)

EXPERIMENT = "pytest_timetagger_daq_scan_g2"
ACTUATOR, DETECTOR = "Stage", "TT"
INTEGRATION_S = 0.2
POSITIONS = [0.0, 1.0, 2.0]


def test_g2_zero_and_its_interval_are_recomputed_from_the_scan_file(tmp_path, monkeypatch):
    from pymodaq_gui.qt_utils import mkQApp
    from pymodaq_gui.h5modules.saving import H5SaverBase
    from pymodaq.dashboard import create_load_dashboard
    from pymodaq.utils.managers.experiment.experiment_manager import ExperimentManager

    mkQApp("tests")
    data_dir = tmp_path / "data"
    base_path = next(p for p in H5SaverBase.params if p["name"] == "base_path")
    monkeypatch.setitem(base_path, "value", str(data_dir))
    monkeypatch.chdir(tmp_path)
    shared_ui, dashboard = create_load_dashboard(show_dashboard=False)
    win_ext = scan = None
    try:
        experiment = write_experiment(tmp_path / f"{EXPERIMENT}.xml", ACTUATOR, DETECTOR, "DAQ1D",
                                      "TimeTaggerCorrelation")
        stage, det = load_experiment(dashboard, experiment, ACTUATOR, DETECTOR)
        s = det.settings.child("detector_settings")
        s.child("address").setValue("sim")
        s.child("integration_s").setValue(INTEGRATION_S)
        s.child("measurement", "raw_counts").setValue(True)  # read at initialization: no race with the scan
        pump_until(tagger_free, 10, "the simulated tagger to be free (another test still holds it?)")
        init_detector(det)
        win_ext, scan = open_scan(dashboard, ACTUATOR, DETECTOR, POSITIONS[0], POSITIONS[-1],
                                  POSITIONS[1] - POSITIONS[0])
        steps = run_scan(scan, 40)
        assert len(steps) == len(POSITIONS)
        assert all(d.get_data_from_name("g2(0) raw counts") is not None for d in steps), \
            "the raw counts were not in every step (the setting did not reach the plugin?)"
        h5_file = Path(scan.h5saver.settings["current_h5_file"])
        scan.h5_manager.close_file()
        check_file(h5_file)
    finally:
        close_all(shared_ui, dashboard, win_ext, scan)
        ExperimentManager.remove_experiment_related_files(EXPERIMENT)
    pump_until(tagger_free, 10, "the simulated tagger to be freed when the Dashboard closes")


def check_file(h5_file: Path):
    from pymodaq_data.h5modules.data_saving import DataLoader
    from pymodaq_data.h5modules.saving import H5SaverLowLevel

    h5 = H5SaverLowLevel()
    h5.init_file(h5_file, new_file=False, mode="r")
    try:
        loader = DataLoader(h5)
        by_name = {}
        for node in h5.get_children("/RawData/Scan000/Detector000/Data0D"):
            dwa = loader.load_data(f"/RawData/Scan000/Detector000/Data0D/{node}/Data00", load_all=True)
            by_name[dwa.name] = dwa
        assert {"g2(0)", "g2(0) interval", "g2(0) raw counts"} <= set(by_name), sorted(by_name)
        raw = by_name["g2(0) raw counts"]
        assert raw.labels == ["singles ch1", "singles ch2", "coincidences in the g2(0) window",
                              "g2(0) window (ps)", "capture duration (s)"]
        n1, n2, c0, width_ps, dur_s = (np.asarray(a) for a in raw.data)
        assert n1.shape == (len(POSITIONS),)
        np.testing.assert_allclose(dur_s, INTEGRATION_S)
        saved_g2 = np.asarray(by_name["g2(0)"][0])
        low, high = (np.asarray(a) for a in by_name["g2(0) interval"].data)
        for i in range(len(POSITIONS)):
            g, lo, hi = g2_zero_interval(c0[i], n1[i], n2[i], width_ps[i], dur_s[i] * 1e12)
            print(f"step {i}: {int(c0[i])} coincidences, g2(0) = {g:.4f} [{lo:.4f}, {hi:.4f}] from the file; "
                  f"saved {saved_g2[i]:.4f} [{low[i]:.4f}, {high[i]:.4f}]")
            assert (lo, hi) == pytest.approx((low[i], high[i]), rel=1e-12)
            # the saved g2(0) is the vendor's normalisation (its own singles; a few edge tags differ)
            assert g == pytest.approx(saved_g2[i], rel=1e-3)
            assert lo <= saved_g2[i] <= hi
        corr = loader.load_data("/RawData/Scan000/Detector000/Data1D/CH00/Data00")
        print("Correlation in the file:", corr.name, corr.labels, "errors saved:", corr.errors is not None)
    finally:
        h5.close_file()
