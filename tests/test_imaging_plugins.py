"""The image and pulsed plugins inside PyMoDAQ's real DAQ_Viewer (worker thread), on the simulated set-ups."""
import numpy as np
import pytest
from pymodaq_gui.qt_utils import mkQApp  # noqa: F401 (PyMoDAQ's theme, which the UI needs)

from pymodaq.control_modules.daq_viewer_ui.viewer_selector import SelectedModule
from pymodaq.control_modules.enums import DAQTypesEnum
from pymodaq.utils.plugin_testing import wait_for_signal

from pymodaq_plugins_timetagger.hardware.simulator.setups import Emitter, RasterScanner, RabiSequencer
from tests.support.processes import pump_until
from tests.test_daq_viewer import quit_and_wait

pytestmark = pytest.mark.timeout(120)
MS = 10 ** 9
SCANNER = dict(channels=(1, 2, 6, 7, 8), n_x=16, n_y=8, pixel_um=0.5, psf_sigma_um=0.4, dwell_ps=MS,
               line_flyback_ps=MS // 10, frame_flyback_ps=10 * MS, background_hz=10e3,
               emitters=(Emitter(2.25, 1.25, 800e3), Emitter(6.25, 3.25, 800e3)))


@pytest.fixture
def viewer():
    from pymodaq.control_modules.daq_viewer import DAQ_Viewer
    from qtpy import QtWidgets
    app = mkQApp("tests")  # noqa: F841
    area_window = QtWidgets.QMainWindow()
    from pymodaq_gui.utils.dock import DockArea
    area = DockArea()
    area_window.setCentralWidget(area)
    v = DAQ_Viewer(area, title="TT")
    yield v
    quit_and_wait(v)
    area_window.close()


def start(viewer, plugin, address, source, **measurement):
    viewer.detector = SelectedModule(DAQTypesEnum["DAQ2D"], plugin)
    viewer.settings.child("detector_settings", "address").setValue(address)
    assert wait_for_signal(viewer.init_signal, lambda: viewer.init_hardware(True), 15_000)
    assert viewer.initialized_state and "SIMULATED" in viewer.settings["detector_settings", "device"]
    viewer.controller_and_thread.controller.tagger.sim_set_source(source)   # a smaller set-up: a fast test
    m = viewer.settings.child("detector_settings", "measurement")
    for name, value in measurement.items():
        m.child(name).setValue(value)


def test_the_image_plugin_gives_one_frame_per_grab_with_the_spots_in_place(viewer):
    start(viewer, "TimeTaggerImage", "sim:confocal", RasterScanner(**SCANNER, start_phase=None),
          pixels_per_line=16, lines_per_frame=8)
    dte = wait_for_signal(viewer.grab_done_signal, viewer.snap, 30_000)
    img = dte.get_data_from_name("image")
    assert img.shape == (8, 16) and img.labels == ["ch1", "ch2"] and img.units == "Hz"
    total = img[0] + img[1]
    for j, i in ((2, 4), (6, 12)):                       # where the emitters are (y, x) in pixels
        assert total[j, i] == total.max() or total[j, i] > 0.7 * total.max()
    assert np.median(total) < 0.1 * total.max()
    dwell = dte.get_data_from_name("dwell")[0]
    assert np.allclose(dwell, 0.9999e-3, rtol=1e-5)
    duration = dte.get_data_from_name("frame duration")[0][0]
    assert duration == pytest.approx(8 * 16e-3 + 7e-4, rel=1e-3)
    assert viewer.settings["detector_settings", "last", "capture_s"] == pytest.approx(duration)


def test_missing_markers_are_an_error_in_the_status_bar_not_an_image(viewer):
    statuses = []
    start(viewer, "TimeTaggerImage", "sim:confocal", RasterScanner(**SCANNER, drop_pixels=tuple(
        128 * f + 16 * 3 + 5 for f in range(100))),
          pixels_per_line=16, lines_per_frame=8)
    viewer.status_sig.connect(statuses.append)
    frames = []
    viewer.grab_done_signal.connect(frames.append)
    viewer.snap()
    pump_until(lambda: any("line 3 of the frame has 15 pixel markers" in str(s) for s in statuses), 30,
               "the refused frame's message")
    assert frames == []


def test_the_pulsed_plugin_gives_histograms_per_step_and_the_readout(viewer):
    seq = RabiSequencer(channels=(1, 2, 3, 4), n_steps=10, rabi_period_ps=180_000)
    start(viewer, "TimeTaggerPulsed", "sim:pulsed", seq, n_steps=10, sweeps=5000, n_time_bins=350,
          time_bin_ps=10_000)
    dte = wait_for_signal(viewer.grab_done_signal, viewer.snap, 30_000)
    hist = dte.get_data_from_name("histograms")
    assert hist.shape == (10, 350)
    readout = dte.get_data_from_name("readout")
    assert readout.shape == (10,) and readout.labels == ["counts per sweep", "sigma"]
    assert dte.get_data_from_name("sweeps")[0][0] == 5000
    assert np.corrcoef(readout[0], seq.population())[0, 1] < -0.9   # 5000 sweeps: σ ≈ 2 %, the dip ≈ 17 %
    assert viewer.settings["detector_settings", "last", "sweeps_done"] == 5000
