"""The image plugin inside PyMoDAQ's real DAQ_Scan: every scan step is one whole frame from the scanner's markers.

A Dashboard loads an experiment (a Mock actuator, the ``TimeTaggerImage`` detector on ``sim:confocal``, its
scanner made small for the test), the DAQ_Scan extension scans 3 positions; each step's data are one frame: the
image (lines × pixels), the dwell of each pixel and the frame's duration, also in the h5 file.
"""
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("PySide6.QtStateMachine",
                    reason="PyMoDAQ's Dashboard and DAQ_Scan need QtStateMachine (PySide6-Addons)")
pytest.importorskip("pymodaq_plugins_mock", reason="the scan moves the Mock actuator of pymodaq_plugins_mock")

from pymodaq_plugins_timetagger.hardware.simulator.setups import RasterScanner  # noqa: E402
from tests.support.processes import pump_until  # noqa: E402
from tests.support.scankit import (close_all, init_detector, load_experiment, open_scan, run_scan,  # noqa: E402
                                   write_experiment)
from tests.test_daq_scan import tagger_free  # noqa: E402
from tests.test_imaging_plugins import SCANNER  # noqa: E402

pytestmark = pytest.mark.timeout(120)
EXPERIMENT = "pytest_timetagger_image_scan"
ACTUATOR, DETECTOR = "Stage", "TTimage"
POSITIONS = [0.0, 1.0, 2.0]
FRAME_S = 8 * 16e-3 + 7e-4          # 8 lines of 16 pixels of 1 ms, 7 line flybacks of 0.1 ms


def test_each_daq_scan_step_is_one_frame(tmp_path, monkeypatch):
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
        experiment = write_experiment(tmp_path / f"{EXPERIMENT}.xml", ACTUATOR, DETECTOR, "DAQ2D", "TimeTaggerImage")
        stage, det = load_experiment(dashboard, experiment, ACTUATOR, DETECTOR)
        s = det.settings.child("detector_settings")
        s.child("address").setValue("sim:confocal")
        pump_until(tagger_free, 10, "the simulated tagger to be free")
        init_detector(det)
        det.controller_and_thread.controller.tagger.sim_set_source(RasterScanner(**SCANNER, start_phase=None))
        s.child("measurement", "pixels_per_line").setValue(16)
        s.child("measurement", "lines_per_frame").setValue(8)

        win_ext, scan = open_scan(dashboard, ACTUATOR, DETECTOR, POSITIONS[0], POSITIONS[-1], 1.0)
        steps = run_scan(scan, 60)
        assert len(steps) == len(POSITIONS)
        for i, dte in enumerate(steps):
            img = dte.get_data_from_name("image")
            assert img is not None and img.shape == (8, 16) and img.labels == ["ch1", "ch2"], f"step {i}"
            assert np.allclose(dte.get_data_from_name("dwell")[0], 0.9999e-3, rtol=1e-5)
            assert dte.get_data_from_name("frame duration")[0][0] == pytest.approx(FRAME_S, rel=1e-3)
            total = img[0] + img[1]
            assert total[2, 4] > 0.7 * total.max() and total[6, 12] > 0.7 * total.max()   # the two emitters
        h5_file = Path(scan.h5saver.settings["current_h5_file"])
        scan.h5_manager.close_file()
        check_h5(h5_file)
    finally:
        close_all(shared_ui, dashboard, win_ext, scan)
        ExperimentManager.remove_experiment_related_files(EXPERIMENT)
    pump_until(tagger_free, 10, "the simulated tagger to be freed when the Dashboard closes")


def check_h5(h5_file: Path) -> None:
    from pymodaq_data.h5modules.data_saving import DataLoader
    from pymodaq_data.h5modules.saving import H5SaverLowLevel
    h5 = H5SaverLowLevel()
    h5.init_file(h5_file, new_file=False, mode="r")
    try:
        loader = DataLoader(h5)
        durations = loader.load_data("/RawData/Scan000/Detector000/Data0D/CH00/Data00")
        assert durations.name == "frame duration" and durations[0].shape == (len(POSITIONS),)
        np.testing.assert_allclose(durations[0], FRAME_S, rtol=1e-3)
        images = loader.load_data("/RawData/Scan000/Detector000/Data2D/CH00/Data00")
        assert images.name == "image" and images[0].shape == (len(POSITIONS), 8, 16)
    finally:
        h5.close_file()
