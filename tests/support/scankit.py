"""PyMoDAQ's Dashboard and DAQ_Scan driven headless: experiment file, 1D scan set-up, closing.

Shared by tests/test_daq_scan.py and benchmarks/scan.py (which puts the repository on sys.path). What a user
does: the Dashboard loads an experiment file (one actuator, one detector), the DAQ_Scan extension is opened
from the Dashboard, a linear 1D scan is set on the actuator and started.
"""
from __future__ import annotations

from pathlib import Path

from qtpy import QtCore, QtWidgets

from .processes import pump_until


def write_experiment(path: Path, actuator: str, detector: str, daq_type: str, plugin: str,
                     mover: str = "Mock") -> Path:
    """The experiment file the Dashboard's experiment manager writes when one adds the two modules.

    ``daq_type`` is ``DAQ0D``/``DAQ1D``..., ``plugin`` the detector plugin's name as PyMoDAQ lists it. The
    detector is not initialized on loading: an experiment holds no plugin settings, the caller sets them.
    """
    from pymodaq_gui.parameter import Parameter, ioxml
    from pymodaq.utils.managers.experiment.experiment_manager import ExperimentManager

    exp = Parameter.create(title="Experiment", name="Preset", type="group", children=ExperimentManager.params)
    exp.child("actuator").addNew((mover,))
    exp.child("detector").addNew((daq_type, plugin))
    act, det = exp.child("actuator").children()[0], exp.child("detector").children()[0]
    act.child("name").setValue(actuator)
    act.child("controller", "controller_ID").setValue(101)
    det.child("name").setValue(detector)
    det.child("controller", "controller_ID").setValue(102)
    det.child("info", "init").setValue(False)
    ioxml.parameter_to_xml_file(exp, path, overwrite=True)
    return path


def load_experiment(dashboard, path: Path, actuator: str, detector: str):
    """What "Load experiment" does in the Dashboard; returns the (actuator, detector) modules, the
    actuator initialized."""
    applied = []
    dashboard.experiment_manager.applied_entry.connect(applied.append)
    dashboard.experiment_manager.execute_entry(path)
    pump_until(lambda: applied, 30, "the experiment to be loaded")
    assert [m.title for m in dashboard.actuators_modules] == [actuator]
    assert [m.title for m in dashboard.detector_modules] == [detector]
    stage, det = dashboard.actuators_modules[0], dashboard.detector_modules[0]
    pump_until(lambda: stage.initialized_state, 15, "the actuator to be initialized")
    return stage, det


def init_detector(det, timeout_s: float = 15) -> None:
    """Initialize a detector module as its *Ini. Det* button does; AssertionError if it fails."""
    inits = []
    det.init_signal.connect(inits.append)
    det.init_hardware_ui(True)
    pump_until(lambda: inits, timeout_s, "the detector to be initialized")
    assert inits == [True] and det.initialized_state, f"detector {det.title} not initialized"


def open_scan(dashboard, actuator: str, detector: str, start: float, stop: float, step: float):
    """The DAQ_Scan extension, as the Dashboard's extension menu opens it, set to a linear 1D scan of
    ``actuator`` with ``detector``, no average, no dialog; returns (window, DAQScan)."""
    from pymodaq.extensions.scan.daq_scan import DAQScan
    from pymodaq.utils.gui_utils.loader_utils import create_extension

    win_ext, scan = create_extension(dashboard, DAQScan, show_extension=False)
    scan.override_popups(False)  # no "fill in the scan information" dialogs
    scan.modules_manager.selected_actuators_name = [actuator]
    scan.modules_manager.selected_detectors_name = [detector]
    scan.settings.child("scan_options", "scan_average").setValue(1)
    scan.scanner.set_scan_type_and_subtypes("Scan1D", "Linear")
    scanner = scan.scanner.scanner.settings
    scanner.child("start").setValue(start)
    scanner.child("stop").setValue(stop)
    scanner.child("step").setValue(step)
    return win_ext, scan


def run_scan(scan, timeout_s: float) -> list:
    """Start ``scan`` and process Qt events until it is done (stopped on any failure, the wait included);
    returns what DAQ_Scan got at each step (its modules manager's det_done_signal), in order."""
    steps, done = [], []
    scan.modules_manager.det_done_signal.connect(steps.append)
    scan.scan_done_signal.connect(lambda: done.append(True))
    scan.do_scan()
    try:
        pump_until(lambda: done, timeout_s, "the end of the scan")
    except BaseException:
        scan.stop_scan()
        raise
    return steps


def close_all(shared_ui, dashboard, win_ext, scan):
    """What pymodaq.utils.plugin_testing.loaded_extension does on exit, for an extension opened later."""
    try:
        if scan is not None:
            scan.quit_fun()
            QtWidgets.QApplication.processEvents()
    finally:
        dashboard.quit_fun()
        widgets = [shared_ui.parent, dashboard.tree] + ([win_ext.mainwindow] if win_ext is not None else [])
        for widget in widgets:
            widget.close()
            widget.deleteLater()
        QtCore.QCoreApplication.sendPostedEvents(None, QtCore.QEvent.Type.DeferredDelete)
        QtWidgets.QApplication.processEvents()
