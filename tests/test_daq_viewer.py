"""The plugins inside PyMoDAQ's real DAQ_Viewer control module (worker thread), without and with its UI."""
import numpy as np
import pytest
from pymodaq_gui.qt_utils import mkQApp  # applies PyMoDAQ's theme, which the UI needs
from qtpy import QtWidgets

from pymodaq.control_modules.daq_viewer_ui.viewer_selector import SelectedModule
from pymodaq.control_modules.enums import DAQTypesEnum
from pymodaq.utils.plugin_testing import wait_for_signal

CASES = [("DAQ0D", "TimeTaggerCountrate", "Countrate"),
         ("DAQ1D", "TimeTaggerCorrelation", "Correlation"),
         ("DAQ1D", "TimeTaggerCounter", "Counter"),
         ("DAQ1D", "TimeTaggerHistogram", "Histogram")]


def collect(signal, seconds):
    """Every emission of ``signal`` during ``seconds`` of processed Qt events."""
    import time
    got = []
    signal.connect(got.append)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        QtWidgets.QApplication.processEvents()
        time.sleep(0.005)
    signal.disconnect(got.append)
    return got


def quit_and_wait(*viewers):
    """Close the control modules and wait until the simulated tagger is free again (closing is
    asynchronous: the worker thread frees it)."""
    import time
    from pymodaq_plugins_timetagger.hardware import simulator
    for v in viewers:
        v.quit_fun()
    deadline = time.monotonic() + 10
    while "SIM-ULTRA-0001" not in simulator.scanTimeTagger() and time.monotonic() < deadline:
        QtWidgets.QApplication.processEvents()
        time.sleep(0.01)
    assert "SIM-ULTRA-0001" in simulator.scanTimeTagger(), "the tagger was not freed on close"


def configure(viewer, integration_s=0.05):
    viewer.settings.child("detector_settings", "address").setValue("sim")
    viewer.settings.child("detector_settings", "integration_s").setValue(integration_s)


def exercise(viewer, daq_type, name, first_data):
    viewer.detector = SelectedModule(DAQTypesEnum[daq_type], name)
    configure(viewer)
    assert wait_for_signal(viewer.init_signal, lambda: viewer.init_hardware(True), 15_000)
    assert viewer.initialized_state
    assert "SIMULATED" in viewer.settings["detector_settings", "device"]
    dte = wait_for_signal(viewer.grab_done_signal, viewer.snap, 10_000)
    dwa = dte.get_data_from_name(first_data)
    assert dwa is not None and dwa.capture_duration_s == pytest.approx(0.05)
    # a change made in the control module reaches the plugin in its thread and is read back
    viewer.settings.child("detector_settings", "inputs", "ch6", "deadtime_ps").setValue(777)
    dte = wait_for_signal(viewer.grab_done_signal, viewer.snap, 10_000)
    assert viewer.settings["detector_settings", "inputs", "ch6", "deadtime_ps"] == 2000  # Ultra: its minimum
    # continuous grab, then stop
    viewer.grab_data(True)
    frames = collect(viewer.grab_done_signal, 0.6)
    viewer.stop_grab()
    assert len(frames) >= 3
    assert all(f.get_data_from_name(first_data).capture_duration_s == pytest.approx(0.05) for f in frames)
    return dte


@pytest.mark.parametrize("daq_type,name,first_data", CASES)
def test_daq_viewer_without_ui(daq_type, name, first_data):
    mkQApp("tests")
    from pymodaq.control_modules.daq_viewer import DAQ_Viewer
    viewer = DAQ_Viewer(None, title=f"tt_{name}", daq_type=daq_type)
    try:
        dte = exercise(viewer, daq_type, name, first_data)
        assert dte.get_data_from_name(first_data).origin == f"tt_{name}"
    finally:
        quit_and_wait(viewer)


@pytest.mark.parametrize("daq_type,name,first_data", CASES)
def test_daq_viewer_with_ui_offscreen(daq_type, name, first_data):
    mkQApp("tests")
    from pymodaq.utils.gui_utils.loader_utils import create_load_daq_viewer
    shared_ui, viewer = create_load_daq_viewer(title=f"ui_{name}")
    try:
        shared_ui.show()
        dte = exercise(viewer, daq_type, name, first_data)
        if name == "TimeTaggerCorrelation":
            g2 = dte.get_data_from_name("Correlation").data[0]
            assert np.isfinite(g2).all()
    finally:
        quit_and_wait(viewer)


def test_master_and_slave_in_daq_viewers():
    """Count rates and g2 from one simulated tagger, shared the PyMoDAQ way (controller_ID)."""
    mkQApp("tests")
    from pymodaq.control_modules.daq_viewer import DAQ_Viewer
    master = DAQ_Viewer(None, title="rates", daq_type="DAQ0D")
    slave = DAQ_Viewer(None, title="g2", daq_type="DAQ1D")
    try:
        master.detector = SelectedModule(DAQTypesEnum["DAQ0D"], "TimeTaggerCountrate")
        configure(master)
        assert wait_for_signal(master.init_signal, lambda: master.init_hardware(True), 15_000)
        slave.detector = SelectedModule(DAQTypesEnum["DAQ1D"], "TimeTaggerCorrelation")
        configure(slave)
        slave.settings.child("detector_settings", "controller", "controller_status").setValue("Slave")
        slave.settings.child("detector_settings", "controller", "controller_ID").setValue(
            master.settings["detector_settings", "controller", "controller_ID"])
        slave.controller_and_thread.controller = master.controller_and_thread.controller
        slave.controller_and_thread.thread = master.controller_and_thread.thread
        assert wait_for_signal(slave.init_signal, lambda: slave.init_hardware(True), 15_000)
        assert slave.settings["detector_settings", "device"] == master.settings["detector_settings", "device"]
        r = wait_for_signal(master.grab_done_signal, master.snap, 10_000)
        g = wait_for_signal(slave.grab_done_signal, slave.snap, 10_000)
        assert r.get_data_from_name("Countrate").capture_duration_s == pytest.approx(0.05)
        assert g.get_data_from_name("g2(0)") is not None
    finally:
        quit_and_wait(slave, master)
